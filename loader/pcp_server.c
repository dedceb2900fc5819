// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_server.c - a NAT-PMP/PCP request to its reply and table changes; see
 * pcp_server.h.
 */
#include <string.h>
#include "pcp_server.h"

uint32_t pcp_epoch(const struct pcp_server *srv, uint64_t now)
{
	return now > srv->epoch_origin ? (uint32_t)(now - srv->epoch_origin) : 0;
}

static void count(struct pcp_server *srv, const struct pcp_request *req, uint8_t result)
{
	if (req->kind == PCP_K_NATPMP_UNSUPP_VER ||
	    (req->kind == PCP_K_PCP_OTHER && result == PCP_UNSUPP_VERSION)) {
		srv->stats.unsupp_version++;
		return;
	}
	srv->stats.answered[req->version == PCP_VERSION][req->opcode < 3 ? req->opcode : 3]
			   [result < 14 ? result : 13]++;
}

/* A suggested external address (PCP) other than ours: ignored, or
 * CANNOT_PROVIDE_EXTERNAL under PREFER_FAILURE (RFC 6887 §11.3, §13.2). */
static bool other_address(const struct pcp_request *req, const struct pcp_addr *ext)
{
	static const struct pcp_addr any6;
	struct pcp_addr any4;

	pcp_addr_from_v4(&any4, 0);
	return memcmp(&req->suggested_addr, &any6, sizeof(any6)) &&
	       memcmp(&req->suggested_addr, &any4, sizeof(any4)) &&
	       memcmp(&req->suggested_addr, ext, sizeof(*ext));
}

static size_t map(struct pcp_server *srv, const struct pcp_request *req, uint64_t now,
		  struct pcp_answer *ans, struct pcp_change *ch)
{
	bool pcp = req->version == PCP_VERSION;
	struct pcp_map_req q = {.client = req->client,
				.protocol = req->protocol,
				.internal_port = req->internal_port,
				.suggested_port = req->suggested_port,
				.lifetime = req->lifetime,
				.pcp = pcp,
				.prefer_failure = req->prefer_failure};
	struct pcp_map_res res;
	size_t n;

	if (pcp && req->prefer_failure && req->lifetime && other_address(req, &ans->external)) {
		ans->result = PCP_CANNOT_PROVIDE_EXTERNAL;
		return 0;
	}
	memcpy(q.nonce, req->nonce, PCP_NONCE_LEN);
	n = pcp_lease_map(srv->leases, &q, now, &res, ch);
	ans->result = pcp_lease_code(res.result, pcp);
	ans->internal_port = res.internal_port;
	ans->external_port = res.external_port;
	ans->lifetime = res.lifetime;
	if (res.result == PCP_L_QUOTA)
		srv->stats.quota_refusals++;
	if (pcp && n == 1 && ch[0].op != PCP_CH_DEL && (req->nfilters || req->filter_clear)) {
		ch[0].filter_set = true;
		ch[0].nfilters = req->nfilters;
		memcpy(ch[0].filter, req->filter, sizeof(req->filter));
	}
	return n;
}

static size_t decide(struct pcp_server *srv, const struct pcp_request *req, bool authorized,
		     uint64_t now, struct pcp_answer *ans, struct pcp_change *ch)
{
	bool pcp = req->version == PCP_VERSION, v4 = pcp_addr_is_v4(&req->client);

	ans->internal_port = req->internal_port;
	if (!authorized) {
		ans->result = pcp ? PCP_NOT_AUTHORIZED : NATPMP_NOT_AUTHORIZED;
		return 0;
	}
	if (req->kind == PCP_K_PCP_ANNOUNCE)
		return 0; /* RFC 6887 §14.1.2: SUCCESS, the epoch */
	if (!(v4 ? srv->has_v4 : srv->has_v6)) {
		ans->result = pcp ? PCP_NETWORK_FAILURE : NATPMP_NETWORK_FAILURE;
		return 0;
	}
	ans->external = v4 ? srv->external_v4 : srv->external_v6;
	if (req->kind == PCP_K_NATPMP_ADDR)
		return 0;
	return map(srv, req, now, ans, ch);
}

size_t pcp_handle(struct pcp_server *srv, const uint8_t *buf, size_t len,
		  const struct pcp_addr *src, bool authorized, uint64_t now, uint8_t *out,
		  size_t *out_len, struct pcp_change *ch)
{
	struct pcp_answer ans = {0};
	struct pcp_request req;
	enum pcp_verdict v;
	size_t n = 0;

	*out_len = 0;
	if (!pcp_lease_admit(srv->leases, src, now)) {
		srv->stats.rate_limited++; /* RFC 6887 §8.2: MAY silently discard */
		return 0;
	}
	v = pcp_parse(buf, len, src, &req);
	if (v == PCP_DROP) {
		srv->stats.dropped++;
		return 0;
	}
	if (v == PCP_ANSWER) {
		ans.result = req.result;
		ans.internal_port = req.internal_port;
	} else {
		n = decide(srv, &req, authorized, now, &ans, ch);
	}
	*out_len = pcp_build_reply(&req, buf, len, &ans, pcp_epoch(srv, now), out);
	count(srv, &req, ans.result);
	return n;
}
