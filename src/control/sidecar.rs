//! `feedwall control`: the sidecar loop.
//!
//! sources (fetch) → transforms (parse, sanity gate) → sinks (archive,
//! snapshot). Each feed is fetched on its own schedule (half its update
//! period, 2 h when unknown); due feeds are fetched concurrently, so one
//! slow or broken feed never delays the others. Every attempt is recorded in
//! the archive. A version that passes the gate is archived and replaces the
//! feed's published entries; one that fails it is recorded as held back and
//! the last good version keeps being published. When any published input
//! changed, the lists are rebuilt and a new snapshot is written atomically;
//! the responder picks it up by itself.
//!
//! Fetches are conditional (ETag / Last-Modified, FTP MDTM and size) against
//! the published version only: its validators are kept in
//! `validators.json`, so they survive restarts and `--once` runs, and a
//! held-back version is fetched and gated again until it recovers.
//!
//! The snapshot depends only on its inputs: the serial and generation time
//! change only when the inputs do (`snapshot.state` remembers the digest of
//! the last inputs), so unchanged inputs leave the file byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnet::IpNet;

use super::gate;
use crate::archive::{self, Archive, FeedMeta, FeedVersion, FetchOutcome, FetchStatus, Timestamp};
use crate::config::{Config, FeedConfig};
use crate::feeds::{self, Format, FormatOptions};
use crate::fetch::{FetchSettings, Fetched, Fetcher, Source, Validators};
use crate::snapshot::{DeviceSpec, ListSpec, SnapshotWriter, AUDIENCE_ALL};

/// File names inside the data directory.
pub const SNAPSHOT_FILE: &str = "snapshot.fw";
pub const ARCHIVE_FILE: &str = "archive.sqlite";
pub const STATE_FILE: &str = "snapshot.state";
pub const HEALTH_FILE: &str = "feeds.json";
/// The validators (ETag, Last-Modified, MDTM/size) of each feed's published
/// version, so conditional fetches work across restarts and `--once` runs.
pub const VALIDATORS_FILE: &str = "validators.json";
/// Held-back feed bodies, kept for an operator's decision.
pub const HELD_DIR: &str = "held";
/// Operator decisions (`feedwall feeds accept`), one marker file per feed.
pub const ACCEPT_DIR: &str = "accept";
/// PID of the running sidecar (for `feeds fetch-now` / `feeds accept`).
pub const PID_FILE: &str = "control.pid";
/// Pause after an admin change before publishing, so a burst of changes
/// becomes one snapshot.
pub const ADMIN_SETTLE: Duration = Duration::from_millis(200);

