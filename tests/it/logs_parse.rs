//! Log parsers against the golden fixtures in `tests/fixtures/logs/`
//! (synthetic logs in real layouts; see tests/fixtures/README.md): for every
//! log file, the record count, every rejected line number, the ignored and
//! skipped counts, actions, protocols, IP versions, first and last time,
//! the exact set of `src|dst|dport|proto|action` tuples, and the records
//! whose source or destination lies in each fixture feed must equal
//! `expected/<file>.json`, with the format named and detected per line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use feedwall::logs::{parse_stream, Clock, Format, LineParser, LogRecord, Outcome, Zone};
use ipnet::IpNet;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The expected file of one log file (`iptables/kern.log`).
fn expected(rel: &str) -> Value {
    let p = Path::new(rel);
    let e = fixtures()
        .join("logs")
        .join(p.parent().unwrap())
        .join("expected")
        .join(format!("{}.json", p.file_name().unwrap().to_str().unwrap()));
    serde_json::from_slice(&std::fs::read(&e).unwrap()).unwrap()
}

/// What a parse produced, in the expected file's terms.
#[derive(Default)]
struct Got {
    records: Vec<LogRecord>,
    rejected: Vec<u64>,
    ignored: u64,
    skipped: u64,
    formats: BTreeMap<&'static str, u64>,
}

fn parse(rel: &str, format: Option<Format>) -> Got {
    let bytes = std::fs::read(fixtures().join("logs").join(rel)).unwrap();
    let clock = Clock {
        zone: Zone::Utc,
        year: Some(2026),
        now: 1_800_000_000,
    };
    let mut parser = LineParser::new(format, clock);
    let mut got = Got::default();
    parse_stream::<_, std::io::Error>(&bytes[..], &mut parser, |line| {
        match line.outcome {
            Outcome::Record(r) => {
                *got.formats.entry(line.format.unwrap().name()).or_default() += 1;
                got.records.push(r)
            }
            Outcome::Rejected(_) => got.rejected.push(line.number),
            Outcome::Ignored => got.ignored += 1,
            Outcome::Skipped => got.skipped += 1,
        }
        Ok(())
    })
    .unwrap();
    got
}

fn counts<K: Ord + ToString>(it: impl Iterator<Item = K>) -> Value {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for k in it {
        *m.entry(k.to_string()).or_default() += 1;
    }
    serde_json::to_value(m).unwrap()
}

/// The fixture feeds' entries, by the expected files' keys
/// (`feeds/cins/ci-badguys.txt`), from the feeds' own expected files.
fn feed_entries() -> BTreeMap<String, Vec<IpNet>> {
    let root = fixtures().join("feeds");
    let mut out = BTreeMap::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(dir.join("expected")).unwrap() {
            let e = e.unwrap().path();
            let v: Value = serde_json::from_slice(&std::fs::read(&e).unwrap()).unwrap();
            let nets = v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().parse().unwrap())
                .collect();
            let key = format!(
                "feeds/{}/{}",
                dir.file_name().unwrap().to_str().unwrap(),
                e.file_stem().unwrap().to_str().unwrap()
            );
            out.insert(key, nets);
        }
    }
    out
}

