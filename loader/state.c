// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>
#include "failpoint.h"
#include "journal.h"
#include "state.h"
#include "textfile.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

void clocks_now(struct clocks *now)
{
	struct timespec real, boot;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	now->real_ns = real.tv_sec * 1000000000ULL + real.tv_nsec;
	now->boot_ns = boot.tv_sec * 1000000000ULL + boot.tv_nsec;
}

void state_free(struct saved_state *s)
{
	free(s->rules);
	free(s->pending);
	s->rules = s->pending = NULL;
	s->count = s->npending = 0;
}

__u32 text_crc32(const char *text, size_t len)
{
	return crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, len);
}

/* "attach IFACE tunnel=T mode=M fast-path=F [clients=...]" */
static int parse_attach(char *line, struct saved_state *s, char *err)
{
	char *save = NULL, *tok;
	bool have_tunnel = false;

	strtok_r(line, " ", &save); /* "attach" */
	tok = strtok_r(NULL, " ", &save);
	if (!tok || strlen(tok) >= IF_NAMESIZE)
		fail("the attach record names no interface");
	snprintf(s->iface, sizeof(s->iface), "%s", tok);
	s->fast_path = true;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *value = strchr(tok, '=');

		if (!value)
			fail("attach record: '%s' is not KEY=VALUE", tok);
		*value++ = '\0';
		if (!strcmp(tok, "tunnel") && strlen(value) < IF_NAMESIZE && *value) {
			snprintf(s->tunnel, sizeof(s->tunnel), "%s", value);
			have_tunnel = true;
		} else if (!strcmp(tok, "mode") &&
			   (!strcmp(value, "native") || !strcmp(value, "generic"))) {
			s->generic = value[0] == 'g';
		} else if (!strcmp(tok, "fast-path") &&
			   (!strcmp(value, "on") || !strcmp(value, "off"))) {
			s->fast_path = value[1] == 'n';
		} else if (!strcmp(tok, "clients")) {
			char *save2 = NULL;

			for (char *c = strtok_r(value, ",", &save2); c;
			     c = strtok_r(NULL, ",", &save2)) {
				char sub[ERR_LEN];

				if (s->client_count == XDPFWD_MAX_CLIENT_NETS)
					fail("attach record: more than %d client networks",
					     XDPFWD_MAX_CLIENT_NETS);
				if (parse_prefix(c, "client network",
						 &s->clients[s->client_count++], sub))
					fail("attach record: %s", sub);
			}
		} else {
			fail("attach record: '%s=%s' is not understood", tok, value);
		}
	}
	if (!have_tunnel)
		fail("the attach record names no tunnel");
	s->attached = true;
	return 0;
}

int snapshot_version(const char *text)
{
	unsigned int version;
	int n = 0;

	if (sscanf(text, "xdpfwd-state %u%n", &version, &n) != 1 || text[n] != '\n')
		return -1;
	return version > INT_MAX ? INT_MAX : (int)version;
}

int snapshot_end(const char *text, size_t len, unsigned int *records, __u32 *crc, size_t *at)
{
	const char *line = text + len - 1;
	int n = 0;

	if (len < 2 || text[len - 1] != '\n')
		return -1;
	while (line > text && line[-1] != '\n')
		line--;
	/* The closing line whole: a newline before it, nothing after. */
	if (line == text || sscanf(line, "end %u crc32=%x%n", records, crc, &n) != 2 ||
	    line + n != text + len - 1)
		return -1;
	*at = line - text;
	return 0;
}

/* The header and the closing line of TEXT (LEN bytes): *END_LINE gets the
 * closing line, *RECORDS its count. */
static int check_frame(const char *text, size_t len, const char **end_line, unsigned int *records,
		       char *err)
{
	int version = snapshot_version(text);
	size_t at;
	__u32 crc;

	if (version < 0)
		fail("it does not start with 'xdpfwd-state VERSION': not an xdpfwd state file");
	if (version > XDPFWD_STATE_VERSION)
		fail("it is version %d, newer than this xdpfwd's %d: upgrade xdpfwd to read it",
		     version, XDPFWD_STATE_VERSION);
	if (version < 1)
		fail("its version %d is unknown", version);
	/* The last line closes the file; anything cut off loses it. */
	if (len < 2 || text[len - 1] != '\n')
		fail("it is truncated: it does not end with a whole line");
	if (snapshot_end(text, len, records, &crc, &at))
		fail("it is truncated: its last line is not 'end RECORDS crc32=HEX'");
	*end_line = text + at;
	if (text_crc32(text, at) != crc)
		fail("its checksum does not match its contents: it is corrupt");
	return 0;
}

