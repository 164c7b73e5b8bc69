//! The host's shared HTTPS ports: the PACT API and the dashboard of tenant `t` are served
//! under `/t/{t}/`. The prefix picks the tenant; the rest of the path goes to that tenant's
//! own router, which knows its prefix for the links and redirects it writes. A slug that is
//! unknown, suspended or not served on this door reads like a path that does not exist.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use tower::ServiceExt;

use super::home::check_slug;
use super::tenants::{Host, TenantError};

/// Which web door a router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebDoor {
    Pact,
    Dashboard,
}

/// The router of a shared web port.
pub fn router(host: Host, door: WebDoor) -> Router {
    Router::new().fallback(route).with_state((host, door))
}

async fn route(State((host, door)): State<(Host, WebDoor)>, mut request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/t/") else {
        return not_found(door);
    };
    let (slug, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if check_slug(slug).is_err() {
        return not_found(door);
    }
    let Some(company) = host.company_of_slug(slug) else {
        return not_found(door);
    };
    if tail.is_empty() {
        // `/t/{t}` → `/t/{t}/`, so the page's relative links resolve under the prefix.
        return Redirect::permanent(&format!("/t/{slug}/")).into_response();
    }
    let lease = match host.lease(&company).await {
        Ok(lease) => lease,
        Err(TenantError::Unknown) => return not_found(door),
        Err(e) => {
            tracing::error!(error = %e, "tenant cannot be opened");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let app = match door {
        WebDoor::Pact => lease.open().pact.clone(),
        WebDoor::Dashboard => lease.open().dashboard.clone(),
    };
    let Some(app) = app else {
        return not_found(door);
    };
    let inner = match request.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    match inner.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    let response = app.oneshot(request).await.into_response();
    drop(lease);
    response
}

fn not_found(door: WebDoor) -> Response {
    match door {
        WebDoor::Pact => tanso_pact_api::ApiError::NoRoute.into_response(),
        WebDoor::Dashboard => StatusCode::NOT_FOUND.into_response(),
    }
}
