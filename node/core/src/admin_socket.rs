//! The unix-socket admin protocols (the node's, the directory's): one request line and one
//! answer line per connection, both JSON envelopes carrying [`PROTOCOL_VERSION`]:
//! `{"version":1,"command":{…}}`, answered `{"version":1,"ok":…}` or `{"version":1,"error":"…"}`;
//! each end refuses a message of another version, naming both. The socket is mode 0600; a
//! request line is capped at [`MAX_REQUEST`] bytes and an answer at [`MAX_ANSWER`].

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// The admin protocol's version, carried by every request and answer (the node's and the
/// directory's). Raise it whenever a [`Command`] or an [`Answer`] changes shape, so that a
/// `tanso` of another release is refused with both versions named instead of misreading the
/// other's messages. A message without the field reads as version 0 (releases before it).
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest admin request line. A publish streams its document after the line instead
/// ([`Command::PublishStream`]), so no request holds a whole file.
pub const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// Largest answer line a client reads. The serving side builds an answer whole in memory
/// (an inbox or audit export included), so this only stops a runaway.
pub const MAX_ANSWER: usize = 1024 * 1024 * 1024;

/// Why a client got no answer to its command.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The serving side refused or failed the command: its message.
    #[error("{0}")]
    Refused(String),
    /// The answer is of another protocol version (0: a release before versions).
    #[error(
        "admin protocol version mismatch: the answer is version {theirs}, this tanso speaks \
         version {ours} (use the tanso binary that serves this home)"
    )]
    Version { theirs: u32, ours: u32 },
    #[error("admin socket: {0}")]
    Socket(io::Error),
    /// A streamed publish's document could not be sent (and no answer says why).
    #[error("admin socket: sending the document: {0}")]
    Sending(io::Error),
    #[error("admin socket answer: {0}")]
    Answer(String),
}

/// A request line as sent.
#[derive(Serialize)]
struct RequestOut<'a, C> {
    version: u32,
    command: &'a C,
}

/// A request line as received: the command is read once the version is known to be ours.
#[derive(Deserialize)]
struct RequestIn<'a> {
    #[serde(default)]
    version: u32,
    #[serde(borrow)]
    command: Option<&'a RawValue>,
}

/// An answer line as sent: `ok` or `error`.
#[derive(Serialize)]
struct ReplyOut<'a, A> {
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<&'a A>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// An answer line as received: the answer is read once the version is known to be ours.
#[derive(Deserialize)]
struct ReplyIn<'a> {
    #[serde(default)]
    version: u32,
    #[serde(borrow)]
    ok: Option<&'a RawValue>,
    error: Option<String>,
}

/// The request line carrying `command`, newline included.
pub fn request_line<C: Serialize>(command: &C) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(&RequestOut {
        version: PROTOCOL_VERSION,
        command,
    })
    .map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// The command of a request line, or the message refusing it (a malformed line, or a
/// version other than ours, both named).
pub fn parse_request<C: DeserializeOwned>(line: &str) -> Result<C, String> {
    let request: RequestIn<'_> =
        serde_json::from_str(line).map_err(|e| format!("bad admin request: {e}"))?;
    if request.version != PROTOCOL_VERSION {
        return Err(format!(
            "admin protocol version mismatch: the request is version {}, this server speaks \
             version {PROTOCOL_VERSION} (use the tanso binary that serves this home)",
            request.version
        ));
    }
    let command = request
        .command
        .ok_or_else(|| "bad admin request: no command".to_string())?;
    serde_json::from_str(command.get()).map_err(|e| format!("bad admin request: {e}"))
}

