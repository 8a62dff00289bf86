//! Format detection and every parser of the `FORMATS` table on any bytes.
//!
//! - `detect` never answers `Auto`, and `parse(.., Auto, ..)` is the parse
//!   in the detected format;
//! - every format's parse holds the invariants (`feeds_common`) and is
//!   deterministic;
//! - a leading UTF-8 BOM changes neither the detected format nor any
//!   format's result.
#![no_main]

mod feeds_common;

use feedwall::feeds::{self, detect, Format, FormatOptions, FORMATS, HEAD_BYTES};
use libfuzzer_sys::fuzz_target;

use feeds_common::*;

fuzz_target!(|data: &[u8]| {
    let opts = FormatOptions::default();
    let f = detect(data);
    assert_ne!(f, Format::Auto, "detect answered auto");
    assert!(f.spec().is_some());
    let auto = parse(data, Format::Auto, &opts);
    assert_eq!(
        auto,
        feeds::parse(data, f, &opts),
        "auto is not the parse in the detected format ({f})"
    );

    let with_bom =
        (!data.starts_with(BOM) && data.len() < HEAD_BYTES).then(|| [BOM, data].concat());
    if let Some(b) = &with_bom {
        assert_eq!(detect(b), f, "a BOM changes the detected format");
    }
    for spec in FORMATS {
        let p = parse(data, spec.format, &opts);
        if let Some(b) = &with_bom {
            assert_eq!(
                feeds::parse(b, spec.format, &opts),
                p,
                "{}: a BOM changes the result",
                spec.name
            );
        }
    }
});
