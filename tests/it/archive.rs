//! The archive: versions over time, point-in-time lookups, prefix
//! containment, no rows for unchanged versions, schema versioning, and
//! surviving kill -9 of a writer at any moment.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use feedwall::archive::{
    schema, Archive, ArchiveError, CheckIpReport, Counts, Detail, FeedMeta, FeedVersion,
    FetchOutcome, FetchStatus, Timestamp, VersionStats,
};
use ipnet::IpNet;

use crate::harness::tempdir;

fn meta(id: &str) -> FeedMeta {
    FeedMeta {
        id: id.to_string(),
        name: format!("{id} list"),
        url: format!("https://feeds.example/{id}.txt"),
        provider: format!("{id} provider"),
        homepage: format!("https://feeds.example/{id}"),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cat(c: &str) -> Detail {
    Detail {
        category: Some(c.to_string()),
        ..Detail::default()
    }
}

fn version(feed: &str, t: i64, hash: &str, entries: &[(&str, Detail)]) -> FeedVersion {
    FeedVersion {
        feed: feed.to_string(),
        fetched_at: Timestamp(t),
        hash: hash.to_string(),
        counts: Counts {
            entries: entries.len() as u64,
            rejected: 1,
            ignored: 2,
        },
        entries: entries.iter().map(|(n, d)| (net(n), d.clone())).collect(),
    }
}

fn rows(a: &Archive, table: &str) -> i64 {
    a.connection()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn feeds_of(listed: &[feedwall::archive::Interval]) -> Vec<(String, String)> {
    listed
        .iter()
        .map(|i| (i.feed.id.clone(), i.prefix.to_string()))
        .collect()
}

const T1: i64 = 1_793_577_600; // 2026-11-02T00:00:00Z
const HOUR: i64 = 3600;

#[test]
fn versions_over_time_and_point_in_time() {
    let dir = tempdir();
    let db = dir.path().join("archive.db");
    let mut a = Archive::open(&db).unwrap();
    let f = meta("dshield");
    let v1 = version(
        "dshield",
        T1,
        "h1",
        &[
            ("192.0.2.1/32", cat("scan")),
            ("198.51.100.0/24", cat("scan")),
        ],
    );
    let s = a.store_version(&f, &v1).unwrap();
    assert_eq!(
        s,
        VersionStats {
            added: 2,
            ..Default::default()
        }
    );
    // Same content fetched again two hours later.
    let mut v1b = v1.clone();
    v1b.fetched_at = Timestamp(T1 + 2 * HOUR);
    assert_eq!(
        a.store_version(&f, &v1b).unwrap(),
        VersionStats {
            unchanged: 2,
            ..Default::default()
        }
    );
    // 192.0.2.1 dropped, 203.0.113.5 added.
    let v2 = version(
        "dshield",
        T1 + 4 * HOUR,
        "h2",
        &[
            ("198.51.100.0/24", cat("scan")),
            ("203.0.113.5/32", cat("c2")),
        ],
    );
    assert_eq!(
        a.store_version(&f, &v2).unwrap(),
        VersionStats {
            added: 1,
            removed: 1,
            unchanged: 1,
            changed: 0
        }
    );
    // 192.0.2.1 back.
    let v3 = version(
        "dshield",
        T1 + 8 * HOUR,
        "h3",
        &[
            ("192.0.2.1/32", cat("scan")),
            ("198.51.100.0/24", cat("scan")),
        ],
    );
    assert_eq!(
        a.store_version(&f, &v3).unwrap(),
        VersionStats {
            added: 1,
            removed: 1,
            unchanged: 1,
            changed: 0
        }
    );

    let x = ip("192.0.2.1");
    let in_feed_at = |a: &Archive, t: i64| {
        a.listed_at(x, Timestamp(t))
            .unwrap()
            .iter()
            .any(|i| i.feed.id == "dshield")
    };
    assert!(!in_feed_at(&a, T1 - 1), "before the first version");
    assert!(in_feed_at(&a, T1), "from the version that brought it");
    assert!(in_feed_at(&a, T1 + 3 * HOUR));
    assert!(
        !in_feed_at(&a, T1 + 4 * HOUR),
        "the version that dropped it"
    );
    assert!(!in_feed_at(&a, T1 + 6 * HOUR));
    assert!(in_feed_at(&a, T1 + 8 * HOUR), "relisted");
    assert!(
        in_feed_at(&a, T1 + 1000 * HOUR),
        "still listed after the last version"
    );
    assert_eq!(a.listed_now(x).unwrap().len(), 1);
    assert!(a.listed_now(ip("203.0.113.5")).unwrap().is_empty());
    assert_eq!(
        a.listed_at(ip("203.0.113.5"), Timestamp(T1 + 5 * HOUR))
            .unwrap()[0]
            .detail,
        cat("c2")
    );

    let h = a.history(x).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].first_seen, h[0].last_seen, h[0].ended),
        (
            Timestamp(T1),
            Timestamp(T1 + 2 * HOUR),
            Some(Timestamp(T1 + 4 * HOUR))
        )
    );
    assert_eq!(
        (h[1].first_seen, h[1].last_seen, h[1].ended),
        (Timestamp(T1 + 8 * HOUR), Timestamp(T1 + 8 * HOUR), None)
    );
    assert_eq!(h[0].feed, f, "attribution comes with every interval");

    // The whole feed at a point in time.
    let at = |t: i64| {
        a.entries_at("dshield", Timestamp(t))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(at(T1 + HOUR), ["192.0.2.1/32", "198.51.100.0/24"]);
    assert_eq!(at(T1 + 5 * HOUR), ["198.51.100.0/24", "203.0.113.5/32"]);
    assert!(at(T1 - 1).is_empty());

    // The same after reopening; versions and status.
    drop(a);
    let a = Archive::open(&db).unwrap();
    let cur: Vec<String> = a
        .current_entries("dshield")
        .unwrap()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(cur, ["192.0.2.1/32", "198.51.100.0/24"]);
    let vs = a.versions("dshield").unwrap();
    assert_eq!(
        vs.iter().map(|v| v.hash.as_str()).collect::<Vec<_>>(),
        ["h1", "h2", "h3"]
    );
    assert_eq!(vs[0].last_seen, Timestamp(T1 + 2 * HOUR));
    assert_eq!(
        vs[1].counts,
        Counts {
            entries: 2,
            rejected: 1,
            ignored: 2
        }
    );
    assert!(a.current_entries("nope").unwrap().is_empty());
    assert!(a.feed_status("nope").unwrap().is_none());
}

#[test]
fn prefix_listing_contains_every_address_in_it() {
    let dir = tempdir();
    let mut a = Archive::open(&dir.path().join("a.db")).unwrap();
    let drop_list = version(
        "drop",
        T1,
        "d1",
        &[
            ("198.51.100.0/24", cat("hijacked")),
            ("10.0.0.0/8", Detail::default()),
        ],
    );
    a.store_version(&meta("drop"), &drop_list).unwrap();
    let hosts = version(
        "hosts",
        T1,
        "x1",
        &[
            ("198.51.100.7/32", cat("c2")),
            ("10.1.0.0/16", Detail::default()),
            ("2001:db8::/32", cat("v6")),
        ],
    );
    a.store_version(&meta("hosts"), &hosts).unwrap();

    let got = feeds_of(&a.listed_now(ip("198.51.100.7")).unwrap());
    assert_eq!(
        got,
        [
            ("drop".into(), "198.51.100.0/24".into()),
            ("hosts".into(), "198.51.100.7/32".into())
        ]
    );
    assert_eq!(
        feeds_of(&a.listed_now(ip("198.51.100.255")).unwrap()),
        [("drop".into(), "198.51.100.0/24".into())]
    );
    assert!(a.listed_now(ip("198.51.101.0")).unwrap().is_empty());
    assert!(a.listed_now(ip("198.51.99.255")).unwrap().is_empty());
    // Nested prefixes of two feeds.
    assert_eq!(
        feeds_of(&a.listed_now(ip("10.1.2.3")).unwrap()),
        [
            ("drop".into(), "10.0.0.0/8".into()),
            ("hosts".into(), "10.1.0.0/16".into())
        ]
    );
    assert_eq!(
        feeds_of(&a.listed_now(ip("10.2.0.1")).unwrap()),
        [("drop".into(), "10.0.0.0/8".into())]
    );
    // IPv6 and IPv4-mapped IPv6.
    assert_eq!(
        feeds_of(&a.listed_now(ip("2001:db8:ffff::1")).unwrap()),
        [("hosts".into(), "2001:db8::/32".into())]
    );
    assert!(a.listed_now(ip("2001:db9::1")).unwrap().is_empty());
    assert_eq!(a.listed_now(ip("::ffff:198.51.100.9")).unwrap().len(), 1);
    // A detail survives the round trip.
    let l = a.listed_now(ip("198.51.100.1")).unwrap();
    assert_eq!(l[0].detail, cat("hijacked"));
    assert_eq!(l[0].feed.provider, "drop provider");

    // The lookup is indexed equality on the prefix blob, not a scan.
    let plan: Vec<String> = a
        .connection()
        .prepare("EXPLAIN QUERY PLAN SELECT * FROM intervals WHERE pfx = ?1 AND ended IS NULL")
        .unwrap()
        .query_map([&[198u8, 51, 100, 0, 24][..]], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|p| p.contains("USING INDEX intervals_by_pfx (pfx=?)")),
        "{plan:?}"
    );
}

