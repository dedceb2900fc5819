// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The pure parts of serve's NAT-PMP/PCP server (pcp_daemon.h): its options,
 * the batch a list of pcp_change becomes, and STATE.pcp's round trip and
 * damage cases.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include "harness.h"
#include "journal.h"
#include "leases.h"
#include "pcp_daemon.h"

static struct pcp_addr v4(const char *s)
{
	struct pcp_addr a;
	struct in_addr x;

	inet_pton(AF_INET, s, &x);
	pcp_addr_from_v4(&a, x.s_addr);
	return a;
}

struct opt_case {
	const char *name;
	struct pcpd_options o;
	const char *err; /* NULL: accepted */
};

static int options_cases(void)
{
	static const struct opt_case cases[] = {
	    {"none", {.port0 = -1}, NULL},
	    {"pool without --pcp", {.pool = "40000", .port0 = -1}, "--pcp-pool: only with --pcp"},
	    {"port0 without --pcp", {.port0 = 0}, "--pcp-internal-port-0: only with --pcp"},
	    {"no pool", {.addrs = "10.8.0.1", .port0 = -1}, "--pcp-pool: required with --pcp"},
	    {"bad addr", {.addrs = "10.8.0", .pool = "1", .port0 = -1}, "--pcp '10.8.0': want 1-8"},
	    {"nine addrs",
	     {.addrs = "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9",
	      .pool = "1",
	      .port0 = -1},
	     "--pcp: at most 8 addresses"},
	    {"pool 0",
	     {.addrs = "10.8.0.1", .pool = "0", .port0 = -1},
	     "--pcp-pool '0': port '0' is out of range: allowed 1-65535"},
	    {"pool reversed",
	     {.addrs = "10.8.0.1", .pool = "9-3", .port0 = -1},
	     "--pcp-pool '9-3': port range '9-3' is reversed"},
	    {"pool 65536",
	     {.addrs = "10.8.0.1", .pool = "65536", .port0 = -1},
	     "--pcp-pool '65536': port '65536' is out of range"},
	    {"pool open range",
	     {.addrs = "10.8.0.1", .pool = "40000-", .port0 = -1},
	     "--pcp-pool '40000-': port is empty"},
	    {"pool empty item",
	     {.addrs = "10.8.0.1", .pool = "1,,2", .port0 = -1},
	     "--pcp-pool '1,,2': an empty range between commas"},
	    {"pool trailing comma",
	     {.addrs = "10.8.0.1", .pool = "40000-40010,", .port0 = -1},
	     "an empty range between commas"},
	    {"pool overlap",
	     {.addrs = "10.8.0.1", .pool = "40000-40010,40005", .port0 = -1},
	     "port 40005 is in two ranges"},
	    {"addr twice",
	     {.addrs = "10.8.0.1,10.8.0.1", .pool = "1", .port0 = -1},
	     "--pcp: the address '10.8.0.1' is given twice"},
	    {"addr empty item",
	     {.addrs = "10.8.0.1,", .pool = "1", .port0 = -1},
	     "--pcp '10.8.0.1,': an empty address between commas"},
	    {"quota 0", {.addrs = "::1", .pool = "1", .quota = "0", .port0 = -1}, "--pcp-quota '0'"},
	    {"quota 1025", {.addrs = "::1", .pool = "1", .quota = "1025", .port0 = -1}, "1-1024"},
	    {"lifetime 0:5",
	     {.addrs = "::1", .pool = "1", .lifetime = "0:5", .port0 = -1},
	     "--pcp-lifetime '0:5'"},
	    {"lifetime alone",
	     {.addrs = "::1", .pool = "1", .lifetime = "60", .port0 = -1},
	     "--pcp-lifetime"},
	    {"delay -1",
	     {.addrs = "::1", .pool = "1", .reuse_delay = "-1", .port0 = -1},
	     "--pcp-reuse-delay '-1': want 0-86400"},
	    {"rate 5:0",
	     {.addrs = "::1", .pool = "1", .rate = "5:0", .port0 = -1},
	     "--pcp-rate '5:0'"},
	    {"empty hook", {.addrs = "::1", .pool = "1", .hook = "", .port0 = -1}, "--pcp-hook"},
	    {"all good",
	     {.addrs = "10.8.0.1,fd00:8::1",
	      .pool = "40000-40009,50100",
	      .quota = "3",
	      .lifetime = "30:60",
	      .reuse_delay = "0",
	      .rate = "7",
	      .hook = "true",
	      .port0 = 0},
	     NULL},
	};
	int n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct opt_case *c = &cases[i];
		struct pcpd_config cfg;
		char err[ERR_LEN] = "";
		int rc;

		if (!unit_selected(c->name))
			continue;
		n++;
		rc = pcpd_parse(&c->o, &cfg, err);
		if (c->err) {
			CHECK(rc == -1 && strstr(err, c->err) && !strchr(err, '\n'),
			      "%s: rc %d, '%s', want '%s'", c->name, rc, err, c->err);
			continue;
		}
		CHECK(rc == 0, "%s: refused: %s", c->name, err);
		if (!strcmp(c->name, "all good"))
			CHECK(cfg.enabled && cfg.naddrs == 2 && cfg.npool == 11 &&
				  cfg.pool[0] == 40000 && cfg.pool[10] == 50100 &&
				  cfg.lease.quota == 3 && cfg.lease.life_min == 30 &&
				  cfg.lease.life_max == 60 && cfg.lease.reuse_delay == 0 &&
				  cfg.lease.rate == 7 && cfg.lease.burst == 14 &&
				  !cfg.lease.port0_symmetric,
			      "all good: converted wrong");
		if (!strcmp(c->name, "none"))
			CHECK(!cfg.enabled, "none: enabled");
		pcpd_config_free(&cfg);
	}
	return n;
}
UNIT_CASES(test_pcp_daemon_options, 40)
{
	return options_cases();
}

