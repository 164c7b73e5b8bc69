//! Archive segments: a prefix of the audit chain as JSON lines (each entry exactly as stored,
//! so it still hashes), closed by a summary the node signs; and the checks that a segment is
//! whole and that segments and the store chain into one history from [`GENESIS`]. No IO:
//! callers feed lines and entries.
//!
//! The summary names the first and last sequence numbers, the count, the `prev` of the first
//! entry (what the segment chains from), the last entry's hash (what the next segment or the
//! store chains from) and the SHA-256 of the entry lines, and is signed under its own domain
//! ([`DOMAIN_AUDIT_SEGMENT`]), so a segment verifies with the node's public key history alone.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::{AuditEntry, GENESIS};
use crate::crypto::{self, NodeKey};

/// Domain of an archive segment's signed summary.
pub const DOMAIN_AUDIT_SEGMENT: &str = "tanso/v1/audit-segment";
/// The `format` of the summaries this version writes.
pub const SEGMENT_FORMAT: &str = "tanso-audit-segment/1";
/// Problems listed per segment file before the rest are only counted.
const MAX_PROBLEMS: usize = 50;

/// What a segment holds; the last line of a segment file, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSummary {
    /// [`SEGMENT_FORMAT`].
    pub format: String,
    /// The node whose log this is.
    pub company_id: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    /// The `prev` of the first entry: [`GENESIS`] or the previous segment's `last_hash`.
    pub prev: String,
    /// The hash of the last entry, which the rest of the chain continues from.
    pub last_hash: String,
    /// SHA-256 (hex) of the entry lines as written: each entry's stored bytes and `\n`.
    pub entries_sha256: String,
    /// RFC 3339, when the segment was written.
    pub created_at: String,
    /// The key that signed the summary.
    pub key_id: String,
}

/// A summary with the node's signature over its JCS bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSegment {
    pub segment: SegmentSummary,
    /// base64url (no padding) Ed25519 signature under [`DOMAIN_AUDIT_SEGMENT`].
    pub signature: String,
}

impl SegmentSummary {
    fn signing_bytes(&self) -> Vec<u8> {
        // JCS of a struct of strings and integers cannot fail.
        crypto::canonical_json_of(self).unwrap_or_default()
    }

    /// Signs the summary with `key` (whose id it must name).
    pub fn sign(self, key: &NodeKey) -> SignedSegment {
        let signature = B64.encode(key.sign(DOMAIN_AUDIT_SEGMENT, &self.signing_bytes()));
        SignedSegment {
            segment: self,
            signature,
        }
    }
}

impl SignedSegment {
    /// Whether `public` signed this summary.
    pub fn verify(&self, public: &ed25519_dalek::VerifyingKey) -> bool {
        let Ok(sig) = B64.decode(&self.signature) else {
            return false;
        };
        crypto::verify(
            public,
            DOMAIN_AUDIT_SEGMENT,
            &self.segment.signing_bytes(),
            &sig,
        )
        .is_ok()
    }
}

/// Accumulates the entries of a segment in order: checks that each chains to the one before
/// and matches its hash, and hashes the lines.
pub struct SegmentBuilder {
    first_seq: u64,
    prev: String,
    next_seq: u64,
    last_hash: String,
    count: u64,
    sha: crypto::Sha256Writer,
}

impl SegmentBuilder {
    /// A segment whose first entry is `first_seq`, chaining from `prev`.
    pub fn new(first_seq: u64, prev: &str) -> SegmentBuilder {
        SegmentBuilder {
            first_seq,
            prev: prev.to_string(),
            next_seq: first_seq,
            last_hash: prev.to_string(),
            count: 0,
            sha: crypto::Sha256Writer::new(),
        }
    }

    /// Adds the next entry (`raw`: its stored bytes, without the newline) and returns what is
    /// wrong with it; the segment goes on from this entry either way.
    pub fn push(&mut self, raw: &[u8], entry: &AuditEntry) -> Vec<String> {
        let mut problems = Vec::new();
        if entry.seq != self.next_seq {
            problems.push(format!(
                "entry {} where entry {} was expected (entries removed, duplicated or reordered?)",
                entry.seq, self.next_seq
            ));
        } else if entry.prev != self.last_hash {
            problems.push(format!(
                "entry {}: does not chain to entry {}",
                entry.seq,
                entry.seq.wrapping_sub(1)
            ));
        }
        if entry.compute_hash() != entry.hash {
            problems.push(format!(
                "entry {}: content does not match its hash (edited?)",
                entry.seq
            ));
        }
        self.sha.update(raw);
        self.sha.update(b"\n");
        self.count += 1;
        self.next_seq = entry.seq.wrapping_add(1);
        self.last_hash.clone_from(&entry.hash);
        problems
    }

