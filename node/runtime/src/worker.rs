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
use tanso_core::node::{Node, now_rfc3339};
use tanso_core::store::{Delivery, OutboxItem};

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
    let result = node.transport().deliver(node, &item).await;
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
    let record = tanso_core::journal::Record {
        audit: Some(tanso_core::audit::AuditDraft {
            caller: item.target.clone(),
            method: format!("outbox/{kind}"),
            targets: vec![target],
            decision: tanso_core::audit::AuditDecision::Error,
            rule: None,
            reason: Some(reason.to_string()),
        }),
        ..tanso_core::journal::Record::default()
    };
    if let Err(e) = node.journal().write(record).await {
        tracing::error!(error = %e, "audit of a given-up delivery failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tanso_core::config::RawConfig;
    use tanso_core::home::Home;

    fn open(dir: &std::path::Path, slug: &str, company: &str) -> Node {
        // Port 1 on loopback refuses connections: deliveries fail fast and stay queued.
        let text =
            format!("company_id = \"{company}\"\nname = \"{slug}\"\nlisten = \"127.0.0.1:1\"\n");
        let raw = RawConfig::parse(&text, "test.toml").unwrap();
        let home = Home::new(dir.join(slug));
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        home.init(&raw, &seed).unwrap();
        crate::open(&home).unwrap()
    }

    #[tokio::test]
    async fn a_serving_node_does_not_remember_enqueued_ids() {
        let dir = tempfile::tempdir().unwrap();
        let buyer = open(dir.path(), "buyer", "urn:tanso:company:buyer");
        let supplier = open(dir.path(), "supplier", "urn:tanso:company:supplier");
        let card = serde_json::to_string(&supplier.card().unwrap()).unwrap();
        buyer.add_partner(&card, Vec::new()).unwrap();
        let request = |n: usize| {
            buyer
                .send_request(
                    "urn:tanso:company:supplier",
                    vec![format!("urn:tanso:test:product:p{n}")],
                    Vec::new(),
                    String::new(),
                    None,
                )
                .unwrap()
        };

        // Without a worker (the CLI), enqueued ids are kept for the inline attempt.
        request(0);
        assert_eq!(buyer.take_enqueued().len(), 1);
        request(1);

        // With the worker running (`tanso serve`), nothing accumulates, and what was kept is
        // dropped: the worker delivers from the store.
        let tasks = tokio_util::task::TaskTracker::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        super::spawn(&tasks, buyer.clone(), cancel.clone());
        for n in 2..100 {
            request(n);
        }
        assert!(buyer.take_enqueued().is_empty());
        assert_eq!(buyer.store().outbox().unwrap().len(), 100);

        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        request(100);
        assert_eq!(buyer.take_enqueued().len(), 1);
    }
}
