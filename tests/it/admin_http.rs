//! The admin plane over real HTTPS against the whole appliance (`feedwall
//! up`): authentication on every route, CSRF, account isolation by id
//! guessing, forms rejecting bad input without losing data, and devices
//! changing the DNS ACL within seconds (checked with kdig from several
//! loopback source addresses).

use super::admin_harness::{eventually, kdig_from, Options, System, PASSWORD};
use super::harness::{answers, status};

/// Every HTML route as (method, path); `{id}` and `{kind}` are filled in.
const HTML_ROUTES: &[(&str, &str)] = &[
    ("GET", "/devices"),
    ("POST", "/devices"),
    ("GET", "/devices/{id}"),
    ("POST", "/devices/{id}"),
    ("POST", "/devices/{id}/delete"),
    ("POST", "/devices/{id}/checkin"),
    ("GET", "/account"),
    ("POST", "/account/password"),
    ("POST", "/account/tokens"),
    ("POST", "/account/tokens/{id}/delete"),
    ("POST", "/logout"),
    ("GET", "/lists"),
    ("POST", "/lists/{kind}"),
    ("POST", "/lists/{kind}/import"),
    ("POST", "/lists/{kind}/{id}/delete"),
    ("GET", "/lists/{kind}/export"),
    ("GET", "/lookups"),
    ("POST", "/lookups"),
    ("GET", "/lookups/{id}"),
    ("POST", "/lookups/{id}"),
    ("POST", "/lookups/{id}/delete"),
    ("GET", "/check-ip"),
    ("GET", "/operator"),
    ("POST", "/operator/accounts"),
    ("POST", "/operator/accounts/{id}/tier"),
    ("POST", "/operator/accounts/{id}/delete"),
    ("POST", "/operator/feeds/{id}/accept"),
    ("POST", "/operator/feeds/{id}/reject"),
    ("POST", "/operator/appliance/upgrade"),
];

fn fill(path: &str) -> String {
    path.replace("{id}", "1").replace("{kind}", "deny")
}

#[test]
fn every_route_but_login_needs_authentication() {
    let sys = System::start(Options::default());
    let mut anon = sys.client();
    // Public routes answer.
    for p in [
        "/login",
        "/signup",
        "/static/app.css",
        "/static/app.js",
        "/api/openapi.json",
        "/healthz",
    ] {
        anon.get(p).expect_status(200);
    }
    // Pages send a browser to the login page and change nothing.
    for (m, p) in HTML_ROUTES {
        let r = anon.send(
            m,
            &fill(p),
            Some((
                "application/x-www-form-urlencoded",
                b"name=x&prefix=127.0.0.9&kind=bind&net=10.0.0.1&csrf=x".to_vec(),
            )),
            false,
        );
        assert!(
            r.status == 303 && r.location() == "/login",
            "{m} {p} without a session: {} {}",
            r.status,
            r.location()
        );
    }
    // Every API operation of the OpenAPI document answers 401.
    let doc = anon.get("/api/openapi.json").json();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.len() >= 8,
        "API paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    let mut checked = 0;
    for (p, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            let method = m.to_uppercase();
            let r = anon.json(
                &method,
                &fill(p),
                (method != "GET" && method != "DELETE").then(|| serde_json::json!({})),
            );
            assert_eq!(
                r.status, 401,
                "{method} {p} without credentials: {}",
                r.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 10);
    // A wrong token is no better.
    anon.bearer = Some("fw_not-a-token".into());
    anon.get("/api/devices").expect_status(401);
    // /metrics needs an operator.
    let mut anon = sys.client();
    anon.get("/metrics").expect_status(401);
    let mut sub = sys.signup("metrics-sub@example.com");
    sub.get("/metrics").expect_status(403);
    let mut op = sys.operator();
    let m = op.get("/metrics");
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.contains("feedwall_"), "{}", m.body);
}

