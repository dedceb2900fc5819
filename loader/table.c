// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capacity.h"
#include "log.h"
#include "table.h"
#include "txn.h"

static int compare_slot_mappings(const void *pa, const void *pb)
{
	return compare_mappings(&((const struct slot_mapping *)pa)->m,
				&((const struct slot_mapping *)pb)->m);
}

/* Entries per batch syscall: big enough that syscalls do not dominate, small
 * enough that the scratch values (ncpu x 32 bytes each) stay a few MiB. */
#define BATCH_ENTRIES 4096

static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
	size_t want = *cap ? *cap : 256;
	void *grown;

	if (need <= *cap)
		return 0;
	while (want < need)
		want *= 2;
	grown = realloc(*buf, want * size);
	if (!grown)
		return -ENOMEM;
	*buf = grown;
	*cap = want;
	return 0;
}

static int batch_scratch(struct table_view *v)
{
	size_t value_size;

	if (v->batch_keys)
		return 0;
	v->ncpu = libbpf_num_possible_cpus();
	if (v->ncpu < 0)
		return v->ncpu;
	value_size = v->ncpu * sizeof(struct xdpfwd_counters);
	if (value_size < sizeof(struct xdpfwd_mapping))
		value_size = sizeof(struct xdpfwd_mapping);
	v->batch_keys = malloc(BATCH_ENTRIES * sizeof(*v->batch_keys));
	v->batch_values = malloc(BATCH_ENTRIES * value_size);
	return v->batch_keys && v->batch_values ? 0 : -ENOMEM;
}

/*
 * One pass of bpf_map_lookup_batch over FD, at most LIMIT entries, handing
 * each batch to EACH. The kernel ends a pass with -ENOENT, possibly with a
 * last batch in hand.
 */
static int batch_walk(struct table_view *v, int fd, size_t limit,
		      int (*each)(struct table_view *, __u32 n))
{
	__u32 token, n;
	size_t done = 0;
	int err;

	do {
		n = limit - done < BATCH_ENTRIES ? limit - done : BATCH_ENTRIES;
		if (!n)
			return 0;
		err = bpf_map_lookup_batch(fd, done ? &token : NULL, &token, v->batch_keys,
					   v->batch_values, &n, NULL);
		if (err && err != -ENOENT)
			return err;
		done += n;
		if (n && each(v, n))
			return -ENOMEM;
	} while (!err);
	return 0;
}

static int take_mappings(struct table_view *v, __u32 n)
{
	const struct xdpfwd_mapping *vals = v->batch_values;

	if (grow((void **)&v->list, &v->list_cap, v->count + n, sizeof(*v->list)))
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		v->list[v->count].slot = v->batch_keys[i];
		v->list[v->count++].m = vals[i];
	}
	return 0;
}

/* An entry of xdpfwd_owner, as read_owners() collects them. */
struct slot_owner {
	__u32 slot;
	struct xdpfwd_owner owner;
};

static int compare_slot_owners(const void *pa, const void *pb)
{
	__u32 a = ((const struct slot_owner *)pa)->slot, b = ((const struct slot_owner *)pb)->slot;

	return (a > b) - (a < b);
}

static int take_owners(struct table_view *v, __u32 n)
{
	const struct xdpfwd_owner *vals = v->batch_values;

	if (grow((void **)&v->owners, &v->owners_cap, v->nowners + n, sizeof(*v->owners)))
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		v->owners[v->nowners].slot = v->batch_keys[i];
		v->owners[v->nowners++].owner = vals[i];
	}
	return 0;
}

/* Each mapping of V's list gets its owner record: the entries of
 * xdpfwd_owner in one batched pass (a pin directory of an older build has
 * no such map, and no dynamic mapping), each found by its slot. An entry
 * whose slot holds no mapping is ignored. */
static int read_owners(struct table_view *v, const struct xdpfwd_maps *maps)
{
	int err = 0;

	v->nowners = 0;
	if (maps->owner >= 0)
		err = batch_walk(v, maps->owner, SIZE_MAX, take_owners);
	if (!err && v->nowners > 1)
		qsort(v->owners, v->nowners, sizeof(*v->owners), compare_slot_owners);
	for (size_t i = 0; !err && i < v->count; i++) {
		struct slot_owner key = {.slot = v->list[i].slot}, *o = NULL;

		if (v->nowners)
			o = bsearch(&key, v->owners, v->nowners, sizeof(*v->owners),
				    compare_slot_owners);
		if (o)
			v->list[i].owner = o->owner;
		else
			memset(&v->list[i].owner, 0, sizeof(v->list[i].owner));
	}
	return err;
}

static int read_mappings(struct table_view *v, const struct xdpfwd_maps *maps)
{
	int err;

	v->count = 0;
	err = batch_scratch(v);
	err = err ?: batch_walk(v, maps->mappings, SIZE_MAX, take_mappings);
	err = err ?: read_owners(v, maps);
	if (!err && v->count)
		qsort(v->list, v->count, sizeof(*v->list), compare_slot_mappings);
	return err;
}

