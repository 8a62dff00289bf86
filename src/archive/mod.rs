//! The archive: every fetch and every version of every feed, kept as history
//! in an embedded SQLite database (nothing to install).
//!
//! # What is stored
//!
//! Entries are stored as **intervals**: one row per (feed, prefix, stretch of
//! time during which the feed listed that prefix with that detail). A version
//! whose content hash equals the current one, or whose set of entries is the
//! same, costs no entry rows; a changed version closes the intervals of the
//! entries it dropped and opens intervals for the ones it added. An entry whose
//! detail (score, category, country, reference) changed gets its interval
//! closed and a new one opened, so the detail history is kept too.
//!
//! ```text
//! feeds       id, key (the feed id), name, url, provider, homepage,
//!             current_version → versions.id
//! versions    id, feed, fetched_at, last_seen, hash, entries, rejected,
//!             ignored, stored, added, removed, changed
//!             one row per distinct content; `last_seen` moves forward while
//!             the feed keeps returning the same content
//! intervals   id, feed, pfx, first_seen, last_seen, ended, dhash,
//!             score, category, country, reference
//! fetches     id, feed, at, status, reason, entries, rejected, ignored, hash
//! prefix_lens family, len: every prefix length that occurs
//! ```
//!
//! Interval semantics: a feed's state at time T is its last version fetched
//! at or before T. An interval is *listed at T* when `first_seen <= T` and
//! (`ended` is null or `T < ended`). `first_seen` is the fetch time of the
//! version that brought the entry, `ended` the fetch time of the version that
//! dropped it, `last_seen` the last time a fetch still returned it (null while
//! open: then it is the current version's `last_seen`).
//!
//! `pfx` is the prefix as a blob: the network address (4 or 16 bytes, host
//! bits zero) followed by one byte of prefix length, so the family is implied
//! by the blob length and equal prefixes are equal blobs. An address lookup
//! computes, for each prefix length present in `prefix_lens` for its family,
//! the address's network at that length and looks that blob up in the
//! `(pfx, first_seen)` index: at most 33 (IPv4) or 129 (IPv6) indexed equality
//! lookups whatever the archive size, no range scan.
//!
//! # Durability
//!
//! WAL journal, `synchronous=FULL`, every write in one `BEGIN IMMEDIATE`
//! transaction (a version is its interval changes plus its `versions` row and
//! the feed's `current_version`, all or nothing). WAL alone makes a committed
//! transaction survive a kill -9 of the process at any moment (the commit is
//! in the WAL file once `COMMIT` returns; an unfinished transaction is never
//! seen). `FULL` adds an fsync of the WAL at each commit, so a committed
//! version also survives a power cut or kernel crash; `NORMAL` would lose the
//! last commits there. Commits here are rare (one per fetch), so the fsync
//! costs nothing measurable, and "recorded" can mean "durable" for the
//! fetcher.
//!
//! # Versions of the schema
//!
//! The schema version is SQLite's `user_version`; `application_id` marks the
//! file as a feedwall archive. [`schema`] holds one migration per version
//! step, run in one transaction at open; a file from a newer feedwall is
//! refused, never modified.
//!
//! Diffing a version needs the feed's open intervals (prefix, detail hash,
//! row id). The writer keeps, per feed, the sorted open set its last version
//! left (about 48 bytes per entry) and uses it only while that version is
//! still the feed's current one in the file; otherwise (first write after
//! open, another process wrote the feed, a failed write) it reads the set
//! from the covering partial index `intervals_open`. So several processes
//! (the sidecar writing, `feedwall check-ip` reading) can share the file.

mod check_ip;
pub mod prefix;
mod query;
pub mod schema;
mod store;
mod time;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use rusqlite::{Connection, OpenFlags};

pub use check_ip::{check_ip_command, CheckIpReport};
pub use time::{TimeParseError, Timestamp};

/// How long a call waits for another process's write lock before giving up
/// with a retryable error.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// SQLite page cache per connection, in KiB (negative `cache_size`): large
/// enough that diffing a 1-million-entry feed stays in memory.
pub const CACHE_KIB: i64 = 64 * 1024;

/// The WAL is truncated back to this size after a checkpoint (a big first
/// version can grow it to hundreds of MiB).
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Reputation detail a feed gives for one entry. Stored as the feed gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    pub score: Option<f32>,
    pub category: Option<String>,
    pub country: Option<String>,
    pub reference: Option<String>,
}

impl Detail {
    /// True when the feed gave no detail at all.
    pub fn is_empty(&self) -> bool {
        self.score.is_none()
            && self.category.is_none()
            && self.country.is_none()
            && self.reference.is_none()
    }
}

/// Who publishes a feed, for attribution (a feed's content is the
/// provider's, never ours). Updated in the archive on every write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedMeta {
    /// Stable feed id from the catalog (`dshield`, `spamhaus-drop`, ...).
    pub id: String,
    pub name: String,
    pub url: String,
    pub provider: String,
    pub homepage: String,
}

/// Line counts of one fetch, as the parser reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub entries: u64,
    pub rejected: u64,
    pub ignored: u64,
}

