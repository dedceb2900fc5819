// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * main.c - the xdpfwd command line: its commands and options as tables
 * (cli.h), and their handlers. Every command that changes the table builds
 * the whole table as it should be, validates it completely, and only then
 * hands it to table_apply(): bad input never touches a map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attach.h"
#include "change.h"
#include "check.h"
#include "cli.h"
#include "fleet_cli.h"
#include "fleetd.h"
#include "txn.h"
#include "persist.h"
#include "restore.h"
#include "pinned_maps.h"
#include "localaddr.h"
#include "hugeheap.h"
#include "log.h"
#include "pcp_daemon.h"
#include "serve.h"
#include "show.h"
#include "textfile.h"

/*
 * The version, from debian/changelog's first line (the Makefile passes it),
 * and the git commit it was built from when built from a checkout
 * (`git describe --always --dirty`): `xdpfwd --version` prints
 * "xdpfwd 0.1.0 (git 17f7517-dirty)", or "xdpfwd 0.1.0" from a tarball.
 */
#ifndef XDPFWD_VERSION
#define XDPFWD_VERSION "dev"
#endif
#ifdef XDPFWD_COMMIT
#define XDPFWD_VERSION_LINE XDPFWD_VERSION " (git " XDPFWD_COMMIT ")"
#else
#define XDPFWD_VERSION_LINE XDPFWD_VERSION
#endif

#define STR_(x) #x
#define STR(x)	STR_(x)

/* Each command's options, typed: what cli_main hands its handler. */
struct attach_opts {
	const char *tunnel;
	int mode;      /* enum xdp_attach_mode */
	int fast_path; /* 1 on, 0 off, -1 not given */
	struct cli_prefixes clients;
	bool replace;
	__u32 capacity; /* 0: not given */
};

struct detach_opts {
	bool purge, purge_state;
};

/* add's policy stays text until the rule it applies to is parsed: an allow
 * prefix must be of the mapping's family (parse_policy()). */
struct add_opts {
	struct cli_strings allow;
	const char *rate, *new_rate, *ttl;
	bool force;
};

struct show_opts {
	bool json;
	double watch; /* seconds between frames of stats --watch; 0: no watch */
};

struct load_opts {
	bool force;
};

struct no_opts {
	char none;
};

struct serve_opts {
	const char *metrics, *config;
	struct pcpd_options pcp;     /* NAT-PMP/PCP, checked by pcpd_parse() */
	struct fleetd_options fleet; /* etcd as the table, checked by fleetd_parse() */
};

struct check_opts {
	bool json;
	const char *metrics; /* NULL: the unit's, else serve's default */
};

/* The pinned table a command reads or (WRITES) changes, and its state file. */
struct table {
	struct pindir pd;
	struct xdpfwd_maps maps;
	struct xdpfwd_config config;
	char state[PATH_MAX + 64];
};

/* A state file this build cannot read is never overwritten: the change that
 * would rewrite it is refused first. */
static int refuse_unreadable_state(const char *cmd, const char *state)
{
	char err[ERR_LEN], marker[PATH_MAX + 80];

	if (state_check(state, err)) {
		pr_warn("%s: %s; nothing was changed: repair the file or move it away\n", cmd, err);
		return -1;
	}
	/* The maps of a rebuild that did not finish lack the table the file
	 * holds: a change written now would drop it from the file. */
	state_rebuild_marker(marker, sizeof(marker), state);
	if (!access(marker, F_OK)) {
		pr_warn("%s: serve's rebuild from the state file %s did not finish; nothing was "
			"changed: start serve (systemctl restart xdpfwd) to finish it\n",
			cmd, state);
		return -1;
	}
	return 0;
}

static void table_close(struct table *t)
{
	maps_close(&t->maps);
	pindir_close(&t->pd);
}

static int table_open(const struct cli_context *ctx, bool writes, struct table *t)
{
	if (pindir_open(&t->pd, ctx->pin_dir, PINDIR_EXISTING))
		return -1;
	if (maps_open(&t->pd, &t->maps, &t->config)) {
		pindir_close(&t->pd);
		return -1;
	}
	state_path(t->state, sizeof(t->state), ctx->state_dir, t->pd.path);
	if (writes && (pindir_lock(&t->pd) || refuse_unreadable_state(ctx->cmd->name, t->state))) {
		table_close(t);
		return -1;
	}
	return 0;
}

/* The policy options of the command line, for each rule add parsed. */
static int policy_options(struct rule *r, const struct add_opts *opt, char *err)
{
	for (size_t i = 0; i < opt->allow.count; i++) {
		/* One prefix an option; a config file's allow= takes lists. */
		if (strchr(opt->allow.values[i], ',')) {
			snprintf(err, ERR_LEN,
				 "--allow '%s': one prefix per --allow: repeat --allow for more",
				 opt->allow.values[i]);
			return -1;
		}
		if (parse_policy(r, "allow", opt->allow.values[i], err))
			return -1;
	}
	if (opt->rate && parse_policy(r, "rate", opt->rate, err))
		return -1;
	if (opt->new_rate && parse_policy(r, "new-rate", opt->new_rate, err))
		return -1;
	return opt->ttl ? parse_policy(r, "ttl", opt->ttl, err) : 0;
}

static void print_rule(const char *verb, const struct rule *r)
{
	struct strbuf policy = STRBUF_INIT;
	char line[200];

	format_mapping(line, sizeof(line), &r->m);
	format_policy(&policy, r);
	printf("%s %s%s%s\n", verb, line, policy.len ? " " : "", strbuf_str(&policy));
	strbuf_free(&policy);
}

/* The rules of `add PROTO PUBLIC TARGET` with their policy: how many (two
 * for "both"), or -1 after saying why. */
static int add_parse(char **argv, const struct add_opts *opt, struct rule parsed[2])
{
	char err[ERR_LEN];
	int got = parse_rule(argv[0], argv[1], argv[2], parsed, err);

	for (int i = 0; got > 0 && i < got; i++)
		if (policy_options(&parsed[i], opt, err))
			got = -1;
	if (got < 0)
		pr_warn("add: %s\n", err);
	return got;
}

