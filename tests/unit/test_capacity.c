// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_capacity.c - the capacity chosen at attach (loader/capacity.h): the
 * limits a table is held to, the maps sized by capacity_set() and read back
 * by table_capacity(), the slots a full table refuses, and the largest
 * capacity, 1,048,576 mappings, loading and forwarding a packet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capacity.h"
#include "fixture.h"
#include "harness.h"
#include "packet.h"
#include "table.h"
#include "xdpfwd.skel.h"

static const struct {
	const char *name;
	size_t count, ports;
	__u32 cap;
	const char *err; /* NULL: fits */
} fits_cases[] = {
    {"empty table, capacity 1", 0, 0, 1, NULL},
    {"one mapping, capacity 1", 1, 1, 1, NULL},
    {"two ports, capacity 1", 1, 2, 1, NULL},
    {"three ports, capacity 1", 1, 3, 1,
     "the mappings cover 3 ports, more than the 2 a capacity of 1 holds (2 a mapping)"},
    {"1,000 of 1,000", 1000, 2000, 1000, NULL},
    {"1,001 of 1,000", 1001, 1001, 1000, "1001 mappings, more than a capacity of 1000 holds"},
    {"the largest", XDPFWD_MAX_CAPACITY, 2 * XDPFWD_MAX_CAPACITY, XDPFWD_MAX_CAPACITY, NULL},
};

static const struct {
	size_t count, ports;
	__u32 want;
} needed_cases[] = {
    {0, 0, XDPFWD_DEFAULT_CAPACITY}, {1000, 65535, XDPFWD_DEFAULT_CAPACITY}, {70000, 70000, 70000},
    {70000, 200001, 100001},	     {2000000, 0, XDPFWD_MAX_CAPACITY},
};

static void test_limits(void)
{
	char err[ERR_LEN];

	for (size_t i = 0; i < sizeof(fits_cases) / sizeof(fits_cases[0]); i++) {
		int ret;

		err[0] = '\0';
		ret =
		    capacity_fits(fits_cases[i].count, fits_cases[i].ports, fits_cases[i].cap, err);
		if (!fits_cases[i].err)
			CHECK(ret == 0, "%s: refused: %s", fits_cases[i].name, err);
		else
			CHECK(ret == -1 && !strcmp(err, fits_cases[i].err),
			      "%s: %d '%s', want '%s'", fits_cases[i].name, ret, err,
			      fits_cases[i].err);
	}
	for (size_t i = 0; i < sizeof(needed_cases) / sizeof(needed_cases[0]); i++)
		CHECK(capacity_needed(needed_cases[i].count, needed_cases[i].ports) ==
			  needed_cases[i].want,
		      "capacity_needed(%zu, %zu) = %u, want %u", needed_cases[i].count,
		      needed_cases[i].ports,
		      capacity_needed(needed_cases[i].count, needed_cases[i].ports),
		      needed_cases[i].want);
}

