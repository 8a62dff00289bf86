//! Line-oriented input: BOM, LF/CRLF, comments, and the one-entry-per-line
//! engine shared by the plain, netset, range and Tor formats.
//!
//! Rules (fixture README): a UTF-8 BOM at the start is dropped; LF and CRLF
//! both end a line; a missing final newline is fine; lines and fields are
//! trimmed; blank lines are skipped; a line starting with `#` or `;` is a
//! comment; in one-entry-per-line formats whitespace followed by `#` or `;`
//! starts a trailing comment.

use super::addr;
use super::parsed::{Builder, Location, Parsed};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The input without a leading UTF-8 byte order mark.
#[inline]
pub(crate) fn strip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(BOM).unwrap_or(input)
}

/// Lines with their 1-based numbers, line ends (`\n`, `\r\n`) removed.
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    number: usize,
}

impl<'a> Lines<'a> {
    pub fn new(input: &'a [u8]) -> Lines<'a> {
        Lines {
            rest: input,
            number: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        self.number += 1;
        let (line, rest) = match self.rest.iter().position(|&c| c == b'\n') {
            Some(nl) => (&self.rest[..nl], &self.rest[nl + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        Some((self.number, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

/// True for a whole-line comment (`line` already trimmed).
#[inline]
pub(crate) fn is_comment(line: &[u8]) -> bool {
    matches!(line.first(), Some(b'#' | b';'))
}

/// Cuts a trailing comment (whitespace then `#` or `;`) and trims.
#[inline]
pub(crate) fn strip_trailing_comment(line: &[u8]) -> &[u8] {
    let mut i = 1;
    while i < line.len() {
        let c = line[i];
        if (c == b'#' || c == b';') && line[i - 1].is_ascii_whitespace() {
            return line[..i].trim_ascii_end();
        }
        i += 1;
    }
    line
}

/// What one line of a one-entry-per-line list may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineSyntax {
    /// An address or a CIDR.
    Nets,
    /// An address, a CIDR, or a `start-end` range.
    NetsAndRanges,
}

/// Parses a one-entry-per-line list. This is the hot path of the plain and
/// range formats: no allocation per line, and a bare IPv4 address line is
/// parsed in the same pass that finds its end.
pub(crate) fn parse_list(input: &[u8], syntax: LineSyntax) -> Parsed {
    let input = strip_bom(input);
    // A typical line is 8 to 20 bytes: reserve for the common case.
    let mut b = Builder::with_capacity(input.len() / 14 + 1);
    let mut pos = 0;
    let mut n = 0;
    while pos < input.len() {
        n += 1;
        // Fast paths: a bare IPv4 address, or an IPv4 range, alone on its
        // line, parsed in the pass that finds the line's end.
        if let Some((start, i)) = v4_prefix(input, pos) {
            if let Some(next) = line_end(input, i) {
                b.entry_v4(start, 32);
                b.record();
                pos = next;
                continue;
            }
            if syntax == LineSyntax::NetsAndRanges {
                if let Some((end, next)) = v4_range_rest(input, i) {
                    if start <= end {
                        addr::summarize(u128::from(start), u128::from(end), 32, |a, len| {
                            b.entry_v4(a as u32, len)
                        });
                        b.record();
                        pos = next;
                        continue;
                    }
                }
            }
        }
        let end = input[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(input.len(), |i| pos + i);
        let line = input[pos..end].trim_ascii();
        pos = end + 1;
        if line.is_empty() || is_comment(line) {
            b.skip();
            continue;
        }
        let item = strip_trailing_comment(line);
        list_item(&mut b, n, item, syntax);
    }
    b.finish()
}

/// `a.b.c.d-e.f.g.h` (spaces around the dash allowed) with two valid IPv4
/// addresses: the range fast path. Anything else is `None`, for the general
/// path (which also names the error).
#[inline]
fn v4_range(item: &[u8]) -> Option<(u32, u32)> {
    let (start, i) = v4_prefix(item, 0)?;
    let mut i = skip_blanks(item, i);
    if item.get(i) != Some(&b'-') {
        return None;
    }
    i = skip_blanks(item, i + 1);
    let (end, i) = v4_prefix(item, i)?;
    (i == item.len()).then_some((start, end))
}

#[inline]
fn skip_blanks(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// A valid dotted-quad IPv4 address starting at `i`, and the index after
/// it (whatever follows is the caller's business).
#[inline]
fn v4_prefix(input: &[u8], mut i: usize) -> Option<(u32, usize)> {
    let mut acc: u32 = 0;
    for octet in 0..4 {
        let start = i;
        let mut v: u32 = 0;
        while i < input.len() && input[i].is_ascii_digit() && i - start < 3 {
            v = v * 10 + u32::from(input[i] - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || v > 255 || (len > 1 && input[start] == b'0') {
            return None;
        }
        acc = acc << 8 | v;
        if octet < 3 {
            if input.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    // A fourth octet of more than three digits is not an address.
    if input.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((acc, i))
}

/// The start of the next line if `input[i..]` is a line end (`\n`,
/// `\r\n`, or the end of the input).
#[inline]
fn line_end(input: &[u8], i: usize) -> Option<usize> {
    match input.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if input.get(i + 1) == Some(&b'\n') => Some(i + 2),
        _ => None,
    }
}

/// After a range's start address at `i`: `[blanks]-[blanks]e.f.g.h` and a
/// line end; the end address and the start of the next line.
#[inline]
fn v4_range_rest(input: &[u8], i: usize) -> Option<(u32, usize)> {
    let i = skip_blanks(input, i);
    if input.get(i) != Some(&b'-') {
        return None;
    }
    let (end, i) = v4_prefix(input, skip_blanks(input, i + 1))?;
    Some((end, line_end(input, i)?))
}

/// One non-comment line of a list.
#[inline]
pub(crate) fn list_item(b: &mut Builder, n: usize, item: &[u8], syntax: LineSyntax) {
    if syntax == LineSyntax::NetsAndRanges {
        if let Some((start, end)) = v4_range(item) {
            if start <= end {
                addr::summarize(u128::from(start), u128::from(end), 32, |a, len| {
                    b.entry_v4(a as u32, len)
                });
                b.record();
                return;
            }
        }
        if item.contains(&b'-') {
            match addr::range_bounds(item) {
                Ok((start, end, 32)) => {
                    addr::summarize(start, end, 32, |a, len| b.entry_v4(a as u32, len));
                    b.record();
                }
                Ok((start, end, bits)) => {
                    addr::summarize(start, end, bits, |a, len| b.entry_v6(a, len));
                    b.record();
                }
                Err(reason) => b.reject(Location::Line(n), reason),
            }
            return;
        }
    }
    match addr::parse_net(item) {
        Ok(net) => {
            b.entry(net, None);
            b.record();
        }
        Err(reason) => {
            let reason = if item.contains(&b'-') && addr::range_bounds(item).is_ok() {
                "range in a plain list (format ip_range takes ranges)"
            } else {
                reason
            };
            b.reject(Location::Line(n), reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_handle_crlf_and_missing_final_newline() {
        let v: Vec<_> = Lines::new(b"a\r\nb\n\nc").collect();
        assert_eq!(
            v,
            vec![
                (1, &b"a"[..]),
                (2, &b"b"[..]),
                (3, &b""[..]),
                (4, &b"c"[..])
            ]
        );
        assert_eq!(Lines::new(b"").count(), 0);
        assert_eq!(Lines::new(b"x\n").count(), 1);
    }

    #[test]
    fn bare_ipv4_lines_take_the_fast_path_only_when_exact() {
        let bare = |s: &[u8], i| v4_prefix(s, i).and_then(|(a, i)| Some((a, line_end(s, i)?)));
        assert_eq!(bare(b"1.2.3.4\nx", 0), Some((0x0102_0304, 8)));
        assert_eq!(bare(b"x\n255.0.0.10\r\n", 2), Some((0xFF00_000A, 14)));
        assert_eq!(bare(b"1.2.3.4", 0), Some((0x0102_0304, 7)));
        for s in [
            "1.2.3.4 ",
            "1.2.3.4/32",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4.5",
            "1.2.3",
            "1.2.3.1234",
            "1.2.3.4\r",
        ] {
            assert_eq!(bare(s.as_bytes(), 0), None, "{s}");
        }
        let range = |s: &[u8]| v4_prefix(s, 0).and_then(|(a, i)| Some((a, v4_range_rest(s, i)?)));
        assert_eq!(
            range(b"1.2.3.4 - 1.2.3.9\r\n"),
            Some((0x0102_0304, (0x0102_0309, 19)))
        );
        assert_eq!(range(b"1.2.3.4-1.2.3.9 # c\n"), None);
    }

    #[test]
    fn ipv4_ranges_take_the_fast_path_only_when_exact() {
        assert_eq!(
            v4_range(b"1.2.3.4-1.2.3.9"),
            Some((0x0102_0304, 0x0102_0309))
        );
        assert_eq!(
            v4_range(b"1.2.3.4 \t- 1.2.3.9"),
            Some((0x0102_0304, 0x0102_0309))
        );
        assert_eq!(
            v4_range(b"1.2.3.9-1.2.3.4"),
            Some((0x0102_0309, 0x0102_0304)),
            "order is the caller's check"
        );
        for s in [
            "1.2.3.4-",
            "1.2.3.4-1.2.3.4.5",
            "1.2.3.4-1.2.3.1234",
            "1.2.3.4-01.2.3.4",
            "1.2.3.4/24-1.2.4.0",
            "1.2.3.4-2001:db8::1",
            "1.2.3.4",
        ] {
            assert_eq!(v4_range(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn trailing_comments_need_whitespace() {
        assert_eq!(
            strip_trailing_comment(b"198.51.100.7 # note"),
            b"198.51.100.7"
        );
        assert_eq!(
            strip_trailing_comment(b"198.51.100.7\t; note"),
            b"198.51.100.7"
        );
        assert_eq!(
            strip_trailing_comment(b"198.51.100.7#note"),
            b"198.51.100.7#note"
        );
    }

    #[test]
    fn plain_lists_count_every_kind_of_line() {
        let text = "\u{feff}# header\r\n1.2.3.4\r\n10.0.0.0/30 # trailing\n\n; semi\n2001:DB8::1\n2001:db8:0::1\nnot-an-ip\n300.1.1.1\n5.6.7.8/33\n192.0.2.77/24\n1.2.3.4/32\n1.1.1.1-1.1.1.2";
        let p = parse_list(text.as_bytes(), LineSyntax::Nets);
        let nets: Vec<String> = p.nets().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            [
                "1.2.3.4/32",
                "10.0.0.0/30",
                "192.0.2.0/24",
                "2001:db8::1/128"
            ]
        );
        let lines: Vec<_> = p.rejected.iter().map(|r| r.at.clone()).collect();
        assert_eq!(lines, [8, 9, 10, 13].map(Location::Line));
        assert_eq!(p.rejected[0].reason, "not an IP address");
        assert_eq!(
            p.rejected[3].reason,
            "range in a plain list (format ip_range takes ranges)"
        );
        assert_eq!(p.counts.records, 6);
        assert_eq!(p.counts.duplicates, 2);
        assert_eq!(p.counts.skipped_non_records, 3);
    }

    /// The fast paths and the general path against a naive oracle built on
    /// std's parsers, over random lines of every shape.
    #[test]
    fn list_parsing_matches_a_naive_oracle() {
        use std::net::{IpAddr, Ipv4Addr};
        let mut x = 0x0DDB_1A5E_5BAD_5EEDu64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let octets = [
            "0", "1", "9", "10", "99", "192", "255", "01", "256", "999", "1000", "",
        ];
        let lens = [
            "0", "8", "24", "30", "32", "33", "", "-1", "24/8", "024", "x",
        ];
        let v6s = [
            "2001:db8::1",
            "2001:DB8::1",
            "2001:db8:0:0::1",
            "2001:db8:::1",
            "::",
            "::ffff:1.2.3.4",
            "2001:db8::zz",
            "2001:0db8::00001",
            "2001:db8::",
            "2001:db8::ff",
            "1::2::3",
        ];
        // Mostly valid octets (the first seven), some bad ones.
        let v4 = |rnd: &mut dyn FnMut(u64) -> u64| {
            let n = if rnd(10) == 0 { 3 + rnd(3) } else { 4 };
            (0..n)
                .map(|_| {
                    octets[if rnd(10) < 9 {
                        rnd(7)
                    } else {
                        rnd(octets.len() as u64)
                    } as usize]
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        let mut text = String::new();
        for _ in 0..30_000 {
            let body = match rnd(12) {
                0..=3 => v4(&mut rnd),
                4 => format!("{}/{}", v4(&mut rnd), lens[rnd(lens.len() as u64) as usize]),
                5 => v6s[rnd(v6s.len() as u64) as usize].to_string(),
                6 => format!(
                    "{}/{}",
                    v6s[rnd(v6s.len() as u64) as usize],
                    ["64", "128", "129", ""][rnd(4) as usize]
                ),
                7 | 8 => format!(
                    "{}{}{}",
                    v4(&mut rnd),
                    ["-", " - ", "\t-", "- "][rnd(4) as usize],
                    v4(&mut rnd)
                ),
                9 => format!(
                    "{}-{}",
                    v6s[rnd(v6s.len() as u64) as usize],
                    v6s[rnd(v6s.len() as u64) as usize]
                ),
                10 => format!("{}-{}", v4(&mut rnd), v6s[rnd(v6s.len() as u64) as usize]),
                _ => {
                    ["", "# comment", "; comment", "not-an-ip", "N/A"][rnd(5) as usize].to_string()
                }
            };
            let before = ["", "", "", " ", "\t"][rnd(5) as usize];
            let after =
                ["", "", "", "", " ", " # note", "\t; note", "#note", "\r"][rnd(9) as usize];
            text.push_str(before);
            text.push_str(&body);
            text.push_str(after);
            text.push('\n');
        }
        // Oracle: one line at a time with std parsing and a naive cover.
        let oracle = |syntax: LineSyntax| {
            let (mut nets, mut rejected, mut skipped) = (Vec::new(), Vec::new(), 0);
            for (i, raw) in text
                .split('\n')
                .enumerate()
                .take(text.split('\n').count() - 1)
            {
                let line = raw.trim_matches(|c: char| c.is_ascii_whitespace());
                if line.is_empty() || line.starts_with(['#', ';']) {
                    skipped += 1;
                    continue;
                }
                let mut item = line;
                for (p, c) in line.char_indices().skip(1) {
                    if (c == '#' || c == ';') && line.as_bytes()[p - 1].is_ascii_whitespace() {
                        item = line[..p].trim_end_matches(|c: char| c.is_ascii_whitespace());
                        break;
                    }
                }
                let one = |s: &str| -> Option<IpAddr> {
                    // std rejects leading zeros in IPv4 octets, like the README.
                    s.parse::<IpAddr>().ok()
                };
                let net = |s: &str| -> Option<ipnet::IpNet> {
                    match s.split_once('/') {
                        None => one(s).map(ipnet::IpNet::from),
                        Some((a, l)) if !l.is_empty() && l.bytes().all(|c| c.is_ascii_digit()) => {
                            let a = one(a)?;
                            let l: u8 = l.parse().ok()?;
                            ipnet::IpNet::new(a, l).ok().map(|n| n.trunc())
                        }
                        _ => None,
                    }
                };
                if syntax == LineSyntax::NetsAndRanges && item.contains('-') {
                    let (a, b) = item.split_once('-').unwrap();
                    match (one(a.trim()), one(b.trim())) {
                        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) if a <= b => {
                            let (mut cur, end) = (u64::from(u32::from(a)), u64::from(u32::from(b)));
                            while cur <= end {
                                let mut k = 0;
                                while k < 32
                                    && cur % (1 << (k + 1)) == 0
                                    && cur + (1 << (k + 1)) - 1 <= end
                                {
                                    k += 1;
                                }
                                nets.push(
                                    ipnet::IpNet::new(
                                        IpAddr::V4(Ipv4Addr::from(cur as u32)),
                                        32 - k,
                                    )
                                    .unwrap(),
                                );
                                cur += 1 << k;
                            }
                        }
                        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) if a <= b => {
                            let mut v = Vec::new();
                            addr::summarize(u128::from(a), u128::from(b), 128, |s, l| {
                                v.push(ipnet::IpNet::new(IpAddr::V6(s.into()), l).unwrap())
                            });
                            nets.extend(v);
                        }
                        _ => rejected.push(Location::Line(i + 1)),
                    }
                    continue;
                }
                match net(item) {
                    Some(n) => nets.push(n),
                    None => rejected.push(Location::Line(i + 1)),
                }
            }
            nets.sort_unstable();
            nets.dedup();
            (nets, rejected, skipped)
        };
        for syntax in [LineSyntax::Nets, LineSyntax::NetsAndRanges] {
            let p = parse_list(text.as_bytes(), syntax);
            let (nets, rejected, skipped) = oracle(syntax);
            assert!(
                nets.len() > 1000 && rejected.len() > 1000,
                "{} {}",
                nets.len(),
                rejected.len()
            );
            assert_eq!(p.nets().collect::<Vec<_>>(), nets, "{syntax:?}");
            assert_eq!(p.counts.rejected, rejected.len());
            // Locations are kept up to MAX_PROBLEMS.
            let rejected = &rejected[..rejected.len().min(crate::feeds::MAX_PROBLEMS)];
            let got: Vec<Location> = p.rejected.iter().map(|r| r.at.clone()).collect();
            let lines: Vec<&str> = text.split('\n').collect();
            let show = |l: &Location| match l {
                Location::Line(n) => format!("{n}: {:?}", lines[n - 1]),
                other => other.to_string(),
            };
            let only_ours: Vec<String> = got
                .iter()
                .filter(|l| !rejected.contains(l))
                .take(5)
                .map(show)
                .collect();
            let only_oracle: Vec<String> = rejected
                .iter()
                .filter(|l| !got.contains(l))
                .take(5)
                .map(show)
                .collect();
            assert!(
                only_ours.is_empty() && only_oracle.is_empty(),
                "{syntax:?}: rejected only by us {only_ours:?}, only by the oracle {only_oracle:?}"
            );
            assert_eq!(p.counts.skipped_non_records, skipped);
        }
    }

    #[test]
    fn range_lists_take_ranges_and_plain_entries() {
        let p = parse_list(
            b"1.1.1.0 - 1.1.1.3 # four\n1.1.2.0/24\n9.9.9.9\n1.1.1.5-1.1.1.4\n",
            LineSyntax::NetsAndRanges,
        );
        let nets: Vec<String> = p.nets().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["1.1.1.0/30", "1.1.2.0/24", "9.9.9.9/32"]);
        assert_eq!(p.rejected[0].at, Location::Line(4));
        assert_eq!(p.rejected[0].reason, "start greater than end");
    }
}
