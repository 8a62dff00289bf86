//! The firewall-log parsers on any bytes: the stream through
//! `LineParser::new(None, ..)` (per-line detection) and through every fixed
//! format.
//!
//! Besides "no panic":
//! - `parse_stream` hands over every line once, numbered 1, 2, …; its
//!   counts add up to the number of lines (records + rejected + ignored +
//!   skipped, in total and over the per-format counts);
//! - with a fixed format every line is that format's; with detection a
//!   record always names its format, and that format sniffs the line
//!   (Windows Firewall aside: its sniff depends on the `#Fields` state);
//! - a record of a protocol without ports (ICMP above all) has no ports,
//!   a record with ports is of a protocol that has them, the count is at
//!   least 1, ICMP detail only on ICMP records, TCP flags only on TCP;
//! - an IPv4 source or destination is written in the line as such (unless
//!   the line has an IPv4-mapped `ffff` form).
#![no_main]

use feedwall::logs::formats::{State, ALL};
use feedwall::logs::{parse_stream, Clock, Format, LineParser, LogRecord, Outcome, Proto, Zone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let clock = Clock {
        zone: Zone::Utc,
        year: None,
        now: 1_800_000_000,
    };
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64
        + u64::from(data.last().is_some_and(|&b| b != b'\n'));
    for format in std::iter::once(None).chain(ALL.into_iter().map(Some)) {
        let mut parser = LineParser::new(format, clock);
        let mut seen = 0u64;
        let summary = parse_stream::<_, std::io::Error>(data, &mut parser, |l| {
            seen += 1;
            assert_eq!(l.number, seen, "lines numbered in order");
            match format {
                Some(f) => assert_eq!(l.format, Some(f), "a fixed format is every line's"),
                None => {
                    if let (Outcome::Record(_), None) = (&l.outcome, l.format) {
                        panic!("a detected record without a format: {:?}", l.raw);
                    }
                    if let Some(f) = l.format {
                        let too_long = l.outcome == Outcome::Rejected("line too long");
                        if matches!(l.outcome, Outcome::Record(_) | Outcome::Rejected(_))
                            && !too_long
                            && f != Format::WindowsFirewall
                            && !l.raw.trim().is_empty()
                        {
                            assert!(
                                f.sniff(l.raw, &State::default()),
                                "{f} took a line it does not sniff: {:?}",
                                l.raw
                            );
                        }
                    }
                }
            }
            if let Outcome::Record(r) = &l.outcome {
                record_invariants(l.format, l.raw, r);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, lines, "{format:?}: lines handed over");
        assert_eq!(summary.total.lines(), lines, "{format:?}: counts add up");
        let by_format: u64 = summary.by_format.values().map(|c| c.lines()).sum();
        assert_eq!(by_format, lines, "{format:?}: per-format counts add up");
    }
});

fn record_invariants(format: Option<Format>, raw: &str, r: &LogRecord) {
    let f = format;
    if !r.proto.has_ports() {
        assert_eq!(
            (r.sport, r.dport),
            (None, None),
            "{f:?}: ports on {}: {raw:?}",
            r.proto
        );
    }
    if r.proto.is_icmp() {
        assert!(
            r.sport.is_none() && r.dport.is_none(),
            "{f:?}: ICMP with ports: {raw:?}"
        );
    } else {
        assert!(
            r.icmp.is_none(),
            "{f:?}: ICMP detail on {}: {raw:?}",
            r.proto
        );
    }
    if r.proto != Proto::TCP {
        assert!(
            r.flags.is_none(),
            "{f:?}: TCP flags on {}: {raw:?}",
            r.proto
        );
    }
    assert!(r.count >= 1, "{f:?}: count 0: {raw:?}");
    let mapped = raw.to_ascii_lowercase().contains("ffff");
    for a in [r.src, r.dst] {
        if a.is_ipv4() && !mapped {
            assert!(raw.contains(&a.to_string()), "{f:?}: {a} is not in {raw:?}");
        }
    }
}
