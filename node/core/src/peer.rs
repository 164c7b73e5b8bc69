//! Connections to peers: the pinned-TLS channel every gRPC client (peers, directories) opens,
//! the pool of open peer channels a node keeps, the deadlines of peer calls, and the text of a
//! failed call with its causes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::card::NodeCard;
use crate::error::NodeError;
use crate::node::Node;

/// How often an HTTP/2 connection with an open stream (a directory's Watch) is pinged, so a
/// peer that vanished without closing the connection is noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is dropped.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting to a peer (TCP, relay pairing, TLS) and one call to it (the answer
/// included) may take, and where each figure comes from (named when it fires).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub connect: Duration,
    pub call: Duration,
    /// The setting `connect` comes from, e.g. `[limits] peer_connect_timeout_secs`.
    pub connect_source: &'static str,
    /// The setting `call` comes from.
    pub call_source: &'static str,
}

impl Deadlines {
    /// A partner's: `[limits] peer_connect_timeout_secs` and `peer_call_timeout_secs`.
    pub fn of_peers(config: &crate::config::Config) -> Deadlines {
        Deadlines {
            connect: config.peer_connect_timeout,
            call: config.peer_call_timeout,
            connect_source: "[limits] peer_connect_timeout_secs",
            call_source: "[limits] peer_call_timeout_secs",
        }
    }

    /// What a call that ran out of time is told: "no answer within N s (setting)".
    pub fn call_elapsed(&self) -> String {
        format!(
            "no answer within {} s ({})",
            self.call.as_secs(),
            self.call_source
        )
    }
}

/// Long-lived channels to partners, keyed by company id (a channel is cheap to clone).
#[derive(Default)]
pub struct PeerPool {
    channels: Mutex<HashMap<String, (String, String, Channel)>>,
}

impl PeerPool {
    /// Drops the cached channel of a partner (after its card changed or it was removed).
    pub fn forget(&self, company_id: &str) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&company_id.to_ascii_lowercase());
    }

    pub fn channel(&self, node: &Node, card: &NodeCard) -> Result<Channel, NodeError> {
        let key = card.company_id.to_ascii_lowercase();
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        // A relayed partner is reached through its relay: the route is part of the cache key.
        let route = match &card.relay {
            Some(relay) if card.endpoint.is_empty() => format!("relay {relay}"),
            _ => card.endpoint.clone(),
        };
        if let Some((cached_route, fingerprint, channel)) = channels.get(&key)
            && *cached_route == route
            && *fingerprint == card.tls_fingerprint
        {
            return Ok(channel.clone());
        }
        let channel = connect_lazy(node, card)?;
        channels.insert(key, (route, card.tls_fingerprint.clone(), channel.clone()));
        Ok(channel)
    }
}

/// A channel to `card`'s endpoint: TCP with nodelay, then TLS pinned to the card's
/// fingerprint (or h2c when this node is configured insecure). Connects on first use.
/// A card with no endpoint but a relay is reached through the relay: the same pinned TLS
/// handshake then runs end to end over the relayed connection.
pub fn connect_lazy(node: &Node, card: &NodeCard) -> Result<Channel, NodeError> {
    let relay = match (&card.relay, card.endpoint.is_empty()) {
        (Some(relay), true) => Some(relay.as_str()),
        (None, true) => {
            return Err(NodeError::Peer {
                peer: card.company_id.clone(),
                reason: "its card has no endpoint and no relay".into(),
            });
        }
        _ => None,
    };
    connect_route(
        &card.company_id,
        relay.unwrap_or(&card.endpoint),
        relay.is_some(),
        &card.tls_fingerprint,
        node.client_identity(),
        node.config().insecure_h2c,
        Deadlines::of_peers(node.config()),
    )
}

/// A lazily connecting channel to `endpoint` ("host:port"), TLS pinned to `fingerprint`
/// (or h2c when `insecure`), connecting within `deadlines.connect`; `peer` names it in
/// errors. Also used for directories.
pub fn connect_pinned(
    peer: &str,
    endpoint: &str,
    fingerprint: &str,
    client_identity: Option<&crate::tls::Identity>,
    insecure: bool,
    deadlines: Deadlines,
) -> Result<Channel, NodeError> {
    if endpoint.is_empty() {
        return Err(NodeError::Peer {
            peer: peer.to_string(),
            reason: "its card has no endpoint".into(),
        });
    }
    connect_route(
        peer,
        endpoint,
        false,
        fingerprint,
        client_identity,
        insecure,
        deadlines,
    )
}

/// A lazily connecting channel to `addr`: directly, or (when `relayed`) through the relay
/// at `addr` to the company `peer`; either way TLS pinned to `fingerprint` end to end.
///
/// The whole connection (TCP, relay pairing, TLS) must be up within `deadlines.connect`, and
/// a connection with an open stream is pinged every [`KEEPALIVE_INTERVAL`]: a peer that stops
/// answering pings for [`KEEPALIVE_TIMEOUT`] is dropped, so a long-lived stream (a
/// directory's Watch) notices a dead peer. Each call is bounded by its caller (see
/// [`Deadlines::call`]), the answer's body included, which tonic's own timeout is not.
fn connect_route(
    peer: &str,
    addr: &str,
    relayed: bool,
    fingerprint: &str,
    client_identity: Option<&crate::tls::Identity>,
    insecure: bool,
    deadlines: Deadlines,
) -> Result<Channel, NodeError> {
    let target = peer.to_string();
    let addr = addr.to_string();
    let tls = crate::tls::pinned_client_config(fingerprint, client_identity)
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| NodeError::BadRequest(format!("endpoint {addr:?}: {e}")))?
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(false)
        .tcp_nodelay(true);
    let connector = tower::service_fn(move |_uri: tonic::transport::Uri| {
        let addr = addr.clone();
        let tls = tls.clone();
        let target = target.clone();
        let connect = async move {
            let tcp = if relayed {
                crate::relay::dialer::connect(&addr, &target).await?
            } else {
                TcpStream::connect(&addr).await?
            };
            tcp.set_nodelay(true)?;
            if insecure {
                return Ok::<_, std::io::Error>(TokioIo::new(PeerIo::Plain(tcp)));
            }
            let name = rustls::pki_types::ServerName::try_from("tanso.node")
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(PeerIo::Tls(Box::new(stream))))
        };
        async move {
            tokio::time::timeout(deadlines.connect, connect)
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no connection within {} s ({})",
                            deadlines.connect.as_secs(),
                            deadlines.connect_source
                        ),
                    )
                })?
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// A client connection: TLS or plain.
enum PeerIo {
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

impl tokio::io::AsyncRead for PeerIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerIo::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
            PeerIo::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for PeerIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            PeerIo::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
            PeerIo::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerIo::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
            PeerIo::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerIo::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
            PeerIo::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A status's message and the causes behind it: a failure to connect reads "transport
/// error" alone, its reason (refused, a deadline, a certificate) is in the causes.
pub fn with_causes(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
