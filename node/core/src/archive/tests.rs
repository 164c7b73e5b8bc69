//! Tests of the audit operations on a node, on both engines: consistent reads under
//! concurrent writes, archive segments, tampering, anchors and the whole history, and the
//! scheduled archive's decision.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::{ArchiveOut, HistoryReport, archive_due, segment_file_name};
use crate::audit::AuditEntry;
use crate::audit::segment::{SegmentBuilder, SegmentSummary};
use crate::crypto::NodeKey;
use crate::home::Home;
use crate::node::Node;
use crate::store::EngineKind;
use crate::testkit::{archive_to, open, open_with, record, stored, write_many};

/// Runs each listed `fn(EngineKind)` once per engine: `redb::name` and `sled::name`.
macro_rules! engine_tests {
    ($($name:ident),+ $(,)?) => {
        mod redb {
            $(
                #[test]
                fn $name() {
                    super::$name(super::EngineKind::Redb)
                }
            )+
        }
        mod sled {
            $(
                #[test]
                fn $name() {
                    super::$name(super::EngineKind::Sled)
                }
            )+
        }
    };
}

engine_tests! {
    verify_under_concurrent_writes_reports_no_false_problem,
    archive_moves_the_older_prefix_to_a_signed_segment,
    archive_with_nothing_older_writes_nothing,
    archives_chain_into_one_history_and_the_journal_goes_on,
    tampered_dropped_and_foreign_segments_are_reported_with_file_and_line,
    a_segment_left_by_a_killed_archive_overlaps_and_verifies,
    archive_under_concurrent_writes_loses_and_duplicates_nothing,
    scheduled_archive_decides_by_the_injected_clock,
    entries_removed_behind_a_forged_anchor_are_reported,
    a_store_with_an_archived_prefix_migrates_to_the_other_engine,
}

// === helpers ===

fn write(node: &Node, n: u64) {
    node.journal().write_blocking(record(n)).unwrap();
}

/// The entry lines of a segment file, parsed, and its summary.
fn segment(path: &Path) -> (Vec<AuditEntry>, SegmentSummary) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let trailer: crate::audit::segment::SignedSegment =
        serde_json::from_str(lines.pop().unwrap()).unwrap();
    let entries = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (entries, trailer.segment)
}

fn far_future() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::days(365)
}

fn history(node: &Node, files: &[&Path]) -> HistoryReport {
    let files: Vec<PathBuf> = files.iter().map(|p| p.to_path_buf()).collect();
    node.audit_verify_history(&files).unwrap()
}

fn assert_problem(report: &HistoryReport, expect: &[&str]) {
    assert!(!report.ok, "expected a problem: {expect:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| expect.iter().all(|e| p.contains(e))),
        "no problem contains {expect:?}: {:#?}",
        report.problems
    );
}

// === tests ===

/// Verifies running while writers append never report a problem: the entries and the
/// signed head are read from one snapshot. (Entries and head read one after the other
/// reported "the chain ends at N entries but the signed head says N+1" when a batch landed
/// in between.) A false report needs a commit in the short gap between reading the last
/// entries and reading the head, so the verifies run on short chains (a fresh node per
/// round, a few hundred entries each), where they are quick and many.
fn verify_under_concurrent_writes_reports_no_false_problem(engine: EngineKind) {
    const ROUNDS: usize = 16;
    const WRITERS: u64 = 2;
    const WRITES: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let mut false_reports = Vec::new();
    let mut verifies = 0;
    for round in 0..ROUNDS {
        let node = open(&dir.path().join(round.to_string()), engine);
        for n in 0..20 {
            write(&node, n);
        }
        let running = Arc::new(AtomicU64::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (node, running) = (node.clone(), running.clone());
                std::thread::spawn(move || {
                    for n in 0..WRITES {
                        write(&node, 1000 * (w + 1) + n);
                    }
                    running.fetch_sub(1, Ordering::Relaxed);
                })
            })
            .collect();
        let mut last = 0;
        while running.load(Ordering::Relaxed) > 0 {
            let report = node.audit_verify().unwrap();
            if !report.ok {
                false_reports.push(report.problems.join("; "));
            }
            assert!(report.entries >= last, "the verified length went back");
            last = report.entries;
            verifies += 1;
        }
        for w in writers {
            w.join().unwrap();
        }
        let report = node.audit_verify().unwrap();
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.entries, 20 + WRITERS * WRITES);
    }
    assert!(
        false_reports.is_empty(),
        "{} of {verifies} verifies reported a problem, e.g. {}",
        false_reports.len(),
        false_reports[0]
    );
}

