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
#include "failpoint.h"
#include "journal.h"
#include "txn.h"

/* What the pair on disk is now: the snapshot's identity and mappings, its
 * journal's header and length (open at *JFD), and whether the journal
 * follows this very snapshot as it was when checked whole (FRESH). -1 when
 * there is no journal, or it cannot be told. */
struct on_disk {
	struct journal_head snap, head;
	size_t snap_count; /* the snapshot's records, less the attach one */
	int snap_version;  /* its first line's */
	size_t head_len, jlen, count;
	bool fresh;
	int jfd;
};

/* The identity of the snapshot at PATH and its count of records, read from
 * its first and last lines alone. */
static int snapshot_now(const char *path, struct journal_head *snap, size_t *records,
			int *version_out, bool *attached)
{
	char tail[96], first[48];
	unsigned int n;
	struct stat st;
	ssize_t got, got_first;
	size_t want, at;
	int fd = open(path, O_RDONLY | O_CLOEXEC), version, ret = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_size < 2)
		goto out;
	want = (size_t)st.st_size < sizeof(tail) - 1 ? (size_t)st.st_size : sizeof(tail) - 1;
	got = pread(fd, tail, want, st.st_size - want);
	got_first = pread(fd, first, sizeof(first) - 1, 0);
	if (got != (ssize_t)want || got_first < 0)
		goto out;
	tail[want] = '\0';
	first[got_first] = '\0';
	version = snapshot_version(first);
	/* Only a version this build writes is read by parts. */
	if (version < 1 || version > XDPFWD_STATE_VERSION ||
	    snapshot_end(tail, want, &n, &snap->crc, &at))
		goto out;
	*records = n;
	*version_out = version;
	/* The attach record, when there is one, is the second line. */
	*attached = strstr(first, "\nattach ") != NULL;
	snap->size = st.st_size;
	snap->ino = st.st_ino;
	snap->mtime_ns = st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
	ret = 0;
out:
	close(fd);
	return ret;
}

static int on_disk_read(const char *path, struct on_disk *d)
{
	char jpath[PATH_MAX + 16], line[256], err[ERR_LEN];
	struct strbuf head = STRBUF_INIT;
	struct stat st;
	bool attached;
	ssize_t got;

	memset(d, 0, sizeof(*d));
	d->jfd = -1;
	if (snapshot_now(path, &d->snap, &d->snap_count, &d->snap_version, &attached))
		return -1;
	d->snap_count -= attached && d->snap_count > 0; /* the attach record */
	d->count = d->snap_count;
	journal_path(jpath, sizeof(jpath), path);
	d->jfd = open(jpath, O_RDWR | O_APPEND | O_CLOEXEC);
	if (d->jfd < 0 || fstat(d->jfd, &st))
		return -1;
	d->jlen = st.st_size;
	got = pread(d->jfd, line, sizeof(line) - 1, 0);
	line[got > 0 ? got : 0] = '\0';
	if (journal_parse_head(line, got > 0 ? got : 0, &d->head, &d->head_len, err))
		return -1;
	/* The header as this build writes it, or it is read whole. */
	journal_format_head(&head, &d->head);
	d->fresh = head.len == d->head_len && !memcmp(head.data, line, head.len) &&
		   !memcmp(&d->head, &d->snap, sizeof(d->head));
	strbuf_free(&head);
	return 0;
}

static void on_disk_close(struct on_disk *d)
{
	if (d->jfd >= 0)
		close(d->jfd);
	d->jfd = -1;
}

/* Whether the pair can be appended to after checking its last record only:
 * the snapshot is the one checked whole when its journal began. */
static bool tail_only(const char *path, struct on_disk *d)
{
	return !on_disk_read(path, d) && d->fresh &&
	       journal_check_tail(d->jfd, d->jlen, d->head_len, &d->count) == 0;
}

