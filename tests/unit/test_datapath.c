// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The BPF programs through BPF_PROG_TEST_RUN. Each case: a packet built from a
 * spec, the program it goes through, the expected verdict, the expected
 * output (the same spec with the destination or source rewritten, checksums
 * computed from scratch; or the input unchanged), and the expected counter
 * deltas. The mappings are installed by the tool's own parse, validate and
 * apply code.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fixture.h"
#include "harness.h"
#include "packet.h"
#include "strbuf.h"
#include "table.h"
#include "xdpfwd.skel.h"

/*
 * The mappings the cases name. The test table is these lines in this order,
 * so a mapping's enum value is its line number in it (slot_of finds its slot
 * by that line).
 */
enum mapping {
	NO_MAPPING,	/* no mapping's counters may grow */
	TCP4_EXACT,	/* exact IPv4 */
	UDP4_TO_53,	/* another target port */
	TCP4_WILDCARD,	/* wildcard IPv4: answers on 203.0.113.10 */
	TCP4_NEXT_PORT, /* an exact one on the port after the wildcard's */
	UDP4_RANGE,	/* a range */
	TCP6_EXACT,	/* exact IPv6 */
	UDP6_WILDCARD,	/* wildcard IPv6 */
	MAPPINGS
};

static const char *const test_mappings[MAPPINGS] = {
    [TCP4_EXACT] = "tcp 203.0.113.10:40000 10.8.0.2",
    [UDP4_TO_53] = "udp 203.0.113.10:5353 10.8.0.2:53",
    [TCP4_WILDCARD] = "tcp 41000 10.8.0.3",
    [TCP4_NEXT_PORT] = "tcp 203.0.113.10:41001 10.8.0.4",
    [UDP4_RANGE] = "udp 6000-6009 10.8.0.5:7000-7009",
    [TCP6_EXACT] = "tcp [2001:db8:1::10]:40000 [fd00:8::2]",
    [UDP6_WILDCARD] = "udp 5353 [fd00:8::2]:53",
};

enum prog { XDP_IN, TC_OUT };

/*
 * One case, with designated fields: NAME, PROG and IN always; the rest when
 * they differ from zero.
 */
struct dp_case {
	const char *name;
	enum prog prog;
	struct pkt_spec in;
	/* The address and port the program writes: the destination inbound,
	 * the source outbound. NULL: the output must equal the input. */
	const char *rw_addr;
	__u16 rw_port;
	int stat;		       /* the one global counter that must grow by one */
	enum mapping mapping;	       /* whose packet and byte counters grow by one */
	bool zero_after;	       /* pick the payload so the rewritten UDP sum is 0 */
	int also_stat;		       /* a second counter that grows by one (0: none) */
	const struct pkt_spec *expect; /* the expected output, when not IN rewritten */
	/* Fragments ahead of their first (frag.h). HELD: a later fragment no
	 * first has claimed: passed, and its frame copied to xdpfwd_held.
	 * REPLAY: a first fragment with that many copies: translated, it
	 * leaves with a replay note for tc (exit in_stack_fragment_replay).
	 * CLOCK_S: seconds after TEST_CLOCK_NS the fragment arrives. */
	bool held;
	__u32 replay;
	__u32 clock_s;
	__u64 clock; /* the programs' "now" (policy_clock_ns); 0: real */
};

#define V4	   .family = AF_INET
#define V6	   .family = AF_INET6
#define TCP	   .proto = IPPROTO_TCP
#define UDP	   .proto = IPPROTO_UDP
#define FROM_INET4 .saddr = "198.51.100.7", .sport = 33333
#define FROM_INET6 .saddr = "2001:db8:2::7", .sport = 33333
#define TO_PUB4(p) .daddr = "203.0.113.10", .dport = (p)
#define TO_PUB6(p) .daddr = "2001:db8:1::10", .dport = (p)
#define FWD	   XDPFWD_STAT_IN_FORWARDED
#define NOMAP	   XDPFWD_STAT_IN_PASS_NO_MAPPING
#define TRUNC	   XDPFWD_STAT_IN_PASS_TRUNCATED
#define OUT(...)   .prog = TC_OUT, .in = {__VA_ARGS__, .daddr = "198.51.100.7", .dport = 33333}

/* ICMP errors: the packets they quote, as they travelled (after translation),
 * and as the client knows them (before). */
#define Q_UDP4(src, sp, dst, dp)                                                             \
	{                                                                                    \
		V4, UDP, .saddr = src, .sport = sp, .daddr = dst, .dport = dp, .payload = 20 \
	}
#define Q_TCP4(src, sp, dst, dp)                                                             \
	{                                                                                    \
		V4, TCP, .saddr = src, .sport = sp, .daddr = dst, .dport = dp, .payload = 20 \
	}
#define Q_UDP6(src, sp, dst, dp)                                                             \
	{                                                                                    \
		V6, UDP, .saddr = src, .sport = sp, .daddr = dst, .dport = dp, .payload = 20 \
	}
#define Q_TCP6(src, sp, dst, dp)                                                             \
	{                                                                                    \
		V6, TCP, .saddr = src, .sport = sp, .daddr = dst, .dport = dp, .payload = 20 \
	}
#define ICMP4(from, to, type, code, q, ...)                                               \
	{                                                                                 \
		V4, .proto = IPPROTO_ICMP, .saddr = from, .daddr = to, .icmp_type = type, \
		    .icmp_code = code, .quote = &(q), __VA_ARGS__                         \
	}
#define ICMP6(from, to, type, code, q, ...)                                                 \
	{                                                                                   \
		V6, .proto = IPPROTO_ICMPV6, .saddr = from, .daddr = to, .icmp_type = type, \
		    .icmp_code = code, .quote = &(q), __VA_ARGS__                           \
	}

