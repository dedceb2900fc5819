// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * test_load.c - the load step (loader/bpfload.c): a program the kernel's
 * verifier rejects is named, with the verifier's last lines; a load that
 * fails before any program (a map the kernel refuses) gives its errno's text.
 * The rejection is real: xdpfwd's tc program xdpfwd_out, loaded as an XDP
 * program, reads __sk_buff fields that an XDP context does not have.
 */
#include <errno.h>
#include <string.h>
#include <linux/bpf.h>
#include "bpfload.h"
#include "harness.h"
#include "xdpfwd.h"
#include "xdpfwd.skel.h"

static void check_tail(const char *text, int n, const char *want)
{
	const char *got = text_tail(text, n);

	CHECK(!strcmp(got, want), "text_tail(\"%s\", %d): got \"%s\", want \"%s\"", text, n, got,
	      want);
}

/* The lines of TEXT after its first, each indented by four spaces. */
static int quoted_lines(const char *text)
{
	int n = 0;

	for (const char *p = strchr(text, '\n'); p; p = strchr(p + 1, '\n'))
		n += !strncmp(p + 1, "    ", 4);
	return n;
}

/* xdpfwd_out alone, as an XDP program: rejected by the verifier. */
static void check_rejection(void)
{
	static const char want[] = "the kernel's verifier rejected program 'xdpfwd_out' (";
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open();
	struct strbuf why = STRBUF_INIT;
	struct bpf_load_log log;
	struct bpf_program *prog;
	int err;

	if (!CHECK(skel != NULL, "opening the BPF object: %m"))
		return;
	bpf_object__for_each_program (prog, skel->obj)
		bpf_program__set_autoload(prog, prog == skel->progs.xdpfwd_out);
	bpf_program__set_type(skel->progs.xdpfwd_out, BPF_PROG_TYPE_XDP);
	CHECK(!bpf_load_log_attach(&log, skel->obj), "log buffers");
	err = bpf_load_reported(skel->obj, &log, &why);
	CHECK(err < 0, "a tc program loaded as XDP was accepted");
	CHECK(!strncmp(strbuf_str(&why), want, strlen(want)),
	      "the reason does not name the program: %s", strbuf_str(&why));
	CHECK(strstr(strbuf_str(&why), "); its last lines:\n    ") != NULL, "no verifier lines: %s",
	      strbuf_str(&why));
	CHECK(quoted_lines(strbuf_str(&why)) >= 2 &&
		  quoted_lines(strbuf_str(&why)) <= BPF_LOAD_LOG_LINES,
	      "%d lines quoted, want 2-%d: %s", quoted_lines(strbuf_str(&why)), BPF_LOAD_LOG_LINES,
	      strbuf_str(&why));
	/* The verifier ends its log with its statistics. */
	CHECK(strstr(strbuf_str(&why), "\n    processed ") != NULL, "not the log's end: %s",
	      strbuf_str(&why));
	bpf_load_log_free(&log);
	strbuf_free(&why);
	xdpfwd_bpf__destroy(skel);
}

/* A map the kernel refuses to create: the load fails before any program. */
static void check_map_failure(void)
{
	struct xdpfwd_bpf *skel = xdpfwd_bpf__open();
	struct strbuf why = STRBUF_INIT;
	struct bpf_load_log log;
	struct bpf_program *prog;
	int err;

	if (!CHECK(skel != NULL, "opening the BPF object: %m"))
		return;
	bpf_object__for_each_program (prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	bpf_map__set_value_size(skel->maps.xdpfwd_fwd, 0);
	CHECK(!bpf_load_log_attach(&log, skel->obj), "log buffers");
	err = bpf_load_reported(skel->obj, &log, &why);
	CHECK(err == -EINVAL, "a map with values of 0 bytes: %d", err);
	CHECK(!strcmp(strbuf_str(&why), strerror(EINVAL)), "reason: %s", strbuf_str(&why));
	bpf_load_log_free(&log);
	strbuf_free(&why);
	xdpfwd_bpf__destroy(skel);
}

UNIT_TEST(test_load, 15)
{
	check_tail("", 2, "");
	check_tail("one", 2, "one");
	check_tail("one\n", 2, "one\n");
	check_tail("one\ntwo\nthree\n", 2, "two\nthree\n");
	check_tail("one\ntwo\nthree", 2, "two\nthree");
	check_tail("one\ntwo\nthree\n", 1, "three\n");
	check_tail("\n\nlast\n", 2, "\nlast\n");
	check_rejection();
	check_map_failure();
	return 9; /* the cases above */
}
