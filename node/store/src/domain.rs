//! Domain records and the typed operations on them: footprints, inbox, partners, policies, audit.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Op, Store, StoreError, Table, Tx, pair_key, pair_prefix};
use tanso_model::pact::{ProductFootprint, Status};

pub use tanso_model::signed::SigRecord;

/// One of this node's published footprints with the owner's signatures of both views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnFootprint {
    pub footprint: ProductFootprint,
    pub sig_full: SigRecord,
    pub sig_summary: SigRecord,
    pub published_at: String,
}

pub use tanso_model::records::{InboxEntry, RequestState, SignatureStatus};

/// A partner company this node knows, with the groups the operator put it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerRecord {
    pub card: tanso_model::card::NodeCard,
    pub groups: Vec<String>,
    pub added_at: String,
}

/// A usage policy as loaded, kept as its source text so it reloads exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    pub uid: String,
    pub source_name: String,
    pub source: String,
    pub added_at: String,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Engine(format!("encode: {e}")))
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(
    table: Table,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.name(),
        reason: e.to_string(),
    })
}

pub(super) fn audit_seq(key: &[u8]) -> Result<u64, StoreError> {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            table: "audit",
            reason: "short key".into(),
        })
}

fn status_str(status: Status) -> &'static str {
    status.as_str()
}

/// Index rows of a footprint: (table, key).
fn index_rows(fp: &ProductFootprint) -> Vec<(Table, Vec<u8>)> {
    let id = fp.id.to_ascii_lowercase();
    let mut rows = Vec::new();
    for p in &fp.product_ids {
        rows.push((
            Table::FootprintsByProduct,
            pair_key(&p.to_ascii_lowercase(), &id),
        ));
    }
    for c in &fp.company_ids {
        rows.push((
            Table::FootprintsByCompany,
            pair_key(&c.to_ascii_lowercase(), &id),
        ));
    }
    for c in fp.product_classifications.iter().flatten() {
        rows.push((
            Table::FootprintsByClassification,
            pair_key(&c.to_ascii_lowercase(), &id),
        ));
    }
    rows.push((
        Table::FootprintsByStatus,
        pair_key(status_str(fp.status), &id),
    ));
    rows
}

fn remove_index_ops(tx: &mut Tx<'_>, fp: &ProductFootprint) {
    for (table, key) in index_rows(fp) {
        tx.delete(table, key);
    }
}

fn index_ops(tx: &mut Tx<'_>, fp: &ProductFootprint) {
    for (table, key) in index_rows(fp) {
        tx.put(table, key, Vec::new());
    }
}

/// A new own footprint encoded for the store: its key, record bytes and index keys. Built
/// by [`encode_footprint`] wherever the caller has cores to spare (publish does it on its
/// signing threads), so the write path only moves bytes.
#[derive(Debug, Clone)]
pub struct EncodedFootprint {
    /// Lowercase id (the record's key).
    key: Vec<u8>,
    record: Vec<u8>,
    index: Vec<(Table, Vec<u8>)>,
}

impl EncodedFootprint {
    /// The footprint id (lowercase).
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.key).unwrap_or_default()
    }
}

/// Encodes `own` exactly as [`Store::publish_batch`] would store it.
pub fn encode_footprint(own: &OwnFootprint) -> Result<EncodedFootprint, StoreError> {
    Ok(EncodedFootprint {
        key: own.footprint.id.to_ascii_lowercase().into_bytes(),
        record: encode(own)?,
        index: index_rows(&own.footprint),
    })
}

