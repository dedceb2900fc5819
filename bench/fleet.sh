#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The fleet (issue 16) under load, in the fleet lab (tools/fleet-lab.sh: three
# etcd members in namespaces on tmpfs, gateway gw1 the server of its own
# WireGuard lab, xdpfwd serve --fleet on it):
#  - the time from `xdpfwd fleet add` to forwarding, median and p99 over
#    CHANGES (1,000) changes: each a new public port to a UDP echo port of
#    its own on the client, the time from the command's start until a datagram sent
#    every millisecond from the internet comes back (bench/fleetprobe.py);
#  - the time to apply 65,536 mappings written into etcd (512 transactions
#    of 128 puts, tools/etcd-push.py) to an empty gateway: from the first
#    write and from the last until `list` has them all; then after a
#    compaction: the daemon stopped, 1,000 of the lines changed, etcd
#    compacted, the daemon started: until the table is the store's again;
#  - the daemon's CPU (user + system, % of one core, from /proc) while
#    1,000 changes a second stream in for STREAM_S (20) seconds.
# Results: bench/results/fleet.md.
set -euo pipefail
cd "$(dirname "$0")/.."
XDPFWD=${XDPFWD:-$PWD/build/xdpfwd}
OUT=${OUT:-bench/results/fleet.md}
CHANGES=${CHANGES:-1000}
STREAM_S=${STREAM_S:-20}
[ -x "$XDPFWD" ] || { echo "fleet: make build/xdpfwd first" >&2; exit 1; }
for c in etcd etcdctl wireguard-go jq python3; do
	command -v $c >/dev/null || { echo "fleet: needs $c (tools/install-deps.sh)" >&2; exit 1; }
done
source tools/lab.sh
source tools/fleet-lab.sh
FLEET_GWS=1
# Without errexit in the trap: a kill of a process already gone must not end it.
trap 'set +e; fleet_lab_down; lab_down' EXIT
trap 'exit 130' INT TERM
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
now_us() { echo "${EPOCHREALTIME/./}"; }
since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; } # US
count() { fleet_gw 1 list --json | jq length; }
serve() {
	lab_spawn "$(fleet_ns 1)" env XDPFWD_PIN_DIR="$(fleet_pin 1)" XDPFWD_STATE_DIR="$FLEET_STATE/gw1" \
		"$XDPFWD" serve --fleet "$(etcd_endpoints)" --gateway gw1 --metrics "$(fleet_mgmt 1):9977" \
		>>"$LAB_TMP/serve.log" 2>&1
	SERVE=${LAB_PIDS[-1]}
}
serve_stop() { kill "$SERVE" && wait "$SERVE" 2>/dev/null || true; LAB_PIDS=("${LAB_PIDS[@]/$SERVE/}"); }
until_count() { # N LIMIT_S: polls list every 0.5 s until it holds N mappings
	local t0
	t0=$(now_us)
	until [ "$(count)" = "$1" ]; do
		(($(now_us) - t0 < $2 * 1000000)) || { echo "fleet: gw1 never had $1 mappings: $(tail -3 "$LAB_TMP/serve.log")" >&2; return 1; }
		sleep 0.5
	done
}
pct() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] }'; }

fleet_lab_up >/dev/null
serve
wait_for 120 in_fnet curl -sf "http://$(fleet_mgmt 1):9977/metrics" || { echo "fleet: serve --fleet does not start: $(tail -3 "$LAB_TMP/serve.log")" >&2; exit 1; }

# 1. fleet add -> forwarding.
lab_spawn "$(fleet_cl 1)" python3 bench/fleetprobe.py echo 10.8.1.2 5000 "$CHANGES"
wait_for 30 in_fcl 1 sh -c "ss -Huln | grep -q '10.8.1.2:$((5000 + CHANGES - 1)) '"
in_finet python3 bench/fleetprobe.py probe "$(fleet_pub 1)" 20000 "$CHANGES" 10.8.1.2 5000 -- \
	ip netns exec "$ETCD_NS_NET" env XDPFWD_FLEET="$(etcd_endpoints)" "$XDPFWD" fleet add gw1 >"$LAB_TMP/latency"
