//! Hot reload: snapshots replaced under load, corrupt files refused while
//! the previous snapshot keeps serving, start-up failures.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::harness::*;

fn query_bytes(id: u16, name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

fn a_set(m: &Message) -> BTreeSet<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

fn soa_serial(m: &Message) -> Option<u32> {
    m.answers
        .iter()
        .chain(m.authorities.iter())
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
}

/// Builds variant snapshots: variant i lists 10.(50+i).0.1 .. +count.
fn variants(dir: &Path, n: usize) -> Vec<(PathBuf, BTreeSet<String>, u32)> {
    (0..n)
        .map(|i| {
            // Few enough hosts to fit a 512-octet UDP answer without EDNS.
            let hosts = v4_hosts([10, 50 + i as u8, 0, 1], 20 + i * 3);
            let f = write_list(dir, &format!("v{i}"), &hosts);
            let out = dir.join(format!("v{i}.fw"));
            let serial = (1000 + i).to_string();
            build(
                &out,
                &[("swap", &f)],
                &["127.0.0.1/32"],
                &["--serial", &serial],
            );
            (out, hosts.into_iter().collect(), 1000 + i as u32)
        })
        .collect()
}

/// Replaces `target` by `source` atomically (copy to a temp file, rename).
fn install(source: &Path, target: &Path) {
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(source, &tmp).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

fn serial_of(addr: SocketAddr) -> u32 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(&query_bytes(7, "feedwall.internal.", RecordType::SOA), addr)
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    soa_serial(&Message::from_vec(&buf[..n]).unwrap()).expect("SOA")
}

fn wait_for_serial(addr: SocketAddr, serial: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while serial_of(addr) != serial {
        assert!(Instant::now() < deadline, "serial {serial} never served");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn snapshots_swapped_many_times_a_second_under_dnsperf_load_lose_no_query() {
    let dnsperf = require_tool("dnsperf");
    let dir = tempdir();
    let vars = variants(dir.path(), 3);
    let live = dir.path().join("live.fw");
    install(&vars[0].0, &live);
    let r = Responder::start(&live);
    let addr = r.addr();

    let stop = Arc::new(AtomicBool::new(false));
    // Swapper: a new file every 40 ms (25 swaps/s), bounded by `stop`.
    let swapper = {
        let stop = stop.clone();
        let live = live.clone();
        let files: Vec<PathBuf> = vars.iter().map(|v| v.0.clone()).collect();
        std::thread::spawn(move || {
            let mut i = 0usize;
            let deadline = Instant::now() + Duration::from_secs(30);
            // At least 100 swaps even when a loaded machine makes the load
            // phase short or the installs slow (still bounded by the deadline).
            while (!stop.load(Ordering::Relaxed) || i < 100) && Instant::now() < deadline {
                i += 1;
                install(&files[i % files.len()], &live);
                std::thread::sleep(Duration::from_millis(40));
            }
            i
        })
    };
    let valid: Vec<BTreeSet<String>> = vars.iter().map(|v| v.1.clone()).collect();
    let serials: Vec<u32> = vars.iter().map(|v| v.2).collect();

    // Verifying UDP client: every answer must be one whole snapshot's set.
    let udp_checker = {
        let stop = stop.clone();
        let valid = valid.clone();
        std::thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let (mut ok, mut bad, mut lost) = (0u32, 0u32, 0u32);
            let mut buf = [0u8; 4096];
            let mut id = 0u16;
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                s.send_to(
                    &query_bytes(id, "0.swap.feedwall.internal.", RecordType::A),
                    addr,
                )
                .unwrap();
                match s.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        let m = Message::from_vec(&buf[..n]).unwrap();
                        if m.metadata.id == id
                            && m.metadata.response_code == ResponseCode::NoError
                            && valid.contains(&a_set(&m))
                        {
                            ok += 1;
                        } else {
                            if bad == 0 {
                                eprintln!("first bad UDP answer: {m:?}");
                            }
                            bad += 1;
                        }
                    }
                    Err(_) => lost += 1,
                }
            }
            (ok, bad, lost)
        })
    };
    // Verifying TCP client: one connection, pipelined batches of 20.
    let tcp_checker = {
        let stop = stop.clone();
        let valid = valid.clone();
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (mut ok, mut bad) = (0u32, 0u32);
            let mut id = 0u16;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                for _ in 0..20 {
                    id = id.wrapping_add(1);
                    let q = query_bytes(id, "0.swap.feedwall.internal.", RecordType::A);
                    batch.extend_from_slice(&(q.len() as u16).to_be_bytes());
                    batch.extend_from_slice(&q);
                }
                c.write_all(&batch).unwrap();
                for k in 0..20u16 {
                    let mut len = [0u8; 2];
                    c.read_exact(&mut len).expect("TCP answer");
                    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                    c.read_exact(&mut buf).unwrap();
                    let m = Message::from_vec(&buf).unwrap();
                    if m.metadata.id == id.wrapping_sub(19).wrapping_add(k)
                        && valid.contains(&a_set(&m))
                    {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
            }
            (ok, bad)
        })
    };

    // dnsperf: bounded in time (-l) and rate (-Q); several names.
    let qfile = dir.path().join("queries.txt");
    std::fs::write(&qfile, "0.swap.feedwall.internal A\nswap.feedwall.internal TXT\nfeedwall.internal SOA\n1.swap.feedwall.internal A\n").unwrap();
    let out = Command::new(dnsperf)
        .args(["-s", "127.0.0.1", "-p", &addr.port().to_string(), "-d"])
        .arg(&qfile)
        .args(["-l", "6", "-Q", "20000", "-c", "4", "-t", "2"])
        .output()
        .expect("run dnsperf");
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let (ok, bad, lost) = udp_checker.join().unwrap();
    let (tok, tbad) = tcp_checker.join().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dnsperf failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |key: &str| -> u64 {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {report}"));
        line.split(':')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let completed = field("Queries completed");
    let lost_dnsperf = field("Queries lost");
    assert!(
        completed > 50_000,
        "dnsperf completed only {completed}:\n{report}"
    );
    assert_eq!(
        lost_dnsperf, 0,
        "no query may go unanswered across swaps:\n{report}"
    );
    assert!(
        report.contains("NOERROR") && !report.contains("SERVFAIL") && !report.contains("REFUSED"),
        "{report}"
    );
    assert!(swaps >= 100, "only {swaps} swaps");
    assert_eq!((bad, lost), (0, 0), "UDP checker: {ok} ok");
    assert!(ok > 100);
    assert_eq!(tbad, 0, "TCP checker: {tok} ok");
    assert!(tok > 100);
    // The responder saw the swaps.
    std::thread::sleep(Duration::from_millis(1200));
    let c = r.counters();
    assert!(c["counters"]["reloads"].as_u64().unwrap() >= 50, "{c}");
    assert_eq!(c["counters"]["reload_failures"].as_u64().unwrap(), 0, "{c}");
    assert!(serials.contains(&(c["serial"].as_u64().unwrap() as u32)));
}

