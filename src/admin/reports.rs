//! Reports over the account's firewall logs: the Reports page (charts as
//! inline SVG drawn here, tables), CSV export per section
//! (`/reports.csv?section=top_sources&from=..&to=..`) and the same numbers
//! as JSON (`GET /api/reports`). The numbers come from
//! [`crate::logs::report`]; this module picks the range, the zone and the
//! account's feeds, and shows them.
//!
//! **Charts and the CSP.** The page's policy allows no inline script and no
//! inline style, so the charts are plain SVG elements with presentation
//! attributes (`fill`, `x`, `width`...), which the policy does not cover,
//! and a `<title>` per bar for its exact numbers on hover.
//!
//! **Isolation.** The account is always the authenticated user's; no
//! parameter names an account, and the report's queries are bounded by it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::User;
use super::html::{page, FormErrors};
use super::{blocking, ApiError, AppState};
use crate::logs::report::{
    self, local_time, parse_time, Counts, FeedInfo, Range, Report, ReportQuery, TopRow,
    DEFAULT_TOP, MAX_RANGE, MAX_TOP,
};
use crate::logs::store::{LogStore, DAY};
use crate::logs::time::Zone;

/// Preset ranges: (query value, label, length).
const PRESETS: &[(&str, &str, i64)] = &[
    ("24h", "Last 24 hours", DAY),
    ("7d", "Last 7 days", 7 * DAY),
    ("30d", "Last 30 days", 30 * DAY),
];
/// The range shown when none is asked for.
const DEFAULT_RANGE: &str = "24h";
/// Zones offered besides the account's devices' zones (any IANA name or
/// offset may be typed).
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
];
/// CSV sections: (name, title).
pub const SECTIONS: &[(&str, &str)] = &[
    ("timeline", "Timeline"),
    ("by_feed", "By feed"),
    ("by_category", "By category"),
    ("by_device", "By device"),
    ("top_sources", "Top sources"),
    ("top_destinations", "Top destinations"),
    ("top_ports", "Top ports"),
    ("allowed_listed_sources", "Allowed listed: sources"),
    (
        "allowed_listed_destinations",
        "Allowed listed: destinations",
    ),
];
/// Bars drawn in a horizontal bar chart (the tables list every row).
const CHART_ROWS: usize = 12;

// Chart colours (blocked, blocked and listed, allowed though listed).
const BLOCKED: &str = "#8fb3de";
const LISTED: &str = "#1f5fae";
const ALLOWED_LISTED: &str = "#b3261e";
const AXIS: &str = "#5d6775";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/reports", axum::routing::get(reports_page))
        .route("/reports.csv", axum::routing::get(reports_csv))
        .routes(routes!(api_report))
}

/// A report request as submitted (strings, so bad input gets a message
/// next to its field).
#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `24h` (the default), `7d`, `30d`, or `custom` (from and to). Given
    /// `from` or `to` without a range means `custom`.
    pub range: String,
    /// Start: a date (`2026-11-03`, local midnight in `tz`), a local time
    /// (`2026-11-03T14:00`), RFC 3339, or Unix seconds.
    pub from: String,
    /// End: as `from`; a date is inclusive (up to the next local midnight).
    /// Empty: now.
    pub to: String,
    /// Zone of dates and day buckets (`UTC`, `+05:30`, `Europe/Berlin`).
    /// Empty: the zone of the account's first device.
    pub tz: String,
    /// Rows per top list (1-1000; default 20, in a CSV export 1000).
    pub top: String,
    /// CSV export only: the section (`top_sources`, `by_feed`, ...).
    #[param(ignore)]
    pub section: String,
}

/// What the account's settings add to a request.
struct AccountContext {
    /// Device id, name and log zone, first device first.
    devices: Vec<(i64, String, String)>,
    subscribed: Vec<String>,
}

