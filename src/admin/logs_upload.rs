//! Firewall log upload: the Logs page (a file for one of the account's
//! devices, with a receipt), the upload API for sessions and API tokens
//! (`POST /api/devices/{id}/logs`), the cron API that takes a device's log
//! token instead (`POST /api/logs`), and each device's log zone and log
//! token (device page and API).
//!
//! **Streaming.** An upload is never held in memory: the request body (or
//! the form's file part) is handed chunk by chunk through a bounded channel
//! to [`LogService::ingest`] on a blocking thread, which detects gzip,
//! enforces `[logs] max_upload` (these routes carry their own body limit,
//! not the admin's general one) and stores all of the log or nothing. The
//! receipt is given once the entries are durable. A body that ends early
//! (the client went away) ends the channel without its end mark, so the
//! ingest fails and stores nothing.
//!
//! **Isolation.** Every route needs a session or API token, except
//! `/api/logs`, whose log token names exactly one device of one account. A
//! device id of another account is "not found" before a byte is read.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Rejection, User};
use super::devices;
use super::html::{csrf_field, fmt_time, input, page, FormErrors};
use super::store::{Device, StoreError};
use super::{blocking, ApiError, AppState};
use crate::config::LogsConfig;
use crate::logs::formats::{self, Format};
use crate::logs::ingest::{IngestError, Receipt, Target};
use crate::logs::service::LogService;
use crate::logs::store::Source;
use crate::logs::time::{Clock, Zone};

/// Body chunks in flight between the request and the ingest thread (hyper
/// hands out at most some tens of KiB per chunk).
const CHANNEL_CHUNKS: usize = 16;
/// Room for the upload form's other fields and multipart framing around
/// the file, on top of `[logs] max_upload`.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// Longest value of a small form field (CSRF token, device id, format).
const SMALL_FIELD: usize = 256;
/// After refusing an upload, the rest of its body is read (and dropped)
/// for at most this long, so a client that sends it all still gets the
/// answer instead of a reset connection.
const DRAIN_TIME: Duration = Duration::from_secs(10);
/// Stored batches listed on the Logs page.
const RECENT_BATCHES: i64 = 20;
/// Longest log token looked up (they are 26 characters).
const MAX_LOG_TOKEN: usize = 128;
/// Why the upload routes answer 503.
const DISABLED: &str =
    "log intake is disabled on this appliance ([logs] enabled = false in the configuration)";

/// The pages and API of this module. `cfg` sizes the upload routes' body
/// limit (it replaces the admin's general `max_upload` there).
pub fn routes(cfg: &LogsConfig) -> OpenApiRouter<AppState> {
    let body_limit =
        usize::try_from(cfg.max_upload.saturating_add(MULTIPART_SLACK)).unwrap_or(usize::MAX);
    let uploads = OpenApiRouter::new()
        .route("/logs/upload", axum::routing::post(upload_page))
        .routes(routes!(api_device_logs))
        .routes(routes!(api_logs))
        .layer(DefaultBodyLimit::max(body_limit));
    OpenApiRouter::new()
        .route("/logs", axum::routing::get(logs_page))
        .route("/devices/{id}/log-zone", axum::routing::post(zone_form))
        .route("/devices/{id}/log-token", axum::routing::post(token_form))
        .routes(routes!(api_get_log_zone, api_put_log_zone))
        .routes(routes!(api_log_token))
        .merge(uploads)
}

// ---- streaming an upload into the ingest ----

/// What the request side hands the ingest thread.
enum Chunk {
    Data(Bytes),
    /// The body ended normally.
    End,
    /// The body broke off (connection error, bad multipart framing).
    Failed(String),
}

/// The blocking side of the channel as a [`Read`]. A channel closed without
/// [`Chunk::End`] is an error, never a short log.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.cur.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.cur = b,
                Some(Chunk::End) => self.ended = true,
                Some(Chunk::Failed(why)) => return Err(io::Error::other(why)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upload was cut short",
                    ))
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// An ingest running on a blocking thread, fed chunk by chunk.
struct Intake {
    tx: mpsc::Sender<Chunk>,
    job: tokio::task::JoinHandle<Result<Receipt, IngestError>>,
}