/* The records of BODY (a copy, cut into lines): the attach record into OUT,
 * the mapping lines to RULES_TEXT with blanks for the other lines (so
 * parse_rules() names file lines), PENDING marking the pending ones. */
static int split_records(char *body, struct saved_state *out, struct strbuf *rules_text,
			 bool *pending, size_t *nrules, char *err)
{
	unsigned int line_no = 1;

	strbuf_append(rules_text, "\n"); /* the header */
	for (char *line = body, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line_no++;
		if (!strncmp(line, "pending ", 8)) {
			pending[line_no] = true;
			line += 8;
		}
		if (!strncmp(line, "attach ", 7) && !pending[line_no]) {
			char sub[ERR_LEN];

			if (out->attached)
				fail("it has two attach records");
			if (parse_attach(line, out, sub))
				fail("%s", sub);
			strbuf_append(rules_text, "\n");
			continue;
		}
		(*nrules)++;
		strbuf_appendf(rules_text, "%s\n", line);
	}
	return 0;
}

/* Leases that ended are dropped, the rest go to the boot clock; pending
 * mappings (by PENDING, the file lines) to OUT->pending. */
static int take_leases(struct saved_state *out, const bool *pending, const struct clocks *now,
		       char *err)
{
	size_t kept = 0;

	out->pending = calloc(out->count + 1, sizeof(*out->pending));
	if (!out->pending)
		fail("out of memory");
	for (size_t i = 0; i < out->count; i++) {
		struct xdpfwd_mapping *m = &out->rules[i].m;

		if (m->ttl && !m->expires_ns)
			fail("line %u: a lease without its end (expires=)", out->rules[i].line);
		if (m->expires_ns && m->expires_ns <= now->real_ns)
			continue; /* ended while nobody was looking */
		if (m->expires_ns)
			m->expires_ns = now->boot_ns + (m->expires_ns - now->real_ns);
		if (pending[out->rules[i].line])
			out->pending[out->npending++] = out->rules[i];
		else
			out->rules[kept++] = out->rules[i];
	}
	out->count = kept;
	return 0;
}

int state_parse(const char *text, const struct clocks *now, struct saved_state *out, char *err)
{
	const char *end_line, *body;
	struct strbuf rules_text = STRBUF_INIT;
	char *copy = NULL;
	bool *pending = NULL; /* by file line */
	unsigned int records;
	size_t nrules = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (check_frame(text, strlen(text), &end_line, &records, err))
		return -1;
	body = strchr(text, '\n') + 1;
	copy = strndup(body, end_line - body);
	pending = calloc(end_line - body + 2, sizeof(*pending));
	if (!copy || !pending || strbuf_reserve(&rules_text, end_line - body + 1)) {
		snprintf(err, ERR_LEN, "out of memory");
		goto out;
	}
	if (split_records(copy, out, &rules_text, pending, &nrules, err))
		goto out;
	if (records != nrules + out->attached) {
		snprintf(err, ERR_LEN, "it says %u records but holds %zu", records,
			 nrules + out->attached);
		goto out;
	}
	if (rules_text.failed) {
		snprintf(err, ERR_LEN, "out of memory");
		goto out;
	}
	if (parse_rules(strbuf_str(&rules_text), true, &out->rules, &out->count, err))
		goto out;
	ret = take_leases(out, pending, now, err);
out:
	free(copy);
	free(pending);
	strbuf_free(&rules_text);
	if (ret)
		state_free(out);
	return ret;
}

static void format_rules(struct strbuf *text, const char *prefix, const struct rule *rules,
			 size_t count, const struct clocks *now)
{
	for (size_t i = 0; i < count; i++) {
		const struct xdpfwd_mapping *m = &rules[i].m;

		strbuf_append(text, prefix);
		format_rule_line(text, &rules[i]);
		if (m->expires_ns)
			strbuf_appendf(
			    text, " expires=%llu",
			    (unsigned long long)(now->real_ns + (m->expires_ns - now->boot_ns)));
		if (rules[i].owner.kind) {
			strbuf_append(text, " owner=");
			format_owner(text, &rules[i].owner, true);
		}
		strbuf_append(text, "\n");
	}
}

static bool any_owner(const struct rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].owner.kind)
			return true;
	return false;
}

