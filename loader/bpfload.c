// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * bpfload.c - a BPF object's load, with the verifier's reasons (bpfload.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bpfload.h"
#include "log.h"

int bpf_load_log_attach(struct bpf_load_log *log, struct bpf_object *obj)
{
	struct bpf_program *prog;

	memset(log, 0, sizeof(*log));
	bpf_object__for_each_program (prog, obj) {
		char *buf;

		if (log->count == BPF_LOAD_MAX_PROGS)
			return -E2BIG;
		buf = calloc(1, BPF_LOAD_LOG_BYTES);
		if (!buf)
			return -ENOMEM;
		log->prog[log->count] = prog;
		log->buf[log->count++] = buf;
		if (bpf_program__set_log_buf(prog, buf, BPF_LOAD_LOG_BYTES))
			return -EINVAL;
	}
	return 0;
}

void bpf_load_log_free(struct bpf_load_log *log)
{
	for (size_t i = 0; i < log->count; i++) {
		bpf_program__set_log_buf(log->prog[i], NULL, 0);
		free(log->buf[i]);
	}
	memset(log, 0, sizeof(*log));
}

const char *text_tail(const char *text, int n)
{
	const char *p = text + strlen(text);

	if (p > text && p[-1] == '\n')
		p--; /* the last line's own newline */
	while (p > text) {
		if (p[-1] == '\n' && --n == 0)
			break;
		p--;
	}
	return p;
}

/* The last lines of LOG, each on its own line, indented. */
static void quote_tail(struct strbuf *why, const char *log)
{
	const char *p = text_tail(log, BPF_LOAD_LOG_LINES);

	while (*p) {
		size_t len = strcspn(p, "\n");

		strbuf_append(why, "\n    ");
		strbuf_appendn(why, p, len);
		p += len + (p[len] == '\n');
	}
}

int bpf_load_reported(struct bpf_object *obj, const struct bpf_load_log *log, struct strbuf *why)
{
	int err;

	for (size_t i = 0; i < log->count; i++)
		log->buf[i][0] = '\0';
	err = bpf_object__load(obj);
	if (!err)
		return 0;
	if (err > 0)
		err = -err;
	for (size_t i = 0; i < log->count; i++) {
		const char *name = bpf_program__name(log->prog[i]);

		if (!log->buf[i][0])
			continue;
		pr_debug("the verifier's log of '%s':\n%s", name, log->buf[i]);
		strbuf_appendf(
		    why, "the kernel's verifier rejected program '%s' (%s); its last lines:", name,
		    strerror(-err));
		quote_tail(why, log->buf[i]);
		return err;
	}
	strbuf_append(why, strerror(-err));
	return err;
}
