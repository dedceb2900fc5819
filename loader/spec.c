// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * spec.c - parse and validate mappings. Grammar (the README has the prose):
 *   PROTO  := tcp | udp | both
 *   PUBLIC := [ADDR:]PORT[-PORT]          ADDR: IPv4, or IPv6 as [ADDR]
 *   TARGET := ADDR[:PORT[-PORT]]          bare IPv6 allowed without a port
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "spec.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

bool addr_is_zero(const union xdpfwd_addr *a)
{
	static const union xdpfwd_addr zero;

	return memcmp(a, &zero, sizeof(zero)) == 0;
}

static int parse_port(const char *s, size_t len, const char *what, __u16 *port, char *err)
{
	unsigned long v = 0;

	if (len == 0)
		fail("%s is empty: allowed 1-65535", what);
	if (s[0] == '-')
		fail("%s '%.*s' is negative: allowed 1-65535", what, (int)len, s);
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			fail("%s '%.*s' is not a number: allowed 1-65535", what, (int)len, s);
		if (v <= 65535)
			v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		fail("%s '%.*s' is out of range: allowed 1-65535", what, (int)len, s);
	if (s[0] == '0')
		fail("%s '%.*s' has a leading zero: allowed 1-65535, written without one", what,
		     (int)len, s);
	*port = v;
	return 0;
}

static int parse_ports(const char *s, const char *what, __u16 *first, __u16 *count, char *err)
{
	const char *dash = strchr(s, '-');
	__u16 last;

	if (!dash || dash == s) {
		*count = 1;
		return parse_port(s, strlen(s), what, first, err);
	}
	if (parse_port(s, dash - s, what, first, err) ||
	    parse_port(dash + 1, strlen(dash + 1), what, &last, err))
		return -1;
	if (last < *first)
		fail("%s range '%s' is reversed: write the lower port first", what, s);
	*count = last - *first + 1;
	return 0;
}

int parse_port_range(const char *s, __u16 *first, __u16 *count, char *err)
{
	return parse_ports(s, "port", first, count, err);
}

static int parse_addr(const char *s, size_t len, const char *what, bool want_v6, __u8 *family,
		      union xdpfwd_addr *addr, char *err)
{
	char buf[INET6_ADDRSTRLEN];

	memset(addr, 0, sizeof(*addr));
	if (len == 0 || len >= sizeof(buf))
		fail("%s '%.*s' is not an IPv4 or IPv6 address", what, (int)len, s);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!want_v6 && inet_pton(AF_INET, buf, &addr->v4) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr->bytes) == 1) {
		*family = AF_INET6;
		return 0;
	}
	if (want_v6)
		fail("%s '%s' is not an IPv6 address", what, buf);
	fail("%s '%s' is not an IPv4 address or a bracketed IPv6 address like [2001:db8::1]", what,
	     buf);
}

/* Splits "[v6]:rest", "v4:rest", "[v6]", "v4", or a bare "v6" (only where a
 * port may be left out). *rest is NULL when there is no port part. */
static int split_addr(const char *s, const char *what, bool bare_v6_ok, __u8 *family,
		      union xdpfwd_addr *addr, const char **rest, char *err)
{
	const char *colon;

	*rest = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			fail("%s '%s' has no closing ']'", what, s);
		if (parse_addr(s + 1, close - s - 1, what, true, family, addr, err))
			return -1;
		if (close[1] == ':')
			*rest = close + 2;
		else if (close[1] != '\0')
			fail("%s '%s': expected ':PORT' after ']'", what, s);
		return 0;
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':')) {
		if (bare_v6_ok)
			return parse_addr(s, strlen(s), what, true, family, addr, err);
		fail("%s '%s': write an IPv6 address in brackets, like [2001:db8::1]:443", what, s);
	}
	if (colon)
		*rest = colon + 1;
	return parse_addr(s, colon ? (size_t)(colon - s) : strlen(s), what, false, family, addr,
			  err);
}

int parse_public(const char *s, struct xdpfwd_mapping *m, char *err)
{
	const char *ports = s, *rest = NULL;

	memset(&m->public_addr, 0, sizeof(m->public_addr));
	m->family = 0;
	if (strchr(s, ':') || s[0] == '[') {
		if (split_addr(s, "public address", false, &m->family, &m->public_addr, &rest, err))
			return -1;
		if (!rest)
			fail("public endpoint '%s' has no port: write ADDR:PORT", s);
		ports = rest;
		if (addr_is_zero(&m->public_addr))
			fail(
			    "public address in '%s' is unspecified: leave the address out to mean every address",
			    s);
	}
	return parse_ports(ports, "public port", &m->public_port, &m->port_count, err);
}

