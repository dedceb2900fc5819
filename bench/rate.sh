#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The rate a --rate mapping delivers end to end: the e2e lab (a real
# WireGuard tunnel, tools/lab.sh), two iperf3 senders pinned one to each core
# flooding a --rate RATE:BURST mapping at OFFERED packets/s, and the packets/s
# the client's nftables counter sees in the steady state (past the burst),
# next to what xdpfwd forwarded over the same window. A measurement, not a
# test: on a busy machine a stalled sender lowers it (the e2e test judges the
# bucket by its counters instead). Results: bench/results/rate.md.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
RATE=${RATE:-2000}
BURST=${BURST:-1000}
OFFERED=${OFFERED:-10000}
XDPFWD=${XDPFWD:-$PWD/build/xdpfwd}
source tools/lab.sh
OUT=bench/results/rate.md
trap 'lab_down' EXIT
trap 'exit 130' INT TERM

seen() { # NS: the nftables counter of UDP to the mapping's ports
	ip netns exec "$1" nft -j list counter inet xfrate seen | jq '.nftables[] | .counter? // empty | .packets'
}
count() { # NS HOOK
	ip netns exec "$1" nft delete table inet xfrate 2>/dev/null
	ip netns exec "$1" nft -f - <<NFT
table inet xfrate {
	counter seen { }
	chain c { type filter hook $2 priority 0; udp dport 7400-7401 counter name seen; }
}
NFT
}
rx() { xdpfwd stats --json | jq '.mappings[] | select(.proto == "udp" and .public_port == 7400) | .rx_packets'; }

lab_up || { echo "rate: the lab could not be built" >&2; exit 1; }
lab_processes=${#LAB_PIDS[@]} # the tunnels'
xdpfwd attach pub0 --tunnel "$LAB_WG_VPN" --clients "$LAB_CLIENTS" >/dev/null
xdpfwd add tcp 7400-7401 10.8.0.2 >/dev/null
for ((r = 0; r < RUNS; r++)); do
	xdpfwd del udp 7400-7401 >/dev/null 2>&1
	xdpfwd add udp 7400-7401 10.8.0.2 --rate "$RATE:$BURST" >/dev/null # a full bucket
	count "$NS_INET" output
	count "$NS_CLI" input
	for p in 7400 7401; do lab_spawn "$NS_CLI" iperf3 -s -B 10.8.0.2 -p $p -1; done
	wait_for 10 in_cli sh -c "ss -Htln | grep -q '10.8.0.2:7401 '"
	pids=()
	for cpu in 0 1; do
		in_inet taskset -c $cpu iperf3 -c 203.0.113.10 -p $((7400 + cpu)) -u \
			-b $((OFFERED * 100 * 8 / 2)) -l 100 -t 6 >/dev/null &
		pids+=($!)
	done
	# Past the burst, in the steady state: two seconds, then three more.
	sleep 2
	t0=$(date +%s%N) c0=$(seen "$NS_CLI") f0=$(rx)
	sleep 3
	t1=$(date +%s%N) c1=$(seen "$NS_CLI") f1=$(rx)
	for p in "${pids[@]}"; do wait "$p"; done
	lab_stop_since "$lab_processes"
	echo "$(((c1 - c0) * 1000000000 / (t1 - t0))) $(((f1 - f0) * 1000000000 / (t1 - t0))) $(seen "$NS_INET")" >>"$LAB_TMP/runs"
	echo "run $((r + 1)): $(tail -1 "$LAB_TMP/runs")"
done
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
{
	echo "# A --rate mapping end to end"
	echo
	echo "$(date -u +%F), kernel $(uname -r), $(nproc) CPUs, xdpfwd $("$XDPFWD" --version | cut -d' ' -f2-)."
	echo "Made by \`bench/rate.sh\`: the e2e lab (WireGuard through wireguard-go), two iperf3 senders"
	echo "pinned one to each core offering $OFFERED packets/s of 100-byte UDP to a"
	echo "\`--rate $RATE:$BURST\` mapping; packets/s over 3 s of the steady state (from 2 s in),"
	echo "median (min-max) of $RUNS runs, load average $(cut -d' ' -f1 /proc/loadavg) at the end."
	echo
	echo "| where | packets/s |"
	echo "|---|---:|"
	echo "| forwarded by xdpfwd (the mapping's rx_packets) | $(awk '{ print $2 }' "$LAB_TMP/runs" | median) |"
	echo "| received by the client (nftables input counter) | $(awk '{ print $1 }' "$LAB_TMP/runs" | median) |"
} >"$OUT"
cat "$OUT"
