//! Reports over the log archive: what an account's firewalls blocked in a
//! time range, by feed, feed category, device, source, destination and
//! port, with a timeline; and what they *allowed* to or from an address that
//! a subscribed feed listed at that moment (a rule, or a device, not
//! enforcing the list).
//!
//! A report reads only the roll-ups the archive keeps at ingest
//! ([`super::store`]), never the entries, so its cost grows with the range
//! and the variety of addresses, not with the number of stored connections:
//!
//! - `rollup` (per hour, device, action, protocol, feed set) gives the
//!   totals, the timeline, the devices, and everything per feed and per
//!   category;
//! - `top` gives sources, destinations and ports: a range is summed from
//!   the day rows of the whole UTC days inside it plus the hour rows of the
//!   ragged hours at both ends ([`Range::segments`]).
//!
//! **Ranges** are whole UTC hours, the roll-ups' grain: [`Range::new`]
//! widens a range to the hours it touches. The timeline has hourly buckets
//! for ranges up to [`HOURLY_UP_TO`], daily ones beyond, starting at local
//! midnight in the report's zone (daylight saving included); in a zone whose
//! offset is not a whole number of hours (India, Nepal, Newfoundland) a day
//! bucket starts at the whole hour before local midnight.
//!
//! **Feeds.** A connection is *listed* when its feed set (the feeds that
//! listed its source or destination at its time, see
//! [`super::correlate`]) holds a feed the account subscribes to. A feed's
//! *exclusive* count is the blocked connections that no other subscribed
//! feed listed: what the account would miss without that feed.
//!
//! **Isolation.** Every query on `rollup` and `top` is bounded by
//! `account = ?`. The one table read without it is `feedsets`, the
//! dictionary of feed-key combinations, which holds no per-account data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::record::Proto;
use super::store::{addr_from_bytes, LogStoreError, DAY, HOUR, KIND_DST, KIND_PORT, KIND_SRC};
use super::time::Zone;

/// Ranges up to this long (seconds) get hourly timeline buckets; longer
/// ones daily buckets.
pub const HOURLY_UP_TO: i64 = 2 * DAY;
/// Rows of each top list unless asked otherwise.
pub const DEFAULT_TOP: usize = 20;
/// The most rows a top list may be asked for.
pub const MAX_TOP: usize = 1000;
/// The longest range a report covers (the admin pages refuse longer ones).
pub const MAX_RANGE: i64 = 400 * DAY;
/// The category of a feed the configuration gives none.
pub const NO_CATEGORY: &str = "uncategorised";

/// A report's time range: `[from, to)`, Unix seconds, whole UTC hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

fn floor_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

fn ceil_to(t: i64, unit: i64) -> i64 {
    -floor_to(-t, unit)
}

impl Range {
    /// `[from, to)` widened to the whole UTC hours it touches; at least one
    /// hour long.
    pub fn new(from: i64, to: i64) -> Range {
        let from = floor_to(from, HOUR);
        let to = ceil_to(to, HOUR).max(from + HOUR);
        Range { from, to }
    }

    /// The `secs` seconds (whole hours) up to and including the hour of
    /// `now`.
    pub fn last(now: i64, secs: i64) -> Range {
        let to = floor_to(now, HOUR) + HOUR;
        Range::new(to - secs.max(HOUR), to)
    }

    /// Local days `first..=last` in `zone`: from local midnight to the
    /// local midnight after `last`, both moved to the whole hour at or
    /// before them (as day buckets are).
    pub fn local_days(zone: &Zone, first: NaiveDate, last: NaiveDate) -> Range {
        let end = last.succ_opt().unwrap_or(last);
        let from = floor_to(zone.local_to_unix(first.and_time(NaiveTime::MIN)), HOUR);
        let to = floor_to(zone.local_to_unix(end.and_time(NaiveTime::MIN)), HOUR);
        Range {
            from,
            to: to.max(from + HOUR),
        }
    }

    pub fn secs(&self) -> i64 {
        self.to - self.from
    }

    /// The roll-up rows that sum to this range, as (span, from, to): the
    /// hours before the first whole UTC day, the whole days, the hours
    /// after the last. A range without a whole UTC day is all hours.
    pub fn segments(&self) -> Vec<(i64, i64, i64)> {
        let d0 = ceil_to(self.from, DAY);
        let d1 = floor_to(self.to, DAY);
        if d0 >= d1 {
            return vec![(HOUR, self.from, self.to)];
        }
        [(HOUR, self.from, d0), (DAY, d0, d1), (HOUR, d1, self.to)]
            .into_iter()
            .filter(|(_, a, b)| a < b)
            .collect()
    }
}

