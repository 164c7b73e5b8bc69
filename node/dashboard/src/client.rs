//! A minimal HTTPS/1.1 client for tests and benchmarks only (the dashboard, PACT API and ops
//! tests; `bench_dashboard`, `bench_pact`): one request per connection, the server's
//! certificate pinned by fingerprint (the node's self-signed one), and the raw figures a
//! benchmark reports (time to first byte, bytes on the wire). No production code calls it:
//! the node's HTTP client is the PACT client's. A request that is not answered
//! within [`TIMEOUT`] fails, so a broken server fails a test instead of hanging it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of [`request`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no complete response within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(#[from] tanso_core::tls::TlsError),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

/// A response, with timings.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Time from sending the request to the first response byte.
    pub ttfb: Duration,
    /// Time from connecting to the end of the response.
    pub total: Duration,
    /// Bytes received (HTTP framing included, TLS excluded).
    pub wire_bytes: usize,
}

impl HttpResponse {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The session cookie's `name=value`, if this response sets one.
    pub fn set_cookie(&self) -> Option<String> {
        self.header("set-cookie")
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }
}

/// Sends one request to `addr` (certificate pinned to `fingerprint`) and reads the response.
pub async fn request(
    addr: SocketAddr,
    fingerprint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, ClientError> {
    let mut config = (*tanso_core::tls::pinned_client_config(fingerprint, None)?).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").map_err(|_| ClientError::Malformed("name"))?;
    let authority = addr.to_string();
    let target = Target {
        addr,
        authority: &authority,
        name,
    };
    tokio::time::timeout(
        TIMEOUT,
        request_tls(target, Arc::new(config), method, path, headers, body),
    )
    .await
    .map_err(|_| ClientError::Timeout)?
}

/// Where a request goes.
struct Target<'a> {
    addr: SocketAddr,
    /// The `Host` header (`host:port` from the URL).
    authority: &'a str,
    /// The name the server's certificate is checked against.
    name: ServerName<'static>,
}

/// Sends one request to `target` over TLS with `config` (which decides how the server's
/// certificate is checked) and reads the response.
async fn request_tls(
    target: Target<'_>,
    config: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, ClientError> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let start = Instant::now();
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector.connect(target.name, tcp).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        target.authority,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body).await?;
    tls.flush().await?;
    let sent = Instant::now();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut ttfb = None;
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                ttfb.get_or_insert_with(|| sent.elapsed());
                raw.extend_from_slice(&buf[..n]);
            }
            // Servers may close without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(e.into()),
        }
    }
    let total = start.elapsed();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(ClientError::Malformed("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Malformed("status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
        ttfb: ttfb.unwrap_or(total),
        total,
        wire_bytes: raw.len(),
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(ClientError::Malformed("chunk size"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| ClientError::Malformed("chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(ClientError::Malformed("short chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
