#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# etcd-cluster.sh - a three-member etcd 3.4 cluster (Debian's etcd-server) in
# network namespaces of its own, for the fleet lab (tests/e2e, mode fleet) and
# bench/fleet.sh:
#
#   xf-etcd1-ID  eth0 10.77.0.1 --+
#   xf-etcd2-ID  eth0 10.77.0.2 --+-- bridge fnet0 in xf-fnet-ID, 10.77.0.254
#   xf-etcd3-ID  eth0 10.77.0.3 --+    (the fleet network: the admin side, and
#                                       the gateways' mgmt0 veths, 10.77.0.1N)
#
# Clients on 2379, peers on 2380, in each member's namespace: nothing
# listens in the host's. The data directories are on a tmpfs of their own:
# etcd's WAL fsync on this shared disk took 1.2-8.5 s under load
# (/work/shared/notes/fleet-etcd.md, 9.9). The addresses exist only in the
# namespaces. Names carry ETCD_ID (LAB_ID, or this shell's pid) so clusters
# never collide.
#
# Sourced, it gives etcd_up, etcd_down and the commands below, acting on
# members by the pid each one's file holds (ETCD_DIR/mN.pid), so a subshell
# that restarts a member leaves its pid where the next caller finds it.
# Run, it is a command:
#
#   tools/etcd-cluster.sh smoke          up, the smoke test below, down
#   tools/etcd-cluster.sh run CMD...     up, CMD in the fleet network's
#                                        namespace (ETCD_ENDPOINTS set), down
#
# Either way a trap removes what it made (processes by pid, namespaces, the
# tmpfs) however it ends.

ETCD_ID=${ETCD_ID:-${LAB_ID:-$$}}
ETCD_NS_NET=xf-fnet-$ETCD_ID
ETCD_MEMBERS=3
ETCD_DIR=
ETCD_BIN=${ETCD_BIN:-etcd}
# The admin's address on the fleet network (etcdctl, xdpfwd fleet, Prometheus).
ETCD_ADMIN_ADDR=10.77.0.254
ETCD_TOKEN=xdpfwd-$ETCD_ID
# How long to wait for a member or a quorum (a loaded machine: long, a wait
# ends as soon as it is there).
ETCD_WAIT=${ETCD_WAIT:-30}

etcd_ns() { echo "xf-etcd$1-$ETCD_ID"; }         # N: member N's namespace
etcd_addr() { echo "10.77.0.$1"; }               # N: member N's address
etcd_url() { echo "http://$(etcd_addr "$1"):2379"; } # N: member N's client URL
# Every member's client URL, comma-separated (what --fleet and etcdctl take).
etcd_endpoints() {
	local n out=
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do out+=${out:+,}$(etcd_url "$n"); done
	echo "$out"
}
in_fnet() { ip netns exec "$ETCD_NS_NET" "$@"; }
# etcdctl from the fleet network, on ENDPOINTS (every member unless told),
# with short timeouts: a call without quorum fails in 5 s, never hangs.
etcd_ctl() { # [--endpoints=URLS] ARGS...
	local ep
	ep=--endpoints=$(etcd_endpoints)
	[[ ${1:-} == --endpoints=* ]] && ep=$1 && shift
	in_fnet env ETCDCTL_API=3 etcdctl "$ep" --dial-timeout=2s --command-timeout=5s "$@"
}

etcd_pid() { cat "$ETCD_DIR/m$1.pid" 2>/dev/null; } # N: member N's pid, empty when stopped
# Whether PID is a live process (a zombie, killed but not yet reaped, is not).
etcd_alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
etcd_running() { etcd_alive "$(etcd_pid "$1")"; }

