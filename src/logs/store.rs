//! The log archive: every parsed firewall record in embedded SQLite,
//! append-only and hash-chained, with hourly and daily roll-ups for reports.
//!
//! ```text
//! batches   id, account, device, source, received, line counts, raw (gzip of
//!           the batch's lines), prev, hash. One row per stored chunk of an
//!           upload, a mail, or a few hundred ms of syslog.
//! entries   batch, line, account, device, time, action, proto, src, sport,
//!           dst, dport, count, flags, icmp, feedset. `line` is the 1-based
//!           line in the batch's raw text: the raw line reference.
//! problems  batch, line, reason: every rejected line (ignored lines are
//!           counted in the batch and kept in its raw text).
//! feedsets  id, feeds: the set of feeds (sorted keys, comma-separated) that
//!           listed an entry's source or destination at the entry's time;
//!           id 0 is the empty set.
//! rollup    account, device, hour, action, proto, feedset, n: connection
//!           counts per hour (timeline, feeds, devices, protocols).
//! top       account, kind (src/dst/port), span (hour/day), bucket, key,
//!           action, feedset, n: the same counts per source, destination
//!           and port, by hour and by day (a report sums whole days from the
//!           day rows and the ragged ends from the hour rows).
//! anchor    the last batch retention removed and its hash, where the chain
//!           now starts.
//! ```
//!
//! **Tamper evidence.** A batch's hash is SHA-256 over the previous batch's
//! hash, the batch's own fields, the SHA-256 of its raw text, every entry
//! (in line order, fixed-width encoding, feed correlation excluded: it is
//! derived, recomputable data) and every rejected line's reason.
//! `feedwall logs verify` recomputes the chain from the anchor; an edited,
//! removed or inserted batch or entry breaks it at that batch. Triggers make
//! the tables append-only (no UPDATE; DELETE only at or below the anchor,
//! which only moves forward).
//!
//! **Durability.** WAL with `synchronous=FULL`: once [`LogStore::append`]
//! returns, the batch survives a kill -9 or a power cut. Receipts are only
//! given after that.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use super::reader::Counts;
use super::record::{Action, LogRecord, Proto, TcpFlags};

/// `application_id` of a feedwall log archive ("FWLG").
pub const APPLICATION_ID: i64 = 0x4657_4C47;
/// Schema version this build writes and reads.
///
/// 1. The tables and triggers of the module docs, with an index on
///    `entries (account, time)`.
/// 2. Without that index: nothing reads entries by time (reports read the
///    roll-ups, DShield reads by batch), and keeping it cost a tenth of the
///    ingest time.
pub const SCHEMA_VERSION: i64 = 2;
/// The oldest schema a read-only open accepts: version 1 only has one more
/// index, which no reader uses.
const READABLE_FROM: i64 = 1;
/// The database file's name in the data directory.
pub const FILE_NAME: &str = "logs.sqlite";

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Page cache, KiB.
const CACHE_KIB: i64 = 32 * 1024;

/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Upload,
    Api,
    Smtp,
    Syslog,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Upload => "upload",
            Source::Api => "api",
            Source::Smtp => "smtp",
            Source::Syslog => "syslog",
            Source::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "upload" => Source::Upload,
            "api" => Source::Api,
            "smtp" => Source::Smtp,
            "syslog" => Source::Syslog,
            "cli" => Source::Cli,
            _ => return None,
        })
    }
}

/// Why a log-archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    #[error("cannot open log archive {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a feedwall log archive ({why})")]
    NotOurs { path: PathBuf, why: String },
    #[error("{path} has log archive schema {found}, newer than this build's {supported}")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("log archive: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// One entry to store: the record, its line in the batch's raw text, and
/// the feed set its addresses were listed in at its time.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub line: u32,
    pub record: LogRecord,
    pub feedset: i64,
}

/// A batch to append.
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    pub account: i64,
    pub device: i64,
    pub source: Source,
    /// Unix seconds.
    pub received: i64,
    /// The batch's lines, each ending in `\n`, gzip-compressed.
    pub raw_gz: &'a [u8],
    pub counts: Counts,
    pub entries: &'a [NewEntry],
    /// Rejected lines: (line, reason).
    pub problems: &'a [(u32, &'a str)],
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub batches: u64,
    pub entries: u64,
    /// The first batch whose hash does not match, and why.
    pub broken: Option<(i64, String)>,
}

/// The open log archive. One writer (`&mut self`); readers may open the
/// file beside it.
pub struct LogStore {
    conn: Connection,
    path: PathBuf,
    feedsets: HashMap<String, i64>,
}

/// Roll-up span: one hour or one UTC day.
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// `top.kind` values.
pub const KIND_SRC: i64 = 0;
pub const KIND_DST: i64 = 1;
pub const KIND_PORT: i64 = 2;