    /// Entries added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The summary of what was added (`None` when nothing was), to be signed.
    pub fn summary(
        self,
        company_id: &str,
        created_at: &str,
        key_id: &str,
    ) -> Option<SegmentSummary> {
        (self.count > 0).then(|| SegmentSummary {
            format: SEGMENT_FORMAT.to_string(),
            company_id: company_id.to_string(),
            first_seq: self.first_seq,
            last_seq: self.next_seq.wrapping_sub(1),
            count: self.count,
            prev: self.prev,
            last_hash: self.last_hash,
            entries_sha256: hex::encode(self.sha.finish()),
            created_at: created_at.to_string(),
            key_id: key_id.to_string(),
        })
    }
}

/// Problems, capped so a file of garbage cannot fill memory.
#[derive(Debug, Default)]
struct Problems {
    listed: Vec<String>,
    more: u64,
}

impl Problems {
    fn push(&mut self, problem: String) {
        if self.listed.len() < MAX_PROBLEMS {
            self.listed.push(problem);
        } else {
            self.more += 1;
        }
    }

    fn into_vec(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed
                .push(format!("... and {} more problems", self.more));
        }
        self.listed
    }
}

/// Checks one segment file, fed line by line.
pub struct SegmentCheck {
    name: String,
    builder: Option<SegmentBuilder>,
    trailer: Option<(u64, SignedSegment)>,
    problems: Problems,
}

/// What checking a segment found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentReport {
    pub file: String,
    /// The signed summary, when the file has a readable one.
    pub summary: Option<SegmentSummary>,
    /// Entry lines read.
    pub entries: u64,
    pub problems: Vec<String>,
}

impl SegmentCheck {
    /// A check of the file called `name` in messages.
    pub fn new(name: &str) -> SegmentCheck {
        SegmentCheck {
            name: name.to_string(),
            builder: None,
            trailer: None,
            problems: Problems::default(),
        }
    }

    fn problem(&mut self, line: u64, problem: impl std::fmt::Display) {
        self.problems
            .push(format!("{} line {line}: {problem}", self.name));
    }

    /// Checks line `line` (1-based, without its newline); returns the entry it holds.
    pub fn push_line(&mut self, line: u64, raw: &[u8]) -> Option<AuditEntry> {
        if let Some((at, _)) = &self.trailer {
            let at = *at;
            self.problem(
                line,
                format!("follows the signed summary on line {at} (lines appended?)"),
            );
            return None;
        }
        match serde_json::from_slice::<AuditEntry>(raw) {
            Ok(entry) => {
                let builder = self
                    .builder
                    .get_or_insert_with(|| SegmentBuilder::new(entry.seq, &entry.prev));
                for problem in builder.push(raw, &entry) {
                    self.problem(line, problem);
                }
                Some(entry)
            }
            Err(entry_err) => match serde_json::from_slice::<SignedSegment>(raw) {
                Ok(signed) => {
                    self.trailer = Some((line, signed));
                    None
                }
                Err(_) => {
                    self.problem(
                        line,
                        format!("not an audit entry nor the signed summary: {entry_err}"),
                    );
                    None
                }
            },
        }
    }

    /// Checks the summary against the lines read and its signature; `key` finds a public
    /// key of `company_id` by key id (the current key or a retired one).
    pub fn finish(
        mut self,
        company_id: &str,
        key: impl Fn(&str) -> Option<ed25519_dalek::VerifyingKey>,
    ) -> SegmentReport {
        let entries = self.builder.as_ref().map_or(0, SegmentBuilder::count);
        let Some((line, signed)) = self.trailer.take() else {
            self.problems.push(format!(
                "{}: no signed summary at the end (an incomplete file, or not an audit segment)",
                self.name
            ));
            return SegmentReport {
                file: self.name,
                summary: None,
                entries,
                problems: self.problems.into_vec(),
            };
        };
        let summary = &signed.segment;
        match key(&summary.key_id) {
            None => self.problem(
                line,
                format!(
                    "signed by key {}, which is not one of this node's keys",
                    summary.key_id
                ),
            ),
            Some(public) if !signed.verify(&public) => {
                self.problem(line, "the summary's signature does not verify")
            }
            Some(_) => {}
        }
        if summary.format != SEGMENT_FORMAT {
            self.problem(line, format!("unknown format {:?}", summary.format));
        }
        if summary.company_id != company_id {
            self.problem(
                line,
                format!("a segment of {}, not of {company_id}", summary.company_id),
            );
        }
        let found = self.builder.take().and_then(|b| b.summary("", "", ""));
        match found {
            None => self.problem(line, "the segment holds no entries"),
            Some(found) => {
                let mut differs = |what: &str, said: String, held: String| {
                    if said != held {
                        self.problems.push(format!(
                            "{} line {line}: the summary says {what} {said} but the file holds {held}",
                            self.name
                        ));
                    }
                };
                differs(
                    "first entry",
                    summary.first_seq.to_string(),
                    found.first_seq.to_string(),
                );
                differs(
                    "last entry",
                    summary.last_seq.to_string(),
                    found.last_seq.to_string(),
                );
                differs("count", summary.count.to_string(), found.count.to_string());
                differs("prev", summary.prev.clone(), found.prev);
                differs("last hash", summary.last_hash.clone(), found.last_hash);
                differs(
                    "entries sha256",
                    summary.entries_sha256.clone(),
                    found.entries_sha256,
                );
            }
        }
        SegmentReport {
            file: self.name,
            summary: Some(signed.segment),
            entries,
            problems: self.problems.into_vec(),
        }
    }
}

