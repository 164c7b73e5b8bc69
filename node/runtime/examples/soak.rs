//! Soak: mixed load against one `tanso serve` process for a configurable time, printing
//! errors, the node's RSS after a warm-up and at the end, and its growth in per cent (the
//! least-squares trend through one sample a second; point and minute-median figures beside it).
//!
//! The supplier runs as its own process (the release `tanso` binary, so its RSS is the
//! node's alone and the binary's allocator applies); a buyer and an outsider run in this
//! process and drive, concurrently: permitted GetFootprint and ListFootprints, denied
//! GetFootprint, publishes through the supplier's admin socket, footprint requests answered
//! through both outboxes, and Prometheus scrapes. Budget (issue #8): 0 errors and RSS growth
//! < 10 % over 10 minutes.
//!
//! The load is steady: fetches and requests name a fixed set of products, and the publishes
//! (which grow the store, as do the audit entries) are of new products, so an answer is as
//! large at the end as at the start. (An earlier version re-published the listed products;
//! every ListFootprints then returned every version, its answers grew all run long, and RSS
//! grew with the answer size rather than with anything the node kept.)
//!
//! ```text
//! cargo build --release --locked -p cli
//! cargo run --release --locked -p node --example soak -- [SECONDS] [--tanso PATH] [--keep-secs N]
//! ```
//! SECONDS (default 600) is the measured time. A warm-up runs first (180 s before a 600 s
//! run, 30 % of shorter ones), so the start RSS is read once the bounded memory is full:
//! the seen-nonce memory holds a whole replay window (twice the 60 s clock skew), the
//! store is larger than its 16 MiB page cache, and pools and allocator arenas are warm.
//! Growth measured after that is what a leak or an unbounded structure would show. `--tanso` picks the
//! binary (to compare allocator builds); the environment is passed on to it (e.g.
//! `MALLOC_ARENA_MAX=2`). The load is bounded (a fixed number of workers, each one request
//! at a time) and targets 127.0.0.1 only; the run stops by itself. The last lines are
//! `BUDGET soak_rss_growth <pct> <10 PASS|MISS` and `BUDGET soak_errors <n> 0 PASS|MISS`.
//!
//! `--keep-secs N` sets the supplier's `[audit] keep_days` to N seconds (as a fraction of a
//! day), so the node archives entries older than N s every N s; the store's growth (printed
//! at the end with and without it, in MiB per minute) then shows what the retention holds
//! the store to, and the archive directory what moved out of it.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use node::Node;
use node::admin;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::service::client::{self, FetchWhat};
use serde_json::{Value, json};
use tokio::net::TcpListener;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const SUPPLIER: &str = "urn:tanso:company:soak-supplier";
const BUYER: &str = "urn:tanso:company:soak-buyer";
const OUTSIDER: &str = "urn:tanso:company:soak-outsider";
/// Products the supplier serves (fetched and requested all run long).
const PRODUCTS: usize = 20;
/// Longest warm-up before the start RSS is read (30 % of the measured time otherwise): the
/// replay window (120 s) plus a minute.
const WARMUP_MAX: Duration = Duration::from_secs(180);
/// How often the RSS is printed during the run.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Pause between publishes and between requests (fetch workers run back to back).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
const REQUEST_EVERY: Duration = Duration::from_millis(250);

/// Counts per operation kind, and the errors (the first few kept for the report).
#[derive(Default)]
struct Tally {
    ops: [AtomicU64; 6],
    errors: AtomicU64,
    first_errors: std::sync::Mutex<Vec<String>>,
}

const KINDS: [&str; 6] = [
    "get (permit)",
    "list (permit)",
    "get (deny)",
    "publish",
    "request",
    "scrape",
];

impl Tally {
    fn ok(&self, kind: usize) {
        self.ops[kind].fetch_add(1, Ordering::Relaxed);
    }
    fn err(&self, kind: usize, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap_or_else(|p| p.into_inner());
        if first.len() < 10 {
            first.push(format!("{}: {e}", KINDS[kind]));
        }
    }
}

