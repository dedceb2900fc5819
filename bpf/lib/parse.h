/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * parse.h - find the IP and TCP/UDP headers of a frame, for XDP and tc alike.
 *
 * Contract: parse_packet() reads only between data and data_end and never
 * writes. It accepts Ethernet with up to two VLAN tags (802.1Q, 802.1ad),
 * IPv4 with any header length, IPv6 with up to XDPFWD_MAX_EXT_HEADERS
 * extension headers, then TCP or UDP. It returns an enum parse_result, the
 * same whichever way the packet goes: PARSE_OK when the packet can be
 * translated, otherwise why not. Each hook counts that under its own counter
 * (parse_reason_in(), parse_reason_out()).
 *
 * Fragments: a first fragment (offset 0) is parsed like any packet and marked
 * FRAG_FIRST; a later one has no transport header, so parsing stops at the IP
 * header, marks it FRAG_LATER and leaves the port pointers NULL: frag.h finds
 * its translation under the first fragment's ports.
 */
#ifndef XDPFWD_PARSE_H
#define XDPFWD_PARSE_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "xdpfwd.h"

/* What parse_packet() found, whichever way the packet goes. */
enum parse_result {
	PARSE_OK,	   /* TCP or UDP with both ports, or a later fragment of either */
	PARSE_NOT_IP,	   /* neither IPv4 nor IPv6, or a bad version or header length */
	PARSE_NOT_TCP_UDP, /* IP of another protocol (pkt->proto), ICMP among them */
	PARSE_TRUNCATED,   /* a header runs past data_end */
	PARSE_EXT_HEADERS, /* more than XDPFWD_MAX_EXT_HEADERS IPv6 extension headers */
};

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* Where the translatable fields of a parsed packet are. */
struct packet {
	void *l3;      /* struct iphdr or struct ipv6hdr */
	void *l4;      /* struct tcphdr or struct udphdr */
	__be32 *saddr; /* 1 word for IPv4, 4 for IPv6 */
	__be32 *daddr;
	__be16 *sport;
	__be16 *dport;
	__sum16 *l4_check;
	/* The TCP header, checked whole; NULL for UDP and a later fragment.
	 * Its own pointer rather than proto and l4: a test of it tells the
	 * verifier the header's length, whatever registers clang gave proto. */
	struct tcphdr *tcp;
	__u8 family;
	__u8 proto;
	__u16 ip_bytes;	  /* IP header and payload, for the counters */
	bool vlan_tagged; /* the frame carries a VLAN tag of the ingress */
	__u8 frag;	  /* FRAG_NONE, FRAG_FIRST or FRAG_LATER */
	__be32 frag_id;	  /* IPv4: the 16-bit id; IPv6: the fragment header's */
};

enum { FRAG_NONE, FRAG_FIRST, FRAG_LATER };

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 identification;
};

static __always_inline int parse_ipv6_ext(void **cursor, void *data_end, __u8 *nexthdr,
					  struct packet *pkt)
{
	void *cur = *cursor;

#pragma unroll
	for (int i = 0; i < XDPFWD_MAX_EXT_HEADERS; i++) {
		struct ipv6_opt_hdr *opt = cur;

		switch (*nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(opt + 1) > data_end)
				return PARSE_TRUNCATED;
			*nexthdr = opt->nexthdr;
			cur += (opt->hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if ((void *)(opt + 1) > data_end)
				return PARSE_TRUNCATED;
			*nexthdr = opt->nexthdr;
			cur += (opt->hdrlen + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			struct ipv6_frag_hdr *fh = cur;

			if ((void *)(fh + 1) > data_end)
				return PARSE_TRUNCATED;
			*nexthdr = fh->nexthdr;
			pkt->frag_id = fh->identification;
			pkt->frag =
			    fh->frag_off & bpf_htons(IPV6_FRAG_OFFSET) ? FRAG_LATER : FRAG_FIRST;
			cur += sizeof(*fh);
			if (pkt->frag == FRAG_LATER) {
				*cursor = cur;
				return PARSE_OK;
			}
			break;
		}
		default:
			*cursor = cur;
			return PARSE_OK;
		}
	}
	return PARSE_EXT_HEADERS;
}

/* From the IP header at CUR on, ETHERTYPE saying which. L3 devices (the
 * tunnel) hand their packets to tc this way, without an Ethernet header. */
/* PTR, a place in the packet that starts at DATA, checked again to hold LEN
 * bytes, as the verifier is to see it: DATA plus an offset it cannot know.
 * The difference of two packet pointers is an unknown scalar to it
 * (adjust_reg_min_max_vals() in kernel/bpf/verifier.c), so every header
 * layout parse_ip() meets (VLAN tags, IPv4 options, IPv6 extension headers)
 * leaves the same state behind: without this the verifier follows each
 * layout through every later step as a state of its own, and xdpfwd_in
 * cost it 854k instructions of its 1M. NULL when PTR + LEN is past DATA_END
 * or PTR past XDPFWD_MAX_PARSE_OFF. At run time: a subtraction, an addition
 * and two compares. */
