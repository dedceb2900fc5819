// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The lease rules of the NAT-PMP/PCP server (notes A.3, A.5-A.7 of
 * dynamic-ports.md), through pcp_handle(): each case sends real request
 * datagrams from clients 10.8.0.N at chosen times and checks the reply's
 * fields (read by this file's own parser) and the table changes.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness.h"
#include "pcp_server.h"

#define UDP 17
#define TCP 6

struct env {
	struct pcp_server srv;
	struct pcp_change ch[64];
	size_t nch;
	uint8_t out[PCP_MAX_MSG];
	size_t olen;
	bool unauthorized;
};

/* A reply, read back field by field (RFC 6886 §3.3, RFC 6887 §7.2, §11.1). */
struct reply {
	size_t len;
	uint8_t version, op, rc;
	uint16_t iport, eport;
	uint32_t life, epoch;
};

static const struct pcp_lease_config base_cfg = {.life_min = 60,
						 .life_max = 7200,
						 .quota = 5,
						 .reuse_delay = 600,
						 .rate = 1000,
						 .burst = 1000,
						 .port0_symmetric = true,
						 .max_leases = 65536,
						 .max_clients = 65536,
						 .seed = 1};

static bool env_init(struct env *e, const struct pcp_lease_config *cfg, uint16_t lo, uint16_t hi)
{
	static uint16_t pool[65536];
	const char *err = NULL;
	size_t n = 0;

	memset(e, 0, sizeof(*e));
	for (uint32_t p = lo; p <= hi; p++)
		pool[n++] = (uint16_t)p;
	e->srv.leases = pcp_lease_new(cfg, pool, n, &err);
	pcp_addr_from_v4(&e->srv.external_v4, htonl(0xcb007101));
	e->srv.has_v4 = true;
	return CHECK(e->srv.leases != NULL, "pcp_lease_new: %s", err ? err : "?");
}

static void env_free(struct env *e)
{
	pcp_lease_free(e->srv.leases);
}

static void client_addr(int n, struct pcp_addr *a)
{
	pcp_addr_from_v4(a, htonl(0x0a080000 | (uint32_t)n));
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

static struct reply send_raw(struct env *e, int client, const uint8_t *req, size_t len,
			     uint64_t now)
{
	struct reply r = {0};
	struct pcp_addr src;

	client_addr(client, &src);
	e->nch =
	    pcp_handle(&e->srv, req, len, &src, !e->unauthorized, now, e->out, &e->olen, e->ch);
	r.len = e->olen;
	if (r.len < 8)
		return r;
	r.version = e->out[0];
	r.op = e->out[1];
	if (r.version == 0) {
		r.rc = (uint8_t)g16(e->out + 2);
		r.epoch = g32(e->out + 4);
		if (r.len == 16) {
			r.iport = g16(e->out + 8);
			r.eport = g16(e->out + 10);
			r.life = g32(e->out + 12);
		}
	} else if (r.len >= 24) {
		r.rc = e->out[3];
		r.life = g32(e->out + 4);
		r.epoch = g32(e->out + 8);
		if (r.len >= 60) {
			r.iport = g16(e->out + 40);
			r.eport = g16(e->out + 42);
		}
	}
	return r;
}

/* NAT-PMP map (RFC 6886 §3.3): opcode 1 UDP, 2 TCP. */
static struct reply pmp(struct env *e, int client, uint8_t proto, uint16_t iport, uint16_t sport,
			uint32_t life, uint64_t now)
{
	uint8_t q[12] = {0,
			 proto == UDP ? 1 : 2,
			 0,
			 0,
			 iport >> 8,
			 iport & 0xff,
			 sport >> 8,
			 sport & 0xff,
			 life >> 24,
			 (life >> 16) & 0xff,
			 (life >> 8) & 0xff,
			 life & 0xff};

	return send_raw(e, client, q, sizeof(q), now);
}

/* PCP MAP (RFC 6887 §11.1) with the nonce filled with NONCE, and options. */
static struct reply pcp(struct env *e, int client, uint8_t proto, uint16_t iport, uint16_t sport,
			uint32_t life, uint8_t nonce, bool prefer, uint64_t now)
{
	uint8_t q[64] = {2, 1};
	struct pcp_addr a;

	client_addr(client, &a);
	q[4] = life >> 24;
	q[5] = (life >> 16) & 0xff;
	q[6] = (life >> 8) & 0xff;
	q[7] = life & 0xff;
	memcpy(q + 8, a.b, 16);
	memset(q + 24, nonce, 12);
	q[36] = proto;
	q[40] = iport >> 8;
	q[41] = iport & 0xff;
	q[42] = sport >> 8;
	q[43] = sport & 0xff;
	q[54] = q[55] = 0xff; /* suggested address ::ffff:0.0.0.0 */
	if (prefer)
		q[60] = PCP_OPT_PREFER_FAILURE;
	return send_raw(e, client, q, prefer ? 64 : 60, now);
}

static size_t count_leases(const struct env *e)
{
	struct pcp_lease_stats s;

	pcp_lease_stats(e->srv.leases, &s);
	return s.leases;
}

static bool in_pool(uint16_t p, uint16_t lo, uint16_t hi)
{
	return p >= lo && p <= hi;
}

/* A.5.24: the same request repeated gets the same answer; a retransmit
 * with suggested port 0 finds the existing mapping (one lease). */
static void same_request_same_answer(struct env *e)
{
	struct reply a = pmp(e, 2, UDP, 40000, 0, 3600, 10);
	struct reply b = pmp(e, 2, UDP, 40000, 0, 3600, 11);
	struct reply c = pmp(e, 2, UDP, 40000, 41234, 3600, 12);

	CHECK(a.rc == 0 && a.len == 16 && in_pool(a.eport, 40000, 40999) && a.life == 3600,
	      "first map: rc %u port %u life %u", a.rc, a.eport, a.life);
	CHECK(b.eport == a.eport && c.eport == a.eport, "repeats: %u %u, want %u", b.eport, c.eport,
	      a.eport);
	CHECK(count_leases(e) == 1, "one lease for the key, have %zu", count_leases(e));
	CHECK(e->nch == 1 && e->ch[0].op == PCP_CH_RENEW && e->ch[0].external_port == a.eport,
	      "a repeat renews");
}

/* A.5.25, C.10: a renewal keeps the port and restarts the lifetime. */
static void renewal_keeps_port(struct env *e)
{
	struct pcp_change ch[8];
	struct reply a = pcp(e, 2, UDP, 40000, 0, 120, 7, false, 0);
	struct reply b = pcp(e, 2, UDP, 40000, a.eport, 120, 7, false, 60);

	CHECK(a.rc == 0 && b.rc == 0 && b.eport == a.eport, "renewal: %u -> %u", a.eport, b.eport);
	CHECK(pcp_lease_expire(e->srv.leases, 170, ch, 8) == 0, "alive at 170 s after a renewal");
	CHECK(pcp_lease_expire(e->srv.leases, 180, ch, 8) == 1 && ch[0].op == PCP_CH_DEL &&
		  ch[0].external_port == a.eport,
	      "expired at 180 s");
}

/* A.5.21, C.4: one client gets the same number for UDP and TCP. */
static void same_number_both_protocols(struct env *e)
{
	struct reply u = pmp(e, 2, UDP, 40000, 0, 60, 0);
	struct reply t = pmp(e, 2, TCP, 40000, 0, 60, 0);

	CHECK(u.rc == 0 && t.rc == 0 && t.eport == u.eport, "UDP %u, TCP %u", u.eport, t.eport);
	CHECK(e->nch == 1 && e->ch[0].op == PCP_CH_ADD && e->ch[0].protocol == TCP,
	      "TCP is a mapping of its own");
}

/* A.5.21: no other client is given the companion protocol's port. */
static void companion_never_to_another(struct env *e)
{
	struct reply a = pmp(e, 2, TCP, 40000, 40500, 60, 0);
	struct reply b = pmp(e, 3, UDP, 40000, 40500, 60, 0);

	CHECK(a.rc == 0 && a.eport == 40500, "A gets its suggestion: %u", a.eport);
	CHECK(b.rc == 0 && b.eport != 40500 && in_pool(b.eport, 40000, 40999),
	      "B gets another port: %u", b.eport);
}

/* A.5.22, A.7.35: a suggestion is honoured when free and in the pool; a
 * suggestion outside the pool gets a port of the pool. */
static void suggestion_rules(struct env *e)
{
	struct reply a = pmp(e, 2, UDP, 1000, 40321, 60, 0);
	struct reply b = pmp(e, 2, UDP, 1001, 80, 60, 0);
	struct reply c = pmp(e, 3, UDP, 1000, 40321, 60, 0);

	CHECK(a.eport == 40321, "free suggestion honoured: %u", a.eport);
	CHECK(b.rc == 0 && in_pool(b.eport, 40000, 40999), "outside the pool: %u", b.eport);
	CHECK(c.rc == 0 && c.eport != 40321, "taken suggestion: another port %u", c.eport);
}

/* A.5.23: PREFER_FAILURE and a suggestion that cannot be given. */
static void prefer_failure(struct env *e)
{
	struct reply a = pcp(e, 2, UDP, 40000, 40100, 600, 1, false, 0);
	struct reply b = pcp(e, 3, UDP, 40000, 40100, 600, 2, true, 0);
	struct reply c = pcp(e, 2, UDP, 40001, 40100, 600, 1, true, 0);
	struct reply d = pcp(e, 3, UDP, 40000, 40200, 600, 2, true, 0);

	CHECK(a.rc == 0 && a.eport == 40100, "A: %u", a.eport);
	CHECK(b.rc == PCP_CANNOT_PROVIDE_EXTERNAL && b.life == 1800, "B: rc %u life %u", b.rc,
	      b.life);
	CHECK(c.rc == PCP_CANNOT_PROVIDE_EXTERNAL, "A's own other mapping holds it: rc %u", c.rc);
	CHECK(d.rc == 0 && d.eport == 40200 && d.len == 64, "free: granted, option echoed");
	CHECK(count_leases(e) == 2, "two leases, have %zu", count_leases(e));
}

/* A.5.26, C.5: granted = clamp(asked, min, max). */
static void lifetime_clamp(struct env *e)
{
	CHECK(pmp(e, 2, UDP, 1, 0, 30, 0).life == 60, "30 -> 60");
	CHECK(pmp(e, 2, UDP, 2, 0, 300, 0).life == 300, "300 -> 300");
	CHECK(pmp(e, 2, UDP, 3, 0, 1000000, 0).life == 7200, "10^6 -> 7200");
	CHECK(pcp(e, 2, TCP, 4, 0, 1000000, 9, false, 0).life == 7200, "PCP 10^6 -> 7200");
}

/* A.6.32, C.11: delete twice, two identical successes. */
static void delete_twice(struct env *e)
{
	uint8_t first[PCP_MAX_MSG];
	size_t n1;
	struct reply a = pcp(e, 2, UDP, 40000, 0, 600, 1, false, 0);
	struct reply d1 = pcp(e, 2, UDP, 40000, a.eport, 0, 1, false, 5);

	memcpy(first, e->out, e->olen);
	n1 = e->olen;
	CHECK(d1.rc == 0 && d1.life == 0 && d1.eport == 0 && e->nch == 1 &&
		  e->ch[0].op == PCP_CH_DEL,
	      "delete: rc %u", d1.rc);
	pcp(e, 2, UDP, 40000, a.eport, 0, 1, false, 5);
	CHECK(e->olen == n1 && !memcmp(first, e->out, n1) && e->nch == 0,
	      "the second delete: the same bytes, no change");
	a = pmp(e, 2, UDP, 41000, 0, 0, 5);
	CHECK(a.rc == 0 && a.iport == 41000 && a.eport == 0 && a.life == 0,
	      "NAT-PMP delete of nothing: success, port 0, life 0");
}

/* A.6.33, A.6.34: NAT-PMP delete-all removes the client's dynamic mappings
 * of the opcode's protocol only; an operator mapping stays and makes the
 * answer 2; a client can neither map nor delete the operator's key. */
static void delete_all_and_static(struct env *e)
{
	struct pcp_addr me;
	struct reply r;

	client_addr(2, &me);
	CHECK(pcp_lease_add_static(e->srv.leases, &me, UDP, 5000, 40700) == 0, "static added");
	pmp(e, 2, UDP, 40000, 0, 60, 0);
	pmp(e, 2, UDP, 40001, 0, 60, 0);
	pmp(e, 2, TCP, 40000, 0, 60, 0);
	r = pmp(e, 2, UDP, 0, 0, 0, 1);
	CHECK(r.rc == 2 && r.iport == 0 && r.eport == 0 && r.life == 0, "delete-all: rc %u", r.rc);
	CHECK(e->nch == 2 && e->ch[0].protocol == UDP && e->ch[1].protocol == UDP,
	      "the two dynamic UDP mappings go (%zu changes)", e->nch);
	CHECK(count_leases(e) == 1, "TCP stays: %zu", count_leases(e));
	CHECK(pmp(e, 2, UDP, 5000, 0, 60, 2).rc == 2, "map of the static key: 2");
	CHECK(pmp(e, 2, UDP, 5000, 0, 0, 2).rc == 2, "delete of the static key: 2");
	r = pmp(e, 3, UDP, 1, 40700, 60, 2);
	CHECK(r.rc == 0 && r.eport != 40700, "the static port is never given: %u", r.eport);
	r = pmp(e, 3, TCP, 2, 40700, 60, 2);
	CHECK(r.rc == 0 && r.eport != 40700, "nor its companion: %u", r.eport);
}

/* A.6.34: a port the operator or the host holds is never drawn from the
 * pool; unblocked, it is back in it. */
static void held_ports_never_drawn(struct env *e)
{
	struct pcp_lease_config cfg = base_cfg;
	struct pcp_addr op;
	struct env r;

	(void)e;
	if (!env_init(&r, &cfg, 40000, 40002))
		return;
	client_addr(9, &op);
	CHECK(pcp_lease_add_static(r.srv.leases, &op, TCP, 22, 40000) == 0, "static on 40000");
	pcp_lease_block(r.srv.leases, 40001);
	CHECK(pmp(&r, 2, UDP, 1, 0, 60, 0).eport == 40002, "only 40002 is free");
	CHECK(pmp(&r, 3, UDP, 1, 0, 60, 0).rc == NATPMP_OUT_OF_RESOURCES, "then nothing: 4");
	pcp_lease_unblock(r.srv.leases, 40001);
	CHECK(pmp(&r, 3, UDP, 1, 0, 60, 0).eport == 40001, "unblocked 40001 is given");
	CHECK(pcp_lease_del_static(r.srv.leases, &op, TCP, 22) == 0 &&
		  pmp(&r, 4, UDP, 1, 0, 60, 0).eport == 40000,
	      "the static mapping deleted, 40000 is given");
	env_free(&r);
}

/* A.5.28, C.12, C.17: PCP nonce ownership; one nonce on several keys. */
static void nonce_ownership(struct env *e)
{
	struct reply a = pcp(e, 2, UDP, 40000, 0, 600, 0xaa, false, 0);
	struct reply b = pcp(e, 2, UDP, 40000, 0, 900, 0xbb, false, 1);
	struct reply d = pcp(e, 2, UDP, 40000, 0, 0, 0xbb, false, 2);

	CHECK(b.rc == PCP_NOT_AUTHORIZED && b.life == 1800 && e->nch == 0 && d.rc == 2,
	      "other nonce: refresh rc %u, delete rc %u", b.rc, d.rc);
	CHECK(pcp(e, 2, UDP, 40000, 0, 600, 0xaa, false, 3).eport == a.eport,
	      "the owner still renews");
	CHECK(pcp(e, 2, TCP, 1, 0, 600, 0xaa, false, 3).rc == 0 &&
		  pcp(e, 2, TCP, 2, 0, 600, 0xaa, false, 3).rc == 0,
	      "the same nonce on other keys");
	CHECK(pcp(e, 2, UDP, 40000, 0, 0, 0xaa, false, 4).rc == 0 && e->nch == 1,
	      "the owner deletes");
}

/* A.7.38, C.20: the quota counts port numbers; renewals go on. */
static void quota(struct env *e)
{
	for (uint16_t i = 0; i < 5; i++)
		CHECK(pmp(e, 2, UDP, 56789 + i, 0, 60, 0).rc == 0, "map %u", i);
	CHECK(pmp(e, 2, TCP, 56789, 0, 60, 0).rc == 0, "TCP of a held number: not counted");
	CHECK(pmp(e, 2, UDP, 56794, 0, 60, 0).rc == NATPMP_OUT_OF_RESOURCES, "6th: NAT-PMP 4");
	CHECK(pcp(e, 2, UDP, 56795, 0, 60, 1, false, 0).rc == PCP_USER_EX_QUOTA,
	      "6th: USER_EX_QUOTA");
	CHECK(pmp(e, 2, UDP, 56790, 0, 60, 30).rc == 0, "renewals go on");
	CHECK(e->srv.stats.quota_refusals == 2, "quota refusals counted");
	CHECK(pmp(e, 3, UDP, 56794, 0, 60, 0).rc == 0, "another client is not affected");
}

/* A.7.40, A.7.41, C.1: a freed port waits for the client that held it. */
static void reuse_delay(struct env *e)
{
	struct pcp_change ch[8];
	struct reply a = pmp(e, 2, UDP, 40000, 0, 60, 0), b, c;

	CHECK(pcp_lease_expire(e->srv.leases, 60, ch, 8) == 1, "A's lease expires");
	b = pmp(e, 3, UDP, 40000, a.eport, 60, 100);
	CHECK(b.rc == 0 && b.eport != a.eport, "B asking for it gets another: %u", b.eport);
	c = pmp(e, 2, UDP, 40000, 0, 60, 200);
	CHECK(c.rc == 0 && c.eport == a.eport, "A, suggesting nothing, gets it back: %u", c.eport);
	pmp(e, 2, UDP, 40000, 0, 0, 300);
	pcp_lease_expire(e->srv.leases, 900, ch, 8);
	b = pmp(e, 3, UDP, 1, a.eport, 60, 901);
	CHECK(b.eport == a.eport, "after the delay, B may have it: %u", b.eport);
}

/* A.5.29, C.3: internal port 0 in symmetric mode maps P -> client:P, for
 * UDP and TCP with one number; refused in refuse mode. */
static void internal_port_zero(struct env *e)
{
	struct reply u = pmp(e, 2, UDP, 0, 1, 60, 0);
	struct reply t = pmp(e, 2, TCP, 0, 1, 60, 0);
	struct reply again = pmp(e, 2, UDP, 0, 1, 60, 45);
	struct pcp_lease_config cfg = base_cfg;
	struct env r;

	CHECK(u.rc == 0 && u.iport == u.eport && e->ch[0].internal_port == u.eport,
	      "symmetric: internal %u = external %u", u.iport, u.eport);
	CHECK(t.eport == u.eport && again.eport == u.eport, "TCP and the renewal: the same port");
	CHECK(pmp(e, 2, UDP, u.eport, 0, 60, 46).rc == NATPMP_OUT_OF_RESOURCES,
	      "a key on the symmetric target port: refused (the table would refuse it)");
	CHECK(pmp(e, 5, TCP, 40123, 40200, 60, 46).eport == 40200 &&
		  pmp(e, 5, TCP, 0, 40123, 60, 46).eport != 40123,
	      "symmetric TCP avoids the target of another key");
	CHECK(pmp(e, 2, UDP, 0, 1, 0, 50).rc == 0 && count_leases(e) == 3,
	      "delete of key 0: %zu left", count_leases(e));
	cfg.port0_symmetric = false;
	if (!env_init(&r, &cfg, 40000, 40999))
		return;
	u = pmp(&r, 2, UDP, 0, 1, 60, 0);
	CHECK(u.rc == 2 && u.eport == 0 && u.life == 0 && r.nch == 0, "refuse: rc %u", u.rc);
	env_free(&r);
}

/* A.7.39: the token bucket per client; excess dropped and counted. */
static void rate_limit(struct env *e)
{
	struct pcp_lease_config cfg = base_cfg;
	struct env r;
	int answered = 0;

	(void)e;
	cfg.rate = 2;
	cfg.burst = 3;
	if (!env_init(&r, &cfg, 40000, 40999))
		return;
	for (int i = 0; i < 10; i++)
		answered += pmp(&r, 2, UDP, 1, 0, 60, 0).len == 16;
	CHECK(answered == 3 && r.srv.stats.rate_limited == 7, "burst 3: %d answered", answered);
	CHECK(pmp(&r, 3, UDP, 1, 0, 60, 0).len == 16, "another client is answered");
	answered = 0;
	for (int i = 0; i < 10; i++)
		answered += pmp(&r, 2, UDP, 1, 0, 60, 1).len == 16;
	CHECK(answered == 2, "one second later: 2 more, got %d", answered);
	env_free(&r);
}

/* A.7.36: a uniformly random free port (chi-squared over 10 ports), not
 * the next one. */
static void random_choice(struct env *e)
{
	struct pcp_lease_config cfg = base_cfg;
	unsigned hits[10] = {0}, runs = 10000, seq = 0, last = 0;
	double chi = 0;
	struct env r;

	(void)e;
	cfg.reuse_delay = 0;
	if (!env_init(&r, &cfg, 40000, 40009))
		return;
	for (unsigned i = 0; i < runs; i++) {
		struct reply a = pmp(&r, 2, UDP, 1, 0, 60, i);

		hits[a.eport - 40000]++;
		seq += a.eport == last + 1;
		last = a.eport;
		pmp(&r, 2, UDP, 1, 0, 0, i);
	}
	for (int i = 0; i < 10; i++)
		chi += (hits[i] - runs / 10.0) * (hits[i] - runs / 10.0) / (runs / 10.0);
	CHECK(chi < 27.88, "chi-squared %.1f over 10 ports (p = 0.001 at 27.88)", chi);
	CHECK(seq < runs / 5, "not sequential: %u of %u followed the last", seq, runs);
	env_free(&r);
}

/* A.1.5, A.1.3: no public address: NETWORK_FAILURE; not a client: 2. */
static void refusals(struct env *e)
{
	struct reply r;

	e->srv.has_v4 = false;
	r = pmp(e, 2, UDP, 1, 0, 60, 0);
	CHECK(r.rc == NATPMP_NETWORK_FAILURE && r.eport == 0 && r.life == 0, "NAT-PMP 3");
	r = pcp(e, 2, UDP, 1, 0, 60, 1, false, 0);
	CHECK(r.rc == PCP_NETWORK_FAILURE && r.life == 30, "PCP 7, 30 s");
	e->srv.has_v4 = true;
	e->unauthorized = true;
	r = pmp(e, 2, UDP, 1, 0, 60, 0);
	CHECK(r.rc == 2 && e->nch == 0, "not a client: 2, nothing made");
	CHECK(count_leases(e) == 0, "no lease");
}

/* A.3.15: every reply carries the epoch, which runs with the clock. */
static void epoch(struct env *e)
{
	uint8_t addr[2] = {0, 0};

	e->srv.epoch_origin = 1000;
	CHECK(send_raw(e, 2, addr, 2, 1005).epoch == 5, "epoch 5");
	CHECK(pcp(e, 2, UDP, 1, 0, 60, 1, false, 1010).epoch == 10, "PCP epoch 10");
	CHECK(pcp(e, 2, 99, 1, 0, 60, 1, false, 1011).epoch == 11, "error reply: epoch 11");
}

/* A.5.31: FILTER becomes the change's allowlist. */
static void filter(struct env *e)
{
	uint8_t q[84] = {2, 1, 0, 0, 0, 0, 0x0e, 0x10};
	struct pcp_addr a;

	client_addr(2, &a);
	memcpy(q + 8, a.b, 16);
	memset(q + 24, 5, 12);
	q[36] = UDP;
	q[40] = 0x9c;
	q[41] = 0x40;
	q[60] = PCP_OPT_FILTER;
	q[63] = 20;
	q[65] = 128;
	q[78] = q[79] = 0xff;
	q[80] = 198;
	q[81] = 51;
	q[82] = 100;
	q[83] = 7;
	CHECK(send_raw(e, 2, q, sizeof(q), 0).rc == 0 && e->nch == 1 && e->ch[0].filter_set &&
		  e->ch[0].nfilters == 1 && e->ch[0].filter[0].prefix_len == 128 &&
		  e->ch[0].filter[0].addr.b[15] == 7,
	      "FILTER 198.51.100.7/32 in the change");
}

/* A.7.44 (issue 15 item 9): leases, nonces and quarantine records read
 * back into a new index (as from the state file, the quarantine in reverse
 * order): renewals keep their ports, ownership and quarantine hold, and the
 * quarantine ends in time order. */
static void persistence(struct env *e)
{
	static struct pcp_lease_info li[16];
	static struct pcp_quar_info qi[16];
	struct pcp_change ch[8];
	size_t nl = 0, nq = 0;
	struct reply a, b, c, q1, q2;
	struct env r;

	a = pmp(e, 2, UDP, 40000, 0, 600, 0);
	b = pcp(e, 3, TCP, 8080, 0, 600, 0x77, false, 0);
	q1 = pmp(e, 4, UDP, 1, 0, 60, 0);
	pmp(e, 4, UDP, 1, 0, 0, 10); /* quarantined until 610 */
	q2 = pmp(e, 5, UDP, 1, 0, 60, 0);
	pmp(e, 5, UDP, 1, 0, 0, 20); /* until 620 */
	for (uint32_t i = 0; i < base_cfg.max_leases && nl < 16; i++)
		nl += pcp_lease_get(e->srv.leases, i, &li[nl]);
	for (uint32_t p = 1; p < 65536 && nq < 16; p++)
		nq += pcp_lease_quar_get(e->srv.leases, (uint16_t)p, &qi[nq]);
	CHECK(nl == 2 && nq == 2, "2 leases and 2 quarantined ports saved: %zu %zu", nl, nq);
	if (!env_init(&r, &base_cfg, 40000, 40999))
		return;
	for (size_t i = 0; i < nl; i++)
		CHECK(pcp_lease_restore(r.srv.leases, &li[i]) == 0, "lease %zu restored", i);
	for (size_t i = nq; i; i--)
		CHECK(pcp_lease_quar_restore(r.srv.leases, &qi[i - 1]) == 0, "quarantine restored");
	CHECK(pmp(&r, 2, UDP, 40000, 0, 600, 30).eport == a.eport, "NAT-PMP renewal, same port");
	c = pcp(&r, 3, TCP, 8080, 0, 600, 0x66, false, 30);
	CHECK(c.rc == PCP_NOT_AUTHORIZED, "another nonce still refused: rc %u", c.rc);
	CHECK(pcp(&r, 3, TCP, 8080, 0, 600, 0x77, false, 30).eport == b.eport, "PCP renewal");
	c = pmp(&r, 6, UDP, 1, q1.eport, 60, 30);
	CHECK(c.eport != q1.eport, "a quarantined port is not given to another");
	pcp_lease_expire(r.srv.leases, 615, ch, 8);
	c = pmp(&r, 6, UDP, 2, q1.eport, 60, 615);
	CHECK(c.eport == q1.eport, "the first quarantine ends at 610, in time order");
	c = pmp(&r, 6, UDP, 3, q2.eport, 60, 615);
	CHECK(c.eport != q2.eport, "the second holds until 620");
	env_free(&r);
}

/* Scale: 65,536 leases (32,768 clients, UDP and TCP each), renewed and
 * expired; each request O(1)/O(log n). Time is printed, never asserted. */
static void scale(struct env *e)
{
	struct pcp_lease_config cfg = base_cfg;
	static struct pcp_change ch[4096];
	struct timespec t0, t1;
	size_t expired = 0, n;
	unsigned bad = 0;
	struct env r;

	(void)e;
	cfg.quota = 1;
	if (!env_init(&r, &cfg, 1, 65535))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int c = 0; c < 32768; c++) {
		struct reply u = pmp(&r, 0x10000 + c, UDP, 5000, 0, 60, 0);

		bad += u.rc != 0 || pmp(&r, 0x10000 + c, TCP, 5000, 0, 60, 0).eport != u.eport;
	}
	for (int c = 0; c < 32768; c++)
		bad += pmp(&r, 0x10000 + c, UDP, 5000, 0, 60, 30).rc != 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(bad == 0 && count_leases(&r) == 65536, "65,536 leases, %u failures", bad);
	while ((n = pcp_lease_expire(r.srv.leases, 60, ch, 4096)))
		expired += n;
	CHECK(expired == 32768, "the TCP half expires at 60 s: %zu", expired);
	fprintf(stderr, "    pcp scale: 98,304 requests at up to 65,536 leases in %.0f ms\n",
		(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	env_free(&r);
}

static uint32_t quarantined(const struct env *e)
{
	struct pcp_lease_stats s;

	pcp_lease_stats(e->srv.leases, &s);
	return s.quarantined;
}

/* A port number is free again only when neither protocol holds it: a UDP
 * delete while TCP keeps the number quarantines nothing; the TCP delete
 * after it does (RFC 6886 §3.3: the number is the client's for both). */
static void half_delete(struct env *e)
{
	struct reply u = pmp(e, 2, UDP, 7300, 0, 120, 0);
	struct reply t = pmp(e, 2, TCP, 7300, 0, 120, 1);

	CHECK(u.rc == 0 && t.rc == 0 && t.eport == u.eport, "both: %u %u", u.eport, t.eport);
	CHECK(pmp(e, 2, UDP, 7300, 0, 0, 2).rc == 0, "UDP delete");
	CHECK(count_leases(e) == 1 && quarantined(e) == 0,
	      "after the UDP delete: %zu leases, %u quarantined, want 1 and 0", count_leases(e),
	      quarantined(e));
	CHECK(pmp(e, 2, TCP, 7300, 0, 0, 3).rc == 0, "TCP delete");
	CHECK(count_leases(e) == 0 && quarantined(e) == 1,
	      "after the TCP delete: %zu leases, %u quarantined, want 0 and 1", count_leases(e),
	      quarantined(e));
}

struct lease_case {
	const char *name;
	void (*run)(struct env *e);
};

static const struct lease_case lease_cases[] = {
    {"same request, same answer", same_request_same_answer},
    {"renewal keeps the port", renewal_keeps_port},
    {"same number for UDP and TCP", same_number_both_protocols},
    {"companion never to another client", companion_never_to_another},
    {"suggested port rules", suggestion_rules},
    {"PREFER_FAILURE", prefer_failure},
    {"lifetime clamp", lifetime_clamp},
    {"delete twice", delete_twice},
    {"half delete", half_delete},
    {"delete-all and operator mappings", delete_all_and_static},
    {"ports held by the operator or the host", held_ports_never_drawn},
    {"nonce ownership", nonce_ownership},
    {"quota", quota},
    {"reuse delay", reuse_delay},
    {"internal port 0", internal_port_zero},
    {"rate limit", rate_limit},
    {"random choice", random_choice},
    {"refusals", refusals},
    {"epoch", epoch},
    {"FILTER", filter},
    {"persistence", persistence},
    {"scale", scale},
};

UNIT_CASES(test_pcp_lease, 4)
{
	int cases = 0;

	for (size_t i = 0; i < sizeof(lease_cases) / sizeof(lease_cases[0]); i++) {
		struct env e;

		if (!unit_selected(lease_cases[i].name) || !env_init(&e, &base_cfg, 40000, 40999))
			continue;
		lease_cases[i].run(&e);
		env_free(&e);
		cases++;
	}
	return cases;
}
