//! pf logs as text: OpenBSD `tcpdump -n -e -ttt -r /var/log/pflog`.
//!
//! ```text
//! reading from file /var/log/pflog, link-type PFLOG (OpenBSD pflog file)
//! Nov 03 00:11:56.935274 rule 14/(match) block out on em0: 10.20.1.32.46645 > 135.48.25.203.4444: S 2532731783:2532731783(0) win 14600 <mss 1460,nop,nop,sackOK> (DF)
//! Nov 03 02:14:22.171488 rule 12/(match) block in on em0: 157.177.69.18.46689 > 203.0.113.25.1900: udp 115
//! Nov 03 06:13:23.210600 rule 14/(match) block in on em0: 2601:51d1:54e4:48::25ec > 2001:db8:0:1::25: icmp6: echo request
//! ```
//!
//! The pflog header is `rule N[.anchor.M]/[subrule](reason)[:] [uid …]
//! ACTION DIR on IF: `; `block` (and `synproxy-drop`) mean block, `pass`
//! allow, every other action (`match`, `nat`, `rdr`, `scrub` …) is not a
//! filtering decision and is ignored. Addresses are printed `addr.port`,
//! IPv6 too, and bare for protocols without ports. tcpdump names no
//! protocol for TCP: a TCP line is recognised by its flags (`S`, `S.`,
//! `P`, `.`, `FP` …, or `Flags [S]` in newer tcpdump); `udp N` is UDP, and
//! so is a line with ports whose payload tcpdump decoded (DNS, NTP …).
//! The `reading from file` banner is ignored.

use std::net::IpAddr;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::time::{bsd_time, Clock};

/// Where `needle` (ASCII) starts in `hay`: a plain byte scan, cheaper than
/// `str::find`'s searcher set-up for the short needles and lines here.
fn find_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let (&first, rest) = n.split_first()?;
    let mut i = 0;
    while i + n.len() <= h.len() {
        if h[i] == first && &h[i + 1..i + n.len()] == rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `split_once` with [`find_str`].
fn split_str<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let i = find_str(s, sep)?;
    Some((&s[..i], &s[i + sep.len()..]))
}

/// A pflog line (`Mmm dd hh:mm:ss.frac rule …`) or tcpdump's banner for a
/// pflog file.
pub fn sniff(line: &str) -> bool {
    if line.starts_with("reading from file") {
        return line.contains("PFLOG");
    }
    match bsd_time(line) {
        Some((_, rest)) => rest.starts_with(" rule "),
        None => false,
    }
}

/// What follows `SRC > DST: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Tcp(TcpFlags),
    Udp,
    /// ICMP or ICMPv6, with type and code when the text names them.
    Icmp(Proto, Option<(u8, u8)>),
    /// A protocol without ports (`esp`, `gre`, `ip-proto-N` …).
    Other(Proto),
    /// A non-first fragment: no protocol header.
    Fragment,
    Unknown,
}

/// Whether `w` is an old-style tcpdump TCP flags word (`S`, `S.`, `.`, `FP`,
/// `SEW` …).
fn is_flag_letters(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b"SFRPWEU.".contains(&b))
}

