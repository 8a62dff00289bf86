//! Which feeds listed an address at a given time: the feed archive's
//! intervals loaded into memory once, so every ingested log entry is tagged
//! with the feeds that listed its source or destination *at the entry's
//! time* (not today).
//!
//! The index holds, per prefix length present in the archive, a hash map
//! from the masked network to its intervals (feed, first seen, ended). A
//! lookup masks the address once per length present (a handful: /32, /24
//! and the few lengths of DROP-style lists) and checks the intervals'
//! times. It is rebuilt when the archive has new versions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::archive::prefix::PrefixKey;

/// One stretch of listing: feed index, from (inclusive), to (exclusive,
/// `i64::MAX` while still listed).
#[derive(Debug, Clone, Copy)]
struct Span {
    feed: u16,
    from: i64,
    to: i64,
}

/// The in-memory interval index.
#[derive(Debug, Default)]
pub struct FeedIndex {
    /// Feed keys, by index.
    feeds: Vec<String>,
    /// (family, len) pairs present, longest first per family.
    lens_v4: Vec<u8>,
    lens_v6: Vec<u8>,
    map: HashMap<(u128, u8, u8), Vec<Span>>,
    /// The archive state this index was built from (for refresh checks).
    stamp: (i64, i64),
    intervals: usize,
}

/// Why the index could not be built.
#[derive(Debug, thiserror::Error)]
#[error("reading the feed archive for log correlation: {0}")]
pub struct IndexError(#[from] rusqlite::Error);

impl FeedIndex {
    /// An index that lists nothing (no archive yet).
    pub fn empty() -> FeedIndex {
        FeedIndex::default()
    }

    /// Loads every interval of the feed archive at `path` (read-only).
    pub fn load(path: &Path) -> Result<FeedIndex, IndexError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let stamp = archive_stamp(&conn)?;
        let mut idx = FeedIndex {
            stamp,
            ..FeedIndex::default()
        };
        let mut feed_ids: HashMap<i64, u16> = HashMap::new();
        {
            let mut st = conn.prepare("SELECT id, key FROM feeds ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, key) = row?;
                if idx.feeds.len() >= usize::from(u16::MAX) {
                    break;
                }
                feed_ids.insert(id, idx.feeds.len() as u16);
                idx.feeds.push(key);
            }
        }
        let mut st = conn.prepare("SELECT feed, pfx, first_seen, ended FROM intervals")?;
        let mut rows = st.query([])?;
        let mut lens: std::collections::BTreeSet<(u8, u8)> = Default::default();
        while let Some(r) = rows.next()? {
            let Some(&feed) = feed_ids.get(&r.get::<_, i64>(0)?) else {
                continue;
            };
            let blob: Vec<u8> = r.get(1)?;
            let Some(key) = PrefixKey::from_blob(&blob) else {
                continue;
            };
            let net = key.to_net();
            let (fam, bits) = match net {
                ipnet::IpNet::V4(n) => (4u8, u128::from(u32::from(n.network()))),
                ipnet::IpNet::V6(n) => (6u8, u128::from(n.network())),
            };
            let len = net.prefix_len();
            lens.insert((fam, len));
            let ended: Option<i64> = r.get(3)?;
            idx.map.entry((bits, fam, len)).or_default().push(Span {
                feed,
                from: r.get(2)?,
                to: ended.unwrap_or(i64::MAX),
            });
            idx.intervals += 1;
        }
        for (fam, len) in lens.into_iter().rev() {
            if fam == 4 {
                idx.lens_v4.push(len);
            } else {
                idx.lens_v6.push(len);
            }
        }
        Ok(idx)
    }

    /// Whether the archive at `path` changed since this index was built.
    pub fn is_stale(&self, path: &Path) -> bool {
        let Ok(conn) = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) else {
            return false;
        };
        archive_stamp(&conn).is_ok_and(|s| s != self.stamp)
    }

    pub fn intervals(&self) -> usize {
        self.intervals
    }

    pub fn feed_key(&self, i: u16) -> &str {
        &self.feeds[usize::from(i)]
    }

    /// Adds to `out` the index of every feed that listed `addr` at `t`
    /// (unsorted, may repeat).
    pub fn listing(&self, addr: IpAddr, t: i64, out: &mut Vec<u16>) {
        let (fam, bits, width, lens) = match crate::logs::record::canonical(addr) {
            IpAddr::V4(a) => (4u8, u128::from(u32::from(a)), 32u32, &self.lens_v4),
            IpAddr::V6(a) => (6u8, u128::from(a), 128u32, &self.lens_v6),
        };
        for &len in lens {
            let host_bits = width - u32::from(len);
            let masked = if host_bits >= 128 {
                0
            } else {
                (bits >> host_bits) << host_bits
            };
            if let Some(spans) = self.map.get(&(masked, fam, len)) {
                for s in spans {
                    if s.from <= t && t < s.to {
                        out.push(s.feed);
                    }
                }
            }
        }
    }

    /// Sets `out` to the feeds (indexes, sorted, unique) that listed `a` or
    /// `b` at `t`: the feed set of a log entry.
    pub fn listing_either(&self, a: IpAddr, b: IpAddr, t: i64, out: &mut Vec<u16>) {
        out.clear();
        self.listing(a, t, out);
        self.listing(b, t, out);
        out.sort_unstable();
        out.dedup();
    }
}

