//! JSON with the address in a configured member.
//!
//! Shapes: a top-level array (records located as `{"element": i}`), JSON
//! lines (`{"line": n}`), or an object wrapping its records in its first
//! array member (`{"data": [...]}`, also `{"element": i}`). A record is an
//! object, whose member at [`FormatOptions::field`] (a dotted path; by
//! default the first usual address name: `ip`, `ip_address`, `ipAddress`,
//! `cidr`...) holds an address, a CIDR, a range, or an array of them; or a
//! bare string. Members with usual names (`category`, `first_seen`,
//! `score`/`confidence`, `country`, `id`...) become the reputation detail.

use ipnet::IpNet;
use serde_json::Value;

use crate::feeds::addr;
use crate::feeds::columns::{self, json_detail};
use crate::feeds::detect::Head;
use crate::feeds::json::{self, Element};
use crate::feeds::lines::{self, Lines};
use crate::feeds::parsed::{Builder, Location, Parsed};
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], opts: &FormatOptions) -> Parsed {
    let body = lines::strip_bom(input);
    let mut b = Builder::default();
    let field: Option<Vec<&str>> = opts.field.as_deref().map(|f| f.split('.').collect());
    let field = field.as_deref();
    let start = json::skip_ws(body, 0);
    match body.get(start) {
        Some(b'[') => {
            for (i, el) in json::array_elements(body, start) {
                element(&mut b, Location::Element(i), el, field);
            }
        }
        Some(b'{') if is_json_lines(body) => {
            for (n, raw) in Lines::new(body) {
                let line = raw.trim_ascii();
                if line.is_empty() {
                    b.skip();
                    continue;
                }
                let el = serde_json::from_slice(line).map_or(Element::Broken, Element::Value);
                element(&mut b, Location::Line(n), el, field);
            }
        }
        Some(b'{') => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => match obj.into_iter().find_map(|(_, v)| match v {
                Value::Array(a) => Some(a),
                _ => None,
            }) {
                Some(records) => {
                    for (i, v) in records.into_iter().enumerate() {
                        element(&mut b, Location::Element(i), Element::Value(v), field);
                    }
                }
                None => b.reject(Location::Element(0), "object without an array of records"),
            },
            _ => b.reject(Location::Element(0), "malformed JSON"),
        },
        Some(_) => b.reject(Location::Line(1), "not JSON"),
        None => {}
    }
    b.finish()
}

/// More than one line, each starting a JSON object.
fn is_json_lines(body: &[u8]) -> bool {
    let mut lines = Lines::new(body)
        .map(|(_, l)| l.trim_ascii())
        .filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(a), Some(b)) => a.starts_with(b"{") && a.ends_with(b"}") && b.starts_with(b"{"),
        _ => false,
    }
}

fn element(b: &mut Builder, at: Location, el: Element, field: Option<&[&str]>) {
    let v = match el {
        Element::Value(v) => v,
        Element::Broken => {
            b.reject(at, "truncated JSON");
            return;
        }
    };
    let (value, detail) = match &v {
        Value::String(_) => (&v, None),
        Value::Object(obj) => {
            let found = match field {
                Some(path) => path
                    .iter()
                    .try_fold(&v, |v, k| v.get(k))
                    .map(|x| (path[0], x)),
                None => columns::member(obj, columns::ADDRESS),
            };
            let Some((key, value)) = found else {
                b.reject(at, "record without the address field");
                return;
            };
            (value, json_detail(obj, key))
        }
        _ => {
            b.reject(at, "record is neither an object nor a string");
            return;
        }
    };
    let mut nets = Vec::new();
    let result = match value {
        Value::Array(items) if !items.is_empty() => {
            items.iter().try_for_each(|x| nets_of(x, &mut nets))
        }
        _ => nets_of(value, &mut nets),
    };
    match result {
        Ok(()) => {
            for net in nets {
                b.entry(net, detail.clone());
            }
            b.record();
        }
        Err(reason) => b.reject(at, reason),
    }
}

/// The networks one JSON value names (a record is kept or rejected whole).
fn nets_of(v: &Value, out: &mut Vec<IpNet>) -> Result<(), addr::Reason> {
    let s = match v {
        Value::String(s) => s.trim().as_bytes(),
        Value::Null => return Err("empty address field"),
        _ => return Err("address field is not a string"),
    };
    if s.is_empty() {
        return Err("empty address field");
    }
    if s.contains(&b'-') {
        addr::parse_range(s, |net| out.push(net))
    } else {
        out.push(addr::parse_net(s)?);
        Ok(())
    }
}

pub fn sniff(head: &Head) -> u8 {
    if head.is_json() {
        20
    } else {
        0
    }
}
