/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_daemon.h - the NAT-PMP (RFC 6886) and PCP (RFC 6887) server inside
 * `xdpfwd serve --pcp ADDR[,ADDR]`: its options, its sockets, its round of
 * datagrams and the group commit of their table changes, its sync with the
 * table, and its own small state file (epoch origin, quarantine).
 *
 * One thread (serve's main one) runs it. Per round (pcpd_round()):
 *   read at most PCPD_ROUND_MAX datagrams from the UDP 5351 sockets (bound
 *   to the tunnel addresses ADDR and SO_BINDTODEVICE the tunnel, so a
 *   datagram to the public address finds no socket), with one recvmmsg() per
 *   socket and pass (a share of the round each); pcp_handle() each;
 *   gather their changes into one batch; under the pin directory's lock,
 *   ADDs, DELs, RENEWs that change the allowlist, and plain RENEWs (as
 *   puts of the live mapping with the new lifetime) go through ONE
 *   apply_batch() (one journal record and one fdatasync); then the replies
 *   are sent, from the address the request was sent to, with one sendmmsg()
 *   per socket. A batch holds PCPD_BATCH_MIN changes besides the largest
 *   request's: a fuller round commits in more than one part. When the
 *   commit fails nothing is sent (the client retries) and the ADDs are
 *   pcp_lease_forget()-ten.
 *   Every tick (serve's 250 ms), pcpd_tick(): expiry (pcp_lease_expire(),
 *   DELs through apply_batch()), re-sync after another process changed the
 *   table, the state file at most once a second.
 *
 * Who ends a dynamic mapping: this server (pcpd_tick() runs before serve's
 * general lease expiry, loader/leases.c, on the same CLOCK_BOOTTIME clock,
 * and a dynamic lease ends in the index no later than its mapping's
 * expires_ns), so the general expiry never finds a dynamic mapping due
 * unless a commit of ours failed; what it then removes is forgotten here
 * (pcpd_forget_gone()).
 *
 * Times: "now" is CLOCK_BOOTTIME seconds plus PCPD_CLOCK_BIAS, so that an
 * epoch origin from before this boot (read from the state file, stored as
 * Unix time) is still a positive number.
 */
#ifndef XDPFWD_PCP_DAEMON_H
#define XDPFWD_PCP_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pcp_announce.h"
#include "pcp_hook.h"
#include "pcp_server.h"
#include "spec.h"
#include "strbuf.h"
#include "table.h"
#include "wg_peers.h"

#define PCPD_MAX_ADDRS	  8	    /* --pcp addresses */
#define PCPD_ROUND_MAX	  1024	    /* datagrams read per round: bounds a round's latency */
#define PCPD_BATCH_MIN	  4096	    /* changes a batch holds besides one request's most */
#define PCPD_CLOCK_BIAS	  315576000 /* ten years of seconds, see above */
#define PCPD_SAVE_EVERY_S 1	    /* the state file at most this often */
#define PCPD_LIFE_LIMIT	  31536000  /* --pcp-lifetime's MAX, a year (the TTL limit) */
#define PCPD_DELAY_LIMIT  86400	    /* --pcp-reuse-delay, a day */
#define PCPD_QUOTA_LIMIT  1024	    /* --pcp-quota */
#define PCPD_RATE_LIMIT	  100000    /* --pcp-rate PPS and BURST */

/* serve's options as given (NULL: not given); port0 -1 when not given. */
struct pcpd_options {
	const char *addrs, *pool, *quota, *lifetime, *reuse_delay, *rate, *hook;
	int port0; /* 0 refuse, 1 symmetric */
};

/* The options checked and converted. */
struct pcpd_config {
	bool enabled; /* --pcp given */
	size_t naddrs;
	struct pcp_addr addr[PCPD_MAX_ADDRS]; /* IPv4-mapped or IPv6 */
	uint16_t *pool;			      /* malloc'd, NPOOL distinct ports */
	size_t npool;
	struct pcp_lease_config lease;
	const char *hook; /* --pcp-hook, or NULL */
};

/* Checks the options O into C. 0, or -1 with ERR one line naming the option
 * and its allowed range (no option other than --pcp's may come without it;
 * --pcp-pool is required with it). C is freed on failure. */
int pcpd_parse(const struct pcpd_options *o, struct pcpd_config *c, char *err);
void pcpd_config_free(struct pcpd_config *c);
/* "40000-49999,50100": port numbers 1-65535, each range first <= last; the
 * ports, in order, without repeats, into *PORTS (malloc'd). 0 or -1 (ERR). */
int pcpd_parse_ports(const char *s, uint16_t **ports, size_t *n, char *err);

/* --- the daemon's own state file, STATE.pcp ------------------------------ */
/*
 *   xdpfwd-pcp 1
 *   origin UNIX_SECONDS              the epoch's origin (RFC 6887 §8.5)
 *   external ipv4 ADDR|-             the public addresses it was for
 *   external ipv6 ADDR|-
 *   quarantine PORT KEY_PORT CLIENT UNTIL_UNIX_SECONDS   (0 or more)
 *   end crc32=HEX                    CRC-32 of every byte before this line
 * Written atomically (file_write_atomic()). A file that is missing, does not
 * parse, fails its CRC, or names other external addresses resets the epoch.
 */
#define PCPD_MAX_QUAR 65536
struct pcpd_saved {
	uint64_t origin_unix;
	bool has_v4, has_v6;
	struct pcp_addr ext_v4, ext_v6;
	struct pcp_quar_info *quar; /* until in Unix seconds; malloc'd */
	size_t nquar;
};
/* Appends S as the file's text to OUT. */
void pcpd_saved_format(const struct pcpd_saved *s, struct strbuf *out);
/* Reads TEXT into S (S->quar malloc'd). 0, or -1 with ERR naming the line. */
int pcpd_saved_parse(const char *text, struct pcpd_saved *s, char *err);
void pcpd_saved_free(struct pcpd_saved *s);

/* --- changes to the table ------------------------------------------------ */
/* The changes of a round, as the table will see them. */
struct pcpd_batch {
	struct rule *put; /* ADDs; RENEWs with a new allowlist */
	size_t nput;
	bool *put_is_add;	      /* for each of PUT: a new lease (forgotten on failure) */
	struct xdpfwd_mapping *drop;  /* DELs: public side only */
	struct xdpfwd_mapping *renew; /* plain RENEWs: public side, ttl = lifetime */
	size_t ndrop, nrenew, cap;    /* each array holds CAP */
	struct pcp_change *added;     /* the ADDs' changes, to forget on failure */
	size_t nadded;
	/* The public ports the batch touches, a bit per (family, protocol,
	 * port): a request's changes are checked against them in constant
	 * time (a batch holds thousands). Bit (v6 * 2 + udp) * 65536 + port. */
	uint8_t *touched;
};
int pcpd_batch_init(struct pcpd_batch *b, size_t cap);
void pcpd_batch_reset(struct pcpd_batch *b);
void pcpd_batch_free(struct pcpd_batch *b);
/* Adds the N changes CH of one request, whose owner record is OWNER, with
 * the public addresses EXT4/EXT6 (NULL: unknown). 0; -EAGAIN when one of
 * them touches a public port the batch already touches (commit the batch
 * first, then add again); -ENOSPC when full; -EINVAL for a change of a
 * family without a public address. Nothing is added on an error. */
int pcpd_batch_add(struct pcpd_batch *b, const struct pcp_change *ch, size_t n,
		   const struct xdpfwd_owner *owner, const struct pcp_addr *ext4,
		   const struct pcp_addr *ext6);
/* The mapping a grant is: public EXT:CH->external_port, target
 * client:internal_port, ttl = lifetime, the FILTER prefixes as its
 * allowlist, OWNER. */
void pcpd_change_rule(const struct pcp_change *ch, const struct pcp_addr *ext,
		      const struct xdpfwd_owner *owner, struct rule *r);

/* --- the server ---------------------------------------------------------- */
/* What /metrics shows, copied by the main thread under LOCK. */
struct pcpd_metrics {
	pthread_mutex_t lock;
	bool enabled;
	struct pcp_server_stats srv;
	struct pcp_lease_stats leases;
	uint64_t epoch;		  /* seconds */
	uint64_t commit_failures; /* rounds whose changes could not be written */
	/* The side modules' counters (none is an address or a port). */
	bool has_hook, has_peers, has_announce;
	struct pcp_hook_stats hook;	    /* --pcp-hook */
	struct wg_peers_stats peers;	    /* the tunnel's WireGuard peers */
	struct pcp_announce_stats announce; /* epoch announcements */
};

struct pcpd;
struct xdpfwd_config;

/* Opens the server of CFG over the table MAPS (attached as ATT) whose
 * state file is STATE: checks that every ADDR is an address of the tunnel
 * interface (-EINVAL after one line naming --pcp), opens the sockets,
 * rebuilds the lease index from the owned mappings of the table and the
 * host's ports, reads STATE.pcp. The caller holds the pin directory's lock.
 * NULL with *RC -errno after a message. */
struct pcpd *pcpd_open(const struct pcpd_config *cfg, const struct xdpfwd_maps *maps,
		       const struct xdpfwd_config *att, const char *state, int *rc);
/* Writes STATE.pcp, closes the sockets, frees. NULL is allowed. */
void pcpd_close(struct pcpd *d);
/* The sockets to poll for POLLIN: up to PCPD_MAX_ADDRS into FDS. */
size_t pcpd_fds(const struct pcpd *d, int *fds);
/* A round: the datagrams waiting, answered after one group commit. Takes
 * and releases the lock of PD. Returns the datagrams read. */
struct pindir;
size_t pcpd_round(struct pcpd *d, struct pindir *pd);
/* Every tick: expiry, re-sync, the state file. Takes the lock when needed. */
void pcpd_tick(struct pcpd *d, struct pindir *pd);
/* Mappings serve's general expiry removed (GONE, N): forgotten here. */
void pcpd_forget_gone(struct pcpd *d, const struct rule *gone, size_t n);
/* The counters, into M (under M->lock). */
void pcpd_publish(struct pcpd *d, struct pcpd_metrics *m);
/* Appends the pcp metrics in M to OUT (Prometheus text). */
void pcpd_metrics_render(struct pcpd_metrics *m, struct strbuf *out);
/* The clock of the server: CLOCK_BOOTTIME seconds + PCPD_CLOCK_BIAS. */
uint64_t pcpd_now(void);
/* Seconds to add to a time of the server's clock for Unix seconds, from
 * CLOCK_REALTIME and CLOCK_BOOTTIME read together (REAL_NS, BOOT_NS): their
 * difference rounded to the second, so that it stays the same from one call
 * to the next while neither clock is stepped (STATE.pcp's Unix times then
 * change only with what they record, and the file is written only then). */
int64_t pcpd_unix_offset_at(uint64_t real_ns, uint64_t boot_ns);

#endif
