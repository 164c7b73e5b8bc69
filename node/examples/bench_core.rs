//! Core performance figures, each measured next to a baseline in the same run.
//!
//! 1. Signed, policy-checked `GetFootprint` over TLS on loopback, 64 requests in flight,
//!    against a bare tonic service on the same TLS setup that verifies one Ed25519
//!    signature and returns a prepared answer.
//! 2. `tanso serve` start-up time (spawn until the admin socket accepts) and idle RSS.
//! 3. Bulk publish of 100,000 footprints against signing both views of the same footprints.
//!
//! Run with `cargo build --release --locked -p cli` (for figure 2), then
//! `cargo run --release --locked -p node --example bench_core`. Plain `Instant` timing,
//! not a statistical benchmark: it prints figures and budgets, and asserts nothing.
//! Scratch homes go to a temporary directory (`TMPDIR`), removed at the end.

use std::error::Error;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use node::Node;
use node::card::NodeCard;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::crypto;
use node::home::Home;
use node::pact::{self, ProductFootprint, ValidationContext};
use node::service::client::PeerClient;
use node::signed::{self, VIEW_FULL, VIEW_SUMMARY};
use node::tls::PeerStream;
use proto::pb;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Requests in flight in figure 1.
const IN_FLIGHT: usize = 64;
/// Load before measuring, and measured load, in figure 1.
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
/// `tanso serve` starts measured in figure 2 (each on a fresh home).
const STARTS: usize = 5;
/// How long the started node idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(1);
/// Footprints published in figure 3.
const BULK: usize = 100_000;

const OWNER: &str = "urn:tanso:company:bench-supplier";
const CUSTOMER: &str = "urn:tanso:company:bench-customer";
const BASELINE: &str = "urn:tanso:company:bench-baseline";

fn main() -> Res<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scratch = tempfile::Builder::new()
        .prefix("tanso-bench-core-")
        .tempdir()?;
    println!("tanso bench_core: {cores} cpu(s) available, release build");
    println!("scratch: {}", scratch.path().display());
    println!();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (base, real) = rt.block_on(get_footprint(scratch.path()))?;
    rt.shutdown_timeout(Duration::from_secs(2));

    let starts = serve_startup(scratch.path());

    let bulk = bulk_publish(scratch.path(), cores)?;

    summary(&base, &real, starts.as_ref().ok(), &bulk);
    if let Err(e) = &starts {
        println!("figure 2 skipped: {e}");
    }
    Ok(())
}

// === 1. GetFootprint over TLS ===

/// One load run: throughput and latency of the requests started in the measured window.
struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Load {
    fn print(&self, label: &str) {
        println!(
            "  {label:<30} {:>9.0} {:>9} {:>9} {:>9} {:>7}",
            self.rps,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.errors
        );
        if let Some(e) = &self.first_error {
            println!("    first error: {e}");
        }
    }
}

