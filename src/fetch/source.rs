//! What is fetched ([`Source`]), what the last fetch left to compare against
//! ([`Validators`]) and what a fetch gives back ([`Fetched`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use url::Url;

/// The transports a feed can come over. RSS/Atom is a format, not a
/// transport: such feeds are fetched as http(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
    Ftp,
    File,
}

impl Scheme {
    /// The URL scheme name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ftp => "ftp",
            Scheme::File => "file",
        }
    }
}

/// A feed's location: a parsed URL whose scheme is one we fetch, checked to
/// carry what that scheme needs (a host for http(s) and ftp, a file name for
/// ftp, an absolute local path for file).
///
/// `Display` and [`redacted`](Self::redacted) hide the password of an
/// `ftp://user:pass@host/` URL; errors and logs only ever show that form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    url: Url,
    scheme: Scheme,
}

/// A string that is not a URL we can fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("`{input}` is not a URL: {cause}")]
    Parse { input: String, cause: String },
    #[error("`{url}`: unsupported scheme `{scheme}` (expected http, https, ftp or file)")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("`{url}`: the URL names no host")]
    MissingHost { url: String },
    #[error("`{url}`: the URL names no file to retrieve")]
    MissingPath { url: String },
    #[error("`{url}`: not a local absolute file path")]
    BadFilePath { url: String },
}

impl Source {
    /// Parses and checks a feed URL.
    pub fn parse(input: &str) -> Result<Source, SourceError> {
        let url = Url::parse(input.trim()).map_err(|e| SourceError::Parse {
            input: input.to_string(),
            cause: e.to_string(),
        })?;
        Source::from_url(url)
    }

    /// Checks an already parsed URL.
    pub fn from_url(url: Url) -> Result<Source, SourceError> {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ftp" => Scheme::Ftp,
            "file" => Scheme::File,
            other => {
                return Err(SourceError::UnsupportedScheme {
                    url: redact(&url),
                    scheme: other.to_string(),
                });
            }
        };
        match scheme {
            Scheme::Http | Scheme::Https | Scheme::Ftp => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(SourceError::MissingHost { url: redact(&url) });
                }
                if scheme == Scheme::Ftp && (url.path().is_empty() || url.path().ends_with('/')) {
                    return Err(SourceError::MissingPath { url: redact(&url) });
                }
            }
            Scheme::File => {
                let path = url
                    .to_file_path()
                    .map_err(|()| SourceError::BadFilePath { url: redact(&url) })?;
                if path.file_name().is_none() {
                    return Err(SourceError::MissingPath { url: redact(&url) });
                }
            }
        }
        Ok(Source { url, scheme })
    }

    /// A `file://` source for a local absolute path.
    pub fn from_path(path: &std::path::Path) -> Result<Source, SourceError> {
        let url = Url::from_file_path(path).map_err(|()| SourceError::BadFilePath {
            url: path.display().to_string(),
        })?;
        Source::from_url(url)
    }

    /// The full URL, password included: use it to connect, never to log.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The URL with any password replaced by `***`: the form for logs and
    /// errors.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }

    /// The local path of a `file://` source.
    pub(crate) fn file_path(&self) -> Option<PathBuf> {
        match self.scheme {
            Scheme::File => self.url.to_file_path().ok(),
            _ => None,
        }
    }
}

impl FromStr for Source {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Source, SourceError> {
        Source::parse(s)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `url` with its password (if any) replaced by `***`.
pub(crate) fn redact(url: &Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        if shown.set_password(Some("***")).is_ok() {
            return shown.to_string();
        }
    }
    url.to_string()
}

/// `url` with its password removed (the user name is kept).
pub(crate) fn without_password(url: &Url) -> Url {
    let mut out = url.clone();
    if out.password().is_some() {
        let _ = out.set_password(None);
    }
    out
}

/// What a successful fetch remembers so the next one can ask "changed?".
///
/// - http(s): `etag` and `last_modified` are the server's `ETag` and
///   `Last-Modified` headers, verbatim; they are sent back as
///   `If-None-Match` / `If-Modified-Since` (RFC 9110 §13.1).
/// - ftp: `modified` is the `MDTM` time and `size` the byte count (`SIZE`,
///   else the bytes received); the next fetch answers
///   [`Fetched::NotModified`] when `MDTM` is unchanged (and `SIZE` too when
///   the server gives it).
/// - file: `modified` is the mtime and `size` the length; both must match.
///
/// For ftp and file, `last_modified` also holds `modified` as an HTTP date,
/// for display only. Serialisable so the archive can keep it between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub modified: Option<SystemTime>,
    pub size: Option<u64>,
}

impl Validators {
    /// True when there is nothing to make a conditional fetch with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none() && self.modified.is_none()
    }
}

/// The outcome of a successful fetch. (One per fetch, moved once: the
/// size difference between the variants costs nothing worth a `Box`.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The source says it has not changed since the given validators: the
    /// last fetched version is still current.
    NotModified,
    /// A new body.
    Body {
        /// The body, decompressed (HTTP `Content-Encoding` gzip, deflate or
        /// brotli; and a gzip file, recognised by its magic bytes, on any
        /// scheme). Never more than the size cap.
        bytes: Vec<u8>,
        /// Keep these and pass them to the next fetch of the same source.
        validators: Validators,
        /// When the body was complete.
        fetched_at: SystemTime,
        /// The HTTP `Content-Type`, when the server sent one.
        content_type: Option<String>,
        /// Where the body came from after redirects, password removed.
        final_url: Url,
        /// Time the whole fetch took, retries and waits included.
        elapsed: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_schemes() {
        for (u, s) in [
            ("http://example.net/list.txt", Scheme::Http),
            ("https://example.net/feed.rss", Scheme::Https),
            ("ftp://ftp.example.net/pub/drop.txt", Scheme::Ftp),
            ("file:///var/lib/feeds/local.txt", Scheme::File),
        ] {
            assert_eq!(Source::parse(u).unwrap().scheme(), s, "{u}");
        }
    }

    #[test]
    fn rejects_what_cannot_be_fetched() {
        assert!(matches!(
            Source::parse("gopher://x/y"),
            Err(SourceError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Source::parse("not a url"),
            Err(SourceError::Parse { .. })
        ));
        assert!(matches!(
            Source::parse("ftp://host/dir/"),
            Err(SourceError::MissingPath { .. })
        ));
        assert!(matches!(
            Source::parse("file:///"),
            Err(SourceError::MissingPath { .. })
        ));
    }

    #[test]
    fn passwords_never_show() {
        let s = Source::parse("ftp://feeds:s3cret@ftp.example.net/drop.txt").unwrap();
        assert_eq!(s.to_string(), "ftp://feeds:***@ftp.example.net/drop.txt");
        assert!(!without_password(s.url()).to_string().contains("s3cret"));
        let e = Source::parse("gopher://u:s3cret@x/y").unwrap_err();
        assert!(!e.to_string().contains("s3cret"));
    }
}
