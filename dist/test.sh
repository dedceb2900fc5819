#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make dist-test: the dashboard and the alert rules, without a network: the
# dashboard's shape (dist/promql.py schema), the rules through promtool
# (check rules, then their unit tests), every expression of both parsed by
# promtool, and every metric they read one that loader/metrics.c exports.
# test_dashboard_queries (tests/e2e/run.sh) runs them on a real Prometheus.
set -u
cd "$(dirname "$0")"
rc=0
command -v promtool >/dev/null || { echo "dist-test: skipped: needs promtool (Debian's prometheus package)"; exit 77; }
fail() { echo "dist-test: $*" >&2; rc=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 promql.py schema grafana/xdpfwd.json || fail "grafana/xdpfwd.json: the faults above"
promtool check rules prometheus/xdpfwd-alerts.yml >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log"; fail "promtool check rules"; }
(cd prometheus && promtool test rules xdpfwd-alerts.test.yml) >"$tmp/test.log" 2>&1 || { cat "$tmp/test.log"; fail "promtool test rules"; }

# The names loader/metrics.c writes a HELP line for, and Prometheus' own up.
grep -ho '"xdpfwd_[a-z0-9_]*"' ../loader/*.c | tr -d '"' | sort -u >"$tmp/exported"
echo up >>"$tmp/exported"
python3 promql.py exprs grafana/xdpfwd.json prometheus/xdpfwd-alerts.yml >"$tmp/exprs" || fail "cannot read the expressions"
[ "$(wc -l <"$tmp/exprs")" -ge 10 ] || fail "only $(wc -l <"$tmp/exprs") expressions found"
# Every expression as a recording rule, so that promtool parses it.
{
	echo "groups: [{name: dashboard, rules: ["
	n=0
	while IFS=$'\t' read -r where expr names; do
		printf '  {record: "expr_%d", expr: %s},\n' $((n++)) "$(jq -Rn --arg e "$expr" '$e')"
		[ -n "$names" ] || fail "$where reads no metric: $expr"
		for name in $names; do
			grep -qx "$name" "$tmp/exported" || fail "$where reads '$name', which xdpfwd does not export"
		done
	done <"$tmp/exprs"
	echo "]}]"
} >"$tmp/parse.yml"
promtool check rules "$tmp/parse.yml" >"$tmp/parse.log" 2>&1 || { cat "$tmp/parse.log"; fail "an expression does not parse"; }
((rc)) || echo "  DIST     $(wc -l <"$tmp/exprs") expressions parse and read exported metrics; dashboard and rules pass"
exit $rc
