//! The dashboard's JSON API (`/api/*`) and CSV export (`/api/<table>.csv`).
//!
//! Every handler needs a session ([`Viewer`]); actions need the admin role ([`Admin`]).
//! Store work runs on the blocking pool. Errors are logged here and answered without detail.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, Shared, Viewer, api_error};
use tanso_core::NodeError;

/// Largest page of a table.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 50;
/// Audit entries a request may index itself before answering (the rest is left to the
/// background indexer).
const INLINE_CATCH_UP: usize = 2000;
const REQUESTS_NOTE: &str = "request exchange not enabled on this node";
const DIRECTORY_NOTE: &str = "no directory configured";
const NOT_CONFIGURED: &str = "not configured";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/overview", get(overview))
        .route("/api/overview.csv", get(overview_csv))
        .route("/api/footprints", get(footprints))
        .route("/api/footprints.csv", get(footprints_csv))
        .route("/api/footprints/{id}/deprecate", post(deprecate))
        .route("/api/audit", get(audit))
        .route("/api/audit.csv", get(audit_csv))
        .route("/api/partners", get(partners))
        .route("/api/partners.csv", get(partners_csv))
        .route("/api/requests", get(requests))
        .route("/api/requests.csv", get(requests_csv))
        .route("/api/exchange.csv", get(exchange_csv))
        .route("/api/scope3", get(scope3))
        .route("/api/scope3.csv", get(scope3_csv))
        .route("/api/kpi", get(kpi))
        .route("/api/kpi.csv", get(kpi_csv))
        .route("/api/monitor", get(monitor))
        .route("/api/login-tokens", post(login_token))
}