/// Changes whenever the archive gains a version or an interval ends.
fn archive_stamp(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT (SELECT coalesce(max(id), 0) FROM versions), (SELECT coalesce(max(id), 0) FROM intervals)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Archive, FeedMeta, FeedVersion, Timestamp};

    impl FeedIndex {
        fn feeds_for(&self, a: IpAddr, b: IpAddr, t: i64, scratch: &mut Vec<u16>) -> Vec<&str> {
            self.listing_either(a, b, t, scratch);
            scratch.iter().map(|&i| self.feed_key(i)).collect()
        }
    }

    fn store_plain(a: &mut Archive, feed: &str, nets: &[&str], t: i64) {
        let meta = FeedMeta {
            id: feed.into(),
            name: feed.into(),
            ..FeedMeta::default()
        };
        let v = FeedVersion {
            feed: feed.into(),
            fetched_at: Timestamp(t),
            hash: format!("{feed}-{t}"),
            entries: nets
                .iter()
                .map(|n| {
                    let net: ipnet::IpNet = n
                        .parse()
                        .unwrap_or_else(|_| ipnet::IpNet::from(n.parse::<IpAddr>().unwrap()));
                    (net, Default::default())
                })
                .collect(),
            ..FeedVersion::default()
        };
        a.store_version(&meta, &v).unwrap();
    }

    #[test]
    fn listing_respects_time_and_prefix() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("archive.sqlite");
        let mut a = Archive::open(&path).unwrap();
        store_plain(&mut a, "drop", &["198.51.100.0/24", "2001:db8::/32"], 1000);
        store_plain(&mut a, "drop", &["2001:db8::/32"], 2000);
        store_plain(&mut a, "cins", &["198.51.100.7"], 1500);
        drop(a);
        let idx = FeedIndex::load(&path).unwrap();
        let mut s = Vec::new();
        let ip = |x: &str| x.parse::<IpAddr>().unwrap();
        let other = ip("192.0.2.1");
        assert!(idx
            .feeds_for(ip("198.51.100.7"), other, 999, &mut s)
            .is_empty());
        assert_eq!(
            idx.feeds_for(ip("198.51.100.7"), other, 1000, &mut s),
            vec!["drop"]
        );
        assert_eq!(
            idx.feeds_for(other, ip("198.51.100.7"), 1600, &mut s),
            vec!["drop", "cins"]
        );
        // The /24 left "drop" at 2000.
        assert_eq!(
            idx.feeds_for(ip("198.51.100.7"), other, 2000, &mut s),
            vec!["cins"]
        );
        assert_eq!(
            idx.feeds_for(ip("2001:db8:1::5"), other, 5000, &mut s),
            vec!["drop"]
        );
        assert!(!idx.is_stale(&path));
    }
}
