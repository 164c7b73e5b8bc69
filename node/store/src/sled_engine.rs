//! The sled engine: one tree, keys prefixed by a table tag, `apply_batch` + `flush` per batch.
//!
//! sled 0.34 only makes writes durable on `flush`, so every batch is flushed before the
//! caller is answered. One tree keeps batches atomic across logical tables without sled's
//! multi-tree transactions.

use std::path::{Path, PathBuf};

use super::{Engine, Entry, Op, ReadView, StoreError, Table};

pub(super) struct SledEngine {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    /// Bytes applied without a flush since the last one.
    unflushed: std::sync::atomic::AtomicUsize,
}

/// Unflushed bytes after which an unsynced apply flushes anyway: sled keeps what it has not
/// written out in memory, so a bulk batch of unsynced chunks would otherwise grow it (a
/// 100 MB publish peaked 60 MiB higher without this).
const FLUSH_EVERY_BYTES: usize = 16 << 20;

fn engine_err(e: impl std::fmt::Display) -> StoreError {
    super::engine_error(e.to_string())
}

fn full_key(table: Table, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(table.tag());
    k.extend_from_slice(key);
    k
}

impl SledEngine {
    /// Opens (creating if needed) the tree at `path`, caching at most `cache_bytes`.
    pub(super) fn open(path: &Path, cache_bytes: usize) -> Result<SledEngine, StoreError> {
        // sled releases its file lock from background threads a moment after the last
        // handle is dropped, so a reopen in the same process (restart, tests) may briefly
        // see the lock: retry for up to a second before reporting the store as in use.
        let mut retries = tanso_model::backoff::Backoff::new(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(100),
        )
        .start();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let db = loop {
            match sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes as u64)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(io))
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked(path.display().to_string()));
                    }
                    std::thread::sleep(retries.wait());
                }
                Err(other) => return Err(engine_err(other)),
            }
        };
        let tree = db.open_tree("tanso").map_err(engine_err)?;
        Ok(SledEngine {
            db,
            tree,
            path: path.to_path_buf(),
            unflushed: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl Engine for SledEngine {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree
            .get(full_key(table, key))
            .map_err(engine_err)?
            .map(|v| v.to_vec()))
    }

    fn snapshot(&self) -> Result<Option<Box<dyn ReadView + '_>>, StoreError> {
        // sled 0.34 has no read snapshots: the facade makes the reads that need one
        // consistent by other means (see `AuditSnapshot`).
        Ok(None)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let full_prefix = full_key(table, prefix);
        let from = match start {
            Some(s) if s > prefix => full_key(table, s),
            _ => full_prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.tree.range(from..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(engine_err)?;
            if !k.starts_with(&full_prefix) {
                break;
            }
            out.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn last(&self, table: Table) -> Result<Option<Entry>, StoreError> {
        let item = self
            .tree
            .scan_prefix([table.tag()])
            .next_back()
            .transpose()
            .map_err(engine_err)?;
        Ok(item.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.apply_batch(ops)?;
        self.flush()
    }

    fn apply_unsynced(&self, ops: &[Op]) -> Result<(), StoreError> {
        // Atomic by itself (all of it or none survives a crash); durable with the next flush.
        let bytes = self.apply_batch(ops)?;
        let pending = self
            .unflushed
            .fetch_add(bytes, std::sync::atomic::Ordering::SeqCst)
            + bytes;
        if pending >= FLUSH_EVERY_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn count(&self, table: Table) -> Result<u64, StoreError> {
        Ok(self.tree.scan_prefix([table.tag()]).count() as u64)
    }

    fn disk_bytes(&self) -> u64 {
        self.db
            .size_on_disk()
            .unwrap_or_else(|_| std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0))
    }
}

impl SledEngine {
    /// Applies `ops` as one sled batch; returns the bytes written.
    fn apply_batch(&self, ops: &[Op]) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut bytes = 0;
        for op in ops {
            match op {
                Op::Put(t, k, v) => {
                    bytes += 1 + k.len() + v.len();
                    batch.insert(full_key(*t, k), v.as_slice());
                }
                Op::Delete(t, k) => {
                    bytes += 1 + k.len();
                    batch.remove(full_key(*t, k));
                }
                Op::DeleteRange(t, start, end) => {
                    // sled has no range delete: the batch holds the keys (not the values).
                    for item in self.tree.range(full_key(*t, start)..full_key(*t, end)) {
                        let (k, _) = item.map_err(engine_err)?;
                        bytes += k.len();
                        batch.remove(k);
                    }
                }
            }
        }
        self.tree.apply_batch(batch).map_err(engine_err)?;
        Ok(bytes)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.unflushed.store(0, std::sync::atomic::Ordering::SeqCst);
        self.db.flush().map_err(engine_err)?;
        Ok(())
    }
}