int state_check(const char *path, char *err)
{
	struct saved_state s;
	struct on_disk d;
	struct clocks now;
	bool found, quick = tail_only(path, &d);
	int ret;

	on_disk_close(&d);
	if (quick)
		return 0;
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
	if (snapshot_version(first) == 1)
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

/* The pair at PATH read whole and its checksums checked, and its pending
 * mappings into OLD (nothing else): what anything that replaces the pair
 * does first, so that a damaged one is refused and left as it is, never
 * overwritten. */
static int read_whole(const char *path, struct saved_state *old, char *err)
{
	memset(old, 0, sizeof(*old));
	if (state_verify(path, err))
		return -1;
	return state_pending(path, &old->pending, &old->npending, err);
}

/* RULES, PENDING (or OLD's pending mappings, less those a live mapping now
 * holds the public side of) and CONFIG's attachment written to PATH. */
static int rewrite(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		   size_t count, const struct pending_set *pending, struct saved_state *old,
		   char *err)
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
	if (pending) {
		s.pending = (struct rule *)pending->rules;
		s.npending = pending->count;
	} else {
		/* A live mapping on the same public side took its place. */
		for (size_t i = 0; i < old->npending; i++) {
			bool live = false;

			for (size_t k = 0; k < count && !live; k++)
				live = same_public(&rules[k].m, &old->pending[i].m);
			if (!live)
				old->pending[s.npending++] = old->pending[i];
		}
		s.pending = old->pending;
	}
	clocks_now(&now);
	return state_save(path, &s, &now, err);
}

int state_write(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		size_t count, const struct pending_set *pending, char *err)
{
	struct saved_state old;
	int ret = read_whole(path, &old, err);

	ret = ret ?: rewrite(path, config, rules, count, pending, &old, err);
	state_free(&old);
	return ret;
}

/* The whole file written anew from the live mappings, PENDING as given,
 * once the pair there now has been read whole. */
static int write_from_maps(const char *path, const struct xdpfwd_maps *maps,
			   const struct xdpfwd_config *config, const struct pending_set *pending,
			   char *err)
{
	struct saved_state old;
	struct rule *rules = NULL;
	size_t count;
	int ret = read_whole(path, &old, err);

	if (ret)
		return -1;
	ret = table_live(maps, &rules, &count, 0);
	if (ret)
		snprintf(err, ERR_LEN, "state file %s: cannot read the mappings: %s", path,
			 strerror(-ret));
	else
		ret = rewrite(path, config, rules, count, pending, &old, err);
	free(rules);
	state_free(&old);
	return ret ? -1 : 0;
}

int state_sync(const char *path, const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	       char *err)
{
	return write_from_maps(path, maps, config, PENDING_CARRY, err);
}

size_t state_count_hint(const char *path)
{
	struct on_disk d;
	bool quick = tail_only(path, &d);

	on_disk_close(&d);
	return quick ? d.count : d.snap_count;
}

/* Live mappings after CHANGES, from COUNT before. */
static size_t count_after(size_t count, const struct table_change *changes, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		if (!changes[i].old && changes[i].new)
			count++;
		else if (changes[i].old && !changes[i].new &&count)
			count--;
	}
	return count;
}

/* One record at the journal's end, durable before this returns. */
static int journal_append(struct txn *t, const char *path, const struct on_disk *d,
			  const struct strbuf *rec, char *err)
{
	char jpath[PATH_MAX + 16];
	ssize_t w;

	journal_path(jpath, sizeof(jpath), path);
	if (t && txn_take_append(t, jpath))
		goto fail;
	if (failpoint("journal-write"))
		goto fail;
	w = write(d->jfd, rec->data, rec->len);
	if (w != (ssize_t)rec->len) {
		if (w >= 0)
			errno = ENOSPC;
		goto fail;
	}
	if (failpoint("journal-sync") || fdatasync(d->jfd))
		goto fail;
	return 0;
fail:
	snprintf(err, ERR_LEN, "state journal %s: cannot write it: %s", jpath, strerror(errno));
	return -1;
}

/* The whole table into a new snapshot and an empty journal: what the maps
 * hold, and PENDING. */
