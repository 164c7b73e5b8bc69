//! Node cards: what a company hands its partners (id, name, key, endpoint, TLS fingerprint), self-signed.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, NodeKey};
use crate::keys::{PreviousKey, RotationError};

/// A node's card. The signature (by the card's own key) proves the issuer holds that key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCard {
    pub company_id: String,
    pub name: String,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub key_id: String,
    /// "host:port" where the node accepts peer connections; empty when it has no inbound port.
    pub endpoint: String,
    /// Lowercase hex SHA-256 of the node's TLS certificate (DER), pinned by partners.
    pub tls_fingerprint: String,
    /// Retired keys, oldest first, each with the statement (signed by it) naming its
    /// successor; the last names `public_key`. Absent on cards that never rotated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_keys: Vec<PreviousKey>,
    /// "host:port" of the relay the node keeps an outbound connection to, when it uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// base64url signature over the JCS form of the card without this field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

/// Parsed public keys of cards by (lowercase company id, key id), so an authenticated request
/// does not decode and decompress its caller's key again. An entry is used only while the
/// card still states the same public key, and a company's entries are dropped when its
/// partner record changes; retired keys stay parseable (whether one is accepted is for the
/// caller of the cache to decide). Bounded: cleared when full.
#[derive(Default)]
pub struct KeyCache {
    keys: std::sync::RwLock<HashMap<(String, String), (String, ed25519_dalek::VerifyingKey)>>,
}

/// Most keys a [`KeyCache`] holds.
const MAX_CACHED_KEYS: usize = 4096;

