//! Publishing footprints: a document streamed from a reader, validated and signed chunk by
//! chunk on every core, and stored all or nothing, in memory bounded by the chunk size and
//! not by the document.
//!
//! Three threads share the work, joined by channels of one chunk each:
//!
//! - the *reader* splits the input into records ([`pact::stream`]) and hands on chunks of up
//!   to [`CHUNK_RECORDS`] records or [`CHUNK_BYTES`] of text;
//! - the *main* thread parses and validates a chunk on all cores (`parallel::map_chunks`),
//!   checks ids, finds the own Active footprints named in `precedingPfIds`, signs both views
//!   of the new and the deprecated footprints on all cores, encodes them, and builds the
//!   outbox items the chunk causes (Published notifications to partners, PACT
//!   PublishedEvents), in input order;
//! - the *writer* writes each chunk into one open store batch
//!   ([`crate::store::Store::begin_publish`]), unseen by readers until the commit.
//!
//! A document that fits in one chunk skips the writer: it is one ordinary atomic batch.
//!
//! **All or nothing.** The first problem (a finding, a duplicate id, a footprint whose answer
//! would not fit `[limits] max_message_bytes`, an id already stored) stops the signing and
//! writing; the rest of the input is still read and validated, so the report is complete,
//! and the batch is then aborted: nothing of it was ever visible, and nothing stays. The
//! report lists at most [`MAX_LISTED`] problems and counts the rest; notes likewise.
//!
//! **Duplicate ids** are found without keeping every id: an id written (or, after the first
//! problem, reserved) by an earlier chunk is found through the open batch, and the ids of
//! the last few chunks, which the writer may not have written yet, are kept in memory.
//!
//! What grows with the document is only the list of new ids the outcome returns (about 40
//! bytes per footprint).

use std::collections::{HashSet, VecDeque};
use std::io::BufRead;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::exchange::PendingWatch;
use crate::node::{Node, now_rfc3339};
use crate::pact::stream::{self, Record};
use crate::pact::{self, ProductFootprint, Status, ValidationContext};
use crate::store::{EncodedFootprint, IdState, OwnFootprint, PublishChunk, PublishWriter};

/// Problems (and notes) a publish lists; the rest are counted.
pub const MAX_LISTED: usize = 100;
/// Records per chunk.
pub const CHUNK_RECORDS: usize = 1024;
/// JSONL text per chunk (a chunk ends at whichever limit comes first).
pub const CHUNK_BYTES: usize = 4 << 20;
/// Chunks whose ids are kept in memory for the duplicate check (the writer is at most this
/// far behind).
const RECENT_CHUNKS: usize = 4;
/// A record's text may be this many times `[limits] max_message_bytes` (whitespace and
/// field names make JSON larger than its answer); beyond it, it cannot fit and is refused
/// unread.
const RECORD_TEXT_FACTOR: usize = 4;

/// What `publish` did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublishOutcome {
    /// New footprint ids, in input order.
    pub ids: IdList,
    /// Ids deprecated because a new footprint names them in `precedingPfIds`.
    pub deprecated: IdList,
    /// Notes from import (dropped fields, v2 conversion), at most [`MAX_LISTED`] and a count.
    pub notes: Vec<String>,
}

/// Footprint ids in order, kept as one string (a bulk publish returns a million of them);
/// serialised as a JSON array of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList {
    /// Each id followed by `\n` (ids are uuids).
    text: String,
    len: usize,
}

impl IdList {
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.text.push('\n');
        self.len += 1;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }
    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }
}

impl std::ops::Index<usize> for IdList {
    type Output = str;
    /// The id at `index` (a walk from the start).
    fn index(&self, index: usize) -> &str {
        self.iter().nth(index).expect("id index out of range")
    }
}

impl PartialEq<Vec<String>> for IdList {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.len == other.len() && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl Serialize for IdList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IdList, D::Error> {
        struct Ids;
        impl<'de> serde::de::Visitor<'de> for Ids {
            type Value = IdList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of footprint ids")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<IdList, A::Error> {
                let mut list = IdList::default();
                while let Some(id) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    if id.contains('\n') {
                        return Err(serde::de::Error::custom("a footprint id with a line break"));
                    }
                    list.push(&id);
                }
                Ok(list)
            }
        }
        d.deserialize_seq(Ids)
    }
}

