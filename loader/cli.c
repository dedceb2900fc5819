// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cli.c - parsing, refusing, converting and dispatching a command line from
 * the tables of cli.h, and the usage texts made from them.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
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
	const char *cmd; /* for messages: guess_command() */
	char **words;	 /* the words that are not options, in order */
	int nwords;
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
	pr_warn("%s: expected '%s %s' (see '%s help %s')\n", cmd->name, cmd->name,
		strbuf_str(&synopsis), prog->name, cmd->name);
	strbuf_free(&synopsis);
	return 2;
}

/* The command a message about the command line is about: the first word
 * given that is a command (or "help"), even one after the option in fault;
 * NULL when there is none. */
static const char *guess_command(const struct cli_program *prog, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return i + 1 < argc && find_command(prog, argv[i + 1]) ? argv[i + 1] : NULL;
		if (find_command(prog, argv[i]) || !strcmp(argv[i], "help"))
			return argv[i];
	}
	return NULL;
}

/* One line about the command line: "xdpfwd: CMD: MESSAGE", without "CMD: "
 * when no command was given. Returns 2. */
static int __attribute__((format(printf, 3, 4)))
line_error(const char *cmd, const char *hint, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vappendf(&msg, fmt, ap);
	va_end(ap);
	pr_warn("%s%s%s%s%s\n", cmd ?: "", cmd ? ": " : "", strbuf_str(&msg), hint ? "; " : "",
		hint ?: "");
	strbuf_free(&msg);
	return 2;
}

/* What a value of option O may be, for "--O is empty: ...". */
static void allowed_form(const struct cli_option *o, struct strbuf *out)
{
	if (o->type == CLI_ENUM) {
		strbuf_append(out, "allowed ");
		join_values(o->values, ", ", out);
	} else if (o->type == CLI_SECONDS) {
		strbuf_appendf(out, "allowed %g-%g", o->min, o->max);
	} else if (o->type == CLI_COUNT) {
		strbuf_appendf(out, "allowed %.0f-%.0f", o->min, o->max);
	} else {
		strbuf_appendf(out, "give %s", o->metavar ?: "a value");
	}
}

/*
 * --watch's SECONDS, strictly: digits with at most one '.' and digits after
 * it, no sign, exponent, blank or leading zero ("0.5" but not "05", "1e3",
 * " 2", "0x10", "inf"), in .min-.max. TEXT NULL: the option's bare value.
 * 0, or 2 after one line naming the option and its range.
 */
static int parse_seconds(const char *cmd, const struct cli_option *o, const char *text, double *out)
{
	static const char digits[] = "0123456789";
	size_t whole = text ? strspn(text, digits) : 0, frac = 0;
	bool ok;

	*out = o->bare;
	if (!text)
		return 0;
	if (text[whole] == '.')
		frac = strspn(text + whole + 1, digits);
	ok = whole && !text[whole + (frac ? frac + 1 : 0)] && !(text[0] == '0' && whole > 1);
	if (ok)
		*out = strtod(text, NULL);
	if (!ok || !(*out >= o->min && *out <= o->max))
		return line_error(cmd, NULL, "--%s %s must be a number from %g to %g, got '%s'",
				  o->name, o->metavar, o->min, o->max, text);
	return 0;
}

/*
 * A CLI_COUNT's value, strictly: decimal digits only, no sign, blank or
 * leading zero ("65536", not "+1", "010", "1e3", "0x10"), in .min-.max.
 * 0, or 2 after one line naming the option and its range.
 */
static int parse_count(const char *cmd, const struct cli_option *o, const char *text, __u32 *out)
{
	size_t digits = strspn(text, "0123456789");
	bool ok = digits && !text[digits] && text[0] != '0' && digits <= 10;
	unsigned long long v = ok ? strtoull(text, NULL, 10) : 0;

	if (!ok || v < o->min || v > o->max)
		return line_error(cmd, NULL,
				  "--%s %s must be a whole number from %.0f to %.0f, got '%s'",
				  o->name, o->metavar, o->min, o->max, text);
	*out = (__u32)v;
	return 0;
}

