//! CSV with the address in a configured column (RFC 4180; `#` comment
//! lines allowed).
//!
//! The column is named by header (any case) or 0-based index
//! ([`FormatOptions::column`]); by default the first column with a usual
//! address header (`ip`, `ip_address`, `cidr`...), else column 0. The first
//! row is a header when configured so, or when the column is named, or else
//! when none of its cells is an address. Every row must have the header's
//! (or the first row's) column count. The cell may be an address, a CIDR or
//! a `start-end` range. Columns with usual names (`category`, `first_seen`,
//! `score`, `country`, `id`...) become the entry's reputation detail.

use std::borrow::Cow;

use crate::feeds::addr;
use crate::feeds::columns::{self, norm, DetailColumns};
use crate::feeds::csv::{self, Row, Rows};
use crate::feeds::detect::Head;
use crate::feeds::lines;
use crate::feeds::parsed::{Builder, Location, Parsed};
use crate::feeds::{Column, FormatOptions};

/// The layout learnt from the first row.
struct Layout {
    columns: usize,
    address: usize,
    detail: DetailColumns,
}

pub fn parse(input: &[u8], opts: &FormatOptions) -> Parsed {
    let text = String::from_utf8_lossy(lines::strip_bom(input));
    let mut b = Builder::default();
    let delimiter = match opts.delimiter {
        Some(c) if c.is_ascii() => c as u8,
        _ => csv::guess_delimiter(first_record(&text)),
    };
    let mut layout: Option<Layout> = None;
    let mut fields: Vec<Cow<str>> = Vec::new();
    for (n, row) in Rows::new(&text, delimiter, true) {
        let Row::Record(record) = row else {
            b.skip();
            continue;
        };
        let at = Location::Line(n);
        fields.clear();
        csv::fields(record, delimiter, &mut fields);
        if layout.is_none() {
            match first_row(&fields, opts) {
                First::Header(l) => {
                    layout = Some(l);
                    b.skip();
                    continue;
                }
                First::Data(l) => layout = Some(l),
                First::NoColumn(reason) => {
                    // A configuration error: no row can be read.
                    b.reject(at, reason);
                    return b.finish();
                }
            }
        }
        let Some(l) = layout.as_ref() else { continue };
        if fields.len() != l.columns {
            b.reject(at, "wrong column count");
            continue;
        }
        let cell = fields[l.address].as_bytes();
        if cell.is_empty() {
            b.reject(at, "empty address field");
            continue;
        }
        let detail = l.detail.detail(&fields);
        let result = if cell.contains(&b'-') {
            addr::parse_range(cell, |net| b.entry(net, detail.clone()))
        } else {
            addr::parse_net(cell).map(|net| b.entry(net, detail))
        };
        match result {
            Ok(()) => b.record(),
            Err(reason) => b.reject(at, reason),
        }
    }
    b.finish()
}

enum First {
    Header(Layout),
    Data(Layout),
    NoColumn(&'static str),
}

fn first_row(fields: &[Cow<str>], opts: &FormatOptions) -> First {
    let names: Vec<String> = fields.iter().map(|f| norm(f)).collect();
    let any_address = fields.iter().any(|f| addr::parse_net(f.as_bytes()).is_ok());
    let header = match (opts.header, &opts.column) {
        (Some(h), _) => h,
        (None, Some(Column::Name(_))) => true,
        (None, _) => !any_address,
    };
    let address = match &opts.column {
        Some(Column::Index(i)) if *i < fields.len() => *i,
        Some(Column::Index(_)) => return First::NoColumn("configured column index beyond the row"),
        Some(Column::Name(name)) if header => match names.iter().position(|n| *n == norm(name)) {
            Some(i) => i,
            None => return First::NoColumn("configured column not in the header"),
        },
        Some(Column::Name(_)) => return First::NoColumn("column named but the file has no header"),
        None if header => columns::find(&names, columns::ADDRESS).unwrap_or(0),
        None => fields
            .iter()
            .position(|f| addr::parse_net(f.as_bytes()).is_ok())
            .unwrap_or(0),
    };
    let detail = if header {
        DetailColumns::from_header(&names, address)
    } else {
        DetailColumns::default()
    };
    let layout = Layout {
        columns: fields.len(),
        address,
        detail,
    };
    if header {
        First::Header(layout)
    } else {
        First::Data(layout)
    }
}

/// The first non-blank, non-comment line (for guessing the delimiter).
fn first_record(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
}

/// Rows with a delimiter and a consistent field count.
pub fn sniff(head: &Head) -> u8 {
    if head.is_json() || head.first == Some(b'<') {
        return 0;
    }
    let first = first_record(head.text);
    let d = csv::guess_delimiter(first);
    if !first.as_bytes().contains(&d) {
        return 0;
    }
    let count = |l: &str| {
        let mut v = Vec::new();
        csv::fields(l, d, &mut v);
        v.len()
    };
    let n = count(first);
    let rows: Vec<&str> = head.data_lines().take(20).collect();
    if rows.iter().filter(|l| count(l) == n).count() * 10 >= rows.len() * 8 {
        30
    } else {
        0
    }
}
