//! Check IP (every account), the operator page (feed health and held-back
//! versions, the feed catalog, accounts, every account's devices) and
//! `/metrics`, each as HTML pages and as JSON API under `/api/`.
//!
//! Check IP reads the archive (`archive.sqlite`, opened read-only per
//! request beside the running sidecar) for the feeds that list an address
//! now, at a past time and ever, and works out which lookups list it: the
//! basic lookups of the configuration (the union of their feeds) and, for
//! an account whose own lists are published (advanced subscribers), its
//! deny and allow lists and its custom lookups (feeds + deny − allow, as
//! [`super::publish`] builds them). It reads the acting account's rows
//! only; the archive holds nothing but the providers' public feeds.
//!
//! Operator decisions on held-back feed versions are marker files
//! ([`crate::control::sidecar::mark_decision`]) applied by the sidecar,
//! which the admin store wakes ([`super::store::Store::poke`]).
//!
//! Feed URLs from the configuration may carry credentials (API keys in the
//! query string): pages and API show only the redacted URL the sidecar
//! writes to its health file, never the configured or archived one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use ipnet::IpNet;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, Operator, User};
use super::devices::{last_queries, last_query_cell, DNS_STATS_FILE};
use super::html::{csrf_field, fmt_time, input, notice, page, CsrfOnly, DoneQuery, FormErrors};
use super::publish::{account_list_name, lookup_label_problem, ALLOW_LABEL, DENY_LABEL};
use super::store::{
    Account, AccountSummary, Device, ListEntry, ListKind, Lookup, Role, StoreError, Tier,
};
use super::{blocking, valid_email, ApiError, AppState};
use crate::archive::CheckIpReport;
use crate::archive::{Archive, FeedStatus, Interval, Timestamp};
use crate::config::{Config, ListConfig};
use crate::control::sidecar::{ACCEPT_DIR, ARCHIVE_FILE, HEALTH_FILE, HELD_DIR, SNAPSHOT_FILE};

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Tries at generating a one-time password that passes the strength rules
/// (the first one practically always does).
const PASSWORD_TRIES: usize = 8;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/check-ip", axum::routing::get(check_ip_page))
        .route("/operator", axum::routing::get(operator_page))
        .route(
            "/operator/feeds/{id}/accept",
            axum::routing::post(accept_feed),
        )
        .route(
            "/operator/feeds/{id}/reject",
            axum::routing::post(reject_feed),
        )
        .route("/operator/accounts", axum::routing::post(create_account))
        .route(
            "/operator/accounts/{id}/tier",
            axum::routing::post(change_tier),
        )
        .route(
            "/operator/accounts/{id}/delete",
            axum::routing::post(delete_account),
        )
        .routes(routes!(metrics))
        .routes(routes!(api_check_ip))
        .routes(routes!(api_feeds))
        .routes(routes!(api_accept))
        .routes(routes!(api_reject))
        .routes(routes!(api_accounts, api_create_account))
        .routes(routes!(api_change_tier, api_delete_account))
        .routes(routes!(api_devices))
}

// ---- Check IP ----

/// The Check IP question as submitted (strings, so bad input gets a
/// message next to its field).
#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct CheckIpQuery {
    /// IPv4 or IPv6 address.
    pub ip: String,
    /// Optional time: RFC 3339 (`2026-11-02T13:05:00Z`) or `YYYY-MM-DD HH:MM` (UTC). Empty: now.
    pub at: String,
}

/// A validated Check IP question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckIpInput {
    /// Canonical (an IPv4-mapped IPv6 address is its IPv4 address).
    pub ip: IpAddr,
    pub at: Option<Timestamp>,
}

/// Validates the question; `Ok(None)` when no address was asked yet.
pub fn parse_check_ip(q: &CheckIpQuery) -> Result<Option<CheckIpInput>, FormErrors> {
    let mut errs = FormErrors::default();
    let raw = q.ip.trim();
    let ip = match raw.parse::<IpAddr>() {
        Ok(ip) => Some(ip.to_canonical()),
        Err(_) if raw.is_empty() && q.at.trim().is_empty() => return Ok(None),
        Err(_) if raw.is_empty() => {
            errs.add("ip", "enter the address to check");
            None
        }
        Err(_) if raw.parse::<IpNet>().is_ok() => {
            errs.add("ip", "enter a single address, not a prefix");
            None
        }
        Err(_) => {
            errs.add(
                "ip",
                "enter an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1",
            );
            None
        }
    };
    let at = match q.at.trim() {
        "" => None,
        t => match Timestamp::parse_cli(t) {
            Ok(t) => Some(t),
            Err(_) => {
                errs.add("at", "enter a time as 2026-11-02 13:05 (UTC) or 2026-11-02T13:05:00Z, or leave it empty for now");
                None
            }
        },
    };
    match ip {
        Some(ip) if errs.is_empty() => Ok(Some(CheckIpInput { ip, at })),
        _ => Err(errs),
    }
}

/// Reputation detail a feed gave for the entry.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DetailOut {
    pub score: Option<f32>,
    pub category: Option<String>,
    pub country: Option<String>,
    pub reference: Option<String>,
}

/// A stretch of time during which a feed listed a prefix containing the
/// address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntervalOut {
    /// Feed id.
    pub feed: String,
    pub feed_name: String,
    /// Who publishes the feed (its content is theirs, unedited).
    pub provider: String,
    /// The provider's page about the feed.
    pub homepage: String,
    /// The listed prefix (contains the address).
    #[schema(value_type = String)]
    pub prefix: IpNet,
    /// Unix time of the feed version that brought it.
    pub first_seen: i64,
    /// Unix time of the last fetch that still returned it.
    pub last_seen: i64,
    /// Unix time of the version that dropped it; null: still listed.
    pub ended: Option<i64>,
    pub detail: DetailOut,
}

impl From<&Interval> for IntervalOut {
    fn from(i: &Interval) -> IntervalOut {
        IntervalOut {
            feed: i.feed.id.clone(),
            feed_name: if i.feed.name.is_empty() {
                i.feed.id.clone()
            } else {
                i.feed.name.clone()
            },
            provider: i.feed.provider.clone(),
            homepage: i.feed.homepage.clone(),
            prefix: i.prefix,
            first_seen: i.first_seen.unix(),
            last_seen: i.last_seen.unix(),
            ended: i.ended.map(Timestamp::unix),
            detail: DetailOut {
                score: i.detail.score,
                category: i.detail.category.clone(),
                country: i.detail.country.clone(),
                reference: i.detail.reference.clone(),
            },
        }
    }
}

/// Kinds of lookup in a Check IP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LookupKind {
    /// A lookup of the appliance's configuration, for every account.
    Basic,
    /// The account's deny list.
    Deny,
    /// The account's allow list.
    Allow,
    /// One of the account's custom lookups.
    Custom,
}

/// Whether one lookup lists the address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LookupHit {
    pub kind: LookupKind,
    /// The lookup's name as shown on the Lookups page.
    pub name: String,
    /// Its list name below the zone apex (names are `<n>.<list>.<apex>`).
    pub list: String,
    pub listed: bool,
    /// Why: the feeds that list it, deny or allow list entries that match.
    pub reasons: Vec<String>,
}

/// The account's own published lists, for Check IP.
#[derive(Debug, Clone, Default)]
pub struct OwnLists {
    /// The account's DNS label.
    pub label: String,
    pub deny: Vec<ListEntry>,
    pub allow: Vec<ListEntry>,
    pub lookups: Vec<Lookup>,
}