/* Whether the word after an option with an optional argument (--watch) is
 * that argument: not an option or "--", and not the command when none came
 * yet; "-5" is taken (and refused by its range). */
static bool takes_next(const struct cli_program *prog, const struct cli_parse *p, const char *word)
{
	if (word[0] == '-' && !isdigit((unsigned char)word[1]))
		return false;
	return p->nwords || (!find_command(prog, word) && strcmp(word, "help"));
}

/* One option as getopt_long returns it: kept raw, except what decides how
 * the rest is read. Returns 0, or the exit code to stop with. */
static int take_option(const struct cli_program *prog, struct cli_parse *p, int id, int argc,
		       char **argv)
{
	const struct cli_option *o = &prog->options[id];
	struct cli_raw *r = &p->raw[id];
	struct strbuf allowed = STRBUF_INIT;

	if (o->type == CLI_SECONDS && !optarg && optind < argc && takes_next(prog, p, argv[optind]))
		optarg = argv[optind++]; /* "--watch 2" as well as "--watch=2" */
	if (r->set && o->type != CLI_STRINGS && o->global != CLI_GLOBAL_VERBOSE)
		return line_error(p->cmd, NULL, "--%s is given twice: give it once", o->name);
	if (optarg && !*optarg) {
		allowed_form(o, &allowed);
		line_error(p->cmd, NULL, "--%s is empty: %s", o->name, strbuf_str(&allowed));
		strbuf_free(&allowed);
		return 2;
	}
	if (o->type == CLI_STRINGS) {
		if (r->count == CLI_MAX_REPEAT || r->count == (size_t)o->max)
			return line_error(p->cmd, NULL, "--%s is given more than %zu times: %s",
					  o->name, r->count, o->limit);
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
		break;
	case CLI_GLOBAL_VERSION:
		printf("%s %s\n", prog->name, prog->version);
		p->done = true;
		break;
	default:
		break;
	}
}

/* The option whose getopt value (short name, or 256 + index) is VAL. */
static int option_of(const struct cli_program *prog, int val)
{
	if (val >= 256)
		return val - 256 < prog->noptions ? val - 256 : -1;
	for (int i = 0; i < prog->noptions; i++)
		if (prog->options[i].short_name && prog->options[i].short_name == val)
			return i;
	return -1;
}

/* getopt_long's table, and its short options after "+:" (stop at the first
 * word that is not an option: cli_main reads on itself; say ':' for a
 * missing value). */
static void long_options(const struct cli_program *prog, struct option *lo, char *shorts)
{
	*shorts++ = '+';
	*shorts++ = ':';
	for (int i = 0; i < prog->noptions; i++) {
		const struct cli_option *o = &prog->options[i];
		bool no_arg = o->type == CLI_FLAG || (o->type == CLI_GLOBAL && !o->metavar);

		lo[i] = (struct option){o->name,
					no_arg			 ? no_argument
					: o->type == CLI_SECONDS ? optional_argument
								 : required_argument,
					NULL, o->short_name ? o->short_name : 256 + i};
		if (o->short_name) {
			*shorts++ = o->short_name;
			if (!no_arg)
				*shorts++ = ':';
		}
	}
	lo[prog->noptions] = (struct option){0};
	*shorts = '\0';
}

