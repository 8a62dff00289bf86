//! Windows Firewall `pfirewall.log`: a W3C-like header, then one
//! space-separated line per packet, `-` for an empty column.
//!
//! ```text
//! #Version: 1.5
//! #Software: Microsoft Windows Firewall
//! #Time Format: Local
//! #Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path
//!
//! 2026-11-03 00:09:04 DROP TCP 16.86.229.146 192.0.2.10 18296 443 52 S 17187735 0 29200 - - - RECEIVE
//! ```
//!
//! The last `#Fields:` line names the columns (newer Windows adds `pid`);
//! [`Fields`] keeps that layout from line to line, and without a header the
//! documented default order is assumed. Header lines are
//! [`Outcome::Skipped`]; `INFO-EVENTS-LOST` lines are [`Outcome::Ignored`].
//! Times are local (the device's zone) unless the header says
//! `#Time Format: UTC`. DROP → block; ALLOW (and XP's OPEN, OPEN-INBOUND,
//! CLOSE) → allow. Layout:
//! <https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-server-2008-R2-and-2008/ff428145(v=ws.10)>.

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::time::{Clock, Zone};

/// The column order Windows writes when no `#Fields:` line has been seen.
const DEFAULT_FIELDS: &str = "date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path";

/// Columns beyond this many are not read.
const MAX_COLUMNS: usize = 32;

/// A column the layout does not have.
const ABSENT: u8 = u8::MAX;

/// The column layout announced by the last `#Fields:` header: the index of
/// each column a record is built from ([`ABSENT`] when the header lacks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    date: u8,
    time: u8,
    action: u8,
    protocol: u8,
    src_ip: u8,
    dst_ip: u8,
    src_port: u8,
    dst_port: u8,
    tcpflags: u8,
    icmptype: u8,
    icmpcode: u8,
    /// Columns a data line needs: one past the last column read.
    needed: u8,
    /// `#Time Format: UTC`; otherwise times are the device's local time.
    utc: bool,
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::from_names(DEFAULT_FIELDS)
    }
}

impl Fields {
    /// The layout of a `#Fields:` line's column names.
    fn from_names(names: &str) -> Fields {
        let mut f = Fields {
            date: ABSENT,
            time: ABSENT,
            action: ABSENT,
            protocol: ABSENT,
            src_ip: ABSENT,
            dst_ip: ABSENT,
            src_port: ABSENT,
            dst_port: ABSENT,
            tcpflags: ABSENT,
            icmptype: ABSENT,
            icmpcode: ABSENT,
            needed: 0,
            utc: false,
        };
        for (i, name) in names.split_ascii_whitespace().take(MAX_COLUMNS).enumerate() {
            let slot = match name {
                "date" => &mut f.date,
                "time" => &mut f.time,
                "action" => &mut f.action,
                "protocol" => &mut f.protocol,
                "src-ip" => &mut f.src_ip,
                "dst-ip" => &mut f.dst_ip,
                "src-port" => &mut f.src_port,
                "dst-port" => &mut f.dst_port,
                "tcpflags" => &mut f.tcpflags,
                "icmptype" => &mut f.icmptype,
                "icmpcode" => &mut f.icmpcode,
                _ => continue,
            };
            *slot = i as u8;
            f.needed = i as u8 + 1;
        }
        f
    }
}

/// Whether the line is a header line or a data line of this layout
/// (`YYYY-MM-DD HH:MM:SS ACTION ...`).
pub fn sniff(line: &str, fields: &Fields) -> bool {
    if line.starts_with('#') {
        return line.starts_with("#Version:")
            || line.starts_with("#Software: Microsoft Windows Firewall")
            || line.starts_with("#Time Format:")
            || (line.starts_with("#Fields:") && line.contains("src-ip"));
    }
    let mut cols = [""; MAX_COLUMNS];
    let n = columns(
        line,
        &mut cols,
        fields.date.max(fields.time).max(fields.action),
    );
    data_line(&cols[..n], fields).is_some()
}

/// Splits `line` into `cols`, stopping after column `last`; returns how
/// many were filled.
fn columns<'a>(line: &'a str, cols: &mut [&'a str; MAX_COLUMNS], last: u8) -> usize {
    let mut n = 0;
    for w in line.split_ascii_whitespace() {
        if n == MAX_COLUMNS {
            break;
        }
        cols[n] = w;
        n += 1;
        if n > usize::from(last) {
            break;
        }
    }
    n
}

