//! Reports over the firewall-log archive. The fixture logs are ingested for
//! two accounts, tagged by a feed archive whose feeds listed some fixture
//! addresses from a past time (one feed dropped half its entries in the
//! middle of the logs, one started listing then, one the account does not
//! subscribe to); every report number is checked against counts computed
//! here from the parsed records and the feed versions (a naive oracle: "which
//! version was current at the record's time, and does it contain the
//! address"). Then the same through the real appliance over HTTPS: the
//! page draws SVG, the CSV has its header, the API's JSON matches, and one
//! account sees nothing of another's logs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use feedwall::archive::{Archive, FeedMeta, FeedVersion, Timestamp};
use feedwall::logs::correlate::FeedIndex;
use feedwall::logs::ingest::{ingest, Target};
use feedwall::logs::record::canonical;
use feedwall::logs::report::{self, Counts, FeedInfo, Range, Report, ReportQuery, MAX_TOP};
use feedwall::logs::store::{LogStore, Source, FILE_NAME};
use feedwall::logs::{parse_stream, Action, Clock, LineParser, LogRecord, Outcome, Zone};
use ipnet::IpNet;

use super::admin_harness::{Options, System};

/// 2026-10-01T00:00:00Z: long before the fixture logs (2026-11-03..05).
const T_OLD: i64 = 1_790_812_800;
/// 2026-11-04T00:00:00Z.
const NOV4: i64 = 1_793_750_400;
/// 2026-11-04T12:00:00Z.
const MID: i64 = NOV4 + 12 * 3600;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture feed's entries, from its expected file.
fn feed_entries(rel: &str) -> Vec<IpNet> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("feeds").join(rel)).unwrap())
            .unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().parse().unwrap())
        .collect()
}

/// A feed's versions in order: (fetched at, entries).
type Versions = Vec<(i64, Vec<IpNet>)>;

/// A feed of the test archive: its versions (time, entries) in order.
struct TestFeed {
    key: &'static str,
    category: &'static str,
    subscribed: bool,
    versions: Versions,
}

impl TestFeed {
    /// The oracle: the version current at `t` contains `a`.
    fn lists(&self, a: IpAddr, t: i64) -> bool {
        let a = canonical(a);
        self.versions
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .is_some_and(|(_, nets)| nets.iter().any(|n| n.contains(&a)))
    }
}

fn test_feeds() -> Vec<TestFeed> {
    let et = feed_entries("emerging_threats/expected/compromised-ips.txt.json");
    let half = et[..et.len() / 2].to_vec();
    vec![
        TestFeed {
            key: "cins",
            category: "attackers",
            subscribed: true,
            versions: vec![(T_OLD, feed_entries("cins/expected/ci-badguys.txt.json"))],
        },
        TestFeed {
            key: "et",
            category: "attackers",
            subscribed: true,
            versions: vec![(T_OLD, et), (MID, half)],
        },
        TestFeed {
            key: "tor",
            category: "anonymizers",
            subscribed: true,
            versions: vec![(NOV4, feed_entries("tor_exit/expected/torbulkexitlist.json"))],
        },
        TestFeed {
            key: "firehol",
            category: "reputation",
            subscribed: false,
            versions: vec![(
                T_OLD,
                feed_entries("firehol_netset/expected/firehol_level1.netset.json"),
            )],
        },
    ]
}

/// Writes the feeds' versions into a feed archive.
fn write_archive(path: &Path, feeds: &[(String, Versions)]) {
    let mut a = Archive::open(path).unwrap();
    for (key, versions) in feeds {
        let meta = FeedMeta {
            id: key.clone(),
            name: key.clone(),
            ..FeedMeta::default()
        };
        for (t, nets) in versions {
            let v = FeedVersion {
                feed: key.clone(),
                fetched_at: Timestamp(*t),
                hash: format!("{key}-{t}"),
                entries: nets.iter().map(|n| (*n, Default::default())).collect(),
                ..FeedVersion::default()
            };
            a.store_version(&meta, &v).unwrap();
        }
    }
}

fn clock() -> Clock {
    Clock {
        zone: Zone::Utc,
        year: Some(2026),
        now: 1_800_000_000,
    }
}

