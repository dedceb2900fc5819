// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The state file's journal (journal.h, persist.h): records round-trip; the
 * last record torn as a crash tears it (cut short, zeros where its data
 * never landed, a checksum that fails) reads as the state before it, in
 * memory and through the file, and is truncated durably before the next
 * append; any other damage is refused with one line and never overwritten,
 * by an append or by a compaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "harness.h"
#include "state_example.h"
#include "journal.h"
#include "persist.h"
#include "state.h"
#include "table.h"
#include "textfile.h"

#define S 1000000000ULL

/* The table S holds, one line per mapping, for comparing. */
static void table_text(const struct saved_state *s, char *buf, size_t len)
{
	struct strbuf text = STRBUF_INIT;

	for (size_t i = 0; i < s->count; i++) {
		format_rule_line(&text, &s->rules[i]);
		strbuf_appendf(&text, " %llu\n", (unsigned long long)s->rules[i].m.expires_ns);
	}
	snprintf(buf, len, "%s", strbuf_str(&text));
	strbuf_free(&text);
}

/* SNAPSHOT with the journal TEXT (LEN bytes, any value) replayed: 0, or -1
 * with err. */
static int replayed(const char *snapshot, const char *text, size_t len, const struct clocks *now,
		    char *table, size_t tlen, char *err)
{
	struct saved_state s;
	struct journal j;
	char *copy = malloc(len + 1);
	int ret = -1;

	if (!copy || state_parse(snapshot, now, &s, err)) {
		free(copy);
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (!journal_parse(copy, len, now, &j, err)) {
		ret = journal_replay(&s, &j, err);
		journal_free(&j);
	}
	if (!ret)
		table_text(&s, table, tlen);
	state_free(&s);
	free(copy);
	return ret;
}

/* Records of changes to the README's example: what each leaves. */
static int journal_records(struct strbuf *j, const struct saved_state *s, const struct clocks *now,
			   size_t *last_start)
{
	struct rule *added;
	size_t nadded;
	char err[ERR_LEN];
	struct table_change c[2];

	CHECK(!parse_rules("udp 9000 10.8.0.9 ttl=60\ntcp 203.0.113.10:9100-9110 10.8.0.9\n", false,
			   &added, &nadded, err),
	      "%s", err);
	added[0].m.expires_ns = now->boot_ns + 60 * S;
	c[0] = (struct table_change){NULL, &added[0]};
	c[1] = (struct table_change){NULL, &added[1]};
	journal_format_record(j, c, 2, 4, now);
	c[0] = (struct table_change){&s->rules[1], NULL}; /* tcp 203.0.113.10:40000 */
	journal_format_record(j, c, 1, 3, now);
	added[0].m.expires_ns = now->boot_ns + 50 * S; /* a renewal */
	c[0] = (struct table_change){&added[0], &added[0]};
	*last_start = j->len;
	journal_format_record(j, c, 1, 3, now);
	free(added);
	return 1;
}

UNIT_TEST(test_journal, 41)
{
	const struct clocks now = {.real_ns = 1795000000ULL * S, .boot_ns = 1000 * S};
	char table[4096], before[4096], want[4096], err[ERR_LEN] = "", *snap;
	struct strbuf j = STRBUF_INIT;
	struct journal_head head;
	struct saved_state s, back;
	size_t last, cases = 1;

	CHECK(!state_parse(readme_example, &now, &s, err), "%s", err);
	snap = state_format(&s, &now, NULL);
	CHECK(snap && !snapshot_head(snap, strlen(snap), &head), "snapshot head");
	journal_format_head(&j, &head);
	cases += journal_records(&j, &s, &now, &last);
	/* Round trip: every change there, the renewal's lease the last one. */
	CHECK(!replayed(snap, j.data, j.len, &now, table, sizeof(table), err), "%s", err);
	CHECK(!strcmp(table,
		      "tcp 203.0.113.10:9100-9110 10.8.0.9:9100-9110 0\n"
		      "udp 9000 10.8.0.9:9000 ttl=60 1050000000000\n"
		      "udp 27015 10.8.0.2:27015 allow=198.51.100.0/24 rate=2000:500 ttl=3600 "
		      "413345678901234\n"),
	      "replayed:\n%s", table);
	CHECK(!replayed(snap, j.data, last, &now, before, sizeof(before), err), "%s", err);
	CHECK(strcmp(before, table), "the last record changed nothing");
	/* Cut anywhere in the last record: the state before it. */
	for (size_t cut = last; cut < j.len; cut++) {
		CHECK(!replayed(snap, j.data, cut, &now, want, sizeof(want), err) &&
			  !strcmp(want, before),
		      "cut at %zu of %zu: %s", cut, j.len, err);
	}
	/* A flipped byte anywhere before it: refused, with one line. */
	for (size_t at = 0; at < last; at++) {
		char *bad = strndup(j.data, j.len);

		bad[at] ^= 0x01;
		err[0] = '\0';
		CHECK(replayed(snap, bad, j.len, &now, want, sizeof(want), err) && err[0] &&
			  !strchr(err, '\n'),
		      "flip at %zu ('%c') was not refused", at, j.data[at]);
		free(bad);
	}
	/* Compaction: the replayed table as a snapshot reads back the same. */
	{
		struct journal jr;
		char *copy = strndup(j.data, j.len), *compacted;

		CHECK(!journal_parse(copy, j.len, &now, &jr, err) && !journal_replay(&s, &jr, err),
		      "%s", err);
		compacted = state_format(&s, &now, NULL);
		CHECK(compacted && !state_parse(compacted, &now, &back, err), "%s", err);
		table_text(&back, want, sizeof(want));
		CHECK(!strcmp(want, table), "compacted:\n%s\nreplayed:\n%s", want, table);
		state_free(&back);
		journal_free(&jr);
		free(compacted);
		free(copy);
	}
	state_free(&s);
	strbuf_free(&j);
	free(snap);
	return cases + 3;
}

/* A snapshot (the README's example) and a journal of three records after
 * it; the tables before and after the last record. */
struct torn_fixture {
	struct clocks now;
	char *snap;
	struct strbuf j;
	size_t last, len_at; /* the last record; its LEN field */
	char before[4096], after[4096];
};

static int torn_fixture(struct torn_fixture *f)
{
	struct journal_head head;
	struct saved_state s;
	char err[ERR_LEN] = "";
	const char *close;

	f->now = (struct clocks){.real_ns = 1795000000ULL * S, .boot_ns = 1000 * S};
	f->j = (struct strbuf)STRBUF_INIT;
	CHECK(!state_parse(readme_example, &f->now, &s, err), "%s", err);
	f->snap = state_format(&s, &f->now, NULL);
	CHECK(f->snap && !snapshot_head(f->snap, strlen(f->snap), &head), "snapshot head");
	journal_format_head(&f->j, &head);
	journal_records(&f->j, &s, &f->now, &f->last);
	state_free(&s);
	CHECK(!replayed(f->snap, f->j.data, f->j.len, &f->now, f->after, sizeof(f->after), err) &&
		  !replayed(f->snap, f->j.data, f->last, &f->now, f->before, sizeof(f->before),
			    err) &&
		  strcmp(f->before, f->after),
	      "the fixture: %s", err);
	for (close = f->j.data + f->j.len - 2; *close != '\n'; close--)
		;
	f->len_at = close + 3 - f->j.data; /* "\nj LEN" */
	return 1;
}

/* The first CUT bytes of F's journal, then ZEROS zero bytes: the table. */
static int with_zeros(const struct torn_fixture *f, size_t cut, size_t zeros, char *table,
		      size_t tlen, char *err)
{
	char *text = calloc(1, cut + zeros + 1);
	int ret;

	if (!text)
		return -1;
	memcpy(text, f->j.data, cut);
	ret = replayed(f->snap, text, cut + zeros, &f->now, table, tlen, err);
	free(text);
	return ret;
}

/* The journal torn as a crash tears its last record reads as the state
 * before that record: cut at every byte of it; cut and zero-filled to its
 * length (ext4 grew the file, the data never landed); cut and followed by
 * 1..64 zero bytes; zeros in place of any run of its bytes (a later block
 * landed, an earlier one not); any byte of it flipped but its LEN (a
 * checksum that fails). The whole journal with 1..64 zeros after it reads
 * as the whole journal. */
UNIT_TEST(test_journal_torn, 42)
{
	char table[4096], err[ERR_LEN] = "";
	struct torn_fixture f;
	size_t len, bad = 0, tried = 0;

	torn_fixture(&f);
	len = f.j.len;
	for (size_t cut = f.last; cut < len; cut++) {
		for (size_t zeros = 0; zeros <= 64; zeros++, tried++)
			bad += with_zeros(&f, cut, zeros, table, sizeof(table), err) ||
			       strcmp(table, f.before);
		tried++;
		bad += with_zeros(&f, cut, len - cut, table, sizeof(table), err) ||
		       strcmp(table, f.before);
		CHECK(!bad, "cut at %zu of %zu (+ zeros): %s", cut, len, err);
	}
	for (size_t zeros = 1; zeros <= 64; zeros++, tried++)
		bad +=
		    with_zeros(&f, len, zeros, table, sizeof(table), err) || strcmp(table, f.after);
	CHECK(!bad, "the whole journal and zeros after it: %s", err);
	for (size_t a = f.last; a < len; a++)
		for (size_t b = a + 1; b <= len; b++, tried++) {
			char *text = malloc(len + 1);

			memcpy(text, f.j.data, len);
			memset(text + a, 0, b - a);
			bad += replayed(f.snap, text, len, &f.now, table, sizeof(table), err) ||
			       strcmp(table, f.before);
			CHECK(!bad, "zeros at %zu..%zu of %zu: %s", a, b, len, err);
			free(text);
		}
	for (size_t at = f.last; at < len; at++) {
		char *text;

		if (at >= f.len_at && f.j.data[at] != ' ' && at < f.len_at + 8)
			continue; /* LEN: below */
		text = malloc(len + 1);
		memcpy(text, f.j.data, len);
		text[at] ^= 0x01;
		tried++;
		bad += replayed(f.snap, text, len, &f.now, table, sizeof(table), err) ||
		       strcmp(table, f.before);
		CHECK(!bad, "last record's byte %zu flipped: %s", at, err);
		free(text);
	}
	CHECK(tried > 5000, "%zu torn journals tried", tried);
	strbuf_free(&f.j);
	free(f.snap);
	return 6;
}

/* Damage a crash cannot leave is refused with one line, torn tail or not:
 * a byte flipped anywhere before the last record (a bad record, whole ones
 * after it; a newline there flipped merges two records, and the last
 * record's LEN then says it began after the damage), then the same with
 * zeros after the journal; the last record's LEN changed (a closing line
 * that landed whole says where its record began). */
UNIT_TEST(test_journal_damage, 43)
{
	char table[4096], err[ERR_LEN];
	struct torn_fixture f;
	size_t len, cases = 0;

	torn_fixture(&f);
	len = f.j.len;
	for (size_t zeros = 0; zeros <= 16; zeros += 16)
		for (size_t at = 0; at < f.last; at++) {
			char *text = calloc(1, len + zeros + 1);

			memcpy(text, f.j.data, len);
			text[at] ^= 0x01;
			err[0] = '\0';
			CHECK(replayed(f.snap, text, len + zeros, &f.now, table, sizeof(table),
				       err) &&
				  err[0] && !strchr(err, '\n'),
			      "flip at %zu ('%c'), %zu zeros after: not refused", at, f.j.data[at],
			      zeros);
			free(text);
			cases++;
		}
	{
		char *text = strndup(f.j.data, len);

		text[f.len_at] = text[f.len_at] == '9' ? '1' : text[f.len_at] + 1;
		err[0] = '\0';
		CHECK(replayed(f.snap, text, len, &f.now, table, sizeof(table), err) &&
			  strstr(err, "record 3: it says"),
		      "the last record's LEN changed: %s", err);
		free(text);
		cases++;
	}
	strbuf_free(&f.j);
	free(f.snap);
	return cases;
}

/* A state file big enough that a change appends (over 64 KiB), in a
 * directory of its own: 2000 mappings. */
struct pair_fixture {
	char dir[64], path[96], jpath[112];
	struct rule *rules, *add; /* 2000; udp 9000..9009 */
	size_t count, nadd;
	struct xdpfwd_maps maps; /* closed: a compaction cannot read them */
	struct xdpfwd_config config;
};

static int pair_fixture(struct pair_fixture *p)
{
	struct strbuf conf = STRBUF_INIT;
	struct saved_state s = {0};
	struct clocks now;
	char err[ERR_LEN] = "";

	memset(p, 0, sizeof(*p));
	memset(&p->maps, 0xff, sizeof(p->maps));
	snprintf(p->dir, sizeof(p->dir), "/tmp/xdpfwd-journal-XXXXXX");
	CHECK(mkdtemp(p->dir) != NULL, "a temporary directory");
	snprintf(p->path, sizeof(p->path), "%s/x.state", p->dir);
	journal_path(p->jpath, sizeof(p->jpath), p->path);
	for (int i = 0; i < 2000; i++)
		strbuf_appendf(&conf, "tcp 203.0.113.10:%d 10.8.0.2\n", 30000 + i);
	CHECK(!parse_rules(strbuf_str(&conf), false, &p->rules, &p->count, err), "%s", err);
	strbuf_reset(&conf);
	for (int i = 0; i < 10; i++)
		strbuf_appendf(&conf, "udp %d 10.8.0.9\n", 9000 + i);
	CHECK(!parse_rules(strbuf_str(&conf), false, &p->add, &p->nadd, err), "%s", err);
	strbuf_free(&conf);
	s.rules = p->rules;
	s.count = p->count;
	/* Attached (to lo), as a table in use is: its records count it. */
	s.attached = true;
	snprintf(s.iface, sizeof(s.iface), "lo");
	snprintf(s.tunnel, sizeof(s.tunnel), "lo");
	p->config.attached = 1;
	p->config.public_ifindex = p->config.tunnel_ifindex = 1;
	clocks_now(&now);
	CHECK(!state_save(p->path, &s, &now, err), "%s", err);
	return 1;
}

static void pair_free(struct pair_fixture *p)
{
	unlink(p->jpath);
	unlink(p->path);
	rmdir(p->dir);
	free(p->rules);
	free(p->add);
}

/* Adds P's I'th extra mapping as a command does (no transaction): 0 or -1. */
static int record_add(struct pair_fixture *p, size_t i, const struct pending_set *pending,
		      char *err)
{
	struct table_change c = {NULL, &p->add[i]};

	return state_record(NULL, p->path, &p->maps, &p->config, &c, 1, pending, err);
}

/* The whole bytes of PATH (malloc'd; *LEN of them). */
static char *bytes_of(const char *path, size_t *len)
{
	char err[ERR_LEN], *b;

	return read_file_bytes(path, STATE_MAX_BYTES, &b, len, err) ? NULL : b;
}

static void append_bytes(const char *path, const char *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0 || write(fd, b, len) != (ssize_t)len)
		CHECK(false, "appending to %s", path);
	if (fd >= 0)
		close(fd);
}