/// Writes the answer line for `reply`, newline included.
pub fn write_reply<A: Serialize>(
    mut out: impl io::Write,
    reply: Result<&A, &str>,
) -> io::Result<()> {
    let (ok, error) = match reply {
        Ok(answer) => (Some(answer), None),
        Err(message) => (None, Some(message)),
    };
    let line = ReplyOut {
        version: PROTOCOL_VERSION,
        ok,
        error,
    };
    serde_json::to_writer(&mut out, &line).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The answer line for `reply`. An answer that cannot be written as JSON becomes an error
/// answer saying so.
pub fn reply_line<A: Serialize>(reply: Result<&A, &str>) -> Vec<u8> {
    let mut line = Vec::new();
    if let Err(e) = write_reply(&mut line, reply) {
        line.clear();
        let message = format!("admin answer: {e}");
        // Only strings: this cannot fail.
        let _ = write_reply::<()>(&mut line, Err(&message));
    }
    line
}

/// The answer of an answer line, or why there is none.
pub fn parse_reply<A: DeserializeOwned>(line: &str) -> Result<A, AdminError> {
    let reply: ReplyIn<'_> =
        serde_json::from_str(line).map_err(|e| AdminError::Answer(e.to_string()))?;
    if reply.version != PROTOCOL_VERSION {
        return Err(AdminError::Version {
            theirs: reply.version,
            ours: PROTOCOL_VERSION,
        });
    }
    match (reply.ok, reply.error) {
        (_, Some(message)) => Err(AdminError::Refused(message)),
        (Some(answer), None) => {
            serde_json::from_str(answer.get()).map_err(|e| AdminError::Answer(e.to_string()))
        }
        (None, None) => Err(AdminError::Answer("neither an answer nor an error".into())),
    }
}

/// Reads one line of at most `cap` bytes; `None` when it is longer.
pub async fn read_line_capped(
    reader: &mut (impl AsyncBufRead + Unpin),
    cap: usize,
) -> io::Result<Option<String>> {
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(reader, cap as u64)
        .read_line(&mut line)
        .await?;
    Ok((line.len() < cap || line.ends_with('\n')).then_some(line))
}

pub fn request_too_large() -> String {
    format!(
        "bad admin request: longer than {} MiB",
        MAX_REQUEST / (1024 * 1024)
    )
}

pub fn answer_too_large() -> AdminError {
    AdminError::Answer(format!("longer than {} MiB", MAX_ANSWER / (1024 * 1024)))
}

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

/// Sends any serialisable command and reads its typed answer (the directory's commands use
/// this socket protocol too). `None` when nothing listens on the socket.
pub async fn call_json<C: Serialize, A: DeserializeOwned>(
    path: &Path,
    command: &C,
) -> Option<Result<A, AdminError>> {
    let stream = UnixStream::connect(path).await.ok()?;
    Some(call_on(stream, command).await)
}

/// Serves admin connections with `handle` until cancelled (same framing as [`serve`]).
pub async fn serve_json<C, A, F, Fut>(listener: UnixListener, cancel: CancellationToken, handle: F)
where
    C: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
    F: Fn(C) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<A, String>> + Send + 'static,
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
            let mut reader = BufReader::new(read);
            let command = match read_line_capped(&mut reader, MAX_REQUEST).await {
                Err(_) => return,
                Ok(Some(line)) => parse_request::<C>(&line),
                Ok(None) => Err(request_too_large()),
            };
            let answer = match command {
                Err(message) => Err(message),
                Ok(command) => handle(command).await,
            };
            let line = reply_line(answer.as_ref().map_err(String::as_str));
            let _ = write.write_all(&line).await;
            let _ = write.shutdown().await;
        });
    }
}

pub async fn call_on<C: Serialize, A: DeserializeOwned>(
    stream: UnixStream,
    command: &C,
) -> Result<A, AdminError> {
    let (read, mut write) = stream.into_split();
    write
        .write_all(&request_line(command).map_err(AdminError::Socket)?)
        .await
        .map_err(AdminError::Socket)?;
    let line = read_line_capped(&mut BufReader::new(read), MAX_ANSWER)
        .await
        .map_err(AdminError::Socket)?
        .ok_or_else(answer_too_large)?;
    parse_reply(&line)
}
