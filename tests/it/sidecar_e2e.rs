//! The sidecar end to end, against the real `feedwall` binary: a local HTTP
//! server (`http_server.rs`) and a real FTP server (`ftp_server.rs`) serve
//! the fixture feeds; `feedwall control --config F --once` fetches, parses,
//! gates, archives and publishes; `feedwall dns` serves the snapshot and
//! `kdig` checks, chunk by chunk, that every list holds exactly the
//! expected addresses. Then the servers misbehave (304, 500, a stall, a
//! truncated body, a version shrunk by 90%) and the next sync must keep
//! serving the last good content, with every feed's status and reason in
//! `feeds.json`; a third sync, with every server good again, shows the
//! held-back feed recovered (nothing left for an operator to accept).
//!
//! Expected list content is computed here from the fixtures' `expected/`
//! files, independently of the sidecar: the union of the list's feeds;
//! every prefix of /24 or longer (IPv4), /120 or longer (IPv6) expanded into
//! its addresses; the wider ones aggregated (`IpNet::aggregate`: overlapping
//! and adjacent prefixes merged), kept in the snapshot, not host records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;

use crate::ftp_server::FtpServer;
use crate::harness::{answers, bin, kdig, status, tempdir, Responder};
use crate::http_server::{HttpServer, Reply, Request};

/// Zone apex of the test config.
const ZONE: &str = "feedwall.internal";
/// Per-name record limits of the data plane (the published-names contract).
const MAX_A: usize = 4000;
const MAX_AAAA: usize = 2000;
/// Chunk names each list declares (`capacity` in the config).
const CAPACITY: usize = 8;
/// Longest a `control --once` run may take here (fetch timeout is 2 s).
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds")
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// The exact entries of a fixture feed, from its `expected/<file>.json`.
fn expected_entries(rel: &str) -> Vec<IpNet> {
    let (dir, file) = rel.rsplit_once('/').unwrap();
    let path = fixtures()
        .join(dir)
        .join("expected")
        .join(format!("{file}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().parse().unwrap())
        .collect()
}

/// What a list must serve: host addresses and the number of wide prefixes.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    v4: BTreeSet<Ipv4Addr>,
    v6: BTreeSet<Ipv6Addr>,
    wide: usize,
}

impl Expected {
    fn of(nets: &[IpNet]) -> Expected {
        let mut out = Expected::default();
        let mut wide = Vec::new();
        for net in nets {
            match *net {
                IpNet::V4(n) if n.prefix_len() >= 24 => {
                    out.v4.extend(
                        (u32::from(n.network())..=u32::from(n.broadcast())).map(Ipv4Addr::from),
                    );
                }
                IpNet::V6(n) if n.prefix_len() >= 120 => {
                    out.v6.extend(
                        (u128::from(n.network())..=u128::from(n.broadcast())).map(Ipv6Addr::from),
                    );
                }
                other => wide.push(other),
            }
        }
        out.wide = IpNet::aggregate(&wide).len();
        out
    }

    fn chunks(&self) -> usize {
        self.v4
            .len()
            .div_ceil(MAX_A)
            .max(self.v6.len().div_ceil(MAX_AAAA))
    }
}

// ---------------------------------------------------------------------------
// The feed server: per path, a behaviour the test switches between syncs.

#[derive(Clone)]
enum Mode {
    /// 200 with the body and its ETag if any; 304 when If-None-Match
    /// carries that ETag.
    Serve { body: Vec<u8>, etag: Option<String> },
    /// 500 every time.
    Fail,
    /// Accepts the request and never answers (the fetch must time out).
    Stall,
    /// 200 announcing the whole body's Content-Length, then half of it and
    /// the connection closed.
    Truncate { body: Vec<u8> },
}

type Modes = Arc<Mutex<HashMap<String, Mode>>>;

fn feed_reply(modes: &Modes, req: &Request) -> Reply {
    let mode = modes.lock().unwrap().get(&req.path).cloned();
    match mode {
        None => Reply::respond("404 Not Found", &[], b"no such feed"),
        Some(Mode::Serve { body, etag: None }) => {
            Reply::respond("200 OK", &[("Content-Type", "text/plain")], &body)
        }
        Some(Mode::Serve {
            body,
            etag: Some(etag),
        }) => {
            if req.header("if-none-match") == etag {
                Reply::respond("304 Not Modified", &[("ETag", &etag)], b"")
            } else {
                Reply::respond(
                    "200 OK",
                    &[("ETag", &etag), ("Content-Type", "text/plain")],
                    &body,
                )
            }
        }
        Some(Mode::Fail) => Reply::respond(
            "500 Internal Server Error",
            &[("Content-Type", "text/plain")],
            b"oops",
        ),
        Some(Mode::Stall) => Reply::silence(Duration::from_secs(20)),
        Some(Mode::Truncate { body }) => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(&body[..body.len() / 2]);
            Reply::raw(&out, None)
        }
    }
}

