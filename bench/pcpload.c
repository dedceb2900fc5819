// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcpload - a NAT-PMP load generator for bench/pcp.sh: requests answered per
 * second and the latency of each, against any NAT-PMP server (xdpfwd serve
 * --pcp, miniupnpd).
 *
 *   pcpload SERVER FIRST COUNT TOTAL udp|tcp LIFETIME WINDOW [TIMEOUT_MS [SOURCE]]
 *
 * Sends TOTAL NAT-PMP map requests (RFC 6886 3.3: 12 bytes, version 0, opcode
 * 1 for UDP and 2 for TCP) to SERVER (an IPv4 address) on UDP 5351, the i-th
 * for internal port FIRST + i % COUNT with that port as the suggested
 * external port and LIFETIME seconds (0 deletes). A first request for a port
 * is a map, a repeated one a renewal (the server keys on client, protocol and
 * internal port). WINDOW sockets (1-256) each keep one request outstanding:
 * WINDOW 1 is a closed loop (latency alone), more measures the rate. A reply
 * must be 16 bytes with opcode 128 + the request's and the same internal
 * port; a request without one in TIMEOUT_MS (1000) is sent again, twice at
 * most, then counted lost. Latency is from the last send to the reply, in microseconds.
 * SOURCE (an IPv4 address of this host) is the client the requests come
 * from (each socket is bound to it); without it, the kernel's choice.
 *
 * Prints one line: answered=N lost=N retries=N seconds=S rate=R p50_us=U
 * p99_us=U success=N refused=N (refused: a reply with result != 0)
 * results=N,N,N,N,N,N (replies with result 0, 1, 2, 3, 4, other).
 * Exit: 0, or 2 with one line on bad arguments, 1 on a socket error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WINDOW 256
#define MAX_SENDS  3

struct slot {
	int fd;
	long req;	  /* the request index outstanding, -1: none */
	int sends;	  /* sends of this request so far */
	uint64_t sent_us; /* the last send */
};

struct load {
	struct sockaddr_in server;
	long first, count, total, lifetime;
	int op, window;
	uint64_t timeout_us;
	long next, answered, lost, retries, success, refused;
	long by_result[6]; /* NAT-PMP results 0-4, and 5 for any other */
	uint32_t *lat_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static long number(const char *name, const char *text, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi) {
		fprintf(stderr, "pcpload: %s '%s' is out of range: allowed %ld-%ld\n", name, text,
			lo, hi);
		exit(2);
	}
	return v;
}

static uint16_t port_of(const struct load *l, long req)
{
	return (uint16_t)(l->first + req % l->count);
}

static int send_req(struct load *l, struct slot *s)
{
	uint8_t b[12] = {0, (uint8_t)l->op};
	uint16_t port = htons(port_of(l, s->req));
	uint32_t life = htonl((uint32_t)l->lifetime);

	memcpy(b + 4, &port, 2);
	memcpy(b + 6, &port, 2);
	memcpy(b + 8, &life, 4);
	s->sends++;
	s->sent_us = now_us();
	if (sendto(s->fd, b, sizeof(b), 0, (const struct sockaddr *)&l->server, sizeof(l->server)) <
		0 &&
	    errno != EAGAIN && errno != ECONNREFUSED) {
		perror("pcpload: sendto");
		return -1;
	}
	return 0;
}

static int start_next(struct load *l, struct slot *s)
{
	s->req = -1;
	if (l->next >= l->total)
		return 0;
	s->req = l->next++;
	s->sends = 0;
	return send_req(l, s);
}