UNIT_TEST(test_pcp_daemon_defaults, 40)
{
	struct pcpd_options o = {.addrs = "10.8.0.1", .pool = "40000-49999", .port0 = -1};
	struct pcpd_config c;
	char err[ERR_LEN];

	CHECK(pcpd_parse(&o, &c, err) == 0, "refused: %s", err);
	CHECK(c.lease.quota == 5 && c.lease.life_min == 60 && c.lease.life_max == 7200 &&
		  c.lease.reuse_delay == 600 && c.lease.rate == 10 && c.lease.burst == 20 &&
		  c.lease.port0_symmetric && c.npool == 10000,
	      "defaults are not issue 15's (5, 60:7200, 600, 10:20, symmetric)");
	pcpd_config_free(&c);
	return 1;
}

static struct pcp_change change(enum pcp_change_op op, const char *client, uint8_t proto,
				uint16_t ext, uint16_t in, uint32_t life)
{
	return (struct pcp_change){.op = op,
				   .protocol = proto,
				   .external_port = ext,
				   .internal_port = in,
				   .lifetime = life,
				   .client = v4(client)};
}

UNIT_TEST(test_pcp_daemon_batch, 40)
{
	struct pcp_addr ext = v4("203.0.113.10");
	struct xdpfwd_owner own = {.kind = XDPFWD_OWNER_PCP, .key_port = 7000, .nonce = {1, 2, 3}};
	struct pcp_change ch[3];
	struct pcpd_batch b;
	int rc;

	CHECK(pcpd_batch_init(&b, 4) == 0, "init");
	/* An ADD with two FILTERs (one with host bits), a RENEW, a DEL. */
	ch[0] = change(PCP_CH_ADD, "10.8.0.2", 17, 40001, 7000, 120);
	ch[0].filter_set = true;
	ch[0].nfilters = 2;
	ch[0].filter[0] = (struct pcp_filter){.prefix_len = 96 + 24, .addr = v4("198.51.100.77")};
	ch[0].filter[1] = (struct pcp_filter){.prefix_len = 128, .addr = v4("192.0.2.1")};
	ch[1] = change(PCP_CH_RENEW, "10.8.0.2", 6, 40002, 7001, 60);
	ch[2] = change(PCP_CH_DEL, "10.8.0.3", 17, 40003, 7002, 0);
	rc = pcpd_batch_add(&b, ch, 3, &own, &ext, NULL);
	CHECK(rc == 0 && b.nput == 1 && b.nrenew == 1 && b.ndrop == 1 && b.nadded == 1 &&
		  b.put_is_add[0],
	      "sorted into put/renew/drop: rc %d, %zu/%zu/%zu", rc, b.nput, b.nrenew, b.ndrop);
	{
		const struct rule *r = &b.put[0];
		char a[64], p0[64], p1[64];

		format_addr(a, sizeof(a), r->m.family, &r->m.target_addr);
		format_prefix(p0, sizeof(p0), &r->allow[0]);
		format_prefix(p1, sizeof(p1), &r->allow[1]);
		CHECK(r->m.family == AF_INET && r->m.proto == 17 && r->m.public_port == 40001 &&
			  r->m.port_count == 1 && r->m.target_port == 7000 && r->m.ttl == 120 &&
			  !strcmp(a, "10.8.0.2") &&
			  !memcmp(&r->m.public_addr, &r->m.source_addr, sizeof(r->m.source_addr)) &&
			  r->m.public_addr.v4 == htonl(0xcb00710a),
		      "the grant's mapping: %s:%u", a, r->m.target_port);
		CHECK(r->m.allow_count == 2 && !strcmp(p0, "192.0.2.1/32") &&
			  !strcmp(p1, "198.51.100.0/24"),
		      "the FILTERs as a sorted allowlist: %s %s", p0, p1);
		CHECK(!memcmp(&r->owner, &own, sizeof(own)), "the owner record");
	}
	CHECK(b.renew[0].public_port == 40002 && b.renew[0].proto == 6 && b.renew[0].ttl == 60,
	      "the renewal's key");
	CHECK(b.drop[0].public_port == 40003 && b.drop[0].target_addr.v4 == htonl(0x0a080003),
	      "the delete's key names its client");
	/* The same public port again: commit first. */
	ch[0] = change(PCP_CH_ADD, "10.8.0.4", 17, 40003, 7000, 120);
	CHECK(pcpd_batch_add(&b, ch, 1, &own, &ext, NULL) == -EAGAIN && b.nput == 1,
	      "a second change of one public port in one batch");
	/* The same number, the other protocol: a separate mapping. */
	ch[0] = change(PCP_CH_ADD, "10.8.0.2", 6, 40001, 7000, 120);
	CHECK(pcpd_batch_add(&b, ch, 1, &own, &ext, NULL) == 0 && b.nput == 2, "tcp beside udp");
	/* An IPv6 client with no IPv6 public address; a full batch. */
	ch[0].client.b[0] = 0xfd;
	CHECK(pcpd_batch_add(&b, ch, 1, &own, &ext, NULL) == -EINVAL && b.nput == 2,
	      "no public address of the family");
	ch[0] = change(PCP_CH_ADD, "10.8.0.5", 6, 40010, 1, 1);
	ch[1] = change(PCP_CH_ADD, "10.8.0.5", 6, 40011, 2, 1);
	ch[2] = change(PCP_CH_ADD, "10.8.0.5", 6, 40012, 3, 1);
	CHECK(pcpd_batch_add(&b, ch, 3, &own, &ext, NULL) == -ENOSPC && b.nput == 2,
	      "a full batch takes nothing");
	pcpd_batch_reset(&b);
	CHECK(!b.nput && !b.ndrop && !b.nrenew && !b.nadded, "reset");
	pcpd_batch_free(&b);
	return 1;
}

