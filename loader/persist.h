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
#include "journal.h"

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

/* Where the state file's pair stands (state_position()): what a cache
 * kept beside it (loadindex.h) checks that it still follows. */
struct state_pos {
	struct journal_head snap; /* the snapshot's size, end line's CRC, inode, mtime */
	__u64 jlen;		  /* the journal's bytes */
	__u64 count;		  /* live mappings after its last record */
	__u32 tail_crc;		  /* CRC-32 of its last (up to 64) bytes */
	__u32 pad;
};
/* The pair at PATH now, read from the ends of its files (O(1)): 0 with POS
 * (zero-filled first, padding too) when the journal follows the snapshot
 * as it was checked whole and ends in a whole record; -1 when not, or
 * there is no such pair. */
int state_position(const char *path, struct state_pos *pos);
struct journal;
/* The records appended to PATH's journal since FROM: 0 with J (journal.h;
 * journal_free() it) holding their lines, when the pair is FROM's
 * snapshot and its journal FROM's grown by whole records; 1 when it is
 * not; -1 with err when they cannot be read. */
int state_journal_since(const char *path, const struct state_pos *from, struct journal *j,
			char *err);

/*
 * PATH.changing: a change of the maps is under way, or was killed half
 * way. It exists from before a change's first map write until its record
 * is durable (or the change was undone), so that a killed one leaves it:
 * the maps may then hold what neither the state file nor a cache beside it
 * (loadindex.h) knows, until a load that reads the maps whole removes it
 * (state_changing_end()). No sync: a crash of the machine loses the maps
 * too, and serve's start rebuilds them from the file.
 */
/* 1 when this created it, 0 when it was there (or it cannot be made:
 * then the cache PATH STATE_INDEX_SUFFIX is removed instead). */
int state_changing_begin(const char *path);
/* The cache of the last load beside the state file (loadindex.h). */
#define STATE_INDEX_SUFFIX ".index"
void state_changing_end(const char *path);
bool state_changing(const char *path);
/* The marker's own path, PATH.changing, in BUF of LEN bytes. */
void state_changing_path(char *buf, size_t len, const char *path);

#endif
