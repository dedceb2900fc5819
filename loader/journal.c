// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * journal.c - the state file's journal (journal.h): records as text, their
 * reading with torn-tail recovery, and their replay over the snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "journal.h"
#include "state.h"
#include "table.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

void journal_path(char *buf, size_t len, const char *state)
{
	snprintf(buf, len, "%s.journal", state);
}

void journal_format_head(struct strbuf *out, const struct journal_head *head)
{
	size_t start = out->len;

	strbuf_appendf(out, "xdpfwd-journal %d snapshot=%llu/%08x ino=%llu mtime=%llu",
		       JOURNAL_VERSION, head->size, head->crc, head->ino, head->mtime_ns);
	if (!out->failed)
		strbuf_appendf(out, " crc32=%08x\n",
			       text_crc32(out->data + start, out->len - start));
}

/* The CRC of a record: its LEN bytes of lines, then "j LEN COUNT". */
static unsigned int record_crc(const char *body, size_t len, size_t count)
{
	char tail[64];
	int n = snprintf(tail, sizeof(tail), "j %zu %zu", len, count);
	/* zlib's crc32() goes on from the body's CRC over the tail */
	return crc32(text_crc32(body, len), (const Bytef *)tail, n);
}

static void format_op(struct strbuf *out, bool del, const struct rule *r, const struct clocks *now)
{
	struct rule bare;

	if (del) {
		/* The public side and target say which mapping: no policy. */
		memset(&bare, 0, sizeof(bare));
		bare.m = r->m;
		bare.m.allow_count = 0;
		memset(&bare.m.rate, 0, sizeof(bare.m.rate));
		memset(&bare.m.new_rate, 0, sizeof(bare.m.new_rate));
		bare.m.ttl = 0;
		bare.m.expires_ns = 0;
		r = &bare;
	}
	strbuf_append(out, del ? "- " : "+ ");
	format_rule_line(out, r);
	if (!del && r->m.expires_ns)
		strbuf_appendf(
		    out, " expires=%llu",
		    (unsigned long long)(now->real_ns + (r->m.expires_ns - now->boot_ns)));
	if (!del && r->owner.kind) {
		strbuf_append(out, " owner=");
		format_owner(out, &r->owner, true);
	}
	strbuf_append(out, "\n");
}

void journal_format_record(struct strbuf *out, const struct table_change *changes, size_t k,
			   size_t count, const struct clocks *now)
{
	size_t start = out->len, len;

	for (size_t i = 0; i < k; i++)
		format_op(out, !changes[i].new, changes[i].new ? changes[i].new : changes[i].old,
			  now);
	if (out->failed)
		return;
	len = out->len - start;
	strbuf_appendf(out, "j %zu %zu %08x\n", len, count,
		       record_crc(out->data + start, len, count));
}

void journal_free(struct journal *j)
{
	free(j->ops);
	memset(j, 0, sizeof(*j));
}

int journal_parse_head(const char *text, size_t len, struct journal_head *head, size_t *at,
		       char *err)
{
	unsigned int version, crc;
	int n = 0, end = 0;

	if (sscanf(text, "xdpfwd-journal %u%n", &version, &n) != 1)
		fail("it does not start with 'xdpfwd-journal VERSION': not an xdpfwd journal");
	if (version > JOURNAL_VERSION)
		fail("it is version %u, newer than this xdpfwd's %d: upgrade xdpfwd to read it",
		     version, JOURNAL_VERSION);
	n = 0;
	if (sscanf(text, "xdpfwd-journal %u snapshot=%llu/%x ino=%llu mtime=%llu%n", &version,
		   &head->size, &head->crc, &head->ino, &head->mtime_ns, &n) != 5 ||
	    version < 1 || sscanf(text + n, " crc32=%x%n", &crc, &end) != 1 ||
	    (size_t)(n + end) >= len || text[n + end] != '\n')
		fail("its first line is damaged");
	if (text_crc32(text, n) != crc)
		fail("its first line's checksum does not match: it is corrupt");
	*at = n + end + 1;
	return 0;
}