/* getopt_long's '?' or ':' for the word at argv[AT]: one line. Returns 2. */
static int option_error(const struct cli_program *prog, const struct cli_parse *p, int c,
			const char *word)
{
	int id = option_of(prog, optopt);
	int len = (int)strcspn(word, "=");
	char hint[64];

	snprintf(hint, sizeof(hint), "see '%s help%s%s'", prog->name, p->cmd ? " " : "",
		 p->cmd ?: "");
	if (c == ':' && id >= 0)
		return line_error(p->cmd, NULL, "--%s needs a value: give %s",
				  prog->options[id].name, prog->options[id].metavar ?: "one");
	if (!strncmp(word, "--", 2) && id >= 0)
		return line_error(p->cmd, NULL, "--%s takes no value, got '%s'",
				  prog->options[id].name, word);
	if (!strncmp(word, "--", 2))
		return line_error(p->cmd, hint, "unknown option '%.*s'", len, word);
	return line_error(p->cmd, hint, "unknown option '-%c'", optopt);
}

/* A long option getopt_long matched by a prefix of its name ("--forc"):
 * refused, since a later option could make it mean another. Returns 2. */
static int abbreviated(const struct cli_program *prog, const struct cli_parse *p, int id,
		       const char *word)
{
	char hint[64];

	snprintf(hint, sizeof(hint), "see '%s help%s%s'", prog->name, p->cmd ? " " : "",
		 p->cmd ?: "");
	return line_error(p->cmd, hint, "unknown option '%.*s': write options in full, like --%s",
			  (int)strcspn(word, "="), word, prog->options[id].name);
}

/* One option at argv[optind] through getopt_long into P. 0, or the exit
 * code to stop with. */
static int next_option(const struct cli_program *prog, struct cli_parse *p, const struct option *lo,
		       const char *shorts, int argc, char **argv)
{
	int at = optind, li = -1, c, id;
	const char *word = argv[at];

	c = getopt_long(argc, argv, shorts, lo, &li);
	if (p->help && c != 'h' && (li < 0 || prog->options[li].global != CLI_GLOBAL_HELP))
		return 0; /* --help reads on quietly */
	if (c == '?' || c == ':')
		return option_error(prog, p, c, word);
	id = li >= 0 ? li : option_of(prog, c);
	if (id < 0)
		return option_error(prog, p, '?', word);
	/* getopt_long matched WORD's name as a prefix of LI's: it must be all of it. */
	if (li >= 0 && strncmp(word + 2, lo[li].name, strlen(lo[li].name)))
		return abbreviated(prog, p, id, word);
	if (prog->options[id].type != CLI_GLOBAL)
		return take_option(prog, p, id, argc, argv);
	if (prog->options[id].global != CLI_GLOBAL_HELP)
		return take_option(prog, p, id, argc, argv) ?: (take_global(prog, p, id), 0);
	take_global(prog, p, id);
	return 0;
}

/*
 * The command line into P: options by getopt_long, the other words in their
 * order into P->words (the command first). A word after "--", and a word
 * like "-5" (no option is a digit), is never an option: `add udp -- -5 x`
 * and `add udp -5 x` both reach the port's own check. Returns 0, or the exit
 * code to stop with (P->done: 0).
 */
