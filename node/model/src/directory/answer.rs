//! Signed discovery answers: what the directory says, signed by the association key (no IO).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::credential::{CredentialError, DirectoryCard, MembershipCredential, StatusList};
use crate::crypto::{self, CryptoError, NodeKey};

/// One discovery answer. `query` echoes what was asked, so an answer to one question can
/// never be passed off as the answer to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Answer {
    pub association_id: String,
    pub issued_at: String,
    /// "company:<id>", "product:<id>", "classification:<code>", "list:<token>" or "status".
    pub query: String,
    pub members: Vec<MembershipCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// The status list current when the answer was made.
    pub status_list: StatusList,
}

/// An answer as carried on the wire: JSON payload, detached signature, signing key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAnswer {
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub key_id: String,
}

/// The normalised query string of a lookup.
pub fn query_company(company_id: &str) -> String {
    format!("company:{}", company_id.to_ascii_lowercase())
}
/// The normalised query string of a product lookup.
pub fn query_product(product_id: &str) -> String {
    format!("product:{}", product_id.to_ascii_lowercase())
}
/// The normalised query string of a classification lookup.
pub fn query_classification(code: &str) -> String {
    format!("classification:{}", code.to_ascii_lowercase())
}
/// The query string of a member-list page.
pub fn query_list(page_token: &str) -> String {
    format!("list:{page_token}")
}
/// The query string of a status-list request.
pub const QUERY_STATUS: &str = "status";

impl Answer {
    /// Signs the answer with the association key.
    pub fn seal(&self, key: &NodeKey) -> Result<SealedAnswer, CryptoError> {
        let payload =
            serde_json::to_vec(self).map_err(|e| CryptoError::Canonical(e.to_string()))?;
        let signature = key.sign(crypto::DOMAIN_DIRECTORY_ANSWER, &payload).to_vec();
        Ok(SealedAnswer {
            payload,
            signature,
            key_id: key.key_id().to_string(),
        })
    }
}

/// A verified answer: members whose credentials verify and are not revoked, and the status list.
#[derive(Debug, Clone)]
pub struct Verified {
    pub members: Vec<MembershipCredential>,
    pub next_page_token: Option<String>,
    pub status_list: StatusList,
}

impl SealedAnswer {
    /// Checks the signature against the pinned card, the query echo, the status list, and
    /// every credential (expired or revoked ones are left out).
    pub fn open(
        &self,
        directory: &DirectoryCard,
        expected_query: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, CredentialError> {
        if self.key_id != directory.key_id {
            return Err(CredentialError::UnknownDirectoryKey {
                association_id: directory.association_id.clone(),
                stated: self.key_id.clone(),
                pinned: directory.key_id.clone(),
            });
        }
        directory
            .verify_signature(
                crypto::DOMAIN_DIRECTORY_ANSWER,
                &self.payload,
                &self.signature,
            )
            .map_err(|source| CredentialError::Signature {
                kind: "directory answer",
                source,
            })?;
        let answer: Answer =
            serde_json::from_slice(&self.payload).map_err(|e| CredentialError::Json {
                kind: "directory answer",
                reason: e.to_string(),
            })?;
        if answer.association_id != directory.association_id {
            return Err(CredentialError::WrongAssociation {
                kind: "directory answer",
                stated: answer.association_id,
                pinned: directory.association_id.clone(),
            });
        }
        if answer.query != expected_query {
            return Err(CredentialError::QueryMismatch {
                got: answer.query,
                expected: expected_query.to_string(),
            });
        }
        answer.status_list.verify(directory)?;
        let mut members = Vec::with_capacity(answer.members.len());
        for credential in answer.members {
            match credential.verify(directory, now) {
                Ok(()) if !answer.status_list.is_revoked(&credential.company_id) => {
                    members.push(credential)
                }
                Ok(()) => {}
                Err(CredentialError::Expired { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Verified {
            members,
            next_page_token: answer.next_page_token,
            status_list: answer.status_list,
        })
    }
}

/// A membership application: the node's signed card and what it supplies and buys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    pub association_id: String,
    pub card: crate::card::NodeCard,
    #[serde(default)]
    pub supplies_products: Vec<String>,
    #[serde(default)]
    pub supplies_classifications: Vec<String>,
    #[serde(default)]
    pub buys_classifications: Vec<String>,
    /// RFC 3339; the directory refuses applications far from its clock and older than the last.
    pub issued_at: String,
}

impl Application {
    /// The JSON bytes and the signature by the node key (domain `tanso/v1/directory/join`).
    pub fn sign(&self, key: &NodeKey) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let bytes = serde_json::to_vec(self).map_err(|e| CryptoError::Canonical(e.to_string()))?;
        let sig = key.sign(crypto::DOMAIN_JOIN, &bytes).to_vec();
        Ok((bytes, sig))
    }

    /// Parses an application and checks its card and its signature by the card's key.
    pub fn open(bytes: &[u8], signature: &[u8]) -> Result<Application, CredentialError> {
        let app: Application =
            serde_json::from_slice(bytes).map_err(|e| CredentialError::Json {
                kind: "application",
                reason: e.to_string(),
            })?;
        app.card.check().map_err(|e| CredentialError::Field {
            kind: "application",
            field: "card",
            reason: e.to_string(),
        })?;
        let public = app
            .card
            .verifying_key()
            .map_err(|e| CredentialError::Field {
                kind: "application",
                field: "card.publicKey",
                reason: e.to_string(),
            })?;
        crypto::verify(&public, crypto::DOMAIN_JOIN, bytes, signature).map_err(|source| {
            CredentialError::Signature {
                kind: "application",
                source,
            }
        })?;
        for p in &app.supplies_products {
            if !crate::ids::is_urn(p) {
                return Err(CredentialError::Field {
                    kind: "application",
                    field: "suppliesProducts",
                    reason: format!("{p:?} is not a urn"),
                });
            }
        }
        for c in app
            .supplies_classifications
            .iter()
            .chain(&app.buys_classifications)
        {
            if !super::credential::is_classification(c) {
                return Err(CredentialError::Field {
                    kind: "application",
                    field: "classifications",
                    reason: format!("{c:?} is not a classification code"),
                });
            }
        }
        Ok(app)
    }
}
