/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * nat.h - lookups and the two rewrites.
 *
 * Inbound (XDP) rewrites the destination in place with direct packet access
 * and incremental checksums; the frame comes from the wire, so its checksums
 * are complete. Outbound (tc) rewrites the source with the skb helpers, which
 * also handle CHECKSUM_PARTIAL packets built by the local stack.
 */
#ifndef XDPFWD_NAT_H
#define XDPFWD_NAT_H

#include <linux/pkt_cls.h>
#include "addr.h"
#include "csum.h"
#include "frag.h"
#include "maps.h"
#include "parse.h"

/*
 * The entry of a mapped endpoint: FAMILY and PROTO (IPPROTO_TCP or
 * IPPROTO_UDP), ADDR (1 or 4 network-order words) and PORT (network order).
 * Outbound false: xdpfwd_fwd, by the public endpoint a packet is sent to;
 * true: xdpfwd_rev, by the client endpoint a packet comes from. One lookup
 * either way, since a wildcard mapping's entries are keyed by the address it
 * answers from. NULL: no mapping.
 */
static __always_inline struct xdpfwd_nat *nat_lookup(bool outbound, __u8 family, __u8 proto,
						     const __be32 *addr, __be16 port)
{
	struct xdpfwd_endpoint key;

	__builtin_memset(&key, 0, sizeof(key));
	key.family = family;
	key.proto = proto;
	key.port = port;
	addr_copy(&key.addr, family, addr);
	if (outbound)
		return bpf_map_lookup_elem(&xdpfwd_rev, &key);
	return bpf_map_lookup_elem(&xdpfwd_fwd, &key);
}

/* The mapping for the packet's destination address and port. Any other
 * destination (transit, broadcast, multicast, another address of the server)
 * matches nothing. A later fragment takes its first fragment's. */
static __always_inline struct xdpfwd_nat *lookup_inbound(const struct packet *pkt)
{
	if (pkt->frag == FRAG_LATER || !pkt->dport)
		return frag_lookup(pkt, false);
	return nat_lookup(false, pkt->family, pkt->proto, pkt->daddr, *pkt->dport);
}

/* The mapping for the packet's source address and port (a client's). */
static __always_inline struct xdpfwd_nat *lookup_outbound(const struct packet *pkt)
{
	if (pkt->frag == FRAG_LATER || !pkt->sport)
		return frag_lookup(pkt, true);
	return nat_lookup(true, pkt->family, pkt->proto, pkt->saddr, *pkt->sport);
}

/* UDP checksum 0 means "none" on IPv4: it stays 0. A UDP checksum that comes
 * out as 0 is sent as 0xffff, its other one's-complement form (RFC 768). */
static __always_inline void rewrite_destination(struct packet *pkt, const struct xdpfwd_nat *nat)
{
	bool udp = pkt->proto == IPPROTO_UDP;
	__u16 check;
	__u32 l4;

	if (pkt->frag == FRAG_LATER || !pkt->l4_check || !pkt->dport) {
		/* a later fragment: the address is all it has */
		if (pkt->family == AF_INET) {
			struct iphdr *ip = pkt->l3;
			__u32 l3 = csum_start(ip->check);

			l3 = csum_replace32(l3, pkt->daddr[0], nat->addr.v4);
			ip->check = csum_finish(l3);
			pkt->daddr[0] = nat->addr.v4;
		} else {
#pragma unroll
			for (int i = 0; i < 4; i++)
				pkt->daddr[i] = nat->addr.v6_words[i];
		}
		return;
	}
	bool l4_has_csum = !(udp && *pkt->l4_check == 0);

	l4 = csum_start(*pkt->l4_check);

	if (pkt->family == AF_INET) {
		struct iphdr *ip = pkt->l3;
		__u32 l3 = csum_start(ip->check);

		l3 = csum_replace32(l3, pkt->daddr[0], nat->addr.v4);
		l4 = csum_replace32(l4, pkt->daddr[0], nat->addr.v4);
		ip->check = csum_finish(l3);
		pkt->daddr[0] = nat->addr.v4;
	} else {
#pragma unroll
		for (int i = 0; i < 4; i++) {
			l4 = csum_replace32(l4, pkt->daddr[i], nat->addr.v6_words[i]);
			pkt->daddr[i] = nat->addr.v6_words[i];
		}
	}
	l4 = csum_replace16(l4, *pkt->dport, nat->port);
	*pkt->dport = nat->port;

	if (l4_has_csum) {
		check = csum_finish(l4);
		if (udp && check == 0)
			check = 0xffff;
		*pkt->l4_check = check;
	}
}

