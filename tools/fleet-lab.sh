# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# fleet-lab.sh - three gateways driven by one etcd cluster, sourced after
# tools/lab.sh by the e2e runner (mode fleet) and bench/fleet.sh:
#
#                         xf-finet-ID (the internet): bridge inbr0 203.0.113.20
#                          |                |                |
#   pub0 203.0.113.11  xf-fgw1-ID      xf-fgw2-ID      xf-fgw3-ID  (gateways gw1..gw3:
#        .12, .13      wireguard-go    ...             ...          xdpfwd attach pub0,
#                      xfgN<ID> 10.8.N.1/24, fd00:8:N::1/64         serve --fleet)
#                       | und0 192.0.2.8N+1/29
#                      xf-fclN-ID  a client of its own: 10.8.N.2, fd00:8:N::2
#                       | mgmt0 10.77.0.1N ---- fnet0, the fleet network of
#                                               tools/etcd-cluster.sh (etcd 10.77.0.1-3,
#                                               the admin 10.77.0.254)
#   xf-froam-ID: a roaming client, one WireGuard key, an underlay to each
#   gateway (192.0.2.100+4N+2/30 <-> gateway .100+4N+1, rmN in both); on
#   gateway N its tunnel address is 10.8.N.9. fleet_roam_to N moves it.
#
# One lab per LAB_ID; fleet_lab_down removes everything fleet_lab_up made
# (processes by pid, namespaces, pins, the etcd tmpfs), also half-made.

source "$(dirname "${BASH_SOURCE[0]}")/etcd-cluster.sh"

