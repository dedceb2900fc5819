/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * localaddr.h - the addresses an interface holds.
 */
#ifndef XDPFWD_LOCALADDR_H
#define XDPFWD_LOCALADDR_H

#include "table.h"

/* The addresses of IFINDEX into OUT: IPv4 first, then IPv6 without
 * link-local ones, each in network byte order, at most as many as OUT holds
 * (the rest are left out). A wildcard mapping answers on the first of its
 * family. 0, -ENODEV when there is no such interface, or -errno of
 * getifaddrs(3). */
int local_addrs_read(unsigned int ifindex, struct local_addrs *out);

#endif
