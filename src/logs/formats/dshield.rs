//! DShield's submission format (the DShield client framework,
//! <https://isc.sans.edu/specs/>): one blocked packet or connection per
//! line, nine tab-separated fields:
//!
//! ```text
//! date-with-zone \t userid \t count \t src \t sport \t dst \t dport \t protocol \t tcp-flags
//! 2026-11-02 19:07:57 -05:00 \t 0 \t 1 \t 124.89.239.240 \t 15725 \t 198.51.100.2 \t 9200 \t 6 \t S
//! ```
//!
//! (`\t` is a tab.) The date carries its offset (`-05:00`, `-0500`, `Z`);
//! a date without one is read in the device's zone. The protocol is a
//! number or a name; the flags column (letters, `S`, `SA`…) may be empty or
//! missing. For ICMP the port slots hold the type and code, which go to
//! `icmp`. Every line is a blocked packet; `count` goes to
//! [`LogRecord::count`] (at least 1).

use chrono::NaiveDate;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::time::{parse_offset, Clock};

/// A zone offset in seconds east of UTC (`-05:00`, `-0500`, `+01`, `Z`).
fn offset(s: &str) -> Option<i64> {
    parse_offset(s).map(|o| i64::from(o.local_minus_utc()))
}

/// Reads N ASCII digits at the start of `b`.
fn digits(b: &[u8], n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(..n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Year, month, day, hour, minute, second.
type Ymdhms = (i32, u32, u32, u32, u32, u32);

/// `YYYY-MM-DD HH:MM:SS` at the start of `s` (a `T` also separates): the
/// fields and the rest after the seconds (a fraction skipped).
fn date_time(s: &str) -> Option<(Ymdhms, &str)> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let y = digits(b, 4)? as i32;
    let when = (
        y,
        digits(&b[5..], 2)?,
        digits(&b[8..], 2)?,
        digits(&b[11..], 2)?,
        digits(&b[14..], 2)?,
        digits(&b[17..], 2)?,
    );
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    Some((when, &s[i..]))
}

/// A date with a zone, then a tab.
pub fn sniff(line: &str) -> bool {
    let Some((date, _)) = line.split_once('\t') else {
        return false;
    };
    match date_time(date) {
        Some((_, zone)) => {
            offset(zone).is_some() && line.bytes().filter(|&b| b == b'\t').count() >= 3
        }
        None => false,
    }
}

/// The date field as Unix seconds.
fn time(s: &str, clock: &Clock) -> Option<i64> {
    let ((y, mo, d, h, mi, se), zone) = date_time(s)?;
    if zone.trim().is_empty() {
        return clock.dated(y, mo, d, h, mi, se);
    }
    let off = offset(zone)?;
    let t = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, se.min(59))?;
    Some(t.and_utc().timestamp() - off)
}

