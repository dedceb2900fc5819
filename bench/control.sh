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
source bench/lib.sh
OUT=bench/results/control.md
bench_up
x attach pub0 --tunnel tun0 >/dev/null

bench_table $N >"$tmp/full.conf"
bench_table $N 100 >"$tmp/changed.conf"
: >"$tmp/empty.conf"
ms() { # COMMAND...: wall ms
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

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
mem=$(ip netns exec "$BENCH_NS" bpftool map show -j | jq '[.[] | select(.name | startswith("xdpfwd_")) | .bytes_memlock] | add')
{
	bench_header "Control-plane scale"
	echo "Wall time of the whole command, median (min-max) of $RUNS runs, with $N mappings (no ranges:"
	echo "one entry pair each)."
	echo
	echo "| operation | ms |"
	echo "|---|---:|"
	echo "| load $N mappings into an empty table | $(bench_stats <"$tmp/load_empty") |"
	echo "| load the same $N with 100 changed | $(bench_stats <"$tmp/load_changes") |"
	echo "| add one mapping, $N present | $(bench_stats <"$tmp/add") |"
	echo "| del one mapping, $N present | $(bench_stats <"$tmp/del") |"
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
