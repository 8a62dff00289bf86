//! pfSense and OPNsense `filterlog`: one CSV line per logged packet, after a
//! BSD syslog header (pfSense; the host may be missing) or an RFC 5424
//! header (OPNsense, pfSense's optional format).
//!
//! ```text
//! Nov  3 00:04:45 pfSense.home.arpa filterlog[51823]: 9,,,1000000103,igb0,match,block,in,4,0x0,,240,10011,0,DF,6,tcp,60,110.167.66.60,198.51.100.2,20928,2323,0,S,1773840329,,64240,,mss;sackOK;TS;nop;wscale
//! <134>1 2026-11-03T00:48:53+00:00 OPNsense.localdomain filterlog 60111 - [meta sequenceId="1"] 74,,,02f4…,vtnet0,match,block,in,6,0x00,0x00000,55,ipv6-icmp,58,44,2407:495::da77,2001:db8:0:1::25,request,25633,21
//! ```
//!
//! Field order (<https://docs.netgate.com/pfsense/en/latest/monitoring/raw-filter-log-format.html>):
//! rule, sub rule, anchor, tracker, interface, reason, action, direction,
//! IP version; then IPv4: TOS, ECN, TTL, ID, offset, flags, protocol id,
//! protocol name; or IPv6: class, flow label, hop limit, protocol name,
//! protocol id; then length, source, destination; then per protocol: TCP
//! source port, destination port, data length, flags, sequence, ack, window,
//! urg, options; UDP source port, destination port, data length; ICMP its
//! type name (`request`, `reply`, `unreachport` …) and that type's fields.
//! ICMPv6 rows may stop after the destination.
//!
//! `block` and `reject` mean block, `pass` allow; other actions (`match`,
//! `nat`, `rdr` …) are no filtering decision and are ignored, as are other
//! daemons' lines.

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::syslog::{bsd, rfc5424, strip_pri};
use crate::logs::time::Clock;

/// A `filterlog` line: BSD tag `filterlog[pid]:` / `filterlog:`, or RFC 5424
/// app name `filterlog`.
pub fn sniff(line: &str) -> bool {
    line.contains("filterlog[") || line.contains("filterlog:") || line.contains(" filterlog ")
}

/// The header's time (None: unreadable) and the CSV, for filterlog lines.
/// None for lines of other programs.
fn header<'a>(line: &'a str, clock: &Clock) -> Option<(Option<i64>, &'a str)> {
    let (_, rest) = strip_pri(line);
    if rest.starts_with("1 ") {
        let h = rfc5424(rest)?;
        return (h.app == "filterlog").then_some((h.time, h.msg));
    }
    let h = bsd(rest)?;
    if h.tag == "filterlog" {
        return Some((h.time(clock), h.msg));
    }
    // pfSense to a remote host: no host name, the tag sits in its place.
    let host_tag = h.host.strip_suffix(':')?;
    let host_tag = host_tag.split_once('[').map_or(host_tag, |(t, _)| t);
    (host_tag == "filterlog" && h.tag.is_empty()).then_some((h.time(clock), h.msg))
}

/// The CSV's fields, as `str::split(',')` gives them, by a plain byte scan
/// (cheaper than the char searcher for fields this short).
struct Fields<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        while i < b.len() && b[i] != b',' {
            i += 1;
        }
        if i == b.len() {
            self.done = true;
        } else {
            self.pos = i + 1;
        }
        Some(&self.s[start..i])
    }
}

/// ICMP type and code from filterlog's type name.
fn icmp_type(v6: bool, name: &str) -> Option<(u8, u8)> {
    let v4 = match name {
        "request" => (8, 0),
        "reply" => (0, 0),
        "unreachproto" => (3, 2),
        "unreachport" => (3, 3),
        "needfrag" => (3, 4),
        "timexceed" => (11, 0),
        "tstamp" => (13, 0),
        "tstampreply" => (14, 0),
        "maskreply" => (18, 0),
        _ => return None,
    };
    if v6 {
        return match v4 {
            (8, 0) => Some((128, 0)),
            (0, 0) => Some((129, 0)),
            _ => None,
        };
    }
    Some(v4)
}

