// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * NAT-PMP (RFC 6886) and PCP (RFC 6887) on the wire: each case is a request
 * datagram in hex, its source, the verdict pcp_parse() must reach and the
 * exact reply pcp_build_reply() must write (epoch 100), with the answer the
 * lease rules would give for the requests they handle. The expected bytes
 * are written out by hand from the RFCs' figures, not built by the code under
 * test. Each case names the RFC rule (notes A.2, A.3 of dynamic-ports.md).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "pcp_wire.h"

#define EPOCH "00000064"			 /* 100 s */
#define CLI4  "00000000000000000000ffff0a080002" /* ::ffff:10.8.0.2, the source */
#define OTH4  "00000000000000000000ffff0a080003" /* ::ffff:10.8.0.3 */
#define EXT4  "00000000000000000000ffffcb007101" /* ::ffff:203.0.113.1 */
#define ZERO4 "00000000000000000000ffff00000000"
#define NONCE "0102030405060708090a0b0c"
/* The last 96 bits of the client field, kept in an unparsed error reply. */
#define CLI4_TAIL "000000000000ffff0a080002"
#define RESV	  "000000000000000000000000"
/* PCP request header: version 2, opcode, reserved, lifetime, client. */
#define REQ(op, life, client) "02" op "0000" life client
/* MAP data: nonce, protocol, reserved, internal port, suggested port and address. */
#define MAPD(proto, iport, sport, addr) NONCE proto "000000" iport sport addr
#define MAP_UDP_40000			MAPD("11", "9c40", "9c40", ZERO4)
#define OPT_PREFER			"02000000"
#define OPT_FILTER(plen, port, addr) \
	"03000014"                   \
	"00" plen port addr

enum { DROP = PCP_DROP, ANSWER = PCP_ANSWER, HANDLE = PCP_HANDLE };

struct wire_case {
	const char *name;
	const char *req; /* hex; "@N" appends N zero bytes */
	bool src6;	 /* the source is 2001:db8::2, else 10.8.0.2 */
	int verdict;
	int result;	       /* PCP_ANSWER: the result decided */
	struct pcp_answer ans; /* PCP_HANDLE: the lease rules' answer */
	const char *reply;     /* hex, exactly; NULL for DROP */
};

#define OK_MAP(eport, life)                                                                    \
	{                                                                                      \
		.result = 0, .lifetime = life, .internal_port = 40000, .external_port = eport, \
		.external = {                                                                  \
			{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1}             \
		}                                                                              \
	}

