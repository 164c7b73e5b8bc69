//! PACT `GET /3/footprints/{id}` (valid bearer token, policy decision, audit entry, signed
//! JSON) against the gRPC `GetFootprint` of the same node, measured in the same run.
//!
//! Both sides: TLS on loopback with the node's certificate pinned, one HTTP/2 connection,
//! `IN_FLIGHT` requests in flight, alternating rounds of warm-up + measured window. The PACT
//! client is a keep-alive hyper HTTP/2 client over tokio-rustls; the gRPC client is the
//! node's own `PeerClient` (signed envelopes). Budget: PACT ≥ 0.5 × gRPC.
//!
//! Run with `cargo run --release --locked -p node --example bench_pact`. Plain `Instant`
//! timing: it prints figures and asserts nothing.

use std::error::Error;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::service::client::PeerClient;
use prost::Message as _;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Requests in flight on each side.
const IN_FLIGHT: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
/// Measured time per side, split over `ROUNDS` alternating rounds.
const MEASURE: Duration = Duration::from_secs(6);
const ROUNDS: usize = 3;

const OWNER: &str = "urn:tanso:company:bench-supplier";
const CUSTOMER: &str = "urn:tanso:company:bench-customer";

fn main() -> Res<()> {
    let scratch = tempfile::Builder::new().prefix("bench-pact").tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(scratch.path()))
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    measured: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.measured += other.measured;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    fn print(&mut self, label: &str) {
        self.latencies.sort_unstable();
        let all = &self.latencies;
        let pick = |q: f64| {
            all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "  {label:<28} {:>9.0} {:>9.2} {:>9.2} {:>7}",
            self.rps(),
            pick(0.5).as_secs_f64() * 1e3,
            pick(0.99).as_secs_f64() * 1e3,
            self.errors
        );
        if let Some(e) = &self.first_error {
            println!("    first error: {e}");
        }
    }
}

/// One side's per-task client.
enum Worker {
    Grpc(Box<PeerClient>, String),
    Pact(
        hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
        hyper::Uri,
        String,
    ),
}

impl Worker {
    async fn call(&mut self) -> Result<usize, String> {
        match self {
            Worker::Grpc(client, id) => client
                .get(id)
                .await
                .map(|fp| fp.encoded_len())
                .map_err(|e| e.to_string()),
            Worker::Pact(sender, uri, bearer) => {
                let req = hyper::Request::get(uri.clone())
                    .header("authorization", bearer.as_str())
                    .body(Empty::<Bytes>::new())
                    .map_err(|e| e.to_string())?;
                let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
                let status = resp.status();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                if status != 200 {
                    return Err(format!("http {status}: {}", String::from_utf8_lossy(&body)));
                }
                Ok(body.len())
            }
        }
    }
}

/// Runs `in_flight` tasks, each looping its worker through `WARMUP` and a measured `window`;
/// requests started in the window count.
async fn drive(make: impl Fn() -> Res<Worker>, in_flight: usize, window: Duration) -> Res<Samples> {
    let warm = Instant::now() + WARMUP;
    let end = warm + window;
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let mut worker = make()?;
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let r = worker.call().await;
                if t0 < warm {
                    continue;
                }
                match r {
                    Ok(n) => {
                        black_box(n);
                        s.latencies.push(t0.elapsed());
                    }
                    Err(e) => {
                        s.errors += 1;
                        s.first_error.get_or_insert(e);
                    }
                }
            }
            s
        }));
    }
    let mut all = Samples {
        measured: window,
        ..Samples::default()
    };
    for t in tasks {
        all.merge(t.await?);
    }
    Ok(all)
}

