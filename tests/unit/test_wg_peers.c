// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The tunnel's WireGuard peers (issue 15, points 1 and 6): the parser on
 * dump texts in the format wireguard-go's `wg show IFACE dump` gives
 * (captured, keys replaced), the longest-match lookup per family, which
 * clients lost their peer between two polls; the poller with stand-in `wg`
 * scripts (a dump, a failure, a hang); and a real wireguard-go interface
 * in a network namespace of its own, a peer removed with `wg set`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "wg_peers.h"

#define IFLINE \
	"0MKxYVWKLQRintjhIc4jp9ubbfj+0mW05r7Vd1CbYGA=\tzZ6lMMcT5tit+8EdZWl+yovj1UPylWRSR2Aj10V1LRs=\t40071\toff\n"
#define KEY_A	       "holYP/aIe80cmUfly5FtgOLLfUp4jldLoGAf03wDwzw="
#define KEY_B	       "tfLQ0PCo9hwM7d9rMKndvN1qS2dHFTrEAkCuViTTQAw="
#define KEY_C	       "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
#define PEER(key, ips) key "\t(none)\t192.0.2.7:51820\t" ips "\t1700000000\t1024\t2048\t25\n"

static struct pcp_addr addr(const char *text)
{
	struct pcp_addr a = {0};
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1)
		pcp_addr_from_v4(&a, a4.s_addr);
	else if (inet_pton(AF_INET6, text, a.b) != 1)
		abort();
	return a;
}

/* Which peer (by key, "-" for none) routes each address. */
static void check_routes(const struct wg_dump *d, const char *name, const char *const *q)
{
	for (; q[0]; q += 2) {
		struct pcp_addr a = addr(q[0]);
		long p = wg_dump_lookup(d, &a);
		const char *got = p < 0 ? "-" : d->keys[p];

		CHECK(!strcmp(got, q[1]), "%s: %s routes to %.8s, want %.8s", name, q[0], got,
		      q[1]);
	}
}