/// Where the sources of a history (segments, then the store) meet: each must continue the
/// history before it, from [`GENESIS`]. A source may start before the end of what came
/// before it (a segment file left by an archive that was killed before the store removed its
/// entries overlaps the store, or a later segment); it then joins where its entry at the
/// previous end has the same hash (a hash commits to every entry before it).
pub struct HistoryWalk {
    next_seq: u64,
    prev: String,
    source: String,
    state: Joining,
    last: Option<(u64, String)>,
    problems: Problems,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Joining {
    /// No entry of the current source seen yet.
    Start,
    /// The source started before the end of the history; waiting for its entry there.
    Overlap,
    Joined,
}

impl Default for HistoryWalk {
    fn default() -> Self {
        HistoryWalk {
            next_seq: 0,
            prev: GENESIS.to_string(),
            source: String::new(),
            state: Joining::Joined,
            last: None,
            problems: Problems::default(),
        }
    }
}

impl HistoryWalk {
    /// Begins the next source, called `name` in messages; `first` is where it starts when
    /// known before its entries ((seq, prev): the store's anchor, which holds no entry when
    /// everything was archived).
    pub fn begin(&mut self, name: &str, first: Option<(u64, &str)>) {
        self.source = name.to_string();
        self.state = Joining::Start;
        self.last = None;
        if let Some((seq, prev)) = first {
            self.join(seq, prev);
        }
    }

    fn join(&mut self, seq: u64, prev: &str) {
        use std::cmp::Ordering;
        match seq.cmp(&self.next_seq) {
            Ordering::Equal => {
                if prev != self.prev {
                    self.problems.push(format!(
                        "{}: starts at entry {seq} but does not chain to the entry before it in the history",
                        self.source
                    ));
                }
                self.state = Joining::Joined;
            }
            Ordering::Greater => {
                self.problems.push(format!(
                    "entries {}..{} are missing before {} (a segment left out or lost?)",
                    self.next_seq,
                    seq - 1,
                    self.source
                ));
                // Go on from this source, so one gap is reported once.
                self.next_seq = seq;
                prev.clone_into(&mut self.prev);
                self.state = Joining::Joined;
            }
            Ordering::Less => self.state = Joining::Overlap,
        }
    }

    /// The next entry of the current source (`at`: where it is, for messages).
    pub fn entry(&mut self, at: &str, seq: u64, prev: &str, hash: &str) {
        if self.state == Joining::Start {
            self.join(seq, prev);
        }
        if self.state == Joining::Overlap && seq.checked_add(1) == Some(self.next_seq) {
            if hash != self.prev {
                self.problems.push(format!(
                    "{at}: entry {seq} differs from entry {seq} of the history before {}",
                    self.source
                ));
            }
            self.state = Joining::Joined;
        } else if self.state == Joining::Overlap && seq >= self.next_seq {
            self.state = Joining::Joined;
        }
        self.last = Some((seq, hash.to_string()));
    }

    /// Ends the current source.
    pub fn end(&mut self) {
        if self.state == Joining::Overlap {
            self.problems.push(format!(
                "{}: lies inside the history before it and ends before entry {} (a duplicate?)",
                self.source,
                self.next_seq.saturating_sub(1)
            ));
        }
        if let Some((seq, hash)) = self.last.take()
            && seq >= self.next_seq
        {
            self.next_seq = seq + 1;
            self.prev = hash;
        }
        self.state = Joining::Joined;
    }

    /// Entries the history holds so far (the next sequence number).
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// Whether no source held an entry.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The problems found where sources meet.
    pub fn problems(self) -> Vec<String> {
        self.problems.into_vec()
    }
}
