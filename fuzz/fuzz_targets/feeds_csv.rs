//! The CSV feed parsers on any bytes: generic_csv (with the options picked
//! by the first input byte: column by index or name, delimiter, header),
//! feodo (its CSV layout) and phishtank (its CSV layout). Input: 1 options
//! byte, then the feed.
//!
//! Besides "no panic" and the invariants of every parse (`feeds_common`):
//! - without a `"` in the feed every line is one row, and every row is
//!   exactly one of record / rejected / ignored / skipped (with quotes, a
//!   row may span lines: rows never outnumber lines);
//! - problems sit on distinct lines, in order;
//! - feodo and phishtank entries contain an address written in the feed
//!   (quotes removed); generic_csv entries (whose cells may be ranges) overlap
//!   the span of the addresses of their family written in it.
#![no_main]

mod feeds_common;

use feedwall::feeds::{Column, Format, FormatOptions, Head};
use libfuzzer_sys::fuzz_target;

use feeds_common::*;

/// Options byte: bits 0-2 column, bits 3-5 delimiter, bits 6-7 header.
fn options(b: u8) -> FormatOptions {
    let column = match b & 7 {
        0 | 1 => None,
        2 => Some(Column::Index(0)),
        3 => Some(Column::Index(1)),
        4 => Some(Column::Index(7)),
        5 => Some(Column::Name("ip".into())),
        6 => Some(Column::Name("dst_ip".into())),
        _ => Some(Column::Name("IP Address".into())),
    };
    let delimiter = match b >> 3 & 7 {
        0 | 1 | 2 => None,
        3 => Some(','),
        4 => Some(';'),
        5 => Some('\t'),
        6 => Some('|'),
        _ => Some('x'),
    };
    let header = match b >> 6 {
        0 | 1 => None,
        2 => Some(true),
        _ => Some(false),
    };
    FormatOptions {
        column,
        delimiter,
        header,
        field: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, feed)) = data.split_first() else {
        return;
    };
    let opts = options(sel);
    let head = Head::new(feed);
    let quoted = feed.contains(&b'"');
    let addrs = literal_addrs(&[feed, &without(feed, b"\""), &without(feed, b"\" \t")]);
    let lines = line_count(feed);

    let g = parse(feed, Format::GenericCsv, &opts);
    // A configuration the file cannot satisfy stops at the first row.
    let config_error = g.rejected.first().is_some_and(|r| {
        r.reason.starts_with("configured column") || r.reason.starts_with("column named")
    });
    if !config_error {
        rows_add_up(Format::GenericCsv, &g, lines, quoted);
    }
    entries_within_literals(Format::GenericCsv, &g, &addrs);

    // Feodo reads CSV unless the head is JSON or looks like its txt list.
    let f = parse(feed, Format::Feodo, &FormatOptions::default());
    if !head.is_json() && feodo_is_csv(&head) {
        rows_add_up(Format::Feodo, &f, lines, quoted);
    }
    if !head.is_json() {
        entries_from_literals(Format::Feodo, &f, &addrs);
    }

    // PhishTank reads CSV unless the head is JSON.
    let p = parse(feed, Format::Phishtank, &FormatOptions::default());
    if !head.is_json() {
        rows_add_up(Format::Phishtank, &p, lines, quoted);
        entries_from_literals(Format::Phishtank, &p, &addrs);
        assert!(
            p.entries
                .iter()
                .all(|e| e.net.prefix_len() == e.net.max_prefix_len()),
            "phishtank csv: a URL host is one address"
        );
    }
});

fn rows_add_up(format: Format, p: &feedwall::feeds::Parsed, lines: usize, quoted: bool) {
    let c = &p.counts;
    let rows = c.records + c.rejected + c.ignored + c.skipped_non_records;
    if quoted {
        assert!(rows <= lines, "{format}: {rows} rows in {lines} lines");
    } else {
        assert_eq!(
            rows, lines,
            "{format}: records {} + rejected {} + ignored {} + skipped {} != {lines} lines",
            c.records, c.rejected, c.ignored, c.skipped_non_records
        );
    }
    let mut at: Vec<usize> = p
        .rejected
        .iter()
        .chain(&p.ignored)
        .map(|pr| match pr.at {
            feedwall::feeds::Location::Line(n) => n,
            ref other => panic!("{format}: CSV problem at {other}"),
        })
        .collect();
    let n = at.len();
    at.sort_unstable();
    at.dedup();
    assert_eq!(at.len(), n, "{format}: two problems on one line");
    assert!(
        at.last().is_none_or(|&l| l <= lines),
        "{format}: problem past the last line"
    );
}

/// Feodo's own test for its CSV layout (`formats/feodo.rs`).
fn feodo_is_csv(head: &Head) -> bool {
    head.lines().take(40).any(|l| l.contains("dst_ip"))
        || head
            .data_lines()
            .take(5)
            .any(|l| l.starts_with('"') || l.contains(','))
}