impl LogStore {
    /// Opens (creating if missing) the log archive at `path`.
    pub fn open(path: &Path) -> Result<LogStore, LogStoreError> {
        let open_err = |source| LogStoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LogStoreError::NotOurs {
                path: path.to_path_buf(),
                why: format!("cannot switch to WAL journal (got {mode})"),
            });
        }
        migrate(&mut conn, path)?;
        let mut feedsets = HashMap::new();
        {
            let mut st = conn.prepare("SELECT id, feeds FROM feedsets")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, feeds) = row?;
                feedsets.insert(feeds, id);
            }
        }
        Ok(LogStore {
            conn,
            path: path.to_path_buf(),
            feedsets,
        })
    }

    /// Opens an existing log archive for reading only.
    pub fn open_read_only(path: &Path) -> Result<LogStore, LogStoreError> {
        let open_err = |source| LogStoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        let v = check_identity(&conn, path)?;
        if !(READABLE_FROM..=SCHEMA_VERSION).contains(&v) {
            return Err(LogStoreError::NotOurs {
                path: path.to_path_buf(),
                why: format!("schema version {v}, expected {READABLE_FROM} to {SCHEMA_VERSION}"),
            });
        }
        Ok(LogStore {
            conn,
            path: path.to_path_buf(),
            feedsets: HashMap::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for queries (reports) and tests. Writing through it
    /// bypasses the chain (the triggers still refuse updates).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The id of a feed set (sorted, de-duplicated feed keys), creating it
    /// when new. The empty set is 0.
    pub fn feedset(&mut self, feeds: &[&str]) -> Result<i64, LogStoreError> {
        feedset_id(&self.conn, &mut self.feedsets, feeds)
    }

    /// Every feed set: id → feed keys.
    pub fn feedsets(&self) -> Result<HashMap<i64, Vec<String>>, LogStoreError> {
        let mut st = self.conn.prepare_cached("SELECT id, feeds FROM feedsets")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        out.insert(0, Vec::new());
        for row in rows {
            let (id, feeds) = row?;
            out.insert(id, feeds.split(',').map(str::to_owned).collect());
        }
        Ok(out)
    }

    /// Appends batches in one transaction (all or none) and returns their
    /// ids. Durable when this returns.
    pub fn append(&mut self, batches: &[NewBatch<'_>]) -> Result<Vec<i64>, LogStoreError> {
        let mut w = self.writer()?;
        let mut ids = Vec::with_capacity(batches.len());
        for b in batches {
            ids.push(w.append(b)?);
        }
        w.commit()?;
        Ok(ids)
    }

    /// A write transaction for several batches (an upload in chunks): all
    /// of them are stored on [`Writer::commit`], none if it is dropped.
    pub fn writer(&mut self) -> Result<Writer<'_>, LogStoreError> {
        let LogStore { conn, feedsets, .. } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Writer {
            tx: Some(tx),
            feedsets,
            rollups: RollUps::new(),
            committed: false,
        })
    }

    /// Recomputes the hash chain from the anchor to the last batch.
    pub fn verify(&self) -> Result<Verified, LogStoreError> {
        verify(&self.conn)
    }

    /// Retention: removes batches received before `cutoff` (Unix seconds),
    /// with their entries and problems, and roll-up rows of buckets that end
    /// before it. The chain's anchor moves to the last removed batch.
    /// Returns the number of batches removed.
    pub fn prune(&mut self, cutoff: i64) -> Result<u64, LogStoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT id, hash FROM batches WHERE id = (SELECT max(id) FROM batches WHERE received < ?1)",
                [cutoff],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((last, hash)) = last else {
            return Ok(0);
        };
        tx.execute(
            "UPDATE anchor SET batch = ?1, hash = ?2 WHERE id = 1",
            params![last, hash],
        )?;
        tx.execute("DELETE FROM entries WHERE batch <= ?1", [last])?;
        tx.execute("DELETE FROM problems WHERE batch <= ?1", [last])?;
        let n = tx.execute("DELETE FROM batches WHERE id <= ?1", [last])? as u64;
        tx.execute("DELETE FROM rollup WHERE hour + 3600 <= ?1", [cutoff])?;
        tx.execute("DELETE FROM top WHERE bucket + span <= ?1", [cutoff])?;
        tx.commit()?;
        Ok(n)
    }

    /// How many entries an account has stored (all devices): the sum of
    /// its batches' record counts (each record is one entry).
    pub fn entry_count(&self, account: i64) -> Result<u64, LogStoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(records), 0) FROM batches WHERE account = ?1",
            [account],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// The raw text of one line of a batch (the entry's raw line reference).
    pub fn raw_line(&self, batch: i64, line: u32) -> Result<Option<String>, LogStoreError> {
        let raw: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT raw FROM batches WHERE id = ?1", [batch], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(raw) = raw else { return Ok(None) };
        let text = gunzip(&raw);
        Ok(text
            .split('\n')
            .nth((line as usize).saturating_sub(1))
            .map(str::to_owned))
    }
}

/// An open write transaction; see [`LogStore::writer`].
pub struct Writer<'s> {
    tx: Option<Transaction<'s>>,
    feedsets: &'s mut HashMap<String, i64>,
    /// The appended batches' roll-up counts, written at commit.
    rollups: RollUps,
    committed: bool,
}

