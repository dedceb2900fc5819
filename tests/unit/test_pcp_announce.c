// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Epoch announcements (issue 15, point 5; RFC 6886 §3.2.1, RFC 6887
 * §14.1.3) through a send callback that records every datagram with the
 * fake clock's time: the exact bytes and destinations of one round, the
 * ten-round schedule, the overall rate bound with 65,536 former clients, a
 * full socket buffer and a failing send; then the default sendmsg() path
 * with real sockets in a network namespace of its own.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "pcp_announce.h"

struct sent {
	uint64_t t;
	struct sockaddr_storage to;
	unsigned int ifindex;
	uint8_t buf[32];
	size_t len;
};

struct rec {
	struct sent *s;
	size_t n, cap;
	uint64_t now;
	int fail_next; /* an error to return once */
	size_t calls;
};

static int record(void *ctx, const struct sockaddr *to, socklen_t tolen, unsigned int ifindex,
		  const uint8_t *buf, size_t len)
{
	struct rec *r = ctx;
	struct sent *s;

	r->calls++;
	if (r->fail_next) {
		int rc = r->fail_next;

		r->fail_next = 0;
		return rc;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 1024;
		r->s = realloc(r->s, r->cap * sizeof(*r->s));
		if (!r->s)
			abort();
	}
	s = &r->s[r->n++];
	memset(s, 0, sizeof(*s));
	s->t = r->now;
	memcpy(&s->to, to, tolen);
	s->ifindex = ifindex;
	memcpy(s->buf, buf, len < sizeof(s->buf) ? len : sizeof(s->buf));
	s->len = len;
	return 0;
}

/* For the rate test: only the time, and whether the datagram was
 * multicast (1 IPv4, 2 IPv6), 9 bytes a datagram for 1.3 million. */
struct light {
	uint64_t *t;
	uint8_t *mc;
	size_t n, cap;
	uint64_t now;
};

static int record_light(void *ctx, const struct sockaddr *to, socklen_t tolen, unsigned int ifindex,
			const uint8_t *buf, size_t len)
{
	const struct sockaddr_in *s4 = (const void *)to;
	struct light *l = ctx;

	(void)tolen, (void)ifindex, (void)buf, (void)len;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->t = realloc(l->t, l->cap * sizeof(*l->t));
		l->mc = realloc(l->mc, l->cap);
		if (!l->t || !l->mc)
			abort();
	}
	l->t[l->n] = l->now;
	l->mc[l->n++] = to->sa_family == AF_INET6
			    ? (((const struct sockaddr_in6 *)to)->sin6_addr.s6_addr[0] == 0xff) * 2
			    : ntohl(s4->sin_addr.s_addr) == 0xe0000001;
	return 0;
}

/* Runs the announcement to its end, the clock jumping as tick asks;
 * returns the ticks. */
static size_t run(struct pcp_announce *a, struct rec *r, size_t max_per_tick, bool *tick_ok)
{
	size_t ticks = 0, before;
	int next;

	*tick_ok = true;
	for (;;) {
		before = r->n;
		next = pcp_announce_tick(a, r->now);
		ticks++;
		if (r->n - before > max_per_tick)
			*tick_ok = false;
		if (next < 0)
			return ticks;
		r->now += (uint64_t)next;
	}
}

static bool is_dest(const struct sent *s, const char *addr, unsigned int scope)
{
	char text[INET6_ADDRSTRLEN] = "";

	if (s->to.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&s->to;

		inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
		return ntohs(s4->sin_port) == 5350 && !strcmp(text, addr);
	}
	const struct sockaddr_in6 *s6 = (const void *)&s->to;

	inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
	return ntohs(s6->sin6_port) == 5350 && !strcmp(text, addr) && s6->sin6_scope_id == scope;
}

static struct pcp_addr v4(uint32_t host)
{
	struct pcp_addr a;

	pcp_addr_from_v4(&a, htonl(host));
	return a;
}