static void sum_cpus(struct xdpfwd_counters *sum, const struct xdpfwd_counters *percpu, int ncpu)
{
	memset(sum, 0, sizeof(*sum));
	for (int c = 0; c < ncpu; c++) {
		sum->rx_packets += percpu[c].rx_packets;
		sum->rx_bytes += percpu[c].rx_bytes;
		sum->tx_packets += percpu[c].tx_packets;
		sum->tx_bytes += percpu[c].tx_bytes;
		sum->not_allowed += percpu[c].not_allowed;
		sum->rate_limited += percpu[c].rate_limited;
	}
}

static int sum_counters(struct table_view *v, __u32 n)
{
	const struct xdpfwd_counters *percpu = v->batch_values;

	for (__u32 i = 0; i < n; i++)
		sum_cpus(&v->by_slot[v->batch_keys[i]], percpu + (size_t)i * v->ncpu, v->ncpu);
	return 0;
}

int view_read(struct table_view *v, const struct xdpfwd_maps *maps)
{
	size_t slots = 0;
	int err;

	err = read_mappings(v, maps);
	err = err ?: stats_read(maps, v->stats);
	if (err)
		return err;
	/* Slots are handed out lowest first, so the used ones sit at the front
	 * of the counter array: read up to the highest, not the whole array. */
	for (size_t i = 0; i < v->count; i++)
		if (v->list[i].slot >= slots)
			slots = v->list[i].slot + 1;
	if (grow((void **)&v->by_slot, &v->slots_cap, slots ? slots : 1, sizeof(*v->by_slot)))
		return -ENOMEM;
	return batch_walk(v, maps->counters, slots, sum_counters);
}

void view_free(struct table_view *v)
{
	free(v->list);
	free(v->by_slot);
	free(v->batch_keys);
	free(v->batch_values);
	free(v->owners);
	memset(v, 0, sizeof(*v));
}

static void prefix_entry(const struct xdpfwd_prefix *p, struct xdpfwd_allow_entry *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->addr, p->addr.bytes, sizeof(e->addr));
	for (unsigned int bit = 0; bit < p->len; bit++)
		((__u8 *)e->mask)[bit / 8] |= 0x80 >> (bit % 8);
}

static void entry_prefix(const struct xdpfwd_allow_entry *e, __u8 family, struct xdpfwd_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	memcpy(p->addr.bytes, e->addr, sizeof(e->addr));
	for (unsigned int bit = 0;
	     bit < 128 && (((const __u8 *)e->mask)[bit / 8] & (0x80 >> (bit % 8))); bit++)
		p->len++;
}

/* Fills R's allowlist from its slot's entry. */
static void allow_read(const struct xdpfwd_maps *maps, struct rule *r)
{
	struct xdpfwd_allowlist list;
	__u32 n = r->m.allow_count;

	r->m.allow_count = 0;
	if (!n || bpf_map_lookup_elem(maps->allow, &r->slot, &list))
		return; /* none, or left out by a change that stopped half way */
	for (__u32 k = 0; k < list.count && k < XDPFWD_MAX_ALLOW; k++)
		entry_prefix(&list.entry[k], r->m.family, &r->allow[r->m.allow_count++]);
	qsort(r->allow, r->m.allow_count, sizeof(r->allow[0]), compare_prefixes);
}

