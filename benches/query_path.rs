//! ns/query of the per-query path (`responder::query::respond`), and of its
//! two lookups alone: the ACL (`ArchivedSnapshot::device_for`) over a large
//! device table and the name index (`ArchivedSnapshot::find`) over many
//! names.
//!
//! `cargo bench --bench query_path` (add `-- --quick` for a short run).
//! Figures on a shared 2-core box are noisy; compare runs, not digits.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use feedwall::responder::query::{respond, respond_split, Kind, Transport, MAX_UDP_RESPONSE};
use feedwall::snapshot::{DeviceSpec, ListSpec, MappedSnapshot, SnapshotWriter, ZoneSettings};
use feedwall::wire::MAX_MESSAGE;
use ipnet::IpNet;

const ZONE: &str = "feedwall.internal";
const DEVICE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn list(name: &str, capacity: Option<u32>, nets: Vec<IpNet>) -> ListSpec {
    ListSpec {
        name: name.into(),
        audience: 0,
        capacity,
        nets,
        source: "bench".into(),
    }
}

fn wire_name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A query with RD and, optionally, an OPT advertising `edns` bytes.
fn query(name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut q = vec![
        0xAB,
        0xCD,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        edns.is_some() as u8,
    ];
    q.extend_from_slice(&wire_name(name));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}

/// The serving fixture: `big` (9216 IPv4 hosts: chunk 0 is a full 4000 A;
/// 2304 IPv6 hosts), `small` (a handful), one device 127.0.0.1/32.
fn serving_snapshot() -> MappedSnapshot {
    let mut w = SnapshotWriter::new(ZoneSettings::new(ZONE).expect("zone"), 1);
    let mut big: Vec<IpNet> = (0..36).map(|i| net(&format!("10.0.{i}.0/24"))).collect();
    big.extend((0..9).map(|i| net(&format!("2001:db8:0:{i}::/120"))));
    w.lists.push(list("big", None, big));
    w.lists.push(list(
        "small",
        None,
        vec![
            net("192.0.2.1/32"),
            net("198.51.100.0/30"),
            net("2001:db8:ffff::1/128"),
        ],
    ));
    w.devices.push(DeviceSpec {
        key: 0,
        name: "fw".into(),
        account: 1,
        prefixes: vec![net("127.0.0.1/32")],
    });
    MappedSnapshot::from_bytes(&w.to_bytes().expect("build")).expect("load")
}

/// xorshift64*: deterministic pseudo-random numbers for address and name
/// patterns (no cache-friendly sequential walk).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn bench_respond(c: &mut Criterion) {
    let snap = serving_snapshot();
    let s = snap.get();
    let mut udp = vec![0u8; MAX_UDP_RESPONSE];
    let mut tcp = vec![0u8; MAX_MESSAGE];

    // (name, query, transport, source, expected outcome, truncated)
    let cases: Vec<(&str, Vec<u8>, Transport, IpAddr, Kind, bool)> = vec![
        (
            "small_txt_udp",
            query("small.feedwall.internal", 16, Some(1232)),
            Transport::Udp,
            DEVICE,
            Kind::Answer,
            false,
        ),
        (
            "small_a_udp_no_edns",
            query("0.small.feedwall.internal", 1, None),
            Transport::Udp,
            DEVICE,
            Kind::Answer,
            false,
        ),
        (
            "full_chunk_4000a_tcp",
            query("0.big.feedwall.internal", 1, Some(1232)),
            Transport::Tcp,
            DEVICE,
            Kind::Answer,
            false,
        ),
        (
            "full_chunk_2000aaaa_tcp",
            query("0.big.feedwall.internal", 28, Some(1232)),
            Transport::Tcp,
            DEVICE,
            Kind::Answer,
            false,
        ),
        (
            "nxdomain_udp",
            query("nope.feedwall.internal", 1, Some(1232)),
            Transport::Udp,
            DEVICE,
            Kind::NxDomain,
            false,
        ),
        (
            "nodata_udp",
            query("3.big.feedwall.internal", 1, Some(1232)),
            Transport::Udp,
            DEVICE,
            Kind::NoData,
            false,
        ),
        (
            "refused_acl_udp",
            query("small.feedwall.internal", 16, Some(1232)),
            Transport::Udp,
            OUTSIDE,
            Kind::RefusedAcl,
            false,
        ),
        (
            "truncated_chunk_udp",
            query("0.big.feedwall.internal", 1, Some(1232)),
            Transport::Udp,
            DEVICE,
            Kind::Answer,
            true,
        ),
        (
            "mixed_case_txt_udp",
            query("SmAlL.FeEdWaLl.InTeRnAl", 16, Some(1232)),
            Transport::Udp,
            DEVICE,
            Kind::Answer,
            false,
        ),
    ];

    let mut g = c.benchmark_group("respond");
    g.throughput(Throughput::Elements(1));
    for (name, q, t, src, kind, truncated) in &cases {
        let out: &mut [u8] = if *t == Transport::Udp {
            &mut udp
        } else {
            &mut tcp
        };
        // Check the case is what it claims before timing it.
        let o = respond(s, *src, q, out, *t);
        assert_eq!((o.kind, o.truncated), (*kind, *truncated), "{name}");
        g.bench_function(*name, |b| {
            b.iter(|| respond(s, *src, black_box(q), black_box(&mut *out), *t))
        });
    }
    // What the TCP server does for big answers: the RRset stays in the
    // snapshot (written with writev), only header, question and OPT are built.
    let q = query("0.big.feedwall.internal", 1, Some(1232));
    let (o, split) = respond_split(s, DEVICE, &q, &mut tcp, Transport::Tcp, 2048);
    assert!(o.kind == Kind::Answer && split.is_some());
    g.bench_function("full_chunk_4000a_tcp_split", |b| {
        b.iter(|| {
            respond_split(
                s,
                DEVICE,
                black_box(&q),
                black_box(&mut tcp[..]),
                Transport::Tcp,
                2048,
            )
            .0
        })
    });
    g.finish();
}

