// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Per-mapping policy: the token bucket and the conflict checks as plain C
 * with the clock and the host chosen here, then the allowlist, the lifetimes,
 * the rate limits and new-connection detection through BPF_PROG_TEST_RUN with
 * the programs' clock fixed (policy_clock_ns), so every verdict is exact.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "../../bpf/lib/bucket.h"
#include "conflict.h"
#include "fixture.h"
#include "harness.h"
#include "packet.h"
#include "xdpfwd.skel.h"

#define MS 1000000ULL
#define S  1000000000ULL

static int test_bucket(void)
{
	struct xdpfwd_rate rate = {.pps = 10, .burst = 3};
	struct xdpfwd_bucket b;
	__u64 t0 = 5 * S, passed = 0;

	rate_bucket(&rate, &b);
	CHECK(b.interval_ns == 100 * MS && b.limit_ns == 300 * MS, "10 pps burst 3: %llu/%llu",
	      (unsigned long long)b.interval_ns, (unsigned long long)b.limit_ns);
	/* A full bucket gives its burst at one instant, then nothing. */
	for (int i = 0; i < 3; i++)
		CHECK(bucket_take(&b, t0), "burst packet %d refused", i + 1);
	CHECK(!bucket_take(&b, t0), "a 4th packet passed a burst of 3");
	CHECK(!bucket_take(&b, t0 + 99 * MS), "a token came back before 100 ms");
	CHECK(bucket_take(&b, t0 + 100 * MS), "no token after 100 ms at 10 pps");
	CHECK(!bucket_take(&b, t0 + 100 * MS), "two tokens after 100 ms");
	/* Idle for long refills to the burst, never beyond. */
	for (int i = 0; i < 3; i++)
		CHECK(bucket_take(&b, t0 + 60 * S), "refilled burst packet %d refused", i + 1);
	CHECK(!bucket_take(&b, t0 + 60 * S), "idle refilled past the burst");

	/* Offered at 5x the rate for 10 s: what passes is the burst plus the
	 * rate times the time, exactly. */
	rate = (struct xdpfwd_rate){.pps = 1000, .burst = 50};
	rate_bucket(&rate, &b);
	for (__u64 t = 0; t < 10 * S; t += 200000)
		passed += bucket_take(&b, 100 * S + t);
	CHECK(passed == 50 + 10000 - 1 || passed == 50 + 10000,
	      "1000 pps burst 50 over 10 s at 5000 pps offered: %llu passed",
	      (unsigned long long)passed);
	/* A rate that does not divide a second still keeps time. */
	rate = (struct xdpfwd_rate){.pps = 3, .burst = 1};
	rate_bucket(&rate, &b);
	CHECK(b.interval_ns == 333333333, "3 pps: interval %llu",
	      (unsigned long long)b.interval_ns);
	return 4;
}

static void prefix(struct xdpfwd_prefix *p, const char *text)
{
	char err[ERR_LEN];

	CHECK(!parse_prefix(text, "prefix", p, err), "%s: %s", text, err);
}

static bool contains(const char *net, const char *addr)
{
	struct xdpfwd_prefix p;
	union xdpfwd_addr a = {0};
	__u8 family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	prefix(&p, net);
	inet_pton(family, addr, a.bytes);
	return prefix_contains(&p, family, &a);
}

