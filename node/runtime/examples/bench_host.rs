//! Budget check for `tanso host` (issue #19, "Budgets"): 1,000 tenants in one process, each
//! figure next to a baseline measured in the same run.
//!
//! 1. Start: a fresh host process (this binary re-executed with a hidden argument, so the
//!    set-up's allocations are not in it) timed from spawn until its peer port answers a
//!    signed GetFootprint; a host home with 1,000 tenants against a bare host (0 tenants).
//!    Budget < 1 s.
//! 2. RSS (VmRSS of that process): idle after start, budget < 300 MiB and < 0.3 MiB per idle
//!    tenant above the bare host; then with every tenant opened (one request to each), and
//!    after the host's idle sweep (`tenants.idle_close_secs`) closed them again.
//! 3. Throughput: signed GetFootprint from an OEM node (this process) to random tenants of the
//!    1,000-tenant host against the same load on one single node (also a process of its own,
//!    serving the same 1,000 footprints), alternating rounds; budget ratio >= 0.8. The first
//!    request to each tenant (connection + lazy open) and the first after the idle close
//!    (lazy open alone) are reported apart.
//!
//! Set-up (not timed against a budget): `host.add` × 1,000, each tenant with one published
//! footprint, the share-with-customers policy and the OEM as a customer partner.
//! Run: `cargo build --release --locked -p node --examples`, then
//! `target/release/examples/bench_host`. `TANSO_BENCH_TENANTS=N` sets another tenant count
//! (for a quick try; the budgets are for 1,000). Plain `Instant` timing, figures only:
//! nothing is asserted. Scratch homes go to a temporary directory (`TMPDIR`).

#[path = "support/fixture.rs"]
mod fixture;
use fixture::{bench_uuid, footprint, proc_status_kib};

use std::error::Error;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::Node;
use node::card::NodeCard;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::host::admin::{HostAnswer, HostCommand};
use node::host::{Host, HostHome, HostListeners, RawHostConfig, TenantSpec};
use node::service::client::PeerClient;

// The allocator the `tanso` binary ships (jemalloc, two arenas by .cargo/config.toml), so the
// host and node processes are measured as they would run in production.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Tenants of the measured host (the issue's figure).
const TENANTS: usize = 1_000;
/// Starts measured of each host (each a fresh process on the same home).
const STARTS: usize = 3;
/// How long a started process idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(1);
/// The measured host's `tenants.idle_close_secs`: longer than the 1,000 first touches (one
/// at a time, ~17 s on a loaded 2-vCPU machine), so every tenant is open when the RSS is read.
const IDLE_CLOSE_SECS: u64 = 30;
/// Requests in flight, warm-up and measured time per side, alternating rounds (as bench_core).
const IN_FLIGHT: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(6);
const ROUNDS: usize = 2;

/// The hidden first arguments that make this binary serve a host or a node home.
const CHILD_HOST: &str = "--serve-host-child";
const CHILD_NODE: &str = "--serve-node-child";

const OEM: &str = "urn:tanso:company:bench-oem";
const SINGLE: &str = "urn:tanso:company:bench-single";
const BARE: &str = "urn:tanso:company:bench-bare-host";
const POLICY: &str = include_str!("../../../policies/share-with-customers.json");

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some(CHILD_HOST), Some(dir)) => return serve_child(Served::Host, Path::new(dir)),
        (Some(CHILD_NODE), Some(dir)) => return serve_child(Served::Node, Path::new(dir)),
        _ => {}
    }
    let tenants = match std::env::var("TANSO_BENCH_TENANTS") {
        Ok(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("TANSO_BENCH_TENANTS={n:?} is not a positive count"))?,
        Err(_) => TENANTS,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scratch = tempfile::Builder::new()
        .prefix("tanso-bench-host-")
        .tempdir()?;
    println!("tanso bench_host: {tenants} tenants, {cores} cpu(s) available, release build");
    println!("scratch: {}", scratch.path().display());
    println!("load average at start: {}", load_average());
    println!();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = rt.block_on(run(scratch.path(), tenants))?;
    rt.shutdown_timeout(Duration::from_secs(2));
    summary(&figures, tenants);
    println!("load average at end: {}", load_average());
    Ok(())
}

