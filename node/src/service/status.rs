//! Errors to gRPC statuses, in one place; internal details stay in our logs.

use tonic::Status;

use crate::disclosure::DisclosureError;
use crate::error::NodeError;
use crate::service::RequestError;
use crate::service::auth::AuthError;
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
        DisclosureError::Node(e) => Status::from(e),
        DisclosureError::View { .. } | DisclosureError::Task(_) => {
            tracing::error!(error = %err, "disclosure failure");
            internal()
        }
    }
}

impl From<RequestError> for Status {
    fn from(err: RequestError) -> Status {
        match err {
            RequestError::MalformedBody(_)
            | RequestError::Filter(_)
            | RequestError::NotUuid { .. }
            | RequestError::BadPageToken
            | RequestError::NothingRequested
            | RequestError::NotUrn(_)
            | RequestError::NoOutcome
            | RequestError::BadSubscription => Status::invalid_argument(err.to_string()),
            RequestError::SubscriptionDenied => Status::permission_denied(err.to_string()),
            RequestError::UnknownCaller => Status::unauthenticated(err.to_string()),
            RequestError::RequestNotFound(_) => Status::not_found(err.to_string()),
            RequestError::CardJson(_) => {
                tracing::error!(error = %err, "internal failure");
                internal()
            }
            RequestError::Disclosure(e) => from_disclosure(e),
            RequestError::Node(e) => Status::from(e),
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        // Every envelope refusal is UNAUTHENTICATED; the message names what was wrong.
        Status::unauthenticated(err.to_string())
    }
}

impl From<NodeError> for Status {
    fn from(err: NodeError) -> Status {
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
            NodeError::Store(e) => from_store(e),
            NodeError::Home(_) | NodeError::Internal(_) | NodeError::Archive(_) => {
                tracing::error!(error = %err, "internal failure");
                internal()
            }
        }
    }
}

impl From<crate::directory::DirectoryError> for Status {
    fn from(err: crate::directory::DirectoryError) -> Status {
        use crate::directory::DirectoryError as E;
        match &err {
            E::Credential(_) | E::BadRequest(_) => Status::invalid_argument(err.to_string()),
            E::UnknownCompany(_) => Status::not_found(err.to_string()),
            E::Refused(_) => Status::failed_precondition(err.to_string()),
            E::Store(e) => from_store(e),
            _ => {
                tracing::error!(error = %err, "directory failure");
                internal()
            }
        }
    }
}
