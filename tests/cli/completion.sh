#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The bash completion (tools/xdpfwd.bash, made from the command table): for
# each line typed so far, the words it offers. Runs without bash-completion
# installed; interfaces are those of this network namespace (lo is always
# there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1090
source "${1:-$here/../../tools/xdpfwd.bash}"
work=$(mktemp -d) bin=$(mktemp -d)
trap 'rm -rf "$work" "$bin"' EXIT
mkdir "$work/dir" && touch "$work/file.conf"
fails=0

offers() { # LINE: the completions, sorted, on one line
	COMP_LINE=$1 COMP_POINT=${#1}
	read -ra COMP_WORDS <<<"$1"
	[[ $1 == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_xdpfwd
	printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}

expect() { # LINE WANT: WANT is a regex over the whole sorted list
	local got
	got=$(offers "$1")
	if ! [[ $got =~ ^$2$ ]]; then
		echo "completion: '$1' offers '$got', want '$2'" >&2
		fails=$((fails + 1))
	fi
}

expect 'xdpfwd ' 'add attach check del detach fleet help list load serve stats'
expect 'xdpfwd st' 'stats'
expect 'xdpfwd --' '--help --pin-dir --state-dir --verbose --version'
expect 'xdpfwd attach --' '--capacity --clients --fast-path --help --mode --pin-dir --replace --state-dir --tunnel --verbose --version'
expect 'xdpfwd attach ' '(.* )?lo( .*)?'
expect 'xdpfwd attach l' 'lo'
expect 'xdpfwd attach lo --tunnel l' 'lo'
expect 'xdpfwd attach lo --tunnel lo ' ''
expect 'xdpfwd attach lo --mode ' 'generic native'
expect 'xdpfwd attach lo --fast-path o' 'off on'
expect 'xdpfwd detach l' 'lo'
expect 'xdpfwd detach lo --' '--help --pin-dir --purge --purge-state --state-dir --verbose --version'
expect 'xdpfwd add ' 'both tcp udp'
expect 'xdpfwd add t' 'tcp'
expect 'xdpfwd add tcp 203.0.113.10:80 ' ''
expect 'xdpfwd add tcp 80 10.8.0.2 --r' '--rate'
expect 'xdpfwd add tcp 80 10.8.0.2 --allow ' ''
expect 'xdpfwd --pin-dir /sys/fs/bpf/x del ' 'both tcp udp'
# del's PORT: the mappings of the protocol, from `xdpfwd [--pin-dir DIR]
# list --json` (a stub here, which says what it was asked).
cat >"$bin/xdpfwd" <<'STUB'
#!/bin/sh
[ "$*" = "list --json" ] || [ "$*" = "--pin-dir /p list --json" ] || exit 1
cat <<'JSON'
[{"proto":"tcp","family":"ipv4","public_addr":null,"public_port":40000,"public_port_end":40000},
 {"proto":"udp","family":"ipv4","public_addr":"203.0.113.10","public_port":6000,"public_port_end":6009},
 {"proto":"tcp","family":"ipv6","public_addr":"2001:db8::10","public_port":443,"public_port_end":443},
 {"proto":"udp","family":"ipv4","public_addr":null,"public_port":27015,"public_port_end":27015}]
JSON
STUB
chmod +x "$bin/xdpfwd"
PATH=$bin:$PATH
if command -v jq >/dev/null; then
	expect 'xdpfwd del tcp ' '40000 \[2001:db8::10\]:443'
	expect 'xdpfwd del udp ' '203.0.113.10:6000-6009 27015'
	expect 'xdpfwd del both 2' '203.0.113.10:6000-6009 27015'
	expect 'xdpfwd --pin-dir /p del udp 27' '27015'
	expect 'xdpfwd del udp 203.0.113.10:6' '6000-6009'
	expect 'xdpfwd del tcp [2001:db8::10]:4' '443'
	expect 'xdpfwd --pin-dir /elsewhere del udp ' ''
	expect 'xdpfwd del udp 27015 ' ''
fi
expect 'xdpfwd list --' '--help --json --pin-dir --state-dir --verbose --version'
expect 'xdpfwd stats --w' '--watch'
expect 'xdpfwd check --' '--help --json --metrics --pin-dir --state-dir --verbose --version'
expect 'xdpfwd stats --watch 2 --j' '--json'
expect "xdpfwd load $work/fi" "$work/file.conf"
expect "xdpfwd serve --config $work/f" "$work/file.conf"
expect "xdpfwd --state-dir $work/" "$work/dir"
expect 'xdpfwd help ' 'add attach check del detach fleet help list load serve stats'
expect 'xdpfwd help list ' ''

((fails == 0)) || exit 1
echo "completion: every line offers what the command table says"
