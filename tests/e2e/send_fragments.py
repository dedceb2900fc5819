#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Sends one UDP datagram in IP fragments, in an order of our choosing.

    send_fragments.py SRC DST DPORT FILE CHUNK ORDER

SRC and DST are IPv4 or IPv6 addresses (both the same family); the datagram
goes from port 40404 of SRC to DPORT of DST with the bytes of FILE as its
payload and a full UDP checksum. It is cut into fragments of CHUNK bytes of
IP payload (a multiple of 8; RFC 791 for IPv4, RFC 8200 section 4.5 for the
IPv6 fragment header). ORDER names the order they are sent in, by index from
0 (the first fragment, with the UDP header): "reverse", or indexes separated
by commas ("2,0,1"). Sent with a raw socket (IPPROTO_RAW: the kernel takes
the IP header as it is), so the kernel neither cuts nor reorders them.
"""
import ipaddress
import os
import socket
import struct
import sys


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_datagram(src, dst, dport, payload):
    length = 8 + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, 17)
    header = struct.pack("!HHHH", 40404, dport, length, 0)
    check = checksum(pseudo + header + payload) or 0xFFFF
    return struct.pack("!HHHH", 40404, dport, length, check) + payload


def fragments(src, dst, datagram, chunk, ident):
    out = []
    for off in range(0, len(datagram), chunk):
        part = datagram[off:off + chunk]
        more = off + chunk < len(datagram)
        if src.version == 4:
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident & 0xFFFF,
                                 (0x2000 if more else 0) | off // 8, 64, 17, 0, src.packed,
                                 dst.packed)
            header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        else:
            header = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(part), 44, 64, src.packed,
                                 dst.packed)
            header += struct.pack("!BBHI", 17, 0, off | more, ident)
        out.append(header + part)
    return out


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    src, dst = ipaddress.ip_address(sys.argv[1]), ipaddress.ip_address(sys.argv[2])
    dport, chunk = int(sys.argv[3]), int(sys.argv[5])
    if src.version != dst.version or chunk % 8 or chunk <= 8:
        sys.exit("send_fragments.py: SRC and DST of one family, CHUNK a multiple of 8 above 8")
    with open(sys.argv[4], "rb") as f:
        payload = f.read()
    frags = fragments(src, dst, udp_datagram(src, dst, dport, payload), chunk,
                      int.from_bytes(os.urandom(4), "big"))
    order = (list(range(len(frags)))[::-1] if sys.argv[6] == "reverse" else
             [int(i) for i in sys.argv[6].split(",")])
    family = socket.AF_INET if src.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        for i in order:
            s.sendto(frags[i], (str(dst), 0))


if __name__ == "__main__":
    main()
