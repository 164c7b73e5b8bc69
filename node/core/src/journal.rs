//! Group commit for per-request records: audit entries, seen nonces and daily counters.
//!
//! Every peer request writes an audit entry and a nonce. One durable commit per request
//! would cap a node at a few thousand requests a second, so a dedicated thread drains
//! whatever has queued up and commits it as one batch; each request still waits for its
//! batch to be durable before it is answered. The thread owns the head of the audit chain,
//! so entries are numbered and chained in commit order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditDraft, AuditEntry, AuditHead};
use crate::keys::KeyRing;
use crate::store::{Store, StoreError, journal_ops};

/// Most records in one batch.
const MAX_BATCH: usize = 4096;

/// Most (company, day) counters remembered as written; past it the memory starts over.
const MAX_WRITTEN_COUNTERS: usize = 65_536;

/// One request's records.
#[derive(Debug, Default)]
pub struct Record {
    pub audit: Option<AuditDraft>,
    /// (key id, nonce hex, issued-at ms)
    pub nonce: Option<(String, String, i64)>,
    /// (company id, day, new count)
    pub daily: Option<(String, String, u32)>,
    /// Nonces that fell out of the replay window: (key id, nonce hex, issued-at ms).
    pub forget: Vec<(String, String, i64)>,
}

struct Item {
    record: Record,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Handle to the journal thread. Dropping it lets the thread commit what is queued and
/// waits for it to end, so the store is closed when the node is.
pub struct Journal {
    tx: Option<mpsc::UnboundedSender<Item>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Journal {
    /// Starts the journal thread; it ends when every handle is dropped.
    pub fn start(store: Store, keys: Arc<KeyRing>) -> Result<Journal, StoreError> {
        let (next_seq, prev) = match store.audit_last()? {
            Some((seq, raw)) => {
                let entry: AuditEntry =
                    serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                        table: "audit",
                        reason: e.to_string(),
                    })?;
                (seq + 1, entry.hash)
            }
            // Every entry archived: the chain goes on from the archive anchor.
            None => match store.meta(audit::ANCHOR_KEY)? {
                Some(raw) => {
                    let anchor: audit::AuditAnchor =
                        serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                            table: "meta",
                            reason: format!("audit anchor: {e}"),
                        })?;
                    (anchor.next_seq, anchor.prev)
                }
                None => (0, audit::GENESIS.to_string()),
            },
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("tanso-journal".into())
            .spawn(move || run(store, keys, rx, next_seq, prev))
            .map_err(|e| StoreError::Engine(format!("cannot start journal thread: {e}")))?;
        Ok(Journal {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, item: Item) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .ok_or_else(|| StoreError::Engine("journal has stopped".into()))?
            .send(item)
            .map_err(|_| StoreError::Engine("journal has stopped".into()))
    }

    /// Queues `record` and waits until it is durable.
    pub async fn write(&self, record: Record) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Item {
            record,
            done: Some(done),
        })?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Engine(e)),
            Err(_) => Err(StoreError::Engine("journal has stopped".into())),
        }
    }

    /// Queues `record` and waits, from synchronous code (not inside the async runtime).
    pub fn write_blocking(&self, record: Record) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Item {
            record,
            done: Some(done),
        })?;
        match wait.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Engine(e)),
            Err(_) => Err(StoreError::Engine("journal has stopped".into())),
        }
    }
}

fn run(
    store: Store,
    keys: Arc<KeyRing>,
    mut rx: mpsc::UnboundedReceiver<Item>,
    mut next_seq: u64,
    mut prev: String,
) {
    // Daily counts this thread last committed, so a batch never writes a count lower than
    // one already durable (two requests may reach the queue in the other order than they
    // counted).
    let mut written: HashMap<(String, String), u32> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut items = vec![first];
        while items.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let (mut seq, mut hash) = (next_seq, prev.clone());
        let mut ops = Vec::with_capacity(items.len() * 2 + 1);
        let mut chained = false;
        // One counter write per (company, day) per batch: the highest count in it.
        let mut daily: HashMap<(String, String), u32> = HashMap::new();
        for item in &mut items {
            let record = &mut item.record;
            if let Some(draft) = record.audit.take() {
                let at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
                let entry = AuditEntry::chain(seq, at, draft, &hash);
                hash = entry.hash.clone();
                ops.push(journal_ops::audit(
                    seq,
                    serde_json::to_vec(&entry).unwrap_or_default(),
                ));
                seq += 1;
                chained = true;
            }
            if let Some((key_id, nonce, at)) = &record.nonce {
                ops.push(journal_ops::nonce(key_id, nonce, *at));
            }
            if let Some((company, day, count)) = record.daily.take() {
                let n = daily
                    .entry((company.to_ascii_lowercase(), day))
                    .or_insert(0);
                *n = (*n).max(count);
            }
            for (key_id, nonce, at) in &record.forget {
                ops.push(journal_ops::forget_nonce(key_id, nonce, *at));
            }
        }
        daily.retain(|key, count| written.get(key).is_none_or(|w| *count > *w));
        for ((company, day), count) in &daily {
            ops.push(journal_ops::daily(company, day, *count));
        }
        if chained {
            // Signed by the key current at this batch (rotation swaps it).
            let head = AuditHead::sign(&keys.current(), seq, &hash);
            ops.push(journal_ops::meta(
                audit::HEAD_KEY,
                serde_json::to_vec(&head).unwrap_or_default(),
            ));
        }
        let result = store.commit_journal(ops).map_err(|e| e.to_string());
        if result.is_ok() {
            next_seq = seq;
            prev = hash;
            if written.len() > MAX_WRITTEN_COUNTERS {
                written.clear();
            }
            written.extend(daily);
        } else if let Err(e) = &result {
            tracing::error!(error = %e, "journal commit failed");
        }
        for item in items {
            if let Some(done) = item.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

/// The audit log as the doors reach it: a consistent snapshot or a page of entries to read,
/// and the group-committed write of one request's records (audit entry, nonce, daily count).
/// A thin view of a [`Node`] ([`Node::audit`]); the store and the journal stay inside core.
pub struct Audit<'a> {
    node: &'a crate::node::Node,
}

impl<'a> Audit<'a> {
    /// The log in one consistent state (entries, head and archive anchor).
    pub fn snapshot(&self) -> Result<crate::store::AuditSnapshot<'a>, StoreError> {
        self.node.store().audit_snapshot()
    }

    /// Stored entries in sequence order from `from_seq`, at most `limit`, as (seq, raw JSON).
    pub fn entries(&self, from_seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.node.store().audit_entries(from_seq, limit)
    }

    /// Queues `record` through the journal and waits until it is durable.
    pub async fn write(&self, record: Record) -> Result<(), StoreError> {
        self.node.journal().write(record).await
    }
}

