// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * change.c - how a change reaches the maps: the whole table as it should be
 * is validated, checked against the host, and only then written as a diff.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "change.h"
#include "conflict.h"
#include "localaddr.h"
#include "log.h"
#include "persist.h"
#include "textfile.h"

#define MAX_CONFIG_BYTES (64 << 20)

int live_rules(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count, size_t extra)
{
	int err = table_live(maps, rules, count, extra);

	if (err)
		pr_warn("cannot read the mappings: %s\n", strerror(-err));
	return err;
}

void report_undo(const char *what, int undo)
{
	if (!undo)
		return; /* nothing had changed yet */
	if (undo < 0)
		pr_warn("%s: undoing it failed too (see above): check 'xdpfwd list', the state "
			"file and 'ip link'\n",
			what);
	else
		pr_warn("%s: undone: maps, programs and state file are as they were\n", what);
}

int apply(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	  const struct rule *have, size_t nhave, struct rule *want, size_t count,
	  const struct change *c, struct apply_summary *sum)
{
	const char *what = c->what;
	struct local_addrs local;
	struct host_ports host;
	struct txn own, *t = c->txn;
	char err[ERR_LEN];
	int ret;

	memset(sum, 0, sizeof(*sum));
	if (local_addrs_read(config->public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	if (validate_table(want, count, &local, err)) {
		pr_warn("%s: %s\n", what, err);
		return -EINVAL;
	}
	if (c->check_host) {
		ret = host_ports_read(&host);
		if (ret) {
			pr_warn(
			    "%s: cannot read the ports in use from /proc: %s (--force skips the check)\n",
			    what, strerror(-ret));
			return ret;
		}
		ret = check_conflicts(want, count, have, nhave, &host, config, err);
		host_ports_free(&host);
		if (ret) {
			pr_warn("%s: %s\n", what, err);
			return -EINVAL;
		}
	}
	if (!t) {
		t = &own;
		txn_begin(t);
	}
	ret = c->state ? txn_take_file(t, c->state) : 0;
	if (ret)
		pr_warn("%s: cannot read the state file %s first: %s\n", what, c->state,
			strerror(-ret));
	if (!ret) {
		ret = table_apply(maps, have, nhave, want, count, sum, t);
		if (ret)
			pr_warn("%s: writing the maps failed after %zu added, %zu changed, %zu "
				"removed: %s\n",
				what, sum->added, sum->changed, sum->removed, strerror(-ret));
	}
	/* The table just written is the file's: no second read of the maps. */
	if (!ret && c->state && state_write(c->state, config, want, count, c->pending, err)) {
		pr_warn("%s: %s\n", what, err);
		ret = -EIO;
	}
	if (t == &own) {
		if (ret)
			report_undo(what, txn_rollback(t));
		else
			txn_commit(t);
	}
	return ret;
}

/* The lease of a rule with a TTL: renewed from now, or (RENEW false) kept
 * from the live mapping it repeats, so reloading a file extends nothing. */
void set_expiry(struct rule *r, const struct rule *have, size_t nhave, bool renew)
{
	const struct rule *h;

	if (!r->m.ttl)
		return;

	h = !renew && nhave ? bsearch(r, have, nhave, sizeof(*have), compare_rules_public) : NULL;
	if (h && same_target(&h->m, &r->m) && h->m.ttl == r->m.ttl) {
		r->m.expires_ns = h->m.expires_ns;
		return;
	}
	r->m.expires_ns = boot_clock_ns() + r->m.ttl * 1000000000ULL;
}

char *read_file(const char *path, const char *cmd)
{
	char err[ERR_LEN], *text;

	if (read_text_file(path, MAX_CONFIG_BYTES, &text, err)) {
		pr_warn("%s: %s\n", cmd, err);
		return NULL;
	}
	return text;
}

int load_file(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, const char *path,
	      bool force, const char *state, const char *cmd)
{
	/* The file is the whole table: nothing waits beside it. */
	static const struct pending_set none = {0};
	struct change change = {.state = state, .pending = &none};
	struct apply_summary sum;
	struct rule *rules, *have;
	char err[ERR_LEN], what[PATH_MAX + 16];
	size_t n, nhave;
	char *text;
	int ret;

	text = read_file(path, cmd);
	if (!text)
		return -EINVAL;
	ret = parse_config(text, &rules, &n, err);
	free(text);
	if (ret) {
		pr_warn("%s: %s: %s\n", cmd, path, err);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "%s: %s", cmd, path);
	change.what = what;
	change.check_host = !force;
	if (live_rules(maps, &have, &nhave, 0)) {
		free(rules);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++)
		set_expiry(&rules[i], have, nhave, false);
	ret = apply(maps, config, have, nhave, rules, n, &change, &sum);
	free(have);
	if (!ret)
		printf("loaded %s: %zu added, %zu changed, %zu removed, %zu unchanged\n", path,
		       sum.added, sum.changed, sum.removed, sum.kept);
	fflush(stdout);
	free(rules);
	return ret;
}
