//! MikroTik RouterOS firewall log lines (a rule with `log=yes`), sent to a
//! remote syslog:
//!
//! ```text
//! Nov  3 00:38:16 gw-mikrotik firewall,info WAN-DROP input: in:ether1 out:(unknown 0), connection-state:new src-mac 17:6d:60:c3:8d:b6, proto TCP (SYN), 39.246.40.93:22739->203.0.113.10:27017, len 60
//! Nov  3 03:12:29 gw-mikrotik firewall,info FWD-DROP forward: in:bridge1 out:ether1, connection-state:new src-mac 06:d8:6e:1c:e8:ea, proto TCP (SYN), 10.20.3.148:7521->171.154.74.241:449, NAT (10.20.3.148:7521->198.51.100.2:7521)->171.154.74.241:449, len 60
//! Nov  3 00:00:08 gw-mikrotik firewall,info WAN-ACCEPT input: in:ether1 out:(unknown 0), connection-state:new src-mac 1e:8b:c5:4d:74:bb, proto ICMP (type 8, code 0), 12.169.208.121->203.0.113.10, len 84
//! ```
//!
//! Topics (`firewall,info`), the rule's log prefix, the chain, then
//! comma-separated fields. The action comes from the log prefix
//! ([`Action::from_prefix`]); a line without one (no prefix, or a prefix
//! naming no action) is ignored, as are other topics (`system`, `dhcp`).
//! The tuple is the first `src:port->dst:port` pair, the original packet;
//! the `NAT (…)->…` part after it describes the translation. IPv6
//! endpoints are read as `[addr]:port` or bare (that rendering is not
//! confirmed). The header may be BSD, RFC 3339 or RFC 5424.

use std::net::IpAddr;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::syslog::{rfc5424, strip_pri};
use crate::logs::time::{bsd_time, rfc3339_prefix, Clock};

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

/// A RouterOS line with the `firewall` topic and the interfaces field.
pub fn sniff(line: &str) -> bool {
    line.contains("firewall,") && line.contains(" in:")
}

/// The header's time (None: unreadable), or None for a line without a
/// syslog header.
fn header_time(rest: &str, clock: &Clock) -> Option<Option<i64>> {
    if rest.starts_with("1 ") {
        return Some(rfc5424(rest)?.time);
    }
    if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Some(Some(rfc3339_prefix(rest)?.0));
    }
    let ((mo, d, h, m, s), _) = bsd_time(rest)?;
    Some(clock.yearless(mo, d, h, m, s))
}

/// One endpoint of the tuple: `1.2.3.4:80`, `[2001:db8::1]:80`, or an
/// address alone for protocols without ports.
fn endpoint(s: &str, ports: bool) -> Option<(IpAddr, Option<u16>)> {
    if let Some(b) = s.strip_prefix('[') {
        let (a, p) = b.split_once(']')?;
        let a = parse_addr(a)?;
        return match p.strip_prefix(':') {
            Some(p) => Some((a, Some(parse_port(p)?))),
            None if p.is_empty() && !ports => Some((a, None)),
            None => None,
        };
    }
    if !ports {
        return Some((parse_addr(s)?, None));
    }
    let (a, p) = s.rsplit_once(':')?;
    Some((parse_addr(a)?, Some(parse_port(p)?)))
}

/// `type 8, code 0`.
fn icmp_detail(s: &str) -> Option<(u8, u8)> {
    let (t, c) = s.split_once(',')?;
    let t = t.trim().strip_prefix("type ")?.parse().ok()?;
    let c = c.trim().strip_prefix("code ")?.parse().ok()?;
    Some((t, c))
}

