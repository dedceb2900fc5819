// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * capacity.c - the capacity chosen at attach, read back from the maps
 * (capacity.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "capacity.h"
#include "log.h"

#define RANGE            \
	"--capacity N, " \
	"1-1048576"
_Static_assert(XDPFWD_MIN_CAPACITY == 1 && XDPFWD_MAX_CAPACITY == 1048576, "RANGE's text");

static __u32 capacity_of_fd(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.max_entries;
}

__u32 table_capacity(const struct xdpfwd_maps *maps)
{
	return capacity_of_fd(maps->mappings);
}

int capacity_pinned(const struct pindir *pd, __u32 *cap)
{
	char path[PATH_MAX + 32];
	int fd, err = 0;

	*cap = 0;
	pindir_file(pd, "xdpfwd_mappings", path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	*cap = capacity_of_fd(fd);
	if (!*cap)
		err = -errno;
	close(fd);
	return err;
}

int capacity_set(struct bpf_object *obj, __u32 cap)
{
	struct bpf_map *map;
	int err = 0;

#define CAPACITY_SET(name, per_mapping)                \
	map = bpf_object__find_map_by_name(obj, name); \
	if (!err && map)                               \
		err = bpf_map__set_max_entries(map, cap * (per_mapping));
	XDPFWD_CAPACITY_MAPS(CAPACITY_SET)
#undef CAPACITY_SET
	return err;
}

int capacity_fits(size_t count, size_t ports, __u32 cap, char *err)
{
	size_t room = (size_t)cap * XDPFWD_PORTS_PER_MAPPING;

	if (count > cap) {
		snprintf(err, ERR_LEN, "%zu mappings, more than a capacity of %u holds", count,
			 cap);
		return -1;
	}
	if (ports > room) {
		snprintf(err, ERR_LEN,
			 "the mappings cover %zu ports, more than the %zu a capacity of %u holds "
			 "(%d a mapping)",
			 ports, room, cap, XDPFWD_PORTS_PER_MAPPING);
		return -1;
	}
	return 0;
}

__u32 capacity_needed(size_t count, size_t ports)
{
	size_t need = (ports + XDPFWD_PORTS_PER_MAPPING - 1) / XDPFWD_PORTS_PER_MAPPING;

	need = need > count ? need : count;
	if (need < XDPFWD_DEFAULT_CAPACITY)
		return XDPFWD_DEFAULT_CAPACITY;
	return need > XDPFWD_MAX_CAPACITY ? XDPFWD_MAX_CAPACITY : (__u32)need;
}

int capacity_check(const struct xdpfwd_maps *maps, const struct rule *rules, size_t count,
		   char *err)
{
	__u32 cap = table_capacity(maps);
	size_t ports = 0, len;

	if (!cap) {
		snprintf(err, ERR_LEN, "cannot read the capacity of the maps: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		ports += rules[i].m.port_count;
	if (!capacity_fits(count, ports, cap, err))
		return 0;
	len = strlen(err);
	snprintf(err + len, ERR_LEN - len, "; attach --replace " RANGE ", resizes the maps");
	return -1;
}

void capacity_full(const char *what, const struct xdpfwd_maps *maps)
{
	__u32 cap = table_capacity(maps);

	pr_warn(
	    "%s: the table is full: the maps hold %u mappings and %u ports (attach --replace " RANGE
	    ", changes the capacity); nothing was changed\n",
	    what, cap, cap * XDPFWD_PORTS_PER_MAPPING);
}
