/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_announce.h - epoch announcements of the NAT-PMP/PCP server (issue 15,
 * point 5): after an epoch reset (a start that lost state, a change of the
 * public address), tell clients to renew their mappings at once.
 *
 * What goes out, per round:
 *   - NAT-PMP (RFC 6886 §3.2.1): the gratuitous 12-byte reply to opcode 0
 *     {0, 128, result 0, epoch, external IPv4} to 224.0.0.1:5350, only
 *     when the public IPv4 address is known;
 *   - PCP (RFC 6887 §14.1.3): the unsolicited 24-byte ANNOUNCE response
 *     {2, 128, 0, result 0, lifetime 0, epoch, 0} to 224.0.0.1:5350 and
 *     [ff02::1%tunnel]:5350;
 *   - then the same by unicast to port 5350 of each client that held a
 *     mapping: an IPv4 client gets both messages, an IPv6 client the PCP
 *     one (NAT-PMP is IPv4 only). Multicast does not cross WireGuard (it
 *     routes by allowed IPs, and no peer holds 224.0.0.1), so unicast is
 *     what reaches a VPN client.
 * Schedule (RFC 6886 §3.2.1, also RFC 6887 §14.1.3): 10 rounds, the first
 * at start, then intervals of 250 ms doubling each time (250, 500, 1000 ms
 * ... 64 s: round k at 250 * (2^k - 1) ms, the last at 127.75 s). Each
 * message carries the epoch of its own sending time (epoch at start plus
 * whole seconds since), as every server reply does (RFC 6886 §3.6).
 *
 * Rate bound: at most `rate` datagrams per second overall (default 2000,
 * a token bucket of `burst` = rate / 10 datagrams, and at most `burst` per
 * tick so one tick never stalls the loop). The multicast datagrams of a
 * round go first. A round never starts before the previous one finished:
 * with 65,536 former IPv4 clients (131,072 datagrams a round) the bound
 * stretches each round to about 66 s and the ten rounds to about 11
 * minutes, at about 1 Mbit/s. A new pcp_announce_start() replaces what is
 * under way (the newest epoch is the one clients must hear).
 *
 * Sending: through the daemon's own UDP sockets on port 5351 (RFC 6886
 * §3.2.1: from the server's port), by sendmsg() with IP_PKTINFO /
 * IPV6_PKTINFO naming the tunnel interface; or, for tests, through a send
 * callback. A send that fails with EAGAIN/ENOBUFS is tried again at the
 * next tick; any other error is counted and the datagram skipped. No
 * message names a client address.
 *
 * Times are monotonic milliseconds given by the caller. No global state;
 * never blocks (sockets are expected non-blocking; a blocking one blocks
 * only for a socket buffer).
 */
#ifndef XDPFWD_PCP_ANNOUNCE_H
#define XDPFWD_PCP_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "pcp_wire.h"

#define PCP_ANNOUNCE_ROUNDS	10    /* RFC 6886 §3.2.1 */
#define PCP_ANNOUNCE_FIRST_MS	250   /* the first interval, doubling after */
#define PCP_ANNOUNCE_RATE	2000  /* default datagrams per second, overall */
#define PCP_ANNOUNCE_MAX_CLIENT 65536 /* clients one announcement may name */

/* Sends LEN bytes of BUF to TO (sockaddr_in or sockaddr_in6, port 5350)
 * out of interface IFINDEX: 0 or -errno. */
typedef int (*pcp_announce_send_fn)(void *ctx, const struct sockaddr *to, socklen_t tolen,
				    unsigned int ifindex, const uint8_t *buf, size_t len);

struct pcp_announce_config {
	int fd4, fd6;		   /* UDP sockets bound to port 5351; -1: none */
	unsigned int ifindex;	   /* the tunnel interface (multicast, scope) */
	uint32_t rate;		   /* datagrams per second, 1-1000000; 0: default */
	pcp_announce_send_fn send; /* NULL: sendmsg() on fd4/fd6; else fds unused,
				      both families sent */
	void *ctx;		   /* for SEND */
};

/* Counters for /metrics. */
struct pcp_announce_stats {
	uint64_t starts;      /* announcements begun */
	uint64_t sent;	      /* datagrams sent */
	uint64_t send_errors; /* datagrams skipped on an error */
	uint64_t rounds;      /* rounds completed */
};

struct pcp_announce;

/* A sender for CFG, or NULL: *RC -EINVAL with *ERR naming the field and its
 * range, or -ENOMEM. */
struct pcp_announce *pcp_announce_new(const struct pcp_announce_config *cfg, const char **err,
				      int *rc);
void pcp_announce_free(struct pcp_announce *a);

/*
 * Begins an announcement at NOW_MS of EPOCH (the epoch at NOW_MS, seconds)
 * with the public IPv4 address EXT4 (IPv4-mapped; NULL: unknown, then no
 * NAT-PMP message), to the multicast groups and to the N (at most
 * PCP_ANNOUNCE_MAX_CLIENT) CLIENTS (IPv4-mapped or IPv6; copied, repeats
 * sent once). Replaces one under way. 0, -EINVAL (N too large, with a
 * message), -ENOMEM (nothing changed). Sends nothing itself: call
 * pcp_announce_tick().
 */
int pcp_announce_start(struct pcp_announce *a, uint64_t now_ms, uint32_t epoch,
		       const struct pcp_addr *ext4, const struct pcp_addr *clients, size_t n);
/* Sends what is due at NOW_MS within the rate bound. Returns the
 * milliseconds after which it wants to run again (the next round's time,
 * the next token of the bucket, or 10 after a full socket buffer), or -1
 * when no announcement is under way. */
int pcp_announce_tick(struct pcp_announce *a, uint64_t now_ms);
/* Whether an announcement is under way. */
bool pcp_announce_busy(const struct pcp_announce *a);
void pcp_announce_get_stats(const struct pcp_announce *a, struct pcp_announce_stats *s);

/* The time of round K (0-9) after start, in ms: 250 * (2^K - 1). */
uint64_t pcp_announce_round_ms(unsigned int k);

#endif