timeouts=$(grep -c timeout "$LAB_TMP/latency" || true)
lat_p50=$(grep -v timeout "$LAB_TMP/latency" | cut -d' ' -f1 | pct 50)
lat_p99=$(grep -v timeout "$LAB_TMP/latency" | cut -d' ' -f1 | pct 99)
cli_p50=$(grep -v timeout "$LAB_TMP/latency" | cut -d' ' -f2 | pct 50)
echo "fleet: add -> forwarding: median $lat_p50 ms, p99 $lat_p99 ms (the command itself: median $cli_p50 ms; $timeouts timeouts)"
etcd_ctl del --prefix /xdpfwd/v1/gw/gw1/ >/dev/null
until_count 0 60

# 2. 65,536 mappings from empty, then after a compaction.
awk 'BEGIN { for (p = 10000; p < 42768; p++) { print "udp", p, "10.8.1.2"; print "tcp", p, "10.8.1.2" } }' >"$LAB_TMP/65536.conf"
t0=$(now_us)
push=$(in_fnet python3 tools/etcd-push.py "$(etcd_url 1)" gw1 "$LAB_TMP/65536.conf")
t1=$(now_us)
push_s=$(jq .seconds <<<"$push")
until_count 65536 120
empty_first=$(since "$t0") empty_last=$(since "$t1")
echo "fleet: 65,536 from empty: pushed in $push_s s; applied $empty_first s after the first write, $empty_last s after the last"
serve_stop
# Another target port for the first 1,000, above every other mapping's
# (a target is one mapping's only).
awk 'NR <= 1000 { print $1, $2, $3 ":" ($2 + 32768) }' "$LAB_TMP/65536.conf" >"$LAB_TMP/changed-1000.conf"
in_fnet python3 tools/etcd-push.py "$(etcd_url 1)" gw1 "$LAB_TMP/changed-1000.conf" >/dev/null
etcd_compact
t0=$(now_us)
serve
changed() { fleet_gw 1 list --json | jq '[.[] | select(.target_port >= 42768)] | length'; }
until [ "$(changed)" = 1000 ]; do
	(($(now_us) - t0 < 120000000)) || { echo "fleet: the re-list does not converge" >&2; exit 1; }
	sleep 0.5
done
relist_s=$(since "$t0")
relists=$(in_fnet curl -sf "http://$(fleet_mgmt 1):9977/metrics" | awk '/^xdpfwd_fleet_resyncs_total/ && $2 > 0 { printf "%s%s", s, $0; s = ", " }')
echo "fleet: after a compaction (1,000 of 65,536 changed): the daemon started to converged in $relist_s s ($relists)"
[ "$(count)" = 65536 ] || echo "fleet: the table has $(count) mappings after the re-list" >&2

# 3. The daemon's CPU while 1,000 changes a second stream in.
ticks() { awk '{ print $14 + $15 }' "/proc/$SERVE/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks) t0=$(now_us)
stream=$(in_fnet python3 tools/etcd-push.py "$(etcd_url 1)" gw1 --stream 1000 "$STREAM_S")
c1=$(ticks)
wall=$(since "$t0")
cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN { printf "%.1f", 100 * c / hz / w }')
rate=$(jq -r '.keys / .seconds | floor' <<<"$stream")
echo "fleet: $rate changes/s for $wall s: the daemon used $cpu% of a core"

{
	bench_header_fleet() {
		echo "# The fleet: etcd to the gateway's maps"
		echo
		echo "$(date -u +%F), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
		echo "$(nproc) CPUs, xdpfwd $("$XDPFWD" --version | cut -d' ' -f2-), $(etcd --version | head -1) (three members on tmpfs,"
		echo "in network namespaces). Made by \`bench/fleet.sh\`. Load average before: $load_before."
	}
	bench_header_fleet
	echo
	echo "| what | figure |"
	echo "|---|---:|"
	echo "| \`fleet add\` to forwarding, median over $CHANGES changes | $lat_p50 ms |"
	echo "| \`fleet add\` to forwarding, p99 | $lat_p99 ms |"
	echo "| of which the command itself (exec, connect, put), median | $cli_p50 ms |"
	echo "| changes not forwarded within 10 s | $timeouts |"
	echo "| 65,536 mappings pushed (512 txns of 128 puts) | $push_s s |"
	echo "| 65,536 to an empty gateway, from the first write | $empty_first s |"
	echo "| 65,536 to an empty gateway, from the last write | $empty_last s |"
	echo "| after a compaction (1,000 of 65,536 changed while the daemon was stopped): start to converged | $relist_s s |"
	echo "| daemon CPU while $rate changes/s stream in ($STREAM_S s, 10 a transaction) | $cpu% of a core |"
	echo
	echo "Re-lists at the end: $relists. Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"
echo "fleet: results in $OUT"