/// Whether an account's own lists are published (as
/// [`super::publish::account_specs`] decides): advanced subscribers only.
pub fn publishes_own_lists(a: &Account) -> bool {
    a.role == Role::Subscriber && a.tier == Tier::Advanced
}

fn matching(entries: &[ListEntry], ip: IpAddr) -> Vec<IpNet> {
    entries
        .iter()
        .map(|e| e.net)
        .filter(|n| n.contains(&ip))
        .collect()
}

/// Which lookups list `ip`, given the feeds that list it (`listing`, feed
/// ids) and whether a feed is published (`enabled`). A basic lookup is the
/// union of its feeds; a custom lookup is its feeds plus the deny list
/// minus the allow list.
pub fn lookup_hits(
    lists: &[ListConfig],
    enabled: &dyn Fn(&str) -> bool,
    listing: &BTreeSet<String>,
    own: Option<&OwnLists>,
    ip: IpAddr,
) -> Vec<LookupHit> {
    let feeds_of = |feeds: &[String]| -> Vec<String> {
        let mut v: Vec<String> = feeds
            .iter()
            .filter(|f| enabled(f) && listing.contains(f.as_str()))
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut out: Vec<LookupHit> = lists
        .iter()
        .map(|l| {
            let reasons = feeds_of(&l.feeds);
            LookupHit {
                kind: LookupKind::Basic,
                name: l.name.clone(),
                list: l.name.clone(),
                listed: !reasons.is_empty(),
                reasons: reasons.into_iter().map(|f| format!("feed {f}")).collect(),
            }
        })
        .collect();
    let Some(own) = own else { return out };
    let deny = matching(&own.deny, ip);
    let allow = matching(&own.allow, ip);
    for (kind, name, label, hits) in [
        (LookupKind::Deny, "your deny list", DENY_LABEL, &deny),
        (LookupKind::Allow, "your allow list", ALLOW_LABEL, &allow),
    ] {
        out.push(LookupHit {
            kind,
            name: name.into(),
            list: account_list_name(&own.label, label),
            listed: !hits.is_empty(),
            reasons: hits.iter().map(|n| format!("entry {n}")).collect(),
        });
    }
    for l in &own.lookups {
        if lookup_label_problem(&l.label).is_some() {
            continue;
        }
        let mut reasons: Vec<String> = feeds_of(&l.feeds)
            .into_iter()
            .map(|f| format!("feed {f}"))
            .collect();
        reasons.extend(deny.iter().map(|n| format!("deny list entry {n}")));
        let included = !reasons.is_empty();
        if included && !allow.is_empty() {
            reasons.extend(
                allow
                    .iter()
                    .map(|n| format!("removed by allow list entry {n}")),
            );
        }
        out.push(LookupHit {
            kind: LookupKind::Custom,
            name: l.name.clone(),
            list: account_list_name(&own.label, &l.label),
            listed: included && allow.is_empty(),
            reasons,
        });
    }
    out
}

/// What Check IP answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckIpOut {
    /// The address asked about (an IPv4-mapped IPv6 address as IPv4).
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Unix time asked about; null: now.
    pub at: Option<i64>,
    /// False when the archive does not exist yet (no feed fetched).
    pub archive: bool,
    /// Feed entries listing the address at the time asked (now by default).
    pub listed: Vec<IntervalOut>,
    /// Every interval of every feed that ever listed it, oldest first.
    pub history: Vec<IntervalOut>,
    /// Which lookups list it at that time (the account's own deny and
    /// allow lists have no history: they are taken as they are now).
    pub lookups: Vec<LookupHit>,
}

/// Builds the answer from the archive report and the account's own lists.
pub fn check_ip_answer(
    cfg: &Config,
    input: CheckIpInput,
    report: Option<&CheckIpReport>,
    own: Option<&OwnLists>,
) -> CheckIpOut {
    let listing: BTreeSet<String> = report
        .map(|r| r.listed.iter().map(|i| i.feed.id.clone()).collect())
        .unwrap_or_default();
    let enabled = |id: &str| cfg.feeds.iter().any(|f| f.id == id && f.enabled);
    CheckIpOut {
        ip: input.ip,
        at: input.at.map(Timestamp::unix),
        archive: report.is_some(),
        listed: report
            .map(|r| r.listed.iter().map(IntervalOut::from).collect())
            .unwrap_or_default(),
        history: report
            .map(|r| r.history.iter().map(IntervalOut::from).collect())
            .unwrap_or_default(),
        lookups: lookup_hits(&cfg.lists, &enabled, &listing, own, input.ip),
    }
}

/// Reads the archive (read-only) and the account's own lists, off the
/// async threads.
async fn gather_check_ip(
    state: &AppState,
    account: &Account,
    input: CheckIpInput,
) -> Result<CheckIpOut, ApiError> {
    let path = state.data_dir.join(ARCHIVE_FILE);
    let store = state.store.clone();
    let account = account.clone();
    let (report, own) = blocking(move || {
        let report = path.is_file().then(|| {
            Archive::open_read_only(&path)
                .and_then(|a| CheckIpReport::gather(&a, input.ip, input.at))
        });
        let own = if publishes_own_lists(&account) {
            Some(OwnLists {
                label: account.label.clone(),
                deny: store.entries(account.id, ListKind::Deny)?,
                allow: store.entries(account.id, ListKind::Allow)?,
                lookups: store.lookups(account.id)?,
            })
        } else {
            None
        };
        Ok((report, own))
    })
    .await?;
    let report = report.transpose().map_err(ApiError::internal)?;
    Ok(check_ip_answer(
        &state.cfg,
        input,
        report.as_ref(),
        own.as_ref(),
    ))
}

/// A link to a provider's page, only for http(s) URLs (the catalog is the
/// operator's, but a `javascript:` URL has no business in a page).
fn provider_link(provider: &str, homepage: &str) -> Markup {
    let name = if provider.is_empty() {
        "provider"
    } else {
        provider
    };
    html! {
        @if homepage.starts_with("https://") || homepage.starts_with("http://") {
            a href=(homepage) rel="noopener noreferrer" { (name) }
        } @else {
            (provider)
        }
    }
}

fn detail_text(d: &DetailOut) -> String {
    let mut parts = Vec::new();
    if let Some(s) = d.score {
        parts.push(format!("score {s}"));
    }
    if let Some(c) = &d.category {
        parts.push(format!("category {c}"));
    }
    if let Some(c) = &d.country {
        parts.push(format!("country {c}"));
    }
    if let Some(r) = &d.reference {
        parts.push(format!("reference {r}"));
    }
    parts.join(", ")
}

