//! Key rotation: statements signed by the retiring key, the key history a card carries, and
//! the node's current signing key, swapped atomically; synchronous, no IO.
//!
//! A rotation statement names the company, the retiring key id, the successor's public key
//! and key id, and the time, and is signed by the retiring key over its JCS bytes under its
//! own domain ([`crate::crypto::DOMAIN_KEY_ROTATION`]). A card lists its retired keys oldest
//! first, each with the statement naming its successor, so anyone who pinned any earlier key
//! can follow the chain to the card's current key, and footprints signed by a retired key
//! stay verifiable by looking the key up in the history.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, NodeKey};

/// A statement by a retiring key naming its successor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRotation {
    pub company_id: String,
    /// Key id of the retiring key (the signer).
    pub old_key_id: String,
    /// base64url of the successor's 32-byte Ed25519 public key.
    pub new_public_key: String,
    pub new_key_id: String,
    /// RFC 3339 time of the rotation.
    pub rotated_at: String,
    /// base64url signature by the retiring key over the JCS form without this field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

/// A retired key as a card publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviousKey {
    /// base64url of the retired 32-byte Ed25519 public key.
    pub public_key: String,
    pub key_id: String,
    pub retired_at: String,
    /// The statement, signed by this key, naming its successor.
    pub rotation: KeyRotation,
}

/// Why a rotation statement or a key history is refused.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("previousKeys[{index}]: {reason}")]
    Entry { index: usize, reason: String },
    #[error("previousKeys[{index}]: rotation statement is not signed by the retired key: {source}")]
    Signature {
        index: usize,
        #[source]
        source: CryptoError,
    },
    #[error("key history breaks the chain at previousKeys[{index}]: {reason}")]
    Chain { index: usize, reason: String },
}

impl KeyRotation {
    /// The statement by `old` naming `new` as its successor, signed by `old`.
    pub fn sign(
        old: &NodeKey,
        company_id: &str,
        new: &NodeKey,
        rotated_at: &str,
    ) -> Result<KeyRotation, CryptoError> {
        let mut statement = KeyRotation {
            company_id: company_id.to_string(),
            old_key_id: old.key_id().to_string(),
            new_public_key: B64.encode(new.public_key_bytes()),
            new_key_id: new.key_id().to_string(),
            rotated_at: rotated_at.to_string(),
            signature: String::new(),
        };
        let bytes = statement.signing_bytes()?;
        statement.signature = B64.encode(old.sign(crypto::DOMAIN_KEY_ROTATION, &bytes));
        Ok(statement)
    }

    /// Verifies the statement's signature with the retiring key `old`.
    pub fn verify(&self, old: &ed25519_dalek::VerifyingKey) -> Result<(), CryptoError> {
        let sig = B64
            .decode(&self.signature)
            .map_err(|_| CryptoError::BadSignature)?;
        let bytes = self.signing_bytes()?;
        crypto::verify(old, crypto::DOMAIN_KEY_ROTATION, &bytes, &sig)
    }

    fn signing_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        let value =
            serde_json::to_value(&unsigned).map_err(|e| CryptoError::Canonical(e.to_string()))?;
        crypto::canonical_json(&value)
    }
}

impl PreviousKey {
    /// The retired key as a verifying key.
    pub fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, CryptoError> {
        let raw = B64
            .decode(&self.public_key)
            .map_err(|_| CryptoError::BadPublicKey)?;
        crypto::parse_public_key(&raw)
    }
}

/// Checks a key history (oldest first) ending at the current key `(current_public_key,
/// current_key_id)` of `company_id`: each entry's key id matches its key, its statement is
/// signed by it, names the company and the next key (the current key for the last entry),
/// and no key appears twice.
pub fn check_chain(
    company_id: &str,
    history: &[PreviousKey],
    current_public_key: &str,
    current_key_id: &str,
) -> Result<(), RotationError> {
    let mut seen = std::collections::HashSet::new();
    seen.insert(current_key_id.to_string());
    for (index, entry) in history.iter().enumerate() {
        let entry_err = |reason: String| RotationError::Entry { index, reason };
        let public = entry
            .verifying_key()
            .map_err(|e| entry_err(format!("publicKey: {e}")))?;
        let actual = crypto::key_id(&public);
        if actual != entry.key_id {
            return Err(entry_err(format!(
                "key id {} does not match its public key ({actual})",
                entry.key_id
            )));
        }
        if !seen.insert(entry.key_id.clone()) {
            return Err(RotationError::Chain {
                index,
                reason: format!("key {} appears more than once", entry.key_id),
            });
        }
        let statement = &entry.rotation;
        if !statement.company_id.eq_ignore_ascii_case(company_id) {
            return Err(RotationError::Chain {
                index,
                reason: format!(
                    "statement is for {}, not {company_id}",
                    statement.company_id
                ),
            });
        }
        if statement.old_key_id != entry.key_id {
            return Err(RotationError::Chain {
                index,
                reason: format!(
                    "statement retires {}, not this entry's key {}",
                    statement.old_key_id, entry.key_id
                ),
            });
        }
        if statement.rotated_at != entry.retired_at {
            return Err(entry_err(format!(
                "retiredAt {} differs from the statement's time {}",
                entry.retired_at, statement.rotated_at
            )));
        }
        statement
            .verify(&public)
            .map_err(|source| RotationError::Signature { index, source })?;
        let (next_public, next_id) = match history.get(index + 1) {
            Some(next) => (next.public_key.as_str(), next.key_id.as_str()),
            None => (current_public_key, current_key_id),
        };
        if statement.new_public_key != next_public || statement.new_key_id != next_id {
            return Err(RotationError::Chain {
                index,
                reason: format!(
                    "statement names {} as successor, but the next key is {next_id}",
                    statement.new_key_id
                ),
            });
        }
    }
    Ok(())
}

