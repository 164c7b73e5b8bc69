//! Tables of the asynchronous exchange: outgoing and incoming footprint requests, the durable
//! outbox, subscriptions, recipients and received notification events.
//!
//! Every state change and the outbox item that carries it to a partner are written in one
//! atomic, durable batch, so a crash can lose neither half alone.

use serde::{Deserialize, Serialize};

use super::domain::{decode, encode};
use super::{
    InboxEntry, OwnFootprint, RequestState, Store, StoreError, Table, Tx, pair_key, pair_prefix,
};
use tanso_model::pact::Status;

/// A request this node sent (or will send) to a supplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingRequest {
    pub id: String,
    /// The supplier's company id.
    pub to: String,
    pub product_ids: Vec<String>,
    pub classifications: Vec<String>,
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Queued, Pending, Undeliverable, then Fulfilled or Rejected.
    pub status: RequestState,
    /// Footprints received with the Fulfilled answer.
    #[serde(default)]
    pub footprint_ids: Vec<String>,
    /// The supplier's reason for a rejection (or why delivery gave up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// For a request sent over PACT (`tanso pact request`): the host's base URL. The request
    /// id is then the RequestCreated event id, and received footprints get provenance
    /// `pact:<url>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pact_url: Option<String>,
}

/// One footprint of a Fulfilled answer and the view policy granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredFootprint {
    pub id: String,
    /// "full" or "summary".
    pub view: String,
}

/// The one answer to an incoming request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Answer {
    Fulfilled { footprints: Vec<AnsweredFootprint> },
    Rejected { reason: String },
}

/// A request a partner sent to this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingRequest {
    pub id: String,
    /// The requester's company id.
    pub from: String,
    pub product_ids: Vec<String>,
    pub classifications: Vec<String>,
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Pending, then Fulfilled or Rejected.
    pub status: RequestState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    pub created_at: String,
    pub updated_at: String,
    /// For a request that came in as a PACT RequestCreated event: that event's id. Its answer
    /// is then a RequestFulfilled/RequestRejected event to the requester's PACT host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pact_event_id: Option<String>,
}

/// What an outbox item delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Delivery {
    /// CreateRequest of an outgoing request.
    SendRequest { request_id: String },
    /// DeliverAnswer of an answered incoming request.
    Answer { request_id: String },
    /// Notify: a new version was published or a footprint deprecated.
    #[serde(rename_all = "camelCase")]
    Notify {
        event_id: String,
        footprint_ids: Vec<String>,
        product_ids: Vec<String>,
    },
    /// UpdateCard: this node's current card after a key rotation (`key_id`: the new key).
    #[serde(rename_all = "camelCase")]
    CardUpdate { key_id: String },
    /// A local job: fetch footprints a partner notified us of into the inbox.
    #[serde(rename_all = "camelCase")]
    Fetch {
        event_id: String,
        footprint_ids: Vec<String>,
    },
    /// A PACT PublishedEvent to the registered PACT host of company `target`: the ids of a
    /// publish batch that company may read.
    #[serde(rename_all = "camelCase")]
    PactPublished {
        event_id: String,
        footprint_ids: Vec<String>,
    },
    /// A local job: fetch footprints named by a PACT PublishedEvent from the registered PACT
    /// host of company `target` into the inbox.
    #[serde(rename_all = "camelCase")]
    PactFetch {
        event_id: String,
        footprint_ids: Vec<String>,
    },
}

/// A durable delivery item, retried until delivered or given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    /// Sorts by creation: 16 hex digits of created ms, '-', a uuid.
    pub id: String,
    /// The partner it goes to (for `Fetch`, the partner it is fetched from).
    pub target: String,
    pub delivery: Delivery,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A (product, partner) pair, for the recipients and subscriptions tables.
pub type ProductPartner = (String, String);

fn pp_key(product: &str, partner: &str) -> Vec<u8> {
    pair_key(&product.to_ascii_lowercase(), &partner.to_ascii_lowercase())
}

