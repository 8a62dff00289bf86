//! Giving back to DShield: blocked log entries converted to DShield's
//! submission format and sent in batches to a configured endpoint (an HTTP
//! POST, or a mail through an SMTP relay).
//!
//! **Format** (DShield client framework, <https://isc.sans.edu/specs/>): one
//! record per line, nine tab-separated fields, as
//! [`Format::Dshield`](super::Format::Dshield) reads them back:
//!
//! ```text
//! date with zone             userid count src            sport dst           dport proto flags
//! 2026-11-03 00:06:50 +00:00 0      1     92.178.90.176  14384 198.51.100.0  389   17
//! ```
//!
//! Times are written in UTC (`+00:00`). For ICMP the port slots hold the
//! type and code (empty when the log gave none); other protocols without
//! ports get `0`, as DShield's own scripts write. Flags are TCP only. A mail
//! has the subject `FORMAT DSHIELD USERID <id> TZ +00:00 VERSION feedwall-x.y.z`.
//!
//! **What is sent.** Only blocked entries (DShield collects firewall
//! blocks). Entries of an account with a DShield user id go in that
//! account's own batches with its id; entries of accounts without one go in
//! anonymous bulk batches (user id 0) mixed across accounts. Dropped, and
//! counted: entries whose source or target lies in an excluded prefix or
//! uses an excluded port, entries more than [`MAX_FUTURE_SECS`] in the
//! future (a wrong clock) or older than [`MAX_AGE_SECS`]. With
//! `obfuscate_targets` (the default) a target address is masked to its
//! network: the last IPv4 octet, or the lower 64 bits of an IPv6 address,
//! become 0 ([`obfuscate`]). Sources are never masked: they are the data.
//!
//! **Progress** lives in `dshield.sqlite` beside the log archive (which is
//! only read):
//!
//! ```text
//! cursors          account → the last entry position the endpoint
//!                  acknowledged (log batch id, line).
//! inflight         the one batch being sent: batch id, user id, the exact
//!                  body, counts, attempts, next attempt time, last error.
//! inflight_ranges  per account in it: the positions it covers (after, upto].
//! stats            totals: batches and lines acknowledged, entries dropped
//!                  per reason, failed attempts.
//! ```
//!
//! An entry position is (log batch id, line), not the entries table's rowid:
//! log batch ids only grow (the chain anchor only moves forward), while a
//! rowid is reused once retention empties the table, and VACUUM may renumber
//! it.
//!
//! **Exactly once, as far as the receiver can tell.** A batch is written to
//! `inflight` (durable) *before* it is sent; the cursors move past it only
//! after the endpoint accepted it (HTTP 2xx, SMTP 250 after the data), in the
//! same transaction that clears `inflight`. A failed attempt keeps the batch
//! and retries it with exponential backoff (`retry_min`, doubling, at most
//! `retry_max`); it is never dropped. After a crash between the endpoint's
//! acceptance and our acknowledgement, the very same batch (same body, same
//! batch id) is resent, never a different overlapping one: a receiver drops
//! it by its batch id (`X-Feedwall-Batch` header; in a mail, also the
//! `Message-ID`). No line is ever part of two different batches.
//!
//! The seam for that: [`Submitter::prepare`] (write the batch),
//! [`Transport::send`], [`Submitter::acknowledge`]; [`Submitter::submit_once`]
//! runs the three, and [`Submitter::run`] loops it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::record::{Action, LogRecord, Proto, TcpFlags};
use super::store::{addr_from_bytes, LogStore, LogStoreError};
use crate::config::{DshieldConfig, DshieldEndpoint};

/// The progress file's name in the data directory.
pub const FILE_NAME: &str = "dshield.sqlite";
/// `application_id` of the progress file ("FWDS").
pub const APPLICATION_ID: i64 = 0x4657_4453;
/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;
/// Entries dated more than this after now are dropped (a wrong clock).
pub const MAX_FUTURE_SECS: i64 = 86_400;
/// Entries older than this are dropped: one year.
pub const MAX_AGE_SECS: i64 = 365 * 86_400;
/// An obfuscated IPv4 target keeps this prefix (the last octet becomes 0).
pub const OBFUSCATE_V4_PREFIX: u8 = 24;
/// An obfuscated IPv6 target keeps this prefix (the lower 64 bits become 0).
pub const OBFUSCATE_V6_PREFIX: u8 = 64;
/// The client name in the mail subject's `VERSION` and the User-Agent.
pub const CLIENT: &str = concat!("feedwall-", env!("CARGO_PKG_VERSION"));
/// The header (HTTP and mail) naming a batch; receivers dedupe by it.
pub const BATCH_HEADER: &str = "X-Feedwall-Batch";
/// The zone every line's date is written in.
pub const TZ: &str = "+00:00";

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest SMTP reply line read.
const SMTP_MAX_LINE: u64 = 4096;

