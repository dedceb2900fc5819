#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The XDP program's own cost per packet, through BPF_PROG_RUN with repeat
# (bpftool prog run), hit and miss, with 1 and 65,536 mappings. Results:
# bench/results/micro.md.
#
# BPF_PROG_RUN reuses one buffer for every repeat, so the hit is measured on a
# rewrite that is idempotent: the mapping "udp 203.0.113.10:7000
# 10.8.0.2:7000", whose forward entry the script copies under 10.8.0.2:7000,
# and a packet already addressed to 10.8.0.2:7000 (one lookup that hits, as
# for any mapping, wildcards included: a wildcard's entries carry the address
# it answers from). The fast path
# is off here (its FIB lookup and redirect change the packet, so they cannot
# repeat on one buffer; bench/forward.sh measures them); what is timed is
# parse, lookups, rewrite with checksums and the per-CPU counters. The policy
# columns give every mapping an allowlist (one LPM trie lookup), a rate limit
# (a spin-locked bucket; high enough never to drop), a new-connection limit
# (an LRU lookup: the flow is known after the first run), and all of them
# with a lease. The last two columns mark the mapping as one the server's
# stack has flows on (xdpfwd_owned): first with another flow of the stack
# (the packet's flow is looked up and not found, then translated), then with
# the packet's own flow the stack's (looked up, found, passed untouched).
# MICRO_STACK=0 leaves them out (for builds without xdpfwd_stack).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-10000000}
RUNS=${RUNS:-5}
source bench/lib.sh
OUT=bench/results/micro.md
bench_up
x attach pub0 --tunnel tun0 --fast-path off >/dev/null

# Ethernet, IPv4, UDP 198.51.100.7:33333 -> 10.8.0.2:PORT, 18 bytes of payload
# (a 64-byte frame); checksums are irrelevant to the program's cost.
frame() { # PORT FILE
	printf '\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00' >"$2"
	printf '\x45\x00\x00\x2e\x00\x00\x40\x00\x40\x11\x00\x00\xc6\x33\x64\x07\x0a\x08\x00\x02' >>"$2"
	printf "\\x82\\x35\\x$(printf %02x $(($1 >> 8)))\\x$(printf %02x $(($1 & 255)))\\x00\\x1a\\x00\\x00" >>"$2"
	head -c 18 /dev/zero >>"$2"
}
frame 7000 "$tmp/hit"
frame 7999 "$tmp/miss"
table() { # N: the measured mapping plus N-1 others
	echo "udp 203.0.113.10:7000 10.8.0.2:7000"
	bench_table $(($1 - 1))
}
pins=/proc/$$/root$XDPFWD_PIN_DIR
prog=$pins/prog_xdpfwd_in
bt() { ip netns exec "$BENCH_NS" bpftool "$@"; }
hex() { sed 's/../& /g'; } # "0a08" -> "0a 08 "
# Keys as xdpfwd.h lays them out: family 2, proto 17, port 7000 (1b58).
KEY_PUBLIC=$(echo 02111b58cb00710a000000000000000000000000 | hex)
KEY_TARGET=$(echo 02111b580a080002000000000000000000000000 | hex)
# The stack's flow {10.8.0.2:7000, 198.51.100.7:33333} and another one.
flow_key() { # PEER_PORT_HEX
	echo "02111b58${1}00000a080002000000000000000000000000c6336407000000000000000000000000" | hex
}
idempotent_hit() { # the measured mapping's entry, also under the target
	local val
	val=$(bt -j map lookup pinned "$pins/xdpfwd_fwd" key hex $KEY_PUBLIC | jq -r '.value | join(" ")' |
		sed 's/0x//g')
	bt map update pinned "$pins/xdpfwd_fwd" key hex $KEY_TARGET value hex $val
	SLOT_HEX=$(echo "$val" | awk '{ print $21, $22, $23, $24 }')
}
stack_flow() { # PEER_PORT_HEX: the stack owns that flow, the mapping is marked
	local now
	now=$(python3 -c 'import struct, time; print(" ".join("%02x" % b for b in struct.pack("<Q", time.clock_gettime_ns(time.CLOCK_BOOTTIME))))')
	bt map update pinned "$pins/xdpfwd_owned" key hex $SLOT_HEX value hex $now
	bt map update pinned "$pins/xdpfwd_stack" key hex $(flow_key "$1") value hex $now
}
ns_per_packet() { # FILE: median ns over RUNS runs
	for ((r = 0; r < RUNS; r++)); do
		ip netns exec "$BENCH_NS" bpftool prog run pinned "$prog" data_in "$1" repeat "$REPEAT" |
			sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
	done | bench_stats
}

