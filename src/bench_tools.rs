//! Benchmark helpers, hidden from `--help` (`feedwall bench ...`), used by
//! `benches/dnsperf-compare.sh`:
//!
//! - `reflector`: a bare recvmmsg/sendmmsg loop that answers every datagram
//!   with itself, QR set. No parsing, no lookup: the ceiling of the kernel
//!   path on this machine, against which the responder's CPU per query is
//!   compared. With `--tcp` it also accepts TCP connections and answers each
//!   length-prefixed query with a fixed answer of `--tcp-answers` A records
//!   (question echoed; one thread, poll(2), writev from one shared records
//!   buffer, no copy in user space): the ceiling of the TCP path for the
//!   full-chunk mix.
//! - `tcp-load`: a pipelined TCP DNS load client that, unlike Debian's
//!   dnsperf 2.10 (16 KB receive buffer), completes 64 KB answers. Used the
//!   same way against every server. Prints one JSON line.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use socket2::{Domain, Protocol, Socket, Type};

use crate::wire::{flags, rcode, rtype, CLASS_IN, HEADER_LEN, MAX_MESSAGE};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Bare UDP reflector (answers each datagram with itself, QR set), and
    /// optionally a bare TCP answerer.
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
    /// Also serve TCP on the same address: every query gets a fixed answer.
    #[arg(long)]
    pub tcp: bool,
    /// A records in each TCP answer (at most 4000: 64 KB).
    #[arg(long, default_value_t = 4000)]
    pub tcp_answers: u16,
}

#[derive(Args, Debug)]
pub struct TcpLoadArgs {
    /// Server address.
    #[arg(long)]
    pub server: SocketAddr,
    /// Local address to connect from (e.g. 127.0.0.2 for a source outside
    /// the ACL).
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Query name (repeatable: the names are asked in turn).
    #[arg(long = "name", required = true)]
    pub names: Vec<String>,
    /// Query type (A, AAAA, TXT, SOA, NS).
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
    /// Expected RCODE (number); other RCODEs count as bad.
    #[arg(long, default_value_t = 0)]
    pub expect_rcode: u8,
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Reflector(a) => reflector(a),
        BenchCmd::TcpLoad(a) => tcp_load(a),
    }
}

fn reflector(args: ReflectorArgs) -> anyhow::Result<()> {
    if args.tcp_answers > 4000 {
        bail!("--tcp-answers must be at most 4000");
    }
    let mut addr = args.listen;
    let mut handles = Vec::new();
    for i in 0..args.workers.max(1) {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_port(true)?;
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        s.bind(&addr.into())
            .with_context(|| format!("cannot bind UDP {addr}"))?;
        let sock: UdpSocket = s.into();
        if i == 0 {
            addr = sock.local_addr()?;
        }
        handles.push(std::thread::spawn(move || reflect_loop(sock)));
    }
    if args.tcp {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&addr.into())
            .with_context(|| format!("cannot bind TCP {addr}"))?;
        s.listen(128)?;
        let listener: TcpListener = s.into();
        let records = fixed_records(args.tcp_answers);
        handles.push(std::thread::spawn(move || {
            if let Err(e) = tcp_ceiling(listener, &records) {
                eprintln!("tcp ceiling: {e}");
            }
        }));
    }
    println!("{addr}");
    let _ = std::io::stdout().flush();
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
    let mut iov: Vec<libc::iovec> = (0..B)
        .map(|i| libc::iovec {
            iov_base: bufs[i * SZ..].as_mut_ptr().cast(),
            iov_len: SZ,
        })
        .collect();
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
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                B as u32,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
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
            let r = unsafe {
                libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n as usize - sent) as u32, 0)
            };
            if r <= 0 {
                sent += 1;
            } else {
                sent += r as usize;
            }
        }
    }
}

/// `n` A records owned by the question (pointer 0xC00C), TTL 300.
fn fixed_records(n: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(n as usize * 16);
    for i in 0..n as u32 {
        v.extend_from_slice(&[0xC0, 0x0C]);
        v.extend_from_slice(&rtype::A.to_be_bytes());
        v.extend_from_slice(&CLASS_IN.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&4u16.to_be_bytes());
        v.extend_from_slice(&(0x0A00_0000 | i).to_be_bytes());
    }
    v
}

/// One answer waiting to be written: its own head (length prefix, header,
/// question) followed by the shared records.
struct Pending {
    head: [u8; 2 + HEADER_LEN + 260],
    head_len: usize,
    /// Bytes of head + records already written.
    done: usize,
}

