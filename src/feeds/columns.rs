//! The usual names feeds give their columns (CSV headers) and members (JSON
//! keys), for the generic formats. Names are compared normalised: lower
//! case, without `_`, `-` and spaces, so `first_seen`, `firstSeen` and
//! `First Seen` are one name.

use serde_json::Value;

use super::json;
use super::parsed::{Country, Detail};
use super::time::parse_time;

/// Address column/member names, in order of preference.
pub(crate) const ADDRESS: &[&str] = &[
    "ip",
    "ipaddress",
    "ipaddr",
    "address",
    "addr",
    "cidr",
    "network",
    "netblock",
    "prefix",
    "subnet",
    "indicator",
    "ipv4",
    "ipv6",
    "dstip",
    "srcip",
    "value",
];
pub(crate) const CATEGORY: &[&str] = &[
    "category",
    "categories",
    "threat",
    "threattype",
    "type",
    "malware",
    "classification",
    "tags",
    "tag",
];
pub(crate) const FIRST_SEEN: &[&str] = &[
    "firstseen",
    "firstseenutc",
    "dateadded",
    "added",
    "created",
    "first",
];
pub(crate) const SCORE: &[&str] = &[
    "score",
    "confidence",
    "abuseconfidencescore",
    "risk",
    "riskscore",
    "attacks",
    "reports",
    "count",
];
pub(crate) const COUNTRY: &[&str] = &["country", "countrycode", "cc"];
pub(crate) const REFERENCE: &[&str] = &["id", "reference", "ref", "sblid", "indicatorid", "uuid"];

/// `first_seen` → `firstseen`.
pub(crate) fn norm(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Index of the first of `wanted` (preference order) among normalised
/// `names`.
pub(crate) fn find(names: &[String], wanted: &[&str]) -> Option<usize> {
    wanted
        .iter()
        .find_map(|w| names.iter().position(|n| n == w))
}

/// Which columns of a header hold the reputation detail.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DetailColumns {
    category: Option<usize>,
    first_seen: Option<usize>,
    score: Option<usize>,
    country: Option<usize>,
    reference: Option<usize>,
}

impl DetailColumns {
    /// From normalised header names; the address column is never a detail.
    pub fn from_header(names: &[String], address: usize) -> DetailColumns {
        let pick = |wanted| find(names, wanted).filter(|&i| i != address);
        DetailColumns {
            category: pick(CATEGORY),
            first_seen: pick(FIRST_SEEN),
            score: pick(SCORE),
            country: pick(COUNTRY),
            reference: pick(REFERENCE),
        }
    }

    pub fn detail<S: AsRef<str>>(&self, fields: &[S]) -> Option<Box<Detail>> {
        let get = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|s| s.as_ref().trim())
                .filter(|s| !s.is_empty())
        };
        Detail {
            category: get(self.category).map(Box::from),
            first_seen: get(self.first_seen).and_then(parse_time),
            score: get(self.score).and_then(json::parse_score),
            country: get(self.country).and_then(Country::parse),
            reference: get(self.reference).map(Box::from),
        }
        .boxed_if_any()
    }
}

/// The member of `obj` whose normalised key is the first of `wanted`.
pub(crate) fn member<'v>(
    obj: &'v serde_json::Map<String, Value>,
    wanted: &[&str],
) -> Option<(&'v str, &'v Value)> {
    wanted.iter().find_map(|w| {
        obj.iter()
            .find(|(k, _)| norm(k) == *w)
            .map(|(k, v)| (k.as_str(), v))
    })
}

/// Reputation detail from the usual member names of a JSON object, the
/// address member excluded.
pub(crate) fn json_detail(
    obj: &serde_json::Map<String, Value>,
    address_key: &str,
) -> Option<Box<Detail>> {
    let get = |wanted| {
        member(obj, wanted)
            .filter(|(k, _)| *k != address_key)
            .map(|(_, v)| v)
    };
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.first().and_then(|x| x.as_str()).map(str::to_owned),
        _ => None,
    };
    Detail {
        category: get(CATEGORY).and_then(text).map(Box::from),
        first_seen: get(FIRST_SEEN).and_then(text).and_then(|s| parse_time(&s)),
        score: get(SCORE)
            .and_then(text)
            .and_then(|s| json::parse_score(&s)),
        country: get(COUNTRY).and_then(text).and_then(|s| Country::parse(&s)),
        reference: get(REFERENCE).and_then(text).map(Box::from),
    }
    .boxed_if_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(norm(" First_Seen "), "firstseen");
        assert_eq!(norm("ip-address"), "ipaddress");
        let names: Vec<String> = ["Date", "IP Address", "cc"]
            .iter()
            .map(|s| norm(s))
            .collect();
        assert_eq!(find(&names, ADDRESS), Some(1));
        assert_eq!(find(&names, COUNTRY), Some(2));
    }

    #[test]
    fn json_detail_reads_the_usual_members() {
        let v = serde_json::json!({"ipAddress": "1.2.3.4", "abuseConfidenceScore": 100, "countryCode": "us", "category": ["scanner"], "id": 7});
        let d = json_detail(v.as_object().unwrap(), "ipAddress").unwrap();
        assert_eq!(d.score, Some(100));
        assert_eq!(d.country, Country::parse("US"));
        assert_eq!(d.category.as_deref(), Some("scanner"));
        assert_eq!(d.reference.as_deref(), Some("7"));
    }
}
