//! PACT `POST /auth/token` against a `tanso serve` process.
//!
//! 1. Tokens/s with valid client credentials: `CONNECTIONS` keep-alive HTTP/1.1 connections
//!    over TLS, one request in flight on each. Budget: ≥ 1,000 tokens/s.
//! 2. The node's RSS under a flood of wrong secrets on as many connections, peak (sampled
//!    every 20 ms) minus idle (read just before the flood), each on a fresh node:
//!    a. with the failure throttle as shipped (one source: it is refused with 429 soon);
//!    b. with the throttle effectively off (`[pact] token_failure_limit = 1000000`), so every
//!    request is checked and refused. Budget for b: within 20 MiB of idle.
//!
//! `--tanso PATH` picks the binary (default: beside this example, else target/release);
//! `--before` runs a binary older than the throttle (no `token_failure_limit` key; its flood
//! is measured once, as b). Build with `cargo build --release --locked -p cli --examples`,
//! run `target/release/examples/bench_pact_token`. Plain `Instant` timing: it prints figures
//! and asserts nothing.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Connections (each with one request in flight).
const CONNECTIONS: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
/// How long a fresh node idles before its idle RSS is read.
const IDLE: Duration = Duration::from_secs(1);
/// How often the node's RSS is sampled during a flood.
const SAMPLE: Duration = Duration::from_millis(20);
const TOKENS_BUDGET: f64 = 1000.0;
const FLOOD_RSS_BUDGET_MIB: f64 = 20.0;

const OWNER: &str = "urn:tanso:company:bench-supplier";
const CUSTOMER: &str = "urn:tanso:company:bench-customer";

fn main() -> Res<()> {
    let mut tanso = None;
    let mut before = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tanso" => tanso = Some(PathBuf::from(args.next().ok_or("--tanso needs a path")?)),
            "--before" => before = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let tanso = tanso.or_else(tanso_binary).ok_or(
        "no release `tanso` binary next to this example or in target/release; \
         build it with `cargo build --release --locked -p cli`",
    )?;
    let scratch = tempfile::Builder::new()
        .prefix("bench-pact-token")
        .tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&tanso, scratch.path(), before))
}

async fn run(tanso: &Path, scratch: &Path, before: bool) -> Res<()> {
    println!(
        "POST /auth/token against `tanso serve` ({}), {CONNECTIONS} keep-alive HTTP/1.1 \
         connections over TLS, one request in flight each; {} s warm-up + {} s measured",
        tanso.display(),
        WARMUP.as_secs(),
        MEASURE.as_secs()
    );

    // 1. Valid credentials.
    let node = Served::start(tanso, &scratch.join("valid"), None).await?;
    let counts = node.drive(&node.basic_valid(), WARMUP, MEASURE).await?;
    let rps = counts.ok as f64 / MEASURE.as_secs_f64();
    println!(
        "  1. valid credentials: {rps:.0} tokens/s ({} ok, {} other statuses, {} errors{}); \
         node RSS idle {:.1} MiB, peak {:.1} MiB",
        counts.ok,
        counts.other,
        counts.errors,
        counts.first_error_note(),
        mib(node.idle_kib),
        mib(counts.peak_kib)
    );
    node.stop();

    // 2. Floods of wrong secrets, each on a fresh node.
    let mut floods = Vec::new();
    if !before {
        floods.push(("a. throttle as shipped", None));
    }
    floods.push((
        if before {
            "b. (no throttle in this binary)"
        } else {
            "b. throttle off (limit 1000000)"
        },
        (!before).then_some(1_000_000u32),
    ));
    let mut flood_delta = None;
    for (label, limit) in floods {
        let dir = scratch.join(format!("flood-{}", label.as_bytes()[0] as char));
        let node = Served::start(tanso, &dir, limit).await?;
        let counts = node
            .drive(&node.basic_wrong(), Duration::ZERO, MEASURE)
            .await?;
        let delta = mib(counts.peak_kib.saturating_sub(node.idle_kib));
        println!(
            "  2{label}: {:.0} answers/s (401: {}, 429: {}, other: {}, errors: {}{}); node RSS \
             idle {:.1} MiB, peak {:.1} MiB, +{delta:.1} MiB",
            counts.total() as f64 / MEASURE.as_secs_f64(),
            counts.unauthorized,
            counts.throttled,
            counts.other + counts.ok,
            counts.errors,
            counts.first_error_note(),
            mib(node.idle_kib),
            mib(counts.peak_kib),
        );
        if limit.is_some() || before {
            flood_delta = Some(delta);
        }
        node.stop();
    }

    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };
    println!(
        "BUDGET pact_tokens_per_sec {rps:.0} >={TOKENS_BUDGET:.0} {}",
        verdict(rps >= TOKENS_BUDGET)
    );
    if let Some(delta) = flood_delta {
        println!(
            "BUDGET pact_token_flood_rss_mib {delta:.1} <={FLOOD_RSS_BUDGET_MIB:.0} {}",
            verdict(delta <= FLOOD_RSS_BUDGET_MIB)
        );
    }
    Ok(())
}

/// A `tanso serve` process with the PACT API and one client.
struct Served {
    child: Child,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    client_id: String,
    secret: String,
    idle_kib: u64,
}

