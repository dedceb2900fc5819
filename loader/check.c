// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * check.c - `xdpfwd check` (check.h): each item read from the kernel
 * (bpf_xdp_query, the netdev generic netlink family's xdp-features, the
 * ETHTOOL ioctls, /proc/sys), from nftables (`nft list ruleset`, read
 * only), from the pinned maps and the state file, and from serve's /metrics.
 * Nothing is written anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "capacity.h"
#include "change.h"
#include "check.h"
#include "conflict.h"
#include "log.h"
#include "persist.h"
#include "pindir.h"
#include "pinned_maps.h"
#include "serve.h"
#include "spec.h"
#include "state.h"

/* The netdev generic netlink family (include/uapi/linux/netdev.h, kernel
 * 6.3 on; Debian 12's headers predate it): a device's xdp-features, of
 * which NDO_XMIT says it takes frames an XDP program redirects to it. */
#define NETDEV_FAMILY_NAME	  "netdev"
#define NETDEV_CMD_DEV_GET	  1
#define NETDEV_A_DEV_IFINDEX	  1
#define NETDEV_A_DEV_XDP_FEATURES 3
#define NETDEV_XDP_ACT_NDO_XMIT	  4

/* Distinct targets routed to find the egress devices: enough for every
 * client network, bounded for a table of 65,536. */
/* Where the systemd unit reads serve's arguments from. */
#define XDPFWD_UNIT_DEFAULTS "/etc/default/xdpfwd"

#define MAX_TARGETS 256
#define MAX_EGRESS  16

void check_add(struct check_report *r, const char *name, enum check_level level, const char *fmt,
	       ...)
{
	struct check_item *it;
	va_list ap;

	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct check_item *grown = realloc(r->items, cap * sizeof(*grown));

		if (!grown)
			return;
		r->items = grown;
		r->cap = cap;
	}
	it = &r->items[r->count++];
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->level = level;
	va_start(ap, fmt);
	vsnprintf(it->text, sizeof(it->text), fmt, ap);
	va_end(ap);
}

void check_free(struct check_report *r)
{
	free(r->items);
	memset(r, 0, sizeof(*r));
}

int check_exit(const struct check_report *r)
{
	int worst = CHECK_OK;

	for (size_t i = 0; i < r->count; i++)
		if ((int)r->items[i].level > worst)
			worst = r->items[i].level;
	return worst;
}

static const char *const level_names[] = {"ok", "warning", "error"};