/// The records of a fixture log, parsed independently of the ingest.
fn records(rel: &str) -> Vec<LogRecord> {
    let bytes = std::fs::read(fixtures().join("logs").join(rel)).unwrap();
    let mut parser = LineParser::new(None, clock());
    let mut out = Vec::new();
    parse_stream::<_, std::io::Error>(&bytes[..], &mut parser, |line| {
        if let Outcome::Record(r) = line.outcome {
            out.push(r);
        }
        Ok(())
    })
    .unwrap();
    assert!(out.len() > 100, "{rel}: only {} records parsed", out.len());
    out
}

/// One stored connection as the oracle sees it.
struct Rec {
    device: i64,
    r: LogRecord,
    /// Keys of the feeds that listed its source or destination at its time.
    feeds: BTreeSet<&'static str>,
}

fn tag(device: i64, recs: Vec<LogRecord>, feeds: &[TestFeed]) -> Vec<Rec> {
    recs.into_iter()
        .map(|r| Rec {
            device,
            feeds: feeds
                .iter()
                .filter(|f| f.lists(r.src, r.time) || f.lists(r.dst, r.time))
                .map(|f| f.key)
                .collect(),
            r,
        })
        .collect()
}

fn ingest_file(store: &mut LogStore, index: &FeedIndex, account: i64, device: i64, rel: &str) {
    let bytes = std::fs::read(fixtures().join("logs").join(rel)).unwrap();
    let target = Target {
        account,
        device,
        clock: clock(),
        format: None,
    };
    let receipt = ingest(store, index, target, Source::Cli, &bytes[..], 1 << 30).unwrap();
    assert!(receipt.accepted > 100, "{rel}: {receipt:?}");
}

fn add(c: &mut Counts, action: Action, listed: bool, n: u64) {
    match action {
        Action::Block => {
            c.blocked += n;
            if listed {
                c.blocked_listed += n;
            }
        }
        Action::Allow => {
            c.allowed += n;
            if listed {
                c.allowed_listed += n;
            }
        }
    }
}

fn port_of(r: &LogRecord) -> String {
    match r.dport {
        Some(p) => format!("{}/{p}", r.proto),
        None => r.proto.to_string(),
    }
}

/// Everything a report should say about `recs` inside `[from, to)`.
#[derive(Debug, Default, PartialEq)]
struct Expect {
    totals: Counts,
    devices: BTreeMap<i64, Counts>,
    /// feed → (subscribed, blocked, exclusive, allowed listed).
    feeds: BTreeMap<String, (bool, u64, u64, u64)>,
    /// category → (blocked, allowed listed).
    categories: BTreeMap<String, (u64, u64)>,
    /// Keys with blocked connections.
    sources: BTreeMap<String, Counts>,
    destinations: BTreeMap<String, Counts>,
    ports: BTreeMap<String, Counts>,
    /// Keys with allowed listed connections.
    allowed_sources: BTreeMap<String, Counts>,
    allowed_destinations: BTreeMap<String, Counts>,
    /// Timeline label → counts (non-empty buckets).
    timeline: BTreeMap<String, Counts>,
}

