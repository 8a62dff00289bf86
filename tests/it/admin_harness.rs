//! Harness for the admin plane: runs the whole appliance (`feedwall up`:
//! responder + control process with the admin server) on port 0 in a temp
//! directory, and an HTTPS client that trusts exactly the appliance's
//! self-signed certificate, keeps cookies and fills in CSRF tokens.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{bin, tempdir};

/// A strong password the tests use.
pub const PASSWORD: &str = "Correct-Horse-42-battery";

/// How the appliance under test is configured.
pub struct Options {
    pub signup: &'static str,
    pub signup_tier: &'static str,
    /// Extra TOML appended to the config.
    pub extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            signup: "open",
            signup_tier: "advanced",
            extra: String::new(),
        }
    }
}

/// A running appliance.
pub struct System {
    child: Child,
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    #[allow(dead_code)]
    pub config: PathBuf,
    pub dns: SocketAddr,
    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    pub ca_pem: Vec<u8>,
}

/// Feed files written for the appliance: (id, list, addresses).
pub const FEEDS: &[(&str, &str, &[&str])] = &[
    (
        "feed-a",
        "attackers",
        &["198.51.100.1", "198.51.100.2", "203.0.113.0/30"],
    ),
    ("feed-b", "botnet", &["192.0.2.77", "2001:db8:bad::1"]),
];

