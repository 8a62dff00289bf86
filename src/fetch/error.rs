//! Why a fetch failed, and whether trying again later can help.
//!
//! Every [`FetchError`] names the URL (password hidden) and the cause. Its
//! [`Disposition`] is the contract with whoever schedules fetches:
//! [`RetryLater`](Disposition::RetryLater) errors are transient (the same
//! request may well work in a while: timeouts, refused or dropped
//! connections, DNS failures, 5xx, 429, truncated bodies, FTP 4xx replies);
//! [`Permanent`](Disposition::Permanent) ones will fail the same way until
//! something changes at the source or in the configuration (HTTP 4xx other
//! than 429, a body over the size cap, certificate errors, a missing file,
//! FTP 5xx replies): do not retry early, flag the feed. Inside one fetch,
//! the [`Fetcher`](super::Fetcher) already retries exactly the `RetryLater`
//! errors, with backoff.

use std::fmt;
use std::time::Duration;

/// Whether a failed fetch is worth retrying soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: retry after a backoff (or the server's `Retry-After`).
    RetryLater,
    /// Will fail again as is: keep the last good version, flag the feed.
    Permanent,
}

/// Which time limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Resolving or connecting (TLS handshake included).
    Connect,
    /// No byte received for the idle limit (headers, FTP reply or body).
    Idle,
    /// One attempt took longer than its limit.
    Attempt,
    /// The whole fetch, retries included, took longer than its limit.
    Job,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::Idle => "waiting for data (stalled)",
            TimeoutPhase::Attempt => "for the attempt to finish",
            TimeoutPhase::Job => "for the fetch to finish (all attempts)",
        })
    }
}

/// A failed fetch. `url` fields hold the redacted URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The host name could not be resolved.
    #[error("{url}: DNS lookup of `{host}` failed: {cause}")]
    Dns {
        url: String,
        host: String,
        cause: String,
    },
    /// No connection could be opened, or it broke before a response.
    #[error("{url}: connection failed: {cause}")]
    Connect { url: String, cause: String },
    /// The TLS handshake failed (certificate, protocol).
    #[error("{url}: TLS failed: {cause}")]
    Tls { url: String, cause: String },
    /// A time limit ran out.
    #[error("{url}: timed out after {} {phase}", fmt_duration(*after))]
    Timeout {
        url: String,
        phase: TimeoutPhase,
        after: Duration,
    },
    /// The HTTP server answered with an error status.
    #[error("{url}: HTTP {status}{}{}", reason_suffix(*status), retry_after_suffix(retry_after))]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The body is larger than the cap (known from the declared length, or
    /// found while streaming).
    #[error(
        "{url}: body larger than the {limit}-byte cap{}",
        declared_suffix(declared)
    )]
    TooLarge {
        url: String,
        limit: u64,
        declared: Option<u64>,
    },
    /// The body ended before its declared length, or the connection dropped
    /// while it was sent.
    #[error("{url}: body truncated: {cause}")]
    Truncated { url: String, cause: String },
    /// Redirects looped, were too many, or went from https to http.
    #[error("{url}: redirect refused: {cause}")]
    Redirect { url: String, cause: String },
    /// The FTP server refused a command.
    #[error("{url}: FTP {command} refused: {code} {reply}")]
    Ftp {
        url: String,
        command: &'static str,
        code: u32,
        reply: String,
    },
    /// A local file could not be read.
    #[error("{url}: {cause}")]
    File {
        url: String,
        kind: std::io::ErrorKind,
        cause: String,
    },
    /// The body is compressed and does not decompress.
    #[error("{url}: cannot decompress the body: {cause}")]
    Decode { url: String, cause: String },
    /// The server spoke the protocol wrongly (malformed response, an
    /// unrequested 304, an FTP reply that does not parse).
    #[error("{url}: protocol error: {cause}")]
    Protocol { url: String, cause: String },
    /// The fetch task itself failed (a bug): reported, never fatal.
    #[error("{url}: internal error: {cause}")]
    Internal { url: String, cause: String },
}

