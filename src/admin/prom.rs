//! Prometheus text exposition (format 0.0.4) for the admin server's
//! `/metrics` route: a pure function from what the planes already write
//! (the responder's stats file, the current snapshot, the sidecar's
//! `feeds.json`, the log intake's counters, `dshield.sqlite`) to text.
//!
//! Families, all prefixed `feedwall_`:
//! - responder counters from the stats file (`*_total`), its serving serial
//!   and the age of the stats file;
//! - the snapshot: serial, age, and per list (label `list`) host records,
//!   wide networks and chunks, only for lists every device may see
//!   (`AUDIENCE_ALL`): per-account list names never appear here;
//! - feeds (label `feed`): entries, ok, held back, seconds since the last
//!   good version, rejected lines of the last fetch, fetch interval;
//! - devices: how many, and how many queried within `ACTIVE_WINDOW_SECS`.
//!   Nothing per device (cardinality);
//! - firewall log intake (`feedwall_log_*_total`: syslog and SMTP received,
//!   stored, refused and dropped, by cause) when the log archive is on, and
//!   DShield submission totals once it ran (`feedwall_dshield_*`).
//!
//! Every family gets `# HELP` and `# TYPE` once, right before its samples;
//! a family without samples is left out. Label values are escaped
//! (backslash, double quote, newline). Inputs are read defensively: a
//! missing or oddly shaped field drops that sample, never the page.

use std::fmt::Write as _;

use serde_json::Value;

use crate::logs::dshield::Stats as DshieldStats;
use crate::logs::intake::Total as IntakeTotal;
use crate::responder::query::Kind;
use crate::snapshot::{ArchivedSnapshot, AUDIENCE_ALL};

/// A device counts as active when it queried within this many seconds.
pub const ACTIVE_WINDOW_SECS: u64 = 15 * 60;

/// What `/metrics` is rendered from.
pub struct PromInput<'a> {
    /// The responder's stats file, parsed (`None` when absent).
    pub stats: Option<&'a Value>,
    /// The current snapshot.
    pub snapshot: Option<&'a ArchivedSnapshot>,
    /// The sidecar's `feeds.json` (feed id -> health).
    pub health: Option<&'a Value>,
    /// The log intake's counters (this process runs the intake); None
    /// when log intake is off. Family `feedwall_log_<name>_total`.
    pub intake: Option<&'a [IntakeTotal]>,
    /// DShield submission totals; None when submission never ran.
    pub dshield: Option<&'a DshieldStats>,
    pub now_unix: u64,
}

/// Metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
}