#[test]
fn unchanged_versions_add_no_rows() {
    let dir = tempdir();
    let mut a = Archive::open(&dir.path().join("a.db")).unwrap();
    let f = meta("cins");
    let entries: Vec<(String, Detail)> = (0..1000u32)
        .map(|i| {
            (
                format!("{}/32", Ipv4Addr::from(0xC000_0200 + i)),
                cat("bad"),
            )
        })
        .collect();
    let refs: Vec<(&str, Detail)> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    a.store_version(&f, &version("cins", T1, "same", &refs))
        .unwrap();
    let (intervals, versions) = (rows(&a, "intervals"), rows(&a, "versions"));
    assert_eq!(intervals, 1000);

    // Same hash: nothing but the version's last_seen changes.
    for k in 1..5 {
        let s = a
            .store_version(&f, &version("cins", T1 + k * HOUR, "same", &refs))
            .unwrap();
        assert_eq!(
            s,
            VersionStats {
                unchanged: 1000,
                ..Default::default()
            }
        );
    }
    assert_eq!(
        (rows(&a, "intervals"), rows(&a, "versions")),
        (intervals, versions)
    );
    assert_eq!(
        a.versions("cins").unwrap()[0].last_seen,
        Timestamp(T1 + 4 * HOUR)
    );

    // Different hash (a new comment header), same set, in another order and
    // with a duplicate and host bits: no interval rows.
    let mut shuffled = refs.clone();
    shuffled.reverse();
    shuffled.push(("192.0.2.0/32", cat("bad")));
    let s = a
        .store_version(&f, &version("cins", T1 + 5 * HOUR, "new-header", &shuffled))
        .unwrap();
    assert_eq!(
        s,
        VersionStats {
            unchanged: 1000,
            ..Default::default()
        }
    );
    assert_eq!(rows(&a, "intervals"), intervals);
    assert_eq!(
        rows(&a, "versions"),
        versions + 1,
        "one row per distinct content, none per entry"
    );

    // Confirming the current hash (a 304) moves last_seen only.
    assert!(a
        .confirm_version("cins", "new-header", Timestamp(T1 + 6 * HOUR))
        .unwrap());
    assert!(
        !a.confirm_version("cins", "same", Timestamp(T1 + 7 * HOUR))
            .unwrap(),
        "not the current version"
    );
    assert_eq!(
        a.feed_status("cins")
            .unwrap()
            .unwrap()
            .last_good
            .unwrap()
            .last_seen,
        Timestamp(T1 + 6 * HOUR)
    );

    // One detail changed: one closed, one opened.
    let mut changed = refs.clone();
    changed[10].1 = cat("worse");
    let s = a
        .store_version(&f, &version("cins", T1 + 7 * HOUR, "detail", &changed))
        .unwrap();
    assert_eq!(
        s,
        VersionStats {
            changed: 1,
            unchanged: 999,
            ..Default::default()
        }
    );
    assert_eq!(rows(&a, "intervals"), intervals + 1);
    let h = a.history(ip("192.0.2.10")).unwrap();
    assert_eq!(
        h.iter()
            .map(|i| i.detail.category.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["bad", "worse"]
    );
    assert_eq!(h[0].last_seen, Timestamp(T1 + 6 * HOUR));

    // Out-of-order versions are refused and change nothing.
    let err = a
        .store_version(&f, &version("cins", T1, "old", &refs))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::OutOfOrder { .. }), "{err}");
    let err = a
        .store_version(&meta("other"), &version("cins", T1 + 9 * HOUR, "x", &refs))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::FeedMismatch { .. }), "{err}");
    assert_eq!(rows(&a, "intervals"), intervals + 1);
}

