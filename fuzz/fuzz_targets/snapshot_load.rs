//! Snapshot bytes into `MappedSnapshot::from_bytes`: Ok or Err, never a
//! panic; a snapshot that loads must then answer queries without panicking.
//!
//! Input: the first byte picks a mode, the rest is data.
//! - mode 0: the data are the whole file.
//! - mode 1: a valid snapshot edited by the data (see `apply_edits`); the
//!   header is left as it was, so the checksum/length checks get exercised.
//! - mode 2: the same edits, then the header's length and checksum are
//!   recomputed, so the edited archive reaches rkyv validation and the
//!   invariant checks (this is where a crafted file would get through).
#![no_main]

mod common;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use feedwall::responder::query::{respond, respond_split, Transport, MAX_UDP_RESPONSE};
use feedwall::snapshot::{ArchivedSnapshot, MappedSnapshot, HEADER_LEN};
use feedwall::wire::MAX_MESSAGE;
use libfuzzer_sys::fuzz_target;

use common::*;

fn base() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let b = small_fixture();
        MappedSnapshot::from_bytes(&b).expect("fixture validates");
        b
    })
}

/// Fixed queries run on every snapshot that loads.
fn fixed_queries() -> &'static [Vec<u8>] {
    static Q: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    Q.get_or_init(|| {
        let mut v = Vec::new();
        let names = [
            "feedwall.internal",
            "small.feedwall.internal",
            "0.small.feedwall.internal",
            "1.SMALL.feedwall.internal",
            "0.custom.acct7.feedwall.internal",
            "ns1.feedwall.internal",
            "nope.feedwall.internal",
            "x.y.z.0.small.feedwall.internal",
            "example.com",
        ];
        for (i, n) in names.iter().enumerate() {
            let w = wire_name(n);
            for (j, qtype) in [1u16, 28, 16, 2, 6, 255].into_iter().enumerate() {
                let edns = match (i + j) % 3 {
                    0 => None,
                    1 => Some((4096, 0, true)),
                    _ => Some((1232, 0, false)),
                };
                v.push(query((i * 16 + j) as u16, &w, qtype, edns));
            }
        }
        v
    })
}

thread_local! {
    static OUT: RefCell<(Vec<u8>, Vec<u8>)> = RefCell::new((vec![0u8; MAX_UDP_RESPONSE], vec![0u8; MAX_MESSAGE]));
}

/// Edits, 4 bytes each: `[op, hi, lo, val]`, offset = `(hi, lo) % len`.
/// op % 5: 0 set byte, 1 xor byte, 2 truncate at offset, 3 write `val`
/// repeated over 2 bytes (0xFF.. makes the largest u16), 4 write a
/// little-endian u32 `val` (small counts and lengths).
fn apply_edits(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(4) {
        if bytes.is_empty() {
            return;
        }
        let off = (((e[1] as usize) << 8) | e[2] as usize) % bytes.len();
        let val = e[3];
        match e[0] % 5 {
            0 => bytes[off] = val,
            1 => bytes[off] ^= val.max(1),
            2 => bytes.truncate(off),
            3 => {
                for b in bytes.iter_mut().skip(off).take(2) {
                    *b = val;
                }
            }
            _ => {
                for (b, v) in bytes.iter_mut().skip(off).zip((val as u32).to_le_bytes()) {
                    *b = v;
                }
            }
        }
    }
}

fn fix_header(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let payload_len = (bytes.len() - HEADER_LEN) as u64;
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes[HEADER_LEN..]);
    bytes[16..24].copy_from_slice(&payload_len.to_le_bytes());
    bytes[24..32].copy_from_slice(&sum.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        m => {
            let mut b = base().to_vec();
            apply_edits(&mut b, rest);
            if m == 2 {
                fix_header(&mut b);
            }
            b
        }
    };
    if let Some(path) = std::env::var_os("FEEDWALL_FUZZ_DUMP") {
        // Reproduction aid: the exact file bytes this input produced.
        std::fs::write(path, &bytes).expect("write FEEDWALL_FUZZ_DUMP");
    }
    let Ok(snap) = MappedSnapshot::from_bytes(&bytes) else {
        return;
    };
    exercise(snap.get());
});

fn exercise(s: &ArchivedSnapshot) {
    // Sources: the fixture's devices, one outside, and the first address of
    // every (possibly edited) ACL range.
    let mut sources: Vec<IpAddr> = vec![SRC_HOME_V4, SRC_HOME_V6, SRC_OTHER, SRC_OUTSIDE];
    sources.extend(
        s.acl_v4_starts
            .iter()
            .take(4)
            .map(|a| IpAddr::V4(Ipv4Addr::from(a.to_native()))),
    );
    sources.extend(
        s.acl_v6_starts
            .iter()
            .take(4)
            .map(|a| IpAddr::V6(Ipv6Addr::from(a.to_native()))),
    );
    // Queries: the fixed ones, then each name the snapshot holds (edits may
    // have renamed them), with and without DO.
    let mut queries: Vec<Vec<u8>> = fixed_queries().to_vec();
    for (i, e) in s.names.iter().take(24).enumerate() {
        let types: &[u16] = &[1, 255, 28, 2];
        queries.push(query(
            i as u16,
            &e.name,
            types[i % 4],
            Some((65535, 0, i % 2 == 0)),
        ));
        queries.push(query(i as u16, &e.name, 16, None));
    }
    OUT.with(|o| {
        let (udp, tcp) = &mut *o.borrow_mut();
        for q in &queries {
            for &src in &sources {
                let a = respond(s, src, q, udp, Transport::Udp);
                assert!(a.len <= udp.len());
                let b = respond(s, src, q, tcp, Transport::Tcp);
                assert!(b.len <= tcp.len());
                let (c, split) = respond_split(s, src, q, tcp, Transport::Tcp, 16);
                assert_eq!(c.len, b.len);
                if let Some(sp) = split {
                    assert!(sp.head + sp.middle.len() <= c.len);
                }
            }
        }
        // Lookups of every stored name must find it (or the index was
        // edited; either way no panic).
        for e in s.names.iter().take(64) {
            let _ = s.find(&e.name);
        }
    });
}
