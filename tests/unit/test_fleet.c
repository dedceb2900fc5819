// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The fleet (issue 16): etcd's v3 JSON gateway as etcd 3.4.23 writes it
 * (base64 keys and values, 64-bit numbers as strings, default fields left
 * out; the messages captured from a real member, keys shortened), the
 * request bodies, the fleet's keys and values; then the client against a
 * real etcd started here on 127.0.0.1 with its data on tmpfs, stopped by
 * its pid: put and paged range at one revision, create-if-absent, leases,
 * a watch stream from a revision and a compacted one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "etcd.h"
#include "fleet.h"
#include "harness.h"

static void test_base64(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {{"", ""},
		     {"f", "Zg=="},
		     {"fo", "Zm8="},
		     {"foo", "Zm9v"},
		     {"/xdpfwd/v1/gw/gw-a/", "L3hkcGZ3ZC92MS9ndy9ndy1hLw=="},
		     {"\xff\xfe", "//4="}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf b = STRBUF_INIT;
		size_t n;
		char *back;

		etcd_b64_encode(&b, cases[i].in, strlen(cases[i].in));
		CHECK(!strcmp(strbuf_str(&b), cases[i].out), "base64 of '%s': '%s', want '%s'",
		      cases[i].in, strbuf_str(&b), cases[i].out);
		back = etcd_b64_decode(cases[i].out, &n);
		CHECK(back && n == strlen(cases[i].in) && !memcmp(back, cases[i].in, n),
		      "decoding '%s'", cases[i].out);
		free(back);
		strbuf_free(&b);
	}
	for (const char *const *bad =
		 (const char *const[]){"Zg=", "Z===", "Zm9v!A==", "=Zm9", NULL};
	     *bad; bad++) {
		char *got = etcd_b64_decode(*bad, NULL);

		CHECK(!got, "'%s' is not base64, yet decoded", *bad);
		free(got);
	}
}

static void test_prefix_end(void)
{
	static const char *const cases[][2] = {
	    {"/xdpfwd/v1/gw/gw-a/", "/xdpfwd/v1/gw/gw-a0"}, {"a\xff", "b"}, {"\xff\xff", ""}};

	for (size_t i = 0; i < 3; i++) {
		char *end = etcd_prefix_end(cases[i][0]);

		CHECK(end && !strcmp(end, cases[i][1]), "range end of '%s': '%s'", cases[i][0],
		      end ? end : "(null)");
		free(end);
	}
}

/* A range answer of 3.4.23, with "more", "count", and a cluster id past 2^63. */
#define RANGE_ANSWER                                                                               \
	"{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":"                      \
	"\"10276657743932975437\",\"revision\":\"4\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":"      \
	"\"L2EvMQ==\",\"create_revision\":\"3\",\"mod_revision\":\"3\",\"version\":\"1\","         \
	"\"value\":\"dWRwIDI3MDE1IDEwLjguMC4y\"},{\"key\":\"L2EvMg==\",\"create_revision\":\"2\"," \
	"\"mod_revision\":\"4\",\"version\":\"2\",\"value\":\"\",\"lease\":"                       \
	"\"7587867410373689111\"}],\"more\":true,\"count\":\"5\"}"

static void test_parse_range(void)
{
	char err[ETCD_ERR_LEN];
	struct etcd_range r;

	if (!CHECK(!etcd_parse_range(RANGE_ANSWER, &r, err), "range: %s", err))
		return;
	CHECK(r.h.cluster_id == 14841639068965178418ULL && r.h.revision == 4 && r.h.raft_term == 2,
	      "header: cluster %llu revision %lld", (unsigned long long)r.h.cluster_id,
	      (long long)r.h.revision);
	CHECK(r.nkvs == 2 && r.more && r.count == 5, "kvs %zu more %d count %lld", r.nkvs, r.more,
	      (long long)r.count);
	CHECK(r.nkvs == 2 && !strcmp(r.kvs[0].key, "/a/1") &&
		  !strcmp(r.kvs[0].value, "udp 27015 10.8.0.2") && r.kvs[0].create_revision == 3 &&
		  r.kvs[0].version == 1 && r.kvs[0].lease == 0,
	      "the first kv");
	CHECK(r.nkvs == 2 && !strcmp(r.kvs[1].value, "") && r.kvs[1].mod_revision == 4 &&
		  r.kvs[1].lease == 7587867410373689111LL,
	      "the second kv: an empty value, a lease id past 2^53 kept exactly (%lld)",
	      (long long)r.kvs[1].lease);
	etcd_range_free(&r);
	/* Left out when default: an empty range has only the header. */
	CHECK(!etcd_parse_range("{\"header\":{\"revision\":\"1\"}}", &r, err) && !r.nkvs &&
		  !r.more && !r.count && r.h.revision == 1,
	      "an empty range");
	etcd_range_free(&r);
	CHECK(etcd_parse_range("404 page not found", &r, err), "not JSON is an error");
	CHECK(etcd_parse_range("{\"kvs\":[{\"key\":\"Zg=\"}]}", &r, err) &&
		  strstr(err, "not base64"),
	      "a key that is not base64: '%s'", err);
}