FLEET_GWS=3
NS_FINET=xf-finet-$LAB_ID
NS_FROAM=xf-froam-$LAB_ID
# Interface names have 15 characters: the runner's LAB_ID (a pid and the
# mode's name) made shorter, still one per lab.
FLEET_IFID=${LAB_ID//fleet/F}
((${#FLEET_IFID} <= 10)) || FLEET_IFID=$(cksum <<<"$LAB_ID" | cut -c1-10)
FLEET_WG_ROAM=xfr$FLEET_IFID
fleet_ns() { echo "xf-fgw$1-$LAB_ID"; }   # N: gateway N's namespace
fleet_cl() { echo "xf-fcl$1-$LAB_ID"; }   # N: gateway N's own client
fleet_wg() { echo "xfg$1$FLEET_IFID"; }       # N: gateway N's WireGuard interface
fleet_pub() { echo "203.0.113.1$1"; }     # N: gateway N's public address
fleet_mgmt() { echo "10.77.0.1$1"; }      # N: gateway N's address on the fleet network
fleet_pin() { echo "/sys/fs/bpf/xdpfwd-fleet-$LAB_ID-$1"; }
fleet_clients() { echo "10.8.$1.0/24,fd00:8:$1::/64"; }
# xdpfwd on gateway N, with its own pins and state directory.
fleet_gw() { # N ARGS...
	local n=$1
	shift
	ip netns exec "$(fleet_ns "$n")" env XDPFWD_PIN_DIR="$(fleet_pin "$n")" \
		XDPFWD_STATE_DIR="$FLEET_STATE/gw$n" "$XDPFWD" "$@"
}
in_fgw() { local n=$1; shift; ip netns exec "$(fleet_ns "$n")" "$@"; }
in_fcl() { local n=$1; shift; ip netns exec "$(fleet_cl "$n")" "$@"; }
in_finet() { ip netns exec "$NS_FINET" "$@"; }
in_froam() { ip netns exec "$NS_FROAM" "$@"; }
# The admin command, from the fleet network, every member as an endpoint.
fleet_admin() { in_fnet env XDPFWD_FLEET="$(etcd_endpoints)" "$XDPFWD" fleet "$@"; }
FLEET_STATE=

fleet_gateway_up() { # N
	local n=$1 ns cl wg
	ns=$(fleet_ns "$n") cl=$(fleet_cl "$n") wg=$(fleet_wg "$n")
	ip netns add "$ns" && ip netns add "$cl" || return 1
	ip -n "$ns" link set lo up
	ip -n "$cl" link set lo up
	ip -n "$NS_FINET" link add "p$n" type veth peer name pub0 netns "$ns" || return 1
	ip -n "$NS_FINET" link set "p$n" master inbr0 up
	ip -n "$ns" addr add "$(fleet_pub "$n")/24" dev pub0
	ip -n "$ns" addr add "2001:db8:1::1$n/64" dev pub0 nodad
	ip -n "$ns" link set pub0 up
	etcd_net_join "$ns" mgmt0 "$(fleet_mgmt "$n")" "g$n" || return 1
	ip -n "$ns" link add und0 type veth peer name und0 netns "$cl" || return 1
	ip -n "$ns" addr add "192.0.2.$((8 * n + 1))/29" dev und0
	ip -n "$cl" addr add "192.0.2.$((8 * n + 2))/29" dev und0
	ip -n "$ns" link set und0 up
	ip -n "$cl" link set und0 up
	ip -n "$ns" link add "rm$n" type veth peer name "rm$n" netns "$NS_FROAM" || return 1
	ip -n "$ns" addr add "192.0.2.$((100 + 4 * n + 1))/30" dev "rm$n"
	ip -n "$NS_FROAM" addr add "192.0.2.$((100 + 4 * n + 2))/30" dev "rm$n"
	ip -n "$ns" link set "rm$n" up
	ip -n "$NS_FROAM" link set "rm$n" up
	in_fgw "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# Mapped ports below 50000 pass the ephemeral-range check (lab.sh).
	in_fgw "$n" sysctl -qw net.ipv4.ip_local_port_range="50000 60999"
	wg genkey >"$FLEET_STATE/gw$n.key"
	wg pubkey <"$FLEET_STATE/gw$n.key" >"$FLEET_STATE/gw$n.pub"
	wg genkey >"$FLEET_STATE/cl$n.key"
	wg pubkey <"$FLEET_STATE/cl$n.key" >"$FLEET_STATE/cl$n.pub"
	lab_wireguard "$ns" "$wg" "10.8.$n.1/24" "fd00:8:$n::1/64" "$FLEET_STATE/gw$n.key" 51820 \
		"$(cat "$FLEET_STATE/cl$n.pub")" "10.8.$n.2/32,fd00:8:$n::2/128" || return 1
	lab_wireguard "$cl" "xfc$n$FLEET_IFID" "10.8.$n.2/24" "fd00:8:$n::2/64" "$FLEET_STATE/cl$n.key" 51821 \
		"$(cat "$FLEET_STATE/gw$n.pub")" 0.0.0.0/0,::/0 "192.0.2.$((8 * n + 1)):51820" || return 1
	ip -n "$cl" route add 203.0.113.0/24 dev "xfc$n$FLEET_IFID"
	ip -n "$cl" -6 route add 2001:db8:1::/64 dev "xfc$n$FLEET_IFID"
	mkdir -p "$FLEET_STATE/gw$n"
	fleet_gw "$n" attach pub0 --tunnel "$wg" --fast-path on --clients "$(fleet_clients "$n")" >/dev/null ||
		{ echo "lab: attach on gateway $n failed" >&2; return 1; }
}

fleet_lab_up() {
	local n
	[ -n "$LAB_TMP" ] || LAB_TMP=$(mktemp -d /tmp/xdpfwd-lab.XXXXXX)
	FLEET_STATE=$LAB_TMP/fleet
	mkdir -p "$FLEET_STATE"
	umask 077
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	etcd_up || return 1
	ip netns add "$NS_FINET" && ip netns add "$NS_FROAM" || return 1
	ip -n "$NS_FINET" link set lo up
	ip -n "$NS_FROAM" link set lo up
	ip -n "$NS_FINET" link add inbr0 type bridge || return 1
	ip -n "$NS_FINET" addr add 203.0.113.20/24 dev inbr0
	ip -n "$NS_FINET" addr add 2001:db8:1::20/64 dev inbr0 nodad
	ip -n "$NS_FINET" link set inbr0 up
	# Locally built packets carry partial checksums (lab.sh): full ones here.
	in_finet ethtool -K inbr0 tx off >/dev/null
	for ((n = 1; n <= FLEET_GWS; n++)); do
		fleet_gateway_up "$n" || { echo "lab: gateway $n could not be built" >&2; return 1; }
	done
	wg genkey >"$FLEET_STATE/roam.key"
	wg pubkey <"$FLEET_STATE/roam.key" >"$FLEET_STATE/roam.pub"
	WG_PROCESS_FOREGROUND=1 lab_spawn "$NS_FROAM" wireguard-go -f "$FLEET_WG_ROAM" >>"$LAB_TMP/wireguard-go.log" 2>&1
	wait_for "$LAB_WAIT" ip -n "$NS_FROAM" link show "$FLEET_WG_ROAM" || { echo "lab: no $FLEET_WG_ROAM" >&2; return 1; }
	in_froam wg set "$FLEET_WG_ROAM" private-key "$FLEET_STATE/roam.key" listen-port 51830 || return 1
	ip -n "$NS_FROAM" link set "$FLEET_WG_ROAM" up
	for ((n = 1; n <= FLEET_GWS; n++)); do
		wait_for "$LAB_WAIT" in_fcl "$n" ping -c1 -W1 "10.8.$n.1" ||
			{ echo "lab: gateway $n's tunnel does not come up" >&2; return 1; }
	done
	return 0
}

fleet_lab_down() {
	local n ns
	for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	LAB_PIDS=()
	for ((n = 1; n <= FLEET_GWS; n++)); do
		for ns in "$(fleet_ns "$n")" "$(fleet_cl "$n")"; do
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
			ip netns del "$ns" 2>/dev/null
		done
		rm -rf "$(fleet_pin "$n")"
	done
	for ns in "$NS_FINET" "$NS_FROAM"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	etcd_down
	[ -n "$LAB_TMP" ] && rm -rf "$LAB_TMP"
	LAB_TMP=
	return 0
}

# The roaming client on gateway N: its peer there (and on no other gateway),
# its tunnel address 10.8.N.9, its routes to the internet through it. What
# the provider's API does when a client picks a server; nothing in etcd.
fleet_roam_to() { # N
	local n=$1 i pub
	pub=$(cat "$FLEET_STATE/roam.pub")
	for ((i = 1; i <= FLEET_GWS; i++)); do
		in_fgw "$i" wg set "$(fleet_wg "$i")" peer "$pub" remove
		in_froam wg set "$FLEET_WG_ROAM" peer "$(cat "$FLEET_STATE/gw$i.pub")" remove
	done
	in_fgw "$n" wg set "$(fleet_wg "$n")" peer "$pub" allowed-ips "10.8.$n.9/32"
	in_froam wg set "$FLEET_WG_ROAM" peer "$(cat "$FLEET_STATE/gw$n.pub")" allowed-ips 0.0.0.0/0 \
		endpoint "192.0.2.$((100 + 4 * n + 1)):51820"
	ip -n "$NS_FROAM" addr flush dev "$FLEET_WG_ROAM"
	ip -n "$NS_FROAM" addr add "10.8.$n.9/24" dev "$FLEET_WG_ROAM"
	ip -n "$NS_FROAM" route replace 203.0.113.0/24 dev "$FLEET_WG_ROAM"
	wait_for "$LAB_WAIT" in_froam ping -c1 -W1 "10.8.$n.1"
}
# The roaming client on no gateway.
fleet_roam_off() {
	local i pub
	pub=$(cat "$FLEET_STATE/roam.pub")
	for ((i = 1; i <= FLEET_GWS; i++)); do
		in_fgw "$i" wg set "$(fleet_wg "$i")" peer "$pub" remove
		in_froam wg set "$FLEET_WG_ROAM" peer "$(cat "$FLEET_STATE/gw$i.pub")" remove
	done
	ip -n "$NS_FROAM" addr flush dev "$FLEET_WG_ROAM"
}
