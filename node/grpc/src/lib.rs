//! The gRPC edge: the peer `Connector` service, the peer client, and wire conversions.
//!
//! Only the edges (this crate, the directory and the relay) see `pb::` types. Every peer call
//! is authenticated by [`auth::authenticate`] before its handler runs, and every error
//! becomes a `tonic::Status` in one place ([`status`]).

pub mod auth;
pub mod client;
pub mod pact_pb;
pub mod status;
pub mod wire;

use proto::pb;
use tonic::{Request, Response, Status};

use tanso_core::audit::AuditDecision;
use tanso_core::disclosure::{self, Door, Operation, Oversize};
use tanso_core::journal::Record;
use tanso_core::node::Node;
use tanso_core::policy::{Decision, View};
use tanso_core::store::OwnFootprint;

pub use auth::Caller;

/// Full method names, as signed in request headers.
pub const METHOD_GET_FOOTPRINT: &str = Door::Grpc.method(Operation::GetFootprint);
pub const METHOD_LIST_FOOTPRINTS: &str = Door::Grpc.method(Operation::ListFootprints);
pub const METHOD_CREATE_REQUEST: &str = Door::Grpc.method(Operation::CreateRequest);
pub const METHOD_DELIVER_ANSWER: &str = "/tanso.v1.Connector/DeliverAnswer";
pub const METHOD_NOTIFY: &str = "/tanso.v1.Connector/Notify";
pub const METHOD_SUBSCRIBE: &str = "/tanso.v1.Connector/Subscribe";
pub const METHOD_UPDATE_CARD: &str = "/tanso.v1.Connector/UpdateCard";
pub const METHOD_GET_CARD: &str = "/tanso.v1.Connector/GetCard";

/// Default ListFootprints page size.
const DEFAULT_PAGE: u32 = 100;

