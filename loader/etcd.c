// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * etcd.c - etcd's v3 JSON gateway from C (etcd.h): base64, the messages,
 * the request bodies and the HTTP calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

#define fail(...)                                         \
	do {                                              \
		snprintf(err, ETCD_ERR_LEN, __VA_ARGS__); \
		return -1;                                \
	} while (0)

int etcd_conf_parse(struct etcd_conf *c, const char *list, const char *what, char *err)
{
	const char *p = list;

	memset(c, 0, sizeof(*c));
	if (!list || !*list)
		fail(
		    "%s is empty: give URL[,URL...], 1-%d http:// or https:// URLs of etcd members",
		    what, ETCD_MAX_ENDPOINTS);
	while (p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		bool http = n > 7 && !strncmp(p, "http://", 7),
		     https = n > 8 && !strncmp(p, "https://", 8);

		if (!http && !https) {
			etcd_conf_free(c);
			fail("%s: '%.*s' is not an http:// or https:// URL (write "
			     "http://HOST:PORT[,URL...], 1-%d of them)",
			     what, (int)n, p, ETCD_MAX_ENDPOINTS);
		}
		if (c->nurl == ETCD_MAX_ENDPOINTS) {
			etcd_conf_free(c);
			fail("%s: more than %d URLs", what, ETCD_MAX_ENDPOINTS);
		}
		while (n && p[n - 1] == '/')
			n--;
		c->url[c->nurl] = strndup(p, n);
		if (!c->url[c->nurl++]) {
			etcd_conf_free(c);
			fail("out of memory");
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

void etcd_shuffle(struct etcd_conf *c, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = c->nurl; i > 1; i--) {
		size_t j;
		char *t;

		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		j = x % i;
		t = c->url[i - 1];
		c->url[i - 1] = c->url[j];
		c->url[j] = t;
	}
}

void etcd_conf_free(struct etcd_conf *c)
{
	for (size_t i = 0; i < c->nurl; i++)
		free(c->url[i]);
	c->nurl = 0;
	free(c->token);
	c->token = NULL;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void etcd_b64_encode(struct strbuf *out, const void *s, size_t n)
{
	const unsigned char *p = s;

	if (strbuf_reserve(out, (n + 2) / 3 * 4))
		return;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63],
			     i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '='};

		strbuf_appendn(out, q, 4);
	}
}

static int b64_value(char ch)
{
	const char *at = ch ? strchr(b64, ch) : NULL;

	return at ? (int)(at - b64) : -1;
}

char *etcd_b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s), k = 0;
	char *out;

	if (len % 4)
		return NULL;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++) {
			bool pad = s[i + j] == '=' && i + 4 == len && j >= 2 &&
				   (j == 3 || s[i + 3] == '=');

			v[j] = pad ? 0 : b64_value(s[i + j]);
			if (v[j] < 0) {
				free(out);
				return NULL;
			}
		}
		out[k++] = (char)(v[0] << 2 | v[1] >> 4);
		if (s[i + 2] != '=')
			out[k++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (s[i + 3] != '=')
			out[k++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[k] = '\0';
	if (n)
		*n = k;
	return out;
}

char *etcd_prefix_end(const char *prefix)
{
	char *end = strdup(prefix);
	size_t n = strlen(prefix);

	if (!end)
		return NULL;
	while (n && (unsigned char)end[n - 1] == 0xff)
		end[--n] = '\0';
	if (!n) {
		free(end);
		return strdup(""); /* etcd's "\0": every key from KEY on */
	}
	end[n - 1]++;
	return end;
}

int64_t etcd_json_i64(json_object *o, const char *field)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, field, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

uint64_t etcd_json_u64(json_object *o, const char *field)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, field, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoull(json_object_get_string(v), NULL, 10);
	return json_object_get_uint64(v);
}

static bool get_bool(json_object *o, const char *field)
{
	json_object *v;

	return o && json_object_object_get_ex(o, field, &v) && json_object_get_boolean(v);
}