/// Unix seconds as wall-clock time in `zone`.
pub fn local_time(zone: &Zone, t: i64) -> NaiveDateTime {
    let utc = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    match zone {
        Zone::Utc => utc.naive_utc(),
        Zone::Fixed(o) => utc.with_timezone(o).naive_local(),
        Zone::Named(tz) => utc.with_timezone(tz).naive_local(),
    }
}

/// Unix seconds as RFC 3339 in `zone`, with its offset at that time.
pub fn local_rfc3339(zone: &Zone, t: i64) -> String {
    let utc = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    match zone {
        Zone::Utc => utc.to_rfc3339_opts(SecondsFormat::Secs, true),
        Zone::Fixed(o) => utc
            .with_timezone(o)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        Zone::Named(tz) => utc
            .with_timezone(tz)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// One end of a custom range, read in `zone`: a date (`2026-11-03`: its
/// local midnight, or the next one when `end` is set, so an end date is
/// inclusive), a local date and time (`2026-11-03T14:00`, seconds
/// optional), an RFC 3339 time with its own offset, or Unix seconds.
pub fn parse_time(s: &str, zone: &Zone, end: bool) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt()? } else { d };
        return Some(zone.local_to_unix(d.and_time(NaiveTime::MIN)));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(zone.local_to_unix(t));
        }
    }
    None
}

/// A feed as reports name it (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInfo {
    /// The feed's id: the key the feed archive and feed sets use.
    pub key: String,
    pub name: String,
    pub category: String,
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub account: i64,
    pub range: Range,
    /// The zone of the timeline's day buckets and of the times shown.
    pub zone: Zone,
    /// Every configured feed (names and categories).
    pub feeds: Vec<FeedInfo>,
    /// Feed keys the account subscribes to.
    pub subscribed: Vec<String>,
    /// The account's devices: id and name.
    pub devices: Vec<(i64, String)>,
    /// Rows per top list.
    pub top: usize,
}

/// Connection counts: blocked and allowed, and of each the part listed by
/// a subscribed feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub blocked: u64,
    pub allowed: u64,
    /// Blocked connections to or from an address a subscribed feed listed.
    pub blocked_listed: u64,
    /// Allowed connections to or from an address a subscribed feed listed
    /// at that moment: a rule or a device not enforcing the list.
    pub allowed_listed: u64,
}

impl Counts {
    fn add(&mut self, action: u8, listed: bool, n: u64) {
        match (action, listed) {
            (0, false) => self.blocked += n,
            (0, true) => {
                self.blocked += n;
                self.blocked_listed += n;
            }
            (_, false) => self.allowed += n,
            (_, true) => {
                self.allowed += n;
                self.allowed_listed += n;
            }
        }
    }
}

/// One timeline bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimelineRow {
    pub start_unix: i64,
    /// Start in the report's zone, RFC 3339.
    pub start: String,
    /// `2026-11-03` (day buckets) or `2026-11-03 14:00` (hour buckets).
    pub label: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One feed: what it listed among the account's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedRow {
    pub feed: String,
    pub name: String,
    pub category: String,
    /// Whether the account subscribes to it (through a list or lookup).
    pub subscribed: bool,
    /// Blocked connections to or from an address it listed.
    pub blocked: u64,
    /// Blocked connections no other subscribed feed listed.
    pub exclusive: u64,
    /// Allowed connections to or from an address it listed at the time.
    pub allowed_listed: u64,
}

/// One category of subscribed feeds (a connection counts once per
/// category, however many of its feeds listed it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryRow {
    pub category: String,
    pub blocked: u64,
    pub allowed_listed: u64,
}