static int watch_of(const char *text, struct etcd_watch_msg *m, char *err)
{
	json_object *o = json_tokener_parse(text);
	int ret = etcd_parse_watch(o, m, err);

	json_object_put(o);
	return ret;
}

static void test_parse_watch(void)
{
	struct etcd_watch_msg m;
	char err[ETCD_ERR_LEN];

	CHECK(!watch_of(
		  "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"6\"},\"created\":"
		  "true}}",
		  &m, err) &&
		  m.created && !m.nev && m.h.revision == 6 && m.watch_id == 0,
	      "created");
	etcd_watch_msg_free(&m);
	CHECK(!watch_of("{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"type\":"
			"\"DELETE\",\"kv\":{\"key\":\"L2EvMQ==\",\"mod_revision\":\"7\"}},{\"kv\":{"
			"\"key\":\"L2EvMg==\",\"create_revision\":\"8\",\"mod_revision\":\"8\","
			"\"version\":\"1\",\"value\":\"eA==\"}}]}}",
			&m, err) &&
		  m.nev == 2 && m.ev[0].del && !m.ev[0].kv.value &&
		  !strcmp(m.ev[0].kv.key, "/a/1") && !m.ev[1].del &&
		  !strcmp(m.ev[1].kv.value, "x") && m.ev[1].kv.version == 1,
	      "a DELETE, then a PUT without a type");
	etcd_watch_msg_free(&m);
	CHECK(!watch_of("{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,"
			"\"compact_revision\":\"12\"}}",
			&m, err) &&
		  m.canceled && m.compact_revision == 12,
	      "canceled for compaction");
	etcd_watch_msg_free(&m);
	CHECK(
	    !watch_of("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no "
		      "leader\",\"http_status\":\"Service Unavailable\"}}",
		      &m, err) &&
		m.error && !strcmp(m.reason, "etcdserver: no leader"),
	    "no leader: '%s'", m.reason);
	etcd_watch_msg_free(&m);
	CHECK(!watch_of("{\"result\":{\"header\":{\"revision\":\"10\"},\"watch_id\":\"-1\"}}", &m,
			err) &&
		  m.watch_id == -1 && !m.nev && !m.created,
	      "a requested progress notification");
	etcd_watch_msg_free(&m);
	CHECK(watch_of("{\"header\":{}}", &m, err), "neither result nor error");
}

static void test_parse_error(void)
{
	char err[ETCD_ERR_LEN] = "";
	int code = 0;

	CHECK(etcd_parse_error("{\"error\":\"etcdserver: mvcc: required revision has been "
			       "compacted\",\"message\":\"...\",\"code\":11}",
			       400, &code, err) &&
		  code == 11 && strstr(err, "compacted") && strstr(err, "HTTP 400"),
	      "compacted: %d '%s'", code, err);
	CHECK(etcd_parse_error("{\"error\":\"etcdserver: request timed out\",\"code\":14}", 503,
			       &code, err) &&
		  code == 14,
	      "no quorum");
	CHECK(etcd_parse_error("404 page not found\n", 404, &code, err) && code == -1 &&
		  strstr(err, "HTTP 404"),
	      "a 404: '%s'", err);
	CHECK(!etcd_parse_error("{\"header\":{}}", 200, &code, err), "a success");
}

