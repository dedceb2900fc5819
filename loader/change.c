// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * change.c - how a change reaches the maps: the whole table as it should be
 * is validated, checked against the host, and only then written as a diff.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "capacity.h"
#include "change.h"
#include "conflict.h"
#include "loadindex.h"
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
	if (c->quiet)
		return;
	if (!c->daemon) {
		pr_warn("%s: %s\n", c->what, err);
		return;
	}
	pr_warn("%s: a mapping was refused (-vv names it)\n", c->what);
	pr_debug("%s: %s\n", c->what, err);
}

/* The end of a change of the maps that began with state_changing_begin()
 * (MARKED: it made the marker) and, unless it succeeded (RET 0), its undo
 * (txn_rollback()'s UNDO): the marker goes once maps and file agree. */
static void changed(const struct change *c, int marked, int ret, int undo)
{
	if (marked > 0 && (!ret || undo >= 0))
		state_changing_end(c->state);
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
	int ret, marked, undo = 0;

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
		own.fds_stable = true;
	}
	marked = c->state ? state_changing_begin(c->state) : 0;
	ret = table_apply(maps, have, nhave, want, count, sum, t, &changes, &k);
	if (ret)
		pr_warn(
		    "%s: writing the maps failed after %zu added, %zu changed, %zu removed: %s\n",
		    what, sum->added, sum->changed, sum->removed, strerror(-ret));
	if (!ret && c->state)
		ret = record(t, maps, config, want, count, nhave, changes, k, c);
	free(changes);
	if (t == &own && ret)
		undo = txn_rollback(t);
	if (t == &own && ret)
		report_undo(what, undo);
	else if (t == &own)
		txn_commit(t);
	changed(c, marked, ret, t == &own ? undo : -1);
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

/* What a load works from. */
struct load_req {
	const struct xdpfwd_maps *maps;
	const struct xdpfwd_config *config;
	const char *path, *state, *cmd;
	bool force, daemon, refuse_empty;
	char what[PATH_MAX + 16];
	struct local_addrs local; /* the public interface's addresses */
};

static void load_said(const struct load_req *lr, const struct apply_summary *sum, size_t unchanged,
		      size_t ndynamic)
{
	char note[64];

	printf("loaded %s: %zu added, %zu changed, %zu removed, %zu unchanged%s\n", lr->path,
	       sum->added, sum->changed, sum->removed, unchanged,
	       dynamic_note(ndynamic, note, sizeof(note)));
	fflush(stdout);
}

/* The index of the table just loaded, the K entries of E (sorted here),
 * where the state file now stands: or none, when that cannot be told. */
static void index_save(const struct load_req *lr, struct lidx_entry *e, size_t k)
{
	struct load_index ix = {.e = e, .n = k, .local_digest = local_digest(&lr->local)};

	if (lidx_sort(e, k) || state_position(lr->state, &ix.pos) || lidx_write(lr->state, &ix))
		lidx_remove(lr->state);
}

/* After the long way: the index of the N RULES just loaded from TEXT (the
 * operator's ones; the maps hold them now, as the whole table was read), and
 * no marker of a change killed half way, since the maps were read whole. */
static void index_after_whole(const struct load_req *lr, const char *text, const struct rule *rules,
			      size_t n)
{
	struct hash_at *lines = NULL;
	struct lidx_entry *e = malloc((n + 1) * sizeof(*e));
	size_t nlines = 0, k = 0;
	__u64 *by_line = NULL;

	if (e && !config_lines(text, strlen(text), &lines, &nlines))
		by_line =
		    calloc((nlines ? line_number(lines[nlines - 1].at) : 0) + 1, sizeof(*by_line));
	for (size_t i = 0; by_line && i < nlines; i++)
		by_line[line_number(lines[i].at)] = lines[i].hash;
	for (size_t i = 0; by_line && i < n; i++)
		if (!rules[i].owner.kind && rules[i].line)
			lidx_entry_of(&rules[i], by_line[rules[i].line], &e[k++]);
	if (by_line)
		index_save(lr, e, k);
	else
		lidx_remove(lr->state);
	state_changing_end(lr->state);
	free(by_line);
	free(e);
	free(lines);
}

