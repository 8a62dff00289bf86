//! Addresses, prefixes and ranges, parsed straight from bytes.
//!
//! The rules are those of the fixture README (and of Python's `ipaddress`,
//! which wrote the expected files): IPv4 is exactly four decimal octets,
//! none above 255 and none with a leading zero (`010.1.2.3` is ambiguous
//! octal); IPv6 is RFC 4291 text, any case, with an optional embedded IPv4
//! tail; a prefix is decimal and no longer than the address; host bits are
//! cleared. IPv4-mapped IPv6 stays IPv6: feeds are parsed literally.
//!
//! Nothing here allocates: the plain-list and range parsers call these once
//! per line and must sustain millions of lines per second.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why a piece of text is not an address: a short, fixed phrase.
pub(crate) type Reason = &'static str;

/// A parsed address, as an integer of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    pub fn host(self) -> IpNet {
        match self {
            Addr::V4(a) => IpNet::V4(Ipv4Net::from(Ipv4Addr::from(a))),
            Addr::V6(a) => IpNet::V6(Ipv6Net::from(Ipv6Addr::from(a))),
        }
    }
}

/// Parses a dotted-quad IPv4 address strictly.
#[inline]
pub(crate) fn parse_v4(s: &[u8]) -> Result<u32, Reason> {
    let mut acc: u32 = 0;
    let mut octets = 0u32;
    let mut i = 0;
    loop {
        let start = i;
        let mut v: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            v = v.saturating_mul(10).saturating_add(u32::from(s[i] - b'0'));
            i += 1;
        }
        if i == start {
            return Err(if octets > 0 && i == s.len() {
                "truncated IPv4 address"
            } else {
                "invalid IPv4 address"
            });
        }
        if i - start > 1 && s[start] == b'0' {
            return Err("leading zero in IPv4 octet");
        }
        if v > 255 {
            return Err("octet > 255");
        }
        acc = acc << 8 | v;
        octets += 1;
        if i == s.len() {
            break;
        }
        if s[i] != b'.' {
            return Err("invalid IPv4 address");
        }
        if octets == 4 {
            return Err("more than four octets");
        }
        i += 1;
    }
    if octets != 4 {
        return Err("truncated IPv4 address");
    }
    Ok(acc)
}

/// Parses an IPv6 address (RFC 4291 §2.2 text forms).
#[inline]
pub(crate) fn parse_v6(s: &[u8]) -> Result<u128, Reason> {
    // Ipv6Addr's parser is strict enough (at most 4 hex digits per group,
    // one `::`, decimal IPv4 tail without leading zeros).
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<Ipv6Addr>().ok())
        .map(u128::from)
        .ok_or("invalid IPv6 address")
}

/// Parses one address of either family.
#[inline]
pub(crate) fn parse_addr(s: &[u8]) -> Result<Addr, Reason> {
    if s.is_empty() {
        return Err("empty address");
    }
    if s.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        return parse_v4(s).map(Addr::V4);
    }
    if s.contains(&b':') {
        return match parse_v6(s) {
            Ok(a) => Ok(Addr::V6(a)),
            Err(e) => Err(if looks_like_addr_port(s) {
                "address:port is not an address"
            } else {
                e
            }),
        };
    }
    Err("not an IP address")
}

/// `1.2.3.4:80` or `[2001:db8::1]:443`.
fn looks_like_addr_port(s: &[u8]) -> bool {
    if let Some(rest) = s.strip_prefix(b"[") {
        if let Some(close) = rest.iter().position(|&c| c == b']') {
            let port = &rest[close + 1..];
            return port.len() > 1 && port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit);
        }
        return false;
    }
    match s.iter().position(|&c| c == b':') {
        Some(colon) => {
            let port = &s[colon + 1..];
            !port.is_empty() && port.iter().all(u8::is_ascii_digit) && parse_v4(&s[..colon]).is_ok()
        }
        None => false,
    }
}

/// Parses an address or a CIDR (`a/len`, or `a/netmask` for IPv4); host
/// bits are cleared.
#[inline]
pub(crate) fn parse_net(s: &[u8]) -> Result<IpNet, Reason> {
    let Some(slash) = s.iter().position(|&c| c == b'/') else {
        return parse_addr(s).map(Addr::host);
    };
    let addr = parse_addr(&s[..slash])?;
    let p = &s[slash + 1..];
    let max = match addr {
        Addr::V4(_) => 32,
        Addr::V6(_) => 128,
    };
    let len = if p.is_empty() {
        return Err("missing prefix length");
    } else if p.contains(&b'/') {
        return Err("two prefix lengths");
    } else if p[0] == b'-' {
        return Err("negative prefix length");
    } else if p.iter().all(u8::is_ascii_digit) {
        let v = p.iter().fold(0u32, |v, &c| {
            v.saturating_mul(10).saturating_add(u32::from(c - b'0'))
        });
        if v > max {
            return Err("prefix length out of range");
        }
        v as u8
    } else if matches!(addr, Addr::V4(_)) && p.contains(&b'.') {
        mask_len(parse_v4(p).map_err(|_| "invalid netmask")?).ok_or("invalid netmask")?
    } else {
        return Err("invalid prefix length");
    };
    Ok(network(addr, len))
}

