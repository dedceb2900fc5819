// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "table.h"

static int compare_slot_mappings(const void *pa, const void *pb)
{
	const struct xdpfwd_mapping *a = &((const struct slot_mapping *)pa)->m;
	const struct xdpfwd_mapping *b = &((const struct slot_mapping *)pb)->m;
	int c;

	if (a->family != b->family)
		return a->family - b->family;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	c = memcmp(&a->public_addr, &b->public_addr, sizeof(a->public_addr));
	return c ? c : a->public_port - b->public_port;
}

int table_read(const struct xdpfwd_maps *maps, struct slot_mapping **out, size_t *count)
{
	struct slot_mapping *list = NULL;
	size_t n = 0, cap = 0;
	__u32 key, next, *prev = NULL;
	int err;

	while ((err = bpf_map_get_next_key(maps->mappings, prev, &next)) == 0) {
		if (n == cap) {
			struct slot_mapping *grown;

			cap = cap ? cap * 2 : 256;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				free(list);
				return -ENOMEM;
			}
			list = grown;
		}
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(maps->mappings, &key, &list[n].m))
			continue; /* removed between the two calls */
		list[n++].slot = key;
	}
	if (err != -ENOENT) {
		free(list);
		return err;
	}
	if (n)
		qsort(list, n, sizeof(*list), compare_slot_mappings);
	*out = list;
	*count = n;
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
	key->addr = m->public_addr;
	val->addr = m->target_addr;
	val->port = htons(m->target_port + i);
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

