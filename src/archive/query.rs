//! The read side: current entries, feed status, and address lookups.

use std::net::IpAddr;

use ipnet::IpNet;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::prefix::{family_of, PrefixKey};
use super::{
    ArchiveError, Counts, Detail, FeedMeta, FeedStatus, FetchOutcome, FetchStatus, Interval,
    Timestamp, VersionInfo,
};

/// Which intervals an address lookup returns.
#[derive(Debug, Clone, Copy)]
pub(super) enum When {
    /// Open intervals (the feeds' current versions).
    Now,
    /// Intervals covering this time.
    At(Timestamp),
    /// All of them.
    Always,
}

fn prefix_of(blob: &[u8], what: &str) -> Result<IpNet, ArchiveError> {
    PrefixKey::from_blob(blob)
        .map(PrefixKey::to_net)
        .ok_or_else(|| ArchiveError::Corrupt(format!("malformed prefix in {what}")))
}

fn detail_at(r: &Row<'_>, first: usize) -> rusqlite::Result<Detail> {
    Ok(Detail {
        score: r.get::<_, Option<f64>>(first)?.map(|s| s as f32),
        category: r.get(first + 1)?,
        country: r.get(first + 2)?,
        reference: r.get(first + 3)?,
    })
}

fn feed_at(r: &Row<'_>, first: usize) -> rusqlite::Result<FeedMeta> {
    Ok(FeedMeta {
        id: r.get(first)?,
        name: r.get(first + 1)?,
        url: r.get(first + 2)?,
        provider: r.get(first + 3)?,
        homepage: r.get(first + 4)?,
    })
}

pub(super) fn feeds(conn: &Connection) -> Result<Vec<FeedMeta>, ArchiveError> {
    let mut stmt =
        conn.prepare_cached("SELECT key, name, url, provider, homepage FROM feeds ORDER BY key")?;
    let rows = stmt.query_map([], |r| feed_at(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn entries_where(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(IpNet, Detail)>, ArchiveError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let net = prefix_of(super::blob(r, 0)?, "intervals")?;
        out.push((net, detail_at(r, 1)?));
    }
    out.sort_by_key(|e| e.0);
    Ok(out)
}

pub(super) fn current_entries(
    conn: &Connection,
    feed_id: &str,
) -> Result<Vec<(IpNet, Detail)>, ArchiveError> {
    entries_where(
        conn,
        "SELECT i.pfx, i.score, i.category, i.country, i.reference FROM intervals i
         WHERE i.feed = (SELECT id FROM feeds WHERE key = ?1) AND i.ended IS NULL",
        [feed_id],
    )
}

pub(super) fn entries_at(
    conn: &Connection,
    feed_id: &str,
    at: Timestamp,
) -> Result<Vec<(IpNet, Detail)>, ArchiveError> {
    entries_where(
        conn,
        "SELECT i.pfx, i.score, i.category, i.country, i.reference FROM intervals i
         WHERE i.feed = (SELECT id FROM feeds WHERE key = ?1)
           AND i.first_seen <= ?2 AND (i.ended IS NULL OR i.ended > ?2)",
        params![feed_id, at.0],
    )
}

const VERSION_COLUMNS: &str = "v.fetched_at, v.last_seen, v.hash, v.entries, v.rejected, v.ignored, v.stored, v.added, v.removed, v.changed";

fn version_at(r: &Row<'_>, first: usize) -> rusqlite::Result<VersionInfo> {
    let n = |k: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(first + k)? as u64) };
    Ok(VersionInfo {
        fetched_at: Timestamp(r.get(first)?),
        last_seen: Timestamp(r.get(first + 1)?),
        hash: r.get(first + 2)?,
        counts: Counts {
            entries: n(3)?,
            rejected: n(4)?,
            ignored: n(5)?,
        },
        stored: n(6)?,
        added: n(7)?,
        removed: n(8)?,
        changed: n(9)?,
    })
}

