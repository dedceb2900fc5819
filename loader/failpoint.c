// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "failpoint.h"

static struct {
	bool read; /* the environment */
	bool trace;
	unsigned long at; /* 0: no failure chosen */
	char name[64];	  /* "": AT counts every step */
	unsigned long steps, named;
	const char *pause; /* XDPFWD_PAUSE_AT: stop once before this step */
} fp;

static void failpoint_setup(void)
{
	const char *at = getenv("XDPFWD_FAIL_AT"), *colon, *num;
	const char *trace = getenv("XDPFWD_FAIL_TRACE");

	fp.read = true;
	fp.trace = trace && *trace && strcmp(trace, "0");
	fp.pause = getenv("XDPFWD_PAUSE_AT");
	if (fp.pause && !*fp.pause)
		fp.pause = NULL;
	if (!at || !*at)
		return;
	colon = strrchr(at, ':');
	if (colon && (size_t)(colon - at) < sizeof(fp.name)) {
		memcpy(fp.name, at, colon - at);
		fp.name[colon - at] = '\0';
	}
	/* N from 1, digits only, no leading zero: anything else fails no step
	 * and says so, rather than passing as a run where nothing failed. */
	num = colon ? colon + 1 : at;
	if (num[0] >= '1' && num[0] <= '9' && !num[strspn(num, "0123456789")])
		fp.at = strtoul(num, NULL, 10);
	else
		fprintf(stderr,
			"xdpfwd: XDPFWD_FAIL_AT '%s' is not N or NAME:N (N from 1): no step "
			"fails\n",
			at);
}

int failpoint(const char *name)
{
	bool chosen;

	if (!fp.read)
		failpoint_setup();
	if (fp.pause && !strcmp(fp.pause, name)) {
		fprintf(stderr, "xdpfwd: paused before %s (pid %ld)\n", name, (long)getpid());
		fp.pause = NULL;
		raise(SIGSTOP);
	}
	if (!fp.at && !fp.trace)
		return 0;
	fp.steps++;
	if (fp.name[0] && !strcmp(fp.name, name))
		fp.named++;
	if (fp.trace)
		fprintf(stderr, "xdpfwd: step %lu: %s\n", fp.steps, name);
	chosen =
	    fp.at && (fp.name[0] ? !strcmp(fp.name, name) && fp.named == fp.at : fp.steps == fp.at);
	if (!chosen)
		return 0;
	if (fp.trace)
		fprintf(stderr, "xdpfwd: step %lu: %s fails, as XDPFWD_FAIL_AT asks\n", fp.steps,
			name);
	errno = EIO;
	return -EIO;
}