int state_version_needed(const struct saved_state *s)
{
	if (any_owner(s->rules, s->count) || any_owner(s->pending, s->npending))
		return STATE_VERSION_OWNER;
	return s->npending ? STATE_VERSION_PENDING : 1;
}

char *state_format(const struct saved_state *s, const struct clocks *now, size_t *len)
{
	struct strbuf text = STRBUF_INIT;
	unsigned int records = s->attached + s->count + s->npending;

	/* The oldest version that holds what S holds: a file older builds
	 * still read while they would understand all of it. */
	strbuf_appendf(&text, "xdpfwd-state %d\n", state_version_needed(s));
	if (s->attached) {
		strbuf_appendf(&text, "attach %s tunnel=%s mode=%s fast-path=%s", s->iface,
			       s->tunnel, s->generic ? "generic" : "native",
			       s->fast_path ? "on" : "off");
		for (__u32 i = 0; i < s->client_count; i++) {
			char p[ADDR_STR_LEN];

			format_prefix(p, sizeof(p), &s->clients[i]);
			strbuf_appendf(&text, "%s%s", i ? "," : " clients=", p);
		}
		strbuf_append(&text, "\n");
	}
	format_rules(&text, "", s->rules, s->count, now);
	format_rules(&text, "pending ", s->pending, s->npending, now);
	if (!text.failed)
		strbuf_appendf(&text, "end %u crc32=%08x\n", records,
			       text_crc32(text.data, text.len));
	return strbuf_detach(&text, len);
}

void state_path(char *buf, size_t len, const char *dir, const char *pin_dir)
{
	const char *base = strrchr(pin_dir, '/');

	if (!dir)
		dir = getenv("XDPFWD_STATE_DIR");
	if (!dir || !*dir)
		dir = XDPFWD_DEFAULT_STATE_DIR;
	snprintf(buf, len, "%s/%s.state", dir, base ? base + 1 : pin_dir);
}

void state_rebuild_marker(char *buf, size_t len, const char *state)
{
	snprintf(buf, len, "%s.rebuild", state);
}

int snapshot_head(const char *text, size_t len, struct journal_head *head)
{
	unsigned int records;
	size_t at;

	memset(head, 0, sizeof(*head));
	head->size = len;
	return snapshot_end(text, len, &records, &head->crc, &at);
}

/* PATH's journal, whole, as bytes: 1 with *TEXT (freed by the caller), 0
 * when there is none, or -1 with ERR saying why. */
static int journal_read(const char *path, char **text, size_t *len, char *err)
{
	char jpath[PATH_MAX + 16], sub[ERR_LEN];
	int ret;

	journal_path(jpath, sizeof(jpath), path);
	ret = read_file_bytes(jpath, STATE_MAX_BYTES, text, len, sub);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		fail("state journal %s", sub);
	return 1;
}

/* Replays PATH's journal over OUT when it follows the snapshot TEXT, what
 * it was to SEEN. */
static int load_journal(const char *path, const char *text, const struct clocks *now,
			struct saved_state *out, struct journal_seen *seen, char *err)
{
	char jpath[PATH_MAX + 16], sub[ERR_LEN], *jtext;
	struct journal_head head;
	struct journal j;
	size_t jlen;
	int ret;

	journal_path(jpath, sizeof(jpath), path); /* for the messages below */
	ret = journal_read(path, &jtext, &jlen, err);
	if (ret <= 0)
		return ret;
	ret = journal_parse(jtext, jlen, now, &j, sub);
	if (ret)
		snprintf(err, ERR_LEN, "state journal %s: %s", jpath, sub);
	free(jtext);
	if (ret)
		return -1;
	/* A journal of another snapshot is stale: the snapshot holds it. */
	if (!snapshot_head(text, strlen(text), &head) && head.size == j.head.size &&
	    head.crc == j.head.crc) {
		ret = journal_replay(out, &j, sub);
		*seen = (struct journal_seen){true, jlen, j.good_len};
	}
	if (ret)
		snprintf(err, ERR_LEN, "state journal %s: %s", jpath, sub);
	journal_free(&j);
	return ret;
}