async fn account_context(state: &AppState, user: &User) -> Result<AccountContext, ApiError> {
    let store = state.store.clone();
    let id = user.id();
    let (devices, lookups) = blocking(move || {
        let mut devices = Vec::new();
        for d in store.devices(id)? {
            let tz = store.device_tz(id, d.id)?;
            devices.push((d.id, d.name, tz));
        }
        devices.sort_by_key(|d| d.0);
        Ok((devices, store.lookups(id)?))
    })
    .await?;
    Ok(AccountContext {
        devices,
        subscribed: subscribed_feeds(state, lookups.iter().map(|l| l.feeds.as_slice())),
    })
}

/// The feeds an account subscribes to: those of its custom lookups and of
/// the basic lists; all configured feeds when that is none.
pub fn subscribed_feeds<'a>(
    state: &AppState,
    lookups: impl Iterator<Item = &'a [String]>,
) -> Vec<String> {
    let mut keys: BTreeSet<String> = lookups.flatten().cloned().collect();
    for l in &state.cfg.lists {
        keys.extend(l.feeds.iter().cloned());
    }
    if keys.is_empty() {
        keys.extend(state.cfg.feeds.iter().map(|f| f.id.clone()));
    }
    keys.into_iter().collect()
}

/// The configured feeds as reports name them.
fn feed_infos(state: &AppState) -> Vec<FeedInfo> {
    state
        .cfg
        .feeds
        .iter()
        .map(|f| FeedInfo {
            key: f.id.clone(),
            name: f.name.clone(),
            category: f.category.clone(),
        })
        .collect()
}

/// Validates a request into a report query for the user's account.
fn parse_params(
    state: &AppState,
    user: &User,
    ctx: &AccountContext,
    p: &ReportParams,
    now: i64,
) -> Result<ReportQuery, FormErrors> {
    let mut errs = FormErrors::default();
    let zone = if p.tz.trim().is_empty() {
        ctx.devices
            .first()
            .and_then(|d| d.2.parse::<Zone>().ok())
            .unwrap_or_default()
    } else {
        p.tz.parse::<Zone>().unwrap_or_else(|e| {
            errs.add("tz", e.to_string());
            Zone::Utc
        })
    };
    let top = match p.top.trim() {
        "" => DEFAULT_TOP,
        t => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => n,
            _ => {
                errs.add("top", format!("a number of rows from 1 to {MAX_TOP}"));
                DEFAULT_TOP
            }
        },
    };
    let custom = !p.from.trim().is_empty() || !p.to.trim().is_empty();
    let range_name = match p.range.trim() {
        "" if custom => "custom",
        "" => DEFAULT_RANGE,
        r => r,
    };
    let range = if range_name == "custom" {
        custom_range(p, &zone, now, &mut errs)
    } else if let Some((_, _, secs)) = PRESETS.iter().find(|(k, _, _)| *k == range_name) {
        Some(Range::last(now, *secs))
    } else {
        errs.add("range", "choose 24h, 7d, 30d or custom");
        None
    };
    match range {
        Some(range) if errs.is_empty() => Ok(ReportQuery {
            account: user.id(),
            range,
            zone,
            feeds: feed_infos(state),
            subscribed: ctx.subscribed.clone(),
            devices: ctx
                .devices
                .iter()
                .map(|(id, name, _)| (*id, name.clone()))
                .collect(),
            top,
        }),
        _ => Err(errs),
    }
}

