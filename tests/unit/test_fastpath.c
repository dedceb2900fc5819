// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The fast path through BPF_PROG_TEST_RUN, in a network namespace of its own
 * where the FIB has a neighbour on an Ethernet device, a TUN tunnel and the
 * cases the program must leave to the stack. Each case: the packet, the
 * verdict, the expected output (rewritten; with new MACs and TTL where the
 * program forwards; with the metadata note for the tunnel) and the one exit
 * counter that must grow besides in_forwarded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fixture.h"
#include "harness.h"
#include "ifkind.h"
#include "packet.h"
#include "table.h"
#include "xdpfwd.skel.h"

#pragma GCC diagnostic ignored "-Woverride-init" /* a case may change what UDP4() sets */

static const char *const fast_table = "udp 203.0.113.10:7001 192.0.2.2\n" /* Ethernet, neighbour */
				      "udp 203.0.113.10:7002 10.8.0.2\n"  /* the tunnel */
				      "udp 203.0.113.10:7003 192.0.2.3\n" /* no neighbour yet */
				      "udp 203.0.113.10:7004 10.99.0.2\n" /* no route */
				      "udp 203.0.113.10:7005 192.0.2.130\n" /* not in the devmap */
				      "tcp [2001:db8:1::10]:7001 [2001:db8:3::2]\n"
				      /* clients behind the Ethernet tunnel etun */
				      "both 203.0.113.10:7101 10.9.0.2\n"
				      "udp 203.0.113.10:7102 10.9.0.3\n"
				      "udp [2001:db8:1::10]:7101 [fd00:9::2]\n";

static const __u8 target_mac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};
static const __u8 egress_mac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};

/* pub: the public interface, MTU 1400 (PPPoE, a cloud VPC); tgt: an Ethernet
 * link to targets, with their neighbours (and a LAN the server routes);
 * other: an Ethernet link left out of the devmap; tun0: a TUN device held
 * open so it has carrier, MTU 1420 like a WireGuard tunnel; etun: a tunnel
 * that is an Ethernet device (a veth, as towards a separate VPN box), MTU
 * 1420, with clients 10.9.0.2 and 10.9.0.3; 10.98.0.0/16 is blackholed. */
static const char *const setup =
    "set -e\n"
    "ip link set lo up\n"
    "ip link add pub type veth peer name pubpeer\n"
    "ip link add tgt address 02:00:00:00:aa:01 type veth peer name tgtpeer\n"
    "ip link add other type veth peer name otherpeer\n"
    "for d in pub pubpeer tgt tgtpeer other otherpeer; do ip link set $d up; done\n"
    "ip addr add 203.0.113.10/24 dev pub\n"
    "ip addr add 2001:db8:1::10/64 dev pub nodad\n"
    "ip addr add 192.0.2.1/25 dev tgt\n"
    "ip addr add 2001:db8:3::1/64 dev tgt nodad\n"
    "ip addr add 192.0.2.129/25 dev other\n"
    "ip neigh add 192.0.2.2 lladdr 02:00:00:00:bb:02 dev tgt nud permanent\n"
    "ip neigh add 2001:db8:3::2 lladdr 02:00:00:00:bb:02 dev tgt nud permanent\n"
    "ip neigh add 192.0.2.130 lladdr 02:00:00:00:bb:03 dev other nud permanent\n"
    "ip link set tun0 mtu 1420 up\n"
    "ip addr add 10.8.0.1/24 dev tun0\n"
    "ip link set pub mtu 1400\n"
    "ip neigh add 203.0.113.20 lladdr 02:00:00:00:cc:20 dev pub nud permanent\n"
    "ip neigh add 2001:db8:1::20 lladdr 02:00:00:00:cc:20 dev pub nud permanent\n"
    "ip link add etun mtu 1420 type veth peer name etunpeer\n"
    "ip link set etun up && ip link set etunpeer up\n"
    "ip addr add 10.9.0.1/24 dev etun\n"
    "ip addr add fd00:9::1/64 dev etun nodad\n"
    "ip neigh add 10.9.0.2 lladdr 02:00:00:00:dd:02 dev etun nud permanent\n"
    "ip neigh add 10.9.0.3 lladdr 02:00:00:00:dd:03 dev etun nud permanent\n"
    "ip neigh add fd00:9::2 lladdr 02:00:00:00:dd:02 dev etun nud permanent\n"
    "ip route add blackhole 10.98.0.0/16\n"
    "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1\n";