/// Stores received footprints within `tx` (replacing an earlier copy of the same id), and
/// marks inbox entries of the same owner named in their `precedingPfIds` Deprecated.
pub(super) fn put_inbox_tx(tx: &mut Tx<'_>, entries: &[InboxEntry]) -> Result<(), StoreError> {
    for e in entries {
        let id = e.id.to_ascii_lowercase();
        if let Some(bytes) = tx.get(Table::Inbox, id.as_bytes())? {
            let old: InboxEntry = decode(Table::Inbox, &bytes)?;
            for p in &old.product_ids {
                tx.delete(
                    Table::InboxByProduct,
                    pair_key(&p.to_ascii_lowercase(), &id),
                );
            }
        }
        tx.put(Table::Inbox, id.clone().into_bytes(), encode(e)?);
        for p in &e.product_ids {
            tx.put(
                Table::InboxByProduct,
                pair_key(&p.to_ascii_lowercase(), &id),
                Vec::new(),
            );
        }
    }
    for e in entries {
        let preceding = e
            .document
            .get("precedingPfIds")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for old_id in preceding.iter().filter_map(serde_json::Value::as_str) {
            let key = old_id.to_ascii_lowercase();
            let Some(bytes) = tx.get(Table::Inbox, key.as_bytes())? else {
                continue;
            };
            let mut old: InboxEntry = decode(Table::Inbox, &bytes)?;
            if !old.from_company.eq_ignore_ascii_case(&e.from_company) {
                continue;
            }
            old.status = Status::Deprecated;
            old.superseded_by = Some(e.id.clone());
            tx.put(Table::Inbox, key.into_bytes(), encode(&old)?);
        }
    }
    Ok(())
}

impl Store {
    // === outgoing requests (requester side) ===