static int compact(struct txn *t, const char *path, const struct xdpfwd_maps *maps,
		   const struct xdpfwd_config *config, const struct pending_set *pending, char *err)
{
	int ret = t ? txn_take_file(t, path) : 0;

	if (ret) {
		snprintf(err, ERR_LEN, "state file %s: cannot read it first: %s", path,
			 strerror(-ret));
		return -1;
	}
	return write_from_maps(path, maps, config, pending, err);
}

/*
 * When the journal at D ends in a torn record: reads the pair whole (damage
 * anywhere else refuses it: -1 with err) and truncates the journal to its
 * whole records, durably, so that the next record never follows garbage.
 * 0 when D can be appended to now (D->jlen and D->count as after the cut);
 * 1 when the pair is to be written whole instead.
 */
static int drop_torn_tail(const char *path, struct on_disk *d, char *err)
{
	struct journal_seen seen;
	struct saved_state s;
	char jpath[PATH_MAX + 16];
	struct clocks now;
	bool found;
	int ret;
	size_t count;

	clocks_now(&now);
	ret = state_load_pair(path, &now, &s, &found, &seen, err);
	count = s.count;

	state_free(&s);
	if (ret)
		return -1;
	if (!seen.follows || seen.len != d->jlen || seen.good_len < d->head_len ||
	    seen.good_len >= seen.len)
		return 1;
	journal_path(jpath, sizeof(jpath), path);
	if (failpoint("journal-truncate") || ftruncate(d->jfd, seen.good_len) ||
	    fdatasync(d->jfd)) {
		snprintf(err, ERR_LEN, "state journal %s: cannot drop its torn tail: %s", jpath,
			 strerror(errno));
		return -1;
	}
	d->jlen = seen.good_len;
	d->count = count;
	return 0;
}

/* Whether the pair at PATH takes a record now (0: D read, its tail whole or
 * made so), is to be written whole (1), or is refused (-1, err). */
static int appendable(const char *path, struct on_disk *d, char *err)
{
	int tail;

	if (on_disk_read(path, d) || !d->fresh)
		return 1;
	tail = journal_check_tail(d->jfd, d->jlen, d->head_len, &d->count);
	if (tail < 0)
		return 1;
	return tail ? drop_torn_tail(path, d, err) : 0;
}

/* Whether a journal record of the K CHANGES needs a newer snapshot than
 * D's: a record with an owner= field follows only a version 3 snapshot, so
 * that an older build refuses the pair by the snapshot's version instead of
 * failing on a field it does not know in the journal. */
static bool needs_newer_snapshot(const struct on_disk *d, const struct table_change *changes,
				 size_t k)
{
	if (d->snap_version >= STATE_VERSION_OWNER)
		return false;
	for (size_t i = 0; i < k; i++)
		if (changes[i].new &&changes[i].new->owner.kind)
			return true;
	return false;
}

int state_record(struct txn *t, const char *path, const struct xdpfwd_maps *maps,
		 const struct xdpfwd_config *config, const struct table_change *changes, size_t k,
		 const struct pending_set *pending, char *err)
{
	struct strbuf rec = STRBUF_INIT;
	struct clocks now;
	struct on_disk d = {.jfd = -1};
	int ret = pending == PENDING_CARRY ? appendable(path, &d, err) : 1;

	if (ret < 0) {
		on_disk_close(&d);
		return -1;
	}
	clocks_now(&now);
	if (!ret)
		journal_format_record(&rec, changes, k, count_after(d.count, changes, k), &now);
	/* Small, or the journal as big as the snapshot: a rewrite costs about
	 * what the appends since the last one did. */
	if (ret || rec.failed || d.snap.size + d.jlen + rec.len < JOURNAL_SMALL_BYTES ||
	    d.jlen + rec.len > d.snap.size || needs_newer_snapshot(&d, changes, k))
		ret = compact(t, path, maps, config, pending, err);
	else
		ret = journal_append(t, path, &d, &rec, err);
	on_disk_close(&d);
	strbuf_free(&rec);
	return ret;
}

