//! Hot reload: watch the snapshot path and swap in each new file.
//!
//! inotify (through `notify`) on the snapshot's directory wakes the watcher
//! as soon as a file is renamed into place; a poll of the file's identity
//! every `POLL_INTERVAL` backs it up (network file systems, missed events).
//! A file that fails to load is logged and counted once, and the current
//! snapshot keeps serving.
//!
//! A new snapshot takes over the devices' last query times from the one it
//! replaces (`ServedSnapshot::carry_over_from`). Workers may still finish a
//! batch on the replaced snapshot and note a time there, so the watcher
//! keeps it for `LATE_MERGE` and merges it once more before letting it go.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};

use super::served::ServedSnapshot;
use crate::metrics::{Counter, Counters};
use crate::snapshot::{FileIdentity, MappedSnapshot};

/// Fallback poll of the snapshot file's identity.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long a replaced snapshot is kept before its last query times are
/// merged into the current one a second time: longer than a worker's
/// batch, and than the idle wake (1 s) after which a worker drops it.
pub const LATE_MERGE: Duration = Duration::from_millis(1500);

/// A replaced snapshot waiting for its late merge.
pub struct Retired {
    since: Instant,
    snapshot: Arc<ServedSnapshot>,
}

impl Retired {
    /// Merges the retired snapshot's times into `current` once it has been
    /// retired for `LATE_MERGE` (or at once with `force`); returns true when
    /// it was merged (the caller drops it).
    fn merge_into(&self, current: &ServedSnapshot, force: bool) -> bool {
        if force || self.since.elapsed() >= LATE_MERGE {
            current.carry_over_from(&self.snapshot);
            true
        } else {
            false
        }
    }
}

/// Starts the watcher thread.
pub fn spawn_watcher(
    path: PathBuf,
    current: Arc<ArcSwap<ServedSnapshot>>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|f| f.to_os_string());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|f| f.to_os_string()) == file_name)
            {
                let _ = tx.send(());
            }
        }
    })
    .context("cannot start the snapshot watcher")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    std::thread::Builder::new()
        .name("feedwall-reload".into())
        .spawn(move || {
            let _watcher = watcher;
            let mut failed: Option<FileIdentity> = None;
            let mut retired: Option<Retired> = None;
            loop {
                let _ = rx.recv_timeout(POLL_INTERVAL);
                while rx.try_recv().is_ok() {}
                if let Some(r) = &retired {
                    if r.merge_into(&current.load(), false) {
                        retired = None;
                    }
                }
                check_once(&path, &current, &counters, &mut failed, &mut retired);
            }
        })
        .context("cannot start the reload thread")?;
    Ok(())
}

/// Loads the file at `path` if it is not the one being served; returns true
/// when a new snapshot was swapped in. The replaced snapshot goes to
/// `retired` (for its late merge).
pub fn check_once(
    path: &std::path::Path,
    current: &ArcSwap<ServedSnapshot>,
    counters: &Counters,
    failed: &mut Option<FileIdentity>,
    retired: &mut Option<Retired>,
) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let id = FileIdentity::of(&meta);
    if current.load().identity() == Some(id) || *failed == Some(id) {
        return false;
    }
    match MappedSnapshot::open(path) {
        Ok(snap) => {
            let next = ServedSnapshot::new(snap);
            let replaced = current.load_full();
            next.carry_over_from(&replaced);
            // A snapshot retired before this one gets its late merge now.
            if let Some(r) = retired.take() {
                r.merge_into(&next, true);
            }
            let old = replaced.get().serial.to_native();
            let new = next.get().serial.to_native();
            current.store(Arc::new(next));
            *retired = Some(Retired {
                since: Instant::now(),
                snapshot: replaced,
            });
            *failed = None;
            counters.add(Counter::Reloads, 1);
            tracing::info!(old_serial = old, serial = new, "snapshot swapped in");
            true
        }
        Err(e) => {
            *failed = Some(id);
            counters.add(Counter::ReloadFailures, 1);
            tracing::error!(error = %e, path = %path.display(), "new snapshot refused; still serving the previous one");
            false
        }
    }
}