/// One device of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceRow {
    pub device: i64,
    pub name: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One source, destination or port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TopRow {
    /// An address, or a port as `tcp/22` (`icmp`, `gre`... for protocols
    /// without ports).
    pub key: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// A report: every number the report pages, CSV exports and the API show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub account: i64,
    /// Start (inclusive) and end (exclusive), Unix seconds, whole UTC hours.
    pub from_unix: i64,
    pub to_unix: i64,
    /// The same in the report's zone, RFC 3339.
    pub from: String,
    pub to: String,
    /// The zone of day buckets and times (`UTC`, `+05:30`, `Europe/Berlin`).
    pub zone: String,
    /// Timeline bucket: `hour` or `day`.
    pub bucket: String,
    pub totals: Counts,
    pub timeline: Vec<TimelineRow>,
    /// Subscribed feeds first (all of them, even with nothing listed), then
    /// other feeds that listed the account's connections; most blocked
    /// first.
    pub by_feed: Vec<FeedRow>,
    pub by_category: Vec<CategoryRow>,
    pub by_device: Vec<DeviceRow>,
    /// Most blocked first.
    pub top_sources: Vec<TopRow>,
    pub top_destinations: Vec<TopRow>,
    /// Destination ports.
    pub top_ports: Vec<TopRow>,
    /// Sources and destinations of allowed listed connections, most first.
    pub allowed_listed_sources: Vec<TopRow>,
    pub allowed_listed_destinations: Vec<TopRow>,
    /// The feed keys counted as subscribed.
    pub subscribed_feeds: Vec<String>,
}

/// A roll-up `top` key (address or port key, at most 16 bytes) with its
/// kind, compact for hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TopKey {
    kind: u8,
    len: u8,
    bytes: [u8; 16],
}

impl TopKey {
    fn new(kind: i64, b: &[u8]) -> Option<TopKey> {
        if b.len() > 16 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..b.len()].copy_from_slice(b);
        Some(TopKey {
            kind: kind as u8,
            len: b.len() as u8,
            bytes,
        })
    }

    fn slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn label(&self) -> String {
        let b = self.slice();
        if i64::from(self.kind) == KIND_PORT {
            return port_label(b);
        }
        addr_from_bytes(b)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "?".into())
    }
}

/// A port roll-up key as `tcp/22`, or the protocol alone without a port.
pub fn port_label(key: &[u8]) -> String {
    match key {
        [p, hi, lo] => {
            let port = u16::from_be_bytes([*hi, *lo]);
            if port == 0xFFFF {
                Proto(*p).to_string()
            } else {
                format!("{}/{port}", Proto(*p))
            }
        }
        _ => "?".into(),
    }
}

/// What a feed set means for this account.
#[derive(Debug, Clone, Default)]
struct SetInfo {
    /// Every feed key in the set.
    feeds: Vec<String>,
    /// Indexes (into the report's feed list) of its subscribed feeds.
    subscribed: Vec<usize>,
}

/// The sums a report is made of, before naming and sorting.
#[derive(Default)]
struct Sums {
    totals: Counts,
    timeline: Vec<Counts>,
    devices: HashMap<i64, Counts>,
    /// Feed set → (blocked, allowed).
    sets: HashMap<i64, (u64, u64)>,
    top: HashMap<TopKey, Counts>,
}

/// Builds the report for `q` from the log archive's roll-ups.
pub fn build(conn: &Connection, q: &ReportQuery) -> Result<Report, LogStoreError> {
    let sets = feed_sets(conn, q)?;
    let listed = |fs: i64| sets.get(&fs).is_some_and(|s| !s.subscribed.is_empty());
    let (bucket, starts) = buckets(q.range, &q.zone);
    let mut sums = Sums {
        timeline: vec![Counts::default(); starts.len()],
        ..Sums::default()
    };
    {
        let mut st = conn.prepare_cached(
            "SELECT hour, device, action, feedset, n FROM rollup
             WHERE account = ?1 AND hour >= ?2 AND hour < ?3",
        )?;
        let mut rows = st.query(params![q.account, q.range.from, q.range.to])?;
        while let Some(r) = rows.next()? {
            let hour: i64 = r.get(0)?;
            let device: i64 = r.get(1)?;
            let action: u8 = r.get(2)?;
            let fs: i64 = r.get(3)?;
            let n = r.get::<_, i64>(4)?.max(0) as u64;
            let l = listed(fs);
            sums.totals.add(action, l, n);
            let b = starts.partition_point(|&s| s <= hour).saturating_sub(1);
            sums.timeline[b].add(action, l, n);
            sums.devices.entry(device).or_default().add(action, l, n);
            let e = sums.sets.entry(fs).or_default();
            if action == 0 {
                e.0 += n;
            } else {
                e.1 += n;
            }
        }
    }
    {
        let mut st = conn.prepare_cached(
            "SELECT key, action, feedset, n FROM top
             WHERE account = ?1 AND kind = ?2 AND span = ?3 AND bucket >= ?4 AND bucket < ?5",
        )?;
        for kind in [KIND_SRC, KIND_DST, KIND_PORT] {
            for (span, from, to) in q.range.segments() {
                let mut rows = st.query(params![q.account, kind, span, from, to])?;
                while let Some(r) = rows.next()? {
                    let Ok(blob) = r.get_ref(0)?.as_blob() else {
                        continue;
                    };
                    let Some(key) = TopKey::new(kind, blob) else {
                        continue;
                    };
                    let action: u8 = r.get(1)?;
                    let fs: i64 = r.get(2)?;
                    let n = r.get::<_, i64>(3)?.max(0) as u64;
                    sums.top.entry(key).or_default().add(action, listed(fs), n);
                }
            }
        }
    }
    Ok(finish(q, bucket, &starts, &sets, sums))
}

