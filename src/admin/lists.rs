//! Allow and deny lists and custom lookups (advanced tier), and the
//! lookups page every account sees.
//!
//! An advanced account's deny list holds addresses it wants blocked, its
//! allow list addresses it never wants blocked. Both are published as
//! lookups of their own (`<n>.deny.<account>.acct.<apex>`, `allow` alike),
//! and each custom lookup is its chosen feeds plus the deny list minus the
//! allow list ([`super::publish`]). The basic lookups of the configuration
//! file are the same for everyone and not changed by either list.
//!
//! Imports (pasted text, an uploaded file, or JSON entries on the API) are
//! all or nothing: when any line is bad nothing is stored and every bad
//! line is reported with its number, so a typo never leaves a list half
//! imported. Entries already on the list, and repeats within one import,
//! are fine and counted.
//!
//! Import line format: an address or prefix, optionally followed by a
//! comment after `#`, `;`, `,` or a tab; blank lines and lines starting
//! with `#` or `;` are skipped; CRLF line ends and a UTF-8 byte order mark
//! are accepted. Export writes `net # comment` lines, which import back
//! unchanged.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use ipnet::{IpNet, Ipv4Net};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::User;
use super::devices::visible_lookups;
use super::html::{csrf_field, fmt_time, notice, page, CsrfOnly, DoneQuery, FormErrors};
use super::publish::{account_list_name, lookup_label_problem, ALLOW_LABEL, DENY_LABEL};
use super::store::{ListEntry, ListKind, Lookup, StoreError};
use super::{blocking, ApiError, AppState};
use crate::config::FeedConfig;

/// Entries one list may hold.
pub const MAX_ENTRIES_PER_LIST: usize = 100_000;
/// Lines one import may have (blank and comment lines included), and
/// entries one API request may carry.
pub const MAX_IMPORT_LINES: usize = 100_000;
/// Longest import line in bytes (an IPv6 prefix and a 200-character
/// comment fit with room to spare).
pub const MAX_LINE_BYTES: usize = 1024;
/// Longest entry comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 200;
/// Widest IPv4 prefix a deny list takes (a /8 is 16.7 million addresses).
pub const DENY_MIN_PREFIX_V4: u8 = 8;
/// Widest IPv6 prefix a deny list takes.
pub const DENY_MIN_PREFIX_V6: u8 = 16;
/// Custom lookups per account (each one is a whole list in every snapshot).
pub const MAX_LOOKUPS_PER_ACCOUNT: usize = 20;
/// Longest lookup name, in characters.
pub const MAX_LOOKUP_NAME_CHARS: usize = 64;
/// Bad lines listed in one answer; the count of all of them is given too.
pub const MAX_REPORTED_LINES: usize = 1000;
/// Entries the lists page shows per list (newest first; export has all).
pub const MAX_SHOWN_ENTRIES: usize = 500;
/// Characters of a bad line echoed back in a report.
const SHOWN_LINE_CHARS: usize = 100;
/// Longest DNS name (RFC 1035 §2.3.4, presentation form without the root).
const MAX_DNS_NAME: usize = 253;

const ADVANCED_NEEDED: &str =
    "allow and deny lists and custom lookups come with the advanced tier; ask the operator to upgrade this account";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/lists", axum::routing::get(lists_page))
        .route("/lists/{kind}", axum::routing::post(add_entry))
        .route("/lists/{kind}/import", axum::routing::post(import_entries))
        .route("/lists/{kind}/export", axum::routing::get(export_entries))
        .route(
            "/lists/{kind}/{id}/delete",
            axum::routing::post(delete_entry),
        )
        .route(
            "/lookups",
            axum::routing::get(lookups_page).post(create_lookup),
        )
        .route(
            "/lookups/{id}",
            axum::routing::get(lookup_page).post(update_lookup),
        )
        .route("/lookups/{id}/delete", axum::routing::post(delete_lookup))
        .routes(routes!(api_entries, api_import))
        .routes(routes!(api_delete_entry))
        .routes(routes!(api_lookups, api_create_lookup))
        .routes(routes!(api_lookup, api_update_lookup, api_delete_lookup))
}

// ---- entries: parsing ----

/// Why one entry (a form, an API entry or an import line) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// `net` or `comment`.
    pub field: &'static str,
    pub message: String,
}

impl EntryError {
    fn net(message: impl Into<String>) -> EntryError {
        EntryError {
            field: "net",
            message: message.into(),
        }
    }
    fn comment(message: impl Into<String>) -> EntryError {
        EntryError {
            field: "comment",
            message: message.into(),
        }
    }
}

/// A bad line of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// Line number, from 1 (for JSON entries: the position in `entries`).
    pub line: usize,
    /// The line as given, shortened, control characters shown as `�`.
    pub text: String,
    pub error: String,
}

/// Why an import stored nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportRefused {
    pub error: String,
    /// The bad lines (at most [`MAX_REPORTED_LINES`]).
    pub lines: Vec<LineError>,
    /// How many lines were bad in all.
    pub bad_lines: usize,
}

impl ImportRefused {
    fn whole(error: impl Into<String>) -> ImportRefused {
        ImportRefused {
            error: error.into(),
            lines: Vec::new(),
            bad_lines: 0,
        }
    }
}

/// Validates one entry: an IPv4 or IPv6 address or prefix without host
/// bits (IPv4-mapped IPv6 is taken as IPv4), not too wide for a deny list,
/// and a comment of at most [`MAX_COMMENT_CHARS`] without control
/// characters.
pub fn parse_entry(
    kind: ListKind,
    net: &str,
    comment: &str,
) -> Result<(IpNet, String), EntryError> {
    let raw = net.trim();
    if raw.is_empty() {
        return Err(EntryError::net("enter an IPv4 or IPv6 address or prefix"));
    }
    let parsed = match raw.split_once('/') {
        Some((addr, len)) => match (addr.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
            (Ok(a), Ok(l)) => IpNet::new(a, l).map_err(|_| {
                EntryError::net(format!(
                    "prefix length /{l} is too long: at most /32 for IPv4, /128 for IPv6"
                ))
            })?,
            (Ok(_), Err(_)) => {
                return Err(EntryError::net(
                    "the prefix length after '/' must be a number",
                ))
            }
            (Err(_), _) => return Err(not_an_address(raw)),
        },
        None => IpNet::from(
            raw.parse::<std::net::IpAddr>()
                .map_err(|_| not_an_address(raw))?,
        ),
    };
    let net = canonical(parsed);
    if net.trunc() != net {
        return Err(EntryError::net(format!(
            "host bits are set; did you mean {}?",
            net.trunc()
        )));
    }
    if kind == ListKind::Deny {
        let too_wide = match net {
            IpNet::V4(n) => n.prefix_len() < DENY_MIN_PREFIX_V4,
            IpNet::V6(n) => n.prefix_len() < DENY_MIN_PREFIX_V6,
        };
        if too_wide {
            return Err(EntryError::net(format!(
                "too broad for a deny list: at most a /{DENY_MIN_PREFIX_V4} for IPv4, a /{DENY_MIN_PREFIX_V6} for IPv6"
            )));
        }
    }
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(EntryError::comment(format!(
            "a comment of at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    if comment.chars().any(char::is_control) {
        return Err(EntryError::comment(
            "no control characters (tabs, line breaks) in a comment",
        ));
    }
    Ok((net, comment.to_string()))
}

fn not_an_address(raw: &str) -> EntryError {
    if raw.contains('-') {
        EntryError::net("address ranges are not supported; use prefixes such as 192.0.2.0/24")
    } else {
        EntryError::net("not an IPv4 or IPv6 address or prefix (e.g. 192.0.2.1, 198.51.100.0/24, 2001:db8::/48)")
    }
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as the IPv4 it means.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net {
        if let (Some(v4), true) = (n.addr().to_ipv4_mapped(), n.prefix_len() >= 96) {
            return IpNet::V4(Ipv4Net::new(v4, n.prefix_len() - 96).expect("length at most 32"));
        }
    }
    net
}

/// One import line (without its line break). `Ok(None)` for blank and
/// comment lines.
pub fn parse_line(kind: ListKind, line: &str) -> Result<Option<(IpNet, String)>, EntryError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() > MAX_LINE_BYTES {
        return Err(EntryError::net(format!(
            "line too long ({} bytes; at most {MAX_LINE_BYTES})",
            line.len()
        )));
    }
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return Ok(None);
    }
    let end = t.find([' ', '\t', ',', '#', ';']).unwrap_or(t.len());
    let (net, rest) = t.split_at(end);
    let after = rest.trim_start_matches([' ', '\t']);
    let comment = if after.is_empty() {
        ""
    } else if let Some(c) = after.strip_prefix('#').or_else(|| after.strip_prefix(';')) {
        c
    } else if let Some(c) = after.strip_prefix(',') {
        // CSV: one pair of quotes around the comment is not part of it.
        let c = c.trim();
        c.strip_prefix('"')
            .and_then(|c| c.strip_suffix('"'))
            .unwrap_or(c)
    } else if rest[..rest.len() - after.len()].contains('\t') {
        after
    } else {
        return Err(EntryError::net(
            "one address or prefix per line; put a comment after '#', ',' or a tab",
        ));
    };
    parse_entry(kind, net, comment).map(Some)
}