/// The first [`MAX_LISTED`] lines of something and how many more there were: the rest are
/// counted, never built.
#[derive(Debug, Default)]
struct Listed {
    lines: Vec<String>,
    more: usize,
}

impl Listed {
    fn push(&mut self, line: impl FnOnce() -> String) {
        if self.lines.len() < MAX_LISTED {
            self.lines.push(line());
        } else {
            self.more += 1;
        }
    }
    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    fn into_lines(mut self, what: &str) -> Vec<String> {
        if self.more > 0 {
            self.lines
                .push(format!("... and {} more {what}", self.more));
        }
        self.lines
    }
}

/// A chunk of records from the reader; `last` when the document ended with it.
struct RawChunk {
    records: Vec<Record>,
    last: bool,
}

/// A record parsed and validated on a worker thread: the footprint, its notes and the size
/// of the largest answer it can be part of, or its findings, or why it is not a footprint.
type Checked = Result<Result<(pact::Imported, usize), Vec<pact::Finding>>, pact::DocumentError>;

/// The state of one publish between chunks.
struct Run<'n> {
    node: &'n Node,
    ctx: ValidationContext,
    max_message_bytes: usize,
    published_at: String,
    /// Whether findings need a `[index]` prefix (more than one record).
    many: Option<bool>,
    problems: Listed,
    /// The first id found already stored (reported when nothing else is wrong).
    conflict: Option<String>,
    conflicts: usize,
    notes: Listed,
    /// Set at the first problem: from then on records are only validated and their ids
    /// reserved.
    failed: bool,
    ids: IdList,
    deprecated: IdList,
    /// Lowercase ids of the last chunks (new, and deprecated), for duplicates the writer
    /// may not have written yet.
    recent_new: VecDeque<HashSet<String>>,
    recent_deprecated: VecDeque<HashSet<String>>,
    /// `update`: the footprint the first chunk deprecates.
    replaces: Option<OwnFootprint>,
    hosts: Box<dyn crate::transport::Announcer>,
    watch: PendingWatch,
    item_ids: Vec<String>,
}

impl Node {
    /// Validates, signs and stores every footprint of a document (object, array or JSONL),
    /// all or nothing. Footprints naming own Active footprints in `precedingPfIds` replace
    /// them: the old ones are re-signed as Deprecated in the same atomic batch.
    pub fn publish(&self, text: &str) -> Result<PublishOutcome, NodeError> {
        publish(self, text.as_bytes(), None)
    }

    /// [`Node::publish`] of a document read from `input` as it goes, in bounded memory.
    pub fn publish_reader(&self, input: impl BufRead + Send) -> Result<PublishOutcome, NodeError> {
        publish(self, input, None)
    }
}