{
	bench_header "The XDP program's own cost (BPF_PROG_RUN, repeat $REPEAT)"
	echo "Method in the script's header. ns per packet as the kernel reports it, median (min-max) of"
	echo "$RUNS runs; fast path off."
	echo
	if [ "${MICRO_STACK:-1}" = 1 ]; then
		echo "| mappings | hit (ns) | hit, --allow | hit, --rate | hit, --new-rate | hit, all four | miss (ns) | hit, stack has another flow | the stack's flow (passed) |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	else
		echo "| mappings | hit (ns) | hit, --allow | hit, --rate | hit, --new-rate | hit, all four | miss (ns) |"
		echo "|---:|---:|---:|---:|---:|---:|---:|"
	fi
} >"$tmp/report"
# Each policy on its own (on every mapping), then all of them.
policies=("" "allow=198.51.100.0/24" "rate=100000000" "new-rate=100000000"
	"allow=198.51.100.0/24 rate=100000000 new-rate=100000000 ttl=31536000")
for n in 1 65536; do
	row="| $n"
	for p in "${policies[@]}"; do
		table "$n" | sed "s|\$| $p|" >"$tmp/table.conf"
		x load "$tmp/table.conf" >/dev/null
		idempotent_hit
		row+=" | $(ns_per_packet "$tmp/hit")"
		[ -n "$p" ] || miss=$(ns_per_packet "$tmp/miss")
	done
	row+=" | $miss"
	if [ "${MICRO_STACK:-1}" = 1 ]; then
		table "$n" >"$tmp/table.conf"
		x load "$tmp/table.conf" >/dev/null
		idempotent_hit
		stack_flow 8236 # peer port 33334: not the packet's flow
		row+=" | $(ns_per_packet "$tmp/hit")"
		stack_flow 8235 # 33333: the packet's
		row+=" | $(ns_per_packet "$tmp/hit")"
		# As they were, so the next row's mapping has no stack flows.
		bt map update pinned "$pins/xdpfwd_owned" key hex $SLOT_HEX value hex 00 00 00 00 00 00 00 00
		bt map delete pinned "$pins/xdpfwd_stack" key hex $(flow_key 8235)
		bt map delete pinned "$pins/xdpfwd_stack" key hex $(flow_key 8236)
	fi
	echo "$row |" >>"$tmp/report"
done
# Fragments (frag.h), on the 1-mapping table: a first fragment in order and a
# later one that follows it (each run reuses the buffer, so the datagram is
# known after the first run); a later fragment ahead of its first, which is
# copied into xdpfwd_held (a new datagram id each run, 60 repeats: a datagram
# keeps at most 64 copies); and the tc program on the public ingress, now
# attached in both modes, on a frame without a note (what every packet pays
# it with the fast path off).
frag_frame() { # FLAGS_OFFSET_HEX_BYTES ID FILE
	printf '\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00' >"$3"
	printf "\\x45\\x00\\x00\\x2e\\x$(printf %02x $(($2 >> 8)))\\x$(printf %02x $(($2 & 255)))$1\\x40\\x11\\x00\\x00" >>"$3"
	printf '\xc6\x33\x64\x07\x0a\x08\x00\x02\x82\x35\x1b\x58\x00\x1a\x00\x00' >>"$3"
	head -c 18 /dev/zero >>"$3"
}
table 1 >"$tmp/table.conf"
x load "$tmp/table.conf" >/dev/null
frag_frame '\x20\x00' 1 "$tmp/first"
frag_frame '\x00\x03' 1 "$tmp/later"
first=$(ns_per_packet "$tmp/first")
follows=$(ns_per_packet "$tmp/later")
ahead=$(for ((r = 0; r < RUNS; r++)); do
	frag_frame '\x00\x03' $((1000 + r)) "$tmp/ahead"
	ip netns exec "$BENCH_NS" bpftool prog run pinned "$prog" data_in "$tmp/ahead" repeat 60 |
		sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
done | bench_stats)
tc_prog=/proc/$$/root$XDPFWD_PIN_DIR/prog_xdpfwd_to_tun
tc_plain=$(for ((r = 0; r < RUNS; r++)); do
	ip netns exec "$BENCH_NS" bpftool prog run pinned "$tc_prog" data_in "$tmp/hit" repeat "$REPEAT" |
		sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
done | bench_stats)
{
	echo
	echo "Fragments (1 mapping), and the tc program on the public ingress:"
	echo
	echo "| first fragment, in order | later fragment that follows | later fragment ahead of its first (copied) | tc ingress, frame without a note |"
	echo "|---:|---:|---:|---:|"
	echo "| $first | $follows | $ahead | $tc_plain |"
} >>"$tmp/report"
held=$(x stats --json | jq '.global.in_fragment_held')
((held >= 60)) || { echo "micro: the fragments ahead were not copied ($held)" >&2; exit 1; }

drops=$(x stats --json | jq '[.mappings[] | .not_allowed + .rate_limited] | add')
((drops == 0)) || { echo "micro: the policy dropped $drops packets" >&2; exit 1; }
hits=$(x stats --json | jq '.mappings[] | select(.public_port == 7000) | .rx_packets')
((hits >= REPEAT)) || { echo "micro: the hit packet did not hit ($hits translated)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
cp "$tmp/report" "$OUT"
cat "$OUT"
