// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * serve.c - the daemon: /metrics over libmicrohttpd, and the end of leases.
 * One polling thread answers requests one after the other, so the render
 * buffer needs no lock; the main thread removes expired mappings and waits
 * for a signal.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "attach.h"
#include "change.h"
#include "localaddr.h"
#include "log.h"
#include "metrics.h"
#include "hugeheap.h"
#include "mhd.h"
#include "pcp_daemon.h"
#include "fleetd.h"
#include "journal.h"
#include "leases.h"
#include "persist.h"
#include "pinned_maps.h"
#include "restore.h"
#include "serve.h"

/* Enough for Prometheus and a few curious humans; more wait or are refused. */
#define MAX_CONNECTIONS	     64
#define CONNECTION_TIMEOUT_S 10

/* How often serve looks whether the table changed or a lease is due: a
 * mapping goes at most this long after its expiry (the data path already
 * drops its packets from the expiry on). A look is two stat() calls of the
 * state file and its journal, which every change writes; the mapping
 * records are read only when another process rewrote the file, and a lease
 * that ends costs what it removes (leases.h). */
#define EXPIRY_CHECK_NS 250000000L

struct server {
	struct pindir *pd;
	char state[PATH_MAX + 64];
	const char *config_file;
	struct xdpfwd_maps maps;
	struct table_view view;
	struct strbuf text;
	__u64 expired;		   /* written by the main thread, read by the polling one */
	struct lease_index leases; /* the main thread's */
	struct rule *pending;	   /* the state file's mappings that wait for an address */
	size_t npending;
	bool pending_refused;	  /* writing them failed: not again until the file changes */
	struct pcpd *pcp;	  /* the NAT-PMP/PCP server, or NULL (pcp_daemon.h) */
	struct pcpd_metrics pcpm; /* its counters, for the polling thread */
	struct fleetd *fleet;	  /* etcd as the table (fleetd.h), or NULL */
	struct fleetd_metrics fleetm;
};

/* The state file from what the maps hold, its pending mappings kept. The
 * caller holds the lock. */
static void sync_state(struct server *srv)
{
	struct xdpfwd_config config;
	char err[ERR_LEN] = "cannot read the attachment";
	__u32 zero = 0;

	if (bpf_map_lookup_elem(srv->maps.config, &zero, &config) ||
	    state_sync(srv->state, &srv->maps, &config, err)) {
		pr_warn("serve: the state file is behind the maps: %s\n", err);
		metrics_state_error();
	}
}

/* Says what ended: a count at the default level, each mapping (its target
 * is a client's address) only at debug level (-vv). */
static void report_expired(const struct rule *gone, size_t n, double ms)
{
	for (size_t i = 0; log_level >= LOG_DEBUG && i < n; i++) {
		char line[200];

		format_mapping(line, sizeof(line), &gone[i].m);
		pr_debug("serve: expired %s\n", line);
	}
	printf("expired %zu lease%s\n", n, n == 1 ? "" : "s");
	fflush(stdout);
	pr_info("serve: %zu expired mappings removed in %.1f ms\n", n, ms);
}

/* Removes every mapping whose lease has ended, as one batch under the lock
 * the CLI takes (leases.h); the lock is taken only when a lease is due or
 * the state file CHANGED. */
