// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cli.c - parsing, refusing, converting and dispatching a command line from
 * the tables of cli.h, and the usage texts made from them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "log.h"
#include "spec.h"

#define MAX_OPTIONS 64

/* What the command line said for one option, before the command is known
 * (options may come before it): given or not, its text, its values. */
struct cli_raw {
	bool set;
	const char *value;
	double seconds;
	const char *values[CLI_MAX_REPEAT];
	size_t count;
};

/* Everything cli_main learns from the command line. */
struct cli_parse {
	struct cli_raw raw[MAX_OPTIONS];
	bool help;
	bool done; /* --version printed: exit 0 */
	const char *pin_dir, *state_dir;
};

bool cli_takes(const struct cli_command *cmd, int id)
{
	for (int i = 0; i < cmd->noptions; i++)
		if (cmd->options[i].option == id)
			return true;
	return false;
}

static const struct cli_command *find_command(const struct cli_program *prog, const char *name)
{
	for (int i = 0; i < prog->ncommands; i++)
		if (!strcmp(prog->commands[i].name, name))
			return &prog->commands[i];
	return NULL;
}

/* "a", "a and b", "a, b and c" onto OUT: the names of the commands that take
 * option ID, or (COMMANDS false) of the options of refuse group ID, "--"
 * before. */
static void join_names(const struct cli_program *prog, bool commands, int id, struct strbuf *out)
{
	const char *names[MAX_OPTIONS];
	int n = 0;

	if (commands) {
		for (int i = 0; i < prog->ncommands; i++)
			if (cli_takes(&prog->commands[i], id))
				names[n++] = prog->commands[i].name;
	} else {
		for (int i = 0; i < prog->noptions; i++)
			if (prog->options[i].refuse_group == id)
				names[n++] = prog->options[i].name;
	}
	for (int i = 0; i < n; i++)
		strbuf_appendf(out, "%s%s%s",
			       i == 0	    ? ""
			       : i == n - 1 ? " and "
					    : ", ",
			       commands ? "" : "--", names[i]);
}

/* The values of an enum onto OUT, "native|generic" (SEP "|") or "native,
 * generic". */
static void join_values(const struct cli_value *v, const char *sep, struct strbuf *out)
{
	for (int i = 0; v[i].name; i++)
		strbuf_appendf(out, "%s%s", i ? sep : "", v[i].name);
}

/* "--mode native|generic", "--watch [SECONDS]", "--clients CIDR[,CIDR]...";
 * FULL adds the "..." of a list. */
void cli_option_form(const struct cli_option *o, bool full, struct strbuf *out)
{
	strbuf_appendf(out, "--%s", o->name);
	if (o->type == CLI_ENUM) {
		strbuf_append(out, " ");
		join_values(o->values, "|", out);
	} else if (o->type == CLI_SECONDS) {
		strbuf_appendf(out, " [%s]", o->metavar);
	} else if (o->metavar) {
		strbuf_appendf(out, " %s%s", o->metavar,
			       full && o->type == CLI_PREFIXES ? "..." : "");
	}
}

void cli_synopsis(const struct cli_program *prog, const struct cli_command *cmd, bool full,
		  int indent, struct strbuf *out)
{
	const char *label = NULL;
	size_t start = out->len;

	for (int i = 0; i < cmd->nargs; i++)
		strbuf_appendf(out, "%s%s", i ? " " : "", cmd->args[i].metavar);
	for (int i = 0; i < cmd->noptions; i++) {
		const struct cli_bind *b = &cmd->options[i];
		const struct cli_option *o = &prog->options[b->option];

		if (o->modifier && !full)
			continue;
		if (o->label && label && !strcmp(o->label, label))
			continue;
		label = o->label;
		if (indent && o->usage_break && !o->label)
			strbuf_appendf(out, "\n%*s", indent - 1, "");
		strbuf_appendf(out, "%s%s", out->len > start ? " " : "", b->required ? "" : "[");
		if (o->label)
			strbuf_append(out, o->label);
		else
			cli_option_form(o, full, out);
		strbuf_append(out, b->required ? "" : "]");
	}
}