#[test]
fn state_changes_need_the_csrf_token() {
    let sys = System::start(Options::default());
    let mut c = sys.signup("csrf@example.com");
    c.get("/devices").expect_status(200);
    let fields = |csrf: Option<&str>| {
        let mut v: Vec<(String, String)> = vec![
            ("name".into(), "fw1".into()),
            ("kind".into(), "unbound".into()),
            ("prefix".into(), "127.0.0.21".into()),
        ];
        if let Some(t) = csrf {
            v.push(("csrf".into(), t.into()));
        }
        v
    };
    c.post_raw_form("/devices", &fields(None))
        .expect_status(403);
    c.post_raw_form("/devices", &fields(Some("forged")))
        .expect_status(403);
    assert_eq!(
        c.json("GET", "/api/devices", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing created"
    );
    // The API with a session cookie needs the header too.
    let saved = c.csrf.take();
    c.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"x","kind":"bind","prefix":"127.0.0.22"})),
    )
    .expect_status(403);
    c.csrf = saved;
    c.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"x","kind":"bind","prefix":"127.0.0.22"})),
    )
    .expect_status(201);
    // Login without the pre-login cookie pairing is refused too.
    let mut anon = sys.client();
    let r = anon.post_raw_form(
        "/login",
        &[
            ("email".into(), "csrf@example.com".into()),
            ("password".into(), PASSWORD.into()),
        ],
    );
    assert_eq!(r.status, 403);
    // A token needs no CSRF token (scripts), and cannot use cookies' CSRF.
    c.get("/account").expect_status(200);
    let r = c.post_form("/account/tokens", &[("name", "cron")]);
    r.expect_status(200);
    let token = r
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("token shown")
        .to_string();
    let mut script = sys.client();
    script.bearer = Some(token);
    script
        .json(
            "POST",
            "/api/devices",
            Some(serde_json::json!({"name":"y","kind":"nftables","prefix":"127.0.0.23"})),
        )
        .expect_status(201);
    assert_eq!(
        script
            .json("GET", "/api/devices", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Logging out ends the session.
    c.get("/devices").expect_status(200);
    c.post_form("/logout", &[]).expect_status(303);
    let r = c.get("/devices");
    assert_eq!((r.status, r.location().as_str()), (303, "/login"));
}

#[test]
fn one_account_cannot_touch_anothers_devices_and_dns_follows_devices() {
    let sys = System::start(Options::default());
    let mut a = sys.signup("alice@example.com");
    let mut b = sys.signup("bob@example.com");
    let alice = a.json("GET", "/api/account", None).json();
    let label = alice["label"].as_str().unwrap().to_string();
    // Alice registers 127.0.0.3 and a deny entry through the API.
    let d = a.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"edge","kind":"unbound","prefix":"127.0.0.3"})),
    );
    d.expect_status(201);
    let id = d.json()["id"].as_i64().unwrap();
    b.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"bobfw","kind":"bind","prefix":"127.0.0.5"})),
    )
    .expect_status(201);

    // Bob guesses Alice's device id everywhere.
    b.get("/devices").expect_status(200);
    b.get(&format!("/devices/{id}")).expect_status(404);
    b.post_form(
        &format!("/devices/{id}"),
        &[("name", "pwned"), ("kind", "bind"), ("prefix", "127.0.0.9")],
    )
    .expect_status(404);
    b.post_form(&format!("/devices/{id}/delete"), &[])
        .expect_status(404);
    b.post_form(&format!("/devices/{id}/checkin"), &[])
        .expect_status(404);
    b.json("GET", &format!("/api/devices/{id}"), None)
        .expect_status(404);
    b.json(
        "PUT",
        &format!("/api/devices/{id}"),
        Some(serde_json::json!({"name":"pwned","kind":"bind","prefix":"127.0.0.9"})),
    )
    .expect_status(404);
    b.json("DELETE", &format!("/api/devices/{id}"), None)
        .expect_status(404);
    b.json("GET", &format!("/api/devices/{id}/setup"), None)
        .expect_status(404);
    b.json("POST", &format!("/api/devices/{id}/checkin-url"), None)
        .expect_status(404);
    // Tokens: Bob cannot list or revoke Alice's.
    let t = a.json(
        "POST",
        "/api/tokens",
        Some(serde_json::json!({"name": "alice-cron"})),
    );
    t.expect_status(201);
    let (tid, secret) = (
        t.json()["id"].as_i64().unwrap(),
        t.json()["secret"].as_str().unwrap().to_string(),
    );
    b.json("DELETE", &format!("/api/tokens/{tid}"), None)
        .expect_status(404);
    assert!(!b
        .json("GET", "/api/tokens", None)
        .body
        .contains("alice-cron"));
    let mut alice_script = sys.client();
    alice_script.bearer = Some(secret);
    assert_eq!(
        alice_script.json("GET", "/api/account", None).json()["email"],
        "alice@example.com"
    );
    let bob_devices = b.json("GET", "/api/devices", None).json();
    assert_eq!(bob_devices.as_array().unwrap().len(), 1);
    assert!(!bob_devices.to_string().contains("edge"));
    let mine = a.json("GET", &format!("/api/devices/{id}"), None).json();
    assert_eq!(mine["name"], "edge");
    assert_eq!(mine["prefix"], "127.0.0.3/32");

    // DNS: the basic lookups answer Alice's device within seconds.
    eventually(15, "127.0.0.3 gets the list", || {
        answers(
            &kdig_from(sys.dns, "127.0.0.3", "0.attackers.feedwall.internal", "A"),
            "A",
        )
        .len()
            == 6
    });
    assert_eq!(
        status(&kdig_from(
            sys.dns,
            "127.0.0.4",
            "0.attackers.feedwall.internal",
            "A"
        )),
        "REFUSED"
    );
    // Alice's own subtree: visible to her device, REFUSED to Bob's.
    let deny = format!("0.deny.{label}.acct.feedwall.internal");
    assert_eq!(
        status(&kdig_from(sys.dns, "127.0.0.3", &deny, "A")),
        "NOERROR"
    );
    eventually(15, "bob's device gets answers", || {
        status(&kdig_from(
            sys.dns,
            "127.0.0.5",
            "0.attackers.feedwall.internal",
            "A",
        )) == "NOERROR"
    });
    assert_eq!(
        status(&kdig_from(sys.dns, "127.0.0.5", &deny, "A")),
        "REFUSED"
    );
    assert_eq!(
        status(&kdig_from(
            sys.dns,
            "127.0.0.5",
            &format!("0.nonexistent.{label}.acct.feedwall.internal"),
            "A"
        )),
        "REFUSED"
    );

    // Moving the device moves the ACL; removing it removes it.
    a.json(
        "PUT",
        &format!("/api/devices/{id}"),
        Some(serde_json::json!({"name":"edge","kind":"unbound","prefix":"127.0.0.6"})),
    )
    .expect_status(200);
    eventually(15, "moved to 127.0.0.6", || {
        status(&kdig_from(
            sys.dns,
            "127.0.0.6",
            "0.attackers.feedwall.internal",
            "A",
        )) == "NOERROR"
    });
    assert_eq!(
        status(&kdig_from(
            sys.dns,
            "127.0.0.3",
            "0.attackers.feedwall.internal",
            "A"
        )),
        "REFUSED"
    );
    a.json("DELETE", &format!("/api/devices/{id}"), None)
        .expect_status(204);
    eventually(15, "removed", || {
        status(&kdig_from(
            sys.dns,
            "127.0.0.6",
            "0.attackers.feedwall.internal",
            "A",
        )) == "REFUSED"
    });
    // Bob's device was never affected.
    assert_eq!(
        status(&kdig_from(
            sys.dns,
            "127.0.0.5",
            "0.attackers.feedwall.internal",
            "A"
        )),
        "NOERROR"
    );
}

