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

#[path = "support/fixture.rs"]
mod fixture;
use fixture::{bench_uuid, footprint, proc_status_kib};
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
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

// The allocator the `tanso` binary ships (jemalloc, tuned by .cargo/config.toml), so the
// in-process node and both baselines are measured as they would run in production.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Requests in flight in figure 1.
const IN_FLIGHT: usize = 64;
/// Load before each measured window, and measured load per side, in figure 1.
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
/// Figure 1 alternates baseline and tanso windows this many times (splitting `MEASURE`).
const ROUNDS: usize = 2;
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
    println!("load average at start: {}", load_average());
    println!();

    // `TANSO_BENCH_FIGURES=1,3` runs only those figures (default: all three).
    let figures = std::env::var("TANSO_BENCH_FIGURES").unwrap_or_else(|_| "1,2,3".into());
    let wanted = |n: &str| figures.split(',').any(|f| f.trim() == n);

    let get = if wanted("1") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let get = rt.block_on(get_footprint(scratch.path()))?;
        rt.shutdown_timeout(Duration::from_secs(2));
        Some(get)
    } else {
        None
    };

    let starts = if wanted("2") {
        serve_startup(scratch.path())
    } else {
        Err("not selected (TANSO_BENCH_FIGURES)".into())
    };
    if let Err(e) = &starts {
        println!("{}skipped: {e}", if wanted("2") { "  " } else { "2. " });
        println!();
    }

    let bulk = if wanted("3") {
        Some(bulk_publish(scratch.path(), cores)?)
    } else {
        None
    };

    summary(get.as_ref(), starts.as_ref().ok(), bulk.as_ref());
    println!("load average at end: {}", load_average());
    Ok(())
}

// === 1. GetFootprint over TLS ===

