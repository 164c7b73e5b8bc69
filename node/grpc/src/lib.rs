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

use tanso_core::audit::{AuditDecision, AuditDraft};
use tanso_core::journal::Record;
use tanso_core::node::Node;
use tanso_core::pact::FootprintFilter;
use tanso_core::policy::{Action, Decision};
use tanso_core::store::OwnFootprint;

pub use auth::Caller;

pub use tanso_core::methods::*;

/// Default ListFootprints page size.
const DEFAULT_PAGE: u32 = 100;

/// The peer service of a connector node.
#[derive(Clone)]
pub struct ConnectorService {
    node: Node,
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

    /// Policy decision for one stored footprint.
    fn decide(&self, caller: &Caller, own: &OwnFootprint, requests_today: u32) -> Decision {
        self.node.decide(
            &caller.partner,
            Action::Read,
            caller.purpose.as_deref(),
            &own.footprint.product_ids,
            own.footprint
                .product_classifications
                .as_deref()
                .unwrap_or_default(),
            requests_today,
        )
    }

    /// Writes the request's audit entry, nonce and counter, durably, before answering.
    async fn record(
        &self,
        caller: &Caller,
        method: &str,
        targets: Vec<String>,
        decision: &Decision,
        served: bool,
        day: &str,
    ) -> Result<(), Status> {
        let counter = served.then(|| caller.partner.company_id.clone());
        self.record_with(caller, method, targets, decision, counter, day)
            .await
    }

    /// Like [`ConnectorService::record`], counting the request under `counter` (a daily
    /// counter key: the caller's id for reads, `<id>#request` for footprint requests).
    async fn record_with(
        &self,
        caller: &Caller,
        method: &str,
        targets: Vec<String>,
        decision: &Decision,
        counter: Option<String>,
        day: &str,
    ) -> Result<(), Status> {
        let (rule, reason) = match decision {
            Decision::Permit { rule, view, .. } => {
                (Some(rule.clone()), Some(format!("view {view}")))
            }
            Decision::Deny { rule, reason, .. } => (rule.clone(), Some(reason.clone())),
        };
        let audited = AuditDecision::from(decision);
        self.node.metrics().peer_request(method, audited);
        let daily = counter.map(|key| {
            let n = self.node.daily().increment(&key, day);
            (key, day.to_string(), n)
        });
        let record = Record {
            audit: Some(AuditDraft {
                caller: caller.partner.company_id.clone(),
                method: method.to_string(),
                targets,
                decision: audited,
                rule,
                reason,
            }),
            nonce: Some(caller.nonce.clone()),
            daily,
            forget: caller.forget.clone(),
        };
        self.node.journal().write(record).await.map_err(|e| {
            tracing::error!(error = %e, "audit journal write failed");
            Status::internal("internal error")
        })
    }

    /// Audits an authenticated request refused before policy (bad body or filters), so every
    /// request leaves a trace and its nonce is persisted, then returns `status`.
    async fn refuse(&self, caller: &Caller, method: &str, status: Status) -> Status {
        let decision = Decision::Deny {
            policy: None,
            rule: None,
            reason: format!("bad request: {}", status.message()),
        };
        let day = self.node.clock().day();
        match self
            .record(caller, method, Vec::new(), &decision, false, &day)
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
        let day = self.node.clock().day();
        self.record(caller, method, targets, &decision, false, &day)
            .await?;
        Ok(Response::new(pb::Ack {
            status: if new { "accepted" } else { "duplicate" }.into(),
        }))
    }

    fn requests_today(&self, caller: &Caller, day: &str) -> Result<u32, Status> {
        self.node
            .daily()
            .get(self.node.store(), &caller.partner.company_id, day)
            .map_err(|e| status::from_store(&e))
    }