/* The pair at P read whole: its mappings, or -1 with err. */
static long loaded_count(const struct pair_fixture *p, char *err)
{
	struct saved_state s;
	struct clocks now;
	bool found;
	long n;

	clocks_now(&now);
	if (state_load(p->path, &now, &s, &found, err))
		return -1;
	n = (long)s.count;
	state_free(&s);
	return n;
}

/* The journal's records, when it reads whole with nothing dropped and its
 * last record counts the mappings the pair holds. */
static long whole_records(const struct pair_fixture *p)
{
	char lerr[ERR_LEN];
	long live = loaded_count(p, lerr);
	struct clocks now;
	struct journal j;
	char err[ERR_LEN];
	size_t len;
	char *b = bytes_of(p->jpath, &len);
	long n = -1;

	clocks_now(&now);
	if (b && memchr(b, '\0', len) == NULL && !journal_parse(b, len, &now, &j, err)) {
		n = j.torn || j.good_len != len || (long)j.count != live ? -1 : (long)j.records;
		journal_free(&j);
	}
	free(b);
	return n;
}

/*
 * Through the files: a journal whose tail a crash tore (zeros after it, a
 * record cut short) is read without it, and the next append truncates it
 * durably first, so that the new record follows the whole ones, never the
 * garbage. Damage inside the journal is refused and left as it is.
 */
