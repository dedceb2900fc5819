/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * journal.h - the state file's journal: changes appended to the snapshot
 * (state.h) instead of rewriting it, so a change costs what it changes.
 *
 * PATH.journal, text, after a header that names the snapshot it follows:
 *   xdpfwd-journal 1 snapshot=SIZE/CRC ino=INODE mtime=NS crc32=HEX
 *   + PROTO PUBLIC TARGET [policy] [expires=UNIX_NS]    a mapping, new or changed
 *   - PROTO PUBLIC TARGET                               a mapping removed
 *   j LEN COUNT CRC                                     closes a record
 * A record is the lines of one change (a command, a batch of the daemon)
 * and its closing line: LEN bytes of lines before it, COUNT live mappings
 * after it, CRC the CRC-32 (zlib) of those bytes followed by "j LEN COUNT".
 * A record is written with one write() and fdatasync()ed before the change
 * reports success. Replaying a journal over its snapshot applies each line
 * by the mapping's public side, the last one winning (a pending mapping of
 * the snapshot gives way to any line about its public side).
 *
 * SIZE/CRC are the snapshot's size and its end line's CRC: a journal that
 * names another snapshot (the snapshot was written since, or replaced by
 * hand) is stale and ignored. INODE and MTIME say the snapshot was checked
 * whole when the journal began: while they still match, a command checks
 * only the journal's last record, not the whole file (see state_check()).
 *
 * Damage: the last record, when it is cut short, or damaged with no whole
 * record after it (zeros where a crash grew the file but its data never
 * landed, as ext4 leaves it; a line that is not a journal line; a checksum
 * that fails), is a torn record: its change never reported success, and it
 * is dropped; the next append first truncates the journal durably to the
 * whole records, so that no record ever follows garbage. Anything else (a
 * damaged record with a whole one after it, a damaged header) refuses the
 * pair, and it is never overwritten.
 */
#ifndef XDPFWD_JOURNAL_H
#define XDPFWD_JOURNAL_H

#include "state.h"
#include "strbuf.h"

#define JOURNAL_VERSION 1
/* Below this, snapshot and journal together, a change rewrites the
 * snapshot: a rewrite of a few pages costs what an append does. */
#define JOURNAL_SMALL_BYTES (64 << 10)

/* What a journal begins with: the snapshot it follows. */
struct journal_head {
	unsigned long long size; /* the snapshot's */
	unsigned int crc;	 /* its end line's */
	unsigned long long ino, mtime_ns;
};

/* One line of a record. */
struct journal_op {
	bool del;
	struct rule r; /* expires_ns on the boot clock; 0 when the lease ended */
};

/* What a journal's text holds. */
struct journal {
	struct journal_head head;
	struct journal_op *ops; /* malloc'd */
	size_t nops;
	size_t good_len; /* bytes up to the end of the last whole record */
	size_t count;	 /* the last record's COUNT; 0 without any */
	size_t records;
	bool torn; /* bytes after GOOD_LEN were dropped */
};

void journal_path(char *buf, size_t len, const char *state);
/* The header line for a snapshot HEAD. */
void journal_format_head(struct strbuf *out, const struct journal_head *head);
/* Appends one record: CHANGES (struct table_change, K of them) as lines, and
 * COUNT. NOW converts the leases' ends to Unix time. */
struct table_change;
void journal_format_record(struct strbuf *out, const struct table_change *changes, size_t k,
			   size_t count, const struct clocks *now);
/* The header line at the start of TEXT (LEN bytes, a NUL after them): 0
 * with HEAD, *AT past its newline; -1 with one line in err. The one reader
 * of a journal's header. */
int journal_parse_head(const char *text, size_t len, struct journal_head *head, size_t *at,
		       char *err);
/* The closing line "j LEN COUNT CRC" (LINE_LEN bytes, its newline not
 * among them, a newline or NUL after them): 0 with its fields, or -1. The
 * one reader of closing lines. */
int parse_close(const char *line, size_t line_len, size_t *len, size_t *count, unsigned int *crc);
/* Reads TEXT (LEN bytes of any value, a NUL after them): 0 with J filled
 * (J->torn when bytes after J->good_len were a torn record, dropped), or -1
 * with one line in err naming the record. Pure: the fuzzer's target. */
int journal_parse(const char *text, size_t len, const struct clocks *now, struct journal *j,
		  char *err);
/* journal_parse() without reading the lines' mappings: the header, every
 * record's framing and checksum, the torn tail. J gets no ops. O(LEN), a
 * CRC's cost. */
int journal_scan(const char *text, size_t len, struct journal *j, char *err);
void journal_free(struct journal *j);
/* Applies J's lines to S, the snapshot J follows. */
int journal_replay(struct saved_state *s, const struct journal *j, char *err);
/* Checks the last record of the journal of LEN bytes open at FD, reading it
 * alone: 0 when it is whole, 1 when the tail is not a whole record (a torn
 * one, or damage: only a whole read tells), -errno. *COUNT gets its COUNT. */
int journal_check_tail(int fd, size_t len, size_t head_len, size_t *count);

#endif
