/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fastpath.h - where a translated packet goes next, without the stack.
 *
 * Inbound, after the rewrite, XDP asks the FIB for the target's next hop:
 *  - an Ethernet device in xdpfwd_egress: set the MACs, decrement the TTL,
 *    XDP_REDIRECT through the devmap;
 *  - the tunnel: leave a note in XDP metadata, XDP_PASS; tc on the same
 *    interface's ingress redirects the skb into the tunnel, past routing,
 *    netfilter and conntrack: with bpf_redirect into an L3 tunnel (WireGuard,
 *    TUN: no link layer, no XDP transmit), with bpf_redirect_neigh into an
 *    Ethernet one (TAP, veth, VLAN, VXLAN: the kernel's neighbour gives the
 *    MACs, and any such device takes it, where XDP_REDIRECT works only into
 *    devices with ndo_xdp_xmit and drops silently elsewhere);
 *  - anything the program cannot serve (no neighbour yet, too big for the
 *    egress MTU, TTL expiring, no route, forwarding off, a VLAN-tagged frame):
 *    XDP_PASS, and the stack does what it always does, ICMP errors included.
 * Outbound, tc on the tunnel's ingress rewrites the client's source and sends
 * the packet out of the public interface with bpf_redirect_neigh, when the
 * FIB says it leaves there and fits the route's MTU; anything else goes to
 * the stack untouched (see xdpfwd_from_tun).
 * Every exit is counted by its own reason.
 */
#ifndef XDPFWD_FASTPATH_H
#define XDPFWD_FASTPATH_H

#include <linux/pkt_cls.h>
#include "consts.h"
#include "maps.h"
#include "parse.h"

/* Set by attach before the programs are loaded. */
const volatile __u32 fast_path_on = 0;
const volatile __u32 tunnel_ifindex = 0;
const volatile __u32 public_ifindex = 0;
/* 1: the tunnel is an Ethernet device (ARPHRD_ETHER: TAP, veth, VLAN, VXLAN):
 * its packets start with an Ethernet header and leave with its neighbours'
 * MACs. 0: an L3 device (WireGuard, TUN, GRE, PPP): packets start at the IP
 * header. Attach reads it from the device's type. */
const volatile __u32 tunnel_ethernet = 0;

/* ifindex -> ifindex of the Ethernet devices XDP may redirect to. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XDPFWD_MAX_EGRESS);
	__type(key, __u32);
	__type(value, __u32);
} xdpfwd_egress SEC(".maps");

/*
 * FIB lookup parameters for PKT as the stack would route it: entering at
 * IFINDEX (what ip rules match as iif), with TOT_LEN IP bytes (0: no MTU
 * check; else the FIB answers BPF_FIB_LKUP_RET_FRAG_NEEDED above the route's
 * MTU), the ports for multipath hashing when the packet has them, and IPv4's
 * TOS or IPv6's flow information. As bpf_ipv4_fib_lookup() and
 * bpf_ipv6_fib_lookup() in net/core/filter.c read struct bpf_fib_lookup.
 */
static __always_inline void fib_params(struct bpf_fib_lookup *fib, const struct packet *pkt,
				       __u16 tot_len, __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = pkt->family;
	fib->l4_protocol = pkt->proto;
	if (pkt->sport && pkt->dport) { /* a later fragment has no ports */
		fib->sport = *pkt->sport;
		fib->dport = *pkt->dport;
	}
	fib->tot_len = tot_len;
	fib->ifindex = ifindex;
	if (pkt->family == AF_INET) {
		fib->tos = ((struct iphdr *)pkt->l3)->tos;
		fib->ipv4_src = pkt->saddr[0];
		fib->ipv4_dst = pkt->daddr[0];
	} else {
		fib->flowinfo = *(__be32 *)pkt->l3 & IPV6_FLOWINFO_MASK;
		__builtin_memcpy(fib->ipv6_src, pkt->saddr, 16);
		__builtin_memcpy(fib->ipv6_dst, pkt->daddr, 16);
	}
}

static __always_inline __u8 *hop_limit(const struct packet *pkt)
{
	return pkt->family == AF_INET ? &((struct iphdr *)pkt->l3)->ttl
				      : &((struct ipv6hdr *)pkt->l3)->hop_limit;
}

