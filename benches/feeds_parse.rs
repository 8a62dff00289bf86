//! Feed parse throughput on 1-million-line feeds generated in-process (the
//! goal: at least 2 million lines/s for plain lists and range lists, the
//! whole `feeds::parse` call: lines, addresses, sort and de-duplication).
//!
//! - `plain`: one entry per line like blocklist.de / CINS / FireHOL: mostly
//!   IPv4 addresses, some CIDRs, some IPv6, comments, trailing comments, a
//!   few bad lines, some duplicates;
//! - `ip_range`: `a.b.c.d-e.f.g.h` ranges (spaces around the dash on some):
//!   aligned blocks (one CIDR each, like country and ASN range lists),
//!   unaligned ranges of up to 512 addresses (several CIDRs each), IPv6
//!   ranges from a /112 boundary to anywhere in it, single addresses and
//!   CIDRs; about three CIDRs per line on average.
//!
//! `cargo bench --bench feeds_parse` (add `-- --quick` for a short run).
//! Set `FEEDWALL_BENCH_LINES` to change the line count (default 1000000).
//! Prints `lines/s` per feed (wall clock and thread CPU time, best of five)
//! before Criterion's own report.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use feedwall::feeds::{self, Format, FormatOptions};

fn lines_wanted() -> usize {
    std::env::var("FEEDWALL_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// xorshift64*: a fixed seed, so every run parses the same feed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn v4(&mut self) -> u32 {
        // Global-looking unicast: first octet 1..=223.
        let a = self.next() as u32;
        (a % 223 + 1) << 24 | (a >> 8 & 0x00FF_FFFF)
    }

    fn v6(&mut self) -> u128 {
        0x2000u128 << 112
            | u128::from(self.next()) << 48
            | u128::from(self.next() & 0xFFFF_FFFF_FFFF)
    }
}

fn plain_feed(lines: usize) -> String {
    let mut r = Rng(0x5EED_2026_1103);
    let mut s = String::with_capacity(lines * 16);
    s.push_str("# synthetic plain list for the parse benchmark\n");
    let mut previous = 0u32;
    for i in 1..lines {
        let roll = r.next() % 1000;
        match roll {
            0..=859 => {
                let a = if roll < 10 { previous } else { r.v4() };
                previous = a;
                writeln!(s, "{}", Ipv4Addr::from(a)).unwrap();
            }
            860..=899 => writeln!(
                s,
                "{}/{}",
                Ipv4Addr::from(r.v4() & 0xFFFF_FF00),
                16 + r.next() % 9
            )
            .unwrap(),
            900..=949 => writeln!(s, "{}", Ipv6Addr::from(r.v6())).unwrap(),
            950..=959 => writeln!(
                s,
                "{}/{}",
                Ipv6Addr::from(r.v6() & !0xFFFF),
                48 + r.next() % 17
            )
            .unwrap(),
            960..=979 => writeln!(s, "{} # seen {i}", Ipv4Addr::from(r.v4())).unwrap(),
            980..=989 => writeln!(s, "# comment {i}").unwrap(),
            990..=994 => s.push('\n'),
            _ => writeln!(s, "{}.{}", Ipv4Addr::from(r.v4()), r.next() % 256).unwrap(), // five octets: rejected
        }
    }
    s
}

fn range_feed(lines: usize) -> String {
    let mut r = Rng(0x5EED_2026_1104);
    let mut s = String::with_capacity(lines * 30);
    s.push_str("# synthetic range list for the parse benchmark\n");
    for _ in 1..lines {
        let roll = r.next() % 100;
        let dash = if roll % 5 == 0 { " - " } else { "-" };
        let (a, b) = match roll {
            // Whole /24s and wider aligned blocks, as country and ASN
            // range lists write them: one CIDR each.
            0..=44 => {
                let a = r.v4() & 0xFFFF_FF00;
                (a, a | 0xFF)
            }
            45..=59 => {
                let bits = 10 + r.next() % 7;
                let a = r.v4() >> bits << bits;
                (a, a | ((1 << bits) - 1))
            }
            // Unaligned ranges of up to 512 addresses: several CIDRs each.
            60..=84 => {
                let a = r.v4();
                (a, a.saturating_add((r.next() % 512) as u32))
            }
            85..=94 => {
                let a = r.v6() & !0xFFFF;
                writeln!(
                    s,
                    "{}{dash}{}",
                    Ipv6Addr::from(a),
                    Ipv6Addr::from(a + u128::from(r.next() % 65_536))
                )
                .unwrap();
                continue;
            }
            95..=97 => {
                writeln!(s, "{}", Ipv4Addr::from(r.v4())).unwrap();
                continue;
            }
            _ => {
                writeln!(s, "{}/{}", Ipv4Addr::from(r.v4()), 20 + r.next() % 13).unwrap();
                continue;
            }
        };
        writeln!(s, "{}{dash}{}", Ipv4Addr::from(a), Ipv4Addr::from(b)).unwrap();
    }
    s
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

fn bench_parse(c: &mut Criterion) {
    let lines = lines_wanted();
    let feeds = [
        ("plain", Format::Plain, plain_feed(lines)),
        ("ip_range", Format::IpRange, range_feed(lines)),
    ];
    let opts = FormatOptions::default();
    for (name, format, text) in &feeds {
        // Timed runs, reported as lines/s (best of five), by the wall clock
        // and by this thread's CPU time (what a busy machine does not
        // inflate).
        let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
        let mut parsed = None;
        for _ in 0..5 {
            let (t, c) = (Instant::now(), thread_cpu());
            let p = feeds::parse(black_box(text.as_bytes()), *format, &opts);
            wall = wall.min(t.elapsed());
            cpu = cpu.min(thread_cpu().saturating_sub(c));
            parsed = Some(p);
        }
        let p = parsed.expect("parsed");
        eprintln!(
            "feeds_parse {name}: {lines} lines ({:.1} MiB), {} entries, {} rejected, {} skipped: wall {:.1} ms = {:.2} M lines/s, cpu {:.1} ms = {:.2} M lines/s",
            text.len() as f64 / (1 << 20) as f64,
            p.entries.len(),
            p.counts.rejected,
            p.counts.skipped_non_records,
            wall.as_secs_f64() * 1e3,
            lines as f64 / wall.as_secs_f64() / 1e6,
            cpu.as_secs_f64() * 1e3,
            lines as f64 / cpu.as_secs_f64() / 1e6,
        );
    }

    let mut g = c.benchmark_group("feeds_parse");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(lines as u64));
    for (name, format, text) in &feeds {
        g.bench_function(BenchmarkId::new(*name, format!("{lines}_lines")), |b| {
            // The result is dropped outside the timed part: parsing, not
            // freeing 100 MB of entries, is what is measured.
            b.iter_with_large_drop(|| feeds::parse(black_box(text.as_bytes()), *format, &opts))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
