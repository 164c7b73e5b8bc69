//! The outbox worker: delivers queued items (requests, answers, notifications) and runs
//! local fetch jobs, retrying with exponential backoff until 72 hours after creation.
//!
//! An item is deleted only once its delivery was acknowledged (for a request, in the same
//! batch that moves it from queued to pending), so a crash at any point leads at worst to a
//! repeated delivery, which receivers ignore (idempotent by request, event and footprint id).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::error::NodeError;
use crate::node::{Node, now_rfc3339};
use crate::service::client::PeerClient;
use crate::store::{Answer, Delivery, OutboxItem};

/// Retries: 500 ms doubling per attempt, at most 15 min, ±20 % jitter.
const RETRY: Backoff =
    Backoff::new(Duration::from_millis(500), Duration::from_secs(15 * 60)).jittered();
/// Items not delivered this long after creation are given up.
pub const GIVE_UP_AFTER_MS: i64 = 72 * 3600 * 1000;
/// Longest sleep between scans when nothing pokes the worker.
const IDLE_SCAN: Duration = Duration::from_secs(5);

/// Spawns the worker on `tasks`; it stops when `cancel` fires.
pub fn spawn(tasks: &TaskTracker, node: Node, cancel: CancellationToken) {
    // Before the task starts, so no enqueued id is remembered once this returns.
    node.exchange_state().worker_started();
    let tracker = tasks.clone();
    tasks.spawn(async move {
        run(node.clone(), tracker, cancel).await;
        node.exchange_state().worker_stopped();
    });
}

async fn run(node: Node, tasks: TaskTracker, cancel: CancellationToken) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sweep = node.clone();
    let _ = tokio::task::spawn_blocking(move || sweep.fulfil_pending_all()).await;
    loop {
        let store = node.store().clone();
        let items = match tokio::task::spawn_blocking(move || store.outbox()).await {
            Ok(Ok(items)) => items,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "outbox scan failed");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let now = node.clock().now_ms();
        let mut wake = now + IDLE_SCAN.as_millis() as i64;
        for item in items {
            if in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&item.id)
            {
                continue;
            }
            if item.next_attempt_ms > now {
                wake = wake.min(item.next_attempt_ms);
                continue;
            }
            in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(item.id.clone());
            let (node, in_flight, cancel) = (node.clone(), in_flight.clone(), cancel.clone());
            tasks.spawn(async move {
                let id = item.id.clone();
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = attempt(&node, item) => {}
                }
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                node.exchange_state().poke.notify_one();
            });
        }
        let sleep = Duration::from_millis((wake - now).max(1) as u64);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = node.exchange_state().poke.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// One delivery attempt of the items this process enqueued (the CLI, when no node serves
/// the home): delivered items are removed, failed ones stay queued for a later `serve`.
pub async fn deliver_enqueued(node: &Node) {
    let ids = node.take_enqueued();
    let mut attempts = Vec::new();
    for id in ids {
        match node.store().outbox_item(&id) {
            Ok(Some(item)) => attempts.push(async move { attempt(node, item).await }),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "outbox read failed"),
        }
    }
    futures::future::join_all(attempts).await;
}

/// Delay before attempt `attempts + 1`: 500 ms doubling, capped at 15 min, ±20 % jitter.
fn backoff_ms(attempts: u32) -> i64 {
    RETRY.delay(attempts.saturating_add(1)).as_millis() as i64
}

/// Tries to deliver `item` once and records the outcome durably.
async fn attempt(node: &Node, item: OutboxItem) {
    let result = deliver(node, &item).await;
    let store = node.store().clone();
    let now = node.clock().now_ms();
    let outcome = match result {
        Ok(()) => {
            tokio::task::spawn_blocking(move || store.outbox_delivered(&item, &now_rfc3339())).await
        }
        Err(e) if now - item.created_ms >= GIVE_UP_AFTER_MS => {
            tracing::warn!(
                item = %item.id, target = %item.target, attempts = item.attempts + 1, error = %e,
                "delivery given up after 72 hours"
            );
            let reason = format!("not delivered within 72 hours: {e}");
            give_up_audit(node, &item, &reason).await;
            tokio::task::spawn_blocking(move || {
                store.outbox_give_up(&item, &reason, &now_rfc3339())
            })
            .await
        }
        Err(e) => {
            let mut next = item;
            next.attempts += 1;
            next.next_attempt_ms = now + backoff_ms(next.attempts - 1);
            next.last_error = Some(e.to_string());
            tracing::debug!(item = %next.id, target = %next.target, attempts = next.attempts, error = %e, "delivery failed; will retry");
            tokio::task::spawn_blocking(move || store.outbox_retry(&next)).await
        }
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "outbox update failed"),
        Err(_) => tracing::error!("outbox update task failed"),
    }
}

/// The audit entry of a delivery given up (written before the item is dropped).
async fn give_up_audit(node: &Node, item: &OutboxItem, reason: &str) {
    let target = match &item.delivery {
        Delivery::SendRequest { request_id } | Delivery::Answer { request_id } => {
            format!("request:{request_id}")
        }
        Delivery::Notify { event_id, .. }
        | Delivery::Fetch { event_id, .. }
        | Delivery::PactPublished { event_id, .. }
        | Delivery::PactFetch { event_id, .. } => format!("event:{event_id}"),
        Delivery::CardUpdate { key_id } => format!("key:{key_id}"),
    };
    let kind = match &item.delivery {
        Delivery::SendRequest { .. } => "request",
        Delivery::Answer { .. } => "answer",
        Delivery::Notify { .. } => "notify",
        Delivery::Fetch { .. } => "fetch",
        Delivery::CardUpdate { .. } => "card-update",
        Delivery::PactPublished { .. } => "pact-published",
        Delivery::PactFetch { .. } => "pact-fetch",
    };
    let record = crate::journal::Record {
        audit: Some(crate::audit::AuditDraft {
            caller: item.target.clone(),
            method: format!("outbox/{kind}"),
            targets: vec![target],
            decision: "error".into(),
            rule: None,
            reason: Some(reason.to_string()),
        }),
        ..crate::journal::Record::default()
    };
    if let Err(e) = node.journal().write(record).await {
        tracing::error!(error = %e, "audit of a given-up delivery failed");
    }
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
                return crate::pact_api::events::deliver_answer(node, &request, event_id).await;
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
                            let view = if f.view == crate::signed::VIEW_SUMMARY {
                                crate::policy::View::Summary
                            } else {
                                crate::policy::View::Full
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
            crate::pact_api::events::deliver_published(node, &item.target, event_id, footprint_ids)
                .await
        }
        Delivery::PactFetch { footprint_ids, .. } => {
            let entries =
                crate::pact_api::events::fetch_published(node, &item.target, footprint_ids).await?;
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
