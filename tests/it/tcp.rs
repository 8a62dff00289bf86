//! TCP behaviour: pipelining, idle timeout, connection cap, and a hostile
//! client that cannot stall others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::*;

fn snapshot() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let f = write_list(dir.path(), "big", &v4_hosts([10, 2, 0, 0], 4000));
    let s = write_list(dir.path(), "small", &["192.0.2.9".into()]);
    let snap = dir.path().join("snap.fw");
    build(&snap, &[("big", &f), ("small", &s)], &["127.0.0.1/32"], &[]);
    (dir, snap)
}

fn framed(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&feedwall::wire::name_from_text(name).unwrap());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    f
}

fn read_answer(c: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    c.read_exact(&mut len).expect("answer length");
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut buf).expect("answer body");
    buf
}

#[test]
fn pipelined_queries_on_one_connection_are_all_answered_in_order() {
    let (_d, snap) = snapshot();
    let r = Responder::start(&snap);
    let mut c = TcpStream::connect(r.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // 100 queries in one write, alternating 64 KB and small answers.
    let mut batch = Vec::new();
    for i in 0..100u16 {
        let name = if i % 2 == 0 {
            "0.big.feedwall.internal"
        } else {
            "0.small.feedwall.internal"
        };
        batch.extend_from_slice(&framed(i, name, 1));
    }
    c.write_all(&batch).unwrap();
    for i in 0..100u16 {
        let a = read_answer(&mut c);
        assert_eq!(u16::from_be_bytes([a[0], a[1]]), i, "in order");
        let an = u16::from_be_bytes([a[6], a[7]]);
        assert_eq!(an, if i % 2 == 0 { 4000 } else { 1 });
    }
    // A query split across writes byte by byte still works.
    let q = framed(999, "0.small.feedwall.internal", 1);
    for b in &q {
        c.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        u16::from_be_bytes(read_answer(&mut c)[0..2].try_into().unwrap()),
        999
    );
}

#[test]
fn idle_and_stalled_connections_are_closed_and_do_not_stall_others() {
    let (_d, snap) = snapshot();
    let r = Responder::start_with(&snap, &["127.0.0.1:0"], &["--tcp-idle-timeout", "1"]);
    // A hostile client: half a message, then silence.
    let mut slow = TcpStream::connect(r.addr()).unwrap();
    slow.write_all(&framed(1, "0.small.feedwall.internal", 1)[..7])
        .unwrap();
    // A client that asks for 64 KB answers and never reads them.
    let mut deaf = TcpStream::connect(r.addr()).unwrap();
    let mut flood = Vec::new();
    for i in 0..200u16 {
        flood.extend_from_slice(&framed(i, "0.big.feedwall.internal", 1));
    }
    deaf.write_all(&flood).unwrap();
    // Others are served at once meanwhile.
    for i in 0..20u16 {
        let t = Instant::now();
        let mut c = TcpStream::connect(r.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(&framed(i, "0.small.feedwall.internal", 1))
            .unwrap();
        assert_eq!(
            u16::from_be_bytes(read_answer(&mut c)[0..2].try_into().unwrap()),
            i
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    }
    // The idle one is closed by the server after the idle timeout.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let t = Instant::now();
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "server closes the idle connection");
    assert!(t.elapsed() < Duration::from_secs(4));
    drop(deaf);
}

#[test]
fn connections_beyond_the_cap_are_refused_and_counted() {
    let (_d, snap) = snapshot();
    let r = Responder::start_with(&snap, &["127.0.0.1:0"], &["--tcp-max-connections", "3"]);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(r.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(r.addr()).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(&framed(5, "0.small.feedwall.internal", 1));
    let mut buf = [0u8; 16];
    let n = extra.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection over the cap is closed without an answer");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let mut c = TcpStream::connect(r.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&framed(6, "0.small.feedwall.internal", 1))
        .unwrap();
    assert_eq!(
        u16::from_be_bytes(read_answer(&mut c)[0..2].try_into().unwrap()),
        6
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(r.counters()["counters"]["tcp_rejected"].as_u64().unwrap() >= 1);
}
