//! The sanity gate through the real sidecar: a feed that shrinks by 95% is
//! held back (the last good version stays published, the reason is shown)
//! until the operator accepts it with `feedwall feeds accept`.

use std::process::Command;

use crate::harness::*;

fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new(bin()).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

fn list_hosts(snapshot: &std::path::Path) -> u64 {
    let o = Command::new(bin())
        .args(["snapshot", "inspect", "--json"])
        .arg(snapshot)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["lists"][0]["v4_hosts"].as_u64().unwrap()
}

#[test]
fn a_shrunken_feed_is_held_back_until_the_operator_accepts_it() {
    let dir = tempdir();
    let feed = dir.path().join("feed.txt");
    std::fs::write(&feed, v4_hosts([10, 77, 0, 0], 100).join("\n")).unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("feedwall.toml");
    std::fs::write(
        &config,
        format!(
            "version = \"v1\"\ndata_dir = {:?}\n[[feed]]\nid = \"f\"\nurl = \"file://{}\"\nformat = \"plain\"\n[[list]]\nname = \"l\"\nfeeds = [\"f\"]\n[[device]]\nname = \"d\"\nprefixes = [\"127.0.0.1/32\"]\n",
            data.display().to_string(),
            feed.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let (ok, out) = run(&["control", "--config", cfg, "--once"]);
    assert!(ok && out.contains("[1/1] f: ok: 100 entries"), "{out}");
    let snap = data.join("snapshot.fw");
    assert_eq!(list_hosts(&snap), 100);

    // 95% gone: held back, last good version still published.
    std::fs::write(&feed, v4_hosts([10, 77, 0, 0], 5).join("\n")).unwrap();
    let (ok, out) = run(&["control", "--config", cfg, "--once"]);
    assert!(
        ok && out.contains("held back: shrank from 100 to 5"),
        "{out}"
    );
    assert_eq!(list_hosts(&snap), 100);
    let health: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("feeds.json")).unwrap()).unwrap();
    assert!(
        health["f"]["held_back"]
            .as_str()
            .unwrap()
            .contains("shrank from 100 to 5"),
        "{health}"
    );
    assert_eq!(health["f"]["entries"], 100);

    // Accepting something that is not held back fails clearly.
    let (ok, out) = run(&["feeds", "accept", "nosuch", "--config", cfg]);
    assert!(!ok && out.contains("no feed \"nosuch\""), "{out}");
    // No sidecar is running: fetch-now says so.
    let (ok, out) = run(&["feeds", "fetch-now", "--config", cfg]);
    assert!(!ok && out.contains("no running sidecar"), "{out}");

    // The operator accepts it: the next sync publishes the 5 entries.
    let (ok, out) = run(&["feeds", "accept", "f", "--config", cfg]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["control", "--config", cfg, "--once"]);
    assert!(ok, "{out}");
    assert_eq!(list_hosts(&snap), 5);
    let (ok, out) = run(&["feeds", "accept", "f", "--config", cfg]);
    assert!(!ok && out.contains("no held-back version"), "{out}");
}

/// Regression (issue 3): adjacent /24s of a feed must not be merged into a
/// /23 before expansion, which would drop all their hosts from DNS.
#[test]
fn regression_issue3_adjacent_slash24s_stay_host_records() {
    let dir = tempdir();
    let feed = dir.path().join("feed.txt");
    std::fs::write(
        &feed,
        "10.1.0.0/24\n10.1.1.0/24\n10.1.1.7\n10.8.0.0/16\n10.9.0.0/16\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("feedwall.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n[[feed]]\nid = \"f\"\nurl = \"file://{}\"\nformat = \"plain\"\n[[list]]\nname = \"l\"\nfeeds = [\"f\"]\n", data.display().to_string(), feed.display()),
    )
    .unwrap();
    let (ok, out) = run(&["control", "--config", config.to_str().unwrap(), "--once"]);
    assert!(ok, "{out}");
    let o = Command::new(bin())
        .args(["snapshot", "inspect", "--json"])
        .arg(data.join("snapshot.fw"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lists"][0]["v4_hosts"], 512, "{v}");
    // The wide ones are aggregated: two adjacent /16s become one /15.
    assert_eq!(v["lists"][0]["wide"], serde_json::json!(["10.8.0.0/15"]));
}
