//! Budget check for archiving the audit log (issue #16): memory stays bounded however many
//! entries one archive moves, the archive costs about what a verify of the same entries
//! costs, and the journal keeps committing while it runs.
//!
//! ```text
//! cargo run --release --locked -p node --example bench_archive -- [ENTRIES] [--sled]
//! ```
//! ENTRIES (default 1,000,000) audit entries are written through the journal; then, with a
//! writer appending one entry at a time throughout, `audit_verify` walks them (the baseline)
//! and `audit_archive` moves them all to a segment file and removes them from the store.
//! The same is done with a quarter of the entries, so the peak RSS growth at both sizes
//! shows whether memory follows the number of entries. Printed: times, entries per second,
//! the peak RSS growth over the RSS before each archive (VmHWM reset through `clear_refs`),
//! and the writer's longest wait for a commit during each archive (the store removal
//! batch holds the store's write lock). Lines: `BUDGET archive_rss_growth_mib <MiB> <64`,
//! `BUDGET archive_vs_verify <ratio> <3`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use node::Node;
use node::archive::ArchiveOut;
use node::audit::{AuditDecision, AuditDraft};
use node::config::RawConfig;
use node::home::Home;
use node::journal::Record;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const RSS_BUDGET_MIB: f64 = 64.0;
const RATIO_BUDGET: f64 = 3.0;

fn main() -> Res<()> {
    let mut entries: u64 = 1_000_000;
    let mut engine = "redb";
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--sled" => engine = "sled",
            other => {
                entries = other
                    .parse()
                    .map_err(|_| format!("bad argument {other:?}"))?
            }
        }
    }
    let dir = tempfile::tempdir()?;
    println!("bench_archive: {entries} entries, {engine}");
    let mut worst_growth: f64 = 0.0;
    let mut worst_ratio: f64 = 0.0;
    for (run, n) in [(0, entries / 4), (1, entries)] {
        let node = open(&dir.path().join(format!("run-{run}")), engine)?;
        let started = Instant::now();
        fill(&node, n)?;
        println!(
            "  {n} entries written in {:.1} s (store {:.0} MiB)",
            started.elapsed().as_secs_f64(),
            node.store().disk_bytes() as f64 / 1048576.0
        );
        let (growth, ratio) = measure(&node, &dir.path().join(format!("segment-{run}.jsonl")), n)?;
        worst_growth = worst_growth.max(growth);
        worst_ratio = worst_ratio.max(ratio);
    }
    println!(
        "{}",
        budget(
            "archive_rss_growth_mib",
            format!("{worst_growth:.1}"),
            &format!("<{RSS_BUDGET_MIB}"),
            worst_growth < RSS_BUDGET_MIB
        )
    );
    println!(
        "{}",
        budget(
            "archive_vs_verify",
            format!("{worst_ratio:.2}"),
            &format!("<{RATIO_BUDGET}"),
            worst_ratio < RATIO_BUDGET
        )
    );
    Ok(())
}

fn budget(name: &str, figure: String, limit: &str, pass: bool) -> String {
    let verdict = if pass { "PASS" } else { "MISS" };
    format!("BUDGET {name} {figure} {limit} {verdict}")
}

fn open(dir: &Path, engine: &str) -> Res<Node> {
    let text = format!(
        "company_id = \"urn:tanso:company:bench\"\nname = \"bench\"\n[store]\nengine = \"{engine}\"\n"
    );
    let raw = RawConfig::parse(&text, "bench.toml")?;
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("randomness: {e}"))?;
    home.init(&raw, &seed)?;
    Ok(node::open(&home)?)
}

fn record(n: u64) -> Record {
    Record {
        audit: Some(AuditDraft {
            caller: format!("urn:tanso:company:buyer-{}", n % 50),
            method: "/tanso.v1.Connector/GetFootprint".into(),
            targets: vec![format!("3f0c5a7e-0d3c-4c1b-9a55-{:012x}", n % 5000)],
            decision: if n.is_multiple_of(10) {
                AuditDecision::Deny
            } else {
                AuditDecision::Permit
            },
            rule: Some("urn:tanso:policy:share-with-customers".into()),
            reason: Some("view full".into()),
        }),
        ..Record::default()
    }
}

/// Writes `n` entries through the journal, 16,384 in flight at a time.
fn fill(node: &Node, n: u64) -> Res<()> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let mut next = 0;
        while next < n {
            let end = (next + 16_384).min(n);
            let writes = (next..end).map(|i| node.journal().write(record(i)));
            for result in futures::future::join_all(writes).await {
                result?;
            }
            next = end;
        }
        Ok(())
    })
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A writer appending one entry at a time until stopped; returns its longest wait.
fn writer(node: &Node, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, Duration)> {
    let node = node.clone();
    std::thread::spawn(move || {
        let (mut n, mut longest) = (0u64, Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if node.journal().write_blocking(record(n)).is_err() {
                break;
            }
            longest = longest.max(started.elapsed());
            n += 1;
        }
        (n, longest)
    })
}

/// Verifies then archives `n` entries with a writer running; returns (peak RSS growth MiB,
/// archive time / verify time).
fn measure(node: &Node, out: &Path, n: u64) -> Res<(f64, f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let during_verify = writer(node, stop.clone());
    let started = Instant::now();
    let report = node.audit_verify()?;
    let verify = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (_, verify_wait) = during_verify.join().map_err(|_| "writer panicked")?;
    if !report.ok {
        return Err(format!("chain broken: {:?}", report.problems).into());
    }

    let rss_before = status_kib("VmRSS");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let stop = Arc::new(AtomicBool::new(false));
    let during_archive = writer(node, stop.clone());
    let started = Instant::now();
    let before = chrono::Utc::now() + chrono::Duration::days(1);
    let done = node.audit_archive(before, &ArchiveOut::File(out.to_path_buf()))?;
    let archive = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (written, archive_wait) = during_archive.join().map_err(|_| "writer panicked")?;
    let peak = status_kib("VmHWM");
    let growth = peak.saturating_sub(rss_before) as f64 / 1024.0;
    let ratio = archive.as_secs_f64() / verify.as_secs_f64();
    let file_mib = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    println!(
        "  verify {:.2} s ({:.0} entries/s; writer's longest commit wait {:.0} ms)",
        verify.as_secs_f64(),
        report.entries as f64 / verify.as_secs_f64(),
        verify_wait.as_secs_f64() * 1000.0
    );
    println!(
        "  archive of {} entries ({file_mib:.0} MiB segment) {:.2} s ({:.0} entries/s), {ratio:.2}x the verify; \
         writer committed {written} entries meanwhile, longest wait {:.0} ms",
        done.archived,
        archive.as_secs_f64(),
        done.archived as f64 / archive.as_secs_f64(),
        archive_wait.as_secs_f64() * 1000.0
    );
    println!(
        "  peak RSS {:.1} MiB over {:.1} MiB before the archive{}",
        growth,
        rss_before as f64 / 1024.0,
        if reset {
            ""
        } else {
            " (VmHWM not resettable: growth since start)"
        }
    );
    if done.archived < n {
        return Err(format!("archived {} of {n}", done.archived).into());
    }
    let report = node.audit_verify()?;
    if !report.ok {
        return Err(format!("after the archive: {:?}", report.problems).into());
    }
    Ok((growth, ratio))
}