impl Served {
    /// `tanso init` in `dir`, `[pact] token_failure_limit = limit` when given, `tanso pact
    /// client add`, `tanso serve`; waits for the PACT port, idles, reads the idle RSS.
    async fn start(tanso: &Path, dir: &Path, limit: Option<u32>) -> Res<Served> {
        let home = dir.display().to_string();
        run_tanso(
            tanso,
            &[
                "init",
                "--home",
                &home,
                "--company-id",
                OWNER,
                "--name",
                "bench",
                "--listen",
                "127.0.0.1:0",
                "--pact-listen",
                "127.0.0.1:0",
            ],
        )?;
        if let Some(limit) = limit {
            let path = dir.join("config.toml");
            let text = std::fs::read_to_string(&path)?;
            if !text.contains("[pact]\n") {
                return Err("config.toml has no [pact] section".into());
            }
            let mut out = String::with_capacity(text.len() + 40);
            for line in text.lines() {
                if line.starts_with("token_failure_limit") {
                    continue;
                }
                out.push_str(line);
                out.push('\n');
                if line == "[pact]" {
                    out.push_str(&format!("token_failure_limit = {limit}\n"));
                }
            }
            std::fs::write(&path, out)?;
        }
        let out = run_tanso(
            tanso,
            &[
                "pact",
                "client",
                "add",
                "--home",
                &home,
                "--company-id",
                CUSTOMER,
                "--group",
                "customer",
            ],
        )?;
        let field = |name: &str| -> Res<String> {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .ok_or_else(|| format!("no {name} in `pact client add` output").into())
        };
        let (client_id, secret) = (field("client_id")?, field("client_secret")?);
        let log = std::fs::File::create(dir.with_extension("log"))?;
        let mut child = Command::new(tanso)
            .args(["serve", "--home", &home])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let node_home = node::home::Home::new(dir);
        let t0 = Instant::now();
        let addr = loop {
            if let Some(addr) = node::pact_api::bound_addr(&node_home) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("tanso serve exited early with {status}").into());
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                return Err("tanso serve: no pact.addr after 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let fingerprint = node_home.load_identity()?.fingerprint;
        let mut tls = (*node::tls::pinned_client_config(&fingerprint, None)?).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio::time::sleep(IDLE).await;
        let idle_kib = rss_kib(child.id()).ok_or("no VmRSS for the node")?;
        Ok(Served {
            child,
            addr,
            tls: Arc::new(tls),
            client_id,
            secret,
            idle_kib,
        })
    }

    fn basic_valid(&self) -> String {
        basic(&self.client_id, &self.secret)
    }

    /// The client's id with a wrong secret of the same shape.
    fn basic_wrong(&self) -> String {
        basic(&self.client_id, &"A".repeat(self.secret.len()))
    }

    /// Opens `CONNECTIONS` connections, then posts token requests on each for `warmup` +
    /// `measure`; counts the answers to requests started in the measured window and samples
    /// the node's RSS throughout.
    async fn drive(&self, basic: &str, warmup: Duration, measure: Duration) -> Res<Counts> {
        let mut senders = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            senders.push(connect(self.addr, self.tls.clone()).await?);
        }
        let start = Instant::now();
        let warm = start + warmup;
        let end = warm + measure;
        let pid = self.child.id();
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            while Instant::now() < end {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(SAMPLE).await;
            }
            peak
        });
        let mut tasks = Vec::with_capacity(CONNECTIONS);
        for mut sender in senders {
            let basic = basic.to_string();
            let host = self.addr.to_string();
            tasks.push(tokio::spawn(async move {
                let mut counts = Counts::default();
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let r = post_token(&mut sender, &host, &basic).await;
                    if t0 < warm {
                        continue;
                    }
                    match r {
                        Ok(200) => counts.ok += 1,
                        Ok(401) => counts.unauthorized += 1,
                        Ok(429) => counts.throttled += 1,
                        Ok(_) => counts.other += 1,
                        Err(e) => {
                            counts.errors += 1;
                            counts.first_error.get_or_insert(e);
                            // A broken connection: stop this worker rather than spin.
                            break;
                        }
                    }
                }
                counts
            }));
        }
        let mut all = Counts::default();
        for t in tasks {
            all.merge(t.await?);
        }
        all.peak_kib = sampler.await?;
        Ok(all)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Counts {
    ok: usize,
    unauthorized: usize,
    throttled: usize,
    other: usize,
    errors: usize,
    first_error: Option<String>,
    peak_kib: u64,
}

impl Counts {
    fn merge(&mut self, other: Counts) {
        self.ok += other.ok;
        self.unauthorized += other.unauthorized;
        self.throttled += other.throttled;
        self.other += other.other;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn total(&self) -> usize {
        self.ok + self.unauthorized + self.throttled + self.other
    }

    fn first_error_note(&self) -> String {
        self.first_error
            .as_ref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    }
}

async fn connect(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> Res<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn post_token(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: &str,
    basic: &str,
) -> Result<u16, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post("/auth/token")
        .header("host", host)
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials",
        )))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn run_tanso(tanso: &Path, args: &[&str]) -> Res<String> {
    let out = Command::new(tanso).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "tanso {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
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
