//! Firewall-log speed (issue: reports).
//!
//! 1. **Ingest**: a generated 1-million-line netfilter (iptables) log in the
//!    fixture's layout (`tests/fixtures/logs/iptables/kern.log`: UFW BLOCK,
//!    DROP-IN, ACCEPT-FWD and UFW ALLOW lines, TCP/UDP/ICMP, a tenth IPv6)
//!    through `feedwall::logs::ingest::ingest` into a fresh log archive,
//!    each record tagged by a `FeedIndex` loaded from a feed archive of three
//!    feeds (host lists and /24s, 23,000 entries). Sources are 5,000
//!    addresses drawn zipf-like (rank `k` with probability ∝ 1/k), a third
//!    of them listed; destinations of forwarded traffic 3,000 addresses,
//!    zipf-like too. Goal: at least 200,000 lines/s.
//! 2. **Report**: a 30-day report (ragged hours at both ends, daily
//!    buckets, every section) over 10 million entries stored for one
//!    account over 32 days. The entries are generated as log lines and
//!    stored through the same `ingest` (one call per day), so the roll-ups
//!    are exactly what ingest maintains. Goal: under 1 s.
//!
//! `cargo bench --bench logs`. Both figures are also printed plainly, by
//! wall clock and by the thread's CPU time (ingest and reports run on one
//! thread; on a loaded machine the CPU figure is the fairer one): lines/s
//! per run, with parsing alone and parsing plus feed correlation measured
//! first to show where the time goes; the report's time, cold and warm, and
//! the roll-up rows the archive holds.
//! Building the 10-million-entry archive takes a few minutes and about
//! 2 GB in the temp directory.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use chrono::DateTime;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use feedwall::archive::{Archive, FeedMeta, FeedVersion, Timestamp};
use feedwall::logs::correlate::FeedIndex;
use feedwall::logs::ingest::{ingest, Target};
use feedwall::logs::report::{self, FeedInfo, Range, ReportQuery};
use feedwall::logs::store::{LogStore, Source, DAY, FILE_NAME};
use feedwall::logs::{parse_stream, Clock, LineParser, Outcome, Zone};
use ipnet::IpNet;

const INGEST_LINES: u64 = 1_000_000;
const REPORT_ENTRIES: u64 = 10_000_000;
/// Days the report archive's entries spread over.
const REPORT_DAYS: i64 = 32;
const SOURCES: usize = 5_000;
const DESTINATIONS: usize = 3_000;
/// 2026-06-01T00:00:00Z: the generated logs start here.
const T0: i64 = 1_780_272_000;
/// No limit on the generated input.
const NO_LIMIT: u64 = u64::MAX / 64;

/// xorshift64*: a fixed seed, so every run generates the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A zipf-like rank in `0..n`: log-uniform, so P(k) ∝ 1/(k+1).
    fn zipf(&mut self, n: usize) -> usize {
        ((n as f64).powf(self.unit()) as usize)
            .saturating_sub(1)
            .min(n - 1)
    }
}

/// The `i`th address of a population: global-looking unicast, every tenth
/// IPv6.
fn addr(seed: u64, i: usize) -> IpAddr {
    let mut r = Rng(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.next();
    if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::from(
            (0x2a0c_u128 << 112) | u128::from(r.next()) << 32 | u128::from(r.next() as u32),
        ))
    } else {
        let first = 1 + r.below(222) as u32;
        let first = if first == 10 || first == 127 {
            91
        } else {
            first
        };
        IpAddr::V4(Ipv4Addr::from(
            (first << 24) | (r.next() as u32 & 0x00FF_FFFF),
        ))
    }
}

const SRC_SEED: u64 = 0x5EED_0001;
const DST_SEED: u64 = 0x5EED_0002;

/// The firewall's own addresses (RFC 5737 / 3849, as in the fixtures).
const FW_V4: [&str; 4] = [
    "203.0.113.10",
    "203.0.113.11",
    "198.51.100.2",
    "198.51.100.3",
];
const FW_V6: &str = "2001:db8::11";
const PORTS: [u16; 16] = [
    22, 23, 445, 3389, 3306, 80, 443, 8080, 5900, 1433, 25, 53, 2323, 6379, 9200, 11211,
];

