//! The one storage facade: typed tables over an embedded engine (redb by default, sled selectable).
//!
//! Nothing outside this module names an engine. Engines only offer point reads, ordered
//! prefix scans, a read snapshot where the engine has one (redb), and one operation that
//! applies a batch of puts and deletes atomically and durably: when [`Store::commit`] or
//! [`Store::update`] returns `Ok`, the batch survives a kill -9. Read-modify-write is made
//! serializable by one process-wide write lock, so the engines need no transactions of their
//! own beyond the atomic batch.

mod audit;
mod bulk;
mod cache;
mod directory;
mod domain;
mod exchange;
pub mod migrate;
mod redb_engine;
mod sled_engine;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

pub use audit::AuditSnapshot;
pub use cache::DEFAULT_CACHE_BYTES;
pub use directory::*;
pub use domain::*;
pub use exchange::*;
pub use migrate::TableCopy;

/// Which embedded engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// redb: ACID B-tree, crash-safe by default (the default).
    Redb,
    /// sled 0.34: kept selectable for deployments that chose it; flushed before every ack.
    Sled,
}

impl std::str::FromStr for EngineKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "redb" => Ok(EngineKind::Redb),
            "sled" => Ok(EngineKind::Sled),
            other => Err(StoreError::UnknownEngine(other.to_string())),
        }
    }
}

/// The logical tables. Each is a sorted map from bytes to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Own published footprints by id.
    Footprints,
    /// Index: lowercase product id, 0, footprint id.
    FootprintsByProduct,
    /// Index: lowercase company id, 0, footprint id.
    FootprintsByCompany,
    /// Index: lowercase classification, 0, footprint id.
    FootprintsByClassification,
    /// Index: status, 0, footprint id.
    FootprintsByStatus,
    /// Footprints received from others, by id.
    Inbox,
    /// Index: lowercase product id, 0, footprint id.
    InboxByProduct,
    /// Partners by lowercase company id.
    Partners,
    /// Usage policies by uid.
    Policies,
    /// Audit log entries by big-endian sequence number.
    Audit,
    /// Seen request nonces: key id, 0, nonce; value issued-at ms.
    Nonces,
    /// Requests served per partner per day: company id, 0, yyyy-mm-dd.
    DailyCounts,
    /// Small singletons (audit head, schema version).
    Meta,
    /// Requests this node sent to suppliers, by request id.
    OutgoingRequests,
    /// Requests partners sent to this node, by request id.
    IncomingRequests,
    /// Durable delivery items (requests, answers, notifications, fetch jobs), by item id.
    Outbox,
    /// Partners subscribed to a product: lowercase product id, 0, lowercase partner id.
    Subscriptions,
    /// Partners that received a product's footprint: lowercase product id, 0, lowercase partner id.
    Recipients,
    /// Notification events received: lowercase sender id, 0, event id.
    SeenEvents,
    /// Directory: members and applicants by lowercase company id.
    DirMembers,
    /// Directory index of approved members: lowercase product id, 0, lowercase company id.
    DirMembersByProduct,
    /// Directory index of approved members: lowercase classification, 0, lowercase company id.
    DirMembersByClassification,
    /// Node: directories this node trusts, by lowercase association id.
    TrustedDirectories,
    /// Node: member credentials learnt from directories: association id, 0, company id.
    DirectoryCache,
    /// Keys each chunk of a bulk batch touched: batch id, chunk number (see `bulk`).
    BulkUndo,
}