/// Prefix length of a contiguous netmask (`255.255.255.0`) or hostmask
/// (`0.0.0.255`), as Python's `ipaddress` accepts them.
fn mask_len(m: u32) -> Option<u8> {
    if m.leading_ones() + m.trailing_zeros() == 32 {
        Some(m.leading_ones() as u8)
    } else if m.leading_zeros() + m.trailing_ones() == 32 {
        Some(m.leading_zeros() as u8)
    } else {
        None
    }
}

/// The network of `addr/len`, host bits cleared. `len` must fit the family.
#[inline]
pub(crate) fn network(addr: Addr, len: u8) -> IpNet {
    match addr {
        Addr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a & mask), len.min(32)).unwrap_or_default())
        }
        Addr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a & mask), len.min(128)).unwrap_or_default())
        }
    }
}

/// The bounds of a range in one family: `(start, end, bits)` with
/// `bits` 32 or 128.
pub(crate) type Bounds = (u128, u128, u32);

/// Parses `start-end` (spaces around the dash allowed) into its bounds.
#[inline]
pub(crate) fn range_bounds(s: &[u8]) -> Result<Bounds, Reason> {
    let Some(dash) = s.iter().position(|&c| c == b'-') else {
        return Err("not a range");
    };
    let (a, b) = (s[..dash].trim_ascii(), s[dash + 1..].trim_ascii());
    if a.is_empty() {
        return Err("missing start address");
    }
    if b.is_empty() {
        return Err("missing end address");
    }
    if a.contains(&b'/') || b.contains(&b'/') {
        return Err("prefix length in a range");
    }
    let bounds = match (parse_addr(a)?, parse_addr(b)?) {
        (Addr::V4(x), Addr::V4(y)) => (u128::from(x), u128::from(y), 32),
        (Addr::V6(x), Addr::V6(y)) => (x, y, 128),
        _ => return Err("mixed address families"),
    };
    if bounds.0 > bounds.1 {
        return Err("start greater than end");
    }
    Ok(bounds)
}

/// Parses `start-end` and calls `emit` with its minimal CIDR cover, lowest
/// network first (what Python's `summarize_address_range` returns).
/// Nothing is emitted for a bad range.
pub(crate) fn parse_range(s: &[u8], mut emit: impl FnMut(IpNet)) -> Result<(), Reason> {
    let (start, end, bits) = range_bounds(s)?;
    summarize(start, end, bits, |a, len| {
        emit(match bits {
            32 => network(Addr::V4(a as u32), len),
            _ => network(Addr::V6(a), len),
        })
    });
    Ok(())
}