/// The report of a range with no stored logs (no log archive yet).
pub fn empty(q: &ReportQuery) -> Report {
    let (bucket, starts) = buckets(q.range, &q.zone);
    let sums = Sums {
        timeline: vec![Counts::default(); starts.len()],
        ..Sums::default()
    };
    finish(q, bucket, &starts, &HashMap::new(), sums)
}

/// Every feed set, with its subscribed feeds resolved for `q`.
fn feed_sets(conn: &Connection, q: &ReportQuery) -> Result<HashMap<i64, SetInfo>, LogStoreError> {
    let feeds = feed_list(q);
    let index: HashMap<&str, usize> = feeds
        .iter()
        .enumerate()
        .map(|(i, f)| (f.key.as_str(), i))
        .collect();
    let subscribed: BTreeSet<&str> = q.subscribed.iter().map(String::as_str).collect();
    let mut out = HashMap::new();
    let mut st = conn.prepare_cached("SELECT id, feeds FROM feedsets")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let keys: String = r.get(1)?;
        let feeds: Vec<String> = keys
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        let subscribed = feeds
            .iter()
            .filter(|k| subscribed.contains(k.as_str()))
            .filter_map(|k| index.get(k.as_str()).copied())
            .collect();
        out.insert(id, SetInfo { feeds, subscribed });
    }
    Ok(out)
}

/// The configured feeds, then subscribed keys the configuration lacks.
fn feed_list(q: &ReportQuery) -> Vec<FeedInfo> {
    let mut feeds = q.feeds.clone();
    for k in &q.subscribed {
        if !feeds.iter().any(|f| &f.key == k) {
            feeds.push(unknown_feed(k));
        }
    }
    feeds
}

fn unknown_feed(key: &str) -> FeedInfo {
    FeedInfo {
        key: key.to_string(),
        name: key.to_string(),
        category: NO_CATEGORY.to_string(),
    }
}

/// Timeline bucket size and bucket starts (see the module docs).
fn buckets(range: Range, zone: &Zone) -> (&'static str, Vec<i64>) {
    if range.secs() <= HOURLY_UP_TO {
        return (
            "hour",
            (range.from..range.to).step_by(HOUR as usize).collect(),
        );
    }
    let mut starts = vec![range.from];
    let mut date = local_time(zone, range.from).date();
    while let Some(next) = date.succ_opt() {
        date = next;
        let m = floor_to(zone.local_to_unix(date.and_time(NaiveTime::MIN)), HOUR);
        if m >= range.to {
            break;
        }
        if m > *starts.last().unwrap_or(&i64::MIN) {
            starts.push(m);
        }
    }
    ("day", starts)
}

