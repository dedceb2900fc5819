// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * main.c - the xdpfwd command line. Every command that changes the table
 * builds the whole table as it should be, validates it completely, and only
 * then hands it to table_apply(): bad input never touches a map.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attach.h"
#include "change.h"
#include "failpoint.h"
#include "persist.h"
#include "log.h"
#include "serve.h"
#include "show.h"

#ifndef XDPFWD_VERSION
#define XDPFWD_VERSION "dev"
#endif

static const char usage_text[] =
    "Usage: xdpfwd [OPTIONS] COMMAND ...\n"
    "  attach IFACE --tunnel IFACE [--mode native|generic] [--fast-path on|off]\n"
    "         [--clients CIDR[,CIDR]...] [--replace]   (--replace: new programs, same maps)\n"
    "  detach IFACE [--purge]\n"
    "  add PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] [POLICY] [--force]\n"
    "      POLICY: --allow CIDR (repeatable), --rate PPS[:BURST], --new-rate PPS[:BURST],\n"
    "      --ttl SECONDS; adding a mapping again renews its lease\n"
    "  del PROTO [ADDR:]PORT[-PORT]\n"
    "  list [--json]\n"
    "  stats [--json] [--watch [SECONDS]]   (rates every SECONDS, default 1)\n"
    "  load FILE [--force]\n"
    "  serve [--metrics ADDR:PORT] [--config FILE]   (metrics default " XDPFWD_DEFAULT_METRICS ";\n"
    "        SIGHUP reloads FILE; rebuilds the maps from the state file after a reboot)\n"
    "PROTO is tcp, udp or both; write IPv6 addresses as [2001:db8::1]:443.\n"
    "Options: --pin-dir DIR (default $XDPFWD_PIN_DIR or " XDPFWD_DEFAULT_PIN_DIR "),\n"
    "         --state-dir DIR (default $XDPFWD_STATE_DIR or " XDPFWD_DEFAULT_STATE_DIR "),\n"
    "         -v (info), -vv (debug, with libbpf and libxdp), --version, --help\n";

#define MAX_ALLOW_ARGS 64

struct options {
	const char *allow[MAX_ALLOW_ARGS];
	size_t allow_count;
	const char *rate;
	const char *new_rate;
	const char *ttl;
	const char *clients;
	const char *state_dir;
	const char *config; /* serve --config */
	bool force;
	bool replace;
	const char *pin_dir;
	const char *tunnel;
	const char *mode;
	const char *fast_path;
	const char *metrics;
	double watch; /* seconds between frames of stats --watch; 0: no watch */
	bool json;
	bool purge;
};

#define WATCH_MIN_S 0.1
#define WATCH_MAX_S 3600

static int parse_interval(const char *text, double *seconds)
{
	char *end;

	*seconds = 1;
	if (!text)
		return 0;
	errno = 0;
	*seconds = strtod(text, &end);
	if (errno || end == text || *end || !(*seconds >= WATCH_MIN_S && *seconds <= WATCH_MAX_S)) {
		pr_warn("stats: --watch SECONDS must be a number from %g to %d, got '%s'\n",
			WATCH_MIN_S, WATCH_MAX_S, text);
		return -EINVAL;
	}
	return 0;
}

static int usage_error(const char *cmd, const char *expected)
{
	pr_warn("%s: expected '%s %s' (see xdpfwd --help)\n", cmd, cmd, expected);
	return 2;
}

