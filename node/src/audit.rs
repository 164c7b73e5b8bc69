//! The tamper-evident audit log: hash-chained entries and a signed head; chain logic only.
//!
//! Entry n stores `prev` = hash of entry n-1 and `hash` = SHA-256(prev || JCS(entry without
//! hash)). Sequence numbers are dense, so a deleted entry breaks the sequence, an edited one
//! breaks its hash, and a truncated tail no longer matches the head the node signed with its
//! key after every batch.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, NodeKey};

/// Hash of the (virtual) entry before the first.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Domain of the audit head signature.
pub const DOMAIN_AUDIT_HEAD: &str = "tanso/v1/audit-head";
/// Meta key of the signed head.
pub const HEAD_KEY: &str = "audit_head";

/// What the caller records; the journal numbers and chains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Company id of the caller (or "local" for operator actions).
    pub caller: String,
    /// gRPC method or operation name.
    pub method: String,
    /// Footprint ids, product ids or other targets of the request.
    pub targets: Vec<String>,
    /// "permit", "deny" or "error".
    pub decision: String,
    /// The deciding rule, when a policy decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why, for denials and errors (never a footprint value or a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One chained entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339 with milliseconds, UTC.
    pub at: String,
    #[serde(flatten)]
    pub draft: AuditDraft,
    pub prev: String,
    pub hash: String,
}

/// The node-signed head of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Number of entries (= last seq + 1).
    pub len: u64,
    pub hash: String,
    pub key_id: String,
    pub signature: String,
}

impl AuditEntry {
    /// Chains `draft` after `prev` as entry `seq`.
    pub fn chain(seq: u64, at: String, draft: AuditDraft, prev: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at,
            draft,
            prev: prev.to_string(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    fn compute_hash(&self) -> String {
        let mut unhashed = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = unhashed.as_object_mut() {
            obj.remove("hash");
        }
        let canonical = crypto::canonical_json(&unhashed).unwrap_or_default();
        let mut bytes = Vec::with_capacity(64 + canonical.len());
        bytes.extend_from_slice(self.prev.as_bytes());
        bytes.extend_from_slice(&canonical);
        hex::encode(crypto::sha256(&bytes))
    }
}

impl AuditHead {
    pub fn sign(key: &NodeKey, len: u64, hash: &str) -> AuditHead {
        let sig = key.sign(DOMAIN_AUDIT_HEAD, format!("{len}:{hash}").as_bytes());
        AuditHead {
            len,
            hash: hash.to_string(),
            key_id: key.key_id().to_string(),
            signature: B64.encode(sig),
        }
    }

    fn verify(&self, public: &ed25519_dalek::VerifyingKey) -> bool {
        let Ok(sig) = B64.decode(&self.signature) else {
            return false;
        };
        crypto::verify(
            public,
            DOMAIN_AUDIT_HEAD,
            format!("{}:{}", self.len, self.hash).as_bytes(),
            &sig,
        )
        .is_ok()
    }
}

/// The outcome of checking a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    pub entries: u64,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// Walks a chain incrementally.
pub struct ChainVerifier {
    next_seq: u64,
    prev: String,
    problems: Vec<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 0,
            prev: GENESIS.to_string(),
            problems: Vec::new(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next stored entry (raw bytes as stored under `seq`).
    pub fn push(&mut self, seq: u64, raw: &[u8]) {
        let entry: AuditEntry = match serde_json::from_slice(raw) {
            Ok(e) => e,
            Err(e) => {
                self.problems.push(format!("entry {seq}: unreadable: {e}"));
                self.next_seq = seq + 1;
                return;
            }
        };
        if seq != self.next_seq {
            self.problems.push(format!(
                "entries {}..{} are missing (deleted?)",
                self.next_seq,
                seq.saturating_sub(1)
            ));
        }
        if entry.seq != seq {
            self.problems
                .push(format!("entry {seq}: states seq {} (moved?)", entry.seq));
        }
        if entry.prev != self.prev {
            self.problems.push(format!(
                "entry {seq}: does not chain to entry {}",
                seq.wrapping_sub(1)
            ));
        }
        if entry.compute_hash() != entry.hash {
            self.problems.push(format!(
                "entry {seq}: content does not match its hash (edited?)"
            ));
        }
        self.prev = entry.hash;
        self.next_seq = seq + 1;
    }

    /// Compares the end of the chain with the signed head.
    pub fn finish(
        mut self,
        head: Option<&AuditHead>,
        public: &ed25519_dalek::VerifyingKey,
    ) -> ChainReport {
        match head {
            None if self.next_seq > 0 => self
                .problems
                .push("the signed chain head is missing".to_string()),
            None => {}
            Some(head) => {
                if !head.verify(public) {
                    self.problems
                        .push("the chain head signature does not verify".to_string());
                }
                if head.len != self.next_seq || head.hash != self.prev {
                    self.problems.push(format!(
                        "the chain ends at {} entries but the signed head says {} (entries removed from the end?)",
                        self.next_seq, head.len
                    ));
                }
            }
        }
        ChainReport {
            entries: self.next_seq,
            ok: self.problems.is_empty(),
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: u32) -> AuditDraft {
        AuditDraft {
            caller: format!("urn:tanso:company:c{n}"),
            method: "/tanso.v1.Connector/GetFootprint".into(),
            targets: vec![],
            decision: "permit".into(),
            rule: None,
            reason: None,
        }
    }

    fn chain(n: u64) -> (Vec<Vec<u8>>, AuditHead, NodeKey) {
        let key = NodeKey::from_seed(&[3; 32]);
        let mut prev = GENESIS.to_string();
        let mut raw = Vec::new();
        for seq in 0..n {
            let e = AuditEntry::chain(
                seq,
                "2026-01-01T00:00:00.000Z".into(),
                draft(seq as u32),
                &prev,
            );
            prev = e.hash.clone();
            raw.push(serde_json::to_vec(&e).unwrap());
        }
        let head = AuditHead::sign(&key, n, &prev);
        (raw, head, key)
    }

    fn verify(raw: &[(u64, Vec<u8>)], head: &AuditHead, key: &NodeKey) -> ChainReport {
        let mut v = ChainVerifier::default();
        for (seq, r) in raw {
            v.push(*seq, r);
        }
        v.finish(Some(head), &key.public_key())
    }

    #[test]
    fn intact_chain_verifies() {
        let (raw, head, key) = chain(5);
        let raw: Vec<_> = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();
        let report = verify(&raw, &head, &key);
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.entries, 5);
    }

    #[test]
    fn edit_deletion_and_truncation_are_detected() {
        let (raw, head, key) = chain(5);
        let raw: Vec<_> = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();

        let mut edited = raw.clone();
        edited[2].1 = String::from_utf8(edited[2].1.clone())
            .unwrap()
            .replace("permit", "deny")
            .into_bytes();
        let r = verify(&edited, &head, &key);
        assert!(
            !r.ok && r.problems[0].contains("entry 2: content does not match"),
            "{:?}",
            r.problems
        );

        let mut deleted = raw.clone();
        deleted.remove(1);
        let r = verify(&deleted, &head, &key);
        assert!(
            r.problems.iter().any(|p| p.contains("missing")),
            "{:?}",
            r.problems
        );

        let truncated = raw[..4].to_vec();
        let r = verify(&truncated, &head, &key);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("removed from the end")),
            "{:?}",
            r.problems
        );
    }
}
