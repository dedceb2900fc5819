/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * etcd.h - a small client of etcd's v3 API through its JSON gateway (the
 * grpc-gateway that etcd 3.4 serves under /v3/ on its client URLs), with
 * libcurl and json-c. Facts it follows (etcd 3.4.23, checked on Debian 12;
 * etcd's Documentation/dev-guide/api_grpc_gateway.md and
 * api/etcdserverpb/rpc.proto):
 *   - every call is a POST of a JSON object to /v3/kv/range, /v3/kv/put,
 *     /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 *     /v3/lease/revoke, /v3/auth/authenticate or /v3/watch;
 *   - keys, values and range ends are base64 (standard alphabet, padded);
 *   - 64-bit numbers are JSON strings ("revision":"42"), sent as strings
 *     too (a lease ID exceeds 2^53);
 *   - fields at their default value are left out: a missing number is 0, a
 *     missing bool false, a missing list empty; a PUT event has no "type";
 *   - an error is {"error":"...","code":N} with an HTTP status of 400
 *     (code 11: revision compacted or in the future), 503 (code 14: no
 *     quorum) or 500;
 *   - a watch is one long response: a JSON object per message,
 *     {"result":{...}} or {"error":{...}}; a start revision that was
 *     compacted answers canceled with compact_revision and leaves the
 *     response open (the caller closes it); with the header
 *     "Grpc-Metadata-hasleader: true" a member that loses its leader ends
 *     the stream with "etcdserver: no leader" instead of going silent.
 *
 * The parsers and builders are pure (unit-tested without a network); the
 * calls are libcurl easy handles, run blocking (etcd_call_run(), for the
 * CLI) or in the caller's curl multi handle (the daemon, fleetd.c).
 */
#ifndef XDPFWD_ETCD_H
#define XDPFWD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "strbuf.h"

#define ETCD_MAX_ENDPOINTS 16
#define ETCD_ERR_LEN	   512
/* A unary call gives up after this long: a call without quorum takes about
 * 7 s to fail at etcd; the next member may answer sooner. */
#define ETCD_CALL_TIMEOUT_MS	5000
#define ETCD_CONNECT_TIMEOUT_MS 2000
/* A range asks for at most this many keys a page (Kubernetes' reflector and
 * the notes' measurement: 65,536 keys in 16 pages took 0.98 s, one 12 MB
 * page 2.7 s). */
#define ETCD_PAGE_LIMIT 4096
/* etcd's --max-txn-ops default: the most operations in one txn. */
#define ETCD_MAX_TXN_OPS 128

/* Where a cluster answers and how to reach it. */
struct etcd_conf {
	char *url[ETCD_MAX_ENDPOINTS]; /* "http://10.0.0.1:2379", no trailing '/' */
	size_t nurl;
	const char *cert, *key, *ca; /* TLS client certificate, its key, the CA; or NULL */
	const char *user, *password; /* etcd user authentication, or NULL */
	char *token;		     /* from /v3/auth/authenticate, sent as Authorization */
};

/* "URL[,URL...]": 1-ETCD_MAX_ENDPOINTS http:// or https:// URLs into C (in
 * that order; etcd_shuffle() mixes them). 0, or -1 and ERR naming WHAT (the
 * option) and the form allowed. */
int etcd_conf_parse(struct etcd_conf *c, const char *list, const char *what, char *err);
/* A random order of the endpoints, seeded by SEED (the gateway's name and
 * pid, so a fleet spreads over the members). */
void etcd_shuffle(struct etcd_conf *c, uint64_t seed);
void etcd_conf_free(struct etcd_conf *c);

/* --- base64 and keys ---------------------------------------------------- */
/* Appends the base64 (RFC 4648 section 4, padded) of N bytes of S to OUT. */
void etcd_b64_encode(struct strbuf *out, const void *s, size_t n);
/* The bytes of the base64 text S, NUL-terminated, malloc'd (*N their
 * number, without the NUL); NULL when S is not base64. */
char *etcd_b64_decode(const char *s, size_t *n);
/* The range end that covers every key starting with PREFIX: the prefix
 * with its last byte that is not 0xff plus one (etcd's clientv3
 * GetPrefixRangeEnd), into OUT (malloc'd; "\0" for all keys). */
char *etcd_prefix_end(const char *prefix);

/* --- messages ----------------------------------------------------------- */
struct etcd_header {
	uint64_t cluster_id, member_id;
	int64_t revision, raft_term;
};

