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

struct fleet_cli_options {
	const char *urls, *cert, *key, *ca, *user;
	bool json;
};

/* ARGV: the action and its words, NULL-terminated. The exit status. */
int fleet_cli(const struct fleet_cli_options *o, char **argv);

#endif