/// Wakes the running sidecar of a data directory (SIGUSR1: fetch every
/// feed now and apply accepts). Errors when none is running.
pub fn signal_running(data_dir: &Path) -> anyhow::Result<u32> {
    let pid: i32 = std::fs::read_to_string(data_dir.join(PID_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .with_context(|| {
            format!(
                "no running sidecar found in {} (no {PID_FILE})",
                data_dir.display()
            )
        })?;
    // SAFETY: kill(2) has no memory effects; a stale pid yields ESRCH.
    if pid <= 0 || unsafe { libc::kill(pid, libc::SIGUSR1) } != 0 {
        anyhow::bail!("the sidecar (pid {pid}) is not running");
    }
    Ok(pid as u32)
}

/// `feedwall feeds accept FEED`: marks the feed's held-back version as
/// accepted; the running sidecar (woken now) or the next `control --once`
/// publishes it.
pub fn accept_command(cfg: &Config, feed: &str) -> anyhow::Result<()> {
    if !cfg.feeds.iter().any(|f| f.id == feed) {
        anyhow::bail!("no feed {feed:?} in the config");
    }
    let body = cfg.data_dir.join(HELD_DIR).join(format!("{feed}.body"));
    if !body.exists() {
        anyhow::bail!("feed {feed:?} has no held-back version");
    }
    let dir = cfg.data_dir.join(ACCEPT_DIR);
    std::fs::create_dir_all(&dir)?;
    crate::snapshot::write_atomic_file(&dir.join(feed), b"accept\n")?;
    match signal_running(&cfg.data_dir) {
        Ok(pid) => eprintln!("accepted; the running sidecar (pid {pid}) publishes it now"),
        Err(_) => {
            eprintln!("accepted; published at the next sync (`feedwall control --once` or start)")
        }
    }
    Ok(())
}

/// Records an operator's decision on a feed's held-back version (a marker
/// file in `accept/`, read by [`Sidecar::apply_accepts`]): accept
/// publishes it, reject forgets it and keeps the last good version.
pub fn mark_decision(data_dir: &Path, feed: &str, accept: bool) -> anyhow::Result<()> {
    if feed.is_empty() || feed.contains(['/', '\\']) || feed.starts_with('.') {
        anyhow::bail!("bad feed id {feed:?}");
    }
    if !data_dir
        .join(HELD_DIR)
        .join(format!("{feed}.body"))
        .exists()
    {
        anyhow::bail!("feed {feed:?} has no held-back version");
    }
    let dir = data_dir.join(ACCEPT_DIR);
    std::fs::create_dir_all(&dir)?;
    let what: &[u8] = if accept { b"accept\n" } else { b"reject\n" };
    crate::snapshot::write_atomic_file(&dir.join(feed), what)?;
    Ok(())
}

/// What the sidecar knows about one feed between fetches.
struct FeedState {
    cfg: FeedConfig,
    meta: FeedMeta,
    source: Source,
    format: Format,
    options: FormatOptions,
    /// Validators of the last fetched body that is (or confirmed) the
    /// published version, with that body's hash. Sent only while that
    /// version is still the published one: a held-back body's validators
    /// are never kept, so it is fetched and gated again, never 304'd away.
    validators: Option<(String, Validators)>,
    /// Entries of the last good version (what is published).
    entries: Vec<IpNet>,
    last_good_count: Option<usize>,
    last_good_at: Option<Timestamp>,
    last_hash: Option<String>,
    next_due: Instant,
    /// Last outcome, for the health file.
    status: String,
    held_back: Option<String>,
    rejected: usize,
}

/// The running sidecar.
pub struct Sidecar {
    cfg: Config,
    /// The admin database (accounts, devices, lists), when the admin
    /// plane runs in this process.
    admin: Option<crate::admin::store::Store>,
    archive: Archive,
    fetcher: Fetcher,
    feeds: Vec<FeedState>,
    data_dir: PathBuf,
}

/// One line of progress per finished feed.
#[derive(Debug, Clone)]
pub struct FeedReport {
    pub id: String,
    pub status: String,
    pub entries: usize,
}

impl Sidecar {
    /// Opens the archive, loads every feed's last good version, checks the
    /// feed URLs and formats. Nothing is fetched yet.
    pub fn open(cfg: Config) -> anyhow::Result<Sidecar> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
        let archive =
            Archive::open(&cfg.data_dir.join(ARCHIVE_FILE)).context("cannot open the archive")?;
        let settings = FetchSettings {
            connect_timeout: cfg.fetch.connect_timeout,
            attempt_timeout: cfg.fetch.timeout,
            job_timeout: cfg.fetch.timeout * (cfg.fetch.retries + 1),
            max_body_bytes: cfg.fetch.max_bytes,
            max_retries: cfg.fetch.retries,
            ..FetchSettings::default()
        };
        let fetcher = Fetcher::new(settings).context("cannot set up fetching")?;
        let mut feeds = Vec::new();
        let now = Instant::now();
        let mut saved = load_validators(&cfg.data_dir.join(VALIDATORS_FILE));
        for f in cfg.feeds.iter().filter(|f| f.enabled) {
            let source =
                Source::parse(&f.url).with_context(|| format!("feed {}: bad url", f.id))?;
            let format = Format::from_name(&f.format)
                .with_context(|| format!("feed {}: unknown format {}", f.id, f.format))?;
            let mut options = FormatOptions::default();
            if let Some(field) = &f.field {
                match format {
                    Format::GenericCsv => {
                        options.column =
                            Some(field.parse().map_err(|_| {
                                anyhow::anyhow!("feed {}: bad column {field:?}", f.id)
                            })?)
                    }
                    _ => options.field = Some(field.clone()),
                }
            }
            let entries: Vec<IpNet> = archive
                .current_entries(&f.id)?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let status = archive.feed_status(&f.id)?;
            let (last_good_count, last_good_at, last_hash) =
                match status.as_ref().and_then(|s| s.last_good.as_ref()) {
                    Some(v) => (
                        Some(entries.len()),
                        Some(v.fetched_at),
                        Some(v.hash.clone()),
                    ),
                    None => (None, None, None),
                };
            let meta = FeedMeta {
                id: f.id.clone(),
                name: f.name.clone(),
                url: f.url.clone(),
                provider: f.provider.clone(),
                homepage: f.homepage.clone(),
            };
            // Saved validators count only for the same URL and the version
            // the archive still publishes.
            let validators = saved
                .remove(&f.id)
                .filter(|v| v.url == f.url && Some(&v.hash) == last_hash.as_ref())
                .map(|v| (v.hash, v.validators));
            feeds.push(FeedState {
                cfg: f.clone(),
                meta,
                source,
                format,
                options,
                validators,
                entries,
                last_good_count,
                last_good_at,
                last_hash,
                next_due: now,
                status: "not fetched yet".into(),
                held_back: None,
                rejected: 0,
            });
        }
        let data_dir = cfg.data_dir.clone();
        Ok(Sidecar {
            cfg,
            admin: None,
            archive,
            fetcher,
            feeds,
            data_dir,
        })
    }

    /// Publishes the admin database's accounts, devices and lists too,
    /// and rebuilds when they change.
    pub fn with_admin(mut self, store: crate::admin::store::Store) -> Sidecar {
        self.admin = Some(store);
        self
    }

    fn admin_inputs(&self) -> anyhow::Result<Option<crate::admin::store::PublishInputs>> {
        match &self.admin {
            Some(s) => Ok(Some(
                s.publish_inputs()
                    .context("cannot read the admin database")?,
            )),
            None => Ok(None),
        }
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.data_dir.join(SNAPSHOT_FILE)
    }

    /// Fetches the given feeds (indices) concurrently and processes each
    /// result as it arrives. Returns true when a published input changed.
    pub async fn fetch(
        &mut self,
        which: &[usize],
        progress: &mut dyn FnMut(usize, usize, &FeedReport),
    ) -> anyhow::Result<bool> {
        let jobs: Vec<(usize, Source, Option<Validators>)> = which
            .iter()
            .map(|&i| {
                let f = &self.feeds[i];
                let validators = f
                    .validators
                    .as_ref()
                    .filter(|(h, _)| Some(h) == f.last_hash.as_ref())
                    .map(|(_, v)| v.clone());
                (i, f.source.clone(), validators)
            })
            .collect();
        let total = jobs.len();
        let concurrency = self.cfg.fetch.concurrency;
        let mut stream = self.fetcher.fetch_stream(jobs, concurrency);
        let mut changed = false;
        let mut done = 0;
        let admin_changed = self.admin_changed();
        loop {
            // Account changes are published while long fetches run.
            let next = tokio::select! {
                n = stream.next() => n,
                _ = admin_changed.notified() => {
                    self.publish_admin_change().await;
                    continue;
                }
            };
            let Some((i, result)) = next else { break };
            done += 1;
            changed |= self.process(i, result)?;
            let f = &self.feeds[i];
            progress(
                done,
                total,
                &FeedReport {
                    id: f.cfg.id.clone(),
                    status: f.status.clone(),
                    entries: f.entries.len(),
                },
            );
        }
        self.save_validators()?;
        Ok(changed)
    }

    /// Writes the validators of every feed's published version
    /// ([`VALIDATORS_FILE`]).
    fn save_validators(&self) -> anyhow::Result<()> {
        let saved: BTreeMap<&str, SavedValidators> = self
            .feeds
            .iter()
            .filter_map(|f| {
                let (hash, v) = f
                    .validators
                    .as_ref()
                    .filter(|(h, _)| Some(h) == f.last_hash.as_ref())?;
                Some((
                    f.cfg.id.as_str(),
                    SavedValidators {
                        url: f.cfg.url.clone(),
                        hash: hash.clone(),
                        validators: v.clone(),
                    },
                ))
            })
            .collect();
        crate::snapshot::write_atomic_file(
            &self.data_dir.join(VALIDATORS_FILE),
            serde_json::to_string_pretty(&saved)?.as_bytes(),
        )?;
        Ok(())
    }

    /// Handles one fetch result; true when the feed's published entries
    /// changed.
    fn process(
        &mut self,
        i: usize,
        result: Result<Fetched, crate::fetch::FetchError>,
    ) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        let f = &mut self.feeds[i];
        f.next_due = Instant::now() + f.cfg.interval;
        let (bytes, validators) = match result {
            Ok(Fetched::NotModified) => {
                if let Some(h) = &f.last_hash {
                    self.archive.confirm_version(&f.cfg.id, h, now)?;
                }
                self.archive.record_fetch(
                    &f.meta,
                    &FetchOutcome {
                        at: now,
                        status: FetchStatus::NotModified,
                        counts: None,
                        hash: None,
                    },
                )?;
                f.status = "not modified".into();
                // Only the published version's validators are sent: the
                // source is back to it, so a held-back version is gone.
                f.held_back = None;
                discard_held(&self.data_dir, &f.cfg.id);
                return Ok(false);
            }
            Ok(Fetched::Body {
                bytes, validators, ..
            }) => (bytes, validators),
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(feed = %f.cfg.id, error = %reason, "fetch failed; last good version stays published");
                self.archive.record_fetch(
                    &f.meta,
                    &FetchOutcome {
                        at: now,
                        status: FetchStatus::Failed(reason.clone()),
                        counts: None,
                        hash: None,
                    },
                )?;
                f.status = format!("failed: {reason}");
                return Ok(false);
            }
        };
        let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
        if f.last_hash.as_deref() == Some(hash.as_str()) && f.held_back.is_none() {
            f.validators = Some((hash.clone(), validators));
            self.archive.confirm_version(&f.cfg.id, &hash, now)?;
            self.archive.record_fetch(
                &f.meta,
                &FetchOutcome {
                    at: now,
                    status: FetchStatus::NotModified,
                    counts: None,
                    hash: Some(hash),
                },
            )?;
            f.status = "unchanged".into();
            return Ok(false);
        }
        let parsed = feeds::parse(&bytes, f.format, &f.options);
        let counts = archive::Counts {
            entries: parsed.entries.len() as u64,
            rejected: parsed.counts.rejected as u64,
            ignored: parsed.counts.ignored as u64,
        };
        f.rejected = parsed.counts.rejected;
        if let Err(reason) =
            gate::check(&self.cfg.gate, &bytes, f.format, &parsed, f.last_good_count)
        {
            let reason = reason.to_string();
            tracing::warn!(feed = %f.cfg.id, reason = %reason, "new version held back; last good version stays published");
            self.archive.record_fetch(
                &f.meta,
                &FetchOutcome {
                    at: now,
                    status: FetchStatus::HeldBack(reason.clone()),
                    counts: Some(counts),
                    hash: Some(hash),
                },
            )?;
            f.status = format!("held back: {reason}");
            f.held_back = Some(reason);
            // Kept so an operator can accept it (`feedwall feeds accept`).
            let held = self.data_dir.join(HELD_DIR);
            std::fs::create_dir_all(&held)?;
            crate::snapshot::write_atomic_file(&held.join(format!("{}.body", f.cfg.id)), &bytes)?;
            return Ok(false);
        }
        let changed = self.store_accepted(i, hash.clone(), &parsed, counts, now)?;
        self.feeds[i].validators = Some((hash, validators));
        Ok(changed)
    }

    /// Archives a version that passed the gate (or that an operator
    /// accepted) and makes it the published one.
    fn store_accepted(
        &mut self,
        i: usize,
        hash: String,
        parsed: &feeds::Parsed,
        counts: archive::Counts,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let f = &mut self.feeds[i];
        let version = FeedVersion {
            feed: f.cfg.id.clone(),
            fetched_at: now,
            hash: hash.clone(),
            counts,
            entries: parsed
                .entries
                .iter()
                .map(|e| (e.net, to_archive_detail(e.detail.as_deref())))
                .collect(),
        };
        let stats = self.archive.store_version(&f.meta, &version)?;
        self.archive.record_fetch(
            &f.meta,
            &FetchOutcome {
                at: now,
                status: FetchStatus::Ok,
                counts: Some(counts),
                hash: Some(hash.clone()),
            },
        )?;
        let new_entries: Vec<IpNet> = parsed.nets().collect();
        let changed = new_entries != f.entries;
        tracing::info!(feed = %f.cfg.id, entries = new_entries.len(), added = stats.added, removed = stats.removed, rejected = parsed.counts.rejected, "feed version accepted");
        f.entries = new_entries;
        f.last_good_count = Some(f.entries.len());
        f.last_good_at = Some(now);
        f.last_hash = Some(hash);
        f.held_back = None;
        discard_held(&self.data_dir, &f.cfg.id);
        f.status = format!(
            "ok: {} entries (+{} -{}), {} rejected",
            f.entries.len(),
            stats.added,
            stats.removed,
            parsed.counts.rejected
        );
        Ok(changed || stats.added + stats.removed > 0)
    }

    /// Builds the snapshot from the published inputs and writes it when they
    /// changed since the last one. Returns the serial written, if any.
    pub fn publish(&mut self) -> anyhow::Result<Option<u32>> {
        let digest = self.inputs_digest();
        let state_path = self.data_dir.join(STATE_FILE);
        let prev: Option<(String, u32)> = std::fs::read_to_string(&state_path).ok().and_then(|t| {
            let v: serde_json::Value = serde_json::from_str(&t).ok()?;
            Some((
                v["digest"].as_str()?.to_string(),
                v["serial"].as_u64()? as u32,
            ))
        });
        let snap_path = self.snapshot_path();
        if let Some((d, _)) = &prev {
            if *d == digest && snap_path.exists() {
                return Ok(None);
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut serial = now as u32;
        if let Some((_, s)) = prev {
            serial = serial.max(s.wrapping_add(1));
        }
        if let Some(s) = crate::snapshot::peek_serial(&snap_path) {
            serial = serial.max(s.wrapping_add(1));
        }
        let w = self.writer(serial, now)?;
        let snap = w.write(&snap_path).context("cannot write the snapshot")?;
        crate::snapshot::write_atomic_file(
            &state_path,
            serde_json::json!({ "digest": digest, "serial": serial })
                .to_string()
                .as_bytes(),
        )?;
        tracing::info!(serial, names = snap.names.len(), "snapshot published");
        Ok(Some(serial))
    }

    /// The snapshot writer for the current inputs.
    pub fn writer(&self, serial: u32, created_unix: u64) -> anyhow::Result<SnapshotWriter> {
        let z = &self.cfg.zone;
        let mut w = SnapshotWriter::new(z.settings()?, serial);
        w.created_unix = created_unix;
        for l in &self.cfg.lists {
            let mut nets: Vec<IpNet> = Vec::new();
            let mut oldest: Option<i64> = None;
            for id in &l.feeds {
                if let Some(f) = self.feeds.iter().find(|f| f.cfg.id == *id) {
                    nets.extend_from_slice(&f.entries);
                    if let Some(t) = f.last_good_at {
                        oldest = Some(oldest.map_or(t.unix(), |o| o.min(t.unix())));
                    }
                }
            }
            // Union of the feeds. Prefixes narrow enough to be published as
            // host records are kept as they are (the writer expands them and
            // removes duplicate hosts); only wider ones are aggregated
            // (overlaps and adjacent prefixes merged). Aggregating first
            // would merge two adjacent /24s into a /23 and drop their hosts
            // from the DNS answers (regression test in tests/it/sidecar_e2e.rs).
            let (narrow, wide): (Vec<IpNet>, Vec<IpNet>) =
                nets.into_iter().partition(|n| match n {
                    IpNet::V4(n) => n.prefix_len() >= z.expand_v4,
                    IpNet::V6(n) => n.prefix_len() >= z.expand_v6,
                });
            let mut nets = narrow;
            nets.extend(IpNet::aggregate(&wide));
            if let Some(o) = oldest {
                w.oldest_input.insert(l.name.clone(), o.max(0) as u64);
            }
            w.lists.push(ListSpec {
                name: l.name.clone(),
                audience: AUDIENCE_ALL,
                capacity: Some(l.capacity),
                nets,
                source: format!("feeds: {}", l.feeds.join(", ")),
            });
        }
        w.accounts.push((0, "operator".into()));
        if let Some(inputs) = self.admin_inputs()? {
            let reserved: Vec<IpNet> = self
                .cfg
                .devices
                .iter()
                .flat_map(|d| d.prefixes.iter().copied())
                .collect();
            let feed = |id: &str| {
                self.feeds
                    .iter()
                    .find(|f| f.cfg.id == id)
                    .map(|f| f.entries.as_slice())
            };
            let specs = crate::admin::publish::account_specs(
                &inputs,
                &feed,
                &reserved,
                z.expand_v4,
                z.expand_v6,
            );
            w.lists.extend(specs.lists);
            w.devices.extend(specs.devices);
            w.accounts.extend(specs.accounts);
        }
        for d in &self.cfg.devices {
            w.devices.push(DeviceSpec {
                key: 0,
                name: d.name.clone(),
                account: 0,
                prefixes: d.prefixes.clone(),
            });
        }
        Ok(w)
    }

    /// Digest of everything the snapshot is built from.
    fn inputs_digest(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(
            format!(
                "{:?}{:?}{:?}",
                self.cfg.zone,
                self.cfg
                    .lists
                    .iter()
                    .map(|l| (&l.name, &l.feeds, l.capacity))
                    .collect::<Vec<_>>(),
                self.cfg.devices
            )
            .as_bytes(),
        );
        if let Ok(Some(inputs)) = self.admin_inputs() {
            use std::hash::{Hash, Hasher};
            let mut dh = std::collections::hash_map::DefaultHasher::new();
            inputs.hash(&mut dh);
            h.update(&dh.finish().to_le_bytes());
        }
        for f in &self.feeds {
            h.update(f.cfg.id.as_bytes());
            h.update(f.last_hash.as_deref().unwrap_or("-").as_bytes());
            h.update(&(f.entries.len() as u64).to_le_bytes());
        }
        format!("{:016x}", h.digest())
    }

    /// Writes the feed health file (status of every feed) for operators and
    /// the admin page.
    pub fn write_health(&self) -> anyhow::Result<()> {
        let feeds: BTreeMap<&str, serde_json::Value> = self
            .feeds
            .iter()
            .map(|f| {
                (
                    f.cfg.id.as_str(),
                    serde_json::json!({
                        "url": f.source.redacted().to_string(),
                        "status": f.status,
                        "entries": f.entries.len(),
                        "rejected_last_fetch": f.rejected,
                        "held_back": f.held_back,
                        "last_good": f.last_good_at.map(|t| t.to_string()),
                        "interval_secs": f.cfg.interval.as_secs(),
                        "provider": f.cfg.provider,
                    }),
                )
            })
            .collect();
        crate::snapshot::write_atomic_file(
            &self.data_dir.join(HEALTH_FILE),
            serde_json::to_string_pretty(&feeds)?.as_bytes(),
        )?;
        Ok(())
    }

    /// Accepts the held-back versions an operator asked for (marker files
    /// in `accept/`, written by `feedwall feeds accept`). True when a
    /// published input changed.
    pub fn apply_accepts(&mut self) -> anyhow::Result<bool> {
        let dir = self.data_dir.join(ACCEPT_DIR);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(false);
        };
        let mut changed = false;
        for marker in rd.flatten() {
            let id = marker.file_name().to_string_lossy().into_owned();
            let reject = std::fs::read(marker.path()).is_ok_and(|b| b.starts_with(b"reject"));
            let _ = std::fs::remove_file(marker.path());
            let Some(i) = self.feeds.iter().position(|f| f.cfg.id == id) else {
                continue;
            };
            if reject {
                discard_held(&self.data_dir, &id);
                let f = &mut self.feeds[i];
                f.held_back = None;
                f.status = format!("{} (held-back version rejected by the operator)", f.status);
                tracing::info!(feed = %id, "held-back version rejected by the operator");
                continue;
            }
            let body_path = self.data_dir.join(HELD_DIR).join(format!("{id}.body"));
            let Ok(bytes) = std::fs::read(&body_path) else {
                tracing::warn!(feed = %id, "accept asked, but no held-back version is kept");
                continue;
            };
            let f = &self.feeds[i];
            let parsed = feeds::parse(&bytes, f.format, &f.options);
            let counts = archive::Counts {
                entries: parsed.entries.len() as u64,
                rejected: parsed.counts.rejected as u64,
                ignored: parsed.counts.ignored as u64,
            };
            let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
            tracing::info!(feed = %id, entries = parsed.entries.len(), "held-back version accepted by the operator");
            changed |= self.store_accepted(i, hash, &parsed, counts, Timestamp::now())?;
            self.feeds[i].status = format!("{} (accepted by the operator)", self.feeds[i].status);
            let _ = std::fs::remove_file(&body_path);
        }
        Ok(changed)
    }

    /// Woken when the admin database changes (never, without one).
    fn admin_changed(&self) -> std::sync::Arc<tokio::sync::Notify> {
        match &self.admin {
            Some(s) => s.changed(),
            None => std::sync::Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Publishes after an admin change, once a short burst of changes has
    /// settled (a bulk import is one change, a page of edits a few).
    async fn publish_admin_change(&mut self) {
        tokio::time::sleep(ADMIN_SETTLE).await;
        // Operator decisions on held-back versions arrive the same way.
        match self.apply_accepts() {
            Ok(_) => {
                if let Err(e) = self.write_health() {
                    tracing::warn!(error = %e, "cannot write the feed health file");
                }
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot apply operator decisions"),
        }
        match self.publish() {
            Ok(Some(serial)) => tracing::info!(serial, "published after an account change"),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot publish after an account change")
            }
        }
    }

    /// Indices of feeds due now.
    fn due(&self) -> Vec<usize> {
        let now = Instant::now();
        (0..self.feeds.len())
            .filter(|&i| self.feeds[i].next_due <= now)
            .collect()
    }

    /// Fetches every feed once, publishes, and returns (CLI `--once`).
    pub async fn sync_once(
        &mut self,
        progress: &mut dyn FnMut(usize, usize, &FeedReport),
    ) -> anyhow::Result<Option<u32>> {
        self.apply_accepts()?;
        let all: Vec<usize> = (0..self.feeds.len()).collect();
        self.fetch(&all, progress).await?;
        self.write_health()?;
        self.publish()
    }

    /// Runs forever: publish what the archive holds, then fetch feeds as
    /// they fall due (SIGUSR1: fetch every feed now), publish after changes.
    pub async fn run(&mut self) -> anyhow::Result<()> {
        self.apply_accepts()?;
        self.publish()?;
        crate::snapshot::write_atomic_file(
            &self.data_dir.join(PID_FILE),
            std::process::id().to_string().as_bytes(),
        )?;
        self.write_health()?;
        let mut now_signal =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
        loop {
            let due = self.due();
            if !due.is_empty() {
                let changed = self.fetch(&due, &mut |_, _, _| {}).await?;
                self.write_health()?;
                if changed {
                    self.publish()?;
                }
                continue;
            }
            let next = self.feeds.iter().map(|f| f.next_due).min();
            let sleep = next
                .map(|n| n.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            let admin_changed = self.admin_changed();
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = admin_changed.notified() => {
                    self.publish_admin_change().await;
                }
                _ = now_signal.recv() => {
                    tracing::info!("fetch-now requested");
                    if self.apply_accepts()? {
                        self.write_health()?;
                        self.publish()?;
                    }
                    for f in &mut self.feeds {
                        f.next_due = Instant::now();
                    }
                }
            }
        }
    }
}

/// Forgets a feed's kept held-back body once another version is published
/// (or confirmed): accepting it later would publish a stale version over
/// the recovered feed.
fn discard_held(data_dir: &Path, feed: &str) {
    let _ = std::fs::remove_file(data_dir.join(HELD_DIR).join(format!("{feed}.body")));
}

/// One feed's entry in [`VALIDATORS_FILE`].
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedValidators {
    url: String,
    /// Hash of the body the validators came with.
    hash: String,
    validators: Validators,
}

/// Reads [`VALIDATORS_FILE`]; a missing or unreadable file means none (the
/// next fetches are unconditional, nothing else changes).
fn load_validators(path: &Path) -> BTreeMap<String, SavedValidators> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn to_archive_detail(d: Option<&feeds::Detail>) -> archive::Detail {
    match d {
        None => archive::Detail::default(),
        Some(d) => archive::Detail {
            score: d.score.map(|s| s as f32),
            category: d.category.as_deref().map(String::from),
            country: d.country.map(|c| c.as_str().to_string()),
            reference: d.reference.as_deref().map(String::from),
        },
    }
}

/// `feedwall control --config FILE [--once]`.
pub fn run_command(config: &Path, once: bool) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    // Two workers: the admin pages stay responsive while a large feed is
    // parsed and archived.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let admin = if cfg.admin.enabled {
            std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
                format!("cannot create data directory {}", cfg.data_dir.display())
            })?;
            Some(
                crate::admin::store::Store::open(&cfg.data_dir.join(crate::admin::DB_FILE))
                    .context("cannot open the admin database")?,
            )
        } else {
            None
        };
        let shared_cfg = std::sync::Arc::new(cfg.clone());
        let cfg_logs = cfg.logs.clone();
        let mut sidecar = Sidecar::open(cfg)?;
        if let Some(store) = &admin {
            sidecar = sidecar.with_admin(store.clone());
        }
        if once {
            let serial = sidecar
                .sync_once(&mut |done, total, r| {
                    eprintln!(
                        "[{done}/{total}] {}: {} ({} entries published)",
                        r.id, r.status, r.entries
                    )
                })
                .await?;
            match serial {
                Some(s) => eprintln!(
                    "snapshot {} written (serial {s})",
                    sidecar.snapshot_path().display()
                ),
                None => eprintln!(
                    "inputs unchanged; snapshot {} left as it was",
                    sidecar.snapshot_path().display()
                ),
            }
            return Ok(());
        }
        let logs = match &admin {
            Some(_) if cfg_logs.enabled => Some(
                crate::logs::service::LogService::open(
                    &shared_cfg.data_dir,
                    &shared_cfg.data_dir.join(ARCHIVE_FILE),
                    cfg_logs.clone(),
                )
                .context("cannot open the log archive")?,
            ),
            _ => None,
        };
        if let (Some(store), Some(logs)) = (&admin, &logs) {
            tokio::spawn(logs.clone().retention_loop());
            if shared_cfg.dshield.enabled {
                let submitter = crate::logs::dshield::Submitter::open(
                    &shared_cfg.data_dir,
                    &shared_cfg.dshield,
                    std::sync::Arc::new(store.clone()),
                )
                .context("cannot start DShield submission")?;
                tokio::spawn(submitter.run());
            }
            crate::logs::intake::start(shared_cfg.clone(), store.clone(), logs.clone())
                .await
                .context("cannot start log intake")?;
        }
        if let Some(store) = admin {
            crate::admin::start(shared_cfg, store, logs)
                .await
                .context("cannot start the admin web server")?;
        }
        tokio::select! {
            r = sidecar.run() => r,
            _ = shutdown() => Ok(()),
        }
    })
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
