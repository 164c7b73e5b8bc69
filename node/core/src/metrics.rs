//! Prometheus metrics and the plain-HTTP ops listener (`[metrics] listen`): `/metrics`,
//! `/healthz` (the process serves) and `/readyz` (the store answers and the peer port is bound).
//!
//! The listener is plain HTTP on its own port because it carries no footprint data: only
//! counts, latencies and sizes. Labels are bounded sets (gRPC method names, policy decisions,
//! PACT route templates and HTTP status codes), never ids, so the series count stays small.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::store::Table;

/// Label set of a series: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// What the process allocator holds, as its own statistics say (jemalloc's `stats.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Bytes in live allocations.
    pub allocated: u64,
    /// Bytes in pages the allocator has dirtied and not returned to the OS (its share of RSS).
    pub resident: u64,
    /// Bytes of virtual memory kept mapped but returned to the OS (not in RSS).
    pub retained: u64,
}

/// Reads the allocator's statistics; `None` when they cannot be read now.
pub type AllocatorStatsFn = fn() -> Option<AllocatorStats>;

/// The gauges for [`AllocatorStats`].
struct AllocatorGauges {
    read: AllocatorStatsFn,
    allocated: Gauge,
    resident: Gauge,
    retained: Gauge,
}

impl AllocatorGauges {
    fn register(
        registry: &mut Registry,
        read: Option<AllocatorStatsFn>,
    ) -> Option<AllocatorGauges> {
        let read = read?;
        let gauges = AllocatorGauges {
            read,
            allocated: Gauge::default(),
            resident: Gauge::default(),
            retained: Gauge::default(),
        };
        registry.register(
            "allocator_allocated_bytes",
            "Bytes in live heap allocations (the process allocator's own count)",
            gauges.allocated.clone(),
        );
        registry.register(
            "allocator_resident_bytes",
            "Bytes of memory the process allocator holds in RAM, live or cached for reuse",
            gauges.resident.clone(),
        );
        registry.register(
            "allocator_retained_bytes",
            "Bytes of address space the allocator keeps mapped after returning the memory to the OS",
            gauges.retained.clone(),
        );
        Some(gauges)
    }

    fn refresh(&self) {
        if let Some(stats) = (self.read)() {
            let set = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
            set(&self.allocated, stats.allocated);
            set(&self.resident, stats.resident);
            set(&self.retained, stats.retained);
        }
    }
}