impl Writer<'_> {
    /// A feed set's id (see [`LogStore::feedset`]), inside this transaction.
    pub fn feedset(&mut self, feeds: &[&str]) -> Result<i64, LogStoreError> {
        let tx = self.tx.as_ref().expect("writer used after commit");
        feedset_id(tx, self.feedsets, feeds)
    }

    /// Appends one batch; returns its id.
    pub fn append(&mut self, b: &NewBatch<'_>) -> Result<i64, LogStoreError> {
        let tx = self.tx.as_ref().expect("writer used after commit");
        let id = append_one(tx, b)?;
        self.rollups.add(b);
        if self.rollups.len() >= ROLLUP_KEYS {
            self.rollups.write(tx)?;
        }
        Ok(id)
    }

    /// Makes every appended batch durable.
    pub fn commit(mut self) -> Result<(), LogStoreError> {
        if let Some(tx) = self.tx.take() {
            self.rollups.write(&tx)?;
            tx.commit()?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Writer<'_> {
    /// Rolled back: feed sets created inside the transaction are gone, so
    /// the cache forgets every id (they are looked up again when needed).
    fn drop(&mut self) {
        if !self.committed {
            self.feedsets.clear();
        }
    }
}

fn feedset_id(
    conn: &Connection,
    cache: &mut HashMap<String, i64>,
    feeds: &[&str],
) -> Result<i64, LogStoreError> {
    if feeds.is_empty() {
        return Ok(0);
    }
    let mut v: Vec<&str> = feeds.to_vec();
    v.sort_unstable();
    v.dedup();
    let key = v.join(",");
    if let Some(id) = cache.get(&key) {
        return Ok(*id);
    }
    conn.prepare_cached("INSERT OR IGNORE INTO feedsets (feeds) VALUES (?1)")?
        .execute([&key])?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM feedsets WHERE feeds = ?1")?
        .query_row([&key], |r| r.get(0))?;
    cache.insert(key, id);
    Ok(id)
}
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

fn check_identity(conn: &Connection, path: &Path) -> Result<i64, LogStoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app != APPLICATION_ID {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if app != 0 || version != 0 || tables != 0 {
            return Err(LogStoreError::NotOurs {
                path: path.to_path_buf(),
                why: format!("application_id {app:#x}, {tables} tables"),
            });
        }
    }
    if version > SCHEMA_VERSION {
        return Err(LogStoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LogStoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = check_identity(&tx, path)?;
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    if from == 0 {
        create_v1(&tx)?;
    }
    if from < 2 {
        tx.execute_batch("DROP INDEX IF EXISTS entries_by_account_time")?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// The version-1 schema; later versions migrate from it.
fn create_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE batches (
            id        INTEGER PRIMARY KEY,
            account   INTEGER NOT NULL,
            device    INTEGER NOT NULL,
            source    TEXT NOT NULL,
            received  INTEGER NOT NULL,
            records   INTEGER NOT NULL,
            rejected  INTEGER NOT NULL,
            ignored   INTEGER NOT NULL,
            skipped   INTEGER NOT NULL,
            raw       BLOB NOT NULL,
            prev      BLOB NOT NULL,
            hash      BLOB NOT NULL
        );
        CREATE INDEX batches_by_account ON batches(account, id);
        CREATE TABLE entries (
            batch   INTEGER NOT NULL,
            line    INTEGER NOT NULL,
            account INTEGER NOT NULL,
            device  INTEGER NOT NULL,
            time    INTEGER NOT NULL,
            action  INTEGER NOT NULL,
            proto   INTEGER NOT NULL,
            src     BLOB NOT NULL,
            sport   INTEGER,
            dst     BLOB NOT NULL,
            dport   INTEGER,
            count   INTEGER NOT NULL,
            flags   INTEGER,
            icmp    INTEGER,
            feedset INTEGER NOT NULL
        );
        CREATE INDEX entries_by_batch ON entries(batch, line);
        CREATE INDEX entries_by_account_time ON entries(account, time);
        CREATE TABLE problems (
            batch  INTEGER NOT NULL,
            line   INTEGER NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE INDEX problems_by_batch ON problems(batch, line);
        CREATE TABLE feedsets (
            id    INTEGER PRIMARY KEY,
            feeds TEXT NOT NULL UNIQUE
        );
        CREATE TABLE rollup (
            account INTEGER NOT NULL,
            hour    INTEGER NOT NULL,
            device  INTEGER NOT NULL,
            action  INTEGER NOT NULL,
            proto   INTEGER NOT NULL,
            feedset INTEGER NOT NULL,
            n       INTEGER NOT NULL,
            PRIMARY KEY (account, hour, device, action, proto, feedset)
        ) WITHOUT ROWID;
        CREATE TABLE top (
            account INTEGER NOT NULL,
            kind    INTEGER NOT NULL,
            span    INTEGER NOT NULL,
            bucket  INTEGER NOT NULL,
            key     BLOB NOT NULL,
            action  INTEGER NOT NULL,
            feedset INTEGER NOT NULL,
            n       INTEGER NOT NULL,
            PRIMARY KEY (account, kind, span, bucket, key, action, feedset)
        ) WITHOUT ROWID;
        CREATE TABLE anchor (
            id    INTEGER PRIMARY KEY CHECK (id = 1),
            batch INTEGER NOT NULL,
            hash  BLOB NOT NULL
        );
        INSERT INTO anchor (id, batch, hash) VALUES (1, 0, zeroblob(32));
        CREATE TRIGGER batches_append_only BEFORE UPDATE ON batches
            BEGIN SELECT RAISE(ABORT, 'log batches are append-only'); END;
        CREATE TRIGGER entries_append_only BEFORE UPDATE ON entries
            BEGIN SELECT RAISE(ABORT, 'log entries are append-only'); END;
        CREATE TRIGGER problems_append_only BEFORE UPDATE ON problems
            BEGIN SELECT RAISE(ABORT, 'log problems are append-only'); END;
        CREATE TRIGGER batches_delete_retention BEFORE DELETE ON batches
            WHEN OLD.id > (SELECT batch FROM anchor WHERE id = 1)
            BEGIN SELECT RAISE(ABORT, 'log batches are removed by retention only'); END;
        CREATE TRIGGER entries_delete_retention BEFORE DELETE ON entries
            WHEN OLD.batch > (SELECT batch FROM anchor WHERE id = 1)
            BEGIN SELECT RAISE(ABORT, 'log entries are removed by retention only'); END;
        CREATE TRIGGER anchor_forward BEFORE UPDATE ON anchor
            WHEN NEW.batch < OLD.batch
            BEGIN SELECT RAISE(ABORT, 'the chain anchor only moves forward'); END;
        ",
    )
}

/// An address as stored: 4 bytes for IPv4, 16 for IPv6.
pub fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The inverse of [`addr_bytes`].
pub fn addr_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// A port roll-up key: protocol, then the destination port (0xFFFF: none).
pub fn port_key(proto: Proto, dport: Option<u16>) -> [u8; 3] {
    let p = dport.unwrap_or(0xFFFF).to_be_bytes();
    [proto.0, p[0], p[1]]
}

/// Stored ICMP type/code: type * 256 + code.
fn icmp_value(r: &LogRecord) -> Option<i64> {
    r.icmp.map(|(t, c)| i64::from(t) * 256 + i64::from(c))
}

fn append_one(tx: &Transaction<'_>, b: &NewBatch<'_>) -> Result<i64, LogStoreError> {
    let (prev_id, prev): (i64, Vec<u8>) = match tx
        .query_row(
            "SELECT id, hash FROM batches ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
    {
        Some(p) => p,
        None => tx.query_row("SELECT batch, hash FROM anchor WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
    };
    let id = prev_id + 1;
    let hash = batch_hash(
        &prev,
        id,
        &header_of(b),
        b.raw_gz,
        b.entries.iter().map(|e| (e.line, &e.record)),
        b.problems.iter().map(|(l, r)| (*l, *r)),
    );
    tx.prepare_cached(
        "INSERT INTO batches (id, account, device, source, received, records, rejected, ignored, skipped, raw, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        id,
        b.account,
        b.device,
        b.source.as_str(),
        b.received,
        b.counts.records as i64,
        b.counts.rejected as i64,
        b.counts.ignored as i64,
        b.counts.skipped as i64,
        b.raw_gz,
        prev,
        hash.as_slice(),
    ])?;
    insert_entries(tx, id, b)?;
    {
        let mut ins =
            tx.prepare_cached("INSERT INTO problems (batch, line, reason) VALUES (?1, ?2, ?3)")?;
        for (line, reason) in b.problems {
            ins.execute(params![id, line, reason])?;
        }
    }
    Ok(id)
}

/// Entries per multi-row INSERT: a statement's start and finish cost about
/// as much as a row, so they are paid once per this many rows.
const INSERT_ROWS: usize = 64;

/// `INSERT INTO entries` of `rows` rows: ?1 batch, ?2 account, ?3 device
/// (the same for every row), then 12 parameters per row (see
/// [`bind_entry`]).
fn entries_insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO entries (batch, line, account, device, time, action, proto, src, sport, dst, dport, count, flags, icmp, feedset) VALUES ",
    );
    for row in 0..rows {
        let p = 4 + 12 * row;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(?1, ?{p}, ?2, ?3"));
        for i in 1..12 {
            sql.push_str(&format!(", ?{}", p + i));
        }
        sql.push(')');
    }
    sql
}

/// Binds one entry's own columns, from parameter `p` on.
fn bind_entry(st: &mut rusqlite::Statement<'_>, p: usize, e: &NewEntry) -> rusqlite::Result<()> {
    let r = &e.record;
    st.raw_bind_parameter(p, e.line)?;
    st.raw_bind_parameter(p + 1, r.time)?;
    st.raw_bind_parameter(p + 2, r.action.as_u8())?;
    st.raw_bind_parameter(p + 3, r.proto.0)?;
    st.raw_bind_parameter(p + 4, ShortKey::new(r.src).as_slice())?;
    st.raw_bind_parameter(p + 5, r.sport)?;
    st.raw_bind_parameter(p + 6, ShortKey::new(r.dst).as_slice())?;
    st.raw_bind_parameter(p + 7, r.dport)?;
    st.raw_bind_parameter(p + 8, r.count)?;
    st.raw_bind_parameter(p + 9, r.flags.map(|f| f.0))?;
    st.raw_bind_parameter(p + 10, icmp_value(r))?;
    st.raw_bind_parameter(p + 11, e.feedset)
}

/// Inserts a batch's entries, [`INSERT_ROWS`] per statement, bound in
/// place (no allocation per entry).
fn insert_entries(tx: &Transaction<'_>, id: i64, b: &NewBatch<'_>) -> rusqlite::Result<()> {
    static MANY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (many, rest) = b
        .entries
        .split_at(b.entries.len() / INSERT_ROWS * INSERT_ROWS);
    for (sql, rows, entries) in [
        (
            MANY.get_or_init(|| entries_insert_sql(INSERT_ROWS)),
            INSERT_ROWS,
            many,
        ),
        (ONE.get_or_init(|| entries_insert_sql(1)), 1, rest),
    ] {
        if entries.is_empty() {
            continue;
        }
        let mut st = tx.prepare_cached(sql)?;
        st.raw_bind_parameter(1, id)?;
        st.raw_bind_parameter(2, b.account)?;
        st.raw_bind_parameter(3, b.device)?;
        for group in entries.chunks_exact(rows) {
            for (i, e) in group.iter().enumerate() {
                bind_entry(&mut st, 4 + 12 * i, e)?;
            }
            st.raw_execute()?;
        }
    }
    Ok(())
}

/// Roll-up keys a writer gathers before writing them out mid-transaction
/// (about 64 bytes each in memory).
const ROLLUP_KEYS: usize = 256 * 1024;

/// A `rollup` row's key, packed in primary-key order: account, hour,
/// device, action, proto, feedset.
type HourKey = [u8; 34];
/// A `top` row's key without its span, packed in primary-key order:
/// account, kind, bucket, key (16 bytes, zero-padded, then its length),
/// action, feedset.
type TopKey = [u8; 43];

/// Roll-up counts summed in memory over a transaction's batches, then
/// added to the tables in one pass, in key order. An upload of many
/// batches writes each hour's and day's rows once instead of once per
/// batch. Only the hourly `top` rows are counted per entry; the daily ones
/// are summed from them when written.
///
/// The keys hold addresses from the logs, chosen by whoever sends the
/// packets: the maps hash them with a per-writer random seed.
struct RollUps {
    hours: HashMap<HourKey, i64, SeededXxh3>,
    tops: HashMap<TopKey, i64, SeededXxh3>,
}

impl RollUps {
    fn new() -> RollUps {
        let seed = SeededXxh3(fastrand::u64(..));
        RollUps {
            hours: HashMap::with_hasher(seed),
            tops: HashMap::with_hasher(seed),
        }
    }

    fn len(&self) -> usize {
        self.hours.len() + self.tops.len()
    }

    fn add(&mut self, b: &NewBatch<'_>) {
        for e in b.entries {
            let r = &e.record;
            let n = i64::from(r.count.max(1));
            let hour = r.time.div_euclid(HOUR) * HOUR;
            let a = r.action.as_u8();
            let mut k = Packer::<34>::new();
            k.i64(b.account)
                .i64(hour)
                .i64(b.device)
                .u8(a)
                .u8(r.proto.0)
                .i64(e.feedset);
            *self.hours.entry(k.0).or_default() += n;
            let port = port_key(r.proto, r.dport);
            for (kind, key) in [
                (KIND_SRC, ShortKey::new(r.src)),
                (KIND_DST, ShortKey::new(r.dst)),
                (KIND_PORT, ShortKey::from_slice(&port)),
            ] {
                *self
                    .tops
                    .entry(top_key(b.account, kind, hour, &key, a, e.feedset))
                    .or_default() += n;
            }
        }
    }

    /// Adds the counts to the tables and forgets them.
    fn write(&mut self, tx: &Transaction<'_>) -> Result<(), LogStoreError> {
        let mut hours: Vec<(HourKey, i64)> = self.hours.drain().collect();
        hours.sort_unstable();
        let mut up = tx.prepare_cached(
            "INSERT INTO rollup (account, hour, device, action, proto, feedset, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO UPDATE SET n = n + excluded.n",
        )?;
        for (k, n) in hours {
            let mut u = Unpacker(&k);
            let (account, hour, device) = (u.i64(), u.i64(), u.i64());
            let (action, proto, feedset) = (u.u8(), u.u8(), u.i64());
            up.execute(params![account, hour, device, action, proto, feedset, n])?;
        }
        let mut hour_rows: Vec<(TopKey, i64)> = self.tops.drain().collect();
        let mut days: HashMap<TopKey, i64, SeededXxh3> =
            HashMap::with_capacity_and_hasher(hour_rows.len() / 4, *self.tops.hasher());
        for (k, n) in &hour_rows {
            let mut day = *k;
            let hour = Unpacker(&k[9..17]).i64();
            day[9..17].copy_from_slice(&Packer::<8>::new().i64(hour.div_euclid(DAY) * DAY).0);
            *days.entry(day).or_default() += n;
        }
        let mut day_rows: Vec<(TopKey, i64)> = days.into_iter().collect();
        hour_rows.sort_unstable();
        day_rows.sort_unstable();
        let mut up = tx.prepare_cached(
            "INSERT INTO top (account, kind, span, bucket, key, action, feedset, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT DO UPDATE SET n = n + excluded.n",
        )?;
        for (span, rows) in [(HOUR, hour_rows), (DAY, day_rows)] {
            for (k, n) in rows {
                let mut u = Unpacker(&k);
                let (account, kind, bucket) = (u.i64(), u.u8(), u.i64());
                let key = u.take(17);
                let key = &key[..usize::from(key[16])];
                let (action, feedset) = (u.u8(), u.i64());
                up.execute(params![
                    account, kind, span, bucket, key, action, feedset, n
                ])?;
            }
        }
        Ok(())
    }
}

fn top_key(
    account: i64,
    kind: i64,
    bucket: i64,
    key: &ShortKey,
    action: u8,
    feedset: i64,
) -> TopKey {
    let mut k = Packer::<43>::new();
    k.i64(account)
        .u8(kind as u8)
        .i64(bucket)
        .bytes(&key.0)
        .u8(action)
        .i64(feedset);
    k.0
}

/// A `top.key` (an address or a [`port_key`]): 16 bytes, zero-padded,
/// then its length.
struct ShortKey([u8; 17]);

impl ShortKey {
    fn new(a: IpAddr) -> ShortKey {
        match a {
            IpAddr::V4(v) => ShortKey::from_slice(&v.octets()),
            IpAddr::V6(v) => ShortKey::from_slice(&v.octets()),
        }
    }

    fn from_slice(b: &[u8]) -> ShortKey {
        let mut k = [0; 17];
        k[..b.len()].copy_from_slice(b);
        k[16] = b.len() as u8;
        ShortKey(k)
    }

    fn as_slice(&self) -> &[u8] {
        &self.0[..usize::from(self.0[16])]
    }
}

/// Writes integers into a fixed-size key so that the bytes sort like the
/// values (big-endian, the sign bit flipped).
struct Packer<const N: usize>([u8; N], usize);

impl<const N: usize> Packer<N> {
    fn new() -> Self {
        Packer([0; N], 0)
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0[self.1..self.1 + b.len()].copy_from_slice(b);
        self.1 += b.len();
        self
    }

    fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes(&((v as u64) ^ (1 << 63)).to_be_bytes())
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes(&[v])
    }
}

/// Reads back what a [`Packer`] wrote.
struct Unpacker<'a>(&'a [u8]);

impl<'a> Unpacker<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn i64(&mut self) -> i64 {
        let b: [u8; 8] = self.take(8).try_into().expect("8 bytes");
        (u64::from_be_bytes(b) ^ (1 << 63)) as i64
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
}

