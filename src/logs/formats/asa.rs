//! Cisco ASA (and Firepower Threat Defense, `%FTD-`) syslog: the three
//! access-control message ids that name one connection attempt.
//!
//! - `%ASA-4-106023: Deny tcp src outside:198.51.100.9/4444 dst
//!   inside:203.0.113.10/22 [(type 8, code 0)] by access-group "acl" [..]`
//! - `%ASA-6-106100: access-list acl {permitted|denied|est-allowed} tcp
//!   outside/198.51.100.9(4444) -> inside/203.0.113.10(22) hit-cnt 1 first hit [..]`
//! - `%ASA-2-106001: Inbound TCP connection denied from 198.51.100.9/4444 to
//!   203.0.113.10/22 flags SYN  on interface outside` (two spaces, as the
//!   ASA prints it)
//!
//! Every other message id (302013 built, 302014 teardown, 111008 command...)
//! is [`Outcome::Ignored`]. The time is the header's: ASA `logging timestamp`
//! (`Nov 03 2026 00:02:17`, with a year), a BSD syslog header (no year) or
//! RFC 3339 (`logging timestamp rfc5424`); zone-less times are read in the
//! device's zone. Message formats:
//! <https://www.cisco.com/c/en/us/td/docs/security/asa/syslog/b_syslog.html>.

use std::net::IpAddr;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::syslog::strip_pri;
use crate::logs::time::{bsd_time, month_from_abbr, rfc3339_prefix, Clock};

/// Whether the line carries an `%ASA-` or `%FTD-` message id marker.
pub fn sniff(line: &str) -> bool {
    marker(line).is_some()
}

/// The byte offset of `%ASA-` / `%FTD-`.
fn marker(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'%') {
        i += p + 1;
        if matches!(b.get(i..i + 4), Some(b"ASA-") | Some(b"FTD-")) {
            return Some(i - 1);
        }
    }
    None
}

pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let Some(m) = marker(line) else {
        return Outcome::Ignored;
    };
    let Some((id, body)) = message_id(&line[m + 5..]) else {
        return Outcome::Ignored;
    };
    let parsed = match id {
        106023 => access_group_deny(body),
        106100 => access_list(body),
        106001 => inbound_tcp_denied(body),
        _ => return Outcome::Ignored,
    };
    // The header is read only for lines that are records.
    let mut record = match parsed {
        Ok(r) => r,
        Err(reason) => return Outcome::Rejected(reason),
    };
    let Some(time) = header_time(&line[..m], clock) else {
        return Outcome::Rejected("no timestamp");
    };
    record.time = time;
    Outcome::Record(record)
}

/// `L-NNNNNN: body` (after `%ASA-`) → (NNNNNN, body).
fn message_id(s: &str) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    if b.len() < 9 || !b[0].is_ascii_digit() || b[1] != b'-' || b[8] != b':' {
        return None;
    }
    let mut id = 0u32;
    for &c in &b[2..8] {
        if !c.is_ascii_digit() {
            return None;
        }
        id = id * 10 + u32::from(c - b'0');
    }
    Some((id, &s[9..]))
}

/// The time in the text before the message id.
fn header_time(header: &str, clock: &Clock) -> Option<i64> {
    let (_, h) = strip_pri(header);
    let h = h.trim_start_matches(' ');
    if let Some(t) = asa_time(h, clock) {
        return Some(t);
    }
    if let Some(((mo, d, hh, mi, s), _)) = bsd_time(h) {
        return clock.yearless(mo, d, hh, mi, s);
    }
    rfc3339_prefix(h).map(|(t, _)| t)
}

/// Up to `max` ASCII digits at the start of `b`: (value, digits read).
fn number(b: &[u8], max: usize) -> Option<(u32, usize)> {
    let n = b
        .iter()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 {
        return None;
    }
    let v = b[..n]
        .iter()
        .fold(0u32, |v, &c| v * 10 + u32::from(c - b'0'));
    Some((v, n))
}

