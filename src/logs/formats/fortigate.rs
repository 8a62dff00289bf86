//! FortiGate (FortiOS) key=value logs: `date=2026-11-03 time=01:03:08
//! devname="FGT" ... tz="+0100" logid="0000000013" type="traffic"
//! subtype="forward" ... srcip=A srcport=P dstip=A dstport=P proto=6
//! action="deny" ...`, after an optional syslog header.
//!
//! Only `type="traffic"` lines are records; event, UTM and other types are
//! [`Outcome::Ignored`]. `date`/`time` are the device's wall clock and `tz`
//! its offset; without `tz` they are read in the device's configured zone.
//! ICMP records carry `icmpid`/`icmptype`/`icmpcode` (hex) instead of
//! ports. Values may be quoted, with spaces and `\"` inside. Field list:
//! <https://docs.fortinet.com/document/fortigate/7.2.13/administration-guide/986892>.

use chrono::NaiveDate;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto};
use crate::logs::syslog::strip_pri;
use crate::logs::time::{parse_offset, Clock};

/// Whether the line is a FortiOS key=value log.
pub fn sniff(line: &str) -> bool {
    line.contains("logid=") && line.contains("date=")
}

/// The `key=value` pairs of a line, quotes removed (escapes inside quoted
/// values are left as they are). Words without `=` (a syslog header) are
/// skipped.
struct Pairs<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let b = self.s.as_bytes();
        loop {
            let start = self.i + b.get(self.i..)?.iter().position(|&c| c != b' ')?;
            let Some(n) = b[start..].iter().position(|&c| c == b' ' || c == b'=') else {
                self.i = b.len();
                return None;
            };
            let eq = start + n;
            if b[eq] == b' ' {
                // A word that is no pair.
                self.i = eq;
                continue;
            }
            let key = &self.s[start..eq];
            let v = eq + 1;
            if b.get(v) == Some(&b'"') {
                // Up to the closing quote; an unterminated value runs to the
                // end of the line.
                let mut j = v + 1;
                while j < b.len() {
                    match b[j..].iter().position(|&c| c == b'"' || c == b'\\') {
                        Some(p) if b[j + p] == b'\\' => j += p + 2,
                        Some(p) => {
                            j += p;
                            break;
                        }
                        None => j = b.len(),
                    }
                }
                let j = j.min(b.len());
                self.i = j + 1;
                return Some((key, &self.s[v + 1..j]));
            }
            let end = b[v..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(b.len(), |p| v + p);
            self.i = end;
            return Some((key, &self.s[v..end]));
        }
    }
}

/// The fields a traffic record is built from.
#[derive(Default)]
struct Traffic<'a> {
    date: Option<&'a str>,
    time: Option<&'a str>,
    tz: Option<&'a str>,
    srcip: Option<&'a str>,
    srcport: Option<&'a str>,
    dstip: Option<&'a str>,
    dstport: Option<&'a str>,
    proto: Option<&'a str>,
    action: Option<&'a str>,
    icmptype: Option<&'a str>,
    icmpcode: Option<&'a str>,
}

pub fn parse(line: &str, clock: &Clock) -> Outcome {
    if !sniff(line) {
        return Outcome::Ignored;
    }
    let (_, s) = strip_pri(line);
    let mut t = Traffic::default();
    let mut traffic = false;
    for (k, v) in (Pairs { s, i: 0 }) {
        match k {
            "type" => {
                if v != "traffic" {
                    return Outcome::Ignored;
                }
                traffic = true;
            }
            "date" => t.date = Some(v),
            "time" => t.time = Some(v),
            "tz" => t.tz = Some(v),
            "srcip" => t.srcip = Some(v),
            "srcport" => t.srcport = Some(v),
            "dstip" => t.dstip = Some(v),
            "dstport" => t.dstport = Some(v),
            "proto" => t.proto = Some(v),
            "action" => t.action = Some(v),
            "icmptype" => t.icmptype = Some(v),
            "icmpcode" => t.icmpcode = Some(v),
            _ => continue,
        }
        if traffic && t.complete() {
            // Nothing further on the line is read.
            break;
        }
    }
    if !traffic {
        return Outcome::Ignored;
    }
    match record(&t, clock) {
        Ok(r) => Outcome::Record(r),
        Err(why) => Outcome::Rejected(why),
    }
}

