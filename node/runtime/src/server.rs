//! `serve`: binds nothing itself; takes the listeners the caller bound ([`Listeners`]) and a
//! shutdown future, runs the peer gRPC service over TLS, the admin socket and the PACT,
//! dashboard and metrics listeners, then drains.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;

use tanso_core::conn::{ActivityLayer, ConnPolicy, accept_loop};
use tanso_core::node::Node;
use tanso_grpc::ConnectorService;

/// How long in-flight work may take after shutdown is requested.
const GRACE: Duration = Duration::from_secs(10);

/// Errors that stop a node.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("admin socket {path}: {source}")]
    Admin {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("listen {addr}: {source}")]
    Peer {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("dashboard listen {addr}: {source}")]
    Dashboard {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("pact listen {addr}: {source}")]
    Pact {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics listen {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("tls: {0}")]
    Tls(#[from] tanso_core::tls::TlsError),
    #[error("relay: {0}")]
    Relay(#[source] tanso_core::relay::RelayError),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The sockets a node serves, bound by the caller: the CLI binds what the config names
/// ([`Listeners::bind`]) after validating it; tests do the same on port 0 and read each
/// listener's `local_addr`, so nobody needs the address files.
#[derive(Debug)]
pub struct Listeners {
    /// The admin socket (`<home>/admin.sock`, mode 0600).
    pub admin: UnixListener,
    /// Peers (`listen`); `None` for a node with no inbound port.
    pub peer: Option<TcpListener>,
    /// The PACT REST host (`[pact] listen`).
    pub pact: Option<TcpListener>,
    /// The dashboard (`[dashboard] listen`).
    pub dashboard: Option<TcpListener>,
    /// The ops listener (`[metrics] listen`).
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds every address `node`'s config names, then the admin socket of its home (last,
    /// so whoever sees the socket finds the ports bound).
    pub async fn bind(node: &Node) -> Result<Listeners, ServeError> {
        let config = node.config();
        let peer = bind_tcp(config.listen, |addr, source| ServeError::Peer {
            addr,
            source,
        })
        .await?;
        let pact = bind_tcp(config.pact_listen, |addr, source| ServeError::Pact {
            addr,
            source,
        })
        .await?;
        let dashboard = bind_tcp(config.dashboard_listen, |addr, source| {
            ServeError::Dashboard { addr, source }
        })
        .await?;
        let metrics = bind_tcp(config.metrics_listen, |addr, source| ServeError::Metrics {
            addr,
            source,
        })
        .await?;
        let admin_path = node.home().admin_socket();
        let admin = crate::admin::bind(&admin_path).map_err(|source| ServeError::Admin {
            path: admin_path.display().to_string(),
            source,
        })?;
        Ok(Listeners {
            admin,
            peer,
            pact,
            dashboard,
            metrics,
        })
    }
}

async fn bind_tcp(
    addr: Option<std::net::SocketAddr>,
    error: impl FnOnce(std::net::SocketAddr, std::io::Error) -> ServeError,
) -> Result<Option<TcpListener>, ServeError> {
    match addr {
        None => Ok(None),
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => Ok(Some(listener)),
            Err(source) => Err(error(addr, source)),
        },
    }
}

/// Runs the node on `listeners` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    node: Node,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let Listeners {
        admin,
        peer: listener,
        pact,
        dashboard,
        metrics,
    } = listeners;

    // The admin socket: operator commands while the node runs (never on the network).
    let admin_path = node.home().admin_socket();
    tasks.spawn(crate::admin::serve(node.clone(), admin, cancel.clone()));

    spawn_background(&tasks, &node, &cancel);

    // The web dashboard, when configured (HTTPS with the node's TLS identity).
    if let Some(listener) = dashboard {
        tracing::info!(addr = ?listener.local_addr().ok(), "dashboard bound");
        tasks.spawn(tanso_dashboard::serve(
            node.clone(),
            listener,
            cancel.clone(),
        ));
    }

    // The ops listener (/metrics, /healthz, /readyz), when configured (plain HTTP).
    if let Some(listener) = metrics {
        tasks.spawn(tanso_core::metrics::serve(
            node.clone(),
            listener,
            cancel.clone(),
        ));
    }

    // The PACT v3 REST host, when configured (HTTPS only, its own port).
    if let Some(listener) = pact {
        tasks.spawn(tanso_pact_api::serve(
            node.clone(),
            listener,
            cancel.clone(),
        ));
    }

    let stop = cancel.clone();
    let signal = async move {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
    };

    // A node that uses a relay keeps a registered connection to it; relayed sessions join
    // the same TLS accept path as direct connections.
    let relayed = match tanso_core::relay::keeper::relay_card(node.home()) {
        Ok(Some(card)) => Some(tanso_core::relay::keeper::spawn(
            &tasks,
            node.clone(),
            card,
            cancel.clone(),
        )),
        Ok(None) => None,
        Err(e) => {
            cancel.cancel();
            let _ = std::fs::remove_file(&admin_path);
            return Err(ServeError::Relay(e));
        }
    };

    let result = match (listener, relayed) {
        (None, None) => {
            tracing::info!(
                company = node.company_id(),
                "no listen address and no relay: serving no peers"
            );
            signal.await;
            Ok(())
        }
        (listener, relayed) => {
            let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
            if let Some(addr) = addr {
                node.set_bound_endpoint(addr);
            }
            // A card changed since it was last announced (moved home, new port, certificate
            // or relay) goes to every partner through the outbox.
            if let Err(e) = node.announce_card_if_changed() {
                tracing::warn!(error = %e, "the changed card could not be announced");
            }
            let tls = node.peer_tls_config();
            let relay_used = relayed.is_some();
            let policy = ConnPolicy::of(node.config());
            let incoming = accept_loop(
                listener,
                relayed,
                (!node.config().insecure_h2c).then_some(tls),
                policy,
                &tasks,
                cancel.clone(),
            );
            let (health_reporter, health) = tonic_health::server::health_reporter();
            health_reporter
                .set_serving::<proto::pb::connector_server::ConnectorServer<ConnectorService>>()
                .await;
            // Reflection lets grpcurl list and call without the .proto files.
            let reflection = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?;
            let reflection_alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1alpha()?;
            node.metrics().set_peer_port_bound(true);
            tracing::info!(
                addr = ?addr,
                company = node.company_id(),
                key_id = node.key().key_id(),
                tls = !node.config().insecure_h2c,
                relay = relay_used,
                "serving peers"
            );
            Server::builder()
                .tcp_nodelay(true)
                .max_concurrent_streams(Some(tanso_core::https::MAX_STREAMS))
                .http2_keepalive_interval(policy.keepalive)
                .http2_keepalive_timeout(policy.keepalive)
                .layer(ActivityLayer::default())
                .layer(tanso_core::metrics::PeerLatencyLayer {
                    metrics: node.metrics().clone(),
                })
                .add_service(health)
                .add_service(reflection)
                .add_service(reflection_alpha)
                .add_service(ConnectorService::new(node.clone()).into_server())
                .serve_with_incoming_shutdown(incoming, signal)
                .await
                .map_err(ServeError::from)
        }
    };

    cancel.cancel();
    tasks.close();
    if tokio::time::timeout(GRACE, tasks.wait()).await.is_err() {
        tracing::warn!(grace = ?GRACE, "background tasks still running at shutdown");
    }
    let _ = std::fs::remove_file(&admin_path);
    tracing::info!("node stopped");
    result
}

/// The work a serving node does besides answering: the same for a node on its own ports and
/// for each open tenant of a host.
pub fn spawn_background(tasks: &TaskTracker, node: &Node, cancel: &CancellationToken) {
    // The outbox worker: requests, answers and notifications to partners, retried.
    crate::worker::spawn(tasks, node.clone(), cancel.clone());

    // Audit retention (`[audit] keep_days`): old entries archived at start, then hourly.
    tanso_core::archive::spawn_schedule(tasks, node.clone(), cancel.clone());

    // Refused envelopes: the summary entry of every (source, reason) interval that ended.
    tasks.spawn(flush_refusals(node.clone(), cancel.clone()));

    // Trusted directories: status lists pulled every TTL and pushed by Watch.
    tanso_core::directory::client::spawn_sync(tasks, node.clone(), cancel.clone());
}

/// Writes refusal summaries as their intervals end, and every open one at shutdown.
async fn flush_refusals(node: Node, cancel: CancellationToken) {
    let every = node.refusals().interval() / 4;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        tanso_grpc::auth::flush_refusals(&node, false).await;
    }
    tanso_grpc::auth::flush_refusals(&node, true).await;
}