fn expect(recs: &[Rec], feeds: &[TestFeed], range: Range, label: impl Fn(i64) -> String) -> Expect {
    let mut e = Expect::default();
    let subscribed: BTreeSet<&str> = feeds
        .iter()
        .filter(|f| f.subscribed)
        .map(|f| f.key)
        .collect();
    let category = |k: &str| feeds.iter().find(|f| f.key == k).unwrap().category;
    for f in feeds.iter().filter(|f| f.subscribed) {
        e.feeds.insert(f.key.into(), (true, 0, 0, 0));
    }
    let mut src: BTreeMap<String, Counts> = BTreeMap::new();
    let mut dst: BTreeMap<String, Counts> = BTreeMap::new();
    let mut ports: BTreeMap<String, Counts> = BTreeMap::new();
    for rec in recs
        .iter()
        .filter(|x| range.from <= x.r.time && x.r.time < range.to)
    {
        let r = &rec.r;
        let n = u64::from(r.count.max(1));
        let subs: Vec<&str> = rec
            .feeds
            .iter()
            .copied()
            .filter(|k| subscribed.contains(k))
            .collect();
        let listed = !subs.is_empty();
        add(&mut e.totals, r.action, listed, n);
        add(
            e.devices.entry(rec.device).or_default(),
            r.action,
            listed,
            n,
        );
        add(
            src.entry(r.src.to_string()).or_default(),
            r.action,
            listed,
            n,
        );
        add(
            dst.entry(r.dst.to_string()).or_default(),
            r.action,
            listed,
            n,
        );
        add(ports.entry(port_of(r)).or_default(), r.action, listed, n);
        add(
            e.timeline.entry(label(r.time)).or_default(),
            r.action,
            listed,
            n,
        );
        let blocked = r.action == Action::Block;
        for k in &rec.feeds {
            let row = e
                .feeds
                .entry(k.to_string())
                .or_insert((subscribed.contains(k), 0, 0, 0));
            if blocked {
                row.1 += n;
            } else {
                row.3 += n;
            }
        }
        if let [only] = subs[..] {
            if blocked {
                e.feeds.get_mut(only).unwrap().2 += n;
            }
        }
        let cats: BTreeSet<&str> = subs.iter().map(|k| category(k)).collect();
        for c in cats {
            let row = e.categories.entry(c.to_string()).or_default();
            if blocked {
                row.0 += n;
            } else {
                row.1 += n;
            }
        }
    }
    let keep = |m: &BTreeMap<String, Counts>, by: fn(&Counts) -> u64| -> BTreeMap<String, Counts> {
        m.iter()
            .filter(|(_, c)| by(c) > 0)
            .map(|(k, c)| (k.clone(), *c))
            .collect()
    };
    e.sources = keep(&src, |c| c.blocked);
    e.destinations = keep(&dst, |c| c.blocked);
    e.ports = keep(&ports, |c| c.blocked);
    e.allowed_sources = keep(&src, |c| c.allowed_listed);
    e.allowed_destinations = keep(&dst, |c| c.allowed_listed);
    e
}

/// The same shape, read from a report.
fn got(r: &Report) -> Expect {
    let map = |rows: &[report::TopRow]| -> BTreeMap<String, Counts> {
        rows.iter().map(|t| (t.key.clone(), t.counts)).collect()
    };
    Expect {
        totals: r.totals,
        devices: r
            .by_device
            .iter()
            .filter(|d| d.counts != Counts::default())
            .map(|d| (d.device, d.counts))
            .collect(),
        feeds: r
            .by_feed
            .iter()
            .map(|f| {
                (
                    f.feed.clone(),
                    (f.subscribed, f.blocked, f.exclusive, f.allowed_listed),
                )
            })
            .collect(),
        categories: r
            .by_category
            .iter()
            .map(|c| (c.category.clone(), (c.blocked, c.allowed_listed)))
            .collect(),
        sources: map(&r.top_sources),
        destinations: map(&r.top_destinations),
        ports: map(&r.top_ports),
        allowed_sources: map(&r.allowed_listed_sources),
        allowed_destinations: map(&r.allowed_listed_destinations),
        timeline: r
            .timeline
            .iter()
            .filter(|b| b.counts != Counts::default())
            .map(|b| (b.label.clone(), b.counts))
            .collect(),
    }
}

fn query(
    account: i64,
    range: Range,
    zone: Zone,
    feeds: &[TestFeed],
    devices: &[(i64, &str)],
) -> ReportQuery {
    ReportQuery {
        account,
        range,
        zone,
        feeds: feeds
            .iter()
            .map(|f| FeedInfo {
                key: f.key.into(),
                name: format!("{} feed", f.key),
                category: f.category.into(),
            })
            .collect(),
        subscribed: feeds
            .iter()
            .filter(|f| f.subscribed)
            .map(|f| f.key.to_string())
            .collect(),
        devices: devices.iter().map(|(id, n)| (*id, n.to_string())).collect(),
        top: MAX_TOP,
    }
}

fn local_label(zone: Zone, fmt: &'static str) -> impl Fn(i64) -> String {
    move |t| report::local_time(&zone, t).format(fmt).to_string()
}