impl Intake {
    fn start(logs: &LogService, target: Target, source: Source) -> Intake {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let logs = logs.clone();
        let job = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                cur: Bytes::new(),
                ended: false,
            };
            logs.ingest(target, source, reader)
        });
        Intake { tx, job }
    }

    /// Hands over one chunk; false once the ingest stopped reading (it hit
    /// the size cap or failed): the caller stops feeding.
    async fn feed(&self, data: Bytes) -> bool {
        data.is_empty() || self.tx.send(Chunk::Data(data)).await.is_ok()
    }

    /// Ends the input and waits for the receipt.
    async fn finish(self, end: Chunk) -> Result<Receipt, UploadError> {
        let _ = self.tx.send(end).await;
        drop(self.tx);
        match self.job.await {
            Ok(r) => r.map_err(UploadError::from),
            Err(e) => Err(UploadError::Internal(format!(
                "log ingest worker failed: {e}"
            ))),
        }
    }
}

/// How feeding a body went.
enum Fed {
    /// Read to its end.
    Complete,
    /// The ingest stopped reading before the end.
    Stopped,
    /// The body itself failed.
    Failed(String),
}

impl Fed {
    fn end(&self) -> Chunk {
        match self {
            Fed::Complete | Fed::Stopped => Chunk::End,
            Fed::Failed(why) => Chunk::Failed(why.clone()),
        }
    }
}

/// Why an upload stored nothing.
#[derive(Debug)]
enum UploadError {
    Disabled,
    TooLarge {
        limit: u64,
    },
    /// A broken gzip stream, a cut connection, broken multipart framing.
    Unreadable(String),
    Internal(String),
}

impl From<IngestError> for UploadError {
    fn from(e: IngestError) -> UploadError {
        match e {
            IngestError::TooLarge { limit } => UploadError::TooLarge { limit },
            IngestError::Read(e) => UploadError::Unreadable(e.to_string()),
            IngestError::Store(e) => UploadError::Internal(e.to_string()),
        }
    }
}

impl UploadError {
    fn status(&self) -> StatusCode {
        match self {
            UploadError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
            UploadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UploadError::Unreadable(_) => StatusCode::BAD_REQUEST,
            UploadError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            UploadError::Disabled => DISABLED.to_string(),
            UploadError::TooLarge { limit } => format!(
                "the log is larger than the {} upload limit ([logs] max_upload); nothing was stored. Compress it with gzip or send it in parts",
                human_size(*limit)
            ),
            UploadError::Unreadable(why) => format!(
                "the upload could not be read ({why}); nothing was stored. Is it a complete plain-text or gzip file?"
            ),
            UploadError::Internal(_) => {
                "storing the log failed (see the control process log); nothing was stored".into()
            }
        }
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        match self {
            UploadError::Internal(e) => ApiError::internal(e).into_response(),
            e => (
                e.status(),
                Json(serde_json::json!({ "error": e.message() })),
            )
                .into_response(),
        }
    }
}

pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The client waits for `100 Continue` before sending the body (curl does
/// for large files): refusing then costs no transfer.
pub(super) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// The next data chunk of a body (trailers are skipped).
pub(super) async fn next_chunk(body: &mut Body) -> Option<Result<Bytes, String>> {
    loop {
        let frame =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e.to_string())),
        }
    }
}

/// Reads and drops the rest of a refused body: at most `max` bytes, for at
/// most [`DRAIN_TIME`].
pub(super) async fn drain_body(body: &mut Body, max: u64) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0u64;
        while let Some(Ok(b)) = next_chunk(body).await {
            seen += b.len() as u64;
            if seen > max {
                break;
            }
        }
    })
    .await;
}

/// An answer to an authenticated upload refused before its body was read:
/// the body is drained first (see [`DRAIN_TIME`]) unless the client waits
/// for `100 Continue`.
async fn refuse(
    state: &AppState,
    headers: &HeaderMap,
    mut body: Body,
    answer: Response,
) -> Response {
    if !expects_continue(headers) {
        drain_body(&mut body, state.cfg.logs.max_upload).await;
    }
    answer
}

/// Streams a raw request body (plain or gzip) into the log archive.
async fn ingest_body(
    state: &AppState,
    target: Target,
    source: Source,
    headers: &HeaderMap,
    mut body: Body,
) -> Result<Receipt, UploadError> {
    let logs = state.logs.as_ref().ok_or(UploadError::Disabled)?;
    let limit = state.cfg.logs.max_upload;
    if content_length(headers).is_some_and(|n| n > limit) {
        if !expects_continue(headers) {
            drain_body(&mut body, limit).await;
        }
        return Err(UploadError::TooLarge { limit });
    }
    let intake = Intake::start(logs, target, source);
    let fed = loop {
        match next_chunk(&mut body).await {
            None => break Fed::Complete,
            Some(Err(e)) => break Fed::Failed(e),
            Some(Ok(data)) => {
                if !intake.feed(data).await {
                    break Fed::Stopped;
                }
            }
        }
    };
    let result = intake.finish(fed.end()).await;
    if result.is_err() && matches!(fed, Fed::Stopped) {
        drain_body(&mut body, limit).await;
    }
    result
}