/* Inbound: the client's packets as they left (public source), and before. */
static const struct pkt_spec q_udp4_pub = Q_UDP4("203.0.113.10", 5353, "198.51.100.7", 33333);
static const struct pkt_spec q_udp4_cli = Q_UDP4("10.8.0.2", 53, "198.51.100.7", 33333);
static const struct pkt_spec q_tcp4_pub = Q_TCP4("203.0.113.10", 40000, "198.51.100.7", 33333);
static const struct pkt_spec q_tcp4_cli = Q_TCP4("10.8.0.2", 40000, "198.51.100.7", 33333);
static const struct pkt_spec q_tcp4_wild = Q_TCP4("203.0.113.10", 41000, "198.51.100.7", 33333);
static const struct pkt_spec q_tcp4_wcli = Q_TCP4("10.8.0.3", 41000, "198.51.100.7", 33333);
static const struct pkt_spec q_udp4_unmapped = Q_UDP4("203.0.113.10", 5354, "198.51.100.7", 1);
static const struct pkt_spec q_udp6_pub = Q_UDP6("2001:db8:1::10", 5353, "2001:db8:2::7", 33333);
static const struct pkt_spec q_udp6_cli = Q_UDP6("fd00:8::2", 53, "2001:db8:2::7", 33333);
static const struct pkt_spec q_tcp6_pub = Q_TCP6("2001:db8:1::10", 40000, "2001:db8:2::7", 33333);
static const struct pkt_spec q_tcp6_cli = Q_TCP6("fd00:8::2", 40000, "2001:db8:2::7", 33333);
/* Outbound: packets that went to the client, as it got them, and as sent. */
static const struct pkt_spec q_in_udp4_cli = Q_UDP4("198.51.100.7", 33333, "10.8.0.2", 53);
static const struct pkt_spec q_in_udp4_pub = Q_UDP4("198.51.100.7", 33333, "203.0.113.10", 5353);
static const struct pkt_spec q_in_udp6_cli = Q_UDP6("2001:db8:2::7", 33333, "fd00:8::2", 53);
static const struct pkt_spec q_in_udp6_pub = Q_UDP6("2001:db8:2::7", 33333, "2001:db8:1::10", 5353);

/* The errors as they must leave: inbound to the client, outbound from the public endpoint. */
static const struct pkt_spec want_in4_port_unreachable =
    ICMP4("198.51.100.7", "10.8.0.2", 3, 3, q_udp4_cli);
static const struct pkt_spec want_in4_frag_needed =
    ICMP4("198.51.100.7", "10.8.0.2", 3, 4, q_tcp4_cli, .icmp_rest = 1400);
static const struct pkt_spec want_in4_time_exceeded =
    ICMP4("198.51.100.7", "10.8.0.2", 11, 0, q_tcp4_cli, .quote_len = 28);
static const struct pkt_spec want_in4_param_problem =
    ICMP4("198.51.100.7", "10.8.0.3", 12, 0, q_tcp4_wcli);
static const struct pkt_spec want_in6_port_unreachable =
    ICMP6("2001:db8:2::7", "fd00:8::2", 1, 4, q_udp6_cli);
static const struct pkt_spec want_in6_too_big =
    ICMP6("2001:db8:2::7", "fd00:8::2", 2, 0, q_tcp6_cli, .icmp_rest = 1280);
static const struct pkt_spec want_in6_time_exceeded =
    ICMP6("2001:db8:2::7", "fd00:8::2", 3, 0, q_tcp6_cli, .quote_len = 48);
static const struct pkt_spec want_in6_param_problem =
    ICMP6("2001:db8:2::7", "fd00:8::2", 4, 0, q_udp6_cli, .icmp_rest = 6);
static const struct pkt_spec want_out4_port_unreachable =
    ICMP4("203.0.113.10", "198.51.100.7", 3, 3, q_in_udp4_pub);
static const struct pkt_spec want_out4_frag_needed =
    ICMP4("192.0.2.1", "198.51.100.7", 3, 4, q_in_udp4_pub, .icmp_rest = 1420);
static const struct pkt_spec want_out6_port_unreachable =
    ICMP6("2001:db8:1::10", "2001:db8:2::7", 1, 4, q_in_udp6_pub);
static const struct pkt_spec want_out6_too_big =
    ICMP6("2001:db8:1::10", "2001:db8:2::7", 2, 0, q_in_udp6_pub, .icmp_rest = 1420);