fn finish(
    q: &ReportQuery,
    bucket: &'static str,
    starts: &[i64],
    sets: &HashMap<i64, SetInfo>,
    sums: Sums,
) -> Report {
    let feeds = feed_list(q);
    let subscribed: BTreeSet<&str> = q.subscribed.iter().map(String::as_str).collect();

    let timeline = starts
        .iter()
        .zip(&sums.timeline)
        .map(|(&s, c)| {
            let label_at = local_time(&q.zone, s + HOUR - 1);
            TimelineRow {
                start_unix: s,
                start: local_rfc3339(&q.zone, s),
                label: if bucket == "day" {
                    label_at.format("%Y-%m-%d").to_string()
                } else {
                    local_time(&q.zone, s).format("%Y-%m-%d %H:%M").to_string()
                },
                counts: *c,
            }
        })
        .collect();

    // Per feed and per category, from the feed sets' sums.
    let mut by_key: BTreeMap<&str, FeedRow> = BTreeMap::new();
    let row_of = |key: &str| -> FeedRow {
        let f = feeds
            .iter()
            .find(|f| f.key == key)
            .cloned()
            .unwrap_or_else(|| unknown_feed(key));
        FeedRow {
            subscribed: subscribed.contains(key),
            category: if f.category.is_empty() {
                NO_CATEGORY.to_string()
            } else {
                f.category
            },
            feed: f.key,
            name: f.name,
            blocked: 0,
            exclusive: 0,
            allowed_listed: 0,
        }
    };
    for k in &q.subscribed {
        by_key.entry(k.as_str()).or_insert_with(|| row_of(k));
    }
    let mut categories: BTreeMap<String, CategoryRow> = BTreeMap::new();
    for (fs, &(blocked, allowed)) in &sums.sets {
        let Some(set) = sets.get(fs) else { continue };
        for k in &set.feeds {
            let row = by_key.entry(k.as_str()).or_insert_with(|| row_of(k));
            row.blocked += blocked;
            row.allowed_listed += allowed;
        }
        if let [only] = set.subscribed[..] {
            if let Some(row) = by_key.get_mut(feeds[only].key.as_str()) {
                row.exclusive += blocked;
            }
        }
        let cats: BTreeSet<String> = set
            .subscribed
            .iter()
            .map(|&i| by_key[feeds[i].key.as_str()].category.clone())
            .collect();
        for c in cats {
            let row = categories.entry(c.clone()).or_insert(CategoryRow {
                category: c,
                blocked: 0,
                allowed_listed: 0,
            });
            row.blocked += blocked;
            row.allowed_listed += allowed;
        }
    }
    let mut by_feed: Vec<FeedRow> = by_key.into_values().collect();
    by_feed.sort_by(|a, b| {
        (b.subscribed, b.blocked, b.allowed_listed)
            .cmp(&(a.subscribed, a.blocked, a.allowed_listed))
            .then_with(|| a.feed.cmp(&b.feed))
    });
    let mut by_category: Vec<CategoryRow> = categories.into_values().collect();
    by_category.sort_by(|a, b| {
        (b.blocked, b.allowed_listed)
            .cmp(&(a.blocked, a.allowed_listed))
            .then_with(|| a.category.cmp(&b.category))
    });

    // Devices: every device of the account, and any removed one with logs.
    let mut by_device: Vec<DeviceRow> = q
        .devices
        .iter()
        .map(|(id, name)| DeviceRow {
            device: *id,
            name: name.clone(),
            counts: sums.devices.get(id).copied().unwrap_or_default(),
        })
        .collect();
    for (id, c) in &sums.devices {
        if !q.devices.iter().any(|(d, _)| d == id) {
            by_device.push(DeviceRow {
                device: *id,
                name: format!("device {id} (removed)"),
                counts: *c,
            });
        }
    }
    by_device.sort_by(|a, b| {
        (b.counts.blocked, b.counts.allowed_listed)
            .cmp(&(a.counts.blocked, a.counts.allowed_listed))
            .then_with(|| a.name.cmp(&b.name))
    });

    let top = |kind: i64, by: fn(&Counts) -> u64| top_rows(&sums.top, kind, by, q.top);
    Report {
        account: q.account,
        from_unix: q.range.from,
        to_unix: q.range.to,
        from: local_rfc3339(&q.zone, q.range.from),
        to: local_rfc3339(&q.zone, q.range.to),
        zone: q.zone.to_string(),
        bucket: bucket.to_string(),
        totals: sums.totals,
        timeline,
        by_feed,
        by_category,
        by_device,
        top_sources: top(KIND_SRC, |c| c.blocked),
        top_destinations: top(KIND_DST, |c| c.blocked),
        top_ports: top(KIND_PORT, |c| c.blocked),
        allowed_listed_sources: top(KIND_SRC, |c| c.allowed_listed),
        allowed_listed_destinations: top(KIND_DST, |c| c.allowed_listed),
        subscribed_feeds: q.subscribed.clone(),
    }
}

