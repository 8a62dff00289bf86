//! Netfilter kernel log lines: the iptables `LOG` target (UFW included) and
//! nftables `log`, which print the same fields after a log prefix:
//!
//! ```text
//! Nov  3 00:01:19 fw01 kernel: [1049659.935900] [UFW BLOCK] IN=eth0 OUT= MAC=… SRC=… DST=… LEN=60 … PROTO=TCP SPT=46883 DPT=3306 WINDOW=1024 RES=0x00 SYN URGP=0
//! 2026-11-03T00:00:57.355127+00:00 edge-gw kernel: nft in drop: IN=eth0 OUT= … PROTO=ICMP TYPE=8 CODE=0 ID=26108 SEQ=8
//! ```
//!
//! The two formats differ only by their syslog header: iptables is the BSD
//! header (`Nov  3 00:01:19`), nftables an RFC 3339 time (rsyslog's
//! high-precision format) or a full RFC 5424 header. Either may carry a
//! leading `<PRI>`; [`parse`] reads all three headers.
//!
//! The action comes from the log prefix (everything between the optional
//! `[uptime]` and `IN=`): see [`Action::from_prefix`]. A line whose prefix
//! names no action (`[UFW AUDIT]`, no prefix) is ignored, as are kernel
//! lines without netfilter fields and other daemons' lines.
//!
//! Fields are read up to the first `[`: an ICMP error quotes the offending
//! packet as `[SRC=… DST=… PROTO=UDP SPT=… DPT=…]`, which is not the tuple.
//! A non-first fragment (`FRAG:`) carries no ports and gives a record
//! without them.

use std::net::IpAddr;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto, TcpFlags};
use crate::logs::syslog::{bsd, rfc5424, strip_pri};
use crate::logs::time::{bsd_time, rfc3339_prefix, Clock};

/// A kernel line with netfilter's fields (`IN=` is always followed by
/// ` OUT=`), whatever its header.
fn is_netfilter(s: &str) -> bool {
    s.contains("kernel") && s.contains("IN=") && s.contains(" OUT=")
}

/// A netfilter line with a BSD syslog header.
pub fn sniff_iptables(line: &str) -> bool {
    let (_, rest) = strip_pri(line);
    rest.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && is_netfilter(rest)
        && bsd_time(rest).is_some()
}

/// A netfilter line with an RFC 3339 or RFC 5424 header.
pub fn sniff_nftables(line: &str) -> bool {
    let (_, rest) = strip_pri(line);
    rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && is_netfilter(rest)
        && (rest.starts_with("1 ") || rfc3339_prefix(rest).is_some())
}

/// The header's time (None: unreadable), tag and message.
fn header<'a>(line: &'a str, clock: &Clock) -> Option<(Option<i64>, &'a str, &'a str)> {
    let (_, rest) = strip_pri(line);
    if rest.starts_with("1 ") {
        let h = rfc5424(rest)?;
        return Some((h.time, h.app, h.msg));
    }
    if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        // `TIMESTAMP HOST TAG: MSG` (rsyslog RFC3339 template).
        let (t, after) = rfc3339_prefix(rest)?;
        let after = after.strip_prefix(' ')?.trim_start();
        let (_host, after) = after.split_once(' ')?;
        let (word, msg) = after.split_once(' ').unwrap_or((after, ""));
        let tag = word.strip_suffix(':')?;
        let tag = match tag.find('[') {
            Some(i) if tag.ends_with(']') => &tag[..i],
            _ => tag,
        };
        return Some((Some(t), tag, msg));
    }
    let h = bsd(rest)?;
    Some((h.time(clock), h.tag, h.msg))
}

/// Drops a leading kernel `[ 1049659.935900]` uptime.
fn strip_uptime(msg: &str) -> &str {
    let Some(inner_and_rest) = msg.strip_prefix('[') else {
        return msg;
    };
    match inner_and_rest.split_once(']') {
        Some((inner, rest))
            if !inner.trim().is_empty()
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b' ') =>
        {
            rest.trim_start()
        }
        _ => msg,
    }
}

/// The longest key netfilter prints (`HOPLIMIT`).
const KEY_MAX: usize = 8;

