// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleet_pool.c - `xdpfwd fleet reserve POOL PEER_KEY [--port N] [--days D]`
 * and `fleet release POOL PEER_KEY` (fleet_cli.h): portable ports, unique in
 * a pool through one create-if-absent transaction of two keys (fleet.h):
 *   pool/POOL/port/N      {"peer":PEER_KEY,"expires":UNIX_SECONDS}
 *   pool/POOL/peer/KEYURL {"port":N,"expires":UNIX_SECONDS}
 * KEYURL is the WireGuard key in base64url without padding (RFC 4648
 * section 5), since '/' cannot be in a key's last part.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "etcd.h"
#include "fleet.h"
#include "fleet_cli.h"
#include "log.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

int fleet_pool_parse(char **argv, int argc, const struct fleet_cli_options *o,
		     struct fleet_reservation *r, char *err)
{
	size_t n;
	char *raw, *end;
	unsigned long v;

	memset(r, 0, sizeof(*r));
	if (argc != 2)
		fail("expected POOL PEER_KEY");
	if (fleet_name_check(argv[0], "pool", err))
		return -1;
	raw = strlen(argv[1]) == 44 ? etcd_b64_decode(argv[1], &n) : NULL;
	free(raw);
	if (!raw || n != 32)
		fail("peer key '%s' is not a WireGuard public key: 44 characters of base64 (32 "
		     "bytes), as wg show prints it",
		     argv[1]);
	snprintf(r->pool, sizeof(r->pool), "%s", argv[0]);
	snprintf(r->peer, sizeof(r->peer), "%s", argv[1]);
	for (size_t i = 0; i < 43; i++) /* base64url, without the '=' */
		r->peer_url[i] = argv[1][i] == '+' ? '-' : argv[1][i] == '/' ? '_' : argv[1][i];
	r->days = FLEET_POOL_DAYS;
	if (o->port) {
		errno = 0;
		v = strtoul(o->port, &end, 10);
		if (errno || *end || end == o->port || v < 1 || v > 65535)
			fail("--port '%s' is out of range: allowed 1-65535", o->port);
		r->port = (unsigned int)v;
	}
	if (o->days) {
		errno = 0;
		v = strtoul(o->days, &end, 10);
		if (errno || *end || end == o->days || v < 1 || v > FLEET_POOL_DAYS_MAX)
			fail("--days '%s' is out of range: allowed 1-%d", o->days,
			     FLEET_POOL_DAYS_MAX);
		r->days = (unsigned int)v;
	}
	return 0;
}

static void port_key(struct strbuf *k, const struct fleet_reservation *r, unsigned int port)
{
	strbuf_appendf(k, FLEET_ROOT "pool/%s/port/%u", r->pool, port);
}

static void peer_key(struct strbuf *k, const struct fleet_reservation *r)
{
	strbuf_appendf(k, FLEET_ROOT "pool/%s/peer/%s", r->pool, r->peer_url);
}

/* The peer's reservation: 1 (*PORT, *MOD), 0 when it has none, -1 after a
 * message. */
static int peer_read(struct etcd_conf *c, const struct fleet_reservation *r, unsigned int *port,
		     int64_t *mod)
{
	struct strbuf k = STRBUF_INIT, body = STRBUF_INIT;
	char err[ETCD_ERR_LEN], *resp;
	struct etcd_range got = {0};
	int code, ret = -1;

	peer_key(&k, r);
	etcd_body_range(&body, strbuf_str(&k), NULL, 0, 0);
	if (etcd_request(c, "/v3/kv/range", strbuf_str(&body), &resp, &code, err))
		pr_warn("fleet: etcd: %s\n", err);
	else if (etcd_parse_range(resp, &got, err))
		pr_warn("fleet: etcd: %s\n", err);
	else if (!got.nkvs)
		ret = 0;
	else {
		json_object *o = json_tokener_parse(got.kvs[0].value ? got.kvs[0].value : "");

		*port = (unsigned int)etcd_json_i64(o, "port");
		*mod = got.kvs[0].mod_revision;
		json_object_put(o);
		ret = 1;
	}
	if (ret >= 0)
		free(resp);
	etcd_range_free(&got);
	strbuf_free(&k);
	strbuf_free(&body);
	return ret;
}