#[test]
fn forms_reject_bad_input_next_to_the_field_and_keep_saved_data() {
    let sys = System::start(Options {
        signup_tier: "basic",
        ..Options::default()
    });
    // Sign-up: bad e-mail, weak password, mismatch — each next to its field.
    let mut c = sys.client();
    c.get("/signup").expect_status(200);
    let r = c.post_form(
        "/signup",
        &[
            ("email", "not-an-email"),
            ("password", "short"),
            ("confirm", "other"),
        ],
    );
    assert_eq!(r.status, 400);
    for f in ["email", "password", "confirm"] {
        assert!(
            r.body.contains(&format!("data-field=\"{f}\"")),
            "no message for {f}: {}",
            r.body
        );
    }
    assert!(
        r.body.contains("value=\"not-an-email\""),
        "submitted value kept"
    );
    let mut c = sys.signup("forms@example.com");
    c.get("/signup").expect_status(200);
    // Duplicate account.
    let mut d = sys.client();
    d.get("/signup").expect_status(200);
    let r = d.post_form(
        "/signup",
        &[
            ("email", "FORMS@example.com"),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already exists"));

    c.get("/devices").expect_status(200);
    c.post_form(
        "/devices",
        &[
            ("name", "fw1"),
            ("kind", "unbound"),
            ("prefix", "127.0.0.31"),
        ],
    )
    .expect_status(303);
    c.get("/devices").expect_status(200);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("name", ""), ("kind", "unbound"), ("prefix", "127.0.0.32")],
            "name",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "toaster"),
                ("prefix", "127.0.0.32"),
            ],
            "kind",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "127.0.0.300"),
            ],
            "prefix",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "10.0.0.5/24"),
            ],
            "prefix",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "10.0.0.0/8"),
            ],
            "prefix",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "127.0.0.31"),
            ],
            "prefix",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "127.0.0.1"),
            ],
            "prefix",
        ),
        (
            &[
                ("name", "fw1"),
                ("kind", "unbound"),
                ("prefix", "127.0.0.33"),
            ],
            "name",
        ),
        (
            &[
                ("name", "fw2"),
                ("kind", "unbound"),
                ("prefix", "127.0.0.33"),
                ("group", "g"),
            ],
            "group",
        ),
        (
            &[
                ("name", "<script>alert(1)</script>"),
                ("kind", "unbound"),
                ("prefix", "::"),
            ],
            "prefix",
        ),
    ];
    for (fields, field) in cases {
        let r = c.post_form("/devices", fields);
        assert_eq!(r.status, 400, "{fields:?}: {}", r.body);
        assert!(
            r.body.contains(&format!("data-field=\"{field}\"")),
            "{fields:?}: no message at {field}: {}",
            r.body
        );
        assert!(!r.body.contains("<script>alert"), "input escaped");
    }
    // The saved device is intact and alone.
    let list = c.json("GET", "/api/devices", None).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["prefix"], "127.0.0.31/32");
    // The basic tier's device limit (3 by default).
    for (n, p) in [("fw2", "127.0.0.34"), ("fw3", "127.0.0.35")] {
        c.post_form("/devices", &[("name", n), ("kind", "bind"), ("prefix", p)])
            .expect_status(303);
        c.get("/devices");
    }
    let r = c.post_form(
        "/devices",
        &[("name", "fw4"), ("kind", "bind"), ("prefix", "127.0.0.36")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("allows 3 devices"), "{}", r.body);
    // The API reports the field too.
    let r = c.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"z","kind":"bind","prefix":"nope"})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "prefix");
    // Garbage bodies are errors, not crashes.
    let r = c.send(
        "POST",
        "/api/devices",
        Some(("application/json", b"{not json".to_vec())),
        true,
    );
    assert!(r.status == 400 || r.status == 422, "{}", r.status);
    let big = vec![b'a'; 5 << 20];
    // Its own connection: the server closes it after refusing the body.
    let mut c2 = sys.client();
    c2.cookies = c.cookies.clone();
    c2.csrf = c.csrf.clone();
    // The server answers 413, or closes the connection mid-upload (the
    // client then sees a transport error); either way nothing is stored.
    match c2.try_send(
        "POST",
        "/api/devices",
        Some(("application/json", big)),
        true,
    ) {
        Ok(r) => assert_eq!(r.status, 413, "oversized body refused"),
        Err(e) => eprintln!("oversized body: connection closed by the server ({e})"),
    }
    assert_eq!(
        c.json("GET", "/api/devices", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn login_is_throttled_and_passwords_change() {
    let sys = System::start(Options::default());
    let mut c = sys.signup("throttle@example.com");
    c.get("/devices").expect_status(200);
    let mut anon = sys.client_from("127.0.0.40".parse().unwrap());
    anon.get("/login").expect_status(200);
    for _ in 0..5 {
        let r = anon.post_form(
            "/login",
            &[
                ("email", "throttle@example.com"),
                ("password", "Wrong-password-123"),
            ],
        );
        assert_eq!(r.status, 401);
        assert!(r.body.contains("wrong e-mail or password"));
    }
    let r = anon.post_form(
        "/login",
        &[("email", "throttle@example.com"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 429, "throttled even with the right password");
    assert!(r.headers.get("retry-after").is_some());
    // Password change (another account: this one's e-mail is throttled):
    // a wrong current password is refused; then the new one works.
    let mut c = sys.signup("pw@example.com");
    c.get("/account").expect_status(200);
    let r = c.post_form(
        "/account/password",
        &[
            ("current", "nope-nope-nope"),
            ("password", "New-Passw0rd-long!"),
            ("confirm", "New-Passw0rd-long!"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("data-field=\"current\""));
    let r = c.post_form(
        "/account/password",
        &[
            ("current", PASSWORD),
            ("password", "New-Passw0rd-long!"),
            ("confirm", "New-Passw0rd-long!"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // The session that changed it stays; a fresh login needs the new one.
    c.get("/devices").expect_status(200);
    let mut fresh = sys.client_from("127.0.0.41".parse().unwrap());
    fresh.get("/login").expect_status(200);
    let r = fresh.post_form(
        "/login",
        &[
            ("email", "pw@example.com"),
            ("password", "New-Passw0rd-long!"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // Sessions are secure, HttpOnly, SameSite cookies.
    let mut fresh = sys.client_from("127.0.0.42".parse().unwrap());
    fresh.get("/login").expect_status(200);
    let r = fresh.post_form(
        "/login",
        &[
            ("email", "pw@example.com"),
            ("password", "New-Passw0rd-long!"),
        ],
    );
    let set: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("fw_session="))
        .expect("session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session.contains(attr), "{session}");
    }
}

#[test]
fn first_start_operator_and_closed_signup() {
    let sys = System::start(Options {
        signup: "operator",
        ..Options::default()
    });
    let mut anon = sys.client();
    anon.get("/signup").expect_status(403);
    // The one-time operator password must be changed before anything else.
    let (email, first) = sys.operator_password();
    anon.get("/login").expect_status(200);
    let r = anon.post_form("/login", &[("email", &email), ("password", &first)]);
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/account"), "{}", r.location());
    let r = anon.get("/devices");
    assert!(r.status == 303 && r.location().starts_with("/account"));
    let _op = sys.operator();
    assert!(
        !sys.data.join("operator-password.txt").exists(),
        "one-time password file removed once changed"
    );
}

#[test]
fn check_in_moves_a_dynamic_device() {
    let sys = System::start(Options::default());
    let mut a = sys.signup("dyn@example.com");
    let d = a
        .json(
            "POST",
            "/api/devices",
            Some(serde_json::json!({"name":"home","kind":"nftables","prefix":"127.0.0.50"})),
        )
        .json();
    let id = d["id"].as_i64().unwrap();
    let url = a
        .json("POST", &format!("/api/devices/{id}/checkin-url"), None)
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url
        .strip_prefix(&sys.base)
        .expect("URL on this server")
        .to_string();
    let mut from = sys.client_from("127.0.0.51".parse().unwrap());
    let r = from.get(&path);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("127.0.0.51/32"), "{}", r.body);
    assert_eq!(
        a.json("GET", &format!("/api/devices/{id}"), None).json()["prefix"],
        "127.0.0.51/32"
    );
    eventually(15, "DNS follows the check-in", || {
        status(&kdig_from(
            sys.dns,
            "127.0.0.51",
            "0.attackers.feedwall.internal",
            "A",
        )) == "NOERROR"
    });
    // A wrong token moves nothing.
    let mut other = sys.client_from("127.0.0.52".parse().unwrap());
    other.get("/checkin/not-the-token").expect_status(404);
    assert_eq!(
        a.json("GET", &format!("/api/devices/{id}"), None).json()["prefix"],
        "127.0.0.51/32"
    );
    // A new URL revokes the old one.
    a.json("POST", &format!("/api/devices/{id}/checkin-url"), None)
        .expect_status(200);
    other.get(&path).expect_status(404);
}

#[test]
fn custom_lookup_is_feeds_plus_deny_minus_allow_in_dns() {
    let sys = System::start(Options::default());
    let mut a = sys.signup("lookups@example.com");
    let label = a.json("GET", "/api/account", None).json()["label"]
        .as_str()
        .unwrap()
        .to_string();
    a.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"fw","kind":"nftables","prefix":"127.0.0.60"})),
    )
    .expect_status(201);
    // feed-a lists 198.51.100.1, .2 and 203.0.113.0/30; allow .2, deny 192.0.2.200.
    let r = a.json(
        "POST",
        "/api/lists/deny",
        Some(serde_json::json!({"entries": [{"net": "192.0.2.200", "comment": "scanner"}]})),
    );
    assert_eq!(r.json()["added"], 1, "{}", r.body);
    let r = a.json("POST", "/api/lists/allow", Some(serde_json::json!({"entries": [{"net": "198.51.100.2/32", "comment": "partner"}, {"net": "203.0.113.1", "comment": ""}]})));
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let r = a.json(
        "POST",
        "/api/lookups",
        Some(serde_json::json!({"name": "My attackers", "label": "mine", "feeds": ["feed-a"]})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // A bad line stores nothing and names the line.
    let r = a.json(
        "POST",
        "/api/lists/deny",
        Some(serde_json::json!({"text": "10.9.9.9\n300.1.1.1\n"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["lines"][0]["line"], 2, "{}", r.body);
    let name = format!("0.mine.{label}.acct.feedwall.internal");
    let mut want = vec![
        "192.0.2.200",
        "198.51.100.1",
        "203.0.113.0",
        "203.0.113.2",
        "203.0.113.3",
    ];
    want.sort();
    eventually(20, "custom lookup published", || {
        let mut got = answers(&kdig_from(sys.dns, "127.0.0.60", &name, "A"), "A");
        got.sort();
        got == want
    });
    let deny = answers(
        &kdig_from(
            sys.dns,
            "127.0.0.60",
            &format!("0.deny.{label}.acct.feedwall.internal"),
            "A",
        ),
        "A",
    );
    assert_eq!(
        deny,
        ["192.0.2.200"],
        "10.9.9.9 of the failed import is not there"
    );
    let allow = answers(
        &kdig_from(
            sys.dns,
            "127.0.0.60",
            &format!("0.allow.{label}.acct.feedwall.internal"),
            "A",
        ),
        "A",
    );
    assert_eq!(allow.len(), 2);
    // Another account's device is refused; a non-device too.
    let mut b = sys.signup("other@example.com");
    b.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name":"fw","kind":"bind","prefix":"127.0.0.61"})),
    )
    .expect_status(201);
    eventually(15, "bob's device", || {
        status(&kdig_from(
            sys.dns,
            "127.0.0.61",
            "0.attackers.feedwall.internal",
            "A",
        )) == "NOERROR"
    });
    assert_eq!(
        status(&kdig_from(sys.dns, "127.0.0.61", &name, "A")),
        "REFUSED"
    );
    assert_eq!(
        status(&kdig_from(sys.dns, "127.0.0.62", &name, "A")),
        "REFUSED"
    );
    // Bob cannot read or change Alice's lookup or entries by id.
    let lookups = a.json("GET", "/api/lookups", None).json();
    let lid = lookups["own"][0]["id"].as_i64().expect("own lookup id");
    let eid = a
        .json("GET", "/api/lists/deny", None)
        .json()
        .as_array()
        .map(|v| v[0]["id"].as_i64().unwrap())
        .or_else(|| a.json("GET", "/api/lists/deny", None).json()["entries"][0]["id"].as_i64())
        .expect("entry id");
    b.json("GET", &format!("/api/lookups/{lid}"), None)
        .expect_status(404);
    b.json(
        "PUT",
        &format!("/api/lookups/{lid}"),
        Some(serde_json::json!({"name": "x", "label": "mine", "feeds": []})),
    )
    .expect_status(404);
    b.json("DELETE", &format!("/api/lookups/{lid}"), None)
        .expect_status(404);
    b.json("DELETE", &format!("/api/lists/deny/{eid}"), None)
        .expect_status(404);
    b.get(&format!("/lookups/{lid}")).expect_status(404);
    b.post_form(&format!("/lookups/{lid}/delete"), &[])
        .expect_status(404);
    b.post_form(&format!("/lists/deny/{eid}/delete"), &[])
        .expect_status(404);
    assert!(!b.get("/lists/deny/export").body.contains("192.0.2.200"));
    assert!(!b.json("GET", "/api/lookups", None).body.contains(&label));
    assert_eq!(
        a.json("GET", &format!("/api/lookups/{lid}"), None).json()["name"],
        "My attackers"
    );
}
