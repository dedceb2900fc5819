// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "bpfload.h"
#include "capacity.h"
#include "change.h"
#include "failpoint.h"
#include "ifkind.h"
#include "localaddr.h"
#include "journal.h"
#include "log.h"
#include "migrate.h"
#include "persist.h"
#include "pinned_maps.h"
#include "restore.h"
#include "table.h"
#include "txn.h"
#include "xdpfwd.skel.h"

/* Our filter on the public interface's egress; the priority keeps clear of
 * the low numbers other tools pick first. */
#define XDPFWD_TC_HANDLE   1
#define XDPFWD_TC_PRIORITY 0x7864

static const char *mode_name(enum xdp_attach_mode mode)
{
	return mode == XDP_MODE_SKB ? "generic" : mode == XDP_MODE_HW ? "offload" : "native";
}

static int resolve_iface(const char *name, const char *what, unsigned int *ifindex)
{
	*ifindex = if_nametoindex(name);
	if (!*ifindex) {
		pr_warn("%s '%s': no such interface in this network namespace\n", what, name);
		return -ENODEV;
	}
	return 0;
}

/* The tc programs and where they go, in both modes: the tunnel's ingress
 * handles hairpin, the public ingress the fast path's redirect into the
 * tunnel and the replay of fragments that came before their first (frag.h).
 * (Before fragment replay, the public ingress had a program only with the
 * fast path; detach of such an attachment finds no filter there.) */
enum { TC_OUT, TC_FROM_TUNNEL, TC_TO_TUNNEL, TC_PROGRAMS };
#define TC_ATTACHED(fast_path) ((void)(fast_path), TC_PROGRAMS)
static const struct {
	const char *pin;
	enum bpf_tc_attach_point point;
	bool on_tunnel;
	const char *where;
} tc_slots[TC_PROGRAMS] = {
    [TC_OUT] = {XDPFWD_PROG_OUT, BPF_TC_EGRESS, false, "egress"},
    [TC_TO_TUNNEL] = {XDPFWD_PROG_TO_TUNNEL, BPF_TC_INGRESS, false, "ingress"},
    [TC_FROM_TUNNEL] = {XDPFWD_PROG_FROM_TUNNEL, BPF_TC_INGRESS, true, "ingress"},
};

/* Each pin that is there goes: 0, or -errno of the first that would not. */
static int unpin_programs(const struct pindir *pd)
{
	const char *pins[] = {XDPFWD_PROG_IN, tc_slots[0].pin, tc_slots[1].pin, tc_slots[2].pin};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		pindir_file(pd, pins[i], path, sizeof(path));
		if (access(path, F_OK))
			continue;
		if (failpoint("unpin") || unlink(path)) {
			int err = -errno;

			pr_warn("cannot unpin %s/%s: %s\n", pd->shown, pins[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

/* What an operation on IFINDEX and TUNNEL_IFINDEX may change, taken first so
 * that T can put it back: the pins, XDP, and our filter on each tc hook. */
static int take_hooks(struct txn *t, const struct pindir *pd, unsigned int ifindex,
		      unsigned int tunnel_ifindex)
{
	int err = txn_take_pins(t, pd->path);

	err = err ?: txn_take_xdp(t, ifindex);
	for (int i = 0; !err && i < TC_PROGRAMS; i++)
		err = txn_take_tc(t, tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex,
				  tc_slots[i].point, XDPFWD_TC_HANDLE, XDPFWD_TC_PRIORITY);
	if (err)
		pr_warn("cannot take the interfaces' programs and the pins first: %s\n",
			strerror(-err));
	return err;
}

static int pin_maps_at(struct xdpfwd_bpf *skel, const struct pindir *pd)
{
	struct bpf_map *map;
	char path[PATH_MAX + 32];

	bpf_object__for_each_map (map, skel->obj) {
		/* .rodata and the devmap belong to this load: attach sets and
		 * fills them anew, and the programs hold them while attached. */
		if (bpf_map__is_internal(map) || map == skel->maps.xdpfwd_egress)
			continue;
		pindir_file(pd, bpf_map__name(map), path, sizeof(path));
		if (bpf_map__set_pin_path(map, path))
			return -EINVAL;
	}
	return 0;
}

/* The program of our filter at POINT of IFINDEX: its id, 0 when none. */
static __u32 tc_prog_id(unsigned int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY);

	return bpf_tc_query(&hook, &tc) ? 0 : tc.prog_id;
}

static int tc_detach_one(unsigned int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY);

	return failpoint("tc-detach") ?: bpf_tc_detach(&hook, &tc);
}

/* REPLACE swaps the program of our filter in one step (BPF_TC_F_REPLACE). */
static int tc_attach_one(unsigned int ifindex, enum bpf_tc_attach_point point, int prog_fd,
			 bool replace)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = replace ? BPF_TC_F_REPLACE : 0);
	int err = failpoint(replace ? "tc-replace" : "tc-attach");

	err = err ?: bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &tc);
}

/*
 * Every Ethernet device of this namespace that can take XDP frames, so XDP
 * can redirect to it; a devmap entry names its device in the namespace of
 * the process that writes it, which is why attach writes them here. Devices
 * that refuse (no ndo_xdp_xmit: loopback, WireGuard) are left to the stack.
 */