    /// Remembers that the caller received footprints of `products` (for notifications).
    /// Known pairs are checked inline (a point read); only new ones are written.
    async fn note_recipients(&self, caller: &Caller, products: Vec<String>) -> Result<(), Status> {
        let partner = caller.partner.company_id.to_ascii_lowercase();
        let mut missing = Vec::new();
        for p in products {
            let known = self
                .node
                .store()
                .is_recipient(&p, &partner)
                .map_err(|e| status::from_store(&e))?;
            if !known {
                missing.push((p.to_ascii_lowercase(), partner.clone()));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let store = self.node.store().clone();
        tokio::task::spawn_blocking(move || store.add_recipients(&missing))
            .await
            .map_err(|_| Status::internal("internal error"))?
            .map_err(|e| status::from_store(&e))
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

/// The daily counter key of footprint requests (separate from reads).
fn request_counter(company: &str) -> String {
    format!("{company}#request")
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
        let (caller, body) = auth::authenticate(&self.node, &request, METHOD_GET_FOOTPRINT).await?;
        let body: pb::GetFootprintRequest = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(s) => return Err(self.refuse(&caller, METHOD_GET_FOOTPRINT, s).await),
        };
        let id = body.id.trim().to_ascii_lowercase();
        if !tanso_core::ids::is_uuid(&id) {
            let s = Status::invalid_argument(format!("id {:?} is not a uuid", body.id));
            return Err(self.refuse(&caller, METHOD_GET_FOOTPRINT, s).await);
        }
        let day = self.node.clock().day();
        let requests_today = self.requests_today(&caller, &day)?;
        let own = self
            .node
            .store()
            .own_footprint_shared(&id)
            .map_err(|e| status::from_store(&e))?;
        let not_found = || Status::not_found(format!("footprint {id} not found"));
        let Some(own) = own else {
            let decision = Decision::Deny {
                policy: None,
                rule: None,
                reason: "no such footprint".into(),
            };
            self.record(
                &caller,
                METHOD_GET_FOOTPRINT,
                vec![id.clone()],
                &decision,
                false,
                &day,
            )
            .await?;
            return Err(not_found());
        };
        let decision = self.decide(&caller, &own, requests_today);
        let answer = decision
            .view()
            .map(|view| wire::signed_footprint(&own, view));
        // A footprint stored before publish refused oversize ones (or under a larger limit)
        // may not fit an answer at all: say so, rather than fail in the encoder.
        let max = self.node.config().max_message_bytes;
        let too_large = answer
            .as_ref()
            .map(wire::page_item_bytes)
            .filter(|n| *n > max);
        let audited = match too_large {
            Some(n) => Decision::Deny {
                policy: None,
                rule: None,
                reason: format!("answer is {n} bytes, over the limit of {max}"),
            },
            None => decision,
        };
        self.record(
            &caller,
            METHOD_GET_FOOTPRINT,
            vec![id.clone()],
            &audited,
            answer.is_some() && too_large.is_none(),
            &day,
        )
        .await?;
        // A caller that may not see a footprint must not learn that it exists.
        let answer = answer.ok_or_else(not_found)?;
        if let Some(n) = too_large {
            return Err(Status::resource_exhausted(too_large_message(&id, n, max)));
        }
        self.note_recipients(&caller, own.footprint.product_ids.clone())
            .await?;
        Ok(Response::new(pb::GetFootprintResponse {
            footprint: Some(answer),
        }))
    }

    async fn list_footprints(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::ListFootprintsResponse>, Status> {
        let (caller, body) =
            auth::authenticate(&self.node, &request, METHOD_LIST_FOOTPRINTS).await?;
        let (body, filter) = match wire::decode_body::<pb::ListFootprintsRequest>(&body)
            .and_then(|b| wire::filter_from_pb(&b).map(|f| (b, f)))
        {
            Ok(ok) => ok,
            Err(s) => return Err(self.refuse(&caller, METHOD_LIST_FOOTPRINTS, s).await),
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
            return Err(Status::invalid_argument(
                "page_token is not one this node issued",
            ));
        }
        let day = self.node.clock().day();
        let requests_today = self.requests_today(&caller, &day)?;
        let node = self.node.clone();
        let caller_for_scan = caller.clone();
        let this = self.clone();
        let page = tokio::task::spawn_blocking(move || {
            scan_page(
                &this,
                &node,
                &caller_for_scan,
                &filter,
                after,
                limit,
                requests_today,
            )
        })
        .await
        .map_err(|_| Status::internal("internal error"))??;
        let Page {
            items,
            next,
            last_denial: last_decision,
            withheld,
        } = page;
        let targets: Vec<String> = if body.product_id.is_empty() {
            items
                .iter()
                .map(|(own, _, _)| own.footprint.id.clone())
                .collect()
        } else {
            body.product_id.clone()
        };
        let decision = match (items.first(), last_decision) {
            (Some((_, view, _)), _) => Decision::Permit {
                policy: String::new(),
                rule: format!("{} footprint(s) disclosed", items.len()),
                view: *view,
            },
            (None, Some(d)) => d,
            (None, None) => Decision::Deny {
                policy: None,
                rule: None,
                reason: "no footprint matches the filters".into(),
            },
        };
        self.record(
            &caller,
            METHOD_LIST_FOOTPRINTS,
            targets,
            &decision,
            !items.is_empty(),
            &day,
        )
        .await?;
        let products: std::collections::BTreeSet<String> = items
            .iter()
            .flat_map(|(own, _, _)| own.footprint.product_ids.iter())
            .map(|p| p.to_ascii_lowercase())
            .collect();
        self.note_recipients(&caller, products.into_iter().collect())
            .await?;
        Ok(Response::new(pb::ListFootprintsResponse {
            footprints: items.into_iter().map(|(_, _, item)| item).collect(),
            next_page_token: next.unwrap_or_default(),
            withheld_ids: withheld,
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
            Err(s) => return Err(self.refuse(&caller, M, s).await),
        };
        let id = body.request_id.trim().to_ascii_lowercase();
        let problem = if !tanso_core::ids::is_uuid(&id) {
            Some(format!("request_id {:?} is not a uuid", body.request_id))
        } else if body.product_id.is_empty() && body.classification.is_empty() {
            Some("a request names at least one product id or classification".into())
        } else {
            body.product_id
                .iter()
                .chain(&body.classification)
                .find(|v| !tanso_core::ids::is_urn(v))
                .map(|v| format!("{v:?} is not a urn"))
        };
        if let Some(problem) = problem {
            return Err(self
                .refuse(&caller, M, Status::invalid_argument(problem))
                .await);
        }
        let day = self.node.clock().day();
        let counter = request_counter(&caller.partner.company_id);
        let requests_today = self
            .node
            .daily()
            .get(self.node.store(), &counter, &day)
            .map_err(|e| status::from_store(&e))?;
        let now = tanso_core::node::now_rfc3339();
        let incoming = tanso_core::store::IncomingRequest {
            id,
            from: caller.partner.company_id.clone(),
            product_ids: body.product_id.clone(),
            classifications: body.classification.clone(),
            comment: body.comment.clone(),
            purpose: caller.purpose.clone(),
            status: tanso_core::store::RequestState::Pending,
            answer: None,
            created_at: now.clone(),
            updated_at: now,
            pact_event_id: None,
        };
        let partner = caller.partner.clone();
        let purpose = caller.purpose.clone();
        let result = self
            .blocking(move |node| {
                node.receive_request(&partner, purpose.as_deref(), incoming, requests_today)
            })
            .await;
        let (stored, decision, new) = match result {
            Ok(ok) => ok,
            Err(e) => return Err(self.refuse(&caller, M, status::from_node(e)).await),
        };
        let mut targets = body.product_id.clone();
        targets.extend(body.classification.iter().cloned());
        targets.insert(0, format!("request:{}", stored.id));
        let counted = (new && decision.is_permit()).then_some(counter);
        self.record_with(&caller, M, targets, &decision, counted, &day)
            .await?;
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
            Err(s) => return Err(self.refuse(&caller, M, s).await),
        };
        let from = caller.partner.company_id.clone();
        let card = match self.node.peer_card(&from) {
            Ok(Some(card)) => card,
            Ok(None) => return Err(Status::unauthenticated("unknown caller")),
            Err(e) => return Err(status::from_node(e)),
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
                let s = Status::invalid_argument("an answer is fulfilled or rejected");
                return Err(self.refuse(&caller, M, s).await);
            }
        };
        let id = body.request_id.clone();
        let sender = from.clone();
        let result = self
            .blocking(move |node| {
                node.store()
                    .answer_outgoing(
                        &id,
                        &sender,
                        entries.as_deref(),
                        reason.as_deref(),
                        &tanso_core::node::now_rfc3339(),
                    )
                    .map_err(tanso_core::NodeError::from)
            })
            .await;
        let targets = vec![format!("request:{}", body.request_id)];
        match result {
            Ok(changed) => {
                self.acknowledge(&caller, M, targets, changed, "answer")
                    .await
            }
            Err(e) => {
                let s = match e {
                    tanso_core::NodeError::Store(tanso_core::store::StoreError::NotFound(_)) => {
                        Status::not_found(format!("request {} not found", body.request_id))
                    }
                    other => status::from_node(other),
                };
                Err(self.refuse(&caller, M, s).await)
            }
        }
    }

    async fn notify(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_NOTIFY;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::PublishedNotification = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(s) => return Err(self.refuse(&caller, M, s).await),
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
            Err(e) => Err(self.refuse(&caller, M, status::from_node(e)).await),
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
        self.node.journal().write(nonce).await.map_err(|e| {
            tracing::error!(error = %e, "audit journal write failed");
            Status::internal("internal error")
        })?;
        match result {
            Ok(changed) => Ok(Response::new(pb::Ack {
                status: if changed { "accepted" } else { "duplicate" }.into(),
            })),
            Err(e) => Err(status::from_node(e)),
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
            Err(e) => return Err(self.refuse(&caller, M, status::from_node(e)).await),
        };
        let card_json =
            serde_json::to_string(&card).map_err(|_| Status::internal("internal error"))?;
        let day = self.node.clock().day();
        self.record(
            &caller,
            M,
            vec![card.key_id.clone()],
            &permit("card sent"),
            false,
            &day,
        )
        .await?;
        Ok(Response::new(pb::CardResponse { card_json }))
    }

    async fn subscribe(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        const M: &str = METHOD_SUBSCRIBE;
        let (caller, body) = auth::authenticate(&self.node, &request, M).await?;
        let body: pb::Subscription = match wire::decode_body(&body) {
            Ok(b) => b,
            Err(s) => return Err(self.refuse(&caller, M, s).await),
        };
        if body.product_id.is_empty() || body.product_id.iter().any(|p| !tanso_core::ids::is_urn(p))
        {
            let s = Status::invalid_argument("a subscription names product id urns");
            return Err(self.refuse(&caller, M, s).await);
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
            Err(e) => return Err(self.refuse(&caller, M, status::from_node(e)).await),
        };
        let day = self.node.clock().day();
        self.record(&caller, M, body.product_id.clone(), &decision, false, &day)
            .await?;
        if !decision.is_permit() {
            return Err(Status::permission_denied(
                "subscription not permitted by the owner's usage policy",
            ));
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

/// The error of an answer that cannot carry a footprint: it is over the message limit.
fn too_large_message(id: &str, bytes: usize, max: usize) -> String {
    format!(
        "footprint {id}: its answer is {bytes} bytes, over this node's limit of {max} bytes \
         ([limits] max_message_bytes); it cannot be sent until the owner raises that limit or \
         publishes a smaller version"
    )
}

/// Most withheld ids one page names.
const MAX_WITHHELD: usize = 100;

/// One page: disclosed footprints with their views and wire form, the next page token, the
/// last denial seen (for the audit entry when nothing was disclosed), and the ids of
/// disclosable footprints too large to send.
struct Page {
    items: Vec<(OwnFootprint, tanso_core::policy::View, pb::SignedFootprint)>,
    next: Option<String>,
    last_denial: Option<Decision>,
    withheld: Vec<String>,
}

/// A page being filled: by count (`limit`) and by encoded size (`max` bytes in all).
struct PageBuilder {
    page: Page,
    limit: usize,
    max: usize,
    bytes: usize,
    /// The id of the last footprint placed on the page or withheld: where the next page
    /// starts after.
    consumed: Option<String>,
}

impl PageBuilder {
    fn new(limit: usize, max: usize) -> PageBuilder {
        PageBuilder {
            page: Page {
                items: Vec::new(),
                next: None,
                last_denial: None,
                withheld: Vec::new(),
            },
            limit,
            max,
            bytes: 0,
            consumed: None,
        }
    }

    /// Considers the next matching footprint; returns the page when it is full (`own` then
    /// starts the next one).
    fn offer(
        &mut self,
        service: &ConnectorService,
        caller: &Caller,
        own: OwnFootprint,
        requests_today: u32,
    ) -> Option<Page> {
        let view = match service.decide(caller, &own, requests_today) {
            d @ Decision::Deny { .. } => {
                self.page.last_denial = Some(d);
                return None;
            }
            d => d.view().unwrap_or(tanso_core::policy::View::Summary),
        };
        let id = own.footprint.id.to_ascii_lowercase();
        let item = wire::signed_footprint(&own, view);
        let item_bytes = wire::page_item_bytes(&item);
        let token_bytes = wire::string_field_bytes(&id);
        if item_bytes + token_bytes + self.bytes > self.max || self.page.items.len() == self.limit {
            let alone = item_bytes + token_bytes > self.max;
            if alone
                && self.page.withheld.len() < MAX_WITHHELD
                && self.bytes + wire::string_field_bytes(&id) + token_bytes <= self.max
            {
                // It can never be sent: name it and go on.
                tracing::warn!(footprint = %id, bytes = item_bytes, max = self.max,
                    "footprint withheld from a list: its answer is over the message limit");
                self.bytes += wire::string_field_bytes(&id);
                self.page.withheld.push(id.clone());
                self.consumed = Some(id);
                return None;
            }
            return Some(self.finish(true));
        }
        self.bytes += item_bytes;
        self.page.items.push((own, view, item));
        self.consumed = Some(id);
        None
    }

    fn finish(&mut self, more: bool) -> Page {
        let mut page = std::mem::replace(
            &mut self.page,
            Page {
                items: Vec::new(),
                next: None,
                last_denial: None,
                withheld: Vec::new(),
            },
        );
        page.next = if more { self.consumed.take() } else { None };
        page
    }
}

/// Walks own footprints in id order from `after`, keeping those that match the filter and
/// that policy discloses, until `limit` are found or the next one would take the answer
/// over `[limits] max_message_bytes`.
fn scan_page(
    service: &ConnectorService,
    node: &Node,
    caller: &Caller,
    filter: &FootprintFilter,
    after: Option<String>,
    limit: usize,
    requests_today: u32,
) -> Result<Page, Status> {
    let store = node.store();
    let mut page = PageBuilder::new(limit, node.config().max_message_bytes);
    // With a product filter the index gives the candidates; otherwise scan in id order.
    if !filter.product_id.is_empty() {
        let mut ids = std::collections::BTreeSet::new();
        for p in &filter.product_id {
            ids.extend(
                store
                    .own_ids_by_product(p)
                    .map_err(|e| status::from_store(&e))?,
            );
        }
        let start = after.as_deref().unwrap_or("");
        for id in ids.into_iter().filter(|id| id.as_str() > start) {
            let Some(own) = store
                .own_footprint(&id)
                .map_err(|e| status::from_store(&e))?
            else {
                continue;
            };
            if !filter.matches(&own.footprint) {
                continue;
            }
            if let Some(full) = page.offer(service, caller, own, requests_today) {
                return Ok(full);
            }
        }
        return Ok(page.finish(false));
    }
    let mut cursor = after;
    loop {
        let batch = store
            .own_footprints_page(cursor.as_deref(), 512)
            .map_err(|e| status::from_store(&e))?;
        let Some(last) = batch.last() else {
            return Ok(page.finish(false));
        };
        cursor = Some(last.footprint.id.to_ascii_lowercase());
        for own in batch {
            if !filter.matches(&own.footprint) {
                continue;
            }
            if let Some(full) = page.offer(service, caller, own, requests_today) {
                return Ok(full);
            }
        }
    }
}
