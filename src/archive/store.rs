//! The write side: fetch records and versions.
//!
//! Storing a changed version is a merge of two sorted lists, the feed's open
//! intervals (read from the covering partial index `intervals_open`) and the
//! new entries, in one transaction:
//! - in both, same detail hash: nothing written;
//! - in both, different detail: old interval closed, new one opened;
//! - only open: interval closed (`last_seen` = the previous version's last
//!   fetch, `ended` = this fetch);
//! - only new: interval opened.
//!
//! The detail is compared by a 64-bit hash (`dhash`, xxh3 of its fields), so
//! the open set is read without touching the table rows.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use xxhash_rust::xxh3::xxh3_64;

use super::prefix::PrefixKey;
use super::{ArchiveError, Detail, FeedMeta, FeedVersion, FetchOutcome, Timestamp, VersionStats};

/// The detail's hash as stored in `intervals.dhash`: xxh3-64 of its fields,
/// each tagged present/absent and length-prefixed, serialized into `buf`.
pub(super) fn detail_hash(d: &Detail, buf: &mut Vec<u8>) -> i64 {
    buf.clear();
    match d.score {
        Some(s) => {
            buf.push(1);
            buf.extend_from_slice(&s.to_bits().to_le_bytes());
        }
        None => buf.push(0),
    }
    for field in [&d.category, &d.country, &d.reference] {
        match field {
            Some(s) => {
                buf.push(1);
                buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
            None => buf.push(0),
        }
    }
    xxh3_64(buf) as i64
}

/// Inserts or refreshes the feed's metadata; returns its row id.
fn upsert_feed(tx: &Transaction<'_>, feed: &FeedMeta) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO feeds (key, name, url, provider, homepage) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET name = excluded.name, url = excluded.url,
             provider = excluded.provider, homepage = excluded.homepage
         RETURNING id",
    )?
    .query_row(
        params![feed.id, feed.name, feed.url, feed.provider, feed.homepage],
        |r| r.get(0),
    )
}

pub(super) fn record_fetch(
    conn: &mut Connection,
    feed: &FeedMeta,
    outcome: &FetchOutcome,
) -> Result<(), ArchiveError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let feed_row = upsert_feed(&tx, feed)?;
    let c = outcome.counts;
    tx.prepare_cached(
        "INSERT INTO fetches (feed, at, status, reason, entries, rejected, ignored, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        feed_row,
        outcome.at.0,
        outcome.status.as_str(),
        outcome.status.reason(),
        c.map(|c| c.entries as i64),
        c.map(|c| c.rejected as i64),
        c.map(|c| c.ignored as i64),
        outcome.hash,
    ])?;
    tx.commit()?;
    Ok(())
}

/// The feed's current version row.
struct Current {
    id: i64,
    hash: String,
    last_seen: i64,
    stored: i64,
}

fn current_version(tx: &Transaction<'_>, feed_row: i64) -> rusqlite::Result<Option<Current>> {
    tx.prepare_cached(
        "SELECT v.id, v.hash, v.last_seen, v.stored FROM feeds f JOIN versions v ON v.id = f.current_version
         WHERE f.id = ?1",
    )?
    .query_row([feed_row], |r| Ok(Current { id: r.get(0)?, hash: r.get(1)?, last_seen: r.get(2)?, stored: r.get(3)? }))
    .optional()
}

/// One new entry, sorted by key: its detail hash and where it is in the
/// version's entry list.
struct Incoming {
    key: PrefixKey,
    dhash: i64,
    index: usize,
}

/// One open interval of the feed.
#[derive(Clone, Copy)]
pub(super) struct Open {
    key: PrefixKey,
    dhash: i64,
    id: i64,
}

/// The open intervals of one feed as of one of its versions, sorted by
/// prefix: what the next version is diffed against.
pub(super) struct OpenSet {
    version_id: i64,
    entries: Vec<Open>,
}

/// Per feed row, the open set left by the last version this connection
/// stored. Used only while its version is still the feed's current one, so
/// another process writing the same file makes it reload, never go wrong.
pub(super) type OpenCache = HashMap<i64, OpenSet>;

/// Canonical, sorted, deduplicated entries (the first occurrence of a prefix
/// wins).
fn incoming(version: &FeedVersion) -> Vec<Incoming> {
    let mut buf = Vec::with_capacity(64);
    let mut v: Vec<Incoming> = version
        .entries
        .iter()
        .enumerate()
        .map(|(index, (net, detail))| Incoming {
            key: PrefixKey::of_net(net),
            dhash: detail_hash(detail, &mut buf),
            index,
        })
        .collect();
    v.sort_unstable_by_key(|e| (e.key, e.index));
    v.dedup_by_key(|e| e.key);
    v
}

fn load_open(tx: &Transaction<'_>, feed_row: i64) -> Result<Vec<Open>, ArchiveError> {
    let mut stmt = tx
        .prepare_cached("SELECT id, pfx, dhash FROM intervals WHERE feed = ?1 AND ended IS NULL")?;
    let mut rows = stmt.query([feed_row])?;
    let mut open = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let blob = super::blob(r, 1)?;
        let key = PrefixKey::from_blob(blob).ok_or_else(|| {
            ArchiveError::Corrupt(format!("interval {id} has a malformed prefix"))
        })?;
        open.push(Open {
            key,
            dhash: r.get(2)?,
            id,
        });
    }
    open.sort_unstable_by_key(|o| o.key);
    Ok(open)
}