/// One accepted version of a feed, as parsed.
#[derive(Debug, Clone, Default)]
pub struct FeedVersion {
    /// Must equal the `FeedMeta::id` it is stored under.
    pub feed: String,
    pub fetched_at: Timestamp,
    /// Hash of the fetched content, any stable text (hex digest). Same hash
    /// as the current version: nothing but its `last_seen` is written.
    pub hash: String,
    pub counts: Counts,
    /// Entries; host bits are cleared, duplicates keep their first detail.
    pub entries: Vec<(IpNet, Detail)>,
}

/// Outcome of one fetch attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchStatus {
    /// New content fetched and accepted.
    Ok,
    /// The server said the content did not change (HTTP 304 and the like).
    NotModified,
    /// The fetch failed (network, HTTP status, parse); the reason says which.
    Failed(String),
    /// Content fetched but held back by the sanity gate; the last good
    /// version keeps being served.
    HeldBack(String),
}

impl FetchStatus {
    /// Stored name of the status.
    pub fn as_str(&self) -> &'static str {
        match self {
            FetchStatus::Ok => "ok",
            FetchStatus::NotModified => "not-modified",
            FetchStatus::Failed(_) => "failed",
            FetchStatus::HeldBack(_) => "held-back",
        }
    }

    /// The reason of a failed or held-back fetch.
    pub fn reason(&self) -> Option<&str> {
        match self {
            FetchStatus::Failed(r) | FetchStatus::HeldBack(r) => Some(r),
            _ => None,
        }
    }

    fn from_parts(status: &str, reason: Option<String>) -> Option<Self> {
        Some(match status {
            "ok" => FetchStatus::Ok,
            "not-modified" => FetchStatus::NotModified,
            "failed" => FetchStatus::Failed(reason.unwrap_or_default()),
            "held-back" => FetchStatus::HeldBack(reason.unwrap_or_default()),
            _ => return None,
        })
    }
}

impl std::fmt::Display for FetchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{}: {r}", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

/// One fetch attempt, for [`Archive::record_fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    pub at: Timestamp,
    pub status: FetchStatus,
    /// Parser counts, when content was parsed.
    pub counts: Option<Counts>,
    /// Content hash, when content was fetched.
    pub hash: Option<String>,
}

/// What [`Archive::store_version`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionStats {
    /// Prefixes new in this version (an interval opened for each).
    pub added: usize,
    /// Prefixes gone from this version (their interval closed).
    pub removed: usize,
    /// Prefixes kept with a different detail (interval closed and reopened).
    pub changed: usize,
    /// Prefixes kept with the same detail (no row written).
    pub unchanged: usize,
}

/// A stored version of a feed (a row of `versions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// When this content was first fetched.
    pub fetched_at: Timestamp,
    /// The last fetch that returned this content.
    pub last_seen: Timestamp,
    pub hash: String,
    pub counts: Counts,
    /// Distinct prefixes stored for it.
    pub stored: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

/// Health of one feed, from the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStatus {
    pub feed: FeedMeta,
    /// The last fetch attempt recorded.
    pub last_fetch: Option<FetchOutcome>,
    /// The current (last good) version.
    pub last_good: Option<VersionInfo>,
    /// Number of distinct versions stored.
    pub versions: u64,
}

/// A stretch of time during which a feed listed a prefix containing the
/// address asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub feed: FeedMeta,
    /// The listed prefix (contains the address).
    pub prefix: IpNet,
    /// Fetch time of the version that brought it.
    pub first_seen: Timestamp,
    /// Last fetch that still returned it (for an open interval: the last
    /// fetch of the feed's current version).
    pub last_seen: Timestamp,
    /// Fetch time of the version that dropped it; `None`: still listed.
    pub ended: Option<Timestamp>,
    pub detail: Detail,
}

impl Interval {
    /// True when the interval covers time `t`.
    pub fn covers(&self, t: Timestamp) -> bool {
        self.first_seen <= t && self.ended.is_none_or(|e| t < e)
    }
}

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("archive database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path} is not a feedwall archive ({why})")]
    NotAnArchive { path: PathBuf, why: String },
    #[error("archive {path} has schema version {found}, newer than this feedwall (version {supported}); upgrade feedwall")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("archive {path} has schema version {found}, older than this feedwall (version {supported}); open it read-write once (start the sidecar) to migrate it")]
    NeedsMigration {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("version of feed `{version}` stored under feed `{feed}`")]
    FeedMismatch { feed: String, version: String },
    #[error("version of feed `{feed}` fetched at {given} is older than the current version (last seen {current}); versions must be stored in time order")]
    OutOfOrder {
        feed: String,
        given: Timestamp,
        current: Timestamp,
    },
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
}

