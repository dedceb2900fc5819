/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * table.h - the live mapping table in the maps.
 *
 * Every change (add, del, load) is one call to table_apply() with the whole
 * table as it should be. It writes the difference only, in an order that
 * never leaves a gap: new and changed mappings are written first (their
 * forward entries last, so a port opens only once its way back exists), then
 * what is gone is removed, and an entry is removed only while it still holds
 * the value the old mapping wrote. A mapping that stays is never touched.
 */
#ifndef XDPFWD_TABLE_H
#define XDPFWD_TABLE_H

#include <stddef.h>
#include "spec.h"

struct xdpfwd_maps {
	int fwd;
	int rev;
	int mappings;
	int counters;
	int stats;
	int config;
};

struct slot_mapping {
	__u32 slot;
	struct xdpfwd_mapping m;
};

struct apply_summary {
	size_t added;
	size_t changed;
	size_t removed;
	size_t kept;
};

/* The live mappings, sorted by family, protocol, address and port. */
int table_read(const struct xdpfwd_maps *maps, struct slot_mapping **out, size_t *count);
int table_apply(const struct xdpfwd_maps *maps, const struct rule *want, size_t count,
		struct apply_summary *summary);
/* Counters of each mapping of LIST, summed over CPUs, into SUMS[i]. */
int counters_read_many(const struct xdpfwd_maps *maps, const struct slot_mapping *list, size_t n,
		       struct xdpfwd_counters *sums);
/* Counters of one slot summed over CPUs. */
int counters_read(const struct xdpfwd_maps *maps, __u32 slot, struct xdpfwd_counters *sum);
int stats_read(const struct xdpfwd_maps *maps, __u64 stats[XDPFWD_STAT_MAX]);

#endif
