/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * persist.h - keeping the state file (state.h) in step with the maps. Every
 * command that changes them checks first that the file is one it can read,
 * and rewrites it after; all under the pin directory's lock.
 */
#ifndef XDPFWD_PERSIST_H
#define XDPFWD_PERSIST_H

#include "pindir.h"
#include "state.h"

/* 0 when PATH is absent or readable; else -1, with the reason in err. */
int state_check(const char *path, char *err);
/* Writes RULES, the table just applied, and CONFIG's attachment to PATH. */
int state_write(const char *path, const struct xdpfwd_config *config, const struct rule *rules,
		size_t count, char *err);
/* Writes what the maps hold (and CONFIG's attachment) to PATH. */
int state_sync(const char *path, const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	       char *err);

#endif
