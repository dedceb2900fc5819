/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * conflict.h - what a new mapping would collide with on this server: a
 * socket listening on its public port, the ephemeral port range the kernel
 * picks the server's own and masqueraded source ports from, and the client
 * networks declared at attach. Each check can be skipped with --force; an
 * overlap between mappings cannot (validate_table() refuses it).
 */
#ifndef XDPFWD_CONFLICT_H
#define XDPFWD_CONFLICT_H

#include "spec.h"

struct listener {
	__u8 family;
	__u8 proto;
	__u16 port;
	union xdpfwd_addr addr;
};

/* What the host uses, read from /proc in the current network namespace. */
struct host_ports {
	unsigned int ephemeral_first, ephemeral_last; /* net.ipv4.ip_local_port_range */
	__u8 reserved[65536 / 8];		      /* net.ipv4.ip_local_reserved_ports */
	struct listener *listeners;		      /* TCP listening, UDP bound unconnected */
	size_t listener_count, listener_cap;
};

int host_ports_read(struct host_ports *host);
void host_ports_free(struct host_ports *host);
/* "8080,9000-9010" as written in ip_local_reserved_ports, into RESERVED. */
int parse_port_set(const char *text, __u8 reserved[65536 / 8]);

/* Checks WANT's new mappings (those HAVE, sorted like table_live(), does not
 * already hold) against HOST
 * and CONFIG's client networks; the first conflict goes to err. */
int check_conflicts(const struct rule *want, size_t count, const struct rule *have, size_t nhave,
		    const struct host_ports *host, const struct xdpfwd_config *config, char *err);

/* Whether check_conflicts() of WANT against HAVE reads HOST at all: some
 * new mapping takes a public side HAVE does not hold. When not, the caller
 * may spare reading /proc (host_ports_read()) and pass a zeroed HOST. */
bool conflicts_need_host(const struct rule *want, size_t count, const struct rule *have,
			 size_t nhave);

#endif
