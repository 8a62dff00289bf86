//! Shared by the fuzz targets: the fixture snapshots and a few wire helpers.
#![allow(dead_code)]

use std::net::IpAddr;

use feedwall::snapshot::{DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings};
use ipnet::IpNet;

/// Zone apex of the fixtures.
pub const ZONE: &str = "feedwall.internal";
/// Account of the device at 127.0.0.1 and ::1.
pub const ACCOUNT_HOME: u32 = 1;
/// Account of the device at 127.0.0.2; owns `custom.acct7`.
pub const ACCOUNT_OTHER: u32 = 7;

/// 127.0.0.1: device "home" (account 1).
pub const SRC_HOME_V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
/// ::1: the same device "home".
pub const SRC_HOME_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
/// 127.0.0.2: device "other" (account 7).
pub const SRC_OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
/// Not in the ACL.
pub const SRC_OUTSIDE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

fn net(s: &str) -> IpNet {
    s.parse().expect("fixture prefix")
}

fn list(name: &str, audience: u32, capacity: Option<u32>, nets: Vec<IpNet>) -> ListSpec {
    ListSpec {
        name: name.into(),
        audience,
        capacity,
        nets,
        source: "fuzz fixture".into(),
    }
}

fn devices(w: &mut SnapshotWriter) {
    w.devices.push(DeviceSpec {
        key: 0,
        name: "home".into(),
        account: ACCOUNT_HOME,
        prefixes: vec![net("127.0.0.1/32"), net("::1/128")],
    });
    w.devices.push(DeviceSpec {
        key: 0,
        name: "other".into(),
        account: ACCOUNT_OTHER,
        prefixes: vec![net("127.0.0.2/32")],
    });
    w.accounts.push((ACCOUNT_HOME, "home".into()));
    w.accounts.push((ACCOUNT_OTHER, "other".into()));
}

/// The query-path fixture: `big` (9216 IPv4 hosts: chunks 0 and 1 hold a
/// full 4000 A; 2304 IPv6 hosts: chunk 0 holds a full 2000 AAAA; a wide
/// /12; capacity 6 so chunks 3..5 are NODATA), `small`, `empty` (NODATA
/// chunks only) and `custom.acct7` (audience: account 7 only).
pub fn query_fixture() -> Vec<u8> {
    let zone = ZoneSettings::new(ZONE).expect("zone");
    let mut w = SnapshotWriter::new(zone, 2026112801);
    w.created_unix = 0;
    let mut big: Vec<IpNet> = (0..36).map(|i| net(&format!("10.0.{i}.0/24"))).collect();
    big.extend((0..9).map(|i| net(&format!("2001:db8:0:{i}::/120"))));
    big.push(net("172.16.0.0/12"));
    w.lists.push(list("big", 0, Some(6), big));
    w.lists.push(list(
        "small",
        0,
        None,
        vec![
            net("192.0.2.1/32"),
            net("198.51.100.0/30"),
            net("2001:db8:ffff::1/128"),
        ],
    ));
    w.lists.push(list("empty", 0, None, vec![]));
    w.lists.push(list(
        "custom.acct7",
        ACCOUNT_OTHER,
        None,
        vec![net("192.0.2.77/32"), net("2001:db8:7::7/128")],
    ));
    devices(&mut w);
    w.to_bytes().expect("fixture builds")
}

/// A small snapshot for the load target (a few KB, so byte edits land on
/// meaningful fields often).
pub fn small_fixture() -> Vec<u8> {
    let mut zone = ZoneSettings::new(ZONE).expect("zone");
    zone.nameservers[0].1.push("::1".parse().expect("addr"));
    let mut w = SnapshotWriter::new(zone, 7);
    // Fixed, so derived inputs (edits at offsets) reproduce exactly.
    w.created_unix = 0;
    w.lists.push(list(
        "small",
        0,
        Some(2),
        vec![
            net("192.0.2.1/32"),
            net("192.0.2.8/31"),
            net("2001:db8::1/128"),
            net("10.0.0.0/8"),
        ],
    ));
    w.lists.push(list(
        "custom.acct7",
        ACCOUNT_OTHER,
        None,
        vec![net("192.0.2.77/32")],
    ));
    devices(&mut w);
    w.to_bytes().expect("fixture builds")
}

/// Wire form of a dotted name (no validation beyond label length).
pub fn wire_name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A query: header (RD set), one question, optionally an OPT record
/// `(udp size, version, DO)`.
pub fn query(id: u16, name_wire: &[u8], qtype: u16, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + name_wire.len() + 4 + 11);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns.is_some() as u8]);
    q.extend_from_slice(name_wire);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some((size, version, dnssec_ok)) = edns {
        q.push(0);
        q.extend_from_slice(&41u16.to_be_bytes());
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    q
}

/// Parses an uncompressed name at `pos`; returns (lower-case wire name, end).
pub fn read_plain_name(msg: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            out.push(0);
            return Some((out, pos + 1));
        }
        if len > 63 {
            return None;
        }
        out.push(len as u8);
        out.extend(
            msg.get(pos + 1..pos + 1 + len)?
                .iter()
                .map(|b| b.to_ascii_lowercase()),
        );
        pos += 1 + len;
    }
}

/// `name` equals `apex` or lies below it (whole labels), both lower-case wire.
pub fn at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut pos = 0;
    loop {
        if &name[pos..] == apex {
            return true;
        }
        match name.get(pos) {
            Some(&0) | None => return false,
            Some(&l) => pos += 1 + l as usize,
        }
        if pos >= name.len() {
            return false;
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
