//! Test harness: starts the real `feedwall` binary on port 0, waits for its
//! ready file, runs real DNS clients against it, and always stops what it
//! started by PID.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_feedwall"))
}

/// Fails loudly when a tool the test needs is missing (the README's test
/// command installs them: `tests/run-all.sh`).
pub fn require_tool(tool: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("required tool `{tool}` is not installed; run tests/run-all.sh (it installs the Debian packages the tests need)");
}

/// A temp directory removed at drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("feedwall-it-")
        .tempdir()
        .expect("temp dir")
}

/// Writes a list file with the given lines.
pub fn write_list(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(format!("{name}.txt"));
    std::fs::write(&p, lines.join("\n") + "\n").expect("write list");
    p
}

/// `n` distinct IPv4 hosts starting at `base`.
pub fn v4_hosts(base: [u8; 4], n: usize) -> Vec<String> {
    let b = u32::from_be_bytes(base);
    (0..n as u32)
        .map(|i| std::net::Ipv4Addr::from(b + i).to_string())
        .collect()
}

/// `n` distinct IPv6 hosts under 2001:db8:<tag>::/64.
pub fn v6_hosts(tag: u16, n: usize) -> Vec<String> {
    (0..n as u128)
        .map(|i| {
            std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | ((tag as u128) << 80) | (i + 1))
                .to_string()
        })
        .collect()
}

/// Runs `feedwall snapshot build` with the given arguments.
pub fn snapshot_build(args: &[&str]) -> Output {
    Command::new(bin())
        .args(["snapshot", "build"])
        .args(args)
        .output()
        .expect("run feedwall snapshot build")
}

/// Builds a snapshot from lists (name, file) for `allow` prefixes; panics on failure.
pub fn build(out: &Path, lists: &[(&str, &Path)], allow: &[&str], extra: &[&str]) {
    let mut args: Vec<String> = vec!["--zone".into(), "feedwall.internal".into()];
    for (n, f) in lists {
        args.push("--list".into());
        args.push(format!("{n}={}", f.display()));
    }
    for a in allow {
        args.push("--allow".into());
        args.push(a.to_string());
    }
    args.push("--out".into());
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let o = snapshot_build(&argv);
    assert!(
        o.status.success(),
        "snapshot build failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A running responder; killed at drop.
pub struct Responder {
    pub child: Child,
    pub addrs: Vec<SocketAddr>,
    pub stats: PathBuf,
    _dir: tempfile::TempDir,
}

impl Responder {
    /// Starts `feedwall dns` on 127.0.0.1:0.
    pub fn start(snapshot: &Path) -> Responder {
        Self::start_with(snapshot, &["127.0.0.1:0"], &[])
    }

    pub fn start_with(snapshot: &Path, listen: &[&str], extra: &[&str]) -> Responder {
        let dir = tempdir();
        let ready = dir.path().join("ready.json");
        let stats = dir.path().join("stats.json");
        let mut cmd = Command::new(bin());
        cmd.arg("dns").arg("--snapshot").arg(snapshot);
        for l in listen {
            cmd.arg("--listen").arg(l);
        }
        cmd.arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(&stats)
            .args(["--workers", "2"])
            .args(extra);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn feedwall dns");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let v: serde_json::Value = serde_json::from_str(&text).expect("ready file JSON");
                let addrs = v["listen"]
                    .as_array()
                    .expect("listen array")
                    .iter()
                    .map(|a| a.as_str().unwrap().parse().unwrap())
                    .collect();
                return Responder {
                    child,
                    addrs,
                    stats,
                    _dir: dir,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                panic!("feedwall dns exited early ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "feedwall dns did not become ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Counters from the stats file (written every second).
    pub fn counters(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(t) = std::fs::read_to_string(&self.stats) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                    return v;
                }
            }
            assert!(Instant::now() < deadline, "no stats file");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a DNS client tool (dig/kdig) with a timeout, returning stdout.
pub fn run_tool(tool: &str, args: &[String]) -> String {
    let path = require_tool(tool);
    let out = Command::new(path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `kdig @addr -p port NAME TYPE` plus options.
pub fn kdig(server: SocketAddr, name: &str, qtype: &str, opts: &[&str]) -> String {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        name.into(),
        qtype.into(),
        "+timeout=3".into(),
        "+retry=1".into(),
    ];
    args.extend(opts.iter().map(|s| s.to_string()));
    run_tool("kdig", &args)
}

/// `dig` (BIND's) with options.
pub fn dig(server: SocketAddr, name: &str, qtype: &str, opts: &[&str]) -> String {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        name.into(),
        qtype.into(),
        "+time=3".into(),
        "+tries=1".into(),
    ];
    args.extend(opts.iter().map(|s| s.to_string()));
    run_tool("dig", &args)
}

/// The status word of a dig/kdig answer (NOERROR, NXDOMAIN, ...).
pub fn status(out: &str) -> String {
    let i = out
        .find("status: ")
        .unwrap_or_else(|| panic!("no status in output:\n{out}"));
    out[i + 8..]
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

/// Answer-section records of a given type in dig/kdig output.
pub fn answers(out: &str, qtype: &str) -> Vec<String> {
    let mut in_answer = false;
    let mut v = Vec::new();
    for line in out.lines() {
        if line.starts_with(";; ANSWER SECTION") {
            in_answer = true;
            continue;
        }
        if line.starts_with(";;") && in_answer {
            in_answer = false;
        }
        if in_answer {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 && f[3] == qtype {
                v.push(f[4].to_string());
            }
        }
    }
    v
}

/// A free port on 127.0.0.1 for tools that cannot take port 0 (the port is
/// released just before the tool binds it; collisions are unlikely).
pub fn free_port() -> u16 {
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = u.local_addr().unwrap().port();
    let t = std::net::TcpListener::bind(("127.0.0.1", port));
    drop(u);
    match t {
        Ok(_) => port,
        Err(_) => free_port(),
    }
}
