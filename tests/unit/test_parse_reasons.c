// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Why a packet was not parsed, counted by each hook under its own counter:
 * parse_packet() (bpf/lib/parse.h) returns one direction-neutral result, and
 * xdpfwd_in and xdpfwd_out name it with parse_reason_in() and
 * parse_reason_out(). Every result that is not PARSE_OK goes through both
 * programs (BPF_PROG_TEST_RUN); the packet must go on untouched and exactly
 * the hook's own counter of that reason must grow, no other.
 */
#include <arpa/inet.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "packet.h"
#include "xdpfwd.h"
#include "xdpfwd.skel.h"

struct reason_case {
	const char *name;
	struct pkt_spec pkt;
	int in_stat;  /* the counter xdpfwd_in must grow */
	int out_stat; /* the counter xdpfwd_out must grow */
};

#define V4(p)                                                                     \
	.family = AF_INET, .proto = (p), .saddr = "198.51.100.7", .sport = 33333, \
	.daddr = "203.0.113.10", .dport = 5353, .payload = 20
#define V6(p)                                                                       \
	.family = AF_INET6, .proto = (p), .saddr = "2001:db8:2::7", .sport = 33333, \
	.daddr = "2001:db8:1::10", .dport = 5353, .payload = 20

static const struct reason_case reason_cases[] = {
    {"ARP ethertype: not IP",
     {V4(IPPROTO_UDP), .ethertype = ETH_P_ARP},
     XDPFWD_STAT_IN_PASS_NOT_IP,
     XDPFWD_STAT_OUT_PASS_NOT_IP},
    {"IPv4 GRE: not TCP or UDP",
     {V4(IPPROTO_GRE), .no_l4 = true},
     XDPFWD_STAT_IN_PASS_NOT_TCP_UDP,
     XDPFWD_STAT_OUT_PASS_NOT_TCP_UDP},
    {"IPv4 UDP cut in its header: truncated",
     {V4(IPPROTO_UDP), .truncate = 14 + 20 + 4},
     XDPFWD_STAT_IN_PASS_TRUNCATED,
     XDPFWD_STAT_OUT_PASS_TRUNCATED},
    {"IPv6 with 7 extension headers: too many",
     {V6(IPPROTO_UDP), .ext = {IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
			       IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS}},
     XDPFWD_STAT_IN_PASS_EXT_HEADERS,
     XDPFWD_STAT_OUT_PASS_EXT_HEADERS},
};

/* STATS[i]: counter i summed over the CPUs. */
static bool read_stats(struct xdpfwd_bpf *skel, __u64 stats[XDPFWD_STAT_MAX])
{
	int cpus = libbpf_num_possible_cpus(), fd = bpf_map__fd(skel->maps.xdpfwd_stats);
	__u64 values[cpus > 0 ? cpus : 1];

	for (__u32 i = 0; i < XDPFWD_STAT_MAX; i++) {
		if (cpus <= 0 || bpf_map_lookup_elem(fd, &i, values))
			return false;
		stats[i] = 0;
		for (int c = 0; c < cpus; c++)
			stats[i] += values[c];
	}
	return true;
}

/* One frame through PROG: it leaves as it came with WANT_RET, and of every
 * counter only WANT_STAT grew, by one. */
static void run_reason(struct xdpfwd_bpf *skel, const struct reason_case *c, bool outbound)
{
	struct bpf_program *prog = outbound ? skel->progs.xdpfwd_out : skel->progs.xdpfwd_in;
	int want_stat = outbound ? c->out_stat : c->in_stat;
	__u32 want_ret = outbound ? (__u32)TC_ACT_UNSPEC : XDP_PASS;
	const char *hook = outbound ? "xdpfwd_out" : "xdpfwd_in";
	__u64 before[XDPFWD_STAT_MAX], after[XDPFWD_STAT_MAX];
	__u8 in[PKT_MAX], out[PKT_MAX + 256];
	size_t len = build_packet(&c->pkt, in);

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	if (!CHECK(read_stats(skel, before), "%s, %s: reading xdpfwd_stats: %m", c->name, hook) ||
	    !CHECK(!bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), "%s, %s: test run: %m",
		   c->name, hook) ||
	    !CHECK(read_stats(skel, after), "%s, %s: reading xdpfwd_stats: %m", c->name, hook))
		return;
	CHECK(opts.retval == want_ret, "%s, %s: verdict %d, want %d", c->name, hook,
	      (int)opts.retval, (int)want_ret);
	if (!CHECK(opts.data_size_out == len && !memcmp(in, out, len), "%s, %s: the frame changed",
		   c->name, hook)) {
		hexdump("sent", in, len);
		hexdump("got", out, opts.data_size_out);
	}
	for (int i = 0; i < XDPFWD_STAT_MAX; i++)
		CHECK(after[i] - before[i] == (__u64)(i == want_stat),
		      "%s, %s: %s grew by %llu, want %d", c->name, hook, xdpfwd_stat_names[i],
		      (unsigned long long)(after[i] - before[i]), i == want_stat);
}

UNIT_CASES(test_parse_reasons, 25)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open_and_load();
	int cases = 0;

	if (!CHECK(skel != NULL, "loading the BPF object: %m"))
		return 0;
	for (size_t i = 0; i < sizeof(reason_cases) / sizeof(reason_cases[0]); i++) {
		if (!unit_selected(reason_cases[i].name))
			continue;
		run_reason(skel, &reason_cases[i], false);
		run_reason(skel, &reason_cases[i], true);
		cases++;
	}
	xdpfwd_bpf__destroy(skel);
	return cases;
}
