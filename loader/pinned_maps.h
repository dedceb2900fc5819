/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pinned_maps.h - the maps attach pinned in the pin directory (pindir.h),
 * opened by their names (XDPFWD_USER_MAPS in table.h), so every command
 * works on the live table without the daemon.
 */
#ifndef XDPFWD_PINNED_MAPS_H
#define XDPFWD_PINNED_MAPS_H

#include "pindir.h"
#include "table.h"

/* Opens every map of MAPS from PD and reads the attachment into CONFIG.
 * 0, or -errno after one line: -ENOENT when attach never ran here ("run
 * 'xdpfwd attach ...' first"), -EXDEV when the state belongs to another
 * network namespace, -EIO when the config map cannot be read. On failure
 * nothing is left open. */
int maps_open(const struct pindir *pd, struct xdpfwd_maps *maps, struct xdpfwd_config *config);
/* Closes what maps_open() opened; every descriptor becomes -1. */
void maps_close(struct xdpfwd_maps *maps);

/* The inode of this process's network namespace (/proc/self/ns/net), as the
 * config map records it: 0 when it cannot be read. */
__u64 current_netns_ino(void);

#endif
