/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * mhd.h - libmicrohttpd, opened when serve starts rather than linked.
 * Linked, every command (add, del, list...) loaded it at start, and with it
 * GnuTLS and eight more libraries whose constructors read their
 * configuration: measured, that doubled the cost of starting a command
 * (bench/results/control.md, the floor row). systemd keeps optional
 * libraries out of its tools' start the same way (src/shared/dlfcn-util.c).
 * Include this instead of <microhttpd.h>: the MHD_* calls below then go
 * through the table mhd_open() fills.
 */
#ifndef XDPFWD_MHD_H
#define XDPFWD_MHD_H

#include <microhttpd.h>

/* The soname of Debian 12's libmicrohttpd12. */
#define MHD_SONAME "libmicrohttpd.so.12"

struct mhd_api {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
					   MHD_AcceptPolicyCallback apc, void *apc_cls,
					   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *daemon);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							    enum MHD_ResponseMemoryMode mode);
	enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
					       const char *content);
	enum MHD_Result (*queue_response)(struct MHD_Connection *connection,
					  unsigned int status_code, struct MHD_Response *response);
	void (*destroy_response)(struct MHD_Response *response);
};
extern struct mhd_api mhd_api;

/* Opens libmicrohttpd and fills mhd_api: 0, or -1 with ERR (ERR_LEN bytes)
 * naming the library and what is missing. Once is enough; again is a no-op. */
int mhd_open(char *err);

#define MHD_start_daemon		(*mhd_api.start_daemon)
#define MHD_stop_daemon			(*mhd_api.stop_daemon)
#define MHD_create_response_from_buffer (*mhd_api.create_response_from_buffer)
#define MHD_add_response_header		(*mhd_api.add_response_header)
#define MHD_queue_response		(*mhd_api.queue_response)
#define MHD_destroy_response		(*mhd_api.destroy_response)

#endif
