// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The state file: what is written reads back the same, a lease crosses a
 * reboot with the time it had left, and every kind of damage is refused
 * with its own message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "harness.h"
#include "state_example.h"
#include "state.h"

#define S 1000000000ULL

/* BODY after the header, closed by an end line that counts RECORDS and
 * checksums it right. */
static const char *seal_version(int version, const char *body, unsigned int records)
{
	static char text[1024];
	size_t len = snprintf(text, sizeof(text), "xdpfwd-state %d\n%s", version, body);

	snprintf(text + len, sizeof(text) - len, "end %u crc32=%08lx\n", records,
		 crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, len));
	return text;
}

static const char *seal(const char *body, unsigned int records)
{
	return seal_version(1, body, records);
}

static int refused(const char *text, const struct clocks *now, const char *want)
{
	struct saved_state s;
	char err[ERR_LEN] = "";
	int ret = state_parse(text, now, &s, err);

	CHECK(ret && strstr(err, want) && !strchr(err, '\n'), "want '%s', got '%s' (%d)", want, err,
	      ret);
	return 1;
}

/* The longest text an IPv6 address has: eight groups of four digits. */
static const char *longest_v6(char *buf, size_t len, unsigned int tag)
{
	snprintf(buf, len, "fd00:1111:2222:3333:4444:5555:6666:%04x", 0x7000 + tag);
	return buf;
}

/* The one text buffer: appends across its growth, a hint, and a failure that
 * marks it and hands back nothing. */
static int strbuf_cases(void)
{
	struct strbuf b = STRBUF_INIT;
	char *text;
	size_t len;

	CHECK(!strcmp(strbuf_str(&b), ""), "an empty buffer reads as \"\"");
	for (int i = 0; i < 1000; i++)
		strbuf_appendf(&b, "%04d,", i);
	strbuf_append(&b, "end");
	CHECK(!b.failed && b.len == 5003 && strlen(b.data) == 5003 &&
		  !strncmp(b.data + 4990, "0998,0999,end", 13),
	      "1000 appends grow it whole: %zu bytes", b.len);
	strbuf_reset(&b);
	strbuf_appendf(&b, "%s", "");
	CHECK(!b.failed && b.len == 0 && !strcmp(strbuf_str(&b), ""), "reset empties it");
	b.hint = 100000;
	text = strbuf_detach(&b, &len);
	CHECK(text && len == 0 && !b.data && b.hint == 100000, "detach hands the text over");
	free(text);
	strbuf_append(&b, "x");
	CHECK(b.cap >= 100000, "the first allocation after a detach takes the hint: %zu", b.cap);
	CHECK(strbuf_reserve(&b, SIZE_MAX - 1) == -ENOMEM && b.failed,
	      "a reservation that cannot be met fails the buffer");
	strbuf_append(&b, "more");
	CHECK(b.len == 1 && !strcmp(b.data, "x"), "a failed buffer takes no more text");
	CHECK(!strbuf_detach(&b, &len) && len == 0 && !b.data, "and hands back nothing");
	strbuf_free(&b);
	return 1;
}

/*
 * Every record at its largest, written and read back: the attach record with
 * 15-character interfaces and eight IPv6 client networks of the longest text;
 * a mapping with port ranges, IPv6 endpoints, 16 allow prefixes, both rates
 * and a lease at their maxima; the end line of a full table (131,072
 * mappings). The writer used to size its buffer by an estimate: seven
 * IPv6 /64 client networks cut the file short, eight overflowed the heap.
 */
