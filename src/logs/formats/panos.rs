//! PAN-OS syslog CSV: `<14>Nov  3 00:06:47 PA-3220-EDGE 1,2026/11/03
//! 00:06:47,013201009876,TRAFFIC,drop,2561,2026/11/03 00:06:47,SRC,DST,...`.
//!
//! Only TRAFFIC lines are records; THREAT, SYSTEM, CONFIG and the other log
//! types are [`Outcome::Ignored`]. Fields used (1-based, as documented):
//! 4 type, 7 Generated Time (the record time, in the device's zone), 8
//! source, 9 destination, 25 source port, 26 destination port, 30 protocol,
//! 31 action. Fields may be quoted (`"a, b"`, `""` for a quote). Field
//! order: <https://docs.paloaltonetworks.com/pan-os/9-1/pan-os-admin/monitoring/use-syslog-for-monitoring/syslog-field-descriptions/traffic-log-fields>.

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto};
use crate::logs::time::Clock;

/// Fields read from a TRAFFIC line: the first 31.
const FIELDS: usize = 31;

/// Whether the line is PAN-OS CSV: the first comma is followed by the
/// receive time `YYYY/MM/DD HH:MM:SS,`.
pub fn sniff(line: &str) -> bool {
    csv_start(line).is_some()
}

/// The byte offset of the CSV's first field (after the syslog header).
fn csv_start(line: &str) -> Option<usize> {
    let c = line.as_bytes().iter().position(|&c| c == b',')?;
    let t = line.as_bytes().get(c + 1..c + 21)?;
    if t[19] != b',' || datetime(&t[..19]).is_none() {
        return None;
    }
    Some(line[..c].rfind(' ').map_or(0, |p| p + 1))
}

/// `YYYY/MM/DD HH:MM:SS` → (y, mo, d, h, mi, s).
fn datetime(b: &[u8]) -> Option<(i32, u32, u32, u32, u32, u32)> {
    if b.len() != 19 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'/',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let n =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0'));
    Some((
        n(0..4) as i32,
        n(5..7),
        n(8..10),
        n(11..13),
        n(14..16),
        n(17..19),
    ))
}

/// The next CSV field at `*i`, unquoted (`""` inside quotes stays doubled).
/// None at the end of the line or in an unterminated quote.
fn next_field<'a>(s: &'a str, i: &mut usize) -> Option<&'a str> {
    let b = s.as_bytes();
    let start = *i;
    let rest = b.get(start..)?;
    if rest.first() == Some(&b'"') {
        let mut j = start + 1;
        loop {
            j += b[j..].iter().position(|&c| c == b'"')?;
            if b.get(j + 1) == Some(&b'"') {
                j += 2;
            } else {
                break;
            }
        }
        // Past the closing quote and the comma after it (anything between
        // the two is dropped).
        *i = b[j..]
            .iter()
            .position(|&c| c == b',')
            .map_or(b.len(), |p| j + p)
            + 1;
        return Some(&s[start + 1..j]);
    }
    let end = rest
        .iter()
        .position(|&c| c == b',')
        .map_or(b.len(), |p| start + p);
    *i = end + 1;
    Some(&s[start..end])
}

pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let Some(start) = csv_start(line) else {
        return Outcome::Ignored;
    };
    let mut f = [""; FIELDS];
    let mut n = 0;
    let mut i = start;
    while n < FIELDS {
        let Some(v) = next_field(line, &mut i) else {
            break;
        };
        f[n] = v;
        n += 1;
        if n == 4 && v != "TRAFFIC" {
            return Outcome::Ignored;
        }
    }
    if n < FIELDS {
        return if n >= 4 {
            Outcome::Rejected("truncated TRAFFIC record")
        } else {
            Outcome::Ignored
        };
    }
    match record(&f, clock) {
        Ok(r) => Outcome::Record(r),
        Err(why) => Outcome::Rejected(why),
    }
}

fn record(f: &[&str; FIELDS], clock: &Clock) -> Result<LogRecord, &'static str> {
    let (y, mo, d, h, mi, s) = datetime(f[6].as_bytes()).ok_or("bad generated time")?;
    let time = clock
        .dated(y, mo, d, h, mi, s)
        .ok_or("bad generated time")?;
    let src = parse_addr(f[7]).ok_or("bad source address")?;
    let dst = parse_addr(f[8]).ok_or("bad destination address")?;
    let sport = parse_port(f[24]).ok_or("bad source port")?;
    let dport = parse_port(f[25]).ok_or("bad destination port")?;
    let proto = match f[29] {
        "tcp" => Proto::TCP,
        "udp" => Proto::UDP,
        "icmp" => Proto::ICMP,
        p => Proto::parse(p).ok_or("unknown protocol")?,
    };
    let action = action(f[30]).ok_or("unknown action")?;
    Ok(LogRecord::new(time, action, proto, src, dst).with_ports(Some(sport), Some(dport)))
}

