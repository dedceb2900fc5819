/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * restore.h - the table of a state file written back into maps that lack
 * it: by serve after a reboot (the maps went with bpffs) and by an attach
 * whose maps are gone while the state file still holds a table (a reboot
 * without serve, or detach --purge). A state file is never rewritten from
 * maps emptier than it without the operator asking (detach --purge-state).
 *
 * While the table is being written, a marker file beside the state file
 * (state_rebuild_marker()) says so: a process killed half way leaves maps
 * without the table, and until a rebuild finishes nothing may rewrite the
 * file from them (serve's start begins the rebuild again).
 */
#ifndef XDPFWD_RESTORE_H
#define XDPFWD_RESTORE_H

#include <stdbool.h>
#include "attach.h"
#include "state.h"

/* Attaches as REQ (attach_new()) and writes SAVED's mappings into the new
 * maps, and the state file STATE after them, all in T: those the public
 * interface cannot take yet (a wildcard of a family it has no address of)
 * stay in the file as pending, each said in a line starting with CMD. Creates
 * the marker; the caller removes it with restore_finish() once T is
 * committed or rolled back. 0 or -errno after a message. */
int restore_attach(struct pindir *pd, const struct attach_req *req, const struct saved_state *saved,
		   const char *state, const char *cmd, struct txn *t);
/* After T of restore_attach() was committed or rolled back with result UNDO
 * (txn_rollback()'s; 0 when committed): removes the marker, unless undoing
 * failed and the maps may lack the table. */
void restore_finish(const char *state, int undo);

/* serve's rebuild after a reboot: attaches as SAVED records and writes its
 * table back, all or nothing (the file stays as it was on failure, and the
 * next start begins again from it). Prints what was done. 0 or -errno. */
int attach_rebuild(struct pindir *pd, const struct saved_state *saved, const char *state);

/* Splits RULES into those the public interface's addresses LOCAL let be
 * written now (READY) and those that wait (WAITING), both calloc'd; each
 * waiting one is said in a line starting with LOG_AS, unless it is NULL.
 * 0 or -ENOMEM. */
int split_ready(const struct rule *rules, size_t n, const struct local_addrs *local,
		struct rule **ready, size_t *nready, struct rule **waiting, size_t *nwaiting,
		const char *log_as);

#endif