static const struct wire_case wire_cases[] = {
    /* A.2 sizes and dropping (RFC 6886 §3.5, RFC 6887 §8.2) */
    {"empty datagram: dropped", "", false, DROP, 0, {0}, NULL},
    {"one byte: dropped (6887 §8.2)", "00", false, DROP, 0, {0}, NULL},
    {"NAT-PMP opcode 0x81 (>= 128): dropped (6886 §3.5)", "0081", false, DROP, 0, {0}, NULL},
    {"NAT-PMP map of 8 bytes: dropped", "000100009c409c40", false, DROP, 0, {0}, NULL},
    {"PCP with the R bit: dropped (6887 §8.2)",
     REQ("81", "00000e10", CLI4) MAP_UDP_40000,
     false,
     DROP,
     0,
     {0},
     NULL},
    {"PCP of 20 bytes: dropped (6887 §8.2)",
     "0201000000000e10"
     "@12",
     false,
     DROP,
     0,
     {0},
     NULL},
    /* NAT-PMP replies: exactly 12 and 16 bytes (6886 §3.2, §3.3) */
    {"NAT-PMP address: 12 bytes with the address and the epoch", "0000", false, HANDLE, 0,
     OK_MAP(0, 0),
     "0080"
     "0000" EPOCH "cb007101"},
    {"NAT-PMP address refused: address zero",
     "0000",
     false,
     HANDLE,
     0,
     {.result = NATPMP_NETWORK_FAILURE},
     "0080"
     "0003" EPOCH "00000000"},
    {"NAT-PMP map: 16 bytes",
     "0001"
     "0000"
     "9c40"
     "9c40"
     "00000e10",
     false, HANDLE, 0, OK_MAP(41000, 3600),
     "0081"
     "0000" EPOCH "9c40"
     "a028"
     "00000e10"},
    {"NAT-PMP map, TCP, trailing bytes ignored",
     "0002"
     "0000"
     "9c40"
     "0000"
     "0000003c"
     "ffff",
     false, HANDLE, 0, OK_MAP(50326, 60),
     "0082"
     "0000" EPOCH "9c40"
     "c496"
     "0000003c"},
    {"NAT-PMP failure: external port 0, lifetime 0 (6886 §3.5)",
     "0001"
     "0000"
     "9c40"
     "9c40"
     "00000e10",
     false,
     HANDLE,
     0,
     {.result = NATPMP_OUT_OF_RESOURCES,
      .internal_port = 40000,
      .external_port = 41000,
      .lifetime = 3600},
     "0081"
     "0004" EPOCH "9c40"
     "0000"
     "00000000"},
    {"NAT-PMP from an IPv6 source: Not Authorized",
     "0001"
     "0000"
     "9c40"
     "9c40"
     "00000e10",
     true,
     ANSWER,
     NATPMP_NOT_AUTHORIZED,
     {.result = 2, .internal_port = 40000},
     "0081"
     "0002" EPOCH "9c40"
     "0000"
     "00000000"},
    /* A.2.8 unsupported NAT-PMP opcode: the whole request echoed */
    {"NAT-PMP opcode 3: the 12-byte request echoed, op 131, result 5",
     "0003"
     "0000"
     "9c40"
     "9c40"
     "00000e10",
     false,
     ANSWER,
     NATPMP_UNSUPP_OPCODE,
     {.result = 5},
     "0083"
     "0005"
     "9c40"
     "9c40"
     "00000e10"},
    {"NAT-PMP opcode 127, 2 bytes: 4 bytes back",
     "007f",
     false,
     ANSWER,
     NATPMP_UNSUPP_OPCODE,
     {.result = 5},
     "00ff"
     "0005"},
    /* A.2.9 versions */
    {"version 1, 2 bytes: NAT-PMP Unsupported Version (6886 §3.5, erratum 3618)",
     "0100",
     false,
     ANSWER,
     NATPMP_UNSUPP_VERSION,
     {.result = 1},
     "0080"
     "0001" EPOCH},
    {"version 1 map, 12 bytes: 8-byte Unsupported Version, op 129",
     "0101"
     "0000"
     "9c40"
     "9c40"
     "00000e10",
     false,
     ANSWER,
     NATPMP_UNSUPP_VERSION,
     {.result = 1},
     "0081"
     "0001" EPOCH},
    {"version 3, PCP-sized: UNSUPP_VERSION with version 2 (6887 §9), 1800 s",
     "03010000"
     "00000e10" CLI4,
     false,
     ANSWER,
     PCP_UNSUPP_VERSION,
     {.result = 1},
     "0281"
     "0001"
     "00000708" EPOCH CLI4_TAIL},
    {"version 1, a draft PCP MAP: UNSUPP_VERSION, the request copied",
     "01010000"
     "00000e10" CLI4 MAP_UDP_40000,
     false,
     ANSWER,
     PCP_UNSUPP_VERSION,
     {.result = 1},
     "0281"
     "0001"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000},
    /* A.2.10 PCP sizes */
    {"PCP of 62 bytes: MALFORMED_REQUEST, 62 bytes back, client tail kept",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "0000",
     false,
     ANSWER,
     PCP_MALFORMED_REQUEST,
     {.result = 3},
     "0281"
     "0003"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 "0000"},
    {"PCP MAP of 40 bytes (short for MAP): MALFORMED_REQUEST",
     REQ("01", "00000e10", CLI4) NONCE "11000000",
     false,
     ANSWER,
     PCP_MALFORMED_REQUEST,
     {.result = 3},
     "0281"
     "0003"
     "00000708" EPOCH CLI4_TAIL NONCE "11000000"},
    /* A.2.14 opcodes and protocols */
    {"PCP PEER: UNSUPP_OPCODE",
     REQ("02", "00000e10", CLI4) MAP_UDP_40000 "@20",
     false,
     ANSWER,
     PCP_UNSUPP_OPCODE,
     {.result = 4},
     "0282"
     "0004"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 "@20"},
    {"PCP opcode 9: UNSUPP_OPCODE",
     REQ("09", "00000000", CLI4),
     false,
     ANSWER,
     PCP_UNSUPP_OPCODE,
     {.result = 4},
     "0289"
     "0004"
     "00000708" EPOCH CLI4_TAIL},
    {"PCP MAP protocol 0 with a port: MALFORMED_REQUEST",
     REQ("01", "00000e10", CLI4) MAPD("00", "9c40", "9c40", ZERO4),
     false,
     ANSWER,
     PCP_MALFORMED_REQUEST,
     {.result = 3},
     "0281"
     "0003"
     "00000708" EPOCH RESV MAPD("00", "9c40", "9c40", ZERO4)},
    {"PCP MAP SCTP: UNSUPP_PROTOCOL",
     REQ("01", "00000e10", CLI4) MAPD("84", "9c40", "9c40", ZERO4),
     false,
     ANSWER,
     PCP_UNSUPP_PROTOCOL,
     {.result = 9},
     "0281"
     "0009"
     "00000708" EPOCH RESV MAPD("84", "9c40", "9c40", ZERO4)},
    /* A.1.2 ADDRESS_MISMATCH (6887 §8.2) */
    {"PCP MAP with another client's address: ADDRESS_MISMATCH",
     REQ("01", "00000e10", OTH4) MAP_UDP_40000,
     false,
     ANSWER,
     PCP_ADDRESS_MISMATCH,
     {.result = 12},
     "0281"
     "000c"
     "00000708" EPOCH RESV MAP_UDP_40000},
    /* A.2.11 success and error replies copy the request */
    {"PCP MAP success: nonce, protocol, port echoed; assigned port and address",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000, false, HANDLE, 0, OK_MAP(41000, 3600),
     "0281"
     "0000"
     "00000e10" EPOCH RESV MAPD("11", "9c40", "a028", EXT4)},
    {"PCP MAP short error: the request copied, 30 s (NO_RESOURCES)",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000,
     false,
     HANDLE,
     0,
     {.result = PCP_NO_RESOURCES},
     "0281"
     "0008"
     "0000001e" EPOCH RESV MAP_UDP_40000},
    {"PCP MAP quota: USER_EX_QUOTA, 30 s",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000,
     false,
     HANDLE,
     0,
     {.result = PCP_USER_EX_QUOTA},
     "0281"
     "000a"
     "0000001e" EPOCH RESV MAP_UDP_40000},
    {"PCP MAP long error: NOT_AUTHORIZED, 1800 s",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000,
     false,
     HANDLE,
     0,
     {.result = PCP_NOT_AUTHORIZED},
     "0281"
     "0002"
     "00000708" EPOCH RESV MAP_UDP_40000},
    {"PCP delete: success, lifetime 0, port 0", REQ("01", "00000000", CLI4) MAP_UDP_40000, false,
     HANDLE, 0, OK_MAP(0, 0),
     "0281"
     "0000"
     "00000000" EPOCH RESV MAPD("11", "9c40", "0000", EXT4)},
    {"PCP ANNOUNCE: 24 bytes, lifetime 0 (6887 §14.1.2)",
     REQ("00", "00000000", CLI4),
     false,
     HANDLE,
     0,
     {0},
     "0280"
     "0000"
     "00000000" EPOCH RESV},
    /* A.2.13 options (6887 §7.3, §13) */
    {"unknown mandatory option 99: UNSUPP_OPTION, echoed",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "63000004"
					       "deadbeef",
     false,
     ANSWER,
     PCP_UNSUPP_OPTION,
     {.result = 5},
     "0281"
     "0005"
     "00000708" EPOCH RESV MAP_UDP_40000 "63000004"
     "deadbeef"},
    {"unknown optional option 200: ignored, not echoed",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "c8000004"
					       "deadbeef",
     false, HANDLE, 0, OK_MAP(41000, 3600),
     "0281"
     "0000"
     "00000e10" EPOCH RESV MAPD("11", "9c40", "a028", EXT4)},
    {"option past the end: MALFORMED_OPTION",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "c8000008"
					       "deadbeef",
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0281"
     "0006"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 "c8000008"
     "deadbeef"},
    {"THIRD_PARTY for another host: UNSUPP_OPTION (not offered)",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "01000010" OTH4,
     false,
     ANSWER,
     PCP_UNSUPP_OPTION,
     {.result = 5},
     "0281"
     "0005"
     "00000708" EPOCH RESV MAP_UDP_40000 "01000010" OTH4},
    {"THIRD_PARTY naming the source: MALFORMED_REQUEST (6887 §13.1)",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "01000010" CLI4,
     false,
     ANSWER,
     PCP_MALFORMED_REQUEST,
     {.result = 3},
     "0281"
     "0003"
     "00000708" EPOCH RESV MAP_UDP_40000 "01000010" CLI4},
    {"PREFER_FAILURE twice: MALFORMED_OPTION",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 OPT_PREFER OPT_PREFER,
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0281"
     "0006"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 OPT_PREFER OPT_PREFER},
    {"PREFER_FAILURE with data: MALFORMED_OPTION",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 "02000004"
					       "00000000",
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0281"
     "0006"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 "02000004"
     "00000000"},
    {"PREFER_FAILURE without a suggestion: MALFORMED_OPTION (6887 §13.2)",
     REQ("01", "00000e10", CLI4) MAPD("11", "9c40", "0000", ZERO4) OPT_PREFER,
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0281"
     "0006"
     "00000708" EPOCH RESV MAPD("11", "9c40", "0000", ZERO4) OPT_PREFER},
    {"PREFER_FAILURE on ANNOUNCE: MALFORMED_OPTION",
     REQ("00", "00000000", CLI4) OPT_PREFER,
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0280"
     "0006"
     "00000708" EPOCH CLI4_TAIL OPT_PREFER},
    {"PREFER_FAILURE success: echoed",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 OPT_PREFER,
     false,
     HANDLE,
     0,
     {.result = 0,
      .lifetime = 3600,
      .internal_port = 40000,
      .external_port = 40000,
      .external = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1}}},
     "0281"
     "0000"
     "00000e10" EPOCH RESV MAPD("11", "9c40", "9c40", EXT4) OPT_PREFER},
    {"FILTER 198.51.100.7/32: accepted and echoed",
     REQ("01", "00000e10", CLI4)
	 MAP_UDP_40000 OPT_FILTER("80", "0000", "00000000000000000000ffffc6336407"),
     false, HANDLE, 0, OK_MAP(41000, 3600),
     "0281"
     "0000"
     "00000e10" EPOCH RESV MAPD("11", "9c40", "a028", EXT4)
	 OPT_FILTER("80", "0000", "00000000000000000000ffffc6336407")},
    {"FILTER /0 of IPv4 (prefix 96): MALFORMED_OPTION (erratum 3891)",
     REQ("01", "00000e10", CLI4) MAP_UDP_40000 OPT_FILTER("60", "0000", ZERO4),
     false,
     ANSWER,
     PCP_MALFORMED_OPTION,
     {.result = 6},
     "0281"
     "0006"
     "00000708" EPOCH CLI4_TAIL MAP_UDP_40000 OPT_FILTER("60", "0000", ZERO4)},
    {"FILTER with a remote port: UNSUPP_OPTION (never applied looser)",
     REQ("01", "00000e10", CLI4)
	 MAP_UDP_40000 OPT_FILTER("80", "1f90", "00000000000000000000ffffc6336407"),
     false,
     ANSWER,
     PCP_UNSUPP_OPTION,
     {.result = 5},
     "0281"
     "0005"
     "00000708" EPOCH RESV MAP_UDP_40000 OPT_FILTER("80", "1f90",
						    "00000000000000000000ffffc6336407")},
};

