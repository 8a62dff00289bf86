//! The line-based feed parsers on any bytes: plain, ip_range, dshield_block,
//! spamhaus_drop_txt, firehol_netset, tor_exit and feodo (txt layout).
//!
//! Besides "no panic" and the invariants of every parse (`feeds_common`):
//! - plain and ip_range equal a naive std-only re-reading of the lines
//!   (entries, records, rejected lines, skipped lines); without a `-` in
//!   the input, ip_range equals plain;
//! - firehol_netset equals plain; tor_exit equals plain unless the head is
//!   an exit-addresses document; feodo equals plain unless its head is JSON
//!   or CSV;
//! - every line is exactly one of record / rejected / ignored / skipped,
//!   problems sit on distinct lines, in order;
//! - every entry contains an address written in the input (ip_range aside:
//!   ranges cover addresses that are not written);
//! - CRLF line ends give the same result as LF.
#![no_main]

mod feeds_common;

use feedwall::feeds::{Format, FormatOptions, Head, HEAD_BYTES};
use libfuzzer_sys::fuzz_target;

use feeds_common::*;

const LINE_FORMATS: [Format; 7] = [
    Format::Plain,
    Format::IpRange,
    Format::DshieldBlock,
    Format::SpamhausDropTxt,
    Format::FireholNetset,
    Format::TorExit,
    Format::Feodo,
];

fuzz_target!(|data: &[u8]| {
    let opts = FormatOptions::default();
    let head = Head::new(data);
    let addrs = literal_addrs(&[data]);
    // Feodo's JSON and CSV layouts unescape and unquote.
    let feodo_addrs = literal_addrs(&[data, &json_unescape(data), &without(data, b"\" \t")]);
    let plain = parse(data, Format::Plain, &opts);
    for format in LINE_FORMATS {
        let p = if format == Format::Plain {
            plain.clone()
        } else {
            parse(data, format, &opts)
        };
        let feodo_as_list = format == Format::Feodo && !head.is_json() && !feodo_is_csv(&head);
        let tor_as_list = format == Format::TorExit && !tor_is_exit_addresses(&head);
        match format {
            Format::Plain => matches_naive(format, data, &p, false),
            Format::IpRange => {
                matches_naive(format, data, &p, true);
                if !data.contains(&b'-') {
                    assert_eq!(p, plain, "ip_range without ranges differs from plain");
                }
            }
            Format::FireholNetset => assert_eq!(p, plain, "firehol_netset differs from plain"),
            _ if tor_as_list || feodo_as_list => {
                assert_eq!(p, plain, "{format} as a list differs from plain")
            }
            _ => {}
        }
        if format != Format::Feodo || feodo_as_list {
            lines_add_up(format, data, &p);
        }
        match format {
            Format::IpRange => {}
            Format::Feodo => entries_from_literals(format, &p, &feodo_addrs),
            _ => entries_from_literals(format, &p, &addrs),
        }
        if format != Format::Feodo && data.len() * 2 < HEAD_BYTES {
            let crlf = to_crlf(data);
            let q = parse(&crlf, format, &opts);
            assert_eq!(p, q, "{format}: CRLF line ends change the result");
        }
    }
});

/// Feodo's own test for its CSV layout (`formats/feodo.rs`).
fn feodo_is_csv(head: &Head) -> bool {
    head.lines().take(40).any(|l| l.contains("dst_ip"))
        || head
            .data_lines()
            .take(5)
            .any(|l| l.starts_with('"') || l.contains(','))
}

/// tor_exit's own test for the exit-addresses document.
fn tor_is_exit_addresses(head: &Head) -> bool {
    head.lines()
        .take(10)
        .any(|l| l.starts_with("ExitNode ") || l.starts_with("ExitAddress "))
}