static int usage_error(const struct cli_program *prog, const struct cli_command *cmd)
{
	struct strbuf synopsis = STRBUF_INIT;

	cli_synopsis(prog, cmd, false, 0, &synopsis);
	pr_warn("%s: expected '%s %s' (see %s --help)\n", cmd->name, cmd->name,
		strbuf_str(&synopsis), prog->name);
	strbuf_free(&synopsis);
	return 2;
}

/* The first command that takes option ID: the one its value's messages name
 * when it is checked before the command is known. */
static const char *owner_of(const struct cli_program *prog, int id)
{
	for (int i = 0; i < prog->ncommands; i++)
		if (cli_takes(&prog->commands[i], id))
			return prog->commands[i].name;
	return prog->name;
}

static int parse_seconds(const struct cli_program *prog, int id, const char *text, double *out)
{
	const struct cli_option *o = &prog->options[id];
	char *end;

	*out = o->bare;
	if (!text)
		return 0;
	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !(*out >= o->min && *out <= o->max)) {
		pr_warn("%s: --%s %s must be a number from %g to %g, got '%s'\n",
			owner_of(prog, id), o->name, o->metavar, o->min, o->max, text);
		return -1;
	}
	return 0;
}

/* One option as getopt_long returns it: kept raw, except what decides how
 * the rest is read. Returns 0, or the exit code to stop with. */
static int take_option(const struct cli_program *prog, struct cli_parse *p, int id, int argc,
		       char **argv)
{
	const struct cli_option *o = &prog->options[id];
	struct cli_raw *r = &p->raw[id];

	if (o->type == CLI_SECONDS && !optarg && optind < argc &&
	    strspn(argv[optind], "0123456789.") &&
	    !argv[optind][strspn(argv[optind], "0123456789.")])
		optarg = argv[optind++]; /* "--watch 2" as well as "--watch=2" */
	if (o->type == CLI_SECONDS && parse_seconds(prog, id, optarg, &r->seconds))
		return 2;
	if (o->type == CLI_STRINGS) {
		if (r->count == CLI_MAX_REPEAT || r->count == (size_t)o->max) {
			pr_warn("%s: --%s is given more than %zu times: %s\n", owner_of(prog, id),
				o->name, r->count, o->limit);
			return 2;
		}
		r->values[r->count++] = optarg;
	}
	r->set = true;
	r->value = optarg;
	return 0;
}

/* --help, -v and the like. */
static void take_global(const struct cli_program *prog, struct cli_parse *p, int id)
{
	switch (prog->options[id].global) {
	case CLI_GLOBAL_PIN_DIR:
		p->pin_dir = optarg;
		break;
	case CLI_GLOBAL_STATE_DIR:
		p->state_dir = optarg;
		break;
	case CLI_GLOBAL_VERBOSE:
		if (log_level < LOG_DEBUG)
			log_level++;
		break;
	case CLI_GLOBAL_HELP:
		/* Read on, quietly, to find the command whose help this is. */
		p->help = true;
		opterr = 0;
		break;
	case CLI_GLOBAL_VERSION:
		printf("%s %s\n", prog->name, prog->version);
		p->done = true;
		break;
	default:
		break;
	}
}

static int short_option(const struct cli_program *prog, int c)
{
	for (int i = 0; i < prog->noptions; i++)
		if (prog->options[i].short_name && prog->options[i].short_name == c)
			return i;
	return -1;
}

static void long_options(const struct cli_program *prog, struct option *lo, char *shorts)
{
	for (int i = 0; i < prog->noptions; i++) {
		const struct cli_option *o = &prog->options[i];
		bool no_arg = o->type == CLI_FLAG || (o->type == CLI_GLOBAL && !o->metavar);

		lo[i] = (struct option){o->name,
					no_arg			 ? no_argument
					: o->type == CLI_SECONDS ? optional_argument
								 : required_argument,
					NULL, o->short_name ? o->short_name : 256 + i};
		if (o->short_name)
			*shorts++ = o->short_name;
	}
	lo[prog->noptions] = (struct option){0};
	*shorts = '\0';
}

/* getopt_long over the whole line: the options into P, the words left at
 * argv[optind...]. Returns 0, or the exit code to stop with (P->done: 0). */