/// The writes of [`Store::publish_batch`] within a transaction.
pub(super) fn publish_tx(
    tx: &mut Tx<'_>,
    new: &[OwnFootprint],
    deprecated: &[OwnFootprint],
) -> Result<(), StoreError> {
    for own in deprecated {
        let id = own.footprint.id.to_ascii_lowercase();
        let current: OwnFootprint = match tx.get(Table::Footprints, id.as_bytes())? {
            Some(bytes) => decode(Table::Footprints, &bytes)?,
            None => return Err(StoreError::NotFound(format!("footprint {id}"))),
        };
        if current.footprint.status != Status::Active {
            return Err(StoreError::Conflict(format!(
                "footprint {id} is already deprecated"
            )));
        }
        if own.footprint.status != Status::Deprecated {
            return Err(StoreError::Conflict(format!(
                "footprint {id} handed in for deprecation is not marked Deprecated"
            )));
        }
        remove_index_ops(tx, &current.footprint);
        tx.put(Table::Footprints, id.into_bytes(), encode(own)?);
        index_ops(tx, &own.footprint);
    }
    let encoded = new
        .iter()
        .map(encode_footprint)
        .collect::<Result<Vec<_>, _>>()?;
    put_new_tx(tx, encoded)
}

/// Deprecates `deprecated` (see [`publish_tx`]) and stores the pre-encoded `new` ones.
pub(super) fn publish_encoded_tx(
    tx: &mut Tx<'_>,
    new: Vec<EncodedFootprint>,
    deprecated: &[OwnFootprint],
) -> Result<(), StoreError> {
    publish_tx(tx, &[], deprecated)?;
    put_new_tx(tx, new)
}

/// Puts new footprints; a conflict when an id exists (stored, or earlier in this batch).
fn put_new_tx(tx: &mut Tx<'_>, new: Vec<EncodedFootprint>) -> Result<(), StoreError> {
    let conflict = |id: &str| {
        StoreError::Conflict(format!(
            "footprint {id} already exists (a new version needs a new id)"
        ))
    };
    // Stored ids, in one engine read; then ids written earlier in this batch.
    let keys: Vec<&[u8]> = new.iter().map(|e| e.key.as_slice()).collect();
    if let Some(i) = tx.first_stored(Table::Footprints, &keys)? {
        return Err(conflict(new[i].id()));
    }
    let mut batch = std::collections::HashSet::with_capacity(new.len());
    for encoded in &new {
        if tx.has_write(Table::Footprints, &encoded.key) || !batch.insert(encoded.key.as_slice()) {
            return Err(conflict(encoded.id()));
        }
    }
    drop(batch);
    // Ids checked above and nothing reads them back in this transaction: the bulk of a
    // large publish goes in without the transaction's write index.
    for encoded in new {
        tx.put_unindexed(Table::Footprints, encoded.key, encoded.record);
        for (table, key) in encoded.index {
            tx.put_unindexed(table, key, Vec::new());
        }
    }
    Ok(())
}

/// Whether a footprint id is free for a new footprint of an open publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdState {
    /// Neither stored nor written by this publish.
    Free,
    /// Stored before this publish.
    Stored,
    /// Written (or reserved) earlier in this publish.
    InBatch,
}

/// One chunk of a streamed publish, written atomically (but not yet visibly) by
/// [`PublishWriter::write`].
#[derive(Debug, Default)]
pub struct PublishChunk {
    /// New footprints, encoded ([`encode_footprint`]).
    pub new: Vec<EncodedFootprint>,
    /// Stored Active footprints re-signed with status Deprecated.
    pub deprecated: Vec<OwnFootprint>,
    /// Outbox items the chunk causes.
    pub items: Vec<super::OutboxItem>,
    /// Ids to reserve without a record: a publish already known to fail keeps writing them
    /// so that later duplicates are still found, and is then aborted.
    pub reserved: Vec<String>,
}

/// An open streamed publish (see [`Store::begin_publish`]).
pub struct PublishWriter<'a> {
    bulk: super::bulk::BulkWrite<'a>,
}

