//! What a parser hands back: the canonical entry set, the counts, and where
//! the records it rejected or ignored are.
//!
//! Parsers push every *occurrence* into a [`Builder`]; [`Builder::finish`]
//! sorts by (IP version, network address, prefix length) and keeps the first
//! occurrence of each network, so the entry set is canonical and
//! reproducible. Entries are not aggregated: `1.2.3.0/24` and `1.2.3.4/32`
//! are two entries.

use std::fmt;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Most problem locations kept per parse. Counts stay exact beyond it; the
/// cap only bounds memory when a garbage file has millions of bad lines.
pub const MAX_PROBLEMS: usize = 10_000;

/// One network a feed lists, with the reputation detail the feed gave for
/// its first occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical network: host bits cleared.
    pub net: IpNet,
    /// Boxed and optional so that entries of detail-less feeds (most plain
    /// lists) stay 32 bytes and allocate nothing.
    pub detail: Option<Box<Detail>>,
}

/// Reputation detail a feed carries for an entry. Every field is optional:
/// feeds give what they have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// Score the feed gives (attack count, confidence, ...), as the feed
    /// states it; scales differ between feeds.
    pub score: Option<u32>,
    /// Category, malware family or target named by the feed.
    pub category: Option<Box<str>>,
    /// Country the feed attributes the entry to.
    pub country: Option<Country>,
    /// The feed's own identifier for the entry (SBL id, phish id, STIX id...).
    pub reference: Option<Box<str>>,
    /// When the feed says it first saw the entry, Unix seconds (UTC).
    pub first_seen: Option<i64>,
}

impl Detail {
    /// Boxes the detail if any field is set.
    pub fn boxed_if_any(self) -> Option<Box<Detail>> {
        if self == Detail::default() {
            None
        } else {
            Some(Box::new(self))
        }
    }
}

/// ISO 3166-1 alpha-2 country code, upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII letters, any case; anything else is `None`.
    pub fn parse(s: &str) -> Option<Country> {
        match s.trim().as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a record sits in its feed, named the way the expected files of the
/// test fixtures name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// 1-based line of a text file (`{"line": n}`).
    Line(usize),
    /// 0-based index into a top-level JSON array (`{"element": i}`).
    Element(usize),
    /// Path inside a JSON array (`{"element": "[i].details[j]"}`).
    ElementPath(Box<str>),
    /// 0-based index into a STIX bundle's `objects` (`{"object": "objects[i]"}`).
    Object(usize),
    /// 0-based index of an RSS item or Atom entry (`{"item": i}`).
    Item(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Element(i) => write!(f, "element {i}"),
            Location::ElementPath(p) => write!(f, "element {p}"),
            Location::Object(i) => write!(f, "objects[{i}]"),
            Location::Item(i) => write!(f, "item {i}"),
        }
    }
}

/// A record that was rejected (malformed) or ignored (well-formed, yields
/// nothing on purpose), with a short reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Location,
    pub reason: &'static str,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// Counts of one parse. `entries` is `Parsed::entries.len()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records (lines, JSON objects, items...) that yielded at least one entry.
    pub records: usize,
    /// Entries extracted before de-duplication.
    pub entry_occurrences: usize,
    /// `entry_occurrences - entries`.
    pub duplicates: usize,
    /// Malformed records, skipped and counted.
    pub rejected: usize,
    /// Well-formed records that deliberately yield nothing (metadata...).
    pub ignored: usize,
    /// Comments, blank lines, column headers.
    pub skipped_non_records: usize,
}

/// The result of parsing one feed version. Parsing never fails as a whole:
/// what cannot be read is counted as rejected, with its location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Sorted unique networks (IPv4 before IPv6, then address, then prefix).
    pub entries: Vec<Entry>,
    pub counts: Counts,
    /// Rejected records in input order (at most [`MAX_PROBLEMS`] kept).
    pub rejected: Vec<Problem>,
    /// Ignored records in input order (at most [`MAX_PROBLEMS`] kept).
    pub ignored: Vec<Problem>,
}

impl Parsed {
    pub fn ipv4(&self) -> usize {
        self.entries
            .partition_point(|e| matches!(e.net, IpNet::V4(_)))
    }

    pub fn ipv6(&self) -> usize {
        self.entries.len() - self.ipv4()
    }

    /// The networks alone, in canonical order.
    pub fn nets(&self) -> impl ExactSizeIterator<Item = IpNet> + '_ {
        self.entries.iter().map(|e| e.net)
    }
}

