/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * icmp.h - ICMP errors about a mapped flow, translated like the flow.
 *
 * An error quotes the packet that caused it. Inbound, an internet host's or
 * router's error is about a packet the client sent, which left with the
 * public endpoint as its source: the quoted source goes back to the client's
 * address and port, and so does the error's destination. Outbound, an error
 * about a packet that went to the client (sent by the client, or by this
 * server for a packet too big for the tunnel) quotes the client's endpoint as
 * destination: it becomes the public one, and the error's source too when the
 * client itself sent it. Every checksum that covers a changed word follows:
 * the outer IPv4 header, the ICMP checksum (with the ICMPv6 pseudo-header),
 * the quoted IPv4 header and the quoted UDP or TCP checksum when it is there.
 * Packets are written directly: ICMP errors carry full checksums (the stack
 * builds them in software), which is what incremental updates need.
 */
#ifndef XDPFWD_ICMP_H
#define XDPFWD_ICMP_H

#include "addr.h"
#include "consts.h"
#include "csum.h"
#include "nat.h"

/* ICMP and ICMPv6 errors share this header; the quote follows it. */
struct icmp_error_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* unused, or the MTU of "fragmentation needed" / "too big" */
};

struct icmp_quote {
	__sum16 *icmp_check;
	void *ip; /* the quoted IP header */
	__be32 *saddr, *daddr;
	__be16 *sport, *dport;
	__sum16 *l4_check; /* NULL when the quote is cut before it */
	__u8 proto;	   /* of the quoted packet */
};

static __always_inline bool icmp_is_error(const struct packet *pkt, __u8 type)
{
	if (pkt->family == AF_INET)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG ||
	       type == ICMPV6_TIME_EXCEED || type == ICMPV6_PARAMPROB;
}

/* 0 and Q filled, or -1: not an error with a quoted TCP or UDP packet. */
static __always_inline int parse_icmp_error(const struct packet *pkt, void *data, void *data_end,
					    struct icmp_quote *q)
{
	struct icmp_error_hdr *icmp = pkt->l4;
	void *inner = (void *)(icmp + 1), *l4;

	if (pkt->frag != FRAG_NONE || inner > data_end || !icmp_is_error(pkt, icmp->type))
		return -1;
	q->icmp_check = &icmp->checksum;
	q->ip = inner;
	if (pkt->family == AF_INET) {
		struct iphdr *ip = inner;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return -1;
		if (ip->frag_off & bpf_htons(IPV4_OFFSET))
			return -1; /* a later fragment: no ports to go by */
		l4 = inner + ip->ihl * 4;
		q->saddr = &ip->saddr;
		q->daddr = &ip->daddr;
		q->proto = ip->protocol;
	} else {
		struct ipv6hdr *ip6 = inner;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return -1;
		l4 = ip6 + 1;
		q->saddr = ip6->saddr.in6_u.u6_addr32;
		q->daddr = ip6->daddr.in6_u.u6_addr32;
		q->proto = ip6->nexthdr;
		/* A first fragment is quoted with its fragment header (a packet
		 * too big for the tunnel often is one); other extension headers
		 * are left alone. */
		if (q->proto == IPPROTO_FRAGMENT) {
			struct ipv6_frag_hdr *fh = l4;

			if ((void *)(fh + 1) > data_end ||
			    fh->frag_off & bpf_htons(IPV6_FRAG_OFFSET))
				return -1;
			q->proto = fh->nexthdr;
			l4 = fh + 1;
		}
	}
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP)
		return -1;
	/* One state for the verifier, whatever the quote's layout (parse.h). */
	l4 = packet_rebase(data, data_end, l4, ICMP_QUOTE_MIN_L4);
	if (!l4)
		return -1;
	q->sport = l4;
	q->dport = l4 + 2;
	q->l4_check = NULL;
	if (q->proto == IPPROTO_UDP)
		q->l4_check = l4 + offsetof(struct udphdr, check);
	else if (l4 + offsetof(struct tcphdr, check) + sizeof(__sum16) <= data_end)
		q->l4_check = l4 + offsetof(struct tcphdr, check);
	return 0;
}

/* The mapping the quoted packet belongs to: inbound by its source (the public
 * endpoint the client's packet left with), outbound by its destination (the
 * client's endpoint). */
