// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * restore.c - a state file's table written back into new maps (restore.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "capacity.h"
#include "change.h"
#include "localaddr.h"
#include "log.h"
#include "pinned_maps.h"
#include "restore.h"

/* Whether R can be written with the public interface's addresses LOCAL; if
 * not, WHY says what it waits for, without the target (a client's address). */
static bool ready_now(const struct rule *r, const struct local_addrs *local, char *why, size_t len)
{
	struct rule one = *r;
	char err[ERR_LEN], self[200];
	const char *at;

	if (!validate_table(&one, 1, local, err))
		return true;
	/* validate_table() names the mapping: "[line N: ]PROTO PUB -> TARGET: ..." */
	format_mapping(self, sizeof(self), &r->m);
	at = strstr(err, self);
	snprintf(why, len, "%s",
		 at && !strncmp(at + strlen(self), ": ", 2) ? at + strlen(self) + 2
							    : "it is not valid on this host now");
	return false;
}

int split_ready(const struct rule *rules, size_t n, const struct local_addrs *local,
		struct rule **ready, size_t *nready, struct rule **waiting, size_t *nwaiting,
		const char *log_as)
{
	*ready = calloc(n + 1, sizeof(**ready));
	*waiting = calloc(n + 1, sizeof(**waiting));
	*nready = *nwaiting = 0;
	if (!*ready || !*waiting) {
		free(*ready);
		free(*waiting);
		*ready = *waiting = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char why[ERR_LEN], pub[200];

		if (ready_now(&rules[i], local, why, sizeof(why))) {
			(*ready)[(*nready)++] = rules[i];
			continue;
		}
		(*waiting)[(*nwaiting)++] = rules[i];
		if (log_as) {
			format_public_side(pub, sizeof(pub), &rules[i].m);
			pr_warn("%s: %s waits: %s; kept in the state file as pending, tried "
				"again as the interface's addresses change\n",
				log_as, pub, why);
		}
	}
	return 0;
}

/* SAVED's mappings and pending mappings, as one list (calloc'd). */
static struct rule *saved_rules(const struct saved_state *saved, size_t *n)
{
	struct rule *all = calloc(saved->count + saved->npending + 1, sizeof(*all));

	*n = 0;
	if (!all)
		return NULL;
	memcpy(all, saved->rules, saved->count * sizeof(*all));
	memcpy(all + saved->count, saved->pending, saved->npending * sizeof(*all));
	*n = saved->count + saved->npending;
	return all;
}

/* Writes SAVED's table into the maps attach just made, and the file. What the
 * state file holds was checked when it was written; a conflict that has
 * appeared since does not keep a port closed (no host checks). */
static int restore_table(const struct pindir *pd, const struct saved_state *saved,
			 const char *state, const char *cmd, struct txn *t)
{
	struct rule *all, *ready = NULL, *waiting = NULL;
	size_t n, nready = 0, nwaiting = 0;
	struct apply_summary sum = {0};
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct local_addrs local;
	char what[64];
	int err;

	if (maps_open(pd, &maps, &config))
		return -ENOENT;
	all = saved_rules(saved, &n);
	err = all ? 0 : -ENOMEM;
	if (local_addrs_read(config.public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	err = err ?: split_ready(all, n, &local, &ready, &nready, &waiting, &nwaiting, cmd);
	snprintf(what, sizeof(what), "%s: %s the table", cmd,
		 strcmp(cmd, "serve") ? "restoring" : "rebuilding");
	err = err
		  ?: apply(&maps, &config, NULL, 0, ready, nready,
			   &(struct change){.what = what,
					    .daemon = !strcmp(cmd, "serve"),
					    .state = state,
					    .pending = &(struct pending_set){waiting, nwaiting},
					    .txn = t},
			   &sum);
	maps_close(&maps);
	if (!err && strcmp(cmd, "serve"))
		txn_note(t, "restored %zu mappings from the state file %s\n", sum.added, state);
	else if (!err)
		txn_note(t, "rebuilt from the state file: %zu mappings\n", sum.added);
	if (!err && nwaiting)
		txn_note(t, "%zu mappings wait for the public interface's addresses\n", nwaiting);
	free(all);
	free(ready);
	free(waiting);
	return err;
}

int restore_attach(struct pindir *pd, const struct attach_req *req, const struct saved_state *saved,
		   const char *state, const char *cmd, struct txn *t)
{
	struct attach_req sized = *req;
	char marker[PATH_MAX + 80];
	size_t ports = 0;
	int fd;

	/* The file does not record the capacity: without --capacity, the
	 * default, or what the table and its pending mappings need if more. */
	for (size_t i = 0; i < saved->count; i++)
		ports += saved->rules[i].m.port_count;
	for (size_t i = 0; i < saved->npending; i++)
		ports += saved->pending[i].m.port_count;
	if (!sized.capacity)
		sized.capacity = capacity_needed(saved->count + saved->npending, ports);
	state_rebuild_marker(marker, sizeof(marker), state);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	return attach_new(pd, &sized, t) ?: restore_table(pd, saved, state, cmd, t);
}

void restore_finish(const char *state, int undo)
{
	char marker[PATH_MAX + 80];

	state_rebuild_marker(marker, sizeof(marker), state);
	if (undo >= 0)
		unlink(marker);
}

int attach_rebuild(struct pindir *pd, const struct saved_state *saved, const char *state)
{
	const struct attach_req req = {
	    .iface = saved->iface,
	    .tunnel = saved->tunnel,
	    .mode = saved->generic ? XDP_MODE_SKB : XDP_MODE_NATIVE,
	    .fast_path = saved->fast_path,
	    .clients = saved->clients,
	    .nclients = saved->client_count,
	};
	char marker[PATH_MAX + 16];
	int err, undo = 0;
	struct txn t;

	/* The changes inside write with this transaction, which undoes them:
	 * the marker they make (persist.h) is its to put back too. */
	state_changing_path(marker, sizeof(marker), state);
	txn_begin(&t);
	err = txn_take_file(&t, state);
	err = err ?: txn_take_file(&t, marker);
	err = err ?: restore_attach(pd, &req, saved, state, "serve", &t);
	if (err) {
		undo = txn_rollback(&t);
		report_undo("serve: rebuilding from the state file", undo);
	} else {
		txn_commit(&t);
	}
	restore_finish(state, undo);
	return err;
}
