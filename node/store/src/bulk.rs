//! Batches too large to hold in memory, still all or nothing: written in chunks that readers
//! do not see, made visible by one small atomic write.
//!
//! Neither engine can take a batch of any size at bounded memory as one atomic write (sled
//! keeps a transaction or `Batch` in memory, and one redb write transaction open for the
//! whole publish would hold every other writer, the audit journal included, for minutes).
//! So a bulk batch writes each chunk as its own engine batch, not yet durable, with every row
//! it touches in a *pending* form that carries the value before and after the batch:
//!
//! ```text
//! 0xFF || batch id (u64 BE) || 0 || new value                         (the key was absent)
//! 0xFF || batch id (u64 BE) || 1 || len(old) (u32 BE) || old || new   (the key is replaced)
//! 0xFF || batch id (u64 BE) || 2 || old                               (the key is deleted)
//! ```
//!
//! Readers interpret a row by the highest committed batch id (`Meta` `bulk/committed`): a
//! row of a later batch reads as its old value (or as absent), a row of a committed batch as
//! its new value. Committing is the one durable write of `bulk/committed` (it also makes the
//! unsynced chunks before it durable), after which readers see the whole batch at once; a
//! reader holds the visibility lock for the length of one read, so no read straddles the
//! switch. Every chunk also lists the keys it touched in [`Table::BulkUndo`] and sets
//! `Meta` `bulk/pending`, in the same engine batch as its rows.
//!
//! After a commit the rows that replaced or deleted something are rewritten plainly (a
//! deleted row disappears), the undo rows are deleted, and `bulk/pending` last; rows that
//! were new keep their pending form, which reads as their value from then on. An aborted
//! batch, or one found pending when the store opens after a crash, is rolled back from its
//! undo rows: its new rows are deleted and the others get their old value back. Both walks
//! can stop anywhere and run again.
//!
//! Only the tables a publish writes ([`Table::batched`]) hold pending rows; their values are
//! JSON or empty, so `0xFF` (never the first byte of UTF-8 text) marks the form. One bulk
//! batch runs at a time, under the footprint writers' lock that every other own-footprint
//! write takes too, so nothing else writes its keys while it is pending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use super::{Op, Store, StoreError, Table};

/// First byte of a pending row.
const PENDING: u8 = 0xFF;
const KIND_NEW: u8 = 0;
const KIND_REPLACE: u8 = 1;
const KIND_DELETE: u8 = 2;
/// `PENDING`, batch id, kind.
const HEADER: usize = 1 + 8 + 1;

/// `Meta` key: the highest committed bulk batch id (u64 BE); absent means 0.
const META_COMMITTED: &str = "bulk/committed";
/// `Meta` key: a bulk batch whose rows may not all be plain yet (u64 BE).
const META_PENDING: &str = "bulk/pending";

/// Undo rows read per step of a rollback or clean-up.
const UNDO_ROWS_PER_STEP: usize = 8;

/// State shared by every clone of a store.
pub(crate) struct Shared {
    /// The highest committed batch id. Readers hold it for reading for the length of one
    /// read; a commit takes it for writing to switch.
    committed: RwLock<u64>,
    /// A batch is pending or not yet cleaned up: counts must interpret rows.
    unsettled: AtomicBool,
    /// Held by a bulk batch for its whole life and by every other write of own footprints.
    footprint_writers: Mutex<()>,
    /// A batch whose rollback failed (a full disk, say); the next bulk batch retries it first.
    failed_rollback: Mutex<Option<u64>>,
    /// The highest batch id ever begun (or found at open): ids are never reused, so a batch
    /// whose commit write failed but still reached the disk cannot lend its id to the next.
    last_begun: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            committed: RwLock::new(0),
            unsettled: AtomicBool::new(false),
            footprint_writers: Mutex::new(()),
            failed_rollback: Mutex::new(None),
            last_begun: AtomicU64::new(0),
        }
    }

    /// The committed batch id, held for the length of a read.
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, u64> {
        self.committed.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn unsettled(&self) -> bool {
        self.unsettled.load(Ordering::SeqCst)
    }

    /// The lock every write of own footprints holds.
    pub(crate) fn footprint_writers(&self) -> MutexGuard<'_, ()> {
        self.footprint_writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// A row as readers see it with batches up to `committed` visible: `None` when absent.
pub(crate) fn visible(raw: Vec<u8>, committed: u64) -> Option<Vec<u8>> {
    match Pending::parse(&raw) {
        None => Some(raw),
        Some(p) if p.batch <= committed => p.after().map(<[u8]>::to_vec),
        Some(p) => p.before().map(<[u8]>::to_vec),
    }
}

/// A parsed pending row.
struct Pending<'a> {
    batch: u64,
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Pending<'a> {
    fn parse(raw: &'a [u8]) -> Option<Pending<'a>> {
        if raw.first() != Some(&PENDING) || raw.len() < HEADER {
            return None;
        }
        let batch = u64::from_be_bytes(raw[1..9].try_into().ok()?);
        Some(Pending {
            batch,
            kind: raw[9],
            rest: &raw[HEADER..],
        })
    }

    fn split_replace(&self) -> (&'a [u8], &'a [u8]) {
        let len = self
            .rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_be_bytes) as usize;
        let body = self.rest.get(4..).unwrap_or_default();
        let len = len.min(body.len());
        body.split_at(len)
    }

    fn before(&self) -> Option<&'a [u8]> {
        match self.kind {
            KIND_NEW => None,
            KIND_REPLACE => Some(self.split_replace().0),
            _ => Some(self.rest),
        }
    }

    fn after(&self) -> Option<&'a [u8]> {
        match self.kind {
            KIND_NEW => Some(self.rest),
            KIND_REPLACE => Some(self.split_replace().1),
            _ => None,
        }
    }
}

