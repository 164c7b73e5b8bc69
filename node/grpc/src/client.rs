//! The peer client: pinned-TLS channels to partners, signed envelopes, and `fetch`.

use chrono::{SecondsFormat, Utc};
use prost::Message;
use proto::pb;
use serde_json::Value;
use tonic::transport::Channel;

pub use tanso_core::peer::{Deadlines, PeerPool, connect_lazy, connect_pinned, with_causes};

use tanso_core::card::NodeCard;
use tanso_core::error::NodeError;
use tanso_core::node::Node;
use tanso_core::pact::{self, Status, ValidationContext};
use tanso_core::signed;
use tanso_core::store::{InboxEntry, SignatureStatus};

use super::{
    METHOD_CREATE_REQUEST, METHOD_DELIVER_ANSWER, METHOD_GET_CARD, METHOD_GET_FOOTPRINT,
    METHOD_LIST_FOOTPRINTS, METHOD_NOTIFY, METHOD_SUBSCRIBE, METHOD_UPDATE_CARD, auth,
};
use tanso_core::policy::View;
use tanso_core::store::{OutgoingRequest, OwnFootprint};

/// A peer client bound to one partner.
pub struct PeerClient {
    node: Node,
    card: NodeCard,
    client: pb::connector_client::ConnectorClient<Channel>,
    purpose: Option<String>,
    deadlines: Deadlines,
}

/// The card of `company_id` to reach it by: a partner's pinned card, or else the card of a
/// member of a trusted directory, discovered now (fresh within the TTL, the stale cache while
/// a directory is down). Every peer operation finds its peer this one way.
pub async fn discover(node: &Node, company_id: &str) -> Result<NodeCard, NodeError> {
    if node.partner(company_id)?.is_none() {
        node.directories().resolve(node, company_id).await?;
    }
    node.peer_card(company_id)?
        .ok_or_else(|| NodeError::UnknownPartner(company_id.to_string()))
}

impl PeerClient {
    /// A client for a partner or a member of a trusted directory (see [`discover`]).
    pub async fn discover(
        node: &Node,
        company_id: &str,
        purpose: Option<&str>,
    ) -> Result<PeerClient, NodeError> {
        discover(node, company_id).await?;
        PeerClient::for_partner(node, company_id, purpose)
    }

    /// A client for a peer whose card is known here (a partner, or a directory member
    /// already discovered); [`PeerClient::discover`] looks in the directories first.
    pub fn for_partner(
        node: &Node,
        company_id: &str,
        purpose: Option<&str>,
    ) -> Result<PeerClient, NodeError> {
        let card = node
            .peer_card(company_id)?
            .ok_or_else(|| NodeError::UnknownPartner(company_id.to_string()))?;
        let channel = node.peers().channel(node, &card)?;
        let max = node.config().max_message_bytes;
        Ok(PeerClient {
            node: node.clone(),
            card,
            client: pb::connector_client::ConnectorClient::new(channel)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            purpose: purpose.map(str::to_string),
            deadlines: Deadlines::of_peers(node.config()),
        })
    }

    /// One call within the call deadline; a status the peer (or the transport) returned
    /// stays a status, the deadline becomes an error naming the peer and the setting.
    async fn within<R>(
        &self,
        call: impl std::future::Future<Output = Result<R, tonic::Status>>,
    ) -> Result<Result<R, tonic::Status>, NodeError> {
        tokio::time::timeout(self.deadlines.call, call)
            .await
            .map_err(|_| NodeError::Peer {
                peer: self.card.company_id.clone(),
                reason: self.deadlines.call_elapsed(),
            })
    }

