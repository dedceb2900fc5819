#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# What loading xdpfwd's BPF object costs, which every attach, attach
# --replace and rebuild pays: per program, the instructions the verifier
# processes (the same on every run for one kernel and one object) and its
# own time; the wall time of the whole load, and of creating the maps alone
# (the object loaded with no program). build/verifier (bench/verifier.c)
# loads the object with the verifier's statistics on (log level 4); nothing
# is pinned or attached. BASE=REV builds the object of another commit too
# and measures both, alternating, in the same run. Results:
# bench/results/verifier.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BASE=${BASE:-}
BENCH=verifier
XDPFWD=$PWD/build/xdpfwd
source bench/lib.sh
OUT=bench/results/verifier.md
make -s build/xdpfwd build/verifier
objs=("build/xdpfwd.bpf.o")
names=("this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- bpf include || echo -dirty))")
if [ -n "$BASE" ]; then
	mkdir -p "$tmp/base"
	git archive "$BASE" | tar -x -C "$tmp/base"
	make -s -C "$tmp/base" build/xdpfwd.bpf.o >/dev/null
	objs=("$tmp/base/build/xdpfwd.bpf.o" "${objs[@]}")
	names=("$(git rev-parse --short "$BASE")" "${names[@]}")
fi
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
for ((r = 0; r < RUNS; r++)); do
	for i in "${!objs[@]}"; do
		build/verifier "${objs[$i]}" >"$tmp/run.$i.$r"
	done
done
{
	bench_header "Loading the BPF object: the verifier's work and the maps"
	echo
	echo "Instructions the verifier processed per program (the same on every run), and"
	echo "wall times in ms, median (min-max) of $RUNS runs, the objects loaded in turn."
	echo
	printf '| program |'
	printf ' %s |' "${names[@]}"
	echo
	printf '|---|'
	printf -- '---:|%.0s' "${names[@]}"
	echo
	for p in $(awk '$1 == "program" { print $2 }' "$tmp/run.0.0"); do
		printf '| %s, instructions |' "$p"
		for i in "${!objs[@]}"; do
			printf ' %s |' "$(awk -v p="$p" '$1 == "program" && $2 == p { print $4 }' "$tmp/run.$i.0" |
				sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')"
		done
		echo
		printf '| %s, verifier time (ms) |' "$p"
		for i in "${!objs[@]}"; do
			printf ' %s |' "$(cat "$tmp"/run."$i".* | awk -v p="$p" '$1 == "program" && $2 == p {
				for (f = 1; f < NF; f++) if ($f == "time") print int($(f + 1) / 1000) }' | median)"
		done
		echo
	done
	for what in load maps-only; do
		printf '| %s (ms) |' "$([ $what = load ] && echo "whole load" || echo "maps alone")"
		for i in "${!objs[@]}"; do
			printf ' %s |' "$(cat "$tmp"/run."$i".* | awk -v w=$what '$1 == w { print $2 }' | median)"
		done
		echo
	done
} >"$OUT"
cat "$OUT"