/// ASA `logging timestamp`: `Nov 03 2026 00:02:17` (day may be space-padded,
/// fraction allowed after the seconds).
fn asa_time(h: &str, clock: &Clock) -> Option<i64> {
    let b = h.as_bytes();
    if b.len() < 19 || b[3] != b' ' {
        return None;
    }
    let month = month_from_abbr(h.get(..3)?)?;
    let mut i = 4;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (day, n) = number(&b[i..], 2)?;
    i += n;
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let (year, n) = number(b.get(i..)?, 4)?;
    if n != 4 || b.get(i + 4) != Some(&b' ') {
        return None;
    }
    i += 5;
    let t = b.get(i..i + 8)?;
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let two = |x: &[u8]| match number(x, 2) {
        Some((v, 2)) => Some(v),
        _ => None,
    };
    let (hh, mi, s) = (two(&t[..2])?, two(&t[3..5])?, two(&t[6..8])?);
    if hh > 23 || mi > 59 || s > 60 {
        return None;
    }
    clock.dated(year as i32, month, day, hh, mi, s)
}

/// A port, or why it is not one.
fn port(s: &str) -> Result<u16, &'static str> {
    match parse_port(s) {
        Some(p) => Ok(p),
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Err("port out of range"),
        None => Err("bad port"),
    }
}

fn addr(s: &str) -> Result<IpAddr, &'static str> {
    if s.is_empty() {
        return Err("truncated message");
    }
    parse_addr(s).ok_or("bad address")
}

/// `addr[/port]` (106023 after the interface, 106001): the port follows the
/// last `/`, so IPv6 addresses need no brackets.
fn slash_endpoint(s: &str) -> Result<(IpAddr, Option<u16>), &'static str> {
    match s.rsplit_once('/') {
        Some((a, p)) => Ok((addr(a)?, Some(port(p)?))),
        None => Ok((addr(s)?, None)),
    }
}

/// 106023: `Deny tcp src outside:A/P dst inside:A/P [(type T, code C)] by
/// access-group "acl" [..]` (`Deny protocol 47 src ...` for other
/// protocols).
fn access_group_deny(body: &str) -> Result<LogRecord, &'static str> {
    let mut words = body.split_ascii_whitespace();
    let action = match words.next() {
        Some("Deny") => Action::Block,
        w => w.and_then(Action::from_word).ok_or("unknown action")?,
    };
    let proto = match words.next() {
        Some("protocol") => words.next(),
        w => w,
    }
    .and_then(Proto::parse)
    .ok_or("unknown protocol")?;
    let (mut src, mut dst, mut icmp_type, mut icmp_code) = (None, None, None, None);
    while let Some(w) = words.next() {
        match w {
            "src" => src = words.next(),
            "dst" => dst = words.next(),
            "(type" => icmp_type = words.next(),
            "code" => icmp_code = words.next(),
            "by" => break,
            _ => {}
        }
    }
    let endpoint = |s: Option<&str>| -> Result<(IpAddr, Option<u16>), &'static str> {
        // `interface:address[/port]`: interface names hold no `:`.
        let (_, a) = s
            .and_then(|s| s.split_once(':'))
            .ok_or("truncated message")?;
        slash_endpoint(a)
    };
    let (src, sport) = endpoint(src)?;
    let (dst, dport) = endpoint(dst)?;
    let mut record = LogRecord::new(0, action, proto, src, dst).with_ports(sport, dport);
    if proto.is_icmp() {
        let byte = |w: Option<&str>| w?.trim_end_matches([',', ')']).parse::<u8>().ok();
        record.icmp = byte(icmp_type).zip(byte(icmp_code));
    }
    Ok(record)
}