/* The new rules, or the renewal of the live mappings they repeat (with
 * their new policy): found through the maps' indexes, O(1) in the table. */
static int add_rules(const struct table *t, const struct add_opts *opt, struct rule *parsed,
		     int got, const struct local_addrs *pub)
{
	struct apply_summary sum;
	bool renewed[2] = {false, false};
	struct batch b = {.put = parsed, .nput = got, .renew = true, .renewed = renewed};
	int ret;

	ret = apply_batch(
	    &t->maps, &t->config, &b,
	    &(struct change){
		.what = "add", .check_host = !opt->force, .state = t->state, .local = pub},
	    &sum);
	for (int i = 0; !ret && i < got; i++)
		print_rule(renewed[i] ? "renewed" : "added", &parsed[i]);
	return ret ? 1 : 0;
}

/* The checks of check_host_addrs() for the GOT new rules, against the
 * attached interfaces (the public address's only without --force), the
 * public interface's addresses read into PUB (*HAVE_PUB: they could be).
 * 0, or -1 after saying why. */
static int add_check_host(const struct table *t, const struct rule *parsed, int got, bool force,
			  struct local_addrs *pub, bool *have_pub)
{
	struct local_addrs tun;
	struct host_addrs h = {.clients = t->config.clients,
			       .nclients = t->config.client_count < XDPFWD_MAX_CLIENT_NETS
					       ? t->config.client_count
					       : XDPFWD_MAX_CLIENT_NETS};
	char err[ERR_LEN];

	*have_pub = !local_addrs_read(t->config.public_ifindex, pub);
	if (!force && *have_pub)
		h.public = pub;
	if (!local_addrs_read(t->config.tunnel_ifindex, &tun))
		h.tunnel = &tun;
	for (int i = 0; i < got; i++)
		if (check_host_addrs(&parsed[i], &h, err)) {
			pr_warn("add: %s\n", err);
			return -1;
		}
	return 0;
}

static int cmd_add(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct add_opts *opt = opts;
	struct local_addrs pub;
	struct rule parsed[2];
	bool have_pub;
	struct table t;
	int got, ret;

	/* The command line first: a bad one is said before any state is read. */
	got = add_parse(argv, opt, parsed);
	if (got < 0)
		return 2;
	if (table_open(ctx, true, &t))
		return 1;
	ret = add_check_host(&t, parsed, got, opt->force, &pub, &have_pub)
		  ? 2
		  : add_rules(&t, opt, parsed, got, have_pub ? &pub : NULL);
	table_close(&t);
	return ret;
}

static bool del_matches(const struct xdpfwd_mapping *have, const struct xdpfwd_mapping *want,
			bool any_proto)
{
	if (!any_proto && have->proto != want->proto)
		return false;
	if (want->family && have->family != want->family)
		return false;
	return !memcmp(&have->public_addr, &want->public_addr, sizeof(want->public_addr));
}

/* The rules of HAVE that `del` keeps, into KEPT; how many it deletes, or -1
 * when WANT cuts into a mapping (said). */
static long del_filter(const struct rule *have, size_t n, const struct xdpfwd_mapping *want,
		       bool any_proto, const char *public, struct rule *kept, size_t *nkept,
		       struct strbuf *said)
{
	char line[200];
	long removed = 0;

	*nkept = 0;
	for (size_t i = 0; i < n; i++) {
		const struct xdpfwd_mapping *m = &have[i].m;
		unsigned int last = m->public_port + m->port_count - 1;

		if (del_matches(m, want, any_proto) && m->public_port == want->public_port &&
		    m->port_count == want->port_count) {
			format_mapping(line, sizeof(line), m);
			strbuf_appendf(said, "deleted %s\n", line);
			removed++;
			continue;
		}
		if (del_matches(m, want, any_proto) && want->public_port <= last &&
		    want->public_port + want->port_count - 1 >= m->public_port) {
			format_mapping(line, sizeof(line), m);
			pr_warn(
			    "del: '%s' is not a whole mapping; it meets %s: delete that whole range\n",
			    public, line);
			return -1;
		}
		kept[(*nkept)++] = have[i];
	}
	return removed;
}

