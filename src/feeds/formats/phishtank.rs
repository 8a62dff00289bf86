//! PhishTank's verified-online dump, JSON or CSV (told apart by content).
//!
//! - JSON: an array of phishes; the records are the `details[]` objects and
//!   each yields its `ip_address` (never `cidr_block`, which is the
//!   announcing network's prefix, not the phishing host). A phish with no
//!   details yields nothing and is ignored; a detail whose `ip_address` is
//!   missing or invalid is rejected. Locations: `[i]`, `[i].details[j]`.
//! - CSV (`phish_id,url,phish_detail_url,submission_time,verified,
//!   verification_time,online,target`): there is no IP column, so entries
//!   come only from URLs whose host is an IP literal
//!   (`http://198.51.100.7:8080/…`, `http://[2001:db8::1]/…`); a row whose
//!   host is a domain is ignored, a row with another column count rejected.
//!
//! Phish id → reference, target brand → category, submission time → first
//! seen, the detail's country → country.

use std::borrow::Cow;

use serde_json::Value;

use crate::feeds::addr::{self, Addr};
use crate::feeds::columns::norm;
use crate::feeds::csv::{self, Row, Rows};
use crate::feeds::detect::Head;
use crate::feeds::json::{self, Element};
use crate::feeds::lines;
use crate::feeds::parsed::{Builder, Country, Detail, Location, Parsed};
use crate::feeds::time::parse_time;
use crate::feeds::FormatOptions;

/// The CSV columns when the file has no header.
const CSV_COLUMNS: [&str; 8] = [
    "phish_id",
    "url",
    "phish_detail_url",
    "submission_time",
    "verified",
    "verification_time",
    "online",
    "target",
];

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let body = lines::strip_bom(input);
    if Head::new(input).is_json() {
        parse_json(body)
    } else {
        parse_csv(&String::from_utf8_lossy(body))
    }
}

fn path(i: usize, j: Option<usize>) -> Location {
    Location::ElementPath(match j {
        Some(j) => format!("[{i}].details[{j}]").into(),
        None => format!("[{i}]").into(),
    })
}

fn parse_json(body: &[u8]) -> Parsed {
    let mut b = Builder::default();
    let open = json::skip_ws(body, 0);
    if body.get(open) != Some(&b'[') {
        b.reject(path(0, None), "not a JSON array");
        return b.finish();
    }
    for (i, el) in json::array_elements(body, open) {
        let phish = match el {
            Element::Value(v) => v,
            Element::Broken => {
                b.reject(path(i, None), "truncated JSON");
                continue;
            }
        };
        let details = match phish.get("details") {
            Some(Value::Array(d)) if !d.is_empty() => d,
            None | Some(Value::Null) | Some(Value::Array(_)) if phish.is_object() => {
                b.ignore(path(i, None), "entry without details");
                continue;
            }
            _ => {
                b.reject(path(i, None), "entry is not a phish object");
                continue;
            }
        };
        for (j, d) in details.iter().enumerate() {
            let Some(ip) = json::str_field(d, "ip_address") else {
                b.reject(path(i, Some(j)), "details.ip_address missing");
                continue;
            };
            match addr::parse_addr(ip.as_bytes()) {
                Ok(a) => {
                    let detail = Detail {
                        reference: json::text_field(&phish, "phish_id"),
                        category: json::text_field(&phish, "target"),
                        country: json::str_field(d, "country").and_then(Country::parse),
                        first_seen: json::str_field(&phish, "submission_time").and_then(parse_time),
                        ..Detail::default()
                    };
                    b.entry(a.host(), detail.boxed_if_any());
                    b.record();
                }
                Err(_) => b.reject(path(i, Some(j)), "details.ip_address is not a valid IP"),
            }
        }
    }
    b.finish()
}