void check_format(const struct check_report *r, bool json, struct strbuf *out)
{
	size_t n[3] = {0, 0, 0};

	if (json) {
		json_object *root = json_object_new_object(), *list = json_object_new_array();

		for (size_t i = 0; i < r->count; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(r->items[i].name));
			json_object_object_add(
			    o, "status", json_object_new_string(level_names[r->items[i].level]));
			json_object_object_add(o, "message",
					       json_object_new_string(r->items[i].text));
			json_object_array_add(list, o);
		}
		json_object_object_add(root, "status",
				       json_object_new_string(level_names[check_exit(r)]));
		json_object_object_add(root, "checks", list);
		strbuf_appendf(out, "%s\n",
			       json_object_to_json_string_ext(
				   root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
		return;
	}
	for (size_t i = 0; i < r->count; i++) {
		n[r->items[i].level]++;
		strbuf_appendf(out, "%-7s %s: %s\n", level_names[r->items[i].level],
			       r->items[i].name, r->items[i].text);
	}
	strbuf_appendf(out, "%zu ok, %zu warning%s, %zu error%s\n", n[0], n[1],
		       n[1] == 1 ? "" : "s", n[2], n[2] == 1 ? "" : "s");
}

/* A sysctl's first number, or -1 when it cannot be read. */
static long sysctl_long(const char *path)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

static void check_btf(struct check_report *r)
{
	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		check_add(r, "btf", CHECK_OK,
			  "the kernel describes itself in BTF (/sys/kernel/btf/vmlinux)");
	else
		check_add(r, "btf", CHECK_ERROR,
			  "no /sys/kernel/btf/vmlinux: the programs need a kernel built with "
			  "CONFIG_DEBUG_INFO_BTF=y (Debian's are)");
}

/* What the context needs from one item to the next. */
struct check_ctx {
	const struct check_request *req;
	struct check_report *r;
	struct pindir pd;
	struct xdpfwd_maps maps;
	struct xdpfwd_config config;
	struct rule *live;
	size_t nlive;
	char ifname[IF_NAMESIZE], tunnel[IF_NAMESIZE];
	bool opened; /* maps_open() succeeded: maps and live hold the table */
};

/* "capacity": how full the maps are; a warning from 90% of the mappings or
 * of the ports on, when the next adds may be refused. */
static void check_capacity(struct check_ctx *c)
{
	__u32 cap = table_capacity(&c->maps);
	size_t ports = 0, room = (size_t)cap * XDPFWD_PORTS_PER_MAPPING;
	bool full;

	for (size_t i = 0; i < c->nlive; i++)
		ports += c->live[i].m.port_count;
	full = c->nlive * 10 >= (size_t)cap * 9 || ports * 10 >= room * 9;
	check_add(c->r, "capacity",
		  !cap	 ? CHECK_ERROR
		  : full ? CHECK_WARNING
			 : CHECK_OK,
		  !cap	 ? "cannot read the capacity of the maps"
		  : full ? "%zu of %u mappings, %zu of %zu ports: nearly full; attach --replace "
			   "--capacity N (1-1048576) makes room"
			 : "%zu of %u mappings, %zu of %zu ports",
		  c->nlive, cap, ports, room);
}

/* The pin directory and its maps: "bpffs" and "table". False when there is
 * no table to check further (said). */
static bool check_table(struct check_ctx *c)
{
	struct strbuf said = STRBUF_INIT;
	bool ok = false;

	log_capture = &said;
	if (pindir_open(&c->pd, c->req->pin_dir, PINDIR_EXISTING)) {
		check_add(c->r, "bpffs", CHECK_ERROR, "%.*s", (int)strcspn(strbuf_str(&said), "\n"),
			  strbuf_str(&said));
		goto out;
	}
	check_add(c->r, "bpffs", CHECK_OK, "a bpffs holds the pin directory %s", c->pd.shown);
	c->opened = !maps_open(&c->pd, &c->maps, &c->config);
	if (!c->opened || live_rules(&c->maps, &c->live, &c->nlive, 0)) {
		check_add(c->r, "table", CHECK_ERROR, "%.*s", (int)strcspn(strbuf_str(&said), "\n"),
			  strbuf_str(&said));
		goto out;
	}
	if (!if_indextoname(c->config.public_ifindex, c->ifname))
		snprintf(c->ifname, sizeof(c->ifname), "ifindex %u", c->config.public_ifindex);
	if (!if_indextoname(c->config.tunnel_ifindex, c->tunnel))
		snprintf(c->tunnel, sizeof(c->tunnel), "ifindex %u", c->config.tunnel_ifindex);
	check_add(c->r, "table", c->config.attached ? CHECK_OK : CHECK_ERROR,
		  c->config.attached
		      ? "%zu mapping%s, attached to %s with the tunnel %s, fast path %s"
		      : "%zu mapping%s, detached (was %s, tunnel %s, fast path %s): "
			"nothing is forwarded: run 'xdpfwd attach IFACE --tunnel IFACE'",
		  c->nlive, c->nlive == 1 ? "" : "s", c->ifname, c->tunnel,
		  c->config.fast_path ? "on" : "off");
	check_capacity(c);
	ok = c->config.attached;
out:
	log_capture = NULL;
	strbuf_free(&said);
	return ok;
}

/* XDP on the public interface as the kernel has it attached: native
 * (driver), generic (skb), or none. */
static void check_xdp(struct check_ctx *c)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query((int)c->config.public_ifindex, 0, &q);

	if (err)
		check_add(c->r, "xdp", CHECK_ERROR, "cannot ask the kernel about XDP on %s: %s",
			  c->ifname, strerror(-err));
	else if (q.attach_mode == XDP_ATTACHED_DRV || q.attach_mode == XDP_ATTACHED_HW)
		check_add(c->r, "xdp", CHECK_OK, "XDP runs in %s's driver (native)", c->ifname);
	else if (q.attach_mode == XDP_ATTACHED_SKB)
		check_add(c->r, "xdp", CHECK_WARNING,
			  "XDP on %s is generic (skb): every packet costs an skb first, and the "
			  "fast path's redirects are slower; attach --mode native if the driver "
			  "supports it",
			  c->ifname);
	else if (q.attach_mode == XDP_ATTACHED_MULTI)
		check_add(c->r, "xdp", CHECK_WARNING,
			  "%s has XDP programs in more than one mode: detach and attach again",
			  c->ifname);
	else
		check_add(c->r, "xdp", CHECK_ERROR,
			  "no XDP program on %s: nothing is forwarded; run 'xdpfwd attach %s "
			  "--tunnel %s --replace'",
			  c->ifname, c->ifname, c->tunnel);
}

