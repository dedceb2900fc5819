// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_loadindex.c - the index of the last load (loader/loadindex.h) and
 * the short way of load through it:
 *  - pure: line hashes, the lines a file can make rules of (numbered as
 *    parse_rules() numbers them), parse_rule_line() against parse_config(),
 *    the sort, the plan of a load, the replay of journal records over the
 *    index, the file's round trip and a flipped byte refused;
 *  - end to end over the maps of a loaded BPF object and a state file of
 *    its own: a load after a load changes what changed the short way and
 *    leaves the table the long way would have made; a mapping added since
 *    (a journal record) is removed by the next load; a change killed half
 *    way (STATE.changing) and a bad or repeated line send the load the long
 *    way, which says what the long way says.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "change.h"
#include "fixture.h"
#include "harness.h"
#include "journal.h"
#include "loadindex.h"
#include "xdpfwd.skel.h"

static int check_hashes(void)
{
	const char *a = "tcp 203.0.113.10:40000 10.8.0.2:40000";
	const char *b = "tcp 203.0.113.10:40000 10.8.0.2:40001";

	CHECK(line_hash(a, strlen(a)) == line_hash(a, strlen(a)), "a hash is stable");
	CHECK(line_hash(a, strlen(a)) != line_hash(b, strlen(b)), "one digit apart, two hashes");
	CHECK(line_hash("", 0) != 0 && line_hash(a, 3) != line_hash(a, 4),
	      "never 0; the length counts");
	return 3;
}

/* config_lines() skips what makes no rule and numbers lines as
 * parse_rules() does; parse_rule_line() makes what parse_config() makes. */
static int check_lines(void)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "tcp 203.0.113.10:1000 10.8.0.2 # why\n"
	    "   \t\n"
	    "both 203.0.113.10:2000-2009 10.8.0.3:3000 allow=198.51.100.0/24\n"
	    "udp [2001:db8::1]:53 [2001:db8:8::2]";
	static const unsigned int want_lines[] = {3, 5, 6};
	struct rule *rules = NULL, one[2];
	struct hash_at *lines = NULL;
	char err[ERR_LEN] = "";
	size_t n = 0, nrules = 0, at = 0;
	int cases = 0;

	CHECK(!config_lines(text, strlen(text), &lines, &n) && n == 3, "3 lines, got %zu", n);
	CHECK(!parse_config(text, &rules, &nrules, err) && nrules == 4, "parse_config: %s", err);
	for (size_t i = 0; i < n && i < 3; i++, cases++) {
		const char *l = text + line_offset(lines[i].at);
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		int got = parse_rule_line(l, len, line_number(lines[i].at), one, err);

		CHECK(line_number(lines[i].at) == want_lines[i], "line %zu is number %u, want %u",
		      i, line_number(lines[i].at), want_lines[i]);
		CHECK(lines[i].hash == line_hash(l, len), "line %zu: its hash", i);
		for (int r = 0; r < got && at < nrules; r++, at++)
			CHECK(same_rule(&one[r], &rules[at]) && one[r].line == rules[at].line,
			      "line %u, rule %d: as parse_config() makes it",
			      line_number(lines[i].at), r);
	}
	CHECK(at == nrules, "%zu rules of parse_rule_line(), %zu of parse_config()", at, nrules);
	CHECK(parse_rule_line("tcp 1:2", 7, 9, one, err) == -1 &&
		  !strcmp(err, "line 9: expected 'PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] "
			       "[KEY=VALUE]...', found 2 fields"),
	      "a bad line's message: %s", err);
	free(lines);
	free(rules);
	return cases + 2;
}

static int check_sort(void)
{
	struct hash_at keys[5000];
	bool sorted = true;

	srand(7);
	for (size_t i = 0; i < 5000; i++)
		keys[i] = (struct hash_at){(__u64)rand() << 40 ^ (__u64)rand() << 20 ^ rand(), i};
	keys[17].hash = keys[4000].hash; /* a tie keeps its order */
	CHECK(!hash_at_sort(keys, 5000), "sorting");
	for (size_t i = 1; i < 5000; i++)
		sorted &= keys[i - 1].hash < keys[i].hash ||
			  (keys[i - 1].hash == keys[i].hash && keys[i - 1].at < keys[i].at);
	CHECK(sorted, "sorted by hash, ties in order");
	return 1;
}

static struct lidx_entry entry(__u64 hash, __u8 proto, __u16 port)
{
	struct lidx_entry e = {
	    .hash = hash, .family = AF_INET, .proto = proto, .port = port, .count = 1};

	e.addr.v4 = htonl(0xcb00710a);
	return e;
}

/* Index A (one line), B (one), C ("both": two entries); file A, C, D:
 * A and C kept, B gone, D fresh. Two lines alike: the long way. */
