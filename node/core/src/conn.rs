//! Connection limits every listener shares: a cap on established connections, and an idle
//! timeout that ends a connection on which no request has been in flight for a while.
//!
//! A connection is held by [`Tracked`], which owns its slot of the listener's cap (a
//! semaphore permit) for as long as the connection lives, so the cap bounds open
//! connections, not only handshakes. Idleness is judged by requests, not bytes: a
//! [`Activity`] per connection counts requests in flight (incremented and decremented by
//! [`ActivityLayer`] around each request and its response body), and `Tracked` ends the
//! connection, as an end of stream, once the count has been zero for the idle time. HTTP/2
//! pings, which keep a dead peer from holding a connection during a long request, do not
//! count as activity.
//!
//! No clock but tokio's here, so tests can pause time.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tls::PeerStream;

/// Waits after a failed accept (out of file descriptors, say): 10 ms doubling to 1 s.
pub const ACCEPT_RETRY: crate::backoff::Backoff =
    crate::backoff::Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
/// How long a TLS handshake may take (every listener: peer gRPC and the HTTPS doors).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests in flight on one connection, and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` when the connection last had a request in flight.
    last_busy_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_busy_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request as started; it counts as in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            activity: self.clone(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_busy_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// When the connection may be closed as idle (`None` while a request is in flight).
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_busy_ms.load(Ordering::Acquire));
        Some(self.started + last + idle)
    }
}

/// One request in flight; dropped when its response is done.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's IO with its slot of the listener's cap and its idle timeout.
pub struct Tracked<IO> {
    inner: IO,
    activity: Arc<Activity>,
    idle: Option<Duration>,
    timer: Pin<Box<Sleep>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<IO> Tracked<IO> {
    /// Wraps `inner`; `idle` of `None` never times out.
    pub fn new(inner: IO, permit: Option<OwnedSemaphorePermit>, idle: Option<Duration>) -> Self {
        let activity = Activity::new();
        let first = idle.map_or_else(Instant::now, |idle| Instant::now() + idle);
        Tracked {
            inner,
            activity,
            idle,
            timer: Box::pin(tokio::time::sleep_until(first)),
            _permit: permit,
        }
    }

    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    /// Whether the connection has been idle for the idle time; arms the timer otherwise.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(idle) = self.idle else {
            return false;
        };
        loop {
            let deadline = self
                .activity
                .idle_deadline(idle)
                // Busy: look again one idle period from now.
                .unwrap_or_else(|| Instant::now() + idle);
            if deadline <= Instant::now() {
                return true;
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending if this.idle_expired(cx) => {
                // An end of stream: the server closes the connection as if the peer had.
                tracing::debug!("idle connection closed");
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A tower layer that marks each request in flight on its connection's [`Activity`] until
/// its response body ends. The activity comes from the request's extensions (tonic copies a
/// connection's connect info into every request) unless the layer was built for one
/// connection.
#[derive(Clone, Default)]
pub struct ActivityLayer {
    activity: Option<Arc<Activity>>,
}

impl ActivityLayer {
    /// For a router served on one connection (hyper's `serve_connection`).
    pub fn for_connection(activity: Arc<Activity>) -> ActivityLayer {
        ActivityLayer {
            activity: Some(activity),
        }
    }
}

impl<S> tower::Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;
    fn layer(&self, inner: S) -> ActivityService<S> {
        ActivityService {
            inner,
            activity: self.activity.clone(),
        }
    }
}

/// The service of [`ActivityLayer`].
#[derive(Clone)]
pub struct ActivityService<S> {
    inner: S,
    activity: Option<Arc<Activity>>,
}

impl<S, B, R> tower::Service<http::Request<B>> for ActivityService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<R>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let activity = self.activity.clone().or_else(|| {
            request
                .extensions()
                .get::<crate::tls::PeerInfo>()
                .and_then(|info| info.activity.clone())
        });
        let guard = activity.map(|a| a.begin());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|inner| GuardedBody { inner, guard }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until it ends.
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B: http_body::Body> http_body::Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.guard.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_ends_and_a_busy_one_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let mut tracked = Tracked::new(server, None, Some(Duration::from_secs(30)));
        let activity = tracked.activity();
        let mut client = client;
        // A request in flight for two idle periods keeps the connection open.
        let busy = activity.begin();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(60), tracked.read(&mut buf)).await;
        assert!(read.is_err(), "closed while a request was in flight");
        drop(busy);
        // Bytes without a request (pings) do not count: idle 30 s after the request ended.
        client.write_all(b"ping").await.unwrap();
        assert_eq!(tracked.read(&mut buf).await.unwrap(), 4);
        let started = Instant::now();
        assert_eq!(tracked.read(&mut buf).await.unwrap(), 0, "end of stream");
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(30), "{waited:?}");
        assert!(waited >= Duration::from_secs(29), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_idle_time_a_connection_stays() {
        let (_client, server) = tokio::io::duplex(64);
        let mut tracked = Tracked::new(server, None, None);
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(3600), tracked.read(&mut buf)).await;
        assert!(read.is_err());
    }

    #[tokio::test]
    async fn the_permit_is_held_for_the_life_of_the_connection() {
        let cap = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = cap.clone().try_acquire_owned().unwrap();
        let (_client, server) = tokio::io::duplex(64);
        let tracked = Tracked::new(server, Some(permit), None);
        assert!(cap.clone().try_acquire_owned().is_err());
        drop(tracked);
        assert!(cap.try_acquire_owned().is_ok());
    }
}

/// How a listener treats its connections: the cap on open connections, the idle timeout,
/// and the HTTP/2 keepalive pings.
#[derive(Debug, Clone, Copy)]
pub struct ConnPolicy {
    pub max_connections: usize,
    pub idle_timeout: Option<Duration>,
    pub keepalive: Option<Duration>,
}

impl ConnPolicy {
    /// The node's `[limits]`.
    pub fn of(config: &crate::config::Config) -> ConnPolicy {
        ConnPolicy {
            max_connections: config.max_connections,
            idle_timeout: Some(config.idle_timeout),
            keepalive: config.keepalive,
        }
    }
}

/// Accepts TCP connections (from the listener and, for a relayed node, the relay keeper)
/// and completes TLS handshakes off the accept path; yields ready streams for tonic. Each
/// connection holds a slot of `policy.max_connections` until it closes (a connection over
/// the cap is closed at once, so the backlog never fills with peers waiting for a slot) and
/// is closed after `policy.idle_timeout` with no request in flight (see `crate::conn`).
pub fn accept_loop(
    listener: Option<TcpListener>,
    mut relayed: Option<tokio::sync::mpsc::Receiver<tokio::net::TcpStream>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    policy: ConnPolicy,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> ReceiverStream<Result<Tracked<PeerStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let limit = Arc::new(Semaphore::new(policy.max_connections));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let inner_tasks = tasks.clone();
    tasks.spawn(async move {
        let mut retries = ACCEPT_RETRY.start();
        loop {
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
                    retries.reset();
                    ok
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(retries.wait()).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::debug!(?peer, "connection cap reached: closed");
                drop(tcp);
                continue;
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
                // The permit goes with the connection and is released when tonic drops it.
                let tracked = Tracked::new(stream, Some(permit), policy.idle_timeout);
                let _ = tx.send(Ok(tracked)).await;
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