struct fp_case {
	const char *name;
	struct pkt_spec in;
	const char *rw_addr;
	__u16 rw_port;
	int verdict;
	int exit_stat;
	bool forwarded; /* new MACs, TTL - 1 */
	bool note;	/* metadata for the tunnel, TTL - 1 */
};

#define UDP4(p)                                                                           \
	.family = AF_INET, .proto = IPPROTO_UDP, .saddr = "198.51.100.7", .sport = 33333, \
	.daddr = "203.0.113.10", .dport = (p)

static const struct fp_case fp_cases[] = {
    {"ethernet target: redirected with MACs and TTL",
     {UDP4(7001)},
     "192.0.2.2",
     7001,
     XDP_REDIRECT,
     XDPFWD_STAT_IN_FAST_REDIRECT,
     .forwarded = true},
    {"ipv6 ethernet target: redirected with hop limit",
     {.family = AF_INET6,
      .proto = IPPROTO_TCP,
      .saddr = "2001:db8:2::7",
      .sport = 33333,
      .daddr = "2001:db8:1::10",
      .dport = 7001},
     "2001:db8:3::2",
     7001,
     XDP_REDIRECT,
     XDPFWD_STAT_IN_FAST_REDIRECT,
     .forwarded = true},
    {"tunnel target: note for tc, TTL",
     {UDP4(7002)},
     "10.8.0.2",
     7002,
     XDP_PASS,
     XDPFWD_STAT_IN_FAST_TUNNEL,
     .note = true},
    {"tunnel target above its MTU: stack",
     {UDP4(7002), .payload = 1400},
     "10.8.0.2",
     7002,
     XDP_PASS,
     XDPFWD_STAT_IN_STACK_MTU},
    {"TTL 1: stack, for time exceeded",
     {UDP4(7001), .ttl = 1},
     "192.0.2.2",
     7001,
     XDP_PASS,
     XDPFWD_STAT_IN_STACK_TTL},
    {"no neighbour yet: stack",
     {UDP4(7003)},
     "192.0.2.3",
     7003,
     XDP_PASS,
     XDPFWD_STAT_IN_STACK_NO_NEIGH},
    {"no route: stack", {UDP4(7004)}, "10.99.0.2", 7004, XDP_PASS, XDPFWD_STAT_IN_STACK_NO_ROUTE},
    {"egress not in the devmap: stack",
     {UDP4(7005)},
     "192.0.2.130",
     7005,
     XDP_PASS,
     XDPFWD_STAT_IN_STACK_NO_XDP_EGRESS},
    {"VLAN-tagged frame: stack",
     {UDP4(7001), .tpid = {ETH_P_8021Q}},
     "192.0.2.2",
     7001,
     XDP_PASS,
     XDPFWD_STAT_IN_STACK_VLAN},
};

/* The inbound side of an Ethernet tunnel: the same note as for an L3 one
 * (xdpfwd_to_tun then redirects with the neighbour's MACs). */
static const struct fp_case eth_tunnel_in = {"ethernet tunnel target: note for tc, TTL",
					     {UDP4(7101)},
					     "10.9.0.2",
					     7101,
					     XDP_PASS,
					     XDPFWD_STAT_IN_FAST_TUNNEL,
					     .note = true};

