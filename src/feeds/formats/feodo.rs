//! abuse.ch Feodo Tracker botnet C2 IP block list, in its three layouts
//! (told apart by content):
//!
//! - txt: `#` banner, one IP per line, `# END n entries` — a plain list;
//! - csv: `#` banner, then the quoted header `"first_seen_utc","dst_ip",
//!   "dst_port","c2_status","last_online","malware"` (a line of its own or a
//!   comment) and quoted rows; a row with another column count is
//!   rejected; the same IP on two ports is one entry;
//! - json: an array of `{ip_address, port, status, hostname, as_number,
//!   as_name, country, first_seen, last_online, malware}`; an element
//!   without `ip_address` is rejected.
//!
//! Malware family → category, `first_seen` → first seen, country.

use std::borrow::Cow;

use serde_json::Value;

use crate::feeds::addr;
use crate::feeds::columns::norm;
use crate::feeds::csv::{self, Row, Rows};
use crate::feeds::detect::Head;
use crate::feeds::json::{self, Element};
use crate::feeds::lines::{self, LineSyntax};
use crate::feeds::parsed::{Builder, Country, Detail, Location, Parsed};
use crate::feeds::time::parse_time;
use crate::feeds::FormatOptions;

/// The CSV columns when the file has no header.
const CSV_COLUMNS: [&str; 6] = [
    "first_seen_utc",
    "dst_ip",
    "dst_port",
    "c2_status",
    "last_online",
    "malware",
];

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let head = Head::new(input);
    let body = lines::strip_bom(input);
    match head.first {
        Some(b'[' | b'{') => parse_json(body),
        _ if is_csv(&head) => parse_csv(&String::from_utf8_lossy(body)),
        _ => lines::parse_list(input, LineSyntax::Nets),
    }
}

fn is_csv(head: &Head) -> bool {
    head.lines().take(40).any(|l| l.contains("dst_ip"))
        || head
            .data_lines()
            .take(5)
            .any(|l| l.starts_with('"') || l.contains(','))
}

fn parse_json(body: &[u8]) -> Parsed {
    let mut b = Builder::default();
    let open = json::skip_ws(body, 0);
    if body.get(open) != Some(&b'[') {
        b.reject(Location::Element(0), "not a JSON array");
        return b.finish();
    }
    for (i, el) in json::array_elements(body, open) {
        let at = Location::Element(i);
        let v = match el {
            Element::Value(v) => v,
            Element::Broken => {
                b.reject(at, "truncated JSON");
                continue;
            }
        };
        if !v.is_object() {
            b.reject(at, "element is not an object");
            continue;
        }
        let Some(ip) = json::str_field(&v, "ip_address") else {
            b.reject(at, "element without ip_address");
            continue;
        };
        match addr::parse_net(ip.as_bytes()) {
            Ok(net) => {
                b.entry(net, json_detail(&v));
                b.record();
            }
            Err(reason) => b.reject(at, reason),
        }
    }
    b.finish()
}

fn json_detail(v: &Value) -> Option<Box<Detail>> {
    Detail {
        category: json::text_field(v, "malware"),
        country: json::str_field(v, "country").and_then(Country::parse),
        first_seen: json::str_field(v, "first_seen").and_then(parse_time),
        ..Detail::default()
    }
    .boxed_if_any()
}

fn parse_csv(text: &str) -> Parsed {
    let mut b = Builder::default();
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| norm(c)).collect();
    let mut seen_header = false;
    let mut fields: Vec<Cow<str>> = Vec::new();
    for (n, row) in Rows::new(text, b',', true) {
        let record = match row {
            Row::Skip { comment } => {
                b.skip();
                // The real list writes its header as a comment.
                if let Some(c) = comment.filter(|c| !seen_header && c.contains("dst_ip")) {
                    fields.clear();
                    csv::fields(c, b',', &mut fields);
                    header = fields.iter().map(|f| norm(f)).collect();
                    seen_header = true;
                }
                continue;
            }
            Row::Record(r) => r,
        };
        fields.clear();
        csv::fields(record, b',', &mut fields);
        if !seen_header && fields.iter().any(|f| f.eq_ignore_ascii_case("dst_ip")) {
            header = fields.iter().map(|f| norm(f)).collect();
            seen_header = true;
            b.skip();
            continue;
        }
        let at = Location::Line(n);
        if fields.len() != header.len() {
            b.reject(at, "wrong column count");
            continue;
        }
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| fields.get(i))
                .map(|f| f.as_ref())
        };
        let Some(ip) = col("dstip")
            .or_else(|| col("ipaddress"))
            .or_else(|| col("ip"))
        else {
            b.reject(at, "no dst_ip column");
            continue;
        };
        match addr::parse_net(ip.as_bytes()) {
            Ok(net) => {
                let detail = Detail {
                    category: col("malware").filter(|s| !s.is_empty()).map(Box::from),
                    first_seen: col("firstseenutc")
                        .or_else(|| col("firstseen"))
                        .and_then(parse_time),
                    ..Detail::default()
                };
                b.entry(net, detail.boxed_if_any());
                b.record();
            }
            Err(reason) => b.reject(at, reason),
        }
    }
    b.finish()
}

pub fn sniff(head: &Head) -> u8 {
    if head.is_json() {
        let t = head.text;
        return if t.contains("\"ip_address\"")
            && t.contains("\"malware\"")
            && !t.contains("\"phish_id\"")
        {
            85
        } else {
            0
        };
    }
    if head
        .lines()
        .take(40)
        .any(|l| l.contains("dst_ip") && l.contains("c2_status"))
    {
        return 85;
    }
    if head
        .comments()
        .take(40)
        .any(|c| c.to_ascii_lowercase().contains("feodo"))
    {
        return 80;
    }
    0
}