/// A line as echoed in a report: shortened, control characters replaced.
fn shown(line: &str) -> String {
    let mut s: String = line
        .chars()
        .take(SHOWN_LINE_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if line.chars().nth(SHOWN_LINE_CHARS).is_some() {
        s.push('…');
    }
    s
}

/// Collects per-line results into entries, or a refusal listing the bad
/// lines.
#[derive(Default)]
struct Collector {
    entries: Vec<(IpNet, String)>,
    lines: Vec<LineError>,
    bad: usize,
}

impl Collector {
    fn push(&mut self, line: usize, text: &str, r: Result<Option<(IpNet, String)>, EntryError>) {
        match r {
            Ok(Some(e)) => self.entries.push(e),
            Ok(None) => {}
            Err(e) => {
                self.bad += 1;
                if self.lines.len() < MAX_REPORTED_LINES {
                    let error = if e.field == "comment" {
                        format!("comment: {}", e.message)
                    } else {
                        e.message
                    };
                    self.lines.push(LineError {
                        line,
                        text: shown(text),
                        error,
                    });
                }
            }
        }
    }

    /// `what` names one item and many: `("line", "lines")`.
    fn finish(self, what: (&str, &str)) -> Result<Vec<(IpNet, String)>, ImportRefused> {
        if self.bad > 0 {
            let error = match self.bad {
                1 => format!(
                    "1 bad {}; nothing was imported (fix it and import again)",
                    what.0
                ),
                n => format!(
                    "{n} bad {}; nothing was imported (fix them and import again)",
                    what.1
                ),
            };
            return Err(ImportRefused {
                error,
                lines: self.lines,
                bad_lines: self.bad,
            });
        }
        if self.entries.is_empty() {
            return Err(ImportRefused::whole("no addresses or prefixes to import"));
        }
        Ok(self.entries)
    }
}

/// Parses an import text. All or nothing: any bad line refuses the whole
/// import, listing every bad line with its number.
pub fn parse_import(kind: ListKind, text: &str) -> Result<Vec<(IpNet, String)>, ImportRefused> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Old Mac line ends: a text with CRs and no LF at all.
    let sep = if !text.contains('\n') && text.contains('\r') {
        '\r'
    } else {
        '\n'
    };
    let mut n = text.split(sep).count();
    if text.ends_with(sep) {
        n -= 1;
    }
    if n > MAX_IMPORT_LINES {
        return Err(ImportRefused::whole(format!(
            "{n} lines; an import takes at most {MAX_IMPORT_LINES} (split the file); nothing was imported"
        )));
    }
    let mut c = Collector::default();
    for (i, line) in text.split(sep).enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        c.push(i + 1, line, parse_line(kind, line));
    }
    c.finish(("line", "lines"))
}

/// An uploaded file as text: UTF-8 (a byte order mark is fine), or a
/// refusal naming the first line that is not.
pub fn import_text(bytes: &[u8]) -> Result<&str, ImportRefused> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        ImportRefused::whole(format!(
            "the file is not UTF-8 text (line {line}); save it as UTF-8 or plain ASCII; nothing was imported"
        ))
    })
}

/// One entry as the API takes it.
#[derive(Debug, Serialize, Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(default)]
pub struct EntryIn {
    /// IPv4 or IPv6 address or prefix, e.g. `192.0.2.1` or `198.51.100.0/24`.
    pub net: String,
    /// At most 200 characters.
    pub comment: String,
}

/// Validates API entries like import lines (numbered from 1).
pub fn parse_entries(
    kind: ListKind,
    entries: &[EntryIn],
) -> Result<Vec<(IpNet, String)>, ImportRefused> {
    if entries.len() > MAX_IMPORT_LINES {
        return Err(ImportRefused::whole(format!(
            "{} entries; one request takes at most {MAX_IMPORT_LINES}; nothing was imported",
            entries.len()
        )));
    }
    let mut c = Collector::default();
    for (i, e) in entries.iter().enumerate() {
        c.push(
            i + 1,
            &e.net,
            parse_entry(kind, &e.net, &e.comment).map(Some),
        );
    }
    c.finish(("entry", "entries"))
}

/// What an import (or adding one entry) did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportOut {
    /// Entries new on the list.
    pub added: usize,
    /// Entries that were on the list already (their comment is kept).
    pub already_present: usize,
    /// Lines or entries repeating an earlier one of the same import.
    pub duplicates: usize,
    /// Of the imported entries, those wider than the zone's expansion
    /// limit (/24 and /120 by default): kept and listed in the snapshot,
    /// but DNS answers carry single addresses, so they are not answered.
    pub wide: usize,
}

fn is_wide(state: &AppState, net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < state.cfg.zone.expand_v4,
        IpNet::V6(n) => n.prefix_len() < state.cfg.zone.expand_v6,
    }
}

/// Stores parsed entries (repeats dropped, first comment kept).
async fn store_entries(
    state: &AppState,
    user: &User,
    kind: ListKind,
    entries: Vec<(IpNet, String)>,
) -> Result<ImportOut, StoreError> {
    let mut seen = HashSet::with_capacity(entries.len());
    let mut unique = Vec::with_capacity(entries.len());
    let given = entries.len();
    for e in entries {
        if seen.insert(e.0) {
            unique.push(e);
        }
    }
    let wide = unique.iter().filter(|(n, _)| is_wide(state, n)).count();
    let n = unique.len();
    let store = state.store.clone();
    let acct = user.id();
    let added =
        blocking(move || store.add_entries(acct, kind, &unique, MAX_ENTRIES_PER_LIST)).await?;
    Ok(ImportOut {
        added,
        already_present: n - added,
        duplicates: given - n,
        wide,
    })
}

// ---- shared helpers ----

fn advanced_page(user: &User) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            Some(user),
            "Advanced tier needed",
            html! {
                p.error role="alert" { "Allow and deny lists and custom lookups come with the advanced tier. Ask the operator to upgrade this account." }
                p { a href="/lookups" { "See the lookups your account can use" } }
            },
        ),
    )
        .into_response()
}

fn need_advanced(user: &User) -> Result<(), ApiError> {
    if user.is_advanced() {
        Ok(())
    } else {
        Err(ApiError::forbidden(ADVANCED_NEEDED))
    }
}

fn not_found_page(user: &User, what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(Some(user), "Not found", html! { p { (what) } }),
    )
        .into_response()
}

/// Note for operator accounts, whose own lists are never published (only
/// subscriber accounts are).
fn operator_note(user: &User) -> Markup {
    html! {
        @if user.is_operator() {
            p.error role="note" { "This is the operator account: only subscriber accounts are published, so its own lists and lookups have no effect in DNS. Use a subscriber account for them." }
        }
    }
}

/// A list as published in the current snapshot.
#[derive(Debug, Clone, Copy, Default)]
struct ListStats {
    addresses: u64,
    chunks: u32,
    wide: usize,
}

/// Chunk capacity of every lookup this account may use (as the device
/// pages show them) and what the current snapshot holds for each.
#[derive(Default)]
struct Published {
    capacity: HashMap<String, u32>,
    stats: HashMap<String, ListStats>,
}

