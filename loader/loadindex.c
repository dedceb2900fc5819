// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * loadindex.c - the cache of the last load (loadindex.h): line hashes,
 * the file, its replay over the journal's new records, and the plan of a
 * load from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "journal.h"
#include "loadindex.h"

#define LIDX_MAGIC   "xdpfwdix"
#define LIDX_VERSION 1

struct lidx_head {
	char magic[8];
	__u32 version;
	__u32 pad;
	__u64 sum; /* line_hash() of the head (this field zero), then of the entries */
	struct state_pos pos;
	__u64 local_digest;
	__u64 count;
};

/* XXH64's constants and its round for inputs of any length taken 8, 4
 * and 1 bytes at a time (xxhash.h, XXH64_finalize()), seed 0. */
static const __u64 P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL,
		   P3 = 0x165667B19E3779F9ULL, P4 = 0x85EBCA77C2B2AE63ULL,
		   P5 = 0x27D4EB2F165667C5ULL;

static __u64 rotl(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

__u64 line_hash(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	__u64 h = P5 + len;

	for (; p + 8 <= end; p += 8) {
		__u64 w;

		memcpy(&w, p, 8);
		h ^= rotl(w * P2, 31) * P1;
		h = rotl(h, 27) * P1 + P4;
	}
	if (p + 4 <= end) {
		__u32 w;

		memcpy(&w, p, 4);
		h ^= (__u64)w * P1;
		h = rotl(h, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++) {
		h ^= *p * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h ?: 1;
}

/* Whether the LEN bytes at S make no rule: blank, or a comment. */
static bool blank(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == len || s[i] == '#';
}

int config_lines(const char *text, size_t len, struct hash_at **out, size_t *n)
{
	const char *p = text, *end = text + len;
	unsigned int line = 0;
	size_t lines = 1;

	*n = 0;
	if (len > 0xffffffffUL)
		return -ENOMEM;
	/* Counted first: one array of the right size, never grown. */
	for (const char *q = text; (q = memchr(q, '\n', end - q)); q++)
		lines++;
	*out = malloc(lines * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	while (p < end) {
		const char *eol = memchr(p, '\n', end - p);
		size_t l = eol ? (size_t)(eol - p) : (size_t)(end - p);

		line++;
		if (!blank(p, l))
			(*out)[(*n)++] = (struct hash_at){line_hash(p, l),
							  (__u64)line << 32 | (size_t)(p - text)};
		p += l + 1;
	}
	return 0;
}

__u64 local_digest(const struct local_addrs *local)
{
	__u64 d = local->count;

	/* A sum of the addresses' hashes: the order netlink lists them in
	 * does not count. */
	for (size_t i = 0; i < local->count; i++) {
		char buf[17];

		buf[0] = local->entry[i].family;
		memcpy(buf + 1, local->entry[i].addr.bytes, 16);
		d += line_hash(buf, sizeof(buf));
	}
	return d;
}

void lidx_entry_of(const struct rule *r, __u64 hash, struct lidx_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->family = r->m.family;
	e->proto = r->m.proto;
	e->port = r->m.public_port;
	e->count = r->m.port_count;
	e->addr = r->m.public_addr;
}

bool lidx_entry_is(const struct lidx_entry *e, const struct xdpfwd_mapping *m)
{
	return e->family == m->family && e->proto == m->proto && e->port == m->public_port &&
	       e->count == m->port_count && !memcmp(&e->addr, &m->public_addr, sizeof(e->addr));
}

/* Sorts N records of SIZE bytes (at most 32) by the __u64 each begins
 * with, hashes spread evenly over their range: one pass into 2^16 buckets
 * by the top 16 bits, then each bucket (one record or two, mostly) by
 * insertion. */
static int hash_sort(void *base, size_t n, size_t size)
{
	size_t *start = calloc((1 << 16) + 1, sizeof(*start));
	char *out = malloc(n * size + 1), *a = base, tmp[32];

	if (!start || !out || size > sizeof(tmp)) {
		free(start);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		start[(*(const __u64 *)(a + i * size) >> 48) + 1]++;
	for (size_t d = 1; d <= 1 << 16; d++)
		start[d] += start[d - 1];
	for (size_t i = 0; i < n; i++)
		memcpy(out + start[*(const __u64 *)(a + i * size) >> 48]++ * size, a + i * size,
		       size);
	/* START[d] is now where bucket d ends. */
	for (size_t i = 1; i < n; i++) {
		size_t k = i;

		memcpy(tmp, out + i * size, size);
		while (k > 0 && *(const __u64 *)(out + (k - 1) * size) > *(const __u64 *)tmp) {
			memcpy(out + k * size, out + (k - 1) * size, size);
			k--;
		}
		memcpy(out + k * size, tmp, size);
	}
	memcpy(base, out, n * size);
	free(out);
	free(start);
	return 0;
}

int lidx_sort(struct lidx_entry *e, size_t n)
{
	return hash_sort(e, n, sizeof(*e));
}

int lidx_merge(const struct lidx_entry *e, size_t sorted, struct lidx_entry *tail, size_t ntail,
	       struct lidx_entry *out)
{
	size_t a = 0, b = 0, n = 0;
	int err = lidx_sort(tail, ntail);

	while (!err && (a < sorted || b < ntail))
		out[n++] =
		    b == ntail || (a < sorted && e[a].hash <= tail[b].hash) ? e[a++] : tail[b++];
	return err;
}

int hash_at_sort(struct hash_at *keys, size_t n)
{
	return hash_sort(keys, n, sizeof(*keys));
}

static void index_path(char *buf, size_t len, const char *state)
{
	snprintf(buf, len, "%s%s", state, STATE_INDEX_SUFFIX);
}

/* XXH64's four lanes over the whole 32-byte stripes of LEN bytes at P,
 * line_hash() over the rest: a checksum at memory speed. */
static __u64 block_sum(const char *p, size_t len)
{
	__u64 v[4] = {P1 + P2, P2, 0, -P1}, h = 0;
	size_t stripes = len / 32;

	for (size_t i = 0; i < stripes; i++)
		for (int l = 0; l < 4; l++) {
			__u64 w;

			memcpy(&w, p + 32 * i + 8 * l, 8);
			v[l] = rotl(v[l] + w * P2, 31) * P1;
		}
	for (int l = 0; l < 4; l++)
		h = (h ^ rotl(v[l], 1 + 6 * l)) * P1 + P4;
	return h ^ line_hash(p + 32 * stripes, len - 32 * stripes) ^ len;
}

static __u64 lidx_sum(const struct lidx_head *h, const struct lidx_entry *e, size_t n)
{
	struct lidx_head copy = *h;

	copy.sum = 0;
	return line_hash((const char *)&copy, sizeof(copy)) ^
	       rotl(block_sum((const char *)e, n * sizeof(*e)), 1);
}

int lidx_read(const char *state, struct load_index *ix)
{
	char path[PATH_MAX + 16];
	struct lidx_head h;
	struct stat st;
	int fd;

	memset(ix, 0, sizeof(*ix));
	index_path(path, sizeof(path), state);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Mapped: the page cache's pages, none to clear. Private and
	 * writable: lidx_replay() changes its copy only. */
	if (!fstat(fd, &st) && (size_t)st.st_size >= sizeof(h)) {
		ix->map_len = st.st_size;
		ix->map = mmap(NULL, ix->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	}
	close(fd);
	if (!ix->map || ix->map == MAP_FAILED) {
		ix->map = NULL;
		return -1;
	}
	memcpy(&h, ix->map, sizeof(h));
	ix->e = (struct lidx_entry *)((char *)ix->map + sizeof(h));
	ix->n = h.count;
	if (memcmp(h.magic, LIDX_MAGIC, 8) || h.version != LIDX_VERSION ||
	    h.count != (ix->map_len - sizeof(h)) / sizeof(*ix->e) ||
	    ix->map_len != sizeof(h) + h.count * sizeof(*ix->e) ||
	    lidx_sum(&h, ix->e, ix->n) != h.sum) {
		lidx_free(ix);
		return -1;
	}
	ix->pos = h.pos;
	ix->local_digest = h.local_digest;
	return 0;
}

void lidx_remove(const char *state)
{
	char path[PATH_MAX + 16];

	index_path(path, sizeof(path), state);
	unlink(path);
}

int lidx_write(const char *state, const struct load_index *ix)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	struct lidx_head h = {.version = LIDX_VERSION, .count = ix->n};
	int fd, ok;

	memcpy(h.magic, LIDX_MAGIC, 8);
	h.pos = ix->pos;
	h.local_digest = ix->local_digest;
	h.sum = lidx_sum(&h, ix->e, ix->n);
	index_path(path, sizeof(path), state);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok = fd >= 0 && write(fd, &h, sizeof(h)) == sizeof(h) &&
	     write(fd, ix->e, ix->n * sizeof(*ix->e)) == (ssize_t)(ix->n * sizeof(*ix->e));
	if (fd >= 0 && close(fd))
		ok = 0;
	if (ok && !rename(tmp, path))
		return 0;
	ok = -(errno ?: EIO);
	unlink(tmp);
	unlink(path);
	return ok;
}

void lidx_free(struct load_index *ix)
{
	if (ix->map)
		munmap(ix->map, ix->map_len);
	else
		free(ix->e);
	memset(ix, 0, sizeof(*ix));
}

static int compare_u64(const void *pa, const void *pb)
{
	__u64 a = *(const __u64 *)pa, b = *(const __u64 *)pb;

	return (a > b) - (a < b);
}

/* The public side's hash, for replay_table(). */
static __u64 side_hash(__u8 family, __u8 proto, __u16 port, __u16 count,
		       const union xdpfwd_addr *addr)
{
	char buf[22];

	buf[0] = family;
	buf[1] = proto;
	memcpy(buf + 2, &port, 2);
	memcpy(buf + 4, &count, 2);
	memcpy(buf + 6, addr->bytes, 16);
	return line_hash(buf, sizeof(buf));
}

/* An open-addressing table of IX's entries by public side: positions + 1,
 * 0 empty; MASK + 1 slots. */
static __u32 *replay_table(const struct load_index *ix, size_t *mask)
{
	size_t size = 64;
	__u32 *slots;

	while (size < 2 * ix->n)
		size *= 2;
	slots = calloc(size, sizeof(*slots));
	*mask = size - 1;
	for (size_t i = 0; slots && i < ix->n; i++) {
		const struct lidx_entry *e = &ix->e[i];
		size_t s = side_hash(e->family, e->proto, e->port, e->count, &e->addr) & *mask;

		while (slots[s])
			s = (s + 1) & *mask;
		slots[s] = i + 1;
	}
	return slots;
}

/* Marks every entry of IX on OP's public side dead (count 0), its line's
 * hash into STALE; an operator's mapping added stays, as hash 0, in EXTRA. */
static int replay_op(struct load_index *ix, const __u32 *slots, size_t mask,
		     const struct journal_op *op, __u64 *stale, size_t *nstale,
		     struct lidx_entry *extra, size_t *nextra)
{
	const struct xdpfwd_mapping *m = &op->r.m;
	size_t s =
	    side_hash(m->family, m->proto, m->public_port, m->port_count, &m->public_addr) & mask;

	for (; slots[s]; s = (s + 1) & mask) {
		struct lidx_entry *e = &ix->e[slots[s] - 1];

		if (!e->count || !lidx_entry_is(e, m))
			continue;
		if (e->hash)
			stale[(*nstale)++] = e->hash;
		e->count = 0;
	}
	for (size_t i = 0; i < *nextra; i++)
		if (extra[i].count && lidx_entry_is(&extra[i], m))
			extra[i].count = 0;
	if (!op->del && !op->r.owner.kind)
		lidx_entry_of(&op->r, 0, &extra[(*nextra)++]);
	return 0;
}

/* IX's entries that live on: those of hash 0 first (EXTRA's, then those
 * of a STALE line), then the others in their order. */
static int replay_compact(struct load_index *ix, const __u64 *stale, size_t nstale,
			  const struct lidx_entry *extra, size_t nextra)
{
	struct lidx_entry *out = malloc((ix->n + nextra + 1) * sizeof(*out));
	size_t n = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < nextra; i++)
		if (extra[i].count)
			out[n++] = extra[i];
	for (size_t i = 0; i < ix->n; i++)
		if (ix->e[i].count &&
		    (!ix->e[i].hash || (nstale && bsearch(&ix->e[i].hash, stale, nstale,
							  sizeof(*stale), compare_u64)))) {
			out[n] = ix->e[i];
			out[n++].hash = 0;
		}
	for (size_t i = 0; i < ix->n; i++)
		if (ix->e[i].count && ix->e[i].hash &&
		    !(nstale &&
		      bsearch(&ix->e[i].hash, stale, nstale, sizeof(*stale), compare_u64)))
			out[n++] = ix->e[i];
	if (ix->map)
		munmap(ix->map, ix->map_len);
	else
		free(ix->e);
	ix->map = NULL;
	ix->e = out;
	ix->n = n;
	return 0;
}

int lidx_replay(struct load_index *ix, const struct journal *j)
{
	__u64 *stale = calloc(j->nops + 1, sizeof(*stale));
	struct lidx_entry *extra = calloc(j->nops + 1, sizeof(*extra));
	size_t mask, nstale = 0, nextra = 0;
	__u32 *slots = j->nops ? replay_table(ix, &mask) : NULL;
	int err = stale && extra && (slots || !j->nops) ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < j->nops; i++)
		err = replay_op(ix, slots, mask, &j->ops[i], stale, &nstale, extra, &nextra);
	if (!err && nstale)
		qsort(stale, nstale, sizeof(*stale), compare_u64);
	if (!err && j->nops)
		err = replay_compact(ix, stale, nstale, extra, nextra);
	free(slots);
	free(stale);
	free(extra);
	return err;
}

/* Room for N entries and lines in PLAN. */
static int plan_alloc(struct load_plan *plan, size_t nentries, size_t nlines)
{
	memset(plan, 0, sizeof(*plan));
	plan->fresh = malloc((nlines + 1) * sizeof(*plan->fresh));
	plan->keep = malloc((nentries + 1) * sizeof(*plan->keep));
	plan->gone = malloc((nentries + 1) * sizeof(*plan->gone));
	if (plan->fresh && plan->keep && plan->gone)
		return 0;
	lidx_plan_free(plan);
	return -ENOMEM;
}

int lidx_plan(const struct load_index *ix, struct hash_at *lines, size_t n, struct load_plan *plan)
{
	size_t e = 0, k = 0;
	int ret = plan_alloc(plan, ix->n, n) ?: hash_at_sort(lines, n);

	while (!ret && k < n) {
		__u64 h = lines[k].hash;

		if (k + 1 < n && lines[k + 1].hash == h)
			ret = 1; /* two lines alike: validation names them */
		while (e < ix->n && ix->e[e].hash < h)
			plan->gone[plan->ngone++] = ix->e[e++];
		if (e < ix->n && ix->e[e].hash == h)
			while (e < ix->n && ix->e[e].hash == h)
				plan->keep[plan->nkeep++] = ix->e[e++];
		else
			plan->fresh[plan->nfresh++] = lines[k].at;
		k++;
	}
	while (!ret && e < ix->n)
		plan->gone[plan->ngone++] = ix->e[e++];
	/* In the file's order, as the long way parses them. */
	if (!ret && plan->nfresh > 1)
		qsort(plan->fresh, plan->nfresh, sizeof(*plan->fresh), compare_u64);
	if (ret)
		lidx_plan_free(plan);
	return ret;
}

void lidx_plan_free(struct load_plan *plan)
{
	free(plan->fresh);
	free(plan->keep);
	free(plan->gone);
	memset(plan, 0, sizeof(*plan));
}
