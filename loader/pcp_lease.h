/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_lease.h - the lease rules of the NAT-PMP/PCP server as pure functions
 * over an in-memory index (no BPF maps, no I/O, no clock: the caller gives
 * "now" in monotonic seconds, and a seed for the random port choice).
 *
 * A lease is keyed by (client address, protocol, internal port as asked).
 * Ports are handed out by number: a port number is held by at most one
 * client, for UDP, TCP or both, so a client gets the same number for both
 * protocols and no other client is ever given the companion (RFC 6886
 * §3.3). The free pool is an array with swap-remove: a uniformly random free
 * port in O(1), never a sequential scan. Leases expire through a min-heap
 * (O(log n)); a freed port waits in quarantine (a FIFO, the delay being one
 * constant) for the reuse delay, during which only the client that held it
 * can get it back. Every operation costs O(1) or O(log n) in the number of
 * leases, plus O(quota) for one client's own records.
 *
 * Changes to the forwarding table come back as a list of pcp_change, to be
 * applied by the caller (serve: apply_batch()/renew_batch()) before the
 * reply is sent.
 */
#ifndef XDPFWD_PCP_LEASE_H
#define XDPFWD_PCP_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pcp_wire.h"

struct pcp_lease_config {
	uint32_t life_min, life_max; /* seconds granted: clamp(asked, min, max) */
	uint32_t quota;		     /* port numbers one client may hold, >= 1 */
	uint32_t reuse_delay;	     /* seconds a freed port waits for its client */
	uint32_t rate, burst;	     /* requests per second per client, bucket */
	bool port0_symmetric;	     /* NAT-PMP internal port 0: P -> client:P */
	uint32_t max_leases;	     /* dynamic and static leases, <= 65536 */
	uint32_t max_clients;	     /* client records (buckets, leases) */
	uint64_t seed;		     /* the random port choice and the hash */
};

/* The lease rules' answers, mapped to each protocol's result code by
 * pcp_lease_code(). */
enum pcp_lease_result {
	PCP_L_OK,
	PCP_L_NOT_AUTHORIZED, /* static mapping, other nonce, policy */
	PCP_L_NO_RESOURCES,   /* pool or table full */
	PCP_L_QUOTA,	      /* the client holds its quota of ports */
	PCP_L_CANNOT_PROVIDE, /* PREFER_FAILURE and the suggestion refused */
};

enum pcp_change_op {
	PCP_CH_ADD,   /* a new mapping: external_port -> client:internal_port */
	PCP_CH_RENEW, /* its lease restarts from now with lifetime */
	PCP_CH_DEL,   /* remove it */
};

/* One change to the forwarding table. */
struct pcp_change {
	enum pcp_change_op op;
	uint8_t protocol; /* 6 TCP, 17 UDP */
	uint16_t external_port;
	uint16_t internal_port; /* the target port (symmetric: = external) */
	uint32_t lifetime;	/* seconds, ADD and RENEW */
	struct pcp_addr client;
	/* PCP FILTER (RFC 6887 §13.3), set by pcp_handle(): when filter_set,
	 * the mapping's allowlist becomes these NFILTERS prefixes (none: every
	 * source); else it stays as it is. */
	bool filter_set;
	uint8_t nfilters;
	struct pcp_filter filter[PCP_MAX_FILTERS];
};

/* A map or delete, from either protocol. */
struct pcp_map_req {
	struct pcp_addr client;
	uint8_t protocol;	/* 6, 17; 0 (PCP delete of every protocol) */
	uint16_t internal_port; /* 0: delete-all, or the internal-port-0 policy */
	uint16_t suggested_port;
	uint32_t lifetime; /* asked; 0 deletes */
	bool pcp;	   /* PCP: the nonce owns the mapping */
	uint8_t nonce[PCP_NONCE_LEN];
	bool prefer_failure;
};

struct pcp_map_res {
	enum pcp_lease_result result;
	uint16_t internal_port; /* to report: asked, or P in symmetric mode */
	uint16_t external_port; /* 0 on deletes and failures */
	uint32_t lifetime;	/* granted; 0 on deletes and failures */
};

/* One lease, for persistence and tests. */
struct pcp_lease_info {
	struct pcp_addr client;
	uint8_t protocol;
	bool is_static, pcp;
	uint16_t key_port; /* internal port as asked (the key) */
	uint16_t internal_port, external_port;
	uint8_t nonce[PCP_NONCE_LEN];
	uint64_t expires; /* monotonic seconds; static: 0 */
};

