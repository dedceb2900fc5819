/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * addr.h - addresses as a packet holds them and as a map key does.
 *
 * In a packet (struct packet's saddr and daddr, an ICMP error's quote) an
 * address is a run of network-order 32-bit words: one for IPv4, four for
 * IPv6. In a key or a value it is a union xdpfwd_addr: an IPv4 address in v4,
 * the other 12 bytes zero (include/xdpfwd.h). These helpers convert and
 * compare, so that no other code counts words by family.
 */
#ifndef XDPFWD_ADDR_H
#define XDPFWD_ADDR_H

#include <stdbool.h>
#include "consts.h"
#include "xdpfwd.h"

/* TO takes the address of FAMILY (AF_INET or AF_INET6) at FROM (1 or 4
 * words). For IPv4 only v4 is written: TO's other words must already be zero,
 * as they are in a key cleared first. */
static __always_inline void addr_copy(union xdpfwd_addr *to, __u8 family, const __be32 *from)
{
	to->v4 = from[0];
	if (family == AF_INET6) {
		to->v6_words[1] = from[1];
		to->v6_words[2] = from[2];
		to->v6_words[3] = from[3];
	}
}

/* Whether the addresses of FAMILY at A and B (1 or 4 words each) are the
 * same. */
static __always_inline bool addr_equal(__u8 family, const __be32 *a, const __be32 *b)
{
	bool same = a[0] == b[0];

	if (family != AF_INET)
		same = same && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
	return same;
}

#endif /* XDPFWD_ADDR_H */
