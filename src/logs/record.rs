//! One firewall log record, normalised: what every parser produces and what
//! the log archive stores.

use std::fmt;
use std::net::IpAddr;

/// What the firewall did with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// deny, drop, reject, reset-*, block.
    Block,
    /// accept, allow, pass, permitted, close, timeout, *-rst.
    Allow,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Allow => "allow",
        }
    }

    /// The normalised action for a firewall's own word, case-insensitive:
    /// deny/drop/reject/reset-*/block/denied → block;
    /// accept/allow/pass/permit(ted)/close/timeout/*-rst → allow.
    pub fn from_word(word: &str) -> Option<Action> {
        let w = word.trim();
        let is = |x: &str| w.eq_ignore_ascii_case(x);
        let starts = w.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("reset-"));
        let ends = w.len() >= 4
            && w.get(w.len() - 4..)
                .is_some_and(|p| p.eq_ignore_ascii_case("-rst"));
        if starts {
            Some(Action::Block)
        } else if ends {
            Some(Action::Allow)
        } else if [
            "deny", "denied", "drop", "dropped", "reject", "rejected", "block", "blocked", "reset",
        ]
        .iter()
        .any(|x| is(x))
        {
            Some(Action::Block)
        } else if [
            "accept",
            "accepted",
            "allow",
            "allowed",
            "pass",
            "permit",
            "permitted",
            "close",
            "timeout",
        ]
        .iter()
        .any(|x| is(x))
        {
            Some(Action::Allow)
        } else {
            None
        }
    }

    /// The action named inside a log prefix (iptables `[UFW BLOCK]`,
    /// `DROP-IN:`, nftables `nft in drop: `, MikroTik `WAN-ACCEPT`): a prefix
    /// containing BLOCK/DROP/REJECT/DENY means block, ALLOW/ACCEPT/PASS
    /// means allow. Block wins when both appear.
    pub fn from_prefix(prefix: &str) -> Option<Action> {
        let has = |w: &str| contains_ignore_case(prefix.as_bytes(), w.as_bytes());
        if ["BLOCK", "DROP", "REJECT", "DENY"].iter().any(|w| has(w)) {
            Some(Action::Block)
        } else if ["ALLOW", "ACCEPT", "PASS"].iter().any(|w| has(w)) {
            Some(Action::Allow)
        } else {
            None
        }
    }

    pub fn from_u8(v: u8) -> Option<Action> {
        match v {
            0 => Some(Action::Block),
            1 => Some(Action::Allow),
            _ => None,
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Action::Block => 0,
            Action::Allow => 1,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IP protocol number (IANA): 6 tcp, 17 udp, 1 icmp, 58 icmpv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proto(pub u8);

impl Proto {
    pub const ICMP: Proto = Proto(1);
    pub const TCP: Proto = Proto(6);
    pub const UDP: Proto = Proto(17);
    pub const ICMPV6: Proto = Proto(58);

    /// A protocol by name or number, case-insensitive: `tcp`, `UDP`, `6`,
    /// `icmp`, `ICMPv6`, `icmp6`, `ipv6-icmp`, `58`...
    pub fn parse(s: &str) -> Option<Proto> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return Some(Proto(n));
        }
        const NAMES: [(&str, Proto); 12] = [
            ("tcp", Proto::TCP),
            ("udp", Proto::UDP),
            ("icmp", Proto::ICMP),
            ("icmpv6", Proto::ICMPV6),
            ("icmp6", Proto::ICMPV6),
            ("ipv6-icmp", Proto::ICMPV6),
            ("ipv6icmp", Proto::ICMPV6),
            ("gre", Proto(47)),
            ("esp", Proto(50)),
            ("ah", Proto(51)),
            ("sctp", Proto(132)),
            ("igmp", Proto(2)),
        ];
        NAMES
            .iter()
            .find(|(n, _)| s.eq_ignore_ascii_case(n))
            .map(|(_, p)| *p)
    }

    /// Whether records of this protocol carry ports.
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 33 | 136)
    }

    pub fn is_icmp(self) -> bool {
        matches!(self.0, 1 | 58)
    }
}

impl fmt::Display for Proto {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            6 => f.write_str("tcp"),
            17 => f.write_str("udp"),
            1 => f.write_str("icmp"),
            58 => f.write_str("icmpv6"),
            n => write!(f, "{n}"),
        }
    }
}

