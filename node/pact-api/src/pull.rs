//! `tanso pact pull`: a PACT v3 client. Discovers the token endpoint, gets a token with client
//! credentials, pages through `GET /3/footprints`, validates every footprint and keeps it in
//! the inbox with provenance `pact:<base>` and what its owner signature showed.
//!
//! The host's certificate is checked as [`ServerTrust`] says: pinned by SHA-256 fingerprint (a
//! tanso host presents its node certificate, whose fingerprint is on its card), against a
//! private CA, or against the web PKI roots. Requests go through [`super::http`], which
//! bounds each by the `[pact] client_*` deadlines and response cap.

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use super::http::{HttpClient, HttpError, Response};
use super::trust::{ServerTrust, TrustError};
use tanso_core::config::HttpClientLimits;
use tanso_core::node::Node;
use tanso_core::pact::{self, Status, ValidationContext};
use tanso_core::progress::{NoProgress, Progress, Unit};
use tanso_core::signed::{self, VIEW_SUMMARY};
use tanso_core::store::{InboxEntry, SignatureStatus};

/// Most pages followed in one pull.
const MAX_PAGES: usize = 10_000;

/// Errors of a pull.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0:?} is not an https://host:port base url")]
    BadUrl(String),
    #[error("tls trust: {0}")]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{what}: http {status}: {body}")]
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Node(#[from] tanso_core::NodeError),
}

/// What to pull and how to authenticate.
#[derive(Debug, Clone)]
pub struct PullArgs {
    /// `https://host:port` (no path).
    pub base: String,
    /// How the host's certificate is checked.
    pub trust: ServerTrust,
    pub client_id: String,
    pub client_secret: String,
    /// ListFootprints query pairs (filters and `limit`).
    pub query: Vec<(String, String)>,
}

/// What a pull kept and refused.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PullReport {
    /// (footprint id, signature status) of what was stored.
    pub stored: Vec<(String, SignatureStatus)>,
    /// Footprints refused, with the reason.
    pub refused: Vec<String>,
    pub pages: usize,
}

/// A PACT host and the client that calls it (its connection is reused by every request of
/// the operation that holds this).
pub struct Host {
    pub base: String,
    http: HttpClient,
}

impl Host {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, PullError> {
        Ok(self.http.send(method, path, headers, body).await?)
    }

    /// The path of an absolute URL on this host.
    fn path_of(&self, url: &str) -> Result<String, PullError> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| PullError::Protocol(format!("{url:?} is not an https url")))?;
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        Ok(path.to_string())
    }
}

fn encode(s: &str) -> String {
    super::encode(s)
}

fn b64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A PACT host reached at `base` (`https://host:port`), its certificate checked per `trust`,
/// every request bounded by `limits`. Nothing is resolved or connected until the first
/// request (within its connect deadline).
pub fn host_at(
    base: &str,
    trust: &ServerTrust,
    limits: HttpClientLimits,
) -> Result<Host, PullError> {
    let base = base.trim_end_matches('/').to_string();
    let authority = base
        .strip_prefix("https://")
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| PullError::BadUrl(base.clone()))?;
    // `https://host` without a port means 443 (the connector's default).
    if authority.parse::<hyper::http::uri::Authority>().is_err() {
        return Err(PullError::BadUrl(base));
    }
    let http = super::http::client_for(&base, authority, trust, limits)?;
    Ok(Host { base, http })
}