impl PublishWriter<'_> {
    /// Whether `id` is free, stored, or written earlier in this publish (case-insensitive).
    pub fn id_state(&self, id: &str) -> Result<IdState, StoreError> {
        let key = id.to_ascii_lowercase();
        Ok(match self.bulk.find(Table::Footprints, key.as_bytes())? {
            super::bulk::Found::Absent => IdState::Free,
            super::bulk::Found::Stored(_) => IdState::Stored,
            super::bulk::Found::Written(_) => IdState::InBatch,
        })
    }

    /// Writes a chunk. Fails, writing nothing of it, when a new id exists (stored or in this
    /// publish) or a footprint to deprecate is not stored and Active; the publish should then
    /// be aborted.
    pub fn write(&self, chunk: PublishChunk) -> Result<(), StoreError> {
        use super::bulk::Found;
        let mut ops = Vec::new();
        for own in &chunk.deprecated {
            let id = own.footprint.id.to_ascii_lowercase();
            let current: OwnFootprint = match self.bulk.find(Table::Footprints, id.as_bytes())? {
                Found::Stored(bytes) => decode(Table::Footprints, &bytes)?,
                // Deprecated earlier in this publish (named by two new versions).
                Found::Written(_) => continue,
                Found::Absent => return Err(StoreError::NotFound(format!("footprint {id}"))),
            };
            if current.footprint.status != Status::Active
                || own.footprint.status != Status::Deprecated
            {
                return Err(StoreError::Conflict(format!(
                    "footprint {id} is already deprecated"
                )));
            }
            for (table, key) in index_rows(&current.footprint) {
                ops.push(Op::Delete(table, key));
            }
            ops.push(Op::Put(Table::Footprints, id.into_bytes(), encode(own)?));
            for (table, key) in index_rows(&own.footprint) {
                ops.push(Op::Put(table, key, Vec::new()));
            }
        }
        let mut keys = std::collections::HashSet::with_capacity(chunk.new.len());
        for key in chunk.new.iter().map(|e| e.key.clone()).chain(
            chunk
                .reserved
                .iter()
                .map(|id| id.to_ascii_lowercase().into_bytes()),
        ) {
            let free = !keys.contains(&key)
                && matches!(self.bulk.find(Table::Footprints, &key)?, Found::Absent);
            if !free {
                return Err(StoreError::Conflict(format!(
                    "footprint {} already exists (a new version needs a new id)",
                    String::from_utf8_lossy(&key)
                )));
            }
            keys.insert(key);
        }
        drop(keys);
        // Ids checked above; their index rows name them, so cannot exist either, and outbox
        // item ids are new: all written without reading them first.
        let mut fresh = Vec::new();
        for encoded in chunk.new {
            fresh.push((Table::Footprints, encoded.key, encoded.record));
            for (table, key) in encoded.index {
                fresh.push((table, key, Vec::new()));
            }
        }
        for id in chunk.reserved {
            fresh.push((
                Table::Footprints,
                id.to_ascii_lowercase().into_bytes(),
                Vec::new(),
            ));
        }
        for item in &chunk.items {
            fresh.push((Table::Outbox, item.id.clone().into_bytes(), encode(item)?));
        }
        self.bulk.write(ops, fresh)
    }

    /// Makes every chunk visible at once, durably.
    pub fn commit(self) -> Result<(), StoreError> {
        self.bulk.commit()
    }

    /// Removes every chunk written (none was ever visible).
    pub fn abort(self) -> Result<(), StoreError> {
        self.bulk.abort()
    }
}

impl Store {
    // === own footprints ===

    /// Publishes `new` footprints and stores `deprecated` (earlier versions re-signed with
    /// status Deprecated) in one atomic, durable batch. Fails, storing nothing, when a new id
    /// already exists or a deprecated one is missing or no longer Active.
    pub fn publish_batch(
        &self,
        new: &[OwnFootprint],
        deprecated: &[OwnFootprint],
    ) -> Result<(), StoreError> {
        let _writers = self.bulk.footprint_writers();
        self.update(|tx| publish_tx(tx, new, deprecated))
    }

