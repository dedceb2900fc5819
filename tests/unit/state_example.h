/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* The README's example of a state file, as written there: the state and
 * journal tests start from it. */
#ifndef XDPFWD_TEST_STATE_EXAMPLE_H
#define XDPFWD_TEST_STATE_EXAMPLE_H

static const char *const readme_example =
    "xdpfwd-state 1\n"
    "attach eth0 tunnel=wg0 mode=native fast-path=on clients=10.8.0.0/16,fd00:8::/64\n"
    "udp 27015 10.8.0.2:27015 allow=198.51.100.0/24 rate=2000:500 ttl=3600 "
    "expires=1795412345678901234\n"
    "tcp 203.0.113.10:40000 10.8.0.2:40000\n"
    "end 3 crc32=ddbcb928\n";

#endif
