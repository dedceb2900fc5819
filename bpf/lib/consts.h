/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * consts.h - the data path's own constants, each with why it has its value
 * (after Katran's balancer_consts.h). Only the BPF object uses these; values
 * the loader shares (map sizes, policy bits, counter codes, the metadata
 * magics, XDPFWD_TC_INDEX_TRANSLATED) are ABI and stay in include/xdpfwd.h.
 * Byte order: every mask below is in host order, to be compared after
 * bpf_htons()/bpf_htonl(), except IPV6_FLOWINFO_MASK, which is network order.
 */
#ifndef XDPFWD_CONSTS_H
#define XDPFWD_CONSTS_H

#include <bpf/bpf_endian.h>

/* Address families as the kernel numbers them (include/linux/socket.h):
 * libc's sys/socket.h is not there for a BPF build. */
#ifndef AF_INET
#define AF_INET	 2
#define AF_INET6 10
#endif

/* ICMPv6's next-header number (RFC 4443); linux/in6.h, which has it, pulls
 * in libc headers. */
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* The ICMP error types translated (RFC 792, RFC 4443); linux/icmp.h would
 * pull in libc headers. Every other type is left alone. */
#define ICMP_DEST_UNREACH   3
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG   2
#define ICMPV6_TIME_EXCEED  3
#define ICMPV6_PARAMPROB    4

/* RFC 792 (and RFC 4443 in practice): an error quotes at least the first 8
 * bytes after the quoted IP header, which hold both ports. */
#define ICMP_QUOTE_MIN_L4 8

/* VLAN tags parse_packet() looks through: an 802.1Q tag inside an 802.1ad
 * one (QinQ), the most a provider hands over. */
#define XDPFWD_MAX_VLAN_TAGS 2

/* Deep enough for hop-by-hop, routing, destination options and AH together,
 * small enough to keep the verifier's unrolled loop short. */
#define XDPFWD_MAX_EXT_HEADERS 6

/* Where an IP header can start in a frame parse_packet() accepts: after
 * Ethernet (14) and XDPFWD_MAX_VLAN_TAGS tags (4 each). A kept copy of a
 * fragment (frag.h) with its IP header further in is not ours. */
#define XDPFWD_MAX_L3_OFF 22

/* The furthest a header parse_ip() uses may start in a packet: past any
 * real chain of headers, and small enough for the verifier to track the
 * offset's sum with a header's length (MAX_PACKET_OFF, 65535, in
 * include/linux/bpf_verifier.h). A transport header further in is counted as
 * truncated. */
#define XDPFWD_MAX_PARSE_OFF 16384

/* IPv4 frag_off (RFC 791 section 3.1): "more fragments", and the offset in
 * 8-byte units; a packet with either is a fragment, one with an offset a
 * later fragment. Host order. */
#define IPV4_MF	    0x2000
#define IPV4_OFFSET 0x1fff

/* IPv6 fragment header's frag_off (RFC 8200 section 4.5): the offset, in the
 * top 13 bits; non-zero is a later fragment. Host order. */
#define IPV6_FRAG_OFFSET 0xfff8

/* Traffic class and flow label, the first word of the IPv6 header without
 * its version: what bpf_fib_lookup() takes as flowinfo, for multipath routes
 * hashed by flow label. Network order. */
#define IPV6_FLOWINFO_MASK bpf_htonl(0x0fffffff)

/* Headers a packet may need in tc's linear area, pulled for an ICMP error's
 * quote: Ethernet, two VLAN tags, IPv6 with the longest extension chain we
 * parse, TCP. */
#define XDPFWD_PULL_LEN 256

/* Refresh a shared last-seen time (xdpfwd_flows, xdpfwd_stack, xdpfwd_owned)
 * at most once a second: a cache line written per packet would bounce
 * between CPUs, and the idle timeouts it is compared with are 30 s and more. */
#define XDPFWD_REFRESH_NS 1000000000ULL

/* What a step of an entry point returns when the packet is not done with
 * and the next step takes it: no XDP verdict (0..4) and no tc action (-1 and
 * up) is this. */
#define XDPFWD_GO_ON (-2)

#endif /* XDPFWD_CONSTS_H */
