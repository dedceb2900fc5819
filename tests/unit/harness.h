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

/*
 * A suite registers itself: UNIT_TEST(test_name, ORDER) { ... return cases; }
 * Suites run by ORDER (the fast path last: it leaves the host's network
 * namespace). `unit_tests -t PATTERN` runs the suites whose name contains
 * PATTERN, and of the table-driven suites the cases whose name does
 * (unit_selected); `-l` lists the suites.
 */
struct unit_suite {
	const char *name;
	int (*run)(void);
	int order;
	bool has_cases; /* its table asks unit_selected() case by case */
};

void unit_register(const struct unit_suite *suite);
/* Whether the case NAME of the running suite is selected by -t. */
bool unit_selected(const char *name);

#define UNIT_SUITE(fn, order_, cases_)                                            \
	static int fn(void);                                                      \
	__attribute__((constructor)) static void fn##_register(void)              \
	{                                                                         \
		static const struct unit_suite suite = {#fn, fn, order_, cases_}; \
		unit_register(&suite);                                            \
	}                                                                         \
	static int fn(void)
/* A suite of its own checks, run whole. */
#define UNIT_TEST(fn, order_) UNIT_SUITE(fn, order_, false)
/* A table of named cases, each run when selected. */
#define UNIT_CASES(fn, order_) UNIT_SUITE(fn, order_, true)

#endif