pub(super) fn versions(conn: &Connection, feed_id: &str) -> Result<Vec<VersionInfo>, ArchiveError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.feed = (SELECT id FROM feeds WHERE key = ?1)
         ORDER BY v.fetched_at, v.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([feed_id], |r| version_at(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn feed_status(
    conn: &Connection,
    feed_id: &str,
) -> Result<Option<FeedStatus>, ArchiveError> {
    let sql = format!(
        "SELECT f.key, f.name, f.url, f.provider, f.homepage, f.id, v.id, {VERSION_COLUMNS}
         FROM feeds f LEFT JOIN versions v ON v.id = f.current_version WHERE f.key = ?1"
    );
    let head = conn
        .prepare_cached(&sql)?
        .query_row([feed_id], |r| {
            let feed = feed_at(r, 0)?;
            let row: i64 = r.get(5)?;
            let good = match r.get::<_, Option<i64>>(6)? {
                Some(_) => Some(version_at(r, 7)?),
                None => None,
            };
            Ok((feed, row, good))
        })
        .optional()?;
    let Some((feed, feed_row, last_good)) = head else {
        return Ok(None);
    };
    let last_fetch = conn
        .prepare_cached(
            "SELECT at, status, reason, entries, rejected, ignored, hash FROM fetches
             WHERE feed = ?1 ORDER BY at DESC, id DESC LIMIT 1",
        )?
        .query_row([feed_row], |r| {
            let status: String = r.get(1)?;
            let counts = match r.get::<_, Option<i64>>(3)? {
                Some(entries) => Some(Counts {
                    entries: entries as u64,
                    rejected: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                    ignored: r.get::<_, Option<i64>>(5)?.unwrap_or(0) as u64,
                }),
                None => None,
            };
            Ok((
                Timestamp(r.get(0)?),
                status,
                r.get::<_, Option<String>>(2)?,
                counts,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .optional()?;
    let last_fetch = match last_fetch {
        Some((at, status, reason, counts, hash)) => {
            let status = FetchStatus::from_parts(&status, reason)
                .ok_or_else(|| ArchiveError::Corrupt(format!("unknown fetch status `{status}`")))?;
            Some(FetchOutcome {
                at,
                status,
                counts,
                hash,
            })
        }
        None => None,
    };
    let versions: i64 = conn
        .prepare_cached("SELECT count(*) FROM versions WHERE feed = ?1")?
        .query_row([feed_row], |r| r.get(0))?;
    Ok(Some(FeedStatus {
        feed,
        last_fetch,
        last_good,
        versions: versions as u64,
    }))
}

/// Prefix lengths present in the archive for one family, longest first.
fn prefix_lens(conn: &Connection, family: u8) -> Result<Vec<u8>, ArchiveError> {
    let mut stmt =
        conn.prepare_cached("SELECT len FROM prefix_lens WHERE family = ?1 ORDER BY len DESC")?;
    let rows = stmt.query_map([family], |r| r.get::<_, u8>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One indexed equality lookup per prefix length present.
pub(super) fn lookup(
    conn: &Connection,
    addr: IpAddr,
    when: When,
) -> Result<Vec<Interval>, ArchiveError> {
    const SELECT: &str = "SELECT f.key, f.name, f.url, f.provider, f.homepage,
                i.first_seen, COALESCE(i.last_seen, v.last_seen, i.first_seen), i.ended,
                i.score, i.category, i.country, i.reference
         FROM intervals i JOIN feeds f ON f.id = i.feed LEFT JOIN versions v ON v.id = f.current_version
         WHERE i.pfx = ?1";
    let (sql, at) = match when {
        When::Now => (format!("{SELECT} AND i.ended IS NULL"), None),
        When::At(t) => (
            format!("{SELECT} AND i.first_seen <= ?2 AND (i.ended IS NULL OR i.ended > ?2)"),
            Some(t.0),
        ),
        When::Always => (SELECT.to_string(), None),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::new();
    for len in prefix_lens(conn, family_of(addr))? {
        let key = PrefixKey::of_addr(addr, len);
        let blob = key.blob();
        let read = |r: &Row<'_>| -> rusqlite::Result<Interval> {
            Ok(Interval {
                feed: feed_at(r, 0)?,
                prefix: key.to_net(),
                first_seen: Timestamp(r.get(5)?),
                last_seen: Timestamp(r.get(6)?),
                ended: r.get::<_, Option<i64>>(7)?.map(Timestamp),
                detail: detail_at(r, 8)?,
            })
        };
        let rows = match at {
            Some(t) => stmt
                .query_map(params![blob.as_slice(), t], read)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt
                .query_map(params![blob.as_slice()], read)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        out.extend(rows);
    }
    match when {
        When::Always => out.sort_by(|a, b| {
            (a.first_seen, &a.feed.id, a.prefix).cmp(&(b.first_seen, &b.feed.id, b.prefix))
        }),
        _ => out.sort_by(|a, b| (&a.feed.id, a.prefix).cmp(&(&b.feed.id, b.prefix))),
    }
    Ok(out)
}
