//! One file:// attempt: the mtime and length of the open file are the
//! validators (both unchanged: not modified), the content is read under the
//! cap. Runs on tokio's blocking pool, so a slow disk or a hung network mount
//! holds one blocking thread, never the runtime.

use std::fs::File;
use std::io::Read;

use super::body::CappedBody;
use super::error::FetchError;
use super::settings::FetchSettings;
use super::source::{Source, Validators};
use super::{Got, RawBody};

/// Size of one read: 64 KiB.
const READ_BUFFER: usize = 64 * 1024;

pub(crate) async fn attempt(
    settings: &FetchSettings,
    source: &Source,
    previous: Option<&Validators>,
) -> Result<Got, FetchError> {
    let url = source.redacted();
    let Some(path) = source.file_path() else {
        return Err(FetchError::Protocol {
            url,
            cause: "not a file:// source".into(),
        });
    };
    let limit = settings.max_body_bytes;
    let previous = previous.cloned();
    let final_url = source.url().clone();
    let task_url = url.clone();
    tokio::task::spawn_blocking(move || {
        let url = task_url;
        let io_error = |e: std::io::Error| FetchError::File {
            url: url.clone(),
            kind: e.kind(),
            cause: format!("{}: {e}", path.display()),
        };
        let mut file = File::open(&path).map_err(io_error)?;
        let meta = file.metadata().map_err(io_error)?;
        if !meta.is_file() {
            return Err(FetchError::File {
                url: url.clone(),
                kind: std::io::ErrorKind::InvalidInput,
                cause: format!("{}: not a regular file", path.display()),
            });
        }
        let modified = meta.modified().ok();
        let size = meta.len();
        if let (Some(prev), Some(now)) = (previous.as_ref(), modified) {
            if prev.modified == Some(now) && prev.size == Some(size) {
                return Ok(Got::NotModified);
            }
        }
        if size > limit {
            return Err(FetchError::TooLarge {
                url: url.clone(),
                limit,
                declared: Some(size),
            });
        }
        // The file may grow while it is read: the cap holds regardless.
        let mut body = CappedBody::new(limit, Some(size));
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e)),
            };
            body.push(&buf[..n]).map_err(|_| FetchError::TooLarge {
                url: url.clone(),
                limit,
                declared: None,
            })?;
        }
        Ok(Got::Body(RawBody {
            bytes: body.into_vec(),
            validators: Validators {
                etag: None,
                last_modified: modified.map(httpdate::fmt_http_date),
                modified,
                size: Some(size),
            },
            content_type: None,
            final_url,
        }))
    })
    .await
    .map_err(|e| FetchError::Internal {
        url,
        cause: format!("file read task failed: {e}"),
    })?
}
