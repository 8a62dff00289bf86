//! Firewall log upload over real HTTPS against the whole appliance
//! (`feedwall up`): the Logs page form (multipart with CSRF), the device
//! API (session or API token), the cron API with a device's log token;
//! receipts equal to the fixture's golden counts, gzip and plain alike;
//! the size cap (413, nothing stored) above the admin's general body limit;
//! broken gzip (400, nothing stored); garbage (all ignored, no crash);
//! accounts isolated by device id and by token; the device's log zone
//! validated. Stored counts are read from `logs.sqlite` directly.

use std::io::Write;

use feedwall::logs::store::LogStore;

use super::admin_harness::{Client, Options, Resp, System};

/// The iptables fixture and its golden counts (device zone UTC).
const KERN_LOG: &str = "tests/fixtures/logs/iptables/kern.log";
const RECORDS: u64 = 900;
const REJECTED: u64 = 3;
const IGNORED: u64 = 45;

/// `[logs] max_upload` default (the harness does not change it).
const LOG_LIMIT: usize = 64 << 20;
/// `[admin] max_upload` default: the general body limit of other routes.
const ADMIN_LIMIT: usize = 4 << 20;

fn kern_log() -> Vec<u8> {
    std::fs::read(KERN_LOG).expect("fixture")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// (entries, batches) stored for an account.
fn stored(sys: &System, account: i64) -> (u64, u64) {
    let s = LogStore::open_read_only(&sys.data.join("logs.sqlite")).expect("log archive");
    let batches: i64 = s
        .connection()
        .query_row(
            "SELECT count(*) FROM batches WHERE account = ?1",
            [account],
            |r| r.get(0),
        )
        .unwrap();
    (s.entry_count(account).unwrap(), batches as u64)
}

const BOUNDARY: &str = "feedwall-test-boundary-5b1f0c2e9a";

/// A multipart/form-data body: the small fields, then the file.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let mut b = Vec::new();
    for (k, v) in fields {
        write!(
            b,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
        .unwrap();
    }
    if let Some((name, bytes)) = file {
        write!(
            b,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    write!(b, "--{BOUNDARY}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={BOUNDARY}"), b)
}

/// Posts the Logs page form with the session's CSRF token.
fn form_upload(c: &mut Client, device: i64, format: &str, name: &str, bytes: &[u8]) -> Resp {
    let csrf = c
        .csrf
        .clone()
        .expect("a page with a CSRF token was fetched");
    let (ctype, body) = multipart(
        &[
            ("csrf", &csrf),
            ("device", &device.to_string()),
            ("format", format),
        ],
        Some((name, bytes)),
    );
    c.send("POST", "/logs/upload", Some((&ctype, body)), false)
}

/// A raw-body API upload (with a session, the CSRF header is sent).
fn api_upload(c: &mut Client, path: &str, bytes: Vec<u8>) -> Resp {
    c.send(
        "POST",
        path,
        Some(("application/octet-stream", bytes)),
        true,
    )
}

/// The text of the element with this id on a page.
fn cell(html: &str, id: &str) -> String {
    let key = format!("id=\"{id}\">");
    let i = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} on the page: {html}"));
    let rest = &html[i + key.len()..];
    rest[..rest.find('<').unwrap()].to_string()
}

fn page_counts(html: &str) -> (u64, u64, u64) {
    let n = |id| cell(html, id).parse::<u64>().unwrap();
    (n("accepted"), n("rejected"), n("ignored"))
}

fn json_counts(v: &serde_json::Value) -> (u64, u64, u64) {
    (
        v["accepted"].as_u64().unwrap(),
        v["rejected"].as_u64().unwrap(),
        v["ignored"].as_u64().unwrap(),
    )
}

/// Signs up, adds a device with zone UTC; returns (client, account, device).
fn account_with_device(sys: &System, email: &str, prefix: &str) -> (Client, i64, i64) {
    let mut c = sys.signup(email);
    let account = c.json("GET", "/api/account", None).json()["id"]
        .as_i64()
        .unwrap();
    let d = c.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name": format!("fw-{prefix}"), "kind": "nftables", "prefix": prefix})),
    );
    d.expect_status(201);
    let device = d.json()["id"].as_i64().unwrap();
    let z = c.json(
        "PUT",
        &format!("/api/devices/{device}/log-zone"),
        Some(serde_json::json!({"tz": "UTC"})),
    );
    z.expect_status(200);
    assert_eq!(z.json()["tz"], "UTC");
    (c, account, device)
}

