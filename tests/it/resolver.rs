//! A real resolver (Unbound) forwarding / stubbing the zone to feedwall.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

struct Unbound {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_unbound(dir: &std::path::Path, zone_clause: &str) -> Unbound {
    let unbound = require_tool("unbound");
    let port = free_port();
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            r#"server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    domain-insecure: "feedwall.internal"
{zone_clause}
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    let check = Command::new(require_tool("unbound-checkconf"))
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "unbound-checkconf: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let child = Command::new(unbound)
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start unbound");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let u = Unbound { child, addr };
    // Ready when it answers anything (SERVFAIL/REFUSED for other names is fine).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = kdig(addr, "feedwall.internal", "SOA", &["+timeout=1"]);
        if out.contains("status: ") {
            break;
        }
        assert!(Instant::now() < deadline, "unbound did not start:\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    u
}

fn setup() -> (tempfile::TempDir, Responder) {
    let dir = tempdir();
    let mut big = v4_hosts([10, 9, 0, 0], 4000);
    big.extend(v6_hosts(9, 2000));
    let f = write_list(dir.path(), "big", &big);
    let snap = dir.path().join("snap.fw");
    build(&snap, &[("big", &f)], &["127.0.0.1/32"], &[]);
    let r = Responder::start(&snap);
    (dir, r)
}

fn check_resolver(u: &Unbound) {
    let out = kdig(
        u.addr,
        "0.big.feedwall.internal",
        "A",
        &["+tcp", "+timeout=10"],
    );
    assert_eq!(status(&out), "NOERROR", "{}", &out[..out.len().min(800)]);
    assert_eq!(
        answers(&out, "A").len(),
        4000,
        "resolver returns the full chunk"
    );
    let out = kdig(
        u.addr,
        "0.big.feedwall.internal",
        "AAAA",
        &["+tcp", "+timeout=10"],
    );
    assert_eq!(answers(&out, "AAAA").len(), 2000);
    // Negative answers pass through too.
    let out = kdig(u.addr, "99.big.feedwall.internal", "A", &["+timeout=10"]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
}

#[test]
fn unbound_forward_zone_returns_the_full_chunk() {
    let (_d, r) = setup();
    let dir = tempdir();
    let u = start_unbound(
        dir.path(),
        &format!(
            "forward-zone:\n    name: \"feedwall.internal.\"\n    forward-addr: 127.0.0.1@{}\n",
            r.addr().port()
        ),
    );
    check_resolver(&u);
}

#[test]
fn unbound_stub_zone_returns_the_full_chunk() {
    let (_d, r) = setup();
    let dir = tempdir();
    let u = start_unbound(
        dir.path(),
        &format!(
            "stub-zone:\n    name: \"feedwall.internal.\"\n    stub-addr: 127.0.0.1@{}\n",
            r.addr().port()
        ),
    );
    check_resolver(&u);
}