impl Table {
    pub const ALL: [Table; 25] = [
        Table::Footprints,
        Table::FootprintsByProduct,
        Table::FootprintsByCompany,
        Table::FootprintsByClassification,
        Table::FootprintsByStatus,
        Table::Inbox,
        Table::InboxByProduct,
        Table::Partners,
        Table::Policies,
        Table::Audit,
        Table::Nonces,
        Table::DailyCounts,
        Table::Meta,
        Table::OutgoingRequests,
        Table::IncomingRequests,
        Table::Outbox,
        Table::Subscriptions,
        Table::Recipients,
        Table::SeenEvents,
        Table::DirMembers,
        Table::DirMembersByProduct,
        Table::DirMembersByClassification,
        Table::TrustedDirectories,
        Table::DirectoryCache,
        Table::BulkUndo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Footprints => "footprints",
            Table::FootprintsByProduct => "footprints_by_product",
            Table::FootprintsByCompany => "footprints_by_company",
            Table::FootprintsByClassification => "footprints_by_classification",
            Table::FootprintsByStatus => "footprints_by_status",
            Table::Inbox => "inbox",
            Table::InboxByProduct => "inbox_by_product",
            Table::Partners => "partners",
            Table::Policies => "policies",
            Table::Audit => "audit",
            Table::Nonces => "nonces",
            Table::DailyCounts => "daily_counts",
            Table::Meta => "meta",
            Table::OutgoingRequests => "outgoing_requests",
            Table::IncomingRequests => "incoming_requests",
            Table::Outbox => "outbox",
            Table::Subscriptions => "subscriptions",
            Table::Recipients => "recipients",
            Table::SeenEvents => "seen_events",
            Table::DirMembers => "dir_members",
            Table::DirMembersByProduct => "dir_members_by_product",
            Table::DirMembersByClassification => "dir_members_by_classification",
            Table::TrustedDirectories => "trusted_directories",
            Table::DirectoryCache => "directory_cache",
            Table::BulkUndo => "bulk_undo",
        }
    }

    fn tag(self) -> u8 {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0) as u8
    }

    fn from_tag(tag: u8) -> Option<Table> {
        Table::ALL.get(tag as usize).copied()
    }

    /// The tables a bulk batch writes (a publish's), whose rows readers interpret (see `bulk`).
    fn batched(self) -> bool {
        matches!(
            self,
            Table::Footprints
                | Table::FootprintsByProduct
                | Table::FootprintsByCompany
                | Table::FootprintsByClassification
                | Table::FootprintsByStatus
                | Table::Outbox
        )
    }
}

/// Errors of the store and its engines.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unknown store engine {0:?} (expected \"redb\" or \"sled\")")]
    UnknownEngine(String),
    #[error("store is in use by another process (is `tanso serve` running?): {0}")]
    Locked(String),
    #[error("storage engine: {0}")]
    Engine(String),
    #[error(
        "disk full: no space left on device for the store ({0}); nothing was stored, free space and retry"
    )]
    DiskFull(String),
    #[error("stored record in {table} is corrupt: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error(
        "[store] engine is \"{configured}\", but {configured_path} is absent while the {found} store {found_path} holds data; set engine = \"{found}\" again, or convert the data with `tanso store migrate --to {configured}`"
    )]
    EngineMismatch {
        configured: &'static str,
        configured_path: String,
        found: &'static str,
        found_path: String,
    },
}

impl StoreError {
    /// Whether restarting cannot fix this (the binary exits 64, as for a bad config).
    pub fn is_config(&self) -> bool {
        matches!(self, StoreError::EngineMismatch { .. })
    }
}

/// An engine failure; ENOSPC (os error 28) becomes [`StoreError::DiskFull`] so callers can
/// tell the operator what to do.
pub(crate) fn engine_error(message: String) -> StoreError {
    if message.contains("os error 28") || message.contains("No space left on device") {
        StoreError::DiskFull(message)
    } else {
        StoreError::Engine(message)
    }
}

/// A key and its value.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// One write in a batch.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put(Table, Vec<u8>, Vec<u8>),
    Delete(Table, Vec<u8>),
    /// Deletes every key `>= start` and `< end`, without reading the values into memory
    /// (and, on redb, without holding the keys either).
    DeleteRange(Table, Vec<u8>, Vec<u8>),
}

/// Reads from one consistent state of the store.
pub(crate) trait ReadView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// As [`Engine::scan`].
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// The last entry of a table (largest key).
    fn last(&self, table: Table) -> Result<Option<Entry>, StoreError>;
}