// === the served processes ===

#[derive(Debug, Clone, Copy)]
enum Served {
    Host,
    Node,
}

/// The child: serves the host or node home at `dir` until its stdin closes (the bench
/// stopping it, or the bench gone) or SIGTERM/SIGINT.
fn serve_child(served: Served, dir: &Path) -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: a blocking read in the runtime's pool would hold its shutdown.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let shutdown = async move {
        let signal = node::shutdown::signal();
        tokio::select! {
            () = signal => {}
            _ = stdin_closed => {}
        }
    };
    rt.block_on(async move {
        match served {
            Served::Host => {
                let host = Host::open(HostHome::new(dir), None)?;
                let listeners = HostListeners::bind(&host).await?;
                node::host::run(host, listeners, shutdown).await?;
            }
            Served::Node => {
                let node = node::open(&Home::new(dir))?;
                let listeners = node::server::Listeners::bind(&node).await?;
                node::server::run(node, listeners, shutdown).await?;
            }
        }
        Ok::<_, Box<dyn Error + Send + Sync>>(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// A served process of this bench.
struct Process {
    child: Child,
    /// From spawn until the peer port answered the probe.
    ready: Duration,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(&format!("/proc/{}/status", self.pid()), "VmRSS")
    }

    /// utime + stime of the process, in ticks (1/100 s).
    fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); the slice starts at field 3.
        fields[11..13].iter().map(|t| t.parse::<u64>().ok()).sum()
    }

    /// Closes its stdin (it drains and exits) and waits; returns how long the stop took.
    fn stop(mut self) -> Duration {
        let t0 = Instant::now();
        drop(self.child.stdin.take());
        let deadline = t0 + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    println!("  (pid {} still draining after 30 s; killed)", self.pid());
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        t0.elapsed()
    }
}

