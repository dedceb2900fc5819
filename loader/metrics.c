// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Names follow the Prometheus conventions: one xdpfwd_ prefix, base units,
 * _total on counters, HELP and TYPE on each. A mapping's series carry its
 * protocol, family and public port (a range as "6000-6009"), and its public
 * address when it names one; never the client's address, which identifies a
 * user.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capacity.h"
#include "metrics.h"

/* metrics_state_error()'s count, since serve started. */
static __u64 state_errors;

void metrics_state_error(void)
{
	__atomic_add_fetch(&state_errors, 1, __ATOMIC_RELAXED);
}

static void header(struct strbuf *b, const char *name, const char *type, const char *help)
{
	strbuf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Each mapping's labels, written once a scrape and copied into each of its
 * series: a mapping has up to ten, and formatting them anew each time was
 * most of a scrape's time with 65,536 mappings. */
struct labels {
	struct strbuf text;
	size_t *end; /* mapping i's labels end at end[i], start at end[i - 1] */
};

/* The labels that name M: its protocol, family and public port (a range as
 * "6000-6009"), and its public address when it names one, up to where a
 * series adds its own labels or closes the braces. */
static void mapping_labels(struct strbuf *out, const struct xdpfwd_mapping *m)
{
	char addr[ADDR_STR_LEN];

	strbuf_appendf(out, "{proto=\"%s\",family=\"%s\",port=\"%u", proto_name(m->proto),
		       family_label(m->family), m->public_port);
	if (m->port_count > 1)
		strbuf_appendf(out, "-%u", m->public_port + m->port_count - 1);
	strbuf_append(out, "\"");
	format_addr(addr, sizeof(addr), m->family, &m->public_addr);
	if (addr[0])
		strbuf_appendf(out, ",addr=\"%s\"", addr);
}

static int labels_build(struct labels *l, const struct table_view *view)
{
	memset(l, 0, sizeof(*l));
	l->end = malloc((view->count + 1) * sizeof(*l->end));
	if (!l->end)
		return -ENOMEM;
	l->text.hint = 64 * view->count + 64;
	for (size_t i = 0; i < view->count; i++) {
		mapping_labels(&l->text, &view->list[i].m);
		l->end[i] = l->text.len;
	}
	return l->text.failed ? -ENOMEM : 0;
}

static void labels_free(struct labels *l)
{
	strbuf_free(&l->text);
	free(l->end);
}

/* Opens a series of the I-th mapping: NAME and the labels that name it, up
 * to where the caller adds its own labels or closes the braces. */
static void series(struct strbuf *out, const char *name, const struct labels *l, size_t i)
{
	size_t start = i ? l->end[i - 1] : 0;

	strbuf_append(out, name);
	strbuf_appendn(out, l->text.data + start, l->end[i] - start);
}

/* SUFFIX, V in decimal and the line's end: without printf, for the same
 * reason as struct labels. */
static void value_line(struct strbuf *out, const char *suffix, unsigned long long v)
{
	char digits[24];
	size_t at = sizeof(digits);

	digits[--at] = '\n';
	do
		digits[--at] = (char)('0' + v % 10);
	while ((v /= 10));
	strbuf_append(out, suffix);
	strbuf_appendn(out, digits + at, sizeof(digits) - at);
}

/* Run time and run count of a pinned program, when the kernel keeps them. */
static void program_stats(struct strbuf *b, const struct pindir *pd)
{
	static const char *const progs[] = {XDPFWD_PROG_IN, XDPFWD_PROG_OUT, XDPFWD_PROG_TO_TUNNEL,
					    XDPFWD_PROG_FROM_TUNNEL};
	enum { N = sizeof(progs) / sizeof(progs[0]) };
	struct bpf_prog_info info[N];
	bool have[N] = {false};
	char path[PATH_MAX + 32];

	for (int i = 0; i < N; i++) {
		__u32 len = sizeof(info[i]);
		int fd;

		memset(&info[i], 0, sizeof(info[i]));
		pindir_file(pd, progs[i], path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		have[i] = bpf_obj_get_info_by_fd(fd, &info[i], &len) == 0;
		close(fd);
	}
	header(b, "xdpfwd_program_run_seconds_total", "counter",
	       "CPU time spent in the program while run-time statistics were enabled.");
	for (int i = 0; i < N; i++)
		if (have[i])
			strbuf_appendf(b, "xdpfwd_program_run_seconds_total{program=\"%s\"} %.9f\n",
				       info[i].name, info[i].run_time_ns / 1e9);
	header(b, "xdpfwd_program_runs_total", "counter",
	       "Runs of the program while run-time statistics were enabled.");
	for (int i = 0; i < N; i++)
		if (have[i])
			strbuf_appendf(b, "xdpfwd_program_runs_total{program=\"%s\"} %llu\n",
				       info[i].name, (unsigned long long)info[i].run_cnt);
}

/* Drops by each mapping's policy, by reason: a series only where a drop can
 * happen (an allowlist, a rate limit), so a table without policy scrapes as
 * fast as before it. */
static void policy_drops(struct strbuf *out, const struct table_view *view,
			 const struct labels *labels)
{
	static const struct {
		const char *reason;
		size_t off;
	} counts[] = {
	    {"not_allowed", offsetof(struct xdpfwd_counters, not_allowed)},
	    {"rate_limited", offsetof(struct xdpfwd_counters, rate_limited)},
	};

	header(out, "xdpfwd_mapping_dropped_packets_total", "counter",
	       "Packets to the mapping dropped by its policy, by reason (for the reasons its "
	       "policy has).");
	for (size_t i = 0; i < view->count; i++) {
		const struct xdpfwd_mapping *m = &view->list[i].m;
		const char *c = (const char *)&view->by_slot[view->list[i].slot];
		bool has[] = {m->allow_count != 0, m->rate.pps || m->new_rate.pps};

		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			if (!has[k])
				continue;
			series(out, "xdpfwd_mapping_dropped_packets_total", labels, i);
			strbuf_append(out, ",reason=\"");
			strbuf_append(out, counts[k].reason);
			value_line(out, "\"} ", *(const unsigned long long *)(c + counts[k].off));
		}
	}
}

/* The rate and the burst of each limit a mapping has, by limit. */
static void policy_limits(struct strbuf *out, const struct table_view *view,
			  const struct labels *labels)
{
	static const struct {
		const char *name, *help;
		bool burst;
	} limits[] = {
	    {"xdpfwd_mapping_rate_limit_pps",
	     "The mapping's --rate (packets) and --new-rate (new connections) per second.", false},
	    {"xdpfwd_mapping_rate_burst", "The burst of the mapping's --rate and --new-rate.",
	     true},
	};

	for (size_t f = 0; f < sizeof(limits) / sizeof(limits[0]); f++) {
		header(out, limits[f].name, "gauge", limits[f].help);
		for (size_t i = 0; i < view->count; i++) {
			const struct xdpfwd_mapping *m = &view->list[i].m;
			const struct xdpfwd_rate *r[] = {&m->rate, &m->new_rate};

			for (int k = 0; k < 2; k++) {
				if (!r[k]->pps)
					continue;
				series(out, limits[f].name, labels, i);
				strbuf_appendf(out, ",limit=\"%s\"} %u\n",
					       k ? "new_connections" : "packets",
					       limits[f].burst ? r[k]->burst : r[k]->pps);
			}
		}
	}
}

/* The size of each allowlist, for the mappings that have one. */
static void policy_allowlists(struct strbuf *out, const struct table_view *view,
			      const struct labels *labels)
{
	header(
	    out, "xdpfwd_mapping_allow_prefixes", "gauge",
	    "Source prefixes in the mapping's allowlist (mappings without one admit every source).");
	for (size_t i = 0; i < view->count; i++) {
		const struct xdpfwd_mapping *m = &view->list[i].m;

		if (!m->allow_count)
			continue;
		series(out, "xdpfwd_mapping_allow_prefixes", labels, i);
		strbuf_appendf(out, "} %u\n", m->allow_count);
	}
}

/* When each lease ends, as Unix time: its end in CLOCK_BOOTTIME moved onto
 * CLOCK_REALTIME by the two clocks' readings now. */
static void policy_expiry(struct strbuf *out, const struct table_view *view,
			  const struct labels *labels)
{
	struct timespec real;
	__u64 boot = boot_clock_ns();

	clock_gettime(CLOCK_REALTIME, &real);
	header(out, "xdpfwd_mapping_expiry_timestamp_seconds", "gauge",
	       "When the mapping's lease (--ttl) ends, as Unix time.");
	for (size_t i = 0; i < view->count; i++) {
		const struct xdpfwd_mapping *m = &view->list[i].m;
		double left;

		if (!m->expires_ns)
			continue;
		left = ((double)m->expires_ns - (double)boot) / 1e9;
		series(out, "xdpfwd_mapping_expiry_timestamp_seconds", labels, i);
		strbuf_appendf(out, "} %.3f\n", real.tv_sec + real.tv_nsec / 1e9 + left);
	}
}

/* Each mapping's policy: only the mappings that have the limit get a series. */
static void policy_metrics(struct strbuf *out, const struct table_view *view,
			   const struct labels *labels)
{
	policy_drops(out, view, labels);
	policy_limits(out, view, labels);
	policy_allowlists(out, view, labels);
	policy_expiry(out, view, labels);
}

/* Packets and bytes of each mapping, each way. */
static void mapping_counters(struct strbuf *out, const struct table_view *view,
			     const struct labels *labels)
{
	static const struct {
		const char *name, *help;
		size_t in, out;
	} families[] = {
	    {"xdpfwd_mapping_packets_total", "Packets translated by the mapping.",
	     offsetof(struct xdpfwd_counters, rx_packets),
	     offsetof(struct xdpfwd_counters, tx_packets)},
	    {"xdpfwd_mapping_bytes_total", "IP bytes translated by the mapping.",
	     offsetof(struct xdpfwd_counters, rx_bytes),
	     offsetof(struct xdpfwd_counters, tx_bytes)},
	};

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		header(out, families[f].name, "counter", families[f].help);
		for (size_t i = 0; i < view->count; i++) {
			const char *c = (const char *)&view->by_slot[view->list[i].slot];

			series(out, families[f].name, labels, i);
			value_line(out, ",direction=\"in\"} ",
				   *(const unsigned long long *)(c + families[f].in));
			series(out, families[f].name, labels, i);
			value_line(out, ",direction=\"out\"} ",
				   *(const unsigned long long *)(c + families[f].out));
		}
	}
}

