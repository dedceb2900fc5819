/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_SERVE_H
#define XDPFWD_SERVE_H

#include "fleetd.h"
#include "pcp_daemon.h"
#include "pindir.h"

/* Loopback only by default: metrics are for the local Prometheus. */
#define XDPFWD_DEFAULT_METRICS "127.0.0.1:9977"

/*
 * Serves /metrics and ends leases until SIGTERM or SIGINT; forwarding never
 * depends on it. On start it reconciles with the state file in STATE_DIR:
 * maps that are there are adopted as they are (a restart), maps that are
 * gone (a reboot) are rebuilt from the file and the programs attached again
 * as it records. With CONFIG, the file is applied on start and on SIGHUP.
 * With PCP enabled (pcp_daemon.h), it also answers NAT-PMP and PCP on the
 * tunnel addresses PCP names: -EINVAL when one is not the tunnel's.
 * With FLEET enabled (fleetd.h), etcd is the table instead of CONFIG (the
 * caller refuses both); FLEET's etcd settings are moved into the daemon.
 */
int serve_cmd(struct pindir *pd, const char *listen, const char *state_dir, const char *config,
	      const struct pcpd_config *pcp, struct fleetd_config *fleet);

#endif
