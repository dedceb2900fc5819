// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "mhd.h"
#include "spec.h"

struct mhd_api mhd_api;

int mhd_open(char *err)
{
	static void *lib;
	const struct {
		const char *name;
		void **slot;
	} syms[] = {
	    {"MHD_start_daemon", (void **)&mhd_api.start_daemon},
	    {"MHD_stop_daemon", (void **)&mhd_api.stop_daemon},
	    {"MHD_create_response_from_buffer", (void **)&mhd_api.create_response_from_buffer},
	    {"MHD_add_response_header", (void **)&mhd_api.add_response_header},
	    {"MHD_queue_response", (void **)&mhd_api.queue_response},
	    {"MHD_destroy_response", (void **)&mhd_api.destroy_response},
	};

	if (lib)
		return 0;
	lib = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, ERR_LEN, "cannot open %s (package libmicrohttpd12): %s", MHD_SONAME,
			 dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(err, ERR_LEN, "%s has no %s: %s", MHD_SONAME, syms[i].name,
				 dlerror());
			dlclose(lib);
			lib = NULL;
			memset(&mhd_api, 0, sizeof(mhd_api));
			return -1;
		}
	}
	return 0;
}
