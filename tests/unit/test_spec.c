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
    /* Leading zeros are refused in every port, as in the octets of an
     * address; a negative port is named as such. */
    {"tcp", "0100", "10.8.0.2", NULL, "public port '0100' has a leading zero: allowed 1-65535"},
    {"tcp", "80-090", "10.8.0.2", NULL, "public port '090' has a leading zero"},
    {"tcp", "80", "10.8.0.2:0080", NULL, "target port '0080' has a leading zero"},
    {"tcp", "80-81", "10.8.0.2:08-9", NULL, "target port '08' has a leading zero"},
    {"udp", "-5", "10.8.0.2", NULL, "public port '-5' is negative: allowed 1-65535"},
    {"udp", "203.0.113.10:-5", "10.8.0.2", NULL, "public port '-5' is negative"},
    {"udp", "203.0.113.10:5", "10.8.0.2:-5", NULL, "target port '-5' is negative"},
    {"tcp", "100", "10.8.0.2:10", "tcp 100 -> 10.8.0.2:10", NULL},
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
    /* No empty item in a list, and no leading zero in a number. */
    {"allow with a trailing comma", "tcp 80 10.8.0.2 allow=192.0.2.0/24,\n",
     "line 1: allow= has an empty item"},
    {"allow with an empty item", "tcp 80 10.8.0.2 allow=192.0.2.0/24,,198.51.100.0/24\n",
     "line 1: allow= has an empty item"},
    {"allow of a comma alone", "tcp 80 10.8.0.2 allow=,\n", "allow= has an empty item"},
    {"rate with a trailing comma", "tcp 80 10.8.0.2 rate=10,\n", "rate= has an empty item"},
    {"ttl with a leading zero", "tcp 80 10.8.0.2 ttl=060\n",
     "ttl '060' has a leading zero: allowed 1-31536000"},
    {"burst with a leading zero", "tcp 80 10.8.0.2 rate=10:05\n", "burst '05' has a leading zero"},
    {"allow length with a leading zero", "tcp 80 10.8.0.2 allow=192.0.2.0/024\n",
     "length '024' has a leading zero: allowed 0-32"},
    {"allow length 0 stays allowed", "tcp 80 10.8.0.2 allow=0.0.0.0/0\n", NULL},
    {"a port with a leading zero", "tcp 080 10.8.0.2\n",
     "line 1: public port '080' has a leading zero"},
};

/* check_host_addrs(): a public interface with 203.0.113.10 and
 * 2001:db8::10, a tunnel with 10.8.0.1 and fd00:8::1, client networks
 * 10.8.0.0/24, fd00:8::/64 and 10.9.0.0/31. */
struct host_case {
	const char *name, *proto, *pub, *target;
	bool no_public;	   /* the public interface's addresses unread (or --force) */
	const char *error; /* a substring of the error, or NULL */
};

static const struct host_case host_cases[] = {
    {"a client behind a wildcard", "tcp", "80", "10.8.0.2", false, NULL},
    {"a client behind the public address", "tcp", "203.0.113.10:80", "10.8.0.2", false, NULL},
    {"an IPv6 client", "tcp", "[2001:db8::10]:80", "[fd00:8::2]", false, NULL},
    {"a public address the server lacks", "tcp", "198.51.100.9:80", "10.8.0.2", false,
     "public address 198.51.100.9 is not an address of the public interface"},
    {"an IPv6 public address the server lacks", "tcp", "[2001:db8::99]:80", "[fd00:8::2]", false,
     "public address 2001:db8::99 is not an address of the public interface"},
    {"the same, the addresses unread", "tcp", "198.51.100.9:80", "10.8.0.2", true, NULL},
    {"the tunnel's own address", "tcp", "80", "10.8.0.1", false,
     "target address 10.8.0.1 is the tunnel's own address"},
    {"the tunnel's own IPv6 address", "tcp", "80", "[fd00:8::1]", true,
     "target address fd00:8::1 is the tunnel's own address"},
    {"a client net's network address", "udp", "80", "10.8.0.0", false,
     "target address 10.8.0.0 is the network address of the client network 10.8.0.0/24"},
    {"a client net's broadcast address", "udp", "80", "10.8.0.255", false,
     "target address 10.8.0.255 is the broadcast address of the client network 10.8.0.0/24"},
    {"an IPv6 client net's Subnet-Router anycast address", "udp", "80", "[fd00:8::]", false,
     "target address fd00:8:: is the network address of the client network fd00:8::/64"},
    {"IPv6 has no broadcast address", "udp", "80", "[fd00:8::ffff:ffff:ffff:ffff]", false, NULL},
    {"a /31 has no network or broadcast address (RFC 3021)", "udp", "80", "10.9.0.0", false, NULL},
    {"the last host of a client net", "udp", "80", "10.8.0.254", false, NULL},
};

static void host_addrs_add(struct local_addrs *l, const char *text)
{
	__u8 family = strchr(text, ':') ? AF_INET6 : AF_INET;

	l->entry[l->count].family = family;
	inet_pton(family, text, l->entry[l->count++].addr.bytes);
}

UNIT_CASES(test_spec_host, 10)
{
	struct local_addrs pub = {0}, tun = {0};
	struct xdpfwd_prefix clients[3];
	struct host_addrs h = {&pub, &tun, clients, 3};
	char err[ERR_LEN];
	int cases = 0;

	host_addrs_add(&pub, "203.0.113.10");
	host_addrs_add(&pub, "2001:db8::10");
	host_addrs_add(&tun, "10.8.0.1");
	host_addrs_add(&tun, "fd00:8::1");
	if (parse_prefix("10.8.0.0/24", "c", &clients[0], err) ||
	    parse_prefix("fd00:8::/64", "c", &clients[1], err) ||
	    parse_prefix("10.9.0.0/31", "c", &clients[2], err))
		CHECK(false, "client networks: %s", err);
	for (size_t i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *c = &host_cases[i];
		struct rule r[2];
		int ret;

		if (!unit_selected(c->name))
			continue;
		cases++;
		err[0] = '\0';
		h.public = c->no_public ? NULL : &pub;
		ret = parse_rule(c->proto, c->pub, c->target, r, err) < 0
			  ? -1
			  : check_host_addrs(&r[0], &h, err);
		if (c->error)
			CHECK(ret && strstr(err, c->error) && !strchr(err, '\n'),
			      "%s: want an error containing '%s', got '%s'", c->name, c->error,
			      err);
		else
			CHECK(!ret, "%s: refused: '%s'", c->name, err);
	}
	return cases;
}

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
