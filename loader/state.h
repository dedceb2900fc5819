/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * state.h - the state file: what attach recorded and every mapping with its
 * policy, so that a reboot (which empties bpffs) loses nothing. Every command
 * that changes the table rewrites it atomically, under the pin directory's
 * lock; serve rebuilds the maps from it when they are gone. A file this build
 * cannot read (corrupt, truncated, or from a newer version) is refused and
 * never overwritten.
 *
 * Text, one record a line, closed by a line that counts the records and
 * checksums every byte before it:
 *   xdpfwd-state 1
 *   attach IFACE tunnel=IFACE mode=native|generic fast-path=on|off [clients=CIDR,...]
 *   PROTO PUBLIC TARGET [allow=...] [rate=...] [new-rate=...] [ttl=S expires=UNIX_NS]
 *   pending PROTO PUBLIC TARGET ...
 *   PROTO PUBLIC TARGET ... owner=natpmp:KEYPORT|pcp:KEYPORT:NONCE
 *   end RECORDS crc32=HEX
 * Mapping lines are config-file lines (spec.h) with the lease's absolute end.
 * A pending line is a mapping serve could not write to the maps yet (its
 * wildcard needs an address the public interface does not have yet): it
 * stays in the file, and serve writes it once it can. A file with pending
 * lines is version 2; without, version 1, which older builds read.
 * A mapping line with owner= is a dynamic mapping, a NAT-PMP or PCP
 * client's lease (struct xdpfwd_owner: its key port and PCP nonce), which
 * serve's server granted; a file with one is version 3, which builds before
 * it refuse as newer than theirs rather than misread (a journal record
 * with one is appended only to a version 3 snapshot: persist.c). This build
 * reads all three.
 */
#ifndef XDPFWD_STATE_H
#define XDPFWD_STATE_H

#include <net/if.h>
#include "spec.h"

#define XDPFWD_STATE_VERSION	 3
#define STATE_VERSION_PENDING	 2 /* the first with pending lines */
#define STATE_VERSION_OWNER	 3 /* the first with owner= fields */
#define XDPFWD_DEFAULT_STATE_DIR "/var/lib/xdpfwd"
#define STATE_MAX_BYTES		 (256 << 20)

struct saved_state {
	bool attached;
	char iface[IF_NAMESIZE];
	char tunnel[IF_NAMESIZE];
	bool generic; /* --mode generic */
	bool fast_path;
	struct xdpfwd_prefix clients[XDPFWD_MAX_CLIENT_NETS];
	__u32 client_count;
	struct rule *rules; /* malloc'd; expires_ns on the boot clock */
	size_t count;
	struct rule *pending; /* malloc'd: the mappings waiting to be written */
	size_t npending;
};

/* The clocks a lease crosses: the file holds its end as Unix time, the maps
 * on CLOCK_BOOTTIME, which restarts at every boot. */
struct clocks {
	__u64 real_ns, boot_ns;
};

/* TEXT (NUL-terminated) into OUT. Pure: the fuzzer's target. A lease that
 * ended before CLOCKS' now is dropped. */
int state_parse(const char *text, const struct clocks *now, struct saved_state *out, char *err);
/* OUT as the file's text (malloc'd, NUL-terminated; LEN, unless NULL, gets
 * its length), or NULL without memory. */
char *state_format(const struct saved_state *s, const struct clocks *now, size_t *len);
void state_free(struct saved_state *s);
/* The version of the file state_format() writes for S: the oldest that
 * holds everything S has (1, STATE_VERSION_PENDING, STATE_VERSION_OWNER). */
int state_version_needed(const struct saved_state *s);

/* The file for a pin directory: DIR/<its last component>.state, with DIR
 * from --state-dir, else $XDPFWD_STATE_DIR, else the default. */
void state_path(char *buf, size_t len, const char *dir, const char *pin_dir);
/* The file that says serve's rebuild from STATE is under way (or was killed
 * half way): its maps lack the table, so nothing may write the file from
 * them until a rebuild finishes. */
void state_rebuild_marker(char *buf, size_t len, const char *state);
/* Reads PATH and replays its journal (journal.h): 0 with *found false when
 * there is no file; -1 with err when it cannot be read or understood. */
int state_load(const char *path, const struct clocks *now, struct saved_state *out, bool *found,
	       char *err);
/* PATH and its journal read whole and their checksums checked (the
 * snapshot's end line and CRC, the journal's header and every record's, a
 * torn tail allowed), without reading their mappings: 0, also when there is
 * no file; -1 with err (the messages of state_load()) when damaged. What
 * anything that replaces the pair checks first: O(bytes), a CRC's cost. */
int state_verify(const char *path, char *err);
/* What state_load_pair() found of the journal. */
struct journal_seen {
	bool follows;	      /* there is one, it follows the snapshot: replayed */
	size_t len, good_len; /* its bytes; up to the end of its last whole record */
};
/* state_load(), and what it found of the journal to SEEN (which may be
 * NULL): a torn tail, dropped, is the bytes from SEEN->good_len to
 * SEEN->len. */
int state_load_pair(const char *path, const struct clocks *now, struct saved_state *out,
		    bool *found, struct journal_seen *seen, char *err);
/* Writes PATH atomically: a temporary file, fsync, rename, fsync of the
 * directory; then an empty journal that follows it, the same way. */
int state_save(const char *path, const struct saved_state *s, const struct clocks *now, char *err);
/* Writes LEN bytes of TEXT to PATH so: the old file or the new one, never
 * half of one. STEPS passes the failpoints (failpoint.h) of each step. */
int file_write_atomic(const char *path, const char *text, size_t len, bool steps, char *err);

void clocks_now(struct clocks *now);
struct journal_head;
/* The size and end line's CRC of the snapshot TEXT (LEN bytes): what its
 * journal names. -1 when it has no end line. */
int snapshot_head(const char *text, size_t len, struct journal_head *head);
/* The snapshot's first line, "xdpfwd-state VERSION", at the start of TEXT
 * (NUL-terminated): VERSION, or -1 when it is not one. The one reader of
 * the first line. */
int snapshot_version(const char *text);
/* The snapshot's closing line, "end RECORDS crc32=HEX", the last line of
 * TEXT (LEN bytes, the file's end; it may begin anywhere in the file as long
 * as a newline precedes that line in TEXT): 0 with *RECORDS, *CRC and *AT
 * (where the line begins in TEXT), or -1 when it is not one. The one reader
 * of the closing line. */
int snapshot_end(const char *text, size_t len, unsigned int *records, __u32 *crc, size_t *at);

/* zlib's CRC-32 of LEN bytes of TEXT: the one checksum of the state file's
 * snapshot, the journal's header and its records. */
__u32 text_crc32(const char *text, size_t len);

#endif
