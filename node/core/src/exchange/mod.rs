//! The asynchronous footprint exchange: requests, their one answer, Published notifications
//! and subscriptions, carried between nodes by a durable outbox.
//!
//! A buyer's request is stored with its delivery item in one batch and sent by the outbox
//! worker ([`worker`]); the supplier decides it under its `request` policies, rejects it
//! without revealing whether the product exists, fulfils it at once when a disclosable
//! footprint exists, or keeps it pending until one is published. Answers and notifications
//! go back the same way. Every delivery is idempotent on the receiver (request id, event id,
//! footprint id), so a retried or duplicated delivery changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Clock;
use crate::error::NodeError;
use crate::node::{Node, now_rfc3339};
use crate::pact::Status;
use crate::policy::{Action, Decision, Partner};
use crate::store::{
    Answer, AnsweredFootprint, Delivery, IncomingRequest, OutboxItem, OutgoingRequest,
    OwnFootprint, ProductPartner, RequestState, StoreError,
};

/// The pending incoming requests when a publish started, by the products and
/// classifications they ask for, and which of them the publish's footprints match: a bulk
/// publish notes each footprint as it goes instead of keeping them for the end.
#[derive(Debug, Default)]
pub struct PendingWatch {
    /// Lowercase ids of the requests pending at the start.
    known: std::collections::HashSet<String>,
    /// Lowercase product id or classification → lowercase request ids.
    wanted: std::collections::HashMap<String, Vec<String>>,
    /// Requests a published footprint matched.
    touched: std::collections::HashSet<String>,
    any_published: bool,
}

impl PendingWatch {
    /// The requests pending now (none, with the error logged, if they cannot be read).
    pub fn load(node: &Node) -> PendingWatch {
        let mut watch = PendingWatch::default();
        let pending = match node.store().incoming_requests() {
            Ok(all) => all,
            Err(e) => {
                tracing::error!(error = %e, "cannot read pending requests");
                return watch;
            }
        };
        for request in pending
            .into_iter()
            .filter(|r| r.status == RequestState::Pending)
        {
            let id = request.id.to_ascii_lowercase();
            for wanted in request.product_ids.iter().chain(&request.classifications) {
                watch
                    .wanted
                    .entry(wanted.to_ascii_lowercase())
                    .or_default()
                    .push(id.clone());
            }
            watch.known.insert(id);
        }
        watch
    }

    /// Notes a footprint of the publish.
    pub fn note(&mut self, footprint: &crate::pact::ProductFootprint) {
        self.any_published = true;
        if self.wanted.is_empty() {
            return;
        }
        let keys = footprint
            .product_ids
            .iter()
            .chain(footprint.product_classifications.iter().flatten());
        for key in keys {
            if let Some(ids) = self.wanted.get(&key.to_ascii_lowercase()) {
                self.touched.extend(ids.iter().cloned());
            }
        }
    }
}

/// The reason every policy rejection carries, whether or not the product exists.
pub const POLICY_REJECTION: &str = "not accepted under the owner's usage policy";
/// The reason of a PACT request no footprint matches (sent with code `NotFound`).
pub const NO_MATCH_REJECTION: &str = "no footprint matches the request";

/// Wake-ups for the outbox worker and the items enqueued by this process.
#[derive(Default)]
pub struct ExchangeState {
    pub poke: tokio::sync::Notify,
    /// Ids enqueued while no worker runs, for the CLI's one inline attempt.
    recent: Mutex<Vec<String>>,
    /// Set while the outbox worker runs: it scans the whole outbox, so nothing needs to
    /// remember ids then (a serving node enqueues all day, and nothing would take them).
    worker_running: AtomicBool,
}

