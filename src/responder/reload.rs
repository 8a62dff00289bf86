//! Hot reload: watch the snapshot path and swap in each new file.
//!
//! inotify (through `notify`) on the snapshot's directory wakes the watcher
//! as soon as a file is renamed into place; a poll of the file's identity
//! every `POLL_INTERVAL` backs it up (network file systems, missed events).
//! A file that fails to load is logged and counted once, and the current
//! snapshot keeps serving.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};

use crate::metrics::{Counter, Counters};
use crate::snapshot::{FileIdentity, MappedSnapshot};

/// Fallback poll of the snapshot file's identity.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the watcher thread.
pub fn spawn_watcher(
    path: PathBuf,
    current: Arc<ArcSwap<MappedSnapshot>>,
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
            loop {
                let _ = rx.recv_timeout(POLL_INTERVAL);
                while rx.try_recv().is_ok() {}
                check_once(&path, &current, &counters, &mut failed);
            }
        })
        .context("cannot start the reload thread")?;
    Ok(())
}

/// Loads the file at `path` if it is not the one being served; returns true
/// when a new snapshot was swapped in.
pub fn check_once(
    path: &std::path::Path,
    current: &ArcSwap<MappedSnapshot>,
    counters: &Counters,
    failed: &mut Option<FileIdentity>,
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
            let old = current.load().get().serial.to_native();
            let new = snap.get().serial.to_native();
            current.store(Arc::new(snap));
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