UNIT_TEST(test_journal_file, 44)
{
	static const char zeros[4096];
	char err[ERR_LEN] = "", *before, *after;
	struct pair_fixture p;
	size_t blen, alen;

	pair_fixture(&p);
	CHECK(!record_add(&p, 0, PENDING_CARRY, err) && whole_records(&p) == 1,
	      "the first change appends: %s", err);
	before = bytes_of(p.jpath, &blen);
	append_bytes(p.jpath, zeros, 3000); /* the size grew, the data never landed */
	err[0] = '\0';
	CHECK(!state_check(p.path, err) && loaded_count(&p, err) == 2001,
	      "zeros after the journal: read as the state before them: %s", err);
	CHECK(!record_add(&p, 1, PENDING_CARRY, err), "the next change: %s", err);
	after = bytes_of(p.jpath, &alen);
	CHECK(before && after && alen > blen && alen < blen + 3000 &&
		  !memcmp(before, after, blen) && whole_records(&p) == 2 &&
		  loaded_count(&p, err) == 2002,
	      "the zeros truncated, the record after the whole ones: %zu -> %zu bytes", blen, alen);
	free(before);
	free(after);

	/* A record cut short, then zeros where the rest of it was to be. */
	before = bytes_of(p.jpath, &blen);
	append_bytes(p.jpath, "+ udp 9009 10.8.0.9:9009\nj 2", 28);
	append_bytes(p.jpath, zeros, 100);
	CHECK(!state_check(p.path, err) && loaded_count(&p, err) == 2002, "cut short: %s", err);
	CHECK(!record_add(&p, 2, PENDING_CARRY, err), "the next change: %s", err);
	after = bytes_of(p.jpath, &alen);
	CHECK(before && after && alen > blen && !memcmp(before, after, blen) &&
		  whole_records(&p) == 3 && loaded_count(&p, err) == 2003,
	      "the cut record truncated: %s", err);
	free(before);

	/* A byte flipped in the first record, whole ones after it: refused,
	 * whole, as it is; a compaction (PENDING given) leaves it in place. */
	{
		struct pending_set none = {NULL, 0};
		int fd = open(p.jpath, O_RDWR | O_CLOEXEC);
		size_t at = strchr(after, '\n') + 3 - after; /* into "+ udp 9000" */
		char c = after[at] ^ 0x01, *now;
		size_t nlen;

		CHECK(fd >= 0 && pwrite(fd, &c, 1, at) == 1, "damaging the journal");
		if (fd >= 0)
			close(fd);
		append_bytes(p.jpath, zeros, 10);
		err[0] = '\0';
		CHECK(loaded_count(&p, err) < 0 && strstr(err, "state journal") &&
			  strstr(err, "record 1: its checksum") && !strchr(err, '\n'),
		      "damage followed by whole records: %s", err);
		err[0] = '\0';
		CHECK(record_add(&p, 3, &none, err) && strstr(err, "record 1: its checksum"),
		      "a compaction over it is refused: %s", err);
		now = bytes_of(p.jpath, &nlen);
		CHECK(now && nlen == alen + 10 && !memcmp(now, after, at) &&
			  !memcmp(now + at + 1, after + at + 1, alen - at - 1),
		      "and the journal is left as it was");
		free(now);
	}
	free(after);
	pair_free(&p);
	return 5;
}

