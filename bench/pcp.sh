#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The NAT-PMP/PCP server under load, beside the reference server, in one run
# on one lab (tools/lab.sh's WireGuard lab, with lab_reference_up's
# miniupnpd namespaces next to it):
#  - NAT-PMP map requests answered per second, and the latency (median, p99)
#    of a map (a new internal port) and of a renewal (the same request
#    again), with 1, 1,000 and 65,536 leases in the table;
#  - xdpfwd serve --pcp (answers durable before they are sent) from clients
#    behind WireGuard (wireguard-go), and Debian's miniupnpd 2.3.1
#    (nftables backend) from a client on a veth: the same generator
#    (build/pcpload) and the same requests.
# Latency: one request outstanding (WINDOW 1); rate: RATE_WINDOW (256)
# outstanding, at most one per port renewed (two renewals of one mapping in
# one round are two commits, not a measure of the server's rate). xdpfwd's
# table is filled by NAT-PMP requests of 32 clients (quota 1,024 ports each,
# UDP and TCP on each); miniupnpd's by its own NAT-PMP requests up to 1,000
# leases, and past that by the same nftables rules written with nft -f
# (miniupnpd's table is its nftables chains; granting 65,536 through it,
# measured O(n) per request, would take hours). Results: bench/results/pcp.md.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=$PWD/build/pcpload
XDPFWD=${XDPFWD:-$PWD/build/xdpfwd}
OUT=${OUT:-bench/results/pcp.md}
SIZES=${SIZES:-1 1000 65536}
RW=${RATE_WINDOW:-256}
RENEWALS=${RENEWALS:-20000}
[ -x "$LOAD" ] && [ -x "$XDPFWD" ] || { echo "pcp: make build/xdpfwd build/pcpload first" >&2; exit 1; }
for c in miniupnpd stund wireguard-go jq; do
	command -v $c >/dev/null || { echo "pcp: needs $c (tools/install-deps.sh)" >&2; exit 1; }
done
source tools/lab.sh
trap 'lab_reference_down; lab_down' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

lab_up >/dev/null
xdpfwd attach pub0 --tunnel "$LAB_WG_VPN" --clients "$LAB_CLIENTS" >/dev/null
# 64 more client addresses behind the first client's tunnel: 10.8.0.64/26.
ip netns exec "$NS_VPN" wg set "$LAB_WG_VPN" peer "$(cat "$LAB_TMP/cli.pub")" \
	allowed-ips 10.8.0.2/32,fd00:8::2/128,10.8.0.64/26
for i in $(seq 64 127); do ip -n "$NS_CLI" addr add 10.8.0.$i/32 dev "$LAB_WG_CLI"; done
lab_spawn "$NS_VPN" "$XDPFWD" serve --metrics 127.0.0.1:9979 --pcp 10.8.0.1 --pcp-pool 10000-65000 \
	--pcp-quota 1024 --pcp-rate 100000:100000 --pcp-lifetime 60:7200 --pcp-reuse-delay 600 \
	>"$LAB_TMP/serve.log" 2>&1
wait_for 120 in_cli "$LAB_PROBE" -t 0.5 natpmp addr || { echo "pcp: serve does not answer" >&2; exit 1; }
lab_reference_up

declare -A R=()
run() { # KEY NS ARGS...: pcpload's line into R[KEY]
	local key=$1 ns=$2 out
	shift 2
	out=$(ip netns exec "$ns" "$LOAD" "$@") || true
	R[$key]=$out
	echo "  $key: $out" >&2
}
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"${R[$1]}"; }

# xdpfwd: client k (10.8.0.64 + k) holds internal ports 20000.. (UDP, TCP).
xdp_fill() { # LEASES
	local want=$1 k=0 per
	while ((want > 0)); do
		per=$((want >= 2048 ? 1024 : (want + 1) / 2))
		in_cli "$LOAD" 10.8.0.1 20000 $per $per udp 7200 32 1000 10.8.0.$((64 + k)) >/dev/null
		((want - per > 0)) && in_cli "$LOAD" 10.8.0.1 20000 $((want - per < per ? want - per : per)) \
			$((want - per < per ? want - per : per)) tcp 7200 32 1000 10.8.0.$((64 + k)) >/dev/null
		want=$((want - 2 * per))
		k=$((k + 1))
	done
}
xdp_leases() { xdpfwd list --json | jq length; }
# miniupnpd: the client 192.0.2.130's ports 20000.. by NAT-PMP; past 1,000,
# rules for 192.0.2.131 in miniupnpd's own form (nft list shows them so).
ref_fill() { # LEASES
	local want=$1 n
	n=$((want > 1000 ? 1000 : want))
	in_rcl "$LOAD" 192.0.2.129 20000 $(((n + 1) / 2)) $(((n + 1) / 2)) udp 7200 1 60000 >/dev/null
	((n / 2 > 0)) && in_rcl "$LOAD" 192.0.2.129 20000 $((n / 2)) $((n / 2)) tcp 7200 1 60000 >/dev/null
	((want > n)) || return 0
	# (dnat needs a transport protocol match first: meta l4proto.)
	seq 1 $((want - n)) | awk '{ p = 1024 + int(($1 - 1) / 2); proto = ($1 % 2) ? "udp" : "tcp"
		printf "add rule inet filter prerouting_miniupnpd iif \"rgw1\" meta l4proto %s th dport %d dnat ip to 192.0.2.131:%d\n", proto, p, p
		printf "add rule inet filter miniupnpd iif \"rgw1\" th dport %d @nh,128,32 0xc0000283 meta l4proto %s accept\n", p, proto }' |
		in_rgw nft -f -
}
ref_leases() { in_rgw nft list chain inet filter prerouting_miniupnpd | grep -c dnat || true; }

