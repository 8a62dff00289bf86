//! Syslog intake over UDP (one message per datagram, RFC 5426) and TCP
//! (RFC 6587: octet counting, `LEN SP MSG`, or a message per LF-ended
//! line, decided per message), RFC 5424 and RFC 3164 alike.
//!
//! The sending address names the device (the narrowest registered prefix
//! holding it); messages from other addresses are dropped and counted.
//! Each message, `<PRI>` header included, is one line for the line parser
//! (CR, LF and NUL inside it become spaces), which detects the format per
//! line. Lines go through one bounded queue ([`QUEUE_LINES`]) to one
//! batcher that parses them and stores one batch per device every
//! [`FLUSH_EVERY`] or [`FLUSH_LINES`] lines, in one transaction. While the
//! queue is full, TCP readers wait (the sender is slowed by TCP flow
//! control) and UDP messages are dropped and counted.
//!
//! Syslog has no acknowledgement: lines are durable some [`FLUSH_EVERY`]
//! after they arrive; a write the archive refuses loses them (counted and
//! logged).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};

use super::{target, Event, Shared, COUNTERS, DEVICE_CACHE_TTL};
use crate::admin::store::LogDevice;
use crate::logs::formats::{LineParser, Outcome};
use crate::logs::ingest::BatchBuilder;
use crate::logs::reader::MAX_LINE;
use crate::logs::service::LogService;
use crate::logs::store::{LogStoreError, Source};

