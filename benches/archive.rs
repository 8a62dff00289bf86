//! Archive write and lookup speed (issue 3, "Speed"): store a 1-million-entry
//! feed version into a new archive, then 1%-changed new versions of it
//! (goal: under 1 s each; 10,000 entries dropped and 10,000 added), with the
//! writer's open set in memory and right after reopening the archive, and
//! look an address up in the resulting archive.
//!
//! `cargo bench --bench archive`

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use feedwall::archive::{Archive, Counts, Detail, FeedMeta, FeedVersion, Timestamp};
use ipnet::IpNet;

const ENTRIES: u64 = 1_000_000;
/// Entries replaced per new version: 1% of the feed.
const STEP: u64 = ENTRIES / 100;
const T0: i64 = 1_793_577_600;

fn feed() -> FeedMeta {
    FeedMeta {
        id: "big".into(),
        name: "Big list".into(),
        url: "https://feeds.example/big.txt".into(),
        provider: "Example".into(),
        homepage: String::new(),
    }
}

/// Entry `i`: mostly host addresses, every 16th a /24, with the detail a
/// scored feed carries.
fn entry(i: u64) -> (IpNet, Detail) {
    let net = if i % 16 == 0 {
        IpNet::new_assert(
            IpAddr::V4(Ipv4Addr::from(0x6400_0000u32.wrapping_add((i as u32) << 8))),
            24,
        )
    } else {
        IpNet::from(IpAddr::V4(Ipv4Addr::from(
            0x0A00_0000u32.wrapping_add(i as u32),
        )))
    };
    let detail = Detail {
        score: Some((i % 100) as f32 / 10.0),
        category: Some(["scanner", "c2", "spam"][(i % 3) as usize].into()),
        country: None,
        reference: None,
    };
    (net, detail)
}

/// Version `k`: the window `[k * STEP, k * STEP + ENTRIES)`, so consecutive
/// versions differ by `STEP` removed and `STEP` added entries.
fn version(k: u64) -> FeedVersion {
    let entries: Vec<_> = (k * STEP..k * STEP + ENTRIES).map(entry).collect();
    FeedVersion {
        feed: "big".into(),
        fetched_at: Timestamp(T0 + k as i64 * 3600),
        hash: format!("v{k}"),
        counts: Counts {
            entries: ENTRIES,
            rejected: 0,
            ignored: 0,
        },
        entries,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("archive");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    let meta = feed();

    let first = version(0);
    g.bench_function("store_1m_new_feed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let mut a = Archive::open(&dir.path().join("bench.db")).unwrap();
                let t = Instant::now();
                a.store_version(&meta, &first).unwrap();
                total += t.elapsed();
            }
            total
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let mut a = Archive::open(&db).unwrap();
    a.store_version(&meta, &first).unwrap();
    drop(first);
    let mut k = 0;
    g.bench_function("store_1m_1pct_changed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                k += 1;
                let v = version(k);
                let t = Instant::now();
                let s = a.store_version(&meta, &v).unwrap();
                total += t.elapsed();
                assert_eq!((s.added as u64, s.removed as u64), (STEP, STEP));
            }
            total
        })
    });

    // The first version stored after a restart reads the open set from the
    // file instead of the writer's memory.
    g.bench_function("store_1m_1pct_changed_after_reopen", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                k += 1;
                let v = version(k);
                a = Archive::open(&db).unwrap();
                let t = Instant::now();
                a.store_version(&meta, &v).unwrap();
                total += t.elapsed();
            }
            total
        })
    });

    // Same-hash refetch of the 1M version.
    let mut same = version(k);
    g.bench_function("store_1m_same_hash", |b| {
        b.iter(|| {
            same.fetched_at.0 += 1;
            a.store_version(&meta, &same).unwrap()
        })
    });

    let mut n = 0u32;
    g.bench_function("listed_now_in_1m_archive", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            a.listed_now(IpAddr::V4(Ipv4Addr::from(0x0A00_0000u32 + n % 2_000_000)))
                .unwrap()
        })
    });
    g.bench_function("history_in_1m_archive", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            a.history(IpAddr::V4(Ipv4Addr::from(0x0A00_0000u32 + n % 2_000_000)))
                .unwrap()
        })
    });
    g.finish();
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "archive file after {k} changed versions: {:.1} MiB",
        size as f64 / 1048576.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