/// xxh3 with a random seed, for the roll-up maps' fixed-size byte keys
/// (one call per key).
#[derive(Debug, Clone, Copy)]
struct SeededXxh3(u64);

impl std::hash::BuildHasher for SeededXxh3 {
    type Hasher = Xxh3Hasher;

    fn build_hasher(&self) -> Xxh3Hasher {
        Xxh3Hasher {
            seed: self.0,
            hash: 0,
        }
    }
}

struct Xxh3Hasher {
    seed: u64,
    hash: u64,
}

impl std::hash::Hasher for Xxh3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.hash = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.seed ^ self.hash);
    }

    /// Length prefixes (the keys' lengths are fixed): mixed in cheaply.
    fn write_usize(&mut self, n: usize) {
        self.hash ^= n as u64;
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The batch fields the hash covers, in a fixed text form.
fn header_of(b: &NewBatch<'_>) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        b.account,
        b.device,
        b.source.as_str(),
        b.received,
        b.counts.records,
        b.counts.rejected,
        b.counts.ignored,
        b.counts.skipped
    )
}

/// Entry bytes gathered before each digest update.
const HASH_CHUNK: usize = 16 * 1024;

/// SHA-256 chain step (see the module docs).
fn batch_hash<'r>(
    prev: &[u8],
    id: i64,
    header: &str,
    raw_gz: &[u8],
    entries: impl Iterator<Item = (u32, &'r LogRecord)>,
    problems: impl Iterator<Item = (u32, &'r str)>,
) -> Vec<u8> {
    use ring::digest::{digest, Context, SHA256};
    let mut ctx = Context::new(&SHA256);
    ctx.update(b"feedwall-logs-v1\0");
    ctx.update(prev);
    ctx.update(&id.to_le_bytes());
    ctx.update(&(header.len() as u64).to_le_bytes());
    ctx.update(header.as_bytes());
    ctx.update(digest(&SHA256, raw_gz).as_ref());
    // Entries are fed to the digest in chunks (the digest is the same
    // whatever the chunking).
    let mut buf = Vec::with_capacity(HASH_CHUNK + 64);
    for (line, r) in entries {
        if buf.len() >= HASH_CHUNK {
            ctx.update(&buf);
            buf.clear();
        }
        buf.extend_from_slice(&line.to_le_bytes());
        buf.extend_from_slice(&r.time.to_le_bytes());
        buf.push(r.action.as_u8());
        buf.push(r.proto.0);
        push_addr(&mut buf, r.src);
        buf.extend_from_slice(&opt16(r.sport));
        push_addr(&mut buf, r.dst);
        buf.extend_from_slice(&opt16(r.dport));
        buf.extend_from_slice(&r.count.to_le_bytes());
        buf.extend_from_slice(&r.flags.map_or(0xFFFF_u16, |f| u16::from(f.0)).to_le_bytes());
        buf.extend_from_slice(&icmp_value(r).unwrap_or(-1).to_le_bytes());
    }
    ctx.update(&buf);
    for (line, reason) in problems {
        ctx.update(&line.to_le_bytes());
        ctx.update(&(reason.len() as u32).to_le_bytes());
        ctx.update(reason.as_bytes());
    }
    ctx.finish().as_ref().to_vec()
}

fn push_addr(buf: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v) => {
            buf.push(4);
            buf.extend_from_slice(&v.octets());
        }
        IpAddr::V6(v) => {
            buf.push(6);
            buf.extend_from_slice(&v.octets());
        }
    }
}

