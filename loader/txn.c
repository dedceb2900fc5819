// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include "failpoint.h"
#include "log.h"
#include "journal.h"
#include "state.h"
#include "txn.h"

struct txn_pin {
	char name[NAME_MAX + 1];
	int fd;
	__u32 id;
};

struct txn_hook {
	bool xdp;
	unsigned int ifindex;
	enum bpf_tc_attach_point point;
	__u32 handle, priority;
	__u32 id;    /* the program there before; 0: none */
	__u32 flags; /* XDP: the mode it ran in */
	int fd;	     /* that program, held */
};

struct txn_map {
	int fd;	  /* the caller's */
	__u32 id; /* the map's: a closed fd's number may come back for another map */
	int dup;  /* ours, valid until the end even if the caller closes its fd */
	__u32 key_size, value_size;
	bool array; /* no entry can be deleted: "none before" is undone with zeros */
};

struct txn_file {
	char *path;
	char *old; /* its bytes before; NULL: there was none */
	size_t len;
	bool append; /* only LEN was kept: undo truncates */
	bool existed;
};

/* The largest value an undo writes as zeros: a per-CPU counter record on
 * up to 1,024 CPUs. */
#define XDPFWD_TXN_MAX_VALUE (1024 * 256)

/* The old values of N keys of one map, as one write or one batch found
 * them: a batch of any size costs three allocations, not two a key. */
struct txn_undo {
	size_t map; /* index in txn->maps, which grows (and moves) */
	void *key;  /* N keys */
	void *old;  /* N values; NULL: no key had an entry */
	bool *had;  /* which of OLD are values; NULL: all (OLD not NULL) */
	__u32 n;
};

void txn_begin(struct txn *t)
{
	memset(t, 0, sizeof(*t));
}

/* The id of a pinned object, map or program alike (both infos start with
 * type and id). */
static __u32 obj_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int txn_take_pins(struct txn *t, const char *dir)
{
	char path[PATH_MAX + NAME_MAX + 2];
	struct dirent *e;
	DIR *d;

	if (t->pins_taken)
		return 0;
	t->pins_taken = true;
	snprintf(t->pin_dir, sizeof(t->pin_dir), "%s", dir);
	d = opendir(dir);
	t->pin_dir_existed = d != NULL;
	while (d && (e = readdir(d))) {
		struct txn_pin *grown, *p;

		if (e->d_name[0] == '.')
			continue;
		grown = realloc(t->pins, (t->npins + 1) * sizeof(*t->pins));
		if (!grown) {
			t->failed = true;
			break;
		}
		t->pins = grown;
		p = &t->pins[t->npins];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(p->name, sizeof(p->name), "%s", e->d_name);
		p->fd = bpf_obj_get(path);
		if (p->fd < 0) {
			pr_debug("cannot hold %s: %s\n", path, strerror(errno));
			continue; /* not a BPF object: not ours to put back */
		}
		p->id = obj_id(p->fd);
		t->npins++;
	}
	if (d)
		closedir(d);
	return t->failed ? -ENOMEM : 0;
}

static struct txn_hook *new_hook(struct txn *t)
{
	struct txn_hook *grown = realloc(t->hooks, (t->nhooks + 1) * sizeof(*t->hooks));

	if (!grown) {
		t->failed = true;
		return NULL;
	}
	t->hooks = grown;
	memset(&t->hooks[t->nhooks], 0, sizeof(*t->hooks));
	t->hooks[t->nhooks].fd = -1;
	return &t->hooks[t->nhooks++];
}

static int xdp_now(unsigned int ifindex, __u32 *id, __u32 *flags)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);

	*id = err ? 0 : q.prog_id;
	*flags = q.attach_mode == XDP_ATTACHED_SKB  ? XDP_FLAGS_SKB_MODE
		 : q.attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE
						    : XDP_FLAGS_DRV_MODE;
	return err;
}