static int test_prefixes(void)
{
	struct {
		const char *net, *addr;
		bool in;
	} cases[] = {
	    {"198.51.100.0/25", "198.51.100.0", true},
	    {"198.51.100.0/25", "198.51.100.127", true},
	    {"198.51.100.0/25", "198.51.100.128", false},
	    {"192.0.2.64/26", "192.0.2.63", false},
	    {"0.0.0.0/0", "203.0.113.1", true},
	    {"192.0.2.7", "192.0.2.7", true},
	    {"192.0.2.7", "192.0.2.6", false},
	    {"2001:db8:2::/48", "2001:db8:2:ffff:ffff:ffff:ffff:ffff", true},
	    {"2001:db8:2::/48", "2001:db8:3::", false},
	    {"2001:db8:2::/47", "2001:db8:3::1", true},
	    {"2001:db8:2::/48", "198.51.100.1", false},
	};
	struct xdpfwd_prefix p;
	char err[ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(contains(cases[i].net, cases[i].addr) == cases[i].in, "%s %s %s",
		      cases[i].addr, cases[i].in ? "not in" : "in", cases[i].net);
	CHECK(parse_prefix("198.51.100.7/24", "allow prefix", &p, err) &&
		  strstr(err, "write the network, 198.51.100.0/24"),
	      "host bits: '%s'", err);
	CHECK(parse_prefix("2001:db8::/129", "allow prefix", &p, err) &&
		  strstr(err, "allowed 0-128"),
	      "v6 length: '%s'", err);
	return 3;
}

/* Two hosts: the default ephemeral range with port 40001 reserved, and one
 * whose range starts at 50000 with a few sockets open; both declared
 * attach --clients 10.8.0.0/24,fd00:8::/64. */
static int test_conflicts(void)
{
	static struct host_ports hosts[2];
	struct xdpfwd_config config = {.client_count = 2};
	struct listener l[4] = {
	    {AF_INET, IPPROTO_TCP, 45000, {.v4 = 0}},		      /* 0.0.0.0:45000 */
	    {AF_INET, IPPROTO_TCP, 45001, {.bytes = {127, 0, 0, 1}}}, /* loopback only */
	    {AF_INET6, IPPROTO_UDP, 45002, {.v4 = 0}},		      /* [::]:45002, dual stack */
	    {AF_INET, IPPROTO_UDP, 45003, {.bytes = {10, 8, 0, 1}}},  /* the tunnel's address */
	};
	struct {
		int host;
		const char *line, *error;
		bool existing;
	} cases[] = {
	    {0, "tcp 20000 10.8.0.2", NULL},
	    {0, "tcp 40000 10.8.0.2",
	     "public port 40000 lies in the ephemeral port range 32768-60999"},
	    {0, "udp 32000-32768 10.8.0.2", "public port 32768 lies in the ephemeral"},
	    /* the longest message, whole (error buffers were once cut at 256) */
	    {1, "udp 50000-50009 10.8.0.2:6000", "ip_local_reserved_ports, or --force"},
	    {0, "tcp 40001 10.8.0.2", NULL},	   /* reserved: the kernel never picks it */
	    {0, "tcp 40000 10.8.0.2", NULL, true}, /* already mapped: not checked again */
	    {1, "tcp 203.0.113.10:45000 10.8.0.2",
	     "in use by a tcp socket listening on 0.0.0.0:45000"},
	    {1, "tcp 44990-45010 10.8.0.2", "public port 45000 is in use"},
	    {1, "udp 45000 10.8.0.2", NULL},
	    {1, "tcp 45001 10.8.0.2", NULL},
	    {1, "udp 203.0.113.10:45002 10.8.0.2", "listening on [::]:45002"},
	    {1, "udp 203.0.113.10:45003 10.8.0.2", NULL},
	    {1, "udp 45003 10.8.0.2", "listening on 10.8.0.1:45003"},
	    {0, "tcp 20000 192.0.2.9",
	     "outside the client networks of attach --clients (10.8.0.0/24, fd00:8::/64)"},
	    {0, "tcp 20000 [fd00:9::2]", "outside the client networks"},
	    {0, "tcp 20000 [fd00:8::2]", NULL},
	};
	char err[ERR_LEN];

	hosts[0].ephemeral_first = 32768;
	hosts[0].ephemeral_last = 60999;
	CHECK(!parse_port_set("40001\n", hosts[0].reserved), "reserved ports");
	hosts[1].ephemeral_first = 50000;
	hosts[1].ephemeral_last = 60999;
	hosts[1].listeners = l;
	hosts[1].listener_count = 4;
	prefix(&config.clients[0], "10.8.0.0/24");
	prefix(&config.clients[1], "fd00:8::/64");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rule *want = NULL;
		size_t n = 0;
		int ret;

		err[0] = '\0';
		ret = parse_config(cases[i].line, &want, &n, err);
		ret = ret
			  ?: check_conflicts(want, n, want, cases[i].existing ? n : 0,
					     &hosts[cases[i].host], &config, err);
		if (cases[i].error)
			CHECK(ret && strstr(err, cases[i].error) && !strchr(err, '\n'),
			      "%s: want '%s', got '%s'", cases[i].line, cases[i].error, err);
		else
			CHECK(!ret, "%s: unexpected '%s'", cases[i].line, err);
		free(want);
	}
	CHECK(parse_port_set("8080,9000-9010", hosts[0].reserved) == 0 &&
		  (hosts[0].reserved[9005 / 8] & (1 << (9005 % 8))) &&
		  !(hosts[0].reserved[9011 / 8] & (1 << (9011 % 8))),
	      "port set 8080,9000-9010");
	CHECK(parse_port_set("9010-9000", hosts[0].reserved) < 0, "a reversed port set is refused");
	return sizeof(cases) / sizeof(cases[0]);
}

