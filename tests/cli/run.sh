#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The command line byte for byte: runs every line of tests/cli/cases through
# the binary and compares exit code, stdout and stderr with tests/cli/expected,
# which was first recorded from the binary before the command table (commit
# history says which outputs changed on purpose since). The cases before the
# line %attached run with an empty pin directory and state directory; those
# after it in a network namespace of their own, on a table attached to a veth
# pair, one after another. Needs root (bpffs, netns).
#   tests/cli/run.sh [BINARY]            compare (default build/xdpfwd)
#   tests/cli/run.sh BINARY --record     rewrite tests/cli/expected
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-$here/../../build/xdpfwd}")
pin=/sys/fs/bpf/xdpfwd-clitest-$$
state=$(mktemp -d)
out=$(mktemp)
ns=
cleanup() {
	[ -z "$ns" ] || ip netns del "$ns"
	rm -rf "$pin" "$pin-2" 2>/dev/null || true
	rm -rf "$state" "$out" "$out".*
}
trap cleanup EXIT

# Runs the binary as "xdpfwd" (getopt's messages name argv[0]), in the
# namespace once there is one.
xdpfwd() {
	XDPFWD_PIN_DIR=$pin XDPFWD_STATE_DIR=$state ${ns:+ip netns exec "$ns"} \
		bash -c 'exec -a xdpfwd "$0" "$@"' "$bin" "$@"
}

attached_table() {
	ns=xdpfwd-clitest-$$
	ip netns add "$ns"
	ip -n "$ns" link add pub0 type veth peer pub1
	ip -n "$ns" link add tun0 type veth peer tun1
	for d in pub0 pub1 tun0 tun1; do ip -n "$ns" link set "$d" up; done
	ip -n "$ns" addr add 203.0.113.10/24 dev pub0
	ip -n "$ns" addr add 10.8.0.1/24 dev tun0
	rm -rf "$pin" 2>/dev/null || true
	: >"$state/empty.conf"
	# owner= is the state file's (serve's NAT-PMP/PCP server), never a config file's.
	echo 'udp 7990 10.8.0.2 owner=natpmp:7990' >"$state/owner.conf"
	xdpfwd attach pub0 --tunnel tun0 </dev/null >"$out.attach" 2>&1 || { cat "$out.attach"; exit 1; }
}

# Paths as the cases see them. Inside the namespace pindir.c reaches the
# host's bpffs through /proc/PID/root, but messages name the pin directory as
# given: no /proc path is normalized away here, so none may be printed.
normalize() { # PREFIX
	sed -e "s|$pin|@PIN@|g" -e "s|$state|@STATE@|g" -e 's/"expires_in":[0-9.e-]*/"expires_in":@SECONDS@/' -e 's/expires in [0-9]* s/expires in @SECONDS@ s/' \
		-e 's/^xdpfwd [^ ]*$/xdpfwd @VERSION@/' -e "s/^/$1 /"
}

run_case() { # LINE
	local line=$1 rc=0
	local -a args=()
	[ "$line" = "(none)" ] || eval "args=($line)"
	if [ -z "$ns" ]; then
		rm -rf "$pin" 2>/dev/null || true
		rm -rf "${state:?}"/*
	fi
	xdpfwd "${args[@]}" >"$out.1" 2>"$out.2" </dev/null || rc=$?
	echo "=== $line"
	echo "exit $rc"
	normalize '1>' <"$out.1"
	normalize '2>' <"$out.2"
}

while IFS= read -r line; do
	case $line in '#'* | '') continue ;; %attached) attached_table && continue ;; esac
	run_case "$line"
done <"$here/cases" >"$out"

if [ "${2:-}" = --record ]; then
	cp "$out" "$here/expected"
	echo "cli: recorded $(grep -c '^===' "$out") cases in tests/cli/expected"
	exit 0
fi
if ! diff -u "$here/expected" "$out" >"$out.diff"; then
	cat "$out.diff"
	echo "cli: the output differs from tests/cli/expected (- expected, + got)" >&2
	exit 1
fi
echo "cli: $(grep -c '^===' "$out") command lines as expected"
