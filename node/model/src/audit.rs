//! The tamper-evident audit log: hash-chained entries and a signed head; chain logic only.
//!
//! Entry n stores `prev` = hash of entry n-1 and `hash` = SHA-256(prev || JCS(entry without
//! hash)). Sequence numbers are dense, so a deleted entry breaks the sequence, an edited one
//! breaks its hash, and a truncated tail no longer matches the head the node signed with its
//! key after every batch.
//!
//! Old entries may be archived out of the store ([`segment`]): a signed segment file holds a
//! prefix of the chain, and the store keeps an [`AuditAnchor`] (the sequence number and hash
//! the remaining chain continues from, with the last segment's signed summary), so the chain
//! in the store still verifies on its own and the segments verify the history before it.

pub mod segment;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, NodeKey};
use crate::pact::model::string_enum;
use crate::policy::Decision;

/// Hash of the (virtual) entry before the first.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Domain of the audit head signature.
pub const DOMAIN_AUDIT_HEAD: &str = "tanso/v1/audit-head";
/// Meta key of the signed head.
pub const HEAD_KEY: &str = "audit_head";
/// Meta key of the archive anchor.
pub const ANCHOR_KEY: &str = "audit_anchor";
/// Days of per-day counts an anchor keeps (the most recent).
const ANCHOR_DAYS_KEPT: usize = 400;

/// What the caller records; the journal numbers and chains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Company id of the caller (or "local" for operator actions).
    pub caller: String,
    /// gRPC method or operation name.
    pub method: String,
    /// Footprint ids, product ids or other targets of the request.
    pub targets: Vec<String>,
    /// What was decided.
    pub decision: AuditDecision,
    /// The deciding rule, when a policy decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why, for denials and errors (never a footprint value or a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

string_enum! {
    /// What an audit entry records as decided, spelt as every entry ever written spells it
    /// (the text is hashed into the chain, so these spellings never change). No other value
    /// was ever written, so an entry holding one is not an entry of this log and reads as
    /// unreadable, like any edited entry.
    AuditDecision {
        /// A policy (or the operator's own rules) granted the request.
        Permit => "permit",
        /// Refused: by policy, authentication, a limit or a bad request.
        Deny => "deny",
        /// Failed without a decision: a delivery given up.
        Error => "error",
    }
}

impl From<&Decision> for AuditDecision {
    fn from(decision: &Decision) -> AuditDecision {
        match decision {
            Decision::Permit { .. } => AuditDecision::Permit,
            Decision::Deny { .. } => AuditDecision::Deny,
        }
    }
}

/// One chained entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339 with milliseconds, UTC.
    pub at: String,
    #[serde(flatten)]
    pub draft: AuditDraft,
    pub prev: String,
    pub hash: String,
}

/// How one audit entry counts as an exchange: the one rule behind every count of the log
/// (the archive anchor's counts, the KPI measures, the dashboard's totals and days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    Permitted,
    Denied,
    /// An `error` entry: nothing was decided.
    Other,
}

impl AuditEntry {
    /// How the entry counts as an exchange.
    pub fn exchange(&self) -> Exchange {
        match self.draft.decision {
            AuditDecision::Permit => Exchange::Permitted,
            AuditDecision::Deny => Exchange::Denied,
            AuditDecision::Error => Exchange::Other,
        }
    }

    /// Whether a peer made the request: the operator's own actions (caller `local`) are
    /// counted by month but are no exchange with anyone.
    pub fn by_peer(&self) -> bool {
        self.draft.caller != "local"
    }
}

/// The node-signed head of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Number of entries (= last seq + 1).
    pub len: u64,
    pub hash: String,
    pub key_id: String,
    pub signature: String,
}

