//! Addresses mentioned in free text (RSS/Atom titles and descriptions).
//!
//! Text is cut into tokens of letters, digits, `.` and `:`; everything else
//! (spaces, punctuation, HTML tags, brackets, `/`) separates them. A token
//! is an address only as a whole, so `999.1.2.3`, `1.2.3.4.5`, `9.8p1` and
//! dates are not addresses (no partial matches). Allowed around a whole
//! address: sentence dots (`... from 1.2.3.4.`), a port (`1.2.3.4:443`,
//! `[2001:db8::1]:8443`), a label (`IP:1.2.3.4`), and a prefix length right
//! after it (`1.2.3.0/24`), which makes it a network.

use ipnet::IpNet;

use super::addr::{self, Addr};

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b':'
}

/// Calls `found` for every address or network mentioned in `text`.
pub(crate) fn addresses_in(text: &str, mut found: impl FnMut(IpNet)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_token(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        token(&b[start..i], &b[i..], &mut found);
    }
}

fn token(t: &[u8], after: &[u8], found: &mut impl FnMut(IpNet)) {
    let t = trim_start(t, b'.');
    if !t.iter().any(u8::is_ascii_digit) {
        return;
    }
    let bare = trim_end(t, b'.');
    // The whole token (less sentence dots) as IPv6.
    if bare.iter().filter(|&&c| c == b':').count() >= 2 && bare.iter().any(u8::is_ascii_hexdigit) {
        if let Ok(a) = addr::parse_v6(bare) {
            with_prefix(
                Addr::V6(a),
                if bare.len() == t.len() { after } else { b"" },
                found,
            );
            return;
        }
    }
    // Otherwise IPv4 pieces between colons (labels, ports).
    let pieces = t.split(|&c| c == b':').count();
    for (k, piece) in t.split(|&c| c == b':').enumerate() {
        let p = trim_end(piece, b'.');
        if p.contains(&b'.') {
            if let Ok(a) = addr::parse_v4(p) {
                let last_whole = k + 1 == pieces && p.len() == piece.len();
                with_prefix(Addr::V4(a), if last_whole { after } else { b"" }, found);
            }
        }
    }
}

/// Emits `a`, or `a/len` when the text right after it is `/len` (and the
/// length fits the family; an impossible length drops the match).
fn with_prefix(a: Addr, after: &[u8], found: &mut impl FnMut(IpNet)) {
    let max = match a {
        Addr::V4(_) => 32,
        Addr::V6(_) => 128,
    };
    if let Some(rest) = after.strip_prefix(b"/") {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let next = rest.get(digits).copied();
        let next2 = rest.get(digits + 1).copied();
        let ends = match next {
            None => true,
            Some(c) if c.is_ascii_alphanumeric() || c == b'/' => false,
            Some(b'.' | b':') => !next2.is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(_) => true,
        };
        if (1..=3).contains(&digits) && ends {
            let len: u32 = rest[..digits]
                .iter()
                .fold(0, |v, &c| v * 10 + u32::from(c - b'0'));
            if len <= max {
                found(addr::network(a, len as u8));
            }
            return;
        }
    }
    found(a.host());
}

fn trim_start(mut t: &[u8], c: u8) -> &[u8] {
    while let [first, rest @ ..] = t {
        if *first != c {
            break;
        }
        t = rest;
    }
    t
}

fn trim_end(mut t: &[u8], c: u8) -> &[u8] {
    while let [rest @ .., last] = t {
        if *last != c {
            break;
        }
        t = rest;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        addresses_in(text, |n| v.push(n.to_string()));
        v
    }

    #[test]
    fn whole_addresses_only() {
        assert_eq!(
            found("from <b>205.207.127.235</b>. Block it."),
            ["205.207.127.235/32"]
        );
        assert_eq!(
            found("bad 999.1.2.3 and 1.2.3.4.5 and 010.1.2.3"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("OpenSSH 9.8p1 on 2026.11.02, version 4.2.1, CVE-2026-43283, 14:33:00"),
            Vec::<String>::new()
        );
        assert_eq!(found("at 2026-11-01."), Vec::<String>::new());
    }

    #[test]
    fn ports_labels_and_brackets() {
        assert_eq!(
            found("<li>75.134.192.185:443</li><li>[2407:ceb1:4d69:e7be::f8]:8443</li>"),
            ["75.134.192.185/32", "2407:ceb1:4d69:e7be::f8/128"]
        );
        assert_eq!(
            found("IP:198.51.100.7, http://198.51.100.8:8080/x"),
            ["198.51.100.7/32", "198.51.100.8/32"]
        );
        assert_eq!(found("mapped ::ffff:1.2.3.4 here"), ["::ffff:1.2.3.4/128"]);
        assert_eq!(
            found("Sources 70.253.52.0, 8.13.117.174; reported"),
            ["70.253.52.0/32", "8.13.117.174/32"]
        );
    }

    #[test]
    fn prefixes_make_networks() {
        assert_eq!(found("from 46.118.196.0/22, and"), ["46.118.196.0/22"]);
        assert_eq!(found("net 2001:DB8::/32."), ["2001:db8::/32"]);
        assert_eq!(found("net 1.2.3.4/24."), ["1.2.3.0/24"]);
        assert_eq!(found("path http://1.2.3.4/24/index"), ["1.2.3.4/32"]);
        assert_eq!(found("bad 1.2.3.4/40 len"), Vec::<String>::new());
        assert_eq!(found("a 2001:db8::1. b"), ["2001:db8::1/128"]);
    }
}