/* `del PROTO PUBLIC` as a mapping to match; -1 after saying why. */
static int del_parse(char **argv, struct xdpfwd_mapping *want, bool *any_proto)
{
	char err[ERR_LEN];

	*any_proto = !strcmp(argv[0], "both");
	if (strcmp(argv[0], "tcp") && strcmp(argv[0], "udp") && !*any_proto) {
		pr_warn("del: protocol '%s' is unknown: allowed tcp, udp, both\n", argv[0]);
		return -1;
	}
	want->proto = argv[0][0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
	if (parse_public(argv[1], want, err)) {
		pr_warn("del: %s\n", err);
		return -1;
	}
	return 0;
}

/* A mapping that waits in the state file (serve could not apply it yet)
 * goes the same way as one in the maps: PENDING keeps the others. */
static long del_pending(struct rule *pending, size_t *npending, const struct xdpfwd_mapping *want,
			bool any_proto, struct strbuf *said)
{
	char line[200];
	size_t kept = 0;
	long removed = 0;

	for (size_t i = 0; i < *npending; i++) {
		const struct xdpfwd_mapping *m = &pending[i].m;

		if (del_matches(m, want, any_proto) && m->public_port == want->public_port &&
		    m->port_count == want->port_count) {
			format_public_side(line, sizeof(line), m);
			strbuf_appendf(said, "deleted %s (pending)\n", line);
			removed++;
			continue;
		}
		pending[kept++] = pending[i];
	}
	*npending = kept;
	return removed;
}

static int del_rules_whole(const struct table *t, char **argv, const struct xdpfwd_mapping *want,
			   bool any_proto)
{
	struct apply_summary sum;
	struct rule *kept, *have, *pending = NULL;
	struct strbuf said = STRBUF_INIT;
	struct pending_set waiting;
	char err[ERR_LEN];
	size_t n, nkept, npending = 0;
	long removed;
	int ret = 1;

	if (state_pending(t->state, &pending, &npending, err)) {
		pr_warn("del: %s\n", err);
		return 1;
	}
	if (live_rules(&t->maps, &have, &n, 0)) {
		free(pending);
		return 1;
	}
	kept = malloc((n + 1) * sizeof(*kept));
	if (!kept) {
		free(have);
		free(pending);
		return 1;
	}
	removed = del_filter(have, n, want, any_proto, argv[1], kept, &nkept, &said);
	if (removed >= 0)
		removed += del_pending(pending, &npending, want, any_proto, &said);
	if (!removed)
		pr_warn("del: no %s mapping on '%s' (xdpfwd list shows them)\n", argv[0], argv[1]);
	waiting = (struct pending_set){.rules = pending, .count = npending};
	if (removed > 0)
		ret = apply(&t->maps, &t->config, have, n, kept, nkept,
			    &(struct change){.what = "del", .state = t->state, .pending = &waiting},
			    &sum)
			  ? 1
			  : 0;
	if (!ret)
		fputs(strbuf_str(&said), stdout); /* only what was done */
	strbuf_free(&said);
	free(kept);
	free(have);
	free(pending);
	return ret;
}

/* The live mappings on WANT's public ports of family FAMILY and protocol
 * PROTO, found through their forward entries (keyed by the address each
 * answers from: for a wildcard, one of LOCAL's), into FOUND (N of them, CAP
 * room); -1 after saying why when WANT cuts into one. */
static int del_probe(const struct table *t, const struct xdpfwd_mapping *want, __u8 family,
		     __u8 proto, const struct local_addrs *local, const char *public,
		     struct rule *found, size_t *n, size_t cap)
{
	struct xdpfwd_mapping probe = *want;
	struct rule r;
	char line[200];

	probe.family = family;
	probe.proto = proto;
	for (size_t a = 0; a <= local->count; a++) {
		if (a == local->count ? !!memcmp(&want->public_addr, &(union xdpfwd_addr){0},
						 sizeof(want->public_addr))
				      : local->entry[a].family != family)
			continue;
		probe.source_addr = a == local->count ? want->public_addr : local->entry[a].addr;
		for (__u16 i = 0; i < want->port_count; i++) {
			bool seen = false;

			if (table_find(&t->maps, false, &probe, i, &r) <= 0 ||
			    !del_matches(&r.m, &probe, false))
				continue;
			if (r.m.public_port != want->public_port ||
			    r.m.port_count != want->port_count) {
				format_mapping(line, sizeof(line), &r.m);
				pr_warn(
				    "del: '%s' is not a whole mapping; it meets %s: delete that "
				    "whole range\n",
				    public, line);
				return -1;
			}
			for (size_t k = 0; k < *n && !seen; k++)
				seen = found[k].slot == r.slot;
			if (!seen && *n < cap)
				found[(*n)++] = r;
		}
	}
	return 0;
}

/*
 * del without reading the table: the mappings WANT names are found through
 * the forward entries. 1 when that cannot tell (nothing found there, or
 * mappings wait in the state file): del_rules_whole() decides then, as
 * before. 0 or -1 otherwise (-1 said why).
 */
static int del_indexed(const struct table *t, const struct xdpfwd_mapping *want, bool any_proto,
		       const char *public)
{
	static const __u8 families[] = {AF_INET, AF_INET6}, protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct rule found[16], *pending = NULL;
	struct local_addrs local = {0};
	struct apply_summary sum;
	char err[ERR_LEN], line[200];
	size_t n = 0, npending = 0;

	if (state_pending(t->state, &pending, &npending, err) || npending) {
		free(pending);
		return 1;
	}
	if (local_addrs_read(t->config.public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	for (int f = 0; f < 2; f++)
		for (int p = 0; p < 2; p++) {
			if ((want->family && want->family != families[f]) ||
			    (!any_proto && want->proto != protos[p]))
				continue;
			if (del_probe(t, want, families[f], protos[p], &local, public, found, &n,
				      sizeof(found) / sizeof(found[0])))
				return -1;
		}
	if (!n)
		return 1;
	if (apply_batch(&t->maps, &t->config, &(struct batch){.drop = found, .ndrop = n},
			&(struct change){.what = "del", .state = t->state}, &sum))
		return -1;
	for (size_t i = 0; i < n; i++) {
		format_mapping(line, sizeof(line), &found[i].m);
		printf("deleted %s\n", line);
	}
	return 0;
}

static int del_rules(const struct table *t, char **argv, const struct xdpfwd_mapping *want,
		     bool any_proto)
{
	int ret = del_indexed(t, want, any_proto, argv[1]);

	return ret == 1 ? del_rules_whole(t, argv, want, any_proto) : ret ? 1 : 0;
}

static int cmd_del(const struct cli_context *ctx, const void *opts, char **argv)
{
	struct xdpfwd_mapping want = {0};
	struct table t;
	bool any_proto;
	int ret;

	(void)opts;
	if (del_parse(argv, &want, &any_proto))
		return 2;
	if (table_open(ctx, true, &t))
		return 1;
	ret = del_rules(&t, argv, &want, any_proto);
	table_close(&t);
	return ret;
}

/* A FILE with no mappings empties the table: only with --force (refused
 * with exit status 2, as bad input, by load_file_cli()). */
static int cmd_load(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct load_opts *opt = opts;
	struct table t;
	int ret;

	if (table_open(ctx, true, &t))
		return 1;
	ret = load_file_cli(&t.maps, &t.config, argv[0], opt->force, t.state);
	table_close(&t);
	return ret == -ENOTEMPTY ? 2 : ret ? 1 : 0;
}

static int cmd_list(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct show_opts *opt = opts;
	struct table t;
	int ret;

	(void)argv;
	if (table_open(ctx, false, &t))
		return 1;
	ret = show_list(&t.maps, opt->json) ? 1 : 0;
	table_close(&t);
	return ret;
}

static int cmd_stats(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct show_opts *opt = opts;
	struct table t;
	int ret;

	(void)argv;
	if (table_open(ctx, false, &t))
		return 1;
	if (opt->watch)
		ret = show_watch(&t.maps, opt->watch, opt->json) ? 1 : 0;
	else
		ret = show_stats(&t.maps, opt->json) ? 1 : 0;
	table_close(&t);
	return ret;
}

/* attach and detach, all of it or nothing (txn.h): the pin directory locked
 * and the state file readable before, the state file saying what they left
 * after (attach.h). */
static int attachment_run(const struct cli_context *ctx, const struct attach_opts *aopt,
			  const struct detach_opts *dopt, const char *iface)
{
	const char *cmd = ctx->cmd->name;
	enum detach_purge purge = !dopt		      ? DETACH_KEEP_MAPS
				  : dopt->purge_state ? DETACH_PURGE_STATE
				  : dopt->purge	      ? DETACH_PURGE_MAPS
						      : DETACH_KEEP_MAPS;
	char state[PATH_MAX + 64];
	struct pindir pd;
	bool nothing_pinned;
	struct txn t;
	char marker[PATH_MAX + 16];
	int ret, undo = 0;

	if (pindir_open(&pd, ctx->pin_dir, aopt ? PINDIR_CREATE : PINDIR_EXISTING))
		return 1;
	state_path(state, sizeof(state), ctx->state_dir, pd.path);
	/* detach --purge-state after a --purge: no directory to lock, only the
	 * state file to remove (detach_cmd). */
	nothing_pinned = dopt && dopt->purge_state && access(pd.path, F_OK) && errno == ENOENT;
	if ((!nothing_pinned && pindir_lock(&pd)) ||
	    (!(dopt && dopt->purge_state) && refuse_unreadable_state(cmd, state))) {
		pindir_close(&pd);
		return 1;
	}
	txn_begin(&t);
	/* With the state file, the change marker (persist.h) that the table's
	 * changes inside this transaction make: a rollback puts it back too. */
	state_changing_path(marker, sizeof(marker), state);
	ret = txn_take_file(&t, state);
	ret = ret ?: txn_take_file(&t, marker);
	if (ret)
		pr_warn("%s: cannot read the state file %s first: %s\n", cmd, state,
			strerror(-ret));
	else if (aopt)
		ret = attach_cmd(&pd,
				 &(struct attach_req){iface, aopt->tunnel, aopt->mode,
						      aopt->fast_path, aopt->clients.net,
						      aopt->clients.count, aopt->capacity},
				 aopt->replace, state, &t);
	else
		ret = detach_cmd(&pd, iface, purge, state, &t);
	if (ret) {
		undo = txn_rollback(&t);
		report_undo(cmd, undo);
	} else {
		txn_commit(&t);
	}
	if (aopt)
		restore_finish(state, undo);
	pindir_close(&pd);
	return ret ? 1 : 0;
}

static int cmd_attach(const struct cli_context *ctx, const void *opts, char **argv)
{
	return attachment_run(ctx, opts, NULL, argv[0]);
}

static int cmd_detach(const struct cli_context *ctx, const void *opts, char **argv)
{
	return attachment_run(ctx, NULL, opts, argv[0]);
}

static int cmd_serve(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct serve_opts *opt = opts;
	struct sockaddr_storage listen;
	char err[ERR_LEN];
	struct pindir pd;
	int ret = 1;

	struct pcpd_config pcp;
	struct fleetd_config fleet;

	(void)argv;
	if (parse_listen(opt->metrics, &listen, err)) { /* the command line first */
		pr_warn("serve: --metrics: %s\n", err);
		return 2;
	}
	if (opt->config && opt->fleet.urls) {
		pr_warn("serve: --config and --fleet both make the table: give one\n");
		return 2;
	}
	if (fleetd_parse(&opt->fleet, &fleet, err)) {
		pr_warn("serve: %s\n", err);
		return 2;
	}
	if (pcpd_parse(&opt->pcp, &pcp, err)) {
		pr_warn("serve: %s\n", err);
		fleetd_config_free(&fleet);
		return 2;
	}
	if (!pindir_open(&pd, ctx->pin_dir, PINDIR_CREATE)) {
		ret = serve_cmd(&pd, opt->metrics, ctx->state_dir, opt->config, &pcp, &fleet);
		ret = ret == -EINVAL ? 2 : ret ? 1 : 0;
	}
	pindir_close(&pd);
	pcpd_config_free(&pcp);
	fleetd_config_free(&fleet);
	return ret;
}

static int cmd_fleet(const struct cli_context *ctx, const void *opts, char **argv)
{
	(void)ctx;
	return fleet_cli(opts, argv);
}

static int cmd_check(const struct cli_context *ctx, const void *opts, char **argv)
{
	const struct check_opts *opt = opts;
	struct check_request req = {ctx->pin_dir, ctx->state_dir, opt->metrics};
	struct check_report r = {0};
	struct strbuf out = STRBUF_INIT;
	struct sockaddr_storage listen;
	char err[ERR_LEN];
	int ret;

	(void)argv;
	if (opt->metrics && parse_listen(opt->metrics, &listen, err)) { /* the command line first */
		pr_warn("check: --metrics: %s\n", err);
		return 2;
	}
	ret = check_run(&req, &r);
	check_format(&r, opt->json, &out);
	fputs(strbuf_str(&out), stdout);
	ret = ret ? 2 : check_exit(&r);
	strbuf_free(&out);
	check_free(&r);
	return ret;
}

/* Every option, in the order getopt_long matches abbreviations (so that
 * "--t" stays ambiguous between --tunnel and --ttl, as it always was). */
enum {
	O_PIN_DIR,
	O_TUNNEL,
	O_MODE,
	O_JSON,
	O_PURGE,
	O_PURGE_STATE,
	O_METRICS,
	O_VERBOSE,
	O_HELP,
	O_VERSION,
	O_WATCH,
	O_FAST_PATH,
	O_ALLOW,
	O_RATE,
	O_NEW_RATE,
	O_TTL,
	O_FORCE,
	O_CLIENTS,
	O_STATE_DIR,
	O_REPLACE,
	O_CAPACITY,
	O_CONFIG,
	O_PCP,
	O_PCP_POOL,
	O_PCP_QUOTA,
	O_PCP_LIFETIME,
	O_PCP_REUSE_DELAY,
	O_PCP_RATE,
	O_PCP_PORT0,
	O_PCP_HOOK,
	O_FLEET,
	O_GATEWAY,
	O_FLEET_CERT,
	O_FLEET_KEY,
	O_FLEET_CA,
	O_FLEET_USER,
	O_PORT,
	O_DAYS,
	O_COUNT
};

/* Refuse groups: the order in which options a command does not take are
 * refused, each group by one message. */
enum {
	R_ATTACH = 1,
	R_JSON,
	R_WATCH,
	R_METRICS,
	R_POLICY,
	R_FORCE,
	R_ATTACH_MORE,
	R_CONFIG,
	R_PURGE,
	R_PCP,
	R_FLEET
};

static const struct cli_value modes[] = {
    {"native", XDP_MODE_NATIVE}, {"generic", XDP_MODE_SKB}, {NULL, 0}};
static const struct cli_value on_off[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
static const struct cli_value port0_modes[] = {{"refuse", 0}, {"symmetric", 1}, {NULL, 0}};

#define PCP_OPT .refuse_group = R_PCP, .modifier = true

#define POLICY .refuse_group = R_POLICY, .label = "POLICY"

static const struct cli_option options[O_COUNT] = {
    [O_PIN_DIR] = {"pin-dir", 0, CLI_GLOBAL, CLI_GLOBAL_PIN_DIR, "DIR",
		   .help = "The bpffs directory that holds the maps and programs (default "
			   "$XDPFWD_PIN_DIR, else " XDPFWD_DEFAULT_PIN_DIR "); one per network "
			   "namespace.",
		   .brief = "default $XDPFWD_PIN_DIR or " XDPFWD_DEFAULT_PIN_DIR,
		   .complete = CLI_COMPLETE_DIR},
    [O_STATE_DIR] =
	{"state-dir", 0, CLI_GLOBAL, CLI_GLOBAL_STATE_DIR, "DIR",
	 .help =
	     "Where the state file is kept (default $XDPFWD_STATE_DIR, else " XDPFWD_DEFAULT_STATE_DIR
	     ").",
	 .brief = "default $XDPFWD_STATE_DIR or " XDPFWD_DEFAULT_STATE_DIR, .usage_break = true,
	 .complete = CLI_COMPLETE_DIR},
    [O_VERBOSE] = {"verbose", 'v', CLI_GLOBAL, CLI_GLOBAL_VERBOSE,
		   .help = "More messages: once for information, twice for debugging, with "
			   "libbpf's and libxdp's own.",
		   .usage = "-v (info), -vv (debug, with libbpf and libxdp)", .usage_break = true},
    [O_VERSION] = {"version", 0, CLI_GLOBAL, CLI_GLOBAL_VERSION, .help = "Print the version."},
    [O_HELP] = {"help", 'h', CLI_GLOBAL, CLI_GLOBAL_HELP,
		.help = "Print the usage text, or with a command, its help."},
    [O_TUNNEL] = {"tunnel", 0, CLI_STRING, .metavar = "IFACE",
		  .help = "The tunnel device the clients are behind (WireGuard, TUN or an "
			  "Ethernet device).",
		  .refuse_group = R_ATTACH, .complete = CLI_COMPLETE_IFACE},
    [O_MODE] = {"mode", 0, CLI_ENUM, .values = modes,
		.help = "XDP in the driver (native, the default) or in the generic path, for "
			"drivers without XDP.",
		.refuse_group = R_ATTACH, .complete = CLI_COMPLETE_WORDS},
    [O_FAST_PATH] = {"fast-path", 0, CLI_ENUM, .values = on_off,
		     .help =
			 "Redirect packets to their device from XDP and tc (on, the default; "
			 "with --replace, as attached) or hand every packet to the stack (off).",
		     .refuse_group = R_ATTACH, .complete = CLI_COMPLETE_WORDS},
    [O_CLIENTS] = {"clients", 0, CLI_PREFIXES, .metavar = "CIDR[,CIDR]",
		   .max = XDPFWD_MAX_CLIENT_NETS,
		   .help = "The networks every target must lie in, 1-" STR(
		       XDPFWD_MAX_CLIENT_NETS) " of them (default: any address behind the "
					       "tunnel).",
		   .refuse_group = R_ATTACH_MORE, .usage_break = true},
    [O_REPLACE] = {"replace", 0, CLI_FLAG,
		   .help = "Swap the running programs for this build's, keeping the maps: "
			   "mappings and counters stay.",
		   .refuse_group = R_ATTACH_MORE, .modifier = true},
    [O_CAPACITY] =
	{"capacity", 0, CLI_COUNT, .metavar = "N", .min = XDPFWD_MIN_CAPACITY,
	 .max = XDPFWD_MAX_CAPACITY,
	 .help =
	     "The mappings the maps hold, " STR(XDPFWD_MIN_CAPACITY) "-" STR(XDPFWD_MAX_CAPACITY) " (default " STR(
		 XDPFWD_DEFAULT_CAPACITY) "; with "
					  "maps pinned: as they are), and twice as many "
					  "ports. With --replace, another N resizes the maps, "
					  "the table kept.",
	 .refuse_group = R_ATTACH_MORE},
    [O_PURGE] = {"purge", 0, CLI_FLAG,
		 .help = "Remove the maps and counters too. The state file keeps the table (detach "
			 "says where), and a later attach writes it back.",
		 .refuse_group = R_PURGE},
    [O_PURGE_STATE] = {"purge-state", 0, CLI_FLAG,
		       .help = "What --purge removes, and the state file: the table is gone.",
		       .refuse_group = R_PURGE},
    [O_ALLOW] = {"allow", 0, CLI_STRINGS, .metavar = "CIDR", .max = CLI_MAX_REPEAT,
		 .help = "Forward only packets from this source network; repeatable, at most " STR(
		     XDPFWD_MAX_ALLOW) " prefixes per mapping, of the mapping's family.",
		 .limit = "at most " STR(XDPFWD_MAX_ALLOW) " prefixes per mapping", POLICY,
		 .refuse_hint = "a config file takes them as allow=, rate=, new-rate=, ttl="},
    [O_RATE] = {"rate", 0, CLI_STRING, .metavar = "PPS[:BURST]",
		.help = "Packets per second for the mapping, 1-" STR(
		    RATE_MAX_PPS) ", with a "
				  "burst of 1-" STR(RATE_MAX_BURST) " (default: PPS).",
		POLICY},
    [O_NEW_RATE] = {"new-rate", 0, CLI_STRING, .metavar = "PPS[:BURST]",
		    .help = "The same for packets that open a connection (TCP SYN) or come from "
			    "a new UDP peer.",
		    POLICY},
    [O_TTL] = {"ttl", 0, CLI_STRING, .metavar = "SECONDS",
	       .help = "A lease: the mapping ends after 1-" STR(TTL_MAX_S) " seconds unless "
									   "added again.",
	       POLICY, .usage_break = true},
    [O_FORCE] = {"force", 0, CLI_FLAG,
		 .help = "Skip the conflict checks: a socket on the public port, a public port in "
			 "the ephemeral port range, a target outside attach --clients, a public "
			 "address the public interface lacks (an overlap is refused always). For "
			 "load, also empty the table with a FILE that has no mappings.",
		 .refuse_group = R_FORCE, .modifier = true},
    [O_JSON] = {"json", 0, CLI_FLAG,
		.help = "JSON instead of a table (schemas under JSON in xdpfwd(8)).",
		.refuse_group = R_JSON},
    [O_WATCH] = {"watch", 0, CLI_SECONDS, .metavar = "SECONDS", .min = 0.1, .max = 3600, .bare = 1,
		 .help = "Rates per mapping, busiest first, every 0.1-3600 SECONDS (default 1) "
			 "until interrupted.",
		 .refuse_group = R_WATCH},
    [O_METRICS] = {"metrics", 0, CLI_STRING, .metavar = "ADDR:PORT",
		   .help = "Where /metrics listens (default " XDPFWD_DEFAULT_METRICS
			   "); IPv6 as [::1]:9977.",
		   .refuse_group = R_METRICS},
    [O_CONFIG] = {"config", 0, CLI_STRING, .metavar = "FILE",
		  .help = "Make the table this config file on start and on every SIGHUP.",
		  .refuse_group = R_CONFIG, .refuse_hint = "load FILE applies a file once",
		  .complete = CLI_COMPLETE_FILE},
    [O_PCP] = {"pcp", 0, CLI_STRING, .metavar = "ADDR[,ADDR]",
	       .help = "Answer NAT-PMP (RFC 6886) and PCP (RFC 6887) on UDP 5351 of these "
		       "1-" STR(PCPD_MAX_ADDRS) " addresses of the tunnel interface, IPv4 or IPv6; "
						"every grant is a mapping with a lease.",
	       PCP_OPT, .usage_break = true},
    [O_PCP_POOL] = {"pcp-pool", 0, CLI_STRING, .metavar = "PORTS",
		    .help = "The public ports to hand out, ranges of 1-65535 like "
			    "40000-49999,50100; required with --pcp.",
		    PCP_OPT},
    [O_PCP_QUOTA] = {"pcp-quota", 0, CLI_STRING, .metavar = "N",
		     .help = "Ports one client may hold, 1-" STR(PCPD_QUOTA_LIMIT) " (default 5).",
		     PCP_OPT},
    [O_PCP_LIFETIME] = {"pcp-lifetime", 0, CLI_STRING, .metavar = "MIN:MAX",
			.help = "The lifetime granted is the one asked for within MIN-MAX seconds, "
				"1 <= MIN <= MAX <= " STR(PCPD_LIFE_LIMIT) " (default 60:7200).",
			PCP_OPT},
    [O_PCP_REUSE_DELAY] = {"pcp-reuse-delay", 0, CLI_STRING, .metavar = "SECONDS",
			   .help = "A freed port waits 0-" STR(
			       PCPD_DELAY_LIMIT) " seconds for "
						 "the client that held it before another may get "
						 "it (default 600).",
			   PCP_OPT, .usage_break = true},
    [O_PCP_RATE] = {"pcp-rate", 0, CLI_STRING, .metavar = "PPS[:BURST]",
		    .help = "Requests per second per client, each 1-" STR(
			PCPD_RATE_LIMIT) " (default 10:20; "
					 "BURST default 2 x PPS, at most " STR(
					     PCPD_RATE_LIMIT) "); more are dropped.",
		    PCP_OPT},
    [O_PCP_PORT0] = {"pcp-internal-port-0", 0, CLI_ENUM, .values = port0_modes,
		     .help = "A NAT-PMP map of internal port 0: public P to the client's port P "
			     "(symmetric, the default) or refused (refuse).",
		     PCP_OPT, .complete = CLI_COMPLETE_WORDS, .usage_break = true},
    [O_PCP_HOOK] = {"pcp-hook", 0, CLI_STRING, .metavar = "COMMAND",
		    .help = "Run COMMAND with /bin/sh on every grant, port change, expiry and "
			    "delete of a dynamic mapping, never waiting for it.",
		    PCP_OPT},
    [O_FLEET] =
	{"fleet", 0, CLI_STRING, .metavar = "URL[,URL]",
	 .help = "etcd's client URLs, 1-" STR(
	     ETCD_MAX_ENDPOINTS) " of http:// or https:// "
				 "(fleet: default $XDPFWD_FLEET); with serve, the keys of --gateway in etcd are the "
				 "table, as a config file is with --config.",
	 .refuse_group = R_FLEET, .usage_break = true},
    [O_GATEWAY] = {"gateway", 0, CLI_STRING, .metavar = "NAME",
		   .help = "This gateway's name in etcd, 1-63 of A-Z a-z 0-9 . _ -; required with "
			   "--fleet.",
		   .refuse_group = R_FLEET},
    [O_FLEET_CERT] = {"fleet-cert", 0, CLI_STRING, .metavar = "FILE",
		      .help = "A TLS client certificate for etcd (PEM), with --fleet-key.",
		      .refuse_group = R_FLEET, .modifier = true, .complete = CLI_COMPLETE_FILE},
    [O_FLEET_KEY] = {"fleet-key", 0, CLI_STRING, .metavar = "FILE",
		     .help = "The key of --fleet-cert (PEM).", .refuse_group = R_FLEET,
		     .modifier = true, .complete = CLI_COMPLETE_FILE},
    [O_FLEET_CA] = {"fleet-ca", 0, CLI_STRING, .metavar = "FILE",
		    .help = "The CA that signed etcd's certificate (PEM; default the system's).",
		    .refuse_group = R_FLEET, .modifier = true, .complete = CLI_COMPLETE_FILE},
    [O_FLEET_USER] = {"fleet-user", 0, CLI_STRING, .metavar = "NAME",
		      .help = "An etcd user to authenticate as; its password from "
			      "$XDPFWD_FLEET_PASSWORD.",
		      .refuse_group = R_FLEET, .modifier = true},
    [O_PORT] = {"port", 0, CLI_STRING, .metavar = "N",
		.help =
		    "fleet reserve: this port, 1-65535 (default: a random free one of 1024-65535).",
		.refuse_group = R_FLEET, .modifier = true},
    [O_DAYS] = {"days", 0, CLI_STRING, .metavar = "D",
		.help = "fleet reserve: the reservation lasts 1-3650 days (default 60).",
		.refuse_group = R_FLEET, .modifier = true},
};

static const struct cli_arg iface_arg[] = {{"IFACE", CLI_COMPLETE_IFACE, NULL}};
static const struct cli_arg add_args[] = {{"PROTO", CLI_COMPLETE_WORDS, "tcp udp both"},
					  {"[ADDR:]PORT[-PORT]", CLI_COMPLETE_NONE, NULL},
					  {"TARGET[:PORT[-PORT]]", CLI_COMPLETE_NONE, NULL}};
static const struct cli_arg del_args[] = {{"PROTO", CLI_COMPLETE_WORDS, "tcp udp both"},
					  {"[ADDR:]PORT[-PORT]", CLI_COMPLETE_MAPPED, NULL}};
static const struct cli_arg file_arg[] = {{"FILE", CLI_COMPLETE_FILE, NULL}};
static const struct cli_arg no_args[] = {};
static const struct cli_arg fleet_args[] = {
    {"add|del|status", CLI_COMPLETE_WORDS, "add del status"},
    {"[ARG...]", CLI_COMPLETE_NONE, NULL}};

static const struct cli_bind attach_options[] = {
    DEFINE_OPTION(O_TUNNEL, struct attach_opts, tunnel, .required = true),
    DEFINE_OPTION(O_MODE, struct attach_opts, mode),
    DEFINE_OPTION(O_FAST_PATH, struct attach_opts, fast_path),
    DEFINE_OPTION(O_CLIENTS, struct attach_opts, clients),
    DEFINE_OPTION(O_CAPACITY, struct attach_opts, capacity),
    DEFINE_OPTION(O_REPLACE, struct attach_opts, replace),
};
static const struct cli_bind detach_options[] = {
    DEFINE_OPTION(O_PURGE, struct detach_opts, purge),
    DEFINE_OPTION(O_PURGE_STATE, struct detach_opts, purge_state),
};
static const struct cli_bind add_options[] = {
    DEFINE_OPTION(O_ALLOW, struct add_opts, allow),
    DEFINE_OPTION(O_RATE, struct add_opts, rate),
    DEFINE_OPTION(O_NEW_RATE, struct add_opts, new_rate),
    DEFINE_OPTION(O_TTL, struct add_opts, ttl),
    DEFINE_OPTION(O_FORCE, struct add_opts, force),
};
static const struct cli_bind del_options[] = {};
static const struct cli_bind list_options[] = {DEFINE_OPTION(O_JSON, struct show_opts, json)};
static const struct cli_bind stats_options[] = {
    DEFINE_OPTION(O_JSON, struct show_opts, json),
    DEFINE_OPTION(O_WATCH, struct show_opts, watch),
};
static const struct cli_bind load_options[] = {DEFINE_OPTION(O_FORCE, struct load_opts, force)};
static const struct cli_bind serve_options[] = {
    DEFINE_OPTION(O_METRICS, struct serve_opts, metrics),
    DEFINE_OPTION(O_CONFIG, struct serve_opts, config),
    DEFINE_OPTION(O_PCP, struct serve_opts, pcp.addrs),
    DEFINE_OPTION(O_PCP_POOL, struct serve_opts, pcp.pool),
    DEFINE_OPTION(O_PCP_QUOTA, struct serve_opts, pcp.quota),
    DEFINE_OPTION(O_PCP_LIFETIME, struct serve_opts, pcp.lifetime),
    DEFINE_OPTION(O_PCP_REUSE_DELAY, struct serve_opts, pcp.reuse_delay),
    DEFINE_OPTION(O_PCP_RATE, struct serve_opts, pcp.rate),
    DEFINE_OPTION(O_PCP_PORT0, struct serve_opts, pcp.port0),
    DEFINE_OPTION(O_PCP_HOOK, struct serve_opts, pcp.hook),
    DEFINE_OPTION(O_FLEET, struct serve_opts, fleet.urls),
    DEFINE_OPTION(O_GATEWAY, struct serve_opts, fleet.gateway),
    DEFINE_OPTION(O_FLEET_CERT, struct serve_opts, fleet.cert),
    DEFINE_OPTION(O_FLEET_KEY, struct serve_opts, fleet.key),
    DEFINE_OPTION(O_FLEET_CA, struct serve_opts, fleet.ca),
    DEFINE_OPTION(O_FLEET_USER, struct serve_opts, fleet.user),
};
static const struct cli_bind fleet_options[] = {
    DEFINE_OPTION(O_FLEET, struct fleet_cli_options, urls),
    DEFINE_OPTION(O_JSON, struct fleet_cli_options, json),
    DEFINE_OPTION(O_FLEET_CERT, struct fleet_cli_options, cert),
    DEFINE_OPTION(O_FLEET_KEY, struct fleet_cli_options, key),
    DEFINE_OPTION(O_FLEET_CA, struct fleet_cli_options, ca),
    DEFINE_OPTION(O_FLEET_USER, struct fleet_cli_options, user),
    DEFINE_OPTION(O_PORT, struct fleet_cli_options, port),
    DEFINE_OPTION(O_DAYS, struct fleet_cli_options, days),
};

static const struct cli_bind check_options[] = {
    DEFINE_OPTION(O_JSON, struct check_opts, json),
    DEFINE_OPTION(O_METRICS, struct check_opts, metrics),
};

static const struct attach_opts attach_defaults = {.mode = XDP_MODE_NATIVE, .fast_path = -1};
static const struct serve_opts serve_defaults = {.metrics = XDPFWD_DEFAULT_METRICS,
						 .pcp = {.port0 = -1}};

static const struct cli_command commands[] = {
    DEFINE_COMMAND(attach, iface_arg, struct attach_opts, &attach_defaults,
		   .help = "Load the programs and attach XDP to IFACE, the public interface, and "
			   "tc to IFACE's egress and (with the fast path) to IFACE's and the "
			   "tunnel's ingress; pin them and the maps in the pin directory. Maps "
			   "already pinned there are reused, so mappings and counters survive; "
			   "with none, a table the state file holds (after a reboot or detach "
			   "--purge) is written back.",
		   .note = "(--replace: new programs, same maps)"),
    DEFINE_COMMAND(detach, iface_arg, struct detach_opts, NULL,
		   .help = "Remove the programs from IFACE and the tunnel. The maps and the state "
			   "file stay, so a later attach forwards the same table; the state file "
			   "stays with --purge too, and a later attach writes its table back."),
    DEFINE_COMMAND(add, add_args, struct add_opts, NULL,
		   .help = "Forward PROTO (tcp, udp or both) to the public PORT, or range, of "
			   "ADDR (or of the public interface's address, a wildcard) to TARGET (the "
			   "same ports unless given). Adding a mapping again renews its lease and "
			   "replaces its policy. Refused when it overlaps another mapping or, "
			   "without --force, when it meets a conflict check.",
		   .label_note = "; adding a mapping again renews its lease"),
    DEFINE_COMMAND(del, del_args, struct no_opts, NULL,
		   .help = "Delete the whole mapping on PROTO (tcp, udp or both) and the public "
			   "PORT or range, as list shows it."),
    DEFINE_COMMAND(list, no_args, struct show_opts, NULL,
		   .help = "Print the table: every mapping with its policy and lease."),
    DEFINE_COMMAND(stats, no_args, struct show_opts, NULL,
		   .help = "Print the packets and bytes of every mapping in each direction, its "
			   "drops by reason, and the global counters that say what happened to "
			   "every packet that was not forwarded.",
		   .note = "(rates every SECONDS, default 1)"),
    DEFINE_COMMAND(load, file_arg, struct load_opts, NULL,
		   .help = "Make the table the config FILE, as one change: only the difference "
			   "is written, counters of mappings that stay are kept, and a bad line "
			   "changes nothing."),
    DEFINE_COMMAND(serve, no_args, struct serve_opts, &serve_defaults,
		   .help = "Run the daemon: serve /metrics, end expired leases, apply the "
			   "config FILE on start and on SIGHUP, and after a reboot rebuild the "
			   "maps from the state file and attach again as it records. Forwarding "
			   "never depends on it. Stops on SIGTERM or SIGINT.",
		   .note = "(metrics default " XDPFWD_DEFAULT_METRICS ";\nSIGHUP reloads FILE; "
			   "rebuilds the maps from the state file after a reboot)"),
    DEFINE_COMMAND(
	check, no_args, struct check_opts, NULL,
	.help = "Say what is wrong, first: the kernel's BTF, bpffs, the table and its attachment, "
		"XDP native on the public interface, redirects to each egress device, offloads "
		"(LRO, GRO, checksums), rp_filter and forwarding sysctls, public ports in the "
		"ephemeral range, nftables masquerade, the state file against the maps, and serve "
		"answering on --metrics (default: the unit's XDPFWD_SERVE_ARGS in "
		"/etc/default/xdpfwd, else " XDPFWD_DEFAULT_METRICS "). Each item is ok, warning "
		"or error with why and what to do. Changes nothing. Exit status 0: all ok, 1: "
		"warnings, 2: errors.",
	.note = "(exit 0 ok, 1 warnings, 2 errors)"),
    DEFINE_COMMAND(
	fleet, fleet_args, struct fleet_cli_options, NULL,
	.help = "Write and read the fleet's keys in etcd (the gateways' tables): add GATEWAY PROTO "
		"[ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] [FIELD=VALUE...] puts a mapping line "
		"(FIELDs as in a config file, a lease as expires=UNIX_SECONDS or ttl=SECONDS); del "
		"GATEWAY PROTO [ADDR:]PORT[-PORT] deletes one; status shows every gateway: alive, "
		"the revision it applied, its mappings and keys, and its rejected keys with why.",
	.note =
	    "(add GATEWAY PROTO PUBLIC TARGET [FIELD=VALUE...],\ndel GATEWAY PROTO PUBLIC, status)",
	.variadic = true),
};

static const struct cli_program xdpfwd_cli = {
    .name = "xdpfwd",
    .version = XDPFWD_VERSION_LINE,
    .options = options,
    .noptions = O_COUNT,
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(commands[0]),
    .footer = "PROTO is tcp, udp or both; write IPv6 addresses as [2001:db8::1]:443.",
};

int main(int argc, char **argv)
{
	hugeheap_reserve(256 << 20);
	return cli_main(&xdpfwd_cli, argc, argv);
}