    /// [`Store::publish_batch_notify`] with the new footprints already encoded
    /// ([`encode_footprint`]), so the single writer only checks ids and moves bytes.
    pub fn publish_encoded_notify(
        &self,
        new: Vec<EncodedFootprint>,
        deprecated: &[OwnFootprint],
        items: &[super::OutboxItem],
    ) -> Result<(), StoreError> {
        let _writers = self.bulk.footprint_writers();
        self.update(|tx| {
            publish_encoded_tx(tx, new, deprecated)?;
            super::exchange::outbox_puts(tx, items)
        })
    }

    /// Opens a publish too large to hold in memory: chunks written with
    /// [`PublishWriter::write`] stay invisible until [`PublishWriter::commit`] makes them all
    /// visible at once, durably; [`PublishWriter::abort`] (or dropping it) removes them.
    /// Other own-footprint writes wait until it is finished.
    pub fn begin_publish(&self) -> Result<PublishWriter<'_>, StoreError> {
        Ok(PublishWriter {
            bulk: self.begin_bulk()?,
        })
    }

    pub fn own_footprint(&self, id: &str) -> Result<Option<OwnFootprint>, StoreError> {
        Ok(self.own_footprint_shared(id)?.map(Arc::unwrap_or_clone))
    }

    /// An own footprint as the decoded cache shares it (no copy; records are immutable).
    pub fn own_footprint_shared(&self, id: &str) -> Result<Option<Arc<OwnFootprint>>, StoreError> {
        let key = id.to_ascii_lowercase().into_bytes();
        self.cache.footprint(
            &key,
            || self.get(Table::Footprints, &key),
            |b| decode(Table::Footprints, b),
        )
    }

    /// Own footprints in id order, starting after `after` (exclusive), at most `limit`.
    pub fn own_footprints_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OwnFootprint>, StoreError> {
        let start = after.map(|a| {
            let mut k = a.to_ascii_lowercase().into_bytes();
            k.push(0);
            k
        });
        self.scan(Table::Footprints, b"", start.as_deref(), limit)?
            .into_iter()
            .map(|(_, v)| decode(Table::Footprints, &v))
            .collect()
    }

    /// Ids of own footprints indexed under `product_id` (case-insensitive).
    pub fn own_ids_by_product(&self, product_id: &str) -> Result<Vec<String>, StoreError> {
        self.index_ids(Table::FootprintsByProduct, &product_id.to_ascii_lowercase())
    }

    /// Ids of own footprints with `status`.
    pub fn own_ids_by_status(&self, status: Status) -> Result<Vec<String>, StoreError> {
        self.index_ids(Table::FootprintsByStatus, status_str(status))
    }

    /// Ids of own footprints indexed under `classification` (case-insensitive).
    pub fn own_ids_by_classification(
        &self,
        classification: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.index_ids(
            Table::FootprintsByClassification,
            &classification.to_ascii_lowercase(),
        )
    }

    fn index_ids(&self, table: Table, value: &str) -> Result<Vec<String>, StoreError> {
        let prefix = pair_prefix(value);
        Ok(self
            .scan(table, &prefix, None, usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    // === inbox ===

    /// Stores received footprints (replacing an earlier copy of the same id), all or nothing;
    /// inbox entries of the same owner named in their `precedingPfIds` become Deprecated.
    pub fn put_inbox(&self, entries: &[InboxEntry]) -> Result<(), StoreError> {
        self.update(|tx| super::exchange::put_inbox_tx(tx, entries))
    }

    pub fn inbox_entry(&self, id: &str) -> Result<Option<InboxEntry>, StoreError> {
        self.get(Table::Inbox, id.to_ascii_lowercase().as_bytes())?
            .map(|b| decode(Table::Inbox, &b))
            .transpose()
    }

    pub fn inbox(&self) -> Result<Vec<InboxEntry>, StoreError> {
        self.scan(Table::Inbox, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::Inbox, &v))
            .collect()
    }

    // === partners ===

    pub fn put_partner(&self, partner: &PartnerRecord) -> Result<(), StoreError> {
        let key = partner.card.company_id.to_ascii_lowercase().into_bytes();
        self.commit(vec![Op::Put(Table::Partners, key, encode(partner)?)])
    }

    pub fn partner(&self, company_id: &str) -> Result<Option<PartnerRecord>, StoreError> {
        Ok(self.partner_shared(company_id)?.map(Arc::unwrap_or_clone))
    }

    /// A partner record as the decoded cache shares it (no copy; records are immutable).
    pub fn partner_shared(
        &self,
        company_id: &str,
    ) -> Result<Option<Arc<PartnerRecord>>, StoreError> {
        let key = company_id.to_ascii_lowercase().into_bytes();
        self.cache.partner(
            &key,
            || self.get(Table::Partners, &key),
            |b| decode(Table::Partners, b),
        )
    }

    pub fn partners(&self) -> Result<Vec<PartnerRecord>, StoreError> {
        self.scan(Table::Partners, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::Partners, &v))
            .collect()
    }

    /// Removes a partner; `false` when there was none.
    pub fn remove_partner(&self, company_id: &str) -> Result<bool, StoreError> {
        let key = company_id.to_ascii_lowercase().into_bytes();
        self.update(|tx| {
            if tx.get(Table::Partners, &key)?.is_none() {
                return Ok(false);
            }
            tx.delete(Table::Partners, key.clone());
            Ok::<_, StoreError>(true)
        })
    }

    // === policies ===

    pub fn put_policy(&self, policy: &PolicyRecord) -> Result<(), StoreError> {
        self.commit(vec![Op::Put(
            Table::Policies,
            policy.uid.clone().into_bytes(),
            encode(policy)?,
        )])
    }

    pub fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.scan(Table::Policies, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::Policies, &v))
            .collect()
    }

    pub fn remove_policy(&self, uid: &str) -> Result<bool, StoreError> {
        self.update(|tx| {
            if tx.get(Table::Policies, uid.as_bytes())?.is_none() {
                return Ok(false);
            }
            tx.delete(Table::Policies, uid.as_bytes().to_vec());
            Ok::<_, StoreError>(true)
        })
    }

    // === audit, nonces, daily counts (written by the journal) ===

    /// Audit entries in sequence order starting at `from_seq`, at most `limit`.
    pub fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = from_seq.to_be_bytes();
        self.scan(Table::Audit, b"", Some(&start), limit)?
            .into_iter()
            .map(|(k, v)| Ok((audit_seq(&k)?, v)))
            .collect::<Result<_, StoreError>>()
    }

    pub fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.last(Table::Audit)?
            .map(|(k, v)| Ok((audit_seq(&k)?, v)))
            .transpose()
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Table::Meta, key.as_bytes())
    }

    /// Seen nonces: (key id, nonce hex, issued-at ms), oldest first.
    pub fn nonces(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(self
            .scan(Table::Nonces, b"", None, usize::MAX)?
            .into_iter()
            .filter_map(|(k, v)| parse_nonce_row(&k, &v))
            .collect())
    }

    /// Rewrites seen-nonce rows written under the earlier key layout (key id, 0, nonce hex)
    /// to the time-ordered one, in one batch; nothing to do (one point read) once done.
    /// Legacy keys start with a key id's first (printable) byte, so they sort after every
    /// time-ordered key and the table's last key tells whether any is left.
    pub(super) fn upgrade_nonce_keys(&self) -> Result<(), StoreError> {
        let legacy = |k: &[u8]| k.first() != Some(&NONCE_KEY_TAG);
        if !self.last(Table::Nonces)?.is_some_and(|(k, _)| legacy(&k)) {
            return Ok(());
        }
        let mut ops = Vec::new();
        for (k, v) in self.scan(Table::Nonces, b"", None, usize::MAX)? {
            if !legacy(&k) {
                continue;
            }
            if let Some((key_id, nonce_hex, at)) = parse_nonce_row(&k, &v) {
                ops.push(journal_ops::nonce(&key_id, &nonce_hex, at).0);
            }
            ops.push(Op::Delete(Table::Nonces, k));
        }
        self.commit(ops)
    }

    /// Requests served to `company_id` on `day` (yyyy-mm-dd).
    pub fn daily_count(&self, company_id: &str, day: &str) -> Result<u32, StoreError> {
        Ok(self
            .get(
                Table::DailyCounts,
                &pair_key(&company_id.to_ascii_lowercase(), day),
            )?
            .and_then(|v| v.get(..4).and_then(|b| b.try_into().ok()))
            .map(u32::from_be_bytes)
            .unwrap_or(0))
    }

    /// Writes a journal batch (audit entries, nonces, counters, meta) atomically and durably.
    pub fn commit_journal(&self, ops: Vec<journal_ops::JournalOp>) -> Result<(), StoreError> {
        self.commit(ops.into_iter().map(|op| op.0).collect())
    }
}

