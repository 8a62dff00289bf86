//! Snapshot load and build times at scale.
//!
//! The large snapshot: about 1M names (a list of 400k IPv4 + 40k IPv6 hosts
//! in 100 full chunks, and a list declaring 1M chunk names, NODATA past its
//! data), and 100k ACL devices. Timed:
//! - `MappedSnapshot::from_bytes` (copy into an aligned buffer, header and
//!   checksum, rkyv validation, invariants),
//! - `MappedSnapshot::open` on a temp file (mmap instead of the copy; the
//!   file stays in the page cache, so this is the warm-cache figure),
//! - its parts: header + xxh3 checksum alone, rkyv validation alone,
//! - `SnapshotWriter::build` and `encode` (the control plane's cost).
//!
//! `cargo bench --bench snapshot_load` (add `-- --quick` for a short run).
//! Set `FEEDWALL_BENCH_NAMES` to change the number of names (default
//! 1000000).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use feedwall::snapshot::{
    encode, ArchivedSnapshot, DeviceSpec, ListSpec, MappedSnapshot, SnapshotWriter, ZoneSettings,
};
use ipnet::IpNet;

fn names_wanted() -> u32 {
    std::env::var("FEEDWALL_BENCH_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn writer(names: u32) -> SnapshotWriter {
    let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").expect("zone"), 1);
    // 400k IPv4 hosts (1563 /24s, 100 chunks of 4000) and 40k IPv6 hosts.
    let mut hosts: Vec<IpNet> = (0..1563u32)
        .map(|i| IpNet::new(Ipv4Addr::from(0x0A00_0000 + (i << 8)).into(), 24).expect("len"))
        .collect();
    hosts.extend((0..157u128).map(|i| {
        IpNet::new(Ipv6Addr::from(0x2001_0db8u128 << 96 | i << 8).into(), 120).expect("len")
    }));
    w.lists.push(ListSpec {
        name: "big".into(),
        audience: 0,
        capacity: None,
        nets: hosts,
        source: "bench".into(),
    });
    w.lists.push(ListSpec {
        name: "many".into(),
        audience: 0,
        capacity: Some(names),
        nets: vec!["192.0.2.1/32".parse().expect("net")],
        source: "bench".into(),
    });
    for i in 0..100_000u32 {
        w.devices.push(DeviceSpec {
            key: 0,
            name: format!("d{i}"),
            account: 1 + i % 100,
            prefixes: vec![
                IpNet::new(Ipv4Addr::from(0x6400_0000 + (i << 4)).into(), 28).expect("len"),
            ],
        });
    }
    w
}

fn bench_load(c: &mut Criterion) {
    let names = names_wanted();
    let w = writer(names);
    let t = Instant::now();
    let snap = w.build().expect("build");
    let build = t.elapsed();
    let t = Instant::now();
    let bytes = encode(&snap).expect("encode");
    let enc = t.elapsed();
    let n_names = snap.names.len();
    drop(snap);
    eprintln!(
        "snapshot: {n_names} names, 100000 devices, {:.1} MiB; one-off build {:.2?}, encode {:.2?}",
        bytes.len() as f64 / (1 << 20) as f64,
        build,
        enc
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snap.fw");
    std::fs::write(&path, &bytes).expect("write");
    let id = format!("{n_names}_names");

    let mut g = c.benchmark_group("load");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(BenchmarkId::new("from_bytes", &id), |b| {
        b.iter(|| MappedSnapshot::from_bytes(black_box(&bytes)).expect("valid"))
    });
    g.bench_function(BenchmarkId::new("open_mmap", &id), |b| {
        b.iter(|| MappedSnapshot::open(black_box(&path)).expect("valid"))
    });
    g.bench_function(BenchmarkId::new("header_checksum_only", &id), |b| {
        b.iter(|| feedwall::snapshot::check_header(black_box(&bytes)).map(|p| p.len()))
    });
    // rkyv validation alone (bytecheck of the archive, no header, no
    // invariants), on an aligned copy of the payload.
    let mut payload = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    payload.extend_from_slice(&bytes[feedwall::snapshot::HEADER_LEN..]);
    g.bench_function(BenchmarkId::new("rkyv_access_only", &id), |b| {
        b.iter(|| {
            rkyv::access::<ArchivedSnapshot, rkyv::rancor::Error>(black_box(&payload))
                .map(|s| s.names.len())
                .expect("valid")
        })
    });
    g.finish();

    // The control plane: assembling the snapshot, then archiving it.
    let mut g = c.benchmark_group("build");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    g.bench_function(BenchmarkId::new("writer_build", &id), |b| {
        b.iter(|| w.build().expect("build"))
    });
    g.bench_function(BenchmarkId::new("encode", &id), |b| {
        b.iter_batched(
            || w.build().expect("build"),
            |s| encode(&s).expect("encode"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