static int parse_options(const struct cli_program *prog, struct cli_parse *p, int argc, char **argv)
{
	struct option lo[MAX_OPTIONS + 1];
	char shorts[MAX_OPTIONS + 1];
	int c, id, ret;

	long_options(prog, lo, shorts);
	while (!p->done && (c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		id = c >= 256 ? c - 256 : short_option(prog, c);
		if (p->help && id >= 0 && prog->options[id].type == CLI_GLOBAL &&
		    prog->options[id].global != CLI_GLOBAL_HELP)
			continue;
		if (id < 0 || id >= prog->noptions) {
			if (p->help)
				continue;
			cli_usage(prog, stderr);
			return 2;
		}
		if (p->help)
			continue;
		if (prog->options[id].type == CLI_GLOBAL)
			take_global(prog, p, id);
		else if ((ret = take_option(prog, p, id, argc, argv)))
			return ret;
	}
	return 0;
}

/* "add: --a and --b apply to x and y only (hint)": options of refuse group
 * GROUP, FIRST the first of them, given to CMD, which takes none. Returns 2. */
static int refuse_group(const struct cli_program *prog, const struct cli_command *cmd, int group,
			int first)
{
	struct strbuf names = STRBUF_INIT, commands = STRBUF_INIT;
	const char *hint = prog->options[first].refuse_hint;

	join_names(prog, false, group, &names);
	join_names(prog, true, first, &commands);
	pr_warn("%s: %s %s to %s only%s%s%s\n", cmd->name, strbuf_str(&names),
		strchr(strbuf_str(&names), ' ') ? "apply" : "applies", strbuf_str(&commands),
		hint ? " (" : "", hint ?: "", hint ? ")" : "");
	strbuf_free(&names);
	strbuf_free(&commands);
	return 2;
}

/* The options given that CMD does not take, by refuse group. */
static int refuse_options(const struct cli_program *prog, const struct cli_command *cmd,
			  const struct cli_parse *p)
{
	for (int group = 1; group < MAX_OPTIONS; group++) {
		int first = -1;
		bool refused = false;

		for (int i = 0; i < prog->noptions; i++) {
			if (prog->options[i].refuse_group != group)
				continue;
			if (first < 0)
				first = i;
			refused |= p->raw[i].set && !cli_takes(cmd, i);
		}
		if (refused)
			return refuse_group(prog, cmd, group, first);
	}
	return 0;
}

/* --clients A,B into networks; 0 or -1 after saying why. */
static int parse_prefixes(const char *cmd, const struct cli_option *o, const char *text,
			  struct cli_prefixes *out)
{
	char buf[1024], *save = NULL, what[64], err[ERR_LEN];
	__u32 max = o->max < XDPFWD_MAX_CLIENT_NETS ? (__u32)o->max : XDPFWD_MAX_CLIENT_NETS;

	snprintf(buf, sizeof(buf), "%s", text);
	snprintf(what, sizeof(what), "--%s network", o->name);
	out->count = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (out->count == max) {
			pr_warn("%s: --%s has more than %u networks: allowed 1-%u\n", cmd, o->name,
				max, max);
			return -1;
		}
		if (parse_prefix(t, what, &out->net[out->count++], err)) {
			pr_warn("%s: %s\n", cmd, err);
			return -1;
		}
	}
	if (!out->count) {
		pr_warn("%s: --%s is empty: write %s, like 10.8.0.0/16,fd00:8::/64\n", cmd, o->name,
			o->metavar);
		return -1;
	}
	return 0;
}