/// The one publish (see the module documentation). `replaces`: an own footprint that must
/// be Active and is deprecated by this batch (`update`).
pub fn publish(
    node: &Node,
    input: impl BufRead + Send,
    replaces: Option<&str>,
) -> Result<PublishOutcome, NodeError> {
    node.check_store_quota()?;
    let replaces = match replaces {
        None => None,
        Some(old_id) => {
            let mut old = node
                .store()
                .own_footprint(old_id)?
                .ok_or_else(|| NodeError::NotFound(format!("footprint {old_id}")))?;
            if old.footprint.status != Status::Active {
                return Err(NodeError::Conflict(format!(
                    "footprint {old_id} is already deprecated; update its latest version"
                )));
            }
            old.footprint.status = Status::Deprecated;
            Some(old)
        }
    };
    let mut notes = Listed::default();
    let hosts = node
        .transport()
        .announcer(node, &mut |n| notes.push(|| n))?;
    let mut run = Run {
        node,
        ctx: ValidationContext {
            own_company_id: Some(node.company_id().to_string()),
        },
        max_message_bytes: node.config().max_message_bytes,
        published_at: now_rfc3339(),
        many: None,
        problems: Listed::default(),
        conflict: None,
        conflicts: 0,
        notes,
        failed: false,
        ids: IdList::default(),
        deprecated: IdList::default(),
        recent_new: VecDeque::new(),
        recent_deprecated: VecDeque::new(),
        replaces,
        hosts,
        watch: PendingWatch::load(node),
        item_ids: Vec::new(),
    };
    let max_record = run.max_message_bytes.saturating_mul(RECORD_TEXT_FACTOR);
    // Declared before the threads, which borrow it; opened when a second chunk arrives.
    let writer: OnceLock<PublishWriter<'_>> = OnceLock::new();
    let mut single = None;
    let streamed = std::thread::scope(|scope| -> Result<(), NodeError> {
        let (chunks_tx, chunks_rx) = sync_channel(1);
        scope.spawn(move || read_chunks(input, max_record, chunks_tx));
        let mut to_writer: Option<SyncSender<PublishChunk>> = None;
        let mut written = None;
        for message in chunks_rx {
            let raw = match message {
                Ok(raw) => raw,
                Err(e) => {
                    run.fail(|| e.to_string());
                    break;
                }
            };
            if raw.records.is_empty() {
                continue;
            }
            let first = run.many.is_none();
            if first {
                run.many = Some(raw.records.len() > 1 || !raw.last);
            }
            let last = raw.last;
            let chunk = run.process(raw, writer.get())?;
            if first && last {
                single = Some(chunk);
                break;
            }
            if to_writer.is_none() {
                let opened = node.store().begin_publish()?;
                let _ = writer.set(opened);
                let open = writer.get().expect("just set");
                let (tx, rx) = sync_channel(1);
                written = Some(scope.spawn(move || write_chunks(open, rx)));
                to_writer = Some(tx);
            }
            if let Some(tx) = &to_writer
                && tx.send(chunk).is_err()
            {
                break; // the writer stopped on an error, reported below
            }
        }
        drop(to_writer);
        if let Some(handle) = written {
            handle
                .join()
                .map_err(|_| NodeError::Internal("store writer thread panicked".into()))??;
        }
        Ok(())
    });
    let writer = writer.into_inner();
    let abort = |writer: Option<PublishWriter<'_>>| {
        if let Some(w) = writer
            && let Err(e) = w.abort()
        {
            tracing::warn!(error = %e, "abort of a refused publish stopped; retried later");
        }
    };
    if let Err(e) = streamed {
        abort(writer);
        return Err(e);
    }
    if !run.problems.is_empty() {
        abort(writer);
        let mut lines = run.problems.into_lines("findings");
        if let Some(c) = run.conflict {
            lines.insert(lines.len().min(MAX_LISTED), c);
        }
        return Err(NodeError::Invalid(lines));
    }
    if let Some(conflict) = run.conflict {
        abort(writer);
        let more = run.conflicts - 1;
        return Err(NodeError::Conflict(if more > 0 {
            format!("{conflict} (and {more} more ids already stored)")
        } else {
            conflict
        }));
    }
    let conflict = |e: crate::store::StoreError| match e {
        crate::store::StoreError::Conflict(m) => NodeError::Conflict(m),
        other => other.into(),
    };
    match (writer, single) {
        (Some(w), _) => w.commit().map_err(conflict)?,
        (None, Some(chunk)) => node
            .store()
            .publish_encoded_notify(chunk.new, &chunk.deprecated, &chunk.items)
            .map_err(conflict)?,
        (None, None) => {
            return Err(NodeError::Invalid(vec![
                pact::DocumentError::Empty.to_string(),
            ]));
        }
    }
    node.enqueued_ids(std::mem::take(&mut run.item_ids));
    node.fulfil_watched(&run.watch);
    Ok(PublishOutcome {
        ids: run.ids,
        deprecated: run.deprecated,
        notes: run.notes.into_lines("notes"),
    })
}

/// The reader thread: records in chunks, then the document's error if any.
fn read_chunks(
    input: impl BufRead,
    max_record: usize,
    out: SyncSender<Result<RawChunk, pact::DocumentError>>,
) {
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    let result = stream::for_each_record(input, max_record, |record| {
        if chunk.len() >= CHUNK_RECORDS || bytes >= CHUNK_BYTES {
            // Sent once another record exists, so the last chunk is known to be last.
            let full = RawChunk {
                records: std::mem::take(&mut chunk),
                last: false,
            };
            if out.send(Ok(full)).is_err() {
                return false; // the publish stopped
            }
            bytes = 0;
        }
        bytes += record.bytes;
        chunk.push(record);
        true
    });
    let last = result.is_ok();
    if !chunk.is_empty() || last {
        let _ = out.send(Ok(RawChunk {
            records: chunk,
            last,
        }));
    }
    if let Err(e) = result {
        let _ = out.send(Err(e));
    }
}