#[test]
fn logs_upload_by_form_and_both_apis_gives_golden_receipts() {
    let sys = System::start(Options::default());
    let (mut a, account, device) = account_with_device(&sys, "logs-a@example.com", "127.0.0.41");
    let plain = kern_log();
    let gz = gzip(&plain);
    let golden = (RECORDS, REJECTED, IGNORED);
    // Refusals without a valid credential are answered before the body is
    // read; a small body keeps the connection clean for the client.
    let small = plain[..400].to_vec();

    // The Logs page offers the device and the formats.
    let p = a.get("/logs");
    p.expect_status(200);
    assert!(p.body.contains("fw-127.0.0.41") && p.body.contains("iptables"));
    assert!(p.body.contains("Nothing stored yet"), "{}", p.body);

    // The form without the right CSRF token stores nothing.
    let (ctype, body) = multipart(
        &[("csrf", "forged"), ("device", &device.to_string())],
        Some(("kern.log", &plain)),
    );
    a.send("POST", "/logs/upload", Some((&ctype, body)), false)
        .expect_status(403);
    assert_eq!(stored(&sys, account), (0, 0));

    // Plain and gzip through the form: the fixture's golden counts.
    a.get("/logs").expect_status(200);
    let r = form_upload(&mut a, device, "auto", "kern.log", &plain);
    r.expect_status(200);
    assert_eq!(page_counts(&r.body), golden, "{}", r.body);
    assert_eq!(cell(&r.body, "lines"), "948");
    assert!(r.body.contains("data-format=\"iptables\""), "{}", r.body);
    assert!(r.body.contains("id=\"problems\""), "rejected lines listed");
    // Times carry the device clock's year (this year or the last one).
    let first = cell(&r.body, "first-time");
    assert!(first.ends_with('Z') && first.contains("-11-0"), "{first}");
    assert_eq!(stored(&sys, account).0, RECORDS);
    let r = form_upload(&mut a, device, "iptables", "kern.log.gz", &gz);
    r.expect_status(200);
    assert_eq!(page_counts(&r.body), golden, "{}", r.body);
    assert_eq!(stored(&sys, account).0, 2 * RECORDS);
    // The history lists the batches.
    let p = a.get("/logs");
    assert!(p.body.contains("id=\"batches\""), "{}", p.body);

    // The device API with the session (CSRF header) and with an API token.
    let path = format!("/api/devices/{device}/logs");
    let r = api_upload(&mut a, &path, gz.clone());
    r.expect_status(200);
    let v = r.json();
    assert_eq!(json_counts(&v), golden, "{v}");
    assert_eq!(v["device"], device);
    assert_eq!(v["by_format"]["iptables"]["records"], RECORDS);
    assert_eq!(v["problems"].as_array().unwrap().len(), REJECTED as usize);
    let t = a.json(
        "POST",
        "/api/tokens",
        Some(serde_json::json!({"name": "log-script"})),
    );
    t.expect_status(201);
    let mut script = sys.client();
    script.bearer = Some(t.json()["secret"].as_str().unwrap().to_string());
    let r = api_upload(
        &mut script,
        &format!("{path}?format=iptables"),
        plain.clone(),
    );
    r.expect_status(200);
    assert_eq!(json_counts(&r.json()), golden);
    let r = api_upload(&mut script, &format!("{path}?format=bogus"), plain.clone());
    r.expect_status(400);
    assert_eq!(r.json()["field"], "format");
    assert_eq!(stored(&sys, account).0, 4 * RECORDS);

    // The log token: minted by the API, shown once with mail and curl.
    let tok = a.json("POST", &format!("/api/devices/{device}/log-token"), None);
    tok.expect_status(200);
    let tok = tok.json();
    let token = tok["token"].as_str().unwrap().to_string();
    assert_eq!(
        tok["mail"].as_str().unwrap(),
        format!("{token}@logs.feedwall.internal")
    );
    assert!(tok["curl"].as_str().unwrap().contains(&token));
    assert!(tok["curl"].as_str().unwrap().contains("/api/logs"));
    let mut cron = sys.client();
    cron.bearer = Some(token.clone());
    let r = api_upload(&mut cron, "/api/logs", gz.clone());
    r.expect_status(200);
    assert_eq!(json_counts(&r.json()), golden);
    assert_eq!(r.json()["device"], device);
    assert_eq!(stored(&sys, account).0, 5 * RECORDS);
    // An API token is not a log token.
    let mut wrong = sys.client();
    wrong.bearer = script.bearer.clone();
    api_upload(&mut wrong, "/api/logs", small.clone()).expect_status(401);

    // The device page button rotates it: the old one stops working.
    let page = a.get(&format!("/devices/{device}"));
    page.expect_status(200);
    assert!(page.body.contains("A log token exists"), "{}", page.body);
    let r = a.post_form(&format!("/devices/{device}/log-token"), &[]);
    r.expect_status(200);
    let new_token = cell(&r.body, "log-token");
    assert_ne!(new_token, token);
    assert_eq!(
        cell(&r.body, "log-mail"),
        format!("{new_token}@logs.feedwall.internal")
    );
    assert!(cell(&r.body, "log-curl").contains(&new_token));
    api_upload(&mut cron, "/api/logs", small.clone()).expect_status(401);
    cron.bearer = Some(new_token);
    api_upload(&mut cron, "/api/logs", plain.clone()).expect_status(200);
    assert_eq!(stored(&sys, account).0, 6 * RECORDS);
}