/// The node's metrics; one per `Node`, shared by every edge that counts.
pub struct Metrics {
    registry: Registry,
    peer_requests: Family<Labels, Counter>,
    peer_latency: HistogramFamily,
    pact_requests: Family<Labels, Counter>,
    pact_latency: HistogramFamily,
    store_bytes: Gauge,
    outbox_depth: Gauge,
    directory_lookups: Family<Labels, Counter>,
    allocator: Option<AllocatorGauges>,
    peer_port_bound: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~1.6 s: peer requests are answered from the local store.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// The node's metrics; with `allocator`, also the process allocator's figures
    /// (`tanso_allocator_*`), read through it at each scrape.
    pub fn new(allocator: Option<AllocatorStatsFn>) -> Metrics {
        let mut registry = Registry::with_prefix("tanso");
        let peer_requests = Family::<Labels, Counter>::default();
        registry.register(
            "peer_requests",
            "Authenticated peer gRPC requests by method and policy decision",
            peer_requests.clone(),
        );
        let peer_latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "peer_request_duration_seconds",
            "Peer gRPC request latency by method, from the first byte to the response",
            peer_latency.clone(),
        );
        let pact_requests = Family::<Labels, Counter>::default();
        registry.register(
            "pact_api_requests",
            "PACT v3 REST API requests by route template and HTTP status",
            pact_requests.clone(),
        );
        let pact_latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "pact_api_request_duration_seconds",
            "PACT v3 REST API request latency by route template",
            pact_latency.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_size_bytes",
            "Bytes the store's files take on disk",
            store_bytes.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_depth",
            "Items waiting in the durable outbox (requests, answers, notifications, fetches)",
            outbox_depth.clone(),
        );
        let directory_lookups = Family::<Labels, Counter>::default();
        registry.register(
            "directory_lookups",
            "Membership lookups for callers that are not partners, by outcome (cached, fetched, throttled, no_directory)",
            directory_lookups.clone(),
        );
        let allocator = AllocatorGauges::register(&mut registry, allocator);
        Metrics {
            allocator,
            registry,
            directory_lookups,
            peer_requests,
            peer_latency,
            pact_requests,
            pact_latency,
            store_bytes,
            outbox_depth,
            peer_port_bound: AtomicBool::new(false),
        }
    }

    /// Counts one authenticated peer request and the decision it got (label `permit` or
    /// `deny`); `method` may be the full gRPC path, only its last segment is kept.
    pub fn peer_request(&self, method: &str, decision: crate::audit::AuditDecision) {
        let method = method.rsplit('/').next().unwrap_or(method);
        self.peer_requests
            .get_or_create(&vec![
                ("method", method.to_string()),
                ("decision", decision.to_string()),
            ])
            .inc();
    }

    /// Records the latency of one peer gRPC call (`method` is the last path segment).
    pub fn peer_latency(&self, method: &str, seconds: f64) {
        self.peer_latency
            .get_or_create(&vec![("method", method.to_string())])
            .observe(seconds);
    }

    /// Counts one PACT API request by its route template (e.g. `/3/footprints/{id}`).
    pub fn pact_request(&self, route: &str, status: u16, seconds: f64) {
        self.pact_requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.pact_latency
            .get_or_create(&vec![("route", route.to_string())])
            .observe(seconds);
    }

    /// Counts one membership lookup for an unknown caller by its outcome.
    pub fn directory_lookup(&self, outcome: &'static str) {
        self.directory_lookups
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    /// Marks the peer gRPC port as bound (readiness).
    pub fn set_peer_port_bound(&self, bound: bool) {
        self.peer_port_bound.store(bound, Ordering::Relaxed);
    }

    /// The exposition text, with the store gauges read now.
    pub fn render(&self, node: &Node) -> String {
        self.store_bytes
            .set(i64::try_from(node.store().disk_bytes()).unwrap_or(i64::MAX));
        match node.store().count(Table::Outbox) {
            Ok(n) => {
                self.outbox_depth.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: counting the outbox failed"),
        }
        if let Some(allocator) = &self.allocator {
            allocator.refresh();
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The file in the home where `serve` writes the address it bound (for port 0 binds).
pub const ADDR_FILE: &str = "metrics.addr";

/// The address the ops listener of the node in `home` bound, once it has.
pub fn bound_addr(home: &crate::home::Home) -> Option<std::net::SocketAddr> {
    read_addr_file(&home.dir.join(ADDR_FILE))
}

/// The address in an ops listener's address file, once it is written.
pub fn read_addr_file(path: &std::path::Path) -> Option<std::net::SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Serves `/metrics`, `/healthz` and `/readyz` over plain HTTP until `cancel`.
pub async fn serve(node: Node, listener: TcpListener, cancel: CancellationToken) {
    let addr_file = node.home().dir.join(ADDR_FILE);
    let policy = crate::conn::ConnPolicy::of(node.config());
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(node);
    serve_ops("metrics", app, listener, addr_file, policy, async move {
        cancel.cancelled().await
    })
    .await;
}

/// Serves an ops router (node or relay) over plain HTTP until `shutdown`, with the bound
/// address in `addr_file` while it runs (how tests and operators find a port-0 bind).
pub async fn serve_ops(
    what: &'static str,
    app: Router,
    listener: TcpListener,
    addr_file: std::path::PathBuf,
    policy: crate::conn::ConnPolicy,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Ok(addr) = listener.local_addr() {
        if let Err(e) = crate::home::publish_runtime_file(&addr_file, &format!("{addr}\n")) {
            tracing::warn!(error = %e, "cannot write {}", addr_file.display());
        }
        tracing::info!(%addr, "serving {what} (http)");
    }
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    crate::https::serve(what, listener, None, app, policy, &tasks, cancel.clone()).await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    let _ = std::fs::remove_file(&addr_file);
}

async fn scrape(State(node): State<Node>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || node.metrics().render(&node))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// Ready when the store answers a read and, for a node with a listen address, the peer
/// port is bound.
async fn ready(State(node): State<Node>) -> (StatusCode, &'static str) {
    let store_ok = tokio::task::spawn_blocking({
        let node = node.clone();
        move || node.store().count(Table::Meta).is_ok()
    })
    .await
    .unwrap_or(false);
    if !store_ok {
        return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n");
    }
    let needs_port = node.config().listen.is_some();
    if needs_port && !node.metrics().peer_port_bound.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "peer port not bound\n");
    }
    (StatusCode::OK, "ready\n")
}

/// axum middleware for the PACT API: counts each request by matched route and status.
pub async fn pact_layer(
    State(metrics): State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.pact_request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The label of a request path on the peer port: the method name for a method of the
/// Connector service, `unknown` for any other path under `/tanso.v1.`, `None` (not timed)
/// for health and reflection. Labels never come from what a caller sent.
pub fn peer_method_label(path: &str) -> Option<&'static str> {
    use crate::methods::*;
    if !path.starts_with("/tanso.v1.") {
        return None;
    }
    const KNOWN: [&str; 8] = [
        METHOD_GET_FOOTPRINT,
        METHOD_LIST_FOOTPRINTS,
        METHOD_CREATE_REQUEST,
        METHOD_DELIVER_ANSWER,
        METHOD_NOTIFY,
        METHOD_SUBSCRIBE,
        METHOD_UPDATE_CARD,
        METHOD_GET_CARD,
    ];
    Some(
        KNOWN
            .iter()
            .find(|m| **m == path)
            .and_then(|m| m.rsplit('/').next())
            .unwrap_or("unknown"),
    )
}

/// A tower layer timing every peer gRPC call by method.
#[derive(Clone)]
pub struct PeerLatencyLayer {
    pub metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for PeerLatencyLayer {
    type Service = PeerLatency<S>;
    fn layer(&self, inner: S) -> PeerLatency<S> {
        PeerLatency {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct PeerLatency<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<axum::http::Request<B>> for PeerLatency<S>
where
    S: tower::Service<axum::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        // Only our own service's methods are timed; health and reflection are not peer calls.
        // The path is unauthenticated: only a known method name becomes a label.
        let method = peer_method_label(request.uri().path());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let out = future.await;
            if let Some(method) = method {
                metrics.peer_latency(method, started.elapsed().as_secs_f64());
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer as _, Service as _, ServiceExt as _};

    use super::*;

    #[tokio::test]
    async fn made_up_paths_never_become_labels() {
        let metrics = Arc::new(Metrics::new(None));
        let inner =
            tower::service_fn(|_: axum::http::Request<()>| async { Ok::<_, Infallible>(()) });
        let mut service = PeerLatencyLayer {
            metrics: metrics.clone(),
        }
        .layer(inner);
        let mut paths: Vec<String> = (0..500)
            .map(|i| format!("/tanso.v1.Connector/Made{i}Up"))
            .collect();
        paths.push("/tanso.v1.Evil/GetFootprint".into());
        paths.push(crate::methods::METHOD_GET_FOOTPRINT.into());
        paths.push("/grpc.health.v1.Health/Check".into());
        for path in paths {
            let request = axum::http::Request::builder()
                .uri(path)
                .body(())
                .expect("request");
            service.ready().await.expect("ready");
            service.call(request).await.expect("call");
        }
        let mut text = String::new();
        encode(&mut text, &metrics.registry).expect("encode");
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tanso_peer_request_duration_seconds_count"))
            .collect();
        assert_eq!(series.len(), 2, "{series:#?}");
        assert!(
            series
                .iter()
                .any(|l| l.contains("method=\"unknown\"") && l.ends_with(" 501"))
        );
        assert!(
            series
                .iter()
                .any(|l| l.contains("method=\"GetFootprint\"") && l.ends_with(" 1"))
        );
    }
}