/// Entries older than the date, from the front of the chain, go to a segment file whose
/// entries are the stored bytes and whose summary the node signed; they leave the store, and
/// the store's chain verifies from the anchor, alone and with the segment.
fn archive_moves_the_older_prefix_to_a_signed_segment(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    write_many(&node, 0..300);
    let before_export = stored(&node);
    // The cut: the time of entry 150; entries before the first entry not older stay too.
    let cut: DateTime<Utc> = before_export[150].at.parse().unwrap();
    let expected = before_export
        .iter()
        .take_while(|e| e.at.parse::<DateTime<Utc>>().unwrap() < cut)
        .count() as u64;
    assert!(
        expected > 0,
        "the first entries are older than entry 150's time"
    );
    let file = dir.path().join("seg-1.jsonl");
    let done = archive_to(&node, cut, &file);
    assert_eq!(done.archived, expected);
    assert_eq!(done.first_seq, Some(0));
    assert_eq!(done.last_seq, Some(expected - 1));
    assert_eq!(done.archived_total, expected);
    assert_eq!(done.remaining, 300 - expected);

    let (entries, summary) = segment(&file);
    assert_eq!(entries, before_export[..expected as usize].to_vec());
    // The lines are the stored bytes.
    let mut raw = Vec::new();
    node.audit_export(&mut raw).unwrap();
    assert_eq!(summary.count, expected);
    assert_eq!(summary.prev, crate::audit::GENESIS);
    assert_eq!(summary.last_hash, entries.last().unwrap().hash);
    assert_eq!(summary.key_id, node.key().key_id());
    assert_eq!(stored(&node), before_export[expected as usize..].to_vec());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")),
        "no temporary file is left"
    );

    let report = node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.archived), (300, expected));
    let report = history(&node, &[&file]);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, 300);
    assert_eq!(report.stored, 300 - expected);
    assert_eq!(report.segments.len(), 1);

    // An existing file is never overwritten.
    let err = node
        .audit_archive(far_future(), &ArchiveOut::File(file.clone()))
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        stored(&node).len() as u64,
        300 - expected,
        "nothing was archived"
    );
}

/// No entry older than the date: no file, no change.
fn archive_with_nothing_older_writes_nothing(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    let file = dir.path().join("none.jsonl");
    let done = archive_to(&node, far_future(), &file);
    assert_eq!((done.archived, done.remaining), (0, 0), "an empty log");
    write_many(&node, 0..20);
    let long_ago = "2020-01-01T00:00:00Z".parse().unwrap();
    let done = archive_to(&node, long_ago, &file);
    assert_eq!((done.archived, done.remaining, done.file), (0, 20, None));
    assert!(!file.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the home"
    );
    assert!(node.audit_verify().unwrap().ok);
}

/// Three archives and the store make one history; with every entry archived the journal
/// restarts from the anchor (after a reopen too) and the chain goes on.
fn archives_chain_into_one_history_and_the_journal_goes_on(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let node = open(&home, engine);
    let mut files = Vec::new();
    for round in 0..3u64 {
        write_many(&node, round * 100..round * 100 + 100);
        let file = dir.path().join(format!("seg-{round}.jsonl"));
        let done = archive_to(&node, far_future(), &file);
        assert_eq!(done.first_seq, Some(round * 100));
        assert_eq!(done.remaining, 0, "everything archived");
        files.push(file);
    }
    let report = node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.archived), (300, 300));
    assert_eq!(node.audit_len().unwrap(), (300, 300));
    drop(node);
    let node = open(&home, engine);
    write_many(&node, 300..350);
    let entries = stored(&node);
    assert_eq!(
        entries.first().map(|e| e.seq),
        Some(300),
        "numbering goes on"
    );
    let report = node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.archived), (350, 300));
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = history(&node, &paths);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.stored), (350, 50));
    // Given in any order, or as their directory, the files are taken in sequence order.
    let reversed: Vec<&Path> = paths.iter().rev().copied().collect();
    assert!(history(&node, &reversed).ok);
    std::fs::create_dir(dir.path().join("segments")).unwrap();
    for f in &files {
        std::fs::rename(f, dir.path().join("segments").join(f.file_name().unwrap())).unwrap();
    }
    let report = history(&node, &[&dir.path().join("segments")]);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.segments.len(), 3);
}

fn rewrite(path: &Path, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    edit(&mut lines);
    let out = path.with_extension("tampered.jsonl");
    std::fs::write(&out, lines.join("\n") + "\n").unwrap();
    out
}