/// An internal failure: logged with its detail, answered without.
fn internal(context: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard: {context}");
    api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Runs store work on the blocking pool.
async fn blocking<T: Send + 'static>(
    context: &'static str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(context, e)),
        Err(e) => Err(internal(context, e)),
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

impl PageQuery {
    fn bounds(&self) -> (usize, usize) {
        (
            self.offset.unwrap_or(0),
            self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        )
    }
}

async fn me(Viewer(session): Viewer) -> Response {
    Json(json!({ "user": session.user, "role": session.role.as_str() })).into_response()
}

// === overview ===

fn overview_value(state: &Shared) -> Result<Value, String> {
    let index = &state.index;
    // Small backlogs are indexed inline so the tiles are current; a big one (a node that just
    // started with a long log) is left to the background indexer and flagged as not ready.
    index
        .catch_up(Some(INLINE_CATCH_UP), false)
        .map_err(|e| e.to_string())?;
    let (total, active) = index.footprint_counts().map_err(|e| e.to_string())?;
    let partners = state.node.partner_count().map_err(|e| e.to_string())?;
    let audit_len = index.audit_len().map_err(|e| e.to_string())?;
    let mut stats = index.lock_stats();
    let last_24h = stats.last_24h();
    let days: Vec<Value> = stats
        .days
        .iter()
        .rev()
        .take(30)
        .rev()
        .map(|(day, (p, d))| json!({ "day": day, "permitted": p, "denied": d }))
        .collect();
    let exchange = json!({
        "ready": stats.ready,
        "permitted_total": stats.permitted,
        "permitted_24h": last_24h,
        "denied_total": stats.denied,
        "days": days,
    });
    drop(stats);
    let config = state.node.config();
    Ok(json!({
        "company": { "id": state.node.company_id(), "name": config.name },
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "footprints": {
            "total": total,
            "active": active,
            "deprecated": total.saturating_sub(active as u64),
        },
        "partners": partners,
        "requests": {
            "enabled": false,
            "pending": 0,
            "note": REQUESTS_NOTE,
        },
        "exchange": exchange,
        "audit": { "entries": audit_len, "chain": index.chain_status() },
        "directory": { "configured": false, "note": DIRECTORY_NOTE },
        "scope3": { "configured": config.dashboard_ledger.is_some() },
        "kpi": { "configured": config.dashboard_kpi_config.is_some() },
    }))
}

async fn overview(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    match blocking("overview", move || overview_value(&s)).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn overview_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    let v = match blocking("overview", move || overview_value(&s)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let get = |p: &str| {
        v.pointer(p)
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let rows = [
        ("footprints_published", get("/footprints/total")),
        ("footprints_active", get("/footprints/active")),
        ("footprints_deprecated", get("/footprints/deprecated")),
        ("partners", get("/partners")),
        ("pending_requests", get("/requests/pending")),
        ("exchange_permitted_total", get("/exchange/permitted_total")),
        ("exchange_permitted_24h", get("/exchange/permitted_24h")),
        ("exchange_denied_total", get("/exchange/denied_total")),
        ("audit_entries", get("/audit/entries")),
        ("audit_chain", get("/audit/chain/status")),
    ];
    csv_response(
        "overview",
        &["tile", "value"],
        rows.iter().map(|(k, v)| vec![k.to_string(), v.clone()]),
    )
}

// === footprints ===

async fn footprints(
    State(state): State<Shared>,
    Viewer(_): Viewer,
    Query(q): Query<PageQuery>,
) -> Response {
    let (offset, limit) = q.bounds();
    let s = state.clone();
    let result = blocking("footprints", move || {
        let rows = s.index.footprint_rows().map_err(|e| e.to_string())?;
        let _ = s.index.catch_up(Some(INLINE_CATCH_UP), false);
        let stats = s.index.lock_stats();
        let items: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["receivedBy"] = serde_json::to_value(stats.recipients(&r.id, &r.product_ids))
                    .unwrap_or(Value::Null);
                v
            })
            .collect();
        Ok(json!({ "total": rows.len(), "offset": offset, "limit": limit, "items": items }))
    })
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn footprints_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    let result = blocking("footprints csv", move || {
        let rows = s.index.footprint_rows().map_err(|e| e.to_string())?;
        let stats = s.index.lock_stats();
        Ok(rows
            .iter()
            .map(|r| {
                let received: Vec<String> = stats
                    .recipients(&r.id, &r.product_ids)
                    .into_iter()
                    .map(|x| format!("{} ({})", x.company, x.count))
                    .collect();
                vec![
                    r.id.clone(),
                    r.product_ids.join(" "),
                    r.product_name.clone(),
                    r.status.to_string(),
                    r.version.to_string(),
                    r.pcf.clone(),
                    r.declared_unit.clone(),
                    r.reference_period_end.clone(),
                    r.published_at.clone(),
                    r.preceding.join(" "),
                    r.superseded_by.join(" "),
                    received.join("; "),
                ]
            })
            .collect::<Vec<_>>())
    })
    .await;
    match result {
        Ok(rows) => csv_response(
            "footprints",
            &[
                "id",
                "product_ids",
                "product_name",
                "status",
                "version",
                "pcf_excluding_biogenic_kgco2e",
                "declared_unit",
                "reference_period_end",
                "published_at",
                "preceding_ids",
                "superseded_by",
                "received_by",
            ],
            rows,
        ),
        Err(r) => r,
    }
}

async fn deprecate(
    State(state): State<Shared>,
    Admin(session): Admin,
    Path(id): Path<String>,
) -> Response {
    let node = state.node.clone();
    let target = id.clone();
    match tokio::task::spawn_blocking(move || node.deprecate(&target)).await {
        Ok(Ok(())) => {
            tracing::info!(user = %session.user, footprint = %id, "dashboard: footprint deprecated");
            Json(json!({ "deprecated": id })).into_response()
        }
        Ok(Err(NodeError::NotFound(_))) => api_error(StatusCode::NOT_FOUND, "no such footprint"),
        Ok(Err(NodeError::Conflict(_))) => {
            api_error(StatusCode::CONFLICT, "the footprint is already deprecated")
        }
        Ok(Err(e)) => internal("deprecate", e),
        Err(e) => internal("deprecate", e),
    }
}

async fn login_token(State(state): State<Shared>, Admin(session): Admin) -> Response {
    match state
        .sessions
        .create_login_token(&session.user, session.role)
    {
        Ok(token) => Json(json!({
            "url": format!("{}/login/token/{token}", state.prefix),
            "expires_in_secs": super::auth::LOGIN_TOKEN_TTL.as_secs(),
        }))
        .into_response(),
        Err(e) => internal("login token", e),
    }
}

// === audit ===

fn audit_page(state: &Shared, offset: usize, limit: usize) -> Result<Value, String> {
    // Entries before `archived` were archived out of the store: pages reaching back there
    // hold only what the store still has.
    let (total, archived) = state.node.audit_len().map_err(|e| e.to_string())?;
    let newest = total.saturating_sub(offset as u64);
    let from = newest.saturating_sub(limit as u64);
    let page = state
        .node
        .audit()
        .entries(from, (newest - from) as usize)
        .map_err(|e| e.to_string())?;
    let items: Vec<Value> = page
        .iter()
        .rev()
        .filter(|(seq, _)| *seq < newest)
        .map(|(_, raw)| serde_json::from_slice(raw).unwrap_or(Value::Null))
        .collect();
    Ok(json!({
        "total": total,
        "archived": archived,
        "offset": offset,
        "limit": limit,
        "items": items,
        "chain": state.index.chain_status(),
    }))
}

async fn audit(
    State(state): State<Shared>,
    Viewer(_): Viewer,
    Query(q): Query<PageQuery>,
) -> Response {
    let (offset, limit) = q.bounds();
    let s = state.clone();
    match blocking("audit", move || audit_page(&s, offset, limit)).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

const AUDIT_HEADER: [&str; 9] = [
    "seq", "at", "caller", "method", "targets", "decision", "rule", "reason", "hash",
];

/// The whole log, oldest first, streamed page by page.
async fn audit_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let node = state.node.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = csv_bytes(&AUDIT_HEADER, std::iter::empty());
        let mut from = 0u64;
        loop {
            let page = match node.audit().entries(from, 4096) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "dashboard: audit csv");
                    let _ = tx.blocking_send(Err(std::io::Error::other("store error")));
                    return;
                }
            };
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            let rows = page.iter().map(|(seq, raw)| {
                match serde_json::from_slice::<tanso_core::audit::AuditEntry>(raw) {
                    Ok(e) => vec![
                        e.seq.to_string(),
                        e.at,
                        e.draft.caller,
                        e.draft.method,
                        e.draft.targets.join(" "),
                        e.draft.decision.to_string(),
                        e.draft.rule.unwrap_or_default(),
                        e.draft.reason.unwrap_or_default(),
                        e.hash,
                    ],
                    Err(_) => vec![seq.to_string(), "unreadable entry".into()],
                }
            });
            chunk.extend(csv_rows(rows));
            if tx
                .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                .is_err()
            {
                return;
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Ok(Bytes::from(chunk)));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    csv_headers("audit", body)
}

