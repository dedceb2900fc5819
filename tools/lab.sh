# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# lab.sh - a VPN server in network namespaces, sourced by the demo and the
# e2e tests:
#
#   inet (internet host)          vpn (VPN server)                cli (VPN client)
#   inet0 203.0.113.20 ---- veth ---- pub0 203.0.113.10
#         2001:db8:1::20                   2001:db8:1::10
#                                   und0 192.0.2.1 ---- veth ---- und0 192.0.2.2   (WireGuard underlay)
#                                   $LAB_WG_VPN 10.8.0.1 == wireguard-go == $LAB_WG_CLI 10.8.0.2
#                                               fd00:8::1                          fd00:8::2
#                                   lan0 198.51.100.1 ---- veth ---- lan0 198.51.100.2   lan (a host
#                                                                    behind Ethernet, no tunnel)
#                                   und1 192.0.2.65 ---- veth ---- und1 192.0.2.66     cl2 (a second
#                                   $LAB_WG_VPN == wireguard-go == $LAB_WG_CL2 10.8.0.3  VPN client)
#                                                                             fd00:8::3
#
# Names carry the lab id so labs never collide; lab_down removes everything
# lab_up made (namespaces, processes by pid, pins, files) and is safe to call
# twice or after a half-built lab.

LAB_ID=${LAB_ID:-$$}
NS_INET=xf-inet-$LAB_ID
NS_VPN=xf-vpn-$LAB_ID
NS_CLI=xf-cli-$LAB_ID
NS_LAN=xf-lan-$LAB_ID
NS_CL2=xf-cl2-$LAB_ID
# The reference server's (lab_reference_up), made only when asked for.
NS_RCL=xf-rcl-$LAB_ID
NS_RGW=xf-rgw-$LAB_ID
NS_RWAN=xf-rwan-$LAB_ID
# wireguard-go names its control socket after the interface: one name per lab.
LAB_WG_VPN=xfs$LAB_ID
LAB_WG_CLI=xfc$LAB_ID
LAB_WG_CL2=xfe$LAB_ID
LAB_TMP=
LAB_PIDS=()
# The networks targets may be in (attach --clients): the tunnel's and the LAN's.
LAB_CLIENTS=10.8.0.0/24,fd00:8::/64,198.51.100.0/24
export XDPFWD_PIN_DIR=/sys/fs/bpf/xdpfwd-lab-$LAB_ID
XDPFWD=${XDPFWD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/xdpfwd}

in_inet() { ip netns exec "$NS_INET" "$@"; }
in_vpn() { ip netns exec "$NS_VPN" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }
in_lan() { ip netns exec "$NS_LAN" "$@"; }
in_cl2() { ip netns exec "$NS_CL2" "$@"; }
xdpfwd() { in_vpn "$XDPFWD" "$@"; }

# Runs a command in a namespace in the background and remembers its pid.
lab_spawn() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	LAB_PIDS+=($!)
}