# Starts member N on its data directory (new or kept: etcd ignores the
# --initial-* flags when the directory has a WAL) and returns at once.
etcd_start() { # N
	local n=$1 peers= i
	etcd_running "$n" && { echo "etcd: member $n already runs (pid $(etcd_pid "$n"))" >&2; return 1; }
	for ((i = 1; i <= ETCD_MEMBERS; i++)); do peers+=${peers:+,}m$i=http://$(etcd_addr "$i"):2380; done
	ip netns exec "$(etcd_ns "$n")" "$ETCD_BIN" --name "m$n" --data-dir "$ETCD_DIR/m$n.etcd" \
		--listen-client-urls "$(etcd_url "$n")" --advertise-client-urls "$(etcd_url "$n")" \
		--listen-peer-urls "http://$(etcd_addr "$n"):2380" \
		--initial-advertise-peer-urls "http://$(etcd_addr "$n"):2380" \
		--initial-cluster "$peers" --initial-cluster-token "$ETCD_TOKEN" --initial-cluster-state new \
		--heartbeat-interval 100 --election-timeout 1000 --pre-vote \
		--experimental-watch-progress-notify-interval 2s \
		--quota-backend-bytes 1073741824 --logger zap >>"$ETCD_DIR/m$n.log" 2>&1 </dev/null &
	# ip netns exec execs etcd: this pid is etcd's. Disowned: bash still
	# reaps it, without a "Killed" line when a test kills it.
	echo $! >"$ETCD_DIR/m$n.pid"
	disown $!
}

# Waits until member N answers its health check (it needs a quorum to).
etcd_wait_healthy() { # N [SECONDS]
	local deadline=$((SECONDS + ${2:-$ETCD_WAIT}))
	until etcd_ctl --endpoints="$(etcd_url "$1")" endpoint health >/dev/null 2>&1; do
		etcd_running "$1" || { echo "etcd: member $1 exited: $(tail -2 "$ETCD_DIR/m$1.log")" >&2; return 1; }
		((SECONDS >= deadline)) && { echo "etcd: member $1 not healthy after ${2:-$ETCD_WAIT} s" >&2; return 1; }
		sleep 0.2
	done
}

# Ends member N by its pid with SIG (TERM: a clean stop; KILL: a crash; STOP:
# frozen, its connections open and silent) and, but for STOP, waits until it
# is gone (5 s, then KILL). The pid file goes with it but for STOP.
etcd_signal() { # N SIG
	local n=$1 pid i
	pid=$(etcd_pid "$n")
	etcd_alive "$pid" || { echo "etcd: member $n is not running" >&2; return 1; }
	kill -"$2" "$pid" || return 1
	[ "$2" = STOP ] && return 0
	for ((i = 0; i < 50; i++)); do etcd_alive "$pid" || break; sleep 0.1; done
	etcd_alive "$pid" && kill -9 "$pid" 2>/dev/null
	# A child of this shell: reap it, so its pid is not a zombie's.
	wait "$pid" 2>/dev/null
	rm -f "$ETCD_DIR/m$n.pid"
}
etcd_stop() { etcd_signal "$1" TERM; }            # N: a clean stop
etcd_kill() { etcd_signal "$1" KILL; }            # N: a crash (SIGKILL)
etcd_freeze() { etcd_signal "$1" STOP; }          # N: frozen
etcd_thaw() { kill -CONT "$(etcd_pid "$1")"; }    # N
etcd_restart() { etcd_start "$1" && etcd_wait_healthy "$1"; } # N: a stopped member back

# Quorum lost: every member but N (1 unless told) stopped (SIGKILL). Their
# numbers are printed, for etcd_quorum_back.
etcd_quorum_lose() { # [N]
	local keep=${1:-1} n out=
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do
		((n == keep)) && continue
		etcd_kill "$n" || return 1
		out+="$n "
	done
	echo "${out% }"
}
# Every stopped member started again; returns once all are healthy.
etcd_quorum_back() {
	local n
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_running "$n" || etcd_start "$n" || return 1; done
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_wait_healthy "$n" || return 1; done
}