/// 100k IPv4 device prefixes (/32 and /28, scattered) and 100k IPv6 (/64).
fn acl_snapshot(n: usize) -> MappedSnapshot {
    let mut w = SnapshotWriter::new(ZoneSettings::new(ZONE).expect("zone"), 1);
    w.lists.push(list("small", None, vec![net("192.0.2.1/32")]));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen_v4 = std::collections::HashSet::new();
    while seen_v4.len() < n {
        let a = (rng.next() as u32) & 0xFFFF_FFF0;
        if seen_v4.insert(a) {
            let len = if seen_v4.len() % 4 == 0 { 28 } else { 32 };
            let i = w.devices.len();
            w.devices.push(DeviceSpec {
                key: 0,
                name: format!("d{i}"),
                account: 1,
                prefixes: vec![IpNet::new(Ipv4Addr::from(a).into(), len)
                    .expect("len")
                    .trunc()],
            });
        }
    }
    for i in 0..n as u128 {
        let a = 0x2001_0db8u128 << 96 | (i * 0x1_0001) << 64;
        w.devices.push(DeviceSpec {
            key: 0,
            name: format!("v{i}"),
            account: 1,
            prefixes: vec![IpNet::new(Ipv6Addr::from(a).into(), 64).expect("len")],
        });
    }
    MappedSnapshot::from_bytes(&w.to_bytes().expect("build")).expect("load")
}

fn bench_acl(c: &mut Criterion) {
    const N: usize = 100_000;
    let snap = acl_snapshot(N);
    let s = snap.get();
    assert_eq!(s.acl_v4_starts.len(), N);
    // 4096 sources: hits (the start of a random range), misses (random).
    let mut rng = Rng(42);
    let v4_hits: Vec<IpAddr> = (0..4096)
        .map(|_| {
            IpAddr::V4(Ipv4Addr::from(
                s.acl_v4_starts[(rng.next() % N as u64) as usize].to_native(),
            ))
        })
        .collect();
    let v4_misses: Vec<IpAddr> = (0..4096)
        .map(|_| IpAddr::V4(Ipv4Addr::from((rng.next() as u32) | 0xF)))
        .collect();
    let v6_hits: Vec<IpAddr> = (0..4096)
        .map(|_| {
            IpAddr::V6(Ipv6Addr::from(
                s.acl_v6_starts[(rng.next() % N as u64) as usize].to_native() | 0x1234,
            ))
        })
        .collect();
    assert!(v4_hits
        .iter()
        .chain(&v6_hits)
        .all(|a| s.device_for(*a).is_some()));

    let mut g = c.benchmark_group(format!("acl_{}k_v4_{}k_v6", N / 1000, N / 1000));
    g.throughput(Throughput::Elements(1));
    for (name, srcs) in [
        ("v4_hit", &v4_hits),
        ("v4_random", &v4_misses),
        ("v6_hit", &v6_hits),
    ] {
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                s.device_for(black_box(srcs[i]))
            })
        });
    }
    // The whole path on the same snapshot: small answer, source deep in the table.
    let q = query("small.feedwall.internal", 16, Some(1232));
    let mut out = vec![0u8; MAX_UDP_RESPONSE];
    let mut i = 0usize;
    g.bench_function("respond_small_txt_udp", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            respond(s, v4_hits[i], black_box(&q), &mut out, Transport::Udp)
        })
    });
    g.finish();
}

