// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * change.c - how a change reaches the maps: the whole table as it should be
 * is validated, checked against the host, and only then written as a diff.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capacity.h"
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

/* Why C refuses a mapping (ERR names it): said whole to a command's user,
 * by the daemon without the mapping unless at debug level. */
static void refused(const struct change *c, const char *err)
{
	if (!c->daemon) {
		pr_warn("%s: %s\n", c->what, err);
		return;
	}
	pr_warn("%s: a mapping was refused (-vv names it)\n", c->what);
	pr_debug("%s: %s\n", c->what, err);
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

/* Whether the file keeps no pending mappings beside the table (its first
 * line says version 1), so that a change with PENDING empty may be only
 * appended to the journal. */
static bool file_pending_none(const char *path)
{
	struct rule *carried;
	size_t n;
	char err[ERR_LEN];

	if (state_pending(path, &carried, &n, err))
		return false;
	free(carried);
	return n == 0;
}

/* The state file after the maps took the K CHANGES that made them WANT: a
 * journal record when the change is a small part of the table, leaves
 * what waits as it is and the file followed the maps (NHAVE mappings),
 * else a new snapshot of WANT. */
static int record(struct txn *t, const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		  const struct rule *want, size_t count, size_t nhave,
		  const struct table_change *changes, size_t k, const struct change *c)
{
	bool small = k * 4 <= count;
	bool carry =
	    c->pending == PENDING_CARRY || (!c->pending->count && file_pending_none(c->state));
	/* A record holds the difference from the maps: only a file that
	 * holds as many mappings as the maps did may take one (one that
	 * lags them, after a kill between the two writes, is rewritten). */
	bool follows = small && carry && state_count_hint(c->state) == nhave;
	char err[ERR_LEN];
	int ret;

	if (follows && !k)
		return 0; /* nothing changed: no record, no sync */
	if (follows) {
		ret = state_record(t, c->state, maps, config, changes, k, PENDING_CARRY, err);
	} else {
		ret = txn_take_file(t, c->state);
		if (ret)
			snprintf(err, sizeof(err), "cannot read the state file %s first: %s",
				 c->state, strerror(-ret));
		else
			ret = state_write(c->state, config, want, count, c->pending, err);
	}
	if (ret)
		pr_warn("%s: %s\n", c->what, err);
	return ret ? -EIO : 0;
}

int apply(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	  const struct rule *have, size_t nhave, struct rule *want, size_t count,
	  const struct change *c, struct apply_summary *sum)
{
	const char *what = c->what;
	struct local_addrs local;
	struct host_ports host;
	struct txn own, *t = c->txn;
	struct table_change *changes = NULL;
	char err[ERR_LEN];
	size_t k = 0;
	int ret;

	memset(sum, 0, sizeof(*sum));
	if (local_addrs_read(config->public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	if (validate_table(want, count, &local, err) || capacity_check(maps, want, count, err)) {
		refused(c, err);
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
			refused(c, err);
			return -EINVAL;
		}
	}
	if (!t) {
		t = &own;
		txn_begin(t);
	}
	ret = table_apply(maps, have, nhave, want, count, sum, t, &changes, &k);
	if (ret)
		pr_warn(
		    "%s: writing the maps failed after %zu added, %zu changed, %zu removed: %s\n",
		    what, sum->added, sum->changed, sum->removed, strerror(-ret));
	if (!ret && c->state)
		ret = record(t, maps, config, want, count, nhave, changes, k, c);
	free(changes);
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

/* The dynamic mappings of HAVE (NAT-PMP/PCP leases: owner.kind != 0)
 * appended to the file's *RULES (*N of them): a config file holds only the
 * operator's mappings, so the clients' stay whatever it says, and a line
 * that takes one's public or target ports is refused as an overlap that
 * names the lease (validate_table()). Their number, or SIZE_MAX without
 * memory. */
static size_t keep_dynamic(struct rule **rules, size_t *n, const struct rule *have, size_t nhave)
{
	size_t dynamic = 0;
	struct rule *grown;

	for (size_t h = 0; h < nhave; h++)
		dynamic += have[h].owner.kind != 0;
	if (!dynamic)
		return 0;
	grown = realloc(*rules, (*n + dynamic) * sizeof(**rules));
	if (!grown)
		return SIZE_MAX;
	*rules = grown;
	for (size_t h = 0; h < nhave; h++)
		if (have[h].owner.kind)
			grown[(*n)++] = have[h];
	return dynamic;
}

/* ", 3 dynamic kept" after load's summary, or "" without any. */
static const char *dynamic_note(size_t dynamic, char *buf, size_t len)
{
	if (!dynamic)
		return "";
	snprintf(buf, len, ", %zu dynamic (NAT-PMP/PCP) kept", dynamic);
	return buf;
}

size_t operator_count(const struct rule *rules, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count += !rules[i].owner.kind;
	return count;
}

int load_file(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, const char *path,
	      bool force, const char *state, const char *cmd, bool daemon)
{
	/* The file is the whole table: nothing waits beside it. */
	static const struct pending_set none = {0};
	struct change change = {.state = state, .pending = &none};
	struct apply_summary sum;
	struct rule *rules, *have;
	char err[ERR_LEN], what[PATH_MAX + 16], note[64];
	size_t n, nhave, ndynamic;
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
	change.daemon = daemon;
	change.check_host = !force;
	if (live_rules(maps, &have, &nhave, 0)) {
		free(rules);
		return -EIO;
	}
	/* Both sorted alike: each lease found in one walk. */
	if (rules_sort(rules, n)) {
		free(rules);
		free(have);
		return -ENOMEM;
	}
	for (size_t i = 0, h = 0; i < n; i++) {
		while (h < nhave && compare_rules_public(&have[h], &rules[i]) < 0)
			h++;
		set_expiry(&rules[i], have + h, h < nhave, false);
	}
	ndynamic = keep_dynamic(&rules, &n, have, nhave);
	ret = ndynamic == SIZE_MAX ? -ENOMEM
				   : apply(maps, config, have, nhave, rules, n, &change, &sum);
	free(have);
	if (!ret)
		printf("loaded %s: %zu added, %zu changed, %zu removed, %zu unchanged%s\n", path,
		       sum.added, sum.changed, sum.removed, sum.kept - ndynamic,
		       dynamic_note(ndynamic, note, sizeof(note)));
	fflush(stdout);
	free(rules);
	return ret;
}

/* Adds R to the list *OUT of *N unless a rule of the same slot is there. */
static int add_touched(struct rule **out, size_t *n, size_t *cap, const struct rule *r)
{
	for (size_t i = 0; i < *n; i++)
		if ((*out)[i].slot == r->slot)
			return 0;
	if (*n == *cap) {
		size_t want = *cap ? 2 * *cap : 8;
		struct rule *grown = realloc(*out, want * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		*out = grown;
		*cap = want;
	}
	(*out)[(*n)++] = *r;
	return 0;
}

static bool dropped(const struct rule *r, const struct batch *b)
{
	for (size_t i = 0; i < b->ndrop; i++)
		if (b->drop[i].slot == r->slot)
			return true;
	return false;
}

/* The live mappings B's new rules meet on a public port (by the address
 * each answers from) or a target port, less those B removes, sorted like
 * table_live(): what validate_table() and check_conflicts() need to see of
 * the table. The maps are the index: lookups per port, no read of the table. */
static int touched_read(const struct xdpfwd_maps *maps, const struct batch *b, struct rule **out,
			size_t *n)
{
	size_t cap = 0;
	struct rule found;
	int err = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < b->nput && !err; i++)
		for (unsigned int p = 0; p < 2 * b->put[i].m.port_count && !err; p++) {
			err = table_find(maps, p & 1, &b->put[i].m, p / 2, &found);
			if (err > 0)
				err = dropped(&found, b) ? 0 : add_touched(out, n, &cap, &found);
		}
	if (!err && *n)
		qsort(*out, *n, sizeof(**out), compare_rules_public);
	if (err < 0) {
		free(*out);
		*out = NULL;
	}
	return err < 0 ? err : 0;
}

/* Validates B's new rules with the mappings they meet (TOUCHED), and pairs
 * each with the live mapping it repeats (same public side and target, and
 * the same kind of owner: its renewal or new policy), into OLD. A put over
 * a mapping of another kind of owner (the operator's add over a client's
 * lease, or the reverse) is no repeat: validation refuses the pair as a
 * duplicate, naming the lease, as load does. Messages as apply()'s. */
static int batch_validate(const struct local_addrs *local, const struct batch *b,
			  struct rule *touched, size_t ntouched, const struct rule **old, char *err)
{
	struct rule *all = calloc(b->nput + ntouched + 1, sizeof(*all));
	size_t n = b->nput;
	int ret;

	if (!all) {
		snprintf(err, ERR_LEN, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->nput; i++) {
		old[i] = NULL;
		for (size_t k = 0; k < ntouched && !old[i]; k++)
			if (same_target(&touched[k].m, &b->put[i].m) &&
			    touched[k].owner.kind == b->put[i].owner.kind)
				old[i] = &touched[k];
		if (b->renewed)
			b->renewed[i] = old[i] != NULL;
		set_expiry(&b->put[i], old[i], old[i] ? 1 : 0, b->renew);
	}
	memcpy(all, b->put, b->nput * sizeof(*all));
	for (size_t k = 0; k < ntouched; k++) {
		bool repeated = false;

		for (size_t i = 0; i < b->nput && !repeated; i++)
			repeated = old[i] == &touched[k];
		if (!repeated)
			all[n++] = touched[k];
	}
	ret = validate_table(all, n, local, err) ? -EINVAL : 0;
	free(all);
	return ret;
}

static int batch_host_check(const struct xdpfwd_config *config, const struct batch *b,
			    const struct rule *touched, size_t ntouched, const char *what)
{
	struct host_ports host;
	char err[ERR_LEN];
	int ret = host_ports_read(&host);

	if (ret) {
		pr_warn(
		    "%s: cannot read the ports in use from /proc: %s (--force skips the check)\n",
		    what, strerror(-ret));
		return ret;
	}
	ret = check_conflicts(b->put, b->nput, touched, ntouched, &host, config, err);
	host_ports_free(&host);
	if (ret)
		pr_warn("%s: %s\n", what, err);
	return ret ? -EINVAL : 0;
}

/* Writes the changes, and the state file after them, all or nothing. */
static int batch_write(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		       const struct batch *b, const struct rule **old, const struct change *c,
		       struct apply_summary *sum)
{
	struct table_change *changes = calloc(b->nput + b->ndrop + 1, sizeof(*changes));
	size_t k = 0, hint = c->state ? state_count_hint(c->state) : 0;
	struct txn own = {0}, *t = c->txn;
	char err[ERR_LEN];
	int ret = changes ? 0 : -ENOMEM;

	for (size_t i = 0; changes && i < b->nput; i++)
		changes[k++] = (struct table_change){old[i], &b->put[i]};
	for (size_t i = 0; changes && i < b->ndrop; i++)
		changes[k++] = (struct table_change){&b->drop[i], NULL};
	if (!t) {
		t = &own;
		txn_begin(t);
	}
	ret = ret ?: table_apply_changes(maps, changes, k, hint, sum, t);
	if (ret == -ENOSPC || ret == -E2BIG)
		capacity_full(c->what, maps);
	else if (ret)
		pr_warn(
		    "%s: writing the maps failed after %zu added, %zu changed, %zu removed: %s\n",
		    c->what, sum->added, sum->changed + sum->renewed, sum->removed, strerror(-ret));
	if (!ret && c->state &&
	    state_record(t, c->state, maps, config, changes, k, c->pending, err)) {
		pr_warn("%s: %s\n", c->what, err);
		ret = -EIO;
	}
	if (t == &own) {
		if (ret)
			report_undo(c->what, txn_rollback(t));
		else
			txn_commit(t);
	}
	free(changes);
	return ret;
}

int apply_batch(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, struct batch *b,
		const struct change *c, struct apply_summary *sum)
{
	const struct rule **old = calloc(b->nput + 1, sizeof(*old));
	struct rule *touched = NULL;
	struct local_addrs local;
	char err[ERR_LEN];
	size_t ntouched = 0;
	int ret = 0;

	memset(sum, 0, sizeof(*sum));
	if (!old)
		return -ENOMEM;
	if (local_addrs_read(config->public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	/* The new rules alone first: each wildcard gets the address it
	 * answers from, by which its forward entries are found. */
	if (validate_table(b->put, b->nput, &local, err)) {
		refused(c, err);
		ret = -EINVAL;
	}
	ret = ret ?: touched_read(maps, b, &touched, &ntouched);
	if (ret && ret != -EINVAL)
		pr_warn("%s: cannot read the mappings: %s\n", c->what, strerror(-ret));
	if (!ret && batch_validate(&local, b, touched, ntouched, old, err)) {
		refused(c, err);
		ret = -EINVAL;
	}
	if (!ret && c->check_host)
		ret = batch_host_check(config, b, touched, ntouched, c->what);
	if (!ret)
		ret = batch_write(maps, config, b, old, c, sum);
	free(touched);
	free(old);
	return ret;
}

int renew_batch(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		const char *state, const struct xdpfwd_mapping *keys, size_t k,
		struct apply_summary *sum)
{
	struct rule *old = calloc(2 * k + 1, sizeof(*old)), *put = old + k;
	const struct rule **olds = calloc(k + 1, sizeof(*olds));
	size_t n = 0;
	int ret = old && olds ? 0 : -ENOMEM;

	memset(sum, 0, sizeof(*sum));
	/* The mapping each key names, through its forward entry; a renewal
	 * changes neither side of it, so there is nothing to validate. */
	for (size_t i = 0; !ret && i < k; i++) {
		ret = table_find(maps, false, &keys[i], 0, &old[n]);
		if (ret == 1 && same_public(&old[n].m, &keys[i]) && old[n].m.ttl) {
			put[n] = old[n];
			put[n].m.expires_ns = boot_clock_ns() + put[n].m.ttl * 1000000000ULL;
			olds[n] = &old[n];
			n++;
		}
		ret = ret < 0 ? ret : 0; /* gone, or without a lease: nothing to renew */
	}
	if (!ret && n)
		ret =
		    batch_write(maps, config, &(struct batch){.put = put, .nput = n, .renew = true},
				olds, &(struct change){.what = "renew", .state = state}, sum);
	free(old);
	free(olds);
	return ret;
}