/* One generic netlink request on FD, and its answer into BUF; the answer's
 * length, or -1. */
static ssize_t genl_ask(int fd, void *req, size_t len, char *buf, size_t cap)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t got;

	if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -1;
	got = recv(fd, buf, cap, 0);
	if (got < (ssize_t)NLMSG_HDRLEN || ((struct nlmsghdr *)buf)->nlmsg_type == NLMSG_ERROR)
		return -1;
	return got;
}

/* Attribute TYPE of the generic netlink answer in BUF (LEN bytes), or NULL. */
static const struct nlattr *genl_attr(const char *buf, ssize_t len, int type)
{
	const char *at = buf + NLMSG_HDRLEN + GENL_HDRLEN, *end = buf + len;

	while (at + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const void *)at;

		if (a->nla_len < NLA_HDRLEN || at + a->nla_len > end)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		at += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* IFINDEX's xdp-features (the netdev family), or -1 when the kernel has no
 * such family (before 6.3) or does not say. */
static long long xdp_features(unsigned int ifindex)
{
	struct {
		struct nlmsghdr n;
		struct genlmsghdr g;
		char attrs[64];
	} req = {.n = {.nlmsg_flags = NLM_F_REQUEST, .nlmsg_type = GENL_ID_CTRL},
		 .g = {.cmd = CTRL_CMD_GETFAMILY, .version = 1}};
	char buf[8192];
	struct nlattr *a = (struct nlattr *)req.attrs;
	const struct nlattr *got;
	long long features = -1;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	ssize_t len;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){2, 0}, sizeof(struct timeval));
	*a = (struct nlattr){.nla_len = NLA_HDRLEN + sizeof(NETDEV_FAMILY_NAME),
			     .nla_type = CTRL_ATTR_FAMILY_NAME};
	memcpy(req.attrs + NLA_HDRLEN, NETDEV_FAMILY_NAME, sizeof(NETDEV_FAMILY_NAME));
	req.n.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(a->nla_len);
	len = genl_ask(fd, &req, req.n.nlmsg_len, buf, sizeof(buf));
	got = len > 0 ? genl_attr(buf, len, CTRL_ATTR_FAMILY_ID) : NULL;
	if (got) {
		memcpy(&req.n.nlmsg_type, (const char *)got + NLA_HDRLEN, sizeof(__u16));
		req.g.cmd = NETDEV_CMD_DEV_GET;
		*a = (struct nlattr){.nla_len = NLA_HDRLEN + 4, .nla_type = NETDEV_A_DEV_IFINDEX};
		memcpy(req.attrs + NLA_HDRLEN, &ifindex, 4);
		req.n.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(a->nla_len);
		len = genl_ask(fd, &req, req.n.nlmsg_len, buf, sizeof(buf));
		got = len > 0 ? genl_attr(buf, len, NETDEV_A_DEV_XDP_FEATURES) : NULL;
	}
	if (got && got->nla_len >= NLA_HDRLEN + 8) {
		__u64 v;

		memcpy(&v, (const char *)got + NLA_HDRLEN, sizeof(v));
		features = (long long)v;
	}
	close(fd);
	return features;
}