static int check_plan(void)
{
	struct lidx_entry e[] = {entry(10, IPPROTO_TCP, 1), entry(20, IPPROTO_TCP, 2),
				 entry(30, IPPROTO_TCP, 3), entry(30, IPPROTO_UDP, 3)};
	struct load_index ix = {.e = e, .n = 4};
	struct hash_at lines[] = {{30, 5ULL << 32}, {40, 9ULL << 32}, {10, 2ULL << 32}};
	struct hash_at twice[] = {{10, 1ULL << 32}, {10, 2ULL << 32}};
	struct load_plan p;

	if (!CHECK(!lidx_plan(&ix, lines, 3, &p), "the plan"))
		return 1;
	CHECK(p.nkeep == 3 && p.keep[0].hash == 10 && p.keep[1].hash == 30 && p.keep[2].hash == 30,
	      "kept: A and both of C (%zu)", p.nkeep);
	CHECK(p.ngone == 1 && p.gone[0].hash == 20, "gone: B (%zu)", p.ngone);
	CHECK(p.nfresh == 1 && line_number(p.fresh[0]) == 9, "fresh: D (%zu)", p.nfresh);
	lidx_plan_free(&p);
	CHECK(lidx_plan(&ix, twice, 2, &p) == 1, "two lines alike go the long way");
	return 4;
}

/* A journal: "- tcp B", "+ tcp 4 (an add)", "+ udp C's side (a change)". */
static int check_replay(void)
{
	static const char text[] = "udp 203.0.113.10:3 10.8.0.9\n";
	struct lidx_entry e[] = {entry(10, IPPROTO_TCP, 1), entry(20, IPPROTO_TCP, 2),
				 entry(30, IPPROTO_TCP, 3), entry(30, IPPROTO_UDP, 3)};
	struct lidx_entry *copy = malloc(sizeof(e));
	struct load_index ix = {.e = copy, .n = 4};
	struct journal_op ops[3] = {{.del = true}};
	struct journal j = {.ops = ops, .nops = 3};
	struct rule *r = NULL;
	char err[ERR_LEN];
	size_t n;
	bool kept_a = false, no_30 = true;
	int zeros = 0;

	if (!copy || !CHECK(!parse_config(text, &r, &n, err) && n == 1, "%s", err)) {
		free(copy);
		free(r);
		return 1;
	}
	memcpy(copy, e, sizeof(e));
	ops[0].r.m = r[0].m;
	ops[0].r.m.proto = IPPROTO_TCP;
	ops[0].r.m.public_port = 2;
	ops[1].r.m = r[0].m;
	ops[1].r.m.proto = IPPROTO_TCP;
	ops[1].r.m.public_port = 4;
	ops[2].r = r[0];
	CHECK(!lidx_replay(&ix, &j), "the replay");
	for (size_t i = 0; i < ix.n; i++) {
		kept_a |= ix.e[i].hash == 10;
		no_30 &= ix.e[i].hash != 30 && ix.e[i].hash != 20;
		zeros += !ix.e[i].hash;
		if (i)
			CHECK(ix.e[i - 1].hash <= ix.e[i].hash, "still sorted at %zu", i);
	}
	CHECK(ix.n == 4 && kept_a && no_30 && zeros == 3,
	      "A stays; B goes; C's line is unknown, its two mappings and the add stay as hash 0: "
	      "%zu entries, %d of hash 0",
	      ix.n, zeros);
	lidx_free(&ix);
	free(r);
	return 2;
}

static int check_file(const char *dir)
{
	char state[128], path[160];
	struct lidx_entry e[] = {entry(10, IPPROTO_TCP, 1), entry(20, IPPROTO_UDP, 2)};
	struct load_index ix = {.e = e, .n = 2, .local_digest = 77}, back;
	FILE *f;

	snprintf(state, sizeof(state), "%s/file.state", dir);
	snprintf(path, sizeof(path), "%s%s", state, STATE_INDEX_SUFFIX);
	ix.pos.jlen = 123;
	CHECK(!lidx_write(state, &ix), "writing the index");
	CHECK(!lidx_read(state, &back) && back.n == 2 && back.pos.jlen == 123 &&
		  back.local_digest == 77 && !memcmp(back.e, e, sizeof(e)),
	      "read back as written");
	lidx_free(&back);
	f = fopen(path, "r+");
	if (f) {
		fseek(f, -5, SEEK_END);
		fputc('x', f);
		fclose(f);
	}
	CHECK(lidx_read(state, &back) == -1, "a flipped byte: refused");
	return 2;
}

struct env {
	struct xdpfwd_maps maps;
	struct xdpfwd_config config;
	char dir[64], state[96], conf[96];
};