struct TcpConn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    rlen: usize,
    out: std::collections::VecDeque<Pending>,
}

/// Most answers queued per connection before we stop reading from it.
const TCP_QUEUE: usize = 64;

/// Bare TCP answerer, the ceiling of the TCP path: one thread, poll(2),
/// non-blocking sockets; no name lookup, no ACL; each answer is written with
/// writev straight from the shared records (no copy in user space): a small
/// head (length, header, the question echoed) then the fixed records.
fn tcp_ceiling(listener: TcpListener, records: &[u8]) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let an = (records.len() / 16) as u16;
    let mut conns: Vec<TcpConn> = Vec::new();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(2 * TCP_QUEUE);
    loop {
        pfds.clear();
        pfds.push(libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for c in &conns {
            let mut ev = 0;
            if c.out.len() < TCP_QUEUE {
                ev |= libc::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= libc::POLLOUT;
            }
            pfds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: ev,
                revents: 0,
            });
        }
        // SAFETY: pfds is a live, initialised array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 1000) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut closed = vec![false; conns.len()];
        for (i, c) in conns.iter_mut().enumerate() {
            let re = pfds[i + 1].revents;
            if re == 0 {
                continue;
            }
            if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && c.out.len() < TCP_QUEUE {
                if c.rlen == c.rbuf.len() {
                    c.rbuf.resize(c.rbuf.len() * 2, 0);
                }
                match c.stream.read(&mut c.rbuf[c.rlen..]) {
                    Ok(0) => {
                        closed[i] = true;
                        continue;
                    }
                    Ok(k) => c.rlen += k,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        closed[i] = true;
                        continue;
                    }
                }
                let mut start = 0;
                while c.rlen - start >= 2 && c.out.len() < TCP_QUEUE {
                    let l = u16::from_be_bytes([c.rbuf[start], c.rbuf[start + 1]]) as usize;
                    if c.rlen - start < 2 + l {
                        break;
                    }
                    let q = &c.rbuf[start + 2..start + 2 + l];
                    start += 2 + l;
                    if q.len() < HEADER_LEN + 5 {
                        continue;
                    }
                    let mut p = HEADER_LEN;
                    while p < q.len() && q[p] != 0 {
                        p += 1 + q[p] as usize;
                    }
                    let qend = (p + 5).min(q.len());
                    let qlen = qend - HEADER_LEN;
                    if qlen > 260 || HEADER_LEN + qlen + records.len() > MAX_MESSAGE {
                        continue;
                    }
                    let mut head = [0u8; 2 + HEADER_LEN + 260];
                    head[0..2].copy_from_slice(
                        &((HEADER_LEN + qlen + records.len()) as u16).to_be_bytes(),
                    );
                    head[2..4].copy_from_slice(&q[0..2]);
                    head[4..8].copy_from_slice(&[flags::QR | flags::AA, 0, 0, 1]);
                    head[8..10].copy_from_slice(&an.to_be_bytes());
                    head[14..14 + qlen].copy_from_slice(&q[HEADER_LEN..qend]);
                    c.out.push_back(Pending {
                        head,
                        head_len: 2 + HEADER_LEN + qlen,
                        done: 0,
                    });
                }
                c.rbuf.copy_within(start..c.rlen, 0);
                c.rlen -= start;
            }
            // Write as much as the socket takes, several answers per writev.
            while !c.out.is_empty() {
                iov.clear();
                for a in c.out.iter().take(TCP_QUEUE / 2) {
                    if a.done < a.head_len {
                        iov.push(libc::iovec {
                            iov_base: a.head[a.done..].as_ptr() as *mut _,
                            iov_len: a.head_len - a.done,
                        });
                        iov.push(libc::iovec {
                            iov_base: records.as_ptr() as *mut _,
                            iov_len: records.len(),
                        });
                    } else {
                        let off = a.done - a.head_len;
                        iov.push(libc::iovec {
                            iov_base: records[off..].as_ptr() as *mut _,
                            iov_len: records.len() - off,
                        });
                    }
                }
                // SAFETY: every iovec points into `c.out` heads or `records`,
                // both alive and unchanged during the call.
                let w = unsafe {
                    libc::writev(c.stream.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int)
                };
                if w < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        closed[i] = true;
                    }
                    break;
                }
                let mut w = w as usize;
                while w > 0 {
                    let a = c.out.front_mut().expect("bytes written beyond the queue");
                    let left = a.head_len + records.len() - a.done;
                    if w >= left {
                        w -= left;
                        c.out.pop_front();
                    } else {
                        a.done += w;
                        w = 0;
                    }
                }
            }
        }
        let mut i = 0;
        conns.retain(|_| {
            i += 1;
            !closed[i - 1]
        });
        if pfds[0].revents & libc::POLLIN != 0 {
            while let Ok((s, _)) = listener.accept() {
                s.set_nonblocking(true)?;
                s.set_nodelay(true)?;
                conns.push(TcpConn {
                    stream: s,
                    rbuf: vec![0u8; 16 * 1024],
                    rlen: 0,
                    out: Default::default(),
                });
            }
        }
    }
}

