//! Prefixes as the archive keys them.
//!
//! In memory a prefix is a [`PrefixKey`] (family, network as `u128` with host
//! bits cleared, length): cheap to sort and compare when diffing versions. On
//! disk it is a blob: the network's 4 or 16 address bytes then one length
//! byte (5 or 17 bytes), so the family is implied by the blob length and one
//! prefix has exactly one blob.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 family tag (also the `prefix_lens.family` value).
pub const V4: u8 = 4;
/// IPv6 family tag.
pub const V6: u8 = 6;

/// A canonical prefix: host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrefixKey {
    family: u8,
    net: u128,
    len: u8,
}

/// The blob form of a prefix (5 or 17 bytes used).
pub struct Blob {
    buf: [u8; 17],
    used: u8,
}

impl Blob {
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.used as usize]
    }
}

fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

impl PrefixKey {
    /// The prefix of `net`, host bits cleared.
    pub fn of_net(net: &IpNet) -> PrefixKey {
        match net {
            IpNet::V4(n) => PrefixKey::v4(n.addr(), n.prefix_len()),
            IpNet::V6(n) => PrefixKey::v6(n.addr(), n.prefix_len()),
        }
    }

    /// The network of length `len` containing `addr` (IPv4-mapped IPv6
    /// addresses are taken as IPv4, as firewalls log them).
    pub fn of_addr(addr: IpAddr, len: u8) -> PrefixKey {
        match canonical(addr) {
            IpAddr::V4(a) => PrefixKey::v4(a, len),
            IpAddr::V6(a) => PrefixKey::v6(a, len),
        }
    }

    fn v4(a: Ipv4Addr, len: u8) -> PrefixKey {
        let len = len.min(32);
        PrefixKey {
            family: V4,
            net: (u32::from(a) & mask_v4(len)) as u128,
            len,
        }
    }

    fn v6(a: Ipv6Addr, len: u8) -> PrefixKey {
        let len = len.min(128);
        PrefixKey {
            family: V6,
            net: u128::from(a) & mask_v6(len),
            len,
        }
    }

    pub fn family(&self) -> u8 {
        self.family
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn to_net(self) -> IpNet {
        // The lengths are in range by construction.
        match self.family {
            V4 => IpNet::V4(Ipv4Net::new_assert(
                Ipv4Addr::from(self.net as u32),
                self.len,
            )),
            _ => IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(self.net), self.len)),
        }
    }

    pub fn blob(&self) -> Blob {
        let mut buf = [0u8; 17];
        if self.family == V4 {
            buf[..4].copy_from_slice(&(self.net as u32).to_be_bytes());
            buf[4] = self.len;
            Blob { buf, used: 5 }
        } else {
            buf[..16].copy_from_slice(&self.net.to_be_bytes());
            buf[16] = self.len;
            Blob { buf, used: 17 }
        }
    }

    /// Reads a blob back; `None` for a malformed one (wrong size, length out
    /// of range, host bits set).
    pub fn from_blob(b: &[u8]) -> Option<PrefixKey> {
        let key = match b.len() {
            5 if b[4] <= 32 => PrefixKey::v4(Ipv4Addr::new(b[0], b[1], b[2], b[3]), b[4]),
            17 if b[16] <= 128 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&b[..16]);
                PrefixKey::v6(Ipv6Addr::from(a), b[16])
            }
            _ => return None,
        };
        (key.blob().as_slice() == b).then_some(key)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4; everything else unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    }
}

/// Family tag of an address (after [`canonical`]).
pub fn family_of(addr: IpAddr) -> u8 {
    match canonical(addr) {
        IpAddr::V4(_) => V4,
        IpAddr::V6(_) => V6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_canonical() {
        for s in [
            "198.51.100.7/24",
            "0.0.0.0/0",
            "203.0.113.9/32",
            "2001:db8::1/32",
            "::/0",
            "2001:db8::1/128",
        ] {
            let n: IpNet = s.parse().unwrap();
            let k = PrefixKey::of_net(&n);
            assert_eq!(k.to_net(), n.trunc());
            assert_eq!(PrefixKey::from_blob(k.blob().as_slice()), Some(k));
        }
        assert_eq!(
            PrefixKey::from_blob(&[10, 0, 0, 1, 24]),
            None,
            "host bits set"
        );
        assert_eq!(PrefixKey::from_blob(&[10, 0, 0, 0, 33]), None);
        assert_eq!(PrefixKey::from_blob(&[10, 0, 0]), None);
        let a: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            PrefixKey::of_addr(a, 24).to_net().to_string(),
            "198.51.100.0/24"
        );
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        assert_eq!(PrefixKey::of_addr(mapped, 24), PrefixKey::of_addr(a, 24));
    }
}
