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
#include "migrate.h"
#include "ifkind.h"
#include "log.h"
#include "table.h"
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

static void unpin_programs(const struct pindir *pd)
{
	char path[PATH_MAX + 32];

	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	unlink(path);
	for (int i = 0; i < TC_PROGRAMS; i++) {
		pindir_file(pd, tc_slots[i].pin, path, sizeof(path));
		unlink(path);
	}
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

static int tc_detach_one(unsigned int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY);

	return bpf_tc_detach(&hook, &tc);
}

/* REPLACE swaps the program of our filter in one step (BPF_TC_F_REPLACE). */
static int tc_attach_one(unsigned int ifindex, enum bpf_tc_attach_point point, int prog_fd,
			 bool replace)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = replace ? BPF_TC_F_REPLACE : 0);
	int err = bpf_tc_hook_create(&hook);

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
	struct if_nameindex *ifs = if_nameindex(), *i;
	int n = 0;

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

	opts.old_prog_fd = bpf_prog_get_fd_by_id(old_id);
	if (opts.old_prog_fd < 0)
		return -errno;
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.xdpfwd_in), flags, &opts);
	close(opts.old_prog_fd);
	return err;
}

/* Loads SKEL over the pinned maps, fills its devmap, then swaps XDP and each
 * tc filter in turn. A failure half way leaves old and new programs running
 * together, which share every map and layout: the message says so. */
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
	err = xdpfwd_bpf__load(skel);
	if (err) {
		pr_warn(
		    "attach --replace: cannot load the new programs over the maps in %s: %s "
		    "(-vv shows why; a build whose maps differ needs detach --purge and attach)\n",
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
			pr_warn(
			    "attach --replace: swapping the tc program on the %s of '%s' failed: "
			    "%s; XDP and %d tc programs are new, the others old\n",
			    tc_slots[i].where, tc_slots[i].on_tunnel ? tunnel : iface,
			    strerror(-err), i);
			return err;
		}
	}
	return 0;
}

int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode,
	       int fast_path_opt, const struct xdpfwd_prefix *clients, __u32 nclients, bool replace)
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
		char why[ERR_LEN];

		err = replace_programs(skel, pd, iface, tunnel, ifindex, tunnel_ifindex, prog_id,
				       mode, fast_path, tc_progs, &egress, &mg);
		if (err) {
			migrate_abort(&mg);
			goto out;
		}
		err = migrate_commit(&mg, why, sizeof(why));
		if (err) {
			pr_warn("attach --replace: the new programs run, but %s\n", why);
			goto out;
		}
		if (mg.count)
			printf("migrated %zu map%s to this build's layout\n", mg.count,
			       mg.count == 1 ? "" : "s");
		legacy = true;
		tc_attached = TC_ATTACHED(fast_path);
		goto pin;
	}

	{
		DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = skel->obj,
				    .prog_name = "xdpfwd_in");

		xdp_prog = xdp_program__create(&opts);
	}
	err = libxdp_get_error(xdp_prog);
	if (err) {
		xdp_prog = NULL;
		pr_warn("cannot prepare the XDP program: %s\n", strerror(-err));
		goto out;
	}
	err = xdp_program__attach(xdp_prog, ifindex, mode, 0);
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

	for (; tc_attached < TC_ATTACHED(fast_path); tc_attached++) {
		int i = tc_attached;

		err = tc_attach_one(tc_slots[i].on_tunnel ? tunnel_ifindex : ifindex,
				    tc_slots[i].point, bpf_program__fd(tc_progs[i]), false);
		if (err) {
			pr_warn("cannot attach tc to the %s of '%s': %s\n", tc_slots[i].where,
				tc_slots[i].on_tunnel ? tunnel : iface, strerror(-err));
			goto detach;
		}
	}
	if (fast_path) {
		egress = fill_egress(bpf_map__fd(skel->maps.xdpfwd_egress), tunnel_ifindex);
		if (egress < 0) {
			err = egress;
			pr_warn("cannot list the interfaces: %s\n", strerror(-err));
			goto detach;
		}
	}