/* HEX to bytes; "@N" stands for N zero bytes. Returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex && n < cap) {
		if (*hex == '@') {
			char *end;
			unsigned long z = strtoul(hex + 1, &end, 10);

			for (; z && n < cap; z--)
				out[n++] = 0;
			hex = end;
			continue;
		}
		if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
			return (size_t)-1;
		char b[3] = {hex[0], hex[1], 0};
		out[n++] = (uint8_t)strtoul(b, NULL, 16);
		hex += 2;
	}
	return n;
}

static void print_hex(const char *what, const uint8_t *b, size_t n)
{
	fprintf(stderr, "    %s (%zu):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 4 ? "" : " ", b[i]);
	fprintf(stderr, "\n");
}

static void source(bool v6, struct pcp_addr *a)
{
	static const uint8_t six[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

	if (v6)
		memcpy(a->b, six, 16);
	else
		pcp_addr_from_v4(a, htonl(0x0a080002));
}

static void run_wire(const struct wire_case *c)
{
	static uint8_t req[2048], want[2048], got[PCP_MAX_MSG];
	size_t len = unhex(c->req, req, sizeof(req)), wlen, glen;
	struct pcp_request r;
	struct pcp_addr src;
	enum pcp_verdict v;

	source(c->src6, &src);
	v = pcp_parse(req, len, &src, &r);
	if (!CHECK((int)v == c->verdict, "%s: verdict %d, want %d", c->name, v, c->verdict))
		return;
	if (v == PCP_DROP)
		return;
	if (v == PCP_ANSWER &&
	    !CHECK(r.result == c->result, "%s: result %u, want %d", c->name, r.result, c->result))
		return;
	wlen = unhex(c->reply, want, sizeof(want));
	glen = pcp_build_reply(&r, req, len, &c->ans, 100, got);
	if (!CHECK(glen == wlen && !memcmp(got, want, wlen), "%s: reply differs", c->name)) {
		print_hex("got ", got, glen);
		print_hex("want", want, wlen);
	}
}

/* A.2.10: a PCP request over 1100 bytes is MALFORMED_REQUEST and the reply
 * is the request truncated to 1100 bytes (RFC 6887 §8.2). */
