//! Per-account names: a device sees the basic lookups plus its own
//! account's names, and gets REFUSED (never NXDOMAIN) for another account's.

use feedwall::snapshot::{DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings, AUDIENCE_ALL};
use ipnet::IpNet;

use crate::harness::*;

fn nets(v: &[&str]) -> Vec<IpNet> {
    v.iter()
        .map(|s| feedwall::lists::parse_net(s).unwrap())
        .collect()
}

#[test]
fn devices_see_basic_and_own_names_and_are_refused_for_other_accounts() {
    let dir = tempdir();
    let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), 77);
    w.accounts = vec![(1, "alpha".into()), (2, "beta".into())];
    w.lists.push(ListSpec {
        name: "basic".into(),
        audience: AUDIENCE_ALL,
        capacity: None,
        nets: nets(&["192.0.2.1"]),
        source: "t".into(),
    });
    w.lists.push(ListSpec {
        name: "deny.a1.acct".into(),
        audience: 1,
        capacity: None,
        nets: nets(&["198.51.100.1"]),
        source: "t".into(),
    });
    w.lists.push(ListSpec {
        name: "deny.b2.acct".into(),
        audience: 2,
        capacity: None,
        nets: nets(&["198.51.100.2"]),
        source: "t".into(),
    });
    w.devices.push(DeviceSpec {
        key: 0,
        name: "fw-alpha".into(),
        account: 1,
        prefixes: nets(&["127.0.0.1/32"]),
    });
    w.devices.push(DeviceSpec {
        key: 0,
        name: "fw-beta".into(),
        account: 2,
        prefixes: nets(&["127.0.0.3/32"]),
    });
    let snap = dir.path().join("snap.fw");
    w.write(&snap).unwrap();
    let r = Responder::start(&snap);
    let a = |name: &str, src: &str| dig(r.addr(), name, "A", &["-b", src]);
    // Both see the basic lookup.
    for src in ["127.0.0.1", "127.0.0.3"] {
        assert_eq!(
            answers(&a("0.basic.feedwall.internal", src), "A"),
            vec!["192.0.2.1"],
            "{src}"
        );
    }
    // Each sees its own.
    assert_eq!(
        answers(&a("0.deny.a1.acct.feedwall.internal", "127.0.0.1"), "A"),
        vec!["198.51.100.1"]
    );
    assert_eq!(
        answers(&a("0.deny.b2.acct.feedwall.internal", "127.0.0.3"), "A"),
        vec!["198.51.100.2"]
    );
    // Never the other's: existing names, names past capacity, the list TXT,
    // and made-up names inside the other's subtree are all REFUSED.
    for name in [
        "0.deny.b2.acct.feedwall.internal",
        "99.deny.b2.acct.feedwall.internal",
        "deny.b2.acct.feedwall.internal",
        "nothing.b2.acct.feedwall.internal",
    ] {
        let out = a(name, "127.0.0.1");
        assert_eq!(status(&out), "REFUSED", "{name} from alpha: {out}");
    }
    for name in [
        "0.deny.a1.acct.feedwall.internal",
        "deny.a1.acct.feedwall.internal",
        "x.a1.acct.feedwall.internal",
    ] {
        assert_eq!(status(&a(name, "127.0.0.3")), "REFUSED", "{name} from beta");
    }
    // The shared parent reveals nothing (NODATA, same for both).
    assert_eq!(status(&a("acct.feedwall.internal", "127.0.0.1")), "NOERROR");
    // A name under nobody's subtree is an ordinary NXDOMAIN.
    assert_eq!(
        status(&a("zz.acct.feedwall.internal", "127.0.0.3")),
        "NXDOMAIN"
    );
    let c = r.counters();
    assert!(
        c["counters"]["refused_audience"].as_u64().unwrap() >= 7,
        "{c}"
    );
}
