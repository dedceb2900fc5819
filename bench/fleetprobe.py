#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fleetprobe.py - the time from `xdpfwd fleet add` to forwarding, for
bench/fleet.sh. Run in the internet's namespace:

  fleetprobe.py echo ADDR FIRST N         a UDP echo server on N ports from
                                          FIRST (the client's side)
  fleetprobe.py probe PUBLIC FIRST N TARGET TFIRST -- ADMIN...

probe, for each of N ports from FIRST: runs ADMIN... udp PORT
TARGET:TPORT (ADMIN is the whole command up to `add`'s arguments, e.g.
`ip netns exec NS xdpfwd fleet add gw1`; TPORT the i-th from TFIRST: a
target is one mapping's only, its replies are rewritten back by it), then
sends a datagram to
PUBLIC:PORT every millisecond until the echo comes back. Prints one line per
change: milliseconds from the command's start to the echo, and the
command's own share. A change not forwarded within 10 s prints "timeout".
"""
import selectors
import socket
import subprocess
import sys
import time


def echo(addr, first, n):
    sel = selectors.DefaultSelector()
    for port in range(int(first), int(first) + int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(2048)
            key.fileobj.sendto(data, peer)


def probe(public, first, n, target, tfirst, admin):
    for i, port in enumerate(range(int(first), int(first) + int(n))):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((public, port))
        s.settimeout(0.001)
        t0 = time.monotonic()
        subprocess.run(admin + ["udp", str(port), f"{target}:{int(tfirst) + i}"], check=True,
                       stdout=subprocess.DEVNULL)
        t1 = time.monotonic()
        got = None
        while time.monotonic() - t0 < 10:
            try:
                s.send(b"probe")
                if s.recv(64) == b"probe":
                    got = time.monotonic()
                    break
            except (socket.timeout, ConnectionRefusedError):
                pass
        s.close()
        if got is None:
            print("timeout", flush=True)
        else:
            print(f"{(got - t0) * 1000:.2f} {(t1 - t0) * 1000:.2f}", flush=True)


def main():
    if sys.argv[1:2] == ["echo"] and len(sys.argv) == 5:
        echo(*sys.argv[2:])
    elif sys.argv[1:2] == ["probe"] and len(sys.argv) > 8 and sys.argv[7] == "--":
        probe(*sys.argv[2:7], sys.argv[8:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