static int expire_leases(struct server *srv, bool changed)
{
	struct xdpfwd_config config;
	struct timespec t0, t1;
	__u64 now = boot_clock_ns(), next = lease_next(&srv->leases);
	struct rule *gone = NULL;
	size_t n = 0;
	__u32 zero = 0;
	int err;

	if (!changed && (!next || next > now))
		return 0;
	err = pindir_lock(srv->pd);
	if (err)
		return err;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = lease_index_follow(&srv->leases, &srv->maps, srv->state);
	if (!err && bpf_map_lookup_elem(srv->maps.config, &zero, &config))
		err = -errno;
	if (!err)
		err = lease_expire(&srv->leases, &srv->maps, &config, srv->state, now, &gone, &n);
	if (!err && n) {
		/* The record just written is ours: the index knows it. */
		lease_index_seen(&srv->leases, srv->state);
		__atomic_add_fetch(&srv->expired, n, __ATOMIC_RELAXED);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		report_expired(gone, n,
			       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		/* Dynamic mappings are the NAT-PMP/PCP server's to end; one it
		 * could not write ended here, and its index forgets it. */
		pcpd_forget_gone(srv->pcp, gone, n);
	}
	pindir_unlock(srv->pd);
	free(gone);
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
	if (!err) {
		pcpd_metrics_render(&srv->pcpm, &srv->text);
		fleetd_metrics_render(&srv->fleetm, &srv->text);
	}
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

/* Maps gone, state file there: a reboot. Attach as recorded and write the
 * recorded table back (attach_rebuild(), restore.h). */
static int rebuild(struct server *srv, const struct saved_state *saved)
{
	if (!saved->attached) {
		pr_warn("serve: no maps in %s, and the state file records no attachment: run "
			"'xdpfwd attach IFACE --tunnel IFACE'\n",
			srv->pd->path);
		return -ENOENT;
	}
	return attach_rebuild(srv->pd, saved, srv->state);
}

/* Reads the state file and, when the maps are gone, rebuilds from it
 * (*REBUILT then true). Maps that are there with no rebuild under way (a
 * restart) need the file only to be one serve can write: state_check(),
 * which reads the journal's last record alone while it follows its
 * snapshot, not the whole table. Returns with the lock taken. */
static int reconcile(struct server *srv, bool *rebuilt)
{
	struct saved_state saved = {0};
	struct clocks now;
	char err[ERR_LEN], probe[PATH_MAX + 32], marker[PATH_MAX + 80];
	bool found = false;
	int ret;

	pindir_file(srv->pd, XDPFWD_MAP_CONFIG, probe, sizeof(probe));
	state_rebuild_marker(marker, sizeof(marker), srv->state);
	ret = pindir_lock(srv->pd);
	if (!ret && !access(probe, F_OK) && access(marker, F_OK)) {
		if (!state_check(srv->state, err))
			return 0;
		pr_warn("serve: %s; refusing to start: repair the file or move it away\n", err);
		return -EINVAL;
	}
	clocks_now(&now);
	if (!ret && state_load(srv->state, &now, &saved, &found, err)) {
		pr_warn("serve: %s; refusing to start: repair the file or move it away\n", err);
		return -EINVAL;
	}
	if (!ret && found && saved.attached && !access(marker, F_OK) && !access(probe, F_OK)) {
		/* A rebuild was killed half way: its maps lack the table, which
		 * the untouched file still holds. Start it again. */
		pr_warn("serve: a rebuild from the state file was interrupted; starting it "
			"again\n");
		ret = attach_clear(srv->pd, saved.iface, saved.tunnel);
	}
	if (!ret && access(probe, F_OK)) {
		if (!found) {
			pr_warn("serve: no xdpfwd state in %s nor in %s: run 'xdpfwd attach IFACE "
				"--tunnel IFACE' first\n",
				srv->pd->path, srv->state);
			ret = -ENOENT;
		} else {
			ret = rebuild(srv, &saved);
			*rebuilt = !ret;
		}
	}
	state_free(&saved);
	return ret;
}

/* The state file's pending mappings, read again after it changed. */
static void load_pending(struct server *srv)
{
	char err[ERR_LEN];

	free(srv->pending);
	srv->pending = NULL;
	srv->npending = 0;
	srv->pending_refused = false;
	if (state_pending(srv->state, &srv->pending, &srv->npending, err)) {
		pr_warn("serve: %s\n", err);
		metrics_state_error();
		srv->pending = NULL;
		srv->npending = 0;
	}
}

/* Writes the pending mappings the public interface can take now (its
 * address came), with the file, all or nothing. */
static void retry_pending(struct server *srv)
{
	struct rule *have = NULL, *want = NULL, *ready = NULL, *waiting = NULL;
	size_t n, nready = 0, nwaiting = 0;
	struct xdpfwd_config config;
	struct local_addrs local;
	struct apply_summary sum;
	__u32 zero = 0;
	int err;

	if (!srv->npending || srv->pending_refused ||
	    bpf_map_lookup_elem(srv->maps.config, &zero, &config) ||
	    local_addrs_read(config.public_ifindex, &local))
		return;
	if (split_ready(srv->pending, srv->npending, &local, &ready, &nready, &waiting, &nwaiting,
			NULL) ||
	    !nready || pindir_lock(srv->pd))
		goto out;
	err = table_live(&srv->maps, &have, &n, 0);
	want = err ? NULL : calloc(n + nready, sizeof(*want));
	if (!err && !want)
		err = -ENOMEM;
	if (!err) {
		memcpy(want, have, n * sizeof(*have));
		memcpy(want + n, ready, nready * sizeof(*ready));
		err = apply(&srv->maps, &config, have, n, want, n + nready,
			    &(struct change){.what = "serve: writing pending mappings",
					     .daemon = true,
					     .state = srv->state,
					     .pending = &(struct pending_set){waiting, nwaiting}},
			    &sum);
	}
	if (!err)
		for (size_t i = 0; i < nready; i++) {
			char pub[200];

			format_public_side(pub, sizeof(pub), &ready[i].m);
			printf("pending %s written: the public interface can take it now\n", pub);
		}
	fflush(stdout);
	pindir_unlock(srv->pd);
	if (!err) {
		load_pending(srv);
	} else { /* its message said why; once, until the file changes */
		srv->pending_refused = true;
		metrics_state_error();
	}
out:
	free(have);
	free(want);
	free(ready);
	free(waiting);
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
		load_file(&srv->maps, &config, srv->config_file, false, srv->state, "serve: reload",
			  true);
	pindir_unlock(srv->pd);
}

/* The table the daemon starts from, with the pin directory locked (and
 * unlocked on return): the maps rebuilt from the state file when they were
 * lost (*REBUILT then true), and opened. 0, or -ENOENT. */
static int serve_adopt(struct server *srv, const char *state_dir, bool *rebuilt)
{
	struct xdpfwd_config config;
	int ret = 0;

	state_path(srv->state, sizeof(srv->state), state_dir, srv->pd->path);
	if (reconcile(srv, rebuilt) || maps_open(srv->pd, &srv->maps, &config))
		ret = -ENOENT;
	pindir_unlock(srv->pd);
	return ret;
}

/* What /metrics need not wait for, done once it answers: the file made to
 * follow the maps as adopted, whatever a command killed half way left (its
 * pending mappings stay; a rebuild has just written both), a rewrite of the
 * whole file; then the config file. The pending mappings and the lease
 * index follow in the first round of serve_loop(). */
static void serve_settle(struct server *srv, bool rebuilt)
{
	if (!rebuilt && !pindir_lock(srv->pd)) {
		sync_state(srv);
		pindir_unlock(srv->pd);
	}
	if (srv->config_file)
		reload(srv);
}

/* The /metrics endpoint on ADDR, answered from its own polling thread; NULL
 * (errno says why) when it cannot listen. */
static struct MHD_Daemon *serve_metrics(struct server *srv, const struct sockaddr_storage *addr)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
				    (addr->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
}

/* What is due every EXPIRY_CHECK_NS: the NAT-PMP/PCP server's expiry first
 * (it owns dynamic mappings, pcp_daemon.h), then pending mappings and the
 * general leases. */
static void serve_tick(struct server *srv)
{
	bool changed = lease_index_stale(&srv->leases, srv->state);
	int err;

	if (srv->pcp) {
		pcpd_tick(srv->pcp, srv->pd);
		pcpd_publish(srv->pcp, &srv->pcpm);
	}
	if (changed)
		load_pending(srv);
	retry_pending(srv);
	err = expire_leases(srv, changed);
	if (err) {
		pr_warn("serve: removing expired mappings failed: %s\n", strerror(-err));
		metrics_state_error();
	}
}

static __s64 mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (__s64)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The fleet's sockets after the N fixed ones of PFD, and how long to wait:
 * until the tick at NEXT, or sooner when the fleet asks. The count. */
static size_t serve_poll_set(struct server *srv, struct pollfd *pfd, size_t n, __s64 now,
			     __s64 next, struct timespec *ts)
{
	int64_t wait = next - now;

	if (srv->fleet)
		n += fleetd_pollfds(srv->fleet, pfd + n, FLEETD_MAX_FDS, &wait);
	if (wait < 0)
		wait = 0;
	*ts = (struct timespec){wait / 1000000000LL, wait % 1000000000LL};
	return n;
}

/* A ppoll over the signals (a signalfd of STOP), the NAT-PMP/PCP sockets
 * and the fleet's transfers, with a tick every EXPIRY_CHECK_NS; SIGHUP
 * reloads the config file. Returns the signal (SIGTERM or SIGINT) that
 * ended it. */
static int serve_loop(struct server *srv, const sigset_t *stop)
{
	struct pollfd pfd[1 + PCPD_MAX_ADDRS + FLEETD_MAX_FDS];
	int fds[PCPD_MAX_ADDRS], sfd = signalfd(-1, stop, SFD_CLOEXEC | SFD_NONBLOCK);
	size_t n = pcpd_fds(srv->pcp, fds);
	__s64 next = 0;

	if (sfd < 0) { /* without it no signal would ever be read: stop now */
		pr_warn("serve: signalfd: %s\n", strerror(errno));
		return SIGTERM;
	}
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (size_t i = 0; i < n; i++)
		pfd[1 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	for (;;) {
		struct signalfd_siginfo si;
		__s64 now = mono_ns();
		struct timespec ts;
		size_t all;
		int ready;

		if (now >= next) {
			serve_tick(srv);
			next = now + EXPIRY_CHECK_NS;
		}
		all = serve_poll_set(srv, pfd, 1 + n, now, next, &ts);
		ready = ppoll(pfd, all, &ts, NULL);
		if (srv->fleet) {
			fleetd_round(srv->fleet, srv->pd);
			fleetd_publish(srv->fleet, &srv->fleetm);
		}
		if (ready <= 0)
			continue;
		if (srv->pcp && pcpd_round(srv->pcp, srv->pd))
			pcpd_publish(srv->pcp, &srv->pcpm);
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			close(sfd);
			return (int)si.ssi_signo;
		}
		if (si.ssi_signo == SIGHUP)
			reload(srv);
	}
}

static void serve_free(struct server *srv, int stats_fd)
{
	pcpd_close(srv->pcp);
	fleetd_close(srv->fleet);
	pthread_mutex_destroy(&srv->pcpm.lock);
	pthread_mutex_destroy(&srv->fleetm.lock);
	maps_close(&srv->maps);
	strbuf_free(&srv->text);
	free(srv->pending);
	view_free(&srv->view);
	lease_index_free(&srv->leases);
	if (stats_fd >= 0)
		close(stats_fd);
}

/* The NAT-PMP/PCP server of PCP over the adopted table, before anything
 * else starts: 0, or -EINVAL (a bad --pcp address) or -errno. */
static int serve_pcp(struct server *srv, const struct pcpd_config *pcp)
{
	struct xdpfwd_config config;
	__u32 zero = 0;
	int rc;

	if (!pcp || !pcp->enabled)
		return 0;
	if (bpf_map_lookup_elem(srv->maps.config, &zero, &config)) {
		rc = -errno;
		pr_warn("serve: --pcp: cannot read the attachment: %s\n", strerror(-rc));
		return rc;
	}
	rc = pindir_lock(srv->pd);
	if (rc)
		return rc;
	srv->pcp = pcpd_open(pcp, &srv->maps, &config, srv->state, &rc);
	pindir_unlock(srv->pd);
	if (srv->pcp)
		pcpd_publish(srv->pcp, &srv->pcpm);
	return rc;
}

/* The fleet loop of FLEET (fleetd.h) over the adopted table: 0, or -ENOMEM. */
static int serve_fleet(struct server *srv, struct fleetd_config *fleet)
{
	if (!fleet || !fleet->enabled)
		return 0;
	srv->fleet = fleetd_open(fleet, &srv->maps, srv->state);
	if (!srv->fleet)
		return -ENOMEM;
	fleetd_publish(srv->fleet, &srv->fleetm);
	return 0;
}

int serve_cmd(struct pindir *pd, const char *listen, const char *state_dir, const char *config_file,
	      const struct pcpd_config *pcp, struct fleetd_config *fleet)
{
	struct server srv = {.pd = pd, .config_file = config_file};
	struct sockaddr_storage addr;
	struct MHD_Daemon *httpd;
	char err[ERR_LEN];
	bool rebuilt = false;
	int sig, stats_fd;
	sigset_t stop;

	if (parse_listen(listen, &addr, err)) {
		pr_warn("serve: --metrics: %s\n", err);
		return -EINVAL;
	}
	if (mhd_open(err)) {
		pr_warn("serve: %s\n", err);
		return -ENOENT;
	}
	if (serve_adopt(&srv, state_dir, &rebuilt))
		return -ENOENT;
	pthread_mutex_init(&srv.pcpm.lock, NULL);
	pthread_mutex_init(&srv.fleetm.lock, NULL);
	sig = serve_pcp(&srv, pcp);
	sig = sig ?: serve_fleet(&srv, fleet);
	if (sig) {
		serve_free(&srv, -1);
		return sig;
	}
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

	httpd = serve_metrics(&srv, &addr);
	if (!httpd) {
		pr_warn("serve: cannot listen on %s: %s\n", listen, strerror(errno));
		serve_free(&srv, stats_fd);
		return -EADDRINUSE;
	}
	printf("serving metrics on http://%s/metrics (state in %s)\n", listen, pd->path);
	fflush(stdout);
	serve_settle(&srv, rebuilt);
	hugeheap_release(); /* the start's big arrays are done with */
	sig = serve_loop(&srv, &stop);
	pr_info("serve: stopping on signal %d\n", sig);
	MHD_stop_daemon(httpd);
	serve_free(&srv, stats_fd);
	return 0;
}
