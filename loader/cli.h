/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * cli.h - a command line described once, as tables: every option the program
 * knows (struct cli_option, in one array indexed by the program's own enum)
 * and every command (struct cli_command): its positional arguments, the
 * options it takes bound to the fields of its own typed option struct
 * (DEFINE_OPTION), its help and its handler. cli_main() parses, refuses,
 * converts and dispatches from these tables alone; the usage text, each
 * command's --help, the man page's SYNOPSIS and OPTIONS and the bash
 * completion are printed from them too (after xdp-tools' lib/util/params.h).
 *
 * Order of checks, each a message on stderr and exit code 2: option syntax
 * (getopt_long; an optional-argument number such as --watch's and a
 * repeatable option's count are checked as they are met, since what follows
 * depends on them), a missing or unknown command, options the command does
 * not take, the number of positional arguments and required options, then
 * each option's value in the command's order. Only then does the handler
 * run; its exit code is the program's.
 */
#ifndef XDPFWD_CLI_H
#define XDPFWD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "strbuf.h"
#include "xdpfwd.h"

/* Most values a repeatable option (CLI_STRINGS) keeps. */
#define CLI_MAX_REPEAT 64

enum cli_type {
	CLI_FLAG,     /* bool: given or not */
	CLI_STRING,   /* const char *: checked by the handler */
	CLI_ENUM,     /* int: one of .values, by name */
	CLI_SECONDS,  /* double in .min-.max; the argument is optional: a number that
		       * follows is taken (--watch 2), none means .bare */
	CLI_STRINGS,  /* struct cli_strings: repeatable, at most .max times */
	CLI_PREFIXES, /* struct cli_prefixes: CIDR[,CIDR], 1-.max networks */
	CLI_COUNT,    /* __u32: a whole number in .min-.max (decimal, no sign) */
	CLI_GLOBAL,   /* handled by cli_main itself (--pin-dir, -v, --help, ...) */
};

/* What the bash completion offers for a value. */
enum cli_complete {
	CLI_COMPLETE_NONE,
	CLI_COMPLETE_IFACE, /* names in /sys/class/net */
	CLI_COMPLETE_FILE,
	CLI_COMPLETE_DIR,
	CLI_COMPLETE_WORDS, /* .values, or a positional's words */
	/* The public side of each mapping of the protocol given as the first
	 * argument, as del takes it ([ADDR:]PORT[-PORT]), from `list --json` at
	 * completion time (with jq). */
	CLI_COMPLETE_MAPPED,
};

/* The option indexes cli_main handles itself (CLI_GLOBAL). */
enum cli_global {
	CLI_NOT_GLOBAL,
	CLI_GLOBAL_PIN_DIR,
	CLI_GLOBAL_STATE_DIR,
	CLI_GLOBAL_VERBOSE,
	CLI_GLOBAL_VERSION,
	CLI_GLOBAL_HELP, /* the usage text lists them in this order */
	CLI_GLOBAL_END,
};

struct cli_value {
	const char *name;
	int value;
};

struct cli_option {
	const char *name; /* long name, without "--" */
	char short_name;  /* or 0 */
	enum cli_type type;
	enum cli_global global; /* CLI_GLOBAL: which */
	const char *metavar;
	const struct cli_value *values; /* CLI_ENUM, ended by a NULL name */
	double min, max, bare;		/* CLI_SECONDS range and value when bare;
					 * CLI_STRINGS, CLI_PREFIXES: .max count */
	const char *help;		/* a sentence or two, with the allowed range */
	const char *limit;		/* CLI_STRINGS: said when given too often */
	/* Options of one refuse group are refused together, by one message that
	 * names them all and the commands that take them, in group order. */
	int refuse_group;
	const char *refuse_hint;
	/* Usage text: shown as [LABEL] in a synopsis and explained on a line of
	 * its own (add's POLICY); .brief in parentheses after it; .usage
	 * instead of the generated text; a new line before it. */
	const char *label;
	const char *brief;
	const char *usage;
	bool usage_break;
	/* Left out of the short form a usage error quotes (--replace, --force):
	 * it modifies a command that is complete without it. */
	bool modifier;
	enum cli_complete complete;
};

struct cli_strings {
	const char *const *values;
	size_t count;
};

struct cli_prefixes {
	struct xdpfwd_prefix net[XDPFWD_MAX_CLIENT_NETS];
	__u32 count;
};

/* One option a command takes: which, where its value goes, whether it must
 * be given. */
struct cli_bind {
	int option; /* index into the program's options */
	size_t offset;
	bool required;
};

#define DEFINE_OPTION(_option, _type, _member, ...)                                  \
	{                                                                            \
		.option = (_option), .offset = offsetof(_type, _member), __VA_ARGS__ \
	}

struct cli_arg {
	const char *metavar;
	enum cli_complete complete;
	const char *words; /* CLI_COMPLETE_WORDS, space-separated */
};

struct cli_context;

struct cli_command {
	const char *name;
	const struct cli_arg *args; /* exactly nargs of them */
	int nargs;
	const struct cli_bind *options;
	int noptions;
	const void *defaults; /* opts_size bytes the option struct starts from */
	size_t opts_size;
	int (*run)(const struct cli_context *ctx, const void *opts, char **argv);
	const char *help;	/* what it does: CMD --help and the man page */
	const char *note;	/* after the synopsis in the usage text */
	const char *label_note; /* after the explanation of the label */
	bool variadic;		/* the last argument repeats, 0 or more times */
};

#define DEFINE_COMMAND(_name, _args, _opts_type, _defaults, ...)                              \
	{                                                                                     \
		.name = #_name, .args = (_args), .nargs = sizeof(_args) / sizeof((_args)[0]), \
		.options = _name##_options,                                                   \
		.noptions = sizeof(_name##_options) / sizeof(_name##_options[0]),             \
		.defaults = (_defaults), .opts_size = sizeof(_opts_type), .run = cmd_##_name, \
		__VA_ARGS__                                                                   \
	}

struct cli_program {
	const char *name;
	const char *version;
	const struct cli_option *options; /* getopt_long's order */
	int noptions;
	const struct cli_command *commands;
	int ncommands;
	const char *footer; /* the usage text's line before the global options */
};

/* What every handler gets besides its own options. */
struct cli_context {
	const struct cli_program *prog;
	const struct cli_command *cmd;
	const char *pin_dir;   /* --pin-dir, or NULL */
	const char *state_dir; /* --state-dir, or NULL */
};

/* Parses ARGV by PROG's tables and runs the command; returns the exit code. */
int cli_main(const struct cli_program *prog, int argc, char **argv);

/* The usage text (xdpfwd --help) and one command's help (xdpfwd CMD --help). */
void cli_usage(const struct cli_program *prog, FILE *out);
void cli_command_help(const struct cli_program *prog, const struct cli_command *cmd, FILE *out);
/* For `PROG help man-synopsis|man-options|bash-completion`: the man page's
 * generated parts and the completion script (cli_doc.c). */
void cli_man_synopsis(const struct cli_program *prog, FILE *out);
void cli_man_options(const struct cli_program *prog, FILE *out);
void cli_bash_completion(const struct cli_program *prog, FILE *out);

/* CMD's arguments and options, appended to OUT: the short form a usage error
 * quotes, or (FULL) every one; with INDENT, a new line and INDENT spaces
 * where the table asks for one (the usage text). */
void cli_synopsis(const struct cli_program *prog, const struct cli_command *cmd, bool full,
		  int indent, struct strbuf *out);
/* "--mode native|generic", "--watch [SECONDS]"; FULL: "--clients CIDR[,CIDR]...";
 * appended to OUT. */
void cli_option_form(const struct cli_option *o, bool full, struct strbuf *out);
/* Whether CMD takes option index ID. */
bool cli_takes(const struct cli_command *cmd, int id);

#endif
