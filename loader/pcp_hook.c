// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_hook.c - the --pcp-hook runner; see pcp_hook.h.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np, glibc 2.34 */
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
#include "pcp_hook.h"

extern char **environ;

/* The variables a child gets; any of these names in the daemon's own
 * environment is replaced. */
static const char *const hook_vars[] = {
    "XDPFWD_EVENT",	  "XDPFWD_PROTO",	  "XDPFWD_PUBLIC_ADDR",
    "XDPFWD_PUBLIC_PORT", "XDPFWD_INTERNAL_ADDR", "XDPFWD_INTERNAL_PORT",
};
#define NVARS (sizeof(hook_vars) / sizeof(hook_vars[0]))

struct hook_child {
	pid_t pid;
	uint64_t deadline; /* monotonic ms; 0 until the first tick sees it */
	bool killed;	   /* we sent SIGKILL at the deadline */
};

struct pcp_hook {
	char *command, *shell;
	uint32_t max_children, queue_len, timeout_ms;
	bool quiet;
	struct pcp_hook_event *queue; /* a ring of queue_len */
	size_t head, count;
	struct hook_child *child; /* max_children slots, the first nrun used */
	size_t nrun;
	struct pcp_hook_stats stats;
};

const char *pcp_hook_kind_name(enum pcp_hook_kind kind)
{
	static const char *const names[] = {"grant", "change", "expire", "delete"};

	return (unsigned int)kind < 4 ? names[kind] : "unknown";
}

static const char *check_config(const struct pcp_hook_config *cfg)
{
	if (!cfg->command || !cfg->command[0])
		return "--pcp-hook: the command is empty; give a shell command line";
	if (cfg->max_children > 64)
		return "pcp hook max_children: must be 1-64";
	if (cfg->queue_len > 1048576)
		return "pcp hook queue_len: must be 1-1048576";
	if (cfg->timeout_ms > 3600000)
		return "pcp hook timeout_ms: must be 1-3600000 (one hour)";
	return NULL;
}

struct pcp_hook *pcp_hook_new(const struct pcp_hook_config *cfg, const char **err, int *rc)
{
	struct pcp_hook *h;

	*err = check_config(cfg);
	if (*err) {
		*rc = -EINVAL;
		return NULL;
	}
	*rc = -ENOMEM;
	*err = "pcp hook: out of memory";
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->max_children = cfg->max_children ? cfg->max_children : PCP_HOOK_MAX_CHILDREN;
	h->queue_len = cfg->queue_len ? cfg->queue_len : PCP_HOOK_QUEUE_LEN;
	h->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : PCP_HOOK_TIMEOUT_MS;
	h->quiet = cfg->quiet;
	h->command = strdup(cfg->command);
	h->shell = strdup(cfg->shell ? cfg->shell : "/bin/sh");
	h->queue = calloc(h->queue_len, sizeof(*h->queue));
	h->child = calloc(h->max_children, sizeof(*h->child));
	if (!h->command || !h->shell || !h->queue || !h->child) {
		pcp_hook_free(h);
		return NULL;
	}
	*err = NULL;
	*rc = 0;
	return h;
}