fn check(rel: &str, format: Format) {
    let want = expected(rel);
    for (mode, f) in [("named", Some(format)), ("detected", None)] {
        let got = parse(rel, f);
        let ctx = format!("{rel} ({mode} format)");
        let rejected: Vec<u64> = want["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        assert_eq!(got.rejected, rejected, "{ctx}: rejected lines");
        assert_eq!(
            got.records.len() as u64,
            want["records"].as_u64().unwrap(),
            "{ctx}: records"
        );
        assert_eq!(
            got.ignored,
            want["ignored_lines"].as_u64().unwrap(),
            "{ctx}: ignored"
        );
        assert_eq!(
            got.skipped,
            want["skipped_header_lines"].as_u64().unwrap(),
            "{ctx}: skipped"
        );
        if f.is_none() {
            assert_eq!(
                got.formats.keys().copied().collect::<Vec<_>>(),
                vec![format.name()],
                "{ctx}: every record detected as {format}"
            );
        }
        let r = &got.records;
        assert_eq!(
            counts(r.iter().map(|r| r.action)),
            want["actions"],
            "{ctx}: actions"
        );
        assert_eq!(
            counts(r.iter().map(|r| r.proto)),
            want["protocols"],
            "{ctx}: protocols"
        );
        assert_eq!(
            counts(r.iter().map(|r| if r.src.is_ipv4() { 4 } else { 6 })),
            want["ip_versions"],
            "{ctx}: ip versions"
        );
        let first = r.iter().map(|r| r.time).min().unwrap();
        let last = r.iter().map(|r| r.time).max().unwrap();
        assert_eq!(
            feedwall::logs::time::rfc3339(first),
            want["first_timestamp"].as_str().unwrap(),
            "{ctx}: first time"
        );
        assert_eq!(
            feedwall::logs::time::rfc3339(last),
            want["last_timestamp"].as_str().unwrap(),
            "{ctx}: last time"
        );
        let mut tuples: Vec<String> = r.iter().map(LogRecord::tuple).collect();
        tuples.sort();
        tuples.dedup();
        let want_tuples: Vec<String> = want["tuples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        let missing: Vec<_> = want_tuples
            .iter()
            .filter(|t| !tuples.contains(t))
            .take(5)
            .collect();
        let extra: Vec<_> = tuples
            .iter()
            .filter(|t| !want_tuples.contains(t))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{ctx}: tuples differ; missing {missing:?}, unexpected {extra:?}"
        );
        if let Some(sum) = want.get("sum_of_count_field") {
            let got_sum: u64 = r.iter().map(|r| u64::from(r.count)).sum();
            assert_eq!(got_sum, sum.as_u64().unwrap(), "{ctx}: sum of counts");
        }
    }
    // Records hitting each feed, src or dst inside one of its entries.
    let got = parse(rel, Some(format));
    let feeds = feed_entries();
    let inside = |a: std::net::IpAddr, nets: &[IpNet]| nets.iter().any(|n| n.contains(&a));
    let mut any = 0;
    // The expected files list every feed, those without a hit as 0.
    let mut hits: BTreeMap<String, u64> = feeds.keys().map(|k| (k.clone(), 0)).collect();
    for r in &got.records {
        let mut hit = false;
        for (k, nets) in &feeds {
            if inside(r.src, nets) || inside(r.dst, nets) {
                *hits.entry(k.clone()).or_default() += 1;
                hit = true;
            }
        }
        any += u64::from(hit);
    }
    assert_eq!(
        serde_json::to_value(&hits).unwrap(),
        want["feed_hits"],
        "{rel}: feed hits"
    );
    assert_eq!(
        any,
        want["records_hitting_any_feed"].as_u64().unwrap(),
        "{rel}: records hitting a feed"
    );
}

#[test]
fn iptables_kern_log() {
    check("iptables/kern.log", Format::Iptables);
}

#[test]
fn nftables_log() {
    check("nftables/nft.log", Format::Nftables);
}

#[test]
fn pf_tcpdump_text() {
    check("pf/pflog.txt", Format::Pf);
}

#[test]
fn pfsense_filterlog() {
    check("filterlog/pfsense_filter.log", Format::Filterlog);
}

#[test]
fn opnsense_filterlog() {
    check("filterlog/opnsense_filter.log", Format::Filterlog);
}

#[test]
fn mikrotik_log() {
    check("mikrotik/mikrotik.log", Format::Mikrotik);
}

#[test]
fn cisco_asa_log() {
    check("cisco_asa/asa.log", Format::CiscoAsa);
}

#[test]
fn fortigate_traffic_log() {
    check("fortigate/fortigate_traffic.log", Format::Fortigate);
}

#[test]
fn panos_traffic_log() {
    check("panos/panos_traffic.log", Format::Panos);
}

#[test]
fn windows_firewall_log() {
    check("windows_firewall/pfirewall.log", Format::WindowsFirewall);
}

#[test]
fn windows_firewall_log_with_pid_column() {
    check(
        "windows_firewall/pfirewall_pid.log",
        Format::WindowsFirewall,
    );
}

#[test]
fn juniper_srx_text_log() {
    check("juniper_srx/srx.log", Format::JuniperSrx);
}

#[test]
fn juniper_srx_structured_log() {
    check("juniper_srx/srx_structured.log", Format::JuniperSrx);
}

#[test]
fn dshield_submission_format() {
    check("dshield_submission/dshield.txt", Format::Dshield);
}
