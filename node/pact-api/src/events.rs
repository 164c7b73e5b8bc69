//! PACT events this node sends as a client: the one RequestFulfilled/RequestRejected answer
//! to a RequestCreated event that came in over PACT (delivered by the outbox worker to the
//! requester's host registered with `tanso pact host add`), the PublishedEvent of a publish
//! batch to every registered host whose company may read one of its footprints, the fetch of
//! footprints a host announced with a PublishedEvent, and `tanso pact request`'s
//! RequestCreated event, whose answer comes back on this node's own `/3/events`.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::pull::{self, PullError};
use super::{
    EV_PUBLISHED, EV_REQUEST_CREATED, EV_REQUEST_FULFILLED, EV_REQUEST_REJECTED,
    EVENTS_CONTENT_TYPE,
};
use tanso_core::error::NodeError;
use tanso_core::exchange::POLICY_REJECTION;
use tanso_core::exchange::new_item;
use tanso_core::node::{Node, now_rfc3339};
use tanso_core::policy::{Partner, View};
use tanso_core::signed::VIEW_SUMMARY;
use tanso_core::store::{
    Answer, Delivery, InboxEntry, IncomingRequest, OutboxItem, OutgoingRequest, OwnFootprint,
    RequestState,
};

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
    Err(PullError::Status {
        what: "post event",
        status: r.status,
        body: r.excerpt(),
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
                if let Some(own) = node.own_footprint(&f.id)? {
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
pub async fn deliver_answer(
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
    let trust = record
        .trust()
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    let host = pull::host_at(&record.url, &trust, node.config().pact_client)
        .map_err(|e| peer_err(&request.from, e))?;
    let token = pull::token(&host, &record.client_id, &record.client_secret)
        .await
        .map_err(|e| peer_err(&request.from, e))?;
    post_event(&host, &format!("Bearer {token}"), &event)
        .await
        .map_err(|e| peer_err(&request.from, e))
}

/// The partner a registered PACT host's company is to policy: the groups of its partner
/// record and of the PACT clients issued to it, as when it calls with a token.
fn host_partner(node: &Node, company_id: &str) -> Result<Partner, NodeError> {
    let mut groups = super::clients::groups_of(node.home(), company_id)
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    if let Some(record) = node.partner(company_id)? {
        for g in record.groups {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Ok(Partner {
        company_id: company_id.to_string(),
        groups,
        memberships: Vec::new(),
        buys_classifications: Vec::new(),
    })
}

/// The registered PACT hosts a publish announces its footprints to, with what policy needs
/// to decide for each (read once per publish).
///
/// [`PublishedHosts::items`] makes the PublishedEvent items for a part of a publish: one per
/// host whose company policy lets read at least one of those footprints (the decision of
/// `GET /3/footprints/{id}`), listing only those ids. A host that may read none of them gets
/// nothing, so it learns nothing. A bulk publish calls it once per chunk, so an event names
/// at most a chunk's ids.
pub struct PublishedHosts {
    hosts: Vec<(tanso_core::disclosure::Caller, u32)>,
}

impl PublishedHosts {
    /// The hosts to tell. An unreadable hosts file does not stop the publish (the footprints
    /// are the owner's; the announcement is a courtesy PACT hosts can also learn by pulling):
    /// `note` gets a line saying no PACT host was told, and the error is logged.
    pub fn load(node: &Node, note: &mut dyn FnMut(String)) -> Result<Self, NodeError> {
        let hosts = match super::hosts::list_hosts(node.home()) {
            Ok(hosts) => hosts,
            Err(e) => {
                tracing::error!(error = %e, "pact hosts file unreadable; no PublishedEvent queued");
                note(format!(
                    "no PACT host was sent a PublishedEvent for this publish: {e}"
                ));
                return Ok(PublishedHosts { hosts: Vec::new() });
            }
        };
        let mut out = Vec::new();
        for host in hosts {
            if host.company_id.eq_ignore_ascii_case(node.company_id()) {
                continue;
            }
            // Decided as a read by the host's company without a purpose: nobody asked.
            let caller = super::party(host_partner(node, &host.company_id)?);
            let requests_today = node.daily_count(&caller.partner.company_id, &caller.day())?;
            out.push((caller, requests_today));
        }
        Ok(PublishedHosts { hosts: out })
    }
}

impl tanso_core::transport::Announcer for PublishedHosts {
    /// PublishedEvent items for `new` (see the type).
    fn items(&self, node: &Node, new: &[OwnFootprint]) -> Vec<OutboxItem> {
        let mut items = Vec::new();
        if new.is_empty() {
            return items;
        }
        for (caller, requests_today) in &self.hosts {
            let partner = &caller.partner;
            let ids: Vec<String> = new
                .iter()
                .filter(|own| {
                    tanso_core::disclosure::decide(node, caller, own, *requests_today).is_permit()
                })
                .map(|own| own.footprint.id.clone())
                .collect();
            if !ids.is_empty() {
                items.push(new_item(
                    node.clock(),
                    &partner.company_id,
                    Delivery::PactPublished {
                        event_id: uuid::Uuid::new_v4().to_string(),
                        footprint_ids: ids,
                    },
                ));
            }
        }
        items
    }
}

/// The registered PACT host of `company`, connected, and a bearer token from it.
async fn host_session(node: &Node, company: &str) -> Result<(pull::Host, String), NodeError> {
    let home = node.home().clone();
    let c = company.to_string();
    let record = tokio::task::spawn_blocking(move || super::hosts::host_for(&home, &c))
        .await
        .map_err(|e| NodeError::Internal(format!("task: {e}")))?
        .map_err(|e| NodeError::Internal(e.to_string()))?
        .ok_or_else(|| NodeError::Peer {
            peer: company.to_string(),
            reason: "no PACT host registered for this company (tanso pact host add)".into(),
        })?;
    let trust = record
        .trust()
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    let host = pull::host_at(&record.url, &trust, node.config().pact_client)
        .map_err(|e| peer_err(company, e))?;
    let token = pull::token(&host, &record.client_id, &record.client_secret)
        .await
        .map_err(|e| peer_err(company, e))?;
    Ok((host, format!("Bearer {token}")))
}

/// Delivers a PublishedEvent naming `footprint_ids` to the registered PACT host of `company`.
pub async fn deliver_published(
    node: &Node,
    company: &str,
    event_id: &str,
    footprint_ids: &[String],
) -> Result<(), NodeError> {
    let (host, bearer) = host_session(node, company).await?;
    let event = json!({
        "type": EV_PUBLISHED,
        "specversion": "1.0",
        "id": event_id,
        "source": source(node),
        "time": now(),
        "data": {"pfIds": footprint_ids},
    });
    post_event(&host, &bearer, &event)
        .await
        .map_err(|e| peer_err(company, e))
}

/// Fetches the footprints a PublishedEvent of `company` named from its registered PACT host,
/// one `GET /3/footprints/{id}` each. An id the host no longer serves (404) is skipped; a
/// footprint that fails validation or its owner signature fails the whole job (retried).
/// Received footprints get provenance `pact:<url>`, as with `tanso pact pull`.
pub async fn fetch_published(
    node: &Node,
    company: &str,
    footprint_ids: &[String],
) -> Result<Vec<InboxEntry>, NodeError> {
    let (host, bearer) = host_session(node, company).await?;
    let provenance = format!("pact:{}", host.base);
    let mut entries = Vec::with_capacity(footprint_ids.len());
    for id in footprint_ids {
        let r = host
            .send(
                "GET",
                &format!("/3/footprints/{id}"),
                &[("authorization", &bearer)],
                b"",
            )
            .await
            .map_err(|e| peer_err(company, e))?;
        if r.status == 404 {
            continue;
        }
        if r.status != 200 {
            return Err(peer_err(
                company,
                PullError::Status {
                    what: "get footprint",
                    status: r.status,
                    body: r.excerpt(),
                },
            ));
        }
        let doc = r.json().map(|mut v| v["data"].take()).ok_or_else(|| {
            peer_err(
                company,
                PullError::Protocol("footprint response is not json".into()),
            )
        })?;
        let e = pull::entry(node, doc, &provenance).map_err(|reason| NodeError::Peer {
            peer: company.to_string(),
            reason: format!("footprint {id}: {reason}"),
        })?;
        if !e.id.eq_ignore_ascii_case(id) {
            return Err(NodeError::Peer {
                peer: company.to_string(),
                reason: format!("asked for footprint {id}, got {}", e.id),
            });
        }
        entries.push(e);
    }
    Ok(entries)
}

/// What `tanso pact request` sends and where.
#[derive(Debug, Clone)]
pub struct RequestArgs {
    /// `https://host:port`.
    pub base: String,
    /// How the host's certificate is checked.
    pub trust: super::trust::ServerTrust,
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
        if !tanso_core::ids::is_urn(id) {
            return Err(NodeError::BadRequest(format!("{id:?} is not a urn")));
        }
    }
    if let Some(c) = &args.company_id
        && !tanso_core::ids::is_urn(c)
    {
        return Err(NodeError::BadRequest(format!(
            "company id {c:?} is not a urn"
        )));
    }
    let base = super::hosts::canonical_url(&args.base)
        .map_err(|e| NodeError::BadRequest(e.to_string()))?;
    let host = pull::host_at(&base, &args.trust, node.config().pact_client)
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
        status: RequestState::Queued,
        footprint_ids: Vec::new(),
        reason: None,
        created_at: stamp.clone(),
        updated_at: stamp,
        pact_url: Some(base.clone()),
    };
    // Stored before the post, so an answer arriving at once finds its request.
    let n = node.clone();
    let r = request.clone();
    tokio::task::spawn_blocking(move || n.exchange().put_outgoing(&r))
        .await
        .map_err(|e| NodeError::Internal(format!("task: {e}")))??;
    let sent = post_event(&host, &format!("Bearer {token}"), &event).await;
    let (status, reason) = match &sent {
        Ok(()) => (RequestState::Pending, None),
        Err(e) => (RequestState::Undeliverable, Some(e.to_string())),
    };
    let n = node.clone();
    let stored = tokio::task::spawn_blocking(move || {
        n.exchange().outgoing_sent(&id, status, reason.as_deref())
    })
    .await
    .map_err(|e| NodeError::Internal(format!("task: {e}")))??;
    sent.map_err(|e| peer_err(&base, e))?;
    Ok(stored)
}
