//! Devices: the source addresses an account's firewalls and resolvers
//! query from (the ACL), their setup instructions, and check-in URLs for
//! devices whose address changes.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use ipnet::IpNet;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::User;
use super::html::{csrf_field, fmt_time, notice, page, CsrfOnly, DoneQuery, FormErrors};
use super::logs_upload::{self, DeviceLogs};
use super::publish::{account_list_name, ALLOW_LABEL, DENY_LABEL};
use super::setup::{self, DeviceKind, LookupNames, SetupContext};
use super::store::{Device, DeviceInput, StoreError, Tier};
use super::{blocking, ApiError, AppState};

/// The responder's stats file in the data directory (written by `feedwall
/// dns --stats-file`, as `feedwall up` starts it).
pub const DNS_STATS_FILE: &str = "dns-stats.json";
/// A device that has not queried for this long is flagged as not refreshing.
pub const STALE_AFTER_SECS: i64 = 3600;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route(
            "/devices",
            axum::routing::get(devices_page).post(add_device),
        )
        .route(
            "/devices/{id}",
            axum::routing::get(device_page).post(update_device),
        )
        .route("/devices/{id}/delete", axum::routing::post(delete_device))
        .route("/devices/{id}/checkin", axum::routing::post(new_checkin))
        .route(
            "/checkin/{token}",
            axum::routing::get(check_in).post(check_in),
        )
        .routes(routes!(api_list, api_add))
        .routes(routes!(api_get, api_update, api_delete))
        .routes(routes!(api_checkin_token))
        .routes(routes!(api_setup))
}

/// Last query time per device key, from the responder's stats file.
pub fn last_queries(state: &AppState) -> HashMap<u64, i64> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(state.data_dir.join(DNS_STATS_FILE)) else {
        return out;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return out;
    };
    for d in v["devices"].as_array().into_iter().flatten() {
        if let (Some(k), Some(t)) = (d["key"].as_u64(), d["last_query_unix"].as_i64()) {
            if k != 0 {
                out.insert(k, t);
            }
        }
    }
    out
}

/// The device form as submitted (every field a string, so bad input gets
/// a message rather than a generic rejection).
#[derive(Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(default)]
pub struct DeviceForm {
    /// Device name, unique within the account.
    pub name: String,
    /// Firewall / resolver type id (e.g. `unbound`, `bind`, `nftables`).
    pub kind: String,
    /// Source address or prefix it queries from (IPv4 or IPv6).
    pub prefix: String,
    /// Device group (advanced tier).
    pub group: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub csrf: String,
}

/// Validates a device form.
pub fn parse_device(
    state: &AppState,
    user: &User,
    f: &DeviceForm,
) -> Result<DeviceInput, FormErrors> {
    let mut errs = FormErrors::default();
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        errs.add("name", "a name of 1 to 64 characters");
    }
    let kind = DeviceKind::from_id(f.kind.trim());
    if kind.is_none() {
        errs.add("kind", "choose a firewall or resolver type from the list");
    }
    let group = f.group.trim();
    if group.chars().count() > 32 || group.chars().any(char::is_control) {
        errs.add("group", "a group name of at most 32 characters");
    } else if !group.is_empty() && !user.is_advanced() {
        errs.add("group", "device groups come with the advanced tier");
    }
    let raw = f.prefix.trim();
    let prefix = match raw
        .parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
    {
        Err(_) => {
            errs.add(
                "prefix",
                "enter an IPv4 or IPv6 address, or a prefix such as 192.0.2.0/28",
            );
            None
        }
        Ok(p) if p.trunc() != p => {
            errs.add(
                "prefix",
                format!("host bits are set; did you mean {}?", p.trunc()),
            );
            None
        }
        Ok(p) => {
            let (len, min) = match p {
                IpNet::V4(n) => (n.prefix_len(), state.cfg.admin.subscriber_min_prefix_v4),
                IpNet::V6(n) => (n.prefix_len(), state.cfg.admin.subscriber_min_prefix_v6),
            };
            let a = p.network();
            if a.is_unspecified() || a.is_multicast() {
                errs.add("prefix", "not a unicast address");
                None
            } else if len < min && !user.is_operator() {
                errs.add(
                    "prefix",
                    format!("at most a /{min} (ask the operator for wider ranges)"),
                );
                None
            } else {
                Some(p)
            }
        }
    };
    match (errs.is_empty(), kind, prefix) {
        (true, Some(kind), Some(prefix)) => Ok(DeviceInput {
            name: name.to_string(),
            kind: kind.id().to_string(),
            prefix,
            group: group.to_string(),
        }),
        _ => Err(errs),
    }
}