static __always_inline struct xdpfwd_nat *icmp_lookup(const struct packet *pkt,
						      const struct icmp_quote *q, bool outbound)
{
	if (outbound)
		return nat_lookup(true, pkt->family, q->proto, q->daddr, *q->dport);
	return nat_lookup(false, pkt->family, q->proto, q->saddr, *q->sport);
}

/* Replaces the address at ADDR (1 or 4 words) with NEW, feeding every changed
 * word to the accumulators given (NULL: none). */
static __always_inline void swap_addr(const struct packet *pkt, __be32 *addr,
				      const union xdpfwd_addr *new, __u32 *acc1, __u32 *acc2,
				      __u32 *acc3)
{
	int words = pkt->family == AF_INET ? 1 : 4;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= words)
			break;
		if (acc1)
			*acc1 = csum_replace32(*acc1, addr[i], new->v6_words[i]);
		if (acc2)
			*acc2 = csum_replace32(*acc2, addr[i], new->v6_words[i]);
		if (acc3)
			*acc3 = csum_replace32(*acc3, addr[i], new->v6_words[i]);
		addr[i] = new->v6_words[i];
	}
}

/*
 * Rewrites the error in place: the quoted endpoint (source inbound,
 * destination outbound) becomes NAT's, and the outer address that names the
 * same host (destination inbound; source outbound, when the client sent the
 * error) too.
 */
static __always_inline void translate_icmp_error(struct packet *pkt, struct icmp_quote *q,
						 const struct xdpfwd_nat *nat, bool outbound)
{
	bool v4 = pkt->family == AF_INET;
	__be32 *outer = outbound ? pkt->saddr : pkt->daddr;
	__be32 *quoted_addr = outbound ? q->daddr : q->saddr;
	__be16 *quoted_port = outbound ? q->dport : q->sport;
	bool outer_too = !outbound;
	__u32 icmp = csum_start(*q->icmp_check), l4 = 0, ip = 0;
	bool l4_has_csum = q->l4_check && !(q->proto == IPPROTO_UDP && *q->l4_check == 0);
	__sum16 check;

	/* Outbound, the outer source is the client only when it sent the error
	 * itself; an error from this server keeps its address. */
	if (outbound)
		outer_too = addr_equal(pkt->family, outer, quoted_addr);
	if (outer_too) {
		if (v4) {
			struct iphdr *iph = pkt->l3;

			ip = csum_start(iph->check);
			swap_addr(pkt, outer, &nat->addr, &ip, NULL, NULL);
			iph->check = csum_finish(ip);
		} else {
			/* the ICMPv6 checksum covers the outer addresses */
			swap_addr(pkt, outer, &nat->addr, &icmp, NULL, NULL);
		}
	}

	if (l4_has_csum)
		l4 = csum_start(*q->l4_check);
	if (v4) {
		struct iphdr *qip = q->ip;
		__u32 qsum = csum_start(qip->check);
		__sum16 old = qip->check;

		swap_addr(pkt, quoted_addr, &nat->addr, &qsum, &icmp, l4_has_csum ? &l4 : NULL);
		qip->check = csum_finish(qsum);
		icmp = csum_replace16(icmp, old, qip->check);
	} else {
		swap_addr(pkt, quoted_addr, &nat->addr, &icmp, l4_has_csum ? &l4 : NULL, NULL);
	}
	icmp = csum_replace16(icmp, *quoted_port, nat->port);
	if (l4_has_csum)
		l4 = csum_replace16(l4, *quoted_port, nat->port);
	*quoted_port = nat->port;
	if (l4_has_csum) {
		check = csum_finish(l4);
		if (q->proto == IPPROTO_UDP && check == 0)
			check = 0xffff;
		icmp = csum_replace16(icmp, *q->l4_check, check);
		*q->l4_check = check;
	}
	*q->icmp_check = csum_finish(icmp);
}

static __always_inline bool is_icmp(const struct packet *pkt)
{
	return pkt->family == AF_INET ? pkt->proto == IPPROTO_ICMP : pkt->proto == IPPROTO_ICMPV6;
}

#endif /* XDPFWD_ICMP_H */
