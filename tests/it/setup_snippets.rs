//! Per-device setup snippets (issue 4) against the real tools: the BIND,
//! Unbound and dnsmasq snippets run in real resolvers forwarding to a real
//! feedwall responder; the iptables + ipset and nftables scripts run for
//! real inside a network namespace of their own (with their own responder
//! there), including the fail-safe paths; every config passes its tool's
//! syntax check.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use feedwall::admin::setup::{snippets, DeviceKind, LookupNames, SetupContext, Snippet};

use crate::harness::*;

const ZONE: &str = "feedwall.internal";
/// "big": 4500 IPv4 hosts (chunk 0 full with 4000, chunk 1 with 500) and 10
/// IPv6 hosts; "small": 20 IPv4 and 5 IPv6 hosts.
const BIG_V4: usize = 4500;
const BIG_V6: usize = 10;
const SMALL_V4: usize = 20;
const SMALL_V6: usize = 5;

/// Builds the test snapshot into `dir` for the given allowed sources.
fn build_snapshot(dir: &Path, out: &str, allow: &[&str]) -> PathBuf {
    let mut big = v4_hosts([10, 20, 0, 0], BIG_V4);
    big.extend(v6_hosts(20, BIG_V6));
    let mut small = v4_hosts([10, 30, 0, 0], SMALL_V4);
    small.extend(v6_hosts(30, SMALL_V6));
    let fb = write_list(dir, "big", &big);
    let fs = write_list(dir, "small", &small);
    let snap = dir.join(out);
    build(
        &snap,
        &[("big", &fb), ("small", &fs)],
        allow,
        &["--capacity", "big=3"],
    );
    snap
}

fn ctx(servers: Vec<SocketAddr>, device: &str, big_capacity: u32) -> SetupContext {
    SetupContext {
        zone: ZONE.to_string(),
        servers,
        lookups: vec![
            LookupNames {
                title: "attackers (big)".to_string(),
                list: "big".to_string(),
                capacity: big_capacity,
            },
            LookupNames {
                title: "my \"small\" list".to_string(),
                list: "small".to_string(),
                capacity: 4,
            },
        ],
        device_name: device.to_string(),
    }
}

/// The snippet of `kind` whose file name ends with `suffix`.
fn snippet(kind: DeviceKind, c: &SetupContext, suffix: &str) -> Snippet {
    let v = snippets(kind, c);
    v.iter()
        .find(|s| s.filename.ends_with(suffix))
        .unwrap_or_else(|| {
            panic!(
                "{kind:?}: no snippet file *{suffix} among {:?}",
                v.iter().map(|s| &s.filename).collect::<Vec<_>>()
            )
        })
        .clone()
}

/// A daemon started by a test, killed by PID at drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn spawn_logged(mut cmd: Command, log: PathBuf) -> Daemon {
    let f = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    Daemon { child, log }
}

