/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * pindir.h - the bpffs directory that holds xdpfwd's live state: its maps and
 * programs. Every command works on it, so the tool needs no daemon.
 */
#ifndef XDPFWD_PINDIR_H
#define XDPFWD_PINDIR_H

#include <limits.h>
#include <stdbool.h>
#include "table.h"

#define XDPFWD_DEFAULT_PIN_DIR	"/sys/fs/bpf/xdpfwd"
#define XDPFWD_PROG_IN		"prog_xdpfwd_in"
#define XDPFWD_PROG_OUT		"prog_xdpfwd_out"
#define XDPFWD_PROG_TO_TUNNEL	"prog_xdpfwd_to_tun"
#define XDPFWD_PROG_FROM_TUNNEL "prog_xdpfwd_from_tun"

struct pindir {
	char path[PATH_MAX];
	int lock_fd;
};

/* --pin-dir, else $XDPFWD_PIN_DIR, else the default; makes sure a bpffs is
 * there (see pindir.c for the ip netns exec case). */
int pindir_open(struct pindir *pd, const char *requested, bool create);
void pindir_close(struct pindir *pd);
/* Serialises writers: one command changes the table at a time. */
int pindir_lock(struct pindir *pd);
void pindir_unlock(struct pindir *pd);
void pindir_file(const struct pindir *pd, const char *name, char *buf, size_t len);

/* Opens the pinned maps; fails with a hint when attach never ran here or ran
 * in another network namespace. */
int maps_open(const struct pindir *pd, struct xdpfwd_maps *maps, struct xdpfwd_config *config);
void maps_close(struct xdpfwd_maps *maps);

__u64 current_netns_ino(void);
/* The addresses of an interface, IPv4 first, for wildcard mappings. */
int local_addrs_read(unsigned int ifindex, struct local_addrs *out);

#endif