int table_live(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count, size_t extra)
{
	struct slot_mapping *list;
	size_t n;
	int err = table_read(maps, &list, &n);

	if (err)
		return err;
	/* Not calloc: the allowlists past allow_count stay unwritten, which
	 * spares touching (and faulting in) most of the array's pages. */
	*rules = malloc((n + extra + 1) * sizeof(**rules));
	if (!*rules) {
		free(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct rule *r = &(*rules)[i];

		r->m = list[i].m;
		r->owner = list[i].owner;
		r->slot = list[i].slot;
		r->existing = true;
		r->line = 0;
		allow_read(maps, r);
	}
	free(list);
	*count = n;
	return 0;
}

__u64 boot_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int table_read(const struct xdpfwd_maps *maps, struct slot_mapping **out, size_t *count)
{
	struct table_view v = {0};
	int err = read_mappings(&v, maps);

	if (err) {
		view_free(&v);
		return err;
	}
	*out = v.list;
	*count = v.count;
	v.list = NULL;
	view_free(&v);
	return 0;
}

/* The I-th entry a mapping writes, in either direction. */
static void fwd_entry(const struct xdpfwd_mapping *m, __u32 slot, __u16 i,
		      struct xdpfwd_endpoint *key, struct xdpfwd_nat *val)
{
	memset(key, 0, sizeof(*key));
	memset(val, 0, sizeof(*val));
	key->family = m->family;
	key->proto = m->proto;
	key->port = htons(m->public_port + i);
	key->addr = m->source_addr; /* public_addr, or the one a wildcard answers from */
	val->addr = m->target_addr;
	val->port = htons(m->target_port + i);
	val->policy = policy_bits(m);
	val->slot = slot;
}

static void rev_entry(const struct xdpfwd_mapping *m, __u32 slot, __u16 i,
		      struct xdpfwd_endpoint *key, struct xdpfwd_nat *val)
{
	memset(key, 0, sizeof(*key));
	memset(val, 0, sizeof(*val));
	key->family = m->family;
	key->proto = m->proto;
	key->port = htons(m->target_port + i);
	key->addr = m->target_addr;
	val->addr = m->source_addr;
	val->port = htons(m->public_port + i);
	val->slot = slot;
}

typedef void (*entry_fn)(const struct xdpfwd_mapping *, __u32, __u16, struct xdpfwd_endpoint *,
			 struct xdpfwd_nat *);

static int write_entries(struct txn *t, int fd, entry_fn entry, const struct xdpfwd_mapping *m,
			 __u32 slot)
{
	struct xdpfwd_endpoint key;
	struct xdpfwd_nat val;

	for (__u16 i = 0; i < m->port_count; i++) {
		int err;

		entry(m, slot, i, &key, &val);
		err = txn_map_update(t, fd, &key, &val, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

/* Whether MAPPING writes KEY in the direction ENTRY describes. */
static bool writes_key(entry_fn entry, const struct xdpfwd_mapping *m,
		       const struct xdpfwd_endpoint *key)
{
	bool fwd = entry == fwd_entry;
	const union xdpfwd_addr *addr = fwd ? &m->source_addr : &m->target_addr;
	unsigned int first = fwd ? m->public_port : m->target_port;
	unsigned int port = ntohs(key->port);

	return key->family == m->family && key->proto == m->proto &&
	       !memcmp(&key->addr, addr, sizeof(*addr)) && port >= first &&
	       port < first + m->port_count;
}

/* Removes the entries OLD wrote that still hold its values, except those that
 * KEEP (the same mapping's new version, or NULL) writes too. */
static int erase_entries(struct txn *t, int fd, entry_fn entry, const struct xdpfwd_mapping *old,
			 __u32 slot, const struct xdpfwd_mapping *keep)
{
	struct xdpfwd_endpoint key;
	struct xdpfwd_nat val, cur;
	int err;

	for (__u16 i = 0; i < old->port_count; i++) {
		entry(old, slot, i, &key, &val);
		if (keep && writes_key(entry, keep, &key))
			continue;
		if (bpf_map_lookup_elem(fd, &key, &cur) || memcmp(&cur, &val, sizeof(val)))
			continue;
		err = txn_map_delete(t, fd, &key);
		if (err && err != -ENOENT)
			return err;
	}
	return 0;
}

static int zero_counters(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xdpfwd_counters *zero;
	int err;

	if (ncpu < 0)
		return ncpu;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	err = txn_map_update(t, maps->counters, &slot, zero, BPF_ANY);
	free(zero);
	return err;
}

/* The part of a mapping only the data path reads: its allowlist and its
 * policy record. Each is replaced in one update, so a packet sees the old
 * list or the new one. A bucket whose rate stays keeps its state, so
 * renewing a lease does not hand out a fresh burst. */
static int write_policy(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
			const struct rule *r)
{
	struct xdpfwd_policy pol = {0}, cur;
	int err;

	if (r->m.allow_count) {
		struct xdpfwd_allowlist list = {.count = r->m.allow_count};

		for (__u32 i = 0; i < r->m.allow_count; i++)
			prefix_entry(&r->allow[i], &list.entry[i]);
		err = txn_map_update(t, maps->allow, &slot, &list, BPF_ANY);
		if (err)
			return err;
	}
	pol.expires_ns = r->m.expires_ns;
	rate_bucket(&r->m.rate, &pol.rate);
	rate_bucket(&r->m.new_rate, &pol.new_rate);
	if (bpf_map_lookup_elem(maps->policy, &slot, &cur) == 0) {
		if (cur.rate.interval_ns == pol.rate.interval_ns &&
		    cur.rate.limit_ns == pol.rate.limit_ns)
			pol.rate.tat_ns = cur.rate.tat_ns;
		if (cur.new_rate.interval_ns == pol.new_rate.interval_ns &&
		    cur.new_rate.limit_ns == pol.new_rate.limit_ns)
			pol.new_rate.tat_ns = cur.new_rate.tat_ns;
	}
	return txn_map_update(t, maps->policy, &slot, &pol, BPF_ANY);
}

/* OLD's allowlist goes when the mapping's new version (KEEP, or NULL when
 * it is removed) has none: only once its forward entries no longer ask. */
static int erase_allow(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
		       const struct rule *old, const struct rule *keep)
{
	int err;

	if (!old->m.allow_count || (keep && keep->m.allow_count))
		return 0;
	err = txn_map_delete(t, maps->allow, &slot);
	return err == -ENOENT ? 0 : err;
}

/* The maps of a pin directory made before xdpfwd_owner cannot hold a
 * dynamic mapping: -EOPNOTSUPP, said once. */
static int owner_map_missing(void)
{
	pr_warn("this pin directory was made by an older xdpfwd, without the map "
		"xdpfwd_owner that dynamic (NAT-PMP/PCP) mappings need: run 'xdpfwd attach "
		"--replace' first\n");
	return -EOPNOTSUPP;
}

/* R's owner record into SLOT's entry of xdpfwd_owner, unless OLD (the same
 * mapping before, or NULL) had the same one already. Written after the
 * mapping record, and removed before it (erase_owner()), so that no entry
 * ever outlives its mapping, even when a change is killed half way. */
static int write_owner(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
		       const struct rule *old, const struct rule *r)
{
	if (!r->owner.kind || (old && !memcmp(&old->owner, &r->owner, sizeof(r->owner))))
		return 0;
	if (maps->owner < 0)
		return owner_map_missing();
	return txn_map_update(t, maps->owner, &slot, &r->owner, BPF_ANY);
}

/* OLD's owner record goes when the mapping's new version (KEEP, or NULL
 * when it is removed) has none. */
static int erase_owner(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
		       const struct rule *old, const struct rule *keep)
{
	int err;

	if (!old->owner.kind || (keep && keep->owner.kind) || maps->owner < 0)
		return 0;
	err = txn_map_delete(t, maps->owner, &slot);
	return err == -ENOENT ? 0 : err;
}

/* R into SLOT, which OLD (NULL: nothing) held before. */
static int write_mapping(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
			 const struct rule *old, const struct rule *r)
{
	const struct xdpfwd_mapping *m = &r->m;
	int err;

	err = write_policy(t, maps, slot, r);
	err = err ?: txn_map_update(t, maps->mappings, &slot, m, BPF_ANY);
	err = err ?: write_owner(t, maps, slot, old, r);
	err = err ?: write_entries(t, maps->rev, rev_entry, m, slot);
	return err ?: write_entries(t, maps->fwd, fwd_entry, m, slot);
}

static int erase_mapping(struct txn *t, const struct xdpfwd_maps *maps, __u32 slot,
			 const struct rule *old, const struct rule *keep)
{
	const struct xdpfwd_mapping *k = keep ? &keep->m : NULL;
	int err;

	err = erase_entries(t, maps->fwd, fwd_entry, &old->m, slot, k);
	err = err ?: erase_entries(t, maps->rev, rev_entry, &old->m, slot, k);
	err = err ?: erase_owner(t, maps, slot, old, keep);
	return err ?: erase_allow(t, maps, slot, old, keep);
}

/* Mappings added into slots no mapping held, written map by map in
 * batches: a few syscalls for any number of them, where writing each alone
 * took sixteen. */
struct bulk {
	const struct rule **rules;
	__u32 *slots;
	size_t n, entries; /* mappings, and port entries in each direction */
};

static void bulk_add(struct bulk *b, const struct rule *r, __u32 slot)
{
	b->rules[b->n] = r;
	b->slots[b->n++] = slot;
	b->entries += r->m.port_count;
}

/* The forward or reverse entries of every mapping of B; the keys may hold
 * entries of mappings this change replaces, so their values are looked up. */
static int bulk_entries(struct txn *t, int fd, entry_fn entry, const struct bulk *b)
{
	struct xdpfwd_endpoint *keys = calloc(b->entries + 1, sizeof(*keys));
	struct xdpfwd_nat *vals = calloc(b->entries + 1, sizeof(*vals));
	size_t e = 0;
	int err = keys && vals ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < b->n; i++)
		for (__u16 p = 0; p < b->rules[i]->m.port_count; p++, e++)
			entry(&b->rules[i]->m, b->slots[i], p, &keys[e], &vals[e]);
	err = err ?: txn_map_update_batch(t, fd, keys, vals, NULL, e, TXN_OLDS_LOOKUP);
	free(keys);
	free(vals);
	return err;
}

/* The records keyed by slot: zeroed counters, allowlists, policy records
 * (fresh buckets), mapping records. The slots were free, so none had one
 * worth keeping (what a change killed half way left is dropped on undo). */
/* Zeroed counters for the N SLOTS, 1,024 at a time: a per-CPU record is 48
 * bytes a CPU, so one buffer for 65,536 on 256 CPUs would take 800 MB. */
static int bulk_zero_counters(struct txn *t, const struct xdpfwd_maps *maps, const __u32 *slots,
			      size_t n)
{
	enum { CHUNK = 1024 };
	int ncpu = libbpf_num_possible_cpus();
	size_t per_cpu = (sizeof(struct xdpfwd_counters) + 7) & ~(size_t)7;
	void *zero = ncpu > 0 ? calloc(CHUNK, per_cpu * ncpu) : NULL;
	int err = zero ? 0 : -ENOMEM;

	for (size_t at = 0; !err && at < n; at += CHUNK)
		err = txn_map_update_batch(t, maps->counters, slots + at, zero, NULL,
					   n - at < CHUNK ? n - at : CHUNK, TXN_OLDS_NONE);
	free(zero);
	return err;
}

static int bulk_slot_records(struct txn *t, const struct xdpfwd_maps *maps, const struct bulk *b)
{
	struct xdpfwd_allowlist *lists = calloc(b->n + 1, sizeof(*lists));
	struct xdpfwd_policy *pols = calloc(b->n + 1, sizeof(*pols));
	struct xdpfwd_mapping *ms = calloc(b->n + 1, sizeof(*ms));
	struct xdpfwd_owner *owners = calloc(b->n + 1, sizeof(*owners));
	__u32 *list_slots = calloc(b->n + 1, sizeof(*list_slots)), nlists = 0;
	__u32 *owner_slots = calloc(b->n + 1, sizeof(*owner_slots)), nowners = 0;
	int err = lists && pols && ms && owners && list_slots && owner_slots ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < b->n; i++) {
		const struct rule *r = b->rules[i];

		if (r->owner.kind) {
			owners[nowners] = r->owner;
			owner_slots[nowners++] = b->slots[i];
		}
		ms[i] = r->m;
		pols[i].expires_ns = r->m.expires_ns;
		rate_bucket(&r->m.rate, &pols[i].rate);
		rate_bucket(&r->m.new_rate, &pols[i].new_rate);
		if (!r->m.allow_count)
			continue;
		lists[nlists].count = r->m.allow_count;
		for (__u32 k = 0; k < r->m.allow_count; k++)
			prefix_entry(&r->allow[k], &lists[nlists].entry[k]);
		list_slots[nlists++] = b->slots[i];
	}
	err = err ?: bulk_zero_counters(t, maps, b->slots, b->n);
	err = err
		  ?: txn_map_update_batch(t, maps->allow, list_slots, lists, NULL, nlists,
					  TXN_OLDS_NONE);
	err =
	    err ?: txn_map_update_batch(t, maps->policy, b->slots, pols, NULL, b->n, TXN_OLDS_NONE);
	err =
	    err ?: txn_map_update_batch(t, maps->mappings, b->slots, ms, NULL, b->n, TXN_OLDS_NONE);
	if (!err && nowners && maps->owner < 0)
		err = owner_map_missing();
	/* After the mapping records: see write_owner(). */
	err = err
		  ?: nowners ? txn_map_update_batch(t, maps->owner, owner_slots, owners, NULL,
						    nowners, TXN_OLDS_NONE)
			     : 0;
	free(lists);
	free(pols);
	free(ms);
	free(owners);
	free(list_slots);
	free(owner_slots);
	return err;
}

/* In write_mapping()'s order: what the data path reads through a forward
 * entry is there before the forward entry is. */
static int bulk_write(struct txn *t, const struct xdpfwd_maps *maps, const struct bulk *b)
{
	int err = b->n ? bulk_slot_records(t, maps, b) : 0;

	err = err ?: b->n ? bulk_entries(t, maps->rev, rev_entry, b) : 0;
	return err ?: b->n ? bulk_entries(t, maps->fwd, fwd_entry, b) : 0;
}
/* A rule's place in compare_mappings()'s order as bytes, and where it is:
 * sorting these touches 24 bytes a rule instead of the rules themselves. */
struct sort_key {
	__u8 key[20]; /* family, protocol, public address, public port (big endian) */
	__u32 at;
};

static int compare_sort_keys(const void *pa, const void *pb)
{
	const struct sort_key *a = pa, *b = pb;
	int c = memcmp(a->key, b->key, sizeof(a->key));

	return c ? c : (a->at > b->at) - (a->at < b->at); /* stable */
}

int rules_sort(struct rule *rules, size_t n)
{
	struct sort_key *order;
	struct rule *tmp;
	size_t i = 1;

	while (i < n && compare_rules_public(&rules[i - 1], &rules[i]) <= 0)
		i++;
	if (i >= n)
		return 0; /* a file written by xdpfwd, or sorted before */
	order = calloc(n, sizeof(*order));
	tmp = malloc(sizeof(*tmp));
	if (!order || !tmp) {
		free(order);
		free(tmp);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct xdpfwd_mapping *m = &rules[i].m;

		order[i].key[0] = m->family;
		order[i].key[1] = m->proto;
		memcpy(&order[i].key[2], &m->public_addr, 16);
		order[i].key[18] = m->public_port >> 8;
		order[i].key[19] = m->public_port & 0xff;
		order[i].at = i;
	}
	qsort(order, n, sizeof(*order), compare_sort_keys);
	/* Each rule moved once along its cycle of the permutation, in place:
	 * a sorted copy would be as big as the table (29 MB at 65,536), and
	 * fresh memory is the dearest part of a load on a virtual machine. */
	for (i = 0; i < n; i++) {
		size_t j = i;

		if (order[i].at == i)
			continue;
		*tmp = rules[i];
		while (order[j].at != i) {
			size_t k = order[j].at;

			rules[j] = rules[k];
			order[j].at = j;
			j = k;
		}
		rules[j] = *tmp;
		order[j].at = j;
	}
	free(order);
	free(tmp);
	return 0;
}

/* HAVE and WANT (sorted here) side by side: each of WANT that is new or
 * differs from the live mapping with its public side, then each live one
 * WANT lacks, into CHANGES (room for COUNT + NHAVE). The number of them. */
static size_t table_diff(const struct rule *have, size_t nhave, struct rule *want, size_t count,
			 struct table_change *changes, size_t *kept)
{
	bool *matched = calloc(nhave + 1, sizeof(*matched));
	size_t h = 0, k = 0;

	if (!matched || rules_sort(want, count)) {
		free(matched);
		return SIZE_MAX;
	}
	*kept = 0;
	for (size_t w = 0; w < count; w++) {
		while (h < nhave && compare_mappings(&have[h].m, &want[w].m) < 0)
			h++;
		if (h < nhave && same_public(&have[h].m, &want[w].m)) {
			matched[h] = true;
			if (same_rule(&have[h], &want[w]))
				++*kept;
			else
				changes[k++] = (struct table_change){&have[h], &want[w]};
		} else {
			changes[k++] = (struct table_change){NULL, &want[w]};
		}
	}
	for (size_t i = 0; i < nhave; i++)
		if (!matched[i])
			changes[k++] = (struct table_change){&have[i], NULL};
	free(matched);
	return k;
}

/* Writes the K CHANGES of a diff: changed mappings in place, new ones in
 * bulk into the slots HAVE leaves free, then removals. */
static int diff_write(const struct xdpfwd_maps *maps, const struct rule *have, size_t nhave,
		      const struct table_change *changes, size_t k, struct apply_summary *sum,
		      struct txn *t)
{
	struct bulk b = {.rules = calloc(k + 1, sizeof(*b.rules)),
			 .slots = calloc(k + 1, sizeof(*b.slots))};
	__u32 next_free = 0, cap = table_capacity(maps);
	__u8 *slot_used = calloc(cap + 1, 1);
	int err = b.rules && b.slots && slot_used ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < nhave; i++)
		if (have[i].slot < cap)
			slot_used[have[i].slot] = 1;
	for (size_t i = 0; !err && i < k; i++) {
		const struct table_change *c = &changes[i];

		if (c->old && c->new) {
			err = write_mapping(t, maps, c->old->slot, c->old, c->new);
			err = err ?: erase_mapping(t, maps, c->old->slot, c->old, c->new);
			sum->changed += !err;
		} else if (c->new) {
			while (next_free < cap && slot_used[next_free])
				next_free++;
			if (next_free >= cap)
				err = -ENOSPC;
			else
				bulk_add(&b, c->new, next_free++);
		}
	}
	err = err ?: bulk_write(t, maps, &b);
	if (!err)
		sum->added += b.n;
	for (size_t i = 0; !err && i < k; i++) {
		const struct rule *old = changes[i].old;

		if (changes[i].new || !old)
			continue;
		err = erase_mapping(t, maps, old->slot, old, NULL);
		if (!err) {
			err = txn_map_delete(t, maps->mappings, &old->slot);
			err = err == -ENOENT ? 0 : err;
		}
		sum->removed += !err;
	}
	free(b.rules);
	free(b.slots);
	free(slot_used);
	return err;
}

int table_apply(const struct xdpfwd_maps *maps, const struct rule *have, size_t nhave,
		struct rule *want, size_t count, struct apply_summary *summary, struct txn *t,
		struct table_change **changes, size_t *k)
{
	struct table_change *list = calloc(count + nhave + 1, sizeof(*list));
	size_t n = SIZE_MAX;
	int err;

	memset(summary, 0, sizeof(*summary));
	if (list)
		n = table_diff(have, nhave, want, count, list, &summary->kept);
	if (n == SIZE_MAX) {
		free(list);
		return -ENOMEM;
	}
	err = diff_write(maps, have, nhave, list, n, summary, t);
	if (err)
		pr_debug("applying the table stopped: %s\n", strerror(-err));
	if (changes && !err) {
		*changes = list;
		*k = n;
	} else {
		free(list);
	}
	return err;
}

int table_find(const struct xdpfwd_maps *maps, bool by_target, const struct xdpfwd_mapping *m,
	       __u16 i, struct rule *out)
{
	struct xdpfwd_endpoint key;
	struct xdpfwd_nat val;

	(by_target ? rev_entry : fwd_entry)(m, 0, i, &key, &val);
	if (bpf_map_lookup_elem(by_target ? maps->rev : maps->fwd, &key, &val))
		return errno == ENOENT ? 0 : -errno;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(maps->mappings, &val.slot, &out->m))
		return errno == ENOENT ? 0 : -errno; /* left by a change killed half way */
	if (maps->owner >= 0 && bpf_map_lookup_elem(maps->owner, &val.slot, &out->owner) &&
	    errno != ENOENT)
		return -errno;
	out->slot = val.slot;
	out->existing = true;
	allow_read(maps, out);
	return 1;
}

