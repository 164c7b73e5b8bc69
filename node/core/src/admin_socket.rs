//! The framing of the unix-socket admin protocols (the node's, the directory's, the relay's):
//! one JSON request line, one JSON answer line `{"ok": ...}` or `{"error": "..."}`; the socket
//! is mode 0600 and a request is capped at [`MAX_REQUEST`] bytes.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// The largest admin request read (a streamed publish sends its document in chunks).
pub const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// Binds the socket (replacing a stale one) with mode 0600.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        // A socket left by a killed node; a live node would hold the store lock, so we
        // could not be here with another node running.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Sends any serialisable command (the directory's and the relay's use this socket protocol
/// too). `None` when nothing listens on the socket.
pub async fn call_json<C: Serialize>(path: &Path, command: &C) -> Option<Result<Value, String>> {
    let stream = UnixStream::connect(path).await.ok()?;
    Some(call_on(stream, command).await)
}

/// Serves admin connections with `handle` until cancelled .
pub async fn serve_json<C, F, Fut>(listener: UnixListener, cancel: CancellationToken, handle: F)
where
    C: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(C) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<Value, String>> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            s = listener.accept() => match s {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    continue;
                }
            },
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader =
                BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST as u64));
            let mut line = String::new();
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match serde_json::from_str::<C>(&line) {
                Err(e) => json!({"error": format!("bad admin request: {e}")}),
                Ok(command) => match handle(command).await {
                    Ok(value) => json!({"ok": value}),
                    Err(e) => json!({"error": e}),
                },
            };
            let mut bytes = serde_json::to_vec(&answer).unwrap_or_default();
            bytes.push(b'\n');
            let _ = write.write_all(&bytes).await;
            let _ = write.shutdown().await;
        });
    }
}

async fn call_on<C: Serialize>(stream: UnixStream, command: &C) -> Result<Value, String> {
    let (read, mut write) = stream.into_split();
    let mut bytes = serde_json::to_vec(command).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    write.write_all(&bytes).await.map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(read)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("admin socket: {e}"))?;
    let answer: Value =
        serde_json::from_str(&line).map_err(|e| format!("admin socket answer: {e}"))?;
    if let Some(err) = answer.get("error").and_then(Value::as_str) {
        return Err(err.to_string());
    }
    Ok(answer.get("ok").cloned().unwrap_or(Value::Null))
}
