//! The client side of a relay: connect to the relay, name the target company, wait until
//! the relay paired the connection; the caller then runs its pinned TLS handshake over it.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use super::protocol::{self, Message, ProtocolError};

/// How long the relay may take to pair a connection.
const PAIR_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to the relay and sending the connect frame may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP stream to `target` through the relay at `relay` ("host:port"), positioned at the
/// first byte the target node sends. A refusal becomes a `ConnectionRefused` error naming
/// the relay's reason (gRPC callers see it as UNAVAILABLE, which is retryable). Every step
/// has a deadline; the peer client's connect deadline bounds the whole as well.
pub async fn connect(relay: &str, target: &str) -> io::Result<TcpStream> {
    let connect = Message::Connect {
        target: target.to_string(),
    };
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut tcp = TcpStream::connect(relay).await?;
        tcp.set_nodelay(true)?;
        protocol::write_frame(&mut tcp, &connect)
            .await
            .map_err(to_io)?;
        Ok::<_, io::Error>(tcp)
    })
    .await;
    let mut tcp = opened.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "relay {relay}: no connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        )
    })??;
    match tokio::time::timeout(PAIR_TIMEOUT, protocol::read_frame(&mut tcp)).await {
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("relay {relay} did not pair the connection in time"),
        )),
        Ok(Ok(Message::Paired)) => Ok(tcp),
        Ok(Ok(Message::Refused { reason })) => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("relay {relay}: {reason}"),
        )),
        Ok(Ok(other)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("relay {relay} sent {} instead of paired", other.name()),
        )),
        Ok(Err(e)) => Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("relay {relay}: {e}"),
        )),
    }
}

fn to_io(e: ProtocolError) -> io::Error {
    match e {
        ProtocolError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
