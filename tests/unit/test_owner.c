// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_owner.c - the owner record of dynamic (NAT-PMP/PCP) mappings, end to
 * end over the maps of a loaded BPF object and a state file of its own:
 * apply_batch() with a put that carries an owner writes xdpfwd_owner and a
 * journal record with owner=, table_live() and table_find() read it back,
 * renew_batch() leaves it as it was, a drop removes it, and the state file
 * gives it back after a restart; load keeps dynamic mappings whatever the
 * file says, refuses a line that takes one's port, and a pin directory of
 * an older build (no xdpfwd_owner) still serves every operator command.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "change.h"
#include "fixture.h"
#include "harness.h"
#include "journal.h"
#include "persist.h"
#include "xdpfwd.skel.h"

struct env {
	struct xdpfwd_maps maps;
	struct xdpfwd_config config;
	char dir[64], state[96];
};

/* One rule of config text LINE, with owner KIND:KEY_PORT (and a nonce
 * made of SEED for PCP). */
static int owned_rule(const char *line, __u8 kind, __u16 key_port, __u8 seed, struct rule *out)
{
	struct rule *rules = NULL;
	char err[ERR_LEN] = "";
	size_t n = 0;

	if (!CHECK(!parse_config(line, &rules, &n, err) && n == 1, "parsing '%s': %s", line, err)) {
		free(rules);
		return -1;
	}
	*out = rules[0];
	free(rules);
	out->owner.kind = kind;
	out->owner.key_port = key_port;
	for (int i = 0; kind == XDPFWD_OWNER_PCP && i < 12; i++)
		out->owner.nonce[i] = seed + i;
	return 0;
}

/* The live mapping on udp PORT of 203.0.113.10, by its forward entry. */
static int find_public(const struct env *e, __u16 port, struct rule *out)
{
	struct xdpfwd_mapping m = {.family = AF_INET, .proto = IPPROTO_UDP, .port_count = 1};

	m.public_port = port;
	m.source_addr.v4 = m.public_addr.v4 = htonl(0xcb00710a);
	return table_find(&e->maps, false, &m, 0, out);
}

