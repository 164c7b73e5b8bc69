//! Records a node keeps that other crates read: what it received from partners.

use serde::{Deserialize, Serialize};

/// A footprint received from someone else, kept with where it came from and what was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    /// Footprint id.
    pub id: String,
    /// The footprint as received (PACT JSON, signature extension included when signed).
    pub document: serde_json::Value,
    /// "full" or "summary".
    pub view: String,
    /// Who sent it: "node:<company urn>" or "pact:<base url>".
    pub provenance: String,
    /// The owner company id the sender claims.
    pub from_company: String,
    pub received_at: String,
    /// "verified" (owner signature checked against a known key), "signed-unknown-key",
    /// "unsigned" or "bad-signature".
    pub signature_status: String,
    /// Validation findings (kept, never silently dropped).
    pub findings: Vec<String>,
    /// Product ids (lowercase) for matching.
    pub product_ids: Vec<String>,
    /// "Active" or "Deprecated" as this node knows it: a received newer version naming this
    /// one in `precedingPfIds` marks it Deprecated. Empty in entries stored before.
    #[serde(default)]
    pub status: String,
    /// The id of the received footprint that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}
