//! The responder (data plane): authoritative DNS over UDP and TCP from the
//! current snapshot.
//!
//! Start-up binds every listen address (UDP: one SO_REUSEPORT socket per
//! worker; TCP: one listener), loads the first snapshot, and only then
//! reports ready. Failing either exits at once with the cause. Afterwards a
//! watcher thread maps each new snapshot file, validates it and swaps it in
//! with `ArcSwap`; a file that fails to load is logged and counted, and the
//! previous snapshot keeps serving. Queries in flight finish on the snapshot
//! they started with (the mapping lives until the last reader drops it).
//!
//! With `--stats-file`, a thread writes the counters and each device's last
//! query time as JSON once a second (see [`write_stats`]).

pub mod query;
pub mod reload;
pub mod served;
pub mod tcp;
pub mod udp;
pub mod uring;

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};

use crate::metrics::Metrics;
use crate::snapshot::MappedSnapshot;
use served::ServedSnapshot;

/// Default listen address of the responder.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";
/// Socket buffer sizes asked for UDP sockets (the kernel may cap them).
const UDP_BUFFER: usize = 4 << 20;
/// UDP receive timeout: an idle worker wakes this often to drop a replaced
/// snapshot.
const UDP_IDLE_WAKE: Duration = Duration::from_secs(1);

/// Everything `feedwall dns` needs, validated.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    pub snapshot: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub workers: usize,
    pub ready_file: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    pub tcp: tcp::TcpLimits,
    pub udp_io: UdpIo,
}

/// How UDP workers receive and send (`--udp-io`). recvmmsg is the default:
/// it served 6-12% more queries per CPU-second than io_uring here (see
/// `uring.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum UdpIo {
    /// Blocking socket, batched recvmmsg/sendmmsg (`udp.rs`).
    #[default]
    Recvmmsg,
    /// io_uring: multishot receive into a provided-buffer ring, batched
    /// SendMsg (`uring.rs`); falls back to recvmmsg where unavailable.
    Uring,
}

/// Bound sockets of one listen address.
pub struct Bound {
    pub udp: Vec<UdpSocket>,
    pub tcp: StdTcpListener,
    pub addr: SocketAddr,
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    let _ = s.set_recv_buffer_size(UDP_BUFFER);
    let _ = s.set_send_buffer_size(UDP_BUFFER);
    s.set_read_timeout(Some(UDP_IDLE_WAKE))?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<StdTcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_tcp_nodelay(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Binds UDP (one socket per worker) and TCP on the same port. Port 0 picks a
/// free port that is free for both protocols.
pub fn bind(addr: SocketAddr, workers: usize) -> anyhow::Result<Bound> {
    for _attempt in 0..50 {
        let first = udp_socket(addr).with_context(|| format!("cannot bind UDP {addr}"))?;
        let actual = first.local_addr()?;
        let tcp = match tcp_listener(actual) {
            Ok(t) => t,
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot bind TCP {actual}")),
        };
        let mut udp = vec![first];
        for _ in 1..workers {
            udp.push(udp_socket(actual).with_context(|| format!("cannot bind UDP {actual}"))?);
        }
        return Ok(Bound {
            udp,
            tcp,
            addr: actual,
        });
    }
    bail!("no port free for both UDP and TCP on {}", addr.ip())
}

/// Runs the responder until SIGINT/SIGTERM.
pub fn run(opts: DnsOptions) -> anyhow::Result<()> {
    if opts.listen.is_empty() {
        bail!("no --listen address given");
    }
    let first = MappedSnapshot::open(&opts.snapshot)
        .with_context(|| format!("cannot load snapshot {}", opts.snapshot.display()))?;
    let serial = first.get().serial.to_native();
    let current = Arc::new(ArcSwap::from_pointee(ServedSnapshot::new(first)));
    let mut bound = Vec::new();
    for addr in &opts.listen {
        bound.push(bind(*addr, opts.workers)?);
    }
    let metrics = Metrics::new();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers.max(1))
        .thread_name("feedwall-tcp")
        .enable_all()
        .build()
        .context("cannot start the TCP runtime")?;

    let udp_io = match opts.udp_io {
        UdpIo::Uring => match uring::probe() {
            Ok(()) => UdpIo::Uring,
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unusable here; UDP uses recvmmsg");
                UdpIo::Recvmmsg
            }
        },
        other => other,
    };
    let addrs: Vec<SocketAddr> = bound.iter().map(|b| b.addr).collect();
    let mut tcp_listeners = Vec::new();
    for b in bound {
        for (i, sock) in b.udp.into_iter().enumerate() {
            let current = current.clone();
            let counters = metrics.register();
            std::thread::Builder::new()
                .name(format!("feedwall-udp-{i}"))
                .spawn(move || match udp_io {
                    UdpIo::Recvmmsg => udp::run_worker(sock, current, counters),
                    UdpIo::Uring => uring::run_worker(sock, current, counters),
                })
                .context("cannot start a UDP worker")?;
        }
        tcp_listeners.push(b.tcp);
    }