/* Whether SLOT holds no mapping: 1 free, 0 taken, or -errno. */
static int slot_free(const struct xdpfwd_maps *maps, __u32 slot)
{
	struct xdpfwd_mapping m;

	if (!bpf_map_lookup_elem(maps->mappings, &slot, &m))
		return 0;
	return errno == ENOENT ? 1 : -errno;
}

/*
 * A free slot in a few lookups, without reading the table. HINT is about the
 * number of mappings (the state file's count): while no slot below it was
 * freed, slot HINT is free (slots go lowest first). Otherwise at most half of
 * the slots below 2 x HINT + 64 are taken, so a random one is free with
 * odds of at least one half: 64 tries miss with odds below 2^-64 unless the
 * hint is far off, and then a scan finds one. Slots stay below about twice
 * the largest table, which keeps view_read()'s counter read short.
 */
int slot_alloc(const struct xdpfwd_maps *maps, size_t hint, __u32 *slot)
{
	size_t span = 2 * hint + 64, cap = table_capacity(maps);
	int ret;

	if (span > cap)
		span = cap;
	for (__u32 s = hint; s < hint + 4 && s < cap; s++)
		if ((ret = slot_free(maps, s)) != 0) {
			*slot = s;
			return ret < 0 ? ret : 0;
		}
	for (int i = 0; span && i < 64; i++) {
		__u32 s = arc4random_uniform(span); /* getrandom()-seeded (glibc 2.36) */

		if ((ret = slot_free(maps, s)) != 0) {
			*slot = s;
			return ret < 0 ? ret : 0;
		}
	}
	for (__u32 s = 0; s < cap; s++)
		if ((ret = slot_free(maps, s)) != 0) {
			*slot = s;
			return ret < 0 ? ret : 0;
		}
	return -ENOSPC;
}