static const char *unusable_target(__u8 family, const union xdpfwd_addr *a)
{
	if (addr_is_zero(a))
		return "unspecified";
	if (family == AF_INET) {
		__u8 first = a->bytes[0];

		if (first == 127)
			return "loopback";
		if (first >= 224)
			return first < 240 ? "multicast" : "reserved or broadcast";
		return NULL;
	}
	if (IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a->bytes))
		return "loopback";
	if (a->bytes[0] == 0xff)
		return "multicast";
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a->bytes))
		return "IPv4-mapped";
	return NULL;
}

int parse_target(const char *s, struct xdpfwd_mapping *m, char *err)
{
	const char *ports, *why;
	__u8 family;
	__u16 count;

	if (split_addr(s, "target address", true, &family, &m->target_addr, &ports, err))
		return -1;
	why = unusable_target(family, &m->target_addr);
	if (why)
		fail("target address in '%s' is %s: the target must be a client's unicast address",
		     s, why);
	if (m->family && m->family != family)
		fail("target '%s' is %s but the public address is %s: both must be the same family",
		     s, family_name(family), family_name(m->family));
	m->family = family;
	if (!ports) {
		m->target_port = m->public_port;
		return 0;
	}
	if (parse_ports(ports, "target port", &m->target_port, &count, err))
		return -1;
	if (count == 1 && m->port_count > 1) {
		/* One port names where the target range starts. */
		if (m->target_port + m->port_count - 1 > 65535)
			fail("target ports from %u for %u ports run past 65535", m->target_port,
			     m->port_count);
	} else if (count != m->port_count) {
		fail(
		    "target range '%s' has %u ports but the public range has %u: a range maps onto a range of the same length",
		    ports, count, m->port_count);
	}
	return 0;
}

static int parse_number(const char *s, size_t len, const char *what, unsigned long min,
			unsigned long max, unsigned long *out, char *err)
{
	unsigned long v = 0;

	if (len == 0)
		fail("%s is empty: allowed %lu-%lu", what, min, max);
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			fail("%s '%.*s' is not a number: allowed %lu-%lu", what, (int)len, s, min,
			     max);
		if (v <= max)
			v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		fail("%s '%.*s' is out of range: allowed %lu-%lu", what, (int)len, s, min, max);
	if (len > 1 && s[0] == '0')
		fail("%s '%.*s' has a leading zero: allowed %lu-%lu, written without one", what,
		     (int)len, s, min, max);
	*out = v;
	return 0;
}

static unsigned int family_bits(__u8 family)
{
	return family == AF_INET ? 32 : 128;
}

int parse_prefix(const char *s, const char *what, struct xdpfwd_prefix *p, char *err)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;

	memset(p, 0, sizeof(*p));
	if (parse_addr(s, alen, what, false, &p->family, &p->addr, err))
		return -1;
	len = family_bits(p->family);
	if (slash) {
		char whose[ERR_LEN / 2];

		snprintf(whose, sizeof(whose), "%s '%.64s': length", what, s);
		if (parse_number(slash + 1, strlen(slash + 1), whose, 0, len, &len, err))
			return -1;
	}
	p->len = len;
	for (unsigned int bit = len; bit < family_bits(p->family); bit++) {
		if (p->addr.bytes[bit / 8] & (0x80 >> (bit % 8))) {
			struct xdpfwd_prefix net = *p;
			char buf[ADDR_STR_LEN];

			for (unsigned int b = len; b < family_bits(p->family); b++)
				net.addr.bytes[b / 8] &= ~(0x80 >> (b % 8));
			format_prefix(buf, sizeof(buf), &net);
			fail("%s '%s' has address bits set past /%u: write the network, %s", what,
			     s, p->len, buf);
		}
	}
	return 0;
}

bool prefix_contains(const struct xdpfwd_prefix *p, __u8 family, const union xdpfwd_addr *addr)
{
	unsigned int full = p->len / 8, rest = p->len % 8;

	if (p->family != family || memcmp(p->addr.bytes, addr->bytes, full))
		return false;
	return !rest || !((p->addr.bytes[full] ^ addr->bytes[full]) & (0xff00 >> rest));
}

void format_prefix(char *buf, size_t len, const struct xdpfwd_prefix *p)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr.bytes, a, sizeof(a)))
		a[0] = '\0';
	snprintf(buf, len, "%s/%u", a, p->len);
}

int compare_prefixes(const void *pa, const void *pb)
{
	const struct xdpfwd_prefix *a = pa, *b = pb;
	int c = memcmp(a->addr.bytes, b->addr.bytes, sizeof(a->addr));

	if (a->family != b->family)
		return a->family - b->family;
	return c ? c : a->len - b->len;
}

static int parse_rate(const char *s, const char *what, struct xdpfwd_rate *r, char *err)
{
	const char *colon = strchr(s, ':');
	unsigned long pps, burst;

	if (parse_number(s, colon ? (size_t)(colon - s) : strlen(s), what, 1, RATE_MAX_PPS, &pps,
			 err))
		return -1;
	burst = pps; /* one second's worth */
	if (colon &&
	    parse_number(colon + 1, strlen(colon + 1), "burst", 1, RATE_MAX_BURST, &burst, err))
		return -1;
	r->pps = pps;
	r->burst = burst;
	return 0;
}

