/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * metrics.h - the Prometheus text exposition (format 0.0.4) of the live
 * state, read from the maps at scrape time and summed over CPUs.
 */
#ifndef XDPFWD_METRICS_H
#define XDPFWD_METRICS_H

#include <stddef.h>
#include "pindir.h"

/* The text of one scrape. Series cost no allocation: the first one is sized by
 * HINT, the size of the last scrape, so a steady table costs one allocation
 * per scrape, whose buffer is handed to the HTTP server without a copy. */
struct text_buf {
	char *data;
	size_t len, cap;
	size_t hint;
	int failed; /* out of memory: the scrape is answered with 500 */
};

void buf_printf(struct text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes every metric into OUT (cleared first), reading the maps into VIEW;
 * both keep their buffers for the next scrape. */
/* EXPIRED: mappings the daemon removed at the end of their lease. */
int metrics_render(const struct pindir *pd, const struct xdpfwd_maps *maps, struct table_view *view,
		   __u64 expired, struct text_buf *out);

#endif