static const char *json_str(json_object *o, const char *field)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, field, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void etcd_parse_header(json_object *o, struct etcd_header *h)
{
	json_object *hdr = NULL;

	memset(h, 0, sizeof(*h));
	if (!o || !json_object_object_get_ex(o, "header", &hdr))
		return;
	h->cluster_id = etcd_json_u64(hdr, "cluster_id");
	h->member_id = etcd_json_u64(hdr, "member_id");
	h->revision = etcd_json_i64(hdr, "revision");
	h->raft_term = etcd_json_i64(hdr, "raft_term");
}

int etcd_parse_kv(json_object *o, struct etcd_kv *kv)
{
	const char *k = json_str(o, "key"), *v = json_str(o, "value");

	memset(kv, 0, sizeof(*kv));
	kv->key = etcd_b64_decode(k ? k : "", NULL);
	kv->value = v ? etcd_b64_decode(v, &kv->vlen) : NULL;
	kv->create_revision = etcd_json_i64(o, "create_revision");
	kv->mod_revision = etcd_json_i64(o, "mod_revision");
	kv->version = etcd_json_i64(o, "version");
	kv->lease = etcd_json_i64(o, "lease");
	if (!kv->key || (v && !kv->value)) {
		etcd_kv_free(kv);
		return -1;
	}
	return 0;
}

void etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	kv->key = kv->value = NULL;
}

int etcd_parse_range(const char *text, struct etcd_range *r, char *err)
{
	json_object *o = json_tokener_parse(text), *kvs;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		fail("the range answer is not a JSON object");
	}
	etcd_parse_header(o, &r->h);
	r->more = get_bool(o, "more");
	r->count = etcd_json_i64(o, "count");
	n = json_object_object_get_ex(o, "kvs", &kvs) ? json_object_array_length(kvs) : 0;
	r->kvs = calloc(n + 1, sizeof(*r->kvs));
	if (!r->kvs) {
		json_object_put(o);
		fail("out of memory");
	}
	for (size_t i = 0; i < n; i++, r->nkvs++)
		if (etcd_parse_kv(json_object_array_get_idx(kvs, i), &r->kvs[i])) {
			json_object_put(o);
			etcd_range_free(r);
			fail("the range answer's key %zu is not base64", i);
		}
	json_object_put(o);
	return 0;
}

void etcd_range_free(struct etcd_range *r)
{
	for (size_t i = 0; i < r->nkvs; i++)
		etcd_kv_free(&r->kvs[i]);
	free(r->kvs);
	r->kvs = NULL;
	r->nkvs = 0;
}

static int parse_events(json_object *res, struct etcd_watch_msg *m, char *err)
{
	json_object *evs;
	size_t n =
	    json_object_object_get_ex(res, "events", &evs) ? json_object_array_length(evs) : 0;

	m->ev = calloc(n + 1, sizeof(*m->ev));
	if (!m->ev)
		fail("out of memory");
	for (size_t i = 0; i < n; i++, m->nev++) {
		json_object *e = json_object_array_get_idx(evs, i), *kv = NULL;
		const char *type = json_str(e, "type");

		m->ev[i].del = type && !strcmp(type, "DELETE");
		json_object_object_get_ex(e, "kv", &kv);
		if (etcd_parse_kv(kv, &m->ev[i].kv))
			fail("event %zu: its key or value is not base64", i);
	}
	return 0;
}

int etcd_parse_watch(json_object *o, struct etcd_watch_msg *m, char *err)
{
	json_object *res, *e;

	memset(m, 0, sizeof(*m));
	if (o && json_object_object_get_ex(o, "error", &e)) {
		const char *msg = json_object_is_type(e, json_type_object)
				      ? json_str(e, "message")
				      : json_object_get_string(e);

		m->error = true;
		snprintf(m->reason, sizeof(m->reason), "%s",
			 msg ? msg : "an error without a message");
		return 0;
	}
	if (!o || !json_object_object_get_ex(o, "result", &res) ||
	    !json_object_is_type(res, json_type_object))
		fail("a watch message is neither {\"result\":...} nor {\"error\":...}");
	etcd_parse_header(res, &m->h);
	m->created = get_bool(res, "created");
	m->canceled = get_bool(res, "canceled");
	m->compact_revision = etcd_json_i64(res, "compact_revision");
	m->watch_id = etcd_json_i64(res, "watch_id");
	if (json_str(res, "cancel_reason"))
		snprintf(m->reason, sizeof(m->reason), "%s", json_str(res, "cancel_reason"));
	if (parse_events(res, m, err)) {
		etcd_watch_msg_free(m);
		return -1;
	}
	return 0;
}

