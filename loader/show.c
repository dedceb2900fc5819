// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <json-c/json.h>
#include "capacity.h"
#include "log.h"
#include "show.h"

static json_object *json_addr(__u8 family, const union xdpfwd_addr *addr)
{
	char buf[ADDR_STR_LEN];

	format_addr(buf, sizeof(buf), family, addr);
	return buf[0] ? json_object_new_string(buf) : NULL;
}

static json_object *json_rate(const struct xdpfwd_rate *r)
{
	json_object *o;

	if (!r->pps)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "pps", json_object_new_int64(r->pps));
	json_object_object_add(o, "burst", json_object_new_int64(r->burst));
	return o;
}

/* Seconds until M's lease ends (0 once it has), or a negative number for
 * a mapping that never expires. */
static double expires_in(const struct xdpfwd_mapping *m, __u64 now)
{
	if (!m->expires_ns)
		return -1;
	return m->expires_ns > now ? (m->expires_ns - now) / 1e9 : 0;
}

/* A mapping with its policy; ALLOW is NULL where the prefixes were not read. */
static json_object *json_mapping(const struct xdpfwd_mapping *m, const struct xdpfwd_prefix *allow,
				 const struct xdpfwd_owner *owner, __u64 now)
{
	json_object *o = json_object_new_object();
	double left = expires_in(m, now);

	json_object_object_add(o, "proto", json_object_new_string(proto_name(m->proto)));
	json_object_object_add(o, "family", json_object_new_string(family_label(m->family)));
	json_object_object_add(o, "public_addr", json_addr(m->family, &m->public_addr));
	json_object_object_add(o, "public_port", json_object_new_int(m->public_port));
	json_object_object_add(o, "public_port_end",
			       json_object_new_int(m->public_port + m->port_count - 1));
	json_object_object_add(o, "target_addr", json_addr(m->family, &m->target_addr));
	json_object_object_add(o, "target_port", json_object_new_int(m->target_port));
	json_object_object_add(o, "target_port_end",
			       json_object_new_int(m->target_port + m->port_count - 1));
	json_object_object_add(o, "source_addr", json_addr(m->family, &m->source_addr));
	if (allow) {
		json_object *arr = json_object_new_array();

		for (__u32 i = 0; i < m->allow_count; i++) {
			char p[ADDR_STR_LEN];

			format_prefix(p, sizeof(p), &allow[i]);
			json_object_array_add(arr, json_object_new_string(p));
		}
		json_object_object_add(o, "allow", arr);
	} else {
		json_object_object_add(o, "allow_prefixes", json_object_new_int64(m->allow_count));
	}
	json_object_object_add(o, "rate", json_rate(&m->rate));
	json_object_object_add(o, "new_rate", json_rate(&m->new_rate));
	json_object_object_add(o, "ttl", m->ttl ? json_object_new_int64(m->ttl) : NULL);
	json_object_object_add(o, "expires_in", left < 0 ? NULL : json_object_new_double(left));
	/* Whose lease a dynamic mapping is (null: the operator's), never the
	 * PCP nonce, which is what lets a client renew or delete it. */
	json_object_object_add(
	    o, "owner",
	    !owner->kind
		? NULL
		: json_object_new_string(owner->kind == XDPFWD_OWNER_PCP ? "pcp" : "natpmp"));
	json_object_object_add(o, "key_port",
			       owner->kind ? json_object_new_int(owner->key_port) : NULL);
	return o;
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* PUB: "203.0.113.10:40000", or "40000 (any IPv4)" for a wildcard. */
static void text_row(const struct xdpfwd_mapping *m, char *pub, size_t plen, char *target,
		     size_t tlen)
{
	char ports[ADDR_STR_LEN];

	format_endpoint(ports, sizeof(ports), m->family, &m->public_addr, m->public_port,
			m->port_count);
	if (ports[strspn(ports, "0123456789-")])
		snprintf(pub, plen, "%s", ports);
	else
		snprintf(pub, plen, "%s (any %s)", ports, family_name(m->family));
	format_endpoint(target, tlen, m->family, &m->target_addr, m->target_port, m->port_count);
}

int show_list(const struct xdpfwd_maps *maps, bool json)
{
	struct rule *list;
	__u64 now = boot_clock_ns();
	size_t n;
	int err = table_live(maps, &list, &n, 0);

	if (err) {
		pr_warn("cannot read the mappings: %s\n", strerror(-err));
		return err;
	}
	if (json) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(
			    arr, json_mapping(&list[i].m, list[i].allow, &list[i].owner, now));
		print_json(arr);
	} else {
		struct strbuf policy = STRBUF_INIT;

		printf("%-5s %-36s %-26s %s\n", "PROTO", "PUBLIC", "TARGET", "POLICY");
		for (size_t i = 0; i < n; i++) {
			char pub[ADDR_STR_LEN + 16], target[ADDR_STR_LEN];
			double left = expires_in(&list[i].m, now);

			text_row(&list[i].m, pub, sizeof(pub), target, sizeof(target));
			strbuf_reset(&policy);
			format_policy(&policy, &list[i]);
			if (list[i].owner.kind) { /* a dynamic mapping: whose, without the nonce */
				strbuf_append(&policy, policy.len ? " owner=" : "owner=");
				format_owner(&policy, &list[i].owner, false);
			}
			printf("%-5s %-36s %-26s %s", proto_name(list[i].m.proto), pub, target,
			       policy.len ? strbuf_str(&policy) : "-");
			if (left >= 0)
				printf(" (expires in %.0f s)", left);
			printf("\n");
		}
		if (policy.failed)
			err = -ENOMEM;
		strbuf_free(&policy);
	}
	free(list);
	if (err)
		pr_warn("cannot show the mappings: %s\n", strerror(-err));
	return err;
}

