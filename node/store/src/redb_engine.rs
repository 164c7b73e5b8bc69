//! The redb engine: one redb table per logical table, one durable write transaction per batch.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{Engine, Entry, Op, ReadView, StoreError, Table};

pub(super) struct RedbEngine {
    db: Database,
    path: PathBuf,
}

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn engine_err(e: impl std::fmt::Display) -> StoreError {
    super::engine_error(e.to_string())
}

impl RedbEngine {
    /// Opens (creating if needed) the file at `path`, caching at most `cache_bytes` of pages.
    pub(super) fn open(path: &Path, cache_bytes: usize) -> Result<RedbEngine, StoreError> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::Locked(path.display().to_string())
                }
                other => engine_err(other),
            })?;
        // Create every table up front so readers never meet a missing one.
        let tx = db.begin_write().map_err(engine_err)?;
        for table in Table::ALL {
            tx.open_table(def(table)).map_err(engine_err)?;
        }
        tx.commit().map_err(engine_err)?;
        Ok(RedbEngine {
            db,
            path: path.to_path_buf(),
        })
    }
}

/// A redb read transaction: every read sees the state of one commit.
struct RedbView {
    tx: redb::ReadTransaction,
}

impl RedbView {
    fn table(
        &self,
        table: Table,
    ) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
        self.tx.open_table(def(table)).map_err(engine_err)
    }
}

impl ReadView for RedbView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.table(table)?;
        Ok(t.get(key).map_err(engine_err)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let t = self.table(table)?;
        let from = match start {
            Some(s) if s > prefix => s,
            _ => prefix,
        };
        let mut out = Vec::new();
        for item in t.range::<&[u8]>(from..).map_err(engine_err)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(engine_err)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn last(&self, table: Table) -> Result<Option<Entry>, StoreError> {
        let t = self.table(table)?;
        Ok(t.last()
            .map_err(engine_err)?
            .map(|(k, v)| (k.value().to_vec(), v.value().to_vec())))
    }
}

impl RedbEngine {
    fn view(&self) -> Result<RedbView, StoreError> {
        Ok(RedbView {
            tx: self.db.begin_read().map_err(engine_err)?,
        })
    }
}

impl Engine for RedbEngine {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.view()?.get(table, key)
    }

    fn snapshot(&self) -> Result<Option<Box<dyn ReadView + '_>>, StoreError> {
        Ok(Some(Box::new(self.view()?)))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.view()?.scan(table, prefix, start, limit)
    }

    fn last(&self, table: Table) -> Result<Option<Entry>, StoreError> {
        self.view()?.last(table)
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.write(ops, redb::Durability::Immediate)
    }

    fn apply_unsynced(&self, ops: &[Op]) -> Result<(), StoreError> {
        // A non-durable commit: the next durable one persists it with everything before it,
        // and a crash before then rolls the file back to the last durable commit.
        self.write(ops, redb::Durability::None)
    }

    fn count(&self, table: Table) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(engine_err)?;
        let t = tx.open_table(def(table)).map_err(engine_err)?;
        t.len().map_err(engine_err)
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }
}

impl RedbEngine {
    /// One write transaction applying `ops`, committed with `durability`.
    fn write(&self, ops: &[Op], durability: redb::Durability) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(engine_err)?;
        tx.set_durability(durability).map_err(engine_err)?;
        {
            let mut tables = std::collections::BTreeMap::new();
            for op in ops {
                let table = match op {
                    Op::Put(t, ..) | Op::Delete(t, _) | Op::DeleteRange(t, ..) => *t,
                };
                if let std::collections::btree_map::Entry::Vacant(e) = tables.entry(table) {
                    e.insert(tx.open_table(def(table)).map_err(engine_err)?);
                }
                let t = tables
                    .get_mut(&table)
                    .ok_or_else(|| engine_err("table vanished"))?;
                match op {
                    Op::Put(_, k, v) => {
                        t.insert(k.as_slice(), v.as_slice()).map_err(engine_err)?;
                    }
                    Op::Delete(_, k) => {
                        t.remove(k.as_slice()).map_err(engine_err)?;
                    }
                    Op::DeleteRange(_, start, end) => {
                        t.retain_in::<&[u8], _>(start.as_slice()..end.as_slice(), |_, _| false)
                            .map_err(engine_err)?;
                    }
                }
            }
        }
        tx.commit().map_err(engine_err)
    }
}