static int fill_egress(int map_fd, unsigned int tunnel_ifindex)
{
	struct if_nameindex *ifs, *i;
	int n = 0;

	if (failpoint("list-interfaces"))
		return -errno;
	ifs = if_nameindex();
	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		__u32 ifindex = i->if_index;

		if (ifindex == tunnel_ifindex || n == XDPFWD_MAX_EGRESS)
			continue;
		if (bpf_map_update_elem(map_fd, &ifindex, &ifindex, BPF_ANY) == 0) {
			pr_debug("XDP may redirect to %s\n", i->if_name);
			n++;
		}
	}
	if_freenameindex(ifs);
	return n;
}

/* One attach in progress: what each step leaves for the next. */
struct attach_run {
	struct pindir *pd;
	struct txn *t;
	const char *cmd; /* "attach" or "attach --replace": messages start with it */
	struct attach_req req;
	bool fast_path;
	unsigned int ifindex, tunnel_ifindex;
	enum tunnel_kind kind;
	__u32 old_id; /* the XDP program running on the interface, 0: none */
	struct xdpfwd_bpf *skel;
	struct bpf_program *tc[TC_PROGRAMS];
	struct bpf_load_log log;
	struct migration mg;
	bool legacy;	/* XDP runs as a single program, not behind libxdp's dispatcher */
	int egress;	/* devices XDP may redirect to */
	__u32 capacity; /* what the maps are sized for (capacity.h) */
};

/*
 * attach --replace: the running programs give way to this build's, each in
 * one atomic step (XDP_FLAGS_REPLACE naming the old program, then
 * BPF_TC_F_REPLACE on each filter), over the same pinned maps, so no packet
 * meets a moment without a program and no mapping or counter is lost. Only
 * the single-program attachment libxdp falls back to can be swapped so.
 * Checks that xdpfwd is attached here as asked and takes the fast path and
 * mode it was attached with (CUR: the attachment recorded).
 */
static int check_replace(struct attach_run *a, struct xdpfwd_config *cur)
{
	struct xdp_multiprog *mp;
	struct xdpfwd_maps maps;
	bool legacy;

	if (!a->old_id) {
		pr_warn("attach --replace: '%s' has no XDP program: attach it without --replace\n",
			a->req.iface);
		return -ENOENT;
	}
	if (maps_open(a->pd, &maps, cur))
		return -ENOENT;
	maps_close(&maps);
	if (!cur->attached || cur->public_ifindex != a->ifindex ||
	    cur->tunnel_ifindex != a->tunnel_ifindex) {
		pr_warn("attach --replace: xdpfwd in the pin directory %s is not attached to '%s' "
			"with this tunnel\n",
			a->pd->shown, a->req.iface);
		return -EINVAL;
	}
	if (a->req.fast_path >= 0 && a->req.fast_path != (int)cur->fast_path) {
		pr_warn("attach --replace: keeps --fast-path %s as attached: detach and attach to "
			"change it\n",
			cur->fast_path ? "on" : "off");
		return -EINVAL;
	}
	a->fast_path = cur->fast_path;
	a->req.mode = cur->xdp_mode;
	mp = xdp_multiprog__get_from_ifindex(a->ifindex);
	legacy = !libxdp_get_error(mp) && xdp_multiprog__is_legacy(mp);
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	if (!legacy) {
		pr_warn("attach --replace: '%s' runs its XDP programs through libxdp's dispatcher; "
			"only a single program can be swapped in place\n",
			a->req.iface);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Wildcards an older build keyed by the all-zero address get their entries
 * under the address they answer from (table_rekey_wildcards); with ERASE,
 * once this build's programs run, the old entries go. */
static void rekey_wildcards(const struct pindir *pd, bool erase)
{
	struct xdpfwd_config cfg;
	struct xdpfwd_maps maps;
	int err;

	if (maps_open(pd, &maps, &cfg))
		return;
	err = table_rekey_wildcards(&maps, false);
	if (!err && erase)
		err = table_rekey_wildcards(&maps, true);
	if (err)
		pr_warn("cannot move the wildcard mappings' entries to their address: %s; "
			"load the table again\n",
			strerror(-err));
	maps_close(&maps);
}

static int replace_xdp(struct xdpfwd_bpf *skel, unsigned int ifindex, __u32 old_id,
		       enum xdp_attach_mode mode)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	__u32 flags =
	    XDP_FLAGS_REPLACE | (mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	int err;

	if (failpoint("xdp-replace"))
		return -errno;
	opts.old_prog_fd = bpf_prog_get_fd_by_id(old_id);
	if (opts.old_prog_fd < 0)
		return -errno;
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.xdpfwd_in), flags, &opts);
	close(opts.old_prog_fd);
	return err;
}

/* The interfaces named, the tunnel's kind, the pin directory locked and the
 * XDP program the interface runs now. */
static int step_resolve(struct attach_run *a, struct pindir *pd, const struct attach_req *req,
			struct txn *t, const char *cmd)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->pd = pd;
	a->t = t;
	a->cmd = cmd;
	a->req = *req;
	err = resolve_iface(req->iface, "interface", &a->ifindex);
	err = err ?: resolve_iface(req->tunnel, "tunnel", &a->tunnel_ifindex);
	if (err)
		return err;
	if (a->ifindex == a->tunnel_ifindex) {
		pr_warn("tunnel '%s' is the public interface itself: name the VPN tunnel device\n",
			req->tunnel);
		return -EINVAL;
	}
	err = tunnel_kind_of(req->tunnel, &a->kind) ?: pindir_lock(pd);
	if (!err && bpf_xdp_query_id(a->ifindex, 0, &a->old_id))
		a->old_id = 0;
	return err;
}