impl ExchangeState {
    /// The worker took over delivery: ids are no longer remembered, and those that were are
    /// dropped (the worker's scan finds their items in the store).
    pub fn worker_started(&self) {
        self.worker_running.store(true, Ordering::SeqCst);
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The worker stopped: ids are remembered again for an inline attempt.
    pub fn worker_stopped(&self) {
        self.worker_running.store(false, Ordering::SeqCst);
    }
}

/// A new outbox item, due now by `clock`.
pub fn new_item(clock: &Clock, target: &str, delivery: Delivery) -> OutboxItem {
    let now = clock.now_ms();
    OutboxItem {
        id: format!("{:016x}-{}", now.max(0), uuid::Uuid::new_v4()),
        target: target.to_ascii_lowercase(),
        delivery,
        attempts: 0,
        next_attempt_ms: now,
        created_ms: now,
        last_error: None,
    }
}

fn store_err(e: StoreError) -> NodeError {
    match e {
        StoreError::Conflict(m) => NodeError::Conflict(m),
        StoreError::NotFound(m) => NodeError::NotFound(m),
        other => other.into(),
    }
}

fn lower_set<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    items.into_iter().map(|s| s.to_ascii_lowercase()).collect()
}

impl Node {
    /// Remembers enqueued items (for the CLI's inline attempt) unless a worker runs, and
    /// wakes the worker.
    pub fn enqueued(&self, items: &[OutboxItem]) {
        self.enqueued_ids(items.iter().map(|i| i.id.clone()).collect());
    }

    /// [`Node::enqueued`] by item id.
    pub fn enqueued_ids(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let state = self.exchange_state();
        if !state.worker_running.load(Ordering::SeqCst) {
            state
                .recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(ids);
        }
        state.poke.notify_one();
    }