/// The pending row for `old` → `new` in `batch`; `None` when there is nothing either side.
fn pending_row(batch: u64, old: Option<&[u8]>, new: Option<&[u8]>) -> Option<Vec<u8>> {
    let (kind, len) = match (old, new) {
        (None, None) => return None,
        (None, Some(n)) => (KIND_NEW, n.len()),
        (Some(o), Some(n)) => (KIND_REPLACE, 4 + o.len() + n.len()),
        (Some(o), None) => (KIND_DELETE, o.len()),
    };
    let mut row = Vec::with_capacity(HEADER + len);
    row.push(PENDING);
    row.extend_from_slice(&batch.to_be_bytes());
    row.push(kind);
    match (old, new) {
        (None, Some(n)) => row.extend_from_slice(n),
        (Some(o), Some(n)) => {
            row.extend_from_slice(&(o.len() as u32).to_be_bytes());
            row.extend_from_slice(o);
            row.extend_from_slice(n);
        }
        (Some(o), None) => row.extend_from_slice(o),
        (None, None) => {}
    }
    Some(row)
}

fn undo_key(batch: u64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&batch.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Appends an undo entry: table tag, whether the key had a value before the batch, key
/// length (u32 BE), key. Keys that had none need no clean-up after a commit.
fn push_undo_entry(undo: &mut Vec<u8>, table: Table, had_old: bool, key: &[u8]) {
    undo.push(table.tag());
    undo.push(u8::from(had_old));
    undo.extend_from_slice(&(key.len() as u32).to_be_bytes());
    undo.extend_from_slice(key);
}

/// The (table, had a value before, key) entries of an undo row.
fn undo_entries(mut value: &[u8]) -> Result<Vec<(Table, bool, Vec<u8>)>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        table: Table::BulkUndo.name(),
        reason: "truncated undo entry".into(),
    };
    let mut out = Vec::new();
    while let Some((&tag, rest)) = value.split_first() {
        let table = Table::from_tag(tag).ok_or_else(corrupt)?;
        let (&had_old, rest) = rest.split_first().ok_or_else(corrupt)?;
        let len = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(corrupt)? as usize;
        let key = rest.get(4..4 + len).ok_or_else(corrupt)?;
        out.push((table, had_old != 0, key.to_vec()));
        value = &rest[4 + len..];
    }
    Ok(out)
}

fn meta_u64(store: &Store, key: &str) -> Result<Option<u64>, StoreError> {
    Ok(store
        .engine
        .get(Table::Meta, key.as_bytes())?
        .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
        .map(u64::from_be_bytes))
}

fn meta_put(key: &str, value: u64) -> Op {
    Op::Put(
        Table::Meta,
        key.as_bytes().to_vec(),
        value.to_be_bytes().to_vec(),
    )
}

/// What a bulk batch finds at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing, before or in this batch.
    Absent,
    /// A value stored before this batch (and not yet rewritten by it).
    Stored(Vec<u8>),
    /// A value this batch wrote (or deleted: `None`).
    Written(Option<Vec<u8>>),
}

/// An open bulk batch (see the module documentation). Dropping it unfinished rolls it back.
pub(crate) struct BulkWrite<'a> {
    store: &'a Store,
    id: u64,
    next_undo: AtomicU64,
    finished: bool,
    _writers: MutexGuard<'a, ()>,
}