int parse_policy(struct rule *r, const char *key, const char *value, char *err)
{
	struct xdpfwd_mapping *m = &r->m;

	if (!strcmp(key, "allow")) {
		struct xdpfwd_prefix p;

		if (parse_prefix(value, "allow prefix", &p, err))
			return -1;
		if (m->family && p.family != m->family)
			fail("allow prefix '%s' is %s but the mapping is %s", value,
			     family_name(p.family), family_name(m->family));
		for (__u32 i = 0; i < m->allow_count; i++)
			if (!compare_prefixes(&r->allow[i], &p))
				fail("allow prefix '%s' is given twice", value);
		if (m->allow_count == XDPFWD_MAX_ALLOW)
			fail("allow prefix '%s': at most %d prefixes per mapping", value,
			     XDPFWD_MAX_ALLOW);
		r->allow[m->allow_count++] = p;
		qsort(r->allow, m->allow_count, sizeof(p), compare_prefixes);
		return 0;
	}
	if (!strcmp(key, "rate") || !strcmp(key, "new-rate")) {
		struct xdpfwd_rate *rate = key[0] == 'r' ? &m->rate : &m->new_rate;

		if (rate->pps)
			fail("%s is given twice", key);
		return parse_rate(value, key, rate, err);
	}
	if (!strcmp(key, "ttl")) {
		unsigned long ttl;

		if (m->ttl)
			fail("ttl is given twice");
		if (parse_number(value, strlen(value), "ttl", 1, TTL_MAX_S, &ttl, err))
			return -1;
		m->ttl = ttl;
		return 0;
	}
	if (!strcmp(key, "owner"))
		fail("owner= is written by serve's NAT-PMP/PCP server, not by hand: a mapping "
		     "given here is the operator's");
	fail("option '%s' is unknown: allowed allow, rate, new-rate, ttl", key);
}

/* The NONCE of owner=pcp:KEYPORT:NONCE, 24 lowercase hex digits, into OUT. */
static int parse_nonce(const char *s, __u8 out[12], char *err)
{
	static const char hex[] = "0123456789abcdef";

	if (strlen(s) != 24 || s[strspn(s, hex)])
		fail("owner nonce '%s' is not 24 lowercase hex digits (the PCP MAP nonce, 12 "
		     "bytes)",
		     s);
	for (int i = 0; i < 12; i++)
		out[i] = (strchr(hex, s[2 * i]) - hex) << 4 | (strchr(hex, s[2 * i + 1]) - hex);
	return 0;
}

int parse_owner(const char *value, struct xdpfwd_owner *o, char *err)
{
	const char *colon = strchr(value, ':'), *port;
	unsigned long key_port;
	size_t kind_len = colon ? (size_t)(colon - value) : strlen(value);
	char *nonce;

	memset(o, 0, sizeof(*o));
	if (kind_len == 6 && !strncmp(value, "natpmp", 6))
		o->kind = XDPFWD_OWNER_NATPMP;
	else if (kind_len == 3 && !strncmp(value, "pcp", 3))
		o->kind = XDPFWD_OWNER_PCP;
	else
		fail("owner '%s' is unknown: allowed natpmp:KEYPORT, pcp:KEYPORT:NONCE", value);
	if (!colon)
		fail("owner '%s' has no key port: allowed natpmp:KEYPORT, pcp:KEYPORT:NONCE "
		     "(KEYPORT 0-65535)",
		     value);
	port = colon + 1;
	nonce = strchr(port, ':');
	if (parse_number(port, nonce ? (size_t)(nonce - port) : strlen(port), "owner key port", 0,
			 65535, &key_port, err))
		return -1;
	o->key_port = key_port;
	if (o->kind == XDPFWD_OWNER_NATPMP && nonce)
		fail("owner '%s': a NAT-PMP lease has no nonce: allowed natpmp:KEYPORT", value);
	if (o->kind == XDPFWD_OWNER_PCP && !nonce)
		fail("owner '%s' has no nonce: allowed pcp:KEYPORT:NONCE (NONCE 24 lowercase hex "
		     "digits)",
		     value);
	return nonce ? parse_nonce(nonce + 1, o->nonce, err) : 0;
}

void format_owner(struct strbuf *out, const struct xdpfwd_owner *o, bool nonce)
{
	if (!o->kind)
		return;
	strbuf_appendf(out, "%s:%u", o->kind == XDPFWD_OWNER_PCP ? "pcp" : "natpmp", o->key_port);
	for (int i = 0; nonce && o->kind == XDPFWD_OWNER_PCP && i < 12; i++)
		strbuf_appendf(out, "%s%02x", i ? "" : ":", o->nonce[i]);
}

void rate_bucket(const struct xdpfwd_rate *r, struct xdpfwd_bucket *b)
{
	memset(b, 0, sizeof(*b));
	if (!r->pps)
		return;
	b->interval_ns = (1000000000ULL + r->pps / 2) / r->pps;
	b->limit_ns = b->interval_ns * r->burst;
}