fn opt16(p: Option<u16>) -> [u8; 4] {
    p.map_or(u32::MAX, u32::from).to_le_bytes()
}

/// One stored entry read back (for the chain check and for readers).
fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(u32, LogRecord)> {
    let bad = |i: usize| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            "bad stored value".into(),
        )
    };
    let line: u32 = r.get(0)?;
    let action = Action::from_u8(r.get(2)?).ok_or_else(|| bad(2))?;
    let src = addr_from_bytes(&r.get::<_, Vec<u8>>(4)?).ok_or_else(|| bad(4))?;
    let dst = addr_from_bytes(&r.get::<_, Vec<u8>>(6)?).ok_or_else(|| bad(6))?;
    let icmp: Option<i64> = r.get(11)?;
    Ok((
        line,
        LogRecord {
            time: r.get(1)?,
            action,
            proto: Proto(r.get(3)?),
            src,
            sport: r.get(5)?,
            dst,
            dport: r.get(7)?,
            count: r.get(8)?,
            flags: r.get::<_, Option<u8>>(9)?.map(TcpFlags),
            icmp: icmp.map(|v| ((v >> 8) as u8, (v & 0xFF) as u8)),
        },
    ))
}

/// Columns [`entry_from_row`] reads, in order.
pub const ENTRY_COLUMNS: &str =
    "line, time, action, proto, src, sport, dst, dport, count, flags, feedset, icmp";

