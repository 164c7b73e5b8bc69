//! Budget check for the asynchronous exchange: request → automatic fulfil → answer in the
//! buyer's inbox, two live nodes on loopback over TLS. Budget: < 20 ms per request.
//!
//! `cargo run --release -p node --example bench_lifecycle` prints median and p99 over 200
//! requests. Each is timed from `send_request` until the requester's outgoing request shows
//! fulfilled (tight store polling, every 50 µs, on a blocking thread).

use std::time::{Duration, Instant};

use node::Node;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const REQUESTS: usize = 200;
const BUDGET: Duration = Duration::from_millis(20);
const PRODUCT: &str = "urn:tanso:bench-steel:product:coil";
const POLICY: &str = r#"{"uid": "urn:bench:share", "permission": [{"action": "use", "view": "full",
    "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"}]}]}"#;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn start(dir: &std::path::Path, slug: &str) -> Result<(Node, oneshot::Sender<()>)> {
    let raw = RawConfig {
        company_id: format!("urn:tanso:company:{slug}"),
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
    getrandom::fill(&mut seed)?;
    home.init(&raw, &seed)?;
    let node = node::open(&home)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    node.set_bound_endpoint(listener.local_addr()?);
    let mut listeners = node::server::Listeners::bind(&node).await?;
    listeners.peer = Some(listener);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(node::server::run(node.clone(), listeners, async move {
        let _ = stopped.await;
    }));
    Ok((node, stop))
}

fn footprint(id: &str) -> String {
    let doc = include_str!("../src/demo/steel.jsonl")
        .lines()
        .next()
        .unwrap_or("{}")
        .replace("hanbit-steel", "bench-steel")
        .replace("Hanbit Steel", "bench-steel")
        .replace("urn:tanso:bench-steel:product:hrc-01", PRODUCT);
    let mut v: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
    v["id"] = id.into();
    v.to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (steel, stop_steel) = start(dir.path(), "bench-steel").await?;
    let (oem, stop_oem) = start(dir.path(), "bench-oem").await?;
    steel.add_partner(
        &serde_json::to_string(&oem.card()?)?,
        vec!["customer".into()],
    )?;
    oem.add_partner(&serde_json::to_string(&steel.card()?)?, Vec::new())?;
    steel.add_policy("share.json", POLICY)?;
    steel.publish(&footprint(&uuid::Uuid::new_v4().to_string()))?;

    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS + 10 {
        let start = Instant::now();
        let request = oem.send_request(
            "urn:tanso:company:bench-steel",
            vec![PRODUCT.into()],
            Vec::new(),
            String::new(),
            None,
        )?;
        let store = oem.store().clone();
        let id = request.id.clone();
        tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if store
                    .outgoing_request(&id)
                    .map_err(|e| e.to_string())?
                    .is_some_and(|r| r.status == node::store::RequestState::Fulfilled)
                {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(format!("request {id} not fulfilled within 10 s"));
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        // The first ten warm up connections and caches.
        if i >= 10 {
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[(samples.len() * 99).div_ceil(100) - 1];
    println!(
        "request -> automatic fulfil -> buyer inbox, {REQUESTS} requests over TLS on loopback: median {:.2} ms, p99 {:.2} ms, max {:.2} ms (budget {} ms): {}",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        BUDGET.as_millis(),
        if p99 < BUDGET {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    println!(
        "BUDGET lifecycle_p99_ms {:.2} <{} {}",
        p99.as_secs_f64() * 1e3,
        BUDGET.as_millis(),
        if p99 < BUDGET { "PASS" } else { "MISS" }
    );
    let _ = stop_steel.send(());
    let _ = stop_oem.send(());
    Ok(())
}
