//! Snapshot build speed (issue 3, "Speed"): the sidecar's last step for 1
//! million addresses (goal: under 2 s). Five lists, like the embedded
//! default's basic lookups, from six generated feeds: each list is the
//! union of its feeds, prefixes wider than the host-expansion limit (/24,
//! /120) aggregated with `IpNet::aggregate` (overlaps and adjacent prefixes
//! merged) and narrower ones kept as they are, as `Sidecar::writer` does, then
//! `SnapshotWriter::build` (expansion to hosts, chunking into A/AAAA RRsets,
//! names, index, ACL) and `encode` (rkyv archive, checksum). Together the
//! lists publish 1,004,169 host addresses (IPv4 and IPv6, in 647 names)
//! plus 247 wide networks: a 16 MiB snapshot.
//!
//! `cargo bench --bench snapshot_build` (add `-- --quick` for a short run).
//! Prints the time of each step (best of three, wall clock and thread CPU
//! time), and of writing the file atomically (fsync included, not part of
//! the total), before Criterion's own report of the whole.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use feedwall::lists::{DEFAULT_EXPAND_V4, DEFAULT_EXPAND_V6};
use feedwall::snapshot::{
    encode, DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings, AUDIENCE_ALL,
};
use ipnet::IpNet;

/// xorshift64*: a fixed seed, so every run builds the same snapshot.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Global-looking unicast IPv4: first octet 1..=223.
    fn v4(&mut self) -> u32 {
        let a = self.next() as u32;
        (a % 223 + 1) << 24 | (a >> 8 & 0x00FF_FFFF)
    }

    fn v6(&mut self) -> u128 {
        0x2000u128 << 112
            | u128::from(self.next()) << 48
            | u128::from(self.next() & 0xFFFF_FFFF_FFFF)
    }
}

fn host4(a: u32) -> IpNet {
    IpNet::from(IpAddr::V4(Ipv4Addr::from(a)))
}

fn host6(a: u128) -> IpNet {
    IpNet::from(IpAddr::V6(Ipv6Addr::from(a)))
}

/// A feed's canonical entries, as `feeds::parse` hands them over: sorted
/// unique networks.
fn feed(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort_unstable();
    nets.dedup();
    nets
}

/// The six feeds: (name, entries).
fn feeds() -> Vec<(&'static str, Vec<IpNet>)> {
    let mut r = Rng(0x5EED_2026_1105);
    // Attackers: two overlapping host lists (a quarter of the second is in
    // the first), some hosts in runs of neighbours.
    let a: Vec<u32> = (0..339_000)
        .map(|i| if i % 10 == 0 { 0 } else { r.v4() })
        .collect();
    let mut dshield: Vec<IpNet> = Vec::new();
    let mut prev = 0u32;
    for a in a {
        let a = if a == 0 { prev.wrapping_add(1) } else { a };
        prev = a;
        dshield.push(host4(a));
    }
    let mut blocklist: Vec<IpNet> = (0..150_000).map(|_| host4(r.v4())).collect();
    blocklist.extend(dshield.iter().step_by(8).take(50_000).copied());
    blocklist.extend((0..20_000).map(|_| host6(r.v6())));
    // Botnet C&C: hosts.
    let feodo: Vec<IpNet> = (0..100_000).map(|_| host4(r.v4())).collect();
    // Phishing: IPv4 and IPv6 hosts.
    let mut phish: Vec<IpNet> = (0..80_000).map(|_| host4(r.v4())).collect();
    phish.extend((0..30_000).map(|_| host6(r.v6())));
    // Hijacked networks: /24s and a few /25-/28s (expanded into hosts), a
    // few wide networks (kept as networks).
    let mut drop: Vec<IpNet> = (0..600)
        .map(|_| IpNet::new_assert(IpAddr::V4(Ipv4Addr::from(r.v4() & 0xFFFF_FF00)), 24))
        .collect();
    drop.extend((0..2_000).map(|_| {
        let len = 25 + (r.next() % 4) as u8;
        IpNet::new_assert(IpAddr::V4(Ipv4Addr::from(r.v4())), len).trunc()
    }));
    drop.extend((0..200).map(|_| {
        IpNet::new_assert(
            IpAddr::V4(Ipv4Addr::from(r.v4())),
            12 + (r.next() % 10) as u8,
        )
        .trunc()
    }));
    drop.extend((0..50).map(|_| {
        IpNet::new_assert(
            IpAddr::V6(Ipv6Addr::from(r.v6())),
            32 + (r.next() % 16) as u8,
        )
        .trunc()
    }));
    // Tor exits: IPv4 and IPv6 hosts.
    let mut tor: Vec<IpNet> = (0..8_000).map(|_| host4(r.v4())).collect();
    tor.extend((0..4_000).map(|_| host6(r.v6())));
    vec![
        ("dshield", feed(dshield)),
        ("blocklist_de", feed(blocklist)),
        ("feodo", feed(feodo)),
        ("phishtank", feed(phish)),
        ("spamhaus_drop", feed(drop)),
        ("tor_exit", feed(tor)),
    ]
}