# Stops what lab_spawn started after the first N processes (by pid).
lab_stop_since() { # N
	local i
	for ((i = $1; i < ${#LAB_PIDS[@]}; i++)); do kill "${LAB_PIDS[i]}" 2>/dev/null; done
	for ((i = $1; i < ${#LAB_PIDS[@]}; i++)); do wait "${LAB_PIDS[i]}" 2>/dev/null; done
	LAB_PIDS=("${LAB_PIDS[@]:0:$1}")
}

# Stops every process in the lab's namespaces but the lab's own (LAB_PIDS):
# what was started other than by lab_spawn, or left by an interrupted
# test. Says what it stopped, one line each.
lab_sweep() {
	local ns pid i keep=" ${LAB_PIDS[*]} " left=()
	for ns in "$NS_INET" "$NS_VPN" "$NS_CLI" "$NS_LAN" "$NS_CL2" "$NS_RCL" "$NS_RGW" "$NS_RWAN"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[[ $keep == *" $pid "* ]] && continue
			echo "stopped pid $pid in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
			kill "$pid" 2>/dev/null && left+=("$pid")
		done
	done
	# Not children of this shell: wait until they are gone (5 s, then KILL).
	for pid in "${left[@]}"; do
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	return 0
}

lab_down() { # [--keep-tmp]: keep LAB_TMP (the runner's logs) for the next lab_up
	local pid
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${LAB_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	LAB_PIDS=()
	lab_sweep >/dev/null
	for ns in "$NS_INET" "$NS_VPN" "$NS_CLI" "$NS_LAN" "$NS_CL2" "$NS_RCL" "$NS_RGW" "$NS_RWAN"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$XDPFWD_PIN_DIR" 2>/dev/null
	if [ "${1:-}" = --keep-tmp ]; then
		rm -rf "${XDPFWD_STATE_DIR:-/nonexistent}"
		return 0
	fi
	[ -n "$LAB_TMP" ] && rm -rf "$LAB_TMP"
	LAB_TMP=
	return 0
}

# What a test may not leave changed, one line each: the namespaces' links
# (name, MTU, state), addresses, routes of every table, policy rules and
# nftables rulesets. The e2e runner compares it before and after each test.
lab_fingerprint() {
	local ns
	for ns in "$NS_INET" "$NS_VPN" "$NS_CLI" "$NS_LAN" "$NS_CL2"; do
		echo "== $ns"
		ip -n "$ns" -j link show | jq -r '.[] | "link \(.ifname) mtu \(.mtu) \(.operstate)"'
		ip -n "$ns" -j addr show | jq -r '.[] | .ifname as $d | .addr_info[] | "addr \($d) \(.local)/\(.prefixlen)"' | sort
		{ ip -n "$ns" -4 route show table all; ip -n "$ns" -6 route show table all; } | sed 's/^/route /' | sort
		{ ip -n "$ns" -4 rule; ip -n "$ns" -6 rule; } | sed 's/^/rule /'
		ip netns exec "$ns" nft list ruleset | sed 's/^/nft /'
	done 2>&1 | grep -v ' fe80::' # the kernel adds link-local addresses when a link comes up, late
}

# How long to wait for what should come (a listener, a tunnel, an answer):
# long, for a loaded machine, since a wait ends as soon as it is there.
LAB_WAIT=${LAB_WAIT:-30}
wait_for() { # SECONDS COMMAND...: poll until the command succeeds
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.1
	done
}

lab_wireguard() { # NS IFACE ADDR4 ADDR6 KEY PORT PEER_PUB PEER_ALLOWED [ENDPOINT]
	local ns=$1 dev=$2 a4=$3 a6=$4 key=$5 port=$6 peer=$7 allowed=$8 endpoint=${9:-}
	WG_PROCESS_FOREGROUND=1 lab_spawn "$ns" wireguard-go -f "$dev" >>"$LAB_TMP/wireguard-go.log" 2>&1
	wait_for "$LAB_WAIT" ip -n "$ns" link show "$dev" || { echo "lab: wireguard-go made no $dev" >&2; return 1; }
	ip netns exec "$ns" wg set "$dev" private-key "$key" listen-port "$port" \
		peer "$peer" allowed-ips "$allowed" ${endpoint:+endpoint "$endpoint"} \
		persistent-keepalive 0 || return 1
	ip -n "$ns" addr add "$a4" dev "$dev"
	ip -n "$ns" addr add "$a6" dev "$dev" nodad
	ip -n "$ns" link set "$dev" up
}

lab_up() {
	set -e
	[ -n "$LAB_TMP" ] || LAB_TMP=$(mktemp -d /tmp/xdpfwd-lab.XXXXXX)
	# The state file goes with the lab, not to /var/lib/xdpfwd.
	export XDPFWD_STATE_DIR=$LAB_TMP/state
	umask 077
	# bpffs in this mount namespace, so pins made under `ip netns exec` outlive it.
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

	for ns in "$NS_INET" "$NS_VPN" "$NS_CLI" "$NS_LAN" "$NS_CL2"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_INET" link add inet0 type veth peer name pub0 netns "$NS_VPN"
	ip -n "$NS_VPN" link add und0 type veth peer name und0 netns "$NS_CLI"

	ip -n "$NS_INET" addr add 203.0.113.20/24 dev inet0
	ip -n "$NS_INET" addr add 2001:db8:1::20/64 dev inet0 nodad
	ip -n "$NS_INET" link set inet0 up
	# Locally built packets carry partial checksums on veth; a NIC delivers
	# full ones, which is what the XDP program assumes (README, "Checksums").
	in_inet ethtool -K inet0 tx off >/dev/null

	ip -n "$NS_VPN" addr add 203.0.113.10/24 dev pub0
	ip -n "$NS_VPN" addr add 2001:db8:1::10/64 dev pub0 nodad
	ip -n "$NS_VPN" addr add 192.0.2.1/24 dev und0
	ip -n "$NS_CLI" addr add 192.0.2.2/24 dev und0
	for dev in pub0 und0; do ip -n "$NS_VPN" link set "$dev" up; done
	ip -n "$NS_CLI" link set und0 up

	# A target behind Ethernet, for XDP_REDIRECT. A veth drops redirected
	# frames unless its peer runs NAPI: GRO on the receiving end.
	ip -n "$NS_VPN" link add lan0 type veth peer name lan0 netns "$NS_LAN"
	ip -n "$NS_VPN" addr add 198.51.100.1/24 dev lan0
	ip -n "$NS_LAN" addr add 198.51.100.2/24 dev lan0
	ip -n "$NS_VPN" link set lan0 up
	ip -n "$NS_LAN" link set lan0 up
	ip -n "$NS_LAN" route add default via 198.51.100.1
	in_lan ethtool -K lan0 gro on >/dev/null
	in_vpn sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# The server's own connections take source ports from 50000 up, so the
	# ports the lab maps (below 50000) pass xdpfwd's ephemeral-range check.
	in_vpn sysctl -qw net.ipv4.ip_local_port_range="50000 60999"

	wg genkey >"$LAB_TMP/vpn.key"
	wg genkey >"$LAB_TMP/cli.key"
	wg pubkey <"$LAB_TMP/vpn.key" >"$LAB_TMP/vpn.pub"
	wg pubkey <"$LAB_TMP/cli.key" >"$LAB_TMP/cli.pub"
	lab_wireguard "$NS_VPN" "$LAB_WG_VPN" 10.8.0.1/24 fd00:8::1/64 "$LAB_TMP/vpn.key" 51820 \
		"$(cat "$LAB_TMP/cli.pub")" 10.8.0.2/32,fd00:8::2/128
	lab_wireguard "$NS_CLI" "$LAB_WG_CLI" 10.8.0.2/24 fd00:8::2/64 "$LAB_TMP/cli.key" 51821 \
		"$(cat "$LAB_TMP/vpn.pub")" 0.0.0.0/0,::/0 192.0.2.1:51820
	# The client reaches the internet through the tunnel, as a VPN client does.
	ip -n "$NS_CLI" route add 203.0.113.0/24 dev "$LAB_WG_CLI"
	ip -n "$NS_CLI" -6 route add 2001:db8:1::/64 dev "$LAB_WG_CLI"
	wait_for "$LAB_WAIT" in_cli ping -c1 -W1 10.8.0.1 || { echo "lab: the WireGuard tunnel does not come up" >&2; return 1; }

	# A second client, on its own underlay, for client-to-client (hairpin).
	ip -n "$NS_VPN" link add und1 type veth peer name und1 netns "$NS_CL2"
	ip -n "$NS_VPN" addr add 192.0.2.65/26 dev und1
	ip -n "$NS_CL2" addr add 192.0.2.66/26 dev und1
	ip -n "$NS_VPN" link set und1 up
	ip -n "$NS_CL2" link set und1 up
	wg genkey >"$LAB_TMP/cl2.key"
	wg pubkey <"$LAB_TMP/cl2.key" >"$LAB_TMP/cl2.pub"
	ip netns exec "$NS_VPN" wg set "$LAB_WG_VPN" peer "$(cat "$LAB_TMP/cl2.pub")" \
		allowed-ips 10.8.0.3/32,fd00:8::3/128
	lab_wireguard "$NS_CL2" "$LAB_WG_CL2" 10.8.0.3/24 fd00:8::3/64 "$LAB_TMP/cl2.key" 51822 \
		"$(cat "$LAB_TMP/vpn.pub")" 0.0.0.0/0,::/0 192.0.2.65:51820
	ip -n "$NS_CL2" route add 203.0.113.0/24 dev "$LAB_WG_CL2"
	ip -n "$NS_CL2" -6 route add 2001:db8:1::/64 dev "$LAB_WG_CL2"
	wait_for "$LAB_WAIT" in_cl2 ping -c1 -W1 10.8.0.1 || { echo "lab: the second client's tunnel does not come up" >&2; return 1; }
	set +e
}

# An Ethernet tunnel from the server to the second client's namespace, for
# `attach --tunnel` with an Ethernet device: a veth pair (as towards a
# separate VPN box), or a TAP device on each side joined by socat over UDP on
# the second client's underlay (what OpenVPN in tap mode does). The server
# has 10.9.0.1 and fd00:9::1 on it, the client 10.9.0.2 and fd00:9::2, and
# the client sends what comes from those addresses through it (policy
# routing), so its WireGuard tunnel is untouched. Sets LAB_ETH_TUN to the
# server's device; lab_ethernet_tunnel_down removes it all.
LAB_ETH_TUN=
LAB_ETH_PIDS=
lab_ethernet_tunnel_up() { # veth|tap
	local dev=xfe$1$LAB_ID
	dev=${dev:0:15}
	LAB_ETH_PIDS=${#LAB_PIDS[@]}
	case $1 in
	veth)
		ip -n "$NS_VPN" link add "$dev" type veth peer name "$dev" netns "$NS_CL2" || return 1
		;;
	tap)
		local ns end local_addr peer
		for end in vpn cl2; do
			if [ $end = vpn ]; then ns=$NS_VPN local_addr=192.0.2.65 peer=192.0.2.66
			else ns=$NS_CL2 local_addr=192.0.2.66 peer=192.0.2.65; fi
			lab_spawn "$ns" socat "TUN,tun-type=tap,tun-name=$dev,no-pi" \
				"UDP:$peer:5555,bind=$local_addr:5555"
		done
		wait_for "$LAB_WAIT" ip -n "$NS_VPN" link show "$dev" && wait_for "$LAB_WAIT" ip -n "$NS_CL2" link show "$dev" ||
			{ echo "lab: socat made no $dev" >&2; return 1; }
		;;
	*) return 1 ;;
	esac
	ip -n "$NS_VPN" link set "$dev" mtu 1420 up
	ip -n "$NS_CL2" link set "$dev" mtu 1420 up
	ip -n "$NS_VPN" addr add 10.9.0.1/24 dev "$dev"
	ip -n "$NS_VPN" addr add fd00:9::1/64 dev "$dev" nodad
	ip -n "$NS_CL2" addr add 10.9.0.2/24 dev "$dev"
	ip -n "$NS_CL2" addr add fd00:9::2/64 dev "$dev" nodad
	ip -n "$NS_CL2" rule add from 10.9.0.2 table 109
	ip -n "$NS_CL2" route add default via 10.9.0.1 dev "$dev" table 109
	ip -n "$NS_CL2" -6 rule add from fd00:9::2 table 109
	ip -n "$NS_CL2" -6 route add default via fd00:9::1 dev "$dev" table 109
	# Partial checksums on veth, as on the internet host (README, "Checksums").
	in_cl2 ethtool -K "$dev" tx off >/dev/null 2>&1
	LAB_ETH_TUN=$dev
	wait_for "$LAB_WAIT" in_cl2 ping -c1 -W1 -I 10.9.0.2 10.9.0.1 ||
		{ echo "lab: the Ethernet tunnel $dev does not carry" >&2; return 1; }
}
lab_ethernet_tunnel_down() {
	[ -n "$LAB_ETH_TUN" ] || return 0
	ip -n "$NS_VPN" link del "$LAB_ETH_TUN" 2>/dev/null
	ip -n "$NS_CL2" link del "$LAB_ETH_TUN" 2>/dev/null
	ip -n "$NS_CL2" rule del from 10.9.0.2 table 109 2>/dev/null
	ip -n "$NS_CL2" -6 rule del from fd00:9::2 table 109 2>/dev/null
	lab_stop_since "$LAB_ETH_PIDS"
	LAB_ETH_TUN=
}

# The reference NAT-PMP/PCP server: Debian's miniupnpd (nftables backend) in
# three namespaces of its own, beside the lab, for checking tools/pcp-probe
# against it (tests/e2e, test_pcp_reference_*) and for bench/pcp.sh:
#
#   rcl (client) 192.0.2.130 ---- veth ---- rgw 192.0.2.129 (miniupnpd on 5351)
#                                           rgw 203.0.113.1 ---- veth ---- rwan 203.0.113.2, .3 (stund)
#
# miniupnpd 2.3.1 takes every documentation range for "reserved" and then
# disables forwarding (and ext_ip= refuses such an address); asking stund on
# two addresses makes it see a 1:1 NAT with 203.0.113.1 as its public
# address, which enables forwarding (ext_perform_stun=yes). Debian's
# nft_init.sh needs a script the package does not ship: the chains miniupnpd
# adds its rules to are made here.
LAB_REF_PIDS=
in_rcl() { ip netns exec "$NS_RCL" "$@"; }
in_rgw() { ip netns exec "$NS_RGW" "$@"; }
# LAB_REF_DEBUG=1 runs miniupnpd with -d (foreground, every step logged to
# LAB_TMP/reference/miniupnpd.log; for the tests); without it miniupnpd
# runs as a provider would, a daemon logging to syslog (bench/pcp.sh).
lab_reference_up() { # [MIN_LIFETIME [MAX_LIFETIME]]: returns once miniupnpd answers
	local dir=$LAB_TMP/reference ns
	LAB_REF_PIDS=${#LAB_PIDS[@]}
	mkdir -p "$dir"
	for ns in "$NS_RCL" "$NS_RGW" "$NS_RWAN"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_RCL" link add rcl0 type veth peer name rgw0 netns "$NS_RGW"
	ip -n "$NS_RGW" link add rgw1 type veth peer name rwan0 netns "$NS_RWAN"
	ip -n "$NS_RCL" addr add 192.0.2.130/26 dev rcl0
	ip -n "$NS_RGW" addr add 192.0.2.129/26 dev rgw0
	ip -n "$NS_RGW" addr add 203.0.113.1/24 dev rgw1
	ip -n "$NS_RWAN" addr add 203.0.113.2/24 dev rwan0
	ip -n "$NS_RWAN" addr add 203.0.113.3/24 dev rwan0
	ip -n "$NS_RCL" link set rcl0 up
	ip -n "$NS_RGW" link set rgw0 up
	ip -n "$NS_RGW" link set rgw1 up
	ip -n "$NS_RWAN" link set rwan0 up
	ip -n "$NS_RCL" route add default via 192.0.2.129
	in_rgw sysctl -qw net.ipv4.ip_forward=1
	in_rgw nft -f - <<'NFT' || return 1
table inet filter {
	chain miniupnpd { }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
	chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
	chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
}
NFT
	cat >"$dir/miniupnpd.conf" <<CONF
ext_ifname=rgw1
listening_ip=rgw0
enable_natpmp=yes
enable_upnp=no
ipv6_disable=yes
ext_perform_stun=yes
ext_stun_host=203.0.113.2
ext_stun_port=3478
min_lifetime=${1:-120}
max_lifetime=${2:-86400}
secure_mode=yes
lease_file=$dir/leases
uuid=00000000-0000-0000-0000-000000000001
allow 1024-65535 192.0.2.128/26 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
	lab_spawn "$NS_RWAN" stund -h 203.0.113.2 -a 203.0.113.3 >"$dir/stund.log" 2>&1
	wait_for "$LAB_WAIT" in_reference_wan_listens || { echo "lab: stund does not listen" >&2; return 1; }
	if [ -n "${LAB_REF_DEBUG:-}" ]; then
		# In the foreground: its pid is the one lab_spawn keeps.
		lab_spawn "$NS_RGW" miniupnpd -d -f "$dir/miniupnpd.conf" -P "$dir/miniupnpd.pid" >"$dir/miniupnpd.log" 2>&1
	else
		in_rgw miniupnpd -f "$dir/miniupnpd.conf" -P "$dir/miniupnpd.pid" || return 1
		wait_for "$LAB_WAIT" test -s "$dir/miniupnpd.pid" || return 1
		LAB_PIDS+=("$(cat "$dir/miniupnpd.pid")")
	fi
	wait_for "$LAB_WAIT" in_rcl "$LAB_PROBE" -s 192.0.2.129 -t 0.5 natpmp addr ||
		{ echo "lab: miniupnpd does not answer: $(tail -3 "$dir/miniupnpd.log")" >&2; return 1; }
}
in_reference_wan_listens() { ip netns exec "$NS_RWAN" ss -Hulnp | grep -q ':3478 '; }
# miniupnpd in a long loop acts on SIGTERM only when it ends: KILL, by pid.
lab_reference_down() {
	local i ns
	[ -n "$LAB_REF_PIDS" ] || return 0
	for ((i = LAB_REF_PIDS; i < ${#LAB_PIDS[@]}; i++)); do kill -9 "${LAB_PIDS[i]}" 2>/dev/null; done
	lab_stop_since "$LAB_REF_PIDS"
	for ns in "$NS_RCL" "$NS_RGW" "$NS_RWAN"; do ip netns del "$ns" 2>/dev/null; done
	LAB_REF_PIDS=
	return 0
}
LAB_PROBE=${LAB_PROBE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pcp-probe}
