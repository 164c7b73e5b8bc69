//! The PACT v3.0.3 REST host: OAuth client credentials, ListFootprints, GetFootprint, Events.
//!
//! - HTTPS only, with the node's TLS identity, on `[pact] listen` (its own port, not the gRPC
//!   one); the listener only speaks TLS, so plain HTTP is refused, never redirected. The bound
//!   address is written to `<home>/pact.addr`.
//! - A PACT client (`tanso pact client add`, see [`clients`]) maps to a company id and groups,
//!   so policies and the audit log treat it like a partner.
//! - Footprints carry the owner's signature as a PACT `extensions` entry; a policy granting
//!   only the summary view serves the signed summary.
//! - Errors become HTTP responses in one place: [`ApiError`]'s `IntoResponse`.

pub mod clients;
pub mod events;
pub mod hosts;
pub mod http;
pub mod pull;
pub mod throttle;
pub mod trust;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64_STD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use clients::{ClientsError, add_client};

use tanso_core::audit::{AuditDecision, AuditDraft};
use tanso_core::disclosure::{self, Caller, DisclosureError, Door, Operation, Oversize};
use tanso_core::home::Home;
use tanso_core::journal::Record;
use tanso_core::node::Node;
use tanso_core::pact::FootprintFilter;
use tanso_core::policy::{Decision, Partner, View};
use tanso_core::signed::{self, VIEW_FULL, VIEW_SUMMARY};
use tanso_core::store::{InboxEntry, OutgoingRequest, OwnFootprint};

/// Name of the file holding the bound PACT API address.
pub const ADDR_FILE: &str = "pact.addr";
/// The CloudEvents content type of `POST /3/events`.
pub const EVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";
/// The cursor parameter of the next-page links (a custom `x-` parameter, opaque to clients).
const CURSOR: &str = "x-tanso-cursor";
/// The purpose a caller declares (a custom `x-` parameter, on any endpoint but the token's):
/// what a gRPC caller signs in its envelope header; without it the purpose is absent.
pub const PURPOSE: &str = "x-tanso-purpose";
/// Longest purpose accepted, in bytes (the gRPC header field's limit).
const MAX_PURPOSE_BYTES: usize = tanso_core::methods::MAX_HEADER_FIELD_BYTES;
const DEFAULT_PAGE: u32 = 100;
/// Largest `POST /auth/token` body (a client-credentials form is a few dozen bytes).
const TOKEN_MAX_BODY: usize = 4096;
/// Most characters of a refused client id shown in logs and the audit log.
const SHOWN_CLIENT_ID: usize = 40;

/// Event types.
pub const EV_REQUEST_CREATED: &str = "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3";
pub const EV_REQUEST_FULFILLED: &str = "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3";
pub const EV_REQUEST_REJECTED: &str = "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3";
pub const EV_PUBLISHED: &str = "org.wbcsd.pact.ProductFootprint.PublishedEvent.3";