fn qtype_code(t: &str) -> anyhow::Result<u16> {
    Ok(match t.to_ascii_uppercase().as_str() {
        "A" => rtype::A,
        "NS" => rtype::NS,
        "SOA" => rtype::SOA,
        "TXT" => rtype::TXT,
        "AAAA" => rtype::AAAA,
        other => bail!("unsupported query type {other}"),
    })
}

fn rcode_name(rc: u8) -> String {
    match rc {
        rcode::NOERROR => "NOERROR".into(),
        rcode::FORMERR => "FORMERR".into(),
        rcode::SERVFAIL => "SERVFAIL".into(),
        rcode::NXDOMAIN => "NXDOMAIN".into(),
        rcode::NOTIMP => "NOTIMP".into(),
        rcode::REFUSED => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        other => format!("RCODE{other}"),
    }
}

/// Result of one connection's run.
#[derive(Default)]
struct ConnStats {
    sent: u64,
    received: u64,
    bad: u64,
    bytes: u64,
    truncated: u64,
    rcodes: [u64; 16],
    latencies_us: Vec<u32>,
    error: Option<String>,
}

fn tcp_load(args: TcpLoadArgs) -> anyhow::Result<()> {
    let mut qnames = Vec::new();
    for n in &args.names {
        qnames.push(crate::wire::name_from_text(n).with_context(|| format!("--name {n:?}"))?);
    }
    let qtype = qtype_code(&args.qtype)?;
    let duration = Duration::from_secs_f64(args.duration.clamp(0.1, 3600.0));
    let pipeline = args.pipeline.clamp(1, 1000);
    let expect = (args.expect_answers, args.expect_rcode);
    // Connect everything first, so the clock starts with all connections up.
    let mut streams = Vec::new();
    for _ in 0..args.connections.clamp(1, 256) {
        streams.push(connect(args.server, args.bind)?);
    }
    let started = Instant::now();
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(c, stream)| {
            let qnames = qnames.clone();
            std::thread::spawn(move || {
                one_connection(
                    stream,
                    &qnames,
                    qtype,
                    pipeline,
                    started + duration,
                    expect,
                    c,
                )
            })
        })
        .collect();
    let mut total = ConnStats::default();
    let mut errors = Vec::new();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("load thread panicked"))?;
        total.sent += s.sent;
        total.received += s.received;
        total.bad += s.bad;
        total.bytes += s.bytes;
        total.truncated += s.truncated;
        for (t, v) in total.rcodes.iter_mut().zip(s.rcodes) {
            *t += v;
        }
        total.latencies_us.extend(s.latencies_us);
        if let Some(e) = s.error {
            errors.push(e);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if total.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((total.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        total.latencies_us[i] as f64 / 1000.0
    };
    let avg = if total.latencies_us.is_empty() {
        0.0
    } else {
        total.latencies_us.iter().map(|&v| v as f64).sum::<f64>()
            / total.latencies_us.len() as f64
            / 1000.0
    };
    let rcodes: BTreeMap<String, u64> = total
        .rcodes
        .iter()
        .enumerate()
        .filter(|(_, &v)| v > 0)
        .map(|(i, &v)| (rcode_name(i as u8), v))
        .collect();
    let out = serde_json::json!({
        "sent": total.sent,
        "received": total.received,
        "lost": total.sent - total.received,
        "bad": total.bad,
        "truncated": total.truncated,
        "rcodes": rcodes,
        "seconds": secs,
        "qps": total.received as f64 / secs,
        "mbytes_per_s": total.bytes as f64 / secs / 1e6,
        "latency_ms_avg": avg,
        "latency_ms_p50": pct(0.5),
        "latency_ms_p99": pct(0.99),
        "latency_ms_max": pct(1.0),
        "errors": errors,
    });
    println!("{out}");
    Ok(())
}

fn connect(server: SocketAddr, bind: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let s = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if let Some(ip) = bind {
        s.bind(&SocketAddr::new(ip, 0).into())
            .with_context(|| format!("cannot bind {ip}"))?;
    }
    s.connect_timeout(&server.into(), Duration::from_secs(5))
        .with_context(|| format!("cannot connect to {server}"))?;
    let stream: TcpStream = s.into();
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

/// Appends one length-prefixed query.
fn push_query(batch: &mut Vec<u8>, id: u16, qname: &[u8], qtype: u16) {
    let len = (HEADER_LEN + qname.len() + 4) as u16;
    batch.extend_from_slice(&len.to_be_bytes());
    batch.extend_from_slice(&id.to_be_bytes());
    batch.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    batch.extend_from_slice(qname);
    batch.extend_from_slice(&qtype.to_be_bytes());
    batch.extend_from_slice(&CLASS_IN.to_be_bytes());
}

fn one_connection(
    mut stream: TcpStream,
    qnames: &[Vec<u8>],
    qtype: u16,
    pipeline: usize,
    deadline: Instant,
    expect: (u16, u8),
    conn: usize,
) -> ConnStats {
    let mut stats = ConnStats::default();
    if let Err(e) = drive(
        &mut stream,
        qnames,
        qtype,
        pipeline,
        deadline,
        expect,
        conn,
        &mut stats,
    ) {
        stats.error = Some(format!("connection {conn}: {e}"));
    }
    stats
}

#[allow(clippy::too_many_arguments)]
fn drive(
    stream: &mut TcpStream,
    qnames: &[Vec<u8>],
    qtype: u16,
    pipeline: usize,
    deadline: Instant,
    expect: (u16, u8),
    conn: usize,
    stats: &mut ConnStats,
) -> std::io::Result<()> {
    let mut sent_at = vec![Instant::now(); 65536];
    let mut next_id = (conn as u16).wrapping_mul(4099);
    let mut turn = conn;
    let mut batch = Vec::new();
    for _ in 0..pipeline {
        sent_at[next_id as usize] = Instant::now();
        push_query(&mut batch, next_id, &qnames[turn % qnames.len()], qtype);
        turn += 1;
        next_id = next_id.wrapping_add(1);
        stats.sent += 1;
    }
    stream.write_all(&batch)?;
    let mut in_flight = pipeline;
    // Large buffer, parsed in place: few read calls per 64 KB answer.
    let mut buf = vec![0u8; 4 * (MAX_MESSAGE + 2)];
    let (mut start, mut end) = (0usize, 0usize);
    while in_flight > 0 {
        // Complete messages in the buffer.
        batch.clear();
        while end - start >= 2 {
            let l = u16::from_be_bytes([buf[start], buf[start + 1]]) as usize;
            if end - start < 2 + l {
                break;
            }
            let m = &buf[start + 2..start + 2 + l];
            start += 2 + l;
            in_flight -= 1;
            stats.received += 1;
            stats.bytes += l as u64 + 2;
            if l < HEADER_LEN {
                stats.bad += 1;
                continue;
            }
            let id = u16::from_be_bytes([m[0], m[1]]);
            stats.latencies_us.push(
                sent_at[id as usize]
                    .elapsed()
                    .as_micros()
                    .min(u32::MAX as u128) as u32,
            );
            let rc = m[3] & flags::RCODE_MASK;
            stats.rcodes[rc as usize] += 1;
            if m[2] & flags::TC != 0 {
                stats.truncated += 1;
            }
            let an = u16::from_be_bytes([m[6], m[7]]);
            if rc != expect.1 || (expect.0 != 0 && an != expect.0) || m[2] & flags::QR == 0 {
                stats.bad += 1;
            }
            if Instant::now() < deadline {
                sent_at[next_id as usize] = Instant::now();
                push_query(&mut batch, next_id, &qnames[turn % qnames.len()], qtype);
                turn += 1;
                next_id = next_id.wrapping_add(1);
                stats.sent += 1;
                in_flight += 1;
            }
        }
        if !batch.is_empty() {
            stream.write_all(&batch)?;
        }
        if in_flight == 0 {
            break;
        }
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = stream.read(&mut buf[end..])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        end += n;
    }
    Ok(())
}
