//! The audit operations on a node: verify the chain (and, with archive segments, the whole
//! history), export it, and archive its oldest entries out of the store, by hand
//! (`tanso audit archive`) or on a schedule (`[audit] keep_days`).
//!
//! An archive writes the entries older than a date, from the front of the chain, to a JSON
//! lines segment closed by a summary the node signs (see [`crate::audit::segment`]): to a
//! temporary name, fsynced, renamed, directory fsynced. Only then does one atomic store
//! batch remove those entries and store the new anchor. A kill at any point leaves either
//! the old store (perhaps beside a complete segment file, which verifies as overlapping the
//! store) or the new one; never a store whose chain has no anchor.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::segment::{HistoryWalk, SegmentBuilder, SegmentCheck, SegmentSummary};
use crate::audit::{self, ArchivedCounts, AuditAnchor, AuditEntry, AuditHead, ChainReport};
use crate::audit::{ChainVerifier, GENESIS};
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{AuditSnapshot, StoreError};

/// Entries read per store page.
const PAGE: usize = 4096;
/// Longest line read from a segment file; an audit entry is far shorter, so a longer line
/// is reported, not buffered.
const MAX_LINE: usize = 16 << 20;
/// Longest pause between two scheduled archives.
const MAX_ARCHIVE_EVERY: Duration = Duration::from_secs(3600);

/// Environment variable for kill drills: set to `written`, `renamed` or `committed`, an
/// archive stops at that point (the segment fsynced under its temporary name; renamed to
/// its final name; the store batch committed), says so on stderr and waits to be killed.
/// Used by the kill -9 tests; unset in production, where it costs one lookup per archive.
pub const FAULT_ARCHIVE_STOP_ENV: &str = "TANSO_FAULT_ARCHIVE_STOP";

/// Why an archive or a history check could not run.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0} already exists; an archive never overwrites a file, choose another name")]
    Exists(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the audit chain in the store is broken ({0}); nothing was archived (see `tanso audit verify`)"
    )]
    Broken(String),
    #[error("audit entry {seq}: unreadable time {at:?}; nothing was archived")]
    BadTime { seq: u64, at: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where an archive writes its segment.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveOut {
    /// This file (`tanso audit archive --out`); it must not exist.
    File(PathBuf),
    /// A file in this directory named by the segment's sequence range (the schedule).
    Dir(PathBuf),
}

/// What an archive did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveOutcome {
    /// Entries written to the segment and removed from the store (0: none was older).
    pub archived: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The segment file written.
    pub file: Option<String>,
    /// Entries archived since the start: the chain in the store starts at this seq.
    pub archived_total: u64,
    /// Entries left in the store.
    pub remaining: u64,
}

/// The outcome of checking the whole history: archive segments and the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// Entries since the start of the log.
    pub entries: u64,
    /// The segments checked, in history order.
    pub segments: Vec<SegmentInfo>,
    /// Entries the store's chain holds (it starts at `entries - stored`).
    pub stored: u64,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// One checked segment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub file: String,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub entries: u64,
}

fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        table: what,
        reason: e.to_string(),
    })
}

/// The anchor in a snapshot, if any.
fn anchor_of(snapshot: &AuditSnapshot<'_>) -> Result<Option<AuditAnchor>, StoreError> {
    snapshot
        .anchor()
        .map(|raw| decode("meta (audit anchor)", raw))
        .transpose()
}

fn fault_stop(stage: &str) {
    if std::env::var(FAULT_ARCHIVE_STOP_ENV).is_ok_and(|v| v == stage) {
        eprintln!("archive stopped at {stage} ({FAULT_ARCHIVE_STOP_ENV})");
        loop {
            std::thread::park();
        }
    }
}

/// The name of a scheduled segment: its sequence range, zero-padded so names sort.
pub fn segment_file_name(first_seq: u64, last_seq: u64) -> String {
    format!("audit-{first_seq:012}-{last_seq:012}.jsonl")
}

