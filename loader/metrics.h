/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * metrics.h - the Prometheus text exposition (format 0.0.4) of the live
 * state, read from the maps at scrape time and summed over CPUs.
 */
#ifndef XDPFWD_METRICS_H
#define XDPFWD_METRICS_H

#include <stddef.h>
#include "pindir.h"
#include "strbuf.h"

/* Writes every metric into OUT (reset first), reading the maps into VIEW;
 * both keep their buffers for the next scrape. Series cost no allocation:
 * OUT's first allocation is sized by its hint, the size of the last scrape,
 * so a steady table costs one allocation per scrape, whose buffer is handed
 * to the HTTP server without a copy. -ENOMEM when OUT failed. */
/* EXPIRED: mappings the daemon removed at the end of their lease. */
int metrics_render(const struct pindir *pd, const struct xdpfwd_maps *maps, struct table_view *view,
		   __u64 expired, struct strbuf *out);

/* Counts a read or write of the state file that serve could not do (a
 * refused or failed write, an unreadable journal), for
 * xdpfwd_state_file_errors_total: the alert XdpfwdStateFileRefused
 * (dist/prometheus). Any thread. */
void metrics_state_error(void);

#endif