static struct pcp_announce *make(struct rec *r, uint32_t rate)
{
	struct pcp_announce_config cfg = {
	    .fd4 = -1, .fd6 = -1, .ifindex = 7, .rate = rate, .send = record, .ctx = r};
	const char *err;
	int rc;
	struct pcp_announce *a = pcp_announce_new(&cfg, &err, &rc);

	CHECK(a != NULL, "pcp_announce_new: %s", err);
	return a;
}

/* Round 0 byte for byte, and each round's epoch. */
static void test_bytes_and_schedule(void)
{
	/* RFC 6886 §3.2: version 0, op 128, result 0, epoch, address. */
	static const uint8_t natpmp[12] = {0, 128, 0, 0, 0, 0, 0x04, 0xd2, 203, 0, 113, 1};
	/* RFC 6887 §7.2: version 2, R|ANNOUNCE, reserved, result 0,
	 * lifetime 0, epoch, 96 reserved bits. */
	static const uint8_t pcp[24] = {2, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0xd2};
	static const struct {
		const char *dest;
		unsigned int scope;
		const uint8_t *bytes;
		size_t len;
	} want[] = {
	    {"224.0.0.1", 0, natpmp, 12}, {"224.0.0.1", 0, pcp, 24},
	    {"ff02::1", 7, pcp, 24},	  {"198.51.100.2", 0, natpmp, 12},
	    {"198.51.100.2", 0, pcp, 24}, {"2001:db8::2", 0, pcp, 24},
	};
	struct pcp_addr ext = v4(0xcb007101), clients[3];
	struct rec r = {.now = 5000};
	struct pcp_announce *a = make(&r, 0);
	struct pcp_announce_stats st;
	bool tick_ok;

	if (!a)
		return;
	clients[0] = v4(0xc6336402);
	inet_pton(AF_INET6, "2001:db8::2", clients[1].b);
	clients[2] = clients[0]; /* a repeat is announced to once */
	CHECK(pcp_announce_start(a, r.now, 1234, &ext, clients, 3) == 0, "start");
	CHECK(pcp_announce_tick(a, r.now) == 250, "round 1 is 250 ms later");
	CHECK(r.n == 6, "round 0: %zu datagrams, want 6", r.n);
	for (size_t i = 0; i < 6 && i < r.n; i++)
		CHECK(is_dest(&r.s[i], want[i].dest, want[i].scope) && r.s[i].ifindex == 7 &&
			  r.s[i].len == want[i].len &&
			  !memcmp(r.s[i].buf, want[i].bytes, want[i].len),
		      "datagram %zu: not the %zu bytes to %s", i, want[i].len, want[i].dest);
	run(a, &r, 1000, &tick_ok);
	CHECK(r.n == 60, "10 rounds of 6: %zu", r.n);
	for (size_t i = 0; i < r.n; i++) {
		unsigned int k = (unsigned int)(i / 6);
		uint64_t at = 5000 + 250 * ((1ULL << k) - 1);
		uint32_t epoch = 1234 + (uint32_t)((at - 5000) / 1000);
		const uint8_t *e = r.s[i].buf + (r.s[i].len == 12 ? 4 : 8);

		CHECK(r.s[i].t == at, "datagram %zu at %llu ms, want %llu", i,
		      (unsigned long long)r.s[i].t, (unsigned long long)at);
		CHECK((uint32_t)(e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3]) == epoch,
		      "datagram %zu: the epoch of its own time, %u", i, epoch);
	}
	CHECK(r.s[r.n - 1].t == 5000 + 127750, "the last round at 127.75 s");
	pcp_announce_get_stats(a, &st);
	CHECK(st.sent == 60 && st.rounds == 10 && st.starts == 1 && !pcp_announce_busy(a),
	      "stats: sent %llu rounds %llu", (unsigned long long)st.sent,
	      (unsigned long long)st.rounds);
	CHECK(pcp_announce_tick(a, r.now + 1000000) == -1 && r.n == 60, "nothing after");

	/* No public IPv4 address: PCP only. */
	r.n = 0;
	pcp_announce_start(a, r.now, 1, NULL, clients, 2);
	pcp_announce_tick(a, r.now);
	CHECK(r.n == 4 && r.s[0].len == 24 && r.s[1].len == 24 && r.s[2].len == 24 &&
		  r.s[3].len == 24,
	      "without the address: the 4 PCP datagrams (%zu)", r.n);
	/* A new start replaces the one under way, from round 0. */
	r.now += 100;
	pcp_announce_start(a, r.now, 9, &ext, clients, 0);
	r.n = 0;
	CHECK(pcp_announce_tick(a, r.now) == 250 && r.n == 3, "restarted: round 0 again (%zu)",
	      r.n);
	free(r.s);
	pcp_announce_free(a);
}