/* A file with no mappings empties the table: only with --force, said with
 * how many of the operator's mappings would go. 0, or -ENOTEMPTY. */
static int refuse_empty(const struct load_req *lr, const struct rule *have, size_t nhave, size_t n)
{
	size_t ops;

	if (n || !lr->refuse_empty || lr->force || !(ops = operator_count(have, nhave)))
		return 0;
	pr_warn("%s: %s has no mappings: loading it would remove the table's %zu mapping%s; give "
		"--force to empty it\n",
		lr->cmd, lr->path, ops, ops == 1 ? "" : "s");
	return -ENOTEMPTY;
}

/* The long way: the whole table read from the maps, the whole file
 * parsed, validated and compared, the difference written. */
static int load_whole(const struct load_req *lr, const char *text)
{
	/* The file is the whole table: nothing waits beside it. */
	static const struct pending_set none = {0};
	struct change change = {.what = lr->what,
				.check_host = !lr->force,
				.state = lr->state,
				.pending = &none,
				.daemon = lr->daemon};
	struct apply_summary sum;
	struct rule *rules, *have;
	char err[ERR_LEN];
	size_t n, nhave, ndynamic;
	int ret;

	ret = parse_config(text, &rules, &n, err);
	if (ret) {
		pr_warn("%s: %s: %s\n", lr->cmd, lr->path, err);
		return -EINVAL;
	}
	if (live_rules(lr->maps, &have, &nhave, 0)) {
		free(rules);
		return -EIO;
	}
	/* Both sorted alike: each lease found in one walk. */
	ret = refuse_empty(lr, have, nhave, n) ?: rules_sort(rules, n);
	for (size_t i = 0, h = 0; !ret && i < n; i++) {
		while (h < nhave && compare_rules_public(&have[h], &rules[i]) < 0)
			h++;
		set_expiry(&rules[i], have + h, h < nhave, false);
	}
	ndynamic = ret ? 0 : keep_dynamic(&rules, &n, have, nhave);
	ret = ret
		  ?: ndynamic == SIZE_MAX
		     ? -ENOMEM
		     : apply(lr->maps, lr->config, have, nhave, rules, n, &change, &sum);
	free(have);
	if (!ret) {
		load_said(lr, &sum, sum.kept - ndynamic, ndynamic);
		index_after_whole(lr, text, rules, n);
	}
	fflush(stdout);
	free(rules);
	return ret;
}

/* The index of the last load, made to follow the state file as it is now
 * (the records since it replayed): 0 with IX and POS, 1 when it cannot
 * tell (no index, a change killed half way, another snapshot, other
 * addresses). */
static int index_follow(const struct load_req *lr, struct load_index *ix, struct state_pos *pos)
{
	struct journal j;
	char err[ERR_LEN];
	int ret;

	if (!lr->state || state_changing(lr->state) || lidx_read(lr->state, ix))
		return 1;
	ret = state_position(lr->state, pos) || local_digest(&lr->local) != ix->local_digest;
	if (!ret && (pos->jlen != ix->pos.jlen || pos->tail_crc != ix->pos.tail_crc)) {
		/* Zeroed by it whatever it returns: freed either way. */
		ret = state_journal_since(lr->state, &ix->pos, &j, err) ? 1 : 0;
		ret = ret ?: lidx_replay(ix, &j) ? 1 : 0;
		journal_free(&j);
	}
	if (ret)
		lidx_free(ix);
	return ret;
}

/* The rules of PLAN's fresh lines (of the LEN bytes of TEXT), into *PUT
 * (*NPUT), each with its entry into E: 0, or 1 when one does not parse
 * (the long way says so). */
static int indexed_puts(const char *text, size_t len, const struct load_plan *plan,
			struct rule **put, size_t *nput, struct lidx_entry *e)
{
	char err[ERR_LEN];

