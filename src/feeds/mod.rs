//! Feeds in: turning the lists others publish into canonical entries.
//!
//! A feed version is bytes in one of many formats (plain lists, ranges,
//! DShield, Spamhaus, abuse.ch, PhishTank, FireHOL, Tor, CSV/JSON with
//! chosen columns, RSS/Atom, STIX 2.1). [`parse`] turns it into a
//! [`Parsed`]: the sorted unique networks it lists (host bits cleared, not
//! aggregated: the feed's content is never edited), each with the
//! reputation detail the feed gives ([`Detail`]: score, category, country,
//! reference, first seen), the counts a sanity gate and the feed-health page
//! need, and where every rejected or ignored record is.
//!
//! Invariants:
//! - parsing never fails as a whole and never panics on input: a bad record
//!   is counted and located, and the rest is read;
//! - `counts.records` + `rejected` + `ignored` + `skipped_non_records`
//!   accounts for every unit of a text feed;
//! - the entry set depends only on the bytes: same input, same output.
//!
//! Layout: [`formats`] holds one file per format, all with the same
//! `parse`/`sniff` signature, and the table `Format` names; `detect` guesses
//! a format; `addr` (addresses, prefixes, ranges), `lines`, `csv`, `json`,
//! `prose` (addresses in free text), `columns` (usual column names) and
//! `time` are what the formats share; [`cli`] is `feedwall feeds parse`.

mod addr;
mod columns;
mod csv;
mod detect;
mod json;
mod lines;
mod parsed;
mod prose;
mod time;

pub mod cli;
pub mod formats;

pub use detect::{detect, Head, HEAD_BYTES};
pub use formats::{Column, Format, FormatOptions, FormatSpec, UnknownFormat, FORMATS, NAMES};
pub use parsed::{Country, Counts, Detail, Entry, Location, Parsed, Problem, MAX_PROBLEMS};

/// Parses one feed version in `format` (`Format::Auto` guesses it first).
pub fn parse(input: &[u8], format: Format, opts: &FormatOptions) -> Parsed {
    let format = match format {
        Format::Auto => detect(input),
        f => f,
    };
    match format.spec() {
        Some(spec) => (spec.parse)(input, opts),
        None => formats::plain::parse(input, opts),
    }
}