static int open_tun(const char *name)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void run_fp_case(const struct fp_case *c, int prog_fd, const struct xdpfwd_maps *maps,
			unsigned int pub, unsigned int tun)
{
	__u8 in[PKT_MAX], want[PKT_MAX + 8], out[PKT_MAX + 64];
	__u64 before[XDPFWD_STAT_MAX], after[XDPFWD_STAT_MAX];
	struct pkt_spec want_spec = c->in;
	struct xdp_md ctx = {0};
	size_t in_len, want_len, meta_len = c->note ? sizeof(struct xdpfwd_meta) : 0;

	want_spec.daddr = c->rw_addr;
	want_spec.dport = c->rw_port;
	if (c->forwarded || c->note)
		want_spec.ttl = 63;
	if (c->forwarded) {
		want_spec.dmac = target_mac;
		want_spec.smac = egress_mac;
	}
	in_len = build_packet(&c->in, in);
	want_len = build_packet(&want_spec, want + meta_len);
	if (c->note) {
		struct xdpfwd_meta meta = {.magic = XDPFWD_META_MAGIC, .ifindex = tun};

		memcpy(want, &meta, sizeof(meta));
		want_len += meta_len;
	}
	ctx.data_end = in_len;
	ctx.ingress_ifindex = pub;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .ctx_out = &ctx, .ctx_size_out = sizeof(ctx), .repeat = 1);

	stats_read(maps, before);
	if (!CHECK(bpf_prog_test_run_opts(prog_fd, &opts) == 0, "%s: test run failed: %m", c->name))
		return;
	stats_read(maps, after);
	CHECK((int)opts.retval == c->verdict, "%s: verdict %d, want %d", c->name, opts.retval,
	      c->verdict);
	CHECK(ctx.data == meta_len, "%s: %u bytes of metadata, want %zu", c->name, ctx.data,
	      meta_len);
	if (!CHECK(opts.data_size_out == want_len && !memcmp(out, want, want_len),
		   "%s: output differs from the expected packet", c->name)) {
		hexdump("expected", want, want_len);
		hexdump("got", out, opts.data_size_out);
	}
	for (int s = 0; s < XDPFWD_STAT_MAX; s++) {
		int want_delta = s == XDPFWD_STAT_IN_FORWARDED || s == c->exit_stat;

		CHECK(after[s] - before[s] == (__u64)want_delta,
		      "%s: counter %s grew by %llu, want %d", c->name, xdpfwd_stat_names[s],
		      (unsigned long long)(after[s] - before[s]), want_delta);
	}
}

/*
 * The tunnel side, xdpfwd_from_tun on an Ethernet tunnel (etun; an L3
 * tunnel's packets start at the IP header, which BPF_PROG_TEST_RUN cannot
 * give a tc program, so the e2e tests cover that one). Each case: the client's
 * packet, its GSO segment size, the verdict, what is rewritten (nothing for
 * the stack's packets), and the one exit counter that must grow. The cases
 * run in order: the own-port hairpin's answer follows its first packet.
 */
struct tun_case {
	const char *name;
	struct pkt_spec in;
	__u32 gso_size;
	int verdict;
	int exit_stat;
	const char *rw_saddr, *rw_daddr; /* NULL: unchanged */
	__u16 rw_sport, rw_dport;
	bool ttl; /* decremented */
};

#define CLI4(dst, dp)                                                                \
	.family = AF_INET, .proto = IPPROTO_UDP, .saddr = "10.9.0.2", .sport = 7101, \
	.daddr = (dst), .dport = (dp)
#define CLI6(dst, dp)                                                                  \
	.family = AF_INET6, .proto = IPPROTO_UDP, .saddr = "fd00:9::2", .sport = 7101, \
	.daddr = (dst), .dport = (dp)
/* Out of the public interface, from the public endpoint. */
#define SENT4	    TC_ACT_REDIRECT, XDPFWD_STAT_OUT_FAST_REDIRECT, "203.0.113.10", NULL, 7101, 0, true
#define SENT6	    TC_ACT_REDIRECT, XDPFWD_STAT_OUT_FAST_REDIRECT, "2001:db8:1::10", NULL, 7101, 0, true
#define STACK(stat) TC_ACT_UNSPEC, XDPFWD_STAT_##stat