/// What an engine must offer.
pub(crate) trait Engine: Send + Sync {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Entries whose key starts with `prefix` and is `>= start` (when given), in key order, at most `limit`.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// A read view that no batch applied after this call changes, when the engine has
    /// snapshots (redb's read transactions); `None` when it has not (sled 0.34).
    fn snapshot(&self) -> Result<Option<Box<dyn ReadView + '_>>, StoreError>;
    /// The last entry of a table (largest key).
    fn last(&self, table: Table) -> Result<Option<Entry>, StoreError>;
    /// Applies all ops atomically; durable when it returns.
    fn apply(&self, ops: &[Op]) -> Result<(), StoreError>;
    /// Applies all ops atomically, durable only with the next [`Engine::apply`]: a crash
    /// before that may lose them (the whole batch or none of it).
    fn apply_unsynced(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.apply(ops)
    }
    fn count(&self, table: Table) -> Result<u64, StoreError>;
    /// Bytes the engine's files take on disk.
    fn disk_bytes(&self) -> u64;
}

/// The store: cheap to clone, shared by every task of a node.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    write_lock: Arc<Mutex<()>>,
    /// Bulk batches: the committed batch id readers interpret rows by, and the footprint
    /// writers' lock (see `bulk`).
    bulk: Arc<bulk::Shared>,
    kind: EngineKind,
    /// Taken shared by an audit snapshot on an engine without snapshots, and exclusively by
    /// the batch that removes archived audit entries, so such a snapshot never sees the
    /// front of the log disappear under it (see [`AuditSnapshot`]).
    archive_gate: Arc<RwLock<()>>,
    pub(crate) cache: Arc<cache::Decoded>,
    /// Fault injection for tests and drills: while this file exists, every write fails as a
    /// full disk would (see [`FAULT_DISK_FULL_ENV`]).
    disk_full_trigger: Option<Arc<std::path::PathBuf>>,
}

/// Environment variable naming a trigger file: while the file exists, every store write
/// fails with [`StoreError::DiskFull`] before reaching the engine, exactly as ENOSPC from the
/// engine does. Used by the fault-tolerance tests and for operator drills; unset in
/// production, where it costs nothing.
pub const FAULT_DISK_FULL_ENV: &str = "TANSO_FAULT_DISK_FULL";

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("engine", &self.kind).finish()
    }
}

/// The engine page cache, in MiB, when the configuration does not set `[store] cache_mib`.
/// The engines' own defaults (1 GiB) let the cache follow the file's growth, which on a node
/// that appends audit entries and nonces all day reads as a memory leak.
pub const DEFAULT_CACHE_MIB: u32 = 16;

