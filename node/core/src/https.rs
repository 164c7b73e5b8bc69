//! Serving an axum router over TLS (the dashboard and the PACT API) or plain HTTP (the ops
//! listeners): accept, handshake off the accept path, a cap on open connections, an idle
//! timeout, and a graceful end on cancellation.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer as _;

use crate::conn::{ActivityLayer, ConnPolicy, HANDSHAKE_TIMEOUT, Tracked};

/// Most requests in flight on one HTTP/2 connection (hyper's default is 200; with the cap on
/// connections this bounds the requests in flight on a listener).
pub const MAX_STREAMS: u32 = 128;
/// How long open connections get to finish after cancellation.
const DRAIN: Duration = Duration::from_secs(5);

/// Accepts connections on `listener` until `cancel`, serving `app` over TLS (or plain HTTP
/// when `tls` is `None`, for the ops listeners) under `policy`: each connection holds a slot
/// of the cap until it closes (over the cap, a new connection is closed at once), is closed
/// after the idle time with no request in flight, and gets HTTP/2 pings during long
/// requests; HTTP/1 request headers must arrive within the handshake time. Connection tasks
/// are tracked by `tasks`. `name` labels logs.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    policy: ConnPolicy,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let limit = Arc::new(Semaphore::new(policy.max_connections));
    let mut retries = crate::conn::ACCEPT_RETRY.start();
    loop {
        let (tcp, peer) = tokio::select! {
            () = cancel.cancelled() => return,
            a = listener.accept() => match a {
                Ok(ok) => {
                    retries.reset();
                    ok
                }
                Err(e) => {
                    tracing::warn!(server = name, error = %e, "accept failed");
                    tokio::time::sleep(retries.wait()).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(server = name, %peer, "connection cap reached: closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let io: Box<dyn Io> = match acceptor {
                None => Box::new(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => Box::new(s),
                        Ok(Err(e)) => {
                            tracing::debug!(server = name, %peer, error = %e, "tls handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            let tracked = Tracked::new(io, Some(permit), policy.idle_timeout);
            let app = ActivityLayer::for_connection(tracked.activity()).layer(app);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            builder
                .http2()
                .max_concurrent_streams(MAX_STREAMS)
                .timer(TokioTimer::new())
                .keep_alive_interval(policy.keepalive)
                .keep_alive_timeout(policy.keepalive.unwrap_or(HANDSHAKE_TIMEOUT));
            // Handlers see the peer address as axum's `ConnectInfo` (the PACT token endpoint
            // counts failures per source).
            let app = tower::ServiceExt::map_request(app, move |req| with_peer(req, peer));
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(tracked),
                TowerToHyperService::new(app),
            );
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(server = name, %peer, error = %e, "connection ended");
                    }
                }
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
        });
    }
}

/// A connection's byte stream, TLS or plain.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

fn with_peer<B>(
    mut req: axum::http::Request<B>,
    peer: std::net::SocketAddr,
) -> axum::http::Request<B> {
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    req
}

/// The node's TLS identity for browsers and HTTP clients: ALPN h2 and http/1.1.
pub fn server_config(
    identity: &crate::tls::Identity,
) -> Result<Arc<rustls::ServerConfig>, crate::tls::TlsError> {
    let base = crate::tls::server_config(identity, None)?;
    let mut config = (*base).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes the bound address to `<home>/<file>` (how tests and operators find a port-0 bind)
/// and logs it.
pub fn announce(
    name: &'static str,
    node: &crate::node::Node,
    listener: &TcpListener,
    file: &str,
) -> std::path::PathBuf {
    let addr_file = node.home().dir.join(file);
    if let Ok(addr) = listener.local_addr() {
        if let Err(e) = crate::home::publish_runtime_file(&addr_file, &format!("{addr}\n")) {
            tracing::warn!(server = name, error = %e, "cannot write {}", addr_file.display());
        }
        tracing::info!(server = name, %addr, "serving (https)");
    }
    addr_file
}