/// The node's current signing key and its key history, replaced together atomically: a
/// reader sees either the old key with the old history or the new key with the new history.
pub struct KeyRing {
    state: RwLock<KeyState>,
}

#[derive(Clone)]
struct KeyState {
    key: Arc<NodeKey>,
    history: Arc<Vec<PreviousKey>>,
}

impl std::fmt::Debug for KeyRing {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_id", &self.current().key_id())
            .finish()
    }
}

impl KeyRing {
    pub fn new(key: NodeKey, history: Vec<PreviousKey>) -> KeyRing {
        KeyRing {
            state: RwLock::new(KeyState {
                key: Arc::new(key),
                history: Arc::new(history),
            }),
        }
    }

    fn read(&self) -> KeyState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key that signs from now on.
    pub fn current(&self) -> Arc<NodeKey> {
        self.read().key
    }

    /// The current key and the history ending at it, as one consistent pair.
    pub fn snapshot(&self) -> (Arc<NodeKey>, Arc<Vec<PreviousKey>>) {
        let s = self.read();
        (s.key, s.history)
    }

    /// Installs a new key with the history that chains to it.
    pub fn replace(&self, key: NodeKey, history: Vec<PreviousKey>) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = KeyState {
            key: Arc::new(key),
            history: Arc::new(history),
        };
    }

    /// The public key (current or retired) with id `key_id`.
    pub fn public_key_by_id(&self, key_id: &str) -> Option<ed25519_dalek::VerifyingKey> {
        let s = self.read();
        if s.key.key_id() == key_id {
            return Some(s.key.public_key());
        }
        s.history
            .iter()
            .find(|p| p.key_id == key_id)
            .and_then(|p| p.verifying_key().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPANY: &str = "urn:tanso:company:acme";

    fn key(n: u8) -> NodeKey {
        NodeKey::from_seed(&[n; 32])
    }

    fn entry(old: &NodeKey, new: &NodeKey, at: &str) -> PreviousKey {
        PreviousKey {
            public_key: B64.encode(old.public_key_bytes()),
            key_id: old.key_id().to_string(),
            retired_at: at.to_string(),
            rotation: KeyRotation::sign(old, COMPANY, new, at).unwrap(),
        }
    }

    fn current(k: &NodeKey) -> (String, String) {
        (B64.encode(k.public_key_bytes()), k.key_id().to_string())
    }

    #[test]
    fn a_two_step_chain_verifies() {
        let (k1, k2, k3) = (key(1), key(2), key(3));
        let history = vec![
            entry(&k1, &k2, "2026-01-01T00:00:00Z"),
            entry(&k2, &k3, "2026-02-01T00:00:00Z"),
        ];
        let (p, id) = current(&k3);
        check_chain(COMPANY, &history, &p, &id).unwrap();
        check_chain(COMPANY, &[], &p, &id).unwrap();
    }

    #[test]
    fn a_statement_not_signed_by_the_old_key_is_refused() {
        let (k1, k2, forger) = (key(1), key(2), key(9));
        let mut e = entry(&k1, &k2, "2026-01-01T00:00:00Z");
        // Signed by the forger, claiming to retire k1.
        let mut forged = KeyRotation::sign(&forger, COMPANY, &k2, &e.retired_at).unwrap();
        forged.old_key_id = k1.key_id().to_string();
        e.rotation = forged;
        let (p, id) = current(&k2);
        let err = check_chain(COMPANY, &[e], &p, &id).unwrap_err();
        assert!(
            matches!(err, RotationError::Signature { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_broken_chain_is_refused() {
        let (k1, k2, k3) = (key(1), key(2), key(3));
        // k1 names k2, but the card's key is k3 (no k2 -> k3 statement).
        let history = vec![entry(&k1, &k2, "2026-01-01T00:00:00Z")];
        let (p, id) = current(&k3);
        let err = check_chain(COMPANY, &history, &p, &id).unwrap_err();
        assert!(
            matches!(err, RotationError::Chain { index: 0, .. }),
            "{err}"
        );
        // A statement for another company.
        let mut other = entry(&k1, &k2, "2026-01-01T00:00:00Z");
        other.rotation = KeyRotation::sign(&k1, "urn:x:y", &k2, &other.retired_at).unwrap();
        let (p, id) = current(&k2);
        assert!(check_chain(COMPANY, &[other], &p, &id).is_err());
        // A tampered statement (time changed after signing).
        let mut tampered = entry(&k1, &k2, "2026-01-01T00:00:00Z");
        tampered.rotation.rotated_at = "2027-01-01T00:00:00Z".into();
        tampered.retired_at = tampered.rotation.rotated_at.clone();
        assert!(matches!(
            check_chain(COMPANY, &[tampered], &p, &id).unwrap_err(),
            RotationError::Signature { .. }
        ));
        // A cycle back to the current key.
        let history = vec![entry(&k2, &k1, "a"), entry(&k1, &k2, "b")];
        assert!(check_chain(COMPANY, &history, &p, &id).is_err());
    }

    fn card(k: &NodeKey, history: &[PreviousKey]) -> crate::card::NodeCard {
        crate::card::NodeCard::issue(k, COMPANY, "Acme", "127.0.0.1:1", &"ab".repeat(32))
            .unwrap()
            .with_history(k, history)
            .unwrap()
    }

    #[test]
    fn a_rotated_card_succeeds_the_pinned_one_and_old_cards_still_parse() {
        let (k1, k2, k3) = (key(1), key(2), key(3));
        let e1 = entry(&k1, &k2, "2026-01-01T00:00:00Z");
        let e2 = entry(&k2, &k3, "2026-02-01T00:00:00Z");
        let first = card(&k1, &[]);
        let second = card(&k2, std::slice::from_ref(&e1));
        let third = card(&k3, &[e1.clone(), e2.clone()]);
        // A card without history serialises without the field and parses as before.
        let text = serde_json::to_string(&first).unwrap();
        assert!(!text.contains("previousKeys"));
        let parsed = crate::card::NodeCard::parse(&text).unwrap();
        assert!(parsed.previous_keys.is_empty());
        // The history round-trips and verifies.
        let parsed = crate::card::NodeCard::parse(&serde_json::to_string(&third).unwrap()).unwrap();
        assert_eq!(parsed.previous_keys.len(), 2);
        third.succeeds(&first).unwrap();
        third.succeeds(&second).unwrap();
        second.succeeds(&first).unwrap();
        first.succeeds(&first).unwrap();
        // Never backwards, and never from a key outside the chain.
        assert!(first.succeeds(&second).is_err());
        assert!(second.succeeds(&third).is_err());
        let stranger = card(&key(7), &[]);
        assert!(third.succeeds(&stranger).is_err());
        // Old signatures stay attributable.
        assert_eq!(
            third.public_key_by_id(k1.key_id()),
            Some(e1.public_key.as_str())
        );
        assert_eq!(third.retired_at(k2.key_id()), Some("2026-02-01T00:00:00Z"));
        assert!(third.retired_at(k3.key_id()).is_none());
    }

    #[test]
    fn a_card_whose_history_breaks_the_chain_is_refused() {
        let (k1, k2, k3) = (key(1), key(2), key(3));
        // k1 -> k2 is stated, but the card's key is k3: the chain is broken.
        let broken = card(&k3, &[entry(&k1, &k2, "2026-01-01T00:00:00Z")]);
        let err =
            crate::card::NodeCard::parse(&serde_json::to_string(&broken).unwrap()).unwrap_err();
        assert!(err.to_string().contains("breaks the chain"), "{err}");
        // A forged statement (signed by k3, not by the retired k1).
        let mut forged = entry(&k1, &k3, "2026-01-01T00:00:00Z");
        let mut statement = KeyRotation::sign(&k3, COMPANY, &k3, &forged.retired_at).unwrap();
        statement.old_key_id = k1.key_id().to_string();
        forged.rotation = statement;
        let forged_card = card(&k3, &[forged]);
        let err = crate::card::NodeCard::parse(&serde_json::to_string(&forged_card).unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("not signed by the retired key"),
            "{err}"
        );
        assert!(forged_card.succeeds(&card(&k1, &[])).is_err());
    }

    #[test]
    fn the_ring_swaps_key_and_history_together() {
        let (k1, k2) = (key(1), key(2));
        let e = entry(&k1, &k2, "2026-01-01T00:00:00Z");
        let ring = KeyRing::new(key(1), Vec::new());
        assert_eq!(ring.current().key_id(), k1.key_id());
        ring.replace(key(2), vec![e]);
        let (k, h) = ring.snapshot();
        assert_eq!(k.key_id(), k2.key_id());
        assert_eq!(h.len(), 1);
        assert!(ring.public_key_by_id(k1.key_id()).is_some());
        assert!(ring.public_key_by_id(k2.key_id()).is_some());
        assert!(ring.public_key_by_id("ed25519:0000").is_none());
    }
}