/// One family being written.
struct Family {
    name: String,
    help: &'static str,
    kind: Type,
    samples: Vec<(Vec<(&'static str, String)>, u64)>,
}

impl Family {
    fn new(name: impl Into<String>, kind: Type, help: &'static str) -> Family {
        Family {
            name: name.into(),
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn sample(&mut self, labels: Vec<(&'static str, String)>, value: u64) -> &mut Self {
        self.samples.push((labels, value));
        self
    }

    fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let kind = match self.kind {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        for (labels, value) in &self.samples {
            out.push_str(&self.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
}

/// Label value escaping (exposition format 0.0.4): `\` `"` and newline.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escaping: `\` and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// How one responder counter (stats file `counters`, names from
/// `metrics.rs`) is exported. Counters sharing a family differ by a label.
struct Export {
    stat: &'static str,
    family: &'static str,
    label: Option<(&'static str, &'static str)>,
    help: &'static str,
}

const fn plain(stat: &'static str, family: &'static str, help: &'static str) -> Export {
    Export {
        stat,
        family,
        label: None,
        help,
    }
}

const fn labelled(
    stat: &'static str,
    family: &'static str,
    label: (&'static str, &'static str),
    help: &'static str,
) -> Export {
    Export {
        stat,
        family,
        label: Some(label),
        help,
    }
}

/// Family of the per-outcome counters (one per `query::Kind`, label
/// `outcome` = the kind's name).
const OUTCOMES: &str = "feedwall_dns_outcomes_total";
const OUTCOMES_HELP: &str = "DNS queries by what the responder did with them.";
const QUERIES_HELP: &str = "DNS queries received by the responder, by transport.";
const UDP_ERRORS_HELP: &str = "UDP socket errors.";

/// The other responder counters.
const COUNTERS: [Export; 11] = [
    labelled(
        "udp_queries",
        "feedwall_dns_queries_total",
        ("transport", "udp"),
        QUERIES_HELP,
    ),
    labelled(
        "tcp_queries",
        "feedwall_dns_queries_total",
        ("transport", "tcp"),
        QUERIES_HELP,
    ),
    plain(
        "truncated",
        "feedwall_dns_truncated_total",
        "UDP answers sent truncated (TC=1) because they did not fit.",
    ),
    labelled(
        "udp_recv_errors",
        "feedwall_dns_udp_errors_total",
        ("op", "receive"),
        UDP_ERRORS_HELP,
    ),
    labelled(
        "udp_send_errors",
        "feedwall_dns_udp_errors_total",
        ("op", "send"),
        UDP_ERRORS_HELP,
    ),
    plain(
        "tcp_connections",
        "feedwall_dns_tcp_connections_total",
        "TCP connections accepted.",
    ),
    plain(
        "tcp_rejected",
        "feedwall_dns_tcp_connections_rejected_total",
        "TCP connections closed at once because the connection cap was reached.",
    ),
    plain(
        "tcp_timeouts",
        "feedwall_dns_tcp_timeouts_total",
        "TCP connections closed by the idle or write timeout.",
    ),
    plain(
        "reloads",
        "feedwall_dns_snapshot_reloads_total",
        "New snapshots swapped in by the responder.",
    ),
    plain(
        "reload_failures",
        "feedwall_dns_snapshot_reload_failures_total",
        "Snapshot files the responder refused (the previous one kept serving).",
    ),
    // The sum of the two transports: not exported twice.
    plain("queries", "", ""),
];

/// Whether a stats counter name is exported by the tables above.
fn is_known_counter(name: &str) -> bool {
    COUNTERS.iter().any(|c| c.stat == name) || Kind::ALL.iter().any(|k| k.name() == name)
}

/// Help of a counter the table above does not know yet (a newer responder).
const OTHER_COUNTER_HELP: &str = "Responder counter (see src/metrics.rs).";

/// Renders the `/metrics` page.
pub fn render(input: &PromInput) -> String {
    let mut families: Vec<Family> = Vec::new();
    responder_families(input, &mut families);
    snapshot_families(input, &mut families);
    feed_families(input, &mut families);
    device_families(input, &mut families);
    log_families(input, &mut families);
    let mut out = String::new();
    for f in &families {
        f.write(&mut out);
    }
    out
}

/// Adds a sample to the family `name`, creating it (in order) if new.
fn add(
    families: &mut Vec<Family>,
    name: &str,
    kind: Type,
    help: &'static str,
    labels: Vec<(&'static str, String)>,
    value: u64,
) {
    match families.iter_mut().find(|f| f.name == name) {
        Some(f) => f.sample(labels, value),
        None => {
            families.push(Family::new(name, kind, help));
            families
                .last_mut()
                .expect("just pushed")
                .sample(labels, value)
        }
    };
}

fn responder_families(input: &PromInput, families: &mut Vec<Family>) {
    let mut up = Family::new(
        "feedwall_dns_stats_available",
        Type::Gauge,
        "1 when the responder's stats file could be read (the responder runs with --stats-file).",
    );
    up.sample(vec![], input.stats.is_some() as u64);
    families.push(up);
    let Some(stats) = input.stats else {
        return;
    };
    if let Some(t) = stats.get("written_unix").and_then(Value::as_u64) {
        add(
            families,
            "feedwall_dns_stats_age_seconds",
            Type::Gauge,
            "Seconds since the responder last wrote its stats file (written every second).",
            vec![],
            input.now_unix.saturating_sub(t),
        );
    }
    if let Some(s) = stats.get("serial").and_then(Value::as_u64) {
        add(
            families,
            "feedwall_dns_serving_serial",
            Type::Gauge,
            "Serial of the snapshot the responder serves.",
            vec![],
            s,
        );
    }
    let Some(counters) = stats.get("counters").and_then(Value::as_object) else {
        return;
    };
    // Outcomes, then the table, then any counter a newer responder added.
    for k in Kind::ALL {
        if let Some(v) = counters.get(k.name()).and_then(Value::as_u64) {
            let labels = vec![("outcome", k.name().to_string())];
            add(families, OUTCOMES, Type::Counter, OUTCOMES_HELP, labels, v);
        }
    }
    for c in COUNTERS.iter().filter(|c| !c.family.is_empty()) {
        if let Some(v) = counters.get(c.stat).and_then(Value::as_u64) {
            let labels = c
                .label
                .map(|(k, v)| vec![(k, v.to_string())])
                .unwrap_or_default();
            add(families, c.family, Type::Counter, c.help, labels, v);
        }
    }
    for (name, v) in counters {
        if is_known_counter(name) || !is_name_part(name) {
            continue;
        }
        if let Some(v) = v.as_u64() {
            let family = format!("feedwall_dns_{name}_total");
            add(
                families,
                &family,
                Type::Counter,
                OTHER_COUNTER_HELP,
                vec![],
                v,
            );
        }
    }
}

fn snapshot_families(input: &PromInput, families: &mut Vec<Family>) {
    let Some(snap) = input.snapshot else {
        return;
    };
    add(
        families,
        "feedwall_snapshot_serial",
        Type::Gauge,
        "Serial of the current snapshot file.",
        vec![],
        snap.serial.to_native() as u64,
    );
    add(
        families,
        "feedwall_snapshot_age_seconds",
        Type::Gauge,
        "Seconds since the current snapshot was built.",
        vec![],
        input.now_unix.saturating_sub(snap.created_unix.to_native()),
    );
    // Only lists every device may see: per-account list names stay private.
    let lists = snap
        .lists
        .iter()
        .filter(|l| l.audience.to_native() == AUDIENCE_ALL);
    for l in lists {
        let list = || ("list", l.name.as_str().to_string());
        for (family, v) in [
            ("ipv4", l.v4_hosts.to_native()),
            ("ipv6", l.v6_hosts.to_native()),
        ] {
            add(
                families,
                "feedwall_list_entries",
                Type::Gauge,
                "Host addresses a list publishes as DNS records, by address family.",
                vec![list(), ("family", family.into())],
                v as u64,
            );
        }
        for (family, v) in [("ipv4", l.wide_v4.len()), ("ipv6", l.wide_v6.len())] {
            add(
                families,
                "feedwall_list_wide_networks",
                Type::Gauge,
                "Networks of a list too wide to publish as host records, by address family.",
                vec![list(), ("family", family.into())],
                v as u64,
            );
        }
        add(
            families,
            "feedwall_list_chunks",
            Type::Gauge,
            "Chunk names of a list that hold data.",
            vec![list()],
            l.chunks.to_native() as u64,
        );
        add(
            families,
            "feedwall_list_chunk_capacity",
            Type::Gauge,
            "Chunk names of a list that exist (NODATA past the data).",
            vec![list()],
            l.capacity.to_native() as u64,
        );
    }
}

/// Whether a feed's last fetch went well: a new good version (`ok: ...`),
/// or the same version again (`unchanged`, `not modified`). Failed fetches,
/// held-back versions and feeds not fetched yet are not ok.
fn feed_ok(status: &str) -> bool {
    status.starts_with("ok")
        || status.starts_with("unchanged")
        || status.starts_with("not modified")
}

fn feed_families(input: &PromInput, families: &mut Vec<Family>) {
    let Some(feeds) = input.health.and_then(Value::as_object) else {
        return;
    };
    for (id, h) in feeds {
        let feed = || vec![("feed", id.clone())];
        if let Some(v) = h.get("entries").and_then(Value::as_u64) {
            add(
                families,
                "feedwall_feed_entries",
                Type::Gauge,
                "Entries of a feed's published (last good) version.",
                feed(),
                v,
            );
        }
        if let Some(s) = h.get("status").and_then(Value::as_str) {
            add(
                families,
                "feedwall_feed_ok",
                Type::Gauge,
                "1 when a feed's last fetch gave a good version or the same one again; 0 when it failed, was held back or has not run.",
                feed(),
                feed_ok(s) as u64,
            );
        }
        if let Some(held) = h.get("held_back") {
            let held = !(held.is_null() || held == &Value::Bool(false));
            add(
                families,
                "feedwall_feed_held_back",
                Type::Gauge,
                "1 when a feed's newest version is held back by the sanity gate (feedwall feeds accept).",
                feed(),
                held as u64,
            );
        }
        let last_good = h
            .get("last_good")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if let Some(t) = last_good {
            let t = t.timestamp().max(0) as u64;
            add(
                families,
                "feedwall_feed_last_good_age_seconds",
                Type::Gauge,
                "Seconds since a feed's last good version was fetched (absent: none yet).",
                feed(),
                input.now_unix.saturating_sub(t),
            );
        }
        if let Some(v) = h.get("rejected_last_fetch").and_then(Value::as_u64) {
            add(
                families,
                "feedwall_feed_rejected_lines",
                Type::Gauge,
                "Lines the parser rejected in a feed's last fetched version.",
                feed(),
                v,
            );
        }
        if let Some(v) = h.get("interval_secs").and_then(Value::as_u64) {
            add(
                families,
                "feedwall_feed_interval_seconds",
                Type::Gauge,
                "Configured fetch interval of a feed.",
                feed(),
                v,
            );
        }
    }
}

fn log_families(input: &PromInput, families: &mut Vec<Family>) {
    for t in input.intake.unwrap_or_default() {
        add(
            families,
            &format!("feedwall_log_{}_total", t.name),
            Type::Counter,
            t.help,
            vec![],
            t.value,
        );
    }
    if let Some(d) = input.dshield {
        add(
            families,
            "feedwall_dshield_batches_total",
            Type::Counter,
            "Batches DShield acknowledged.",
            vec![],
            d.batches,
        );
        add(
            families,
            "feedwall_dshield_lines_total",
            Type::Counter,
            "Log lines in the batches DShield acknowledged.",
            vec![],
            d.lines,
        );
        for (reason, n) in [
            ("excluded", d.dropped.excluded),
            ("too_old", d.dropped.too_old),
            ("too_new", d.dropped.too_new),
        ] {
            add(
                families,
                "feedwall_dshield_dropped_total",
                Type::Counter,
                "Log entries left out of DShield batches, by reason.",
                vec![("reason", reason.to_string())],
                n,
            );
        }
        add(
            families,
            "feedwall_dshield_failures_total",
            Type::Counter,
            "Failed DShield submission attempts (the batch is retried).",
            vec![],
            d.failures,
        );
    }
}

fn device_families(input: &PromInput, families: &mut Vec<Family>) {
    // The stats file's device list (the responder's snapshot, with last
    // query times) when there is one; else the snapshot's.
    let seen = input
        .stats
        .and_then(|s| s.get("devices"))
        .and_then(Value::as_array);
    let (total, active) = match (seen, input.snapshot) {
        (Some(devices), _) => {
            let since = input.now_unix.saturating_sub(ACTIVE_WINDOW_SECS);
            let active = devices
                .iter()
                .filter_map(|d| d.get("last_query_unix").and_then(Value::as_u64))
                .filter(|&t| t >= since)
                .count();
            (devices.len(), Some(active))
        }
        (None, Some(snap)) => (snap.devices.len(), None),
        (None, None) => return,
    };
    add(
        families,
        "feedwall_devices",
        Type::Gauge,
        "Devices in the ACL.",
        vec![],
        total as u64,
    );
    if let Some(active) = active {
        add(
            families,
            "feedwall_devices_active",
            Type::Gauge,
            "Devices that queried within the last 15 minutes.",
            vec![],
            active as u64,
        );
    }
}

/// A counter name usable inside a metric name.
fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::snapshot::{DeviceSpec, ListSpec, MappedSnapshot, SnapshotWriter, ZoneSettings};
    use std::collections::{BTreeMap, BTreeSet};

    const NOW: u64 = 1_764_322_000;

    /// Samples by (name, labels).
    type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

    fn snapshot() -> MappedSnapshot {
        let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), 42);
        w.accounts = vec![(3, "acme".into())];
        w.lists.push(ListSpec {
            name: "attackers".into(),
            audience: AUDIENCE_ALL,
            capacity: Some(4),
            nets: [
                "192.0.2.1/32",
                "192.0.2.2/32",
                "2001:db8::1/128",
                "10.0.0.0/8",
            ]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
            source: "feed:x".into(),
        });
        w.lists.push(ListSpec {
            name: "secret-deny.acme.acct".into(),
            audience: 3,
            capacity: None,
            nets: vec!["198.51.100.1/32".parse().unwrap()],
            source: "account".into(),
        });
        for (i, p) in ["127.0.0.1/32", "127.0.0.2/32", "127.0.0.3/32"]
            .iter()
            .enumerate()
        {
            w.devices.push(DeviceSpec {
                key: i as u64 + 1,
                name: format!("fw{i}"),
                account: 3,
                prefixes: vec![p.parse().unwrap()],
            });
        }
        MappedSnapshot::from_bytes(&w.to_bytes().unwrap()).unwrap()
    }

    fn stats() -> Value {
        let counters: BTreeMap<&str, u64> = Metrics::new()
            .totals()
            .into_keys()
            .enumerate()
            .map(|(i, k)| (k, i as u64 * 10))
            .collect();
        serde_json::json!({
            "serial": 41,
            "written_unix": NOW - 1,
            "counters": counters,
            "devices": [
                { "key": 1, "name": "fw0", "last_query_unix": NOW - 5 },
                { "key": 2, "name": "fw1", "last_query_unix": NOW - ACTIVE_WINDOW_SECS - 1 },
                { "key": 3, "name": "fw2", "last_query_unix": null },
            ],
        })
    }

    fn health() -> Value {
        serde_json::json!({
            "good": { "status": "ok: 10 entries (+1 -0), 2 rejected", "entries": 10,
                      "rejected_last_fetch": 2, "held_back": null,
                      "last_good": "2025-11-28T09:26:10Z", "interval_secs": 3600,
                      "url": "https://example.net/x", "provider": "Example" },
            "same": { "status": "not modified", "entries": 5, "rejected_last_fetch": 0,
                      "held_back": null, "last_good": "2025-11-28T09:00:00Z",
                      "interval_secs": 600, "url": "file:///x", "provider": null },
            "held": { "status": "held back: shrank by 90%", "entries": 100,
                      "rejected_last_fetch": 0, "held_back": "shrank by 90%",
                      "last_good": null, "interval_secs": 600, "url": "x", "provider": null },
            "ev\"il\\id\nx": { "status": "failed: timeout", "entries": 0,
                      "rejected_last_fetch": 0, "held_back": null, "last_good": null,
                      "interval_secs": 60, "url": "x", "provider": null },
        })
    }

    fn intake() -> Vec<crate::logs::intake::Total> {
        let c = crate::logs::intake::Counters::default();
        c.syslog_stored
            .store(41, std::sync::atomic::Ordering::Relaxed);
        c.smtp_unknown_recipient
            .store(3, std::sync::atomic::Ordering::Relaxed);
        c.totals()
    }

    fn dshield() -> DshieldStats {
        DshieldStats {
            batches: 5,
            lines: 1200,
            dropped: crate::logs::dshield::Dropped {
                excluded: 7,
                too_old: 1,
                too_new: 0,
            },
            failures: 2,
        }
    }

    fn render_all() -> String {
        let snap = snapshot();
        let (s, h, i, d) = (stats(), health(), intake(), dshield());
        render(&PromInput {
            stats: Some(&s),
            snapshot: Some(snap.get()),
            health: Some(&h),
            intake: Some(i.as_slice()),
            dshield: Some(&d),
            now_unix: NOW,
        })
    }

    fn is_metric_name(s: &str) -> bool {
        let mut b = s.bytes();
        matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
    }

    fn is_label_name(s: &str) -> bool {
        let mut b = s.bytes();
        matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    }

    /// One sample line: name, labels (unescaped), value. Panics with the
    /// line on any deviation from the 0.0.4 grammar.
    fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(is_metric_name(name), "metric name {name:?} in {line:?}");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest.find('=').unwrap_or_else(|| panic!("label: {line}"));
                let lname = &rest[..eq];
                assert!(is_label_name(lname), "label name {lname:?} in {line:?}");
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("quote: {line}"));
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some((i, '"')) => break i,
                        Some((_, '\n')) => panic!("raw newline in {line:?}"),
                        Some((_, c)) => value.push(c),
                        None => panic!("unterminated label value: {line:?}"),
                    }
                };
                labels.push((lname.to_string(), value));
                rest = &rest[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("space before value: {line:?}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value {value:?} in {line:?}"));
        (name.to_string(), labels, v)
    }

    /// Checks the grammar and HELP/TYPE placement; returns samples by
    /// (name, labels).
    fn check(text: &str) -> Samples {
        assert!(text.ends_with('\n'));
        let mut samples = BTreeMap::new();
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut current: Option<String> = None;
        let mut help_seen: Option<String> = None;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(r) = line.strip_prefix("# HELP ") {
                let name = r.split(' ').next().unwrap().to_string();
                assert!(is_metric_name(&name), "{line}");
                assert!(!done.contains(&name), "HELP twice for {name}");
                if let Some(c) = current.take() {
                    done.insert(c);
                }
                help_seen = Some(name);
                continue;
            }
            if let Some(r) = line.strip_prefix("# TYPE ") {
                let (name, kind) = r.split_once(' ').unwrap();
                assert_eq!(
                    help_seen.as_deref(),
                    Some(name),
                    "TYPE right after HELP: {line}"
                );
                assert!(kind == "counter" || kind == "gauge", "{line}");
                assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
                assert!(name.starts_with("feedwall_"), "{line}");
                current = help_seen.take();
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line}");
            let (name, labels, v) = parse_sample(line);
            assert_eq!(
                current.as_deref(),
                Some(name.as_str()),
                "sample outside its family: {line}"
            );
            assert!(
                samples.insert((name, labels), v).is_none(),
                "duplicate sample {line}"
            );
        }
        samples
    }

    fn get(s: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        s.get(&key).copied()
    }

    #[test]
    fn renders_valid_exposition_with_every_family() {
        let text = render_all();
        let s = check(&text);
        // Responder.
        assert_eq!(get(&s, "feedwall_dns_stats_available", &[]), Some(1.0));
        assert_eq!(get(&s, "feedwall_dns_stats_age_seconds", &[]), Some(1.0));
        assert_eq!(get(&s, "feedwall_dns_serving_serial", &[]), Some(41.0));
        let totals = Metrics::new().totals();
        let expect = |name: &str| totals.keys().position(|k| *k == name).unwrap() as f64 * 10.0;
        assert_eq!(
            get(&s, "feedwall_dns_queries_total", &[("transport", "udp")]),
            Some(expect("udp_queries"))
        );
        assert_eq!(
            get(
                &s,
                "feedwall_dns_outcomes_total",
                &[("outcome", "refused_acl")]
            ),
            Some(expect("refused_acl"))
        );
        assert_eq!(
            get(&s, "feedwall_dns_snapshot_reload_failures_total", &[]),
            Some(expect("reload_failures"))
        );
        // Snapshot and public lists only.
        assert_eq!(get(&s, "feedwall_snapshot_serial", &[]), Some(42.0));
        assert!(get(&s, "feedwall_snapshot_age_seconds", &[]).is_some());
        assert_eq!(
            get(
                &s,
                "feedwall_list_entries",
                &[("list", "attackers"), ("family", "ipv4")]
            ),
            Some(2.0)
        );
        assert_eq!(
            get(
                &s,
                "feedwall_list_entries",
                &[("list", "attackers"), ("family", "ipv6")]
            ),
            Some(1.0)
        );
        assert_eq!(
            get(
                &s,
                "feedwall_list_wide_networks",
                &[("list", "attackers"), ("family", "ipv4")]
            ),
            Some(1.0)
        );
        assert_eq!(
            get(&s, "feedwall_list_chunks", &[("list", "attackers")]),
            Some(1.0)
        );
        assert_eq!(
            get(&s, "feedwall_list_chunk_capacity", &[("list", "attackers")]),
            Some(4.0)
        );
        assert!(!text.contains("secret-deny"), "per-account list exposed");
        assert!(!text.contains("acme"), "account name exposed");
        // Feeds.
        assert_eq!(get(&s, "feedwall_feed_ok", &[("feed", "good")]), Some(1.0));
        assert_eq!(get(&s, "feedwall_feed_ok", &[("feed", "same")]), Some(1.0));
        assert_eq!(get(&s, "feedwall_feed_ok", &[("feed", "held")]), Some(0.0));
        assert_eq!(
            get(&s, "feedwall_feed_held_back", &[("feed", "held")]),
            Some(1.0)
        );
        assert_eq!(
            get(&s, "feedwall_feed_held_back", &[("feed", "good")]),
            Some(0.0)
        );
        assert_eq!(
            get(&s, "feedwall_feed_entries", &[("feed", "held")]),
            Some(100.0)
        );
        assert_eq!(
            get(&s, "feedwall_feed_rejected_lines", &[("feed", "good")]),
            Some(2.0)
        );
        assert_eq!(
            get(&s, "feedwall_feed_interval_seconds", &[("feed", "good")]),
            Some(3600.0)
        );
        // 2025-11-28T09:26:10Z is 1764321970.
        assert_eq!(
            get(
                &s,
                "feedwall_feed_last_good_age_seconds",
                &[("feed", "good")]
            ),
            Some(30.0)
        );
        assert_eq!(
            get(
                &s,
                "feedwall_feed_last_good_age_seconds",
                &[("feed", "held")]
            ),
            None
        );
        // Devices: totals only.
        assert_eq!(get(&s, "feedwall_devices", &[]), Some(3.0));
        assert_eq!(get(&s, "feedwall_devices_active", &[]), Some(1.0));
        assert!(
            !text.contains("fw0") && !text.contains("fw1"),
            "per-device series"
        );
    }

    #[test]
    fn log_intake_and_dshield_totals_are_counters() {
        let text = render_all();
        let s = check(&text);
        for t in crate::logs::intake::Counters::default().totals() {
            let family = format!("feedwall_log_{}_total", t.name);
            assert!(get(&s, &family, &[]).is_some(), "{family}");
            assert!(
                text.contains(&format!("# HELP {family} {}\n", t.help)),
                "{family} without its description"
            );
        }
        assert_eq!(get(&s, "feedwall_log_syslog_stored_total", &[]), Some(41.0));
        assert_eq!(
            get(&s, "feedwall_log_smtp_unknown_recipient_total", &[]),
            Some(3.0)
        );
        assert_eq!(get(&s, "feedwall_log_smtp_lines_total", &[]), Some(0.0));
        assert_eq!(get(&s, "feedwall_dshield_lines_total", &[]), Some(1200.0));
        assert_eq!(
            get(
                &s,
                "feedwall_dshield_dropped_total",
                &[("reason", "excluded")]
            ),
            Some(7.0)
        );
        assert_eq!(get(&s, "feedwall_dshield_failures_total", &[]), Some(2.0));
        assert!(text.contains("# TYPE feedwall_dshield_dropped_total counter\n"));
        // Intake off, no submissions: no such families at all.
        let snap = snapshot();
        let out = render(&PromInput {
            stats: None,
            snapshot: Some(snap.get()),
            health: None,
            intake: None,
            dshield: None,
            now_unix: NOW,
        });
        assert!(!out.contains("feedwall_log_") && !out.contains("feedwall_dshield_"));
    }

    #[test]
    fn every_responder_counter_has_a_described_family() {
        for name in Metrics::new().totals().keys() {
            assert!(
                is_known_counter(name),
                "counter {name} has no Prometheus family in prom.rs COUNTERS"
            );
        }
        let text = render_all();
        assert!(!text.contains(OTHER_COUNTER_HELP));
    }

    #[test]
    fn hostile_feed_id_is_escaped() {
        let text = render_all();
        let s = check(&text);
        assert_eq!(
            get(&s, "feedwall_feed_ok", &[("feed", "ev\"il\\id\nx")]),
            Some(0.0)
        );
        assert!(
            text.contains(r#"feedwall_feed_ok{feed="ev\"il\\id\nx"} 0"#),
            "{text}"
        );
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
    }

    #[test]
    fn help_and_type_once_per_family_before_samples() {
        let text = render_all();
        let mut helps = BTreeMap::new();
        for l in text.lines().filter(|l| l.starts_with("# HELP ")) {
            *helps.entry(l.split(' ').nth(2).unwrap()).or_insert(0) += 1;
        }
        assert!(helps.values().all(|&n| n == 1), "{helps:?}");
        assert!(helps.contains_key("feedwall_dns_outcomes_total"));
        // `check` enforces the placement; an unknown counter from a newer
        // responder becomes a family of its own.
        let mut st = stats();
        st["counters"]["brand_new"] = 7.into();
        st["counters"]["Bad Name{"] = 1.into();
        let out = render(&PromInput {
            stats: Some(&st),
            snapshot: None,
            health: None,
            intake: None,
            dshield: None,
            now_unix: NOW,
        });
        let s = check(&out);
        assert_eq!(get(&s, "feedwall_dns_brand_new_total", &[]), Some(7.0));
        assert!(!out.contains("Bad Name"));
    }

    #[test]
    fn absent_inputs_render_little_but_valid() {
        let out = render(&PromInput {
            stats: None,
            snapshot: None,
            health: None,
            intake: None,
            dshield: None,
            now_unix: NOW,
        });
        let s = check(&out);
        assert_eq!(s.len(), 1);
        assert_eq!(get(&s, "feedwall_dns_stats_available", &[]), Some(0.0));
        // Odd shapes drop samples, not the page.
        let st = serde_json::json!({ "counters": [1, 2], "devices": "x", "serial": "y" });
        let h = serde_json::json!({ "f": { "entries": "many", "status": 3, "last_good": "yesterday" } });
        let snap = snapshot();
        let out = render(&PromInput {
            stats: Some(&st),
            snapshot: Some(snap.get()),
            health: Some(&h),
            intake: None,
            dshield: None,
            now_unix: 0,
        });
        let s = check(&out);
        // Clock before the snapshot: age 0, never negative.
        assert_eq!(get(&s, "feedwall_snapshot_age_seconds", &[]), Some(0.0));
        assert_eq!(get(&s, "feedwall_devices", &[]), Some(3.0));
        assert_eq!(get(&s, "feedwall_devices_active", &[]), None);
    }

    /// The same page through the reference parser (Debian's
    /// python3-prometheus-client, installed by tests/run-all.sh).
    #[test]
    fn prometheus_client_parses_the_page() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        // Debian's python3 (where apt installs it), else the first on PATH.
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|py| {
                Command::new(py)
                    .args(["-c", "import prometheus_client.parser"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect(
                "python3 module prometheus_client is missing; run tests/run-all.sh (it installs python3-prometheus-client)",
            );
        let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
n = 0
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        n += 1
        if s.name == "feedwall_feed_ok" and s.labels.get("feed") == 'ev"il\\id\nx':
            print("hostile-ok", s.value)
    print("family", fam.name, fam.type, len(fam.samples))
print("samples", n)
"#;
        let text = render_all();
        let mut child = Command::new(python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python3");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "parser failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = check(&text).len();
        assert!(stdout.contains(&format!("samples {ours}\n")), "{stdout}");
        assert!(stdout.contains("hostile-ok 0.0"), "{stdout}");
        // The parser strips `_total` from counter family names.
        assert!(
            stdout.contains("family feedwall_dns_outcomes counter 11"),
            "{stdout}"
        );
    }
}
