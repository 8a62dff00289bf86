//! Feed parsers against the golden fixtures in `tests/fixtures/feeds/`
//! (synthetic feeds in real layouts; see its README.md): for every feed
//! file, the exact entry set, every count, and the location of every
//! rejected and ignored record must equal `expected/<file>.json`, with the
//! format named and with `Format::Auto`.

use std::path::{Path, PathBuf};

use feedwall::feeds::{self, Format, FormatOptions, Location, Parsed};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds")
}

/// Every (feed file, expected JSON) pair.
fn cases() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut expected: Vec<_> = std::fs::read_dir(dir.join("expected"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        expected.sort();
        for e in expected {
            let v: Value = serde_json::from_slice(&std::fs::read(&e).unwrap()).unwrap();
            let feed = dir.join(e.file_stem().unwrap());
            assert!(feed.is_file(), "{} has no feed file", e.display());
            out.push((feed, v));
        }
    }
    assert_eq!(out.len(), 20, "fixture files");
    out
}

/// A location the way the expected files write it.
fn location_json(l: &Location) -> Value {
    match l {
        Location::Line(n) => json!({ "line": n }),
        Location::Element(i) => json!({ "element": i }),
        Location::ElementPath(p) => json!({ "element": p.as_ref() }),
        Location::Object(i) => json!({ "object": format!("objects[{i}]") }),
        Location::Item(i) => json!({ "item": i }),
    }
}

fn without_reason(list: &Value) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.as_object().unwrap().clone();
            p.remove("reason");
            Value::Object(p)
        })
        .collect()
}

/// Compares one parse with its expected file; returns the differences.
fn differences(name: &str, p: &Parsed, want: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let got: Vec<String> = p.nets().map(|n| n.to_string()).collect();
    let entries: Vec<String> = want["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    if got != entries {
        let missing: Vec<_> = entries.iter().filter(|e| !got.contains(e)).collect();
        let extra: Vec<_> = got.iter().filter(|e| !entries.contains(e)).collect();
        diffs.push(format!(
            "{name}: entries differ: missing {missing:?}, extra {extra:?}"
        ));
    }
    let c = &want["counts"];
    let counts = [
        ("entries", p.entries.len()),
        ("ipv4", p.ipv4()),
        ("ipv6", p.ipv6()),
        ("records", p.counts.records),
        ("entry_occurrences", p.counts.entry_occurrences),
        ("duplicate_occurrences", p.counts.duplicates),
        ("rejected", p.counts.rejected),
        ("ignored", p.counts.ignored),
        ("skipped_non_records", p.counts.skipped_non_records),
    ];
    for (key, value) in counts {
        if c[key].as_u64() != Some(value as u64) {
            diffs.push(format!(
                "{name}: counts.{key} = {value}, expected {}",
                c[key]
            ));
        }
    }
    for (what, got, want) in [
        ("rejected", &p.rejected, &want["rejected"]),
        ("ignored", &p.ignored, &want["ignored"]),
    ] {
        let got: Vec<Value> = got.iter().map(|x| location_json(&x.at)).collect();
        let want = without_reason(want);
        if got != want {
            diffs.push(format!(
                "{name}: {what} locations {got:?}, expected {want:?}"
            ));
        }
    }
    diffs
}

fn name_of(feed: &Path) -> String {
    feed.strip_prefix(fixtures()).unwrap().display().to_string()
}

#[test]
fn feeds_parse_every_fixture_exactly() {
    let mut diffs = Vec::new();
    for (feed, want) in cases() {
        let format: Format = want["format"].as_str().unwrap().parse().unwrap();
        let input = std::fs::read(&feed).unwrap();
        let p = feeds::parse(&input, format, &FormatOptions::default());
        diffs.extend(differences(
            &format!("{} as {format}", name_of(&feed)),
            &p,
            &want,
        ));
    }
    assert!(diffs.is_empty(), "\n{}", diffs.join("\n"));
}

/// The format `Auto` must find for each fixture directory: the named
/// format, except for feeds that are plain lists under another name (they
/// carry no mark of their own and parse identically).
fn auto_format(dir: &str) -> Format {
    match dir {
        "blocklist_de" | "cins" | "emerging_threats" | "tor_exit" => Format::Plain,
        other => other.parse().unwrap(),
    }
}

#[test]
fn feeds_parse_auto_detects_every_fixture() {
    let mut diffs = Vec::new();
    for (feed, want) in cases() {
        let dir = want["format"].as_str().unwrap();
        let input = std::fs::read(&feed).unwrap();
        let detected = feeds::detect(&input);
        if detected != auto_format(dir) {
            diffs.push(format!(
                "{}: detected {detected}, expected {}",
                name_of(&feed),
                auto_format(dir)
            ));
        }
        let p = feeds::parse(&input, Format::Auto, &FormatOptions::default());
        diffs.extend(differences(
            &format!("{} as auto", name_of(&feed)),
            &p,
            &want,
        ));
        let named = feeds::parse(&input, dir.parse().unwrap(), &FormatOptions::default());
        if p != named {
            diffs.push(format!(
                "{}: auto and named parses differ (details)",
                name_of(&feed)
            ));
        }
    }
    assert!(diffs.is_empty(), "\n{}", diffs.join("\n"));
}

