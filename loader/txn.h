/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * txn.h - all or nothing for the multi-step operations: attach, attach
 * --replace, detach, serve's rebuild, and every change of the table (add,
 * del, load, reload, the end of leases). Before its first step an operation
 * takes what it may change: the entries of the pin directory (held open, so
 * an unpinned map or program can be pinned again), the programs on its hooks
 * (XDP on an interface, our tc filter on a device's ingress or egress), and
 * the state file's bytes. Map writes go through txn_map_update() and
 * txn_map_delete(), which keep each entry's old value. If a step fails,
 * txn_rollback() puts back every map entry (newest first), every hook, every
 * pin and the file, and the operation reports that nothing was changed; on
 * success txn_commit() prints the notes the operation left for the user.
 *
 * A process killed half way is not undone (nothing can be); serve's start
 * makes maps and file agree then (serve.c). Undoing passes no failpoint.
 */
#ifndef XDPFWD_TXN_H
#define XDPFWD_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include "strbuf.h"

struct txn_pin;
struct txn_hook;
struct txn_map;
struct txn_undo;
struct txn_file;

struct txn {
	char pin_dir[4096];
	bool pins_taken, pin_dir_existed;
	struct txn_pin *pins;
	size_t npins;
	struct txn_hook *hooks;
	size_t nhooks;
	struct txn_map *maps; /* key and value sizes of the maps written, by fd */
	size_t nmaps;
	struct txn_undo *undo;
	size_t nundo, undo_cap;
	struct txn_file *files; /* the state file and its journal, when taken */
	size_t nfiles;
	struct strbuf notes; /* stdout, once committed */
	bool failed;	     /* something could not be taken: rolling back would not be whole */
	/* Set by the caller after txn_begin() when the map fds it writes
	 * through stay open, each the same map, for the whole operation (a
	 * change of the table; not attach, which replaces maps): a map is then
	 * known by its fd, without asking the kernel at each write. */
	bool fds_stable;
};

void txn_begin(struct txn *t);
/* Takes every entry of the pin directory DIR (which may not exist yet). */
int txn_take_pins(struct txn *t, const char *dir);
/* Takes the XDP program on IFINDEX (or its absence). */
int txn_take_xdp(struct txn *t, unsigned int ifindex);
/* Takes the program of the tc filter HANDLE/PRIORITY at POINT of IFINDEX. */
int txn_take_tc(struct txn *t, unsigned int ifindex, enum bpf_tc_attach_point point, __u32 handle,
		__u32 priority);
/* Takes the bytes of the file PATH (or its absence), and of its journal
 * (journal.h) the same way. */
int txn_take_file(struct txn *t, const char *path);
/* Takes the length of the file PATH (or its absence) that a step appends
 * to: undoing truncates it back. */
int txn_take_append(struct txn *t, const char *path);
/* bpf_map_update_elem and bpf_map_delete_elem that pass a failpoint and, with
 * T (which may be NULL), keep the old value: 0 or -errno. */
int txn_map_update(struct txn *t, int fd, const void *key, const void *value, __u64 flags);
int txn_map_delete(struct txn *t, int fd, const void *key);
/* What a batched update knows of the values its keys held before. */
enum txn_olds {
	TXN_OLDS_GIVEN,	 /* OLDS holds each one: the caller read them */
	TXN_OLDS_NONE,	 /* none held one worth keeping (fresh slots): undo deletes
			  * them, or in an array writes zeros; OLDS is NULL */
	TXN_OLDS_LOOKUP, /* unknown: each is looked up first; OLDS is NULL */
};
/* N updates of FD in one syscall (bpf_map_update_batch), each key's old
 * value kept as HOW says: KEYS, VALUES and OLDS are arrays of the map's key
 * and value sizes (a per-CPU value is ncpu values of the size rounded up to
 * 8 bytes, as the syscall takes them). One failpoint for the batch. */
int txn_map_update_batch(struct txn *t, int fd, const void *keys, const void *values,
			 const void *olds, __u32 n, enum txn_olds how);
/* A line for stdout, printed only if the operation commits. */
void txn_note(struct txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void txn_commit(struct txn *t);
/* Puts everything taken back as it was: 0 when nothing had changed, 1 when
 * something was put back, or -errno after a message for each thing that
 * could not be. Frees T like txn_commit(). */
int txn_rollback(struct txn *t);

#endif