/// What a line's action column says.
enum Kind {
    Record(Action),
    /// `INFO-EVENTS-LOST`.
    Info,
}

/// The date, time and action columns of a data line.
struct DataLine {
    /// (year, month, day).
    date: (i32, u32, u32),
    /// (hour, minute, second).
    time: (u32, u32, u32),
    kind: Kind,
}

/// The date, time and action of a data line; None when the line is not
/// one.
fn data_line(cols: &[&str], f: &Fields) -> Option<DataLine> {
    let col = |i: u8| cols.get(usize::from(i)).copied();
    let date = date(col(f.date)?)?;
    let time = time(col(f.time)?)?;
    let kind = match col(f.action)? {
        "DROP" => Kind::Record(Action::Block),
        "ALLOW" | "OPEN" | "OPEN-INBOUND" | "CLOSE" => Kind::Record(Action::Allow),
        "INFO-EVENTS-LOST" => Kind::Info,
        _ => return None,
    };
    Some(DataLine { date, time, kind })
}

/// `YYYY-MM-DD`.
fn date(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Some((num(&b[..4])? as i32, num(&b[5..7])?, num(&b[8..])?))
}

/// `HH:MM:SS`.
fn time(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((num(&b[..2])?, num(&b[3..5])?, num(&b[6..])?))
}

fn num(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
    })
}

pub fn parse(line: &str, clock: &Clock, fields: &mut Fields) -> Outcome {
    if let Some(h) = line.strip_prefix('#') {
        if let Some(names) = h.strip_prefix("Fields:") {
            let utc = fields.utc;
            *fields = Fields::from_names(names);
            fields.utc = utc;
        } else if let Some(tf) = h.strip_prefix("Time Format:") {
            fields.utc = tf.trim().eq_ignore_ascii_case("utc");
        }
        return Outcome::Skipped;
    }
    let mut cols = [""; MAX_COLUMNS];
    let n = columns(line, &mut cols, (MAX_COLUMNS - 1) as u8);
    if n == 0 {
        return Outcome::Skipped;
    }
    let cols = &cols[..n];
    let Some(DataLine {
        date: (y, mo, d),
        time: (h, mi, s),
        kind: Kind::Record(action),
    }) = data_line(cols, fields)
    else {
        // Not a data line, or INFO-EVENTS-LOST.
        return Outcome::Ignored;
    };
    if n < usize::from(fields.needed) {
        return Outcome::Rejected("too few fields");
    }
    let zone = if fields.utc { Zone::Utc } else { clock.zone };
    let Some(t) = Clock { zone, ..*clock }.dated(y, mo, d, h, mi, s) else {
        return Outcome::Rejected("bad date or time");
    };
    match record(cols, fields, t, action) {
        Ok(r) => Outcome::Record(r),
        Err(why) => Outcome::Rejected(why),
    }
}

