/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * check.h - `xdpfwd check`: what an operator runs first when something is
 * wrong. It reads the running system and changes nothing: the kernel's
 * features the programs need, the attachment, the egress devices, the
 * sysctls, offloads, nftables masquerade, the state file and the daemon.
 * Each item is ok, a warning or an error, with one line of why and what to
 * do.
 *
 * Exit status (check_exit()): 0 every item ok, 1 a warning or more and no
 * error, 2 an error or more (2 is also a bad command line's, which prints
 * no report).
 */
#ifndef XDPFWD_CHECK_H
#define XDPFWD_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include "strbuf.h"

enum check_level { CHECK_OK, CHECK_WARNING, CHECK_ERROR };

struct check_item {
	char name[32]; /* "btf", "xdp", "egress lan0", ... */
	enum check_level level;
	char text[400]; /* why, and what to do: one line */
};

struct check_report {
	struct check_item *items; /* malloc'd */
	size_t count, cap;
};

/* What to check: NULLs take the defaults every command takes
 * ($XDPFWD_PIN_DIR, $XDPFWD_STATE_DIR, serve's default metrics address). */
struct check_request {
	const char *pin_dir, *state_dir;
	const char *metrics; /* ADDR:PORT of serve's /metrics */
};

/* Fills R (zeroed by the caller) with every item. 0, or -ENOMEM. */
int check_run(const struct check_request *req, struct check_report *r);
/* The report: one line an item, "LEVEL NAME: TEXT", and a summary; or
 * (JSON) {"status": "ok|warning|error", "checks": [{"name", "status",
 * "message"}]}, appended to OUT. */
void check_format(const struct check_report *r, bool json, struct strbuf *out);
/* 0, 1 or 2, as above. */
int check_exit(const struct check_report *r);
void check_free(struct check_report *r);

/* One item, its text formatted (cut at struct check_item's room). */
void check_add(struct check_report *r, const char *name, enum check_level level, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

#endif