fn parse_csv(text: &str) -> Parsed {
    let mut b = Builder::default();
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| norm(c)).collect();
    let mut first = true;
    let mut fields: Vec<Cow<str>> = Vec::new();
    for (n, row) in Rows::new(text, b',', false) {
        let Row::Record(record) = row else {
            b.skip();
            continue;
        };
        fields.clear();
        csv::fields(record, b',', &mut fields);
        if std::mem::take(&mut first) && fields.iter().any(|f| f.eq_ignore_ascii_case("url")) {
            header = fields.iter().map(|f| norm(f)).collect();
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
        match url_host(col("url").unwrap_or("")) {
            UrlHost::Ip(a) => {
                let detail = Detail {
                    reference: col("phishid").filter(|s| !s.is_empty()).map(Box::from),
                    category: col("target").filter(|s| !s.is_empty()).map(Box::from),
                    first_seen: col("submissiontime").and_then(parse_time),
                    ..Detail::default()
                };
                b.entry(a.host(), detail.boxed_if_any());
                b.record();
            }
            UrlHost::Name => b.ignore(at, "URL host is a domain name"),
            UrlHost::Invalid(reason) => b.reject(at, reason),
        }
    }
    b.finish()
}

/// What the host of a URL is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UrlHost {
    Ip(Addr),
    Name,
    Invalid(&'static str),
}

/// The host of `scheme://[userinfo@]host[:port][/path...]`: an IP literal
/// (IPv6 in brackets), a name, or neither. A host made only of digits and
/// dots must be a valid IPv4 address.
pub(crate) fn url_host(url: &str) -> UrlHost {
    let url = url.trim();
    if url.is_empty() {
        return UrlHost::Invalid("empty URL");
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        let Some((lit, _port)) = v6.split_once(']') else {
            return UrlHost::Invalid("unclosed IPv6 literal in URL");
        };
        return match addr::parse_v6(lit.as_bytes()) {
            Ok(a) => UrlHost::Ip(Addr::V6(a)),
            Err(_) => UrlHost::Invalid("invalid IPv6 literal in URL"),
        };
    }
    let host = hostport.split(':').next().unwrap_or("");
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return UrlHost::Invalid("URL without a host");
    }
    if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return match addr::parse_v4(host.as_bytes()) {
            Ok(a) => UrlHost::Ip(Addr::V4(a)),
            Err(_) => UrlHost::Invalid("invalid IPv4 literal in URL"),
        };
    }
    UrlHost::Name
}

pub fn sniff(head: &Head) -> u8 {
    let t = head.text;
    if head.is_json() && t.contains("\"phish_id\"") {
        return 90;
    }
    match head.lines().next() {
        Some(l) if l.starts_with("phish_id,") || l.starts_with("\"phish_id\",") => 90,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("http://198.51.100.7:8080/a?b"),
            UrlHost::Ip(Addr::V4(0xC633_6407))
        );
        assert_eq!(
            url_host("https://[2001:db8::1]/x"),
            UrlHost::Ip(Addr::V6(0x2001_0db8 << 96 | 1))
        );
        assert_eq!(
            url_host("http://[2001:db8::1]:8443"),
            UrlHost::Ip(Addr::V6(0x2001_0db8 << 96 | 1))
        );
        assert_eq!(
            url_host("http://user:pw@198.51.100.7/"),
            UrlHost::Ip(Addr::V4(0xC633_6407))
        );
        assert_eq!(url_host("http://login.example/198.51.100.7"), UrlHost::Name);
        assert_eq!(url_host("http://1.2.3.4.example/"), UrlHost::Name);
        assert_eq!(
            url_host("http://010.1.2.3/"),
            UrlHost::Invalid("invalid IPv4 literal in URL")
        );
        assert_eq!(
            url_host("http://[2001:zz::1]/"),
            UrlHost::Invalid("invalid IPv6 literal in URL")
        );
        assert_eq!(url_host(""), UrlHost::Invalid("empty URL"));
    }
}