static int maximal_records(const struct clocks *now)
{
	struct saved_state s = {.attached = true, .generic = true, .fast_path = false};
	struct saved_state back;
	char a[64], err[ERR_LEN] = "", dir[] = "/tmp/xdpfwd-state-XXXXXX", path[64], *text;
	struct rule r[2];
	bool found;
	int cases = 0;

	snprintf(s.iface, sizeof(s.iface), "%s", "enp129s0f1np1xx");
	snprintf(s.tunnel, sizeof(s.tunnel), "%s", "wg-customers-01");
	s.client_count = XDPFWD_MAX_CLIENT_NETS;
	for (int i = 0; i < XDPFWD_MAX_CLIENT_NETS; i++)
		CHECK(!parse_prefix(longest_v6(a, sizeof(a), i), "client", &s.clients[i], err),
		      "client %d: %s", i, err);
	text = state_format(&s, now, NULL);
	CHECK(text && !state_parse(text, now, &back, err) && back.attached &&
		  back.client_count == XDPFWD_MAX_CLIENT_NETS && back.generic && !back.fast_path &&
		  !strcmp(back.iface, s.iface) && !strcmp(back.tunnel, s.tunnel) &&
		  !memcmp(back.clients, s.clients, sizeof(s.clients)),
	      "the largest attach record: %s", err);
	CHECK(text && strstr(text, "clients=fd00:1111:2222:3333:4444:5555:6666:7000/128,") &&
		  strstr(text, ",fd00:1111:2222:3333:4444:5555:6666:7007/128\nend 1 crc32="),
	      "all eight client networks written whole: %s", text ? text : "(none)");
	state_free(&back);
	free(text);
	cases++;

	CHECK(parse_rule("both", "[fd00:1111:2222:3333:4444:5555:6666:ffff]:65000-65535",
			 "[fd00:1111:2222:3333:4444:5555:6666:eeee]:64000-64535", r, err) == 2,
	      "the largest endpoints: %s", err);
	for (int i = 0; i < XDPFWD_MAX_ALLOW; i++) {
		char p[80];

		snprintf(p, sizeof(p), "%s/128", longest_v6(a, sizeof(a), 0x100 + i));
		CHECK(!parse_policy(&r[0], "allow", p, err), "allow %d: %s", i, err);
	}
	CHECK(!parse_policy(&r[0], "rate", "100000000:100000000", err) &&
		  !parse_policy(&r[0], "new-rate", "100000000:100000000", err) &&
		  !parse_policy(&r[0], "ttl", "31536000", err),
	      "the largest policy: %s", err);
	r[0].m.expires_ns = now->boot_ns + 31536000ULL * S;
	r[1] = r[0];
	r[1].m.proto = IPPROTO_UDP;
	s.rules = r;
	s.count = 2;
	text = state_format(&s, now, NULL);
	CHECK(text && !state_parse(text, now, &back, err) && back.count == 2 &&
		  same_rule(&back.rules[0], &r[0]) && same_rule(&back.rules[1], &r[1]) &&
		  back.rules[0].m.expires_ns == r[0].m.expires_ns,
	      "the largest mapping line reads back the same, its lease too: %s", err);
	if (text) {
		const char *line = strchr(strchr(text, '\n') + 1, '\n') + 1;

		CHECK(strchr(line, '\n') - line > 900 &&
			  strstr(line, ",fd00:1111:2222:3333:4444:5555:6666:710f/128 "
				       "rate=100000000:100000000 new-rate=100000000:100000000 "
				       "ttl=31536000 expires="),
		      "a mapping line of %zu bytes, whole", (size_t)(strchr(line, '\n') - line));
	}
	state_free(&back);
	free(text);
	cases++;

	/* The end line of a full table: a record count of the most digits. */
	{
		struct saved_state full = s;
		char want[32];

		full.count = (2 * XDPFWD_DEFAULT_CAPACITY);
		full.rules = calloc(full.count, sizeof(*full.rules));
		for (size_t i = 0; full.rules && i < full.count; i++) {
			full.rules[i].m = r[0].m;
			full.rules[i].m.allow_count = 0;
			full.rules[i].m.public_port = 1 + i % 65535;
			full.rules[i].m.port_count = 1;
		}
		text = full.rules ? state_format(&full, now, NULL) : NULL;
		snprintf(want, sizeof(want), "\nend %d crc32=", (2 * XDPFWD_DEFAULT_CAPACITY) + 1);
		CHECK(text && strstr(text, want) && !state_parse(text, now, &back, err) &&
			  back.count == full.count,
		      "a full table of %d mappings: %s", (2 * XDPFWD_DEFAULT_CAPACITY), err);
		state_free(&back);
		free(text);
		free(full.rules);
	}
	cases++;

	/* And through the file, as commands write it and serve reads it. */
	CHECK(mkdtemp(dir) != NULL, "a temporary directory");
	snprintf(path, sizeof(path), "%s/x.state", dir);
	CHECK(!state_save(path, &s, now, err) && !state_load(path, now, &back, &found, err) &&
		  found && back.count == s.count && back.client_count == XDPFWD_MAX_CLIENT_NETS,
	      "saved and loaded: %s", err);
	state_free(&back);
	unlink(path);
	rmdir(dir);
	return cases + 1 + strbuf_cases();
}