static void example(struct pcpd_saved *s)
{
	memset(s, 0, sizeof(*s));
	s->origin_unix = 1700000000;
	s->has_v4 = true;
	s->ext_v4 = v4("203.0.113.10");
	s->has_v6 = true;
	inet_pton(AF_INET6, "2001:db8::10", s->ext_v6.b);
	s->quar = calloc(2, sizeof(*s->quar));
	s->nquar = 2;
	s->quar[0] = (struct pcp_quar_info){
	    .client = v4("10.8.0.2"), .port = 40001, .key_port = 0, .until = 1700000600};
	s->quar[1] = (struct pcp_quar_info){.port = 40002, .key_port = 7000, .until = 1700000601};
	inet_pton(AF_INET6, "fd00:8::2", s->quar[1].client.b);
}

UNIT_TEST(test_pcp_daemon_state_file, 40)
{
	static const struct {
		const char *name, *from, *to, *err;
	} damage[] = {
	    {"header", "xdpfwd-pcp 1", "xdpfwd-pcp 2", "line 1"},
	    {"a byte", "origin 1700000000", "origin 1700000001", "CRC"},
	    {"torn", "quarantine 40002", NULL, "CRC"},
	    {"no end", "end crc32=", NULL, "CRC"},
	};
	struct pcpd_saved s, back;
	struct strbuf text = STRBUF_INIT;
	char err[ERR_LEN];
	int n = 1;

	example(&s);
	pcpd_saved_format(&s, &text);
	CHECK(pcpd_saved_parse(strbuf_str(&text), &back, err) == 0, "round trip refused: %s", err);
	CHECK(back.origin_unix == s.origin_unix && back.has_v4 && back.has_v6 &&
		  !memcmp(&back.ext_v4, &s.ext_v4, sizeof(s.ext_v4)) &&
		  !memcmp(&back.ext_v6, &s.ext_v6, sizeof(s.ext_v6)) && back.nquar == 2 &&
		  !memcmp(&back.quar[0], &s.quar[0], sizeof(s.quar[0])) &&
		  !memcmp(&back.quar[1], &s.quar[1], sizeof(s.quar[1])),
	      "round trip differs:\n%s", strbuf_str(&text));
	pcpd_saved_free(&back);
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++, n++) {
		char *t = strdup(strbuf_str(&text)), *at = strstr(t, damage[i].from);

		if (damage[i].to)
			memcpy(at, damage[i].to, strlen(damage[i].to));
		else
			*at = 0; /* cut there */
		CHECK(pcpd_saved_parse(t, &back, err) == -1 && strstr(err, damage[i].err) &&
			  !back.quar,
		      "%s: accepted or said '%s'", damage[i].name, err);
		free(t);
	}
	/* No public IPv6 address: "-". */
	s.has_v6 = false;
	strbuf_reset(&text);
	pcpd_saved_format(&s, &text);
	CHECK(strstr(strbuf_str(&text), "external ipv6 -\n") &&
		  pcpd_saved_parse(strbuf_str(&text), &back, err) == 0 && !back.has_v6,
	      "an unknown address: %s", err);
	pcpd_saved_free(&back);
	pcpd_saved_free(&s);
	strbuf_free(&text);
	return n;
}