#[test]
fn feeds_parse_generic_csv_column_by_name_and_index() {
    let feed = fixtures().join("generic_csv/indicators.csv");
    let input = std::fs::read(&feed).unwrap();
    let default = feeds::parse(&input, Format::GenericCsv, &FormatOptions::default());
    for column in ["ip", "IP", "0"] {
        let opts = FormatOptions {
            column: Some(column.parse().unwrap()),
            ..FormatOptions::default()
        };
        assert_eq!(
            feeds::parse(&input, Format::GenericCsv, &opts),
            default,
            "column {column}"
        );
    }
    // The wrong column: every row's cell is a timestamp.
    let opts = FormatOptions {
        column: Some("first_seen".parse().unwrap()),
        ..FormatOptions::default()
    };
    let p = feeds::parse(&input, Format::GenericCsv, &opts);
    assert!(p.entries.is_empty());
    assert_eq!(p.counts.rejected, 84, "every data row");
    let opts = FormatOptions {
        column: Some("nope".parse().unwrap()),
        ..FormatOptions::default()
    };
    let p = feeds::parse(&input, Format::GenericCsv, &opts);
    assert_eq!((p.entries.len(), p.counts.rejected), (0, 1));
    assert_eq!(p.rejected[0].reason, "configured column not in the header");
}

#[test]
fn feeds_parse_keeps_the_reputation_detail() {
    let read = |f: &str| std::fs::read(fixtures().join(f)).unwrap();
    let detail = |p: &Parsed, net: &str| {
        p.entries
            .iter()
            .find(|e| e.net.to_string() == net)
            .and_then(|e| e.detail.clone())
            .unwrap()
    };

    let p = feeds::parse(
        &read("dshield_block/block.txt"),
        Format::DshieldBlock,
        &FormatOptions::default(),
    );
    let d = detail(&p, "137.16.87.0/24");
    assert_eq!(
        (d.score, d.country.map(|c| c.to_string())),
        (Some(8858), Some("US".into()))
    );

    let p = feeds::parse(
        &read("spamhaus_drop_txt/drop.txt"),
        Format::SpamhausDropTxt,
        &FormatOptions::default(),
    );
    assert_eq!(
        detail(&p, "1.186.0.0/16").reference.as_deref(),
        Some("SBL615929")
    );

    let p = feeds::parse(
        &read("feodo/ipblocklist.json"),
        Format::Feodo,
        &FormatOptions::default(),
    );
    let d = detail(&p, "73.169.169.249/32");
    assert_eq!(d.category.as_deref(), Some("TrickBot"));
    assert_eq!(d.country.unwrap().as_str(), "RO");
    assert_eq!(d.first_seen, Some(1_786_528_993)); // 2026-08-12 10:03:13 UTC

    let p = feeds::parse(
        &read("feodo/ipblocklist.csv"),
        Format::Feodo,
        &FormatOptions::default(),
    );
    assert_eq!(
        detail(&p, "73.169.169.249/32").category.as_deref(),
        Some("TrickBot")
    );

    let p = feeds::parse(
        &read("phishtank/online-valid.json"),
        Format::Phishtank,
        &FormatOptions::default(),
    );
    let d = detail(&p, "221.107.218.119/32");
    assert_eq!(
        (d.reference.as_deref(), d.country.unwrap().as_str()),
        (Some("8764948"), "FR")
    );

    let p = feeds::parse(
        &read("generic_csv/indicators.csv"),
        Format::GenericCsv,
        &FormatOptions::default(),
    );
    let d = detail(&p, "8.12.26.163/32");
    assert_eq!(d.category.as_deref(), Some("scanner, ssh"));

    let p = feeds::parse(
        &read("rss/threat-advisories.xml"),
        Format::Rss,
        &FormatOptions::default(),
    );
    let d = detail(&p, "205.207.127.235/32");
    assert_eq!(d.reference.as_deref(), Some("adv-2026-0000"));
    assert!(d.first_seen.is_some());

    let p = feeds::parse(
        &read("stix21/bundle.json"),
        Format::Stix21,
        &FormatOptions::default(),
    );
    let d = detail(&p, "109.202.255.62/32");
    assert_eq!(
        d.reference.as_deref(),
        Some("indicator--efe9d6f7-878f-4bef-917b-fe0d37e916b3")
    );
    assert_eq!(d.category.as_deref(), Some("malicious-activity"));
}

#[test]
fn feeds_parse_command_prints_the_contract() {
    let feed = fixtures().join("ip_range/ranges.txt");
    let want: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("ip_range/expected/ranges.txt.json")).unwrap(),
    )
    .unwrap();
    for format in ["ip_range", "auto"] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        feeds::cli::run(
            format,
            &feed,
            &FormatOptions::default(),
            false,
            &mut out,
            &mut err,
        )
        .unwrap();
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let entries: Vec<String> = want["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(lines, entries);
        let err = String::from_utf8(err).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("format=ip_range entries=323 ") && err.contains(" rejected=3 ignored=0 "),
            "{err}"
        );
    }
}
