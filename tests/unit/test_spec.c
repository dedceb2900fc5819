// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The parser and validator of mappings: each case is one command line (or
 * config text) and either the mapping it yields or a piece of the one-line
 * error it must produce.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "spec.h"

struct rule_case {
	const char *proto, *pub, *target;
	const char *want;  /* format_mapping() of the first rule, or NULL */
	const char *error; /* a substring of the error, or NULL */
};

static const struct rule_case rule_cases[] = {
    {"tcp", "40000", "10.8.0.2", "tcp 40000 -> 10.8.0.2:40000", NULL},
    {"udp", "203.0.113.10:53", "10.8.0.2:5353", "udp 203.0.113.10:53 -> 10.8.0.2:5353", NULL},
    {"tcp", "[2001:db8::1]:443", "[fd00::2]:8443", "tcp [2001:db8::1]:443 -> [fd00::2]:8443", NULL},
    {"tcp", "443", "fd00::2", "tcp 443 -> [fd00::2]:443", NULL},
    {"udp", "6000-6009", "10.8.0.5:7000-7009", "udp 6000-6009 -> 10.8.0.5:7000-7009", NULL},
    {"udp", "6000-6009", "10.8.0.5:7000", "udp 6000-6009 -> 10.8.0.5:7000-7009", NULL},
    {"both", "1-65535", "10.8.0.9", "tcp 1-65535 -> 10.8.0.9:1-65535", NULL},
    {"sctp", "40000", "10.8.0.2", NULL, "protocol 'sctp' is unknown: allowed tcp, udp, both"},
    {"tcp", "0", "10.8.0.2", NULL, "public port '0' is out of range: allowed 1-65535"},
    {"tcp", "65536", "10.8.0.2", NULL, "public port '65536' is out of range"},
    {"tcp", "99999999999999999999", "10.8.0.2", NULL, "out of range"},
    {"tcp", "4x", "10.8.0.2", NULL, "public port '4x' is not a number"},
    {"tcp", "", "10.8.0.2", NULL, "public port is empty"},
    {"tcp", "40000", "10.8.0.2:0", NULL, "target port '0' is out of range"},
    {"tcp", "5000-4000", "10.8.0.2", NULL, "is reversed"},
    {"tcp", "4000-4009", "10.8.0.2:5000-5004", NULL, "has 5 ports but the public range has 10"},
    {"tcp", "4000-4009", "10.8.0.2:65530", NULL, "run past 65535"},
    {"tcp", "203.0.113.300:80", "10.8.0.2", NULL, "public address '203.0.113.300' is not"},
    {"tcp", "2001:db8::1:80", "10.8.0.2", NULL, "write an IPv6 address in brackets"},
    {"tcp", "[2001:db8::1:80", "10.8.0.2", NULL, "has no closing ']'"},
    {"tcp", "[10.0.0.1]:80", "10.8.0.2", NULL, "is not an IPv6 address"},
    {"tcp", "0.0.0.0:80", "10.8.0.2", NULL, "unspecified: leave the address out"},
    {"tcp", "203.0.113.10:80", "[fd00::2]", NULL, "is IPv6 but the public address is IPv4"},
    {"tcp", "[2001:db8::1]:80", "10.8.0.2", NULL, "is IPv4 but the public address is IPv6"},
    {"tcp", "80", "127.0.0.1", NULL, "is loopback"},
    {"tcp", "80", "224.0.0.1", NULL, "is multicast"},
    {"tcp", "80", "[::]", NULL, "is unspecified"},
    {"tcp", "80", "10.8.0", NULL, "target address '10.8.0' is not"},
    {"tcp", "203.0.113.10", "10.8.0.2", NULL, "public port '203.0.113.10' is not a number"},
};

struct table_case {
	const char *name;
	const char *config;
	const char *error; /* NULL: valid */
};