impl Published {
    /// Reads the snapshot file and the store: call in a blocking task.
    fn load(state: &AppState, user: &User) -> Published {
        let capacity: HashMap<String, u32> = visible_lookups(state, user)
            .into_iter()
            .map(|l| (l.list, l.capacity))
            .collect();
        let mut stats = HashMap::new();
        let path = state.data_dir.join(crate::control::sidecar::SNAPSHOT_FILE);
        if let Ok(s) = crate::snapshot::MappedSnapshot::open(&path) {
            let own = format!(
                ".{}.{}",
                user.account.label,
                super::publish::ACCOUNT_SUBTREE
            );
            for l in s.get().lists.iter() {
                let name = l.name.as_str();
                if capacity.contains_key(name) || name.ends_with(&own) {
                    stats.insert(
                        name.to_string(),
                        ListStats {
                            addresses: l.v4_hosts.to_native() as u64
                                + l.v6_hosts.to_native() as u64,
                            chunks: l.chunks.to_native(),
                            wide: l.wide_v4.len() + l.wide_v6.len(),
                        },
                    );
                }
            }
        }
        Published { capacity, stats }
    }

    async fn of(state: &AppState, user: &User) -> Published {
        let (s, u) = (state.clone(), user.clone());
        blocking(move || Ok(Published::load(&s, &u)))
            .await
            .unwrap_or_default()
    }

    fn capacity(&self, list: &str) -> u32 {
        self.capacity
            .get(list)
            .copied()
            .unwrap_or(crate::snapshot::writer::DEFAULT_MIN_CAPACITY)
    }

    fn names(&self, state: &AppState, list: &str) -> NamesOut {
        let capacity = self.capacity(list);
        let zone = &state.cfg.zone.apex;
        NamesOut {
            list: list.to_string(),
            capacity,
            names: (0..capacity)
                .map(|i| format!("{i}.{list}.{zone}"))
                .collect(),
            addresses: self.stats.get(list).map(|s| s.addresses),
        }
    }

    /// The chunk names of a list and what is published under them.
    fn cell(&self, state: &AppState, list: &str) -> Markup {
        let zone = &state.cfg.zone.apex;
        let cap = self.capacity(list);
        html! {
            code { "0." (list) "." (zone) } " … " code { (cap.saturating_sub(1)) "." (list) "." (zone) }
            br;
            @match self.stats.get(list) {
                Some(s) => span.muted {
                    (s.addresses) " addresses in " (s.chunks) " of " (cap) " chunk names"
                    @if s.wide > 0 { ", " (s.wide) " wider networks not answered in DNS" }
                },
                None => span.muted { "not in the current snapshot yet (published within seconds of a change)" },
            }
        }
    }
}

// ---- lists pages ----

/// The add-one-entry form.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct EntryForm {
    net: String,
    comment: String,
    csrf: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListsQuery {
    done: Option<String>,
    added: Option<String>,
    present: Option<String>,
    wide: Option<String>,
    q: Option<String>,
}

/// The submitted values and errors of the one form that failed.
#[derive(Default)]
struct Failed {
    kind: Option<ListKind>,
    add: EntryForm,
    add_errs: FormErrors,
    import_text: String,
    import_errs: FormErrors,
    refused: Option<ImportRefused>,
}

fn kind_title(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Allow => "Allow list",
        ListKind::Deny => "Deny list",
    }
}

fn kind_label(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Allow => ALLOW_LABEL,
        ListKind::Deny => DENY_LABEL,
    }
}

fn text_field(
    errs: &FormErrors,
    id: &str,
    name: &'static str,
    label: &str,
    value: &str,
    placeholder: &str,
) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type="text" value=(value) placeholder=(placeholder) aria-invalid=[errs.0.get(name).map(|_| "true")];
        (errs.at(name))
    }
}

/// The notice after a redirect; only numbers are taken from the query.
fn done_notice(q: &ListsQuery) -> Markup {
    let num = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (added, present, wide) = (num(&q.added), num(&q.present), num(&q.wide));
    let wide_note = html! {
        @if wide > 0 {
            p.muted role="status" { (wide) " of them are wider networks, which are kept but not answered in DNS (answers carry single addresses)." }
        }
    };
    match q.done.as_deref() {
        Some("added") if present > 0 => {
            html! { p.notice role="status" { "Already on the list; nothing changed." } }
        }
        Some("added") => html! { p.notice role="status" { "Added." } (wide_note) },
        Some("imported") => html! {
            p.notice role="status" { "Imported: " (added) " added, " (present) " already on the list." }
            (wide_note)
        },
        other => notice(other),
    }
}

fn entry_matches(e: &ListEntry, q: &str) -> bool {
    q.is_empty() || e.net.to_string().contains(q) || e.comment.to_lowercase().contains(q)
}

