// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_table.c - table_apply() writes the difference between two tables
 * (changed mappings in place, new ones in batches, removed ones last), and
 * its transaction puts every map back byte for byte. The change adds more
 * mappings than txn.c looks up one by one, and some new ones take the
 * reverse keys of mappings it removes: their old values come from a dump of
 * the map, and undoing must write them back, not delete them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "fixture.h"
#include "harness.h"
#include "strbuf.h"
#include "txn.h"
#include "xdpfwd.skel.h"

#define BEFORE	600 /* mappings in the first table */
#define CHANGED 100 /* of them, given another target port */
#define REMOVED 100 /* then these go */
#define ADDED	400 /* new ones, the first REMOVED with the removed ones' targets */

/* The first table, and the second made of it. */
static void tables(struct strbuf *a, struct strbuf *b)
{
	for (int i = 0; i < BEFORE; i++) {
		const char *policy = i % 7 ? "" : " allow=198.51.100.0/24,192.0.2.7 rate=100";

		strbuf_appendf(a, "udp 203.0.113.10:%d 10.8.0.2:%d%s\n", 10000 + i, 20000 + i,
			       policy);
		if (i < CHANGED)
			strbuf_appendf(b, "udp 203.0.113.10:%d 10.8.0.2:%d%s\n", 10000 + i,
				       25000 + i, policy);
		else if (i >= CHANGED + REMOVED)
			strbuf_appendf(b, "udp 203.0.113.10:%d 10.8.0.2:%d%s\n", 10000 + i,
				       20000 + i, policy);
	}
	for (int j = 0; j < ADDED; j++) {
		if (j < REMOVED) /* the target a removed mapping held */
			strbuf_appendf(b, "udp 203.0.113.10:%d 10.8.0.2:%d\n", 11000 + j,
				       20000 + CHANGED + j);
		else
			strbuf_appendf(b, "udp 203.0.113.10:%d 10.8.0.3:%d allow=192.0.2.0/28\n",
				       11000 + j, 20000 + j);
	}
	strbuf_appendf(b, "tcp 203.0.113.10:12000-12009 10.8.0.4:12000-12009\n");
}

static size_t pair_size; /* qsort() takes no context */

static int compare_pairs(const void *x, const void *y)
{
	return memcmp(x, y, pair_size);
}

/* Every entry of FD (pairs of key and value, as bpf_map_lookup_batch gives
 * them, sorted) into OUT; for an array only the first LIMIT keys. */
static void dump(int fd, __u32 limit, struct strbuf *out)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info), token, n;
	size_t vsize;
	char *keys, *vals;
	bool first = true;
	int err;

	strbuf_reset(out);
	if (!CHECK(!bpf_obj_get_info_by_fd(fd, &info, &len), "map info: %m"))
		return;
	vsize = info.value_size;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
		vsize = ((vsize + 7) & ~7UL) * libbpf_num_possible_cpus();
	keys = calloc(4096, info.key_size);
	vals = calloc(4096, vsize);
	do {
		n = info.type == BPF_MAP_TYPE_HASH ? 4096 : limit;
		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals, &n, NULL);
		first = false;
		for (__u32 i = 0; i < n; i++) {
			strbuf_appendn(out, keys + (size_t)i * info.key_size, info.key_size);
			strbuf_appendn(out, vals + (size_t)i * vsize, vsize);
		}
	} while (!err && info.type == BPF_MAP_TYPE_HASH);
	free(keys);
	free(vals);
	/* A hash map's order is its buckets': sort the pairs. */
	if (info.type == BPF_MAP_TYPE_HASH && out->len) {
		pair_size = info.key_size + vsize;
		qsort(out->data, out->len / pair_size, pair_size, compare_pairs);
	}
}

#define DUMPS 7