/// The `n` keys of `kind` with the largest non-zero `by` count, largest
/// first (ties: more connections in all, then the key's bytes).
fn top_rows(
    all: &HashMap<TopKey, Counts>,
    kind: i64,
    by: fn(&Counts) -> u64,
    n: usize,
) -> Vec<TopRow> {
    let mut v: Vec<(&TopKey, &Counts)> = all
        .iter()
        .filter(|(k, c)| i64::from(k.kind) == kind && by(c) > 0)
        .collect();
    let order = |a: &(&TopKey, &Counts), b: &(&TopKey, &Counts)| {
        (by(b.1), b.1.blocked + b.1.allowed)
            .cmp(&(by(a.1), a.1.blocked + a.1.allowed))
            .then_with(|| a.0.slice().cmp(b.0.slice()))
    };
    if v.len() > n && n > 0 {
        v.select_nth_unstable_by(n - 1, order);
    }
    v.truncate(n);
    v.sort_by(order);
    v.into_iter()
        .map(|(k, c)| TopRow {
            key: k.label(),
            counts: *c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_ragged_hours_and_whole_days() {
        let d = 20_000 * DAY;
        let r = Range::new(d + 5 * HOUR + 17, d + 3 * DAY + 2 * HOUR - 1);
        assert_eq!((r.from, r.to), (d + 5 * HOUR, d + 3 * DAY + 2 * HOUR));
        assert_eq!(
            r.segments(),
            vec![
                (HOUR, d + 5 * HOUR, d + DAY),
                (DAY, d + DAY, d + 3 * DAY),
                (HOUR, d + 3 * DAY, d + 3 * DAY + 2 * HOUR)
            ]
        );
        // Aligned on days: no ragged ends.
        assert_eq!(
            Range::new(d, d + 2 * DAY).segments(),
            vec![(DAY, d, d + 2 * DAY)]
        );
        // Inside one day, or across midnight without a whole day: hours.
        let r = Range::new(d + 20 * HOUR, d + DAY + 3 * HOUR);
        assert_eq!(r.segments(), vec![(HOUR, r.from, r.to)]);
        assert_eq!(
            Range::last(d + 10 * HOUR + 5, DAY),
            Range::new(d - 13 * HOUR, d + 11 * HOUR)
        );
    }

    #[test]
    fn day_buckets_follow_the_zone() {
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        // 2026-10-24 .. 2026-10-26 in Berlin: summer time ends on the 25th
        // (a 25-hour day).
        let first = NaiveDate::from_ymd_opt(2026, 10, 24).unwrap();
        let r = Range::local_days(
            &berlin,
            first,
            NaiveDate::from_ymd_opt(2026, 10, 26).unwrap(),
        );
        let (b, starts) = buckets(r, &berlin);
        assert_eq!(b, "day");
        assert_eq!(starts.len(), 3);
        assert_eq!(
            local_rfc3339(&berlin, starts[0]),
            "2026-10-24T00:00:00+02:00"
        );
        assert_eq!(starts[2] - starts[1], 25 * HOUR);
        assert_eq!(local_rfc3339(&berlin, r.to), "2026-10-27T00:00:00+01:00");
        // India: day buckets start at the hour before local midnight.
        let india: Zone = "+05:30".parse().unwrap();
        let r = Range::local_days(
            &india,
            first,
            NaiveDate::from_ymd_opt(2026, 10, 27).unwrap(),
        );
        let (_, starts) = buckets(r, &india);
        assert_eq!(starts.len(), 4);
        assert!(starts.windows(2).all(|w| w[1] - w[0] == DAY));
        assert_eq!(
            local_rfc3339(&india, starts[1]),
            "2026-10-24T23:30:00+05:30"
        );
        // Short ranges: hours.
        let (b, starts) = buckets(Range::new(0, 5 * HOUR), &india);
        assert_eq!((b, starts.len()), ("hour", 5));
    }

    #[test]
    fn times_parse_in_the_zone() {
        let z: Zone = "+02:00".parse().unwrap();
        let midnight = 1_793_664_000; // 2026-11-03T00:00:00Z
        assert_eq!(
            parse_time("2026-11-03", &z, false),
            Some(midnight - 2 * HOUR)
        );
        assert_eq!(
            parse_time("2026-11-03", &z, true),
            Some(midnight + DAY - 2 * HOUR)
        );
        assert_eq!(
            parse_time("2026-11-03T01:30", &z, false),
            Some(midnight - 1800)
        );
        assert_eq!(
            parse_time("2026-11-03T00:00:00Z", &z, false),
            Some(midnight)
        );
        assert_eq!(parse_time("1793664000", &z, false), Some(midnight));
        assert_eq!(parse_time("yesterday", &z, false), None);
    }

    #[test]
    fn port_keys_read() {
        assert_eq!(port_label(&[6, 0, 22]), "tcp/22");
        assert_eq!(port_label(&[1, 0xFF, 0xFF]), "icmp");
        assert_eq!(port_label(&[47, 0xFF, 0xFF]), "47");
    }
}