#[test]
fn two_writers_on_one_file_stay_consistent() {
    // Each writer keeps the open set its last version left; a version
    // written by the other must make it reread the file.
    let dir = tempdir();
    let db = dir.path().join("a.db");
    let (mut a, mut b) = (Archive::open(&db).unwrap(), Archive::open(&db).unwrap());
    let f = meta("shared");
    a.store_version(
        &f,
        &version(
            "shared",
            T1,
            "1",
            &[("192.0.2.1/32", cat("x")), ("192.0.2.2/32", cat("x"))],
        ),
    )
    .unwrap();
    let s = b
        .store_version(
            &f,
            &version(
                "shared",
                T1 + HOUR,
                "2",
                &[("192.0.2.2/32", cat("x")), ("192.0.2.3/32", cat("x"))],
            ),
        )
        .unwrap();
    assert_eq!(
        s,
        VersionStats {
            added: 1,
            removed: 1,
            unchanged: 1,
            changed: 0
        }
    );
    let s = a
        .store_version(
            &f,
            &version("shared", T1 + 2 * HOUR, "3", &[("192.0.2.3/32", cat("y"))]),
        )
        .unwrap();
    assert_eq!(
        s,
        VersionStats {
            removed: 1,
            changed: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        rows(&a, "intervals") - rows(&a, "intervals WHERE ended IS NOT NULL"),
        1
    );
    let now: Vec<_> = b.current_entries("shared").unwrap();
    assert_eq!(now, [(net("192.0.2.3/32"), cat("y"))]);
    assert!(a
        .listed_at(ip("192.0.2.1"), Timestamp(T1 + HOUR))
        .unwrap()
        .is_empty());
    assert_eq!(
        a.listed_at(ip("192.0.2.3"), Timestamp(T1 + HOUR)).unwrap()[0].detail,
        cat("x")
    );
}

#[test]
fn fetch_records_and_feed_status() {
    let dir = tempdir();
    let mut a = Archive::open(&dir.path().join("a.db")).unwrap();
    let f = meta("feodo");
    let counts = Some(Counts {
        entries: 2,
        rejected: 0,
        ignored: 3,
    });
    a.record_fetch(
        &f,
        &FetchOutcome {
            at: Timestamp(T1),
            status: FetchStatus::Ok,
            counts,
            hash: Some("h1".into()),
        },
    )
    .unwrap();
    a.store_version(
        &f,
        &version(
            "feodo",
            T1,
            "h1",
            &[("192.0.2.1/32", cat("c2")), ("2001:db8::1/128", cat("c2"))],
        ),
    )
    .unwrap();
    a.record_fetch(
        &f,
        &FetchOutcome {
            at: Timestamp(T1 + HOUR),
            status: FetchStatus::NotModified,
            counts: None,
            hash: None,
        },
    )
    .unwrap();
    let held = FetchStatus::HeldBack("shrank by 90% (2 -> 0 entries)".into());
    a.record_fetch(
        &f,
        &FetchOutcome {
            at: Timestamp(T1 + 2 * HOUR),
            status: held.clone(),
            counts: Some(Counts::default()),
            hash: Some("h2".into()),
        },
    )
    .unwrap();

    let s = a.feed_status("feodo").unwrap().unwrap();
    assert_eq!(s.feed, f);
    assert_eq!(s.versions, 1);
    let good = s.last_good.unwrap();
    assert_eq!(
        (good.fetched_at, good.hash.as_str(), good.stored),
        (Timestamp(T1), "h1", 2)
    );
    let last = s.last_fetch.unwrap();
    assert_eq!(
        (last.at, &last.status, last.hash.as_deref()),
        (Timestamp(T1 + 2 * HOUR), &held, Some("h2"))
    );
    assert_eq!(rows(&a, "fetches"), 3);

    // Metadata is refreshed on every write, and a feed known only from a
    // failed fetch has a status without a version.
    let mut f2 = meta("tor");
    a.record_fetch(
        &f2,
        &FetchOutcome {
            at: Timestamp(T1),
            status: FetchStatus::Failed("timeout after 30 s".into()),
            counts: None,
            hash: None,
        },
    )
    .unwrap();
    f2.provider = "The Tor Project".into();
    a.record_fetch(
        &f2,
        &FetchOutcome {
            at: Timestamp(T1 + 1),
            status: FetchStatus::Failed("HTTP 500".into()),
            counts: None,
            hash: None,
        },
    )
    .unwrap();
    let s = a.feed_status("tor").unwrap().unwrap();
    assert_eq!(s.feed.provider, "The Tor Project");
    assert!(s.last_good.is_none());
    assert_eq!(s.last_fetch.unwrap().status.to_string(), "failed: HTTP 500");
    assert_eq!(
        a.feeds()
            .unwrap()
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>(),
        ["feodo", "tor"]
    );
}

#[test]
fn check_ip_report_with_attribution() {
    let dir = tempdir();
    let db = dir.path().join("a.db");
    let mut a = Archive::open(&db).unwrap();
    let d = Detail {
        score: Some(7.5),
        category: Some("scanner".into()),
        country: Some("NL".into()),
        reference: Some("AS64500".into()),
    };
    a.store_version(
        &meta("dshield"),
        &version("dshield", T1, "a", &[("198.51.100.0/24", d)]),
    )
    .unwrap();
    a.store_version(
        &meta("dshield"),
        &version("dshield", T1 + 2 * HOUR, "b", &[]),
    )
    .unwrap();
    drop(a);

    let a = Archive::open_read_only(&db).unwrap();
    let at = Timestamp::parse_cli("2026-11-02 01:00").unwrap();
    let report = CheckIpReport::gather(&a, ip("198.51.100.7"), Some(at))
        .unwrap()
        .to_string();
    assert!(
        report.contains("198.51.100.7: listed at 2026-11-02T01:00:00Z by 1 feed"),
        "{report}"
    );
    assert!(
        report.contains("dshield list [dshield] by dshield provider"),
        "{report}"
    );
    assert!(
        report.contains("198.51.100.0/24 since 2026-11-02T00:00:00Z"),
        "{report}"
    );
    assert!(
        report.contains("score 7.5, category scanner, country NL, reference AS64500"),
        "{report}"
    );
    assert!(
        report.contains("https://feeds.example/dshield.txt (about: https://feeds.example/dshield)"),
        "{report}"
    );
    assert!(
        report.contains("history (1 interval, oldest first):"),
        "{report}"
    );
    assert!(
        report.contains(
            "2026-11-02T00:00:00Z .. 2026-11-02T02:00:00Z (last seen 2026-11-02T00:00:00Z)"
        ),
        "{report}"
    );
    let now = CheckIpReport::gather(&a, ip("198.51.100.7"), None)
        .unwrap()
        .to_string();
    assert!(
        now.starts_with("198.51.100.7: listed by no archived feed now"),
        "{now}"
    );

    // The CLI entry point: good input runs, bad input is a clear error.
    feedwall::archive::check_ip_command(&db, "198.51.100.7", Some("2026-11-02T01:00:00Z")).unwrap();
    let e = feedwall::archive::check_ip_command(&db, "198.51.100.300", None).unwrap_err();
    assert!(
        e.to_string().contains("not an IPv4 or IPv6 address"),
        "{e:#}"
    );
    let e =
        feedwall::archive::check_ip_command(&db, "198.51.100.7", Some("last tuesday")).unwrap_err();
    assert!(e.to_string().contains("RFC 3339"), "{e:#}");
    let e =
        feedwall::archive::check_ip_command(&dir.path().join("missing.db"), "198.51.100.7", None)
            .unwrap_err();
    assert!(e.to_string().contains("no archive at"), "{e:#}");
    assert!(
        !dir.path().join("missing.db").exists(),
        "check-ip never creates an archive"
    );
}

#[test]
fn schema_version_and_foreign_files() {
    let dir = tempdir();
    let db = dir.path().join("a.db");
    let a = Archive::open(&db).unwrap();
    let conn = a.connection();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    drop(a);
    Archive::open(&db).unwrap();

    // A file from a newer feedwall is refused and left alone.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    assert!(matches!(
        Archive::open(&db),
        Err(ArchiveError::TooNew { .. })
    ));
    assert!(matches!(
        Archive::open_read_only(&db),
        Err(ArchiveError::TooNew { .. })
    ));

    // Another program's database is not ours.
    let other = dir.path().join("other.db");
    let c = rusqlite::Connection::open(&other).unwrap();
    c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(c);
    assert!(matches!(
        Archive::open(&other),
        Err(ArchiveError::NotAnArchive { .. })
    ));

    // An archive at an older version is migrated read-write, refused read-only.
    let old = dir.path().join("old.db");
    let c = rusqlite::Connection::open(&old).unwrap();
    c.pragma_update(None, "application_id", schema::APPLICATION_ID)
        .unwrap();
    drop(c);
    assert!(matches!(
        Archive::open_read_only(&old),
        Err(ArchiveError::NeedsMigration { .. })
    ));
    Archive::open(&old).unwrap();
    Archive::open_read_only(&old).unwrap();
}