/* As ip_decrease_ttl(): the checksum moves by the same one. */
static __always_inline void decrement_ttl(const struct packet *pkt)
{
	if (pkt->family == AF_INET) {
		struct iphdr *ip = pkt->l3;
		__u32 check = (__u32)ip->check + bpf_htons(0x0100);

		ip->check = (__sum16)(check + (check >= 0xffff));
		ip->ttl--;
	} else {
		((struct ipv6hdr *)pkt->l3)->hop_limit--;
	}
}

static __always_inline int stack_exit(__u32 reason)
{
	count_stat(reason);
	return XDP_PASS;
}

/* After rewrite_destination(): the XDP verdict for the translated packet. */
static __always_inline int send_inbound(struct xdp_md *ctx, struct packet *pkt)
{
	struct bpf_fib_lookup fib;
	struct xdpfwd_meta *meta;
	struct ethhdr *eth;
	int rc;

	if (!fast_path_on)
		return stack_exit(XDPFWD_STAT_IN_STACK_FAST_PATH_OFF);
	if (*hop_limit(pkt) <= 1)
		return stack_exit(XDPFWD_STAT_IN_STACK_TTL); /* the stack sends time exceeded */

	/* The FIB answers FRAG_NEEDED above the egress MTU. */
	fib_params(&fib, pkt, pkt->ip_bytes, ctx->ingress_ifindex);
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);

	/* A NOARP device has a neighbour only once the stack sent through it. */
	if ((rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) &&
	    fib.ifindex == tunnel_ifindex) {
		__u32 ifindex = fib.ifindex;

		decrement_ttl(pkt);
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
			return stack_exit(XDPFWD_STAT_IN_STACK_NO_XDP_EGRESS);
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) > (void *)(long)ctx->data)
			return stack_exit(XDPFWD_STAT_IN_STACK_NO_XDP_EGRESS);
		meta->magic = XDPFWD_META_MAGIC;
		meta->ifindex = ifindex;
		count_stat(XDPFWD_STAT_IN_FAST_TUNNEL);
		return XDP_PASS;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return stack_exit(XDPFWD_STAT_IN_STACK_NO_NEIGH); /* the stack resolves it */
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return stack_exit(XDPFWD_STAT_IN_STACK_MTU); /* the stack fragments or says so */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return stack_exit(XDPFWD_STAT_IN_STACK_NO_ROUTE);
	if (pkt->vlan_tagged)
		return stack_exit(XDPFWD_STAT_IN_STACK_VLAN); /* the tag belongs to the ingress */
	if (!bpf_map_lookup_elem(&xdpfwd_egress, &fib.ifindex))
		return stack_exit(XDPFWD_STAT_IN_STACK_NO_XDP_EGRESS);

	decrement_ttl(pkt);
	eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return stack_exit(XDPFWD_STAT_IN_STACK_NO_XDP_EGRESS);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	count_stat(XDPFWD_STAT_IN_FAST_REDIRECT);
	return bpf_redirect_map(&xdpfwd_egress, fib.ifindex, 0);
}

/* Into the tunnel, an skb that starts with an Ethernet header: an L3 tunnel
 * takes it past the header (bpf_redirect strips it for devices without one,
 * dev_is_mac_header_xmit() in include/linux/if_arp.h); an Ethernet tunnel
 * needs the next hop's MACs, which bpf_redirect_neigh looks up. */
static __always_inline int redirect_to_tunnel(__u32 ifindex)
{
	return tunnel_ethernet ? bpf_redirect_neigh(ifindex, NULL, 0, 0) : bpf_redirect(ifindex, 0);
}

/* Outbound from the tunnel, the packet already rewritten: out of the public
 * interface with bpf_redirect_neigh, which does a route lookup there and
 * writes the next hop's Ethernet header in place of the first 14 bytes. A
 * packet from an L3 tunnel has no link layer: it gets a placeholder first. */
static __always_inline int send_outbound(struct __sk_buff *skb)
{
	struct ethhdr eth = {.h_proto = skb->protocol};

	if (!tunnel_ethernet && (bpf_skb_change_head(skb, sizeof(eth), 0) ||
				 bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))) {
		count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
		return TC_ACT_SHOT; /* the source is already rewritten: the stack would drop it */
	}
	count_stat(XDPFWD_STAT_OUT_FAST_REDIRECT);
	return bpf_redirect_neigh(public_ifindex, NULL, 0, 0);
}

#endif /* XDPFWD_FASTPATH_H */