/* 65,536 former IPv4 clients at 2000 datagrams a second: no one-second
 * window holds more than rate + burst, no tick sends more than the burst,
 * every round begins with its multicast datagrams, and all are sent. */
static void test_rate_bound(void)
{
	const size_t nc = 65536, per_round = 3 + 2 * nc;
	struct pcp_addr ext = v4(0xcb007101), *clients = calloc(nc, sizeof(*clients));
	struct light l = {0};
	struct pcp_announce_config cfg = {
	    .fd4 = -1, .fd6 = -1, .ifindex = 7, .rate = 2000, .send = record_light, .ctx = &l};
	const char *err;
	int rc, next;
	struct pcp_announce *a = pcp_announce_new(&cfg, &err, &rc);
	size_t lo = 0, worst = 0, before;
	bool tick_ok = true, order_ok = true;

	if (!CHECK(a && clients, "setup"))
		goto out;
	for (size_t i = 0; i < nc; i++)
		clients[i] = v4(0x0a080000 + (uint32_t)i); /* 10.8.0.0/16 */
	pcp_announce_start(a, 0, 1, &ext, clients, nc);
	do {
		before = l.n;
		next = pcp_announce_tick(a, l.now);
		tick_ok &= l.n - before <= 200;
		l.now += next > 0 ? (uint64_t)next : 0;
	} while (next >= 0);
	CHECK(tick_ok, "no tick sent more than the burst of 200");
	CHECK(l.n == 10 * per_round, "every datagram sent: %zu of %zu", l.n, 10 * per_round);
	for (size_t i = 0; i < l.n; i++) {
		while (l.t[i] >= l.t[lo] + 1000)
			lo++;
		if (i - lo + 1 > worst)
			worst = i - lo + 1;
	}
	CHECK(worst <= 2000 + 200, "at most 2200 datagrams in any second: %zu", worst);
	for (size_t k = 0; k < 10 && l.n == 10 * per_round; k++)
		order_ok &= l.mc[k * per_round] == 1 && l.mc[k * per_round + 1] == 1 &&
			    l.mc[k * per_round + 2] == 2 && !l.mc[k * per_round + 3];
	CHECK(order_ok, "each round starts with the multicast datagrams");
	if (l.n)
		printf("  65,536 clients at 2000/s: ten rounds in %llu s\n",
		       (unsigned long long)(l.t[l.n - 1] / 1000));
out:
	free(clients);
	free(l.t);
	free(l.mc);
	pcp_announce_free(a);
}