// ---- kill -9 ----------------------------------------------------------------

/// Set in the child process: the archive file it writes to.
const KILL_CHILD_ENV: &str = "FEEDWALL_ARCHIVE_KILL_CHILD";
const KILL_FEEDS: [&str; 2] = ["kill-v4", "kill-v6"];
const KILL_WINDOW: u64 = 20_000;
const KILL_STEP: u64 = 400;

/// Version `n` of kill feed `f`: a sliding window of host prefixes (each
/// version drops `KILL_STEP` and adds as many), and every 50th entry's
/// category changes every version.
fn kill_version(f: usize, n: u64) -> FeedVersion {
    let entries: Vec<(IpNet, Detail)> = (n * KILL_STEP..n * KILL_STEP + KILL_WINDOW)
        .map(|i| {
            let net = if f == 0 {
                IpNet::from(IpAddr::V4(Ipv4Addr::from(0x0A00_0000u32 + i as u32)))
            } else {
                IpNet::from(IpAddr::V6(Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | i as u128,
                )))
            };
            let category = if i % 50 == 0 {
                format!("v{n}")
            } else {
                "steady".to_string()
            };
            (
                net,
                Detail {
                    score: Some((i % 10) as f32),
                    category: Some(category),
                    country: None,
                    reference: Some(format!("r{i}")),
                },
            )
        })
        .collect();
    FeedVersion {
        feed: KILL_FEEDS[f].to_string(),
        fetched_at: Timestamp(T1 + n as i64 * 60),
        hash: format!("{}-v{n}", KILL_FEEDS[f]),
        counts: Counts {
            entries: entries.len() as u64,
            rejected: n % 3,
            ignored: 0,
        },
        entries,
    }
}