/* Whether NEW differs from OLD in its lease's end alone. */
static bool lease_only(const struct rule *old, const struct rule *new)
{
	struct rule same = *new;

	same.m.expires_ns = old->m.expires_ns;
	same.existing = old->existing;
	same.slot = old->slot;
	same.line = old->line;
	return same_rule(old, &same);
}

/* Writes C (added, changed or renewed; not removed), counted in SUM. */
static int put_change(const struct xdpfwd_maps *maps, const struct table_change *c, size_t hint,
		      struct apply_summary *sum, struct txn *t)
{
	const struct rule *old = c->old, *r = c->new;
	__u32 slot;
	int err;

	if (old && same_rule(old, r)) {
		sum->kept++;
		return 0;
	}
	if (old && lease_only(old, r))
		return 0; /* put_leases() */
	if (old) {
		err = write_mapping(t, maps, old->slot, old, r);
		err = err ?: erase_mapping(t, maps, old->slot, old, r);
		sum->changed += !err;
		return err;
	}
	err = slot_alloc(maps, hint + sum->added, &slot);
	err = err ?: zero_counters(t, maps, slot);
	err = err ?: write_mapping(t, maps, slot, NULL, r);
	sum->added += !err;
	return err;
}

/* The changes of CHANGES that renew a lease and nothing else, as two
 * batched writes: the policy records (the data path's lease; each bucket
 * keeps its state), then the mapping records (the control plane's copy).
 * Forward and reverse entries stay untouched. */