/// Generates netfilter log lines, `lines` of them, evenly over `days`
/// days from `start`.
struct LogGen {
    rng: Rng,
    left: u64,
    total: u64,
    start: i64,
    secs: i64,
    buf: Vec<u8>,
    pos: usize,
}

impl LogGen {
    fn new(seed: u64, lines: u64, start: i64, secs: i64) -> LogGen {
        LogGen {
            rng: Rng(seed),
            left: lines,
            total: lines,
            start,
            secs,
            buf: Vec::with_capacity(1 << 20),
            pos: 0,
        }
    }

    fn line(&mut self, out: &mut Vec<u8>) {
        use std::io::Write;
        let i = self.total - self.left;
        let t = self.start + (i as i128 * self.secs as i128 / self.total as i128) as i64;
        let when = DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%b %e %H:%M:%S");
        let uptime = 1_049_659.0 + (t - self.start) as f64;
        let r = &mut self.rng;
        let kind = r.below(100);
        let sport = 1024 + r.below(64_000);
        let port = PORTS[r.zipf(PORTS.len())];
        let id = r.below(65_536);
        let mac = "d5:98:ce:dc:f1:1b:e1:29:4d:32:5e:d6:08:00";
        let _ = write!(out, "{when} fw01 kernel: [{uptime:.6}] ");
        if kind < 85 {
            // Inbound: blocked (UFW, DROP-IN) or allowed (UFW ALLOW).
            let src = addr(SRC_SEED, r.zipf(SOURCES));
            let dst: IpAddr = if src.is_ipv6() {
                FW_V6.parse().unwrap()
            } else {
                FW_V4[r.below(4) as usize].parse().unwrap()
            };
            let prefix = match kind {
                0..=54 => "[UFW BLOCK]",
                55..=79 => "DROP-IN:",
                _ => "[UFW ALLOW]",
            };
            let _ = write!(out, "{prefix} IN=eth0 OUT= MAC={mac} SRC={src} DST={dst} ");
            if src.is_ipv6() {
                let _ = write!(out, "LEN=80 TC=0 HOPLIMIT=47 FLOWLBL=248105 ");
            } else {
                let _ = write!(out, "LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID={id} DF ");
            }
            match kind % 10 {
                0 if src.is_ipv4() => {
                    let _ = write!(out, "PROTO=ICMP TYPE=8 CODE=0 ID={id} SEQ=1");
                }
                1 | 2 => {
                    let _ = write!(out, "PROTO=UDP SPT={sport} DPT={port} LEN=40");
                }
                _ => {
                    let _ = write!(
                        out,
                        "PROTO=TCP SPT={sport} DPT={port} WINDOW=1024 RES=0x00 SYN URGP=0"
                    );
                }
            }
        } else {
            // Outbound, forwarded from an internal host.
            let src = Ipv4Addr::new(10, 20, r.below(8) as u8, r.below(250) as u8 + 2);
            let dst = loop {
                let d = addr(DST_SEED, r.zipf(DESTINATIONS));
                if d.is_ipv4() {
                    break d;
                }
            };
            let prefix = if kind < 97 {
                "ACCEPT-FWD:"
            } else {
                "DROP-FWD:"
            };
            let dport = if r.below(4) == 0 { 80 } else { 443 };
            let _ = write!(
                out,
                "{prefix} IN=eth1 OUT=eth0 MAC={mac} SRC={src} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID={id} DF PROTO=TCP SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0"
            );
        }
        out.push(b'\n');
        self.left -= 1;
    }
}