impl Store {
    /// Opens (creating if needed) the store in directory `dir`, with the default caches.
    pub fn open(dir: &Path, kind: EngineKind) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, kind, DEFAULT_CACHE_MIB)
    }

    /// Opens (creating if needed) the store in directory `dir`; the engine caches at most
    /// `cache_mib` MiB of pages, and the decoded-record caches (hot footprints and partners,
    /// shared as `Arc`s) hold about half that again.
    pub fn open_with_cache(
        dir: &Path,
        kind: EngineKind,
        cache_mib: u32,
    ) -> Result<Store, StoreError> {
        let decoded = (cache_mib as usize * 1024 * 1024 / 2).max(1 << 20);
        Store::open_with_caches(dir, kind, cache_mib, decoded)
    }

    /// [`Store::open_with_cache`] with the decoded-record caches' size in bytes given apart.
    pub fn open_with_caches(
        dir: &Path,
        kind: EngineKind,
        cache_mib: u32,
        decoded_bytes: usize,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Engine(e.to_string()))?;
        check_engine_files(dir, kind)?;
        let cache_bytes = cache_mib as usize * 1024 * 1024;
        let engine: Arc<dyn Engine> = match kind {
            EngineKind::Redb => Arc::new(redb_engine::RedbEngine::open(
                &kind.path_in(dir),
                cache_bytes,
            )?),
            EngineKind::Sled => Arc::new(sled_engine::SledEngine::open(
                &kind.path_in(dir),
                cache_bytes,
            )?),
        };
        let store = Store {
            engine,
            write_lock: Arc::new(Mutex::new(())),
            bulk: Arc::new(bulk::Shared::new()),
            kind,
            archive_gate: Arc::new(RwLock::new(())),
            cache: Arc::new(cache::Decoded::new(decoded_bytes)),
            disk_full_trigger: std::env::var_os(FAULT_DISK_FULL_ENV)
                .filter(|v| !v.is_empty())
                .map(|v| Arc::new(std::path::PathBuf::from(v))),
        };
        store.upgrade_nonce_keys()?;
        store.recover_bulk()?;
        Ok(store)
    }

    /// Applies `ops` through the engine, honouring the disk-full fault trigger.
    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.fault()?;
        self.engine.apply(ops)
    }

    /// [`Store::apply`] made durable only by the next one (chunks of a bulk batch).
    fn apply_unsynced(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.fault()?;
        self.engine.apply_unsynced(ops)
    }

    /// The disk-full fault trigger, when its file exists.
    fn fault(&self) -> Result<(), StoreError> {
        if let Some(trigger) = &self.disk_full_trigger
            && trigger.exists()
        {
            return Err(StoreError::DiskFull(format!(
                "injected by {FAULT_DISK_FULL_ENV}={}",
                trigger.display()
            )));
        }
        Ok(())
    }

    pub fn engine_kind(&self) -> EngineKind {
        self.kind
    }

    /// The value at `key` as readers see it (a pending bulk batch's rows are not seen).
    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !table.batched() {
            return self.engine.get(table, key);
        }
        let committed = self.bulk.read();
        Ok(self
            .engine
            .get(table, key)?
            .and_then(|raw| bulk::visible(raw, *committed)))
    }

    /// Entries whose key starts with `prefix` and is `>= start`, in key order, at most
    /// `limit`, as readers see them.
    pub(crate) fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        if !table.batched() {
            return self.engine.scan(table, prefix, start, limit);
        }
        let committed = self.bulk.read();
        let mut out = Vec::new();
        let mut from = start.map(<[u8]>::to_vec);
        while out.len() < limit {
            let want = limit - out.len();
            let raw = self.engine.scan(table, prefix, from.as_deref(), want)?;
            let complete = raw.len() < want;
            let Some((last, _)) = raw.last() else { break };
            let mut next = last.clone();
            next.push(0);
            out.extend(
                raw.into_iter()
                    .filter_map(|(k, v)| bulk::visible(v, *committed).map(|v| (k, v))),
            );
            if complete {
                break;
            }
            from = Some(next);
        }
        Ok(out)
    }

    pub(crate) fn last(&self, table: Table) -> Result<Option<Entry>, StoreError> {
        if !table.batched() {
            return self.engine.last(table);
        }
        Ok(self.scan(table, b"", None, usize::MAX)?.pop())
    }

    /// Rows in `table` as readers see them.
    pub fn count(&self, table: Table) -> Result<u64, StoreError> {
        if !table.batched() || !self.bulk.unsettled() {
            return self.engine.count(table);
        }
        // A bulk batch is pending or being cleaned up: count what readers see, page by page.
        let mut n = 0;
        let mut from: Option<Vec<u8>> = None;
        loop {
            let page = self.scan(table, b"", from.as_deref(), 4096)?;
            let Some((last, _)) = page.last() else {
                return Ok(n);
            };
            let mut next = last.clone();
            next.push(0);
            n += page.len() as u64;
            from = Some(next);
        }
    }

    pub fn disk_bytes(&self) -> u64 {
        self.engine.disk_bytes()
    }

    /// Applies blind writes atomically and durably.
    pub(crate) fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.apply(&ops)?;
        self.cache.invalidate(&ops);
        Ok(())
    }

    /// Runs a read-modify-write transaction under the write lock; its writes are applied
    /// atomically and durably when `f` returns `Ok`, and not at all when it returns `Err`.
    pub(crate) fn update<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let _guard = self.lock();
        let mut tx = Tx {
            store: self,
            writes: HashMap::new(),
            ops: Vec::new(),
        };
        let out = f(&mut tx)?;
        if !tx.ops.is_empty() {
            self.apply(&tx.ops)?;
            self.cache.invalidate(&tx.ops);
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave a half-applied batch (batches are
        // atomic), so a poisoned lock is safe to take over.
        self.write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A write transaction: point reads see its own earlier writes.
pub(crate) struct Tx<'a> {
    store: &'a Store,
    /// Latest op index per written key (values are not copied twice).
    writes: HashMap<(u8, Vec<u8>), usize>,
    ops: Vec<Op>,
}

impl Tx<'_> {
    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(idx) = self.writes.get(&(table.tag(), key.to_vec())) {
            return Ok(match &self.ops[*idx] {
                Op::Put(_, _, v) => Some(v.clone()),
                Op::Delete(..) | Op::DeleteRange(..) => None,
            });
        }
        self.store.get(table, key)
    }

    /// The first of `keys` stored (this transaction's writes not considered).
    pub(crate) fn first_stored(
        &self,
        table: Table,
        keys: &[&[u8]],
    ) -> Result<Option<usize>, StoreError> {
        for (i, key) in keys.iter().enumerate() {
            if self.store.get(table, key)?.is_some() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether this transaction wrote (put or deleted) `key`.
    pub(crate) fn has_write(&self, table: Table, key: &[u8]) -> bool {
        self.writes.contains_key(&(table.tag(), key.to_vec()))
    }

    pub(crate) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.writes
            .insert((table.tag(), key.clone()), self.ops.len());
        self.ops.push(Op::Put(table, key, value));
    }

    /// A put that later reads in this transaction need not see (no entry in the write
    /// index): for bulk writes of keys the caller has checked itself.
    pub(crate) fn put_unindexed(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(Op::Put(table, key, value));
    }

    pub(crate) fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.writes
            .insert((table.tag(), key.clone()), self.ops.len());
        self.ops.push(Op::Delete(table, key));
    }

    /// Deletes the keys in `start..end`; later reads in this transaction do not see it (for
    /// bulk deletes the caller reads nothing of again).
    pub(crate) fn delete_range_unindexed(&mut self, table: Table, start: Vec<u8>, end: Vec<u8>) {
        self.ops.push(Op::DeleteRange(table, start, end));
    }
}

