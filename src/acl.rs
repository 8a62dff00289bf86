//! The ACL: which source addresses may query, and as which device.
//!
//! Devices register prefixes (IPv4 or IPv6). Prefixes may nest (a /32 device
//! inside a /24 device); the most specific prefix wins, as in routing. The
//! builder flattens them into disjoint, sorted address ranges, one table per
//! family, stored as three parallel arrays (`starts`, `ends`, `devices`) so a
//! lookup is one binary search over a dense array of starts.
//!
//! Sources are canonicalised before the lookup (IPv4-mapped IPv6 becomes
//! IPv4), as hickory-dns does, so a dual-stack socket cannot bypass an IPv4
//! rule.

use std::net::IpAddr;

use ipnet::IpNet;

/// Index of a device in the snapshot's device table.
pub type DeviceId = u32;

/// Errors found while building the ACL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("prefix {0} is registered for two devices")]
    DuplicatePrefix(IpNet),
}

/// Disjoint sorted ranges for one address family; addresses are held as
/// u128 here and narrowed to u32 for IPv4 when archived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeTable {
    pub starts: Vec<u128>,
    pub ends: Vec<u128>,
    pub devices: Vec<DeviceId>,
}

impl RangeTable {
    /// Linear-time lookup over the table (used by tests as an oracle for the
    /// archived binary search).
    pub fn get(&self, addr: u128) -> Option<DeviceId> {
        let i = self.starts.partition_point(|&s| s <= addr);
        if i == 0 {
            return None;
        }
        (addr <= self.ends[i - 1]).then(|| self.devices[i - 1])
    }
}

/// Flattened ACL for both families.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclTables {
    pub v4: RangeTable,
    pub v6: RangeTable,
}

/// Builds the flattened tables from `(prefix, device)` pairs.
pub fn build(entries: &[(IpNet, DeviceId)]) -> Result<AclTables, AclError> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (net, dev) in entries {
        let net = net.trunc();
        match net {
            IpNet::V4(n) => v4.push((
                u32::from(n.network()) as u128,
                u32::from(n.broadcast()) as u128,
                n.prefix_len(),
                *dev,
                net,
            )),
            IpNet::V6(n) => v6.push((
                u128::from(n.network()),
                u128::from(n.broadcast()),
                n.prefix_len(),
                *dev,
                net,
            )),
        }
    }
    Ok(AclTables {
        v4: flatten(v4)?,
        v6: flatten(v6)?,
    })
}

type Prefix = (u128, u128, u8, DeviceId, IpNet);

fn flatten(mut prefixes: Vec<Prefix>) -> Result<RangeTable, AclError> {
    // Wider prefixes first at equal start, so nested ones come after their
    // parents and sit above them on the stack.
    prefixes.sort_by_key(|p| (p.0, p.2));
    for w in prefixes.windows(2) {
        if w[0].0 == w[1].0 && w[0].2 == w[1].2 {
            if w[0].3 != w[1].3 {
                return Err(AclError::DuplicatePrefix(w[0].4));
            }
        }
    }
    prefixes.dedup_by_key(|p| (p.0, p.2));

    let mut out = RangeTable::default();
    let mut emit = |s: u128, e: u128, d: DeviceId| {
        if let (Some(&last_e), Some(&last_d)) = (out.ends.last(), out.devices.last()) {
            if last_d == d && last_e.checked_add(1) == Some(s) {
                *out.ends.last_mut().expect("non-empty") = e;
                return;
            }
        }
        out.starts.push(s);
        out.ends.push(e);
        out.devices.push(d);
    };
    // Stack of open prefixes (end, device); `cursor` is the first address not
    // yet emitted, `None` once the whole address space is behind us.
    let mut stack: Vec<(u128, DeviceId)> = Vec::new();
    let mut cursor: Option<u128> = Some(0);
    let close = |stack: &mut Vec<(u128, DeviceId)>,
                 cursor: &mut Option<u128>,
                 emit: &mut dyn FnMut(u128, u128, DeviceId)| {
        let (end, dev) = stack.pop().expect("non-empty stack");
        if let Some(c) = *cursor {
            if c <= end {
                emit(c, end, dev);
                *cursor = end.checked_add(1);
            }
        }
    };
    for (start, end, _, dev, _) in prefixes {
        while let Some(&(top_end, _)) = stack.last() {
            if top_end < start {
                close(&mut stack, &mut cursor, &mut emit);
            } else {
                break;
            }
        }
        if let Some(&(_, top_dev)) = stack.last() {
            if let Some(c) = cursor {
                if c < start {
                    emit(c, start - 1, top_dev);
                }
            }
        }
        cursor = Some(start);
        stack.push((end, dev));
    }
    while !stack.is_empty() {
        close(&mut stack, &mut cursor, &mut emit);
    }
    Ok(out)
}