int txn_take_xdp(struct txn *t, unsigned int ifindex)
{
	struct txn_hook *h;

	for (size_t i = 0; i < t->nhooks; i++)
		if (t->hooks[i].xdp && t->hooks[i].ifindex == ifindex)
			return 0;
	h = new_hook(t);
	if (!h)
		return -ENOMEM;
	h->xdp = true;
	h->ifindex = ifindex;
	if (xdp_now(ifindex, &h->id, &h->flags))
		return -errno;
	if (h->id && (h->fd = bpf_prog_get_fd_by_id(h->id)) < 0) {
		t->failed = true;
		return -errno;
	}
	return 0;
}

static __u32 tc_now(unsigned int ifindex, enum bpf_tc_attach_point point, __u32 handle,
		    __u32 priority)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);

	return bpf_tc_query(&hook, &opts) ? 0 : opts.prog_id;
}

int txn_take_tc(struct txn *t, unsigned int ifindex, enum bpf_tc_attach_point point, __u32 handle,
		__u32 priority)
{
	struct txn_hook *h;

	for (size_t i = 0; i < t->nhooks; i++)
		if (!t->hooks[i].xdp && t->hooks[i].ifindex == ifindex &&
		    t->hooks[i].point == point)
			return 0;
	h = new_hook(t);
	if (!h)
		return -ENOMEM;
	h->ifindex = ifindex;
	h->point = point;
	h->handle = handle;
	h->priority = priority;
	h->id = tc_now(ifindex, point, handle, priority);
	if (h->id && (h->fd = bpf_prog_get_fd_by_id(h->id)) < 0) {
		t->failed = true;
		return -errno;
	}
	return 0;
}

/* The whole file, or NULL with *LEN 0 when it is not there. */
static int slurp(const char *path, char **text, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = 0;

	*text = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) || !(*text = malloc(st.st_size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (*len < (size_t)st.st_size && (got = read(fd, *text + *len, st.st_size - *len)) > 0)
		*len += got;
	close(fd);
	if (got < 0) {
		free(*text);
		*text = NULL;
		return -EIO;
	}
	(*text)[*len] = '\0';
	return 0;
}

static struct txn_file *new_file(struct txn *t, const char *path)
{
	struct txn_file *grown = realloc(t->files, (t->nfiles + 1) * sizeof(*t->files)), *f;

	if (!grown) {
		t->failed = true;
		return NULL;
	}
	t->files = grown;
	f = &t->files[t->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path) {
		t->failed = true;
		return NULL;
	}
	t->nfiles++;
	return f;
}

static bool file_taken(const struct txn *t, const char *path, bool append)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (!strcmp(t->files[i].path, path) && (append || !t->files[i].append))
			return true;
	return false;
}

static int take_whole(struct txn *t, const char *path)
{
	struct txn_file *f;
	int err;

	if (file_taken(t, path, false))
		return 0;
	f = new_file(t, path);
	if (!f)
		return -ENOMEM;
	err = slurp(path, &f->old, &f->len);
	if (err)
		t->failed = true;
	return err;
}

int txn_take_file(struct txn *t, const char *path)
{
	char journal[PATH_MAX + 16];

	journal_path(journal, sizeof(journal), path);
	return take_whole(t, path) ?: take_whole(t, journal);
}

int txn_take_append(struct txn *t, const char *path)
{
	struct txn_file *f;
	struct stat st;

	if (file_taken(t, path, true))
		return 0;
	f = new_file(t, path);
	if (!f)
		return -ENOMEM;
	f->append = true;
	if (stat(path, &st) == 0) {
		f->existed = true;
		f->len = st.st_size;
	} else if (errno != ENOENT) {
		t->failed = true;
		return -errno;
	}
	return 0;
}

static const struct txn_map *map_of(struct txn *t, int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	struct txn_map *grown, *m;
	int ncpu;

	/* One question to the kernel a map, not a write. */
	for (size_t i = 0; t->fds_stable && i < t->nmaps; i++)
		if (t->maps[i].fd == fd)
			return &t->maps[i];
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return NULL;
	for (size_t i = 0; i < t->nmaps; i++)
		if (t->maps[i].fd == fd && t->maps[i].id == info.id)
			return &t->maps[i];
	grown = realloc(t->maps, (t->nmaps + 1) * sizeof(*t->maps));
	if (!grown)
		return NULL;
	t->maps = grown;
	m = &t->maps[t->nmaps];
	m->fd = fd;
	m->id = info.id;
	m->key_size = info.key_size;
	m->value_size = info.value_size;
	m->array = info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_HASH ||
	    info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH) {
		ncpu = libbpf_num_possible_cpus();
		if (ncpu < 0)
			return NULL;
		m->value_size = ((m->value_size + 7) & ~7U) * ncpu;
	}
	m->dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (m->dup < 0)
		return NULL;
	t->nmaps++;
	return m;
}