/// Spawns this binary serving `dir`, and times until a signed GetFootprint of `id` to
/// `company` is answered: with the footprint (`served`), or, for the bare host, with its
/// refusal of an audience it does not serve. Each attempt opens a fresh connection.
async fn spawn_served(
    kind: Served,
    dir: &Path,
    oem: &Node,
    company: &str,
    id: &str,
    served: bool,
) -> Res<Process> {
    let exe = std::env::current_exe()?;
    let flag = match kind {
        Served::Host => CHILD_HOST,
        Served::Node => CHILD_NODE,
    };
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .arg(flag)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    loop {
        oem.peers().forget(company);
        let answer = PeerClient::for_partner(oem, company, None)?.get(id).await;
        match answer {
            Ok(_) if served => break,
            Err(e) if !served && e.to_string().contains("not a node served here") => break,
            other => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{flag} {} exited early: {status}", dir.display()).into());
                }
                if t0.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    let seen = match other {
                        Ok(_) => "a footprint".to_string(),
                        Err(e) => e.to_string(),
                    };
                    return Err(
                        format!("{}: not serving after 20 s ({seen})", dir.display()).into(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let ready = t0.elapsed();
    oem.peers().forget(company);
    Ok(Process { child, ready })
}

// === set-up ===

fn tenant_company(k: usize) -> String {
    format!("urn:tanso:company:bench-t{k:04}")
}

/// A port free now, for a home that must name its port before it is served (the cards
/// partners pin carry it).
fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A node home for `company`, listening on `port` when given.
fn init_home(dir: &Path, company: &str, port: Option<u16>) -> Res<Home> {
    let raw = RawConfig {
        company_id: company.into(),
        name: company.rsplit(':').next().unwrap_or(company).into(),
        listen: port.map(|p| format!("127.0.0.1:{p}")),
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

/// A host home on `port` with `tenants` tenants, each publishing footprint `k`, sharing
/// with customers, and knowing the OEM as one; the OEM knows each tenant's card. Every
/// tenant is closed (and so marked quiet) when this returns.
async fn setup_host(dir: &Path, port: u16, tenants: usize, oem: &Node) -> Res<HostHome> {
    let home = HostHome::new(dir);
    let mut raw = RawHostConfig::parse("", "host.toml")?;
    raw.listen = Some(format!("127.0.0.1:{port}"));
    raw.tenants.idle_close_secs = IDLE_CLOSE_SECS;
    let config = home.init(&raw)?;
    let host = Host::open(home.clone(), None)?;
    let oem_card = serde_json::to_string(&oem.card()?)?;
    for k in 0..tenants {
        let company = tenant_company(k);
        host.add(TenantSpec {
            company_id: company.clone(),
            name: format!("Bench tenant {k}"),
            slug: None,
            quotas: None,
        })
        .await?;
        let lease = host.operate(&company).await?;
        let tenant = lease.node();
        tenant.publish(&footprint(&company, &bench_uuid(k), k).to_string())?;
        tenant.add_policy("share-with-customers.json", POLICY)?;
        tenant.add_partner(&oem_card, vec!["customer".into()])?;
        let card = serde_json::to_string(&tenant.card()?)?;
        drop(lease);
        oem.add_partner(&card, Vec::new())?;
        // Close what was set up, so at most 100 tenants are open here at once.
        if (k + 1) % 100 == 0 {
            host.clock()
                .advance(config.idle_close + Duration::from_secs(1));
            host.sweep_idle().await;
        }
    }
    host.close_all().await;
    Ok(home)
}

/// A host home on `port` with no tenant; the OEM knows a card naming the host's endpoint
/// and certificate for a company the host does not serve (the start probe's audience).
fn setup_bare(dir: &Path, port: u16, oem: &Node, key_of: &Home) -> Res<HostHome> {
    let home = HostHome::new(dir);
    let mut raw = RawHostConfig::parse("", "host.toml")?;
    raw.listen = Some(format!("127.0.0.1:{port}"));
    home.init(&raw)?;
    let identity = home.load_identity()?;
    let card = NodeCard::issue(
        &key_of.load_key()?,
        BARE,
        "bare host probe",
        &format!("127.0.0.1:{port}"),
        &identity.fingerprint,
    )?;
    oem.add_partner(&serde_json::to_string(&card)?, Vec::new())?;
    Ok(home)
}

/// One node on `port` publishing the same `n` footprints the tenants publish (as its own),
/// sharing with customers, the OEM a customer; the OEM knows its card.
fn setup_single(dir: &Path, port: u16, n: usize, oem: &Node) -> Res<Home> {
    let home = init_home(dir, SINGLE, Some(port))?;
    let node = node::open(&home)?;
    let mut jsonl = String::new();
    for k in 0..n {
        jsonl.push_str(&footprint(SINGLE, &bench_uuid(k), k).to_string());
        jsonl.push('\n');
    }
    node.publish(&jsonl)?;
    node.add_policy("share-with-customers.json", POLICY)?;
    node.add_partner(
        &serde_json::to_string(&oem.card()?)?,
        vec!["customer".into()],
    )?;
    oem.add_partner(&serde_json::to_string(&node.card()?)?, Vec::new())?;
    Ok(home)
}

// === the run ===

/// One start of a served process.
struct Start {
    ready: Duration,
    idle_rss_kib: Option<u64>,
    /// Tenants open at the RSS reading (hosts only).
    open: Option<usize>,
    stop: Option<Duration>,
}

struct Figures {
    setup: Duration,
    bare: Vec<Start>,
    full: Vec<Start>,
    single_start: Duration,
    single_idle_rss_kib: Option<u64>,
    /// First request to each tenant (new connection + lazy open), sequential.
    first_touch: Latencies,
    first_touch_total: Duration,
    all_open_rss_kib: Option<u64>,
    all_open: Option<usize>,
    host: Load,
    single: Load,
    host_one_tenant: Load,
    host_one: Load,
    single_one: Load,
    swept_after: Option<Duration>,
    swept_rss_kib: Option<u64>,
    swept_open: Option<usize>,
    /// First request after the idle close (lazy open; connection warm), sequential.
    reopen: Latencies,
}

async fn run(scratch: &Path, tenants: usize) -> Res<Figures> {
    println!("set-up: the OEM, a bare host, a host with {tenants} tenants, one single node");
    let t0 = Instant::now();
    let oem = node::open(&init_home(&scratch.join("oem"), OEM, None)?)?;
    let single_port = free_port()?;
    let single_home = setup_single(&scratch.join("single"), single_port, tenants, &oem)?;
    let bare_home = setup_bare(&scratch.join("bare"), free_port()?, &oem, &single_home)?;
    let full_home = setup_host(&scratch.join("host"), free_port()?, tenants, &oem).await?;
    let setup = t0.elapsed();
    println!(
        "  {:.1} s ({:.1} ms per tenant: add, open, publish, policy, partner, close)",
        setup.as_secs_f64(),
        setup.as_secs_f64() * 1e3 / tenants as f64
    );
    println!();

    println!(
        "1-2. start (spawn until the peer port answers a signed GetFootprint) and RSS after \
         {} s idle, {STARTS} starts each",
        IDLE.as_secs()
    );
    println!(
        "  {:<34} {:>9} {:>9} {:>6} {:>9}",
        "", "ready ms", "RSS MiB", "open", "stop ms"
    );
    let probe_id = bench_uuid(0);
    let mut bare = Vec::new();
    for n in 0..STARTS {
        let p = spawn_served(Served::Host, &bare_home.dir, &oem, BARE, &probe_id, false).await?;
        let start = settle(p, Some(&bare_home), true).await?.0;
        start.print(&format!("bare host, start {}", n + 1));
        bare.push(start);
    }
    let probe = tenant_company(0);
    let mut full = Vec::new();
    let mut kept = None;
    for n in 0..STARTS {
        let p = spawn_served(Served::Host, &full_home.dir, &oem, &probe, &probe_id, true).await?;
        let (start, p) = settle(p, Some(&full_home), n + 1 < STARTS).await?;
        start.print(&format!("{tenants} tenants, start {}", n + 1));
        full.push(start);
        kept = p;
    }
    let host = kept.ok_or("the last host start is kept serving")?;
    let single_probe = spawn_served(
        Served::Node,
        &single_home.dir,
        &oem,
        SINGLE,
        &probe_id,
        true,
    )
    .await?;
    let (single_start, single) = settle(single_probe, None, false).await?;
    let single = single.ok_or("the single node is kept serving")?;
    single_start.print("single node (info)");
    println!("  (a host's start probe opens one tenant: the 'open' column)");
    println!();

    println!("2. first request to each other tenant (new connection + lazy open), one at a time");
    let t0 = Instant::now();
    let mut first = Vec::with_capacity(tenants);
    for k in 1..tenants {
        let company = tenant_company(k);
        let t = Instant::now();
        black_box(
            PeerClient::for_partner(&oem, &company, None)?
                .get(&bench_uuid(k))
                .await?,
        );
        first.push(t.elapsed());
    }
    let first_touch_total = t0.elapsed();
    let first_touch = Latencies::of(first);
    first_touch.print("first touch");
    tokio::time::sleep(IDLE).await;
    let all_open = open_tenants(&full_home).await;
    let all_open_rss_kib = host.rss_kib();
    println!(
        "  RSS with {} tenants open: {} MiB ({:.1} s for the touches)",
        all_open.map_or_else(|| "?".into(), |n| n.to_string()),
        mib_of(all_open_rss_kib),
        first_touch_total.as_secs_f64()
    );
    println!();

    println!(
        "3. GetFootprint, {IN_FLIGHT} in flight, a random one of {tenants} footprints per \
         request: {ROUNDS} rounds of (single node, host), each {} s warm-up + {:.1} s measured",
        WARMUP.as_secs(),
        (MEASURE / ROUNDS as u32).as_secs_f64()
    );
    let single_pick = |k: usize| (SINGLE.to_string(), bench_uuid(k));
    let host_pick = |k: usize| (tenant_company(k), bench_uuid(k));
    let mut single_load = Samples::default();
    let mut host_load = Samples::default();
    let segment = MEASURE / ROUNDS as u32;
    for round in 0..ROUNDS {
        let warm = if round == 0 { WARMUP * 2 } else { WARMUP };
        single_load.merge(
            drive(
                &oem,
                &single,
                tenants,
                single_pick,
                IN_FLIGHT,
                warm,
                segment,
                round,
            )
            .await?,
        );
        host_load.merge(
            drive(
                &oem, &host, tenants, host_pick, IN_FLIGHT, warm, segment, round,
            )
            .await?,
        );
    }
    // Info: the host's routing alone, every request to one tenant (one connection, one
    // journal batching all 64), against the single node's figure.
    let one_tenant = |_: usize| (tenant_company(0), bench_uuid(0));
    let host_one_tenant = drive(
        &oem, &host, tenants, one_tenant, IN_FLIGHT, WARMUP, segment, 9,
    )
    .await?
    .load();
    let one = Duration::from_secs(1);
    let warm_one = Duration::from_millis(300);
    let single_one = drive(&oem, &single, tenants, single_pick, 1, warm_one, one, 7).await?;
    let host_one = drive(&oem, &host, tenants, host_pick, 1, warm_one, one, 8).await?;
    let (host_load, single_load) = (host_load.load(), single_load.load());
    let (host_one, single_one) = (host_one.load(), single_one.load());
    println!(
        "  {:<34} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "srv cpu"
    );
    single_load.print(&format!("single node, {IN_FLIGHT} in flight"));
    host_load.print(&format!("host, {IN_FLIGHT} in flight"));
    host_one_tenant.print(&format!("host, one tenant, {IN_FLIGHT} in flight"));
    single_one.print("single node, 1 in flight (1 s)");
    host_one.print("host, 1 in flight (1 s)");
    println!("  (srv cpu: the serving process's CPU ms per answered request, warm-up included)");
    println!();

    // Info: what 1,000 open, idle tenants cost in CPU (their background work).
    let (ticks0, since) = (host.cpu_ticks(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 100 ticks a second: ticks per second are percent of one core.
    let idle_open_cpu = host
        .cpu_ticks()
        .zip(ticks0)
        .map(|(t1, t0)| t1.saturating_sub(t0) as f64 / since.elapsed().as_secs_f64());
    println!(
        "  host CPU while idle with its tenants open: {} % of one core",
        idle_open_cpu.map_or_else(|| "?".into(), |p| format!("{p:.1}"))
    );
    println!();

    println!(
        "2. idle close: waiting for the host's sweep (tenants.idle_close_secs = {IDLE_CLOSE_SECS})"
    );
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(IDLE_CLOSE_SECS + 40);
    let swept_after = loop {
        if open_tenants(&full_home).await == Some(0) {
            break Some(t0.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    tokio::time::sleep(IDLE).await;
    let swept_open = open_tenants(&full_home).await;
    let swept_rss_kib = host.rss_kib();
    println!(
        "  all closed {} after the load; RSS {} s later: {} MiB ({} open)",
        swept_after.map_or_else(|| "NOT".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        IDLE.as_secs(),
        mib_of(swept_rss_kib),
        swept_open.map_or_else(|| "?".into(), |n| n.to_string())
    );
    let mut again = Vec::with_capacity(tenants);
    for k in 0..tenants {
        let company = tenant_company(k);
        let t = Instant::now();
        black_box(
            PeerClient::for_partner(&oem, &company, None)?
                .get(&bench_uuid(k))
                .await?,
        );
        again.push(t.elapsed());
    }
    let reopen = Latencies::of(again);
    reopen.print("re-open after idle close");
    println!();

    let host_stop = host.stop();
    let single_stop = single.stop();
    println!(
        "stops: host with {tenants} open tenants {:.0} ms, single node {:.0} ms",
        host_stop.as_secs_f64() * 1e3,
        single_stop.as_secs_f64() * 1e3
    );
    println!();
    Ok(Figures {
        setup,
        bare,
        full,
        single_start: single_start.ready,
        single_idle_rss_kib: single_start.idle_rss_kib,
        first_touch,
        first_touch_total,
        all_open_rss_kib,
        all_open,
        host: host_load,
        single: single_load,
        host_one_tenant,
        host_one,
        single_one,
        swept_after,
        swept_rss_kib,
        swept_open,
        reopen,
    })
}

/// Idles a just-started process, reads its RSS (and, for a host, how many tenants are
/// open); stops it when `stop`, else hands it back.
async fn settle(p: Process, host: Option<&HostHome>, stop: bool) -> Res<(Start, Option<Process>)> {
    tokio::time::sleep(IDLE).await;
    let idle_rss_kib = p.rss_kib();
    let open = match host {
        Some(h) => open_tenants(h).await,
        None => None,
    };
    let ready = p.ready;
    let (stop, kept) = if stop {
        (Some(p.stop()), None)
    } else {
        (None, Some(p))
    };
    Ok((
        Start {
            ready,
            idle_rss_kib,
            open,
            stop,
        },
        kept,
    ))
}

impl Start {
    fn print(&self, label: &str) {
        println!(
            "  {label:<34} {:>9} {:>9} {:>6} {:>9}",
            ms(self.ready),
            mib_of(self.idle_rss_kib),
            self.open.map_or_else(|| "-".into(), |n| n.to_string()),
            self.stop.map_or_else(|| "-".into(), ms)
        );
    }
}

/// How many tenants the host serving `home` has open, asked over its admin socket.
async fn open_tenants(home: &HostHome) -> Option<usize> {
    match node::host::admin::call(&home.admin_socket(), &HostCommand::TenantList).await {
        Some(Ok(HostAnswer::Tenants(list))) => Some(list.iter().filter(|t| t.open).count()),
        _ => None,
    }
}

// === load ===

/// Latencies of requests started in measured windows, and the server's CPU over the drive.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    measured: Duration,
    errors: usize,
    first_error: Option<String>,
    /// Requests answered in the whole drive (warm-up included) and the serving process's
    /// CPU ticks over it.
    completed: u64,
    server_ticks: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.measured += other.measured;
        self.errors += other.errors;
        self.completed += other.completed;
        self.server_ticks += other.server_ticks;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn load(self) -> Load {
        let rps = self.latencies.len() as f64 / self.measured.as_secs_f64().max(1e-9);
        Load {
            // Ticks are 1/100 s (USER_HZ on Linux).
            server_cpu_ms: (self.completed > 0)
                .then(|| self.server_ticks as f64 * 10.0 / self.completed as f64),
            rps,
            latencies: Latencies::of(self.latencies),
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}

/// One load figure.
struct Load {
    server_cpu_ms: Option<f64>,
    rps: f64,
    latencies: Latencies,
    errors: usize,
    first_error: Option<String>,
}

impl Load {
    fn print(&self, label: &str) {
        let l = &self.latencies;
        println!(
            "  {label:<34} {:>9.0} {:>9} {:>9} {:>9} {:>7} {:>9}",
            self.rps,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            self.errors,
            self.server_cpu_ms
                .map_or_else(|| "?".into(), |c| format!("{c:.3}"))
        );
        if let Some(e) = &self.first_error {
            println!("    first error: {e}");
        }
    }
}

/// `in_flight` tasks, each looping GetFootprint of `pick(k)` for a random `k < n` through
/// `warmup` and the `measure` window after it; requests started in the window count. A
/// client is made per request (the partner's card read, its pooled channel taken), on both
/// sides alike, as a caller of many partners does.
#[allow(clippy::too_many_arguments)]
async fn drive(
    oem: &Node,
    served: &Process,
    n: usize,
    pick: impl Fn(usize) -> (String, String) + Send + Sync + Copy + 'static,
    in_flight: usize,
    warmup: Duration,
    measure: Duration,
    seed: usize,
) -> Res<Samples> {
    let ticks0 = served.cpu_ticks();
    let warm = Instant::now() + warmup;
    let end = warm + measure;
    let mut tasks = Vec::with_capacity(in_flight);
    for t in 0..in_flight {
        let oem = oem.clone();
        let mut rng = SplitMix(((seed * 1_000 + t) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
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
                let (company, id) = pick(rng.below(n));
                let answer = match PeerClient::for_partner(&oem, &company, None) {
                    Ok(mut client) => client.get(&id).await,
                    Err(e) => Err(e),
                };
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
    all.server_ticks = served
        .cpu_ticks()
        .zip(ticks0)
        .map_or(0, |(t1, t0)| t1.saturating_sub(t0));
    Ok(all)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a few lines for uniform tenant picks; not for
/// anything secret.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

/// Sorted latencies and their quantiles.
struct Latencies {
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Latencies {
    fn of(mut all: Vec<Duration>) -> Latencies {
        all.sort_unstable();
        let pick = |q: f64| {
            all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Latencies {
            n: all.len(),
            p50: pick(0.50),
            p99: pick(0.99),
            max: all.last().copied().unwrap_or_default(),
        }
    }

    fn print(&self, label: &str) {
        println!(
            "  {label}: {} requests, p50 {} ms, p99 {} ms, max {} ms",
            self.n,
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        );
    }
}

// === summary ===

fn summary(f: &Figures, tenants: usize) {
    println!("Summary (budgets from issue #19; figures only, nothing is asserted)");
    println!(
        "  {:<46} {:>10} {:>10} {:>8}  within",
        "figure", "measured", "baseline", "budget"
    );
    let row = |figure: &str, measured: String, baseline: String, budget: &str, ok: Option<bool>| {
        let verdict = match ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("  {figure:<46} {measured:>10} {baseline:>10} {budget:>8}  {verdict}");
    };
    let mut budgets = Vec::new();
    let mut budget = |name: &str, figure: String, limit: &str, ok: bool| {
        let verdict = if ok { "PASS" } else { "MISS" };
        budgets.push(format!("BUDGET {name} {figure} {limit} {verdict}"));
    };

    let worst = |s: &[Start]| s.iter().map(|s| s.ready).max().unwrap_or_default();
    let median = |s: &[Start]| {
        let mut r: Vec<Duration> = s.iter().map(|s| s.ready).collect();
        r.sort_unstable();
        r.get(r.len() / 2).copied().unwrap_or_default()
    };
    let start_ok = worst(&f.full) < Duration::from_secs(1);
    budget("host_start_ms", ms(worst(&f.full)), "<1000", start_ok);
    row(
        &format!("start to serving ms, {tenants} tenants, worst of {STARTS}"),
        ms(worst(&f.full)),
        ms(worst(&f.bare)),
        "< 1000",
        Some(start_ok),
    );
    row(
        &format!("  median of {STARTS}"),
        ms(median(&f.full)),
        ms(median(&f.bare)),
        "",
        None,
    );
    row(
        "  single node (info)",
        ms(f.single_start),
        String::new(),
        "",
        None,
    );

    let largest = |s: &[Start]| s.iter().filter_map(|s| s.idle_rss_kib).max();
    let (full_rss, bare_rss) = (largest(&f.full), largest(&f.bare));
    let rss_ok = full_rss.is_some_and(|k| k < 300 * 1024);
    budget("host_idle_rss_mib", mib_of(full_rss), "<300", rss_ok);
    row(
        &format!("idle RSS MiB, {tenants} tenants, largest of {STARTS}"),
        mib_of(full_rss),
        mib_of(bare_rss),
        "< 300",
        Some(rss_ok),
    );
    let per_tenant = full_rss
        .zip(bare_rss)
        .map(|(f, b)| (f as f64 - b as f64) / 1024.0 / tenants as f64);
    let per_ok = per_tenant.is_some_and(|p| p < 0.3);
    let per_text = per_tenant.map_or_else(|| "?".into(), |p| format!("{p:.3}"));
    budget("host_idle_mib_per_tenant", per_text.clone(), "<0.3", per_ok);
    row(
        "  MiB per idle tenant above the bare host",
        per_text,
        String::new(),
        "< 0.3",
        Some(per_ok),
    );
    row(
        "  single node idle RSS MiB (info)",
        mib_of(f.single_idle_rss_kib),
        String::new(),
        "",
        None,
    );
    row(
        &format!(
            "RSS MiB, {} tenants open (info)",
            f.all_open.map_or_else(|| "?".into(), |n| n.to_string())
        ),
        mib_of(f.all_open_rss_kib),
        String::new(),
        "",
        None,
    );
    if let (Some(open), Some(idle)) = (f.all_open_rss_kib, full_rss) {
        row(
            "  MiB per open tenant above idle (info)",
            format!(
                "{:.3}",
                (open as f64 - idle as f64) / 1024.0 / f.all_open.unwrap_or(tenants).max(1) as f64
            ),
            String::new(),
            "",
            None,
        );
    }
    row(
        &format!(
            "RSS MiB after the idle sweep, {} open (info)",
            f.swept_open.map_or_else(|| "?".into(), |n| n.to_string())
        ),
        mib_of(f.swept_rss_kib),
        String::new(),
        "",
        None,
    );
    if f.swept_after.is_none() {
        println!("  note: the idle sweep had not closed every tenant in time");
    }

    let ratio = f.host.rps / f.single.rps.max(1e-9);
    let ratio_ok = ratio >= 0.8;
    budget("host_get_ratio", format!("{ratio:.2}"), ">=0.8", ratio_ok);
    row(
        &format!("GetFootprint req/s, {IN_FLIGHT} in flight, random tenant"),
        format!("{:.0}", f.host.rps),
        format!("{:.0}", f.single.rps),
        "",
        None,
    );
    row(
        "  ratio host / single node",
        format!("{ratio:.2}"),
        String::new(),
        ">= 0.8",
        Some(ratio_ok),
    );
    row(
        "  host, all to one tenant, req/s (info)",
        format!("{:.0}", f.host_one_tenant.rps),
        format!("{:.0}", f.single.rps),
        "",
        None,
    );
    if let (Some(h), Some(s)) = (f.host.server_cpu_ms, f.single.server_cpu_ms) {
        row(
            "  server CPU ms per request (info)",
            format!("{h:.3}"),
            format!("{s:.3}"),
            "",
            None,
        );
    }
    row(
        &format!("  p99 ms, {IN_FLIGHT} in flight (info)"),
        ms(f.host.latencies.p99),
        ms(f.single.latencies.p99),
        "",
        None,
    );
    row(
        "  p50 ms, 1 in flight (info)",
        ms(f.host_one.latencies.p50),
        ms(f.single_one.latencies.p50),
        "",
        None,
    );
    row(
        "first touch p50 ms: connection + lazy open (info)",
        ms(f.first_touch.p50),
        ms(f.host_one.latencies.p50),
        "",
        None,
    );
    row(
        "  p99 ms (info)",
        ms(f.first_touch.p99),
        ms(f.host_one.latencies.p99),
        "",
        None,
    );
    row(
        "re-open p50 ms after idle close: lazy open (info)",
        ms(f.reopen.p50),
        ms(f.host_one.latencies.p50),
        "",
        None,
    );
    row(
        "  p99 ms (info)",
        ms(f.reopen.p99),
        ms(f.host_one.latencies.p99),
        "",
        None,
    );
    row(
        "set-up s (info, not budgeted)",
        format!("{:.1}", f.setup.as_secs_f64()),
        String::new(),
        "",
        None,
    );
    row(
        &format!(
            "  all {} first touches, s, one at a time (info)",
            f.first_touch.n
        ),
        format!("{:.1}", f.first_touch_total.as_secs_f64()),
        String::new(),
        "",
        None,
    );
    for line in budgets {
        println!("{line}");
    }
    let _ = std::io::stdout().flush();
}

// === helpers ===

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn mib_of(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}
