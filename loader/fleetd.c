// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleetd.c - serve --fleet: the list, the watch, the batches and the status
 * key (fleetd.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "change.h"
#include "fleet.h"
#include "fleetd.h"
#include "localaddr.h"
#include "log.h"
#include "metrics.h"
#include "pindir.h"
#include "table.h"

/* How long a watch stream lives before it is resumed elsewhere: random in
 * [MIN, 2 * MIN) (Kubernetes' reflector does the same with 5-10 min). */
#define WATCH_LIFE_MIN_NS (600LL * 1000000000LL)

enum call_kind { CALL_NONE, CALL_GRANT, CALL_PUT, CALL_KEEPALIVE };
enum phase { PH_WAIT_LIST, PH_LIST, PH_WAIT_WATCH, PH_WATCH };

struct fleetd {
	struct etcd_conf conf;
	char gw[64];
	char *prefix, *end, *status_key;
	const struct xdpfwd_maps *maps;
	const char *state;
	CURLM *multi;
	enum phase phase;
	int64_t due; /* monotonic ns: when the waiting phase moves on */
	unsigned int fails;
	size_t ep; /* the endpoint in use: conf.url[ep % nurl] */
	uint64_t rand;
	/* the list */
	struct etcd_call list;
	bool list_on;
	int64_t list_rev;
	char *list_from;
	struct etcd_kv *acc;
	size_t nacc, acccap;
	enum fleetd_relist why;
	/* the watch */
	struct etcd_call watch;
	bool watch_on, relist, created;
	char watch_why[ETCD_ERR_LEN]; /* why the stream ended, from its last message */
	int64_t next_rev, applied_rev, watch_end;
	uint64_t cluster_id;
	struct etcd_event *ev;
	size_t nev, evcap;
	/* the status key */
	struct etcd_call sc;
	enum call_kind sc_kind;
	int64_t lease, next_keepalive, next_status;
	bool status_dirty;
	struct fleet_reject *rej;
	size_t nrej;
	uint64_t nkeys;
	struct fleetd_stats m;
	/* the live table during a full list's apply, sorted; NULL otherwise */
	struct rule *live;
	size_t nlive;
};

static int64_t mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static uint64_t next_rand(struct fleetd *d)
{
	d->rand ^= d->rand << 13;
	d->rand ^= d->rand >> 7;
	d->rand ^= d->rand << 17;
	return d->rand;
}

/* Full jitter: a random wait up to the backoff of FAILS failures. */
static int64_t backoff_ns(struct fleetd *d)
{
	uint64_t cap = FLEETD_BACKOFF_MIN_MS;

	for (unsigned int i = 0; i < d->fails && cap < FLEETD_BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > FLEETD_BACKOFF_MAX_MS)
		cap = FLEETD_BACKOFF_MAX_MS;
	return (int64_t)(FLEETD_BACKOFF_MIN_MS + next_rand(d) % cap) * 1000000LL;
}

static const char *endpoint(const struct fleetd *d)
{
	return d->conf.url[d->ep % d->conf.nurl];
}

int fleetd_parse(const struct fleetd_options *o, struct fleetd_config *c, char *err)
{
	char sub[ETCD_ERR_LEN];

	memset(c, 0, sizeof(*c));
	if (!o->urls) {
		if (o->gateway || o->cert || o->key || o->ca || o->user) {
			snprintf(
			    err, ERR_LEN,
			    "--gateway, --fleet-cert, --fleet-key, --fleet-ca and --fleet-user "
			    "go with --fleet URL[,URL...]");
			return -1;
		}
		return 0;
	}
	if (!o->gateway) {
		snprintf(err, ERR_LEN, "--fleet needs --gateway NAME: this gateway's name in etcd");
		return -1;
	}
	if (fleet_name_check(o->gateway, "--gateway", err))
		return -1;
	if (etcd_conf_parse(&c->etcd, o->urls, "--fleet", sub)) {
		snprintf(err, ERR_LEN, "%s", sub);
		return -1;
	}
	if ((o->cert != NULL) != (o->key != NULL)) {
		snprintf(err, ERR_LEN,
			 "--fleet-cert and --fleet-key go together (a client "
			 "certificate and its key, PEM files)");
		etcd_conf_free(&c->etcd);
		return -1;
	}
	c->etcd.cert = o->cert;
	c->etcd.key = o->key;
	c->etcd.ca = o->ca;
	c->etcd.user = o->user;
	c->etcd.password = getenv("XDPFWD_FLEET_PASSWORD");
	snprintf(c->gateway, sizeof(c->gateway), "%s", o->gateway);
	c->enabled = true;
	return 0;
}

void fleetd_config_free(struct fleetd_config *c)
{
	etcd_conf_free(&c->etcd);
}

/* --- rejected keys -------------------------------------------------------- */

static long reject_find(const struct fleetd *d, const char *key)
{
	for (size_t i = 0; i < d->nrej; i++)
		if (!strcmp(d->rej[i].key, key))
			return (long)i;
	return -1;
}

static void reject_forget(struct fleetd *d, const char *key)
{
	long i = reject_find(d, key);

	if (i < 0)
		return;
	free(d->rej[i].key);
	free(d->rej[i].reason);
	d->rej[i] = d->rej[--d->nrej];
	d->status_dirty = true;
}

/* KEY is rejected for REASON: said once per reason, the reason itself only
 * at debug level (the line may name a client's address). */
static void reject(struct fleetd *d, const char *key, const char *reason)
{
	long i = reject_find(d, key);
	struct fleet_reject *grown;

	if (i >= 0 && !strcmp(d->rej[i].reason, reason))
		return;
	pr_warn("serve: fleet: key %s rejected; the rest is applied (-vv says why)\n", key);
	pr_debug("serve: fleet: key %s: %s\n", key, reason);
	d->status_dirty = true;
	if (i >= 0) {
		free(d->rej[i].reason);
		d->rej[i].reason = strdup(reason);
		return;
	}
	grown = realloc(d->rej, (d->nrej + 1) * sizeof(*grown));
	if (!grown)
		return;
	d->rej = grown;
	d->rej[d->nrej].key = strdup(key);
	d->rej[d->nrej].reason = strdup(reason);
	if (d->rej[d->nrej].key && d->rej[d->nrej].reason)
		d->nrej++;
}

/* --- what a key changes --------------------------------------------------- */

/* One key's change: rules to write and live ones to remove. */
struct keyop {
	const char *key;
	struct rule put[2], drop[2];
	int nput, ndrop;
	bool bad; /* its value is rejected: nothing to write */
};

/* The live mapping on M's public side, from the full list's copy of the
 * table or through the forward entries (a wildcard keyed by the public
 * interface's address of its family, LOCAL). 1 (OUT), 0 or -errno. */
static int find_live(const struct fleetd *d, const struct local_addrs *local,
		     const struct xdpfwd_mapping *m, struct rule *out)
{
	struct xdpfwd_mapping probe = *m;

	if (d->live) {
		const struct rule *r = bsearch(&(struct rule){.m = *m}, d->live, d->nlive,
					       sizeof(*d->live), compare_rules_public);

		if (!r || !same_public(&r->m, m))
			return 0;
		*out = *r;
		return 1;
	}
	for (size_t a = 0; a <= local->count; a++) {
		int ret;

		if (a < local->count &&
		    (local->entry[a].family != m->family || !addr_is_zero(&m->public_addr)))
			continue;
		probe.source_addr = a < local->count ? local->entry[a].addr : m->public_addr;
		ret = table_find(d->maps, false, &probe, 0, out);
		if (ret < 0)
			return ret;
		if (ret && same_public(&out->m, m))
			return 1;
	}
	return 0;
}

/* The rule to write for R, or none when the live mapping is R already
 * (its lease within a second of R's: the same absolute expiry). A live
 * mapping of R's public side with another target goes into OP's drops. */
static int keyop_rule(struct fleetd *d, const struct local_addrs *local, struct keyop *op,
		      struct rule *r)
{
	struct rule live;
	int64_t delta;
	int ret = find_live(d, local, &r->m, &live);

	if (ret <= 0)
		goto put;
	if (live.owner.kind) /* a client's lease: the put is refused as an overlap */
		goto put;
	if (!same_target(&live.m, &r->m)) {
		op->drop[op->ndrop++] = live;
		goto put;
	}
	delta = (int64_t)(live.m.expires_ns - r->m.expires_ns);
	if (r->m.expires_ns && live.m.expires_ns && delta > -1000000000LL && delta < 1000000000LL) {
		r->m.expires_ns = live.m.expires_ns;
		r->m.ttl = live.m.ttl;
	}
	r->m.source_addr = live.m.source_addr;
	if (same_rule(&live, r))
		return 0;
put:
	op->put[op->nput++] = *r;
	return ret < 0 ? ret : 0;
}

/* OP for the key KEY whose value is VALUE (NULL: deleted). */
static int keyop_build(struct fleetd *d, const struct local_addrs *local, struct keyop *op,
		       const char *key, const char *value)
{
	struct xdpfwd_mapping pub[2];
	struct rule r[2], live;
	char err[ERR_LEN];
	int n = 0, ret = 0;

	memset(op, 0, sizeof(*op));
	op->key = key;
	if (value) {
		n = fleet_parse_value(d->gw, key, value, (uint64_t)time(NULL), boot_clock_ns(), r,
				      err);
		if (n < 0) {
			op->bad = true;
			reject(d, key, err);
			return 0;
		}
		for (int i = 0; i < n && !ret; i++)
			ret = keyop_rule(d, local, op, &r[i]);
		if (n)
			return ret;
	}
	/* Deleted, or a lease that has ended: its live mappings go. */
	n = fleet_key_public(d->gw, key, pub);
	for (int i = 0; i < n && ret >= 0; i++) {
		ret = find_live(d, local, &pub[i], &live);
		if (ret > 0 && !live.owner.kind)
			op->drop[op->ndrop++] = live;
	}
	return ret < 0 ? ret : 0;
}

/* --- applying ------------------------------------------------------------- */

static struct change fleet_change(const struct fleetd *d, bool quiet)
{
	/* QUIET: a single key's try, whose refusal is captured as its reason. */
	return (struct change){
	    .what = "fleet", .check_host = true, .state = d->state, .daemon = !quiet};
}

/* The puts and drops of OPS[0..N) as one apply_batch(). */
static int apply_ops(struct fleetd *d, const struct xdpfwd_config *att, struct keyop *ops, size_t n,
		     const struct rule *extra_drop, size_t nextra, bool quiet)
{
	struct rule *put = calloc(2 * n + 1, sizeof(*put)),
		    *drop = calloc(2 * n + nextra + 1, sizeof(*drop));
	struct apply_summary sum;
	struct batch b = {.put = put, .drop = drop};
	struct change c = fleet_change(d, quiet);
	int ret = put && drop ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < n; i++) {
		for (int k = 0; k < ops[i].nput; k++)
			put[b.nput++] = ops[i].put[k];
		for (int k = 0; k < ops[i].ndrop; k++)
			drop[b.ndrop++] = ops[i].drop[k];
	}
	for (size_t i = 0; !ret && i < nextra; i++)
		drop[b.ndrop++] = extra_drop[i];
	if (!ret && (b.nput || b.ndrop))
		ret = apply_batch(d->maps, att, &b, &c, &sum);
	if (!ret && (b.nput || b.ndrop))
		pr_info("serve: fleet: %zu added, %zu changed, %zu removed\n", sum.added,
			sum.changed + sum.renewed, sum.removed);
	free(put);
	free(drop);
	return ret;
}