/* The device the route to ADDR leaves by, into DEV (from `ip route get`,
 * read only); false when there is none. */
static bool route_dev(const char *addr, char dev[IF_NAMESIZE])
{
	char cmd[128], line[512], *at;
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip -o route get '%s' 2>/dev/null", addr);
	p = popen(cmd, "r");
	if (!p)
		return false;
	if (fgets(line, sizeof(line), p) && (at = strstr(line, " dev ")))
		found = sscanf(at + 5, "%15s", dev) == 1;
	pclose(p);
	return found;
}

/* The devices the targets of the table are routed by (at most MAX_TARGETS
 * distinct targets looked at), into DEVS; how many. */
static size_t egress_devices(const struct check_ctx *c, char devs[MAX_EGRESS][IF_NAMESIZE])
{
	char seen[MAX_TARGETS][ADDR_STR_LEN];
	size_t nseen = 0, n = 0;

	for (size_t i = 0; i < c->nlive && nseen < MAX_TARGETS; i++) {
		char addr[ADDR_STR_LEN], dev[IF_NAMESIZE];
		bool dup = false;

		format_addr(addr, sizeof(addr), c->live[i].m.family, &c->live[i].m.target_addr);
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = !strcmp(seen[k], addr);
		if (dup)
			continue;
		snprintf(seen[nseen++], ADDR_STR_LEN, "%s", addr);
		if (!route_dev(addr, dev))
			continue;
		dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = !strcmp(devs[k], dev);
		if (!dup && n < MAX_EGRESS)
			snprintf(devs[n++], IF_NAMESIZE, "%s", dev);
	}
	return n;
}

/* Whether the fast path can reach each egress device: an Ethernet device
 * must take XDP frames (ndo_xdp_xmit: for a veth, its peer needs XDP or
 * GRO); an L3 device (WireGuard, TUN) gets the packet from tc instead. */
static void check_egress(struct check_ctx *c)
{
	char devs[MAX_EGRESS][IF_NAMESIZE], path[64 + IF_NAMESIZE];
	size_t n = egress_devices(c, devs);

	if (!n)
		check_add(c->r, "egress", CHECK_OK, "no mapping yet: no egress device to look at");
	for (size_t i = 0; i < n; i++) {
		char name[32];
		long long f;

		snprintf(name, sizeof(name), "egress %s", devs[i]);
		snprintf(path, sizeof(path), "/sys/class/net/%s/type", devs[i]);
		if (!c->config.fast_path) {
			check_add(c->r, name, CHECK_OK, "targets leave by %s; the fast path is off",
				  devs[i]);
			continue;
		}
		if (sysctl_long(path) != 1 /* ARPHRD_ETHER */) {
			check_add(
			    c->r, name, CHECK_OK,
			    "%s is an L3 device: tc hands it the packets XDP leaves to the stack",
			    devs[i]);
			continue;
		}
		f = xdp_features(if_nametoindex(devs[i]));
		if (f < 0)
			check_add(
			    c->r, name, CHECK_WARNING,
			    "the kernel does not say whether %s takes redirected XDP frames "
			    "(no netdev xdp-features before 6.3): watch in_stack_no_xdp_egress",
			    devs[i]);
		else if (f & NETDEV_XDP_ACT_NDO_XMIT)
			check_add(c->r, name, CHECK_OK, "%s takes XDP_REDIRECT frames (devmap)",
				  devs[i]);
		else
			check_add(
			    c->r, name, CHECK_ERROR,
			    "%s takes no redirected XDP frames (no ndo_xdp_xmit): the fast path "
			    "leaves its packets to the stack (in_stack_no_xdp_egress); for a veth, "
			    "turn GRO on at its peer (ethtool -K PEER gro on) or attach XDP there",
			    devs[i]);
	}
}

/* One ETHTOOL_G* value of IFNAME, or -1. */
static long ethtool_get(int fd, const char *ifname, __u32 cmd)
{
	struct ethtool_value v = {.cmd = cmd};
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&v;
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -1 : (long)v.data;
}

/* The offloads that change what XDP on the public interface sees: LRO
 * merges segments before it, and generic XDP runs after GRO. */