/* Whether BODY parses and field F of it (a path of two) is V. */
static bool body_has(const char *body, const char *f1, const char *f2, const char *v)
{
	json_object *o = json_tokener_parse(body), *x = NULL, *y = NULL;
	bool ok = o && json_object_object_get_ex(o, f1, &x) &&
		  (!f2 || json_object_object_get_ex(x, f2, &y)) &&
		  !strcmp(json_object_get_string(f2 ? y : x), v);

	json_object_put(o);
	return ok;
}

static void test_bodies(void)
{
	struct strbuf b = STRBUF_INIT;
	const char *keys[] = {"/p/port/1", "/p/peer/k"}, *values[] = {"a", "b"};

	etcd_body_range(&b, "/a/", "/a0", 4096, 42);
	CHECK(body_has(b.data, "key", NULL, "L2Ev") &&
		  body_has(b.data, "range_end", NULL, "L2Ew") &&
		  body_has(b.data, "limit", NULL, "4096") &&
		  body_has(b.data, "revision", NULL, "42") && !strstr(b.data, "serializable"),
	      "range: %s", b.data);
	strbuf_reset(&b);
	etcd_body_range(&b, "/a/", "", 0, 0);
	CHECK(body_has(b.data, "range_end", NULL, "AA==") && !strstr(b.data, "limit"),
	      "range to the end: %s", b.data);
	strbuf_reset(&b);
	etcd_body_watch(&b, "/a/", "/a0", 7);
	CHECK(body_has(b.data, "create_request", "start_revision", "7") &&
		  strstr(b.data, "\"progress_notify\":true"),
	      "watch: %s", b.data);
	strbuf_reset(&b);
	etcd_body_put(&b, "/s", "v", 7587867410373689111LL);
	CHECK(body_has(b.data, "lease", NULL, "7587867410373689111"), "put with a lease: %s",
	      b.data);
	strbuf_reset(&b);
	etcd_body_create(&b, keys, values, 2);
	CHECK(strstr(b.data, "\"target\":\"CREATE\"") &&
		  strstr(b.data, "\"create_revision\":\"0\"") && strstr(b.data, "request_range"),
	      "create-if-absent: %s", b.data);
	strbuf_free(&b);
}

static void test_names_keys(void)
{
	static const struct {
		const char *proto, *pub, *target, *key;
	} cases[] = {
	    {"udp", "27015", "10.8.0.2", "/xdpfwd/v1/gw/gw-1/map/udp/any/27015"},
	    {"udp", "27015", "[fd00:8::2]", "/xdpfwd/v1/gw/gw-1/map/udp/any6/27015"},
	    {"tcp", "203.0.113.10:40000-40009", "10.8.0.3",
	     "/xdpfwd/v1/gw/gw-1/map/tcp/203.0.113.10/40000-40009"},
	    {"both", "[2001:db8::1]:443", "[fd00:8::2]:8443",
	     "/xdpfwd/v1/gw/gw-1/map/both/2001:db8::1/443"},
	};
	char err[ERR_LEN];

	CHECK(!fleet_name_check("gw-1.eu_a", "gateway", err), "a good name");
	CHECK(fleet_name_check(".x", "gateway", err) && strstr(err, "gateway '.x'") &&
		  strstr(err, "1-63"),
	      "a name starting with a dot: '%s'", err);
	CHECK(fleet_name_check("a/b", "gateway", err), "a name with a slash");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf key = STRBUF_INIT;
		struct xdpfwd_mapping pub[2];
		struct rule r[2];
		int n = parse_rule(cases[i].proto, cases[i].pub, cases[i].target, r, err);

		fleet_map_key(&key, "gw-1", &r[0], n == 2);
		CHECK(!strcmp(strbuf_str(&key), cases[i].key), "key '%s', want '%s'",
		      strbuf_str(&key), cases[i].key);
		CHECK(fleet_key_public("gw-1", cases[i].key, pub) == n &&
			  same_public(&pub[0], &r[0].m) &&
			  (n == 1 || same_public(&pub[1], &r[1].m)),
		      "the public side of %s", cases[i].key);
		strbuf_free(&key);
	}
	{
		struct xdpfwd_mapping pub[2];

		CHECK(!fleet_key_public("gw-1", "/xdpfwd/v1/gw/gw-2/map/udp/any/1", pub) &&
			  !fleet_key_public("gw-1", "/xdpfwd/v1/gw/gw-1/map/sctp/any/1", pub) &&
			  !fleet_key_public("gw-1", "/xdpfwd/v1/gw/gw-1/settings", pub),
		      "keys that name no mapping of gw-1");
	}
}