fn kind_label(id: &str) -> &'static str {
    DeviceKind::from_id(id)
        .map(|k| k.label())
        .unwrap_or("other")
}

fn device_fields(user: &User, f: &DeviceForm, errs: &FormErrors) -> Markup {
    html! {
        (csrf_field(user))
        (errs.general(if user.is_advanced() { &["name", "kind", "prefix", "group"] } else { &["name", "kind", "prefix"] }))
        (super::html::input(errs, "name", "Name", &f.name, "text", Some("fw1")))
        label for="kind" { "Type" }
        select id="kind" name="kind" aria-invalid=[errs.0.get("kind").map(|_| "true")] {
            @for k in DeviceKind::ALL {
                option value=(k.id()) selected[f.kind == k.id()] { (k.label()) }
            }
        }
        (errs.at("kind"))
        (super::html::input(errs, "prefix", "Source address or prefix it queries from", &f.prefix, "text", Some("192.0.2.10 or 2001:db8::/64")))
        @if user.is_advanced() {
            (super::html::input(errs, "group", "Group (optional)", &f.group, "text", Some("branch offices")))
        }
    }
}

fn devices_view(
    state: &AppState,
    user: &User,
    devices: &[Device],
    f: &DeviceForm,
    errs: &FormErrors,
    done: Option<&str>,
) -> Markup {
    let seen = last_queries(state);
    let now = super::store::now();
    let limit = (user.account.tier == Tier::Basic && !user.is_operator())
        .then_some(state.cfg.admin.basic_device_limit);
    page(
        Some(user),
        "Devices",
        html! {
            (notice(done))
            p.muted { "A device is a source address your firewall or resolver queries feedwall from. Only registered addresses get answers; changes take effect within seconds." }
            @if devices.is_empty() {
                p { "No devices yet." }
            } @else {
                table #devices {
                    tr { th { "Name" } th { "Type" } th { "Queries from" } @if user.is_advanced() { th { "Group" } } th { "Last query" } }
                    @for d in devices {
                        tr {
                            td { a href=(format!("/devices/{}", d.id)) { (d.name) } }
                            td { (kind_label(&d.kind)) }
                            td { code { (d.prefix) } @if d.dynamic { " " span.muted { "(check-in)" } } }
                            @if user.is_advanced() { td { (d.group) } }
                            td { (last_query_cell(seen.get(&(d.id as u64)).copied(), now)) }
                        }
                    }
                }
            }
            h2 { "Add a device" }
            @if let Some(l) = limit {
                p.muted { (format!("Basic tier: up to {l} devices ({} used).", devices.len())) }
            }
            form.card #add-device method="post" action="/devices" {
                (device_fields(user, f, errs))
                button type="submit" { "Add device" }
            }
        },
    )
}

/// "never", a time, or a flagged time when the device stopped refreshing.
pub fn last_query_cell(t: Option<i64>, now: i64) -> Markup {
    html! {
        @match t {
            None => span.muted { "never" },
            Some(t) if now - t > STALE_AFTER_SECS => span.flag title="no query for over an hour: is the firewall still refreshing?" { (fmt_time(t)) " (stale)" },
            Some(t) => span.ok { (fmt_time(t)) },
        }
    }
}