/// `w` starts with `prefix`, ASCII case-insensitive.
fn starts_ci(w: &str, prefix: &str) -> bool {
    w.len() >= prefix.len() && w.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// ICMP type and code from tcpdump's description (the common messages).
fn icmp_detail(v6: bool, text: &str) -> Option<(u8, u8)> {
    let text = text.trim_start();
    if text.starts_with("echo request") {
        return Some(if v6 { (128, 0) } else { (8, 0) });
    }
    if text.starts_with("echo reply") {
        return Some(if v6 { (129, 0) } else { (0, 0) });
    }
    if v6 {
        return match () {
            _ if text.starts_with("router solicitation") => Some((133, 0)),
            _ if text.starts_with("router advertisement") => Some((134, 0)),
            _ if text.starts_with("neighbor sol") => Some((135, 0)),
            _ if text.starts_with("neighbor adv") => Some((136, 0)),
            _ => None,
        };
    }
    if text.contains(" port ") && text.contains(" unreachable") {
        return Some((3, 3));
    }
    if text.starts_with("time exceeded in-transit") {
        return Some((11, 0));
    }
    None
}

fn payload(tail: &str) -> Payload {
    let (first, after) = tail.split_once(' ').unwrap_or((tail, ""));
    match first {
        "icmp:" => return Payload::Icmp(Proto::ICMP, icmp_detail(false, after)),
        "icmp6:" => return Payload::Icmp(Proto::ICMPV6, icmp_detail(true, after)),
        // Newer tcpdump: `ICMP echo request, id 1 …`, `ICMP6, echo request …`.
        "ICMP" => return Payload::Icmp(Proto::ICMP, icmp_detail(false, after)),
        "ICMP6," => return Payload::Icmp(Proto::ICMPV6, icmp_detail(true, after)),
        "udp" | "UDP," | "[|udp]" => return Payload::Udp,
        "[|tcp]" => return Payload::Tcp(TcpFlags::default()),
        "Flags" => {
            let letters = after
                .strip_prefix('[')
                .and_then(|a| a.split_once(']'))
                .map_or("", |(l, _)| l);
            return Payload::Tcp(TcpFlags::from_letters(letters));
        }
        _ => {}
    }
    if is_flag_letters(first) {
        let next = after.as_bytes().first();
        if next.is_none_or(u8::is_ascii_digit)
            || after.starts_with("ack")
            || after.starts_with("win")
        {
            let mut f = TcpFlags::from_letters(first);
            if after.starts_with("ack ") || after.contains(" ack ") {
                f.0 |= TcpFlags::ACK;
            }
            return Payload::Tcp(f);
        }
    }
    if let Some(n) = first.strip_prefix("ip-proto-") {
        return match n.parse::<u8>() {
            Ok(n) => Payload::Other(Proto(n)),
            Err(_) => Payload::Unknown,
        };
    }
    if starts_ci(first, "(frag") || starts_ci(first, "frag") {
        return Payload::Fragment;
    }
    let named = [
        ("esp", 50),
        ("ah", 51),
        ("gre", 47),
        ("igmp", 2),
        ("carp", 112),
        ("vrrp", 112),
        ("pim", 103),
        ("ospf", 89),
    ];
    for (name, n) in named {
        if starts_ci(first, name)
            && !first
                .as_bytes()
                .get(name.len())
                .is_some_and(u8::is_ascii_lowercase)
        {
            return Payload::Other(Proto(n));
        }
    }
    Payload::Unknown
}

/// `addr.port` (IPv4 or IPv6).
fn with_port(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.rsplit_once('.')?;
    Some((parse_addr(a)?, parse_port(p)?))
}

/// Parses one line of tcpdump's pflog text.
pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let Some(((mo, d, h, m, s), rest)) = bsd_time(line) else {
        return Outcome::Ignored;
    };
    let Some(rest) = rest.strip_prefix(" rule ") else {
        return Outcome::Ignored;
    };
    // `14/(match)`, `1.anchor.2/0(match):`, then `[uid 0, pid 1]` groups.
    let Some(close) = rest.find(')') else {
        return Outcome::Rejected("truncated line");
    };
    let mut rest = rest[close + 1..]
        .strip_prefix(':')
        .unwrap_or(&rest[close + 1..]);
    rest = rest.trim_start();
    while rest.starts_with('[') {
        let Some(end) = rest.find(']') else {
            return Outcome::Rejected("truncated line");
        };
        rest = rest[end + 1..].trim_start();
    }
    let Some((action_word, rest)) = rest.split_once(' ') else {
        return Outcome::Rejected("truncated line");
    };
    let action = match action_word {
        "block" | "synproxy-drop" => Action::Block,
        "pass" => Action::Allow,
        _ => return Outcome::Ignored,
    };
    // `in on em0: `
    let Some(packet) = split_str(rest, ": ").map(|(_, p)| p) else {
        return Outcome::Rejected("truncated line");
    };
    let mut packet = packet.trim_start();
    // `[rewritten …]` (OpenBSD) and `(tos …, ttl …)` (-v) before the addresses.
    for (open, close) in [('[', ']'), ('(', ')')] {
        if packet.starts_with(open) {
            match packet.find(close) {
                Some(end) => packet = packet[end + 1..].trim_start(),
                None => return Outcome::Rejected("truncated line"),
            }
        }
    }
    let Some((src_s, rest)) = split_str(packet, " > ") else {
        return Outcome::Rejected("truncated line");
    };
    let Some((dst_s, tail)) = split_str(rest, ": ") else {
        return Outcome::Rejected("truncated line");
    };
    let Some(time) = clock.yearless(mo, d, h, m, s) else {
        return Outcome::Rejected("invalid timestamp");
    };

    let kind = payload(tail);
    let ports = match kind {
        Payload::Tcp(_) | Payload::Udp => true,
        Payload::Unknown => with_port(src_s).is_some() && with_port(dst_s).is_some(),
        _ => false,
    };
    let (proto, src, dst, sport, dport) = if ports {
        let (Some((src, sport)), Some((dst, dport))) = (with_port(src_s), with_port(dst_s)) else {
            return Outcome::Rejected("invalid address or port");
        };
        let proto = match kind {
            Payload::Tcp(_) => Proto::TCP,
            _ => Proto::UDP,
        };
        (proto, src, dst, Some(sport), Some(dport))
    } else {
        let proto = match kind {
            Payload::Icmp(p, _) | Payload::Other(p) => p,
            Payload::Fragment => return Outcome::Ignored,
            _ => return Outcome::Rejected("unknown protocol"),
        };
        let (Some(src), Some(dst)) = (parse_addr(src_s), parse_addr(dst_s)) else {
            return Outcome::Rejected("invalid address");
        };
        (proto, src, dst, None, None)
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Outcome::Rejected("source and destination of different IP versions");
    }
    let mut rec = LogRecord::new(time, action, proto, src, dst).with_ports(sport, dport);
    match kind {
        Payload::Tcp(f) => rec.flags = Some(f),
        Payload::Icmp(_, icmp) => rec.icmp = icmp,
        _ => {}
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
        testing::record(Format::Pf, line)
    }

    #[test]
    fn tcp_and_udp_records() {
        let r = record("Nov 03 00:11:56.935274 rule 14/(match) block out on em0: 10.20.1.32.46645 > 135.48.25.203.4444: S 2532731783:2532731783(0) win 14600 <mss 1460,nop,nop,sackOK> (DF)");
        assert_eq!(r.tuple(), "10.20.1.32|135.48.25.203|4444|tcp|block");
        assert_eq!(
            (r.sport, r.flags),
            (Some(46645), Some(TcpFlags(TcpFlags::SYN)))
        );
        assert_eq!(rfc3339(r.time), "2026-11-03T00:11:56Z");
        let r = record("Nov 03 02:14:22.171488 rule 12/(match) pass in on em0: 157.177.69.18.46689 > 203.0.113.25.1900: udp 115");
        assert_eq!(r.tuple(), "157.177.69.18|203.0.113.25|1900|udp|allow");
        // FreeBSD's header, a DNS payload decoded by tcpdump, an ACK.
        let r = record("Nov 03 02:14:22.171488 rule 0/0(match): block in on em0: 1.2.3.4.5353 > 203.0.113.25.53: 4660+ A? x.example. (27)");
        assert_eq!(r.tuple(), "1.2.3.4|203.0.113.25|53|udp|block");
        let r = record("Nov 03 02:14:22.171488 rule 3/(match) block in on em0: 1.2.3.4.80 > 203.0.113.25.5555: . ack 1 win 512");
        assert_eq!(r.flags, Some(TcpFlags(TcpFlags::ACK)));
    }

    #[test]
    fn ipv6_and_icmp_records() {
        let r = record("Nov 03 00:55:30.876446 rule 22/(match) pass in on em0: 2a0b:6b8:39de:a76c::a3.30790 > 2001:db8::10.80: S 78504471:78504471(0) win 42340 <mss 1460,nop,nop,sackOK> (DF)");
        assert_eq!(
            r.tuple(),
            "2a0b:6b8:39de:a76c::a3|2001:db8::10|80|tcp|allow"
        );
        let r = record("Nov 03 06:13:23.210600 rule 14/(match) block in on em0: 2601:51d1:54e4:48::25ec > 2001:db8:0:1::25: icmp6: echo request");
        assert_eq!(
            r.tuple(),
            "2601:51d1:54e4:48::25ec|2001:db8:0:1::25|-|icmpv6|block"
        );
        assert_eq!(r.icmp, Some((128, 0)));
        let r = record("Nov 03 06:12:33.946664 rule 14/(match) block in on em0: 56.186.4.96 > 203.0.113.10: icmp: echo request");
        assert_eq!(
            (r.proto, r.icmp, r.sport),
            (Proto::ICMP, Some((8, 0)), None)
        );
    }

    #[test]
    fn truncated_lines_are_rejected() {
        let c = clock();
        for l in [
            "Nov 03 23:35:44.283325 rule 12/(match) block in on em0: 178.118.39.107.5",
            "Nov 05 23:57:23.538746 rule 12/(match) block in on em0: ",
            "Nov 05 23:57:23.538746 rule 12/(match",
            "Nov 05 23:57:23.538746 rule 12/(match) block in on em0: 1.2.3.4.99999 > 5.6.7.8.80: S 1:1(0)",
        ] {
            assert!(sniff(l), "{l}");
            assert!(matches!(parse(l, &c), Outcome::Rejected(_)), "{l}");
        }
    }

    #[test]
    fn banner_and_non_decisions_are_ignored() {
        let c = clock();
        let banner = "reading from file /var/log/pflog, link-type PFLOG (OpenBSD pflog file)";
        assert!(sniff(banner));
        assert_eq!(parse(banner, &c), Outcome::Ignored);
        let m =
            "Nov 03 00:11:56.935274 rule 1/(match) match in on em0: 1.2.3.4.1 > 5.6.7.8.2: udp 1";
        assert_eq!(parse(m, &c), Outcome::Ignored);
        assert!(!sniff(
            "Nov  3 00:01:19 fw01 kernel: [1.2] DROP IN=eth0 OUT="
        ));
    }
}