/// The address `serve` bound for the PACT API of the node in `home`, once it has.
pub fn bound_addr(home: &Home) -> Option<SocketAddr> {
    std::fs::read_to_string(home.dir.join(ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Every way a PACT request fails; turned into a response in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no bearer token in the request.
    #[error("no access token: send Authorization: Bearer <token> from /auth/token")]
    NoToken,
    /// 401: a token this host did not issue (or has forgotten).
    #[error("the access token is not valid here; get a new one from /auth/token")]
    InvalidToken,
    /// 401: a token that has expired.
    #[error("the access token has expired; get a new one from /auth/token")]
    TokenExpired,
    /// 404: a path this host does not serve.
    #[error("no such endpoint")]
    NoRoute,
    /// 404: no such footprint, or one the caller may not see (identical on purpose).
    #[error("footprint not found")]
    NotFound,
    /// 413.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// OAuth 401 invalid_client.
    #[error("{0}")]
    InvalidClient(&'static str),
    /// OAuth 400 unsupported_grant_type.
    #[error("{0}")]
    UnsupportedGrant(String),
    /// OAuth 400 invalid_request.
    #[error("{0}")]
    InvalidRequest(String),
    /// 429: too many failed token requests from the caller's address.
    #[error("too many failed token requests from this address; retry in {retry_secs} s")]
    Throttled { retry_secs: u64 },
    /// 503: the check cannot run now (legacy argon2 checks all busy); retry soon.
    #[error("busy; retry in a few seconds")]
    Busy,
    /// 429 (requests) or 507 (store, outbox): over a quota the host set on this node.
    #[error(transparent)]
    Quota(#[from] tanso_core::quota::QuotaError),
    /// 500; the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let oauth = |status: StatusCode, error: &str| {
            let mut r = (
                status,
                axum::Json(json!({ "error": error, "error_description": message })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        };
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            // Always 401 with an RFC 6750 challenge. The code follows the PACT text for list
            // and get: TokenExpired when the token expired, "in all other cases" BadRequest
            // (what the conformance suite's invalid-token cases 6, 7 and 16 expect).
            ApiError::TokenExpired => (StatusCode::UNAUTHORIZED, "TokenExpired"),
            ApiError::NoToken | ApiError::InvalidToken => (StatusCode::UNAUTHORIZED, "BadRequest"),
            ApiError::NotFound | ApiError::NoRoute => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest"),
            ApiError::InvalidClient(_) => {
                let mut r = oauth(StatusCode::UNAUTHORIZED, "invalid_client");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"pact\""),
                );
                return r;
            }
            ApiError::UnsupportedGrant(_) => {
                return oauth(StatusCode::BAD_REQUEST, "unsupported_grant_type");
            }
            ApiError::InvalidRequest(_) => {
                return oauth(StatusCode::BAD_REQUEST, "invalid_request");
            }
            ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "AccessDenied"),
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "InternalError"),
            ApiError::Quota(tanso_core::quota::QuotaError::Rate { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "AccessDenied")
            }
            ApiError::Quota(_) => (StatusCode::INSUFFICIENT_STORAGE, "InternalError"),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "pact api: internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
        };
        let mut r = (
            status,
            axum::Json(json!({ "code": code, "message": message })),
        )
            .into_response();
        let challenge = match &self {
            // RFC 6750 3.1: no error code when the request carried no credentials.
            ApiError::NoToken => Some("Bearer realm=\"pact\""),
            ApiError::InvalidToken => Some(
                "Bearer realm=\"pact\", error=\"invalid_token\", error_description=\"the access token is not valid here\"",
            ),
            ApiError::TokenExpired => Some(
                "Bearer realm=\"pact\", error=\"invalid_token\", error_description=\"the access token has expired\"",
            ),
            _ => None,
        };
        if let Some(challenge) = challenge {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        let retry_after = match &self {
            ApiError::Throttled { retry_secs } => Some(*retry_secs),
            ApiError::Busy | ApiError::Quota(tanso_core::quota::QuotaError::Rate { .. }) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        r
    }
}

impl ApiError {
    /// 429 for a source that may try again after `wait` (whole seconds, rounded up).
    fn throttled(wait: Duration) -> ApiError {
        ApiError::Throttled {
            retry_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        }
    }
}

impl From<tanso_core::store::StoreError> for ApiError {
    fn from(e: tanso_core::store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<tanso_core::NodeError> for ApiError {
    fn from(e: tanso_core::NodeError) -> Self {
        match e {
            tanso_core::NodeError::Quota(q) => ApiError::Quota(q),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

/// A disclosure refusal or failure as a PACT error: a footprint the caller may not see
/// reads as not found, exactly like one that does not exist.
impl From<DisclosureError> for ApiError {
    fn from(e: DisclosureError) -> Self {
        match e {
            DisclosureError::NotFound(_) => ApiError::NotFound,
            DisclosureError::Node(tanso_core::NodeError::BadRequest(reason)) => {
                ApiError::BadRequest(reason)
            }
            DisclosureError::Node(tanso_core::NodeError::Quota(q)) => ApiError::Quota(q),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

struct AppState {
    node: Node,
    clients: Arc<clients::Clients>,
    throttle: throttle::Throttle,
    tokens: clients::Tokens,
    /// The path this API is served under: empty for a node's own port, `/t/{tenant}` for a
    /// host's tenant (so its `.well-known`, token endpoint and links name the tenant).
    prefix: String,
}

type Shared = Arc<AppState>;

/// Why the PACT API of a node cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("pact api: tls configuration failed: {0}")]
    Tls(String),
    #[error("pact api: the clients file cannot be used: {0}")]
    Clients(String),
}

/// The PACT API of `node` as a router for paths under `prefix` (empty, or `/t/{tenant}`
/// when a host serves it; the router itself sees paths with the prefix removed): its
/// clients file loaded, its token store and throttle fresh.
pub fn app(node: Node, prefix: &str) -> Result<Router, AppError> {
    let clients = Arc::new(clients::Clients::new(node.home().clone()));
    clients
        .load()
        .map_err(|e| AppError::Clients(e.to_string()))?;
    let throttle = throttle::Throttle::new(node.config().pact_token_failure_limit);
    Ok(router(Arc::new(AppState {
        node,
        clients,
        throttle,
        tokens: clients::Tokens::default(),
        prefix: prefix.to_string(),
    })))
}

/// Serves the PACT API on `listener` until `cancel`.
pub async fn serve(node: Node, listener: TcpListener, cancel: CancellationToken) {
    let policy = tanso_core::conn::ConnPolicy::of(node.config());
    let tls = match tanso_core::https::server_config(node.pact_identity()) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %AppError::Tls(e.to_string()), "pact api: not serving");
            return;
        }
    };
    let app = match app(node.clone(), "") {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "pact api: not serving");
            return;
        }
    };
    let addr_file = tanso_core::https::announce("pact-api", &node, &listener, ADDR_FILE);
    let tasks = TaskTracker::new();
    tanso_core::https::serve("pact-api", listener, Some(tls), app, policy, &tasks, cancel).await;
    tasks.close();
    tasks.wait().await;
    let _ = std::fs::remove_file(&addr_file);
}

fn router(state: Shared) -> Router {
    let metrics = state.node.metrics().clone();
    Router::new()
        .route("/auth/token", post(token))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/3/footprints", get(list_footprints))
        .route("/3/footprints/{id}", get(get_footprint))
        .route("/3/events", post(events))
        .fallback(|| async { ApiError::NoRoute })
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            tanso_core::metrics::pact_layer,
        ))
        .with_state(state)
}

// === helpers ===

/// `https://<host><prefix>` from the request's Host header (or the URI authority under
/// HTTP/2) and the path the API is served under.
fn base_url(state: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<String, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .ok_or_else(|| ApiError::BadRequest("missing Host header".into()))?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return Err(ApiError::BadRequest("malformed Host header".into()));
    }
    Ok(format!("https://{host}{}", state.prefix))
}