struct pcp_leases;

/* A new index over the pool POOL (NPOOL port numbers, 1-65535, repeats
 * ignored), or NULL on a bad config (*ERR names the field) or no memory. */
struct pcp_leases *pcp_lease_new(const struct pcp_lease_config *cfg, const uint16_t *pool,
				 size_t npool, const char **err);
void pcp_lease_free(struct pcp_leases *l);

/* The token bucket of CLIENT: false when the request must be dropped. A
 * client record is made if needed; false also when there is no room. */
bool pcp_lease_admit(struct pcp_leases *l, const struct pcp_addr *client, uint64_t now);

/* A map (lifetime > 0) or delete (0) per RFC 6886 §3.3-§3.4 and RFC 6887
 * §11.3, §15. Writes the answer to RES and up to pcp_lease_max_changes()
 * changes to CH; returns their number. Nothing changes on a failure. */
size_t pcp_lease_map(struct pcp_leases *l, const struct pcp_map_req *q, uint64_t now,
		     struct pcp_map_res *res, struct pcp_change *ch);
/* The most changes one pcp_lease_map() can return: 2 * quota + 1. */
size_t pcp_lease_max_changes(const struct pcp_leases *l);

/* Leases whose lifetime ended by NOW become PCP_CH_DEL changes (at most
 * CAP, in CH) and their ports go to quarantine; ports whose quarantine
 * ended go back to the pool. Call again while it returns CAP. */
size_t pcp_lease_expire(struct pcp_leases *l, uint64_t now, struct pcp_change *ch, size_t cap);

/* An operator mapping (add/load): port EXT is never given to a client, and
 * the client's map or delete of the key gets NOT_AUTHORIZED. 0, -EEXIST,
 * -ENOSPC. */
int pcp_lease_add_static(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
			 uint16_t internal_port, uint16_t ext);
int pcp_lease_del_static(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
			 uint16_t internal_port);
/* A port the host holds (a listening socket, another mapping): never given
 * out while blocked; pcp_lease_unblock() returns it to the pool. */
void pcp_lease_block(struct pcp_leases *l, uint16_t port);
void pcp_lease_unblock(struct pcp_leases *l, uint16_t port);
/* A dynamic lease deleted by the operator or the table (xdpfwd del, a
 * removed peer): as a client delete. Returns whether it existed. */
bool pcp_lease_forget(struct pcp_leases *l, const struct pcp_addr *client, uint8_t protocol,
		      uint16_t key_port, uint64_t now);
/* Puts back a lease read from the state file. 0, -EEXIST, -EBUSY (its port
 * is another client's or not in the pool), -ENOSPC. */
int pcp_lease_restore(struct pcp_leases *l, const struct pcp_lease_info *info);
/* The lease in slot I (0 <= I < max_leases): false if the slot is empty. */
bool pcp_lease_get(const struct pcp_leases *l, uint32_t i, struct pcp_lease_info *info);

/* A port in quarantine, for persistence: who held it, with which key
 * port, and when it goes back to the pool (monotonic seconds). */
struct pcp_quar_info {
	struct pcp_addr client;
	uint16_t port, key_port;
	uint64_t until;
};
/* The quarantine record of PORT: false if PORT is not in quarantine. */
bool pcp_lease_quar_get(const struct pcp_leases *l, uint16_t port, struct pcp_quar_info *info);
/* Puts back a quarantine record read from the state file (after the
 * leases). 0, -EBUSY (the port is not free in the pool), -ENOSPC. A record
 * past its time is not an error: the next pcp_lease_expire() frees it. */
int pcp_lease_quar_restore(struct pcp_leases *l, const struct pcp_quar_info *info);

/* Counts for metrics. */
struct pcp_lease_stats {
	uint32_t leases;      /* dynamic */
	uint32_t pool_free;   /* ports that can be given to anyone */
	uint32_t quarantined; /* ports waiting for their last client */
	uint32_t clients;     /* client records */
};
void pcp_lease_stats(const struct pcp_leases *l, struct pcp_lease_stats *s);

/* RESULT as a NAT-PMP (RFC 6886 §3.5) or PCP (RFC 6887 §7.4) code. */
uint8_t pcp_lease_code(enum pcp_lease_result result, bool pcp);

#endif
