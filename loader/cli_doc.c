// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cli_doc.c - the texts made from the command tables of cli.h: the usage
 * text, a command's help, the generated parts of the man page (roff, see
 * groff_man(7)) and the bash completion script. Nothing here is written by
 * hand per command, so none of them can drift from what cli_main accepts.
 */
#include <ctype.h>
#include <string.h>
#include "cli.h"

#define WIDTH 80

/* TEXT filled to WIDTH columns, the first line INDENT spaces in, the others
 * HANG. */
static void fill(FILE *out, const char *text, int indent, int hang)
{
	int col = 0;
	bool first = true;

	while (*text) {
		int word = (int)strcspn(text, " ");

		if (col && col + 1 + word > WIDTH) {
			fputc('\n', out);
			col = 0;
		}
		if (!col)
			col = fprintf(out, "%*s", first ? indent : hang, "");
		else
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", word, text);
		first = false;
		text += word;
		text += strspn(text, " ");
	}
	if (col)
		fputc('\n', out);
}

/* The explanation of a labelled group of options ("POLICY: --allow CIDR
 * (repeatable), ..."), on its own lines of the usage text. */
static void usage_label(const struct cli_program *prog, const struct cli_command *cmd, int indent,
			FILE *out)
{
	const char *label = NULL;
	struct strbuf form = STRBUF_INIT;

	for (int i = 0; i < cmd->noptions; i++) {
		const struct cli_option *o = &prog->options[cmd->options[i].option];

		if (!o->label)
			continue;
		if (!label)
			fprintf(out, "%*s%s: ", indent, "", o->label);
		else
			fprintf(out, o->usage_break ? ",\n%*s" : ", ", indent, "");
		label = o->label;
		strbuf_reset(&form);
		cli_option_form(o, true, &form);
		fprintf(out, "%s%s", strbuf_str(&form),
			o->type == CLI_STRINGS ? " (repeatable)" : "");
	}
	if (label)
		fprintf(out, "%s\n", cmd->label_note ?: "");
	strbuf_free(&form);
}

static void usage_command(const struct cli_program *prog, const struct cli_command *cmd, FILE *out)
{
	int indent = 2 + (int)strlen(cmd->name) + 1;
	struct strbuf synopsis = STRBUF_INIT;

	cli_synopsis(prog, cmd, true, indent, &synopsis);
	fprintf(out, "  %s%s%s", cmd->name, synopsis.len ? " " : "", strbuf_str(&synopsis));
	strbuf_free(&synopsis);
	if (cmd->note)
		fputs("   ", out);
	for (const char *c = cmd->note ?: ""; *c; c++)
		if (*c == '\n')
			fprintf(out, "\n%*s", indent, "");
		else
			fputc(*c, out);
	fputc('\n', out);
	usage_label(prog, cmd, indent, out);
}

/* "--pin-dir DIR (default ...)", or the option's own usage text. */
static void global_form(const struct cli_option *o, FILE *out)
{
	if (o->usage) {
		fputs(o->usage, out);
		return;
	}
	fprintf(out, "--%s", o->name);
	if (o->metavar)
		fprintf(out, " %s", o->metavar);
	if (o->brief)
		fprintf(out, " (%s)", o->brief);
}

/* "-v", "--pin-dir DIR": a global option as a command's help names it,
 * appended to OUT. */
static void global_short_form(const struct cli_option *o, struct strbuf *out)
{
	if (o->short_name)
		strbuf_appendf(out, "-%c", o->short_name);
	else
		strbuf_appendf(out, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ?: "");
}

static const struct cli_option *global_option(const struct cli_program *prog, int global)
{
	for (int i = 0; i < prog->noptions; i++)
		if (prog->options[i].type == CLI_GLOBAL && (int)prog->options[i].global == global)
			return &prog->options[i];
	return NULL;
}

void cli_usage(const struct cli_program *prog, FILE *out)
{
	fprintf(out, "Usage: %s [OPTIONS] COMMAND ...\n", prog->name);
	for (int i = 0; i < prog->ncommands; i++)
		usage_command(prog, &prog->commands[i], out);
	fprintf(out, "%s\n", prog->footer);
	fputs("Options: ", out);
	for (int g = CLI_GLOBAL_PIN_DIR; g < CLI_GLOBAL_END; g++) {
		const struct cli_option *o = global_option(prog, g);

		if (!o)
			continue;
		if (g != CLI_GLOBAL_PIN_DIR)
			fputs(o->usage_break ? ",\n         " : ", ", out);
		global_form(o, out);
	}
	fputc('\n', out);
}