#[test]
fn report_numbers_match_the_records_and_accounts_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = test_feeds();
    let archive = dir.path().join("archive.sqlite");
    write_archive(
        &archive,
        &feeds
            .iter()
            .map(|f| (f.key.to_string(), f.versions.clone()))
            .collect::<Vec<_>>(),
    );
    let index = FeedIndex::load(&archive).unwrap();
    let mut store = LogStore::open(&dir.path().join(FILE_NAME)).unwrap();
    // Account 1: two devices (iptables and nftables logs); account 2: the
    // same iptables log on its own device.
    ingest_file(&mut store, &index, 1, 10, "iptables/kern.log");
    ingest_file(&mut store, &index, 1, 11, "nftables/nft.log");
    ingest_file(&mut store, &index, 2, 20, "iptables/kern.log");
    let kern = records("iptables/kern.log");
    let mut a = tag(10, kern.clone(), &feeds);
    a.extend(tag(11, records("nftables/nft.log"), &feeds));
    let b = tag(20, kern, &feeds);
    assert_eq!(store.entry_count(1).unwrap(), a.len() as u64);
    assert_eq!(store.entry_count(2).unwrap(), b.len() as u64);

    // The data exercise what the report claims to handle.
    let tor = &feeds[2];
    let before_tor = a.iter().filter(|x| {
        x.r.time < NOV4
            && (tor.versions[0]
                .1
                .iter()
                .any(|n| n.contains(&x.r.src) || n.contains(&x.r.dst)))
    });
    let et_dropped = a.iter().filter(|x| {
        x.r.time >= MID
            && !x.feeds.contains("et")
            && feeds[1].versions[0]
                .1
                .iter()
                .any(|n| n.contains(&x.r.src) || n.contains(&x.r.dst))
    });
    assert!(
        before_tor.count() + et_dropped.count() > 0,
        "no record tests listing at the entry's time"
    );

    let utc_days = Range::local_days(
        &Zone::Utc,
        NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
    );
    let devices_a = [(10, "fw-a"), (11, "nft-a"), (20, "not account 1's")];
    let r = report::build(
        store.connection(),
        &query(1, utc_days, Zone::Utc, &feeds, &devices_a),
    )
    .unwrap();
    let want = expect(&a, &feeds, utc_days, local_label(Zone::Utc, "%Y-%m-%d"));
    assert_eq!(got(&r), want);
    assert_eq!(r.bucket, "day");
    assert_eq!(r.timeline.len(), 3);
    assert!(
        want.totals.blocked_listed > 0 && want.totals.allowed_listed > 0,
        "{:?}",
        want.totals
    );
    assert!(
        want.feeds.values().any(|f| f.2 > 0),
        "no exclusive counts: {:?}",
        want.feeds
    );
    assert!(
        want.feeds["firehol"].1 > 0 && !want.feeds["firehol"].0,
        "{:?}",
        want.feeds
    );
    // The other account's device is listed (it was asked for) with nothing.
    assert_eq!(
        r.by_device.iter().find(|d| d.device == 20).unwrap().counts,
        Counts::default()
    );
    let listed_total: u64 = a
        .iter()
        .filter(|x| x.feeds.iter().any(|k| k != &"firehol"))
        .map(|x| u64::from(x.r.count.max(1)))
        .sum();
    assert_eq!(
        r.totals.blocked_listed + r.totals.allowed_listed,
        listed_total
    );

    // Day buckets in New York (UTC-5 in November) shift records of the first
    // hours of 3 November UTC into 2 November.
    let ny: Zone = "America/New_York".parse().unwrap();
    let ny_days = Range::local_days(
        &ny,
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
    );
    let r = report::build(
        store.connection(),
        &query(1, ny_days, ny, &feeds, &devices_a),
    )
    .unwrap();
    let want = expect(&a, &feeds, ny_days, local_label(ny, "%Y-%m-%d"));
    assert_eq!(got(&r), want);
    assert_eq!(r.timeline.len(), 4);
    assert_eq!(r.timeline[0].start, "2026-11-02T00:00:00-05:00");
    assert!(
        want.timeline.contains_key("2026-11-02"),
        "{:?}",
        want.timeline.keys()
    );

    // Ragged ends: hours of 3 and 5 November around the whole day of the
    // 4th (day rows and hour rows summed).
    let ragged = Range::new(NOV4 - 19 * 3600 + 1234, NOV4 + 24 * 3600 + 19 * 3600 - 60);
    assert_eq!(ragged.segments().len(), 3);
    let r = report::build(
        store.connection(),
        &query(1, ragged, Zone::Utc, &feeds, &devices_a),
    )
    .unwrap();
    assert_eq!(
        got(&r),
        expect(&a, &feeds, ragged, local_label(Zone::Utc, "%Y-%m-%d"))
    );

    // Hourly buckets, in a half-hour zone.
    let india: Zone = "+05:30".parse().unwrap();
    let day = Range::new(NOV4, NOV4 + 24 * 3600);
    let r = report::build(
        store.connection(),
        &query(1, day, india, &feeds, &devices_a),
    )
    .unwrap();
    assert_eq!(r.bucket, "hour");
    assert_eq!(r.timeline[0].label, "2026-11-04 05:30");
    let hour_label = move |t: i64| {
        report::local_time(&india, t.div_euclid(3600) * 3600)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    assert_eq!(got(&r), expect(&a, &feeds, day, hour_label));

    // Account 2 sees exactly its own log, account 3 nothing.
    let r = report::build(
        store.connection(),
        &query(2, utc_days, Zone::Utc, &feeds, &[(20, "fw-b")]),
    )
    .unwrap();
    assert_eq!(
        got(&r),
        expect(&b, &feeds, utc_days, local_label(Zone::Utc, "%Y-%m-%d"))
    );
    let r = report::build(
        store.connection(),
        &query(3, utc_days, Zone::Utc, &feeds, &[]),
    )
    .unwrap();
    assert_eq!(r.totals, Counts::default());
    assert!(r.top_sources.is_empty() && r.top_ports.is_empty() && r.by_device.is_empty());
    assert!(r
        .by_feed
        .iter()
        .all(|f| f.blocked == 0 && f.allowed_listed == 0));
    assert!(r.timeline.iter().all(|b| b.counts == Counts::default()));

    // Top lists are cut to the rows asked for, most blocked first.
    let mut q = query(1, utc_days, Zone::Utc, &feeds, &devices_a);
    q.top = 5;
    let r = report::build(store.connection(), &q).unwrap();
    assert_eq!(r.top_sources.len(), 5);
    assert!(r
        .top_sources
        .windows(2)
        .all(|w| w[0].counts.blocked >= w[1].counts.blocked));
    let max = want_max_blocked(&a, utc_days);
    assert_eq!(r.top_sources[0].counts.blocked, max);
}