async fn devices_page(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<DoneQuery>,
) -> Response {
    let store = state.store.clone();
    let id = user.id();
    match blocking(move || store.devices(id)).await {
        Ok(devices) => devices_view(
            &state,
            &user,
            &devices,
            &DeviceForm {
                kind: "unbound".into(),
                ..Default::default()
            },
            &FormErrors::default(),
            q.done.as_deref(),
        )
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn device_limit(state: &AppState, user: &User) -> Option<u32> {
    (user.account.tier == Tier::Basic && !user.is_operator())
        .then_some(state.cfg.admin.basic_device_limit)
}

async fn add_device(
    State(state): State<AppState>,
    user: User,
    Form(f): Form<DeviceForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let result: Result<(), FormErrors> = match parse_device(&state, &user, &f) {
        Err(errs) => Err(errs),
        Ok(input) => {
            let store = state.store.clone();
            let (id, limit, reserved) = (
                user.id(),
                device_limit(&state, &user),
                state.reserved_prefixes(),
            );
            match blocking(move || store.add_device(id, &input, limit, &reserved)).await {
                Ok(d) => {
                    return Redirect::to(&format!("/devices/{}?done=added", d.id)).into_response()
                }
                Err(StoreError::Invalid { field, message }) => {
                    let mut errs = FormErrors::default();
                    errs.add(field, message);
                    Err(errs)
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let errs = result.err().unwrap_or_default();
    let store = state.store.clone();
    let id = user.id();
    let devices = blocking(move || store.devices(id))
        .await
        .unwrap_or_default();
    (
        StatusCode::BAD_REQUEST,
        devices_view(&state, &user, &devices, &f, &errs, None),
    )
        .into_response()
}

/// The lookups a device of this account may use, with their chunk counts
/// from the current snapshot.
pub fn visible_lookups(state: &AppState, user: &User) -> Vec<LookupNames> {
    let snap = crate::snapshot::MappedSnapshot::open(
        &state.data_dir.join(crate::control::sidecar::SNAPSHOT_FILE),
    )
    .ok();
    let capacity = |list: &str| -> u32 {
        snap.as_ref()
            .and_then(|s| {
                s.get()
                    .lists
                    .iter()
                    .find(|l| l.name.as_str() == list)
                    .map(|l| l.capacity.to_native())
            })
            .unwrap_or(crate::snapshot::writer::DEFAULT_MIN_CAPACITY)
    };
    let mut out: Vec<LookupNames> = state
        .cfg
        .lists
        .iter()
        .map(|l| LookupNames {
            title: l.name.clone(),
            list: l.name.clone(),
            capacity: capacity(&l.name).max(l.capacity),
        })
        .collect();
    if user.account.tier == Tier::Advanced && !user.is_operator() {
        let label = &user.account.label;
        let store = state.store.clone();
        let lookups = store.lookups(user.id()).unwrap_or_default();
        for (title, l) in [
            ("your deny list", DENY_LABEL),
            ("your allow list", ALLOW_LABEL),
        ] {
            let list = account_list_name(label, l);
            out.push(LookupNames {
                title: title.into(),
                capacity: capacity(&list),
                list,
            });
        }
        for l in lookups {
            let list = account_list_name(label, &l.label);
            out.push(LookupNames {
                title: l.name.clone(),
                capacity: capacity(&list),
                list,
            });
        }
    }
    out
}

fn setup_context(state: &AppState, user: &User, d: &Device) -> SetupContext {
    SetupContext {
        zone: state.cfg.zone.apex.clone(),
        servers: super::setup::reachable(&state.cfg.admin.dns_addresses, &state.machine_ips()),
        lookups: visible_lookups(state, user),
        device_name: d.name.clone(),
    }
}

/// The device page; `logs` carries what its "Firewall logs" section shows
/// after a log-zone or log-token form ([`super::logs_upload`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn device_view(
    state: &AppState,
    user: &User,
    d: &Device,
    f: &DeviceForm,
    errs: &FormErrors,
    done: Option<&str>,
    checkin_url: Option<&str>,
    logs: &DeviceLogs,
) -> Markup {
    let kind = DeviceKind::from_id(&d.kind).unwrap_or(DeviceKind::Other);
    let ctx = setup_context(state, user, d);
    let snippets = setup::snippets(kind, &ctx);
    let seen = last_queries(state).get(&(d.id as u64)).copied();
    page(
        Some(user),
        &format!("Device {}", d.name),
        html! {
            (notice(done))
            table #device {
                tr { th { "Type" } td { (kind.label()) } }
                tr { th { "Queries from" } td { code #device-prefix { (d.prefix) } } }
                @if !d.group.is_empty() { tr { th { "Group" } td { (d.group) } } }
                tr { th { "Last query" } td { (last_query_cell(seen, super::store::now())) } }
                tr { th { "Changed" } td { (fmt_time(d.updated)) } }
            }
            h2 { "Names to use" }
            p.muted { "Each list is split over chunk names of at most 4000 IPv4 / 2000 IPv6 addresses; use every chunk name (unused ones answer with no records, so rules keep working as lists grow). Large answers need DNS over TCP." }
            table #names {
                tr { th { "Lookup" } th { "Names" } }
                @for l in &ctx.lookups {
                    tr {
                        td { (l.title) }
                        td { code { "0." (l.list) "." (ctx.zone) } " … " code { (l.capacity.saturating_sub(1)) "." (l.list) "." (ctx.zone) } }
                    }
                }
            }
            h2 { "Setup: " (kind.label()) }
            @for (i, s) in snippets.iter().enumerate() {
                section.card.snippet {
                    h3 { (s.title) }
                    @for n in &s.notes { p.muted { (n) } }
                    pre id=(format!("snippet-{i}")) data-language=(s.language) { code { (s.text) } }
                    button.secondary type="button" data-copy=(format!("snippet-{i}")) { "Copy " (s.filename) }
                }
            }
            h2 { "Dynamic address" }
            @if let Some(url) = checkin_url {
                p.notice { "Check-in URL (shown once; keep it secret):" }
                pre { code #checkin-url { (url) } }
                p.muted { "Calling it (GET or POST) from the device's new address moves the device there, e.g. from cron: " code { "curl -fsS " (url) } }
            } @else {
                p.muted { @if d.dynamic { "A check-in URL exists. Creating a new one revokes it." } @else { "If this device's address changes, give it a check-in URL." } }
            }
            form.inline method="post" action=(format!("/devices/{}/checkin", d.id)) {
                (csrf_field(user))
                button.secondary type="submit" { "Create check-in URL" }
            }
            (logs_upload::device_section(state, user, d, logs))
            h2 { "Change" }
            form.card method="post" action=(format!("/devices/{}", d.id)) {
                (device_fields(user, f, errs))
                button type="submit" { "Save" }
            }
            form method="post" action=(format!("/devices/{}/delete", d.id)) data-confirm="Remove this device? It stops getting answers within seconds." {
                (csrf_field(user))
                button.danger type="submit" { "Remove device" }
            }
        },
    )
}

pub(super) fn form_of(d: &Device) -> DeviceForm {
    DeviceForm {
        name: d.name.clone(),
        kind: d.kind.clone(),
        prefix: d.prefix.to_string(),
        group: d.group.clone(),
        csrf: String::new(),
    }
}

pub(super) async fn load_device(
    state: &AppState,
    user: &User,
    id: i64,
) -> Result<Device, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    Ok(blocking(move || store.device(acct, id)).await?)
}

fn not_found_page(user: &User) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(Some(user), "Not found", html! { p { "No such device." } }),
    )
        .into_response()
}

async fn device_page(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Response {
    match load_device(&state, &user, id).await {
        Ok(d) => device_view(
            &state,
            &user,
            &d,
            &form_of(&d),
            &FormErrors::default(),
            q.done.as_deref(),
            None,
            &DeviceLogs::default(),
        )
        .into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found_page(&user),
        Err(e) => e.into_response(),
    }
}

async fn update_device(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<DeviceForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let d = match load_device(&state, &user, id).await {
        Ok(d) => d,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found_page(&user),
        Err(e) => return e.into_response(),
    };
    let errs = match parse_device(&state, &user, &f) {
        Err(errs) => errs,
        Ok(input) => {
            let store = state.store.clone();
            let (acct, reserved) = (user.id(), state.reserved_prefixes());
            match blocking(move || store.update_device(acct, id, &input, &reserved)).await {
                Ok(_) => return Redirect::to(&format!("/devices/{id}?done=saved")).into_response(),
                Err(StoreError::Invalid { field, message }) => {
                    let mut errs = FormErrors::default();
                    errs.add(field, message);
                    errs
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    (
        StatusCode::BAD_REQUEST,
        device_view(
            &state,
            &user,
            &d,
            &f,
            &errs,
            None,
            None,
            &DeviceLogs::default(),
        ),
    )
        .into_response()
}

async fn delete_device(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let store = state.store.clone();
    let acct = user.id();
    match blocking(move || store.delete_device(acct, id)).await {
        Ok(()) => Redirect::to("/devices?done=deleted").into_response(),
        Err(StoreError::NotFound) => not_found_page(&user),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn checkin_url(state: &AppState, token: &str) -> String {
    format!("{}/checkin/{token}", state.base_url())
}

async fn new_checkin(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let store = state.store.clone();
    let acct = user.id();
    match blocking(move || store.new_checkin_token(acct, id)).await {
        Ok(token) => match load_device(&state, &user, id).await {
            Ok(d) => device_view(
                &state,
                &user,
                &d,
                &form_of(&d),
                &FormErrors::default(),
                None,
                Some(&checkin_url(&state, &token)),
                &DeviceLogs::default(),
            )
            .into_response(),
            Err(e) => e.into_response(),
        },
        Err(StoreError::NotFound) => not_found_page(&user),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Check-in: the caller's address becomes the device's address. Public
/// (the secret in the URL is the credential); answers in plain text for
/// cron scripts.
async fn check_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    if token.len() > 128 {
        return (StatusCode::NOT_FOUND, "unknown check-in token\n").into_response();
    }
    let store = state.store.clone();
    let reserved = state.reserved_prefixes();
    let ip = peer.ip().to_canonical();
    match blocking(move || store.check_in(&token, ip, &reserved)).await {
        Ok((d, true)) => (
            StatusCode::OK,
            format!("ok: device {} now queries from {}\n", d.name, d.prefix),
        )
            .into_response(),
        Ok((d, false)) => (
            StatusCode::OK,
            format!("ok: device {} already at {}\n", d.name, d.prefix),
        )
            .into_response(),
        Err(StoreError::NotFound) => {
            (StatusCode::NOT_FOUND, "unknown check-in token\n").into_response()
        }
        Err(StoreError::Invalid { message, .. }) => {
            (StatusCode::CONFLICT, format!("refused: {message}\n")).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- JSON API ----

/// A device as the API returns it, with its last query time.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceOut {
    #[serde(flatten)]
    pub device: Device,
    /// Unix time of the last query the responder answered for it.
    pub last_query_unix: Option<i64>,
}

fn out(state: &AppState, d: Device) -> DeviceOut {
    let t = last_queries(state).get(&(d.id as u64)).copied();
    DeviceOut {
        device: d,
        last_query_unix: t,
    }
}

/// The account's devices.
#[utoipa::path(get, path = "/api/devices", tag = "devices", responses((status = 200, body = [DeviceOut]), (status = 401)))]
async fn api_list(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<Vec<DeviceOut>>, ApiError> {
    let store = state.store.clone();
    let id = user.id();
    let v = blocking(move || store.devices(id)).await?;
    Ok(Json(v.into_iter().map(|d| out(&state, d)).collect()))
}

/// Registers a device. Its address gets answers within seconds.
#[utoipa::path(post, path = "/api/devices", tag = "devices", request_body = DeviceForm, responses((status = 201, body = DeviceOut), (status = 400, description = "invalid field: {error, field}"), (status = 401)))]
async fn api_add(
    State(state): State<AppState>,
    user: User,
    Json(f): Json<DeviceForm>,
) -> Result<(StatusCode, Json<DeviceOut>), ApiError> {
    let input = parse_device(&state, &user, &f).map_err(ApiError::from)?;
    let store = state.store.clone();
    let (id, limit, reserved) = (
        user.id(),
        device_limit(&state, &user),
        state.reserved_prefixes(),
    );
    let d = blocking(move || store.add_device(id, &input, limit, &reserved)).await?;
    Ok((StatusCode::CREATED, Json(out(&state, d))))
}

/// One device.
#[utoipa::path(get, path = "/api/devices/{id}", tag = "devices", params(("id" = i64, Path)), responses((status = 200, body = DeviceOut), (status = 404)))]
async fn api_get(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<DeviceOut>, ApiError> {
    let d = load_device(&state, &user, id).await?;
    Ok(Json(out(&state, d)))
}

/// Changes a device (all fields).
#[utoipa::path(put, path = "/api/devices/{id}", tag = "devices", params(("id" = i64, Path)), request_body = DeviceForm, responses((status = 200, body = DeviceOut), (status = 400), (status = 404)))]
async fn api_update(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Json(f): Json<DeviceForm>,
) -> Result<Json<DeviceOut>, ApiError> {
    let input = parse_device(&state, &user, &f).map_err(ApiError::from)?;
    let store = state.store.clone();
    let (acct, reserved) = (user.id(), state.reserved_prefixes());
    let d = blocking(move || store.update_device(acct, id, &input, &reserved)).await?;
    Ok(Json(out(&state, d)))
}

/// Removes a device.
#[utoipa::path(delete, path = "/api/devices/{id}", tag = "devices", params(("id" = i64, Path)), responses((status = 204), (status = 404)))]
async fn api_delete(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.delete_device(acct, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckinOut {
    /// Call it (GET or POST) from the device's new address.
    pub url: String,
}

/// Creates (or replaces) the device's check-in URL; shown once.
#[utoipa::path(post, path = "/api/devices/{id}/checkin-url", tag = "devices", params(("id" = i64, Path)), responses((status = 200, body = CheckinOut), (status = 404)))]
async fn api_checkin_token(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<CheckinOut>, ApiError> {
    let store = state.store.clone();
    let acct = user.id();
    let token = blocking(move || store.new_checkin_token(acct, id)).await?;
    Ok(Json(CheckinOut {
        url: checkin_url(&state, &token),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SnippetOut {
    pub title: String,
    pub language: String,
    pub filename: String,
    pub text: String,
    pub notes: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SetupOut {
    pub zone: String,
    /// Every name the device may use, chunk by chunk.
    pub names: Vec<String>,
    pub snippets: Vec<SnippetOut>,
}

/// Setup instructions for the device's type, with the exact names.
#[utoipa::path(get, path = "/api/devices/{id}/setup", tag = "devices", params(("id" = i64, Path)), responses((status = 200, body = SetupOut), (status = 404)))]
async fn api_setup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<SetupOut>, ApiError> {
    let d = load_device(&state, &user, id).await?;
    let ctx = setup_context(&state, &user, &d);
    let kind = DeviceKind::from_id(&d.kind).unwrap_or(DeviceKind::Other);
    let zone = &ctx.zone;
    let names = ctx
        .lookups
        .iter()
        .flat_map(|l| (0..l.capacity).map(move |i| format!("{i}.{}.{zone}", l.list)))
        .collect();
    let snippets = setup::snippets(kind, &ctx)
        .into_iter()
        .map(|s| SnippetOut {
            title: s.title,
            language: s.language.to_string(),
            filename: s.filename,
            text: s.text,
            notes: s.notes,
        })
        .collect();
    Ok(Json(SetupOut {
        zone: ctx.zone.clone(),
        names,
        snippets,
    }))
}
