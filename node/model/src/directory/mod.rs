//! Directory credentials and answers: what a directory signs and a node verifies (no IO).

pub mod answer;
pub mod credential;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::pact::model::string_enum;

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

string_enum! {
    /// Where a company stands with a directory, as stored and as a join answers it. No other
    /// text was ever stored or answered.
    MemberState {
        /// Applied; waits for the operator's approval.
        Pending => "pending",
        /// Holds a credential.
        Approved => "approved",
        /// Revoked (or refused); final.
        Revoked => "revoked",
    }
}

/// A discovery question.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Company(&'a str),
    Product(&'a str),
    Classification(&'a str),
}