fn custom_range(p: &ReportParams, zone: &Zone, now: i64, errs: &mut FormErrors) -> Option<Range> {
    let (from_s, to_s) = (p.from.trim(), p.to.trim());
    if from_s.is_empty() {
        errs.add("from", "a start date, e.g. 2026-11-03");
        return None;
    }
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let range = if let (Some(a), Some(b)) = (date(from_s), date(to_s)) {
        (a <= b).then(|| Range::local_days(zone, a, b))
    } else {
        let Some(from) = parse_time(from_s, zone, false) else {
            errs.add(
                "from",
                "a date (2026-11-03), a time (2026-11-03T14:00) or RFC 3339",
            );
            return None;
        };
        let to = if to_s.is_empty() {
            Some(now)
        } else {
            parse_time(to_s, zone, true)
        };
        let Some(to) = to else {
            errs.add(
                "to",
                "a date (2026-11-05), a time (2026-11-05T18:00) or RFC 3339",
            );
            return None;
        };
        (to > from).then(|| Range::new(from, to))
    };
    match range {
        None => {
            errs.add("to", "the end must come after the start");
            None
        }
        Some(r) if r.secs() > MAX_RANGE => {
            errs.add(
                "to",
                format!("a report covers at most {} days", MAX_RANGE / DAY),
            );
            None
        }
        r => r,
    }
}

