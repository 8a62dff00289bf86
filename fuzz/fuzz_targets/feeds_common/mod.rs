//! Shared by the feed-parser fuzz targets: the invariants every `Parsed`
//! must hold, and the naive oracles (a std-only re-reading of plain and
//! range lists, and the "every entry comes from an address written in the
//! input" check).
#![allow(dead_code)]

use std::net::IpAddr;

use feedwall::feeds::{self, Format, FormatOptions, Location, Parsed, MAX_PROBLEMS};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses twice (the result must not depend on anything but the bytes),
/// checks the invariants, returns the result.
pub fn parse(input: &[u8], format: Format, opts: &FormatOptions) -> Parsed {
    let p = feeds::parse(input, format, opts);
    let again = feeds::parse(input, format, opts);
    assert_eq!(p, again, "{format}: same input, different result");
    invariants(format, &p);
    p
}

/// What every parse result holds, whatever the format and input.
pub fn invariants(format: Format, p: &Parsed) {
    // Sorted (IPv4 first, then address, then prefix length), unique,
    // host bits cleared.
    for w in p.entries.windows(2) {
        assert!(
            w[0].net < w[1].net,
            "{format}: entries out of order or repeated: {} then {}",
            w[0].net,
            w[1].net
        );
    }
    for e in &p.entries {
        assert_eq!(e.net, e.net.trunc(), "{format}: host bits set in {}", e.net);
        if let Some(d) = &e.detail {
            assert!(
                **d != feeds::Detail::default(),
                "{format}: empty detail boxed"
            );
            if let Some(c) = d.country {
                let s = c.as_str();
                assert!(
                    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()),
                    "{format}: country {s:?}"
                );
            }
        }
    }
    let c = &p.counts;
    assert_eq!(
        c.entry_occurrences,
        p.entries.len() + c.duplicates,
        "{format}: occurrences != entries + duplicates"
    );
    assert!(
        c.records <= c.entry_occurrences,
        "{format}: a record without an entry"
    );
    assert!(
        c.entry_occurrences == 0 || c.records > 0,
        "{format}: entries without a record"
    );
    assert_eq!(
        p.rejected.len(),
        c.rejected.min(MAX_PROBLEMS),
        "{format}: rejected list vs count"
    );
    assert_eq!(
        p.ignored.len(),
        c.ignored.min(MAX_PROBLEMS),
        "{format}: ignored list vs count"
    );
    assert_eq!(p.ipv4() + p.ipv6(), p.entries.len());
    // Problems in input order, one per record.
    for list in [&p.rejected, &p.ignored] {
        for w in list.windows(2) {
            if let (Some(a), Some(b)) = (index_of(&w[0].at), index_of(&w[1].at)) {
                assert!(
                    a < b,
                    "{format}: problems out of order or twice: {} then {}",
                    w[0].at,
                    w[1].at
                );
            }
        }
    }
    for pr in p.rejected.iter().chain(&p.ignored) {
        assert!(!pr.reason.is_empty(), "{format}: problem without a reason");
        if let Location::Line(n) = pr.at {
            assert!(n >= 1, "{format}: line 0");
        }
    }
}

/// A numbered location as (kind, number); `None` for JSON paths.
fn index_of(at: &Location) -> Option<(u8, usize)> {
    match at {
        Location::Line(n) => Some((0, *n)),
        Location::Element(i) => Some((1, *i)),
        Location::Object(i) => Some((2, *i)),
        Location::Item(i) => Some((3, *i)),
        Location::ElementPath(_) => None,
    }
}

/// The input without a leading UTF-8 BOM.
pub fn strip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(BOM).unwrap_or(input)
}

/// Lines of a text feed (LF or CRLF; a missing final newline is fine), BOM
/// stripped.
pub fn line_count(input: &[u8]) -> usize {
    let input = strip_bom(input);
    let newlines = input.iter().filter(|&&c| c == b'\n').count();
    newlines + usize::from(!input.is_empty() && input.last() != Some(&b'\n'))
}

/// Every line of a line format is exactly one of: a record, rejected,
/// ignored, skipped. Problems sit on distinct lines of the input, in order.
pub fn lines_add_up(format: Format, input: &[u8], p: &Parsed) {
    let c = &p.counts;
    let units = line_count(input);
    assert_eq!(
        c.records + c.rejected + c.ignored + c.skipped_non_records,
        units,
        "{format}: records {} + rejected {} + ignored {} + skipped {} != {units} lines",
        c.records,
        c.rejected,
        c.ignored,
        c.skipped_non_records
    );
    let mut lines: Vec<usize> = p
        .rejected
        .iter()
        .chain(&p.ignored)
        .map(|pr| line_of(format, &pr.at))
        .collect();
    for w in p.rejected.windows(2) {
        assert!(
            line_of(format, &w[0].at) < line_of(format, &w[1].at),
            "{format}: rejected lines out of order"
        );
    }
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(
        lines.len(),
        p.rejected.len() + p.ignored.len(),
        "{format}: two problems on one line"
    );
    assert!(
        lines.last().is_none_or(|&l| l <= units),
        "{format}: problem past the last line"
    );
}