impl Store {
    /// Reads the committed batch id and finishes what a batch left when the process stopped:
    /// a committed batch's clean-up, or an uncommitted one's rollback. Run once at open.
    pub(super) fn recover_bulk(&self) -> Result<(), StoreError> {
        let committed = meta_u64(self, META_COMMITTED)?.unwrap_or(0);
        *self
            .bulk
            .committed
            .write()
            .unwrap_or_else(|p| p.into_inner()) = committed;
        self.bulk.last_begun.store(committed, Ordering::SeqCst);
        if let Some(pending) = meta_u64(self, META_PENDING)? {
            self.bulk.last_begun.fetch_max(pending, Ordering::SeqCst);
            self.bulk.unsettled.store(true, Ordering::SeqCst);
            if pending <= committed {
                self.settle_bulk(pending, false)?;
            } else {
                self.settle_bulk(pending, true)?;
            }
        }
        Ok(())
    }

    /// Opens a bulk batch; it holds the footprint writers' lock until it is committed,
    /// aborted or dropped.
    pub(crate) fn begin_bulk(&self) -> Result<BulkWrite<'_>, StoreError> {
        let writers = self.bulk.footprint_writers();
        let failed = *self
            .bulk
            .failed_rollback
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(batch) = failed {
            self.settle_bulk(batch, true)?;
            *self
                .bulk
                .failed_rollback
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
        }
        let committed = *self.bulk.read();
        let id = self
            .bulk
            .last_begun
            .fetch_max(committed, Ordering::SeqCst)
            .max(committed)
            + 1;
        self.bulk.last_begun.store(id, Ordering::SeqCst);
        self.bulk.unsettled.store(true, Ordering::SeqCst);
        Ok(BulkWrite {
            store: self,
            id,
            next_undo: AtomicU64::new(0),
            finished: false,
            _writers: writers,
        })
    }

    /// Rolls back (`rollback`) or cleans up a batch from its undo rows, a few at a time, then
    /// clears `bulk/pending` durably.
    fn settle_bulk(&self, batch: u64, rollback: bool) -> Result<(), StoreError> {
        let prefix = batch.to_be_bytes();
        loop {
            let undo = self
                .engine
                .scan(Table::BulkUndo, &prefix, None, UNDO_ROWS_PER_STEP)?;
            if undo.is_empty() {
                break;
            }
            let _guard = self.lock();
            let mut ops = Vec::new();
            let mut rows: std::collections::HashSet<(u8, Vec<u8>)> =
                std::collections::HashSet::new();
            for (undo_key, value) in undo {
                for (table, had_old, key) in undo_entries(&value)? {
                    if !rollback && !had_old {
                        continue; // a new row keeps its pending form once committed
                    }
                    if !rows.insert((table.tag(), key.clone())) {
                        continue;
                    }
                    let Some(raw) = self.engine.get(table, &key)? else {
                        continue;
                    };
                    let Some(p) = Pending::parse(&raw).filter(|p| p.batch == batch) else {
                        continue; // plain, or already settled
                    };
                    let settled = if rollback { p.before() } else { p.after() };
                    match (rollback, p.kind, settled) {
                        // A new row stays in its pending form once committed.
                        (false, KIND_NEW, _) => {}
                        (_, _, Some(v)) => ops.push(Op::Put(table, key, v.to_vec())),
                        (_, _, None) => ops.push(Op::Delete(table, key)),
                    }
                }
                ops.push(Op::Delete(Table::BulkUndo, undo_key));
            }
            self.apply_unsynced(&ops)?;
        }
        let _guard = self.lock();
        self.apply(&[Op::Delete(Table::Meta, META_PENDING.as_bytes().to_vec())])?;
        self.bulk.unsettled.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl BulkWrite<'_> {
    /// What this batch finds at `key`: its own write, else what readers see.
    pub(crate) fn find(&self, table: Table, key: &[u8]) -> Result<Found, StoreError> {
        let committed = *self.store.bulk.read();
        let Some(raw) = self.store.engine.get(table, key)? else {
            return Ok(Found::Absent);
        };
        if let Some(p) = Pending::parse(&raw).filter(|p| p.batch == self.id) {
            return Ok(Found::Written(p.after().map(<[u8]>::to_vec)));
        }
        Ok(match visible(raw, committed) {
            Some(v) => Found::Stored(v),
            None => Found::Absent,
        })
    }

    /// Writes `ops` (puts and deletes of batched tables) and `fresh` (puts of keys the caller
    /// knows to be absent, before and in this batch: they are not read) as one engine batch,
    /// not durable yet and unseen by readers until [`BulkWrite::commit`].
    pub(crate) fn write(
        &self,
        ops: Vec<Op>,
        fresh: Vec<(Table, Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let _guard = self.store.lock();
        let committed = *self.store.bulk.read();
        // Rows this chunk wrote, for a key it touches twice.
        let mut written: HashMap<(u8, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        let mut undo = Vec::new();
        let mut engine_ops = Vec::with_capacity(ops.len() + fresh.len() + 2);
        for (table, key, value) in fresh {
            if !table.batched() {
                return Err(StoreError::Engine(format!(
                    "table {} cannot take part in a bulk batch",
                    table.name()
                )));
            }
            push_undo_entry(&mut undo, table, false, &key);
            let row = pending_row(self.id, None, Some(&value)).unwrap_or_default();
            engine_ops.push(Op::Put(table, key, row));
        }
        for op in ops {
            let (table, key, new) = match op {
                Op::Put(t, k, v) => (t, k, Some(v)),
                Op::Delete(t, k) => (t, k, None),
                Op::DeleteRange(t, ..) => {
                    // Only the audit log's archived prefix is removed by range, never here.
                    return Err(StoreError::Engine(format!(
                        "table {}: a range delete cannot take part in a bulk batch",
                        t.name()
                    )));
                }
            };
            if !table.batched() {
                return Err(StoreError::Engine(format!(
                    "table {} cannot take part in a bulk batch",
                    table.name()
                )));
            }
            let slot = (table.tag(), key.clone());
            let raw = match written.get(&slot) {
                Some(row) => row.clone(),
                None => self.store.engine.get(table, &key)?,
            };
            let ours = raw
                .as_deref()
                .and_then(Pending::parse)
                .filter(|p| p.batch == self.id)
                .map(|p| p.before().map(<[u8]>::to_vec));
            let old = match ours {
                Some(old) => old,
                None => {
                    let old = raw.and_then(|r| visible(r, committed));
                    push_undo_entry(&mut undo, table, old.is_some(), &key);
                    old
                }
            };
            let row = pending_row(self.id, old.as_deref(), new.as_deref());
            engine_ops.push(match &row {
                Some(r) => Op::Put(table, key, r.clone()),
                None => Op::Delete(table, key),
            });
            written.insert(slot, row);
        }
        if !undo.is_empty() {
            let seq = self.next_undo.fetch_add(1, Ordering::SeqCst);
            engine_ops.push(Op::Put(Table::BulkUndo, undo_key(self.id, seq), undo));
        }
        engine_ops.push(meta_put(META_PENDING, self.id));
        self.store.apply_unsynced(&engine_ops)
    }

    /// Makes the whole batch visible and durable with one small write, then rewrites its
    /// replacing and deleting rows plainly. A failure of that clean-up is logged; the batch
    /// stands and the next open finishes it.
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        self.finished = true;
        {
            let _guard = self.store.lock();
            if let Err(e) = self.store.apply(&[meta_put(META_COMMITTED, self.id)]) {
                // The write may have reached the engine even though it failed (sled applies,
                // then its flush fails): put the committed id back before the rollback, so a
                // crash during the rollback does not finish this batch as committed.
                let previous = *self.store.bulk.read();
                if let Err(undo) = self.store.apply(&[meta_put(META_COMMITTED, previous)]) {
                    tracing::error!(error = %undo, "bulk: cannot restore the committed batch id after a failed commit");
                }
                drop(_guard);
                self.finished = false;
                return Err(e);
            }
            // Waits for reads in flight, so none interprets a row by the old id afterwards.
            *self
                .store
                .bulk
                .committed
                .write()
                .unwrap_or_else(|p| p.into_inner()) = self.id;
            self.store.cache.clear_footprints();
        }
        if let Err(e) = self.store.settle_bulk(self.id, false) {
            tracing::warn!(error = %e, "clean-up after a bulk commit stopped; the next open finishes it");
        }
        Ok(())
    }

    /// Rolls the batch back (its rows get their old values; nothing was ever visible).
    pub(crate) fn abort(mut self) -> Result<(), StoreError> {
        self.finished = true;
        self.rollback()
    }

    fn rollback(&self) -> Result<(), StoreError> {
        let result = self.store.settle_bulk(self.id, true);
        if result.is_err() {
            *self
                .store
                .bulk
                .failed_rollback
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(self.id);
        }
        result
    }
}

impl Drop for BulkWrite<'_> {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = self.rollback()
        {
            tracing::warn!(error = %e, "rollback of an abandoned bulk batch stopped; retried later");
        }
    }
}
