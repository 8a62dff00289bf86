//! One http(s) attempt with reqwest on rustls (ring): a conditional GET
//! (RFC 9110 §13.1: `If-None-Match`, `If-Modified-Since`), `Content-Encoding`
//! gzip/deflate/brotli undone by reqwest, the body streamed under the cap.

use std::error::Error as StdError;
use std::time::SystemTime;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;

use super::body::CappedBody;
use super::error::{FetchError, TimeoutPhase};
use super::settings::{FetchSettings, FetchSetupError};
use super::source::{without_password, Source, Validators};
use super::{Got, RawBody};

/// Builds the one HTTP client a [`Fetcher`](super::Fetcher) shares between
/// all its fetches (connection pool, TLS session cache).
///
/// TLS is rustls with the ring provider, installed as the process default
/// when none is (the crate compiles in no other provider). Certificates are
/// checked against the system store (platform verifier) merged with the
/// Mozilla roots compiled in (so a static appliance image without a CA
/// bundle can still fetch https feeds) and any `extra_roots_pem`.
pub(crate) fn build_client(settings: &FetchSettings) -> Result<reqwest::Client, FetchSetupError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: fine either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect::<Vec<_>>();
    if !settings.extra_roots_pem.is_empty() {
        let extra =
            reqwest::Certificate::from_pem_bundle(&settings.extra_roots_pem).map_err(|e| {
                FetchSetupError::Invalid {
                    key: "extra_roots_pem",
                    reason: format!("not a PEM certificate bundle: {e}"),
                }
            })?;
        roots.extend(extra);
    }
    let max_redirects = settings.max_redirects;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        let downgrade = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.scheme() == "https")
            && attempt.url().scheme() != "https";
        if downgrade {
            let target = attempt.url().to_string();
            attempt.error(format!("https redirected to non-https `{target}`"))
        } else if attempt.previous().len() > max_redirects {
            attempt.error(format!("more than {max_redirects} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(settings.user_agent.as_str())
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.idle_timeout)
        .redirect(redirects)
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| FetchSetupError::Client(cause_chain(&e)))
}

/// One attempt: request, status, body.
pub(crate) async fn attempt(
    client: &reqwest::Client,
    settings: &FetchSettings,
    source: &Source,
    previous: Option<&Validators>,
) -> Result<Got, FetchError> {
    let url = source.redacted();
    let mut request = client
        .get(source.url().clone())
        .header(header::ACCEPT, settings.accept.as_str());
    let conditional = previous.map(conditional_headers).unwrap_or_default();
    let asked_conditionally = !conditional.is_empty();
    request = request.headers(conditional);

    let mut response = request
        .send()
        .await
        .map_err(|e| from_reqwest(&e, source, settings))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        if asked_conditionally {
            return Ok(Got::NotModified);
        }
        return Err(FetchError::Protocol {
            url,
            cause: "304 Not Modified to an unconditional request".into(),
        });
    }
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::retry::parse_retry_after(v, SystemTime::now()));
        return Err(FetchError::Status {
            url,
            status: status.as_u16(),
            retry_after,
        });
    }

    // Without a content coding this is the real length; with one, reqwest
    // reports none and the cap applies to the decoded bytes as they come.
    let declared = response.content_length();
    let limit = settings.max_body_bytes;
    if declared.is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge {
            url,
            limit,
            declared,
        });
    }
    let mut body = CappedBody::new(limit, declared);
    loop {
        let piece = tokio::time::timeout(settings.idle_timeout, response.chunk())
            .await
            .map_err(|_| FetchError::Timeout {
                url: url.clone(),
                phase: TimeoutPhase::Idle,
                after: settings.idle_timeout,
            })?
            .map_err(|e| from_reqwest(&e, source, settings))?;
        match piece {
            Some(piece) => body.push(&piece).map_err(|_| FetchError::TooLarge {
                url: url.clone(),
                limit,
                declared,
            })?,
            None => break,
        }
    }

    let headers = response.headers();
    let validators = Validators {
        etag: header_string(headers, header::ETAG),
        last_modified: header_string(headers, header::LAST_MODIFIED),
        modified: None,
        size: None,
    };
    Ok(Got::Body(RawBody {
        bytes: body.into_vec(),
        validators,
        content_type: header_string(headers, header::CONTENT_TYPE),
        final_url: without_password(response.url()),
    }))
}

/// `If-None-Match` / `If-Modified-Since` from what the last fetch kept;
/// values that are not valid header values are left out.
fn conditional_headers(v: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(etag) = v
        .etag
        .as_deref()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        headers.insert(header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = v
        .last_modified
        .as_deref()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        headers.insert(header::IF_MODIFIED_SINCE, date);
    }
    headers
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sorts a reqwest error into our causes.
fn from_reqwest(e: &reqwest::Error, source: &Source, settings: &FetchSettings) -> FetchError {
    let url = source.redacted();
    let cause = cause_chain(e);
    if e.is_timeout() {
        let (phase, after) = if e.is_connect() {
            (TimeoutPhase::Connect, settings.connect_timeout)
        } else {
            (TimeoutPhase::Idle, settings.idle_timeout)
        };
        return FetchError::Timeout { url, phase, after };
    }
    if e.is_redirect() {
        return FetchError::Redirect { url, cause };
    }
    if has_tls_error(e) {
        return FetchError::Tls { url, cause };
    }
    if e.is_connect() {
        if has_message(e, "dns error") {
            let host = source.url().host_str().unwrap_or_default().to_string();
            return FetchError::Dns { url, host, cause };
        }
        return FetchError::Connect { url, cause };
    }
    // reqwest reports every body error of a response it may decompress as a
    // decode error: a transport error under it means the body was cut off.
    if e.is_body() || (e.is_decode() && has_hyper_error(e)) {
        return FetchError::Truncated { url, cause };
    }
    if e.is_decode() {
        return FetchError::Decode { url, cause };
    }
    FetchError::Connect { url, cause }
}

/// The causes under a reqwest error (whose own message repeats the URL),
/// joined with ": ", repeats dropped.
pub(crate) fn cause_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = e.source();
    while let Some(err) = next {
        let text = err.to_string();
        // hyper-util's "client error (Connect)" says nothing the variant
        // does not; keep it only when nothing more precise follows.
        let generic = text.starts_with("client error (") && err.source().is_some();
        if !generic && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = err.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

fn has_message(e: &(dyn StdError + 'static), needle: &str) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        if err.to_string() == needle {
            return true;
        }
        next = err.source();
    }
    false
}

/// True when an error of type `T` is somewhere in the chain, also looking
/// inside `io::Error`s (whose `source()` skips the error they wrap).
fn chain_has<T: StdError + 'static>(e: &(dyn StdError + 'static)) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        if err.is::<T>() {
            return true;
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            if chain_has::<T>(inner) {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// True when a hyper (HTTP transport) error is in the chain.
fn has_hyper_error(e: &(dyn StdError + 'static)) -> bool {
    chain_has::<hyper::Error>(e)
}

/// True when a rustls error (certificate, handshake) is in the chain.
fn has_tls_error(e: &(dyn StdError + 'static)) -> bool {
    chain_has::<rustls::Error>(e)
}
