#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The XDP program's own cost per packet, through BPF_PROG_RUN with repeat
# (bpftool prog run), hit and miss, with 1 and 65,536 mappings. Results:
# bench/results/micro.md.
#
# BPF_PROG_RUN reuses one buffer for every repeat, so the hit is measured on a
# mapping whose rewrite is idempotent: the wildcard "udp 7000 10.8.0.2:7000"
# and a packet already addressed to 10.8.0.2:7000 (an exact lookup that misses,
# then the wildcard that hits: the longer of the two hit paths). The fast path
# is off here (its FIB lookup and redirect change the packet, so they cannot
# repeat on one buffer; bench/forward.sh measures them); what is timed is
# parse, lookups, rewrite with checksums and the per-CPU counters. The policy
# columns give every mapping an allowlist (one LPM trie lookup), a rate limit
# (a spin-locked bucket; high enough never to drop), a new-connection limit
# (an LRU lookup: the flow is known after the first run), and all of them
# with a lease.
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
table() { # N: the wildcard plus N-1 exact mappings
	echo "udp 7000 10.8.0.2:7000"
	bench_table $(($1 - 1))
}
prog=/proc/$$/root$XDPFWD_PIN_DIR/prog_xdpfwd_in
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
	echo "| mappings | hit (ns) | hit, --allow | hit, --rate | hit, --new-rate | hit, all four | miss (ns) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
} >"$tmp/report"
# Each policy on its own (on every mapping), then all of them.
policies=("" "allow=198.51.100.0/24" "rate=100000000" "new-rate=100000000"
	"allow=198.51.100.0/24 rate=100000000 new-rate=100000000 ttl=31536000")
for n in 1 65536; do
	row="| $n"
	for p in "${policies[@]}"; do
		table "$n" | sed "s|\$| $p|" >"$tmp/table.conf"
		x load "$tmp/table.conf" >/dev/null
		row+=" | $(ns_per_packet "$tmp/hit")"
		[ -n "$p" ] || miss=$(ns_per_packet "$tmp/miss")
	done
	echo "$row | $miss |" >>"$tmp/report"
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