__u16 policy_bits(const struct xdpfwd_mapping *m)
{
	return (m->allow_count ? XDPFWD_POLICY_ALLOW : 0) | (m->rate.pps ? XDPFWD_POLICY_RATE : 0) |
	       (m->new_rate.pps ? XDPFWD_POLICY_NEW_RATE : 0) |
	       (m->expires_ns ? XDPFWD_POLICY_EXPIRES : 0);
}

void format_policy(struct strbuf *out, const struct rule *r)
{
	const struct xdpfwd_mapping *m = &r->m;
	size_t start = out->len;

	for (__u32 i = 0; i < m->allow_count; i++) {
		char p[ADDR_STR_LEN];

		format_prefix(p, sizeof(p), &r->allow[i]);
		strbuf_appendf(out, "%s%s", i ? "," : "allow=", p);
	}
	if (m->rate.pps)
		strbuf_appendf(out, "%srate=%u:%u", out->len > start ? " " : "", m->rate.pps,
			       m->rate.burst);
	if (m->new_rate.pps)
		strbuf_appendf(out, "%snew-rate=%u:%u", out->len > start ? " " : "",
			       m->new_rate.pps, m->new_rate.burst);
	if (m->ttl)
		strbuf_appendf(out, "%sttl=%u", out->len > start ? " " : "", m->ttl);
}

int parse_rule(const char *proto, const char *pub, const char *target, struct rule out[2],
	       char *err)
{
	struct rule r = {0};
	int n = 0;

	if (parse_public(pub, &r.m, err) || parse_target(target, &r.m, err))
		return -1;
	out[0] = r;
	out[1] = r;
	if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
		out[0].m.proto = proto[0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
		n = 1;
	} else if (!strcmp(proto, "both")) {
		out[0].m.proto = IPPROTO_TCP;
		out[1].m.proto = IPPROTO_UDP;
		n = 2;
	} else {
		fail("protocol '%s' is unknown: allowed tcp, udp, both", proto);
	}
	return n;
}

/* PROTO PUBLIC TARGET, then KEY=VALUE fields: all allow prefixes and a few more. */
#define MAX_FIELDS (3 + XDPFWD_MAX_ALLOW + 4)

int parse_config(const char *text, struct rule **rules, size_t *count, char *err)
{
	return parse_rules(text, false, rules, count, err);
}

/* The line at *P (up to its '\n') into BUF without its comment, and *P
 * past it. 0, or -1 (ERR says why) for a line that does not fit BUF. */
static int next_line(const char **p, char *buf, size_t size, unsigned int line, char *err)
{
	const char *eol = strchr(*p, '\n');
	size_t len = eol ? (size_t)(eol - *p) : strlen(*p);
	char *hash;

	if (len >= size)
		fail("line %u: longer than %zu characters", line, size - 1);
	memcpy(buf, *p, len);
	buf[len] = '\0';
	*p += len + (eol ? 1 : 0);
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	return 0;
}

/* BUF's blank-separated fields into TOK (MAX_FIELDS + 1 of them): their
 * count, 0 for a blank line, or -1 (ERR says why) for too few or too many. */
static int split_fields(char *buf, char **tok, unsigned int line, char *err)
{
	char *save = NULL;
	int ntok = 0;

	for (char *t = strtok_r(buf, " \t\r", &save); t && ntok <= MAX_FIELDS;
	     t = strtok_r(NULL, " \t\r", &save))
		tok[ntok++] = t;
	if (ntok && (ntok < 3 || ntok > MAX_FIELDS))
		fail(
		    "line %u: expected 'PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] [KEY=VALUE]...', found %s fields",
		    line,
		    ntok > MAX_FIELDS ? "too many"
		    : ntok == 2	      ? "2"
				      : "1");
	return ntok;
}

/* Room in *OUT (CAP rules, N used) for the two rules of one line: 0, or -1. */
static int reserve_rules(struct rule **out, size_t *cap, size_t n, unsigned int line, char *err)
{
	struct rule *grown;

	if (n + 2 <= *cap)
		return 0;
	grown = realloc(*out, *cap * 2 * sizeof(**out));
	if (!grown)
		fail("line %u: out of memory", line);
	*cap *= 2;
	*out = grown;
	return 0;
}

/* expires=NS (state files only): the lease's end, in CLOCK_BOOTTIME
 * nanoseconds, into the GOT rules of the line. */
static int parse_expiry(struct rule *r, int got, const char *value, unsigned int line, char *err)
{
	unsigned long long at;
	char *end;

	errno = 0;
	at = strtoull(value, &end, 10);
	if (errno || *end || end == value || !at)
		fail("line %u: expires '%s' is not a time", line, value);
	for (int i = 0; i < got; i++)
		r[i].m.expires_ns = at;
	return 0;
}

