//! Benchmark helpers, hidden from `--help` (`feedwall bench ...`):
//!
//! - `reflector`: a bare recvmmsg/sendmmsg loop that answers every datagram
//!   with itself, QR set. No parsing, no lookup: the ceiling of the kernel
//!   path on this machine, against which the responder's CPU per query is
//!   compared.
//! - `tcp-load`: a pipelined TCP DNS load client that, unlike Debian's
//!   dnsperf 2.10 (16 KB receive buffer), completes 64 KB answers. Used the
//!   same way against every server in `benches/dnsperf-compare.sh`.

use std::io::{Read, Write};
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use socket2::{Domain, Protocol, Socket, Type};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Bare UDP reflector (answers each datagram with itself, QR set).
    Reflector(ReflectorArgs),
    /// Pipelined TCP load client.
    TcpLoad(TcpLoadArgs),
}

#[derive(Args, Debug)]
pub struct ReflectorArgs {
    #[arg(long)]
    pub listen: SocketAddr,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

#[derive(Args, Debug)]
pub struct TcpLoadArgs {
    /// Server address.
    #[arg(long)]
    pub server: SocketAddr,
    /// Query name.
    #[arg(long)]
    pub name: String,
    /// Query type (A, AAAA, TXT, SOA).
    #[arg(long, default_value = "A")]
    pub qtype: String,
    /// Parallel connections (one thread each).
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Queries in flight per connection.
    #[arg(long, default_value_t = 8)]
    pub pipeline: usize,
    /// Seconds to run; the run always stops by itself.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Expected answer records per response (0: do not check).
    #[arg(long, default_value_t = 0)]
    pub expect_answers: u16,
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Reflector(a) => reflector(a),
        BenchCmd::TcpLoad(a) => tcp_load(a),
    }
}

fn reflector(args: ReflectorArgs) -> anyhow::Result<()> {
    let mut addr = args.listen;
    let mut handles = Vec::new();
    for i in 0..args.workers.max(1) {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_port(true)?;
        let _ = s.set_recv_buffer_size(4 << 20);
        s.bind(&addr.into()).with_context(|| format!("cannot bind {addr}"))?;
        let sock: UdpSocket = s.into();
        if i == 0 {
            addr = sock.local_addr()?;
            println!("{addr}");
        }
        handles.push(std::thread::spawn(move || reflect_loop(sock)));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn reflect_loop(sock: UdpSocket) {
    const B: usize = 64;
    const SZ: usize = 4096;
    let fd = sock.as_raw_fd();
    let mut bufs = vec![0u8; B * SZ];
    // SAFETY: plain C structs; all-zero is valid.
    let mut names: Vec<libc::sockaddr_storage> = (0..B).map(|_| unsafe { zeroed() }).collect();
    let mut iov: Vec<libc::iovec> = (0..B).map(|i| libc::iovec { iov_base: bufs[i * SZ..].as_mut_ptr().cast(), iov_len: SZ }).collect();
    // SAFETY: as above.
    let mut msgs: Vec<libc::mmsghdr> = (0..B).map(|_| unsafe { zeroed() }).collect();
    loop {
        for i in 0..B {
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            iov[i].iov_len = SZ;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: msgs point into live buffers owned by this frame.
        let n = unsafe { libc::recvmmsg(fd, msgs.as_mut_ptr(), B as u32, libc::MSG_WAITFORONE, std::ptr::null_mut()) };
        if n <= 0 {
            continue;
        }
        for i in 0..n as usize {
            let len = msgs[i].msg_len as usize;
            if len >= 3 {
                bufs[i * SZ + 2] |= 0x80;
            }
            iov[i].iov_len = len;
        }
        let mut sent = 0;
        while sent < n as usize {
            // SAFETY: as above; the first n headers are initialised.
            let r = unsafe { libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n as usize - sent) as u32, 0) };
            if r <= 0 {
                sent += 1;
            } else {
                sent += r as usize;
            }
        }
    }
}

fn qtype_code(t: &str) -> anyhow::Result<u16> {
    Ok(match t.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "SOA" => 6,
        "TXT" => 16,
        "AAAA" => 28,
        other => bail!("unsupported query type {other}"),
    })
}

