// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * wg_peers.c - the tunnel's WireGuard peers through `wg show IFACE dump`;
 * see wg_peers.h.
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "log.h"
#include "strbuf.h"
#include "wg_peers.h"

extern char **environ;

#define WG_KEY_LEN 44 /* base64 of 32 bytes */

static void mask(struct pcp_addr *a, unsigned int len)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = len > 8 * i ? len - 8 * i : 0;

		if (bits < 8)
			a->b[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static int entry_cmp(const void *x, const void *y)
{
	const struct wg_dump_entry *a = x, *b = y;

	if (a->p.len != b->p.len)
		return a->p.len > b->p.len ? -1 : 1;
	return memcmp(&a->p.addr, &b->p.addr, sizeof(a->p.addr));
}

/* One CIDR of allowed-ips ("10.8.0.2/32", "2001:db8::/64") into P. */
static bool parse_cidr(const char *s, size_t n, struct wg_prefix *p)
{
	char buf[64], *slash, *end;
	unsigned long len;
	struct in_addr a4;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return false;
	*slash = 0;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (*end || errno)
		return false;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		if (len > 32)
			return false;
		pcp_addr_from_v4(&p->addr, a4.s_addr);
		p->len = (uint8_t)(96 + len);
	} else if (inet_pton(AF_INET6, buf, p->addr.b) == 1) {
		if (len > 128)
			return false;
		p->len = (uint8_t)len;
	} else {
		return false;
	}
	mask(&p->addr, p->len);
	return true;
}

/* Splits LINE (no \n) at tabs into F (at most MAX): the field count. */
static size_t split(const char *line, size_t len, const char **f, size_t *fl, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		if (n < max) {
			f[n] = line + start;
			fl[n] = i - start;
		}
		n++;
		start = i + 1;
	}
	return n;
}

static int grow(struct wg_dump *d, size_t *cap_e, size_t *cap_k)
{
	if (d->nprefixes == *cap_e) {
		size_t c = *cap_e ? 2 * *cap_e : 64;
		void *p = realloc(d->e, c * sizeof(*d->e));

		if (!p)
			return -ENOMEM;
		d->e = p;
		*cap_e = c;
	}
	if (d->npeers == *cap_k) {
		size_t c = *cap_k ? 2 * *cap_k : 64;
		void *p = realloc(d->keys, c * sizeof(*d->keys));

		if (!p)
			return -ENOMEM;
		d->keys = p;
		*cap_k = c;
	}
	return 0;
}

/* A peer line's 8 fields into D. */
static int parse_peer(struct wg_dump *d, const char **f, const size_t *fl, size_t *cap_e,
		      size_t *cap_k, const char **err)
{
	const char *ips = f[3], *end = f[3] + fl[3];
	size_t peer = d->npeers;

	if (fl[0] != WG_KEY_LEN || f[0][WG_KEY_LEN - 1] != '=') {
		*err = "peer public-key: not a base64 key of 44 characters";
		return -EINVAL;
	}
	if (grow(d, cap_e, cap_k))
		return -ENOMEM;
	memcpy(d->keys[peer], f[0], WG_KEY_LEN);
	d->keys[peer][WG_KEY_LEN] = 0;
	d->npeers++;
	if (fl[3] == 6 && !memcmp(ips, "(none)", 6))
		return 0;
	while (ips < end) {
		const char *comma = memchr(ips, ',', (size_t)(end - ips));
		size_t n = comma ? (size_t)(comma - ips) : (size_t)(end - ips);

		if (grow(d, cap_e, cap_k))
			return -ENOMEM;
		if (!parse_cidr(ips, n, &d->e[d->nprefixes].p)) {
			*err = "peer allowed-ips: not ADDR/LEN[,ADDR/LEN...] or (none)";
			return -EINVAL;
		}
		d->e[d->nprefixes++].peer = (uint32_t)peer;
		ips += n + 1;
	}
	return 0;
}

