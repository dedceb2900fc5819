#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# The Debian package (make deb; XDPFWD_DEB names it) installed into a scratch
# root with `dpkg --root`, never the host's: every file where it belongs, the
# unit enabled and accepted by systemd-analyze but not started, the binary
# naming the package's version; then removed (the state directory and the
# conffile stay) and purged (both go, and the unit's enablement). Scripts run
# outside the root (--force-script-chrootless, DPKG_ROOT set), which is what
# makes them leave the running system alone. The upgrade over a running table
# is e2e's test_package_upgrade (it needs the lab).
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "install: package: $*" >&2; exit 1; }

deb=${XDPFWD_DEB:-}
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
	echo "install: package: skipped: needs dpkg-buildpackage and debhelper (tools/install-deps.sh)"
	exit 0
fi
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package at '$deb' (XDPFWD_DEB): run make deb"
version=$(dpkg-deb -f "$deb" Version)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
# Its dependencies are the host's (the root has no libraries): --force-depends.
pkg() { # DPKG-ARGS...
	dpkg --root="$root" --log="$root/dpkg.log" --force-script-chrootless --force-depends "$@" \
		>>"$root/dpkg.out" 2>&1 || { cat "$root/dpkg.out"; fail "dpkg $* failed"; }
}
pkg --install "$deb"
state() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}' xdpfwd 2>/dev/null; }
[ "$(state)" = "ii " ] || fail "not installed: '$(state)'"

# The files, where Debian 12 wants them.
bin=$root/usr/sbin/xdpfwd unit=$root/lib/systemd/system/xdpfwd.service
[ -x "$bin" ] || fail "no executable at /usr/sbin/xdpfwd"
out=$("$bin" --version) || fail "the binary does not run"
[[ $out == "xdpfwd $version" || $out == "xdpfwd $version (git "*")" ]] ||
	fail "--version says '$out', the package is $version"
grep -qx 'ExecStart=/usr/sbin/xdpfwd serve $XDPFWD_SERVE_ARGS' "$unit" ||
	fail "the unit does not start /usr/sbin/xdpfwd: $(grep ExecStart "$unit")"
grep -qx 'StateDirectory=xdpfwd' "$unit" || fail "the unit has no StateDirectory=xdpfwd"
[ -f "$root/etc/default/xdpfwd" ] || fail "no /etc/default/xdpfwd"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' xdpfwd | grep -q '^ /etc/default/xdpfwd ' ||
	fail "/etc/default/xdpfwd is not a conffile"
man=$root/usr/share/man/man8/xdpfwd.8.gz comp=$root/usr/share/bash-completion/completions/xdpfwd
[ -f "$man" ] || fail "no man page at /usr/share/man/man8/xdpfwd.8.gz"
zcmp -s "$man" xdpfwd.8 || fail "the installed man page is not xdpfwd.8"
MANWIDTH=80 man -l "$man" 2>"$root/man.log" | grep -q '^SYNOPSIS' || fail "man does not render the page"
cmp -s "$comp" tools/xdpfwd.bash || fail "no bash completion (tools/xdpfwd.bash) at /usr/share/bash-completion/completions/xdpfwd"
bash -c "source '$comp' && complete -p xdpfwd" >/dev/null || fail "bash does not load the completion"
# dist/'s dashboards and alert rules (.json, .yml, .yaml) under /usr/share/xdpfwd/.
ndist=0
if [ -d dist ]; then
	while read -r f; do
		cmp -s "dist/$f" "$root/usr/share/xdpfwd/$f" || fail "dist/$f is not at /usr/share/xdpfwd/$f"
		ndist=$((ndist + 1))
	done < <(cd dist && find . -type f \( -name '*.json' -o -name '*.yml' -o -name '*.yaml' \) | sed 's|^\./||')
fi

# Enabled, not started: the enablement symlink in the root, and no start in
# the postinst (only a try-restart, on upgrade).
[ -L "$root/etc/systemd/system/multi-user.target.wants/xdpfwd.service" ] || fail "the unit is not enabled"
grep -q '_dh_action=start\|deb-systemd-invoke start' "$root/var/lib/dpkg/info/xdpfwd.postinst" &&
	fail "the postinst starts the unit on install"
grep -q 'deb-systemd-invoke try-restart' "$root/var/lib/dpkg/info/xdpfwd.postinst" ||
	fail "the postinst does not restart a running daemon on upgrade"
verified=", systemd-analyze not installed: unit not verified"
if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart on the real root: point it at the root's binary.
	sed "s|ExecStart=/usr/sbin/|ExecStart=$root/usr/sbin/|" "$unit" >"$root/xdpfwd.service"
	systemd-analyze verify --man=no "$root/xdpfwd.service" 2>"$root/verify.log" ||
		{ cat "$root/verify.log"; fail "systemd-analyze rejects the unit"; }
	[ -s "$root/verify.log" ] && { cat "$root/verify.log"; fail "systemd-analyze warns about the unit"; }
	verified=", unit verified"
fi

# lintian: no error and no warning (pedantic and info tags are listed, not fatal).
linted=", lintian not installed"
changes=${deb%.deb}.changes
if command -v lintian >/dev/null && [ -f "$changes" ]; then
	lintian --allow-root --fail-on error,warning --pedantic --info "$changes" >"$root/lintian.log" 2>&1 ||
		{ cat "$root/lintian.log"; fail "lintian complains about $changes"; }
	linted=", lintian clean ($(grep -c '^[IPX]:' "$root/lintian.log" || true) info/pedantic tags)"
fi

# Remove keeps the table (/var/lib/xdpfwd) and the conffile; purge deletes them.
mkdir -p "$root/var/lib/xdpfwd" && echo "xdpfwd-state 1" >"$root/var/lib/xdpfwd/xdpfwd.state"
pkg --remove xdpfwd
[ "$(state)" = "rc " ] || fail "not removed: '$(state)'"
[ ! -e "$bin" ] || fail "remove left /usr/sbin/xdpfwd"
[ -f "$root/var/lib/xdpfwd/xdpfwd.state" ] || fail "remove deleted /var/lib/xdpfwd"
[ -f "$root/etc/default/xdpfwd" ] || fail "remove deleted the conffile /etc/default/xdpfwd"
pkg --purge xdpfwd
[ -z "$(state)" ] || fail "not purged: '$(state)'"
[ ! -e "$root/var/lib/xdpfwd" ] || fail "purge left /var/lib/xdpfwd: $(ls -A "$root/var/lib/xdpfwd")"
[ ! -e "$root/etc/default/xdpfwd" ] || fail "purge left /etc/default/xdpfwd"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/xdpfwd.service" ] || fail "purge left the unit enabled"
echo "install: package $version: files in place ($ndist from dist/)$verified$linted, enabled not started; remove kept /var/lib/xdpfwd, purge deleted it"
