#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The daemon's own costs with a table of N leased mappings (65,536 unless
# told): its start until /metrics answers, a scrape (curl's time and the
# daemon's xdpfwd_scrape_duration_seconds), and one expiry round that ends K
# leases (1 and 1,000). OLD=BINARY measures that build in the same lab, each
# step alternating with this one, for a before/after under the same load.
#
# An expiry round is timed from outside, the same way for any build: strace
# follows the daemon's main thread, which sleeps in rt_sigtimedwait() between
# rounds; a round is the time between one wait's return and the next wait,
# and the longest round after the leases' end is the one that ended them.
# Results: bench/results/serve.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-65536}
RUNS=${RUNS:-3}
source bench/lib.sh
OUT=bench/results/serve.md
NEW=$XDPFWD
builds=(new)
[ -n "${OLD:-}" ] && builds=(old new)
command -v strace >/dev/null || { echo "serve: needs strace to time expiry rounds" >&2; exit 1; }
bench_up
x attach pub0 --tunnel tun0 >/dev/null
bench_table "$N" | sed 's/$/ ttl=3600/' >"$tmp/full.conf"
x load "$tmp/full.conf" >/dev/null
# A journal that follows the snapshot, as after any add.
x add udp 203.0.113.10:60000 10.8.0.9 >/dev/null && x del udp 203.0.113.10:60000 >/dev/null

bin() { [ "$1" = old ] && echo "$OLD" || echo "$NEW"; }
# Started from this shell, not a subshell: serve finds the host's bpffs
# through its parent's /proc/PID/root (ip netns exec hides it).
serve_up() { # BUILD: starts it, its pid in $pid once /metrics answers; start time to $tmp/start.BUILD
	local t0 t1
	t0=$(date +%s%N)
	ip netns exec "$BENCH_NS" "$(bin "$1")" serve --metrics 127.0.0.1:9983 >>"$tmp/serve.$1.log" 2>&1 &
	pid=$!
	until ip netns exec "$BENCH_NS" curl -sf -o /dev/null http://127.0.0.1:9983/metrics; do sleep 0.005; done
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) >>"$tmp/start.$1"
}
scrapes() { # BUILD
	local i
	for ((i = 0; i < 3; i++)); do
		ip netns exec "$BENCH_NS" curl -sf -o "$tmp/body" -w '%{time_total}\n' http://127.0.0.1:9983/metrics |
			awk '{ print $1 * 1000000 }' >>"$tmp/scrape.$1"
		awk '/^xdpfwd_scrape_duration_seconds / { print $2 * 1000000 }' "$tmp/body" >>"$tmp/render.$1"
	done
}
# The longest round in an strace -ttt -T log of rt_sigtimedwait, in microseconds.
longest_round() {
	awk '/rt_sigtimedwait\(.*<[0-9.]+>$/ { t = $1; d = $NF; gsub(/[<>]/, "", d)
		if (prev) { g = t - prev; if (g > max) max = g }; prev = t + d }
		END { printf "%d\n", max * 1000000 }' "$1"
}
expiry() { # BUILD PID K: one round that ends K leases
	local s t0 i
	t0=$SECONDS
	if (($3 == 1)); then
		# An add is a journal record: its own round is short in any build.
		strace -ttt -T -e trace=rt_sigtimedwait -p "$2" -o "$tmp/strace" 2>/dev/null &
		s=$!
		sleep 0.5
		x add udp 203.0.113.10:50000 10.8.0.9 --ttl 3 >/dev/null
	else
		# A load rewrites the file: its own round (a read of the table)
		# passes before the trace starts, the leases end 20 s after it.
		for ((i = 0; i < $3; i++)); do echo "udp 203.0.113.10:$((50000 + i)) 10.8.0.9 ttl=20"; done >"$tmp/short.conf"
		cat "$tmp/full.conf" "$tmp/short.conf" >"$tmp/with.conf"
		x load "$tmp/with.conf" >/dev/null
		sleep 3
		strace -ttt -T -e trace=rt_sigtimedwait -p "$2" -o "$tmp/strace" 2>/dev/null &
		s=$!
	fi
	while ((SECONDS < t0 + ($3 == 1 ? 4 : 22))); do sleep 0.5; done
	until [ "$(x list --json | jq length)" = "$N" ]; do
		((SECONDS < t0 + 300)) || { echo "serve: the $3 leases did not end" >&2; tail -5 "$tmp/serve.$1.log" >&2; x list | grep -v " 10.8.0.[0-9]:" >&2; exit 1; }
		sleep 0.5
	done
	kill "$s" && wait "$s" 2>/dev/null || true
	longest_round "$tmp/strace" >>"$tmp/round$3.$1"
}
for ((r = 0; r < RUNS; r++)); do
	for b in "${builds[@]}"; do
		serve_up "$b"
		BENCH_PIDS+=("$pid")
		sleep 2 # its first rounds, and the rewrite of the file after the start
		scrapes "$b"
		expiry "$b" "$pid" 1
		expiry "$b" "$pid" 1000
		kill "$pid" && wait "$pid" 2>/dev/null || true
	done
done
ms() { awk '{ printf "%.1f\n", $1 / 1000 }' <"$tmp/$1" | bench_stats %.1f; }
{
	bench_header "The daemon's costs with $N leased mappings"
	echo "Milliseconds, median (min-max) of $RUNS runs (scrapes: 3 a run). An expiry round: from"
	echo "the main thread's wake to its next wait, timed by strace, ending K leases at once."
	echo
	if [ -n "${OLD:-}" ]; then
		echo "| | before ($("$OLD" --version | cut -d' ' -f2-)) | after |"
		echo "|---|---:|---:|"
		row() { echo "| $1 | $(ms "$2.old") | $(ms "$2.new") |"; }
	else
		echo "| | ms |"
		echo "|---|---:|"
		row() { echo "| $1 | $(ms "$2.new") |"; }
	fi
	row "serve's start until /metrics answers" start
	row "a scrape, curl" scrape
	row "a scrape, in the daemon" render
	row "an expiry round ending 1 lease" round1
	row "an expiry round ending 1,000 leases" round1000
} >"$tmp/report"
mkdir -p "$(dirname "$OUT")"
cp "$tmp/report" "$OUT"
cat "$OUT"