// === partners ===

fn partner_rows(state: &Shared) -> Result<Vec<Value>, String> {
    let partners = state.node.partners().map_err(|e| e.to_string())?;
    let stats = state.index.lock_stats();
    Ok(partners
        .iter()
        .map(|p| {
            let seen = stats
                .callers
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(&p.card.company_id))
                .map(|(_, v)| v.clone());
            json!({
                "companyId": p.card.company_id,
                "name": p.card.name,
                "endpoint": p.card.endpoint,
                "keyId": p.card.key_id,
                "groups": p.groups,
                "addedAt": p.added_at,
                "requests": seen.as_ref().map(|s| s.0).unwrap_or(0),
                "lastSeen": seen.map(|s| s.1),
            })
        })
        .collect())
}

async fn partners(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    match blocking("partners", move || partner_rows(&s)).await {
        Ok(items) => Json(json!({
            "total": items.len(),
            "items": items,
            "directory": { "configured": false, "note": DIRECTORY_NOTE },
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn partners_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    let items = match blocking("partners", move || partner_rows(&s)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let text = |v: &Value, k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    csv_response(
        "partners",
        &[
            "company_id",
            "name",
            "endpoint",
            "key_id",
            "groups",
            "added_at",
            "requests",
            "last_seen",
        ],
        items.iter().map(|v| {
            [
                "companyId",
                "name",
                "endpoint",
                "keyId",
                "groups",
                "addedAt",
                "requests",
                "lastSeen",
            ]
            .iter()
            .map(|k| text(v, k))
            .collect()
        }),
    )
}

// === requests (not enabled on this node yet) ===

async fn requests(Viewer(_): Viewer) -> Response {
    Json(json!({
        "enabled": false,
        "note": REQUESTS_NOTE,
        "inbox": [],
        "outbox": [],
    }))
    .into_response()
}

async fn requests_csv(Viewer(_): Viewer) -> Response {
    csv_response(
        "requests",
        &[
            "direction",
            "id",
            "company",
            "product_id",
            "status",
            "created_at",
            "updated_at",
        ],
        std::iter::empty::<Vec<String>>(),
    )
}

async fn exchange_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    let rows = blocking("exchange", move || {
        s.index
            .catch_up(Some(INLINE_CATCH_UP), false)
            .map_err(|e| e.to_string())?;
        let stats = s.index.lock_stats();
        Ok(stats
            .days
            .iter()
            .map(|(d, (p, n))| vec![d.clone(), p.to_string(), n.to_string()])
            .collect::<Vec<_>>())
    })
    .await;
    match rows {
        Ok(rows) => csv_response("exchange", &["day", "permitted", "denied"], rows),
        Err(r) => r,
    }
}

// === scope 3 and KPIs (optional files named in [dashboard]) ===

fn in_home(state: &Shared, p: &FsPath) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        state.node.home().dir.join(p)
    }
}

pub(super) enum Calc<T> {
    NotConfigured,
    Failed(String),
    Done(T),
}

/// The Scope 3 view's options as the page sends them: `?year=2025&exclude=8`.
#[derive(Debug, Default, Deserialize)]
struct Scope3Query {
    /// The reporting year; absent: the latest year the ledger names.
    #[serde(default)]
    year: Option<String>,
    /// Categories to leave out, comma-separated (only 8 may be); absent: the
    /// `[dashboard] exclude_category_8` default; empty: none.
    #[serde(default)]
    exclude: Option<String>,
}

/// Why category 8 may be left out (the only category that may be).
const CATEGORY_8_REASON: &str = "leased assets reported in Scope 1/2 under the Korean ETS";

/// A checked [`Scope3Query`]: `None` where the page left the choice to the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope3Ask {
    year: Option<i32>,
    exclude_category_8: Option<bool>,
}

impl Scope3Query {
    /// Checks the query; every problem is named, all of them in one message.
    fn check(&self) -> Result<Scope3Ask, String> {
        let mut problems = Vec::new();
        let year = match self.year.as_deref().map(str::trim) {
            None => None,
            Some(y) => match y.parse::<i32>() {
                Ok(n) if (1000..=9999).contains(&n) && y.len() == 4 => Some(n),
                _ => {
                    problems.push(format!("year: `{y}` is not a four-digit year"));
                    None
                }
            },
        };
        let exclude_category_8 = self.exclude.as_deref().map(|list| {
            let mut eight = false;
            for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                match item.parse::<u8>() {
                    Ok(8) => eight = true,
                    Ok(n @ 1..=7) => problems.push(format!(
                        "exclude: category {n} cannot be left out (only 8 can: {CATEGORY_8_REASON})"
                    )),
                    _ => problems.push(format!("exclude: `{item}` is not a category number (1-8)")),
                }
            }
            eight
        });
        if problems.is_empty() {
            Ok(Scope3Ask {
                year,
                exclude_category_8,
            })
        } else {
            Err(problems.join("; "))
        }
    }
}

