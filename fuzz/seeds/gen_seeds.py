#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (run from anywhere).

query_path/: real DNS queries (RFC 1035 wire format) against the fixture
zone of fuzz_targets/common/mod.rs (feedwall.internal, lists big, small,
empty, custom.acct7).
snapshot_load/: mode byte + edit list (see fuzz_targets/snapshot_load.rs).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, qname, qtype, qclass=1, edns=None, flags=0x0100, extra=b"", arcount=None):
    q = name(qname) + struct.pack(">HH", qtype, qclass)
    ar = b""
    if edns is not None:
        size, version, do = edns
        ar = b"\0" + struct.pack(">HHBBHH", 41, size, 0, version, 0x8000 if do else 0, 0)
    ar += extra
    n_ar = arcount if arcount is not None else (edns is not None) + (1 if extra else 0)
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, n_ar) + q + ar


A, NS, SOA, TXT, AAAA, ANY, AXFR = 1, 2, 6, 16, 28, 255, 252
TSIG_LIKE = b"\x03key\0" + struct.pack(">HHIH", 250, 255, 0, 4) + b"\0\0\0\0"

QUERIES = {
    "txt_list": query(0x1001, "big.feedwall.internal", TXT),
    "a_full_chunk_udp": query(0x1002, "0.big.feedwall.internal", A, edns=(1232, 0, False)),
    "a_full_chunk_64k": query(0x1003, "1.big.feedwall.internal", A, edns=(65535, 0, False)),
    "aaaa_mixed_case_do": query(0x1004, "0.BiG.FeedWall.Internal", AAAA, edns=(4096, 0, True)),
    "a_small": query(0x1005, "0.small.feedwall.internal", A),
    "nxdomain": query(0x1006, "nope.feedwall.internal", A, edns=(1232, 0, False)),
    "nodata_capacity": query(0x1007, "4.big.feedwall.internal", A),
    "nodata_empty_list": query(0x1008, "0.empty.feedwall.internal", AAAA),
    "any_apex": query(0x1009, "feedwall.internal", ANY),
    "ns_apex_glue": query(0x100A, "feedwall.internal", NS, edns=(1232, 0, True)),
    "soa_apex": query(0x100B, "FEEDWALL.internal", SOA),
    "other_account": query(0x100C, "0.custom.acct7.feedwall.internal", A),
    "below_other_account": query(0x100D, "x.0.custom.acct7.feedwall.internal", A),
    "axfr": query(0x100E, "feedwall.internal", AXFR),
    "out_of_zone": query(0x100F, "example.com", A),
    "badvers": query(0x1010, "big.feedwall.internal", TXT, edns=(1232, 1, False)),
    "notify_opcode": query(0x1011, "feedwall.internal", SOA, flags=0x2000),
    "chaos_class": query(0x1012, "version.bind", TXT, qclass=3),
    "tsig_like_additional": query(0x1013, "small.feedwall.internal", TXT, edns=(1232, 0, False), extra=TSIG_LIKE),
    "two_opts": query(0x1014, "small.feedwall.internal", TXT, edns=(1232, 0, False), extra=b"\0" + struct.pack(">HHBBHH", 41, 512, 0, 0, 0, 0)),
    "wide_below_chunk": query(0x1015, "a.b.0.big.feedwall.internal", A),
}

# snapshot_load: mode 1 = valid snapshot (no edits), mode 2 = edits with the
# header fixed up; each edit is [op, offset hi, offset lo, value].
LOAD = {
    "valid": b"\x01",
    "truncated_fixed": b"\x02" + bytes([2, 0x05, 0x00, 0]),
    "flip_fixed": b"\x02" + bytes([1, 0x02, 0x10, 0x40]),
    "ffff_fixed": b"\x02" + bytes([3, 0x03, 0x20, 0xFF]),
    "garbage": b"\x00FWSNAP\r\n\x01\x00\x00\x00",
}


def write(dirname, items):
    d = os.path.join(HERE, dirname)
    os.makedirs(d, exist_ok=True)
    for k, v in items.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)


if __name__ == "__main__":
    write("query_path", QUERIES)
    write("snapshot_load", LOAD)
    print(f"wrote {len(QUERIES)} query seeds and {len(LOAD)} snapshot_load seeds")