/* Open: the object parsed, its programs watched by the load log, its maps
 * given their pins (so the load reuses those there). */
static int step_open(struct attach_run *a)
{
	int err = failpoint("bpf-open");

	a->skel = err ? NULL : xdpfwd_bpf__open();
	if (!a->skel) {
		err = errno ? -errno : -ENOMEM;
		pr_warn("%s: cannot open the BPF object: %s\n", a->cmd, strerror(-err));
		return err;
	}
	a->tc[TC_OUT] = a->skel->progs.xdpfwd_out;
	a->tc[TC_TO_TUNNEL] = a->skel->progs.xdpfwd_to_tun;
	a->tc[TC_FROM_TUNNEL] = a->skel->progs.xdpfwd_from_tun;
	err = bpf_load_log_attach(&a->log, a->skel->obj) ?: pin_maps_at(a->skel, a->pd);
	if (err)
		pr_warn("%s: cannot prepare the BPF object: %s\n", a->cmd, strerror(-err));
	return err;
}

/*
 * Whether the table pinned in A's pin directory fits CAP mappings: their
 * number, the ports they cover and the highest slot (slots index the arrays
 * sized by the capacity, and a resize keeps every mapping in its slot, so
 * its counters and policy move with it). 0, or -ENOSPC after one line.
 */
static int table_fits(const struct attach_run *a, __u32 cap)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct rule *have = NULL;
	size_t n = 0, ports = 0;
	__u32 top = 0;
	char err[ERR_LEN];
	int ret = maps_open(a->pd, &maps, &config);

	if (ret)
		return ret;
	ret = live_rules(&maps, &have, &n, 0) ? -EIO : 0;
	maps_close(&maps);
	for (size_t i = 0; !ret && i < n; i++) {
		ports += have[i].m.port_count;
		top = have[i].slot > top ? have[i].slot : top;
	}
	if (!ret && capacity_fits(n, ports, cap, err)) {
		pr_warn("%s: the table does not fit --capacity %u: %s; nothing was changed\n",
			a->cmd, cap, err);
		ret = -ENOSPC;
	} else if (!ret && n && top >= cap) {
		pr_warn("%s: the table does not fit --capacity %u: a mapping holds slot %u, and "
			"a resize keeps each in its slot: give --capacity %u-%d, or detach --purge "
			"and attach --capacity %u to renumber the slots (counters restart); "
			"nothing was changed\n",
			a->cmd, cap, top, top + 1, XDPFWD_MAX_CAPACITY, cap);
		ret = -ENOSPC;
	}
	if (ret == -EIO)
		pr_warn("%s: cannot read the mappings: %s\n", a->cmd, strerror(errno));
	free(have);
	return ret;
}

/* Capacity: as asked (--capacity), else as the maps pinned here are, else the
 * default. Another than the pinned maps' is a resize, which the migration
 * makes (migrate.h: every map of the capacity is created anew and copied),
 * when the table fits. */
static int step_capacity(struct attach_run *a)
{
	__u32 pinned;
	int err = a->skel ? capacity_pinned(a->pd, &pinned) : -ENOENT;

	if (err == -ENOENT) {
		pr_warn("%s: the BPF object is not open\n", a->cmd);
		return err;
	}
	if (err) {
		pr_warn("%s: cannot read the capacity of the maps in %s: %s\n", a->cmd,
			a->pd->shown, strerror(-err));
		return err;
	}
	a->capacity = a->req.capacity ?: pinned ?: XDPFWD_DEFAULT_CAPACITY;
	if (pinned && a->capacity != pinned)
		err = table_fits(a, a->capacity);
	err = err ?: capacity_set(a->skel->obj, a->capacity);
	if (err && err != -ENOSPC)
		pr_warn("%s: cannot size the maps for %u mappings: %s\n", a->cmd, a->capacity,
			strerror(-err));
	if (!err && pinned && a->capacity != pinned)
		txn_note(a->t, "capacity: %u mappings, was %u\n", a->capacity, pinned);
	return err;
}

/* Read-only data: what the verifier prunes by (the fast path, the devices,
 * the tunnel's kind) and the tunnel's first address of each family, the
 * source a client reaching its own mapped port is given. */
static int step_rodata(struct attach_run *a)
{
	struct xdpfwd_bpf__rodata *ro = a->skel ? a->skel->rodata : NULL;
	struct local_addrs own;

	if (!ro) {
		pr_warn("%s: the BPF object has no read-only data to set\n", a->cmd);
		return -ENOENT;
	}
	ro->fast_path_on = a->fast_path;
	ro->tunnel_ifindex = a->tunnel_ifindex;
	ro->public_ifindex = a->ifindex;
	ro->tunnel_ethernet = a->kind == TUNNEL_ETHERNET;
	if (local_addrs_read(a->tunnel_ifindex, &own))
		return 0; /* no address: hairpin to a client's own port has no source */
	for (size_t i = own.count; i-- > 0;) {
		if (own.entry[i].family == AF_INET)
			memcpy((void *)&ro->tunnel_addr4, &own.entry[i].addr,
			       sizeof(own.entry[i].addr));
		else
			memcpy((void *)&ro->tunnel_addr6, &own.entry[i].addr,
			       sizeof(own.entry[i].addr));
	}
	return 0;
}