/// Parses one RouterOS log line.
pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let (_, rest) = strip_pri(line);
    let Some(time) = header_time(rest, clock) else {
        return Outcome::Ignored;
    };
    let Some(at) = find_str(rest, " firewall,") else {
        return Outcome::Ignored;
    };
    let msg = &rest[at + 1..];
    let Some((_topics, msg)) = msg.split_once(' ') else {
        return Outcome::Ignored;
    };
    // `PREFIX chain: in:…`
    let Some(in_at) = find_str(msg, ": in:") else {
        return Outcome::Ignored;
    };
    let head = &msg[..in_at];
    let prefix = head.rsplit_once(' ').map_or("", |(p, _chain)| p);
    let Some(action) = Action::from_prefix(prefix) else {
        return Outcome::Ignored;
    };
    let fields = &msg[in_at + 2..];
    let Some(p_at) = find_str(fields, ", proto ") else {
        return Outcome::Rejected("truncated line (no protocol)");
    };
    let rest = &fields[p_at + ", proto ".len()..];
    let name_end = rest.find([' ', ',']).unwrap_or(rest.len());
    let Some(proto) = Proto::parse(&rest[..name_end]) else {
        return Outcome::Rejected("unknown protocol");
    };
    let mut rest = &rest[name_end..];
    let mut detail = "";
    if let Some(r) = rest.strip_prefix(" (") {
        let Some((d, r)) = r.split_once(')') else {
            return Outcome::Rejected("truncated line");
        };
        detail = d;
        rest = r;
    }
    let Some(rest) = rest.strip_prefix(", ") else {
        return Outcome::Rejected("truncated line");
    };
    let tuple = split_str(rest, ", ").map_or(rest, |(t, _)| t).trim_end();
    let Some((src_s, dst_s)) = split_str(tuple, "->") else {
        return Outcome::Rejected("truncated line");
    };
    if dst_s.is_empty() {
        return Outcome::Rejected("truncated line");
    }
    let ports = proto.has_ports();
    let Some((src, sport)) = endpoint(src_s, ports) else {
        return Outcome::Rejected("invalid source");
    };
    let Some((dst, dport)) = endpoint(dst_s, ports) else {
        return Outcome::Rejected("invalid destination");
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Outcome::Rejected("source and destination of different IP versions");
    }
    let Some(time) = time else {
        return Outcome::Rejected("invalid timestamp");
    };
    let mut rec = LogRecord::new(time, action, proto, src, dst).with_ports(sport, dport);
    if proto == Proto::TCP {
        let mut f = 0;
        for w in detail.split(',') {
            f |= TcpFlags::from_word(w.trim());
        }
        rec.flags = Some(TcpFlags(f));
    } else if proto.is_icmp() {
        rec.icmp = icmp_detail(detail);
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
        testing::record(Format::Mikrotik, line)
    }

    #[test]
    fn tcp_record_takes_the_original_tuple() {
        let r = record("Nov  3 03:12:29 gw-mikrotik firewall,info FWD-DROP forward: in:bridge1 out:ether1, connection-state:new src-mac 06:d8:6e:1c:e8:ea, proto TCP (SYN), 10.20.3.148:7521->171.154.74.241:449, NAT (10.20.3.148:7521->198.51.100.2:7521)->171.154.74.241:449, len 60");
        assert_eq!(r.tuple(), "10.20.3.148|171.154.74.241|449|tcp|block");
        assert_eq!(
            (r.sport, r.flags),
            (Some(7521), Some(TcpFlags(TcpFlags::SYN)))
        );
        assert_eq!(rfc3339(r.time), "2026-11-03T03:12:29Z");
        let r = record("<134>Nov  3 03:12:29 gw firewall,info LAN ACCEPT forward: in:bridge1 out:ether1, proto TCP (ACK,PSH), 10.20.3.148:7521->171.154.74.241:443, len 60");
        assert_eq!(r.action, Action::Allow);
        assert_eq!(r.flags, Some(TcpFlags(TcpFlags::ACK | TcpFlags::PSH)));
    }

    #[test]
    fn icmp_and_ipv6_records() {
        let r = record("Nov  3 00:00:08 gw-mikrotik firewall,info WAN-ACCEPT input: in:ether1 out:(unknown 0), connection-state:new src-mac 1e:8b:c5:4d:74:bb, proto ICMP (type 8, code 0), 12.169.208.121->203.0.113.10, len 84");
        assert_eq!(r.tuple(), "12.169.208.121|203.0.113.10|-|icmp|allow");
        assert_eq!((r.icmp, r.sport), (Some((8, 0)), None));
        let r = record("Nov  3 00:00:08 gw firewall,info WAN-DROP input: in:ether1 out:(unknown 0), proto UDP, [2001:db8::1]:5353->[2001:db8::2]:53, len 84");
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8::2|53|udp|block");
        let r = record("Nov  3 00:00:08 gw firewall,info WAN-DROP input: in:ether1 out:(unknown 0), proto ICMPV6 (type 128, code 0), 2001:db8::1->2001:db8::2, len 84");
        assert_eq!((r.proto, r.icmp), (Proto::ICMPV6, Some((128, 0))));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let c = clock();
        let cut = "Nov  3 13:16:41 gw-mikrotik firewall,info WAN-DROP input: in:ether1 out:(unknown 0), connection-state:new src-mac 2e:63:17:c4:ed:8d, proto TCP (SYN), 82.223.124.201:24879->";
        assert!(sniff(cut));
        assert_eq!(parse(cut, &c), Outcome::Rejected("truncated line"));
        let bad = "Nov  3 13:16:41 gw firewall,info WAN-DROP input: in:ether1 out:(unknown 0), proto UDP, 82.223.124.201:24879->1.2.3.4:70000, len 60";
        assert_eq!(parse(bad, &c), Outcome::Rejected("invalid destination"));
    }

    #[test]
    fn other_topics_are_ignored() {
        let c = clock();
        for l in [
            "Nov  3 02:02:09 gw-mikrotik system,info,account user admin logged in from 10.20.1.99 via winbox",
            "Nov  3 06:52:41 gw-mikrotik dhcp,info dhcp1 assigned 10.20.2.165 to 87:00:0B:1C:30:9C",
            "Nov  3 06:52:41 gw firewall,info input: in:ether1 out:(unknown 0), proto UDP, 1.2.3.4:1->5.6.7.8:2, len 60",
        ] {
            assert_eq!(parse(l, &c), Outcome::Ignored, "{l}");
        }
    }
}
