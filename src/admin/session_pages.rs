//! Login, sign-up, logout, the account page (password change, API tokens,
//! DShield user id).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{html, Markup};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, User, Via};
use super::html::{csrf_field, input, notice, page, CsrfOnly, FormErrors};
use super::store::{Account, ApiToken, Role};
use super::{blocking, valid_email, ApiError, AppState};
use crate::config::Signup;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/", axum::routing::get(home))
        .route("/login", axum::routing::get(login_page).post(login))
        .route("/signup", axum::routing::get(signup_page).post(signup))
        .route("/logout", axum::routing::post(logout))
        .route("/account", axum::routing::get(account_page))
        .route("/account/password", axum::routing::post(change_password))
        .route("/account/tokens", axum::routing::post(create_token))
        .route("/account/dshield", axum::routing::post(set_dshield))
        .route(
            "/account/tokens/{id}/delete",
            axum::routing::post(delete_token),
        )
        .routes(routes!(api_account))
        .routes(routes!(api_password))
        .routes(routes!(api_tokens, api_create_token))
        .routes(routes!(api_delete_token))
        .routes(routes!(api_dshield, api_set_dshield))
}

async fn home(user: Result<User, auth::Rejection>) -> Redirect {
    match user {
        Ok(_) => Redirect::to("/devices"),
        Err(_) => Redirect::to("/login"),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
}

/// A fresh pre-login token, set as a cookie and embedded in the form.
fn prelogin(state: &AppState) -> (String, String) {
    let t = super::store::random_token();
    let c = auth::set_cookie(auth::PRELOGIN_COOKIE, &t, Some(3600), state.secure);
    (t, c)
}

fn login_form(token: &str, email: &str, errs: &FormErrors, signup_open: bool) -> Markup {
    page(
        None,
        "Log in",
        html! {
            form.card method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                (errs.general(&["email", "password"]))
                (input(errs, "email", "E-mail", email, "email", None))
                (input(errs, "password", "Password", "", "password", None))
                button type="submit" { "Log in" }
            }
            @if signup_open {
                p { "No account yet? " a href="/signup" { "Sign up" } "." }
            }
        },
    )
}

async fn login_page(State(state): State<AppState>) -> Response {
    let (t, c) = prelogin(&state);
    (
        [(header::SET_COOKIE, c)],
        login_form(
            &t,
            "",
            &FormErrors::default(),
            state.cfg.admin.signup == Signup::Open,
        ),
    )
        .into_response()
}