/* Load: maps an older build pinned with another layout are planned for
 * migration (migrate.h), the programs verified and loaded over the pinned
 * maps, then the old entries copied into the migrated maps. */
static int step_load(struct attach_run *a)
{
	struct strbuf why = STRBUF_INIT;
	char reason[ERR_LEN];
	int err = migrate_plan(a->skel->obj, &a->mg, reason, sizeof(reason));

	if (err) {
		pr_warn("%s: %s%s\n", a->cmd, reason,
			a->old_id ? "; the old programs still run" : "");
		return err;
	}
	err = failpoint("bpf-load");
	if (err)
		strbuf_append(&why, strerror(-err));
	else
		err = bpf_load_reported(a->skel->obj, &a->log, &why);
	if (err)
		pr_warn("%s: loading the programs over the maps in %s failed: %s\n", a->cmd,
			a->pd->shown, strbuf_str(&why));
	strbuf_free(&why);
	if (err)
		return err;
	err = migrate_copy(&a->mg, reason, sizeof(reason));
	if (err)
		pr_warn("%s: %s%s\n", a->cmd, reason,
			a->old_id ? "; the old programs still run" : "");
	return err;
}

/* The devmap this load made, filled with the devices XDP may redirect to
 * (with the fast path; without, XDP redirects nowhere). */
static int step_egress(struct attach_run *a)
{
	if (!a->fast_path)
		return 0;
	a->egress = fill_egress(bpf_map__fd(a->skel->maps.xdpfwd_egress), a->tunnel_ifindex);
	if (a->egress < 0)
		pr_warn("cannot list the interfaces: %s\n", strerror(-a->egress));
	return a->egress < 0 ? a->egress : 0;
}

/* XDP on an interface that has none, through libxdp, which runs it behind
 * its dispatcher where the kernel allows and else as the single program
 * (the program is loaded already, as XDP: libxdp then falls back to the
 * single-program attach, xdp_program__attach_multi() in libxdp.c). */
static int step_attach_xdp(struct attach_run *a)
{
	struct xdp_program *prog = NULL;
	struct xdp_multiprog *mp;
	int err = failpoint("xdp-attach");

	if (!err) {
		prog = xdp_program__from_fd(bpf_program__fd(a->skel->progs.xdpfwd_in));
		err = libxdp_get_error(prog);
	}
	err = err ?: xdp_program__attach(prog, a->ifindex, a->req.mode, 0);
	if (!libxdp_get_error(prog))
		xdp_program__close(prog);
	if (err) {
		pr_warn("cannot attach XDP to '%s' in %s mode: %s%s\n", a->req.iface,
			mode_name(a->req.mode), strerror(-err),
			a->req.mode == XDP_MODE_NATIVE
			    ? " (try --mode generic; -vv shows libxdp's reasons)"
			    : "");
		return err;
	}
	mp = xdp_multiprog__get_from_ifindex(a->ifindex);
	a->legacy = !libxdp_get_error(mp) && xdp_multiprog__is_legacy(mp);
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	return 0;
}

/* XDP swapped in one step: XDP_FLAGS_REPLACE naming the old program. */
static int step_replace_xdp(struct attach_run *a)
{
	int err = replace_xdp(a->skel, a->ifindex, a->old_id, a->req.mode);

	if (err)
		pr_warn("attach --replace: swapping the XDP program on '%s' failed: %s; the old "
			"programs still run\n",
			a->req.iface, strerror(-err));
	a->legacy = true;
	return err;
}

/* Our filter on each tc hook: added, or (REPLACE) its program swapped in one
 * step (BPF_TC_F_REPLACE). */
static int step_tc(struct attach_run *a, bool replace)
{
	for (int i = 0; i < TC_ATTACHED(a->fast_path); i++) {
		const char *dev = tc_slots[i].on_tunnel ? a->req.tunnel : a->req.iface;
		int err = tc_attach_one(tc_slots[i].on_tunnel ? a->tunnel_ifindex : a->ifindex,
					tc_slots[i].point, bpf_program__fd(a->tc[i]), replace);

		if (err && replace)
			pr_warn("attach --replace: swapping the tc program on the %s of '%s' "
				"failed: %s\n",
				tc_slots[i].where, dev, strerror(-err));
		else if (err)
			pr_warn("cannot attach tc to the %s of '%s': %s\n", tc_slots[i].where, dev,
				strerror(-err));
		if (err)
			return err;
	}
	return 0;
}

/* The programs pinned in PD, in place of the old pins. */
static int step_pin(struct attach_run *a)
{
	char path[PATH_MAX + 32];
	int err = unpin_programs(a->pd); /* said why */

	if (err)
		return err;
	pindir_file(a->pd, XDPFWD_PROG_IN, path, sizeof(path));
	err = failpoint("pin") ?: bpf_program__pin(a->skel->progs.xdpfwd_in, path);
	for (int i = 0; !err && i < TC_ATTACHED(a->fast_path); i++) {
		pindir_file(a->pd, tc_slots[i].pin, path, sizeof(path));
		err = failpoint("pin") ?: bpf_program__pin(a->tc[i], path);
	}
	if (err)
		pr_warn("cannot pin the programs in %s: %s\n", a->pd->shown, strerror(-err));
	return err;
}

