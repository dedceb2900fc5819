// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
	int cases = 0;

	if (argc > 1 && !strcmp(argv[1], "-v"))
		log_level = LOG_DEBUG;
	log_init();
	cases += test_spec();
	cases += test_datapath();
	cases += test_policy();
	cases += test_state();
	cases += test_soak();
	cases += test_fastpath(); /* last: it leaves the host network namespace */
	printf("unit: %d cases, %d checks, %d failed\n", cases, checks_run, checks_failed);
	return checks_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
