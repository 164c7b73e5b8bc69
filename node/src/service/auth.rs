//! Request authentication: the signed envelope is checked before any handler runs.
//!
//! Order matters: the header is decoded and checked for method, audience and time, the
//! caller's key is looked up and the signature verified with `verify_strict`, the body is
//! checked against its hash, and only then is the nonce recorded, so unauthenticated
//! traffic cannot fill the replay cache.

use chrono::Utc;
use prost::Message;
use proto::pb;
use tonic::Status;

use crate::audit::AuditDraft;
use crate::card::NodeCard;
use crate::crypto;
use crate::journal::Record;
use crate::node::Node;
use crate::policy::Partner;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub partner: Partner,
    pub purpose: Option<String>,
    /// (key id, nonce hex, issued-at ms), persisted with the request's audit entry.
    pub nonce: (String, String, i64),
    /// Expired nonces to drop from the store.
    pub forget: Vec<(String, String, i64)>,
}

/// Why an envelope was refused (all map to UNAUTHENTICATED).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("envelope is for method {got:?}, not {expected}")]
    WrongMethod { got: String, expected: &'static str },
    #[error("envelope audience {got:?} is not this node ({expected})")]
    WrongAudience { got: String, expected: String },
    #[error("request timestamp is {skew_ms} ms away from this node's clock (limit {limit_ms} ms)")]
    Stale { skew_ms: i64, limit_ms: i64 },
    #[error("unknown caller {0}")]
    UnknownCaller(String),
    #[error("unknown key {key_id} for caller {caller}")]
    UnknownKey { caller: String, key_id: String },
    #[error("key {key_id} of caller {caller} was retired at {retired_at}")]
    RetiredKey {
        caller: String,
        key_id: String,
        retired_at: String,
    },
    #[error("card update: {0}")]
    Card(String),
    #[error("bad signature")]
    BadSignature,
    #[error("body does not match the signed body hash")]
    BodyHash,
    #[error("nonce already used (replay)")]
    Replay,
    #[error("caller {caller} is revoked by directory {association}")]
    Revoked { caller: String, association: String },
}

/// Verifies `envelope` for `method`; returns the caller and the body bytes to decode.
pub async fn authenticate(
    node: &Node,
    envelope: &pb::Envelope,
    method: &'static str,
) -> Result<(Caller, Vec<u8>), Status> {
    authenticate_with(node, envelope, method, None).await
}

/// Verifies an UpdateCard envelope, which may be signed by the new key its card introduces:
/// the card is read from the body first (it proves itself: self-signed, and its key history
/// must chain from the key pinned for the caller), then the envelope is checked as any
/// other, accepting the card's key. Returns the caller and the card.
pub async fn authenticate_card_update(
    node: &Node,
    envelope: &pb::Envelope,
    method: &'static str,
) -> Result<(Caller, NodeCard), Status> {
    let card = pb::CardUpdate::decode(envelope.body.as_slice())
        .map_err(|e| AuthError::Card(format!("malformed body: {e}")))
        .and_then(|b| NodeCard::parse(&b.card_json).map_err(|e| AuthError::Card(e.to_string())));
    let card = match card {
        Ok(card) => card,
        Err(err) => {
            let claimed = pb::RequestHeader::decode(envelope.header.as_slice())
                .map(|h| h.caller)
                .unwrap_or_default();
            audit_refusal(node, &claimed, method, &err).await;
            return Err(err.into());
        }
    };
    let (caller, _) = authenticate_with(node, envelope, method, Some(&card)).await?;
    Ok((caller, card))
}

/// Whether a peer refused our envelope because it was signed by a key we since retired.
pub fn is_retired_key(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated && status.message().contains(" was retired at ")
}

/// Whether a peer refused our envelope because it does not know our signing key.
pub fn is_unknown_key(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated && status.message().starts_with("unknown key ")
}