/* Record: the attachment in the config map; then, last, the migrated maps
 * take the old pins' names (until now a failure puts the old programs back,
 * and they find their maps as they left them); wildcard entries an older
 * build keyed by the zero address move to their address. */
static int step_record(struct attach_run *a)
{
	struct xdpfwd_config config = {
	    .public_ifindex = a->ifindex,
	    .tunnel_ifindex = a->tunnel_ifindex,
	    .netns_ino = current_netns_ino(),
	    .xdp_mode = a->req.mode,
	    .tc_handle = XDPFWD_TC_HANDLE,
	    .tc_priority = XDPFWD_TC_PRIORITY,
	    .attached = 1,
	    .fast_path = a->fast_path,
	    .client_count = a->req.nclients,
	};
	char why[ERR_LEN];
	__u32 zero = 0;
	int err;

	memcpy(config.clients, a->req.clients, a->req.nclients * sizeof(*a->req.clients));
	err =
	    txn_map_update(a->t, bpf_map__fd(a->skel->maps.xdpfwd_config), &zero, &config, BPF_ANY);
	if (err) {
		pr_warn("cannot record the attachment: %s\n", strerror(-err));
		return err;
	}
	if (a->mg.count) {
		err = migrate_commit(&a->mg, why, sizeof(why));
		if (err) {
			pr_warn("attach --replace: %s\n", why);
			return err;
		}
		txn_note(a->t, "migrated %zu map%s to this build's layout\n", a->mg.count,
			 a->mg.count == 1 ? "" : "s");
	}
	rekey_wildcards(a->pd, true);
	return 0;
}

/* What was done, for stdout once the caller commits. */
static void note_done(struct attach_run *a, const char *done)
{
	txn_note(a->t, "%s %s (%s mode%s), tunnel %s, fast path %s, pin directory %s\n", done,
		 a->req.iface, mode_name(a->req.mode),
		 a->legacy ? ", single program: libxdp's dispatcher is not usable on this kernel"
			   : "",
		 a->req.tunnel, a->fast_path ? "on" : "off", a->pd->shown);
	if (a->fast_path)
		txn_note(
		    a->t,
		    "XDP redirects to %d Ethernet device%s; other targets go through the stack\n",
		    a->egress, a->egress == 1 ? "" : "s");
}

static int run_end(struct attach_run *a, int err)
{
	if (err)
		migrate_abort(&a->mg);
	migrate_free(&a->mg);
	bpf_load_log_free(&a->log);
	xdpfwd_bpf__destroy(a->skel);
	return err;
}

/*
 * A tc hook this attach would use that holds a filter at xdpfwd's handle and
 * priority already: xdpfwd's of another attachment of the same tunnel (or
 * interface), or another program's. Refused in one line that says which and
 * what to do, before anything changes. 0, or -EEXIST.
 */
static int refuse_taken_tc(const struct attach_run *a)
{
	for (int i = 0; i < TC_ATTACHED(a->fast_path); i++) {
		const char *dev = tc_slots[i].on_tunnel ? a->req.tunnel : a->req.iface;
		__u32 id = tc_prog_id(tc_slots[i].on_tunnel ? a->tunnel_ifindex : a->ifindex,
				      tc_slots[i].point);
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info);
		int fd = id ? bpf_prog_get_fd_by_id(id) : -1;

		if (!id)
			continue;
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len))
			info.name[0] = '\0';
		if (fd >= 0)
			close(fd);
		if (!strncmp(info.name, "xdpfwd", 6))
			pr_warn(
			    "attach: the %s of '%s' already has xdpfwd's tc program of another "
			    "attachment: detach that one first (xdpfwd --pin-dir ITS-DIR detach "
			    "ITS-IFACE); one tunnel serves one attachment\n",
			    tc_slots[i].where, dev);
		else
			pr_warn("attach: the %s of '%s' already has another tc program (id %u%s%s) "
				"where xdpfwd's goes: remove it first (tc filter show dev %s %s)\n",
				tc_slots[i].where, dev, id, info.name[0] ? ", " : "", info.name,
				dev, tc_slots[i].where);
		return -EEXIST;
	}
	return 0;
}

int attach_new(struct pindir *pd, const struct attach_req *req, struct txn *t)
{
	struct attach_run a;
	int err = step_resolve(&a, pd, req, t, "attach");

	if (!err && a.old_id) {
		pr_warn(
		    "interface '%s' already has an XDP program (id %u): run 'xdpfwd detach %s' if it is xdpfwd's, or attach --replace to upgrade it\n",
		    req->iface, a.old_id, req->iface);
		return -EEXIST;
	}
	if (err)
		return err;
	a.fast_path = req->fast_path != 0; /* on unless off */
	err = refuse_taken_tc(&a);
	if (err)
		return err;
	err = take_hooks(t, pd, a.ifindex, a.tunnel_ifindex);
	err = err ?: step_open(&a) ?: step_capacity(&a) ?: step_rodata(&a) ?: step_load(&a);
	err = err ?: step_egress(&a);
	err = err ?: step_attach_xdp(&a) ?: step_tc(&a, false) ?: step_pin(&a) ?: step_record(&a);
	if (!err)
		note_done(&a, "attached to");
	return run_end(&a, err);
}

