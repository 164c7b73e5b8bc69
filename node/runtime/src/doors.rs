//! The doors a node reaches partners through, as core's [`Transport`]: peer deliveries over
//! gRPC or as PACT events, the gRPC answer size publish checks, and the PACT PublishedEvents a
//! publish announces. [`open`] opens a node with them; it is how every tool opens a node.

use std::sync::Arc;

use tanso_core::error::NodeError;
use tanso_core::home::Home;
use tanso_core::node::{Host, Node};
use tanso_core::store::{Answer, Delivery, OutboxItem, OwnFootprint};
use tanso_core::transport::{Announcer, BoxFuture, Transport};
use tanso_grpc::client::PeerClient;

/// gRPC peers and PACT hosts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Doors;

impl Transport for Doors {
    fn deliver<'a>(
        &'a self,
        node: &'a Node,
        item: &'a OutboxItem,
    ) -> BoxFuture<'a, Result<(), NodeError>> {
        Box::pin(deliver(node, item))
    }

    fn answer_bytes(&self, own: &OwnFootprint) -> usize {
        tanso_grpc::wire::answer_bytes(own)
    }

    fn announcer(
        &self,
        node: &Node,
        note: &mut dyn FnMut(String),
    ) -> Result<Box<dyn Announcer>, NodeError> {
        Ok(Box::new(tanso_pact_api::events::PublishedHosts::load(
            node, note,
        )?))
    }
}

/// Opens the node in `home` with its doors (see [`open_with`]).
pub fn open(home: &Home) -> Result<Node, NodeError> {
    open_with(home, None)
}

/// Opens the node in `home` with its doors and, when the binary knows its allocator, the
/// reader of its statistics for `/metrics`. When the PACT API will serve, its clients file
/// and key are checked first: a loose or damaged one stops the start here (exit 64) rather
/// than leaving the API silently unserved.
pub fn open_with(
    home: &Home,
    allocator_stats: Option<tanso_core::metrics::AllocatorStatsFn>,
) -> Result<Node, NodeError> {
    let config = home.load_config()?;
    if config.pact_listen.is_some() {
        tanso_pact_api::clients::check(home)?;
    }
    Node::open(
        home,
        Host {
            transport: Arc::new(Doors),
            allocator_stats,
            quotas: tanso_core::quota::Quotas::NONE,
            shared: None,
        },
    )
}

/// Opens a host's tenant in `home` with its doors, the host's shared peer port and the
/// quotas the host set on it (see `crate::host`).
pub fn open_tenant(
    home: &Home,
    allocator_stats: Option<tanso_core::metrics::AllocatorStatsFn>,
    quotas: tanso_core::quota::Quotas,
    shared: tanso_core::node::SharedDoor,
) -> Result<Node, NodeError> {
    Node::open(
        home,
        Host {
            transport: Arc::new(Doors),
            allocator_stats,
            quotas,
            shared: Some(shared),
        },
    )
}

/// Sends one item (or runs one fetch job).
async fn deliver(node: &Node, item: &OutboxItem) -> Result<(), NodeError> {
    match &item.delivery {
        Delivery::SendRequest { request_id } => {
            let Some(request) = node.store().outgoing_request(request_id)? else {
                return Ok(());
            };
            let mut client =
                PeerClient::discover(node, &item.target, request.purpose.as_deref()).await?;
            client.create_request(&request).await.map(|_| ())
        }
        Delivery::Answer { request_id } => {
            let Some(request) = node.store().incoming_request(request_id)? else {
                return Ok(());
            };
            if let Some(event_id) = &request.pact_event_id {
                // It came in as a PACT event: the answer is a PACT event too.
                return tanso_pact_api::events::deliver_answer(node, &request, event_id).await;
            }
            let mut client = PeerClient::discover(node, &item.target, None).await?;
            match &request.answer {
                None => Ok(()),
                Some(Answer::Rejected { reason }) => {
                    client.deliver_answer(&request.id, None, reason).await
                }
                Some(Answer::Fulfilled { footprints }) => {
                    let mut list = Vec::with_capacity(footprints.len());
                    for f in footprints {
                        if let Some(own) = node.store().own_footprint(&f.id)? {
                            let view = if f.view == tanso_core::signed::VIEW_SUMMARY {
                                tanso_core::policy::View::Summary
                            } else {
                                tanso_core::policy::View::Full
                            };
                            list.push((own, view));
                        }
                    }
                    client.deliver_answer(&request.id, Some(&list), "").await
                }
            }
        }
        Delivery::Notify {
            event_id,
            footprint_ids,
            product_ids,
        } => {
            let mut client = PeerClient::discover(node, &item.target, None).await?;
            client.notify(event_id, footprint_ids, product_ids).await
        }
        Delivery::CardUpdate { .. } => {
            let client = PeerClient::discover(node, &item.target, None).await?;
            client.update_card().await
        }
        Delivery::PactPublished {
            event_id,
            footprint_ids,
        } => {
            tanso_pact_api::events::deliver_published(node, &item.target, event_id, footprint_ids)
                .await
        }
        Delivery::PactFetch { footprint_ids, .. } => {
            let entries =
                tanso_pact_api::events::fetch_published(node, &item.target, footprint_ids).await?;
            let store = node.store().clone();
            let id = item.id.clone();
            tokio::task::spawn_blocking(move || store.complete_fetch(&entries, &id))
                .await
                .map_err(|_| NodeError::Internal("inbox write task failed".into()))??;
            Ok(())
        }
        Delivery::Fetch { footprint_ids, .. } => {
            let mut client = PeerClient::discover(node, &item.target, None).await?;
            let entries = client.fetch_verified(footprint_ids).await?;
            let store = node.store().clone();
            let id = item.id.clone();
            tokio::task::spawn_blocking(move || store.complete_fetch(&entries, &id))
                .await
                .map_err(|_| NodeError::Internal("inbox write task failed".into()))??;
            Ok(())
        }
    }
}