static const struct dp_case cases[] = {
    /* Hits and misses for each family and protocol. */
    {.name = "v4 tcp hit",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40000), .payload = 10},
     .rw_addr = "10.8.0.2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP4_EXACT},
    {.name = "v4 tcp miss: port",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40001)},
     .stat = NOMAP},
    {.name = "v4 tcp miss: address",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "203.0.113.11", .dport = 40000},
     .stat = NOMAP},
    {.name = "v4 udp hit, port changes",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .payload = 32},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53},
    {.name = "v4 udp miss: tcp-only port",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(40000)},
     .stat = NOMAP},
    {.name = "v4 udp checksum 0 stays 0",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .payload = 8, .udp_no_csum = true},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53},
    {.name = "v4 udp checksum computing to 0 is sent as 0xffff",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .payload = 8},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .zero_after = true},
    {.name = "v6 tcp hit",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40000), .payload = 20},
     .rw_addr = "fd00:8::2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP6_EXACT},
    {.name = "v6 tcp miss",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40002)},
     .stat = NOMAP},
    {.name = "v6 udp hit on the wildcard",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, .daddr = "2001:db8:1::10", .dport = 5353, .payload = 6},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD},
    {.name = "v6 udp checksum computing to 0 is sent as 0xffff",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .payload = 8},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .zero_after = true},
    {.name = "v6 udp miss",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5354)},
     .stat = NOMAP},
    /* A wildcard takes only what is addressed to the address it answers
     * from: never transit, broadcast, multicast or another address. */
    {.name = "wildcard answers on the interface's address",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41000)},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "exact mapping next to the wildcard",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41001)},
     .rw_addr = "10.8.0.4",
     .rw_port = 41001,
     .stat = FWD,
     .mapping = TCP4_NEXT_PORT},
    {.name = "wildcard: transit to a routed host",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "198.51.100.2", .dport = 41000},
     .stat = NOMAP},
    {.name = "wildcard: another address of the server",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "203.0.113.11", .dport = 41000},
     .stat = NOMAP},
    {.name = "wildcard: subnet broadcast",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "203.0.113.255", .dport = 41000},
     .stat = NOMAP},
    {.name = "wildcard: limited broadcast",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "255.255.255.255", .dport = 41000},
     .stat = NOMAP},
    {.name = "wildcard: multicast",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, .daddr = "239.1.2.3", .dport = 41000},
     .stat = NOMAP},
    {.name = "v6 wildcard: another address",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, .daddr = "2001:db8:1::99", .dport = 5353},
     .stat = NOMAP},
    {.name = "v6 wildcard: transit",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, .daddr = "2001:db8:5::2", .dport = 5353},
     .stat = NOMAP},
    {.name = "v6 wildcard: multicast",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, .daddr = "ff02::1", .dport = 5353},
     .stat = NOMAP},
    /* Ranges. */
    {.name = "range first port",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(6000)},
     .rw_addr = "10.8.0.5",
     .rw_port = 7000,
     .stat = FWD,
     .mapping = UDP4_RANGE},
    {.name = "range middle port",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(6004)},
     .rw_addr = "10.8.0.5",
     .rw_port = 7004,
     .stat = FWD,
     .mapping = UDP4_RANGE},
    {.name = "range last port",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(6009)},
     .rw_addr = "10.8.0.5",
     .rw_port = 7009,
     .stat = FWD,
     .mapping = UDP4_RANGE},
    {.name = "past the range",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(6010)},
     .stat = NOMAP},
    /* Link layer. */
    {.name = "802.1Q",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021Q}, V4, TCP, FROM_INET4, TO_PUB4(40000)},
     .rw_addr = "10.8.0.2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP4_EXACT},
    {.name = "802.1ad + 802.1Q",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021AD, ETH_P_8021Q}, V6, TCP, FROM_INET6, TO_PUB6(40000)},
     .rw_addr = "fd00:8::2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP6_EXACT},
    {.name = "three tags are not parsed",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021AD, ETH_P_8021Q},
	    .ethertype = ETH_P_8021Q,
	    V4,
	    TCP,
	    FROM_INET4,
	    TO_PUB4(40000)},
     .stat = XDPFWD_STAT_IN_PASS_NOT_IP},
    {.name = "ARP",
     .prog = XDP_IN,
     .in = {.ethertype = ETH_P_ARP, V4, TCP, FROM_INET4, TO_PUB4(40000)},
     .stat = XDPFWD_STAT_IN_PASS_NOT_IP},
    /* IPv4 options. */
    {.name = "v4 with 4 bytes of options",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40000), .ip_options = 4},
     .rw_addr = "10.8.0.2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP4_EXACT},
    {.name = "v4 with 40 bytes of options",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(6003), .ip_options = 40, .payload = 2},
     .rw_addr = "10.8.0.5",
     .rw_port = 7003,
     .stat = FWD,
     .mapping = UDP4_RANGE},
    /* IPv6 extension headers. */
    {.name = "v6 hop-by-hop, routing, destination options",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40000),
	    .ext = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS}},
     .rw_addr = "fd00:8::2",
     .rw_port = 40000,
     .stat = FWD,
     .mapping = TCP6_EXACT},
    {.name = "v6 AH",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_AH}},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD},
    /* IPv6 fragments follow their first (offset 0): later ones are unknown
     * before it, and take its translation after it. */
    {.name = "v6 later fragment before its first: passed, a copy kept",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x00a9,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60001},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v6 first fragment after a later one: translated, with the replay note",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0001,
	    .payload = 64, .frag_id = 0x60001},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .replay = 1},
    {.name = "v6 middle fragment",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0009,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60001},
     .rw_addr = "fd00:8::2",
     .rw_port = 5353,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .also_stat = XDPFWD_STAT_IN_FRAGMENT_FOLLOWED},
    {.name = "v6 last fragment, not ours: other id",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0010,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60002},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    /* Last, middle, then first: both copies go with it. */
    {.name = "v6 last fragment first",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0020,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60003},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v6 middle fragment second",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0011,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60003},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v6 first fragment last: the note names two copies",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0001,
	    .payload = 64, .frag_id = 0x60003},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .replay = 2},
    {.name = "v6 a fragment after the replayed first follows it",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}, .v6_frag_off = 0x0031,
	    .no_l4 = true, .payload = 64, .frag_id = 0x60003},
     .rw_addr = "fd00:8::2",
     .rw_port = 5353,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .also_stat = XDPFWD_STAT_IN_FRAGMENT_FOLLOWED},
    {.name = "v6 atomic fragment (offset 0, no M)",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .ext = {IPPROTO_FRAGMENT}},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD},
    {.name = "v6 too many extension headers",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40000),
	    .ext = {IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
		    IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS}},
     .stat = XDPFWD_STAT_IN_PASS_EXT_HEADERS},
    /* Other protocols. */
    {.name = "ICMP",
     .prog = XDP_IN,
     .in = {V4, .proto = IPPROTO_ICMP, FROM_INET4, TO_PUB4(0)},
     .stat = XDPFWD_STAT_IN_PASS_NOT_TCP_UDP},
    {.name = "ICMPv6",
     .prog = XDP_IN,
     .in = {V6, .proto = IPPROTO_ICMPV6, FROM_INET6, TO_PUB6(0)},
     .stat = XDPFWD_STAT_IN_PASS_NOT_TCP_UDP},
    /* IPv4 fragments likewise, keyed by source, destination, id, protocol. */
    {.name = "v4 later fragment before its first: passed, a copy kept",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x2010, .no_l4 = true, .payload = 64},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v4 first fragment after a later one: translated, with the replay note",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x2000, .payload = 64},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .replay = 1},
    {.name = "v4 middle fragment",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x2010, .no_l4 = true, .payload = 64},
     .rw_addr = "10.8.0.2",
     .rw_port = 5353,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .also_stat = XDPFWD_STAT_IN_FRAGMENT_FOLLOWED},
    {.name = "v4 last fragment",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x00b9, .no_l4 = true, .payload = 64},
     .rw_addr = "10.8.0.2",
     .rw_port = 5353,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .also_stat = XDPFWD_STAT_IN_FRAGMENT_FOLLOWED},
    {.name = "v4 later fragment of another datagram (id)",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x00b9, .no_l4 = true, .payload = 64,
	    .frag_id = 0x4321},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v4 later fragment from another source",
     .prog = XDP_IN,
     .in = {V4, UDP, .saddr = "198.51.100.8", .sport = 33333, TO_PUB4(5353), .frag_off = 0x00b9,
	    .no_l4 = true, .payload = 64},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    /* Fragments ahead of their first, the ways they can end. */
    {.name = "v4 later fragment, 802.1Q: the copy keeps the tag",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021Q},
	    V4,
	    UDP,
	    FROM_INET4,
	    TO_PUB4(5353),
	    .frag_off = 0x00b9,
	    .no_l4 = true,
	    .payload = 64,
	    .frag_id = 0x5001},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v4 first fragment, 802.1Q: replay note",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021Q},
	    V4,
	    UDP,
	    FROM_INET4,
	    TO_PUB4(5353),
	    .frag_off = 0x2000,
	    .payload = 64,
	    .frag_id = 0x5001},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .replay = 1},
    {.name = "v4 later fragment too big to keep (jumbo)",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x00b9, .no_l4 = true, .payload = 1600,
	    .frag_id = 0x5002},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .also_stat = XDPFWD_STAT_IN_FRAGMENT_NOT_HELD},
    {.name = "v4 later fragment whose first comes too late",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x00b9, .no_l4 = true, .payload = 64,
	    .frag_id = 0x5003},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v4 its first 31 s later (past ipfrag_time): alone, as in order",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .frag_off = 0x2000, .payload = 64,
	    .frag_id = 0x5003},
     .rw_addr = "10.8.0.2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .clock_s = 31},
    {.name = "v4 later fragment of an unmapped port",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5399), .frag_off = 0x00b9, .no_l4 = true, .payload = 64,
	    .frag_id = 0x5004},
     .stat = XDPFWD_STAT_IN_PASS_FRAGMENT,
     .held = true},
    {.name = "v4 its first: not ours, passed untouched, no note",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5399), .frag_off = 0x2000, .payload = 64,
	    .frag_id = 0x5004},
     .stat = NOMAP},
    /* ICMP errors about a mapped flow: outer destination and quoted source
     * go back to the client, every checksum recomputed from scratch here. */
    {.name = "v4 port unreachable",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 3, 3, q_udp4_pub),
     .stat = FWD,
     .mapping = UDP4_TO_53,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in4_port_unreachable},
    {.name = "v4 fragmentation needed, whole TCP quote",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 3, 4, q_tcp4_pub, .icmp_rest = 1400),
     .stat = FWD,
     .mapping = TCP4_EXACT,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in4_frag_needed},
    {.name = "v4 time exceeded, 8-byte quote",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 11, 0, q_tcp4_pub, .quote_len = 28),
     .stat = FWD,
     .mapping = TCP4_EXACT,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in4_time_exceeded},
    {.name = "v4 parameter problem, wildcard mapping",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 12, 0, q_tcp4_wild),
     .stat = FWD,
     .mapping = TCP4_WILDCARD,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in4_param_problem},
    {.name = "v4 error about an unmapped port",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 3, 3, q_udp4_unmapped),
     .stat = XDPFWD_STAT_IN_PASS_NOT_TCP_UDP},
    {.name = "v6 port unreachable, wildcard",
     .prog = XDP_IN,
     .in = ICMP6("2001:db8:2::7", "2001:db8:1::10", 1, 4, q_udp6_pub),
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in6_port_unreachable},
    {.name = "v6 packet too big",
     .prog = XDP_IN,
     .in = ICMP6("2001:db8:2::7", "2001:db8:1::10", 2, 0, q_tcp6_pub, .icmp_rest = 1280),
     .stat = FWD,
     .mapping = TCP6_EXACT,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in6_too_big},
    {.name = "v6 time exceeded, 8-byte quote",
     .prog = XDP_IN,
     .in = ICMP6("2001:db8:2::7", "2001:db8:1::10", 3, 0, q_tcp6_pub, .quote_len = 48),
     .stat = FWD,
     .mapping = TCP6_EXACT,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in6_time_exceeded},
    {.name = "v6 parameter problem",
     .prog = XDP_IN,
     .in = ICMP6("2001:db8:2::7", "2001:db8:1::10", 4, 0, q_udp6_pub, .icmp_rest = 6),
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .also_stat = XDPFWD_STAT_IN_ICMP_ERROR,
     .expect = &want_in6_param_problem},
    /* Truncated at every layer: 14 is the least BPF_PROG_TEST_RUN takes. */
    {.name = "cut in the VLAN tag",
     .prog = XDP_IN,
     .in = {.tpid = {ETH_P_8021Q}, V4, TCP, FROM_INET4, TO_PUB4(40000), .truncate = 16},
     .stat = TRUNC},
    {.name = "cut in the IPv4 header",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40000), .truncate = 14 + 19},
     .stat = TRUNC},
    {.name = "cut in the IPv4 options",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40000), .ip_options = 8, .truncate = 14 + 24},
     .stat = TRUNC},
    {.name = "cut in the IPv6 header",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40000), .truncate = 14 + 39},
     .stat = TRUNC},
    {.name = "cut in an extension header",
     .prog = XDP_IN,
     .in = {V6, TCP, FROM_INET6, TO_PUB6(40000), .ext = {IPPROTO_HOPOPTS, IPPROTO_DSTOPTS},
	    .truncate = 14 + 40 + 8 + 1},
     .stat = TRUNC},
    {.name = "cut in the TCP header",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(40000), .truncate = 14 + 20 + 19},
     .stat = TRUNC},
    {.name = "cut in the UDP header",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353), .truncate = 14 + 40 + 7},
     .stat = TRUNC},

    /* The way out: source rewritten to the public endpoint. */
    {.name = "out v4 tcp",
     OUT(V4, TCP, .saddr = "10.8.0.2", .sport = 40000, .payload = 12),
     .rw_addr = "203.0.113.10",
     .rw_port = 40000,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = TCP4_EXACT},
    {.name = "out v4 udp, port changes back",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .payload = 30),
     .rw_addr = "203.0.113.10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_TO_53},
    {.name = "out v4 udp checksum 0 stays 0",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .udp_no_csum = true),
     .rw_addr = "203.0.113.10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_TO_53},
    {.name = "out v4 udp checksum computing to 0 is sent as 0xffff",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .payload = 8),
     .rw_addr = "203.0.113.10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_TO_53,
     .zero_after = true},
    {.name = "out wildcard answers from the interface address",
     OUT(V4, TCP, .saddr = "10.8.0.3", .sport = 41000),
     .rw_addr = "203.0.113.10",
     .rw_port = 41000,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = TCP4_WILDCARD},
    {.name = "out range",
     OUT(V4, UDP, .saddr = "10.8.0.5", .sport = 7005),
     .rw_addr = "203.0.113.10",
     .rw_port = 6005,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_RANGE},
    {.name = "out v6 tcp",
     OUT(V6, TCP, .saddr = "fd00:8::2", .sport = 40000, .payload = 4),
     .rw_addr = "2001:db8:1::10",
     .rw_port = 40000,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = TCP6_EXACT},
    {.name = "out v6 udp wildcard",
     OUT(V6, UDP, .saddr = "fd00:8::2", .sport = 53),
     .rw_addr = "2001:db8:1::10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP6_WILDCARD},
    {.name = "out v6 with extension headers",
     OUT(V6, UDP, .saddr = "fd00:8::2", .sport = 53, .ext = {IPPROTO_DSTOPTS}),
     .rw_addr = "2001:db8:1::10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP6_WILDCARD},
    {.name = "out 802.1Q",
     OUT(.tpid = {ETH_P_8021Q}, V4, TCP, .saddr = "10.8.0.2", .sport = 40000),
     .rw_addr = "203.0.113.10",
     .rw_port = 40000,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = TCP4_EXACT},
    {.name = "out miss: unmapped port",
     OUT(V4, TCP, .saddr = "10.8.0.2", .sport = 40001),
     .stat = XDPFWD_STAT_OUT_PASS_NO_MAPPING},
    {.name = "out miss: other client",
     OUT(V4, TCP, .saddr = "10.8.0.9", .sport = 40000),
     .stat = XDPFWD_STAT_OUT_PASS_NO_MAPPING},
    {.name = "out later fragment before its first",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .frag_off = 0x2010, .no_l4 = true,
	 .payload = 64, .frag_id = 0x777),
     .stat = XDPFWD_STAT_OUT_PASS_FRAGMENT},
    {.name = "out first fragment",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .frag_off = 0x2000, .payload = 64,
	 .frag_id = 0x777),
     .rw_addr = "203.0.113.10",
     .rw_port = 5353,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_TO_53},
    {.name = "out later fragment",
     OUT(V4, UDP, .saddr = "10.8.0.2", .sport = 53, .frag_off = 0x0010, .no_l4 = true,
	 .payload = 64, .frag_id = 0x777),
     .rw_addr = "203.0.113.10",
     .rw_port = 53,
     .stat = XDPFWD_STAT_OUT_REWRITTEN,
     .mapping = UDP4_TO_53,
     .also_stat = XDPFWD_STAT_OUT_FRAGMENT_FOLLOWED},
    {.name = "out ICMP",
     OUT(V4, .proto = IPPROTO_ICMP, .saddr = "10.8.0.2"),
     .stat = XDPFWD_STAT_OUT_PASS_NOT_TCP_UDP},
    /* The client's own errors name the public endpoint, in the quote and as
     * source; the server's own errors keep their source. */
    {.name = "out v4 client's port unreachable",
     .prog = TC_OUT,
     .in = ICMP4("10.8.0.2", "198.51.100.7", 3, 3, q_in_udp4_cli),
     .stat = XDPFWD_STAT_OUT_ICMP_ERROR,
     .mapping = UDP4_TO_53,
     .expect = &want_out4_port_unreachable},
    {.name = "out v4 server's fragmentation needed",
     .prog = TC_OUT,
     .in = ICMP4("192.0.2.1", "198.51.100.7", 3, 4, q_in_udp4_cli, .icmp_rest = 1420),
     .stat = XDPFWD_STAT_OUT_ICMP_ERROR,
     .mapping = UDP4_TO_53,
     .expect = &want_out4_frag_needed},
    {.name = "out v6 client's port unreachable",
     .prog = TC_OUT,
     .in = ICMP6("fd00:8::2", "2001:db8:2::7", 1, 4, q_in_udp6_cli),
     .stat = XDPFWD_STAT_OUT_ICMP_ERROR,
     .mapping = UDP6_WILDCARD,
     .expect = &want_out6_port_unreachable},
    {.name = "out v6 server's packet too big",
     .prog = TC_OUT,
     .in = ICMP6("2001:db8:1::10", "2001:db8:2::7", 2, 0, q_in_udp6_cli, .icmp_rest = 1420),
     .stat = XDPFWD_STAT_OUT_ICMP_ERROR,
     .mapping = UDP6_WILDCARD,
     .expect = &want_out6_too_big},
    {.name = "out cut in the TCP header",
     OUT(V4, TCP, .saddr = "10.8.0.2", .sport = 40000, .truncate = 14 + 20 + 10),
     .stat = XDPFWD_STAT_OUT_PASS_TRUNCATED},

    /* Flows the server's stack owns on a mapped endpoint (a socket of its
     * own, or masquerade that kept the port): learned as they leave with the
     * public endpoint as source, untranslated; their packets then go to the
     * stack untouched, while new flows (a TCP SYN) follow the mapping. */
    {.name = "out unmapped source: nothing learned",
     OUT(V4, TCP, .saddr = "203.0.113.10", .sport = 41002),
     .stat = XDPFWD_STAT_OUT_PASS_NO_MAPPING},
    {.name = "before: the peer's packet is the mapping's",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41000)},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "out stack's tcp flow from a mapped endpoint is learned",
     OUT(V4, TCP, .saddr = "203.0.113.10", .sport = 41000),
     .stat = XDPFWD_STAT_OUT_STACK_FLOW},
    {.name = "its reply goes to the stack untouched",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41000)},
     .stat = XDPFWD_STAT_IN_PASS_STACK_OWNED},
    {.name = "an ICMP error about it too",
     .prog = XDP_IN,
     .in = ICMP4("198.51.100.7", "203.0.113.10", 3, 3, q_tcp4_wild),
     .stat = XDPFWD_STAT_IN_PASS_STACK_OWNED},
    {.name = "another flow of the peer is the mapping's",
     .prog = XDP_IN,
     .in = {V4, TCP, .saddr = "198.51.100.7", .sport = 33334, TO_PUB4(41000)},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "another peer is the mapping's",
     .prog = XDP_IN,
     .in = {V4, TCP, .saddr = "198.51.100.8", .sport = 33333, TO_PUB4(41000)},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "a SYN from the peer is a new flow: the mapping's",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41000), .tcp_flags = 0x02},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "after the SYN the flow is the mapping's",
     .prog = XDP_IN,
     .in = {V4, TCP, FROM_INET4, TO_PUB4(41000)},
     .rw_addr = "10.8.0.3",
     .rw_port = 41000,
     .stat = FWD,
     .mapping = TCP4_WILDCARD},
    {.name = "out v6 udp stack flow is learned",
     .prog = TC_OUT,
     .in = {V6, UDP, .saddr = "2001:db8:1::10", .sport = 5353, .daddr = "2001:db8:2::7",
	    .dport = 33333},
     .stat = XDPFWD_STAT_OUT_STACK_FLOW,
     .clock = TEST_CLOCK_NS},
    {.name = "v6 udp reply goes to the stack",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353)},
     .stat = XDPFWD_STAT_IN_PASS_STACK_OWNED,
     .clock = TEST_CLOCK_NS + 119000000000ULL},
    {.name = "v6 udp reply 119 s later still the stack's",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353)},
     .stat = XDPFWD_STAT_IN_PASS_STACK_OWNED,
     .clock = TEST_CLOCK_NS + 238000000000ULL},
    {.name = "v6 udp flow idle 120 s is over: the mapping's",
     .prog = XDP_IN,
     .in = {V6, UDP, FROM_INET6, TO_PUB6(5353)},
     .rw_addr = "fd00:8::2",
     .rw_port = 53,
     .stat = FWD,
     .mapping = UDP6_WILDCARD,
     .clock = TEST_CLOCK_NS + 358000000000ULL},
    {.name = "v4 udp exact mapping: stack flow learned",
     OUT(V4, UDP, .saddr = "203.0.113.10", .sport = 5353),
     .stat = XDPFWD_STAT_OUT_STACK_FLOW},
    {.name = "v4 udp exact mapping: reply to the stack",
     .prog = XDP_IN,
     .in = {V4, UDP, FROM_INET4, TO_PUB4(5353), .payload = 8},
     .stat = XDPFWD_STAT_IN_PASS_STACK_OWNED},
};