fn record(cols: &[&str], f: &Fields, t: i64, action: Action) -> Result<LogRecord, &'static str> {
    // A column the layout lacks reads as `-`.
    let col = |i: u8| cols.get(usize::from(i)).copied().unwrap_or("-");
    let proto = Proto::parse(col(f.protocol)).ok_or("unknown protocol")?;
    let src = parse_addr(col(f.src_ip)).ok_or("bad src-ip")?;
    let dst = parse_addr(col(f.dst_ip)).ok_or("bad dst-ip")?;
    let port = |i: u8| match col(i) {
        "-" => Ok(None),
        p => parse_port(p).map(Some).ok_or("bad port"),
    };
    let mut r =
        LogRecord::new(t, action, proto, src, dst).with_ports(port(f.src_port)?, port(f.dst_port)?);
    if proto == Proto::TCP {
        r.flags = match col(f.tcpflags) {
            "-" => None,
            l => Some(TcpFlags::from_letters(l)),
        };
    }
    if proto.is_icmp() {
        let byte = |i: u8| col(i).parse::<u8>().ok();
        r.icmp = byte(f.icmptype).zip(byte(f.icmpcode));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::clock;
    use crate::logs::time::rfc3339;

    fn record(line: &str, f: &mut Fields) -> LogRecord {
        assert!(sniff(line, f), "{line}");
        match parse(line, &clock(), f) {
            Outcome::Record(r) => r,
            o => panic!("{line}: {o:?}"),
        }
    }

    #[test]
    fn default_layout_record() {
        let mut f = Fields::default();
        let r = record(
            "2026-11-03 00:09:04 DROP TCP 16.86.229.146 192.0.2.10 18296 443 52 S 17187735 0 29200 - - - RECEIVE",
            &mut f,
        );
        assert_eq!(r.tuple(), "16.86.229.146|192.0.2.10|443|tcp|block");
        assert_eq!(
            (r.sport, r.flags),
            (Some(18296), Some(TcpFlags(TcpFlags::SYN)))
        );
        assert_eq!(rfc3339(r.time), "2026-11-03T00:09:04Z");
    }

    #[test]
    fn header_sets_the_layout_and_ipv6_records_follow_it() {
        let c = clock();
        let mut f = Fields::default();
        for h in [
            "#Version: 1.5",
            "#Software: Microsoft Windows Firewall",
            "#Time Format: Local",
            "#Fields: pid date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path",
        ] {
            assert!(sniff(h, &f), "{h}");
            assert_eq!(parse(h, &c, &mut f), Outcome::Skipped);
        }
        let r = record(
            "4 2026-11-03 00:49:16 ALLOW UDP 2001:db8::10 2001:db8:1::53 52393 53 0 - - - - - - - SEND",
            &mut f,
        );
        assert_eq!(r.tuple(), "2001:db8::10|2001:db8:1::53|53|udp|allow");
        // The device's zone applies to local times.
        let berlin = Clock {
            zone: "Europe/Berlin".parse().unwrap(),
            ..c
        };
        let Outcome::Record(r) = parse(
            "4 2026-11-03 00:49:16 ALLOW UDP 2001:db8::10 2001:db8:1::53 52393 53 0 - - - - - - - SEND",
            &berlin,
            &mut f,
        ) else {
            panic!()
        };
        assert_eq!(rfc3339(r.time), "2026-11-02T23:49:16Z");
    }

    #[test]
    fn icmp_record_has_type_and_code_and_no_ports() {
        let mut f = Fields::default();
        let r = record(
            "2026-11-03 04:07:55 DROP ICMP 35.72.221.144 192.0.2.10 - - 84 - - - - 8 0 - RECEIVE",
            &mut f,
        );
        assert_eq!(r.tuple(), "35.72.221.144|192.0.2.10|-|icmp|block");
        assert_eq!((r.sport, r.icmp), (None, Some((8, 0))));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let c = clock();
        let mut f = Fields::default();
        for (line, why) in [
            ("2026-11-03 10:38:59 DROP TCP 104.141.195.85", "too few fields"),
            ("2026-11-03 10:38:59 DROP TCP 104.141.195.85 192.0.2.10 1 99999 52 S 1 0 2 - - - RECEIVE", "bad port"),
            ("2026-11-03 10:38:59 DROP TCP 104.141.195.085 192.0.2.10 1 2 52 S 1 0 2 - - - RECEIVE", "bad src-ip"),
            ("2026-13-03 10:38:59 DROP TCP 104.141.195.85 192.0.2.10 1 2 52 S 1 0 2 - - - RECEIVE", "bad date or time"),
        ] {
            assert_eq!(parse(line, &c, &mut f), Outcome::Rejected(why), "{line}");
        }
    }

    #[test]
    fn events_lost_and_other_lines_are_ignored() {
        let c = clock();
        let mut f = Fields::default();
        let lost = "2026-11-04 04:03:16 INFO-EVENTS-LOST - - - - - - - - - - - 10 -";
        assert!(sniff(lost, &f));
        assert_eq!(parse(lost, &c, &mut f), Outcome::Ignored);
        let dshield =
            "2026-11-02 19:06:50 -05:00\t0\t1\t92.178.90.176\t14384\t198.51.100.7\t389\t17\t";
        assert!(!sniff(dshield, &f));
        assert_eq!(parse(dshield, &c, &mut f), Outcome::Ignored);
        assert_eq!(parse("   ", &c, &mut f), Outcome::Skipped);
        for s in [
            "2026-11-0é 00:00:00 DROP",
            "é",
            "#Fields: é date",
            "2026-11-03 00:09:04 DROP TCP é é é é",
        ] {
            let _ = sniff(s, &f);
            let _ = parse(s, &c, &mut f);
        }
    }
}