/* "10.8.0.0/16,fd00:8::/64", or "any" for no networks, onto OUT. */
static void format_clients(const struct xdpfwd_prefix *p, __u32 n, struct strbuf *out)
{
	char buf[ADDR_STR_LEN];

	if (!n)
		strbuf_append(out, "any");
	for (__u32 i = 0; i < n; i++) {
		format_prefix(buf, sizeof(buf), &p[i]);
		strbuf_appendf(out, "%s%s", i ? "," : "", buf);
	}
}

/* Whether ADDR of FAMILY lies in one of the N networks P (none: anywhere). */
static bool in_clients(const struct xdpfwd_prefix *p, __u32 n, __u8 family,
		       const union xdpfwd_addr *addr)
{
	for (__u32 i = 0; i < n; i++)
		if (prefix_contains(&p[i], family, addr))
			return true;
	return !n;
}

/*
 * attach --replace --clients: the networks CUR declares become REQ's. Refused
 * when a live mapping's target lies outside the new ones (the first is
 * named); else one line says the change (txn_note). 0, or -EINVAL.
 */
static int change_clients(struct attach_run *a, const struct xdpfwd_config *cur)
{
	struct strbuf from = STRBUF_INIT, to = STRBUF_INIT;
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct rule *have = NULL;
	size_t n = 0;
	char line[200];
	int err = 0;

	if (cur->client_count == a->req.nclients &&
	    !memcmp(cur->clients, a->req.clients, a->req.nclients * sizeof(*cur->clients)))
		return 0;
	if (!maps_open(a->pd, &maps, &config)) {
		err = live_rules(&maps, &have, &n, 0) ? -EIO : 0;
		maps_close(&maps);
	}
	format_clients(a->req.clients, a->req.nclients, &to);
	for (size_t i = 0; !err && i < n; i++) {
		if (in_clients(a->req.clients, a->req.nclients, have[i].m.family,
			       &have[i].m.target_addr))
			continue;
		format_mapping(line, sizeof(line), &have[i].m);
		pr_warn("attach --replace: --clients %s leaves out the target of the mapping %s: "
			"include its network, or delete the mapping first\n",
			strbuf_str(&to), line);
		err = -EINVAL;
	}
	format_clients(cur->clients, cur->client_count, &from);
	if (!err)
		txn_note(a->t, "client networks: %s, were %s\n", strbuf_str(&to),
			 strbuf_str(&from));
	free(have);
	strbuf_free(&from);
	strbuf_free(&to);
	return err;
}

int attach_replace(struct pindir *pd, const struct attach_req *req, struct txn *t)
{
	struct xdpfwd_config cur = {0};
	struct attach_run a;
	int err = step_resolve(&a, pd, req, t, "attach --replace");

	err = err ?: check_replace(&a, &cur);
	if (err)
		return err;
	if (!req->nclients) { /* the client networks stay as declared */
		a.req.clients = cur.clients;
		a.req.nclients = cur.client_count;
	} else if ((err = change_clients(&a, &cur))) {
		return err;
	}
	err = take_hooks(t, pd, a.ifindex, a.tunnel_ifindex);
	if (!err)
		rekey_wildcards(pd, false); /* the old programs still run */
	err = err ?: step_open(&a) ?: step_capacity(&a) ?: step_rodata(&a) ?: step_load(&a);
	err = err ?: step_egress(&a);
	err = err ?: step_replace_xdp(&a) ?: step_tc(&a, true) ?: step_pin(&a) ?: step_record(&a);
	if (!err)
		note_done(&a, "replaced the programs on");
	return run_end(&a, err);
}
/* The state file from what the maps hold (and the attachment they record),
 * its pending mappings carried over. */
static int sync_state(const char *cmd, const struct pindir *pd, const char *state)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	char err[ERR_LEN];
	int ret = maps_open(pd, &maps, &config);

	if (ret)
		return ret;
	ret = state_sync(state, &maps, &config, err) ? -EIO : 0;
	if (ret)
		pr_warn("%s: %s\n", cmd, err);
	maps_close(&maps);
	return ret;
}

/* Whether a plain attach must write the state file's table back: no maps
 * are pinned (none kept by detach, which the file follows) and the file
 * holds mappings. SAVED is filled then (state_free() it). */
static int table_to_restore(const struct pindir *pd, const char *state, struct saved_state *saved,
			    bool *restore)
{
	char probe[PATH_MAX + 32], err[ERR_LEN];
	struct clocks now;
	bool found;

	*restore = false;
	pindir_file(pd, XDPFWD_MAP_CONFIG, probe, sizeof(probe));
	if (!access(probe, F_OK))
		return 0;
	clocks_now(&now);
	if (state_load(state, &now, saved, &found, err)) {
		pr_warn("attach: %s; nothing was changed: repair the file or move it away\n", err);
		return -EINVAL;
	}
	*restore = found && saved->count + saved->npending > 0;
	if (found && !*restore)
		state_free(saved);
	return 0;
}

int attach_cmd(struct pindir *pd, const struct attach_req *req, bool replace, const char *state,
	       struct txn *t)
{
	struct saved_state saved;
	bool restore;
	int err;

	if (replace)
		return attach_replace(pd, req, t) ?: sync_state("attach", pd, state);
	err = table_to_restore(pd, state, &saved, &restore);
	if (err)
		return err;
	if (!restore)
		return attach_new(pd, req, t) ?: sync_state("attach", pd, state);
	err = restore_attach(pd, req, &saved, state, "attach", t);
	state_free(&saved);
	return err;
}

