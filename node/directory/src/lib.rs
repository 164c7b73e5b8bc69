//! The association's discovery directory server: members, their keys, endpoints and what they
//! supply; membership credentials and status lists; signed discovery answers.
//!
//! The directory holds identifiers only (company ids, keys, endpoints, product ids,
//! classification codes); it never stores a footprint value and never carries footprint
//! traffic. A node's side (client and cache) is `tanso_core::directory`.

pub mod server;

pub use server::{DirAnswer, DirCommand, Directory, DirectoryError, RawDirectoryConfig};