int state_load_pair(const char *path, const struct clocks *now, struct saved_state *out,
		    bool *found, struct journal_seen *seen, char *err)
{
	struct journal_seen none = {0};
	char sub[ERR_LEN], *text;
	int ret;

	memset(out, 0, sizeof(*out));
	*found = false;
	seen = seen ?: &none;
	memset(seen, 0, sizeof(*seen));
	ret = read_text_file(path, STATE_MAX_BYTES, &text, sub);
	if (ret == -ENOENT)
		return 0;
	*found = true;
	if (ret)
		fail("state file %s", sub);
	ret = state_parse(text, now, out, sub);
	if (ret)
		snprintf(err, ERR_LEN, "state file %s: %s", path, sub);
	else
		ret = load_journal(path, text, now, out, seen, err);
	if (ret)
		state_free(out);
	free(text);
	return ret;
}

int state_verify(const char *path, char *err)
{
	char jpath[PATH_MAX + 16], sub[ERR_LEN], *text, *jtext;
	const char *end_line;
	unsigned int records;
	struct journal j;
	size_t jlen;
	int ret;

	ret = read_text_file(path, STATE_MAX_BYTES, &text, sub);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		fail("state file %s", sub);
	ret = check_frame(text, strlen(text), &end_line, &records, sub);
	free(text);
	if (ret)
		fail("state file %s: %s", path, sub);
	journal_path(jpath, sizeof(jpath), path); /* for the messages below */
	ret = journal_read(path, &jtext, &jlen, err);
	if (ret <= 0)
		return ret;
	ret = journal_scan(jtext, jlen, &j, sub);
	free(jtext);
	if (ret)
		fail("state journal %s: %s", jpath, sub);
	return 0;
}

int state_load(const char *path, const struct clocks *now, struct saved_state *out, bool *found,
	       char *err)
{
	return state_load_pair(path, now, out, found, NULL, err);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= w;
	}
	return 0;
}

/* A writer killed between its temporary file and the rename leaves the
 * temporary behind; writers hold the pin directory's lock, so any there now
 * is such a leftover. */
static void remove_stale_temporaries(const char *dir, const char *path)
{
	const char *base = strrchr(path, '/');
	char prefix[NAME_MAX + 8], file[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	snprintf(prefix, sizeof(prefix), "%s.tmp.", base ? base + 1 : path);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
			unlink(file);
		}
	closedir(d);
}

int file_write_atomic(const char *path, const char *text, size_t len, bool steps, char *err)
{
	char tmp[PATH_MAX], copy[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, ok;

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(copy));
	if (mkdir(dir, 0755) && errno != EEXIST)
		fail("state directory %s: %s", dir, strerror(errno));
	remove_stale_temporaries(dir, path);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok = fd >= 0 && !(steps && failpoint("state-write")) && !write_all(fd, text, len) &&
	     !(steps && failpoint("state-fsync")) && !fsync(fd);
	if (fd >= 0 && close(fd))
		ok = 0;
	if (!ok || (steps && failpoint("state-rename")) || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		fail("state file %s: cannot write it: %s", path, strerror(e));
	}
	/* The rename itself is durable only once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (steps && failpoint("state-dir-fsync")) || fsync(dfd)) {
		int e = errno;

		if (dfd >= 0)
			close(dfd);
		fail("state directory %s: cannot sync it: %s", dir, strerror(e));
	}
	close(dfd);
	return 0;
}

/* A journal with no record yet, following the snapshot of LEN bytes of
 * TEXT just written to PATH. */
static int journal_reset(const char *path, const char *text, size_t len, char *err)
{
	struct strbuf head_text = STRBUF_INIT;
	char jpath[PATH_MAX + 16];
	struct journal_head head;
	struct stat st;
	int ret;

	journal_path(jpath, sizeof(jpath), path);
	if (snapshot_head(text, len, &head) || stat(path, &st))
		fail("state file %s: cannot read it back: %s", path, strerror(errno));
	head.ino = st.st_ino;
	head.mtime_ns = st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
	journal_format_head(&head_text, &head);
	if (head_text.failed || failpoint("journal-reset")) {
		strbuf_free(&head_text);
		fail("state journal %s: cannot write it: %s", jpath, strerror(errno ?: ENOMEM));
	}
	ret = file_write_atomic(jpath, head_text.data, head_text.len, false, err);
	strbuf_free(&head_text);
	return ret;
}

int state_save(const char *path, const struct saved_state *s, const struct clocks *now, char *err)
{
	size_t len;
	char *text = state_format(s, now, &len);
	int ret;

	if (!text)
		fail("state file %s: out of memory", path);
	ret = file_write_atomic(path, text, len, true, err);
	ret = ret ?: journal_reset(path, text, len, err);
	free(text);
	return ret;
}