static int put_leases(const struct xdpfwd_maps *maps, const struct table_change *changes, size_t k,
		      struct apply_summary *sum, struct txn *t)
{
	__u32 *keys = calloc(k + 1, sizeof(*keys)), n = 0;
	struct xdpfwd_policy *pols = calloc(k + 1, sizeof(*pols));
	struct xdpfwd_policy *curs = calloc(k + 1, sizeof(*curs));
	struct xdpfwd_mapping *ms = calloc(k + 1, sizeof(*ms));
	struct xdpfwd_mapping *olds = calloc(k + 1, sizeof(*olds));
	int err = keys && pols && curs && ms && olds ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < k; i++) {
		const struct table_change *c = &changes[i];

		if (!c->old || !c->new || same_rule(c->old, c->new) || !lease_only(c->old, c->new))
			continue;
		keys[n] = c->old->slot;
		if (bpf_map_lookup_elem(maps->policy, &keys[n], &curs[n]))
			err = -errno;
		pols[n] = curs[n];
		pols[n].expires_ns = c->new->m.expires_ns;
		ms[n] = c->new->m;
		olds[n++] = c->old->m;
	}
	err = err ?: txn_map_update_batch(t, maps->policy, keys, pols, curs, n, TXN_OLDS_GIVEN);
	err = err ?: txn_map_update_batch(t, maps->mappings, keys, ms, olds, n, TXN_OLDS_GIVEN);
	if (!err)
		sum->renewed += n;
	free(keys);
	free(pols);
	free(curs);
	free(ms);
	free(olds);
	return err;
}

