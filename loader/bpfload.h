/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bpfload.h - loading a BPF object as a step of its own, which says which
 * program the kernel's verifier rejected and the verifier's last lines (what
 * libbpf-bootstrap and xdp-loader show), instead of an errno.
 *
 * libbpf loads each program with log level 0 and, only when the load fails,
 * again with level 1 into the log buffer the program was given
 * (bpf_object_load_prog() in libbpf.c, v1.1): a good load costs nothing more.
 * At level 1 the verifier keeps the log of the path that failed only, and
 * from kernel 6.4 a log longer than its buffer keeps its end (the rotating
 * log of kernel/bpf/log.c), returning ENOSPC instead of the verifier's errno.
 */
#ifndef XDPFWD_BPFLOAD_H
#define XDPFWD_BPFLOAD_H

#include <stddef.h>
#include <bpf/libbpf.h>
#include "strbuf.h"

/* Bytes of verifier log kept per program: the failing path of the largest
 * program at level 1 fits many times over. calloc'd, so only what the kernel
 * writes is backed by memory. */
#define BPF_LOAD_LOG_BYTES (4u << 20)
/* Lines of the verifier's log a failed load quotes (-vv prints it whole). */
#define BPF_LOAD_LOG_LINES 12
#define BPF_LOAD_MAX_PROGS 16

struct bpf_load_log {
	struct bpf_program *prog[BPF_LOAD_MAX_PROGS];
	char *buf[BPF_LOAD_MAX_PROGS];
	size_t count;
};

/* Gives every program of OBJ (opened, not loaded) a log buffer. 0, or -ENOMEM
 * or -E2BIG (more than BPF_LOAD_MAX_PROGS programs); LOG is to be freed with
 * bpf_load_log_free() either way. */
int bpf_load_log_attach(struct bpf_load_log *log, struct bpf_object *obj);
void bpf_load_log_free(struct bpf_load_log *log);

/* Loads OBJ, whose programs LOG watches: 0, or -errno with WHY set to one
 * paragraph: "the kernel's verifier rejected program 'NAME' (ERRNO TEXT);
 * its last lines:" and the last BPF_LOAD_LOG_LINES lines of its log, each
 * indented by four spaces; or, when no program has a log (a map could not be
 * created or reused, the object is not for this kernel), the errno's text.
 * The whole log goes to pr_debug. */
int bpf_load_reported(struct bpf_object *obj, const struct bpf_load_log *log, struct strbuf *why);

/* Where the last N lines of TEXT begin (a final newline ends the last line,
 * it does not start an empty one): TEXT itself when it has at most N. */
const char *text_tail(const char *text, int n);

#endif