/* A reply for the slot's request: counted, and the slot takes the next. */
static int on_reply(struct load *l, struct slot *s)
{
	uint8_t r[64];
	uint16_t iport, result;
	ssize_t n = recv(s->fd, r, sizeof(r), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == ECONNREFUSED ? 0 : -1;
	if (s->req < 0 || n != 16 || r[0] != 0 || r[1] != 128 + l->op)
		return 0;
	memcpy(&iport, r + 8, 2);
	if (ntohs(iport) != port_of(l, s->req))
		return 0; /* a late reply to an earlier request */
	memcpy(&result, r + 2, 2);
	l->lat_us[l->answered++] = (uint32_t)(now_us() - s->sent_us);
	result = ntohs(result);
	l->by_result[result < 5 ? result : 5]++;
	if (result)
		l->refused++;
	else
		l->success++;
	return start_next(l, s);
}

static int on_timeout(struct load *l, struct slot *s)
{
	if (s->req < 0 || now_us() - s->sent_us < l->timeout_us)
		return 0;
	if (s->sends < MAX_SENDS) {
		l->retries++;
		return send_req(l, s);
	}
	l->lost++;
	return start_next(l, s);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int run(struct load *l, struct slot *slots)
{
	struct pollfd pfd[MAX_WINDOW];
	int i, busy;

	for (i = 0; i < l->window; i++) {
		pfd[i] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
		if (start_next(l, &slots[i]))
			return -1;
	}
	do {
		if (poll(pfd, l->window, 100) < 0 && errno != EINTR)
			return -1;
		busy = 0;
		for (i = 0; i < l->window; i++) {
			if ((pfd[i].revents & POLLIN) && on_reply(l, &slots[i]))
				return -1;
			if (on_timeout(l, &slots[i]))
				return -1;
			busy |= slots[i].req >= 0;
		}
	} while (busy);
	return 0;
}

int main(int argc, char **argv)
{
	struct slot slots[MAX_WINDOW];
	struct load l = {.server.sin_family = AF_INET, .server.sin_port = htons(5351)};
	struct sockaddr_in src = {.sin_family = AF_INET};
	uint64_t t0, t1;
	double secs;
	int i;

	if (argc < 8 || argc > 10) {
		fprintf(
		    stderr,
		    "usage: pcpload SERVER FIRST COUNT TOTAL udp|tcp LIFETIME WINDOW [TIMEOUT_MS "
		    "[SOURCE]]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &l.server.sin_addr) != 1) {
		fprintf(stderr, "pcpload: server '%s' is not an IPv4 address\n", argv[1]);
		return 2;
	}
	l.first = number("first port", argv[2], 1, 65535);
	l.count = number("count", argv[3], 1, 65536 - l.first);
	l.total = number("total", argv[4], 1, 100000000);
	if (strcmp(argv[5], "udp") && strcmp(argv[5], "tcp")) {
		fprintf(stderr, "pcpload: protocol '%s': allowed udp, tcp\n", argv[5]);
		return 2;
	}
	l.op = argv[5][0] == 'u' ? 1 : 2;
	l.lifetime = number("lifetime", argv[6], 0, 4294967295L);
	l.window = (int)number("window", argv[7], 1, MAX_WINDOW);
	l.timeout_us = 1000ULL * (argc >= 9 ? number("timeout", argv[8], 1, 3600000) : 1000);
	if (argc == 10 && inet_pton(AF_INET, argv[9], &src.sin_addr) != 1) {
		fprintf(stderr, "pcpload: source '%s' is not an IPv4 address\n", argv[9]);
		return 2;
	}
	l.lat_us = calloc(l.total, sizeof(*l.lat_us));
	if (!l.lat_us)
		return 1;
	for (i = 0; i < l.window; i++) {
		slots[i] = (struct slot){.req = -1};
		slots[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (slots[i].fd < 0) {
			perror("pcpload: socket");
			return 1;
		}
		/* SOURCE: the client address the server keys the leases on. */
		if (argc == 10 && bind(slots[i].fd, (const struct sockaddr *)&src, sizeof(src))) {
			perror("pcpload: bind SOURCE");
			return 1;
		}
	}
	t0 = now_us();
	if (run(&l, slots)) {
		perror("pcpload");
		return 1;
	}
	t1 = now_us();
	secs = (t1 - t0) / 1e6;
	qsort(l.lat_us, l.answered, sizeof(*l.lat_us), cmp_u32);
	printf("answered=%ld lost=%ld retries=%ld seconds=%.3f rate=%.0f p50_us=%u p99_us=%u "
	       "success=%ld refused=%ld results=%ld,%ld,%ld,%ld,%ld,%ld\n",
	       l.answered, l.lost, l.retries, secs, l.answered / secs,
	       l.answered ? l.lat_us[l.answered / 2] : 0,
	       l.answered ? l.lat_us[(l.answered * 99) / 100] : 0, l.success, l.refused,
	       l.by_result[0], l.by_result[1], l.by_result[2], l.by_result[3], l.by_result[4],
	       l.by_result[5]);
	free(l.lat_us);
	return 0;
}