/// Parses one submission line.
pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let mut f = [""; 9];
    let mut n = 0;
    for v in line.split('\t') {
        if n == f.len() {
            return Outcome::Rejected("too many fields");
        }
        f[n] = v;
        n += 1;
    }
    if n < 8 {
        return Outcome::Rejected("too few fields");
    }
    let [date, _userid, count, src, sport, dst, dport, proto, flags] = f;
    let Some(time) = time(date, clock) else {
        return Outcome::Rejected("invalid date");
    };
    let count = match count.trim() {
        "" => 1,
        c => match c.parse::<u32>() {
            Ok(c) => c.max(1),
            Err(_) => return Outcome::Rejected("invalid count"),
        },
    };
    let Some(src) = parse_addr(src) else {
        return Outcome::Rejected("invalid source address");
    };
    let Some(dst) = parse_addr(dst) else {
        return Outcome::Rejected("invalid destination address");
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Outcome::Rejected("source and destination of different IP versions");
    }
    let proto = match proto.trim() {
        "6" => Proto::TCP,
        "17" => Proto::UDP,
        "1" => Proto::ICMP,
        p => match Proto::parse(p) {
            Some(p) => p,
            None => return Outcome::Rejected("unknown protocol"),
        },
    };
    let mut rec = LogRecord::new(time, Action::Block, proto, src, dst);
    rec.count = count;
    if proto.has_ports() {
        let (Some(sport), Some(dport)) = (parse_port(sport), parse_port(dport)) else {
            return Outcome::Rejected("invalid port");
        };
        rec = rec.with_ports(Some(sport), Some(dport));
        if proto == Proto::TCP && !flags.trim().is_empty() {
            rec.flags = Some(TcpFlags::from_letters(flags.trim()));
        }
    } else if proto.is_icmp() {
        // Type and code in the port slots; empty when unknown.
        match (sport.trim(), dport.trim()) {
            ("", "") => {}
            (t, c) => match (t.parse::<u8>(), c.parse::<u8>()) {
                (Ok(t), Ok(c)) => rec.icmp = Some((t, c)),
                _ => return Outcome::Rejected("invalid ICMP type or code"),
            },
        }
    }
    Outcome::Record(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::{self, clock};
    use crate::logs::formats::Format;
    use crate::logs::time::rfc3339;

    fn record(line: &str) -> LogRecord {
        testing::record(Format::Dshield, line)
    }

    #[test]
    fn tcp_record_applies_the_offset_and_count() {
        let r = record(
            "2026-11-05 18:48:02 -05:00\t0\t7\t163.243.88.175\t30898\t198.51.100.7\t1433\t6\tS",
        );
        assert_eq!(r.tuple(), "163.243.88.175|198.51.100.7|1433|tcp|block");
        assert_eq!(rfc3339(r.time), "2026-11-05T23:48:02Z");
        assert_eq!(
            (r.count, r.sport, r.flags),
            (7, Some(30898), Some(TcpFlags(TcpFlags::SYN)))
        );
        let r = record(
            "2026-11-02 19:06:50 -05:00\t0\t1\t92.178.90.176\t14384\t198.51.100.7\t389\t17\t",
        );
        assert_eq!(r.tuple(), "92.178.90.176|198.51.100.7|389|udp|block");
        assert_eq!(rfc3339(r.time), "2026-11-03T00:06:50Z");
    }

    #[test]
    fn ipv6_and_icmp_records() {
        let r =
            record("2026-11-03 01:00:00 +0100\t0\t1\t2001:db8::1\t5000\t2001:db8::2\t22\tTCP\tSA");
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8::2|22|tcp|block");
        assert_eq!(rfc3339(r.time), "2026-11-03T00:00:00Z");
        let r = record("2026-11-02 19:34:22 -05:00\t0\t1\t141.57.170.203\t8\t203.0.113.25\t0\t1\t");
        assert_eq!(r.tuple(), "141.57.170.203|203.0.113.25|-|icmp|block");
        assert_eq!((r.icmp, r.sport, r.dport), (Some((8, 0)), None, None));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let c = clock();
        let bad = "2026-11-04 23:42:07 -05:00\t0\t1\t1.2.3\t4444\t203.0.113.10\t22\t6\tS";
        assert_eq!(parse(bad, &c), Outcome::Rejected("invalid source address"));
        let short = "2026-11-05 01:07:49 -05:00\t0\t1\t217.121.49.14\t4444\t203.0.113.10";
        assert!(sniff(short));
        assert_eq!(parse(short, &c), Outcome::Rejected("too few fields"));
        let port =
            "2026-11-05 01:07:49 -05:00\t0\t1\t217.121.49.14\t4444\t203.0.113.10\t99999\t6\tS";
        assert_eq!(parse(port, &c), Outcome::Rejected("invalid port"));
    }

    #[test]
    fn other_lines_are_not_claimed() {
        assert!(!sniff(
            "2026-11-03 00:09:04 DROP TCP 1.2.3.4 5.6.7.8 1 2 60 S 1 0 - - - RECEIVE"
        ));
        assert!(!sniff("#Fields: date time action"));
        assert!(!sniff("2026-11-03 00:09:04\t0\t1\t1.2.3.4"));
        assert_eq!(
            parse("2026-11-03 00:09:04\tx\ty", &clock()),
            Outcome::Rejected("too few fields")
        );
    }
}