/// Canonical source for the ACL: IPv4-mapped IPv6 becomes IPv4.
#[inline]
pub fn canonical_source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive oracle: the longest prefix containing the address.
    fn oracle(entries: &[(IpNet, DeviceId)], ip: IpAddr) -> Option<DeviceId> {
        entries
            .iter()
            .filter(|(n, _)| n.trunc().contains(&ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, d)| *d)
    }

    fn lookup(t: &AclTables, ip: IpAddr) -> Option<DeviceId> {
        match ip {
            IpAddr::V4(a) => t.v4.get(u32::from(a) as u128),
            IpAddr::V6(a) => t.v6.get(u128::from(a)),
        }
    }

    #[test]
    fn nested_prefixes_most_specific_wins() {
        let entries: Vec<(IpNet, DeviceId)> = vec![
            ("10.0.0.0/8".parse().unwrap(), 1),
            ("10.1.0.0/16".parse().unwrap(), 2),
            ("10.1.2.3/32".parse().unwrap(), 3),
            ("0.0.0.0/0".parse().unwrap(), 4),
            ("255.255.255.255/32".parse().unwrap(), 5),
            ("::/0".parse().unwrap(), 6),
            ("2001:db8::/32".parse().unwrap(), 7),
        ];
        let t = build(&entries).unwrap();
        for ip in [
            "10.1.2.3",
            "10.1.2.4",
            "10.2.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "255.255.255.255",
            "255.255.255.254",
            "0.0.0.0",
            "2001:db8::1",
            "::1",
            "ffff::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(lookup(&t, ip), oracle(&entries, ip), "{ip}");
        }
    }

    #[test]
    fn duplicate_prefix_for_two_devices_is_an_error() {
        let entries: Vec<(IpNet, DeviceId)> = vec![
            ("10.0.0.0/8".parse().unwrap(), 1),
            ("10.0.0.0/8".parse().unwrap(), 2),
        ];
        assert!(matches!(build(&entries), Err(AclError::DuplicatePrefix(_))));
    }

    #[test]
    fn random_prefixes_match_linear_oracle() {
        // Small deterministic generator: nested and overlapping prefixes in a
        // narrow space so most probes hit several candidates.
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let mut entries: Vec<(IpNet, DeviceId)> = Vec::new();
            let n = 1 + (next() % 12) as usize;
            for d in 0..n {
                let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (next() as u32 & 0x0000_ffff));
                let len = 16 + (next() % 17) as u8;
                let net = IpNet::new(IpAddr::V4(addr), len).unwrap().trunc();
                if entries.iter().any(|(e, _)| *e == net) {
                    continue;
                }
                entries.push((net, d as DeviceId));
            }
            let t = build(&entries).unwrap();
            for _ in 0..300 {
                let ip = IpAddr::V4(std::net::Ipv4Addr::from(
                    0x0a00_0000 | (next() as u32 & 0x0001_ffff),
                ));
                assert_eq!(
                    lookup(&t, ip),
                    oracle(&entries, ip),
                    "round {round} ip {ip} entries {entries:?}"
                );
            }
        }
    }

    #[test]
    fn mapped_sources_are_canonicalised() {
        assert_eq!(
            canonical_source("::ffff:127.0.0.1".parse().unwrap()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical_source("::1".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
    }
}