/// Streams the file part of the upload form into the log archive.
async fn ingest_field(
    logs: &LogService,
    target: Target,
    field: &mut Field<'_>,
) -> (Fed, Result<Receipt, UploadError>) {
    let intake = Intake::start(logs, target, Source::Upload);
    let fed = loop {
        match field.chunk().await {
            Ok(None) => break Fed::Complete,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                // The body limit (max_upload plus the form's slack) cut
                // the stream: say so rather than "unreadable".
                let _ = intake.finish(Chunk::Failed(e.body_text())).await;
                return (
                    Fed::Failed(e.body_text()),
                    Err(UploadError::TooLarge {
                        limit: logs.config().max_upload,
                    }),
                );
            }
            Err(e) => break Fed::Failed(e.body_text()),
            Ok(Some(data)) => {
                if !intake.feed(data).await {
                    break Fed::Stopped;
                }
            }
        }
    };
    let result = intake.finish(fed.end()).await;
    (fed, result)
}

// ---- helpers ----

/// `64 MiB`, `512 KiB`, `1000 bytes`.
pub fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// `auto` (or nothing) for detection per line, else a format name.
fn parse_format(s: &str) -> Result<Option<Format>, String> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    t.parse::<Format>().map(Some).map_err(|_| {
        let names: Vec<&str> = formats::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown log format; use auto or one of: {}",
            names.join(", ")
        )
    })
}

/// Whose log it is and how to read its times.
fn target(account: i64, device: i64, tz: &str, format: Option<Format>) -> Target {
    let zone = tz.parse::<Zone>().unwrap_or_else(|e| {
        tracing::warn!(device, tz, error = %e, "stored device zone does not parse; using UTC");
        Zone::Utc
    });
    Target {
        account,
        device,
        clock: Clock::new(zone, None),
        format,
    }
}

/// The mail address that takes a device's logs.
fn log_mail(state: &AppState, token: &str) -> String {
    format!("{token}@{}", state.cfg.logs.smtp_domain)
}

/// A cron line that sends a log with the device's token.
fn curl_example(state: &AppState, token: &str) -> String {
    format!(
        "gzip -c /var/log/kern.log | curl -fsS --data-binary @- -H 'Content-Type: application/octet-stream' -H 'Authorization: Bearer {token}' '{}/api/logs'",
        state.base_url()
    )
}

// ---- the Logs page ----

#[derive(Default)]
struct UploadForm {
    csrf: Option<String>,
    device: String,
    format: String,
}

/// One stored batch, for the upload history.
struct BatchRow {
    id: i64,
    device: i64,
    source: String,
    received: i64,
    records: i64,
    rejected: i64,
    ignored: i64,
    skipped: i64,
}