/// 106100: `access-list acl permitted tcp outside/A(P)[(user)] ->
/// inside/A(P)[(user)] hit-cnt N {first hit|N-second interval} [..]`.
fn access_list(body: &str) -> Result<LogRecord, &'static str> {
    let mut words = body.split_ascii_whitespace();
    if words.next() != Some("access-list") {
        return Err("truncated message");
    }
    let _acl = words.next();
    let action = match words.next().ok_or("truncated message")? {
        "permitted" | "est-allowed" => Action::Allow,
        "denied" => Action::Block,
        w => Action::from_word(w).ok_or("unknown action")?,
    };
    let proto = Proto::parse(words.next().ok_or("truncated message")?).ok_or("unknown protocol")?;
    let src = words.next().ok_or("truncated message")?;
    words
        .by_ref()
        .find(|w| *w == "->")
        .ok_or("truncated message")?;
    let dst = words.next().ok_or("truncated message")?;
    let (src, sport) = paren_endpoint(src)?;
    let (dst, dport) = paren_endpoint(dst)?;
    let mut record = LogRecord::new(0, action, proto, src, dst).with_ports(sport, dport);
    if proto.is_icmp() {
        // ASA puts ICMP detail in the port slots: 0 on the source side and
        // the ICMP type on the destination side (the fixture's convention).
        let byte = |p: Option<u16>| p.and_then(|p| u8::try_from(p).ok());
        record.icmp = byte(dport).zip(byte(sport));
    }
    if words.by_ref().any(|w| w == "hit-cnt") {
        if let Some(n) = words.next().and_then(|n| n.parse::<u32>().ok()) {
            record.count = n.max(1);
        }
    }
    Ok(record)
}

/// `interface/address(port)` with anything after the closing parenthesis
/// (identity-firewall user) ignored.
fn paren_endpoint(s: &str) -> Result<(IpAddr, Option<u16>), &'static str> {
    let (_, a) = s.split_once('/').ok_or("truncated message")?;
    match a.split_once('(') {
        Some((a, p)) => {
            let p = p.split_once(')').ok_or("truncated message")?.0;
            Ok((addr(a)?, Some(port(p)?)))
        }
        None => Ok((addr(a)?, None)),
    }
}