int parse_close(const char *line, size_t line_len, size_t *len, size_t *count, unsigned int *crc)
{
	char copy[80]; /* "j LEN COUNT CRC" is at most 2 + 21 + 21 + 8 bytes */
	int n = 0;

	if (line_len < 2 || line_len >= sizeof(copy) || line[0] != 'j' || line[1] != ' ')
		return -1;
	/* sscanf() runs strlen() over its input first: parse a bounded copy,
	 * not the rest of the journal (quadratic), nor past a buffer's end. */
	memcpy(copy, line, line_len);
	copy[line_len] = '\0';
	return sscanf(copy, "j %zu %zu %x%n", len, count, crc, &n) == 3 && (size_t)n == line_len
		   ? 0
		   : -1;
}

/* A closing line "j LEN COUNT CRC" of the record that began at START:
 * 0 when whole, -1 with err when damaged. */
static int check_close(const char *text, size_t start, const char *line, size_t line_len,
		       size_t record, size_t *count, char *err)
{
	size_t len = 0, got = line - text - start;
	unsigned int crc;

	if (parse_close(line, line_len, &len, count, &crc))
		fail("record %zu: its closing line is damaged", record);
	if (len != got)
		fail("record %zu: it says %zu bytes but holds %zu: it is damaged", record, len,
		     got);
	if (record_crc(text + start, len, *count) != crc)
		fail("record %zu: its checksum does not match its contents: it is corrupt", record);
	return 0;
}

/*
 * The record of TEXT (LEN bytes) from START, the RECORD'th: 0 when whole and
 * its checksum matches (*CLOSE at its closing line, *COUNT its COUNT); 1 when
 * the bytes end before its closing line (cut short); -1 with err naming the
 * line when one is damaged. *END is after the last line read; *LINE_NO, the
 * file line before START, moves on with the lines read.
 */
static int read_record(const char *text, size_t len, size_t start, size_t record, size_t *line_no,
		       size_t *close, size_t *end, size_t *count, char *err)
{
	for (size_t at = start; at < len; at = *end) {
		const char *line = text + at, *eol = memchr(line, '\n', len - at);
		size_t line_len;

		if (!eol)
			return 1;
		line_len = eol - line;
		++*line_no;
		*end = at + line_len + 1;
		if (memchr(line, '\0', line_len))
			fail("line %zu: it holds a NUL byte: it is damaged", *line_no);
		if (line_len >= 2 && (line[0] == '+' || line[0] == '-') && line[1] == ' ')
			continue;
		if (line_len < 2 || line[0] != 'j' || line[1] != ' ')
			fail("line %zu: '%.*s' is not a journal line: it is damaged", *line_no,
			     (int)(line_len > 40 ? 40 : line_len), line);
		*close = at;
		return check_close(text, start, line, line_len, record, count, err);
	}
	return 1;
}

/*
 * Whether the bytes of TEXT from START (LEN in all), where a record does not
 * read, are the last record torn by a crash: a write that never landed whole
 * leaves a record cut short or zeros in place of some of its bytes, and
 * never touches the records before it, which were synced. So any closing
 * line from START on must be the file's last line, closing a record that
 * began at START (its LEN says so); a closing line anywhere else means a
 * record follows the damage: damage inside the journal. O(bytes).
 */
static bool torn_from(const char *text, size_t len, size_t start)
{
	for (size_t at = start; at < len;) {
		const char *eol = memchr(text + at, '\n', len - at);
		size_t body, count;
		unsigned int crc;

		if (!eol)
			return true;
		if (!parse_close(text + at, eol - text - at, &body, &count, &crc) &&
		    (eol + 1 != text + len || body != at - start))
			return false;
		at = eol + 1 - text;
	}
	return true;
}

