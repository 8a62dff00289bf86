//! Authentication: argon2id password hashes, password strength, sessions
//! in cookies, API tokens, CSRF tokens and login throttling.
//!
//! A request is authenticated either by the session cookie (browsers) or by
//! `Authorization: Bearer fw_...` (scripts). Every state-changing request
//! made with a cookie must carry the session's CSRF token (form field
//! `csrf` or header `X-CSRF-Token`); token requests need none, since a
//! browser never adds the header by itself. Login and sign-up forms, made
//! before a session exists, use a double-submit cookie instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::store::{Account, Role, Tier};
use super::AppState;

/// Session cookie name.
pub const SESSION_COOKIE: &str = "fw_session";
/// Double-submit cookie for forms shown before login.
pub const PRELOGIN_COOKIE: &str = "fw_prelogin";
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (argon2 input is bounded; so is abuse).
pub const MAX_PASSWORD_LEN: usize = 256;
/// Failed logins allowed per e-mail or per client address in the window.
pub const LOGIN_FAILURES_ALLOWED: u32 = 5;
/// Throttling window.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Hashes a password with argon2id (the crate's defaults: m=19 MiB, t=2,
/// p=1, per OWASP) and a random salt. CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing cannot fail with default parameters")
        .to_string()
}

/// Checks a password against a PHC hash. CPU-heavy, like hashing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match argon2::password_hash::phc::PasswordHash::new(hash) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash that verifies nothing, used to spend the same time on unknown
/// e-mails as on known ones.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("feedwall-dummy-password-never-valid"))
}

/// Passwords too common to allow whatever their length.
const COMMON: &[&str] = &[
    "password", "123456", "qwerty", "letmein", "welcome", "admin", "iloveyou", "monkey", "dragon",
    "feedwall", "firewall", "changeme", "abc123", "111111", "passw0rd",
];

/// Why a password is too weak, or `None` when it is acceptable: at least
/// 12 characters, at least three kinds of character (lower, upper, digit,
/// other) unless it is 20 characters or longer (a passphrase), at least 6
/// distinct characters, not built on a common password or the e-mail.
pub fn password_problem(password: &str, email: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Some(format!("use at least {MIN_PASSWORD_LEN} characters"));
    }
    if n > MAX_PASSWORD_LEN {
        return Some(format!("use at most {MAX_PASSWORD_LEN} characters"));
    }
    let kinds = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|&&k| k)
    .count();
    if kinds < 3 && n < 20 {
        return Some(
            "mix at least three of: lower case, upper case, digits, symbols (or use a passphrase of 20+ characters)"
                .into(),
        );
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 6 {
        return Some("use more different characters".into());
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 3 && lower.contains(&local) {
        return Some("do not build the password on your e-mail address".into());
    }
    for c in COMMON {
        let stripped: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        if stripped.len() <= c.len() + 4 && stripped.contains(c) {
            return Some("this password is too common".into());
        }
    }
    None
}

/// Failed-login counters per e-mail and per client address.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Counter keys: the e-mail (when given) and the client address.
    fn keys(email: &str, ip: IpAddr) -> Vec<String> {
        let email = email.trim().to_ascii_lowercase();
        let mut k = vec![format!("i:{ip}")];
        if !email.is_empty() {
            k.push(format!("e:{email}"));
        }
        k
    }

    /// Seconds to wait before another attempt is allowed, if throttled.
    pub fn blocked(&self, email: &str, ip: IpAddr) -> Option<u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        Self::keys(email, ip)
            .iter()
            .filter_map(|k| map.get(k))
            .filter(|(n, since)| {
                *n >= LOGIN_FAILURES_ALLOWED && now.duration_since(*since) < LOGIN_WINDOW
            })
            .map(|(_, since)| (LOGIN_WINDOW - now.duration_since(*since)).as_secs().max(1))
            .max()
    }

    pub fn fail(&self, email: &str, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < LOGIN_WINDOW);
        }
        for k in Self::keys(email, ip) {
            let e = map.entry(k).or_insert((0, now));
            if now.duration_since(e.1) >= LOGIN_WINDOW {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    pub fn succeed(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("e:{}", email.trim().to_ascii_lowercase()));
    }
}

/// Reads one cookie from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            let part = part.trim();
            if let Some(val) = part.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some(val.to_string());
            }
        }
    }
    None
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// How a request was authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// Browser session; `csrf` must accompany state changes.
    Session { token: String, csrf: String },
    /// `Authorization: Bearer` API token.
    Token,
}

/// The authenticated account of a request. Extracting it fails with a
/// redirect to the login page (HTML) or 401 (API) when there is none.
#[derive(Debug, Clone)]
pub struct User {
    pub account: Account,
    pub via: Via,
}

