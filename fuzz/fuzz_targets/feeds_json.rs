//! The JSON feed parsers on any bytes: spamhaus_drop_json, feodo (its JSON
//! layout), phishtank (its JSON layout), generic_json (the address member
//! picked by the first input byte) and stix21. Input: 1 options byte, then
//! the feed.
//!
//! Besides "no panic" and the invariants of every parse (`feeds_common`):
//! - JSON lines (spamhaus_drop_json, generic_json on JSON lines): every
//!   line is exactly one of record / rejected / ignored / skipped;
//! - feodo, phishtank and stix21 entries contain an address written in the
//!   feed (after JSON unescaping, and for STIX pattern literals without
//!   their backslash escapes); phishtank's are single addresses;
//!   generic_json entries (which may come from ranges) overlap the span
//!   of the addresses of their family written in it;
//! - problems in input order (element, line, object), one per record.
#![no_main]

mod feeds_common;

use feedwall::feeds::{Format, FormatOptions, Head};
use libfuzzer_sys::fuzz_target;

use feeds_common::*;

fn options(b: u8) -> FormatOptions {
    let field = match b % 8 {
        0 | 1 | 2 => None,
        3 => Some("ip".into()),
        4 => Some("cidr".into()),
        5 => Some("source.address".into()),
        6 => Some("ip_address".into()),
        _ => Some(String::new()),
    };
    FormatOptions {
        field,
        ..FormatOptions::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, feed)) = data.split_first() else {
        return;
    };
    let head = Head::new(feed);
    let unescaped = json_unescape(feed);
    let addrs = literal_addrs(&[feed, &unescaped, &without(&unescaped, b"\\")]);
    let default = FormatOptions::default();

    let s = parse(feed, Format::SpamhausDropJson, &default);
    lines_add_up(Format::SpamhausDropJson, feed, &s);
    entries_from_literals(Format::SpamhausDropJson, &s, &addrs);

    let g = parse(feed, Format::GenericJson, &options(sel));
    let body = strip_bom(feed);
    let first = body
        .iter()
        .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    if first == Some(&b'{') && is_json_lines(body) {
        lines_add_up(Format::GenericJson, feed, &g);
    }
    entries_within_literals(Format::GenericJson, &g, &addrs);

    if head.is_json() {
        let f = parse(feed, Format::Feodo, &default);
        entries_from_literals(Format::Feodo, &f, &addrs);
        let p = parse(feed, Format::Phishtank, &default);
        entries_from_literals(Format::Phishtank, &p, &addrs);
        assert!(
            p.entries
                .iter()
                .all(|e| e.net.prefix_len() == e.net.max_prefix_len()),
            "phishtank json: ip_address is one address"
        );
    }

    let x = parse(feed, Format::Stix21, &default);
    entries_from_literals(Format::Stix21, &x, &addrs);
});

/// generic_json's own test for JSON lines: more than one non-blank line,
/// the first a whole object, the second starting one.
fn is_json_lines(body: &[u8]) -> bool {
    let mut lines = body
        .split(|&c| c == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(a), Some(b)) => a.starts_with(b"{") && a.ends_with(b"}") && b.starts_with(b"{"),
        _ => false,
    }
}
