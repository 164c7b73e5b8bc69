//! A node's side of the blind relay (the relay server is the `tanso-relay` crate): a node with
//! no inbound port is reached by its partners through it, while TLS (and gRPC inside it) runs
//! end to end between the two nodes.
//!
//! - [`protocol`]: the frames exchanged before pairing, registration signatures, [`RelayCard`].
//! - [`keeper`]: the node side: keeps a registered control connection to the relay, dials a
//!   data connection per relayed session and hands it to the node's TLS accept path.
//! - [`dialer`]: the client side: reaches a relayed node through its relay.

pub mod dialer;
pub mod keeper;
pub mod protocol;

pub use protocol::{ProtocolError, RelayCard};

/// Errors of the relay and of a node's use of one.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay config key {key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("{path}: {reason}")]
    ConfigParse { path: String, reason: String },
    #[error("{0} already holds a tanso relay (config.toml exists); refusing to overwrite")]
    Exists(String),
    #[error("{0} is not a tanso relay home (no config.toml); run `tanso relay init` first")]
    Missing(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("relay key: {0}")]
    Key(String),
    #[error("trusted directory card {path}: {reason}")]
    Directory { path: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("node has no membership credential: {0}")]
    NoCredential(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}