static const struct tun_case tun_cases[] = {
    {"to the internet: public endpoint, out of the public interface",
     {CLI4("203.0.113.20", 9000), .payload = 100},
     0,
     SENT4},
    {"exactly the public MTU (1400): sent", {CLI4("203.0.113.20", 9000), .payload = 1372}, 0, SENT4},
    {"just above the public MTU (1402): stack, untouched",
     {CLI4("203.0.113.20", 9000), .payload = 1374},
     0,
     STACK(OUT_STACK_MTU)},
    {"above the public MTU (1420 > 1400): stack, untouched",
     {CLI4("203.0.113.20", 9000), .payload = 1392},
     0,
     STACK(OUT_STACK_MTU)},
    {"above the MTU, no DF: stack, untouched (it fragments)",
     {CLI4("203.0.113.20", 9000), .payload = 1392, .frag_off = 0},
     0,
     STACK(OUT_STACK_MTU)},
    {"GSO, 1028-byte segments: sent whole",
     {CLI4("203.0.113.20", 9000), .payload = 1900},
     1000,
     SENT4},
    {"GSO, 1418-byte segments: stack",
     {CLI4("203.0.113.20", 9000), .payload = 1900},
     1390,
     STACK(OUT_STACK_MTU)},
    {"GSO TCP, 1400-byte segments: sent",
     {CLI4("203.0.113.20", 9000), .proto = IPPROTO_TCP, .payload = 1900},
     1360,
     SENT4},
    {"GSO TCP, 1401-byte segments: stack",
     {CLI4("203.0.113.20", 9000), .proto = IPPROTO_TCP, .payload = 1900},
     1361,
     STACK(OUT_STACK_MTU)},
    {"ipv6 within the MTU: sent", {CLI6("2001:db8:1::20", 9000), .payload = 1352}, 0, SENT6},
    {"ipv6 above the MTU: stack (packet too big)",
     {CLI6("2001:db8:1::20", 9000), .payload = 1372},
     0,
     STACK(OUT_STACK_MTU)},
    {"to a LAN the server routes: stack, untouched",
     {CLI4("192.0.2.2", 9000)},
     0,
     STACK(OUT_STACK_NOT_PUBLIC)},
    {"to the tunnel's own address (a resolver): stack, untouched",
     {CLI4("10.9.0.1", 53)},
     0,
     STACK(OUT_STACK_LOCAL)},
    {"ipv6 to the tunnel's own address: stack, untouched",
     {CLI6("fd00:9::1", 53)},
     0,
     STACK(OUT_STACK_LOCAL)},
    {"to the public address, an unmapped port: stack",
     {CLI4("203.0.113.10", 9999)},
     0,
     STACK(OUT_STACK_LOCAL)},
    {"to a blackholed network: stack", {CLI4("10.98.0.1", 9000)}, 0, STACK(OUT_STACK_NO_ROUTE)},
    {"to another client of the tunnel: hairpin",
     {CLI4("10.9.0.3", 5000)},
     0,
     TC_ACT_REDIRECT,
     XDPFWD_STAT_OUT_HAIRPIN,
     "203.0.113.10",
     NULL,
     7101,
     0,
     true},
    {"from a mapped port to another client's public endpoint: hairpin",
     {CLI4("203.0.113.10", 7102)},
     0,
     TC_ACT_UNSPEC,
     XDPFWD_STAT_IN_HAIRPIN,
     NULL,
     "10.9.0.3",
     0,
     7102},
    {"to its own public endpoint: back in, from the tunnel's address",
     {CLI4("203.0.113.10", 7101), .sport = 40000},
     0,
     TC_ACT_REDIRECT,
     XDPFWD_STAT_IN_HAIRPIN,
     "10.9.0.1",
     "10.9.0.2",
     40000,
     7101},
    {"the answer to it: back in, from the public endpoint",
     {CLI4("10.9.0.1", 40000)},
     0,
     TC_ACT_REDIRECT,
     XDPFWD_STAT_OUT_HAIRPIN,
     "203.0.113.10",
     "10.9.0.2",
     7101,
     40000,
     true},
    {"to the tunnel's address, another port than the hairpin's: stack",
     {CLI4("10.9.0.1", 40001)},
     0,
     STACK(OUT_STACK_LOCAL)},
};

