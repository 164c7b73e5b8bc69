//! Budget check for moving a node (issue #19): a home with 10,000 footprints exported to a
//! signed bundle and imported into a new home in < 5 s.
//!
//! ```text
//! cargo run --release --locked -p node --example bench_bundle -- [FOOTPRINTS] [--sled]
//! ```
//! A home gets FOOTPRINTS (default 10,000) published footprints and one audit entry per
//! footprint, and is closed; then `bundle::export` (store lock, hash, tar, fsync, rename;
//! the node key re-encrypted under a passphrase) and `bundle::import` (verifying pass,
//! unpacking pass, fsync, rename) run back to back, and the imported home is opened to
//! check it holds every footprint. Printed: the store and bundle sizes, each step's time,
//! and `BUDGET bundle_10k_export_import_ms <ms> 5000`. The passphrase encryption (scrypt,
//! the `pkcs8` crate's recommended parameters) is part of both steps, as for an operator.

use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use node::Node;
use node::audit::{AuditDecision, AuditDraft};
use node::bundle;
use node::config::RawConfig;
use node::home::{Home, Passphrase};
use node::journal::Record;

#[path = "support/fixture.rs"]
mod fixture;
use fixture::{bench_uuid, footprint};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BUDGET_MS: f64 = 5000.0;
const COMPANY: &str = "urn:tanso:company:bench";

fn main() -> Res<()> {
    let mut count: usize = 10_000;
    let mut engine = "redb";
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--sled" => engine = "sled",
            other => {
                count = other
                    .parse()
                    .map_err(|_| format!("bad argument {other:?}"))?
            }
        }
    }
    let dir = tempfile::tempdir()?;
    println!("bench_bundle: {count} footprints, {engine}");
    let home = populate(&dir.path().join("src"), engine, count)?;
    let store_bytes = dir_bytes(&home.store_dir());
    let pass = Passphrase::new(b"bench passphrase".to_vec());

    let file = dir.path().join("bench.tanso");
    let started = Instant::now();
    let exported = bundle::export(&home, &file, &pass, Utc::now())?;
    let export_ms = started.elapsed().as_secs_f64() * 1000.0;
    let dest = Home::new(dir.path().join("dst"));
    let started = Instant::now();
    let imported = bundle::import(&file, &dest, &pass, None)?;
    let import_ms = started.elapsed().as_secs_f64() * 1000.0;
    let total_ms = export_ms + import_ms;

    let node = node::open(&dest.with_passphrase(Some(pass)))?;
    let held = node.footprints()?.len();
    if held != count {
        return Err(format!("the imported home holds {held} footprints, not {count}").into());
    }
    let report = node.audit_verify()?;
    if !report.ok {
        return Err(format!("the imported audit chain fails: {:?}", report.problems).into());
    }
    println!(
        "  store {:.1} MiB, bundle {:.1} MiB, {} files",
        store_bytes as f64 / 1048576.0,
        std::fs::metadata(&file)?.len() as f64 / 1048576.0,
        exported.files
    );
    println!(
        "  export {export_ms:.0} ms, import {import_ms:.0} ms (verify + unpack of {} bytes)",
        imported.bytes
    );
    let verdict = if total_ms < BUDGET_MS { "PASS" } else { "MISS" };
    println!("BUDGET bundle_10k_export_import_ms {total_ms:.0} {BUDGET_MS:.0} {verdict}");
    Ok(())
}

/// A closed home with `count` footprints and as many audit entries.
fn populate(dir: &Path, engine: &str, count: usize) -> Res<Home> {
    let text =
        format!("company_id = \"{COMPANY}\"\nname = \"bench\"\n[store]\nengine = \"{engine}\"\n");
    let raw = RawConfig::parse(&text, "bench.toml")?;
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("randomness: {e}"))?;
    home.init(&raw, &seed)?;
    let node: Node = node::open(&home)?;
    let started = Instant::now();
    let mut doc = String::with_capacity(count * 1200);
    doc.push('[');
    for n in 0..count {
        if n > 0 {
            doc.push(',');
        }
        doc.push_str(&footprint(COMPANY, &bench_uuid(n), n).to_string());
    }
    doc.push(']');
    node.publish(&doc)?;
    // One audit entry per footprint, as if each had been read once.
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let writes = (0..count).map(|n| {
            node.journal().write(Record {
                audit: Some(AuditDraft {
                    caller: format!("urn:tanso:company:buyer-{}", n % 50),
                    method: "/tanso.v1.Connector/GetFootprint".into(),
                    targets: vec![bench_uuid(n)],
                    decision: AuditDecision::Permit,
                    rule: Some("urn:tanso:policy:share-with-customers".into()),
                    reason: Some("view full".into()),
                }),
                ..Record::default()
            })
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    println!(
        "  {count} footprints published and as many audit entries written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(node);
    Ok(home)
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