/// The HTTP feed server and the runtime it runs on (dropped with the test).
struct FeedServer {
    srv: HttpServer,
    modes: Modes,
    _rt: tokio::runtime::Runtime,
}

impl FeedServer {
    fn start() -> FeedServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let modes: Modes = Arc::default();
        let m = modes.clone();
        let srv = rt.block_on(HttpServer::start(move |req| feed_reply(&m, req)));
        FeedServer {
            srv,
            modes,
            _rt: rt,
        }
    }

    fn set(&self, path: &str, mode: Mode) {
        self.modes.lock().unwrap().insert(path.to_string(), mode);
    }

    fn serve(&self, path: &str, body: &[u8], etag: &str) {
        self.set(
            path,
            Mode::Serve {
                body: body.to_vec(),
                etag: Some(format!("\"{etag}\"")),
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Running feedwall.

/// A child process killed (by PID) and reaped at drop.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `feedwall ARGS` to completion within `timeout` (killed and failed
/// after it); returns its exit status, stdout and stderr.
fn run_feedwall(args: &[&str], scratch: &Path, timeout: Duration) -> (ExitStatus, String, String) {
    let out = scratch.join("run.out");
    let err = scratch.join("run.err");
    let child = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn feedwall");
    let mut child = Spawned(child);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            drop(child);
            panic!(
                "feedwall {args:?} did not finish within {timeout:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&err).unwrap(),
    )
}

/// `feedwall control --config F --once`; returns the serial written (None
/// when the inputs were unchanged) and the progress output.
fn sync(config: &Path, scratch: &Path) -> (Option<u32>, String) {
    let (st, _, err) = run_feedwall(
        &["control", "--config", config.to_str().unwrap(), "--once"],
        scratch,
        SYNC_TIMEOUT,
    );
    assert!(st.success(), "control --once failed ({st}):\n{err}");
    if err.contains("inputs unchanged; snapshot") {
        return (None, err);
    }
    let i = err
        .find("(serial ")
        .unwrap_or_else(|| panic!("no serial in the output:\n{err}"));
    let serial = err[i + 8..].split(')').next().unwrap().parse().unwrap();
    (Some(serial), err)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The unix time an RFC 3339 `generated=` value stands for (searched near now).
fn unix_of(rfc3339: &str) -> u64 {
    let now = unix_now();
    (now - 900..=now + 5)
        .find(|&t| feedwall::snapshot::writer::rfc3339(t) == rfc3339)
        .unwrap_or_else(|| panic!("generated={rfc3339} is not a time of the last 15 minutes"))
}

// ---------------------------------------------------------------------------
// Asking the responder.

/// The SOA serial the responder serves now, and kdig's output.
fn served_serial(addr: SocketAddr) -> (Option<u32>, String) {
    let out = kdig(addr, ZONE, "SOA", &[]);
    let serial = out
        .lines()
        .find(|l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some("SOA"))
        .and_then(|l| l.split_whitespace().nth(6)?.parse().ok());
    (serial, out)
}

fn wait_for_serial(addr: SocketAddr, serial: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (got, out) = served_serial(addr);
        if got == Some(serial) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the responder never served serial {serial}; it answers:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `key=value` strings of a list's TXT record.
fn list_txt(addr: SocketAddr, list: &str) -> BTreeMap<String, String> {
    let out = kdig(addr, &format!("{list}.{ZONE}"), "TXT", &["+tcp"]);
    assert_eq!(status(&out), "NOERROR", "{list} TXT:\n{out}");
    let line = out
        .lines()
        .find(|l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some("TXT"))
        .unwrap_or_else(|| panic!("no TXT answer for {list}:\n{out}"));
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .unwrap_or_else(|| panic!("TXT string {s:?} is not key=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Checks that a list serves exactly `want`, chunk by chunk, and that its
/// TXT agrees. Returns the TXT fields.
fn check_list(
    addr: SocketAddr,
    list: &str,
    want: &Expected,
    serial: u32,
) -> BTreeMap<String, String> {
    let txt = list_txt(addr, list);
    let chunks = want.chunks();
    let field = |k: &str| {
        txt.get(k)
            .unwrap_or_else(|| panic!("{list}: no {k}= in TXT {txt:?}"))
            .clone()
    };
    assert_eq!(field("chunks"), chunks.to_string(), "{list}: {txt:?}");
    assert_eq!(field("v4"), want.v4.len().to_string(), "{list}: {txt:?}");
    assert_eq!(field("v6"), want.v6.len().to_string(), "{list}: {txt:?}");
    assert_eq!(field("wide"), want.wide.to_string(), "{list}: {txt:?}");
    assert_eq!(
        field("entries"),
        (want.v4.len() + want.v6.len() + want.wide).to_string(),
        "{list}: {txt:?}"
    );
    assert_eq!(field("capacity"), CAPACITY.to_string(), "{list}: {txt:?}");
    assert_eq!(field("serial"), serial.to_string(), "{list}: {txt:?}");

    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for i in 0..chunks {
        let name = format!("{i}.{list}.{ZONE}");
        let a = kdig(addr, &name, "A", &["+tcp"]);
        assert_eq!(status(&a), "NOERROR", "{name} A:\n{a}");
        let got: Vec<Ipv4Addr> = answers(&a, "A")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(got.len() <= MAX_A, "{name}: {} A records", got.len());
        v4.extend(got);
        let aaaa = kdig(addr, &name, "AAAA", &["+tcp"]);
        assert_eq!(status(&aaaa), "NOERROR", "{name} AAAA:\n{aaaa}");
        let got: Vec<Ipv6Addr> = answers(&aaaa, "AAAA")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(got.len() <= MAX_AAAA, "{name}: {} AAAA records", got.len());
        v6.extend(got);
    }
    let (n4, n6) = (v4.len(), v6.len());
    let got = Expected {
        v4: v4.into_iter().collect(),
        v6: v6.into_iter().collect(),
        wide: want.wide,
    };
    assert_eq!(
        (n4, n6),
        (got.v4.len(), got.v6.len()),
        "{list}: an address is served twice"
    );
    if got != *want {
        let missing4: Vec<_> = want.v4.difference(&got.v4).take(10).collect();
        let extra4: Vec<_> = got.v4.difference(&want.v4).take(10).collect();
        let missing6: Vec<_> = want.v6.difference(&got.v6).take(10).collect();
        let extra6: Vec<_> = got.v6.difference(&want.v6).take(10).collect();
        panic!("{list}: served addresses differ; missing v4 {missing4:?}, extra v4 {extra4:?}, missing v6 {missing6:?}, extra v6 {extra6:?}");
    }
    // The first chunk name past the data answers NODATA (capacity is 8).
    if chunks < CAPACITY {
        let name = format!("{chunks}.{list}.{ZONE}");
        let out = kdig(addr, &name, "A", &["+tcp"]);
        assert_eq!(status(&out), "NOERROR", "{name}:\n{out}");
        assert!(
            answers(&out, "A").is_empty(),
            "{name} should be empty:\n{out}"
        );
    }
    txt
}

/// Checks a list's freshness fields: generated at `generated`, and its
/// oldest feed version fetched between `from` and `to` (unix seconds).
fn check_freshness(list: &str, txt: &BTreeMap<String, String>, from: u64, to: u64) -> u64 {
    let generated = unix_of(&txt["generated"]);
    let age: u64 = txt
        .get("oldest-feed-age")
        .unwrap_or_else(|| panic!("{list}: no oldest-feed-age in {txt:?}"))
        .strip_suffix('s')
        .expect("age in seconds")
        .parse()
        .unwrap();
    let oldest = generated - age;
    assert!(
        (from..=to).contains(&oldest),
        "{list}: oldest feed version at {oldest}, expected within {from}..={to} ({txt:?})"
    );
    generated
}

// ---------------------------------------------------------------------------
// The config.

struct Feed {
    id: &'static str,
    /// Fixture path (also the URL path on the HTTP server).
    fixture: &'static str,
    format: &'static str,
}

const BLOCKLIST: Feed = Feed {
    id: "blocklist-de",
    fixture: "blocklist_de/all.txt",
    format: "plain",
};
const ET: Feed = Feed {
    id: "et-compromised",
    fixture: "emerging_threats/compromised-ips.txt",
    format: "plain",
};
const STIX: Feed = Feed {
    id: "stix",
    fixture: "stix21/bundle.json",
    format: "stix21",
};
const FEODO: Feed = Feed {
    id: "feodo",
    fixture: "feodo/ipblocklist.txt",
    format: "feodo",
};
const DROP: Feed = Feed {
    id: "spamhaus-drop",
    fixture: "spamhaus_drop_txt/drop.txt",
    format: "spamhaus_drop_txt",
};
const RANGES: Feed = Feed {
    id: "ranges",
    fixture: "ip_range/ranges.txt",
    format: "ip_range",
};
const TOR: Feed = Feed {
    id: "tor-exits",
    fixture: "tor_exit/torbulkexitlist",
    format: "tor_exit",
};

fn url_path(f: &Feed) -> String {
    format!("/{}", f.fixture)
}

/// A config: feeds (id, url, format), lists (name, feed ids), the test
/// device 127.0.0.1/32, a 2 s fetch timeout and no retries.
fn write_config(
    dir: &Path,
    data: &Path,
    feeds: &[(&str, String, &str)],
    lists: &[(&str, &[&str])],
) -> PathBuf {
    let mut c = format!(
        "version = \"v1\"\ndata_dir = \"{}\"\n\n[zone]\napex = \"{ZONE}\"\n\n[fetch]\ntimeout = \"2s\"\nconnect_timeout = \"2s\"\nretries = 0\n",
        data.display()
    );
    for (id, url, format) in feeds {
        c.push_str(&format!("\n[[feed]]\nid = \"{id}\"\nurl = \"{url}\"\nformat = \"{format}\"\nprovider = \"test provider\"\n"));
    }
    for (name, ids) in lists {
        let ids: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
        c.push_str(&format!(
            "\n[[list]]\nname = \"{name}\"\nfeeds = [{}]\ncapacity = {CAPACITY}\n",
            ids.join(", ")
        ));
    }
    c.push_str("\n[[device]]\nname = \"test\"\nprefixes = [\"127.0.0.1/32\"]\n");
    let path = dir.join("feedwall.toml");
    std::fs::write(&path, c).unwrap();
    path
}

fn health(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data.join("feeds.json")).expect("feeds.json")).unwrap()
}

/// A feed's status line in feeds.json.
fn feed_status(h: &serde_json::Value, id: &str) -> String {
    h[id]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status for {id} in {h:#}"))
        .to_string()
}

fn host(net: &IpNet) -> String {
    net.addr().to_string()
}

// ---------------------------------------------------------------------------

/// A first sync serves exactly the fixture feeds; a second one, where the
/// servers answer 304, 500, stall, truncate or shrink a feed by 90% (and one
/// feed changes for real), keeps serving the last good content of every
/// feed that failed or was held back, and says why in `feeds.json`; a third
/// one, with every server good again, finds the held-back feed recovered.
#[test]
fn sidecar_sync_serves_exactly_the_feeds_and_keeps_the_last_good_version() {
    let work = tempdir();
    let data = work.path().join("data");
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    let http = FeedServer::start();
    for f in [&BLOCKLIST, &ET, &STIX, &FEODO, &DROP, &RANGES] {
        http.serve(&url_path(f), &fixture(f.fixture), "v1");
    }
    let ftp_root = tempdir();
    let ftp_scratch = tempdir();
    std::fs::write(
        ftp_root.path().join("torbulkexitlist"),
        fixture(TOR.fixture),
    )
    .unwrap();
    let ftp = FtpServer::start(ftp_root.path(), ftp_scratch.path());

    let mut feeds: Vec<(&str, String, &str)> = [&BLOCKLIST, &ET, &STIX, &FEODO, &DROP, &RANGES]
        .iter()
        .map(|f| (f.id, http.srv.url(&url_path(f)), f.format))
        .collect();
    feeds.push((TOR.id, ftp.url("", "torbulkexitlist"), TOR.format));
    let lists: &[(&str, &[&str])] = &[
        ("attackers", &[BLOCKLIST.id, ET.id, STIX.id]),
        ("botnet", &[FEODO.id]),
        ("hijacked", &[DROP.id, RANGES.id]),
        ("tor", &[TOR.id]),
    ];
    let config = write_config(work.path(), &data, &feeds, lists);

    let entries = |f: &Feed| expected_entries(f.fixture);
    let want = |ids: &[&Feed], extra: &[IpNet]| -> Expected {
        let mut nets: Vec<IpNet> = ids.iter().flat_map(|f| entries(f)).collect();
        nets.extend_from_slice(extra);
        Expected::of(&nets)
    };

    // --- Sync 1: every feed good.
    let t0 = unix_now();
    let (serial1, out1) = sync(&config, &scratch);
    let t1 = unix_now();
    let serial1 = serial1.unwrap_or_else(|| panic!("the first sync wrote no snapshot:\n{out1}"));
    let h = health(&data);
    for (id, _, _) in &feeds {
        let s = feed_status(&h, id);
        assert!(s.starts_with("ok: "), "{id}: {s}\n{out1}");
    }
    for f in [&BLOCKLIST, &ET, &STIX, &FEODO, &DROP, &RANGES, &TOR] {
        let n = entries(f).len() as u64;
        assert_eq!(h[f.id]["entries"].as_u64(), Some(n), "{}: {h:#}", f.id);
    }

    let responder = Responder::start(&data.join("snapshot.fw"));
    let addr = responder.addr();
    wait_for_serial(addr, serial1);
    let first = [
        ("attackers", want(&[&BLOCKLIST, &ET, &STIX], &[])),
        ("botnet", want(&[&FEODO], &[])),
        ("hijacked", want(&[&DROP, &RANGES], &[])),
        ("tor", want(&[&TOR], &[])),
    ];
    assert!(
        first[2].1.chunks() > 1,
        "the hijacked list should span several chunks"
    );
    assert!(!first[0].1.v6.is_empty() && first[0].1.wide > 0 && first[2].1.wide > 0);
    let mut generated1 = 0;
    for (list, expected) in &first {
        let txt = check_list(addr, list, expected, serial1);
        generated1 = check_freshness(list, &txt, t0, t1);
    }

    // --- Sync 2: the servers misbehave, one feed changes for real.
    let blocklist = entries(&BLOCKLIST);
    let shrunk: Vec<IpNet> = blocklist.iter().step_by(10).copied().collect();
    assert_eq!(shrunk.len(), blocklist.len() / 10);
    let shrunk_body: String = shrunk.iter().map(|n| format!("{}\n", host(n))).collect();
    http.serve(&url_path(&BLOCKLIST), shrunk_body.as_bytes(), "v2-shrunk");
    http.set(&url_path(&FEODO), Mode::Fail);
    http.set(&url_path(&DROP), Mode::Stall);
    http.set(
        &url_path(&STIX),
        Mode::Truncate {
            body: fixture(STIX.fixture),
        },
    );
    // RANGES keeps serving v1: the conditional request gets a 304. TOR's
    // file is untouched on the FTP server (same MDTM and SIZE).
    let added: Vec<IpNet> = vec![
        "198.18.7.1/32".parse().unwrap(),
        "2001:db8:77::5/128".parse().unwrap(),
    ];
    assert!(added.iter().all(|a| !entries(&ET).contains(a)));
    let mut et2 = fixture(ET.fixture);
    et2.extend_from_slice(b"198.18.7.1\r\n2001:db8:77::5\r\n");
    http.serve(&url_path(&ET), &et2, "v2");

    let (serial2, out2) = sync(&config, &scratch);
    let serial2 =
        serial2.unwrap_or_else(|| panic!("the changed feed should give a new snapshot:\n{out2}"));
    assert!(serial2 > serial1, "{serial2} <= {serial1}");

    // Every HTTP request of sync 2 was conditional (the ETag of sync 1 was
    // kept between runs), and the unchanged feed got its 304.
    for f in [&BLOCKLIST, &ET, &STIX, &FEODO, &DROP, &RANGES] {
        let reqs = http.srv.requests(&url_path(f));
        assert_eq!(
            reqs.len(),
            2,
            "{}: one request per sync (retries = 0): {reqs:?}",
            f.id
        );
        assert_eq!(
            reqs[1].headers.get("if-none-match").map(String::as_str),
            Some("\"v1\""),
            "{}: {:?}",
            f.id,
            reqs[1]
        );
    }
    assert_eq!(http.srv.requests(&url_path(&RANGES))[1].status, "304");

    let h = health(&data);
    let st = |id: &str| feed_status(&h, id);
    assert_eq!(st(RANGES.id), "not modified", "{h:#}");
    assert_eq!(st(TOR.id), "not modified", "{h:#}");
    assert!(
        st(FEODO.id).starts_with("failed: ") && st(FEODO.id).contains("HTTP 500"),
        "{}",
        st(FEODO.id)
    );
    assert!(
        st(DROP.id).starts_with("failed: ") && st(DROP.id).contains("timed out"),
        "{}",
        st(DROP.id)
    );
    assert!(
        st(STIX.id).starts_with("failed: ") && st(STIX.id).contains("truncated"),
        "{}",
        st(STIX.id)
    );
    let held = st(BLOCKLIST.id);
    let shrank = format!(
        "shrank from {} to {} entries",
        blocklist.len(),
        shrunk.len()
    );
    assert!(
        held.starts_with("held back: ") && held.contains(&shrank),
        "{held}"
    );
    assert!(
        h[BLOCKLIST.id]["held_back"]
            .as_str()
            .is_some_and(|r| r.contains(&shrank)),
        "{h:#}"
    );
    assert!(
        st(ET.id).starts_with(&format!("ok: {} entries (+2 -0)", entries(&ET).len() + 2)),
        "{}",
        st(ET.id)
    );
    for f in [&BLOCKLIST, &STIX, &FEODO, &DROP, &RANGES, &TOR] {
        assert_eq!(
            h[f.id]["entries"].as_u64(),
            Some(entries(f).len() as u64),
            "{} keeps its last good version: {h:#}",
            f.id
        );
    }
    for id in [BLOCKLIST.id, STIX.id, FEODO.id, DROP.id] {
        assert!(h[id]["last_good"].is_string(), "{id}: {h:#}");
    }

    // The responder, still running, picks up the new snapshot by itself and
    // serves the last good content of every feed that failed or was held
    // back, plus the changed feed's new version.
    wait_for_serial(addr, serial2);
    let second = [
        ("attackers", want(&[&BLOCKLIST, &ET, &STIX], &added)),
        ("botnet", want(&[&FEODO], &[])),
        ("hijacked", want(&[&DROP, &RANGES], &[])),
        ("tor", want(&[&TOR], &[])),
    ];
    for ((list, expected), (_, before)) in second.iter().zip(&first) {
        let txt = check_list(addr, list, expected, serial2);
        // Every list still holds a feed version of sync 1.
        let generated2 = check_freshness(list, &txt, t0, t1);
        assert!(generated2 >= generated1);
        if *list != "attackers" {
            assert_eq!(expected, before);
        }
    }

    // The held-back feed's archive still lists an address its shrunk
    // version dropped.
    let ip = blocklist
        .iter()
        .find_map(|n| match n {
            IpNet::V4(v) if !shrunk.contains(n) => Some(v.addr()),
            _ => None,
        })
        .unwrap();
    assert!(second[0].1.v4.contains(&ip), "{ip} is still served");
    let (st, out, err) = run_feedwall(
        &[
            "check-ip",
            "--data",
            data.to_str().unwrap(),
            &ip.to_string(),
        ],
        &scratch,
        Duration::from_secs(30),
    );
    assert!(st.success(), "check-ip failed: {err}");
    assert!(out.contains(&format!("{ip}: listed now by")), "{out}");
    assert!(
        out.contains(&format!("[{}]", BLOCKLIST.id)) && out.contains(&format!("{ip}/32")),
        "{out}"
    );

    // --- Sync 3: every server is back to its good version. The held-back
    // feed recovers (its source is back to the published version: 304), so
    // there is nothing left for an operator to accept, and no input changed.
    for f in [&BLOCKLIST, &STIX, &FEODO, &DROP] {
        http.serve(&url_path(f), &fixture(f.fixture), "v1");
    }
    let (serial3, out3) = sync(&config, &scratch);
    assert_eq!(serial3, None, "nothing changed since sync 2:\n{out3}");
    let h = health(&data);
    for (id, _, _) in &feeds {
        assert_eq!(feed_status(&h, id), "not modified", "{id}: {h:#}");
        assert!(h[id]["held_back"].is_null(), "{id}: {h:#}");
    }
    let (st, _, err) = run_feedwall(
        &[
            "feeds",
            "accept",
            BLOCKLIST.id,
            "--config",
            config.to_str().unwrap(),
        ],
        &scratch,
        Duration::from_secs(30),
    );
    assert!(
        !st.success() && err.contains("no held-back version"),
        "a recovered feed has nothing to accept: {err}"
    );
    assert_eq!(served_serial(addr).0, Some(serial2));

    drop(responder);
    drop(ftp);
}

/// Unchanged inputs leave `snapshot.fw` byte-identical (same serial), both
/// when the server answers 304 and when it sends the same body again; a
/// changed feed makes a new snapshot with a higher serial.
#[test]
fn sidecar_unchanged_inputs_keep_the_snapshot_byte_identical() {
    let work = tempdir();
    let data = work.path().join("data");
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let http = FeedServer::start();
    http.serve(&url_path(&FEODO), &fixture(FEODO.fixture), "feodo-v1");
    // No validators at all for this one: every fetch is a full 200.
    let drop_body = fixture(DROP.fixture);
    http.set(
        &url_path(&DROP),
        Mode::Serve {
            body: drop_body.clone(),
            etag: None,
        },
    );
    let feeds = vec![
        (FEODO.id, http.srv.url(&url_path(&FEODO)), FEODO.format),
        (DROP.id, http.srv.url(&url_path(&DROP)), DROP.format),
    ];
    let config = write_config(
        work.path(),
        &data,
        &feeds,
        &[("botnet", &[FEODO.id]), ("hijacked", &[DROP.id, FEODO.id])],
    );
    let snap = data.join("snapshot.fw");

    let (serial1, out) = sync(&config, &scratch);
    let serial1 = serial1.unwrap_or_else(|| panic!("no snapshot written:\n{out}"));
    let bytes1 = std::fs::read(&snap).unwrap();
    assert_eq!(feedwall::snapshot::peek_serial(&snap), Some(serial1));

    // Let the clock move on: a rebuild now would carry a new time.
    std::thread::sleep(Duration::from_millis(1100));
    let (serial, out) = sync(&config, &scratch);
    assert_eq!(serial, None, "unchanged inputs must not publish:\n{out}");
    assert_eq!(
        std::fs::read(&snap).unwrap(),
        bytes1,
        "snapshot.fw changed although no input did"
    );
    let h = health(&data);
    assert_eq!(feed_status(&h, FEODO.id), "not modified", "{h:#}");
    assert_eq!(feed_status(&h, DROP.id), "unchanged", "{h:#}");
    assert_eq!(http.srv.requests(&url_path(&FEODO))[1].status, "304");

    // A changed feed: a new snapshot with a higher serial.
    let mut changed = drop_body.clone();
    changed.extend_from_slice(b"198.18.9.0/24 ; SBL999999\n");
    http.set(
        &url_path(&DROP),
        Mode::Serve {
            body: changed,
            etag: None,
        },
    );
    let (serial2, out) = sync(&config, &scratch);
    let serial2 = serial2.unwrap_or_else(|| panic!("a changed feed must publish:\n{out}"));
    assert!(serial2 > serial1, "{serial2} <= {serial1}");
    assert_eq!(feedwall::snapshot::peek_serial(&snap), Some(serial2));
    assert_ne!(std::fs::read(&snap).unwrap(), bytes1);
    assert!(feed_status(&health(&data), DROP.id).starts_with("ok: "));
}