/* A full socket buffer retries the same datagram; another error skips it. */
static void test_errors(void)
{
	struct pcp_addr ext = v4(0xcb007101);
	struct rec r = {.now = 0};
	struct pcp_announce *a = make(&r, 0);
	struct pcp_announce_stats st;
	const char *err;
	int rc;

	if (!a)
		return;
	pcp_announce_start(a, 0, 1, &ext, NULL, 0);
	r.fail_next = -EAGAIN;
	CHECK(pcp_announce_tick(a, 0) == 10 && r.n == 0, "EAGAIN: try again in 10 ms");
	r.now = 10;
	pcp_announce_tick(a, 10);
	CHECK(r.n == 3 && r.s[0].len == 12, "the same datagram first after EAGAIN (%zu)", r.n);
	r.fail_next = -EHOSTUNREACH;
	r.now = 250;
	pcp_announce_tick(a, 250);
	pcp_announce_get_stats(a, &st);
	CHECK(r.n == 5 && st.send_errors == 1 && st.sent == 5, "an error skips one (%zu)", r.n);
	pcp_announce_free(a);
	free(r.s);

	struct pcp_announce_config bad = {.fd4 = -1, .fd6 = -1, .rate = 1000001};

	a = pcp_announce_new(&bad, &err, &rc);
	CHECK(!a && rc == -EINVAL && strstr(err, "rate"), "rate 1000001 refused");
	bad.rate = 0;
	a = pcp_announce_new(&bad, &err, &rc);
	CHECK(a && pcp_announce_start(a, 0, 1, NULL, NULL, 65537) == -EINVAL &&
		  !pcp_announce_busy(a),
	      "65,537 clients refused, nothing started");
	pcp_announce_free(a);
}

static int udp_socket(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
	}
	if (bind(fd, (void *)&ss, sizeof(ss))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* In a child, in a new network namespace with lo up: the default sender
 * reaches 127.0.0.1:5350 and [::1]:5350 from port 5351. Exit code: 0 ok,
 * 2 setup, 3 wrong datagrams, 4 no namespace (skip). */
static int namespace_child(void)
{
	struct ifreq ifr = {0};
	struct pcp_addr c[2], ext = v4(0xcb007101);
	static const uint8_t natpmp[12] = {0, 128, 0, 0, 0, 0, 0, 7, 203, 0, 113, 1};
	uint8_t buf[64];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	int s, r4, r6, s4, s6, rc;
	struct pcp_announce_config cfg = {.ifindex = 1};
	struct pcp_announce *a;
	const char *err;
	ssize_t n;

	if (unshare(CLONE_NEWNET))
		return 4;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	if (s < 0 || ioctl(s, SIOCSIFFLAGS, &ifr))
		return 2;
	r4 = udp_socket(AF_INET, "127.0.0.1", 5350);
	r6 = udp_socket(AF_INET6, "::1", 5350);
	s4 = udp_socket(AF_INET, "127.0.0.1", 5351);
	s6 = udp_socket(AF_INET6, "::1", 5351);
	if (r4 < 0 || r6 < 0 || s4 < 0 || s6 < 0)
		return 2;
	cfg.fd4 = s4;
	cfg.fd6 = s6;
	cfg.ifindex = if_nametoindex("lo");
	a = pcp_announce_new(&cfg, &err, &rc);
	c[0] = v4(0x7f000001);
	inet_pton(AF_INET6, "::1", c[1].b);
	if (!a || pcp_announce_start(a, 0, 7, &ext, c, 2))
		return 2;
	pcp_announce_tick(a, 0);
	n = recvfrom(r4, buf, sizeof(buf), 0, (void *)&from, &fl);
	if (n != 12 || memcmp(buf, natpmp, 12) ||
	    ntohs(((struct sockaddr_in *)&from)->sin_port) != 5351)
		return 3;
	n = recv(r4, buf, sizeof(buf), 0);
	if (n != 24 || buf[0] != 2 || buf[1] != 128 || buf[11] != 7)
		return 3;
	fl = sizeof(from);
	n = recvfrom(r6, buf, sizeof(buf), 0, (void *)&from, &fl);
	if (n != 24 || buf[0] != 2 || buf[1] != 128 || buf[11] != 7 ||
	    ntohs(((struct sockaddr_in6 *)&from)->sin6_port) != 5351)
		return 3;
	pcp_announce_free(a);
	return 0;
}

static void test_sockets(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0)
		_exit(namespace_child());
	if (!CHECK(pid > 0, "fork: %s", strerror(errno)))
		return;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 4) {
		printf("  SKIP sockets: no network namespace here\n");
		return;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "real sockets: the unicast datagrams from port 5351 (child status %d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

UNIT_TEST(test_pcp_announce, 6)
{
	test_bytes_and_schedule();
	test_rate_bound();
	test_errors();
	test_sockets();
	return 4;
}