fn prelogin_ok(headers: &HeaderMap, given: &str) -> bool {
    match auth::cookie(headers, auth::PRELOGIN_COOKIE) {
        Some(c) => !given.is_empty() && auth::same_token(&c, given),
        None => false,
    }
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !prelogin_ok(&headers, &f.csrf) {
        return auth::Rejection::Csrf.into_response();
    }
    let open = state.cfg.admin.signup == Signup::Open;
    let mut errs = FormErrors::default();
    if let Some(wait) = state.throttle.blocked(&f.email, peer.ip()) {
        errs.add(
            "password",
            format!(
                "too many failed attempts; try again in {} minutes",
                wait.div_ceil(60)
            ),
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            login_form(&f.csrf, &f.email, &errs, open),
        )
            .into_response();
    }
    let store = state.store.clone();
    let (email, password) = (f.email.clone(), f.password.clone());
    let found = blocking(move || {
        let row = if password.len() <= auth::MAX_PASSWORD_LEN {
            store.account_by_email(&email)?
        } else {
            None
        };
        Ok(match row {
            Some((a, hash)) => auth::verify_password(&password, &hash).then_some(a),
            None => {
                // Same work for unknown e-mails: no timing oracle.
                let _ = auth::verify_password(&password, auth::dummy_hash());
                None
            }
        })
    })
    .await;
    let account = match found {
        Ok(Some(a)) => a,
        Ok(None) => {
            state.throttle.fail(&f.email, peer.ip());
            errs.add("password", "wrong e-mail or password");
            return (
                StatusCode::UNAUTHORIZED,
                login_form(&f.csrf, &f.email, &errs, open),
            )
                .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    state.throttle.succeed(&f.email);
    start_session(&state, &account).await
}

async fn start_session(state: &AppState, account: &Account) -> Response {
    let store = state.store.clone();
    let id = account.id;
    let ttl = state.cfg.admin.session_ttl.as_secs() as i64;
    match blocking(move || store.create_session(id, ttl)).await {
        Ok((token, _)) => {
            let cookie =
                auth::set_cookie(auth::SESSION_COOKIE, &token, Some(ttl as u64), state.secure);
            let clear = auth::set_cookie(auth::PRELOGIN_COOKIE, "", Some(0), state.secure);
            let to = if account.must_change_password {
                "/account?must_change=1"
            } else {
                "/devices"
            };
            let mut res = Redirect::to(to).into_response();
            res.headers_mut()
                .append(header::SET_COOKIE, cookie.parse().expect("cookie"));
            res.headers_mut()
                .append(header::SET_COOKIE, clear.parse().expect("cookie"));
            res
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    email: String,
    password: String,
    confirm: String,
    csrf: String,
}

fn signup_form(token: &str, email: &str, errs: &FormErrors) -> Markup {
    page(
        None,
        "Sign up",
        html! {
            form.card method="post" action="/signup" {
                input type="hidden" name="csrf" value=(token);
                (errs.general(&["email", "password", "confirm"]))
                (input(errs, "email", "E-mail (your user id)", email, "email", None))
                (input(errs, "password", "Password (12+ characters, mixed)", "", "password", None))
                (input(errs, "confirm", "Password again", "", "password", None))
                button type="submit" { "Create account" }
            }
            p { "Have an account? " a href="/login" { "Log in" } "." }
        },
    )
}

async fn signup_page(State(state): State<AppState>) -> Response {
    if state.cfg.admin.signup != Signup::Open {
        return (
            StatusCode::FORBIDDEN,
            super::html::error_page(
                "Sign-up is closed",
                "Accounts are created by the operator of this appliance.",
            ),
        )
            .into_response();
    }
    let (t, c) = prelogin(&state);
    (
        [(header::SET_COOKIE, c)],
        signup_form(&t, "", &FormErrors::default()),
    )
        .into_response()
}

/// Validates a new account's e-mail and password.
pub fn check_new_account(email: &str, password: &str, confirm: &str) -> FormErrors {
    let mut errs = FormErrors::default();
    if !valid_email(email) {
        errs.add("email", "enter an e-mail address such as name@example.com");
    }
    if let Some(p) = auth::password_problem(password, email) {
        errs.add("password", p);
    }
    if password != confirm {
        errs.add("confirm", "the two passwords differ");
    }
    errs
}

async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignupForm>,
) -> Response {
    if state.cfg.admin.signup != Signup::Open {
        return (
            StatusCode::FORBIDDEN,
            super::html::error_page(
                "Sign-up is closed",
                "Accounts are created by the operator of this appliance.",
            ),
        )
            .into_response();
    }
    if !prelogin_ok(&headers, &f.csrf) {
        return auth::Rejection::Csrf.into_response();
    }
    // Sign-ups count against the same throttle as failed logins.
    if let Some(wait) = state.throttle.blocked("", peer.ip()) {
        let mut errs = FormErrors::default();
        errs.add(
            "email",
            format!(
                "too many attempts from your address; try again in {} minutes",
                wait.div_ceil(60)
            ),
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            signup_form(&f.csrf, &f.email, &errs),
        )
            .into_response();
    }
    let mut errs = check_new_account(&f.email, &f.password, &f.confirm);
    if !errs.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            signup_form(&f.csrf, &f.email, &errs),
        )
            .into_response();
    }
    let store = state.store.clone();
    let (email, password) = (f.email.clone(), f.password.clone());
    let tier = state.cfg.admin.signup_tier;
    let r = blocking(move || {
        let hash = auth::hash_password(&password);
        store.create_account(&email, &hash, Role::Subscriber, tier, false)
    })
    .await;
    match r {
        Ok(a) => start_session(&state, &a).await,
        Err(super::store::StoreError::Invalid { field, message }) => {
            state.throttle.fail("", peer.ip());
            errs.add(field, message);
            (
                StatusCode::BAD_REQUEST,
                signup_form(&f.csrf, &f.email, &errs),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn logout(State(state): State<AppState>, user: User, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    if let Via::Session { token, .. } = &user.via {
        let store = state.store.clone();
        let t = token.clone();
        let _ = blocking(move || store.end_session(&t)).await;
    }
    let clear = auth::set_cookie(auth::SESSION_COOKIE, "", Some(0), state.secure);
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountQuery {
    must_change: Option<String>,
    done: Option<String>,
}

/// The account's DShield settings, as the page shows them.
struct DshieldView {
    userid: Option<u64>,
    /// The operator turned submission on (`[dshield] enabled`).
    enabled: bool,
}

fn account_view(
    user: &User,
    tokens: &[ApiToken],
    dshield: &DshieldView,
    errs: &FormErrors,
    new_token: Option<&str>,
    q: &AccountQuery,
) -> Markup {
    let a = &user.account;
    let userid = dshield.userid.map(|u| u.to_string()).unwrap_or_default();
    page(
        Some(user),
        "Account",
        html! {
            (notice(q.done.as_deref()))
            @if a.must_change_password {
                p.error role="alert" { "This is a one-time password: choose your own before going on." }
            }
            table {
                tr { th { "E-mail" } td { (a.email) } }
                tr { th { "Role" } td { (format!("{:?}", a.role).to_lowercase()) } }
                tr { th { "Tier" } td { (a.tier.as_str()) } }
            }
            h2 { "Change password" }
            form.card method="post" action="/account/password" {
                (csrf_field(user))
                (errs.general(&["current", "password", "confirm", "name"]))
                (input(errs, "current", "Current password", "", "password", None))
                (input(errs, "password", "New password", "", "password", None))
                (input(errs, "confirm", "New password again", "", "password", None))
                button type="submit" { "Change password" }
            }
            h2 { "API tokens" }
            p.muted { "For scripts: send " code { "Authorization: Bearer <token>" } " to the JSON API under " code { "/api/" } " (" a href="/api/openapi.json" { "OpenAPI document" } ")." }
            @if let Some(t) = new_token {
                p.notice { "New token (shown once, copy it now): " code #new-token { (t) } }
            }
            @if !tokens.is_empty() {
                table {
                    tr { th { "Name" } th { "Created" } th { "Last used" } th {} }
                    @for t in tokens {
                        tr {
                            td { (t.name) }
                            td { (super::html::fmt_time(t.created)) }
                            td { (t.last_used.map(super::html::fmt_time).unwrap_or_else(|| "never".into())) }
                            td {
                                form.inline method="post" action=(format!("/account/tokens/{}/delete", t.id)) data-confirm="Revoke this token?" {
                                    (csrf_field(user))
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            form.card method="post" action="/account/tokens" {
                (csrf_field(user))
                (input(errs, "name", "Token name", "", "text", Some("cron on fw1")))
                button type="submit" { "Create token" }
            }
            h2 { "DShield" }
            p.muted {
                @if dshield.enabled {
                    "This appliance gives the connections your firewalls blocked back to "
                } @else {
                    "When the operator turns it on, this appliance gives the connections your firewalls blocked back to "
                }
                a href="https://isc.sans.edu/" { "DShield" }
                " (SANS Internet Storm Center): with your DShield user id they are submitted under it; without one, anonymously with other accounts' entries. Target addresses are masked to their network."
            }
            form.card method="post" action="/account/dshield" {
                (csrf_field(user))
                (input(errs, "userid", "DShield user id (empty: anonymous)", &userid, "text", Some("123456789")))
                button type="submit" { "Save" }
            }
        },
    )
}

async fn account_page(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<AccountQuery>,
) -> Response {
    let _ = &q.must_change;
    match account_extras(&state, user.id()).await {
        Ok((tokens, dshield)) => {
            account_view(&user, &tokens, &dshield, &FormErrors::default(), None, &q).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// What the account page shows besides the account: its API tokens and
/// DShield settings.
async fn account_extras(
    state: &AppState,
    id: i64,
) -> Result<(Vec<ApiToken>, DshieldView), super::store::StoreError> {
    let store = state.store.clone();
    let enabled = state.cfg.dshield.enabled;
    blocking(move || {
        Ok((
            store.tokens(id)?,
            DshieldView {
                userid: store.dshield_userid(id)?,
                enabled,
            },
        ))
    })
    .await
}

/// Failed forms show the page again; what else it shows is best effort.
async fn account_extras_or_empty(state: &AppState, id: i64) -> (Vec<ApiToken>, DshieldView) {
    account_extras(state, id).await.unwrap_or_else(|_| {
        (
            Vec::new(),
            DshieldView {
                userid: None,
                enabled: state.cfg.dshield.enabled,
            },
        )
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
    csrf: String,
}

async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: User,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let mut errs = FormErrors::default();
    if let Some(p) = auth::password_problem(&f.password, &user.account.email) {
        errs.add("password", p);
    }
    if f.password != f.confirm {
        errs.add("confirm", "the two passwords differ");
    }
    if f.password == f.current {
        errs.add(
            "password",
            "choose a password different from the current one",
        );
    }
    // Only the address is throttled here: someone failing logins to this
    // e-mail must not keep its signed-in owner from changing the password.
    if state.throttle.blocked("", peer.ip()).is_some() {
        errs.add("current", "too many failed attempts; try again later");
    }
    let store = state.store.clone();
    let id = user.id();
    let (current, new) = (f.current.clone(), f.password.clone());
    let keep = match &user.via {
        Via::Session { token, .. } => Some(token.clone()),
        Via::Token => None,
    };
    let ok_so_far = errs.is_empty();
    let r = blocking(move || {
        let hash = store.password_hash(id)?;
        if current.len() > auth::MAX_PASSWORD_LEN || !auth::verify_password(&current, &hash) {
            return Ok(Some("current"));
        }
        if ok_so_far {
            store.set_password(id, &auth::hash_password(&new), keep.as_deref())?;
        }
        Ok(None)
    })
    .await;
    match r {
        Ok(Some(_)) => {
            state.throttle.fail("", peer.ip());
            errs.add("current", "this is not your current password");
        }
        Ok(None) if errs.is_empty() => {
            let _ = std::fs::remove_file(state.data_dir.join(super::FIRST_PASSWORD_FILE));
            return Redirect::to("/account?done=password").into_response();
        }
        Ok(None) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let (tokens, dshield) = account_extras_or_empty(&state, id).await;
    (
        StatusCode::BAD_REQUEST,
        account_view(
            &user,
            &tokens,
            &dshield,
            &errs,
            None,
            &AccountQuery::default(),
        ),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    csrf: String,
}

async fn create_token(
    State(state): State<AppState>,
    user: User,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let store = state.store.clone();
    let id = user.id();
    let name = f.name.clone();
    let r = blocking(move || store.create_token(id, &name)).await;
    let (tokens, dshield) = account_extras_or_empty(&state, id).await;
    match r {
        Ok((_, secret)) => account_view(
            &user,
            &tokens,
            &dshield,
            &FormErrors::default(),
            Some(&secret),
            &AccountQuery::default(),
        )
        .into_response(),
        Err(super::store::StoreError::Invalid { field, message }) => {
            let mut errs = FormErrors::default();
            errs.add(field, message);
            (
                StatusCode::BAD_REQUEST,
                account_view(
                    &user,
                    &tokens,
                    &dshield,
                    &errs,
                    None,
                    &AccountQuery::default(),
                ),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn delete_token(
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
    match blocking(move || store.delete_token(acct, id)).await {
        Ok(()) => Redirect::to("/account?done=deleted").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DshieldForm {
    userid: String,
    csrf: String,
}

/// A DShield user id as typed: empty is none (anonymous), else a positive
/// number.
fn parse_dshield_userid(s: &str) -> Result<Option<u64>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u64>() {
        Ok(n) if n > 0 && n <= i64::MAX as u64 => Ok(Some(n)),
        _ => Err("a DShield user id is a positive number (empty: submit anonymously)"),
    }
}

async fn set_dshield(
    State(state): State<AppState>,
    user: User,
    Form(f): Form<DshieldForm>,
) -> Response {
    if let Err(r) = user.check_csrf(Some(&f.csrf)) {
        return r.into_response();
    }
    let id = user.id();
    match parse_dshield_userid(&f.userid) {
        Ok(userid) => {
            let store = state.store.clone();
            match blocking(move || store.set_dshield_userid(id, userid)).await {
                Ok(()) => Redirect::to("/account?done=saved").into_response(),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        Err(problem) => {
            let mut errs = FormErrors::default();
            errs.add("userid", problem);
            let (tokens, mut dshield) = account_extras_or_empty(&state, id).await;
            dshield.userid = None;
            (
                StatusCode::BAD_REQUEST,
                account_view(
                    &user,
                    &tokens,
                    &dshield,
                    &errs,
                    None,
                    &AccountQuery::default(),
                ),
            )
                .into_response()
        }
    }
}

/// The authenticated account.
#[utoipa::path(get, path = "/api/account", tag = "account", responses((status = 200, body = Account), (status = 401, description = "not authenticated")))]
async fn api_account(user: User) -> Json<Account> {
    Json(user.account)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordIn {
    pub current: String,
    pub password: String,
}

/// Changes the password (other sessions end).
#[utoipa::path(post, path = "/api/account/password", tag = "account", request_body = PasswordIn, responses((status = 204), (status = 400, description = "{error, field}"), (status = 401)))]
async fn api_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    user: User,
    Json(p): Json<PasswordIn>,
) -> Result<StatusCode, ApiError> {
    if state.throttle.blocked("", peer.ip()).is_some() {
        return Err(ApiError::bad(
            "current",
            "too many failed attempts; try again later",
        ));
    }
    if let Some(problem) = auth::password_problem(&p.password, &user.account.email) {
        return Err(ApiError::bad("password", problem));
    }
    let store = state.store.clone();
    let id = user.id();
    let keep = match &user.via {
        Via::Session { token, .. } => Some(token.clone()),
        Via::Token => None,
    };
    let ok = blocking(move || {
        let hash = store.password_hash(id)?;
        if p.current.len() > auth::MAX_PASSWORD_LEN || !auth::verify_password(&p.current, &hash) {
            return Ok(false);
        }
        store.set_password(id, &auth::hash_password(&p.password), keep.as_deref())?;
        Ok(true)
    })
    .await?;
    if !ok {
        state.throttle.fail("", peer.ip());
        return Err(ApiError::bad(
            "current",
            "this is not your current password",
        ));
    }
    let _ = std::fs::remove_file(state.data_dir.join(super::FIRST_PASSWORD_FILE));
    Ok(StatusCode::NO_CONTENT)
}

/// The account's API tokens (names and use; never the secrets).
#[utoipa::path(get, path = "/api/tokens", tag = "account", responses((status = 200, body = [ApiToken]), (status = 401)))]
async fn api_tokens(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    let store = state.store.clone();
    let id = user.id();
    Ok(Json(blocking(move || store.tokens(id)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenIn {
    pub name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TokenOut {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret, shown this once.
    pub secret: String,
}

/// Creates an API token; the secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", tag = "account", request_body = TokenIn, responses((status = 201, body = TokenOut), (status = 400), (status = 401)))]
async fn api_create_token(
    State(state): State<AppState>,
    user: User,
    Json(t): Json<TokenIn>,
) -> Result<(StatusCode, Json<TokenOut>), ApiError> {
    let store = state.store.clone();
    let id = user.id();
    let (token, secret) = blocking(move || store.create_token(id, &t.name)).await?;
    Ok((StatusCode::CREATED, Json(TokenOut { token, secret })))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "account", params(("id" = i64, Path)), responses((status = 204), (status = 404)))]
async fn api_delete_token(
    State(state): State<AppState>,
    user: User,
    Path(tid): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let id = user.id();
    blocking(move || store.delete_token(id, tid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's DShield user id (null: its blocked entries are submitted
/// anonymously) and whether the operator turned submission on.
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct DshieldIo {
    pub userid: Option<u64>,
    /// Read only: `[dshield] enabled` on this appliance.
    #[serde(default, skip_deserializing)]
    pub enabled: bool,
}

/// The account's DShield user id.
#[utoipa::path(get, path = "/api/account/dshield", tag = "account", responses((status = 200, body = DshieldIo), (status = 401)))]
async fn api_dshield(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<DshieldIo>, ApiError> {
    let store = state.store.clone();
    let id = user.id();
    let userid = blocking(move || store.dshield_userid(id)).await?;
    Ok(Json(DshieldIo {
        userid,
        enabled: state.cfg.dshield.enabled,
    }))
}

/// Sets (a positive number) or clears (null) the account's DShield user id.
#[utoipa::path(put, path = "/api/account/dshield", tag = "account", request_body = DshieldIo, responses((status = 200, body = DshieldIo), (status = 400, description = "{error, field}"), (status = 401)))]
async fn api_set_dshield(
    State(state): State<AppState>,
    user: User,
    Json(d): Json<DshieldIo>,
) -> Result<Json<DshieldIo>, ApiError> {
    let userid = parse_dshield_userid(&d.userid.map(|u| u.to_string()).unwrap_or_default())
        .map_err(|m| ApiError::bad("userid", m))?;
    let store = state.store.clone();
    let id = user.id();
    blocking(move || store.set_dshield_userid(id, userid)).await?;
    Ok(Json(DshieldIo {
        userid,
        enabled: state.cfg.dshield.enabled,
    }))
}