/* A new record of N keys of M, KEYS copied: NULL without memory (T then
 * cannot be rolled back whole). */
static struct txn_undo *undo_add(struct txn *t, const struct txn_map *m, const void *keys, __u32 n)
{
	struct txn_undo *u;

	if (t->nundo == t->undo_cap) {
		size_t cap = t->undo_cap ? 2 * t->undo_cap : 64;
		struct txn_undo *grown = realloc(t->undo, cap * sizeof(*t->undo));

		if (!grown) {
			t->failed = true;
			return NULL;
		}
		t->undo = grown;
		t->undo_cap = cap;
	}
	u = &t->undo[t->nundo];
	memset(u, 0, sizeof(*u));
	u->map = (size_t)(m - t->maps);
	u->n = n;
	u->key = malloc((size_t)n * m->key_size + 1);
	if (!u->key) {
		t->failed = true;
		return NULL;
	}
	memcpy(u->key, keys, (size_t)n * m->key_size);
	t->nundo++;
	return u;
}

/* Room in U for the old values of its keys, and (WHICH) the marks of
 * those that had one. */
static int undo_values(struct txn *t, struct txn_undo *u, const struct txn_map *m, bool which)
{
	u->old = malloc((size_t)u->n * m->value_size + 1);
	u->had = which ? calloc(u->n + 1, sizeof(*u->had)) : NULL;
	if (u->old && (u->had || !which))
		return 0;
	t->failed = true;
	return -ENOMEM;
}

/* Keeps KEY's value in FD before a write changes it: OLD when the caller
 * read it (KNOWN), else looked up. */
static int remember_value(struct txn *t, const struct txn_map *m, const void *key, bool known,
			  const void *old)
{
	struct txn_undo *u = undo_add(t, m, key, 1);

	if (!u)
		return -ENOMEM;
	if (known && !old)
		return 0;
	if (undo_values(t, u, m, false))
		return -ENOMEM;
	if (known) {
		memcpy(u->old, old, m->value_size);
	} else if (bpf_map_lookup_elem(m->dup, key, u->old)) {
		free(u->old);
		u->old = NULL;
	}
	return 0;
}

/* qsort() and bsearch() take no context: the sizes of the dump they walk. */
static size_t dump_key_size, dump_pair_size;

static int compare_dump_keys(const void *a, const void *b)
{
	return memcmp(a, b, dump_key_size);
}

static int remember(struct txn *t, int fd, const void *key)
{
	const struct txn_map *m = map_of(t, fd);

	if (!m) {
		t->failed = true;
		return -ENOMEM;
	}
	return remember_value(t, m, key, false, NULL);
}

/* Above this many keys, TXN_OLDS_LOOKUP reads the whole map in a few batched
 * syscalls instead of one lookup a key: each syscall costs about a
 * microsecond, and on a virtual machine many more. */
#define LOOKUP_BY_DUMP 256
#define DUMP_BATCH     4096

/* M's entries (from the caller's fd), KEY_SIZE + VALUE_SIZE bytes each,
 * sorted by key bytes: 0 or -errno. */