# One size: map latency and rate (new internal ports 30000.. of a client
# that holds nothing else, then deleted), renewal latency and rate. The
# client that maps is another one at each size (10.8.0.127, .126, ...): the
# ports it deleted wait for it (the reuse delay) and count against its quota.
measure() { # SIZE INDEX
	local s=$1 nr=$(($1 < 500 ? $1 : 500)) c=10.8.0.$((127 - $2))
	local rw=$((nr < RW ? nr : RW))
	# xdpfwd, from client c.
	run "x map lat $s" "$NS_CLI" 10.8.0.1 30000 250 250 udp 600 1 1000 $c
	run "x map rate $s" "$NS_CLI" 10.8.0.1 30250 500 500 udp 600 $RW 1000 $c
	in_cli "$LOAD" 10.8.0.1 30000 750 750 udp 0 $RW 1000 $c >/dev/null
	run "x renew lat $s" "$NS_CLI" 10.8.0.1 20000 $nr 500 udp 7200 1 1000 10.8.0.64
	run "x renew rate $s" "$NS_CLI" 10.8.0.1 20000 $nr $((rw * 500 < RENEWALS ? rw * 500 : RENEWALS)) udp 7200 $rw 1000 10.8.0.64
	# miniupnpd, from 192.0.2.130: fewer requests where each takes long.
	local m=250 mr=500 r=2000
	((s >= 65536)) && m=5 mr=8 r=8
	run "m map lat $s" "$NS_RCL" 192.0.2.129 30000 $m $m udp 600 1 60000
	run "m map rate $s" "$NS_RCL" 192.0.2.129 30250 $mr $mr udp 600 $RW 60000
	in_rcl "$LOAD" 192.0.2.129 30000 $m $m udp 0 1 60000 >/dev/null
	in_rcl "$LOAD" 192.0.2.129 30250 $mr $mr udp 0 1 60000 >/dev/null
	run "m renew lat $s" "$NS_RCL" 192.0.2.129 20000 $nr $((r / 4)) udp 7200 1 60000
	run "m renew rate $s" "$NS_RCL" 192.0.2.129 20000 $nr $r udp 7200 $rw 60000
}

declare -A LEASES=()
idx=0
for s in $SIZES; do
	echo "pcp: $s leases" >&2
	xdp_fill "$s"
	ref_fill "$s"
	LEASES[x$s]=$(xdp_leases) LEASES[m$s]=$(ref_leases)
	echo "  tables: xdpfwd ${LEASES[x$s]}, miniupnpd ${LEASES[m$s]}" >&2
	measure "$s" $idx
	idx=$((idx + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
lat() { echo "$(ms "$(field "$1" p50_us)") / $(ms "$(field "$1" p99_us)")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "-" }'; }
{
	echo "# NAT-PMP/PCP server: xdpfwd serve --pcp and miniupnpd"
	echo
	echo "\`bench/pcp.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), miniupnpd $(dpkg-query -W -f='${Version}' miniupnpd-nftables)."
	echo "Load average before / after the run: $load_before / $load_after (other engineers' builds and"
	echo "labs shared the machine: the figures are of a loaded machine)."
	echo
	echo "Requests answered per second ($RW outstanding, at most one per port renewed; NAT-PMP map requests of 12 bytes):"
	echo
	echo "| leases (xdpfwd / miniupnpd) | map/s xdpfwd | map/s miniupnpd | ratio | renewal/s xdpfwd | renewal/s miniupnpd | ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for s in $SIZES; do
		xm=$(field "x map rate $s" rate) mm=$(field "m map rate $s" rate)
		xr=$(field "x renew rate $s" rate) mr=$(field "m renew rate $s" rate)
		echo "| $s (${LEASES[x$s]} / ${LEASES[m$s]}) | $xm | $mm | $(ratio "$xm" "$mm") | $xr | $mr | $(ratio "$xr" "$mr") |"
	done
	echo
	echo "Latency, ms, median / p99 (one request outstanding):"
	echo
	echo "| leases | map xdpfwd | map miniupnpd | renewal xdpfwd | renewal miniupnpd |"
	echo "|---|---:|---:|---:|---:|"
	for s in $SIZES; do
		echo "| $s | $(lat "x map lat $s") | $(lat "m map lat $s") | $(lat "x renew lat $s") | $(lat "m renew lat $s") |"
	done
	echo
	echo "Every run (pcpload's line: answered, lost, retries, seconds, rate, p50/p99 in µs, results):"
	echo
	echo '```'
	for s in $SIZES; do
		for k in "x map lat" "x map rate" "x renew lat" "x renew rate" "m map lat" "m map rate" "m renew lat" "m renew rate"; do
			echo "$k $s: ${R[$k $s]}"
		done
	done
	echo '```'
} >"$OUT"
cat "$OUT"
