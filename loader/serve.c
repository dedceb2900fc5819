// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * serve.c - the daemon: /metrics over libmicrohttpd, and the end of leases.
 * One polling thread answers requests one after the other, so the render
 * buffer needs no lock; the main thread removes expired mappings and waits
 * for a signal.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <microhttpd.h>
#include "attach.h"
#include "change.h"
#include "log.h"
#include "metrics.h"
#include "persist.h"
#include "serve.h"

/* Enough for Prometheus and a few curious humans; more wait or are refused. */
#define MAX_CONNECTIONS	     64
#define CONNECTION_TIMEOUT_S 10

/* How often serve looks whether the table changed or a lease is due: a
 * mapping goes at most this long after its expiry (the data path already
 * drops its packets from the expiry on). A look is one stat() of the state
 * file, which every change rewrites; the table itself is read only when the
 * file changed, a lease is due, or RESCAN_NS passed (reading 65,536 mappings
 * four times a second kept a tenth of a core busy). */
#define EXPIRY_CHECK_NS 250000000L
#define RESCAN_NS	60000000000ULL

struct server {
	struct pindir *pd;
	char state[PATH_MAX + 64];
	const char *config_file;
	struct xdpfwd_maps maps;
	struct table_view view;
	struct strbuf text;
	__u64 expired;			/* written by the main thread, read by the polling one */
	__u64 next_expiry, next_rescan; /* boot clock; 0: none known */
	ino_t state_ino;		/* the state file as last seen */
	struct timespec state_mtime;
};

/* Whether the state file was rewritten (by any command) since last looked. */
static bool state_changed(struct server *srv)
{
	struct stat st;
	bool changed;

	if (stat(srv->state, &st))
		return false; /* no file to watch: the rescan and known leases remain */
	changed = st.st_ino != srv->state_ino || st.st_mtim.tv_sec != srv->state_mtime.tv_sec ||
		  st.st_mtim.tv_nsec != srv->state_mtime.tv_nsec;
	srv->state_ino = st.st_ino;
	srv->state_mtime = st.st_mtim;
	return changed;
}

/* The state file after a change: RULES when the caller has the table at
 * hand, else what the maps hold. The caller holds the lock. */
static void sync_state(struct server *srv, const struct rule *rules, size_t count)
{
	struct xdpfwd_config config;
	char err[ERR_LEN] = "cannot read the attachment";
	__u32 zero = 0;

	if (bpf_map_lookup_elem(srv->maps.config, &zero, &config) ||
	    (rules ? state_write(srv->state, &config, rules, count, err)
		   : state_sync(srv->state, &srv->maps, &config, err)))
		pr_warn("serve: the state file is behind the maps: %s\n", err);
}

/* Removes every mapping whose lease has ended, under the lock the CLI takes,
 * and reads the whole table only when one has. */
static int expire_leases(struct server *srv)
{
	struct slot_mapping *list;
	struct rule *have = NULL, *keep = NULL;
	struct apply_summary sum;
	size_t n, kept = 0;
	__u64 now = boot_clock_ns();
	bool due = false;
	int err;

	if (!state_changed(srv) && (!srv->next_expiry || now < srv->next_expiry) &&
	    now < srv->next_rescan)
		return 0;
	err = table_read(&srv->maps, &list, &n);
	srv->next_expiry = 0;
	srv->next_rescan = now + RESCAN_NS;
	for (size_t i = 0; !err && i < n; i++) {
		__u64 at = list[i].m.expires_ns;

		if (at && at <= now)
			due = true;
		else if (at && (!srv->next_expiry || at < srv->next_expiry))
			srv->next_expiry = at;
	}
	free(list);
	if (err || !due)
		return err;
	err = pindir_lock(srv->pd);
	if (err)
		return err;
	err = table_live(&srv->maps, &have, &n, 0);
	keep = err ? NULL : malloc((n + 1) * sizeof(*keep));
	if (!err && !keep)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		char line[200];

		if (!have[i].m.expires_ns || have[i].m.expires_ns > now) {
			keep[kept++] = have[i];
			continue;
		}
		format_mapping(line, sizeof(line), &have[i].m);
		printf("expired %s\n", line);
	}
	if (!err)
		err = table_apply(&srv->maps, have, n, keep, kept, &sum);
	if (!err)
		__atomic_add_fetch(&srv->expired, sum.removed, __ATOMIC_RELAXED);
	if (!err)
		sync_state(srv, keep, kept);
	fflush(stdout);
	pindir_unlock(srv->pd);
	free(have);
	free(keep);
	return err;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     const char *body, size_t len, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The buffer goes to libmicrohttpd, which frees it once sent: an earlier
 * response may still be in flight when the next scrape renders. */
static enum MHD_Result reply_metrics(struct MHD_Connection *conn, struct strbuf *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(text->len, text->data, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO; /* text stays ours and is reused */
	text->hint = text->len + text->len / 8;
	text->data = NULL; /* libmicrohttpd's now */
	strbuf_free(text);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status, const char *msg,
				  const char *allow)
{
	return reply(conn, status, "text/plain; charset=utf-8", msg, strlen(msg), allow);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req_cls)
{
	struct server *srv = cls;
	bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
	int err;

	(void)version;
	(void)upload;
	(void)req_cls;
	*upload_size = 0; /* bodies are ignored */
	if (strcmp(url, "/metrics") && strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n",
				  NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && !head)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				  "GET, HEAD");
	if (!strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_OK, "xdpfwd: metrics are at /metrics\n", NULL);

	err = metrics_render(srv->pd, &srv->maps, &srv->view,
			     __atomic_load_n(&srv->expired, __ATOMIC_RELAXED), &srv->text);
	if (err) {
		pr_warn("serve: reading the maps failed: %s\n", strerror(-err));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "reading the maps failed\n",
				  NULL);
	}
	return reply_metrics(conn, &srv->text);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (log_level >= LOG_INFO)
		vfprintf(stderr, fmt, ap);
}