/* The id of the XDP program pinned in PD; 0 when its pin is gone. */
static __u32 pinned_prog_id(const struct pindir *pd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info), id = 0;
	char path[PATH_MAX + 32];
	int fd;

	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		id = info.id;
	close(fd);
	return id;
}

/* Whether program ID is xdpfwd's XDP program: the one pinned as PINNED_ID,
 * or one that carries its name (an interrupted attach --replace can leave
 * the interface running a program whose pin is gone). */
static bool ours(__u32 id, __u32 pinned_id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	bool named;
	int fd;

	if (!id)
		return false;
	if (id == pinned_id)
		return true;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	named = !bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, "xdpfwd_in");
	close(fd);
	return named;
}

/* Removes xdpfwd's XDP program from IFINDEX, found by the interface (its pin
 * may be missing): in one step that takes it only if it still runs there
 * (XDP_FLAGS_REPLACE naming it), or through libxdp when it runs behind
 * libxdp's dispatcher. 0 when it is gone or was never there. */
static int xdp_detach_ours(const char *iface, unsigned int ifindex, __u32 pinned_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	struct xdp_multiprog *mp;
	int err = 0;

	if (bpf_xdp_query(ifindex, 0, &q))
		return -errno;
	if (!q.prog_id)
		return 0;
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (!libxdp_get_error(mp) && mp && !xdp_multiprog__is_legacy(mp)) {
		struct xdp_program *p = NULL;

		while ((p = xdp_multiprog__next_prog(p, mp)))
			if (ours(xdp_program__id(p), pinned_id))
				break;
		err = !p ? 0
			 : failpoint("xdp-detach")
			       ?: xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
		xdp_multiprog__close(mp);
		goto out;
	}
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	if (!ours(q.prog_id, pinned_id)) {
		pr_info("'%s' runs XDP program %u, which is not xdpfwd's: left alone\n", iface,
			q.prog_id);
		return 0;
	}
	err = failpoint("xdp-detach");
	opts.old_prog_fd = err ? -1 : bpf_prog_get_fd_by_id(q.prog_id);
	if (!err && opts.old_prog_fd < 0)
		err = -errno;
	if (!err)
		err = bpf_xdp_attach(ifindex, -1,
				     XDP_FLAGS_REPLACE |
					 (q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
									    : XDP_FLAGS_DRV_MODE),
				     &opts);
	if (opts.old_prog_fd >= 0)
		close(opts.old_prog_fd);
out:
	if (err)
		pr_warn("cannot detach XDP from '%s': %s\n", iface, strerror(-err));
	return err;
}

/* What stayed attached after detach: 0 when nothing did. */
static int verify_detached(const char *iface, unsigned int ifindex, unsigned int tunnel_ifindex,
			   __u32 pinned_id)
{
	__u32 id = 0;
	int err = 0;

	if (!bpf_xdp_query_id(ifindex, 0, &id) && ours(id, pinned_id)) {
		pr_warn("detach: xdpfwd's XDP program (id %u) is still attached to '%s'\n", id,
			iface);
		err = -EBUSY;
	}
	for (int i = 0; i < TC_PROGRAMS; i++) {
		unsigned int dev = tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex;

		id = tc_prog_id(dev, tc_slots[i].point);
		if (id) {
			pr_warn("detach: xdpfwd's tc filter (program id %u) is still on the %s of "
				"%s\n",
				id, tc_slots[i].where,
				tc_slots[i].on_tunnel ? "the tunnel" : iface);
			err = -EBUSY;
		}
	}
	return err;
}

/* Removes xdpfwd's programs from IFACE and the tunnel CONFIG names, checks
 * that none stayed, and records the detachment in the config map (MAPS). */
static int detach_programs(struct pindir *pd, const char *iface, unsigned int ifindex,
			   const struct xdpfwd_maps *maps, struct xdpfwd_config *config,
			   struct txn *t)
{
	__u32 zero = 0, pinned_id = pinned_prog_id(pd);
	int err = xdp_detach_ours(iface, ifindex, pinned_id);

	/* Every tc hook, whatever the fast path: a filter a half-done
	 * operation left is found too. */
	for (int i = 0; !err && i < TC_PROGRAMS; i++) {
		unsigned int dev = tc_slots[i].on_tunnel ? config->tunnel_ifindex : ifindex;

		if (!tc_prog_id(dev, tc_slots[i].point))
			continue;
		err = tc_detach_one(dev, tc_slots[i].point);
		if (err)
			pr_warn("cannot remove the tc filter from the %s of %s: %s\n",
				tc_slots[i].where, tc_slots[i].on_tunnel ? "the tunnel" : iface,
				strerror(-err));
	}
	err = err ?: verify_detached(iface, ifindex, config->tunnel_ifindex, pinned_id);
	err = err ?: unpin_programs(pd);
	if (err)
		return err;
	config->attached = 0;
	err = txn_map_update(t, maps->config, &zero, config, BPF_ANY);
	if (err)
		pr_warn("cannot record the detachment: %s\n", strerror(-err));
	return err;
}

/* --purge: every pinned map goes (all are ours, whatever this build knows by
 * name), then the pin directory if empty. */