impl Read for LogGen {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let mut buf = std::mem::take(&mut self.buf);
            while self.left > 0 && buf.len() < (1 << 20) - 512 {
                self.line(&mut buf);
            }
            self.buf = buf;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The feed archive: "cins" lists every third source (and 20,000 other
/// hosts), "drop" the /24 (or /48) around every 25th source and every 50th
/// destination, "tor" every 40th source and destination. All listed from
/// a month before the logs.
fn feed_archive(path: &std::path::Path) -> Vec<FeedInfo> {
    let mut a = Archive::open(path).unwrap();
    let mut other = Rng(0xF00D);
    let host = |ip: IpAddr| IpNet::from(ip);
    let wide = |ip: IpAddr| match ip {
        IpAddr::V4(_) => IpNet::new(ip, 24).unwrap().trunc(),
        IpAddr::V6(_) => IpNet::new(ip, 48).unwrap().trunc(),
    };
    let cins: Vec<IpNet> = (0..SOURCES)
        .step_by(3)
        .map(|i| host(addr(SRC_SEED, i)))
        .chain((0..20_000).map(|_| {
            host(IpAddr::V4(Ipv4Addr::from(
                other.next() as u32 | 0x0100_0000,
            )))
        }))
        .collect();
    let drop: Vec<IpNet> = (0..SOURCES)
        .step_by(25)
        .map(|i| wide(addr(SRC_SEED, i)))
        .chain(
            (0..DESTINATIONS)
                .step_by(50)
                .map(|i| wide(addr(DST_SEED, i))),
        )
        .collect();
    let tor: Vec<IpNet> = (0..SOURCES)
        .step_by(40)
        .map(|i| host(addr(SRC_SEED, i)))
        .chain(
            (0..DESTINATIONS)
                .step_by(40)
                .map(|i| host(addr(DST_SEED, i))),
        )
        .collect();
    let mut infos = Vec::new();
    for (key, category, entries) in [
        ("cins", "attackers", cins),
        ("drop", "hijacked networks", drop),
        ("tor", "anonymizers", tor),
    ] {
        let mut entries = entries;
        entries.sort();
        entries.dedup();
        let meta = FeedMeta {
            id: key.into(),
            name: key.into(),
            ..FeedMeta::default()
        };
        let v = FeedVersion {
            feed: key.into(),
            fetched_at: Timestamp(T0 - 30 * DAY),
            hash: key.into(),
            entries: entries
                .into_iter()
                .map(|n| (n, Default::default()))
                .collect(),
            ..FeedVersion::default()
        };
        a.store_version(&meta, &v).unwrap();
        infos.push(FeedInfo {
            key: key.into(),
            name: key.into(),
            category: category.into(),
        });
    }
    infos
}

/// CPU time of the calling thread (ingest runs on one thread), so the
/// figures mean something on a loaded machine too.
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

/// `lines` per second of wall clock and of thread CPU time.
fn rates(lines: u64, wall: Duration, cpu: Duration) -> String {
    format!(
        "{:.2} s = {:.0} lines/s wall, {:.0} lines/s of CPU time",
        wall.as_secs_f64(),
        lines as f64 / wall.as_secs_f64(),
        lines as f64 / cpu.as_secs_f64().max(1e-9)
    )
}

/// Where ingest time goes: parsing alone, then parsing and feed
/// correlation (the rest of a full ingest is the batch's gzip, SQLite and
/// the roll-ups).
fn stages(log: &[u8], index: &FeedIndex) {
    for correlate in [false, true] {
        let (t, c) = (Instant::now(), thread_cpu());
        let mut parser = LineParser::new(None, target(1).clock);
        let mut scratch = Vec::new();
        let mut listed = 0u64;
        parse_stream::<_, io::Error>(log, &mut parser, |line| {
            if let (true, Outcome::Record(r)) = (correlate, &line.outcome) {
                index.listing_either(r.src, r.dst, r.time, &mut scratch);
                listed += u64::from(!scratch.is_empty());
            }
            Ok(())
        })
        .unwrap();
        let what = if correlate {
            "parse + correlate"
        } else {
            "parse alone"
        };
        eprintln!(
            "{what}: {}{}",
            rates(INGEST_LINES, t.elapsed(), thread_cpu() - c),
            if correlate {
                format!(" ({listed} records listed)")
            } else {
                String::new()
            }
        );
    }
}

fn target(account: i64) -> Target {
    Target {
        account,
        device: 1,
        clock: Clock {
            zone: Zone::Utc,
            year: Some(2026),
            now: T0 + 400 * DAY,
        },
        format: None,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.sqlite");
    let feeds = feed_archive(&archive);
    let index = FeedIndex::load(&archive).unwrap();
    eprintln!("feed index: {} intervals", index.intervals());

    // 1. Ingest: the log is generated once, in memory, outside the timing.
    let mut log = Vec::new();
    LogGen::new(1, INGEST_LINES, T0, DAY)
        .read_to_end(&mut log)
        .unwrap();
    eprintln!(
        "ingest input: {INGEST_LINES} lines, {} MB",
        log.len() / 1_000_000
    );
    stages(&log, &index);
    let mut g = c.benchmark_group("logs");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(INGEST_LINES));
    g.bench_function("ingest_1m_netfilter_lines", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = tempfile::tempdir().unwrap();
                let mut store = LogStore::open(&d.path().join(FILE_NAME)).unwrap();
                let (t, cpu) = (Instant::now(), thread_cpu());
                let r = ingest(
                    &mut store,
                    &index,
                    target(1),
                    Source::Cli,
                    &log[..],
                    NO_LIMIT,
                )
                .unwrap();
                let e = t.elapsed();
                assert_eq!(r.accepted, INGEST_LINES);
                eprintln!(
                    "ingest: {INGEST_LINES} lines in {}",
                    rates(INGEST_LINES, e, thread_cpu() - cpu)
                );
                total += e;
            }
            total
        })
    });
    drop(log);

    // 2. A 30-day report over 10 million entries.
    let path = dir.path().join(FILE_NAME);
    let mut store = LogStore::open(&path).unwrap();
    let per_day = REPORT_ENTRIES / REPORT_DAYS as u64;
    let (t, cpu) = (Instant::now(), thread_cpu());
    let mut stored = 0;
    for day in 0..REPORT_DAYS {
        let gen = LogGen::new(100 + day as u64, per_day, T0 + day * DAY, DAY);
        stored += ingest(&mut store, &index, target(1), Source::Cli, gen, NO_LIMIT)
            .unwrap()
            .accepted;
    }
    // Another account's logs beside them (the report must skip them).
    ingest(
        &mut store,
        &index,
        target(2),
        Source::Cli,
        LogGen::new(7, 200_000, T0, 30 * DAY),
        NO_LIMIT,
    )
    .unwrap();
    eprintln!(
        "report archive: {stored} entries for account 1 in {}, {} MB",
        rates(stored + 200_000, t.elapsed(), thread_cpu() - cpu),
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) / 1_000_000
    );
    drop(store);
    let store = LogStore::open_read_only(&path).unwrap();
    let conn = store.connection();
    let rows = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    eprintln!(
        "roll-ups: {} rollup rows, {} top rows ({} day rows)",
        rows("SELECT count(*) FROM rollup"),
        rows("SELECT count(*) FROM top"),
        rows("SELECT count(*) FROM top WHERE span = 86400"),
    );
    let range = Range::new(T0 + DAY + 7 * 3600, T0 + 31 * DAY + 7 * 3600);
    let q = ReportQuery {
        account: 1,
        range,
        zone: "Europe/Berlin".parse().unwrap(),
        subscribed: feeds.iter().map(|f| f.key.clone()).collect(),
        feeds,
        devices: vec![(1, "fw01".into())],
        top: report::DEFAULT_TOP,
    };
    let (t, cpu) = (Instant::now(), thread_cpu());
    let r = report::build(conn, &q).unwrap();
    eprintln!(
        "report (first, cold cache): {:.3} s wall, {:.3} s CPU; {} blocked, {} allowed though listed, {} days",
        t.elapsed().as_secs_f64(),
        (thread_cpu() - cpu).as_secs_f64(),
        r.totals.blocked,
        r.totals.allowed_listed,
        r.timeline.len()
    );
    g.throughput(Throughput::Elements(1))
        .measurement_time(Duration::from_secs(20));
    g.bench_function("report_30_days_over_10m_entries", |b| {
        b.iter(|| report::build(conn, &q).unwrap())
    });
    let (t, cpu) = (Instant::now(), thread_cpu());
    for _ in 0..5 {
        report::build(conn, &q).unwrap();
    }
    eprintln!(
        "report (warm, mean of 5): {:.3} s wall, {:.3} s CPU",
        t.elapsed().as_secs_f64() / 5.0,
        (thread_cpu() - cpu).as_secs_f64() / 5.0
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