    fn seal(&self, method: &str, body: Vec<u8>) -> Result<pb::Envelope, NodeError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| NodeError::Internal(format!("randomness: {e}")))?;
        let key = self.node.key();
        Ok(auth::Seal {
            key: &key,
            caller: self.node.company_id(),
            audience: &self.card.company_id,
            method,
            purpose: self.purpose.as_deref(),
            nonce,
            issued_at_ms: self.node.clock().now_ms(),
        }
        .envelope(body))
    }

    /// Seals `body` for `method` and calls `call`. When the partner answers that it does not
    /// know our signing key (it has not yet received the card of our latest key rotation),
    /// our current card is pushed with UpdateCard and the call made once more, freshly sealed;
    /// when it answers that the key was retired (we sealed just before a rotation), the call
    /// is made once more, sealed with the current key.
    async fn rpc<R, F, Fut>(&self, method: &str, body: Vec<u8>, call: F) -> Result<R, NodeError>
    where
        F: Fn(pb::connector_client::ConnectorClient<Channel>, pb::Envelope) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let envelope = self.seal(method, body.clone())?;
        match self.within(call(self.client.clone(), envelope)).await? {
            Ok(response) => Ok(response.into_inner()),
            Err(status) if method != METHOD_UPDATE_CARD && auth::is_unknown_key(&status) => {
                tracing::info!(peer = %self.card.company_id, "partner does not know our key yet; sending our card");
                self.update_card().await?;
                let envelope = self.seal(method, body)?;
                self.within(call(self.client.clone(), envelope))
                    .await?
                    .map(tonic::Response::into_inner)
                    .map_err(|s| self.peer_error(s))
            }
            // Sealed with the key a rotation retired a moment ago: once more, with the new key.
            Err(status) if auth::is_retired_key(&status) => {
                let envelope = self.seal(method, body)?;
                self.within(call(self.client.clone(), envelope))
                    .await?
                    .map(tonic::Response::into_inner)
                    .map_err(|s| self.peer_error(s))
            }
            Err(status) => {
                if auth::is_wrong_audience(&status) {
                    // The pooled connection reaches another node than the card's (the
                    // partner moved): the next call connects afresh.
                    self.node.peers().forget(&self.card.company_id);
                }
                Err(self.peer_error(status))
            }
        }
    }

    /// UpdateCard: sends this node's current card (with its key history) to the partner.
    pub async fn update_card(&self) -> Result<(), NodeError> {
        let card = self.node.card()?;
        let card_json =
            serde_json::to_string(&card).map_err(|e| NodeError::Internal(e.to_string()))?;
        let body = pb::CardUpdate { card_json }.encode_to_vec();
        let envelope = self.seal(METHOD_UPDATE_CARD, body)?;
        let mut client = self.client.clone();
        self.within(client.update_card(envelope))
            .await?
            .map_err(|s| self.peer_error(s))?;
        Ok(())
    }

    /// GetCard: asks the partner for its current card and adopts it when it succeeds the
    /// pinned card (see [`Node::accept_card_update`]); used when the partner signed something
    /// with a key its pinned card does not list.
    pub async fn refresh_card(&mut self) -> Result<(), NodeError> {
        // A directory member (no pinned partner card): ask the directories again; the new
        // credential must carry a key history that chains from the key known so far.
        let company = self.card.company_id.clone();
        if self.node.partner(&company)?.is_none() {
            let directories = self.node.directories();
            directories.invalidate(&company);
            directories.resolve(&self.node, &company).await?;
            let card = self
                .node
                .peer_card(&company)?
                .ok_or_else(|| NodeError::UnknownPartner(company.clone()))?;
            card.chains_from(&self.card).map_err(|e| NodeError::Peer {
                peer: company.clone(),
                reason: format!("its directory entry does not succeed the key known here: {e}"),
            })?;
            self.card = card;
            return Ok(());
        }
        let body = pb::CardRequest {}.encode_to_vec();
        let answer = self
            .rpc(METHOD_GET_CARD, body, |mut c, e| async move {
                c.get_card(e).await
            })
            .await?;
        let card = NodeCard::parse(&answer.card_json).map_err(|e| NodeError::Peer {
            peer: self.card.company_id.clone(),
            reason: format!("sent an invalid card: {e}"),
        })?;
        let node = self.node.clone();
        let from = self.card.company_id.clone();
        let adopted = card.clone();
        tokio::task::spawn_blocking(move || node.accept_card_update(&from, &adopted))
            .await
            .map_err(|_| NodeError::Internal("card update task failed".into()))??;
        self.card = card;
        Ok(())
    }

    /// Refreshes the partner's card when one of `footprints` is signed by a key the pinned
    /// card does not list (the partner rotated and its card update has not arrived yet).
    async fn refresh_for(&mut self, footprints: &[pb::SignedFootprint]) -> Result<(), NodeError> {
        let unknown = footprints.iter().any(|f| {
            f.signature
                .as_ref()
                .is_some_and(|s| self.card.public_key_by_id(&s.key_id).is_none())
        });
        if unknown {
            self.refresh_card().await?;
        }
        Ok(())
    }

    fn peer_error(&self, status: tonic::Status) -> NodeError {
        let peer = self.card.company_id.clone();
        match status.code() {
            tonic::Code::NotFound | tonic::Code::PermissionDenied => NodeError::PeerDenied {
                peer,
                reason: format!(
                    "{} (not shared with you, or it does not exist)",
                    status.message()
                ),
            },
            tonic::Code::Unauthenticated => NodeError::PeerDenied {
                peer,
                reason: format!("it did not accept our signed request: {}", status.message()),
            },
            tonic::Code::InvalidArgument => NodeError::BadRequest(format!(
                "peer {peer} rejected the request: {}",
                status.message()
            )),
            _ => NodeError::Peer {
                peer,
                reason: format!("unreachable or failed: {}", with_causes(&status)),
            },
        }
    }

    /// GetFootprint.
    pub async fn get(&mut self, id: &str) -> Result<pb::SignedFootprint, NodeError> {
        let body = pb::GetFootprintRequest { id: id.to_string() }.encode_to_vec();
        let response = self
            .rpc(METHOD_GET_FOOTPRINT, body, |mut c, e| async move {
                c.get_footprint(e).await
            })
            .await?;
        response.footprint.ok_or_else(|| NodeError::Peer {
            peer: self.card.company_id.clone(),
            reason: "empty answer".into(),
        })
    }

    /// Every page of a ListFootprints; also the ids the owner withheld because their answer
    /// is over its message limit.
    pub async fn list_all(
        &mut self,
        mut request: pb::ListFootprintsRequest,
    ) -> Result<(Vec<pb::SignedFootprint>, Vec<String>), NodeError> {
        let mut out = Vec::new();
        let mut withheld = Vec::new();
        loop {
            let page = self
                .rpc(
                    METHOD_LIST_FOOTPRINTS,
                    request.encode_to_vec(),
                    |mut c, e| async move { c.list_footprints(e).await },
                )
                .await?;
            out.extend(page.footprints);
            // Bounded like everything a peer sends: the ids of a few pages at most.
            withheld.extend(
                page.withheld_ids
                    .into_iter()
                    .filter(|id| tanso_core::ids::is_uuid(id))
                    .take(MAX_WITHHELD_KEPT.saturating_sub(withheld.len())),
            );
            if page.next_page_token.is_empty() {
                return Ok((out, withheld));
            }
            request.page_token = page.next_page_token;
        }
    }

    pub fn card(&self) -> &NodeCard {
        &self.card
    }

    /// CreateRequest: sends an outgoing request; returns the supplier's status for it.
    pub async fn create_request(&mut self, request: &OutgoingRequest) -> Result<String, NodeError> {
        let body = pb::FootprintRequest {
            request_id: request.id.clone(),
            product_id: request.product_ids.clone(),
            classification: request.classifications.clone(),
            comment: request.comment.clone(),
        }
        .encode_to_vec();
        let response = self
            .rpc(METHOD_CREATE_REQUEST, body, |mut c, e| async move {
                c.create_request(e).await
            })
            .await?;
        Ok(response.status)
    }

    /// DeliverAnswer: the answer to `request`, carrying `footprints` in their views when
    /// it was fulfilled (`reason` when it was rejected).
    pub async fn deliver_answer(
        &mut self,
        request_id: &str,
        footprints: Option<&[(OwnFootprint, View)]>,
        reason: &str,
    ) -> Result<(), NodeError> {
        let outcome = match footprints {
            Some(list) => pb::request_answer::Outcome::Fulfilled(pb::FulfilledAnswer {
                footprints: list
                    .iter()
                    .map(|(own, view)| super::wire::signed_footprint(own, *view))
                    .collect(),
            }),
            None => pb::request_answer::Outcome::Rejected(pb::RejectedAnswer {
                reason: reason.to_string(),
            }),
        };
        let body = pb::RequestAnswer {
            request_id: request_id.to_string(),
            outcome: Some(outcome),
        }
        .encode_to_vec();
        self.rpc(METHOD_DELIVER_ANSWER, body, |mut c, e| async move {
            c.deliver_answer(e).await
        })
        .await?;
        Ok(())
    }

    /// Notify: a Published notification.
    pub async fn notify(
        &mut self,
        event_id: &str,
        footprint_ids: &[String],
        product_ids: &[String],
    ) -> Result<(), NodeError> {
        let body = pb::PublishedNotification {
            event_id: event_id.to_string(),
            footprint_ids: footprint_ids.to_vec(),
            product_ids: product_ids.to_vec(),
        }
        .encode_to_vec();
        self.rpc(
            METHOD_NOTIFY,
            body,
            |mut c, e| async move { c.notify(e).await },
        )
        .await?;
        Ok(())
    }

    /// Subscribe (or unsubscribe) to products.
    pub async fn subscribe(
        &mut self,
        product_ids: &[String],
        unsubscribe: bool,
    ) -> Result<(), NodeError> {
        let body = pb::Subscription {
            product_id: product_ids.to_vec(),
            unsubscribe,
        }
        .encode_to_vec();
        self.rpc(METHOD_SUBSCRIBE, body, |mut c, e| async move {
            c.subscribe(e).await
        })
        .await?;
        Ok(())
    }

    /// GetFootprint of each id, verified; ids the partner does not (or no longer) share
    /// and footprints that fail verification are left out and logged.
    pub async fn fetch_verified(&mut self, ids: &[String]) -> Result<Vec<InboxEntry>, NodeError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let got = self.get(id).await;
            if let Ok(fp) = &got {
                self.refresh_for(std::slice::from_ref(fp)).await?;
            }
            match got {
                Ok(fp) => match verify_received(&self.card, fp) {
                    Ok(entry) => out.push(entry),
                    Err(reason) => tracing::warn!(
                        peer = %self.card.company_id, footprint = %id, %reason,
                        "notified footprint dropped"
                    ),
                },
                Err(NodeError::PeerDenied { reason, .. }) => tracing::info!(
                    peer = %self.card.company_id, footprint = %id, %reason,
                    "notified footprint not shared with us"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Checks a footprint received from the partner of `card`: the owner signature must be by
/// the key on its card (the current key or one its key history retired) and verify, and `companyIds` must include the partner. Returns the
/// inbox entry (validation findings attached), or why it was refused.
pub fn verify_received(
    card: &NodeCard,
    signed_fp: pb::SignedFootprint,
) -> Result<InboxEntry, String> {
    let received = super::wire::received(signed_fp)
        .map_err(|reason| format!("sent a malformed footprint: {reason}"))?;
    if card.public_key_by_id(&received.sig.key_id) != Some(received.sig.public_key.as_str())
        || !received
            .sig
            .company_id
            .eq_ignore_ascii_case(&card.company_id)
    {
        return Err("sent a footprint signed by a key that is not on its card".into());
    }
    signed::verify_view(&received.json, &received.sig)
        .map_err(|e| format!("sent a footprint whose owner signature fails: {e}"))?;
    let owns = received
        .json
        .get("companyIds")
        .and_then(Value::as_array)
        .is_some_and(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .any(|c| c.eq_ignore_ascii_case(&card.company_id))
        });
    if !owns {
        return Err("sent a footprint whose companyIds do not include the sender".into());
    }
    let findings = if received.view == signed::VIEW_FULL {
        pact::validate(
            &received.json,
            &ValidationContext {
                own_company_id: Some(card.company_id.clone()),
            },
        )
        .into_iter()
        .map(|f| f.to_string())
        .collect()
    } else {
        Vec::new()
    };
    let id = received
        .json
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let product_ids = received
        .json
        .get("productIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let status = match received.json.get("status").and_then(Value::as_str) {
        None => Status::Active,
        Some(text) => text
            .parse()
            .map_err(|e| format!("sent a footprint with a bad status: {e}"))?,
    };
    let document = signed::attach(received.json, &received.sig);
    Ok(InboxEntry {
        id,
        document,
        view: received.view.to_string(),
        provenance: format!("node:{}", card.company_id),
        from_company: card.company_id.clone(),
        received_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        signature_status: SignatureStatus::Verified,
        findings,
        product_ids,
        status,
        superseded_by: None,
    })
}

/// What to fetch.
#[derive(Debug, Clone)]
pub enum FetchWhat {
    Id(String),
    Products(Vec<String>),
}

/// Withheld ids a product fetch keeps (see [`Fetched::withheld`]).
const MAX_WITHHELD_KEPT: usize = 1000;

/// What [`fetch_reporting`] got.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The footprints, as PACT JSON with their owner signatures.
    pub documents: Vec<Value>,
    /// Footprints of the products asked for that the owner may disclose but could not send:
    /// each one's answer is over the owner's message limit (`[limits] max_message_bytes`).
    pub withheld: Vec<String>,
}