static int map_dump(const struct txn_map *m, char **out, size_t *n)
{
	size_t pair = m->key_size + m->value_size, cap = 0;
	char *keys = malloc((size_t)DUMP_BATCH * m->key_size);
	char *vals = malloc((size_t)DUMP_BATCH * m->value_size);
	__u32 token, got;
	int err = keys && vals ? 0 : -ENOMEM;

	*out = NULL;
	*n = 0;
	do {
		got = DUMP_BATCH;
		if (!err)
			err = bpf_map_lookup_batch(m->dup, *n ? &token : NULL, &token, keys, vals,
						   &got, NULL);
		if (err && err != -ENOENT)
			break;
		if (*n + got > cap) {
			char *grown = realloc(*out, (cap = 2 * (*n + got)) * pair);

			if (!grown) {
				err = -ENOMEM;
				break;
			}
			*out = grown;
		}
		for (__u32 i = 0; i < got; i++, ++*n) {
			memcpy(*out + *n * pair, keys + (size_t)i * m->key_size, m->key_size);
			memcpy(*out + *n * pair + m->key_size, vals + (size_t)i * m->value_size,
			       m->value_size);
		}
	} while (!err);
	free(keys);
	free(vals);
	if (err && err != -ENOENT) {
		free(*out);
		*out = NULL;
		return err;
	}
	dump_key_size = m->key_size;
	dump_pair_size = pair;
	if (*n)
		qsort(*out, *n, pair, compare_dump_keys);
	return 0;
}

/* Remembers the N KEYS' values in M as they are now, looked up by a dump
 * of the map. */
static int remember_from_dump(struct txn *t, const struct txn_map *m, const char *keys, __u32 n)
{
	struct txn_undo *u = undo_add(t, m, keys, n);
	char *dump = NULL;
	size_t count;
	int err = u ? undo_values(t, u, m, true) : -ENOMEM;

	err = err ?: map_dump(m, &dump, &count);
	for (__u32 i = 0; !err && i < n; i++) {
		const char *hit;

		dump_key_size = m->key_size;
		dump_pair_size = m->key_size + m->value_size;
		hit = count ? bsearch(keys + (size_t)i * m->key_size, dump, count, dump_pair_size,
				      compare_dump_keys)
			    : NULL;
		if (hit)
			memcpy((char *)u->old + (size_t)i * m->value_size, hit + m->key_size,
			       m->value_size);
		u->had[i] = hit != NULL;
	}
	free(dump);
	return err;
}

/* Remembers the N KEYS' values in M as HOW says, as one record. */
static int remember_each(struct txn *t, const struct txn_map *m, const char *keys, const char *olds,
			 __u32 n, enum txn_olds how)
{
	struct txn_undo *u = n ? undo_add(t, m, keys, n) : NULL;
	int err = n && !u ? -ENOMEM : 0;

	if (err || !n || how == TXN_OLDS_NONE)
		return err;
	err = undo_values(t, u, m, how == TXN_OLDS_LOOKUP);
	if (!err && how == TXN_OLDS_GIVEN)
		memcpy(u->old, olds, (size_t)n * m->value_size);
	for (__u32 i = 0; !err && how == TXN_OLDS_LOOKUP && i < n; i++)
		u->had[i] = !bpf_map_lookup_elem(m->dup, keys + (size_t)i * m->key_size,
						 (char *)u->old + (size_t)i * m->value_size);
	return err;
}

int txn_map_update_batch(struct txn *t, int fd, const void *keys, const void *values,
			 const void *olds, __u32 n, enum txn_olds how)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	const struct txn_map *m = t ? map_of(t, fd) : NULL;
	int err = failpoint("map-update");

	if (!err && t && !m) {
		t->failed = true;
		err = -ENOMEM;
	}
	if (!err && t && how == TXN_OLDS_LOOKUP && n > LOOKUP_BY_DUMP)
		err = remember_from_dump(t, m, keys, n);
	else if (!err && t)
		err = remember_each(t, m, keys, olds, n, how);
	if (!err && n && bpf_map_update_batch(fd, keys, values, &n, &opts))
		err = -errno;
	return err;
}

int txn_map_update(struct txn *t, int fd, const void *key, const void *value, __u64 flags)
{
	int err = failpoint("map-update");

	err = err ?: t ? remember(t, fd, key) : 0;
	if (!err && bpf_map_update_elem(fd, key, value, flags))
		err = -errno;
	return err;
}

int txn_map_delete(struct txn *t, int fd, const void *key)
{
	int err = failpoint("map-delete");

	err = err ?: t ? remember(t, fd, key) : 0;
	if (!err && bpf_map_delete_elem(fd, key))
		err = -errno;
	return err;
}