impl KeyCache {
    /// The card's public key, parsed once per (company, key id).
    pub fn verifying_key(&self, card: &NodeCard) -> Result<ed25519_dalek::VerifyingKey, CardError> {
        let id = (card.company_id.to_ascii_lowercase(), card.key_id.clone());
        if let Some((public, key)) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&id)
            && *public == card.public_key
        {
            return Ok(*key);
        }
        let key = card.verifying_key()?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(id, (card.public_key.clone(), key));
        Ok(key)
    }

    /// Drops every key cached for `company_id` (its card changed or it was removed).
    pub fn forget(&self, company_id: &str) {
        let company = company_id.to_ascii_lowercase();
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(c, _), _| *c != company);
    }

    /// Keys cached.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a card is refused.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("card is not valid json for a node card: {0}")]
    Json(String),
    #[error("card field {field}: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("card key id {stated} does not match its public key ({actual})")]
    KeyId { stated: String, actual: String },
    #[error("card signature: {0}")]
    Signature(#[source] CryptoError),
    #[error("card key history: {0}")]
    History(#[from] RotationError),
    #[error("card of {company} does not succeed the known card: {reason}")]
    NotSuccessor { company: String, reason: String },
}

impl NodeCard {
    /// Builds and signs a card.
    pub fn issue(
        key: &NodeKey,
        company_id: &str,
        name: &str,
        endpoint: &str,
        tls_fingerprint: &str,
    ) -> Result<NodeCard, CryptoError> {
        let mut card = NodeCard {
            company_id: company_id.to_string(),
            name: name.to_string(),
            public_key: B64.encode(key.public_key_bytes()),
            key_id: key.key_id().to_string(),
            endpoint: endpoint.to_string(),
            tls_fingerprint: tls_fingerprint.to_string(),
            previous_keys: Vec::new(),
            relay: None,
            signature: String::new(),
        };
        let bytes = card.signing_bytes()?;
        card.signature = B64.encode(key.sign(crypto::DOMAIN_CARD, &bytes));
        Ok(card)
    }

    /// The same card advertising `relay` (re-signed with `key`, which must be the card's).
    pub fn with_relay(
        mut self,
        key: &NodeKey,
        relay: Option<String>,
    ) -> Result<NodeCard, CryptoError> {
        self.relay = relay;
        self.signature = String::new();
        let bytes = self.signing_bytes()?;
        self.signature = B64.encode(key.sign(crypto::DOMAIN_CARD, &bytes));
        Ok(self)
    }

    /// Parses and checks a card: fields well-formed, key id matches the key, signature valid.
    pub fn parse(text: &str) -> Result<NodeCard, CardError> {
        let card: NodeCard =
            serde_json::from_str(text).map_err(|e| CardError::Json(e.to_string()))?;
        card.check()?;
        Ok(card)
    }

    /// Checks a card already deserialised.
    pub fn check(&self) -> Result<(), CardError> {
        if !crate::ids::is_urn(&self.company_id) {
            return Err(CardError::Field {
                field: "companyId",
                reason: format!("{:?} is not a urn", self.company_id),
            });
        }
        if self.tls_fingerprint.len() != 64
            || !self.tls_fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(CardError::Field {
                field: "tlsFingerprint",
                reason: "must be 64 hex digits (sha-256 of the certificate)".into(),
            });
        }
        let public = self.verifying_key()?;
        let actual = crypto::key_id(&public);
        if actual != self.key_id {
            return Err(CardError::KeyId {
                stated: self.key_id.clone(),
                actual,
            });
        }
        let sig = B64.decode(&self.signature).map_err(|e| CardError::Field {
            field: "signature",
            reason: e.to_string(),
        })?;
        let bytes = self.signing_bytes().map_err(CardError::Signature)?;
        crypto::verify(&public, crypto::DOMAIN_CARD, &bytes, &sig).map_err(CardError::Signature)?;
        crate::keys::check_chain(
            &self.company_id,
            &self.previous_keys,
            &self.public_key,
            &self.key_id,
        )?;
        Ok(())
    }

    /// The card with `history` (oldest first, chaining to `key`) as its previous keys,
    /// signed again by `key`.
    pub fn with_history(
        mut self,
        key: &NodeKey,
        history: &[PreviousKey],
    ) -> Result<NodeCard, CryptoError> {
        self.previous_keys = history.to_vec();
        self.signature = String::new();
        let bytes = self.signing_bytes()?;
        self.signature = B64.encode(key.sign(crypto::DOMAIN_CARD, &bytes));
        Ok(self)
    }

    /// Whether this card may replace `known` (the card a partner or directory pinned): both
    /// check, they name the same company, and this card's key is `known`'s key or its key
    /// history chains from `known`'s key to its own. Endpoint and name may change freely.
    pub fn succeeds(&self, known: &NodeCard) -> Result<(), CardError> {
        self.check()?;
        known.check()?;
        self.chains_from(known)
    }

    /// The key part of [`NodeCard::succeeds`] for cards vouched for by someone else (built
    /// from association-signed membership credentials, so not self-signed): same company, and
    /// the current key is `known`'s key or a verified key history leads from it to here.
    pub fn chains_from(&self, known: &NodeCard) -> Result<(), CardError> {
        crate::keys::check_chain(
            &self.company_id,
            &self.previous_keys,
            &self.public_key,
            &self.key_id,
        )?;
        let not = |reason: String| CardError::NotSuccessor {
            company: known.company_id.clone(),
            reason,
        };
        if !self.company_id.eq_ignore_ascii_case(&known.company_id) {
            return Err(not(format!("it is the card of {}", self.company_id)));
        }
        if self.key_id == known.key_id && self.public_key == known.public_key {
            return Ok(());
        }
        // The whole chain is verified; the known key must be a link of it.
        match self.previous_keys.iter().find(|p| p.key_id == known.key_id) {
            Some(p) if p.public_key == known.public_key => Ok(()),
            _ => Err(not(format!(
                "its key history does not start from the known key {}",
                known.key_id
            ))),
        }
    }

    /// The base64url public key with id `key_id`: the current key or a retired one.
    pub fn public_key_by_id(&self, key_id: &str) -> Option<&str> {
        if self.key_id == key_id {
            return Some(&self.public_key);
        }
        self.previous_keys
            .iter()
            .find(|p| p.key_id == key_id)
            .map(|p| p.public_key.as_str())
    }

    /// When `key_id` is a retired key of this card: its retirement time.
    pub fn retired_at(&self, key_id: &str) -> Option<&str> {
        self.previous_keys
            .iter()
            .find(|p| p.key_id == key_id)
            .map(|p| p.retired_at.as_str())
    }

    /// The card's public key.
    pub fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, CardError> {
        let raw = B64.decode(&self.public_key).map_err(|e| CardError::Field {
            field: "publicKey",
            reason: e.to_string(),
        })?;
        crypto::parse_public_key(&raw).map_err(|e| CardError::Field {
            field: "publicKey",
            reason: e.to_string(),
        })
    }

    fn signing_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        let value =
            serde_json::to_value(&unsigned).map_err(|e| CryptoError::Canonical(e.to_string()))?;
        crypto::canonical_json(&value)
    }
}