/// Reads a body up to the configured limit (413 beyond it).
async fn read_body(state: &Shared, body: Body) -> Result<Bytes, ApiError> {
    read_body_max(body, state.node.config().pact_max_body_bytes).await
}

/// Reads a body up to `max` bytes (413 beyond it).
async fn read_body_max(body: Body, max: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| ApiError::TooLarge(max))
}

/// The authenticated PACT client behind a bearer token.
fn authenticate(state: &Shared, headers: &HeaderMap) -> Result<Partner, ApiError> {
    state.node.admit_request()?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        })
        .ok_or(ApiError::NoToken)?;
    match state.tokens.check(token, state.node.clock().instant()) {
        clients::TokenState::Valid(client) => {
            let mut groups = client.groups.clone();
            if let Some(record) = state.node.partner(&client.company_id)? {
                for g in record.groups {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
            Ok(Partner {
                company_id: client.company_id.clone(),
                groups,
                memberships: Vec::new(),
                buys_classifications: Vec::new(),
            })
        }
        clients::TokenState::Expired => Err(ApiError::TokenExpired),
        clients::TokenState::Unknown => Err(ApiError::InvalidToken),
    }
}

/// The door-neutral description of an authenticated PACT client, decided now; its purpose
/// is set from the request by [`caller_of`].
fn party(partner: Partner) -> Caller {
    Caller {
        partner,
        purpose: None,
        door: Door::Pact,
        now: chrono::Utc::now(),
        nonce: None,
        forget: Vec::new(),
    }
}

/// The authenticated caller of a request with its declared purpose ([`PURPOSE`]); a
/// malformed purpose is refused (and audited) as a bad request of `method`.
async fn caller_of(
    state: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
    method: &str,
) -> Result<Caller, ApiError> {
    let mut caller = party(authenticate(state, headers)?);
    match purpose(uri) {
        Ok(purpose) => caller.purpose = purpose,
        Err(e) => return Err(refuse(state, &caller, method, e).await),
    }
    Ok(caller)
}

/// The purpose the query declares: at most once, at most [`MAX_PURPOSE_BYTES`]; empty is
/// none.
fn purpose(uri: &Uri) -> Result<Option<String>, ApiError> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| ApiError::BadRequest("malformed query string".into()))?
        .0;
    let mut found = None;
    for (k, v) in pairs {
        if k != PURPOSE {
            continue;
        }
        if v.len() > MAX_PURPOSE_BYTES {
            return Err(ApiError::BadRequest(format!(
                "query parameter {PURPOSE} is longer than {MAX_PURPOSE_BYTES} bytes"
            )));
        }
        if found.replace(v).is_some() {
            return Err(ApiError::BadRequest(format!(
                "query parameter {PURPOSE} is given more than once"
            )));
        }
    }
    Ok(found.filter(|p| !p.trim().is_empty()))
}

/// Writes the audit entry (and the daily counter under `counter`), durably, before answering.
async fn record(
    state: &Shared,
    caller: &Caller,
    method: &str,
    targets: Vec<String>,
    decision: &Decision,
    counter: Option<String>,
) -> Result<(), ApiError> {
    disclosure::audit(&state.node, caller, method, targets, decision, counter)
        .await
        .map_err(|e| ApiError::Internal(format!("audit journal: {e}")))
}