/// Each tampering is reported with the file and line: an edited entry, a removed line,
/// two lines swapped, a changed summary, a cut file, a segment left out, and a segment
/// signed by a key that is not the node's.
fn tampered_dropped_and_foreign_segments_are_reported_with_file_and_line(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    write_many(&node, 0..50);
    let first = dir.path().join("first.jsonl");
    archive_to(&node, far_future(), &first);
    write_many(&node, 50..100);
    let second = dir.path().join("second.jsonl");
    archive_to(&node, far_future(), &second);
    write_many(&node, 100..110);
    assert!(history(&node, &[&first, &second]).ok);
    let name = |p: &Path| p.display().to_string();

    let edited = rewrite(&second, |l| l[3] = l[3].replace("\"permit\"", "\"deny\""));
    let report = history(&node, &[&first, &edited]);
    assert_problem(
        &report,
        &[
            &name(&edited),
            "line 4",
            "entry 53: content does not match its hash",
        ],
    );

    let removed = rewrite(&second, |l| {
        l.remove(7);
    });
    let report = history(&node, &[&first, &removed]);
    assert_problem(
        &report,
        &[
            &name(&removed),
            "line 8",
            "entry 58 where entry 57 was expected",
        ],
    );
    assert_problem(
        &report,
        &[
            &name(&removed),
            "the summary says count 50 but the file holds 49",
        ],
    );

    let swapped = rewrite(&second, |l| l.swap(10, 11));
    let report = history(&node, &[&first, &swapped]);
    assert_problem(
        &report,
        &[
            &name(&swapped),
            "line 11",
            "entry 61 where entry 60 was expected",
        ],
    );

    let recounted = rewrite(&second, |l| {
        let last = l.len() - 1;
        l[last] = l[last].replace("\"count\":50", "\"count\":49");
    });
    let report = history(&node, &[&first, &recounted]);
    assert_problem(
        &report,
        &[&name(&recounted), "line 51", "signature does not verify"],
    );

    let cut = rewrite(&second, |l| l.truncate(30));
    let report = history(&node, &[&first, &cut]);
    assert_problem(&report, &[&name(&cut), "no signed summary at the end"]);

    let appended = rewrite(&second, |l| l.push(l[0].clone()));
    let report = history(&node, &[&first, &appended]);
    assert_problem(
        &report,
        &[&name(&appended), "line 52", "follows the signed summary"],
    );

    let report = history(&node, &[&second]);
    assert_problem(
        &report,
        &["entries 0..49 are missing before", &name(&second)],
    );
    let report = history(&node, &[&first]);
    assert_problem(&report, &["entries 50..99 are missing before the store"]);

    // A segment of the same entries signed by another key.
    let (entries, summary) = segment(&second);
    let mut builder = SegmentBuilder::new(summary.first_seq, &summary.prev);
    let mut text = String::new();
    for e in &entries {
        let raw = serde_json::to_vec(e).unwrap();
        assert!(builder.push(&raw, e).is_empty());
        text += &String::from_utf8(raw).unwrap();
        text += "\n";
    }
    let stranger = NodeKey::from_seed(&[99; 32]);
    let forged = builder
        .summary(node.company_id(), &summary.created_at, stranger.key_id())
        .unwrap()
        .sign(&stranger);
    text += &serde_json::to_string(&forged).unwrap();
    let foreign = dir.path().join("foreign.jsonl");
    std::fs::write(&foreign, text + "\n").unwrap();
    let report = history(&node, &[&first, &foreign]);
    assert_problem(
        &report,
        &[&name(&foreign), "line 51", "not one of this node's keys"],
    );
}