static __always_inline void *packet_rebase(void *data, void *data_end, void *ptr, __u32 len)
{
	__u64 off = ptr - data;

	barrier_var(off); /* or the compiler gives PTR back */
	if (off > XDPFWD_MAX_PARSE_OFF)
		return NULL;
	ptr = data + off;
	if (ptr + len > data_end)
		return NULL;
	return ptr;
}

static __always_inline int parse_ip(void *data, void *cur, void *data_end, __be16 ethertype,
				    struct packet *pkt)
{
	__u8 proto;

	pkt->l3 = cur;
	pkt->l4 = NULL; /* defined on every path: clang may copy it before a test */
	pkt->frag = FRAG_NONE;
	pkt->sport = pkt->dport = NULL;
	pkt->l4_check = NULL;
	pkt->tcp = NULL;
	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return PARSE_TRUNCATED;
		ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(*ip))
			return PARSE_NOT_IP;
		if (cur + ihl > data_end)
			return PARSE_TRUNCATED;
		ip = packet_rebase(data, data_end, ip, sizeof(*ip));
		if (!ip)
			return PARSE_TRUNCATED;
		pkt->l3 = ip;
		pkt->family = AF_INET;
		pkt->saddr = &ip->saddr;
		pkt->daddr = &ip->daddr;
		pkt->ip_bytes = bpf_ntohs(ip->tot_len);
		proto = ip->protocol;
		cur += ihl;
		if (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET)) {
			pkt->frag_id = ip->id;
			pkt->frag = ip->frag_off & bpf_htons(IPV4_OFFSET) ? FRAG_LATER : FRAG_FIRST;
		}
	} else if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		int ret;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_TRUNCATED;
		if (ip6->version != 6)
			return PARSE_NOT_IP;
		ip6 = packet_rebase(data, data_end, ip6, sizeof(*ip6));
		if (!ip6)
			return PARSE_TRUNCATED;
		pkt->l3 = ip6;
		pkt->family = AF_INET6;
		pkt->saddr = ip6->saddr.in6_u.u6_addr32;
		pkt->daddr = ip6->daddr.in6_u.u6_addr32;
		pkt->ip_bytes = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		proto = ip6->nexthdr;
		cur = ip6 + 1;
		ret = parse_ipv6_ext(&cur, data_end, &proto, pkt);
		if (ret != PARSE_OK)
			return ret;
	} else {
		return PARSE_NOT_IP;
	}

	pkt->proto = proto;
	pkt->l4 = cur = packet_rebase(data, data_end, cur, 0);
	if (!cur)
		return PARSE_TRUNCATED;
	if (pkt->frag == FRAG_LATER)
		return proto == IPPROTO_TCP || proto == IPPROTO_UDP ? PARSE_OK : PARSE_NOT_TCP_UDP;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = cur;

		if ((void *)(tcp + 1) > data_end)
			return PARSE_TRUNCATED;
		pkt->l4_check = &tcp->check;
		pkt->tcp = tcp;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = cur;

		if ((void *)(udp + 1) > data_end)
			return PARSE_TRUNCATED;
		pkt->l4_check = &udp->check;
	} else {
		return PARSE_NOT_TCP_UDP;
	}
	/* TCP and UDP both open with source port, then destination port. */
	pkt->sport = cur;
	pkt->dport = cur + sizeof(__be16);
	return PARSE_OK;
}

static __always_inline int parse_packet(void *data, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__be16 ethertype;

	pkt->l4 = NULL; /* as in parse_ip(), on the early returns too */
	if (cur > data_end)
		return PARSE_TRUNCATED;
	ethertype = eth->h_proto;

#pragma unroll
	for (int i = 0; i < XDPFWD_MAX_VLAN_TAGS; i++) {
		struct vlan_tag *tag = cur;

		if (ethertype != bpf_htons(ETH_P_8021Q) && ethertype != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 1) > data_end)
			return PARSE_TRUNCATED;
		ethertype = tag->encapsulated_proto;
		cur = tag + 1;
	}

	pkt->vlan_tagged = cur != eth + 1;
	return parse_ip(data, cur, data_end, ethertype, pkt);
}

/* The counter of a packet xdpfwd_in leaves alone, by why (RES, not PARSE_OK). */
static __always_inline __u32 parse_reason_in(int res)
{
	switch (res) {
	case PARSE_NOT_IP:
		return XDPFWD_STAT_IN_PASS_NOT_IP;
	case PARSE_NOT_TCP_UDP:
		return XDPFWD_STAT_IN_PASS_NOT_TCP_UDP;
	case PARSE_TRUNCATED:
		return XDPFWD_STAT_IN_PASS_TRUNCATED;
	default:
		return XDPFWD_STAT_IN_PASS_EXT_HEADERS;
	}
}

/* The same for xdpfwd_out. */
static __always_inline __u32 parse_reason_out(int res)
{
	switch (res) {
	case PARSE_NOT_IP:
		return XDPFWD_STAT_OUT_PASS_NOT_IP;
	case PARSE_NOT_TCP_UDP:
		return XDPFWD_STAT_OUT_PASS_NOT_TCP_UDP;
	case PARSE_TRUNCATED:
		return XDPFWD_STAT_OUT_PASS_TRUNCATED;
	default:
		return XDPFWD_STAT_OUT_PASS_EXT_HEADERS;
	}
}

#endif /* XDPFWD_PARSE_H */