/// The account's latest stored batches (None: the archive is not readable).
async fn recent_batches(state: &AppState, account: i64) -> Option<Vec<BatchRow>> {
    let logs = state.logs.clone()?;
    let r = tokio::task::spawn_blocking(move || -> Result<Vec<BatchRow>, String> {
        let store = logs.reader().map_err(|e| e.to_string())?;
        let mut st = store
            .connection()
            .prepare(
                "SELECT id, device, source, received, records, rejected, ignored, skipped
                 FROM batches WHERE account = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([account, RECENT_BATCHES], |r| {
                Ok(BatchRow {
                    id: r.get(0)?,
                    device: r.get(1)?,
                    source: r.get(2)?,
                    received: r.get(3)?,
                    records: r.get(4)?,
                    rejected: r.get(5)?,
                    ignored: r.get(6)?,
                    skipped: r.get(7)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    })
    .await;
    match r {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upload history not readable");
            None
        }
        Err(_) => None,
    }
}

fn device_name(devices: &[Device], id: i64) -> String {
    devices
        .iter()
        .find(|d| d.id == id)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| format!("device {id} (removed)"))
}

fn upload_form(
    state: &AppState,
    user: &User,
    devices: &[Device],
    f: &UploadForm,
    errs: &FormErrors,
) -> Markup {
    let limit = human_size(state.cfg.logs.max_upload);
    html! {
        @if devices.is_empty() {
            p { "Add a " a href="/devices" { "device" } " first: every log belongs to one." }
        } @else {
            form.card #upload method="post" action="/logs/upload" enctype="multipart/form-data" {
                (csrf_field(user))
                (errs.general(&["device", "format", "file"]))
                label for="device" { "Device" }
                select id="device" name="device" aria-invalid=[errs.0.get("device").map(|_| "true")] {
                    @for d in devices {
                        option value=(d.id) selected[f.device == d.id.to_string()] { (d.name) }
                    }
                }
                (errs.at("device"))
                label for="format" { "Format" }
                select id="format" name="format" aria-invalid=[errs.0.get("format").map(|_| "true")] {
                    option value="auto" selected[f.format.is_empty() || f.format == "auto"] { "detect per line" }
                    @for fmt in formats::ALL {
                        option value=(fmt.name()) selected[f.format == fmt.name()] { (fmt.name()) }
                    }
                }
                (errs.at("format"))
                label for="file" { "Log file (plain text or gzip, at most " (limit) ")" }
                input id="file" name="file" type="file" aria-invalid=[errs.0.get("file").map(|_| "true")];
                (errs.at("file"))
                p.muted { "Times printed without a zone are read in the device's log zone (device page)." }
                button type="submit" { "Upload" }
            }
        }
    }
}

fn history(devices: &[Device], batches: Option<&[BatchRow]>) -> Markup {
    html! {
        h2 { "Recent uploads" }
        @match batches {
            None => p.muted { "The upload history is not available." },
            Some([]) => p.muted { "Nothing stored yet." },
            Some(rows) => {
                p.muted { "Each upload is stored in batches of up to " (crate::logs::ingest::BATCH_LINES) " lines." }
                table #batches {
                    tr { th { "Batch" } th { "Received" } th { "Device" } th { "Via" } th { "Entries" } th { "Rejected" } th { "Not understood" } th { "Skipped" } }
                    @for b in rows {
                        tr {
                            td { (b.id) }
                            td { (fmt_time(b.received)) }
                            td { (device_name(devices, b.device)) }
                            td { (b.source) }
                            td { (b.records) }
                            td { (b.rejected) }
                            td { (b.ignored) }
                            td { (b.skipped) }
                        }
                    }
                }
            }
        }
    }
}

async fn logs_view(
    state: &AppState,
    user: &User,
    status: StatusCode,
    f: &UploadForm,
    errs: &FormErrors,
    receipt: Option<(&Device, &Receipt)>,
) -> Response {
    let store = state.store.clone();
    let acct = user.id();
    let devices = match blocking(move || store.devices(acct)).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if state.logs.is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                Some(user),
                "Logs",
                html! { p.error role="alert" { "Log upload is not available: " (DISABLED) "." } },
            ),
        )
            .into_response();
    }
    let batches = recent_batches(state, acct).await;
    (
        status,
        page(
            Some(user),
            if receipt.is_some() {
                "Log received"
            } else {
                "Logs"
            },
            html! {
                @if let Some((d, r)) = receipt {
                    (receipt_view(d, r))
                    h2 { "Upload another" }
                } @else {
                    p.muted { "Upload a firewall log of one of your devices. Scripts can send logs with the device's log token (device page) or an API token (" code { "POST /api/devices/{id}/logs" } ")." }
                }
                (upload_form(state, user, &devices, f, errs))
                (history(&devices, batches.as_deref()))
            },
        ),
    )
        .into_response()
}

