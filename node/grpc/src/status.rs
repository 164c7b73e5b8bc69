//! The gRPC status of this edge's own errors; node and store errors map in
//! `tanso_core::status`.

use tonic::Status;

use crate::auth::AuthError;

pub use tanso_core::status::{from_node, from_store};

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        // Every envelope refusal is UNAUTHENTICATED; the message names what was wrong.
        Status::unauthenticated(err.to_string())
    }
}
