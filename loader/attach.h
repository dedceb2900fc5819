/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_ATTACH_H
#define XDPFWD_ATTACH_H

#include <stdbool.h>
#include <xdp/libxdp.h>
#include "pindir.h"

/* Loads the programs (reusing maps already pinned, so mappings and counters
 * survive), attaches XDP to IFACE and tc to IFACE's egress and, with the fast
 * path, to IFACE's and TUNNEL's ingress; pins them. */
/* FAST_PATH: 1 on, 0 off, -1 not given (on; with REPLACE, as attached).
 * REPLACE swaps the running programs for this build's in place. */
int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode,
	       int fast_path, const struct xdpfwd_prefix *clients, __u32 nclients, bool replace);
/* Removes the programs; the maps stay unless PURGE. */
int detach_cmd(struct pindir *pd, const char *iface, bool purge);

#endif