    /// Stores a new outgoing request and the item that sends it, in one batch.
    pub fn enqueue_request(
        &self,
        request: &OutgoingRequest,
        item: &OutboxItem,
    ) -> Result<(), StoreError> {
        let key = request.id.to_ascii_lowercase();
        self.update(|tx| {
            if tx.get(Table::OutgoingRequests, key.as_bytes())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "request {} already exists",
                    request.id
                )));
            }
            tx.put(Table::OutgoingRequests, key.into_bytes(), encode(request)?);
            tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            Ok(())
        })
    }

    /// Stores a new outgoing request sent outside the outbox (a PACT RequestCreated event,
    /// posted by the command itself); `Conflict` when the id exists.
    pub fn put_outgoing(&self, request: &OutgoingRequest) -> Result<(), StoreError> {
        let key = request.id.to_ascii_lowercase();
        self.update(|tx| {
            if tx.get(Table::OutgoingRequests, key.as_bytes())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "request {} already exists",
                    request.id
                )));
            }
            tx.put(Table::OutgoingRequests, key.into_bytes(), encode(request)?);
            Ok(())
        })
    }

    /// Moves a queued outgoing request to `status` (pending once sent, undeliverable with a
    /// reason when sending failed); an answer that already arrived is left as it is.
    pub fn outgoing_sent(
        &self,
        id: &str,
        status: RequestState,
        reason: Option<&str>,
        now: &str,
    ) -> Result<OutgoingRequest, StoreError> {
        let key = id.to_ascii_lowercase();
        self.update(|tx| {
            let mut request: OutgoingRequest =
                match tx.get(Table::OutgoingRequests, key.as_bytes())? {
                    Some(b) => decode(Table::OutgoingRequests, &b)?,
                    None => return Err(StoreError::NotFound(format!("request {id}"))),
                };
            if request.status == RequestState::Queued {
                request.status = status;
                request.reason = reason.map(str::to_string);
                request.updated_at = now.to_string();
                tx.put(Table::OutgoingRequests, key.into_bytes(), encode(&request)?);
            }
            Ok(request)
        })
    }

    pub fn outgoing_request(&self, id: &str) -> Result<Option<OutgoingRequest>, StoreError> {
        self.get(Table::OutgoingRequests, id.to_ascii_lowercase().as_bytes())?
            .map(|b| decode(Table::OutgoingRequests, &b))
            .transpose()
    }

    pub fn outgoing_requests(&self) -> Result<Vec<OutgoingRequest>, StoreError> {
        self.scan(Table::OutgoingRequests, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::OutgoingRequests, &v))
            .collect()
    }

    /// Applies the supplier's answer to an outgoing request: received footprints go to the
    /// inbox and the status to fulfilled or rejected, in one batch. `Ok(false)` when the
    /// request was already answered (a repeated delivery changes nothing); `NotFound` when
    /// there is no such request to `from`.
    pub fn answer_outgoing(
        &self,
        id: &str,
        from: &str,
        fulfilled: Option<&[InboxEntry]>,
        reason: Option<&str>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let key = id.to_ascii_lowercase();
        self.update(|tx| {
            let mut request: OutgoingRequest =
                match tx.get(Table::OutgoingRequests, key.as_bytes())? {
                    Some(b) => decode(Table::OutgoingRequests, &b)?,
                    None => return Err(StoreError::NotFound(format!("request {id}"))),
                };
            if !request.to.eq_ignore_ascii_case(from) {
                return Err(StoreError::NotFound(format!("request {id}")));
            }
            if request.status.is_answered() {
                return Ok(false);
            }
            match fulfilled {
                Some(entries) => {
                    put_inbox_tx(tx, entries)?;
                    request.status = RequestState::Fulfilled;
                    request.footprint_ids = entries.iter().map(|e| e.id.clone()).collect();
                    request.reason = None;
                }
                None => {
                    request.status = RequestState::Rejected;
                    request.reason = reason.map(str::to_string);
                }
            }
            request.updated_at = now.to_string();
            tx.put(Table::OutgoingRequests, key.into_bytes(), encode(&request)?);
            Ok(true)
        })
    }

    // === incoming requests (supplier side) ===

    /// Stores a new incoming request with its answer item (if answered at once) and the
    /// recipients that answer makes, in one batch. When the id is already stored from the
    /// same requester, returns the stored request and writes nothing (idempotent);
    /// `Conflict` when another partner used that id.
    pub fn accept_incoming(
        &self,
        request: &IncomingRequest,
        item: Option<&OutboxItem>,
        recipients: &[ProductPartner],
    ) -> Result<(IncomingRequest, bool), StoreError> {
        let key = request.id.to_ascii_lowercase();
        self.update(|tx| {
            if let Some(b) = tx.get(Table::IncomingRequests, key.as_bytes())? {
                let existing: IncomingRequest = decode(Table::IncomingRequests, &b)?;
                if !existing.from.eq_ignore_ascii_case(&request.from) {
                    return Err(StoreError::Conflict(format!(
                        "request id {} is already in use",
                        request.id
                    )));
                }
                return Ok((existing, false));
            }
            tx.put(Table::IncomingRequests, key.into_bytes(), encode(request)?);
            if let Some(item) = item {
                tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            }
            for (p, partner) in recipients {
                tx.put(Table::Recipients, pp_key(p, partner), Vec::new());
            }
            Ok((request.clone(), true))
        })
    }

    /// Answers a pending incoming request: status, answer, the delivery item and the
    /// recipients, in one batch. `Conflict` when it was already answered.
    pub fn answer_incoming(
        &self,
        id: &str,
        answer: &Answer,
        item: &OutboxItem,
        recipients: &[ProductPartner],
        now: &str,
    ) -> Result<IncomingRequest, StoreError> {
        let key = id.to_ascii_lowercase();
        self.update(|tx| {
            let mut request: IncomingRequest =
                match tx.get(Table::IncomingRequests, key.as_bytes())? {
                    Some(b) => decode(Table::IncomingRequests, &b)?,
                    None => return Err(StoreError::NotFound(format!("request {id}"))),
                };
            if request.status != RequestState::Pending {
                return Err(StoreError::Conflict(format!(
                    "request {id} was already answered ({})",
                    request.status
                )));
            }
            request.status = match answer {
                Answer::Fulfilled { .. } => RequestState::Fulfilled,
                Answer::Rejected { .. } => RequestState::Rejected,
            };
            request.answer = Some(answer.clone());
            request.updated_at = now.to_string();
            tx.put(Table::IncomingRequests, key.into_bytes(), encode(&request)?);
            tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            for (p, partner) in recipients {
                tx.put(Table::Recipients, pp_key(p, partner), Vec::new());
            }
            Ok(request)
        })
    }

    pub fn incoming_request(&self, id: &str) -> Result<Option<IncomingRequest>, StoreError> {
        self.get(Table::IncomingRequests, id.to_ascii_lowercase().as_bytes())?
            .map(|b| decode(Table::IncomingRequests, &b))
            .transpose()
    }

    pub fn incoming_requests(&self) -> Result<Vec<IncomingRequest>, StoreError> {
        self.scan(Table::IncomingRequests, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::IncomingRequests, &v))
            .collect()
    }

    // === outbox ===

    /// Every outbox item in creation order.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.scan(Table::Outbox, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::Outbox, &v))
            .collect()
    }

    pub fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.get(Table::Outbox, id.as_bytes())?
            .map(|b| decode(Table::Outbox, &b))
            .transpose()
    }

    /// Removes a delivered item; a delivered request moves from queued to pending.
    pub fn outbox_delivered(&self, item: &OutboxItem, now: &str) -> Result<(), StoreError> {
        self.update(|tx| {
            tx.delete(Table::Outbox, item.id.clone().into_bytes());
            if let Delivery::SendRequest { request_id } = &item.delivery {
                let key = request_id.to_ascii_lowercase();
                if let Some(b) = tx.get(Table::OutgoingRequests, key.as_bytes())? {
                    let mut request: OutgoingRequest = decode(Table::OutgoingRequests, &b)?;
                    if request.status == RequestState::Queued {
                        request.status = RequestState::Pending;
                        request.updated_at = now.to_string();
                        tx.put(Table::OutgoingRequests, key.into_bytes(), encode(&request)?);
                    }
                }
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Stores an item's next attempt (when it is still queued).
    pub fn outbox_retry(&self, item: &OutboxItem) -> Result<(), StoreError> {
        self.update(|tx| {
            if tx.get(Table::Outbox, item.id.as_bytes())?.is_some() {
                tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Drops an item that could not be delivered in time; a request becomes undeliverable.
    pub fn outbox_give_up(
        &self,
        item: &OutboxItem,
        reason: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        self.update(|tx| {
            tx.delete(Table::Outbox, item.id.clone().into_bytes());
            if let Delivery::SendRequest { request_id } = &item.delivery {
                let key = request_id.to_ascii_lowercase();
                if let Some(b) = tx.get(Table::OutgoingRequests, key.as_bytes())? {
                    let mut request: OutgoingRequest = decode(Table::OutgoingRequests, &b)?;
                    if request.status == RequestState::Queued {
                        request.status = RequestState::Undeliverable;
                        request.reason = Some(reason.to_string());
                        request.updated_at = now.to_string();
                        tx.put(Table::OutgoingRequests, key.into_bytes(), encode(&request)?);
                    }
                }
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Puts items in the outbox (one batch).
    pub fn enqueue(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        self.update(|tx| {
            for item in items {
                tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            }
            Ok::<_, StoreError>(())
        })
    }

    // === the card announced to partners ===

    /// The card this node last announced to its partners (its JSON, as recorded), if any.
    pub fn announced_card(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Meta, META_ANNOUNCED_CARD)
    }

    /// Records `card` (JSON) as announced, with the outbox items that carry it to partners,
    /// in one batch.
    pub fn announce_card(&self, card: &[u8], items: &[OutboxItem]) -> Result<(), StoreError> {
        self.update(|tx| {
            tx.put(Table::Meta, META_ANNOUNCED_CARD.to_vec(), card.to_vec());
            outbox_puts(tx, items)
        })
    }

    // === own footprints with notifications ===

    /// [`Store::publish_batch`] plus the notification items it causes, in the same batch.
    pub fn publish_batch_notify(
        &self,
        new: &[OwnFootprint],
        deprecated: &[OwnFootprint],
        items: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let _writers = self.bulk.footprint_writers();
        self.update(|tx| {
            super::domain::publish_tx(tx, new, deprecated)?;
            outbox_puts(tx, items)
        })
    }

    // === subscriptions and recipients (supplier side) ===

    /// Adds (or with `on == false` removes) subscriptions of `partner` to products.
    pub fn set_subscriptions(
        &self,
        products: &[String],
        partner: &str,
        on: bool,
    ) -> Result<(), StoreError> {
        self.update(|tx| {
            for p in products {
                if on {
                    tx.put(Table::Subscriptions, pp_key(p, partner), Vec::new());
                } else {
                    tx.delete(Table::Subscriptions, pp_key(p, partner));
                }
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Partners subscribed to `product`.
    pub fn subscribers(&self, product: &str) -> Result<Vec<String>, StoreError> {
        self.pp_partners(Table::Subscriptions, product)
    }

    /// Partners that received a footprint of `product`.
    pub fn recipients(&self, product: &str) -> Result<Vec<String>, StoreError> {
        self.pp_partners(Table::Recipients, product)
    }

    pub fn is_recipient(&self, product: &str, partner: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(Table::Recipients, &pp_key(product, partner))?
            .is_some())
    }

    /// Records that partners received footprints of products.
    pub fn add_recipients(&self, pairs: &[ProductPartner]) -> Result<(), StoreError> {
        self.update(|tx| {
            for (p, partner) in pairs {
                tx.put(Table::Recipients, pp_key(p, partner), Vec::new());
            }
            Ok::<_, StoreError>(())
        })
    }

    fn pp_partners(&self, table: Table, product: &str) -> Result<Vec<String>, StoreError> {
        let prefix = pair_prefix(&product.to_ascii_lowercase());
        Ok(self
            .scan(table, &prefix, None, usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    // === notification events (receiver side) ===

    /// Records a notification event from `from` with its fetch job, in one batch.
    /// `Ok(false)` when the event was seen before (nothing is written).
    pub fn record_event(
        &self,
        from: &str,
        event_id: &str,
        job: Option<&OutboxItem>,
    ) -> Result<bool, StoreError> {
        let key = pair_key(&from.to_ascii_lowercase(), &event_id.to_ascii_lowercase());
        self.update(|tx| {
            if tx.get(Table::SeenEvents, &key)?.is_some() {
                return Ok(false);
            }
            tx.put(Table::SeenEvents, key.clone(), Vec::new());
            if let Some(item) = job {
                tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
            }
            Ok::<_, StoreError>(true)
        })
    }

    /// Stores fetched footprints in the inbox and removes the fetch job, in one batch.
    pub fn complete_fetch(&self, entries: &[InboxEntry], job_id: &str) -> Result<(), StoreError> {
        self.update(|tx| {
            put_inbox_tx(tx, entries)?;
            tx.delete(Table::Outbox, job_id.as_bytes().to_vec());
            Ok(())
        })
    }
}

/// Puts outbox items within a transaction.
/// Meta key of the card last announced to partners ([`Store::announce_card`]).
const META_ANNOUNCED_CARD: &[u8] = b"card/announced";

pub(super) fn outbox_puts(tx: &mut Tx<'_>, items: &[OutboxItem]) -> Result<(), StoreError> {
    for item in items {
        tx.put(Table::Outbox, item.id.clone().into_bytes(), encode(item)?);
    }
    Ok(())
}