static void dump_all(const struct xdpfwd_maps *maps, struct strbuf d[DUMPS])
{
	dump(maps->fwd, 0, &d[0]);
	dump(maps->rev, 0, &d[1]);
	dump(maps->mappings, 0, &d[2]);
	dump(maps->allow, 0, &d[3]);
	dump(maps->policy, BEFORE + ADDED + 8, &d[4]);
	dump(maps->counters, BEFORE + ADDED + 8, &d[5]);
	dump(maps->owner, 0, &d[6]);
}

/* The owner record a mapping of the tables gets when I (its index in
 * tables()) says so: every fifth a NAT-PMP or PCP lease. */
static void give_owner(struct rule *r, unsigned int i)
{
	memset(&r->owner, 0, sizeof(r->owner));
	if (i % 5)
		return;
	r->owner.kind = i % 10 ? XDPFWD_OWNER_NATPMP : XDPFWD_OWNER_PCP;
	r->owner.key_port = 30000 + i;
	for (int k = 0; r->owner.kind == XDPFWD_OWNER_PCP && k < 12; k++)
		r->owner.nonce[k] = i + k;
}

/* Makes every fifth mapping of the first table dynamic: a change of the
 * owner alone, written in place (its entries untouched), counted changed. */
static void own_first_table(const struct xdpfwd_maps *maps, struct rule **have, size_t *nhave)
{
	struct rule *owned = calloc(*nhave + 1, sizeof(*owned));
	struct strbuf fwd0 = STRBUF_INIT, fwd1 = STRBUF_INIT;
	struct apply_summary sum;
	size_t n = *nhave;

	memcpy(owned, *have, n * sizeof(*owned));
	for (size_t i = 0; i < n; i++)
		give_owner(&owned[i], owned[i].m.public_port - 10000);
	dump(maps->fwd, 0, &fwd0);
	CHECK(!table_apply(maps, *have, n, owned, n, &sum, NULL, NULL, NULL) &&
		  sum.changed == BEFORE / 5 && sum.kept == BEFORE - BEFORE / 5 && !sum.added,
	      "an owner alone is a change: %zu changed, %zu kept", sum.changed, sum.kept);
	dump(maps->fwd, 0, &fwd1);
	CHECK(fwd0.len == fwd1.len && !memcmp(fwd0.data, fwd1.data, fwd0.len),
	      "written in place: the forward entries are as they were");
	free(*have);
	CHECK(!table_live(maps, have, nhave, 0) && *nhave == BEFORE, "reading the table again");
	for (size_t i = 0; i < *nhave; i++)
		if (!CHECK(same_rule(&(*have)[i], &owned[i]),
			   "mapping %zu read back without its "
			   "owner",
			   i))
			break;
	free(owned);
	strbuf_free(&fwd0);
	strbuf_free(&fwd1);
}

/* The second table's owners: the first's kept where a mapping stays (less
 * those of every tenth one from 205 on, which lose theirs: a change), and
 * every third new mapping a PCP lease. Returns how many stay but lose it. */
static size_t own_second_table(struct rule *want, size_t n)
{
	size_t lost = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned int port = want[i].m.public_port;

		if (want[i].m.proto != IPPROTO_UDP)
			continue;
		if (port < 11000) {
			give_owner(&want[i], port - 10000);
			if (port - 10000 >= CHANGED + REMOVED && port % 10 == 5) {
				memset(&want[i].owner, 0, sizeof(want[i].owner));
				lost++;
			}
		} else if (port % 3 == 0) {
			give_owner(&want[i], 10);
		}
	}
	return lost;
}

/* The second table is what the maps hold: each of its mappings is found by
 * its forward and its reverse entry, and nothing else is there. */
