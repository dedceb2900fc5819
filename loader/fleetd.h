/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fleetd.h - `xdpfwd serve --fleet URL[,URL...] --gateway NAME`: etcd is
 * this gateway's table (issue 16), as a config file is with --config.
 *
 * One thread (serve's main one) runs it, in serve's ppoll loop: its HTTP
 * transfers are a curl multi handle whose sockets serve polls
 * (fleetd_pollfds()), and fleetd_round() moves them on, applies what came
 * and starts what is due. The loop:
 *   - list: the keys under gw/NAME/map/ (fleet.h), a linearizable range in
 *     pages of ETCD_PAGE_LIMIT, every page at the first page's revision R;
 *     only a complete list is applied, as a diff: a key's mapping is written
 *     when the maps lack it or differ, and an operator mapping (not a
 *     NAT-PMP/PCP lease) that no key names is removed;
 *   - watch: from R+1 (Grpc-Metadata-hasleader: true); the events of each
 *     round are one apply_batch() (change.h), the last event of a key
 *     winning; an event at or below a revision already applied is skipped,
 *     so a resumed stream applies nothing twice;
 *   - a broken stream (an error, "no leader", a closed connection) is
 *     resumed from the last revision + 1 on the next endpoint after a
 *     jittered backoff, without a list; a re-list only when the watch is
 *     canceled for compaction, the cluster id changes, or the store's
 *     revision went below the one applied; each stream also ends after a
 *     random 10-20 minutes and resumes elsewhere (spreading the fleet over
 *     members that came back);
 *   - a key whose line does not parse, or that the table's checks refuse
 *     (an overlap, a conflict with the host: what `add` would refuse), is
 *     rejected alone: the rest of its batch is applied, the key is named in
 *     the status key and counted, and the log names the key only (-vv says
 *     why: the line names a client's address);
 *   - while etcd is unreachable nothing changes: only a delete event or a
 *     complete list removes a mapping; leases end on time as always (serve);
 *   - status/NAME (fleet.h) on a lease of FLEET_STATUS_TTL seconds, kept
 *     alive every third of it, written at most once a second when it changed.
 * Timers: a jittered start (0-FLEETD_START_JITTER_MS), backoff with full
 * jitter from FLEETD_BACKOFF_MIN_MS doubling to FLEETD_BACKOFF_MAX_MS.
 */
#ifndef XDPFWD_FLEETD_H
#define XDPFWD_FLEETD_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "etcd.h"
#include "strbuf.h"

#define FLEETD_START_JITTER_MS 500
#define FLEETD_BACKOFF_MIN_MS  100
#define FLEETD_BACKOFF_MAX_MS  30000
#define FLEETD_MAX_FDS	       16 /* a list or watch, a status call: a few sockets */

/* serve's options as given (NULL: not given). */
struct fleetd_options {
	const char *urls, *gateway, *cert, *key, *ca, *user;
};

struct fleetd_config {
	bool enabled;
	struct etcd_conf etcd;
	char gateway[64];
};

/* Checks O into C (the password of --fleet-user from the environment
 * variable XDPFWD_FLEET_PASSWORD). 0, or -1 and ERR naming the option and
 * what it allows. */
int fleetd_parse(const struct fleetd_options *o, struct fleetd_config *c, char *err);
void fleetd_config_free(struct fleetd_config *c);

enum fleetd_relist {
	FLEETD_RELIST_START,
	FLEETD_RELIST_COMPACTED,
	FLEETD_RELIST_CLUSTER,
	FLEETD_RELIST_BACKWARDS,
	FLEETD_RELIST_APPLY_FAILED,
	FLEETD_RELIST_REASONS
};

/* What /metrics shows. */
struct fleetd_stats {
	bool enabled, connected;
	char gateway[64];
	int64_t revision;
	uint64_t last_sync_unix, relists[FLEETD_RELIST_REASONS], rejected, events, resumes;
	uint64_t applies;
	double apply_seconds;
};
/* The stats, copied by the main thread under LOCK for the polling one. */
struct fleetd_metrics {
	pthread_mutex_t lock;
	struct fleetd_stats s;
};

struct fleetd;
struct xdpfwd_maps;
struct pindir;

/* The fleet loop of CFG (its etcd settings are moved into it) over the
 * table MAPS whose state file is STATE. NULL after a message. */
struct fleetd *fleetd_open(struct fleetd_config *cfg, const struct xdpfwd_maps *maps,
			   const char *state);
/* Revokes the status lease (its key goes at once), closes, frees. NULL is
 * allowed. */
void fleetd_close(struct fleetd *d);
/* The sockets to poll, up to MAX into PFD, and in *WAIT_NS (lowered, never
 * raised) when fleetd_round() must run at the latest. */
size_t fleetd_pollfds(struct fleetd *d, struct pollfd *pfd, size_t max, int64_t *wait_ns);
/* Moves the transfers on; applies, under the lock of PD, what came. */
void fleetd_round(struct fleetd *d, struct pindir *pd);
void fleetd_publish(struct fleetd *d, struct fleetd_metrics *m);
/* Appends the xdpfwd_fleet_* metrics in M to OUT (Prometheus text). */
void fleetd_metrics_render(struct fleetd_metrics *m, struct strbuf *out);

#endif