fn main() -> Res<()> {
    let mut seconds: u64 = 600;
    let mut tanso = None;
    let mut keep_secs: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tanso" => tanso = Some(PathBuf::from(args.next().ok_or("--tanso needs a path")?)),
            "--keep-secs" => {
                let n = args.next().ok_or("--keep-secs needs a number of seconds")?;
                keep_secs = Some(n.parse().map_err(|_| format!("bad --keep-secs {n:?}"))?);
            }
            other => {
                seconds = other
                    .parse()
                    .map_err(|_| format!("bad argument {other:?}"))?
            }
        }
    }
    let measured = Duration::from_secs(seconds);
    let warmup = (measured * 3 / 10).min(WARMUP_MAX);
    let tanso = tanso.or_else(tanso_binary).ok_or(
        "no release `tanso` binary; build it with `cargo build --release --locked -p cli`",
    )?;
    let scratch = tempfile::tempdir()?;
    println!(
        "soak: {} s warm-up + {} s measured of mixed load against {}{}",
        warmup.as_secs(),
        seconds,
        tanso.display(),
        keep_secs
            .map(|k| format!(", audit entries archived after {k} s"))
            .unwrap_or_default()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&tanso, scratch.path(), warmup, measured, keep_secs))
}

async fn run(
    tanso: &Path,
    dir: &Path,
    warmup: Duration,
    measured: Duration,
    keep_secs: Option<u64>,
) -> Res<()> {
    // The supplier: `tanso init` + a policy + products, then `tanso serve`.
    let home = dir.join("supplier");
    let port = free_port()?;
    let metrics_port = free_port()?;
    let status = Command::new(tanso)
        .args(["init", "--home"])
        .arg(&home)
        .args(["--company-id", SUPPLIER, "--name", "soak supplier"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("tanso init failed".into());
    }
    if let Some(keep) = keep_secs {
        use std::io::Write as _;
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(home.join("config.toml"))?;
        writeln!(config, "\n[audit]\nkeep_days = {}", keep as f64 / 86_400.0)?;
    }
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/share-with-customers.json");
    let status = Command::new(tanso)
        .args(["policy", "add", "--home"])
        .arg(&home)
        .arg(&policy)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("tanso policy add failed".into());
    }
    let mut child = Command::new(tanso)
        .args(["serve", "--home"])
        .arg(&home)
        .env("TANSO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let result = drive(&mut child, &home, dir, metrics_port, warmup, measured).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result
}

async fn drive(
    child: &mut Child,
    home: &Path,
    dir: &Path,
    metrics_port: u16,
    warmup: Duration,
    measured: Duration,
) -> Res<()> {
    let socket = home.join("admin.sock");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("tanso serve exited: {status}").into());
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return Err("tanso serve not ready after 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id();
    let admin::Answer::Card(supplier_card) = admin_call(&socket, admin::Command::Id).await? else {
        return Err("the node's answer to Id is not a card".into());
    };

    // The buyer (a customer) and the outsider (no policy shares with it), in this process.
    let buyer = local_node(dir, "buyer", BUYER).await?;
    let outsider = local_node(dir, "outsider", OUTSIDER).await?;
    let card_text = serde_json::to_string(&supplier_card)?;
    buyer.0.add_partner(&card_text, Vec::new())?;
    outsider.0.add_partner(&card_text, Vec::new())?;
    for (node, groups) in [
        (&buyer.0, vec!["customer".to_string()]),
        (&outsider.0, vec![]),
    ] {
        let card = serde_json::to_string(&node.card()?)?;
        admin_call(
            &socket,
            admin::Command::PartnerAdd {
                card,
                groups,
                replace: false,
            },
        )
        .await?;
    }
    let mut ids = Vec::new();
    for n in 0..PRODUCTS {
        let id = uuid::Uuid::new_v4().to_string();
        let text = footprint(&id, &product(n)).to_string();
        admin_call(&socket, admin::Command::Publish { text }).await?;
        ids.push(id);
    }
    let ids = Arc::new(ids);
    let tally = Arc::new(Tally::default());
    let end = Instant::now() + warmup + measured;
    let mut workers = tokio::task::JoinSet::new();
    // Two permitted fetchers, one for Get and one for List.
    for kind in [0usize, 1] {
        let (buyer, ids, tally) = (buyer.0.clone(), ids.clone(), tally.clone());
        workers.spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                let what = if kind == 0 {
                    FetchWhat::Id(ids[n % ids.len()].clone())
                } else {
                    FetchWhat::Products(vec![product(n % PRODUCTS)])
                };
                match client::fetch(&buyer, SUPPLIER, what, None).await {
                    Ok(docs) if !docs.is_empty() => tally.ok(kind),
                    Ok(_) => tally.err(kind, "empty answer"),
                    Err(e) => tally.err(kind, e),
                }
                n += 1;
            }
        });
    }
    // The outsider is denied (a denial is the expected outcome, not an error).
    {
        let (outsider, ids, tally) = (outsider.0.clone(), ids.clone(), tally.clone());
        workers.spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                let what = FetchWhat::Id(ids[n % ids.len()].clone());
                match client::fetch(&outsider, SUPPLIER, what, None).await {
                    Err(node::NodeError::PeerDenied { .. }) => tally.ok(2),
                    Err(e) if e.to_string().contains("not found") => tally.ok(2),
                    Err(e) => tally.err(2, e),
                    Ok(_) => tally.err(2, "an outsider was served"),
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    // Publishes of new products, through the admin socket.
    {
        let (socket, tally) = (socket.clone(), tally.clone());
        workers.spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                let text = footprint(
                    &uuid::Uuid::new_v4().to_string(),
                    &format!("urn:tanso:soak:new-product:n{n}"),
                );
                match admin_call(
                    &socket,
                    admin::Command::Publish {
                        text: text.to_string(),
                    },
                )
                .await
                {
                    Ok(_) => tally.ok(3),
                    Err(e) => tally.err(3, e),
                }
                n += 1;
                tokio::time::sleep(PUBLISH_EVERY).await;
            }
        });
    }
    // Footprint requests from the buyer; answered through the supplier's outbox.
    {
        let (buyer, tally) = (buyer.0.clone(), tally.clone());
        workers.spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                match buyer.send_request(
                    SUPPLIER,
                    vec![product(n % PRODUCTS)],
                    Vec::new(),
                    "soak".into(),
                    None,
                ) {
                    Ok(_) => tally.ok(4),
                    Err(e) => tally.err(4, e),
                }
                n += 1;
                tokio::time::sleep(REQUEST_EVERY).await;
            }
        });
    }
    // Prometheus scrapes.
    {
        let tally = tally.clone();
        workers.spawn(async move {
            let addr = format!("127.0.0.1:{metrics_port}");
            while Instant::now() < end {
                match scrape(&addr).await {
                    // Peer request series appear with the first request; the gauges always.
                    Ok(body) if body.contains("tanso_store_size_bytes") => tally.ok(5),
                    Ok(_) => tally.err(5, "scrape without the store gauge"),
                    Err(e) => tally.err(5, e),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    tokio::time::sleep(warmup).await;
    let rss_start = rss_kib(pid).ok_or("cannot read the node's RSS")?;
    let warm_at = Instant::now();
    println!(
        "  RSS at start (after warm-up): {:.1} MiB{}",
        mib(rss_start),
        memory_gauges(&format!("127.0.0.1:{metrics_port}")).await
    );
    // The store grows with every audited request and publish; its size puts RSS in context.
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let store_start = store_bytes(&scrape(&metrics_addr).await?);
    println!("  at start: store {:.1} MiB", store_start / 1048576.0);
    let mut rss_peak = rss_start;
    // (seconds since warm-up, KiB), one a second: the growth statistics below use them all.
    let mut samples = vec![(0.0, rss_start)];
    let mut next_report = warm_at + REPORT_EVERY;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now().min(end))).await;
        if let Some(rss) = rss_kib(pid) {
            rss_peak = rss_peak.max(rss);
            samples.push((warm_at.elapsed().as_secs_f64(), rss));
            if Instant::now() >= next_report {
                next_report += REPORT_EVERY;
                let ops: u64 = tally.ops.iter().map(|o| o.load(Ordering::Relaxed)).sum();
                println!(
                    "  {:>4.0} s: RSS {:.1} MiB ({:+.1} %), {ops} operations, {} errors{}",
                    warm_at.elapsed().as_secs_f64(),
                    mib(rss),
                    (rss as f64 - rss_start as f64) / rss_start as f64 * 100.0,
                    tally.errors.load(Ordering::Relaxed),
                    memory_gauges(&metrics_addr).await
                );
            }
        }
        if child.try_wait()?.is_some() {
            return Err("the node exited during the soak".into());
        }
    }
    while workers.join_next().await.is_some() {}
    let rss_end = rss_kib(pid).ok_or("cannot read the node's RSS")?;
    let rss_end_at = warm_at.elapsed().as_secs_f64();
    // Every request must have been answered once the load stops (outboxes drained).
    let drained_by = Instant::now() + Duration::from_secs(60);
    let (mut fulfilled, mut total);
    loop {
        let requests = buyer.0.store().outgoing_requests()?;
        total = requests.len();
        fulfilled = requests
            .iter()
            .filter(|r| r.status == node::store::RequestState::Fulfilled)
            .count();
        if fulfilled == total || Instant::now() > drained_by {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if fulfilled != total {
        tally.err(
            4,
            format!("{} of {total} requests unanswered", total - fulfilled),
        );
    }

    let measured = warm_at.elapsed().as_secs_f64();
    println!(
        "  RSS at end:   {:.1} MiB (peak {:.1} MiB)",
        mib(rss_end),
        mib(rss_peak)
    );
    samples.push((rss_end_at, rss_end));
    let point = (rss_end as f64 - rss_start as f64) / rss_start as f64 * 100.0;
    let minutes = minute_medians(&samples);
    let growth = trend_growth(&samples);
    println!(
        "  RSS growth over {measured:.0} s after warm-up (budget < 10 % over 600 s):\n    \
         least-squares trend {growth:+.1} % (the budget's figure: RSS moves by several MiB \
         from second to second, so one sample against another measures that noise as much \
         as growth)\n    \
         median of the first minute against the last {:+.1} % ({:.1} -> {:.1} MiB)\n    \
         last sample against the first {point:+.1} %",
        (minutes.1 - minutes.0) / minutes.0 * 100.0,
        minutes.0 / 1024.0,
        minutes.1 / 1024.0,
    );
    if measured < 590.0 {
        println!("  (a run shorter than 600 s only indicates the budget's figure)");
    }
    let total_ops: u64 = tally.ops.iter().map(|o| o.load(Ordering::Relaxed)).sum();
    for (kind, name) in KINDS.iter().enumerate() {
        println!(
            "  {name:<14} {:>9}",
            tally.ops[kind].load(Ordering::Relaxed)
        );
    }
    println!("  requests answered: {fulfilled} of {total}");
    println!(
        "  operations: {total_ops}, errors: {}",
        tally.errors.load(Ordering::Relaxed)
    );
    for e in tally
        .first_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("    error: {e}");
    }
    let metrics = scrape(&format!("127.0.0.1:{metrics_port}")).await?;
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("tanso_store_size_bytes") || l.starts_with("tanso_outbox_depth"))
    {
        println!("  {line}");
    }
    let store_end = store_bytes(&metrics);
    println!(
        "  store growth over {measured:.0} s after warm-up: {:.1} -> {:.1} MiB ({:+.2} MiB/min)",
        store_start / 1048576.0,
        store_end / 1048576.0,
        (store_end - store_start) / 1048576.0 / (measured / 60.0)
    );
    let archive_dir = home.join("audit-archive");
    if let Ok(files) = std::fs::read_dir(&archive_dir) {
        let sizes: Vec<u64> = files
            .filter_map(|f| f.ok()?.metadata().ok().map(|m| m.len()))
            .collect();
        println!(
            "  archived: {} segment files, {:.1} MiB in {}",
            sizes.len(),
            sizes.iter().sum::<u64>() as f64 / 1048576.0,
            archive_dir.display()
        );
    }
    // The log itself: what the store still holds (redb's file grows in steps and is not
    // shrunk, so its size alone says little over a few minutes).
    let admin::Answer::AuditChain(chain) =
        admin_call(&socket, admin::Command::AuditVerify { archives: vec![] }).await?
    else {
        return Err("the node's answer to AuditVerify is not a chain report".into());
    };
    println!(
        "  audit log: {} entries since the start, {} in the store, {} archived; chain {}",
        chain.entries,
        chain.entries - chain.archived,
        chain.archived,
        if chain.ok { "ok" } else { "BROKEN" }
    );
    let errors = tally.errors.load(Ordering::Relaxed);
    println!(
        "{}",
        budget_line(
            "soak_rss_growth",
            format!("{growth:.1}"),
            "<10",
            growth < 10.0
        )
    );
    println!(
        "{}",
        budget_line("soak_errors", errors.to_string(), "0", errors == 0)
    );
    buyer.1.send(()).ok();
    outsider.1.send(()).ok();
    Ok(())
}

/// `BUDGET <name> <figure> <budget> PASS|MISS`, the line `benches/run-all.sh` collects.
fn budget_line(name: &str, figure: String, budget: &str, pass: bool) -> String {
    let verdict = if pass { "PASS" } else { "MISS" };
    format!("BUDGET {name} {figure} {budget} {verdict}")
}

/// A node in this process serving on 127.0.0.1:0 (the buyer receives answers there).
async fn local_node(
    dir: &Path,
    slug: &str,
    company_id: &str,
) -> Res<(Node, tokio::sync::oneshot::Sender<()>)> {
    let raw = RawConfig {
        company_id: company_id.into(),
        name: slug.into(),
        listen: Some("127.0.0.1:0".into()),
        advertise: None,
        store: RawStore::default(),
        limits: RawLimits::default(),
        tls: RawTls::default(),
        log: RawLog::default(),
        dashboard: Default::default(),
        exchange: Default::default(),
        pact: Default::default(),
        metrics: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
    };
    let home = Home::new(dir.join(slug));
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("randomness: {e}"))?;
    home.init(&raw, &seed)?;
    let node = node::open(&home)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    node.set_bound_endpoint(listener.local_addr()?);
    let mut listeners = node::server::Listeners::bind(&node).await?;
    listeners.peer = Some(listener);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = node.clone();
    tokio::spawn(async move {
        let _ = node::server::run(served, listeners, async move {
            let _ = stopped.await;
        })
        .await;
    });
    Ok((node, stop))
}