static void check_offloads(struct check_ctx *c)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long flags, gro, rx, tx;
	bool generic = c->config.xdp_mode == XDP_MODE_SKB;

	if (fd < 0)
		return;
	flags = ethtool_get(fd, c->ifname, ETHTOOL_GFLAGS);
	gro = ethtool_get(fd, c->ifname, ETHTOOL_GGRO);
	rx = ethtool_get(fd, c->ifname, ETHTOOL_GRXCSUM);
	tx = ethtool_get(fd, c->ifname, ETHTOOL_GTXCSUM);
	close(fd);
	if (flags > 0 && (flags & ETH_FLAG_LRO))
		check_add(c->r, "offloads", CHECK_WARNING,
			  "LRO is on on %s: the NIC merges TCP segments before XDP sees them, and "
			  "forwarding merged segments breaks them: ethtool -K %s lro off",
			  c->ifname, c->ifname);
	else if (generic && gro > 0)
		check_add(c->r, "offloads", CHECK_WARNING,
			  "GRO is on on %s and XDP is generic: it runs after GRO and sees merged "
			  "packets, counted as one: ethtool -K %s gro off, or attach --mode native",
			  c->ifname, c->ifname);
	else
		check_add(c->r, "offloads", CHECK_OK,
			  "%s: lro %s, gro %s, rx-checksumming %s, tx-checksumming %s", c->ifname,
			  flags < 0		   ? "unknown"
			  : (flags & ETH_FLAG_LRO) ? "on"
						   : "off",
			  gro < 0 ? "unknown"
			  : gro	  ? "on"
				  : "off",
			  rx < 0 ? "unknown"
			  : rx	 ? "on"
				 : "off",
			  tx < 0 ? "unknown"
			  : tx	 ? "on"
				 : "off");
}

/* rp_filter of DEV as the kernel applies it: the larger of all's and DEV's. */
static long rp_filter(const char *dev)
{
	char path[96];
	long all = sysctl_long("/proc/sys/net/ipv4/conf/all/rp_filter"), own;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", dev);
	own = sysctl_long(path);
	return all > own ? all : own;
}

/* Strict reverse-path filtering on the public interface or the tunnel drops
 * what the stack forwards when the reverse route leaves by another device
 * (the packets the fast path leaves to the stack, and all with it off). */
static void check_rp_filter(struct check_ctx *c)
{
	const char *devs[] = {c->ifname, c->tunnel};

	for (int i = 0; i < 2; i++)
		if (rp_filter(devs[i]) == 1) {
			check_add(
			    c->r, "rp_filter", CHECK_WARNING,
			    "strict reverse-path filtering (rp_filter=1) on %s drops forwarded "
			    "packets whose source routes back by another device: sysctl -w "
			    "net.ipv4.conf.%s.rp_filter=2 (loose) and net.ipv4.conf.all.rp_filter=2",
			    devs[i], devs[i]);
			return;
		}
	check_add(c->r, "rp_filter", CHECK_OK, "loose or off on %s and %s", c->ifname, c->tunnel);
}

/* The stack forwards every packet the fast path leaves to it (in_stack_*),
 * and all of them with the fast path off. */
static void check_forwarding(struct check_ctx *c)
{
	long v4 = sysctl_long("/proc/sys/net/ipv4/ip_forward"),
	     v6 = sysctl_long("/proc/sys/net/ipv6/conf/all/forwarding");
	bool has6 = false;

	for (size_t i = 0; i < c->nlive && !has6; i++)
		has6 = c->live[i].m.family == AF_INET6;
	if (v4 != 1)
		check_add(
		    c->r, "forwarding", CHECK_ERROR,
		    "net.ipv4.ip_forward is %ld: packets the fast path leaves to the stack "
		    "(and all with it off) are not forwarded: sysctl -w net.ipv4.ip_forward=1",
		    v4);
	else if (v6 != 1)
		check_add(
		    c->r, "forwarding", has6 ? CHECK_ERROR : CHECK_WARNING,
		    "net.ipv6.conf.all.forwarding is %ld: IPv6 packets the fast path leaves to "
		    "the stack are not forwarded%s: sysctl -w net.ipv6.conf.all.forwarding=1",
		    v6, has6 ? "" : " (no IPv6 mapping yet)");
	else
		check_add(c->r, "forwarding", CHECK_OK,
			  "net.ipv4.ip_forward and net.ipv6.conf.all.forwarding are 1");
}