/* The slot of mapping M: the rule parsed from its line of the test table. */
static __u32 slot_of(const struct xdpfwd_maps *maps, const struct rule *rules, size_t n,
		     enum mapping m)
{
	struct slot_mapping *live;
	size_t count;
	__u32 slot = (__u32)-1;

	if (table_read(maps, &live, &count))
		return slot;
	for (size_t r = 0; r < n; r++)
		for (size_t i = 0; rules[r].line == (unsigned int)m && i < count; i++)
			if (same_public(&live[i].m, &rules[r].m))
				slot = live[i].slot;
	free(live);
	return slot;
}

/* The datagram a fragment built from S belongs to, as frag.h keys it. */
static void frag_key_for(const struct pkt_spec *s, struct xdpfwd_frag_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = s->family;
	k->proto = s->proto;
	if (s->family == AF_INET)
		k->id = htons(s->frag_id ? s->frag_id : 0x1234);
	else
		k->id = htonl(s->frag_id ? s->frag_id : 0x1234);
	inet_pton(s->family, s->saddr, &k->saddr);
	inet_pton(s->family, s->daddr, &k->daddr);
}

/* After a HELD case: the datagram's newest copy is the input frame. */
static void check_held_copy(const struct dp_case *c, struct xdpfwd_bpf *skel, const __u8 *in,
			    size_t in_len)
{
	struct xdpfwd_held_key hk = {0};
	struct xdpfwd_ahead ahead;
	struct xdpfwd_held held;

	frag_key_for(&c->in, &hk.dgram);
	if (!CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdpfwd_ahead), &hk.dgram, &ahead),
		   "%s: no xdpfwd_ahead entry for its datagram", c->name))
		return;
	hk.index = ahead.count - 1;
	if (!CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdpfwd_held), &hk, &held),
		   "%s: no copy at index %u", c->name, hk.index))
		return;
	CHECK(held.len == in_len && !memcmp(held.frame, in, in_len) &&
		  held.l3_off == 14 + 4 * (c->in.tpid[0] != 0) + 4 * (c->in.tpid[1] != 0) &&
		  held.family == c->in.family && held.since_ns == ahead.since_ns &&
		  ahead.since_ns == TEST_CLOCK_NS + c->clock_s * 1000000000ULL,
	      "%s: the copy is not the frame as it arrived (len %u, l3 at %u)", c->name, held.len,
	      held.l3_off);
}