/* STATE.pcp's Unix times (the epoch origin, the quarantine's ends) come
 * from the server's clock plus pcpd_unix_offset_at(): the offset must not
 * move while neither clock is stepped, whatever the two clocks' fractions of
 * a second, or the file is rewritten with new numbers once a second while
 * the quarantine is non-empty. A step of the wall clock moves it. */
UNIT_TEST(test_pcp_daemon_unix_offset, 40)
{
	/* Boot 3 days ago; the wall clock 0.7 s past a second at boot. */
	const uint64_t boot0 = 3ULL * 86400 * 1000000000ULL;
	const uint64_t diff = 1796000000ULL * 1000000000ULL + 700000000ULL;
	const int64_t want = 1796000001LL - PCPD_CLOCK_BIAS;

	for (unsigned int ms = 0; ms < 3000; ms += 50) {
		uint64_t boot = boot0 + ms * 1000000ULL;
		int64_t off = pcpd_unix_offset_at(boot + diff, boot);

		CHECK(off == want, "the offset at boot + %u ms: %lld, want %lld", ms,
		      (long long)off, (long long)want);
	}
	CHECK(pcpd_unix_offset_at(boot0 + diff + 5000000000ULL, boot0) == want + 5,
	      "a step of the wall clock by 5 s moves it by 5");
	CHECK(pcpd_unix_offset_at(boot0 + 1000000000ULL * 2 + 400000000ULL, boot0) ==
		  2 - PCPD_CLOCK_BIAS,
	      "rounded to the nearest second");
	return 1;
}

/* /metrics shows the side modules' counters (--pcp-hook's runs by result,
 * spawn_failed apart; the WireGuard peer polls; the announcements), each
 * only when its module runs, and never an address. */
