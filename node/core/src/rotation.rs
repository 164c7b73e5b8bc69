//! Key rotation on a node (`tanso key rotate`) and partners' new cards: the successor key, its
//! statement and the history are made durable, the running node switches keys atomically,
//! and every partner is sent the new card through the outbox.
//!
//! A partner replaces the card it pinned only with a card whose key history chains from the
//! pinned key ([`crate::card::NodeCard::succeeds`]); anything else is refused and audited.
//! There is no grace period for a retired key: once a partner holds the new card, a request
//! signed by the retired key is refused (the sender's outbox re-signs with the new key).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditDecision, AuditDraft};
use crate::card::NodeCard;
use crate::crypto::NodeKey;
use crate::error::NodeError;
use crate::journal::Record;
use crate::keys::{KeyRotation, PreviousKey};
use crate::node::{Node, now_rfc3339};
use crate::store::{Delivery, PartnerRecord};

/// What `tanso key rotate` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationOutcome {
    pub company_id: String,
    pub old_key_id: String,
    pub new_key_id: String,
    pub rotated_at: String,
    /// Partners the new card is queued for.
    pub partners_notified: usize,
}

/// The audit method name of key events.
const AUDIT_ROTATE: &str = "key-rotate";
/// The audit method name of a received card update.
pub const AUDIT_CARD_UPDATE: &str = "card-update";