impl User {
    pub fn id(&self) -> i64 {
        self.account.id
    }
    pub fn is_operator(&self) -> bool {
        self.account.role == Role::Operator
    }
    pub fn is_advanced(&self) -> bool {
        self.account.role == Role::Operator || self.account.tier == Tier::Advanced
    }
    /// The CSRF token to embed in forms ("" for token requests).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }
    /// Checks the CSRF token of a cookie-authenticated state change.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Rejection> {
        match &self.via {
            Via::Token => Ok(()),
            Via::Session { csrf, .. } => match given {
                Some(g) if same_token(g, csrf) => Ok(()),
                _ => Err(Rejection::Csrf),
            },
        }
    }
}

/// Why a request was refused before reaching its handler.
#[derive(Debug)]
pub enum Rejection {
    /// No or expired session on a page: go to the login page.
    Login,
    /// No or bad credentials on the API.
    Unauthorized,
    /// Missing or wrong CSRF token.
    Csrf,
    /// Authenticated, but not allowed (wrong role or tier).
    Forbidden(&'static str),
    /// A session whose password must be changed first.
    MustChangePassword,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Login => Redirect::to("/login").into_response(),
            Rejection::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"error": "authentication required"})),
            )
                .into_response(),
            Rejection::Csrf => (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({"error": "missing or invalid CSRF token; reload the page and try again"})),
            )
                .into_response(),
            Rejection::Forbidden(why) => {
                (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({"error": why}))).into_response()
            }
            Rejection::MustChangePassword => Redirect::to("/account?must_change=1").into_response(),
        }
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/") || parts.uri.path() == "/metrics";
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let secret = auth
                .to_str()
                .ok()
                .and_then(|s| s.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(Rejection::Unauthorized)?;
            let store = state.store.clone();
            let secret = secret.to_string();
            let account = tokio::task::spawn_blocking(move || store.token_account(&secret))
                .await
                .map_err(|_| Rejection::Unauthorized)?
                .map_err(|_| Rejection::Unauthorized)?
                .ok_or(Rejection::Unauthorized)?;
            return Ok(User {
                account,
                via: Via::Token,
            });
        }
        let missing = if api {
            Rejection::Unauthorized
        } else {
            Rejection::Login
        };
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(missing)?;
        let store = state.store.clone();
        let t = token.clone();
        let session = tokio::task::spawn_blocking(move || store.session(&t))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
            .ok_or(if api {
                Rejection::Unauthorized
            } else {
                Rejection::Login
            })?;
        let user = User {
            account: session.account,
            via: Via::Session {
                token,
                csrf: session.csrf,
            },
        };
        // A session must carry its CSRF token on every state change, API
        // routes included (forms are checked by their handlers, which read
        // the field from the body).
        if api && parts.method != Method::GET && parts.method != Method::HEAD {
            let given = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            user.check_csrf(given)?;
        }
        let path = parts.uri.path();
        if user.account.must_change_password
            && !path.starts_with("/account")
            && path != "/logout"
            && !api
        {
            return Err(Rejection::MustChangePassword);
        }
        Ok(user)
    }
}

/// An operator, or a refusal.
pub struct Operator(pub User);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let u = User::from_request_parts(parts, state).await?;
        if !u.is_operator() {
            return Err(Rejection::Forbidden("operator only"));
        }
        Ok(Operator(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_passwords_only() {
        assert!(password_problem("short1A!", "a@b.c").is_some());
        assert!(password_problem("alllowercaseletters", "a@b.c").is_some());
        assert!(
            password_problem("Password1234!", "a@b.c").is_some(),
            "common base"
        );
        assert!(password_problem("Aliceliddell#2026", "aliceliddell@example.com").is_some());
        assert!(
            password_problem("aaaaAAAA1111!!!!", "a@b.c").is_some(),
            "few distinct"
        );
        assert!(password_problem("Tr0ub4dor&3-horse", "a@b.c").is_none());
        assert!(password_problem("correct horse battery staple", "a@b.c").is_none());
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("Tr0ub4dor&3-horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("Tr0ub4dor&3-horse", &h));
        assert!(!verify_password("Tr0ub4dor&3-horsf", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn throttle_blocks_after_failures() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..LOGIN_FAILURES_ALLOWED {
            assert!(t.blocked("a@b.c", ip).is_none());
            t.fail("a@b.c", ip);
        }
        assert!(t.blocked("a@b.c", ip).is_some());
        assert!(t.blocked("other@b.c", ip).is_some(), "same address");
        assert!(
            t.blocked("a@b.c", "192.0.2.2".parse().unwrap()).is_some(),
            "same e-mail"
        );
        assert!(t.blocked("z@b.c", "192.0.2.3".parse().unwrap()).is_none());
        // Address-only failures (sign-ups) never block by e-mail.
        let t = Throttle::default();
        for _ in 0..LOGIN_FAILURES_ALLOWED {
            t.fail("", ip);
        }
        assert!(t.blocked("", ip).is_some());
        assert!(t.blocked("", "192.0.2.9".parse().unwrap()).is_none());
    }

    #[test]
    fn cookies_parse_and_set() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; fw_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, "fw_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "fw_sess"), None);
        let c = set_cookie("x", "y", Some(5), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
    }
}
