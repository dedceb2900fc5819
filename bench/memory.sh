#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The maps' memory and the time a fresh attach takes, by capacity (attach
# --capacity N): for each N, an attach in a namespace of its own (pub0 and a
# veth standing in for the tunnel), then every pinned map's bytes_memlock as
# the kernel reports it (bpftool map show; the kernel's map_mem_usage, which
# for a preallocated map is what it allocated whatever it holds), then detach
# --purge. RUNS attaches per capacity; the time is the median wall time and
# CPU time (user + system) of the attach command. Results:
# bench/results/memory.md.
#   CAPACITIES="1000 65536 1048576" RUNS=3 bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CAPACITIES=${CAPACITIES:-1000 65536 1048576}
RUNS=${RUNS:-3}
source bench/lib.sh
OUT=bench/results/memory.md
bench_up

# One attach at capacity N: "WALL CPU" seconds on stdout, the maps'
# "NAME MAX_ENTRIES BYTES" lines into FILE; with FULL, after a table of N
# mappings of one port each is loaded.
attach_once() { # N FILE [FULL]
	local t
	t=$( { /usr/bin/time -f '%e %U %S' ip netns exec "$BENCH_NS" "$XDPFWD" attach pub0 --tunnel tun0 \
		--capacity "$1" >/dev/null; } 2>&1 | tail -1)
	if [ -n "${3:-}" ]; then
		bench_table "$1" >"$tmp/full.conf"
		x load "$tmp/full.conf" --force >/dev/null
	fi
	for m in "$XDPFWD_PIN_DIR"/xdpfwd_*; do
		bpftool -j map show pinned "$m" | jq -r '"\(.name) \(.max_entries) \(.bytes_memlock)"'
	done >"$2"
	x detach pub0 --purge-state >/dev/null
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' <<<"$t"
}

declare -A total wall cpu
# The maps at 65,536 with a full table: what the entries written take.
attach_once 65536 "$tmp/maps.full" full >/dev/null
full=$(awk '{ s += $3 } END { print s }' "$tmp/maps.full")
for n in $CAPACITIES; do
	: >"$tmp/times.$n"
	for ((r = 0; r < RUNS; r++)); do attach_once "$n" "$tmp/maps.$n" >>"$tmp/times.$n"; done
	total[$n]=$(awk '{ s += $3 } END { print s }' "$tmp/maps.$n")
	wall[$n]=$(cut -d' ' -f1 "$tmp/times.$n" | bench_stats %.2f)
	cpu[$n]=$(cut -d' ' -f2 "$tmp/times.$n" | bench_stats %.2f)
	echo "capacity $n: $((total[$n] >> 20)) MiB of maps; attach ${wall[$n]} s wall, ${cpu[$n]} s CPU" >&2
done

{
	bench_header "Map memory and attach time by capacity"
	echo
	echo "Sum of bytes_memlock of every pinned map (as \`bpftool map show\` reports it) after a fresh"
	echo "\`attach --capacity N\` with an empty table, and the attach's time: median (min-max) of $RUNS."
	echo "Maps marked * are sized by the capacity (XDPFWD_CAPACITY_MAPS in include/xdpfwd.h); the"
	echo "others are fixed. bytes/mapping: the map's bytes over the capacity."
	echo
	printf '| map |'
	for n in $CAPACITIES; do printf ' %s: bytes | bytes/mapping |' "$n"; done
	echo
	printf '|---|'
	for n in $CAPACITIES; do printf -- '---:|---:|'; done
	echo
	for name in $(sort -k3,3nr "$tmp/maps.${CAPACITIES##* }" | cut -d' ' -f1); do
		star=
		grep -q "\"$name\"" <(sed -n '/XDPFWD_CAPACITY_MAPS(X)/,/^$/p' include/xdpfwd.h) && star='*'
		[ "$name" = xdpfwd_owner ] && star='*'
		printf '| %s%s |' "$name" "$star"
		for n in $CAPACITIES; do
			awk -v m="$name" -v n="$n" '$1 == m { printf " %d | %.1f |", $3, $3 / n }' "$tmp/maps.$n"
		done
		echo
	done
	printf '| **all maps** |'
	for n in $CAPACITIES; do
		awk -v s="${total[$n]}" -v n="$n" 'BEGIN { printf " **%d** (%.1f MiB) | **%.1f** |", s, s / 1048576, s / n }'
	done
	echo
	printf '| attach, wall s |'
	for n in $CAPACITIES; do printf ' %s | |' "${wall[$n]}"; done
	echo
	printf '| attach, CPU s |'
	for n in $CAPACITIES; do printf ' %s | |' "${cpu[$n]}"; done
	echo
	echo
	awk -v s="$full" 'BEGIN { printf "With a full table of 65,536 mappings of one port each (`load`), the maps take %d bytes (%.1f MiB, %.1f bytes a mapping):\n\n", s, s / 1048576, s / 65536 }'
	echo "| map | bytes | bytes/mapping |"
	echo "|---|---:|---:|"
	sort -k3,3nr "$tmp/maps.full" | awk '$3 >= 65536 { printf "| %s | %d | %.1f |\n", $1, $3, $3 / 65536 }'
} >"$OUT"
echo "wrote $OUT" >&2