/// Builds the report off the async threads, from a read-only connection.
async fn run(state: &AppState, q: ReportQuery) -> Result<Report, ApiError> {
    let path = match &state.logs {
        Some(l) => l.path().to_path_buf(),
        None => state.data_dir.join(crate::logs::store::FILE_NAME),
    };
    tokio::task::spawn_blocking(move || {
        if !path.exists() {
            return Ok(report::empty(&q));
        }
        let store = LogStore::open_read_only(&path).map_err(ApiError::internal)?;
        report::build(store.connection(), &q).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Resolves the request and runs the report: the report, or the form's
/// errors.
async fn report_for(
    state: &AppState,
    user: &User,
    p: &ReportParams,
) -> Result<(AccountContext, Result<Report, FormErrors>), ApiError> {
    let ctx = account_context(state, user).await?;
    let q = match parse_params(state, user, &ctx, p, super::store::now()) {
        Ok(q) => q,
        Err(errs) => return Ok((ctx, Err(errs))),
    };
    let r = run(state, q).await?;
    Ok((ctx, Ok(r)))
}

// ---- the page ----

async fn reports_page(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<ReportParams>,
) -> Response {
    match report_for(&state, &user, &p).await {
        Ok((ctx, Ok(r))) => {
            report_view(&user, &ctx, &p, Some(&r), &FormErrors::default()).into_response()
        }
        Ok((ctx, Err(errs))) => (
            StatusCode::BAD_REQUEST,
            report_view(&user, &ctx, &p, None, &errs),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `1234567` as `1,234,567`.
fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The CSV link of a section, for exactly the range shown.
fn csv_href(r: &Report, section: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "/reports.csv?section={section}&from={}&to={}&tz={}",
        r.from_unix,
        r.to_unix,
        enc(&r.zone)
    )
}

fn range_form(
    ctx: &AccountContext,
    p: &ReportParams,
    r: Option<&Report>,
    errs: &FormErrors,
) -> Markup {
    let custom =
        p.range == "custom" || (p.range.is_empty() && (!p.from.is_empty() || !p.to.is_empty()));
    let current = if custom {
        "custom"
    } else if p.range.is_empty() {
        DEFAULT_RANGE
    } else {
        p.range.as_str()
    };
    // The dates shown for a custom range: the report's own (local) days.
    let (from_v, to_v) = match r {
        Some(r) if custom => {
            let z: Zone = r.zone.parse().unwrap_or_default();
            (
                local_time(&z, r.from_unix).format("%Y-%m-%d").to_string(),
                local_time(&z, r.to_unix - 1).format("%Y-%m-%d").to_string(),
            )
        }
        _ => (p.from.clone(), p.to.clone()),
    };
    let tz_v = match r {
        Some(r) => r.zone.clone(),
        None => p.tz.clone(),
    };
    let mut zones: BTreeSet<String> = COMMON_ZONES.iter().map(|z| z.to_string()).collect();
    zones.extend(ctx.devices.iter().map(|d| d.2.clone()));
    html! {
        p #presets {
            @for (k, label, _) in PRESETS {
                @if *k == current {
                    strong { (label) }
                } @else {
                    a href=(format!("/reports?range={k}&tz={}", percent_encoding::utf8_percent_encode(&tz_v, percent_encoding::NON_ALPHANUMERIC))) { (label) }
                }
                " · "
            }
            span.muted { "or a custom range:" }
        }
        form.card #report-range method="get" action="/reports" {
            (errs.general(&["range", "from", "to", "tz", "top"]))
            label for="range" { "Range" }
            select id="range" name="range" aria-invalid=[errs.0.get("range").map(|_| "true")] {
                @for (k, label, _) in PRESETS {
                    option value=(k) selected[*k == current] { (label) }
                }
                option value="custom" selected[current == "custom"] { "Custom (from / to)" }
            }
            (errs.at("range"))
            label for="from" { "From (date, in the zone below)" }
            input id="from" name="from" type="date" value=(from_v) aria-invalid=[errs.0.get("from").map(|_| "true")];
            (errs.at("from"))
            label for="to" { "To (inclusive)" }
            input id="to" name="to" type="date" value=(to_v) aria-invalid=[errs.0.get("to").map(|_| "true")];
            (errs.at("to"))
            label for="tz" { "Time zone" }
            input id="tz" name="tz" type="text" list="zones" value=(tz_v) placeholder="the first device's zone" aria-invalid=[errs.0.get("tz").map(|_| "true")];
            datalist id="zones" {
                @for z in &zones { option value=(z) {} }
            }
            (errs.at("tz"))
            (errs.at("top"))
            button type="submit" { "Show report" }
        }
    }
}

fn report_view(
    user: &User,
    ctx: &AccountContext,
    p: &ReportParams,
    r: Option<&Report>,
    errs: &FormErrors,
) -> Markup {
    page(
        Some(user),
        "Reports",
        html! {
            p.muted { "What your firewalls blocked, by feed, device, source, destination and port, and what they allowed to or from an address a subscribed feed listed at that moment. Upload or send logs on the Logs page." }
            (range_form(ctx, p, r, errs))
            @if let Some(r) = r {
                (report_body(r))
            }
        },
    )
}

fn counts_cells(c: &Counts) -> Markup {
    html! {
        td.num { (num(c.blocked)) }
        td.num { (num(c.blocked_listed)) }
        td.num { (num(c.allowed)) }
        td.num {
            @if c.allowed_listed > 0 { span.flag { (num(c.allowed_listed)) } } @else { "0" }
        }
    }
}

fn csv_link(r: &Report, section: &str) -> Markup {
    html! { p { a.csv href=(csv_href(r, section)) download { "CSV" } } }
}

fn top_table(r: &Report, id: &str, what: &str, rows: &[TopRow]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "Nothing in this range." }
        } @else {
            table id=(id) {
                tr { th { (what) } th { "Blocked" } th { "Blocked, listed" } th { "Allowed" } th { "Allowed, listed" } }
                @for row in rows {
                    tr { td { code { (row.key) } } (counts_cells(&row.counts)) }
                }
            }
        }
        (csv_link(r, id_section(id)))
    }
}

/// A top list as bar-chart rows.
fn top_bars(rows: &[TopRow]) -> Vec<(String, u64, u64, u64)> {
    rows.iter()
        .map(|t| {
            (
                t.key.clone(),
                t.counts.blocked,
                t.counts.blocked_listed,
                t.counts.allowed_listed,
            )
        })
        .collect()
}

/// `top-sources` → `top_sources`.
fn id_section(id: &str) -> &'static str {
    SECTIONS
        .iter()
        .find(|(s, _)| s.replace('_', "-") == id)
        .map(|(s, _)| *s)
        .unwrap_or("timeline")
}