/* owner=KIND:KEYPORT[:NONCE] (state files only): the NAT-PMP/PCP lease the
 * mapping is, into the one rule of its line. */
static int parse_owner_field(struct rule *r, int got, const char *value, unsigned int line,
			     char *err)
{
	char sub[ERR_LEN];

	if (got != 1)
		fail("line %u: owner= belongs to a mapping of one protocol (tcp or udp), not both",
		     line);
	if (r->owner.kind)
		fail("line %u: owner is given twice", line);
	if (parse_owner(value, &r->owner, sub))
		fail("line %u: %s", line, sub);
	return 0;
}

/* One KEY=VALUE field into the GOT rules of its line (allow=A,B is the same
 * as allow=A allow=B; no item may be empty). Cuts FIELD at its '='. 0, or
 * -1 and ERR. */
static int parse_field(struct rule *r, int got, char *field, bool with_expiry, unsigned int line,
		       char *err)
{
	char *eq = strchr(field, '='), *v, *comma, sub[ERR_LEN];

	if (!eq)
		fail("line %u: field '%s' is not KEY=VALUE: allowed allow=CIDR, "
		     "rate=PPS[:BURST], new-rate=PPS[:BURST], ttl=SECONDS",
		     line, field);
	*eq = '\0';
	if (with_expiry && !strcmp(field, "expires"))
		return parse_expiry(r, got, eq + 1, line, err);
	if (with_expiry && !strcmp(field, "owner"))
		return parse_owner_field(r, got, eq + 1, line, err);
	if (!eq[1])
		fail("line %u: %s= has no value", line, field);
	for (v = eq + 1; v; v = comma ? comma + 1 : NULL) {
		comma = strchr(v, ',');
		if (comma)
			*comma = '\0';
		if (!*v)
			fail("line %u: %s= has an empty item: write %s=A,B with no empty one", line,
			     field, field);
		for (int i = 0; i < got; i++)
			if (parse_policy(&r[i], field, v, sub))
				fail("line %u: %s", line, sub);
	}
	return 0;
}

/* The NTOK fields of one line into OUT (room for two): the number of rules
 * it makes (2 for "both"), or -1 and ERR. */
static int parse_line(char **tok, int ntok, bool with_expiry, struct rule *out, unsigned int line,
		      char *err)
{
	char sub[ERR_LEN];
	int got = parse_rule(tok[0], tok[1], tok[2], out, sub);

	if (got < 0)
		fail("line %u: %s", line, sub);
	for (int i = 0; i < got; i++)
		out[i].line = line;
	for (int f = 3; f < ntok; f++)
		if (parse_field(out, got, tok[f], with_expiry, line, err))
			return -1;
	return got;
}

int parse_rule_line(const char *text, size_t len, unsigned int line, struct rule out[2], char *err)
{
	char buf[1024], *tok[MAX_FIELDS + 1], *hash;
	int ntok;

	/* As parse_rules() reads it (next_line()): the comment cut, the
	 * fields split. */
	if (len >= sizeof(buf))
		fail("line %u: longer than %zu characters", line, sizeof(buf) - 1);
	memcpy(buf, text, len);
	buf[len] = '\0';
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	ntok = split_fields(buf, tok, line, err);
	if (ntok <= 0)
		return ntok;
	return parse_line(tok, ntok, false, out, line, err);
}

int parse_rules(const char *text, bool with_expiry, struct rule **rules, size_t *count, char *err)
{
	struct rule *out = NULL;
	size_t n = 0, cap = 2;
	unsigned int line = 0;
	const char *p = text;

	/* A rule a line, counted first: one array, grown only for "both"
	 * lines (a realloc copies what it grows, and the copy is fresh
	 * memory: the dearest part of a big load). */
	for (const char *q = text; (q = strchr(q, '\n')); q++)
		cap++;
	out = malloc(cap * sizeof(*out));
	if (!out)
		fail("out of memory");

	while (*p) {
		char buf[1024], *tok[MAX_FIELDS + 1];
		int ntok, got;

		if (next_line(&p, buf, sizeof(buf), ++line, err))
			goto fail;
		ntok = split_fields(buf, tok, line, err);
		if (ntok < 0)
			goto fail;
		if (ntok == 0)
			continue;
		if (reserve_rules(&out, &cap, n, line, err))
			goto fail;
		got = parse_line(tok, ntok, with_expiry, out + n, line, err);
		if (got < 0)
			goto fail;
		n += got;
	}
	*rules = out;
	*count = n;
	return 0;
fail:
	free(out);
	return -1;
}

int compare_mappings(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b)
{
	int c;

	if (a->family != b->family)
		return a->family - b->family;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	c = memcmp(&a->public_addr, &b->public_addr, sizeof(a->public_addr));
	return c ? c : a->public_port - b->public_port;
}

int compare_rules_public(const void *a, const void *b)
{
	return compare_mappings(&((const struct rule *)a)->m, &((const struct rule *)b)->m);
}

