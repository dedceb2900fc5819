// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_lease.c - the lease rules of the NAT-PMP/PCP server; see pcp_lease.h.
 *
 * Indexes (all preallocated by pcp_lease_new(), so no request allocates):
 * - leases: a slot array, a free list of slots, a chained hash on
 *   (client slot, protocol, key port), a per-client list, and a min-heap on
 *   the expiry of the dynamic ones;
 * - clients: a slot array and a chained hash on the address; each holds its
 *   token bucket, its counts and its list of quarantined ports;
 * - ports: one record per number (owner, the lease of each protocol, state),
 *   the free pool as an array with each free port's position in it, and a
 *   global quarantine FIFO (sorted by time, the delay being one constant).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pcp_lease.h"

#define NIL    0 /* slot and port links are stored +1 (lease, client) or as is (port) */
#define NPORTS 65536
#define TCP    6
#define UDP    17

enum port_state { P_NONE, P_FREE, P_HELD, P_QUAR };

struct lease {
	uint32_t client;       /* client slot + 1; 0: the lease slot is free */
	uint32_t hnext;	       /* hash chain, lease slot + 1 */
	uint32_t cnext, cprev; /* the client's leases, slot + 1 */
	uint32_t heap;	       /* position in the heap + 1; 0: static */
	uint8_t proto;
	bool is_static, pcp;
	uint16_t key_port, internal_port, external_port;
	uint8_t nonce[PCP_NONCE_LEN];
	uint64_t expires;
};

struct client {
	struct pcp_addr addr;
	bool used;
	uint32_t hnext;	 /* hash chain, client slot + 1 */
	uint32_t leases; /* first lease + 1 */
	uint32_t nleases, nports, nquar;
	uint16_t qhead, qtail; /* its quarantined ports, oldest first */
	uint32_t tokens;
	uint64_t last; /* when the bucket was last refilled */
};

struct port {
	uint32_t owner;	       /* client slot + 1 holding or quarantining it */
	uint32_t lease[2];     /* lease slot + 1 for UDP [0] and TCP [1] */
	uint32_t free_pos;     /* its index in free[] when P_FREE */
	uint64_t until;	       /* P_QUAR: when it goes back to the pool */
	uint16_t gnext, gprev; /* the global quarantine FIFO */
	uint16_t cnext, cprev; /* its client's quarantine list */
	uint16_t prev_key;     /* key port of the lease that last held it */
	uint8_t state;
	bool pool, blocked;
};