static void test_parse(void)
{
	static const char *const routes[] = {
	    "10.8.0.2",	 KEY_A, "2001:db8:8::2",   KEY_A, "10.8.0.3",	   KEY_B,
	    "10.8.1.77", KEY_B, "10.8.0.9",	   "-",	  "2001:db8:8::3", "-",
	    "10.9.0.1",	 "-",	"::ffff:10.8.0.2", KEY_A, "2001:db8:9::1", KEY_B,
	    NULL};
	static const char text[] = IFLINE PEER(KEY_A, "10.8.0.2/32,2001:db8:8::2/128")
	    PEER(KEY_B, "10.8.0.3/32,10.8.1.0/24,2001:db8:9::/48") PEER(KEY_C, "(none)");
	struct wg_dump d;
	const char *err = NULL;
	size_t line = 0;

	if (!CHECK(wg_dump_parse(text, strlen(text), &d, &err, &line) == 0, "parse: line %zu: %s",
		   line, err ? err : ""))
		return;
	CHECK(d.npeers == 3 && d.nprefixes == 5, "3 peers, 5 prefixes (%zu, %zu)", d.npeers,
	      d.nprefixes);
	check_routes(&d, "three peers", routes);
	wg_dump_free(&d);

	/* the longest match wins, and ::/0 never takes IPv4 */
	static const char text2[] = IFLINE PEER(KEY_A, "0.0.0.0/0") PEER(KEY_B, "10.8.0.0/24,::/0")
	    PEER(KEY_C, "10.8.0.7/32,10.8.2.9/24"); /* host bits set: masked */
	static const char *const routes2[] = {"10.8.0.7",  KEY_C, "10.8.0.8",	 KEY_B,
					      "192.0.2.1", KEY_A, "2001:db8::1", KEY_B,
					      "10.8.2.1",  KEY_C, NULL};

	if (CHECK(!wg_dump_parse(text2, sizeof(text2) - 1, &d, &err, &line), "parse 2: %s",
		  err ? err : ""))
		check_routes(&d, "nested prefixes", routes2);
	wg_dump_free(&d);

	/* an IPv6 default route is no IPv4 route */
	static const char text4[] = IFLINE PEER(KEY_B, "::/0");
	static const char *const routes4[] = {"10.8.0.8", "-", "2001:db8::1", KEY_B, NULL};

	if (CHECK(!wg_dump_parse(text4, sizeof(text4) - 1, &d, &err, &line), "parse 4"))
		check_routes(&d, "IPv6 default", routes4);
	wg_dump_free(&d);

	/* no peers, no trailing newline, empty lines */
	static const char text3[] = "\n" IFLINE "\n";

	CHECK(!wg_dump_parse(text3, sizeof(text3) - 1, &d, &err, &line) && d.npeers == 0,
	      "an interface without peers");
	wg_dump_free(&d);
	CHECK(!wg_dump_parse(IFLINE, sizeof(IFLINE) - 2, &d, &err, &line), "no final newline");
	wg_dump_free(&d);
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text, *field;
		size_t line;
	} bad[] = {
	    {"", "empty", 0},
	    {"a\tb\tc\n", "interface line", 1},
	    {IFLINE "x\ty\n", "peer line", 2},
	    {IFLINE PEER("short=", "10.8.0.2/32"), "public-key", 2},
	    {IFLINE PEER(KEY_A, "10.8.0.2"), "allowed-ips", 2},
	    {IFLINE PEER(KEY_A, "10.8.0.2/33"), "allowed-ips", 2},
	    {IFLINE PEER(KEY_A, "2001:db8::/129"), "allowed-ips", 2},
	    {IFLINE PEER(KEY_A, "10.8.0.2/32,,10.8.0.3/32"), "allowed-ips", 2},
	    {IFLINE PEER(KEY_A, "10.8.0.2/32") PEER(KEY_B, "fe80::zz/64"), "allowed-ips", 3},
	    {IFLINE PEER(KEY_A, "10.8.0.2/-1"), "allowed-ips", 2},
	};
	struct wg_dump d;
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t line = 99;
		int rc = wg_dump_parse(bad[i].text, strlen(bad[i].text), &d, &err, &line);

		CHECK(rc == -EINVAL && err && strstr(err, bad[i].field) &&
			  (line == bad[i].line || !bad[i].line),
		      "bad dump %zu: rc %d line %zu err %s", i, rc, line, err ? err : "(null)");
		CHECK(!d.e && !d.keys, "bad dump %zu: nothing kept", i);
	}
}

/* A stand-in `wg`: prints DIR/dump, or fails, or hangs, by DIR/mode. */
static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Ticks with the clock at NOW until a poll completes (polls or failures
 * move), bounded by about 10 s of real time. */