/// Parses one syslog line carrying filterlog CSV.
pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let Some((time, csv)) = header(line, clock) else {
        return Outcome::Ignored;
    };
    let mut f = Fields {
        s: csv.trim_end(),
        pos: 0,
        done: false,
    };
    // rule, sub rule, anchor, tracker, interface, reason.
    for _ in 0..6 {
        if f.next().is_none() {
            return Outcome::Rejected("truncated CSV");
        }
    }
    let (Some(action), Some(_dir), Some(version)) = (f.next(), f.next(), f.next()) else {
        return Outcome::Rejected("truncated CSV");
    };
    let action = match action {
        "block" | "reject" => Action::Block,
        "pass" => Action::Allow,
        a if a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') && !a.is_empty() => {
            return Outcome::Ignored
        }
        _ => return Outcome::Rejected("unknown action"),
    };
    let v6 = match version {
        "4" => false,
        "6" => true,
        _ => return Outcome::Rejected("unknown IP version"),
    };
    // IPv4: TOS, ECN, TTL, ID, offset, flags, proto id, proto name.
    // IPv6: class, flow label, hop limit, proto name, proto id.
    let mut ip = [""; 8];
    let n = if v6 { 5 } else { 8 };
    for slot in ip.iter_mut().take(n) {
        match f.next() {
            Some(v) => *slot = v,
            None => return Outcome::Rejected("truncated CSV"),
        }
    }
    let (id, name) = if v6 { (ip[4], ip[3]) } else { (ip[6], ip[7]) };
    let proto = match id.parse::<u8>() {
        Ok(n) => Proto(n),
        Err(_) => match Proto::parse(name) {
            Some(p) => p,
            None => return Outcome::Rejected("unknown protocol"),
        },
    };
    let (Some(_len), Some(src), Some(dst)) = (f.next(), f.next(), f.next()) else {
        return Outcome::Rejected("truncated CSV");
    };
    let Some(src) = parse_addr(src) else {
        return Outcome::Rejected("invalid source address");
    };
    let Some(dst) = parse_addr(dst) else {
        return Outcome::Rejected("invalid destination address");
    };
    if src.is_ipv6() != v6 || dst.is_ipv6() != v6 {
        return Outcome::Rejected("address of the wrong IP version");
    }
    let Some(time) = time else {
        return Outcome::Rejected("invalid timestamp");
    };
    let mut rec = LogRecord::new(time, action, proto, src, dst);
    if proto == Proto::TCP || proto == Proto::UDP {
        let (Some(sport), Some(dport)) = (f.next(), f.next()) else {
            return Outcome::Rejected("truncated CSV");
        };
        let (Some(sport), Some(dport)) = (parse_port(sport), parse_port(dport)) else {
            return Outcome::Rejected("invalid port");
        };
        rec = rec.with_ports(Some(sport), Some(dport));
        if proto == Proto::TCP {
            // data length, then the flags.
            let _ = f.next();
            if let Some(flags) = f.next().filter(|s| !s.is_empty()) {
                rec.flags = Some(TcpFlags::from_letters(flags));
            }
        }
    } else if proto.is_icmp() {
        rec.icmp = f.next().and_then(|t| icmp_type(v6, t));
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
        testing::record(Format::Filterlog, line)
    }

    #[test]
    fn pfsense_tcp_record() {
        let l = "Nov  3 00:04:45 pfSense.home.arpa filterlog[51823]: 9,,,1000000103,igb0,match,block,in,4,0x0,,240,10011,0,DF,6,tcp,60,110.167.66.60,198.51.100.2,20928,2323,0,S,1773840329,,64240,,mss;sackOK;TS;nop;wscale";
        let r = record(l);
        assert_eq!(r.tuple(), "110.167.66.60|198.51.100.2|2323|tcp|block");
        assert_eq!(
            (r.sport, r.flags),
            (Some(20928), Some(TcpFlags(TcpFlags::SYN)))
        );
        assert_eq!(rfc3339(r.time), "2026-11-03T00:04:45Z");
        // Sent to a remote host: no host name.
        let remote = l.replace("pfSense.home.arpa ", "");
        assert_eq!(record(&remote), r);
    }

    #[test]
    fn ipv6_records() {
        let l = "Nov  3 00:25:46 pfSense.home.arpa filterlog[51823]: 74,,,1000000103,igb0,match,pass,in,6,0x00,0x608b9,52,udp,17,122,2a02:157a:1339:d0e2:3a4:15ab:273:61d2,2001:db8::10,27399,19,134";
        let r = record(l);
        assert_eq!(
            r.tuple(),
            "2a02:157a:1339:d0e2:3a4:15ab:273:61d2|2001:db8::10|19|udp|allow"
        );
        let l = "<134>1 2026-11-03T08:39:51+00:00 OPNsense.localdomain filterlog 60111 - [meta sequenceId=\"53\"] 5,,,02f4bab031b57d1e30553ce08e0ec131,vtnet0,match,block,in,6,0x00,0x42eba,52,ipv6-icmp,58,44,2407:495:439b:54f4::da77,2001:db8:0:1::25,request,25633,21";
        let r = record(l);
        assert_eq!(
            r.tuple(),
            "2407:495:439b:54f4::da77|2001:db8:0:1::25|-|icmpv6|block"
        );
        assert_eq!(r.icmp, Some((128, 0)));
        assert_eq!(rfc3339(r.time), "2026-11-03T08:39:51Z");
        // pfSense's ICMPv6 rows stop after the destination.
        let cut = l.trim_end_matches(",request,25633,21");
        assert_eq!(record(cut).icmp, None);
    }

    #[test]
    fn icmp_record() {
        let l = "<134>1 2026-11-03T02:01:26+00:00 OPNsense.localdomain filterlog 60111 - [meta sequenceId=\"11\"] 74,,,02f4bab031b57d1e30553ce08e0ec131,vtnet0,match,block,in,4,0x0,,47,12671,0,none,1,icmp,84,32.245.120.167,203.0.113.10,request,12671,12";
        let r = record(l);
        assert_eq!(r.tuple(), "32.245.120.167|203.0.113.10|-|icmp|block");
        assert_eq!((r.icmp, r.sport), (Some((8, 0)), None));
    }

    #[test]
    fn malformed_rows_are_rejected() {
        let c = clock();
        let cut = "Nov  4 17:27:43 pfSense.home.arpa filterlog[51823]: 5,,,1000000103,igb0,match,block,in,4,0x0,,50,13748,0,DF,6,tcp,60,139.122.210.144";
        assert_eq!(parse(cut, &c), Outcome::Rejected("truncated CSV"));
        let ver = "Nov  5 19:52:50 pfSense.home.arpa filterlog[51823]: 5,,,1000000103,igb0,match,block,in,7,garbage";
        assert_eq!(parse(ver, &c), Outcome::Rejected("unknown IP version"));
        let port = "Nov  3 00:52:24 pfSense.home.arpa filterlog[51823]: 5,,,1000000103,igb0,match,block,in,4,0x0,,243,42007,0,none,17,udp,361,133.26.108.108,203.0.113.10,46071,70000,333";
        assert_eq!(parse(port, &c), Outcome::Rejected("invalid port"));
    }

    #[test]
    fn other_programs_are_ignored() {
        let c = clock();
        for l in [
            "Nov  3 03:32:06 pfSense.home.arpa dhcpd[354]: DHCPACK on 10.20.1.164 to 52:3e:bb:f4:ea:04 via igb1",
            "<38>1 2026-11-03T14:10:57+00:00 OPNsense.localdomain sshd 3412 - [meta sequenceId=\"0\"] Accepted keyboard-interactive/pam for root",
        ] {
            assert!(!sniff(l));
            assert_eq!(parse(l, &c), Outcome::Ignored, "{l}");
        }
    }

    /// `logs_lines` fuzz finding: an RFC 5424 time whose offset ends inside
    /// a character panicked in `time::rfc3339_prefix`.
    #[test]
    fn regression_fuzz_offset_inside_a_character_is_not_a_panic() {
        let l = "<134>1 2026-11-03T12:00:55+0000\u{e9}\u{7f0} OPNsense filterlog 60111 - - 96,,,x,vtnet0,match,block,in,4,0x0,,113,1,0,DF,6,tcp,60,44.146.60.232,203.0.113.10,64299,22,0,S,1,,1,,";
        assert_eq!(parse(l, &clock()), Outcome::Ignored);
    }
}
