//! The node's side of directories: the client and the cache of member credentials and status
//! lists (the directory server is the `tanso-directory` crate).

pub mod client;

pub use client::{Directories, DirectoryClient, Membership};
pub use credential::{CredentialError, DirectoryCard, MembershipCredential, StatusList};
pub use tanso_model::directory::{JoinFacts, Lookup, MemberState, answer, credential};