    reload::spawn_watcher(opts.snapshot.clone(), current.clone(), metrics.register())?;
    if let Some(path) = opts.stats_file.clone() {
        spawn_stats_writer(path, metrics.clone(), current.clone());
    }

    let tcp_counters = metrics.register();
    let limits = opts.tcp;
    let serving = current.clone();
    runtime.block_on(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        for l in tcp_listeners {
            let listener = tokio::net::TcpListener::from_std(l)?;
            tokio::spawn(tcp::serve(listener, serving.clone(), tcp_counters.clone(), limits, slots.clone()));
        }
        let listen: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        tracing::info!(serial, listen = ?listen, workers = opts.workers, ?udp_io, "responder serving");
        if let Some(path) = &opts.ready_file {
            let ready = serde_json::json!({ "listen": listen, "serial": serial, "pid": std::process::id() });
            crate::snapshot::write_atomic_file(path, ready.to_string().as_bytes())?;
        }
        wait_for_shutdown().await;
        anyhow::Ok(())
    })?;
    let totals = metrics.totals();
    tracing::info!(?totals, "responder stopped");
    if let Some(path) = &opts.stats_file {
        let _ = write_stats(path, &metrics, &current);
    }
    Ok(())
}

async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The stats file's content:
///
/// ```json
/// { "serial": 7, "written_unix": 1764322001,
///   "counters": { "queries": 12, "answer": 10, ... },
///   "devices": [ { "key": 17, "name": "fw1", "last_query_unix": 1764322000 },
///                { "key": 0, "name": "lab", "last_query_unix": null } ] }
/// ```
///
/// `counters` are sums since start (names in `metrics.rs`); `devices` are
/// the current snapshot's devices in its order, with the time (Unix
/// seconds) of their last query the ACL admitted, `null` when none since
/// the responder started. Times survive snapshot reloads (matched by key,
/// or by name for key 0) but not a restart.
pub fn stats_json(metrics: &Metrics, current: &ServedSnapshot, now_unix: u64) -> serde_json::Value {
    let devices: Vec<served::DeviceSeen<'_>> = current.devices().collect();
    serde_json::json!({
        "serial": current.get().serial.to_native(),
        "written_unix": now_unix,
        "counters": metrics.totals(),
        "devices": devices,
    })
}

fn write_stats(
    path: &std::path::Path,
    metrics: &Metrics,
    current: &ArcSwap<ServedSnapshot>,
) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let body = stats_json(metrics, &current.load_full(), now);
    crate::snapshot::write_atomic_file(path, body.to_string().as_bytes())?;
    Ok(())
}

/// Writes the stats file once a second (for scripts and the admin page's
/// `/metrics`).
fn spawn_stats_writer(path: PathBuf, metrics: Arc<Metrics>, current: Arc<ArcSwap<ServedSnapshot>>) {
    let _ = std::thread::Builder::new()
        .name("feedwall-stats".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if let Err(e) = write_stats(&path, &metrics, &current) {
                tracing::warn!(error = %e, "cannot write stats file");
            }
        });
}