fn verify(conn: &Connection) -> Result<Verified, LogStoreError> {
    let (anchor_id, anchor_hash): (i64, Vec<u8>) =
        conn.query_row("SELECT batch, hash FROM anchor WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut out = Verified {
        batches: 0,
        entries: 0,
        broken: None,
    };
    let mut expect_id = anchor_id + 1;
    let mut prev = anchor_hash;
    let mut batches = conn.prepare(
        "SELECT id, account, device, source, received, records, rejected, ignored, skipped, raw, prev, hash
         FROM batches ORDER BY id",
    )?;
    let mut entries = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE batch = ?1 ORDER BY line, rowid"
    ))?;
    let mut problems =
        conn.prepare("SELECT line, reason FROM problems WHERE batch = ?1 ORDER BY line, rowid")?;
    let mut rows = batches.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let source: String = row.get(3)?;
        let stored_prev: Vec<u8> = row.get(10)?;
        let stored_hash: Vec<u8> = row.get(11)?;
        let raw: Vec<u8> = row.get(9)?;
        let fail = |why: String| Some((id, why));
        if id != expect_id {
            out.broken = fail(format!("batch {expect_id} is missing (next is {id})"));
            break;
        }
        if stored_prev != prev {
            out.broken = fail("does not link to the previous batch's hash".into());
            break;
        }
        let header = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
            source,
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, i64>(7)?,
            row.get::<_, i64>(8)?,
        );
        let ents: Vec<(u32, LogRecord)> = entries
            .query_map([id], entry_from_row)?
            .collect::<Result<_, _>>()?;
        let probs: Vec<(u32, String)> = problems
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let recomputed = batch_hash(
            &prev,
            id,
            &header,
            &raw,
            ents.iter().map(|(l, r)| (*l, r)),
            probs.iter().map(|(l, r)| (*l, r.as_str())),
        );
        if recomputed != stored_hash {
            out.broken = fail(
                "contents do not match the batch's hash (edited, added or removed rows)".into(),
            );
            break;
        }
        out.batches += 1;
        out.entries += ents.len() as u64;
        prev = stored_hash;
        expect_id = id + 1;
    }
    Ok(out)
}

