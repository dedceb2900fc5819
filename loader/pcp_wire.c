// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_wire.c - NAT-PMP and PCP datagrams: parse, decide, build replies.
 * Pure functions; see pcp_wire.h for the rules and the RFC sections.
 */
#include <string.h>
#include "pcp_wire.h"

#define PCP_R_BIT    0x80
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool pcp_addr_is_v4(const struct pcp_addr *a)
{
	return !memcmp(a->b, v4_mapped, sizeof(v4_mapped));
}

void pcp_addr_from_v4(struct pcp_addr *a, uint32_t v4_be)
{
	memcpy(a->b, v4_mapped, sizeof(v4_mapped));
	memcpy(a->b + 12, &v4_be, 4);
}

static bool addr_is_zero(const struct pcp_addr *a)
{
	static const struct pcp_addr zero;

	return !memcmp(a, &zero, sizeof(zero)) ||
	       (pcp_addr_is_v4(a) && !memcmp(a->b + 12, zero.b, 4));
}

uint32_t pcp_error_lifetime(uint8_t result)
{
	switch (result) {
	case PCP_NETWORK_FAILURE:
	case PCP_NO_RESOURCES:
	case PCP_USER_EX_QUOTA:
		return PCP_SHORT_ERROR_LIFETIME;
	default:
		return PCP_LONG_ERROR_LIFETIME;
	}
}

static enum pcp_verdict answer(struct pcp_request *req, enum pcp_kind kind, uint8_t result)
{
	req->kind = kind;
	req->result = result;
	return PCP_ANSWER;
}

/* RFC 6886: version 0. */
static enum pcp_verdict parse_natpmp(const uint8_t *buf, size_t len, struct pcp_request *req)
{
	if (req->opcode > NATPMP_OP_MAP_TCP)
		return answer(req, PCP_K_NATPMP_UNSUPP_OP, NATPMP_UNSUPP_OPCODE);
	req->kind = req->opcode == NATPMP_OP_ADDR ? PCP_K_NATPMP_ADDR : PCP_K_NATPMP_MAP;
	if (req->kind == PCP_K_NATPMP_MAP) {
		if (len < NATPMP_MAP_REQ_LEN)
			return PCP_DROP;
		req->protocol = req->opcode == NATPMP_OP_MAP_UDP ? IPPROTO_UDP_ : IPPROTO_TCP_;
		req->internal_port = get16(buf + 4);
		req->suggested_port = get16(buf + 6);
		req->lifetime = get32(buf + 8);
	}
	if (!pcp_addr_is_v4(&req->client))
		return answer(req, req->kind, NATPMP_NOT_AUTHORIZED);
	return PCP_HANDLE;
}

/* One option of a MAP (RFC 6887 §7.3, §13). OPT points at its header, with
 * DLEN data bytes that lie inside the message. */
static int map_option(const uint8_t *opt, uint16_t dlen, struct pcp_request *req)
{
	uint8_t code = opt[0];

	switch (code) {
	case PCP_OPT_THIRD_PARTY:
		if (dlen != 16)
			return PCP_MALFORMED_OPTION;
		if (!memcmp(opt + 4, req->client.b, 16))
			return PCP_MALFORMED_REQUEST; /* §13.1 */
		return PCP_UNSUPP_OPTION;	      /* not offered */
	case PCP_OPT_PREFER_FAILURE:
		if (dlen != 0 || req->prefer_failure)
			return PCP_MALFORMED_OPTION;
		req->prefer_failure = true;
		return PCP_SUCCESS;
	case PCP_OPT_FILTER: {
		uint8_t plen;
		bool v4;

		if (dlen != 20)
			return PCP_MALFORMED_OPTION;
		plen = opt[5];
		v4 = pcp_addr_is_v4((const struct pcp_addr *)(opt + 8));
		if (plen == 0) {
			req->filter_clear = true;
			return PCP_SUCCESS;
		}
		if (plen > 128 || (v4 && plen < 97) || v4 != pcp_addr_is_v4(&req->client))
			return PCP_MALFORMED_OPTION;
		if (get16(opt + 6))
			return PCP_UNSUPP_OPTION; /* an allowlist has no port: never loosen */
		if (req->nfilters == PCP_MAX_FILTERS)
			return PCP_EXCESSIVE_REMOTE_PEERS;
		req->filter[req->nfilters].prefix_len = plen;
		req->filter[req->nfilters].port = get16(opt + 6);
		memcpy(req->filter[req->nfilters].addr.b, opt + 8, 16);
		req->nfilters++;
		return PCP_SUCCESS;
	}
	default:
		return code < 128 ? PCP_UNSUPP_OPTION : PCP_SUCCESS;
	}
}