impl AuditEntry {
    /// Chains `draft` after `prev` as entry `seq`.
    pub fn chain(seq: u64, at: String, draft: AuditDraft, prev: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at,
            draft,
            prev: prev.to_string(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// SHA-256(prev || JCS(entry without `hash`)), as lowercase hex.
    ///
    /// The canonical bytes are written field by field straight into the hasher: no
    /// `serde_json::Value`, no JCS buffer. They are the same bytes as
    /// [`AuditEntry::hash_via_value`] produces (a test compares the two on varied entries);
    /// a sequence number beyond 2^53, which JCS would print as a float, takes that slower
    /// path.
    pub(crate) fn compute_hash(&self) -> String {
        if self.seq > MAX_EXACT_JCS_INT {
            return self.hash_via_value();
        }
        let mut hasher = crypto::Sha256Writer::new();
        hasher.update(self.prev.as_bytes());
        match self.write_canonical(&mut hasher) {
            Ok(()) => hex::encode(hasher.finish()),
            Err(_) => self.hash_via_value(),
        }
    }

    /// The JCS form of the entry without `hash`: members in RFC 8785 order (all names are
    /// ASCII, so UTF-16 order is byte order), strings escaped as serde_json escapes them,
    /// which is what JCS prescribes, and `rule`/`reason` left out when absent.
    fn write_canonical(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        fn member(
            out: &mut impl std::io::Write,
            name: &str,
            value: &str,
            first: bool,
        ) -> std::io::Result<()> {
            if !first {
                out.write_all(b",")?;
            }
            out.write_all(b"\"")?;
            out.write_all(name.as_bytes())?;
            out.write_all(b"\":")?;
            serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)
        }
        out.write_all(b"{")?;
        member(out, "at", &self.at, true)?;
        member(out, "caller", &self.draft.caller, false)?;
        member(out, "decision", self.draft.decision.as_str(), false)?;
        member(out, "method", &self.draft.method, false)?;
        member(out, "prev", &self.prev, false)?;
        if let Some(reason) = &self.draft.reason {
            member(out, "reason", reason, false)?;
        }
        if let Some(rule) = &self.draft.rule {
            member(out, "rule", rule, false)?;
        }
        write!(out, ",\"seq\":{},\"targets\":[", self.seq)?;
        for (i, target) in self.draft.targets.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, target).map_err(std::io::Error::other)?;
        }
        out.write_all(b"]}")
    }

    /// The hash through `serde_json::Value` and `serde_jcs`, as entries were always hashed.
    fn hash_via_value(&self) -> String {
        let mut unhashed = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = unhashed.as_object_mut() {
            obj.remove("hash");
        }
        let canonical = crypto::canonical_json(&unhashed).unwrap_or_default();
        let mut bytes = Vec::with_capacity(64 + canonical.len());
        bytes.extend_from_slice(self.prev.as_bytes());
        bytes.extend_from_slice(&canonical);
        hex::encode(crypto::sha256(&bytes))
    }
}

/// Largest integer JCS prints digit for digit (it prints numbers as IEEE doubles).
const MAX_EXACT_JCS_INT: u64 = 1 << 53;

impl AuditHead {
    pub fn sign(key: &NodeKey, len: u64, hash: &str) -> AuditHead {
        let sig = key.sign(DOMAIN_AUDIT_HEAD, format!("{len}:{hash}").as_bytes());
        AuditHead {
            len,
            hash: hash.to_string(),
            key_id: key.key_id().to_string(),
            signature: B64.encode(sig),
        }
    }

    pub fn verify(&self, public: &ed25519_dalek::VerifyingKey) -> bool {
        let Ok(sig) = B64.decode(&self.signature) else {
            return false;
        };
        crypto::verify(
            public,
            DOMAIN_AUDIT_HEAD,
            format!("{}:{}", self.len, self.hash).as_bytes(),
            &sig,
        )
        .is_ok()
    }
}

/// Where the chain in the store starts once a prefix of it was archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// Sequence number of the first entry left in the store: the number of entries archived.
    pub next_seq: u64,
    /// Hash of the last archived entry, the `prev` of entry `next_seq`.
    pub prev: String,
    /// The signed summary of the segment that ends here.
    pub segment: segment::SignedSegment,
    /// What the archived entries counted, so figures "since the start" stay whole.
    pub counts: ArchivedCounts,
}

impl AuditAnchor {
    /// Problems with the anchor itself: its segment's signature (by `public`, the key its
    /// `key_id` names, `None` when this node never had that key) and that the segment ends
    /// where the anchor says.
    pub fn problems(&self, public: Option<&ed25519_dalek::VerifyingKey>) -> Vec<String> {
        let mut problems = Vec::new();
        let summary = &self.segment.segment;
        match public {
            None => problems.push(format!(
                "the archive anchor is signed by key {}, which is not one of this node's keys",
                summary.key_id
            )),
            Some(public) if !self.segment.verify(public) => {
                problems.push("the archive anchor's signature does not verify".to_string())
            }
            Some(_) => {}
        }
        if summary.last_seq.checked_add(1) != Some(self.next_seq) || summary.last_hash != self.prev
        {
            problems.push(format!(
                "the archive anchor (seq {}) does not match its signed segment (entries {}..={})",
                self.next_seq, summary.first_seq, summary.last_seq
            ));
        }
        problems
    }
}