/// Why a DShield operation failed (the submission itself: [`SendError`]).
#[derive(Debug, thiserror::Error)]
pub enum DshieldError {
    #[error("cannot open DShield progress {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a feedwall DShield progress file ({why})")]
    NotOurs { path: PathBuf, why: String },
    #[error("DShield progress: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Logs(#[from] LogStoreError),
    #[error("DShield HTTP client: {0}")]
    Client(String),
}

/// Why one submission attempt failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the SMTP relay answered {code} to {step}: {text}")]
    Smtp {
        step: &'static str,
        code: u16,
        text: String,
    },
    #[error("SMTP relay: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// Where an account's DShield user id comes from (the admin database).
pub trait UserIds: Send + Sync {
    /// The account's user id; None (or 0) submits its entries anonymously.
    /// An error skips the account until the next round.
    fn userid(&self, account: i64) -> Result<Option<u64>, String>;
}

impl UserIds for crate::admin::store::Store {
    fn userid(&self, account: i64) -> Result<Option<u64>, String> {
        match self.dshield_userid(account) {
            Ok(id) => Ok(id),
            // A removed account's remaining entries go anonymously.
            Err(crate::admin::store::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl UserIds for HashMap<i64, u64> {
    fn userid(&self, account: i64) -> Result<Option<u64>, String> {
        Ok(self.get(&account).copied())
    }
}

/// Where an entry sits in the log archive: its log batch and line. Only
/// grows; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub batch: i64,
    pub line: i64,
}

impl Position {
    /// Past every line of `batch`.
    fn end_of(batch: i64) -> Position {
        Position {
            batch,
            line: i64::MAX,
        }
    }
}

/// What one account contributes to a batch: entries after `after` up to
/// and including `upto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub account: i64,
    pub after: Position,
    pub upto: Position,
}

/// Entries left out of a batch, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// Excluded source or target prefix or port.
    pub excluded: u64,
    pub too_old: u64,
    pub too_new: u64,
}

/// A batch written to `inflight`: sent as it is until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub batch_id: String,
    /// 0: anonymous bulk.
    pub userid: u64,
    /// The lines, each ending in `\n`.
    pub body: String,
    pub lines: u64,
    pub dropped: Dropped,
    pub ranges: Vec<Range>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Unix seconds: not sent before this.
    pub next_attempt: i64,
    /// Unix seconds: when the batch was made (the mail's Date).
    pub created: i64,
}

impl Pending {
    /// The mail subject DShield reads the batch's user id and zone from.
    pub fn subject(&self) -> String {
        format!(
            "FORMAT DSHIELD USERID {} TZ {TZ} VERSION {CLIENT}",
            self.userid
        )
    }
}

/// Totals since the progress file was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Batches the endpoint acknowledged.
    pub batches: u64,
    /// Lines in them.
    pub lines: u64,
    pub dropped: Dropped,
    /// Failed attempts.
    pub failures: u64,
}

/// What one [`Submitter::submit_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing new to submit.
    Idle,
    /// The batch in flight waits for its retry time.
    Waiting { batch_id: String, until: i64 },
    /// The entries read were all dropped: the cursors moved, nothing sent.
    Advanced { dropped: Dropped },
    /// The endpoint accepted a batch.
    Sent {
        batch_id: String,
        userid: u64,
        lines: u64,
    },
    /// The attempt failed; the batch is kept for `retry_at`.
    Failed {
        batch_id: String,
        attempts: u32,
        retry_at: i64,
        error: String,
    },
}

/// The per-line rules: exclusions, age limits, target masking.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub obfuscate_targets: bool,
    pub exclude_sources: Vec<IpNet>,
    pub exclude_targets: Vec<IpNet>,
    pub exclude_source_ports: Vec<u16>,
    pub exclude_target_ports: Vec<u16>,
}

/// What [`Filter::apply`] made of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Line(String),
    Excluded,
    TooOld,
    TooNew,
}

impl Filter {
    pub fn from_config(cfg: &DshieldConfig) -> Filter {
        Filter {
            obfuscate_targets: cfg.obfuscate_targets,
            exclude_sources: cfg.exclude_sources.clone(),
            exclude_targets: cfg.exclude_targets.clone(),
            exclude_source_ports: cfg.exclude_source_ports.clone(),
            exclude_target_ports: cfg.exclude_target_ports.clone(),
        }
    }

    /// The line for a blocked entry at `now`, or why there is none.
    pub fn apply(&self, r: &LogRecord, userid: u64, now: i64) -> Verdict {
        if r.action != Action::Block {
            return Verdict::Excluded;
        }
        if r.time > now + MAX_FUTURE_SECS {
            return Verdict::TooNew;
        }
        if r.time < now - MAX_AGE_SECS {
            return Verdict::TooOld;
        }
        let port_in = |p: Option<u16>, list: &[u16]| p.is_some_and(|p| list.contains(&p));
        if self.exclude_sources.iter().any(|n| n.contains(&r.src))
            || self.exclude_targets.iter().any(|n| n.contains(&r.dst))
            || port_in(r.sport, &self.exclude_source_ports)
            || port_in(r.dport, &self.exclude_target_ports)
        {
            return Verdict::Excluded;
        }
        if self.obfuscate_targets {
            let mut masked = r.clone();
            masked.dst = obfuscate(r.dst);
            Verdict::Line(format_line(&masked, userid))
        } else {
            Verdict::Line(format_line(r, userid))
        }
    }
}