int table_apply_changes(const struct xdpfwd_maps *maps, const struct table_change *changes,
			size_t k, size_t hint, struct apply_summary *sum, struct txn *t)
{
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	/* As table_apply(): what is new or changed first, then what goes. */
	for (size_t i = 0; i < k && !err; i++)
		if (changes[i].new)
			err = put_change(maps, &changes[i], hint, sum, t);
	err = err ?: put_leases(maps, changes, k, sum, t);
	for (size_t i = 0; i < k && !err; i++) {
		const struct rule *old = changes[i].old;

		if (changes[i].new || !old)
			continue;
		err = erase_mapping(t, maps, old->slot, old, NULL);
		if (!err) {
			err = txn_map_delete(t, maps->mappings, &old->slot);
			err = err == -ENOENT ? 0 : err;
		}
		sum->removed += !err;
	}
	if (err)
		pr_debug("applying the changes stopped: %s\n", strerror(-err));
	return err;
}

int counters_read(const struct xdpfwd_maps *maps, __u32 slot, struct xdpfwd_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xdpfwd_counters *percpu;
	int err;

	if (ncpu < 0)
		return ncpu;
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	err = bpf_map_lookup_elem(maps->counters, &slot, percpu) ? -errno : 0;
	sum_cpus(sum, percpu, err ? 0 : ncpu);
	free(percpu);
	return err;
}