static const struct table_case table_cases[] = {
    {"an exact mapping on the address a wildcard answers on",
     "tcp 80 10.8.0.2\ntcp 203.0.113.10:80 10.8.0.3\n",
     "line 2: tcp 203.0.113.10:80 -> 10.8.0.3:80: overlaps line 1: tcp 80 -> 10.8.0.2:80, a "
     "wildcard that answers on 203.0.113.10"},
    {"a wildcard over an exact mapping's range",
     "udp 203.0.113.10:1000-1010 10.8.0.3\nudp 1005 10.8.0.2\n",
     "line 2: udp 1005 -> 10.8.0.2:1005: overlaps line 1: udp 203.0.113.10:1000-1010 -> "
     "10.8.0.3:1000-1010, a wildcard that answers on 203.0.113.10"},
    {"exact mapping on another address, same port",
     "tcp 80 10.8.0.2\ntcp 198.51.100.1:80 10.8.0.3\n", NULL},
    {"comments and blank lines", "# c\n\n  tcp 80 10.8.0.2 # trailing\n\t\n", NULL},
    {"duplicate", "tcp 80 10.8.0.2\nudp 80 10.8.0.2\ntcp 80 10.8.0.3\n",
     "line 3: tcp 80 -> 10.8.0.3:80: duplicates line 1: tcp 80 -> 10.8.0.2:80"},
    {"overlapping ranges", "udp 1000-1010 10.8.0.2\nudp 1005-1020 10.8.0.3\n",
     "line 2: udp 1005-1020 -> 10.8.0.3:1005-1020: overlaps line 1"},
    {"shared target port", "udp 1000 10.8.0.2:9\nudp 2000 10.8.0.2:9\n",
     "line 2: udp 2000 -> 10.8.0.2:9: its target ports meet those of line 1"},
    {"target is the public address", "tcp 203.0.113.10:80 203.0.113.10:81\n",
     "the target is the public address itself"},
    {"target is a local address", "tcp 80 203.0.113.10:81\n",
     "the target is an address of the public interface"},
    {"wildcard without an address of the family", "tcp 80 [fd00::9]\n",
     "has no IPv6 address to answer from"},
    {"one bad line among good ones", "tcp 80 10.8.0.2\ntcp 81 10.8.0.2:99999\ntcp 82 10.8.0.2\n",
     "line 2: target port '99999' is out of range: allowed 1-65535"},
    {"wrong field count", "tcp 80\n", "line 1: expected 'PROTO [ADDR:]PORT[-PORT] TARGET"},
    {"a field that is not an option", "tcp 80 10.8.0.2 extra\n", "field 'extra' is not KEY=VALUE"},
    {"every policy option",
     "tcp 80 10.8.0.2 allow=198.51.100.0/24,192.0.2.7 rate=1000:50 new-rate=10 ttl=60\n"
     "udp [2001:db8::10]:80 [fd00:8::2] allow=2001:db8::/32 allow=2001:db8:1::/48\n",
     NULL},
    {"allow with host bits", "tcp 80 10.8.0.2 allow=198.51.100.7/24\n",
     "line 1: allow prefix '198.51.100.7/24' has address bits set past /24: write the network, "
     "198.51.100.0/24"},
    {"allow of the other family", "tcp 80 10.8.0.2 allow=2001:db8::/32\n",
     "allow prefix '2001:db8::/32' is IPv6 but the mapping is IPv4"},
    {"allow too long", "tcp 80 10.8.0.2 allow=198.51.100.0/33\n",
     "allow prefix '198.51.100.0/33': length '33' is out of range: allowed 0-32"},
    {"allow twice", "tcp 80 10.8.0.2 allow=192.0.2.0/24,192.0.2.0/24\n", "is given twice"},
    {"allow 17 times",
     "tcp 80 10.8.0.2 allow=192.0.2.0,192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5,"
     "192.0.2.6,192.0.2.7,192.0.2.8,192.0.2.9,192.0.2.10,192.0.2.11,192.0.2.12,192.0.2.13,"
     "192.0.2.14,192.0.2.15,192.0.2.16\n",
     "at most 16 prefixes per mapping"},
    {"allow empty", "tcp 80 10.8.0.2 allow=\n", "allow= has no value"},
    {"rate zero", "tcp 80 10.8.0.2 rate=0\n", "rate '0' is out of range: allowed 1-100000000"},
    {"burst not a number", "tcp 80 10.8.0.2 rate=10:x\n",
     "burst 'x' is not a number: allowed 1-100000000"},
    {"new-rate twice", "tcp 80 10.8.0.2 new-rate=1 new-rate=2\n", "new-rate is given twice"},
    {"ttl too long", "tcp 80 10.8.0.2 ttl=31536001\n",
     "ttl '31536001' is out of range: allowed 1-31536000"},
    {"unknown option", "tcp 80 10.8.0.2 foo=1\n",
     "option 'foo' is unknown: allowed allow, rate, new-rate, ttl"},
};

