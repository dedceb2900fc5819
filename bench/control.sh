#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# Control-plane scale, for tables of 1, 1,000 and 65,536 mappings:
#  - `add` and `del` of one mapping (the CLI, whole process, wall time), with
#    `xdpfwd --version` beside them: the floor of any command (process start,
#    ip netns exec) on the machine as loaded during the run;
#  - a renewal of one lease through renew_batch(), the daemon's call
#    (build/ctlbench), with the fdatasync() it waits for measured alone, and
#    batches of 1,000 renewals (group commit): renewals per second;
#  - `load` of the table into an empty one, and with 100 mappings changed;
#  - the state file's snapshot and journal on disk, and the start of `serve`
#    (journal replay included) until it answers /metrics;
#  - beside them, in the same run, nftables: `nft add element` / `nft delete
#    element` of one entry of a DNAT map of the same size.
# Medians (min-max) of RUNS (LOAD_RUNS for the loads). Results:
# bench/results/control.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-11}
LOAD_RUNS=${LOAD_RUNS:-3}
SIZES=${SIZES:-1 1000 65536}
source bench/lib.sh
OUT=bench/results/control.md
CTLBENCH=$PWD/build/ctlbench
# Without it (a build before renew_batch(), measured for comparison) the
# renewal rows are left out.
[ -x "$CTLBENCH" ] || echo "control: no build/ctlbench (make build/ctlbench): no renewal rows" >&2
bench_up
x attach pub0 --tunnel tun0 >/dev/null

us() { # COMMAND...: wall microseconds
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
ms_of() { awk '{ printf "%.1f\n", $1 / 1000 }'; }
stat_ms() { ms_of <"$tmp/$1" | bench_stats %.1f; } # FILE: median (min-max) in ms
stat_us() { bench_stats <"$tmp/$1"; }
leased() { bench_table "$@" | sed 's/$/ ttl=3600/'; }

# The nftables map a provider would keep: public endpoint -> target.
nft_up() { # N
	{
		echo "table ip xfbench { map pubmap { type ipv4_addr . inet_service : ipv4_addr . inet_service; }; }"
		bench_table "$1" | awk '{ split($2, p, ":"); split($3, t, ":")
			if ((NR - 1) % 4096 == 0) printf "%sadd element ip xfbench pubmap { ", (NR > 1 ? " }\n" : "")
			else printf ", "
			printf "%s . %s : %s . %s", p[1], p[2], t[1], t[2] }
			END { print " }" }'
	} >"$tmp/nft.conf"
	ip netns exec "$BENCH_NS" nft -f "$tmp/nft.conf"
}
nft_x() { ip netns exec "$BENCH_NS" nft "$@"; }

serve_start_us() { # microseconds until serve answers /metrics
	local t0 t1 pid
	t0=$(date +%s%N)
	ip netns exec "$BENCH_NS" "$XDPFWD" serve --metrics 127.0.0.1:9981 >/dev/null 2>&1 &
	pid=$!
	until ip netns exec "$BENCH_NS" curl -sf -o /dev/null http://127.0.0.1:9981/metrics; do sleep 0.005; done
	t1=$(date +%s%N)
	kill "$pid" && wait "$pid" 2>/dev/null || true
	echo $(((t1 - t0) / 1000))
}

