// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pinned_maps.c - opening the maps attach pinned, by their names in
 * XDPFWD_USER_MAPS (table.h), and checking that they belong to this network
 * namespace.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "log.h"
#include "pinned_maps.h"

__u64 current_netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : st.st_ino;
}

#define XDPFWD_MAP_PIN(field, name) {name, offsetof(struct xdpfwd_maps, field)},
static const struct {
	const char *name;
	size_t offset; /* of its file descriptor in struct xdpfwd_maps */
} user_maps[] = {XDPFWD_USER_MAPS(XDPFWD_MAP_PIN)};
#undef XDPFWD_MAP_PIN
#define USER_MAPS (sizeof(user_maps) / sizeof(user_maps[0]))

static int *map_fd(struct xdpfwd_maps *maps, size_t i)
{
	return (int *)((char *)maps + user_maps[i].offset);
}

void maps_close(struct xdpfwd_maps *maps)
{
	for (size_t i = 0; i < USER_MAPS; i++) {
		if (*map_fd(maps, i) >= 0)
			close(*map_fd(maps, i));
		*map_fd(maps, i) = -1;
	}
}

int maps_open(const struct pindir *pd, struct xdpfwd_maps *maps, struct xdpfwd_config *config)
{
	char path[PATH_MAX + 32];
	__u32 zero = 0;

	for (size_t i = 0; i < USER_MAPS; i++)
		*map_fd(maps, i) = -1;
	for (size_t i = 0; i < USER_MAPS; i++) {
		pindir_file(pd, user_maps[i].name, path, sizeof(path));
		*map_fd(maps, i) = bpf_obj_get(path);
		if (*map_fd(maps, i) < 0 && errno == ENOENT &&
		    !strcmp(user_maps[i].name, XDPFWD_MAP_OWNER))
			continue; /* pinned by an older build: no dynamic mappings */
		if (*map_fd(maps, i) < 0) {
			int err = -errno;

			if (err == -ENOENT)
				pr_warn(
				    "nothing is pinned in the pin directory %s: run 'xdpfwd attach IFACE "
				    "--tunnel IFACE' first\n",
				    pd->shown);
			else
				pr_warn("cannot open %s/%s: %s\n", pd->shown, user_maps[i].name,
					strerror(-err));
			maps_close(maps);
			return err;
		}
	}
	if (bpf_map_lookup_elem(maps->config, &zero, config)) {
		pr_warn("cannot read %s/%s: %s\n", pd->shown, XDPFWD_MAP_CONFIG, strerror(errno));
		maps_close(maps);
		return -EIO;
	}
	if (config->netns_ino && config->netns_ino != current_netns_ino()) {
		pr_warn(
		    "the pin directory %s belongs to another network namespace: give this one its "
		    "own --pin-dir\n",
		    pd->shown);
		maps_close(maps);
		return -EXDEV;
	}
	return 0;
}
