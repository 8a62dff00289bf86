//! STIX 2.1 bundles (also a TAXII envelope `{"objects": [...]}` or a bare
//! array of objects).
//!
//! Records are the `indicator` objects with `pattern_type: "stix"` (a
//! missing `pattern_type` is STIX 2.0, whose patterns are all STIX). Every
//! `ipv4-addr:value` / `ipv6-addr:value` comparison in the pattern yields its
//! literal: `=` and `ISSUBSET` take one, `IN (...)` a list; comparisons
//! under `!=`, `NOT` or ordering operators yield nothing. Across `AND`/`OR`
//! and across observations, every comparison counts. Other object types are
//! not records; an indicator of another pattern type, one with no IP
//! comparison, and a revoked one are ignored; an IP comparison whose
//! literal is missing or not an address of its family rejects the whole
//! indicator. Locations are `objects[i]`.
//!
//! Indicator id → reference, `valid_from` → first seen, the first
//! `indicator_types` value → category, `confidence` → score.

use ipnet::IpNet;
use serde_json::Value;

use crate::feeds::addr;
use crate::feeds::detect::Head;
use crate::feeds::json::{self, Element};
use crate::feeds::lines;
use crate::feeds::parsed::{Builder, Detail, Location, Parsed};
use crate::feeds::time::parse_time;
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let body = lines::strip_bom(input);
    let mut b = Builder::default();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(objects)) => objects
            .into_iter()
            .enumerate()
            .for_each(|(i, o)| object(&mut b, i, o)),
        Ok(Value::Object(mut doc)) => match doc.remove("objects") {
            Some(Value::Array(objects)) => objects
                .into_iter()
                .enumerate()
                .for_each(|(i, o)| object(&mut b, i, o)),
            // A single object.
            _ => object(&mut b, 0, Value::Object(doc)),
        },
        Ok(_) => b.reject(Location::Object(0), "not a STIX bundle"),
        Err(_) => {
            // Damaged document: read the objects up to the damage.
            let open = match json::skip_ws(body, 0) {
                p if body.get(p) == Some(&b'[') => Some(p),
                _ => json::find_array_of(body, "objects"),
            };
            match open {
                Some(open) => {
                    for (i, el) in json::array_elements(body, open) {
                        match el {
                            Element::Value(o) => object(&mut b, i, o),
                            Element::Broken => b.reject(Location::Object(i), "truncated JSON"),
                        }
                    }
                }
                None => b.reject(Location::Object(0), "malformed JSON"),
            }
        }
    }
    b.finish()
}

fn object(b: &mut Builder, i: usize, o: Value) {
    if json::str_field(&o, "type") != Some("indicator") {
        return; // identities, relationships, SCOs...: not records
    }
    let at = Location::Object(i);
    if o.get("revoked").and_then(Value::as_bool) == Some(true) {
        b.ignore(at, "revoked indicator");
        return;
    }
    if !matches!(json::str_field(&o, "pattern_type"), None | Some("stix")) {
        b.ignore(at, "pattern_type is not 'stix'");
        return;
    }
    let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
        b.reject(at, "indicator without pattern");
        return;
    };
    let mut nets = Vec::new();
    match ip_values(pattern, |n| nets.push(n)) {
        Err(reason) => b.reject(at, reason),
        Ok(0) => b.ignore(at, "not an IP indicator"),
        Ok(_) if nets.is_empty() => b.ignore(at, "no IP equality comparison"),
        Ok(_) => {
            let detail = Detail {
                reference: json::text_field(&o, "id"),
                first_seen: json::str_field(&o, "valid_from").and_then(parse_time),
                category: o
                    .get("indicator_types")
                    .and_then(|t| t.get(0))
                    .and_then(Value::as_str)
                    .map(Box::from),
                score: json::score_field(&o, "confidence"),
                ..Detail::default()
            };
            let detail = detail.boxed_if_any();
            for net in nets {
                b.entry(net, detail.clone());
            }
            b.record();
        }
    }
}