/// A target address masked to its network ([`OBFUSCATE_V4_PREFIX`],
/// [`OBFUSCATE_V6_PREFIX`]): `198.51.100.7` → `198.51.100.0`,
/// `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::`.
pub fn obfuscate(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let mask = u32::MAX << (32 - u32::from(OBFUSCATE_V4_PREFIX));
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & mask))
        }
        IpAddr::V6(v) => {
            let mask = u128::MAX << (128 - u32::from(OBFUSCATE_V6_PREFIX));
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & mask))
        }
    }
}

/// One submission line (without its line end), as is: no filter, no
/// masking.
pub fn format_line(r: &LogRecord, userid: u64) -> String {
    let date = chrono::DateTime::from_timestamp(r.time, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S");
    let port = |p: Option<u16>| p.map_or_else(|| "0".to_string(), |p| p.to_string());
    let (sport, dport) = if r.proto.is_icmp() {
        match r.icmp {
            Some((t, c)) => (t.to_string(), c.to_string()),
            None => (String::new(), String::new()),
        }
    } else {
        (port(r.sport), port(r.dport))
    };
    let flags = match r.flags {
        Some(f) if r.proto == Proto::TCP => f.to_string(),
        _ => String::new(),
    };
    format!(
        "{date} {TZ}\t{userid}\t{}\t{}\t{sport}\t{}\t{dport}\t{}\t{flags}",
        r.count.max(1),
        r.src,
        r.dst,
        r.proto.0
    )
}

/// The progress file and the batch builder (blocking; see [`Submitter`]
/// for the async side).
pub struct Progress {
    db: Connection,
    logs_path: PathBuf,
    logs: Option<LogStore>,
    filter: Filter,
    max_lines: usize,
    retry_min: Duration,
    retry_max: Duration,
    userids: Arc<dyn UserIds>,
}

/// The submission totals in `data_dir`'s `dshield.sqlite`, read without
/// taking part in the submitter's writes (None: no such file yet).
pub fn read_stats(data_dir: &Path) -> Option<Stats> {
    let path = data_dir.join(FILE_NAME);
    if !path.exists() {
        return None;
    }
    let db = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    db.busy_timeout(BUSY_TIMEOUT).ok()?;
    db.query_row(
        "SELECT batches, lines, excluded, too_old, too_new, failures FROM stats WHERE id = 1",
        [],
        stats_row,
    )
    .ok()
}

fn stats_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stats> {
    Ok(Stats {
        batches: r.get::<_, i64>(0)? as u64,
        lines: r.get::<_, i64>(1)? as u64,
        dropped: Dropped {
            excluded: r.get::<_, i64>(2)? as u64,
            too_old: r.get::<_, i64>(3)? as u64,
            too_new: r.get::<_, i64>(4)? as u64,
        },
        failures: r.get::<_, i64>(5)? as u64,
    })
}

impl Progress {
    /// Opens (creating if missing) `dshield.sqlite` in `data_dir`; entries
    /// are read from `logs.sqlite` there (which may not exist yet).
    pub fn open(
        data_dir: &Path,
        cfg: &DshieldConfig,
        userids: Arc<dyn UserIds>,
    ) -> Result<Progress, DshieldError> {
        let path = data_dir.join(FILE_NAME);
        let open_err = |source| DshieldError::Open {
            path: path.clone(),
            source,
        };
        let mut db = Connection::open(&path).map_err(open_err)?;
        db.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        migrate(&mut db, &path)?;
        Ok(Progress {
            db,
            logs_path: data_dir.join(super::store::FILE_NAME),
            logs: None,
            filter: Filter::from_config(cfg),
            max_lines: cfg.max_lines.max(1),
            retry_min: cfg.retry_min,
            retry_max: cfg.retry_max.max(cfg.retry_min),
            userids,
        })
    }

    /// The batch in flight, if any.
    pub fn inflight(&self) -> Result<Option<Pending>, DshieldError> {
        let head = self
            .db
            .query_row(
                "SELECT batch_id, userid, body, lines, excluded, too_old, too_new, attempts, next_attempt, created
                 FROM inflight WHERE id = 1",
                [],
                |r| {
                    Ok(Pending {
                        batch_id: r.get(0)?,
                        userid: r.get::<_, i64>(1)? as u64,
                        body: r.get(2)?,
                        lines: r.get::<_, i64>(3)? as u64,
                        dropped: Dropped {
                            excluded: r.get::<_, i64>(4)? as u64,
                            too_old: r.get::<_, i64>(5)? as u64,
                            too_new: r.get::<_, i64>(6)? as u64,
                        },
                        ranges: Vec::new(),
                        attempts: r.get(7)?,
                        next_attempt: r.get(8)?,
                        created: r.get(9)?,
                    })
                },
            )
            .optional()?;
        let Some(mut p) = head else { return Ok(None) };
        let mut st = self.db.prepare(
            "SELECT account, after_batch, after_line, upto_batch, upto_line
             FROM inflight_ranges ORDER BY account",
        )?;
        p.ranges = st
            .query_map([], |r| {
                Ok(Range {
                    account: r.get(0)?,
                    after: Position {
                        batch: r.get(1)?,
                        line: r.get(2)?,
                    },
                    upto: Position {
                        batch: r.get(3)?,
                        line: r.get(4)?,
                    },
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(p))
    }

    /// The batch to send now: the one in flight (whatever its retry time),
    /// or a new one built from the entries after the cursors and written to
    /// `inflight` before this returns. None: nothing new.
    pub fn prepare(&mut self, now: i64) -> Result<Option<Pending>, DshieldError> {
        if let Some(p) = self.inflight()? {
            return Ok(Some(p));
        }
        let Some(p) = self.build(now)? else {
            return Ok(None);
        };
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO inflight (id, batch_id, userid, body, lines, excluded, too_old, too_new, attempts, next_attempt, created)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8)",
            params![
                p.batch_id,
                p.userid as i64,
                p.body,
                p.lines as i64,
                p.dropped.excluded as i64,
                p.dropped.too_old as i64,
                p.dropped.too_new as i64,
                p.created,
            ],
        )?;
        for r in &p.ranges {
            tx.execute(
                "INSERT INTO inflight_ranges (account, after_batch, after_line, upto_batch, upto_line)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.account, r.after.batch, r.after.line, r.upto.batch, r.upto.line],
            )?;
        }
        tx.commit()?;
        Ok(Some(p))
    }

    /// The endpoint accepted `p`: its accounts' cursors move past it and
    /// it leaves `inflight`. A batch no longer in flight is ignored.
    pub fn acknowledge(&mut self, p: &Pending) -> Result<(), DshieldError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<String> = tx
            .query_row("SELECT batch_id FROM inflight WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if current.as_deref() != Some(p.batch_id.as_str()) {
            return Ok(());
        }
        for r in &p.ranges {
            // max(): a cursor never moves back.
            tx.execute(
                "INSERT INTO cursors (account, batch, line) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET
                   line = CASE WHEN (excluded.batch, excluded.line) > (cursors.batch, cursors.line) THEN excluded.line ELSE cursors.line END,
                   batch = CASE WHEN (excluded.batch, excluded.line) > (cursors.batch, cursors.line) THEN excluded.batch ELSE cursors.batch END",
                params![r.account, r.upto.batch, r.upto.line],
            )?;
        }
        tx.execute(
            "UPDATE stats SET batches = batches + ?1, lines = lines + ?2, excluded = excluded + ?3,
               too_old = too_old + ?4, too_new = too_new + ?5 WHERE id = 1",
            params![
                i64::from(p.lines > 0),
                p.lines as i64,
                p.dropped.excluded as i64,
                p.dropped.too_old as i64,
                p.dropped.too_new as i64,
            ],
        )?;
        tx.execute("DELETE FROM inflight_ranges", [])?;
        tx.execute("DELETE FROM inflight", [])?;
        tx.commit()?;
        Ok(())
    }

    /// An attempt at `p` failed at `now`: it stays in flight, retried after
    /// the backoff. Returns the retry time.
    pub fn failed(&mut self, p: &Pending, error: &str, now: i64) -> Result<i64, DshieldError> {
        let retry_at = now + self.backoff(p.attempts).as_secs() as i64;
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE inflight SET attempts = attempts + 1, next_attempt = ?1, last_error = ?2
             WHERE id = 1 AND batch_id = ?3",
            params![retry_at, error, p.batch_id],
        )?;
        tx.execute("UPDATE stats SET failures = failures + 1 WHERE id = 1", [])?;
        tx.commit()?;
        Ok(retry_at)
    }

    /// The delay after the `attempts`+1-th failure: `retry_min` doubled per
    /// earlier failure, at most `retry_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX);
        self.retry_min
            .checked_mul(factor)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }

    /// An account's acknowledged position (None: nothing sent yet).
    pub fn cursor(&self, account: i64) -> Result<Option<Position>, DshieldError> {
        Ok(self
            .db
            .query_row(
                "SELECT batch, line FROM cursors WHERE account = ?1",
                [account],
                |r| {
                    Ok(Position {
                        batch: r.get(0)?,
                        line: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn stats(&self) -> Result<Stats, DshieldError> {
        Ok(self.db.query_row(
            "SELECT batches, lines, excluded, too_old, too_new, failures FROM stats WHERE id = 1",
            [],
            stats_row,
        )?)
    }

    /// A new batch from the log archive: the first account with a user id
    /// that has new entries, alone; else the accounts without one, in bulk,
    /// up to `max_lines` entries.
    fn build(&mut self, now: i64) -> Result<Option<Pending>, DshieldError> {
        if self.logs.is_none() {
            if !self.logs_path.exists() {
                return Ok(None);
            }
            self.logs = Some(LogStore::open_read_only(&self.logs_path)?);
        }
        let cursors: HashMap<i64, Position> = {
            let mut st = self
                .db
                .prepare("SELECT account, batch, line FROM cursors")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Position {
                        batch: r.get(1)?,
                        line: r.get(2)?,
                    },
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let logs = self.logs.as_ref().expect("opened above").connection();
        // One read transaction: every entry of a log batch up to the
        // account's newest batch is visible, so a short read means the
        // account's entries were all seen up to there.
        let tx = logs.unchecked_transaction()?;
        let accounts: Vec<(i64, i64)> = {
            let mut st = tx.prepare(
                "SELECT account, max(id) FROM batches GROUP BY account ORDER BY account",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut own = Vec::new();
        let mut anonymous = Vec::new();
        for (account, newest) in accounts {
            let after = cursors.get(&account).copied().unwrap_or_default();
            if after >= Position::end_of(newest) {
                continue;
            }
            match self.userids.userid(account) {
                Ok(Some(id)) if id > 0 => own.push((account, after, newest, id)),
                Ok(_) => anonymous.push((account, after, newest)),
                Err(e) => {
                    tracing::warn!(account, error = %e, "DShield user id unknown; account skipped this round")
                }
            }
        }
        let mut batch = Batch::new(now);
        for (account, after, newest, userid) in own {
            batch.userid = userid;
            read_account(&tx, account, after, newest, self.max_lines, &mut batch)?;
            if !batch.ranges.is_empty() {
                return Ok(Some(batch.finish(&self.filter)));
            }
        }
        batch.userid = 0;
        for (account, after, newest) in anonymous {
            let room = self.max_lines.saturating_sub(batch.records.len());
            if room == 0 {
                break;
            }
            read_account(&tx, account, after, newest, room, &mut batch)?;
        }
        if batch.ranges.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch.finish(&self.filter)))
    }
}

/// A batch being assembled from the archive.
struct Batch {
    userid: u64,
    records: Vec<LogRecord>,
    ranges: Vec<Range>,
    now: i64,
}

impl Batch {
    fn new(now: i64) -> Batch {
        Batch {
            userid: 0,
            records: Vec::new(),
            ranges: Vec::new(),
            now,
        }
    }

    fn finish(self, filter: &Filter) -> Pending {
        let mut body = String::new();
        let mut lines = 0;
        let mut dropped = Dropped::default();
        for r in &self.records {
            match filter.apply(r, self.userid, self.now) {
                Verdict::Line(l) => {
                    body.push_str(&l);
                    body.push('\n');
                    lines += 1;
                }
                Verdict::Excluded => dropped.excluded += 1,
                Verdict::TooOld => dropped.too_old += 1,
                Verdict::TooNew => dropped.too_new += 1,
            }
        }
        Pending {
            batch_id: new_batch_id(),
            userid: self.userid,
            body,
            lines,
            dropped,
            ranges: self.ranges,
            attempts: 0,
            next_attempt: self.now,
            created: self.now,
        }
    }
}

/// Reads up to `limit` blocked entries of `account` after `after` (log
/// batches up to `newest`) into `batch`, with the range they cover: up to
/// the last one read, or the whole of `newest` when fewer than `limit`
/// were left (allowed entries after the last block are passed too).
fn read_account(
    conn: &Connection,
    account: i64,
    after: Position,
    newest: i64,
    limit: usize,
    batch: &mut Batch,
) -> Result<(), DshieldError> {
    let mut st = conn.prepare_cached(
        "SELECT batch, line, time, proto, src, sport, dst, dport, count, flags, icmp
         FROM entries INDEXED BY entries_by_batch
         WHERE (batch, line) > (?1, ?2) AND batch <= ?3 AND account = ?4 AND action = 0
         ORDER BY batch, line LIMIT ?5",
    )?;
    let bad = |i: usize| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            "bad stored address".into(),
        )
    };
    let rows = st.query_map(
        params![after.batch, after.line, newest, account, limit as i64],
        |r| {
            let pos = Position {
                batch: r.get(0)?,
                line: r.get(1)?,
            };
            let icmp: Option<i64> = r.get(10)?;
            let rec = LogRecord {
                time: r.get(2)?,
                action: Action::Block,
                proto: Proto(r.get(3)?),
                src: addr_from_bytes(&r.get::<_, Vec<u8>>(4)?).ok_or_else(|| bad(4))?,
                sport: r.get(5)?,
                dst: addr_from_bytes(&r.get::<_, Vec<u8>>(6)?).ok_or_else(|| bad(6))?,
                dport: r.get(7)?,
                count: r.get(8)?,
                flags: r.get::<_, Option<u8>>(9)?.map(TcpFlags),
                icmp: icmp.map(|v| ((v >> 8) as u8, (v & 0xFF) as u8)),
            };
            Ok((pos, rec))
        },
    )?;
    let mut last = None;
    let mut n = 0;
    for row in rows {
        let (pos, rec) = row?;
        batch.records.push(rec);
        last = Some(pos);
        n += 1;
    }
    let upto = match last {
        Some(pos) if n >= limit => pos,
        _ => Position::end_of(newest),
    };
    if upto > after {
        batch.ranges.push(Range {
            account,
            after,
            upto,
        });
    }
    Ok(())
}

/// 128 random bits in hex.
fn new_batch_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: still unique per process and time.
        b[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
        b[8..].copy_from_slice(&crate::archive::Timestamp::now().unix().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn migrate(db: &mut Connection, path: &Path) -> Result<(), DshieldError> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app: i64 = tx.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app != APPLICATION_ID {
        let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if app != 0 || version != 0 || tables != 0 {
            return Err(DshieldError::NotOurs {
                path: path.to_path_buf(),
                why: format!("application_id {app:#x}, {tables} tables"),
            });
        }
    }
    if version > SCHEMA_VERSION {
        return Err(DshieldError::NotOurs {
            path: path.to_path_buf(),
            why: format!("schema {version} is newer than this build's {SCHEMA_VERSION}"),
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    tx.execute_batch(
        "
        CREATE TABLE cursors (
            account INTEGER PRIMARY KEY,
            batch   INTEGER NOT NULL,
            line    INTEGER NOT NULL
        );
        CREATE TABLE inflight (
            id           INTEGER PRIMARY KEY CHECK (id = 1),
            batch_id     TEXT NOT NULL,
            userid       INTEGER NOT NULL,
            body         TEXT NOT NULL,
            lines        INTEGER NOT NULL,
            excluded     INTEGER NOT NULL,
            too_old      INTEGER NOT NULL,
            too_new      INTEGER NOT NULL,
            attempts     INTEGER NOT NULL,
            next_attempt INTEGER NOT NULL,
            created      INTEGER NOT NULL,
            last_error   TEXT
        );
        CREATE TABLE inflight_ranges (
            account     INTEGER PRIMARY KEY,
            after_batch INTEGER NOT NULL,
            after_line  INTEGER NOT NULL,
            upto_batch  INTEGER NOT NULL,
            upto_line   INTEGER NOT NULL
        );
        CREATE TABLE stats (
            id       INTEGER PRIMARY KEY CHECK (id = 1),
            batches  INTEGER NOT NULL,
            lines    INTEGER NOT NULL,
            excluded INTEGER NOT NULL,
            too_old  INTEGER NOT NULL,
            too_new  INTEGER NOT NULL,
            failures INTEGER NOT NULL
        );
        INSERT INTO stats VALUES (1, 0, 0, 0, 0, 0, 0);
        ",
    )?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// How batches leave the appliance. Cheap to clone.
#[derive(Clone)]
pub enum Transport {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Smtp {
        relay: String,
        mail_to: String,
        mail_from: String,
        timeout: Duration,
    },
}

impl Transport {
    pub fn new(endpoint: &DshieldEndpoint, timeout: Duration) -> Result<Transport, DshieldError> {
        Ok(match endpoint {
            DshieldEndpoint::Http { url } => Transport::Http {
                client: http_client(timeout)?,
                url: url.clone(),
            },
            DshieldEndpoint::Smtp {
                relay,
                mail_to,
                mail_from,
            } => Transport::Smtp {
                relay: relay.clone(),
                mail_to: mail_to.clone(),
                mail_from: mail_from.clone(),
                timeout,
            },
        })
    }

    /// One attempt at delivering `p`; Ok only when the endpoint accepted it
    /// (HTTP 2xx; SMTP 250 after the data).
    pub async fn send(&self, p: &Pending) -> Result<(), SendError> {
        match self {
            Transport::Http { client, url } => {
                let resp = client
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "text/plain; charset=us-ascii",
                    )
                    .header(BATCH_HEADER, &p.batch_id)
                    .body(p.body.clone())
                    .send()
                    .await
                    .map_err(|e| SendError::Http(cause_chain(&e)))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(SendError::Status(resp.status().as_u16()))
                }
            }
            Transport::Smtp {
                relay,
                mail_to,
                mail_from,
                timeout,
            } => {
                let message = mail_message(p, mail_from, mail_to);
                let hello = domain_of(mail_from);
                tokio::time::timeout(
                    *timeout,
                    smtp_send(relay, hello, mail_from, mail_to, &message),
                )
                .await
                .map_err(|_| SendError::Timeout(*timeout))?
            }
        }
    }
}

/// reqwest on rustls (ring), the Mozilla roots compiled in; no redirects
/// (a POST is not replayed elsewhere).
fn http_client(timeout: Duration) -> Result<reqwest::Client, DshieldError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: fine either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect::<Vec<_>>();
    reqwest::Client::builder()
        .user_agent(CLIENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| DshieldError::Client(cause_chain(&e)))
}

fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

fn domain_of(mail: &str) -> &str {
    mail.rsplit_once('@').map_or("localhost", |(_, d)| d)
}

/// The whole mail (headers, blank line, the lines), CRLF line ends. The
/// same batch always makes the same mail.
pub fn mail_message(p: &Pending, from: &str, to: &str) -> String {
    let date = chrono::DateTime::from_timestamp(p.created, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000");
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{}@{}>\r\n{BATCH_HEADER}: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        p.subject(),
        p.batch_id,
        domain_of(from),
        p.batch_id,
    );
    for line in p.body.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

/// One SMTP transaction (RFC 5321): EHLO (HELO if refused), MAIL, RCPT,
/// DATA with dot-stuffing, QUIT. Plain text: the relay is local or trusted.
async fn smtp_send(
    relay: &str,
    hello: &str,
    from: &str,
    to: &str,
    message: &str,
) -> Result<(), SendError> {
    let stream = tokio::net::TcpStream::connect(relay).await?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    expect(&mut r, "greeting", &[220]).await?;
    w.write_all(format!("EHLO {hello}\r\n").as_bytes()).await?;
    if reply(&mut r).await?.0 != 250 {
        w.write_all(format!("HELO {hello}\r\n").as_bytes()).await?;
        expect(&mut r, "HELO", &[250]).await?;
    }
    w.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await?;
    expect(&mut r, "MAIL FROM", &[250]).await?;
    w.write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
        .await?;
    expect(&mut r, "RCPT TO", &[250, 251]).await?;
    w.write_all(b"DATA\r\n").await?;
    expect(&mut r, "DATA", &[354]).await?;
    let mut data = String::with_capacity(message.len() + 16);
    for line in message.split_terminator("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    w.write_all(data.as_bytes()).await?;
    expect(&mut r, "the message", &[250]).await?;
    // Accepted: a failing QUIT changes nothing.
    let _ = w.write_all(b"QUIT\r\n").await;
    let _ = reply(&mut r).await;
    Ok(())
}

async fn expect<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    step: &'static str,
    codes: &[u16],
) -> Result<(), SendError> {
    let (code, text) = reply(r).await?;
    if codes.contains(&code) {
        Ok(())
    } else {
        Err(SendError::Smtp { step, code, text })
    }
}

/// One (possibly multi-line) reply: its code and last line's text.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Result<(u16, String), SendError> {
    loop {
        let mut line = String::new();
        let n = (&mut *r).take(SMTP_MAX_LINE).read_line(&mut line).await?;
        if n == 0 {
            return Err(SendError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the relay closed the connection",
            )));
        }
        let line = line.trim_end();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                SendError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an SMTP reply: {line:?}"),
                ))
            })?;
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, line.get(4..).unwrap_or("").to_string()));
        }
    }
}

