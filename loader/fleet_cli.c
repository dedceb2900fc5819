// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleet_cli.c - `xdpfwd fleet ACTION ...`: the fleet's keys in etcd for
 * people and scripts (fleet_cli.h, the keys in fleet.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "etcd.h"
#include "fleet.h"
#include "fleet_cli.h"
#include "log.h"

/* The endpoints: --fleet, else $XDPFWD_FLEET. 0, or -1 after a message. */
static int fleet_conf(const struct fleet_cli_options *o, struct etcd_conf *c)
{
	const char *urls = o->urls ? o->urls : getenv("XDPFWD_FLEET");
	char err[ETCD_ERR_LEN];

	if (!urls) {
		pr_warn(
		    "fleet: no etcd endpoints: give --fleet URL[,URL...] or set XDPFWD_FLEET\n");
		return -1;
	}
	if (etcd_conf_parse(c, urls, o->urls ? "--fleet" : "XDPFWD_FLEET", err)) {
		pr_warn("fleet: %s\n", err);
		return -1;
	}
	if ((o->cert != NULL) != (o->key != NULL)) {
		pr_warn("fleet: --fleet-cert and --fleet-key go together (a client certificate and "
			"its key, PEM files)\n");
		etcd_conf_free(c);
		return -1;
	}
	c->cert = o->cert;
	c->key = o->key;
	c->ca = o->ca;
	c->user = o->user;
	c->password = getenv("XDPFWD_FLEET_PASSWORD");
	return 0;
}

/* One call, blocking; the answer (malloc'd) or NULL after a message. */
static char *call(struct etcd_conf *c, const char *what, const char *path, const char *body)
{
	char err[ETCD_ERR_LEN], *resp;
	int code;

	if (etcd_authenticate(c, err) || etcd_request(c, path, body, &resp, &code, err)) {
		pr_warn("fleet %s: etcd: %s\n", what, err);
		return NULL;
	}
	return resp;
}

/* fleet add's words checked into its LINE and KEY: 0, or 2 after a message. */
static int add_prepare(char **argv, int argc, struct strbuf *line, struct strbuf *key)
{
	char err[ERR_LEN];

	if (argc < 4) {
		pr_warn("fleet add: expected GATEWAY PROTO [ADDR:]PORT[-PORT] TARGET[:PORT[-PORT]] "
			"[FIELD=VALUE...]\n");
		return 2;
	}
	if (fleet_name_check(argv[0], "gateway", err) ||
	    fleet_add_line(argv[0], argv + 1, argc - 1, (uint64_t)time(NULL), line, key, err)) {
		pr_warn("fleet add: %s\n", err);
		return 2;
	}
	return 0;
}

static int fleet_add(struct etcd_conf *c, bool json, const struct strbuf *line,
		     const struct strbuf *key)
{
	struct strbuf body = STRBUF_INIT;
	char err[ERR_LEN], *resp = NULL;
	struct etcd_range r = {0};

	etcd_body_put(&body, strbuf_str(key), strbuf_str(line), 0);
	resp = call(c, "add", "/v3/kv/put", strbuf_str(&body));
	if (resp && !etcd_parse_range(resp, &r, err)) {
		if (json)
			printf("{\"key\":\"%s\",\"value\":\"%s\",\"revision\":%" PRId64 "}\n",
			       strbuf_str(key), strbuf_str(line), r.h.revision);
		else
			printf("put %s = %s (revision %" PRId64 ")\n", strbuf_str(key),
			       strbuf_str(line), r.h.revision);
	}
	etcd_range_free(&r);
	strbuf_free(&body);
	free(resp);
	return resp ? 0 : 1;
}

/* The keys fleet del PROTO PUBLIC names: a wildcard is either family's. */
static int del_keys(const char *gw, char **argv, struct strbuf keys[2], char *err)
{
	struct rule r[2] = {0};
	int n = 0;

	if (strcmp(argv[0], "tcp") && strcmp(argv[0], "udp") && strcmp(argv[0], "both")) {
		snprintf(err, ERR_LEN, "protocol '%s' is unknown: allowed tcp, udp, both", argv[0]);
		return -1;
	}
	r[0].m.proto = argv[0][0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
	if (parse_public(argv[1], &r[0].m, err))
		return -1;
	for (int f = 0; f < 2; f++) {
		if (r[0].m.family && r[0].m.family != (f ? AF_INET6 : AF_INET))
			continue;
		r[1] = r[0];
		r[1].m.family = f ? AF_INET6 : AF_INET;
		fleet_map_key(&keys[n++], gw, &r[1], argv[0][0] == 'b');
	}
	return n;
}

/* fleet del's words checked into its KEYS: how many, or -1 after a message. */
static int del_prepare(char **argv, int argc, struct strbuf keys[2])
{
	char err[ERR_LEN];
	int n;

	if (argc != 3) {
		pr_warn("fleet del: expected GATEWAY PROTO [ADDR:]PORT[-PORT]\n");
		return -1;
	}
	n = fleet_name_check(argv[0], "gateway", err) ? -1 : del_keys(argv[0], argv + 1, keys, err);
	if (n < 0)
		pr_warn("fleet del: %s\n", err);
	return n;
}

static int fleet_del(struct etcd_conf *c, bool json, char **argv, struct strbuf keys[2], int n)
{
	int64_t deleted = 0, rev = 0;
	int ret = 0;

	for (int i = 0; i < n && !ret; i++) {
		struct strbuf body = STRBUF_INIT;
		json_object *o;
		char *resp;

		etcd_body_delete(&body, strbuf_str(&keys[i]), NULL);
		resp = call(c, "del", "/v3/kv/deleterange", strbuf_str(&body));
		o = resp ? json_tokener_parse(resp) : NULL;
		deleted += etcd_json_i64(o, "deleted");
		if (etcd_json_i64(o, "deleted")) {
			struct etcd_header h;

			etcd_parse_header(o, &h);
			rev = h.revision;
			if (!json)
				printf("deleted %s (revision %" PRId64 ")\n", strbuf_str(&keys[i]),
				       rev);
		}
		ret = resp ? 0 : 1;
		json_object_put(o);
		free(resp);
		strbuf_free(&body);
	}
	if (!ret && !deleted) {
		pr_warn("fleet del: gateway %s has no %s mapping on '%s' in etcd (fleet status "
			"counts its keys)\n",
			argv[0], argv[1], argv[2]);
		ret = 1;
	}
	if (!ret && json)
		printf("{\"deleted\":%" PRId64 ",\"revision\":%" PRId64 "}\n", deleted, rev);
	return ret;
}

/* One gateway in fleet status. */
struct gw_row {
	char name[FLEET_NAME_MAX + 1];
	uint64_t keys;
	bool alive;
	struct fleet_status s;
};

static struct gw_row *row(struct gw_row **rows, size_t *n, const char *name, size_t len)
{
	struct gw_row *grown;

	for (size_t i = 0; i < *n; i++)
		if (strlen((*rows)[i].name) == len && !strncmp((*rows)[i].name, name, len))
			return &(*rows)[i];
	grown = realloc(*rows, (*n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	*rows = grown;
	memset(&grown[*n], 0, sizeof(grown[*n]));
	snprintf(grown[*n].name, sizeof(grown[*n].name), "%.*s", (int)len, name);
	return &grown[(*n)++];
}

/* Every key under PREFIX, page by page at one revision, to EACH. */
static int scan(struct etcd_conf *c, const char *prefix,
		int (*each)(const struct etcd_kv *kv, void *ctx), void *ctx, int64_t *rev)
{
	char *end = etcd_prefix_end(prefix), *from = strdup(prefix), err[ETCD_ERR_LEN];
	int ret = end && from ? 0 : -1;
	bool more = !ret;

	*rev = 0;
	while (more && !ret) {
		struct strbuf body = STRBUF_INIT;
		struct etcd_range r = {0};
		char *resp;

		etcd_body_range(&body, from, end, ETCD_PAGE_LIMIT, *rev);
		resp = call(c, "status", "/v3/kv/range", strbuf_str(&body));
		ret = !resp || etcd_parse_range(resp, &r, err) ? -1 : 0;
		if (!*rev)
			*rev = r.h.revision;
		for (size_t i = 0; !ret && i < r.nkvs; i++)
			if (!(i == 0 && strcmp(from, prefix) && !strcmp(from, r.kvs[i].key)))
				ret = each(&r.kvs[i], ctx);
		more = r.more && r.nkvs;
		if (more) {
			free(from);
			from = strdup(r.kvs[r.nkvs - 1].key);
		}
		etcd_range_free(&r);
		free(resp);
		strbuf_free(&body);
	}
	free(end);
	free(from);
	return ret;
}

struct rows {
	struct gw_row *rows;
	size_t n;
};

static int count_key(const struct etcd_kv *kv, void *ctx)
{
	struct rows *t = ctx;
	const char *name = kv->key + strlen(FLEET_ROOT "gw/"), *slash = strchr(name, '/');
	struct gw_row *r;

	if (!slash || strncmp(slash, "/map/", 5))
		return 0;
	r = row(&t->rows, &t->n, name, (size_t)(slash - name));
	if (!r)
		return -1;
	r->keys++;
	return 0;
}

static int read_status(const struct etcd_kv *kv, void *ctx)
{
	struct rows *t = ctx;
	const char *name = kv->key + strlen(FLEET_ROOT "status/");
	struct gw_row *r = row(&t->rows, &t->n, name, strlen(name));
	char err[ERR_LEN];

	if (!r)
		return -1;
	r->alive = true;
	if (kv->value && fleet_status_parse(kv->value, &r->s, err))
		pr_warn("fleet status: %s: %s\n", kv->key, err);
	return 0;
}

static int compare_rows(const void *a, const void *b)
{
	return strcmp(((const struct gw_row *)a)->name, ((const struct gw_row *)b)->name);
}

static void print_rows(const struct rows *t, int64_t rev, bool json)
{
	json_object *all = json_object_new_object(), *gws = json_object_new_array();

	if (!json)
		printf("%-24s %-5s %10s %8s %8s %8s\n", "GATEWAY", "ALIVE", "REVISION", "MAPPINGS",
		       "KEYS", "REJECTED");
	for (size_t i = 0; i < t->n; i++) {
		const struct gw_row *r = &t->rows[i];
		json_object *o = json_object_new_object(), *rej = json_object_new_array();

		if (!json)
			printf("%-24s %-5s %10" PRId64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
			       r->name, r->alive ? "yes" : "no", r->s.revision, r->s.mappings,
			       r->keys, r->s.rejected_count);
		for (size_t k = 0; k < r->s.nrejected; k++) {
			json_object *x = json_object_new_object();

			if (!json)
				printf("  rejected %s: %s\n", r->s.rejected[k].key,
				       r->s.rejected[k].reason);
			json_object_object_add(x, "key",
					       json_object_new_string(r->s.rejected[k].key));
			json_object_object_add(x, "reason",
					       json_object_new_string(r->s.rejected[k].reason));
			json_object_array_add(rej, x);
		}
		json_object_object_add(o, "gateway", json_object_new_string(r->name));
		json_object_object_add(o, "alive", json_object_new_boolean(r->alive));
		json_object_object_add(o, "revision", json_object_new_int64(r->s.revision));
		json_object_object_add(o, "mappings", json_object_new_uint64(r->s.mappings));
		json_object_object_add(o, "keys", json_object_new_uint64(r->keys));
		json_object_object_add(o, "rejected_count",
				       json_object_new_uint64(r->s.rejected_count));
		json_object_object_add(o, "rejected", rej);
		json_object_array_add(gws, o);
	}
	json_object_object_add(all, "revision", json_object_new_int64(rev));
	json_object_object_add(all, "gateways", gws);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN));
	json_object_put(all);
}

static int fleet_status(struct etcd_conf *c, bool json)
{
	struct rows t = {0};
	int64_t rev, rev2;
	int ret;

	/* Which gateways have keys, then which report: two reads. */
	ret = scan(c, FLEET_ROOT "gw/", count_key, &t, &rev) ||
	      scan(c, FLEET_ROOT "status/", read_status, &t, &rev2);
	if (!ret) {
		if (t.n)
			qsort(t.rows, t.n, sizeof(*t.rows), compare_rows);
		print_rows(&t, rev2, json);
	}
	for (size_t i = 0; i < t.n; i++)
		fleet_status_free(&t.rows[i].s);
	free(t.rows);
	return ret ? 1 : 0;
}

/* The action's words checked: 0, or 2 after a message. */
static int prepare(char **argv, int argc, struct strbuf *line, struct strbuf *key,
		   struct strbuf keys[2], int *nkeys)
{
	if (!strcmp(argv[0], "add"))
		return add_prepare(argv + 1, argc - 1, line, key);
	if (!strcmp(argv[0], "del")) {
		*nkeys = del_prepare(argv + 1, argc - 1, keys);
		return *nkeys < 0 ? 2 : 0;
	}
	if (strcmp(argv[0], "status")) {
		pr_warn("fleet: action '%s' is unknown: allowed add, del, status\n", argv[0]);
		return 2;
	}
	if (argc > 1) {
		pr_warn("fleet status: expected no arguments\n");
		return 2;
	}
	return 0;
}

int fleet_cli(const struct fleet_cli_options *o, char **argv)
{
	struct strbuf line = STRBUF_INIT, key = STRBUF_INIT, keys[2] = {STRBUF_INIT, STRBUF_INIT};
	struct etcd_conf c;
	int argc = 0, nkeys = 0, ret;

	while (argv[argc])
		argc++;
	if (!argc) /* cli_main() asks for the action; a caller that did not */
		return 2;
	ret = prepare(argv, argc, &line, &key, keys, &nkeys);
	if (!ret && fleet_conf(o, &c))
		ret = 2;
	else if (!ret) {
		if (!strcmp(argv[0], "add"))
			ret = fleet_add(&c, o->json, &line, &key);
		else if (!strcmp(argv[0], "del"))
			ret = fleet_del(&c, o->json, argv + 1, keys, nkeys);
		else
			ret = fleet_status(&c, o->json);
		etcd_conf_free(&c);
	}
	strbuf_free(&line);
	strbuf_free(&key);
	strbuf_free(&keys[0]);
	strbuf_free(&keys[1]);
	return ret;
}