/// Decompresses a batch's raw text (lossy UTF-8; empty on a broken blob).
pub fn gunzip(gz: &[u8]) -> String {
    use std::io::Read;
    let mut s = Vec::new();
    let _ = flate2::read::GzDecoder::new(gz).read_to_end(&mut s);
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: i64, src: &str) -> LogRecord {
        LogRecord::new(
            t,
            Action::Block,
            Proto::TCP,
            src.parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
        )
        .with_ports(Some(4000), Some(22))
    }

    fn gz(s: &str) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn batch<'a>(raw: &'a [u8], entries: &'a [NewEntry], account: i64) -> NewBatch<'a> {
        NewBatch {
            account,
            device: 7,
            source: Source::Upload,
            received: 1_800_000_000,
            raw_gz: raw,
            counts: Counts {
                records: entries.len() as u64,
                ..Counts::default()
            },
            entries,
            problems: &[],
        }
    }

    fn store() -> (tempfile::TempDir, LogStore) {
        let d = tempfile::tempdir().unwrap();
        let s = LogStore::open(&d.path().join(FILE_NAME)).unwrap();
        (d, s)
    }

    #[test]
    fn chain_verifies_and_detects_edits() {
        let (_d, mut s) = store();
        let raw = gz("a\nb\n");
        let e = vec![
            NewEntry {
                line: 1,
                record: rec(100, "198.51.100.1"),
                feedset: 0,
            },
            NewEntry {
                line: 2,
                record: rec(200, "2001:db8::1"),
                feedset: 0,
            },
        ];
        s.append(&[batch(&raw, &e, 1), batch(&raw, &e, 2)]).unwrap();
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        let v = s.verify().unwrap();
        assert_eq!((v.batches, v.entries, v.broken.clone()), (3, 6, None));
        // Updates are refused outright.
        assert!(s
            .connection()
            .execute("UPDATE entries SET dport = 23", [])
            .is_err());
        // An inserted row (bypassing append) breaks the chain at its batch.
        s.connection()
            .execute(
                "INSERT INTO entries SELECT * FROM entries WHERE batch = 2 AND line = 1",
                [],
            )
            .unwrap();
        let v = s.verify().unwrap();
        assert_eq!(v.broken.as_ref().map(|b| b.0), Some(2), "{v:?}");
    }

    #[test]
    fn retention_moves_the_anchor_and_the_chain_still_verifies() {
        let (_d, mut s) = store();
        let raw = gz("a\n");
        let e = vec![NewEntry {
            line: 1,
            record: rec(100, "198.51.100.1"),
            feedset: 0,
        }];
        let mut old = batch(&raw, &e, 1);
        old.received = 1000;
        s.append(&[old.clone(), old]).unwrap();
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        // Deleting above the anchor is refused.
        assert!(s
            .connection()
            .execute("DELETE FROM batches WHERE id = 3", [])
            .is_err());
        assert_eq!(s.prune(2000).unwrap(), 2);
        let v = s.verify().unwrap();
        assert_eq!((v.batches, v.broken), (1, None));
        assert_eq!(s.entry_count(1).unwrap(), 1);
        // The next batch links to the surviving one.
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        assert_eq!(s.verify().unwrap().batches, 2);
    }

    #[test]
    fn version_1_archives_open_and_migrate() {
        let (d, mut s) = store();
        let path = d.path().join(FILE_NAME);
        let raw = gz("a\n");
        let e = vec![NewEntry {
            line: 1,
            record: rec(100, "198.51.100.1"),
            feedset: 0,
        }];
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        // Back to what version 1 wrote.
        s.connection()
            .execute_batch(
                "CREATE INDEX entries_by_account_time ON entries(account, time);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        drop(s);
        let index = |s: &LogStore| -> i64 {
            s.connection()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'entries_by_account_time'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        // Readers take it as it is.
        let r = LogStore::open_read_only(&path).unwrap();
        assert_eq!((r.verify().unwrap().batches, index(&r)), (1, 1));
        drop(r);
        // The writer migrates it; the chain still verifies and grows.
        let mut s = LogStore::open(&path).unwrap();
        let version: i64 = s
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!((version, index(&s)), (SCHEMA_VERSION, 0));
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        let v = s.verify().unwrap();
        assert_eq!((v.batches, v.entries, v.broken), (2, 2, None));
        assert_eq!(s.entry_count(1).unwrap(), 2);
    }

    #[test]
    fn rollups_sum_over_batches_and_writes() {
        let (_d, mut s) = store();
        let raw = gz("a\nb\nc\n");
        let day = 20_000 * DAY;
        let e = vec![
            NewEntry {
                line: 1,
                record: rec(day + 10, "198.51.100.1"),
                feedset: 0,
            },
            NewEntry {
                line: 2,
                record: rec(day + 20, "2001:db8::1"),
                feedset: 0,
            },
            NewEntry {
                line: 3,
                record: rec(day + 2 * HOUR, "198.51.100.1"),
                feedset: 0,
            },
        ];
        // Two batches in one transaction, then one more.
        s.append(&[batch(&raw, &e, 1), batch(&raw, &e, 1)]).unwrap();
        s.append(&[batch(&raw, &e, 1)]).unwrap();
        let q = |sql: &str| -> Vec<(i64, i64)> {
            let mut st = s.connection().prepare(sql).unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            q("SELECT hour, n FROM rollup ORDER BY hour"),
            vec![(day, 6), (day + 2 * HOUR, 3)]
        );
        assert_eq!(
            q("SELECT bucket, n FROM top WHERE kind = 0 AND span = 3600 AND key = x'c6336401' ORDER BY bucket"),
            vec![(day, 3), (day + 2 * HOUR, 3)]
        );
        assert_eq!(
            q("SELECT bucket, n FROM top WHERE kind = 0 AND span = 86400 ORDER BY length(key)"),
            vec![(day, 6), (day, 3)]
        );
        assert_eq!(
            q("SELECT span, sum(n) FROM top WHERE kind = 2 GROUP BY span ORDER BY span"),
            vec![(HOUR, 9), (DAY, 9)]
        );
    }

    #[test]
    fn raw_lines_and_feedsets_round_trip() {
        let (_d, mut s) = store();
        let raw = gz("first line\nsecond line\n");
        let fs = s.feedset(&["tor", "cins", "tor"]).unwrap();
        assert_eq!(s.feedset(&["cins", "tor"]).unwrap(), fs);
        assert_eq!(s.feedset(&[]).unwrap(), 0);
        let e = vec![NewEntry {
            line: 2,
            record: rec(100, "198.51.100.1"),
            feedset: fs,
        }];
        let ids = s.append(&[batch(&raw, &e, 1)]).unwrap();
        assert_eq!(
            s.raw_line(ids[0], 2).unwrap().as_deref(),
            Some("second line")
        );
        assert_eq!(
            s.feedsets().unwrap()[&fs],
            vec!["cins".to_string(), "tor".to_string()]
        );
        let n: i64 = s
            .connection()
            .query_row(
                "SELECT sum(n) FROM top WHERE kind = 0 AND span = 86400",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
