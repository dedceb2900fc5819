// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "failpoint.h"
#include "log.h"
#include "migrate.h"

/* bpffs refuses names with a dot (bpf_lookup() in kernel/bpf/inode.c). */
#define NEW_SUFFIX "__migrating"

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* Bytes of one value as the syscalls pass it: per CPU, each rounded to 8. */
static size_t value_stride(__u32 type, __u32 value_size)
{
	return is_percpu(type) ? (value_size + 7) / 8 * 8 : value_size;
}

static bool same_layout(const struct bpf_map *map, const struct bpf_map_info *info)
{
	return info->type == bpf_map__type(map) && info->key_size == bpf_map__key_size(map) &&
	       info->value_size == bpf_map__value_size(map) &&
	       info->max_entries == bpf_map__max_entries(map) &&
	       info->map_flags == bpf_map__map_flags(map);
}

int migrate_plan(struct bpf_object *obj, struct migration *mg, char *err, size_t err_len)
{
	struct bpf_map *map;

	memset(mg, 0, sizeof(*mg));
	bpf_object__for_each_map (map, obj) {
		const char *pin = bpf_map__pin_path(map);
		struct bpf_map_info info = {0};
		__u32 len = sizeof(info);
		struct migrated_map *m;
		int fd;

		if (!pin)
			continue;
		fd = bpf_obj_get(pin);
		if (fd < 0 && errno == ENOENT)
			continue; /* new in this build: the load creates and pins it */
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
			snprintf(err, err_len, "cannot read the pinned map %s: %s", pin,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return -EIO;
		}
		if (same_layout(map, &info)) {
			close(fd);
			continue;
		}
		if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		    info.value_size > bpf_map__value_size(map) || mg->count == MIGRATE_MAX_MAPS) {
			snprintf(
			    err, err_len,
			    "map %s changed in a way that cannot be migrated (pinned: type %u, "
			    "key %u bytes, value %u bytes; this build: type %u, key %u bytes, "
			    "value %u bytes)",
			    bpf_map__name(map), info.type, info.key_size, info.value_size,
			    bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map));
			close(fd);
			return -EINVAL;
		}
		m = &mg->m[mg->count++];
		m->map = map;
		m->old_fd = fd;
		m->old = info;
		snprintf(m->path, sizeof(m->path), "%s", pin);
		if (bpf_map__set_pin_path(map, NULL))
			return -ENOMEM;
		pr_info("map %s: %u -> %u entries, %u -> %u bytes a value: migrating\n",
			bpf_map__name(map), info.max_entries, bpf_map__max_entries(map),
			info.value_size, bpf_map__value_size(map));
	}
	return 0;
}