void etcd_watch_msg_free(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->nev; i++)
		etcd_kv_free(&m->ev[i].kv);
	free(m->ev);
	m->ev = NULL;
	m->nev = 0;
}

int etcd_parse_error(const char *text, long http, int *code, char *err)
{
	json_object *o = text && *text ? json_tokener_parse(text) : NULL;
	const char *msg = NULL;

	*code = -1;
	if (o && json_object_is_type(o, json_type_object) && json_str(o, "error")) {
		msg = json_str(o, "error");
		*code = (int)etcd_json_i64(o, "code");
	}
	if (!msg && http >= 200 && http < 300) {
		json_object_put(o);
		return 0;
	}
	if (msg)
		snprintf(err, ETCD_ERR_LEN, "%s (code %d, HTTP %ld)", msg, *code, http);
	else
		snprintf(err, ETCD_ERR_LEN, "HTTP %ld: %.100s", http, text ? text : "");
	json_object_put(o);
	return -1;
}

/* "field":"<base64 of S>" into object O. */
static void add_b64(json_object *o, const char *field, const char *s)
{
	struct strbuf b = STRBUF_INIT;

	etcd_b64_encode(&b, s, strlen(s));
	json_object_object_add(o, field, json_object_new_string(strbuf_str(&b)));
	strbuf_free(&b);
}

static void add_i64(json_object *o, const char *field, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	json_object_object_add(o, field, json_object_new_string(num));
}

static void finish(struct strbuf *out, json_object *o)
{
	strbuf_append(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

void etcd_body_range(struct strbuf *out, const char *key, const char *end, int64_t limit,
		     int64_t revision)
{
	json_object *o = json_object_new_object();

	add_b64(o, "key", key);
	if (end)
		add_b64(o, "range_end", *end ? end : "\0");
	if (end && !*end) /* "\0" is one zero byte: AA== */
		json_object_object_add(o, "range_end", json_object_new_string("AA=="));
	if (limit)
		add_i64(o, "limit", limit);
	if (revision)
		add_i64(o, "revision", revision);
	finish(out, o);
}

static json_object *put_object(const char *key, const char *value, int64_t lease)
{
	json_object *o = json_object_new_object();

	add_b64(o, "key", key);
	add_b64(o, "value", value);
	if (lease)
		add_i64(o, "lease", lease);
	return o;
}

void etcd_body_put(struct strbuf *out, const char *key, const char *value, int64_t lease)
{
	finish(out, put_object(key, value, lease));
}

static json_object *delete_object(const char *key, const char *end)
{
	json_object *o = json_object_new_object();

	add_b64(o, "key", key);
	if (end)
		add_b64(o, "range_end", end);
	return o;
}

void etcd_body_delete(struct strbuf *out, const char *key, const char *end)
{
	finish(out, delete_object(key, end));
}

static json_object *request(const char *kind, json_object *req)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, kind, req);
	return o;
}

void etcd_body_create(struct strbuf *out, const char *const *keys, const char *const *values,
		      size_t n)
{
	json_object *o = json_object_new_object(), *cmp = json_object_new_array(),
		    *ok = json_object_new_array(), *ko = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_new_object();

		add_b64(c, "key", keys[i]);
		json_object_object_add(c, "target", json_object_new_string("CREATE"));
		json_object_object_add(c, "result", json_object_new_string("EQUAL"));
		add_i64(c, "create_revision", 0);
		json_object_array_add(cmp, c);
		json_object_array_add(ok,
				      request("request_put", put_object(keys[i], values[i], 0)));
	}
	json_object_array_add(ko, request("request_range", delete_object(keys[0], NULL)));
	json_object_object_add(o, "compare", cmp);
	json_object_object_add(o, "success", ok);
	json_object_object_add(o, "failure", ko);
	finish(out, o);
}

