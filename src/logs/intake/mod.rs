//! Network log intake: syslog (UDP and TCP) and SMTP listeners in the
//! control process, each message or mail tied to a device and stored
//! through the [`LogService`].
//!
//! - [`syslog`]: RFC 5424 / RFC 3164 messages; the sending address names
//!   the device (a registered device prefix). Lines are batched per device
//!   and written every [`syslog::FLUSH_EVERY`] or [`syslog::FLUSH_LINES`].
//! - [`smtp`]: mail to `<log token>@<smtp_domain>`; body and attachments
//!   (plain, gzip, base64, quoted-printable) are one all-or-nothing upload,
//!   acknowledged (250) only once durable.
//!
//! Invariants: nothing a sender does (garbage bytes, overlong lines,
//! invalid UTF-8, half-open connections, floods) stops a listener or the
//! process; every queue, line, message, connection and wait is bounded by a
//! named constant; a line is stored for a device only when its sender was
//! that device (syslog) or knew its log token (SMTP).
//!
//! The bound addresses are written to [`SYSLOG_ADDR_FILE`] and
//! [`SMTP_ADDR_FILE`] in the data directory, one per line (port 0 picks a
//! free port; tests read the files).

pub mod smtp;
pub mod syslog;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::admin::store::{LogDevice, Store};
use crate::config::Config;
use crate::logs::ingest::Target;
use crate::logs::service::LogService;
use crate::logs::time::{Clock, Zone};

/// Data-directory file with the bound syslog addresses (UDP and TCP share
/// each), one per line.
pub const SYSLOG_ADDR_FILE: &str = "syslog-addr";
/// Data-directory file with the bound SMTP addresses, one per line.
pub const SMTP_ADDR_FILE: &str = "smtp-addr";
/// How long a sender address → device answer is trusted, a miss included
/// (a device added or removed in the admin takes effect within this).
pub const DEVICE_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most sender addresses remembered; past this, expired answers are
/// dropped, and if none were, all (a spoofed-source UDP flood cannot grow
/// memory).
pub const DEVICE_CACHE_MAX: usize = 65_536;
/// Warnings about floods (unknown senders, a full queue) are logged at most
/// this often, with the count since the last one.
pub const WARN_EVERY_SECS: i64 = 60;

/// Starts the configured listeners (`[logs] syslog_listen`, `smtp_listen`;
/// empty lists are off) and writes their bound addresses to the data
/// directory. Returns once every listener is bound; a busy or invalid
/// address is an error naming it.
pub async fn start(cfg: Arc<Config>, admin: Store, logs: LogService) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        devices: DeviceCache::new(admin.clone()),
        admin,
        logs,
    });
    let lc = &cfg.logs;
    let syslog_file = cfg.data_dir.join(SYSLOG_ADDR_FILE);
    if lc.syslog_listen.is_empty() {
        let _ = std::fs::remove_file(&syslog_file);
    } else {
        let bound = syslog::start(shared.clone(), &lc.syslog_listen).await?;
        write_addrs(&syslog_file, &bound)?;
        for a in &bound {
            tracing::info!(addr = %a, "syslog intake listening (UDP and TCP)");
        }
    }
    let smtp_file = cfg.data_dir.join(SMTP_ADDR_FILE);
    if lc.smtp_listen.is_empty() {
        let _ = std::fs::remove_file(&smtp_file);
    } else {
        let settings = smtp::Settings {
            domain: lc.smtp_domain.clone(),
            max_size: lc.max_upload,
        };
        let bound = smtp::start(shared, settings, &lc.smtp_listen).await?;
        write_addrs(&smtp_file, &bound)?;
        for a in &bound {
            tracing::info!(addr = %a, domain = %lc.smtp_domain, "SMTP log intake listening");
        }
    }
    Ok(())
}

