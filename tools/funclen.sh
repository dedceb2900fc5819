#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# funclen.sh - the length limits on functions (issue 13), run by make check:
# no function in loader/*.c longer than LOADER_MAX (80) lines, and no BPF
# entry point (a function under SEC(...) in bpf/*.c) longer than BPF_MAX (60).
#
# A function's length is what pmccabe(1) counts: from the first line of its
# definition (the SEC(...) line of an entry point) to its closing brace, both
# included. One line per offender, "FILE:LINE: FUNCTION is N lines, limit M",
# and exit 1; exit 0 when every function fits. A file pmccabe cannot parse is
# an error too (exit 2), so that a function it skipped cannot pass unseen.
#
# Usage: tools/funclen.sh [LOADER_FILES... -- BPF_FILES...]
#        (default: loader/*.c -- bpf/*.c, from the top of the tree)
set -euo pipefail

LOADER_MAX=${LOADER_MAX:-80}
BPF_MAX=${BPF_MAX:-60}

cd "$(dirname "$0")/.."
command -v pmccabe >/dev/null || {
	echo "funclen: pmccabe is missing (apt-get install pmccabe, or tools/install-deps.sh)" >&2
	exit 2
}

loader=() bpf=()
if (($#)); then
	while (($#)) && [ "$1" != -- ]; do loader+=("$1") && shift; done
	(($#)) && shift
	bpf=("$@")
else
	loader=(loader/*.c)
	bpf=(bpf/*.c)
fi

err=$(mktemp)
trap 'rm -f "$err"' EXIT

# pmccabe's columns: complexity, complexity, statements, first line, lines,
# "file(definition line): name". An entry point is named after the SEC macro
# by pmccabe; its own name is the first "name(" from its first line on.
lengths() {
	local limit=$1 only_sec=$2
	shift 2
	(($#)) || return 0
	pmccabe "$@" 2>"$err" | awk -v limit="$limit" -v only_sec="$only_sec" '
	{
		first = $4; lines = $5; file = $6; name = $7
		sub(/\(.*$/, "", file)
		if (only_sec && name != "SEC")
			next
		if (name == "SEC") {
			name = ""
			for (n = first; n < first + 5 && name == ""; n++) {
				cmd = "sed -n " n "p \"" file "\""
				cmd | getline text
				close(cmd)
				sub(/^[ \t]*SEC\([^)]*\)/, "", text)
				if (match(text, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/))
					name = substr(text, RSTART, RLENGTH - 1)
			}
			sub(/[ \t]+$/, "", name)
		}
		if (lines > limit) {
			printf "%s:%d: %s is %d lines, limit %d\n", file, first, name, lines, limit
			bad = 1
		}
	}
	END { exit bad }' || status=1
	if [ -s "$err" ]; then
		echo "funclen: pmccabe cannot parse: $(cat "$err")" >&2
		exit 2
	fi
}

status=0
lengths "$LOADER_MAX" 0 "${loader[@]}"
lengths "$BPF_MAX" 1 "${bpf[@]}"
exit $status
