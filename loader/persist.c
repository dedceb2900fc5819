// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <xdp/libxdp.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "persist.h"
#include "txn.h"

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

int state_pending(const char *path, struct rule **rules, size_t *count, char *err)
{
	char first[32] = "";
	struct saved_state s;
	struct clocks now;
	bool found;
	FILE *f;

	*rules = NULL;
	*count = 0;
	/* Only a version 2 file holds pending lines. */
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(first, sizeof(first), f))
		first[0] = '\0';
	fclose(f);
	if (!strcmp(first, "xdpfwd-state 1\n"))
		return 0;
	clocks_now(&now);
	if (state_load(path, &now, &s, &found, err))
		return -1;
	*rules = s.pending;
	*count = s.npending;
	s.pending = NULL;
	state_free(&s);
	return 0;
}

int state_write(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		size_t count, const struct pending_set *pending, char *err)
{
	struct saved_state s = {.rules = (struct rule *)rules, .count = count};
	struct rule *carried = NULL;
	struct clocks now;
	size_t ncarried = 0;
	int ret;

	if (config->attached && if_indextoname(config->public_ifindex, s.iface) &&
	    if_indextoname(config->tunnel_ifindex, s.tunnel)) {
		s.attached = true;
		s.generic = config->xdp_mode == XDP_MODE_SKB;
		s.fast_path = config->fast_path;
		s.client_count = config->client_count;
		memcpy(s.clients, config->clients, sizeof(s.clients));
	}
	if (pending) {
		s.pending = (struct rule *)pending->rules;
		s.npending = pending->count;
	} else {
		if (state_pending(path, &carried, &ncarried, err))
			return -1;
		/* A live mapping on the same public side took its place. */
		for (size_t i = 0; i < ncarried; i++) {
			bool live = false;

			for (size_t k = 0; k < count && !live; k++)
				live = same_public(&rules[k].m, &carried[i].m);
			if (!live)
				carried[s.npending++] = carried[i];
		}
		s.pending = carried;
	}
	clocks_now(&now);
	ret = state_save(path, &s, &now, err);
	free(carried);
	return ret;
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
	ret = state_write(path, config, rules, count, PENDING_CARRY, err);
	free(rules);
	return ret;
}

size_t state_count_hint(const char *path)
{
	char tail[128];
	unsigned int records = 0;
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	got = fstat(fd, &st) ? -1
			     : pread(fd, tail, sizeof(tail) - 1,
				     st.st_size > (off_t)sizeof(tail) - 1
					 ? st.st_size - (off_t)sizeof(tail) + 1
					 : 0);
	close(fd);
	if (got <= 0)
		return 0;
	tail[got] = '\0';
	{
		char *end = strstr(tail, "\nend ");

		if (end)
			sscanf(end, "\nend %u", &records);
	}
	return records ? records - 1 : 0;
}

int state_take(struct txn *t, const char *path)
{
	return txn_take_file(t, path);
}

int state_record(const char *path, const struct xdpfwd_maps *maps,
		 const struct xdpfwd_config *config, const struct table_change *changes, size_t k,
		 const struct pending_set *pending, char *err)
{
	struct rule *rules;
	size_t count;
	int ret = table_live(maps, &rules, &count, 0);

	(void)changes;
	(void)k;
	if (ret) {
		snprintf(err, ERR_LEN, "state file %s: cannot read the mappings: %s", path,
			 strerror(-ret));
		return -1;
	}
	ret = state_write(path, config, rules, count, pending, err);
	free(rules);
	return ret;
}
