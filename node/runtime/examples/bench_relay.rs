//! Relayed `GetFootprint` throughput against direct, in the same run (budget: relayed ≥ 0.7 ×
//! direct), with p50/p99 latency for both.
//!
//! One owner node serves peers on a loopback port and, at the same time, through an
//! in-process relay (it registered with a membership credential, as a relayed node does).
//! Two customers call it with the same signed, policy-checked `GetFootprint`: one knows the
//! owner's direct card, the other its relayed card (empty endpoint, the relay's address).
//! Both go through TLS pinned to the owner's certificate; the relayed one has its TLS
//! records copied by the relay. Rounds alternate so outside load hits both sides alike.
//!
//! Run with `cargo run --release --locked -p node --example bench_relay`. Plain `Instant`
//! timing: it prints figures and the budget, and asserts nothing.

use std::error::Error;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use node::Node;
use node::card::NodeCard;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::crypto::NodeKey;
use node::directory::{DirectoryCard, MembershipCredential};
use node::home::Home;
use node::relay::{RawRelayConfig, Relay, RelayHome};
use node::service::client::PeerClient;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Requests in flight.
const IN_FLIGHT: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
/// Measured time per side, split over `ROUNDS` alternating rounds.
const MEASURE: Duration = Duration::from_secs(6);
const ROUNDS: usize = 3;

const OWNER: &str = "urn:tanso:company:bench-relay-owner";
const DIRECT: &str = "urn:tanso:company:bench-direct-customer";
const RELAYED: &str = "urn:tanso:company:bench-relayed-customer";

fn main() -> Res<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scratch = tempfile::Builder::new()
        .prefix("tanso-bench-relay-")
        .tempdir()?;
    println!("tanso bench_relay: {cores} cpu(s) available");
    println!("scratch: {}", scratch.path().display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(scratch.path()))?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