void cli_command_help(const struct cli_program *prog, const struct cli_command *cmd, FILE *out)
{
	struct strbuf line = STRBUF_INIT;

	strbuf_appendf(&line, "Usage: %s [OPTIONS] %s ", prog->name, cmd->name);
	cli_synopsis(prog, cmd, true, 0, &line);
	fill(out, strbuf_str(&line), 0, 8);
	fputc('\n', out);
	fill(out, cmd->help, 0, 0);
	if (cmd->noptions)
		fputs("\nOptions:\n", out);
	for (int i = 0; i < cmd->noptions; i++) {
		const struct cli_option *o = &prog->options[cmd->options[i].option];

		strbuf_reset(&line);
		cli_option_form(o, true, &line);
		fprintf(out, "  %s%s\n", strbuf_str(&line),
			cmd->options[i].required ? " (required)" : "");
		fill(out, o->help, 6, 6);
	}
	fputc('\n', out);
	strbuf_reset(&line);
	strbuf_appendf(&line, "Global options (see %s --help):", prog->name);
	for (int g = CLI_GLOBAL_PIN_DIR; g < CLI_GLOBAL_END; g++) {
		const struct cli_option *o = global_option(prog, g);

		if (!o)
			continue;
		strbuf_append(&line, g == CLI_GLOBAL_PIN_DIR ? " " : ", ");
		global_short_form(o, &line);
	}
	fill(out, strbuf_str(&line), 0, 2);
	strbuf_free(&line);
}

/* A synopsis in roff: "--name" and lower-case words (values) bold, upper-case
 * words (what the user fills in) italic, the rest roman. */
static void roff_words(FILE *out, const char *s)
{
	static const char lower[] = "abcdefghijklmnopqrstuvwxyz-",
			  upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_",
			  /* an option's name may hold digits: --pcp-internal-port-0 */
	    option[] = "abcdefghijklmnopqrstuvwxyz0123456789-";

	while (*s) {
		size_t n = 0;
		const char *font = NULL;

		if (s[0] == '-' && s[1] == '-')
			n = 2 + strspn(s + 2, option), font = "B";
		else if (s[0] == '-' && islower((unsigned char)s[1]))
			n = 1 + strspn(s + 1, lower), font = "B";
		else if (isupper((unsigned char)*s))
			n = strspn(s, upper), font = "I";
		else if (islower((unsigned char)*s))
			n = strspn(s, lower), font = "B";
		if (font)
			fprintf(out, "\\f%s", font);
		for (size_t i = 0; i < (n ? n : 1); i++)
			fputs(s[i] == '-' ? "\\-" : s[i] == '\\' ? "\\e" : (char[]){s[i], 0}, out);
		if (font)
			fputs("\\fR", out);
		s += n ? n : 1;
	}
	fputc('\n', out);
}

/* Prose in roff: backslashes escaped, and a minus where a word starts with
 * "-" (an option), so that it can be searched and copied. */
static void roff_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (const char *c = s; *c; c++) {
		bool minus = *c == '-' && (c == s || c[-1] == ' ' || c[-1] == '(' || c[-1] == '-' ||
					   c[-1] == '/');

		fputs(minus ? "\\-" : *c == '\\' ? "\\e" : (char[]){*c, 0}, out);
	}
	fputc('\n', out);
}

static void man_synopsis_of(const struct cli_program *prog, const struct cli_command *cmd,
			    FILE *out)
{
	struct strbuf line = STRBUF_INIT;

	strbuf_appendf(&line, "%s ", cmd->name);
	cli_synopsis(prog, cmd, true, 0, &line);
	fprintf(out, ".SY %s\n.RI [ OPTIONS ]\n", prog->name);
	roff_words(out, strbuf_str(&line));
	fputs(".YS\n", out);
	strbuf_free(&line);
}

void cli_man_synopsis(const struct cli_program *prog, FILE *out)
{
	for (int i = 0; i < prog->ncommands; i++)
		man_synopsis_of(prog, &prog->commands[i], out);
	fprintf(out, ".SY %s\n.B help\n.RI [ COMMAND ]\n.YS\n", prog->name);
}

static void man_option(const struct cli_option *o, bool required, FILE *out)
{
	struct strbuf form = STRBUF_INIT;

	if (o->type == CLI_GLOBAL && o->short_name)
		strbuf_appendf(&form, "-%c, --%s", o->short_name, o->name);
	else if (o->type == CLI_GLOBAL)
		global_short_form(o, &form);
	else
		cli_option_form(o, true, &form);
	fputs(".TP\n", out);
	roff_words(out, strbuf_str(&form));
	strbuf_free(&form);
	roff_text(out, o->help);
	if (required)
		fputs("Required.\n", out);
}