/// Collects occurrences and problems while a parser walks its input.
///
/// Occurrences are kept as sort keys per family (IPv4: `addr << 8 | len`
/// in a `u64`; IPv6: `(addr, len)`), with their details in a parallel vector
/// only once a feed gives any detail. Detail-less IPv4 keys (the bulk of big
/// plain lists) are radix-sorted.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    v4: Vec<u64>,
    v4_detail: Vec<Option<Box<Detail>>>,
    v6: Vec<(u128, u8)>,
    v6_detail: Vec<Option<Box<Detail>>>,
    counts: Counts,
    rejected: Vec<Problem>,
    ignored: Vec<Problem>,
}

impl Builder {
    /// Room for `n` IPv4 occurrences.
    pub fn with_capacity(n: usize) -> Builder {
        Builder {
            v4: Vec::with_capacity(n),
            ..Builder::default()
        }
    }

    /// One occurrence of a network (the caller clears host bits).
    #[inline]
    pub fn entry(&mut self, net: IpNet, detail: Option<Box<Detail>>) {
        match net {
            IpNet::V4(n) => {
                if detail.is_some() && self.v4_detail.len() < self.v4.len() {
                    self.v4_detail.resize(self.v4.len(), None);
                }
                self.v4
                    .push(u64::from(u32::from(n.addr())) << 8 | u64::from(n.prefix_len()));
                if detail.is_some() || !self.v4_detail.is_empty() {
                    self.v4_detail.push(detail);
                }
            }
            IpNet::V6(n) => {
                if detail.is_some() && self.v6_detail.len() < self.v6.len() {
                    self.v6_detail.resize(self.v6.len(), None);
                }
                self.v6.push((u128::from(n.addr()), n.prefix_len()));
                if detail.is_some() || !self.v6_detail.is_empty() {
                    self.v6_detail.push(detail);
                }
            }
        }
    }

    /// One detail-less IPv4 occurrence, host bits already cleared (the
    /// plain-list fast path).
    #[inline]
    pub fn entry_v4(&mut self, addr: u32, len: u8) {
        if !self.v4_detail.is_empty() {
            self.v4_detail.push(None);
        }
        self.v4.push(u64::from(addr) << 8 | u64::from(len));
    }

    /// One detail-less IPv6 occurrence, host bits already cleared.
    #[inline]
    pub fn entry_v6(&mut self, addr: u128, len: u8) {
        if !self.v6_detail.is_empty() {
            self.v6_detail.push(None);
        }
        self.v6.push((addr, len));
    }

    /// A record that yielded at least one entry.
    #[inline]
    pub fn record(&mut self) {
        self.counts.records += 1;
    }

    #[inline]
    pub fn skip(&mut self) {
        self.counts.skipped_non_records += 1;
    }

    pub fn reject(&mut self, at: Location, reason: &'static str) {
        self.counts.rejected += 1;
        if self.rejected.len() < MAX_PROBLEMS {
            self.rejected.push(Problem { at, reason });
        }
    }

    pub fn ignore(&mut self, at: Location, reason: &'static str) {
        self.counts.ignored += 1;
        if self.ignored.len() < MAX_PROBLEMS {
            self.ignored.push(Problem { at, reason });
        }
    }

    /// Sorts, keeps the first occurrence of every network, fills the counts.
    pub fn finish(self) -> Parsed {
        let Builder {
            v4,
            v4_detail,
            v6,
            v6_detail,
            mut counts,
            rejected,
            ignored,
        } = self;
        counts.entry_occurrences = v4.len() + v6.len();
        let mut entries = Vec::new();
        let v4_net = |k: u64| {
            IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from((k >> 8) as u32), (k & 0xFF) as u8).unwrap_or_default(),
            )
        };
        if v4_detail.is_empty() {
            let mut keys = v4;
            if !keys.is_sorted() {
                radix_sort_u40(&mut keys);
            }
            keys.dedup();
            entries.reserve_exact(keys.len() + v6.len());
            entries.extend(keys.into_iter().map(|k| Entry {
                net: v4_net(k),
                detail: None,
            }));
        } else {
            entries.extend(first_of_each(v4, v4_detail).map(|(k, detail)| Entry {
                net: v4_net(k),
                detail,
            }));
        }
        let v6_net =
            |(a, l): (u128, u8)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap_or_default());
        if v6_detail.is_empty() {
            let mut keys = v6;
            sort_v6(&mut keys);
            keys.dedup();
            entries.extend(keys.into_iter().map(|k| Entry {
                net: v6_net(k),
                detail: None,
            }));
        } else {
            entries.extend(first_of_each(v6, v6_detail).map(|(k, detail)| Entry {
                net: v6_net(k),
                detail,
            }));
        }
        counts.duplicates = counts.entry_occurrences - entries.len();
        Parsed {
            entries,
            counts,
            rejected,
            ignored,
        }
    }
}