	*nput = 0;
	*put = malloc((2 * plan->nfresh + 1) * sizeof(**put));
	if (!*put)
		return 1;
	for (size_t i = 0; i < plan->nfresh; i++) {
		const char *l = text + line_offset(plan->fresh[i]);
		const char *eol = memchr(l, '\n', text + len - l);
		size_t n = eol ? (size_t)(eol - l) : (size_t)(text + len - l);
		int got = parse_rule_line(l, n, line_number(plan->fresh[i]), *put + *nput, err);

		if (got < 0)
			return 1;
		for (int r = 0; r < got; r++, ++*nput)
			lidx_entry_of(*put + *nput, line_hash(l, n), &e[*nput]);
	}
	return 0;
}

/* The live mappings of PLAN's entries no line makes now, into *DROP: 0, or
 * 1 when one is not in the maps as the index says (the long way reads
 * them). */
static int indexed_drops(const struct load_req *lr, const struct load_plan *plan,
			 struct rule **drop)
{
	char err[ERR_LEN];

	*drop = malloc((plan->ngone + 1) * sizeof(**drop));
	if (!*drop)
		return 1;
	for (size_t i = 0; i < plan->ngone; i++) {
		const struct lidx_entry *e = &plan->gone[i];
		struct rule probe = {.m = {.family = e->family,
					   .proto = e->proto,
					   .public_port = e->port,
					   .port_count = e->count,
					   .public_addr = e->addr,
					   .source_addr = e->addr}};

		if (addr_is_zero(&e->addr) && wildcard_source(&probe, &lr->local, err))
			return 1;
		if (table_find(lr->maps, false, &probe.m, 0, &(*drop)[i]) != 1 ||
		    !same_public(&(*drop)[i].m, &probe.m) || (*drop)[i].owner.kind)
			return 1;
	}
	return 0;
}

/* Whether a batch of K changes costs less than the long way at a table of
 * N: a few syscalls each against a batched write of the whole. */
static bool few(size_t k, size_t n)
{
	return k <= 256 || k * 4 <= n;
}

/* PLAN, made: its puts and drops as one batch, the index written after. */
static int indexed_apply(const struct load_req *lr, const char *text, size_t len,
			 const struct load_plan *plan, size_t ndynamic)
{
	struct lidx_entry *e = malloc((plan->nkeep + 2 * plan->nfresh + 1) * sizeof(*e));
	struct lidx_entry *fresh = malloc((2 * plan->nfresh + 1) * sizeof(*fresh));
	struct rule *put = NULL, *drop = NULL;
	struct apply_summary sum;
	size_t nput = 0;
	int ret = !e || !fresh || indexed_puts(text, len, plan, &put, &nput, fresh) ||
		  indexed_drops(lr, plan, &drop);

	ret = ret
		  ?: apply_batch(lr->maps, lr->config,
				 &(struct batch){.put = put,
						 .nput = nput,
						 .drop = drop,
						 .ndrop = plan->ngone,
						 .pair = true},
				 &(struct change){.what = lr->what,
						  .check_host = !lr->force,
						  .state = lr->state,
						  .daemon = lr->daemon,
						  .quiet = true,
						  .local = &lr->local},
				 &sum);
	if (ret == -EAGAIN)
		ret = 1;
	if (!ret) {
		load_said(lr, &sum, plan->nkeep + sum.kept, ndynamic);
		/* The known lines' entries are in order: the new ones merged in. */
		if (lidx_merge(plan->keep, plan->nkeep, fresh, nput, e))
			lidx_remove(lr->state);
		else
			index_save(lr, e, plan->nkeep + nput);
	}
	free(fresh);
	free(e);
	free(put);
	free(drop);
	return ret;
}

unsigned long load_short_ways;

/* The short way: the lines the index of the last load does not know are
 * parsed and put, the mappings of those it knows and the file lacks
 * removed, as one batch (apply_batch(): validated against the mappings
 * they meet, found through the maps). 0, -errno after a message, or 1 when
 * the long way is to do it (nothing was changed or said). */
