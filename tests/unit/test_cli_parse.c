// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_cli_parse.c - cli_main() over a small command table: what a command
 * line is refused for (exit 2, the handler never runs) and what reaches the
 * handler. The messages themselves are pinned by tests/cli (make cli-test).
 */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "harness.h"
#include "log.h"

enum { P_FORCE, P_FORMAT, P_RATE, P_WATCH, P_NETS, P_TAG, P_VERBOSE, P_COUNT };

struct parse_opts {
	bool force, format;
	const char *rate;
	double watch;
	struct cli_prefixes nets;
	struct cli_strings tags;
};

static const struct cli_option popts[P_COUNT] = {
    [P_FORCE] = {"force", 0, CLI_FLAG, .help = "f"},
    [P_FORMAT] = {"format", 0, CLI_FLAG, .help = "f"},
    [P_RATE] = {"rate", 0, CLI_STRING, .metavar = "PPS", .help = "r"},
    [P_WATCH] = {"watch", 0, CLI_SECONDS, .metavar = "SECONDS", .min = 0.1, .max = 3600, .bare = 1,
		 .help = "w"},
    [P_NETS] = {"nets", 0, CLI_PREFIXES, .metavar = "CIDR[,CIDR]", .max = 8, .help = "n"},
    [P_TAG] = {"tag", 0, CLI_STRINGS, .metavar = "T", .max = 4, .help = "t", .limit = "4"},
    [P_VERBOSE] = {"verbose", 'v', CLI_GLOBAL, CLI_GLOBAL_VERBOSE, .help = "v"},
};

static const struct cli_arg parg[] = {{"ARG", CLI_COMPLETE_NONE, NULL}};
static const struct cli_bind run_options[] = {
    DEFINE_OPTION(P_FORCE, struct parse_opts, force),
    DEFINE_OPTION(P_FORMAT, struct parse_opts, format),
    DEFINE_OPTION(P_RATE, struct parse_opts, rate),
    DEFINE_OPTION(P_WATCH, struct parse_opts, watch),
    DEFINE_OPTION(P_NETS, struct parse_opts, nets),
    DEFINE_OPTION(P_TAG, struct parse_opts, tags),
};

static struct parse_opts seen;
static const char *seen_arg;
static int runs;

static int cmd_run(const struct cli_context *ctx, const void *opts, char **argv)
{
	(void)ctx;
	seen = *(const struct parse_opts *)opts;
	seen_arg = argv[0];
	runs++;
	return 0;
}

static const struct cli_command pcommands[] = {
    DEFINE_COMMAND(run, parg, struct parse_opts, NULL, .help = "Runs."),
};
static const struct cli_program pprog = {
    .name = "prog",
    .version = "0",
    .options = popts,
    .noptions = P_COUNT,
    .commands = pcommands,
    .ncommands = 1,
    .footer = "",
};

struct parse_case {
	const char *name;
	const char *argv[8];
	int ret;	 /* cli_main's */
	const char *arg; /* ret 0: the handler's ARG */
	bool force;
	double watch;
};

static const struct parse_case parse_cases[] = {
    {"a plain line", {"run", "x", "--force"}, 0, "x", true, 0},
    {"a negative number is a word", {"run", "-5"}, 0, "-5", false, 0},
    {"every word after -- is a word", {"run", "--", "--force"}, 0, "--force", false, 0},
    {"-- before the command", {"--", "run", "-x"}, 0, "-x", false, 0},
    {"an unknown long option", {"run", "x", "--bogus"}, 2, NULL, false, 0},
    {"an unknown short option", {"run", "x", "-q"}, 2, NULL, false, 0},
    {"an abbreviation", {"run", "x", "--forc"}, 2, NULL, false, 0},
    {"an abbreviation with a value", {"run", "x", "--ra=5"}, 2, NULL, false, 0},
    {"an ambiguous abbreviation", {"run", "x", "--fo"}, 2, NULL, false, 0},
    {"a flag with a value", {"run", "x", "--force=1"}, 2, NULL, false, 0},
    {"a missing value", {"run", "x", "--rate"}, 2, NULL, false, 0},
    {"a value given twice", {"run", "x", "--rate", "1", "--rate", "2"}, 2, NULL, false, 0},
    {"a flag given twice", {"run", "x", "--force", "--force"}, 2, NULL, false, 0},
    {"a repeatable option", {"run", "x", "--tag", "a", "--tag", "b"}, 0, "x", false, 0},
    {"-v twice", {"-vv", "run", "x"}, 0, "x", false, 0},
    {"an empty value", {"run", "x", "--rate", ""}, 2, NULL, false, 0},
    {"an empty list item", {"run", "x", "--nets", "10.0.0.0/8,,10.1.0.0/16"}, 2, NULL, false, 0},
    {"a trailing comma", {"run", "x", "--nets", "10.0.0.0/8,"}, 2, NULL, false, 0},
    {"seconds", {"run", "x", "--watch", "0.5"}, 0, "x", false, 0.5},
    {"seconds after =", {"run", "x", "--watch=2"}, 0, "x", false, 2},
    {"bare seconds", {"run", "x", "--watch"}, 0, "x", false, 1},
    {"bare seconds before the command", {"--watch", "run", "x"}, 0, "x", false, 1},
    {"seconds not a number", {"run", "x", "--watch", "abc"}, 2, NULL, false, 0},
    {"seconds with an exponent", {"run", "x", "--watch", "1e3"}, 2, NULL, false, 0},
    {"seconds with a leading zero", {"run", "x", "--watch", "05"}, 2, NULL, false, 0},
    {"seconds in hex", {"run", "x", "--watch", "0x10"}, 2, NULL, false, 0},
    {"seconds empty", {"run", "x", "--watch", ""}, 2, NULL, false, 0},
    {"seconds negative", {"run", "x", "--watch", "-1"}, 2, NULL, false, 0},
    {"seconds out of range", {"run", "x", "--watch", "3601"}, 2, NULL, false, 0},
    {"an unknown command", {"frobnicate"}, 2, NULL, false, 0},
};

UNIT_CASES(test_cli_parse, 5)
{
	enum log_level level = log_level; /* -vv raises it */
	int cases = 0;

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		char *argv[10] = {"prog"};
		int argc = 1, ret, before = runs;

		if (!unit_selected(c->name))
			continue;
		cases++;
		for (int k = 0; c->argv[k]; k++)
			argv[argc++] = (char *)c->argv[k];
		memset(&seen, 0, sizeof(seen));
		seen_arg = NULL;
		ret = cli_main(&pprog, argc, argv);
		CHECK(ret == c->ret, "%s: exit %d, want %d", c->name, ret, c->ret);
		CHECK((runs > before) == !c->ret, "%s: the handler %s", c->name,
		      runs > before ? "ran" : "did not run");
		if (c->ret || runs == before)
			continue;
		CHECK(seen_arg && !strcmp(seen_arg, c->arg), "%s: ARG '%s', want '%s'", c->name,
		      seen_arg ?: "(null)", c->arg);
		CHECK(seen.force == c->force && seen.watch == c->watch,
		      "%s: --force %d --watch %g, want %d and %g", c->name, seen.force, seen.watch,
		      c->force, c->watch);
	}
	log_level = level;
	return cases;
}
