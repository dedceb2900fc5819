/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * tunnel.h - a client's packet as it leaves the tunnel (xdpfwd_from_tun, tc
 * on the tunnel's ingress, before routing): how it is read, where the stack
 * would route it, and what the program does in the stack's place when it
 * sends the packet itself (the TTL). Everything here works on an skb and
 * re-reads the packet after a store, since a store invalidates the pointers.
 */
#ifndef XDPFWD_TUNNEL_H
#define XDPFWD_TUNNEL_H

#include <linux/pkt_cls.h>
#include "consts.h"
#include "fastpath.h"
#include "maps.h"
#include "parse.h"

/*
 * The packet as it came out of the tunnel: after its Ethernet header on an
 * Ethernet tunnel, from the IP header on an L3 one. By tc ingress the stack
 * has moved an outer VLAN tag out of the frame (skb_vlan_untag() in
 * __netif_receive_skb_core()); a tagged packet belongs to a VLAN device on
 * top of the tunnel, not to the tunnel, and a frame with a further tag is no
 * IP packet here: both are left alone. An enum parse_result.
 */
static __always_inline int parse_tunnel(struct __sk_buff *skb, struct packet *pkt)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!tunnel_ethernet) {
		pkt->vlan_tagged = false;
		return parse_ip(data, data, data_end, skb->protocol, pkt);
	}
	if ((void *)(eth + 1) > data_end)
		return PARSE_TRUNCATED;
	pkt->vlan_tagged = skb->vlan_present;
	return parse_ip(data, eth + 1, data_end, eth->h_proto, pkt);
}

/* After a store into the skb: the fields found again. 0, or -1 when the
 * packet no longer parses (a helper failed half way). */
static __always_inline int reparse(struct __sk_buff *skb, struct packet *pkt)
{
	return parse_tunnel(skb, pkt) == PARSE_OK ? 0 : -1;
}

/*
 * Where the stack would send the packet: the FIB's answer, with the egress in
 * *IFINDEX on BPF_FIB_LKUP_RET_SUCCESS and _NO_NEIGH. With TOT_LEN (IP bytes)
 * the FIB also checks the route's MTU (route metric, path MTU exception,
 * device: ip_mtu_from_fib_result()) and answers FRAG_NEEDED above it, without
 * the egress; bpf_ipv4_fib_lookup() and bpf_ipv6_fib_lookup() in
 * net/core/filter.c. NOT_FWDED is a destination the FIB does not forward to:
 * one of this server's addresses, broadcast, multicast, or none at all.
 */
static __always_inline int fib_egress(struct __sk_buff *skb, const struct packet *pkt,
				      __u16 tot_len, __u32 *ifindex)
{
	struct bpf_fib_lookup fib;
	int rc;

	/* Where it came in: the rules' iif. */
	fib_params(&fib, pkt, tot_len, tunnel_ifindex);
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	*ifindex = fib.ifindex;
	return rc;
}

/*
 * The IP bytes the egress must carry at once: the packet's, or for a GSO
 * packet (a TCP or UDP super-packet that the egress or the stack cuts into
 * segments) one segment's, counted as skb_gso_validate_network_len() does
 * (net/core/gso.c): IP headers, transport header, gso_size of payload.
 */
static __always_inline __u16 wire_len(const struct __sk_buff *skb, const struct packet *pkt)
{
	__u32 seg = skb->gso_size, hdr;

	if (!seg || pkt->frag == FRAG_LATER || !pkt->l4_check)
		return pkt->ip_bytes;
	hdr = pkt->l4 - pkt->l3;
	if (pkt->tcp)
		hdr += pkt->tcp->doff * 4;
	else
		hdr += sizeof(struct udphdr);
	seg += hdr;
	return seg < pkt->ip_bytes ? seg : pkt->ip_bytes;
}

/* What the fast path leaves to the stack, untouched: counted by its reason
 * (with the fast path off every such packet goes there, uncounted). */
static __always_inline int stack_out(__u32 reason)
{
	if (fast_path_on)
		count_stat(reason);
	return TC_ACT_UNSPEC;
}

/*
 * What the stack's forwarding does before the packet leaves (ip_forward(),
 * ip6_forward()): the TTL or hop limit one down, IPv4's header checksum with
 * it, then the packet read again. The caller has checked that the TTL is
 * above 1 (else the stack must send time exceeded). 0, or -1 when a helper
 * failed.
 */
static __always_inline int tun_decrement_ttl(struct __sk_buff *skb, struct packet *pkt)
{
	void *data = (void *)(long)skb->data;
	__u32 ttl_off = (void *)hop_limit(pkt) - data;
	__u8 ttl = *hop_limit(pkt);

	if (pkt->family == AF_INET) {
		/* TTL and protocol share the checksummed 16-bit word. */
		__u32 check_off = pkt->l3 + offsetof(struct iphdr, check) - data;
		__be16 old = bpf_htons(ttl << 8 | pkt->proto),
		       new = bpf_htons((ttl - 1) << 8 | pkt->proto);

		if (bpf_l3_csum_replace(skb, check_off, old, new, sizeof(__be16)))
			return -1;
	}
	ttl--;
	if (bpf_skb_store_bytes(skb, ttl_off, &ttl, 1, 0))
		return -1;
	return reparse(skb, pkt);
}

#endif /* XDPFWD_TUNNEL_H */
