// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_leases.c - serve's index of lease ends (loader/leases.c) over the
 * maps of a loaded BPF object and a state file of its own: the index is
 * read whole once and then follows the journal's new records alone; what
 * has ended goes as one batch, one journal record; a pair gone stale (the
 * mapping renewed, deleted or replaced behind the index's back) removes
 * nothing; a batch that cannot be recorded removes nothing and is tried
 * again.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "change.h"
#include "fixture.h"
#include "harness.h"
#include "journal.h"
#include "leases.h"
#include "persist.h"
#include "xdpfwd.skel.h"

#define S 1000000000ULL

/* Pairs pushed in any order come out by end, then slot. */
static void test_heap(void)
{
	static const __u64 ends[] = {50, 10, 40, 10, 30, 20, 60, 5, 40};
	struct lease_index ix = {0};
	struct lease l, prev = {0};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		CHECK(!lease_push(&ix, ends[i], (__u32)(100 - i)), "push %zu", i);
	CHECK(lease_next(&ix) == 5, "next: %llu, want 5", (unsigned long long)lease_next(&ix));
	while (lease_pop(&ix, &l)) {
		CHECK(l.at > prev.at || (l.at == prev.at && l.slot > prev.slot),
		      "pop %zu: %llu/%u after %llu/%u", n, (unsigned long long)l.at, l.slot,
		      (unsigned long long)prev.at, prev.slot);
		prev = l;
		n++;
	}
	CHECK(n == sizeof(ends) / sizeof(ends[0]), "%zu popped", n);
	CHECK(lease_next(&ix) == 0, "an empty index has no next end");
	lease_index_free(&ix);
}

struct env {
	struct xdpfwd_maps maps;
	struct xdpfwd_config config;
	struct lease_index ix;
	char state[64];
};

/* Records of the state file's journal ("j " lines), and its snapshot's size. */
static size_t journal_records(const struct env *e, off_t *snap)
{
	char path[PATH_MAX], line[512];
	struct stat st;
	size_t n = 0;
	FILE *f;

	*snap = stat(e->state, &st) ? -1 : st.st_size;
	journal_path(path, sizeof(path), e->state);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += !strncmp(line, "j ", 2);
	if (f)
		fclose(f);
	return n;
}

/* The mapping on udp PORT, 1 when it is live (its slot in *SLOT). */
static int find_udp(const struct env *e, __u16 port, __u32 *slot)
{
	struct xdpfwd_mapping m = {.family = AF_INET, .proto = IPPROTO_UDP, .port_count = 1};
	struct rule r;

	m.public_port = m.target_port = port;
	m.target_addr.v4 = htonl(0x0a080002); /* 10.8.0.2 */
	if (table_find(&e->maps, true, &m, 0, &r) != 1)
		return 0;
	*slot = r.slot;
	return 1;
}

/* One round at NOW: WANT mappings removed (the first on udp PORT, unless 0),
 * RECORDS journal records written, the snapshot untouched. */
static void expect_round(struct env *e, const char *what, __u64 now, size_t want, __u16 port,
			 size_t records)
{
	size_t before, ngone = 0;
	off_t snap0, snap1;
	struct rule *gone = NULL;
	int err;

	before = journal_records(e, &snap0);
	err = lease_index_follow(&e->ix, &e->maps, e->state);
	err = err ?: lease_expire(&e->ix, &e->maps, &e->config, e->state, now, &gone, &ngone);
	if (!err && ngone)
		lease_index_seen(&e->ix, e->state);
	CHECK(!err, "%s: %d", what, err);
	CHECK(ngone == want, "%s: %zu removed, want %zu", what, ngone, want);
	CHECK(!port || (ngone && gone[0].m.public_port == port), "%s: removed port %u, want %u",
	      what, ngone ? gone[0].m.public_port : 0, port);
	CHECK(journal_records(e, &snap1) == before + records, "%s: %zu journal records, want %zu",
	      what, journal_records(e, &snap1), before + records);
	CHECK(snap1 == snap0, "%s: the snapshot changed (%lld -> %lld bytes)", what,
	      (long long)snap0, (long long)snap1);
	free(gone);
}

/* Another process adds udp 9000 with a lease of 5 s: one journal record,
 * which the index reads alone. */
static void test_follow_journal(struct env *e)
{
	struct rule put = {0};
	struct apply_summary sum;
	char err[ERR_LEN];
	size_t n = 0, rebuilds = e->ix.rebuilds, followed = e->ix.followed;
	struct rule *rules = NULL;
	__u64 start = boot_clock_ns();

	if (!CHECK(!parse_config("udp 203.0.113.10:9000 10.8.0.2 ttl=5\n", &rules, &n, err) &&
		       n == 1,
		   "parsing: %s", err))
		return;
	put = rules[0];
	free(rules);
	CHECK(!lease_index_stale(&e->ix, e->state), "stale before the change");
	CHECK(!apply_batch(&e->maps, &e->config, &(struct batch){.put = &put, .nput = 1},
			   &(struct change){.what = "test", .state = e->state}, &sum),
	      "adding udp 9000");
	CHECK(lease_index_stale(&e->ix, e->state), "the journal's append went unseen");
	CHECK(!lease_index_follow(&e->ix, &e->maps, e->state), "following the journal");
	CHECK(e->ix.rebuilds == rebuilds && e->ix.followed == followed + 1,
	      "the index was read whole (%zu -> %zu), not from the journal (%zu -> %zu)", rebuilds,
	      e->ix.rebuilds, followed, e->ix.followed);
	CHECK(lease_next(&e->ix) >= start + 5 * S && lease_next(&e->ix) <= boot_clock_ns() + 5 * S,
	      "next end %llu is not udp 9000's", (unsigned long long)lease_next(&e->ix));
	expect_round(e, "udp 9000 at its end", lease_next(&e->ix), 1, 9000, 1);
}

/* A batch that cannot be recorded removes nothing and comes back. */
static void test_all_or_nothing(struct env *e, __u64 now)
{
	char blocked[PATH_MAX];
	struct rule *gone = NULL;
	size_t ngone = 0, queued = e->ix.n;
	__u32 slot;
	FILE *f;
	int err;

	/* A file where the state file's directory should be: no write. */
	snprintf(blocked, sizeof(blocked), "%s.blocker", e->state);
	f = fopen(blocked, "w");
	if (f)
		fclose(f);
	strncat(blocked, "/x.state", sizeof(blocked) - strlen(blocked) - 1);
	err = lease_expire(&e->ix, &e->maps, &e->config, blocked, now, &gone, &ngone);
	CHECK(err < 0 && !ngone && !gone, "a batch with no file to record it: %d, %zu removed", err,
	      ngone);
	CHECK(find_udp(e, 7001, &slot), "udp 7001 was removed by a failed batch");
	CHECK(e->ix.n >= queued, "the pairs are not queued again: %zu of %zu", e->ix.n, queued);
	expect_round(e, "udp 7001, tried again", now, 1, 7001, 1);
}

static void test_rounds(struct env *e)
{
	__u64 t = TEST_CLOCK_NS;
	__u32 slot;

	CHECK(lease_index_stale(&e->ix, e->state), "a new index is not stale");
	expect_round(e, "nothing due", t, 0, 0, 0);
	CHECK(e->ix.rebuilds == 1 && e->ix.n == 1003, "first read: %zu reads, %zu pairs, want 1003",
	      e->ix.rebuilds, e->ix.n);
	CHECK(lease_next(&e->ix) == t + 10 * S, "next end: %llu",
	      (unsigned long long)lease_next(&e->ix));
	expect_round(e, "udp 7000 ended", t + 15 * S, 1, 7000, 1);
	/* Renewed behind the index's back (its record written alone). */
	if (CHECK(find_udp(e, 7001, &slot), "udp 7001 is gone")) {
		struct xdpfwd_mapping m;

		bpf_map_lookup_elem(e->maps.mappings, &slot, &m);
		m.expires_ns = t + 100 * S;
		bpf_map_update_elem(e->maps.mappings, &slot, &m, BPF_ANY);
	}
	expect_round(e, "udp 7001 renewed", t + 25 * S, 0, 0, 0);
	/* Pairs of a free slot and of a mapping without a lease. */
	lease_push(&e->ix, t, XDPFWD_DEFAULT_CAPACITY - 1);
	if (CHECK(find_udp(e, 7003, &slot), "udp 7003 is gone"))
		lease_push(&e->ix, t, slot);
	expect_round(e, "udp 7002 ended, stale pairs skipped", t + 35 * S, 1, 7002, 1);
	CHECK(lease_next(&e->ix) == t + 100 * S, "udp 7001 not queued at its new end: %llu",
	      (unsigned long long)lease_next(&e->ix));
	test_follow_journal(e);
	test_all_or_nothing(e, t + 200 * S);
	expect_round(e, "1000 at once", t + 4000 * S, 1000, 0, 1);
	CHECK(e->ix.rebuilds == 1, "%zu whole reads, want 1", e->ix.rebuilds);
	/* A rewrite of the file: read whole again. */
	CHECK(!state_sync(e->state, &e->maps, &e->config, (char[ERR_LEN]){0}), "state_sync");
	CHECK(!lease_index_follow(&e->ix, &e->maps, e->state) && e->ix.rebuilds == 2 && !e->ix.n,
	      "after a rewrite: %zu whole reads, %zu pairs", e->ix.rebuilds, e->ix.n);
}

/* 1000 leases of an hour, three short ones and one without: a snapshot
 * beyond JOURNAL_SMALL_BYTES, so each change is a journal record. */
static char *leased_table(void)
{
	struct strbuf b = STRBUF_INIT;

	for (int i = 0; i < 1000; i++)
		strbuf_appendf(&b, "tcp 203.0.113.10:%d 10.8.0.2 ttl=3600\n", 20000 + i);
	strbuf_append(&b, "udp 7000 10.8.0.2 ttl=10\nudp 7001 10.8.0.2 ttl=20\n"
			  "udp 7002 10.8.0.2 ttl=30\nudp 7003 10.8.0.2\n");
	return b.data;
}

UNIT_TEST(test_leases, 42)
{
	char dir[] = "/tmp/xdpfwd-leases-XXXXXX", err[ERR_LEN] = "";
	struct xdpfwd_bpf *skel;
	struct env e = {0};
	struct rule *rules = NULL;
	char *table = leased_table();
	size_t n;

	test_heap();
	skel = xdpfwd_bpf__open_and_load();
	if (!CHECK(skel != NULL && table && mkdtemp(dir), "loading the BPF object: %m"))
		return 1;
	snprintf(e.state, sizeof(e.state), "%s/t.state", dir);
	if (!install_test_table(skel->obj, table, &e.maps, &rules, &n) &&
	    CHECK(!state_sync(e.state, &e.maps, &e.config, err), "state_sync: %s", err))
		test_rounds(&e);
	lease_index_free(&e.ix);
	free(rules);
	free(table);
	xdpfwd_bpf__destroy(skel);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	CHECK(system(err) == 0, "removing %s", dir);
	return 2;
}
