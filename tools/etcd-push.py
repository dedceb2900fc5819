#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""etcd-push.py - write many mappings of one gateway into etcd at once, as a
provider's account system would: through etcd's v3 JSON gateway (POST
/v3/kv/txn), 128 puts a transaction (etcd 3.4's --max-txn-ops), over one
keep-alive HTTP/1.1 connection. For the fleet lab's scale test and
bench/fleet.sh.

  etcd-push.py URL GATEWAY FILE       put each line of FILE (a config-file
                                      mapping line: "udp 27015 10.8.1.2")
  etcd-push.py URL GATEWAY --delete   delete every mapping of GATEWAY
  etcd-push.py URL GATEWAY --stream RATE SECONDS
                                      RATE changes a second for SECONDS: puts
                                      of udp 43000-44999 -> 10.8.1.2, each
                                      round another target port (45000-
                                      48999, each a mapping's own), 10 a
                                      transaction (one committed write a
                                      millisecond is more than one
                                      connection gets from etcd here)

The key of a line is FLEET_MAP_KEY below (the layout of issue 16:
/xdpfwd/v1/gw/<gateway>/map/<proto>/<address or any>/<port>), its value the
line itself. Keys and values go base64 (the gateway's JSON mapping of bytes);
revisions come back as strings (int64). Prints one JSON object: keys,
transactions, seconds, and the first and last revision written. Exits 1 with
etcd's error on the first transaction that fails.
"""
import base64
import http.client
import json
import sys
import time
import urllib.parse

BATCH = 128
PREFIX = "/xdpfwd/v1/gw/{gw}/map/"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def map_key(gw, line):
    """The key of mapping LINE: PROTO [ADDR:]PORT[-PORT] TARGET..."""
    words = line.split()
    proto, pub = words[0], words[1]
    addr, _, port = pub.rpartition(":")
    addr = addr.strip("[]") or "any"
    return PREFIX.format(gw=gw) + f"{proto}/{addr}/{port}"


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    if resp.status != 200 or "error" in data:
        sys.exit(f"etcd-push: {path}: HTTP {resp.status}: {data.get('error', data)}")
    return data


def stream(conn, gw, rate, seconds):
    """Puts at RATE a second for SECONDS, paced; returns (count, txns, revs)."""
    per_txn, count, txns, revs = 10, 0, 0, []
    start = time.monotonic()
    total = int(rate * seconds)
    while count < total:
        due = start + count / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        puts = []
        for i in range(count, min(count + per_txn, total)):
            port, rnd = 43000 + i % 2000, i // 2000
            line = f"udp {port} 10.8.1.2:{45000 + i % 2000 + 2000 * (rnd % 2)}"
            puts.append({"request_put": {"key": b64(map_key(gw, line)), "value": b64(line)}})
        data = post(conn, "/v3/kv/txn", {"success": puts})
        revs.append(int(data["header"]["revision"]))
        count += len(puts)
        txns += 1
    return count, txns, revs


def main():
    if len(sys.argv) == 6 and sys.argv[3] == "--stream":
        url, gw = sys.argv[1:3]
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port or 2379, timeout=30)
        start = time.monotonic()
        count, txns, revs = stream(conn, gw, float(sys.argv[4]), float(sys.argv[5]))
        print(json.dumps({"keys": count, "transactions": txns,
                          "seconds": round(time.monotonic() - start, 3),
                          "first_revision": revs[0], "last_revision": revs[-1]}))
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, gw, what = sys.argv[1:]
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 2379, timeout=30)
    start = time.monotonic()
    revs = []
    if what == "--delete":
        prefix = PREFIX.format(gw=gw)
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        data = post(conn, "/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(end)})
        revs.append(int(data["header"]["revision"]))
        count = int(data.get("deleted", 0))
        txns = 1
    else:
        with open(what) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        count, txns = len(lines), 0
        for i in range(0, len(lines), BATCH):
            puts = [{"request_put": {"key": b64(map_key(gw, l)), "value": b64(l)}}
                    for l in lines[i:i + BATCH]]
            data = post(conn, "/v3/kv/txn", {"success": puts})
            revs.append(int(data["header"]["revision"]))
            txns += 1
    print(json.dumps({"keys": count, "transactions": txns,
                      "seconds": round(time.monotonic() - start, 3),
                      "first_revision": revs[0] if revs else 0,
                      "last_revision": revs[-1] if revs else 0}))


if __name__ == "__main__":
    main()