/// First byte of a seen-nonce key. Keys are time-ordered, `0x01 || issued-at || key id || 0 ||
/// nonce hex` (issued-at in ms as a big-endian u64 with the sign bit flipped, so it sorts as
/// the i64 does): the journal appends each request's nonce at the end of the table and a
/// sweep forgets a contiguous run at its start, where random keys dirtied one page per nonce
/// in every commit. Printable key ids never start with this byte.
const NONCE_KEY_TAG: u8 = 0x01;

fn nonce_key(key_id: &str, nonce_hex: &str, issued_at_ms: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 8 + key_id.len() + 1 + nonce_hex.len());
    k.push(NONCE_KEY_TAG);
    k.extend_from_slice(&((issued_at_ms as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&pair_key(key_id, nonce_hex));
    k
}

/// A seen-nonce row in either key layout (the value holds issued-at in both).
fn parse_nonce_row(k: &[u8], v: &[u8]) -> Option<(String, String, i64)> {
    let pair = match k.first() {
        Some(&NONCE_KEY_TAG) => k.get(9..)?,
        _ => k,
    };
    let split = pair.iter().position(|b| *b == 0)?;
    let key_id = String::from_utf8_lossy(&pair[..split]).into_owned();
    let nonce = String::from_utf8_lossy(&pair[split + 1..]).into_owned();
    let at = i64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    Some((key_id, nonce, at))
}

/// Builders of journal ops, so the journal never names tables' key layouts itself.
pub mod journal_ops {
    use super::{Op, Table, nonce_key, pair_key};

    /// One write of a journal batch; opaque outside the store.
    #[derive(Debug, Clone)]
    pub struct JournalOp(pub(crate) Op);

    pub fn audit(seq: u64, entry: Vec<u8>) -> JournalOp {
        JournalOp(Op::Put(Table::Audit, seq.to_be_bytes().to_vec(), entry))
    }

    pub fn meta(key: &str, value: Vec<u8>) -> JournalOp {
        JournalOp(Op::Put(Table::Meta, key.as_bytes().to_vec(), value))
    }

    pub fn nonce(key_id: &str, nonce_hex: &str, issued_at_ms: i64) -> JournalOp {
        JournalOp(Op::Put(
            Table::Nonces,
            nonce_key(key_id, nonce_hex, issued_at_ms),
            issued_at_ms.to_be_bytes().to_vec(),
        ))
    }

    pub fn forget_nonce(key_id: &str, nonce_hex: &str, issued_at_ms: i64) -> JournalOp {
        JournalOp(Op::Delete(
            Table::Nonces,
            nonce_key(key_id, nonce_hex, issued_at_ms),
        ))
    }

    pub fn daily(company_id: &str, day: &str, count: u32) -> JournalOp {
        JournalOp(Op::Put(
            Table::DailyCounts,
            pair_key(&company_id.to_ascii_lowercase(), day),
            count.to_be_bytes().to_vec(),
        ))
    }
}