async fn get_footprint(scratch: &Path) -> Res<(Load, Load)> {
    println!(
        "1. GetFootprint over TLS on loopback, {IN_FLIGHT} in flight, {} s warm-up + {} s",
        WARMUP.as_secs(),
        MEASURE.as_secs()
    );
    let owner = Node::open(&init_home(&scratch.join("owner"), OWNER, true)?)?;
    let customer = Node::open(&init_home(&scratch.join("customer"), CUSTOMER, false)?)?;

    let published = owner.publish(&footprint(OWNER, &bench_uuid(0), 0).to_string())?;
    let id = published.ids[0].clone();
    owner.add_policy(
        "share-with-customers.json",
        include_str!("../../policies/share-with-customers.json"),
    )?;
    owner.add_partner(
        &serde_json::to_string(&customer.card()?)?,
        vec!["customer".into()],
    )?;

    // The real node, served as `tanso serve` serves it.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    owner.set_bound_endpoint(listener.local_addr()?);
    customer.add_partner(&serde_json::to_string(&owner.card()?)?, Vec::new())?;
    let (stop_real, stopped) = oneshot::channel::<()>();
    let served = owner.clone();
    let real_task = tokio::spawn(async move {
        node::server::run(served, Some(listener), async move {
            let _ = stopped.await;
        })
        .await
    });

    // One real request checks the path and yields the answer the baseline returns.
    let answer = pb::GetFootprintResponse {
        footprint: Some(
            PeerClient::for_partner(&customer, OWNER, None)?
                .get(&id)
                .await?,
        ),
    };

    // The baseline: same TLS identity and config, a bare tonic service. The customer knows
    // it as a second partner (a card signed with the owner's key), so both runs use the
    // very same client code.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let card = NodeCard::issue(
        owner.key(),
        BASELINE,
        "baseline",
        &listener.local_addr()?.to_string(),
        &owner.identity().fingerprint,
    )?;
    customer.add_partner(&serde_json::to_string(&card)?, Vec::new())?;
    let bare = Bare {
        caller_key: customer.key().public_key(),
        answer: Arc::new(answer),
    };
    let tls = node::tls::server_config(owner.identity(), None)?;
    let max = owner.config().max_message_bytes;
    let (stop_bare, stopped) = oneshot::channel::<()>();
    let bare_task = tokio::spawn(serve_bare(listener, tls, bare, max, async move {
        let _ = stopped.await;
    }));

    println!(
        "  {:<30} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let base = drive(&customer, BASELINE, &id).await?;
    base.print("baseline: bare tonic + 1 verify");
    let real = drive(&customer, OWNER, &id).await?;
    real.print("tanso: signed + policy + audit");
    println!();

    drop(customer);
    let _ = stop_real.send(());
    let _ = stop_bare.send(());
    for task in [real_task, bare_task] {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => println!("  server ended with: {e}"),
            Ok(Err(e)) => println!("  server task failed: {e}"),
            Err(_) => println!("  server still draining after 5 s; left to the runtime"),
        }
    }
    Ok((base, real))
}

/// `IN_FLIGHT` tasks, each with its own client on the shared channel to `partner`, each
/// looping `GetFootprint(id)` for the warm-up and the measured window.
async fn drive(customer: &Node, partner: &str, id: &str) -> Res<Load> {
    let start = Instant::now();
    let warm = start + WARMUP;
    let end = warm + MEASURE;
    let mut tasks = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let mut client = PeerClient::for_partner(customer, partner, None)?;
        let id = id.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16 * 1024);
            let mut errors = 0;
            let mut first_error = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let answer = client.get(&id).await;
                let took = t0.elapsed();
                if t0 < warm {
                    continue;
                }
                match answer {
                    Ok(fp) => {
                        black_box(fp);
                        latencies.push(took);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (latencies, e, first) = task.await?;
        all.extend(latencies);
        errors += e;
        first_error = first_error.or(first);
    }
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Load {
        rps: all.len() as f64 / MEASURE.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        max: all.last().copied().unwrap_or_default(),
        errors,
        first_error,
    })
}

/// The baseline service: one Ed25519 verify of the envelope, then a prepared answer.
#[derive(Clone)]
struct Bare {
    caller_key: VerifyingKey,
    answer: Arc<pb::GetFootprintResponse>,
}

#[tonic::async_trait]
impl pb::connector_server::Connector for Bare {
    async fn get_footprint(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::GetFootprintResponse>, Status> {
        let envelope = request.get_ref();
        crypto::verify(
            &self.caller_key,
            crypto::DOMAIN_REQUEST,
            &envelope.header,
            &envelope.signature,
        )
        .map_err(|_| Status::unauthenticated("bad signature"))?;
        Ok(Response::new((*self.answer).clone()))
    }

    async fn list_footprints(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::ListFootprintsResponse>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }
}

/// Serves `service` over TLS with `tls` (handshakes off the accept path, as the node does).
async fn serve_bare(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: Bare,
    max: usize,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<PeerStream>>(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let accept = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok(PeerStream::Tls(Box::new(stream)))).await;
                }
            });
        }
    });
    let served = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(
            pb::connector_server::ConnectorServer::new(service)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .serve_with_incoming_shutdown(tokio_stream::wrappers::ReceiverStream::new(rx), stop)
        .await;
    accept.abort();
    served
}

// === 2. tanso serve start-up ===

/// One `tanso serve` start.
struct Start {
    ready: Duration,
    rss_kib: Option<u64>,
    stop: Duration,
}

