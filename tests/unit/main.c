// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "log.h"

int checks_run, checks_failed;

bool check_that(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	checks_run++;
	if (ok)
		return true;
	checks_failed++;
	fprintf(stderr, "  FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

#define MAX_SUITES 128 /* registered suites; one more fails the run (suites_dropped) */

static const struct unit_suite *suites[MAX_SUITES];
static size_t suite_count;
static size_t suites_dropped; /* registered past MAX_SUITES: never run, so the run fails */
static const char *pattern;   /* -t: NULL runs everything */
static bool suite_matched;    /* the running suite's name contains it */

void unit_register(const struct unit_suite *suite)
{
	if (suite_count < MAX_SUITES)
		suites[suite_count++] = suite;
	else
		suites_dropped++;
}

bool unit_selected(const char *name)
{
	return !pattern || suite_matched || strstr(name, pattern);
}

static int by_order(const void *a, const void *b)
{
	return (*(const struct unit_suite **)a)->order - (*(const struct unit_suite **)b)->order;
}

static int usage(void)
{
	fputs("usage: unit_tests [-v] [-l] [-t PATTERN]\n"
	      "  -t PATTERN  the suites whose name contains it, and the cases of table-driven\n"
	      "              suites whose name does\n"
	      "  -l          list the suites\n"
	      "  -v          debug output of the tool's code\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	int cases = 0, opt;

	while ((opt = getopt(argc, argv, "vlt:")) != -1) {
		if (opt == 'v')
			log_level = LOG_DEBUG;
		else if (opt == 't')
			pattern = optarg;
		else if (opt == 'l')
			pattern = "\n"; /* matches nothing: list only */
		else
			return usage();
	}
	log_init();
	if (suites_dropped) {
		fprintf(stderr, "unit: %zu suites past MAX_SUITES (%d) would not run: raise it\n",
			suites_dropped, MAX_SUITES);
		return EXIT_FAILURE;
	}
	qsort(suites, suite_count, sizeof(suites[0]), by_order);
	for (size_t i = 0; i < suite_count; i++) {
		suite_matched = !pattern || strstr(suites[i]->name, pattern);
		if (pattern && !strcmp(pattern, "\n")) {
			printf("%s%s\n", suites[i]->name, suites[i]->has_cases ? " (cases)" : "");
			continue;
		}
		if (!suite_matched && !suites[i]->has_cases)
			continue;
		cases += suites[i]->run();
	}
	if (pattern && !strcmp(pattern, "\n"))
		return EXIT_SUCCESS;
	printf("unit: %d cases, %d checks, %d failed\n", cases, checks_run, checks_failed);
	if (pattern && !cases) {
		fprintf(stderr, "unit: no suite or case matches '%s' (-l lists the suites)\n",
			pattern);
		return EXIT_FAILURE;
	}
	return checks_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
