//! Spamhaus DROP JSON lines (`drop_v4.json`, `drop_v6.json`): one object
//! per line, `{"cidr": .., "sblid": .., "rir": ..}`, plus a
//! `{"type": "metadata", ...}` line, which is ignored (not rejected). A line
//! that is not valid JSON (a truncated download) or an object without a
//! valid `cidr` is rejected.

use serde_json::Value;

use crate::feeds::addr;
use crate::feeds::detect::Head;
use crate::feeds::json;
use crate::feeds::lines::{self, Lines};
use crate::feeds::parsed::{Builder, Detail, Location, Parsed};
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let mut b = Builder::default();
    for (n, raw) in Lines::new(lines::strip_bom(input)) {
        let line = raw.trim_ascii();
        if line.is_empty() {
            b.skip();
            continue;
        }
        let at = Location::Line(n);
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) if e.is_eof() => {
                b.reject(at, "truncated JSON");
                continue;
            }
            Err(_) => {
                b.reject(at, "malformed JSON");
                continue;
            }
        };
        if !v.is_object() {
            b.reject(at, "not a JSON object");
            continue;
        }
        if json::str_field(&v, "type") == Some("metadata") {
            b.ignore(at, "metadata object");
            continue;
        }
        let Some(cidr) = json::str_field(&v, "cidr") else {
            b.reject(at, "object without cidr");
            continue;
        };
        match addr::parse_net(cidr.as_bytes()) {
            Ok(net) => {
                b.entry(
                    net,
                    Detail {
                        reference: json::text_field(&v, "sblid"),
                        ..Detail::default()
                    }
                    .boxed_if_any(),
                );
                b.record();
            }
            Err(reason) => b.reject(at, reason),
        }
    }
    b.finish()
}

/// JSON lines whose objects carry `cidr`.
pub fn sniff(head: &Head) -> u8 {
    let mut lines = head.lines();
    match lines.next() {
        Some(first) if first.starts_with('{') && head.text.contains("\"cidr\"") => {
            if head.text.contains("\"sblid\"") {
                90
            } else {
                50
            }
        }
        _ => 0,
    }
}