/// Finds the IP comparisons of a STIX pattern and hands the network of each
/// yielding literal to `found`. Returns how many IP comparisons the pattern
/// has.
fn ip_values(pattern: &str, mut found: impl FnMut(IpNet)) -> Result<usize, &'static str> {
    let p = pattern.as_bytes();
    let mut comparisons = 0;
    let mut from = 0;
    while let Some((pos, v6)) = next_path(p, from) {
        comparisons += 1;
        let mut i = pos + if v6 { IPV6.len() } else { IPV4.len() };
        i = skip_spaces(p, i);
        let negated = word_at(p, i, b"NOT");
        if negated {
            i = skip_spaces(p, i + 3);
        }
        let op = operator(p, i);
        i = skip_spaces(p, i + op.len());
        let yields = !negated && matches!(op, Op::Eq | Op::IsSubset | Op::In);
        let mut literal = |i: usize| -> Result<usize, &'static str> {
            let (text, end) = string_literal(p, i).ok_or("malformed IP pattern")?;
            let net = addr::parse_net(text.as_bytes()).map_err(|_| "malformed IP pattern")?;
            if matches!(net, IpNet::V6(_)) != v6 {
                return Err("malformed IP pattern");
            }
            if yields {
                found(net);
            }
            Ok(end)
        };
        match op {
            Op::In => {
                if p.get(i) != Some(&b'(') {
                    return Err("malformed IP pattern");
                }
                i = skip_spaces(p, i + 1);
                loop {
                    i = skip_spaces(p, literal(i)?);
                    match p.get(i) {
                        Some(b',') => i = skip_spaces(p, i + 1),
                        Some(b')') => break,
                        _ => return Err("malformed IP pattern"),
                    }
                }
            }
            Op::Other(0) => return Err("malformed IP pattern"),
            _ => i = literal(i)?,
        }
        from = i;
    }
    Ok(comparisons)
}

const IPV4: &[u8] = b"ipv4-addr:value";
const IPV6: &[u8] = b"ipv6-addr:value";

/// Next `ipv4-addr:value` / `ipv6-addr:value` object path at or after
/// `from`, outside string literals.
fn next_path(p: &[u8], mut i: usize) -> Option<(usize, bool)> {
    while i < p.len() {
        match p[i] {
            b'\'' => i = string_literal(p, i).map_or(p.len(), |(_, end)| end),
            _ if p[i..].starts_with(IPV4) && boundary_before(p, i) => return Some((i, false)),
            _ if p[i..].starts_with(IPV6) && boundary_before(p, i) => return Some((i, true)),
            _ => i += 1,
        }
    }
    None
}

fn boundary_before(p: &[u8], i: usize) -> bool {
    i == 0 || !(p[i - 1].is_ascii_alphanumeric() || p[i - 1] == b'-' || p[i - 1] == b'_')
}