fn serve_startup(scratch: &Path) -> Result<Vec<Start>, String> {
    println!("2. `tanso serve` start-up ({STARTS} starts, each on a fresh `tanso init` home)");
    let tanso = tanso_binary().ok_or_else(|| {
        "no release `tanso` binary next to this example or in target/release; \
         build it with `cargo build --release --locked -p cli`"
            .to_string()
    })?;
    println!("  binary: {}", tanso.display());
    println!(
        "  {:<30} {:>9} {:>9} {:>9}",
        "", "ready ms", "RSS MiB", "stop ms"
    );
    let mut starts = Vec::with_capacity(STARTS);
    for n in 0..STARTS {
        let start = start_once(&tanso, &scratch.join(format!("serve-{n}")))?;
        println!(
            "  {:<30} {:>9} {:>9} {:>9}",
            format!("start {}", n + 1),
            ms(start.ready),
            start
                .rss_kib
                .map_or_else(|| "?".into(), |k| format!("{:.1}", mib(k * 1024))),
            ms(start.stop)
        );
        starts.push(start);
    }
    println!();
    Ok(starts)
}

/// `tanso init`, then times `tanso serve` from spawn until `<home>/admin.sock` exists and
/// accepts a connection (the peer listener is bound before the admin socket), idles, reads
/// VmRSS, and stops it with SIGTERM (timing the drain).
fn start_once(tanso: &Path, home: &Path) -> Result<Start, String> {
    let home_arg = home.display().to_string();
    let init = Command::new(tanso)
        .args(["init", "--home", &home_arg, "--company-id", OWNER])
        .args(["--name", "bench", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("tanso init: {e}"))?;
    if !init.success() {
        return Err(format!("tanso init exited with {init}"));
    }
    let socket = home.join("admin.sock");
    let t0 = Instant::now();
    let mut child = Command::new(tanso)
        .args(["serve", "--home", &home_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("tanso serve: {e}"))?;
    let ready = loop {
        if socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            break t0.elapsed();
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("tanso serve exited early with {status}"));
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("tanso serve: admin socket not ready after 10 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    std::thread::sleep(IDLE);
    let rss_kib = proc_status_kib(&format!("/proc/{}/status", child.id()), "VmRSS");
    let t1 = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !killed.is_ok_and(|s| s.success()) {
        let _ = child.kill();
    }
    let _ = child.wait();
    Ok(Start {
        ready,
        rss_kib,
        stop: t1.elapsed(),
    })
}

/// `tanso` in the directory above this example's (`target/release/examples/..`), else in the
/// workspace's `target/release`.
fn tanso_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("tanso")));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/tanso");
    beside.into_iter().chain([workspace]).find(|p| p.is_file())
}

// === 3. Bulk publish ===

struct Bulk {
    publish: Duration,
    published: usize,
    sign_only: Duration,
    views_and_sign: Duration,
    threads: usize,
    disk_bytes: u64,
    peak_kib: Option<u64>,
    peak_reset: bool,
}