    /// Ids of items this process enqueued, forgotten once taken.
    pub fn take_enqueued(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .exchange_state()
                .recent
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Makes every queued delivery to `company` due now (its card may have a new endpoint).
    pub fn retry_deliveries_to(&self, company: &str) -> Result<(), NodeError> {
        let now = self.clock().now_ms();
        let due: Vec<OutboxItem> = self
            .store()
            .outbox()?
            .into_iter()
            .filter(|i| i.target.eq_ignore_ascii_case(company) && i.next_attempt_ms > now)
            .map(|mut i| {
                i.next_attempt_ms = now;
                i
            })
            .collect();
        for item in &due {
            self.store().outbox_retry(item)?;
        }
        self.exchange_state().poke.notify_one();
        Ok(())
    }

    // === requester side ===

    /// Stores a request to `to` with the item that sends it (one batch); the outbox worker
    /// (or the CLI's inline attempt) delivers it. Returns the request as stored.
    pub fn send_request(
        &self,
        to: &str,
        product_ids: Vec<String>,
        classifications: Vec<String>,
        comment: String,
        purpose: Option<String>,
    ) -> Result<OutgoingRequest, NodeError> {
        // A partner, or a member of a trusted directory discovered by the caller
        // (`service::client::discover`).
        let peer = self
            .peer_card(to)?
            .ok_or_else(|| NodeError::UnknownPartner(to.to_string()))?;
        self.check_store_quota()?;
        self.check_outbox_quota(1)?;
        if product_ids.is_empty() && classifications.is_empty() {
            return Err(NodeError::BadRequest(
                "a request names at least one product id or classification".into(),
            ));
        }
        for id in product_ids.iter().chain(&classifications) {
            if !crate::ids::is_urn(id) {
                return Err(NodeError::BadRequest(format!("{id:?} is not a urn")));
            }
        }
        let now = now_rfc3339();
        let request = OutgoingRequest {
            id: uuid::Uuid::new_v4().to_string(),
            to: peer.company_id.clone(),
            product_ids,
            classifications,
            comment,
            purpose: purpose.filter(|p| !p.is_empty()),
            status: RequestState::Queued,
            footprint_ids: Vec::new(),
            reason: None,
            created_at: now.clone(),
            updated_at: now,
            pact_url: None,
        };
        let item = new_item(
            self.clock(),
            &request.to,
            Delivery::SendRequest {
                request_id: request.id.clone(),
            },
        );
        self.store().enqueue_request(&request, &item)?;
        self.enqueued(std::slice::from_ref(&item));
        Ok(request)
    }

    // === supplier side ===

    /// Own Active footprints matching a request that `Read` policy discloses to its
    /// requester, with the granted view.
    fn disclosable_matches(
        &self,
        partner: &Partner,
        request: &IncomingRequest,
        reads_today: u32,
    ) -> Result<Vec<(OwnFootprint, crate::policy::View)>, NodeError> {
        let mut ids = BTreeSet::new();
        for p in &request.product_ids {
            ids.extend(self.store().own_ids_by_product(p)?);
        }
        for c in &request.classifications {
            ids.extend(self.store().own_ids_by_classification(c)?);
        }
        let mut out = Vec::new();
        for id in ids {
            let Some(own) = self.store().own_footprint(&id)? else {
                continue;
            };
            if own.footprint.status != Status::Active {
                continue;
            }
            let decision = self.decide(
                partner,
                Action::Read,
                request.purpose.as_deref(),
                &own.footprint.product_ids,
                own.footprint
                    .product_classifications
                    .as_deref()
                    .unwrap_or_default(),
                &crate::pact::ileap::customers_of(&own.footprint),
                reads_today,
            );
            if let Some(view) = decision.view() {
                out.push((own, view));
            }
        }
        Ok(out)
    }

    fn reads_today(&self, company: &str) -> Result<u32, NodeError> {
        let day = self.clock().day();
        Ok(self.daily().get(self.store(), company, &day)?)
    }

    /// A request from an authenticated partner: decided under `request` policies, then
    /// stored as rejected (with its answer queued), fulfilled (answer queued) or pending.
    /// A request id seen before from the same partner returns the stored request and
    /// changes nothing. Returns the request, the policy decision and whether it was new.
    pub fn receive_request(
        &self,
        partner: &Partner,
        purpose: Option<&str>,
        incoming: IncomingRequest,
        requests_today: u32,
    ) -> Result<(IncomingRequest, Decision, bool), NodeError> {
        self.check_store_quota()?;
        if let Some(existing) = self.store().incoming_request(&incoming.id)?
            && existing.from.eq_ignore_ascii_case(&partner.company_id)
        {
            let decision = Decision::Deny {
                policy: None,
                rule: None,
                reason: "repeated delivery of a known request".into(),
            };
            return Ok((existing, decision, false));
        }
        let decision = self.decide(
            partner,
            Action::Request,
            purpose,
            &incoming.product_ids,
            &incoming.classifications,
            &self.customers_of_products(&incoming.product_ids)?,
            requests_today,
        );
        let mut request = incoming;
        let now = now_rfc3339();
        let reject = |request: &mut IncomingRequest, reason: &str| {
            request.status = RequestState::Rejected;
            request.answer = Some(Answer::Rejected {
                reason: reason.into(),
            });
            (Some(answer_item(self.clock(), request)), Vec::new())
        };
        let (item, recipients) = if decision.is_permit() {
            let matches = self.disclosable_matches(
                partner,
                &request,
                self.reads_today(&partner.company_id)?,
            )?;
            if !matches.is_empty() {
                let (answer, recipients) = fulfilled_answer(&matches, &request.from);
                request.status = RequestState::Fulfilled;
                request.answer = Some(answer);
                (Some(answer_item(self.clock(), &request)), recipients)
            } else if request.pact_event_id.is_some() && !self.config().pact_hold_unmatched_requests
            {
                // PACT v3: a request nothing matches is answered RequestRejected (NotFound)
                // rather than left open; the same answer whether the products do not exist
                // or this requester may not read them.
                reject(&mut request, NO_MATCH_REJECTION)
            } else {
                (None, Vec::new())
            }
        } else {
            reject(&mut request, POLICY_REJECTION)
        };
        request.updated_at = now;
        let (stored, new) = self
            .store()
            .accept_incoming(&request, item.as_ref(), &recipients)
            .map_err(store_err)?;
        if new && let Some(item) = item {
            self.enqueued(&[item]);
        }
        Ok((stored, decision, new))
    }

    /// Fulfils a pending incoming request with own footprints: each must be Active and share
    /// a product id with the request; nothing changes otherwise. Each is sent in the view
    /// `Read` policy grants the requester (summary at least; none granted is an error).
    pub fn fulfil_request(
        &self,
        id: &str,
        footprint_ids: &[String],
    ) -> Result<IncomingRequest, NodeError> {
        let request = self.pending_incoming(id)?;
        if footprint_ids.is_empty() {
            return Err(NodeError::BadRequest(
                "name at least one footprint to fulfil with".into(),
            ));
        }
        let wanted = lower_set(&request.product_ids);
        let partner = self.policy_partner(&request.from)?;
        let reads = self.reads_today(&request.from)?;
        let mut chosen = Vec::new();
        for fid in footprint_ids {
            let own = self
                .store()
                .own_footprint(fid)?
                .ok_or_else(|| NodeError::NotFound(format!("footprint {fid}")))?;
            if own.footprint.status != Status::Active {
                return Err(NodeError::BadRequest(format!(
                    "footprint {fid} is deprecated; fulfil with its latest version"
                )));
            }
            if lower_set(&own.footprint.product_ids).is_disjoint(&wanted) {
                return Err(NodeError::BadRequest(format!(
                    "footprint {fid} has product ids {:?}, none of which request {id} asks for ({:?})",
                    own.footprint.product_ids, request.product_ids
                )));
            }
            let view = self
                .decide(
                    &partner,
                    Action::Read,
                    request.purpose.as_deref(),
                    &own.footprint.product_ids,
                    own.footprint
                        .product_classifications
                        .as_deref()
                        .unwrap_or_default(),
                    &crate::pact::ileap::customers_of(&own.footprint),
                    reads,
                )
                .view()
                .unwrap_or(crate::policy::View::Summary);
            chosen.push((own, view));
        }
        let (answer, recipients) = fulfilled_answer(&chosen, &request.from);
        self.answer(&request, answer, &recipients)
    }

    /// Rejects a pending incoming request with a reason (required).
    pub fn reject_request(&self, id: &str, reason: &str) -> Result<IncomingRequest, NodeError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(NodeError::BadRequest(
                "a rejection needs a reason (--reason TEXT)".into(),
            ));
        }
        let request = self.pending_incoming(id)?;
        self.answer(
            &request,
            Answer::Rejected {
                reason: reason.to_string(),
            },
            &[],
        )
    }

    fn pending_incoming(&self, id: &str) -> Result<IncomingRequest, NodeError> {
        let request = self
            .store()
            .incoming_request(id)?
            .ok_or_else(|| NodeError::NotFound(format!("incoming request {id}")))?;
        if request.status != RequestState::Pending {
            return Err(NodeError::Conflict(format!(
                "request {id} was already answered ({})",
                request.status
            )));
        }
        Ok(request)
    }

    fn answer(
        &self,
        request: &IncomingRequest,
        answer: Answer,
        recipients: &[ProductPartner],
    ) -> Result<IncomingRequest, NodeError> {
        let item = answer_item(self.clock(), request);
        let stored = self
            .store()
            .answer_incoming(&request.id, &answer, &item, recipients, &now_rfc3339())
            .map_err(store_err)?;
        self.enqueued(&[item]);
        Ok(stored)
    }

    /// After a publish: fulfils the pending requests `watch` saw its footprints match (and
    /// any that arrived while it ran), when `Read` policy discloses them to the requester.
    /// Failures are logged; the request stays pending.
    pub fn fulfil_watched(&self, watch: &PendingWatch) {
        if !watch.any_published {
            return;
        }
        self.fulfil_pending_where(|request| {
            let id = request.id.to_ascii_lowercase();
            watch.touched.contains(&id) || !watch.known.contains(&id)
        });
    }

    /// Fulfils every pending request a disclosable footprint matches. Run when the outbox
    /// worker starts, so a crash between a publish and its automatic answers loses nothing.
    pub fn fulfil_pending_all(&self) {
        self.fulfil_pending_where(|_| true);
    }

    fn fulfil_pending_where(&self, touches: impl Fn(&IncomingRequest) -> bool) {
        let pending = match self.store().incoming_requests() {
            Ok(all) => all,
            Err(e) => {
                tracing::error!(error = %e, "cannot read pending requests");
                return;
            }
        };
        for request in pending
            .into_iter()
            .filter(|r| r.status == RequestState::Pending)
        {
            if !touches(&request) {
                continue;
            }
            let result = self.policy_partner(&request.from).and_then(|partner| {
                let reads = self.reads_today(&request.from)?;
                let matches = self.disclosable_matches(&partner, &request, reads)?;
                if matches.is_empty() {
                    return Ok(());
                }
                let (answer, recipients) = fulfilled_answer(&matches, &request.from);
                match self.answer(&request, answer, &recipients) {
                    Ok(_) | Err(NodeError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            });
            if let Err(e) = result {
                tracing::error!(request = %request.id, error = %e, "automatic fulfilment failed");
            }
        }
    }

    /// Notification items for a publish that deprecates `deprecated` (new versions in `new`)
    /// or a plain deprecation: one per partner that received or subscribed to one of the
    /// products concerned.
    pub fn notifications_for(
        &self,
        new: &[OwnFootprint],
        deprecated: &[OwnFootprint],
    ) -> Result<Vec<OutboxItem>, NodeError> {
        if deprecated.is_empty() {
            return Ok(Vec::new());
        }
        let old_ids = lower_set(deprecated.iter().map(|o| &o.footprint.id));
        let successors: Vec<&OwnFootprint> = new
            .iter()
            .filter(|o| {
                o.footprint
                    .preceding_pf_ids
                    .iter()
                    .flatten()
                    .any(|p| old_ids.contains(&p.to_ascii_lowercase()))
            })
            .collect();
        let mut footprint_ids: Vec<String> =
            successors.iter().map(|o| o.footprint.id.clone()).collect();
        footprint_ids.extend(deprecated.iter().map(|o| o.footprint.id.clone()));
        let products = lower_set(
            successors
                .iter()
                .copied()
                .chain(deprecated)
                .flat_map(|o| &o.footprint.product_ids),
        );
        let mut partners: BTreeMap<String, ()> = BTreeMap::new();
        for p in &products {
            for partner in self
                .store()
                .recipients(p)?
                .into_iter()
                .chain(self.store().subscribers(p)?)
            {
                partners.insert(partner, ());
            }
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        let product_ids: Vec<String> = products.into_iter().collect();
        Ok(partners
            .into_keys()
            .filter(|p| !p.eq_ignore_ascii_case(self.company_id()))
            .map(|partner| {
                new_item(
                    self.clock(),
                    &partner,
                    Delivery::Notify {
                        event_id: event_id.clone(),
                        footprint_ids: footprint_ids.clone(),
                        product_ids: product_ids.clone(),
                    },
                )
            })
            .collect())
    }

    /// A subscription change from an authenticated partner, decided under `subscribe`
    /// policies per product. Returns the deciding decision (a denial stores nothing).
    pub fn receive_subscription(
        &self,
        partner: &Partner,
        purpose: Option<&str>,
        products: &[String],
        unsubscribe: bool,
    ) -> Result<Decision, NodeError> {
        if !unsubscribe {
            for p in products {
                let decision = self.decide(
                    partner,
                    Action::Subscribe,
                    purpose,
                    std::slice::from_ref(p),
                    &[],
                    &self.customers_of_products(std::slice::from_ref(p))?,
                    0,
                );
                if !decision.is_permit() {
                    return Ok(decision);
                }
            }
        }
        self.store()
            .set_subscriptions(products, &partner.company_id, !unsubscribe)?;
        Ok(Decision::Permit {
            policy: String::new(),
            rule: if unsubscribe {
                "unsubscribed".into()
            } else {
                "subscribed".into()
            },
            view: crate::policy::View::Summary,
        })
    }

    // === receiver side of notifications ===

    /// A Published notification from `from`: refused when a named footprint is in the inbox
    /// from another company; otherwise recorded once per event id, with a fetch job when
    /// `[exchange] auto_fetch` is on. `Ok(false)` for a repeated event.
    pub fn receive_notification(
        &self,
        from: &str,
        event_id: &str,
        footprint_ids: &[String],
    ) -> Result<bool, NodeError> {
        if event_id.trim().is_empty() {
            return Err(NodeError::BadRequest("event_id is empty".into()));
        }
        for id in footprint_ids {
            if !crate::ids::is_uuid(&id.to_ascii_lowercase()) {
                return Err(NodeError::BadRequest(format!(
                    "footprint id {id:?} is not a uuid"
                )));
            }
            if let Some(entry) = self.store().inbox_entry(id)?
                && !entry.from_company.eq_ignore_ascii_case(from)
            {
                return Err(NodeError::BadRequest(format!(
                    "footprint {id} is not owned by the sender"
                )));
            }
        }
        let job = (self.config().auto_fetch && !footprint_ids.is_empty()).then(|| {
            new_item(
                self.clock(),
                from,
                Delivery::Fetch {
                    event_id: event_id.to_string(),
                    footprint_ids: footprint_ids.to_vec(),
                },
            )
        });
        let new = self.store().record_event(from, event_id, job.as_ref())?;
        if new && let Some(job) = job {
            self.enqueued(&[job]);
        }
        Ok(new)
    }
}

/// The Fulfilled answer for disclosed footprints, and the recipients it makes.
fn fulfilled_answer(
    chosen: &[(OwnFootprint, crate::policy::View)],
    requester: &str,
) -> (Answer, Vec<ProductPartner>) {
    let footprints = chosen
        .iter()
        .map(|(own, view)| AnsweredFootprint {
            id: own.footprint.id.clone(),
            view: view.as_str().to_string(),
        })
        .collect();
    let recipients = chosen
        .iter()
        .flat_map(|(own, _)| &own.footprint.product_ids)
        .map(|p| (p.to_ascii_lowercase(), requester.to_ascii_lowercase()))
        .collect();
    (Answer::Fulfilled { footprints }, recipients)
}

fn answer_item(clock: &Clock, request: &IncomingRequest) -> OutboxItem {
    new_item(
        clock,
        &request.from,
        Delivery::Answer {
            request_id: request.id.clone(),
        },
    )
}

/// The exchange state as the doors reach it: enqueue deliveries, store fetched footprints,
/// and keep this node's outgoing requests (stored, sent, answered). A thin view of a
/// [`Node`] ([`Node::exchange`]); the store stays inside core.
pub struct Exchange<'a> {
    node: &'a Node,
}

impl Node {
    /// The exchange's narrow interface (see [`Exchange`]).
    pub fn exchange(&self) -> Exchange<'_> {
        Exchange { node: self }
    }
}

