/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_SHOW_H
#define XDPFWD_SHOW_H

#include <stdbool.h>
#include "table.h"

int show_list(const struct xdpfwd_maps *maps, bool json);
int show_stats(const struct xdpfwd_maps *maps, bool json);
/* Rates per mapping every INTERVAL seconds, busiest first, until SIGINT or
 * SIGTERM; with JSON, one object per line. */
int show_watch(const struct xdpfwd_maps *maps, double interval, bool json);

#endif