static void test_values(void)
{
	const char *k = "/xdpfwd/v1/gw/g/map/udp/any/27015";
	const uint64_t now = 1790000000, boot = 5000000000ULL;
	struct strbuf line = STRBUF_INIT, key = STRBUF_INIT;
	char err[ERR_LEN], *argv[] = {"udp", "27015", "10.8.0.2", "rate=100", "ttl=60", NULL};
	struct rule r[2];

	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2:27015 rate=1000\n", now, boot, r,
				err) == 1 &&
		  r[0].m.rate.pps == 1000 && !r[0].m.ttl,
	      "a plain line: %s", err);
	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2 expires=1790000100", now, boot, r,
				err) == 1 &&
		  r[0].m.ttl == 100 && r[0].m.expires_ns == boot + 100000000000ULL,
	      "a lease: ttl %u", r[0].m.ttl);
	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2 expires=1790000000", now, boot, r,
				err) == 0,
	      "a lease that ended: nothing to forward");
	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2 ttl=60", now, boot, r, err) < 0 &&
		  strstr(err, "expires=UNIX_SECONDS"),
	      "ttl= refused: '%s'", err);
	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2 expires=soon", now, boot, r, err) < 0 &&
		  strstr(err, "expires 'soon'"),
	      "a bad expires: '%s'", err);
	CHECK(fleet_parse_value("g", k, "tcp 27015 10.8.0.2", now, boot, r, err) < 0 &&
		  strstr(err, "/xdpfwd/v1/gw/g/map/tcp/any/27015"),
	      "another protocol than the key's: '%s'", err);
	CHECK(fleet_parse_value("g", k, "udp 27015 10.8.0.2\nudp 27016 10.8.0.2", now, boot, r,
				err) < 0 &&
		  strstr(err, "one mapping per key"),
	      "two lines: '%s'", err);
	CHECK(fleet_parse_value("g", k, "", now, boot, r, err) < 0 && strstr(err, "empty"),
	      "empty");
	CHECK(fleet_parse_value("g", k, "udp 70000 10.8.0.2", now, boot, r, err) < 0 &&
		  strstr(err, "public port") && strstr(err, "1-65535"),
	      "a port out of range names the field and range: '%s'", err);
	CHECK(!fleet_add_line("g", argv, 5, now, &line, &key, err) &&
		  !strcmp(strbuf_str(&line), "udp 27015 10.8.0.2 rate=100 expires=1790000060") &&
		  !strcmp(strbuf_str(&key), k),
	      "fleet add's line: '%s' under '%s' (%s)", strbuf_str(&line), strbuf_str(&key), err);
	strbuf_free(&line);
	strbuf_free(&key);
}

static void test_status(void)
{
	struct fleet_reject rej[] = {{"/k/1", "bad \"line\""}};
	struct fleet_status s = {.gateway = "gw1",
				 .revision = 42,
				 .mappings = 3,
				 .rejected = rej,
				 .nrejected = 1,
				 .rejected_count = 1,
				 .time = 1790000000},
			    back;
	struct strbuf b = STRBUF_INIT;
	char err[ERR_LEN];

	fleet_status_format(&b, &s);
	CHECK(!fleet_status_parse(b.data, &back, err) && !strcmp(back.gateway, "gw1") &&
		  back.revision == 42 && back.mappings == 3 && back.nrejected == 1 &&
		  !strcmp(back.rejected[0].reason, "bad \"line\"") && back.time == 1790000000,
	      "status round trip: %s", b.data);
	fleet_status_free(&back);
	CHECK(fleet_status_parse("[]", &back, err), "a status that is not an object");
	strbuf_free(&b);
}

/* --- a real etcd ------------------------------------------------------------ */

struct collect {
	int events, dels;
	int64_t last, compact;
	bool created, canceled;
	int want;
};

