// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_announce.c - epoch announcements of the NAT-PMP/PCP server; see
 * pcp_announce.h.
 */
#define _GNU_SOURCE /* struct in6_pktinfo */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "pcp_announce.h"

/* A round's datagrams, by slot: the three multicast ones, then two per
 * client (NAT-PMP, PCP); slots that do not apply are skipped for free. */
#define MC_SLOTS 3

struct pcp_announce {
	int fd4, fd6;
	unsigned int ifindex;
	uint32_t rate, burst; /* datagrams per second; the bucket's size */
	pcp_announce_send_fn send;
	void *ctx;
	bool busy;
	uint64_t start_ms;
	uint32_t epoch; /* at start_ms */
	bool has_ext4;
	struct pcp_addr ext4;
	struct pcp_addr *clients;
	size_t n;
	unsigned int round;
	size_t slot;	  /* next slot of the round */
	uint64_t tokens;  /* milli-datagrams in the bucket */
	uint64_t last_ms; /* of the last refill */
	bool warned;	  /* one warning per announcement */
	struct pcp_announce_stats stats;
};

uint64_t pcp_announce_round_ms(unsigned int k)
{
	return (uint64_t)PCP_ANNOUNCE_FIRST_MS * ((1ULL << k) - 1);
}

struct pcp_announce *pcp_announce_new(const struct pcp_announce_config *cfg, const char **err,
				      int *rc)
{
	struct pcp_announce *a;

	if (cfg->rate > 1000000) {
		*err = "pcp announce rate: must be 1-1000000 datagrams per second";
		*rc = -EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		*err = "pcp announce: out of memory";
		*rc = -ENOMEM;
		return NULL;
	}
	a->fd4 = cfg->fd4;
	a->fd6 = cfg->fd6;
	a->ifindex = cfg->ifindex;
	a->rate = cfg->rate ? cfg->rate : PCP_ANNOUNCE_RATE;
	a->burst = a->rate >= 10 ? a->rate / 10 : 1;
	a->send = cfg->send;
	a->ctx = cfg->ctx;
	*err = NULL;
	*rc = 0;
	return a;
}

void pcp_announce_free(struct pcp_announce *a)
{
	if (!a)
		return;
	free(a->clients);
	free(a);
}

static int addr_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct pcp_addr));
}

int pcp_announce_start(struct pcp_announce *a, uint64_t now_ms, uint32_t epoch,
		       const struct pcp_addr *ext4, const struct pcp_addr *clients, size_t n)
{
	struct pcp_addr *copy = NULL;
	size_t i, m = 0;

	if (n > PCP_ANNOUNCE_MAX_CLIENT) {
		pr_warn("pcp announce: %zu clients; at most %u are announced to\n", n,
			PCP_ANNOUNCE_MAX_CLIENT);
		return -EINVAL;
	}
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, clients, n * sizeof(*copy));
		qsort(copy, n, sizeof(*copy), addr_cmp);
		for (i = 0; i < n; i++)
			if (!m || memcmp(&copy[m - 1], &copy[i], sizeof(*copy)))
				copy[m++] = copy[i];
	}
	free(a->clients);
	a->clients = copy;
	a->n = m;
	a->busy = true;
	a->start_ms = now_ms;
	a->epoch = epoch;
	a->has_ext4 = ext4 && pcp_addr_is_v4(ext4);
	if (a->has_ext4)
		a->ext4 = *ext4;
	a->round = 0;
	a->slot = 0;
	a->tokens = (uint64_t)a->burst * 1000;
	a->last_ms = now_ms;
	a->warned = false;
	a->stats.starts++;
	pr_info("pcp announce: epoch %u to the groups and %zu former clients\n", epoch, m);
	return 0;
}

/* sendmsg() out of the tunnel interface, from the socket's own address and
 * port 5351; never waits. */