bool same_public(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b)
{
	return a->family == b->family && a->proto == b->proto && a->public_port == b->public_port &&
	       a->port_count == b->port_count &&
	       !memcmp(&a->public_addr, &b->public_addr, sizeof(a->public_addr));
}

bool same_mapping(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b)
{
	return same_public(a, b) && a->target_port == b->target_port && a->flags == b->flags &&
	       !memcmp(&a->target_addr, &b->target_addr, sizeof(a->target_addr)) &&
	       !memcmp(&a->source_addr, &b->source_addr, sizeof(a->source_addr));
}

bool same_target(const struct xdpfwd_mapping *a, const struct xdpfwd_mapping *b)
{
	return same_public(a, b) && a->target_port == b->target_port &&
	       !memcmp(&a->target_addr, &b->target_addr, sizeof(a->target_addr));
}

bool same_rule(const struct rule *a, const struct rule *b)
{
	const struct xdpfwd_mapping *x = &a->m, *y = &b->m;

	return same_mapping(x, y) && x->allow_count == y->allow_count &&
	       !memcmp(a->allow, b->allow, x->allow_count * sizeof(a->allow[0])) &&
	       !memcmp(&x->rate, &y->rate, sizeof(x->rate)) &&
	       !memcmp(&x->new_rate, &y->new_rate, sizeof(x->new_rate)) && x->ttl == y->ttl &&
	       x->expires_ns == y->expires_ns && !memcmp(&a->owner, &b->owner, sizeof(a->owner));
}

const char *proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

const char *family_name(__u8 family)
{
	return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "?";
}

const char *family_label(__u8 family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "?";
}

void format_addr(char *buf, size_t len, __u8 family, const union xdpfwd_addr *addr)
{
	if (addr_is_zero(addr) || !inet_ntop(family, addr->bytes, buf, len))
		buf[0] = '\0';
}

void format_endpoint(char *buf, size_t len, __u8 family, const union xdpfwd_addr *addr, __u16 port,
		     __u16 count)
{
	char a[INET6_ADDRSTRLEN], ports[16];
	const char *open = family == AF_INET6 ? "[" : "", *close = family == AF_INET6 ? "]" : "";

	if (count > 1)
		snprintf(ports, sizeof(ports), "%u-%u", port, port + count - 1);
	else
		snprintf(ports, sizeof(ports), "%u", port);
	format_addr(a, sizeof(a), family, addr);
	if (a[0])
		snprintf(buf, len, "%s%s%s:%s", open, a, close, ports);
	else
		snprintf(buf, len, "%s", ports);
}

void format_mapping(char *buf, size_t len, const struct xdpfwd_mapping *m)
{
	char pub[ADDR_STR_LEN], target[ADDR_STR_LEN];

	format_endpoint(pub, sizeof(pub), m->family, &m->public_addr, m->public_port,
			m->port_count);
	format_endpoint(target, sizeof(target), m->family, &m->target_addr, m->target_port,
			m->port_count);
	snprintf(buf, len, "%s %s -> %s", proto_name(m->proto), pub, target);
}

void format_public_side(char *buf, size_t len, const struct xdpfwd_mapping *m)
{
	char pub[ADDR_STR_LEN];

	format_endpoint(pub, sizeof(pub), m->family, &m->public_addr, m->public_port,
			m->port_count);
	if (addr_is_zero(&m->public_addr))
		snprintf(buf, len, "%s %s (any %s)", proto_name(m->proto), pub,
			 family_name(m->family));
	else
		snprintf(buf, len, "%s %s", proto_name(m->proto), pub);
}

void format_rule_line(struct strbuf *out, const struct rule *r)
{
	const struct xdpfwd_mapping *m = &r->m;
	char pub[ADDR_STR_LEN], target[ADDR_STR_LEN];
	bool policy = m->allow_count || m->rate.pps || m->new_rate.pps || m->ttl;

	format_endpoint(pub, sizeof(pub), m->family, &m->public_addr, m->public_port,
			m->port_count);
	format_endpoint(target, sizeof(target), m->family, &m->target_addr, m->target_port,
			m->port_count);
	strbuf_appendf(out, "%s %s %s%s", proto_name(m->proto), pub, target, policy ? " " : "");
	format_policy(out, r);
}

/* Where a rule came from, for messages. */
static void describe(char *buf, size_t len, const struct rule *r)
{
	char m[2 * ADDR_STR_LEN + 16];

	format_mapping(m, sizeof(m), &r->m);
	if (r->owner.kind)
		snprintf(buf, len,
			 "mapping %s, which a %s client's lease holds (the client may "
			 "give it up; 'xdpfwd del' ends it)",
			 m, r->owner.kind == XDPFWD_OWNER_PCP ? "PCP" : "NAT-PMP");
	else if (r->existing)
		snprintf(buf, len, "existing mapping %s", m);
	else if (r->line == 0)
		snprintf(buf, len, "%s", m);
	else
		snprintf(buf, len, "line %u: %s", r->line, m);
}

