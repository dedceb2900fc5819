// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <xdp/libxdp.h>
#include "persist.h"

int state_check(const char *path, char *err)
{
	struct saved_state s;
	struct clocks now;
	bool found;
	int ret;

	clocks_now(&now);
	ret = state_load(path, &now, &s, &found, err);
	state_free(&s);
	return ret;
}

int state_write(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		size_t count, char *err)
{
	struct saved_state s = {.rules = (struct rule *)rules, .count = count};
	struct clocks now;

	if (config->attached && if_indextoname(config->public_ifindex, s.iface) &&
	    if_indextoname(config->tunnel_ifindex, s.tunnel)) {
		s.attached = true;
		s.generic = config->xdp_mode == XDP_MODE_SKB;
		s.fast_path = config->fast_path;
		s.client_count = config->client_count;
		memcpy(s.clients, config->clients, sizeof(s.clients));
	}
	clocks_now(&now);
	return state_save(path, &s, &now, err);
}

int state_sync(const char *path, const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	       char *err)
{
	struct rule *rules;
	size_t count;
	int ret = table_live(maps, &rules, &count, 0);

	if (ret) {
		snprintf(err, ERR_LEN, "state file %s: cannot read the mappings: %s", path,
			 strerror(-ret));
		return -1;
	}
	ret = state_write(path, config, rules, count, err);
	free(rules);
	return ret;
}