/* A refusal's message as the reason of a key: its first line, without
 * "fleet: " and "line 1: ". */
static const char *refusal(struct strbuf *said)
{
	char *text, *nl;

	strbuf_append(said, "");
	text = said->data ? said->data : (char *)"refused (out of memory)";
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	if (!strncmp(text, "fleet: ", 7))
		text += 7;
	if (!strncmp(text, "line 1: ", 8))
		text += 8;
	return text;
}

/* apply_ops() with what it says captured into SAID: a refusal names a
 * client's address, which the daemon's log must not (said at -vv). */
static int apply_quiet(struct fleetd *d, const struct xdpfwd_config *att, struct keyop *ops,
		       size_t n, const struct rule *extra, size_t nextra, struct strbuf *said)
{
	struct strbuf *was = log_capture;
	int ret;

	strbuf_reset(said);
	log_capture = said;
	ret = apply_ops(d, att, ops, n, extra, nextra, true);
	log_capture = was;
	if (said->len)
		pr_debug("serve: %s", strbuf_str(said));
	return ret;
}

/* After a refused batch: each key alone, its refusal its reason. */
static int apply_one_by_one(struct fleetd *d, const struct xdpfwd_config *att, struct keyop *ops,
			    size_t n, const struct rule *extra, size_t nextra)
{
	struct strbuf said = STRBUF_INIT;
	int ret = apply_quiet(d, att, NULL, 0, extra, nextra, &said);

	for (size_t i = 0; i < n && ret != -EIO && ret != -ENOMEM; i++) {
		if (ops[i].bad || (!ops[i].nput && !ops[i].ndrop))
			continue;
		ret = apply_quiet(d, att, &ops[i], 1, NULL, 0, &said);
		if (ret == -EINVAL) {
			reject(d, ops[i].key, refusal(&said));
			ret = 0;
		} else if (!ret) {
			reject_forget(d, ops[i].key);
		}
	}
	strbuf_free(&said);
	return ret;
}