/// The writer thread: every chunk into the open batch, in order; stops at the first error.
fn write_chunks(
    writer: &PublishWriter<'_>,
    chunks: Receiver<PublishChunk>,
) -> Result<(), NodeError> {
    for chunk in chunks {
        let footprints = chunk.new.len();
        writer.write(chunk).map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => NodeError::Conflict(m),
            other => other.into(),
        })?;
        tracing::debug!(footprints, "publish: chunk written to the open batch");
    }
    Ok(())
}

impl Run<'_> {
    fn fail(&mut self, line: impl FnOnce() -> String) {
        self.failed = true;
        self.problems.push(line);
    }

    fn prefix(&self, index: usize) -> String {
        if self.many == Some(true) {
            format!("[{index}]")
        } else {
            String::new()
        }
    }

    /// Where `id` (lowercase) stands: through the open batch when there is one, else in the
    /// store.
    fn id_state(&self, writer: Option<&PublishWriter<'_>>, id: &str) -> Result<IdState, NodeError> {
        Ok(match writer {
            Some(w) => w.id_state(id)?,
            None => {
                if self.node.store().own_footprint_shared(id)?.is_some() {
                    IdState::Stored
                } else {
                    IdState::Free
                }
            }
        })
    }

    /// Validates a chunk and, while nothing failed, signs and encodes it: what the writer
    /// writes.
    fn process(
        &mut self,
        raw: RawChunk,
        writer: Option<&PublishWriter<'_>>,
    ) -> Result<PublishChunk, NodeError> {
        let ctx = &self.ctx;
        let sizes = AnswerSizes::new(self.node, self.max_message_bytes);
        let checked: Vec<(usize, Checked)> =
            crate::parallel::map_chunks(raw.records, 64, &|record: Record| {
                let index = record.index;
                let text_len = record.bytes;
                let checked = record.parse().map(|value| {
                    pact::import(value, ctx).map(|mut imported| {
                        let (footprint, bytes) = sizes.measure(imported.footprint, text_len);
                        imported.footprint = footprint;
                        (imported, bytes)
                    })
                });
                (index, checked)
            })
            .map_err(|_| NodeError::Internal("validation thread panicked".into()))?;
        if self.recent_new.len() == RECENT_CHUNKS {
            self.recent_new.pop_front();
            self.recent_deprecated.pop_front();
        }
        self.recent_new.push_back(HashSet::new());
        self.recent_deprecated.push_back(HashSet::new());
        let mut fresh: Vec<ProductFootprint> = Vec::new();
        let mut to_deprecate: Vec<ProductFootprint> = Vec::new();
        let mut reserved = Vec::new();
        if let Some(old) = self.replaces.take() {
            let id = old.footprint.id.to_ascii_lowercase();
            self.recent_deprecated
                .back_mut()
                .expect("pushed")
                .insert(id);
            to_deprecate.push(old.footprint);
        }
        for (index, checked) in checked {
            let (imported, answer_bytes) = match checked {
                Err(e) => {
                    self.fail(|| e.to_string());
                    continue;
                }
                Ok(Err(findings)) => {
                    let prefix = self.prefix(index);
                    for f in findings {
                        self.fail(|| format!("{prefix}{f}"));
                    }
                    continue;
                }
                Ok(Ok(ok)) => ok,
            };
            let prefix = self.prefix(index);
            for n in imported.notes {
                self.notes.push(|| format!("{prefix}{n}"));
            }
            let fp = imported.footprint;
            let id = fp.id.to_ascii_lowercase();
            if answer_bytes > self.max_message_bytes {
                let max = self.max_message_bytes;
                self.fail(|| {
                    format!(
                        "footprint [{index}] {}: encoded answer is {answer_bytes} bytes, over \
                         the limit of {max} bytes ([limits] max_message_bytes)",
                        fp.id
                    )
                });
            }
            let in_recent = self.recent_new.iter().any(|s| s.contains(&id));
            let state = if in_recent {
                IdState::InBatch
            } else {
                self.id_state(writer, &id)?
            };
            match state {
                IdState::InBatch => {
                    self.fail(|| format!("[{index}]/id: id {} appears twice in the input", fp.id));
                    continue;
                }
                IdState::Stored => {
                    self.failed = true;
                    self.conflicts += 1;
                    if self.conflict.is_none() {
                        self.conflict = Some(format!(
                            "footprint {id} already exists (a new version needs a new id)"
                        ));
                    }
                    continue;
                }
                IdState::Free => {}
            }
            self.recent_new
                .back_mut()
                .expect("pushed")
                .insert(id.clone());
            if self.failed {
                reserved.push(id);
                continue;
            }
            for old_id in fp.preceding_pf_ids.iter().flatten() {
                let old = old_id.to_ascii_lowercase();
                if self.recent_deprecated.iter().any(|s| s.contains(&old))
                    || self.recent_new.iter().any(|s| s.contains(&old))
                    || self.id_state(writer, &old)? != IdState::Stored
                {
                    continue; // not stored before this publish, or deprecated by it already
                }
                if let Some(stored) = self.node.store().own_footprint(&old)?
                    && stored.footprint.status == Status::Active
                {
                    let mut fp_old = stored.footprint;
                    fp_old.status = Status::Deprecated;
                    self.recent_deprecated
                        .back_mut()
                        .expect("pushed")
                        .insert(old);
                    to_deprecate.push(fp_old);
                }
            }
            self.watch.note(&fp);
            fresh.push(fp);
        }
        if self.failed {
            reserved.extend(fresh.iter().map(|fp| fp.id.to_ascii_lowercase()));
            return Ok(PublishChunk {
                reserved,
                ..PublishChunk::default()
            });
        }
        let new = self.sign_encode(fresh)?;
        let old: Vec<OwnFootprint> = self
            .sign_encode(to_deprecate)?
            .into_iter()
            .map(|(own, _)| own)
            .collect();
        let (owns, encoded): (Vec<OwnFootprint>, Vec<EncodedFootprint>) = new.into_iter().unzip();
        for own in &owns {
            self.ids.push(&own.footprint.id);
        }
        for own in &old {
            self.deprecated.push(&own.footprint.id);
        }
        let mut items = self.node.notifications_for(&owns, &old)?;
        items.extend(self.hosts.items(self.node, &owns));
        self.item_ids.extend(items.iter().map(|i| i.id.clone()));
        Ok(PublishChunk {
            new: encoded,
            deprecated: old,
            items,
            reserved: Vec::new(),
        })
    }

    /// Signs both views of every footprint and encodes it for the store, on all cores, in
    /// input order.
    fn sign_encode(
        &self,
        footprints: Vec<ProductFootprint>,
    ) -> Result<Vec<(OwnFootprint, EncodedFootprint)>, NodeError> {
        let company = self.node.company_id();
        let current = self.node.key();
        let key = &*current;
        let published_at = self.published_at.as_str();
        crate::parallel::map_chunks(footprints, 64, &|fp| {
            let own = crate::node::sign_one(key, company, fp, published_at)?;
            let encoded = crate::store::encode_footprint(&own)?;
            Ok((own, encoded))
        })
        .map_err(|_| NodeError::Internal("signing thread panicked".into()))?
        .into_iter()
        .collect()
    }
}

