/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pcp_wire.h - NAT-PMP (RFC 6886, version 0) and PCP (RFC 6887, version 2)
 * on the wire: pure functions, no I/O, no state.
 *
 * pcp_parse() reads one request datagram (bytes as received on UDP 5351,
 * its length, its source address) and decides: drop it, answer it with an
 * error the wire alone decides (PCP_ANSWER), or hand a parsed request to the
 * lease rules (PCP_HANDLE). pcp_build_reply() writes the reply byte for
 * byte from the request's own bytes and an answer. All multi-byte fields on
 * the wire are big-endian (network order); every field of the structs
 * below is in host order. Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), the PCP encoding (RFC 6887 §5), for both protocols.
 */
#ifndef XDPFWD_PCP_WIRE_H
#define XDPFWD_PCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCP_SERVER_PORT 5351 /* RFC 6886 §3.1, RFC 6887 §19.1 */
#define PCP_CLIENT_PORT 5350 /* announcements go there (RFC 6886 §3.2.1) */
#define PCP_MAX_MSG	1100 /* RFC 6887 §7: no PCP message is longer */
#define PCP_HDR_LEN	24   /* RFC 6887 §7.1/§7.2 common header */
#define PCP_MAP_LEN	36   /* RFC 6887 §11.1 MAP opcode data */
#define PCP_NONCE_LEN	12   /* RFC 6887 §11.1 mapping nonce, 96 bits */
/* The most FILTER options one MAP may carry: a mapping's allowlist
 * (XDPFWD_MAX_ALLOW in xdpfwd.h); more is EXCESSIVE_REMOTE_PEERS. */
#define PCP_MAX_FILTERS		 16
#define PCP_LONG_ERROR_LIFETIME	 1800 /* RFC 6887 §7.4, RECOMMENDED */
#define PCP_SHORT_ERROR_LIFETIME 30   /* RFC 6887 §7.4, RECOMMENDED */

#define NATPMP_VERSION	      0
#define PCP_VERSION	      2
#define NATPMP_ADDR_REPLY_LEN 12 /* RFC 6886 §3.2 */
#define NATPMP_MAP_REQ_LEN    12 /* RFC 6886 §3.3 */
#define NATPMP_MAP_REPLY_LEN  16 /* RFC 6886 §3.3 */
#define NATPMP_UNSUPP_VER_LEN 8	 /* RFC 6886 §3.5 */

/* Opcodes. NAT-PMP: RFC 6886 §3.2, §3.3; PCP: RFC 6887 §19.2. */
enum {
	NATPMP_OP_ADDR = 0,
	NATPMP_OP_MAP_UDP = 1,
	NATPMP_OP_MAP_TCP = 2,
	PCP_OP_ANNOUNCE = 0,
	PCP_OP_MAP = 1,
	PCP_OP_PEER = 2,
};

/* NAT-PMP result codes, RFC 6886 §3.5 (16 bits on the wire). */
enum natpmp_result {
	NATPMP_SUCCESS = 0,
	NATPMP_UNSUPP_VERSION = 1,
	NATPMP_NOT_AUTHORIZED = 2,
	NATPMP_NETWORK_FAILURE = 3,
	NATPMP_OUT_OF_RESOURCES = 4,
	NATPMP_UNSUPP_OPCODE = 5,
};

/* PCP result codes, RFC 6887 §7.4 (8 bits on the wire). */
enum pcp_result {
	PCP_SUCCESS = 0,
	PCP_UNSUPP_VERSION = 1,
	PCP_NOT_AUTHORIZED = 2,
	PCP_MALFORMED_REQUEST = 3,
	PCP_UNSUPP_OPCODE = 4,
	PCP_UNSUPP_OPTION = 5,
	PCP_MALFORMED_OPTION = 6,
	PCP_NETWORK_FAILURE = 7,
	PCP_NO_RESOURCES = 8,
	PCP_UNSUPP_PROTOCOL = 9,
	PCP_USER_EX_QUOTA = 10,
	PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	PCP_ADDRESS_MISMATCH = 12,
	PCP_EXCESSIVE_REMOTE_PEERS = 13,
};

/* PCP option codes, RFC 6887 §13; codes >= 128 are optional to process. */
enum {
	PCP_OPT_THIRD_PARTY = 1,
	PCP_OPT_PREFER_FAILURE = 2,
	PCP_OPT_FILTER = 3,
};