/* Applies OPS and EXTRA drops under the lock: one batch, or key by key
 * when the batch is refused. 0 or -errno (not written: re-list later). */
static int apply_all(struct fleetd *d, struct keyop *ops, size_t n, const struct rule *extra,
		     size_t nextra)
{
	struct strbuf said = STRBUF_INIT;
	struct xdpfwd_config att;
	struct timespec t0, t1;
	__u32 zero = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (bpf_map_lookup_elem(d->maps->config, &zero, &att))
		return -errno;
	ret = apply_quiet(d, &att, ops, n, extra, nextra, &said);
	if (ret == -EINVAL)
		ret = apply_one_by_one(d, &att, ops, n, extra, nextra);
	else if (!ret)
		for (size_t i = 0; i < n; i++)
			if (!ops[i].bad)
				reject_forget(d, ops[i].key);
	strbuf_free(&said);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->m.apply_seconds += (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	d->m.applies++;
	d->status_dirty = true;
	return ret;
}

/* Whether no key names the public side of live mapping R (NAMED sorted). */
static bool unnamed(const struct rule *r, const struct xdpfwd_mapping *named, size_t n)
{
	const struct xdpfwd_mapping *m = bsearch(
	    &r->m, named, n, sizeof(*named), (int (*)(const void *, const void *))compare_mappings);

	return !m || m->port_count != r->m.port_count;
}

/* The public sides every listed key names, sorted. */
static struct xdpfwd_mapping *named_sides(struct fleetd *d, size_t *n)
{
	struct xdpfwd_mapping *named = calloc(2 * d->nacc + 1, sizeof(*named));

	*n = 0;
	for (size_t i = 0; named && i < d->nacc; i++)
		*n += (size_t)fleet_key_public(d->gw, d->acc[i].key, named + *n);
	if (named)
		qsort(named, *n, sizeof(*named),
		      (int (*)(const void *, const void *))compare_mappings);
	return named;
}

/* The complete list in ACC made the table: its keys written as needed, and
 * the operator's mappings no key names removed. */
static int apply_full(struct fleetd *d)
{
	struct keyop *ops = calloc(d->nacc + 1, sizeof(*ops));
	struct rule *gone = NULL;
	struct xdpfwd_mapping *named = NULL;
	struct local_addrs local = {0};
	size_t nnamed = 0, ngone = 0;
	int ret = ops ? table_live(d->maps, &d->live, &d->nlive, 0) : -ENOMEM;

	for (size_t i = 0; !ret && i < d->nacc; i++)
		ret = keyop_build(d, &local, &ops[i], d->acc[i].key, d->acc[i].value);
	named = ret ? NULL : named_sides(d, &nnamed);
	gone = named ? calloc(d->nlive + 1, sizeof(*gone)) : NULL;
	if (!ret && !gone)
		ret = -ENOMEM;
	for (size_t i = 0; !ret && i < d->nlive; i++)
		if (!d->live[i].owner.kind && unnamed(&d->live[i], named, nnamed))
			gone[ngone++] = d->live[i];
	/* Rejected keys that are no longer there are forgotten. */
	for (size_t i = 0; !ret && i < d->nrej;) {
		bool there = false;

		for (size_t k = 0; k < d->nacc && !there; k++)
			there = !strcmp(d->acc[k].key, d->rej[i].key);
		if (there)
			i++;
		else
			reject_forget(d, d->rej[i].key);
	}
	if (!ret)
		ret = apply_all(d, ops, d->nacc, gone, ngone);
	free(d->live);
	d->live = NULL;
	free(named);
	free(gone);
	free(ops);
	return ret;
}

/* The last event of each key of the round (events in revision order). */
static int compare_events(const void *a, const void *b)
{
	const struct etcd_event *x = *(const struct etcd_event *const *)a,
				*y = *(const struct etcd_event *const *)b;
	int c = strcmp(x->kv.key, y->kv.key);

	if (c)
		return c;
	return x->kv.mod_revision < y->kv.mod_revision ? -1
						       : x->kv.mod_revision > y->kv.mod_revision;
}

static int apply_events(struct fleetd *d)
{
	struct etcd_event **e = calloc(d->nev + 1, sizeof(*e));
	struct keyop *ops = calloc(d->nev + 1, sizeof(*ops));
	struct xdpfwd_config att;
	struct local_addrs local = {0};
	size_t n = 0;
	__u32 zero = 0;
	int ret = e && ops ? 0 : -ENOMEM;

	if (!ret && !bpf_map_lookup_elem(d->maps->config, &zero, &att) &&
	    local_addrs_read(att.public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	for (size_t i = 0; e && i < d->nev; i++)
		e[i] = &d->ev[i];
	if (e)
		qsort(e, d->nev, sizeof(*e), compare_events);
	for (size_t i = 0; !ret && i < d->nev; i++) {
		if (i + 1 < d->nev && !strcmp(e[i]->kv.key, e[i + 1]->kv.key))
			continue; /* a later event of the same key wins */
		if (e[i]->del)
			reject_forget(d, e[i]->kv.key);
		ret = keyop_build(d, &local, &ops[n++], e[i]->kv.key,
				  e[i]->del ? NULL : (e[i]->kv.value ? e[i]->kv.value : ""));
	}
	if (!ret)
		ret = apply_all(d, ops, n, NULL, 0);
	free(e);
	free(ops);
	return ret;
}

/* --- transfers ------------------------------------------------------------ */

static void call_stop(struct fleetd *d, struct etcd_call *call, bool *on)
{
	if (!*on)
		return;
	curl_multi_remove_handle(d->multi, call->h);
	etcd_call_free(call);
	*on = false;
}

static int call_start(struct fleetd *d, struct etcd_call *call, bool *on, const char *path,
		      const char *body, bool stream)
{
	if (etcd_call_init(call, &d->conf, endpoint(d), path, body, stream))
		return -ENOMEM;
	if (curl_multi_add_handle(d->multi, call->h) != CURLM_OK) {
		etcd_call_free(call);
		return -ENOMEM;
	}
	*on = true;
	return 0;
}

static void acc_free(struct fleetd *d)
{
	for (size_t i = 0; i < d->nacc; i++)
		etcd_kv_free(&d->acc[i]);
	d->nacc = 0;
}

static void list_page(struct fleetd *d)
{
	struct strbuf body = STRBUF_INIT;

	etcd_body_range(&body, d->list_from ? d->list_from : d->prefix, d->end, ETCD_PAGE_LIMIT,
			d->list_rev);
	if (call_start(d, &d->list, &d->list_on, "/v3/kv/range", strbuf_str(&body), false)) {
		d->phase = PH_WAIT_LIST;
		d->due = mono_now() + backoff_ns(d);
	}
	strbuf_free(&body);
}

static void list_begin(struct fleetd *d)
{
	char err[ETCD_ERR_LEN];

	if (d->conf.user && !d->conf.token && etcd_authenticate(&d->conf, err)) {
		pr_warn("serve: fleet: %s\n", err);
		d->fails++;
		d->ep++;
		d->due = mono_now() + backoff_ns(d);
		return;
	}
	acc_free(d);
	free(d->list_from);
	d->list_from = NULL;
	d->list_rev = 0;
	d->phase = PH_LIST;
	list_page(d);
}

static bool on_watch(void *ctx, json_object *o);

static void watch_begin(struct fleetd *d)
{
	struct strbuf body = STRBUF_INIT;

	etcd_body_watch(&body, d->prefix, d->end, d->next_rev);
	d->created = false;
	d->relist = false;
	d->watch_why[0] = '\0';
	if (call_start(d, &d->watch, &d->watch_on, "/v3/watch", strbuf_str(&body), true)) {
		d->phase = PH_WAIT_WATCH;
		d->due = mono_now() + backoff_ns(d);
	} else {
		d->watch.on_object = on_watch;
		d->watch.ctx = d;
		d->phase = PH_WATCH;
		d->watch_end = mono_now() + WATCH_LIFE_MIN_NS +
			       (int64_t)(next_rand(d) % (uint64_t)WATCH_LIFE_MIN_NS);
	}
	strbuf_free(&body);
}

/* The header of a list's first page or a watch's creation: a new cluster or
 * a revision below the one applied means a restore from a backup. */
static bool history_broken(struct fleetd *d, const struct etcd_header *h, enum fleetd_relist *why)
{
	if (d->cluster_id && h->cluster_id && h->cluster_id != d->cluster_id) {
		pr_warn("serve: fleet: the etcd cluster id changed (%" PRIu64 " to %" PRIu64
			"): a new or restored cluster; listing again\n",
			d->cluster_id, h->cluster_id);
		*why = FLEETD_RELIST_CLUSTER;
		return true;
	}
	if (d->applied_rev && h->revision && h->revision < d->applied_rev) {
		pr_warn("serve: fleet: etcd's revision %" PRId64 " is below the %" PRId64
			" applied (restored from a backup?); listing again\n",
			h->revision, d->applied_rev);
		*why = FLEETD_RELIST_BACKWARDS;
		return true;
	}
	return false;
}

/* A failed call: the next endpoint, after a jittered backoff. */
static void failed(struct fleetd *d, const char *what, const char *err, enum phase then)
{
	if (d->fails++ < 3 || log_level >= LOG_INFO)
		pr_warn("serve: fleet: %s: %s; trying %s\n", what, err,
			d->conf.nurl > 1 ? "the next endpoint" : "again");
	d->m.connected = false;
	d->ep++;
	d->phase = then;
	d->due = mono_now() + backoff_ns(d);
}

static int keep_page(struct fleetd *d, struct etcd_range *r)
{
	size_t first = d->list_from && r->nkvs && !strcmp(r->kvs[0].key, d->list_from);

	if (d->nacc + r->nkvs > d->acccap) {
		size_t cap = (d->nacc + r->nkvs) * 2;
		struct etcd_kv *grown = realloc(d->acc, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->acc = grown;
		d->acccap = cap;
	}
	for (size_t i = first; i < r->nkvs; i++) {
		d->acc[d->nacc++] = r->kvs[i];
		memset(&r->kvs[i], 0, sizeof(r->kvs[i]));
	}
	if (r->more && d->nacc) {
		free(d->list_from);
		d->list_from = strdup(d->acc[d->nacc - 1].key);
		if (!d->list_from)
			return -ENOMEM;
	}
	return 0;
}

static void list_done(struct fleetd *d, struct pindir *pd);

static void list_answer(struct fleetd *d, CURLcode rc, struct pindir *pd)
{
	char err[ETCD_ERR_LEN];
	struct etcd_range r;
	enum fleetd_relist why;
	int code;

	if (etcd_call_result(&d->list, rc, &code, err)) {
		call_stop(d, &d->list, &d->list_on);
		if (code == 11 &&
		    d->list_rev) { /* compacted under the list: again, at the latest */
			list_begin(d);
			return;
		}
		failed(d, "listing", err, PH_WAIT_LIST);
		return;
	}
	if (etcd_parse_range(strbuf_str(&d->list.resp), &r, err)) {
		call_stop(d, &d->list, &d->list_on);
		failed(d, "listing", err, PH_WAIT_LIST);
		return;
	}
	call_stop(d, &d->list, &d->list_on);
	if (!d->list_rev) {
		d->list_rev = r.h.revision;
		if (history_broken(d, &r.h, &why))
			d->applied_rev = 0; /* this list is the new history */
		d->cluster_id = r.h.cluster_id;
	}
	if (keep_page(d, &r)) {
		etcd_range_free(&r);
		failed(d, "listing", "out of memory", PH_WAIT_LIST);
		return;
	}
	if (r.more)
		list_page(d);
	else
		list_done(d, pd);
	etcd_range_free(&r);
}

static void list_done(struct fleetd *d, struct pindir *pd)
{
	int ret = pindir_lock(pd);

	ret = ret ?: apply_full(d);
	pindir_unlock(pd);
	if (ret) {
		pr_warn("serve: fleet: applying the list failed: %s; listing again\n",
			strerror(-ret));
		metrics_state_error();
		d->why = FLEETD_RELIST_APPLY_FAILED;
		failed(d, "applying", strerror(-ret), PH_WAIT_LIST);
		return;
	}
	d->m.relists[d->why]++;
	d->nkeys = d->nacc;
	acc_free(d);
	d->applied_rev = d->list_rev;
	d->next_rev = d->list_rev + 1;
	d->m.revision = d->applied_rev;
	d->m.last_sync_unix = (uint64_t)time(NULL);
	d->fails = 0;
	pr_info("serve: fleet: listed %" PRIu64 " keys at revision %" PRId64 "\n", d->nkeys,
		d->list_rev);
	watch_begin(d);
}

/* --- the watch stream ----------------------------------------------------- */

/* The events of M not applied yet: a resumed stream replays from the
 * revision asked, and the events of one revision (a txn) come together,
 * in one message, so what is below the revision next at its start was
 * applied. */
static int keep_events(struct fleetd *d, struct etcd_watch_msg *m)
{
	int64_t from = d->next_rev;

	for (size_t i = 0; i < m->nev; i++) {
		struct etcd_event *e = &m->ev[i];

		if (e->kv.mod_revision < from)
			continue;
		if (d->nev == d->evcap) {
			size_t cap = d->evcap ? 2 * d->evcap : 64;
			struct etcd_event *grown = realloc(d->ev, cap * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			d->ev = grown;
			d->evcap = cap;
		}
		d->ev[d->nev++] = *e;
		memset(&e->kv, 0, sizeof(e->kv));
		d->next_rev = d->ev[d->nev - 1].kv.mod_revision + 1;
	}
	return 0;
}

/* One message of the stream; false ends it. */
static bool on_watch(void *ctx, json_object *o)
{
	struct fleetd *d = ctx;
	struct etcd_watch_msg m;
	char err[ETCD_ERR_LEN];
	bool go_on = true;

	if (etcd_parse_watch(o, &m, err)) {
		pr_warn("serve: fleet: %s: %s\n", endpoint(d), err);
		return false;
	}
	if (m.error) {
		snprintf(d->watch_why, sizeof(d->watch_why), "%s: %s", endpoint(d), m.reason);
		go_on = false;
	} else if (m.canceled) {
		pr_warn("serve: fleet: the watch was canceled%s%s; listing again\n",
			m.compact_revision ? " (compacted past the revision applied)" : ": ",
			m.compact_revision ? "" : m.reason);
		d->relist = true;
		d->why = FLEETD_RELIST_COMPACTED;
		go_on = false;
	} else if (m.created) {
		d->created = true;
		go_on = !history_broken(d, &m.h, &d->why);
		d->relist = !go_on;
		d->m.connected = go_on;
		d->fails = 0;
	} else if (m.nev) {
		go_on = !keep_events(d, &m);
	} else if (m.watch_id != -1 && m.h.revision >= d->next_rev) {
		d->next_rev = m.h.revision + 1; /* a periodic progress notification */
	}
	etcd_watch_msg_free(&m);
	return go_on;
}

static void watch_answer(struct fleetd *d, CURLcode rc)
{
	char err[ETCD_ERR_LEN];
	int code;
	bool relist = d->relist, ok = !etcd_call_result(&d->watch, rc, &code, err);

	call_stop(d, &d->watch, &d->watch_on);
	if (relist) {
		d->m.connected = false;
		list_begin(d);
		return;
	}
	d->m.resumes++;
	failed(d, "the watch stream",
	       d->watch_why[0] ? d->watch_why
	       : ok	       ? "closed by the member"
			       : err,
	       PH_WAIT_WATCH);
}

/* --- the status key ------------------------------------------------------- */

static void status_body(struct fleetd *d, struct strbuf *body)
{
	struct fleet_status s = {.revision = d->applied_rev, .time = (uint64_t)time(NULL)};
	struct strbuf value = STRBUF_INIT;

	snprintf(s.gateway, sizeof(s.gateway), "%s", d->gw);
	s.rejected = d->rej;
	s.nrejected = d->nrej < FLEET_REJECT_SHOWN ? d->nrej : FLEET_REJECT_SHOWN;
	s.rejected_count = d->nrej;
	s.mappings = d->nkeys > d->nrej ? d->nkeys - d->nrej : 0;
	fleet_status_format(&value, &s);
	etcd_body_put(body, d->status_key, strbuf_str(&value), d->lease);
	strbuf_free(&value);
}

static void status_step(struct fleetd *d, int64_t now)
{
	struct strbuf body = STRBUF_INIT;
	const char *path = NULL;
	bool on = false;

	if (d->sc_kind != CALL_NONE || d->phase != PH_WATCH || !d->m.connected)
		return;
	if (!d->lease) {
		strbuf_appendf(&body, "{\"TTL\":\"%d\"}", FLEET_STATUS_TTL);
		path = "/v3/lease/grant";
		d->sc_kind = CALL_GRANT;
	} else if (d->status_dirty && now >= d->next_status) {
		status_body(d, &body);
		path = "/v3/kv/put";
		d->sc_kind = CALL_PUT;
		d->status_dirty = false;
	} else if (now >= d->next_keepalive) {
		strbuf_appendf(&body, "{\"ID\":\"%" PRId64 "\"}", d->lease);
		path = "/v3/lease/keepalive";
		d->sc_kind = CALL_KEEPALIVE;
	}
	if (path && call_start(d, &d->sc, &on, path, strbuf_str(&body), false))
		d->sc_kind = CALL_NONE;
	strbuf_free(&body);
}

static void status_answer(struct fleetd *d, CURLcode rc)
{
	char err[ETCD_ERR_LEN];
	int code;
	bool on = true;
	int64_t now = mono_now();
	json_object *o = NULL, *res = NULL;

	if (etcd_call_result(&d->sc, rc, &code, err)) {
		pr_info("serve: fleet: the status key: %s\n", err);
		if (d->sc_kind == CALL_PUT) {
			d->status_dirty = true;
			d->lease = 0; /* the lease may have ended: a new one */
		}
		d->next_status = d->next_keepalive = now + 1000000000LL;
	} else {
		o = json_tokener_parse(strbuf_str(&d->sc.resp));
		if (d->sc_kind == CALL_GRANT) {
			d->lease = etcd_json_i64(o, "ID");
			d->status_dirty = true;
		} else if (d->sc_kind == CALL_KEEPALIVE &&
			   (!json_object_object_get_ex(o, "result", &res) ||
			    etcd_json_i64(res, "TTL") <= 0)) {
			d->lease = 0; /* it ended: a new lease, the key again */
		} else if (d->sc_kind == CALL_PUT) {
			d->next_status = now + 1000000000LL;
		}
		if (d->sc_kind != CALL_PUT)
			d->next_keepalive = now + FLEET_STATUS_TTL * 1000000000LL / 3;
		json_object_put(o);
	}
	call_stop(d, &d->sc, &on);
	d->sc_kind = CALL_NONE;
}

/* --- the loop ------------------------------------------------------------- */

struct fleetd *fleetd_open(struct fleetd_config *cfg, const struct xdpfwd_maps *maps,
			   const char *state)
{
	struct fleetd *d = calloc(1, sizeof(*d));
	struct strbuf p = STRBUF_INIT, s = STRBUF_INIT;

	if (!d || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(d);
		pr_warn("serve: fleet: out of memory\n");
		return NULL;
	}
	d->conf = cfg->etcd;
	memset(&cfg->etcd, 0, sizeof(cfg->etcd));
	snprintf(d->gw, sizeof(d->gw), "%s", cfg->gateway);
	fleet_map_prefix(&p, d->gw);
	fleet_status_key(&s, d->gw);
	d->prefix = strbuf_detach(&p, NULL);
	d->status_key = strbuf_detach(&s, NULL);
	d->end = d->prefix ? etcd_prefix_end(d->prefix) : NULL;
	d->multi = curl_multi_init();
	d->maps = maps;
	d->state = state;
	d->rand = (uint64_t)mono_now() ^ ((uint64_t)getpid() << 32);
	for (const char *c = d->gw; *c; c++)
		d->rand = d->rand * 31 + (unsigned char)*c;
	etcd_shuffle(&d->conf, next_rand(d));
	d->phase = PH_WAIT_LIST;
	d->why = FLEETD_RELIST_START;
	d->due = mono_now() + (int64_t)(next_rand(d) % FLEETD_START_JITTER_MS) * 1000000LL;
	snprintf(d->m.gateway, sizeof(d->m.gateway), "%s", d->gw);
	d->m.enabled = true;
	if (!d->prefix || !d->status_key || !d->end || !d->multi) {
		pr_warn("serve: fleet: out of memory\n");
		fleetd_close(d);
		return NULL;
	}
	printf("fleet: gateway %s, etcd %s%s\n", d->gw, d->conf.url[0],
	       d->conf.nurl > 1 ? " and others" : "");
	return d;
}

/* The status key goes with its lease, at once (1 s at most, one try). */
static void status_revoke(struct fleetd *d)
{
	struct etcd_call call;
	char body[64];

	if (!d->lease)
		return;
	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", d->lease);
	if (etcd_call_init(&call, &d->conf, endpoint(d), "/v3/lease/revoke", body, false))
		return;
	curl_easy_setopt(call.h, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_perform(call.h);
	etcd_call_free(&call);
}

void fleetd_close(struct fleetd *d)
{
	bool on = d && d->sc_kind != CALL_NONE;

	if (!d)
		return;
	call_stop(d, &d->list, &d->list_on);
	call_stop(d, &d->watch, &d->watch_on);
	call_stop(d, &d->sc, &on);
	status_revoke(d);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	acc_free(d);
	free(d->acc);
	for (size_t i = 0; i < d->nev; i++)
		etcd_kv_free(&d->ev[i].kv);
	free(d->ev);
	for (size_t i = 0; i < d->nrej; i++) {
		free(d->rej[i].key);
		free(d->rej[i].reason);
	}
	free(d->rej);
	free(d->list_from);
	free(d->prefix);
	free(d->end);
	free(d->status_key);
	etcd_conf_free(&d->conf);
	free(d);
}

size_t fleetd_pollfds(struct fleetd *d, struct pollfd *pfd, size_t max, int64_t *wait_ns)
{
	fd_set r, w, e;
	int maxfd = -1;
	long ms = -1;
	size_t n = 0;
	int64_t now = mono_now();

	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&e);
	curl_multi_fdset(d->multi, &r, &w, &e, &maxfd);
	for (int fd = 0; fd <= maxfd && n < max; fd++)
		if (FD_ISSET(fd, &r) || FD_ISSET(fd, &w))
			pfd[n++] =
			    (struct pollfd){.fd = fd,
					    .events = (short)((FD_ISSET(fd, &r) ? POLLIN : 0) |
							      (FD_ISSET(fd, &w) ? POLLOUT : 0))};
	curl_multi_timeout(d->multi, &ms);
	if (ms >= 0 && ms * 1000000LL < *wait_ns)
		*wait_ns = ms * 1000000LL;
	if ((d->phase == PH_WAIT_LIST || d->phase == PH_WAIT_WATCH) && d->due - now < *wait_ns)
		*wait_ns = d->due > now ? d->due - now : 0;
	return n;
}

/* Transfers that ended. */
static void finished(struct fleetd *d, struct pindir *pd)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left)))
		if (msg->msg != CURLMSG_DONE)
			continue;
		else if (d->list_on && msg->easy_handle == d->list.h)
			list_answer(d, msg->data.result, pd);
		else if (d->watch_on && msg->easy_handle == d->watch.h)
			watch_answer(d, msg->data.result);
		else if (d->sc_kind != CALL_NONE && msg->easy_handle == d->sc.h)
			status_answer(d, msg->data.result);
}

static void round_events(struct fleetd *d, struct pindir *pd)
{
	int64_t last = d->next_rev - 1;
	int ret = pindir_lock(pd);

	ret = ret ?: apply_events(d);
	pindir_unlock(pd);
	for (size_t i = 0; i < d->nev; i++) {
		d->nkeys += !d->ev[i].del && d->ev[i].kv.version == 1;
		d->nkeys -= d->ev[i].del && d->nkeys;
		etcd_kv_free(&d->ev[i].kv);
	}
	d->m.events += d->nev;
	d->nev = 0;
	if (ret) {
		pr_warn("serve: fleet: applying changes failed: %s; listing again\n",
			strerror(-ret));
		metrics_state_error();
		call_stop(d, &d->watch, &d->watch_on);
		d->why = FLEETD_RELIST_APPLY_FAILED;
		failed(d, "applying", strerror(-ret), PH_WAIT_LIST);
		return;
	}
	d->applied_rev = last;
	d->m.revision = last;
}

void fleetd_round(struct fleetd *d, struct pindir *pd)
{
	int64_t now = mono_now();
	int running;

	curl_multi_perform(d->multi, &running);
	if (d->nev)
		round_events(d, pd);
	finished(d, pd);
	if (d->nev) /* the last bytes of a stream that ended */
		round_events(d, pd);
	if (d->phase == PH_WATCH && d->m.connected && d->next_rev - 1 > d->applied_rev) {
		d->applied_rev = d->next_rev - 1; /* progress: nothing of ours changed */
		d->m.revision = d->applied_rev;
	}
	if (d->phase == PH_WAIT_LIST && now >= d->due)
		list_begin(d);
	else if (d->phase == PH_WAIT_WATCH && now >= d->due)
		watch_begin(d);
	else if (d->phase == PH_WATCH && now >= d->watch_end) {
		call_stop(d, &d->watch, &d->watch_on); /* its life is over: resume elsewhere */
		d->ep++;
		watch_begin(d);
	}
	status_step(d, now);
	if (d->phase != PH_WAIT_LIST && d->phase != PH_WAIT_WATCH)
		curl_multi_perform(d->multi, &running);
}

void fleetd_publish(struct fleetd *d, struct fleetd_metrics *m)
{
	if (!d)
		return;
	d->m.rejected = d->nrej;
	pthread_mutex_lock(&m->lock);
	m->s = d->m;
	pthread_mutex_unlock(&m->lock);
}

static void metric(struct strbuf *out, const char *name, const char *help, const char *type,
		   const char *gw, double v)
{
	strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s{gateway=\"%s\"} %.9g\n", name, help,
		       name, type, name, gw, v);
}

void fleetd_metrics_render(struct fleetd_metrics *m, struct strbuf *out)
{
	static const char *const why[FLEETD_RELIST_REASONS] = {
	    "start", "compacted", "cluster_changed", "revision_backwards", "error"};
	const char *rl = "xdpfwd_fleet_resyncs_total";
	struct fleetd_stats c;

	pthread_mutex_lock(&m->lock);
	c = m->s;
	pthread_mutex_unlock(&m->lock);
	if (!c.enabled)
		return;
	metric(out, "xdpfwd_fleet_connected", "1 while a watch stream from etcd is up.", "gauge",
	       c.gateway, c.connected);
	metric(out, "xdpfwd_fleet_revision", "The etcd revision this gateway's table follows.",
	       "gauge", c.gateway, (double)c.revision);
	metric(out, "xdpfwd_fleet_last_sync_timestamp_seconds",
	       "When the last complete list was applied, as Unix time.", "gauge", c.gateway,
	       (double)c.last_sync_unix);
	strbuf_appendf(out,
		       "# HELP %s Complete lists of the gateway's keys, by reason.\n"
		       "# TYPE %s counter\n",
		       rl, rl);
	for (int i = 0; i < FLEETD_RELIST_REASONS; i++)
		strbuf_appendf(out, "%s{gateway=\"%s\",reason=\"%s\"} %llu\n", rl, c.gateway,
			       why[i], (unsigned long long)c.relists[i]);
	metric(out, "xdpfwd_fleet_rejected_keys",
	       "Keys whose line was refused (fleet status names them).", "gauge", c.gateway,
	       (double)c.rejected);
	metric(out, "xdpfwd_fleet_events_total", "Watch events applied.", "counter", c.gateway,
	       (double)c.events);
	metric(out, "xdpfwd_fleet_watch_resumes_total",
	       "Watch streams that broke and were resumed from the last revision, without a list.",
	       "counter", c.gateway, (double)c.resumes);
	strbuf_appendf(out,
		       "# HELP xdpfwd_fleet_apply_seconds Time spent applying lists and event "
		       "batches to the table.\n# TYPE xdpfwd_fleet_apply_seconds summary\n"
		       "xdpfwd_fleet_apply_seconds_sum{gateway=\"%s\"} %.9g\n"
		       "xdpfwd_fleet_apply_seconds_count{gateway=\"%s\"} %llu\n",
		       c.gateway, c.apply_seconds, c.gateway, (unsigned long long)c.applies);
}