fn version_number(hash: &str) -> u64 {
    hash.rsplit_once("-v")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("bad hash {hash}"))
}

/// Not a test on its own: the writer child of `kill9_mid_write_loses_nothing`.
/// Without its environment variable it returns at once.
#[test]
fn kill9_child_writer() {
    let Some(path) = std::env::var_os(KILL_CHILD_ENV) else {
        return;
    };
    let mut a = Archive::open(Path::new(&path)).unwrap();
    let mut next: Vec<u64> = KILL_FEEDS
        .iter()
        .map(|id| {
            a.feed_status(id)
                .unwrap()
                .and_then(|s| s.last_good)
                .map_or(0, |v| version_number(&v.hash) + 1)
        })
        .collect();
    let mut progress = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(progress_file(Path::new(&path)))
        .unwrap();
    loop {
        for f in 0..KILL_FEEDS.len() {
            let n = next[f];
            // Unbuffered appends: what the parent reads is what was written
            // before the kill.
            progress
                .write_all(format!("start {f} {n}\n").as_bytes())
                .unwrap();
            let v = kill_version(f, n);
            let feed = meta(KILL_FEEDS[f]);
            let outcome = FetchOutcome {
                at: v.fetched_at,
                status: FetchStatus::Ok,
                counts: Some(v.counts),
                hash: Some(v.hash.clone()),
            };
            a.record_fetch(&feed, &outcome).unwrap();
            a.store_version(&feed, &v).unwrap();
            if n % 4 == 0 {
                // The same content again, later: only last_seen moves.
                let mut again = v;
                again.fetched_at = Timestamp(again.fetched_at.0 + 30);
                a.store_version(&feed, &again).unwrap();
            }
            progress
                .write_all(format!("done {f} {n}\n").as_bytes())
                .unwrap();
            next[f] = n + 1;
        }
    }
}