void txn_note(struct txn *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vappendf(&t->notes, fmt, ap);
	va_end(ap);
}

static void txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->npins; i++)
		close(t->pins[i].fd);
	for (size_t i = 0; i < t->nhooks; i++)
		if (t->hooks[i].fd >= 0)
			close(t->hooks[i].fd);
	for (size_t i = 0; i < t->nundo; i++) {
		free(t->undo[i].key);
		free(t->undo[i].old);
		free(t->undo[i].had);
	}
	for (size_t i = 0; i < t->nmaps; i++)
		close(t->maps[i].dup);
	free(t->pins);
	free(t->hooks);
	free(t->undo);
	free(t->maps);
	for (size_t i = 0; i < t->nfiles; i++) {
		free(t->files[i].path);
		free(t->files[i].old);
	}
	free(t->files);
	strbuf_free(&t->notes);
	memset(t, 0, sizeof(*t));
}

void txn_commit(struct txn *t)
{
	fputs(strbuf_str(&t->notes), stdout);
	fflush(stdout);
	txn_free(t);
}

/* Each undo_* returns 0 when nothing needed putting back, 1 when something
 * was put back, or -errno. */
static int undo_maps(struct txn *t)
{
	int ret = t->nundo ? 1 : 0;
	void *zero = NULL;

	for (size_t i = t->nundo; i-- > 0;) {
		const struct txn_undo *u = &t->undo[i];
		const struct txn_map *m = &t->maps[u->map];

		for (__u32 k = u->n; k-- > 0;) {
			const void *key = (const char *)u->key + (size_t)k * m->key_size;
			const void *old = u->old && (!u->had || u->had[k])
					      ? (const char *)u->old + (size_t)k * m->value_size
					      : NULL;
			int err;

			if (!old && m->array && !zero)
				zero = calloc(1, XDPFWD_TXN_MAX_VALUE);
			if (old)
				err = bpf_map_update_elem(m->dup, key, old, BPF_ANY);
			else if (m->array)
				err = zero && m->value_size <= XDPFWD_TXN_MAX_VALUE
					  ? bpf_map_update_elem(m->dup, key, zero, BPF_ANY)
					  : (errno = ENOMEM, -1);
			else
				err = bpf_map_delete_elem(m->dup, key);
			if (err && (old || m->array || errno != ENOENT) && ret >= 0)
				ret = -errno;
		}
	}
	free(zero);
	if (ret < 0)
		pr_warn("putting the maps back failed: %s\n", strerror(-ret));
	return ret;
}

static int undo_hook(const struct txn_hook *h)
{
	__u32 now, flags;

	if (h->xdp) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
		int err;

		xdp_now(h->ifindex, &now, &flags);
		if (now == h->id)
			return 0;
		if (!h->id)
			return bpf_xdp_detach(h->ifindex, flags, NULL) ?: 1;
		if (!now)
			return bpf_xdp_attach(h->ifindex, h->fd, h->flags, NULL) ?: 1;
		opts.old_prog_fd = bpf_prog_get_fd_by_id(now);
		if (opts.old_prog_fd < 0)
			return -errno;
		err = bpf_xdp_attach(h->ifindex, h->fd, h->flags | XDP_FLAGS_REPLACE, &opts);
		close(opts.old_prog_fd);
		return err ?: 1;
	}
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = h->ifindex, .attach_point = h->point);
		LIBBPF_OPTS(bpf_tc_opts, tc, .handle = h->handle, .priority = h->priority);
		int err;

		now = tc_now(h->ifindex, h->point, h->handle, h->priority);
		if (now == h->id)
			return 0;
		if (!h->id)
			return bpf_tc_detach(&hook, &tc) ?: 1;
		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			return err;
		tc.prog_fd = h->fd;
		tc.flags = BPF_TC_F_REPLACE;
		return bpf_tc_attach(&hook, &tc) ?: 1;
	}
}