/*
 * A compaction reads the pair whole before it replaces it: a snapshot with
 * a byte flipped after its journal began (mtime kept, so the quick check
 * before an append, which reads the last record only, cannot see it) is
 * refused by every way of writing it whole, and left in place: a change
 * whose record would make the journal as big as the snapshot, a change
 * with pending mappings, state_write() (load, expiry) and state_sync().
 */
UNIT_TEST(test_journal_compaction, 45)
{
	struct pending_set none = {NULL, 0};
	char err[ERR_LEN] = "", *snap, *journal, *now_snap, *now_journal;
	struct table_change *big;
	struct pair_fixture p;
	size_t slen, jlen, len;
	struct stat st;
	int fd;

	pair_fixture(&p);
	CHECK(!record_add(&p, 0, PENDING_CARRY, err) && whole_records(&p) == 1, "%s", err);
	fd = open(p.path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && !fstat(fd, &st) && pwrite(fd, "X", 1, 100) == 1, "damaging the snapshot");
	if (fd >= 0) {
		struct timespec keep[2] = {st.st_atim, st.st_mtim};

		futimens(fd, keep);
		close(fd);
	}
	snap = bytes_of(p.path, &slen);
	journal = bytes_of(p.jpath, &jlen);
	CHECK(!state_check(p.path, err), "the quick check passes it: %s", err);

	big = calloc(p.count, sizeof(*big));
	for (size_t i = 0; big && i < p.count; i++)
		big[i] = (struct table_change){&p.rules[i], NULL};
	err[0] = '\0';
	CHECK(
	    big &&
		state_record(NULL, p.path, &p.maps, &p.config, big, p.count, PENDING_CARRY, err) &&
		strstr(err, "its checksum does not match its contents"),
	    "a record as big as the snapshot compacts: refused: %s", err);
	free(big);
	err[0] = '\0';
	CHECK(record_add(&p, 1, &none, err) && strstr(err, "its checksum does not match"),
	      "a change with pending mappings: refused: %s", err);
	err[0] = '\0';
	CHECK(state_write(p.path, &p.config, p.rules, 10, PENDING_CARRY, err) &&
		  strstr(err, "its checksum does not match"),
	      "state_write: refused: %s", err);
	err[0] = '\0';
	CHECK(state_sync(p.path, &p.maps, &p.config, err) &&
		  strstr(err, "its checksum does not match"),
	      "state_sync: refused: %s", err);
	now_snap = bytes_of(p.path, &len);
	CHECK(now_snap && len == slen && !memcmp(now_snap, snap, len),
	      "the snapshot left as it was");
	free(now_snap);
	now_journal = bytes_of(p.jpath, &len);
	CHECK(now_journal && len == jlen && !memcmp(now_journal, journal, len),
	      "the journal left as it was");
	free(now_journal);
	free(snap);
	free(journal);
	pair_free(&p);
	return 6;
}

