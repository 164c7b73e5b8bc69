//! PACT events this node sends as a client: the one RequestFulfilled/RequestRejected answer
//! to a RequestCreated event that came in over PACT (delivered by the outbox worker to the
//! requester's host registered with `tanso pact host add`), and `tanso pact request`'s
//! RequestCreated event, whose answer comes back on this node's own `/3/events`.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::pull::{self, PullError};
use super::{EV_REQUEST_CREATED, EV_REQUEST_FULFILLED, EV_REQUEST_REJECTED, EVENTS_CONTENT_TYPE};
use crate::error::NodeError;
use crate::exchange::POLICY_REJECTION;
use crate::node::{Node, now_rfc3339};
use crate::policy::View;
use crate::signed::VIEW_SUMMARY;
use crate::store::{
    Answer, IncomingRequest, OUT_PENDING, OUT_QUEUED, OUT_UNDELIVERABLE, OutgoingRequest,
};

/// Longest part of a host's error body kept in an error message.
const BODY_EXCERPT: usize = 300;

/// The `source` attribute of events this node sends: its PACT base URL when it serves PACT on
/// a specific address, else its company id (a URN is a valid URI reference).
fn source(node: &Node) -> String {
    match super::bound_addr(node.home()) {
        Some(addr) if !addr.ip().is_unspecified() => format!("https://{addr}"),
        _ => node.company_id().to_string(),
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn peer_err(peer: &str, e: PullError) -> NodeError {
    match e {
        PullError::Node(n) => n,
        other => NodeError::Peer {
            peer: peer.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Posts `event` to `host`'s `/3/events` with `bearer`; only a 200 counts as delivered.
async fn post_event(host: &pull::Host, bearer: &str, event: &Value) -> Result<(), PullError> {
    let body = serde_json::to_vec(event).map_err(|e| PullError::Protocol(e.to_string()))?;
    let r = host
        .send(
            "POST",
            "/3/events",
            &[
                ("authorization", bearer),
                ("content-type", EVENTS_CONTENT_TYPE),
            ],
            &body,
        )
        .await?;
    if r.status == 200 {
        return Ok(());
    }
    let mut text = r.text();
    if text.len() > BODY_EXCERPT {
        let mut cut = BODY_EXCERPT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Err(PullError::Status {
        what: "post event",
        status: r.status,
        body: text,
    })
}

/// The answer event of `request` (which came in as PACT event `request_event_id`). Its id is
/// derived from the request, so every retry carries the same event id.
fn answer_event(
    node: &Node,
    request: &IncomingRequest,
    request_event_id: &str,
) -> Result<Value, NodeError> {
    let rejected = |code: &str, message: &str| {
        (
            EV_REQUEST_REJECTED,
            json!({
                "requestEventId": request_event_id,
                "error": {"code": code, "message": message},
            }),
        )
    };
    let (kind, data) = match &request.answer {
        None => {
            return Err(NodeError::Internal(format!(
                "request {} has no answer to send",
                request.id
            )));
        }
        Some(Answer::Rejected { reason }) => {
            let code = if reason == POLICY_REJECTION {
                "AccessDenied"
            } else {
                "NotFound"
            };
            rejected(code, reason)
        }
        Some(Answer::Fulfilled { footprints }) => {
            let mut pfs = Vec::with_capacity(footprints.len());
            for f in footprints {
                if let Some(own) = node.store().own_footprint(&f.id)? {
                    let view = if f.view == VIEW_SUMMARY {
                        View::Summary
                    } else {
                        View::Full
                    };
                    pfs.push(
                        super::served(&own, view)
                            .map_err(|e| NodeError::Internal(e.to_string()))?,
                    );
                }
            }
            if pfs.is_empty() {
                // A fulfilled event needs at least one footprint (the spec's rule).
                rejected(
                    "NotFound",
                    "the footprints of this answer are no longer available",
                )
            } else {
                (
                    EV_REQUEST_FULFILLED,
                    json!({"requestEventId": request_event_id, "pfs": pfs}),
                )
            }
        }
    };
    Ok(json!({
        "type": kind,
        "specversion": "1.0",
        "id": super::derived_uuid("answer", &request.id),
        "source": source(node),
        "time": now(),
        "data": data,
    }))
}

/// Delivers the answer of a request that came in over PACT: a token from the requester's
/// registered host, then one event to its `/3/events`. An error leaves the outbox item for a
/// retry (no host registered yet, host down, token refused, event refused).
pub(crate) async fn deliver_answer(
    node: &Node,
    request: &IncomingRequest,
    request_event_id: &str,
) -> Result<(), NodeError> {
    let home = node.home().clone();
    let company = request.from.clone();
    let record = tokio::task::spawn_blocking(move || super::hosts::host_for(&home, &company))
        .await
        .map_err(|e| NodeError::Internal(format!("task: {e}")))?
        .map_err(|e| NodeError::Internal(e.to_string()))?
        .ok_or_else(|| NodeError::Peer {
            peer: request.from.clone(),
            reason: "no PACT host registered for this requester (tanso pact host add)".into(),
        })?;
    let event = answer_event(node, request, request_event_id)?;
    let host = pull::connect(&record.url, &record.fingerprint)
        .await
        .map_err(|e| peer_err(&request.from, e))?;
    let token = pull::token(&host, &record.client_id, &record.client_secret)
        .await
        .map_err(|e| peer_err(&request.from, e))?;
    post_event(&host, &format!("Bearer {token}"), &event)
        .await
        .map_err(|e| peer_err(&request.from, e))
}

/// What `tanso pact request` sends and where.
#[derive(Debug, Clone)]
pub struct RequestArgs {
    /// `https://host:port`.
    pub base: String,
    /// SHA-256 fingerprint of the host's certificate.
    pub fingerprint: String,
    pub client_id: String,
    pub client_secret: String,
    /// The supplier's company id, when known: only its PACT client may answer.
    pub company_id: Option<String>,
    pub product_ids: Vec<String>,
    pub classifications: Vec<String>,
    pub comment: String,
}

/// Sends a RequestCreated event to a PACT host and stores the outgoing request (its id is the
/// event id); the answer arrives on this node's `/3/events`. Nothing is stored when the
/// arguments are bad or no token is granted; a refused or failed post leaves the request
/// `undeliverable` with the reason, and the error is returned.
pub async fn send_request(node: &Node, args: RequestArgs) -> Result<OutgoingRequest, NodeError> {
    if args.product_ids.is_empty() && args.classifications.is_empty() {
        return Err(NodeError::BadRequest(
            "a request names at least one product id or classification".into(),
        ));
    }
    for id in args.product_ids.iter().chain(&args.classifications) {
        if !crate::ids::is_urn(id) {
            return Err(NodeError::BadRequest(format!("{id:?} is not a urn")));
        }
    }
    if let Some(c) = &args.company_id
        && !crate::ids::is_urn(c)
    {
        return Err(NodeError::BadRequest(format!(
            "company id {c:?} is not a urn"
        )));
    }
    let base = super::hosts::canonical_url(&args.base)
        .map_err(|e| NodeError::BadRequest(e.to_string()))?;
    let host = pull::connect(&base, &args.fingerprint)
        .await
        .map_err(|e| peer_err(&base, e))?;
    let token = pull::token(&host, &args.client_id, &args.client_secret)
        .await
        .map_err(|e| peer_err(&base, e))?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut data = serde_json::Map::new();
    if !args.product_ids.is_empty() {
        data.insert("productId".into(), json!(args.product_ids));
    }
    if !args.classifications.is_empty() {
        data.insert("classification".into(), json!(args.classifications));
    }
    if !args.comment.is_empty() {
        data.insert("comment".into(), json!(args.comment));
    }
    let event = json!({
        "type": EV_REQUEST_CREATED,
        "specversion": "1.0",
        "id": id,
        "source": source(node),
        "time": now(),
        "data": data,
    });
    let stamp = now_rfc3339();
    let request = OutgoingRequest {
        id: id.clone(),
        to: args
            .company_id
            .clone()
            .unwrap_or_else(|| format!("pact:{base}")),
        product_ids: args.product_ids,
        classifications: args.classifications,
        comment: args.comment,
        purpose: None,
        status: OUT_QUEUED.into(),
        footprint_ids: Vec::new(),
        reason: None,
        created_at: stamp.clone(),
        updated_at: stamp,
        pact_url: Some(base.clone()),
    };
    // Stored before the post, so an answer arriving at once finds its request.
    let store = node.store().clone();
    let r = request.clone();
    tokio::task::spawn_blocking(move || store.put_outgoing(&r))
        .await
        .map_err(|e| NodeError::Internal(format!("task: {e}")))??;
    let sent = post_event(&host, &format!("Bearer {token}"), &event).await;
    let (status, reason) = match &sent {
        Ok(()) => (OUT_PENDING, None),
        Err(e) => (OUT_UNDELIVERABLE, Some(e.to_string())),
    };
    let store = node.store().clone();
    let stored = tokio::task::spawn_blocking(move || {
        store.outgoing_sent(&id, status, reason.as_deref(), &now_rfc3339())
    })
    .await
    .map_err(|e| NodeError::Internal(format!("task: {e}")))??;
    sent.map_err(|e| peer_err(&base, e))?;
    Ok(stored)
}
