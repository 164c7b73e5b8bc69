//! The PACT client's HTTP: hyper 1 and hyper-util's pooled client over a tokio-rustls
//! connector that checks the host's certificate as its [`ServerTrust`] says.
//!
//! hyper, hyper-util's client and tokio-rustls are already in the build (tonic runs on them),
//! the rustls configs of `trust` plug into a connector unchanged, and the deadlines and the
//! cap are applied here, so each error names the setting that fired. reqwest would bring a
//! second TLS set-up, a URL parser and its own timeout errors for the same three deadlines.
//!
//! One [`HttpClient`] serves one host for one operation (a pull, one outbox delivery, one
//! `pact request`): its requests share a connection (HTTP/2 when the host offers `h2` in ALPN,
//! else HTTP/1.1 keep-alive), closed when the operation drops the client. Nothing is cached
//! across operations, so a host registered again (`tanso pact host add`) is called with its
//! new settings at once, and no idle connection to a partner's host outlives the work.
//!
//! Every request is bounded: resolving the host, TCP and TLS by `[pact]
//! client_connect_timeout_secs`; its response head by `client_request_timeout_secs`
//! (connecting included); its last body byte by `client_total_timeout_secs`; its body size by
//! `client_max_response_bytes` (a declared length over the cap is refused before reading).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::trust::ServerTrust;
use tanso_core::config::HttpClientLimits;

/// Longest part of a host's response body quoted in an error message.
pub const BODY_EXCERPT: usize = 300;

/// A request that failed, naming the request (method and URL) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{request}: {failure}")]
pub struct HttpError {
    /// `METHOD https://host:port/path`.
    pub request: String,
    pub failure: Failure,
}

/// What went wrong with a request; each deadline and the cap name their config key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("no connection within {} s ([pact] client_connect_timeout_secs)", .0.as_secs())]
    ConnectTimeout(Duration),
    #[error("connect: {0}")]
    Connect(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("no response head within {} s ([pact] client_request_timeout_secs)", .0.as_secs())]
    RequestTimeout(Duration),
    #[error("response not complete within {} s ([pact] client_total_timeout_secs)", .0.as_secs())]
    TotalTimeout(Duration),
    #[error("response body larger than {0} bytes ([pact] client_max_response_bytes)")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header `name`, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body as text, at most [`BODY_EXCERPT`] bytes: what an error message
    /// may quote of a host's answer.
    pub fn excerpt(&self) -> String {
        let cut = self.body.len().min(BODY_EXCERPT);
        String::from_utf8_lossy(&self.body[..cut]).into_owned()
    }
}

/// A client for the PACT host at one base URL.
pub struct HttpClient {
    client: Client<TlsConnector, Full<Bytes>>,
    /// `https://authority`, without a trailing slash.
    base: String,
    limits: HttpClientLimits,
}

impl HttpClient {
    /// A client for `base` (`https://authority`, already checked) speaking TLS with `tls`
    /// (built from the host's [`ServerTrust`]), its certificate checked against `name`.
    pub fn new(
        base: &str,
        tls: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        limits: HttpClientLimits,
    ) -> HttpClient {
        let connector = TlsConnector {
            tls: tokio_rustls::TlsConnector::from(tls),
            name,
            timeout: limits.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        HttpClient {
            client,
            base: base.to_string(),
            limits,
        }
    }

    /// Sends `method path` with `headers` and `body`, and reads the whole response within the
    /// deadlines and the cap.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let url = format!("{}{path}", self.base);
        let fail = |failure| HttpError {
            request: format!("{method} {url}"),
            failure,
        };
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).map_err(|e| fail(bad(e)))?)
            .uri(url.parse::<Uri>().map_err(|e| fail(bad(e)))?);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| fail(bad(e)))?;

        let limits = self.limits;
        let started = tokio::time::Instant::now();
        let total_deadline = started + limits.total_timeout;
        let head_deadline = started + limits.request_timeout.min(limits.total_timeout);
        let response =
            match tokio::time::timeout_at(head_deadline, self.client.request(request)).await {
                Err(_) => return Err(fail(Failure::RequestTimeout(limits.request_timeout))),
                Ok(Err(e)) => return Err(fail(failure_of(&e))),
                Ok(Ok(response)) => response,
            };
        let (parts, mut incoming) = response.into_parts();
        let max = limits.max_response_bytes;
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return Err(fail(Failure::TooLarge(max)));
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
        loop {
            let frame = match tokio::time::timeout_at(total_deadline, incoming.frame()).await {
                Err(_) => return Err(fail(Failure::TotalTimeout(limits.total_timeout))),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(fail(Failure::Transport(chain(&e)))),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > max {
                    return Err(fail(Failure::TooLarge(max)));
                }
                body.extend_from_slice(&data);
            }
        }
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// Builds a client for a PACT host: `base` is `https://authority`.
pub fn client_for(
    base: &str,
    authority: &str,
    trust: &ServerTrust,
    limits: HttpClientLimits,
) -> Result<HttpClient, super::trust::TrustError> {
    Ok(HttpClient::new(
        base,
        trust.client_config()?,
        trust.server_name(authority)?,
        limits,
    ))
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::Transport(format!("bad request: {e}"))
}

