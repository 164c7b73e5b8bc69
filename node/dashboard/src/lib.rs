//! The node's web dashboard: an HTTPS app (axum) behind dashboard users' passwords.
//!
//! - Served with the node's TLS identity (ALPN h2 and http/1.1 for browsers) on
//!   `[dashboard] listen`; the bound address is written to `<home>/dashboard.addr`.
//! - Users live in `<home>/dashboard-users.json` (argon2id hashes, mode 0600; see
//!   [`add_user`]); a login gives an in-memory session cookie (256 random bits, HttpOnly,
//!   Secure, SameSite=Strict). Role `viewer` is read-only; `admin` may also act.
//! - A JSON API under `/api/*` and a CSV export `/api/<table>.csv` of every table. The
//!   Scope 3 and KPI views are calculated by the engines on each request, from the files
//!   `[dashboard]` names; the Scope 3 view's options arrive as query parameters.
//! - The page's assets are built from `dashboard/src/` by esbuild into `dashboard/dist/`,
//!   which is committed and embedded at compile time; nothing is loaded from elsewhere.
//! - Derived data (exchange volume, recipients, chain status, the sorted footprint list)
//!   is computed off the request path by [`index::Index`].

mod api;
mod assets;
pub mod auth;
pub mod client;
pub mod index;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth::{Role, add_user};

use tanso_core::home::Home;
use tanso_core::node::Node;

/// Name of the file holding the bound dashboard address.
pub const ADDR_FILE: &str = "dashboard.addr";
/// Session cookie name (`__Host-`: Secure, path /, no domain).
const COOKIE: &str = "__Host-tanso_session";
const MAX_CONNECTIONS: usize = 256;
/// How often the background indexer looks at the audit log.
const INDEX_EVERY: Duration = Duration::from_secs(2);

/// Errors of the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    UsersFile { path: String, reason: String },
    #[error("{0:?} is not a role (admin or viewer)")]
    BadRole(String),
    #[error("{0:?} is not a user name (1-64 of a-z A-Z 0-9 . _ - @)")]
    BadName(String),
    #[error("user {0:?} exists already")]
    UserExists(String),
    #[error("{0} is not a tanso home (no config.toml); run `tanso init` first")]
    NoHome(String),
    #[error("os randomness: {0}")]
    Random(String),
    #[error("password hash: {0}")]
    Hash(String),
    #[error("too many unused login tokens")]
    TooManyTokens,
    #[error("tls: {0}")]
    Tls(#[from] tanso_core::tls::TlsError),
}

/// The address `serve` bound for the node in `home`, once it has.
pub fn bound_addr(home: &Home) -> Option<SocketAddr> {
    std::fs::read_to_string(home.dir.join(ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub struct AppState {
    node: Node,
    sessions: auth::Sessions,
    index: index::Index,
    assets: assets::Assets,
    /// The path the dashboard is served under: empty on a node's own port, `/t/{tenant}`
    /// for a host's tenant. Redirects and server-rendered links carry it; the page itself
    /// uses relative paths.
    prefix: String,
    /// The session cookie's name: one per tenant of a host, so a browser can hold sessions
    /// of several tenants (each tenant knows only its own sessions either way).
    cookie: String,
}

type Shared = Arc<AppState>;

/// The dashboard of `node` under `prefix` (see [`AppState::prefix`]): its router, and the
/// indexer that keeps its derived data fresh until `cancel` (spawn it beside the router).
pub fn app(
    node: Node,
    prefix: &str,
    cancel: CancellationToken,
) -> (
    Router,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let cookie = if prefix.is_empty() {
        COOKIE.to_string()
    } else {
        // `/t/{tenant}` names the tenant in a cookie-name-safe form ([a-z0-9-]).
        format!("{COOKIE}_{}", prefix.rsplit('/').next().unwrap_or_default())
    };
    let state = Arc::new(AppState {
        node: node.clone(),
        sessions: auth::Sessions::new(node.clock().clone()),
        index: index::Index::new(node.clone()),
        assets: assets::Assets::load(),
        prefix: prefix.to_string(),
        cookie,
    });
    (router(state.clone()), indexer(state, cancel))
}

/// Serves the dashboard on `listener` until `cancel`.
pub async fn serve(node: Node, listener: TcpListener, cancel: CancellationToken) {
    // The node's limits, with at most MAX_CONNECTIONS browsers at once.
    let policy = tanso_core::conn::ConnPolicy {
        max_connections: MAX_CONNECTIONS.min(node.config().max_connections),
        ..tanso_core::conn::ConnPolicy::of(node.config())
    };
    let tls = match tanso_core::https::server_config(node.identity()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "dashboard: tls configuration failed; not serving");
            return;
        }
    };
    let addr_file = tanso_core::https::announce("dashboard", &node, &listener, ADDR_FILE);
    let (router, indexer) = app(node, "", cancel.clone());
    let tasks = TaskTracker::new();
    tasks.spawn(indexer);
    tanso_core::https::serve(
        "dashboard",
        listener,
        Some(tls),
        router,
        policy,
        &tasks,
        cancel,
    )
    .await;
    tasks.close();
    tasks.wait().await;
    remove_addr_file(&addr_file);
}

fn remove_addr_file(path: &PathBuf) {
    let _ = std::fs::remove_file(path);
}

/// Keeps the derived data fresh: exchange volume and recipients every few seconds, the chain
/// verification when the head moved (at most every 30 s).
async fn indexer(state: Shared, cancel: CancellationToken) {
    let mut first = true;
    loop {
        let s = state.clone();
        let force = first;
        let work = tokio::task::spawn_blocking(move || {
            let caught = s.index.catch_up(None, true);
            let verified = s.index.verify_if_due(force);
            let rows = if force {
                s.index.footprint_rows().map(|_| ())
            } else {
                Ok(())
            };
            (caught.err(), verified.err(), rows.err())
        });
        match work.await {
            Ok((a, b, c)) => {
                for e in [a, b, c].into_iter().flatten() {
                    tracing::warn!(error = %e, "dashboard: indexing failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "dashboard: indexer task failed"),
        }
        first = false;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(INDEX_EVERY) => {}
        }
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(index_page))
        .route("/app.js", get(assets::app_js))
        .route("/app.css", get(assets::app_css))
        .route("/login", get(login_page).post(login))
        .route("/login/token/{token}", get(login_with_token))
        .route("/logout", post(logout))
        .merge(api::routes())
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

// === authentication ===

/// A request with a live session (401 otherwise).
pub struct Viewer(auth::Session);

/// A request with a live admin session (401 without a session, 403 for a viewer).
pub struct Admin(auth::Session);

fn session_cookie<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == state.cookie)
        .map(|(_, v)| v)
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        session_cookie(state, &parts.headers)
            .and_then(|t| state.sessions.get(t))
            .map(Viewer)
            .ok_or_else(|| api_error(StatusCode::UNAUTHORIZED, "log in first"))
    }
}

impl FromRequestParts<Shared> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let Viewer(session) = Viewer::from_request_parts(parts, state).await?;
        // State-changing calls must come from the page's own scripts (a header a form
        // cannot send), on top of the SameSite=Strict cookie.
        if parts.headers.get("x-tanso-csrf").is_none() {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "missing x-tanso-csrf header",
            ));
        }
        if session.role != Role::Admin {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "this needs the admin role",
            ));
        }
        Ok(Admin(session))
    }
}