/* Appends the policy where the allowlist was not read to OUT:
 * "allow=2 rate=1000:1000 ttl=60 (41 s left)", or "-" for none. */
static void policy_brief(struct strbuf *out, const struct xdpfwd_mapping *m, __u64 now)
{
	struct rule r = {.m = *m};
	double left = expires_in(m, now);
	size_t start = out->len;

	r.m.allow_count = 0;
	format_policy(out, &r);
	if (m->allow_count)
		strbuf_appendf(out, "%sallow=%u", out->len > start ? " " : "", m->allow_count);
	if (left >= 0)
		strbuf_appendf(out, " (%.0f s left)", left);
	if (out->len == start)
		strbuf_append(out, "-");
}

static void json_add_counters(json_object *o, const struct xdpfwd_counters *c)
{
	json_object_object_add(o, "rx_packets", json_object_new_uint64(c->rx_packets));
	json_object_object_add(o, "rx_bytes", json_object_new_uint64(c->rx_bytes));
	json_object_object_add(o, "tx_packets", json_object_new_uint64(c->tx_packets));
	json_object_object_add(o, "tx_bytes", json_object_new_uint64(c->tx_bytes));
	json_object_object_add(o, "not_allowed", json_object_new_uint64(c->not_allowed));
	json_object_object_add(o, "rate_limited", json_object_new_uint64(c->rate_limited));
}

/* {"mappings": capacity, "used": mappings, "ports": capacity in ports,
 * "ports_used": ports the mappings cover}: how full the maps are. */
static json_object *json_capacity(const struct xdpfwd_maps *maps, const struct table_view *v)
{
	json_object *o = json_object_new_object();
	__u32 cap = table_capacity(maps);
	size_t ports = 0;

	for (size_t i = 0; i < v->count; i++)
		ports += v->list[i].m.port_count;
	json_object_object_add(o, "mappings", json_object_new_int64(cap));
	json_object_object_add(o, "used", json_object_new_int64((int64_t)v->count));
	json_object_object_add(o, "ports",
			       json_object_new_int64((int64_t)cap * XDPFWD_PORTS_PER_MAPPING));
	json_object_object_add(o, "ports_used", json_object_new_int64((int64_t)ports));
	return o;
}

