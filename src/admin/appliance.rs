//! The appliance image on the operator page: the booted slot and build,
//! the other slot, the last upgrade's outcome, the data partition's size,
//! the clock and its time servers (`POST /operator/appliance/time`, `POST
//! /api/appliance/time`), and the upgrade upload
//! (`POST /operator/appliance/upgrade`, a form; `POST
//! /api/appliance/upgrade`, the bundle as the body; `GET /api/appliance`).
//!
//! Only an operator may upgrade (session with CSRF token, or API token).
//! These routes carry their own body limit (`[appliance] max_bundle`, not
//! the admin's general one); the upload is spooled to a file in the data
//! directory, never held in memory, then verified and installed on a
//! blocking thread by [`crate::appliance::upgrade::install`]; the spool
//! file is removed whatever happens. The answer comes first; with
//! `[appliance] reboot_after_upgrade = true` the reboot is requested
//! [`REBOOT_DELAY`] later. Without `[appliance] boot_dir` this is not an
//! appliance image: the section is not shown and the routes answer 404.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Operator, User};
use super::html::{csrf_field, fmt_time, page};
use super::logs_upload::{
    content_length, drain_body, drain_multipart, expects_continue, human_size, next_chunk,
    small_field,
};
use super::{ApiError, AppState};
use crate::appliance::bundle::BundleError;
use crate::appliance::state::{ApplianceState, Outcome, Record};
use crate::appliance::upgrade::{self, Installed, UpgradeError};
use crate::appliance::{clock, esp, network, Slot};
use crate::config::Config;

/// Upload spool directory, inside the data directory.
pub const SPOOL_DIR: &str = "upgrade-spool";
/// Room for the form's CSRF field and multipart framing around the file.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// Time between the answer and the reboot request.
pub const REBOOT_DELAY: Duration = Duration::from_secs(2);
/// Why the routes answer 404 outside the image.
const NOT_APPLIANCE: &str =
    "this is not an appliance image ([appliance] boot_dir is not set in the configuration)";

/// The routes; spool files left by a crash in the middle of an upload are
/// removed here, at start.
pub fn routes(cfg: &Config) -> OpenApiRouter<AppState> {
    if cfg.appliance.boot_dir.is_some() {
        let _ = std::fs::remove_dir_all(cfg.data_dir.join(SPOOL_DIR));
    }
    let limit = usize::try_from(cfg.appliance.max_bundle.saturating_add(MULTIPART_SLACK))
        .unwrap_or(usize::MAX);
    let uploads = OpenApiRouter::new()
        .route(
            "/operator/appliance/upgrade",
            axum::routing::post(upgrade_form),
        )
        .routes(routes!(api_upgrade))
        .layer(DefaultBodyLimit::max(limit));
    OpenApiRouter::new()
        .routes(routes!(api_appliance))
        .routes(routes!(api_time))
        .route("/operator/appliance/time", axum::routing::post(time_form))
        .routes(routes!(api_network))
        .routes(routes!(api_keep_network))
        .route(
            "/operator/appliance/network",
            axum::routing::post(network_form),
        )
        .route(
            "/operator/appliance/network/keep",
            axum::routing::post(keep_network_form),
        )
        .merge(uploads)
}

// ---- status ----

/// One boot slot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotOut {
    /// `a` or `b`.
    pub slot: String,
    /// `booted`, `default` (blessed), `on trial` (boots next), `failed` or `empty`.
    pub state: String,
    pub version: Option<String>,
    pub build: Option<String>,
    /// The boot entry's generation (higher boots first).
    pub generation: Option<u64>,
    /// The boot entry's file name.
    pub entry: Option<String>,
}

/// The appliance's boot slots and upgrade history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplianceOut {
    /// The slot running now (null outside a feedwall boot entry).
    pub booted_slot: Option<String>,
    pub slots: Vec<SlotOut>,
    /// The last upgrade event, one line.
    pub last_upgrade: Option<String>,
    /// Unix time of that event.
    pub last_upgrade_at: Option<i64>,
    /// Largest bundle accepted, bytes.
    pub max_bundle: u64,
    /// The data partition's file system: size and room left, bytes. It
    /// grows at boot into a disk made bigger.
    pub data_bytes: Option<u64>,
    pub data_free_bytes: Option<u64>,
    pub clock: ClockOut,
    pub network: NetworkOut,
}