/* One given option's value into its field of the command's struct. */
static int convert(const struct cli_command *cmd, const struct cli_option *o,
		   const struct cli_raw *r, void *field)
{
	struct strbuf values = STRBUF_INIT;

	switch (o->type) {
	case CLI_FLAG:
		*(bool *)field = true;
		return 0;
	case CLI_STRING:
		*(const char **)field = r->value;
		return 0;
	case CLI_SECONDS:
		*(double *)field = r->seconds;
		return 0;
	case CLI_STRINGS:
		*(struct cli_strings *)field = (struct cli_strings){r->values, r->count};
		return 0;
	case CLI_PREFIXES:
		return parse_prefixes(cmd->name, o, r->value, field);
	case CLI_ENUM:
		for (int i = 0; o->values[i].name; i++)
			if (!strcmp(o->values[i].name, r->value)) {
				*(int *)field = o->values[i].value;
				return 0;
			}
		join_values(o->values, ", ", &values);
		pr_warn("%s: --%s '%s' is unknown: allowed %s\n", cmd->name, o->name, r->value,
			strbuf_str(&values));
		strbuf_free(&values);
		return -1;
	default:
		return -1;
	}
}

/* Positional count and required options, then every value; then the handler. */
static int run_command(const struct cli_program *prog, const struct cli_command *cmd,
		       const struct cli_parse *p, int argc, char **argv)
{
	struct cli_context ctx = {prog, cmd, p->pin_dir, p->state_dir};
	char *opts = calloc(1, cmd->opts_size ?: 1);
	int ret = 0;

	if (!opts)
		return 1;
	if (cmd->defaults)
		memcpy(opts, cmd->defaults, cmd->opts_size);
	if (argc != cmd->nargs)
		ret = usage_error(prog, cmd);
	for (int i = 0; !ret && i < cmd->noptions; i++)
		if (cmd->options[i].required && !p->raw[cmd->options[i].option].set)
			ret = usage_error(prog, cmd);
	for (int i = 0; !ret && i < cmd->noptions; i++) {
		const struct cli_bind *b = &cmd->options[i];

		if (p->raw[b->option].set &&
		    convert(cmd, &prog->options[b->option], &p->raw[b->option], opts + b->offset))
			ret = 2;
	}
	if (!ret)
		ret = cmd->run(&ctx, opts, argv);
	free(opts);
	return ret;
}

/* `help`, `help CMD`, and the generators the build runs. */
static int help_command(const struct cli_program *prog, int argc, char **argv)
{
	const struct cli_command *cmd = argc == 1 ? find_command(prog, argv[0]) : NULL;

	if (argc == 0)
		cli_usage(prog, stdout);
	else if (cmd)
		cli_command_help(prog, cmd, stdout);
	else if (argc == 1 && !strcmp(argv[0], "man-synopsis"))
		cli_man_synopsis(prog, stdout);
	else if (argc == 1 && !strcmp(argv[0], "man-options"))
		cli_man_options(prog, stdout);
	else if (argc == 1 && !strcmp(argv[0], "bash-completion"))
		cli_bash_completion(prog, stdout);
	else {
		pr_warn("help: expected 'help [COMMAND]' (see %s --help)\n", prog->name);
		return 2;
	}
	return 0;
}

static void unknown_command(const struct cli_program *prog, const char *name)
{
	struct strbuf names = STRBUF_INIT;

	for (int i = 0; i < prog->ncommands; i++)
		strbuf_appendf(&names, "%s%s", i ? ", " : "", prog->commands[i].name);
	pr_warn("unknown command '%s': allowed %s\n", name, strbuf_str(&names));
	strbuf_free(&names);
}

int cli_main(const struct cli_program *prog, int argc, char **argv)
{
	static struct cli_parse p;
	const struct cli_command *cmd;
	int ret = parse_options(prog, &p, argc, argv);
	const char *name = optind < argc ? argv[optind] : NULL;

	if (ret || p.done)
		return ret;
	if ((p.help && !name) || (p.help && !find_command(prog, name))) {
		cli_usage(prog, stdout);
		return 0;
	}
	if (!name) {
		cli_usage(prog, stderr);
		return 2;
	}
	log_init();
	cmd = find_command(prog, name);
	if (p.help) {
		cli_command_help(prog, cmd, stdout);
		return 0;
	}
	if (!strcmp(name, "help"))
		return help_command(prog, argc - optind - 1, argv + optind + 1);
	if (!cmd) {
		unknown_command(prog, name);
		return 2;
	}
	ret = refuse_options(prog, cmd, &p);
	return ret ? ret : run_command(prog, cmd, &p, argc - optind - 1, argv + optind + 1);
}