static int purge_maps(const struct pindir *pd)
{
	char path[PATH_MAX + 32];
	DIR *dir = opendir(pd->path);
	struct dirent *e;
	int err = 0;

	while (!err && dir && (e = readdir(dir)))
		if (!strncmp(e->d_name, "xdpfwd_", 7)) {
			pindir_file(pd, e->d_name, path, sizeof(path));
			err = failpoint("unpin") ?: unlink(path) ? -errno : 0;
		}
	if (dir)
		closedir(dir);
	if (err) {
		pr_warn("cannot remove the maps from %s: %s\n", pd->shown, strerror(-err));
		return err;
	}
	rmdir(pd->path);
	return 0;
}

/* --purge-state: the state file goes too, and a stale rebuild marker. */
/* The journal first: a crash before the snapshot goes leaves a file that is
 * whole by itself (an older table), never a journal without its snapshot. */
static int purge_state(const char *state)
{
	char marker[PATH_MAX + 80], journal[PATH_MAX + 80];

	journal_path(journal, sizeof(journal), state);
	if ((failpoint("state-remove") || unlink(journal)) && errno != ENOENT) {
		pr_warn("detach: cannot remove %s: %s\n", journal, strerror(errno));
		return -errno;
	}
	if ((failpoint("state-remove") || unlink(state)) && errno != ENOENT) {
		pr_warn("detach: cannot remove %s: %s\n", state, strerror(errno));
		return -errno;
	}
	state_rebuild_marker(marker, sizeof(marker), state);
	unlink(marker);
	/* The caches beside it (persist.h): nothing of the table. */
	snprintf(marker, sizeof(marker), "%s%s", state, STATE_INDEX_SUFFIX);
	unlink(marker);
	state_changing_end(state);
	return 0;
}

/* detach --purge-state after a detach --purge: no pin directory (so nothing
 * attached, nothing to lock), only the state file the purge kept. */
static int purge_state_only(const char *iface, const char *state, const struct pindir *pd,
			    struct txn *t)
{
	char journal[PATH_MAX + 80];
	int err;

	journal_path(journal, sizeof(journal), state);
	if (access(state, F_OK) && access(journal, F_OK)) {
		txn_note(t, "nothing pinned in %s for %s and no state file %s: nothing to remove\n",
			 pd->shown, iface, state);
		return 0;
	}
	err = purge_state(state);
	if (!err)
		txn_note(t, "nothing pinned in %s for %s; state removed: the state file %s\n",
			 pd->shown, iface, state);
	return err;
}

int detach_cmd(struct pindir *pd, const char *iface, enum detach_purge purge, const char *state,
	       struct txn *t)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	unsigned int ifindex;
	int err;

	err = resolve_iface(iface, "interface", &ifindex);
	if (!err && purge == DETACH_PURGE_STATE && access(pd->path, F_OK) && errno == ENOENT)
		return purge_state_only(iface, state, pd, t);
	err = err ?: pindir_lock(pd);
	err = err ?: maps_open(pd, &maps, &config);
	if (err)
		return err;
	if (!config.attached || config.public_ifindex != ifindex) {
		pr_warn("xdpfwd is not attached to '%s' (pin directory %s)\n", iface, pd->shown);
		err = -ENOENT;
	}
	err = err ?: take_hooks(t, pd, ifindex, config.tunnel_ifindex);
	err = err ?: detach_programs(pd, iface, ifindex, &maps, &config, t);
	maps_close(&maps);
	/* The file holds the table the maps held before any of them goes. */
	if (purge != DETACH_PURGE_STATE)
		err = err ?: sync_state("detach", pd, state);
	if (err)
		return err;
	if (purge == DETACH_KEEP_MAPS) {
		txn_note(t, "detached from %s, mappings kept\n", iface);
		return 0;
	}
	err = purge_maps(pd);
	if (!err && purge == DETACH_PURGE_MAPS)
		txn_note(t,
			 "detached from %s, maps and counters removed; the table stays in the "
			 "state file %s, which a later attach restores (--purge-state removes "
			 "it too)\n",
			 iface, state);
	err = err ?: (purge == DETACH_PURGE_STATE ? purge_state(state) : 0);
	if (!err && purge == DETACH_PURGE_STATE)
		txn_note(t,
			 "detached from %s, state removed: maps, counters and the state file %s\n",
			 iface, state);
	return err;
}

int attach_clear(struct pindir *pd, const char *iface, const char *tunnel)
{
	unsigned int ifindex = if_nametoindex(iface), tunnel_ifindex = if_nametoindex(tunnel);
	char path[PATH_MAX + 32];
	__u32 pinned_id = 0;
	struct dirent *e;
	int err = 0;
	DIR *dir;

	pinned_id = pinned_prog_id(pd);
	if (ifindex)
		err = xdp_detach_ours(iface, ifindex, pinned_id);
	for (int i = 0; !err && i < TC_PROGRAMS; i++) {
		unsigned int dev = tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex;

		if (dev && tc_prog_id(dev, tc_slots[i].point))
			err = tc_detach_one(dev, tc_slots[i].point);
	}
	dir = err ? NULL : opendir(pd->path);
	while (dir && (e = readdir(dir)))
		if (!strncmp(e->d_name, "xdpfwd_", 7) || !strncmp(e->d_name, "prog_xdpfwd_", 12)) {
			pindir_file(pd, e->d_name, path, sizeof(path));
			if (unlink(path) && !err)
				err = -errno;
		}
	if (dir)
		closedir(dir);
	return err;
}
