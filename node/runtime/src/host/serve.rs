//! `tanso host serve`: the shared listeners of a host, bound by the caller, served until the
//! shutdown future completes; tenants are opened as requests reach them.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;

use tanso_core::conn::{ActivityLayer, ConnPolicy, accept_loop};

use crate::server::ServeError;

use super::peer::HostedConnector;
use super::tenants::Host;
use super::web::{self, WebDoor};

/// How long in-flight work may take after shutdown is requested.
const GRACE: Duration = Duration::from_secs(10);

/// The sockets a host serves, bound by the caller ([`HostListeners::bind`] binds what the
/// config names; tests bind port 0).
#[derive(Debug)]
pub struct HostListeners {
    pub admin: UnixListener,
    pub peer: Option<TcpListener>,
    pub pact: Option<TcpListener>,
    pub dashboard: Option<TcpListener>,
    pub metrics: Option<TcpListener>,
}

impl HostListeners {
    /// Binds every address the host's config names, then its admin socket.
    pub async fn bind(host: &Host) -> Result<HostListeners, ServeError> {
        let config = host.config();
        let tcp = |addr: Option<std::net::SocketAddr>| async move {
            match addr {
                None => Ok(None),
                Some(a) => TcpListener::bind(a).await.map(Some).map_err(|e| (a, e)),
            }
        };
        let peer = tcp(config.listen)
            .await
            .map_err(|(addr, source)| ServeError::Peer { addr, source })?;
        // Tenants opened from now on advertise the bound port (when no `advertise`).
        if let Some(addr) = peer.as_ref().and_then(|l| l.local_addr().ok()) {
            host.set_bound_endpoint(addr);
        }
        let pact = tcp(config.pact_listen)
            .await
            .map_err(|(addr, source)| ServeError::Pact { addr, source })?;
        let dashboard = tcp(config.dashboard_listen)
            .await
            .map_err(|(addr, source)| ServeError::Dashboard { addr, source })?;
        let metrics = tcp(config.metrics_listen)
            .await
            .map_err(|(addr, source)| ServeError::Metrics { addr, source })?;
        let path = host.home().admin_socket();
        let admin = crate::admin::bind(&path).map_err(|source| ServeError::Admin {
            path: path.display().to_string(),
            source,
        })?;
        Ok(HostListeners {
            admin,
            peer,
            pact,
            dashboard,
            metrics,
        })
    }
}

/// Serves `host` on `listeners` until `shutdown` completes, then closes every tenant.
pub async fn run(
    host: Host,
    listeners: HostListeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let HostListeners {
        admin,
        peer,
        pact,
        dashboard,
        metrics,
    } = listeners;
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let config = host.config().clone();
    let policy = ConnPolicy {
        max_connections: config.max_connections,
        idle_timeout: Some(config.idle_timeout),
        keepalive: Some(Duration::from_secs(30)),
    };
    host.serve_doors(pact.is_some(), dashboard.is_some());

    let admin_path = host.home().admin_socket();
    tasks.spawn(super::admin::serve(host.clone(), admin, cancel.clone()));

    // Tenants that may have work waiting open now, in the background; idle ones close.
    host.open_unquiet();
    host.spawn_sweeper();

    let web_tls = tanso_core::https::server_config(&host.shared().identity)?;
    for (listener, door, name) in [
        (pact, WebDoor::Pact, "pact-api"),
        (dashboard, WebDoor::Dashboard, "dashboard"),
    ] {
        if let Some(listener) = listener {
            tracing::info!(server = name, addr = ?listener.local_addr().ok(), "serving (https)");
            let app = web::router(host.clone(), door);
            let tls = web_tls.clone();
            let inner = tasks.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                tanso_core::https::serve(name, listener, Some(tls), app, policy, &inner, cancel)
                    .await;
            });
        }
    }

    if let Some(listener) = metrics {
        let app = Router::new()
            .route("/metrics", get(scrape))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(host.clone());
        let addr_file = host.home().dir.join(tanso_core::metrics::ADDR_FILE);
        let stop = cancel.clone();
        tasks.spawn(tanso_core::metrics::serve_ops(
            "metrics",
            app,
            listener,
            addr_file,
            policy,
            async move { stop.cancelled().await },
        ));
    }

    let stop = cancel.clone();
    let signal = async move {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
    };
    // Peers arrive on the shared port, and through relays for tenants that use one.
    let relayed = host.take_relayed();
    let result = match (peer, relayed) {
        (None, None) => {
            signal.await;
            Ok(())
        }
        (listener, relayed) => {
            let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
            let incoming = accept_loop(
                listener,
                relayed,
                Some(host.shared().peer_tls),
                policy,
                &tasks,
                cancel.clone(),
            );
            let (health_reporter, health) = tonic_health::server::health_reporter();
            health_reporter
                .set_serving::<proto::pb::connector_server::ConnectorServer<HostedConnector>>()
                .await;
            tracing::info!(addr = ?addr, endpoint = %host.shared().endpoint, "host serving peers");
            Server::builder()
                .tcp_nodelay(true)
                .max_concurrent_streams(Some(tanso_core::https::MAX_STREAMS))
                .http2_keepalive_interval(policy.keepalive)
                .http2_keepalive_timeout(policy.keepalive)
                .layer(ActivityLayer::default())
                .add_service(health)
                .add_service(HostedConnector::new(host.clone()).into_server())
                .serve_with_incoming_shutdown(incoming, signal)
                .await
                .map_err(ServeError::from)
        }
    };
    cancel.cancel();
    host.close_all().await;
    tasks.close();
    if tokio::time::timeout(GRACE, tasks.wait()).await.is_err() {
        tracing::warn!(grace = ?GRACE, "host tasks still running at shutdown");
    }
    let _ = std::fs::remove_file(&admin_path);
    tracing::info!("host stopped");
    result
}

/// The host's own figures: tenants registered, active and open.
async fn scrape(State(host): State<Host>) -> String {
    let list = host.list().await;
    let active = list
        .iter()
        .filter(|t| t.entry.state == super::home::TenantState::Active)
        .count();
    let open = list.iter().filter(|t| t.open).count();
    format!(
        "# HELP tanso_host_tenants Tenants registered on this host.\n\
         # TYPE tanso_host_tenants gauge\n\
         tanso_host_tenants{{state=\"active\"}} {active}\n\
         tanso_host_tenants{{state=\"suspended\"}} {}\n\
         # HELP tanso_host_open_tenants Tenants whose store is open now.\n\
         # TYPE tanso_host_open_tenants gauge\n\
         tanso_host_open_tenants {open}\n",
        list.len() - active
    )
}