/// Why the gRPC edge refuses a request it authenticated (before or around the core's
/// decision); [`status`] turns it into a `tonic::Status`.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request body: {0}")]
    MalformedBody(#[source] prost::DecodeError),
    #[error("{0}")]
    Filter(#[source] tanso_core::pact::FilterError),
    #[error("{field} {value:?} is not a uuid")]
    NotUuid { field: &'static str, value: String },
    #[error("page_token is not one this node issued")]
    BadPageToken,
    #[error("a request names at least one product id or classification")]
    NothingRequested,
    #[error("{0:?} is not a urn")]
    NotUrn(String),
    #[error("an answer is fulfilled or rejected")]
    NoOutcome,
    #[error("a subscription names product id urns")]
    BadSubscription,
    #[error("subscription not permitted by the owner's usage policy")]
    SubscriptionDenied,
    #[error("unknown caller")]
    UnknownCaller,
    #[error("request {0} not found")]
    RequestNotFound(String),
    #[error("card cannot be encoded: {0}")]
    CardJson(#[source] serde_json::Error),
    #[error(transparent)]
    Disclosure(#[from] disclosure::DisclosureError),
    #[error(transparent)]
    Node(#[from] tanso_core::NodeError),
}

/// The peer service of a connector node.
#[derive(Clone)]
pub struct ConnectorService {
    node: Node,
}

/// The gRPC form of disclosed footprints: protobuf messages, sized as encoded; a footprint
/// over the message limit cannot be sent and is withheld.
#[derive(Debug, Clone, Copy)]
struct Wire;

impl disclosure::Render for Wire {
    type Item = pb::SignedFootprint;

    fn render(
        &self,
        own: &OwnFootprint,
        view: View,
    ) -> Result<pb::SignedFootprint, disclosure::DisclosureError> {
        Ok(wire::signed_footprint(own, view))
    }

    fn item_bytes(&self, item: &pb::SignedFootprint) -> usize {
        wire::page_item_bytes(item)
    }

    fn id_bytes(&self, id: &str) -> usize {
        wire::string_field_bytes(id)
    }

    fn oversize(&self) -> Oversize {
        Oversize::Withhold
    }
}

/// The door-neutral description of an authenticated gRPC caller, decided now.
fn party(caller: &Caller) -> disclosure::Caller {
    disclosure::Caller {
        partner: caller.partner.clone(),
        purpose: caller.purpose.clone(),
        door: Door::Grpc,
        now: chrono::Utc::now(),
        nonce: Some(caller.nonce.clone()),
        forget: caller.forget.clone(),
    }
}

impl ConnectorService {
    pub fn new(node: Node) -> ConnectorService {
        ConnectorService { node }
    }

    /// The tonic server for this service, with message limits from the config.
    pub fn into_server(self) -> pb::connector_server::ConnectorServer<ConnectorService> {
        let max = self.node.config().max_message_bytes;
        pb::connector_server::ConnectorServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    /// Counts the request and writes its audit entry, nonce and counter (under `counter`),
    /// durably, before answering.
    async fn record(
        &self,
        caller: &Caller,
        method: &str,
        targets: Vec<String>,
        decision: &Decision,
        counter: Option<String>,
    ) -> Result<(), Status> {
        self.node
            .metrics()
            .peer_request(method, AuditDecision::from(decision));
        disclosure::audit(
            &self.node,
            &party(caller),
            method,
            targets,
            decision,
            counter,
        )
        .await
        .map_err(|e| status::from_store(&e))
    }

    /// Audits an authenticated request refused before policy (bad body or filters), so every
    /// request leaves a trace and its nonce is persisted, then returns `status`.
    async fn refuse(&self, caller: &Caller, method: &str, status: Status) -> Status {
        let decision = Decision::Deny {
            policy: None,
            rule: None,
            reason: format!("bad request: {}", status.message()),
        };
        match self
            .record(caller, method, Vec::new(), &decision, None)
            .await
        {
            Ok(()) => status,
            Err(e) => e,
        }
    }

    /// Audits an accepted delivery (or an idempotent repeat of one) and acknowledges it.
    async fn acknowledge(
        &self,
        caller: &Caller,
        method: &str,
        targets: Vec<String>,
        new: bool,
        what: &str,
    ) -> Result<Response<pb::Ack>, Status> {
        let decision = permit(&if new {
            format!("{what} accepted")
        } else {
            format!("repeated {what} ignored")
        });
        self.record(caller, method, targets, &decision, None)
            .await?;
        Ok(Response::new(pb::Ack {
            status: if new { "accepted" } else { "duplicate" }.into(),
        }))
    }

    /// Counts a disclosure the core audited: its decision, or a denial for a footprint it
    /// did not serve.
    fn count_disclosure<T>(
        &self,
        method: &str,
        result: &Result<T, disclosure::DisclosureError>,
        decision: impl Fn(&T) -> &Decision,
    ) {
        let kind = match result {
            Ok(done) => AuditDecision::from(decision(done)),
            Err(
                disclosure::DisclosureError::NotFound(_)
                | disclosure::DisclosureError::TooLarge { .. },
            ) => AuditDecision::Deny,
            Err(_) => return,
        };
        self.node.metrics().peer_request(method, kind);
    }

    /// Runs blocking node work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> Result<T, tanso_core::NodeError> + Send + 'static,
    ) -> Result<T, tanso_core::NodeError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || f(&node))
            .await
            .map_err(|_| tanso_core::NodeError::Internal("task failed".into()))?
    }
}

fn permit(rule: &str) -> Decision {
    Decision::Permit {
        policy: String::new(),
        rule: rule.to_string(),
        view: tanso_core::policy::View::Summary,
    }
}

#[tonic::async_trait]
impl pb::connector_server::Connector for ConnectorService {
    async fn get_footprint(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::GetFootprintResponse>, Status> {
        const M: &str = METHOD_GET_FOOTPRINT;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::GetFootprintRequest = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        let id = body.id.trim().to_ascii_lowercase();
        if !tanso_core::ids::is_uuid(&id) {
            let e = RequestError::NotUuid {
                field: "id",
                value: body.id,
            };
            return Err(self.refuse(&caller, M, e.into()).await);
        }
        let result = disclosure::read_one(&self.node, &party(&caller), &id, Wire).await;
        self.count_disclosure(M, &result, |served| &served.decision);
        let served = result.map_err(RequestError::from)?;
        Ok(Response::new(pb::GetFootprintResponse {
            footprint: Some(served.item),
        }))
    }

    async fn list_footprints(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::ListFootprintsResponse>, Status> {
        const M: &str = METHOD_LIST_FOOTPRINTS;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let (body, filter) = match wire::decode_body::<pb::ListFootprintsRequest>(&body)
            .and_then(|b| wire::filter_from_pb(&b).map(|f| (b, f)))
        {
            Ok(ok) => ok,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        let page_max = self.node.config().page_max;
        let limit = match body.limit {
            0 => DEFAULT_PAGE.min(page_max),
            n => n.min(page_max),
        } as usize;
        let after = (!body.page_token.is_empty()).then(|| body.page_token.clone());
        if let Some(token) = &after
            && !tanso_core::ids::is_uuid(token)
        {
            return Err(RequestError::BadPageToken.into());
        }
        let request = disclosure::PageRequest {
            filter,
            after,
            limit,
        };
        let result = disclosure::list_page(&self.node, &party(&caller), request, Wire).await;
        self.count_disclosure(M, &result, |page| &page.decision);
        let page = result.map_err(RequestError::from)?;
        Ok(Response::new(pb::ListFootprintsResponse {
            footprints: page.items,
            next_page_token: page.next.unwrap_or_default(),
            withheld_ids: page.withheld,
        }))
    }

    async fn create_request(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CreateRequestResponse>, Status> {
        const M: &str = METHOD_CREATE_REQUEST;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::FootprintRequest = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        let id = body.request_id.trim().to_ascii_lowercase();
        let problem = if !tanso_core::ids::is_uuid(&id) {
            Some(RequestError::NotUuid {
                field: "request_id",
                value: body.request_id.clone(),
            })
        } else if body.product_id.is_empty() && body.classification.is_empty() {
            Some(RequestError::NothingRequested)
        } else {
            body.product_id
                .iter()
                .chain(&body.classification)
                .find(|v| !tanso_core::ids::is_urn(v))
                .map(|v| RequestError::NotUrn(v.clone()))
        };
        if let Some(problem) = problem {
            return Err(self.refuse(&caller, M, problem.into()).await);
        }
        let draft = disclosure::RequestDraft {
            id,
            product_ids: body.product_id,
            classifications: body.classification,
            comment: body.comment,
            pact_event_id: None,
        };
        let (stored, decision) =
            match disclosure::receive_request(&self.node, &party(&caller), draft).await {
                Ok(ok) => ok,
                Err(e) => {
                    return Err(self.refuse(&caller, M, RequestError::from(e).into()).await);
                }
            };
        self.node
            .metrics()
            .peer_request(M, AuditDecision::from(&decision));
        Ok(Response::new(pb::CreateRequestResponse {
            request_id: stored.id,
            status: stored.status.as_str().to_string(),
        }))
    }

    async fn deliver_answer(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_DELIVER_ANSWER;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::RequestAnswer = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        let from = caller.partner.company_id.clone();
        let card = match self.node.peer_card(&from) {
            Ok(Some(card)) => card,
            Ok(None) => return Err(RequestError::UnknownCaller.into()),
            Err(e) => return Err(RequestError::from(e).into()),
        };
        let (entries, reason) = match body.outcome {
            Some(pb::request_answer::Outcome::Fulfilled(f)) => {
                let mut entries = Vec::with_capacity(f.footprints.len());
                for fp in f.footprints {
                    match client::verify_received(&card, fp) {
                        Ok(e) => entries.push(e),
                        Err(reason) => tracing::warn!(
                            peer = %from, request = %body.request_id, %reason,
                            "answered footprint dropped"
                        ),
                    }
                }
                (Some(entries), None)
            }
            Some(pb::request_answer::Outcome::Rejected(r)) => (None, Some(r.reason)),
            None => {
                let e = RequestError::NoOutcome;
                return Err(self.refuse(&caller, M, e.into()).await);
            }
        };
        let id = body.request_id.clone();
        let sender = from.clone();
        let result = self
            .blocking(move |node| {
                node.exchange()
                    .answer_outgoing(&id, &sender, entries.as_deref(), reason.as_deref())
            })
            .await;
        let targets = vec![format!("request:{}", body.request_id)];
        match result {
            Ok(changed) => {
                self.acknowledge(&caller, M, targets, changed, "answer")
                    .await
            }
            Err(e) => {
                let e = match e {
                    tanso_core::NodeError::Store(tanso_core::store::StoreError::NotFound(_)) => {
                        RequestError::RequestNotFound(body.request_id.clone())
                    }
                    other => RequestError::from(other),
                };
                Err(self.refuse(&caller, M, e.into()).await)
            }
        }
    }

    async fn notify(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_NOTIFY;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::PublishedNotification = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        let from = caller.partner.company_id.clone();
        let event = body.event_id.clone();
        let ids = body.footprint_ids.clone();
        let result = self
            .blocking(move |node| node.receive_notification(&from, &event, &ids))
            .await;
        match result {
            Ok(new) => {
                let mut targets = vec![format!("event:{}", body.event_id)];
                targets.extend(body.footprint_ids.iter().cloned());
                self.acknowledge(&caller, M, targets, new, "notification")
                    .await
            }
            Err(e) => Err(self.refuse(&caller, M, RequestError::from(e).into()).await),
        }
    }

    async fn update_card(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_UPDATE_CARD;
        let (caller, card) = auth::authenticate_card_update(&self.node, &request, M).await?;
        let from = caller.partner.company_id.clone();
        // `accept_card_update` audits the outcome; the nonce is recorded here.
        let result = self
            .blocking(move |node| node.accept_card_update(&from, &card))
            .await;
        let nonce = Record {
            nonce: Some(caller.nonce.clone()),
            forget: caller.forget.clone(),
            ..Record::default()
        };
        self.node
            .audit()
            .write(nonce)
            .await
            .map_err(|e| status::from_store(&e))?;
        match result {
            Ok(changed) => Ok(Response::new(pb::Ack {
                status: if changed { "accepted" } else { "duplicate" }.into(),
            })),
            Err(e) => Err(RequestError::from(e).into()),
        }
    }

    async fn get_card(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CardResponse>, Status> {
        const M: &str = METHOD_GET_CARD;
        let (caller, _) = auth::authenticate(&self.node, &request, M).await?;
        let card = match self.node.card() {
            Ok(card) => card,
            Err(e) => return Err(self.refuse(&caller, M, RequestError::from(e).into()).await),
        };
        let card_json = serde_json::to_string(&card).map_err(RequestError::CardJson)?;
        self.record(
            &caller,
            M,
            vec![card.key_id.clone()],
            &permit("card sent"),
            None,
        )
        .await?;
        Ok(Response::new(pb::CardResponse { card_json }))
    }

    async fn subscribe(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_SUBSCRIBE;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::Subscription = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(e) => return Err(self.refuse(&caller, M, e.into()).await),
        };
        if body.product_id.is_empty() || body.product_id.iter().any(|p| !tanso_core::ids::is_urn(p))
        {
            let e = RequestError::BadSubscription;
            return Err(self.refuse(&caller, M, e.into()).await);
        }
        let partner = caller.partner.clone();
        let purpose = caller.purpose.clone();
        let products = body.product_id.clone();
        let unsubscribe = body.unsubscribe;
        let decision = match self
            .blocking(move |node| {
                node.receive_subscription(&partner, purpose.as_deref(), &products, unsubscribe)
            })
            .await
        {
            Ok(d) => d,
            Err(e) => return Err(self.refuse(&caller, M, RequestError::from(e).into()).await),
        };
        self.record(&caller, M, body.product_id.clone(), &decision, None)
            .await?;
        if !decision.is_permit() {
            return Err(RequestError::SubscriptionDenied.into());
        }
        Ok(Response::new(pb::Ack {
            status: if body.unsubscribe {
                "unsubscribed"
            } else {
                "subscribed"
            }
            .into(),
        }))
    }
}