fn report_body(r: &Report) -> Markup {
    let t = &r.totals;
    let feeds: Vec<_> = r
        .by_feed
        .iter()
        .filter(|f| f.subscribed || f.blocked > 0)
        .collect();
    html! {
        p #report-range-shown {
            (r.from) " to " (r.to) " (" (r.zone) "; " (if r.bucket == "day" { "daily" } else { "hourly" }) " buckets)"
        }
        table #totals {
            tr { th { "Blocked" } th { "Blocked, listed by a subscribed feed" } th { "Allowed" } th { "Allowed, listed by a subscribed feed" } }
            tr { (counts_cells(t)) }
        }
        @if t.allowed_listed > 0 {
            p.flag role="alert" {
                (num(t.allowed_listed)) " connections were allowed to or from an address a subscribed feed listed at the time: a rule, or a device, is not enforcing the list. See the devices and feeds below."
            }
        }

        h2 { "Timeline" }
        (timeline_chart(r))
        (csv_link(r, "timeline"))

        h2 { "By feed" }
        p.muted { "Exclusive: blocked connections no other subscribed feed listed — what you would miss without that feed." }
        (bar_chart("feed-chart", "Blocked connections by feed", &feeds.iter().map(|f| (f.name.clone(), f.blocked, f.exclusive, f.allowed_listed)).collect::<Vec<_>>(), "exclusive"))
        table #by-feed {
            tr { th { "Feed" } th { "Category" } th { "Blocked" } th { "Exclusive" } th { "Allowed, listed" } }
            @for f in &feeds {
                tr {
                    td { (f.name) " " code.muted { (f.feed) } @if !f.subscribed { " " span.muted { "(not subscribed)" } } }
                    td { (f.category) }
                    td.num { (num(f.blocked)) }
                    td.num { (num(f.exclusive)) }
                    td.num { @if f.allowed_listed > 0 && f.subscribed { span.flag { (num(f.allowed_listed)) } } @else { (num(f.allowed_listed)) } }
                }
            }
        }
        (csv_link(r, "by_feed"))

        h2 { "By category" }
        (bar_chart("category-chart", "Blocked connections by feed category", &r.by_category.iter().map(|c| (c.category.clone(), c.blocked, 0, c.allowed_listed)).collect::<Vec<_>>(), ""))
        @if r.by_category.is_empty() {
            p.muted { "No connection in this range was listed by a subscribed feed." }
        } @else {
            table #by-category {
                tr { th { "Category" } th { "Blocked" } th { "Allowed, listed" } }
                @for c in &r.by_category {
                    tr { td { (c.category) } td.num { (num(c.blocked)) } td.num { (num(c.allowed_listed)) } }
                }
            }
        }
        (csv_link(r, "by_category"))

        h2 { "By device" }
        (bar_chart("device-chart", "Blocked connections by device", &r.by_device.iter().map(|d| (d.name.clone(), d.counts.blocked, d.counts.blocked_listed, d.counts.allowed_listed)).collect::<Vec<_>>(), "listed"))
        @if r.by_device.is_empty() {
            p.muted { "No devices yet." }
        } @else {
            table #by-device {
                tr { th { "Device" } th { "Blocked" } th { "Blocked, listed" } th { "Allowed" } th { "Allowed, listed" } }
                @for d in &r.by_device {
                    tr { td { (d.name) } (counts_cells(&d.counts)) }
                }
            }
        }
        (csv_link(r, "by_device"))

        h2 { "Top sources" }
        (bar_chart("sources-chart", "Most blocked sources", &top_bars(&r.top_sources), "listed"))
        (top_table(r, "top-sources", "Source", &r.top_sources))
        h2 { "Top destinations" }
        (top_table(r, "top-destinations", "Destination", &r.top_destinations))
        h2 { "Top ports" }
        (bar_chart("ports-chart", "Most blocked destination ports", &top_bars(&r.top_ports), "listed"))
        (top_table(r, "top-ports", "Port", &r.top_ports))

        h2 { "Allowed to or from listed addresses" }
        p.muted { "Connections the firewall allowed although a subscribed feed listed their source or destination at that moment." }
        h3 { "Sources" }
        (top_table(r, "allowed-listed-sources", "Source", &r.allowed_listed_sources))
        h3 { "Destinations" }
        (top_table(r, "allowed-listed-destinations", "Destination", &r.allowed_listed_destinations))
    }
}