static void run_case(const struct dp_case *c, struct xdpfwd_bpf *skel,
		     const struct xdpfwd_maps *maps, const struct rule *rules, size_t nrules)
{
	__u8 in[PKT_MAX], want[PKT_MAX + sizeof(struct xdpfwd_replay)], out[PKT_MAX + 256];
	size_t note_len = c->replay ? sizeof(struct xdpfwd_replay) : 0;
	__u64 before[XDPFWD_STAT_MAX], after[XDPFWD_STAT_MAX];
	struct xdpfwd_counters cnt_before = {0}, cnt_after = {0};
	struct pkt_spec in_spec = c->in, want_spec = c->in;
	bool outbound = c->prog == TC_OUT;
	int prog_fd = bpf_program__fd(outbound ? skel->progs.xdpfwd_out : skel->progs.xdpfwd_in);
	__u32 slot = c->mapping ? slot_of(maps, rules, nrules, c->mapping) : 0;
	size_t in_len, want_len;
	int expect_ret = outbound ? TC_ACT_UNSPEC : XDP_PASS;

	if (c->rw_addr) {
		if (outbound) {
			want_spec.saddr = c->rw_addr;
			want_spec.sport = c->rw_port;
		} else {
			want_spec.daddr = c->rw_addr;
			want_spec.dport = c->rw_port;
		}
	}
	if (c->zero_after) {
		/* The last payload word that makes the rewritten sum come out 0. */
		want_spec.tail_set = true;
		want_spec.tail = 0;
		want_spec.tail = l4_checksum_of(&want_spec);
		in_spec.tail_set = true;
		in_spec.tail = want_spec.tail;
		CHECK(l4_checksum_of(&want_spec) == 0, "%s: could not craft a zero sum", c->name);
	}
	in_len = build_packet(&in_spec, in);
	want_len = build_packet(c->expect    ? c->expect
				: c->rw_addr ? &want_spec
					     : &in_spec,
				want + note_len);
	if (c->replay) {
		struct xdpfwd_replay note = {.magic = XDPFWD_REPLAY_MAGIC,
					     .count = c->replay,
					     .slot = slot,
					     .since_ns = TEST_CLOCK_NS};

		frag_key_for(&c->in, &note.dgram);
		memcpy(want, &note, sizeof(note));
		want_len += note_len;
	}
	skel->bss->frag_clock_ns = TEST_CLOCK_NS + c->clock_s * 1000000000ULL;

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	stats_read(maps, before);
	if (c->mapping)
		counters_read(maps, slot, &cnt_before);
	skel->bss->policy_clock_ns = c->clock;
	if (!CHECK(bpf_prog_test_run_opts(prog_fd, &opts) == 0, "%s: test run failed: %m", c->name))
		return;
	skel->bss->policy_clock_ns = 0;
	stats_read(maps, after);
	if (c->mapping)
		counters_read(maps, slot, &cnt_after);

	CHECK((int)opts.retval == expect_ret, "%s: verdict %d, want %d", c->name, opts.retval,
	      expect_ret);
	if (!CHECK(opts.data_size_out == want_len && !memcmp(out, want, want_len),
		   "%s: output differs from the expected packet", c->name)) {
		hexdump("input", in, in_len);
		hexdump("expected", want, want_len);
		hexdump("got", out, opts.data_size_out);
	}
	/* This suite runs with the fast path off: every translated packet
	 * takes that exit too (test_fastpath.c covers the others). */
	for (int s = 0; s < XDPFWD_STAT_MAX; s++) {
		int exit = c->replay ? XDPFWD_STAT_IN_STACK_FRAGMENT_REPLAY
				     : XDPFWD_STAT_IN_STACK_FAST_PATH_OFF;
		int want_delta = (s == c->stat) + (c->also_stat && s == c->also_stat) +
				 (c->held && s == XDPFWD_STAT_IN_FRAGMENT_HELD) +
				 (c->stat == XDPFWD_STAT_IN_FORWARDED && s == exit);

		CHECK(after[s] - before[s] == (__u64)want_delta,
		      "%s: counter %s grew by %llu, want %d", c->name, xdpfwd_stat_names[s],
		      (unsigned long long)(after[s] - before[s]), want_delta);
	}
	if (c->held)
		check_held_copy(c, skel, in, in_len);
	if (c->replay) {
		struct xdpfwd_frag_key k;
		struct xdpfwd_ahead ahead;

		frag_key_for(&c->in, &k);
		CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.xdpfwd_ahead), &k, &ahead) != 0,
		      "%s: the datagram is still in xdpfwd_ahead after its replay", c->name);
	}
	if (c->mapping) {
		__u64 ip_bytes = in_len - 14 - 4 * (c->in.tpid[0] != 0) - 4 * (c->in.tpid[1] != 0);
		__u64 pk = outbound ? cnt_after.tx_packets - cnt_before.tx_packets
				    : cnt_after.rx_packets - cnt_before.rx_packets;
		__u64 by = outbound ? cnt_after.tx_bytes - cnt_before.tx_bytes
				    : cnt_after.rx_bytes - cnt_before.rx_bytes;

		CHECK(pk == 1 && by == ip_bytes,
		      "%s: mapping counted %llu packets, %llu bytes; want 1, %llu", c->name,
		      (unsigned long long)pk, (unsigned long long)by, (unsigned long long)ip_bytes);
	}
}