static int parse_options(const struct cli_program *prog, struct cli_parse *p, int argc, char **argv)
{
	struct option lo[MAX_OPTIONS + 1];
	char shorts[3 * MAX_OPTIONS + 3];
	int ret;

	p->words = calloc(argc + 1, sizeof(*p->words));
	if (!p->words)
		return 1;
	p->cmd = guess_command(prog, argc, argv);
	long_options(prog, lo, shorts);
	opterr = 0;
	/* getopt afresh: optind 0 makes glibc forget a parse that stopped
	 * inside a cluster like "-vx"; then from argv[1]. */
	optind = 0;
	getopt_long(1, (char *[]){argv[0], NULL}, shorts, lo, NULL);
	optind = 1;
	while (!p->done && optind < argc) {
		const char *word = argv[optind];

		if (!strcmp(word, "--")) {
			while (++optind < argc)
				p->words[p->nwords++] = argv[optind];
			break;
		}
		if (word[0] != '-' || !word[1] || isdigit((unsigned char)word[1])) {
			p->words[p->nwords++] = argv[optind++];
			continue;
		}
		ret = next_option(prog, p, lo, shorts, argc, argv);
		if (ret)
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

/* --clients A,B into networks: every item a network, none empty; 0 or -1
 * after saying why. */
static int parse_prefixes(const char *cmd, const struct cli_option *o, const char *text,
			  struct cli_prefixes *out)
{
	char what[64], err[ERR_LEN], item[256];
	__u32 max = o->max < XDPFWD_MAX_CLIENT_NETS ? (__u32)o->max : XDPFWD_MAX_CLIENT_NETS;

	snprintf(what, sizeof(what), "--%s network", o->name);
	out->count = 0;
	for (const char *t = text, *comma;; t = comma + 1) {
		size_t len = (comma = strchr(t, ',')) ? (size_t)(comma - t) : strlen(t);

		if (!len) {
			line_error(cmd, NULL,
				   "--%s '%s' has an empty item: write %s, like "
				   "10.8.0.0/16,fd00:8::/64",
				   o->name, text, o->metavar);
			return -1;
		}
		if (out->count == max) {
			line_error(cmd, NULL, "--%s has more than %u networks: allowed 1-%u",
				   o->name, max, max);
			return -1;
		}
		snprintf(item, sizeof(item), "%.*s", (int)len, t);
		if (parse_prefix(item, what, &out->net[out->count++], err)) {
			line_error(cmd, NULL, "%s", err);
			return -1;
		}
		if (!comma)
			return 0;
	}
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
		return parse_seconds(cmd->name, o, r->value, field) ? -1 : 0;
	case CLI_STRINGS:
		*(struct cli_strings *)field = (struct cli_strings){r->values, r->count};
		return 0;
	case CLI_PREFIXES:
		return parse_prefixes(cmd->name, o, r->value, field);
	case CLI_COUNT:
		return parse_count(cmd->name, o, r->value, field) ? -1 : 0;
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
	for (int i = cmd->nargs; i < argc && !ret; i++)
		if (!strncmp(argv[i], "owner=", 6)) { /* the state file's field (spec.h) */
			pr_warn("%s: owner= is written by serve's NAT-PMP/PCP server, not by hand: "
				"a mapping given here is the operator's\n",
				cmd->name);
			ret = 2;
		}
	if (!ret && (cmd->variadic ? argc < cmd->nargs - 1 : argc != cmd->nargs))
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
		strbuf_appendf(&names, "%s, ", prog->commands[i].name);
	pr_warn("unknown command '%s': allowed %shelp\n", name, strbuf_str(&names));
	strbuf_free(&names);
}

/* The command P->words names, and its help or run. */
static int dispatch(const struct cli_program *prog, const struct cli_parse *p)
{
	const char *name = p->nwords ? p->words[0] : NULL;
	const struct cli_command *cmd = name ? find_command(prog, name) : NULL;
	int ret;

	if (p->help && !cmd) {
		cli_usage(prog, stdout);
		return 0;
	}
	if (!name) {
		cli_usage(prog, stderr);
		return 2;
	}
	log_init();
	if (p->help) {
		cli_command_help(prog, cmd, stdout);
		return 0;
	}
	if (!strcmp(name, "help"))
		return help_command(prog, p->nwords - 1, p->words + 1);
	if (!cmd) {
		unknown_command(prog, name);
		return 2;
	}
	ret = refuse_options(prog, cmd, p);
	return ret ? ret : run_command(prog, cmd, p, p->nwords - 1, p->words + 1);
}

int cli_main(const struct cli_program *prog, int argc, char **argv)
{
	static struct cli_parse p;
	int ret;

	memset(&p, 0, sizeof(p)); /* a second call (the unit tests) starts afresh */
	ret = parse_options(prog, &p, argc, argv);

	if (!ret && !p.done)
		ret = dispatch(prog, &p);
	free(p.words);
	p.words = NULL;
	return ret;
}