/// A Scope 3 report and the options it was calculated with (for the page's controls).
struct Scope3Run {
    report: tanso_calc::scope3::Report,
    options: Value,
}

fn scope3_report(state: &Shared, ask: Scope3Ask) -> Calc<Scope3Run> {
    use tanso_calc::scope3;
    let config = state.node.config();
    let Some(ledger) = &config.dashboard_ledger else {
        return Calc::NotConfigured;
    };
    let path = in_home(state, ledger);
    let ledger = match scope3::read_ledger(&path) {
        Ok(l) => l,
        Err(e) => return Calc::Failed(format!("ledger {}: {e}", path.display())),
    };
    let index = match state
        .node
        .inbox()
        .map(|inbox| tanso_calc::scope3::inbox::suppliers(&inbox))
    {
        Ok(pcfs) => scope3::SupplierIndex::new(pcfs),
        Err(e) => return Calc::Failed(format!("inbox: {e}")),
    };
    let years = ledger.ledger.years();
    // GHG Protocol: a report is for one year, and category 2 counts the capital goods
    // acquired in it; without a year asked for, the latest year the ledger names.
    let year = ask.year.or_else(|| years.last().copied());
    let exclude_category_8 = ask
        .exclude_category_8
        .unwrap_or(config.dashboard_exclude_category_8);
    let options = scope3::ReportOptions {
        year,
        exclude_category_8,
        ..scope3::ReportOptions::default()
    };
    match scope3::calculate_read(&ledger, &scope3::FactorLibrary::builtin(), &index, &options) {
        Ok(report) => Calc::Done(Scope3Run {
            report,
            options: json!({
                "year": year,
                "years": years,
                "exclude": if exclude_category_8 { vec![8] } else { vec![] },
                "excludable": [{
                    "number": 8,
                    "name": scope3::Category::C8UpstreamLeased.name(),
                    "reason": CATEGORY_8_REASON,
                    "default": config.dashboard_exclude_category_8,
                }],
            }),
        }),
        Err(e) => Calc::Failed(format!("ledger {}: {e}", path.display())),
    }
}

