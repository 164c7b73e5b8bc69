//! Entry points for the fuzz targets in `fuzz/` (not a stable API): the parsers and checks
//! that face untrusted bytes, without IO around them.

use prost::Message as _;
use proto::pb;

use crate::node::Node;

/// Parses an ODRL policy document; `Ok` when it is a valid tanso policy.
pub fn policy(text: &str) -> Result<(), String> {
    crate::policy::parse::parse_policy("fuzz.json", text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parses and checks the body of a PACT `POST /3/events` (CloudEvents structured mode).
pub fn cloud_event(body: &[u8]) -> Result<(), String> {
    crate::pact_api::parse_event_body(body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Decodes `bytes` as a signed envelope and authenticates it for `method` on `node`
/// (header, audience, clock, caller key, signature, body hash, nonce), as the gRPC edge does
/// before any handler runs (without the audit entry of a refusal).
pub fn envelope_bytes(node: &Node, bytes: &[u8], method: &'static str) -> Result<(), String> {
    let decoded = pb::Envelope::decode(bytes).map_err(|e| format!("envelope: {e}"))?;
    envelope(node, &decoded, method)
}

/// Authenticates a decoded envelope for `method` on `node`.
pub fn envelope(node: &Node, envelope: &pb::Envelope, method: &'static str) -> Result<(), String> {
    crate::service::auth::check(node, envelope, method, None)
        .map(|_| ())
        .map_err(|(_, e)| e.to_string())
}