/// A kill after the segment was renamed and before the store batch leaves a complete file
/// whose entries are still in the store; it verifies as overlapping the store, and so does
/// the segment a later archive writes over the same entries and more.
fn a_segment_left_by_a_killed_archive_overlaps_and_verifies(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    write_many(&node, 0..40);
    let first = dir.path().join("first.jsonl");
    archive_to(&node, far_future(), &first);
    write_many(&node, 40..100);
    // What the killed archive left: entries 40..=79 signed, not removed from the store.
    let entries = stored(&node);
    let mut builder = SegmentBuilder::new(40, &entries[0].prev);
    let mut text = String::new();
    for e in &entries[..40] {
        let raw = serde_json::to_vec(e).unwrap();
        assert!(builder.push(&raw, e).is_empty());
        text += &String::from_utf8(raw).unwrap();
        text += "\n";
    }
    let key = node.key();
    let signed = builder
        .summary(node.company_id(), "2026-01-01T00:00:00.000Z", key.key_id())
        .unwrap()
        .sign(&key);
    text += &serde_json::to_string(&signed).unwrap();
    let stray = dir.path().join("stray.jsonl");
    std::fs::write(&stray, text + "\n").unwrap();
    let report = history(&node, &[&first, &stray]);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.stored), (100, 60));

    let second = dir.path().join("second.jsonl");
    let done = archive_to(&node, far_future(), &second);
    assert_eq!((done.first_seq, done.last_seq), (Some(40), Some(99)));
    write_many(&node, 100..110);
    let report = history(&node, &[&first, &stray, &second]);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.entries, report.stored), (110, 10));

    // A stray entry that differs from the history it overlaps is reported.
    let bad = rewrite(&stray, |l| {
        let mut e: AuditEntry = serde_json::from_str(&l[39]).unwrap();
        e.hash = "ff".repeat(32);
        l[39] = serde_json::to_string(&e).unwrap();
    });
    let report = history(&node, &[&first, &second, &bad]);
    assert_problem(&report, &[&bad.display().to_string(), "line 40"]);
}

