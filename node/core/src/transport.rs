//! What core needs from the doors, without naming them: the runtime implements [`Transport`]
//! over the gRPC and PACT edges and hands it to [`Node::open`](crate::Node::open), so core
//! never depends on an edge crate (the compiler keeps it so: core cannot name them).

use std::future::Future;
use std::pin::Pin;

use crate::error::NodeError;
use crate::node::Node;
use crate::store::{OutboxItem, OwnFootprint};

/// A boxed, sendable future (what a trait object's async method returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outbound doors of a node.
pub trait Transport: Send + Sync + 'static {
    /// Sends one outbox item (or runs one fetch job) through the door the item names.
    fn deliver<'a>(
        &'a self,
        node: &'a Node,
        item: &'a OutboxItem,
    ) -> BoxFuture<'a, Result<(), NodeError>>;

    /// Bytes of the largest peer answer `own` can be part of on its own; publish refuses a
    /// footprint over `[limits] max_message_bytes`, so every answer can carry it.
    fn answer_bytes(&self, own: &OwnFootprint) -> usize;

    /// The announcer of one publish (PACT PublishedEvents to the hosts allowed to read the
    /// new footprints). `note` gets a line for the operator when announcing is impossible.
    fn announcer(
        &self,
        node: &Node,
        note: &mut dyn FnMut(String),
    ) -> Result<Box<dyn Announcer>, NodeError>;
}

/// Announces the footprints of one publish, a chunk at a time.
pub trait Announcer: Send {
    /// The outbox items announcing `new` (stored in the same batch as the footprints).
    fn items(&self, node: &Node, new: &[OwnFootprint]) -> Vec<OutboxItem>;
}

/// No doors: for tools that open a node only to read or check it (migration checks, tests of
/// core). Deliveries fail, nothing is announced, and no answer size is enforced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Offline;

impl Transport for Offline {
    fn deliver<'a>(
        &'a self,
        _node: &'a Node,
        item: &'a OutboxItem,
    ) -> BoxFuture<'a, Result<(), NodeError>> {
        Box::pin(async move {
            Err(NodeError::Peer {
                peer: item.target.clone(),
                reason: "this process has no transport".into(),
            })
        })
    }

    fn answer_bytes(&self, _own: &OwnFootprint) -> usize {
        0
    }

    fn announcer(
        &self,
        _node: &Node,
        _note: &mut dyn FnMut(String),
    ) -> Result<Box<dyn Announcer>, NodeError> {
        Ok(Box::new(Silent))
    }
}

struct Silent;

impl Announcer for Silent {
    fn items(&self, _node: &Node, _new: &[OwnFootprint]) -> Vec<OutboxItem> {
        Vec::new()
    }
}