/// 106001: `Inbound TCP connection denied from A/P to A/P flags SYN ACK  on
/// interface outside`.
fn inbound_tcp_denied(body: &str) -> Result<LogRecord, &'static str> {
    let mut words = body.split_ascii_whitespace();
    for want in ["Inbound", "TCP", "connection", "denied", "from"] {
        if words.next() != Some(want) {
            return Err("truncated message");
        }
    }
    let src = words.next().ok_or("truncated message")?;
    if words.next() != Some("to") {
        return Err("truncated message");
    }
    let dst = words.next().ok_or("truncated message")?;
    let (src, sport) = slash_endpoint(src)?;
    let (dst, dport) = slash_endpoint(dst)?;
    let mut record =
        LogRecord::new(0, Action::Block, Proto::TCP, src, dst).with_ports(sport, dport);
    if words.next() == Some("flags") {
        let bits = words
            .take_while(|w| *w != "on")
            .fold(0, |v, w| v | TcpFlags::from_word(w));
        record.flags = Some(TcpFlags(bits));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::{self, clock};
    use crate::logs::formats::Format;
    use crate::logs::time::rfc3339;

    fn record(line: &str) -> LogRecord {
        testing::record(Format::CiscoAsa, line)
    }

    #[test]
    fn access_group_deny_is_a_block() {
        let r = record(
            "<164>Nov 03 2026 00:09:52: %ASA-4-106023: Deny tcp src outside:97.142.4.252/23857 dst inside:203.0.113.10/6379 by access-group \"outside_access_in\" [0xa2ae473e, 0x0]",
        );
        assert_eq!(r.tuple(), "97.142.4.252|203.0.113.10|6379|tcp|block");
        assert_eq!(
            (r.sport, rfc3339(r.time).as_str()),
            (Some(23857), "2026-11-03T00:09:52Z")
        );
    }

    #[test]
    fn ipv6_endpoints_and_bsd_header() {
        let r = record(
            "<164>Nov  3 00:09:52 asa01 : %FTD-4-106023: Deny udp src outside:2001:db8::1/443 dst inside:2001:db8:1::53/53 by access-group \"in\" [0x0, 0x0]",
        );
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8:1::53|53|udp|block");
        assert_eq!(rfc3339(r.time), "2026-11-03T00:09:52Z");
        let r = record(
            "Nov 03 2026 01:00:00: %ASA-6-106100: access-list in permitted tcp outside/2001:db8::1(51547) -> inside/2001:db8::2(443) hit-cnt 3 300-second interval [0x1, 0x0]",
        );
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8::2|443|tcp|allow");
        assert_eq!(r.count, 3);
    }

    #[test]
    fn icmp_detail_goes_to_icmp_not_ports() {
        let r = record(
            "<166>Nov 03 2026 01:31:12: %ASA-6-106100: access-list outside_access_in denied icmp outside/210.252.234.79(0) -> inside/198.51.100.2(8) hit-cnt 1 first hit [0xb10e346d, 0x0]",
        );
        assert_eq!(r.tuple(), "210.252.234.79|198.51.100.2|-|icmp|block");
        assert_eq!((r.sport, r.icmp, r.count), (None, Some((8, 0)), 1));
        let r = record(
            "<164>Nov 03 2026 00:09:31: %ASA-4-106023: Deny icmp src outside:220.45.42.74 dst inside:203.0.113.25 (type 8, code 0) by access-group \"outside_access_in\" [0x0, 0x0]",
        );
        assert_eq!(r.icmp, Some((8, 0)));
        assert_eq!(r.tuple(), "220.45.42.74|203.0.113.25|-|icmp|block");
    }

    #[test]
    fn inbound_tcp_denied_reads_flags() {
        let r = record(
            "<162>Nov 03 2026 01:24:31: %ASA-2-106001: Inbound TCP connection denied from 25.23.92.158/9857 to 203.0.113.10/25 flags SYN ACK  on interface outside",
        );
        assert_eq!(r.tuple(), "25.23.92.158|203.0.113.10|25|tcp|block");
        assert_eq!(r.flags.unwrap().to_string(), "AS");
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let c = clock();
        for (line, why) in [
            ("<162>Nov 03 2026 15:14:41: %ASA-2-106001: Inbound TCP connection denied from 153.233.206.210/27718 to 203.0.113.10/99999 flags SYN  on interface outside", "port out of range"),
            ("<164>Nov 05 2026 16:14:49: %ASA-4-106023: Deny tcp src outside:13.59.201.30/31238 dst inside:", "truncated message"),
            ("<164>Nov 05 2026 16:14:49: %ASA-4-106023: Deny tcp src outside:13.59.201.300/31238 dst inside:1.2.3.4/1 by", "bad address"),
            ("%ASA-4-106023: Deny tcp src outside:1.2.3.4/1 dst inside:1.2.3.4/1 by", "no timestamp"),
        ] {
            assert_eq!(parse(line, &c), Outcome::Rejected(why), "{line}");
        }
    }

    #[test]
    fn other_message_ids_and_other_lines_are_ignored() {
        let c = clock();
        let line = "<166>Nov 03 2026 00:02:17: %ASA-6-302014: Teardown TCP connection 7312089 for outside:100.46.202.75/22264 to inside:203.0.113.25/443 duration 0:00:12 bytes 59205 TCP FINs";
        assert!(sniff(line));
        assert_eq!(parse(line, &c), Outcome::Ignored);
        let other = "Nov  3 00:01:19 fw01 kernel: [UFW BLOCK] IN=eth0 SRC=1.2.3.4 DST=5.6.7.8 100%";
        assert!(!sniff(other));
        assert_eq!(parse(other, &c), Outcome::Ignored);
        // Arbitrary UTF-8 never panics.
        for s in [
            "%ASA-",
            "%ASA-4-106023: Deny tcp src é:é/é dst ü:",
            "%ASA-é",
            "Növ 03 2026 00:00:00: %ASA-4-106100: access-list",
        ] {
            let _ = parse(s, &c);
        }
    }
}