/*
 * The slot allocator (slot_alloc(), its hint from the state file's count):
 * past the slots after the hint, its tries are random, and each command is
 * a new process. Four processes over the same table must not all draw the
 * same slot: an unseeded random() gave every process one sequence, so once
 * its first slots were taken every add fell through to the scan.
 */
UNIT_TEST(test_slot_alloc_seeded, 46)
{
	struct xdpfwd_mapping m = {0};
	struct xdpfwd_maps maps;
	__u32 slots[4];
	int fd, same = 0;

	memset(&maps, 0xff, sizeof(maps));
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "slots", sizeof(__u32), sizeof(m), 4096, NULL);
	CHECK(fd >= 0, "a map of slots: %s", strerror(errno));
	if (fd < 0)
		return 1;
	maps.mappings = fd;
	/* The hint says 100: slots 0..103 taken, 264 drawn from. */
	for (__u32 s = 0; s < 104; s++)
		bpf_map_update_elem(fd, &s, &m, BPF_ANY);
	for (int i = 0; i < 4; i++) {
		int pipefd[2];
		pid_t pid;

		slots[i] = ~0U;
		if (pipe(pipefd))
			break;
		pid = fork();
		if (pid == 0) {
			__u32 s = ~0U;

			close(pipefd[0]);
			if (slot_alloc(&maps, 100, &s))
				s = ~0U;
			_exit(write(pipefd[1], &s, sizeof(s)) != sizeof(s));
		}
		close(pipefd[1]);
		if (pid < 0 || read(pipefd[0], &slots[i], sizeof(slots[i])) != sizeof(slots[i]))
			slots[i] = ~0U;
		close(pipefd[0]);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		CHECK(slots[i] >= 104 && slots[i] < 264, "process %d drew slot %u", i, slots[i]);
		same += i && slots[i] == slots[0];
	}
	CHECK(same < 3, "four processes drew the same slot %u", slots[0]);
	close(fd);
	return 2;
}
