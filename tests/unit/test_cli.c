// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_cli.c - the texts made from the command table are never cut short:
 * an enum with more values, a command with more options than any of today's
 * fit whole in a usage error's synopsis, a command's --help and the bash
 * completion (they were built in fixed buffers of 256 to 2048 bytes, which
 * stopped silently at their end).
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "harness.h"

#define NVALUES	 60 /* "value-00|...|value-59": 539 characters */
#define NOPTIONS 50 /* each "[--option-00 A-LONG-METAVAR-00]" */

static struct cli_value values[NVALUES + 1];
static char value_names[NVALUES][16], option_names[NOPTIONS][16], metavars[NOPTIONS][32];
static struct cli_option options[NOPTIONS + 1];
static struct cli_bind binds[NOPTIONS + 1];
static const struct cli_arg args[] = {{"ARG", CLI_COMPLETE_NONE, NULL}};
static const struct cli_command commands[] = {{
    .name = "long",
    .args = args,
    .nargs = 1,
    .options = binds,
    .noptions = NOPTIONS + 1,
    .help = "A command with more options than fit in 2048 bytes.",
}};
static const struct cli_program prog = {
    .name = "prog",
    .version = "0",
    .options = options,
    .noptions = NOPTIONS + 1,
    .commands = commands,
    .ncommands = 1,
    .footer = "",
};

static void build_table(void)
{
	for (int i = 0; i < NVALUES; i++) {
		snprintf(value_names[i], sizeof(value_names[i]), "value-%02d", i);
		values[i] = (struct cli_value){value_names[i], i};
	}
	for (int i = 0; i < NOPTIONS; i++) {
		snprintf(option_names[i], sizeof(option_names[i]), "option-%02d", i);
		snprintf(metavars[i], sizeof(metavars[i]), "A-LONG-METAVAR-%02d", i);
		options[i] = (struct cli_option){.name = option_names[i],
						 .type = CLI_STRING,
						 .metavar = metavars[i],
						 .help = "An option.",
						 .complete = CLI_COMPLETE_NONE};
		binds[i] = (struct cli_bind){.option = i};
	}
	options[NOPTIONS] = (struct cli_option){.name = "choice",
						.type = CLI_ENUM,
						.values = values,
						.help = "One of many.",
						.complete = CLI_COMPLETE_WORDS};
	binds[NOPTIONS] = (struct cli_bind){.option = NOPTIONS};
}

/* What FN printed, malloc'd. */
static char *printed(void (*fn)(const struct cli_program *, FILE *))
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (out) {
		fn(&prog, out);
		fclose(out);
	}
	return text;
}

static void command_help(const struct cli_program *p, FILE *out)
{
	cli_command_help(p, &p->commands[0], out);
}

UNIT_TEST(test_cli, 5)
{
	struct strbuf form = STRBUF_INIT, synopsis = STRBUF_INIT;
	char last_value[32], last_option[64];
	char *help, *completion;

	build_table();
	snprintf(last_value, sizeof(last_value), "|value-%02d", NVALUES - 1);
	snprintf(last_option, sizeof(last_option), "[--option-%02d A-LONG-METAVAR-%02d]",
		 NOPTIONS - 1, NOPTIONS - 1);

	cli_option_form(&options[NOPTIONS], true, &form);
	CHECK(!strncmp(strbuf_str(&form), "--choice value-00|value-01|", 27) &&
		  strstr(strbuf_str(&form), last_value) && form.len == 9 + NVALUES * 9 - 1,
	      "enum form cut short (%zu characters): '%s'", form.len, strbuf_str(&form));

	cli_synopsis(&prog, &commands[0], false, 0, &synopsis);
	CHECK(!strncmp(strbuf_str(&synopsis), "ARG [--option-00 A-LONG-METAVAR-00] ", 36) &&
		  strstr(strbuf_str(&synopsis), last_option) &&
		  strstr(strbuf_str(&synopsis), last_value) && synopsis.len > 2048,
	      "synopsis cut short (%zu characters): '%s'", synopsis.len, strbuf_str(&synopsis));

	/* --help fills its lines, so a word, not the whole form, is looked for. */
	help = printed(command_help);
	CHECK(help && strstr(help, "--option-49 A-LONG-METAVAR-49") && strstr(help, "value-59]") &&
		  strstr(help, "Global options"),
	      "command help cut short: '%s'", help ?: "(null)");

	completion = printed(cli_bash_completion);
	CHECK(completion && strstr(completion, "value-58 value-59\" -- \"$cur\""),
	      "completion of --choice cut short");

	strbuf_free(&form);
	strbuf_free(&synopsis);
	free(help);
	free(completion);
	return 4;
}