/* Sorts D's prefixes and lists their distinct lengths. */
static void index_dump(struct wg_dump *d)
{
	if (d->nprefixes)
		qsort(d->e, d->nprefixes, sizeof(*d->e), entry_cmp);
	d->nlens = 0;
	for (size_t i = 0; i < d->nprefixes; i++)
		if (!d->nlens || d->lens[d->nlens - 1] != d->e[i].p.len)
			d->lens[d->nlens++] = d->e[i].p.len;
}

int wg_dump_parse(const char *text, size_t len, struct wg_dump *d, const char **err,
		  size_t *err_line)
{
	size_t cap_e = 0, cap_k = 0, line = 0, fl[9];
	const char *p = text, *end = text + len, *f[9];
	bool first = true;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	*err = NULL;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), nf;

		line++;
		if (n) {
			nf = split(p, n, f, fl, 9);
			if (first && nf != 4) {
				*err = "interface line: want 4 tab-separated fields";
				rc = -EINVAL;
			} else if (!first && nf != 8) {
				*err = "peer line: want 8 tab-separated fields";
				rc = -EINVAL;
			} else if (!first) {
				rc = parse_peer(d, f, fl, &cap_e, &cap_k, err);
			}
			first = false;
		}
		p += n + 1;
	}
	if (!rc && first) {
		*err = "no interface line: the output is empty";
		rc = -EINVAL;
	}
	if (rc) {
		*err_line = line;
		if (rc == -ENOMEM)
			*err = "out of memory";
		wg_dump_free(d);
		return rc;
	}
	index_dump(d);
	return 0;
}

void wg_dump_free(struct wg_dump *d)
{
	free(d->e);
	free(d->keys);
	memset(d, 0, sizeof(*d));
}

/* The entry of exactly prefix P, or NULL. */
static const struct wg_dump_entry *find(const struct wg_dump *d, const struct wg_prefix *p)
{
	struct wg_dump_entry key = {.p = *p};

	if (!d->nprefixes)
		return NULL;
	return bsearch(&key, d->e, d->nprefixes, sizeof(*d->e), entry_cmp);
}

long wg_dump_lookup(const struct wg_dump *d, const struct pcp_addr *a)
{
	const struct wg_dump_entry *e;
	struct wg_prefix p;
	bool v4 = pcp_addr_is_v4(a);

	for (size_t i = 0; i < d->nlens; i++) {
		/* WireGuard keeps one table per family: an IPv4 address only
		 * matches IPv4 prefixes, 96 bits and more in the mapped form
		 * (an IPv6 ::/0 must not match it); an IPv6 address can never
		 * equal a masked ::ffff:a.b.c.d prefix. */
		if (v4 && d->lens[i] < 96)
			continue;
		p.addr = *a;
		p.len = d->lens[i];
		mask(&p.addr, p.len);
		e = find(d, &p);
		if (e)
			return e->peer;
	}
	return -1;
}

struct wg_peers {
	char ifname[16];
	char *wg_path;
	uint32_t interval_ms, timeout_ms;
	/* the `wg` under way: pid 0 when none */
	pid_t pid;
	int fd;	     /* its stdout; -1 at EOF */
	bool killed; /* we sent SIGKILL (timeout, output too long) */
	uint64_t deadline, next_poll;
	struct strbuf out;
	/* the last two good polls */
	struct wg_dump cur, prev;
	bool have_cur, have_prev;
	bool failing; /* in a run of failures (one warning per run) */
	uint64_t generation;
	struct wg_peers_stats stats;
};

static const char *check_config(const struct wg_peers_config *cfg)
{
	size_t n = cfg->ifname ? strlen(cfg->ifname) : 0;

	if (n < 1 || n > 15 || strpbrk(cfg->ifname, "/ \t\n:"))
		return "wg peers: the interface name must be 1-15 bytes, without '/', ':' or spaces";
	if (cfg->interval_ms && (cfg->interval_ms < 100 || cfg->interval_ms > 3600000))
		return "wg peers interval_ms: must be 100-3600000";
	if (cfg->timeout_ms && (cfg->timeout_ms < 100 || cfg->timeout_ms > 60000))
		return "wg peers timeout_ms: must be 100-60000";
	return NULL;
}

