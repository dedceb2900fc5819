#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# Forwarding cost: xdpfwd against nftables, side by side in one run, on the
# same generated traffic. Results: bench/results/forward.{md,csv,png}.
#
#   gen ns               fwd ns (the VPN server)                  sink ns
#   gen0 ==== veth ==== pub0 203.0.113.10/.11                     
#                       tgt0 192.0.2.1 ========= veth ========== sink0 (XDP_DROP)
#                       btun0 10.8.0.1/16 (TUN, read empty by xdpgen on CPU 0)
#
# Configurations: nft_dnat (dnat in nat prerouting, conntrack), nft_stateless
# (notrack + payload rewrite of the address in raw prerouting), xdpfwd_off
# (--fast-path off: XDP rewrites, the stack forwards), xdpfwd_on (fast path).
#
# Method. xdpgen sends UDP frames with BPF_PROG_RUN in live-frames mode, pinned
# to CPU $CPU; veth hands each batch to pub0's NAPI in a softirq on that same
# CPU, and so on to the sink: generation, forwarding and the sink all run on
# one core, which the generator keeps 100% busy. Per run we read that CPU's
# busy time from /proc/stat and count what arrived (the sink's XDP drops, or
# the TUN's tx packets). Forwarding cost = busy ns / delivered packet - the
# generator's own ns / packet, measured in the same run by dropping the same
# traffic with XDP at pub0 ("baseline"). The sink's XDP_DROP stays in every
# configuration's figure (a few ns, the same for all).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
REPEAT=${REPEAT:-3}
CPU=${CPU:-1}
# Points: target mappings flows size. A flow is one 5-tuple (its own source
# address and port, and a mapped endpoint: flow i goes to mapping i mod
# mappings), so "1 flow" is one conntrack entry and 100,000 flows are 100,000;
# 1,000,000 flows overflow conntrack's table (262,144 entries by default).
# The default sweep varies one factor at a time around eth/1000/1000/64 and
# covers the floors' points.
POINTS=${POINTS:-"eth 1000 1 64
eth 1000 1000 64
eth 1000 100000 64
eth 1000 1000000 64
eth 1 1000 64
eth 65536 100000 64
eth 1000 1000 1400
l3 1000 1 64
l3 1000 100000 64"}
CONFIGS=${CONFIGS:-"nft_dnat nft_stateless xdpfwd_off xdpfwd_on"}
XDPFWD=$PWD/build/xdpfwd XDPGEN=$PWD/build/xdpgen
G=xfb-gen-$$ F=xfb-fwd-$$ S=xfb-sink-$$
export XDPFWD_PIN_DIR=/sys/fs/bpf/xdpfwd-bench-$$
OUT=bench/results
tmp=$(mktemp -d)
export XDPFWD_STATE_DIR=$tmp # the state file goes with the run
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in $G $F $S; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$XDPFWD_PIN_DIR" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_g() { ip netns exec $G "$@"; }
in_f() { ip netns exec $F "$@"; }
in_s() { ip netns exec $S "$@"; }
stop_pid() { kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true; }

GEN_MAC=02:00:00:00:01:01 PUB_MAC=02:00:00:00:01:02 TGT_MAC=02:00:00:00:02:01 SINK_MAC=02:00:00:00:02:02

lab_up() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	for ns in $G $F $S; do ip netns add $ns; ip -n $ns link set lo up; done
	ip -n $G link add gen0 address $GEN_MAC type veth peer name pub0 address $PUB_MAC netns $F
	ip -n $F link add tgt0 address $TGT_MAC type veth peer name sink0 address $SINK_MAC netns $S
	ip -n $G link set gen0 up
	ip -n $S link set sink0 up
	ip -n $F addr add 203.0.113.10/24 dev pub0
	ip -n $F addr add 203.0.113.11/24 dev pub0
	ip -n $F addr add 192.0.2.1/24 dev tgt0
	for d in pub0 tgt0; do ip -n $F link set $d up; done
	# veth hands frames to NAPI (where XDP and GRO run) only with GRO or XDP on
	# the receiver: GRO on for every configuration alike.
	in_f ethtool -K pub0 gro on >/dev/null
	in_f sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.pub0.rp_filter=0
	ip -n $F neigh add 203.0.113.20 lladdr $GEN_MAC dev pub0 nud permanent
	ip -n $F route add 198.18.0.0/15 via 203.0.113.20 dev pub0
	for a in 192.0.2.2 192.0.2.3; do ip -n $F neigh add $a lladdr $SINK_MAC dev tgt0 nud permanent; done
	# Spawned without a shell function in between, so $! is the process itself.
	ip netns exec $S "$XDPGEN" drop sink0 >/dev/null & pids+=($!)
	taskset -c 0 ip netns exec $F "$XDPGEN" tun-sink btun0 >/dev/null & pids+=($!)
	for ((i = 0; i < 50; i++)); do ip -n $F link show btun0 >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n $F addr add 10.8.0.1/16 dev btun0
	ip -n $F link set btun0 up
	# The tables map ports 10000-42767: keep the ephemeral range above them.
	ip netns exec $F sysctl -qw net.ipv4.ip_local_port_range="61000 65535"
}

# The table as "public_addr port target_addr" lines, one mapping each.
table() { # TARGET MAPPINGS
	awk -v t="$1" -v n="$2" 'BEGIN {
		for (i = 0; i < n; i++) {
			a = int(i / 32768); p = 10000 + i % 32768
			printf "203.0.113.%d %d %s\n", 10 + a, p, (t == "eth" ? "192.0.2." (2 + a) : "10.8.0." (2 + a))
		}
	}'
}

