/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * packet.h - build test frames from a description, with every checksum
 * computed from scratch (never incrementally), so a test compares the
 * program's output against an independent construction.
 */
#ifndef XDPFWD_TEST_PACKET_H
#define XDPFWD_TEST_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PKT_MAX 2048

struct pkt_spec {
	__u16 tpid[2];	 /* VLAN tags outermost first; 0 ends the list */
	__u16 ethertype; /* 0: from the family */
	int family;	 /* AF_INET or AF_INET6 */
	int proto;	 /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ... */
	const char *saddr, *daddr;
	__u16 sport, dport;
	int ip_options;	  /* IPv4 option bytes, a multiple of 4 */
	__u8 ext[8];	  /* IPv6 extension headers in order; 0 ends the list */
	__u16 frag_off;	  /* IPv4 MF and offset bits */
	int payload;	  /* bytes after the L4 header, even */
	bool udp_no_csum; /* send UDP with checksum 0 */
	bool tail_set;	  /* last payload word is TAIL, not the pattern */
	__u16 tail;
	int truncate;		 /* keep only this many bytes, when > 0 */
	bool no_l4;		 /* a later fragment: payload right after the IP headers */
	__u16 v6_frag_off;	 /* IPv6 fragment header: offset << 3 | M */
	__u32 frag_id;		 /* IPv4 id (16 bits) or IPv6 fragment id; 0: 0x1234 */
	int ttl;		 /* TTL or hop limit; 0: 64 */
	__u8 tcp_flags;		 /* 0: PSH ACK */
	const __u8 *dmac, *smac; /* NULL: 02:00:00:00:00:01 and :02 */
	/* An ICMP or ICMPv6 error: type, code, the 4 bytes after the checksum,
	 * and the packet it quotes (QUOTE_LEN bytes of its IP packet; 0: all). */
	const struct pkt_spec *quote;
	__u8 icmp_type, icmp_code;
	__u32 icmp_rest;
	int quote_len;
};

/* Returns the frame length. */
size_t build_packet(const struct pkt_spec *s, __u8 *buf);
/* The raw L4 checksum field of a frame built from S (before a 0 becomes 0xffff). */
__u16 l4_checksum_of(const struct pkt_spec *s);
/* Prints a hex dump with a label, for failures. */
void hexdump(const char *label, const __u8 *buf, size_t len);

#endif