/* The public ports in the ephemeral range and not reserved: replies to the
 * server's own and masqueraded connections would be taken by the mapping. */
static void check_ports(struct check_ctx *c)
{
	struct host_ports host;
	struct strbuf hit = STRBUF_INIT;
	size_t n = 0;

	if (host_ports_read(&host)) {
		check_add(c->r, "ports", CHECK_WARNING, "cannot read net.ipv4.ip_local_port_range");
		return;
	}
	for (size_t i = 0; i < c->nlive; i++) {
		const struct xdpfwd_mapping *m = &c->live[i].m;

		for (unsigned int p = m->public_port; p < m->public_port + m->port_count; p++) {
			if (p < host.ephemeral_first || p > host.ephemeral_last ||
			    host.reserved[p / 8] & (1 << (p % 8)))
				continue;
			if (n++ < 3)
				strbuf_appendf(&hit, "%s%s %u", n > 1 ? ", " : "",
					       proto_name(m->proto), p);
			break;
		}
	}
	if (n)
		check_add(c->r, "ports", CHECK_WARNING,
			  "%zu mapping%s in the ephemeral range %u-%u (%s%s), where replies to the "
			  "server's own and masqueraded connections arrive: move the range "
			  "(net.ipv4.ip_local_port_range) or reserve the ports "
			  "(net.ipv4.ip_local_reserved_ports)",
			  n, n == 1 ? " lies" : "s lie", host.ephemeral_first, host.ephemeral_last,
			  strbuf_str(&hit), n > 3 ? ", ..." : "");
	else
		check_add(c->r, "ports", CHECK_OK, "no public port in the ephemeral range %u-%u",
			  host.ephemeral_first, host.ephemeral_last);
	strbuf_free(&hit);
	host_ports_free(&host);
}

/* nftables masquerade or snat rules (`nft list ruleset`, read only): with
 * the fast path off they run before tc egress and hide the client's port
 * (docs/design.md). */
static void check_masquerade(struct check_ctx *c)
{
	FILE *p = popen("nft list ruleset 2>/dev/null", "r");
	char line[1024];
	int n = 0;

	if (!p) {
		check_add(c->r, "masquerade", CHECK_WARNING, "cannot run nft list ruleset");
		return;
	}
	while (fgets(line, sizeof(line), p))
		n += strstr(line, " masquerade") || strstr(line, " snat ");
	pclose(p);
	if (!n)
		check_add(c->r, "masquerade", CHECK_OK, "no nftables masquerade or snat rule");
	else if (c->config.fast_path)
		check_add(
		    c->r, "masquerade", CHECK_OK,
		    "%d nftables masquerade/snat rule%s; the fast path's packets leave before "
		    "netfilter, so they keep their mapped port",
		    n, n == 1 ? "" : "s");
	else
		check_add(
		    c->r, "masquerade", CHECK_WARNING,
		    "%d nftables masquerade/snat rule%s and the fast path off: masquerade runs "
		    "before tc egress and can hide a client's mapped port: exclude the mapped "
		    "client ports from it, or attach --fast-path on",
		    n, n == 1 ? "" : "s");
}

/* The state file: readable (state_check()), no rebuild left half way, and
 * recording as many mappings as the maps hold. */