/// Keys sorted (stably), each with the detail of its first occurrence.
fn first_of_each<K: Ord + Copy>(
    keys: Vec<K>,
    details: Vec<Option<Box<Detail>>>,
) -> impl Iterator<Item = (K, Option<Box<Detail>>)> {
    let mut pairs: Vec<(K, Option<Box<Detail>>)> = keys.into_iter().zip(details).collect();
    pairs.sort_by_key(|p| p.0);
    pairs.dedup_by_key(|p| p.0);
    pairs.into_iter()
}

/// Sorts IPv6 keys by address, then prefix length: by the address alone
/// (a cheaper comparison), then each run of one address by length.
fn sort_v6(keys: &mut [(u128, u8)]) {
    if keys.is_sorted() {
        return;
    }
    keys.sort_unstable_by_key(|k| k.0);
    for run in keys.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable();
        }
    }
}

/// LSD radix sort of keys below 2^40 (IPv4 `addr << 8 | len`), ten bits
/// per pass; passes where every key has the same digit are skipped.
fn radix_sort_u40(keys: &mut Vec<u64>) {
    const BITS: u32 = 10;
    const MASK: u64 = (1 << BITS) - 1;
    let mut dst = vec![0u64; keys.len()];
    let mut src = std::mem::take(keys);
    let mut count = vec![0usize; 1 << BITS];
    for shift in (0..40).step_by(BITS as usize) {
        count.fill(0);
        for &k in &src {
            count[(k >> shift & MASK) as usize] += 1;
        }
        if count.contains(&src.len()) {
            continue;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for &k in &src {
            let slot = &mut count[(k >> shift & MASK) as usize];
            dst[*slot] = k;
            *slot += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    *keys = src;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_compact() {
        assert!(
            std::mem::size_of::<Entry>() <= 32,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn finish_sorts_by_version_address_prefix_and_keeps_first_detail() {
        let mut b = Builder::default();
        let d = |c: &str| {
            Detail {
                category: Some(c.into()),
                ..Detail::default()
            }
            .boxed_if_any()
        };
        b.entry("2001:db8::/32".parse().unwrap(), None);
        b.entry("1.2.3.4/32".parse().unwrap(), d("first"));
        b.entry("1.2.3.0/24".parse().unwrap(), None);
        b.entry("1.2.3.4/32".parse().unwrap(), d("second"));
        b.entry("0.0.0.0/8".parse().unwrap(), None);
        let p = b.finish();
        let nets: Vec<String> = p.nets().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            ["0.0.0.0/8", "1.2.3.0/24", "1.2.3.4/32", "2001:db8::/32"]
        );
        assert_eq!(
            p.entries[2].detail.as_ref().unwrap().category.as_deref(),
            Some("first")
        );
        assert_eq!((p.counts.entry_occurrences, p.counts.duplicates), (5, 1));
        assert_eq!((p.ipv4(), p.ipv6()), (3, 1));
    }

    #[test]
    fn radix_sort_sorts() {
        let mut x = 0x1234_5678_9abc_def0_u64;
        let mut keys: Vec<u64> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % (1 << 40)
            })
            .collect();
        keys.extend([0, (1 << 40) - 1, 5, 5]);
        let mut want = keys.clone();
        want.sort_unstable();
        radix_sort_u40(&mut keys);
        assert_eq!(keys, want);
    }

    #[test]
    fn details_arriving_late_line_up() {
        let mut b = Builder::default();
        b.entry_v4(0x0102_0304, 32);
        b.entry(
            "1.2.3.5/32".parse().unwrap(),
            Detail {
                score: Some(1),
                ..Detail::default()
            }
            .boxed_if_any(),
        );
        b.entry_v4(0x0102_0306, 32);
        b.entry("2001:db8::1/128".parse().unwrap(), None);
        b.entry(
            "2001:db8::2/128".parse().unwrap(),
            Detail {
                score: Some(2),
                ..Detail::default()
            }
            .boxed_if_any(),
        );
        let p = b.finish();
        let scores: Vec<Option<u32>> = p
            .entries
            .iter()
            .map(|e| e.detail.as_ref().and_then(|d| d.score))
            .collect();
        assert_eq!(scores, [None, Some(1), None, None, Some(2)]);
    }

    #[test]
    fn countries_are_two_letters() {
        assert_eq!(Country::parse("de").unwrap().as_str(), "DE");
        assert_eq!(Country::parse("DEU"), None);
        assert_eq!(Country::parse("1A"), None);
    }
}