impl Node {
    /// Rotates the node key: a fresh key, a statement signed by the old key naming it, the
    /// history extended, all durable before the running node switches to the new key; then
    /// the new card is queued for every partner.
    pub fn rotate_key(&self) -> Result<RotationOutcome, NodeError> {
        let _one_at_a_time = self
            .rotation_lock()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (old, history) = self.keys().snapshot();
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())
            .map_err(|e| NodeError::Internal(format!("randomness: {e}")))?;
        let new = NodeKey::from_seed(&seed);
        let rotated_at = now_rfc3339();
        let internal = |e: crate::crypto::CryptoError| NodeError::Internal(e.to_string());
        let statement =
            KeyRotation::sign(&old, self.company_id(), &new, &rotated_at).map_err(internal)?;
        let mut next = history.to_vec();
        next.push(PreviousKey {
            public_key: B64.encode(old.public_key_bytes()),
            key_id: old.key_id().to_string(),
            retired_at: rotated_at.clone(),
            rotation: statement,
        });
        crate::keys::check_chain(
            self.company_id(),
            &next,
            &B64.encode(new.public_key_bytes()),
            new.key_id(),
        )
        .map_err(|e| NodeError::Internal(e.to_string()))?;
        self.home().store_rotation(&new, &next)?;
        let new_key_id = new.key_id().to_string();
        self.keys().replace(new, next);
        tracing::info!(old_key_id = %old.key_id(), new_key_id = %new_key_id, "node key rotated");
        self.journal()
            .write_blocking(Record {
                audit: Some(AuditDraft {
                    caller: "operator".into(),
                    method: AUDIT_ROTATE.into(),
                    targets: vec![old.key_id().to_string(), new_key_id.clone()],
                    decision: AuditDecision::Permit,
                    rule: None,
                    reason: Some("key rotated".into()),
                }),
                ..Record::default()
            })
            .map_err(NodeError::Store)?;
        let partners = self.partners()?;
        let items: Vec<_> = partners
            .iter()
            .map(|p| {
                crate::exchange::new_item(
                    self.clock(),
                    &p.card.company_id,
                    Delivery::CardUpdate {
                        key_id: new_key_id.clone(),
                    },
                )
            })
            .collect();
        // The new card is recorded as announced with the items that carry it, so the next
        // start does not announce it again.
        let card = serde_json::to_vec(&self.card()?)
            .map_err(|e| NodeError::Internal(format!("card json: {e}")))?;
        self.store().announce_card(&card, &items)?;
        self.enqueued(&items);
        Ok(RotationOutcome {
            company_id: self.company_id().to_string(),
            old_key_id: old.key_id().to_string(),
            new_key_id,
            rotated_at,
            partners_notified: items.len(),
        })
    }

    /// Announces this node's card to every partner when it differs from the card last
    /// announced (a new endpoint after a move, a new TLS certificate, a relay added or
    /// dropped): one `CardUpdate` outbox item per partner, recorded with the new card in one
    /// batch. Rotations announce their own card. The first time a node runs this (no card
    /// recorded yet), its card is recorded without an announcement: its partners hold the
    /// card they were given. Returns the number of partners the card is queued for.
    pub fn announce_card_if_changed(&self) -> Result<usize, NodeError> {
        let _not_while_rotating = self
            .rotation_lock()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let card = self.card()?;
        let json = serde_json::to_vec(&card)
            .map_err(|e| NodeError::Internal(format!("card json: {e}")))?;
        let Some(previous) = self.store().announced_card()? else {
            self.store().announce_card(&json, &[])?;
            return Ok(0);
        };
        // A recorded card that no longer parses (an older format) counts as changed.
        if serde_json::from_slice::<NodeCard>(&previous).is_ok_and(|p| p == card) {
            return Ok(0);
        }
        let items: Vec<_> = self
            .partners()?
            .iter()
            .map(|p| {
                crate::exchange::new_item(
                    self.clock(),
                    &p.card.company_id,
                    Delivery::CardUpdate {
                        key_id: card.key_id.clone(),
                    },
                )
            })
            .collect();
        self.store().announce_card(&json, &items)?;
        self.enqueued(&items);
        tracing::info!(
            endpoint = %card.endpoint,
            tls_fingerprint = %card.tls_fingerprint,
            partners = items.len(),
            "card changed: announced to partners"
        );
        Ok(items.len())
    }

    /// A partner's new card, received from it: stored only if it succeeds the pinned card
    /// (same key, or a key history chaining from the pinned key). Audited either way.
    /// Returns whether the stored card changed.
    pub fn accept_card_update(&self, from: &str, card: &NodeCard) -> Result<bool, NodeError> {
        let known = self
            .partner(from)?
            .ok_or_else(|| NodeError::UnknownPartner(from.to_string()))?;
        let verdict = if card.company_id.eq_ignore_ascii_case(from) {
            card.succeeds(&known.card)
        } else {
            Err(crate::card::CardError::NotSuccessor {
                company: from.to_string(),
                reason: format!("it is the card of {}", card.company_id),
            })
        };
        let (decision, reason) = match &verdict {
            Ok(()) if *card == known.card => (AuditDecision::Permit, "card unchanged".to_string()),
            Ok(()) if card.key_id != known.card.key_id => (
                AuditDecision::Permit,
                format!("key {} succeeds {}", card.key_id, known.card.key_id),
            ),
            Ok(()) => (AuditDecision::Permit, "card updated".to_string()),
            Err(e) => (AuditDecision::Deny, e.to_string()),
        };
        self.journal()
            .write_blocking(Record {
                audit: Some(AuditDraft {
                    caller: known.card.company_id.clone(),
                    method: AUDIT_CARD_UPDATE.into(),
                    targets: vec![card.key_id.clone()],
                    decision,
                    rule: None,
                    reason: Some(reason),
                }),
                ..Record::default()
            })
            .map_err(NodeError::Store)?;
        if let Err(e) = verdict {
            tracing::warn!(partner = %from, error = %e, "card update refused");
            return Err(e.into());
        }
        if *card == known.card {
            return Ok(false);
        }
        self.store().put_partner(&PartnerRecord {
            card: card.clone(),
            groups: known.groups,
            added_at: known.added_at,
        })?;
        self.peers().forget(from);
        self.forget_partner_keys(from);
        if card.key_id != known.card.key_id {
            tracing::info!(partner = %from, key_id = %card.key_id, "partner key rotation accepted");
        }
        Ok(true)
    }
}
