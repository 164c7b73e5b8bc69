//! Errors to gRPC statuses, in one place for every gRPC service (the peer service and the
//! directory's); internal details stay in our logs. An edge's own error types convert through
//! these (`tanso_grpc::status`, `tanso_directory::server`).

use tonic::Status;

use crate::disclosure::DisclosureError;
use crate::error::NodeError;
use crate::store::StoreError;

/// An internal failure whose details are already logged (or not worth sending).
pub fn internal() -> Status {
    Status::internal("internal error")
}

/// A store failure as a status (details logged, not sent).
pub fn from_store(err: &StoreError) -> Status {
    match err {
        StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
        other => {
            tracing::error!(error = %other, "store failure");
            internal()
        }
    }
}

/// A disclosure refusal or failure as a status: a footprint the caller may not see reads
/// as not found; one too large for any answer is RESOURCE_EXHAUSTED.
pub fn from_disclosure(err: DisclosureError) -> Status {
    match err {
        DisclosureError::NotFound(_) => Status::not_found(err.to_string()),
        DisclosureError::TooLarge { .. } => Status::resource_exhausted(err.to_string()),
        DisclosureError::Store(e) => from_store(&e),
        DisclosureError::Node(e) => from_node(e),
        DisclosureError::View { .. } | DisclosureError::Task(_) => {
            tracing::error!(error = %err, "disclosure failure");
            internal()
        }
    }
}

/// A node operation's failure as a status (internal details logged, not sent).
pub fn from_node(err: NodeError) -> Status {
    match &err {
        NodeError::NotFound(_) => Status::not_found(err.to_string()),
        NodeError::Invalid(_) | NodeError::BadRequest(_) => {
            Status::invalid_argument(err.to_string())
        }
        NodeError::Conflict(_) => Status::failed_precondition(err.to_string()),
        NodeError::UnknownPartner(_) | NodeError::Card(_) => {
            Status::unauthenticated(err.to_string())
        }
        NodeError::PeerDenied { .. } => Status::permission_denied(err.to_string()),
        NodeError::Peer { .. } => Status::unavailable(err.to_string()),
        NodeError::Policy(_) => Status::invalid_argument(err.to_string()),
        NodeError::Quota(_) => Status::resource_exhausted(err.to_string()),
        NodeError::Store(e) => from_store(e),
        NodeError::Home(_) | NodeError::Internal(_) | NodeError::Archive(_) => {
            tracing::error!(error = %err, "internal failure");
            internal()
        }
    }
}
