// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "conflict.h"

#define fail(...)                                    \
	do {                                         \
		snprintf(err, ERR_LEN, __VA_ARGS__); \
		return -1;                           \
	} while (0)

static bool port_reserved(const __u8 *set, unsigned int port)
{
	return set[port / 8] & (1 << (port % 8));
}

int parse_port_set(const char *text, __u8 reserved[65536 / 8])
{
	const char *p = text;

	memset(reserved, 0, 65536 / 8);
	while (*p && !isspace((unsigned char)*p)) {
		char *end;
		unsigned long first = strtoul(p, &end, 10), last = first;

		if (end == p || first > 65535)
			return -EINVAL;
		if (*end == '-') {
			p = end + 1;
			last = strtoul(p, &end, 10);
			if (end == p || last > 65535 || last < first)
				return -EINVAL;
		}
		for (unsigned long port = first; port <= last; port++)
			reserved[port / 8] |= 1 << (port % 8);
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t got;

	if (!f)
		return -errno;
	got = fread(buf, 1, len - 1, f);
	buf[got] = '\0';
	fclose(f);
	return 0;
}

/* Appends L to HOST's listeners. */
static int add_listener(struct host_ports *host, const struct listener *l)
{
	/* Doubling: a host with many sockets costs one pass, not a copy per
	 * socket. */
	if (host->listener_count == host->listener_cap) {
		size_t cap = host->listener_cap ? 2 * host->listener_cap : 64;
		struct listener *grown = realloc(host->listeners, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		host->listeners = grown;
		host->listener_cap = cap;
	}
	host->listeners[host->listener_count++] = *l;
	return 0;
}

/* /proc/net/{tcp,udp}{,6}: "sl local rem st ...", addresses as the kernel
 * prints them: each 32-bit word in host order, in hex. */
static int read_sockets(struct host_ports *host, const char *path, __u8 family, __u8 proto)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return errno == ENOENT ? 0 : -errno; /* no IPv6 in this kernel */
	while (fgets(line, sizeof(line), f)) {
		char local[33], remote[33];
		unsigned int port, state, words = family == AF_INET ? 1 : 4;
		struct listener l = {.family = family, .proto = proto};

		if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %32[0-9A-Fa-f]:%*x %x", local, &port,
			   remote, &state) != 4 ||
		    strlen(local) != words * 8)
			continue;
		/* TCP_LISTEN; for UDP, TCP_CLOSE is a bound socket that is not
		 * connected, so it takes datagrams from anyone. */
		if (state != (proto == IPPROTO_TCP ? 0x0a : 0x07))
			continue;
		for (unsigned int w = 0; w < words; w++) {
			char hex[9];
			__u32 v;

			memcpy(hex, local + w * 8, 8);
			hex[8] = '\0';
			v = strtoul(hex, NULL, 16);
			memcpy(&l.addr.v6_words[w], &v, 4);
		}
		l.port = port;
		if (add_listener(host, &l)) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	return 0;
}

/* The messages of one reply of a sock_diag dump (LEN bytes at BUF) into
 * HOST: 1 when the dump is done, 0 for more, -errno. */
static int take_diag(struct host_ports *host, const char *buf, size_t len)
{
	for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		const struct inet_diag_msg *d = NLMSG_DATA(h);
		struct listener l = {.proto = IPPROTO_TCP};

		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR)
			return -EPROTO;
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
			continue;
		l.family = d->idiag_family;
		l.port = ntohs(d->id.idiag_sport);
		memcpy(&l.addr, d->id.idiag_src, d->idiag_family == AF_INET ? 4 : 16);
		if (add_listener(host, &l))
			return -ENOMEM;
	}
	return 0;
}

/* The listening TCP sockets of FAMILY through sock_diag (the kernel's
 * inet_diag, as ss(8) reads them): only the listening hash is walked,
 * where /proc/net/tcp walks every bucket of the established one. -errno
 * when sock_diag cannot answer (no inet_diag): /proc then. */
static int read_tcp_listeners(struct host_ports *host, __u8 family)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = {.h = {.nlmsg_len = sizeof(req),
		       .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
		 .r = {.sdiag_family = family,
		       .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = 1 << TCP_LISTEN}};
	long buf[8192 / sizeof(long)];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), ret = 0;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req))
		ret = -errno;
	while (!ret) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);

		ret = got < 0 ? -errno : got == 0 ? -EPROTO : take_diag(host, (char *)buf, got);
	}
	close(fd);
	return ret < 0 ? ret : 0;
}