/// Minimal CIDR cover of `start..=end` in a `bits`-wide address space.
#[inline]
pub(crate) fn summarize(start: u128, end: u128, bits: u32, mut emit: impl FnMut(u128, u8)) {
    let mut cur = start;
    loop {
        // Largest block aligned at `cur` that does not pass `end`.
        let align = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        let left = end - cur; // addresses left, minus one
        let fit = if left == u128::MAX {
            128
        } else {
            127 - (left + 1).leading_zeros()
        };
        let k = align.min(fit);
        emit(cur, (bits - k) as u8);
        if k == 128 {
            return;
        }
        let last = cur + ((1u128 << k) - 1);
        if last >= end {
            return;
        }
        cur = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Result<String, Reason> {
        parse_net(s.as_bytes()).map(|n| n.to_string())
    }

    #[test]
    fn ipv4_is_strict() {
        assert_eq!(net("198.51.100.7"), Ok("198.51.100.7/32".into()));
        assert_eq!(net("0.0.0.0"), Ok("0.0.0.0/32".into()));
        assert_eq!(net("010.1.2.3"), Err("leading zero in IPv4 octet"));
        assert_eq!(net("256.1.2.3"), Err("octet > 255"));
        assert_eq!(net("99999999999.1.2.3"), Err("octet > 255"));
        assert_eq!(net("1.2.3"), Err("truncated IPv4 address"));
        assert_eq!(net("1.2.3."), Err("truncated IPv4 address"));
        assert_eq!(net("1.2.3.4.5"), Err("more than four octets"));
        assert_eq!(net("1..2.3"), Err("invalid IPv4 address"));
        assert_eq!(net("N/A"), Err("not an IP address"));
        assert_eq!(net(""), Err("empty address"));
    }

    #[test]
    fn ipv6_is_canonicalised() {
        assert_eq!(net("2A01:4F8::1"), Ok("2a01:4f8::1/128".into()));
        assert_eq!(
            net("2604:6a82:0aaf:0000:0000:0000:0000:5d79"),
            Ok("2604:6a82:aaf::5d79/128".into())
        );
        assert_eq!(
            net("::ffff:1.2.3.4"),
            Ok("::ffff:1.2.3.4/128".into()),
            "mapped IPv6 stays IPv6"
        );
        assert_eq!(net("2001:db8:::1"), Err("invalid IPv6 address"));
        assert_eq!(net("2a01:4f8::zz"), Err("invalid IPv6 address"));
        assert_eq!(net("2001:db8::00001"), Err("invalid IPv6 address"));
    }

    #[test]
    fn ports_are_not_addresses() {
        assert_eq!(net("1.2.3.4:80"), Err("address:port is not an address"));
        assert_eq!(
            net("[2001:db8::1]:443"),
            Err("address:port is not an address")
        );
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            net("1.2.3.4/24"),
            Ok("1.2.3.0/24".into()),
            "host bits cleared"
        );
        assert_eq!(net("1.2.3.4/0"), Ok("0.0.0.0/0".into()));
        assert_eq!(net("2001:db8::1/32"), Ok("2001:db8::/32".into()));
        assert_eq!(net("1.2.3.4/255.255.0.0"), Ok("1.2.0.0/16".into()));
        assert_eq!(net("1.2.3.4/0.0.0.255"), Ok("1.2.3.0/24".into()));
        assert_eq!(net("1.2.3.4/255.0.255.0"), Err("invalid netmask"));
        assert_eq!(net("1.2.3.0/"), Err("missing prefix length"));
        assert_eq!(net("1.2.3.0/33"), Err("prefix length out of range"));
        assert_eq!(net("2001:db8::/129"), Err("prefix length out of range"));
        assert_eq!(net("1.2.3.0/-1"), Err("negative prefix length"));
        assert_eq!(net("1.2.3.0/24/8"), Err("two prefix lengths"));
        assert_eq!(net("1.2.3.0/2x"), Err("invalid prefix length"));
    }

    fn range(s: &str) -> Result<Vec<String>, Reason> {
        let mut v = Vec::new();
        parse_range(s.as_bytes(), |n| v.push(n.to_string())).map(|_| v)
    }

    #[test]
    fn ranges_become_their_minimal_cover() {
        assert_eq!(range("1.2.3.4 - 1.2.3.4"), Ok(vec!["1.2.3.4/32".into()]));
        assert_eq!(range("10.0.0.0-10.0.1.255"), Ok(vec!["10.0.0.0/23".into()]));
        assert_eq!(
            range("8.104.74.143- 8.104.74.200"),
            Ok([
                "8.104.74.143/32",
                "8.104.74.144/28",
                "8.104.74.160/27",
                "8.104.74.192/29",
                "8.104.74.200/32"
            ]
            .map(String::from)
            .to_vec())
        );
        assert_eq!(
            range("0.0.0.0-255.255.255.255"),
            Ok(vec!["0.0.0.0/0".into()])
        );
        assert_eq!(
            range("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            Ok(vec!["::/0".into()])
        );
        assert_eq!(
            range("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                .unwrap()
                .len(),
            128
        );
        assert_eq!(
            range("2001:db8::-2001:db8::ff"),
            Ok(vec!["2001:db8::/120".into()])
        );
        assert_eq!(range("1.2.3.9-1.2.3.1"), Err("start greater than end"));
        assert_eq!(range("1.2.3.4-2001:db8::1"), Err("mixed address families"));
        assert_eq!(range("1.2.3.4-"), Err("missing end address"));
        assert_eq!(range("-1.2.3.4"), Err("missing start address"));
        assert_eq!(range("1.2.3.0/24-1.2.4.0"), Err("prefix length in a range"));
    }

    #[test]
    fn summarize_matches_a_naive_cover() {
        // Oracle: grow from each start the largest aligned block within end.
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let a = seed % 5000;
            let b = a + (seed >> 7) % 3000;
            let mut got = Vec::new();
            summarize(u128::from(a), u128::from(b), 32, |x, l| {
                got.push((x as u32, l))
            });
            let mut want = Vec::new();
            let mut x = u64::from(a);
            while x <= u64::from(b) {
                let mut k = 0;
                while k < 32 && x % (1 << (k + 1)) == 0 && x + (1 << (k + 1)) - 1 <= u64::from(b) {
                    k += 1;
                }
                want.push((x as u32, (32 - k) as u8));
                x += 1 << k;
            }
            assert_eq!(got, want, "{a}-{b}");
        }
    }
}
