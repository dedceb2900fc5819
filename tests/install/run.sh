#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make install into a staging DESTDIR with a non-default PREFIX: the binary
# and the systemd unit land where asked, the unit runs the installed binary,
# and systemd accepts the unit.
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
echo "install: binary and unit in place under DESTDIR with PREFIX=/opt/xf; unit verified"