/// Removes a temporary file unless disarmed (an archive that failed leaves nothing behind).
struct Partial {
    path: Option<PathBuf>,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A new file only this user may read; an existing file of that name is an error, never
/// truncated (another archive run, e.g. a second node sharing the directory, may own it).
fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A suffix that makes a partial file's name this run's own: the process id and 64 random
/// bits.
fn partial_suffix() -> Result<String, ArchiveError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ArchiveError::Io {
        path: "randomness".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!("{}.{}", std::process::id(), hex::encode(bytes)))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Node {
    /// Walks the chain in the store from its anchor and checks the signed head, all read
    /// from one snapshot (entries and head written meanwhile are not mixed in).
    pub fn audit_verify(&self) -> Result<ChainReport, NodeError> {
        let snapshot = self.store().audit_snapshot()?;
        let (verifier, _) = self.verify_store(&snapshot, None)?;
        Ok(verifier)
    }

    /// Verifies the store's chain from `snapshot`; with `walk`, also feeds its entries to
    /// the history walk.
    fn verify_store(
        &self,
        snapshot: &AuditSnapshot<'_>,
        mut walk: Option<&mut HistoryWalk>,
    ) -> Result<(ChainReport, u64), NodeError> {
        let anchor = match anchor_of(snapshot) {
            Ok(anchor) => anchor,
            Err(e) => {
                let mut verifier = ChainVerifier::default();
                verifier.problem(format!("the archive anchor is unreadable: {e}"));
                return Ok((verifier.finish(None, &self.key().public_key()), 0));
            }
        };
        let (start, prev) = anchor
            .as_ref()
            .map_or((0, GENESIS), |a| (a.next_seq, a.prev.as_str()));
        let mut verifier = ChainVerifier::starting_at(start, prev);
        if let Some(anchor) = &anchor {
            let public = self.keys().public_key_by_id(&anchor.segment.segment.key_id);
            for problem in anchor.problems(public.as_ref()) {
                verifier.problem(problem);
            }
        }
        if let Some(walk) = walk.as_deref_mut() {
            walk.begin("the store", anchor.is_some().then_some((start, prev)));
        }
        let mut from = start;
        let mut stored = 0;
        loop {
            let page = snapshot.entries(from, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            for (seq, raw) in &page {
                verifier.push(*seq, raw);
                stored += 1;
                if let Some(walk) = walk.as_deref_mut()
                    && let Ok(entry) = serde_json::from_slice::<AuditEntry>(raw)
                {
                    walk.entry(
                        &format!("the store, entry {seq}"),
                        *seq,
                        &entry.prev,
                        &entry.hash,
                    );
                }
            }
        }
        if let Some(walk) = walk {
            walk.end();
        }
        let head: Option<AuditHead> = snapshot
            .head()
            .and_then(|raw| serde_json::from_slice(raw).ok());
        // The head is signed by the key current when it was written, which a rotation may
        // since have retired; it must be one of this node's keys.
        let public = head
            .as_ref()
            .and_then(|h| self.keys().public_key_by_id(&h.key_id))
            .unwrap_or_else(|| self.key().public_key());
        Ok((verifier.finish(head.as_ref(), &public), stored))
    }

    /// Checks the whole history: each segment file (signature by this node's current or a
    /// retired key, entries chained and matching their hashes, count and SHA-256), that the
    /// segments chain to each other from the first entry and the last into the store's
    /// anchor, and the store's chain and signed head. A directory stands for the `*.jsonl`
    /// files in it. Files are taken in sequence order, whatever order they are given in.
    pub fn audit_verify_history(&self, paths: &[PathBuf]) -> Result<HistoryReport, NodeError> {
        // No archive may move entries from the store into a new file between the listing of
        // the files and the store snapshot below (that would read as a lost segment).
        let _no_archive = self
            .archive_lock()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(io_error(path))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect();
                found.sort();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        // Order by the range each summary states (a file without one sorts by name, last).
        let mut ordered = Vec::with_capacity(files.len());
        for path in files {
            let range = read_summary(&path)?.map(|s| (s.first_seq, s.last_seq));
            ordered.push((range.unwrap_or((u64::MAX, u64::MAX)), path));
        }
        ordered.sort();
        let company = self.company_id().to_string();
        let mut walk = HistoryWalk::default();
        let mut problems = Vec::new();
        let mut segments = Vec::new();
        for (_, path) in &ordered {
            let name = path.display().to_string();
            let file = File::open(path).map_err(io_error(path))?;
            let mut reader = BufReader::new(file);
            let mut check = SegmentCheck::new(&name);
            walk.begin(&name, None);
            let mut line = Vec::new();
            let mut line_no = 0u64;
            loop {
                line.clear();
                let n = read_line_bounded(&mut reader, &mut line).map_err(io_error(path))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                if line.len() > MAX_LINE {
                    problems.push(format!(
                        "{name} line {line_no}: longer than {MAX_LINE} bytes"
                    ));
                    continue;
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if let Some(entry) = check.push_line(line_no, text) {
                    walk.entry(
                        &format!("{name} line {line_no}"),
                        entry.seq,
                        &entry.prev,
                        &entry.hash,
                    );
                }
            }
            walk.end();
            let report = check.finish(&company, |key_id| self.keys().public_key_by_id(key_id));
            segments.push(SegmentInfo {
                file: name,
                first_seq: report.summary.as_ref().map(|s| s.first_seq),
                last_seq: report.summary.as_ref().map(|s| s.last_seq),
                entries: report.entries,
            });
            problems.extend(report.problems);
        }
        let snapshot = self.store().audit_snapshot()?;
        let (chain, stored) = self.verify_store(&snapshot, Some(&mut walk))?;
        drop(snapshot);
        problems.extend(walk.problems());
        problems.extend(chain.problems);
        Ok(HistoryReport {
            entries: chain.entries,
            segments,
            stored,
            ok: problems.is_empty(),
            problems,
        })
    }

    /// Every audit entry in the store as a JSON line, from one snapshot.
    pub fn audit_export(&self, out: &mut dyn std::io::Write) -> Result<u64, NodeError> {
        let snapshot = self.store().audit_snapshot()?;
        let mut from = 0u64;
        let mut n = 0;
        loop {
            let page = snapshot.entries(from, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            for (_, raw) in page {
                out.write_all(&raw)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| NodeError::Internal(format!("write: {e}")))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Entries since the start of the log (archived ones included) and the entries archived,
    /// from one snapshot.
    pub fn audit_len(&self) -> Result<(u64, u64), NodeError> {
        let snapshot = self.store().audit_snapshot()?;
        let archived = anchor_of(&snapshot)?.map_or(0, |a| a.next_seq);
        Ok((snapshot.end().unwrap_or(archived).max(archived), archived))
    }

    /// What the archived entries counted (zero when nothing was archived).
    pub fn archived_counts(&self) -> Result<(u64, ArchivedCounts), NodeError> {
        let snapshot = self.store().audit_snapshot()?;
        Ok(anchor_of(&snapshot)?.map_or_else(Default::default, |a| (a.next_seq, a.counts)))
    }

    /// The directory scheduled archives are written to (`[audit] archive_dir`).
    pub fn archive_dir(&self) -> PathBuf {
        let dir = self
            .config()
            .audit_archive_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("audit-archive"));
        self.home().dir.join(dir)
    }

    /// Archives the entries older than `before` from the front of the chain (stopping at
    /// the first entry that is not older) to a signed segment at `out`, then removes them
    /// from the store in one atomic batch with the new anchor. Nothing older: nothing is
    /// written. Runs one at a time per node; the journal keeps appending meanwhile.
    pub fn audit_archive(
        &self,
        before: DateTime<Utc>,
        out: &ArchiveOut,
    ) -> Result<ArchiveOutcome, NodeError> {
        self.archive_segment(before, out, u64::MAX)
    }

    /// [`Node::audit_archive`] of at most `max_entries` entries.
    fn archive_segment(
        &self,
        before: DateTime<Utc>,
        out: &ArchiveOut,
        max_entries: u64,
    ) -> Result<ArchiveOutcome, NodeError> {
        let _one = self
            .archive_lock()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (dir, partial_name) = match out {
            ArchiveOut::File(path) => {
                if path.symlink_metadata().is_ok() {
                    return Err(ArchiveError::Exists(path.display().to_string()).into());
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "audit-segment".into());
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !dir.is_dir() {
                    return Err(ArchiveError::Io {
                        path: dir.display().to_string(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    }
                    .into());
                }
                (dir, format!(".{name}.{}.partial", partial_suffix()?))
            }
            ArchiveOut::Dir(dir) => {
                use std::os::unix::fs::DirBuilderExt;
                let created = !dir.exists();
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_error(dir))?;
                if created && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty())
                {
                    // The new directory's own entry must survive a power loss too.
                    sync_dir(parent).map_err(io_error(parent))?;
                }
                (
                    dir.clone(),
                    format!(".audit-segment.{}.partial", partial_suffix()?),
                )
            }
        };
        let partial_path = dir.join(partial_name);

        let snapshot = self.store().audit_snapshot()?;
        let anchor_raw = snapshot.anchor().map(<[u8]>::to_vec);
        let anchor = anchor_of(&snapshot)?;
        // An anchor that does not verify (forged, or signed by a key this node never had)
        // is never built on: archiving past it would sign over the gap it hides.
        if let Some(a) = &anchor {
            let public = self.keys().public_key_by_id(&a.segment.segment.key_id);
            let problems = a.problems(public.as_ref());
            if !problems.is_empty() {
                return Err(ArchiveError::Broken(problems.join("; ")).into());
            }
        }
        let (start, prev, mut counts) = match anchor {
            Some(a) => (a.next_seq, a.prev, a.counts),
            None => (0, GENESIS.to_string(), ArchivedCounts::default()),
        };
        let end = snapshot.end().unwrap_or(start);
        let mut builder = SegmentBuilder::new(start, &prev);
        let mut writer: Option<BufWriter<File>> = None;
        let mut partial = Partial { path: None };
        let mut from = start;
        'scan: loop {
            let page = snapshot.entries(from, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            for (seq, raw) in page {
                let entry: AuditEntry = serde_json::from_slice(&raw)
                    .map_err(|e| ArchiveError::Broken(format!("entry {seq}: unreadable: {e}")))?;
                let at =
                    DateTime::parse_from_rfc3339(&entry.at).map_err(|_| ArchiveError::BadTime {
                        seq,
                        at: entry.at.clone(),
                    })?;
                if at >= before || builder.count() >= max_entries {
                    break 'scan;
                }
                if entry.seq != seq {
                    return Err(ArchiveError::Broken(format!(
                        "entry {seq}: states seq {}",
                        entry.seq
                    ))
                    .into());
                }
                let problems = builder.push(&raw, &entry);
                if !problems.is_empty() {
                    return Err(ArchiveError::Broken(problems.join("; ")).into());
                }
                let w = match &mut writer {
                    Some(w) => w,
                    None => {
                        let file =
                            create_private(&partial_path).map_err(io_error(&partial_path))?;
                        partial.path = Some(partial_path.clone());
                        writer.insert(BufWriter::with_capacity(1 << 20, file))
                    }
                };
                w.write_all(&raw)
                    .and_then(|()| w.write_all(b"\n"))
                    .map_err(io_error(&partial_path))?;
                counts.add(&entry);
            }
        }
        // An engine without snapshots holds the archive gate while this lives; the removal
        // below takes it exclusively.
        drop(snapshot);
        let key = self.key();
        let Some(summary) =
            builder.summary(self.company_id(), &crate::node::now_rfc3339(), key.key_id())
        else {
            return Ok(ArchiveOutcome {
                archived: 0,
                first_seq: None,
                last_seq: None,
                file: None,
                archived_total: start,
                remaining: end - start,
            });
        };
        let signed = summary.clone().sign(&key);
        let mut w = writer.ok_or_else(|| NodeError::Internal("archive writer missing".into()))?;
        let mut trailer =
            serde_json::to_vec(&signed).map_err(|e| NodeError::Internal(e.to_string()))?;
        trailer.push(b'\n');
        w.write_all(&trailer).map_err(io_error(&partial_path))?;
        let file = w
            .into_inner()
            .map_err(|e| io_error(&partial_path)(e.into_error()))?;
        file.sync_all().map_err(io_error(&partial_path))?;
        drop(file);
        fault_stop("written");

        let final_path = match out {
            ArchiveOut::File(path) => {
                if path.symlink_metadata().is_ok() {
                    return Err(ArchiveError::Exists(path.display().to_string()).into());
                }
                path.clone()
            }
            // A file of this name is a segment a killed run left; this one holds the same
            // entries, so replacing it is safe.
            ArchiveOut::Dir(dir) => {
                dir.join(segment_file_name(summary.first_seq, summary.last_seq))
            }
        };
        std::fs::rename(&partial_path, &final_path).map_err(io_error(&final_path))?;
        partial.path = None;
        sync_dir(&dir).map_err(io_error(&dir))?;
        fault_stop("renamed");

        let anchor = AuditAnchor {
            next_seq: summary.last_seq + 1,
            prev: summary.last_hash.clone(),
            segment: signed,
            counts,
        };
        let anchor_bytes =
            serde_json::to_vec(&anchor).map_err(|e| NodeError::Internal(e.to_string()))?;
        let started = std::time::Instant::now();
        self.store().audit_remove_archived(
            anchor_raw.as_deref(),
            start,
            summary.last_seq,
            anchor_bytes,
        )?;
        tracing::info!(
            entries = summary.count,
            first_seq = summary.first_seq,
            last_seq = summary.last_seq,
            file = %final_path.display(),
            removal_ms = started.elapsed().as_millis() as u64,
            "audit entries archived"
        );
        fault_stop("committed");
        Ok(ArchiveOutcome {
            archived: summary.count,
            first_seq: Some(summary.first_seq),
            last_seq: Some(summary.last_seq),
            file: Some(final_path.display().to_string()),
            archived_total: anchor.next_seq,
            remaining: end.saturating_sub(anchor.next_seq),
        })
    }
}

/// Reads one line (with its `\n`) into `buf`, keeping at most [`MAX_LINE`] + 1 bytes of it
/// (the rest is skipped); returns the bytes consumed (0 at the end).
fn read_line_bounded(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)?;
    if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
        // Skip the rest of an over-long line.
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    reader.consume(i + 1);
                    consumed += i + 1;
                    break;
                }
                None => {
                    let n = chunk.len();
                    reader.consume(n);
                    consumed += n;
                }
            }
        }
    }
    Ok(consumed)
}