/// Counts over archived entries, kept in the anchor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchivedCounts {
    /// Peer entries (caller other than `local`) permitted, denied, and with any other
    /// decision, as the dashboard's exchange totals count them.
    pub permitted: u64,
    pub denied: u64,
    pub errors: u64,
    /// yyyy-mm-dd → [permitted, denied] of peer entries; the most recent 400 days.
    pub days: BTreeMap<String, [u64; 2]>,
    /// yyyy-mm → [permit, deny] of all entries, as the KPI measures count them.
    pub months: BTreeMap<String, [u64; 2]>,
}

impl ArchivedCounts {
    /// Counts one entry (archived, or read from the store for a count since the start).
    pub fn add(&mut self, entry: &AuditEntry) {
        let exchange = entry.exchange();
        if let Some(month) = entry.at.get(..7) {
            let slot = self.months.entry(month.to_string()).or_default();
            match exchange {
                Exchange::Permitted => slot[0] += 1,
                Exchange::Denied => slot[1] += 1,
                Exchange::Other => {}
            }
        }
        if !entry.by_peer() {
            return;
        }
        let day = entry.at.get(..10).unwrap_or_default().to_string();
        let slot = self.days.entry(day).or_default();
        match exchange {
            Exchange::Permitted => {
                self.permitted += 1;
                slot[0] += 1;
            }
            Exchange::Denied => {
                self.denied += 1;
                slot[1] += 1;
            }
            Exchange::Other => self.errors += 1,
        }
        while self.days.len() > ANCHOR_DAYS_KEPT {
            self.days.pop_first();
        }
    }
}

/// The outcome of checking a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Entries since the start of the log (= the next sequence number), archived ones
    /// included.
    pub entries: u64,
    /// Entries archived out of the store: the chain in the store starts at this sequence
    /// number (0 when nothing was archived).
    #[serde(default)]
    pub archived: u64,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// Walks a chain incrementally.
pub struct ChainVerifier {
    start_seq: u64,
    next_seq: u64,
    prev: String,
    problems: Vec<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::starting_at(0, GENESIS)
    }
}

impl ChainVerifier {
    /// A verifier for a chain whose first entry is `seq` and chains from `prev` (an
    /// archive anchor's sequence number and hash).
    pub fn starting_at(seq: u64, prev: &str) -> ChainVerifier {
        ChainVerifier {
            start_seq: seq,
            next_seq: seq,
            prev: prev.to_string(),
            problems: Vec::new(),
        }
    }

    /// Records a problem found outside the chain walk (the anchor, a store failure).
    pub fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Checks the next stored entry (raw bytes as stored under `seq`).
    pub fn push(&mut self, seq: u64, raw: &[u8]) {
        let entry: AuditEntry = match serde_json::from_slice(raw) {
            Ok(e) => e,
            Err(e) => {
                self.problems.push(format!("entry {seq}: unreadable: {e}"));
                self.next_seq = seq + 1;
                return;
            }
        };
        if seq != self.next_seq {
            self.problems.push(format!(
                "entries {}..{} are missing (deleted?)",
                self.next_seq,
                seq.saturating_sub(1)
            ));
        }
        if entry.seq != seq {
            self.problems
                .push(format!("entry {seq}: states seq {} (moved?)", entry.seq));
        }
        if entry.prev != self.prev {
            self.problems.push(format!(
                "entry {seq}: does not chain to entry {}",
                seq.wrapping_sub(1)
            ));
        }
        if entry.compute_hash() != entry.hash {
            self.problems.push(format!(
                "entry {seq}: content does not match its hash (edited?)"
            ));
        }
        self.prev = entry.hash;
        self.next_seq = seq + 1;
    }

    /// The next sequence number and the hash it must chain from, as walked so far.
    pub fn position(&self) -> (u64, &str) {
        (self.next_seq, &self.prev)
    }