/* Maps gone, state file there: a reboot. Attach as recorded, then write the
 * recorded table (leases that ended meanwhile are already dropped). */
static int rebuild(struct pindir *pd, const struct saved_state *saved)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct apply_summary sum;
	int err;

	if (!saved->attached) {
		pr_warn("serve: no maps in %s, and the state file records no attachment: run "
			"'xdpfwd attach IFACE --tunnel IFACE'\n",
			pd->path);
		return -ENOENT;
	}
	err = attach_cmd(pd, saved->iface, saved->tunnel,
			 saved->generic ? XDP_MODE_SKB : XDP_MODE_NATIVE, saved->fast_path,
			 saved->clients, saved->client_count, false);
	if (err)
		return err;
	if (maps_open(pd, &maps, &config))
		return -ENOENT;
	/* What the state file holds was checked when it was written; a
	 * conflict that has appeared since does not keep a port closed. */
	err = apply(&maps, &config, NULL, 0, saved->rules, saved->count, false, NULL,
		    "serve: rebuilding the table", &sum);
	maps_close(&maps);
	if (!err)
		printf("rebuilt from the state file: %zu mappings\n", sum.added);
	return err;
}

/* Reads the state file and, when the maps are gone, rebuilds from it. */
static int reconcile(struct server *srv)
{
	struct saved_state saved;
	struct clocks now;
	char err[ERR_LEN], probe[PATH_MAX + 32];
	bool found;
	int ret;

	clocks_now(&now);
	if (state_load(srv->state, &now, &saved, &found, err)) {
		pr_warn("serve: %s; refusing to start: repair the file or move it away\n", err);
		return -EINVAL;
	}
	ret = pindir_lock(srv->pd);
	pindir_file(srv->pd, XDPFWD_MAP_CONFIG, probe, sizeof(probe));
	if (!ret && access(probe, F_OK)) {
		if (!found) {
			pr_warn("serve: no xdpfwd state in %s nor in %s: run 'xdpfwd attach IFACE "
				"--tunnel IFACE' first\n",
				srv->pd->path, srv->state);
			ret = -ENOENT;
		} else {
			ret = rebuild(srv->pd, &saved);
		}
	}
	state_free(&saved);
	return ret;
}

static void reload(struct server *srv)
{
	struct xdpfwd_config config;
	__u32 zero = 0;

	if (!srv->config_file) {
		pr_warn("serve: SIGHUP, but no --config FILE to reload\n");
		return;
	}
	if (pindir_lock(srv->pd))
		return;
	if (bpf_map_lookup_elem(srv->maps.config, &zero, &config) == 0)
		load_file(&srv->maps, &config, srv->config_file, false, srv->state,
			  "serve: reload");
	pindir_unlock(srv->pd);
}

int serve_cmd(struct pindir *pd, const char *listen, const char *state_dir, const char *config_file)
{
	struct server srv = {.pd = pd, .config_file = config_file};
	struct xdpfwd_config config;
	struct sockaddr_storage addr;
	struct MHD_Daemon *httpd;
	char err[ERR_LEN];
	int sig, stats_fd;
	sigset_t stop;

	if (parse_listen(listen, &addr, err)) {
		pr_warn("serve: --metrics: %s\n", err);
		return -EINVAL;
	}
	state_path(srv.state, sizeof(srv.state), state_dir, pd->path);
	if (reconcile(&srv)) {
		pindir_unlock(pd);
		return -ENOENT;
	}
	if (maps_open(pd, &srv.maps, &config)) {
		pindir_unlock(pd);
		return -ENOENT;
	}
	/* Adopted as they are: the file follows the maps, whatever a command
	 * killed half way left. */
	sync_state(&srv, NULL, 0);
	pindir_unlock(pd);
	if (config_file)
		reload(&srv);
	/* Keeps run-time statistics on for as long as this fd is open. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		pr_info("serve: no BPF run-time statistics: %s\n", strerror(errno));

	/* Blocked before the polling thread starts, so only sigwait sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
				     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				 0, NULL, NULL, handle, &srv, MHD_OPTION_SOCK_ADDR, &addr,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!httpd) {
		pr_warn("serve: cannot listen on %s: %s\n", listen, strerror(errno));
		maps_close(&srv.maps);
		if (stats_fd >= 0)
			close(stats_fd);
		return -EADDRINUSE;
	}
	printf("serving metrics on http://%s/metrics (state in %s)\n", listen, pd->path);
	fflush(stdout);

	for (;;) {
		struct timespec tick = {0, EXPIRY_CHECK_NS};
		int err = expire_leases(&srv);

		if (err)
			pr_warn("serve: removing expired mappings failed: %s\n", strerror(-err));
		sig = sigtimedwait(&stop, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			reload(&srv);
	}
	pr_info("serve: stopping on signal %d\n", sig);
	MHD_stop_daemon(httpd);
	maps_close(&srv.maps);
	strbuf_free(&srv.text);
	view_free(&srv.view);
	if (stats_fd >= 0)
		close(stats_fd);
	return 0;
}
