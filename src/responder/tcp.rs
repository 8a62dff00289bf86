//! TCP (RFC 7766): length-prefixed messages, pipelined, many per connection.
//!
//! One tokio task per connection. Each read drains every complete query in
//! the buffer, answers them in order into one output buffer, and writes it
//! with a single `write_all`, so a pipelining client gets batched writes. An
//! idle timeout closes silent connections, a write timeout closes clients
//! that stop reading, and a connection cap refuses new connections beyond
//! it: a slow or hostile client holds only its own task.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::query::{respond_split, Transport};
use super::served::{coarse_unix_now, ServedSnapshot};
use crate::acl::canonical_source;
use crate::metrics::{Counter, Counters, Tally};
use crate::wire::MAX_MESSAGE;

/// Default idle timeout between queries on a connection (RFC 7766 §6.2.3
/// suggests seconds, not minutes).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client gets to take a batch of answers.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default most simultaneous TCP connections per responder.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Output is flushed once this much is pending.
const FLUSH_AT: usize = 128 * 1024;
/// Initial read buffer; grows to one full message when needed.
const INITIAL_READ: usize = 4096;

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Accepts connections forever.
pub async fn serve(
    listener: TcpListener,
    current: Arc<ArcSwap<ServedSnapshot>>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    slots: Arc<Semaphore>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors or a connection reset before accept:
                // back off briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            counters.add(Counter::TcpRejected, 1);
            drop(stream);
            continue;
        };
        counters.add(Counter::TcpConnections, 1);
        let current = current.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            connection(stream, peer, current, &counters, limits).await;
            drop(permit);
        });
    }
}

/// Answers whose RRset is at least this large are written straight from the
/// mapped snapshot (`writev`), not copied into the output buffer.
const SPLIT_AT: usize = 2048;
/// Most slices handed to one `writev` (below IOV_MAX = 1024).
const MAX_SLICES: usize = 512;

/// One answer in the output batch: `out[start..head_end]`, then `middle`
/// from the snapshot, then `out[head_end..end]`.
struct Piece<'s> {
    start: usize,
    head_end: usize,
    middle: &'s [u8],
    end: usize,
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    current: Arc<ArcSwap<ServedSnapshot>>,
    counters: &Counters,
    limits: TcpLimits,
) {
    let _ = stream.set_nodelay(true);
    let src = canonical_source(peer.ip());
    let mut rbuf = vec![0u8; INITIAL_READ];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out: Vec<u8> = Vec::new();
    let mut tally = Tally::default();
    'conn: loop {
        // Answer every complete query in the buffer. The snapshot is held
        // (one Arc per batch) until the batch is written, since large
        // answers are written from its mapping.
        let snapshot = current.load_full();
        let snap = snapshot.get();
        let mut pieces: Vec<Piece<'_>> = Vec::new();
        let mut fill = 0usize;
        let mut pending = 0usize;
        let mut closing = false;
        let mut device = None;
        while end - start >= 2 {
            let mlen = u16::from_be_bytes([rbuf[start], rbuf[start + 1]]) as usize;
            if mlen == 0 {
                closing = true;
                break;
            }
            if end - start < 2 + mlen {
                break;
            }
            if out.len() < fill + 2 + MAX_MESSAGE {
                out.resize(fill + 2 + MAX_MESSAGE, 0);
            }
            let q = &rbuf[start + 2..start + 2 + mlen];
            let (o, split) = respond_split(
                snap,
                src,
                q,
                &mut out[fill + 2..fill + 2 + MAX_MESSAGE],
                Transport::Tcp,
                SPLIT_AT,
            );
            tally.bump(Counter::Queries);
            tally.bump(Counter::Tcp);
            tally.bump(Counter::Outcome(o.kind));
            if o.device.is_some() {
                device = o.device;
            }
            start += 2 + mlen;
            if o.len > 0 {
                out[fill..fill + 2].copy_from_slice(&(o.len as u16).to_be_bytes());
                let (head, middle) = match split {
                    Some(s) => (s.head, s.middle),
                    None => (o.len, &[][..]),
                };
                let in_out = o.len - middle.len();
                pieces.push(Piece {
                    start: fill,
                    head_end: fill + 2 + head,
                    middle,
                    end: fill + 2 + in_out,
                });
                fill += 2 + in_out;
                pending += 2 + o.len;
            }
            if pending >= FLUSH_AT || pieces.len() * 3 >= MAX_SLICES {
                break;
            }
        }
        tally.flush_into(counters);
        // One connection, one source: one note per batch.
        if let Some(d) = device {
            snapshot.last_query.note(d, coarse_unix_now());
        }
        if !pieces.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(pieces.len() * 3);
            // Adjacent regions of `out` (answers without a middle) coalesce.
            let mut run_start = pieces[0].start;
            for p in &pieces {
                if p.middle.is_empty() {
                    continue;
                }
                slices.push(IoSlice::new(&out[run_start..p.head_end]));
                slices.push(IoSlice::new(p.middle));
                run_start = p.head_end;
            }
            let last_end = pieces.last().map(|p| p.end).unwrap_or(run_start);
            if last_end > run_start {
                slices.push(IoSlice::new(&out[run_start..last_end]));
            }
            match tokio::time::timeout(
                limits.write_timeout,
                write_all_vectored(&mut stream, &mut slices),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    counters.add(Counter::TcpTimeouts, 1);
                    break;
                }
            }
        }
        drop(pieces);
        drop(snapshot);
        if closing {
            break 'conn;
        }
        if end - start >= 2 {
            // More complete queries may be waiting (flushed early).
            let mlen = u16::from_be_bytes([rbuf[start], rbuf[start + 1]]) as usize;
            if end - start >= 2 + mlen {
                continue;
            }
        }
        // Make room: move the partial message to the front, grow to fit it.
        if start > 0 {
            rbuf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end >= 2 {
            let need = 2 + u16::from_be_bytes([rbuf[0], rbuf[1]]) as usize;
            if rbuf.len() < need {
                rbuf.resize(need.max(rbuf.len() * 2).min(2 + MAX_MESSAGE), 0);
            }
        }
        if end == rbuf.len() {
            rbuf.resize((rbuf.len() * 2).min(2 + MAX_MESSAGE), 0);
        }
        match tokio::time::timeout(limits.idle_timeout, stream.read(&mut rbuf[end..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => end += n,
            Err(_) => {
                counters.add(Counter::TcpTimeouts, 1);
                break;
            }
        }
    }
    tally.flush_into(counters);
    let _ = stream.shutdown().await;
}

/// `write_all` for a list of slices.
async fn write_all_vectored(
    stream: &mut TcpStream,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let n = stream.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}