fn line_of(format: Format, at: &Location) -> usize {
    match at {
        Location::Line(n) => *n,
        other => panic!("{format}: a line format located a problem at {other}"),
    }
}

// ---------------------------------------------------------------------
// Oracle 1: "every entry comes from an address written in the input".

/// Addresses written in `texts`: maximal runs of hex digits, `.` and `:`,
/// whole, without sentence dots, and split at colons (ports, labels), as
/// std reads them. A superset of what any parser may take an address from.
pub fn literal_addrs(texts: &[&[u8]]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let is_tok = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
    for text in texts {
        for run in text.split(|&c| !is_tok(c)).filter(|r| !r.is_empty()) {
            let mut try_one = |s: &[u8]| {
                let s = trim_dots(s);
                if let Some(a) = std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.parse::<IpAddr>().ok())
                {
                    out.push(a);
                }
            };
            try_one(run);
            if run.contains(&b':') {
                for piece in run.split(|&c| c == b':') {
                    try_one(piece);
                }
                // `::ffff:1.2.3.4:80` and `[v6]:port` forms: every prefix
                // ending before a colon.
                for (i, &c) in run.iter().enumerate() {
                    if c == b':' {
                        try_one(&run[..i]);
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn trim_dots(mut s: &[u8]) -> &[u8] {
    while let [b'.', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'.'] = s {
        s = rest;
    }
    s
}

/// Every entry contains an address written in the input.
pub fn entries_from_literals(format: Format, p: &Parsed, addrs: &[IpAddr]) {
    for e in &p.entries {
        assert!(
            addrs.iter().any(|a| e.net.contains(a)),
            "{format}: entry {} contains no address written in the input",
            e.net
        );
    }
}

/// Every entry overlaps the span from the lowest to the highest address of
/// its family written in the input (entries of ranges need not contain any
/// written address; a CIDR's network address need not be written).
pub fn entries_within_literals(format: Format, p: &Parsed, addrs: &[IpAddr]) {
    for e in &p.entries {
        let fam: Vec<&IpAddr> = addrs
            .iter()
            .filter(|a| a.is_ipv4() == matches!(e.net, IpNet::V4(_)))
            .collect();
        let (Some(lo), Some(hi)) = (fam.iter().min(), fam.iter().max()) else {
            panic!(
                "{format}: entry {} but no address of its family in the input",
                e.net
            );
        };
        assert!(
            e.net.network() <= **hi && **lo <= e.net.broadcast(),
            "{format}: entry {} outside [{lo}, {hi}]",
            e.net
        );
    }
}

/// JSON string escapes decoded (`\u0031` is `1`, `\/` is `/`), naively,
/// over the whole text.
pub fn json_unescape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'\\' && i + 1 < input.len() {
            if input[i + 1] == b'u' {
                if let Some(c) = input
                    .get(i + 2..i + 6)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
            out.push(input[i + 1]);
            i += 2;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// XML text as an item's fields may read it: comments, processing
/// instructions, CDATA markers and tags removed (with `quoted` tags end at
/// the first `>` outside quotes, as XML readers scan attributes), then
/// character and entity references decoded (an unknown entity reads as a
/// space).
pub fn xml_text(input: &[u8], quoted: bool) -> Vec<u8> {
    let mut stripped = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let rest = &input[i..];
        let skip_to = |open: &[u8], close: &[u8]| -> Option<usize> {
            rest.starts_with(open).then(|| {
                rest.windows(close.len())
                    .position(|w| w == close)
                    .map_or(rest.len(), |p| p + close.len())
            })
        };
        if let Some(n) = skip_to(b"<!--", b"-->").or_else(|| skip_to(b"<?", b"?>")) {
            i += n;
        } else if rest.starts_with(b"<![CDATA[") {
            i += 9;
        } else if rest.starts_with(b"]]>") {
            i += 3;
        } else if rest[0] == b'<' {
            let mut quote = None;
            let mut end = rest.len();
            for (k, &c) in rest.iter().enumerate().skip(1) {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if quoted && (c == b'"' || c == b'\'') => quote = Some(c),
                    None if c == b'>' => {
                        end = k + 1;
                        break;
                    }
                    None => {}
                }
            }
            i += end;
        } else {
            stripped.push(rest[0]);
            i += 1;
        }
    }
    decode_refs(&stripped)
}

/// Character and entity references decoded (an unknown entity reads as a
/// space).
pub fn decode_refs(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'&' {
            if let Some(end) = text[i..].iter().take(40).position(|&c| c == b';') {
                let name = &text[i + 1..i + end];
                let c = match name {
                    [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32),
                    [b'#', dec @ ..] => std::str::from_utf8(dec)
                        .ok()
                        .and_then(|d| d.parse::<u32>().ok())
                        .and_then(char::from_u32),
                    b"lt" => Some('<'),
                    b"gt" => Some('>'),
                    b"amp" => Some('&'),
                    b"quot" => Some('"'),
                    b"apos" => Some('\''),
                    _ => Some(' '),
                };
                if let Some(c) = c {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += end + 1;
                    continue;
                }
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// `bytes` without any of `drop`.
pub fn without(bytes: &[u8], drop: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(|c| !drop.contains(c))
        .collect()
}

// ---------------------------------------------------------------------
// Oracle 2: plain and range lists re-read with std's parsers.

/// What a naive reading of a one-entry-per-line list finds.
#[derive(Debug, Default)]
pub struct Naive {
    pub nets: Vec<IpNet>,
    pub records: usize,
    pub rejected: Vec<usize>,
    pub skipped: usize,
}

/// Reads a plain list (or, with `ranges`, a range list) line by line with
/// std's address parsers and a naive CIDR cover; knows nothing of the
/// parser's fast paths.
pub fn naive_list(input: &[u8], ranges: bool) -> Naive {
    let input = strip_bom(input);
    let mut out = Naive::default();
    if input.is_empty() {
        return out;
    }
    let mut lines: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
    if input.ends_with(b"\n") {
        lines.pop();
    }
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() || line[0] == b'#' || line[0] == b';' {
            out.skipped += 1;
            continue;
        }
        let mut item = line;
        for k in 1..line.len() {
            if (line[k] == b'#' || line[k] == b';') && line[k - 1].is_ascii_whitespace() {
                item = line[..k].trim_ascii_end();
                break;
            }
        }
        let got = match std::str::from_utf8(item) {
            Err(_) => None,
            Ok(item) if ranges && item.contains('-') => naive_range(item),
            Ok(item) => naive_net(item).map(|n| vec![n]),
        };
        match got {
            Some(nets) => {
                out.records += 1;
                out.nets.extend(nets);
            }
            None => out.rejected.push(i + 1),
        }
    }
    out.nets.sort_unstable();
    out.nets.dedup();
    out
}

fn naive_net(s: &str) -> Option<IpNet> {
    let Some((a, l)) = s.split_once('/') else {
        return s.parse::<IpAddr>().ok().map(IpNet::from);
    };
    let a: IpAddr = a.parse().ok()?;
    let max: u32 = if a.is_ipv4() { 32 } else { 128 };
    let len = if !l.is_empty() && l.bytes().all(|c| c.is_ascii_digit()) {
        let v = l.trim_start_matches('0');
        if v.len() > 3 {
            return None;
        }
        let v: u32 = if v.is_empty() { 0 } else { v.parse().ok()? };
        if v > max {
            return None;
        }
        v as u8
    } else if a.is_ipv4() && l.contains('.') {
        let m = u32::from(l.parse::<std::net::Ipv4Addr>().ok()?);
        // A contiguous netmask, or a hostmask.
        (0..=32u32)
            .find(|&k| m == u32::MAX.checked_shl(32 - k).unwrap_or(0))
            .or_else(|| (0..=32u32).find(|&k| m == u32::MAX.checked_shr(k).unwrap_or(0)))?
            as u8
    } else {
        return None;
    };
    IpNet::new(a, len).ok().map(|n| n.trunc())
}

fn naive_range(s: &str) -> Option<Vec<IpNet>> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim_ascii(), b.trim_ascii());
    match (a.parse::<IpAddr>().ok()?, b.parse::<IpAddr>().ok()?) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Some(
            cover(u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
                .into_iter()
                .map(|(x, l)| IpNet::V4(Ipv4Net::new((x as u32).into(), l).unwrap()))
                .collect(),
        ),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Some(
            cover(u128::from(a), u128::from(b), 128)
                .into_iter()
                .map(|(x, l)| IpNet::V6(Ipv6Net::new(x.into(), l).unwrap()))
                .collect(),
        ),
        _ => None,
    }
}

/// Minimal CIDR cover of `a..=b`: from each start, the largest aligned
/// block that does not pass `b`, grown one bit at a time.
fn cover(a: u128, b: u128, bits: u32) -> Vec<(u128, u8)> {
    let mask = |k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            (1u128 << k) - 1
        }
    };
    let mut out = Vec::new();
    let mut cur = a;
    loop {
        let mut k = 0;
        while k < bits && cur & mask(k + 1) == 0 && (cur | mask(k + 1)) <= b {
            k += 1;
        }
        out.push((cur, (bits - k) as u8));
        let last = cur | mask(k);
        if last >= b {
            return out;
        }
        cur = last + 1;
    }
}

/// The parse of a plain or range list equals the naive reading.
pub fn matches_naive(format: Format, input: &[u8], p: &Parsed, ranges: bool) {
    let n = naive_list(input, ranges);
    let got: Vec<IpNet> = p.nets().collect();
    assert_eq!(
        got, n.nets,
        "{format}: entries differ from the naive reading"
    );
    assert_eq!(p.counts.records, n.records, "{format}: records");
    assert_eq!(p.counts.skipped_non_records, n.skipped, "{format}: skipped");
    let rejected: Vec<usize> = p.rejected.iter().map(|r| line_of(format, &r.at)).collect();
    assert_eq!(rejected, n.rejected, "{format}: rejected lines");
    assert_eq!(p.counts.ignored, 0, "{format}: a list ignores nothing");
}

/// LF line ends turned into CRLF.
pub fn to_crlf(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 2);
    for &c in input {
        if c == b'\n' {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}