/// The writer child's log: `start F N` before writing version N of feed F,
/// `done F N` once every call for it returned (committed).
fn progress_file(db: &Path) -> PathBuf {
    db.with_extension("progress")
}

/// Kills its child on drop, by PID, so a failing assertion leaves no writer
/// behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn expected(v: &FeedVersion) -> BTreeMap<IpNet, Detail> {
    v.entries.iter().cloned().collect()
}

/// Checks the file after a kill: integrity, and every committed version
/// complete (`all`: every version; otherwise the last three per feed).
fn check_after_kill(db: &Path, all: bool) -> u64 {
    let a = Archive::open(db).unwrap();
    let conn = a.connection();
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(integrity, ["ok"], "integrity_check after kill -9");
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "foreign key violations after kill -9");
    let mut total = 0;
    for (f, id) in KILL_FEEDS.iter().enumerate() {
        let versions = a.versions(id).unwrap();
        let Some(last) = versions.last() else {
            continue;
        };
        let want = kill_version(f, version_number(&last.hash));
        let cur: BTreeMap<IpNet, Detail> = a.current_entries(id).unwrap().into_iter().collect();
        assert!(
            cur == expected(&want),
            "current entries of {id} are not exactly version {}",
            last.hash
        );
        assert_eq!(last.stored, KILL_WINDOW);
        let skip = if all {
            0
        } else {
            versions.len().saturating_sub(3)
        };
        for (k, v) in versions.iter().enumerate().skip(skip) {
            let n = version_number(&v.hash);
            assert_eq!(n, k as u64, "versions of {id} are consecutive");
            assert_eq!(v.fetched_at, kill_version(f, n).fetched_at);
            let at: BTreeMap<IpNet, Detail> = a
                .entries_at(id, v.fetched_at)
                .unwrap()
                .into_iter()
                .collect();
            assert!(
                at == expected(&kill_version(f, n)),
                "{id} at {} is not exactly version {n}",
                v.fetched_at
            );
        }
        total += versions.len() as u64;
    }
    total
}