/* The data path's counters, by hook and outcome. */
static void data_path_stats(struct strbuf *out, const struct table_view *view)
{
	header(
	    out, "xdpfwd_packets_total", "counter",
	    "Packets seen by the data path, by hook and outcome (forwarded, then the exit taken).");
	for (int s = 0; s < XDPFWD_STAT_MAX; s++) {
		const char *name = xdpfwd_stat_names[s];

		strbuf_appendf(out, "xdpfwd_packets_total{hook=\"%s\",outcome=\"%s\"} %llu\n",
			       xdpfwd_stat_hooks[s], name + (name[0] == 'i' ? 3 : 4),
			       (unsigned long long)view->stats[s]);
	}
}

int metrics_render(const struct pindir *pd, const struct xdpfwd_maps *maps, struct table_view *view,
		   __u64 expired, struct strbuf *out)
{
	struct timespec start, end;
	struct labels labels;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	strbuf_reset(out);
	err = view_read(view, maps);
	if (err)
		return err;
	err = labels_build(&labels, view);
	if (!err) {
		mapping_counters(out, view, &labels);
		data_path_stats(out, view);
		policy_metrics(out, view, &labels);
	}
	labels_free(&labels);
	if (err)
		return err;
	header(out, "xdpfwd_mappings", "gauge", "Mappings in the table.");
	strbuf_appendf(out, "xdpfwd_mappings %zu\n", view->count);
	header(out, "xdpfwd_capacity_mappings", "gauge",
	       "Mappings the maps hold (attach --capacity); twice as many ports.");
	strbuf_appendf(out, "xdpfwd_capacity_mappings %u\n", table_capacity(maps));
	header(out, "xdpfwd_mappings_expired_total", "counter",
	       "Mappings this daemon removed because their lease (--ttl) ended.");
	strbuf_appendf(out, "xdpfwd_mappings_expired_total %llu\n", (unsigned long long)expired);
	header(out, "xdpfwd_state_file_errors_total", "counter",
	       "Reads and writes of the state file serve could not do (its log says why).");
	strbuf_appendf(out, "xdpfwd_state_file_errors_total %llu\n",
		       (unsigned long long)__atomic_load_n(&state_errors, __ATOMIC_RELAXED));
	header(out, "xdpfwd_build_info", "gauge", "The running xdpfwd's version.");
	strbuf_appendf(out, "xdpfwd_build_info{version=\"%s\"} 1\n", XDPFWD_VERSION);
	program_stats(out, pd);
	clock_gettime(CLOCK_MONOTONIC, &end);
	header(out, "xdpfwd_scrape_duration_seconds", "gauge",
	       "Time this scrape took to read the maps and render.");
	strbuf_appendf(out, "xdpfwd_scrape_duration_seconds %.6f\n",
		       (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
	return out->failed ? -ENOMEM : 0;
}
