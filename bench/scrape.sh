#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# Scrape cost of `xdpfwd serve`: time per GET /metrics and the daemon's memory
# with 1, 1,000 and 65,536 mappings. One network namespace with a veth pair
# stands in for the server (the data path is idle: scrape cost does not depend
# on traffic, only on the number of series). Results: bench/results/scrape.md.
#
# Method: the table is loaded with `xdpfwd load`, the daemon is scraped once
# to warm up, then SCRAPES times with curl; we report the median, min and max
# of curl's total time (connect, render, transfer) and of the daemon's own
# xdpfwd_scrape_duration_seconds (reading the maps and rendering), the body
# size, and the daemon's resident and peak memory (VmRSS, VmHWM) after them.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${SCRAPES:-20}
COUNTS=${COUNTS:-"1 1000 65536"}
source bench/lib.sh
OUT=bench/results/scrape.md
bench_up
x attach pub0 --tunnel tun0 >/dev/null

stats() { # FILE: median min max of a column of numbers
	sort -g "$1" | awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

ip netns exec "$BENCH_NS" "$XDPFWD" serve --metrics 127.0.0.1:9977 >/dev/null &
serve_pid=$!
BENCH_PIDS+=($serve_pid)
for ((i = 0; i < 50; i++)); do ip netns exec "$BENCH_NS" curl -sf -o /dev/null http://127.0.0.1:9977/ && break; sleep 0.1; done

{
	bench_header "Scrape cost of xdpfwd serve"
	echo "$SCRAPES scrapes per point after one warm-up; median (min-max)."
	echo
	echo "| mappings | series | body | scrape, curl (ms) | scrape, daemon (ms) | RSS after (MiB) | peak RSS (MiB) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
} >"$tmp/report"

for n in $COUNTS; do
	bench_table "$n" >"$tmp/table.conf"
	load_s=$( { /usr/bin/time -f %e ip netns exec "$BENCH_NS" "$XDPFWD" load "$tmp/table.conf" >/dev/null; } 2>&1)
	ip netns exec "$BENCH_NS" curl -sf -o "$tmp/body" http://127.0.0.1:9977/metrics
	: >"$tmp/curl" && : >"$tmp/daemon"
	for ((i = 0; i < SCRAPES; i++)); do
		ip netns exec "$BENCH_NS" curl -sf -o "$tmp/body" -w '%{time_total}\n' http://127.0.0.1:9977/metrics |
			awk '{ print $1 * 1000 }' >>"$tmp/curl"
		awk '/^xdpfwd_scrape_duration_seconds / { print $2 * 1000 }' "$tmp/body" >>"$tmp/daemon"
	done
	got=$(awk '/^xdpfwd_mappings / { print $2 }' "$tmp/body")
	[ "$got" = "$n" ] || { echo "scrape: the daemon reports $got mappings, want $n" >&2; exit 1; }
	series=$(grep -c '^xdpfwd_mapping_' "$tmp/body")
	read -r cm cmin cmax <<<"$(stats "$tmp/curl")"
	read -r dm dmin dmax <<<"$(stats "$tmp/daemon")"
	rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$serve_pid/status")
	hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$serve_pid/status")
	body=$(stat -c %s "$tmp/body" | numfmt --to=iec)
	printf '| %d | %d | %sB | %s (%s-%s) | %s (%s-%s) | %s | %s |\n' "$n" "$series" "$body" \
		"$cm" "$cmin" "$cmax" "$dm" "$dmin" "$dmax" "$rss" "$hwm" >>"$tmp/report"
	echo "scrape: $n mappings loaded in ${load_s}s, scrape median ${cm} ms" >&2
done
cp "$tmp/report" "$OUT"
cat "$OUT"
