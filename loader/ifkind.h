/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * ifkind.h - what kind of device a tunnel is, for the data path.
 *
 * The tc program on the tunnel's ingress must know where a packet starts,
 * and the programs that send into the tunnel whether it needs MACs. That is
 * the device's link type (ARPHRD_*, the "type" of /sys/class/net/IFACE),
 * read with SIOCGIFHWADDR in the caller's network namespace.
 */
#ifndef XDPFWD_IFKIND_H
#define XDPFWD_IFKIND_H

enum tunnel_kind {
	TUNNEL_L3,	 /* no link layer: WireGuard, TUN, GRE, IPIP, SIT, PPP */
	TUNNEL_ETHERNET, /* Ethernet: TAP, veth, VLAN, VXLAN, GRE-TAP, bridge */
};

/*
 * The kind of the device NAME: 0 and *KIND set, or a negative errno after one
 * line on stderr naming the device: -ENODEV (no such device here),
 * -EOPNOTSUPP (a link type the data path cannot carry: loopback, InfiniBand,
 * CAN, ...; the line names it and what is taken).
 */
int tunnel_kind_of(const char *name, enum tunnel_kind *kind);

#endif
