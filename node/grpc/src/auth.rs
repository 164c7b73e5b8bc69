//! Request authentication: the signed envelope is checked before any handler runs.
//!
//! Order matters: the header is decoded and checked for method, audience and time, the
//! caller's key is looked up and the signature verified with `verify_strict`, the body is
//! checked against its hash, and only then is the nonce recorded, so unauthenticated
//! traffic cannot fill the replay cache.

use prost::Message;
use proto::pb;
use tonic::Status;

use tanso_core::audit::{AuditDecision, AuditDraft};
use tanso_core::card::NodeCard;
use tanso_core::crypto;
use tanso_core::journal::Record;
use tanso_core::node::Node;
use tanso_core::policy::Partner;
use tanso_core::refusals::{Claimed, Source, Summary, Verdict};

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

/// Why an envelope was refused (all map to UNAUTHENTICATED). Every field that comes from
/// the envelope is a [`Claimed`]: unproven, so cut short before it is audited, logged or
/// echoed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("envelope is for method \"{got}\", not {expected}")]
    WrongMethod {
        got: Claimed,
        expected: &'static str,
    },
    #[error("envelope audience \"{got}\" is not this node ({expected})")]
    WrongAudience { got: Claimed, expected: String },
    #[error("request timestamp is {skew_ms} ms away from this node's clock (limit {limit_ms} ms)")]
    Stale { skew_ms: u64, limit_ms: u64 },
    #[error("unknown caller {0}")]
    UnknownCaller(Claimed),
    #[error("unknown key {key_id} for caller {caller}")]
    UnknownKey { caller: Claimed, key_id: Claimed },
    #[error("key {key_id} of caller {caller} was retired at {retired_at}")]
    RetiredKey {
        caller: Claimed,
        key_id: Claimed,
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
    Revoked {
        caller: Claimed,
        association: String,
    },
}

impl AuthError {
    /// A fixed name for the kind of refusal (refusals are summarised per source and kind).
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "malformed",
            AuthError::WrongMethod { .. } => "wrong-method",
            AuthError::WrongAudience { .. } => "wrong-audience",
            AuthError::Stale { .. } => "stale",
            AuthError::UnknownCaller(_) => "unknown-caller",
            AuthError::UnknownKey { .. } => "unknown-key",
            AuthError::RetiredKey { .. } => "retired-key",
            AuthError::Card(_) => "card-update",
            AuthError::BadSignature => "bad-signature",
            AuthError::BodyHash => "body-hash",
            AuthError::Replay => "replay",
            AuthError::Revoked { .. } => "revoked",
        }
    }
}

pub use tanso_core::methods::MAX_HEADER_FIELD_BYTES;

/// How far apart two clocks are, in ms, with no overflow for any pair of `i64`s.
pub fn skew_ms(now_ms: i64, issued_at_ms: i64) -> u64 {
    let skew = (i128::from(now_ms) - i128::from(issued_at_ms)).unsigned_abs();
    u64::try_from(skew).unwrap_or(u64::MAX)
}

/// The clock check: `issued_at_ms` within `limit_ms` of `now_ms` (both ends inclusive).
pub fn check_clock(now_ms: i64, issued_at_ms: i64, limit_ms: u64) -> Result<(), AuthError> {
    let skew_ms = skew_ms(now_ms, issued_at_ms);
    if skew_ms > limit_ms {
        return Err(AuthError::Stale { skew_ms, limit_ms });
    }
    Ok(())
}

/// Verifies the envelope of `request` for `method`; returns the caller and the body bytes
/// to decode. A refusal is audited (summarised per source, see [`super::refusals`]).
pub async fn authenticate(
    node: &Node,
    request: &tonic::Request<pb::Envelope>,
    method: &'static str,
) -> Result<(Caller, Vec<u8>), Status> {
    authenticate_with(node, request.get_ref(), source_of(request), method, None).await
}

/// Verifies an UpdateCard envelope, which may be signed by the new key its card introduces:
/// the card is read from the body first (it proves itself: self-signed, and its key history
/// must chain from the key pinned for the caller), then the envelope is checked as any
/// other, accepting the card's key. Returns the caller and the card.
pub async fn authenticate_card_update(
    node: &Node,
    request: &tonic::Request<pb::Envelope>,
    method: &'static str,
) -> Result<(Caller, NodeCard), Status> {
    let envelope = request.get_ref();
    let source = source_of(request);
    let card = pb::CardUpdate::decode(envelope.body.as_slice())
        .map_err(|e| AuthError::Card(format!("malformed body: {e}")))
        .and_then(|b| NodeCard::parse(&b.card_json).map_err(|e| AuthError::Card(e.to_string())));
    let card = match card {
        Ok(card) => card,
        Err(err) => {
            let claimed = pb::RequestHeader::decode(envelope.header.as_slice())
                .map(|h| h.caller)
                .unwrap_or_default();
            audit_refusal(node, source, &Claimed::new(&claimed), method, &err).await;
            return Err(err.into());
        }
    };
    let (caller, _) = authenticate_with(node, envelope, source, method, Some(&card)).await?;
    Ok((caller, card))
}

