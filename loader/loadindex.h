/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * loadindex.h - what the last load made of each line of its config file,
 * kept beside the state file, so that loading a file that differs in a few
 * lines parses and writes those lines only: no read of the maps, no parse
 * of the other lines (load_file(), change.h).
 *
 * STATE.index (STATE_INDEX_SUFFIX), binary, host byte order: a struct
 * lidx_head, then COUNT struct lidx_entry sorted by hash. An entry is one
 * rule of one line: the line's hash (line_hash()) and the rule's public
 * side; a "both" line makes two entries of one hash. Hash 0 is a live
 * mapping of the operator that no line of the last load made (an add
 * since, found in the journal): the next load removes it unless a line
 * makes it again.
 *
 * The index says what the maps hold only while (lidx_usable()):
 *  - the state file's pair stands where the index says (struct state_pos:
 *    the snapshot's identity, the journal's length and last bytes), or its
 *    journal only grew by whole records since: those are read, and every
 *    line about a public side takes the index's word about it back
 *    (lidx_replay());
 *  - no change was killed half way since (STATE.changing, persist.h);
 *  - the public interface has the addresses it had (a wildcard line's
 *    source address comes from them).
 * Anything else, a damaged or missing index included, sends the load the
 * long way, which writes the index anew. It is a cache: written atomically
 * (a temporary file, rename), never synced, checked by its checksum (64 bits).
 */
#ifndef XDPFWD_LOADINDEX_H
#define XDPFWD_LOADINDEX_H

#include "persist.h"

struct lidx_entry {
	__u64 hash; /* line_hash() of the line that made it; 0: no line */
	__u8 family, proto;
	__u16 port;  /* first public port, host order */
	__u16 count; /* ports in the range */
	__u16 pad;
	union xdpfwd_addr addr; /* public address; all zero: a wildcard */
};
_Static_assert(sizeof(struct lidx_entry) == 32, "lidx_entry layout");

struct load_index {
	struct state_pos pos; /* the pair it follows */
	__u64 local_digest;   /* local_digest() of the public interface */
	struct lidx_entry *e; /* sorted by hash; malloc'd or mapped */
	size_t n;
	/* private */
	void *map;
	size_t map_len;
};

/* XXH64 (seed 0) of the LEN bytes of a line, never 0. */
__u64 line_hash(const char *text, size_t len);
/* A line of a config file that can make a rule (not blank, not a
 * comment): its hash, and where it is (line_at()). */
struct hash_at {
	__u64 hash;
	__u64 at; /* its number << 32 | the offset of its first byte */
};
/* The lines of the LEN bytes (at most 4 GiB) of TEXT that may make rules,
 * in order, numbered as parse_rules() numbers them: *OUT malloc'd, *N of
 * them. 0 or -ENOMEM. */
int config_lines(const char *text, size_t len, struct hash_at **out, size_t *n);
static inline unsigned int line_number(__u64 at)
{
	return at >> 32;
}
static inline size_t line_offset(__u64 at)
{
	return at & 0xffffffff;
}
/* The public interface's addresses (N of LOCAL's), in any order, as 64
 * bits: what a wildcard's source address depends on. */
struct local_addrs;
__u64 local_digest(const struct local_addrs *local);
/* R's entry for a line of hash HASH. */
void lidx_entry_of(const struct rule *r, __u64 hash, struct lidx_entry *e);
/* Whether E is R's public side (family, protocol, address, ports). */
bool lidx_entry_is(const struct lidx_entry *e, const struct xdpfwd_mapping *m);

/* Sorts the N entries of E by hash. 0 or -ENOMEM. */
int lidx_sort(struct lidx_entry *e, size_t n);
/* The SORTED entries of E and the NTAIL of TAIL (sorted here) into OUT,
 * sorted: O(SORTED + NTAIL log NTAIL). 0 or -ENOMEM. */
int lidx_merge(const struct lidx_entry *e, size_t sorted, struct lidx_entry *tail, size_t ntail,
	       struct lidx_entry *out);
/* The N lines of KEYS sorted by hash. */
int hash_at_sort(struct hash_at *keys, size_t n);

/* The index of STATE: 0 with IX (lidx_free() it), -1 when there is none or
 * it is damaged. */
int lidx_read(const char *state, struct load_index *ix);
/* Writes IX (its entries sorted) as the index of STATE, atomically. 0 or
 * -errno; on failure the old index is removed, so none is left that lies. */
int lidx_write(const char *state, const struct load_index *ix);
void lidx_remove(const char *state);
void lidx_free(struct load_index *ix);

/* Takes back what IX says about every public side J's lines name (J: the
 * records since IX's position, state_journal_since()): each entry of such
 * a side goes, with every entry of its line (the line is parsed again);
 * an operator's mapping a line added stays as an entry of hash 0, which
 * the load removes unless a line makes it. 0 or -ENOMEM. */
struct journal;
int lidx_replay(struct load_index *ix, const struct journal *j);

/* What a load of LINES (config_lines()) changes from IX. */
struct load_plan {
	__u64 *fresh; /* where the lines the index does not know are (struct
		       * hash_at), in the file's order: parse them */
	size_t nfresh;
	struct lidx_entry *keep; /* the entries of the lines it knows */
	size_t nkeep;
	struct lidx_entry *gone; /* entries no line makes now: remove them */
	size_t ngone;
};
/* 0 with PLAN (lidx_plan_free() it), 1 when two lines are the same (the
 * long way names them), -ENOMEM. LINES are sorted by hash here. */
int lidx_plan(const struct load_index *ix, struct hash_at *lines, size_t n, struct load_plan *plan);
void lidx_plan_free(struct load_plan *plan);

#endif