/// `v` of `max` as a length of `full` units (at least 1 when `v` > 0).
fn scale(v: u64, max: u64, full: f64) -> f64 {
    if max == 0 || v == 0 {
        return 0.0;
    }
    (v as f64 / max as f64 * full).max(1.0)
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// The timeline: one stacked bar per bucket, blocked (listed part darker)
/// and allowed-though-listed on top.
fn timeline_chart(r: &Report) -> Markup {
    const W: f64 = 760.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 64.0;
    const TOP: f64 = 26.0;
    const BOTTOM: f64 = 36.0;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let n = r.timeline.len().max(1);
    let max = r
        .timeline
        .iter()
        .map(|b| b.counts.blocked + b.counts.allowed_listed)
        .max()
        .unwrap_or(0);
    let slot = plot_w / n as f64;
    let bar = (slot * 0.8).max(1.0);
    let base = TOP + plot_h;
    let labels: BTreeSet<usize> = [0, n / 2, n - 1].into_iter().collect();
    html! {
        svg id="timeline-chart" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) width="100%" role="img" aria-label="Connections per bucket: blocked, and allowed though listed" font-family="system-ui, sans-serif" font-size="11" {
            (legend(&[(BLOCKED, "blocked"), (LISTED, "blocked, listed"), (ALLOWED_LISTED, "allowed, listed")]))
            line x1=(f1(LEFT)) y1=(f1(base)) x2=(f1(W - 8.0)) y2=(f1(base)) stroke=(AXIS) {}
            line x1=(f1(LEFT)) y1=(f1(TOP)) x2=(f1(LEFT)) y2=(f1(base)) stroke=(AXIS) {}
            text x=(f1(LEFT - 4.0)) y=(f1(TOP + 4.0)) text-anchor="end" fill=(AXIS) { (num(max)) }
            text x=(f1(LEFT - 4.0)) y=(f1(base)) text-anchor="end" fill=(AXIS) { "0" }
            @for (i, b) in r.timeline.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                @let c = &b.counts;
                @let h_plain = scale(c.blocked - c.blocked_listed, max, plot_h);
                @let h_listed = scale(c.blocked_listed, max, plot_h);
                @let h_allowed = scale(c.allowed_listed, max, plot_h);
                g {
                    title { (b.label) ": " (num(c.blocked)) " blocked (" (num(c.blocked_listed)) " listed), " (num(c.allowed_listed)) " allowed though listed" }
                    @if h_plain > 0.0 {
                        rect x=(f1(x)) y=(f1(base - h_plain)) width=(f1(bar)) height=(f1(h_plain)) fill=(BLOCKED) {}
                    }
                    @if h_listed > 0.0 {
                        rect x=(f1(x)) y=(f1(base - h_plain - h_listed)) width=(f1(bar)) height=(f1(h_listed)) fill=(LISTED) {}
                    }
                    @if h_allowed > 0.0 {
                        rect x=(f1(x)) y=(f1(base - h_plain - h_listed - h_allowed)) width=(f1(bar)) height=(f1(h_allowed)) fill=(ALLOWED_LISTED) {}
                    }
                    // A transparent full-height target, so the title shows
                    // over empty buckets too.
                    rect x=(f1(LEFT + i as f64 * slot)) y=(f1(TOP)) width=(f1(slot)) height=(f1(plot_h)) fill="transparent" {}
                }
                @if labels.contains(&i) {
                    text x=(f1((LEFT + (i as f64 + 0.5) * slot).clamp(LEFT + 40.0, W - 48.0))) y=(f1(base + 16.0)) text-anchor="middle" fill=(AXIS) { (b.label) }
                }
            }
        }
    }
}