static void check_state(struct check_ctx *c)
{
	char path[PATH_MAX + 64], marker[PATH_MAX + 80], err[ERR_LEN];
	struct saved_state saved = {0};
	struct clocks now;
	bool found = false;

	state_path(path, sizeof(path), c->req->state_dir, c->pd.path);
	state_rebuild_marker(marker, sizeof(marker), path);
	clocks_now(&now);
	if (state_check(path, err) || state_load(path, &now, &saved, &found, err))
		check_add(c->r, "state", CHECK_ERROR,
			  "%s: every change is refused until it is repaired or moved away", err);
	else if (!access(marker, F_OK))
		check_add(c->r, "state", CHECK_ERROR,
			  "serve's rebuild from %s did not finish: systemctl restart xdpfwd", path);
	else if (!found)
		check_add(
		    c->r, "state", c->nlive ? CHECK_WARNING : CHECK_OK, "no state file %s%s", path,
		    c->nlive ? ": a reboot loses the table; systemctl restart xdpfwd writes it"
			     : "");
	else if (saved.count + saved.npending < c->nlive || saved.count > c->nlive)
		check_add(
		    c->r, "state", CHECK_ERROR,
		    "%s records %zu mapping%s (%zu pending), the maps hold %zu: after a reboot "
		    "the table would not be this one; systemctl restart xdpfwd writes it from "
		    "the maps",
		    path, saved.count, saved.count == 1 ? "" : "s", saved.npending, c->nlive);
	else
		check_add(c->r, "state", CHECK_OK, "%s is readable and records the %zu mapping%s",
			  path, c->nlive, c->nlive == 1 ? "" : "s");
	state_free(&saved);
}

/* The --metrics ADDR:PORT the unit gives serve (XDPFWD_SERVE_ARGS in
 * /etc/default/xdpfwd, tools/xdpfwd.service.in) into OUT, or serve's own
 * default. */
static void unit_metrics(char *out, size_t len)
{
	FILE *f = fopen(XDPFWD_UNIT_DEFAULTS, "r");
	char line[1024], *at;

	snprintf(out, len, "%s", XDPFWD_DEFAULT_METRICS);
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "XDPFWD_SERVE_ARGS=", 18) || !(at = strstr(line, "--metrics")))
			continue;
		at += strlen("--metrics");
		at += strspn(at, " =");
		snprintf(out, len, "%.*s", (int)strcspn(at, " \"'\n"), at);
	}
	if (f)
		fclose(f);
}

/* GET /metrics from ADDR:PORT: whether serve answers there. */
static void check_daemon(struct check_ctx *c)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	struct sockaddr_storage ss;
	char err[ERR_LEN], buf[64] = "", listen[128];
	int fd;
	bool ok = false;

	if (c->req->metrics)
		snprintf(listen, sizeof(listen), "%s", c->req->metrics);
	else
		unit_metrics(listen, sizeof(listen));
	if (parse_listen(listen, &ss, err)) {
		check_add(c->r, "daemon", CHECK_ERROR, "--metrics: %s", err);
		return;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){3, 0},
			   sizeof(struct timeval));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){3, 0},
			   sizeof(struct timeval));
		ok = !connect(fd, (struct sockaddr *)&ss, sizeof(ss)) &&
		     write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1 &&
		     read(fd, buf, sizeof(buf) - 1) > 0 && !strncmp(buf, "HTTP/1.", 7) &&
		     !strncmp(buf + 8, " 200", 4);
		close(fd);
	}
	if (ok)
		check_add(c->r, "daemon", CHECK_OK, "serve answers on http://%s/metrics", listen);
	else
		check_add(c->r, "daemon", CHECK_WARNING,
			  "nothing answers on http://%s/metrics: forwarding goes on without serve, "
			  "but leases do not end and there are no metrics: systemctl start xdpfwd "
			  "(or give check --metrics ADDR:PORT)",
			  listen);
}

int check_run(const struct check_request *req, struct check_report *r)
{
	struct check_ctx c = {.req = req, .r = r, .pd = {.lock_fd = -1}};
	bool attached;

	check_btf(r);
	attached = check_table(&c);
	if (attached) { /* each of these needs the attachment */
		check_xdp(&c);
		check_egress(&c);
		check_offloads(&c);
		check_rp_filter(&c);
		check_forwarding(&c);
		check_ports(&c);
		check_masquerade(&c);
	}
	if (c.opened)
		check_state(&c);
	check_daemon(&c);
	free(c.live);
	if (c.opened)
		maps_close(&c.maps);
	pindir_close(&c.pd);
	return r->count && r->items ? 0 : -ENOMEM;
}
