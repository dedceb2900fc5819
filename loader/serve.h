/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_SERVE_H
#define XDPFWD_SERVE_H

#include "pindir.h"

/* Loopback only by default: metrics are for the local Prometheus. */
#define XDPFWD_DEFAULT_METRICS "127.0.0.1:9977"

/* Serves /metrics until SIGTERM or SIGINT. Forwarding never depends on it. */
int serve_cmd(struct pindir *pd, const char *listen);

#endif