/* CRC-32 of the (up to) 64 bytes of the journal at FD before JLEN. */
static int tail_crc(int fd, size_t jlen, __u32 *crc)
{
	char buf[64];
	size_t want = jlen < sizeof(buf) ? jlen : sizeof(buf);

	if (pread(fd, buf, want, jlen - want) != (ssize_t)want)
		return -1;
	*crc = text_crc32(buf, want);
	return 0;
}

int state_position(const char *path, struct state_pos *pos)
{
	struct on_disk d;
	int ret = -1;

	memset(pos, 0, sizeof(*pos));
	if (tail_only(path, &d) && !tail_crc(d.jfd, d.jlen, &pos->tail_crc)) {
		pos->snap = d.snap;
		pos->jlen = d.jlen;
		pos->count = d.count;
		ret = 0;
	}
	on_disk_close(&d);
	return ret;
}

static bool same_snapshot(const struct journal_head *a, const struct journal_head *b)
{
	return a->size == b->size && a->crc == b->crc && a->ino == b->ino &&
	       a->mtime_ns == b->mtime_ns;
}

/* The journal's header and the bytes after FROM's length, as one text that
 * journal_parse() reads: 0, 1 when the journal is not FROM's grown. */
static int read_since(const struct on_disk *d, const struct state_pos *from, char **text,
		      size_t *len)
{
	size_t tail = d->jlen - from->jlen;
	__u32 crc;

	*text = NULL;
	if (!same_snapshot(&d->snap, &from->snap) || d->jlen < from->jlen ||
	    from->jlen < d->head_len || tail_crc(d->jfd, from->jlen, &crc) || crc != from->tail_crc)
		return 1;
	*text = malloc(d->head_len + tail + 1);
	if (!*text)
		return -1;
	if (pread(d->jfd, *text, d->head_len, 0) != (ssize_t)d->head_len ||
	    pread(d->jfd, *text + d->head_len, tail, from->jlen) != (ssize_t)tail) {
		free(*text);
		*text = NULL;
		return -1;
	}
	*len = d->head_len + tail;
	(*text)[*len] = '\0';
	return 0;
}

int state_journal_since(const char *path, const struct state_pos *from, struct journal *j,
			char *err)
{
	char sub[ERR_LEN], *text;
	struct clocks now;
	struct on_disk d;
	size_t len;
	int ret = tail_only(path, &d) ? read_since(&d, from, &text, &len) : 1;

	memset(j, 0, sizeof(*j));
	on_disk_close(&d);
	if (ret < 0)
		snprintf(err, ERR_LEN, "state journal of %s: cannot read it: %s", path,
			 strerror(errno ?: EIO));
	if (ret)
		return ret;
	clocks_now(&now);
	ret = journal_parse(text, len, &now, j, sub);
	free(text);
	if (!ret && j->torn) {
		journal_free(j);
		return 1; /* a whole tail was checked: another writer, then */
	}
	if (ret)
		snprintf(err, ERR_LEN, "state journal of %s: %s", path, sub);
	return ret;
}

void state_changing_path(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "%s.changing", path);
}

int state_changing_begin(const char *path)
{
	char marker[PATH_MAX + 16];
	int fd;

	state_changing_path(marker, sizeof(marker), path);
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (errno == EEXIST)
		return 0;
	/* No marker (no state directory yet, or one that cannot be
	 * written): then no cache may be trusted after this change. */
	snprintf(marker, sizeof(marker), "%s%s", path, STATE_INDEX_SUFFIX);
	unlink(marker);
	return 0;
}

void state_changing_end(const char *path)
{
	char marker[PATH_MAX + 16];

	state_changing_path(marker, sizeof(marker), path);
	unlink(marker);
}

bool state_changing(const char *path)
{
	char marker[PATH_MAX + 16];

	state_changing_path(marker, sizeof(marker), path);
	return !access(marker, F_OK);
}