pub(super) fn store_version(
    conn: &mut Connection,
    cache: &mut OpenCache,
    feed: &FeedMeta,
    version: &FeedVersion,
) -> Result<VersionStats, ArchiveError> {
    if version.feed != feed.id {
        return Err(ArchiveError::FeedMismatch {
            feed: feed.id.clone(),
            version: version.feed.clone(),
        });
    }
    let t = version.fetched_at.0;
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let feed_row = upsert_feed(&tx, feed)?;
    let current = current_version(&tx, feed_row)?;
    if let Some(c) = &current {
        if t < c.last_seen {
            return Err(ArchiveError::OutOfOrder {
                feed: feed.id.clone(),
                given: version.fetched_at,
                current: Timestamp(c.last_seen),
            });
        }
        if c.hash == version.hash {
            tx.prepare_cached("UPDATE versions SET last_seen = ?1 WHERE id = ?2")?
                .execute(params![t, c.id])?;
            tx.commit()?;
            tracing::debug!(feed = %feed.id, hash = %version.hash, "feed version unchanged (same hash)");
            return Ok(VersionStats {
                unchanged: c.stored as usize,
                ..VersionStats::default()
            });
        }
    }
    // Taken out of the cache: an error from here on leaves it empty for
    // this feed, and the next version reloads from the file.
    let cached = cache.remove(&feed_row);
    let new = incoming(version);
    let sorted = started.elapsed();
    let open = match (cached, &current) {
        (Some(set), Some(c)) if set.version_id == c.id => set.entries,
        (_, Some(_)) => load_open(&tx, feed_row)?,
        (_, None) => Vec::new(),
    };
    let loaded = started.elapsed();
    let prev_last_seen = current.as_ref().map(|c| c.last_seen);

    let mut stats = VersionStats::default();
    let mut next = Vec::with_capacity(new.len());
    let mut lens = BTreeSet::new();
    {
        let mut close = tx.prepare_cached(
            "UPDATE intervals SET last_seen = ?1, ended = ?2 WHERE id = ?3 AND ended IS NULL",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO intervals (feed, pfx, first_seen, dhash, score, category, country, reference)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut close_one = |o: &Open| -> Result<(), ArchiveError> {
            if close.execute(params![prev_last_seen, t, o.id])? != 1 {
                return Err(ArchiveError::Corrupt(format!(
                    "open interval {} is missing",
                    o.id
                )));
            }
            Ok(())
        };
        let mut open_one = |e: &Incoming| -> rusqlite::Result<Open> {
            let d = &version.entries[e.index].1;
            lens.insert((e.key.family(), e.key.prefix_len()));
            let id = insert.insert(params![
                feed_row,
                e.key.blob().as_slice(),
                t,
                e.dhash,
                d.score.map(f64::from),
                d.category,
                d.country,
                d.reference
            ])?;
            Ok(Open {
                key: e.key,
                dhash: e.dhash,
                id,
            })
        };
        let (mut i, mut j) = (0, 0);
        while i < open.len() || j < new.len() {
            let order = match (open.get(i), new.get(j)) {
                (Some(o), Some(n)) => o.key.cmp(&n.key),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => unreachable!("loop condition"),
            };
            match order {
                Ordering::Equal => {
                    if open[i].dhash == new[j].dhash {
                        next.push(open[i]);
                        stats.unchanged += 1;
                    } else {
                        close_one(&open[i])?;
                        next.push(open_one(&new[j])?);
                        stats.changed += 1;
                    }
                    i += 1;
                    j += 1;
                }
                Ordering::Less => {
                    close_one(&open[i])?;
                    stats.removed += 1;
                    i += 1;
                }
                Ordering::Greater => {
                    next.push(open_one(&new[j])?);
                    stats.added += 1;
                    j += 1;
                }
            }
        }
    }
    drop(open);
    let merged = started.elapsed();
    {
        let mut add_len =
            tx.prepare_cached("INSERT OR IGNORE INTO prefix_lens (family, len) VALUES (?1, ?2)")?;
        for (family, len) in lens {
            add_len.execute(params![family, len])?;
        }
    }
    let c = version.counts;
    let version_id: i64 = tx
        .prepare_cached(
            "INSERT INTO versions (feed, fetched_at, last_seen, hash, entries, rejected, ignored, stored, added, removed, changed)
             VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        )?
        .query_row(
            params![
                feed_row,
                t,
                version.hash,
                c.entries as i64,
                c.rejected as i64,
                c.ignored as i64,
                new.len() as i64,
                stats.added as i64,
                stats.removed as i64,
                stats.changed as i64
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached("UPDATE feeds SET current_version = ?1 WHERE id = ?2")?
        .execute(params![version_id, feed_row])?;
    tx.commit()?;
    cache.insert(
        feed_row,
        OpenSet {
            version_id,
            entries: next,
        },
    );
    tracing::info!(
        feed = %feed.id,
        hash = %version.hash,
        entries = new.len(),
        added = stats.added,
        removed = stats.removed,
        changed = stats.changed,
        unchanged = stats.unchanged,
        sort_ms = sorted.as_millis() as u64,
        load_ms = (loaded - sorted).as_millis() as u64,
        write_ms = (merged - loaded).as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "feed version archived"
    );
    Ok(stats)
}

pub(super) fn confirm_version(
    conn: &mut Connection,
    feed_id: &str,
    hash: &str,
    at: Timestamp,
) -> Result<bool, ArchiveError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx
        .prepare_cached(
            "UPDATE versions SET last_seen = max(last_seen, ?1)
             WHERE id = (SELECT current_version FROM feeds WHERE key = ?2) AND hash = ?3",
        )?
        .execute(params![at.0, feed_id, hash])?;
    tx.commit()?;
    Ok(n == 1)
}