void etcd_body_txn(struct strbuf *out, const char *const *keys, const char *const *values, size_t n)
{
	json_object *o = json_object_new_object(), *ok = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(
		    ok, values[i] ? request("request_put", put_object(keys[i], values[i], 0))
				  : request("request_delete_range", delete_object(keys[i], NULL)));
	json_object_object_add(o, "success", ok);
	finish(out, o);
}

void etcd_body_watch(struct strbuf *out, const char *key, const char *end, int64_t start)
{
	json_object *c = json_object_new_object();

	add_b64(c, "key", key);
	add_b64(c, "range_end", end);
	if (start)
		add_i64(c, "start_revision", start);
	json_object_object_add(c, "progress_notify", json_object_new_boolean(1));
	finish(out, request("create_request", c));
}

/* Whole JSON objects out of the bytes of a stream, one by one. */
static size_t on_stream(char *data, size_t size, size_t nmemb, void *user)
{
	struct etcd_call *call = user;
	size_t len = size * nmemb, done = 0;

	while (done < len && !call->stopped) {
		json_object *o = json_tokener_parse_ex(call->tok, data + done, (int)(len - done));
		enum json_tokener_error e = json_tokener_get_error(call->tok);
		size_t used = json_tokener_get_parse_end(call->tok);

		if (e == json_tokener_continue)
			return len; /* all taken, the object goes on */
		if (!o) {	    /* not JSON: a proxy's page, say; the caller's result says so */
			snprintf(call->curl_err, sizeof(call->curl_err),
				 "the watch stream is not JSON: %s", json_tokener_error_desc(e));
			call->stopped = true;
			return 0;
		}
		json_tokener_reset(call->tok);
		done += used ? used : len - done;
		if (!call->on_object(call->ctx, o))
			call->stopped = true;
		json_object_put(o);
		while (done < len &&
		       (data[done] == '\n' || data[done] == '\r' || data[done] == ' '))
			done++;
	}
	return call->stopped ? 0 : len;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	struct etcd_call *call = user;

	strbuf_appendn(&call->resp, data, size * nmemb);
	return call->resp.failed ? 0 : size * nmemb;
}

static int call_tls_auth(struct etcd_call *call, const struct etcd_conf *c)
{
	if (c->cert)
		curl_easy_setopt(call->h, CURLOPT_SSLCERT, c->cert);
	if (c->key)
		curl_easy_setopt(call->h, CURLOPT_SSLKEY, c->key);
	if (c->ca)
		curl_easy_setopt(call->h, CURLOPT_CAINFO, c->ca);
	if (c->token) {
		struct strbuf h = STRBUF_INIT;

		strbuf_appendf(&h, "Authorization: %s", c->token);
		call->hdrs = curl_slist_append(call->hdrs, strbuf_str(&h));
		strbuf_free(&h);
	}
	return 0;
}