async fn audit_refusal(node: &Node, claimed: &str, method: &str, err: &AuthError) {
    let record = Record {
        audit: Some(AuditDraft {
            caller: format!("unverified:{claimed}"),
            method: method.to_string(),
            targets: Vec::new(),
            decision: "deny".into(),
            rule: None,
            reason: Some(err.to_string()),
        }),
        ..Record::default()
    };
    if let Err(e) = node.journal().write(record).await {
        tracing::error!(error = %e, "audit journal write failed");
    }
    tracing::info!(method, reason = %err, "peer request refused");
}

async fn authenticate_with(
    node: &Node,
    envelope: &pb::Envelope,
    method: &'static str,
    introduced: Option<&NodeCard>,
) -> Result<(Caller, Vec<u8>), Status> {
    // A caller who is not a partner may be a member of a trusted directory: make sure its
    // membership is known (fresh within the TTL, misses cached too) before the checks. Only
    // for a header that passes every check that needs no key (so a malformed, stale,
    // misaddressed or replayed-shape envelope never makes the node call out), and within the
    // node's cap on such lookups.
    if let Ok(header) = pb::RequestHeader::decode(envelope.header.as_slice())
        && crate::ids::is_urn(&header.caller)
        && precheck(node, &header, method).is_ok()
        && matches!(node.partner_shared(&header.caller), Ok(None))
        && let Err(e) = node
            .directories()
            .resolve_caller(node, &header.caller)
            .await
    {
        tracing::debug!(caller = %header.caller, error = %e, "directory lookup failed");
    }
    match check(node, envelope, method, introduced) {
        Ok(ok) => Ok(ok),
        Err((claimed, err)) => {
            // Refusals are audited too, under the caller as claimed.
            audit_refusal(node, &claimed, method, &err).await;
            Err(err.into())
        }
    }
}

/// The checks of a header that need no key: method, audience, clock skew, nonce length.
/// Returns the time (unix ms) the skew was judged at.
fn precheck(
    node: &Node,
    header: &pb::RequestHeader,
    method: &'static str,
) -> Result<i64, AuthError> {
    if header.method != method {
        return Err(AuthError::WrongMethod {
            got: header.method.clone(),
            expected: method,
        });
    }
    if !header.audience.eq_ignore_ascii_case(node.company_id()) {
        return Err(AuthError::WrongAudience {
            got: header.audience.clone(),
            expected: node.company_id().to_string(),
        });
    }
    let now_ms = Utc::now().timestamp_millis();
    let limit_ms = node.config().clock_skew.as_millis() as i64;
    let skew_ms = (now_ms - header.issued_at_ms).abs();
    if skew_ms > limit_ms {
        return Err(AuthError::Stale { skew_ms, limit_ms });
    }
    if header.nonce.len() != 16 {
        return Err(AuthError::Malformed(format!(
            "nonce must be 16 bytes, got {}",
            header.nonce.len()
        )));
    }
    Ok(now_ms)
}

