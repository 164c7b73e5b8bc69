//! `serve`: binds nothing itself; takes a bound listener and a shutdown future, runs the peer
//! gRPC service over TLS and the admin socket, then drains.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;

use crate::node::Node;
use crate::service::ConnectorService;
use crate::tls::PeerStream;

/// How long in-flight work may take after shutdown is requested.
const GRACE: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors that stop a node.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("admin socket {path}: {source}")]
    Admin {
        path: String,
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
    Tls(#[from] crate::tls::TlsError),
    #[error("relay: {0}")]
    Relay(#[source] crate::relay::RelayError),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("client ca {path}: {source}")]
    ClientCa {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the node until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    node: Node,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();

    // The admin socket: operator commands while the node runs (never on the network).
    let admin_path = node.home().admin_socket();
    let admin = crate::admin::bind(&admin_path).map_err(|source| ServeError::Admin {
        path: admin_path.display().to_string(),
        source,
    })?;
    tasks.spawn(crate::admin::serve(node.clone(), admin, cancel.clone()));

    // The outbox worker: requests, answers and notifications to partners, retried.
    crate::exchange::worker::spawn(&tasks, node.clone(), cancel.clone());

    // Audit retention (`[audit] keep_days`): old entries archived at start, then hourly.
    crate::archive::spawn_schedule(&tasks, node.clone(), cancel.clone());

    // Trusted directories: status lists pulled every TTL and pushed by Watch.
    crate::directory::client::spawn_sync(&tasks, node.clone(), cancel.clone());

    // The web dashboard, when configured (HTTPS with the node's TLS identity).
    if let Some(addr) = node.config().dashboard_listen {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(source) => {
                cancel.cancel();
                let _ = std::fs::remove_file(&admin_path);
                return Err(ServeError::Dashboard { addr, source });
            }
        };
        tracing::info!(addr = ?listener.local_addr().ok(), "dashboard bound");
        tasks.spawn(crate::dashboard::serve(
            node.clone(),
            listener,
            cancel.clone(),
        ));
    }

    // The ops listener (/metrics, /healthz, /readyz), when configured (plain HTTP).
    if let Some(addr) = node.config().metrics_listen {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(source) => {
                cancel.cancel();
                let _ = std::fs::remove_file(&admin_path);
                return Err(ServeError::Metrics { addr, source });
            }
        };
        tasks.spawn(crate::metrics::serve(
            node.clone(),
            listener,
            cancel.clone(),
        ));
    }

    // The PACT v3 REST host, when configured (HTTPS only, its own port).
    if let Some(addr) = node.config().pact_listen {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(source) => {
                cancel.cancel();
                let _ = std::fs::remove_file(&admin_path);
                return Err(ServeError::Pact { addr, source });
            }
        };
        tasks.spawn(crate::pact_api::serve(
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
    let relayed = match crate::relay::keeper::relay_card(node.home()) {
        Ok(Some(card)) => Some(crate::relay::keeper::spawn(
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
            let client_ca =
                match &node.config().client_ca {
                    None => None,
                    Some(path) => Some(std::fs::read_to_string(path).map_err(|source| {
                        ServeError::ClientCa {
                            path: path.display().to_string(),
                            source,
                        }
                    })?),
                };
            let tls = crate::tls::server_config(node.identity(), client_ca.as_deref())?;
            let relay_used = relayed.is_some();
            let incoming = accept_loop(
                listener,
                relayed,
                (!node.config().insecure_h2c).then_some(tls),
                node.config().max_connections,
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
                .layer(crate::metrics::PeerLatencyLayer {
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

/// Accepts TCP connections (from the listener and, for a relayed node, the relay keeper)
/// and completes TLS handshakes off the accept path, with a cap on concurrent connections;
/// yields ready streams for tonic.
pub(crate) fn accept_loop(
    listener: Option<TcpListener>,
    mut relayed: Option<tokio::sync::mpsc::Receiver<tokio::net::TcpStream>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> ReceiverStream<Result<PeerStream, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let limit = Arc::new(Semaphore::new(max_connections));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let inner_tasks = tasks.clone();
    tasks.spawn(async move {
        let mut backoff = Duration::from_millis(10);
        loop {
            let permit = tokio::select! {
                () = cancel.cancelled() => return,
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            let accepted = tokio::select! {
                () = cancel.cancelled() => return,
                a = accept_direct(listener.as_ref()) => a.map(|(tcp, peer)| (tcp, Some(peer))),
                r = next_relayed(&mut relayed) => match r {
                    Some(tcp) => Ok((tcp, None)),
                    None => {
                        relayed = None;
                        if listener.is_none() {
                            return;
                        }
                        continue;
                    }
                },
            };
            let (tcp, peer) = match accepted {
                Ok(ok) => {
                    backoff = Duration::from_millis(10);
                    ok
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            inner_tasks.spawn(async move {
                let stream = match acceptor {
                    None => PeerStream::Plain(tcp),
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => PeerStream::Tls(Box::new(tls)),
                            Ok(Err(e)) => {
                                tracing::debug!(?peer, error = %e, "tls handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(?peer, "tls handshake timed out");
                                return;
                            }
                        }
                    }
                };
                // The permit lives as long as the connection is being handed over; tonic
                // owns the connection afterwards, so the cap bounds handshakes in flight.
                let _permit = permit;
                let _ = tx.send(Ok(stream)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

async fn accept_direct(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn next_relayed(
    relayed: &mut Option<tokio::sync::mpsc::Receiver<tokio::net::TcpStream>>,
) -> Option<tokio::net::TcpStream> {
    match relayed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
