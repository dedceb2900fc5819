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
	char path[PATH_MAX]; /* where it is reached: maybe through /proc/PID/root */
	/* As messages name it: as given (--pin-dir, $XDPFWD_PIN_DIR) or the
	 * default, never the /proc/PID/root path it is reached through. */
	char shown[PATH_MAX];
	int lock_fd;
};

/* How a command uses the pin directory. */
enum pindir_use {
	/* What is pinned there, if anything: never mounts a bpffs nor creates
	 * the directory (list, stats, add, del, load, detach). */
	PINDIR_EXISTING,
	/* attach and serve, which pin: a bpffs is mounted at the parent when
	 * none is there (see pindir.c for the ip netns exec case), and the
	 * directory is created. */
	PINDIR_CREATE,
};

/* --pin-dir, else $XDPFWD_PIN_DIR, else the default, used as USE says. 0, or
 * -errno after one line naming the directory: not absolute, too long, (with
 * PINDIR_EXISTING) no bpffs at its parent, or (PINDIR_CREATE) no bpffs could
 * be mounted or the directory not created. */
int pindir_open(struct pindir *pd, const char *requested, enum pindir_use use);
void pindir_close(struct pindir *pd);
/* Serialises writers: one command changes the table at a time. */
int pindir_lock(struct pindir *pd);
void pindir_unlock(struct pindir *pd);
void pindir_file(const struct pindir *pd, const char *name, char *buf, size_t len);

#endif
