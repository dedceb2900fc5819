/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fleet.h - the fleet's keys in etcd (issue 16) and what they hold: pure
 * parsing and formatting, shared by the daemon (fleetd.c, serve --fleet)
 * and the admin command (fleet_cli.c, xdpfwd fleet).
 *
 * Every key lives under FLEET_ROOT = "/xdpfwd/v1/":
 *
 *   gw/GW/map/PROTO/ADDR/PORTS   a mapping of gateway GW. PROTO tcp, udp or
 *       both; ADDR the public address ("any" for the IPv4 wildcard, "any6"
 *       for the IPv6 one, else 203.0.113.10 or 2001:db8::1); PORTS "40000"
 *       or "40000-40009". The value is one config-file line, the same words
 *       as `load` ("udp 27015 10.8.0.2:27015 rate=1000"), whose protocol and
 *       public side are the key's; a lease is expires=UNIX_SECONDS (absolute,
 *       so that a re-list renews nothing), never ttl=.
 *   gw/GW/settings               per-gateway settings (reserved: the pools a
 *       public address serves, the tunnel interface); the daemon reads no
 *       other key under gw/GW/ than map/.
 *   pool/POOL/port/N, pool/POOL/peer/KEY   portable ports (reserved for
 *       fleet reserve/release; KEY a WireGuard public key in base64url).
 *   status/GW                    the gateway's report, on an etcd lease of
 *       its own (it disappears FLEET_STATUS_TTL seconds after the gateway
 *       stopped): JSON {"gateway":GW,"revision":R,"mappings":N,
 *       "rejected":[{"key":K,"reason":TEXT}...],"rejected_count":N,
 *       "time":UNIX_SECONDS}.
 *
 * GW and POOL are 1-63 of [A-Za-z0-9._-], not starting with '.'.
 */
#ifndef XDPFWD_FLEET_H
#define XDPFWD_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include "spec.h"
#include "strbuf.h"

#define FLEET_ROOT	 "/xdpfwd/v1/"
#define FLEET_NAME_MAX	 63
#define FLEET_STATUS_TTL 10 /* seconds the status key outlives its gateway */
/* The most rejected keys a status names (it counts them all). */
#define FLEET_REJECT_SHOWN 100

/* Whether NAME is a gateway or pool name (above). 0, or -1 and ERR naming
 * WHAT and the form allowed. */
int fleet_name_check(const char *name, const char *what, char *err);
/* "/xdpfwd/v1/gw/GW/map/" into OUT: the prefix the gateway watches. */
void fleet_map_prefix(struct strbuf *out, const char *gw);
void fleet_status_key(struct strbuf *out, const char *gw);
/* The key of the mapping R (the first of a "both" pair with BOTH) of GW. */
void fleet_map_key(struct strbuf *out, const char *gw, const struct rule *r, bool both);

/* The value of the key KEY, VALUE (NUL-terminated), into OUT (room for
 * two): the rules it makes (2 for both), or 0 for a lease that ended at or
 * before NOW_UNIX (nothing to forward), or -1 and ERR (one line naming the
 * field and the range allowed). The key must be the one fleet_map_key()
 * gives for the line (protocol and public side agree). A lease becomes
 * ttl = its seconds left (at most TTL_MAX_S) with expires_ns on
 * CLOCK_BOOTTIME at BOOT_NS + those seconds. */
int fleet_parse_value(const char *gw, const char *key, const char *value, uint64_t now_unix,
		      uint64_t boot_ns, struct rule out[2], char *err);
/* The public sides a mapping key KEY names (1 or 2: both), into OUT, for a
 * delete whose value is gone; 0 when KEY is not a mapping key of GW. */
int fleet_key_public(const char *gw, const char *key, struct xdpfwd_mapping out[2]);

/* The words of `fleet add GW PROTO PUBLIC TARGET [FIELD=VALUE...]` (ARGC of
 * them from ARGV[0] = PROTO) as a value line: ttl=S becomes
 * expires=NOW_UNIX+S. The line into LINE, its key into KEY. 0, or -1 and
 * ERR. */
int fleet_add_line(const char *gw, char **argv, int argc, uint64_t now_unix, struct strbuf *line,
		   struct strbuf *key, char *err);

/* A gateway's status, as written to and read from status/GW. */
struct fleet_reject {
	char *key, *reason;
};
struct fleet_status {
	char gateway[FLEET_NAME_MAX + 1];
	int64_t revision;
	uint64_t mappings, rejected_count, time;
	struct fleet_reject *rejected;
	size_t nrejected;
};
void fleet_status_format(struct strbuf *out, const struct fleet_status *s);
/* TEXT into S (S->rejected malloc'd). 0, or -1 and ERR. */
int fleet_status_parse(const char *text, struct fleet_status *s, char *err);
void fleet_status_free(struct fleet_status *s);

#endif
