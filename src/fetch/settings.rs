//! Fetch settings: every default is a named constant, and a settings value is
//! validated once, when the [`Fetcher`](super::Fetcher) is built, before any
//! fetch starts.

use std::time::Duration;

/// Default time allowed to resolve a host and open a connection to it (TCP,
/// plus the TLS handshake for https): 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time a transfer may go without receiving a byte (waiting for
/// response headers, an FTP reply, or the next piece of the body) before it
/// counts as stalled: 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit on one attempt, from connecting to the last byte of the
/// body: 5 min. A large feed on a slow link must fit in it.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Default limit on a whole fetch, every attempt and every wait between
/// attempts included: 15 min. No feed holds a fetch slot longer.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(900);

/// Default cap on a body, counted after decompression: 128 MiB. A body that
/// grows past it is an error, found while streaming, never buffered whole.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 * 1024 * 1024;

/// Default number of retries after a first failed attempt that is worth
/// retrying (timeout, connection error, 5xx, 429, truncated body): 3.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Default wait before the first retry; each further retry doubles it, and
/// jitter draws the actual wait between half and all of it: 2 s.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(2);

/// Default ceiling on the wait between two attempts: 60 s.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Default longest `Retry-After` (RFC 9110 §10.2.3) honoured inside one
/// fetch: 120 s. A server asking for a longer pause gets it: the fetch ends
/// with a "retry later" error carrying the server's delay for the scheduler.
pub const DEFAULT_RETRY_AFTER_MAX: Duration = Duration::from_secs(120);

/// Default limit on HTTP redirects followed in one attempt: 10.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Default `User-Agent`: the product and its version, so feed providers can
/// tell who fetches their lists.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "feedwall/",
    env!("CARGO_PKG_VERSION"),
    " (threat-list DNS appliance)"
);

/// Default `Accept` header: the text, CSV, JSON and RSS/Atom/XML forms feeds
/// come in, anything else last.
pub const DEFAULT_ACCEPT: &str = "text/plain, text/csv, application/json, application/rss+xml, \
     application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

/// Default number of feeds fetched at once by
/// [`Fetcher::fetch_all`](super::Fetcher::fetch_all): 8.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// FTP user name used when the URL carries none (RFC 1635).
pub const FTP_ANONYMOUS_USER: &str = "anonymous";

/// FTP password used for anonymous login when the URL carries none
/// (RFC 1635: an e-mail-like identification).
pub const FTP_ANONYMOUS_PASSWORD: &str = "feedwall@";

/// FTP control port when the URL names none (RFC 959).
pub const FTP_DEFAULT_PORT: u16 = 21;

/// How feeds are fetched. Build with `FetchSettings::default()` and change
/// fields; [`validate`](Self::validate) (called by `Fetcher::new`) rejects
/// values that make no sense, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Resolve and connect (and TLS handshake). Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Longest silence inside a transfer. Default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// One attempt, connect to last byte. Default [`DEFAULT_ATTEMPT_TIMEOUT`].
    pub attempt_timeout: Duration,
    /// The whole fetch, retries included. Default [`DEFAULT_JOB_TIMEOUT`].
    pub job_timeout: Duration,
    /// Body cap after decompression. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// Retries after the first attempt. Default [`DEFAULT_MAX_RETRIES`].
    pub max_retries: u32,
    /// First backoff step. Default [`DEFAULT_BACKOFF_BASE`].
    pub backoff_base: Duration,
    /// Backoff ceiling. Default [`DEFAULT_BACKOFF_MAX`].
    pub backoff_max: Duration,
    /// Longest `Retry-After` waited for. Default [`DEFAULT_RETRY_AFTER_MAX`].
    pub retry_after_max: Duration,
    /// Redirects followed. Default [`DEFAULT_MAX_REDIRECTS`].
    pub max_redirects: usize,
    /// `User-Agent` header. Default [`DEFAULT_USER_AGENT`].
    pub user_agent: String,
    /// `Accept` header. Default [`DEFAULT_ACCEPT`].
    pub accept: String,
    /// Extra trust anchors for https, as a PEM bundle (a private CA that
    /// signs an internal feed server), added to the system store and the
    /// built-in Mozilla roots. Default: empty, none.
    pub extra_roots_pem: Vec<u8>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            job_timeout: DEFAULT_JOB_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            retry_after_max: DEFAULT_RETRY_AFTER_MAX,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            accept: DEFAULT_ACCEPT.to_string(),
            extra_roots_pem: Vec::new(),
        }
    }
}

/// A [`Fetcher`](super::Fetcher) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FetchSetupError {
    /// A setting has a value that cannot work; `key` is the field name.
    #[error("fetch setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    /// The HTTP client refused its configuration (TLS roots, headers).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl FetchSettings {
    /// Checks every field; the first bad one is reported by name.
    pub fn validate(&self) -> Result<(), FetchSetupError> {
        let bad = |key, reason: &str| {
            Err(FetchSetupError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        let positive = [
            ("connect_timeout", self.connect_timeout),
            ("idle_timeout", self.idle_timeout),
            ("attempt_timeout", self.attempt_timeout),
            ("job_timeout", self.job_timeout),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return bad(key, "must be greater than zero");
            }
        }
        if self.attempt_timeout > self.job_timeout {
            return bad("attempt_timeout", "must not exceed job_timeout");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes", "must be greater than zero");
        }
        if usize::try_from(self.max_body_bytes).is_err() {
            return bad(
                "max_body_bytes",
                "does not fit in memory addresses on this machine",
            );
        }
        if self.backoff_base > self.backoff_max {
            return bad("backoff_base", "must not exceed backoff_max");
        }
        if self.user_agent.is_empty()
            || reqwest::header::HeaderValue::from_str(&self.user_agent).is_err()
        {
            return bad(
                "user_agent",
                "must be a non-empty, printable ASCII header value",
            );
        }
        if self.accept.is_empty() || reqwest::header::HeaderValue::from_str(&self.accept).is_err() {
            return bad(
                "accept",
                "must be a non-empty, printable ASCII header value",
            );
        }
        if !self.extra_roots_pem.is_empty() {
            match reqwest::Certificate::from_pem_bundle(&self.extra_roots_pem) {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => return bad("extra_roots_pem", "holds no PEM certificate"),
                Err(e) => {
                    return bad(
                        "extra_roots_pem",
                        &format!("not a PEM certificate bundle: {e}"),
                    )
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        FetchSettings::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let s = FetchSettings {
            idle_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`idle_timeout`"));
        let s = FetchSettings {
            attempt_timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`attempt_timeout`"));
        let s = FetchSettings {
            user_agent: "bad\nagent".into(),
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`user_agent`"));
        let s = FetchSettings {
            max_body_bytes: 0,
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`max_body_bytes`"));
        let s = FetchSettings {
            extra_roots_pem: b"not pem".to_vec(),
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`extra_roots_pem`"));
    }
}