# The store's revision now (a linearizable read, through any member).
etcd_revision() { etcd_ctl endpoint status -w json | jq -r '[.[].Status.header.revision] | max'; }
# Compacts the history up to REV (the current revision unless told), and
# physically, so a watch from before it is canceled with compact_revision.
etcd_compact() { # [REV]
	local rev=${1:-$(etcd_revision)}
	[ -n "$rev" ] || { echo "etcd: no revision to compact at" >&2; return 1; }
	etcd_ctl compaction --physical "$rev" >/dev/null
}
# The member leading now (its number), or nothing without a leader.
etcd_leader() {
	local id
	id=$(etcd_ctl endpoint status -w json 2>/dev/null | jq -r '.[0].Status.leader // empty')
	[ -n "$id" ] && [ "$id" != 0 ] || return 1
	etcd_ctl endpoint status -w json 2>/dev/null |
		jq -r --argjson id "$id" '.[] | select(.Status.header.member_id == $id) | .Endpoint' |
		sed -E 's|^http://10\.77\.0\.([0-9]+):2379$|\1|'
}
# Which member a process in namespace NS (a gateway's) talks to: the member
# numbers it has a TCP connection to port 2379 with, one per line.
etcd_connected_from() { # NS
	ip netns exec "$1" ss -Htn state established '( dport = :2379 )' |
		awk '{ print $4 }' | sed -nE 's/^10\.77\.0\.([0-9]+):2379$/\1/p' | sort -u
}

# Plugs namespace NS into the fleet network: a veth DEV in NS with ADDR/24,
# its other end BRPORT on the bridge.
etcd_net_join() { # NS DEV ADDR BRPORT
	ip -n "$ETCD_NS_NET" link add "$4" type veth peer name "$2" netns "$1" || return 1
	ip -n "$ETCD_NS_NET" link set "$4" master fnet0 up
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" link set "$2" up
}

etcd_up() {
	local n
	command -v "$ETCD_BIN" >/dev/null && command -v etcdctl >/dev/null ||
		{ echo "etcd: needs etcd and etcdctl (Debian: etcd-server, etcd-client)" >&2; return 1; }
	ETCD_DIR=$(mktemp -d /tmp/xdpfwd-etcd.XXXXXX) || return 1
	mount -t tmpfs -o size=1g,mode=0700 xdpfwd-etcd "$ETCD_DIR" || { rmdir "$ETCD_DIR"; ETCD_DIR=; return 1; }
	ip netns add "$ETCD_NS_NET" || return 1
	ip -n "$ETCD_NS_NET" link set lo up
	ip -n "$ETCD_NS_NET" link add fnet0 type bridge || return 1
	ip -n "$ETCD_NS_NET" addr add "$ETCD_ADMIN_ADDR/24" dev fnet0
	ip -n "$ETCD_NS_NET" link set fnet0 up
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do
		ip netns add "$(etcd_ns "$n")" || return 1
		ip -n "$(etcd_ns "$n")" link set lo up
		etcd_net_join "$(etcd_ns "$n")" eth0 "$(etcd_addr "$n")" "e$n" || return 1
	done
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_start "$n" || return 1; done
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_wait_healthy "$n" || return 1; done
}