pub(crate) fn check(
    node: &Node,
    envelope: &pb::Envelope,
    method: &'static str,
    introduced: Option<&NodeCard>,
) -> Result<(Caller, Vec<u8>), (String, AuthError)> {
    let header = pb::RequestHeader::decode(envelope.header.as_slice())
        .map_err(|e| (String::new(), AuthError::Malformed(format!("header: {e}"))))?;
    let claimed = header.caller.clone();
    let fail = |e: AuthError| (claimed.clone(), e);
    let now_ms = precheck(node, &header, method).map_err(fail)?;
    if let Some(association) = node.directories().revoked_in(node, &header.caller) {
        return Err(fail(AuthError::Revoked {
            caller: header.caller.clone(),
            association,
        }));
    }
    // A partner (its card, its groups), or a member of a trusted directory (the card built
    // from its verified credential, no groups). The partner record is the store's shared
    // copy.
    let record = node
        .partner_shared(&header.caller)
        .map_err(|e| fail(AuthError::Malformed(e.to_string())))?;
    let member;
    let (card, groups): (&NodeCard, &[String]) = match &record {
        Some(p) => (&p.card, &p.groups),
        None => {
            member = node
                .directories()
                .member_card(node, &header.caller)
                .ok_or_else(|| fail(AuthError::UnknownCaller(header.caller.clone())))?;
            (&member, &[])
        }
    };
    // The pinned key; or the key of a card the caller introduces (UpdateCard), when that
    // card's history chains from the pinned key. A retired key is refused, with no grace.
    let signer = match introduced {
        _ if card.key_id == header.key_id => card,
        Some(introduced) if introduced.key_id == header.key_id => {
            introduced
                .succeeds(card)
                .map_err(|e| fail(AuthError::Card(e.to_string())))?;
            introduced
        }
        _ => {
            return Err(fail(match card.retired_at(&header.key_id) {
                Some(at) => AuthError::RetiredKey {
                    caller: header.caller.clone(),
                    key_id: header.key_id.clone(),
                    retired_at: at.to_string(),
                },
                None => AuthError::UnknownKey {
                    caller: header.caller.clone(),
                    key_id: header.key_id.clone(),
                },
            }));
        }
    };
    // Parsed once per (company, key id), not per request.
    let public = node
        .verifying_key(signer)
        .map_err(|e| fail(AuthError::Malformed(e.to_string())))?;
    crypto::verify(
        &public,
        crypto::DOMAIN_REQUEST,
        &envelope.header,
        &envelope.signature,
    )
    .map_err(|_| fail(AuthError::BadSignature))?;
    if crypto::sha256(&envelope.body).as_slice() != header.body_sha256.as_slice() {
        return Err(fail(AuthError::BodyHash));
    }
    let nonce: crate::nonces::Nonce = header
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| fail(AuthError::Malformed("nonce must be 16 bytes".into())))?;
    let forget = node
        .nonces()
        .check_and_insert(&header.key_id, &nonce, header.issued_at_ms, now_ms)
        .map_err(|_| fail(AuthError::Replay))?;
    let nonce_hex = hex::encode(nonce);
    let purpose = (!header.purpose.is_empty()).then(|| header.purpose.clone());
    let (memberships, buys_classifications) =
        node.directory_facts(&card.company_id, Some(&card.key_id));
    Ok((
        Caller {
            partner: crate::policy::Partner {
                company_id: card.company_id.clone(),
                groups: groups.to_vec(),
                memberships,
                buys_classifications,
            },
            purpose,
            nonce: (header.key_id, nonce_hex, header.issued_at_ms),
            forget,
        },
        envelope.body.clone(),
    ))
}

/// What a caller puts in a request header (everything but the body hash).
#[derive(Debug, Clone)]
pub struct Seal<'a> {
    pub key: &'a crypto::NodeKey,
    pub caller: &'a str,
    pub audience: &'a str,
    pub method: &'a str,
    pub purpose: Option<&'a str>,
    pub nonce: [u8; 16],
    pub issued_at_ms: i64,
}

impl Seal<'_> {
    /// Builds the signed envelope carrying `body` (used by the peer client and tests).
    pub fn envelope(&self, body: Vec<u8>) -> pb::Envelope {
        let header = pb::RequestHeader {
            caller: self.caller.to_string(),
            key_id: self.key.key_id().to_string(),
            audience: self.audience.to_string(),
            method: self.method.to_string(),
            nonce: self.nonce.to_vec(),
            issued_at_ms: self.issued_at_ms,
            body_sha256: crypto::sha256(&body).to_vec(),
            purpose: self.purpose.unwrap_or_default().to_string(),
        }
        .encode_to_vec();
        let signature = self.key.sign(crypto::DOMAIN_REQUEST, &header).to_vec();
        pb::Envelope {
            header,
            body,
            signature,
        }
    }
}