/// The appliance's network settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkOut {
    /// The settings file in effect (no address: DHCP).
    pub settings: network::Settings,
    /// How the boot brought the network up: `<interface> dhcp|static`.
    pub brought_up: Option<String>,
    /// Saved settings waiting for the next restart.
    pub next: Option<network::Settings>,
    /// The settings in effect are on trial: confirm them in time or the
    /// previous ones come back.
    pub trial: Option<network::Trial>,
}

fn network_out(cfg: &Config) -> NetworkOut {
    let a = &cfg.appliance;
    NetworkOut {
        settings: network::read(&a.settings_dir.join(network::FILE)),
        brought_up: std::fs::read_to_string(a.run_dir.join(crate::appliance::NETWORK_FILE))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        next: network::next(&a.settings_dir),
        trial: network::trial(&a.settings_dir),
    }
}

/// New network settings (`POST /api/appliance/network`): no address for
/// DHCP. They apply at the next restart (right away when the appliance
/// restarts after changes) and are on trial until confirmed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NetworkIn {
    /// `a.b.c.d/len`; empty or absent: DHCP.
    pub address: Option<String>,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// Seconds to confirm after the restart, 60-3600 (default 600).
    pub confirm_within_secs: Option<u64>,
}

/// The network form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    /// `dhcp` or `static`.
    pub mode: String,
    pub address: String,
    pub gateway: String,
    /// Resolvers, separated by spaces or commas.
    pub dns: String,
    pub confirm_within: String,
    pub csrf: String,
}

/// What saving network settings did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkSaved {
    pub next: network::Settings,
    pub confirm_within_secs: u64,
    /// The appliance restarts into them now.
    pub restart: bool,
    pub message: String,
}

/// Reboots [`REBOOT_DELAY`] from now (after the answer went out).
fn schedule_reboot(what: &'static str) {
    tokio::spawn(async move {
        tokio::time::sleep(REBOOT_DELAY).await;
        let failed = match tokio::task::spawn_blocking(crate::appliance::request_reboot).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            tracing::error!(error = %e, "cannot reboot for {what}");
        }
    });
}

/// The page for a settings form that was refused: what, which field, why.
fn not_saved(user: &User, e: &ApiError, what: &str, section: &str) -> Response {
    result_page(
        user,
        e.status,
        html! {
            p.error role="alert" #not-saved { (what) " not saved: " @if let Some(f) = e.field { (f) ": " } (e.message) }
            p { a href=(format!("/operator#{section}")) { "Back to the operator page" } }
        },
    )
}

fn not_appliance() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: NOT_APPLIANCE.into(),
        field: None,
    }
}