static void write_conf(const struct env *e, const char *text)
{
	FILE *f = fopen(e->conf, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* The live table as the config lines a file would hold, sorted. */
static char *live_text(const struct env *e)
{
	struct strbuf out = STRBUF_INIT;
	struct rule *live = NULL;
	size_t n = 0;

	if (!table_live(&e->maps, &live, &n, 0))
		for (size_t i = 0; i < n; i++) {
			format_rule_line(&out, &live[i]);
			strbuf_append(&out, "\n");
		}
	free(live);
	return strbuf_detach(&out, NULL);
}

/* The file FILE loaded the long way into a table of its own would read. */
static char *loaded_text(const char *file)
{
	struct rule *rules = NULL;
	struct strbuf out = STRBUF_INIT;
	char err[ERR_LEN];
	size_t n = 0;

	if (!parse_config(file, &rules, &n, err) && !rules_sort(rules, n))
		for (size_t i = 0; i < n; i++) {
			format_rule_line(&out, &rules[i]);
			strbuf_append(&out, "\n");
		}
	free(rules);
	return strbuf_detach(&out, NULL);
}

/* Loads TEXT: 0 or the error; *SHORT whether it went the short way. */
static int load(const struct env *e, const char *text, bool *short_way)
{
	unsigned long before = load_short_ways;
	int ret;

	write_conf(e, text);
	ret = load_file_cli(&e->maps, &e->config, e->conf, true, e->state);
	*short_way = load_short_ways > before;
	return ret;
}

static bool table_is(const struct env *e, const char *file)
{
	char *live = live_text(e), *want = loaded_text(file);
	bool same = live && want && !strcmp(live, want);

	if (!same)
		fprintf(stderr, "live:\n%swant:\n%s", live ?: "", want ?: "");
	free(live);
	free(want);
	return same;
}

static int end_to_end(struct env *e, const char *base, const char *changed)
{
	struct apply_summary sum;
	struct rule *add = NULL;
	char err[ERR_LEN], marker[160], bad[64 << 10];
	size_t n = 0;
	bool short_way;

	CHECK(!load(e, base, &short_way) && !short_way && table_is(e, base),
	      "the first load: the long way");
	CHECK(!load(e, changed, &short_way) && short_way && table_is(e, changed),
	      "a few lines changed: the short way, to the table the long way makes");
	CHECK(!parse_config("tcp 203.0.113.10:9999 10.8.0.7\n", &add, &n, err) &&
		  !apply_batch(&e->maps, &e->config, &(struct batch){.put = add, .nput = n},
			       &(struct change){.what = "add", .state = e->state}, &sum),
	      "an add since: %s", err);
	CHECK(!load(e, changed, &short_way) && short_way && table_is(e, changed),
	      "the next load replays it from the journal and removes it");
	snprintf(marker, sizeof(marker), "%s.changing", e->state);
	write_conf(e, "");
	fclose(fopen(marker, "w"));
	CHECK(!load(e, base, &short_way) && !short_way && table_is(e, base) && access(marker, F_OK),
	      "after a change killed half way: the long way, which removes the marker");
	snprintf(bad, sizeof(bad), "%sudp 203.0.113.10:70000 10.8.0.2\n", base);
	CHECK(load(e, bad, &short_way) == -EINVAL && !short_way && table_is(e, base),
	      "a bad line: the long way's refusal, nothing changed");
	snprintf(bad, sizeof(bad), "%stcp 203.0.113.10:20000 10.8.0.2\n", base);
	CHECK(load(e, bad, &short_way) == -EINVAL && !short_way && table_is(e, base),
	      "a line twice: the long way's refusal, nothing changed");
	free(add);
	return 6;
}

UNIT_TEST(test_loadindex, 44)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open_and_load();
	struct strbuf base = STRBUF_INIT, changed = STRBUF_INIT;
	struct rule *rules = NULL;
	char cmd[128], err[ERR_LEN] = "";
	struct env e = {0};
	int cases = check_hashes() + check_lines() + check_sort() + check_plan() + check_replay();
	size_t n;

	snprintf(e.dir, sizeof(e.dir), "/tmp/xdpfwd-loadindex-XXXXXX");
	if (!CHECK(skel != NULL && mkdtemp(e.dir), "loading the BPF object: %m"))
		return cases + 1;
	cases += check_file(e.dir);
	snprintf(e.state, sizeof(e.state), "%s/t.state", e.dir);
	snprintf(e.conf, sizeof(e.conf), "%s/t.conf", e.dir);
	/* Past JOURNAL_SMALL_BYTES, so that a change is a journal record. */
	for (int i = 0; i < 2000; i++) {
		strbuf_appendf(&base, "tcp 203.0.113.10:%d 10.8.0.2\n", 20000 + i);
		/* 3 targets changed, 1 line gone, 1 new, 1 "both" new */
		if (i == 5 || i == 6 || i == 7)
			strbuf_appendf(&changed, "tcp 203.0.113.10:%d 10.8.0.3 ttl=60\n",
				       20000 + i);
		else if (i != 9)
			strbuf_appendf(&changed, "tcp 203.0.113.10:%d 10.8.0.2\n", 20000 + i);
	}
	strbuf_append(&changed,
		      "udp 203.0.113.10:7001-7010 10.8.0.4\nboth 203.0.113.10:8000 10.8.0.5\n");
	if (!install_test_table(skel->obj, "", &e.maps, &rules, &n) &&
	    CHECK(!state_sync(e.state, &e.maps, &e.config, err), "state_sync: %s", err))
		cases += end_to_end(&e, strbuf_str(&base), strbuf_str(&changed));
	free(rules);
	strbuf_free(&base);
	strbuf_free(&changed);
	xdpfwd_bpf__destroy(skel);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.dir);
	CHECK(system(cmd) == 0, "removing %s", e.dir);
	return cases;
}