/// Writers keep appending while archives run: afterwards the segments and the store hold
/// every entry once, dense from 0, and the history verifies.
fn archive_under_concurrent_writes_loses_and_duplicates_nothing(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    write_many(&node, 0..200);
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (node, written) = (node.clone(), written.clone());
        std::thread::spawn(move || {
            for n in 0..400 {
                write(&node, 1000 + n);
                written.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut files = Vec::new();
    let mut round = 0;
    while written.load(Ordering::Relaxed) < 400 || round == 0 {
        round += 1;
        let file = dir.path().join(format!("seg-{round}.jsonl"));
        let done = archive_to(&node, far_future(), &file);
        if done.archived > 0 {
            files.push(file);
        }
        let report = node.audit_verify().unwrap();
        assert!(report.ok, "round {round}: {:?}", report.problems);
    }
    writer.join().unwrap();
    assert!(files.len() >= 2, "archives ran during the writes");
    let mut seqs: Vec<u64> = Vec::new();
    for f in &files {
        seqs.extend(segment(f).0.iter().map(|e| e.seq));
    }
    seqs.extend(stored(&node).iter().map(|e| e.seq));
    let total = 200 + written.load(Ordering::Relaxed);
    assert_eq!(seqs, (0..total).collect::<Vec<_>>(), "dense, each once");
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = history(&node, &paths);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, total);
}

/// The schedule archives what is older than `keep_days` at the injected time: nothing at
/// the time of writing, everything two days later, into the archive directory under a name
/// made of the sequence range.
fn scheduled_archive_decides_by_the_injected_clock(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open_with(
        &dir.path().join("home"),
        engine,
        "[audit]\nkeep_days = 1\narchive_dir = \"old-audit\"\n",
    );
    write_many(&node, 0..30);
    let now = Utc::now();
    let done = archive_due(&node, now).unwrap().unwrap();
    assert!(done.is_empty(), "nothing is a day old");
    let done = archive_due(&node, now + chrono::Duration::hours(23))
        .unwrap()
        .unwrap();
    assert!(done.is_empty(), "nothing is a day old 23 h later");
    let done = archive_due(&node, now + chrono::Duration::hours(49))
        .unwrap()
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].archived, 30);
    let expected = dir
        .path()
        .join("home/old-audit")
        .join(segment_file_name(0, 29));
    assert_eq!(done[0].file.as_deref(), Some(expected.to_str().unwrap()));
    // A run with more than a segment's worth writes several segments.
    write_many(&node, 30..55);
    let later = now + chrono::Duration::hours(49);
    let done = super::archive_due_in_segments_of(&node, later, 10)
        .unwrap()
        .unwrap();
    let ranges: Vec<_> = done.iter().map(|d| (d.first_seq, d.last_seq)).collect();
    assert_eq!(
        ranges,
        vec![
            (Some(30), Some(39)),
            (Some(40), Some(49)),
            (Some(50), Some(54))
        ]
    );
    assert_eq!(node.audit_len().unwrap(), (55, 55));
    assert!(history(&node, &[&dir.path().join("home/old-audit")]).ok);
    assert_eq!(
        super::archive_every(std::time::Duration::from_secs(86_400)),
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(
        super::archive_every(std::time::Duration::from_secs(60)),
        std::time::Duration::from_secs(60)
    );
    // Without `keep_days` the schedule does nothing.
    let plain = open(&dir.path().join("plain"), engine);
    assert!(
        archive_due(&plain, now + chrono::Duration::days(400))
            .unwrap()
            .is_none()
    );
}

/// Removing entries from the front of the store is caught even with an anchor written to
/// match: the anchor's summary is signed, and an anchor that does not match it (or a summary
/// no key of the node signed) is reported.
fn entries_removed_behind_a_forged_anchor_are_reported(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let node = open(&dir.path().join("home"), engine);
    write_many(&node, 0..5);
    let first = dir.path().join("first.jsonl");
    archive_to(&node, far_future(), &first);
    write_many(&node, 5..20);
    let entries = stored(&node);
    let raw = node
        .store()
        .meta(crate::audit::ANCHOR_KEY)
        .unwrap()
        .unwrap();
    let mut anchor: crate::audit::AuditAnchor = serde_json::from_slice(&raw).unwrap();
    // Entries 5..=9 removed, the anchor moved past them, its signed summary left as it was.
    anchor.next_seq = 10;
    anchor.prev = entries[4].hash.clone();
    let forged = serde_json::to_vec(&anchor).unwrap();
    node.store()
        .audit_remove_archived(Some(&raw), 5, 9, forged.clone())
        .unwrap();
    let report = node.audit_verify().unwrap();
    assert!(!report.ok);
    assert!(
        report.problems.iter().any(|p| p.contains(
            "the archive anchor (seq 10) does not match its signed segment (entries 0..=4)"
        )),
        "{:?}",
        report.problems
    );
    // A summary re-signed by a key that is not the node's.
    let stranger = NodeKey::from_seed(&[42; 32]);
    let mut summary = anchor.segment.segment.clone();
    summary.last_seq = 9;
    summary.last_hash = anchor.prev.clone();
    summary.key_id = stranger.key_id().to_string();
    anchor.segment = summary.sign(&stranger);
    // (An empty range: only the anchor is replaced.)
    node.store()
        .audit_remove_archived(Some(&forged), 10, 9, serde_json::to_vec(&anchor).unwrap())
        .unwrap();
    let report = node.audit_verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("is signed by key") && p.contains("not one of this node's keys")),
        "{:?}",
        report.problems
    );
    let report = history(&node, &[&first]);
    assert_problem(&report, &["entries 5..9 are missing before the store"]);
    // An archive never builds on an anchor that does not verify: a scheduled run would
    // otherwise sign over the gap and store a genuine anchor that hides it. The forger
    // makes the chain go on (prev = the last removed entry's hash) and keeps the genuine
    // signed summary of entries 0..=4.
    let current = node
        .store()
        .meta(crate::audit::ANCHOR_KEY)
        .unwrap()
        .unwrap();
    let mut anchor: crate::audit::AuditAnchor = serde_json::from_slice(&raw).unwrap();
    anchor.next_seq = 10;
    anchor.prev = entries[9].hash.clone();
    node.store()
        .audit_remove_archived(Some(&current), 10, 9, serde_json::to_vec(&anchor).unwrap())
        .unwrap();
    let err = node
        .audit_archive(
            far_future(),
            &ArchiveOut::File(dir.path().join("second.jsonl")),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match its signed segment"), "{err}");
    assert!(!dir.path().join("second.jsonl").exists());
    assert!(!node.audit_verify().unwrap().ok);
}

/// `tanso store migrate` verifies the chain on the new engine against the entries it
/// copied: those in the store, after the anchor, not the archived ones too.
fn a_store_with_an_archived_prefix_migrates_to_the_other_engine(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let node = open(&home, engine);
    write_many(&node, 0..40);
    let segment = dir.path().join("first.jsonl");
    assert_eq!(archive_to(&node, far_future(), &segment).archived, 40);
    write_many(&node, 40..65);
    drop(node);
    let report = crate::migrate::migrate_store(&Home::new(&home), engine.other()).unwrap();
    assert_eq!(report.audit_entries, 25);
    let node = Node::open(&Home::new(&home), crate::node::Host::offline()).unwrap();
    let chain = node.audit_verify().unwrap();
    assert!(chain.ok, "{:?}", chain.problems);
    assert_eq!((chain.entries, chain.archived), (65, 40));
    let whole = history(&node, &[&segment]);
    assert!(whole.ok, "{:?}", whole.problems);
    assert_eq!((whole.entries, whole.stored), (65, 25));
}
