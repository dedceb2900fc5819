// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The --pcp-hook runner (issue 15, point 8) with real children through
 * /bin/sh: the environment a hook gets, field by field; a hook that hangs
 * neither delays the events behind it nor outlives its timeout (its whole
 * process group is killed); a failing hook and a full queue are counted.
 * The runner's clock is the test's (deadlines are crossed by moving it);
 * only the children's own running takes real time, each wait bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "pcp_hook.h"

/* Ticks at NOW_MS until DONE(h) or about 20 s of real time. */
static bool tick_until(struct pcp_hook *h, uint64_t now_ms, bool (*done)(struct pcp_hook *))
{
	struct timespec ts = {0, 5 * 1000 * 1000};

	for (int i = 0; i < 4000; i++) {
		pcp_hook_tick(h, now_ms);
		if (done(h))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool idle(struct pcp_hook *h)
{
	return !pcp_hook_running(h) && !pcp_hook_queued(h);
}

static struct pcp_hook_event event(enum pcp_hook_kind kind, uint8_t proto, uint16_t pub)
{
	struct pcp_hook_event ev = {.kind = kind, .protocol = proto, .public_port = pub};

	pcp_addr_from_v4(&ev.public_addr, htonl(0xcb007101)); /* 203.0.113.1 */
	inet_pton(AF_INET6, "2001:db8::8:2", ev.internal_addr.b);
	ev.internal_port = 51413;
	return ev;
}

/* The value of NAME= in the env dump FILE ("" if absent); counts repeats. */
static const char *env_get(const char *text, const char *name, int *count)
{
	static char val[128];
	const char *p = text;
	size_t n = strlen(name);

	*count = 0;
	val[0] = 0;
	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == '=') {
			size_t l = strcspn(p + n + 1, "\n");

			snprintf(val, sizeof(val), "%.*s", (int)l, p + n + 1);
			(*count)++;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return val;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_env(const char *dir)
{
	char cmd[256], path[200];
	struct pcp_hook_config cfg = {.command = cmd};
	static const struct {
		const char *name, *want;
	} want[] = {
	    {"XDPFWD_EVENT", "change"},
	    {"XDPFWD_PROTO", "tcp"},
	    {"XDPFWD_PUBLIC_ADDR", "203.0.113.1"},
	    {"XDPFWD_PUBLIC_PORT", "40000"},
	    {"XDPFWD_INTERNAL_ADDR", "2001:db8::8:2"},
	    {"XDPFWD_INTERNAL_PORT", "51413"},
	};
	struct pcp_hook_event ev = event(PCP_HOOK_CHANGE, 6, 40000);
	struct pcp_hook_stats st;
	struct pcp_hook *h;
	const char *err;
	char *text;
	int rc, count;

	snprintf(path, sizeof(path), "%s/env", dir);
	/* The environment as exec'd (the shell's own table would hide repeats). */
	snprintf(cmd, sizeof(cmd), "tr '\\0' '\\n' < /proc/$$/environ > %s.tmp && mv %s.tmp %s",
		 path, path, path);
	setenv("XDPFWD_EVENT", "stale", 1); /* the daemon's own is replaced */
	h = pcp_hook_new(&cfg, &err, &rc);
	if (!CHECK(h, "pcp_hook_new: %s", err))
		return;
	CHECK(pcp_hook_post(h, &ev) == 0, "post");
	CHECK(tick_until(h, 0, idle), "the env hook did not finish");
	text = slurp(path);
	if (CHECK(text, "the hook wrote no %s", path))
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			const char *v = env_get(text, want[i].name, &count);

			CHECK(count == 1 && !strcmp(v, want[i].want),
			      "%s: '%s' x%d, want '%s' once", want[i].name, v, count, want[i].want);
		}
	if (text)
		CHECK(strstr(text, "PATH=") != NULL, "the daemon's environment is kept");
	pcp_hook_get_stats(h, &st);
	CHECK(st.run == 1 && st.ok == 1 && !st.failed && !st.killed, "run %llu ok %llu",
	      (unsigned long long)st.run, (unsigned long long)st.ok);
	unsetenv("XDPFWD_EVENT");
	pcp_hook_free(h);
}

static bool hundred_ok(struct pcp_hook *h)
{
	struct pcp_hook_stats st;

	pcp_hook_get_stats(h, &st);
	return st.ok == 100;
}

static bool none_running(struct pcp_hook *h)
{
	return !pcp_hook_running(h);
}

/* Whether PID is gone (or a zombie, which holds nothing). */
static bool pid_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && (p[2] == 'Z' || p[2] == 'X');
}

/* Port 1 hangs (a grandchild that sleeps, its pid recorded); others exit 0. */
static void test_hang(const char *dir)
{
	char cmd[512], path[200];
	struct pcp_hook_config cfg = {.command = cmd, .max_children = 2, .timeout_ms = 10000};
	struct pcp_hook_event ev = event(PCP_HOOK_GRANT, 17, 1);
	struct timespec t0, t1;
	struct pcp_hook_stats st;
	struct pcp_hook *h;
	const char *err, *text;
	int rc, fails = 0;
	double ms;

	snprintf(path, sizeof(path), "%s/sleeper", dir);
	snprintf(cmd, sizeof(cmd),
		 "if [ \"$XDPFWD_PUBLIC_PORT\" = 1 ]; then sleep 1000 & echo $! > %s.tmp; "
		 "mv %s.tmp %s; wait; fi; exit 0",
		 path, path, path);
	h = pcp_hook_new(&cfg, &err, &rc);
	if (!CHECK(h, "pcp_hook_new: %s", err))
		return;
	pcp_hook_post(h, &ev);
	pcp_hook_tick(h, 0);
	CHECK(pcp_hook_running(h) == 1, "the hanging hook runs");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++) {
		ev.public_port = (uint16_t)(1000 + i);
		fails += pcp_hook_post(h, &ev) != 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	CHECK(!fails && pcp_hook_queued(h) == 100, "100 events queued behind a hanging hook");
	/* Not a timing assertion: 100 posts spawn nothing and wait for nothing. */
	printf("  100 posts behind a hanging hook: %.3f ms\n", ms);
	CHECK(tick_until(h, 9999, hundred_ok), "the 100 events ran beside the hanging hook");
	pcp_hook_get_stats(h, &st);
	CHECK(st.killed == 0 && pcp_hook_running(h) == 1, "the hanging hook lives until 10 s");
	CHECK(pcp_hook_tick(h, 9999) == 1, "the next tick is wanted at the deadline");
	CHECK(tick_until(h, 10000, none_running), "the hanging hook was killed and reaped");
	pcp_hook_get_stats(h, &st);
	CHECK(st.killed == 1 && st.run == 101 && st.ok == 100 && !st.failed,
	      "killed %llu run %llu ok %llu failed %llu", (unsigned long long)st.killed,
	      (unsigned long long)st.run, (unsigned long long)st.ok, (unsigned long long)st.failed);
	text = slurp(path);
	if (CHECK(text && atoi(text) > 0, "the sleeper's pid was recorded")) {
		bool gone = false;

		for (int i = 0; i < 400 && !gone; i++) {
			struct timespec ts = {0, 5 * 1000 * 1000};

			gone = pid_gone(atoi(text));
			if (!gone)
				nanosleep(&ts, NULL);
		}
		CHECK(gone, "the hook's own child was killed with its process group");
	}
	CHECK(pcp_hook_tick(h, 10001) == -1, "idle after");
	pcp_hook_free(h);
}

static void test_fail_and_drop(void)
{
	struct pcp_hook_config cfg = {.command = "exit 3", .max_children = 1, .queue_len = 2};
	struct pcp_hook_event ev = event(PCP_HOOK_EXPIRE, 17, 2000);
	struct pcp_hook_stats st;
	struct pcp_hook *h;
	const char *err;
	int rc;

	h = pcp_hook_new(&cfg, &err, &rc);
	if (!CHECK(h, "pcp_hook_new: %s", err))
		return;
	CHECK(pcp_hook_post(h, &ev) == 0 && pcp_hook_post(h, &ev) == 0, "two fit");
	CHECK(pcp_hook_post(h, &ev) == -ENOBUFS, "the third is dropped");
	CHECK(tick_until(h, 0, idle), "the failing hooks finished");
	pcp_hook_get_stats(h, &st);
	CHECK(st.failed == 2 && st.dropped == 1 && st.run == 2 && !st.ok && st.queued == 2,
	      "failed %llu dropped %llu run %llu", (unsigned long long)st.failed,
	      (unsigned long long)st.dropped, (unsigned long long)st.run);
	pcp_hook_free(h);

	cfg.shell = "/nonexistent/sh";
	h = pcp_hook_new(&cfg, &err, &rc);
	if (!CHECK(h, "pcp_hook_new: %s", err))
		return;
	pcp_hook_post(h, &ev);
	pcp_hook_tick(h, 0);
	tick_until(h, 0, idle);
	pcp_hook_get_stats(h, &st);
	/* posix_spawn() reports the exec's failure (glibc >= 2.24): counted as
	 * spawn_failed, and in failed, not as a child that ran and exited. */
	CHECK(st.failed == 1 && st.spawn_failed == 1 && !st.ok,
	      "a shell that cannot start counts as spawn_failed and failed (%llu, %llu)",
	      (unsigned long long)st.spawn_failed, (unsigned long long)st.failed);
	pcp_hook_free(h);
}

static void test_config(void)
{
	static const struct {
		struct pcp_hook_config cfg;
		const char *field;
	} bad[] = {
	    {{.command = ""}, "--pcp-hook"},
	    {{.command = NULL}, "--pcp-hook"},
	    {{.command = "true", .max_children = 65}, "max_children"},
	    {{.command = "true", .queue_len = 1048577}, "queue_len"},
	    {{.command = "true", .timeout_ms = 3600001}, "timeout_ms"},
	};
	const char *err;
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pcp_hook *h = pcp_hook_new(&bad[i].cfg, &err, &rc);

		CHECK(!h && rc == -EINVAL && err && strstr(err, bad[i].field),
		      "bad config %zu: rc %d err %s", i, rc, err ? err : "(null)");
		pcp_hook_free(h);
	}
}

UNIT_TEST(test_pcp_hook, 6)
{
	char dir[] = "/tmp/xdpfwd-hook-XXXXXX", rm[64];

	if (!CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno)))
		return 1;
	test_config();
	test_env(dir);
	test_hang(dir);
	test_fail_and_drop();
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm))
		fprintf(stderr, "  could not remove %s\n", dir);
	return 4;
}