#[test]
fn kill9_mid_write_loses_nothing() {
    let dir = tempdir();
    let db: PathBuf = dir.path().join("kill.db");
    let exe = std::env::current_exe().unwrap();
    let mut seen = 0;
    let mut mid_write = 0;
    let rounds = 8;
    for round in 0..rounds {
        let child = Command::new(&exe)
            .args([
                "--exact",
                "archive::kill9_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(KILL_CHILD_ENV, &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        // Let it write a few versions, then kill it at a moment that differs
        // from round to round.
        let start = Instant::now();
        let wait = Duration::from_millis(300 + (round * 137) % 500);
        while start.elapsed() < wait {
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "writer child exited early"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        let total = check_after_kill(&db, round == rounds - 1);
        // Everything the child saw committed is there; a version it was
        // writing when killed is either all there or not at all (checked
        // above).
        let log = std::fs::read_to_string(progress_file(&db)).unwrap();
        let mut done = [None; KILL_FEEDS.len()];
        for line in log.lines() {
            if let ["done", f, n] = line.split(' ').collect::<Vec<_>>()[..] {
                done[f.parse::<usize>().unwrap()] = Some(n.parse::<u64>().unwrap());
            }
        }
        let a = Archive::open_read_only(&db).unwrap();
        for (f, id) in KILL_FEEDS.iter().enumerate() {
            let last = a
                .versions(id)
                .unwrap()
                .last()
                .map(|v| version_number(&v.hash));
            assert!(
                last >= done[f],
                "{id}: version {:?} was committed but the archive's last is {last:?}",
                done[f]
            );
        }
        let last_line = log.lines().last().unwrap_or("");
        if last_line.starts_with("start") {
            mid_write += 1;
        }
        eprintln!("kill -9 round {round}: killed after {wait:?} ({last_line}); {total} complete versions, integrity ok");
        assert!(total >= seen, "committed versions lost: {total} < {seen}");
        seen = total;
    }
    assert!(
        seen >= 2 * rounds,
        "the writer made too little progress to test anything ({seen} versions)"
    );
    assert!(
        mid_write > 0,
        "no kill landed while a version was being written"
    );
}
