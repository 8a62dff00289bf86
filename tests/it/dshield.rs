//! DShield submission against local receivers: every blocked entry of the
//! stored fixture logs reaches an HTTP receiver exactly once (after dedupe
//! by batch id), through a failed first attempt and a crash between the
//! receiver's acceptance and our acknowledgement; lines parse with our own
//! DShield parser, carry the account's user id, leave out exclusions and
//! out-of-range times, and mask targets. Mail mode goes to a small Python
//! SMTP receiver and is checked for DShield's subject line.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feedwall::config::{Config, DshieldConfig};
use feedwall::logs::correlate::FeedIndex;
use feedwall::logs::dshield::{obfuscate, Filter, Step, Submitter, Verdict, BATCH_HEADER};
use feedwall::logs::formats::State;
use feedwall::logs::ingest::{ingest, Target};
use feedwall::logs::store::{LogStore, Source, FILE_NAME};
use feedwall::logs::{
    parse_stream, Action, Clock, Format, LineParser, LogRecord, Outcome, Proto, Zone,
};

/// 2026-11-28T00:00:00Z: the fixtures are from November 2026.
const NOW: i64 = 1_795_824_000;
/// The account with a DShield user id; 2 and 3 have none.
const OWN: i64 = 1;
const OWN_USERID: u64 = 4242;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs")
}

/// Every fixture log file (not the expected files), sorted.
fn fixture_logs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                out.push(f);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 10, "{out:?}");
    out
}

fn clock(now: i64) -> Clock {
    Clock {
        zone: Zone::Utc,
        year: Some(2026),
        now,
    }
}

fn target(account: i64, now: i64) -> Target {
    Target {
        account,
        device: account * 10,
        clock: clock(now),
        format: None,
    }
}

fn store_log(store: &mut LogStore, account: i64, text: &[u8], now: i64) {
    ingest(
        store,
        &FeedIndex::empty(),
        target(account, now),
        Source::Cli,
        text,
        1 << 30,
    )
    .unwrap();
}

/// The blocked records of a log, read the way ingest reads them.
fn blocked(text: &[u8], now: i64) -> Vec<LogRecord> {
    let mut parser = LineParser::new(None, clock(now));
    let mut out = Vec::new();
    parse_stream::<_, std::io::Error>(text, &mut parser, |line| {
        if let Outcome::Record(r) = line.outcome {
            if r.action == Action::Block {
                out.push(r);
            }
        }
        Ok(())
    })
    .unwrap();
    out
}

/// A record as it comes back from a submitted line: what the line format
/// can carry (a missing port is written as 0; flags only for TCP).
fn normalised(r: &LogRecord) -> String {
    let ports = if r.proto.has_ports() {
        (r.sport.or(Some(0)), r.dport.or(Some(0)))
    } else {
        (None, None)
    };
    let flags = r
        .flags
        .filter(|f| r.proto == Proto::TCP && f.0 != 0)
        .map(|f| f.to_string());
    let icmp = if r.proto.is_icmp() { r.icmp } else { None };
    format!(
        "{} {} {:?} {} {:?} {} {:?} {:?} {}",
        r.time,
        r.src,
        ports.0,
        r.dst,
        ports.1,
        r.proto.0,
        icmp,
        flags,
        r.count.max(1)
    )
}

/// A submitted line parsed back with our DShield parser: (user id, record).
fn parse_line(line: &str) -> (u64, LogRecord) {
    let userid: u64 = line.split('\t').nth(1).unwrap().parse().unwrap();
    let c = clock(NOW);
    assert!(Format::Dshield.sniff(line, &State::default()), "{line:?}");
    match Format::Dshield.parse(line, &c, &mut State::default()) {
        Outcome::Record(r) => (userid, r),
        o => panic!("{o:?} for submitted line {line:?}"),
    }
}

/// What the receivers should get, by a naive rule applied to every
/// blocked record: per reason counts of what is left out, and the sorted
/// (user id, normalised record) list of what is sent.
struct Oracle {
    lines: Vec<(u64, String)>,
    excluded: u64,
    too_old: u64,
    too_new: u64,
    /// Records each exclusion rule caught (each must catch some).
    by_rule: BTreeMap<&'static str, u64>,
}

