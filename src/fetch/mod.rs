//! Feeds in, first step: getting a feed's bytes. Nothing here parses,
//! stores or schedules; it answers "what does this URL hold now, if it
//! changed since these validators?".
//!
//! - [`Source`]: a checked URL, http, https (rustls with ring, no OpenSSL),
//!   ftp (passive, anonymous unless `user:pass@`) or file. RSS/Atom feeds
//!   are fetched as http(s); their format is the parsers' business.
//! - [`Fetcher`]: built once from [`FetchSettings`] (timeouts, size cap,
//!   retries, backoff, user agent), shared by every fetch (one HTTP
//!   connection pool). [`Fetcher::fetch`] makes one fetch; [`Fetcher::fetch_all`]
//!   and [`Fetcher::fetch_stream`] run many at once with a bound.
//! - [`Fetched`]: [`NotModified`](Fetched::NotModified), or a
//!   [`Body`](Fetched::Body) with the [`Validators`] to pass next time.
//! - [`FetchError`]: names the URL and the cause; its [`Disposition`] says
//!   "retry later" or "permanent".
//!
//! Invariants:
//! - A body is never larger than `max_body_bytes` in memory: the cap is
//!   checked against a declared length first, then at every received piece,
//!   then again on gzip decompression.
//! - A fetch never outlives `job_timeout`, whatever the source does; each
//!   attempt is bounded by `attempt_timeout`, each silence by `idle_timeout`.
//! - Only transient errors are retried (see [`Disposition`]), with
//!   exponential backoff and jitter, or the server's `Retry-After` when it
//!   is no longer than `retry_after_max`. A wait that would cross the job
//!   deadline is not started: the last error is returned instead.
//! - Passwords in ftp URLs never appear in errors, logs or `final_url`.
//! - In [`Fetcher::fetch_all`] every feed runs as its own task under its own
//!   deadline: a slow or failing feed delays no other beyond holding one of
//!   the `concurrency` slots until its deadline.

mod body;
mod error;
mod file;
mod ftp;
mod http;
mod retry;
mod settings;
mod source;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::{Id as TaskId, JoinSet};
use url::Url;

pub use error::{Disposition, FetchError, TimeoutPhase};
pub use settings::*;
pub use source::{Fetched, Scheme, Source, SourceError, Validators};

/// What one attempt got, before decompression and timing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Got {
    NotModified,
    Body(RawBody),
}

/// A body as received (after any HTTP content coding, before gzip-file
/// decompression).
pub(crate) struct RawBody {
    pub(crate) bytes: Vec<u8>,
    pub(crate) validators: Validators,
    pub(crate) content_type: Option<String>,
    pub(crate) final_url: Url,
}

