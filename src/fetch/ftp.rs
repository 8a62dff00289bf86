//! One ftp attempt with suppaftp: passive mode (EPSV for IPv6 servers),
//! anonymous login unless the URL carries `user:pass`, binary transfer.
//! `MDTM` and `SIZE` (RFC 3659), when the server has them, answer "not
//! modified" without downloading; the download itself is streamed under the
//! cap and checked against `SIZE`.
//!
//! The path is taken as in RFC 1738 §3.2.2: relative to the login
//! directory, percent-decoded (`ftp://host/%2Fabs/path` names an absolute
//! one).

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use url::Host;

use super::body::CappedBody;
use super::error::{FetchError, TimeoutPhase};
use super::settings::{
    FetchSettings, FTP_ANONYMOUS_PASSWORD, FTP_ANONYMOUS_USER, FTP_DEFAULT_PORT,
};
use super::source::{without_password, Source, Validators};
use super::{Got, RawBody};

/// Size of one read from the data connection: 64 KiB.
const READ_BUFFER: usize = 64 * 1024;

pub(crate) async fn attempt(
    settings: &FetchSettings,
    source: &Source,
    previous: Option<&Validators>,
) -> Result<Got, FetchError> {
    let u = source.url();
    let url = source.redacted();
    let port = u.port().unwrap_or(FTP_DEFAULT_PORT);
    let connect_timeout = |url: &str| FetchError::Timeout {
        url: url.to_string(),
        phase: TimeoutPhase::Connect,
        after: settings.connect_timeout,
    };

    let addrs: Vec<SocketAddr> = match u.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::from((ip, port))],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::from((ip, port))],
        Some(Host::Domain(name)) => {
            let found = tokio::time::timeout(
                settings.connect_timeout,
                tokio::net::lookup_host((name, port)),
            )
            .await
            .map_err(|_| connect_timeout(&url))?
            .map_err(|e| FetchError::Dns {
                url: url.clone(),
                host: name.to_string(),
                cause: e.to_string(),
            })?;
            found.collect()
        }
        None => {
            return Err(FetchError::Protocol {
                url,
                cause: "no host".into(),
            })
        }
    };
    let tcp = tokio::time::timeout(settings.connect_timeout, connect_any(&addrs))
        .await
        .map_err(|_| connect_timeout(&url))?
        .map_err(|e| FetchError::Connect {
            url: url.clone(),
            cause: e.to_string(),
        })?;
    let ipv6 = tcp.peer_addr().is_ok_and(|a| a.is_ipv6());

    let mut ftp = step(
        settings,
        &url,
        "connect",
        AsyncFtpStream::connect_with_stream(tcp),
    )
    .await?;
    ftp.set_mode(if ipv6 {
        Mode::ExtendedPassive
    } else {
        Mode::Passive
    });
    // Open data connections to the control connection's address, whatever
    // address the PASV reply names (servers behind NAT name private ones).
    ftp.set_passive_nat_workaround(true);

    let (user, password) = credentials(u);
    step(
        settings,
        &url,
        "login",
        ftp.login(user.as_str(), password.as_str()),
    )
    .await?;
    step(settings, &url, "TYPE", ftp.transfer_type(FileType::Binary)).await?;

    let path = percent_decode_str(u.path().strip_prefix('/').unwrap_or(u.path()))
        .decode_utf8_lossy()
        .into_owned();

    // Refusals (command unknown, not allowed) just mean "no validator".
    let modified = optional(step(settings, &url, "MDTM", ftp.mdtm(&path)).await)?
        .map(|t| UNIX_EPOCH + Duration::from_secs(t.and_utc().timestamp().max(0) as u64));
    let size = optional(step(settings, &url, "SIZE", ftp.size(&path)).await)?.map(|n| n as u64);

    if let (Some(prev), Some(now)) = (previous, modified) {
        let same_size = match (prev.size, size) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if prev.modified == Some(now) && same_size {
            let _ = tokio::time::timeout(settings.idle_timeout, ftp.quit()).await;
            return Ok(Got::NotModified);
        }
    }

    let limit = settings.max_body_bytes;
    if size.is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge {
            url,
            limit,
            declared: size,
        });
    }
    let mut transfer = step(settings, &url, "RETR", ftp.retr_as_stream(&path)).await?;
    let mut body = CappedBody::new(limit, size);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = tokio::time::timeout(settings.idle_timeout, transfer.read(&mut buf))
            .await
            .map_err(|_| FetchError::Timeout {
                url: url.clone(),
                phase: TimeoutPhase::Idle,
                after: settings.idle_timeout,
            })?
            .map_err(|e| FetchError::Truncated {
                url: url.clone(),
                cause: e.to_string(),
            })?;
        if n == 0 {
            break;
        }
        body.push(&buf[..n]).map_err(|_| FetchError::TooLarge {
            url: url.clone(),
            limit,
            declared: size,
        })?;
    }
    step(settings, &url, "RETR", transfer.finish()).await?;
    if let Some(expected) = size {
        if body.len() != expected {
            return Err(FetchError::Truncated {
                url,
                cause: format!("received {} bytes, SIZE said {expected}", body.len()),
            });
        }
    }
    let _ = tokio::time::timeout(settings.idle_timeout, ftp.quit()).await;

    let received = body.len();
    Ok(Got::Body(RawBody {
        bytes: body.into_vec(),
        validators: Validators {
            etag: None,
            last_modified: modified.map(httpdate::fmt_http_date),
            modified,
            size: Some(size.unwrap_or(received)),
        },
        content_type: None,
        final_url: without_password(u),
    }))
}