/// Whether a peer refused our envelope because it was signed by a key we since retired.
pub fn is_retired_key(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated && status.message().contains(" was retired at ")
}

/// Whether a peer refused our envelope because it does not know our signing key.
/// Whether `status` says the envelope reached a node other than its audience: the connection
/// leads to the wrong node (a host no longer serving the tenant, say, after it moved).
pub fn is_wrong_audience(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated
        && status.message().starts_with("envelope audience")
}

pub fn is_unknown_key(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated && status.message().starts_with("unknown key ")
}

/// Where a request came from, as far as refusals are concerned.
fn source_of(request: &tonic::Request<pb::Envelope>) -> Source {
    Source::of(
        request
            .extensions()
            .get::<tanso_core::tls::PeerInfo>()
            .and_then(|info| info.remote_addr),
    )
}

/// Audits a refusal: the first of its source and kind in an interval in full (claimed
/// caller cut short), the rest as one summary entry with a count when the interval ends.
async fn audit_refusal(
    node: &Node,
    source: Source,
    claimed: &Claimed,
    method: &'static str,
    err: &AuthError,
) {
    let (verdict, summary) =
        node.refusals()
            .refuse(source, err.kind(), method, node.clock().instant());
    if let Some(summary) = summary {
        write_summary(node, &summary).await;
    }
    if verdict == Verdict::Counted {
        return;
    }
    let record = Record {
        audit: Some(AuditDraft {
            caller: format!("unverified:{claimed}"),
            method: method.to_string(),
            targets: Vec::new(),
            decision: AuditDecision::Deny,
            rule: None,
            reason: Some(format!("{err} (from {source})")),
        }),
        ..Record::default()
    };
    if let Err(e) = node.audit().write(record).await {
        tracing::error!(error = %e, "audit journal write failed");
    }
    tracing::info!(method, %source, reason = %err, "peer request refused");
}

/// Writes the summary entries of every refusal interval that has ended (all open ones when
/// `all`, at shutdown). Called by the node's flush task.
pub async fn flush_refusals(node: &Node, all: bool) {
    for summary in node.refusals().due(node.clock().instant(), all) {
        write_summary(node, &summary).await;
    }
}

async fn write_summary(node: &Node, summary: &Summary) {
    let reason = format!(
        "{} more envelopes refused ({}) from {} in {} s",
        summary.count,
        summary.reason,
        summary.source,
        summary.over.as_secs()
    );
    let record = Record {
        audit: Some(AuditDraft {
            caller: "unverified".into(),
            method: summary.method.to_string(),
            targets: Vec::new(),
            decision: AuditDecision::Deny,
            rule: None,
            reason: Some(reason.clone()),
        }),
        ..Record::default()
    };
    if let Err(e) = node.audit().write(record).await {
        tracing::error!(error = %e, "audit journal write failed");
    }
    tracing::info!(summary = %reason, "peer requests refused");
}

async fn authenticate_with(
    node: &Node,
    envelope: &pb::Envelope,
    source: Source,
    method: &'static str,
    introduced: Option<&NodeCard>,
) -> Result<(Caller, Vec<u8>), Status> {
    // A host's request quota on this node, before any work is spent on the envelope.
    node.admit_request()
        .map_err(|e| tanso_core::status::from_node(e.into()))?;
    // A caller who is not a partner may be a member of a trusted directory: make sure its
    // membership is known (fresh within the TTL, misses cached too) before the checks. Only
    // for a header that passes every check that needs no key (so a malformed, stale,
    // misaddressed or replayed-shape envelope never makes the node call out), and within the
    // node's cap on such lookups.
    let header = match pb::RequestHeader::decode(envelope.header.as_slice()) {
        Ok(header) => header,
        Err(e) => {
            let err = AuthError::Malformed(format!("header: {e}"));
            audit_refusal(node, source, &Claimed::new(""), method, &err).await;
            return Err(err.into());
        }
    };
    if precheck(node, &header, method).is_ok()
        && tanso_core::ids::is_urn(&header.caller)
        && matches!(node.partner_shared(&header.caller), Ok(None))
        && let Err(e) = node
            .directories()
            .resolve_caller(node, &header.caller)
            .await
    {
        tracing::debug!(caller = %Claimed::new(&header.caller), error = %e, "directory lookup failed");
    }
    match check_header(node, header, envelope, method, introduced) {
        Ok(ok) => Ok(ok),
        Err((claimed, err)) => {
            // Refusals are audited too, under the caller as claimed (cut short).
            audit_refusal(node, source, &claimed, method, &err).await;
            Err(err.into())
        }
    }
}

