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
#include <sys/stat.h>
#include "attach.h"
#include "log.h"
#include "serve.h"
#include "show.h"

#ifndef XDPFWD_VERSION
#define XDPFWD_VERSION "dev"
#endif
#define MAX_CONFIG_BYTES (64 << 20)

static const char usage_text[] =
    "Usage: xdpfwd [OPTIONS] COMMAND ...\n"
    "  attach IFACE --tunnel IFACE [--mode native|generic] [--fast-path on|off]\n"
    "  detach IFACE [--purge]\n"
    "  add PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]]\n"
    "  del PROTO [ADDR:]PORT[-PORT]\n"
    "  list [--json]\n"
    "  stats [--json] [--watch [SECONDS]]   (rates every SECONDS, default 1)\n"
    "  load FILE\n"
    "  serve [--metrics ADDR:PORT]   (default " XDPFWD_DEFAULT_METRICS ")\n"
    "PROTO is tcp, udp or both; write IPv6 addresses as [2001:db8::1]:443.\n"
    "Options: --pin-dir DIR (default $XDPFWD_PIN_DIR or " XDPFWD_DEFAULT_PIN_DIR "),\n"
    "         -v (info), -vv (debug, with libbpf and libxdp), --version, --help\n";

struct options {
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

/* The live table as rules, so a change can be validated against it. */
static int live_rules(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count,
		      size_t extra)
{
	struct slot_mapping *list;
	size_t n;
	int err = table_read(maps, &list, &n);

	if (err) {
		pr_warn("cannot read the mappings: %s\n", strerror(-err));
		return err;
	}
	*rules = calloc(n + extra + 1, sizeof(**rules));
	if (!*rules) {
		free(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		(*rules)[i].m = list[i].m;
		(*rules)[i].existing = true;
	}
	*count = n;
	free(list);
	return 0;
}

static int apply(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		 struct rule *rules, size_t count, const char *what, struct apply_summary *sum)
{
	struct local_addrs local;
	char err[ERR_LEN];
	int ret;

	if (local_addrs_read(config->public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	if (validate_table(rules, count, &local, err)) {
		pr_warn("%s: %s\n", what, err);
		return -EINVAL;
	}
	ret = table_apply(maps, rules, count, sum);
	if (ret)
		pr_warn(
		    "%s: writing the maps failed after %zu added, %zu changed, %zu removed: %s\n",
		    what, sum->added, sum->changed, sum->removed, strerror(-ret));
	return ret;
}

static int cmd_add(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, int argc,
		   char **argv)
{
	struct apply_summary sum;
	struct rule *rules, parsed[2];
	char err[ERR_LEN], line[200];
	size_t n;
	int got, ret;

	if (argc != 3)
		return usage_error("add", "PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]]");
	got = parse_rule(argv[0], argv[1], argv[2], parsed, err);
	if (got < 0) {
		pr_warn("add: %s\n", err);
		return 1;
	}
	if (live_rules(maps, &rules, &n, got))
		return 1;
	memcpy(rules + n, parsed, got * sizeof(*parsed));
	ret = apply(maps, config, rules, n + got, "add", &sum);
	for (int i = 0; !ret && i < got; i++) {
		format_mapping(line, sizeof(line), &rules[n + i].m);
		printf("added %s\n", line);
	}
	free(rules);
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

static int cmd_del(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, int argc,
		   char **argv)
{
	struct xdpfwd_mapping want = {0};
	struct apply_summary sum;
	struct rule *rules;
	char err[ERR_LEN], line[200];
	size_t n, kept = 0, removed = 0;
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
	if (live_rules(maps, &rules, &n, 0))
		return 1;
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
			return 1;
		}
		rules[kept++] = rules[i];
	}
	if (!removed) {
		pr_warn("del: no %s mapping on '%s' (xdpfwd list shows them)\n", argv[0], argv[1]);
		free(rules);
		return 1;
	}
	ret = apply(maps, config, rules, kept, "del", &sum);
	free(rules);
	return ret ? 1 : 0;
}

static char *read_file(const char *path)
{
	struct stat st;
	char *text = NULL;
	FILE *f = fopen(path, "r");
	size_t got;

	if (!f) {
		pr_warn("load: cannot open '%s': %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_BYTES) {
		pr_warn("load: '%s' is not a regular file of at most %d MiB\n", path,
			MAX_CONFIG_BYTES >> 20);
		goto out;
	}
	text = malloc(st.st_size + 1);
	if (!text)
		goto out;
	got = fread(text, 1, st.st_size, f);
	text[got] = '\0';
	if (strlen(text) != got) {
		pr_warn("load: '%s' holds a NUL byte: it is not a text file\n", path);
		free(text);
		text = NULL;
	}
out:
	fclose(f);
	return text;
}

static int cmd_load(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, int argc,
		    char **argv)
{
	struct apply_summary sum;
	struct rule *rules;
	char err[ERR_LEN], what[PATH_MAX + 8];
	size_t n;
	char *text;
	int ret;

	if (argc != 1)
		return usage_error("load", "FILE");
	text = read_file(argv[0]);
	if (!text)
		return 1;
	ret = parse_config(text, &rules, &n, err);
	free(text);
	if (ret) {
		pr_warn("load: %s: %s\n", argv[0], err);
		return 1;
	}
	snprintf(what, sizeof(what), "load: %s", argv[0]);
	ret = apply(maps, config, rules, n, what, &sum);
	if (!ret)
		printf("loaded %s: %zu added, %zu changed, %zu removed, %zu unchanged\n", argv[0],
		       sum.added, sum.changed, sum.removed, sum.kept);
	free(rules);
	return ret ? 1 : 0;
}

static int run_on_table(struct pindir *pd, const char *cmd, int argc, char **argv,
			const struct options *opt)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	bool writes = !strcmp(cmd, "add") || !strcmp(cmd, "del") || !strcmp(cmd, "load");
	int ret;

	if (maps_open(pd, &maps, &config))
		return 1;
	if (writes && pindir_lock(pd)) {
		maps_close(&maps);
		return 1;
	}
	if (!strcmp(cmd, "add"))
		ret = cmd_add(&maps, &config, argc, argv);
	else if (!strcmp(cmd, "del"))
		ret = argc < 1 ? usage_error("del", "PROTO [ADDR:]PORT[-PORT]")
			       : cmd_del(&maps, &config, argc, argv);
	else if (!strcmp(cmd, "load"))
		ret = cmd_load(&maps, &config, argc, argv);
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
	if (opt->purge && strcmp(cmd, "detach")) {
		pr_warn("%s: --purge applies to detach only\n", cmd);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"pin-dir", required_argument, NULL, 'p'},	 {"tunnel", required_argument, NULL, 't'},
	    {"mode", required_argument, NULL, 'm'},	 {"json", no_argument, NULL, 'j'},
	    {"purge", no_argument, NULL, 'P'},		 {"metrics", required_argument, NULL, 'M'},
	    {"verbose", no_argument, NULL, 'v'},	 {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	 {"watch", optional_argument, NULL, 'w'},
	    {"fast-path", required_argument, NULL, 'f'}, {0},
	};
	struct options opt = {0};
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
		return usage_error(
		    "attach", "IFACE --tunnel IFACE [--mode native|generic] [--fast-path on|off]");
	if (!strcmp(cmd, "detach") && argc != 1)
		return usage_error("detach", "IFACE [--purge]");
	if (!strcmp(cmd, "serve") && argc != 0)
		return usage_error("serve", "[--metrics ADDR:PORT]");

	if (pindir_open(&pd, opt.pin_dir, !strcmp(cmd, "attach")))
		return 1;
	if (!strcmp(cmd, "attach"))
		ret = attach_cmd(&pd, argv[0], opt.tunnel, mode,
				 !opt.fast_path || !strcmp(opt.fast_path, "on"))
			  ? 1
			  : 0;
	else if (!strcmp(cmd, "detach"))
		ret = detach_cmd(&pd, argv[0], opt.purge) ? 1 : 0;
	else if (!strcmp(cmd, "serve"))
		ret = serve_cmd(&pd, opt.metrics ?: XDPFWD_DEFAULT_METRICS) ? 1 : 0;
	else
		ret = run_on_table(&pd, cmd, argc, argv, &opt);
	pindir_close(&pd);
	return ret;
}