/// Audits an authenticated request refused before policy, then returns the error.
async fn refuse(state: &Shared, caller: &Caller, method: &str, err: ApiError) -> ApiError {
    let decision = Decision::Deny {
        policy: None,
        rule: None,
        reason: format!("bad request: {err}"),
    };
    match record(state, caller, method, Vec::new(), &decision, None).await {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn deny(reason: &str) -> Decision {
    Decision::Deny {
        policy: None,
        rule: None,
        reason: reason.to_string(),
    }
}

/// The PACT JSON of the granted view with the owner's signature extension.
fn served(own: &OwnFootprint, view: View) -> Result<Value, DisclosureError> {
    let (name, sig) = match view {
        View::Full => (VIEW_FULL, &own.sig_full),
        View::Summary => (VIEW_SUMMARY, &own.sig_summary),
    };
    let json = signed::view_json(&own.footprint, name).map_err(|source| DisclosureError::View {
        id: own.footprint.id.clone(),
        view,
        source,
    })?;
    Ok(signed::attach(json, sig))
}

/// The PACT form of disclosed footprints: the served JSON, sized by its bytes (and a comma);
/// HTTP has no message limit, so a footprint larger than a page goes on a page of its own.
#[derive(Debug, Clone, Copy)]
struct Json;

impl disclosure::Render for Json {
    type Item = Vec<u8>;

    fn render(&self, own: &OwnFootprint, view: View) -> Result<Vec<u8>, DisclosureError> {
        Ok(served(own, view)?.to_string().into_bytes())
    }

    fn item_bytes(&self, item: &Vec<u8>) -> usize {
        item.len() + 1
    }

    fn id_bytes(&self, _id: &str) -> usize {
        0
    }

    fn oversize(&self) -> Oversize {
        Oversize::Alone
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task: {e}")))?
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// === authentication ===

async fn token(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match issue_token(&state, throttle::Source::of(peer.ip()), &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// `POST /auth/token`. A source cooling down after too many failures is refused before
/// anything else is read; a check is one keyed hash (see [`clients`]), argon2 only for a
/// legacy record, and every invalid_client answer counts as a failure of the source.
async fn issue_token(
    state: &Shared,
    source: throttle::Source,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state
        .throttle
        .check(source, state.node.clock().instant())
        .map_err(ApiError::throttled)?;
    let body = read_body_max(body, TOKEN_MAX_BODY).await?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !form_type {
        return Err(ApiError::InvalidRequest(
            "content type must be application/x-www-form-urlencoded".into(),
        ));
    }
    let Some((id, secret)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..6)
                .filter(|p| p.eq_ignore_ascii_case("basic "))
                .map(|_| v[6..].trim())
        })
        .and_then(|b| B64_STD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
    else {
        return Err(token_refused(
            state,
            source,
            "",
            "missing or malformed HTTP Basic credentials",
        )
        .await);
    };
    let form: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{}", String::from_utf8_lossy(&body))
            .parse::<Uri>()
            .map_err(|_| ApiError::InvalidRequest("malformed form body".into()))?,
    )
    .map_err(|_| ApiError::InvalidRequest("malformed form body".into()))?
    .0;
    let checked = state
        .clients
        .check(&id, &secret)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let client = match checked {
        clients::Check::Valid(client) => Some(client),
        clients::Check::Invalid => None,
        clients::Check::Legacy(legacy) => {
            let slot = state.clients.legacy_slot().await.ok_or(ApiError::Busy)?;
            // Failures of this source may have closed it while this request waited.
            state
                .throttle
                .check(source, state.node.clock().instant())
                .map_err(ApiError::throttled)?;
            let clients = state.clients.clone();
            let secret = secret.clone();
            blocking(move || {
                let _slot = slot;
                Ok(clients.verify_legacy(&legacy, &secret))
            })
            .await?
        }
    };
    let Some(client) = client else {
        return Err(token_refused(state, source, &id, "unknown client or wrong secret").await);
    };
    match form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
    {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(ApiError::UnsupportedGrant(format!(
                "grant_type {other:?} is not supported (only client_credentials)"
            )));
        }
        None => return Err(ApiError::InvalidRequest("grant_type is missing".into())),
    }
    let ttl = state.node.config().pact_token_ttl;
    let company = client.company_id.clone();
    let client_id = client.client_id.clone();
    let token = state
        .tokens
        .issue(client, ttl, state.node.clock().instant())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(client = %client_id, company = %company, "pact api: token issued");
    let mut r = axum::Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// Counts a refused token request against `source` and logs it: each failure below the limit
/// at info, the one that starts a cool-down at warn and in the audit log, nothing while the
/// source cools down (its requests are refused before they get here), so a flood writes at
/// most `limit` lines per source and window. The claimed client id is shown cut short.
async fn token_refused(
    state: &Shared,
    source: throttle::Source,
    claimed: &str,
    reason: &'static str,
) -> ApiError {
    let client = shown_client_id(claimed);
    if !state.throttle.fail(source, state.node.clock().instant()) {
        tracing::info!(%source, %client, reason, "pact api: token refused");
        return ApiError::InvalidClient(reason);
    }
    let limit = state.throttle.limit();
    let why = format!(
        "{limit} failed token requests from {source} within {} s; its token requests are refused for {} s",
        throttle::WINDOW.as_secs(),
        throttle::COOL_DOWN.as_secs()
    );
    tracing::warn!(%source, %client, "pact api: {why}");
    let record = Record {
        audit: Some(AuditDraft {
            caller: format!("unverified:{client}"),
            method: M_TOKEN.to_string(),
            targets: vec![format!("source:{source}")],
            decision: AuditDecision::Deny,
            rule: None,
            reason: Some(why),
        }),
        ..Record::default()
    };
    if let Err(e) = state.node.audit().write(record).await {
        tracing::error!(error = %e, "audit journal write failed");
    }
    ApiError::InvalidClient(reason)
}

/// A claimed client id as logs show it: at most [`SHOWN_CLIENT_ID`] characters of
/// `A-Z a-z 0-9 - _ . :`, anything else as `?`.
fn shown_client_id(claimed: &str) -> String {
    let mut shown: String = claimed
        .chars()
        .take(SHOWN_CLIENT_ID)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '?'
            }
        })
        .collect();
    if claimed.chars().nth(SHOWN_CLIENT_ID).is_some() {
        shown.push_str("...");
    }
    shown
}

async fn openid_configuration(
    State(state): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match base_url(&state, &headers, &uri) {
        Ok(base) => axum::Json(json!({
            "issuer": base,
            "token_endpoint": format!("{base}/auth/token"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

// === footprints ===

const M_TOKEN: &str = "POST /auth/token";
const M_EVENTS: &str = Door::Pact.method(Operation::CreateRequest);

async fn list_footprints(State(state): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    match list(&state, &headers, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

struct ListQuery {
    pairs: Vec<(String, String)>,
    filter: FootprintFilter,
    limit: usize,
    after: Option<String>,
}

fn parse_list_query(uri: &Uri, page_max: u32) -> Result<ListQuery, ApiError> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| ApiError::BadRequest("malformed query string".into()))?
        .0;
    let filter =
        FootprintFilter::parse_query(&pairs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut limit = None;
    let mut after = None;
    for (k, v) in &pairs {
        if k == "limit" {
            // The OpenAPI schema's minimum is 0: a page of nothing, with the link to the first
            // real one.
            let n = v.parse::<u32>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "query parameter limit must be a whole number of 0 or more, found {v:?}"
                ))
            })?;
            if limit.replace(n).is_some() {
                return Err(ApiError::BadRequest(
                    "query parameter limit is given more than once".into(),
                ));
            }
        } else if k == CURSOR {
            let id = v.to_ascii_lowercase();
            if !tanso_core::ids::is_uuid(&id) || after.replace(id).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "query parameter {CURSOR} is not one this node issued"
                )));
            }
        }
    }
    let limit = limit.unwrap_or(DEFAULT_PAGE).min(page_max) as usize;
    Ok(ListQuery {
        pairs,
        filter,
        limit,
        after,
    })
}