int stats_read(const struct xdpfwd_maps *maps, __u64 stats[XDPFWD_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *percpu;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (__u32 s = 0; s < XDPFWD_STAT_MAX && !err; s++) {
		stats[s] = 0;
		err = bpf_map_lookup_elem(maps->stats, &s, percpu);
		if (err && errno == ENOENT) {
			/* programs of an older build, with fewer counters,
			 * still run until attach --replace */
			err = 0;
			continue;
		}
		for (int c = 0; !err && c < ncpu; c++)
			stats[s] += percpu[c];
	}
	free(percpu);
	return err;
}

/*
 * Builds before the wildcard was keyed by the address it answers from wrote
 * its forward entries under the all-zero address, which this data path never
 * looks up. Called by attach over pinned maps: with ERASE false it writes
 * each wildcard's entries under its source address (the old programs, which
 * look the exact address up first, find the same value there), with ERASE
 * true, once the new programs run, it removes the all-zero ones. An entry an
 * exact mapping holds on that address and port stays the exact mapping's (it
 * won there before too). Returns 0 or a negative errno.
 */
int table_rekey_wildcards(const struct xdpfwd_maps *maps, bool erase)
{
	struct slot_mapping *list = NULL;
	size_t n = 0;
	int err = table_read(maps, &list, &n);

	for (size_t k = 0; !err && k < n; k++) {
		struct xdpfwd_mapping *m = &list[k].m;
		struct xdpfwd_endpoint key, zero_key;
		struct xdpfwd_nat val, cur;
		bool taken = false;

		if (!addr_is_zero(&m->public_addr))
			continue;
		for (__u16 i = 0; !err && i < m->port_count; i++) {
			fwd_entry(m, list[k].slot, i, &key, &val);
			zero_key = key;
			memset(&zero_key.addr, 0, sizeof(zero_key.addr));
			if (bpf_map_lookup_elem(maps->fwd, &zero_key, &cur) ||
			    memcmp(&cur, &val, sizeof(val)))
				continue; /* not an old entry of this mapping */
			if (erase) {
				if (bpf_map_delete_elem(maps->fwd, &zero_key) && errno != ENOENT)
					err = -errno;
			} else if (bpf_map_lookup_elem(maps->fwd, &key, &cur) == 0) {
				taken |= memcmp(&cur, &val, sizeof(val)) != 0;
			} else if (bpf_map_update_elem(maps->fwd, &key, &val, BPF_NOEXIST)) {
				err = -errno;
			}
		}
		if (taken) {
			char line[2 * ADDR_STR_LEN + 16], on[INET6_ADDRSTRLEN];

			format_mapping(line, sizeof(line), m);
			format_addr(on, sizeof(on), m->family, &m->source_addr);
			pr_warn(
			    "wildcard %s meets a mapping on %s and the same port: that one keeps "
			    "it; delete one of them\n",
			    line, on);
		}
	}
	free(list);
	return err;
}