/// Parses one kernel log line (any of the three headers).
pub fn parse(line: &str, clock: &Clock) -> Outcome {
    let Some((time, tag, msg)) = header(line, clock) else {
        return Outcome::Ignored;
    };
    if tag != "kernel" {
        return Outcome::Ignored;
    }
    let msg = strip_uptime(msg);
    let Some(in_at) = msg.find("IN=") else {
        return Outcome::Ignored;
    };
    let fields = &msg[in_at..];
    if !fields.contains(" OUT=") {
        return Outcome::Ignored;
    }
    let Some(action) = Action::from_prefix(&msg[..in_at]) else {
        return Outcome::Ignored;
    };
    let Some(time) = time else {
        return Outcome::Rejected("invalid timestamp");
    };

    let (mut src, mut dst, mut proto_s) = (None, None, None);
    let (mut spt, mut dpt, mut icmp_type, mut icmp_code) = (None, None, None, None);
    let mut flags = 0u8;
    let mut fragment = false;
    // One pass over `KEY=value` tokens and flag words, bytewise (the
    // separators are ASCII, so every slice below is on a char boundary).
    let b = fields.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b' ' {
            i += 1;
        }
        let end = i;
        i += 1;
        if start == end {
            continue;
        }
        if b[start] == b'[' {
            // The quoted packet of an ICMP error, or `INCOMPLETE [n bytes]`.
            break;
        }
        // Keys are short: look for `=` in the first bytes only (a MAC value
        // is long).
        let head = &b[start..end.min(start + KEY_MAX + 1)];
        let Some(eq) = head.iter().position(|&c| c == b'=').map(|e| start + e) else {
            match &b[start..end] {
                w if w.len() == 3 => flags |= TcpFlags::from_word(&fields[start..end]),
                w if w.starts_with(b"FRAG:") => fragment = true,
                _ => {}
            }
            continue;
        };
        let v = &fields[eq + 1..end];
        let slot = match &b[start..eq] {
            b"SRC" => &mut src,
            b"DST" => &mut dst,
            b"PROTO" => &mut proto_s,
            b"SPT" => &mut spt,
            b"DPT" => &mut dpt,
            b"TYPE" => &mut icmp_type,
            b"CODE" => &mut icmp_code,
            _ => continue,
        };
        slot.get_or_insert(v);
    }

    let src: IpAddr = match src {
        None | Some("") => return Outcome::Rejected("truncated line (no SRC value)"),
        Some(s) => match parse_addr(s) {
            Some(a) => a,
            None => return Outcome::Rejected("invalid source address"),
        },
    };
    let dst: IpAddr = match dst {
        None | Some("") => return Outcome::Rejected("truncated line (no DST value)"),
        Some(s) => match parse_addr(s) {
            Some(a) => a,
            None => return Outcome::Rejected("invalid destination address"),
        },
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Outcome::Rejected("source and destination of different IP versions");
    }
    let proto = match proto_s {
        None | Some("") => return Outcome::Rejected("truncated line (no protocol)"),
        Some(p) => match Proto::parse(p) {
            Some(p) => p,
            None => return Outcome::Rejected("unknown protocol"),
        },
    };

    let mut rec = LogRecord::new(time, action, proto, src, dst);
    if proto.has_ports() {
        let (sport, dport) = match (spt, dpt) {
            (Some(s), Some(d)) => match (parse_port(s), parse_port(d)) {
                (Some(s), Some(d)) => (s, d),
                _ => return Outcome::Rejected("invalid port"),
            },
            (None, None) if fragment => return Outcome::Record(rec),
            (None, _) => return Outcome::Rejected("truncated line (no SPT)"),
            (_, None) => return Outcome::Rejected("truncated line (no DPT)"),
        };
        rec = rec.with_ports(Some(sport), Some(dport));
        if proto == Proto::TCP {
            rec.flags = Some(TcpFlags(flags));
        }
    } else if proto.is_icmp() {
        if let (Some(t), Some(c)) = (icmp_type, icmp_code) {
            match (t.parse::<u8>(), c.parse::<u8>()) {
                (Ok(t), Ok(c)) => rec.icmp = Some((t, c)),
                _ => return Outcome::Rejected("invalid ICMP type or code"),
            }
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
        let f = if sniff_nftables(line) {
            Format::Nftables
        } else {
            Format::Iptables
        };
        testing::record(f, line)
    }

    const UFW: &str = "Nov  3 00:01:19 fw01 kernel: [1049659.935900] [UFW BLOCK] IN=eth0 OUT= MAC=d5:98:ce:dc:f1:1b:e1:29:4d:32:5e:d6:08:00 SRC=5.180.226.198 DST=198.51.100.2 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=59926 DF PROTO=TCP SPT=46883 DPT=3306 WINDOW=1024 RES=0x00 SYN URGP=0";

    #[test]
    fn iptables_tcp_record() {
        assert!(sniff_iptables(UFW));
        assert!(!sniff_nftables(UFW));
        let r = record(UFW);
        assert_eq!(r.tuple(), "5.180.226.198|198.51.100.2|3306|tcp|block");
        assert_eq!(
            (r.sport, r.flags),
            (Some(46883), Some(TcpFlags(TcpFlags::SYN)))
        );
        assert_eq!(rfc3339(r.time), "2026-11-03T00:01:19Z");
        let with_pri = format!("<4>{UFW}");
        assert!(sniff_iptables(&with_pri));
        assert_eq!(record(&with_pri), r);
    }

    #[test]
    fn nftables_ipv6_record() {
        let l = "2026-11-03T00:01:13.449977+01:00 edge-gw kernel: nft fwd accept: IN=eth0 OUT=eth1 MAC=34:fa:9e:ca:be:c0:47:27:25:ab:af:39:86:dd SRC=2a02:8dca:c814::d0 DST=2001:db8::11 LEN=80 TC=0 HOPLIMIT=113 FLOWLBL=747395 PROTO=UDP SPT=16669 DPT=53 LEN=40";
        assert!(sniff_nftables(l));
        assert!(!sniff_iptables(l));
        let r = record(l);
        assert_eq!(r.tuple(), "2a02:8dca:c814::d0|2001:db8::11|53|udp|allow");
        assert_eq!(rfc3339(r.time), "2026-11-02T23:01:13Z");
        let l5424 = "<4>1 2026-11-03T00:01:13Z edge-gw kernel - - - nft in drop: IN=eth0 OUT= SRC=2a02:8dca:c814::d0 DST=2001:db8::11 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=2";
        assert!(sniff_nftables(l5424));
        let r = record(l5424);
        assert_eq!(
            (r.proto, r.icmp, r.dport, r.action),
            (Proto::ICMPV6, Some((128, 0)), None, Action::Block)
        );
    }

    #[test]
    fn icmp_error_reads_the_outer_packet() {
        let l = "Nov  3 00:28:44 fw01 kernel: DROP-IN: IN=eth0 OUT= SRC=66.21.117.87 DST=203.0.113.10 LEN=84 PROTO=ICMP TYPE=3 CODE=3 [SRC=203.0.113.10 DST=66.21.117.87 LEN=56 PROTO=UDP SPT=53 DPT=4444 LEN=36 ]";
        let r = record(l);
        assert_eq!(r.tuple(), "66.21.117.87|203.0.113.10|-|icmp|block");
        assert_eq!((r.icmp, r.sport), (Some((3, 3)), None));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let c = clock();
        let cut = "Nov  3 06:46:22 fw01 kernel: DROP-IN: IN=eth0 OUT= SRC=48.2.30.104 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=4";
        assert_eq!(parse(cut, &c), Outcome::Rejected("truncated line (no DPT)"));
        let bad = "Nov  4 08:57:51 fw01 kernel: DROP-IN: IN=eth0 OUT= SRC=300.247.1.1 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=22";
        assert_eq!(parse(bad, &c), Outcome::Rejected("invalid source address"));
        let no_dst = "Nov  5 11:04:47 fw01 kernel: [1262267.393928] [UFW BLOCK] IN=eth0 OUT= SRC=160.220.52.0 DST=";
        assert!(sniff_iptables(no_dst));
        assert_eq!(
            parse(no_dst, &c),
            Outcome::Rejected("truncated line (no DST value)")
        );
        let port = UFW.replace("DPT=3306", "DPT=65536");
        assert_eq!(parse(&port, &c), Outcome::Rejected("invalid port"));
    }

    #[test]
    fn other_lines_are_ignored() {
        let c = clock();
        for l in [
            "Nov  5 16:39:04 fw01 CRON[16919]: (root) CMD (/usr/local/bin/update-feeds)",
            "Nov  5 23:56:38 fw01 kernel: [1308578.808067] e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex",
            "2026-11-03T08:46:28.307282+00:00 edge-gw systemd[1]: nftables.service: Deactivated successfully.",
            "Nov  3 00:01:19 fw01 kernel: [1049659.935900] [UFW AUDIT] IN=eth0 OUT= SRC=5.180.226.198 DST=198.51.100.2 PROTO=TCP SPT=1 DPT=2",
            "Nov 03 00:11:56.935274 rule 14/(match) block out on em0: 10.20.1.32.46645 > 135.48.25.203.4444: S",
        ] {
            assert_eq!(parse(l, &c), Outcome::Ignored, "{l}");
        }
        assert!(!sniff_iptables(
            "Nov  5 16:39:04 fw01 CRON[16919]: (root) CMD"
        ));
        assert!(!sniff_nftables(
            "2026-11-03 00:09:04 DROP TCP 1.2.3.4 5.6.7.8 1 2"
        ));
    }

    /// `logs_lines` fuzz finding (through filterlog's RFC 5424 header): an
    /// RFC 3339 offset ending inside a character panicked.
    #[test]
    fn regression_fuzz_offset_inside_a_character_is_not_a_panic() {
        let l = "2026-11-03T00:00:57+0000\u{e9} edge-gw kernel: nft in drop: IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=ICMP";
        assert!(!sniff_nftables(l));
        assert_eq!(parse(l, &clock()), Outcome::Ignored);
        let l = "<4>1 2026-11-03T00:00:57+0000\u{e9} edge-gw kernel - - - nft in drop: IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=ICMP";
        assert_eq!(parse(l, &clock()), Outcome::Ignored);
    }
}