static void run_oversize(void)
{
	static uint8_t req[1104], got[PCP_MAX_MSG];
	struct pcp_answer ans = {.result = PCP_MALFORMED_REQUEST};
	struct pcp_request r;
	struct pcp_addr src;
	size_t n;

	source(false, &src);
	memset(req, 0xab, sizeof(req));
	unhex(REQ("01", "00000e10", CLI4) MAP_UDP_40000, req, sizeof(req));
	CHECK(pcp_parse(req, sizeof(req), &src, &r) == PCP_ANSWER &&
		  r.result == PCP_MALFORMED_REQUEST,
	      "1104 bytes: MALFORMED_REQUEST, got result %u", r.result);
	n = pcp_build_reply(&r, req, sizeof(req), &ans, 100, got);
	CHECK(n == 1100 && got[1] == 0x81 && got[3] == 3 && !memcmp(got + 24, req + 24, 1076),
	      "1104 bytes: the reply is the request cut to 1100 bytes (got %zu)", n);
}

/* A.2.12: long errors 1800 s, short ones (7, 8, 10) 30 s (RFC 6887 §7.4). */
static void run_error_lifetimes(void)
{
	for (uint8_t rc = 1; rc <= 13; rc++) {
		uint32_t want = rc == 7 || rc == 8 || rc == 10 ? 30 : 1800;

		CHECK(pcp_error_lifetime(rc) == want, "result %u: lifetime %u, want %u", rc,
		      pcp_error_lifetime(rc), want);
	}
}