fn skip_spaces(p: &[u8], mut i: usize) -> usize {
    while i < p.len() && p[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn word_at(p: &[u8], i: usize, w: &[u8]) -> bool {
    p[i.min(p.len())..].starts_with(w)
        && !p
            .get(i + w.len())
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    IsSubset,
    In,
    /// Any other operator (`!=`, `<`, `LIKE`...), by its length; 0 when
    /// there is none.
    Other(usize),
}

impl Op {
    fn len(self) -> usize {
        match self {
            Op::Eq => 1,
            Op::IsSubset => 8,
            Op::In => 2,
            Op::Other(n) => n,
        }
    }
}

fn operator(p: &[u8], i: usize) -> Op {
    let rest = &p[i.min(p.len())..];
    for (text, op) in [
        (&b"!="[..], Op::Other(2)),
        (b"<=", Op::Other(2)),
        (b">=", Op::Other(2)),
        (b"=", Op::Eq),
        (b"<", Op::Other(1)),
        (b">", Op::Other(1)),
    ] {
        if rest.starts_with(text) {
            return op;
        }
    }
    if word_at(p, i, b"ISSUBSET") {
        return Op::IsSubset;
    }
    if word_at(p, i, b"IN") {
        return Op::In;
    }
    let word = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    Op::Other(word)
}

/// A `'...'` literal at `i` (`\'` and `\\` escapes): its text and the index
/// after the closing quote.
fn string_literal(p: &[u8], i: usize) -> Option<(String, usize)> {
    if p.get(i) != Some(&b'\'') {
        return None;
    }
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < p.len() {
        match p[j] {
            b'\\' if j + 1 < p.len() => {
                out.push(p[j + 1]);
                j += 2;
            }
            b'\'' => return Some((String::from_utf8(out).ok()?, j + 1)),
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    None
}

/// A JSON document that carries indicator patterns.
pub fn sniff(head: &Head) -> u8 {
    let t = head.text;
    if head.is_json()
        && t.contains("\"pattern\"")
        && (t.contains("\"bundle\"") || t.contains("\"indicator\""))
    {
        95
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &str) -> Result<(usize, Vec<String>), &'static str> {
        let mut v = Vec::new();
        ip_values(p, |n| v.push(n.to_string())).map(|c| (c, v))
    }

    #[test]
    fn patterns() {
        assert_eq!(
            values("[ipv4-addr:value = '198.51.100.7']"),
            Ok((1, vec!["198.51.100.7/32".into()]))
        );
        assert_eq!(
            values("[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8'] OR [ipv6-addr:value = '2001:DB8::/32']"),
            Ok((3, vec!["1.2.3.4/32".into(), "5.6.7.8/32".into(), "2001:db8::/32".into()]))
        );
        assert_eq!(
            values("[ipv4-addr:value ISSUBSET '198.51.100.0/24']"),
            Ok((1, vec!["198.51.100.0/24".into()]))
        );
        assert_eq!(
            values("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]"),
            Ok((1, vec!["1.1.1.1/32".into(), "2.2.2.2/32".into()]))
        );
        assert_eq!(values("[ipv4-addr:value != '1.1.1.1']"), Ok((1, vec![])));
        assert_eq!(values("[ipv4-addr:value NOT = '1.1.1.1']"), Ok((1, vec![])));
        assert_eq!(
            values("[domain-name:value = 'ipv4-addr:value.example']"),
            Ok((0, vec![]))
        );
        assert_eq!(
            values("[network-traffic:dst_ref.type = 'ipv4-addr']"),
            Ok((0, vec![]))
        );
        assert_eq!(values("[ipv4-addr:value = ]"), Err("malformed IP pattern"));
        assert_eq!(
            values("[ipv4-addr:value = '97.199.236.999']"),
            Err("malformed IP pattern")
        );
        assert_eq!(
            values("[ipv4-addr:value = '2001:db8::1']"),
            Err("malformed IP pattern")
        );
        assert_eq!(
            values("[ipv4-addr:value = '1.2.3.4"),
            Err("malformed IP pattern")
        );
    }

    #[test]
    fn objects_are_records_ignored_or_rejected() {
        let doc = serde_json::json!({"type": "bundle", "objects": [
            {"type": "identity", "name": "x"},
            {"type": "indicator", "id": "indicator--1", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '198.51.100.7']", "valid_from": "2026-11-03T00:00:00Z", "indicator_types": ["malicious-activity"], "confidence": 80},
            {"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '198.51.100.8']", "revoked": true},
            {"type": "indicator", "pattern_type": "snort", "pattern": "alert ip 1.2.3.4 any -> any any"},
            {"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '1.2.3']"},
            {"type": "indicator", "pattern_type": "stix"}
        ]});
        let p = parse(doc.to_string().as_bytes(), &FormatOptions::default());
        assert_eq!(p.entries.len(), 1);
        let d = p.entries[0].detail.as_deref().unwrap();
        assert_eq!(d.reference.as_deref(), Some("indicator--1"));
        assert_eq!(d.category.as_deref(), Some("malicious-activity"));
        assert_eq!(d.score, Some(80));
        assert_eq!(d.first_seen, Some(1_793_664_000));
        assert_eq!(
            p.ignored.iter().map(|x| x.at.clone()).collect::<Vec<_>>(),
            [Location::Object(2), Location::Object(3)]
        );
        assert_eq!(
            p.rejected.iter().map(|x| x.at.clone()).collect::<Vec<_>>(),
            [Location::Object(4), Location::Object(5)]
        );
    }

    #[test]
    fn a_truncated_bundle_keeps_the_objects_before_the_cut() {
        let doc = r#"{"type": "bundle", "objects": [{"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '198.51.100.7']"}, {"type": "indic"#;
        let p = parse(doc.as_bytes(), &FormatOptions::default());
        assert_eq!(p.entries.len(), 1);
        assert_eq!(
            p.rejected.iter().map(|x| x.at.clone()).collect::<Vec<_>>(),
            [Location::Object(1)]
        );
    }
}
