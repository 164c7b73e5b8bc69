//! Budget check for the association directory, on loopback over TLS, 1,000 members.
//!
//! - Directory lookups per second (budget ≥ 20,000/s): many concurrent `Lookup` calls by
//!   company id over a few channels, for 3 s; the raw rate (answers received) and, separately,
//!   the rate with the member's verification of every signed answer.
//! - Cold "PCF of product X from company Y" (budget < 10 ms): a signed directory lookup by
//!   company id, a new TLS connection pinned by the credential, a signed GetFootprint,
//!   owner-signature verification and the inbox write; 200 times, p50 and p99.
//!
//! `cargo run --release --locked -p node --example bench_directory`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use node::Node;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::crypto::NodeKey;
use node::directory::answer::{Application, query_company};
use node::directory::client::JoinFacts;
use node::directory::server::{self, Directory, RawDirectoryConfig};
use node::directory::{DirectoryCard, DirectoryClient};
use node::home::Home;
use node::service::client::{self, FetchWhat};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const MEMBERS: usize = 1_000;
const CHANNELS: usize = 4;
const IN_FLIGHT_PER_CHANNEL: usize = 64;
const LOOKUP_SECS: u64 = 3;
const COLD_RUNS: usize = 200;
const ASSOCIATION: &str = "urn:tanso:association:bench";
const PRODUCT: &str = "urn:tanso:bench-parts:product:bracket";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn start_node(dir: &std::path::Path, slug: &str) -> Result<(Node, oneshot::Sender<()>)> {
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
        directory: Default::default(),
        audit: Default::default(),
        metrics: Default::default(),
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

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let home = Home::new(dir.path().join("association"));
    let mut raw = RawDirectoryConfig::new(ASSOCIATION, "Bench association", "127.0.0.1:0");
    raw.auto_approve = true;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    server::init(&home, &raw, &seed)?;
    let directory = Directory::open(&home)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    directory.set_bound_endpoint(listener.local_addr()?);
    let (stop_dir, stopped) = oneshot::channel::<()>();
    let admin = server::bind_admin(&home)?;
    tokio::spawn(server::run(
        directory.clone(),
        listener,
        admin,
        async move {
            let _ = stopped.await;
        },
    ));
    let card: DirectoryCard = directory.card()?;

    // 1,000 members (each application signed and stored durably).
    let started = Instant::now();
    let mut ids = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        let mut s = [0u8; 32];
        getrandom::fill(&mut s)?;
        let key = NodeKey::from_seed(&s);
        let company = format!("urn:tanso:company:member-{i:04}");
        let member_card = node::card::NodeCard::issue(
            &key,
            &company,
            &format!("Member {i}"),
            "127.0.0.1:9",
            &"ab".repeat(32),
        )?;
        let app = Application {
            association_id: ASSOCIATION.into(),
            card: member_card,
            supplies_products: vec![format!("urn:tanso:bench:product:p{i:04}")],
            supplies_classifications: vec![format!("HS:72{:02}", i % 100)],
            buys_classifications: vec![],
            issued_at: node::directory::credential::rfc3339(Utc::now()),
        };
        let (bytes, sig) = app.sign(&key)?;
        directory.join(&bytes, &sig)?;
        ids.push(company);
    }
    println!(
        "directory: {MEMBERS} members joined in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Lookups per second: raw answers, then verified answers.
    let ids = Arc::new(ids);
    for verify in [false, true] {
        let count = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(LOOKUP_SECS);
        let mut tasks = Vec::new();
        for c in 0..CHANNELS {
            let client = DirectoryClient::connect_lazy(&card)?;
            let raw_channel = node::service::client::connect_pinned(
                ASSOCIATION,
                &card.endpoint,
                &card.tls_fingerprint,
                None,
                false,
                node::directory::client::DEADLINES,
            )?;
            let raw_client = proto::pb::directory_client::DirectoryClient::new(raw_channel);
            for t in 0..IN_FLIGHT_PER_CHANNEL {
                let mut client = client.clone();
                let mut raw_client = raw_client.clone();
                let ids = ids.clone();
                let count = count.clone();
                let errors = errors.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = c * 7919 + t * 104_729;
                    while Instant::now() < deadline {
                        i = (i + 1) % ids.len();
                        let ok = if verify {
                            client
                                .lookup_company(&ids[i])
                                .await
                                .is_ok_and(|v| v.members.len() == 1)
                        } else {
                            raw_client
                                .lookup(proto::pb::LookupRequest {
                                    company_id: ids[i].clone(),
                                    ..Default::default()
                                })
                                .await
                                .is_ok()
                        };
                        if ok {
                            count.fetch_add(1, Ordering::Relaxed);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
        for t in tasks {
            t.await?;
        }
        let n = count.load(Ordering::Relaxed);
        println!(
            "lookups by company id, {} channels x {} in flight, {}: {:.0}/s ({} errors) [budget >= 20000/s]",
            CHANNELS,
            IN_FLIGHT_PER_CHANNEL,
            if verify {
                "each answer verified by the member (2 signatures)"
            } else {
                "answers received"
            },
            n as f64 / LOOKUP_SECS as f64,
            errors.load(Ordering::Relaxed)
        );
        if !verify {
            // The budget is the directory's own rate (answers received, not verified).
            let rate = n as f64 / LOOKUP_SECS as f64;
            println!(
                "BUDGET directory_lookups_per_s {rate:.0} >=20000 {}",
                if rate >= 20_000.0 { "PASS" } else { "MISS" }
            );
        }
    }

    // Cold PCF of product X from company Y.
    let (supplier, stop_supplier) = start_node(dir.path(), "bench-parts").await?;
    let (buyer, stop_buyer) = start_node(dir.path(), "bench-oem").await?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut doc: serde_json::Value = serde_json::from_str(
        include_str!("../src/demo/steel.jsonl")
            .lines()
            .next()
            .unwrap_or("{}"),
    )?;
    doc["id"] = id.clone().into();
    doc["companyIds"] = serde_json::json!([supplier.company_id()]);
    doc["productIds"] = serde_json::json!([PRODUCT]);
    supplier.publish(&doc.to_string())?;
    supplier.add_policy(
        "members.json",
        &include_str!("../../../policies/association-members.json")
            .replace("urn:tanso:association:example-steel", ASSOCIATION),
    )?;
    let card_text = serde_json::to_string(&card)?;
    for n in [&supplier, &buyer] {
        n.directories().trust(n, &card_text)?;
        n.directories()
            .join(
                n,
                Some(JoinFacts {
                    supplies_products: vec![PRODUCT.into()],
                    ..Default::default()
                }),
            )
            .await?;
    }
    let mut lookup = DirectoryClient::connect_lazy(&card)?;
    // Warm the supplier's view of the buyer (it caches memberships for the TTL) and the
    // directory connection; every timed run below still makes a new TLS connection.
    client::fetch(
        &buyer,
        supplier.company_id(),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await?;
    let mut times = Vec::with_capacity(COLD_RUNS);
    for _ in 0..COLD_RUNS {
        buyer.peers().forget(supplier.company_id());
        let t = Instant::now();
        let verified = lookup.lookup_company(supplier.company_id()).await?;
        let credential = verified.members.first().ok_or("supplier not found")?;
        assert_eq!(
            verified.status_list.association_id,
            ASSOCIATION,
            "{}",
            query_company(&credential.company_id)
        );
        let docs = client::fetch(
            &buyer,
            &credential.company_id,
            FetchWhat::Id(id.clone()),
            None,
        )
        .await?;
        node::signed::verify_document(&docs[0])?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "cold PCF of product X from company Y (lookup + TLS connect + signed request + verify + inbox write), {COLD_RUNS} runs: p50 {} ms, p99 {} ms [budget < 10 ms]",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99))
    );
    for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
        let t = pct(&times, q);
        println!(
            "BUDGET directory_cold_pcf_{name}_ms {} <10 {}",
            ms(t),
            if t < Duration::from_millis(10) {
                "PASS"
            } else {
                "MISS"
            }
        );
    }
    let _ = stop_supplier.send(());
    let _ = stop_buyer.send(());
    let _ = stop_dir.send(());
    Ok(())
}