fn write_addrs(path: &Path, addrs: &[SocketAddr]) -> anyhow::Result<()> {
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    crate::snapshot::write_atomic_file(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What every listener shares.
pub(crate) struct Shared {
    pub admin: Store,
    pub logs: LogService,
    pub devices: DeviceCache,
}

/// The zone of a device's zone-less log times; an unreadable stored value
/// (the admin validates it, so this is an old or hand-edited row) is UTC.
pub fn zone_from(tz: &str) -> Zone {
    tz.parse().unwrap_or_else(|e| {
        tracing::warn!(tz, error = %e, "device log zone not understood; reading its logs in UTC");
        Zone::Utc
    })
}

/// How a device's logs are read: its account, its zone, formats detected
/// per line.
pub fn target(d: &LogDevice) -> Target {
    Target {
        account: d.account,
        device: d.device,
        clock: Clock::new(zone_from(&d.tz), None),
        format: None,
    }
}

/// Sender address → device, remembered for [`DEVICE_CACHE_TTL`] (misses
/// too, so a flood from unknown senders costs one lookup per address).
pub(crate) struct DeviceCache {
    admin: Store,
    map: Mutex<HashMap<IpAddr, (Instant, Option<Arc<LogDevice>>)>>,
}

impl DeviceCache {
    fn new(admin: Store) -> DeviceCache {
        DeviceCache {
            admin,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The device whose prefix holds `ip` (IPv4-mapped IPv6 read as IPv4),
    /// or None; a failed lookup is None and not remembered.
    pub async fn by_addr(&self, ip: IpAddr) -> Option<Arc<LogDevice>> {
        let ip = crate::logs::record::canonical(ip);
        let hit = self
            .lock()
            .get(&ip)
            .filter(|(at, _)| at.elapsed() < DEVICE_CACHE_TTL)
            .map(|(_, d)| d.clone());
        if let Some(d) = hit {
            return d;
        }
        let admin = self.admin.clone();
        let found = tokio::task::spawn_blocking(move || admin.log_device_by_addr(ip)).await;
        let device = match found {
            Ok(Ok(d)) => d.map(Arc::new),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, %ip, "log intake: device lookup failed");
                return None;
            }
            Err(_) => return None,
        };
        let mut map = self.lock();
        if map.len() >= DEVICE_CACHE_MAX {
            map.retain(|_, (at, _)| at.elapsed() < DEVICE_CACHE_TTL);
            if map.len() >= DEVICE_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(ip, (Instant::now(), device.clone()));
        device
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, Option<Arc<LogDevice>>)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Intake counters (process totals since start).
#[derive(Debug, Default)]
pub struct Counters {
    /// Syslog messages queued for storing.
    pub syslog_messages: AtomicU64,
    /// Syslog lines stored.
    pub syslog_stored: AtomicU64,
    /// Messages from addresses that are no registered device (dropped).
    pub syslog_unknown_sender: AtomicU64,
    /// UDP messages dropped because the queue was full.
    pub syslog_queue_full: AtomicU64,
    /// Messages longer than the line limit (stored cut, as rejected).
    pub syslog_too_long: AtomicU64,
    /// Lines lost because the log archive refused a write.
    pub syslog_store_failed: AtomicU64,
    /// TCP connections refused: too many open.
    pub syslog_tcp_busy: AtomicU64,
    /// TCP connections closed for idling.
    pub syslog_tcp_timeouts: AtomicU64,
    /// SMTP connections accepted.
    pub smtp_connections: AtomicU64,
    /// SMTP connections refused: too many open.
    pub smtp_busy: AtomicU64,
    /// Mails stored (250 after DATA).
    pub smtp_accepted: AtomicU64,
    /// Mails refused after DATA (too large, undecodable, store failure).
    pub smtp_refused: AtomicU64,
    /// RCPT TO refused: no device has that log address.
    pub smtp_unknown_recipient: AtomicU64,
    /// Log lines stored from mails.
    pub smtp_lines: AtomicU64,
}

/// The process's intake counters.
pub static COUNTERS: Counters = Counters {
    syslog_messages: AtomicU64::new(0),
    syslog_stored: AtomicU64::new(0),
    syslog_unknown_sender: AtomicU64::new(0),
    syslog_queue_full: AtomicU64::new(0),
    syslog_too_long: AtomicU64::new(0),
    syslog_store_failed: AtomicU64::new(0),
    syslog_tcp_busy: AtomicU64::new(0),
    syslog_tcp_timeouts: AtomicU64::new(0),
    smtp_connections: AtomicU64::new(0),
    smtp_busy: AtomicU64::new(0),
    smtp_accepted: AtomicU64::new(0),
    smtp_refused: AtomicU64::new(0),
    smtp_unknown_recipient: AtomicU64::new(0),
    smtp_lines: AtomicU64::new(0),
};

/// One counter's value, with its metric name and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub name: &'static str,
    pub help: &'static str,
    pub value: u64,
}

impl Counters {
    /// Every counter: metric name, description, value.
    pub fn totals(&self) -> Vec<Total> {
        [
            (
                "syslog_messages",
                "Syslog messages received from registered devices and queued for storing.",
                &self.syslog_messages,
            ),
            (
                "syslog_stored",
                "Syslog lines stored in the log archive.",
                &self.syslog_stored,
            ),
            (
                "syslog_unknown_sender",
                "Syslog messages dropped: the sender is no registered device.",
                &self.syslog_unknown_sender,
            ),
            (
                "syslog_queue_full",
                "Syslog UDP messages dropped: the store queue was full.",
                &self.syslog_queue_full,
            ),
            (
                "syslog_too_long",
                "Syslog messages longer than the line limit (stored cut, as rejected).",
                &self.syslog_too_long,
            ),
            (
                "syslog_store_failed",
                "Syslog lines lost because the log archive refused a write.",
                &self.syslog_store_failed,
            ),
            (
                "syslog_tcp_busy",
                "Syslog TCP connections refused: too many open.",
                &self.syslog_tcp_busy,
            ),
            (
                "syslog_tcp_timeouts",
                "Syslog TCP connections closed for idling.",
                &self.syslog_tcp_timeouts,
            ),
            (
                "smtp_connections",
                "SMTP connections accepted.",
                &self.smtp_connections,
            ),
            (
                "smtp_busy",
                "SMTP connections refused: too many open.",
                &self.smtp_busy,
            ),
            (
                "smtp_accepted",
                "Mails stored (250 after DATA).",
                &self.smtp_accepted,
            ),
            (
                "smtp_refused",
                "Mails refused after DATA (too large, undecodable, store failure).",
                &self.smtp_refused,
            ),
            (
                "smtp_unknown_recipient",
                "SMTP recipients refused: no device has that log address.",
                &self.smtp_unknown_recipient,
            ),
            (
                "smtp_lines",
                "Log lines stored from mails.",
                &self.smtp_lines,
            ),
        ]
        .into_iter()
        .map(|(name, help, v)| Total {
            name,
            help,
            value: v.load(Relaxed),
        })
        .collect()
    }
}

/// Intake events: `emit` bumps the counter and writes the log line together
/// (flood events at most once per [`WARN_EVERY_SECS`]).
pub(crate) enum Event<'a> {
    SyslogUnknownSender {
        from: SocketAddr,
    },
    SyslogQueueFull,
    SyslogTooLong {
        from: SocketAddr,
    },
    SyslogStored {
        lines: u64,
    },
    SyslogStoreFailed {
        lines: u64,
        error: &'a dyn std::fmt::Display,
    },
    SyslogTcpBusy {
        from: SocketAddr,
    },
    SyslogTcpTimeout,
    SmtpConnection,
    SmtpBusy {
        from: SocketAddr,
    },
    SmtpAccepted {
        from: SocketAddr,
        device: i64,
        lines: u64,
        entries: u64,
    },
    SmtpRefused {
        from: SocketAddr,
        device: i64,
        why: &'a str,
    },
    SmtpUnknownRecipient {
        from: SocketAddr,
    },
}

/// Last time a rate-limited warning was written, and what it suppressed.
struct Limiter {
    last: AtomicI64,
    suppressed: AtomicU64,
}

impl Limiter {
    const fn new() -> Limiter {
        Limiter {
            last: AtomicI64::new(i64::MIN),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Some(count suppressed since the last warning) when one may be
    /// written now.
    fn allow(&self) -> Option<u64> {
        let now = crate::archive::Timestamp::now().unix();
        let last = self.last.load(Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

static UNKNOWN_SENDER: Limiter = Limiter::new();
static QUEUE_FULL: Limiter = Limiter::new();
static TOO_LONG: Limiter = Limiter::new();
static BUSY: Limiter = Limiter::new();

impl Event<'_> {
    pub fn emit(&self) {
        let c = &COUNTERS;
        match *self {
            Event::SyslogUnknownSender { from } => {
                c.syslog_unknown_sender.fetch_add(1, Relaxed);
                if let Some(more) = UNKNOWN_SENDER.allow() {
                    tracing::warn!(%from, suppressed = more, "syslog from an address that is no registered device; dropped");
                }
            }
            Event::SyslogQueueFull => {
                c.syslog_queue_full.fetch_add(1, Relaxed);
                if let Some(more) = QUEUE_FULL.allow() {
                    tracing::warn!(
                        suppressed = more,
                        "syslog queue full (the log archive is behind); UDP messages dropped"
                    );
                }
            }
            Event::SyslogTooLong { from } => {
                c.syslog_too_long.fetch_add(1, Relaxed);
                if let Some(more) = TOO_LONG.allow() {
                    tracing::warn!(%from, suppressed = more, limit = crate::logs::reader::MAX_LINE, "syslog message longer than the line limit; stored cut, as rejected");
                }
            }
            Event::SyslogStored { lines } => {
                c.syslog_stored.fetch_add(lines, Relaxed);
                tracing::debug!(lines, "syslog lines stored");
            }
            Event::SyslogStoreFailed { lines, error } => {
                c.syslog_store_failed.fetch_add(lines, Relaxed);
                tracing::error!(lines, %error, "syslog lines lost: the log archive refused the write");
            }
            Event::SyslogTcpBusy { from } => {
                c.syslog_tcp_busy.fetch_add(1, Relaxed);
                if let Some(more) = BUSY.allow() {
                    tracing::warn!(%from, suppressed = more, limit = syslog::MAX_TCP_CONNECTIONS, "syslog TCP connection refused: too many open");
                }
            }
            Event::SyslogTcpTimeout => {
                c.syslog_tcp_timeouts.fetch_add(1, Relaxed);
            }
            Event::SmtpConnection => {
                c.smtp_connections.fetch_add(1, Relaxed);
            }
            Event::SmtpBusy { from } => {
                c.smtp_busy.fetch_add(1, Relaxed);
                if let Some(more) = BUSY.allow() {
                    tracing::warn!(%from, suppressed = more, limit = smtp::MAX_CONNECTIONS, "SMTP connection refused: too many open");
                }
            }
            Event::SmtpAccepted {
                from,
                device,
                lines,
                entries,
            } => {
                c.smtp_accepted.fetch_add(1, Relaxed);
                c.smtp_lines.fetch_add(lines, Relaxed);
                tracing::info!(%from, device, lines, entries, "mailed log stored");
            }
            Event::SmtpRefused { from, device, why } => {
                c.smtp_refused.fetch_add(1, Relaxed);
                tracing::warn!(%from, device, why, "mailed log refused; nothing stored");
            }
            Event::SmtpUnknownRecipient { from } => {
                c.smtp_unknown_recipient.fetch_add(1, Relaxed);
                tracing::info!(%from, "mail to an unknown log address refused");
            }
        }
    }
}
