//! The command-line contracts: `snapshot build`, `snapshot inspect`, `up`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn snapshot_build_reports_bad_lines_and_inspect_shows_the_lists() {
    let dir = tempdir();
    let f = write_list(
        dir.path(),
        "bad",
        &[
            "# comment".into(),
            "192.0.2.1".into(),
            "198.51.100.0/24 # a net".into(),
            "10.0.0.0/8".into(),
            "not-an-ip".into(),
            "2001:db8::/120".into(),
            "1.2.3.4/40".into(),
        ],
    );
    let out = dir.path().join("snap.fw");
    let o = snapshot_build(&[
        "--zone",
        "feedwall.internal",
        "--list",
        &format!("bad={}", f.display()),
        "--allow",
        "127.0.0.1/32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("list bad: 4 entries read, 2 bad lines"),
        "{err}"
    );
    assert!(err.contains("line 5: \"not-an-ip\""), "{err}");
    let o = Command::new(bin())
        .args([
            "snapshot",
            "inspect",
            out.to_str().unwrap(),
            "--json",
            "--names",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["zone"], "feedwall.internal.");
    let l = &v["lists"][0];
    assert_eq!(l["name"], "bad");
    assert_eq!(l["v4_hosts"], 257, "a /24 is expanded into hosts");
    assert_eq!(l["v6_hosts"], 256, "a /120 is expanded into hosts");
    assert_eq!(
        l["wide"],
        serde_json::json!(["10.0.0.0/8"]),
        "wider prefixes are kept, not expanded"
    );
    assert_eq!(l["capacity"], 4);
    let names: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Canonical order (RFC 4034 §6.1), apex first.
    assert_eq!(names[0], "feedwall.internal.");
    assert!(names.contains(&"3.bad.feedwall.internal."));
    let o = Command::new(bin())
        .args(["snapshot", "inspect", out.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("serial") && text.contains("bad") && text.contains("device 0"),
        "{text}"
    );
}

#[test]
fn serials_rise_with_every_build_and_bad_arguments_are_named() {
    let dir = tempdir();
    let f = write_list(dir.path(), "l", &["192.0.2.1".into()]);
    let out = dir.path().join("snap.fw");
    let list = format!("l={}", f.display());
    let serial = |p: &std::path::Path| -> u64 {
        let o = Command::new(bin())
            .args(["snapshot", "inspect", p.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["serial"]
            .as_u64()
            .unwrap()
    };
    let args = [
        "--list",
        &list,
        "--allow",
        "127.0.0.1",
        "--out",
        out.to_str().unwrap(),
    ];
    assert!(snapshot_build(&args).status.success());
    let s1 = serial(&out);
    assert!(snapshot_build(&args).status.success());
    let s2 = serial(&out);
    assert!(s2 > s1, "{s2} > {s1}");
    let fails = |extra: &[&str], needle: &str| {
        let mut a: Vec<&str> = vec!["--list", &list, "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        let o = snapshot_build(&a);
        assert!(!o.status.success(), "{extra:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
    };
    fails(&["--allow", "300.1.1.1"], "--allow \"300.1.1.1\"");
    fails(&["--capacity", "nosuch=3"], "nosuch");
    fails(&["--zone", "bad..zone"], "--zone");
    fails(&["--max-a", "5000"], "records per name");
    fails(
        &["--list", "x=/nonexistent/file"],
        "cannot read /nonexistent/file",
    );
    fails(&["--list", &list], "defined twice");
    // Nothing was written by the failed builds: the last good file is intact.
    assert_eq!(serial(&out), s2);
}

#[test]
fn up_serves_the_embedded_demo() {
    let dir = tempdir();
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(bin())
        .args(["up", "--data"])
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "feedwall up did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let addr: std::net::SocketAddr = v["listen"][0].as_str().unwrap().parse().unwrap();
    // The sidecar fetches the demo feeds (file://) right after start: wait
    // for the lookups to fill.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = kdig(addr, "attackers.feedwall.internal", "TXT", &[]);
        if out.contains("entries=250") {
            assert!(
                out.contains("generated=") && out.contains("oldest-feed-age="),
                "{out}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "demo lookups never filled: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Five basic lookups, each with data; hijacked spans several chunks.
    for l in [
        "attackers",
        "botnet-cc",
        "phishing",
        "hijacked",
        "tor-exits",
    ] {
        let out = kdig(addr, &format!("0.{l}.feedwall.internal"), "A", &["+tcp"]);
        assert!(!answers(&out, "A").is_empty(), "{l}: {out}");
    }
    let out = kdig(addr, "0.hijacked.feedwall.internal", "A", &["+tcp"]);
    assert_eq!(answers(&out, "A").len(), 4000);
    // The responder and the sidecar are separate processes under `up`.
    let health: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("data/feeds.json")).unwrap())
            .unwrap();
    assert_eq!(health["demo-attackers"]["entries"], 250);
    assert_eq!(health["demo-attackers"]["rejected_last_fetch"], 2);
    // check-ip answers from the archive, with attribution.
    let o = Command::new(bin())
        .args(["check-ip", "--data"])
        .arg(dir.path().join("data"))
        .arg("64.215.110.0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && text.contains("listed now by 1 feed")
            && text.contains("demo-tor-exits"),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // SIGTERM stops it cleanly.
    unsafe_kill(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

fn unsafe_kill(pid: u32) {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
}

#[test]
fn feeds_parse_prints_exactly_the_expected_entries_for_every_fixture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if !file.is_file() {
                continue;
            }
            let expected_path = dir.join("expected").join(format!(
                "{}.json",
                file.file_name().unwrap().to_string_lossy()
            ));
            let expected: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
            let o = Command::new(bin())
                .args(["feeds", "parse", "--format", "auto"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", file.display());
            let got: Vec<String> = String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            let want: Vec<String> = expected["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "{}", file.display());
            let err = String::from_utf8_lossy(&o.stderr);
            let c = &expected["counts"];
            assert!(
                err.contains(&format!("entries={}", c["entries"]))
                    && err.contains(&format!("rejected={}", c["rejected"]))
                    && err.contains(&format!("ignored={}", c["ignored"])),
                "{}: {err}",
                file.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 20, "every feed fixture file");
}