async fn save_network(
    state: &AppState,
    user: &User,
    n: NetworkIn,
) -> Result<NetworkSaved, ApiError> {
    if state.cfg.appliance.boot_dir.is_none() {
        return Err(not_appliance());
    }
    let settings = match n
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => network::Settings::dhcp(),
        Some(a) => {
            let dns: Vec<&str> = n
                .dns
                .iter()
                .map(|d| d.trim())
                .filter(|d| !d.is_empty())
                .collect();
            network::check(a, n.gateway.as_deref().unwrap_or("").trim(), &dns)
                .map_err(|e| ApiError::bad(e.field, e.message))?
        }
    };
    let secs = n
        .confirm_within_secs
        .unwrap_or(network::DEFAULT_CONFIRM.as_secs());
    if !(network::MIN_CONFIRM.as_secs()..=network::MAX_CONFIRM.as_secs()).contains(&secs) {
        return Err(ApiError::bad(
            "confirm_within",
            format!(
                "between {} and {} seconds",
                network::MIN_CONFIRM.as_secs(),
                network::MAX_CONFIRM.as_secs()
            ),
        ));
    }
    let dir = state.cfg.appliance.settings_dir.clone();
    let saved = settings.clone();
    tokio::task::spawn_blocking(move || {
        network::save_next(&dir, &saved, Duration::from_secs(secs))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let what = settings.summary();
    tracing::warn!(operator = %user.account.email, network = %what, "network settings saved");
    let restart = state.cfg.appliance.reboot_after_upgrade;
    if restart {
        schedule_reboot("the network settings");
    }
    let reach = match &settings.address {
        Some(a) => format!("https://{}/operator", a.split('/').next().unwrap_or(a)),
        None => "the address DHCP gives it (shown on its console)".into(),
    };
    Ok(NetworkSaved {
        message: format!(
            "network settings saved ({what}); {}; confirm them within {secs} s at {reach} or the previous ones come back",
            if restart { "the appliance restarts with them now" } else { "they apply at the next restart" }
        ),
        next: settings,
        confirm_within_secs: secs,
        restart,
    })
}

/// Saves network settings for the next restart (operator only).
#[utoipa::path(post, path = "/api/appliance/network", tag = "appliance", request_body = NetworkIn, responses((status = 200, body = NetworkSaved), (status = 400), (status = 401), (status = 403), (status = 404, description = "not an appliance image")))]
async fn api_network(
    State(state): State<AppState>,
    Operator(user): Operator,
    Json(n): Json<NetworkIn>,
) -> Result<Json<NetworkSaved>, ApiError> {
    save_network(&state, &user, n).await.map(Json)
}

async fn keep_network(state: &AppState, user: &User) -> Result<bool, ApiError> {
    if state.cfg.appliance.boot_dir.is_none() {
        return Err(not_appliance());
    }
    let dir = state.cfg.appliance.settings_dir.clone();
    let kept = tokio::task::spawn_blocking(move || network::confirm(&dir))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if kept {
        tracing::warn!(operator = %user.account.email, "network settings confirmed");
    }
    Ok(kept)
}

/// Confirms network settings on trial (operator only); false when none
/// were on trial.
#[utoipa::path(post, path = "/api/appliance/network/keep", tag = "appliance", responses((status = 200, body = bool), (status = 401), (status = 403), (status = 404, description = "not an appliance image")))]
async fn api_keep_network(
    State(state): State<AppState>,
    Operator(user): Operator,
) -> Result<Json<bool>, ApiError> {
    keep_network(&state, &user).await.map(Json)
}

async fn network_form(
    State(state): State<AppState>,
    Operator(user): Operator,
    axum::Form(f): axum::Form<NetworkForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let confirm = match f.confirm_within.trim() {
        "" => Ok(None),
        t => t
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::bad("confirm_within", "a number of seconds")),
    };
    let n = confirm.map(|c| NetworkIn {
        address: (f.mode == "static").then(|| f.address.clone()),
        gateway: Some(f.gateway.clone()),
        dns: f
            .dns
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        confirm_within_secs: c,
    });
    let r = match n {
        Ok(n) if f.mode == "dhcp" || f.mode == "static" => save_network(&state, &user, n).await,
        Ok(_) => Err(ApiError::bad("mode", "choose DHCP or a static address")),
        Err(e) => Err(e),
    };
    match r {
        Ok(saved) => result_page(
            &user,
            StatusCode::OK,
            html! { p.notice role="status" #network-saved { (saved.message) "." } },
        ),
        Err(e) => not_saved(&user, &e, "Network settings", "appliance-network"),
    }
}

async fn keep_network_form(
    State(state): State<AppState>,
    Operator(user): Operator,
    axum::Form(f): axum::Form<super::html::CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    match keep_network(&state, &user).await {
        Ok(_) => {
            axum::response::Redirect::to("/operator?done=saved#appliance-network").into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The appliance's clock: the time servers in effect and the last SNTP
/// round.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClockOut {
    /// Where the servers come from: `settings` (the operator's), `dhcp`,
    /// `default` (pool.ntp.org) or `off`.
    pub source: clock::Source,
    /// The servers in effect.
    pub servers: Vec<String>,
    /// The last round of `feedwall appliance clock` (null before the first).
    pub status: Option<clock::Status>,
    /// The same as one line (as on the console).
    pub summary: String,
}

fn clock_out(cfg: &Config) -> ClockOut {
    let a = &cfg.appliance;
    let (servers, problem) = clock::servers(&a.settings_dir, &a.run_dir);
    let status = clock::Status::load(&a.run_dir);
    let summary = match (&status, problem) {
        (Some(s), _) => s.line(),
        (None, Some(p)) => format!("clock: no report yet ({p})"),
        (None, None) => "clock: no report yet".into(),
    };
    ClockOut {
        source: servers.source,
        servers: servers.servers,
        status,
        summary,
    }
}

/// What the operator asks for (`POST /api/appliance/time`).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TimeIn {
    /// Time servers (host, host:port, [IPv6]:port), at most 8; `["off"]`
    /// turns NTP off; `[]` goes back to DHCP's servers or pool.ntp.org.
    pub servers: Vec<String>,
}

/// The time-server form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct TimeForm {
    /// One server per line.
    pub servers: String,
    pub csrf: String,
}

/// Checks and saves the operator's time servers; the clock loop picks
/// them up within a second.
async fn save_time(state: &AppState, user: &User, text: String) -> Result<ClockOut, ApiError> {
    if state.cfg.appliance.boot_dir.is_none() {
        return Err(not_appliance());
    }
    let setting = clock::parse_setting(&text).map_err(|e| ApiError::bad("servers", e))?;
    let cfg = state.cfg.clone();
    let saved = setting.clone();
    tokio::task::spawn_blocking(move || {
        clock::save_setting(&cfg.appliance.settings_dir, &saved).map(|_| clock_out(&cfg))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
    .inspect(|_| {
        let said = match &setting {
            clock::Setting::Off => "off".to_string(),
            clock::Setting::Servers(v) if v.is_empty() => "DHCP's or the default".to_string(),
            clock::Setting::Servers(v) => v.join(", "),
        };
        tracing::info!(operator = %user.account.email, servers = %said, "time servers changed");
    })
}

/// Sets the appliance's time servers (operator only).
#[utoipa::path(post, path = "/api/appliance/time", tag = "appliance", request_body = TimeIn, responses((status = 200, body = ClockOut), (status = 400), (status = 401), (status = 403), (status = 404, description = "not an appliance image")))]
async fn api_time(
    State(state): State<AppState>,
    Operator(user): Operator,
    Json(t): Json<TimeIn>,
) -> Result<Json<ClockOut>, ApiError> {
    save_time(&state, &user, t.servers.join("\n"))
        .await
        .map(Json)
}

async fn time_form(
    State(state): State<AppState>,
    Operator(user): Operator,
    axum::Form(f): axum::Form<TimeForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    match save_time(&state, &user, f.servers).await {
        Ok(_) => {
            axum::response::Redirect::to("/operator?done=saved#appliance-time").into_response()
        }
        Err(e) => not_saved(&user, &e, "Time servers", "appliance-time"),
    }
}

/// The slots and history (blocking: small file reads).
pub fn status(cfg: &Config, data_dir: &std::path::Path) -> Option<ApplianceOut> {
    let boot = cfg.appliance.boot_dir.as_deref()?;
    let booted = crate::appliance::booted_slot(None);
    let entries = esp::entries(boot).unwrap_or_default();
    let slots = Slot::ALL
        .iter()
        .map(|&s| {
            let e = esp::slot_entry(&entries, s);
            let m = upgrade::slot_manifest(boot, s);
            let state = match (e, booted) {
                (_, Some(b)) if b == s => "booted",
                (None, _) => "empty",
                (Some(e), _) if e.name.is_bad() => "failed",
                (Some(e), _) if e.name.on_trial() => "on trial",
                (Some(_), _) => "default",
            };
            SlotOut {
                slot: s.to_string(),
                state: state.into(),
                version: m.as_ref().map(|m| m.version.clone()),
                build: m.as_ref().map(|m| m.build.clone()),
                generation: e.map(|e| e.version),
                entry: e.map(|e| e.name.file_name()),
            }
        })
        .collect();
    let history = ApplianceState::load(data_dir);
    let space = crate::appliance::fs_space(data_dir);
    Some(ApplianceOut {
        booted_slot: booted.map(|s| s.to_string()),
        slots,
        last_upgrade: history.last().map(|r| r.message.clone()),
        last_upgrade_at: history.last().map(|r| r.at),
        max_bundle: cfg.appliance.max_bundle,
        data_bytes: space.map(|s| s.0),
        data_free_bytes: space.map(|s| s.1),
        clock: clock_out(cfg),
        network: network_out(cfg),
    })
}

/// The appliance image's boot slots and last upgrade (operator only).
#[utoipa::path(get, path = "/api/appliance", tag = "appliance", responses((status = 200, body = ApplianceOut), (status = 401), (status = 403), (status = 404, description = "not an appliance image")))]
async fn api_appliance(
    State(state): State<AppState>,
    _op: Operator,
) -> Result<Json<ApplianceOut>, ApiError> {
    let (cfg, dir) = (state.cfg.clone(), state.data_dir.clone());
    let out = tokio::task::spawn_blocking(move || status(&cfg, &dir))
        .await
        .map_err(ApiError::internal)?;
    out.map(Json).ok_or_else(not_appliance)
}

/// The operator page's Appliance section (nothing outside the image).
pub fn section(state: &AppState, user: &User) -> Markup {
    let Some(s) = status(&state.cfg, &state.data_dir) else {
        return html! {};
    };
    html! {
        h2 #appliance { "Appliance" }
        table #appliance-slots {
            tr { th { "Slot" } th { "State" } th { "Version" } th { "Build" } th { "Boot entry" } }
            @for sl in &s.slots {
                tr id=(format!("slot-{}", sl.slot)) {
                    td { (sl.slot) }
                    td { @if sl.state == "failed" { span.flag { (sl.state) } } @else { (sl.state) } }
                    td { (sl.version.as_deref().unwrap_or("-")) }
                    td { (sl.build.as_deref().unwrap_or("-")) }
                    td { @match (&sl.entry, sl.generation) { (Some(e), Some(g)) => { code { (e) } " (generation " (g) ")" }, _ => "-" } }
                }
            }
        }
        @if let (Some(size), Some(free)) = (s.data_bytes, s.data_free_bytes) {
            p #data-space { "Data partition: " (approx_size(size)) ", " (approx_size(free)) " free " span.muted { "(it grows at boot into a disk made bigger)" } }
        }
        @if let (Some(m), Some(at)) = (&s.last_upgrade, s.last_upgrade_at) {
            p #last-upgrade { "Last upgrade: " (m) " " span.muted { "(" (fmt_time(at)) ")" } }
        }
        h3 #appliance-network { "Network" }
        @let n = &s.network;
        @if let Some(t) = &n.trial {
            form.card #network-trial method="post" action="/operator/appliance/network/keep" {
                (csrf_field(user))
                p.flag { "These network settings are on trial: keep them within " (t.confirm_within_secs) " s of the restart, or the appliance goes back to the previous ones and restarts." }
                button type="submit" { "Keep these network settings" }
            }
        }
        p #network-now {
            "In effect: "
            @match &n.settings.address {
                None => "DHCP on the first network card",
                Some(a) => { "static " (a) @if let Some(g) = &n.settings.gateway { ", gateway " (g) } @if !n.settings.dns.is_empty() { ", DNS " (n.settings.dns.join(" ")) } },
            }
            @if let Some(b) = &n.brought_up { span.muted { " (this boot: " (b) ")" } }
        }
        @if let Some(next) = &n.next {
            p #network-next { "Saved for the next restart: " @match &next.address { None => "DHCP", Some(a) => { "static " (a) } } }
        }
        @let shown = n.next.as_ref().unwrap_or(&n.settings);
        form.card #network-form method="post" action="/operator/appliance/network" data-confirm="Restart the appliance with these network settings? You must confirm them from the new address in time, or the previous ones come back." {
            (csrf_field(user))
            fieldset {
                legend { "Address" }
                label { input type="radio" name="mode" value="dhcp" checked[shown.is_dhcp()]; " DHCP" }
                label { input type="radio" name="mode" value="static" checked[!shown.is_dhcp()]; " Static" }
            }
            label for="net-address" { "Address with prefix length (IPv4), e.g. 192.0.2.10/24" }
            input #net-address name="address" value=(shown.address.as_deref().unwrap_or(""));
            label for="net-gateway" { "Default gateway" }
            input #net-gateway name="gateway" value=(shown.gateway.as_deref().unwrap_or(""));
            label for="net-dns" { "DNS resolvers (up to 3, separated by spaces)" }
            input #net-dns name="dns" value=(shown.dns.join(" "));
            label for="net-confirm" { "Seconds to confirm after the restart (60-3600)" }
            input #net-confirm name="confirm_within" type="number" min="60" max="3600" value="600";
            p.muted { "The settings apply at a restart and stay only if you confirm them on this page, reached over the new settings, in time; otherwise the appliance goes back to the previous ones by itself." }
            button type="submit" { "Save and restart" }
        }
        h3 #appliance-time { "Time" }
        p #clock-status { (s.clock.summary) }
        form.card #time-form method="post" action="/operator/appliance/time" {
            (csrf_field(user))
            label for="ntp-servers" { "Time servers (NTP), one per line: host, host:port or [IPv6]:port, at most 8. " code { "off" } " for none; empty for the servers DHCP gives, else pool.ntp.org." }
            textarea #ntp-servers name="servers" rows="3" {
                @match s.clock.source {
                    clock::Source::Off => "off",
                    clock::Source::Settings => (s.clock.servers.join("\n")),
                    _ => "",
                }
            }
            button type="submit" { "Save time servers" }
        }
        h3 { "Upgrade" }
        form.card #appliance-upgrade method="post" action="/operator/appliance/upgrade" enctype="multipart/form-data" data-confirm="Install this build into the other boot slot and restart into it?" {
            (csrf_field(user))
            label for="bundle" { "Upgrade bundle (feedwall-upgrade.tar, at most " (human_size(s.max_bundle)) ")" }
            input #bundle type="file" name="bundle" accept=".tar,application/x-tar" required;
            p.muted { "The bundle is checked (every file against its SHA-256 in the manifest) and written to the slot not running. The appliance then boots it once on trial; if it does not come up, it falls back to the running build by itself." }
            button type="submit" { "Upload and install" }
        }
    }
}

