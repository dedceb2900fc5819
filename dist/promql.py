#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The dashboard's and the alert rules' PromQL, for make dist-test and the
e2e test test_dashboard_queries. Standard library only, no network.

  promql.py schema DASHBOARD.json      check the dashboard's shape (below);
                                       one line per fault, exit 1
  promql.py exprs DASHBOARD RULES      every expression, one per line:
                                       WHERE<TAB>EXPR<TAB>NAMES, Grafana's
                                       variables replaced by values Prometheus
                                       takes, NAMES the metrics it reads
  promql.py names EXPR                 the metric names EXPR reads, one a line
"""
import json
import re
import sys

# Grafana's variables, as a query would be sent for the whole of the last hour.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$instance": ".+",
    "${instance}": ".+",
}
# What Grafana 9 imports: the panel types this dashboard uses.
PANEL_TYPES = {"row", "timeseries", "stat", "table", "bargauge"}
WIDTH = 24  # Grafana's grid columns


def substitute(expr):
    for k in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(k, VARIABLES[k])
    return expr


def schema(path):
    """Faults of the dashboard at PATH, as lines: what Grafana 9 needs to
    import it with a Prometheus data source chosen on import."""
    faults = []
    try:
        d = json.load(open(path))
    except (OSError, ValueError) as e:
        return [f"{path}: not JSON: {e}"]

    def need(cond, msg):
        if not cond:
            faults.append(f"{path}: {msg}")
        return cond

    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict), ("time", dict)):
        need(isinstance(d.get(key), kind), f"'{key}' missing or not a {kind.__name__}")
    if faults:
        return faults
    need(d["schemaVersion"] >= 36, f"schemaVersion {d['schemaVersion']}: Grafana 9 writes 36 or more")
    need(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]) is not None, f"uid '{d['uid']}': 1-40 of A-Z a-z 0-9 _ -")
    variables = {v.get("name"): v for v in d["templating"].get("list", [])}
    ds = variables.get("datasource", {})
    need(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
         "no variable 'datasource' of type datasource, query prometheus")
    ids, cells = set(), {}
    for p in d["panels"]:
        where = f"panel {p.get('id')} '{p.get('title')}'"
        need(isinstance(p.get("id"), int) and p["id"] not in ids, f"{where}: id missing or repeated")
        ids.add(p.get("id"))
        need(p.get("type") in PANEL_TYPES, f"{where}: type '{p.get('type')}' is not one of {sorted(PANEL_TYPES)}")
        need(isinstance(p.get("title"), str) and p["title"], f"{where}: no title")
        g = p.get("gridPos", {})
        if not need(all(isinstance(g.get(k), int) for k in "xywh"), f"{where}: gridPos needs x, y, w, h"):
            continue
        need(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= WIDTH, f"{where}: gridPos x+w past {WIDTH} columns")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                need((x, y) not in cells, f"{where}: overlaps panel {cells.get((x, y))} at x={x} y={y}")
                cells.setdefault((x, y), p.get("id"))
        if p.get("type") == "row":
            continue
        need(p.get("datasource", {}).get("uid") == "${datasource}", f"{where}: datasource is not ${{datasource}}")
        need(isinstance(p.get("description"), str) and p["description"], f"{where}: no description")
        targets = p.get("targets", [])
        need(targets, f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        need(len(set(refs)) == len(refs) and all(refs), f"{where}: refIds missing or repeated")
        for t in targets:
            need(isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where}: target {t.get('refId')} has no expr")
    return faults


def dashboard_exprs(path):
    d = json.load(open(path))
    for p in d["panels"]:
        for t in p.get("targets", []):
            yield f"panel {p['id']} {t['refId']}", substitute(t["expr"])
    for v in d["templating"]["list"]:
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.+),\s*\w+\)", q or "")
        if m:  # Grafana asks for the series of the metric inside
            yield f"variable {v['name']}", substitute(m.group(1))


def rule_exprs(path):
    """The 'expr:' of each rule in the rule file at PATH (the YAML subset
    the file is written in: plain, quoted or folded '>-' scalars)."""
    lines = open(path).read().split("\n")
    i = 0
    alert = None
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (alert|record): (\S+)", line)
        if m:
            alert = m.group(2)
        m = re.match(r"(\s*)expr: ?(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2)
            if value in (">-", ">", "|", "|-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                yield f"rule {alert}", " ".join(b for b in body if b)
                continue
            yield f"rule {alert}", value.strip("'\"")
        i += 1


# Words in PromQL that are not metric names.
KEYWORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "rate", "irate", "increase", "delta",
    "time", "vector", "absent", "label_replace", "histogram_quantile", "offset", "bool",
    "count_values", "stddev", "quantile", "clamp_min", "clamp_max", "abs", "scalar",
}


def names(expr):
    """Metric names EXPR reads: identifiers outside braces and strings that
    are neither functions, keywords, label names of by/on/without, nor
    durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    found = []
    for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if w in KEYWORDS or re.fullmatch(r"\d+\w*|e\d+", w):
            continue
        if w not in found:
            found.append(w)
    return found


def main(argv):
    if len(argv) == 3 and argv[1] == "schema":
        faults = schema(argv[2])
        for f in faults:
            print(f)
        return 1 if faults else 0
    if len(argv) == 4 and argv[1] == "exprs":
        for where, e in list(dashboard_exprs(argv[2])) + list(rule_exprs(argv[3])):
            print(f"{where}\t{e}\t{' '.join(names(e))}")
        return 0
    if len(argv) == 3 and argv[1] == "names":
        print("\n".join(names(argv[2])))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