UNIT_TEST(test_pcp_daemon_module_metrics, 40)
{
	static const char *const want[] = {
	    "xdpfwd_pcp_hook_events_total 7\n",
	    "xdpfwd_pcp_hook_dropped_total 1\n",
	    "xdpfwd_pcp_hook_runs_total{result=\"ok\"} 3\n",
	    "xdpfwd_pcp_hook_runs_total{result=\"failed\"} 1\n",
	    "xdpfwd_pcp_hook_runs_total{result=\"killed\"} 1\n",
	    "xdpfwd_pcp_hook_runs_total{result=\"spawn_failed\"} 1\n",
	    "xdpfwd_pcp_wg_polls_total{result=\"ok\"} 40\n",
	    "xdpfwd_pcp_wg_polls_total{result=\"failed\"} 1\n",
	    "xdpfwd_pcp_wg_polls_total{result=\"killed\"} 1\n",
	    "xdpfwd_pcp_wg_peers 3\n",
	    "xdpfwd_pcp_wg_peer_removals_total 2\n",
	    "xdpfwd_pcp_announcements_total 1\n",
	    "xdpfwd_pcp_announce_datagrams_total{result=\"sent\"} 20\n",
	    "xdpfwd_pcp_announce_datagrams_total{result=\"error\"} 2\n",
	};
	struct pcpd_metrics m = {
	    .enabled = true, .has_hook = true, .has_peers = true, .has_announce = true};
	struct strbuf out = STRBUF_INIT;

	pthread_mutex_init(&m.lock, NULL);
	m.hook = (struct pcp_hook_stats){.queued = 7,
					 .run = 5,
					 .ok = 3,
					 .failed = 2,
					 .killed = 1,
					 .dropped = 1,
					 .spawn_failed = 1};
	m.peers = (struct wg_peers_stats){
	    .polls = 40, .failures = 2, .killed = 1, .peers = 3, .removals = 2};
	m.announce = (struct pcp_announce_stats){.starts = 1, .sent = 20, .send_errors = 2};
	pcpd_metrics_render(&m, &out);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(strstr(strbuf_str(&out), want[i]), "no line %s", want[i]);
	strbuf_free(&out);
	/* No module running: none of their lines. */
	m.has_hook = m.has_peers = m.has_announce = false;
	pcpd_metrics_render(&m, &out);
	CHECK(!strstr(strbuf_str(&out), "_hook_") && !strstr(strbuf_str(&out), "_wg_") &&
		  !strstr(strbuf_str(&out), "_announce"),
	      "a module that does not run has no lines");
	strbuf_free(&out);
	pthread_mutex_destroy(&m.lock);
	return 1;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* serve reads its state file's pending mappings again only when the
 * snapshot changed (or some were pending): a journal growing under a NAT-PMP
 * client's renewals is no reason to (state_watch_snapshot_same()). */
UNIT_TEST(test_pcp_daemon_pending_watch, 40)
{
	char dir[] = "/tmp/xdpfwd-unit-watch.XXXXXX", state[64], jpath[128], tmp[80];
	struct state_watch w = {0};

	if (!CHECK(mkdtemp(dir), "mkdtemp: %m"))
		return 0;
	snprintf(state, sizeof(state), "%s/s.state", dir);
	snprintf(tmp, sizeof(tmp), "%s/s.tmp", dir);
	journal_path(jpath, sizeof(jpath), state);
	write_text(state, "snapshot 1\n");
	write_text(jpath, "journal\n");
	CHECK(!state_watch_snapshot_same(&w, state), "not taken: not the same");
	state_watch_take(&w, state);
	CHECK(state_watch_snapshot_same(&w, state), "taken: the same");
	write_text(jpath, "journal\nand a record\n");
	CHECK(state_watch_snapshot_same(&w, state), "a journal appended to: the same snapshot");
	CHECK(state_watch_changed(&w, state), "but the pair changed");
	/* A rewrite (rename over it, as the state file is written). */
	write_text(tmp, "snapshot 2, longer\n");
	CHECK(!rename(tmp, state) && !state_watch_snapshot_same(&w, state),
	      "a rewritten snapshot: not the same");
	unlink(state);
	unlink(jpath);
	rmdir(dir);
	return 1;
}