/// The failure of a request hyper-util gave up on: the connector's own [`Failure`] when
/// connecting failed, else the error and its causes.
fn failure_of(e: &hyper_util::client::legacy::Error) -> Failure {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.clone();
        }
        source = cause.source();
    }
    Failure::Transport(chain(e))
}

/// An error and its causes, `: `-separated (hyper's own messages are terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
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

/// Connects to the URL's host: resolve, TCP (each address in turn), TLS with the host's
/// trust; all within the connect deadline.
#[derive(Clone)]
struct TlsConnector {
    tls: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    timeout: Duration,
}

impl TlsConnector {
    async fn connect(self, uri: Uri) -> Result<TlsIo, Failure> {
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(443);
        let addrs: Vec<_> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Failure::Resolve(authority.clone()))?
            .collect();
        let mut last = Failure::Resolve(authority);
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    tcp.set_nodelay(true)
                        .map_err(|e| Failure::Connect(e.to_string()))?;
                    let tls = self
                        .tls
                        .connect(self.name.clone(), tcp)
                        .await
                        .map_err(|e| Failure::Tls(e.to_string()))?;
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    return Ok(TlsIo {
                        io: TokioIo::new(tls),
                        h2,
                    });
                }
                Err(e) => last = Failure::Connect(format!("{addr}: {e}")),
            }
        }
        Err(last)
    }
}

impl tower::Service<Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, Failure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            tokio::time::timeout(timeout, connector.connect(uri))
                .await
                .map_err(|_| Failure::ConnectTimeout(timeout))?
        })
    }
}

/// A TLS connection as hyper sees it, telling the pool whether ALPN chose HTTP/2.
struct TlsIo {
    io: TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    h2: bool,
}

impl Connection for TlsIo {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hyper::body::Incoming;
    use hyper_util::server::conn::auto;
    use tokio::net::TcpListener;

    use super::*;

    /// A TLS host offering `alpn` that answers every request with its HTTP version; returns
    /// its address, certificate fingerprint and the count of connections it accepted.
    async fn host(alpn: &[&[u8]]) -> (SocketAddr, String, Arc<AtomicUsize>) {
        let cert = tanso_core::tls::self_signed("host").unwrap();
        let identity = tanso_core::tls::Identity::from_pem(&cert.cert_pem, &cert.key_pem).unwrap();
        let mut config = (*tanso_core::tls::server_config(&identity, None).unwrap()).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|r: Request<Incoming>| async move {
                        let version = format!("{:?}", r.version());
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(
                            version + &" ".repeat(1000),
                        ))))
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (addr, identity.fingerprint, connections)
    }

    async fn versions_and_connections(alpn: &[&[u8]]) -> (Vec<String>, usize, String) {
        let (addr, fingerprint, connections) = host(alpn).await;
        let trust = ServerTrust::pinned(&fingerprint).unwrap();
        let authority = addr.to_string();
        let client = client_for(
            &format!("https://{authority}"),
            &authority,
            &trust,
            HttpClientLimits::default(),
        )
        .unwrap();
        let mut versions = Vec::new();
        let mut excerpt = String::new();
        for path in ["/a", "/b", "/c"] {
            let r = client.send("GET", path, &[], b"").await.unwrap();
            assert_eq!(r.status, 200);
            versions.push(String::from_utf8_lossy(&r.body).trim().to_string());
            excerpt = r.excerpt();
        }
        (versions, connections.load(Ordering::SeqCst), excerpt)
    }

    #[tokio::test]
    async fn http2_when_offered_and_one_connection_for_all_requests() {
        let (versions, connections, _) = versions_and_connections(&[b"h2", b"http/1.1"]).await;
        assert_eq!(versions, ["HTTP/2.0"; 3]);
        assert_eq!(connections, 1);
    }

    #[tokio::test]
    async fn http1_keep_alive_when_h2_is_not_offered() {
        let (versions, connections, excerpt) = versions_and_connections(&[b"http/1.1"]).await;
        assert_eq!(versions, ["HTTP/1.1"; 3]);
        assert_eq!(connections, 1);
        // An error message quotes at most BODY_EXCERPT bytes of a host's answer.
        assert_eq!(excerpt.len(), BODY_EXCERPT);
    }
}
