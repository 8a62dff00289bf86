//! The admin plane: accounts, devices, allow/deny lists, custom lookups,
//! Check IP, feed health and metrics, as server-rendered HTML pages and a
//! JSON API (`/api/`, described by `/api/openapi.json`), over TLS.
//!
//! It runs inside the control process (`feedwall control`), beside the
//! sidecar: a change to devices, lists or lookups is written to the admin
//! database ([`store`]) and wakes the sidecar, which publishes a new
//! snapshot within a second or so.
//!
//! Every page handler takes the authenticated [`auth::User`] (or
//! [`auth::Operator`]) as an extractor, so a route without one is public
//! by construction; the public routes are listed in [`PUBLIC_ROUTES`] and a
//! test walks every other route without credentials.

pub mod appliance;
pub mod auth;
pub mod devices;
pub mod html;
pub mod lists;
pub mod logs_upload;
pub mod operator;
pub mod prom;
pub mod publish;
pub mod reports;
pub mod session_pages;
pub mod setup;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use store::{Role, Store, StoreError, Tier};

/// File names in the data directory.
pub const DB_FILE: &str = "admin.sqlite";
/// The one-time operator password of a first start (removed once changed).
pub const FIRST_PASSWORD_FILE: &str = "operator-password.txt";

/// The admin page's URL once it listens (for scripts and tests that ask
/// for port 0).
pub const URL_FILE: &str = "admin-url";

/// Routes reachable without logging in.
pub const PUBLIC_ROUTES: &[&str] = &[
    "/login",
    "/signup",
    "/static/app.css",
    "/static/app.js",
    "/checkin/{token}",
    // Authenticated by a device's log token, not a login (like check-in).
    "/api/logs",
    "/api/openapi.json",
    "/healthz",
];

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub cfg: Arc<Config>,
    pub throttle: Arc<auth::Throttle>,
    /// Cookies get `Secure` (served over TLS).
    pub secure: bool,
    pub data_dir: PathBuf,
    /// The address the server is bound to (the configured one may say port 0).
    pub bound: SocketAddr,
    /// Firewall log intake and the log archive (None: `[logs] enabled = false`).
    pub logs: Option<crate::logs::service::LogService>,
}

impl AppState {
    pub fn new(store: Store, cfg: Arc<Config>) -> AppState {
        AppState {
            store,
            bound: cfg.admin.listen,
            secure: cfg.admin.tls,
            data_dir: cfg.data_dir.clone(),
            cfg,
            throttle: Arc::new(auth::Throttle::default()),
            logs: None,
        }
    }

    /// Device prefixes of the configuration file (not available to accounts).
    pub fn reserved_prefixes(&self) -> Vec<ipnet::IpNet> {
        self.cfg
            .devices
            .iter()
            .flat_map(|d| d.prefixes.iter().copied())
            .collect()
    }

    /// This machine's own addresses (no loopback), for pages that would
    /// otherwise show a wildcard listen address.
    pub fn machine_ips(&self) -> Vec<std::net::IpAddr> {
        crate::appliance::console::machine_addresses()
            .into_iter()
            .map(|i| i.addr)
            .collect()
    }

    /// Base URL of the admin page, for links shown to users. Without
    /// `public_url`, the bound address, or for a wildcard one (the
    /// appliance binds 0.0.0.0:443) the machine's first own address.
    pub fn base_url(&self) -> String {
        let scheme = if self.cfg.admin.tls { "https" } else { "http" };
        match &self.cfg.admin.public_url {
            Some(u) => u.clone(),
            None => {
                let addr = setup::reachable(&[self.bound], &self.machine_ips())[0];
                let default_port = if self.cfg.admin.tls { 443 } else { 80 };
                match (addr, addr.port() == default_port) {
                    (std::net::SocketAddr::V4(a), true) => format!("{scheme}://{}", a.ip()),
                    (std::net::SocketAddr::V6(a), true) => format!("{scheme}://[{}]", a.ip()),
                    (a, false) => format!("{scheme}://{a}"),
                }
            }
        }
    }
}

/// A plausible e-mail address: one `@`, a dot in the domain, no spaces or
/// control characters, at most 254 characters.
pub fn valid_email(s: &str) -> bool {
    let s = s.trim();
    if s.len() > 254
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"'".contains(c))
    {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        }
        None => false,
    }
}

/// An error as the API returns it: `{"error": "...", "field": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn bad(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field),
        }
    }
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: "not found".into(),
            field: None,
        }
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            field: None,
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "admin request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error (see the control process log)".into(),
            field: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Invalid { field, message } => ApiError::bad(field, message),
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Db(e) => ApiError::internal(e),
        }
    }
}