impl Traffic<'_> {
    /// Whether every field a record needs has been seen (`tz` included, so
    /// a late offset is never missed).
    fn complete(&self) -> bool {
        self.date.is_some()
            && self.time.is_some()
            && self.tz.is_some()
            && self.srcip.is_some()
            && self.dstip.is_some()
            && self.action.is_some()
            && ((self.srcport.is_some() && self.dstport.is_some())
                || (self.icmptype.is_some() && self.icmpcode.is_some()))
            && self.proto.is_some()
    }
}

fn record(t: &Traffic<'_>, clock: &Clock) -> Result<LogRecord, &'static str> {
    let time = time(
        t.date.ok_or("traffic log without date")?,
        t.time.ok_or("traffic log without time")?,
        t.tz,
        clock,
    )
    .ok_or("bad date or time")?;
    let src = parse_addr(t.srcip.ok_or("traffic log without srcip")?).ok_or("bad srcip")?;
    let dst = parse_addr(t.dstip.ok_or("traffic log without dstip")?).ok_or("bad dstip")?;
    let proto = Proto::parse(t.proto.ok_or("traffic log without proto")?).ok_or("bad proto")?;
    let action = action(t.action.ok_or("traffic log without action")?).ok_or("unknown action")?;
    let mut r = LogRecord::new(time, action, proto, src, dst);
    if proto.has_ports() {
        let port = |p: Option<&str>, missing| match p {
            Some(p) => parse_port(p).ok_or("bad port"),
            None => Err(missing),
        };
        r = r.with_ports(
            Some(port(t.srcport, "traffic log without srcport")?),
            Some(port(t.dstport, "traffic log without dstport")?),
        );
    } else if proto.is_icmp() {
        r.icmp = byte(t.icmptype).zip(byte(t.icmpcode));
    }
    Ok(r)
}

/// FortiOS actions: deny → block; accept, start, close, timeout,
/// client-rst, server-rst and ip-conn (allowed, but the peer never answered)
/// → allow.
fn action(w: &str) -> Option<Action> {
    match w {
        "start" | "ip-conn" => Some(Action::Allow),
        w => Action::from_word(w),
    }
}

/// `0x08` or `8`.
fn byte(v: Option<&str>) -> Option<u8> {
    let v = v?;
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `2026-11-03` and `01:03:08`, at offset `tz` (`+0100`) or in the device's
/// zone.
fn time(date: &str, time: &str, tz: Option<&str>, clock: &Clock) -> Option<i64> {
    let mut d = date.splitn(3, '-').map(|x| x.parse::<u32>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|x| x.parse::<u32>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let y = i32::try_from(y).ok()?;
    match tz.and_then(parse_offset) {
        Some(off) => {
            let local = NaiveDate::from_ymd_opt(y, mo, da)?.and_hms_opt(h, mi, s.min(59))?;
            Some(local.and_utc().timestamp() - i64::from(off.local_minus_utc()))
        }
        None => clock.dated(y, mo, da, h, mi, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::{self, clock};
    use crate::logs::formats::Format;
    use crate::logs::time::rfc3339;

    fn record(line: &str) -> LogRecord {
        testing::record(Format::Fortigate, line)
    }

    #[test]
    fn traffic_record_with_offset() {
        let r = record(
            "<189>date=2026-11-03 time=01:03:08 devname=\"FGT-EDGE-01\" devid=\"FGT60F\" eventtime=1793664188576481000 tz=\"+0100\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"warning\" vd=\"root\" srcip=100.10.125.208 srcport=64456 srcintf=\"wan1\" dstip=203.0.113.25 dstport=11211 sessionid=29035281 proto=17 action=\"deny\" policyid=0 service=\"udp/11211\"",
        );
        assert_eq!(r.tuple(), "100.10.125.208|203.0.113.25|11211|udp|block");
        assert_eq!(rfc3339(r.time), "2026-11-03T00:03:08Z");
        assert_eq!(r.sport, Some(64456));
    }

    #[test]
    fn ipv6_record_quoted_values_and_device_zone() {
        let line = "date=2026-11-03 time=01:38:20 devname=\"FGT \\\"edge\\\" 1\" logid=\"0000000013\" type=\"traffic\" srcip=2a03:b1ac:370:0:6d42:399c:6436:5dc0 srcport=9631 dstip=2001:db8::11 dstport=3389 proto=6 action=\"server-rst\" msg=\"x=1 action=deny\"";
        let r = record(line);
        assert_eq!(
            r.tuple(),
            "2a03:b1ac:370:0:6d42:399c:6436:5dc0|2001:db8::11|3389|tcp|allow"
        );
        let berlin = Clock {
            zone: "Europe/Berlin".parse().unwrap(),
            ..clock()
        };
        let Outcome::Record(r) = parse(line, &berlin) else {
            panic!()
        };
        assert_eq!(rfc3339(r.time), "2026-11-03T00:38:20Z");
    }

    #[test]
    fn icmp_record_has_type_and_code() {
        let r = record(
            "<189>date=2026-11-03 time=03:07:21 devname=\"FGT\" tz=\"+0100\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" srcip=8.221.243.33 srcintf=\"wan1\" dstip=203.0.113.10 proto=1 action=\"deny\" service=\"PING\" icmpid=0xd2d0 icmptype=0x08 icmpcode=0x00",
        );
        assert_eq!(r.tuple(), "8.221.243.33|203.0.113.10|-|icmp|block");
        assert_eq!(r.icmp, Some((8, 0)));
    }

    #[test]
    fn malformed_traffic_is_rejected() {
        let c = clock();
        let base = "date=2026-11-04 time=21:15:03 tz=\"+0100\" logid=\"0000000013\" type=\"traffic\" srcip=181.148.202.251 srcport=27194";
        assert_eq!(
            parse(&format!("{base} proto=6 action=\"deny\""), &c),
            Outcome::Rejected("traffic log without dstip")
        );
        assert_eq!(
            parse(
                &format!("{base} dstip=1.2.3.4 dstport=70000 proto=6 action=\"deny\""),
                &c
            ),
            Outcome::Rejected("bad port")
        );
        assert_eq!(
            parse(
                &format!("{base} dstip=1.2.3.4 dstport=7 proto=6 action=\"deny"),
                &c
            ),
            Outcome::Record(
                LogRecord::new(
                    1_793_823_303,
                    Action::Block,
                    Proto::TCP,
                    "181.148.202.251".parse().unwrap(),
                    "1.2.3.4".parse().unwrap()
                )
                .with_ports(Some(27194), Some(7))
            )
        );
    }

    #[test]
    fn event_logs_and_other_lines_are_ignored() {
        let c = clock();
        let line = "<189>date=2026-11-03 time=02:35:30 devname=\"FGT\" tz=\"+0100\" logid=\"0100032001\" type=\"event\" subtype=\"system\" srcip=10.20.1.77 dstip=10.20.1.1 action=\"login\"";
        assert!(sniff(line));
        assert_eq!(parse(line, &c), Outcome::Ignored);
        let other = "Nov  3 00:01:19 fw01 kernel: [UFW BLOCK] IN=eth0 SRC=1.2.3.4 DST=5.6.7.8";
        assert!(!sniff(other));
        assert_eq!(parse(other, &c), Outcome::Ignored);
        for s in [
            "logid=\"",
            "date= logid=\"é\\",
            "date=é logid=1 type=\"traffic\" srcip=\"é",
        ] {
            let _ = parse(s, &c);
        }
    }
}