/// One list with `names` chunk names (capacity; all but the first NODATA),
/// so the name table holds about `names` entries.
fn names_snapshot(names: u32) -> MappedSnapshot {
    let mut w = SnapshotWriter::new(ZoneSettings::new(ZONE).expect("zone"), 1);
    w.lists
        .push(list("many", Some(names), vec![net("192.0.2.1/32")]));
    w.lists.push(list("small", None, vec![net("192.0.2.1/32")]));
    w.devices.push(DeviceSpec {
        key: 0,
        name: "fw".into(),
        account: 1,
        prefixes: vec![net("127.0.0.1/32")],
    });
    MappedSnapshot::from_bytes(&w.to_bytes().expect("build")).expect("load")
}

fn bench_find(c: &mut Criterion) {
    let mut g = c.benchmark_group("find");
    g.throughput(Throughput::Elements(1));
    for n in [10_000u32, 1_000_000] {
        let snap = names_snapshot(n);
        let s = snap.get();
        let total = s.names.len();
        let mut rng = Rng(7);
        let hits: Vec<Vec<u8>> = (0..4096)
            .map(|_| wire_name(&format!("{}.many.{ZONE}", rng.next() % n as u64)))
            .collect();
        let misses: Vec<Vec<u8>> = (0..4096)
            .map(|_| wire_name(&format!("{}.nope.{ZONE}", rng.next() % n as u64)))
            .collect();
        assert!(
            hits.iter().all(|h| s.find(h).is_some()) && misses.iter().all(|m| s.find(m).is_none())
        );
        // Independent lookups: the CPU overlaps the cache misses of
        // consecutive lookups, so this is a throughput figure.
        for (kind, set) in [("hit", &hits), ("miss", &misses)] {
            let mut i = 0usize;
            g.bench_with_input(
                BenchmarkId::new(kind, format!("{total}_names")),
                set,
                |b, set| {
                    b.iter(|| {
                        i = (i + 1) & 4095;
                        s.find(black_box(&set[i]))
                    })
                },
            );
        }
        // Chained lookups: the next key depends on the previous result (a
        // name length, always < 64k, shifted to zero), so misses cannot
        // overlap; this is the latency one query pays.
        let mut i = 0usize;
        g.bench_with_input(
            BenchmarkId::new("hit_chained", format!("{total}_names")),
            &hits,
            |b, set| {
                b.iter(|| {
                    let d = s.find(&set[i]).map_or(0, |e| e.name.len());
                    i = (i + 1 + (d >> 16)) & 4095;
                })
            },
        );
        // The whole path with the big name table: NODATA at a random chunk.
        let queries: Vec<Vec<u8>> = (0..4096)
            .map(|_| {
                query(
                    &format!("{}.many.{ZONE}", 1 + rng.next() % (n as u64 - 1)),
                    1,
                    Some(1232),
                )
            })
            .collect();
        let mut out = vec![0u8; MAX_UDP_RESPONSE];
        let mut i = 0usize;
        g.bench_function(
            BenchmarkId::new("respond_nodata_udp", format!("{total}_names")),
            |b| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    respond(s, DEVICE, black_box(&queries[i]), &mut out, Transport::Udp)
                })
            },
        );
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_respond, bench_acl, bench_find
}
criterion_main!(benches);