static const struct rule *sort_base;

/* Public side first, then the target side: sort_by_target picks. */
static bool sort_by_target;

static int compare_rules(const void *pa, const void *pb)
{
	const struct xdpfwd_mapping *a = &sort_base[*(const size_t *)pa].m;
	const struct xdpfwd_mapping *b = &sort_base[*(const size_t *)pb].m;
	const union xdpfwd_addr *aa = sort_by_target ? &a->target_addr : &a->source_addr;
	const union xdpfwd_addr *ba = sort_by_target ? &b->target_addr : &b->source_addr;
	int ap = sort_by_target ? a->target_port : a->public_port;
	int bp = sort_by_target ? b->target_port : b->public_port;
	int c;

	if (a->family != b->family)
		return a->family - b->family;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	c = memcmp(aa, ba, sizeof(*aa));
	if (c)
		return c;
	return ap - bp;
}

/* Finds two rules whose port ranges meet on the same address. */
static int find_overlap(const struct rule *rules, size_t count, bool by_target, char *err)
{
	size_t *order = malloc((count ? count : 1) * sizeof(*order));
	size_t widest = 0;
	int ret = 0;

	if (!order)
		fail("out of memory");
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	sort_base = rules;
	sort_by_target = by_target;
	qsort(order, count, sizeof(*order), compare_rules);

	for (size_t k = 1; k < count; k++) {
		const struct rule *prev = &rules[order[widest]], *cur = &rules[order[k]];
		const struct xdpfwd_mapping *p = &prev->m, *c = &cur->m;
		unsigned int p_first = by_target ? p->target_port : p->public_port;
		unsigned int c_first = by_target ? c->target_port : c->public_port;
		/* The public side as the forward entries key it: a wildcard
		 * by the address it answers from. */
		const union xdpfwd_addr *pa = by_target ? &p->target_addr : &p->source_addr;
		const union xdpfwd_addr *ca = by_target ? &c->target_addr : &c->source_addr;
		char a[160], b[160];

		if (p->family != c->family || p->proto != c->proto || memcmp(pa, ca, sizeof(*pa))) {
			widest = k;
			continue;
		}
		if (c_first > p_first + p->port_count - 1) {
			widest = k;
			continue;
		}
		/* Name the later line as the culprit; the live table counts as earliest. */
		if (cur->existing || (!prev->existing && prev->line > cur->line)) {
			const struct rule *t = prev;

			prev = cur;
			cur = t;
		}
		describe(a, sizeof(a), cur);
		describe(b, sizeof(b), prev);
		if (by_target)
			snprintf(
			    err, ERR_LEN,
			    "%s: its target ports meet those of %s: replies could not be told apart",
			    a, b);
		else if (addr_is_zero(&cur->m.public_addr) != addr_is_zero(&prev->m.public_addr)) {
			char on[INET6_ADDRSTRLEN];

			format_addr(on, sizeof(on), c->family, &c->source_addr);
			snprintf(err, ERR_LEN, "%s: overlaps %s, a wildcard that answers on %s", a,
				 b, on);
		} else
			snprintf(err, ERR_LEN, "%s: %s %s", a,
				 same_public(&cur->m, &prev->m) ? "duplicates" : "overlaps", b);
		ret = -1;
		break;
	}
	free(order);
	return ret;
}

static bool addr_equal(const union xdpfwd_addr *a, const union xdpfwd_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* An address a wildcard can answer from: reachable from outside the link
 * (IPv6 link-local addresses are left out when the list is read). */
static bool answers_from(__u8 family, const union xdpfwd_addr *a)
{
	if (family == AF_INET)
		return (ntohl(a->v4) >> 16) != 0xa9fe && (ntohl(a->v4) >> 24) != 127;
	return !IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a->bytes);
}

/*
 * A new wildcard mapping answers from, and is keyed by, the public
 * interface's one global address of its family: replies can leave from one
 * address only, so with two it must be told which. One read back from the
 * table (EXISTING) keeps the address it was written with.
 */
int wildcard_source(struct rule *r, const struct local_addrs *local, char *err)
{
	struct xdpfwd_mapping *m = &r->m;
	char a[160];
	const char *fam = family_name(m->family);
	union xdpfwd_addr last = {0};
	char name[ADDR_STR_LEN];
	size_t found = 0;

	if (r->existing && !addr_is_zero(&m->source_addr))
		return 0;
	for (size_t k = 0; local && k < local->count; k++) {
		if (local->entry[k].family != m->family ||
		    !answers_from(m->family, &local->entry[k].addr))
			continue;
		if (found++ == 0)
			m->source_addr = local->entry[k].addr;
		last = local->entry[k].addr;
	}
	if (found != 1)
		describe(a, sizeof(a), r);
	if (!found)
		fail(
		    "%s: the public interface has no %s address to answer from: name the public address",
		    a, fam);
	if (found > 1) {
		format_endpoint(name, sizeof(name), m->family, &last, m->public_port,
				m->port_count);
		fail(
		    "%s: the public interface has %zu %s addresses and replies leave from one only: "
		    "name it, like %s %s",
		    a, found, fam, proto_name(m->proto), name);
	}
	return 0;
}