static int undo_pins(struct txn *t)
{
	char path[PATH_MAX + NAME_MAX + 2];
	struct dirent *e;
	int ret = 0;
	DIR *d;

	if (!t->pins_taken)
		return 0;
	if (t->pin_dir_existed) {
		if (!mkdir(t->pin_dir, 0700))
			ret = 1; /* detach --purge had removed it */
		else if (errno != EEXIST)
			return -errno;
	}
	/* What the operation pinned goes... */
	d = opendir(t->pin_dir);
	while (d && (e = readdir(d))) {
		bool had = false;

		if (e->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < t->npins && !had; i++)
			had = !strcmp(t->pins[i].name, e->d_name);
		snprintf(path, sizeof(path), "%s/%s", t->pin_dir, e->d_name);
		if (had)
			continue;
		if (unlink(path) && ret >= 0)
			ret = -errno;
		else if (!ret)
			ret = 1;
	}
	if (d)
		closedir(d);
	/* ...and what it unpinned or pinned over comes back. */
	for (size_t i = 0; i < t->npins; i++) {
		int cur;

		snprintf(path, sizeof(path), "%s/%s", t->pin_dir, t->pins[i].name);
		cur = bpf_obj_get(path);
		if (cur >= 0) {
			bool same = obj_id(cur) == t->pins[i].id;

			close(cur);
			if (same)
				continue;
			unlink(path);
		}
		if (bpf_obj_pin(t->pins[i].fd, path) && ret >= 0)
			ret = -errno;
		else if (!ret)
			ret = 1;
	}
	if (!t->pin_dir_existed && !rmdir(t->pin_dir) && !ret)
		ret = 1;
	return ret;
}

/* Cuts PATH back to LEN bytes and syncs it: a record the undone append wrote
 * (and perhaps synced before its fdatasync failed) never comes back after a
 * crash while the maps were rolled back. 1, or -errno. */
static int truncate_durably(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 1;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, len) || fdatasync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

static int undo_append(const struct txn_file *f)
{
	struct stat st;

	if (stat(f->path, &st))
		return errno == ENOENT && !f->existed ? 0 : -errno;
	if (!f->existed)
		return unlink(f->path) ? -errno : 1;
	if ((size_t)st.st_size == f->len)
		return 0;
	return truncate_durably(f->path, f->len);
}

static int undo_file(const struct txn_file *f)
{
	char *now, err[ERR_LEN];
	size_t len;
	int ret;

	if (f->append)
		return undo_append(f);
	ret = slurp(f->path, &now, &len);
	if (!ret && (now ? f->old && len == f->len && !memcmp(now, f->old, len) : !f->old)) {
		free(now);
		return 0;
	}
	free(now);
	if (!f->old)
		return unlink(f->path) && errno != ENOENT ? -errno : 1;
	if (file_write_atomic(f->path, f->old, f->len, false, err)) {
		pr_warn("%s\n", err);
		return -EIO;
	}
	return 1;
}

static int undo_files(struct txn *t)
{
	int ret = 0;

	/* Newest first: a whole copy taken after an append's length wins. */
	for (size_t i = t->nfiles; i-- > 0;) {
		int err = undo_file(&t->files[i]);

		ret = ret < 0 ? ret : err < 0 ? err : ret | err;
	}
	return ret;
}

int txn_rollback(struct txn *t)
{
	int ret = undo_maps(t), err;

	for (size_t i = t->nhooks; i-- > 0;) {
		err = undo_hook(&t->hooks[i]);
		if (err < 0)
			pr_warn("putting back the %s program on interface %u failed: %s\n",
				t->hooks[i].xdp ? "XDP" : "tc", t->hooks[i].ifindex,
				strerror(-err));
		ret = ret < 0 ? ret : err < 0 ? err : ret | err;
	}
	err = undo_pins(t);
	if (err < 0)
		pr_warn("putting back the pins in %s failed: %s\n", t->pin_dir, strerror(-err));
	ret = ret < 0 ? ret : err < 0 ? err : ret | err;
	err = undo_files(t);
	ret = ret < 0 ? ret : err < 0 ? err : ret | err;
	if (t->failed && ret) {
		pr_warn("not everything the operation could change was taken first: check "
			"'xdpfwd list' and the interfaces\n");
		ret = ret < 0 ? ret : -EIO;
	}
	txn_free(t);
	return ret;
}
