/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * leases.h - serve's index of the ends of leases, so that ending them costs
 * what ends, not the table.
 *
 * A min-heap of (end, slot) pairs, read from the mapping records with one
 * batch lookup at the start, and again only when another process rewrote
 * the state file (state.h): while it only appended to the journal
 * (journal.h), the new records alone are read, and each leased mapping they
 * name is looked up in the maps (a few lookups each). The heap is a list of
 * hints, never trusted: a pair is checked against the mapping record its
 * slot holds when its time comes (a mapping deleted, renewed or replaced
 * since is skipped or queued again at its new end), so a stale pair costs a
 * lookup and loses nothing.
 *
 * The leases that have ended go in ONE batch through apply_batch()
 * (change.h): one journal record and one fdatasync, maps and file all or
 * nothing. Every call that reads or changes the maps or the file is made
 * under the pin directory's lock (pindir_lock()), except lease_index_stale().
 */
#ifndef XDPFWD_LEASES_H
#define XDPFWD_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "table.h"

/* A lease's end (CLOCK_BOOTTIME ns, as xdpfwd_mapping.expires_ns) and the
 * slot of the mapping that had it when the pair was queued. */
struct lease {
	__u64 at;
	__u32 slot;
	__u32 pad;
};

/* A file as stat() saw it: a rewrite (rename) changes the inode, an append
 * the size and the mtime. */
struct file_seen {
	bool exists;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The state file and its journal as stat() last saw them: whether another
 * process changed the table since, for two stat() calls and no lock. */
struct state_watch {
	struct file_seen snap, journal;
	bool taken; /* false until state_watch_take(): changed until then */
};
/* Records STATE as it is now. */
void state_watch_take(struct state_watch *w, const char *state);
/* Whether STATE changed since state_watch_take() (true before the first). */
bool state_watch_changed(const struct state_watch *w, const char *state);
/* Whether STATE's snapshot (not its journal) is the one of state_watch_take()
 * (false before the first): a journal appended to since changes nothing a
 * snapshot alone holds, like the pending lines (journal records only
 * replace them, loader/journal.c journal_replay()). */
bool state_watch_snapshot_same(const struct state_watch *w, const char *state);

/* Zero-initialise; lease_index_free() at the end. */
struct lease_index {
	struct lease *heap; /* heap[0] ends first */
	size_t n, cap;
	struct file_seen snap, journal; /* the state file as the index follows it */
	off_t journal_read;		/* bytes of the journal read into the index */
	size_t rebuilds, followed;	/* whole reads, journal tails read (for tests) */
};

/* Queues the pair (AT, SLOT). 0 or -ENOMEM. */
int lease_push(struct lease_index *ix, __u64 at, __u32 slot);
/* The earliest end queued, 0 when none is. */
__u64 lease_next(const struct lease_index *ix);
/* Takes the pair that ends first out into OUT; false when none is queued. */
bool lease_pop(struct lease_index *ix, struct lease *out);
void lease_index_free(struct lease_index *ix);

/* Whether the state file at STATE (and its journal) changed since the index
 * last followed it: two stat() calls, no lock needed. */
bool lease_index_stale(const struct lease_index *ix, const char *state);
/* Makes the index follow the maps after the state file STATE changed: the
 * new journal records alone when the file was only appended to, else one
 * batch read of every mapping record (also the first time). Under the lock.
 * 0 or -errno (the index is then emptied, and read whole next time). */
int lease_index_follow(struct lease_index *ix, const struct xdpfwd_maps *maps, const char *state);
/* Records STATE as it is now, without reading it: after a change this
 * process made and the index already knows (under the lock). */
void lease_index_seen(struct lease_index *ix, const char *state);

/*
 * Removes every mapping whose lease ended at NOW (CLOCK_BOOTTIME ns) or
 * before, as one batch through apply_batch() recorded in STATE (NULL: no
 * file) under CONFIG's attachment. Under the lock, after
 * lease_index_follow(). *GONE (malloc'd, NULL when none; the caller frees
 * it) gets the mappings removed, *NGONE their number. All or nothing: on
 * failure nothing was removed, the pairs are queued again (the next call
 * tries again) and -errno is returned after apply_batch()'s message.
 * Costs O(k log n) for k pairs due of n, plus the batch's writes.
 */
int lease_expire(struct lease_index *ix, const struct xdpfwd_maps *maps,
		 const struct xdpfwd_config *config, const char *state, __u64 now,
		 struct rule **gone, size_t *ngone);

#endif