/* The BPF object sized for CAP mappings and loaded; NULL after a failed check. */
static struct xdpfwd_bpf *load_sized(__u32 cap)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open();

	if (!CHECK(skel != NULL, "opening the BPF object: %m"))
		return NULL;
	if (!CHECK(!capacity_set(skel->obj, cap) && !xdpfwd_bpf__load(skel),
		   "loading the BPF object for %u mappings: %m", cap)) {
		xdpfwd_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Every map XDPFWD_CAPACITY_MAPS lists holds CAP times its share. */
static void check_sizes(struct xdpfwd_bpf *skel, __u32 cap)
{
	const struct bpf_map *map;

#define CHECK_SIZE(name, per_mapping)                                 \
	map = bpf_object__find_map_by_name(skel->obj, name);          \
	CHECK(map &&bpf_map__max_entries(map) == cap * (per_mapping), \
	      "capacity %u: %s holds %u entries, want %u", cap, name, \
	      map ? bpf_map__max_entries(map) : 0, cap * (per_mapping));
	XDPFWD_CAPACITY_MAPS(CHECK_SIZE)
#undef CHECK_SIZE
}

/* Capacity 1: one mapping fits, a second is refused by the limit (a load)
 * and finds no slot (an add). */
static void test_capacity_one(void)
{
	struct xdpfwd_bpf *skel = load_sized(1);
	struct xdpfwd_maps maps;
	struct rule *rules = NULL;
	char err[ERR_LEN] = "";
	size_t n = 0;
	__u32 slot;

	if (!skel)
		return;
	check_sizes(skel, 1);
	if (install_test_table(skel->obj, "udp 7000 10.8.0.2\n", &maps, &rules, &n))
		goto out;
	CHECK(table_capacity(&maps) == 1, "read back %u, want 1", table_capacity(&maps));
	CHECK(capacity_check(&maps, rules, n, err) == 0, "one mapping refused: %s", err);
	free(rules);
	rules = NULL;
	CHECK(!parse_config("udp 7000 10.8.0.2\nudp 7001 10.8.0.2\n", &rules, &n, err) && n == 2,
	      "parsing two mappings: %s", err);
	CHECK(capacity_check(&maps, rules, n, err) == -1 &&
		  strstr(err, "2 mappings, more than a capacity of 1 holds; attach --replace "
			      "--capacity N, 1-1048576, resizes the maps"),
	      "two mappings at capacity 1: '%s'", err);
	CHECK(slot_alloc(&maps, 0, &slot) == -ENOSPC, "a second slot at capacity 1");
out:
	free(rules);
	xdpfwd_bpf__destroy(skel);
}

/* The largest capacity loads, and a packet to its one mapping is forwarded
 * (fast path off: rewritten and passed to the stack) and counted. */
static void test_largest_forwards(void)
{
	struct pkt_spec in = {.family = AF_INET,
			      .proto = IPPROTO_UDP,
			      .saddr = "198.51.100.7",
			      .daddr = "203.0.113.10",
			      .sport = 33333,
			      .dport = 7000,
			      .payload = 16};
	struct pkt_spec want = in;
	__u8 pin[PKT_MAX], pwant[PKT_MAX], pout[PKT_MAX + 256];
	struct xdpfwd_bpf *skel = load_sized(XDPFWD_MAX_CAPACITY);
	struct xdpfwd_counters c = {0};
	struct xdpfwd_maps maps;
	struct rule *rules = NULL;
	size_t n = 0, in_len, want_len;

	if (!skel)
		return;
	check_sizes(skel, XDPFWD_MAX_CAPACITY);
	if (install_test_table(skel->obj, "udp 7000 10.8.0.2\n", &maps, &rules, &n))
		goto out;
	CHECK(table_capacity(&maps) == XDPFWD_MAX_CAPACITY, "read back %u", table_capacity(&maps));
	want.daddr = "10.8.0.2";
	in_len = build_packet(&in, pin);
	want_len = build_packet(&want, pwant);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pin, .data_size_in = in_len,
		    .data_out = pout, .data_size_out = sizeof(pout), .repeat = 1);
	if (CHECK(!bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdpfwd_in), &opts),
		  "test run: %m")) {
		CHECK(opts.retval == XDP_PASS && opts.data_size_out == want_len &&
			  !memcmp(pout, pwant, want_len),
		      "at capacity %d: verdict %u, %u bytes: not rewritten to 10.8.0.2",
		      XDPFWD_MAX_CAPACITY, opts.retval, opts.data_size_out);
		/* The one mapping of a table written whole takes slot 0. */
		CHECK(!counters_read(&maps, 0, &c) && c.rx_packets == 1,
		      "counted %llu packets in slot 0", (unsigned long long)c.rx_packets);
	}
out:
	free(rules);
	xdpfwd_bpf__destroy(skel);
}

UNIT_TEST(test_capacity, 21)
{
	test_limits();
	test_capacity_one();
	test_largest_forwards();
	return 3;
}
