// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ifkind.h"
#include "log.h"

#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823 /* glibc's net/if_arp.h lacks it */
#endif
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

/*
 * The link types whose packets carry no link-layer header: the kernel's own
 * list in dev_is_mac_header_xmit() (include/linux/if_arp.h), less the ones
 * that are no tunnel (ARPHRD_VOID, ARPHRD_PIMREG). For them tc sees the IP
 * header first and bpf_redirect strips the Ethernet header it is given.
 */
static const unsigned short l3_types[] = {ARPHRD_NONE,	ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_SIT,
					  ARPHRD_IPGRE, ARPHRD_IP6GRE, ARPHRD_RAWIP,   ARPHRD_PPP};

int tunnel_kind_of(const char *name, enum tunnel_kind *kind)
{
	struct ifreq ifr;
	unsigned short type;
	int fd, err = 0;

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err) {
		pr_warn("tunnel '%s': cannot read its link type: %s\n", name, strerror(-err));
		return err == -ENODEV ? err : -EINVAL;
	}
	type = ifr.ifr_hwaddr.sa_family;
	if (type == ARPHRD_ETHER) {
		*kind = TUNNEL_ETHERNET;
		return 0;
	}
	for (size_t i = 0; i < sizeof(l3_types) / sizeof(l3_types[0]); i++)
		if (type == l3_types[i]) {
			*kind = TUNNEL_L3;
			return 0;
		}
	pr_warn("tunnel '%s' has link type %u (/sys/class/net/%s/type): the tunnel must be an "
		"Ethernet device (type 1: TAP, veth, VLAN, VXLAN) or an IP tunnel without link "
		"layer (65534: WireGuard, TUN; 768, 769, 776, 778, 823: IPIP, IP6IP6, SIT, GRE; "
		"512: PPP; 519: raw IP)\n",
		name, type, name);
	return -EOPNOTSUPP;
}