/* The completion made from a table with an interface argument, del's mapped
 * ports and a global option with a value: each offers what the table says
 * (the interfaces of /sys/class/net; the mappings of the protocol given,
 * from `PROG [--pin-dir DIR] list --json`, as bash's word after a ':'). */
static const struct cli_option small_options[] = {
    {"pin-dir", 0, CLI_GLOBAL, CLI_GLOBAL_PIN_DIR, "DIR", .help = "Where.",
     .complete = CLI_COMPLETE_DIR},
    {"json", 0, CLI_FLAG, .help = "JSON."},
};
static const struct cli_arg iface_args[] = {{"IFACE", CLI_COMPLETE_IFACE, NULL}};
static const struct cli_arg mapped_args[] = {{"PROTO", CLI_COMPLETE_WORDS, "tcp udp both"},
					     {"PORT", CLI_COMPLETE_MAPPED, NULL}};
static const struct cli_bind small_binds[] = {{.option = 1}};
static const struct cli_command small_commands[] = {
    {.name = "up",
     .args = iface_args,
     .nargs = 1,
     .options = small_binds,
     .noptions = 1,
     .help = "Up."},
    {.name = "rm",
     .args = mapped_args,
     .nargs = 2,
     .options = small_binds,
     .noptions = 1,
     .help = "Remove."},
};
static const struct cli_program small = {
    .name = "prog",
    .version = "0",
    .options = small_options,
    .noptions = 2,
    .commands = small_commands,
    .ncommands = 2,
    .footer = "",
};

UNIT_TEST(test_cli_completion, 5)
{
	static const char *const want[] = {
	    /* up IFACE */
	    "\tup)\n\t\tif [[ $cur == -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W \"--json "
	    "--pin-dir\" -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\t\tcase $nargs in\n\t\t0) "
	    "COMPREPLY=($(compgen -W \"$(command ls /sys/class/net 2>/dev/null)\" -- \"$cur\")) ;;",
	    /* rm PROTO PORT */
	    "\t\t0) COMPREPLY=($(compgen -W \"tcp udp both\" -- \"$cur\")) ;;\n\t\t1) "
	    "COMPREPLY=($(compgen -W \"$(_prog_mapped \"${args[0]}\" \"${w[0]}\" "
	    "\"${gopts[@]}\")\" -- \"$cur\"))\n\t\t\t[[ $cur != *:* ]] || "
	    "COMPREPLY=(\"${COMPREPLY[@]#\"${cur%:*}:\"}\") ;;",
	    /* the global options' values kept for list --json, the others skipped */
	    "\t\t--pin-dir) gopts+=(\"${w[i]}\" \"${w[i + 1]}\"); ((i++)) ;;\n",
	    "else args+=(\"${w[i]}\"); ((nargs++)); fi ;;",
	    /* the mappings, from list --json */
	    "_prog_mapped() {\n\t\"$2\" \"${@:3}\" list --json 2>/dev/null | jq -r --arg p \"$1\" "
	    "'.[]\n\t\t| select($p == \"both\" or .proto == $p)\n",
	    "\t\t| if .public_addr == null then $ports\n\t\t  elif .family == \"ipv6\" then "
	    "\"[\\(.public_addr)]:\\($ports)\"\n\t\t  else \"\\(.public_addr):\\($ports)\" end'",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int n = 0;

	if (out) {
		cli_bash_completion(&small, out);
		fclose(out);
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++, n++)
		CHECK(text && strstr(text, want[i]), "completion lacks:\n%s\nin:\n%s", want[i],
		      text ?: "(null)");
	free(text);
	return n;
}