impl System {
    pub fn start(opts: Options) -> System {
        let dir = tempdir();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut cfg = format!(
            "version = \"v1\"\ndata_dir = {:?}\n[dns]\nlisten = [\"127.0.0.1:0\"]\n[logs]\nsyslog_listen = [\"127.0.0.1:0\"]\nsmtp_listen = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\nsignup = {:?}\nsignup_tier = {:?}\n",
            data.display().to_string(),
            opts.signup,
            opts.signup_tier
        );
        cfg.push_str(&opts.extra);
        cfg.push('\n');
        for (id, list, addrs) in FEEDS {
            let f = dir.path().join(format!("{id}.txt"));
            std::fs::write(&f, addrs.join("\n") + "\n").unwrap();
            cfg.push_str(&format!(
                "[[feed]]\nid = {id:?}\nname = \"{id} test feed\"\nurl = \"file://{}\"\nformat = \"plain\"\nprovider = \"Test Provider\"\nhomepage = \"https://provider.example/{id}\"\n\n[[list]]\nname = {list:?}\nfeeds = [{id:?}]\n\n",
                f.display()
            ));
        }
        cfg.push_str("[[device]]\nname = \"config-device\"\nprefixes = [\"127.0.0.1/32\"]\n");
        let config = dir.path().join("feedwall.toml");
        std::fs::write(&config, cfg).unwrap();
        let ready = dir.path().join("ready.json");
        let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
        let mut child = Command::new(bin())
            .args(["up", "--config"])
            .arg(&config)
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn feedwall up");
        let deadline = Instant::now() + Duration::from_secs(60);
        let url_file = data.join("admin-url");
        loop {
            if let (Ok(r), Ok(u)) = (
                std::fs::read_to_string(&ready),
                std::fs::read_to_string(&url_file),
            ) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r) {
                    let dns = v["listen"][0].as_str().unwrap().parse().unwrap();
                    let base = u.trim().trim_end_matches('/').to_string();
                    let ca_pem = std::fs::read(data.join("admin-cert.pem")).unwrap();
                    return System {
                        child,
                        dir,
                        data,
                        config,
                        dns,
                        base,
                        ca_pem,
                    };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default();
                panic!("feedwall up exited early ({status}): {log}");
            }
            assert!(
                Instant::now() < deadline,
                "feedwall up did not become ready: {}",
                std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log of the processes so far (for failure messages).
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    /// The operator's one-time password from the first start.
    pub fn operator_password(&self) -> (String, String) {
        let t = std::fs::read_to_string(self.data.join("operator-password.txt")).unwrap();
        let mut it = t.split_whitespace();
        (
            it.next().unwrap().to_string(),
            it.next().unwrap().to_string(),
        )
    }

    pub fn client(&self) -> Client {
        Client::new(self, None)
    }

    /// A client whose connections come from `ip` (a loopback address).
    pub fn client_from(&self, ip: IpAddr) -> Client {
        Client::new(self, Some(ip))
    }

    /// Signs up a new account and returns its logged-in client.
    pub fn signup(&self, email: &str) -> Client {
        let mut c = self.client();
        c.get("/signup").expect_status(200);
        let r = c.post_form(
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        );
        assert_eq!(r.status, 303, "sign-up failed: {}", r.body);
        // Pick up the session's CSRF token.
        c.get("/devices").expect_status(200);
        c
    }

    /// Logs the operator in (changing the one-time password on first use).
    pub fn operator(&self) -> Client {
        let (email, first) = self.operator_password();
        let mut c = self.client();
        c.get("/login").expect_status(200);
        let r = c.post_form("/login", &[("email", &email), ("password", &first)]);
        if r.status == 303 && r.location().contains("must_change") {
            c.get("/account").expect_status(200);
            let r = c.post_form(
                "/account/password",
                &[
                    ("current", &first),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ],
            );
            assert_eq!(r.status, 303, "{}", r.body);
            c.get("/devices").expect_status(200);
            return c;
        }
        // Password already changed by an earlier call.
        let mut c = self.client();
        c.get("/login").expect_status(200);
        let r = c.post_form("/login", &[("email", &email), ("password", PASSWORD)]);
        assert_eq!(r.status, 303, "operator login: {}", r.body);
        c.get("/devices").expect_status(200);
        c
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // SIGTERM lets `up` stop both children; then make sure.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn expect_status(&self, s: u16) -> &Self {
        assert_eq!(self.status, s, "unexpected status; body: {}", self.body);
        self
    }
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// An HTTPS client with a cookie jar and the last page's CSRF token.
pub struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    /// Hidden `csrf` field of the last HTML page fetched.
    pub csrf: Option<String>,
    /// Bearer token sent instead of cookies, when set.
    pub bearer: Option<String>,
}

impl Client {
    fn new(sys: &System, local: Option<IpAddr>) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = reqwest::Certificate::from_pem(&sys.ca_pem).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([cert])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if let Some(ip) = local {
            b = b.local_address(ip);
        }
        Client {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: b.build().unwrap(),
            base: sys.base.clone(),
            cookies: BTreeMap::new(),
            csrf: None,
            bearer: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request; `csrf_header` adds `X-CSRF-Token`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        csrf_header: bool,
    ) -> Resp {
        self.try_send(method, path, body, csrf_header)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `send`, but a transport error (e.g. the server closing the
    /// connection in the middle of an oversized upload) is returned.
    pub fn try_send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        csrf_header: bool,
    ) -> Result<Resp, String> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            &url,
        );
        if let Some(b) = &self.bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        } else if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if csrf_header {
            if let Some(t) = &self.csrf {
                req = req.header("x-csrf-token", t.clone());
            }
        }
        if let Some((ctype, bytes)) = body {
            req = req.header("content-type", ctype).body(bytes);
        }
        let (status, headers, body) = self.rt.block_on(async {
            let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = r.text().await.unwrap_or_default();
            Ok::<_, String>((status, headers, body))
        })?;
        for v in headers.get_all("set-cookie") {
            let s = v.to_str().unwrap_or("");
            let first = s.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || s.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        if let Some(t) = hidden_csrf(&body) {
            self.csrf = Some(t);
        }
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None, false)
    }

    /// Posts a form with the current CSRF token added.
    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(t) = &self.csrf {
            all.push(("csrf".into(), t.clone()));
        }
        self.post_raw_form(path, &all)
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub fn post_raw_form(&mut self, path: &str, fields: &[(String, String)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
            false,
        )
    }

    /// A JSON request; with a session, the CSRF header is sent.
    pub fn json(&mut self, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
        let b = body.map(|v| ("application/json", v.to_string().into_bytes()));
        self.send(method, path, b, true)
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the first hidden `csrf` input of a page.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Polls `f` until it returns true (at most `secs`).
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kdig` from a given source address over TCP; returns the output.
pub fn kdig_from(server: SocketAddr, src: &str, name: &str, qtype: &str) -> String {
    super::harness::kdig(server, name, qtype, &["+tcp", "-b", src])
}

#[allow(dead_code)]
pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
