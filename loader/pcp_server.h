/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_server.h - one NAT-PMP/PCP request in, one reply and the table
 * changes out: pcp_wire (format) and pcp_lease (rules) put together, with
 * no I/O, so serve only receives, applies the changes as one group commit,
 * and sends.
 *
 * serve's loop, per poll round:
 *   for each datagram on UDP 5351 of a tunnel address (never the public one):
 *       n = pcp_handle(srv, buf, len, &src, authorized(src), now, reply, &rlen, ch);
 *       collect ch[0..n) and the reply;
 *   apply the ADDs and DELs with apply_batch() and the RENEWs with
 *   renew_batch() (one journal record, one fdatasync), then send the
 *   replies; when that fails, send nothing (the client retries) and call
 *   pcp_lease_forget() for the ADDs.
 *   every 250 ms: pcp_lease_expire() -> DELs through apply_batch().
 */
#ifndef XDPFWD_PCP_SERVER_H
#define XDPFWD_PCP_SERVER_H

#include "pcp_lease.h"
#include "pcp_wire.h"

/* Counters for /metrics: never an address, a nonce or a port. */
struct pcp_server_stats {
	/* requests answered by [version: 0 NAT-PMP, 1 PCP][opcode 0-2, 3
	 * other][result 0-13] */
	uint64_t answered[2][4][14];
	uint64_t unsupp_version; /* answered UNSUPP_VERSION (any version) */
	uint64_t dropped;	 /* malformed beyond an answer (RFC: silently) */
	uint64_t rate_limited;	 /* over the client's token bucket */
	uint64_t quota_refusals; /* USER_EX_QUOTA / NAT-PMP 4 for the quota */
};

struct pcp_server {
	struct pcp_leases *leases;
	struct pcp_addr external_v4, external_v6; /* the public addresses */
	bool has_v4, has_v6;			  /* known: else NETWORK_FAILURE (RFC 6886 §3.5) */
	uint64_t epoch_origin;			  /* monotonic seconds at epoch 0 (persisted) */
	struct pcp_server_stats stats;
};

/* The epoch of replies at NOW: seconds since epoch_origin (RFC 6886 §3.6,
 * RFC 6887 §8.5), 32 bits on the wire (wraps after 136 years). */
uint32_t pcp_epoch(const struct pcp_server *srv, uint64_t now);

/*
 * Handles the datagram BUF of LEN bytes from SRC (its IPv4-mapped or IPv6
 * source address), received at NOW (monotonic seconds). AUTHORIZED: SRC is a
 * client that may ask (inside attach --clients and a live peer); others get
 * NOT_AUTHORIZED. Writes the reply to OUT (room for PCP_MAX_MSG bytes) and
 * its length to *OUT_LEN (0: send nothing), and up to
 * pcp_lease_max_changes() table changes to CH; returns their number.
 */
size_t pcp_handle(struct pcp_server *srv, const uint8_t *buf, size_t len,
		  const struct pcp_addr *src, bool authorized, uint64_t now, uint8_t *out,
		  size_t *out_len, struct pcp_change *ch);

#endif