int etcd_call_init(struct etcd_call *call, const struct etcd_conf *c, const char *url,
		   const char *path, const char *body, bool stream)
{
	struct strbuf u = STRBUF_INIT;

	memset(call, 0, sizeof(*call));
	call->h = curl_easy_init();
	strbuf_append(&call->body, body);
	strbuf_appendf(&u, "%s%s", url, path);
	if (!call->h || call->body.failed || u.failed) {
		strbuf_free(&u);
		etcd_call_free(call);
		return -ENOMEM;
	}
	call->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (stream)
		call->hdrs = curl_slist_append(call->hdrs, "Grpc-Metadata-hasleader: true");
	call_tls_auth(call, c);
	curl_easy_setopt(call->h, CURLOPT_URL, strbuf_str(&u));
	strbuf_free(&u);
	curl_easy_setopt(call->h, CURLOPT_POSTFIELDS, strbuf_str(&call->body));
	curl_easy_setopt(call->h, CURLOPT_POSTFIELDSIZE, (long)call->body.len);
	curl_easy_setopt(call->h, CURLOPT_HTTPHEADER, call->hdrs);
	curl_easy_setopt(call->h, CURLOPT_ERRORBUFFER, call->curl_err);
	curl_easy_setopt(call->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(call->h, CURLOPT_CONNECTTIMEOUT_MS, (long)ETCD_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(call->h, CURLOPT_PRIVATE, call);
	if (stream) {
		call->tok = json_tokener_new();
		curl_easy_setopt(call->h, CURLOPT_WRITEFUNCTION, on_stream);
		/* A member that stops answering: no byte for this long ends it
		 * (etcd's periodic progress notifications keep an idle one alive
		 * when the cluster runs with a short interval). */
		curl_easy_setopt(call->h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(call->h, CURLOPT_TCP_KEEPIDLE, 10L);
		curl_easy_setopt(call->h, CURLOPT_TCP_KEEPINTVL, 5L);
		if (!call->tok) {
			etcd_call_free(call);
			return -ENOMEM;
		}
	} else {
		curl_easy_setopt(call->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(call->h, CURLOPT_TIMEOUT_MS, (long)ETCD_CALL_TIMEOUT_MS);
	}
	curl_easy_setopt(call->h, CURLOPT_WRITEDATA, call);
	return 0;
}

void etcd_call_free(struct etcd_call *call)
{
	if (call->h)
		curl_easy_cleanup(call->h);
	curl_slist_free_all(call->hdrs);
	strbuf_free(&call->body);
	strbuf_free(&call->resp);
	if (call->tok)
		json_tokener_free(call->tok);
	memset(call, 0, sizeof(*call));
}

int etcd_call_result(struct etcd_call *call, CURLcode rc, int *code, char *err)
{
	char *url = NULL;

	*code = -1;
	curl_easy_getinfo(call->h, CURLINFO_EFFECTIVE_URL, &url);
	curl_easy_getinfo(call->h, CURLINFO_RESPONSE_CODE, &call->http);
	if (rc != CURLE_OK && !(call->stopped && rc == CURLE_WRITE_ERROR && !call->curl_err[0]))
		fail("%s: %s", url ? url : "etcd",
		     call->curl_err[0] ? call->curl_err : curl_easy_strerror(rc));
	if (call->tok && call->http == 200)
		return 0;
	if (etcd_parse_error(strbuf_str(&call->resp), call->http, code, err + 0)) {
		char why[ETCD_ERR_LEN];

		snprintf(why, sizeof(why), "%s", err);
		fail("%s: %s", url ? url : "etcd", why);
	}
	return 0;
}

int etcd_request(struct etcd_conf *c, const char *path, const char *body, char **resp, int *code,
		 char *err)
{
	int ret = -1;

	*resp = NULL;
	snprintf(err, ETCD_ERR_LEN, "no etcd endpoint");
	for (size_t i = 0; i < c->nurl && ret; i++) {
		struct etcd_call call;

		if (etcd_call_init(&call, c, c->url[i], path, body, false))
			fail("out of memory");
		ret = etcd_call_result(&call, curl_easy_perform(call.h), code, err);
		if (!ret || (call.http >= 400 && call.http < 500))
			*resp = strbuf_detach(&call.resp, NULL);
		etcd_call_free(&call);
		if (ret && *resp) /* a 4xx is the cluster's answer: no other member differs */
			break;
	}
	if (ret) {
		free(*resp);
		*resp = NULL;
	}
	return ret;
}

int etcd_authenticate(struct etcd_conf *c, char *err)
{
	json_object *o = json_object_new_object(), *ans;
	struct strbuf body = STRBUF_INIT;
	char *resp;
	int code, ret;

	if (!c->user || c->token) {
		json_object_put(o);
		return 0;
	}
	json_object_object_add(o, "name", json_object_new_string(c->user));
	json_object_object_add(o, "password",
			       json_object_new_string(c->password ? c->password : ""));
	finish(&body, o);
	ret = etcd_request(c, "/v3/auth/authenticate", strbuf_str(&body), &resp, &code, err);
	strbuf_free(&body);
	if (ret)
		return -1;
	ans = json_tokener_parse(resp);
	free(resp);
	if (json_str(ans, "token"))
		c->token = strdup(json_str(ans, "token"));
	json_object_put(ans);
	if (!c->token)
		fail("etcd authentication answered without a token");
	return 0;
}