impl Exchange<'_> {
    /// Queues `items` durably for the outbox and wakes the worker ([`Node::enqueued`]).
    pub fn enqueue(&self, items: &[OutboxItem]) -> Result<(), NodeError> {
        self.node.check_outbox_quota(items.len() as u64)?;
        self.node.store().enqueue(items)?;
        self.node.enqueued(items);
        Ok(())
    }

    /// How many deliveries wait in the outbox.
    pub fn outbox_len(&self) -> Result<u64, NodeError> {
        Ok(self.node.store().count(crate::store::Table::Outbox)?)
    }

    /// Stores footprints received from a peer or pulled from a PACT host in the inbox.
    pub fn put_inbox(&self, entries: &[crate::store::InboxEntry]) -> Result<(), NodeError> {
        self.node.check_store_quota()?;
        Ok(self.node.store().put_inbox(entries)?)
    }

    /// This node's outgoing request `id`, if any.
    pub fn outgoing_request(&self, id: &str) -> Result<Option<OutgoingRequest>, NodeError> {
        Ok(self.node.store().outgoing_request(id)?)
    }

    /// Stores a new outgoing request (before it is sent, so an early answer finds it).
    pub fn put_outgoing(&self, request: &OutgoingRequest) -> Result<(), NodeError> {
        Ok(self.node.store().put_outgoing(request)?)
    }

    /// Moves a queued outgoing request to `status`, with `reason` when sending failed;
    /// returns the request as stored.
    pub fn outgoing_sent(
        &self,
        id: &str,
        status: RequestState,
        reason: Option<&str>,
    ) -> Result<OutgoingRequest, NodeError> {
        Ok(self
            .node
            .store()
            .outgoing_sent(id, status, reason, &now_rfc3339())?)
    }

    /// Records the answer from `from` to outgoing request `id`: the footprints (stored in the
    /// inbox) or the rejection reason. Returns whether it changed anything; a request this
    /// node did not send to `from` is `NodeError::Store(StoreError::NotFound)`.
    pub fn answer_outgoing(
        &self,
        id: &str,
        from: &str,
        entries: Option<&[crate::store::InboxEntry]>,
        reason: Option<&str>,
    ) -> Result<bool, NodeError> {
        Ok(self
            .node
            .store()
            .answer_outgoing(id, from, entries, reason, &now_rfc3339())?)
    }
}
