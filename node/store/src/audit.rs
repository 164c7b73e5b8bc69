//! Consistent reads of the audit log, and the batch that removes an archived prefix.
//!
//! The journal appends entries and rewrites the signed head in one batch; an archive removes
//! entries from the front and rewrites the anchor in one batch. A reader that takes entries
//! and head (or anchor) from two different states reports a false break, so every reader
//! that compares them goes through an [`AuditSnapshot`].

use std::sync::RwLockReadGuard;

use super::{Engine, Entry, ReadView, Store, StoreError, Table};
use tanso_model::audit::{ANCHOR_KEY as AUDIT_ANCHOR_KEY, HEAD_KEY as AUDIT_HEAD_KEY};

enum View<'a> {
    /// The engine's own snapshot (redb).
    Snapshot(Box<dyn ReadView + 'a>),
    /// Live reads (sled), made consistent by the bounds and the gate below.
    Live(&'a dyn Engine),
}

/// One consistent state of the audit log: entries, signed head and anchor.
///
/// On redb this is a read transaction. sled has no snapshots, so there the head, the anchor
/// and the last entry's key are read together under the store's write lock (no batch lands
/// between them), entries are read only up to that last entry (the journal only appends
/// after it), and the archive gate is held shared for the snapshot's life (no archive removes
/// entries from the front while it is read). Writers are never blocked on redb; on sled only
/// an archive's commit waits for open snapshots.
pub struct AuditSnapshot<'a> {
    view: View<'a>,
    head: Option<Vec<u8>>,
    anchor: Option<Vec<u8>>,
    /// One past the last entry in this state (`None`: no entries).
    end: Option<u64>,
    _gate: Option<RwLockReadGuard<'a, ()>>,
}

fn seq_of(entry: &Entry) -> Result<u64, StoreError> {
    super::domain::audit_seq(&entry.0)
}

impl AuditSnapshot<'_> {
    /// The signed head as stored.
    pub fn head(&self) -> Option<&[u8]> {
        self.head.as_deref()
    }

    /// The archive anchor as stored (`None`: nothing was ever archived).
    pub fn anchor(&self) -> Option<&[u8]> {
        self.anchor.as_deref()
    }

    /// One past the last entry in the store (`None`: the store holds no entry).
    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// Entries in sequence order from `from_seq`, at most `limit`, as stored.
    pub fn entries(&self, from_seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(end) = self.end else {
            return Ok(Vec::new());
        };
        if from_seq >= end {
            return Ok(Vec::new());
        }
        let limit = limit.min(usize::try_from(end - from_seq).unwrap_or(usize::MAX));
        let start = from_seq.to_be_bytes();
        let page = match &self.view {
            View::Snapshot(view) => view.scan(Table::Audit, b"", Some(&start), limit)?,
            View::Live(engine) => engine.scan(Table::Audit, b"", Some(&start), limit)?,
        };
        let mut out = Vec::with_capacity(page.len());
        for entry in page {
            let seq = seq_of(&entry)?;
            if seq >= end {
                break;
            }
            out.push((seq, entry.1));
        }
        Ok(out)
    }
}

impl Store {
    /// The audit log in one consistent state (see [`AuditSnapshot`]).
    pub fn audit_snapshot(&self) -> Result<AuditSnapshot<'_>, StoreError> {
        if let Some(view) = self.engine.snapshot()? {
            let head = view.get(Table::Meta, AUDIT_HEAD_KEY.as_bytes())?;
            let anchor = view.get(Table::Meta, AUDIT_ANCHOR_KEY.as_bytes())?;
            let end = match view.last(Table::Audit)? {
                Some(last) => Some(seq_of(&last)? + 1),
                None => None,
            };
            return Ok(AuditSnapshot {
                view: View::Snapshot(view),
                head,
                anchor,
                end,
                _gate: None,
            });
        }
        let gate = self
            .archive_gate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (head, anchor, last) = {
            let _writes = self.lock();
            (
                self.engine.get(Table::Meta, AUDIT_HEAD_KEY.as_bytes())?,
                self.engine.get(Table::Meta, AUDIT_ANCHOR_KEY.as_bytes())?,
                self.engine.last(Table::Audit)?,
            )
        };
        let end = match last {
            Some(last) => Some(seq_of(&last)? + 1),
            None => None,
        };
        Ok(AuditSnapshot {
            view: View::Live(self.engine.as_ref()),
            head,
            anchor,
            end,
            _gate: Some(gate),
        })
    }

    /// Removes audit entries `from_seq..=through_seq` and stores `anchor` in one atomic,
    /// durable batch, provided the stored anchor is still `expected_anchor` (else
    /// [`StoreError::Conflict`] and nothing changes). The entries are deleted as a range, so
    /// memory does not grow with their number on redb (sled's batch holds their keys).
    pub fn audit_remove_archived(
        &self,
        expected_anchor: Option<&[u8]>,
        from_seq: u64,
        through_seq: u64,
        anchor: Vec<u8>,
    ) -> Result<(), StoreError> {
        let end = through_seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Conflict("audit sequence number overflow".into()))?;
        let _gate = self
            .archive_gate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.update(|tx| {
            let current = tx.get(Table::Meta, AUDIT_ANCHOR_KEY.as_bytes())?;
            if current.as_deref() != expected_anchor {
                return Err(StoreError::Conflict(
                    "the audit log was archived by another run meanwhile; nothing was removed"
                        .into(),
                ));
            }
            tx.delete_range_unindexed(
                Table::Audit,
                from_seq.to_be_bytes().to_vec(),
                end.to_be_bytes().to_vec(),
            );
            tx.put(Table::Meta, AUDIT_ANCHOR_KEY.as_bytes().to_vec(), anchor);
            Ok(())
        })
    }
}