fn bulk_publish(scratch: &Path, cores: usize) -> Res<Bulk> {
    // As `Node::publish` signs: one chunk per thread, at most 8 threads.
    let threads = cores.min(8);
    println!("3. Bulk publish of {BULK} footprints (JSONL in memory), {threads} signing thread(s)");
    let home = init_home(&scratch.join("bulk"), OWNER, false)?;
    let node = Node::open(&home)?;
    let mut jsonl = String::with_capacity(BULK * 1200);
    for i in 0..BULK {
        jsonl.push_str(&footprint(OWNER, &bench_uuid(i), i).to_string());
        jsonl.push('\n');
    }
    println!("  input: {:.1} MiB of JSONL", mib(jsonl.len() as u64));

    let peak_reset = reset_peak_rss();
    let t0 = Instant::now();
    let outcome = node.publish(&jsonl)?;
    let publish = t0.elapsed();
    let peak_kib = proc_status_kib("/proc/self/status", "VmHWM");
    let disk_bytes = node.store().disk_bytes();
    let published = outcome.ids.len();
    drop(outcome);
    drop(node);

    // Baseline inputs, outside the timing: typed footprints, and their two views.
    let ctx = ValidationContext {
        own_company_id: Some(OWNER.into()),
    };
    let footprints = pact::parse_document(&jsonl)?
        .into_iter()
        .map(|v| pact::import(v, &ctx).map(|i| i.footprint))
        .collect::<Result<Vec<ProductFootprint>, _>>()
        .map_err(|f| {
            let f: Vec<String> = f.iter().map(ToString::to_string).collect();
            format!("bench footprint invalid: {}", f.join("; "))
        })?;
    drop(jsonl);
    let key = home.load_key()?;
    let chunk = footprints.len().div_ceil(threads).max(1);

    let views = footprints
        .iter()
        .map(|fp| {
            Ok((
                signed::view_json(fp, VIEW_FULL)?,
                signed::view_json(fp, VIEW_SUMMARY)?,
            ))
        })
        .collect::<Result<Vec<(Value, Value)>, crypto::CryptoError>>()?;
    let t0 = Instant::now();
    let signed = on_threads(&views, chunk, |(full, summary)| {
        Ok((
            signed::sign_view(&key, OWNER, VIEW_FULL, full)?,
            signed::sign_view(&key, OWNER, VIEW_SUMMARY, summary)?,
        ))
    })?;
    let sign_only = t0.elapsed();
    drop(views);

    let t0 = Instant::now();
    let signed_too = on_threads(&footprints, chunk, |fp| {
        let full = signed::view_json(fp, VIEW_FULL)?;
        let summary = signed::view_json(fp, VIEW_SUMMARY)?;
        Ok((
            signed::sign_view(&key, OWNER, VIEW_FULL, &full)?,
            signed::sign_view(&key, OWNER, VIEW_SUMMARY, &summary)?,
        ))
    })?;
    let views_and_sign = t0.elapsed();
    black_box((signed, signed_too));

    let rate = |d: Duration| BULK as f64 / d.as_secs_f64();
    println!("  {:<34} {:>9} {:>12}", "", "seconds", "footprints/s");
    for (label, d) in [
        ("tanso: Node::publish", publish),
        ("baseline: sign_view x2 only", sign_only),
        ("info: view_json + sign_view x2", views_and_sign),
    ] {
        println!("  {label:<34} {:>9.2} {:>12.0}", d.as_secs_f64(), rate(d));
    }
    println!(
        "  store on disk: {:.1} MiB ({:.0} B/footprint)",
        mib(disk_bytes),
        disk_bytes as f64 / BULK as f64
    );
    println!(
        "  peak RSS (VmHWM{}): {}",
        if peak_reset {
            ", reset just before publish"
        } else {
            ", since process start"
        },
        peak_kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", mib(k * 1024)))
    );
    println!();
    Ok(Bulk {
        publish,
        published,
        sign_only,
        views_and_sign,
        threads,
        disk_bytes,
        peak_kib,
        peak_reset,
    })
}

/// Maps `f` over `items` in chunks of `chunk`, one scoped thread per chunk.
fn on_threads<T: Sync, R: Send>(
    items: &[T],
    chunk: usize,
    f: impl Fn(&T) -> Result<R, crypto::CryptoError> + Sync,
) -> Result<Vec<R>, crypto::CryptoError> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Result<Vec<R>, _>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().expect("signing thread panicked")?);
        }
        Ok(out)
    })
}

// === summary ===