async fn list(state: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<Response, ApiError> {
    const M: &str = Door::Pact.method(Operation::ListFootprints);
    let caller = caller_of(state, headers, uri, M).await?;
    let base = match base_url(state, headers, uri) {
        Ok(b) => b,
        Err(e) => return Err(refuse(state, &caller, M, e).await),
    };
    let q = match parse_list_query(uri, state.node.config().page_max) {
        Ok(q) => q,
        Err(e) => return Err(refuse(state, &caller, M, e).await),
    };
    if q.limit == 0 {
        // An empty page (the schema allows limit=0) whose link starts the real paging at the
        // same place, with the default page size.
        let decision = deny("limit=0: no footprint asked for");
        record(state, &caller, M, Vec::new(), &decision, None).await?;
        let mut r = axum::Json(json!({ "data": [] })).into_response();
        let query: Vec<(String, String)> = q
            .pairs
            .iter()
            .filter(|(k, _)| k != "limit")
            .cloned()
            .collect();
        r.headers_mut()
            .insert(header::LINK, next_link(&base, &query, q.after.as_deref())?);
        return Ok(r);
    }
    let request = disclosure::PageRequest {
        filter: q.filter.clone(),
        after: q.after.clone(),
        limit: q.limit,
    };
    let page = disclosure::list_page(&state.node, &caller, request, Json).await?;
    // `{"data":[...]}` from the footprints' JSON as the page was sized with it.
    let mut body = Vec::with_capacity(page.items.iter().map(|j| j.len() + 1).sum::<usize>() + 12);
    body.extend_from_slice(b"{\"data\":[");
    for (i, json) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(json);
    }
    body.extend_from_slice(b"]}");
    let mut r = json_response(body);
    if let Some(next) = page.next {
        r.headers_mut()
            .insert(header::LINK, next_link(&base, &q.pairs, Some(&next))?);
    }
    Ok(r)
}