static const char *const policy_table =
    "tcp 203.0.113.10:40000 10.8.0.2 allow=198.51.100.0/25,192.0.2.64/26\n" /* line 1 */
    "udp 5353 [fd00:8::2]:53 allow=2001:db8:2::/48\n"			    /* line 2 */
    "udp 203.0.113.10:6000 10.8.0.5 rate=10:3\n"			    /* line 3 */
    "tcp 203.0.113.10:7000 10.8.0.6 new-rate=10:2\n"			    /* line 4 */
    "udp 203.0.113.10:7001 10.8.0.7 new-rate=10:2 rate=1000\n"		    /* line 5 */
    "tcp 203.0.113.10:8000 10.8.0.8 ttl=60\n"				    /* line 6 */
    "tcp 203.0.113.10:8001 10.8.0.9\n";					    /* line 7 */

struct policy_env {
	struct xdpfwd_bpf *skel;
	struct xdpfwd_maps maps;
	struct rule *rules;
	size_t n;
};

static __u32 slot_of(const struct policy_env *env, int line)
{
	struct slot_mapping *live;
	size_t count;
	__u32 slot = (__u32)-1;

	if (table_read(&env->maps, &live, &count))
		return slot;
	for (size_t i = 0; i < count; i++)
		for (size_t r = 0; r < env->n; r++)
			if (env->rules[r].line == (unsigned int)line &&
			    same_public(&live[i].m, &env->rules[r].m))
				slot = live[i].slot;
	free(live);
	return slot;
}

/* One packet to xdpfwd_in at NOW: it must be forwarded (PASS: the fast path
 * is off) or dropped for DROP_STAT, counted as such on the mapping of LINE. */
static void expect(struct policy_env *env, const char *what, const struct pkt_spec *spec, __u64 now,
		   int line, int drop_stat)
{
	__u8 in[PKT_MAX], out[PKT_MAX];
	__u64 before[XDPFWD_STAT_MAX], after[XDPFWD_STAT_MAX];
	struct xdpfwd_counters cb, ca;
	__u32 slot = slot_of(env, line);
	size_t len = build_packet(spec, in);

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	env->skel->bss->policy_clock_ns = now;
	stats_read(&env->maps, before);
	counters_read(&env->maps, slot, &cb);
	if (!CHECK(!bpf_prog_test_run_opts(bpf_program__fd(env->skel->progs.xdpfwd_in), &opts),
		   "%s: test run: %m", what))
		return;
	stats_read(&env->maps, after);
	counters_read(&env->maps, slot, &ca);
	CHECK(opts.retval == (drop_stat ? XDP_DROP : XDP_PASS), "%s: verdict %u, want %s", what,
	      opts.retval, drop_stat ? "drop" : "forward");
	CHECK(after[XDPFWD_STAT_IN_FORWARDED] - before[XDPFWD_STAT_IN_FORWARDED] == !drop_stat,
	      "%s: in_forwarded grew by %llu", what,
	      (unsigned long long)(after[XDPFWD_STAT_IN_FORWARDED] -
				   before[XDPFWD_STAT_IN_FORWARDED]));
	CHECK(ca.rx_packets - cb.rx_packets == !drop_stat, "%s: mapping rx grew by %llu", what,
	      (unsigned long long)(ca.rx_packets - cb.rx_packets));
	if (drop_stat)
		CHECK(after[drop_stat] - before[drop_stat] == 1, "%s: %s did not grow", what,
		      xdpfwd_stat_names[drop_stat]);
	CHECK(ca.not_allowed - cb.not_allowed == (drop_stat == XDPFWD_STAT_IN_DROP_NOT_ALLOWED) &&
		  ca.rate_limited - cb.rate_limited ==
		      (drop_stat == XDPFWD_STAT_IN_DROP_RATE_LIMITED),
	      "%s: mapping drops grew by %llu not allowed, %llu rate limited", what,
	      (unsigned long long)(ca.not_allowed - cb.not_allowed),
	      (unsigned long long)(ca.rate_limited - cb.rate_limited));
}