impl ArchiveError {
    /// True when retrying later may succeed (another process held the write
    /// lock longer than [`BUSY_TIMEOUT`]); everything else is fatal to the
    /// operation.
    pub fn is_retryable(&self) -> bool {
        let e = match self {
            ArchiveError::Sqlite(e) | ArchiveError::Open { source: e, .. } => e,
            _ => return false,
        };
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// An open archive. One connection; writes take `&mut self`. Several
/// `Archive`s (in several processes) may share one file: SQLite's WAL lets
/// readers run beside the one writer.
pub struct Archive {
    conn: Connection,
    path: PathBuf,
    open_sets: store::OpenCache,
}

impl Archive {
    /// Opens (creating if missing) the archive at `path` and migrates it to
    /// the current schema.
    pub fn open(path: &Path) -> Result<Archive, ArchiveError> {
        let open_err = |source| ArchiveError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ArchiveError::NotAnArchive {
                path: path.to_path_buf(),
                why: format!("cannot switch to WAL journal (got {mode})"),
            });
        }
        schema::migrate(&mut conn, path)?;
        Ok(Archive {
            conn,
            path: path.to_path_buf(),
            open_sets: Default::default(),
        })
    }

    /// Opens an existing archive for queries only (for `feedwall check-ip`
    /// beside a running sidecar). Never creates or migrates the file.
    pub fn open_read_only(path: &Path) -> Result<Archive, ArchiveError> {
        let open_err = |source| ArchiveError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        schema::check_current(&conn, path)?;
        Ok(Archive {
            conn,
            path: path.to_path_buf(),
            open_sets: Default::default(),
        })
    }

    /// The file this archive lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for inspection (tests, `PRAGMA
    /// integrity_check`). Writing through it bypasses the archive's
    /// invariants.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Records one fetch attempt of `feed` (every attempt, whatever its
    /// outcome).
    pub fn record_fetch(
        &mut self,
        feed: &FeedMeta,
        outcome: &FetchOutcome,
    ) -> Result<(), ArchiveError> {
        store::record_fetch(&mut self.conn, feed, outcome)
    }

    /// Stores an accepted version of `feed` and returns what changed. The
    /// version must not be older than the feed's current version.
    ///
    /// Only versions that are served belong here: content the sanity gate
    /// holds back is recorded with [`Archive::record_fetch`] (status, reason,
    /// counts, hash) and never becomes a version, so the current version is
    /// always the last good one.
    pub fn store_version(
        &mut self,
        feed: &FeedMeta,
        version: &FeedVersion,
    ) -> Result<VersionStats, ArchiveError> {
        store::store_version(&mut self.conn, &mut self.open_sets, feed, version)
    }

    /// Notes that a fetch at `at` returned the content of hash `hash` again
    /// without re-parsing it (a 304 for the current version). Returns false,
    /// changing nothing, when `hash` is not the feed's current version.
    pub fn confirm_version(
        &mut self,
        feed_id: &str,
        hash: &str,
        at: Timestamp,
    ) -> Result<bool, ArchiveError> {
        store::confirm_version(&mut self.conn, feed_id, hash, at)
    }

    /// Every feed the archive knows, by id.
    pub fn feeds(&self) -> Result<Vec<FeedMeta>, ArchiveError> {
        query::feeds(&self.conn)
    }

    /// Entries of the feed's current (last stored) version, sorted by prefix;
    /// empty for an unknown feed. Rebuilds lists after a restart.
    pub fn current_entries(&self, feed_id: &str) -> Result<Vec<(IpNet, Detail)>, ArchiveError> {
        query::current_entries(&self.conn, feed_id)
    }

    /// Entries the feed listed at time `at` (its last version fetched at or
    /// before `at`), sorted by prefix. Scans the intervals table: for tools
    /// and audits, not for a hot path.
    pub fn entries_at(
        &self,
        feed_id: &str,
        at: Timestamp,
    ) -> Result<Vec<(IpNet, Detail)>, ArchiveError> {
        query::entries_at(&self.conn, feed_id, at)
    }

    /// Every stored version of the feed, oldest first.
    pub fn versions(&self, feed_id: &str) -> Result<Vec<VersionInfo>, ArchiveError> {
        query::versions(&self.conn, feed_id)
    }

    /// Last fetch, last good version and counts of the feed; `None` for an
    /// unknown feed.
    pub fn feed_status(&self, feed_id: &str) -> Result<Option<FeedStatus>, ArchiveError> {
        query::feed_status(&self.conn, feed_id)
    }

    /// Which feeds list `addr` in their current version (any prefix
    /// containing it), sorted by feed id then prefix.
    pub fn listed_now(&self, addr: IpAddr) -> Result<Vec<Interval>, ArchiveError> {
        query::lookup(&self.conn, addr, query::When::Now)
    }

    /// Which feeds listed `addr` at time `at`.
    pub fn listed_at(&self, addr: IpAddr, at: Timestamp) -> Result<Vec<Interval>, ArchiveError> {
        query::lookup(&self.conn, addr, query::When::At(at))
    }

    /// Every interval of every feed covering `addr`, oldest first.
    pub fn history(&self, addr: IpAddr) -> Result<Vec<Interval>, ArchiveError> {
        query::lookup(&self.conn, addr, query::When::Always)
    }
}

/// Column `i` of `r` as a blob.
fn blob<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r [u8]> {
    r.get_ref(i)?.as_blob().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// Per-connection settings (not stored in the file).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}