fn set_cookie(state: &AppState, token: &str, max_age: u64) -> HeaderValue {
    let v = format!(
        "{}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
        state.cookie
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn logged_in(state: &AppState, token: &str) -> Response {
    let mut r = Redirect::to(&format!("{}/", state.prefix)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(state, token, auth::SESSION_TTL.as_secs()),
    );
    r
}

fn to_login(state: &AppState) -> Response {
    Redirect::to(&format!("{}/login", state.prefix)).into_response()
}

async fn index_page(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if session_cookie(&state, &headers)
        .and_then(|t| state.sessions.get(t))
        .is_none()
    {
        return to_login(&state);
    }
    assets::index_html(&state.assets, &headers)
}

async fn login_page(State(state): State<Shared>) -> Response {
    assets::login_html(&state.prefix, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(State(state): State<Shared>, Form(form): Form<LoginForm>) -> Response {
    let home = state.node.home().clone();
    let checked = tokio::task::spawn_blocking(move || {
        auth::check_password(&home, &form.name, &form.password)
    })
    .await;
    match checked {
        Ok(Ok(Some((user, role)))) => match state.sessions.create(&user, role) {
            Ok(token) => {
                tracing::info!(user = %user, role = role.as_str(), "dashboard login");
                logged_in(&state, &token)
            }
            Err(e) => {
                tracing::error!(error = %e, "dashboard: cannot create a session");
                assets::login_html(
                    &state.prefix,
                    Some("internal error"),
                    StatusCode::INTERNAL_SERVER_ERROR,
                )
            }
        },
        Ok(Ok(None)) => {
            // The attempted name is not logged: people type passwords into it.
            tracing::info!("dashboard login refused");
            // A little friction for guessing, on top of argon2's cost.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assets::login_html(
                &state.prefix,
                Some("wrong user name or password"),
                StatusCode::UNAUTHORIZED,
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "dashboard: users file");
            assets::login_html(
                &state.prefix,
                Some("internal error"),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: login task failed");
            assets::login_html(
                &state.prefix,
                Some("internal error"),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
    }
}

async fn login_with_token(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let Some(session) = state.sessions.redeem_login_token(&token) else {
        return assets::login_html(
            &state.prefix,
            Some("that login link has expired or was used already"),
            StatusCode::UNAUTHORIZED,
        );
    };
    match state.sessions.create(&session.user, session.role) {
        Ok(cookie) => {
            tracing::info!(user = %session.user, "dashboard login (one-time link)");
            logged_in(&state, &cookie)
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: cannot create a session");
            assets::login_html(
                &state.prefix,
                Some("internal error"),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
    }
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(t) = session_cookie(&state, &headers) {
        state.sessions.remove(t);
    }
    let mut r = to_login(&state);
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", 0));
    r
}

#[cfg(test)]
mod tests;