/// An access token from `host` for the client credentials: the token endpoint is discovered
/// through `/.well-known/openid-configuration`, falling back to `/auth/token` as the spec says.
pub async fn token(host: &Host, client_id: &str, secret: &str) -> Result<String, PullError> {
    let conf = host
        .send("GET", "/.well-known/openid-configuration", &[], b"")
        .await?;
    let token_path = match conf
        .json()
        .as_ref()
        .and_then(|v| v["token_endpoint"].as_str())
    {
        Some(url) if conf.status == 200 => host.path_of(url)?,
        _ => "/auth/token".to_string(),
    };
    let basic = b64_basic(client_id, secret);
    let r = host
        .send(
            "POST",
            &token_path,
            &[
                ("authorization", &basic),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        )
        .await?;
    if r.status != 200 {
        return Err(PullError::Status {
            what: "token",
            status: r.status,
            body: r.excerpt(),
        });
    }
    r.json()
        .and_then(|v| v["access_token"].as_str().map(str::to_string))
        .ok_or_else(|| PullError::Protocol("token response has no access_token".into()))
}

/// Pulls footprints from a PACT host into `node`'s inbox.
pub async fn pull(node: &Node, args: PullArgs) -> Result<PullReport, PullError> {
    pull_with(node, args, &NoProgress).await
}

/// [`pull`], reporting the footprints received, page by page, to `progress`.
pub async fn pull_with(
    node: &Node,
    args: PullArgs,
    progress: &dyn Progress,
) -> Result<PullReport, PullError> {
    let host = host_at(&args.base, &args.trust, node.config().pact_client)?;
    let base = host.base.clone();
    let token = token(&host, &args.client_id, &args.client_secret).await?;
    let bearer = format!("Bearer {token}");

    let query: Vec<String> = args
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let mut path = if query.is_empty() {
        "/3/footprints".to_string()
    } else {
        format!("/3/footprints?{}", query.join("&"))
    };
    let mut report = PullReport::default();
    let provenance = format!("pact:{base}");
    progress.start("pulling footprints", Unit::Footprints, None);
    loop {
        let r = host
            .send("GET", &path, &[("authorization", &bearer)], b"")
            .await?;
        if r.status != 200 {
            return Err(PullError::Status {
                what: "list footprints",
                status: r.status,
                body: r.excerpt(),
            });
        }
        report.pages += 1;
        let body = r
            .json()
            .ok_or_else(|| PullError::Protocol("list response is not json".into()))?;
        let data = body["data"]
            .as_array()
            .ok_or_else(|| PullError::Protocol("list response has no data array".into()))?;
        progress.advance(data.len() as u64);
        let mut entries = Vec::with_capacity(data.len());
        for doc in data {
            match entry(node, doc.clone(), &provenance) {
                Ok(e) => {
                    report.stored.push((e.id.clone(), e.signature_status));
                    entries.push(e);
                }
                Err(reason) => report.refused.push(reason),
            }
        }
        let n = node.clone();
        tokio::task::spawn_blocking(move || n.exchange().put_inbox(&entries))
            .await
            .map_err(|_| PullError::Protocol("inbox write task failed".into()))??;
        let next = r
            .header("link")
            .and_then(|l| l.split(',').find(|p| p.contains("rel=\"next\"")))
            .and_then(|l| l.trim().strip_prefix('<'))
            .and_then(|l| l.split_once('>'))
            .map(|(u, _)| u.to_string());
        match next {
            Some(url) if report.pages < MAX_PAGES => path = host.path_of(&url)?,
            _ => {
                progress.finish();
                return Ok(report);
            }
        }
    }
}

/// One received footprint as an inbox entry, or why it is refused.
pub fn entry(node: &Node, doc: Value, provenance: &str) -> Result<InboxEntry, String> {
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|id| tanso_core::ids::is_uuid(id))
        .ok_or("a footprint without a uuid id")?;
    let (view_json, sig) =
        signed::detach(doc.clone()).map_err(|e| format!("{id}: malformed signature: {e}"))?;
    let from_company = doc
        .get("companyIds")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (signature_status, view) = match &sig {
        None => (SignatureStatus::Unsigned, "full"),
        Some(sig) => {
            signed::verify_view(&view_json, sig)
                .map_err(|e| format!("{id}: owner signature fails: {e}"))?;
            let known = node
                .partner(&sig.company_id)
                .ok()
                .flatten()
                .is_some_and(|p| {
                    // The partner's current key or one its key history retired.
                    p.card.public_key_by_id(&sig.key_id) == Some(sig.public_key.as_str())
                        && from_company.eq_ignore_ascii_case(&sig.company_id)
                });
            let view = if sig.view == VIEW_SUMMARY {
                "summary"
            } else {
                "full"
            };
            (
                if known {
                    SignatureStatus::Verified
                } else {
                    SignatureStatus::SignedUnknownKey
                },
                view,
            )
        }
    };
    let findings: Vec<String> = if view == "full" {
        pact::validate(&view_json, &ValidationContext::default())
            .into_iter()
            .map(|f| f.to_string())
            .collect()
    } else {
        Vec::new()
    };
    if !findings.is_empty() {
        return Err(format!("{id}: invalid: {}", findings.join("; ")));
    }
    let product_ids = doc
        .get("productIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let status = match doc.get("status").and_then(Value::as_str) {
        None => Status::Active,
        Some(text) => text.parse().map_err(|e| format!("{id}: {e}"))?,
    };
    Ok(InboxEntry {
        id,
        document: doc,
        view: view.to_string(),
        provenance: provenance.to_string(),
        from_company,
        received_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        signature_status,
        findings,
        product_ids,
        status,
        superseded_by: None,
    })
}