static int load_indexed(const struct load_req *lr, const char *text, size_t len)
{
	struct hash_at *lines = NULL;
	struct load_index ix;
	struct load_plan plan = {0};
	struct state_pos pos;
	size_t nlines = 0;
	int ret = index_follow(lr, &ix, &pos);

	if (ret)
		return 1;
	ret = config_lines(text, len, &lines, &nlines) || !nlines || pos.count < ix.n ||
	      !few(nlines > ix.n ? nlines - ix.n : 0, ix.n);
	ret = ret ?: lidx_plan(&ix, lines, nlines, &plan) ? 1 : 0;
	if (!ret && few(plan.nfresh + plan.ngone, ix.n))
		ret = indexed_apply(lr, text, len, &plan, pos.count - ix.n);
	else if (!ret)
		ret = 1;
	load_short_ways += !ret;
	lidx_plan_free(&plan);
	lidx_free(&ix);
	free(lines);
	return ret;
}

/* The config file mapped (the page cache's pages, nothing to copy or
 * clear) for the short way: 0 with *TEXT and *LEN, or -1 (the long way
 * reads it, and says what is wrong with it). */
static int map_config(const char *path, const char **text, size_t *len)
{
	struct stat st;
	void *map = MAP_FAILED;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    st.st_size <= MAX_CONFIG_BYTES)
		map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED)
		return -1;
	*text = map;
	*len = st.st_size;
	/* A NUL byte: not a text file, as read_text_file() says. */
	if (!memchr(*text, '\0', *len))
		return 0;
	munmap(map, *len);
	return -1;
}

static int load_run(struct load_req *lr)
{
	const char *mapped;
	char *text;
	size_t len;
	int ret = 1;

	snprintf(lr->what, sizeof(lr->what), "%s: %s", lr->cmd, lr->path);
	if (local_addrs_read(lr->config->public_ifindex, &lr->local))
		memset(&lr->local, 0, sizeof(lr->local));
	if (!map_config(lr->path, &mapped, &len)) {
		ret = load_indexed(lr, mapped, len);
		munmap((void *)mapped, len);
	}
	if (ret != 1)
		return ret;
	text = read_file(lr->path, lr->cmd);
	if (!text)
		return -EINVAL;
	ret = load_whole(lr, text);
	free(text);
	return ret;
}

int load_file(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, const char *path,
	      bool force, const char *state, const char *cmd, bool daemon)
{
	struct load_req lr = {.maps = maps,
			      .config = config,
			      .path = path,
			      .state = state,
			      .cmd = cmd,
			      .force = force,
			      .daemon = daemon};

	return load_run(&lr);
}

