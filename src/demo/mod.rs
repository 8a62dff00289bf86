//! The embedded demo: list files shipped in the binary, so `feedwall up`
//! works on a machine with no configuration and no network.
//!
//! The lists are synthetic samples in real feed layouts (see
//! `tests/fixtures/feeds/README.md`); `demo-large` is generated from a fixed
//! seed in the benchmarking range 198.18.0.0/15 (RFC 2544) so the demo shows
//! a list split over several chunk names.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net};

use crate::lists;
use crate::snapshot::{self, DeviceSpec, ListSpec, Snapshot, SnapshotWriter, ZoneSettings};

/// The demo lists: (name, where it comes from, text).
pub const DEMO_LISTS: [(&str, &str, &str); 5] = [
    ("attackers", "demo sample in blocklist.de layout", include_str!("lists/attackers.txt")),
    ("botnet-cc", "demo sample in abuse.ch Feodo Tracker layout", include_str!("lists/botnet-cc.txt")),
    ("hijacked", "demo sample in Spamhaus DROP layout", include_str!("lists/hijacked.txt")),
    ("tor-exits", "demo sample in Tor bulk exit list layout", include_str!("lists/tor-exits.txt")),
    ("compromised", "demo sample in Emerging Threats layout", include_str!("lists/compromised.txt")),
];
/// Hosts in the generated `demo-large` list (three chunk names of A).
pub const DEMO_LARGE_HOSTS: usize = 10_000;

/// Deterministic addresses in 198.18.0.0/15.
pub fn demo_large() -> Vec<IpNet> {
    let mut x: u32 = 0x2545_f491;
    let mut out = Vec::with_capacity(DEMO_LARGE_HOSTS);
    let mut seen = std::collections::HashSet::new();
    while out.len() < DEMO_LARGE_HOSTS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let a = 0xC612_0000 | (x & 0x0001_ffff);
        if seen.insert(a) {
            out.push(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), 32).expect("/32")));
        }
    }
    out
}

/// Builds the demo snapshot at `out`, with `devices` as the ACL (account 0,
/// the basic lookups only). Returns the snapshot and per-list bad lines.
pub fn build(out: &Path, devices: &[IpNet]) -> anyhow::Result<(Snapshot, Vec<(String, usize)>)> {
    let zone = ZoneSettings::new(snapshot::writer::DEFAULT_ZONE)?;
    let mut w = SnapshotWriter::new(zone, crate::cli::next_serial(out));
    let mut bad = Vec::new();
    for (name, source, text) in DEMO_LISTS {
        let (nets, bad_lines) = lists::parse_plain(text);
        bad.push((name.to_string(), bad_lines.len()));
        w.lists.push(ListSpec { name: name.into(), audience: snapshot::AUDIENCE_ALL, capacity: None, nets, source: source.into() });
    }
    w.lists.push(ListSpec { name: "demo-large".into(), audience: snapshot::AUDIENCE_ALL, capacity: Some(8), nets: demo_large(), source: "generated".into() });
    w.accounts.push((0, "demo".into()));
    for (i, p) in devices.iter().enumerate() {
        w.devices.push(DeviceSpec { name: format!("demo-device-{i}"), account: 0, prefixes: vec![*p] });
    }
    let snap = w.write(out)?;
    Ok((snap, bad))
}
