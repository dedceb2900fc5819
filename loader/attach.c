// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "log.h"
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

static void unpin_programs(const struct pindir *pd)
{
	char path[PATH_MAX + 32];

	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	unlink(path);
	pindir_file(pd, XDPFWD_PROG_OUT, path, sizeof(path));
	unlink(path);
}

static int pin_maps_at(struct xdpfwd_bpf *skel, const struct pindir *pd)
{
	struct bpf_map *map;
	char path[PATH_MAX + 32];

	bpf_object__for_each_map (map, skel->obj) {
		if (strncmp(bpf_map__name(map), "xdpfwd_", 7))
			continue; /* .rodata and friends */
		pindir_file(pd, bpf_map__name(map), path, sizeof(path));
		if (bpf_map__set_pin_path(map, path))
			return -EINVAL;
	}
	return 0;
}

int attach_cmd(struct pindir *pd, const char *iface, const char *tunnel, enum xdp_attach_mode mode)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = XDPFWD_TC_HANDLE, .priority = XDPFWD_TC_PRIORITY);
	struct xdpfwd_config config = {0};
	struct xdp_program *xdp_prog = NULL;
	struct xdp_multiprog *mp = NULL;
	struct xdpfwd_bpf *skel = NULL;
	unsigned int ifindex, tunnel_ifindex;
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
	err = pindir_lock(pd);
	if (err)
		return err;

	if (bpf_xdp_query_id(ifindex, 0, &prog_id) == 0 && prog_id) {
		pr_warn(
		    "interface '%s' already has an XDP program (id %u): run 'xdpfwd detach %s' if it is xdpfwd's\n",
		    iface, prog_id, iface);
		return -EEXIST;
	}

	skel = xdpfwd_bpf__open();
	if (!skel) {
		pr_warn("cannot open the BPF object: %s\n", strerror(errno));
		return -errno;
	}
	err = pin_maps_at(skel, pd);
	if (err)
		goto out;

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

	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_warn("cannot create the clsact qdisc on '%s': %s\n", iface, strerror(-err));
		goto detach_xdp;
	}
	tc.prog_fd = bpf_program__fd(skel->progs.xdpfwd_out);
	err = bpf_tc_attach(&hook, &tc);
	if (err) {
		pr_warn("cannot attach tc to the egress of '%s': %s\n", iface, strerror(-err));
		goto detach_xdp;
	}

	unpin_programs(pd);
	pindir_file(pd, XDPFWD_PROG_IN, path, sizeof(path));
	err = bpf_program__pin(skel->progs.xdpfwd_in, path);
	pindir_file(pd, XDPFWD_PROG_OUT, path, sizeof(path));
	err = err ?: bpf_program__pin(skel->progs.xdpfwd_out, path);
	if (err) {
		pr_warn("cannot pin the programs in %s: %s\n", pd->path, strerror(-err));
		goto detach_tc;
	}

	config.public_ifindex = ifindex;
	config.tunnel_ifindex = tunnel_ifindex;
	config.netns_ino = current_netns_ino();
	config.xdp_mode = mode;
	config.tc_handle = XDPFWD_TC_HANDLE;
	config.tc_priority = XDPFWD_TC_PRIORITY;
	config.attached = 1;
	err = bpf_map_update_elem(bpf_map__fd(skel->maps.xdpfwd_config), &zero, &config, BPF_ANY);
	if (err) {
		pr_warn("cannot record the attachment: %s\n", strerror(-err));
		goto unpin;
	}
	printf("attached to %s (%s mode%s), tunnel %s, state in %s\n", iface, mode_name(mode),
	       legacy ? ", single program: libxdp's dispatcher is not usable on this kernel" : "",
	       tunnel, pd->path);
	goto out;

unpin:
	unpin_programs(pd);
detach_tc:
	tc.prog_fd = tc.prog_id = tc.flags = 0;
	bpf_tc_detach(&hook, &tc);
detach_xdp:
	xdp_program__detach(xdp_prog, ifindex, mode, 0);
out:
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	xdp_program__close(xdp_prog);
	xdpfwd_bpf__destroy(skel);
	return err;
}

int detach_cmd(struct pindir *pd, const char *iface, bool purge)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc);
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

	hook.ifindex = ifindex;
	tc.handle = config.tc_handle;
	tc.priority = config.tc_priority;
	if (bpf_tc_detach(&hook, &tc))
		pr_warn("cannot remove the tc filter from the egress of '%s'\n", iface);

	unpin_programs(pd);
	config.attached = 0;
	bpf_map_update_elem(maps.config, &zero, &config, BPF_ANY);
	if (purge) {
		const char *names[] = {XDPFWD_MAP_FWD,	    XDPFWD_MAP_REV,   XDPFWD_MAP_MAPPINGS,
				       XDPFWD_MAP_COUNTERS, XDPFWD_MAP_STATS, XDPFWD_MAP_CONFIG};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			pindir_file(pd, names[i], path, sizeof(path));
			unlink(path);
		}
		rmdir(pd->path);
	}
	printf("detached from %s%s\n", iface, purge ? ", state removed" : ", mappings kept");
out:
	maps_close(&maps);
	return err;
}