#[test]
fn logs_device_zone_is_validated_on_page_and_api() {
    let sys = System::start(Options::default());
    let (mut a, _, device) = account_with_device(&sys, "zone@example.com", "127.0.0.42");
    let api = format!("/api/devices/{device}/log-zone");
    let r = a.json(
        "PUT",
        &api,
        Some(serde_json::json!({"tz": "Mars/Olympus_Mons"})),
    );
    r.expect_status(400);
    assert_eq!(r.json()["field"], "tz");
    let r = a.json(
        "PUT",
        &api,
        Some(serde_json::json!({"tz": "Europe/Berlin"})),
    );
    r.expect_status(200);
    assert_eq!(r.json()["tz"], "Europe/Berlin");
    // The page: the error next to the field, the submitted value kept, the
    // stored zone unchanged.
    let page = a.get(&format!("/devices/{device}"));
    assert!(
        page.body.contains("value=\"Europe/Berlin\""),
        "{}",
        page.body
    );
    let r = a.post_form(
        &format!("/devices/{device}/log-zone"),
        &[("tz", "Nowhere/Atlantis")],
    );
    r.expect_status(400);
    assert!(
        r.body.contains("data-field=\"tz\""),
        "error at the field: {}",
        r.body
    );
    assert!(r.body.contains("value=\"Nowhere/Atlantis\""));
    assert_eq!(a.json("GET", &api, None).json()["tz"], "Europe/Berlin");
    let r = a.post_form(&format!("/devices/{device}/log-zone"), &[("tz", "+01:00")]);
    r.expect_status(303);
    assert_eq!(a.json("GET", &api, None).json()["tz"], "+01:00");
    // Without the CSRF token nothing changes.
    let r = a.post_raw_form(
        &format!("/devices/{device}/log-zone"),
        &[("tz".into(), "UTC".into())],
    );
    r.expect_status(403);
    assert_eq!(a.json("GET", &api, None).json()["tz"], "+01:00");
}