int validate_table(struct rule *rules, size_t count, const struct local_addrs *local, char *err)
{
	size_t ports = 0;

	if (count > XDPFWD_MAX_CAPACITY)
		fail("%zu mappings: at most %d are allowed", count, XDPFWD_MAX_CAPACITY);
	for (size_t i = 0; i < count; i++) {
		struct xdpfwd_mapping *m = &rules[i].m;
		const char *why = NULL;
		char a[160];

		ports += m->port_count;
		if (addr_is_zero(&m->public_addr)) {
			if (wildcard_source(&rules[i], local, err))
				return -1;
		} else {
			m->source_addr = m->public_addr;
		}
		if (addr_equal(&m->target_addr, &m->public_addr))
			why = "the target is the public address itself";
		for (size_t k = 0; local && k < local->count && !why; k++)
			if (local->entry[k].family == m->family &&
			    addr_equal(&local->entry[k].addr, &m->target_addr))
				why = "the target is an address of the public interface";
		if (why) {
			/* Formatted only for the message: 65,536 of them cost more
			 * than the checks. */
			describe(a, sizeof(a), &rules[i]);
			fail("%s: %s", a, why);
		}
	}
	if (ports > XDPFWD_PORTS_PER_MAPPING * XDPFWD_MAX_CAPACITY)
		fail("the mappings cover %zu ports: at most %d are allowed", ports,
		     XDPFWD_PORTS_PER_MAPPING * XDPFWD_MAX_CAPACITY);
	if (find_overlap(rules, count, false, err) || find_overlap(rules, count, true, err))
		return -1;
	return 0;
}

/* Whether A, of FAMILY, is P's network address (host bits all zero: for
 * IPv6 the Subnet-Router anycast address, RFC 4291 2.6.1) or, for IPv4, its
 * broadcast address (host bits all one, RFC 919); "network", "broadcast" or
 * NULL. /31 and /32 (RFC 3021), /127 and /128 (RFC 6164) have no such. */
static const char *net_or_broadcast(const struct xdpfwd_prefix *p, __u8 family,
				    const union xdpfwd_addr *a)
{
	unsigned int bits = family_bits(family);
	bool zero = true, ones = true;

	if (!prefix_contains(p, family, a) || p->len + 1U >= bits)
		return NULL;
	for (unsigned int bit = p->len; bit < bits; bit++) {
		bool set = a->bytes[bit / 8] & (0x80 >> (bit % 8));

		zero &= !set;
		ones &= set;
	}
	return zero ? "network" : ones && family == AF_INET ? "broadcast" : NULL;
}

int check_host_addrs(const struct rule *r, const struct host_addrs *h, char *err)
{
	const struct xdpfwd_mapping *m = &r->m;
	char a[ADDR_STR_LEN], net[ADDR_STR_LEN];
	const char *why;
	bool found = false;

	format_addr(a, sizeof(a), m->family, &m->target_addr);
	for (size_t k = 0; h->tunnel && k < h->tunnel->count; k++)
		if (h->tunnel->entry[k].family == m->family &&
		    addr_equal(&h->tunnel->entry[k].addr, &m->target_addr))
			fail("target address %s is the tunnel's own address: name a client's "
			     "address",
			     a);
	for (__u32 i = 0; i < h->nclients; i++) {
		why = net_or_broadcast(&h->clients[i], m->family, &m->target_addr);
		if (!why)
			continue;
		format_prefix(net, sizeof(net), &h->clients[i]);
		fail("target address %s is the %s address of the client network %s (attach "
		     "--clients): name a client's address",
		     a, why, net);
	}
	if (!h->public || addr_is_zero(&m->public_addr))
		return 0;
	for (size_t k = 0; k < h->public->count && !found; k++)
		found = h->public->entry[k].family == m->family &&
			addr_equal(&h->public->entry[k].addr, &m->public_addr);
	format_addr(a, sizeof(a), m->family, &m->public_addr);
	if (!found)
		fail("public address %s is not an address of the public interface: name one of "
		     "its addresses, leave the address out for its own, or --force when the "
		     "address comes later",
		     a);
	return 0;
}

int parse_listen(const char *s, struct sockaddr_storage *ss, char *err)
{
	union xdpfwd_addr addr;
	const char *rest;
	__u8 family;
	__u16 port;

	if (split_addr(s, "listen address", false, &family, &addr, &rest, err))
		return -1;
	if (!rest)
		fail("listen address '%s' has no port: write ADDR:PORT, like 127.0.0.1:9977", s);
	if (parse_port(rest, strlen(rest), "listen port", &port, err))
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = addr.v4;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr.bytes, 16);
	}
	return 0;
}
