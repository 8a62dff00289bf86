//! The log intake service shared by every way logs arrive (web upload, API,
//! SMTP, syslog) in the control process: one log-archive writer, the feed
//! correlation index kept fresh, and retention.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::correlate::FeedIndex;
use super::ingest::{ingest, BatchBuilder, IngestError, Receipt, Target};
use super::store::{LogStore, LogStoreError, Source, FILE_NAME};
use crate::config::LogsConfig;

/// How often the feed index checks the archive for new versions.
const INDEX_CHECK: Duration = Duration::from_secs(10);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct LogService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<LogStore>,
    index: ArcSwap<FeedIndex>,
    last_check: Mutex<Instant>,
    archive: PathBuf,
    path: PathBuf,
    cfg: LogsConfig,
}

impl LogService {
    /// Opens `logs.sqlite` in `data_dir`; `archive` is the feed archive used
    /// for correlation (it may not exist yet).
    pub fn open(
        data_dir: &Path,
        archive: &Path,
        cfg: LogsConfig,
    ) -> Result<LogService, LogStoreError> {
        let path = data_dir.join(FILE_NAME);
        let store = LogStore::open(&path)?;
        // Uploads spooled before a crash were never acknowledged: drop them.
        if let Ok(dir) = std::fs::read_dir(data_dir.join("spool")) {
            for e in dir.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let index = load_index(archive);
        Ok(LogService {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                index: ArcSwap::from_pointee(index),
                last_check: Mutex::new(Instant::now()),
                archive: archive.to_path_buf(),
                path,
                cfg,
            }),
        })
    }

    pub fn config(&self) -> &LogsConfig {
        &self.inner.cfg
    }

    /// The log archive's file (for read-only report connections).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A read-only connection to the log archive (reports, exports).
    pub fn reader(&self) -> Result<LogStore, LogStoreError> {
        LogStore::open_read_only(&self.inner.path)
    }

    /// The current correlation index, reloaded first when the feed archive
    /// changed (checked at most every few seconds).
    pub fn index(&self) -> Arc<FeedIndex> {
        let stale = {
            let mut last = self
                .inner
                .last_check
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= INDEX_CHECK {
                *last = Instant::now();
                self.inner.index.load().is_stale(&self.inner.archive)
            } else {
                false
            }
        };
        if stale {
            self.refresh_index();
        }
        self.inner.index.load_full()
    }

    /// Reloads the correlation index now (after a feed fetch; tests).
    pub fn refresh_index(&self) {
        self.inner
            .index
            .store(Arc::new(load_index(&self.inner.archive)));
    }

    /// Parses and stores a whole stream for `target` (blocking: call from a
    /// blocking thread). All or nothing; the receipt means durable.
    pub fn ingest(
        &self,
        target: Target,
        source: Source,
        input: impl Read,
    ) -> Result<Receipt, IngestError> {
        // The stream is spooled to a file first (capped at `max_upload`), so
        // a slow sender never holds the archive's one write lock: syslog and
        // mail keep flowing while an upload trickles in.
        let limit = self.inner.cfg.max_upload;
        let spool = Spool::create(self.inner.path.parent().unwrap_or(Path::new(".")))?;
        let mut file = spool.file()?;
        let copied =
            std::io::copy(&mut input.take(limit + 1), &mut file).map_err(IngestError::Read)?;
        if copied > limit {
            return Err(IngestError::TooLarge { limit });
        }
        std::io::Write::flush(&mut file).map_err(IngestError::Read)?;
        drop(file);
        let reader = std::fs::File::open(&spool.0).map_err(IngestError::Read)?;
        let index = self.index();
        let mut store = self.inner.store.lock().unwrap_or_else(|p| p.into_inner());
        ingest(&mut store, &index, target, source, reader, limit)
    }

    /// Stores already-parsed batches (syslog): every builder that holds
    /// lines is written, all in one transaction. Blocking.
    pub fn write_batches(&self, builders: &mut [BatchBuilder]) -> Result<Vec<i64>, LogStoreError> {
        let received = crate::archive::Timestamp::now().unix();
        let mut store = self.inner.store.lock().unwrap_or_else(|p| p.into_inner());
        let mut w = store.writer()?;
        let mut ids = Vec::new();
        for b in builders.iter_mut().filter(|b| !b.is_empty()) {
            ids.push(b.write(&mut w, received)?);
        }
        w.commit()?;
        Ok(ids)
    }

    /// Runs retention once: removes entries older than the configured
    /// retention. Blocking.
    pub fn prune(&self) -> Result<u64, LogStoreError> {
        let cutoff =
            crate::archive::Timestamp::now().unix() - self.inner.cfg.retention.as_secs() as i64;
        let mut store = self.inner.store.lock().unwrap_or_else(|p| p.into_inner());
        store.prune(cutoff)
    }

    /// Runs retention now and then every hour, forever (spawn it).
    pub async fn retention_loop(self) {
        loop {
            let s = self.clone();
            match tokio::task::spawn_blocking(move || s.prune()).await {
                Ok(Ok(n)) if n > 0 => {
                    tracing::info!(batches = n, "log retention removed old batches")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "log retention failed"),
                _ => {}
            }
            tokio::time::sleep(RETENTION_EVERY).await;
        }
    }
}

/// A spooled upload, removed when dropped.
struct Spool(PathBuf);

impl Spool {
    fn create(data_dir: &Path) -> Result<Spool, IngestError> {
        let dir = data_dir.join("spool");
        std::fs::create_dir_all(&dir).map_err(IngestError::Read)?;
        let mut b = [0u8; 12];
        getrandom::fill(&mut b)
            .map_err(|e| IngestError::Read(std::io::Error::other(e.to_string())))?;
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(Spool(dir.join(format!("upload-{name}"))))
    }

    fn file(&self) -> Result<std::io::BufWriter<std::fs::File>, IngestError> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.0)
            .map_err(IngestError::Read)?;
        Ok(std::io::BufWriter::with_capacity(256 * 1024, f))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load_index(archive: &Path) -> FeedIndex {
    if !archive.exists() {
        return FeedIndex::empty();
    }
    match FeedIndex::load(archive) {
        Ok(i) => {
            tracing::debug!(intervals = i.intervals(), "log correlation index loaded");
            i
        }
        Err(e) => {
            tracing::warn!(error = %e, "log correlation index not loaded; entries get no feed tags until it is");
            FeedIndex::empty()
        }
    }
}
