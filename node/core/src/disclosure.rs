//! Disclosure of own footprints, one implementation for every door (gRPC and PACT REST).
//!
//! Reading one footprint, listing a page and deciding an incoming footprint request each
//! take a door-neutral [`Caller`] (partner, purpose, door, time) and do, in this order: the
//! policy decision with the caller's purpose, the daily cap, the audit entry (durable before
//! anything is answered) and the recipients table (so a reader on either door is notified
//! when a product it read is updated). The doors only translate wire to domain and back:
//! how an answer is encoded and sized is theirs, through [`Render`].
//!
//! This module names no edge (no tonic, axum, http or proto types).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::audit::{AuditDecision, AuditDraft};
use crate::error::NodeError;
use crate::journal::Record;
use crate::node::Node;
use crate::pact::FootprintFilter;
use crate::policy::{AccessRequest, Action, Decision, Partner, View};
use crate::store::{IncomingRequest, OwnFootprint, StoreError};

/// Most withheld ids one page names.
pub const MAX_WITHHELD: usize = 100;

/// Own footprints read per store page while a list is filled.
const SCAN_BATCH: usize = 512;

const GRPC_GET_FOOTPRINT: &str = "/tanso.v1.Connector/GetFootprint";
const GRPC_LIST_FOOTPRINTS: &str = "/tanso.v1.Connector/ListFootprints";
const GRPC_CREATE_REQUEST: &str = "/tanso.v1.Connector/CreateRequest";
const PACT_GET_FOOTPRINT: &str = "GET /3/footprints/{id}";
const PACT_LIST_FOOTPRINTS: &str = "GET /3/footprints";
const PACT_EVENTS: &str = "POST /3/events";

/// The door a request came through; the audit entry names it (as its method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Grpc,
    Pact,
}

/// The disclosing operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetFootprint,
    ListFootprints,
    CreateRequest,
}

impl Door {
    /// The method an audit entry of `operation` through this door names.
    pub const fn method(self, operation: Operation) -> &'static str {
        match (self, operation) {
            (Door::Grpc, Operation::GetFootprint) => GRPC_GET_FOOTPRINT,
            (Door::Grpc, Operation::ListFootprints) => GRPC_LIST_FOOTPRINTS,
            (Door::Grpc, Operation::CreateRequest) => GRPC_CREATE_REQUEST,
            (Door::Pact, Operation::GetFootprint) => PACT_GET_FOOTPRINT,
            (Door::Pact, Operation::ListFootprints) => PACT_LIST_FOOTPRINTS,
            (Door::Pact, Operation::CreateRequest) => PACT_EVENTS,
        }
    }
}

/// Whether an audit entry's method is a footprint read (get or list) on any door: its
/// permitted entries name what the caller received.
pub fn is_read(method: &str) -> bool {
    [
        GRPC_GET_FOOTPRINT,
        GRPC_LIST_FOOTPRINTS,
        PACT_GET_FOOTPRINT,
        PACT_LIST_FOOTPRINTS,
    ]
    .contains(&method)
}

/// A nonce record: (key id, nonce hex, issued-at ms).
pub type Nonce = (String, String, i64);

/// An authenticated caller, whichever door it came through.
#[derive(Debug, Clone)]
pub struct Caller {
    pub partner: Partner,
    /// The purpose the caller declared, if any.
    pub purpose: Option<String>,
    pub door: Door,
    /// When the request is decided (policy date windows, the daily counter's day).
    pub now: DateTime<Utc>,
    /// The request's nonce (signed gRPC envelopes), persisted with its audit entry.
    pub nonce: Option<Nonce>,
    /// Expired nonces to drop from the store in the same write.
    pub forget: Vec<Nonce>,
}

impl Caller {
    /// The daily counter's day (UTC).
    pub fn day(&self) -> String {
        self.now.format("%Y-%m-%d").to_string()
    }
}