/// TCP flags as a bit set (RFC 9293 order): FIN 0x01, SYN 0x02, RST 0x04,
/// PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// The letters DShield's format uses, in this order.
    const LETTERS: [(u8, char); 8] = [
        (Self::CWR, 'C'),
        (Self::ECE, 'E'),
        (Self::URG, 'U'),
        (Self::ACK, 'A'),
        (Self::PSH, 'P'),
        (Self::RST, 'R'),
        (Self::SYN, 'S'),
        (Self::FIN, 'F'),
    ];

    /// Flags from letters (`S`, `SA`, `FPU`, tcpdump's `S.` where `.` is
    /// ACK); unknown letters are ignored.
    pub fn from_letters(s: &str) -> TcpFlags {
        let mut v = 0;
        for c in s.chars() {
            v |= match c.to_ascii_uppercase() {
                'F' => Self::FIN,
                'S' => Self::SYN,
                'R' => Self::RST,
                'P' => Self::PSH,
                'A' | '.' => Self::ACK,
                'U' => Self::URG,
                'E' => Self::ECE,
                'C' | 'W' => Self::CWR,
                _ => 0,
            };
        }
        TcpFlags(v)
    }

    /// Flags from netfilter's words (`SYN`, `ACK`, `FIN`, `RST`, `PSH`,
    /// `URG`, `ECE`, `CWR`), one word at a time.
    pub fn from_word(w: &str) -> u8 {
        match w {
            "FIN" => Self::FIN,
            "SYN" => Self::SYN,
            "RST" => Self::RST,
            "PSH" => Self::PSH,
            "ACK" => Self::ACK,
            "URG" => Self::URG,
            "ECE" => Self::ECE,
            "CWR" => Self::CWR,
            _ => 0,
        }
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in Self::LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One normalised firewall record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// UTC, Unix seconds.
    pub time: i64,
    pub action: Action,
    pub proto: Proto,
    /// Canonical (IPv4-mapped IPv6 turned into IPv4).
    pub src: IpAddr,
    /// None where the protocol has no ports (ICMP and others).
    pub sport: Option<u16>,
    pub dst: IpAddr,
    pub dport: Option<u16>,
    /// ICMP type and code, when the log gives them.
    pub icmp: Option<(u8, u8)>,
    /// TCP flags, when the log gives them.
    pub flags: Option<TcpFlags>,
    /// How many connections the line stands for (DShield's count column;
    /// ASA's hit-cnt), at least 1.
    pub count: u32,
}

impl LogRecord {
    /// A record with no ports, flags or ICMP detail and a count of 1.
    pub fn new(time: i64, action: Action, proto: Proto, src: IpAddr, dst: IpAddr) -> LogRecord {
        LogRecord {
            time,
            action,
            proto,
            src: canonical(src),
            sport: None,
            dst: canonical(dst),
            dport: None,
            icmp: None,
            flags: None,
            count: 1,
        }
    }

    /// Sets the ports, only for protocols that have them (so an ICMP record
    /// keeps null ports even when the log put something in their place).
    pub fn with_ports(mut self, sport: Option<u16>, dport: Option<u16>) -> LogRecord {
        if self.proto.has_ports() {
            self.sport = sport;
            self.dport = dport;
        }
        self
    }

    /// The fixtures' tuple: `src|dst|dport|proto|action` (`-` for no port).
    pub fn tuple(&self) -> String {
        let dport = match self.dport {
            Some(p) => p.to_string(),
            None => "-".to_string(),
        };
        format!(
            "{}|{}|{}|{}|{}",
            self.src, self.dst, dport, self.proto, self.action
        )
    }
}

/// Whether `needle` occurs in `hay`, ASCII case-insensitively (no
/// allocation: the parsers call this per line).
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4; everything else unchanged.
pub fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => a,
        },
        v4 => v4,
    }
}

/// Parses an address strictly: dotted quads without leading zeros (`010.1.2.3`
/// is ambiguous octal, refused), any valid IPv6 (zone ids refused).
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // std's Ipv4Addr parser already refuses leading zeros and bad octets.
    s.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Parses a port: 0..=65535, digits only.
pub fn parse_port(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_words_follow_the_fixture_mapping() {
        for w in ["deny", "DROP", "reject", "reset-both", "block", "denied"] {
            assert_eq!(Action::from_word(w), Some(Action::Block), "{w}");
        }
        for w in [
            "accept",
            "allow",
            "pass",
            "permitted",
            "close",
            "timeout",
            "server-rst",
        ] {
            assert_eq!(Action::from_word(w), Some(Action::Allow), "{w}");
        }
        assert_eq!(Action::from_word("start"), None);
        assert_eq!(Action::from_prefix("[UFW BLOCK]"), Some(Action::Block));
        assert_eq!(Action::from_prefix("ACCEPT-FWD:"), Some(Action::Allow));
        assert_eq!(Action::from_prefix("nft in drop: "), Some(Action::Block));
        assert_eq!(Action::from_prefix("LOGGED"), None);
    }

    #[test]
    fn protocols_by_name_and_number() {
        assert_eq!(Proto::parse("ICMPv6"), Some(Proto::ICMPV6));
        assert_eq!(Proto::parse("ipv6-icmp"), Some(Proto::ICMPV6));
        assert_eq!(Proto::parse("17"), Some(Proto::UDP));
        assert_eq!(Proto(47).to_string(), "47");
        assert_eq!(Proto::TCP.to_string(), "tcp");
    }

    #[test]
    fn flags_round_trip_through_letters() {
        assert_eq!(TcpFlags::from_letters("S").to_string(), "S");
        assert_eq!(TcpFlags::from_letters("S.").to_string(), "AS");
        assert_eq!(TcpFlags::from_letters("FPU").to_string(), "UPF");
    }

    #[test]
    fn icmp_records_keep_null_ports() {
        let a = "192.0.2.1".parse().unwrap();
        let r = LogRecord::new(0, Action::Block, Proto::ICMP, a, a).with_ports(Some(8), Some(0));
        assert_eq!((r.sport, r.dport), (None, None));
        assert_eq!(r.tuple(), "192.0.2.1|192.0.2.1|-|icmp|block");
    }

    #[test]
    fn addresses_are_strict_and_canonical() {
        assert!(parse_addr("010.1.2.3").is_none());
        assert!(parse_addr("1.2.3.256").is_none());
        assert_eq!(
            canonical("::ffff:192.0.2.1".parse().unwrap()).to_string(),
            "192.0.2.1"
        );
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("443"), Some(443));
    }
}