/* A.4.18, A.4.19: the announcements (RFC 6886 §3.2.1, RFC 6887 §14.1.3). */
static void run_announcements(void)
{
	uint8_t got[64], want[64];
	struct pcp_addr ext;
	size_t n, w;

	pcp_addr_from_v4(&ext, htonl(0xcb007101));
	n = natpmp_build_announce(7, &ext, got);
	w = unhex("0080"
		  "0000"
		  "00000007"
		  "cb007101",
		  want, sizeof(want));
	CHECK(n == w && !memcmp(got, want, w), "NAT-PMP announcement bytes");
	n = pcp_build_announce(7, got);
	w = unhex("0280"
		  "0000"
		  "00000000"
		  "00000007" RESV,
		  want, sizeof(want));
	CHECK(n == w && !memcmp(got, want, w), "PCP ANNOUNCE bytes");
}

UNIT_CASES(test_pcp_wire, 3)
{
	int cases = 0;

	for (size_t i = 0; i < sizeof(wire_cases) / sizeof(wire_cases[0]); i++) {
		if (!unit_selected(wire_cases[i].name))
			continue;
		run_wire(&wire_cases[i]);
		cases++;
	}
	if (unit_selected("PCP of 1104 bytes")) {
		run_oversize();
		cases++;
	}
	if (unit_selected("error lifetimes")) {
		run_error_lifetimes();
		cases++;
	}
	if (unit_selected("announcements")) {
		run_announcements();
		cases++;
	}
	return cases;
}