/// The checks of a header that need no key: field lengths, method, audience, clock skew,
/// nonce length. Returns the time (unix ms) the skew was judged at.
fn precheck(
    node: &Node,
    header: &pb::RequestHeader,
    method: &'static str,
) -> Result<i64, AuthError> {
    for (name, value) in [
        ("caller", &header.caller),
        ("key_id", &header.key_id),
        ("audience", &header.audience),
        ("method", &header.method),
        ("purpose", &header.purpose),
    ] {
        if value.len() > MAX_HEADER_FIELD_BYTES {
            return Err(AuthError::Malformed(format!(
                "header field {name} is {} bytes, over the limit of {MAX_HEADER_FIELD_BYTES}",
                value.len()
            )));
        }
    }
    if header.method != method {
        return Err(AuthError::WrongMethod {
            got: Claimed::new(&header.method),
            expected: method,
        });
    }
    if !header.audience.eq_ignore_ascii_case(node.company_id()) {
        return Err(AuthError::WrongAudience {
            got: Claimed::new(&header.audience),
            expected: node.company_id().to_string(),
        });
    }
    let now_ms = node.clock().now_ms();
    let limit_ms = u64::try_from(node.config().clock_skew.as_millis()).unwrap_or(u64::MAX);
    check_clock(now_ms, header.issued_at_ms, limit_ms)?;
    if header.nonce.len() != 16 {
        return Err(AuthError::Malformed(format!(
            "nonce must be 16 bytes, got {}",
            header.nonce.len()
        )));
    }
    Ok(now_ms)
}

pub fn check(
    node: &Node,
    envelope: &pb::Envelope,
    method: &'static str,
    introduced: Option<&NodeCard>,
) -> Result<(Caller, Vec<u8>), (Claimed, AuthError)> {
    let header = pb::RequestHeader::decode(envelope.header.as_slice()).map_err(|e| {
        (
            Claimed::new(""),
            AuthError::Malformed(format!("header: {e}")),
        )
    })?;
    check_header(node, header, envelope, method, introduced)
}

/// [`check`] of a header already decoded from `envelope.header`.
fn check_header(
    node: &Node,
    header: pb::RequestHeader,
    envelope: &pb::Envelope,
    method: &'static str,
    introduced: Option<&NodeCard>,
) -> Result<(Caller, Vec<u8>), (Claimed, AuthError)> {
    let claimed = Claimed::new(&header.caller);
    let fail = |e: AuthError| (claimed.clone(), e);
    let now_ms = precheck(node, &header, method).map_err(fail)?;
    if let Some(association) = node.directories().revoked_in(node, &header.caller) {
        return Err(fail(AuthError::Revoked {
            caller: Claimed::new(&header.caller),
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
                .ok_or_else(|| fail(AuthError::UnknownCaller(Claimed::new(&header.caller))))?;
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
                    caller: Claimed::new(&header.caller),
                    key_id: Claimed::new(&header.key_id),
                    retired_at: at.to_string(),
                },
                None => AuthError::UnknownKey {
                    caller: Claimed::new(&header.caller),
                    key_id: Claimed::new(&header.key_id),
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
    let nonce: tanso_core::nonces::Nonce = header
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| fail(AuthError::Malformed("nonce must be 16 bytes".into())))?;
    let forget = node
        .check_nonce(&header.key_id, &nonce, header.issued_at_ms, now_ms)
        .map_err(|_| fail(AuthError::Replay))?;
    let nonce_hex = hex::encode(nonce);
    let purpose = (!header.purpose.is_empty()).then(|| header.purpose.clone());
    let (memberships, buys_classifications) =
        node.directory_facts(&card.company_id, Some(&card.key_id));
    Ok((
        Caller {
            partner: tanso_core::policy::Partner {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_check_holds_at_every_extreme() {
        let limit = 60_000u64;
        let now = 1_765_000_000_000i64;
        let skew = limit as i64;
        for (issued, ok) in [
            (now, true),
            (now - skew, true),
            (now + skew, true),
            (now - skew + 1, true),
            (now + skew - 1, true),
            (now - skew - 1, false),
            (now + skew + 1, false),
            (i64::MIN, false),
            (i64::MIN + 1, false),
            (i64::MAX, false),
            (0, false),
            // now − 2^63: the subtraction that used to wrap to a negative skew.
            (now.wrapping_add(i64::MIN), false),
        ] {
            assert_eq!(
                check_clock(now, issued, limit).is_ok(),
                ok,
                "issued {issued} at {now}"
            );
        }
        // Any pair of i64s, in either order.
        for (a, b) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (0, i64::MIN)] {
            assert!(check_clock(a, b, limit).is_err());
            assert!(skew_ms(a, b) >= (i64::MAX as u64));
        }
        assert_eq!(skew_ms(i64::MIN, i64::MAX), u64::MAX);
        assert_eq!(check_clock(i64::MIN, i64::MIN, 0).ok(), Some(()));
    }
}