void cli_man_options(const struct cli_program *prog, FILE *out)
{
	fputs(".SH OPTIONS\nThese go before or after the command.\n", out);
	for (int g = CLI_GLOBAL_PIN_DIR; g < CLI_GLOBAL_END; g++)
		if (global_option(prog, g))
			man_option(global_option(prog, g), false, out);
	fputs(".SH COMMANDS\n", out);
	for (int i = 0; i < prog->ncommands; i++) {
		const struct cli_command *cmd = &prog->commands[i];

		fprintf(out, ".SS %s\n", cmd->name);
		man_synopsis_of(prog, cmd, out);
		fputs(".PP\n", out);
		roff_text(out, cmd->help);
		for (int k = 0; k < cmd->noptions; k++)
			man_option(&prog->options[cmd->options[k].option], cmd->options[k].required,
				   out);
	}
}

/* The shell words that complete a value of kind C (PROG: the program's
 * name, which its helper functions carry). */
static void complete_words(const char *prog, enum cli_complete c, const char *words, FILE *out)
{
	switch (c) {
	case CLI_COMPLETE_IFACE:
		fputs("COMPREPLY=($(compgen -W \"$(command ls /sys/class/net 2>/dev/null)\" -- "
		      "\"$cur\"))",
		      out);
		break;
	case CLI_COMPLETE_FILE:
		fputs("compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))",
		      out);
		break;
	case CLI_COMPLETE_DIR:
		fputs("compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\"))",
		      out);
		break;
	case CLI_COMPLETE_WORDS:
		fprintf(out, "COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))", words);
		break;
	case CLI_COMPLETE_MAPPED:
		/* Bash completes the word after the last ':' of ADDR:PORT. */
		fprintf(out,
			"COMPREPLY=($(compgen -W \"$(_%s_mapped \"${args[0]}\" \"${w[0]}\" "
			"\"${gopts[@]}\")\" -- \"$cur\"))\n\t\t\t[[ $cur != *:* ]] || "
			"COMPREPLY=(\"${COMPREPLY[@]#\"${cur%%:*}:\"}\")",
			prog);
		break;
	default:
		fputs(":", out);
		break;
	}
}

/* Every option given with a separate value: "--a|--b"; GLOBAL: only the
 * global ones (--pin-dir), else only the others. */
static void valued_options(const struct cli_program *prog, bool global, FILE *out)
{
	bool first = true;

	for (int i = 0; i < prog->noptions; i++) {
		const struct cli_option *o = &prog->options[i];

		if (o->type == CLI_FLAG || o->type == CLI_SECONDS ||
		    (o->type == CLI_GLOBAL && !o->metavar) || (o->type == CLI_GLOBAL) != global)
			continue;
		fprintf(out, "%s--%s", first ? "" : "|", o->name);
		first = false;
	}
}

static void completion_values(const struct cli_program *prog, FILE *out)
{
	struct strbuf values = STRBUF_INIT;

	fputs("\tcase $prev in\n", out);
	for (int i = 0; i < prog->noptions; i++) {
		const struct cli_option *o = &prog->options[i];

		if (o->type == CLI_FLAG || o->type == CLI_SECONDS ||
		    (o->type == CLI_GLOBAL && !o->metavar))
			continue;
		strbuf_reset(&values);
		for (int k = 0; o->values && o->values[k].name; k++)
			strbuf_appendf(&values, "%s%s", k ? " " : "", o->values[k].name);
		fprintf(out, "\t--%s)\n\t\t", o->name);
		complete_words(prog->name, o->complete, strbuf_str(&values), out);
		fputs("\n\t\treturn ;;\n", out);
	}
	fputs("\tesac\n", out);
	strbuf_free(&values);
}

static void completion_command(const struct cli_program *prog, const struct cli_command *cmd,
			       const char *globals, FILE *out)
{
	fprintf(out, "\t%s)\n\t\tif [[ $cur == -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W \"",
		cmd->name);
	for (int k = 0; k < cmd->noptions; k++)
		fprintf(out, "--%s ", prog->options[cmd->options[k].option].name);
	fprintf(out, "%s\" -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\t\tcase $nargs in\n", globals);
	for (int k = 0; k < cmd->nargs; k++) {
		if (cmd->args[k].complete == CLI_COMPLETE_NONE)
			continue;
		fprintf(out, "\t\t%d) ", k);
		complete_words(prog->name, cmd->args[k].complete, cmd->args[k].words, out);
		fputs(" ;;\n", out);
	}
	fputs("\t\tesac ;;\n", out);
}

