//! The relay's Prometheus metrics and its plain-HTTP ops listener (`metrics_listen`):
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! Labels are bounded sets (a direction, a refusal reason), never company ids or addresses,
//! so the series count does not grow with the members a relay serves.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::server::Relay;

type Labels = Vec<(&'static str, &'static str)>;

/// Why the relay closed a connection before pairing it (the `reason` label).
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// Over `max_connections`.
    ConnectionCap,
    /// No valid first frame in time.
    BadFrame,
    /// A registration whose credential or proof failed.
    Registration,
    /// A client asked for a member that is not connected.
    NotConnected,
    /// The member is at `max_sessions_per_node`.
    SessionLimit,
    /// The member did not dial its data connection in time.
    NoAnswer,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::ConnectionCap => "connection_cap",
            Refusal::BadFrame => "bad_frame",
            Refusal::Registration => "registration",
            Refusal::NotConnected => "not_connected",
            Refusal::SessionLimit => "session_limit",
            Refusal::NoAnswer => "no_answer",
        }
    }
}

/// Counters and gauges of one relay.
pub struct RelayMetrics {
    registry: Registry,
    pub connections: Gauge,
    pub registered: Gauge,
    pub sessions: Gauge,
    sessions_total: Counter,
    pub to_node: Counter,
    pub to_client: Counter,
    refusals: Family<Labels, Counter>,
}

impl std::fmt::Debug for RelayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMetrics").finish_non_exhaustive()
    }
}

impl Default for RelayMetrics {
    fn default() -> Self {
        RelayMetrics::new()
    }
}

impl RelayMetrics {
    pub fn new() -> RelayMetrics {
        let mut registry = Registry::with_prefix("tanso_relay");
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Open TCP connections (control, data and client)",
            connections.clone(),
        );
        let registered = Gauge::default();
        registry.register(
            "registered_nodes",
            "Members with a live control connection",
            registered.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "sessions",
            "Paired sessions copying bytes right now",
            sessions.clone(),
        );
        let sessions_total = Counter::default();
        registry.register(
            "sessions_paired",
            "Sessions paired since start",
            sessions_total.clone(),
        );
        let bytes = Family::<Labels, Counter>::default();
        registry.register(
            "relayed_bytes",
            "Bytes copied, by direction (to_node: client to member; to_client: member to client)",
            bytes.clone(),
        );
        let to_node = bytes.get_or_create(&vec![("direction", "to_node")]).clone();
        let to_client = bytes
            .get_or_create(&vec![("direction", "to_client")])
            .clone();
        let refusals = Family::<Labels, Counter>::default();
        registry.register(
            "refusals",
            "Connections closed before pairing, by reason",
            refusals.clone(),
        );
        RelayMetrics {
            registry,
            connections,
            registered,
            sessions,
            sessions_total,
            to_node,
            to_client,
            refusals,
        }
    }

    /// Counts one refused connection.
    pub fn refused(&self, why: Refusal) {
        self.refusals
            .get_or_create(&vec![("reason", why.label())])
            .inc();
    }

    /// Marks a session paired; the gauge goes down when the guard drops.
    pub fn session(&self) -> GaugeGuard {
        self.sessions_total.inc();
        GaugeGuard::new(&self.sessions)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Holds a gauge one up for its lifetime.
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn new(gauge: &Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The file in the relay home where `serve` writes the address the ops listener bound.
pub const ADDR_FILE: &str = "metrics.addr";

/// The address the ops listener of the relay in `dir` bound, once it has.
pub fn bound_addr(dir: &std::path::Path) -> Option<SocketAddr> {
    tanso_core::metrics::read_addr_file(&dir.join(ADDR_FILE))
}

/// Serves `/metrics`, `/healthz` and `/readyz` for `relay` over plain HTTP until `shutdown`
/// completes; the bound address goes to `<home>/metrics.addr`.
pub async fn serve(
    relay: Relay,
    listener: TcpListener,
    home: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(relay);
    tanso_core::metrics::serve_ops(
        "relay metrics",
        app,
        listener,
        home.join(ADDR_FILE),
        OPS_POLICY,
        shutdown,
    )
    .await;
}

/// The relay's ops listener: a handful of scrapers and probes.
const OPS_POLICY: tanso_core::conn::ConnPolicy = tanso_core::conn::ConnPolicy {
    max_connections: 64,
    idle_timeout: Some(std::time::Duration::from_secs(120)),
    keepalive: None,
};

async fn scrape(State(relay): State<Relay>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        relay.metrics().render(),
    )
}

/// Ready when the relay port is bound and the status list of every trusted directory has
/// been received at least once (before that, a revoked member could still register).
async fn ready(State(relay): State<Relay>) -> (StatusCode, String) {
    match relay.unready_reason() {
        None => (StatusCode::OK, "ready\n".into()),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}