/* The options from OFF to LEN (RFC 6887 §7.3): a result code. */
static int parse_options(const uint8_t *buf, size_t len, size_t off, struct pcp_request *req)
{
	int malformed = 0, unsupp = 0, excess = 0;

	while (off < len) {
		uint16_t dlen;
		int rc;

		if (len - off < 4)
			return PCP_MALFORMED_OPTION;
		dlen = get16(buf + off + 2);
		if ((size_t)dlen > len - off - 4)
			return PCP_MALFORMED_OPTION;
		if (req->opcode != PCP_OP_MAP && buf[off] < 128 && buf[off] <= PCP_OPT_FILTER)
			rc = PCP_MALFORMED_OPTION; /* not valid for the opcode */
		else if (req->opcode != PCP_OP_MAP)
			rc = buf[off] < 128 ? PCP_UNSUPP_OPTION : PCP_SUCCESS;
		else
			rc = map_option(buf + off, dlen, req);
		if (rc == PCP_MALFORMED_OPTION || rc == PCP_MALFORMED_REQUEST)
			malformed = malformed ? malformed : rc;
		else if (rc == PCP_UNSUPP_OPTION)
			unsupp = 1;
		else if (rc == PCP_EXCESSIVE_REMOTE_PEERS)
			excess = 1;
		off += 4 + (((size_t)dlen + 3) & ~(size_t)3);
	}
	if (off != len)
		return PCP_MALFORMED_OPTION;
	if (malformed)
		return malformed;
	return unsupp ? PCP_UNSUPP_OPTION : excess ? PCP_EXCESSIVE_REMOTE_PEERS : PCP_SUCCESS;
}

/* The MAP opcode data (RFC 6887 §11.1) and its checks. */
static int parse_map(const uint8_t *buf, struct pcp_request *req)
{
	const uint8_t *m = buf + PCP_HDR_LEN;

	memcpy(req->nonce, m, PCP_NONCE_LEN);
	req->protocol = m[12];
	req->internal_port = get16(m + 16);
	req->suggested_port = get16(m + 18);
	memcpy(req->suggested_addr.b, m + 20, 16);
	if (req->protocol == 0 && req->internal_port != 0)
		return PCP_MALFORMED_REQUEST;
	if (req->protocol == 0 && req->lifetime != 0)
		return PCP_UNSUPP_PROTOCOL; /* an all-protocols mapping is not offered */
	if (req->protocol != 0 && req->protocol != IPPROTO_TCP_ && req->protocol != IPPROTO_UDP_)
		return PCP_UNSUPP_PROTOCOL;
	return PCP_SUCCESS;
}

/* RFC 6887: version 2, LEN >= 24. */
static enum pcp_verdict parse_pcp(const uint8_t *buf, size_t len, struct pcp_request *req)
{
	size_t need;
	int rc;

	req->kind = PCP_K_PCP_OTHER;
	req->lifetime = get32(buf + 4);
	if (len > PCP_MAX_MSG || len % 4)
		return answer(req, PCP_K_PCP_OTHER, PCP_MALFORMED_REQUEST);
	if (req->opcode != PCP_OP_ANNOUNCE && req->opcode != PCP_OP_MAP)
		return answer(req, PCP_K_PCP_OTHER, PCP_UNSUPP_OPCODE);
	req->kind = req->opcode == PCP_OP_MAP ? PCP_K_PCP_MAP : PCP_K_PCP_ANNOUNCE;
	need = PCP_HDR_LEN + (req->opcode == PCP_OP_MAP ? PCP_MAP_LEN : 0);
	if (len < need)
		return answer(req, req->kind, PCP_MALFORMED_REQUEST);
	req->parsed = true;
	if (memcmp(buf + 8, req->client.b, 16))
		return answer(req, req->kind, PCP_ADDRESS_MISMATCH);
	req->options_off = need;
	if (req->opcode == PCP_OP_MAP && (rc = parse_map(buf, req)))
		return answer(req, req->kind, rc);
	rc = parse_options(buf, len, need, req);
	if (rc == PCP_MALFORMED_OPTION)
		req->parsed = false;
	if (!rc && req->prefer_failure && !req->suggested_port &&
	    addr_is_zero(&req->suggested_addr))
		rc = PCP_MALFORMED_OPTION; /* nothing to prefer (§13.2) */
	return rc ? answer(req, req->kind, rc) : PCP_HANDLE;
}

enum pcp_verdict pcp_parse(const uint8_t *buf, size_t len, const struct pcp_addr *src,
			   struct pcp_request *req)
{
	memset(req, 0, sizeof(*req));
	req->len = len;
	req->client = *src;
	if (len < 2 || buf[1] & PCP_R_BIT)
		return PCP_DROP;
	req->version = buf[0];
	req->opcode = buf[1];
	if (req->version == NATPMP_VERSION)
		return parse_natpmp(buf, len, req);
	if (req->version != PCP_VERSION) {
		if (len >= PCP_HDR_LEN)
			return answer(req, PCP_K_PCP_OTHER, PCP_UNSUPP_VERSION);
		return answer(req, PCP_K_NATPMP_UNSUPP_VER, NATPMP_UNSUPP_VERSION);
	}
	if (len < PCP_HDR_LEN)
		return PCP_DROP;
	return parse_pcp(buf, len, req);
}

