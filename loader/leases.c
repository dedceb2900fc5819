// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * leases.c - serve's index of the ends of leases (leases.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "change.h"
#include "journal.h"
#include "leases.h"

/* The header line of a journal is far shorter (journal_format_head()). */
#define JOURNAL_HEAD_MAX 512

static bool earlier(const struct lease *a, const struct lease *b)
{
	return a->at < b->at || (a->at == b->at && a->slot < b->slot);
}

static void sift_down(struct lease *h, size_t n, size_t i)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1;
		struct lease t;

		if (l < n && earlier(&h[l], &h[least]))
			least = l;
		if (r < n && earlier(&h[r], &h[least]))
			least = r;
		if (least == i)
			return;
		t = h[i];
		h[i] = h[least];
		h[least] = t;
		i = least;
	}
}

int lease_push(struct lease_index *ix, __u64 at, __u32 slot)
{
	size_t i;

	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 256;
		struct lease *grown = realloc(ix->heap, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		ix->heap = grown;
		ix->cap = cap;
	}
	i = ix->n++;
	ix->heap[i] = (struct lease){.at = at, .slot = slot};
	while (i && earlier(&ix->heap[i], &ix->heap[(i - 1) / 2])) {
		struct lease t = ix->heap[i];

		ix->heap[i] = ix->heap[(i - 1) / 2];
		ix->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

__u64 lease_next(const struct lease_index *ix)
{
	return ix->n ? ix->heap[0].at : 0;
}

bool lease_pop(struct lease_index *ix, struct lease *out)
{
	if (!ix->n)
		return false;
	*out = ix->heap[0];
	ix->heap[0] = ix->heap[--ix->n];
	sift_down(ix->heap, ix->n, 0);
	return true;
}

void lease_index_free(struct lease_index *ix)
{
	free(ix->heap);
	memset(ix, 0, sizeof(*ix));
}

static void file_see(const char *path, struct file_seen *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (stat(path, &st))
		return;
	f->exists = true;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
}

static bool file_same(const struct file_seen *a, const struct file_seen *b)
{
	return a->exists == b->exists && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void files_see(const char *state, struct file_seen *snap, struct file_seen *journal)
{
	char jpath[PATH_MAX + 80];

	journal_path(jpath, sizeof(jpath), state);
	file_see(state, snap);
	file_see(jpath, journal);
}

void state_watch_take(struct state_watch *w, const char *state)
{
	files_see(state, &w->snap, &w->journal);
	w->taken = true;
}

bool state_watch_changed(const struct state_watch *w, const char *state)
{
	struct file_seen snap, journal;

	files_see(state, &snap, &journal);
	return !w->taken || !file_same(&snap, &w->snap) || !file_same(&journal, &w->journal);
}

bool state_watch_snapshot_same(const struct state_watch *w, const char *state)
{
	struct file_seen snap;

	file_see(state, &snap);
	return w->taken && file_same(&snap, &w->snap);
}

bool lease_index_stale(const struct lease_index *ix, const char *state)
{
	struct file_seen snap, journal;

	files_see(state, &snap, &journal);
	return !ix->rebuilds || !file_same(&snap, &ix->snap) || !file_same(&journal, &ix->journal);
}

void lease_index_seen(struct lease_index *ix, const char *state)
{
	files_see(state, &ix->snap, &ix->journal);
	ix->journal_read = ix->journal.size;
}

/* Every leased mapping of the maps, from one batch read of their records. */
static int index_rebuild(struct lease_index *ix, const struct xdpfwd_maps *maps)
{
	struct slot_mapping *list;
	size_t n;
	int err = table_read(maps, &list, &n);

	ix->n = 0;
	ix->rebuilds++;
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++)
		if (list[i].m.expires_ns)
			err = lease_push(ix, list[i].m.expires_ns, list[i].slot);
	free(list);
	return err;
}

/* The journal at PATH from byte FROM to TO, behind its header line (what
 * journal_parse() reads), parsed into J. 0, or -1 when it does not read as
 * whole records. */
static int journal_tail(const char *path, off_t from, off_t to, struct journal *j)
{
	char err[ERR_LEN], *text = malloc(JOURNAL_HEAD_MAX + (to - from) + 1), *nl;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
	struct clocks now;
	ssize_t got;
	size_t head;

	memset(j, 0, sizeof(*j));
	if (!text || fd < 0)
		goto out;
	got = pread(fd, text, JOURNAL_HEAD_MAX, 0);
	nl = got > 0 ? memchr(text, '\n', got) : NULL;
	if (!nl)
		goto out;
	head = nl + 1 - text;
	if (pread(fd, text + head, to - from, from) != to - from)
		goto out;
	text[head + (to - from)] = '\0';
	clocks_now(&now);
	if (!journal_parse(text, head + (to - from), &now, j, err) &&
	    j->good_len == head + (size_t)(to - from) && !j->torn)
		ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

/* Queues the leases of the mappings the journal's records from
 * IX->journal_read on name; -1 when they cannot be read so (then the index
 * is read whole). Each line is looked up by its target, which names it
 * whatever its public address (a wildcard's is not in the line). */
static int index_follow_journal(struct lease_index *ix, const struct xdpfwd_maps *maps,
				const char *state, const struct file_seen *journal)
{
	char jpath[PATH_MAX + 80];
	struct journal j;
	int ret = 0;

	journal_path(jpath, sizeof(jpath), state);
	if (journal_tail(jpath, ix->journal_read, journal->size, &j))
		return -1;
	for (size_t i = 0; !ret && i < j.nops; i++) {
		struct rule found;

		if (j.ops[i].del || !j.ops[i].r.m.ttl)
			continue;
		if (table_find(maps, true, &j.ops[i].r.m, 0, &found) == 1 && found.m.expires_ns)
			ret = lease_push(ix, found.m.expires_ns, found.slot);
	}
	journal_free(&j);
	ix->followed++;
	return ret ? -1 : 0;
}

int lease_index_follow(struct lease_index *ix, const struct xdpfwd_maps *maps, const char *state)
{
	struct file_seen snap, journal;
	int err;

	files_see(state, &snap, &journal);
	if (ix->rebuilds && file_same(&snap, &ix->snap) && file_same(&journal, &ix->journal))
		return 0;
	/* Only appended to: the snapshot is the one read, the journal the
	 * same file, longer. Anything else (a rewrite, a compaction, a journal
	 * cut back) and the records are read whole. */
	if (ix->rebuilds && snap.exists && file_same(&snap, &ix->snap) && journal.exists &&
	    ix->journal.exists && journal.ino == ix->journal.ino &&
	    journal.size > ix->journal_read && !index_follow_journal(ix, maps, state, &journal)) {
		ix->snap = snap;
		ix->journal = journal;
		ix->journal_read = journal.size;
		return 0;
	}
	err = index_rebuild(ix, maps);
	if (err) {
		ix->n = 0;
		ix->rebuilds = 0; /* whole again next time */
		return err;
	}
	ix->snap = snap;
	ix->journal = journal;
	ix->journal_read = journal.size;
	return 0;
}

static int compare_lease_slots(const void *pa, const void *pb)
{
	const struct lease *a = pa, *b = pb;

	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* The pairs due at NOW, taken out of the index, one per slot. */
static struct lease *take_due(struct lease_index *ix, __u64 now, size_t *n)
{
	struct lease *due = NULL, l;
	size_t cap = 0, k = 0;

	*n = 0;
	while (ix->n && ix->heap[0].at <= now && lease_pop(ix, &l)) {
		if (*n == cap) {
			struct lease *grown = realloc(due, (cap ? 2 * cap : 64) * sizeof(*due));

			if (!grown) {
				lease_push(ix, l.at, l.slot); /* back where it was */
				break;
			}
			due = grown;
			cap = cap ? 2 * cap : 64;
		}
		due[(*n)++] = l;
	}
	if (*n)
		qsort(due, *n, sizeof(*due), compare_lease_slots);
	for (size_t i = 0; i < *n; i++)
		if (!k || due[k - 1].slot != due[i].slot)
			due[k++] = due[i];
	*n = k;
	return due;
}

/* The mappings of DUE whose lease has ended at NOW, as table_find() gives
 * them, into GONE; a renewed one is queued again at its new end, one gone
 * or without a lease is forgotten. */
static int check_due(struct lease_index *ix, const struct xdpfwd_maps *maps,
		     const struct lease *due, size_t n, __u64 now, struct rule *gone, size_t *ngone)
{
	int err = 0;

	*ngone = 0;
	for (size_t i = 0; !err && i < n; i++) {
		struct xdpfwd_mapping m;
		struct rule r;

		if (bpf_map_lookup_elem(maps->mappings, &due[i].slot, &m)) {
			err = errno == ENOENT ? 0 : -errno;
			continue;
		}
		if (!m.expires_ns)
			continue;
		if (m.expires_ns > now) {
			err = lease_push(ix, m.expires_ns, due[i].slot);
			continue;
		}
		/* Its forward entry leads to its slot, or a change killed half
		 * way left the record alone (its next start puts it right). */
		err = table_find(maps, false, &m, 0, &r);
		if (err == 1 && r.slot == due[i].slot)
			gone[(*ngone)++] = r;
		err = err < 0 ? err : 0;
	}
	return err;
}

int lease_expire(struct lease_index *ix, const struct xdpfwd_maps *maps,
		 const struct xdpfwd_config *config, const char *state, __u64 now,
		 struct rule **gone, size_t *ngone)
{
	struct apply_summary sum;
	struct lease *due;
	size_t n;
	int err;

	*gone = NULL;
	*ngone = 0;
	due = take_due(ix, now, &n);
	if (!n) {
		free(due);
		return 0;
	}
	*gone = calloc(n, sizeof(**gone));
	err = *gone ? check_due(ix, maps, due, n, now, *gone, ngone) : -ENOMEM;
	if (!err && *ngone)
		err = apply_batch(maps, config, &(struct batch){.drop = *gone, .ndrop = *ngone},
				  &(struct change){.what = "serve: removing expired mappings",
						   .state = state,
						   .daemon = true},
				  &sum);
	if (err) {
		/* Nothing was removed: each pair again, for the next call. */
		for (size_t i = 0; i < n; i++)
			lease_push(ix, due[i].at, due[i].slot);
		free(*gone);
		*gone = NULL;
		*ngone = 0;
	}
	free(due);
	if (!*ngone) {
		free(*gone);
		*gone = NULL;
	}
	return err;
}
