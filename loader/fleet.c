// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleet.c - the fleet's keys and values (fleet.h): pure, no etcd, no maps.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "fleet.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

int fleet_name_check(const char *name, const char *what, char *err)
{
	size_t n = strlen(name);

	if (!n || n > FLEET_NAME_MAX || name[0] == '.' ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		fail("%s '%s' is not a name: allowed 1-%d of A-Z a-z 0-9 . _ -, not starting with "
		     "'.'",
		     what, name, FLEET_NAME_MAX);
	return 0;
}

void fleet_map_prefix(struct strbuf *out, const char *gw)
{
	strbuf_appendf(out, FLEET_ROOT "gw/%s/map/", gw);
}

void fleet_status_key(struct strbuf *out, const char *gw)
{
	strbuf_appendf(out, FLEET_ROOT "status/%s", gw);
}

void fleet_map_key(struct strbuf *out, const char *gw, const struct rule *r, bool both)
{
	const struct xdpfwd_mapping *m = &r->m;
	char addr[ADDR_STR_LEN];

	if (addr_is_zero(&m->public_addr))
		snprintf(addr, sizeof(addr), "%s", m->family == AF_INET6 ? "any6" : "any");
	else
		format_addr(addr, sizeof(addr), m->family, &m->public_addr);
	fleet_map_prefix(out, gw);
	strbuf_appendf(out, "%s/%s/%u", both ? "both" : proto_name(m->proto), addr, m->public_port);
	if (m->port_count > 1)
		strbuf_appendf(out, "-%u", m->public_port + m->port_count - 1);
}

int fleet_key_public(const char *gw, const char *key, struct xdpfwd_mapping out[2])
{
	struct strbuf prefix = STRBUF_INIT, pub = STRBUF_INIT;
	const char *tail, *addr, *ports;
	char proto[8], err[ERR_LEN];
	struct xdpfwd_mapping m = {0};
	int n = 0;

	fleet_map_prefix(&prefix, gw);
	tail = strncmp(key, strbuf_str(&prefix), prefix.len) ? NULL : key + prefix.len;
	addr = tail ? strchr(tail, '/') : NULL;
	ports = addr ? strchr(addr + 1, '/') : NULL;
	if (ports && (size_t)(addr - tail) < sizeof(proto)) {
		snprintf(proto, sizeof(proto), "%.*s", (int)(addr - tail), tail);
		addr++;
		if (!strncmp(addr, "any/", 4) || !strncmp(addr, "any6/", 5))
			strbuf_append(&pub, ports + 1);
		else
			strbuf_appendf(&pub,
				       memchr(addr, ':', (size_t)(ports - addr)) ? "[%.*s]:%s"
										 : "%.*s:%s",
				       (int)(ports - addr), addr, ports + 1);
		if (!parse_public(strbuf_str(&pub), &m, err)) {
			if (!m.family)
				m.family = !strncmp(addr, "any6/", 5) ? AF_INET6 : AF_INET;
			n = !strcmp(proto, "both") ? 2
						   : !strcmp(proto, "tcp") || !strcmp(proto, "udp");
		}
	}
	for (int i = 0; i < n; i++) {
		out[i] = m;
		out[i].proto = n == 2		 ? (i ? IPPROTO_UDP : IPPROTO_TCP)
			       : proto[0] == 't' ? IPPROTO_TCP
						 : IPPROTO_UDP;
	}
	strbuf_free(&prefix);
	strbuf_free(&pub);
	return n;
}

/* Takes expires=UNIX_SECONDS out of LINE (cut in place) into *EXPIRES
 * (0 without one); refuses ttl=. */
static int take_expiry(char *line, uint64_t *expires, char *err)
{
	char *w = line;

	*expires = 0;
	while ((w = strstr(w, "="))) {
		char *start = w;

		while (start > line && start[-1] != ' ' && start[-1] != '\t')
			start--;
		if (w - start == 3 && !strncmp(start, "ttl", 3))
			fail(
			    "ttl= is relative to when a gateway applies the line: a fleet lease is "
			    "expires=UNIX_SECONDS, an absolute time");
		if (w - start == 7 && !strncmp(start, "expires", 7)) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(w + 1, &end, 10);
			if (errno || end == w + 1 || !v || (*end && *end != ' ' && *end != '\t'))
				fail("expires '%.*s' is not a time: allowed UNIX_SECONDS, 1-%llu",
				     (int)strcspn(w + 1, " \t"), w + 1,
				     (unsigned long long)UINT64_MAX);
			if (*expires)
				fail("expires is given twice");
			*expires = v;
			memset(start, ' ', (size_t)(end - start));
		}
		w++;
	}
	return 0;
}

/* The lease of EXPIRES (Unix seconds) on the rules, from NOW_UNIX and
 * BOOT_NS; 0 when it has ended. */
static int set_lease(struct rule *r, int n, uint64_t expires, uint64_t now_unix, uint64_t boot_ns)
{
	uint64_t left;

	if (!expires)
		return n;
	if (expires <= now_unix)
		return 0;
	left = expires - now_unix;
	for (int i = 0; i < n; i++) {
		r[i].m.ttl = left > TTL_MAX_S ? TTL_MAX_S : (__u32)left;
		r[i].m.expires_ns = boot_ns + left * 1000000000ULL;
	}
	return n;
}