/// Waits until a resolver on `addr` answers a query for the zone.
fn wait_answering(d: &mut Daemon, addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = dig(addr, ZONE, "SOA", &["+time=1"]);
        if out.contains("status: ") {
            return;
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            panic!("{what} exited ({st}):\n{}", d.log());
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---------------------------------------------------------------------------
// BIND

fn named_conf(dir: &Path, port: u16, options: &str, zone: &str) -> PathBuf {
    let d = dir.display();
    let conf = dir.join("named.conf");
    // dnssec-validation is left at its default (auto): the snippet's
    // validate-except is what makes the unsigned zone resolve.
    std::fs::write(
        &conf,
        format!(
            "options {{\n    directory \"{d}\";\n    pid-file \"{d}/named.pid\";\n    \
             session-keyfile \"{d}/session.key\";\n    managed-keys-directory \"{d}\";\n    \
             listen-on port {port} {{ 127.0.0.1; }};\n    listen-on-v6 {{ none; }};\n    \
             recursion yes;\n    allow-query {{ 127.0.0.1; }};\n{options}\n}};\ncontrols {{ }};\n{zone}\n"
        ),
    )
    .unwrap();
    conf
}

fn start_named(dir: &Path, options: &str, zone: &str) -> (Daemon, SocketAddr) {
    let port = free_port();
    let conf = named_conf(dir, port, options, zone);
    let check = Command::new(require_tool("named-checkconf"))
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&check, "named-checkconf");
    let mut cmd = Command::new(require_tool("named"));
    cmd.arg("-g").arg("-c").arg(&conf);
    let mut d = spawn_logged(cmd, dir.join("named.log"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_answering(&mut d, addr, "named");
    (d, addr)
}

#[test]
fn bind_snippet_forwards_full_chunks_and_the_record_limit_is_the_reason() {
    let dir = tempdir();
    let snap = build_snapshot(dir.path(), "snap.fw", &["127.0.0.1/32"]);
    let r = Responder::start(&snap);
    let c = ctx(vec![r.addr()], "bind box", 3);
    let opts = snippet(DeviceKind::Bind, &c, "named.conf.options").text;
    let zone = snippet(DeviceKind::Bind, &c, ".named.conf").text;
    assert!(opts.contains("max-records-per-type 4000;"), "{opts}");
    assert!(zone.contains(&format!("127.0.0.1 port {};", r.addr().port())));

    // With the snippet as written: the full chunk, the rest of the list, TXT.
    let d1 = tempdir();
    let (named, addr) = start_named(d1.path(), &opts, &zone);
    let out = dig(addr, "0.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(status(&out), "NOERROR", "{}", &out[..out.len().min(600)]);
    assert_eq!(answers(&out, "A").len(), 4000, "BIND passes the full chunk");
    let out = dig(addr, "1.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(answers(&out, "A").len(), BIG_V4 - 4000);
    let out = dig(
        addr,
        "0.big.feedwall.internal",
        "AAAA",
        &["+tcp", "+time=10"],
    );
    assert_eq!(answers(&out, "AAAA").len(), BIG_V6);
    let out = dig(addr, "big.feedwall.internal", "TXT", &["+time=10"]);
    assert!(out.contains("\"chunks=2\""), "{out}");
    let out = dig(addr, "2.big.feedwall.internal", "A", &["+time=10"]);
    assert_eq!(status(&out), "NOERROR", "past the data: NODATA\n{out}");
    assert!(answers(&out, "A").is_empty());
    drop(named);

    // The same config without the max-records-per-type line: BIND's default
    // limit of 100 records per RRset turns every large chunk into SERVFAIL,
    // while a small list still resolves.
    let without: String = opts
        .lines()
        .filter(|l| !l.contains("max-records-per-type"))
        .map(|l| format!("{l}\n"))
        .collect();
    let d2 = tempdir();
    let (named, addr) = start_named(d2.path(), &without, &zone);
    let out = dig(addr, "0.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(status(&out), "SERVFAIL", "{}", &out[..out.len().min(600)]);
    let out = dig(addr, "1.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(status(&out), "SERVFAIL", "500 records exceed 100 too");
    let out = dig(
        addr,
        "0.small.feedwall.internal",
        "A",
        &["+tcp", "+time=10"],
    );
    assert_eq!(answers(&out, "A").len(), SMALL_V4, "{out}");
    let log = named.log();
    assert!(
        log.contains("too many records (must not exceed 100)"),
        "named says why:\n{log}"
    );
}

// ---------------------------------------------------------------------------
// Unbound

/// The root KSK-2017 DS (IANA): with it Unbound validates, so the snippet's
/// domain-insecure is exercised, not bypassed.
const ROOT_DS: &str =
    ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

fn unbound_conf(dir: &Path, port: u16, snippet: &str) -> PathBuf {
    let d = dir.display();
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    interface: 127.0.0.1@{port}\n    port: {port}\n    do-daemonize: no\n    \
             username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    \
             use-syslog: no\n    logfile: \"\"\n    verbosity: 1\n    num-threads: 1\n    \
             access-control: 127.0.0.0/8 allow\n    module-config: \"validator iterator\"\n    \
             trust-anchor: \"{ROOT_DS}\"\n    private-address: 10.0.0.0/8\n    \
             qname-minimisation: no\n\n{snippet}\n"
        ),
    )
    .unwrap();
    conf
}

#[test]
fn unbound_snippet_forwards_full_chunks_with_validation_on() {
    let dir = tempdir();
    let snap = build_snapshot(dir.path(), "snap.fw", &["127.0.0.1/32"]);
    let r = Responder::start(&snap);
    let c = ctx(vec![r.addr()], "unbound box", 3);
    let s = snippet(DeviceKind::Unbound, &c, ".conf");
    assert!(s
        .text
        .contains(&format!("forward-addr: 127.0.0.1@{}", r.addr().port())));
    assert!(s.text.contains("do-not-query-localhost: no"));
    let d = tempdir();
    let port = free_port();
    let conf = unbound_conf(d.path(), port, &s.text);
    let check = Command::new(require_tool("unbound-checkconf"))
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&check, "unbound-checkconf");
    let mut cmd = Command::new(require_tool("unbound"));
    cmd.arg("-d").arg("-c").arg(&conf);
    let mut u = spawn_logged(cmd, d.path().join("unbound.log"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_answering(&mut u, addr, "unbound");
    // The lists are 10.x addresses and the config sets private-address:
    // 10.0.0.0/8; private-domain in the snippet keeps them in the answers.
    let out = dig(addr, "0.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(status(&out), "NOERROR", "{}", &out[..out.len().min(600)]);
    assert_eq!(
        answers(&out, "A").len(),
        4000,
        "Unbound passes the full chunk"
    );
    let out = dig(
        addr,
        "0.big.feedwall.internal",
        "AAAA",
        &["+tcp", "+time=10"],
    );
    assert_eq!(answers(&out, "AAAA").len(), BIG_V6);
    let out = dig(addr, "0.small.feedwall.internal", "A", &["+time=10"]);
    assert_eq!(answers(&out, "A").len(), SMALL_V4);
    // forward-tcp-upstream: Unbound asked feedwall over TCP only (the stats
    // file is written every second).
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let v = r.counters();
        if v["counters"]["tcp_queries"].as_u64().unwrap_or(0) >= 3 || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        stats["counters"]["tcp_queries"].as_u64().unwrap() >= 3,
        "{stats}"
    );
    assert_eq!(
        stats["counters"]["udp_queries"].as_u64(),
        Some(0),
        "only TCP from Unbound: {stats}"
    );
}

// ---------------------------------------------------------------------------
// dnsmasq

#[test]
fn dnsmasq_snippet_passes_the_test_and_forwards_full_chunks() {
    let dir = tempdir();
    let snap = build_snapshot(dir.path(), "snap.fw", &["127.0.0.1/32"]);
    let r = Responder::start(&snap);
    let c = ctx(vec![r.addr()], "dnsmasq box", 3);
    let s = snippet(DeviceKind::Dnsmasq, &c, ".conf");
    assert!(s.text.contains(&format!(
        "server=/feedwall.internal/127.0.0.1#{}",
        r.addr().port()
    )));
    let d = tempdir();
    let port = free_port();
    let conf = d.path().join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n\
             pid-file={dir}/dnsmasq.pid\nlog-facility={dir}/dnsmasq.log\nuser=root\nstop-dns-rebind\n{}",
            s.text,
            dir = d.path().display()
        ),
    )
    .unwrap();
    let dnsmasq = require_tool("dnsmasq");
    let check = Command::new(&dnsmasq)
        .arg("--test")
        .arg("-C")
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&check, "dnsmasq --test");
    let mut cmd = Command::new(&dnsmasq);
    cmd.arg("-k").arg("-C").arg(&conf);
    let mut dm = spawn_logged(cmd, d.path().join("stderr.log"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_answering(&mut dm, addr, "dnsmasq");
    // stop-dns-rebind is on and the lists are 10.x: rebind-domain-ok keeps them.
    let out = dig(addr, "0.big.feedwall.internal", "A", &["+tcp", "+time=10"]);
    assert_eq!(status(&out), "NOERROR", "{}", &out[..out.len().min(600)]);
    assert_eq!(
        answers(&out, "A").len(),
        4000,
        "dnsmasq passes the full chunk"
    );
    let out = dig(addr, "0.small.feedwall.internal", "A", &["+time=10"]);
    assert_eq!(answers(&out, "A").len(), SMALL_V4);
}

// ---------------------------------------------------------------------------
// Syntax of every config a tool here can check, with hostile input.

#[test]
fn every_checkable_snippet_passes_its_tool_with_hostile_names_and_odd_ports() {
    let c = SetupContext {
        zone: ZONE.to_string(),
        servers: vec![
            "192.0.2.7:5353".parse().unwrap(),
            "[2001:db8::7]:8053".parse().unwrap(),
        ],
        lookups: vec![
            LookupNames {
                title: "attackers\n}; include \"/etc/shadow\"; #".to_string(),
                list: "attackers".to_string(),
                capacity: 4,
            },
            LookupNames {
                title: "$(touch /tmp/pwned) `id`".to_string(),
                list: "custom.k7m2q9xz.acct".to_string(),
                capacity: 2,
            },
        ],
        device_name: "edge \"fw\"\n}; zone \"evil\" { type master; };\n# $(reboot)".to_string(),
    };
    let dir = tempdir();
    let d = dir.path();

    // BIND: a whole named.conf around both snippets.
    let opts = snippet(DeviceKind::Bind, &c, "named.conf.options").text;
    let zone = snippet(DeviceKind::Bind, &c, ".named.conf").text;
    assert!(zone.contains("192.0.2.7 port 5353;") && zone.contains("2001:db8::7 port 8053;"));
    let conf = named_conf(d, 53, &opts, &zone);
    let o = Command::new(require_tool("named-checkconf"))
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&o, "named-checkconf");
    // Only our zone is declared: the hostile name stayed in comments.
    let o = Command::new(require_tool("named-checkconf"))
        .arg("-p")
        .arg(&conf)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(printed.matches("zone \"").count(), 1, "{printed}");

    // Unbound.
    let s = snippet(DeviceKind::Unbound, &c, ".conf");
    let conf = unbound_conf(d, 5300, &s.text);
    let o = Command::new(require_tool("unbound-checkconf"))
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&o, "unbound-checkconf");

    // dnsmasq.
    let s = snippet(DeviceKind::Dnsmasq, &c, ".conf");
    let conf = d.join("dnsmasq.conf");
    std::fs::write(&conf, &s.text).unwrap();
    let o = Command::new(require_tool("dnsmasq"))
        .arg("--test")
        .arg("-C")
        .arg(&conf)
        .output()
        .unwrap();
    assert_ok(&o, "dnsmasq --test");

    // Every shell script parses.
    let bash = require_tool("bash");
    for kind in DeviceKind::ALL {
        for s in snippets(kind, &c)
            .into_iter()
            .filter(|s| s.language == "sh")
        {
            let f = d.join(&s.filename);
            std::fs::write(&f, &s.text).unwrap();
            let o = Command::new(&bash).arg("-n").arg(&f).output().unwrap();
            assert_ok(&o, &format!("bash -n {}", s.filename));
        }
    }
    assert!(!Path::new("/tmp/pwned").exists());
}

// ---------------------------------------------------------------------------
// The scripts, run for real in a network namespace.

static NETNS_SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace with loopback up; deleted at drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let ip = require_tool("ip");
        let name = format!(
            "fwtest-{}-{}",
            std::process::id(),
            NETNS_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let o = Command::new(&ip)
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert_ok(&o, "ip netns add (the script tests need root)");
        let ns = Netns { name };
        let o = ns.run("ip", &["link", "set", "lo", "up"]);
        assert_ok(&o, "ip link set lo up");
        ns
    }

    /// A command run inside the namespace.
    fn command(&self, prog: &Path) -> Command {
        let mut c = Command::new(require_tool("ip"));
        c.args(["netns", "exec", &self.name]).arg(prog).env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(&require_tool(tool))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// `feedwall dns` inside the namespace (`ip netns exec` execs it, so the
/// child's PID is the responder's); killed at drop.
fn start_responder_in(ns: &Netns, snap: &Path, dir: &Path) -> Daemon {
    let ready = dir.join("ready.json");
    let mut cmd = ns.command(&bin());
    cmd.arg("dns")
        .arg("--snapshot")
        .arg(snap)
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--ready-file"])
        .arg(&ready);
    let mut d = spawn_logged(cmd, dir.join("dns.log"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        if let Ok(Some(st)) = d.child.try_wait() {
            panic!("feedwall dns exited ({st}):\n{}", d.log());
        }
        assert!(Instant::now() < deadline, "feedwall dns not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

fn ready_addr(dir: &Path) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(t) = std::fs::read_to_string(dir.join("ready.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                return v["listen"][0].as_str().unwrap().parse().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "ready file unreadable");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A namespace with a responder serving the test snapshot to 127.0.0.1.
/// Fields drop in order: the responder first, then the namespace.
struct Scene {
    responder: Option<Daemon>,
    ns: Netns,
    dir: tempfile::TempDir,
    snap: PathBuf,
    addr: SocketAddr,
}

impl Scene {
    fn new() -> Scene {
        let ns = Netns::new();
        let dir = tempdir();
        let snap = build_snapshot(dir.path(), "snap.fw", &["127.0.0.1/32"]);
        let responder = start_responder_in(&ns, &snap, dir.path());
        let addr = ready_addr(dir.path());
        Scene {
            ns,
            dir,
            snap,
            responder: Some(responder),
            addr,
        }
    }

    fn script(&self, s: &Snippet) -> PathBuf {
        let f = self.dir.path().join(&s.filename);
        std::fs::write(&f, &s.text).unwrap();
        let o = Command::new(require_tool("bash"))
            .arg("-n")
            .arg(&f)
            .output()
            .unwrap();
        assert_ok(&o, "bash -n");
        f
    }

    fn run_script(&self, f: &Path, args: &[&str]) -> Output {
        self.ns
            .command(&require_tool("bash"))
            .arg(f)
            .args(args)
            .output()
            .unwrap()
    }

    /// Serves a snapshot that does not list 127.0.0.1: the script's queries
    /// get REFUSED, as when the device's address is no longer registered.
    fn refuse_this_host(&self) {
        let other = build_snapshot(self.dir.path(), "other.fw", &["192.0.2.0/24"]);
        std::fs::rename(&other, &self.snap).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.ns.run(
                "dig",
                &[
                    &format!("@{}", self.addr.ip()),
                    "-p",
                    &self.addr.port().to_string(),
                    "+tcp",
                    "+time=2",
                    "big.feedwall.internal",
                    "TXT",
                ],
            );
            if String::from_utf8_lossy(&o.stdout).contains("status: REFUSED") {
                return;
            }
            assert!(Instant::now() < deadline, "snapshot swap not picked up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Elements in an nftables set inside the namespace.
fn nft_elements(ns: &Netns, set: &str) -> usize {
    let o = ns.run("nft", &["-j", "list", "set", "inet", "feedwall", set]);
    assert_ok(&o, "nft list set");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|x| x.get("set"))
        .and_then(|s| s.get("elem"))
        .and_then(|e| e.as_array())
        .map(|e| e.len())
        .unwrap_or(0)
}

fn nft_rules(ns: &Netns, chain: &str) -> usize {
    let o = ns.run("nft", &["-j", "list", "chain", "inet", "feedwall", chain]);
    assert_ok(&o, "nft list chain");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("rule").is_some())
        .count()
}

#[test]
fn nftables_script_loads_whole_sets_and_keeps_them_when_resolution_fails() {
    require_tool("nft");
    let sc = Scene::new();
    let c = ctx(vec![sc.addr], "nft host", 3);
    let f = sc.script(&snippet(DeviceKind::Nftables, &c, "-nft.sh"));

    // --print: the generated ruleset passes nft -c.
    let o = sc.run_script(&f, &["--print"]);
    assert_ok(&o, "script --print");
    let ruleset = sc.dir.path().join("ruleset.nft");
    std::fs::write(&ruleset, &o.stdout).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("set big_v4 { type ipv4_addr; }"), "{text}");
    let o = sc.ns.run("nft", &["-c", "-f", ruleset.to_str().unwrap()]);
    assert_ok(&o, "nft -c -f");
    let o = sc.run_script(&f, &["--check"]);
    assert_ok(&o, "script --check");
    let o = sc.ns.run("nft", &["list", "ruleset"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).trim().is_empty(),
        "--check changes nothing"
    );

    // Load for real, twice: same sets, rules not duplicated.
    for _ in 0..2 {
        let o = sc.run_script(&f, &[]);
        assert_ok(&o, "script");
        assert_eq!(nft_elements(&sc.ns, "big_v4"), BIG_V4);
        assert_eq!(nft_elements(&sc.ns, "big_v6"), BIG_V6);
        assert_eq!(nft_elements(&sc.ns, "small_v4"), SMALL_V4);
        assert_eq!(nft_elements(&sc.ns, "small_v6"), SMALL_V6);
        assert_eq!(nft_rules(&sc.ns, "input"), 4, "2 lookups x (v4, v6)");
        assert_eq!(nft_rules(&sc.ns, "forward"), 8);
        assert_eq!(nft_rules(&sc.ns, "output"), 4);
    }

    // REFUSED (this host is no longer a registered device): exit non-zero,
    // the loaded sets stay as they were.
    sc.refuse_this_host();
    let o = sc.run_script(&f, &[]);
    assert!(!o.status.success(), "must fail when REFUSED");
    assert!(stderr(&o).contains("REFUSED"), "{}", stderr(&o));
    assert_eq!(nft_elements(&sc.ns, "big_v4"), BIG_V4);
    assert_eq!(nft_elements(&sc.ns, "small_v6"), SMALL_V6);

    // feedwall unreachable: the same.
    let mut sc = sc;
    drop(sc.responder.take());
    let o = sc.run_script(&f, &[]);
    assert!(!o.status.success(), "must fail when unreachable");
    assert!(stderr(&o).contains("unreachable"), "{}", stderr(&o));
    assert_eq!(nft_elements(&sc.ns, "big_v4"), BIG_V4);
    assert_eq!(nft_rules(&sc.ns, "input"), 4);
}

/// Entries in an ipset inside the namespace.
fn ipset_entries(ns: &Netns, set: &str) -> usize {
    let o = ns.run("ipset", &["list", "-t", set]);
    assert_ok(&o, "ipset list");
    let t = String::from_utf8_lossy(&o.stdout);
    t.lines()
        .find_map(|l| l.strip_prefix("Number of entries: "))
        .unwrap_or_else(|| panic!("no entry count:\n{t}"))
        .trim()
        .parse()
        .unwrap()
}

fn rules_naming(ns: &Netns, tool: &str, set: &str) -> usize {
    let o = ns.run(tool, &["-S"]);
    assert_ok(&o, tool);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(&format!("--match-set {set} ")))
        .count()
}

#[test]
fn ipset_script_swaps_whole_sets_and_keeps_them_when_resolution_fails() {
    require_tool("ipset");
    require_tool("iptables");
    let sc = Scene::new();
    // Written for one chunk of "big": the script follows the TXT record's
    // chunks=2 and resolves the second one too.
    let c = ctx(vec![sc.addr], "ipset host", 1);
    let f = sc.script(&snippet(DeviceKind::IptablesIpset, &c, "-ipset.sh"));
    let cron = snippet(DeviceKind::IptablesIpset, &c, "feedwall-ipset-host");
    assert!(cron
        .text
        .contains("*/5 * * * * root /usr/local/sbin/feedwall-ipset-host-ipset.sh"));

    for _ in 0..2 {
        let o = sc.run_script(&f, &[]);
        assert_ok(&o, "script");
        assert_eq!(ipset_entries(&sc.ns, "fw4-big"), BIG_V4);
        assert_eq!(ipset_entries(&sc.ns, "fw6-big"), BIG_V6);
        assert_eq!(ipset_entries(&sc.ns, "fw4-small"), SMALL_V4);
        assert_eq!(ipset_entries(&sc.ns, "fw6-small"), SMALL_V6);
        // INPUT src, FORWARD src, FORWARD dst, OUTPUT dst: once each.
        assert_eq!(rules_naming(&sc.ns, "iptables", "fw4-big"), 4);
        assert_eq!(rules_naming(&sc.ns, "ip6tables", "fw6-small"), 4);
        let o = sc.ns.run("ipset", &["list", "-n"]);
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("-new"),
            "no temporary set left"
        );
    }

    sc.refuse_this_host();
    let o = sc.run_script(&f, &[]);
    assert!(!o.status.success(), "must fail when REFUSED");
    assert!(stderr(&o).contains("REFUSED"), "{}", stderr(&o));
    assert_eq!(ipset_entries(&sc.ns, "fw4-big"), BIG_V4);
    assert_eq!(ipset_entries(&sc.ns, "fw6-small"), SMALL_V6);

    let mut sc = sc;
    drop(sc.responder.take());
    let o = sc.run_script(&f, &[]);
    assert!(!o.status.success(), "must fail when unreachable");
    assert_eq!(ipset_entries(&sc.ns, "fw4-big"), BIG_V4);
    assert_eq!(rules_naming(&sc.ns, "iptables", "fw4-big"), 4);
}