/// A size rounded for reading: `1.7 GiB`, `356 MiB`.
fn approx_size(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if n as f64 >= GIB {
        format!("{:.1} GiB", n as f64 / GIB)
    } else {
        format!("{:.0} MiB", n as f64 / MIB)
    }
}

// ---- upload ----

/// A spooled upload, removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Why an upload failed.
enum Failed {
    NotAppliance,
    Csrf,
    TooLarge(u64),
    Broken(String),
    Upgrade(UpgradeError),
    Internal(String),
}

impl Failed {
    fn status(&self) -> StatusCode {
        match self {
            Failed::NotAppliance => StatusCode::NOT_FOUND,
            Failed::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failed::Broken(_) => StatusCode::BAD_REQUEST,
            Failed::Csrf => StatusCode::FORBIDDEN,
            Failed::Upgrade(UpgradeError::Bundle(BundleError::TooLarge { .. })) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Failed::Upgrade(UpgradeError::Bundle(_)) => StatusCode::BAD_REQUEST,
            Failed::Upgrade(UpgradeError::Busy) => StatusCode::CONFLICT,
            Failed::Upgrade(UpgradeError::NotAnEsp(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Failed::Upgrade(UpgradeError::Io(_)) | Failed::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn message(&self) -> String {
        match self {
            Failed::NotAppliance => NOT_APPLIANCE.into(),
            Failed::Csrf => "missing or invalid CSRF token; reload the page and try again".into(),
            Failed::TooLarge(cap) => format!(
                "the bundle is larger than the {} limit ([appliance] max_bundle); nothing was written",
                human_size(*cap)
            ),
            Failed::Broken(why) => format!("the upload broke off ({why}); nothing was written"),
            Failed::Upgrade(UpgradeError::Bundle(e)) => {
                format!("bundle refused: {e}; nothing was written")
            }
            Failed::Upgrade(e @ (UpgradeError::Busy | UpgradeError::NotAnEsp(_))) => e.to_string(),
            Failed::Upgrade(UpgradeError::Io(_)) | Failed::Internal(_) => {
                "the upgrade could not be written (see the control process log); the running build is unchanged".into()
            }
        }
    }

    fn log(&self) {
        match self {
            Failed::Upgrade(UpgradeError::Io(e)) => {
                tracing::error!(error = %e, "upgrade failed writing the boot partition")
            }
            Failed::Internal(e) => tracing::error!(error = %e, "upgrade upload failed"),
            other => tracing::warn!(reason = %other.message(), "upgrade refused"),
        }
    }
}

/// A new spool file (mode 0600) in the data directory.
async fn new_spool(state: &AppState) -> Result<(Spool, tokio::fs::File), Failed> {
    let dir = state.data_dir.join(SPOOL_DIR);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| Failed::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!(
        "bundle-{}.tar",
        &super::store::random_token()[..16]
    ));
    let f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(|e| Failed::Internal(format!("cannot create {}: {e}", path.display())))?;
    Ok((Spool(path), f))
}

/// Writes one chunk, refusing past `cap`.
async fn spool_chunk(
    f: &mut tokio::fs::File,
    written: &mut u64,
    chunk: &[u8],
    cap: u64,
) -> Result<(), Failed> {
    *written += chunk.len() as u64;
    if *written > cap {
        return Err(Failed::TooLarge(cap));
    }
    f.write_all(chunk)
        .await
        .map_err(|e| Failed::Internal(format!("cannot spool the upload: {e}")))
}

/// Verifies and installs a spooled bundle; records it; asks for the
/// reboot when configured.
async fn install(state: &AppState, user: &User, spool: Spool) -> Result<Installed, Failed> {
    let boot = state
        .cfg
        .appliance
        .boot_dir
        .clone()
        .ok_or(Failed::NotAppliance)?;
    let cap = state.cfg.appliance.max_bundle;
    let data = state.data_dir.clone();
    let done = tokio::task::spawn_blocking(move || {
        let r = upgrade::install(&spool.0, &boot, crate::appliance::booted_slot(None), cap);
        drop(spool);
        if let Ok(i) = &r {
            let rec = Record {
                at: crate::appliance::unix_now(),
                outcome: Outcome::Installed,
                build: i.build.clone(),
                slot: i.slot.to_string(),
                message: format!(
                    "build {} installed in slot {}; it starts at the next restart",
                    i.build, i.slot
                ),
            };
            if let Err(e) = ApplianceState::record(&data, rec) {
                tracing::warn!(error = %e, "cannot record the upgrade");
            }
        }
        r
    })
    .await
    .map_err(|e| Failed::Internal(e.to_string()))?
    .map_err(Failed::Upgrade)?;
    tracing::warn!(operator = %user.account.email, slot = %done.slot, build = %done.build, generation = done.generation, "upgrade installed");
    if state.cfg.appliance.reboot_after_upgrade {
        schedule_reboot("the upgrade");
    }
    Ok(done)
}

/// The answer to an installed upgrade.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpgradeOut {
    /// The slot written (`a` or `b`).
    pub slot: String,
    pub version: String,
    pub build: String,
    /// The new boot entry's generation.
    pub generation: u64,
    /// The new boot entry's file name (`feedwall-<slot>+1.conf`).
    pub entry: String,
    /// The appliance reboots into it now.
    pub reboot: bool,
    pub message: String,
}

fn upgrade_out(state: &AppState, i: &Installed) -> UpgradeOut {
    let reboot = state.cfg.appliance.reboot_after_upgrade;
    UpgradeOut {
        slot: i.slot.to_string(),
        version: i.version.clone(),
        build: i.build.clone(),
        generation: i.generation,
        entry: i
            .entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        reboot,
        message: if reboot {
            format!(
                "build {} installed in slot {}; the appliance reboots into it now",
                i.build, i.slot
            )
        } else {
            format!(
                "build {} installed in slot {}; it starts at the next restart",
                i.build, i.slot
            )
        },
    }
}

/// Installs an upgrade bundle (the tar `appliance/build` writes) into the
/// boot slot not running; it boots once on trial at the next restart
/// (right away with `[appliance] reboot_after_upgrade`). Operator only.
#[utoipa::path(
    post,
    path = "/api/appliance/upgrade",
    tag = "appliance",
    request_body(content = String, content_type = "application/x-tar", description = "the upgrade bundle"),
    responses(
        (status = 200, body = UpgradeOut),
        (status = 400, description = "bundle refused (bad hash or size, unexpected file, bad manifest): nothing written"),
        (status = 401),
        (status = 403, description = "not the operator"),
        (status = 404, description = "not an appliance image"),
        (status = 409, description = "another upgrade is being installed"),
        (status = 413, description = "larger than [appliance] max_bundle")
    )
)]
async fn api_upgrade(
    State(state): State<AppState>,
    Operator(user): Operator,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let cap = state.cfg.appliance.max_bundle;
    let r = async {
        if state.cfg.appliance.boot_dir.is_none() {
            return Err(Failed::NotAppliance);
        }
        if content_length(&headers).is_some_and(|n| n > cap) {
            return Err(Failed::TooLarge(cap));
        }
        let (spool, mut f) = new_spool(&state).await?;
        let mut written = 0u64;
        while let Some(chunk) = next_chunk(&mut body).await {
            let chunk = chunk.map_err(Failed::Broken)?;
            spool_chunk(&mut f, &mut written, &chunk, cap).await?;
        }
        f.sync_all()
            .await
            .map_err(|e| Failed::Internal(e.to_string()))?;
        drop(f);
        install(&state, &user, spool).await
    }
    .await;
    match r {
        Ok(i) => Json(upgrade_out(&state, &i)).into_response(),
        Err(e) => {
            e.log();
            if matches!(e, Failed::TooLarge(_) | Failed::NotAppliance)
                && !expects_continue(&headers)
            {
                drain_body(&mut body, cap).await;
            }
            ApiError {
                status: e.status(),
                message: e.message(),
                field: None,
            }
            .into_response()
        }
    }
}

