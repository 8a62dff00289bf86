//! Lists: the sets of addresses feedwall publishes.
//!
//! A list is a set of networks. For DNS it is split into *hosts* (every
//! address of a prefix no wider than the expansion limit, default /24 and
//! /120) and *wide networks* (anything wider), which DNS host records cannot
//! carry and which later publication forms (APL, HTTP text lists) take.
//! Hosts are sorted and de-duplicated so chunk `i` of a list is a stable,
//! reproducible slice.
//!
//! The plain list file format (`snapshot build --list NAME=FILE`) is one IP
//! or CIDR per line; `#` and `;` start comments (whole-line or trailing);
//! blank lines are ignored. A bad line is counted and reported, never fatal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Default widest IPv4 prefix expanded into host records (256 hosts).
pub const DEFAULT_EXPAND_V4: u8 = 24;
/// Default widest IPv6 prefix expanded into host records (256 hosts).
pub const DEFAULT_EXPAND_V6: u8 = 120;

/// A line of a list file that is not an address or prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
}

/// Parses a plain list: one IP or CIDR per line, `#`/`;` comments.
/// Returns the networks (canonical: host bits cleared) and the bad lines.
pub fn parse_plain(text: &str) -> (Vec<IpNet>, Vec<BadLine>) {
    let mut nets = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start_matches('\u{feff}');
        let line = match line.find(['#', ';']) {
            Some(pos) => &line[..pos],
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_net(line) {
            Some(net) => nets.push(net),
            None => bad.push(BadLine {
                line: i + 1,
                text: raw.chars().take(200).collect(),
            }),
        }
    }
    (nets, bad)
}

/// Parses one address (as a host prefix) or CIDR; host bits are cleared.
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become IPv4.
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Some((addr, len)) = s.split_once('/') {
        let addr: IpAddr = addr.trim().parse().ok()?;
        let len: u8 = len.trim().parse().ok()?;
        let net = IpNet::new(addr, len).ok()?.trunc();
        Some(canonical(net))
    } else {
        let addr: IpAddr = s.parse().ok()?;
        Some(canonical(IpNet::from(addr)))
    }
}

fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net {
        if let Some(v4) = n.addr().to_ipv4_mapped() {
            if n.prefix_len() >= 96 {
                return IpNet::V4(
                    Ipv4Net::new(v4, n.prefix_len() - 96)
                        .expect("valid length")
                        .trunc(),
                );
            }
        }
    }
    net
}

/// A list ready for publication: hosts sorted and unique, wide networks
/// sorted and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEntries {
    pub v4_hosts: Vec<u32>,
    pub v6_hosts: Vec<u128>,
    pub v4_nets: Vec<Ipv4Net>,
    pub v6_nets: Vec<Ipv6Net>,
}

impl ListEntries {
    /// Splits networks into hosts (expanding prefixes no wider than
    /// `expand_v4` / `expand_v6`) and wide networks.
    pub fn from_nets(nets: &[IpNet], expand_v4: u8, expand_v6: u8) -> Self {
        let mut out = ListEntries::default();
        for net in nets {
            match net {
                IpNet::V4(n) => {
                    if n.prefix_len() >= expand_v4 {
                        let start = u32::from(n.network());
                        let end = u32::from(n.broadcast());
                        out.v4_hosts.extend(start..=end);
                    } else {
                        out.v4_nets.push(*n);
                    }
                }
                IpNet::V6(n) => {
                    if n.prefix_len() >= expand_v6 {
                        let start = u128::from(n.network());
                        let end = u128::from(n.broadcast());
                        let mut a = start;
                        loop {
                            out.v6_hosts.push(a);
                            if a == end {
                                break;
                            }
                            a += 1;
                        }
                    } else {
                        out.v6_nets.push(*n);
                    }
                }
            }
        }
        out.v4_hosts.sort_unstable();
        out.v4_hosts.dedup();
        out.v6_hosts.sort_unstable();
        out.v6_hosts.dedup();
        out.v4_nets.sort_unstable();
        out.v4_nets.dedup();
        out.v6_nets.sort_unstable();
        out.v6_nets.dedup();
        out
    }

    /// Number of distinct entries (hosts plus wide networks).
    pub fn len(&self) -> usize {
        self.v4_hosts.len() + self.v6_hosts.len() + self.v4_nets.len() + self.v6_nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of chunk names that hold data for the given per-name limits.
    pub fn chunks(&self, max_a: usize, max_aaaa: usize) -> usize {
        self.v4_hosts
            .len()
            .div_ceil(max_a.max(1))
            .max(self.v6_hosts.len().div_ceil(max_aaaa.max(1)))
    }
}

/// Host address helpers for display.
pub fn v4(a: u32) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

pub fn v6(a: u128) -> Ipv6Addr {
    Ipv6Addr::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lists_count_bad_lines_and_strip_comments() {
        let text = "# header\n1.2.3.4\n10.0.0.0/30 # trailing\n\n; semi\n2001:DB8::1\nnot-an-ip\n300.1.1.1\n5.6.7.8/33\n192.0.2.77/24\n";
        let (nets, bad) = parse_plain(text);
        assert_eq!(
            nets,
            vec![
                "1.2.3.4/32".parse::<IpNet>().unwrap(),
                "10.0.0.0/30".parse().unwrap(),
                "2001:db8::1/128".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            ]
        );
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![7, 8, 9]
        );
    }

    #[test]
    fn mapped_v6_becomes_v4() {
        assert_eq!(
            parse_net("::ffff:1.2.3.4"),
            Some("1.2.3.4/32".parse().unwrap())
        );
    }

    #[test]
    fn expansion_respects_limits() {
        let nets: Vec<IpNet> = [
            "10.0.0.0/24",
            "10.0.0.5",
            "11.0.0.0/23",
            "2001:db8::/120",
            "2001:db8:1::/119",
        ]
        .iter()
        .map(|s| parse_net(s).unwrap())
        .collect();
        let e = ListEntries::from_nets(&nets, 24, 120);
        assert_eq!(e.v4_hosts.len(), 256);
        assert_eq!(e.v4_nets, vec!["11.0.0.0/23".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(e.v6_hosts.len(), 256);
        assert_eq!(e.v6_nets.len(), 1);
        assert_eq!(e.chunks(100, 100), 3);
    }
}