void pcp_hook_free(struct pcp_hook *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->nrun; i++) {
		kill(-h->child[i].pid, SIGKILL);
		while (waitpid(h->child[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	free(h->command);
	free(h->shell);
	free(h->queue);
	free(h->child);
	free(h);
}

int pcp_hook_post(struct pcp_hook *h, const struct pcp_hook_event *ev)
{
	if (h->count == h->queue_len) {
		h->stats.dropped++;
		return -ENOBUFS;
	}
	h->queue[(h->head + h->count) % h->queue_len] = *ev;
	h->count++;
	h->stats.queued++;
	return 0;
}

/* A as text: dotted IPv4 when IPv4-mapped, else RFC 5952 IPv6. */
static void addr_text(const struct pcp_addr *a, char *out, size_t len)
{
	if (pcp_addr_is_v4(a))
		inet_ntop(AF_INET, a->b + 12, out, len);
	else
		inet_ntop(AF_INET6, a->b, out, len);
}

static bool is_hook_var(const char *entry)
{
	size_t i, n;

	for (i = 0; i < NVARS; i++) {
		n = strlen(hook_vars[i]);
		if (!strncmp(entry, hook_vars[i], n) && entry[n] == '=')
			return true;
	}
	return false;
}

/* The child's environment: the daemon's without our names, then ours, in
 * VARS (NVARS strings of up to 80 bytes). A malloc'd array for free(). */
static char **build_env(const struct pcp_hook_event *ev, char vars[NVARS][80])
{
	char pub[INET6_ADDRSTRLEN], in[INET6_ADDRSTRLEN];
	size_t n = 0, i;
	char **env;

	addr_text(&ev->public_addr, pub, sizeof(pub));
	addr_text(&ev->internal_addr, in, sizeof(in));
	snprintf(vars[0], 80, "%s=%s", hook_vars[0], pcp_hook_kind_name(ev->kind));
	snprintf(vars[1], 80, "%s=%s", hook_vars[1], ev->protocol == 6 ? "tcp" : "udp");
	snprintf(vars[2], 80, "%s=%s", hook_vars[2], pub);
	snprintf(vars[3], 80, "%s=%u", hook_vars[3], ev->public_port);
	snprintf(vars[4], 80, "%s=%s", hook_vars[4], in);
	snprintf(vars[5], 80, "%s=%u", hook_vars[5], ev->internal_port);
	while (environ && environ[n])
		n++;
	env = calloc(n + NVARS + 1, sizeof(*env));
	if (!env)
		return NULL;
	n = 0;
	for (i = 0; environ && environ[i]; i++)
		if (!is_hook_var(environ[i]))
			env[n++] = environ[i];
	for (i = 0; i < NVARS; i++)
		env[n++] = vars[i];
	return env;
}

/* stdin /dev/null, stdout and stderr to the daemon's stderr (or /dev/null),
 * every other descriptor closed (glibc 2.34+). */
static int spawn_files(posix_spawn_file_actions_t *fa, bool quiet)
{
	int rc;

	rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc && quiet)
		rc = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
	else if (!rc)
		rc = posix_spawn_file_actions_adddup2(fa, 2, 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return rc;
}

/* A process group of its own (so SIGKILL reaches what it started), every
 * signal at its default and none blocked, whatever the daemon set. */
static int spawn_attrs(posix_spawnattr_t *at)
{
	sigset_t all, none;
	int rc;

	sigfillset(&all);
	sigemptyset(&none);
	rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(at, &all);
	return rc;
}

/* Starts EV: 0 or a positive errno. */
static int spawn_one(struct pcp_hook *h, const struct pcp_hook_event *ev, uint64_t now_ms)
{
	char *argv[] = {h->shell, "-c", h->command, NULL};
	char vars[NVARS][80];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **env;
	pid_t pid;
	int rc;

	env = build_env(ev, vars);
	if (!env)
		return ENOMEM;
	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		goto out_env;
	rc = posix_spawnattr_init(&at);
	if (rc)
		goto out_fa;
	rc = spawn_files(&fa, h->quiet);
	if (!rc)
		rc = spawn_attrs(&at);
	if (!rc)
		rc = posix_spawn(&pid, h->shell, &fa, &at, argv, env);
	if (!rc) {
		h->child[h->nrun].pid = pid;
		h->child[h->nrun].deadline = now_ms + h->timeout_ms;
		h->child[h->nrun].killed = false;
		h->nrun++;
		h->stats.run++;
	}
	posix_spawnattr_destroy(&at);
out_fa:
	posix_spawn_file_actions_destroy(&fa);
out_env:
	free(env);
	return rc;
}

/* Counts how child I ended (wait status ST) and frees its slot. */
static void reaped(struct pcp_hook *h, size_t i, int st)
{
	if (h->child[i].killed)
		h->stats.killed++;
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		h->stats.ok++;
	else
		h->stats.failed++;
	h->child[i] = h->child[--h->nrun];
}

static void reap(struct pcp_hook *h, uint64_t now_ms)
{
	size_t i = 0;
	pid_t r;
	int st;

	while (i < h->nrun) {
		r = waitpid(h->child[i].pid, &st, WNOHANG);
		if (r == h->child[i].pid || (r < 0 && errno == ECHILD)) {
			/* ECHILD: reaped by someone else (SIGCHLD ignored) */
			reaped(h, i, r < 0 ? 0 : st);
			continue;
		}
		if (!h->child[i].killed && now_ms >= h->child[i].deadline) {
			kill(-h->child[i].pid, SIGKILL);
			h->child[i].killed = true;
			pr_info("pcp hook: a hook ran past %u ms and was killed\n", h->timeout_ms);
		}
		i++;
	}
}

static void start_queued(struct pcp_hook *h, uint64_t now_ms)
{
	struct pcp_hook_event ev;
	int rc;

	while (h->count && h->nrun < h->max_children) {
		ev = h->queue[h->head];
		h->head = (h->head + 1) % h->queue_len;
		h->count--;
		rc = spawn_one(h, &ev, now_ms);
		if (rc) {
			h->stats.spawn_failed++;
			h->stats.failed++;
			pr_warn("pcp hook: cannot start %s: %s\n", h->shell, strerror(rc));
		}
	}
}

int pcp_hook_tick(struct pcp_hook *h, uint64_t now_ms)
{
	uint64_t next = 100;
	size_t i;

	reap(h, now_ms);
	start_queued(h, now_ms);
	if (!h->nrun && !h->count)
		return -1;
	for (i = 0; i < h->nrun; i++)
		if (!h->child[i].killed && h->child[i].deadline > now_ms &&
		    h->child[i].deadline - now_ms < next)
			next = h->child[i].deadline - now_ms;
	return (int)next;
}

size_t pcp_hook_queued(const struct pcp_hook *h)
{
	return h->count;
}

size_t pcp_hook_running(const struct pcp_hook *h)
{
	return h->nrun;
}

void pcp_hook_get_stats(const struct pcp_hook *h, struct pcp_hook_stats *s)
{
	*s = h->stats;
}