static size_t build_natpmp(const struct pcp_request *req, const uint8_t *raw, size_t len,
			   const struct pcp_answer *ans, uint32_t epoch, uint8_t *out)
{
	bool ok = ans->result == NATPMP_SUCCESS;

	out[0] = NATPMP_VERSION;
	out[1] = 128 + req->opcode;
	put16(out + 2, ans->result);
	put32(out + 4, epoch);
	switch (req->kind) {
	case PCP_K_NATPMP_ADDR:
		memcpy(out + 8, ok ? ans->external.b + 12 : (const uint8_t *)"\0\0\0\0", 4);
		return NATPMP_ADDR_REPLY_LEN;
	case PCP_K_NATPMP_MAP:
		put16(out + 8, ans->internal_port);
		put16(out + 10, ok ? ans->external_port : 0);
		put32(out + 12, ok ? ans->lifetime : 0);
		return NATPMP_MAP_REPLY_LEN;
	case PCP_K_NATPMP_UNSUPP_OP:
		len = len > PCP_MAX_MSG ? PCP_MAX_MSG : len;
		memset(out, 0, 4);
		memcpy(out, raw, len);
		out[1] = raw[1] | 128;
		put16(out + 2, NATPMP_UNSUPP_OPCODE);
		return len < 4 ? 4 : len;
	default:
		put16(out + 2, NATPMP_UNSUPP_VERSION);
		return NATPMP_UNSUPP_VER_LEN;
	}
}

/* The options of RAW from OFF that a successful MAP echoes: those it
 * processed (RFC 6887 §7.3). Returns the new length of OUT. */
static size_t echo_options(const uint8_t *raw, size_t len, size_t off, uint8_t *out, size_t olen)
{
	while (off + 4 <= len) {
		size_t n = 4 + (((size_t)get16(raw + off + 2) + 3) & ~(size_t)3);

		if (n > len - off)
			break;
		if (raw[off] == PCP_OPT_PREFER_FAILURE || raw[off] == PCP_OPT_FILTER) {
			memcpy(out + olen, raw + off, n);
			olen += n;
		}
		off += n;
	}
	return olen;
}

static size_t build_pcp(const struct pcp_request *req, const uint8_t *raw, size_t len,
			const struct pcp_answer *ans, uint32_t epoch, uint8_t *out)
{
	bool ok = ans->result == PCP_SUCCESS;
	size_t n = len > PCP_MAX_MSG ? PCP_MAX_MSG : len;

	if (ok && req->kind == PCP_K_PCP_ANNOUNCE)
		n = PCP_HDR_LEN;
	else if (ok)
		n = req->options_off;
	memcpy(out, raw, n);
	out[0] = PCP_VERSION;
	out[1] = req->opcode | PCP_R_BIT;
	out[2] = 0;
	out[3] = ans->result;
	put32(out + 4, ok ? ans->lifetime : pcp_error_lifetime(ans->result));
	put32(out + 8, epoch);
	if (req->parsed)
		memset(out + 12, 0, 12);
	if (ok && req->kind == PCP_K_PCP_ANNOUNCE)
		put32(out + 4, 0);
	if (ok && req->kind == PCP_K_PCP_MAP) {
		memset(out + PCP_HDR_LEN + 13, 0, 3);
		put16(out + PCP_HDR_LEN + 18, ans->external_port);
		memcpy(out + PCP_HDR_LEN + 20, ans->external.b, 16);
		n = echo_options(raw, len, req->options_off, out, n);
	}
	return n;
}

size_t pcp_build_reply(const struct pcp_request *req, const uint8_t *raw, size_t len,
		       const struct pcp_answer *ans, uint32_t epoch, uint8_t *out)
{
	if (req->kind <= PCP_K_NATPMP_UNSUPP_VER)
		return build_natpmp(req, raw, len, ans, epoch, out);
	return build_pcp(req, raw, len, ans, epoch, out);
}

size_t pcp_build_announce(uint32_t epoch, uint8_t *out)
{
	memset(out, 0, PCP_HDR_LEN);
	out[0] = PCP_VERSION;
	out[1] = PCP_OP_ANNOUNCE | PCP_R_BIT;
	put32(out + 8, epoch);
	return PCP_HDR_LEN;
}

size_t natpmp_build_announce(uint32_t epoch, const struct pcp_addr *addr, uint8_t *out)
{
	out[0] = NATPMP_VERSION;
	out[1] = 128;
	put16(out + 2, NATPMP_SUCCESS);
	put32(out + 4, epoch);
	memcpy(out + 8, addr->b + 12, 4);
	return NATPMP_ADDR_REPLY_LEN;
}