# Removes everything etcd_up made: the members by pid (and anything else in
# their namespaces), the namespaces, the tmpfs. Safe twice, and after a
# half-made cluster.
etcd_down() {
	local n pid ns i
	if [ -n "$ETCD_DIR" ]; then
		for ((n = 1; n <= ETCD_MEMBERS; n++)); do
			pid=$(etcd_pid "$n")
			[ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
		done
	fi
	for ns in "$ETCD_NS_NET" $(for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_ns "$n"; done); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null; kill -9 "$pid" 2>/dev/null; done
	done
	for ((n = 1; n <= ETCD_MEMBERS; n++)); do
		pid=$(etcd_pid "$n" 2>/dev/null)
		for ((i = 0; i < 50; i++)); do etcd_alive "$pid" || break; sleep 0.1; done
		[ -n "$pid" ] && wait "$pid" 2>/dev/null
	done
	for ns in "$ETCD_NS_NET" $(for ((n = 1; n <= ETCD_MEMBERS; n++)); do etcd_ns "$n"; done); do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$ETCD_DIR" ]; then
		umount "$ETCD_DIR" 2>/dev/null
		rm -rf "$ETCD_DIR"
	fi
	ETCD_DIR=
	return 0
}

# The smoke test: a write through one member is read through each other; a
# member killed, the others still write; quorum lost (two stopped), a write
# fails with etcd's "request timed out" within the command timeout, and a
# linearizable read too; quorum back, the writes made before are all there;
# compaction: a read at a compacted revision fails with "compacted", one at
# the compact revision answers.
etcd_smoke() {
	local n out rev crev ok=1
	check() { echo "  $1: $([ "$2" = 0 ] && echo ok || { ok=0; echo FAILED; })"; }
	etcd_ctl --endpoints="$(etcd_url 1)" put /smoke/a 1 >/dev/null
	for n in 2 3; do
		out=$(etcd_ctl --endpoints="$(etcd_url "$n")" get --print-value-only /smoke/a 2>&1)
		check "written through member 1, read through member $n" "$([ "$out" = 1 ]; echo $?)"
	done
	n=$(etcd_leader) || n=1
	etcd_kill "$n"
	# An election (about 1 s here) and etcdctl finding a live member.
	local deadline=$((SECONDS + ETCD_WAIT))
	until out=$(etcd_ctl put /smoke/b 2 2>&1) && [ "$out" = OK ] || ((SECONDS >= deadline)); do sleep 0.2; done
	check "leader (member $n) killed: a write through the others" "$([ "$out" = OK ]; echo $?)"
	etcd_restart "$n"
	check "member $n restarted" $?
	etcd_quorum_lose 1 >/dev/null
	out=$(etcd_ctl --endpoints="$(etcd_url 1)" put /smoke/c 3 2>&1 | grep '^Error')
	check "quorum lost: a write fails ($out)" "$([[ $out == *"request timed out"* || $out == *"deadline exceeded"* ]]; echo $?)"
	out=$(etcd_ctl --endpoints="$(etcd_url 1)" get /smoke/a 2>&1)
	check "quorum lost: a linearizable read fails" "$([[ $out == *Error* ]]; echo $?)"
	etcd_quorum_back
	check "quorum back" $?
	out=$(etcd_ctl get --print-value-only --prefix /smoke/ 2>&1)
	check "quorum back: the writes made before are there" "$([ "$(echo $out)" = "1 2" ]; echo $?)"
	rev=$(etcd_revision)
	etcd_ctl put /smoke/a 4 >/dev/null
	crev=$(etcd_revision)
	etcd_compact "$crev"
	check "compacted at $crev" $?
	out=$(etcd_ctl get --rev="$rev" /smoke/a 2>&1)
	check "a read at revision $rev fails: compacted" "$([[ $out == *compacted* ]]; echo $?)"
	out=$(etcd_ctl get --rev="$crev" --print-value-only /smoke/a 2>&1)
	check "a read at the compact revision answers" "$([ "$out" = 4 ]; echo $?)"
	((ok))
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	trap 'etcd_down' EXIT
	trap 'exit 130' INT TERM
	case ${1:-} in
	smoke)
		etcd_up || { echo "etcd-cluster: the cluster could not be started" >&2; exit 1; }
		echo "etcd-cluster: 3 members up ($(etcd_endpoints))"
		etcd_smoke
		;;
	run)
		shift
		(($#)) || { echo "usage: $0 run CMD..." >&2; exit 2; }
		etcd_up || { echo "etcd-cluster: the cluster could not be started" >&2; exit 1; }
		in_fnet env ETCD_ENDPOINTS="$(etcd_endpoints)" "$@"
		;;
	*)
		echo "usage: $0 smoke | run CMD..." >&2
		exit 2
		;;
	esac
fi