int load_file_cli(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		  const char *path, bool force, const char *state)
{
	struct load_req lr = {.maps = maps,
			      .config = config,
			      .path = path,
			      .state = state,
			      .cmd = "load",
			      .force = force,
			      .refuse_empty = true};

	return load_run(&lr);
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
/* With B->pair, the drop of B on PUT's public side (not PAIRED yet, the
 * same kind of owner), now PAIRED: PUT changes it in place. */
static const struct rule *paired_drop(const struct batch *b, const struct rule *put, bool *paired)
{
	for (size_t k = 0; b->pair && k < b->ndrop; k++)
		if (!paired[k] && same_public(&b->drop[k].m, &put->m) &&
		    b->drop[k].owner.kind == put->owner.kind) {
			paired[k] = true;
			return &b->drop[k];
		}
	return NULL;
}

static int batch_validate(const struct local_addrs *local, const struct batch *b,
			  struct rule *touched, size_t ntouched, const struct rule **old,
			  bool *paired, char *err)
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
		if (!old[i])
			old[i] = paired_drop(b, &b->put[i], paired);
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

/* The live mappings B's puts meet (TOUCHED) and the drops they change in
 * place (PAIRED), sorted by public side: what check_conflicts() takes as
 * held. NULL without memory. */
static struct rule *held_rules(const struct batch *b, const struct rule *touched, size_t ntouched,
			       const bool *paired, size_t *n)
{
	struct rule *have = malloc((ntouched + b->ndrop + 1) * sizeof(*have));

	*n = ntouched;
	if (!have)
		return NULL;
	memcpy(have, touched, ntouched * sizeof(*have));
	for (size_t i = 0; i < b->ndrop; i++)
		if (paired[i])
			have[(*n)++] = b->drop[i];
	if (*n > ntouched)
		qsort(have, *n, sizeof(*have), compare_rules_public);
	return have;
}

/* The puts of B against the host (conflict.h): /proc is read only when a
 * put takes a public side no live mapping holds. */
static int batch_host_check(const struct xdpfwd_config *config, const struct batch *b,
			    const struct rule *touched, size_t ntouched, const bool *paired,
			    const struct change *c)
{
	struct host_ports host = {0};
	char err[ERR_LEN];
	size_t nhave;
	struct rule *have = held_rules(b, touched, ntouched, paired, &nhave);
	int ret = have ? 0 : -ENOMEM;

	if (!ret && conflicts_need_host(b->put, b->nput, have, nhave))
		ret = host_ports_read(&host);
	if (ret) {
		if (!c->quiet)
			pr_warn("%s: cannot read the ports in use from /proc: %s (--force skips "
				"the check)\n",
				c->what, strerror(-ret));
		free(have);
		return c->quiet ? -EAGAIN : ret;
	}
	ret = check_conflicts(b->put, b->nput, have, nhave, &host, config, err);
	host_ports_free(&host);
	free(have);
	if (ret)
		refused(c, err);
	return !ret ? 0 : c->quiet ? -EAGAIN : -EINVAL;
}

/* Writes the changes (less the drops PAIRED with a put), and the state
 * file after them, all or nothing. */
static int batch_write(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
		       const struct batch *b, const struct rule **old, const bool *paired,
		       const struct change *c, struct apply_summary *sum)
{
	struct table_change *changes = calloc(b->nput + b->ndrop + 1, sizeof(*changes));
	size_t k = 0, hint = c->state ? state_count_hint(c->state) : 0;
	struct txn own = {0}, *t = c->txn;
	char err[ERR_LEN];
	int ret = changes ? 0 : -ENOMEM, undo = 0, marked;

	for (size_t i = 0; changes && i < b->nput; i++)
		changes[k++] = (struct table_change){old[i], &b->put[i]};
	for (size_t i = 0; changes && i < b->ndrop; i++)
		if (!paired || !paired[i])
			changes[k++] = (struct table_change){&b->drop[i], NULL};
	if (!t) {
		t = &own;
		txn_begin(t);
		own.fds_stable = true;
	}
	marked = c->state ? state_changing_begin(c->state) : 0;
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
	if (t == &own && ret) {
		undo = txn_rollback(t);
		report_undo(c->what, undo);
	} else if (t == &own) {
		txn_commit(t);
	}
	changed(c, marked, ret, t == &own ? undo : -1);
	free(changes);
	return ret;
}

int apply_batch(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, struct batch *b,
		const struct change *c, struct apply_summary *sum)
{
	const struct rule **old = calloc(b->nput + 1, sizeof(*old));
	bool *paired = calloc(b->ndrop + 1, sizeof(*paired));
	struct rule *touched = NULL;
	struct local_addrs local;
	char err[ERR_LEN];
	size_t ntouched = 0;
	int ret = 0, refusal = c->quiet ? -EAGAIN : -EINVAL;

	memset(sum, 0, sizeof(*sum));
	if (!old || !paired) {
		free(old);
		free(paired);
		return -ENOMEM;
	}
	if (c->local)
		local = *c->local;
	else if (local_addrs_read(config->public_ifindex, &local))
		memset(&local, 0, sizeof(local));
	/* The new rules alone first: each wildcard gets the address it
	 * answers from, by which its forward entries are found. */
	if (validate_table(b->put, b->nput, &local, err)) {
		refused(c, err);
		ret = refusal;
	}
	if (!ret)
		ret = touched_read(maps, b, &touched, &ntouched);
	if (ret && ret != refusal)
		pr_warn("%s: cannot read the mappings: %s\n", c->what, strerror(-ret));
	if (!ret && batch_validate(&local, b, touched, ntouched, old, paired, err)) {
		refused(c, err);
		ret = refusal;
	}
	if (!ret && c->check_host)
		ret = batch_host_check(config, b, touched, ntouched, paired, c);
	if (!ret)
		ret = batch_write(maps, config, b, old, paired, c, sum);
	free(touched);
	free(old);
	free(paired);
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
				olds, NULL, &(struct change){.what = "renew", .state = state}, sum);
	free(old);
	free(olds);
	return ret;
}