/* What to do with a datagram. */
enum pcp_verdict {
	PCP_DROP,   /* send nothing (RFC 6886 §3.5, RFC 6887 §8.2) */
	PCP_ANSWER, /* reply with req->result, decided by the wire alone */
	PCP_HANDLE, /* a valid request: the lease rules decide the answer */
};

/* What a request is, which decides the reply's format. */
enum pcp_kind {
	PCP_K_NATPMP_ADDR,	 /* v0 op 0: 12-byte reply */
	PCP_K_NATPMP_MAP,	 /* v0 op 1, 2: 16-byte reply */
	PCP_K_NATPMP_UNSUPP_OP,	 /* v0 op 3..127: the request echoed */
	PCP_K_NATPMP_UNSUPP_VER, /* other version, NAT-PMP shaped: 8 bytes */
	PCP_K_PCP_ANNOUNCE,	 /* v2 op 0 */
	PCP_K_PCP_MAP,		 /* v2 op 1 */
	PCP_K_PCP_OTHER,	 /* any other PCP-format reply (errors) */
};

struct pcp_addr {
	uint8_t b[16]; /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
};

/* One PCP FILTER option (RFC 6887 §13.3, erratum 3891). */
struct pcp_filter {
	uint8_t prefix_len; /* of the 128-bit form: 97-128 for IPv4, 1-128 IPv6 */
	uint16_t port;	    /* remote peer port: always 0 (others are refused) */
	struct pcp_addr addr;
};

/* A parsed request. Fields past `kind` are meaningful only for the kinds
 * that carry them (MAP: both protocols; options: PCP MAP). */
struct pcp_request {
	enum pcp_kind kind;
	uint8_t version;	/* 0 or 2 for PCP_HANDLE; as received otherwise */
	uint8_t opcode;		/* without the R bit */
	uint8_t result;		/* PCP_ANSWER: the result code (NAT-PMP or PCP) */
	bool parsed;		/* PCP: the request parsed (reserved field zeroed) */
	uint32_t lifetime;	/* requested, seconds */
	struct pcp_addr client; /* the source address (PCP: equal to the field) */
	uint8_t nonce[PCP_NONCE_LEN];
	uint8_t protocol;	/* IANA number: 6 TCP, 17 UDP, 0 all (PCP) */
	uint16_t internal_port; /* 0: all ports (delete-all, or policy) */
	uint16_t suggested_port;
	struct pcp_addr suggested_addr; /* PCP; all zero: no preference */
	bool prefer_failure;		/* PCP option 2 */
	bool filter_clear;		/* a FILTER with prefix length 0 */
	uint8_t nfilters;
	struct pcp_filter filter[PCP_MAX_FILTERS];
	size_t options_off; /* PCP: where the options start in the request */
	size_t len;	    /* the request's length as received */
};

/* The answer to a request, in host order. */
struct pcp_answer {
	uint8_t result;		  /* NAT-PMP or PCP code, by the request's version */
	uint32_t lifetime;	  /* granted; an error's lifetime is set by the builder */
	uint16_t internal_port;	  /* NAT-PMP map reply: the internal port to report */
	uint16_t external_port;	  /* assigned; 0 on deletes and failures */
	struct pcp_addr external; /* assigned (PCP MAP), or the NAT-PMP address */
};

