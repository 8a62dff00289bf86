#!/usr/bin/env python3
"""Turns `feedwall snapshot inspect SNAP --json --names` into an RFC 1035
master file, so NSD, Knot and BIND serve exactly the records feedwall serves.

Usage: zone.py DUMP.json TTL > zone.db

The dump does not carry TTLs: the harness builds the snapshot with an
explicit --ttl and passes the same value here. Names that hold no RRset in
the snapshot (declared list capacity past the last filled chunk: feedwall
answers NODATA there) cannot be written in a master file; they are listed as
comments, and none of the benchmark mixes queries them.
"""
import json
import sys


def wire_name(buf, pos):
    """Reads an uncompressed wire-format name; returns (text, next_pos)."""
    labels = []
    while True:
        n = buf[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0:
            raise ValueError("compressed name in SOA rdata")
        labels.append(buf[pos:pos + n].decode("ascii"))
        pos += n
    return ".".join(labels) + ".", pos


def soa_text(hexdata):
    b = bytes.fromhex(hexdata)
    mname, p = wire_name(b, 0)
    rname, p = wire_name(b, p)
    nums = [int.from_bytes(b[p + 4 * i:p + 4 * i + 4], "big") for i in range(5)]
    if p + 20 != len(b):
        raise ValueError("SOA rdata has %d trailing bytes" % (len(b) - p - 20))
    return "%s %s %s" % (mname, rname, " ".join(str(n) for n in nums))


def txt_text(s):
    # inspect joins character-strings with a space; ours hold one string.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: zone.py DUMP.json TTL")
    dump = json.load(open(sys.argv[1]))
    ttl = int(sys.argv[2])
    out = sys.stdout
    zone = dump["zone"]
    records = dump.get("records")
    if records is None:
        sys.exit("zone.py: the dump has no records (run inspect with --names)")
    out.write("; generated from feedwall snapshot serial %d by benches/compare/zone.py\n" % dump["serial"])
    out.write("$ORIGIN %s\n$TTL %d\n" % (zone, ttl))
    # SOA first (master files want it at the top).
    ordered = sorted(records, key=lambda r: (r["name"] != zone, r["name"]))
    written = 0
    for r in ordered:
        name = r["name"]
        if not r["rrsets"]:
            out.write("; %s: no RRset (feedwall: NODATA)\n" % name)
            continue
        for rs in r["rrsets"]:
            t = rs["type"]
            for d in rs["data"]:
                if t == "SOA":
                    rdata = soa_text(d)
                elif t == "TXT":
                    rdata = txt_text(d)
                elif t in ("A", "AAAA", "NS"):
                    rdata = d
                else:
                    b = bytes.fromhex(d)
                    rdata = "\\# %d %s" % (len(b), d)
                out.write("%s %d IN %s %s\n" % (name, ttl, t, rdata))
                written += 1
            if len(rs["data"]) != rs["count"]:
                sys.exit("zone.py: %s %s: %d records in the dump, count says %d" % (name, t, len(rs["data"]), rs["count"]))
    sys.stderr.write("zone.py: %d records for %s\n" % (written, zone))


if __name__ == "__main__":
    main()