static bool collect(void *ctx, json_object *o)
{
	struct collect *c = ctx;
	struct etcd_watch_msg m;
	char err[ETCD_ERR_LEN];

	if (etcd_parse_watch(o, &m, err))
		return false;
	c->created |= m.created;
	c->canceled |= m.canceled;
	if (m.compact_revision)
		c->compact = m.compact_revision;
	for (size_t i = 0; i < m.nev; i++) {
		c->events++;
		c->dels += m.ev[i].del;
		c->last = m.ev[i].kv.mod_revision;
	}
	etcd_watch_msg_free(&m);
	return !c->canceled && c->events < c->want;
}

/* A watch of PREFIX from START until WANT events, a cancel or 3 s. */
static void watch(struct etcd_conf *c, const char *prefix, int64_t start, struct collect *got)
{
	struct strbuf body = STRBUF_INIT;
	char *end = etcd_prefix_end(prefix);
	struct etcd_call call;

	etcd_body_watch(&body, prefix, end, start);
	if (!etcd_call_init(&call, c, c->url[c->nurl - 1], "/v3/watch", strbuf_str(&body), true)) {
		call.on_object = collect;
		call.ctx = got;
		curl_easy_setopt(call.h, CURLOPT_TIMEOUT_MS, 3000L);
		curl_easy_perform(call.h);
		etcd_call_free(&call);
	}
	strbuf_free(&body);
	free(end);
}

static char *ask(struct etcd_conf *c, const char *path, const char *body, int *code)
{
	char err[ETCD_ERR_LEN], *resp = NULL;

	if (etcd_request(c, path, body, &resp, code, err))
		return NULL;
	return resp;
}

static void real_kv(struct etcd_conf *c, int64_t *first)
{
	struct etcd_range r = {0};
	char err[ETCD_ERR_LEN], *resp;
	int code, got = 0;
	int64_t rev = 0;

	for (int i = 0; i < 10; i++) {
		struct strbuf b = STRBUF_INIT, k = STRBUF_INIT;

		strbuf_appendf(&k, "/t/k%02d", i);
		etcd_body_put(&b, strbuf_str(&k), "v", 0);
		free(ask(c, "/v3/kv/put", strbuf_str(&b), &code));
		strbuf_free(&b);
		strbuf_free(&k);
	}
	/* Pages of 3 at the first page's revision, each from the last key. */
	for (char *from = strdup("/t/"); from;) {
		struct strbuf b = STRBUF_INIT;

		etcd_body_range(&b, from, "/t0", 3, rev);
		resp = ask(c, "/v3/kv/range", strbuf_str(&b), &code);
		strbuf_free(&b);
		if (!resp || etcd_parse_range(resp, &r, err))
			break;
		rev = rev ? rev : r.h.revision;
		got += (int)r.nkvs - (strcmp(from, "/t/") != 0);
		free(from);
		from = r.more ? strdup(r.kvs[r.nkvs - 1].key) : NULL;
		free(resp);
		etcd_range_free(&r);
	}
	CHECK(got == 10, "a paged range: %d keys, want 10", got);
	*first = rev - 9;
	resp = ask(c, "/v3/kv/range", "{\"key\":\"L3Qv\",\"revision\":\"9999\"}", &code);
	CHECK(!resp && code == 11, "a future revision: code %d, want 11", code);
	free(resp);
}