fn result_page(user: &User, status: StatusCode, body: Markup) -> Response {
    (status, page(Some(user), "Appliance upgrade", body)).into_response()
}

/// The upgrade form: the CSRF field comes before the file (form order),
/// so nothing of the file is read before the request is known to be
/// allowed.
async fn upgrade_form(
    State(state): State<AppState>,
    Operator(user): Operator,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let cap = state.cfg.appliance.max_bundle;
    let mut mp = match mp {
        Ok(mp) => mp,
        Err(e) => {
            let f = Failed::Broken(format!(
                "send the form as multipart/form-data ({})",
                e.body_text()
            ));
            return result_page(
                &user,
                f.status(),
                html! { p.error role="alert" { (f.message()) } },
            );
        }
    };
    let mut csrf: Option<String> = None;
    let r: Result<Installed, Failed> = async {
        if state.cfg.appliance.boot_dir.is_none() {
            return Err(Failed::NotAppliance);
        }
        if content_length(&headers).is_some_and(|n| n > cap.saturating_add(MULTIPART_SLACK)) {
            return Err(Failed::TooLarge(cap));
        }
        loop {
            let mut field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => return Err(Failed::Broken("no bundle file in the form".into())),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(Failed::TooLarge(cap))
                }
                Err(e) => return Err(Failed::Broken(e.body_text())),
            };
            let name = field.name().unwrap_or("").to_string();
            if name != "bundle" {
                let v = small_field(&mut field).await.map_err(Failed::Broken)?;
                if name == "csrf" {
                    csrf = Some(v);
                }
                continue;
            }
            if user.check_csrf(csrf.as_deref()).is_err() {
                return Err(Failed::Csrf);
            }
            let (spool, mut f) = new_spool(&state).await?;
            let mut written = 0u64;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => spool_chunk(&mut f, &mut written, &chunk, cap).await?,
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Err(Failed::TooLarge(cap))
                    }
                    Err(e) => return Err(Failed::Broken(e.body_text())),
                }
            }
            if written == 0 {
                return Err(Failed::Broken("choose the bundle file to upload".into()));
            }
            f.sync_all()
                .await
                .map_err(|e| Failed::Internal(e.to_string()))?;
            drop(f);
            return install(&state, &user, spool).await;
        }
    }
    .await;
    match r {
        Ok(i) => {
            let out = upgrade_out(&state, &i);
            result_page(
                &user,
                StatusCode::OK,
                html! {
                    p.notice role="status" #upgrade-result { (out.message) "." }
                    @if out.reboot {
                        p { "This page stops answering while the appliance restarts (a minute or two). If build " (out.build) " does not come up, the appliance falls back to the running build by itself and says so on the operator page." }
                    } @else {
                        p { "Restart the appliance to start it. It boots once on trial; if it does not come up, the appliance falls back to the running build." }
                    }
                    p { a href="/operator#appliance" { "Back to the operator page" } }
                },
            )
        }
        Err(Failed::Csrf) => {
            drain_multipart(&mut mp).await;
            super::auth::Rejection::Csrf.into_response()
        }
        Err(e) => {
            e.log();
            if matches!(e, Failed::TooLarge(_) | Failed::NotAppliance)
                && !expects_continue(&headers)
            {
                drain_multipart(&mut mp).await;
            }
            result_page(
                &user,
                e.status(),
                html! {
                    p.error role="alert" #upgrade-error { (e.message()) }
                    p { a href="/operator#appliance" { "Back to the operator page" } }
                },
            )
        }
    }
}
