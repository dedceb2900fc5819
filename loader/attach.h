/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_ATTACH_H
#define XDPFWD_ATTACH_H

#include <stdbool.h>
#include <xdp/libxdp.h>
#include "pindir.h"

/* Loads the programs (reusing maps already pinned, so mappings and counters
 * survive), attaches XDP to IFACE and tc to IFACE's egress and, with the fast
 * path, to IFACE's and TUNNEL's ingress; pins them. */
int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode,
	       bool fast_path, const struct xdpfwd_prefix *clients, __u32 nclients);
/* Removes the programs; the maps stay unless PURGE. */
int detach_cmd(struct pindir *pd, const char *iface, bool purge);

#endif