#define NOT_ALLOWED XDPFWD_STAT_IN_DROP_NOT_ALLOWED
#define LIMITED	    XDPFWD_STAT_IN_DROP_RATE_LIMITED
#define EXPIRED	    XDPFWD_STAT_IN_DROP_EXPIRED
#define PKT4(proto_, src, sp, dp, ...)                                           \
	(struct pkt_spec)                                                        \
	{                                                                        \
		.family = AF_INET, .proto = proto_, .saddr = src, .sport = sp,   \
		.daddr = "203.0.113.10", .dport = dp, .payload = 20, __VA_ARGS__ \
	}
#define PKT6(src, dp)                                                                   \
	(struct pkt_spec)                                                               \
	{                                                                               \
		.family = AF_INET6, .proto = IPPROTO_UDP, .saddr = src, .sport = 33333, \
		.daddr = "2001:db8:1::10", .dport = dp, .payload = 20                   \
	}

static void test_allow(struct policy_env *env, __u64 t)
{
	static const struct {
		const char *src;
		bool in;
	} v4[] =
	    {
		{"198.51.100.0", true},	   {"198.51.100.127", true}, {"198.51.100.128", false},
		{"198.51.100.255", false}, {"192.0.2.63", false},    {"192.0.2.64", true},
		{"192.0.2.127", true},	   {"192.0.2.128", false},   {"203.0.113.20", false},
	    },
	  v6[] = {
	      {"2001:db8:2::", true},
	      {"2001:db8:2:ffff:ffff:ffff:ffff:ffff", true},
	      {"2001:db8:1:ffff:ffff:ffff:ffff:ffff", false},
	      {"2001:db8:3::", false},
	  };
	char what[96];

	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		struct pkt_spec p = PKT4(IPPROTO_TCP, v4[i].src, 33333, 40000);

		snprintf(what, sizeof(what), "allow: from %s", v4[i].src);
		expect(env, what, &p, t, 1, v4[i].in ? 0 : NOT_ALLOWED);
	}
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		struct pkt_spec p = PKT6(v6[i].src, 5353);

		snprintf(what, sizeof(what), "allow: from %s", v6[i].src);
		expect(env, what, &p, t, 2, v6[i].in ? 0 : NOT_ALLOWED);
	}
	{
		/* A mapping without an allowlist admits any source. */
		struct pkt_spec p = PKT4(IPPROTO_TCP, "203.0.113.20", 33333, 8001);

		expect(env, "no allowlist: any source", &p, t, 7, 0);
	}
}

/* An ICMP error about the client's packet to a peer is admitted by the peer
 * (the quoted destination), whoever sent the error. */
static void test_icmp_allow(struct policy_env *env, __u64 t)
{
	struct pkt_spec quote = {.family = AF_INET,
				 .proto = IPPROTO_TCP,
				 .saddr = "203.0.113.10",
				 .sport = 40000,
				 .daddr = "198.51.100.7",
				 .dport = 33333,
				 .payload = 20};
	struct pkt_spec error = {.family = AF_INET,
				 .proto = IPPROTO_ICMP,
				 .saddr = "192.0.2.1", /* a router outside the allowlist */
				 .daddr = "203.0.113.10",
				 .icmp_type = 3,
				 .icmp_code = 1,
				 .quote = &quote};

	expect(env, "icmp error about an allowed peer", &error, t, 1, 0);
	quote.daddr = "198.51.100.200";
	expect(env, "icmp error about a peer outside the allowlist", &error, t, 1, NOT_ALLOWED);
}

static void test_rate(struct policy_env *env, __u64 t)
{
	struct pkt_spec p = PKT4(IPPROTO_UDP, "198.51.100.7", 33333, 6000);

	for (int i = 0; i < 3; i++)
		expect(env, "rate 10:3: burst", &p, t, 3, 0);
	expect(env, "rate 10:3: past the burst", &p, t, 3, LIMITED);
	expect(env, "rate 10:3: 99 ms later", &p, t + 99 * MS, 3, LIMITED);
	expect(env, "rate 10:3: 100 ms later", &p, t + 100 * MS, 3, 0);
	expect(env, "rate 10:3: again at 100 ms", &p, t + 100 * MS, 3, LIMITED);
	for (int i = 0; i < 3; i++)
		expect(env, "rate 10:3: refilled after 10 s", &p, t + 10 * S, 3, 0);
	expect(env, "rate 10:3: refilled no further", &p, t + 10 * S, 3, LIMITED);
}

