//! The node's error type, shared by operations, the admin socket and the gRPC edge.

use crate::card::CardError;
use crate::home::HomeError;
use crate::policy::PolicyError;
use crate::store::StoreError;

/// Everything a node operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid input, nothing was stored:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error("{0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error("unknown partner {0}: add its card with `tanso partner add`")]
    UnknownPartner(String),
    #[error("peer {peer}: {reason}")]
    Peer { peer: String, reason: String },
    #[error("peer {peer} refused: {reason}")]
    PeerDenied { peer: String, reason: String },
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error(transparent)]
    Quota(#[from] crate::quota::QuotaError),
}

impl NodeError {
    /// Whether this is a problem of the home's configuration or files that restarting
    /// cannot fix (see [`HomeError::is_config`]); the binary exits 64 for these.
    pub fn is_config(&self) -> bool {
        match self {
            NodeError::Home(e) => e.is_config(),
            NodeError::Store(e) => e.is_config(),
            _ => false,
        }
    }
}