#[test]
fn corrupt_truncated_or_wrong_version_snapshots_are_refused_and_the_previous_keeps_serving() {
    let dir = tempdir();
    let vars = variants(dir.path(), 2);
    let live = dir.path().join("live.fw");
    install(&vars[0].0, &live);
    let r = Responder::start(&live);
    let addr = r.addr();
    assert_eq!(serial_of(addr), 1000);

    let good = std::fs::read(&vars[1].0).unwrap();
    let mut bitflip = good.clone();
    let mid = bitflip.len() / 2;
    bitflip[mid] ^= 0x10;
    let mut wrong_version = good.clone();
    wrong_version[8] = 99;
    let mut garbage = vec![0x5au8; 4096];
    garbage[..8].copy_from_slice(b"FWSNAP\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 100].to_vec()),
        ("header only", good[..64].to_vec()),
        ("empty", Vec::new()),
        ("bit flip", bitflip),
        ("wrong version", wrong_version),
        ("garbage", garbage),
        ("not a snapshot", b"hello world\n".to_vec()),
    ];
    let mut failures = 0;
    for (what, bytes) in &cases {
        let tmp = dir.path().join("bad.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &live).unwrap();
        failures += 1;
        // Wait until the responder has looked at it (failure counted).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let c = r.counters();
            if c["counters"]["reload_failures"].as_u64().unwrap() >= failures {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: reload failure never counted: {c}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            serial_of(addr),
            1000,
            "{what}: previous snapshot must keep serving"
        );
        // `inspect` refuses it with a clear error too.
        let o = Command::new(bin())
            .args(["snapshot", "inspect"])
            .arg(&live)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{what}: inspect accepted a bad file");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot load"), "{what}: {err}");
    }
    // A good file is picked up again.
    install(&vars[1].0, &live);
    wait_for_serial(addr, 1001);
}

#[test]
fn responder_exits_at_once_with_the_cause_when_it_cannot_start() {
    let dir = tempdir();
    let vars = variants(dir.path(), 1);
    let run = |args: &[&str]| {
        let o = Command::new(bin()).arg("dns").args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Missing snapshot.
    let (code, err) = run(&[
        "--snapshot",
        "/nonexistent/snap.fw",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cannot load snapshot") && err.contains("No such file"),
        "{err}"
    );
    // Corrupt first snapshot.
    let bad = dir.path().join("bad.fw");
    std::fs::write(&bad, b"FWSNAP\r\nnonsense").unwrap();
    let (code, err) = run(&[
        "--snapshot",
        bad.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot load snapshot"), "{err}");
    // Address in use (TCP held by another socket).
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let (code, err) = run(&[
        "--snapshot",
        vars[0].0.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot bind") && err.contains(&port.to_string()),
        "{err}"
    );
    // An address this host does not have.
    let (code, err) = run(&[
        "--snapshot",
        vars[0].0.to_str().unwrap(),
        "--listen",
        "192.0.2.55:5353",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot bind"), "{err}");
}
