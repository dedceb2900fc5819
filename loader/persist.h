/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * persist.h - keeping the state file (state.h) in step with the maps. Every
 * command that changes them checks first that the file is one it can read,
 * and rewrites it after; all under the pin directory's lock.
 *
 * The file's pending mappings (those serve could not write yet) are never
 * lost by a rewrite from the maps, which lack them: a writer either names
 * what waits now or carries the file's pending mappings over, less those a
 * live mapping now holds the public side of.
 */
#ifndef XDPFWD_PERSIST_H
#define XDPFWD_PERSIST_H

#include "pindir.h"
#include "state.h"

/* What waits, for a write (PENDING_CARRY: the file's, carried over). */
struct pending_set {
	const struct rule *rules;
	size_t count;
};
#define PENDING_CARRY ((const struct pending_set *)NULL)

/* 0 when PATH is absent or readable; else -1, with the reason in err. While
 * the journal follows the snapshot that was checked whole when it began,
 * only its last record is read (O(1)); otherwise the whole pair is. */
int state_check(const char *path, char *err);
/* The pending mappings of PATH (malloc'd, *COUNT of them; NULL and 0 when the
 * file has none), or -1 with err. Reads only the first line of a file
 * without any. */
int state_pending(const char *path, struct rule **rules, size_t *count, char *err);
/* Writes RULES, the table just applied, PENDING and CONFIG's attachment to
 * PATH, once the pair there has been read whole: a damaged one (which the
 * quick check of state_check() may not see) is refused (-1, err naming it)
 * and left in place. Every whole rewrite (state_sync(), a compaction) does
 * the same. */
int state_write(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		size_t count, const struct pending_set *pending, char *err);
/* Writes what the maps hold (and CONFIG's attachment) to PATH, carrying the
 * file's pending mappings over. */
int state_sync(const char *path, const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	       char *err);

/* About the number of live mappings the state file at PATH records, read
 * from its end (O(1)); 0 without a file. A hint for slot_alloc(). */
size_t state_count_hint(const char *path);
struct txn;
struct table_change;
/* Records the K CHANGES just written to MAPS in PATH, each file it changes
 * taken into T first (txn.h): one journal record, fdatasync'd, or (PENDING
 * not PENDING_CARRY, a small table, a journal as big as its snapshot, a
 * journal that does not follow its snapshot) a new snapshot with PENDING
 * and an empty journal. A journal whose last record a crash tore is read
 * whole first and truncated, durably, to its whole records before the
 * append; damage anywhere else refuses the change (-1, err). */
int state_record(struct txn *t, const char *path, const struct xdpfwd_maps *maps,
		 const struct xdpfwd_config *config, const struct table_change *changes, size_t k,
		 const struct pending_set *pending, char *err);

#endif