/* The policy options of the command line, for each rule add parsed. */
static int policy_options(struct rule *r, const struct options *opt, char *err)
{
	for (size_t i = 0; i < opt->allow_count; i++)
		if (parse_policy(r, "allow", opt->allow[i], err))
			return -1;
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

static int cmd_add(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		   const char *state, const struct options *opt, int argc, char **argv)
{
	struct apply_summary sum;
	struct rule *have, *want, parsed[2];
	bool renewed[2] = {false, false};
	char err[ERR_LEN];
	size_t n, count;
	int got, ret;

	if (argc != 3)
		return usage_error("add", "PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] [POLICY]");
	got = parse_rule(argv[0], argv[1], argv[2], parsed, err);
	for (int i = 0; got > 0 && i < got; i++)
		if (policy_options(&parsed[i], opt, err))
			got = -1;
	if (got < 0) {
		pr_warn("add: %s\n", err);
		return 1;
	}
	if (live_rules(maps, &have, &n, 0))
		return 1;
	want = calloc(n + got, sizeof(*want));
	if (!want) {
		free(have);
		return 1;
	}
	memcpy(want, have, n * sizeof(*have));
	count = n;
	for (int i = 0; i < got; i++) {
		size_t at = count;

		/* The same mapping again is its renewal (and its new policy). */
		for (size_t k = 0; k < n; k++)
			if (same_target(&want[k].m, &parsed[i].m))
				at = k, renewed[i] = true;
		set_expiry(&parsed[i], have, n, true);
		want[at] = parsed[i];
		if (at == count)
			count++;
	}
	ret =
	    apply(maps, config, have, n, want, count,
		  &(struct change){.what = "add", .check_host = !opt->force, .state = state}, &sum);
	for (int i = 0; !ret && i < got; i++)
		print_rule(renewed[i] ? "renewed" : "added", &parsed[i]);
	free(have);
	free(want);
	return ret ? 1 : 0;
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

static int cmd_del(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		   const char *state, int argc, char **argv)
{
	struct xdpfwd_mapping want = {0};
	struct apply_summary sum;
	struct rule *rules, *have, *pending = NULL;
	struct pending_set waiting;
	char err[ERR_LEN], line[200];
	size_t n, kept = 0, removed = 0, npending = 0, pending_kept = 0;
	bool any_proto = !strcmp(argv[0], "both");
	int ret;

	if (argc != 2)
		return usage_error("del", "PROTO [ADDR:]PORT[-PORT]");
	if (strcmp(argv[0], "tcp") && strcmp(argv[0], "udp") && !any_proto) {
		pr_warn("del: protocol '%s' is unknown: allowed tcp, udp, both\n", argv[0]);
		return 1;
	}
	want.proto = argv[0][0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
	if (parse_public(argv[1], &want, err)) {
		pr_warn("del: %s\n", err);
		return 1;
	}
	if (state_pending(state, &pending, &npending, err)) {
		pr_warn("del: %s\n", err);
		return 1;
	}
	if (live_rules(maps, &have, &n, 0)) {
		free(pending);
		return 1;
	}
	rules = malloc((n + 1) * sizeof(*rules));
	if (!rules) {
		free(have);
		free(pending);
		return 1;
	}
	memcpy(rules, have, n * sizeof(*rules));
	for (size_t i = 0; i < n; i++) {
		const struct xdpfwd_mapping *m = &rules[i].m;
		unsigned int last = m->public_port + m->port_count - 1;

		if (del_matches(m, &want, any_proto) && m->public_port == want.public_port &&
		    m->port_count == want.port_count) {
			format_mapping(line, sizeof(line), m);
			printf("deleting %s\n", line);
			removed++;
			continue;
		}
		if (del_matches(m, &want, any_proto) && want.public_port <= last &&
		    want.public_port + want.port_count - 1 >= m->public_port) {
			format_mapping(line, sizeof(line), m);
			pr_warn(
			    "del: '%s' is not a whole mapping; it meets %s: delete that whole range\n",
			    argv[1], line);
			free(rules);
			free(have);
			free(pending);
			return 1;
		}
		rules[kept++] = rules[i];
	}
	/* A mapping that waits in the state file goes the same way. */
	for (size_t i = 0; i < npending; i++) {
		const struct xdpfwd_mapping *m = &pending[i].m;

		if (del_matches(m, &want, any_proto) && m->public_port == want.public_port &&
		    m->port_count == want.port_count) {
			format_public_side(line, sizeof(line), m);
			printf("deleting %s (pending)\n", line);
			removed++;
			continue;
		}
		pending[pending_kept++] = pending[i];
	}
	if (!removed) {
		pr_warn("del: no %s mapping on '%s' (xdpfwd list shows them)\n", argv[0], argv[1]);
		free(rules);
		free(have);
		free(pending);
		return 1;
	}
	waiting = (struct pending_set){.rules = pending, .count = pending_kept};
	ret = apply(maps, config, have, n, rules, kept,
		    &(struct change){.what = "del", .state = state, .pending = &waiting}, &sum);
	free(rules);
	free(have);
	free(pending);
	return ret ? 1 : 0;
}

static int cmd_load(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		    const char *state, const struct options *opt, int argc, char **argv)
{
	if (argc != 1)
		return usage_error("load", "FILE");
	return load_file(maps, config, argv[0], opt->force, state, "load") ? 1 : 0;
}

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

/* attach and detach, then the state file says what they left; all of it or
 * nothing (txn.h). */
static int run_attach(struct pindir *pd, const char *cmd, char **argv, const struct options *opt,
		      enum xdp_attach_mode mode, const struct xdpfwd_prefix *clients,
		      __u32 nclients)
{
	char state[PATH_MAX + 64], err[ERR_LEN];
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	bool attach = !strcmp(cmd, "attach");
	struct txn t;
	int ret;

	state_path(state, sizeof(state), opt->state_dir, pd->path);
	if (pindir_lock(pd) || (!(!attach && opt->purge) && refuse_unreadable_state(cmd, state)))
		return 1;
	txn_begin(&t);
	ret = txn_take_file(&t, state);
	if (ret)
		pr_warn("%s: cannot read the state file %s first: %s\n", cmd, state,
			strerror(-ret));
	else if (attach)
		ret = attach_cmd(pd, argv[0], opt->tunnel, mode,
				 opt->fast_path ? (strcmp(opt->fast_path, "on") ? 0 : 1) : -1,
				 clients, nclients, opt->replace, &t);
	else
		ret = detach_cmd(pd, argv[0], opt->purge, &t);
	if (!ret && !attach && opt->purge) {
		char marker[PATH_MAX + 80];

		if ((failpoint("state-remove") || unlink(state)) && errno != ENOENT) {
			ret = -errno;
			pr_warn("detach: cannot remove %s: %s\n", state, strerror(errno));
		}
		state_rebuild_marker(marker, sizeof(marker), state);
		if (!ret)
			unlink(marker);
	} else if (!ret) {
		ret = maps_open(pd, &maps, &config);
		if (!ret) {
			ret = state_sync(state, &maps, &config, err) ? -EIO : 0;
			if (ret)
				pr_warn("%s: %s\n", cmd, err);
			maps_close(&maps);
		}
	}
	if (ret) {
		report_undo(cmd, txn_rollback(&t));
		return 1;
	}
	txn_commit(&t);
	return 0;
}

static int run_on_table(struct pindir *pd, const char *cmd, int argc, char **argv,
			const struct options *opt)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	bool writes = !strcmp(cmd, "add") || !strcmp(cmd, "del") || !strcmp(cmd, "load");
	char state[PATH_MAX + 64];
	int ret;

	if (maps_open(pd, &maps, &config))
		return 1;
	state_path(state, sizeof(state), opt->state_dir, pd->path);
	if (writes && (pindir_lock(pd) || refuse_unreadable_state(cmd, state))) {
		maps_close(&maps);
		return 1;
	}
	if (!strcmp(cmd, "add"))
		ret = cmd_add(&maps, &config, state, opt, argc, argv);
	else if (!strcmp(cmd, "del"))
		ret = argc < 1 ? usage_error("del", "PROTO [ADDR:]PORT[-PORT]")
			       : cmd_del(&maps, &config, state, argc, argv);
	else if (!strcmp(cmd, "load"))
		ret = cmd_load(&maps, &config, state, opt, argc, argv);
	else if (argc)
		ret = usage_error(cmd, strcmp(cmd, "stats") ? "[--json]"
							    : "[--json] [--watch [SECONDS]]");
	else if (!strcmp(cmd, "list"))
		ret = show_list(&maps, opt->json) ? 1 : 0;
	else if (opt->watch)
		ret = show_watch(&maps, opt->watch, opt->json) ? 1 : 0;
	else
		ret = show_stats(&maps, opt->json) ? 1 : 0;
	maps_close(&maps);
	return ret;
}

/* attach --clients A,B: the networks every target must lie in. */
static int parse_clients(const char *text, struct xdpfwd_prefix *out, __u32 *count)
{
	char buf[1024], *save = NULL, err[ERR_LEN];

	snprintf(buf, sizeof(buf), "%s", text);
	*count = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*count == XDPFWD_MAX_CLIENT_NETS) {
			pr_warn("attach: --clients has more than %d networks: allowed 1-%d\n",
				XDPFWD_MAX_CLIENT_NETS, XDPFWD_MAX_CLIENT_NETS);
			return -1;
		}
		if (parse_prefix(t, "--clients network", &out[(*count)++], err)) {
			pr_warn("attach: %s\n", err);
			return -1;
		}
	}
	if (!*count) {
		pr_warn(
		    "attach: --clients is empty: write CIDR[,CIDR], like 10.8.0.0/16,fd00:8::/64\n");
		return -1;
	}
	return 0;
}

