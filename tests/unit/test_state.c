// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The state file: what is written reads back the same, a lease crosses a
 * reboot with the time it had left, and every kind of damage is refused
 * with its own message.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "harness.h"
#include "state.h"

#define S 1000000000ULL

/* The README's example, as written there. */
static const char *const readme_example =
    "xdpfwd-state 1\n"
    "attach eth0 tunnel=wg0 mode=native fast-path=on clients=10.8.0.0/16,fd00:8::/64\n"
    "udp 27015 10.8.0.2:27015 allow=198.51.100.0/24 rate=2000:500 ttl=3600 "
    "expires=1795412345678901234\n"
    "tcp 203.0.113.10:40000 10.8.0.2:40000\n"
    "end 3 crc32=ddbcb928\n";

/* BODY after the header, closed by an end line that counts RECORDS and
 * checksums it right. */
static const char *seal(const char *body, unsigned int records)
{
	static char text[1024];
	size_t len = snprintf(text, sizeof(text), "xdpfwd-state 1\n%s", body);

	snprintf(text + len, sizeof(text) - len, "end %u crc32=%08lx\n", records,
		 crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, len));
	return text;
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
	text = state_format(&s, &then);
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
	cases += refused("xdpfwd-state 2\nend 0 crc32=00000000\n", &then,
			 "it is version 2, newer than this xdpfwd's 1");
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
	return cases;
}
