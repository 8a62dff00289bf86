//! Juniper SRX `RT_FLOW` session logs, in both syslog shapes Junos writes:
//!
//! - BSD text: `Nov  3 00:06:55 srx RT_FLOW: RT_FLOW_SESSION_DENY: session
//!   denied 10.20.2.208/13440->70.46.65.151/995 None 6(0) block-c2 trust
//!   untrust ...` (`SRC/SPORT->DST/DPORT [connection-tag] service
//!   protocol(icmp-type) policy from-zone to-zone ...`);
//! - RFC 5424 with structured data (`set system syslog ... structured-data`):
//!   `<14>1 2026-11-03T00:06:38.674Z srx RT_FLOW - RT_FLOW_SESSION_DENY
//!   [junos@2636.1.1.1.2.129 source-address="..." source-port="..."
//!   destination-address="..." destination-port="..." protocol-id="6"
//!   icmp-type="0" ...] session denied ...`.
//!
//! Only `RT_FLOW_SESSION_DENY` (and its logical-system twin `_DENY_LS`) is
//! a record, always a block. `RT_FLOW_SESSION_CREATE` / `_CLOSE` describe
//! sessions the policy already allowed and are [`Outcome::Ignored`], like
//! every other message. SRX logs the ICMP type only; records keep code 0.

use std::net::IpAddr;

use crate::logs::formats::Outcome;
use crate::logs::record::{parse_addr, parse_port, Action, LogRecord, Proto};
use crate::logs::syslog::{bsd, strip_pri};
use crate::logs::time::{rfc3339_prefix, Clock};

/// Whether the line is an `RT_FLOW` message.
pub fn sniff(line: &str) -> bool {
    rt_flow(line, 0).is_some()
}

/// The byte offset of the next `RT_FLOW` at or after `from`.
fn rt_flow(line: &str, from: usize) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = from;
    loop {
        i += b.get(i..)?.iter().position(|&c| c == b'R')?;
        if b[i..].starts_with(b"RT_FLOW") {
            return Some(i);
        }
        i += 1;
    }
}

/// What a deny message says about the connection.
struct Deny {
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    proto: Proto,
    icmp_type: u8,
}

impl Deny {
    fn record(self, time: i64) -> LogRecord {
        let mut r = LogRecord::new(time, Action::Block, self.proto, self.src, self.dst)
            .with_ports(Some(self.sport), Some(self.dport));
        if self.proto.is_icmp() {
            r.icmp = Some((self.icmp_type, 0));
        }
        r
    }
}

pub fn parse(line: &str, clock: &Clock) -> Outcome {
    // The message id: the first `RT_FLOW_...` word (the BSD tag `RT_FLOW:`
    // comes before it).
    let b = line.as_bytes();
    let mut at = 0;
    let at = loop {
        match rt_flow(line, at) {
            Some(i) if b.get(i + 7) == Some(&b'_') => break i,
            Some(i) => at = i + 7,
            None => return Outcome::Ignored,
        }
    };
    let id_end = b[at..]
        .iter()
        .position(|&c| c == b':' || c == b' ' || c == b'[')
        .map_or(b.len(), |p| at + p);
    if !matches!(
        &line[at..id_end],
        "RT_FLOW_SESSION_DENY" | "RT_FLOW_SESSION_DENY_LS"
    ) {
        return Outcome::Ignored;
    }
    let (_, rest) = strip_pri(line);
    let parsed = match rest.strip_prefix("1 ") {
        Some(header) => structured(header, &line[id_end..]),
        None => text(&line[id_end..]).and_then(|d| Ok((d, bsd_time(line, clock)?))),
    };
    match parsed {
        Ok((d, time)) => Outcome::Record(d.record(time)),
        Err(why) => Outcome::Rejected(why),
    }
}

/// The time of a BSD syslog line (or of one whose header starts with an
/// RFC 3339 timestamp, as rsyslog writes them).
fn bsd_time(line: &str, clock: &Clock) -> Result<i64, &'static str> {
    if let Some(h) = bsd(line) {
        return h.time(clock).ok_or("bad timestamp");
    }
    let (_, rest) = strip_pri(line);
    rfc3339_prefix(rest).map(|(t, _)| t).ok_or("no timestamp")
}