/// Result of one connection's run.
#[derive(Default)]
struct ConnStats {
    sent: u64,
    received: u64,
    bad: u64,
    bytes: u64,
    latencies_us: Vec<u32>,
}

fn tcp_load(args: TcpLoadArgs) -> anyhow::Result<()> {
    let qname = crate::wire::name_from_text(&args.name)?;
    let qtype = qtype_code(&args.qtype)?;
    let duration = Duration::from_secs_f64(args.duration.clamp(0.1, 3600.0));
    let pipeline = args.pipeline.clamp(1, 1000);
    let started = Instant::now();
    let handles: Vec<_> = (0..args.connections.max(1))
        .map(|c| {
            let qname = qname.clone();
            let server = args.server;
            let expect = args.expect_answers;
            std::thread::spawn(move || one_connection(server, &qname, qtype, pipeline, duration, expect, c as u16))
        })
        .collect();
    let mut total = ConnStats::default();
    for h in handles {
        let s = h.join().map_err(|_| anyhow::anyhow!("load thread panicked"))??;
        total.sent += s.sent;
        total.received += s.received;
        total.bad += s.bad;
        total.bytes += s.bytes;
        total.latencies_us.extend(s.latencies_us);
    }
    let secs = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if total.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((total.latencies_us.len() as f64 - 1.0) * p) as usize;
        total.latencies_us[i] as f64 / 1000.0
    };
    let avg = if total.latencies_us.is_empty() { 0.0 } else { total.latencies_us.iter().map(|&v| v as f64).sum::<f64>() / total.latencies_us.len() as f64 / 1000.0 };
    let out = serde_json::json!({
        "sent": total.sent,
        "received": total.received,
        "lost": total.sent - total.received,
        "bad": total.bad,
        "seconds": secs,
        "qps": total.received as f64 / secs,
        "mbytes_per_s": total.bytes as f64 / secs / 1e6,
        "latency_ms_avg": avg,
        "latency_ms_p50": pct(0.5),
        "latency_ms_p99": pct(0.99),
    });
    println!("{out}");
    Ok(())
}

fn one_connection(server: SocketAddr, qname: &[u8], qtype: u16, pipeline: usize, duration: Duration, expect: u16, salt: u16) -> anyhow::Result<ConnStats> {
    let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(5)).with_context(|| format!("cannot connect to {server}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut q = Vec::with_capacity(qname.len() + 20);
    let build = |q: &mut Vec<u8>, id: u16| {
        q.clear();
        let len = (12 + qname.len() + 4) as u16;
        q.extend_from_slice(&len.to_be_bytes());
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(qname);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
    };
    let mut sent_at = vec![Instant::now(); 65536];
    let mut stats = ConnStats::default();
    let mut next_id = salt.wrapping_mul(4099);
    let mut batch = Vec::new();
    for _ in 0..pipeline {
        build(&mut q, next_id);
        sent_at[next_id as usize] = Instant::now();
        next_id = next_id.wrapping_add(1);
        batch.extend_from_slice(&q);
        stats.sent += 1;
    }
    stream.write_all(&batch)?;
    let deadline = Instant::now() + duration;
    let mut in_flight = pipeline;
    let mut buf = vec![0u8; 65537];
    while in_flight > 0 {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            break;
        }
        let l = u16::from_be_bytes(len) as usize;
        if stream.read_exact(&mut buf[..l]).is_err() {
            break;
        }
        in_flight -= 1;
        stats.received += 1;
        stats.bytes += l as u64 + 2;
        if l >= 12 {
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            stats.latencies_us.push(sent_at[id as usize].elapsed().as_micros().min(u32::MAX as u128) as u32);
            let an = u16::from_be_bytes([buf[6], buf[7]]);
            if buf[3] & 0x0f != 0 || (expect != 0 && an != expect) {
                stats.bad += 1;
            }
        } else {
            stats.bad += 1;
        }
        if Instant::now() < deadline {
            build(&mut q, next_id);
            sent_at[next_id as usize] = Instant::now();
            next_id = next_id.wrapping_add(1);
            stream.write_all(&q)?;
            stats.sent += 1;
            in_flight += 1;
        }
    }
    Ok(stats)
}