async fn admin_call(socket: &Path, command: admin::Command) -> Res<admin::Answer> {
    match admin::call(socket, &command).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.into()),
        None => Err("the node's admin socket does not answer".into()),
    }
}

/// The node's own memory gauges, when it exports them (a jemalloc build): the live heap and
/// what the allocator keeps resident, which tell a leak from memory kept for reuse; and the
/// store's size on disk.
async fn memory_gauges(addr: &str) -> String {
    let Ok(body) = scrape(addr).await else {
        return String::new();
    };
    let value = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let mut out = String::new();
    if let (Some(heap), Some(resident)) = (
        value("tanso_allocator_allocated_bytes "),
        value("tanso_allocator_resident_bytes "),
    ) {
        out += &format!(
            "; heap {:.1} MiB, allocator resident {:.1} MiB",
            heap / 1048576.0,
            resident / 1048576.0
        );
    }
    if let Some(store) = value("tanso_store_size_bytes ") {
        out += &format!("; store {:.0} MiB", store / 1048576.0);
    }
    out
}

/// `tanso_store_size_bytes` in a scrape (0 when absent).
fn store_bytes(scrape: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| {
            l.strip_prefix("tanso_store_size_bytes ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

async fn scrape(addr: &str) -> Res<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).await?;
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("scrape: {}", text.lines().next().unwrap_or("")).into());
    }
    Ok(text)
}