int host_ports_read(struct host_ports *host)
{
	char buf[4096] = "";
	int err;

	memset(host, 0, sizeof(*host));
	err = read_text("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf));
	if (!err && sscanf(buf, "%u %u", &host->ephemeral_first, &host->ephemeral_last) != 2)
		err = -EINVAL;
	if (!err && !read_text("/proc/sys/net/ipv4/ip_local_reserved_ports", buf, sizeof(buf)))
		err = parse_port_set(buf, host->reserved);
	if (!err && (read_tcp_listeners(host, AF_INET) || read_tcp_listeners(host, AF_INET6))) {
		host->listener_count = 0;
		err = read_sockets(host, "/proc/net/tcp", AF_INET, IPPROTO_TCP);
		err = err ?: read_sockets(host, "/proc/net/tcp6", AF_INET6, IPPROTO_TCP);
	}
	err = err ?: read_sockets(host, "/proc/net/udp", AF_INET, IPPROTO_UDP);
	err = err ?: read_sockets(host, "/proc/net/udp6", AF_INET6, IPPROTO_UDP);
	if (err)
		host_ports_free(host);
	return err;
}

void host_ports_free(struct host_ports *host)
{
	free(host->listeners);
	host->listeners = NULL;
	host->listener_count = host->listener_cap = 0;
}

static bool loopback(const struct listener *l)
{
	static const __u8 v6_loopback[16] = {[15] = 1};

	return l->family == AF_INET ? l->addr.bytes[0] == 127
				    : !memcmp(l->addr.bytes, v6_loopback, 16);
}

/* Whether packets to M's public endpoint would have reached L. An IPv6
 * socket on [::] may take IPv4 too (/proc does not show IPV6_V6ONLY). */
static bool listener_meets(const struct listener *l, const struct xdpfwd_mapping *m)
{
	if (l->proto != m->proto || l->port < m->public_port ||
	    l->port > m->public_port + m->port_count - 1 || loopback(l))
		return false;
	if (addr_is_zero(&l->addr))
		return l->family == m->family || l->family == AF_INET6;
	if (l->family != m->family)
		return false;
	return addr_is_zero(&m->public_addr) || !memcmp(&l->addr, &m->public_addr, sizeof(l->addr));
}

/* Whether HAVE (sorted, live) holds R's public side, and WITH_TARGET its
 * target too. */
static bool held(const struct rule *r, const struct rule *have, size_t nhave, bool with_target)
{
	const struct rule *h;

	if (r->existing)
		return true;
	h = nhave ? bsearch(r, have, nhave, sizeof(*have), compare_rules_public) : NULL;
	if (!h || !same_public(&h->m, &r->m))
		return false;
	return !with_target ||
	       !memcmp(&h->m.target_addr, &r->m.target_addr, sizeof(r->m.target_addr));
}

/* Appends "10.8.0.0/24, fd00:8::/64" to OUT. */
static void client_list(struct strbuf *out, const struct xdpfwd_config *config)
{
	for (__u32 i = 0; i < config->client_count; i++) {
		char p[ADDR_STR_LEN];

		format_prefix(p, sizeof(p), &config->clients[i]);
		strbuf_appendf(out, "%s%s", i ? ", " : "", p);
	}
}

/* "line 3: udp 7000 -> 10.8.0.2:7000" for a message about R. */
static void name_rule(char *out, size_t len, const struct rule *r)
{
	char what[2 * ADDR_STR_LEN + 16];

	format_mapping(what, sizeof(what), &r->m);
	if (r->line)
		snprintf(out, len, "line %u: %s", r->line, what);
	else
		snprintf(out, len, "%s", what);
}

/* Whether R's public ports meet the host's ephemeral range or a listener:
 * 0, or -1 with ERR saying which. */
static int host_conflict(const struct rule *r, const struct host_ports *host, char *err)
{
	const struct xdpfwd_mapping *m = &r->m;
	char what[2 * ADDR_STR_LEN + 32];

	for (unsigned int p = m->public_port; p < m->public_port + m->port_count; p++)
		if (p >= host->ephemeral_first && p <= host->ephemeral_last &&
		    !port_reserved(host->reserved, p)) {
			name_rule(what, sizeof(what), r);
			fail(
			    "%s: public port %u lies in the ephemeral port range %u-%u (net.ipv4.ip_local_port_range), where it would take replies to the server's own and masqueraded connections: use a port outside it, reserve it in net.ipv4.ip_local_reserved_ports, or --force",
			    what, p, host->ephemeral_first, host->ephemeral_last);
		}
	for (size_t k = 0; k < host->listener_count; k++) {
		const struct listener *l = &host->listeners[k];
		char addr[ADDR_STR_LEN];

		if (!listener_meets(l, m))
			continue;
		name_rule(what, sizeof(what), r);
		format_endpoint(addr, sizeof(addr), l->family, &l->addr, l->port, 1);
		fail(
		    "%s: public port %u is in use by a %s socket listening on %s%s: use another port, or --force",
		    what, l->port, proto_name(l->proto),
		    addr_is_zero(&l->addr) ? (l->family == AF_INET ? "0.0.0.0:" : "[::]:") : "",
		    addr);
	}
	return 0;
}

bool conflicts_need_host(const struct rule *want, size_t count, const struct rule *have,
			 size_t nhave)
{
	for (size_t i = 0; i < count; i++)
		if (!want[i].existing && !held(&want[i], have, nhave, false))
			return true;
	return false;
}

int check_conflicts(const struct rule *want, size_t count, const struct rule *have, size_t nhave,
		    const struct host_ports *host, const struct xdpfwd_config *config, char *err)
{
	for (size_t i = 0; i < count; i++) {
		const struct xdpfwd_mapping *m = &want[i].m;
		bool inside = !config->client_count;

		if (want[i].existing)
			continue; /* checked when it was added */
		for (__u32 k = 0; k < config->client_count && !inside; k++)
			inside = prefix_contains(&config->clients[k], m->family, &m->target_addr);
		if (!inside && !held(&want[i], have, nhave, true)) {
			struct strbuf nets = STRBUF_INIT;
			char what[2 * ADDR_STR_LEN + 32];

			name_rule(what, sizeof(what), &want[i]);
			client_list(&nets, config);
			snprintf(
			    err, ERR_LEN,
			    "%s: the target is outside the client networks of attach --clients (%s): name a client's address, or --force",
			    what, strbuf_str(&nets));
			strbuf_free(&nets);
			return -1;
		}
		if (!held(&want[i], have, nhave, false) && host_conflict(&want[i], host, err))
			return -1;
	}
	return 0;
}