#[test]
fn logs_upload_is_isolated_capped_and_survives_garbage() {
    let sys = System::start(Options::default());
    let (mut a, alice, dev_a) = account_with_device(&sys, "alice-logs@example.com", "127.0.0.43");
    let (mut b, bob, dev_b) = account_with_device(&sys, "bob-logs@example.com", "127.0.0.44");
    let plain = kern_log();
    let small = plain[..400].to_vec();

    // Without credentials: the login page or 401, nothing read.
    let mut anon = sys.client();
    for (m, p) in [
        ("GET", "/logs".to_string()),
        ("POST", "/logs/upload".to_string()),
        ("POST", format!("/devices/{dev_a}/log-zone")),
        ("POST", format!("/devices/{dev_a}/log-token")),
    ] {
        let r = anon.send(
            m,
            &p,
            Some(("application/x-www-form-urlencoded", b"tz=UTC".to_vec())),
            false,
        );
        assert_eq!((r.status, r.location()), (303, "/login".into()), "{m} {p}");
    }
    let (ctype, body) = multipart(
        &[("device", &dev_a.to_string())],
        Some(("kern.log", &small)),
    );
    let r = anon.send("POST", "/logs/upload", Some((&ctype, body)), false);
    assert_eq!((r.status, r.location()), (303, "/login".into()));
    for p in [format!("/api/devices/{dev_a}/logs"), "/api/logs".into()] {
        api_upload(&mut anon, &p, small.clone()).expect_status(401);
    }
    anon.bearer = Some("abcdefghijklmnopqrstuvwxyz".into());
    api_upload(&mut anon, "/api/logs", small.clone()).expect_status(401);
    assert_eq!(stored(&sys, alice), (0, 0));

    // Bob guesses Alice's device id everywhere: 404, nothing stored.
    b.get("/logs").expect_status(200);
    form_upload(&mut b, dev_a, "auto", "kern.log", &plain).expect_status(404);
    api_upload(&mut b, &format!("/api/devices/{dev_a}/logs"), plain.clone()).expect_status(404);
    b.json("POST", &format!("/api/devices/{dev_a}/log-token"), None)
        .expect_status(404);
    b.json("GET", &format!("/api/devices/{dev_a}/log-zone"), None)
        .expect_status(404);
    b.json(
        "PUT",
        &format!("/api/devices/{dev_a}/log-zone"),
        Some(serde_json::json!({"tz": "UTC"})),
    )
    .expect_status(404);
    b.get("/devices").expect_status(200);
    b.post_form(&format!("/devices/{dev_a}/log-token"), &[])
        .expect_status(404);
    b.post_form(&format!("/devices/{dev_a}/log-zone"), &[("tz", "UTC")])
        .expect_status(404);
    assert_eq!(stored(&sys, alice), (0, 0));
    assert_eq!(stored(&sys, bob), (0, 0));

    // Alice's log token stores for Alice's device only.
    let tok = a.json("POST", &format!("/api/devices/{dev_a}/log-token"), None);
    let mut cron = sys.client();
    cron.bearer = Some(tok.json()["token"].as_str().unwrap().to_string());
    let r = api_upload(&mut cron, "/api/logs", plain.clone());
    r.expect_status(200);
    assert_eq!(r.json()["device"], dev_a);
    assert_eq!(stored(&sys, alice).0, RECORDS);
    assert_eq!(stored(&sys, bob), (0, 0));
    // Bob's page lists none of Alice's uploads.
    let p = b.get("/logs");
    assert!(p.body.contains("Nothing stored yet"), "{}", p.body);
    assert!(!p.body.contains("fw-127.0.0.43"));
    let p = a.get("/logs");
    assert!(p.body.contains("id=\"batches\""));

    // Larger than the admin's general body limit, within the log cap: the
    // upload routes have their own limit (form and API).
    let copies = ADMIN_LIMIT / plain.len() + 2;
    let big = plain.repeat(copies);
    assert!(big.len() > ADMIN_LIMIT && big.len() < LOG_LIMIT);
    b.get("/logs").expect_status(200);
    let r = form_upload(&mut b, dev_b, "auto", "big.log", &big);
    r.expect_status(200);
    assert_eq!(
        page_counts(&r.body),
        (
            RECORDS * copies as u64,
            REJECTED * copies as u64,
            IGNORED * copies as u64
        )
    );
    let r = api_upload(&mut b, &format!("/api/devices/{dev_b}/logs"), big.clone());
    r.expect_status(200);
    assert_eq!(r.json()["accepted"], RECORDS * copies as u64);
    let before = stored(&sys, bob);
    assert_eq!(before.0, 2 * RECORDS * copies as u64);

    // Over the log cap: 413 with the limit named, nothing stored (the
    // announced size through the API, the streamed file through the form).
    let mut huge = big.repeat(LOG_LIMIT / big.len() + 1);
    huge.truncate(LOG_LIMIT + 1);
    let r = api_upload(&mut b, &format!("/api/devices/{dev_b}/logs"), huge.clone());
    r.expect_status(413);
    assert!(
        r.json()["error"].as_str().unwrap().contains("64 MiB"),
        "{}",
        r.body
    );
    let r = form_upload(&mut b, dev_b, "auto", "huge.log", &huge);
    r.expect_status(413);
    assert!(r.body.contains("64 MiB"), "{}", r.body);
    drop(huge);
    assert_eq!(stored(&sys, bob), before);

    // A broken gzip stream: 400, nothing stored.
    let gz = gzip(&big);
    let r = api_upload(
        &mut b,
        &format!("/api/devices/{dev_b}/logs"),
        gz[..gz.len() / 2].to_vec(),
    );
    r.expect_status(400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("nothing was stored"));
    b.get("/logs").expect_status(200);
    let r = form_upload(&mut b, dev_b, "auto", "cut.log.gz", &gz[..gz.len() / 2]);
    r.expect_status(400);
    assert_eq!(stored(&sys, bob), before);

    // Garbage: a receipt with nothing understood, not an error.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let garbage: Vec<u8> = (0..256 * 1024)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i == 0 {
                b'G'
            } else {
                (x >> 24) as u8
            }
        })
        .collect();
    let r = api_upload(
        &mut b,
        &format!("/api/devices/{dev_b}/logs"),
        garbage.clone(),
    );
    r.expect_status(200);
    let v = r.json();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    assert!(v["ignored"].as_u64().unwrap() > 0);
    assert_eq!(
        v["lines"].as_u64().unwrap(),
        v["ignored"].as_u64().unwrap() + v["skipped"].as_u64().unwrap()
    );
    let r = form_upload(&mut b, dev_b, "auto", "garbage.bin", &garbage);
    r.expect_status(200);
    assert_eq!(cell(&r.body, "accepted"), "0");
    assert_eq!(stored(&sys, bob).0, before.0);

    // A form without a file says so next to the field.
    let csrf = b.csrf.clone().unwrap();
    let (ctype, body) = multipart(&[("csrf", &csrf), ("device", &dev_b.to_string())], None);
    let r = b.send("POST", "/logs/upload", Some((&ctype, body)), false);
    r.expect_status(400);
    assert!(r.body.contains("data-field=\"file\""), "{}", r.body);

    // Still serving.
    sys.client().get("/healthz").expect_status(200);
    assert_eq!(stored(&sys, alice).0, RECORDS);
}