/// Every way a disclosure fails.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    /// No such footprint, or one the caller may not see (the same on purpose).
    #[error("footprint {0} not found")]
    NotFound(String),
    /// A footprint whose answer is over the door's message limit.
    #[error(
        "footprint {id}: its answer is {bytes} bytes, over this node's limit of {max} bytes \
         ([limits] max_message_bytes); it cannot be sent until the owner raises that limit or \
         publishes a smaller version"
    )]
    TooLarge {
        id: String,
        bytes: usize,
        max: usize,
    },
    /// The signed view of a stored footprint cannot be built.
    #[error("footprint {id}: its {view} view cannot be built: {source}")]
    View {
        id: String,
        view: View,
        #[source]
        source: crate::crypto::CryptoError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operation refused or failed (e.g. a request the exchange will not take).
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How a door encodes a disclosed footprint and what it may send in one answer.
pub trait Render: Copy + Send + Sync + 'static {
    type Item: Send + 'static;
    /// The footprint in `view`, as the door sends it.
    fn render(&self, own: &OwnFootprint, view: View) -> Result<Self::Item, DisclosureError>;
    /// Bytes `item` adds to an answer.
    fn item_bytes(&self, item: &Self::Item) -> usize;
    /// Bytes `id` adds to a page as its next-page token or a withheld id (0 when ids travel
    /// outside the answer's size).
    fn id_bytes(&self, id: &str) -> usize;
    /// What becomes of a footprint too large for any answer.
    fn oversize(&self) -> Oversize;
}

/// What becomes of a footprint whose answer alone is over `[limits] max_message_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// It cannot be sent (a gRPC message limit): a list names it in the withheld ids, a
    /// read refuses it with [`DisclosureError::TooLarge`].
    Withhold,
    /// It is sent anyway (HTTP has no message limit), on a list page of its own.
    Alone,
}

/// One list page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts after (none on the last page).
    pub next: Option<String>,
    /// Disclosable footprints too large to send (see [`Oversize::Withhold`]).
    pub withheld: Vec<String>,
    /// The audited decision.
    pub decision: Decision,
}

/// What one list page is asked for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub filter: FootprintFilter,
    /// The id the page starts after (a token this node issued).
    pub after: Option<String>,
    /// Most footprints on the page.
    pub limit: usize,
}

/// A read footprint and the audited decision that disclosed it.
#[derive(Debug)]
pub struct Served<T> {
    pub item: T,
    pub decision: Decision,
}

/// An incoming footprint request as a door received it.
#[derive(Debug, Clone)]
pub struct RequestDraft {
    /// The lifecycle id (lowercase uuid).
    pub id: String,
    pub product_ids: Vec<String>,
    pub classifications: Vec<String>,
    pub comment: String,
    /// The PACT event that carried it (answered by a PACT event instead of gRPC).
    pub pact_event_id: Option<String>,
}

/// The daily counter key of footprint requests (separate from reads).
pub fn request_counter(company: &str) -> String {
    format!("{company}#request")
}

/// The policy decision of `caller` reading `own` (a read's decision, also for what a
/// PublishedEvent may name).
pub fn decide(node: &Node, caller: &Caller, own: &OwnFootprint, requests_today: u32) -> Decision {
    node.evaluate(&AccessRequest {
        partner: &caller.partner,
        action: Action::Read,
        purpose: caller.purpose.as_deref(),
        now: caller.now,
        product_ids: &own.footprint.product_ids,
        classifications: own
            .footprint
            .product_classifications
            .as_deref()
            .unwrap_or_default(),
        customers: &crate::pact::ileap::customers_of(&own.footprint),
        requests_today,
    })
}

fn deny(reason: impl Into<String>) -> Decision {
    Decision::Deny {
        policy: None,
        rule: None,
        reason: reason.into(),
    }
}

/// The audit draft of one decision.
fn draft(caller: &Caller, method: &str, targets: Vec<String>, decision: &Decision) -> AuditDraft {
    let (rule, reason) = match decision {
        Decision::Permit { rule, view, .. } => (Some(rule.clone()), Some(format!("view {view}"))),
        Decision::Deny { rule, reason, .. } => (rule.clone(), Some(reason.clone())),
    };
    AuditDraft {
        caller: caller.partner.company_id.clone(),
        method: method.to_string(),
        targets,
        decision: AuditDecision::from(decision),
        rule,
        reason,
    }
}

