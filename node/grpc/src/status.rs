//! The gRPC status of this edge's own errors; node, store and disclosure errors map in
//! `tanso_core::status`, the one place for every gRPC service.

use tonic::Status;

use crate::RequestError;
use crate::auth::AuthError;

pub use tanso_core::status::{from_disclosure, from_node, from_store, internal};

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
            RequestError::Node(e) => from_node(e),
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        // Every envelope refusal is UNAUTHENTICATED; the message names what was wrong.
        Status::unauthenticated(err.to_string())
    }
}