pin:
	unpin_programs(pd);
	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	err = bpf_program__pin(skel->progs.xdpfwd_in, path);
	for (int i = 0; !err && i < tc_attached; i++) {
		pindir_file(pd, tc_slots[i].pin, path, sizeof(path));
		err = bpf_program__pin(tc_progs[i], path);
	}
	if (err) {
		pr_warn("cannot pin the programs in %s: %s\n", pd->path, strerror(-err));
		if (replace)
			goto out; /* they run; only their pins are missing */
		goto unpin;
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
	err = bpf_map_update_elem(bpf_map__fd(skel->maps.xdpfwd_config), &zero, &config, BPF_ANY);
	if (err) {
		pr_warn("cannot record the attachment: %s\n", strerror(-err));
		goto unpin;
	}
	rekey_wildcards(pd, true);
	printf("%s %s (%s mode%s), tunnel %s, fast path %s, state in %s\n",
	       replace ? "replaced the programs on" : "attached to", iface, mode_name(mode),
	       legacy ? ", single program: libxdp's dispatcher is not usable on this kernel" : "",
	       tunnel, fast_path ? "on" : "off", pd->path);
	if (fast_path)
		printf(
		    "XDP redirects to %d Ethernet device%s; other targets go through the stack\n",
		    egress, egress == 1 ? "" : "s");
	goto out;

unpin:
	unpin_programs(pd);
detach:
	while (tc_attached-- > 0)
		tc_detach_one(tc_slots[tc_attached].on_tunnel ? tunnel_ifindex : ifindex,
			      tc_slots[tc_attached].point);
	xdp_program__detach(xdp_prog, ifindex, mode, 0);
out:
	migrate_free(&mg);
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	xdp_program__close(xdp_prog);
	xdpfwd_bpf__destroy(skel);
	return err;
}

int detach_cmd(struct pindir *pd, const char *iface, bool purge)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct xdp_program *xdp_prog;
	char path[PATH_MAX + 32];
	unsigned int ifindex;
	__u32 zero = 0;
	int err, prog_fd;

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

	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	prog_fd = bpf_obj_get(path);
	xdp_prog = prog_fd >= 0 ? xdp_program__from_fd(prog_fd) : NULL;
	if (!xdp_prog || libxdp_get_error(xdp_prog) ||
	    (err = xdp_program__detach(xdp_prog, ifindex, config.xdp_mode, 0)))
		pr_warn("cannot detach XDP from '%s': %s\n", iface, strerror(err ? -err : errno));
	if (xdp_prog && !libxdp_get_error(xdp_prog))
		xdp_program__close(xdp_prog);
	else if (prog_fd >= 0)
		close(prog_fd);

	for (int i = 0; i < TC_ATTACHED(config.fast_path); i++) {
		unsigned int dev = tc_slots[i].on_tunnel ? config.tunnel_ifindex : ifindex;

		if (tc_detach_one(dev, tc_slots[i].point))
			pr_warn("cannot remove the tc filter from the %s of %s\n",
				tc_slots[i].where, tc_slots[i].on_tunnel ? "the tunnel" : iface);
	}

	unpin_programs(pd);
	config.attached = 0;
	bpf_map_update_elem(maps.config, &zero, &config, BPF_ANY);
	if (purge) {
		/* Every pinned map is ours: all of them go, whatever this build
		 * knows by name. */
		DIR *dir = opendir(pd->path);
		struct dirent *e;

		while (dir && (e = readdir(dir)))
			if (!strncmp(e->d_name, "xdpfwd_", 7)) {
				pindir_file(pd, e->d_name, path, sizeof(path));
				unlink(path);
			}
		if (dir)
			closedir(dir);
		rmdir(pd->path);
	}
	printf("detached from %s%s\n", iface, purge ? ", state removed" : ", mappings kept");
out:
	maps_close(&maps);
	return err;
}