fn check_ip_view(
    user: &User,
    q: &CheckIpQuery,
    errs: &FormErrors,
    answer: Option<&CheckIpOut>,
) -> Markup {
    page(
        Some(user),
        "Check IP",
        html! {
            p.muted { "Which feeds list an address, since when, and which of your lookups answer for it." }
            form.card #check-ip method="get" action="/check-ip" {
                (errs.general(&["ip", "at"]))
                (input(errs, "ip", "Address", &q.ip, "text", Some("192.0.2.1 or 2001:db8::1")))
                (input(errs, "at", "At (optional, UTC)", &q.at, "text", Some("2026-11-02 13:05 — empty: now")))
                button type="submit" { "Check" }
            }
            @if let Some(a) = answer {
                @let when = a.at.map(|t| format!("at {}", fmt_time(t))).unwrap_or_else(|| "now".into());
                h2 #result { code { (a.ip) } " " (when) }
                @if !a.archive {
                    p.muted { "No feed has been fetched yet: the archive is empty." }
                }
                h3 { "Lookups" }
                @if a.at.is_some() {
                    p.muted { "Feeds as they were at that time; your own allow and deny lists as they are now (they have no history)." }
                }
                table #lookups {
                    tr { th { "Lookup" } th { "List" } th { "Lists it" } th { "Why" } }
                    @for l in &a.lookups {
                        tr {
                            td { (l.name) }
                            td { code { (l.list) } }
                            td { @if l.listed { span.flag { "yes" } } @else { span.ok { "no" } } }
                            td { (l.reasons.join("; ")) }
                        }
                    }
                }
                h3 { "Feeds listing it " (when) }
                @if a.listed.is_empty() {
                    p #not-listed { "No feed lists it " (when) "." }
                } @else {
                    table #listed {
                        tr { th { "Feed" } th { "Provider" } th { "Prefix" } th { "Since" } th { "Last seen" } th { "Detail" } }
                        @for i in &a.listed {
                            tr {
                                td { (i.feed_name) " " span.muted { "(" (i.feed) ")" } }
                                td { (provider_link(&i.provider, &i.homepage)) }
                                td { code { (i.prefix) } }
                                td { (fmt_time(i.first_seen)) }
                                td { (fmt_time(i.last_seen)) }
                                td { (detail_text(&i.detail)) }
                            }
                        }
                    }
                    p.muted { "The lists are the providers' own, unedited: to be removed, ask the provider." }
                }
                h3 { "History" }
                @if a.history.is_empty() {
                    p { "Never listed by any feed in the archive." }
                } @else {
                    table #history {
                        tr { th { "Feed" } th { "Provider" } th { "Prefix" } th { "From" } th { "Until" } th { "Last seen" } }
                        @for i in &a.history {
                            tr {
                                td { (i.feed_name) " " span.muted { "(" (i.feed) ")" } }
                                td { (provider_link(&i.provider, &i.homepage)) }
                                td { code { (i.prefix) } }
                                td { (fmt_time(i.first_seen)) }
                                td { @match i.ended { Some(e) => (fmt_time(e)), None => span.flag { "still listed" } } }
                                td { (fmt_time(i.last_seen)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn check_ip_page(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<CheckIpQuery>,
) -> Response {
    match parse_check_ip(&q) {
        Ok(None) => check_ip_view(&user, &q, &FormErrors::default(), None).into_response(),
        Err(errs) => (
            StatusCode::BAD_REQUEST,
            check_ip_view(&user, &q, &errs, None),
        )
            .into_response(),
        Ok(Some(input)) => match gather_check_ip(&state, &user.account, input).await {
            Ok(a) => check_ip_view(&user, &q, &FormErrors::default(), Some(&a)).into_response(),
            Err(e) => e.into_response(),
        },
    }
}

/// Which feeds list an address (now or at a time), since when, by whom,
/// and which of the account's lookups list it.
#[utoipa::path(get, path = "/api/check-ip", tag = "check-ip", params(CheckIpQuery), responses((status = 200, body = CheckIpOut), (status = 400, description = "invalid field: {error, field}"), (status = 401)))]
async fn api_check_ip(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<CheckIpQuery>,
) -> Result<Json<CheckIpOut>, ApiError> {
    let input = match parse_check_ip(&q) {
        Ok(Some(i)) => i,
        Ok(None) => return Err(ApiError::bad("ip", "enter the address to check")),
        Err(errs) => return Err(ApiError::from(errs)),
    };
    Ok(Json(gather_check_ip(&state, &user.account, input).await?))
}

// ---- feeds: health, held-back versions, catalog ----

/// One feed of the sidecar's health file (`feeds.json`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HealthEntry {
    pub url: String,
    pub status: String,
    pub entries: u64,
    pub rejected_last_fetch: u64,
    pub held_back: Option<String>,
    pub last_good: Option<String>,
    pub interval_secs: u64,
    pub provider: String,
}

/// The health file, or nothing when the sidecar has not written it yet.
pub fn read_health(data_dir: &Path) -> BTreeMap<String, HealthEntry> {
    std::fs::read_to_string(data_dir.join(HEALTH_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// A feed of the catalog with its health.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedOut {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub homepage: String,
    pub category: String,
    /// Parser name.
    pub format: String,
    /// How often feedwall fetches it, in seconds.
    pub interval_secs: u64,
    pub enabled: bool,
    /// Source URL with any credentials redacted (null until fetched).
    pub url: Option<String>,
    /// Last outcome as the sidecar reports it (null until fetched).
    pub status: Option<String>,
    /// Entries of the published (last good) version.
    pub entries: Option<u64>,
    /// Lines the parser rejected at the last fetch.
    pub rejected_last_fetch: Option<u64>,
    /// Why the last fetched version was held back, if it was.
    pub held_back: Option<String>,
    /// A held-back version is kept and waits for accept or reject.
    pub held_back_kept: bool,
    /// A decision was taken and waits for the sidecar: `accept` or `reject`.
    pub decision_pending: Option<String>,
    /// Unix time the published version was first fetched.
    pub last_good: Option<i64>,
    /// Unix time of the last fetch attempt, and its outcome.
    pub last_fetch: Option<i64>,
    pub last_fetch_status: Option<String>,
    /// Change of the published version over the one before: prefixes added and removed.
    pub added: Option<u64>,
    pub removed: Option<u64>,
    /// Distinct versions archived.
    pub versions: Option<u64>,
}

/// Joins the catalog, the health file, the archive's feed status and the
/// held-back and decision files into one row per catalog feed.
pub fn feed_rows(
    cfg: &Config,
    data_dir: &Path,
    health: &BTreeMap<String, HealthEntry>,
    status: &HashMap<String, FeedStatus>,
) -> Vec<FeedOut> {
    cfg.feeds
        .iter()
        .map(|f| {
            let h = health.get(&f.id);
            let s = status.get(&f.id);
            let decision = std::fs::read(data_dir.join(ACCEPT_DIR).join(&f.id))
                .ok()
                .map(|b| {
                    if b.starts_with(b"reject") {
                        "reject".to_string()
                    } else {
                        "accept".to_string()
                    }
                });
            FeedOut {
                id: f.id.clone(),
                name: f.name.clone(),
                provider: f.provider.clone(),
                homepage: f.homepage.clone(),
                category: f.category.clone(),
                format: f.format.clone(),
                interval_secs: f.interval.as_secs(),
                enabled: f.enabled,
                url: h.map(|h| h.url.clone()).filter(|u| !u.is_empty()),
                status: h.map(|h| h.status.clone()),
                entries: h.map(|h| h.entries),
                rejected_last_fetch: h.map(|h| h.rejected_last_fetch),
                held_back: h.and_then(|h| h.held_back.clone()).or_else(|| {
                    s.and_then(|s| s.last_fetch.as_ref())
                        .filter(|o| o.status.as_str() == "held-back")
                        .and_then(|o| o.status.reason().map(str::to_string))
                }),
                held_back_kept: data_dir
                    .join(HELD_DIR)
                    .join(format!("{}.body", f.id))
                    .is_file(),
                decision_pending: decision,
                last_good: s
                    .and_then(|s| s.last_good.as_ref().map(|v| v.fetched_at.unix()))
                    .or_else(|| {
                        h.and_then(|h| h.last_good.as_deref())
                            .and_then(|t| Timestamp::parse_cli(t).ok())
                            .map(Timestamp::unix)
                    }),
                last_fetch: s.and_then(|s| s.last_fetch.as_ref().map(|o| o.at.unix())),
                last_fetch_status: s
                    .and_then(|s| s.last_fetch.as_ref().map(|o| o.status.to_string())),
                added: s.and_then(|s| s.last_good.as_ref().map(|v| v.added)),
                removed: s.and_then(|s| s.last_good.as_ref().map(|v| v.removed)),
                versions: s.map(|s| s.versions),
            }
        })
        .collect()
}

/// Every catalog feed with its health (blocking: reads the archive).
fn load_feeds(cfg: &Config, data_dir: &Path) -> Vec<FeedOut> {
    let health = read_health(data_dir);
    let mut status = HashMap::new();
    let path = data_dir.join(ARCHIVE_FILE);
    if path.is_file() {
        match Archive::open_read_only(&path) {
            Ok(a) => {
                for f in &cfg.feeds {
                    match a.feed_status(&f.id) {
                        Ok(Some(s)) => {
                            status.insert(f.id.clone(), s);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(feed = %f.id, error = %e, "cannot read feed status from the archive")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open the archive for feed health"),
        }
    }
    feed_rows(cfg, data_dir, &health, &status)
}

/// Records an operator's accept or reject of a held-back version and wakes
/// the sidecar, which applies it within a second or so.
async fn decide(
    state: &AppState,
    operator: &User,
    feed: &str,
    accept: bool,
) -> Result<(), ApiError> {
    if !state.cfg.feeds.iter().any(|f| f.id == feed) {
        return Err(ApiError::not_found());
    }
    let dir = state.data_dir.clone();
    let id = feed.to_string();
    let r = blocking(move || {
        if !dir.join(HELD_DIR).join(format!("{id}.body")).is_file() {
            return Ok(Err(format!(
                "feed {id} has no held-back version (a newer fetch may have replaced it)"
            )));
        }
        crate::control::sidecar::mark_decision(&dir, &id, accept)
            .map_err(|e| StoreError::invalid("feed", e.to_string()))?;
        Ok(Ok(()))
    })
    .await
    .map_err(ApiError::internal)?;
    if let Err(message) = r {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message,
            field: None,
        });
    }
    tracing::info!(feed = %feed, operator = %operator.account.email, decision = if accept { "accept" } else { "reject" }, "operator decision on a held-back feed version");
    state.store.poke();
    Ok(())
}

// ---- accounts ----

/// The operator's new-account form (also the API body; `password` empty
/// or absent: a one-time password is generated and returned once).
#[derive(Deserialize, Serialize, Default, Clone, utoipa::ToSchema)]
#[serde(default)]
pub struct NewAccountForm {
    /// The account's e-mail (its user id).
    pub email: String,
    /// `basic` or `advanced`.
    pub tier: String,
    /// A password (strength rules apply); empty: generate a one-time password.
    pub password: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub csrf: String,
}

/// A validated new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub tier: Tier,
    pub password: String,
    /// The password was generated (shown once to the operator).
    pub generated: bool,
}

/// A random one-time password that passes the strength rules.
pub fn one_time_password(email: &str) -> String {
    let mut pw = String::new();
    for _ in 0..PASSWORD_TRIES {
        let t = super::store::random_token();
        pw = format!("{}-{}-{}", &t[..8], &t[8..16], &t[16..24]);
        if auth::password_problem(&pw, email).is_none() {
            break;
        }
    }
    pw
}

/// Validates the new-account form. Accounts the operator creates must
/// change their password at first login (the operator knows it).
pub fn parse_new_account(f: &NewAccountForm) -> Result<NewAccount, FormErrors> {
    let email = f.email.trim().to_string();
    let generated = f.password.is_empty();
    let password = if generated {
        one_time_password(&email)
    } else {
        f.password.clone()
    };
    let mut errs = super::session_pages::check_new_account(&email, &password, &password);
    if generated && !valid_email(&email) {
        // A generated password never fails; only the e-mail can.
        errs.0.retain(|k, _| *k == "email");
    }
    let tier = Tier::parse(f.tier.trim());
    if tier.is_none() {
        errs.add("tier", "choose basic or advanced");
    }
    match tier {
        Some(tier) if errs.is_empty() => Ok(NewAccount {
            email,
            tier,
            password,
            generated,
        }),
        _ => Err(errs),
    }
}

async fn create(state: &AppState, operator: &User, n: NewAccount) -> Result<Account, StoreError> {
    let store = state.store.clone();
    let (email, password, tier) = (n.email.clone(), n.password.clone(), n.tier);
    let a = blocking(move || {
        store.create_account(
            &email,
            &auth::hash_password(&password),
            Role::Subscriber,
            tier,
            true,
        )
    })
    .await?;
    tracing::info!(account = %a.email, tier = a.tier.as_str(), operator = %operator.account.email, "account created by the operator");
    Ok(a)
}

/// The account, refusing operator accounts (their tier and existence are
/// the configuration's).
async fn subscriber(
    state: &AppState,
    id: i64,
    field: &'static str,
    what: &str,
) -> Result<Account, ApiError> {
    let store = state.store.clone();
    let a = blocking(move || store.account(id)).await?;
    if a.role == Role::Operator {
        return Err(ApiError::bad(field, format!("operator accounts {what}")));
    }
    Ok(a)
}

/// A device of some account, for the operator.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperatorDeviceOut {
    pub account_id: i64,
    pub account_email: String,
    #[serde(flatten)]
    pub device: Device,
    /// Unix time of the last query the responder answered for it.
    pub last_query_unix: Option<i64>,
}

fn device_rows(
    state: &AppState,
    accounts: &[AccountSummary],
    devices: Vec<Device>,
) -> Vec<OperatorDeviceOut> {
    let seen = last_queries(state);
    let emails: HashMap<i64, &str> = accounts
        .iter()
        .map(|a| (a.account.id, a.account.email.as_str()))
        .collect();
    devices
        .into_iter()
        .map(|d| OperatorDeviceOut {
            account_id: d.account_id,
            account_email: emails
                .get(&d.account_id)
                .copied()
                .unwrap_or("?")
                .to_string(),
            last_query_unix: seen.get(&(d.id as u64)).copied(),
            device: d,
        })
        .collect()
}

// ---- the operator page ----

/// Everything the operator page shows.
struct OperatorData {
    feeds: Vec<FeedOut>,
    accounts: Vec<AccountSummary>,
    devices: Vec<OperatorDeviceOut>,
}

async fn load_operator_data(state: &AppState) -> Result<OperatorData, ApiError> {
    let store = state.store.clone();
    let (cfg, dir) = (state.cfg.clone(), state.data_dir.clone());
    let (feeds, accounts, devices) = blocking(move || {
        Ok((
            load_feeds(&cfg, &dir),
            store.account_summaries()?,
            store.all_devices()?,
        ))
    })
    .await?;
    let devices = device_rows(state, &accounts, devices);
    Ok(OperatorData {
        feeds,
        accounts,
        devices,
    })
}

/// What a submitted form adds to the operator page.
#[derive(Default)]
struct PageState {
    done: Option<String>,
    error: Option<String>,
    create: NewAccountForm,
    create_errs: FormErrors,
    /// The account whose tier form failed, with its error.
    tier_errs: Option<(i64, FormErrors)>,
    /// A just-created account and its one-time password (shown once).
    created: Option<(String, Option<String>)>,
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Operator => "operator",
        Role::Subscriber => "subscriber",
    }
}

fn interval_text(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn tier_select(id: &str, selected: &str, invalid: bool) -> Markup {
    html! {
        select id=(id) name="tier" aria-invalid=[invalid.then_some("true")] {
            @for t in [Tier::Basic, Tier::Advanced] {
                option value=(t.as_str()) selected[selected == t.as_str()] { (t.as_str()) }
            }
        }
    }
}

fn feeds_section(user: &User, feeds: &[FeedOut]) -> Markup {
    html! {
        h2 #feeds { "Feed health" }
        p.muted { "A version that fails the sanity checks is held back: the last good one stays published until you accept or reject it." }
        table #feed-health {
            tr { th { "Feed" } th { "Status" } th { "Entries" } th { "Last change" } th { "Bad lines" } th { "Last fetch" } th { "Last good" } th { "Held back" } }
            @for f in feeds.iter().filter(|f| f.enabled) {
                tr id=(format!("feed-{}", f.id)) {
                    td { (f.name) " " span.muted { "(" (f.id) ")" } }
                    td {
                        @match &f.status {
                            Some(s) if s.starts_with("failed") || s.starts_with("held back") => span.flag { (s) },
                            Some(s) => (s),
                            None => span.muted { "not reported yet" },
                        }
                    }
                    td { (f.entries.map(|n| n.to_string()).unwrap_or_else(|| "-".into())) }
                    td { @match (f.added, f.removed) { (Some(a), Some(r)) => { "+" (a) " −" (r) }, _ => "-" } }
                    td { @match f.rejected_last_fetch { Some(n) if n > 0 => span.flag { (n) }, Some(n) => (n), None => "-" } }
                    td {
                        (f.last_fetch.map(fmt_time).unwrap_or_else(|| "never".into()))
                        @if let Some(s) = &f.last_fetch_status { br; span.muted { (s) } }
                    }
                    td { (f.last_good.map(fmt_time).unwrap_or_else(|| "never".into())) }
                    td {
                        @if let Some(d) = &f.decision_pending {
                            span.muted { (d) " requested; applied within seconds" }
                        } @else if f.held_back_kept {
                            span.flag { (f.held_back.as_deref().unwrap_or("held back")) }
                            form.inline method="post" action=(format!("/operator/feeds/{}/accept", f.id)) data-confirm="Publish the held-back version of this feed?" {
                                (csrf_field(user))
                                button type="submit" { "Accept" }
                            }
                            form.inline method="post" action=(format!("/operator/feeds/{}/reject", f.id)) {
                                (csrf_field(user))
                                button.secondary type="submit" { "Reject" }
                            }
                        } @else {
                            span.muted { "-" }
                        }
                    }
                }
            }
        }
        h2 #catalog { "Feed catalog" }
        table #feed-catalog {
            tr { th { "Id" } th { "Name" } th { "Provider" } th { "Format" } th { "Every" } th { "Enabled" } }
            @for f in feeds {
                tr {
                    td { code { (f.id) } }
                    td { (f.name) }
                    td { (provider_link(&f.provider, &f.homepage)) }
                    td { (f.format) }
                    td { (interval_text(f.interval_secs)) }
                    td { @if f.enabled { span.ok { "yes" } } @else { span.muted { "no" } } }
                }
            }
        }
    }
}

fn accounts_section(user: &User, accounts: &[AccountSummary], st: &PageState) -> Markup {
    html! {
        h2 #accounts { "Accounts" }
        @if let Some((email, pw)) = &st.created {
            @if let Some(pw) = pw {
                p.notice role="status" { "Account " (email) " created. One-time password (shown once; it must be changed at first login): " code #one-time-password { (pw) } }
            } @else {
                p.notice role="status" { "Account " (email) " created; the password must be changed at first login." }
            }
        }
        table #account-list {
            tr { th { "E-mail" } th { "Role" } th { "Tier" } th { "Devices" } th { "Deny / allow entries" } th { "Lookups" } th { "Created" } th {} }
            @for a in accounts {
                @let acct = &a.account;
                tr id=(format!("account-{}", acct.id)) {
                    td { (acct.email) @if acct.must_change_password { " " span.muted { "(must change password)" } } }
                    td { (role_str(acct.role)) }
                    td {
                        @if acct.role == Role::Subscriber {
                            @let errs = st.tier_errs.as_ref().filter(|(id, _)| *id == acct.id).map(|(_, e)| e);
                            form.inline method="post" action=(format!("/operator/accounts/{}/tier", acct.id)) {
                                (csrf_field(user))
                                (tier_select(&format!("tier-{}", acct.id), acct.tier.as_str(), errs.is_some()))
                                button.secondary type="submit" { "Save" }
                                @if let Some(e) = errs { (e.at("tier")) }
                            }
                        } @else {
                            (acct.tier.as_str())
                        }
                    }
                    td { (a.devices) }
                    td { (a.deny_entries) " / " (a.allow_entries) }
                    td { (a.lookups) }
                    td { (fmt_time(acct.created)) }
                    td {
                        @if acct.role == Role::Subscriber {
                            form.inline method="post" action=(format!("/operator/accounts/{}/delete", acct.id)) data-confirm=(format!("Delete the account {} with its devices, lists and lookups? Its devices stop getting answers within seconds.", acct.email)) {
                                (csrf_field(user))
                                button.danger type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Create an account" }
        form.card #create-account method="post" action="/operator/accounts" {
            (csrf_field(user))
            (st.create_errs.general(&["email", "tier", "password"]))
            (input(&st.create_errs, "email", "E-mail", &st.create.email, "email", Some("name@example.com")))
            label for="tier" { "Tier" }
            (tier_select("tier", &st.create.tier, st.create_errs.0.contains_key("tier")))
            (st.create_errs.at("tier"))
            (input(&st.create_errs, "password", "Password (empty: generate a one-time password)", "", "password", None))
            p.muted { "Either way the new account must choose its own password at first login." }
            button type="submit" { "Create account" }
        }
    }
}

fn devices_section(state: &AppState, devices: &[OperatorDeviceOut]) -> Markup {
    let now = super::store::now();
    html! {
        h2 #devices { "Devices" }
        @if devices.is_empty() {
            p { "No account has registered a device yet." }
        } @else {
            table #all-devices {
                tr { th { "Account" } th { "Name" } th { "Queries from" } th { "Type" } th { "Last query" } }
                @for d in devices {
                    tr {
                        td { (d.account_email) }
                        td { (d.device.name) @if !d.device.group.is_empty() { " " span.muted { "(" (d.device.group) ")" } } }
                        td { code { (d.device.prefix) } @if d.device.dynamic { " " span.muted { "(check-in)" } } }
                        td { (super::setup::DeviceKind::from_id(&d.device.kind).map(|k| k.label()).unwrap_or("other")) }
                        td { (last_query_cell(d.last_query_unix, now)) }
                    }
                }
            }
        }
        @if !state.cfg.devices.is_empty() {
            h3 { "From the configuration file" }
            table #config-devices {
                tr { th { "Name" } th { "Queries from" } }
                @for d in &state.cfg.devices {
                    tr {
                        td { (d.name) }
                        td { @for (i, p) in d.prefixes.iter().enumerate() { @if i > 0 { ", " } code { (p) } } }
                    }
                }
            }
        }
    }
}

fn operator_view(state: &AppState, user: &User, data: &OperatorData, st: &PageState) -> Markup {
    page(
        Some(user),
        "Operator",
        html! {
            (notice(st.done.as_deref()))
            @if let Some(e) = &st.error { p.error role="alert" { (e) } }
            p { a href="#feeds" { "Feed health" } " · " a href="#catalog" { "Feed catalog" } " · " a href="#accounts" { "Accounts" } " · " a href="#devices" { "Devices" } " · " a href="/metrics" { "Metrics" } @if state.cfg.appliance.boot_dir.is_some() { " · " a href="#appliance" { "Appliance" } } }
            (feeds_section(user, &data.feeds))
            (accounts_section(user, &data.accounts, st))
            (devices_section(state, &data.devices))
            (super::appliance::section(state, user))
        },
    )
}

/// Renders the operator page with a form's outcome.
async fn render(state: &AppState, user: &User, status: StatusCode, mut st: PageState) -> Response {
    if st.create.tier.is_empty() {
        st.create.tier = state.cfg.admin.signup_tier.as_str().into();
    }
    match load_operator_data(state).await {
        Ok(data) => (status, operator_view(state, user, &data, &st)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn operator_page(
    State(state): State<AppState>,
    Operator(user): Operator,
    Query(q): Query<DoneQuery>,
) -> Response {
    render(
        &state,
        &user,
        StatusCode::OK,
        PageState {
            done: q.done,
            ..Default::default()
        },
    )
    .await
}

async fn decide_form(
    state: AppState,
    user: User,
    id: String,
    accept: bool,
    csrf: &str,
) -> Response {
    if let Err(r) = user.check_csrf(Some(csrf)) {
        return r.into_response();
    }
    match decide(&state, &user, &id, accept).await {
        Ok(()) => Redirect::to(if accept {
            "/operator?done=accepted#feeds"
        } else {
            "/operator?done=rejected#feeds"
        })
        .into_response(),
        Err(e) if e.status == StatusCode::CONFLICT || e.status == StatusCode::NOT_FOUND => {
            let status = e.status;
            render(
                &state,
                &user,
                status,
                PageState {
                    error: Some(if status == StatusCode::NOT_FOUND {
                        format!("No feed {id} in the catalog.")
                    } else {
                        e.message
                    }),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn accept_feed(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    decide_form(state, user, id, true, &f.csrf).await
}

async fn reject_feed(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    decide_form(state, user, id, false, &f.csrf).await
}

async fn create_account(
    State(state): State<AppState>,
    Operator(user): Operator,
    Form(f): Form<NewAccountForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let errs = match parse_new_account(&f) {
        Err(errs) => errs,
        Ok(n) => {
            let generated = n.generated.then(|| n.password.clone());
            match create(&state, &user, n).await {
                Ok(a) => {
                    let st = PageState {
                        created: Some((a.email, generated)),
                        ..Default::default()
                    };
                    return render(&state, &user, StatusCode::OK, st).await;
                }
                Err(StoreError::Invalid { field, message }) => {
                    let mut errs = FormErrors::default();
                    errs.add(field, message);
                    errs
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let create = NewAccountForm {
        password: String::new(),
        csrf: String::new(),
        ..f
    };
    render(
        &state,
        &user,
        StatusCode::BAD_REQUEST,
        PageState {
            create,
            create_errs: errs,
            ..Default::default()
        },
    )
    .await
}

#[derive(Deserialize, Serialize, Default, Clone, utoipa::ToSchema)]
#[serde(default)]
pub struct TierForm {
    /// `basic` or `advanced`.
    pub tier: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub csrf: String,
}

async fn set_tier(state: &AppState, user: &User, id: i64, tier: &str) -> Result<Account, ApiError> {
    let Some(tier) = Tier::parse(tier.trim()) else {
        return Err(ApiError::bad("tier", "choose basic or advanced"));
    };
    subscriber(state, id, "tier", "always have every feature").await?;
    let store = state.store.clone();
    let a = blocking(move || {
        store.set_tier(id, tier)?;
        store.account(id)
    })
    .await?;
    tracing::info!(account = %a.email, tier = a.tier.as_str(), operator = %user.account.email, "tier changed by the operator");
    Ok(a)
}

async fn change_tier(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<i64>,
    Form(f): Form<TierForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    match set_tier(&state, &user, id, &f.tier).await {
        Ok(_) => Redirect::to("/operator?done=saved#accounts").into_response(),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let mut errs = FormErrors::default();
            errs.add("tier", e.message);
            render(
                &state,
                &user,
                StatusCode::BAD_REQUEST,
                PageState {
                    tier_errs: Some((id, errs)),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            render(
                &state,
                &user,
                StatusCode::NOT_FOUND,
                PageState {
                    error: Some("No such account.".into()),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn remove_account(state: &AppState, user: &User, id: i64) -> Result<(), ApiError> {
    let a = subscriber(state, id, "id", "cannot be deleted").await?;
    let store = state.store.clone();
    blocking(move || store.delete_account(id)).await?;
    tracing::info!(account = %a.email, operator = %user.account.email, "account deleted by the operator");
    Ok(())
}

async fn delete_account(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    match remove_account(&state, &user, id).await {
        Ok(()) => Redirect::to("/operator?done=deleted#accounts").into_response(),
        Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::NOT_FOUND => {
            let status = e.status;
            let message = if status == StatusCode::NOT_FOUND {
                "No such account.".into()
            } else {
                e.message
            };
            render(
                &state,
                &user,
                status,
                PageState {
                    error: Some(message),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

// ---- operator JSON API ----

/// Every catalog feed with its health and any held-back version.
#[utoipa::path(get, path = "/api/operator/feeds", tag = "operator", responses((status = 200, body = [FeedOut]), (status = 401), (status = 403, description = "not an operator")))]
async fn api_feeds(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<FeedOut>>, ApiError> {
    let (cfg, dir) = (state.cfg.clone(), state.data_dir.clone());
    Ok(Json(blocking(move || Ok(load_feeds(&cfg, &dir))).await?))
}

/// An operator decision, as the API confirms it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionOut {
    pub feed: String,
    /// `accept` or `reject`.
    pub decision: String,
}

/// Publishes the feed's held-back version (the sidecar applies it within a
/// second or so).
#[utoipa::path(post, path = "/api/operator/feeds/{id}/accept", tag = "operator", params(("id" = String, Path, description = "feed id")), responses((status = 202, body = DecisionOut), (status = 404, description = "no such feed"), (status = 409, description = "no held-back version"), (status = 403)))]
async fn api_accept(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<DecisionOut>), ApiError> {
    decide(&state, &user, &id, true).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DecisionOut {
            feed: id,
            decision: "accept".into(),
        }),
    ))
}

/// Discards the feed's held-back version; the last good one stays published.
#[utoipa::path(post, path = "/api/operator/feeds/{id}/reject", tag = "operator", params(("id" = String, Path, description = "feed id")), responses((status = 202, body = DecisionOut), (status = 404, description = "no such feed"), (status = 409, description = "no held-back version"), (status = 403)))]
async fn api_reject(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<DecisionOut>), ApiError> {
    decide(&state, &user, &id, false).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DecisionOut {
            feed: id,
            decision: "reject".into(),
        }),
    ))
}

/// Every account with its device, entry and lookup counts.
#[utoipa::path(get, path = "/api/operator/accounts", tag = "operator", responses((status = 200, body = [AccountSummary]), (status = 401), (status = 403)))]
async fn api_accounts(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<AccountSummary>>, ApiError> {
    let store = state.store.clone();
    Ok(Json(blocking(move || store.account_summaries()).await?))
}

/// A new account and, when it was generated, its one-time password.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewAccountOut {
    pub account: Account,
    /// The generated one-time password (returned once; null when one was given).
    pub one_time_password: Option<String>,
}

/// Creates a subscriber account. It must change its password at first login.
#[utoipa::path(post, path = "/api/operator/accounts", tag = "operator", request_body = NewAccountForm, responses((status = 201, body = NewAccountOut), (status = 400, description = "invalid field: {error, field}"), (status = 403)))]
async fn api_create_account(
    State(state): State<AppState>,
    Operator(user): Operator,
    Json(f): Json<NewAccountForm>,
) -> Result<(StatusCode, Json<NewAccountOut>), ApiError> {
    let n = parse_new_account(&f).map_err(ApiError::from)?;
    let generated = n.generated.then(|| n.password.clone());
    let account = create(&state, &user, n).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewAccountOut {
            account,
            one_time_password: generated,
        }),
    ))
}

/// Changes a subscriber's tier.
#[utoipa::path(patch, path = "/api/operator/accounts/{id}", tag = "operator", params(("id" = i64, Path)), request_body = TierForm, responses((status = 200, body = Account), (status = 400), (status = 404), (status = 403)))]
async fn api_change_tier(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<i64>,
    Json(f): Json<TierForm>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(set_tier(&state, &user, id, &f.tier).await?))
}

/// Deletes a subscriber account with its devices, lists, lookups, sessions
/// and tokens; its devices stop getting answers within seconds.
#[utoipa::path(delete, path = "/api/operator/accounts/{id}", tag = "operator", params(("id" = i64, Path)), responses((status = 204), (status = 400, description = "an operator account"), (status = 404), (status = 403)))]
async fn api_delete_account(
    State(state): State<AppState>,
    Operator(user): Operator,
    UrlPath(id): UrlPath<i64>,
) -> Result<StatusCode, ApiError> {
    remove_account(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every account's devices with their last query time.
#[utoipa::path(get, path = "/api/operator/devices", tag = "operator", responses((status = 200, body = [OperatorDeviceOut]), (status = 401), (status = 403)))]
async fn api_devices(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<Vec<OperatorDeviceOut>>, ApiError> {
    let store = state.store.clone();
    let (accounts, devices) =
        blocking(move || Ok((store.account_summaries()?, store.all_devices()?))).await?;
    Ok(Json(device_rows(&state, &accounts, devices)))
}

// ---- /metrics ----

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The metrics text from the responder's stats file, the current
/// snapshot and the feed health file (each optional: a missing one leaves
/// its metrics out).
fn metrics_text(data_dir: &Path, logs_on: bool) -> String {
    let stats = read_json(&data_dir.join(DNS_STATS_FILE));
    let health = read_json(&data_dir.join(HEALTH_FILE));
    let snapshot = crate::snapshot::MappedSnapshot::open(&data_dir.join(SNAPSHOT_FILE)).ok();
    // The log intake runs in this process whenever the log archive is on.
    let intake = logs_on.then(|| crate::logs::intake::COUNTERS.totals());
    let dshield = crate::logs::dshield::read_stats(data_dir);
    super::prom::render(&super::prom::PromInput {
        stats: stats.as_ref(),
        snapshot: snapshot.as_ref().map(|s| s.get()),
        health: health.as_ref(),
        intake: intake.as_deref(),
        dshield: dshield.as_ref(),
        now_unix: super::store::now().max(0) as u64,
    })
}

/// Metrics in the Prometheus text format: queries and answers of the
/// responder, the snapshot, feed health, log intake and DShield
/// submission. For operators (session or API
/// token).
#[utoipa::path(get, path = "/metrics", tag = "operator", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String), (status = 401), (status = 403)))]
async fn metrics(State(state): State<AppState>, _operator: Operator) -> Response {
    let (dir, logs_on) = (state.data_dir.clone(), state.logs.is_some());
    match tokio::task::spawn_blocking(move || metrics_text(&dir, logs_on)).await {
        Ok(text) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ip: &str, at: &str) -> CheckIpQuery {
        CheckIpQuery {
            ip: ip.into(),
            at: at.into(),
        }
    }

    #[test]
    fn check_ip_input() {
        assert_eq!(parse_check_ip(&q("", "")).unwrap(), None);
        let i = parse_check_ip(&q(" ::ffff:192.0.2.1 ", ""))
            .unwrap()
            .unwrap();
        assert_eq!(
            i.ip.to_string(),
            "192.0.2.1",
            "mapped addresses are checked as IPv4"
        );
        assert_eq!(i.at, None);
        let i = parse_check_ip(&q("2001:db8::1", "2026-11-02 13:05"))
            .unwrap()
            .unwrap();
        assert_eq!(i.at, Some(Timestamp(1_793_624_700)));
        let i = parse_check_ip(&q("192.0.2.1", "2026-11-02T14:05:00+01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(i.at, Some(Timestamp(1_793_624_700)));
        let e = parse_check_ip(&q("192.0.2.0/24", "")).unwrap_err();
        assert!(e.0["ip"].contains("single address"), "{e:?}");
        let e = parse_check_ip(&q("example.com", "yesterday")).unwrap_err();
        assert!(e.0.contains_key("ip") && e.0.contains_key("at"), "{e:?}");
        let e = parse_check_ip(&q("", "2026-11-02")).unwrap_err();
        assert!(e.0.contains_key("ip"), "a time without an address");
    }

    fn entry(net: &str, kind: ListKind) -> ListEntry {
        ListEntry {
            id: 1,
            kind,
            net: net.parse().unwrap(),
            comment: String::new(),
            created: 0,
        }
    }

    fn lookup(name: &str, label: &str, feeds: &[&str]) -> Lookup {
        Lookup {
            id: 1,
            account_id: 1,
            name: name.into(),
            label: label.into(),
            feeds: feeds.iter().map(|s| s.to_string()).collect(),
            created: 0,
        }
    }

    fn list(name: &str, feeds: &[&str]) -> ListConfig {
        ListConfig {
            name: name.into(),
            feeds: feeds.iter().map(|s| s.to_string()).collect(),
            capacity: 1,
        }
    }

    fn hit<'a>(hits: &'a [LookupHit], list: &str) -> &'a LookupHit {
        hits.iter()
            .find(|h| h.list == list)
            .unwrap_or_else(|| panic!("no lookup {list} in {hits:?}"))
    }

    #[test]
    fn basic_lookups_are_the_union_of_their_enabled_feeds() {
        let lists = [
            list("drop", &["a", "b"]),
            list("scan", &["c"]),
            list("old", &["off"]),
        ];
        let enabled = |f: &str| f != "off";
        let listing: BTreeSet<String> = ["b", "off"].iter().map(|s| s.to_string()).collect();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let hits = lookup_hits(&lists, &enabled, &listing, None, ip);
        assert_eq!(hits.len(), 3, "no own lists without an advanced subscriber");
        assert!(hit(&hits, "drop").listed);
        assert_eq!(hit(&hits, "drop").reasons, vec!["feed b"]);
        assert!(!hit(&hits, "scan").listed);
        assert!(
            !hit(&hits, "old").listed,
            "a disabled feed is not published"
        );
    }

    #[test]
    fn custom_lookups_are_feeds_plus_deny_minus_allow() {
        let lists = [list("drop", &["a"])];
        let enabled = |_: &str| true;
        let listing: BTreeSet<String> = ["a"].iter().map(|s| s.to_string()).collect();
        let nothing = BTreeSet::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let own = |deny: &[&str], allow: &[&str]| OwnLists {
            label: "k2abc".into(),
            deny: deny.iter().map(|n| entry(n, ListKind::Deny)).collect(),
            allow: allow.iter().map(|n| entry(n, ListKind::Allow)).collect(),
            lookups: vec![
                lookup("Mine", "mine", &["a"]),
                lookup("Other", "other", &["b"]),
                lookup("Bad", "allow", &["a"]),
            ],
        };
        // Listed by feed a: in "mine", not in "other".
        let o = own(&[], &[]);
        let hits = lookup_hits(&lists, &enabled, &listing, Some(&o), ip);
        assert_eq!(
            hits.len(),
            5,
            "basic, deny, allow, two valid lookups: {hits:?}"
        );
        assert!(hit(&hits, "mine.k2abc.acct").listed);
        assert!(!hit(&hits, "other.k2abc.acct").listed);
        assert!(!hit(&hits, "deny.k2abc.acct").listed);
        // The deny list adds it to every custom lookup.
        let o = own(&["192.0.2.0/24"], &[]);
        let hits = lookup_hits(&lists, &enabled, &nothing, Some(&o), ip);
        assert!(hit(&hits, "deny.k2abc.acct").listed);
        assert!(hit(&hits, "other.k2abc.acct").listed);
        assert!(
            !hit(&hits, "drop").listed,
            "own lists never change the basic lookups"
        );
        // The allow list removes it from custom lookups, not from basic ones.
        let o = own(&["192.0.2.0/24"], &["192.0.2.1/32"]);
        let hits = lookup_hits(&lists, &enabled, &listing, Some(&o), ip);
        assert!(hit(&hits, "allow.k2abc.acct").listed);
        assert!(!hit(&hits, "mine.k2abc.acct").listed);
        assert!(!hit(&hits, "other.k2abc.acct").listed);
        assert!(hit(&hits, "mine.k2abc.acct")
            .reasons
            .iter()
            .any(|r| r.contains("allow list")));
        assert!(hit(&hits, "drop").listed);
        // Entries for other addresses do not match.
        let o = own(&["198.51.100.0/24"], &["198.51.100.1/32"]);
        let hits = lookup_hits(&lists, &enabled, &listing, Some(&o), ip);
        assert!(!hit(&hits, "deny.k2abc.acct").listed && !hit(&hits, "allow.k2abc.acct").listed);
        assert!(hit(&hits, "mine.k2abc.acct").listed);
    }

    #[test]
    fn own_lists_only_for_advanced_subscribers() {
        let mut a = Account {
            id: 1,
            email: "a@example.com".into(),
            role: Role::Subscriber,
            tier: Tier::Advanced,
            label: "x".into(),
            must_change_password: false,
            created: 0,
        };
        assert!(publishes_own_lists(&a));
        a.tier = Tier::Basic;
        assert!(!publishes_own_lists(&a));
        a.role = Role::Operator;
        a.tier = Tier::Advanced;
        assert!(
            !publishes_own_lists(&a),
            "the sidecar publishes subscribers' lists only"
        );
    }

    #[test]
    fn new_accounts() {
        let f = |email: &str, tier: &str, pw: &str| NewAccountForm {
            email: email.into(),
            tier: tier.into(),
            password: pw.into(),
            csrf: String::new(),
        };
        let n = parse_new_account(&f(" new@example.com ", "basic", "")).unwrap();
        assert!(n.generated);
        assert_eq!(n.email, "new@example.com");
        assert!(
            auth::password_problem(&n.password, &n.email).is_none(),
            "{}",
            n.password
        );
        let n2 = parse_new_account(&f("new@example.com", "advanced", "")).unwrap();
        assert_ne!(n.password, n2.password);
        assert_eq!(n2.tier, Tier::Advanced);
        let n = parse_new_account(&f("new@example.com", "basic", "Tr0ub4dor&3-horse")).unwrap();
        assert!(!n.generated);
        assert_eq!(n.password, "Tr0ub4dor&3-horse");
        let e = parse_new_account(&f("nope", "gold", "short")).unwrap_err();
        assert!(
            e.0.contains_key("email") && e.0.contains_key("tier") && e.0.contains_key("password"),
            "{e:?}"
        );
        let e = parse_new_account(&f("nope", "basic", "")).unwrap_err();
        assert_eq!(e.0.keys().copied().collect::<Vec<_>>(), vec!["email"]);
    }

    #[test]
    fn feed_rows_join_catalog_health_and_held_back_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_text(
            "[[feed]]\nid = \"a\"\nurl = \"file:///a\"\nformat = \"plain\"\n[[feed]]\nid = \"b\"\nurl = \"file:///b\"\nformat = \"plain\"\n",
            "t",
        )
        .unwrap();
        let (a, b) = ("a".to_string(), "b".to_string());
        std::fs::create_dir_all(dir.path().join(HELD_DIR)).unwrap();
        std::fs::write(dir.path().join(HELD_DIR).join(format!("{a}.body")), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join(ACCEPT_DIR)).unwrap();
        std::fs::write(dir.path().join(ACCEPT_DIR).join(&b), b"reject\n").unwrap();
        let health: BTreeMap<String, HealthEntry> = serde_json::from_value(serde_json::json!({
            a.clone(): {"url": "https://example.com/x?key=REDACTED", "status": "held back: shrank by 90%", "entries": 10,
                        "rejected_last_fetch": 3, "held_back": "shrank by 90%", "last_good": "2026-11-02T13:05:00Z",
                        "interval_secs": 3600, "provider": "P", "future_field": 1}
        }))
        .unwrap();
        let rows = feed_rows(&cfg, dir.path(), &health, &HashMap::new());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].entries, Some(10));
        assert_eq!(rows[0].rejected_last_fetch, Some(3));
        assert!(rows[0].held_back_kept);
        assert_eq!(rows[0].held_back.as_deref(), Some("shrank by 90%"));
        assert_eq!(rows[0].last_good, Some(1_793_624_700));
        assert_eq!(
            rows[0].url.as_deref(),
            Some("https://example.com/x?key=REDACTED")
        );
        assert_eq!(rows[1].status, None);
        assert!(!rows[1].held_back_kept);
        assert_eq!(rows[1].decision_pending.as_deref(), Some("reject"));
    }

    #[test]
    fn intervals_render_compactly() {
        assert_eq!(interval_text(86_400), "1d");
        assert_eq!(interval_text(7_200), "2h");
        assert_eq!(interval_text(1_800), "30m");
        assert_eq!(interval_text(90), "90s");
    }

    #[test]
    fn provider_links_only_for_http() {
        assert!(provider_link("P", "https://p.example/")
            .into_string()
            .contains("href"));
        let s = provider_link("P", "javascript:alert(1)").into_string();
        assert!(!s.contains("href") && s.contains('P'), "{s}");
    }
}