fn legend(items: &[(&str, &str)]) -> Markup {
    html! {
        g {
            @for (i, (colour, label)) in items.iter().enumerate() {
                @let x = 64.0 + i as f64 * 150.0;
                rect x=(f1(x)) y="6" width="10" height="10" fill=(*colour) {}
                text x=(f1(x + 14.0)) y="15" { (label) }
            }
        }
    }
}

/// Horizontal bars: per row (label, value, part of it drawn darker, a
/// red extra drawn after it). `part` names the darker part in the legend
/// (none when empty). The numbers follow each bar: the value, and `+extra`
/// in red.
fn bar_chart(id: &str, label: &str, rows: &[(String, u64, u64, u64)], part: &str) -> Markup {
    const W: f64 = 760.0;
    const LABEL_W: f64 = 200.0;
    const ROW: f64 = 22.0;
    const TOP: f64 = 26.0;
    let rows: Vec<_> = rows.iter().take(CHART_ROWS).collect();
    if rows.iter().all(|r| r.1 == 0 && r.3 == 0) {
        return html! {};
    }
    let max = rows.iter().map(|r| r.1 + r.3).max().unwrap_or(0);
    let plot_w = W - LABEL_W - 130.0;
    let h = TOP + ROW * rows.len() as f64 + 6.0;
    let mut items = vec![(BLOCKED, "blocked")];
    if !part.is_empty() {
        items = vec![(BLOCKED, "blocked"), (LISTED, part)];
    }
    items.push((ALLOWED_LISTED, "allowed, listed"));
    html! {
        svg id=(id) class="chart" xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {h}")) width="100%" role="img" aria-label=(label) font-family="system-ui, sans-serif" font-size="12" {
            (legend(&items))
            @for (i, (name, value, darker, extra)) in rows.iter().map(|r| (&r.0, r.1, r.2, r.3)).enumerate() {
                @let y = TOP + i as f64 * ROW;
                @let w_all = scale(value, max, plot_w);
                @let w_dark = if part.is_empty() { 0.0 } else { scale(darker.min(value), max, plot_w) };
                @let w_extra = scale(extra, max, plot_w);
                g {
                    title { (name) ": " (num(value)) " blocked" @if !part.is_empty() { " (" (num(darker)) " " (part) ")" } ", " (num(extra)) " allowed though listed" }
                    text x=(f1(LABEL_W - 6.0)) y=(f1(y + 15.0)) text-anchor="end" { (truncate(name, 30)) }
                    @if w_all > 0.0 {
                        rect x=(f1(LABEL_W)) y=(f1(y + 3.0)) width=(f1(w_all)) height="16" fill=(BLOCKED) {}
                    }
                    @if w_dark > 0.0 {
                        rect x=(f1(LABEL_W)) y=(f1(y + 3.0)) width=(f1(w_dark)) height="16" fill=(LISTED) {}
                    }
                    @if w_extra > 0.0 {
                        rect x=(f1(LABEL_W + w_all)) y=(f1(y + 3.0)) width=(f1(w_extra)) height="16" fill=(ALLOWED_LISTED) {}
                    }
                    text x=(f1(LABEL_W + w_all + w_extra + 4.0)) y=(f1(y + 15.0)) fill=(AXIS) { (num(value)) @if extra > 0 { tspan fill=(ALLOWED_LISTED) { " +" (num(extra)) } } }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

// ---- CSV ----

/// One CSV cell: quoted when needed (RFC 4180), and a leading `=`, `+`,
/// `-`, `@` or tab made inert so spreadsheets do not run it as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A section of the report as CSV (header row first); None for an unknown
/// section.
pub fn csv(r: &Report, section: &str) -> Option<String> {
    let mut out = String::new();
    let c4 = |c: &Counts| {
        format!(
            "{},{},{},{}",
            c.blocked, c.blocked_listed, c.allowed, c.allowed_listed
        )
    };
    const COUNTS: &str = "blocked,blocked_listed,allowed,allowed_listed";
    let top = |out: &mut String, what: &str, rows: &[TopRow]| {
        let _ = writeln!(out, "{what},{COUNTS}");
        for row in rows {
            let _ = writeln!(out, "{},{}", cell(&row.key), c4(&row.counts));
        }
    };
    match section {
        "timeline" => {
            let _ = writeln!(out, "start,label,{COUNTS}");
            for b in &r.timeline {
                let _ = writeln!(
                    out,
                    "{},{},{}",
                    cell(&b.start),
                    cell(&b.label),
                    c4(&b.counts)
                );
            }
        }
        "by_feed" => {
            let _ = writeln!(
                out,
                "feed,name,category,subscribed,blocked,exclusive,allowed_listed"
            );
            for f in &r.by_feed {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    cell(&f.feed),
                    cell(&f.name),
                    cell(&f.category),
                    f.subscribed,
                    f.blocked,
                    f.exclusive,
                    f.allowed_listed
                );
            }
        }
        "by_category" => {
            let _ = writeln!(out, "category,blocked,allowed_listed");
            for c in &r.by_category {
                let _ = writeln!(
                    out,
                    "{},{},{}",
                    cell(&c.category),
                    c.blocked,
                    c.allowed_listed
                );
            }
        }
        "by_device" => {
            let _ = writeln!(out, "device,name,{COUNTS}");
            for d in &r.by_device {
                let _ = writeln!(out, "{},{},{}", d.device, cell(&d.name), c4(&d.counts));
            }
        }
        "top_sources" => top(&mut out, "source", &r.top_sources),
        "top_destinations" => top(&mut out, "destination", &r.top_destinations),
        "top_ports" => top(&mut out, "port", &r.top_ports),
        "allowed_listed_sources" => top(&mut out, "source", &r.allowed_listed_sources),
        "allowed_listed_destinations" => {
            top(&mut out, "destination", &r.allowed_listed_destinations)
        }
        _ => return None,
    }
    Some(out)
}

async fn reports_csv(
    State(state): State<AppState>,
    user: User,
    Query(mut p): Query<ReportParams>,
) -> Response {
    if p.top.trim().is_empty() {
        p.top = MAX_TOP.to_string();
    }
    let section = p.section.trim().to_string();
    if !SECTIONS.iter().any(|(s, _)| *s == section) {
        let names: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
        return ApiError::bad("section", format!("one of: {}", names.join(", "))).into_response();
    }
    let r = match report_for(&state, &user, &p).await {
        Ok((_, Ok(r))) => r,
        Ok((_, Err(errs))) => return ApiError::from(errs).into_response(),
        Err(e) => return e.into_response(),
    };
    let body = csv(&r, &section).unwrap_or_default();
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_default()
    };
    let name = format!(
        "feedwall-{section}-{}-{}.csv",
        day(r.from_unix),
        day(r.to_unix - 1)
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

// ---- JSON API ----

/// The account's firewall-log report for a range: blocked connections by
/// feed, category, device, source, destination and port, a timeline, and
/// allowed connections to or from listed addresses.
#[utoipa::path(get, path = "/api/reports", tag = "reports", params(ReportParams),
    responses((status = 200, body = Report), (status = 400, description = "invalid field: {error, field}"), (status = 401)))]
async fn api_report(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<ReportParams>,
) -> Result<Json<Report>, ApiError> {
    match report_for(&state, &user, &p).await? {
        (_, Ok(r)) => Ok(Json(r)),
        (_, Err(errs)) => Err(errs.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_inert() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1+2,3"), "\"'-1+2,3\"");
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1000), "1,000");
        assert_eq!(num(1234567), "1,234,567");
    }
}