/// An RFC 5424 line: `header` starts at its timestamp, `after_id` follows
/// the message id (` [junos@2636... source-address="..." ...] msg`). Reads
/// the structured data in one pass, up to the last parameter needed, or the
/// text when the sender left the data out.
fn structured(header: &str, after_id: &str) -> Result<(Deny, i64), &'static str> {
    let time = match header.strip_prefix("- ") {
        Some(_) => return Err("no timestamp"),
        None => rfc3339_prefix(header).ok_or("bad timestamp")?.0,
    };
    let sd = after_id.strip_prefix(' ').unwrap_or(after_id);
    if !sd.starts_with('[') {
        // `-`, or no structured data at all: the text has the same facts.
        return Ok((text(sd.strip_prefix('-').unwrap_or(sd))?, time));
    }
    const TRUNCATED: &str = "truncated structured data";
    let b = sd.as_bytes();
    // Past the SD-ID.
    let mut j = b
        .iter()
        .position(|&c| c == b' ' || c == b']')
        .ok_or(TRUNCATED)?;
    let mut v: [Option<&str>; 6] = [None; 6];
    loop {
        j += b[j..].iter().position(|&c| c != b' ').ok_or(TRUNCATED)?;
        if b[j] == b']' {
            // The end of this element; another may follow.
            if b.get(j + 1) != Some(&b'[') {
                break;
            }
            j += 1 + b[j + 1..]
                .iter()
                .position(|&c| c == b' ' || c == b']')
                .ok_or(TRUNCATED)?;
            continue;
        }
        let eq = j + b[j..].iter().position(|&c| c == b'=').ok_or(TRUNCATED)?;
        match b.get(eq + 1) {
            Some(b'"') => {}
            None => return Err(TRUNCATED),
            Some(_) => return Err("bad structured data"),
        }
        let start = eq + 2;
        let mut end = start;
        loop {
            end += b
                .get(end..)
                .and_then(|r| r.iter().position(|&c| c == b'"' || c == b'\\'))
                .ok_or(TRUNCATED)?;
            if b[end] == b'"' {
                break;
            }
            end += 2;
        }
        let slot = match &sd[j..eq] {
            "source-address" => 0,
            "source-port" => 1,
            "destination-address" => 2,
            "destination-port" => 3,
            "protocol-id" => 4,
            "icmp-type" => 5,
            _ => usize::MAX,
        };
        if let Some(s) = v.get_mut(slot) {
            *s = Some(&sd[start..end]);
            if v.iter().all(Option::is_some) {
                break;
            }
        }
        j = end + 1;
    }
    let [sa, sp, da, dp, pr, it] = v;
    let d = Deny {
        src: parse_addr(sa.ok_or("missing source-address")?).ok_or("bad source-address")?,
        sport: parse_port(sp.ok_or("missing source-port")?).ok_or("bad source-port")?,
        dst: parse_addr(da.ok_or("missing destination-address")?)
            .ok_or("bad destination-address")?,
        dport: parse_port(dp.ok_or("missing destination-port")?).ok_or("bad destination-port")?,
        proto: Proto::parse(pr.ok_or("missing protocol-id")?).ok_or("bad protocol-id")?,
        icmp_type: it.map_or(Ok(0), |t| t.parse().map_err(|_| "bad icmp-type"))?,
    };
    Ok((d, time))
}