/// A rejected form as an API error: its first field and message.
impl From<html::FormErrors> for ApiError {
    fn from(errs: html::FormErrors) -> ApiError {
        let (field, message) = errs
            .0
            .into_iter()
            .next()
            .unwrap_or(("request", "invalid".into()));
        ApiError::bad(field, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        (self.status, Json(body)).into_response()
    }
}

/// Runs blocking store work (SQLite, argon2) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StoreError::invalid(
            "request",
            format!("worker failed: {e}"),
        ))
    })
}

/// The OpenAPI document's frame; paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "feedwall admin API",
        description = "Accounts, devices, allow/deny lists, custom lookups, Check IP and feed health of a feedwall appliance. Authenticate with `Authorization: Bearer <token>` (create tokens on the Account page); browser sessions must send `X-CSRF-Token` on changes."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole application: pages, API, static files, security headers.
pub fn app(state: AppState) -> axum::Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session_pages::routes())
        .merge(devices::routes())
        .merge(logs_upload::routes(&state.cfg.logs))
        .merge(lists::routes())
        .merge(operator::routes())
        .merge(reports::routes())
        .merge(appliance::routes(&state.cfg))
        .split_for_parts();
    let api = Arc::new(api);
    let limit = state.cfg.admin.max_upload as usize;
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route("/static/app.css", axum::routing::get(static_css))
        .route("/static/app.js", axum::routing::get(static_js))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                html::error_page("Not found", "There is no such page."),
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(h, "strict-transport-security", "max-age=31536000");
    res
}

async fn static_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/app.css"),
    )
}

async fn static_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/app.js"),
    )
}

/// Creates the operator account on first start and prints its one-time
/// password (also kept in [`FIRST_PASSWORD_FILE`], mode 0600, until it is
/// changed). Returns the password when one was created.
pub fn ensure_operator(store: &Store, cfg: &Config) -> anyhow::Result<Option<String>> {
    if store.has_operator()? {
        return Ok(None);
    }
    let password = format!(
        "{}-{}",
        &store::random_token()[..12],
        &store::random_token()[..12]
    );
    let hash = auth::hash_password(&password);
    store.create_account(
        &cfg.admin.operator_email,
        &hash,
        Role::Operator,
        Tier::Advanced,
        true,
    )?;
    let path = cfg.data_dir.join(FIRST_PASSWORD_FILE);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(f, "{} {}", cfg.admin.operator_email, password)?;
    }
    Ok(Some(password))
}

/// A running admin server.
pub struct AdminServer {
    pub addr: SocketAddr,
    pub handle: axum_server::Handle<SocketAddr>,
}

/// Opens the database, makes sure an operator exists, sets up TLS and
/// starts serving on `cfg.admin.listen` (port 0 picks a free port; the
/// bound address is returned and printed).
pub async fn start(
    cfg: Arc<Config>,
    store: Store,
    logs: Option<crate::logs::service::LogService>,
) -> anyhow::Result<AdminServer> {
    if let Some(pw) = ensure_operator(&store, &cfg)? {
        eprintln!(
            "feedwall admin: first start — operator account {} with one-time password {pw} (also in {}); change it at first login",
            cfg.admin.operator_email,
            cfg.data_dir.join(FIRST_PASSWORD_FILE).display()
        );
    }
    let listener = std::net::TcpListener::bind(cfg.admin.listen)
        .with_context(|| format!("cannot listen on {} for the admin page", cfg.admin.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(store, cfg.clone());
    state.bound = addr;
    state.logs = logs;
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let url = format!("{}://{addr}/", if cfg.admin.tls { "https" } else { "http" });
    crate::snapshot::write_atomic_file(&cfg.data_dir.join(URL_FILE), url.as_bytes())?;
    if cfg.admin.tls {
        let (rustls_cfg, fingerprint) = tls::server_config(&cfg)?;
        eprintln!("feedwall admin: https://{addr}/ (TLS certificate SHA-256 {fingerprint})");
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(rustls_cfg)),
        )?
        .handle(handle.clone());
        tokio::spawn(async move {
            if let Err(e) = server.serve(app).await {
                tracing::error!(error = %e, "admin server stopped");
            }
        });
    } else {
        eprintln!("feedwall admin: http://{addr}/ (plain HTTP: [admin] tls = false)");
        let server = axum_server::from_tcp(listener)?.handle(handle.clone());
        tokio::spawn(async move {
            if let Err(e) = server.serve(app).await {
                tracing::error!(error = %e, "admin server stopped");
            }
        });
    }
    Ok(AdminServer { addr, handle })
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails() {
        assert!(super::valid_email("a@example.com"));
        assert!(!super::valid_email("a@example"));
        assert!(!super::valid_email("a b@example.com"));
        assert!(!super::valid_email("<script>@x.com"));
        assert!(!super::valid_email("a@@x.com"));
    }
}
