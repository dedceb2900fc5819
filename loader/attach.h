/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_ATTACH_H
#define XDPFWD_ATTACH_H

#include <stdbool.h>
#include <xdp/libxdp.h>
#include "pindir.h"
#include "txn.h"

/* Loads the programs (reusing maps already pinned, so mappings and counters
 * survive), attaches XDP to IFACE and tc to IFACE's egress and, with the fast
 * path, to IFACE's and TUNNEL's ingress; pins them. */
/* FAST_PATH: 1 on, 0 off, -1 not given (on; with REPLACE, as attached).
 * REPLACE swaps the running programs for this build's in place. Everything
 * it changes is taken into T first; on failure the caller rolls T back, on
 * success commits it (which prints what was done). */
int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode,
	       int fast_path, const struct xdpfwd_prefix *clients, __u32 nclients, bool replace,
	       struct txn *t);
/* Removes the programs, found by the interface (bpf_xdp_query) when a pin is
 * missing, and checks that none stayed: -EBUSY if one did. The maps stay
 * unless PURGE. T as for attach_cmd(). */
int detach_cmd(struct pindir *pd, const char *iface, bool purge, struct txn *t);
/* Removes what an interrupted rebuild left: xdpfwd's programs on IFACE and
 * TUNNEL, found by the interfaces, and every pin in PD. */
int attach_clear(struct pindir *pd, const char *iface, const char *tunnel);

#endif
