#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# Installs the Debian 12 packages xdpfwd needs to build, test and run its
# demo (and with --bench, its benchmarks); does nothing when they are all
# present.
set -euo pipefail

packages=(
	make gcc clang llvm pkg-config libc6-dev linux-libc-dev
	libbpf-dev libxdp-dev libelf-dev zlib1g-dev libjson-c-dev libmicrohttpd-dev bpftool
	clang-format cppcheck libclang-rt-14-dev groff-base man-db iproute2 iputils-ping nftables wireguard-go wireguard-tools socat iperf3 ethtool jq curl prometheus
	stress-ng # a busy machine for the tests: make test passes beside `stress-ng --cpu 1`
	pmccabe   # make check: the length of every function (tools/funclen.sh)
	dpkg-dev debhelper lintian # make deb, and the package's install and upgrade tests
	# The NAT-PMP/PCP server's tests with real clients and the reference server
	# (tests/e2e, bench/pcp.sh). Each ships a service: none is started (below).
	natpmpc transmission-daemon miniupnpd-nftables stun-server
	# The fleet (issue 16): libcurl for etcd's v3 JSON gateway; etcd itself
	# for its tests (on tmpfs, in namespaces; Debian's own unit never runs).
	libcurl4-openssl-dev etcd-server etcd-client
)
# Packages whose maintainer scripts start a system service on install
# (invoke-rc.d in their postinst); the tests run them in namespaces only.
services=(transmission-daemon miniupnpd-nftables stun-server etcd-server)

# The benchmark's plot and the conntrack flush between its runs.
[ "${1:-}" = --bench ] && packages+=(gnuplot-nox conntrack python3)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

if ((EUID != 0)); then
	echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No service starts during the install: invoke-rc.d asks policy-rc.d, and
# exit 101 means "action forbidden" (Debian Policy, invoke-rc.d(8)). A
# policy-rc.d already in place (a container's) is left as it is.
policy=/usr/sbin/policy-rc.d
starts=
for p in "${services[@]}"; do [[ " ${missing[*]} " == *" $p "* ]] && starts=1; done
if [ ! -e "$policy" ] && [ -n "$starts" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
