//! Schema of the archive and its migrations.
//!
//! The schema version is SQLite's `user_version` (0 for a new, empty file).
//! [`MIGRATIONS`]`[i]` takes a file from version `i` to `i + 1`; opening an
//! archive read-write runs the missing steps and sets `user_version` in the
//! same transaction, so a crash mid-migration leaves the old version intact.
//! A later release adds a step at the end of the list and never edits the
//! earlier ones.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::ArchiveError;

/// `application_id` of a feedwall archive ("FWAR").
pub const APPLICATION_ID: i64 = 0x4657_4152;

/// One migration step.
pub type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

/// Migration steps, in order: step `i` migrates from version `i` to `i + 1`.
pub const MIGRATIONS: &[Migration] = &[create_v1];

/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: feeds, versions, intervals, fetches, prefix lengths.
fn create_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE feeds (
            id              INTEGER PRIMARY KEY,
            key             TEXT NOT NULL UNIQUE,
            name            TEXT NOT NULL,
            url             TEXT NOT NULL,
            provider        TEXT NOT NULL,
            homepage        TEXT NOT NULL,
            current_version INTEGER REFERENCES versions(id)
        );
        CREATE TABLE versions (
            id         INTEGER PRIMARY KEY,
            feed       INTEGER NOT NULL REFERENCES feeds(id),
            fetched_at INTEGER NOT NULL,
            last_seen  INTEGER NOT NULL,
            hash       TEXT NOT NULL,
            entries    INTEGER NOT NULL,
            rejected   INTEGER NOT NULL,
            ignored    INTEGER NOT NULL,
            stored     INTEGER NOT NULL,
            added      INTEGER NOT NULL,
            removed    INTEGER NOT NULL,
            changed    INTEGER NOT NULL
        );
        CREATE INDEX versions_by_feed ON versions(feed, fetched_at);
        CREATE TABLE intervals (
            id         INTEGER PRIMARY KEY,
            feed       INTEGER NOT NULL REFERENCES feeds(id),
            pfx        BLOB NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen  INTEGER,
            ended      INTEGER,
            dhash      INTEGER NOT NULL,
            score      REAL,
            category   TEXT,
            country    TEXT,
            reference  TEXT
        );
        CREATE INDEX intervals_by_pfx ON intervals(pfx, first_seen);
        CREATE INDEX intervals_open ON intervals(feed, pfx, dhash) WHERE ended IS NULL;
        CREATE TABLE fetches (
            id       INTEGER PRIMARY KEY,
            feed     INTEGER NOT NULL REFERENCES feeds(id),
            at       INTEGER NOT NULL,
            status   TEXT NOT NULL CHECK (status IN ('ok', 'not-modified', 'failed', 'held-back')),
            reason   TEXT,
            entries  INTEGER,
            rejected INTEGER,
            ignored  INTEGER,
            hash     TEXT
        );
        CREATE INDEX fetches_by_feed ON fetches(feed, at);
        CREATE TABLE prefix_lens (
            family INTEGER NOT NULL,
            len    INTEGER NOT NULL,
            PRIMARY KEY (family, len)
        ) WITHOUT ROWID;
        ",
    )
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn application_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "application_id", |r| r.get(0))
}

/// Refuses files that are not ours.
fn check_identity(conn: &Connection, path: &Path) -> Result<i64, ArchiveError> {
    let not_ours = |why: String| ArchiveError::NotAnArchive {
        path: path.to_path_buf(),
        why,
    };
    let version = user_version(conn)?;
    let app = application_id(conn)?;
    if app != APPLICATION_ID {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if app != 0 || version != 0 || tables != 0 {
            return Err(not_ours(format!(
                "application_id {app:#x}, {tables} tables"
            )));
        }
    }
    if version > SCHEMA_VERSION {
        return Err(ArchiveError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// Brings the file to [`SCHEMA_VERSION`] (creating the schema in a new file).
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), ArchiveError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = check_identity(&tx, path)?;
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    for (step, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        migration(&tx)?;
        tracing::info!(archive = %path.display(), from = step, to = step + 1, "archive schema migrated");
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// For read-only use: the file must already be at [`SCHEMA_VERSION`].
pub(super) fn check_current(conn: &Connection, path: &Path) -> Result<(), ArchiveError> {
    let found = check_identity(conn, path)?;
    if found < SCHEMA_VERSION {
        return Err(ArchiveError::NeedsMigration {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