static void real_txn_lease(struct etcd_conf *c)
{
	const char *keys[] = {"/p/port/41234", "/p/peer/k1"}, *v[] = {"k1", "41234"};
	struct strbuf b = STRBUF_INIT;
	json_object *o;
	int64_t id;
	char *resp;
	int code;

	etcd_body_create(&b, keys, v, 2);
	for (int i = 0; i < 2; i++) {
		resp = ask(c, "/v3/kv/txn", strbuf_str(&b), &code);
		CHECK(resp && (strstr(resp, "\"succeeded\":true") != NULL) == (i == 0),
		      "create-if-absent, try %d: %s", i + 1, resp ? resp : "(failed)");
		free(resp);
	}
	strbuf_free(&b);
	resp = ask(c, "/v3/lease/grant", "{\"TTL\":\"5\"}", &code);
	o = resp ? json_tokener_parse(resp) : NULL;
	id = etcd_json_i64(o, "ID");
	CHECK(id > 0 && etcd_json_i64(o, "TTL") == 5, "lease grant: %s", resp ? resp : "(failed)");
	json_object_put(o);
	free(resp);
	strbuf_appendf(&b, "{\"ID\":\"%lld\"}", (long long)id);
	resp = ask(c, "/v3/lease/keepalive", strbuf_str(&b), &code);
	CHECK(resp && strstr(resp, "\"TTL\":\"5\""), "keepalive: %s", resp ? resp : "(failed)");
	free(resp);
	free(ask(c, "/v3/lease/revoke", strbuf_str(&b), &code));
	resp = ask(c, "/v3/lease/keepalive", strbuf_str(&b), &code);
	CHECK(resp && !strstr(resp, "TTL"), "keepalive of a revoked lease has no TTL: %s",
	      resp ? resp : "(failed)");
	free(resp);
	strbuf_free(&b);
}

static void real_watch(struct etcd_conf *c, int64_t first)
{
	struct collect all = {.want = 10}, tail = {.want = 10}, gone = {.want = 1};
	char body[96], *resp;
	int code;

	watch(c, "/t/", first, &all);
	CHECK(all.created && all.events == 10 && all.last == first + 9,
	      "a watch from revision %lld: %d events, the last %lld", (long long)first, all.events,
	      (long long)all.last);
	watch(c, "/t/", first + 5, &tail);
	CHECK(tail.events == 5, "resumed from %lld: %d events, want 5", (long long)first + 5,
	      tail.events);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\",\"physical\":true}",
		 (long long)first + 3);
	free(ask(c, "/v3/kv/compaction", body, &code));
	watch(c, "/t/", first, &gone);
	CHECK(gone.canceled && gone.compact == first + 3,
	      "a watch from a compacted revision: canceled %d compact_revision %lld", gone.canceled,
	      (long long)gone.compact);
	resp = ask(c, "/v3/kv/range", "{\"key\":\"L3Qv\",\"revision\":\"1\"}", &code);
	CHECK(!resp && code == 11, "a range at a compacted revision: code %d", code);
	free(resp);
}

static pid_t start_etcd(const char *dir, int port)
{
	char data[128], client[64], peer[64], cluster[96];
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", port + 1);
	snprintf(cluster, sizeof(cluster), "u=%s", peer);
	pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("etcd", "etcd", "--name", "u", "--data-dir", data, "--listen-client-urls",
		       client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		       "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
		       (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_real_etcd(void)
{
	char dir[] = "/dev/shm/xdpfwd-unit-etcd-XXXXXX", rm[96], urls[64], err[ETCD_ERR_LEN];
	int port = 32000 + getpid() % 2000 * 2, code, st;
	struct etcd_conf c;
	pid_t pid;
	int64_t first = 0;
	char *resp = NULL;

	if (system("command -v etcd >/dev/null") || !mkdtemp(dir)) {
		printf("  SKIP a real etcd: no etcd, or no /dev/shm\n");
		return;
	}
	pid = start_etcd(dir, port);
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d,http://127.0.0.1:%d", port + 7, port);
	if (CHECK(pid > 0 && !etcd_conf_parse(&c, urls, "--fleet", err), "etcd: %s", err)) {
		/* The first endpoint refuses: the second answers. */
		for (int i = 0; i < 100 && !resp; i++, usleep(100000))
			resp = ask(&c, "/v3/kv/range", "{\"key\":\"AA==\"}", &code);
		if (CHECK(resp != NULL, "etcd does not answer on 127.0.0.1:%d", port)) {
			real_kv(&c, &first);
			real_txn_lease(&c);
			real_watch(&c, first);
		}
		free(resp);
		etcd_conf_free(&c);
	}
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
	}
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm))
		fprintf(stderr, "  could not remove %s\n", dir);
}

UNIT_TEST(test_fleet, 6)
{
	test_base64();
	test_prefix_end();
	test_parse_range();
	test_parse_watch();
	test_parse_error();
	test_bodies();
	test_names_keys();
	test_values();
	test_status();
	test_real_etcd();
	return 10;
}