fn receipt_view(d: &Device, r: &Receipt) -> Markup {
    html! {
        p.notice role="status" { "Stored for device " (d.name) ". Nothing is lost: rejected and not understood lines are kept raw." }
        table #receipt {
            tr { th { "Lines" } td #lines { (r.lines) } }
            tr { th { "Accepted (entries)" } td #accepted { (r.accepted) } }
            tr { th { "Rejected (malformed)" } td #rejected { (r.rejected) } }
            tr { th { "Not understood" } td #ignored { (r.ignored) } }
            tr { th { "Skipped (blank, headers)" } td #skipped { (r.skipped) } }
            tr { th { "First time" } td #first-time { (r.first_time.as_deref().unwrap_or("-")) } }
            tr { th { "Last time" } td #last-time { (r.last_time.as_deref().unwrap_or("-")) } }
            tr { th { "Batches" } td #batch-ids { @for (i, b) in r.batches.iter().enumerate() { @if i > 0 { ", " } (b) } } }
        }
        @if !r.by_format.is_empty() {
            h2 { "By format" }
            table #by-format {
                tr { th { "Format" } th { "Accepted" } th { "Rejected" } th { "Not understood" } th { "Skipped" } }
                @for (name, c) in &r.by_format {
                    tr data-format=(name) {
                        td { (name) } td { (c.records) } td { (c.rejected) } td { (c.ignored) } td { (c.skipped) }
                    }
                }
            }
        }
        @if !r.problems.is_empty() {
            h2 { "First rejected lines" }
            table #problems {
                tr { th { "Line" } th { "Reason" } }
                @for p in &r.problems {
                    tr { td { (p.line) } td { (p.reason) } }
                }
            }
            @if r.rejected > r.problems.len() as u64 {
                p.muted { "… and " (r.rejected - r.problems.len() as u64) " more." }
            }
        }
    }
}

async fn logs_page(State(state): State<AppState>, user: User) -> Response {
    logs_view(
        &state,
        &user,
        StatusCode::OK,
        &UploadForm::default(),
        &FormErrors::default(),
        None,
    )
    .await
}

/// A small form field, at most [`SMALL_FIELD`] bytes.
pub(super) async fn small_field(field: &mut Field<'_>) -> Result<String, String> {
    let mut out = Vec::new();
    while let Some(b) = field.chunk().await.map_err(|e| e.body_text())? {
        out.extend_from_slice(&b);
        if out.len() > SMALL_FIELD {
            return Err(format!(
                "the {} field is too long",
                field.name().unwrap_or("form")
            ));
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads and drops the rest of a refused form (bounded by the route's body
/// limit and [`DRAIN_TIME`]).
pub(super) async fn drain_multipart(mp: &mut Multipart) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Ok(Some(mut f)) = mp.next_field().await {
            while let Ok(Some(_)) = f.chunk().await {}
        }
    })
    .await;
}

fn not_found(user: &User) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(Some(user), "Not found", html! { p { "No such device." } }),
    )
        .into_response()
}

/// The upload form: CSRF token, device and format come before the file (as
/// browsers send them, in form order), so nothing of the file is read
/// before the request is known to be allowed.
async fn upload_page(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let limit = state.cfg.logs.max_upload;
    let mut f = UploadForm::default();
    let mut errs = FormErrors::default();
    let mut mp = match mp {
        Ok(mp) => mp,
        Err(e) => {
            errs.add(
                "file",
                format!("send the form as multipart/form-data ({})", e.body_text()),
            );
            return logs_view(&state, &user, StatusCode::BAD_REQUEST, &f, &errs, None).await;
        }
    };
    if content_length(&headers).is_some_and(|n| n > limit.saturating_add(MULTIPART_SLACK)) {
        if !expects_continue(&headers) {
            drain_multipart(&mut mp).await;
        }
        return upload_failed(&state, &user, &f, UploadError::TooLarge { limit }).await;
    }
    let mut outcome: Option<(Device, Result<Receipt, UploadError>)> = None;
    let mut drain = false;
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return upload_failed(&state, &user, &f, UploadError::TooLarge { limit }).await;
            }
            Err(e) => {
                errs.add(
                    "file",
                    format!("the form could not be read: {}", e.body_text()),
                );
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name != "file" {
            let v = match small_field(&mut field).await {
                Ok(v) => v,
                Err(e) => {
                    errs.add("file", e);
                    drain = true;
                    break;
                }
            };
            match name.as_str() {
                "csrf" => f.csrf = Some(v),
                "device" => f.device = v.trim().to_string(),
                "format" => f.format = v.trim().to_string(),
                _ => {}
            }
            continue;
        }
        // The file: everything it depends on is known now.
        if let Err(r) = user.check_csrf(f.csrf.as_deref()) {
            drop(field);
            drain_multipart(&mut mp).await;
            return r.into_response();
        }
        let Some(logs) = state.logs.clone() else {
            drain = true;
            errs.add("file", DISABLED);
            break;
        };
        let format = match parse_format(&f.format) {
            Ok(fmt) => fmt,
            Err(e) => {
                errs.add("format", e);
                None
            }
        };
        let device = match f.device.parse::<i64>() {
            Ok(id) => {
                let store = state.store.clone();
                let acct = user.id();
                match blocking(move || Ok((store.device(acct, id)?, store.device_tz(acct, id)?)))
                    .await
                {
                    Ok(d) => Some(d),
                    Err(StoreError::NotFound) => {
                        drop(field);
                        drain_multipart(&mut mp).await;
                        return not_found(&user);
                    }
                    Err(e) => return ApiError::from(e).into_response(),
                }
            }
            Err(_) => {
                errs.add("device", "choose one of your devices");
                None
            }
        };
        if field.file_name().unwrap_or("").is_empty() {
            errs.add("file", "choose a log file to upload");
        }
        let Some((device, tz)) = device else {
            drain = true;
            break;
        };
        if !errs.is_empty() {
            drain = true;
            break;
        }
        let t = target(user.id(), device.id, &tz, format);
        let (fed, result) = ingest_field(&logs, t, &mut field).await;
        drain = result.is_err() && !matches!(fed, Fed::Complete);
        outcome = Some((device, result));
        break;
    }
    if drain {
        drain_multipart(&mut mp).await;
    }
    match outcome {
        Some((d, Ok(receipt))) => {
            tracing::info!(
                account = user.id(),
                device = d.id,
                lines = receipt.lines,
                accepted = receipt.accepted,
                "log uploaded"
            );
            logs_view(
                &state,
                &user,
                StatusCode::OK,
                &f,
                &FormErrors::default(),
                Some((&d, &receipt)),
            )
            .await
        }
        Some((_, Err(e))) => upload_failed(&state, &user, &f, e).await,
        None => {
            if let Err(r) = user.check_csrf(f.csrf.as_deref()) {
                return r.into_response();
            }
            if errs.is_empty() {
                errs.add("file", "choose a log file to upload");
            }
            let status = if state.logs.is_none() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            logs_view(&state, &user, status, &f, &errs, None).await
        }
    }
}

async fn upload_failed(state: &AppState, user: &User, f: &UploadForm, e: UploadError) -> Response {
    if let UploadError::Internal(why) = &e {
        tracing::error!(error = %why, "log upload failed");
    }
    let mut errs = FormErrors::default();
    errs.add("file", e.message());
    logs_view(state, user, e.status(), f, &errs, None).await
}

// ---- device page: log zone and log token ----

/// What the device page's "Firewall logs" section shows besides the stored
/// state.
#[derive(Default)]
pub struct DeviceLogs {
    /// The zone as submitted (shown again with its error).
    pub tz: Option<String>,
    pub errs: FormErrors,
    /// A new log token, shown once.
    pub token: Option<String>,
}

/// The device page's "Firewall logs" section: the log zone field and the
/// log token (mail address and cron example when just created).
pub fn device_section(state: &AppState, user: &User, d: &Device, logs: &DeviceLogs) -> Markup {
    let tz = logs.tz.clone().unwrap_or_else(|| {
        state
            .store
            .device_tz(user.id(), d.id)
            .unwrap_or_else(|_| "UTC".into())
    });
    let has_token = state.store.has_log_token(user.id(), d.id).unwrap_or(false);
    html! {
        h2 #logs { "Firewall logs" }
        p.muted {
            "Upload this device's firewall log on the " a href="/logs" { "Logs page" }
            ", or let a script send it with the device's log token."
            @if state.logs.is_none() { " " span.flag { "Log intake is disabled on this appliance." } }
        }
        form.card #log-zone method="post" action=(format!("/devices/{}/log-zone", d.id)) {
            (csrf_field(user))
            (input(&logs.errs, "tz", "Log zone (for times the log prints without one)", &tz, "text", Some("UTC, +01:00 or Europe/Berlin")))
            button type="submit" { "Save zone" }
        }
        @if let Some(token) = &logs.token {
            p.notice { "Log token (shown once; keep it secret):" }
            pre { code #log-token { (token) } }
            p { "Mail logs to " code #log-mail { (log_mail(state, token)) } ", or send them from cron:" }
            pre { code #log-curl { (curl_example(state, token)) } }
        } @else {
            p.muted {
                @if has_token { "A log token exists. Creating a new one revokes it." }
                @else { "No log token yet: create one for scripts and mail." }
            }
        }
        form.inline method="post" action=(format!("/devices/{}/log-token", d.id)) {
            (csrf_field(user))
            button.secondary type="submit" { "Create log token" }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ZoneForm {
    tz: String,
    csrf: String,
}

async fn zone_form(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<ZoneForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let store = state.store.clone();
    let (acct, tz) = (user.id(), f.tz.clone());
    let errs = match blocking(move || store.set_device_tz(acct, id, &tz)).await {
        Ok(()) => return Redirect::to(&format!("/devices/{id}?done=saved")).into_response(),
        Err(StoreError::NotFound) => return not_found(&user),
        Err(StoreError::Invalid { field, message }) => {
            let mut errs = FormErrors::default();
            errs.add(field, message);
            errs
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let d = match devices::load_device(&state, &user, id).await {
        Ok(d) => d,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&user),
        Err(e) => return e.into_response(),
    };
    let logs = DeviceLogs {
        tz: Some(f.tz),
        errs,
        token: None,
    };
    (
        StatusCode::BAD_REQUEST,
        devices::device_view(
            &state,
            &user,
            &d,
            &devices::form_of(&d),
            &FormErrors::default(),
            None,
            None,
            &logs,
        ),
    )
        .into_response()
}

async fn token_form(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<super::html::CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let store = state.store.clone();
    let acct = user.id();
    let token = match blocking(move || store.new_log_token(acct, id)).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return not_found(&user),
        Err(e) => return ApiError::from(e).into_response(),
    };
    tracing::info!(account = acct, device = id, "log token created");
    match devices::load_device(&state, &user, id).await {
        Ok(d) => devices::device_view(
            &state,
            &user,
            &d,
            &devices::form_of(&d),
            &FormErrors::default(),
            None,
            None,
            &DeviceLogs {
                token: Some(token),
                ..Default::default()
            },
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

// ---- JSON API ----

/// Line counts of one format (or of lines no format recognised).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CountsOut {
    pub records: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub skipped: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemOut {
    /// 1-based line number in the upload.
    pub line: u64,
    pub reason: String,
}

/// What an upload stored; given once the entries are durable.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReceiptOut {
    /// The device the log was stored for.
    pub device: i64,
    /// Stored batch ids.
    pub batches: Vec<i64>,
    pub lines: u64,
    /// Lines stored as entries.
    pub accepted: u64,
    /// Lines of a known format that are malformed (kept raw, with reasons).
    pub rejected: u64,
    /// Lines not understood (other daemons, other message types): kept raw.
    pub ignored: u64,
    /// Blank lines and column headers.
    pub skipped: u64,
    /// The same counts per format; lines no format recognised are under
    /// `unrecognised`.
    pub by_format: BTreeMap<String, CountsOut>,
    /// Time of the earliest and latest entry (RFC 3339, UTC).
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The first rejected lines with their reasons.
    pub problems: Vec<ProblemOut>,
}

impl ReceiptOut {
    fn new(device: i64, r: Receipt) -> ReceiptOut {
        ReceiptOut {
            device,
            batches: r.batches,
            lines: r.lines,
            accepted: r.accepted,
            rejected: r.rejected,
            ignored: r.ignored,
            skipped: r.skipped,
            by_format: r
                .by_format
                .into_iter()
                .map(|(k, c)| {
                    (
                        k.to_string(),
                        CountsOut {
                            records: c.records,
                            rejected: c.rejected,
                            ignored: c.ignored,
                            skipped: c.skipped,
                        },
                    )
                })
                .collect(),
            first_time: r.first_time,
            last_time: r.last_time,
            problems: r
                .problems
                .into_iter()
                .map(|p| ProblemOut {
                    line: p.line,
                    reason: p.reason,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// Log format (`auto` or empty: detected per line), e.g. `iptables`.
    pub format: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn store_api_upload(
    state: &AppState,
    account: i64,
    device: i64,
    tz: &str,
    q: &FormatQuery,
    source: Source,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let format = match parse_format(q.format.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => {
            return refuse(
                state,
                headers,
                body,
                ApiError::bad("format", e).into_response(),
            )
            .await
        }
    };
    let t = target(account, device, tz, format);
    match ingest_body(state, t, source, headers, body).await {
        Ok(r) => {
            tracing::info!(
                account,
                device,
                lines = r.lines,
                accepted = r.accepted,
                source = source.as_str(),
                "log received"
            );
            Json(ReceiptOut::new(device, r)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Stores a firewall log of one of the account's devices. The body is the
/// log itself, plain text or gzip; the receipt is given once it is durable.
/// All or nothing: too large (413) or unreadable (400) stores nothing.
#[utoipa::path(
    post,
    path = "/api/devices/{id}/logs",
    tag = "logs",
    params(("id" = i64, Path, description = "device id"), FormatQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "the log, plain text or gzip"),
    responses(
        (status = 200, body = ReceiptOut),
        (status = 400, description = "unreadable (e.g. broken gzip) or unknown format: {error, field}"),
        (status = 401),
        (status = 404, description = "no such device in this account"),
        (status = 413, description = "larger than [logs] max_upload"),
        (status = 503, description = "log intake disabled")
    )
)]
async fn api_device_logs(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if state.logs.is_none() {
        return refuse(
            &state,
            &headers,
            body,
            UploadError::Disabled.into_response(),
        )
        .await;
    }
    let store = state.store.clone();
    let acct = user.id();
    let tz = match blocking(move || store.device_tz(acct, id)).await {
        Ok(tz) => tz,
        Err(e) => return refuse(&state, &headers, body, ApiError::from(e).into_response()).await,
    };
    store_api_upload(&state, acct, id, &tz, &q, Source::Api, &headers, body).await
}

/// The log token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_LOG_TOKEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then(|| token.to_string())
}

/// Stores a firewall log for cron scripts: authenticate with the device's
/// log token (`Authorization: Bearer <log token>`, from the device page or
/// `POST /api/devices/{id}/log-token`), not an API token; the token names
/// the device. Body and receipt as for `/api/devices/{id}/logs`.
#[utoipa::path(
    post,
    path = "/api/logs",
    tag = "logs",
    params(FormatQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "the log, plain text or gzip"),
    responses(
        (status = 200, body = ReceiptOut),
        (status = 400, description = "unreadable (e.g. broken gzip) or unknown format"),
        (status = 401, description = "no valid log token"),
        (status = 413, description = "larger than [logs] max_upload"),
        (status = 503, description = "log intake disabled")
    )
)]
async fn api_logs(
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return Rejection::Unauthorized.into_response();
    };
    let store = state.store.clone();
    let device = match blocking(move || store.log_device_by_token(&token)).await {
        Ok(Some(d)) => d,
        Ok(None) => return Rejection::Unauthorized.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if state.logs.is_none() {
        return refuse(
            &state,
            &headers,
            body,
            UploadError::Disabled.into_response(),
        )
        .await;
    }
    store_api_upload(
        &state,
        device.account,
        device.device,
        &device.tz,
        &q,
        Source::Api,
        &headers,
        body,
    )
    .await
}

/// A device's log zone.
#[derive(Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct LogZone {
    /// `UTC`, a fixed offset (`+01:00`) or an IANA zone (`Europe/Berlin`):
    /// how times its logs print without a zone are read.
    pub tz: String,
}

/// A device's log zone.
#[utoipa::path(get, path = "/api/devices/{id}/log-zone", tag = "logs", params(("id" = i64, Path)), responses((status = 200, body = LogZone), (status = 401), (status = 404)))]
async fn api_get_log_zone(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<LogZone>, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    let tz = blocking(move || store.device_tz(acct, id)).await?;
    Ok(Json(LogZone { tz }))
}

/// Sets a device's log zone (validated; the stored form is returned).
#[utoipa::path(put, path = "/api/devices/{id}/log-zone", tag = "logs", params(("id" = i64, Path)), request_body = LogZone, responses((status = 200, body = LogZone), (status = 400, description = "invalid zone: {error, field}"), (status = 401), (status = 404)))]
async fn api_put_log_zone(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Json(z): Json<LogZone>,
) -> Result<Json<LogZone>, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    let tz = blocking(move || {
        store.set_device_tz(acct, id, &z.tz)?;
        store.device_tz(acct, id)
    })
    .await?;
    Ok(Json(LogZone { tz }))
}

/// A new log token, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogTokenOut {
    /// `Authorization: Bearer <token>` on `POST /api/logs`.
    pub token: String,
    /// Mail logs here (when the appliance's SMTP intake is reachable).
    pub mail: String,
    /// Where scripts send logs.
    pub url: String,
    /// A cron line that sends a log.
    pub curl: String,
}

/// Creates (or replaces, revoking the old one) a device's log token; shown
/// once.
#[utoipa::path(post, path = "/api/devices/{id}/log-token", tag = "logs", params(("id" = i64, Path)), responses((status = 200, body = LogTokenOut), (status = 401), (status = 404)))]
async fn api_log_token(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<LogTokenOut>, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    let token = blocking(move || store.new_log_token(acct, id)).await?;
    tracing::info!(account = acct, device = id, "log token created");
    Ok(Json(LogTokenOut {
        mail: log_mail(&state, &token),
        url: format!("{}/api/logs", state.base_url()),
        curl: curl_example(&state, &token),
        token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_needs_its_end_mark() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel(4);
        rt.block_on(async {
            tx.send(Chunk::Data(Bytes::from_static(b"ab")))
                .await
                .unwrap();
            tx.send(Chunk::Data(Bytes::from_static(b"cd")))
                .await
                .unwrap();
            tx.send(Chunk::End).await.unwrap();
        });
        drop(tx);
        let mut r = ChannelReader {
            rx,
            cur: Bytes::new(),
            ended: false,
        };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcd");
        // Closed without the end mark: an error, not a short log.
        let (tx, rx) = mpsc::channel(4);
        rt.block_on(async {
            tx.send(Chunk::Data(Bytes::from_static(b"ab")))
                .await
                .unwrap()
        });
        drop(tx);
        let mut r = ChannelReader {
            rx,
            cur: Bytes::new(),
            ended: false,
        };
        assert!(r.read_to_string(&mut String::new()).is_err());
    }

    #[test]
    fn formats_sizes_and_tokens() {
        assert_eq!(parse_format("auto").unwrap(), None);
        assert_eq!(parse_format("").unwrap(), None);
        assert_eq!(parse_format("ufw").unwrap(), Some(Format::Iptables));
        assert!(parse_format("nope").is_err());
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(512 << 10), "512 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc234".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc234"));
        h.insert(header::AUTHORIZATION, "Bearer fw_x-y".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
