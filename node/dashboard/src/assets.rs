//! The page's assets, embedded from `dashboard/dist/` (committed, built from
//! `dashboard/src/` by esbuild; a test checks the two match), so a plain `cargo build` serves
//! the real dashboard. Served with an ETag so a reload costs a 304.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;

mod embedded {
    pub(super) const INDEX: &[u8] = include_bytes!("../../../dashboard/dist/index.html");
    pub(super) const APP_JS: &[u8] = include_bytes!("../../../dashboard/dist/app.js");
    pub(super) const APP_CSS: &[u8] = include_bytes!("../../../dashboard/dist/app.css");
}

struct Asset {
    bytes: &'static [u8],
    etag: HeaderValue,
    content_type: &'static str,
}

impl Asset {
    fn new(bytes: &'static [u8], content_type: &'static str) -> Asset {
        let hash = tanso_core::crypto::sha256(bytes);
        let etag = format!("\"{}\"", hex::encode(&hash[..12]));
        Asset {
            bytes,
            etag: HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
            content_type,
        }
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == self.etag.as_bytes());
        let mut r = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, self.content_type)], self.bytes).into_response()
        };
        r.headers_mut().insert(header::ETAG, self.etag.clone());
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    }
}

/// The three embedded files.
pub(crate) struct Assets {
    index: Asset,
    app_js: Asset,
    app_css: Asset,
}

impl Assets {
    pub(crate) fn load() -> Assets {
        Assets {
            index: Asset::new(embedded::INDEX, "text/html; charset=utf-8"),
            app_js: Asset::new(embedded::APP_JS, "text/javascript; charset=utf-8"),
            app_css: Asset::new(embedded::APP_CSS, "text/css; charset=utf-8"),
        }
    }
}

pub(crate) fn index_html(assets: &Assets, headers: &HeaderMap) -> Response {
    assets.index.respond(headers)
}

pub(crate) async fn app_js(State(state): State<Shared>, headers: HeaderMap) -> Response {
    state.assets.app_js.respond(&headers)
}

pub(crate) async fn app_css(State(state): State<Shared>, headers: HeaderMap) -> Response {
    state.assets.app_css.respond(&headers)
}

/// The login page (server-rendered; `message` is one of ours, never user input).
/// `prefix` is the dashboard's path (empty, or `/t/{tenant}` on a host): ours, never input.
pub(crate) fn login_html(
    prefix: &str,
    message: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let message = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{m}</p>"))
        .unwrap_or_default();
    let css = format!("<link rel=\"stylesheet\" href=\"{prefix}/app.css\">");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>tanso · log in</title>{css}</head><body class=\"login\">\
         <main class=\"login-box\"><h1>tanso</h1>{message}\
         <form method=\"post\" action=\"{prefix}/login\">\
         <label>User <input name=\"name\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Log in</button></form>\
         <p class=\"hint\">Users are added with <code>tanso dashboard user add</code>.</p>\
         </main></body></html>"
    );
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