/// The summary on the last line of a segment file, if it has a readable one (for ordering
/// files; the full check reads every line).
fn read_summary(path: &Path) -> Result<Option<SegmentSummary>, ArchiveError> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path).map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    let tail = len.min(64 * 1024);
    file.seek(SeekFrom::Start(len - tail))
        .map_err(io_error(path))?;
    let mut buf = Vec::with_capacity(tail as usize);
    file.read_to_end(&mut buf).map_err(io_error(path))?;
    let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let last = text.rsplit(|b| *b == b'\n').next().unwrap_or(text);
    Ok(
        serde_json::from_slice::<audit::segment::SignedSegment>(last)
            .ok()
            .map(|s| s.segment),
    )
}

/// Parses `--before`: RFC 3339, or a date (midnight UTC).
pub fn parse_before(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()),
        Err(_) => Err(format!(
            "{text:?} is not a date: give RFC 3339 (2026-03-01T00:00:00Z) or YYYY-MM-DD"
        )),
    }
}

// === the schedule ===

/// Most entries in one scheduled segment. The store batch that removes a segment's entries
/// holds the store's write lock, so the journal waits for it: on redb 0.24 s for 250,000
/// entries and 0.84 s for 1,000,000 on a loaded 2 vCPU machine (`bench_archive`); sled,
/// which has no range delete, takes ~9 s and ~1.7 GiB for 250,000. A scheduled run writes
/// as many segments of at most this many entries as it needs.
pub const SCHEDULED_SEGMENT_MAX: u64 = 262_144;

