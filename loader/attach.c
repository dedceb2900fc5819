// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "failpoint.h"
#include "ifkind.h"
#include "localaddr.h"
#include "log.h"
#include "migrate.h"
#include "pinned_maps.h"
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
		if (failpoint("unpin") || unlink(path))
			return -errno;
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

/*
 * attach --replace: the running programs give way to this build's, each in
 * one atomic step (XDP_FLAGS_REPLACE naming the old program, then
 * BPF_TC_F_REPLACE on each filter), over the same pinned maps, so no packet
 * meets a moment without a program and no mapping or counter is lost. Only
 * the single-program attachment libxdp falls back to here can be swapped so.
 */
static int check_replace(struct pindir *pd, const char *iface, unsigned int ifindex,
			 unsigned int tunnel_ifindex, __u32 prog_id, int *fast_path,
			 enum xdp_attach_mode *mode, struct xdpfwd_config *cur)
{
	struct xdp_multiprog *mp;
	struct xdpfwd_maps maps;
	bool legacy;

	if (!prog_id) {
		pr_warn("attach --replace: '%s' has no XDP program: attach it without --replace\n",
			iface);
		return -ENOENT;
	}
	if (maps_open(pd, &maps, cur))
		return -ENOENT;
	maps_close(&maps);
	if (!cur->attached || cur->public_ifindex != ifindex ||
	    cur->tunnel_ifindex != tunnel_ifindex) {
		pr_warn("attach --replace: xdpfwd in %s is not attached to '%s' with this tunnel\n",
			pd->path, iface);
		return -EINVAL;
	}
	if (*fast_path >= 0 && *fast_path != (int)cur->fast_path) {
		pr_warn("attach --replace: keeps --fast-path %s as attached: detach and attach to "
			"change it\n",
			cur->fast_path ? "on" : "off");
		return -EINVAL;
	}
	*fast_path = cur->fast_path;
	*mode = cur->xdp_mode;
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	legacy = !libxdp_get_error(mp) && xdp_multiprog__is_legacy(mp);
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	if (!legacy) {
		pr_warn("attach --replace: '%s' runs its XDP programs through libxdp's dispatcher; "
			"only a single program can be swapped in place\n",
			iface);
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

/* Loads SKEL over the pinned maps, fills its devmap, then swaps XDP and each
 * tc filter in turn. A failure half way is undone by the caller's
 * transaction: the old programs go back in place, each again in one step. */
static int replace_programs(struct xdpfwd_bpf *skel, const struct pindir *pd, const char *iface,
			    const char *tunnel, unsigned int ifindex, unsigned int tunnel_ifindex,
			    __u32 old_id, enum xdp_attach_mode mode, bool fast_path,
			    struct bpf_program **tc_progs, int *egress, struct migration *mg)
{
	char why[ERR_LEN];
	int err = migrate_plan(skel->obj, mg, why, sizeof(why));

	if (err) {
		pr_warn("attach --replace: %s; the old programs still run\n", why);
		return err;
	}
	err = failpoint("bpf-load") ?: xdpfwd_bpf__load(skel);
	if (err) {
		pr_warn("attach --replace: cannot load the new programs over the maps in %s: %s "
			"(-vv shows the verifier's reasons)\n",
			pd->path, strerror(-err));
		return err;
	}
	err = migrate_copy(mg, why, sizeof(why));
	if (err) {
		pr_warn("attach --replace: %s; the old programs still run\n", why);
		return err;
	}
	if (fast_path) {
		*egress = fill_egress(bpf_map__fd(skel->maps.xdpfwd_egress), tunnel_ifindex);
		if (*egress < 0) {
			pr_warn("cannot list the interfaces: %s\n", strerror(-*egress));
			return *egress;
		}
	}
	err = replace_xdp(skel, ifindex, old_id, mode);
	if (err) {
		pr_warn("attach --replace: swapping the XDP program on '%s' failed: %s; the old "
			"programs still run\n",
			iface, strerror(-err));
		return err;
	}
	for (int i = 0; i < TC_ATTACHED(fast_path); i++) {
		err = tc_attach_one(tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex,
				    tc_slots[i].point, bpf_program__fd(tc_progs[i]), true);
		if (err) {
			pr_warn("attach --replace: swapping the tc program on the %s of '%s' "
				"failed: %s\n",
				tc_slots[i].where, tc_slots[i].on_tunnel ? tunnel : iface,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode,
	       int fast_path_opt, const struct xdpfwd_prefix *clients, __u32 nclients, bool replace,
	       struct txn *t)
{
	struct xdpfwd_config cur = {0};
	int fast_path = fast_path_opt;
	struct xdpfwd_config config = {0};
	struct xdp_program *xdp_prog = NULL;
	struct xdp_multiprog *mp = NULL;
	struct xdpfwd_bpf *skel = NULL;
	unsigned int ifindex, tunnel_ifindex;
	struct bpf_program *tc_progs[TC_PROGRAMS];
	struct migration mg = {0};
	enum tunnel_kind kind;
	int tc_attached = 0, egress = 0;
	char path[PATH_MAX + 32];
	__u32 prog_id = 0, zero = 0;
	bool legacy;
	int err;

	err = resolve_iface(iface, "interface", &ifindex);
	err = err ?: resolve_iface(tunnel, "tunnel", &tunnel_ifindex);
	if (err)
		return err;
	if (ifindex == tunnel_ifindex) {
		pr_warn("tunnel '%s' is the public interface itself: name the VPN tunnel device\n",
			tunnel);
		return -EINVAL;
	}
	err = tunnel_kind_of(tunnel, &kind);
	if (err)
		return err;
	err = pindir_lock(pd);
	if (err)
		return err;

	if (bpf_xdp_query_id(ifindex, 0, &prog_id))
		prog_id = 0;
	if (replace) {
		err = check_replace(pd, iface, ifindex, tunnel_ifindex, prog_id, &fast_path, &mode,
				    &cur);
		if (err)
			return err;
		if (!nclients) { /* the client networks stay as declared */
			clients = cur.clients;
			nclients = cur.client_count;
		}
		rekey_wildcards(pd, false); /* the old programs still run */
	} else if (prog_id) {
		pr_warn(
		    "interface '%s' already has an XDP program (id %u): run 'xdpfwd detach %s' if it is xdpfwd's, or attach --replace to upgrade it\n",
		    iface, prog_id, iface);
		return -EEXIST;
	} else if (fast_path < 0) {
		fast_path = 1; /* the default */
	}
	err = take_hooks(t, pd, ifindex, tunnel_ifindex);
	if (err)
		return err;

	skel = xdpfwd_bpf__open();
	if (!skel) {
		pr_warn("cannot open the BPF object: %s\n", strerror(errno));
		return -errno;
	}
	skel->rodata->fast_path_on = fast_path;
	skel->rodata->tunnel_ifindex = tunnel_ifindex;
	skel->rodata->public_ifindex = ifindex;
	skel->rodata->tunnel_ethernet = kind == TUNNEL_ETHERNET;
	{
		struct local_addrs own;

		/* The first address of each family the tunnel has: the source a
		 * client reaching its own mapped port is given. */
		if (!local_addrs_read(tunnel_ifindex, &own))
			for (size_t i = own.count; i-- > 0;) {
				if (own.entry[i].family == AF_INET)
					memcpy((void *)&skel->rodata->tunnel_addr4,
					       &own.entry[i].addr, sizeof(own.entry[i].addr));
				else
					memcpy((void *)&skel->rodata->tunnel_addr6,
					       &own.entry[i].addr, sizeof(own.entry[i].addr));
			}
	}
	tc_progs[TC_OUT] = skel->progs.xdpfwd_out;
	tc_progs[TC_TO_TUNNEL] = skel->progs.xdpfwd_to_tun;
	tc_progs[TC_FROM_TUNNEL] = skel->progs.xdpfwd_from_tun;
	err = pin_maps_at(skel, pd);
	if (err)
		goto out;
	if (replace) {
		err = replace_programs(skel, pd, iface, tunnel, ifindex, tunnel_ifindex, prog_id,
				       mode, fast_path, tc_progs, &egress, &mg);
		if (err)
			goto out;
		legacy = true;
		tc_attached = TC_ATTACHED(fast_path);
		goto pin;
	}

	{
		DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = skel->obj,
				    .prog_name = "xdpfwd_in");
		char why[ERR_LEN];

		/* Maps kept by detach from an older build: copied, as --replace. */
		err = migrate_plan(skel->obj, &mg, why, sizeof(why));
		if (err) {
			pr_warn("attach: %s\n", why);
			goto out;
		}

		xdp_prog = xdp_program__create(&opts);
	}
	err = libxdp_get_error(xdp_prog);
	if (err) {
		xdp_prog = NULL;
		pr_warn("cannot prepare the XDP program: %s\n", strerror(-err));
		goto out;
	}
	/* Loads the object too: the maps this build adds are pinned now. */
	err = failpoint("xdp-attach") ?: xdp_program__attach(xdp_prog, ifindex, mode, 0);
	if (err) {
		pr_warn("cannot attach XDP to '%s' in %s mode: %s%s\n", iface, mode_name(mode),
			strerror(-err),
			mode == XDP_MODE_NATIVE
			    ? " (try --mode generic; -vv shows libxdp's reasons)"
			    : "");
		goto out;
	}
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	legacy = !libxdp_get_error(mp) && xdp_multiprog__is_legacy(mp);
	{
		char why[ERR_LEN];

		err = migrate_copy(&mg, why, sizeof(why));
		if (err) {
			pr_warn("attach: %s\n", why);
			goto out;
		}
	}

	for (; tc_attached < TC_ATTACHED(fast_path); tc_attached++) {
		int i = tc_attached;

		err = tc_attach_one(tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex,
				    tc_slots[i].point, bpf_program__fd(tc_progs[i]), false);
		if (err) {
			pr_warn("cannot attach tc to the %s of '%s': %s\n", tc_slots[i].where,
				tc_slots[i].on_tunnel ? tunnel : iface, strerror(-err));
			goto out;
		}
	}
	if (fast_path) {
		egress = fill_egress(bpf_map__fd(skel->maps.xdpfwd_egress), tunnel_ifindex);
		if (egress < 0) {
			err = egress;
			pr_warn("cannot list the interfaces: %s\n", strerror(-err));
			goto out;
		}
	}

pin:
	err = unpin_programs(pd);
	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	err = err ?: failpoint("pin") ?: bpf_program__pin(skel->progs.xdpfwd_in, path);
	for (int i = 0; !err && i < tc_attached; i++) {
		pindir_file(pd, tc_slots[i].pin, path, sizeof(path));
		err = failpoint("pin") ?: bpf_program__pin(tc_progs[i], path);
	}
	if (err) {
		pr_warn("cannot pin the programs in %s: %s\n", pd->path, strerror(-err));
		goto out;
	}

	config.public_ifindex = ifindex;
	config.tunnel_ifindex = tunnel_ifindex;
	config.netns_ino = current_netns_ino();
	config.xdp_mode = mode;
	config.tc_handle = XDPFWD_TC_HANDLE;
	config.tc_priority = XDPFWD_TC_PRIORITY;
	config.attached = 1;
	config.fast_path = fast_path;
	config.client_count = nclients;
	memcpy(config.clients, clients, nclients * sizeof(*clients));
	err = txn_map_update(t, bpf_map__fd(skel->maps.xdpfwd_config), &zero, &config, BPF_ANY);
	if (err) {
		pr_warn("cannot record the attachment: %s\n", strerror(-err));
		goto out;
	}
	if (mg.count) {
		/* Last: until now a failure puts the old programs back, and they
		 * find their maps under the pins as they left them. */
		char why[ERR_LEN];

		err = migrate_commit(&mg, why, sizeof(why));
		if (err) {
			pr_warn("attach --replace: %s\n", why);
			goto out;
		}
		txn_note(t, "migrated %zu map%s to this build's layout\n", mg.count,
			 mg.count == 1 ? "" : "s");
	}
	rekey_wildcards(pd, true);
	txn_note(t, "%s %s (%s mode%s), tunnel %s, fast path %s, state in %s\n",
		 replace ? "replaced the programs on" : "attached to", iface, mode_name(mode),
		 legacy ? ", single program: libxdp's dispatcher is not usable on this kernel" : "",
		 tunnel, fast_path ? "on" : "off", pd->path);
	if (fast_path)
		txn_note(
		    t,
		    "XDP redirects to %d Ethernet device%s; other targets go through the stack\n",
		    egress, egress == 1 ? "" : "s");
out:
	if (err)
		migrate_abort(&mg);
	migrate_free(&mg);
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	xdp_program__close(xdp_prog);
	xdpfwd_bpf__destroy(skel);
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

int detach_cmd(struct pindir *pd, const char *iface, bool purge, struct txn *t)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	char path[PATH_MAX + 32];
	unsigned int ifindex;
	__u32 zero = 0, pinned_id = 0;
	int err;

	err = resolve_iface(iface, "interface", &ifindex);
	err = err ?: pindir_lock(pd);
	err = err ?: maps_open(pd, &maps, &config);
	if (err)
		return err;
	if (!config.attached || config.public_ifindex != ifindex) {
		pr_warn("xdpfwd is not attached to '%s' (pin dir %s)\n", iface, pd->path);
		err = -ENOENT;
		goto out;
	}
	err = take_hooks(t, pd, ifindex, config.tunnel_ifindex);
	if (err)
		goto out;

	pinned_id = pinned_prog_id(pd);
	err = xdp_detach_ours(iface, ifindex, pinned_id);
	if (err)
		goto out;
	/* Every tc hook, whatever the fast path: a filter a half-done
	 * operation left is found too. */
	for (int i = 0; i < TC_PROGRAMS; i++) {
		unsigned int dev = tc_slots[i].on_tunnel ? config.tunnel_ifindex : ifindex;

		if (!tc_prog_id(dev, tc_slots[i].point))
			continue;
		err = tc_detach_one(dev, tc_slots[i].point);
		if (err) {
			pr_warn("cannot remove the tc filter from the %s of %s\n",
				tc_slots[i].where, tc_slots[i].on_tunnel ? "the tunnel" : iface);
			goto out;
		}
	}
	err = verify_detached(iface, ifindex, config.tunnel_ifindex, pinned_id);
	err = err ?: unpin_programs(pd);
	if (err)
		goto out;
	config.attached = 0;
	err = txn_map_update(t, maps.config, &zero, &config, BPF_ANY);
	if (err) {
		pr_warn("cannot record the detachment: %s\n", strerror(-err));
		goto out;
	}
	if (purge) {
		/* Every pinned map is ours: all of them go, whatever this build
		 * knows by name. */
		DIR *dir = opendir(pd->path);
		struct dirent *e;

		while (!err && dir && (e = readdir(dir)))
			if (!strncmp(e->d_name, "xdpfwd_", 7)) {
				pindir_file(pd, e->d_name, path, sizeof(path));
				err = failpoint("unpin") ?: unlink(path) ? -errno : 0;
			}
		if (dir)
			closedir(dir);
		if (err) {
			pr_warn("cannot remove the maps from %s: %s\n", pd->path, strerror(-err));
			goto out;
		}
		rmdir(pd->path);
	}
	txn_note(t, "detached from %s%s\n", iface, purge ? ", state removed" : ", mappings kept");
out:
	maps_close(&maps);
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