/// Sends the signed request, verifies every footprint against the partner's key, keeps
/// them in the inbox (with validation findings attached) and returns them as PACT JSON
/// carrying their owner signatures. A footprint whose signature fails is refused, and
/// nothing of that answer is stored.
pub async fn fetch(
    node: &Node,
    from: &str,
    what: FetchWhat,
    purpose: Option<&str>,
) -> Result<Vec<Value>, NodeError> {
    Ok(fetch_reporting(node, from, what, purpose).await?.documents)
}

/// [`fetch`], also naming the footprints the owner withheld as too large to send.
pub async fn fetch_reporting(
    node: &Node,
    from: &str,
    what: FetchWhat,
    purpose: Option<&str>,
) -> Result<Fetched, NodeError> {
    let mut client = PeerClient::discover(node, from, purpose).await?;
    let mut withheld = Vec::new();
    let wire = match &what {
        FetchWhat::Id(id) => vec![client.get(id).await?],
        FetchWhat::Products(ids) => {
            let (list, too_large) = client
                .list_all(pb::ListFootprintsRequest {
                    product_id: ids.clone(),
                    ..Default::default()
                })
                .await?;
            if list.is_empty() && too_large.is_empty() {
                return Err(NodeError::PeerDenied {
                    peer: from.to_string(),
                    reason: "no footprint of those products is shared with you".into(),
                });
            }
            withheld = too_large;
            list
        }
    };
    client.refresh_for(&wire).await?;
    let card = client.card().clone();
    let mut entries = Vec::with_capacity(wire.len());
    let mut documents = Vec::with_capacity(wire.len());
    for signed_fp in wire {
        let entry = verify_received(&card, signed_fp).map_err(|reason| NodeError::Peer {
            peer: from.to_string(),
            reason,
        })?;
        documents.push(entry.document.clone());
        entries.push(entry);
    }
    let node = node.clone();
    tokio::task::spawn_blocking(move || node.exchange().put_inbox(&entries))
        .await
        .map_err(|_| NodeError::Internal("inbox write task failed".into()))??;
    for id in &withheld {
        tracing::warn!(peer = %from, footprint = %id,
            "footprint withheld by its owner: its answer is over the owner's message limit");
    }
    Ok(Fetched {
        documents,
        withheld,
    })
}