void cli_bash_completion(const struct cli_program *prog, FILE *out)
{
	struct strbuf g = STRBUF_INIT, c = STRBUF_INIT;
	const char *globals, *commands;

	for (int k = CLI_GLOBAL_PIN_DIR; k < CLI_GLOBAL_END; k++)
		if (global_option(prog, k))
			strbuf_appendf(&g, "%s--%s", g.len ? " " : "",
				       global_option(prog, k)->name);
	for (int i = 0; i < prog->ncommands; i++)
		strbuf_appendf(&c, "%s ", prog->commands[i].name);
	strbuf_append(&c, "help");
	globals = strbuf_str(&g);
	commands = strbuf_str(&c);
	fprintf(
	    out,
	    "# bash completion for %s. Made from its command table by `%s help\n"
	    "# bash-completion` (make completion): edit the table, not this file.\n"
	    "\n"
	    "# The public side of each mapping of protocol $1 (tcp, udp, both), as del\n"
	    "# takes it: PORT[-PORT] for a wildcard, ADDR:PORT[-PORT] for an address;\n"
	    "# from `$2 ${@:3} list --json`.\n"
	    "_%s_mapped() {\n"
	    "\t\"$2\" \"${@:3}\" list --json 2>/dev/null | jq -r --arg p \"$1\" '.[]\n"
	    "\t\t| select($p == \"both\" or .proto == $p)\n"
	    "\t\t| (if .public_port_end > .public_port then \"\\(.public_port)-\\(.public_port_end)\"\n"
	    "\t\t   else \"\\(.public_port)\" end) as $ports\n"
	    "\t\t| if .public_addr == null then $ports\n"
	    "\t\t  elif .family == \"ipv6\" then \"[\\(.public_addr)]:\\($ports)\"\n"
	    "\t\t  else \"\\(.public_addr):\\($ports)\" end' 2>/dev/null\n"
	    "}\n"
	    "\n"
	    "_%s() {\n"
	    "\t# Words as typed, without COMP_WORDBREAKS splitting ADDR:PORT.\n"
	    "\tlocal line=${COMP_LINE:0:COMP_POINT} cmd= nargs=0 i\n"
	    "\tlocal -a w\n"
	    "\tread -ra w <<<\"$line\"\n"
	    "\t[[ $line == *[[:space:]] || ${#w[@]} == 0 ]] && w+=(\"\")\n"
	    "\tlocal cur=${w[-1]} prev=\n"
	    "\t((${#w[@]} < 2)) || prev=${w[-2]}\n"
	    "\tCOMPREPLY=()\n",
	    prog->name, prog->name, prog->name, prog->name);
	completion_values(prog, out);
	/* The words before the current one: the command, its arguments (ARGS)
	 * and the global options with their values (GOPTS, for list --json). */
	fputs("\tlocal -a args=() gopts=()\n"
	      "\tfor ((i = 1; i < ${#w[@]} - 1; i++)); do\n\t\tcase ${w[i]} in\n\t\t",
	      out);
	valued_options(prog, true, out);
	fputs(") gopts+=(\"${w[i]}\" \"${w[i + 1]}\"); ((i++)) ;;\n\t\t", out);
	valued_options(prog, false, out);
	fputs(") ((i++)) ;;\n\t\t-*) ;;\n\t\t*) if [ -z \"$cmd\" ]; then cmd=${w[i]}; "
	      "else args+=(\"${w[i]}\"); ((nargs++)); fi ;;\n\t\tesac\n\tdone\n\tcase $cmd in\n",
	      out);
	fprintf(
	    out,
	    "\t\"\")\n\t\tif [[ $cur == -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W \"%s\" -- "
	    "\"$cur\"))\n\t\telse\n\t\t\tCOMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n\t\tfi ;;\n",
	    globals, commands);
	for (int i = 0; i < prog->ncommands; i++)
		completion_command(prog, &prog->commands[i], globals, out);
	fprintf(out,
		"\thelp)\n\t\t[ \"$nargs\" != 0 ] || COMPREPLY=($(compgen -W \"%s\" -- "
		"\"$cur\")) ;;\n\tesac\n}\ncomplete -F _%s %s\n",
		commands, prog->name, prog->name);
	strbuf_free(&g);
	strbuf_free(&c);
}
