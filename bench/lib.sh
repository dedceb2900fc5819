# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# bench/lib.sh - what scrape.sh, micro.sh and control.sh share: a server in
# one network namespace (pub0 with 203.0.113.10 and .11, tun0 a veth standing
# in for the tunnel), xdpfwd with a pin directory of its own, a table of N
# mappings, a results header; everything removed on exit. Sourced from the
# top of the tree.
BENCH=$(basename "$0" .sh)
XDPFWD=$PWD/build/xdpfwd
BENCH_NS=xf-bench-$BENCH-$$
export XDPFWD_PIN_DIR=/sys/fs/bpf/xdpfwd-$BENCH-$$
tmp=$(mktemp -d)
export XDPFWD_STATE_DIR=$tmp # the state file goes with the run
BENCH_PIDS=()

bench_down() {
	local p
	for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	ip netns del "$BENCH_NS" 2>/dev/null
	rm -rf "$XDPFWD_PIN_DIR" "$tmp"
	return 0
}
trap bench_down EXIT
trap 'exit 130' INT TERM

bench_up() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	ip netns add "$BENCH_NS"
	ip -n "$BENCH_NS" link add pub0 type veth peer name tun0
	ip -n "$BENCH_NS" addr add 203.0.113.10/24 dev pub0
	ip -n "$BENCH_NS" addr add 203.0.113.11/24 dev pub0
	for d in pub0 tun0 lo; do ip -n "$BENCH_NS" link set "$d" up; done
	# The tables map ports 9000-42767: keep the server's ephemeral range above.
	ip netns exec "$BENCH_NS" sysctl -qw net.ipv4.ip_local_port_range="61000 65535"
}

x() { ip netns exec "$BENCH_NS" "$XDPFWD" "$@"; }

# N mappings, each its own public endpoint and target (no range shortcut):
# two public addresses x tcp/udp x consecutive ports from 10000. The first
# CHANGED get another target port.
bench_table() { # N [CHANGED]
	awk -v n="$1" -v c="${2:-0}" 'BEGIN { for (i = 0; i < n; i++) { a = int(i / 32768); p = 10000 + int((i % 32768) / 2)
		printf "%s 203.0.113.%d:%d 10.8.0.%d:%d\n", (i % 2 ? "udp" : "tcp"), 10 + a, p, 2 + a, (i < c ? p + 30000 : p) } }'
}

# The first lines of a results file: what was measured, where, with what.
bench_header() { # TITLE
	echo "# $1"
	echo
	echo "$(date -u +%F), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "$(nproc) CPUs, xdpfwd $("$XDPFWD" --version | cut -d' ' -f2-). Made by \`bench/$BENCH.sh\`."
}

# median (min-max) of a column of numbers on stdin, with FORMAT for each.
bench_stats() { # [FORMAT]
	sort -g | awk -v f="${1:-%d}" '{ v[NR] = $1 } END { printf f " (" f "-" f ")", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