/// `a || 0x00 || b`, the key shape of the index tables.
pub(crate) fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// `a || 0x00`, the prefix of all index keys for `a`.
pub(crate) fn pair_prefix(a: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k
}

impl EngineKind {
    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Redb => "redb",
            EngineKind::Sled => "sled",
        }
    }

    /// Where this engine keeps its data inside a store directory.
    pub fn path_in(self, dir: &Path) -> std::path::PathBuf {
        match self {
            EngineKind::Redb => dir.join("tanso.redb"),
            EngineKind::Sled => dir.join("sled"),
        }
    }

    /// The other engine.
    pub fn other(self) -> EngineKind {
        match self {
            EngineKind::Redb => EngineKind::Sled,
            EngineKind::Sled => EngineKind::Redb,
        }
    }
}

/// Refuses to create an empty store for `kind` in `dir` when the other engine's data is
/// there: a changed `[store] engine` would otherwise start a node with no footprints, no
/// partners and an empty audit log, silently.
fn check_engine_files(dir: &Path, kind: EngineKind) -> Result<(), StoreError> {
    let configured = kind.path_in(dir);
    let found = kind.other().path_in(dir);
    if configured.exists() || !holds_data(&found) {
        return Ok(());
    }
    Err(StoreError::EngineMismatch {
        configured: kind.name(),
        configured_path: configured.display().to_string(),
        found: kind.other().name(),
        found_path: found.display().to_string(),
    })
}

/// Whether an engine's file or directory exists and is not empty.
pub fn holds_data(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.len() > 0,
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some()),
        _ => false,
    }
}
