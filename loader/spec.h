/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * spec.h - mappings as the operator writes them: parsing and validation.
 *
 * Everything here is pure (no maps, no syscalls) so that the CLI, the config
 * file, the unit tests and the fuzzers share one implementation. Functions
 * that can fail write one line, without a trailing newline, into err and
 * return -1; the caller adds where the input came from.
 */
#ifndef XDPFWD_SPEC_H
#define XDPFWD_SPEC_H

#include <stdbool.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include "strbuf.h"
#include "xdpfwd.h"

/* An error message's buffer: the longest message (a port in the ephemeral
 * range, with the file and line before it) is about 330 bytes. */
#define ERR_LEN	     1024
#define ADDR_STR_LEN 64 /* "[" IPv6 "]:" port "-" port, with room */

/* A mapping plus where it was written: a file line, or line 0 for the command
 * line; EXISTING marks one read back from the live table. */
struct rule {
	struct xdpfwd_mapping m;
	struct xdpfwd_prefix allow[XDPFWD_MAX_ALLOW]; /* m.allow_count of them, sorted */
	struct xdpfwd_owner owner;		      /* kind 0 (operator): no xdpfwd_owner entry */
	unsigned int line;
	bool existing;
	__u32 slot; /* of an existing rule */
};

/* Largest values the policy options take. */
#define RATE_MAX_PPS   100000000
#define RATE_MAX_BURST 100000000
#define TTL_MAX_S      31536000 /* a year */

/* The public interface's addresses: wildcard mappings take their outgoing
 * source from the first of each family, and no target may be any of them. */
struct local_addrs {
	size_t count;
	struct {
		__u8 family;
		union xdpfwd_addr addr;
	} entry[64];
};

int parse_port_range(const char *s, __u16 *first, __u16 *count, char *err);
int parse_public(const char *s, struct xdpfwd_mapping *m, char *err);
int parse_target(const char *s, struct xdpfwd_mapping *m, char *err);
/* PROTO PUBLIC TARGET -> one rule, or two for "both". Returns how many. */
int parse_rule(const char *proto, const char *pub, const char *target, struct rule out[2],
	       char *err);
/* "127.0.0.1:9977" or "[::1]:9977" for a listening socket. */
int parse_listen(const char *s, struct sockaddr_storage *ss, char *err);
/* "198.51.100.0/24", "2001:db8::/32", or an address alone for one host. */
int parse_prefix(const char *s, const char *what, struct xdpfwd_prefix *p, char *err);
/* One policy option of a rule: allow=CIDR, rate=PPS[:BURST], new-rate=..., ttl=SECONDS,
 * from the command line (--allow ...) or a config file's KEY=VALUE fields. */
int parse_policy(struct rule *r, const char *key, const char *value, char *err);
bool prefix_contains(const struct xdpfwd_prefix *p, __u8 family, const union xdpfwd_addr *addr);
/* qsort order of prefixes: family, address, length. */
int compare_prefixes(const void *a, const void *b);
void format_prefix(char *buf, size_t len, const struct xdpfwd_prefix *p);
/* The token bucket a rate becomes in the data path (tat left at zero). */
void rate_bucket(const struct xdpfwd_rate *r, struct xdpfwd_bucket *b);
/* XDPFWD_POLICY_* bits of a mapping's forward entries. */
__u16 policy_bits(const struct xdpfwd_mapping *m);
/* Appends "allow=198.51.100.0/24,... rate=1000:1000 new-rate=10:10 ttl=60",
 * or nothing for a mapping without policy, to OUT. */
void format_policy(struct strbuf *out, const struct rule *r);

/* owner=natpmp:KEYPORT or owner=pcp:KEYPORT:NONCE (the value only), the
 * state file's record of a dynamic mapping's lease (struct xdpfwd_owner):
 * KEYPORT 0-65535 in decimal, NONCE the PCP MAP nonce (RFC 6887 section
 * 11.1) as 24 lowercase hex digits. 0, or -1 and ERR naming the part. */
int parse_owner(const char *value, struct xdpfwd_owner *o, char *err);
/* Appends O as parse_owner() reads it ("pcp:4000:00112233..."; without
 * NONCE, never the nonce: "pcp:4000"), or nothing for kind 0. */
