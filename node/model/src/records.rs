//! Records a node keeps that other crates read: what it received from partners, and the
//! statuses of received footprints and of footprint requests.
//!
//! Every status is a closed enum spelt as the text stored before it was one, so stores
//! written then still load and every answer and printout stays the same.

use serde::{Deserialize, Deserializer, Serialize};

use crate::pact::Status;
use crate::pact::model::string_enum;

string_enum! {
    /// Where a footprint request stands, on either side. The requester's copy is Queued until
    /// sent, then Pending (or Undeliverable when sending gave up), then Fulfilled or Rejected
    /// when the answer arrives; the supplier's copy (an incoming request) is Pending until
    /// answered, then Fulfilled or Rejected. No other text was ever stored.
    RequestState {
        Queued => "queued",
        Pending => "pending",
        Fulfilled => "fulfilled",
        Rejected => "rejected",
        Undeliverable => "undeliverable",
    }
}

impl RequestState {
    /// Answered: no later answer or delivery outcome changes it.
    pub fn is_answered(self) -> bool {
        matches!(self, RequestState::Fulfilled | RequestState::Rejected)
    }
}

string_enum! {
    /// What checking a received footprint's owner signature found. No other text was ever
    /// stored.
    SignatureStatus {
        /// Signed by the owner's current key or one its key history retired.
        Verified => "verified",
        /// Signed correctly by a key this node does not know for the owner.
        SignedUnknownKey => "signed-unknown-key",
        /// No owner signature (a footprint pulled from a PACT host that does not sign).
        Unsigned => "unsigned",
        /// The signature does not verify; never counted in figures.
        BadSignature => "bad-signature",
    }
}

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
    pub signature_status: SignatureStatus,
    /// Validation findings (kept, never silently dropped).
    pub findings: Vec<String>,
    /// Product ids (lowercase) for matching.
    pub product_ids: Vec<String>,
    /// The status as this node knows it: a received newer version naming this one in
    /// `precedingPfIds` marks it Deprecated. Entries stored before the field existed, or with
    /// a status that is not a PACT one, read as Active (every reader treated them so: only
    /// Deprecated ever counted).
    #[serde(default = "active", deserialize_with = "lenient_status")]
    pub status: Status,
    /// The id of the received footprint that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

fn active() -> Status {
    Status::Active
}

/// An inbox status as stored: Deprecated, or Active for anything else (empty included).
fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    let text = String::deserialize(d)?;
    Ok(text.parse().unwrap_or(Status::Active))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value serialises, parses and prints as the text stores and answers held when
    /// it was a string, and nothing else parses.
    fn keeps_text<T>(all: &[T], texts: &[&str])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + Serialize,
        T: for<'de> Deserialize<'de>,
    {
        assert_eq!(all.len(), texts.len());
        for (value, text) in all.iter().zip(texts) {
            let json = format!("\"{text}\"");
            assert_eq!(serde_json::to_string(value).unwrap(), json);
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
            assert_eq!(value.to_string(), *text);
        }
        assert!(serde_json::from_str::<T>("\"\"").is_err());
        assert!(serde_json::from_str::<T>(&format!("\"{}\"", texts[0].to_uppercase())).is_err());
    }

    #[test]
    fn request_states_keep_their_stored_text() {
        keeps_text(
            RequestState::ALL,
            &[
                "queued",
                "pending",
                "fulfilled",
                "rejected",
                "undeliverable",
            ],
        );
        let answered: Vec<_> = RequestState::ALL
            .iter()
            .filter(|s| s.is_answered())
            .collect();
        assert_eq!(
            answered,
            [&RequestState::Fulfilled, &RequestState::Rejected]
        );
    }

    #[test]
    fn signature_statuses_keep_their_stored_text() {
        keeps_text(
            SignatureStatus::ALL,
            &[
                "verified",
                "signed-unknown-key",
                "unsigned",
                "bad-signature",
            ],
        );
    }

    /// An inbox entry stored before the statuses were enums loads and is written back byte
    /// for byte; one stored before `status` existed, or holding a status PACT does not
    /// know, reads as Active (as every reader treated it).
    #[test]
    fn inbox_entries_stored_before_load_and_write_back_unchanged() {
        for (signature, status) in [("verified", "Active"), ("bad-signature", "Deprecated")] {
            let stored = format!(
                r#"{{"id":"f1","document":{{"id":"f1","status":"Active"}},"view":"summary","provenance":"node:urn:c","fromCompany":"urn:c","receivedAt":"2026-01-01T00:00:00.000Z","signatureStatus":"{signature}","findings":["a finding"],"productIds":["urn:p"],"status":"{status}","supersededBy":"f2"}}"#
            );
            let entry: InboxEntry = serde_json::from_str(&stored).unwrap();
            assert_eq!(entry.signature_status.as_str(), signature);
            assert_eq!(entry.status.as_str(), status);
            assert_eq!(serde_json::to_string(&entry).unwrap(), stored);
        }
        let head = r#"{"id":"f1","document":{},"view":"full","provenance":"pact:https://h","fromCompany":"urn:c","receivedAt":"2026-01-01T00:00:00.000Z","signatureStatus":"unsigned","findings":[],"productIds":[]"#;
        for tail in ["}", r#","status":""}"#, r#","status":"Retired"}"#] {
            let entry: InboxEntry = serde_json::from_str(&format!("{head}{tail}")).unwrap();
            assert_eq!(entry.status, Status::Active, "{tail}");
            assert_eq!(entry.signature_status, SignatureStatus::Unsigned);
        }
        let unknown = format!(r#"{head},"status":"Active"}}"#).replace("unsigned", "trusted");
        assert!(serde_json::from_str::<InboxEntry>(&unknown).is_err());
    }
}