fn want_max_blocked(recs: &[Rec], range: Range) -> u64 {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for x in recs
        .iter()
        .filter(|x| x.r.action == Action::Block && range.from <= x.r.time && x.r.time < range.to)
    {
        *m.entry(x.r.src.to_string()).or_default() += u64::from(x.r.count.max(1));
    }
    m.values().copied().max().unwrap_or(0)
}

/// The appliance's test feeds (see the admin harness): feed-a and feed-b,
/// each in one basic list, so every account subscribes to both.
fn harness_feeds(recs: &[LogRecord]) -> Vec<(String, Versions)> {
    let blocked: BTreeSet<IpAddr> = recs
        .iter()
        .filter(|r| r.action == Action::Block)
        .map(|r| r.src)
        .collect();
    let allowed: BTreeSet<IpAddr> = recs
        .iter()
        .filter(|r| r.action == Action::Allow)
        .map(|r| r.dst)
        .collect();
    let a: Vec<IpNet> = blocked
        .iter()
        .step_by(3)
        .take(40)
        .map(|a| IpNet::from(*a))
        .collect();
    let b: Vec<IpNet> = allowed
        .iter()
        .step_by(2)
        .take(10)
        .map(|a| IpNet::from(*a))
        .collect();
    vec![
        ("feed-a".into(), vec![(T_OLD, a)]),
        ("feed-b".into(), vec![(T_OLD, b)]),
    ]
}