/*
 * Reads the datagram BUF of LEN bytes from SRC into REQ and decides, in the
 * RFCs' order:
 *   - drop: LEN < 2; bit 7 of byte 1 set (NAT-PMP opcode >= 128, RFC 6886
 *     §3.5; PCP R bit, RFC 6887 §8.2); a NAT-PMP map shorter than 12 bytes;
 *     a PCP message shorter than 24 bytes (§8.2);
 *   - version other than 0 and 2 (1 included, RFC 6886 §1.1): Unsupported
 *     Version in the format the request has: 24 bytes or more is PCP
 *     (UNSUPP_VERSION, version 2, RFC 6887 §9), shorter is NAT-PMP (result 1,
 *     8 bytes, RFC 6886 §3.5 with erratum 3618);
 *   - NAT-PMP opcode 3..127: the request echoed with result 5 (§3.5);
 *     a NAT-PMP request from an IPv6 source: Not Authorized (the protocol is
 *     IPv4 only, RFC 6886 §1);
 *   - PCP (§8.2, §7.3, §11): over 1100 bytes, not a multiple of 4, or too
 *     short for the opcode: MALFORMED_REQUEST; opcodes other than ANNOUNCE
 *     and MAP: UNSUPP_OPCODE; client field != SRC: ADDRESS_MISMATCH; an option
 *     that runs past the end, has the wrong length, repeats, or does not
 *     belong to the opcode: MALFORMED_OPTION; an unknown option < 128:
 *     UNSUPP_OPTION (>= 128 are ignored); THIRD_PARTY: MALFORMED_REQUEST if it
 *     names SRC (§13.1), else UNSUPP_OPTION (not offered); PREFER_FAILURE with
 *     no suggestion: MALFORMED_OPTION; a FILTER with a bad prefix length
 *     (erratum 3891: 97-128 IPv4-mapped, 1-128 IPv6, 0 clears) or of the
 *     other family than the client: MALFORMED_OPTION; a FILTER with a remote
 *     port: UNSUPP_OPTION (xdpfwd's allowlists hold prefixes only, and a
 *     filter is never applied looser than asked); more than PCP_MAX_FILTERS
 *     FILTERs: EXCESSIVE_REMOTE_PEERS; MAP protocol 0 with a port: MALFORMED_REQUEST;
 *     a protocol other than TCP and UDP, or protocol 0 with a lifetime:
 *     UNSUPP_PROTOCOL.
 * Never reads past BUF + LEN. Returns the verdict; REQ is filled for
 * PCP_ANSWER and PCP_HANDLE.
 */
enum pcp_verdict pcp_parse(const uint8_t *buf, size_t len, const struct pcp_addr *src,
			   struct pcp_request *req);

/*
 * Writes the reply to REQ (parsed from RAW, its LEN bytes) with ANS into
 * OUT (room for PCP_MAX_MSG bytes) and returns its length:
 *   - NAT-PMP address: 12 bytes {0, 128, result, epoch, address (0 on error)};
 *   - NAT-PMP map: 16 bytes {0, 128+op, result, epoch, internal port, external
 *     port, lifetime}, a failure with external port 0 and lifetime 0
 *     (RFC 6886 §3.3, §3.5);
 *   - NAT-PMP unsupported opcode: the request (at least 4 bytes, at most
 *     1100) with 128 added to the opcode and result 5 (§3.5: "the entire
 *     request MUST be returned"), the one reply that has no epoch;
 *   - NAT-PMP unsupported version: 8 bytes {0, 128+op, 1, epoch};
 *   - PCP: the request copied (at most 1100 bytes, §8.2), R set, the result,
 *     the lifetime (errors: 1800 s for long errors, 30 s for short ones,
 *     §7.4), the epoch; the reserved 96 bits keep the last 96 bits of the
 *     client field when the request did not parse, else are 0 (§7.2). A
 *     successful MAP carries the assigned port and address and echoes only
 *     the options it processed (PREFER_FAILURE, FILTER); an error copies the
 *     request whole, the suggested port and address standing as the assigned
 *     ones (§11.1). ANNOUNCE: 24 bytes, lifetime 0 (§14.1).
 */
size_t pcp_build_reply(const struct pcp_request *req, const uint8_t *raw, size_t len,
		       const struct pcp_answer *ans, uint32_t epoch, uint8_t *out);

/* The lifetime of a PCP error reply (RFC 6887 §7.4): 30 s for the short
 * errors (NETWORK_FAILURE, NO_RESOURCES, USER_EX_QUOTA), 1800 s else. */
uint32_t pcp_error_lifetime(uint8_t result);
/* The PCP unsolicited ANNOUNCE (RFC 6887 §14.1.3): 24 bytes, R set, lifetime
 * 0, the epoch. Written to OUT; returns 24. */
size_t pcp_build_announce(uint32_t epoch, uint8_t *out);
/* The NAT-PMP address announcement (RFC 6886 §3.2.1): a 12-byte success
 * reply to opcode 0 with ADDR (IPv4-mapped). Returns 12. */
size_t natpmp_build_announce(uint32_t epoch, const struct pcp_addr *addr, uint8_t *out);
/* Whether A is IPv4-mapped (::ffff:0:0/96). */
bool pcp_addr_is_v4(const struct pcp_addr *a);
/* A as IPv4-mapped from the IPv4 address V4 in network order. */
void pcp_addr_from_v4(struct pcp_addr *a, uint32_t v4_be);

#endif