/// Messages waiting to be stored, at most.
pub const QUEUE_LINES: usize = 20_000;
/// Longest wait between a message's arrival and its write.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Lines per write, at most (one transaction, one batch per device).
pub const FLUSH_LINES: usize = 5_000;
/// Longest message kept; the rest of a longer one is read and dropped, the
/// kept part stored as a rejected line ("line too long"), as uploads do.
pub const MAX_MESSAGE: usize = MAX_LINE;
/// Open TCP connections, at most; more are closed at once (counted).
pub const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP connection that sends nothing this long is closed (a half-open
/// connection whose sender vanished; a live sender reconnects).
pub const TCP_IDLE: Duration = Duration::from_secs(300);
/// Digits of an RFC 6587 octet count, at most (a longer run of digits is
/// read as the start of an LF-framed message).
const MAX_LEN_DIGITS: usize = 9;
/// UDP receive buffer asked of the kernel (bursts while a write runs).
const UDP_RECV_BUFFER: usize = 4 << 20;
/// Largest UDP payload (IPv6 jumbograms aside).
const UDP_MAX: usize = 65_535;
/// Tries to find a port free for both UDP and TCP when port 0 is asked.
const PORT_TRIES: usize = 32;

/// One message on its way to the archive.
struct Message {
    device: Arc<LogDevice>,
    text: String,
    too_long: bool,
}

/// Binds UDP and TCP on every address, starts the listeners and the
/// batcher; returns the bound addresses (each serves UDP and TCP).
pub(crate) async fn start(
    shared: Arc<Shared>,
    listen: &[SocketAddr],
) -> anyhow::Result<Vec<SocketAddr>> {
    let (tx, rx) = mpsc::channel(QUEUE_LINES);
    let permits = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut bound = Vec::with_capacity(listen.len());
    let mut sockets = Vec::with_capacity(listen.len());
    for addr in listen {
        let (tcp, udp) = bind_pair(*addr)
            .with_context(|| format!("cannot listen for syslog on {addr} (UDP and TCP)"))?;
        bound.push(tcp.local_addr()?);
        sockets.push((tcp, udp));
    }
    for (tcp, udp) in sockets {
        tokio::spawn(udp_loop(shared.clone(), udp, tx.clone()));
        tokio::spawn(tcp_loop(shared.clone(), tcp, tx.clone(), permits.clone()));
    }
    tokio::spawn(batcher(shared.logs.clone(), rx));
    Ok(bound)
}

/// A TCP listener and a UDP socket on the same address; for port 0, on the
/// same free port.
fn bind_pair(addr: SocketAddr) -> io::Result<(TcpListener, UdpSocket)> {
    let tries = if addr.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = std::net::TcpListener::bind(addr)?;
        let at = tcp.local_addr()?;
        match udp_socket(at) {
            Ok(udp) => {
                tcp.set_nonblocking(true)?;
                return Ok((TcpListener::from_std(tcp)?, udp));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // A smaller buffer than asked is fine (the kernel caps it).
    let _ = s.set_recv_buffer_size(UDP_RECV_BUFFER);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

async fn udp_loop(shared: Arc<Shared>, sock: UdpSocket, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; UDP_MAX];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors surface here on some systems; nothing to do
                // but go on (after a breath, in case it repeats).
                tracing::debug!(error = %e, "syslog UDP receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if from.port() == 0 {
            continue;
        }
        let Some(device) = shared.devices.by_addr(from.ip()).await else {
            Event::SyslogUnknownSender { from }.emit();
            continue;
        };
        let Some((text, too_long)) = message_text(&buf[..n], n > MAX_MESSAGE) else {
            continue;
        };
        if too_long {
            Event::SyslogTooLong { from }.emit();
        }
        let m = Message {
            device,
            text,
            too_long,
        };
        match tx.try_send(m) {
            Ok(()) => {
                COUNTERS
                    .syslog_messages
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => Event::SyslogQueueFull.emit(),
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

async fn tcp_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    tx: mpsc::Sender<Message>,
    permits: Arc<Semaphore>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(error = %e, "syslog TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            Event::SyslogTcpBusy { from }.emit();
            continue;
        };
        let shared = shared.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tcp_connection(shared, stream, from, tx).await;
        });
    }
}

async fn tcp_connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    from: SocketAddr,
    tx: mpsc::Sender<Message>,
) {
    let Some(mut device) = shared.devices.by_addr(from.ip()).await else {
        Event::SyslogUnknownSender { from }.emit();
        return;
    };
    let mut checked = Instant::now();
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut buf = Vec::with_capacity(1024);
    loop {
        let frame = match tokio::time::timeout(TCP_IDLE, read_frame(&mut r, &mut buf)).await {
            Err(_) => {
                Event::SyslogTcpTimeout.emit();
                return;
            }
            Ok(Err(_)) | Ok(Ok(None)) => return,
            Ok(Ok(Some(cut))) => cut,
        };
        // A long-lived connection: the device may have been removed or
        // changed since it connected.
        if checked.elapsed() >= DEVICE_CACHE_TTL {
            match shared.devices.by_addr(from.ip()).await {
                Some(d) => device = d,
                None => {
                    Event::SyslogUnknownSender { from }.emit();
                    return;
                }
            }
            checked = Instant::now();
        }
        let Some((text, too_long)) = message_text(&buf, frame) else {
            continue;
        };
        if too_long {
            Event::SyslogTooLong { from }.emit();
        }
        let m = Message {
            device: device.clone(),
            text,
            too_long,
        };
        // Waits while the queue is full: backpressure to the sender.
        if tx.send(m).await.is_err() {
            return;
        }
        COUNTERS
            .syslog_messages
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The line a message becomes: lossy UTF-8, at most [`MAX_MESSAGE`] bytes
/// (cut at a character boundary), CR/LF/NUL inside as spaces, line ends
/// and padding trimmed. None for an empty message.
fn message_text(bytes: &[u8], cut: bool) -> Option<(String, bool)> {
    let mut too_long = cut;
    let mut bytes = bytes;
    while let [rest @ .., b'\n' | b'\r' | b'\0' | b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    if bytes.len() > MAX_MESSAGE {
        bytes = &bytes[..MAX_MESSAGE];
        too_long = true;
    }
    if bytes.is_empty() {
        return None;
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > MAX_MESSAGE {
        // Replacement characters grew it past the limit.
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        too_long = true;
    }
    if text.contains(['\n', '\r', '\0']) {
        text = text.replace(['\n', '\r', '\0'], " ");
    }
    Some((text, too_long))
}

/// Reads one RFC 6587 frame into `out`: octet-counted (`LEN SP MSG`) when
/// it is digits, a space and `<`, else up to the next LF. Stray CR/LF/NUL between frames are skipped. At most
/// [`MAX_MESSAGE`] bytes are kept; Some(true) says the frame was longer
/// (the rest was read and dropped). None at the end of the stream (a frame
/// cut by the end is dropped when octet-counted, kept when LF-framed).
async fn read_frame<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
) -> io::Result<Option<bool>> {
    out.clear();
    loop {
        let b = r.fill_buf().await?;
        if b.is_empty() {
            return Ok(None);
        }
        let skip = b
            .iter()
            .take_while(|c| matches!(c, b'\n' | b'\r' | b'\0'))
            .count();
        if skip == 0 {
            break;
        }
        r.consume(skip);
    }
    // Octet counting: digits, one space, then exactly that many bytes.
    let mut len: usize = 0;
    let mut digits = 0;
    loop {
        let b = r.fill_buf().await?;
        let Some(&c) = b.first() else {
            // The stream ended inside a would-be count: keep it as a line.
            return Ok((!out.is_empty()).then_some(false));
        };
        match c {
            b'0'..=b'9' if digits < MAX_LEN_DIGITS => {
                len = len * 10 + usize::from(c - b'0');
                digits += 1;
                out.push(c);
                r.consume(1);
            }
            b' ' if digits > 0 => {
                r.consume(1);
                // A syslog message starts with `<PRI>`: anything else is an
                // LF-framed line that happens to start with a number.
                if r.fill_buf().await?.first() == Some(&b'<') {
                    out.clear();
                    return read_counted(r, out, len).await;
                }
                out.push(b' ');
                break;
            }
            _ => break,
        }
    }
    // LF framing (the digits read so far, if any, start the message).
    let mut cut = false;
    loop {
        let b = r.fill_buf().await?;
        if b.is_empty() {
            return Ok((!out.is_empty() || cut).then_some(cut));
        }
        let (take, done) = match b.iter().position(|&c| c == b'\n') {
            Some(i) => (i, true),
            None => (b.len(), false),
        };
        let room = MAX_MESSAGE.saturating_sub(out.len());
        if take > room {
            cut = true;
        }
        out.extend_from_slice(&b[..take.min(room)]);
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(cut));
        }
    }
}

/// The `len` bytes of an octet-counted frame.
async fn read_counted<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    len: usize,
) -> io::Result<Option<bool>> {
    let mut left = len;
    while left > 0 {
        let b = r.fill_buf().await?;
        if b.is_empty() {
            return Ok(None);
        }
        let take = b.len().min(left);
        let room = MAX_MESSAGE.saturating_sub(out.len());
        out.extend_from_slice(&b[..take.min(room)]);
        r.consume(take);
        left -= take;
    }
    Ok(Some(len > MAX_MESSAGE))
}

/// Collects queued lines and stores them every [`FLUSH_EVERY`] (from the
/// first line of a round) or [`FLUSH_LINES`] lines, in a blocking thread;
/// while a write runs, the queue takes the new lines.
async fn batcher(logs: LogService, mut rx: mpsc::Receiver<Message>) {
    let mut pending: Vec<Message> = Vec::with_capacity(FLUSH_LINES);
    loop {
        if rx.recv_many(&mut pending, FLUSH_LINES).await == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while pending.len() < FLUSH_LINES {
            let room = FLUSH_LINES - pending.len();
            tokio::select! {
                n = rx.recv_many(&mut pending, room) => if n == 0 { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let lines = std::mem::replace(&mut pending, Vec::with_capacity(FLUSH_LINES));
        let n = lines.len() as u64;
        let l = logs.clone();
        match tokio::task::spawn_blocking(move || store_lines(&l, lines)).await {
            Ok(Ok(())) => Event::SyslogStored { lines: n }.emit(),
            Ok(Err(e)) => Event::SyslogStoreFailed {
                lines: n,
                error: &e,
            }
            .emit(),
            Err(e) => Event::SyslogStoreFailed {
                lines: n,
                error: &e,
            }
            .emit(),
        }
    }
}

/// Parses one round of lines and writes one batch per device, all in one
/// transaction. Blocking.
fn store_lines(logs: &LogService, lines: Vec<Message>) -> Result<(), LogStoreError> {
    let index = logs.index();
    let mut slots: HashMap<i64, usize> = HashMap::new();
    let mut parsers: Vec<LineParser> = Vec::new();
    let mut builders: Vec<BatchBuilder> = Vec::new();
    for m in lines {
        let i = *slots.entry(m.device.device).or_insert_with(|| {
            let t = target(&m.device);
            parsers.push(LineParser::new(t.format, t.clock));
            builders.push(BatchBuilder::new(t, Source::Syslog));
            builders.len() - 1
        });
        let outcome = if m.too_long {
            Outcome::Rejected("line too long")
        } else {
            parsers[i].parse_line(&m.text).1
        };
        builders[i].push(&m.text, outcome, &index);
    }
    logs.write_batches(&mut builders)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8]) -> Vec<(String, bool)> {
        let mut r = BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(cut) = read_frame(&mut r, &mut buf).await.unwrap() {
            out.push((String::from_utf8_lossy(&buf).into_owned(), cut));
        }
        out
    }

    #[tokio::test]
    async fn octet_counted_and_lf_framed_messages_mix() {
        let got = frames(b"11 <13>a\nb c d11 <14>hello x\n<15>plain line\n\r\n2026-11-03 digits first\n6 <1>abc\n2026 no header\n").await;
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "<13>a\nb c d",
                "<14>hello x",
                "<15>plain line",
                "2026-11-03 digits first",
                "<1>abc",
                "2026 no header"
            ]
        );
        assert!(got.iter().all(|(_, cut)| !cut));
        // A count cut by the end of the stream is dropped.
        assert!(frames(b"100 <13>short").await.is_empty());
        // The last LF-less line is kept.
        assert_eq!(frames(b"<13>tail").await, [("<13>tail".to_string(), false)]);
    }

    #[tokio::test]
    async fn overlong_frames_are_cut_and_the_stream_goes_on() {
        let long = "x".repeat(MAX_MESSAGE + 10);
        let body = format!("<13>{long}");
        let input = format!("{long}\n{} {body}<13>next\n", body.len());
        let got = frames(input.as_bytes()).await;
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0.len(), got[0].1), (MAX_MESSAGE, true));
        assert_eq!((got[1].0.len(), got[1].1), (MAX_MESSAGE, true));
        assert_eq!(got[2], ("<13>next".to_string(), false));
    }

    #[test]
    fn message_text_is_one_clean_line() {
        assert_eq!(message_text(b"\n\0 ", false), None);
        assert_eq!(
            message_text(b"<13>a\r\nb\0c\n", false),
            Some(("<13>a  b c".to_string(), false))
        );
        let (t, cut) = message_text(b"<13>\xff\xfe ok", false).unwrap();
        assert_eq!((t.as_str(), cut), ("<13>\u{fffd}\u{fffd} ok", false));
        let big = vec![0xffu8; MAX_MESSAGE];
        let (t, cut) = message_text(&big, false).unwrap();
        assert!(cut && t.len() <= MAX_MESSAGE);
    }
}