/* Offsets are taken before the first store: a store invalidates the packet
 * pointers. Returns 0 or a negative errno from the helpers. */
/* The source (DST false) or the destination (DST true) of a packet in an skb
 * becomes NAT's address and port. */
static __always_inline int rewrite_skb_endpoint(struct __sk_buff *skb, struct packet *pkt,
						const struct xdpfwd_nat *nat, bool dst)
{
	void *data = (void *)(long)skb->data;
	__be32 *addr = dst ? pkt->daddr : pkt->saddr;
	__be16 *port = dst ? pkt->dport : pkt->sport;
	__u32 saddr_off = (void *)addr - data;
	__u64 flags = pkt->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 sport_off, check_off;
	__be16 old_port;
	int ret;

	if (pkt->frag == FRAG_LATER || !pkt->l4_check || !port) {
		/* a later fragment: the address only */
		if (pkt->family == AF_INET) {
			__u32 ip_check_off = pkt->l3 + offsetof(struct iphdr, check) - data;

			ret = bpf_l3_csum_replace(skb, ip_check_off, addr[0], nat->addr.v4,
						  sizeof(__be32));
			return ret
				   ?: bpf_skb_store_bytes(skb, saddr_off, &nat->addr.v4,
							  sizeof(__be32), 0);
		}
		return bpf_skb_store_bytes(skb, saddr_off, nat->addr.bytes, 16, 0);
	}
	sport_off = (void *)port - data;
	check_off = (void *)pkt->l4_check - data;
	old_port = *port;
	if (pkt->family == AF_INET) {
		__u32 ip_check_off = pkt->l3 + offsetof(struct iphdr, check) - data;
		__be32 old = addr[0];

		ret = bpf_l4_csum_replace(skb, check_off, old, nat->addr.v4,
					  flags | BPF_F_PSEUDO_HDR | sizeof(__be32));
		ret = ret
			  ?: bpf_l3_csum_replace(skb, ip_check_off, old, nat->addr.v4,
						 sizeof(__be32));
		ret = ret ?: bpf_skb_store_bytes(skb, saddr_off, &nat->addr.v4, sizeof(__be32), 0);
	} else {
		__be32 old[4];
		__s64 diff;

		__builtin_memcpy(old, addr, sizeof(old));
		diff =
		    bpf_csum_diff(old, sizeof(old), (__be32 *)nat->addr.v6_words, sizeof(old), 0);
		ret = bpf_l4_csum_replace(skb, check_off, 0, diff, flags | BPF_F_PSEUDO_HDR);
		ret = ret ?: bpf_skb_store_bytes(skb, saddr_off, nat->addr.bytes, 16, 0);
	}
	ret =
	    ret ?: bpf_l4_csum_replace(skb, check_off, old_port, nat->port, flags | sizeof(__be16));
	ret = ret ?: bpf_skb_store_bytes(skb, sport_off, &nat->port, sizeof(__be16), 0);
	return ret;
}

static __always_inline int rewrite_source(struct __sk_buff *skb, struct packet *pkt,
					  const struct xdpfwd_nat *nat)
{
	return rewrite_skb_endpoint(skb, pkt, nat, false);
}

#endif /* XDPFWD_NAT_H */
