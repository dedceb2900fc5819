/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * change.h - changes to the table, shared by the CLI and serve. Each builds
 * the whole table as it should be and hands it to apply(): bad input never
 * touches a map.
 */
#ifndef XDPFWD_CHANGE_H
#define XDPFWD_CHANGE_H

#include "persist.h"
#include "pindir.h"
#include "txn.h"

/* The live table as rules (table_live()), with room for EXTRA more. */
int live_rules(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count, size_t extra);
/* How a change is made. */
struct change {
	const char *what;		   /* messages start with it */
	bool check_host;		   /* the conflict checks (no --force) */
	const char *state;		   /* the state file to write, or NULL */
	const struct pending_set *pending; /* what waits; PENDING_CARRY: the file's stays */
	struct txn *txn; /* the caller's, to commit or roll back; NULL: apply's own */
	/* The daemon's: a refused mapping is named at debug level only (-vv),
	 * since its addresses are a client's and the daemon's log is kept. */
	bool daemon;
	/* A try (apply_batch() only): a change refused before anything was
	 * written (validation, the host's ports) is not said and returns
	 * -EAGAIN, for the caller to go another way that says why. A write
	 * that fails is said and undone as always. */
	bool quiet;
	/* The public interface's addresses when the caller read them for
	 * this change (apply_batch() only); NULL: read there. */
	const struct local_addrs *local;
};

/* Validates WANT as a whole, checks its new mappings against the host when
 * C->check_host, and only then writes the difference from HAVE, and WANT to
 * the state file. All or nothing: when a write fails, maps and file are put
 * back as they were (by apply, or by the caller that gave its transaction). */
int apply(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	  const struct rule *have, size_t nhave, struct rule *want, size_t count,
	  const struct change *c, struct apply_summary *sum);
/* A batch of changes named by what they touch, not the whole table: a CLI
 * add or del, the daemon's renewals. */
struct batch {
	struct rule *put; /* new mappings, or the live ones they repeat (same
			   * public side and target) with a new policy or lease */
	size_t nput;
	const struct rule *drop; /* live mappings to remove (table_find()) */
	size_t ndrop;
	bool renew; /* a lease of PUT starts from now, else kept (set_expiry()) */
	/* A put on the public side of a drop changes that mapping in place
	 * (its slot and counters stay), as load's diff does. */
	bool pair;
	bool *renewed; /* NULL, or for each of PUT: it repeated a live mapping */
};

/* apply() for a batch: validates PUT with the live mappings it meets (found
 * through the maps' indexes), checks it against the host when
 * C->check_host, writes the changes and records them in the state file,
 * all or nothing. Costs O(size of the batch), whatever the table's size. */
int apply_batch(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, struct batch *b,
		const struct change *c, struct apply_summary *sum);
/* The daemon's call for a batch of lease renewals (NAT-PMP, PCP): each
 * live mapping of the K KEYS (public side: family, protocol, the address it
 * answers from in source_addr, public port and count) that has a lease gets
 * it renewed from now by its ttl. Only the policy and mapping records are
 * written (never a forward or reverse entry), the batch is one journal
 * record and one fdatasync, and this returns only once it is durable: answer
 * the requests after it. Keys without a live leased mapping are skipped
 * (SUM->renewed counts those renewed). 0 or -errno, all or nothing.
 * The caller holds the pin directory's lock (pindir_lock()), as for any change. */
int renew_batch(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		const char *state, const struct xdpfwd_mapping *keys, size_t k,
		struct apply_summary *sum);
/* After a failed operation that had changed something: says whether undoing
 * it (txn_rollback()'s result, UNDO) left everything as it was. */
void report_undo(const char *what, int undo);
/* The lease of a rule with a TTL: renewed from now, or (RENEW false) kept
 * from the live mapping it repeats, so reloading a file extends nothing. */
void set_expiry(struct rule *r, const struct rule *have, size_t nhave, bool renew);
/* A text file of at most 64 MiB, or NULL after a message naming CMD. */
char *read_file(const char *path, const char *cmd);
/* How many of the N RULES are the operator's (owner.kind 0): what a config
 * file holds, and load replaces. */
size_t operator_count(const struct rule *rules, size_t n);
/* Makes the table the config file PATH (load, and serve's reload: DAEMON,
 * see struct change): the operator's mappings, that is; the dynamic ones
 * (NAT-PMP/PCP leases) stay, and a line that would take one's ports is
 * refused. A file that differs from the last one loaded in a few lines
 * costs those lines (loadindex.h): the rest is neither parsed nor read
 * from the maps. */
int load_file(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, const char *path,
	      bool force, const char *state, const char *cmd, bool daemon);
/* Loads this process made the short way (for tests). */
extern unsigned long load_short_ways;
/* load_file() for the command line: a file with no mappings is refused
 * (-ENOTEMPTY, said with the number of the operator's mappings it would
 * remove) unless FORCE. */
int load_file_cli(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		  const char *path, bool force, const char *state);

#endif