    /// Compares the end of the chain with the signed head.
    pub fn finish(
        mut self,
        head: Option<&AuditHead>,
        public: &ed25519_dalek::VerifyingKey,
    ) -> ChainReport {
        match head {
            None if self.next_seq > 0 => self
                .problems
                .push("the signed chain head is missing".to_string()),
            None => {}
            Some(head) => {
                if !head.verify(public) {
                    self.problems
                        .push("the chain head signature does not verify".to_string());
                }
                if head.len != self.next_seq || head.hash != self.prev {
                    self.problems.push(format!(
                        "the chain ends at {} entries but the signed head says {} (entries removed from the end?)",
                        self.next_seq, head.len
                    ));
                }
            }
        }
        ChainReport {
            entries: self.next_seq,
            archived: self.start_seq,
            ok: self.problems.is_empty(),
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: u32) -> AuditDraft {
        AuditDraft {
            caller: format!("urn:tanso:company:c{n}"),
            method: "/tanso.v1.Connector/GetFootprint".into(),
            targets: vec![],
            decision: AuditDecision::Permit,
            rule: None,
            reason: None,
        }
    }

    fn chain(n: u64) -> (Vec<Vec<u8>>, AuditHead, NodeKey) {
        let key = NodeKey::from_seed(&[3; 32]);
        let mut prev = GENESIS.to_string();
        let mut raw = Vec::new();
        for seq in 0..n {
            let e = AuditEntry::chain(
                seq,
                "2026-01-01T00:00:00.000Z".into(),
                draft(seq as u32),
                &prev,
            );
            prev = e.hash.clone();
            raw.push(serde_json::to_vec(&e).unwrap());
        }
        let head = AuditHead::sign(&key, n, &prev);
        (raw, head, key)
    }

    fn verify(raw: &[(u64, Vec<u8>)], head: &AuditHead, key: &NodeKey) -> ChainReport {
        let mut v = ChainVerifier::default();
        for (seq, r) in raw {
            v.push(*seq, r);
        }
        v.finish(Some(head), &key.public_key())
    }

    /// The streamed hash is byte for byte the hash through `Value` and `serde_jcs` (so old
    /// logs still verify), on strings JCS treats specially and every optional member.
    #[test]
    fn streamed_hash_equals_the_value_hash() {
        let strings = [
            "",
            "plain",
            "quote \" and backslash \\ and slash /",
            "controls \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} del \u{7f}",
            "unicode: é 탄소 \u{2028}\u{2029} \u{ffff} 🎉 \u{10ffff}",
            "urn:tanso:company:hanbit-steel",
            "<script>&amp;</script> \\u0041",
        ];
        let mut n = 0u64;
        for (i, caller) in strings.iter().enumerate() {
            for (j, reason) in strings.iter().enumerate() {
                for optional in 0..4 {
                    let draft = AuditDraft {
                        caller: caller.to_string(),
                        method: strings[(i + j) % strings.len()].to_string(),
                        targets: strings[..(i + j + optional) % (strings.len() + 1)]
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                        decision: AuditDecision::ALL[(i * 3 + j) % AuditDecision::ALL.len()],
                        rule: (optional & 1 == 1).then(|| strings[(j + 1) % strings.len()].into()),
                        reason: (optional & 2 == 2).then(|| reason.to_string()),
                    };
                    for seq in [
                        0,
                        1,
                        42,
                        1 << 32,
                        (1 << 53) - 1,
                        1 << 53,
                        (1 << 53) + 1,
                        u64::MAX,
                    ] {
                        let at = strings[(j + optional) % strings.len()];
                        let entry = AuditEntry::chain(seq, at.to_string(), draft.clone(), caller);
                        assert_eq!(entry.hash, entry.hash_via_value(), "{entry:?}");
                        let mut canonical = Vec::new();
                        entry.write_canonical(&mut canonical).unwrap();
                        if seq <= MAX_EXACT_JCS_INT {
                            let mut value = serde_json::to_value(&entry).unwrap();
                            value.as_object_mut().unwrap().remove("hash");
                            assert_eq!(
                                String::from_utf8(canonical).unwrap(),
                                String::from_utf8(crypto::canonical_json(&value).unwrap()).unwrap()
                            );
                        }
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 7 * 7 * 4 * 8);
        // A chain hashed the old way (as logs written before this change were) verifies.
        let key = NodeKey::from_seed(&[5; 32]);
        let mut prev = GENESIS.to_string();
        let mut verifier = ChainVerifier::default();
        for seq in 0..20u64 {
            let mut entry = AuditEntry {
                seq,
                at: "2026-01-01T00:00:00.000Z".into(),
                draft: draft(seq as u32),
                prev: prev.clone(),
                hash: String::new(),
            };
            entry.draft.reason = (seq % 2 == 0).then(|| format!("reason \u{1} {seq}"));
            entry.hash = entry.hash_via_value();
            prev = entry.hash.clone();
            verifier.push(seq, &serde_json::to_vec(&entry).unwrap());
        }
        let head = AuditHead::sign(&key, 20, &prev);
        let report = verifier.finish(Some(&head), &key.public_key());
        assert!(report.ok, "{:?}", report.problems);
    }

    #[test]
    fn intact_chain_verifies() {
        let (raw, head, key) = chain(5);
        let raw: Vec<_> = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();
        let report = verify(&raw, &head, &key);
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.entries, 5);
    }

    #[test]
    fn edit_deletion_and_truncation_are_detected() {
        let (raw, head, key) = chain(5);
        let raw: Vec<_> = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();

        let mut edited = raw.clone();
        edited[2].1 = String::from_utf8(edited[2].1.clone())
            .unwrap()
            .replace("permit", "deny")
            .into_bytes();
        let r = verify(&edited, &head, &key);
        assert!(
            !r.ok && r.problems[0].contains("entry 2: content does not match"),
            "{:?}",
            r.problems
        );

        let mut deleted = raw.clone();
        deleted.remove(1);
        let r = verify(&deleted, &head, &key);
        assert!(
            r.problems.iter().any(|p| p.contains("missing")),
            "{:?}",
            r.problems
        );

        let truncated = raw[..4].to_vec();
        let r = verify(&truncated, &head, &key);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("removed from the end")),
            "{:?}",
            r.problems
        );
    }

    /// The hash of `unhashed` (a JSON object without `hash`) as every entry was hashed.
    fn old_hash(prev: &str, unhashed: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(unhashed).unwrap();
        let mut bytes = prev.as_bytes().to_vec();
        bytes.extend_from_slice(&crypto::canonical_json(&value).unwrap());
        hex::encode(crypto::sha256(&bytes))
    }

    /// Every decision keeps the text entries were written with when it was a string: an
    /// entry written then loads, hashes to its stored hash, re-serialises to its stored bytes
    /// and verifies; a decision never written is not an entry of this log.
    #[test]
    fn decisions_keep_the_text_old_entries_hold() {
        let texts = ["permit", "deny", "error"];
        assert_eq!(AuditDecision::ALL.len(), texts.len());
        let key = NodeKey::from_seed(&[9; 32]);
        let mut prev = GENESIS.to_string();
        let mut verifier = ChainVerifier::default();
        for (seq, (decision, text)) in AuditDecision::ALL.iter().zip(texts).enumerate() {
            assert_eq!(decision.as_str(), text);
            assert_eq!(decision.to_string(), text);
            assert_eq!(
                serde_json::to_string(decision).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(text.parse::<AuditDecision>().unwrap(), *decision);
            // The bytes an entry of this decision was stored as before (member order of
            // `AuditEntry`).
            let unhashed = format!(
                r#"{{"seq":{seq},"at":"2026-01-01T00:00:00.000Z","caller":"urn:tanso:company:oem","method":"/tanso.v1.Connector/GetFootprint","targets":["fp"],"decision":"{text}","reason":"why","prev":"{prev}"}}"#
            );
            let hash = old_hash(&prev, &unhashed);
            let stored = format!(r#"{},"hash":"{hash}"}}"#, &unhashed[..unhashed.len() - 1]);
            let entry: AuditEntry = serde_json::from_str(&stored).unwrap();
            assert_eq!(entry.draft.decision, *decision);
            assert_eq!(entry.compute_hash(), hash);
            assert_eq!(serde_json::to_string(&entry).unwrap(), stored);
            verifier.push(seq as u64, stored.as_bytes());
            prev = hash;
        }
        let head = AuditHead::sign(&key, 3, &prev);
        let report = verifier.finish(Some(&head), &key.public_key());
        assert!(report.ok, "{:?}", report.problems);

        // A consistently hashed entry with any other decision is refused, not counted.
        let unhashed = format!(
            r#"{{"seq":0,"at":"2026-01-01T00:00:00.000Z","caller":"c","method":"m","targets":[],"decision":"allow","prev":"{GENESIS}"}}"#
        );
        let hash = old_hash(GENESIS, &unhashed);
        let stored = format!(r#"{},"hash":"{hash}"}}"#, &unhashed[..unhashed.len() - 1]);
        let mut verifier = ChainVerifier::default();
        verifier.push(0, stored.as_bytes());
        let head = AuditHead::sign(&key, 1, &hash);
        let report = verifier.finish(Some(&head), &key.public_key());
        assert!(
            !report.ok && report.problems[0].contains("entry 0: unreadable"),
            "{:?}",
            report.problems
        );
    }
}