/// Writes a request's audit entry, its nonce and (under `counter`, a daily counter key: the
/// company id for reads, [`request_counter`] for requests) its count, durably, before the
/// door answers. Every audited peer request of either door goes through here.
pub async fn audit(
    node: &Node,
    caller: &Caller,
    method: &str,
    targets: Vec<String>,
    decision: &Decision,
    counter: Option<String>,
) -> Result<(), StoreError> {
    let day = caller.day();
    let daily = counter.map(|key| {
        let n = node.daily().increment(&key, &day);
        (key, day, n)
    });
    let record = Record {
        audit: Some(draft(caller, method, targets, decision)),
        nonce: caller.nonce.clone(),
        daily,
        forget: caller.forget.clone(),
    };
    node.journal().write(record).await.inspect_err(|e| {
        tracing::error!(error = %e, "audit journal write failed");
    })
}

/// Reads served to the caller today (its daily cap counts these).
fn reads_today(node: &Node, caller: &Caller) -> Result<u32, StoreError> {
    node.daily()
        .get(node.store(), &caller.partner.company_id, &caller.day())
}

/// Remembers that the caller received footprints of `products`, so it is notified of their
/// updates. Known pairs are checked inline (a point read); only new ones are written.
async fn note_recipients(
    node: &Node,
    caller: &Caller,
    products: impl IntoIterator<Item = String>,
) -> Result<(), DisclosureError> {
    let partner = caller.partner.company_id.to_ascii_lowercase();
    let mut missing = Vec::new();
    for product in products {
        let product = product.to_ascii_lowercase();
        if !node.store().is_recipient(&product, &partner)? {
            missing.push((product, partner.clone()));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let store = node.store().clone();
    tokio::task::spawn_blocking(move || store.add_recipients(&missing)).await??;
    Ok(())
}

/// Reads footprint `id` (a lowercase uuid) for `caller`: decided, audited, counted, and the
/// caller recorded as a recipient of its products. A footprint the caller may not see is
/// [`DisclosureError::NotFound`], exactly like one that does not exist.
pub async fn read_one<R: Render>(
    node: &Node,
    caller: &Caller,
    id: &str,
    render: R,
) -> Result<Served<R::Item>, DisclosureError> {
    let method = caller.door.method(Operation::GetFootprint);
    let requests_today = reads_today(node, caller)?;
    let Some(own) = node.store().own_footprint_shared(id)? else {
        let decision = deny("no such footprint");
        audit(node, caller, method, vec![id.to_string()], &decision, None).await?;
        return Err(DisclosureError::NotFound(id.to_string()));
    };
    let decision = decide(node, caller, &own, requests_today);
    let item = decision
        .view()
        .map(|view| render.render(&own, view))
        .transpose()?;
    // A footprint stored before publish refused oversize ones (or under a larger limit)
    // may not fit an answer at all: say so, rather than fail in the encoder.
    let max = node.config().max_message_bytes;
    let too_large = item
        .as_ref()
        .filter(|_| render.oversize() == Oversize::Withhold)
        .map(|item| render.item_bytes(item))
        .filter(|bytes| *bytes > max);
    let audited = match too_large {
        Some(bytes) => deny(format!("answer is {bytes} bytes, over the limit of {max}")),
        None => decision,
    };
    let served = item.is_some() && too_large.is_none();
    let counter = served.then(|| caller.partner.company_id.clone());
    audit(
        node,
        caller,
        method,
        vec![id.to_string()],
        &audited,
        counter,
    )
    .await?;
    let Some(item) = item else {
        return Err(DisclosureError::NotFound(id.to_string()));
    };
    if let Some(bytes) = too_large {
        return Err(DisclosureError::TooLarge {
            id: id.to_string(),
            bytes,
            max,
        });
    }
    note_recipients(node, caller, own.footprint.product_ids.iter().cloned()).await?;
    Ok(Served {
        item,
        decision: audited,
    })
}

/// Lists one page of own footprints for `caller`: those matching the filter that policy
/// discloses, in id order, until `limit` are found or the next one would take the answer
/// over `[limits] max_message_bytes`. The page is audited (one entry), counted when it
/// discloses anything, and the caller recorded as a recipient of the products it received.
pub async fn list_page<R: Render>(
    node: &Node,
    caller: &Caller,
    request: PageRequest,
    render: R,
) -> Result<Page<R::Item>, DisclosureError> {
    let requests_today = reads_today(node, caller)?;
    let (scan_node, scan_caller, filter) = (node.clone(), caller.clone(), request.filter.clone());
    let scanned = tokio::task::spawn_blocking(move || {
        scan(&scan_node, &scan_caller, &request, render, requests_today)
    })
    .await??;
    let Scanned {
        items,
        ids,
        products,
        next,
        withheld,
        last_denial,
        view,
    } = scanned;
    let decision = match (view, last_denial) {
        (Some(view), _) => Decision::Permit {
            policy: String::new(),
            rule: format!("{} footprint(s) disclosed", items.len()),
            view,
        },
        (None, Some(denial)) => denial,
        (None, None) => deny("no footprint matches the filters"),
    };
    let targets = if filter.product_id.is_empty() {
        ids
    } else {
        filter.product_id.clone()
    };
    let counter = (!items.is_empty()).then(|| caller.partner.company_id.clone());
    let method = caller.door.method(Operation::ListFootprints);
    audit(node, caller, method, targets, &decision, counter).await?;
    note_recipients(node, caller, products).await?;
    Ok(Page {
        items,
        next,
        withheld,
        decision,
    })
}

/// A page as the scan filled it.
struct Scanned<T> {
    items: Vec<T>,
    /// The ids of `items`.
    ids: Vec<String>,
    /// The product ids of `items`, lowercase.
    products: BTreeSet<String>,
    next: Option<String>,
    withheld: Vec<String>,
    /// The last denial seen (the audit entry's decision when nothing was disclosed).
    last_denial: Option<Decision>,
    /// The view of the first disclosed footprint.
    view: Option<View>,
}

/// A page being filled: by count (`limit`) and by encoded size (`max` bytes in all).
struct PageBuilder<R: Render> {
    page: Scanned<R::Item>,
    render: R,
    limit: usize,
    max: usize,
    bytes: usize,
    /// The id of the last footprint placed on the page or withheld: where the next page
    /// starts after.
    consumed: Option<String>,
}

impl<R: Render> PageBuilder<R> {
    /// Considers the next matching footprint; returns the page when it is full (`own` then
    /// starts the next one).
    fn offer(
        &mut self,
        node: &Node,
        caller: &Caller,
        own: &OwnFootprint,
        requests_today: u32,
    ) -> Result<bool, DisclosureError> {
        let view = match decide(node, caller, own, requests_today) {
            denial @ Decision::Deny { .. } => {
                self.page.last_denial = Some(denial);
                return Ok(false);
            }
            permit => permit.view().unwrap_or(View::Summary),
        };
        let id = own.footprint.id.to_ascii_lowercase();
        let item = self.render.render(own, view)?;
        let item_bytes = self.render.item_bytes(&item);
        let token_bytes = self.render.id_bytes(&id);
        let oversize = self.render.oversize();
        let over = self.bytes + item_bytes + token_bytes > self.max;
        // A footprint too large for any page goes alone on a page of its own where the door
        // can send it (never on a page with others).
        let alone_ok = oversize == Oversize::Alone && self.page.items.is_empty();
        if self.page.items.len() == self.limit || (over && !alone_ok) {
            let never_fits = item_bytes + token_bytes > self.max;
            let withheld_bytes = self.render.id_bytes(&id);
            if oversize == Oversize::Withhold
                && never_fits
                && self.page.withheld.len() < MAX_WITHHELD
                && self.bytes + withheld_bytes + token_bytes <= self.max
            {
                // It can never be sent: name it and go on.
                tracing::warn!(footprint = %id, bytes = item_bytes, max = self.max,
                    "footprint withheld from a list: its answer is over the message limit");
                self.bytes += withheld_bytes;
                self.page.withheld.push(id.clone());
                self.consumed = Some(id);
                return Ok(false);
            }
            self.page.next = self.consumed.take();
            return Ok(true);
        }
        self.bytes += item_bytes;
        self.page.items.push(item);
        self.page.ids.push(own.footprint.id.clone());
        self.page.view.get_or_insert(view);
        self.page.products.extend(
            own.footprint
                .product_ids
                .iter()
                .map(|p| p.to_ascii_lowercase()),
        );
        self.consumed = Some(id);
        Ok(false)
    }
}

/// Walks own footprints in id order from `request.after`, offering those that match the
/// filter to the page until it is full. With a product filter the product index gives the
/// candidates; otherwise every own footprint is scanned.
fn scan<R: Render>(
    node: &Node,
    caller: &Caller,
    request: &PageRequest,
    render: R,
    requests_today: u32,
) -> Result<Scanned<R::Item>, DisclosureError> {
    let store = node.store();
    let mut page = PageBuilder {
        page: Scanned {
            items: Vec::new(),
            ids: Vec::new(),
            products: BTreeSet::new(),
            next: None,
            withheld: Vec::new(),
            last_denial: None,
            view: None,
        },
        render,
        limit: request.limit,
        max: node.config().max_message_bytes,
        bytes: 0,
        consumed: None,
    };
    let filter = &request.filter;
    if !filter.product_id.is_empty() {
        let mut ids = BTreeSet::new();
        for product in &filter.product_id {
            ids.extend(store.own_ids_by_product(product)?);
        }
        let start = request.after.as_deref().unwrap_or("");
        for id in ids.into_iter().filter(|id| id.as_str() > start) {
            let Some(own) = store.own_footprint_shared(&id)? else {
                continue;
            };
            if filter.matches(&own.footprint) && page.offer(node, caller, &own, requests_today)? {
                return Ok(page.page);
            }
        }
        return Ok(page.page);
    }
    let mut cursor = request.after.clone();
    loop {
        let batch = store.own_footprints_page(cursor.as_deref(), SCAN_BATCH)?;
        let Some(last) = batch.last() else {
            return Ok(page.page);
        };
        cursor = Some(last.footprint.id.to_ascii_lowercase());
        for own in &batch {
            if filter.matches(&own.footprint) && page.offer(node, caller, own, requests_today)? {
                return Ok(page.page);
            }
        }
    }
}

/// An incoming footprint request from `caller`: built, decided under `request` policies
/// with its own daily counter, stored (see `Node::receive_request`), audited (counted when
/// new and permitted). Returns the stored request and the decision.
pub async fn receive_request(
    node: &Node,
    caller: &Caller,
    draft: RequestDraft,
) -> Result<(IncomingRequest, Decision), DisclosureError> {
    let counter = request_counter(&caller.partner.company_id);
    let requests_today = node.daily().get(node.store(), &counter, &caller.day())?;
    let at = caller
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut targets = Vec::with_capacity(2 + draft.product_ids.len() + draft.classifications.len());
    targets.push(format!("request:{}", draft.id));
    if let Some(event) = &draft.pact_event_id {
        targets.push(format!("event:{event}"));
    }
    targets.extend(draft.product_ids.iter().cloned());
    targets.extend(draft.classifications.iter().cloned());
    let incoming = IncomingRequest {
        id: draft.id,
        from: caller.partner.company_id.clone(),
        product_ids: draft.product_ids,
        classifications: draft.classifications,
        comment: draft.comment,
        purpose: caller.purpose.clone(),
        status: crate::store::RequestState::Pending,
        answer: None,
        created_at: at.clone(),
        updated_at: at,
        pact_event_id: draft.pact_event_id,
    };
    let (worker, partner, purpose) = (node.clone(), caller.partner.clone(), caller.purpose.clone());
    let (stored, decision, new) = tokio::task::spawn_blocking(move || {
        worker.receive_request(&partner, purpose.as_deref(), incoming, requests_today)
    })
    .await??;
    // The stored id names the request (a repeat returns the one stored first).
    targets[0] = format!("request:{}", stored.id);
    let counted = (new && decision.is_permit()).then_some(counter);
    let method = caller.door.method(Operation::CreateRequest);
    audit(node, caller, method, targets, &decision, counted).await?;
    Ok((stored, decision))
}
