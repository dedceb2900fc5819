/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * harness.h - the smallest test harness that reports well: every check
 * counts, a failing one prints where and why, and the run fails if any did.
 */
#ifndef XDPFWD_TEST_HARNESS_H
#define XDPFWD_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>

extern int checks_run, checks_failed;

bool check_that(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond, ...) check_that((cond), __FILE__, __LINE__, __VA_ARGS__)

int test_spec(void);
int test_datapath(void);
int test_policy(void);
int test_soak(void);
int test_state(void);
int test_fastpath(void);

#endif