fn oracle(cfg: &DshieldConfig, per_account: &[(i64, Vec<LogRecord>)], now: i64) -> Oracle {
    let mut o = Oracle {
        lines: Vec::new(),
        excluded: 0,
        too_old: 0,
        too_new: 0,
        by_rule: BTreeMap::new(),
    };
    for (account, records) in per_account {
        let userid = if *account == OWN { OWN_USERID } else { 0 };
        for r in records {
            if r.time > now + 86_400 {
                o.too_new += 1;
                continue;
            }
            if r.time < now - 365 * 86_400 {
                o.too_old += 1;
                continue;
            }
            let rules = [
                (
                    "source",
                    cfg.exclude_sources.iter().any(|n| n.contains(&r.src)),
                ),
                (
                    "target",
                    cfg.exclude_targets.iter().any(|n| n.contains(&r.dst)),
                ),
                (
                    "source port",
                    r.sport
                        .is_some_and(|p| cfg.exclude_source_ports.contains(&p)),
                ),
                (
                    "target port",
                    r.dport
                        .is_some_and(|p| cfg.exclude_target_ports.contains(&p)),
                ),
            ];
            if rules.iter().any(|(_, hit)| *hit) {
                o.excluded += 1;
                for (name, hit) in rules {
                    if hit {
                        *o.by_rule.entry(name).or_default() += 1;
                    }
                }
                continue;
            }
            let mut masked = r.clone();
            masked.dst = mask(r.dst);
            o.lines.push((userid, normalised(&masked)));
        }
    }
    o.lines.sort();
    o
}

