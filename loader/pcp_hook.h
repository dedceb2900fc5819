/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_hook.h - the --pcp-hook runner (issue 15, point 8): a provider's own
 * command, run on every grant, port change, expiry and delete of a dynamic
 * mapping, that never blocks the daemon's one thread.
 *
 * pcp_hook_post() only copies the event into a bounded FIFO (O(1), no
 * system call); a full FIFO drops the event and counts it. pcp_hook_tick(),
 * called by the daemon every loop round, reaps finished children with
 * waitpid(pid, WNOHANG) on its own pids only (no SIGCHLD handler; the daemon
 * must not set SIGCHLD to SIG_IGN, or the kernel reaps them first), kills
 * (SIGKILL to the whole process group) a child past its timeout, and starts
 * queued events while fewer than max_children run. A child is started with
 * posix_spawn(): "/bin/sh -c COMMAND", in a process group of its own,
 * stdin /dev/null, stdout and stderr the daemon's stderr (or /dev/null when
 * quiet), every other descriptor closed, signal mask and dispositions reset.
 *
 * Environment of a child: the daemon's own, plus (replacing any of the same
 * name):
 *   XDPFWD_EVENT          grant | change | expire | delete
 *   XDPFWD_PROTO          tcp | udp
 *   XDPFWD_PUBLIC_ADDR    the public address clients were told (dotted IPv4,
 *                         or IPv6 text, RFC 5952)
 *   XDPFWD_PUBLIC_PORT    decimal, 1-65535
 *   XDPFWD_INTERNAL_ADDR  the client's tunnel address (same formats)
 *   XDPFWD_INTERNAL_PORT  decimal, 1-65535 (the target port: in symmetric
 *                         internal-port-0 mode, equal to the public port)
 * Why these names: one XDPFWD_ prefix, like the daemon's own XDPFWD_SERVE_ARGS,
 * so nothing collides with the shell's variables; "public" and "internal"
 * are the words xdpfwd's CLI and docs already use for the two ends of a
 * mapping (RFC 6887 says "external" for public); one variable per field, so
 * a hook needs no parsing (gluetun's port-forwarding hooks get the ports
 * substituted into the command line instead, which breaks on quoting).
 * The client's address reaches the hook by design (the provider's own
 * notification); it is never logged by this module above debug level.
 *
 * Times are monotonic milliseconds given by the caller (tests pass their
 * own). Not thread-safe; no global state.
 */
#ifndef XDPFWD_PCP_HOOK_H
#define XDPFWD_PCP_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pcp_wire.h"

#define PCP_HOOK_MAX_CHILDREN 4	    /* default: children running at once */
#define PCP_HOOK_QUEUE_LEN    4096  /* default: events waiting to run */
#define PCP_HOOK_TIMEOUT_MS   10000 /* default: a child's time before SIGKILL */

enum pcp_hook_kind {
	PCP_HOOK_GRANT,	 /* a new mapping */
	PCP_HOOK_CHANGE, /* a mapping's public port changed */
	PCP_HOOK_EXPIRE, /* its lease ended without renewal */
	PCP_HOOK_DELETE, /* the client (lifetime 0), the operator or a removed peer */
};

/* One event; every field in host order. */
struct pcp_hook_event {
	enum pcp_hook_kind kind;
	uint8_t protocol; /* 6 TCP, 17 UDP */
	struct pcp_addr public_addr;
	uint16_t public_port;
	struct pcp_addr internal_addr; /* the client */
	uint16_t internal_port;
};

struct pcp_hook_config {
	const char *command;   /* given to /bin/sh -c; copied; non-empty */
	uint32_t max_children; /* 1-64; 0: PCP_HOOK_MAX_CHILDREN */
	uint32_t queue_len;    /* 1-1048576; 0: PCP_HOOK_QUEUE_LEN */
	uint32_t timeout_ms;   /* 1-3600000; 0: PCP_HOOK_TIMEOUT_MS */
	bool quiet;	       /* children's output to /dev/null */
	const char *shell;     /* NULL: "/bin/sh" (tests may point elsewhere) */
};

/* Counters for /metrics: never an address or a port. */
struct pcp_hook_stats {
	uint64_t queued;       /* events accepted by pcp_hook_post() */
	uint64_t run;	       /* children started */
	uint64_t ok;	       /* exited 0 */
	uint64_t failed;       /* exited non-zero, or killed by a signal we did not send */
	uint64_t killed;       /* killed by us at their timeout */
	uint64_t dropped;      /* events refused: the queue was full */
	uint64_t spawn_failed; /* posix_spawn() failed (counted in failed too) */
};

struct pcp_hook;

/* A runner for CFG, or NULL: -EINVAL with *ERR a one-line message naming
 * the field and its range (bad config), or -ENOMEM; the code in *RC. Spawns
 * nothing yet. */
struct pcp_hook *pcp_hook_new(const struct pcp_hook_config *cfg, const char **err, int *rc);
/* Kills (SIGKILL, process group) and reaps every running child, drops the
 * queue, frees. NULL is allowed. Blocks only for the reaping of children
 * already killed. */
void pcp_hook_free(struct pcp_hook *h);

/* Queues EV: 0, or -ENOBUFS when the queue is full (the event is dropped
 * and counted). Never spawns, never blocks. */
int pcp_hook_post(struct pcp_hook *h, const struct pcp_hook_event *ev);

/* Reaps, kills children past their timeout, starts queued events (at most
 * max_children running). NOW_MS: monotonic milliseconds. Returns the
 * milliseconds after which it wants to run again (a child is running or an
 * event waits: at most 100), or -1 when idle. Never blocks. */
int pcp_hook_tick(struct pcp_hook *h, uint64_t now_ms);

/* Events queued and children running, for tests and shutdown. */
size_t pcp_hook_queued(const struct pcp_hook *h);
size_t pcp_hook_running(const struct pcp_hook *h);
void pcp_hook_get_stats(const struct pcp_hook *h, struct pcp_hook_stats *s);

/* "grant", "change", "expire", "delete" */
const char *pcp_hook_kind_name(enum pcp_hook_kind kind);

#endif