/* FAST_PATH off: what the fast path sends out goes to the stack untouched,
 * and the stack exits are not counted; hairpin is the same in both modes. */
static void run_tun_case(const struct tun_case *c, int prog_fd, const struct xdpfwd_maps *maps,
			 unsigned int tunnel, bool fast_path)
{
	__u8 in[PKT_MAX], want[PKT_MAX], out[PKT_MAX + 64];
	__u64 before[XDPFWD_STAT_MAX], after[XDPFWD_STAT_MAX];
	struct pkt_spec want_spec = c->in;
	bool sent = c->exit_stat == XDPFWD_STAT_OUT_FAST_REDIRECT;
	bool stack = c->verdict == TC_ACT_UNSPEC && c->exit_stat != XDPFWD_STAT_IN_HAIRPIN;
	int verdict = c->verdict, exit_stat = c->exit_stat;
	struct __sk_buff ctx = {.ifindex = tunnel, .gso_size = c->gso_size};
	size_t in_len, want_len;

	if (!fast_path && (sent || stack)) {
		verdict = TC_ACT_UNSPEC;
		exit_stat = -1;
	} else {
		if (c->rw_saddr) {
			want_spec.saddr = c->rw_saddr;
			want_spec.sport = c->rw_sport;
		}
		if (c->rw_daddr) {
			want_spec.daddr = c->rw_daddr;
			want_spec.dport = c->rw_dport;
		}
		if (c->ttl)
			want_spec.ttl = 63;
	}
	if (c->gso_size)
		ctx.gso_segs = 2;
	in_len = build_packet(&c->in, in);
	want_len = build_packet(&want_spec, want);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = 1);

	stats_read(maps, before);
	if (!CHECK(bpf_prog_test_run_opts(prog_fd, &opts) == 0,
		   "tunnel, fast path %s: %s: test "
		   "run failed: %m",
		   fast_path ? "on" : "off", c->name))
		return;
	stats_read(maps, after);
	CHECK((int)opts.retval == verdict, "tunnel, fast path %s: %s: verdict %d, want %d",
	      fast_path ? "on" : "off", c->name, opts.retval, verdict);
	if (!CHECK(opts.data_size_out == want_len && !memcmp(out, want, want_len),
		   "tunnel, fast path %s: %s: output differs from the expected packet",
		   fast_path ? "on" : "off", c->name)) {
		hexdump("expected", want, want_len);
		hexdump("got", out, opts.data_size_out);
	}
	for (int s = 0; s < XDPFWD_STAT_MAX; s++) {
		int want_delta = s == exit_stat;

		CHECK(after[s] - before[s] == (__u64)want_delta,
		      "tunnel, fast path %s: %s: counter %s grew by %llu, want %d",
		      fast_path ? "on" : "off", c->name, xdpfwd_stat_names[s],
		      (unsigned long long)(after[s] - before[s]), want_delta);
	}
}

/* A skeleton for the Ethernet tunnel etun, loaded as attach would, with the
 * test table; the caller destroys it. */
static struct xdpfwd_bpf *load_ethernet(unsigned int pub, unsigned int etun, bool fast_path,
					struct xdpfwd_maps *maps)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open();
	struct rule *rules = NULL;
	size_t n = 0;

	if (!CHECK(skel != NULL, "opening the BPF object: %m"))
		return NULL;
	skel->rodata->fast_path_on = fast_path;
	skel->rodata->tunnel_ifindex = etun;
	skel->rodata->public_ifindex = pub;
	skel->rodata->tunnel_ethernet = 1;
	inet_pton(AF_INET, "10.9.0.1", (void *)&skel->rodata->tunnel_addr4);
	inet_pton(AF_INET6, "fd00:9::1", (void *)&skel->rodata->tunnel_addr6);
	if (!CHECK(xdpfwd_bpf__load(skel) == 0, "loading the BPF object for etun: %m") ||
	    install_test_table(skel->obj, fast_table, maps, &rules, &n)) {
		xdpfwd_bpf__destroy(skel);
		skel = NULL;
	}
	free(rules);
	return skel;
}