/// The framework and its measures per company, department and team: the node's own monthly
/// counts, the inventory ledger and the measures CSV (`tanso_calc::kpi::assemble`, the one
/// assembly `tanso kpi report` and `tanso kpi monitor` use too). `None`: no `kpi_config`.
fn kpi_inputs(
    state: &Shared,
) -> Option<Result<(tanso_calc::kpi::KpiConfig, tanso_calc::kpi::OrgMeasures), String>> {
    use tanso_calc::kpi;
    let config = state.node.config();
    let cfg_path = in_home(state, config.dashboard_kpi_config.as_ref()?);
    let run = || {
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| format!("{}: {e}", cfg_path.display()))?;
        let cfg =
            kpi::load_config(&text, &cfg_path.display().to_string()).map_err(|e| e.to_string())?;
        // The node's own data first (footprints, exchange statistics), then the inventory and
        // the CSV.
        let node = state
            .node
            .monthly_counts(&|n| cfg.measure(n).is_some())
            .map(kpi::node_measures)
            .map_err(|e| e.to_string())?;
        let inventory = config
            .dashboard_inventory
            .as_ref()
            .map(|p| in_home(state, p));
        let measures: Vec<PathBuf> = config
            .dashboard_kpi_measures
            .iter()
            .map(|p| in_home(state, p))
            .collect();
        let sources = kpi::Sources {
            inventory: inventory.as_deref(),
            measures: &measures,
        };
        let org = kpi::assemble(&cfg, node, sources).map_err(|e| e.to_string())?;
        Ok((cfg, org))
    };
    Some(run())
}

fn kpi_report(state: &Shared) -> Calc<tanso_calc::kpi::KpiReport> {
    match kpi_inputs(state) {
        None => Calc::NotConfigured,
        Some(Err(e)) => Calc::Failed(e),
        Some(Ok((cfg, org))) => match tanso_calc::kpi::report(&cfg, &org.company, None) {
            Ok(r) => Calc::Done(r),
            Err(e) => Calc::Failed(e.to_string()),
        },
    }
}

/// The monitoring views for `month`; `Err` is a month the data does not cover (a 400).
fn monitor_report(
    state: &Shared,
    month: Option<tanso_calc::kpi::Period>,
) -> Result<Calc<tanso_calc::monitor::MonitorReport>, String> {
    use tanso_calc::monitor::{self, MonitorError};
    let (cfg, org) = match kpi_inputs(state) {
        None => return Ok(Calc::NotConfigured),
        Some(Err(e)) => return Ok(Calc::Failed(e)),
        Some(Ok(inputs)) => inputs,
    };
    let plans = match &state.node.config().dashboard_action_plans {
        None => Vec::new(),
        Some(p) => {
            let p = in_home(state, p);
            let loaded = std::fs::read_to_string(&p)
                .map_err(|e| format!("{}: {e}", p.display()))
                .and_then(|text| {
                    monitor::load_action_plans(&text, &p.display().to_string(), &cfg)
                        .map_err(|e| e.to_string())
                });
            match loaded {
                Ok(plans) => plans,
                Err(e) => return Ok(Calc::Failed(e)),
            }
        }
    };
    match monitor::build(&cfg, &org, &plans, month) {
        Ok(r) => Ok(Calc::Done(r)),
        Err(e @ MonitorError::Month { .. }) => Err(e.to_string()),
        Err(e) => Ok(Calc::Failed(e.to_string())),
    }
}

/// `GET /api/monitor?month=YYYY-MM`.
#[derive(Debug, Default, Deserialize)]
struct MonitorQuery {
    #[serde(default)]
    month: Option<String>,
}

