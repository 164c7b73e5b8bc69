//! Directory credentials and answers: what a directory signs and a node verifies (no IO).

pub mod answer;
pub mod credential;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use credential::{CredentialError, DirectoryCard, MembershipCredential, StatusList};

/// What a member supplies and buys, as sent on `tanso directory join`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinFacts {
    #[serde(default)]
    pub supplies_products: Vec<String>,
    #[serde(default)]
    pub supplies_classifications: Vec<String>,
    #[serde(default)]
    pub buys_classifications: Vec<String>,
}

/// A discovery question.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Company(&'a str),
    Product(&'a str),
    Classification(&'a str),
}