/* The link types attach decides by. */
static void check_tunnel_kinds(void)
{
	enum tunnel_kind kind = TUNNEL_L3;

	CHECK(tunnel_kind_of("tun0", &kind) == 0 && kind == TUNNEL_L3, "tun0 is not an L3 tunnel");
	CHECK(tunnel_kind_of("etun", &kind) == 0 && kind == TUNNEL_ETHERNET,
	      "etun is not an Ethernet tunnel");
	CHECK(tunnel_kind_of("lo", &kind) == -EOPNOTSUPP, "lo is not refused");
	CHECK(tunnel_kind_of("nosuch0", &kind) == -ENODEV, "nosuch0 is not refused");
}

/* Runs last: it moves the whole test process into a new network namespace. */
UNIT_CASES(test_fastpath, 90)
{
	unsigned int pub, tgt, tun, etun;
	struct xdpfwd_bpf *skel = NULL;
	struct xdpfwd_maps maps;
	struct rule *rules = NULL;
	size_t n = 0;
	int tun_fd = -1, ran = 0;

	if (!CHECK(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %m"))
		return 0;
	tun_fd = open_tun("tun0");
	if (!CHECK(tun_fd >= 0, "creating tun0: %m") || !CHECK(system(setup) == 0, "lab setup"))
		goto out;
	pub = if_nametoindex("pub");
	tgt = if_nametoindex("tgt");
	tun = if_nametoindex("tun0");

	skel = xdpfwd_bpf__open();
	if (!CHECK(skel != NULL, "opening the BPF object: %m"))
		goto out;
	skel->rodata->fast_path_on = 1;
	skel->rodata->tunnel_ifindex = tun;
	skel->rodata->public_ifindex = pub;
	/* So the verifier sees the hairpin path as attach loads it. */
	inet_pton(AF_INET, "10.8.0.1", (void *)&skel->rodata->tunnel_addr4);
	inet_pton(AF_INET6, "fd00:8::1", (void *)&skel->rodata->tunnel_addr6);
	if (!CHECK(xdpfwd_bpf__load(skel) == 0, "loading the BPF object: %m"))
		goto out;
	for (unsigned int i = 0, devs[2] = {pub, tgt}; i < 2; i++)
		CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.xdpfwd_egress), &devs[i], &devs[i],
					  BPF_ANY) == 0,
		      "devmap entry: %m");

	if (install_test_table(skel->obj, fast_table, &maps, &rules, &n))
		goto out;

	for (size_t i = 0; i < sizeof(fp_cases) / sizeof(fp_cases[0]); i++)
		if (unit_selected(fp_cases[i].name)) {
			run_fp_case(&fp_cases[i], bpf_program__fd(skel->progs.xdpfwd_in), &maps,
				    pub, tun);
			ran++;
		}
	xdpfwd_bpf__destroy(skel);

	check_tunnel_kinds();
	etun = if_nametoindex("etun");
	for (int fast_path = 1; fast_path >= 0; fast_path--) {
		skel = load_ethernet(pub, etun, fast_path, &maps);
		if (!skel)
			goto out;
		if (fast_path && unit_selected(eth_tunnel_in.name)) {
			run_fp_case(&eth_tunnel_in, bpf_program__fd(skel->progs.xdpfwd_in), &maps,
				    pub, etun);
			ran++;
		}
		for (size_t i = 0; i < sizeof(tun_cases) / sizeof(tun_cases[0]); i++)
			if (unit_selected(tun_cases[i].name)) {
				run_tun_case(&tun_cases[i],
					     bpf_program__fd(skel->progs.xdpfwd_from_tun), &maps,
					     etun, fast_path);
				ran++;
			}
		xdpfwd_bpf__destroy(skel);
	}
	skel = NULL;
out:
	free(rules);
	xdpfwd_bpf__destroy(skel);
	if (tun_fd >= 0)
		close(tun_fd);
	return ran;
}
