/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * capacity.h - how many mappings the maps hold, chosen at attach (--capacity)
 * and read back from the maps themselves: max_entries of xdpfwd_mappings
 * (bpf_obj_get_info_by_fd), so the number lives in one place and no file or
 * record can disagree with it. Port-entry maps (xdpfwd_fwd, xdpfwd_rev) hold
 * XDPFWD_PORTS_PER_MAPPING entries a mapping; XDPFWD_CAPACITY_MAPS in
 * include/xdpfwd.h lists the maps sized by it.
 */
#ifndef XDPFWD_CAPACITY_H
#define XDPFWD_CAPACITY_H

#include <stddef.h>
#include <bpf/libbpf.h>
#include "pindir.h"
#include "spec.h"
#include "table.h"

/* The capacity of the maps MAPS holds open: 0 when it cannot be read (errno
 * set). One syscall. */
__u32 table_capacity(const struct xdpfwd_maps *maps);
/* The capacity of the maps pinned in PD: 0 with *CAP 0 when none are pinned
 * there, else 0 or -errno. */
int capacity_pinned(const struct pindir *pd, __u32 *cap);
/* Sizes every map of OBJ (opened, not loaded) that XDPFWD_CAPACITY_MAPS
 * lists for CAP mappings. 0 or -errno (from bpf_map__set_max_entries()). */
int capacity_set(struct bpf_object *obj, __u32 cap);
/* Whether COUNT mappings covering PORTS ports fit a capacity of CAP: 0, or
 * -1 with ERR (ERR_LEN bytes) naming what exceeds it and the capacity:
 * "N mappings, more than a capacity of CAP holds". */
int capacity_fits(size_t count, size_t ports, __u32 cap, char *err);
/* The smallest capacity that holds COUNT mappings covering PORTS ports, at
 * least XDPFWD_DEFAULT_CAPACITY (a rebuild from the state file). */
__u32 capacity_needed(size_t count, size_t ports);

/* capacity_fits() for the table RULES (COUNT of them) in the maps MAPS,
 * ERR ending with how to resize them (--capacity's range). */
int capacity_check(const struct xdpfwd_maps *maps, const struct rule *rules, size_t count,
		   char *err);
/* The line for a change that found no free slot or port entry (-ENOSPC,
 * -E2BIG): "WHAT: the table is full: ...", naming --capacity. */
void capacity_full(const char *what, const struct xdpfwd_maps *maps);

#endif