struct etcd_kv {
	char *key, *value; /* decoded, NUL-terminated, malloc'd; value NULL when absent */
	size_t vlen;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range {
	struct etcd_header h;
	struct etcd_kv *kvs;
	size_t nkvs;
	bool more;
	int64_t count;
};

struct etcd_event {
	bool del; /* "type":"DELETE"; a PUT has no type */
	struct etcd_kv kv;
};

/* One message of a watch stream. */
struct etcd_watch_msg {
	struct etcd_header h;
	bool created, canceled, error;
	int64_t compact_revision, watch_id;
	struct etcd_event *ev;
	size_t nev;
	char reason[ETCD_ERR_LEN]; /* error's message or cancel_reason */
};

/* An int64 as the gateway writes it: a string of digits, or a number; 0 when
 * absent. */
int64_t etcd_json_i64(json_object *o, const char *field);
uint64_t etcd_json_u64(json_object *o, const char *field);
void etcd_parse_header(json_object *o, struct etcd_header *h);
/* A kv object into KV (freed by etcd_kv_free()). 0 or -1 (bad base64). */
int etcd_parse_kv(json_object *o, struct etcd_kv *kv);
void etcd_kv_free(struct etcd_kv *kv);
/* A range response's TEXT into R. 0, or -1 and ERR. */
int etcd_parse_range(const char *text, struct etcd_range *r, char *err);
void etcd_range_free(struct etcd_range *r);
/* One watch stream message O (the whole {"result":...} or {"error":...})
 * into M. 0, or -1 and ERR (not a watch message). */
int etcd_parse_watch(json_object *o, struct etcd_watch_msg *m, char *err);
void etcd_watch_msg_free(struct etcd_watch_msg *m);
/* What an answer with HTTP status HTTP says about failure, into ERR: the
 * gateway's "error" text and code (*CODE, gRPC's), else the status. 0 when
 * it is a success (2xx without "error"), else -1. */
int etcd_parse_error(const char *text, long http, int *code, char *err);

/* --- request bodies ----------------------------------------------------- */
/* {"key":K,"range_end":E,"limit":"L","revision":"R"} (E, L, R left out
 * when NULL or 0): a linearizable read (serializable is never set). */
void etcd_body_range(struct strbuf *out, const char *key, const char *end, int64_t limit,
		     int64_t revision);
void etcd_body_put(struct strbuf *out, const char *key, const char *value, int64_t lease);
void etcd_body_delete(struct strbuf *out, const char *key, const char *end);
/* A txn that puts each of the N KEYS to VALUES only if none of them exists
 * (compare create_revision == 0 for each; the failure branch reads the
 * first key, whose holder the caller reports). */
void etcd_body_create(struct strbuf *out, const char *const *keys, const char *const *values,
		      size_t n);
/* A txn of N puts (VALUES[i] non-NULL) and deletes (VALUES[i] NULL), no
 * compare: all or nothing, one revision. */
void etcd_body_txn(struct strbuf *out, const char *const *keys, const char *const *values,
		   size_t n);
/* {"create_request":{"key":K,"range_end":E,"start_revision":"R",
 *  "progress_notify":true}} */
void etcd_body_watch(struct strbuf *out, const char *key, const char *end, int64_t start);

/* --- calls -------------------------------------------------------------- */
/* One HTTP call to an endpoint: a libcurl easy handle with its body, its
 * headers and the answer. */
struct etcd_call {
	CURL *h;
	struct curl_slist *hdrs;
	struct strbuf body, resp;
	char curl_err[CURL_ERROR_SIZE];
	long http;
	/* A stream (watch): each whole JSON object of the answer is handed to
	 * ON_OBJECT as it arrives instead of kept in RESP; it returns false
	 * to end the transfer. */
	bool (*on_object)(void *ctx, json_object *o);
	void *ctx;
	json_tokener *tok;
	bool stopped; /* ON_OBJECT ended it */
};

/* Sets CALL up for POST PATH to endpoint URL with the body BODY (copied);
 * STREAM: no overall timeout, the hasleader header, objects to ON_OBJECT.
 * 0 or -ENOMEM. */
int etcd_call_init(struct etcd_call *call, const struct etcd_conf *c, const char *url,
		   const char *path, const char *body, bool stream);
void etcd_call_free(struct etcd_call *call);
/* After the transfer ended with RC: 0 for a success, else -1 and ERR (the
 * endpoint, then curl's or etcd's reason); *CODE etcd's code or -1. */
int etcd_call_result(struct etcd_call *call, CURLcode rc, int *code, char *err);

/* Blocking: POST BODY to PATH on each endpoint in turn until one answers
 * (a connection failure, a timeout or an HTTP 5xx moves on; a 4xx is the
 * answer). On success *RESP (malloc'd) holds the answer. 0, or -1 and ERR
 * (the last endpoint's reason); *CODE as etcd_call_result(). */
int etcd_request(struct etcd_conf *c, const char *path, const char *body, char **resp, int *code,
		 char *err);
/* With C->user set and no token yet: /v3/auth/authenticate, blocking, the
 * token kept in C. 0, or -1 and ERR. */
int etcd_authenticate(struct etcd_conf *c, char *err);

#endif