void format_owner(struct strbuf *out, const struct xdpfwd_owner *o, bool nonce);

/* A whole config file's text. On success *rules (malloc'd) holds them. */
int parse_config(const char *text, struct rule **rules, size_t *count, char *err);
/* The same, and with WITH_EXPIRY an expires=NS field (a lease's end in Unix
 * time) and an owner= field (parse_owner()), which only the state file
 * writes. */
int parse_rules(const char *text, bool with_expiry, struct rule **rules, size_t *count, char *err);
/* One line of a config file (LEN bytes of TEXT, no newline among them;
 * LINE its number, for messages) as parse_config() reads it: the number of
 * rules it makes (2 for "both", 0 for a blank or comment line) into OUT, or
 * -1 and ERR as parse_config() says it. */
int parse_rule_line(const char *text, size_t len, unsigned int line, struct rule out[2], char *err);
/* Appends RULE as a config-file line, without a newline, to OUT:
 * "tcp 203.0.113.10:40000 10.8.0.2:40000 rate=...". */
void format_rule_line(struct strbuf *out, const struct rule *r);

/* Fills each wildcard rule's source address and checks the table as a whole:
 * targets, overlaps of public ranges and of target ranges, capacity. */
int validate_table(struct rule *rules, size_t count, const struct local_addrs *local, char *err);

/* The address wildcard rule R answers from (m.source_addr): the public
 * interface's one global address of its family (LOCAL); a rule read back
 * from the table (existing) keeps its own. 0, or -1 and ERR saying why
 * (none, or more than one). */
int wildcard_source(struct rule *r, const struct local_addrs *local, char *err);

/* What `add` checks a new mapping's addresses against: the public
 * interface's (PUBLIC; NULL when they cannot be read: nothing is checked),
 * the tunnel's (TUNNEL, or NULL) and attach --clients (NCLIENTS of them). */
struct host_addrs {
	const struct local_addrs *public, *tunnel;
	const struct xdpfwd_prefix *clients;
	__u32 nclients;
};

/* R's target must not be an address of the tunnel nor the network or
 * broadcast address of a client network (never a client); a public address
 * must be one of the public interface's (a wildcard always passes; PUBLIC
 * NULL skips this, as `add --force` does). 0, or -1 and ERR naming the
 * field. */
int check_host_addrs(const struct rule *r, const struct host_addrs *h, char *err);

/* The table's order: family, protocol, public address, public port; the
 * second for qsort and bsearch over rules. */
int compare_mappings(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b);
int compare_rules_public(const void *a, const void *b);
bool same_public(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b);
bool same_mapping(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b);
/* Same public side and same target: the operator's idea of "the same mapping". */
bool same_target(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b);
/* Same mapping with the same policy and allowlist: nothing to write. */
bool same_rule(const struct rule *a, const struct rule *b);

/* "tcp", "udp"; "?" for another protocol. */
const char *proto_name(__u8 proto);
/* "IPv4", "IPv6" (AF_INET, AF_INET6), as messages name a family; "?" for
 * another. */
const char *family_name(__u8 family);
/* "ipv4", "ipv6": the family as a JSON value or a metrics label; "?" for
 * another. */
const char *family_label(__u8 family);
/* Whether A is all zero: the wildcard public address, or no address. */
bool addr_is_zero(const union xdpfwd_addr *a);
/* "203.0.113.10", "2001:db8::1"; "" for an all-zero address. */
void format_addr(char *buf, size_t len, __u8 family, const union xdpfwd_addr *addr);
/* "203.0.113.10:40000-40009", "[2001:db8::1]:443", "40000" for the wildcard. */
void format_endpoint(char *buf, size_t len, __u8 family, const union xdpfwd_addr *addr, __u16 port,
		     __u16 count);
/* "udp 27015 (any IPv6)", "tcp 203.0.113.10:40000": the public side alone,
 * for messages that must not name a client. */
void format_public_side(char *buf, size_t len, const struct xdpfwd_mapping *m);
/* "tcp 40000 -> 10.8.0.2:40000" */
void format_mapping(char *buf, size_t len, const struct xdpfwd_mapping *m);

#endif