#define NONCE "00112233445566778899aabb"

/* Dynamic mappings (NAT-PMP/PCP leases): owner= reads back as written, in a
 * version 3 file; a bad value is refused naming the field and what it may
 * be; a config file may not carry one. */
static int owner_cases(const struct clocks *then)
{
	static const __u8 nonce[12] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
				       0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
	struct saved_state s, back;
	struct rule *rules = NULL;
	char err[ERR_LEN] = "", *text;
	size_t n = 0;
	int cases = 0;

	CHECK(
	    !state_parse(seal_version(3,
				      "attach eth0 tunnel=wg0\n"
				      "udp 40000 10.8.0.2:5000 ttl=60 expires=1795412345678901234 "
				      "owner=natpmp:5000\n"
				      "tcp 40001 10.8.0.3:40001 owner=natpmp:0\n"
				      "udp 40002 10.8.0.4:4000 owner=pcp:4000:" NONCE "\n"
				      "udp 80 10.8.0.2\n",
				      5),
			 then, &s, err) &&
		s.count == 4,
	    "a version 3 file with owners: %s", err);
	if (s.count == 4) {
		CHECK(s.rules[0].owner.kind == XDPFWD_OWNER_NATPMP &&
			  s.rules[0].owner.key_port == 5000 && s.rules[1].owner.key_port == 0 &&
			  s.rules[1].owner.kind == XDPFWD_OWNER_NATPMP &&
			  s.rules[2].owner.kind == XDPFWD_OWNER_PCP &&
			  s.rules[2].owner.key_port == 4000 &&
			  !memcmp(s.rules[2].owner.nonce, nonce, 12) && !s.rules[3].owner.kind,
		      "each owner read as written");
		text = state_format(&s, then, NULL);
		CHECK(text && !strncmp(text, "xdpfwd-state 3\n", 15) &&
			  strstr(text, " owner=natpmp:5000\n") &&
			  strstr(text, "\ntcp 40001 10.8.0.3:40001 owner=natpmp:0\n") &&
			  strstr(text, " owner=pcp:4000:" NONCE "\n") &&
			  !state_parse(text, then, &back, err) && back.count == 4 &&
			  same_rule(&back.rules[0], &s.rules[0]) &&
			  same_rule(&back.rules[1], &s.rules[1]) &&
			  same_rule(&back.rules[2], &s.rules[2]) &&
			  same_rule(&back.rules[3], &s.rules[3]),
		      "owners written back, version 3: %s", text ? text : err);
		state_free(&back);
		free(text);
		/* A rule that differs in its owner alone is another rule. */
		back = s;
		CHECK(!same_rule(&s.rules[0], &s.rules[3]) && s.rules[2].owner.nonce[11]++ >= 0 &&
			  !state_parse(
			      seal_version(3, "udp 40002 10.8.0.4:4000 owner=pcp:4000:" NONCE "\n",
					   1),
			      then, &back, err) &&
			  back.count == 1 && !same_rule(&back.rules[0], &s.rules[2]),
		      "another nonce is another rule: %s", err);
		state_free(&back);
		memset(&s.rules[0].owner, 0, sizeof(s.rules[0].owner));
		memset(&s.rules[1].owner, 0, sizeof(s.rules[1].owner));
		memset(&s.rules[2].owner, 0, sizeof(s.rules[2].owner));
		text = state_format(&s, then, NULL);
		CHECK(text && !strncmp(text, "xdpfwd-state 1\n", 15) && !strstr(text, "owner="),
		      "without owners: version 1 again");
		free(text);
	}
	state_free(&s);
	cases++;
#define OWNER_BAD(value, want) \
	refused(seal_version(3, "udp 40000 10.8.0.2:5000 owner=" value "\n", 1), then, want)
	cases +=
	    OWNER_BAD("upnp:5000", "line 2: owner 'upnp:5000' is unknown: allowed natpmp:KEYPORT, "
				   "pcp:KEYPORT:NONCE");
	cases += OWNER_BAD("natpmp", "line 2: owner 'natpmp' has no key port: allowed "
				     "natpmp:KEYPORT, pcp:KEYPORT:NONCE (KEYPORT 0-65535)");
	cases += OWNER_BAD("natpmp:65536",
			   "line 2: owner key port '65536' is out of range: allowed 0-65535");
	cases += OWNER_BAD("natpmp:", "line 2: owner key port is empty: allowed 0-65535");
	cases +=
	    OWNER_BAD("natpmp:5000:" NONCE, "a NAT-PMP lease has no nonce: allowed natpmp:KEYPORT");
	cases += OWNER_BAD("pcp:4000", "line 2: owner 'pcp:4000' has no nonce: allowed "
				       "pcp:KEYPORT:NONCE (NONCE 24 lowercase hex digits)");
	cases += OWNER_BAD("pcp:4000:00112233445566778899AABB",
			   "line 2: owner nonce '00112233445566778899AABB' is not 24 lowercase "
			   "hex digits");
	cases += OWNER_BAD("pcp:4000:0011", "line 2: owner nonce '0011' is not 24 lowercase");
	cases += OWNER_BAD("natpmp:1 owner=natpmp:2", "line 2: owner is given twice");
#undef OWNER_BAD
	cases += refused(seal_version(3, "both 40000 10.8.0.2 owner=natpmp:40000\n", 1), then,
			 "line 2: owner= belongs to a mapping of one protocol (tcp or udp), not "
			 "both");
	/* Only serve's server writes one: never a config file. */
	CHECK(parse_config("udp 40000 10.8.0.2 owner=natpmp:40000\n", &rules, &n, err) &&
		  !strcmp(err, "line 1: owner= is written by serve's NAT-PMP/PCP server, not by "
			       "hand: a mapping given here is the operator's"),
	      "owner= in a config file: '%s'", err);
	free(rules);
	return cases + 1;
}