static void check_holds(const struct xdpfwd_maps *maps, const struct rule *want, size_t n)
{
	struct strbuf fwd = STRBUF_INIT;
	size_t ports = 0;

	for (size_t i = 0; i < n; i++) {
		struct rule found;

		ports += want[i].m.port_count;
		for (int by_target = 0; by_target < 2; by_target++)
			if (!CHECK(table_find(maps, by_target, &want[i].m, 0, &found) == 1 &&
				       same_rule(&found, &want[i]),
				   "mapping %zu (line %u) not found by its %s entry", i,
				   want[i].line, by_target ? "reverse" : "forward"))
				break;
	}
	dump(maps->fwd, 0, &fwd);
	CHECK(fwd.len == ports * (sizeof(struct xdpfwd_endpoint) + sizeof(struct xdpfwd_nat)),
	      "%zu forward entries, want %zu",
	      fwd.len / (sizeof(struct xdpfwd_endpoint) + sizeof(struct xdpfwd_nat)), ports);
	strbuf_free(&fwd);
}

UNIT_TEST(test_table, 42)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, before[DUMPS], after[DUMPS];
	struct rule *rules = NULL, *have = NULL, *want = NULL;
	struct local_addrs local = {.count = 1};
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open_and_load();
	struct xdpfwd_maps maps;
	struct apply_summary sum;
	size_t n, nhave, nwant, lost;
	char err[ERR_LEN] = "";
	struct txn t;

	for (int i = 0; i < DUMPS; i++)
		before[i] = after[i] = (struct strbuf)STRBUF_INIT;
	if (!CHECK(skel != NULL, "loading the BPF object: %m"))
		return 1;
	tables(&a, &b);
	if (install_test_table(skel->obj, strbuf_str(&a), &maps, &rules, &n))
		goto out;
	CHECK(!table_live(&maps, &have, &nhave, 0) && nhave == BEFORE, "reading the table: %zu",
	      nhave);
	own_first_table(&maps, &have, &nhave);
	dump_all(&maps, before);
	CHECK(before[6].len == BEFORE / 5 * (sizeof(__u32) + sizeof(struct xdpfwd_owner)),
	      "%zu bytes of owner records", before[6].len);
	local.entry[0].family = AF_INET;
	local.entry[0].addr.v4 = htonl(0xcb00710a); /* 203.0.113.10 */
	if (!CHECK(!parse_config(strbuf_str(&b), &want, &nwant, err) &&
		       !validate_table(want, nwant, &local, err),
		   "the second table: %s", err))
		goto out;
	lost = own_second_table(want, nwant);

	txn_begin(&t);
	CHECK(!table_apply(&maps, have, nhave, want, nwant, &sum, &t, NULL, NULL),
	      "applying the second table");
	CHECK(sum.added == ADDED + 1 && sum.changed == CHANGED + lost && sum.removed == REMOVED &&
		  sum.kept == BEFORE - CHANGED - REMOVED - lost && lost == 40,
	      "%zu added, %zu changed, %zu removed, %zu kept", sum.added, sum.changed, sum.removed,
	      sum.kept);
	check_holds(&maps, want, nwant);
	dump_all(&maps, after);
	CHECK(after[6].len == (CHANGED / 5 + (BEFORE - CHANGED - REMOVED) / 5 - lost + ADDED / 3) *
				  (sizeof(__u32) + sizeof(struct xdpfwd_owner)),
	      "%zu bytes of owner records after", after[6].len);
	CHECK(txn_rollback(&t) == 1, "undoing the change");
	dump_all(&maps, after);
	for (int i = 0; i < DUMPS; i++)
		CHECK(before[i].len == after[i].len &&
			  !memcmp(strbuf_str(&before[i]), strbuf_str(&after[i]), before[i].len),
		      "map %d not put back: %zu bytes before, %zu after", i, before[i].len,
		      after[i].len);
out:
	for (int i = 0; i < DUMPS; i++) {
		strbuf_free(&before[i]);
		strbuf_free(&after[i]);
	}
	strbuf_free(&a);
	strbuf_free(&b);
	free(rules);
	free(have);
	free(want);
	xdpfwd_bpf__destroy(skel);
	return 1;
}