/// allow → allow; deny, drop, drop-icmp, drop-all-packets, reset-client,
/// reset-server, reset-both → block.
fn action(w: &str) -> Option<Action> {
    Action::from_word(w).or_else(|| {
        ["drop", "deny", "block", "reset"]
            .iter()
            .any(|p| w.starts_with(p))
            .then_some(Action::Block)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::{self, clock};
    use crate::logs::formats::Format;
    use crate::logs::time::rfc3339;

    fn record(line: &str) -> LogRecord {
        testing::record(Format::Panos, line)
    }

    const ALLOW: &str = "<14>Nov  3 00:13:46 PA-3220-EDGE 1,2026/11/03 00:13:46,013201009876,TRAFFIC,end,2561,2026/11/03 00:13:40,218.81.122.57,198.51.100.2,0.0.0.0,0.0.0.0,allow-web,,,incomplete,vsys1,untrust,trust,ethernet1/1,ethernet1/2,default,2026/11/03 00:13:46,5248464,1,19504,123,0,0,0x400019,udp,allow,29809,29809,13306,1,2026/11/03 00:13:46,0,any,0,7066591464,0x0,United States,United States,0,1,0,aged-out,0,0,0,0,,PA-3220-EDGE,from-policy,,,0,,0,,N/A,0,0,0,0";

    #[test]
    fn traffic_record_uses_generated_time() {
        let r = record(ALLOW);
        assert_eq!(r.tuple(), "218.81.122.57|198.51.100.2|123|udp|allow");
        assert_eq!(r.sport, Some(19504));
        assert_eq!(rfc3339(r.time), "2026-11-03T00:13:40Z");
        let berlin = Clock {
            zone: "Europe/Berlin".parse().unwrap(),
            ..clock()
        };
        let Outcome::Record(r) = parse(ALLOW, &berlin) else {
            panic!()
        };
        assert_eq!(rfc3339(r.time), "2026-11-02T23:13:40Z");
    }

    #[test]
    fn ipv6_icmp_record_and_quoted_fields() {
        let r = record(
            "<14>Nov  3 06:37:15 PA-3220-EDGE 1,2026/11/03 06:37:15,013201009876,TRAFFIC,drop,2561,2026/11/03 06:37:15,2a06:9c89:6759:4363::47,2001:db8::11,::,::,\"deny, \"\"inbound\"\"\",,,not-applicable,vsys1,untrust,trust,ethernet1/1,,default,2026/11/03 06:37:15,0,1,0,0,0,0,0x0,ipv6-icmp,reset-both,74",
        );
        assert_eq!(
            r.tuple(),
            "2a06:9c89:6759:4363::47|2001:db8::11|-|icmpv6|block"
        );
        assert_eq!(r.sport, None);
    }

    #[test]
    fn truncated_and_malformed_traffic_is_rejected() {
        let c = clock();
        let t = "<14>Nov  4 08:25:21 PA-3220-EDGE 1,2026/11/04 08:25:21,013201009876,TRAFFIC,drop,2561,2026/11/04 08:25:21,56.155.104.246";
        assert!(sniff(t));
        assert_eq!(parse(t, &c), Outcome::Rejected("truncated TRAFFIC record"));
        let bad = ALLOW.replace(",218.81.122.57,", ",218.81.122.357,");
        assert_eq!(parse(&bad, &c), Outcome::Rejected("bad source address"));
        let bad = ALLOW.replace(",19504,123,", ",19504,65536,");
        assert_eq!(parse(&bad, &c), Outcome::Rejected("bad destination port"));
    }

    #[test]
    fn other_log_types_and_lines_are_ignored() {
        let c = clock();
        let sys = "<14>Nov  3 04:19:42 PA-3220-EDGE 1,2026/11/03 04:19:42,013201009876,SYSTEM,general,2561,2026/11/03 04:19:42,,general,,0,0,general,informational,\"User admin logged in via Web from 10.20.1.96 using https\",7068302668,0x0,0,0,0,0,,PA-3220-EDGE";
        assert!(sniff(sys));
        assert_eq!(parse(sys, &c), Outcome::Ignored);
        let filterlog = "Nov  3 00:04:45 pfSense.home.arpa filterlog[51823]: 9,,,1000000103,igb0,match,block,in,4";
        assert!(!sniff(filterlog));
        assert_eq!(parse(filterlog, &c), Outcome::Ignored);
        for s in [
            "x 1,2026/11/03 04:19:42,\"é",
            "1,2026/11/03 04:19:42,é,TRAFFIC,\"",
            "é,2026/11/03 04:19:4é",
        ] {
            let _ = parse(s, &c);
        }
    }
}