UNIT_TEST(test_state, 40)
{
	const struct clocks then = {.real_ns = 1795412345678901234ULL - 1000 * S,
				    .boot_ns = 50 * S};
	/* After a reboot: 600 s of wall time later, the boot clock at 20 s. */
	const struct clocks after = {.real_ns = then.real_ns + 600 * S, .boot_ns = 20 * S};
	struct saved_state s, back;
	char err[ERR_LEN] = "", *text, *cut;
	int cases = 0;

	CHECK(!state_parse(readme_example, &then, &s, err), "README example: %s", err);
	CHECK(s.attached && !strcmp(s.iface, "eth0") && !strcmp(s.tunnel, "wg0") && !s.generic &&
		  s.fast_path && s.client_count == 2 && s.count == 2,
	      "README example read as %s/%s, %u clients, %zu mappings", s.iface, s.tunnel,
	      s.client_count, s.count);
	CHECK(s.count == 2 && s.rules[0].m.expires_ns == then.boot_ns + 1000 * S &&
		  s.rules[0].m.rate.pps == 2000 && s.rules[0].m.allow_count == 1,
	      "the lease ends 1000 s after 'then' on its boot clock");
	cases++;

	/* Round trip, then a reboot: the lease keeps the time it had left. */
	text = state_format(&s, &then, NULL);
	CHECK(text && !state_parse(text, &then, &back, err) && back.count == 2 &&
		  same_rule(&back.rules[0], &s.rules[0]) && same_rule(&back.rules[1], &s.rules[1]),
	      "format and parse again: %s", err);
	state_free(&back);
	CHECK(!state_parse(text, &after, &back, err) && back.count == 2 &&
		  back.rules[0].m.expires_ns == after.boot_ns + 400 * S,
	      "after a reboot 600 s later, 400 s are left: %llu",
	      back.count ? (unsigned long long)back.rules[0].m.expires_ns : 0ULL);
	state_free(&back);
	{
		const struct clocks late = {.real_ns = then.real_ns + 2000 * S, .boot_ns = 5 * S};

		CHECK(!state_parse(text, &late, &back, err) && back.count == 1 &&
			  !back.rules[0].m.ttl,
		      "a lease that ended while down is dropped, the rest kept");
		state_free(&back);
	}
	cases++;

	/* Damage, each with its message. */
	cut = strndup(text, strlen(text) - 5);
	cases += refused(cut, &then, "it is truncated");
	free(cut);
	cut = strndup(text, strrchr(text, 'e') - text); /* the end line gone whole */
	cases += refused(cut, &then, "it is truncated: its last line is not 'end RECORDS");
	free(cut);
	text[strlen("xdpfwd-state 1\nattach eth0 tunnel=wg")] = 'X';
	cases += refused(text, &then, "its checksum does not match its contents");
	cases += refused("xdpfwd-state 4\nend 0 crc32=00000000\n", &then,
			 "it is version 4, newer than this xdpfwd's 3");
	cases += refused("# a config file\ntcp 80 10.8.0.2\n", &then, "not an xdpfwd state file");
	cases += refused("", &then, "not an xdpfwd state file");
	free(text);
	/* Sealed right, wrong inside. */
	cases += refused(seal("udp 80 10.8.0.2\n", 2), &then, "it says 2 records but holds 1");
	cases += refused(seal("attach a tunnel=b\nattach a tunnel=b\n", 2), &then,
			 "it has two attach records");
	cases += refused(seal("attach a tunnel=b speed=9\n", 1), &then,
			 "attach record: 'speed=9' is not understood");
	cases +=
	    refused(seal("attach a mode=native\n", 1), &then, "the attach record names no tunnel");
	cases += refused(seal("udp 80 10.8.0.2\nudp 81 10.8.0.2:99999\n", 2), &then,
			 "line 3: target port '99999' is out of range");
	cases += refused(seal("udp 80 10.8.0.2 ttl=5\n", 1), &then,
			 "line 2: a lease without its end (expires=)");
	cases += refused(seal("udp 80 10.8.0.2 expires=soon\n", 1), &then,
			 "line 2: expires 'soon' is not a time");
	state_free(&s);

	/* Pending mappings (serve could not write them yet) read back as
	 * pending, in a version 2 file; a file without is version 1. */
	CHECK(
	    !state_parse(seal("attach eth0 tunnel=wg0\nudp 80 10.8.0.2\n"
			      "pending udp 27015 [fd00:8::2] ttl=60 expires=1795412345678901234\n",
			      3),
			 &then, &s, err) &&
		s.count == 1 && s.npending == 1 && s.pending[0].m.family == AF_INET6 &&
		s.pending[0].m.public_port == 27015 && s.pending[0].line == 4,
	    "a pending line: %s (%zu, %zu)", err, s.count, s.npending);
	text = state_format(&s, &then, NULL);
	CHECK(text && !strncmp(text, "xdpfwd-state 2\n", 15) &&
		  strstr(text, "\npending udp 27015 [fd00:8::2]:27015 ttl=60 expires=") &&
		  !state_parse(text, &then, &back, err) && back.npending == 1 && back.count == 1 &&
		  same_rule(&back.pending[0], &s.pending[0]),
	      "pending written back: %s", text ? text : err);
	state_free(&back);
	free(text);
	s.npending = 0;
	text = state_format(&s, &then, NULL);
	CHECK(text && !strncmp(text, "xdpfwd-state 1\n", 15), "no pending: version 1");
	free(text);
	state_free(&s);
	cases += refused(seal("pending attach a tunnel=b\n", 1), &then,
			 "line 2: public port 'a' is not a number");
	cases++;
	return cases + maximal_records(&then) + owner_cases(&then);
}