struct wg_peers *wg_peers_new(const struct wg_peers_config *cfg, const char **err, int *rc)
{
	struct wg_peers *w;

	*err = check_config(cfg);
	if (*err) {
		*rc = -EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w)
		w->wg_path = strdup(cfg->wg_path ? cfg->wg_path : "wg");
	if (!w || !w->wg_path) {
		free(w);
		*err = "wg peers: out of memory";
		*rc = -ENOMEM;
		return NULL;
	}
	snprintf(w->ifname, sizeof(w->ifname), "%s", cfg->ifname);
	w->interval_ms = cfg->interval_ms ? cfg->interval_ms : WG_PEERS_INTERVAL_MS;
	w->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : WG_PEERS_TIMEOUT_MS;
	w->fd = -1;
	*rc = 0;
	return w;
}

static void close_pipe(struct wg_peers *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void wg_peers_free(struct wg_peers *w)
{
	if (!w)
		return;
	close_pipe(w);
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	strbuf_free(&w->out);
	wg_dump_free(&w->cur);
	wg_dump_free(&w->prev);
	free(w->wg_path);
	free(w);
}

/* stdin and stderr /dev/null, stdout the pipe's write end WFD, nothing
 * else open: 0 or a positive errno. */
static int spawn_wg(struct wg_peers *w, int wfd)
{
	char *argv[] = {w->wg_path, "show", w->ifname, "dump", NULL};
	posix_spawn_file_actions_t fa;
	int rc;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return rc;
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, wfd, 1);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!rc)
		rc = posix_spawnp(&w->pid, w->wg_path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		w->pid = 0;
	return rc;
}

/* A failed poll: counted; one warning per run of failures. */
static void poll_failed(struct wg_peers *w, const char *why)
{
	w->stats.failures++;
	if (w->failing)
		return;
	w->failing = true;
	if (!w->have_cur)
		pr_warn("wg peers: `%s show %s dump` %s: %s is not WireGuard, or wg is "
			"missing; NAT-PMP/PCP clients are authorized by attach --clients alone\n",
			w->wg_path, w->ifname, why, w->ifname);
	else
		pr_warn("wg peers: `%s show %s dump` %s; the last peers read stay in force\n",
			w->wg_path, w->ifname, why);
}

/* Whether a (peer, prefix) pair of the previous poll is gone from CUR. */
static bool pair_removed(const struct wg_dump *prev, const struct wg_dump *cur)
{
	for (size_t i = 0; i < prev->nprefixes; i++) {
		const struct wg_dump_entry *e = find(cur, &prev->e[i].p);

		if (!e || strcmp(cur->keys[e->peer], prev->keys[prev->e[i].peer]))
			return true;
	}
	return false;
}

static void poll_done(struct wg_peers *w, int status)
{
	struct wg_dump d;
	const char *err;
	size_t line = 0;
	char why[96];

	if (w->killed || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (w->killed)
			snprintf(why, sizeof(why),
				 "was killed (past %u ms, or over %u MiB of output)", w->timeout_ms,
				 WG_PEERS_MAX_OUTPUT >> 20);
		else if (WIFEXITED(status))
			snprintf(why, sizeof(why), "failed (exit %d)", WEXITSTATUS(status));
		else
			snprintf(why, sizeof(why), "died (signal %d)", WTERMSIG(status));
		poll_failed(w, why);
		return;
	}
	if (w->out.failed || wg_dump_parse(strbuf_str(&w->out), w->out.len, &d, &err, &line)) {
		snprintf(why, sizeof(why), "gave output that does not parse (line %zu: %s)", line,
			 w->out.failed ? "out of memory" : err);
		poll_failed(w, why);
		return;
	}
	if (w->failing && w->have_cur)
		pr_info("wg peers: `%s show %s dump` works again\n", w->wg_path, w->ifname);
	w->failing = false;
	wg_dump_free(&w->prev);
	w->prev = w->cur;
	w->have_prev = w->have_cur;
	w->cur = d;
	w->have_cur = true;
	w->stats.polls++;
	w->stats.peers = d.npeers;
	if (w->have_prev && pair_removed(&w->prev, &w->cur)) {
		w->generation++;
		w->stats.removals++;
		pr_debug("wg peers: a peer was removed or lost a prefix\n");
	}
}