struct pcp_leases {
	struct pcp_lease_config cfg;
	struct lease *lease;
	uint32_t *lhash, lmask, lfree, nleases, ndynamic;
	struct client *client;
	uint32_t *chash, cmask, nclients, gc_cursor;
	uint32_t *cfree, ncfree; /* free client slots */
	struct port *port;
	uint16_t *free;
	uint32_t nfree, nquar;
	uint16_t ghead, gtail;
	uint32_t *heap, nheap;
	uint64_t rng;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* splitmix64; r % n has a bias below n / 2^64, nothing for n <= 65536. */
static uint32_t rand_below(struct pcp_leases *l, uint32_t n)
{
	l->rng += 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(mix64(l->rng) % n);
}

static uint32_t hash_addr(const struct pcp_leases *l, const struct pcp_addr *a)
{
	uint64_t w[2];

	memcpy(w, a->b, sizeof(w));
	return (uint32_t)mix64(mix64(w[0] ^ l->cfg.seed) ^ w[1]);
}

static uint32_t hash_key(const struct pcp_leases *l, uint32_t c, uint8_t proto, uint16_t port)
{
	return (uint32_t)mix64(((uint64_t)c << 32 | (uint64_t)proto << 16 | port) ^ l->cfg.seed);
}

static int pidx(uint8_t proto)
{
	return proto == TCP;
}

/* --- the free pool: an array with swap-remove --- */

static void pool_put(struct pcp_leases *l, uint16_t p)
{
	struct port *pt = &l->port[p];

	pt->owner = 0;
	if (!pt->pool || pt->blocked) {
		pt->state = P_NONE;
		return;
	}
	pt->state = P_FREE;
	pt->free_pos = l->nfree;
	l->free[l->nfree++] = p;
}

static void pool_take(struct pcp_leases *l, uint16_t p)
{
	uint16_t last = l->free[--l->nfree];

	l->free[l->port[p].free_pos] = last;
	l->port[last].free_pos = l->port[p].free_pos;
	l->port[p].state = P_NONE;
}

/* --- quarantine: a global FIFO and a list per client, both by time --- */

static void quar_unlink(struct pcp_leases *l, uint16_t p)
{
	struct port *pt = &l->port[p];
	struct client *c = &l->client[pt->owner - 1];

	if (pt->gprev)
		l->port[pt->gprev].gnext = pt->gnext;
	else
		l->ghead = pt->gnext;
	if (pt->gnext)
		l->port[pt->gnext].gprev = pt->gprev;
	else
		l->gtail = pt->gprev;
	if (pt->cprev)
		l->port[pt->cprev].cnext = pt->cnext;
	else
		c->qhead = pt->cnext;
	if (pt->cnext)
		l->port[pt->cnext].cprev = pt->cprev;
	else
		c->qtail = pt->cprev;
	pt->gnext = pt->gprev = pt->cnext = pt->cprev = 0;
	c->nquar--;
	l->nquar--;
	pt->state = P_NONE;
}

static void quar_push(struct pcp_leases *l, uint16_t p, uint64_t until)
{
	struct port *pt = &l->port[p];
	struct client *c = &l->client[pt->owner - 1];

	pt->state = P_QUAR;
	pt->until = until;
	pt->gprev = l->gtail;
	if (l->gtail)
		l->port[l->gtail].gnext = p;
	else
		l->ghead = p;
	l->gtail = p;
	pt->cprev = c->qtail;
	if (c->qtail)
		l->port[c->qtail].cnext = p;
	else
		c->qhead = p;
	c->qtail = p;
	c->nquar++;
	l->nquar++;
	/* A client keeps at most its quota of ports waiting: churning through
	 * suggested ports cannot lock up the pool. */
	if (c->nquar > l->cfg.quota) {
		uint16_t old = c->qhead;

		quar_unlink(l, old);
		pool_put(l, old);
	}
}

/* --- the expiry heap of dynamic leases --- */

static bool heap_less(const struct pcp_leases *l, uint32_t a, uint32_t b)
{
	return l->lease[l->heap[a]].expires < l->lease[l->heap[b]].expires;
}

static void heap_swap(struct pcp_leases *l, uint32_t a, uint32_t b)
{
	uint32_t t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->lease[l->heap[a]].heap = a + 1;
	l->lease[l->heap[b]].heap = b + 1;
}

static void heap_fix(struct pcp_leases *l, uint32_t i)
{
	while (i && heap_less(l, i, (i - 1) / 2)) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t m = i, a = 2 * i + 1, b = 2 * i + 2;

		if (a < l->nheap && heap_less(l, a, m))
			m = a;
		if (b < l->nheap && heap_less(l, b, m))
			m = b;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_add(struct pcp_leases *l, uint32_t s)
{
	l->heap[l->nheap] = s;
	l->lease[s].heap = ++l->nheap;
	heap_fix(l, l->nheap - 1);
}

static void heap_del(struct pcp_leases *l, uint32_t s)
{
	uint32_t i = l->lease[s].heap - 1;

	l->lease[s].heap = 0;
	if (i != --l->nheap) {
		l->heap[i] = l->heap[l->nheap];
		l->lease[l->heap[i]].heap = i + 1;
		heap_fix(l, i);
	}
}

/* --- clients --- */

static uint32_t client_find(const struct pcp_leases *l, const struct pcp_addr *a)
{
	uint32_t s = l->chash[hash_addr(l, a) & l->cmask];

	while (s && memcmp(&l->client[s - 1].addr, a, sizeof(*a)))
		s = l->client[s - 1].hnext;
	return s;
}

/* Frees client slot S + 1 when it holds nothing and its bucket is full. */
static void client_gc(struct pcp_leases *l, uint32_t s, uint64_t now)
{
	struct client *c = &l->client[s];
	uint32_t *link;

	if (!c->used || c->nleases || c->nquar)
		return;
	if (c->tokens < l->cfg.burst &&
	    (now > c->last ? now - c->last : 0) * l->cfg.rate < l->cfg.burst - c->tokens)
		return;
	link = &l->chash[hash_addr(l, &c->addr) & l->cmask];
	while (*link != s + 1)
		link = &l->client[*link - 1].hnext;
	*link = c->hnext;
	memset(c, 0, sizeof(*c));
	l->cfree[l->ncfree++] = s;
	l->nclients--;
}

/* One step of the sweep that frees idle client records. */
static void client_gc_step(struct pcp_leases *l, uint64_t now)
{
	client_gc(l, l->gc_cursor, now);
	l->gc_cursor = (l->gc_cursor + 1) % l->cfg.max_clients;
}

static uint32_t client_get(struct pcp_leases *l, const struct pcp_addr *a, uint64_t now)
{
	uint32_t s = client_find(l, a), h;

	/* A full table: a bounded sweep, never a scan of every client. */
	for (int i = 0; !s && !l->ncfree && i < 64; i++)
		client_gc_step(l, now);
	if (s || !l->ncfree)
		return s;
	s = l->cfree[--l->ncfree];
	h = hash_addr(l, a) & l->cmask;
	l->client[s] = (struct client){
	    .addr = *a, .used = true, .hnext = l->chash[h], .tokens = l->cfg.burst, .last = now};
	l->chash[h] = s + 1;
	l->nclients++;
	return s + 1;
}

bool pcp_lease_admit(struct pcp_leases *l, const struct pcp_addr *client, uint64_t now)
{
	uint32_t s = client_get(l, client, now);
	struct client *c;
	uint64_t add;

	if (!s)
		return false;
	c = &l->client[s - 1];
	if (now > c->last) {
		add = (now - c->last) * l->cfg.rate;
		c->tokens =
		    add >= l->cfg.burst - c->tokens ? l->cfg.burst : c->tokens + (uint32_t)add;
		c->last = now;
	}
	if (!c->tokens)
		return false;
	c->tokens--;
	return true;
}

/* --- leases --- */

static uint32_t lease_find(const struct pcp_leases *l, uint32_t c, uint8_t proto, uint16_t key)
{
	uint32_t s = l->lhash[hash_key(l, c, proto, key) & l->lmask];

	while (s) {
		const struct lease *le = &l->lease[s - 1];

		if (le->client == c && le->proto == proto && le->key_port == key)
			return s;
		s = le->hnext;
	}
	return 0;
}

static uint32_t lease_new(struct pcp_leases *l, uint32_t c, uint8_t proto, uint16_t key)
{
	uint32_t s = l->lfree, h = hash_key(l, c, proto, key) & l->lmask;
	struct client *cl = &l->client[c - 1];
	struct lease *le;

	if (!s)
		return 0;
	le = &l->lease[s - 1];
	l->lfree = le->hnext;
	*le = (struct lease){
	    .client = c, .hnext = l->lhash[h], .cnext = cl->leases, .proto = proto, .key_port = key};
	if (cl->leases)
		l->lease[cl->leases - 1].cprev = s;
	cl->leases = s;
	cl->nleases++;
	l->lhash[h] = s;
	l->nleases++;
	return s;
}

static void lease_unlink(struct pcp_leases *l, uint32_t s)
{
	struct lease *le = &l->lease[s - 1];
	struct client *cl = &l->client[le->client - 1];
	uint32_t *link = &l->lhash[hash_key(l, le->client, le->proto, le->key_port) & l->lmask];

	while (*link != s)
		link = &l->lease[*link - 1].hnext;
	*link = le->hnext;
	if (le->cprev)
		l->lease[le->cprev - 1].cnext = le->cnext;
	else
		cl->leases = le->cnext;
	if (le->cnext)
		l->lease[le->cnext - 1].cprev = le->cprev;
	if (le->heap) {
		heap_del(l, s - 1);
		l->ndynamic--;
	}
	cl->nleases--;
	l->nleases--;
	memset(le, 0, sizeof(*le));
	le->hnext = l->lfree;
	l->lfree = s;
}

/* --- ports --- */

static bool port_held_by(const struct pcp_leases *l, uint32_t c, uint16_t p)
{
	return l->port[p].state == P_HELD && l->port[p].owner == c;
}

/* Whether client C may be given port P for protocol index X. */
static bool port_can_take(const struct pcp_leases *l, uint32_t c, uint16_t p, int x)
{
	const struct port *pt = &l->port[p];

	if (!pt->pool || pt->blocked)
		return false;
	if (pt->state == P_FREE)
		return true;
	return pt->owner == c && (pt->state == P_QUAR || (pt->state == P_HELD && !pt->lease[x]));
}

static void port_take(struct pcp_leases *l, uint32_t c, uint16_t p, int x, uint32_t s)
{
	struct port *pt = &l->port[p];

	if (pt->state == P_FREE)
		pool_take(l, p);
	else if (pt->state == P_QUAR)
		quar_unlink(l, p);
	if (pt->state != P_HELD) {
		pt->state = P_HELD;
		pt->owner = c;
		l->client[c - 1].nports++;
	}
	pt->lease[x] = s;
}

static void port_release(struct pcp_leases *l, uint16_t p, int x, uint16_t key, uint64_t now)
{
	struct port *pt = &l->port[p];

	pt->lease[x] = 0;
	if (pt->lease[!x])
		return;
	l->client[pt->owner - 1].nports--;
	pt->prev_key = key;
	if (l->cfg.reuse_delay && pt->pool && !pt->blocked)
		quar_push(l, p, now + l->cfg.reuse_delay);
	else
		pool_put(l, p);
}

static void lease_drop(struct pcp_leases *l, uint32_t s, uint64_t now, struct pcp_change *ch)
{
	struct lease *le = &l->lease[s - 1];

	*ch = (struct pcp_change){.op = PCP_CH_DEL,
				  .protocol = le->proto,
				  .external_port = le->external_port,
				  .internal_port = le->internal_port,
				  .client = l->client[le->client - 1].addr};
	port_release(l, le->external_port, pidx(le->proto), le->key_port, now);
	lease_unlink(l, s);
}

/* --- map and delete --- */

static uint32_t granted(const struct pcp_leases *l, uint32_t asked)
{
	if (asked < l->cfg.life_min)
		return l->cfg.life_min;
	return asked > l->cfg.life_max ? l->cfg.life_max : asked;
}

/* Whether port P for the key of Q would give two of client C's mappings
 * of one protocol the same target port, which the table refuses: only
 * internal port 0 (symmetric, target P) can meet another key's target. */
static bool target_taken(const struct pcp_leases *l, uint32_t c, const struct pcp_map_req *q,
			 uint16_t p)
{
	return !q->internal_port && lease_find(l, c, q->protocol, p);
}

/* Whether C's symmetric lease of protocol index X already targets port I. */
static bool symmetric_on(const struct pcp_leases *l, uint32_t c, int x, uint16_t i)
{
	const struct port *pt = &l->port[i];

	return pt->state == P_HELD && pt->owner == c && pt->lease[x] &&
	       !l->lease[pt->lease[x] - 1].key_port;
}

/* The port for a new lease of client C (RFC 6886 §3.3, RFC 6887 §11.3,
 * §13.2): the suggestion when it can be given; else the number the client
 * holds for the other protocol with the same key; else a port of its own in
 * quarantine that had the same key; else a random free one (a few draws,
 * for the rare one that would meet a target of the client's). 0 and *RC. */
static uint16_t choose_port(struct pcp_leases *l, uint32_t c, const struct pcp_map_req *q, int x,
			    enum pcp_lease_result *rc)
{
	const struct client *cl = &l->client[c - 1];
	bool can_new = cl->nports < l->cfg.quota;
	uint16_t s = q->suggested_port, p;
	bool s_ok = s && port_can_take(l, c, s, x) && !target_taken(l, c, q, s);
	uint32_t o;

	if (s_ok && (can_new || port_held_by(l, c, s)))
		return s;
	if (s && q->prefer_failure) {
		*rc = s_ok ? PCP_L_QUOTA : PCP_L_CANNOT_PROVIDE;
		return 0;
	}
	o = lease_find(l, c, x ? UDP : TCP, q->internal_port);
	if (o && !l->lease[o - 1].is_static) {
		p = l->lease[o - 1].external_port;
		if (!l->port[p].lease[x] && !target_taken(l, c, q, p))
			return p;
	}
	*rc = can_new ? PCP_L_NO_RESOURCES : PCP_L_QUOTA;
	if (!can_new)
		return 0;
	for (p = cl->qhead; p; p = l->port[p].cnext)
		if (l->port[p].prev_key == q->internal_port && !target_taken(l, c, q, p))
			return p;
	for (int i = 0; i < 8 && l->nfree; i++) {
		p = l->free[rand_below(l, l->nfree)];
		if (!target_taken(l, c, q, p))
			return p;
	}
	return 0;
}

static void answer(const struct lease *le, uint32_t life, struct pcp_map_res *res)
{
	res->result = PCP_L_OK;
	res->internal_port = le->internal_port;
	res->external_port = le->external_port;
	res->lifetime = life;
}

static void to_change(const struct pcp_leases *l, const struct lease *le, enum pcp_change_op op,
		      uint32_t life, struct pcp_change *ch)
{
	*ch = (struct pcp_change){.op = op,
				  .protocol = le->proto,
				  .external_port = le->external_port,
				  .internal_port = le->internal_port,
				  .lifetime = life,
				  .client = l->client[le->client - 1].addr};
}

static size_t renew(struct pcp_leases *l, uint32_t s, const struct pcp_map_req *q, uint64_t now,
		    struct pcp_map_res *res, struct pcp_change *ch)
{
	struct lease *le = &l->lease[s - 1];
	uint32_t life = granted(l, q->lifetime);

	if (le->is_static || (q->pcp && (!le->pcp || memcmp(le->nonce, q->nonce, PCP_NONCE_LEN)))) {
		res->result = PCP_L_NOT_AUTHORIZED; /* RFC 6886 §3.4, RFC 6887 §11.3 */
		return 0;
	}
	le->expires = now + life;
	heap_fix(l, le->heap - 1);
	answer(le, life, res);
	to_change(l, le, PCP_CH_RENEW, life, ch);
	return 1;
}

static size_t do_map(struct pcp_leases *l, uint32_t c, const struct pcp_map_req *q, uint64_t now,
		     struct pcp_map_res *res, struct pcp_change *ch)
{
	int x = pidx(q->protocol);
	uint32_t s = lease_find(l, c, q->protocol, q->internal_port), life;
	enum pcp_lease_result rc = PCP_L_NO_RESOURCES;
	struct lease *le;
	uint16_t p;

	if (s)
		return renew(l, s, q, now, res, ch);
	if (!q->internal_port && (q->pcp || !l->cfg.port0_symmetric)) {
		res->result = PCP_L_NOT_AUTHORIZED; /* internal port 0: policy */
		return 0;
	}
	if (q->internal_port && symmetric_on(l, c, x, q->internal_port)) {
		res->result = PCP_L_NO_RESOURCES; /* its target is the symmetric one's */
		return 0;
	}
	p = choose_port(l, c, q, x, &rc);
	if (!p || !(s = lease_new(l, c, q->protocol, q->internal_port))) {
		res->result = rc;
		return 0;
	}
	port_take(l, c, p, x, s);
	le = &l->lease[s - 1];
	life = granted(l, q->lifetime);
	le->internal_port = q->internal_port ? q->internal_port : p;
	le->external_port = p;
	le->pcp = q->pcp;
	memcpy(le->nonce, q->nonce, PCP_NONCE_LEN);
	le->expires = now + life;
	heap_add(l, s - 1);
	l->ndynamic++;
	answer(le, life, res);
	to_change(l, le, PCP_CH_ADD, life, ch);
	return 1;
}

/* Deletes every lease of client C that Q covers: NAT-PMP delete-all (its
 * protocol, RFC 6886 §3.4), PCP protocol 0 or internal port 0 (its nonce's
 * mappings, RFC 6887 §15). A static one left makes NAT-PMP's answer 2. */
static size_t delete_all(struct pcp_leases *l, uint32_t c, const struct pcp_map_req *q,
			 uint64_t now, struct pcp_map_res *res, struct pcp_change *ch)
{
	uint32_t s = l->client[c - 1].leases, next;
	size_t n = 0;

	for (; s; s = next) {
		const struct lease *le = &l->lease[s - 1];

		next = le->cnext;
		if (q->protocol && le->proto != q->protocol)
			continue;
		if (q->pcp && q->internal_port && le->key_port != q->internal_port)
			continue;
		if (le->is_static) {
			if (!q->pcp)
				res->result = PCP_L_NOT_AUTHORIZED;
			continue;
		}
		if (q->pcp && (!le->pcp || memcmp(le->nonce, q->nonce, PCP_NONCE_LEN)))
			continue;
		lease_drop(l, s, now, &ch[n++]);
	}
	return n;
}

static size_t do_delete(struct pcp_leases *l, const struct pcp_map_req *q, uint64_t now,
			struct pcp_map_res *res, struct pcp_change *ch)
{
	uint32_t c = client_find(l, &q->client), s;
	const struct lease *le;

	*res = (struct pcp_map_res){.result = PCP_L_OK, .internal_port = q->internal_port};
	if (!c)
		return 0; /* deleting what does not exist succeeds (§3.4, §15) */
	if (!q->protocol || (!q->internal_port && (q->pcp || !q->suggested_port)))
		return delete_all(l, c, q, now, res, ch);
	s = lease_find(l, c, q->protocol, q->internal_port);
	if (!s)
		return 0;
	le = &l->lease[s - 1];
	if (le->is_static || (q->pcp && (!le->pcp || memcmp(le->nonce, q->nonce, PCP_NONCE_LEN)))) {
		res->result = PCP_L_NOT_AUTHORIZED;
		return 0;
	}
	lease_drop(l, s, now, ch);
	return 1;
}

size_t pcp_lease_map(struct pcp_leases *l, const struct pcp_map_req *q, uint64_t now,
		     struct pcp_map_res *res, struct pcp_change *ch)
{
	uint32_t c;

	memset(res, 0, sizeof(*res));
	res->internal_port = q->internal_port;
	if (!q->lifetime)
		return do_delete(l, q, now, res, ch);
	res->result = PCP_L_NO_RESOURCES;
	if ((q->protocol != TCP && q->protocol != UDP) || !(c = client_get(l, &q->client, now)))
		return 0;
	return do_map(l, c, q, now, res, ch);
}

size_t pcp_lease_max_changes(const struct pcp_leases *l)
{
	return 2 * (size_t)l->cfg.quota + 1;
}

size_t pcp_lease_expire(struct pcp_leases *l, uint64_t now, struct pcp_change *ch, size_t cap)
{
	size_t n = 0;

	while (n < cap && l->nheap && l->lease[l->heap[0]].expires <= now)
		lease_drop(l, l->heap[0] + 1, now, &ch[n++]);
	for (size_t i = 0; i < cap && l->ghead && l->port[l->ghead].until <= now; i++) {
		uint16_t p = l->ghead;

		quar_unlink(l, p);
		pool_put(l, p);
	}
	for (int i = 0; i < 16; i++)
		client_gc_step(l, now);
	return n;
}

/* --- the operator's mappings and the host's ports --- */

void pcp_lease_block(struct pcp_leases *l, uint16_t port)
{
	struct port *pt = &l->port[port];

	if (pt->blocked)
		return;
	pt->blocked = true;
	if (pt->state == P_FREE)
		pool_take(l, port);
	else if (pt->state == P_QUAR) {
		quar_unlink(l, port);
		pt->owner = 0;
	}
}

void pcp_lease_unblock(struct pcp_leases *l, uint16_t port)
{
	struct port *pt = &l->port[port];

	if (!pt->blocked)
		return;
	pt->blocked = false;
	if (pt->state == P_NONE)
		pool_put(l, port);
}

int pcp_lease_add_static(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
			 uint16_t internal_port, uint16_t ext)
{
	uint32_t c = client_get(l, client, 0), s;

	if (!c)
		return -ENOSPC;
	if (lease_find(l, c, protocol, internal_port))
		return -EEXIST;
	if (l->port[ext].state == P_HELD)
		return -EBUSY;
	s = lease_new(l, c, protocol, internal_port);
	if (!s)
		return -ENOSPC;
	pcp_lease_block(l, ext);
	l->lease[s - 1].is_static = true;
	l->lease[s - 1].internal_port = internal_port;
	l->lease[s - 1].external_port = ext;
	return 0;
}

int pcp_lease_del_static(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
			 uint16_t internal_port)
{
	uint32_t c = client_find(l, client), s = c ? lease_find(l, c, protocol, internal_port) : 0;

	if (!s || !l->lease[s - 1].is_static)
		return -ENOENT;
	pcp_lease_unblock(l, l->lease[s - 1].external_port);
	lease_unlink(l, s);
	return 0;
}

bool pcp_lease_forget(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
		      uint16_t key_port, uint64_t now)
{
	uint32_t c = client_find(l, client), s = c ? lease_find(l, c, protocol, key_port) : 0;
	struct pcp_change ch;

	if (!s || l->lease[s - 1].is_static)
		return false;
	lease_drop(l, s, now, &ch);
	return true;
}

int pcp_lease_restore(struct pcp_leases *l, const struct pcp_lease_info *info)
{
	uint16_t p = info->external_port;
	int x = pidx(info->protocol);
	uint32_t c, s;
	struct lease *le;

	if (info->is_static)
		return pcp_lease_add_static(l, &info->client, info->protocol, info->key_port, p);
	c = client_get(l, &info->client, 0);
	if (!c)
		return -ENOSPC;
	if (lease_find(l, c, info->protocol, info->key_port))
		return -EEXIST;
	if (!p || !port_can_take(l, c, p, x))
		return -EBUSY;
	s = lease_new(l, c, info->protocol, info->key_port);
	if (!s)
		return -ENOSPC;
	port_take(l, c, p, x, s);
	le = &l->lease[s - 1];
	le->internal_port = info->internal_port;
	le->external_port = p;
	le->pcp = info->pcp;
	memcpy(le->nonce, info->nonce, PCP_NONCE_LEN);
	le->expires = info->expires;
	heap_add(l, s - 1);
	l->ndynamic++;
	return 0;
}

bool pcp_lease_get(const struct pcp_leases *l, uint32_t i, struct pcp_lease_info *info)
{
	const struct lease *le;

	if (i >= l->cfg.max_leases || !l->lease[i].client)
		return false;
	le = &l->lease[i];
	*info = (struct pcp_lease_info){.client = l->client[le->client - 1].addr,
					.protocol = le->proto,
					.is_static = le->is_static,
					.pcp = le->pcp,
					.key_port = le->key_port,
					.internal_port = le->internal_port,
					.external_port = le->external_port,
					.expires = le->expires};
	memcpy(info->nonce, le->nonce, PCP_NONCE_LEN);
	return true;
}

bool pcp_lease_quar_get(const struct pcp_leases *l, uint16_t port, struct pcp_quar_info *info)
{
	const struct port *pt = &l->port[port];

	if (pt->state != P_QUAR)
		return false;
	*info = (struct pcp_quar_info){.client = l->client[pt->owner - 1].addr,
				       .port = port,
				       .key_port = pt->prev_key,
				       .until = pt->until};
	return true;
}

/* Moves P, just pushed at the tail of the global FIFO, back to its place
 * by time: records restored out of order still leave in order. */
static void quar_sort_tail(struct pcp_leases *l, uint16_t p)
{
	struct port *pt = &l->port[p];
	uint16_t before = pt->gprev;

	while (before && l->port[before].until > pt->until)
		before = l->port[before].gprev;
	if (before == pt->gprev)
		return;
	l->gtail = pt->gprev; /* unlink P from the tail */
	l->port[l->gtail].gnext = 0;
	pt->gprev = before;
	pt->gnext = before ? l->port[before].gnext : l->ghead;
	l->port[pt->gnext].gprev = p;
	if (before)
		l->port[before].gnext = p;
	else
		l->ghead = p;
}

int pcp_lease_quar_restore(struct pcp_leases *l, const struct pcp_quar_info *info)
{
	struct port *pt = &l->port[info->port];
	uint32_t c;

	if (pt->state != P_FREE)
		return -EBUSY;
	c = client_get(l, &info->client, 0);
	if (!c)
		return -ENOSPC;
	pool_take(l, info->port);
	pt->owner = c;
	pt->prev_key = info->key_port;
	quar_push(l, info->port, info->until);
	if (pt->state == P_QUAR)
		quar_sort_tail(l, info->port);
	return 0;
}

void pcp_lease_stats(const struct pcp_leases *l, struct pcp_lease_stats *s)
{
	s->leases = l->ndynamic;
	s->pool_free = l->nfree;
	s->quarantined = l->nquar;
	s->clients = l->nclients;
}

uint8_t pcp_lease_code(enum pcp_lease_result result, bool pcp)
{
	switch (result) {
	case PCP_L_OK:
		return 0;
	case PCP_L_NOT_AUTHORIZED:
		return pcp ? PCP_NOT_AUTHORIZED : NATPMP_NOT_AUTHORIZED;
	case PCP_L_QUOTA:
		return pcp ? PCP_USER_EX_QUOTA : NATPMP_OUT_OF_RESOURCES;
	case PCP_L_CANNOT_PROVIDE:
		return pcp ? PCP_CANNOT_PROVIDE_EXTERNAL : NATPMP_OUT_OF_RESOURCES;
	default:
		return pcp ? PCP_NO_RESOURCES : NATPMP_OUT_OF_RESOURCES;
	}
}

/* --- setup --- */

static const char *check_config(const struct pcp_lease_config *c)
{
	if (!c->life_min || c->life_min > c->life_max)
		return "lifetime MIN:MAX: allowed 1 <= MIN <= MAX seconds";
	if (!c->quota || c->quota > 65535)
		return "quota: allowed 1-65535 ports per client";
	if (!c->rate || !c->burst)
		return "rate PPS:BURST: allowed PPS >= 1 and BURST >= 1";
	if (!c->max_leases || c->max_leases > NPORTS)
		return "max_leases: allowed 1-65536";
	if (!c->max_clients || c->max_clients > NPORTS * 4)
		return "max_clients: allowed 1-262144";
	return NULL;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static bool alloc_all(struct pcp_leases *l)
{
	const struct pcp_lease_config *c = &l->cfg;

	l->lmask = pow2_at_least(c->max_leases) - 1;
	l->cmask = pow2_at_least(c->max_clients) - 1;
	l->lease = calloc(c->max_leases, sizeof(*l->lease));
	l->lhash = calloc(l->lmask + 1, sizeof(*l->lhash));
	l->heap = calloc(c->max_leases, sizeof(*l->heap));
	l->client = calloc(c->max_clients, sizeof(*l->client));
	l->chash = calloc(l->cmask + 1, sizeof(*l->chash));
	l->cfree = calloc(c->max_clients, sizeof(*l->cfree));
	l->port = calloc(NPORTS, sizeof(*l->port));
	l->free = calloc(NPORTS, sizeof(*l->free));
	return l->lease && l->lhash && l->heap && l->client && l->chash && l->cfree && l->port &&
	       l->free;
}

struct pcp_leases *pcp_lease_new(const struct pcp_lease_config *cfg, const uint16_t *pool,
				 size_t npool, const char **err)
{
	struct pcp_leases *l;

	*err = check_config(cfg);
	if (*err)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l || (l->cfg = *cfg, l->rng = cfg->seed, !alloc_all(l))) {
		*err = "out of memory";
		pcp_lease_free(l);
		return NULL;
	}
	for (uint32_t i = cfg->max_leases; i; i--) {
		l->lease[i - 1].hnext = l->lfree;
		l->lfree = i;
	}
	for (uint32_t i = cfg->max_clients; i; i--)
		l->cfree[l->ncfree++] = i - 1;
	for (size_t i = 0; i < npool; i++) {
		if (!pool[i] || l->port[pool[i]].pool)
			continue;
		l->port[pool[i]].pool = true;
		pool_put(l, pool[i]);
	}
	return l;
}

void pcp_lease_free(struct pcp_leases *l)
{
	if (!l)
		return;
	free(l->lease);
	free(l->lhash);
	free(l->heap);
	free(l->client);
	free(l->chash);
	free(l->cfree);
	free(l->port);
	free(l->free);
	free(l);
}
