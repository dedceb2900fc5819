// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include "packet.h"

static __u32 sum16(const __u8 *p, size_t len, __u32 acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (p[i] << 8) | p[i + 1];
	if (len & 1)
		acc += p[len - 1] << 8;
	return acc;
}

static __u16 fold(__u32 acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return ~acc & 0xffff;
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static __u16 last_l4_checksum;

size_t build_packet(const struct pkt_spec *s, __u8 *buf)
{
	static const __u8 dmac[6] = {0x02, 0, 0, 0, 0, 0x01}, smac[6] = {0x02, 0, 0, 0, 0, 0x02};
	bool v6 = s->family == AF_INET6;
	__u8 saddr[16] = {0}, daddr[16] = {0};
	size_t alen = v6 ? 16 : 4, off = 12, l3, l4, l4len, len;
	__u16 ethertype = s->ethertype ? s->ethertype : v6 ? ETH_P_IPV6 : ETH_P_IP;
	int hdrlen = s->proto == IPPROTO_TCP ? 20 : 8;
	__u32 acc;

	memset(buf, 0, PKT_MAX);
	memcpy(buf, s->dmac ? s->dmac : dmac, 6);
	memcpy(buf + 6, s->smac ? s->smac : smac, 6);
	for (int i = 0; i < 2 && s->tpid[i]; i++) {
		put16(buf + off, s->tpid[i]);
		put16(buf + off + 2, 100 + i); /* VLAN id */
		off += 4;
	}
	put16(buf + off, ethertype);
	l3 = off + 2;
	inet_pton(s->family, s->saddr, saddr);
	inet_pton(s->family, s->daddr, daddr);

	if (!v6) {
		size_t ihl = 20 + s->ip_options;

		l4 = l3 + ihl;
		buf[l3] = 0x40 | (ihl / 4);
		put16(buf + l3 + 4, s->frag_id ? s->frag_id : 0x1234);
		put16(buf + l3 + 6, s->frag_off ? s->frag_off : 0x4000 /* DF */);
		buf[l3 + 8] = s->ttl ? s->ttl : 64;
		buf[l3 + 9] = s->proto;
		memcpy(buf + l3 + 12, saddr, 4);
		memcpy(buf + l3 + 16, daddr, 4);
		memset(buf + l3 + 20, 1 /* NOP */, s->ip_options);
	} else {
		__u8 *next = buf + l3 + 6;

		l4 = l3 + 40;
		buf[l3] = 0x60;
		buf[l3 + 7] = s->ttl ? s->ttl : 64;
		memcpy(buf + l3 + 8, saddr, 16);
		memcpy(buf + l3 + 24, daddr, 16);
		for (int i = 0; i < 8 && s->ext[i]; i++) {
			*next = s->ext[i];
			next = buf + l4;
			if (s->ext[i] == IPPROTO_AH) {
				buf[l4 + 1] = 1; /* (1 + 2) * 4 = 12 bytes */
				l4 += 12;
			} else {
				/* hop-by-hop, routing, destination options, fragment: 8 bytes */
				if (s->ext[i] != IPPROTO_FRAGMENT && s->ext[i] != IPPROTO_ROUTING) {
					buf[l4 + 2] = 1; /* PadN */
					buf[l4 + 3] = 4;
				}
				if (s->ext[i] == IPPROTO_FRAGMENT) {
					__u32 id = s->frag_id ? s->frag_id : 0x1234;

					put16(buf + l4 + 2, s->v6_frag_off);
					put16(buf + l4 + 4, id >> 16);
					put16(buf + l4 + 6, id & 0xffff);
				}
				l4 += 8;
			}
		}
		*next = s->proto;
	}

	if (s->no_l4)
		hdrlen = 0;
	l4len = hdrlen + s->payload;
	for (int i = 0; i < s->payload; i++)
		buf[l4 + hdrlen + i] = (i * 7 + 3) & 0xff;
	if (s->quote) {
		/* ICMP error header, then the quoted IP packet (built the same
		 * way, without its Ethernet header, cut to quote_len). */
		__u8 quoted[PKT_MAX];
		size_t qlen = build_packet(s->quote, quoted) - ETH_HLEN;

		if (s->quote_len > 0 && (size_t)s->quote_len < qlen)
			qlen = s->quote_len;
		l4len = 8 + qlen;
		memcpy(buf + l4 + 8, quoted + ETH_HLEN, qlen);
	}
	if (s->tail_set)
		put16(buf + l4 + l4len - 2, s->tail);
	len = l4 + l4len;
	if (!v6)
		put16(buf + l3 + 2, len - l3);
	else
		put16(buf + l3 + 4, len - l3 - 40);

	if (s->quote) {
		buf[l4] = s->icmp_type;
		buf[l4 + 1] = s->icmp_code;
		put16(buf + l4 + 2, 0);
		put16(buf + l4 + 4, s->icmp_rest >> 16);
		put16(buf + l4 + 6, s->icmp_rest & 0xffff);
		acc = 0;
		if (v6) { /* ICMPv6 sums a pseudo-header; ICMPv4 does not */
			acc = sum16(saddr, alen, 0);
			acc = sum16(daddr, alen, acc);
			acc += s->proto + l4len;
		}
		put16(buf + l4 + 2, fold(sum16(buf + l4, l4len, acc)));
	} else if (!s->no_l4) {
		put16(buf + l4, s->sport);
		put16(buf + l4 + 2, s->dport);
	}
	if (s->no_l4) {
		/* payload only */
	} else if (s->proto == IPPROTO_TCP) {
		buf[l4 + 12] = 5 << 4;				   /* data offset */
		buf[l4 + 13] = s->tcp_flags ? s->tcp_flags : 0x18; /* PSH ACK */
		put16(buf + l4 + 14, 512);
	} else if (s->proto == IPPROTO_UDP) {
		put16(buf + l4 + 4, l4len);
	}
	if (!s->no_l4 && (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP)) {
		size_t check = l4 + (s->proto == IPPROTO_TCP ? 16 : 6);
		__u16 c;

		acc = sum16(saddr, alen, 0);
		acc = sum16(daddr, alen, acc);
		acc += s->proto + l4len;
		acc = sum16(buf + l4, l4len, acc);
		c = fold(acc);
		last_l4_checksum = c;
		if (s->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		if (s->proto == IPPROTO_UDP && s->udp_no_csum)
			c = 0;
		put16(buf + check, c);
	}
	if (!v6)
		put16(buf + l3 + 10, fold(sum16(buf + l3, l4 - l3, 0)));
	if (s->truncate > 0 && (size_t)s->truncate < len)
		len = s->truncate;
	return len;
}

__u16 l4_checksum_of(const struct pkt_spec *s)
{
	__u8 buf[PKT_MAX];

	build_packet(s, buf);
	return last_l4_checksum;
}

void hexdump(const char *label, const __u8 *buf, size_t len)
{
	fprintf(stderr, "    %s (%zu bytes):", label, len);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n      ", buf[i]);
	fprintf(stderr, "\n");
}