fn summary(base: &Load, real: &Load, starts: Option<&Vec<Start>>, bulk: &Bulk) {
    println!("Summary (budgets from the issue; figures only, nothing is asserted)");
    println!(
        "  {:<40} {:>12} {:>12} {:>12}  {}",
        "figure", "measured", "baseline", "budget", "within"
    );
    let row = |figure: &str, measured: String, baseline: String, budget: &str, ok: Option<bool>| {
        let verdict = match ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!("  {figure:<40} {measured:>12} {baseline:>12} {budget:>12}  {verdict}");
    };
    let ratio = real.rps / base.rps;
    row(
        "GetFootprint req/s (64 in flight)",
        format!("{:.0}", real.rps),
        format!("{:.0}", base.rps),
        "",
        None,
    );
    row(
        "  ratio tanso / bare",
        format!("{ratio:.2}"),
        String::new(),
        ">= 0.6",
        Some(ratio >= 0.6),
    );
    row("GetFootprint p50 ms", ms(real.p50), ms(base.p50), "", None);
    row(
        "GetFootprint p99 ms",
        ms(real.p99),
        ms(base.p99),
        "< 3",
        Some(real.p99 < Duration::from_millis(3)),
    );
    match starts {
        Some(starts) if !starts.is_empty() => {
            let mut ready: Vec<Duration> = starts.iter().map(|s| s.ready).collect();
            ready.sort_unstable();
            let median = ready[ready.len() / 2];
            let worst = ready[ready.len() - 1];
            row(
                "serve start-up ms (median of 5)",
                ms(median),
                String::new(),
                "< 200",
                Some(median < Duration::from_millis(200)),
            );
            row(
                "serve start-up ms (worst of 5)",
                ms(worst),
                String::new(),
                "< 200",
                Some(worst < Duration::from_millis(200)),
            );
            let rss = starts.iter().filter_map(|s| s.rss_kib).max();
            row(
                "serve idle RSS MiB (largest of 5)",
                rss.map_or_else(|| "?".into(), |k| format!("{:.1}", mib(k * 1024))),
                String::new(),
                "< 30",
                rss.map(|k| k * 1024 < 30 * 1024 * 1024),
            );
        }
        _ => row(
            "serve start-up / idle RSS",
            "skipped".into(),
            String::new(),
            "",
            None,
        ),
    }
    let rate = |d: Duration| BULK as f64 / d.as_secs_f64();
    let publish_ratio = bulk.sign_only.as_secs_f64() / bulk.publish.as_secs_f64();
    row(
        &format!("publish footprints/s ({} thr)", bulk.threads),
        format!("{:.0}", rate(bulk.publish)),
        format!("{:.0}", rate(bulk.sign_only)),
        "",
        None,
    );
    row(
        "  ratio publish / sign_view only",
        format!("{publish_ratio:.2}"),
        String::new(),
        ">= 0.5",
        Some(publish_ratio >= 0.5),
    );
    row(
        "  ratio publish / view_json + sign_view",
        format!(
            "{:.2}",
            bulk.views_and_sign.as_secs_f64() / bulk.publish.as_secs_f64()
        ),
        String::new(),
        "(info)",
        None,
    );
    row(
        "store disk MiB after publish",
        format!("{:.1}", mib(bulk.disk_bytes)),
        String::new(),
        "",
        None,
    );
    row(
        if bulk.peak_reset {
            "peak RSS MiB during publish"
        } else {
            "peak RSS MiB (whole process)"
        },
        bulk.peak_kib
            .map_or_else(|| "?".into(), |k| format!("{:.0}", mib(k * 1024))),
        String::new(),
        "",
        None,
    );
    if bulk.published != BULK {
        println!(
            "  note: publish reported {} ids, not {BULK}",
            bulk.published
        );
    }
    let _ = std::io::stdout().flush();
}

// === helpers ===

/// Creates a home for `company` (listening on port 0 when `listen`).
fn init_home(dir: &Path, company: &str, listen: bool) -> Res<Home> {
    let raw = RawConfig {
        company_id: company.into(),
        name: company.rsplit(':').next().unwrap_or(company).into(),
        listen: listen.then(|| "127.0.0.1:0".into()),
        advertise: None,
        store: RawStore::default(),
        limits: RawLimits::default(),
        tls: RawTls::default(),
        log: RawLog::default(),
        dashboard: Default::default(),
    };
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("os randomness: {e}"))?;
    home.init(&raw, &seed)?;
    Ok(home)
}

/// A valid PACT v3 footprint of `company` with `id`, for product number `n`.
fn footprint(company: &str, id: &str, n: usize) -> Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "Bench Supplier",
        "companyIds": [company],
        "productDescription": "hot-rolled coil, bench product",
        "productIds": [format!("urn:tanso:bench-supplier:product:{n}")],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": format!("Coil {n}"),
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "geographyCountry": "KR",
            "pcfExcludingBiogenicUptake": format!("2.{}", n % 1000),
            "pcfIncludingBiogenicUptake": format!("2.{}", n % 1000),
            "fossilCarbonContent": "0",
            "fossilGhgEmissions": format!("2.{}", n % 1000),
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

/// A distinct uuid (v4 layout) for footprint number `n`.
fn bench_uuid(n: usize) -> String {
    format!("b0000000-0000-4000-8000-{n:012x}")
}

/// A `kB` field (e.g. VmRSS) of a `/proc/.../status` file.
fn proc_status_kib(path: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets this process's peak RSS (VmHWM) to its current RSS (Linux `clear_refs` 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