int fleet_parse_value(const char *gw, const char *key, const char *value, uint64_t now_unix,
		      uint64_t boot_ns, struct rule out[2], char *err)
{
	struct strbuf line = STRBUF_INIT, want = STRBUF_INIT;
	struct rule *rules = NULL;
	char sub[ERR_LEN];
	uint64_t expires = 0;
	size_t n = 0;
	int ret = -1;

	strbuf_append(&line, value);
	while (line.len && (line.data[line.len - 1] == '\n' || line.data[line.len - 1] == ' '))
		line.data[--line.len] = '\0';
	if (line.failed)
		snprintf(err, ERR_LEN, "out of memory");
	else if (strchr(strbuf_str(&line), '\n'))
		snprintf(err, ERR_LEN, "the value has more than one line: one mapping per key");
	else if (take_expiry(line.data, &expires, err))
		; /* ERR says why */
	else if (parse_config(strbuf_str(&line), &rules, &n, sub))
		snprintf(err, ERR_LEN, "%s", strncmp(sub, "line 1: ", 8) ? sub : sub + 8);
	else if (!n)
		snprintf(err, ERR_LEN, "the value is empty: write a mapping line as for load");
	if (rules && n) {
		memcpy(out, rules, n * sizeof(*rules));
		fleet_map_key(&want, gw, &out[0], n == 2);
		if (strcmp(strbuf_str(&want), key))
			snprintf(err, ERR_LEN,
				 "the line names another protocol or public side than its key: "
				 "write it under %s",
				 strbuf_str(&want));
		else
			ret = set_lease(out, (int)n, expires, now_unix, boot_ns);
	}
	free(rules);
	strbuf_free(&line);
	strbuf_free(&want);
	return ret;
}

int fleet_add_line(const char *gw, char **argv, int argc, uint64_t now_unix, struct strbuf *line,
		   struct strbuf *key, char *err)
{
	struct rule r[2];
	int n;

	if (argc < 3)
		fail("fleet add: expected GATEWAY PROTO PUBLIC TARGET [FIELD=VALUE...]");
	for (int i = 0; i < argc; i++) {
		unsigned long ttl;
		char *end;

		if (i < 3 || strncmp(argv[i], "ttl=", 4)) {
			strbuf_appendf(line, "%s%s", i ? " " : "", argv[i]);
			continue;
		}
		errno = 0;
		ttl = strtoul(argv[i] + 4, &end, 10);
		if (errno || *end || end == argv[i] + 4 || !ttl || ttl > TTL_MAX_S)
			fail("ttl '%s' is not a number of seconds: allowed 1-%d (it becomes "
			     "expires=UNIX_SECONDS)",
			     argv[i] + 4, TTL_MAX_S);
		strbuf_appendf(line, " expires=%" PRIu64, now_unix + ttl);
	}
	n = parse_rule(argv[0], argv[1], argv[2], r, err);
	if (n < 0)
		return -1;
	fleet_map_key(key, gw, &r[0], n == 2);
	/* The whole line as a gateway will read it. */
	n = fleet_parse_value(gw, strbuf_str(key), strbuf_str(line), now_unix, 0, r, err);
	if (n < 0)
		return -1;
	if (n == 0)
		fail("expires is in the past: allowed a Unix time after now (%" PRIu64 ")",
		     now_unix);
	return 0;
}

void fleet_status_format(struct strbuf *out, const struct fleet_status *s)
{
	json_object *o = json_object_new_object(), *rej = json_object_new_array();

	json_object_object_add(o, "gateway", json_object_new_string(s->gateway));
	json_object_object_add(o, "revision", json_object_new_int64(s->revision));
	json_object_object_add(o, "mappings", json_object_new_uint64(s->mappings));
	for (size_t i = 0; i < s->nrejected; i++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "key", json_object_new_string(s->rejected[i].key));
		json_object_object_add(r, "reason", json_object_new_string(s->rejected[i].reason));
		json_object_array_add(rej, r);
	}
	json_object_object_add(o, "rejected", rej);
	json_object_object_add(o, "rejected_count", json_object_new_uint64(s->rejected_count));
	json_object_object_add(o, "time", json_object_new_uint64(s->time));
	strbuf_append(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static uint64_t get_u64(json_object *o, const char *field)
{
	json_object *v;

	return json_object_object_get_ex(o, field, &v) ? json_object_get_uint64(v) : 0;
}

int fleet_status_parse(const char *text, struct fleet_status *s, char *err)
{
	json_object *o = json_tokener_parse(text), *v, *rej;
	size_t n;

	memset(s, 0, sizeof(*s));
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "gateway", &v)) {
		json_object_put(o);
		fail("a status is a JSON object with gateway, revision, mappings, rejected");
	}
	snprintf(s->gateway, sizeof(s->gateway), "%s", json_object_get_string(v));
	s->revision = (int64_t)get_u64(o, "revision");
	s->mappings = get_u64(o, "mappings");
	s->rejected_count = get_u64(o, "rejected_count");
	s->time = get_u64(o, "time");
	n = json_object_object_get_ex(o, "rejected", &rej) &&
		    json_object_is_type(rej, json_type_array)
		? json_object_array_length(rej)
		: 0;
	s->rejected = calloc(n + 1, sizeof(*s->rejected));
	for (size_t i = 0; s->rejected && i < n; i++) {
		json_object *r = json_object_array_get_idx(rej, i), *k = NULL, *why = NULL;

		json_object_object_get_ex(r, "key", &k);
		json_object_object_get_ex(r, "reason", &why);
		s->rejected[i].key = strdup(k ? json_object_get_string(k) : "");
		s->rejected[i].reason = strdup(why ? json_object_get_string(why) : "");
		s->nrejected++;
	}
	json_object_put(o);
	return s->rejected ? 0 : (snprintf(err, ERR_LEN, "out of memory"), -1);
}

void fleet_status_free(struct fleet_status *s)
{
	for (size_t i = 0; i < s->nrejected; i++) {
		free(s->rejected[i].key);
		free(s->rejected[i].reason);
	}
	free(s->rejected);
	s->rejected = NULL;
	s->nrejected = 0;
}