/// The size of the largest answer a footprint can be part of, measured with signatures of
/// the right shape (a signature's size does not depend on what it signs), so it is known
/// before signing and for every record, signed or not.
struct AnswerSizes {
    sig_full: crate::store::SigRecord,
    sig_summary: crate::store::SigRecord,
    max: usize,
    transport: std::sync::Arc<dyn crate::transport::Transport>,
}

impl AnswerSizes {
    fn new(node: &Node, max: usize) -> AnswerSizes {
        let key = node.key();
        AnswerSizes {
            sig_full: crate::signed::placeholder_signature(
                &key,
                node.company_id(),
                crate::signed::VIEW_FULL,
            ),
            sig_summary: crate::signed::placeholder_signature(
                &key,
                node.company_id(),
                crate::signed::VIEW_SUMMARY,
            ),
            max,
            transport: node.transport().clone(),
        }
    }

    /// `fp` back, with the bytes of its largest answer. A record whose text is under a
    /// quarter of the limit cannot come near it (its answer is smaller than its JSON plus
    /// the signature), so it is not measured (0).
    fn measure(&self, fp: ProductFootprint, text_len: usize) -> (ProductFootprint, usize) {
        if text_len > 0 && text_len < self.max / RECORD_TEXT_FACTOR {
            return (fp, 0);
        }
        let own = OwnFootprint {
            footprint: fp,
            sig_full: self.sig_full.clone(),
            sig_summary: self.sig_summary.clone(),
            published_at: String::new(),
        };
        let bytes = self.transport.answer_bytes(&own);
        (own.footprint, bytes)
    }
}