static bool poll_once(struct wg_peers *w, uint64_t now)
{
	struct wg_peers_stats a, b;
	struct timespec ts = {0, 2 * 1000 * 1000};

	wg_peers_get_stats(w, &a);
	for (int i = 0; i < 5000; i++) {
		wg_peers_tick(w, now);
		wg_peers_get_stats(w, &b);
		if (b.polls != a.polls || b.failures != a.failures)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void test_poller(const char *dir)
{
	char script[512], wg[256];
	struct wg_peers_config cfg = {.ifname = "wg0", .wg_path = wg, .timeout_ms = 2000};
	struct pcp_addr c2 = addr("10.8.0.2"), c3 = addr("10.8.0.3"), c6 = addr("2001:db8:8::2");
	struct wg_peers_stats st;
	struct wg_peers *w;
	const char *err;
	uint64_t gen;
	int rc;

	snprintf(wg, sizeof(wg), "%s/wg", dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n[ \"$1 $2 $3\" = 'show wg0 dump' ] || exit 9\n"
		 "case $(cat %s/mode) in fail) echo nope >&2; exit 1;; hang) exec sleep 1000;; "
		 "esac\nexec cat %s/dump\n",
		 dir, dir);
	write_file(dir, "wg", script, 0755);
	write_file(dir, "mode", "fail", 0644);
	w = wg_peers_new(&cfg, &err, &rc);
	if (!CHECK(w, "wg_peers_new: %s", err))
		return;
	CHECK(wg_peers_status(w) == WG_PEERS_UNKNOWN && wg_peers_allowed(w, &c2) == -1,
	      "unknown before the first poll");
	/* not WireGuard: unknown, and the daemon falls back to --clients */
	CHECK(poll_once(w, 0), "the failing poll ended");
	wg_peers_get_stats(w, &st);
	CHECK(st.failures == 1 && wg_peers_status(w) == WG_PEERS_UNKNOWN &&
		  wg_peers_allowed(w, &c2) == -1,
	      "a failing wg leaves the status unknown");
	CHECK(wg_peers_tick(w, 100) == 400, "the next poll 500 ms after the last");

	write_file(dir, "mode", "dump", 0644);
	write_file(dir, "dump",
		   IFLINE PEER(KEY_A, "10.8.0.2/32,2001:db8:8::2/128") PEER(KEY_B, "10.8.0.3/32"),
		   0644);
	CHECK(poll_once(w, 500), "the first good poll ended");
	CHECK(wg_peers_status(w) == WG_PEERS_KNOWN && wg_peers_allowed(w, &c2) == 1 &&
		  wg_peers_allowed(w, &c6) == 1 && wg_peers_allowed(w, &c3) == 1,
	      "the peers' addresses may ask");
	gen = wg_peers_generation(w);
	CHECK(!wg_peers_lost(w, &c2), "nothing lost on the first poll");

	/* peer A removed, B unchanged */
	write_file(dir, "dump", IFLINE PEER(KEY_B, "10.8.0.3/32"), 0644);
	CHECK(poll_once(w, 1000), "the second poll ended");
	CHECK(wg_peers_generation(w) == gen + 1, "a removal moves the generation");
	CHECK(wg_peers_lost(w, &c2) && wg_peers_lost(w, &c6) && !wg_peers_lost(w, &c3),
	      "A's addresses lost their peer, B's did not");
	CHECK(wg_peers_allowed(w, &c2) == 0 && wg_peers_allowed(w, &c3) == 1,
	      "A's address may no longer ask");

	/* A's old address moves to a new peer C: B keeps, the address is lost
	 * again only if it had a peer: it had none, so nothing */
	write_file(dir, "dump", IFLINE PEER(KEY_B, "10.8.0.3/32") PEER(KEY_C, "10.8.0.2/32"), 0644);
	CHECK(poll_once(w, 1500), "the third poll ended");
	CHECK(wg_peers_generation(w) == gen + 1 && !wg_peers_lost(w, &c2),
	      "an added peer removes nothing");
	/* 10.8.0.3 moves from B to C: lost by B's user */
	write_file(dir, "dump", IFLINE PEER(KEY_B, "(none)") PEER(KEY_C, "10.8.0.2/32,10.8.0.3/32"),
		   0644);
	CHECK(poll_once(w, 2000), "the fourth poll ended");
	CHECK(wg_peers_generation(w) == gen + 2 && wg_peers_lost(w, &c3) && !wg_peers_lost(w, &c2),
	      "an address moved to another peer is lost by the first");

	/* wg fails now: the last good set stays */
	write_file(dir, "mode", "fail", 0644);
	CHECK(poll_once(w, 2500), "the failing poll ended");
	CHECK(wg_peers_status(w) == WG_PEERS_KNOWN && wg_peers_allowed(w, &c3) == 1,
	      "a failure after success keeps the last set");

	/* a hanging wg is killed at its timeout */
	write_file(dir, "mode", "hang", 0644);
	wg_peers_tick(w, 3000);
	CHECK(wg_peers_fd(w) >= 0, "the poll's pipe is there for the poll set");
	wg_peers_tick(w, 4000);
	wg_peers_get_stats(w, &st);
	CHECK(st.killed == 0, "not killed before its time");
	CHECK(poll_once(w, 5000), "the hanging wg was killed and reaped");
	wg_peers_get_stats(w, &st);
	CHECK(st.killed == 1 && st.failures == 3 && st.polls == 4, "killed %llu failures %llu",
	      (unsigned long long)st.killed, (unsigned long long)st.failures);
	wg_peers_free(w);

	static const struct wg_peers_config bad[] = {
	    {.ifname = ""},
	    {.ifname = "a-name-too-long0"},
	    {.ifname = "../wg0"},
	    {.ifname = "wg0", .interval_ms = 99},
	    {.ifname = "wg0", .timeout_ms = 60001},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = wg_peers_new(&bad[i], &err, &rc);
		CHECK(!w && rc == -EINVAL && err, "bad config %zu refused", i);
		wg_peers_free(w);
	}
}

/* In a child in a new network namespace: a wireguard-go interface with
 * two peers; one removed with `wg set`. Exit: 0 ok, 3 wrong, 4 skip. */
static int real_child(void)
{
	printf("  wireguard-go in a namespace of its own\n");
	fflush(stdout);
	char dev[16], sock[64], cmd[512];
	struct wg_peers_config cfg = {.ifname = dev};
	struct pcp_addr c2 = addr("10.8.0.2"), c3 = addr("10.8.0.3");
	struct timespec ts = {0, 20 * 1000 * 1000};
	struct wg_peers *w;
	const char *err;
	int rc, ok = 3;
	pid_t gp;

	if (unshare(CLONE_NEWNET) || system("command -v wireguard-go wg >/dev/null 2>&1"))
		return 4;
	snprintf(dev, sizeof(dev), "wgut%d", getpid() % 100000);
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", dev);
	gp = fork();
	if (gp == 0) {
		setenv("WG_PROCESS_FOREGROUND", "1", 1);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(126);
		execlp("wireguard-go", "wireguard-go", "-f", dev, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && access(sock, F_OK); i++)
		nanosleep(&ts, NULL);
	snprintf(cmd, sizeof(cmd),
		 "wg set %s peer %s allowed-ips 10.8.0.2/32 peer %s allowed-ips 10.8.0.3/32", dev,
		 KEY_A, KEY_B);
	w = wg_peers_new(&cfg, &err, &rc);
	if (!w || access(sock, F_OK) || system(cmd))
		goto out;
	if (!poll_once(w, 0) || wg_peers_allowed(w, &c2) != 1 || wg_peers_allowed(w, &c3) != 1)
		goto out;
	snprintf(cmd, sizeof(cmd), "wg set %s peer %s remove", dev, KEY_A);
	if (system(cmd) || !poll_once(w, 500))
		goto out;
	if (wg_peers_generation(w) == 1 && wg_peers_lost(w, &c2) && !wg_peers_lost(w, &c3) &&
	    wg_peers_allowed(w, &c2) == 0)
		ok = 0;
out:
	wg_peers_free(w);
	kill(gp, SIGTERM);
	waitpid(gp, NULL, 0);
	unlink(sock);
	return ok;
}

static void test_real(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0)
		_exit(real_child());
	if (!CHECK(pid > 0, "fork"))
		return;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 4) {
		printf("  SKIP wireguard-go: no namespace, wireguard-go or wg\n");
		return;
	}
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st),
	      "wireguard-go: a removed peer's address is lost, the other's is not (status %d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

UNIT_TEST(test_wg_peers, 6)
{
	char dir[] = "/tmp/xdpfwd-wg-XXXXXX", rm[64];

	test_parse();
	test_parse_errors();
	if (CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno))) {
		test_poller(dir);
		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		if (system(rm))
			fprintf(stderr, "  could not remove %s\n", dir);
	}
	test_real();
	return 4;
}