/*
 * Tables written by builds before a wildcard was keyed by its address hold
 * its forward entries under the all-zero address. attach moves them: the
 * entries under the source address first (an exact mapping that held that
 * address and port keeps it), the zero ones only with ERASE. In between the
 * packet to the address is translated; afterwards the old entries are gone.
 */
static void test_rekey_old_wildcards(struct xdpfwd_bpf *skel, const struct xdpfwd_maps *maps)
{
	const struct rule *wild = NULL;
	struct rule *rules = NULL;
	struct xdpfwd_endpoint key = {.family = AF_INET, .proto = IPPROTO_TCP}, zero;
	struct xdpfwd_nat val, got;
	__u8 in[PKT_MAX], out[PKT_MAX];
	struct pkt_spec spec = {V4, TCP, FROM_INET4, TO_PUB4(41000)};
	size_t n = 0, len;

	if (table_live(maps, &rules, &n, 0))
		return;
	for (size_t i = 0; i < n; i++)
		if (rules[i].m.proto == IPPROTO_TCP && rules[i].m.public_port == 41000)
			wild = &rules[i];
	if (!CHECK(wild != NULL, "rekey: no wildcard tcp 41000 in the table"))
		goto out;
	key.port = htons(41000);
	key.addr = wild->m.source_addr;
	zero = key;
	memset(&zero.addr, 0, sizeof(zero.addr));
	/* As an older build left it. */
	CHECK(bpf_map_lookup_elem(maps->fwd, &key, &val) == 0,
	      "rekey: no entry under 203.0.113.10");
	bpf_map_delete_elem(maps->fwd, &key);
	bpf_map_update_elem(maps->fwd, &zero, &val, BPF_ANY);

	CHECK(table_rekey_wildcards(maps, false) == 0, "rekey: the write step failed");
	CHECK(bpf_map_lookup_elem(maps->fwd, &key, &got) == 0 && !memcmp(&got, &val, sizeof(val)),
	      "rekey: the entry under the source address was not written");
	CHECK(bpf_map_lookup_elem(maps->fwd, &zero, &got) == 0,
	      "rekey: the old entry went before the new programs ran");
	len = build_packet(&spec, in);
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		CHECK(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdpfwd_in), &opts) == 0 &&
			  opts.data_size_out == len && memcmp(in, out, len),
		      "rekey: the packet to the wildcard's address was not translated");
	}
	CHECK(table_rekey_wildcards(maps, true) == 0, "rekey: the erase step failed");
	CHECK(bpf_map_lookup_elem(maps->fwd, &zero, &got) != 0, "rekey: the old entry stayed");
	CHECK(bpf_map_lookup_elem(maps->fwd, &key, &got) == 0, "rekey: the new entry went");
out:
	free(rules);
}

UNIT_CASES(test_datapath, 20)
{
	struct xdpfwd_bpf *skel;
	int ran = 0;
	struct xdpfwd_maps maps;
	struct rule *rules = NULL;
	struct strbuf table = STRBUF_INIT;
	size_t n = 0;

	skel = xdpfwd_bpf__open_and_load();
	if (!CHECK(skel != NULL, "loading the BPF object: %m"))
		return 0;
	for (int m = NO_MAPPING + 1; m < MAPPINGS; m++)
		strbuf_appendf(&table, "%s\n", test_mappings[m]);
	if (!CHECK(!table.failed, "building the test table") ||
	    install_test_table(skel->obj, strbuf_str(&table), &maps, &rules, &n))
		goto out;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (unit_selected(cases[i].name)) {
			run_case(&cases[i], skel, &maps, rules, n);
			ran++;
		}
	if (unit_selected("rekey old wildcards")) {
		test_rekey_old_wildcards(skel, &maps);
		ran++;
	}
out:
	strbuf_free(&table);
	free(rules);
	xdpfwd_bpf__destroy(skel);
	return ran;
}
