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

/* A file descriptor for each map of XDPFWD_USER_MAPS, -1 when closed. */
#define XDPFWD_MAP_FD(field, name) int field;
struct xdpfwd_maps {
	XDPFWD_USER_MAPS(XDPFWD_MAP_FD)
};
#undef XDPFWD_MAP_FD

struct slot_mapping {
	__u32 slot;
	struct xdpfwd_mapping m;
	struct xdpfwd_owner owner; /* from xdpfwd_owner; kind 0: the operator's */
};

struct apply_summary {
	size_t added;
	size_t changed;
	size_t removed;
	size_t kept;
	size_t renewed; /* the lease's end alone changed (table_apply_changes()) */
};

/* One change of a batch: OLD (an existing rule, table_find()) becomes NEW;
 * OLD NULL adds NEW, NEW NULL removes OLD. */
struct table_change {
	const struct rule *old;
	const struct rule *new;
};

/*
 * The whole table with its counters, read with the batch map API in one pass:
 * a few syscalls per 4,096 entries instead of two per entry. The buffers stay
 * with the view from one read to the next, so a daemon that scrapes often
 * allocates only when the table grows. Zero-initialise; view_free() at the end.
 */
struct table_view {
	struct slot_mapping *list; /* sorted like table_read() */
	size_t count;
	struct xdpfwd_counters *by_slot; /* summed over CPUs; slots of list only */
	__u64 stats[XDPFWD_STAT_MAX];	 /* summed over CPUs */
	/* private */
	size_t list_cap, slots_cap;
	__u32 *batch_keys;
	void *batch_values;
	int ncpu;
	struct slot_owner *owners; /* xdpfwd_owner's entries, sorted by slot */
	size_t nowners, owners_cap;
};

int view_read(struct table_view *v, const struct xdpfwd_maps *maps);
void view_free(struct table_view *v);

/* The live mappings, sorted by family, protocol, address and port. */
int table_read(const struct xdpfwd_maps *maps, struct slot_mapping **out, size_t *count);
/* The live mappings as rules (existing, with slot and allowlist), sorted like
 * table_read(), with room for EXTRA more at the end. */
int table_live(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count, size_t extra);
/* Sorts RULES by public side (compare_rules_public()), moving each once;
 * 0 or -ENOMEM. */
int rules_sort(struct rule *rules, size_t n);
/* Moves wildcard forward entries written under the all-zero address by
 * older builds to the address each answers from (see table.c). */
int table_rekey_wildcards(const struct xdpfwd_maps *maps, bool erase);
struct txn;
/* Makes the table WANT (sorted here, by public side) out of HAVE, which
 * table_live() read under the lock: changed mappings in place, new ones in
 * batches (a few syscalls for any number), then removals. With T, every
 * entry written keeps its old value there (txn.h), so a caller can put the
 * table back when this or a later step fails. With CHANGES, *CHANGES gets
 * the list of what changed (pointers into HAVE and WANT; the caller frees
 * the list) and *K its length, for the state file's journal. */
int table_apply(const struct xdpfwd_maps *maps, const struct rule *have, size_t nhave,
		struct rule *want, size_t count, struct apply_summary *summary, struct txn *t,
		struct table_change **changes, size_t *k);
/* The mapping whose forward entry (BY_TARGET false; keyed by the address it
 * answers from) or reverse entry is the one M writes for its port I: the maps
 * are the indexes of public and target ports. 1 with OUT filled as
 * table_live() fills it, 0 when there is none, or -errno. A few lookups,
 * whatever the table's size. */
int table_find(const struct xdpfwd_maps *maps, bool by_target, const struct xdpfwd_mapping *m,
	       __u16 i, struct rule *out);
/* A slot no mapping holds, HINT being about the number of mappings; 0 or
 * -ENOSPC or -errno. Expected two lookups or fewer (see table.c). */
int slot_alloc(const struct xdpfwd_maps *maps, size_t hint, __u32 *slot);
/* Makes the K CHANGES, in the order table_apply() uses; a change whose NEW
 * differs from OLD only in the lease's end writes the policy record and the
 * mapping record, never the forward or reverse entries. Costs O(K): no
 * read of the table. HINT as for slot_alloc(). */
int table_apply_changes(const struct xdpfwd_maps *maps, const struct table_change *changes,
			size_t k, size_t hint, struct apply_summary *sum, struct txn *t);
/* Now on the clock of expires_ns: CLOCK_BOOTTIME, which bpf_ktime_get_boot_ns()
 * reads too and which keeps counting through suspend. */
__u64 boot_clock_ns(void);
/* Counters of one slot summed over CPUs. */
int counters_read(const struct xdpfwd_maps *maps, __u32 slot, struct xdpfwd_counters *sum);
int stats_read(const struct xdpfwd_maps *maps, __u64 stats[XDPFWD_STAT_MAX]);

#endif
