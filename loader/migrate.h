/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * migrate.h - attach --replace over pinned maps whose layout this build
 * changed.
 *
 * libbpf reuses a pinned map only when type, key size, value size, number of
 * entries and flags all match (map_is_reuse_compat() in libbpf.c); anything
 * else fails the load. A map that differs but keeps its type and key size is
 * migrated instead: the new build creates it afresh, every entry is copied
 * (a value keeps its first bytes, the fields a newer build appends start at
 * zero), the new map is pinned beside the old one as NAME__migrating, and only once
 * every program is swapped does NAME__migrating take the old pin's name. Per-CPU
 * maps are counters: what the old programs counted between the copy and the
 * swap is added on, so no mapping, lease or counter is lost. A failure at
 * any step before the renames leaves the old maps and pins as they were.
 * Failpoints (failpoint.h): migrate-copy and migrate-pin for each map before
 * its copy and its NAME__migrating pin, migrate-rename before each rename.
 * attach --replace --capacity N resizes the maps this way (capacity.h).
 */
#ifndef XDPFWD_MIGRATE_H
#define XDPFWD_MIGRATE_H

#include <limits.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#define MIGRATE_MAX_MAPS 32

struct migrated_map {
	struct bpf_map *map; /* this build's: created by the load */
	int old_fd;
	struct bpf_map_info old;
	void *snapshot; /* per-CPU maps: the old values as copied */
	size_t snapshot_len;
	char path[PATH_MAX + 32]; /* the pin both share in the end */
};

struct migration {
	size_t count;
	struct migrated_map m[MIGRATE_MAX_MAPS];
};

/* Before the load: for every map of OBJ with a pin path whose pinned map
 * differs, drops the pin path (so the load creates it) and records it.
 * Returns 0, or -EINVAL with ERR set when a map cannot be migrated (another
 * type or key size). */
int migrate_plan(struct bpf_object *obj, struct migration *mg, char *err, size_t err_len);
/* After the load: copies every entry into the new maps and pins them as
 * PATH__migrating. Returns 0 or -errno with ERR set. */
int migrate_copy(struct migration *mg, char *err, size_t err_len);
/* After every program is swapped: adds the counts made since the copy and
 * renames PATH__migrating over PATH. Returns 0 or -errno with ERR set. */
int migrate_commit(struct migration *mg, char *err, size_t err_len);
/* The swap failed: removes the PATH__migrating pins; the old ones stay. */
void migrate_abort(struct migration *mg);
void migrate_free(struct migration *mg);

#endif
