#!/usr/bin/env python3
"""Writes the benchmark's plain IP list files and query files into DIR.

Usage: lists.py DIR ZONE

Lists (deterministic, seeded):
  big       16000 distinct IPv4 hosts: chunks 0..3.big.ZONE hold 4000 A each
  s0..s7    8..15 IPv4 hosts each: 0.sN.ZONE is a small A answer, sN.ZONE a
            TXT summary
Query files (dnsperf format, "NAME TYPE" per line):
  q-small.txt   small answers: 0.sN A and sN TXT, some in mixed case
  q-nx.txt      names that do not exist inside the zone (NXDOMAIN)
  q-oz.txt      names outside the zone (REFUSED by every server)
  tcp-names.txt the four full chunk names, one per line
"""
import os
import random
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: lists.py DIR ZONE")
    d, zone = sys.argv[1], sys.argv[2].rstrip(".")
    rng = random.Random(20261128)
    seen = set()
    big = []
    while len(big) < 16000:
        # Public-looking unicast space: 1.0.0.0 - 223.255.255.255, skip 10/8,
        # 127/8 (so no list entry collides with the loopback test addresses).
        v = rng.randrange(0x01000000, 0xE0000000)
        if v >> 24 in (10, 127) or v & 0xFF in (0, 255) or v in seen:
            continue
        seen.add(v)
        big.append(v)
    with open(os.path.join(d, "big.txt"), "w") as f:
        f.write("# benchmark list: 16000 hosts\n")
        for v in big:
            f.write("%d.%d.%d.%d\n" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255))
    for i in range(8):
        with open(os.path.join(d, "s%d.txt" % i), "w") as f:
            for h in range(8 + i):
                f.write("10.%d.%d.%d\n" % (i, h // 200, 1 + h % 200))
    with open(os.path.join(d, "q-small.txt"), "w") as f:
        for i in range(8):
            name = "0.s%d.%s" % (i, zone)
            if i % 4 == 3:
                name = name.upper()
            f.write("%s A\n" % name)
            f.write("s%d.%s TXT\n" % (i, zone))
    with open(os.path.join(d, "q-nx.txt"), "w") as f:
        for i in range(8):
            f.write("nx%d.%s A\n" % (i, zone))
            f.write("host%d.s%d.%s A\n" % (i, i, zone))
    with open(os.path.join(d, "q-oz.txt"), "w") as f:
        for i in range(16):
            f.write("host%d.example%d.com A\n" % (i, i % 4))
    with open(os.path.join(d, "tcp-names.txt"), "w") as f:
        for i in range(4):
            f.write("%d.big.%s\n" % (i, zone))


if __name__ == "__main__":
    main()
