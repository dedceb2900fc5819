/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fleet_cli.h - `xdpfwd fleet ACTION ...`, the admin command of the fleet
 * (issue 16): it writes and reads the keys the gateways follow (fleet.h),
 * never a gateway's maps.
 *
 *   fleet add GATEWAY PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] [FIELD=VALUE...]
 *       puts gw/GATEWAY/map/... with the line as its value; FIELDs as in a
 *       config file (allow=, rate=, new-rate=) and expires=UNIX_SECONDS or
 *       ttl=SECONDS (written as expires=now+SECONDS). The line is checked
 *       as a gateway will check it (its syntax; the host's checks are the
 *       gateway's, and a refusal shows in fleet status).
 *   fleet del GATEWAY PROTO [ADDR:]PORT[-PORT]
 *       deletes the key (a wildcard's of either family); exit 1 when there
 *       was none.
 *   fleet reserve POOL PEER_KEY [--port N] [--days D]
 *   fleet release POOL PEER_KEY
 *       a portable port of a WireGuard peer in a pool (fleet_pool.c).
 *   fleet status
 *       every gateway with keys or a status: alive (its status key is
 *       there), the revision it applied, its mappings, its keys in etcd,
 *       its rejected keys with why.
 * All with --json. Endpoints from --fleet URL[,URL...], else the
 * environment variable XDPFWD_FLEET. Exit status: 0, 1 (etcd failed or
 * nothing to delete: one line says why), 2 (bad input: one line names the
 * field and what it allows).
 */
#ifndef XDPFWD_FLEET_CLI_H
#define XDPFWD_FLEET_CLI_H

#include <stdbool.h>
#include "etcd.h"

struct fleet_cli_options {
	const char *urls, *cert, *key, *ca, *user;
	const char *port, *days; /* reserve's --port N, --days D */
	bool json;
};

/* --- portable ports (fleet_pool.c) ---------------------------------------- */
#define FLEET_POOL_DAYS	    60	 /* a reservation's default length: two months */
#define FLEET_POOL_DAYS_MAX 3650 /* --days */
#define FLEET_POOL_FIRST    1024 /* a random port is drawn from 1024-65535 */
#define FLEET_POOL_TRIES    32	 /* random draws before giving up */

struct fleet_reservation {
	char pool[64], peer[45], peer_url[44];
	unsigned int port, days; /* port 0: a random free one */
};
/* reserve's and release's words POOL PEER_KEY (ARGC of them) and O's --port
 * and --days into R. 0, or -1 and ERR naming the field and its range. */
int fleet_pool_parse(char **argv, int argc, const struct fleet_cli_options *o,
		     struct fleet_reservation *r, char *err);
/* The peer's port in the pool: the one it holds (idempotent), else R's
 * port or a random free one, made with one create-if-absent txn of its two
 * keys. The exit status (1 after a message: the port is another peer's). */
int fleet_reserve(struct etcd_conf *c, const struct fleet_reservation *r, bool json);
/* Deletes the peer's two keys, guarded by the peer key's mod_revision. */
int fleet_release(struct etcd_conf *c, const struct fleet_reservation *r, bool json);

/* ARGV: the action and its words, NULL-terminated. The exit status. */
int fleet_cli(const struct fleet_cli_options *o, char **argv);

#endif
