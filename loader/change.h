/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * change.h - changes to the table, shared by the CLI and serve. Each builds
 * the whole table as it should be and hands it to apply(): bad input never
 * touches a map.
 */
#ifndef XDPFWD_CHANGE_H
#define XDPFWD_CHANGE_H

#include "pindir.h"

/* The live table as rules (table_live()), with room for EXTRA more. */
int live_rules(const struct xdpfwd_maps *maps, struct rule **rules, size_t *count, size_t extra);
/* Validates WANT as a whole, checks its new mappings against the host when
 * CHECK_HOST (no --force), and only then writes the difference from HAVE,
 * and WANT to the state file STATE (unless NULL). Messages start with WHAT. */
int apply(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config,
	  const struct rule *have, size_t nhave, struct rule *want, size_t count, bool check_host,
	  const char *state, const char *what, struct apply_summary *sum);
/* The lease of a rule with a TTL: renewed from now, or (RENEW false) kept
 * from the live mapping it repeats, so reloading a file extends nothing. */
void set_expiry(struct rule *r, const struct rule *have, size_t nhave, bool renew);
/* A text file of at most 64 MiB, or NULL after a message naming CMD. */
char *read_file(const char *path, const char *cmd);
/* Makes the table the config file PATH (load, and serve's reload). */
int load_file(const struct xdpfwd_maps *maps, const struct xdpfwd_config *config, const char *path,
	      bool force, const char *state, const char *cmd);

#endif