fn product(n: usize) -> String {
    format!("urn:tanso:soak:product:p{n}")
}

/// A valid PACT v3 footprint of the supplier.
fn footprint(id: &str, product: &str) -> Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "soak supplier",
        "companyIds": [SUPPLIER],
        "productDescription": "hot-rolled steel coil",
        "productIds": [product],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": "Coil",
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "geographyCountry": "KR",
            "pcfExcludingBiogenicUptake": "2.1",
            "pcfIncludingBiogenicUptake": "2.1",
            "fossilCarbonContent": "0",
            "fossilGhgEmissions": "2.1",
            "packagingEmissionsIncluded": false,
            "ccsTechnologicalCO2CaptureIncluded": false,
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067"],
            "exemptedEmissionsPercent": "0",
            "primaryDataShare": "60",
            "dqi": {"technologicalDQR": "2", "geographicalDQR": "1", "temporalDQR": "1"}
        }
    })
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Growth of RSS over the run in per cent of its start, from the least-squares line through
/// every (second, RSS) sample: (fit(end) - fit(start)) / fit(start). A leak shows as a slope;
/// the swings of allocator caches and batch buffers around a level average out.
fn trend_growth(samples: &[(f64, u64)]) -> f64 {
    let n = samples.len() as f64;
    let (mean_t, mean_r) = samples.iter().fold((0.0, 0.0), |(t, r), (ts, rs)| {
        (t + ts / n, r + *rs as f64 / n)
    });
    let (cov, var) = samples.iter().fold((0.0, 0.0), |(c, v), (ts, rs)| {
        let dt = ts - mean_t;
        (c + dt * (*rs as f64 - mean_r), v + dt * dt)
    });
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    let first = samples.first().map_or(0.0, |s| s.0);
    let last = samples.last().map_or(0.0, |s| s.0);
    let at = |t: f64| mean_r + slope * (t - mean_t);
    (at(last) - at(first)) / at(first) * 100.0
}

/// Median RSS (KiB) of the samples in the first and in the last 60 s.
fn minute_medians(samples: &[(f64, u64)]) -> (f64, f64) {
    let last = samples.last().map_or(0.0, |s| s.0);
    let median = |keep: &dyn Fn(f64) -> bool| {
        let mut v: Vec<u64> = samples.iter().filter(|s| keep(s.0)).map(|s| s.1).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or_default() as f64
    };
    (median(&|t| t <= 60.0), median(&|t| t >= last - 60.0))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `tanso` beside this example's directory (`target/release/examples/..`), else in the
/// workspace's `target/release`.
fn tanso_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("tanso")));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/tanso");
    beside.into_iter().chain([workspace]).find(|p| p.is_file())
}