/// User and password from the URL (percent-decoded), else anonymous.
fn credentials(u: &url::Url) -> (String, String) {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    if u.username().is_empty() {
        (
            FTP_ANONYMOUS_USER.to_string(),
            FTP_ANONYMOUS_PASSWORD.to_string(),
        )
    } else {
        let password = u
            .password()
            .map(decode)
            .unwrap_or_else(|| FTP_ANONYMOUS_PASSWORD.to_string());
        (decode(u.username()), password)
    }
}

/// Tries each address in turn; the last error if none answers.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the name resolved to no address",
    );
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One FTP exchange under the idle limit, its error sorted.
async fn step<T>(
    settings: &FetchSettings,
    url: &str,
    command: &'static str,
    exchange: impl std::future::Future<Output = Result<T, FtpError>>,
) -> Result<T, FetchError> {
    match tokio::time::timeout(settings.idle_timeout, exchange).await {
        Err(_) => Err(FetchError::Timeout {
            url: url.to_string(),
            phase: TimeoutPhase::Idle,
            after: settings.idle_timeout,
        }),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(from_ftp(e, url, command)),
    }
}

/// `Ok(None)` for a refused command, errors other than refusals kept.
fn optional<T>(result: Result<T, FetchError>) -> Result<Option<T>, FetchError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(FetchError::Ftp { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

fn from_ftp(e: FtpError, url: &str, command: &'static str) -> FetchError {
    let url = url.to_string();
    match e {
        FtpError::ConnectionError(io) => FetchError::Connect {
            url,
            cause: format!("during {command}: {io}"),
        },
        FtpError::UnexpectedResponse(response) => {
            let text = String::from_utf8_lossy(&response.body);
            let first = text.lines().next().unwrap_or_default();
            // "550 No such file" / "550-..." -> "No such file"
            let reply = first
                .get(4..)
                .filter(|_| first.len() > 4)
                .unwrap_or(first)
                .trim()
                .to_string();
            FetchError::Ftp {
                url,
                command,
                code: response.status.code(),
                reply,
            }
        }
        FtpError::BadResponse => FetchError::Protocol {
            url,
            cause: format!("malformed FTP reply to {command}"),
        },
        other => FetchError::Protocol {
            url,
            cause: format!("{command}: {other}"),
        },
    }
}