static int send_default(struct pcp_announce *a, const struct sockaddr *to, socklen_t tolen,
			const uint8_t *buf, size_t len)
{
	union {
		char b4[CMSG_SPACE(sizeof(struct in_pktinfo))];
		char b6[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_name = (void *)to,
			    .msg_namelen = tolen,
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = &cbuf,
			    .msg_controllen = sizeof(cbuf)};
	bool v6 = to->sa_family == AF_INET6;
	struct cmsghdr *c;
	int fd = v6 ? a->fd6 : a->fd4;

	memset(&cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&mh);
	if (v6) {
		struct in6_pktinfo pi = {.ipi6_ifindex = a->ifindex};

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in_pktinfo pi = {.ipi_ifindex = (int)a->ifindex};

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	}
	if (!a->ifindex)
		mh.msg_controllen = 0;
	return sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The datagram of SLOT at epoch EPOCH into BUF and its destination into
 * TO: its length, or 0 when the slot does not apply. */
static size_t slot_datagram(const struct pcp_announce *a, size_t slot, uint32_t epoch, uint8_t *buf,
			    struct sockaddr_storage *to, socklen_t *tolen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)to;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)to;
	const struct pcp_addr *dst = NULL;
	bool natpmp, v4;

	if (slot < MC_SLOTS) {
		natpmp = slot == 0;
		v4 = slot < 2;
	} else {
		dst = &a->clients[(slot - MC_SLOTS) / 2];
		natpmp = (slot - MC_SLOTS) % 2 == 0;
		v4 = pcp_addr_is_v4(dst);
	}
	if (natpmp && (!v4 || !a->has_ext4)) /* NAT-PMP is IPv4 only */
		return 0;
	if (!a->send && (v4 ? a->fd4 : a->fd6) < 0)
		return 0;
	memset(to, 0, sizeof(*to));
	if (v4) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(PCP_CLIENT_PORT);
		if (dst)
			memcpy(&s4->sin_addr, dst->b + 12, 4);
		else
			s4->sin_addr.s_addr = htonl(INADDR_ALLHOSTS_GROUP); /* 224.0.0.1 */
		*tolen = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(PCP_CLIENT_PORT);
		if (dst)
			memcpy(&s6->sin6_addr, dst->b, 16);
		else
			inet_pton(AF_INET6, "ff02::1", &s6->sin6_addr);
		if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) ||
		    IN6_IS_ADDR_MC_LINKLOCAL(&s6->sin6_addr))
			s6->sin6_scope_id = a->ifindex;
		*tolen = sizeof(*s6);
	}
	return natpmp ? natpmp_build_announce(epoch, &a->ext4, buf)
		      : pcp_build_announce(epoch, buf);
}

static void refill(struct pcp_announce *a, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)a->burst * 1000;

	if (now_ms > a->last_ms) {
		a->tokens += (now_ms - a->last_ms) * a->rate;
		if (a->tokens > cap)
			a->tokens = cap;
	}
	a->last_ms = now_ms;
}

/* Sends slot a->slot if it applies: 1 sent or skipped on an error, 0 does
 * not apply, -EAGAIN try again later. */
static int send_slot(struct pcp_announce *a, uint64_t now_ms)
{
	uint32_t epoch = a->epoch + (uint32_t)((now_ms - a->start_ms) / 1000);
	struct sockaddr_storage to;
	uint8_t buf[PCP_HDR_LEN];
	socklen_t tolen = 0;
	size_t len;
	int rc;

	len = slot_datagram(a, a->slot, epoch, buf, &to, &tolen);
	if (!len)
		return 0;
	rc = a->send ? a->send(a->ctx, (struct sockaddr *)&to, tolen, a->ifindex, buf, len)
		     : send_default(a, (struct sockaddr *)&to, tolen, buf, len);
	if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -ENOBUFS)
		return -EAGAIN;
	if (rc) {
		a->stats.send_errors++;
		if (!a->warned)
			pr_info("pcp announce: a datagram was not sent: %s\n", strerror(-rc));
		a->warned = true;
	} else {
		a->stats.sent++;
	}
	return 1;
}

int pcp_announce_tick(struct pcp_announce *a, uint64_t now_ms)
{
	size_t nslots = MC_SLOTS + 2 * a->n;
	uint64_t due;
	int rc;

	if (!a->busy)
		return -1;
	refill(a, now_ms);
	for (;;) {
		if (a->slot == nslots) {
			a->stats.rounds++;
			a->slot = 0;
			if (++a->round == PCP_ANNOUNCE_ROUNDS) {
				a->busy = false;
				return -1;
			}
		}
		due = a->start_ms + pcp_announce_round_ms(a->round);
		if (a->slot == 0 && now_ms < due)
			return (int)(due - now_ms);
		if (a->tokens < 1000)
			return (int)((1000 - a->tokens + a->rate - 1) / a->rate);
		rc = send_slot(a, now_ms);
		if (rc == -EAGAIN)
			return 10; /* the socket's buffer is full: soon again */
		if (rc)
			a->tokens -= 1000;
		a->slot++;
	}
}

bool pcp_announce_busy(const struct pcp_announce *a)
{
	return a->busy;
}

void pcp_announce_get_stats(const struct pcp_announce *a, struct pcp_announce_stats *s)
{
	*s = a->stats;
}