/* Entries in xdpfwd_owner. */
static size_t owner_entries(const struct env *e)
{
	__u32 key, next;
	size_t n = 0;
	bool first = true;

	while (!bpf_map_get_next_key(e->maps.owner, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		n++;
	}
	return n;
}

/* The state file as serve reads it after a restart: the rule on udp PORT. */
static int saved(const struct env *e, __u16 port, struct rule *out)
{
	struct saved_state s;
	struct clocks now;
	char err[ERR_LEN] = "";
	bool found = false;
	int ret = 0;

	clocks_now(&now);
	if (!CHECK(!state_load(e->state, &now, &s, &found, err) && found, "loading %s: %s",
		   e->state, err))
		return -1;
	for (size_t i = 0; i < s.count; i++)
		if (s.rules[i].m.public_port == port) {
			*out = s.rules[i];
			ret = 1;
		}
	state_free(&s);
	return ret;
}

static bool file_has(const char *path, const char *what)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

/* The daemon's calls: put with an owner, renew, put another, drop. */
static int batch_cases(struct env *e)
{
	struct change c = {.what = "test", .state = e->state, .daemon = true};
	char jpath[PATH_MAX];
	struct apply_summary sum;
	struct rule pcp, natpmp, found, back;
	struct xdpfwd_owner in_map;
	struct xdpfwd_mapping key;

	journal_path(jpath, sizeof(jpath), e->state);
	if (owned_rule("udp 203.0.113.10:40000 10.8.0.2:4000 ttl=60\n", XDPFWD_OWNER_PCP, 4000,
		       0xa0, &pcp) ||
	    owned_rule("udp 203.0.113.10:40001 10.8.0.3:40001 ttl=60\n", XDPFWD_OWNER_NATPMP, 0, 0,
		       &natpmp))
		return 0;
	CHECK(
	    !apply_batch(&e->maps, &e->config, &(struct batch){.put = &pcp, .nput = 1}, &c, &sum) &&
		sum.added == 1,
	    "a put with a PCP owner: %zu added", sum.added);
	CHECK(find_public(e, 40000, &found) == 1 && !memcmp(&found.owner, &pcp.owner, 16),
	      "table_find() reads the owner back");
	CHECK(!bpf_map_lookup_elem(e->maps.owner, &found.slot, &in_map) &&
		  !memcmp(&in_map, &pcp.owner, sizeof(in_map)) && owner_entries(e) == 1,
	      "xdpfwd_owner holds it under its slot, alone");
	{
		struct rule *live = NULL;
		size_t n = 0, owned = 0;

		CHECK(!table_live(&e->maps, &live, &n, 0), "table_live");
		for (size_t i = 0; i < n; i++)
			if (live[i].owner.kind) {
				owned++;
				CHECK(live[i].m.public_port == 40000 &&
					  !memcmp(&live[i].owner, &pcp.owner, 16),
				      "table_live(): owner on port %u", live[i].m.public_port);
			}
		CHECK(owned == 1 && n == 2002, "table_live(): %zu owned of %zu", owned, n);
		free(live);
	}
	CHECK(file_has(e->state, "xdpfwd-state 3\n") &&
		  file_has(e->state, " owner=pcp:4000:a0a1a2a3a4a5a6a7a8a9aaab\n"),
	      "the first owner made a version 3 snapshot (never a record after version 1)");
	CHECK(saved(e, 40000, &back) == 1 && !memcmp(&back.owner, &pcp.owner, 16),
	      "the state file gives the owner back");

	/* Renewed: the lease only, the owner record untouched. */
	key = found.m;
	CHECK(!renew_batch(&e->maps, &e->config, e->state, &key, 1, &sum) && sum.renewed == 1,
	      "renewing: %zu renewed", sum.renewed);
	CHECK(find_public(e, 40000, &found) == 1 && !memcmp(&found.owner, &pcp.owner, 16) &&
		  !bpf_map_lookup_elem(e->maps.owner, &found.slot, &in_map) &&
		  !memcmp(&in_map, &pcp.owner, sizeof(in_map)),
	      "the renewal kept the owner");
	CHECK(file_has(jpath, " owner=pcp:4000:a0a1a2a3a4a5a6a7a8a9aaab\n"),
	      "the renewal's journal record carries the owner");
	CHECK(saved(e, 40000, &back) == 1 && !memcmp(&back.owner, &pcp.owner, 16),
	      "replayed from the journal, the owner is the same");

	/* A NAT-PMP one next to it: a journal record now. */
	CHECK(!apply_batch(&e->maps, &e->config, &(struct batch){.put = &natpmp, .nput = 1}, &c,
			   &sum) &&
		  sum.added == 1 && owner_entries(e) == 2,
	      "a put with a NAT-PMP owner");
	CHECK(file_has(jpath, "+ udp 203.0.113.10:40001 10.8.0.3:40001 ttl=60 expires=") &&
		  file_has(jpath, " owner=natpmp:0\n"),
	      "its journal record carries owner=natpmp:0");
	CHECK(saved(e, 40001, &back) == 1 && back.owner.kind == XDPFWD_OWNER_NATPMP &&
		  !back.owner.key_port,
	      "and the state file gives it back");

	/* The operator ends the PCP lease (del): the owner record goes. */
	CHECK(find_public(e, 40000, &found) == 1, "finding udp 40000");
	CHECK(!apply_batch(&e->maps, &e->config, &(struct batch){.drop = &found, .ndrop = 1}, &c,
			   &sum) &&
		  sum.removed == 1,
	      "dropping udp 40000");
	CHECK(bpf_map_lookup_elem(e->maps.owner, &found.slot, &in_map) && owner_entries(e) == 1,
	      "its owner record went with it");
	CHECK(saved(e, 40000, &back) == 0, "and the state file lost it");
	return 1;
}

/* load owns only the operator's mappings. */
static int load_cases(struct env *e)
{
	char conf[128], err_conf[128];
	struct rule found, *live = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/ops.conf", e->dir);
	snprintf(err_conf, sizeof(err_conf), "%s/bad.conf", e->dir);
	f = fopen(conf, "w");
	if (f) {
		fputs("udp 203.0.113.10:7000 10.8.0.2\n", f);
		fclose(f);
	}
	f = fopen(err_conf, "w");
	if (f) {
		fputs("udp 203.0.113.10:7000 10.8.0.2\nudp 203.0.113.10:39999-40001 10.8.0.9\n", f);
		fclose(f);
	}
	CHECK(find_public(e, 40001, &found) == 1 && found.owner.kind,
	      "the NAT-PMP mapping is live");
	CHECK(load_file(&e->maps, &e->config, err_conf, true, e->state, "load", false) == -EINVAL,
	      "a line over a client's lease is refused");
	CHECK(find_public(e, 40001, &found) == 1 && find_public(e, 7001, &found) == 1,
	      "and nothing changed");
	CHECK(!load_file(&e->maps, &e->config, conf, true, e->state, "load", false),
	      "loading a file without the dynamic mapping");
	CHECK(!table_live(&e->maps, &live, &n, 0) && n == 2 && operator_count(live, n) == 1,
	      "the file's one mapping and the client's remain: %zu, %zu the operator's", n,
	      operator_count(live, n));
	CHECK(find_public(e, 40001, &found) == 1 && found.owner.kind == XDPFWD_OWNER_NATPMP &&
		  owner_entries(e) == 1,
	      "the dynamic mapping kept its owner");
	free(live);
	return 1;
}

/* A pin directory made before xdpfwd_owner: no map. Operator mappings
 * work; a dynamic one is refused with a message, nothing written. */
static int old_pin_dir_cases(struct env *e)
{
	struct xdpfwd_maps old = e->maps;
	struct change c = {.what = "test"};
	struct apply_summary sum;
	struct rule op, dyn, found, *live = NULL;
	size_t n = 0;

	old.owner = -1;
	if (owned_rule("udp 203.0.113.10:8000 10.8.0.2\n", 0, 0, 0, &op) ||
	    owned_rule("udp 203.0.113.10:8001 10.8.0.2\n", XDPFWD_OWNER_NATPMP, 8001, 0, &dyn))
		return 0;
	CHECK(!table_live(&old, &live, &n, 0) && n == 2 && operator_count(live, n) == 2,
	      "table_live() without the map: %zu, none dynamic", n);
	free(live);
	CHECK(!apply_batch(&old, &e->config, &(struct batch){.put = &op, .nput = 1}, &c, &sum),
	      "an operator add works");
	CHECK(apply_batch(&old, &e->config, &(struct batch){.put = &dyn, .nput = 1}, &c, &sum) ==
		      -EOPNOTSUPP &&
		  find_public(e, 8001, &found) == 0,
	      "a dynamic one is refused and undone");
	CHECK(find_public(e, 8000, &found) == 1 &&
		  !apply_batch(&old, &e->config, &(struct batch){.drop = &found, .ndrop = 1}, &c,
			       &sum),
	      "an operator del works");
	return 1;
}

UNIT_TEST(test_owner, 43)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open_and_load();
	struct rule *rules = NULL;
	char err[ERR_LEN] = "", cmd[128];
	struct strbuf table = STRBUF_INIT;
	struct env e = {0};
	int cases = 0;
	size_t n;

	snprintf(e.dir, sizeof(e.dir), "/tmp/xdpfwd-owner-XXXXXX");
	if (!CHECK(skel != NULL && mkdtemp(e.dir), "loading the BPF object: %m"))
		return 1;
	snprintf(e.state, sizeof(e.state), "%s/t.state", e.dir);
	/* Past JOURNAL_SMALL_BYTES, so that a change is a journal record. */
	for (int i = 0; i < 2000; i++)
		strbuf_appendf(&table, "tcp 203.0.113.10:%d 10.8.0.2\n", 20000 + i);
	strbuf_append(&table, "udp 203.0.113.10:7001-7010 10.8.0.2\n");
	if (!install_test_table(skel->obj, strbuf_str(&table), &e.maps, &rules, &n) &&
	    CHECK(!state_sync(e.state, &e.maps, &e.config, err), "state_sync: %s", err)) {
		cases += batch_cases(&e);
		cases += load_cases(&e);
		cases += old_pin_dir_cases(&e);
	}
	free(rules);
	strbuf_free(&table);
	xdpfwd_bpf__destroy(skel);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.dir);
	CHECK(system(cmd) == 0, "removing %s", e.dir);
	return cases;
}