static void test_new_connections(struct policy_env *env, __u64 t)
{
	struct pkt_spec syn = PKT4(IPPROTO_TCP, "198.51.100.7", 1, 7000, .tcp_flags = 0x02);
	struct pkt_spec synack = PKT4(IPPROTO_TCP, "198.51.100.7", 1, 7000, .tcp_flags = 0x12);
	struct pkt_spec ack = PKT4(IPPROTO_TCP, "198.51.100.7", 1, 7000);

	expect(env, "tcp new-rate 10:2: SYN 1", &syn, t, 4, 0);
	syn.sport = 2;
	expect(env, "tcp new-rate 10:2: SYN 2", &syn, t, 4, 0);
	syn.sport = 3;
	expect(env, "tcp new-rate 10:2: SYN 3", &syn, t, 4, LIMITED);
	expect(env, "tcp new-rate 10:2: an ACK is no new connection", &ack, t, 4, 0);
	expect(env, "tcp new-rate 10:2: nor is a SYN-ACK", &synack, t, 4, 0);
	expect(env, "tcp new-rate 10:2: SYN 100 ms later", &syn, t + 100 * MS, 4, 0);

	/* UDP: a flow is new until one of its packets has been forwarded,
	 * and again after XDPFWD_FLOW_IDLE_NS without one. */
	struct pkt_spec u = PKT4(IPPROTO_UDP, "198.51.100.7", 1, 7001);

	expect(env, "udp new-rate 10:2: flow 1", &u, t, 5, 0);
	expect(env, "udp new-rate 10:2: flow 1 again is not new", &u, t, 5, 0);
	u.sport = 2;
	expect(env, "udp new-rate 10:2: flow 2", &u, t, 5, 0);
	u.sport = 3;
	expect(env, "udp new-rate 10:2: flow 3", &u, t, 5, LIMITED);
	expect(env, "udp new-rate 10:2: flow 3 is still new", &u, t, 5, LIMITED);
	u.sport = 1;
	expect(env, "udp new-rate 10:2: flow 1 stays known", &u, t + 25 * S, 5, 0);
	u.sport = 2;
	expect(env, "udp new-rate 10:2: flow 2 idle 30 s is new", &u, t + 50 * S, 5, 0);
	u.sport = 4;
	expect(env, "udp new-rate 10:2: flow 4", &u, t + 50 * S, 5, 0);
	u.sport = 5;
	expect(env, "udp new-rate 10:2: flow 5 past the burst", &u, t + 50 * S, 5, LIMITED);
	u.sport = 1;
	expect(env, "udp new-rate 10:2: known flow 1 passes meanwhile", &u, t + 50 * S, 5, 0);
}

static void test_lifetime(struct policy_env *env)
{
	struct pkt_spec p = PKT4(IPPROTO_TCP, "198.51.100.7", 33333, 8000);

	expect(env, "ttl 60: at 59.999 s", &p, TEST_CLOCK_NS + 60 * S - 1, 6, 0);
	expect(env, "ttl 60: at 60 s", &p, TEST_CLOCK_NS + 60 * S, 6, EXPIRED);
	p.dport = 8001;
	expect(env, "no ttl: a year on", &p, TEST_CLOCK_NS + 365 * 86400 * S, 7, 0);
}

UNIT_TEST(test_policy, 30)
{
	struct policy_env env = {0};
	int cases = test_bucket() + test_prefixes() + test_conflicts();

	env.skel = xdpfwd_bpf__open_and_load();
	if (!CHECK(env.skel != NULL, "loading the BPF object: %m"))
		return cases;
	if (!install_test_table(env.skel->obj, policy_table, &env.maps, &env.rules, &env.n)) {
		test_allow(&env, TEST_CLOCK_NS);
		test_icmp_allow(&env, TEST_CLOCK_NS);
		test_rate(&env, TEST_CLOCK_NS + S);
		test_new_connections(&env, TEST_CLOCK_NS + 2 * S);
		test_lifetime(&env);
		cases += 5;
	}
	free(env.rules);
	xdpfwd_bpf__destroy(env.skel);
	return cases;
}