/// Latency samples of the requests started in measured windows.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    measured: Duration,
    errors: usize,
    first_error: Option<String>,
    /// Requests answered in the whole drive (warm-up included) and this process's CPU
    /// ticks over it (client and server together).
    completed: u64,
    cpu_ticks: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.measured += other.measured;
        self.errors += other.errors;
        self.completed += other.completed;
        self.cpu_ticks += other.cpu_ticks;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn load(mut self) -> Load {
        self.latencies.sort_unstable();
        let all = &self.latencies;
        let pick = |q: f64| {
            all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Load {
            // Ticks are 1/100 s (USER_HZ on Linux).
            cpu_ms_per_request: (self.completed > 0)
                .then(|| self.cpu_ticks as f64 * 10.0 / self.completed as f64),
            rps: all.len() as f64 / self.measured.as_secs_f64().max(1e-9),
            p50: pick(0.50),
            p99: pick(0.99),
            max: all.last().copied().unwrap_or_default(),
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}

/// One load figure: throughput and latency.
struct Load {
    /// Process CPU per answered request (client + server), ms.
    cpu_ms_per_request: Option<f64>,
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
            "  {label:<36} {:>9.0} {:>9} {:>9} {:>9} {:>7}",
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

/// The GetFootprint figures: baseline and tanso at `IN_FLIGHT`, then both at 1 in flight.
struct GetFigures {
    base: Load,
    real: Load,
    base_one: Load,
    real_one: Load,
}

async fn get_footprint(scratch: &Path) -> Res<GetFigures> {
    println!(
        "1. GetFootprint over TLS on loopback, {IN_FLIGHT} in flight: {ROUNDS} rounds of \
         (baseline, tanso), each {} s warm-up + {:.1} s measured",
        WARMUP.as_secs(),
        (MEASURE / ROUNDS as u32).as_secs_f64()
    );
    let cpu = CpuMeter::start();
    let owner = node::open(&init_home(&scratch.join("owner"), OWNER, true)?)?;
    let customer = node::open(&init_home(&scratch.join("customer"), CUSTOMER, false)?)?;

    let published = owner.publish(&footprint(OWNER, &bench_uuid(0), 0).to_string())?;
    let id = published.ids[0].to_string();
    owner.add_policy(
        "share-with-customers.json",
        include_str!("../../../policies/share-with-customers.json"),
    )?;
    owner.add_partner(
        &serde_json::to_string(&customer.card()?)?,
        vec!["customer".into()],
    )?;

    // The real node, served as `tanso serve` serves it.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    owner.set_bound_endpoint(listener.local_addr()?);
    customer.add_partner(&serde_json::to_string(&owner.card()?)?, Vec::new())?;
    let mut listeners = node::server::Listeners::bind(&owner).await?;
    listeners.peer = Some(listener);
    let (stop_real, stopped) = oneshot::channel::<()>();
    let served = owner.clone();
    let real_task = tokio::spawn(async move {
        node::server::run(served, listeners, async move {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| e.to_string())
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
        &owner.key(),
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
    let bare_task = tokio::spawn(async move {
        serve_bare(listener, tls, bare, max, async move {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| e.to_string())
    });

    // Alternating rounds, so load from outside this process hits both sides alike.
    let mut base = Samples::default();
    let mut real = Samples::default();
    let segment = MEASURE / ROUNDS as u32;
    for _ in 0..ROUNDS {
        base.merge(drive(&customer, BASELINE, &id, IN_FLIGHT, WARMUP, segment).await?);
        real.merge(drive(&customer, OWNER, &id, IN_FLIGHT, WARMUP, segment).await?);
    }
    let one = Duration::from_secs(1);
    let warm_one = Duration::from_millis(200);
    let base_one = drive(&customer, BASELINE, &id, 1, warm_one, one).await?;
    let real_one = drive(&customer, OWNER, &id, 1, warm_one, one).await?;
    let figures = GetFigures {
        base: base.load(),
        real: real.load(),
        base_one: base_one.load(),
        real_one: real_one.load(),
    };
    println!(
        "  {:<36} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    figures
        .base
        .print(&format!("baseline, {IN_FLIGHT} in flight"));
    figures.real.print(&format!("tanso, {IN_FLIGHT} in flight"));
    if let (Some(b), Some(r)) = (
        figures.base.cpu_ms_per_request,
        figures.real.cpu_ms_per_request,
    ) {
        println!(
            "  cpu per request at {IN_FLIGHT} in flight (this process: client + server): \
             baseline {b:.3} ms, tanso {r:.3} ms, ratio {:.2} (info: the req/s ratio when \
             CPU-bound, insensitive to other processes' load)",
            b / r
        );
    }
    figures.base_one.print("baseline, 1 in flight (1 s)");
    figures.real_one.print("tanso, 1 in flight (1 s)");
    cpu.print();
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
    Ok(figures)
}

/// `in_flight` tasks, each with its own client on the shared channel to `partner`, each
/// looping `GetFootprint(id)` through `warmup` and the `measure` window after it. Requests
/// started in the window count.
async fn drive(
    customer: &Node,
    partner: &str,
    id: &str,
    in_flight: usize,
    warmup: Duration,
    measure: Duration,
) -> Res<Samples> {
    let ticks0 = own_ticks();
    let warm = Instant::now() + warmup;
    let end = warm + measure;
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let mut client = PeerClient::for_partner(customer, partner, None)?;
        let id = id.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples {
                latencies: Vec::with_capacity(8 * 1024),
                ..Samples::default()
            };
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let answer = client.get(&id).await;
                let took = t0.elapsed();
                if answer.is_ok() {
                    samples.completed += 1;
                }
                if t0 < warm {
                    continue;
                }
                match answer {
                    Ok(fp) => {
                        black_box(fp);
                        samples.latencies.push(took);
                    }
                    Err(e) => {
                        samples.errors += 1;
                        samples.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            samples
        }));
    }
    let mut all = Samples {
        measured: measure,
        ..Samples::default()
    };
    for task in tasks {
        let mut samples = task.await?;
        samples.measured = Duration::ZERO;
        all.merge(samples);
    }
    all.cpu_ticks = own_ticks()
        .zip(ticks0)
        .map_or(0, |(t1, t0)| t1.saturating_sub(t0));
    Ok(all)
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

    async fn create_request(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CreateRequestResponse>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }

    async fn deliver_answer(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }

    async fn notify(&self, _request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }

    async fn subscribe(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }

    async fn update_card(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        Err(Status::unimplemented(
            "the baseline serves GetFootprint only",
        ))
    }

    async fn get_card(
        &self,
        _request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CardResponse>, Status> {
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
    let cpu = CpuMeter::start();
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
    cpu.print();
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
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/tanso");
    beside.into_iter().chain([workspace]).find(|p| p.is_file())
}

// === 3. Bulk publish ===

struct Bulk {
    publish: Duration,
    published: usize,
    parse_validate: Duration,
    sign: Duration,
    threads: usize,
    disk_bytes: u64,
    peak_kib: Option<u64>,
    peak_reset: bool,
}

fn bulk_publish(scratch: &Path, cores: usize) -> Res<Bulk> {
    // As `Node::publish` signs: one chunk per thread, at most 8 threads.
    let threads = cores.min(8);
    println!("3. Bulk publish of {BULK} footprints (JSONL in memory), {threads} signing thread(s)");
    let cpu = CpuMeter::start();
    let home = init_home(&scratch.join("bulk"), OWNER, false)?;
    let node = node::open(&home)?;
    let mut jsonl = String::with_capacity(BULK * 1100);
    for i in 0..BULK {
        jsonl.push_str(&footprint(OWNER, &bench_uuid(i), i).to_string());
        jsonl.push('\n');
    }
    println!("  input: {:.1} MiB of JSONL", mib(jsonl.len() as u64));

    let peak_reset = reset_peak_rss();
    let cpu0 = own_ticks();
    let t0 = Instant::now();
    let outcome = node.publish(&jsonl)?;
    let publish = t0.elapsed();
    let publish_cpu = own_ticks().zip(cpu0).map(|(t1, t0)| t1.saturating_sub(t0));
    let peak_kib = proc_status_kib("/proc/self/status", "VmHWM");
    let disk_bytes = node.store().disk_bytes();
    let published = outcome.ids.len();
    drop(outcome);
    drop(node);

    // Baseline input, outside the baseline's timing: the same footprints, parsed and
    // validated to `ProductFootprint` (timed on its own, for information).
    let ctx = ValidationContext {
        own_company_id: Some(OWNER.into()),
    };
    let t0 = Instant::now();
    let footprints = pact::parse_document(&jsonl)?
        .into_iter()
        .map(|v| pact::import(v, &ctx).map(|i| i.footprint))
        .collect::<Result<Vec<ProductFootprint>, _>>()
        .map_err(|f| {
            let f: Vec<String> = f.iter().map(ToString::to_string).collect();
            format!("bench footprint invalid: {}", f.join("; "))
        })?;
    let parse_validate = t0.elapsed();
    drop(jsonl);
    let key = home.load_key()?;

    // The baseline: both views of every footprint built and signed, one chunk per thread.
    let chunk = footprints.len().div_ceil(threads).max(1);
    let cpu0 = own_ticks();
    let t0 = Instant::now();
    let signatures = std::thread::scope(|scope| {
        let key = &key;
        let handles: Vec<_> = footprints
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|fp| {
                            let full = signed::view_json(fp, VIEW_FULL)?;
                            let summary = signed::view_json(fp, VIEW_SUMMARY)?;
                            Ok((
                                signed::sign_view(key, OWNER, VIEW_FULL, &full)?,
                                signed::sign_view(key, OWNER, VIEW_SUMMARY, &summary)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, crypto::CryptoError>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let sign = t0.elapsed();
    let sign_cpu = own_ticks().zip(cpu0).map(|(t1, t0)| t1.saturating_sub(t0));
    black_box(signatures);

    let rate = |d: Duration| BULK as f64 / d.as_secs_f64();
    println!("  {:<40} {:>9} {:>12}", "", "seconds", "footprints/s");
    for (label, d) in [
        ("tanso: Node::publish", publish),
        ("baseline: view_json + sign_view, 2 views", sign),
        ("info: parse + validate (1 thread)", parse_validate),
    ] {
        println!("  {label:<40} {:>9.2} {:>12.0}", d.as_secs_f64(), rate(d));
    }
    if let (Some(p), Some(s)) = (publish_cpu, sign_cpu) {
        println!(
            "  cpu-seconds (this process): publish {:.2}, signing {:.2}, ratio {:.2} (info: \
             signing / publish CPU, insensitive to other load; publish's serial part is not in it)",
            p as f64 / 100.0,
            s as f64 / 100.0,
            s as f64 / p.max(1) as f64
        );
    }
    println!(
        "  store on disk after publish: {:.1} MiB ({:.0} B/footprint)",
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
    cpu.print();
    println!();
    Ok(Bulk {
        publish,
        published,
        parse_validate,
        sign,
        threads,
        disk_bytes,
        peak_kib,
        peak_reset,
    })
}

// === summary ===

fn summary(get: Option<&GetFigures>, starts: Option<&Vec<Start>>, bulk: Option<&Bulk>) {
    println!("Summary (budgets from the issue; figures only, nothing is asserted)");
    println!(
        "  {:<40} {:>10} {:>10} {:>8}  within",
        "figure", "measured", "baseline", "budget"
    );
    let row = |figure: &str, measured: String, baseline: String, budget: &str, ok: Option<bool>| {
        let verdict = match ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("  {figure:<40} {measured:>10} {baseline:>10} {budget:>8}  {verdict}");
    };
    // `BUDGET <name> <figure> <budget> PASS|MISS` lines for benches/run-all.sh.
    let mut budgets = Vec::new();
    let mut budget = |name: &str, figure: String, limit: &str, ok: bool| {
        let verdict = if ok { "PASS" } else { "MISS" };
        budgets.push(format!("BUDGET {name} {figure} {limit} {verdict}"));
    };
    if let Some(get) = get {
        let (real, base) = (&get.real, &get.base);
        let ratio = real.rps / base.rps;
        budget(
            "core_get_ratio",
            format!("{ratio:.2}"),
            ">=0.6",
            ratio >= 0.6,
        );
        budget(
            "core_get_p99_ms",
            ms(real.p99),
            "<3",
            real.p99 < Duration::from_millis(3),
        );
        row(
            &format!("GetFootprint req/s, {IN_FLIGHT} in flight"),
            format!("{:.0}", real.rps),
            format!("{:.0}", base.rps),
            "",
            None,
        );
        row(
            "  ratio tanso / baseline",
            format!("{ratio:.2}"),
            String::new(),
            ">= 0.6",
            Some(ratio >= 0.6),
        );
        row(
            &format!("GetFootprint p99 ms, {IN_FLIGHT} in flight"),
            ms(real.p99),
            ms(base.p99),
            "< 3",
            Some(real.p99 < Duration::from_millis(3)),
        );
        row(
            "GetFootprint p99 ms, 1 in flight (info)",
            ms(get.real_one.p99),
            ms(get.base_one.p99),
            "",
            None,
        );
    }
    match starts {
        Some(starts) if !starts.is_empty() => {
            let mut ready: Vec<Duration> = starts.iter().map(|s| s.ready).collect();
            ready.sort_unstable();
            let median = ready[ready.len() / 2];
            let worst = ready[ready.len() - 1];
            row(
                &format!("serve start-up ms, median of {}", ready.len()),
                ms(median),
                String::new(),
                "< 200",
                Some(median < Duration::from_millis(200)),
            );
            row(
                &format!("serve start-up ms, worst of {}", ready.len()),
                ms(worst),
                String::new(),
                "< 200",
                Some(worst < Duration::from_millis(200)),
            );
            let rss = starts.iter().filter_map(|s| s.rss_kib).max();
            budget(
                "core_startup_ms",
                ms(worst),
                "<200",
                worst < Duration::from_millis(200),
            );
            budget(
                "core_idle_rss_mib",
                rss.map_or_else(|| "?".into(), |k| format!("{:.1}", mib(k * 1024))),
                "<30",
                rss.is_some_and(|k| k < 30 * 1024),
            );
            row(
                &format!("serve idle RSS MiB, largest of {}", ready.len()),
                rss.map_or_else(|| "?".into(), |k| format!("{:.1}", mib(k * 1024))),
                String::new(),
                "< 30",
                rss.map(|k| k < 30 * 1024),
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
    if let Some(bulk) = bulk {
        let rate = |d: Duration| BULK as f64 / d.as_secs_f64();
        let publish_ratio = bulk.sign.as_secs_f64() / bulk.publish.as_secs_f64();
        budget(
            "core_publish_ratio",
            format!("{publish_ratio:.2}"),
            ">=0.5",
            publish_ratio >= 0.5,
        );
        row(
            &format!("publish footprints/s, {} thread(s)", bulk.threads),
            format!("{:.0}", rate(bulk.publish)),
            format!("{:.0}", rate(bulk.sign)),
            "",
            None,
        );
        row(
            "  ratio publish / signing",
            format!("{publish_ratio:.2}"),
            String::new(),
            ">= 0.5",
            Some(publish_ratio >= 0.5),
        );
        row(
            "  parse + validate alone, s (info)",
            format!("{:.2}", bulk.parse_validate.as_secs_f64()),
            String::new(),
            "",
            None,
        );
        row(
            "store on disk MiB after publish",
            format!("{:.1}", mib(bulk.disk_bytes)),
            String::new(),
            "",
            None,
        );
        row(
            if bulk.peak_reset {
                "peak RSS MiB during publish"
            } else {
                "peak RSS MiB, whole process"
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
    }
    for line in budgets {
        println!("{line}");
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
        exchange: Default::default(),
        pact: Default::default(),
        metrics: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
    };
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("os randomness: {e}"))?;
    home.init(&raw, &seed)?;
    Ok(home)
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

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// CPU time of the whole machine and of this process (with its waited-for children), to
/// show how much of the machine other processes took while a figure was measured.
struct CpuMeter {
    machine: Option<(u64, u64)>,
    own: Option<u64>,
}

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter {
            machine: machine_ticks(),
            own: own_ticks(),
        }
    }

    fn print(&self) {
        let (Some((total0, busy0)), Some(own0), Some((total1, busy1)), Some(own1)) =
            (self.machine, self.own, machine_ticks(), own_ticks())
        else {
            return;
        };
        let total = total1.saturating_sub(total0).max(1) as f64;
        let own = own1.saturating_sub(own0) as f64;
        let others = busy1.saturating_sub(busy0) as f64 - own;
        println!(
            "  cpu: this process {:.0} %, everything else {:.0} % of the machine (incl. steal)",
            100.0 * own / total,
            100.0 * others.max(0.0) / total
        );
    }
}

/// (all, busy) ticks of all CPUs from `/proc/stat`; busy excludes idle and iowait.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total, total - idle))
}

/// utime + stime + cutime + cstime of this process, in ticks, from `/proc/self/stat`.
fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14-17 of stat(5); the slice starts at field 3.
    fields[11..15].iter().map(|t| t.parse::<u64>().ok()).sum()
}