/// How often the node archives for `keep`: hourly, or every `keep` when that is shorter.
pub fn archive_every(keep: Duration) -> Duration {
    keep.clamp(Duration::from_secs(1), MAX_ARCHIVE_EVERY)
}

/// One scheduled run at `now`: archives the entries older than `now - keep_days` into the
/// archive directory, in segments of at most [`SCHEDULED_SEGMENT_MAX`] entries. `None` when
/// `[audit] keep_days` is not set; no segment when nothing is older.
pub fn archive_due(
    node: &Node,
    now: DateTime<Utc>,
) -> Result<Option<Vec<ArchiveOutcome>>, NodeError> {
    archive_due_in_segments_of(node, now, SCHEDULED_SEGMENT_MAX)
}

pub fn archive_due_in_segments_of(
    node: &Node,
    now: DateTime<Utc>,
    max_entries: u64,
) -> Result<Option<Vec<ArchiveOutcome>>, NodeError> {
    let Some(keep) = node.config().audit_keep else {
        return Ok(None);
    };
    let keep = chrono::Duration::from_std(keep)
        .map_err(|e| NodeError::Internal(format!("audit.keep_days: {e}")))?;
    let before = now - keep;
    let out = ArchiveOut::Dir(node.archive_dir());
    let mut done = Vec::new();
    loop {
        let outcome = node.archive_segment(before, &out, max_entries)?;
        let full = outcome.archived >= max_entries;
        if outcome.archived > 0 {
            done.push(outcome);
        }
        if !full {
            return Ok(Some(done));
        }
    }
}

/// Spawns the scheduled archive (at start, then every [`archive_every`]) when
/// `[audit] keep_days` is set.
pub fn spawn_schedule(tasks: &TaskTracker, node: Node, cancel: CancellationToken) {
    if node.config().audit_keep.is_some() {
        let clock = node.clock().clone();
        tasks.spawn(schedule(node, cancel, move || clock.now()));
    }
}

/// The scheduled archive, deciding by the time `now` reads (the node's clock).
pub async fn schedule(
    node: Node,
    cancel: CancellationToken,
    now: impl Fn() -> DateTime<Utc> + Send + 'static,
) {
    let Some(keep) = node.config().audit_keep else {
        return;
    };
    let every = archive_every(keep);
    loop {
        let run = node.clone();
        let at = now();
        match tokio::task::spawn_blocking(move || archive_due(&run, at)).await {
            Ok(Ok(Some(segments))) if !segments.is_empty() => {}
            Ok(Ok(_)) => tracing::debug!("audit archive: nothing older to archive"),
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled audit archive failed"),
            Err(e) => tracing::error!(error = %e, "scheduled audit archive task failed"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests;
