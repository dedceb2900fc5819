#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make install into a staging DESTDIR with a non-default PREFIX: the binary,
# the systemd unit, the man page and the bash completion land where asked,
# the unit runs the installed binary, systemd accepts the unit, man renders
# the page and bash loads the completion.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fail() { echo "install: $*" >&2; exit 1; }

make --no-print-directory -s install DESTDIR="$stage" PREFIX=/opt/xf >"$stage/make.log" 2>&1 ||
	{ cat "$stage/make.log"; fail "make install failed"; }
bin=$stage/opt/xf/sbin/xdpfwd unit=$stage/opt/xf/lib/systemd/system/xdpfwd.service
[ -x "$bin" ] || fail "no executable at $bin"
"$bin" --version | grep -q '^xdpfwd ' || fail "the installed binary does not run"
[ -f "$unit" ] || fail "no unit at $unit"
grep -qx 'ExecStart=/opt/xf/sbin/xdpfwd serve $XDPFWD_SERVE_ARGS' "$unit" ||
	fail "the unit does not start the installed binary: $(grep ExecStart "$unit")"
grep -q '@' "$unit" && fail "placeholder left in the unit"
if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart on the real root: point it at the staged binary.
	sed "s|ExecStart=/opt/xf|ExecStart=$stage/opt/xf|" "$unit" >"$stage/xdpfwd.service"
	systemd-analyze verify --man=no "$stage/xdpfwd.service" 2>"$stage/verify.log" ||
		{ cat "$stage/verify.log"; fail "systemd-analyze rejects the unit"; }
	[ -s "$stage/verify.log" ] && { cat "$stage/verify.log"; fail "systemd-analyze warns about the unit"; }
fi
man=$stage/opt/xf/share/man/man8/xdpfwd.8 comp=$stage/opt/xf/share/bash-completion/completions/xdpfwd
[ -f "$man" ] || fail "no man page at $man"
cmp -s "$man" xdpfwd.8 || fail "the installed man page is not xdpfwd.8"
MANWIDTH=80 man -l "$man" 2>"$stage/man.log" | grep -q '^SYNOPSIS' || fail "man does not render $man"
[ -s "$stage/man.log" ] && { cat "$stage/man.log"; fail "man warns about $man"; }
[ -f "$comp" ] || fail "no bash completion at $comp"
bash -c "source '$comp' && complete -p xdpfwd" >/dev/null || fail "bash does not load $comp"
echo "install: binary, unit, man page and completion in place under DESTDIR with PREFIX=/opt/xf; unit verified"
