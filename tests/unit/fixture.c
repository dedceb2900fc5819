// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <arpa/inet.h>
#include "fixture.h"
#include "harness.h"

int install_test_table(struct bpf_object *obj, const char *table, struct xdpfwd_maps *maps,
		       struct rule **rules, size_t *n)
{
	struct local_addrs local = {.count = 2};
	struct apply_summary sum;
	char err[ERR_LEN] = "";

#define FIXTURE_MAP_FD(field, name) maps->field = bpf_object__find_map_fd_by_name(obj, name);
	XDPFWD_USER_MAPS(FIXTURE_MAP_FD)
#undef FIXTURE_MAP_FD
	local.entry[0].family = AF_INET;
	inet_pton(AF_INET, "203.0.113.10", &local.entry[0].addr.v4);
	local.entry[1].family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::10", local.entry[1].addr.bytes);
	if (!CHECK(!parse_config(table, rules, n, err), "parsing the test table: %s", err))
		return -1;
	for (size_t i = 0; i < *n; i++)
		if ((*rules)[i].m.ttl)
			(*rules)[i].m.expires_ns =
			    TEST_CLOCK_NS + (*rules)[i].m.ttl * 1000000000ULL;
	return CHECK(!validate_table(*rules, *n, &local, err) &&
			 !table_apply(maps, NULL, 0, *rules, *n, &sum, NULL, NULL, NULL),
		     "installing the test table: %s", err)
		   ? 0
		   : -1;
}