#[test]
fn reports_over_https_draw_svg_export_csv_and_keep_accounts_apart() {
    let sys = System::start(Options::default());
    let mut a = sys.signup("reports-a@example.com");
    let mut b = sys.signup("reports-b@example.com");
    let account_a = a.json("GET", "/api/account", None).json()["id"]
        .as_i64()
        .unwrap();
    let dev = a.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"fw-a","kind":"unbound","prefix":"127.0.0.31"})),
    );
    dev.expect_status(201);
    let device_a = dev.json()["id"].as_i64().unwrap();
    b.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"fw-b","kind":"unbound","prefix":"127.0.0.32"})),
    )
    .expect_status(201);

    // Account A's log, tagged by a feed archive of the appliance's feed ids.
    let recs = records("iptables/kern.log");
    let feeds = harness_feeds(&recs);
    let archive = sys.dir.path().join("report-feeds.sqlite");
    write_archive(&archive, &feeds);
    let index = FeedIndex::load(&archive).unwrap();
    {
        let mut store = LogStore::open(&sys.data.join(FILE_NAME)).unwrap();
        ingest_file(&mut store, &index, account_a, device_a, "iptables/kern.log");
    }
    let listed = |r: &LogRecord| {
        feeds.iter().any(|(_, v)| {
            v[0].1
                .iter()
                .any(|n| n.contains(&r.src) || n.contains(&r.dst))
        })
    };
    let mut want = Counts::default();
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    for r in &recs {
        add(&mut want, r.action, listed(r), u64::from(r.count.max(1)));
        if r.action == Action::Block {
            *sources.entry(r.src.to_string()).or_default() += u64::from(r.count.max(1));
        }
    }
    assert!(
        want.blocked_listed > 0 && want.allowed_listed > 0,
        "{want:?}"
    );
    let range = "from=2026-11-03&to=2026-11-05&tz=UTC";

    // The page: charts as SVG, nothing the CSP would refuse.
    let page = a.get(&format!("/reports?{range}"));
    page.expect_status(200);
    assert!(
        page.body.contains("<svg") && page.body.contains("id=\"timeline-chart\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("style="),
        "inline style under a CSP without 'unsafe-inline'"
    );
    assert_eq!(
        page.body.matches("<script").count(),
        1,
        "only the app's script file"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let top = sources
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone())))
        .unwrap();
    assert!(
        page.body.contains(top.0.as_str()),
        "top source {} not shown",
        top.0
    );
    // The presets render too.
    a.get("/reports").expect_status(200);
    a.get("/reports?range=30d").expect_status(200);

    // CSV: header row, one row per blocked source.
    let csv = a.get(&format!("/reports.csv?section=top_sources&{range}"));
    csv.expect_status(200);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "source,blocked,blocked_listed,allowed,allowed_listed"
    );
    assert_eq!(lines.len() - 1, sources.len());
    let csv_total: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(csv_total, want.blocked);
    a.get(&format!("/reports.csv?section=nope&{range}"))
        .expect_status(400);

    // The API: the same numbers.
    let j = a.json("GET", &format!("/api/reports?{range}"), None);
    j.expect_status(200);
    let j = j.json();
    let counts = |v: &serde_json::Value| -> [u64; 4] {
        ["blocked", "blocked_listed", "allowed", "allowed_listed"].map(|k| v[k].as_u64().unwrap())
    };
    assert_eq!(
        counts(&j["totals"]),
        [
            want.blocked,
            want.blocked_listed,
            want.allowed,
            want.allowed_listed
        ]
    );
    assert_eq!(j["account"].as_i64(), Some(account_a));
    assert_eq!(j["by_device"][0]["name"], "fw-a");
    assert_eq!(counts(&j["by_device"][0]), counts(&j["totals"]));
    assert_eq!(j["top_sources"][0]["key"].as_str(), Some(top.0.as_str()));
    assert_eq!(j["top_sources"][0]["blocked"].as_u64(), Some(*top.1));
    let feed_a = j["by_feed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "feed-a")
        .unwrap();
    assert!(feed_a["subscribed"].as_bool().unwrap() && feed_a["blocked"].as_u64().unwrap() > 0);
    assert_eq!(j["timeline"].as_array().unwrap().len(), 3);
    let r = a.json("GET", "/api/reports?tz=Mars/Olympus_Mons", None);
    r.expect_status(400);
    assert_eq!(r.json()["field"], "tz");

    // Account B: nothing of A's, anywhere.
    let jb = b.json("GET", &format!("/api/reports?{range}"), None).json();
    assert_eq!(counts(&jb["totals"]), [0; 4]);
    assert!(jb["top_sources"].as_array().unwrap().is_empty());
    assert_eq!(jb["by_device"].as_array().unwrap().len(), 1);
    assert_eq!(jb["by_device"][0]["name"], "fw-b");
    let pb = b.get(&format!("/reports?{range}"));
    pb.expect_status(200);
    assert!(!pb.body.contains(top.0.as_str()) && !pb.body.contains("fw-a"));
    let cb = b.get(&format!("/reports.csv?section=top_sources&{range}"));
    assert_eq!(cb.body.lines().count(), 1, "{}", cb.body);

    // Without credentials: the login page, or 401 on the API.
    let mut anon = sys.client();
    for p in ["/reports", "/reports.csv?section=top_sources"] {
        let r = anon.get(p);
        assert_eq!((r.status, r.location().as_str()), (303, "/login"), "{p}");
    }
    anon.get("/api/reports").expect_status(401);
}