/// The oracle's own masking: IPv4 /24, IPv6 /64.
fn mask(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let [a, b, c, _] = v.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

/// Lines with times out of range, and one of each protocol shape.
fn synthetic_dshield_log() -> String {
    [
        // More than a year old.
        "2025-06-01 10:00:00 +00:00\t0\t1\t192.0.2.50\t1000\t198.51.100.70\t445\t6\tS",
        "2025-11-20 10:00:00 +00:00\t0\t1\t192.0.2.51\t1001\t198.51.100.71\t445\t6\tS",
        // Far in the future.
        "2027-01-01 00:00:00 +00:00\t0\t1\t192.0.2.52\t1002\t198.51.100.72\t445\t6\tS",
        // Inside the window: ICMP with and without type/code, IPv6, a count.
        "2026-11-20 10:00:00 +00:00\t0\t1\t192.0.2.53\t8\t198.51.100.73\t0\t1\t",
        "2026-11-20 10:00:01 +00:00\t0\t1\t192.0.2.54\t\t198.51.100.74\t\t1\t",
        "2026-11-20 10:00:02 +00:00\t0\t5\t2001:db8:1:2::9\t5555\t2001:db8:9:8:7:6:5:4\t22\t6\tSA",
        "2026-11-27 23:59:59 +00:00\t0\t1\t192.0.2.55\t53\t198.51.100.75\t53\t17\t",
        // An excluded source port.
        "2026-11-20 10:00:03 +00:00\t0\t1\t192.0.2.56\t1001\t198.51.100.76\t8080\t6\tS",
    ]
    .join("\n")
        + "\n"
}

fn config(extra: &str) -> DshieldConfig {
    let text = format!(
        "[dshield]\nenabled = true\nmax_lines = 300\nretry_min = \"1m\"\nretry_max = \"10m\"\n\
         exclude_sources = [\"150.0.0.0/8\"]\nexclude_targets = [\"203.0.113.10\"]\n\
         exclude_source_ports = [1001]\nexclude_target_ports = [3389]\n{extra}"
    );
    Config::from_text(&text, "dshield.toml").unwrap().dshield
}

/// Stores the fixture logs: account 1 (with a user id) and accounts 2 and
/// 3 (without) take turns; account 2 also gets the synthetic log.
fn fill(store: &mut LogStore) -> Vec<(i64, Vec<LogRecord>)> {
    let mut per_account: Vec<(i64, Vec<LogRecord>)> = vec![(1, vec![]), (2, vec![]), (3, vec![])];
    for (i, f) in fixture_logs().iter().enumerate() {
        let text = std::fs::read(f).unwrap();
        let slot = i % 3;
        store_log(store, per_account[slot].0, &text, NOW);
        per_account[slot].1.extend(blocked(&text, NOW));
    }
    let syn = synthetic_dshield_log();
    store_log(store, 2, syn.as_bytes(), NOW);
    per_account[1].1.extend(blocked(syn.as_bytes(), NOW));
    per_account
}

/// The HTTP receiver: records every POST (batch id, body, accepted) and
/// answers 500 to the first `fail` of them.
#[derive(Default)]
struct Received {
    posts: Vec<(String, String, bool)>,
    fail: usize,
}

async fn http_receiver(fail: usize) -> (String, Arc<Mutex<Received>>) {
    use axum::extract::State as AxState;
    use axum::http::{HeaderMap, StatusCode};
    let state = Arc::new(Mutex::new(Received {
        posts: Vec::new(),
        fail,
    }));
    async fn post(
        AxState(s): AxState<Arc<Mutex<Received>>>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        let id = headers
            .get(BATCH_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")));
        let mut s = s.lock().unwrap();
        let ok = s.fail == 0;
        if !ok {
            s.fail -= 1;
        }
        s.posts.push((id, body, ok));
        if ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
    let app = axum::Router::new()
        .route("/submit", axum::routing::post(post))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/submit"), state)
}

/// The accepted posts, deduplicated by batch id (a repeated id must
/// repeat the same body), as (batch id, lines).
fn deduped(posts: &[(String, String, bool)]) -> Vec<(String, Vec<String>)> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::new();
    for (id, body, _) in posts.iter().filter(|p| p.2) {
        assert!(!id.is_empty(), "a post without {BATCH_HEADER}");
        match seen.get(id.as_str()) {
            Some(first) => assert_eq!(first, body, "batch {id} resent with other lines"),
            None => {
                seen.insert(id, body);
                out.push((id.clone(), body.lines().map(str::to_owned).collect()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_submission_is_exactly_once_through_failures_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(&dir.path().join(FILE_NAME)).unwrap();
    let per_account = fill(&mut store);
    let (url, received) = http_receiver(1).await;
    let cfg = config(&format!("url = \"{url}\"\n"));
    let userids: Arc<HashMap<i64, u64>> = Arc::new([(OWN, OWN_USERID)].into());
    let open = || Submitter::open(dir.path(), &cfg, userids.clone()).unwrap();
    let sub = open();

    // First attempt: 500, kept and retried after retry_min, not before.
    let first = match sub.submit_once(NOW).await.unwrap() {
        Step::Failed {
            batch_id,
            attempts: 1,
            retry_at,
            ..
        } => {
            assert_eq!(retry_at, NOW + 60);
            batch_id
        }
        s => panic!("{s:?}"),
    };
    assert_eq!(
        sub.submit_once(NOW + 10).await.unwrap(),
        Step::Waiting {
            batch_id: first.clone(),
            until: NOW + 60
        }
    );
    match sub.submit_once(NOW + 60).await.unwrap() {
        Step::Sent {
            batch_id, userid, ..
        } => {
            assert_eq!(batch_id, first);
            assert_eq!(userid, OWN_USERID, "accounts with a user id go first");
        }
        s => panic!("{s:?}"),
    }
    {
        let r = received.lock().unwrap();
        assert_eq!(r.posts.len(), 2);
        assert_eq!(
            (&r.posts[0].0, &r.posts[0].1),
            (&r.posts[1].0, &r.posts[1].1),
            "the retry is the same batch"
        );
    }

    // A crash after the receiver accepted, before the acknowledgement.
    let now = NOW + 120;
    let pending = sub.prepare(now).await.unwrap().expect("more to send");
    sub.transport().send(&pending).await.unwrap();
    drop(sub);
    let sub = open();
    match sub.submit_once(now).await.unwrap() {
        Step::Sent { batch_id, .. } => assert_eq!(batch_id, pending.batch_id, "resent as it was"),
        s => panic!("{s:?}"),
    }

    // The rest.
    let mut steps = 0;
    loop {
        match sub.submit_once(now).await.unwrap() {
            Step::Idle => break,
            Step::Sent { .. } | Step::Advanced { .. } => {}
            s => panic!("{s:?}"),
        }
        steps += 1;
        assert!(steps < 1000, "does not converge");
    }
    assert_eq!(sub.submit_once(now).await.unwrap(), Step::Idle);

    let want = oracle(&cfg, &per_account, now);
    for rule in ["source", "target", "source port", "target port"] {
        assert!(
            want.by_rule.get(rule).copied().unwrap_or(0) > 0,
            "the {rule} exclusion catches nothing in the fixtures: the test proves nothing"
        );
    }
    assert!(want.too_old >= 2 && want.too_new >= 1);

    let posts = received.lock().unwrap().posts.clone();
    let batches = deduped(&posts);
    let accepted = posts.iter().filter(|p| p.2).count();
    assert_eq!(
        accepted,
        batches.len() + 1,
        "only the crashed batch arrives twice"
    );
    let mut got = Vec::new();
    for (id, lines) in &batches {
        assert!(!lines.is_empty() && lines.len() <= cfg.max_lines, "{id}");
        let mut ids = std::collections::BTreeSet::new();
        for line in lines {
            assert_eq!(line.split('\t').count(), 9, "{line:?}");
            assert!(line[..26].ends_with(" +00:00"), "{line:?}");
            let (userid, r) = parse_line(line);
            ids.insert(userid);
            assert_eq!(r.dst, obfuscate(r.dst), "unmasked target in {line:?}");
            assert_eq!(r.dst, mask(r.dst), "unmasked target in {line:?}");
            got.push((userid, normalised(&r)));
        }
        assert_eq!(ids.len(), 1, "batch {id} mixes user ids: {ids:?}");
    }
    got.sort();
    assert_eq!(got.len(), want.lines.len());
    assert!(
        got == want.lines,
        "submitted lines differ from the blocked entries"
    );
    let own = got.iter().filter(|(u, _)| *u == OWN_USERID).count();
    assert!(own > 0 && own < got.len(), "{own} of {}", got.len());

    let stats = sub.stats().await.unwrap();
    assert_eq!(stats.lines, got.len() as u64);
    assert_eq!(stats.batches, batches.len() as u64);
    assert_eq!(stats.failures, 1);
    assert_eq!(
        (
            stats.dropped.excluded,
            stats.dropped.too_old,
            stats.dropped.too_new
        ),
        (want.excluded, want.too_old, want.too_new)
    );

    // New entries later: only they are sent.
    let before = posts.len();
    let more = "2026-11-28 01:00:00 +00:00\t0\t1\t192.0.2.200\t4000\t198.51.100.200\t23\t6\tS\n";
    store_log(&mut store, 3, more.as_bytes(), now);
    match sub.submit_once(now + 3600).await.unwrap() {
        Step::Sent { userid, lines, .. } => assert_eq!((userid, lines), (0, 1)),
        s => panic!("{s:?}"),
    }
    let posts = received.lock().unwrap().posts.clone();
    assert_eq!(posts.len(), before + 1);
    assert_eq!(
        posts[before].1,
        "2026-11-28 01:00:00 +00:00\t0\t1\t192.0.2.200\t4000\t198.51.100.0\t23\t6\tS\n"
    );
    assert_eq!(sub.submit_once(now + 3600).await.unwrap(), Step::Idle);
    assert!(sub.cursor(3).await.unwrap().is_some());
}

/// The filter is what the oracle says, record by record.
#[test]
fn filter_matches_the_naive_rules() {
    let cfg = config("url = \"http://127.0.0.1:9/\"\n");
    let filter = Filter::from_config(&cfg);
    let mut n = 0;
    for f in fixture_logs() {
        for r in blocked(&std::fs::read(&f).unwrap(), NOW) {
            let want = oracle(&cfg, &[(2, vec![r.clone()])], NOW);
            match filter.apply(&r, 0, NOW) {
                Verdict::Line(l) => {
                    let (_, back) = parse_line(&l);
                    assert_eq!(vec![(0, normalised(&back))], want.lines, "{l}");
                    n += 1;
                }
                v => assert!(want.lines.is_empty(), "{v:?} for {r:?}"),
            }
        }
    }
    assert!(n > 1000, "{n}");
}

/// A small SMTP receiver in Python (standard library only): writes each
/// accepted mail (envelope, then data) to a file in `out`; answers 451 to
/// the first `fail` messages. Prints its port.
const SMTP_RECEIVER: &str = r#"
import os, socketserver, sys, threading
out, fail = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
count = [0]

class Handler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.reply("220 receiver ESMTP")
        sender, rcpts = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            cmd = raw.decode("ascii").rstrip("\r\n")
            up = cmd.upper()
            if up.startswith("EHLO"):
                self.wfile.write(b"250-receiver\r\n250 8BITMIME\r\n")
            elif up.startswith("HELO") or up == "RSET" or up == "NOOP":
                self.reply("250 ok")
            elif up.startswith("MAIL FROM:"):
                sender, rcpts = cmd[10:], []
                self.reply("250 ok")
            elif up.startswith("RCPT TO:"):
                rcpts.append(cmd[8:])
                self.reply("250 ok")
            elif up == "DATA":
                if not sender or not rcpts:
                    self.reply("503 bad sequence")
                    continue
                self.reply("354 go on")
                lines = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    if not l.endswith(b"\r\n"):
                        self.reply("500 bare LF")
                        return
                    if l.startswith(b"."):
                        l = l[1:]
                    lines.append(l)
                with lock:
                    count[0] += 1
                    n = count[0]
                if n <= fail:
                    self.reply("451 try again later")
                    continue
                path = os.path.join(out, "mail-%03d" % n)
                with open(path + ".tmp", "wb") as f:
                    f.write(("MAIL FROM:%s\r\nRCPT TO:%s\r\n\r\n" % (sender, ",".join(rcpts))).encode())
                    f.write(b"".join(lines))
                os.rename(path + ".tmp", path + ".eml")
                self.reply("250 queued")
            elif up == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("500 what")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smtp_receiver(dir: &Path, fail: u32) -> (Python, u16) {
    let script = dir.join("smtp_receiver.py");
    std::fs::write(&script, SMTP_RECEIVER).unwrap();
    let out = dir.join("mail");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&out)
        .arg(fail.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the SMTP receiver");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the receiver's port");
    (Python(child), port)
}

/// Splits a received mail file into envelope+headers and body lines.
fn read_mail(path: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let (headers, body) = body.split_once("\r\n\r\n").unwrap();
    let mut h = BTreeMap::new();
    for l in head.lines().chain(headers.split("\r\n")) {
        if let Some((k, v)) = l.split_once(':') {
            h.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let lines = body
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (h, lines)
}

/// The real loop (`run`) in mail mode: a refused first message is retried,
/// the per-account and the anonymous batch arrive with DShield's subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_submission_has_dshields_subject_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (_python, port) = smtp_receiver(dir.path(), 1);
    let mut store = LogStore::open(&dir.path().join(FILE_NAME)).unwrap();
    // Entries an hour old by the real clock (the loop uses it).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = chrono::DateTime::from_timestamp(now - 3600, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let line = |src: &str, dport: u16| {
        format!("{at} +00:00\t0\t1\t{src}\t40000\t198.51.100.9\t{dport}\t6\tS\n")
    };
    let own = line("192.0.2.1", 22) + &line("192.0.2.2", 23);
    let anon = line("192.0.2.3", 80) + &line("192.0.2.4", 3389);
    store_log(&mut store, 5, own.as_bytes(), now);
    store_log(&mut store, 6, anon.as_bytes(), now);
    let text = format!(
        "[dshield]\nenabled = true\nsmtp_relay = \"127.0.0.1:{port}\"\nmail_from = \"fw@example.org\"\n\
         interval = \"1s\"\nretry_min = \"1s\"\ntimeout = \"10s\"\nexclude_target_ports = [3389]\n"
    );
    let cfg = Config::from_text(&text, "t").unwrap().dshield;
    let userids: Arc<HashMap<i64, u64>> = Arc::new([(5, 777)].into());
    let sub = Submitter::open(dir.path(), &cfg, userids).unwrap();
    let task = tokio::spawn(sub.clone().run());

    let mail_dir = dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mails = loop {
        let mut m: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        if m.len() >= 2 {
            m.sort();
            break m;
        }
        assert!(Instant::now() < deadline, "mails seen: {m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    task.abort();
    let again: usize = std::fs::read_dir(&mail_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "eml")
        })
        .count();
    assert_eq!(again, 2, "nothing is sent twice");

    let mut by_user = BTreeMap::new();
    for m in &mails {
        let (h, lines) = read_mail(m);
        assert_eq!(h["mail from"], "<fw@example.org>");
        assert_eq!(h["rcpt to"], "<reports@dshield.org>");
        let subject = &h["subject"];
        // FORMAT DSHIELD USERID <id> TZ <+HH:MM> VERSION <client>
        let words: Vec<&str> = subject.split(' ').collect();
        assert_eq!(words.len(), 8, "{subject}");
        assert_eq!(
            (words[0], words[1], words[2], words[4], words[5], words[6]),
            ("FORMAT", "DSHIELD", "USERID", "TZ", "+00:00", "VERSION"),
            "{subject}"
        );
        assert!(words[7].starts_with("feedwall-"), "{subject}");
        let userid: u64 = words[3].parse().unwrap();
        let batch = &h[&BATCH_HEADER.to_ascii_lowercase()];
        assert!(h["message-id"].contains(batch.as_str()), "{h:?}");
        for l in &lines {
            let (u, r) = parse_line(l);
            assert_eq!(u, userid, "{l}");
            assert_eq!(r.dst.to_string(), "198.51.100.0");
            assert_ne!(r.dport, Some(3389));
        }
        by_user.insert(userid, lines.len());
    }
    assert_eq!(by_user, BTreeMap::from([(0, 1), (777, 2)]));
    let stats = sub.stats().await.unwrap();
    assert_eq!(
        (
            stats.batches,
            stats.lines,
            stats.failures,
            stats.dropped.excluded
        ),
        (2, 3, 1, 1)
    );
}

/// The whole appliance: the account page and API set the user id, and the
/// control process's submitter sends each account's blocked entries under
/// it (the other account's anonymously) to the configured URL.
#[test]
fn the_appliance_submits_under_the_account_pages_user_id() {
    use super::admin_harness::{eventually, Options, System};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, received) = rt.block_on(http_receiver(0));
    let sys = System::start(Options {
        extra: format!("[dshield]\nenabled = true\nurl = \"{url}\"\ninterval = \"1s\"\n"),
        ..Options::default()
    });
    let mut c = sys.signup("dshield@example.org");
    let page = c.get("/account");
    page.expect_status(200);
    assert!(page.body.contains("DShield user id"), "{}", page.body);
    let r = c.post_form("/account/dshield", &[("userid", "12ab")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("positive number"), "{}", r.body);
    let r = c.post_form("/account/dshield", &[("userid", " 31337 ")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(c.get("/account").body.contains("value=\"31337\""));
    let j = c.json("GET", "/api/account/dshield", None).json();
    assert_eq!(
        (j["userid"].as_u64(), j["enabled"].as_bool()),
        (Some(31337), Some(true))
    );
    let r = c.json(
        "PUT",
        "/api/account/dshield",
        Some(serde_json::json!({"userid": 0})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = c.json(
        "PUT",
        "/api/account/dshield",
        Some(serde_json::json!({"userid": 4242})),
    );
    assert_eq!(r.json()["userid"].as_u64(), Some(4242));
    let own = c.json("GET", "/api/account", None).json()["id"]
        .as_i64()
        .unwrap();
    let mut other = sys.signup("anonymous@example.org");
    let r = other.json(
        "PUT",
        "/api/account/dshield",
        Some(serde_json::json!({"userid": null})),
    );
    assert_eq!(r.json()["userid"], serde_json::Value::Null);
    let anon = other.json("GET", "/api/account", None).json()["id"]
        .as_i64()
        .unwrap();

    // Entries stored beside the running appliance (a second writer).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = chrono::DateTime::from_timestamp(now - 600, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut store = LogStore::open(&sys.data.join(FILE_NAME)).unwrap();
    let own_log = format!("{at} +00:00\t0\t1\t192.0.2.10\t1234\t198.51.100.20\t22\t6\tS\n");
    let anon_log = format!("{at} +00:00\t0\t2\t192.0.2.11\t1235\t203.0.113.21\t53\t17\t\n");
    store_log(&mut store, own, own_log.as_bytes(), now);
    store_log(&mut store, anon, anon_log.as_bytes(), now);
    eventually(30, "two accepted DShield batches", || {
        received.lock().unwrap().posts.len() >= 2
    });
    let mut lines: Vec<String> = deduped(&received.lock().unwrap().posts)
        .into_iter()
        .flat_map(|(_, l)| l)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("{at} +00:00\t0\t2\t192.0.2.11\t1235\t203.0.113.0\t53\t17\t"),
            format!("{at} +00:00\t4242\t1\t192.0.2.10\t1234\t198.51.100.0\t22\t6\tS"),
        ]
    );
    assert!(sys.data.join("dshield.sqlite").exists());
}