config_up() { # CONFIG TARGET MAPPINGS
	local c=$1
	table "$2" "$3" >"$tmp/table"
	case $c in
	nft_dnat | nft_stateless)
		{
			echo "table ip xfb {"
			if [ $c = nft_dnat ]; then
				echo "map ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }"
				echo "chain pre { type nat hook prerouting priority dstnat; policy accept; dnat ip to ip daddr . udp dport map @ports; }"
			else
				echo "map ports { type ipv4_addr . inet_service : ipv4_addr; }"
				echo "chain raw { type filter hook prerouting priority raw; policy accept; ip daddr 203.0.113.0/24 notrack ip daddr set ip daddr . udp dport map @ports; }"
			fi
			echo "}"
			awk -v dnat=$([ $c = nft_dnat ] && echo 1 || echo 0) '
				NR % 4096 == 1 { if (NR > 1) print "}"; printf "add element ip xfb ports {" ; sep = "" }
				{ printf "%s %s . %s : %s%s", sep, $1, $2, $3, (dnat ? " . " $2 : ""); sep = "," }
				END { print "}" }' "$tmp/table"
		} >"$tmp/ruleset.nft"
		in_f nft -f "$tmp/ruleset.nft"
		;;
	xdpfwd_off | xdpfwd_on)
		in_f "$XDPFWD" attach pub0 --tunnel btun0 --fast-path ${c#xdpfwd_} >/dev/null
		awk '{ print "udp " $1 ":" $2 " " $3 }' "$tmp/table" >"$tmp/table.conf"
		in_f "$XDPFWD" load "$tmp/table.conf" >/dev/null
		;;
	baseline)
		ip netns exec $F "$XDPGEN" drop pub0 >/dev/null & BASE_PID=$!
		pids+=($BASE_PID)
		sleep 0.3
		;;
	esac
}

config_down() { # CONFIG
	case $1 in
	nft_*) in_f nft delete table ip xfb ;;
	xdpfwd_*) in_f "$XDPFWD" detach pub0 --purge >/dev/null ;;
	baseline) stop_pid "$BASE_PID" ;;
	esac
}

cpu_busy_ns() { # busy jiffies of CPU as ns
	awk -v c="cpu$CPU" -v hz="$(getconf CLK_TCK)" '$1 == c { print ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz }' /proc/stat
}
delivered() { # TARGET
	if [ "$1" = eth ]; then
		in_s ethtool -S sink0 | awk '/rx_queue_0_xdp_drops/ { print $2 }'
	else
		ip -n $F -s -j link show btun0 | jq '.[0].stats64.tx.packets'
	fi
}
pub_received() { in_f ethtool -S pub0 | awk '/rx_queue_0_xdp_packets/ { print $2 }'; }

# conntrack's own drops: packets it dropped plus entries it evicted to make room.
ct_drops() { in_f conntrack -S 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(drop|early_drop|insert_failed)=/) { split($i, kv, "="); s += kv[2] } } END { print s + 0 }'; }

# One run: prints "generated delivered busy_ns conntrack_count conntrack_drops".
run_once() { # TARGET MAPPINGS FLOWS SIZE CONFIG
	local target=$1 m=$2 flows=$3 size=$4 c=$5 daddr=203.0.113.10 nports=$2 before after b0 b1 gen ct d0
	((m > 32768)) && daddr=203.0.113.10,203.0.113.11 nports=32768
	# Every run starts from an empty connection table: the same start for each
	# repeat, and no entries left over from another configuration.
	in_f conntrack -F >/dev/null 2>&1 || true
	if [ "$c" = baseline ]; then before=$(pub_received); else before=$(delivered "$target"); fi
	d0=$(ct_drops)
	b0=$(cpu_busy_ns)
	gen=$(taskset -c "$CPU" ip netns exec $G "$XDPGEN" send gen0 "$SECONDS_PER_RUN" "$size" "$flows" \
		198.18.0.1 $daddr 10000 "$nports" $GEN_MAC $PUB_MAC)
	sleep 0.2 # the last batches drain
	b1=$(cpu_busy_ns)
	if [ "$c" = baseline ]; then after=$(pub_received); else after=$(delivered "$target"); fi
	ct=$(in_f cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)
	echo "$gen $((after - before)) $(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.0f", b - a }') $ct $(($(ct_drops) - d0))"
}

lab_up
echo "point,config,rep,generated,delivered,busy_ns,conntrack,conntrack_drops" >"$tmp/runs.csv"
while read -r target m flows size; do
	[ -n "$target" ] || continue
	for c in baseline $CONFIGS; do
		config_up "$c" "$target" "$m"
		for ((r = 1; r <= REPEAT; r++)); do
			read -r gen del busy ct ctd <<<"$(run_once "$target" "$m" "$flows" "$size" "$c")"
			echo "$target/$m/$flows/$size,$c,$r,$gen,$del,$busy,$ct,$ctd" >>"$tmp/runs.csv"
			printf 'forward: %-22s %-14s rep %d: %9d sent %9d delivered %6.0f ns/pkt total\n' \
				"$target/$m/$flows/${size}B" "$c" "$r" "$gen" "$del" \
				"$(awk -v b="$busy" -v d="$del" 'BEGIN { print d ? b / d : 0 }')" >&2
		done
		[ -z "${BENCH_DEBUG:-}" ] || { in_f nstat -az | grep -iv " 0 " | head -40; in_f "$XDPFWD" stats 2>/dev/null | tail -30 || true; }
		config_down "$c"
	done
done <<<"$POINTS"

mkdir -p "$OUT"
cp "$tmp/runs.csv" "$OUT/forward-runs.csv"
bench/report.py "$OUT/forward-runs.csv" "$OUT" "$SECONDS_PER_RUN"