/// Fetches feeds. Cheap to clone (the settings and the HTTP client are
/// shared); build one per process.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: FetchSettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Validates the settings and builds the HTTP client.
    pub fn new(settings: FetchSettings) -> Result<Fetcher, FetchSetupError> {
        settings.validate()?;
        let http = http::build_client(&settings)?;
        Ok(Fetcher {
            inner: Arc::new(Inner { settings, http }),
        })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.inner.settings
    }

    /// Fetches `source`. With `previous` (the validators of the last good
    /// fetch), asks only for a changed version and returns
    /// [`Fetched::NotModified`] when there is none. Retries transient
    /// failures; never takes longer than `job_timeout`.
    pub async fn fetch(
        &self,
        source: &Source,
        previous: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let settings = &self.inner.settings;
        let result = match tokio::time::timeout(
            settings.job_timeout,
            self.fetch_with_retries(source, previous, started),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: source.redacted(),
                phase: TimeoutPhase::Job,
                after: settings.job_timeout,
            }),
        };
        match &result {
            Ok(Fetched::NotModified) => {
                tracing::debug!(url = %source, elapsed_ms = started.elapsed().as_millis() as u64, "feed not modified");
            }
            Ok(Fetched::Body { bytes, .. }) => {
                tracing::debug!(url = %source, bytes = bytes.len(), elapsed_ms = started.elapsed().as_millis() as u64, "feed fetched");
            }
            // The caller reports the failure with its feed's name.
            Err(e) => {
                tracing::debug!(url = %source, error = %e, retryable = e.is_retryable(), "feed fetch failed");
            }
        }
        result
    }

    async fn fetch_with_retries(
        &self,
        source: &Source,
        previous: Option<&Validators>,
        started: Instant,
    ) -> Result<Fetched, FetchError> {
        let settings = &self.inner.settings;
        let mut retry = 0u32;
        loop {
            let attempt = match tokio::time::timeout(
                settings.attempt_timeout,
                self.attempt(source, previous),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(FetchError::Timeout {
                    url: source.redacted(),
                    phase: TimeoutPhase::Attempt,
                    after: settings.attempt_timeout,
                }),
            };
            let error = match attempt {
                Ok(Got::NotModified) => return Ok(Fetched::NotModified),
                Ok(Got::Body(raw)) => return self.finish(source, raw, started).await,
                Err(e) => e,
            };
            if !error.is_retryable() || retry >= settings.max_retries {
                return Err(error);
            }
            let delay = match error.retry_after() {
                // The server wants a longer pause than a fetch waits: the
                // scheduler gets the error and the server's delay.
                Some(asked) if asked > settings.retry_after_max => return Err(error),
                Some(asked) => asked,
                None => retry::backoff_delay(
                    retry,
                    settings.backoff_base,
                    settings.backoff_max,
                    retry::jitter_unit(),
                ),
            };
            if started.elapsed() + delay >= settings.job_timeout {
                return Err(error);
            }
            tracing::info!(
                url = %source,
                error = %error,
                retry = retry + 1,
                of = settings.max_retries,
                delay_ms = delay.as_millis() as u64,
                "feed fetch failed; retrying"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(
        &self,
        source: &Source,
        previous: Option<&Validators>,
    ) -> Result<Got, FetchError> {
        let settings = &self.inner.settings;
        match source.scheme() {
            Scheme::Http | Scheme::Https => {
                http::attempt(&self.inner.http, settings, source, previous).await
            }
            Scheme::Ftp => ftp::attempt(settings, source, previous).await,
            Scheme::File => file::attempt(settings, source, previous).await,
        }
    }

    /// Decompresses a gzip file body (on the blocking pool: up to the cap of
    /// inflating must not hold a runtime thread) and stamps the time.
    async fn finish(
        &self,
        source: &Source,
        raw: RawBody,
        started: Instant,
    ) -> Result<Fetched, FetchError> {
        let limit = self.inner.settings.max_body_bytes;
        let bytes = if body::is_gzip(&raw.bytes) {
            let compressed = raw.bytes;
            tokio::task::spawn_blocking(move || body::gunzip_if_gzip(compressed, limit))
                .await
                .map_err(|e| FetchError::Internal {
                    url: source.redacted(),
                    cause: format!("gunzip task failed: {e}"),
                })?
        } else {
            Ok(raw.bytes)
        };
        let bytes = bytes.map_err(|e| match e {
            body::GunzipError::OverCap => FetchError::TooLarge {
                url: source.redacted(),
                limit,
                declared: None,
            },
            body::GunzipError::Corrupt(cause) => FetchError::Decode {
                url: source.redacted(),
                cause: format!("gzip: {cause}"),
            },
        })?;
        Ok(Fetched::Body {
            bytes,
            validators: raw.validators,
            fetched_at: SystemTime::now(),
            content_type: raw.content_type,
            final_url: raw.final_url,
            elapsed: started.elapsed(),
        })
    }

    /// Fetches every job, at most `concurrency` at once (at least one), and
    /// returns the results in the order they finished. Each job is its own
    /// task under its own `job_timeout`, counted from when it starts.
    pub async fn fetch_all<K: Send + 'static>(
        &self,
        jobs: Vec<(K, Source, Option<Validators>)>,
        concurrency: usize,
    ) -> Vec<(K, Result<Fetched, FetchError>)> {
        let mut stream = self.fetch_stream(jobs, concurrency);
        let mut out = Vec::with_capacity(stream.remaining());
        while let Some(done) = stream.next().await {
            out.push(done);
        }
        out
    }

    /// Like [`fetch_all`](Self::fetch_all), but hands each result over as
    /// soon as it is ready. Must be called inside a tokio runtime. Dropping
    /// the returned [`FetchStream`] cancels the fetches still running.
    pub fn fetch_stream<K: Send + 'static>(
        &self,
        jobs: Vec<(K, Source, Option<Validators>)>,
        concurrency: usize,
    ) -> FetchStream<K> {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut keys = HashMap::with_capacity(jobs.len());
        for (key, source, previous) in jobs {
            let fetcher = self.clone();
            let slots = slots.clone();
            let url = source.redacted();
            let handle = tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _slot = slots.acquire_owned().await.expect("fetch semaphore closed");
                fetcher.fetch(&source, previous.as_ref()).await
            });
            keys.insert(handle.id(), (key, url));
        }
        FetchStream { tasks, keys }
    }
}

/// Results of [`Fetcher::fetch_stream`], in the order the fetches finish.
pub struct FetchStream<K> {
    tasks: JoinSet<Result<Fetched, FetchError>>,
    keys: HashMap<TaskId, (K, String)>,
}

impl<K> FetchStream<K> {
    /// The next finished fetch, `None` when all are done. A fetch task that
    /// panicked comes back as [`FetchError::Internal`] for its job.
    pub async fn next(&mut self) -> Option<(K, Result<Fetched, FetchError>)> {
        let joined = self.tasks.join_next_with_id().await?;
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => {
                let id = e.id();
                let (key, url) = self.keys.remove(&id).expect("every task has a key");
                return Some((
                    key,
                    Err(FetchError::Internal {
                        url,
                        cause: format!("fetch task failed: {e}"),
                    }),
                ));
            }
        };
        let (key, _) = self.keys.remove(&id).expect("every task has a key");
        Some((key, result))
    }

    /// Fetches not yet handed over.
    pub fn remaining(&self) -> usize {
        self.keys.len()
    }
}
