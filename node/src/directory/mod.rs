//! The association's discovery directory: membership credentials, status lists, discovery.
//!
//! The directory holds identifiers only (company ids, keys, endpoints, product ids,
//! classification codes); it never stores a footprint value and never carries footprint traffic.

pub mod answer;
pub mod client;
pub mod credential;
pub mod server;

#[cfg(test)]
mod tests;

pub use client::{Directories, DirectoryClient, Membership};
pub use credential::{CredentialError, DirectoryCard, MembershipCredential, StatusList};
pub use server::{DirAnswer, DirCommand, Directory, DirectoryError, RawDirectoryConfig};