static bool is_array(__u32 type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* One more entry in the snapshot: KEY and its per-CPU values as copied. */
static int snapshot_add(struct migrated_map *m, size_t entry, size_t *cap, const void *key,
			const void *values)
{
	unsigned char *at;

	if ((m->snapshot_len + 1) * entry > *cap) {
		void *grown = realloc(m->snapshot, (*cap = *cap * 2 + 64 * entry));

		if (!grown)
			return -ENOMEM;
		m->snapshot = grown;
	}
	at = (unsigned char *)m->snapshot + m->snapshot_len++ * entry;
	memcpy(at, key, m->old.key_size);
	memcpy(at + m->old.key_size, values, entry - m->old.key_size);
	return 0;
}

/* NEWV += OLDV - THEN (THEN NULL: 0), 64-bit word by word, on each of CPUS
 * values: the counters of a per-CPU map (struct xdpfwd_counters and the
 * stats are __u64 only). OLDV and THEN are of OLD_STRIDE a CPU. */
static void add_counts(unsigned char *newv, size_t new_stride, const unsigned char *oldv,
		       const unsigned char *then, size_t old_stride, size_t words, size_t cpus)
{
	for (size_t c = 0; c < cpus; c++)
		for (size_t w = 0; w < words; w++) {
			__u64 a, b = 0, n;

			memcpy(&a, oldv + c * old_stride + w * 8, 8);
			if (then)
				memcpy(&b, then + c * old_stride + w * 8, 8);
			memcpy(&n, newv + c * new_stride + w * 8, 8);
			n += a - b;
			memcpy(newv + c * new_stride + w * 8, &n, 8);
		}
}

/* Every entry of the old map into the new one, value by value (per CPU). A
 * per-CPU map holds counters: they are added to what the new map already
 * counted (a plain attach runs the new XDP program before the copy), and kept
 * in the snapshot, zero ones included, for migrate_commit to add what the old
 * programs count until the swap. */
static int copy_map(struct migrated_map *m, int ncpu)
{
	bool percpu = is_percpu(m->old.type), array = is_array(m->old.type);
	size_t cpus = percpu ? (size_t)ncpu : 1;
	size_t old_stride = value_stride(m->old.type, m->old.value_size);
	size_t new_stride = value_stride(m->old.type, bpf_map__value_size(m->map));
	size_t entry = m->old.key_size + cpus * old_stride, cap = 0;
	unsigned char *key = calloc(1, m->old.key_size), *next = calloc(1, m->old.key_size);
	unsigned char *oldv = calloc(cpus, old_stride), *newv = calloc(cpus, new_stride);
	int fd = bpf_map__fd(m->map), err = 0;
	bool first = true;

	if (!key || !next || !oldv || !newv)
		err = -ENOMEM;
	while (!err && !bpf_map_get_next_key(m->old_fd, first ? NULL : key, next)) {
		bool zero;

		first = false;
		memcpy(key, next, m->old.key_size);
		if (bpf_map_lookup_elem(m->old_fd, key, oldv))
			continue; /* gone meanwhile (LRU) */
		zero = array && all_zero(oldv, cpus * old_stride);
		if (array && *(__u32 *)key >= bpf_map__max_entries(m->map)) {
			err = zero ? 0 : -E2BIG; /* a count this build has no room for */
			continue;
		}
		memset(newv, 0, cpus * new_stride);
		if (!percpu)
			memcpy(newv, oldv, m->old.value_size);
		else if (!zero && bpf_map_lookup_elem(fd, key, newv) && errno != ENOENT)
			err = -errno;
		else
			add_counts(newv, new_stride, oldv, NULL, old_stride, m->old.value_size / 8,
				   cpus);
		if (!err && !zero && bpf_map_update_elem(fd, key, newv, BPF_ANY))
			err = -errno;
		if (!err && percpu)
			err = snapshot_add(m, entry, &cap, key, oldv);
	}
	free(key);
	free(next);
	free(oldv);
	free(newv);
	return err;
}

static void new_path(const struct migrated_map *m, char *buf, size_t len)
{
	snprintf(buf, len, "%s" NEW_SUFFIX, m->path);
}

int migrate_copy(struct migration *mg, char *err, size_t err_len)
{
	int ncpu = libbpf_num_possible_cpus();
	char path[PATH_MAX + 48];

	if (ncpu < 0)
		return ncpu;
	for (size_t i = 0; i < mg->count; i++) {
		struct migrated_map *m = &mg->m[i];
		int ret = failpoint("migrate-copy") ?: copy_map(m, ncpu);

		if (ret) {
			snprintf(err, err_len, "copying map %s into this build's layout: %s",
				 bpf_map__name(m->map), strerror(-ret));
			return ret;
		}
		new_path(m, path, sizeof(path));
		unlink(path); /* left by an attempt that was killed */
		if (failpoint("migrate-pin") || bpf_obj_pin(bpf_map__fd(m->map), path)) {
			ret = -errno;
			snprintf(err, err_len, "cannot pin %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* What the old programs counted since the copy, added to the new map. */
static int add_counts_since_copy(struct migrated_map *m, int ncpu)
{
	size_t old_stride = value_stride(m->old.type, m->old.value_size);
	size_t new_stride = value_stride(m->old.type, bpf_map__value_size(m->map));
	size_t entry = m->old.key_size + ncpu * old_stride;
	unsigned char *now = calloc(ncpu, old_stride), *newv = calloc(ncpu, new_stride);
	int fd = bpf_map__fd(m->map), err = 0;

	for (size_t i = 0; now && newv && !err && i < m->snapshot_len; i++) {
		const unsigned char *key = (unsigned char *)m->snapshot + i * entry;
		const unsigned char *then = key + m->old.key_size;

		if (bpf_map_lookup_elem(m->old_fd, key, now) || bpf_map_lookup_elem(fd, key, newv))
			continue;
		add_counts(newv, new_stride, now, then, old_stride, m->old.value_size / 8, ncpu);
		if (bpf_map_update_elem(fd, key, newv, BPF_EXIST))
			err = -errno;
	}
	if (!now || !newv)
		err = -ENOMEM;
	free(now);
	free(newv);
	return err;
}

int migrate_commit(struct migration *mg, char *err, size_t err_len)
{
	int ncpu = libbpf_num_possible_cpus();
	char path[PATH_MAX + 48];

	for (size_t i = 0; i < mg->count; i++) {
		struct migrated_map *m = &mg->m[i];
		int ret = m->snapshot_len ? add_counts_since_copy(m, ncpu) : 0;

		if (ret)
			pr_warn("map %s: the counts of the last moments before the swap are lost: "
				"%s\n",
				bpf_map__name(m->map), strerror(-ret));
		new_path(m, path, sizeof(path));
		if (failpoint("migrate-rename") || rename(path, m->path)) {
			ret = -errno;
			snprintf(err, err_len, "cannot move %s over %s: %s", path, m->path,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void migrate_abort(struct migration *mg)
{
	char path[PATH_MAX + 48];

	for (size_t i = 0; i < mg->count; i++) {
		new_path(&mg->m[i], path, sizeof(path));
		unlink(path);
	}
}

void migrate_free(struct migration *mg)
{
	for (size_t i = 0; i < mg->count; i++) {
		if (mg->m[i].old_fd >= 0)
			close(mg->m[i].old_fd);
		free(mg->m[i].snapshot);
	}
	mg->count = 0;
}
