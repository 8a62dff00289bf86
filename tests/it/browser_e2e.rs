//! The admin pages in a real headless browser: Debian's Chromium driven by
//! playwright-core (`tests/browser/e2e.mjs`) signs up, logs out and in
//! again, adds a device at 127.0.0.3 and a deny entry through the forms;
//! then kdig from 127.0.0.3 finds the entry in the account's deny lookup
//! while 127.0.0.4 is REFUSED. The device page's screenshot is kept at
//! `target/browser-e2e/device-page.png` for people to look at.
//!
//! Needs node, Chromium (`/usr/bin/chromium`) and `npm ci` in
//! `tests/browser`; `tests/run-all.sh` installs all three.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::admin_harness::{eventually, kdig_from, Options, System, PASSWORD};
use super::harness::{answers, require_tool, status};

/// The browser run's own limit is 120 s; this one is for a hung node.
const NODE_TIMEOUT: Duration = Duration::from_secs(180);
const DENY_ENTRY: &str = "203.0.113.77";

fn chromium() -> PathBuf {
    let p = std::env::var_os("FEEDWALL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.is_file(),
        "Chromium is not installed at {}; run tests/run-all.sh (it installs Debian's chromium)",
        p.display()
    );
    p
}

/// Runs the browser script; returns (exit status, stdout, stderr, seconds).
fn run_browser(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String, f64) {
    let node = require_tool("node");
    let started = Instant::now();
    let mut child = Command::new(node)
        .arg("e2e.mjs")
        .args(args)
        .current_dir(dir)
        .env("FEEDWALL_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for node") {
            break s;
        }
        if started.elapsed() > NODE_TIMEOUT {
            // SIGTERM lets playwright close the browser it started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the browser test did not finish in {} s; its output:\n{}",
                NODE_TIMEOUT.as_secs(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let secs = started.elapsed().as_secs_f64();
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
        secs,
    )
}

/// Width and height of a PNG file, checking its signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "the screenshot is not a PNG file"
    );
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn browser_sign_up_device_and_deny_entry_reach_dns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "{} has no node_modules/playwright-core: run tests/run-all.sh (it runs `npm ci` there)",
        browser_dir.display()
    );
    chromium();
    require_tool("kdig");
    let keep = root.join("target/browser-e2e");
    std::fs::create_dir_all(&keep).unwrap();
    let _ = std::fs::remove_file(keep.join("failure.png"));

    let sys = System::start(Options::default());
    let shot = sys.dir.path().join("device-page.png");
    let cert = sys.data.join("admin-cert.pem");
    let email = "browser-e2e@example.com";
    let (code, stdout, stderr, secs) = run_browser(
        &browser_dir,
        &[
            &sys.base,
            cert.to_str().unwrap(),
            email,
            PASSWORD,
            shot.to_str().unwrap(),
        ],
    );
    if !code.success() {
        let failure = sys.dir.path().join("device-page-failure.png");
        let kept = if failure.is_file() && std::fs::copy(&failure, keep.join("failure.png")).is_ok()
        {
            format!(
                "the page at the failure: {}",
                keep.join("failure.png").display()
            )
        } else {
            "no failure screenshot".to_string()
        };
        panic!(
            "the browser test failed ({code}) after {secs:.1} s; {kept}\n--- its output:\n{stderr}{stdout}\n--- appliance log:\n{}",
            sys.log()
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line from the browser test:\n{stdout}\n{stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("browser test JSON");
    let label = v["label"].as_str().expect("label");
    let deny = format!("0.deny.{label}.acct.feedwall.internal");
    assert_eq!(v["deny_name"], deny.as_str(), "the device page's name: {v}");
    assert_eq!(v["entry"], DENY_ENTRY);

    // DNS: the device's address finds the entry, another address is refused.
    let dns_started = Instant::now();
    let mut last = String::new();
    eventually(15, "kdig from 127.0.0.3 finds the deny entry", || {
        last = kdig_from(sys.dns, "127.0.0.3", &deny, "A");
        status(&last) == "NOERROR" && answers(&last, "A").iter().any(|a| a == DENY_ENTRY)
    });
    assert_eq!(answers(&last, "A"), vec![DENY_ENTRY.to_string()], "{last}");
    let dns_secs = dns_started.elapsed().as_secs_f64();
    let other = kdig_from(sys.dns, "127.0.0.4", &deny, "A");
    assert_eq!(status(&other), "REFUSED", "{other}");
    assert!(answers(&other, "A").is_empty(), "{other}");

    // The screenshot: a full-page PNG of the 1280 px wide viewport.
    let bytes = std::fs::read(&shot).expect("the device page screenshot");
    let (w, h) = png_size(&bytes);
    assert_eq!(w, 1280, "screenshot width");
    assert!(
        h >= 900,
        "a full-page screenshot is at least the viewport high: {h}"
    );
    assert!(
        bytes.len() > 20_000 && bytes.len() < 20 << 20,
        "screenshot size {} bytes",
        bytes.len()
    );
    let kept = keep.join("device-page.png");
    std::fs::copy(&shot, &kept).unwrap();
    println!(
        "browser e2e: {} ({}), browser part {secs:.1} s (its own clock {} ms), DNS answered {dns_secs:.1} s after; screenshot {w}x{h}, {} bytes: {}",
        v["browser"].as_str().unwrap_or("?"),
        v["device_url"].as_str().unwrap_or("?"),
        v["ms"],
        bytes.len(),
        kept.display()
    );
}