static int write_entries(int fd, entry_fn entry, const struct xdpfwd_mapping *m, __u32 slot)
{
	struct xdpfwd_endpoint key;
	struct xdpfwd_nat val;

	for (__u16 i = 0; i < m->port_count; i++) {
		int err;

		entry(m, slot, i, &key, &val);
		err = bpf_map_update_elem(fd, &key, &val, BPF_ANY);
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
	const union xdpfwd_addr *addr = fwd ? &m->public_addr : &m->target_addr;
	unsigned int first = fwd ? m->public_port : m->target_port;
	unsigned int port = ntohs(key->port);

	return key->family == m->family && key->proto == m->proto &&
	       !memcmp(&key->addr, addr, sizeof(*addr)) && port >= first &&
	       port < first + m->port_count;
}

/* Removes the entries OLD wrote that still hold its values, except those that
 * KEEP (the same mapping's new version, or NULL) writes too. */
static int erase_entries(int fd, entry_fn entry, const struct xdpfwd_mapping *old, __u32 slot,
			 const struct xdpfwd_mapping *keep)
{
	struct xdpfwd_endpoint key;
	struct xdpfwd_nat val, cur;

	for (__u16 i = 0; i < old->port_count; i++) {
		entry(old, slot, i, &key, &val);
		if (keep && writes_key(entry, keep, &key))
			continue;
		if (bpf_map_lookup_elem(fd, &key, &cur) || memcmp(&cur, &val, sizeof(val)))
			continue;
		if (bpf_map_delete_elem(fd, &key) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

static int zero_counters(const struct xdpfwd_maps *maps, __u32 slot)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xdpfwd_counters *zero;
	int err;

	if (ncpu < 0)
		return ncpu;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	err = bpf_map_update_elem(maps->counters, &slot, zero, BPF_ANY);
	free(zero);
	return err;
}

static int write_mapping(const struct xdpfwd_maps *maps, __u32 slot, const struct xdpfwd_mapping *m)
{
	int err;

	err = bpf_map_update_elem(maps->mappings, &slot, m, BPF_ANY);
	err = err ?: write_entries(maps->rev, rev_entry, m, slot);
	return err ?: write_entries(maps->fwd, fwd_entry, m, slot);
}

static int erase_mapping(const struct xdpfwd_maps *maps, __u32 slot,
			 const struct xdpfwd_mapping *old, const struct xdpfwd_mapping *keep)
{
	int err;

	err = erase_entries(maps->fwd, fwd_entry, old, slot, keep);
	return err ?: erase_entries(maps->rev, rev_entry, old, slot, keep);
}

static int compare_rules_public(const void *pa, const void *pb)
{
	struct slot_mapping a = {.m = ((const struct rule *)pa)->m};
	struct slot_mapping b = {.m = ((const struct rule *)pb)->m};

	return compare_slot_mappings(&a, &b);
}

int table_apply(const struct xdpfwd_maps *maps, const struct rule *want, size_t count,
		struct apply_summary *summary)
{
	struct slot_mapping *have = NULL;
	struct rule *sorted = NULL;
	bool *have_matched = NULL;
	__u8 *slot_used = NULL;
	size_t nhave = 0, h = 0;
	__u32 next_free = 0;
	int err;

	memset(summary, 0, sizeof(*summary));
	err = table_read(maps, &have, &nhave);
	if (err)
		return err;
	sorted = malloc((count ? count : 1) * sizeof(*sorted));
	have_matched = calloc(nhave ? nhave : 1, sizeof(*have_matched));
	slot_used = calloc(XDPFWD_MAX_MAPPINGS, 1);
	if (!sorted || !have_matched || !slot_used) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(sorted, want, count * sizeof(*want));
	qsort(sorted, count, sizeof(*sorted), compare_rules_public);
	for (size_t i = 0; i < nhave; i++)
		slot_used[have[i].slot] = 1;

	/* Both lists are sorted by the same key: walk them side by side. */
	for (size_t w = 0; w < count; w++) {
		const struct xdpfwd_mapping *m = &sorted[w].m;
		struct slot_mapping probe = {.m = *m};

		while (h < nhave && compare_slot_mappings(&have[h], &probe) < 0)
			h++;
		if (h < nhave && same_public(&have[h].m, m)) {
			have_matched[h] = true;
			if (same_mapping(&have[h].m, m)) {
				summary->kept++;
				continue;
			}
			err = write_mapping(maps, have[h].slot, m);
			err = err ?: erase_mapping(maps, have[h].slot, &have[h].m, m);
			if (err)
				goto out;
			summary->changed++;
			continue;
		}
		while (next_free < XDPFWD_MAX_MAPPINGS && slot_used[next_free])
			next_free++;
		if (next_free == XDPFWD_MAX_MAPPINGS) {
			err = -ENOSPC;
			goto out;
		}
		slot_used[next_free] = 1;
		err = zero_counters(maps, next_free);
		err = err ?: write_mapping(maps, next_free, m);
		if (err)
			goto out;
		summary->added++;
	}
	for (size_t i = 0; i < nhave; i++) {
		if (have_matched[i])
			continue;
		err = erase_mapping(maps, have[i].slot, &have[i].m, NULL);
		if (!err && bpf_map_delete_elem(maps->mappings, &have[i].slot) && errno != ENOENT)
			err = -errno;
		if (err)
			goto out;
		summary->removed++;
	}
out:
	if (err)
		pr_debug("applying the table stopped: %s\n", strerror(-err));
	free(have);
	free(sorted);
	free(have_matched);
	free(slot_used);
	return err;
}

int counters_read_many(const struct xdpfwd_maps *maps, const struct slot_mapping *list, size_t n,
		       struct xdpfwd_counters *sums)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xdpfwd_counters *percpu;

	if (ncpu < 0)
		return ncpu;
	/* One per-CPU buffer for the whole table: no allocation per mapping. */
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct xdpfwd_counters *sum = &sums[i];

		memset(sum, 0, sizeof(*sum));
		if (bpf_map_lookup_elem(maps->counters, &list[i].slot, percpu))
			continue; /* a slot freed since the table was read counts as zero */
		for (int c = 0; c < ncpu; c++) {
			sum->rx_packets += percpu[c].rx_packets;
			sum->rx_bytes += percpu[c].rx_bytes;
			sum->tx_packets += percpu[c].tx_packets;
			sum->tx_bytes += percpu[c].tx_bytes;
		}
	}
	free(percpu);
	return 0;
}

int counters_read(const struct xdpfwd_maps *maps, __u32 slot, struct xdpfwd_counters *sum)
{
	struct slot_mapping one = {.slot = slot};

	return counters_read_many(maps, &one, 1, sum);
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
		for (int c = 0; !err && c < ncpu; c++)
			stats[s] += percpu[c];
	}
	free(percpu);
	return err;
}
