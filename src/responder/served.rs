//! The snapshot as served: the mapped file plus the responder's own state
//! for it, today the time each device last queried.
//!
//! `LastQuery` is one `AtomicU64` per device index of the snapshot (Unix
//! seconds, 0 = not seen). A worker reads a coarse clock once per batch
//! (`coarse_unix_now`, the vDSO's `CLOCK_REALTIME_COARSE`) and, per query
//! from a device, loads that device's slot and writes only when the second
//! moved on. So a busy device costs one shared read per query and one
//! write per second per worker, not a cache-line write per packet; nothing
//! is allocated.
//!
//! The table belongs to one snapshot (device indexes change between
//! snapshots). When the reload thread swaps a new one in, it carries the
//! values over by device identity: the admin database key, or the name for
//! devices from the configuration file (key 0). A worker still finishing a
//! batch on the old snapshot may write to the old table after that copy, so
//! the reload thread merges the old table once more on its next turn
//! (`reload.rs`), then lets it go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::snapshot::{ArchivedSnapshot, FileIdentity, MappedSnapshot};

/// A validated snapshot and the responder's per-device state for it: what
/// the `ArcSwap` of the responder holds.
pub struct ServedSnapshot {
    snapshot: MappedSnapshot,
    /// Last query time per device index.
    pub last_query: LastQuery,
}

impl ServedSnapshot {
    /// Wraps a loaded snapshot; no device seen yet.
    pub fn new(snapshot: MappedSnapshot) -> ServedSnapshot {
        let devices = snapshot.get().devices.len();
        ServedSnapshot {
            snapshot,
            last_query: LastQuery::new(devices),
        }
    }

    /// The archived snapshot.
    #[inline]
    pub fn get(&self) -> &ArchivedSnapshot {
        self.snapshot.get()
    }

    /// Identity of the file it was loaded from, if any.
    pub fn identity(&self) -> Option<FileIdentity> {
        self.snapshot.identity()
    }

    /// Takes over the last query times of `older` for the devices both
    /// snapshots have (same key, or same name when the key is 0); keeps the
    /// later time where both have one.
    pub fn carry_over_from(&self, older: &ServedSnapshot) {
        let old = older.get();
        let mut times: HashMap<DeviceIdentity<'_>, u64> = HashMap::new();
        for (i, d) in old.devices.iter().enumerate() {
            let t = older.last_query.get(i as u32).unwrap_or(0);
            if t != 0 {
                let e = times.entry(DeviceIdentity::of(d)).or_insert(0);
                *e = (*e).max(t);
            }
        }
        if times.is_empty() {
            return;
        }
        for (i, d) in self.get().devices.iter().enumerate() {
            if let Some(&t) = times.get(&DeviceIdentity::of(d)) {
                self.last_query.merge(i as u32, t);
            }
        }
    }

    /// Every device with its last query time (`None`: not seen since the
    /// responder started).
    pub fn devices(&self) -> impl Iterator<Item = DeviceSeen<'_>> {
        self.get()
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| DeviceSeen {
                key: d.key.to_native(),
                name: d.name.as_str(),
                last_query_unix: self.last_query.get(i as u32),
            })
    }
}

/// One device's line in the stats file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSeen<'a> {
    pub key: u64,
    pub name: &'a str,
    pub last_query_unix: Option<u64>,
}

/// What stays the same for a device across snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DeviceIdentity<'a> {
    /// Admin database id.
    Key(u64),
    /// Device from the configuration file (key 0): its name.
    Name(&'a str),
}

impl<'a> DeviceIdentity<'a> {
    fn of(d: &'a crate::snapshot::ArchivedDevice) -> Self {
        match d.key.to_native() {
            0 => DeviceIdentity::Name(d.name.as_str()),
            k => DeviceIdentity::Key(k),
        }
    }
}

/// Last query time (Unix seconds) per device index; 0 = not seen.
pub struct LastQuery {
    secs: Box<[AtomicU64]>,
}

impl LastQuery {
    /// A table for `devices` devices, none seen.
    pub fn new(devices: usize) -> LastQuery {
        LastQuery {
            secs: (0..devices).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Notes a query from `device` at `now` (a coarse clock read once per
    /// batch). Writes only when the stored second is older, so a busy
    /// device costs a shared read per query and a write per second. An
    /// index out of range (cannot happen for a validated snapshot) is
    /// ignored.
    #[inline]
    pub fn note(&self, device: u32, now: u64) {
        if let Some(slot) = self.secs.get(device as usize) {
            if slot.load(Relaxed) < now {
                // Rare (once a second per device and worker); `fetch_max`
                // keeps the time from stepping back when two workers race.
                slot.fetch_max(now, Relaxed);
            }
        }
    }

    /// Raises a device's time to at least `t`.
    pub fn merge(&self, device: u32, t: u64) {
        if let Some(slot) = self.secs.get(device as usize) {
            slot.fetch_max(t, Relaxed);
        }
    }

    /// Last query time of a device, `None` if never seen (or out of range).
    pub fn get(&self, device: u32) -> Option<u64> {
        match self.secs.get(device as usize)?.load(Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

/// Unix time in seconds from the coarse real-time clock (vDSO, no system
/// call, a few ns; resolution a kernel tick, plenty for "last seen").
#[inline]
pub fn coarse_unix_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME_COARSE
    // exists on every Linux since 2.6.32.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if r == 0 && ts.tv_sec > 0 {
        ts.tv_sec as u64
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{DeviceSpec, SnapshotWriter, ZoneSettings};

    fn snapshot(serial: u32, devices: &[(u64, &str, &str)]) -> ServedSnapshot {
        let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), serial);
        for (key, name, prefix) in devices {
            w.devices.push(DeviceSpec {
                key: *key,
                name: (*name).into(),
                account: 0,
                prefixes: vec![prefix.parse().unwrap()],
            });
        }
        ServedSnapshot::new(MappedSnapshot::from_bytes(&w.to_bytes().unwrap()).unwrap())
    }

    #[test]
    fn note_writes_only_forward() {
        let t = LastQuery::new(2);
        assert_eq!(t.get(0), None);
        t.note(0, 100);
        t.note(0, 99);
        assert_eq!(t.get(0), Some(100));
        t.note(0, 101);
        assert_eq!(t.get(0), Some(101));
        assert_eq!(t.get(1), None);
        // Out of range: ignored, no panic.
        t.note(7, 5);
        assert_eq!(t.get(7), None);
    }

    #[test]
    fn carries_over_by_key_or_by_name() {
        let old = snapshot(
            1,
            &[
                (17, "fw1", "192.0.2.1/32"),
                (0, "cfg", "192.0.2.2/32"),
                (18, "gone", "192.0.2.3/32"),
                (0, "fw2", "192.0.2.4/32"),
            ],
        );
        for i in 0..4 {
            old.last_query.note(i, 1000 + i as u64);
        }
        // Reordered, renamed (same key), one new, one removed; a database
        // device named like a configuration device is not that device.
        let new = snapshot(
            2,
            &[
                (0, "new", "192.0.2.9/32"),
                (0, "cfg", "192.0.2.20/32"),
                (17, "fw1-renamed", "192.0.2.1/32"),
                (19, "fw2", "192.0.2.4/32"),
            ],
        );
        new.last_query.note(1, 5000);
        new.carry_over_from(&old);
        let got: Vec<(u64, Option<u64>)> =
            new.devices().map(|d| (d.key, d.last_query_unix)).collect();
        assert_eq!(
            got,
            vec![(0, None), (0, Some(5000)), (17, Some(1000)), (19, None)]
        );
    }
}
