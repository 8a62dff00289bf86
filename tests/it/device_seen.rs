//! The responder records when each device last queried and writes it to
//! its stats file; the times survive a snapshot reload (matched by key, or
//! by name for devices from the configuration file), and queries the ACL
//! refuses are not attributed to anyone.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feedwall::snapshot::{DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings, AUDIENCE_ALL};
use serde_json::Value;

use crate::harness::*;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn writer(serial: u32, devices: &[(u64, &str, &str)]) -> SnapshotWriter {
    let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), serial);
    w.lists.push(ListSpec {
        name: "basic".into(),
        audience: AUDIENCE_ALL,
        capacity: None,
        nets: vec!["192.0.2.1/32".parse().unwrap()],
        source: "t".into(),
    });
    w.accounts = vec![(1, "alpha".into())];
    for (key, name, prefix) in devices {
        w.devices.push(DeviceSpec {
            key: *key,
            name: (*name).into(),
            account: 1,
            prefixes: vec![prefix.parse().unwrap()],
        });
    }
    w
}

/// The stats file once `ok` holds for it (polled, at most 10 s).
fn stats_when(r: &Responder, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = r.counters();
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "stats file never showed {what}: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `last_query_unix` of the device with this name in a stats file.
fn last_query(stats: &Value, name: &str) -> Option<u64> {
    let d = stats["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no device {name} in {stats}"));
    match &d["last_query_unix"] {
        Value::Null => None,
        v => Some(v.as_u64().expect("last_query_unix is a number or null")),
    }
}

#[test]
fn last_query_time_per_device_survives_reload() {
    let dir = tempdir();
    let snap = dir.path().join("snap.fw");
    writer(
        100,
        &[(17, "fw-here", "127.0.0.1/32"), (0, "lab", "127.0.0.3/32")],
    )
    .write(&snap)
    .unwrap();
    let r = Responder::start(&snap);

    // Nobody has queried yet.
    let s = stats_when(&r, "serial 100", |v| v["serial"] == 100);
    assert_eq!(last_query(&s, "fw-here"), None);
    assert_eq!(last_query(&s, "lab"), None);
    let d0 = &s["devices"][0];
    assert_eq!(
        (d0["key"].as_u64(), d0["name"].as_str()),
        (Some(17), Some("fw-here"))
    );

    // A source outside the ACL is refused and attributed to no one.
    let out = dig(
        r.addr(),
        "0.basic.feedwall.internal",
        "A",
        &["-b", "127.0.0.2"],
    );
    assert_eq!(status(&out), "REFUSED", "{out}");
    // One UDP query from 127.0.0.1.
    let before = now_unix();
    let out = kdig(r.addr(), "0.basic.feedwall.internal", "A", &[]);
    assert_eq!(answers(&out, "A"), vec!["192.0.2.1"], "{out}");
    let s = stats_when(&r, "a last query for fw-here", |v| {
        last_query(v, "fw-here").is_some()
    });
    let seen = last_query(&s, "fw-here").unwrap();
    assert!(
        seen + 2 >= before && seen <= now_unix() + 1,
        "last query {seen}, queried at {before}"
    );
    assert_eq!(
        last_query(&s, "lab"),
        None,
        "the other device never queried"
    );
    assert!(s["counters"]["refused_acl"].as_u64().unwrap() >= 1);

    // Replace the snapshot: fw-here renamed (same key) and moved to another
    // index, a new device first, the configuration device (key 0) kept by
    // name.
    writer(
        101,
        &[
            (18, "new", "127.0.0.4/32"),
            (0, "lab", "127.0.0.3/32"),
            (17, "fw-renamed", "127.0.0.1/32"),
        ],
    )
    .write(&snap)
    .unwrap();
    let s = stats_when(&r, "serial 101", |v| v["serial"] == 101);
    assert_eq!(s["counters"]["reloads"], 1);
    assert_eq!(
        last_query(&s, "fw-renamed"),
        Some(seen),
        "kept across the reload"
    );
    assert_eq!(last_query(&s, "lab"), None);
    assert_eq!(last_query(&s, "new"), None);
    let d2 = &s["devices"][2];
    assert_eq!(d2["key"], 17);

    // The late merge of the replaced snapshot (after 1.5 s) changes nothing.
    std::thread::sleep(Duration::from_millis(2000));
    let s = r.counters();
    assert_eq!(last_query(&s, "fw-renamed"), Some(seen));

    // A TCP query in a later second moves the time on.
    while now_unix() <= seen {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The coarse clock may lag the precise one by a tick.
    std::thread::sleep(Duration::from_millis(50));
    let out = kdig(r.addr(), "0.basic.feedwall.internal", "A", &["+tcp"]);
    assert_eq!(answers(&out, "A"), vec!["192.0.2.1"], "{out}");
    let s = stats_when(&r, "a later TCP query", |v| {
        last_query(v, "fw-renamed").is_some_and(|t| t > seen)
    });
    assert_eq!(last_query(&s, "lab"), None);
    assert_eq!(last_query(&s, "new"), None);
}