async fn run(scratch: &Path) -> Res<()> {
    // The relay, trusting one association.
    let association_key = NodeKey::from_seed(&seed()?);
    let directory = DirectoryCard::issue(
        &association_key,
        "urn:tanso:association:bench",
        "bench association",
        "127.0.0.1:1",
        &"ab".repeat(32),
    )?;
    let relay_home = RelayHome::new(scratch.join("relay"));
    relay_home.init(&RawRelayConfig::new("bench relay", "127.0.0.1:0"), &seed()?)?;
    relay_home.save_directory_card(
        &directory.association_id,
        &serde_json::to_string(&directory)?,
    )?;
    let relay = Relay::open(&relay_home, None)?;
    let relay_listener = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = relay_listener.local_addr()?;
    relay.set_bound_endpoint(relay_addr);
    let (stop_relay, relay_stopped) = oneshot::channel::<()>();
    let relay_task = tokio::spawn(relay.clone().run(relay_listener, async move {
        let _ = relay_stopped.await;
    }));

    // The owner: a listener and the relay.
    let owner_home = init_home(&scratch.join("owner"), OWNER, true)?;
    let owner_key = owner_home.load_key()?;
    let owner_identity = owner_home.load_identity()?;
    let now = Utc::now();
    let mut credential = MembershipCredential {
        association_id: directory.association_id.clone(),
        directory_key_id: directory.key_id.clone(),
        serial: 1,
        company_id: OWNER.into(),
        name: "bench owner".into(),
        public_key: NodeCard::issue(&owner_key, OWNER, "x", "", &owner_identity.fingerprint)?
            .public_key,
        key_id: owner_key.key_id().into(),
        endpoint: String::new(),
        relay: Some(relay_addr.to_string()),
        tls_fingerprint: owner_identity.fingerprint.clone(),
        previous_keys: Vec::new(),
        supplies_products: Vec::new(),
        supplies_classifications: Vec::new(),
        buys_classifications: Vec::new(),
        issued_at: node::directory::credential::rfc3339(now - chrono::Duration::minutes(1)),
        expires_at: node::directory::credential::rfc3339(now + chrono::Duration::days(1)),
        signature: String::new(),
    };
    credential.sign(&association_key)?;
    node::relay::keeper::use_relay(
        &owner_home,
        OWNER,
        owner_key.key_id(),
        &serde_json::to_string(&relay.card()?)?,
        Some(&serde_json::to_string(&credential)?),
    )?;
    let owner = node::open(&owner_home)?;
    let id = owner.publish(&footprint().to_string())?.ids[0].to_string();
    owner.add_policy(
        "share-with-customers.json",
        include_str!("../../../policies/share-with-customers.json"),
    )?;
    let direct = node::open(&init_home(&scratch.join("direct"), DIRECT, false)?)?;
    let relayed = node::open(&init_home(&scratch.join("relayed"), RELAYED, false)?)?;
    for customer in [&direct, &relayed] {
        owner.add_partner(
            &serde_json::to_string(&customer.card()?)?,
            vec!["customer".into()],
        )?;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let owner_addr = listener.local_addr()?;
    owner.set_bound_endpoint(owner_addr);
    let mut listeners = node::server::Listeners::bind(&owner).await?;
    listeners.peer = Some(listener);
    let (stop_owner, owner_stopped) = oneshot::channel::<()>();
    let served = owner.clone();
    let owner_task = tokio::spawn(async move {
        node::server::run(served, listeners, async move {
            let _ = owner_stopped.await;
        })
        .await
    });
    if !relay.wait_registered(OWNER, Duration::from_secs(10)).await {
        return Err("the owner did not register with the relay".into());
    }
    // The direct customer pins the owner's endpoint; the relayed one only knows the relay.
    let direct_card = NodeCard::issue(
        &owner.key(),
        OWNER,
        "bench owner",
        &owner_addr.to_string(),
        &owner.identity().fingerprint,
    )?;
    let relayed_card = NodeCard::issue(
        &owner.key(),
        OWNER,
        "bench owner",
        "",
        &owner.identity().fingerprint,
    )?
    .with_relay(&owner.key(), Some(relay_addr.to_string()))?;
    direct.add_partner(&serde_json::to_string(&direct_card)?, Vec::new())?;
    relayed.add_partner(&serde_json::to_string(&relayed_card)?, Vec::new())?;
    for customer in [&direct, &relayed] {
        PeerClient::for_partner(customer, OWNER, None)?
            .get(&id)
            .await?;
    }

    println!(
        "GetFootprint over TLS on loopback, {IN_FLIGHT} in flight: {ROUNDS} rounds of (direct, \
         relayed), each {} s warm-up + {:.1} s measured",
        WARMUP.as_secs(),
        (MEASURE / ROUNDS as u32).as_secs_f64()
    );
    let mut direct_samples = Samples::default();
    let mut relayed_samples = Samples::default();
    let segment = MEASURE / ROUNDS as u32;
    for _ in 0..ROUNDS {
        direct_samples.merge(drive(&direct, &id, IN_FLIGHT, WARMUP, segment).await?);
        relayed_samples.merge(drive(&relayed, &id, IN_FLIGHT, WARMUP, segment).await?);
    }
    let one = Duration::from_secs(2);
    let warm = Duration::from_millis(300);
    let direct_one = drive(&direct, &id, 1, warm, one).await?.load();
    let relayed_one = drive(&relayed, &id, 1, warm, one).await?.load();
    let direct_load = direct_samples.load();
    let relayed_load = relayed_samples.load();
    println!(
        "  {:<32} {:>9} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p99 ms", "errors"
    );
    direct_load.print(&format!("direct, {IN_FLIGHT} in flight"));
    relayed_load.print(&format!("relayed, {IN_FLIGHT} in flight"));
    direct_one.print("direct, 1 in flight");
    relayed_one.print("relayed, 1 in flight");
    let ratio = relayed_load.rps / direct_load.rps.max(1e-9);
    println!();
    println!(
        "budget: relayed throughput ≥ 0.7 × direct: {ratio:.2} × → {}",
        if ratio >= 0.7 { "met" } else { "NOT met" }
    );
    println!(
        "BUDGET relay_direct_ratio {ratio:.2} >=0.7 {}",
        if ratio >= 0.7 { "PASS" } else { "MISS" }
    );

    drop(direct);
    drop(relayed);
    let _ = stop_owner.send(());
    let _ = stop_relay.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), owner_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), relay_task).await;
    Ok(())
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

    fn load(mut self) -> Load {
        self.latencies.sort_unstable();
        let all = &self.latencies;
        let pick = |q: f64| {
            all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Load {
            rps: all.len() as f64 / self.measured.as_secs_f64().max(1e-9),
            p50: pick(0.50),
            p99: pick(0.99),
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}

struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Load {
    fn print(&self, label: &str) {
        println!(
            "  {label:<32} {:>9.0} {:>9.3} {:>9.3} {:>7}",
            self.rps,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.errors
        );
        if let Some(e) = &self.first_error {
            println!("    first error: {e}");
        }
    }
}

/// `in_flight` tasks looping `GetFootprint(id)` on the customer's channel to the owner;
/// requests started in the measured window count.
async fn drive(
    customer: &Node,
    id: &str,
    in_flight: usize,
    warmup: Duration,
    measure: Duration,
) -> Res<Samples> {
    let warm = Instant::now() + warmup;
    let end = warm + measure;
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let mut client = PeerClient::for_partner(customer, OWNER, None)?;
        let id = id.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
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
    Ok(all)
}

fn seed() -> Res<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("os randomness: {e}"))?;
    Ok(seed)
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
        pact: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
        metrics: Default::default(),
    };
    let home = Home::new(dir);
    home.init(&raw, &seed()?)?;
    Ok(home)
}

fn footprint() -> serde_json::Value {
    json!({
        "id": "b0000000-0000-4000-8000-000000000001",
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "Bench Owner",
        "companyIds": [OWNER],
        "productDescription": "hot-rolled coil, bench product",
        "productIds": ["urn:tanso:bench-owner:product:coil"],
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