int show_stats(const struct xdpfwd_maps *maps, bool json)
{
	struct table_view v = {0};
	struct strbuf policy = STRBUF_INIT;
	json_object *arr = NULL;
	__u64 now = boot_clock_ns();
	int err = view_read(&v, maps);

	if (err) {
		view_free(&v);
		pr_warn("cannot read the counters: %s\n", strerror(-err));
		return err;
	}
	if (json)
		arr = json_object_new_array();
	else
		printf("%-5s %-36s %-26s %10s %12s %10s %12s %11s %12s %s\n", "PROTO", "PUBLIC",
		       "TARGET", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "NOT_ALLOWED",
		       "RATE_LIMITED", "POLICY");
	for (size_t i = 0; i < v.count; i++) {
		const struct xdpfwd_counters *c = &v.by_slot[v.list[i].slot];
		char pub[ADDR_STR_LEN + 16], target[ADDR_STR_LEN];

		if (json) {
			json_object *o = json_mapping(&v.list[i].m, NULL, &v.list[i].owner, now);

			json_add_counters(o, c);
			json_object_array_add(arr, o);
			continue;
		}
		text_row(&v.list[i].m, pub, sizeof(pub), target, sizeof(target));
		strbuf_reset(&policy);
		policy_brief(&policy, &v.list[i].m, now);
		printf("%-5s %-36s %-26s %10llu %12llu %10llu %12llu %11llu %12llu %s\n",
		       proto_name(v.list[i].m.proto), pub, target,
		       (unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
		       (unsigned long long)c->tx_packets, (unsigned long long)c->tx_bytes,
		       (unsigned long long)c->not_allowed, (unsigned long long)c->rate_limited,
		       strbuf_str(&policy));
	}

	if (json) {
		json_object *top = json_object_new_object(), *global = json_object_new_object();

		for (int s = 0; s < XDPFWD_STAT_MAX; s++)
			json_object_object_add(global, xdpfwd_stat_names[s],
					       json_object_new_uint64(v.stats[s]));
		json_object_object_add(top, "mappings", arr);
		json_object_object_add(top, "global", global);
		json_object_object_add(top, "capacity", json_capacity(maps, &v));
		print_json(top);
	} else {
		printf("\n");
		for (int s = 0; s < XDPFWD_STAT_MAX; s++)
			printf("%-24s %llu\n", xdpfwd_stat_names[s],
			       (unsigned long long)v.stats[s]);
	}
	view_free(&v);
	err = policy.failed ? -ENOMEM : 0;
	strbuf_free(&policy);
	if (err)
		pr_warn("cannot show the counters: %s\n", strerror(-err));
	return err;
}

/* One mapping's traffic over the last interval of stats --watch. */
struct rate_row {
	const struct slot_mapping *sm;
	double rx_pps, rx_bps, tx_pps, tx_bps;
};

static int compare_rows_by_traffic(const void *pa, const void *pb)
{
	const struct rate_row *a = pa, *b = pb;
	double ta = a->rx_bps + a->tx_bps, tb = b->rx_bps + b->tx_bps;

	if (ta != tb)
		return ta < tb ? 1 : -1;
	ta = a->rx_pps + a->tx_pps;
	tb = b->rx_pps + b->tx_pps;
	if (ta != tb)
		return ta < tb ? 1 : -1;
	return a->sm < b->sm ? -1 : a->sm > b->sm; /* the table's own order */
}

/* A counter can go backwards only when its slot was freed and handed to a
 * new mapping, whose counters start at zero. */
static double rate(__u64 now, __u64 before, double seconds)
{
	return (now >= before ? now - before : now) / seconds;
}

static void human(char *buf, size_t len, double v, const char *unit)
{
	static const char prefix[] = " kMGT";
	int p = 0;

	while (v >= 1000 && p < 4) {
		v /= 1000;
		p++;
	}
	if (p)
		snprintf(buf, len, "%.1f%c%s", v, prefix[p], unit);
	else
		snprintf(buf, len, "%.0f%s", v, unit);
}

static void print_frame_text(const struct rate_row *rows, size_t n, double interval, bool tty)
{
	char pub[ADDR_STR_LEN + 16], target[ADDR_STR_LEN], r[4][24];
	size_t shown = n;
	struct winsize ws;
	time_t now = time(NULL);
	char when[32];

	strftime(when, sizeof(when), "%F %T", localtime(&now));
	if (tty) {
		fputs("\033[H\033[J", stdout);
		/* Two header lines: the busiest rows fill the rest of the screen. */
		if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 3 &&
		    shown > ws.ws_row - 3u)
			shown = ws.ws_row - 3u;
	}
	printf("xdpfwd stats every %gs at %s: %zu mappings, busiest first%s\n", interval, when, n,
	       shown < n ? " (more below the screen)" : "");
	printf("%-5s %-36s %-26s %10s %10s %10s %10s\n", "PROTO", "PUBLIC", "TARGET", "RX_PPS",
	       "RX_BPS", "TX_PPS", "TX_BPS");
	for (size_t i = 0; i < shown; i++) {
		text_row(&rows[i].sm->m, pub, sizeof(pub), target, sizeof(target));
		human(r[0], sizeof(r[0]), rows[i].rx_pps, "");
		human(r[1], sizeof(r[1]), rows[i].rx_bps, "b");
		human(r[2], sizeof(r[2]), rows[i].tx_pps, "");
		human(r[3], sizeof(r[3]), rows[i].tx_bps, "b");
		printf("%-5s %-36s %-26s %10s %10s %10s %10s\n", proto_name(rows[i].sm->m.proto),
		       pub, target, r[0], r[1], r[2], r[3]);
	}
	if (!tty)
		printf("\n");
	fflush(stdout);
}