/// Submission, driven by [`Submitter::run`] (or step by step in tests).
/// Cheap to clone; all clones share the progress file.
#[derive(Clone)]
pub struct Submitter {
    progress: Arc<Mutex<Progress>>,
    transport: Transport,
    interval: Duration,
}

impl Submitter {
    /// Opens the progress file in `data_dir` and the endpoint of `cfg`
    /// (which must have one).
    pub fn open(
        data_dir: &Path,
        cfg: &DshieldConfig,
        userids: Arc<dyn UserIds>,
    ) -> Result<Submitter, DshieldError> {
        let endpoint = cfg.endpoint.as_ref().ok_or_else(|| {
            DshieldError::Client("no endpoint: set [dshield] url or smtp_relay".into())
        })?;
        let transport = Transport::new(endpoint, cfg.timeout)?;
        let progress = Progress::open(data_dir, cfg, userids)?;
        Ok(Submitter {
            progress: Arc::new(Mutex::new(progress)),
            transport,
            interval: cfg.interval,
        })
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Runs `f` on the progress file in a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Progress) -> Result<T, DshieldError> + Send + 'static,
    ) -> Result<T, DshieldError> {
        let progress = self.progress.clone();
        tokio::task::spawn_blocking(move || {
            let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut p)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// See [`Progress::prepare`]: the batch is durable in `inflight` when
    /// this returns.
    pub async fn prepare(&self, now: i64) -> Result<Option<Pending>, DshieldError> {
        self.with(move |p| p.prepare(now)).await
    }

    /// See [`Progress::acknowledge`].
    pub async fn acknowledge(&self, pending: Pending) -> Result<(), DshieldError> {
        self.with(move |p| p.acknowledge(&pending)).await
    }

    pub async fn stats(&self) -> Result<Stats, DshieldError> {
        self.with(|p| p.stats()).await
    }

    pub async fn cursor(&self, account: i64) -> Result<Option<Position>, DshieldError> {
        self.with(move |p| p.cursor(account)).await
    }

    /// One step at time `now`: the batch in flight (when its retry time has
    /// come) or a new one, sent and acknowledged, or kept for a retry.
    pub async fn submit_once(&self, now: i64) -> Result<Step, DshieldError> {
        let Some(pending) = self.prepare(now).await? else {
            return Ok(Step::Idle);
        };
        if pending.next_attempt > now {
            return Ok(Step::Waiting {
                batch_id: pending.batch_id,
                until: pending.next_attempt,
            });
        }
        if pending.lines == 0 {
            let dropped = pending.dropped;
            self.acknowledge(pending).await?;
            return Ok(Step::Advanced { dropped });
        }
        match self.transport.send(&pending).await {
            Ok(()) => {
                let step = Step::Sent {
                    batch_id: pending.batch_id.clone(),
                    userid: pending.userid,
                    lines: pending.lines,
                };
                self.acknowledge(pending).await?;
                Ok(step)
            }
            Err(e) => {
                let error = e.to_string();
                let (err, attempts) = (error.clone(), pending.attempts + 1);
                let batch_id = pending.batch_id.clone();
                let retry_at = self.with(move |p| p.failed(&pending, &err, now)).await?;
                Ok(Step::Failed {
                    batch_id,
                    attempts,
                    retry_at,
                    error,
                })
            }
        }
    }

    /// Submits whatever is new every `interval`, retrying failures at
    /// their backoff time; runs forever (spawn it).
    pub async fn run(self) {
        loop {
            let mut wake = None;
            loop {
                let now = crate::archive::Timestamp::now().unix();
                match self.submit_once(now).await {
                    Ok(Step::Sent {
                        batch_id,
                        userid,
                        lines,
                    }) => {
                        tracing::info!(batch = %batch_id, userid, lines, "DShield submission accepted");
                    }
                    Ok(Step::Advanced { dropped }) => {
                        tracing::debug!(?dropped, "DShield: entries passed without a submission");
                    }
                    Ok(Step::Idle) => break,
                    Ok(Step::Waiting { until, .. }) => {
                        wake = Some(until);
                        break;
                    }
                    Ok(Step::Failed {
                        batch_id,
                        attempts,
                        retry_at,
                        error,
                    }) => {
                        tracing::warn!(batch = %batch_id, attempts, retry_at, %error, "DShield submission failed; it will be retried");
                        wake = Some(retry_at);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "DShield submission round failed");
                        break;
                    }
                }
            }
            let now = crate::archive::Timestamp::now().unix();
            let sleep = match wake {
                Some(t) => Duration::from_secs(t.saturating_sub(now).max(1) as u64),
                None => self.interval,
            }
            .min(self.interval);
            tokio::time::sleep(sleep).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(proto: Proto, dst: &str) -> LogRecord {
        LogRecord::new(
            1_800_000_000,
            Action::Block,
            proto,
            "192.0.2.9".parse().unwrap(),
            dst.parse().unwrap(),
        )
        .with_ports(Some(4444), Some(22))
    }

    #[test]
    fn lines_have_nine_fields_in_utc() {
        let mut r = rec(Proto::TCP, "198.51.100.7");
        r.flags = Some(TcpFlags(TcpFlags::SYN | TcpFlags::ACK));
        r.count = 3;
        assert_eq!(
            format_line(&r, 42),
            "2027-01-15 08:00:00 +00:00\t42\t3\t192.0.2.9\t4444\t198.51.100.7\t22\t6\tAS"
        );
        let mut icmp = rec(Proto::ICMP, "198.51.100.7");
        assert!(format_line(&icmp, 0).ends_with("\t192.0.2.9\t\t198.51.100.7\t\t1\t"));
        icmp.icmp = Some((8, 0));
        assert!(format_line(&icmp, 0).ends_with("\t192.0.2.9\t8\t198.51.100.7\t0\t1\t"));
        let gre = rec(Proto(47), "198.51.100.7");
        assert!(format_line(&gre, 0).ends_with("\t0\t198.51.100.7\t0\t47\t"));
    }

    #[test]
    fn targets_are_masked_to_their_network() {
        assert_eq!(
            obfuscate("198.51.100.7".parse().unwrap()).to_string(),
            "198.51.100.0"
        );
        assert_eq!(
            obfuscate("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(),
            "2001:db8:1:2::"
        );
    }

    #[test]
    fn filter_drops_by_age_and_exclusion() {
        let f = Filter {
            obfuscate_targets: true,
            exclude_sources: vec!["192.0.2.0/28".parse().unwrap()],
            exclude_target_ports: vec![23],
            ..Filter::default()
        };
        let r = rec(Proto::TCP, "198.51.100.7");
        let now = r.time;
        assert_eq!(f.apply(&r, 0, now), Verdict::Excluded);
        let mut ok = r.clone();
        ok.src = "192.0.2.99".parse().unwrap();
        let Verdict::Line(l) = f.apply(&ok, 0, now) else {
            panic!()
        };
        assert!(l.contains("\t198.51.100.0\t"), "{l}");
        assert_eq!(f.apply(&ok, 0, now + MAX_AGE_SECS + 1), Verdict::TooOld);
        assert_eq!(f.apply(&ok, 0, now - MAX_FUTURE_SECS - 1), Verdict::TooNew);
        let mut telnet = ok.clone();
        telnet.dport = Some(23);
        assert_eq!(f.apply(&telnet, 0, now), Verdict::Excluded);
    }
}