fn list_section(
    state: &AppState,
    user: &User,
    published: &Published,
    kind: ListKind,
    entries: &[ListEntry],
    failed: &Failed,
    q: &str,
) -> Markup {
    let empty = Failed::default();
    let f = if failed.kind == Some(kind) {
        failed
    } else {
        &empty
    };
    let k = kind.as_str();
    let list = account_list_name(&user.account.label, kind_label(kind));
    let shown: Vec<&ListEntry> = entries
        .iter()
        .rev()
        .filter(|e| entry_matches(e, q))
        .take(MAX_SHOWN_ENTRIES)
        .collect();
    let matching = if q.is_empty() {
        entries.len()
    } else {
        entries.iter().filter(|e| entry_matches(e, q)).count()
    };
    html! {
        section id=(k) {
            h2 { (kind_title(kind)) " (" (entries.len()) @if entries.len() == 1 { " entry)" } @else { " entries)" } }
            @match kind {
                ListKind::Deny => p.muted { "Addresses you want blocked: added to every custom lookup of yours, and published on their own as:" },
                ListKind::Allow => p.muted { "Addresses you never want blocked: removed from every custom lookup of yours (not from the basic lookups), and published on their own as:" },
            }
            p { (published.cell(state, &list)) }
            form.card id=(format!("{k}-add")) method="post" action=(format!("/lists/{k}")) {
                (csrf_field(user))
                (f.add_errs.general(&["net", "comment"]))
                (text_field(&f.add_errs, &format!("{k}-net"), "net", "Address or prefix", &f.add.net, "192.0.2.1 or 198.51.100.0/24 or 2001:db8::/48"))
                (text_field(&f.add_errs, &format!("{k}-comment"), "comment", "Comment (optional)", &f.add.comment, "why it is here"))
                button type="submit" { "Add to " (k) " list" }
            }
            form.card id=(format!("{k}-import")) method="post" action=(format!("/lists/{k}/import")) enctype="multipart/form-data" {
                (csrf_field(user))
                h3 { "Import" }
                p.muted {
                    "One address or prefix per line, optionally followed by a comment after " code { "#" } ", " code { "," } " or a tab. Blank lines and lines starting with " code { "#" } " are skipped. "
                    strong { "If any line is bad, nothing is imported" } " and every bad line is listed, so fix them and import again. "
                    "Entries already on the list stay as they are. At most " (MAX_IMPORT_LINES) " lines and " (state.cfg.admin.max_upload / 1024) " KiB."
                }
                (f.import_errs.general(&["text", "file"]))
                label for=(format!("{k}-text")) { "Paste lines" }
                // HTML drops a newline right after <textarea>: the one
                // added keeps a leading blank line (and line numbers).
                textarea id=(format!("{k}-text")) name="text" aria-invalid=[f.import_errs.0.get("text").map(|_| "true")] placeholder="203.0.113.7  # seen scanning\n198.51.100.0/24, bulletproof hoster" { "\n" (f.import_text) }
                (f.import_errs.at("text"))
                label for=(format!("{k}-file")) { "or upload a text file" }
                input id=(format!("{k}-file")) name="file" type="file" accept=".txt,.csv,.tsv,.list,text/plain,text/csv" aria-invalid=[f.import_errs.0.get("file").map(|_| "true")];
                (f.import_errs.at("file"))
                @if let Some(r) = &f.refused {
                    @if !r.lines.is_empty() {
                        table.line-errors data-field="lines" {
                            tr { th { "Line" } th { "Text" } th { "Problem" } }
                            @for l in &r.lines {
                                tr data-line=(l.line) { td { (l.line) } td { code { (l.text) } } td.field-error { (l.error) } }
                            }
                        }
                        @if r.bad_lines > r.lines.len() {
                            p.muted { "… and " (r.bad_lines - r.lines.len()) " more bad lines." }
                        }
                    }
                }
                button type="submit" { "Import" }
            }
            p {
                a href=(format!("/lists/{k}/export")) { "Export as text" }
                span.muted { " (one " code { "address # comment" } " per line; imports back unchanged)" }
            }
            @if !entries.is_empty() {
                @if shown.len() < matching {
                    p.muted { "Showing the newest " (shown.len()) " of " (matching) @if !q.is_empty() { " matching" } " entries; export for all of them." }
                }
                @if shown.is_empty() {
                    p.muted { "No entry matches." }
                } @else {
                    table id=(format!("{k}-entries")) {
                        tr { th { "Address or prefix" } th { "Comment" } th { "Added" } th {} }
                        @for e in &shown {
                            tr {
                                td { code { (e.net) } }
                                td { (e.comment) }
                                td { (fmt_time(e.created)) }
                                td {
                                    form.inline method="post" action=(format!("/lists/{k}/{}/delete", e.id)) {
                                        (csrf_field(user))
                                        button.secondary type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn lists_view(
    state: &AppState,
    user: &User,
    published: &Published,
    allow: &[ListEntry],
    deny: &[ListEntry],
    failed: &Failed,
    done: Markup,
    q: &str,
) -> Markup {
    page(
        Some(user),
        "Allow and deny lists",
        html! {
            (done)
            @if let Some(k) = failed.kind {
                p.error role="alert" { "Nothing was saved: see the " a href=(format!("#{}", k.as_str())) { (k.as_str()) " list" } " below." }
            }
            (operator_note(user))
            p.muted {
                "Changes are published within seconds. Each custom lookup (see " a href="/lookups" { "Lookups" } ") is its feeds plus your deny list minus your allow list. "
                "DNS answers carry single addresses: prefixes up to /" (state.cfg.zone.expand_v4) " (IPv4) and /" (state.cfg.zone.expand_v6) " (IPv6) are answered address by address; wider ones are kept but not answered."
            }
            @if !allow.is_empty() || !deny.is_empty() {
                form.inline method="get" action="/lists" {
                    label for="q" { "Find " }
                    input id="q" name="q" type="search" value=(q) placeholder="address or comment";
                    " "
                    button.secondary type="submit" { "Find" }
                }
            }
            (list_section(state, user, published, ListKind::Deny, deny, failed, q))
            (list_section(state, user, published, ListKind::Allow, allow, failed, q))
        },
    )
}

async fn both_lists(
    state: &AppState,
    user: &User,
) -> Result<(Vec<ListEntry>, Vec<ListEntry>), StoreError> {
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || {
        Ok((
            store.entries(acct, ListKind::Allow)?,
            store.entries(acct, ListKind::Deny)?,
        ))
    })
    .await
}

/// The lists page with a failed form, status 400.
async fn lists_failed(state: &AppState, user: &User, failed: Failed) -> Response {
    let (allow, deny) = match both_lists(state, user).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let published = Published::of(state, user).await;
    (
        StatusCode::BAD_REQUEST,
        lists_view(
            state,
            user,
            &published,
            &allow,
            &deny,
            &failed,
            html! {},
            "",
        ),
    )
        .into_response()
}

async fn lists_page(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<ListsQuery>,
) -> Response {
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let (allow, deny) = match both_lists(&state, &user).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let published = Published::of(&state, &user).await;
    let find: String =
        q.q.as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .take(100)
            .collect::<String>()
            .to_lowercase();
    lists_view(
        &state,
        &user,
        &published,
        &allow,
        &deny,
        &Failed::default(),
        done_notice(&q),
        &find,
    )
    .into_response()
}

fn done_redirect(kind: ListKind, done: &str, out: &ImportOut) -> Response {
    Redirect::to(&format!(
        "/lists?done={done}&added={}&present={}&wide={}#{}",
        out.added,
        out.already_present,
        out.wide,
        kind.as_str()
    ))
    .into_response()
}

async fn add_entry(
    State(state): State<AppState>,
    user: User,
    Path(kind): Path<String>,
    Form(f): Form<EntryForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let Some(kind) = ListKind::parse(&kind) else {
        return not_found_page(&user, "No such list.");
    };
    let mut errs = FormErrors::default();
    match parse_entry(kind, &f.net, &f.comment) {
        Err(e) => errs.add(e.field, e.message),
        Ok(entry) => match store_entries(&state, &user, kind, vec![entry]).await {
            Ok(out) => return done_redirect(kind, "added", &out),
            Err(StoreError::Invalid { field, message }) => errs.add(field, message),
            Err(e) => return ApiError::from(e).into_response(),
        },
    }
    lists_failed(
        &state,
        &user,
        Failed {
            kind: Some(kind),
            add: f,
            add_errs: errs,
            ..Default::default()
        },
    )
    .await
}

/// The import form's fields, from a multipart or URL-encoded body.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ImportForm {
    csrf: String,
    text: String,
    #[serde(skip)]
    file: Option<(String, Vec<u8>)>,
}

async fn read_import_form(state: &AppState, req: Request) -> Result<ImportForm, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Form::<ImportForm>::from_request(req, state)
            .await
            .map(|Form(f)| f)
            .map_err(IntoResponse::into_response);
    }
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let mut f = ImportForm::default();
    while let Some(field) = mp.next_field().await.map_err(IntoResponse::into_response)? {
        match field.name() {
            Some("csrf") => f.csrf = field.text().await.map_err(IntoResponse::into_response)?,
            Some("text") => f.text = field.text().await.map_err(IntoResponse::into_response)?,
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let bytes = field.bytes().await.map_err(IntoResponse::into_response)?;
                if !bytes.is_empty() || !name.is_empty() {
                    f.file = Some((name, bytes.to_vec()));
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

async fn import_entries(
    State(state): State<AppState>,
    user: User,
    Path(kind): Path<String>,
    req: Request,
) -> Response {
    let f = match read_import_form(&state, req).await {
        Ok(f) => f,
        // Nothing was read, so nothing is acted upon: show the limit.
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE && user.is_advanced() => {
            let Some(kind) = ListKind::parse(&kind) else {
                return not_found_page(&user, "No such list.");
            };
            let mut errs = FormErrors::default();
            errs.add(
                "file",
                format!(
                    "too large: an import takes at most {} KiB; split it into several imports",
                    state.cfg.admin.max_upload / 1024
                ),
            );
            let failed = Failed {
                kind: Some(kind),
                import_errs: errs,
                ..Default::default()
            };
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                lists_failed(&state, &user, failed).await,
            )
                .into_response();
        }
        Err(r) => return r,
    };
    // Nothing is acted upon before the CSRF token is checked.
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let Some(kind) = ListKind::parse(&kind) else {
        return not_found_page(&user, "No such list.");
    };
    let mut errs = FormErrors::default();
    let mut refused = None;
    let parsed = match &f.file {
        Some(_) if !f.text.trim().is_empty() => {
            errs.add("file", "choose a file or paste lines, not both");
            None
        }
        Some((name, bytes)) if bytes.is_empty() => {
            errs.add(
                "file",
                format!(
                    "{} is empty",
                    if name.is_empty() { "the file" } else { name }
                ),
            );
            None
        }
        Some((name, bytes)) => match import_text(bytes).and_then(|t| parse_import(kind, t)) {
            Ok(v) => Some(v),
            Err(r) => {
                let shown_name = if name.is_empty() {
                    "the file".to_string()
                } else {
                    shown(name)
                };
                errs.add("file", format!("{shown_name}: {}", r.error));
                refused = Some(r);
                None
            }
        },
        None if f.text.trim().is_empty() => {
            errs.add("text", "paste some lines or choose a file");
            None
        }
        None => match parse_import(kind, &f.text) {
            Ok(v) => Some(v),
            Err(r) => {
                errs.add("text", r.error.clone());
                refused = Some(r);
                None
            }
        },
    };
    if let Some(entries) = parsed {
        match store_entries(&state, &user, kind, entries).await {
            Ok(out) => return done_redirect(kind, "imported", &out),
            Err(StoreError::Invalid { message, .. }) => {
                errs.add(if f.file.is_some() { "file" } else { "text" }, message)
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    lists_failed(
        &state,
        &user,
        Failed {
            kind: Some(kind),
            import_text: f.text,
            import_errs: errs,
            refused,
            ..Default::default()
        },
    )
    .await
}

async fn delete_entry(
    State(state): State<AppState>,
    user: User,
    Path((kind, id)): Path<(String, i64)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let Some(kind) = ListKind::parse(&kind) else {
        return not_found_page(&user, "No such list.");
    };
    let store = state.store.clone();
    let acct = user.id();
    match blocking(move || store.delete_entry(acct, kind, id)).await {
        Ok(()) => Redirect::to(&format!("/lists?done=deleted#{}", kind.as_str())).into_response(),
        Err(StoreError::NotFound) => not_found_page(&user, "No such entry."),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The export text: a header comment, then `net # comment` lines.
pub fn export_text(kind: ListKind, entries: &[ListEntry]) -> String {
    let mut out = format!(
        "# feedwall {} list, {} entries, exported {}\n",
        kind.as_str(),
        entries.len(),
        fmt_time(super::store::now())
    );
    for e in entries {
        if e.comment.is_empty() {
            out.push_str(&format!("{}\n", e.net));
        } else {
            out.push_str(&format!("{} # {}\n", e.net, e.comment));
        }
    }
    out
}

/// Text export (also usable with an API token:
/// `curl -H 'Authorization: Bearer …' https://…/lists/deny/export`).
async fn export_entries(
    State(state): State<AppState>,
    user: User,
    Path(kind): Path<String>,
) -> Response {
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let Some(kind) = ListKind::parse(&kind) else {
        return not_found_page(&user, "No such list.");
    };
    let store = state.store.clone();
    let acct = user.id();
    match blocking(move || store.entries(acct, kind)).await {
        Ok(entries) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"feedwall-{}.txt\"", kind.as_str()),
                ),
            ],
            export_text(kind, &entries),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- lookups: validation ----

/// A lookup as submitted (page form or API).
#[derive(Debug, Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(default)]
pub struct LookupInput {
    /// Display name, 1 to 64 characters.
    pub name: String,
    /// DNS label: 1-32 of `[a-z0-9-]`, not all digits, not `allow` or
    /// `deny`. Fixed once created (devices use it); on update leave it
    /// out or give the same one.
    pub label: String,
    /// Feed ids (see `feeds` in `GET /api/lookups`).
    pub feeds: Vec<String>,
}

/// A validated lookup.
struct LookupFields {
    name: String,
    label: String,
    feeds: Vec<String>,
}

/// The feeds a lookup may use: the enabled configured ones.
fn lookup_feeds(state: &AppState) -> impl Iterator<Item = &FeedConfig> {
    state.cfg.feeds.iter().filter(|f| f.enabled)
}

fn feed_title(state: &AppState, id: &str) -> (String, bool) {
    match state.cfg.feeds.iter().find(|f| f.id == id) {
        Some(f) if f.enabled => (f.name.clone(), true),
        Some(f) => (format!("{} (disabled)", f.name), false),
        None => (format!("{id} (no longer configured)"), false),
    }
}

/// Validates a lookup. `fixed_label` is the label of the lookup being
/// changed (labels never change).
fn parse_lookup(
    state: &AppState,
    user: &User,
    f: &LookupInput,
    fixed_label: Option<&str>,
) -> Result<LookupFields, FormErrors> {
    let mut errs = FormErrors::default();
    let name = f.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_LOOKUP_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        errs.add(
            "name",
            format!("a name of 1 to {MAX_LOOKUP_NAME_CHARS} characters"),
        );
    }
    let given = f.label.trim();
    let label = match fixed_label {
        Some(l) => {
            if !given.is_empty() && given != l {
                errs.add(
                    "label",
                    "the DNS label cannot change (devices use it); create a new lookup instead",
                );
            }
            l.to_string()
        }
        None => {
            if let Some(p) = lookup_label_problem(given) {
                errs.add("label", p);
            } else {
                let list = account_list_name(&user.account.label, given);
                // The longest chunk name must still be a valid DNS name.
                if format!("99999.{list}.{}", state.cfg.zone.apex).len() > MAX_DNS_NAME {
                    errs.add(
                        "label",
                        "too long for this zone's names; use a shorter label",
                    );
                }
            }
            given.to_string()
        }
    };
    let chosen: HashSet<&str> = f
        .feeds
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let unknown: Vec<&str> = {
        let mut v: Vec<&str> = chosen
            .iter()
            .copied()
            .filter(|id| !lookup_feeds(state).any(|c| c.id == *id))
            .collect();
        v.sort_unstable();
        v
    };
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|s| shown(s)).collect();
        errs.add("feeds", format!("not an enabled feed: {}", list.join(", ")));
    } else if chosen.is_empty() {
        errs.add("feeds", "choose at least one feed");
    }
    let feeds = lookup_feeds(state)
        .filter(|c| chosen.contains(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect();
    if errs.is_empty() {
        Ok(LookupFields {
            name: name.to_string(),
            label,
            feeds,
        })
    } else {
        Err(errs)
    }
}

async fn add_lookup(state: &AppState, user: &User, l: LookupFields) -> Result<Lookup, StoreError> {
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || {
        if store.lookups(acct)?.len() >= MAX_LOOKUPS_PER_ACCOUNT {
            return Err(StoreError::invalid(
                "name",
                format!(
                    "an account has at most {MAX_LOOKUPS_PER_ACCOUNT} lookups; delete one first"
                ),
            ));
        }
        store.add_lookup(acct, &l.name, &l.label, &l.feeds)
    })
    .await
}

async fn change_lookup(
    state: &AppState,
    user: &User,
    id: i64,
    l: LookupFields,
) -> Result<Lookup, StoreError> {
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.update_lookup(acct, id, &l.name, &l.feeds)).await
}

async fn load_lookup(state: &AppState, user: &User, id: i64) -> Result<Lookup, StoreError> {
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.lookup(acct, id)).await
}

async fn own_lookups(state: &AppState, user: &User) -> Result<Vec<Lookup>, StoreError> {
    if !user.is_advanced() {
        return Ok(Vec::new());
    }
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.lookups(acct)).await
}

/// Parses the URL-encoded lookup form (`feeds` repeats, one per checked
/// box, which the `Form` extractor cannot take).
fn lookup_form(body: &[u8]) -> (LookupInput, String) {
    let mut f = LookupInput::default();
    let mut csrf = String::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "name" => f.name = v.into_owned(),
            "label" => f.label = v.into_owned(),
            "feeds" => f.feeds.push(v.into_owned()),
            "csrf" => csrf = v.into_owned(),
            _ => {}
        }
    }
    (f, csrf)
}

fn form_of(l: &Lookup) -> LookupInput {
    LookupInput {
        name: l.name.clone(),
        label: l.label.clone(),
        feeds: l.feeds.clone(),
    }
}

// ---- lookups pages ----

fn feed_names(state: &AppState, ids: &[String]) -> Markup {
    html! {
        @for (i, id) in ids.iter().enumerate() {
            @if i > 0 { ", " }
            @let (title, ok) = feed_title(state, id);
            @if ok { span title=(id) { (title) } } @else { span.flag title=(id) { (title) } }
        }
    }
}

/// Checkboxes of the feeds a lookup may use.
fn feed_choices(state: &AppState, chosen: &[String], errs: &FormErrors) -> Markup {
    html! {
        fieldset #feeds aria-invalid=[errs.0.get("feeds").map(|_| "true")] {
            legend { "Feeds" }
            (errs.at("feeds"))
            table {
                tr { th {} th { "Feed" } th { "Provider" } th { "Category" } }
                @for f in lookup_feeds(state) {
                    tr {
                        td { input type="checkbox" name="feeds" value=(f.id) id=(format!("feed-{}", f.id)) checked[chosen.iter().any(|c| *c == f.id)]; }
                        td { label for=(format!("feed-{}", f.id)) { (f.name) } " " code.muted { (f.id) } }
                        td { (f.provider) }
                        td { (f.category) }
                    }
                }
            }
        }
    }
}

fn lookups_view(
    state: &AppState,
    user: &User,
    published: &Published,
    own: &[Lookup],
    f: &LookupInput,
    errs: &FormErrors,
    done: Option<&str>,
) -> Markup {
    page(
        Some(user),
        "Lookups",
        html! {
            (notice(done))
            @if !errs.is_empty() {
                p.error role="alert" { "The lookup was not created: see " a href="#create-lookup" { "the form below" } "." }
            }
            p.muted { "A lookup is a set of addresses published as DNS names; a firewall or resolver at one of your " a href="/devices" { "devices" } " queries every chunk name of it. Each name holds up to 4000 IPv4 / 2000 IPv6 addresses; unused chunk names answer with no records, so rules keep working as lists grow." }
            h2 { "Basic lookups" }
            @if state.cfg.lists.is_empty() {
                p.muted { "The operator has configured none." }
            } @else {
                table #basic-lookups {
                    tr { th { "Lookup" } th { "Feeds" } th { "Names" } }
                    @for l in &state.cfg.lists {
                        tr {
                            td { (l.name) }
                            td { (feed_names(state, &l.feeds)) }
                            td { (published.cell(state, &l.name)) }
                        }
                    }
                }
            }
            @if user.is_advanced() {
                (operator_note(user))
                h2 { "Your allow and deny lists" }
                table #list-lookups {
                    tr { th { "List" } th { "Names" } }
                    @for (title, label) in [("Deny list", DENY_LABEL), ("Allow list", ALLOW_LABEL)] {
                        tr {
                            td { a href=(format!("/lists#{label}")) { (title) } }
                            td { (published.cell(state, &account_list_name(&user.account.label, label))) }
                        }
                    }
                }
                h2 { "Your lookups" }
                @if own.is_empty() {
                    p.muted { "None yet." }
                } @else {
                    table #own-lookups {
                        tr { th { "Lookup" } th { "Feeds (+ deny − allow)" } th { "Names" } }
                        @for l in own {
                            tr {
                                td { a href=(format!("/lookups/{}", l.id)) { (l.name) } br; code.muted { (l.label) } }
                                td { (feed_names(state, &l.feeds)) }
                                td { (published.cell(state, &account_list_name(&user.account.label, &l.label))) }
                            }
                        }
                    }
                }
                h2 { "Create a lookup" }
                p.muted { "Pick feeds; the lookup publishes them plus your deny list, minus your allow list, under " code { "0.<label>." (user.account.label) "." (super::publish::ACCOUNT_SUBTREE) "." (state.cfg.zone.apex) } " and on. At most " (MAX_LOOKUPS_PER_ACCOUNT) " lookups." }
                form.card #create-lookup method="post" action="/lookups" {
                    (csrf_field(user))
                    (errs.general(&["name", "label", "feeds"]))
                    (text_field(errs, "name", "name", "Name", &f.name, "servers in the DMZ"))
                    (text_field(errs, "label", "label", "DNS label (lower-case letters, digits, '-'; cannot change later)", &f.label, "dmz"))
                    (feed_choices(state, &f.feeds, errs))
                    button type="submit" { "Create lookup" }
                }
            } @else {
                p.muted { "Custom lookups (your choice of feeds) and your own allow and deny lists come with the advanced tier; ask the operator to upgrade this account." }
            }
        },
    )
}

async fn lookups_overview(
    state: &AppState,
    user: &User,
) -> Result<(Published, Vec<Lookup>), ApiError> {
    let own = own_lookups(state, user).await?;
    Ok((Published::of(state, user).await, own))
}

async fn lookups_page(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<DoneQuery>,
) -> Response {
    match lookups_overview(&state, &user).await {
        Ok((published, own)) => lookups_view(
            &state,
            &user,
            &published,
            &own,
            &LookupInput::default(),
            &FormErrors::default(),
            q.done.as_deref(),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_lookup(State(state): State<AppState>, user: User, body: Bytes) -> Response {
    let (f, csrf) = lookup_form(&body);
    if let Err(r) = user.check_csrf(Some(&csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let errs = match parse_lookup(&state, &user, &f, None) {
        Err(errs) => errs,
        Ok(l) => match add_lookup(&state, &user, l).await {
            Ok(l) => {
                return Redirect::to(&format!("/lookups/{}?done=created", l.id)).into_response()
            }
            Err(StoreError::Invalid { field, message }) => {
                let mut errs = FormErrors::default();
                errs.add(field, message);
                errs
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    match lookups_overview(&state, &user).await {
        Ok((published, own)) => (
            StatusCode::BAD_REQUEST,
            lookups_view(&state, &user, &published, &own, &f, &errs, None),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn lookup_view(
    state: &AppState,
    user: &User,
    published: &Published,
    l: &Lookup,
    f: &LookupInput,
    errs: &FormErrors,
    done: Option<&str>,
) -> Markup {
    let list = account_list_name(&user.account.label, &l.label);
    let stale: Vec<&String> = l
        .feeds
        .iter()
        .filter(|id| !feed_title(state, id).1)
        .collect();
    page(
        Some(user),
        &format!("Lookup {}", l.name),
        html! {
            (notice(done))
            (operator_note(user))
            table #lookup {
                tr { th { "DNS label" } td { code { (l.label) } } }
                tr { th { "Feeds" } td { (feed_names(state, &l.feeds)) " + " a href="/lists#deny" { "your deny list" } " − " a href="/lists#allow" { "your allow list" } } }
                tr { th { "Names" } td { (published.cell(state, &list)) } }
                tr { th { "Created" } td { (fmt_time(l.created)) } }
            }
            h2 { "Change" }
            @if !stale.is_empty() {
                p.error { "Some feeds of this lookup are no longer available and add nothing; saving removes them." }
            }
            form.card #edit-lookup method="post" action=(format!("/lookups/{}", l.id)) {
                (csrf_field(user))
                (errs.general(&["name", "feeds"]))
                (text_field(errs, "name", "name", "Name", &f.name, ""))
                (feed_choices(state, &f.feeds, errs))
                button type="submit" { "Save" }
            }
            form method="post" action=(format!("/lookups/{}/delete", l.id)) data-confirm="Delete this lookup? Devices using its names stop getting its addresses within seconds." {
                (csrf_field(user))
                button.danger type="submit" { "Delete lookup" }
            }
        },
    )
}

async fn lookup_page(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Response {
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    match load_lookup(&state, &user, id).await {
        Ok(l) => {
            let published = Published::of(&state, &user).await;
            lookup_view(
                &state,
                &user,
                &published,
                &l,
                &form_of(&l),
                &FormErrors::default(),
                q.done.as_deref(),
            )
            .into_response()
        }
        Err(StoreError::NotFound) => not_found_page(&user, "No such lookup."),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn update_lookup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (f, csrf) = lookup_form(&body);
    if let Err(r) = user.check_csrf(Some(&csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let l = match load_lookup(&state, &user, id).await {
        Ok(l) => l,
        Err(StoreError::NotFound) => return not_found_page(&user, "No such lookup."),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let errs = match parse_lookup(&state, &user, &f, Some(&l.label)) {
        Err(errs) => errs,
        Ok(fields) => match change_lookup(&state, &user, id, fields).await {
            Ok(_) => return Redirect::to(&format!("/lookups/{id}?done=saved")).into_response(),
            Err(StoreError::Invalid { field, message }) => {
                let mut errs = FormErrors::default();
                errs.add(field, message);
                errs
            }
            Err(StoreError::NotFound) => return not_found_page(&user, "No such lookup."),
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let published = Published::of(&state, &user).await;
    (
        StatusCode::BAD_REQUEST,
        lookup_view(&state, &user, &published, &l, &f, &errs, None),
    )
        .into_response()
}

async fn delete_lookup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    if !user.is_advanced() {
        return advanced_page(&user);
    }
    let store = state.store.clone();
    let acct = user.id();
    match blocking(move || store.delete_lookup(acct, id)).await {
        Ok(()) => Redirect::to("/lookups?done=deleted").into_response(),
        Err(StoreError::NotFound) => not_found_page(&user, "No such lookup."),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- JSON API ----

fn api_kind(kind: &str) -> Result<ListKind, ApiError> {
    ListKind::parse(kind).ok_or_else(ApiError::not_found)
}

/// The entries of the allow or deny list (advanced tier).
#[utoipa::path(get, path = "/api/lists/{kind}", tag = "lists",
    params(("kind" = String, Path, description = "`allow` or `deny`")),
    responses((status = 200, body = [ListEntry]), (status = 403, description = "basic tier"), (status = 404)))]
async fn api_entries(
    State(state): State<AppState>,
    user: User,
    Path(kind): Path<String>,
) -> Result<Json<Vec<ListEntry>>, ApiError> {
    need_advanced(&user)?;
    let kind = api_kind(&kind)?;
    let store = state.store.clone();
    let acct = user.id();
    Ok(Json(blocking(move || store.entries(acct, kind)).await?))
}

/// Adds entries: `{"entries": [{"net": "192.0.2.0/24", "comment": "…"}]}`
/// or `{"text": "<lines as in a file import>"}`.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ImportIn {
    pub entries: Vec<EntryIn>,
    /// Import text instead of `entries`: one address or prefix per line,
    /// comments after `#`, `,` or a tab.
    pub text: Option<String>,
}

/// Adds entries to the allow or deny list, all or nothing: when any entry
/// is bad nothing is stored and every bad one is listed (`line` is its
/// position from 1, or its line number in `text`). Entries already on the
/// list keep their comment.
#[utoipa::path(post, path = "/api/lists/{kind}", tag = "lists",
    params(("kind" = String, Path, description = "`allow` or `deny`")),
    request_body = ImportIn,
    responses((status = 200, body = ImportOut), (status = 400, body = ImportRefused, description = "bad entries; nothing stored"), (status = 403), (status = 404)))]
async fn api_import(
    State(state): State<AppState>,
    user: User,
    Path(kind): Path<String>,
    Json(body): Json<ImportIn>,
) -> Response {
    if let Err(e) = need_advanced(&user) {
        return e.into_response();
    }
    let kind = match api_kind(&kind) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let parsed = match (&body.text, body.entries.is_empty()) {
        (Some(_), false) => Err(ImportRefused::whole(
            "give either entries or text, not both",
        )),
        (Some(t), true) => parse_import(kind, t),
        (None, _) => parse_entries(kind, &body.entries),
    };
    match parsed {
        Err(r) => (StatusCode::BAD_REQUEST, Json(r)).into_response(),
        Ok(entries) => match store_entries(&state, &user, kind, entries).await {
            Ok(out) => Json(out).into_response(),
            Err(StoreError::Invalid { message, .. }) => {
                (StatusCode::BAD_REQUEST, Json(ImportRefused::whole(message))).into_response()
            }
            Err(e) => ApiError::from(e).into_response(),
        },
    }
}

/// Removes one entry.
#[utoipa::path(delete, path = "/api/lists/{kind}/{id}", tag = "lists",
    params(("kind" = String, Path, description = "`allow` or `deny`"), ("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn api_delete_entry(
    State(state): State<AppState>,
    user: User,
    Path((kind, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    need_advanced(&user)?;
    let kind = api_kind(&kind)?;
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.delete_entry(acct, kind, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The DNS names of a lookup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NamesOut {
    /// List name below the zone apex, e.g. `deny.k7m2abcdef.acct`.
    pub list: String,
    /// Chunk names that exist: `0.<list>.<zone>` to `capacity-1`.
    pub capacity: u32,
    /// Every chunk name, in order.
    pub names: Vec<String>,
    /// Addresses in the current snapshot (absent: not published yet).
    pub addresses: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BasicLookupOut {
    pub name: String,
    /// Feed ids.
    pub feeds: Vec<String>,
    #[serde(flatten)]
    pub names: NamesOut,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupOut {
    #[serde(flatten)]
    pub lookup: Lookup,
    #[serde(flatten)]
    pub names: NamesOut,
}

/// A feed a custom lookup may use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedOut {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub category: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupsOut {
    pub zone: String,
    /// The operator's lookups, for every account.
    pub basic: Vec<BasicLookupOut>,
    /// The account's allow list as a lookup (advanced tier).
    pub allow: Option<NamesOut>,
    /// The account's deny list as a lookup (advanced tier).
    pub deny: Option<NamesOut>,
    /// The account's custom lookups (advanced tier).
    pub own: Vec<LookupOut>,
    /// Feeds a custom lookup may use (advanced tier).
    pub feeds: Vec<FeedOut>,
}

fn lookup_out(state: &AppState, user: &User, published: &Published, l: Lookup) -> LookupOut {
    let names = published.names(state, &account_list_name(&user.account.label, &l.label));
    LookupOut { lookup: l, names }
}

/// Every lookup the account may use: the basic ones, and for the advanced
/// tier its allow and deny lists and custom lookups.
#[utoipa::path(get, path = "/api/lookups", tag = "lookups", responses((status = 200, body = LookupsOut), (status = 401)))]
async fn api_lookups(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<LookupsOut>, ApiError> {
    let (published, own) = lookups_overview(&state, &user).await?;
    let advanced = user.is_advanced();
    let list_names = |label: &str| {
        advanced.then(|| published.names(&state, &account_list_name(&user.account.label, label)))
    };
    Ok(Json(LookupsOut {
        zone: state.cfg.zone.apex.clone(),
        basic: state
            .cfg
            .lists
            .iter()
            .map(|l| BasicLookupOut {
                name: l.name.clone(),
                feeds: l.feeds.clone(),
                names: published.names(&state, &l.name),
            })
            .collect(),
        allow: list_names(ALLOW_LABEL),
        deny: list_names(DENY_LABEL),
        feeds: if advanced {
            lookup_feeds(&state)
                .map(|f| FeedOut {
                    id: f.id.clone(),
                    name: f.name.clone(),
                    provider: f.provider.clone(),
                    category: f.category.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        own: own
            .into_iter()
            .map(|l| lookup_out(&state, &user, &published, l))
            .collect(),
    }))
}

/// Creates a custom lookup (advanced tier): its feeds plus the deny list
/// minus the allow list, published within seconds.
#[utoipa::path(post, path = "/api/lookups", tag = "lookups", request_body = LookupInput,
    responses((status = 201, body = LookupOut), (status = 400, description = "invalid field: {error, field}"), (status = 403)))]
async fn api_create_lookup(
    State(state): State<AppState>,
    user: User,
    Json(f): Json<LookupInput>,
) -> Result<(StatusCode, Json<LookupOut>), ApiError> {
    need_advanced(&user)?;
    let fields = parse_lookup(&state, &user, &f, None).map_err(ApiError::from)?;
    let l = add_lookup(&state, &user, fields).await?;
    let published = Published::of(&state, &user).await;
    Ok((
        StatusCode::CREATED,
        Json(lookup_out(&state, &user, &published, l)),
    ))
}

/// One custom lookup.
#[utoipa::path(get, path = "/api/lookups/{id}", tag = "lookups", params(("id" = i64, Path)),
    responses((status = 200, body = LookupOut), (status = 403), (status = 404)))]
async fn api_lookup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Json<LookupOut>, ApiError> {
    need_advanced(&user)?;
    let l = load_lookup(&state, &user, id).await?;
    let published = Published::of(&state, &user).await;
    Ok(Json(lookup_out(&state, &user, &published, l)))
}

/// Changes a lookup's name and feeds (its DNS label stays).
#[utoipa::path(put, path = "/api/lookups/{id}", tag = "lookups", params(("id" = i64, Path)), request_body = LookupInput,
    responses((status = 200, body = LookupOut), (status = 400), (status = 403), (status = 404)))]
async fn api_update_lookup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    Json(f): Json<LookupInput>,
) -> Result<Json<LookupOut>, ApiError> {
    need_advanced(&user)?;
    let l = load_lookup(&state, &user, id).await?;
    let fields = parse_lookup(&state, &user, &f, Some(&l.label)).map_err(ApiError::from)?;
    let l = change_lookup(&state, &user, id, fields).await?;
    let published = Published::of(&state, &user).await;
    Ok(Json(lookup_out(&state, &user, &published, l)))
}

/// Deletes a custom lookup.
#[utoipa::path(delete, path = "/api/lookups/{id}", tag = "lookups", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn api_delete_lookup(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    need_advanced(&user)?;
    let store = state.store.clone();
    let acct = user.id();
    blocking(move || store.delete_lookup(acct, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: ListKind, line: &str) -> Option<(String, String)> {
        parse_line(kind, line)
            .unwrap()
            .map(|(n, c)| (n.to_string(), c))
    }

    fn err(kind: ListKind, line: &str) -> String {
        parse_line(kind, line).unwrap_err().message
    }

    #[test]
    fn line_formats() {
        let d = ListKind::Deny;
        assert_eq!(ok(d, "192.0.2.1"), Some(("192.0.2.1/32".into(), "".into())));
        assert_eq!(
            ok(d, "  198.51.100.0/24  # bulletproof hoster "),
            Some(("198.51.100.0/24".into(), "bulletproof hoster".into()))
        );
        assert_eq!(
            ok(d, "198.51.100.0/24#x"),
            Some(("198.51.100.0/24".into(), "x".into()))
        );
        assert_eq!(
            ok(d, "2001:db8::/48,scanner, again"),
            Some(("2001:db8::/48".into(), "scanner, again".into()))
        );
        assert_eq!(
            ok(d, "203.0.113.7,\"quoted, comment\""),
            Some(("203.0.113.7/32".into(), "quoted, comment".into()))
        );
        assert_eq!(
            ok(d, "203.0.113.7\tfrom the SIEM"),
            Some(("203.0.113.7/32".into(), "from the SIEM".into()))
        );
        assert_eq!(
            ok(d, "203.0.113.7 ; old style"),
            Some(("203.0.113.7/32".into(), "old style".into()))
        );
        assert_eq!(
            ok(d, "203.0.113.7 # ticket #12"),
            Some(("203.0.113.7/32".into(), "ticket #12".into()))
        );
        assert_eq!(
            ok(d, "::ffff:192.0.2.9"),
            Some(("192.0.2.9/32".into(), "".into())),
            "IPv4-mapped taken as IPv4"
        );
        assert_eq!(
            ok(d, "203.0.113.7\r"),
            Some(("203.0.113.7/32".into(), "".into())),
            "CRLF"
        );
        for skip in ["", "   ", "\t", "# a comment", "  ; another", "\r"] {
            assert_eq!(ok(d, skip), None, "{skip:?}");
        }
    }

    #[test]
    fn bad_lines_say_why() {
        let d = ListKind::Deny;
        assert!(err(d, "192.0.2.1/24").contains("did you mean 192.0.2.0/24"));
        assert!(err(d, "2001:db8::1/64").contains("did you mean 2001:db8::/64"));
        assert!(err(d, "192.0.2.1/33").contains("too long"));
        assert!(err(d, "192.0.2.1/x").contains("number"));
        assert!(err(d, "192.0.2.300").contains("not an IPv4"));
        assert!(err(d, "example.com").contains("not an IPv4"));
        assert!(err(d, "192.0.2.1-192.0.2.9").contains("ranges"));
        assert!(err(d, "192.0.2.1 192.0.2.2").contains("one address"));
        assert!(err(d, "192.0.2.1 comment without separator").contains("'#'"));
        assert!(err(d, "10.0.0.0/7").contains("too broad"));
        assert!(err(d, "2000::/3").contains("too broad"));
        assert!(err(d, "0.0.0.0/0").contains("too broad"));
        assert!(parse_line(d, "10.0.0.0/8").is_ok());
        assert!(
            parse_line(ListKind::Allow, "10.0.0.0/7").is_ok(),
            "breadth bounds are for deny only"
        );
        let long = format!("192.0.2.1 # {}", "x".repeat(MAX_COMMENT_CHARS + 1));
        let e = parse_line(d, &long).unwrap_err();
        assert_eq!(e.field, "comment");
        assert!(
            parse_line(d, &format!("192.0.2.1 # {}", "é".repeat(MAX_COMMENT_CHARS))).is_ok(),
            "characters, not bytes"
        );
        assert!(parse_line(d, "192.0.2.1\tcomment\twith a tab")
            .unwrap_err()
            .message
            .contains("control"));
        assert!(parse_line(d, "192.0.2.1 # bell\u{7}").is_err());
        let huge = format!("192.0.2.1 # {}", "y".repeat(10 * MAX_LINE_BYTES));
        assert!(err(d, &huge).contains("line too long"));
    }

    #[test]
    fn import_numbers_every_bad_line_and_stores_nothing() {
        let text = "\u{feff}# header\r\n192.0.2.1\r\n\r\n192.0.2.1/24 # typo\r\n198.51.100.0/24, ok\r\nnonsense\r\n";
        let r = parse_import(ListKind::Deny, text).unwrap_err();
        assert_eq!(r.bad_lines, 2);
        assert_eq!(r.lines.iter().map(|l| l.line).collect::<Vec<_>>(), [4, 6]);
        assert_eq!(r.lines[0].text, "192.0.2.1/24 # typo");
        assert!(r.lines[0].error.contains("192.0.2.0/24"));
        assert!(
            r.error.contains("2 bad lines") && r.error.contains("nothing was imported"),
            "{}",
            r.error
        );
        let good = parse_import(
            ListKind::Deny,
            "\u{feff}192.0.2.1\r\n192.0.2.1 # again\n2001:db8::/32\tnet",
        )
        .unwrap();
        assert_eq!(good.len(), 3, "repeats are kept for the store to count");
        assert_eq!(good[2].1, "net");
        // Old Mac line ends.
        assert_eq!(
            parse_import(ListKind::Deny, "192.0.2.1\r192.0.2.2\r")
                .unwrap()
                .len(),
            2
        );
        // A BOM only counts at the start; elsewhere it is a bad line.
        let r = parse_import(ListKind::Deny, "192.0.2.1\n\u{feff}192.0.2.2\n").unwrap_err();
        assert_eq!(r.lines[0].line, 2);
        assert!(parse_import(ListKind::Deny, "# only comments\n\n")
            .unwrap_err()
            .error
            .contains("no addresses"));
    }

    #[test]
    fn import_limits() {
        let huge = format!("192.0.2.1\n{}\n192.0.2.2\n", "z".repeat(1 << 20));
        let r = parse_import(ListKind::Allow, &huge).unwrap_err();
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].line, 2);
        assert!(
            r.lines[0].text.chars().count() <= SHOWN_LINE_CHARS + 1,
            "echo is shortened"
        );
        assert!(r.lines[0].error.contains("line too long"));
        let many = "\n".repeat(MAX_IMPORT_LINES + 1);
        assert!(parse_import(ListKind::Allow, &many)
            .unwrap_err()
            .error
            .contains("at most"));
        // Exactly the limit (trailing newline not counted as a line).
        let at_limit = "192.0.2.1\n".repeat(MAX_IMPORT_LINES);
        assert_eq!(
            parse_import(ListKind::Allow, &at_limit).unwrap().len(),
            MAX_IMPORT_LINES
        );
        // Many bad lines: the report is capped, the count is not.
        let bad = "x\n".repeat(MAX_REPORTED_LINES + 5);
        let r = parse_import(ListKind::Allow, &bad).unwrap_err();
        assert_eq!(r.lines.len(), MAX_REPORTED_LINES);
        assert_eq!(r.bad_lines, MAX_REPORTED_LINES + 5);
        // Control characters are not echoed raw.
        let r = parse_import(ListKind::Allow, "\u{1b}[31mred").unwrap_err();
        assert!(!r.lines[0].text.contains('\u{1b}'));
    }

    #[test]
    fn uploads_must_be_utf8() {
        assert_eq!(import_text(b"192.0.2.1\n").unwrap(), "192.0.2.1\n");
        let e = import_text(b"192.0.2.1\n192.0.2.2 # caf\xe9\n").unwrap_err();
        assert!(e.error.contains("line 2"), "{}", e.error);
    }

    #[test]
    fn api_entries_are_numbered_by_position() {
        let entries = vec![
            EntryIn {
                net: "192.0.2.1".into(),
                comment: "a".into(),
            },
            EntryIn {
                net: "192.0.2.1/24".into(),
                comment: String::new(),
            },
            EntryIn {
                net: "192.0.2.3".into(),
                comment: "line\nbreak".into(),
            },
        ];
        let r = parse_entries(ListKind::Deny, &entries).unwrap_err();
        assert_eq!(r.lines.iter().map(|l| l.line).collect::<Vec<_>>(), [2, 3]);
        assert!(r.lines[1].error.starts_with("comment:"));
        assert!(r.error.contains("2 bad entries"), "{}", r.error);
        assert_eq!(
            parse_entries(ListKind::Deny, &entries[..1]).unwrap().len(),
            1
        );
    }

    #[test]
    fn export_imports_back_unchanged() {
        let entries: Vec<ListEntry> = [("192.0.2.0/24", "a # b, c"), ("2001:db8::1/128", "")]
            .iter()
            .enumerate()
            .map(|(i, (n, c))| ListEntry {
                id: i as i64,
                kind: ListKind::Deny,
                net: n.parse().unwrap(),
                comment: c.to_string(),
                created: 0,
            })
            .collect();
        let text = export_text(ListKind::Deny, &entries);
        let back = parse_import(ListKind::Deny, &text).unwrap();
        assert_eq!(
            back,
            entries
                .iter()
                .map(|e| (e.net, e.comment.clone()))
                .collect::<Vec<_>>()
        );
    }
}