/* A public interface with two IPv4 addresses (and one link-local, which no
 * wildcard answers from) and one IPv6 address. */
static void test_wildcard_source(void)
{
	static const char *const addrs[] = {"203.0.113.10", "169.254.1.1", "203.0.113.11"};
	struct local_addrs two = {0};
	struct rule *rules = NULL;
	char err[ERR_LEN] = "", want[INET6_ADDRSTRLEN];
	size_t n = 0;
	int ret;

	for (size_t i = 0; i < 3; i++) {
		two.entry[two.count].family = AF_INET;
		inet_pton(AF_INET, addrs[i], &two.entry[two.count++].addr.v4);
	}
	two.entry[two.count].family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::10", two.entry[two.count++].addr.bytes);

	ret = parse_config("tcp 40000 10.8.0.2\n", &rules, &n, err)
		  ?: validate_table(rules, n, &two, err);
	CHECK(ret && !strcmp(err, "line 1: tcp 40000 -> 10.8.0.2:40000: the public interface has 2 "
				  "IPv4 addresses and replies leave from one only: name it, like "
				  "tcp 203.0.113.11:40000"),
	      "wildcard with two IPv4 addresses: got '%s'", err);
	free(rules);
	rules = NULL;

	ret = parse_config("tcp 203.0.113.11:40000 10.8.0.2\nudp 5353 [fd00:8::2]:53\n", &rules, &n,
			   err)
		  ?: validate_table(rules, n, &two, err);
	CHECK(!ret, "a named address, and a wildcard of the family with one address: '%s'", err);
	want[0] = '\0';
	if (!ret)
		format_addr(want, sizeof(want), AF_INET6, &rules[1].m.source_addr);
	CHECK(!strcmp(want, "2001:db8:1::10"), "the IPv6 wildcard answers from '%s'", want);
	free(rules);
	rules = NULL;

	/* One read back from the table keeps the address it was written with,
	 * so a later add or del is not refused for it. */
	ret = parse_config("tcp 40000 10.8.0.2\n", &rules, &n, err);
	if (!ret) {
		rules[0].existing = true;
		rules[0].m.source_addr = two.entry[0].addr;
		ret = validate_table(rules, n, &two, err);
	}
	CHECK(!ret, "an existing wildcard was refused: '%s'", err);
	free(rules);
}

UNIT_TEST(test_spec, 10)
{
	struct local_addrs local = {.count = 1};
	int cases = 0;

	local.entry[0].family = AF_INET;
	inet_pton(AF_INET, "203.0.113.10", &local.entry[0].addr.v4);

	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++, cases++) {
		const struct rule_case *c = &rule_cases[i];
		struct rule r[2];
		char err[ERR_LEN] = "", got[200] = "";
		int n = parse_rule(c->proto, c->pub, c->target, r, err);

		if (n > 0)
			format_mapping(got, sizeof(got), &r[0].m);
		if (c->want) {
			CHECK(n > 0 && !strcmp(got, c->want), "%s %s %s: got '%s' (error '%s')",
			      c->proto, c->pub, c->target, got, err);
			CHECK(n == (strcmp(c->proto, "both") ? 1 : 2), "%s: %d rules", c->proto, n);
		} else {
			CHECK(n < 0 && strstr(err, c->error) && !strchr(err, '\n'),
			      "%s %s %s: want error containing '%s', got '%s' (n=%d)", c->proto,
			      c->pub, c->target, c->error, err, n);
		}
	}

	for (size_t i = 0; i < sizeof(table_cases) / sizeof(table_cases[0]); i++, cases++) {
		const struct table_case *c = &table_cases[i];
		struct rule *rules = NULL;
		char err[ERR_LEN] = "";
		size_t n = 0;
		int ret = parse_config(c->config, &rules, &n, err);

		ret = ret ?: validate_table(rules, n, &local, err);
		if (c->error)
			CHECK(ret && strstr(err, c->error),
			      "%s: want error containing '%s', got '%s'", c->name, c->error, err);
		else
			CHECK(!ret, "%s: unexpected error '%s'", c->name, err);
		free(rules);
	}
	test_wildcard_source();
	return cases + 1;
}