/// The five lists: (name, feeds).
const LISTS: [(&str, &[&str]); 5] = [
    ("attackers", &["dshield", "blocklist_de"]),
    ("botnet-cc", &["feodo"]),
    ("phishing", &["phishtank"]),
    ("hijacked", &["spamhaus_drop"]),
    ("tor-exits", &["tor_exit"]),
];

/// Step 1, as `Sidecar::writer` does it: each list's union of feeds;
/// prefixes published as host records are kept as they are (the writer
/// expands them and removes duplicate hosts), wider ones are aggregated.
fn aggregate(feeds: &[(&str, Vec<IpNet>)]) -> Vec<(&'static str, Vec<IpNet>)> {
    LISTS
        .iter()
        .map(|(name, ids)| {
            let mut nets: Vec<IpNet> = Vec::new();
            for id in *ids {
                if let Some((_, f)) = feeds.iter().find(|(n, _)| n == id) {
                    nets.extend_from_slice(f);
                }
            }
            let (mut narrow, wide): (Vec<IpNet>, Vec<IpNet>) =
                nets.into_iter().partition(|n| match n {
                    IpNet::V4(n) => n.prefix_len() >= DEFAULT_EXPAND_V4,
                    IpNet::V6(n) => n.prefix_len() >= DEFAULT_EXPAND_V6,
                });
            narrow.extend(IpNet::aggregate(&wide));
            (*name, narrow)
        })
        .collect()
}

/// Step 2's input: the writer with the zone, lists and one device.
fn writer(lists: Vec<(&'static str, Vec<IpNet>)>) -> SnapshotWriter {
    let mut w = SnapshotWriter::new(
        ZoneSettings::new("feedwall.internal").expect("zone"),
        20_261_105,
    );
    w.created_unix = 1_793_836_800;
    for (name, nets) in lists {
        w.lists.push(ListSpec {
            name: name.into(),
            audience: AUDIENCE_ALL,
            capacity: Some(128),
            nets,
            source: "bench".into(),
        });
    }
    w.accounts.push((0, "operator".into()));
    w.devices.push(DeviceSpec {
        key: 0,
        name: "demo".into(),
        account: 0,
        prefixes: vec!["127.0.0.1/32".parse().expect("prefix")],
    });
    w
}

/// The whole step: aggregate, build, encode.
fn build_all(feeds: &[(&str, Vec<IpNet>)]) -> Vec<u8> {
    let w = writer(aggregate(feeds));
    encode(&w.build().expect("build")).expect("encode")
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux this runs on (an error leaves it zeroed).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best-of-`n` (wall, cpu) of `f`, and its last result.
fn timed<T>(n: usize, mut f: impl FnMut() -> T) -> ((Duration, Duration), T) {
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    let mut out = None;
    for _ in 0..n {
        let (t, c) = (Instant::now(), thread_cpu());
        let v = black_box(f());
        wall = wall.min(t.elapsed());
        cpu = cpu.min(thread_cpu().saturating_sub(c));
        out = Some(v);
    }
    ((wall, cpu), out.expect("ran"))
}

fn bench(c: &mut Criterion) {
    let feeds = feeds();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let (t_agg, lists) = timed(3, || aggregate(&feeds));
    let w = writer(lists);
    let (t_build, snap) = timed(3, || w.build().expect("build"));
    let (t_enc, bytes) = timed(3, || encode(&snap).expect("encode"));
    let (t_all, _) = timed(3, || build_all(&feeds));
    // What the sidecar does next: the file written atomically (temp file,
    // fsync, rename, directory fsync), on the disk the benchmark runs on.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("feedwall.snap");
    let (t_write, ()) = timed(3, || {
        feedwall::snapshot::writer::write_atomic(&path, &bytes).expect("write")
    });

    let hosts: u64 = snap
        .lists
        .iter()
        .map(|l| u64::from(l.v4_hosts) + u64::from(l.v6_hosts))
        .sum();
    let wide: usize = snap
        .lists
        .iter()
        .map(|l| l.wide_v4.len() + l.wide_v6.len())
        .sum();
    let feed_entries: usize = feeds.iter().map(|(_, f)| f.len()).sum();
    let list_nets: usize = w.lists.iter().map(|l| l.nets.len()).sum();
    eprintln!(
        "snapshot_build: {} feeds ({feed_entries} entries) -> {} lists ({list_nets} networks after merging) -> {hosts} host addresses + {wide} wide networks in {} names, {:.1} MiB file",
        feeds.len(),
        snap.lists.len(),
        snap.names.len(),
        bytes.len() as f64 / (1 << 20) as f64
    );
    for (step, (wall, cpu)) in [
        ("aggregate", t_agg),
        ("build", t_build),
        ("encode", t_enc),
        ("total", t_all),
        ("write", t_write),
    ] {
        eprintln!(
            "snapshot_build {step:>9}: wall {:8.1} ms, cpu {:8.1} ms",
            ms(wall),
            ms(cpu)
        );
    }

    let mut g = c.benchmark_group("snapshot_build");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("1m_addresses_aggregate_build_encode", |b| {
        b.iter_with_large_drop(|| build_all(black_box(&feeds)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
