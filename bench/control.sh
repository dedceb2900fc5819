#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# Control-plane scale: `load` of 65,536 mappings into an empty table and into
# a full one with 100 changes, `add` and `del` of one mapping with 65,536
# present, and the maps' memory per mapping. Results: bench/results/control.md.
# Times are wall time of the whole command (process start, parse, validate,
# the diff, the map writes), median (min-max) of RUNS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
N=65536
XDPFWD=$PWD/build/xdpfwd
NS=xf-bench-control-$$
export XDPFWD_PIN_DIR=/sys/fs/bpf/xdpfwd-control-$$
OUT=bench/results/control.md
tmp=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$XDPFWD_PIN_DIR" "$tmp"' EXIT

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ip netns add $NS
ip -n $NS link add pub0 type veth peer name tun0
ip -n $NS addr add 203.0.113.10/24 dev pub0
ip -n $NS addr add 203.0.113.11/24 dev pub0
for d in pub0 tun0 lo; do ip -n $NS link set $d up; done
x() { ip netns exec $NS "$XDPFWD" "$@"; }
x attach pub0 --tunnel tun0 >/dev/null

table() { # N [CHANGED]: N mappings; the first CHANGED get another target port
	awk -v n="$1" -v c="${2:-0}" 'BEGIN { for (i = 0; i < n; i++) { a = int(i / 32768); p = 10000 + int((i % 32768) / 2)
		printf "%s 203.0.113.%d:%d 10.8.0.%d:%d\n", (i % 2 ? "udp" : "tcp"), 10 + a, p, 2 + a, (i < c ? p + 30000 : p) } }'
}
table $N >"$tmp/full.conf"
table $N 100 >"$tmp/changed.conf"
: >"$tmp/empty.conf"
ms() { # COMMAND...: wall ms
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

for ((r = 0; r < RUNS; r++)); do
	x load "$tmp/empty.conf" >/dev/null
	ms x load "$tmp/full.conf" >>"$tmp/load_empty"
	ms x load "$tmp/changed.conf" >>"$tmp/load_changes"
	x load "$tmp/full.conf" >/dev/null
	ms x add udp 203.0.113.10:9000 10.8.0.9 >>"$tmp/add"
	ms x del udp 203.0.113.10:9000 >>"$tmp/del"
done
[ "$(x list --json | jq length)" = $N ] || { echo "control: the table does not hold $N mappings" >&2; exit 1; }
# Kernel memory of the maps (memlock as the kernel accounts it), full table.
mem=$(ip netns exec $NS bpftool map show -j | jq '[.[] | select(.name | startswith("xdpfwd_")) | .bytes_memlock] | add')
{
	echo "# Control-plane scale"
	echo
	echo "$(date -u +%F), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "xdpfwd $("$XDPFWD" --version | cut -d' ' -f2). Made by \`bench/control.sh\`: wall time of the whole"
	echo "command, median (min-max) of $RUNS runs, with $N mappings (no ranges: one entry pair each)."
	echo
	echo "| operation | ms |"
	echo "|---|---:|"
	echo "| load $N mappings into an empty table | $(stats <"$tmp/load_empty") |"
	echo "| load the same $N with 100 changed | $(stats <"$tmp/load_changes") |"
	echo "| add one mapping, $N present | $(stats <"$tmp/add") |"
	echo "| del one mapping, $N present | $(stats <"$tmp/del") |"
	echo
	echo "Map memory (bytes_memlock of every xdpfwd map, sized for $(printf "%'d" 131072) mappings and"
	echo "$(printf "%'d" 262144) port entries, preallocated except the mapping records): $((mem / 1048576)) MiB,"
	echo "$((mem / N)) bytes per mapping at $N mappings, $((mem / 131072)) per mapping of the capacity; it does"
	echo "not grow with the table (the hash maps are preallocated), which keeps the data path free of"
	echo "allocation."
} >"$tmp/report"
mkdir -p "$(dirname "$OUT")"
cp "$tmp/report" "$OUT"
cat "$OUT"