/*
 * Walks the records of TEXT from AT: each op line is copied to OPS_TEXT, and
 * every other line becomes a blank one there, so that parse_rules() names
 * file lines. DEL_AT marks the file lines that remove. The last record, when
 * cut short, or damaged as a crash leaves it (torn_from()), is dropped.
 * OPS_TEXT NULL: the records' framing and checksums are checked, no more.
 */
static int walk_records(const char *text, size_t len, size_t at, struct journal *j,
			struct strbuf *ops_text, bool *del_at, char *err)
{
	size_t line_no = 1;

	while (at < len) {
		size_t first_line = line_no + 1, close = at, end = at, count = 0;
		int r =
		    read_record(text, len, at, j->records + 1, &line_no, &close, &end, &count, err);

		if (r > 0 || (r < 0 && torn_from(text, len, at)))
			break;
		if (r < 0)
			return -1;
		/* The record is whole: its lines count (OPS_TEXT NULL: checked only). */
		for (size_t p = at, l = first_line; ops_text && p < close; l++) {
			const char *e = memchr(text + p, '\n', close - p);

			del_at[l] = text[p] == '-';
			strbuf_appendf(ops_text, "%.*s\n", (int)(e - text - p - 2), text + p + 2);
			p = e - text + 1;
		}
		if (ops_text)
			strbuf_append(ops_text, "\n");
		j->count = count;
		j->records++;
		at = j->good_len = end;
	}
	j->torn = j->good_len < len;
	return 0;
}

/* The leases' ends from Unix time to the boot clock (0: ended). */
static int ops_take(struct journal *j, struct rule *rules, size_t n, const bool *del_at,
		    const struct clocks *now, char *err)
{
	j->ops = calloc(n + 1, sizeof(*j->ops));
	if (!j->ops)
		fail("out of memory");
	for (size_t i = 0; i < n; i++) {
		struct journal_op *op = &j->ops[j->nops++];
		struct xdpfwd_mapping *m = &rules[i].m;

		op->del = del_at[rules[i].line];
		if (!op->del && m->ttl && !m->expires_ns)
			fail("line %u: a lease without its end (expires=)", rules[i].line);
		if (m->expires_ns && m->expires_ns <= now->real_ns)
			m->expires_ns = 0, op->del = true; /* ended while nobody was looking */
		else if (m->expires_ns)
			m->expires_ns = now->boot_ns + (m->expires_ns - now->real_ns);
		op->r = rules[i];
	}
	return 0;
}

int journal_scan(const char *text, size_t len, struct journal *j, char *err)
{
	size_t at;

	memset(j, 0, sizeof(*j));
	if (journal_parse_head(text, len, &j->head, &at, err))
		return -1;
	j->good_len = at;
	return walk_records(text, len, at, j, NULL, NULL, err);
}

int journal_parse(const char *text, size_t len, const struct clocks *now, struct journal *j,
		  char *err)
{
	struct strbuf ops_text = STRBUF_INIT;
	struct rule *rules = NULL;
	bool *del_at = NULL;
	size_t at = 0, n = 0, lines = 2;
	int ret = -1;

	memset(j, 0, sizeof(*j));
	if (journal_parse_head(text, len, &j->head, &at, err))
		return -1;
	j->good_len = at;
	for (size_t i = at; i < len; i++)
		lines += text[i] == '\n';
	del_at = calloc(lines + 1, sizeof(*del_at));
	if (!del_at || strbuf_reserve(&ops_text, len + lines)) {
		snprintf(err, ERR_LEN, "out of memory");
		goto out;
	}
	strbuf_append(&ops_text, "\n"); /* the header's line */
	if (walk_records(text, len, at, j, &ops_text, del_at, err))
		goto out;
	if (ops_text.failed) {
		snprintf(err, ERR_LEN, "out of memory");
		goto out;
	}
	if (parse_rules(strbuf_str(&ops_text), true, &rules, &n, err))
		goto out;
	ret = ops_take(j, rules, n, del_at, now, err);
out:
	free(rules);
	free(del_at);
	strbuf_free(&ops_text);
	if (ret)
		journal_free(j);
	return ret;
}