static void print_frame_json(const struct rate_row *rows, size_t n, double seconds)
{
	json_object *top = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(top, "time", json_object_new_int64(time(NULL)));
	json_object_object_add(top, "seconds", json_object_new_double(seconds));
	for (size_t i = 0; i < n; i++) {
		json_object *o =
		    json_mapping(&rows[i].sm->m, NULL, &rows[i].sm->owner, boot_clock_ns());

		json_object_object_add(o, "rx_pps", json_object_new_double(rows[i].rx_pps));
		json_object_object_add(o, "rx_bps", json_object_new_double(rows[i].rx_bps));
		json_object_object_add(o, "tx_pps", json_object_new_double(rows[i].tx_pps));
		json_object_object_add(o, "tx_bps", json_object_new_double(rows[i].tx_bps));
		json_object_array_add(arr, o);
	}
	json_object_object_add(top, "mappings", arr);
	/* One object per line, so a consumer can read frames as they come. */
	puts(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(top);
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

/* What one frame of the watch needs from the one before: each slot's
 * counters then, and the rows of the rates since. */
struct watch {
	struct xdpfwd_counters *before; /* by slot; NULL before the first read */
	size_t before_cap;		/* slots in BEFORE */
	struct rate_row *rows;		/* one per mapping of the latest read */
	size_t rows_cap;
};

/* The rates of each mapping of V since the last frame, SECS ago, busiest
 * first, in W->rows: 0 or -ENOMEM. */
static int watch_rates(struct watch *w, const struct table_view *v, double secs)
{
	if (v->count > w->rows_cap) {
		free(w->rows);
		w->rows_cap = v->count;
		w->rows = malloc(v->count * sizeof(*w->rows));
		if (!w->rows)
			return -ENOMEM;
	}
	for (size_t i = 0; i < v->count; i++) {
		__u32 slot = v->list[i].slot;
		const struct xdpfwd_counters *c = &v->by_slot[slot];
		struct xdpfwd_counters b = {0};

		if (slot < w->before_cap)
			b = w->before[slot];
		w->rows[i] = (struct rate_row){
		    .sm = &v->list[i],
		    .rx_pps = rate(c->rx_packets, b.rx_packets, secs),
		    .rx_bps = 8 * rate(c->rx_bytes, b.rx_bytes, secs),
		    .tx_pps = rate(c->tx_packets, b.tx_packets, secs),
		    .tx_bps = 8 * rate(c->tx_bytes, b.tx_bytes, secs),
		};
	}
	if (v->count)
		qsort(w->rows, v->count, sizeof(*w->rows), compare_rows_by_traffic);
	return 0;
}

/* V's counters, by slot, for the next frame's rates: 0 or -ENOMEM. Counters
 * of slots not in the table read as zero: a mapping added before the next
 * frame starts from zero too. */
static int watch_remember(struct watch *w, const struct table_view *v)
{
	if (!w->before || v->slots_cap > w->before_cap) {
		free(w->before);
		w->before_cap = v->slots_cap;
		w->before = calloc(w->before_cap, sizeof(*w->before));
		if (!w->before)
			return -ENOMEM;
	}
	memset(w->before, 0, w->before_cap * sizeof(*w->before));
	for (size_t i = 0; i < v->count; i++)
		w->before[v->list[i].slot] = v->by_slot[v->list[i].slot];
	return 0;
}

int show_watch(const struct xdpfwd_maps *maps, double interval, bool json)
{
	struct timespec wait = {(time_t)interval, (long)((interval - (time_t)interval) * 1e9)};
	struct timespec then, now;
	struct table_view v = {0};
	struct watch w = {0};
	bool tty = isatty(STDOUT_FILENO);
	sigset_t stop;
	int err;

	/* Ctrl-C ends the watch between frames, never halfway through one. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	for (;;) {
		err = view_read(&v, maps);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (err)
			break;
		if (w.before) {
			double secs = seconds_between(&then, &now);

			err = watch_rates(&w, &v, secs);
			if (err)
				break;
			if (json)
				print_frame_json(w.rows, v.count, secs);
			else
				print_frame_text(w.rows, v.count, interval, tty);
		}
		err = watch_remember(&w, &v);
		if (err)
			break;
		then = now;
		if (sigtimedwait(&stop, NULL, &wait) >= 0)
			break;
	}
	if (err)
		pr_warn("stats: cannot read the counters: %s\n", strerror(-err));
	free(w.before);
	free(w.rows);
	view_free(&v);
	return err;
}