/// A 200 answer of JSON bytes.
fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The `Link: <…>; rel="next"` header of a list page: the same query, the cursor replaced.
fn next_link(
    base: &str,
    pairs: &[(String, String)],
    cursor: Option<&str>,
) -> Result<HeaderValue, ApiError> {
    let mut query: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != CURSOR)
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if let Some(cursor) = cursor {
        query.push(format!("{CURSOR}={cursor}"));
    }
    let link = format!("<{base}/3/footprints?{}>; rel=\"next\"", query.join("&"));
    HeaderValue::from_str(&link).map_err(|e| ApiError::Internal(format!("link header: {e}")))
}

async fn get_footprint(
    State(state): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    match get_one(&state, &headers, &uri, id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn get_one(
    state: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
    raw_id: String,
) -> Result<Response, ApiError> {
    const M: &str = Door::Pact.method(Operation::GetFootprint);
    let caller = caller_of(state, headers, uri, M).await?;
    let id = raw_id.trim().to_ascii_lowercase();
    if !tanso_core::ids::is_uuid(&id) {
        let e = ApiError::BadRequest(format!("footprint id {raw_id:?} is not a uuid"));
        return Err(refuse(state, &caller, M, e).await);
    }
    let served = disclosure::read_one(&state.node, &caller, &id, Json).await?;
    let mut body = Vec::with_capacity(served.item.len() + 10);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(&served.item);
    body.push(b'}');
    Ok(json_response(body))
}

// === events ===

async fn events(State(state): State<Shared>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    match event(&state, &headers, &uri, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn event(state: &Shared, headers: &HeaderMap, uri: &Uri, body: Body) -> Result<(), ApiError> {
    let caller = caller_of(state, headers, uri, M_EVENTS).await?;
    let partner = &caller.partner;
    let parsed = match parse_event(state, headers, body).await {
        Ok(ev) => ev,
        Err(e) => return Err(refuse(state, &caller, M_EVENTS, e).await),
    };
    match parsed {
        Event::Published { event_id, pf_ids } => {
            // From a company whose PACT host is registered here, the footprints are fetched
            // into the inbox (a durable job); from others the event is only recorded.
            let node = state.node.clone();
            let company = partner.company_id.clone();
            let (eid, ids) = (event_id.clone(), pf_ids.clone());
            let job = blocking(move || {
                let known = hosts::host_for(node.home(), &company)
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .is_some();
                if !known {
                    return Ok(None);
                }
                let item = tanso_core::exchange::new_item(
                    node.clock(),
                    &company,
                    tanso_core::store::Delivery::PactFetch {
                        event_id: eid,
                        footprint_ids: ids,
                    },
                );
                node.exchange().enqueue(std::slice::from_ref(&item))?;
                Ok(Some(item.id))
            })
            .await?;
            let mut targets = vec![format!("event:{event_id}")];
            targets.extend(pf_ids);
            let d = Decision::Permit {
                policy: String::new(),
                rule: if job.is_some() {
                    "published event accepted; fetch queued".into()
                } else {
                    "published event accepted".into()
                },
                view: View::Summary,
            };
            record(state, &caller, M_EVENTS, targets, &d, None).await
        }
        Event::RequestCreated {
            event_id,
            product_ids,
            classifications,
            comment,
        } => {
            let draft = disclosure::RequestDraft {
                id: request_id(&partner.company_id, &event_id),
                product_ids,
                classifications,
                comment,
                pact_event_id: Some(event_id),
            };
            match disclosure::receive_request(&state.node, &caller, draft).await {
                Ok(_) => Ok(()),
                Err(e) => Err(refuse(state, &caller, M_EVENTS, e.into()).await),
            }
        }
        Event::Answer {
            event_id,
            request_id,
            pfs,
            error,
        } => {
            let node = state.node.clone();
            let p = partner.clone();
            let rid = request_id.clone();
            let result = blocking(move || receive_answer(&node, &p, &rid, pfs, error)).await;
            let mut targets = vec![format!("request:{request_id}"), format!("event:{event_id}")];
            match result {
                Ok((ids, new)) => {
                    targets.extend(ids);
                    let d = Decision::Permit {
                        policy: String::new(),
                        rule: if new {
                            "answer accepted".into()
                        } else {
                            "repeated answer; nothing changed".into()
                        },
                        view: View::Summary,
                    };
                    record(state, &caller, M_EVENTS, targets, &d, None).await
                }
                Err(e) => Err(refuse(state, &caller, M_EVENTS, e).await),
            }
        }
    }
}

/// Applies a PACT answer to the outgoing request `request_id`: it must be a request this node
/// sent over PACT, to the answering client's company (or to a host whose company was not
/// named); every footprint must be valid and any owner signature must verify, else nothing
/// is stored. Returns the stored footprint ids and whether the request changed.
fn receive_answer(
    node: &Node,
    partner: &Partner,
    request_id: &str,
    pfs: Option<Vec<Value>>,
    error: Option<(String, String)>,
) -> Result<(Vec<String>, bool), ApiError> {
    let unknown = || {
        ApiError::BadRequest(format!(
            "data.requestEventId {request_id} names no pact request this node sent to you"
        ))
    };
    let request = node
        .exchange()
        .outgoing_request(request_id)?
        .ok_or_else(unknown)?;
    let Some(url) = &request.pact_url else {
        return Err(unknown());
    };
    let answerer_ok = if request.to.starts_with("pact:") {
        true
    } else {
        request.to.eq_ignore_ascii_case(&partner.company_id)
    };
    if !answerer_ok {
        return Err(unknown());
    }
    let provenance = format!("pact:{url}");
    let (entries, reason) = match (pfs, error) {
        (Some(pfs), _) => {
            let mut entries = Vec::with_capacity(pfs.len());
            for (n, doc) in pfs.into_iter().enumerate() {
                let e = pull::entry(node, doc, &provenance)
                    .map_err(|reason| ApiError::BadRequest(format!("data.pfs[{n}]: {reason}")))?;
                answers_request(&request, &e)
                    .map_err(|reason| ApiError::BadRequest(format!("data.pfs[{n}]: {reason}")))?;
                entries.push(e);
            }
            (Some(entries), None)
        }
        (None, Some((code, message))) => (
            None,
            Some(if message.is_empty() {
                code
            } else {
                format!("{code}: {message}")
            }),
        ),
        (None, None) => return Err(ApiError::Internal("an answer without outcome".into())),
    };
    let ids = entries
        .iter()
        .flatten()
        .map(|e| e.id.clone())
        .collect::<Vec<_>>();
    let new = node
        .exchange()
        .answer_outgoing(
            request_id,
            &request.to,
            entries.as_deref(),
            reason.as_deref(),
        )
        .map_err(|e| match e {
            tanso_core::NodeError::Store(tanso_core::store::StoreError::NotFound(_)) => unknown(),
            other => other.into(),
        })?;
    Ok((ids, new))
}

/// Whether a footprint in a RequestFulfilled event is an answer to `request`: it is for one of
/// the products (or classifications) asked for, and, when the request named the supplier's
/// company, that company owns it. An answer that brings anything else is refused whole, so
/// a host cannot slip unrelated footprints into the inbox.
fn answers_request(request: &OutgoingRequest, entry: &InboxEntry) -> Result<(), String> {
    let doc = &entry.document;
    let strings = |field: &str| -> Vec<String> {
        doc.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let has = |asked: &[String], got: &[String]| {
        asked
            .iter()
            .any(|a| got.iter().any(|g| g.eq_ignore_ascii_case(a)))
    };
    let classifications = strings("productClassifications");
    if !has(&request.product_ids, &entry.product_ids)
        && !has(&request.classifications, &classifications)
    {
        return Err(format!(
            "footprint {} is for none of the products or classifications requested",
            entry.id
        ));
    }
    if !request.to.starts_with("pact:")
        && !has(std::slice::from_ref(&request.to), &strings("companyIds"))
    {
        return Err(format!(
            "footprint {} is not owned by {}, the company the request went to",
            entry.id, request.to
        ));
    }
    Ok(())
}

/// The lifecycle request id of a PACT RequestCreated event: a uuid derived from the requester
/// and the event id, so a repeated delivery of the same event is recognised.
fn request_id(company_id: &str, event_id: &str) -> String {
    derived_uuid(&company_id.to_ascii_lowercase(), event_id)
}

/// A uuid (version 8 layout) derived from two strings.
fn derived_uuid(a: &str, b: &str) -> String {
    let digest = Sha256::digest(format!("{a}\n{b}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub enum Event {
    Published {
        event_id: String,
        pf_ids: Vec<String>,
    },
    RequestCreated {
        event_id: String,
        product_ids: Vec<String>,
        classifications: Vec<String>,
        comment: String,
    },
    /// A RequestFulfilled (`pfs`) or RequestRejected (`error`) event answering a request
    /// this node sent with `tanso pact request`.
    Answer {
        event_id: String,
        request_id: String,
        pfs: Option<Vec<Value>>,
        error: Option<(String, String)>,
    },
}

async fn parse_event(state: &Shared, headers: &HeaderMap, body: Body) -> Result<Event, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type != EVENTS_CONTENT_TYPE {
        return Err(ApiError::BadRequest(format!(
            "content type must be {EVENTS_CONTENT_TYPE} (CloudEvents structured mode)"
        )));
    }
    let body = read_body(state, body).await?;
    parse_event_body(&body)
}

/// A structured-mode CloudEvent (the body of `POST /3/events`), checked attribute by
/// attribute; no IO.
pub fn parse_event_body(body: &[u8]) -> Result<Event, ApiError> {
    let ev: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body is not json: {e}")))?;
    let Some(obj) = ev.as_object() else {
        return Err(ApiError::BadRequest(
            "the event must be a json object".into(),
        ));
    };
    let attr = |name: &str| -> Result<&str, ApiError> {
        obj.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "attribute {name} is missing or not a non-empty string"
                ))
            })
    };
    if attr("specversion")? != "1.0" {
        return Err(ApiError::BadRequest("specversion must be \"1.0\"".into()));
    }
    let event_id = attr("id")?.to_string();
    attr("source")?;
    let kind = attr("type")?;
    let time = attr("time")?;
    if chrono::DateTime::parse_from_rfc3339(time).is_err() {
        return Err(ApiError::BadRequest(format!(
            "attribute time must be an rfc 3339 datetime, found {time:?}"
        )));
    }
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::BadRequest("attribute data is missing or not an object".into()))?;
    match kind {
        EV_PUBLISHED => {
            let ids = data
                .get("pfIds")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    ApiError::BadRequest("data.pfIds must be a non-empty array".into())
                })?;
            let mut pf_ids = Vec::with_capacity(ids.len());
            for (n, v) in ids.iter().enumerate() {
                let id = v
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .filter(|s| tanso_core::ids::is_uuid(s))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("data.pfIds[{n}] is not a uuid"))
                    })?;
                pf_ids.push(id);
            }
            Ok(Event::Published { event_id, pf_ids })
        }
        EV_REQUEST_CREATED => {
            const KNOWN: &[&str] = &[
                "productId",
                "companyId",
                "geography",
                "classification",
                "validOn",
                "validAfter",
                "validBefore",
                "status",
                "comment",
            ];
            if let Some(k) = data.keys().find(|k| !KNOWN.contains(&k.as_str())) {
                return Err(ApiError::BadRequest(format!(
                    "data.{k} is not a request filter"
                )));
            }
            let list = |name: &str| -> Result<Vec<String>, ApiError> {
                match data.get(name) {
                    None => Ok(Vec::new()),
                    Some(Value::Array(a)) => a
                        .iter()
                        .enumerate()
                        .map(|(n, v)| {
                            v.as_str()
                                .filter(|s| tanso_core::ids::is_urn(s))
                                .map(str::to_string)
                                .ok_or_else(|| {
                                    ApiError::BadRequest(format!("data.{name}[{n}] is not a urn"))
                                })
                        })
                        .collect(),
                    Some(_) => Err(ApiError::BadRequest(format!(
                        "data.{name} must be an array"
                    ))),
                }
            };
            let product_ids = list("productId")?;
            let classifications = list("classification")?;
            if product_ids.is_empty() && classifications.is_empty() {
                return Err(ApiError::BadRequest(
                    "this node answers requests naming at least one productId or classification"
                        .into(),
                ));
            }
            let comment = match data.get("comment") {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(ApiError::BadRequest("data.comment must be a string".into()));
                }
            };
            Ok(Event::RequestCreated {
                event_id,
                product_ids,
                classifications,
                comment,
            })
        }
        EV_REQUEST_FULFILLED | EV_REQUEST_REJECTED => {
            let request_id = data
                .get("requestEventId")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| tanso_core::ids::is_uuid(s))
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "data.requestEventId must be the uuid of a request this node sent".into(),
                    )
                })?;
            if kind == EV_REQUEST_FULFILLED {
                let pfs = data
                    .get("pfs")
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| {
                        ApiError::BadRequest("data.pfs must be a non-empty array".into())
                    })?;
                if let Some(n) = pfs.iter().position(|p| !p.is_object()) {
                    return Err(ApiError::BadRequest(format!(
                        "data.pfs[{n}] is not a footprint object"
                    )));
                }
                Ok(Event::Answer {
                    event_id,
                    request_id,
                    pfs: Some(pfs.clone()),
                    error: None,
                })
            } else {
                const CODES: &[&str] = &[
                    "BadRequest",
                    "AccessDenied",
                    "TokenExpired",
                    "NotFound",
                    "InternalError",
                    "NotImplemented",
                ];
                let err = data
                    .get("error")
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        ApiError::BadRequest("data.error must be an object {code, message}".into())
                    })?;
                let code = err
                    .get("code")
                    .and_then(Value::as_str)
                    .filter(|c| CODES.contains(c))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "data.error.code must be one of {}",
                            CODES.join(", ")
                        ))
                    })?;
                let message = match err.get("message") {
                    None => String::new(),
                    Some(Value::String(m)) => m.clone(),
                    Some(_) => {
                        return Err(ApiError::BadRequest(
                            "data.error.message must be a string".into(),
                        ));
                    }
                };
                Ok(Event::Answer {
                    event_id,
                    request_id,
                    pfs: None,
                    error: Some((code.to_string(), message)),
                })
            }
        }
        other => Err(ApiError::BadRequest(format!(
            "unknown event type {other:?}"
        ))),
    }
}