/* The order of replay: public side (with the range's length), then the
 * order of the lines. */
struct replay_entry {
	const struct rule *r;
	size_t seq; /* 0: the snapshot's */
	bool del, pending;
};

static int compare_keys(const struct rule *a, const struct rule *b)
{
	int c = compare_mappings(&a->m, &b->m);

	return c ? c : a->m.port_count - b->m.port_count;
}

static int compare_entries(const void *pa, const void *pb)
{
	const struct replay_entry *a = pa, *b = pb;
	int c = compare_keys(a->r, b->r);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static struct replay_entry *replay_entries(const struct saved_state *s, const struct journal *j,
					   size_t *n)
{
	struct replay_entry *e = calloc(s->count + s->npending + j->nops + 1, sizeof(*e));

	*n = 0;
	if (!e)
		return NULL;
	for (size_t i = 0; i < s->count; i++)
		e[(*n)++] = (struct replay_entry){&s->rules[i], 0, false, false};
	for (size_t i = 0; i < s->npending; i++)
		e[(*n)++] = (struct replay_entry){&s->pending[i], 0, false, true};
	for (size_t i = 0; i < j->nops; i++)
		e[(*n)++] = (struct replay_entry){&j->ops[i].r, i + 1, j->ops[i].del, false};
	qsort(e, *n, sizeof(*e), compare_entries);
	return e;
}

int journal_replay(struct saved_state *s, const struct journal *j, char *err)
{
	struct rule *rules = calloc(s->count + j->nops + 1, sizeof(*rules));
	struct rule *pending = calloc(s->npending + 1, sizeof(*pending));
	size_t n, nrules = 0, npending = 0;
	struct replay_entry *e = replay_entries(s, j, &n);

	if (!rules || !pending || !e) {
		free(rules);
		free(pending);
		free(e);
		fail("out of memory");
	}
	for (size_t i = 0; i < n;) {
		size_t last = i;

		/* One public side: the snapshot's entries, then its lines. */
		while (last + 1 < n && !compare_keys(e[i].r, e[last + 1].r))
			last++;
		if (!e[last].seq) {
			for (size_t k = i; k <= last; k++)
				if (e[k].pending)
					pending[npending++] = *e[k].r;
				else
					rules[nrules++] = *e[k].r;
		} else if (!e[last].del) {
			rules[nrules] = *e[last].r;
			rules[nrules++].line = 0;
		}
		i = last + 1;
	}
	free(e);
	free(s->rules);
	free(s->pending);
	s->rules = rules;
	s->count = nrules;
	s->pending = pending;
	s->npending = npending;
	return 0;
}

int journal_check_tail(int fd, size_t len, size_t head_len, size_t *count)
{
	char tail[80], *line, *body;
	size_t blen, off, want, line_at;
	unsigned int crc;
	ssize_t got;
	int ret = 1;

	if (len == head_len)
		return 0; /* no record yet: COUNT stays the snapshot's */
	want = len - head_len < sizeof(tail) - 1 ? len - head_len : sizeof(tail) - 1;
	off = len - want;
	got = pread(fd, tail, want, off);
	if (got != (ssize_t)want)
		return got < 0 ? -errno : -EIO;
	if (tail[want - 1] != '\n')
		return 1;
	/* The last line, whole: a newline before it, or the first record's. */
	for (line = tail + want - 1; line > tail && line[-1] != '\n';)
		line--;
	if (line == tail && off != head_len)
		return 1;
	line_at = off + (line - tail);
	if (parse_close(line, tail + want - 1 - line, &blen, count, &crc) ||
	    blen > line_at - head_len)
		return 1;
	body = malloc(blen + 1);
	if (!body)
		return -ENOMEM;
	if (pread(fd, body, blen, line_at - blen) == (ssize_t)blen &&
	    record_crc(body, blen, *count) == crc)
		ret = 0;
	free(body);
	return ret;
}