impl crate::node::Node {
    /// The audit log's narrow interface (see [`Audit`]).
    pub fn audit(&self) -> Audit<'_> {
        Audit { node: self }
    }

    /// Requests already counted for `company` (a company id or a counter key) on `day`.
    pub fn daily_count(&self, company: &str, day: &str) -> Result<u32, StoreError> {
        self.daily().get(self.store(), company, day)
    }
}

/// Requests served per partner per day, in memory (persisted through the journal).
pub struct DailyCounter {
    counts: Mutex<HashMap<(String, String), u32>>,
}

impl DailyCounter {
    pub fn new() -> DailyCounter {
        DailyCounter {
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Requests already served to `company` on `day`.
    pub fn get(&self, store: &Store, company: &str, day: &str) -> Result<u32, StoreError> {
        let key = (company.to_ascii_lowercase(), day.to_string());
        if let Some(n) = self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(*n);
        }
        let stored = store.daily_count(company, day)?;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        Ok(*counts.entry(key).or_insert(stored))
    }

    /// Counts one more served request; returns the new count.
    pub fn increment(&self, company: &str, day: &str) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts
            .entry((company.to_ascii_lowercase(), day.to_string()))
            .or_insert(0);
        *n += 1;
        *n
    }
}

impl Default for DailyCounter {
    fn default() -> Self {
        DailyCounter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;
    use crate::store::EngineKind;

    fn counted(company: &str, day: &str, count: u32) -> Record {
        Record {
            daily: Some((company.to_string(), day.to_string(), count)),
            ..Record::default()
        }
    }

    /// Counter records are coalesced per (company, day) into one write of the highest count,
    /// within a batch and across batches, and what is acknowledged is durable.
    #[test]
    fn daily_counts_keep_the_highest_count_durably() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), EngineKind::Redb).unwrap();
        let keys = Arc::new(KeyRing::new(NodeKey::from_seed(&[9; 32]), Vec::new()));
        let journal = Journal::start(store.clone(), keys).unwrap();
        // One batch (queued together, then awaited): counts arrive out of order.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let writes =
                [3, 1, 5, 2, 4].map(|n| journal.write(counted("URN:C:A", "2026-01-01", n)));
            for result in futures::future::join_all(writes).await {
                result.unwrap();
            }
        });
        assert_eq!(store.daily_count("urn:c:a", "2026-01-01").unwrap(), 5);
        // A lower count acknowledged later (it counted before the others were written)
        // does not take the durable count back.
        journal
            .write_blocking(counted("urn:c:a", "2026-01-01", 4))
            .unwrap();
        assert_eq!(store.daily_count("urn:c:a", "2026-01-01").unwrap(), 5);
        journal
            .write_blocking(counted("urn:c:a", "2026-01-01", 6))
            .unwrap();
        journal
            .write_blocking(counted("urn:c:a", "2026-01-02", 1))
            .unwrap();
        journal
            .write_blocking(counted("urn:c:b", "2026-01-01", 2))
            .unwrap();
        drop(journal);
        drop(store);
        let store = Store::open(dir.path(), EngineKind::Redb).unwrap();
        assert_eq!(store.daily_count("urn:c:a", "2026-01-01").unwrap(), 6);
        assert_eq!(store.daily_count("urn:c:a", "2026-01-02").unwrap(), 1);
        assert_eq!(store.daily_count("urn:c:b", "2026-01-01").unwrap(), 2);
    }
}
