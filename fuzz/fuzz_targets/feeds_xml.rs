//! The RSS/Atom feed parser on any bytes.
//!
//! Besides "no panic" and the invariants of every parse (`feeds_common`):
//! - reading stops at the first damage: at most one rejected item, located
//!   at or after every ignored one;
//! - records and ignored items never outnumber the `item` / `entry` start
//!   tags in the input;
//! - every entry contains an address written in the input, as text or
//!   after removing markup and decoding character and entity references.
#![no_main]

mod feeds_common;

use feedwall::feeds::{Format, FormatOptions, Location};
use libfuzzer_sys::fuzz_target;

use feeds_common::*;

fuzz_target!(|data: &[u8]| {
    let p = parse(data, Format::Rss, &FormatOptions::default());
    let c = &p.counts;
    assert!(c.rejected <= 1, "rss: reading goes on after damage");
    let item = |at: &Location| match at {
        Location::Item(i) => *i,
        other => panic!("rss: problem at {other}"),
    };
    if let (Some(r), Some(i)) = (p.rejected.first(), p.ignored.last()) {
        assert!(
            item(&r.at) >= item(&i.at),
            "rss: rejected item before an ignored one"
        );
    }
    let starts = count(data, b"item") + count(data, b"entry");
    assert!(
        c.records + c.ignored <= starts,
        "rss: {} items read, {starts} item/entry tags",
        c.records + c.ignored
    );
    let addrs = literal_addrs(&[
        data,
        &decode_refs(data),
        &xml_text(data, true),
        &xml_text(data, false),
    ]);
    entries_from_literals(Format::Rss, &p, &addrs);
});

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
