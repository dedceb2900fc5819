// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * localaddr.c - the addresses an interface holds, read with getifaddrs(3)
 * (netlink RTM_GETADDR underneath): what a wildcard mapping answers on, and
 * the source attach gives a client that reaches its own mapped port.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include "localaddr.h"

int local_addrs_read(unsigned int ifindex, struct local_addrs *out)
{
	char name[IF_NAMESIZE];
	struct ifaddrs *ifa, *it;

	memset(out, 0, sizeof(*out));
	if (!ifindex || !if_indextoname(ifindex, name))
		return -ENODEV;
	if (getifaddrs(&ifa))
		return -errno;
	/* Two passes: IPv4 first, so a wildcard answers from the first of each. */
	for (int pass = 0; pass < 2; pass++) {
		int family = pass == 0 ? AF_INET : AF_INET6;

		for (it = ifa; it; it = it->ifa_next) {
			size_t n = out->count;

			if (!it->ifa_addr || it->ifa_addr->sa_family != family ||
			    strcmp(it->ifa_name, name) ||
			    n == sizeof(out->entry) / sizeof(out->entry[0]))
				continue;
			if (family == AF_INET) {
				out->entry[n].addr.v4 =
				    ((struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr;
			} else {
				const struct in6_addr *a =
				    &((struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;

				if (IN6_IS_ADDR_LINKLOCAL(a))
					continue; /* not an address anyone outside can use */
				memcpy(out->entry[n].addr.bytes, a, 16);
			}
			out->entry[n].family = family;
			out->count++;
		}
	}
	freeifaddrs(ifa);
	return 0;
}