state=$XDPFWD_STATE_DIR/$(basename "$XDPFWD_PIN_DIR").state
: >"$tmp/empty.conf"
for n in $SIZES; do
	leased "$n" >"$tmp/full.conf"
	leased "$n" $((n < 100 ? n : 100)) >"$tmp/changed.conf"
	for f in load_empty load_changes add del floor renew1 sync batch nft_add nft_del serve; do : >"$tmp/$f"; done
	for ((r = 0; r < LOAD_RUNS; r++)); do
		x load "$tmp/empty.conf" --force >/dev/null
		us x load "$tmp/full.conf" >>"$tmp/load_empty"
		us x load "$tmp/changed.conf" >>"$tmp/load_changes"
	done
	x load "$tmp/full.conf" >/dev/null
	for ((r = 0; r < RUNS; r++)); do
		us x --version >>"$tmp/floor"
		us x add udp 203.0.113.10:9000 10.8.0.9 >>"$tmp/add"
		us x del udp 203.0.113.10:9000 >>"$tmp/del"
	done
	if [ -x "$CTLBENCH" ]; then
		ip netns exec "$BENCH_NS" "$CTLBENCH" renew "$RUNS" 1 >"$tmp/renew1"
		ip netns exec "$BENCH_NS" "$CTLBENCH" sync "$RUNS" >"$tmp/sync"
	fi
	if [ -x "$CTLBENCH" ] && [ "$n" -ge 1000 ]; then
		ip netns exec "$BENCH_NS" "$CTLBENCH" renew "$RUNS" 1000 >"$tmp/batch"
	fi
	[ "$(x list --json | jq length)" = "$n" ] || { echo "control: the table does not hold $n mappings" >&2; exit 1; }
	snap=$(stat -c %s "$state")
	journal=$(stat -c %s "$state.journal" 2>/dev/null || echo 0)
	for ((r = 0; r < LOAD_RUNS; r++)); do serve_start_us >>"$tmp/serve"; done
	nft_up "$n"
	for ((r = 0; r < RUNS; r++)); do
		us nft_x add element ip xfbench pubmap "{ 203.0.113.10 . 9000 : 10.8.0.9 . 9000 }" >>"$tmp/nft_add"
		us nft_x delete element ip xfbench pubmap "{ 203.0.113.10 . 9000 }" >>"$tmp/nft_del"
	done
	nft_x flush ruleset
	{
		echo "| $n | add | $(stat_ms add) |"
		echo "| $n | del | $(stat_ms del) |"
		echo "| $n | \`xdpfwd --version\` (the floor of a command) | $(stat_ms floor) |"
		echo "| $n | nft add element | $(stat_ms nft_add) |"
		echo "| $n | nft delete element | $(stat_ms nft_del) |"
		if [ -s "$tmp/renew1" ]; then
			echo "| $n | renew one lease, renew_batch() with its fdatasync | $(stat_ms renew1) |"
			echo "| $n | fdatasync of a 100-byte append alone | $(stat_ms sync) |"
		fi
		if [ -s "$tmp/batch" ]; then
			med=$(bench_stats <"$tmp/batch" | cut -d' ' -f1)
			echo "| $n | 1,000 renewals, one batch (group commit) | $(stat_ms batch): $((1000 * 1000000 / med)) renewals/s |"
		fi
		echo "| $n | load into an empty table | $(stat_ms load_empty) |"
		echo "| $n | load with $((n < 100 ? n : 100)) changed | $(stat_ms load_changes) |"
		echo "| $n | serve's start until /metrics answers | $(stat_ms serve) |"
		echo "| $n | on disk: snapshot $snap bytes, journal $journal bytes | |"
	} >>"$tmp/rows"
done
# Kernel memory of the maps (memlock as the kernel accounts it).
mem=$(ip netns exec "$BENCH_NS" bpftool map show -j | jq '[.[] | select(.name | startswith("xdpfwd_")) | .bytes_memlock] | add')
{
	bench_header "Control-plane scale"
	echo "Wall time in ms, median (min-max) of $RUNS runs ($LOAD_RUNS for load and serve), for"
	echo "tables of $(echo "$SIZES" | sed 's/ /, /g') mappings (no ranges: one entry pair each, each with"
	echo "a lease). CLI rows are the whole process under \`ip netns exec\`; the floor row is what"
	echo "any command costs on the machine as loaded during the run. nft rows change one element"
	echo "of a DNAT map of the same size."
	echo
	echo "| mappings | operation | ms |"
	echo "|---:|---|---:|"
	cat "$tmp/rows"
	echo
	echo "Map memory (bytes_memlock of every xdpfwd map, sized for $(printf "%'d" 131072) mappings and"
	echo "$(printf "%'d" 262144) port entries, preallocated except the mapping records): $((mem / 1048576)) MiB; it"
	echo "does not grow with the table (the hash maps are preallocated), which keeps the data path"
	echo "free of allocation."
} >"$tmp/report"
mkdir -p "$(dirname "$OUT")"
cp "$tmp/report" "$OUT"
cat "$OUT"
