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
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fixture.h"
#include "harness.h"
#include "packet.h"
#include "table.h"
#include "xdpfwd.skel.h"

#pragma GCC diagnostic ignored "-Woverride-init" /* a case may change what UDP4() sets */

static const char *const fast_table = "udp 203.0.113.10:7001 192.0.2.2\n" /* Ethernet, neighbour */
				      "udp 203.0.113.10:7002 10.8.0.2\n"  /* the tunnel */
				      "udp 203.0.113.10:7003 192.0.2.3\n" /* no neighbour yet */
				      "udp 203.0.113.10:7004 10.99.0.2\n" /* no route */
				      "udp 203.0.113.10:7005 192.0.2.130\n" /* not in the devmap */
				      "tcp [2001:db8:1::10]:7001 [2001:db8:3::2]\n";

static const __u8 target_mac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};
static const __u8 egress_mac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};

/* pub: the public interface; tgt: an Ethernet link to targets, with their
 * neighbours; other: an Ethernet link left out of the devmap; tun0: a TUN
 * device held open so it has carrier, MTU 1420 like a WireGuard tunnel. */
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

/* Runs last: it moves the whole test process into a new network namespace. */
UNIT_CASES(test_fastpath, 90)
{
	unsigned int pub, tgt, tun;
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
out:
	free(rules);
	xdpfwd_bpf__destroy(skel);
	if (tun_fd >= 0)
		close(tun_fd);
	return ran;
}
