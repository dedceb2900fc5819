/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * wg_peers.h - the tunnel's WireGuard peers, for the NAT-PMP/PCP server
 * (issue 15, points 1 and 6): who may ask (a client address must fall in a
 * live peer's allowed IPs), and whose mappings must go (a peer was removed,
 * or an address moved to another peer).
 *
 * Source: `wg show IFACE dump` (wireguard-tools, wg(8)): it reads kernel
 * WireGuard over netlink and wireguard-go over its UAPI socket
 * (/var/run/wireguard/IFACE.sock) alike. Its output: a first line for the
 * interface (private-key, public-key, listen-port, fwmark), then one line
 * per peer, tab-separated: public-key, preshared-key, endpoint,
 * allowed-ips (comma-separated CIDRs, or "(none)"), latest-handshake,
 * transfer-rx, transfer-tx, persistent-keepalive.
 *
 * Never blocks the daemon: wg_peers_tick() starts a `wg` every interval
 * (posix_spawnp, stdout a non-blocking pipe, stdin and stderr /dev/null),
 * reads what is there, and parses once the pipe reaches EOF and the child
 * is reaped (waitpid WNOHANG on its own pid; SIGCHLD must not be SIG_IGN);
 * a `wg` still running after timeout_ms is killed (SIGKILL) and that poll
 * counts as failed. wg_peers_fd() gives the pipe for the daemon's poll set.
 *
 * Status: UNKNOWN until a poll succeeds. When the first poll fails (not a
 * WireGuard interface, wg missing, no permission), one warning says so and
 * the status stays UNKNOWN: the daemon then authorizes by attach --clients
 * alone. A failure after a success keeps the last good set (one warning
 * per run of failures, one info line when polls work again).
 *
 * Removal: each completed poll keeps the previous set. A client has lost
 * its peer when the peer its address routed to in the previous set (the
 * longest allowed-ips match, as WireGuard routes) is gone or no longer the
 * one it routes to. The daemon, after a tick that returned a new
 * generation (wg_peers_generation()), deletes the dynamic mappings of every
 * client for which wg_peers_lost() is true. With a 500 ms interval, a
 * removed peer's mappings go within a second.
 *
 * Lookups cost O(d log n): n prefixes, d distinct prefix lengths. No
 * global state; no message names an address or a key.
 */
#ifndef XDPFWD_WG_PEERS_H
#define XDPFWD_WG_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pcp_wire.h"

#define WG_PEERS_INTERVAL_MS 500	 /* default: between polls */
#define WG_PEERS_TIMEOUT_MS  2000	 /* default: a `wg` that runs longer is killed */
#define WG_PEERS_MAX_OUTPUT  (64u << 20) /* bytes of dump: ~300k peers; more fails */

/* One allowed-ips prefix, in the 128-bit form (IPv4 as ::ffff:a.b.c.d/96+n). */
struct wg_prefix {
	struct pcp_addr addr; /* host bits zero */
	uint8_t len;	      /* 0-128 */
};

/* A parsed dump: every peer's allowed-ips, sorted for lookups. */
struct wg_dump {
	size_t npeers;
	size_t nprefixes;
	struct wg_dump_entry {
		struct wg_prefix p;
		uint32_t peer; /* index into keys */
	} * e;		       /* sorted by (len desc, addr) */
	char (*keys)[45];      /* base64 public keys, NUL-terminated */
	uint8_t lens[130];     /* distinct lengths, descending */
	size_t nlens;
};

/*
 * Parses the dump TEXT of LEN bytes (`wg show IFACE dump`, as above) into
 * D (fresh; free with wg_dump_free()). Lines are \n-terminated (a last line
 * without one is accepted); empty lines are skipped. 0, or -EINVAL with
 * *ERR a message naming the line number and the field (no key or address
 * in it), or -ENOMEM.
 */
int wg_dump_parse(const char *text, size_t len, struct wg_dump *d, const char **err,
		  size_t *err_line);
void wg_dump_free(struct wg_dump *d);
/* The peer whose allowed-ips route A (longest match), or -1. */
long wg_dump_lookup(const struct wg_dump *d, const struct pcp_addr *a);

enum wg_peers_status {
	WG_PEERS_UNKNOWN, /* no poll succeeded: authorize by --clients alone */
	WG_PEERS_KNOWN,	  /* the last good poll's set */
};

struct wg_peers_config {
	const char *ifname;   /* the tunnel interface; copied; 1-15 bytes */
	const char *wg_path;  /* NULL: "wg" through PATH */
	uint32_t interval_ms; /* 100-3600000; 0: WG_PEERS_INTERVAL_MS */
	uint32_t timeout_ms;  /* 100-60000; 0: WG_PEERS_TIMEOUT_MS */
};

/* Counters for /metrics. */
struct wg_peers_stats {
	uint64_t polls;	   /* completed and parsed */
	uint64_t failures; /* wg failed, was killed, or its output did not parse */
	uint64_t killed;   /* killed at the timeout (counted in failures too) */
	uint64_t peers;	   /* in the last good set */
	uint64_t removals; /* polls that removed a peer or moved a prefix */
};

struct wg_peers;

/* A poller for CFG, or NULL: *RC -EINVAL (*ERR names the field and range)
 * or -ENOMEM. Spawns nothing yet: the first tick does. */
struct wg_peers *wg_peers_new(const struct wg_peers_config *cfg, const char **err, int *rc);
/* Kills and reaps a running `wg`, frees. NULL is allowed. */
void wg_peers_free(struct wg_peers *w);

/* The read end of the running `wg`'s stdout (for POLLIN), or -1. */
int wg_peers_fd(const struct wg_peers *w);
/* Starts a poll when due, reads, reaps, kills a hung `wg`, parses a
 * complete output. NOW_MS: monotonic milliseconds. Completes at most one
 * poll. Returns the milliseconds after which it wants to run again. */
int wg_peers_tick(struct wg_peers *w, uint64_t now_ms);

enum wg_peers_status wg_peers_status(const struct wg_peers *w);
/* Counts polls that changed the set of (peer, prefix) pairs by a removal:
 * when it moves, check the clients with wg_peers_lost(). */
uint64_t wg_peers_generation(const struct wg_peers *w);
/* 1: A lies in a live peer's allowed IPs; 0: it does not; -1: UNKNOWN. */
int wg_peers_allowed(const struct wg_peers *w, const struct pcp_addr *a);
/* Whether client A lost its peer at the latest poll (see above); false
 * when UNKNOWN or before a second good poll. */
bool wg_peers_lost(const struct wg_peers *w, const struct pcp_addr *a);
void wg_peers_get_stats(const struct wg_peers *w, struct wg_peers_stats *s);

#endif
