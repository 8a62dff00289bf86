//! Tor exit lists. The bulk list (`torbulkexitlist`) is one IPv4 per line
//! and parses as a plain list. The `exit-addresses` document is records of
//! keyword lines:
//!
//! ```text
//! ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E
//! Published 2026-11-03 01:02:03
//! LastStatus 2026-11-03 02:00:00
//! ExitAddress 198.51.100.7 2026-11-03 02:03:04
//! ```
//!
//! where every `ExitAddress` line is a record (its reference is the relay
//! fingerprint) and the other keyword lines are not.

use crate::feeds::addr;
use crate::feeds::detect::Head;
use crate::feeds::lines::{self, LineSyntax, Lines};
use crate::feeds::parsed::{Builder, Detail, Location, Parsed};
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    if !is_exit_addresses(&Head::new(input)) {
        return lines::parse_list(input, LineSyntax::Nets);
    }
    let mut b = Builder::default();
    let mut fingerprint: Option<Box<str>> = None;
    for (n, raw) in Lines::new(lines::strip_bom(input)) {
        let line = raw.trim_ascii();
        if line.is_empty() || lines::is_comment(line) {
            b.skip();
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_ascii_whitespace();
        match words.next() {
            Some("ExitNode") => {
                fingerprint = words.next().map(Box::from);
                b.skip();
            }
            Some("ExitAddress") => match words.next().map(|a| addr::parse_addr(a.as_bytes())) {
                Some(Ok(a)) => {
                    b.entry(
                        a.host(),
                        Detail {
                            reference: fingerprint.clone(),
                            ..Detail::default()
                        }
                        .boxed_if_any(),
                    );
                    b.record();
                }
                Some(Err(reason)) => b.reject(Location::Line(n), reason),
                None => b.reject(Location::Line(n), "ExitAddress without an address"),
            },
            Some("Published" | "LastStatus") => b.skip(),
            _ => b.reject(Location::Line(n), "not an exit-addresses line"),
        }
    }
    b.finish()
}

fn is_exit_addresses(head: &Head) -> bool {
    head.lines()
        .take(10)
        .any(|l| l.starts_with("ExitNode ") || l.starts_with("ExitAddress "))
}

/// Only the exit-addresses document is told apart; the bulk list is plain.
pub fn sniff(head: &Head) -> u8 {
    if is_exit_addresses(head) {
        95
    } else {
        0
    }
}