static void start_poll(struct wg_peers *w, uint64_t now_ms)
{
	int p[2], rc;

	w->next_poll = now_ms + w->interval_ms;
	if (pipe2(p, O_CLOEXEC)) {
		poll_failed(w, "could not start (no pipe)");
		return;
	}
	/* only our end is non-blocking: wg itself writes with plain writes */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	rc = spawn_wg(w, p[1]);
	close(p[1]);
	if (rc) {
		close(p[0]);
		poll_failed(w, rc == ENOENT ? "could not start (not found)" : "could not start");
		return;
	}
	w->fd = p[0];
	w->killed = false;
	w->deadline = now_ms + w->timeout_ms;
	strbuf_reset(&w->out);
}

/* Reads what the pipe holds; closes it at EOF. */
static void drain(struct wg_peers *w)
{
	char buf[65536];
	ssize_t n;

	while (w->fd >= 0) {
		n = read(w->fd, buf, sizeof(buf));
		if (n > 0 && w->out.len + (size_t)n <= WG_PEERS_MAX_OUTPUT) {
			strbuf_appendn(&w->out, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0 && !w->killed) { /* more than WG_PEERS_MAX_OUTPUT */
			kill(w->pid, SIGKILL);
			w->killed = true;
		}
		close_pipe(w);
	}
}

int wg_peers_tick(struct wg_peers *w, uint64_t now_ms)
{
	int status;
	pid_t r;

	if (w->pid > 0) {
		drain(w);
		r = waitpid(w->pid, &status, WNOHANG);
		if (r == w->pid || (r < 0 && errno == ECHILD)) {
			drain(w); /* what it wrote before it exited */
			close_pipe(w);
			w->pid = 0;
			poll_done(w, r < 0 ? 0 : status);
		} else if (now_ms >= w->deadline && !w->killed) {
			kill(w->pid, SIGKILL);
			w->killed = true;
			w->stats.killed++;
		}
	}
	if (w->pid == 0 && now_ms >= w->next_poll)
		start_poll(w, now_ms);
	if (w->pid > 0) /* soon again: to reap it, or read what the fd held */
		return w->killed || now_ms >= w->deadline ? 1
		       : w->deadline - now_ms < 10	  ? (int)(w->deadline - now_ms)
							  : 10;
	return (int)(w->next_poll - now_ms);
}

int wg_peers_fd(const struct wg_peers *w)
{
	return w->fd;
}

enum wg_peers_status wg_peers_status(const struct wg_peers *w)
{
	return w->have_cur ? WG_PEERS_KNOWN : WG_PEERS_UNKNOWN;
}

uint64_t wg_peers_generation(const struct wg_peers *w)
{
	return w->generation;
}

int wg_peers_allowed(const struct wg_peers *w, const struct pcp_addr *a)
{
	if (!w->have_cur)
		return -1;
	return wg_dump_lookup(&w->cur, a) >= 0;
}

bool wg_peers_lost(const struct wg_peers *w, const struct pcp_addr *a)
{
	long was, now;

	if (!w->have_prev)
		return false;
	was = wg_dump_lookup(&w->prev, a);
	if (was < 0)
		return false;
	now = wg_dump_lookup(&w->cur, a);
	return now < 0 || strcmp(w->prev.keys[was], w->cur.keys[now]) != 0;
}

void wg_peers_get_stats(const struct wg_peers *w, struct wg_peers_stats *s)
{
	*s = w->stats;
}