async fn run(scratch: &Path) -> Res<()> {
    let owner_home = init_home(&scratch.join("owner"), OWNER, true)?;
    let owner = node::open(&owner_home)?;
    let customer = node::open(&init_home(&scratch.join("customer"), CUSTOMER, false)?)?;
    let id = "b0000000-0000-4000-8000-000000000000".to_string();
    owner.publish(&footprint(OWNER, &id).to_string())?;
    owner.add_policy(
        "share-with-customers.json",
        include_str!("../../../policies/share-with-customers.json"),
    )?;
    owner.add_partner(
        &serde_json::to_string(&customer.card()?)?,
        vec!["customer".into()],
    )?;
    let (client_id, secret) =
        node::pact_api::add_client(&owner_home, CUSTOMER, vec!["customer".into()])?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    owner.set_bound_endpoint(listener.local_addr()?);
    customer.add_partner(&serde_json::to_string(&owner.card()?)?, Vec::new())?;
    let mut listeners = node::server::Listeners::bind(&owner).await?;
    listeners.peer = Some(listener);
    let pact_addr = listeners
        .pact
        .as_ref()
        .ok_or("the pact api is not configured")?
        .local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = owner.clone();
    let task = tokio::spawn(async move {
        node::server::run(served, listeners, async move {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| e.to_string())
    });
    let fingerprint = owner.identity().fingerprint.clone();

    // A token, the one-off way.
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
        )
    };
    let r = node::dashboard::client::request(
        pact_addr,
        &fingerprint,
        "POST",
        "/auth/token",
        &[
            ("authorization", &basic),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials",
    )
    .await?;
    let token = r
        .json()
        .and_then(|v| v["access_token"].as_str().map(str::to_string))
        .ok_or_else(|| format!("token: http {}: {}", r.status, r.text()))?;
    let bearer = format!("Bearer {token}");

    // The keep-alive HTTP/2 connection.
    let mut tls = (*node::tls::pinned_client_config(&fingerprint, None)?).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(pact_addr).await?;
    tcp.set_nodelay(true)?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let uri: hyper::Uri = format!("https://{pact_addr}/3/footprints/{id}").parse()?;

    let pact_worker =
        || -> Res<Worker> { Ok(Worker::Pact(sender.clone(), uri.clone(), bearer.clone())) };
    // Check the PACT answer once: a signed full footprint.
    let body = {
        let mut sender = sender.clone();
        let resp = sender
            .send_request(
                hyper::Request::get(uri.clone())
                    .header("authorization", bearer.as_str())
                    .body(Empty::<Bytes>::new())?,
            )
            .await?;
        resp.into_body().collect().await?.to_bytes()
    };
    let doc: Value = serde_json::from_slice(&body)?;
    node::signed::verify_document(&doc["data"])?;

    let grpc_worker = || -> Res<Worker> {
        Ok(Worker::Grpc(
            Box::new(PeerClient::for_partner(&customer, OWNER, None)?),
            id.clone(),
        ))
    };
    println!(
        "GetFootprint on loopback TLS, one HTTP/2 connection each, {IN_FLIGHT} in flight: \
         {ROUNDS} rounds of (gRPC, PACT), each {} s warm-up + {:.1} s measured",
        WARMUP.as_secs(),
        (MEASURE / ROUNDS as u32).as_secs_f64()
    );
    let window = MEASURE / ROUNDS as u32;
    let mut grpc = Samples::default();
    let mut pact = Samples::default();
    for _ in 0..ROUNDS {
        grpc.merge(drive(grpc_worker, IN_FLIGHT, window).await?);
        pact.merge(drive(pact_worker, IN_FLIGHT, window).await?);
    }
    println!(
        "  {:<28} {:>9} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p99 ms", "errors"
    );
    grpc.print("gRPC GetFootprint");
    pact.print("PACT GET /3/footprints/{id}");
    let ratio = pact.rps() / grpc.rps().max(1e-9);
    println!(
        "  PACT / gRPC = {ratio:.2} (budget >= 0.50: {})",
        if ratio >= 0.5 { "met" } else { "MISSED" }
    );
    println!(
        "BUDGET pact_grpc_ratio {ratio:.2} >=0.5 {}",
        if ratio >= 0.5 { "PASS" } else { "MISS" }
    );

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(())
}

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
        pact: node::config::RawPact {
            listen: listen.then(|| "127.0.0.1:0".into()),
            ..Default::default()
        },
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

fn footprint(company: &str, id: &str) -> Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "Bench Supplier",
        "companyIds": [company],
        "productDescription": "hot-rolled coil, bench product",
        "productIds": ["urn:tanso:bench-supplier:product:0"],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": "Coil 0",
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