/// The text after the message id: `: session denied SRC/SPORT->DST/DPORT
/// [0x0] service proto(icmp-type) ...`.
fn text(s: &str) -> Result<Deny, &'static str> {
    let s = s.trim_start_matches([':', ' ']);
    let rest = s.strip_prefix("session denied ").ok_or("truncated line")?;
    let mut words = rest.split(' ');
    let tuple = words.next().unwrap_or("");
    let (s, d) = tuple.split_once("->").ok_or("truncated line")?;
    let endpoint = |e: &str, what| -> Result<(IpAddr, u16), &'static str> {
        let (a, p) = e.rsplit_once('/').ok_or("truncated line")?;
        Ok((parse_addr(a).ok_or(what)?, parse_port(p).ok_or("bad port")?))
    };
    let (src, sport) = endpoint(s, "bad source address")?;
    let (dst, dport) = endpoint(d, "bad destination address")?;
    // `6(0)`: the first of the next words shaped protocol(icmp-type).
    let (proto, icmp_type) = words
        .take(3)
        .find_map(|w| {
            let (p, t) = w.strip_suffix(')')?.split_once('(')?;
            Some((p.parse::<u8>().ok()?, t.parse::<u8>().ok()?))
        })
        .ok_or("truncated line")?;
    Ok(Deny {
        src,
        sport,
        dst,
        dport,
        proto: Proto(proto),
        icmp_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::formats::testing::{self, clock};
    use crate::logs::formats::Format;
    use crate::logs::time::rfc3339;

    fn record(line: &str) -> LogRecord {
        testing::record(Format::JuniperSrx, line)
    }

    #[test]
    fn text_deny_is_a_block() {
        let r = record(
            "Nov  3 00:06:55 srx-edge-01 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 10.20.2.208/13440->70.46.65.151/995 None 6(0) block-c2 trust untrust UNKNOWN UNKNOWN N/A(N/A) ge-0/0/1.0 UNKNOWN policy deny",
        );
        assert_eq!(r.tuple(), "10.20.2.208|70.46.65.151|995|tcp|block");
        assert_eq!(
            (r.sport, rfc3339(r.time).as_str()),
            (Some(13440), "2026-11-03T00:06:55Z")
        );
    }

    #[test]
    fn structured_deny_and_ipv6() {
        let r = record(
            "<14>1 2026-11-03T00:06:38.674Z srx-edge-01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 source-address=\"2001:db8::1\" source-port=\"12876\" destination-address=\"2001:db8:2::443\" destination-port=\"443\" connection-tag=\"0\" service-name=\"junos-https\" protocol-id=\"6\" icmp-type=\"0\" policy-name=\"a \\\"b\\\"\" reason=\"policy deny\"] session denied 2001:db8::1/12876->2001:db8:2::443/443 0x0 junos-https 6(0) block-c2",
        );
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8:2::443|443|tcp|block");
        assert_eq!(rfc3339(r.time), "2026-11-03T00:06:38Z");
        // RFC 5424 without structured data: the text is read.
        let r = record(
            "<14>1 2026-11-03T00:06:38Z srx RT_FLOW - RT_FLOW_SESSION_DENY - session denied 2001:db8::1/5->2001:db8::2/53 None 17(0) p",
        );
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8::2|53|udp|block");
        let r = record(
            "Nov  3 04:00:11 srx RT_FLOW: RT_FLOW_SESSION_DENY: session denied 2001:db8::1/0->2001:db8::2/0 icmp 58(128) deny-untrust untrust trust",
        );
        assert_eq!(r.tuple(), "2001:db8::1|2001:db8::2|-|icmpv6|block");
    }

    #[test]
    fn icmp_records_carry_the_type() {
        let r = record(
            "<14>1 2026-11-05T05:52:36.542Z srx-edge-01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 source-address=\"10.20.3.105\" source-port=\"0\" destination-address=\"174.174.163.15\" destination-port=\"0\" protocol-id=\"1\" icmp-type=\"8\"] session denied",
        );
        assert_eq!(r.tuple(), "10.20.3.105|174.174.163.15|-|icmp|block");
        assert_eq!((r.sport, r.icmp), (None, Some((8, 0))));
        let r = record(
            "Nov  3 04:00:11 srx-edge-01 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 219.239.46.202/0->203.0.113.11/0 icmp 1(8) deny-untrust untrust trust",
        );
        assert_eq!(r.icmp, Some((8, 0)));
    }

    #[test]
    fn truncated_lines_are_rejected() {
        let c = clock();
        for (line, why) in [
            ("Nov  3 03:12:06 srx-edge-01 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 40.82.233.222/63458->", "truncated line"),
            ("<14>1 2026-11-03T08:53:21.000Z srx-edge-01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 source-address=\"125.213.89.225\" source-port=\"61806\" destination-address=", "truncated structured data"),
            ("<14>1 2026-11-03T08:53:21.000Z srx RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636 source-address=\"125.213.89.225\"] session denied", "missing source-port"),
            ("Nov  3 03:12:06 srx RT_FLOW: RT_FLOW_SESSION_DENY: session denied 1.2.3.4/1->1.2.3.4/70000 None 6(0)", "bad port"),
        ] {
            assert_eq!(parse(line, &c), Outcome::Rejected(why), "{line}");
        }
    }

    #[test]
    fn other_messages_are_ignored() {
        let c = clock();
        for line in [
            "Nov  3 00:17:07 srx-edge-01 RT_FLOW: RT_FLOW_SESSION_CREATE: session created 10.20.1.184/31279->35.136.55.251/443 0x0 junos-https",
            "<14>1 2026-11-03T02:20:47.000Z srx-edge-01 RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.129 source-address=\"10.20.1.175\"] session closed",
            "Nov  3 02:22:18 srx-edge-01 mgd[7605]: UI_COMMIT: User 'netops' requested 'commit' operation (comment: none)",
        ] {
            assert_eq!(parse(line, &c), Outcome::Ignored, "{line}");
        }
        assert!(!sniff(
            "Nov  3 02:22:18 srx-edge-01 mgd[7605]: UI_COMMIT: User"
        ));
        for s in [
            "RT_FLOW_SESSION_DENY",
            "<1>1 RT_FLOW_SESSION_DENY [a=\"é\\",
            "RT_FLOW_SESSION_DENY: session denied é/é->é/",
            "x [k=\"é\" RT_FLOW_SESSION_DENY",
        ] {
            let _ = parse(s, &c);
        }
    }
}
