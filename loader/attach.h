/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * attach.h - putting xdpfwd's programs on the interfaces and taking them
 * off. An attach runs as explicit steps, each with its own message when it
 * fails (after libbpf-bootstrap): open the BPF object, set its read-only
 * data, load it (a verifier rejection names the program and quotes the
 * verifier's last lines, bpfload.h), attach XDP, attach tc, pin, record the
 * attachment in the config map. A new attach and attach --replace are two
 * functions over the same steps; each takes everything it may change into
 * the caller's transaction first (txn.h), so a failed step is undone whole
 * by txn_rollback(), and passes the failpoints of its steps (failpoint.h):
 * bpf-open, bpf-load, list-interfaces, xdp-attach or xdp-replace, tc-attach
 * or tc-replace, unpin, pin, and those of the map writes.
 */
#ifndef XDPFWD_ATTACH_H
#define XDPFWD_ATTACH_H

#include <stdbool.h>
#include <xdp/libxdp.h>
#include "pindir.h"
#include "txn.h"

/* What to attach: from the command line, or from the state file. */
struct attach_req {
	const char *iface;  /* the public interface: XDP, and tc on its egress */
	const char *tunnel; /* the tunnel device the clients are behind */
	enum xdp_attach_mode mode;
	int fast_path; /* 1 on, 0 off, -1 not given: on (with --replace, as attached) */
	const struct xdpfwd_prefix *clients;
	__u32 nclients; /* 0: any address (with --replace: as attached) */
	/* Mappings the maps hold (capacity.h), 1..XDPFWD_MAX_CAPACITY; 0: not
	 * given: as pinned, else XDPFWD_DEFAULT_CAPACITY. */
	__u32 capacity;
};

/* Loads the programs (reusing, or migrating, maps already pinned, so
 * mappings and counters survive), attaches XDP to REQ's interface, tc to its
 * egress and ingress and to the tunnel's ingress, pins them and records the
 * attachment. Refused (-EEXIST) when the interface has an XDP program.
 * Notes what it did in T. 0 or -errno after a message. */
int attach_new(struct pindir *pd, const struct attach_req *req, struct txn *t);
/* attach --replace: this build's programs take the running ones' place in
 * one atomic step each, over the same maps; fast path, mode and (unless REQ
 * names them) client networks stay as attached. */
int attach_replace(struct pindir *pd, const struct attach_req *req, struct txn *t);
/* The attach command: attach_replace() with REPLACE; else, when no maps are
 * pinned and the state file STATE holds a table, attach_new() and that
 * table written back (restore.h: the file is never replaced by an emptier
 * one); else attach_new(). Then STATE follows the maps. All in T; on
 * failure the caller rolls T back, on success commits it (which prints what
 * was done), then calls restore_finish(). */
int attach_cmd(struct pindir *pd, const struct attach_req *req, bool replace, const char *state,
	       struct txn *t);

/* What detach removes besides the programs. */
enum detach_purge {
	DETACH_KEEP_MAPS,   /* the maps and the state file stay: attach forwards again */
	DETACH_PURGE_MAPS,  /* --purge: maps and counters go; the state file keeps the table */
	DETACH_PURGE_STATE, /* --purge-state: the state file goes too */
};

/* Removes the programs, found by the interface (bpf_xdp_query) when a pin is
 * missing, and checks that none stayed (-EBUSY if one did); records the
 * detachment and writes the state file STATE from the maps; then removes
 * what PURGE says, saying which and where the table stays. T as for
 * attach_cmd(). */
int detach_cmd(struct pindir *pd, const char *iface, enum detach_purge purge, const char *state,
	       struct txn *t);
/* Removes what an interrupted rebuild left: xdpfwd's programs on IFACE and
 * TUNNEL, found by the interfaces, and every pin in PD. */
int attach_clear(struct pindir *pd, const char *iface, const char *tunnel);

#endif
