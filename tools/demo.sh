#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make demo: build the lab, forward a port to a VPN client through a real
# WireGuard tunnel, send traffic from the "internet", show the counters, and
# remove everything again.
set -u
cd "$(dirname "$0")/.."
source tools/lab.sh
trap lab_down EXIT
trap 'exit 130' INT TERM
((EUID == 0)) || { echo "demo: run as root (network namespaces and XDP)" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Lab: internet host 203.0.113.20 -- VPN server 203.0.113.10 == WireGuard == client 10.8.0.2"
lab_up || exit 1
step "Attach xdpfwd to the VPN server's public interface"
show xdpfwd attach pub0 --tunnel "$LAB_WG_VPN" --clients "$LAB_CLIENTS" || exit 1
step "Forward public TCP 8080 (only from 203.0.113.0/24, at most 1000 packets/s) and UDP 27015 (both families, a 1-hour lease) to the client"
show xdpfwd add tcp 203.0.113.10:8080 10.8.0.2:80 --allow 203.0.113.0/24 --rate 1000:100
show xdpfwd add both 27015 10.8.0.2
show xdpfwd add udp 27015 "[fd00:8::2]" --ttl 3600
show xdpfwd list
step "Services on the VPN client"
lab_spawn "$NS_CLI" socat TCP-LISTEN:80,bind=10.8.0.2,reuseaddr,fork \
	SYSTEM:'read l; echo "client 10.8.0.2:80 got \"$l\" from $SOCAT_PEERADDR:$SOCAT_PEERPORT"'
lab_spawn "$NS_CLI" socat UDP-RECVFROM:27015,bind=10.8.0.2,reuseaddr,fork \
	SYSTEM:'read l; echo "client UDP 27015 got \"$l\" from $SOCAT_PEERADDR"'
wait_for 5 in_cli sh -c "ss -Hln | grep -q ':27015 '"
step "From the internet host: connect to the public address"
for i in 1 2 3; do
	echo "hello $i" | in_inet timeout 5 socat -t2 - TCP:203.0.113.10:8080
done
echo "ping" | in_inet timeout 5 socat -t2 - UDP:203.0.113.10:27015
step "Counters (per mapping, and every verdict of the data path)"
show xdpfwd stats
echo
echo "demo: done; the lab is removed on exit"