async fn monitor(
    State(state): State<Shared>,
    Viewer(_): Viewer,
    Query(q): Query<MonitorQuery>,
) -> Response {
    let month = match q.month.as_deref().map(tanso_calc::monitor::parse_month) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => return api_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let s = state.clone();
    match blocking("monitor", move || Ok(monitor_report(&s, month))).await {
        Ok(Ok(calc)) => Json(monitor_json(calc)).into_response(),
        Ok(Err(e)) => api_error(StatusCode::BAD_REQUEST, &e),
        Err(r) => r,
    }
}

/// The body of `GET /api/monitor` (the contract in the dashboard's README).
pub(super) fn monitor_json(calc: Calc<tanso_calc::monitor::MonitorReport>) -> Value {
    match calc {
        Calc::NotConfigured => json!({ "configured": false, "note": NOT_CONFIGURED }),
        Calc::Failed(e) => json!({ "configured": true, "error": e }),
        Calc::Done(r) => json!({ "configured": true, "report": r }),
    }
}

fn calc_json<T>(calc: Calc<T>, render: impl FnOnce(&T) -> String) -> Value {
    match calc {
        Calc::NotConfigured => json!({ "configured": false, "note": NOT_CONFIGURED }),
        Calc::Failed(e) => json!({ "configured": true, "error": e }),
        Calc::Done(r) => {
            let report: Value = serde_json::from_str(&render(&r)).unwrap_or(Value::Null);
            json!({ "configured": true, "report": report })
        }
    }
}

async fn scope3(
    State(state): State<Shared>,
    Viewer(_): Viewer,
    Query(q): Query<Scope3Query>,
) -> Response {
    let ask = match q.check() {
        Ok(a) => a,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &e),
    };
    let s = state.clone();
    match blocking("scope3", move || {
        let calc = scope3_report(&s, ask);
        let options = match &calc {
            Calc::Done(run) => run.options.clone(),
            _ => Value::Null,
        };
        let mut v = calc_json(calc, |r| r.report.render(tanso_calc::scope3::Format::Json));
        if !options.is_null() {
            v["options"] = options;
        }
        Ok(v)
    })
    .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn kpi(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    match blocking("kpi", move || {
        Ok(calc_json(kpi_report(&s), |r| {
            r.render(tanso_calc::kpi::Format::Json)
        }))
    })
    .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

fn calc_csv<T>(name: &'static str, calc: Calc<T>, render: impl FnOnce(&T) -> String) -> Response {
    match calc {
        Calc::NotConfigured => api_error(StatusCode::NOT_FOUND, NOT_CONFIGURED),
        Calc::Failed(e) => api_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
        Calc::Done(r) => csv_headers(name, Body::from(render(&r))),
    }
}

async fn scope3_csv(
    State(state): State<Shared>,
    Viewer(_): Viewer,
    Query(q): Query<Scope3Query>,
) -> Response {
    let ask = match q.check() {
        Ok(a) => a,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &e),
    };
    let s = state.clone();
    match blocking("scope3", move || Ok(scope3_report(&s, ask))).await {
        Ok(calc) => calc_csv("scope3", calc, |r| {
            r.report.render(tanso_calc::scope3::Format::Csv)
        }),
        Err(r) => r,
    }
}

async fn kpi_csv(State(state): State<Shared>, Viewer(_): Viewer) -> Response {
    let s = state.clone();
    match blocking("kpi", move || Ok(kpi_report(&s))).await {
        Ok(calc) => calc_csv("kpi", calc, |r| r.render(tanso_calc::kpi::Format::Csv)),
        Err(r) => r,
    }
}

// === CSV ===

/// Keeps a spreadsheet from reading a cell as a formula.
fn defuse(cell: &str) -> String {
    let mut chars = cell.chars();
    let risky = match chars.next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => !chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    if risky {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn csv_rows(rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let _ = w.write_record(row.iter().map(|c| defuse(c)));
    }
    w.into_inner().unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut out = csv_rows(std::iter::once(
        header.iter().map(|h| h.to_string()).collect(),
    ));
    out.extend(csv_rows(rows));
    out
}

fn csv_headers(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

fn csv_response(
    name: &str,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Response {
    csv_headers(name, Body::from(csv_bytes(header, rows)))
}