/* Options that make sense for each command; anything else is refused. */
static int check_options(const char *cmd, const struct options *opt)
{
	bool is_attach = !strcmp(cmd, "attach");
	bool shows = !strcmp(cmd, "list") || !strcmp(cmd, "stats");

	if ((opt->tunnel || opt->mode || opt->fast_path) && !is_attach) {
		pr_warn("%s: --tunnel, --mode and --fast-path apply to attach only\n", cmd);
		return 2;
	}
	if (opt->json && !shows) {
		pr_warn("%s: --json applies to list and stats only\n", cmd);
		return 2;
	}
	if (opt->watch && strcmp(cmd, "stats")) {
		pr_warn("%s: --watch applies to stats only\n", cmd);
		return 2;
	}
	if (opt->metrics && strcmp(cmd, "serve")) {
		pr_warn("%s: --metrics applies to serve only\n", cmd);
		return 2;
	}
	if ((opt->allow_count || opt->rate || opt->new_rate || opt->ttl) && strcmp(cmd, "add")) {
		pr_warn(
		    "%s: --allow, --rate, --new-rate and --ttl apply to add only (a config file "
		    "takes them as allow=, rate=, new-rate=, ttl=)\n",
		    cmd);
		return 2;
	}
	if (opt->force && strcmp(cmd, "add") && strcmp(cmd, "load")) {
		pr_warn("%s: --force applies to add and load only\n", cmd);
		return 2;
	}
	if ((opt->clients || opt->replace) && !is_attach) {
		pr_warn("%s: --clients and --replace apply to attach only\n", cmd);
		return 2;
	}
	if (opt->config && strcmp(cmd, "serve")) {
		pr_warn("%s: --config applies to serve only (load FILE applies a file once)\n",
			cmd);
		return 2;
	}
	if (opt->purge && strcmp(cmd, "detach")) {
		pr_warn("%s: --purge applies to detach only\n", cmd);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"pin-dir", required_argument, NULL, 'p'},
	    {"tunnel", required_argument, NULL, 't'},
	    {"mode", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"purge", no_argument, NULL, 'P'},
	    {"metrics", required_argument, NULL, 'M'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"watch", optional_argument, NULL, 'w'},
	    {"fast-path", required_argument, NULL, 'f'},
	    {"allow", required_argument, NULL, 'a'},
	    {"rate", required_argument, NULL, 'r'},
	    {"new-rate", required_argument, NULL, 'n'},
	    {"ttl", required_argument, NULL, 'T'},
	    {"force", no_argument, NULL, 'F'},
	    {"clients", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, 'S'},
	    {"replace", no_argument, NULL, 'R'},
	    {"config", required_argument, NULL, 'C'},
	    {0},
	};
	struct options opt = {0};
	struct xdpfwd_prefix clients[XDPFWD_MAX_CLIENT_NETS];
	__u32 nclients = 0;
	enum xdp_attach_mode mode = XDP_MODE_NATIVE;
	struct pindir pd;
	const char *cmd;
	int c, ret;

	while ((c = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			opt.pin_dir = optarg;
			break;
		case 't':
			opt.tunnel = optarg;
			break;
		case 'm':
			opt.mode = optarg;
			break;
		case 'f':
			opt.fast_path = optarg;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'a':
			if (opt.allow_count == MAX_ALLOW_ARGS) {
				pr_warn(
				    "add: --allow is given more than %d times: at most %d prefixes "
				    "per mapping\n",
				    MAX_ALLOW_ARGS, XDPFWD_MAX_ALLOW);
				return 2;
			}
			opt.allow[opt.allow_count++] = optarg;
			break;
		case 'r':
			opt.rate = optarg;
			break;
		case 'n':
			opt.new_rate = optarg;
			break;
		case 'T':
			opt.ttl = optarg;
			break;
		case 'F':
			opt.force = true;
			break;
		case 'c':
			opt.clients = optarg;
			break;
		case 'S':
			opt.state_dir = optarg;
			break;
		case 'R':
			opt.replace = true;
			break;
		case 'C':
			opt.config = optarg;
			break;
		case 'P':
			opt.purge = true;
			break;
		case 'M':
			opt.metrics = optarg;
			break;
		case 'w':
			/* "--watch 2" as well as "--watch=2": take a number that follows. */
			if (!optarg && optind < argc && strspn(argv[optind], "0123456789.") &&
			    !argv[optind][strspn(argv[optind], "0123456789.")])
				optarg = argv[optind++];
			if (parse_interval(optarg, &opt.watch))
				return 2;
			break;
		case 'v':
			if (log_level < LOG_DEBUG)
				log_level++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("xdpfwd %s\n", XDPFWD_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	log_init();
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;

	if (strcmp(cmd, "attach") && strcmp(cmd, "detach") && strcmp(cmd, "add") &&
	    strcmp(cmd, "del") && strcmp(cmd, "list") && strcmp(cmd, "stats") &&
	    strcmp(cmd, "load") && strcmp(cmd, "serve")) {
		pr_warn(
		    "unknown command '%s': allowed attach, detach, add, del, list, stats, load, serve\n",
		    cmd);
		return 2;
	}
	ret = check_options(cmd, &opt);
	if (ret)
		return ret;
	if (opt.mode) {
		if (!strcmp(opt.mode, "native"))
			mode = XDP_MODE_NATIVE;
		else if (!strcmp(opt.mode, "generic"))
			mode = XDP_MODE_SKB;
		else {
			pr_warn("attach: --mode '%s' is unknown: allowed native, generic\n",
				opt.mode);
			return 2;
		}
	}
	if (opt.fast_path && strcmp(opt.fast_path, "on") && strcmp(opt.fast_path, "off")) {
		pr_warn("attach: --fast-path '%s' is unknown: allowed on, off\n", opt.fast_path);
		return 2;
	}
	if (!strcmp(cmd, "attach") && (argc != 1 || !opt.tunnel))
		return usage_error("attach", "IFACE --tunnel IFACE [--mode native|generic] "
					     "[--fast-path on|off] [--clients CIDR[,CIDR]]");
	if (!strcmp(cmd, "detach") && argc != 1)
		return usage_error("detach", "IFACE [--purge]");
	if (!strcmp(cmd, "serve") && argc != 0)
		return usage_error("serve", "[--metrics ADDR:PORT] [--config FILE]");

	if (opt.clients && parse_clients(opt.clients, clients, &nclients))
		return 2;
	if (pindir_open(&pd, opt.pin_dir, !strcmp(cmd, "attach") || !strcmp(cmd, "serve")))
		return 1;
	if (!strcmp(cmd, "attach") || !strcmp(cmd, "detach"))
		ret = run_attach(&pd, cmd, argv, &opt, mode, clients, nclients);
	else if (!strcmp(cmd, "serve"))
		ret =
		    serve_cmd(&pd, opt.metrics ?: XDPFWD_DEFAULT_METRICS, opt.state_dir, opt.config)
			? 1
			: 0;
	else
		ret = run_on_table(&pd, cmd, argc, argv, &opt);
	pindir_close(&pd);
	return ret;
}