/* One create-if-absent try of PORT: 1 made, 0 taken, -1 after a message. */
static int try_port(struct etcd_conf *c, const struct fleet_reservation *r, unsigned int port,
		    uint64_t expires)
{
	struct strbuf pk = STRBUF_INIT, ek = STRBUF_INIT, pv = STRBUF_INIT, ev = STRBUF_INIT,
		      body = STRBUF_INIT;
	char err[ETCD_ERR_LEN], *resp;
	int code, ret = -1;

	port_key(&pk, r, port);
	peer_key(&ek, r);
	strbuf_appendf(&pv, "{\"peer\":\"%s\",\"expires\":%" PRIu64 "}", r->peer, expires);
	strbuf_appendf(&ev, "{\"port\":%u,\"expires\":%" PRIu64 "}", port, expires);
	etcd_body_create(&body, (const char *const[]){strbuf_str(&pk), strbuf_str(&ek)},
			 (const char *const[]){strbuf_str(&pv), strbuf_str(&ev)}, 2);
	if (etcd_request(c, "/v3/kv/txn", strbuf_str(&body), &resp, &code, err)) {
		pr_warn("fleet reserve: etcd: %s\n", err);
	} else {
		json_object *o = json_tokener_parse(resp), *ok = NULL;

		ret = json_object_object_get_ex(o, "succeeded", &ok) && json_object_get_boolean(ok);
		json_object_put(o);
		free(resp);
	}
	strbuf_free(&pk);
	strbuf_free(&ek);
	strbuf_free(&pv);
	strbuf_free(&ev);
	strbuf_free(&body);
	return ret;
}

static void said(const struct fleet_reservation *r, unsigned int port, uint64_t expires, bool json,
		 bool existed)
{
	if (json)
		printf("{\"pool\":\"%s\",\"peer\":\"%s\",\"port\":%u,\"expires\":%" PRIu64
		       ",\"existed\":%s}\n",
		       r->pool, r->peer, port, expires, existed ? "true" : "false");
	else
		printf("%s port %u in pool %s for %s\n", existed ? "holds" : "reserved", port,
		       r->pool, r->peer);
}

int fleet_reserve(struct etcd_conf *c, const struct fleet_reservation *r, bool json)
{
	uint64_t expires = (uint64_t)time(NULL) + r->days * 86400ULL, seed = (uint64_t)getpid();
	unsigned int held = 0;
	int64_t mod;
	int got;

	for (int tries = 0; tries < FLEET_POOL_TRIES; tries++) {
		unsigned int port = r->port;

		got = peer_read(c, r, &held, &mod);
		if (got < 0)
			return 1;
		if (got && r->port && held != r->port) {
			pr_warn("fleet reserve: %s holds port %u in pool %s, not %u: release it "
				"first\n",
				r->peer, held, r->pool, r->port);
			return 1;
		}
		if (got) { /* idempotent per peer */
			said(r, held, 0, json, true);
			return 0;
		}
		seed =
		    seed * 6364136223846793005ULL + 1442695040888963407ULL + (uint64_t)time(NULL);
		if (!port)
			port = FLEET_POOL_FIRST +
			       (unsigned int)((seed >> 33) % (65536 - FLEET_POOL_FIRST));
		got = try_port(c, r, port, expires);
		if (got < 0)
			return 1;
		if (got) {
			said(r, port, expires, json, false);
			return 0;
		}
		if (r->port && !peer_read(c, r, &held, &mod)) {
			pr_warn("fleet reserve: port %u of pool %s is held by another peer\n",
				r->port, r->pool);
			return 1;
		}
	}
	pr_warn("fleet reserve: no free port in pool %s after %d tries\n", r->pool,
		FLEET_POOL_TRIES);
	return 1;
}

int fleet_release(struct etcd_conf *c, const struct fleet_reservation *r, bool json)
{
	struct strbuf pk = STRBUF_INIT, ek = STRBUF_INIT, body = STRBUF_INIT;
	char err[ETCD_ERR_LEN], *resp = NULL;
	unsigned int port = 0;
	int64_t mod = 0;
	int code, got = peer_read(c, r, &port, &mod);

	if (got <= 0) {
		if (!got)
			pr_warn("fleet release: %s holds no port in pool %s\n", r->peer, r->pool);
		return 1;
	}
	port_key(&pk, r, port);
	peer_key(&ek, r);
	etcd_body_delete_if(&body, (const char *const[]){strbuf_str(&pk), strbuf_str(&ek)}, 2,
			    strbuf_str(&ek), mod);
	got = etcd_request(c, "/v3/kv/txn", strbuf_str(&body), &resp, &code, err);
	if (got)
		pr_warn("fleet release: etcd: %s\n", err);
	else if (!strstr(resp, "\"succeeded\":true"))
		pr_warn("fleet release: the reservation changed meanwhile: try again\n");
	else if (json)
		printf("{\"pool\":\"%s\",\"peer\":\"%s\",\"port\":%u}\n", r->pool, r->peer, port);
	else
		printf("released port %u in pool %s\n", port, r->pool);
	got = got || !strstr(resp, "\"succeeded\":true");
	free(resp);
	strbuf_free(&pk);
	strbuf_free(&ek);
	strbuf_free(&body);
	return got ? 1 : 0;
}
