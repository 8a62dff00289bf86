//! Page layout and form helpers (maud: every interpolation is escaped).

use std::collections::BTreeMap;

use maud::{html, Markup, DOCTYPE};

use super::auth::User;

/// A form that carries only its CSRF token (delete and action buttons).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// `?done=...` after a redirect (see [`notice`]).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// The page frame: navigation for the signed-in account, the body.
pub fn page(user: Option<&User>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — feedwall" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "feedwall" }
                    @if let Some(u) = user {
                        nav {
                            a href="/devices" { "Devices" }
                            a href="/lookups" { "Lookups" }
                            @if u.is_advanced() {
                                a href="/lists" { "Allow / deny" }
                            }
                            a href="/logs" { "Logs" }
                            a href="/reports" { "Reports" }
                            a href="/check-ip" { "Check IP" }
                            @if u.is_operator() {
                                a href="/operator" { "Operator" }
                            }
                            a href="/account" { "Account" }
                            form.inline method="post" action="/logout" {
                                (csrf_field(u))
                                button.link type="submit" { "Log out" }
                            }
                        }
                        span.who { (u.account.email) " · " (u.account.tier.as_str()) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page for errors shown without a session.
pub fn error_page(title: &str, message: &str) -> Markup {
    page(
        None,
        title,
        html! { p.error { (message) } p { a href="/" { "Back" } } },
    )
}

/// The hidden CSRF field of a form.
pub fn csrf_field(user: &User) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf()); }
}

/// Per-field error messages of a submitted form.
#[derive(Debug, Default, Clone)]
pub struct FormErrors(pub BTreeMap<&'static str, String>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The message next to a field (empty when none).
    pub fn at(&self, field: &str) -> Markup {
        html! {
            @if let Some(m) = self.0.get(field) {
                span.field-error role="alert" data-field=(field) { (m) }
            }
        }
    }
    /// Errors not tied to a shown field.
    pub fn general(&self, shown: &[&str]) -> Markup {
        html! {
            @for (f, m) in &self.0 {
                @if !shown.contains(f) {
                    p.error role="alert" data-field=(f) { (m) }
                }
            }
        }
    }
}

/// A labelled text input with its error.
pub fn input(
    errs: &FormErrors,
    name: &'static str,
    label: &str,
    value: &str,
    kind: &str,
    extra: Option<&str>,
) -> Markup {
    html! {
        label for=(name) { (label) }
        input id=(name) name=(name) type=(kind) value=(value) aria-invalid=[errs.0.get(name).map(|_| "true")] placeholder=[extra];
        (errs.at(name))
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn fmt_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A short notice shown after a redirect (`?done=...`), from a fixed set:
/// never echoes the query string.
pub fn notice(done: Option<&str>) -> Markup {
    let text = match done {
        Some("added") => "Added.",
        Some("saved") => "Saved.",
        Some("deleted") => "Deleted.",
        Some("imported") => "Imported.",
        Some("password") => "Password changed.",
        Some("created") => "Created.",
        Some("accepted") => "Accepted.",
        Some("rejected") => "Rejected.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}