impl FetchError {
    /// Retry later, or permanent (see the module docs for the split).
    pub fn disposition(&self) -> Disposition {
        use Disposition::*;
        match self {
            FetchError::Dns { .. }
            | FetchError::Connect { .. }
            | FetchError::Truncated { .. }
            | FetchError::Protocol { .. }
            | FetchError::Internal { .. } => RetryLater,
            // A job timeout already spent all its retries; the next
            // scheduled fetch may still work.
            FetchError::Timeout { .. } => RetryLater,
            FetchError::Status { status, .. } => {
                if *status == 429 || (500..=599).contains(status) {
                    RetryLater
                } else {
                    Permanent
                }
            }
            // RFC 959 §4.2: 4yz are transient negative replies, 5yz permanent.
            FetchError::Ftp { code, .. } => {
                if (400..500).contains(code) {
                    RetryLater
                } else {
                    Permanent
                }
            }
            FetchError::File { kind, .. } => match kind {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::IsADirectory
                | std::io::ErrorKind::InvalidInput => Permanent,
                _ => RetryLater,
            },
            FetchError::Tls { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Redirect { .. }
            | FetchError::Decode { .. } => Permanent,
        }
    }

    /// Shorthand for `disposition() == RetryLater`.
    pub fn is_retryable(&self) -> bool {
        self.disposition() == Disposition::RetryLater
    }

    /// The (redacted) URL the error is about.
    pub fn url(&self) -> &str {
        match self {
            FetchError::Dns { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Tls { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Truncated { url, .. }
            | FetchError::Redirect { url, .. }
            | FetchError::Ftp { url, .. }
            | FetchError::File { url, .. }
            | FetchError::Decode { url, .. }
            | FetchError::Protocol { url, .. }
            | FetchError::Internal { url, .. } => url,
        }
    }

    /// The server's `Retry-After` (HTTP 429 and 503), when it sent one: the
    /// earliest time a scheduler should try again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for `Status` errors.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

fn reason_suffix(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!(" {reason}"),
        None => String::new(),
    }
}

fn retry_after_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (Retry-After {})", fmt_duration(*d)),
        None => String::new(),
    }
}

fn declared_suffix(declared: &Option<u64>) -> String {
    match declared {
        Some(n) => format!(" (declared {n} bytes)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> FetchError {
        FetchError::Status {
            url: "http://x/".into(),
            status: code,
            retry_after: None,
        }
    }

    #[test]
    fn only_429_and_5xx_are_retried_among_statuses() {
        assert_eq!(status(500).disposition(), Disposition::RetryLater);
        assert_eq!(status(503).disposition(), Disposition::RetryLater);
        assert_eq!(status(429).disposition(), Disposition::RetryLater);
        for code in [400, 401, 403, 404, 408, 410, 451] {
            assert_eq!(status(code).disposition(), Disposition::Permanent, "{code}");
        }
    }

    #[test]
    fn display_names_url_and_cause() {
        let e = FetchError::Status {
            url: "http://x/a".into(),
            status: 503,
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            e.to_string(),
            "http://x/a: HTTP 503 Service Unavailable (Retry-After 30s)"
        );
        let e = FetchError::Timeout {
            url: "http://x/a".into(),
            phase: TimeoutPhase::Idle,
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "http://x/a: timed out after 1.500s waiting for data (stalled)"
        );
        let e = FetchError::TooLarge {
            url: "http://x/a".into(),
            limit: 10,
            declared: None,
        };
        assert_eq!(
            e.to_string(),
            "http://x/a: body larger than the 10-byte cap"
        );
        let e = FetchError::Ftp {
            url: "ftp://h/f".into(),
            command: "RETR",
            code: 550,
            reply: "No such file".into(),
        };
        assert_eq!(
            e.to_string(),
            "ftp://h/f: FTP RETR refused: 550 No such file"
        );
        assert_eq!(e.disposition(), Disposition::Permanent);
    }
}
