//! A new peer's connection time while 1,000 idle connections are held (issue #16, item 3):
//! the time from a new TCP connection to the answer of its first signed `GetFootprint`
//! (TCP, TLS handshake, HTTP/2, policy, audit), for 200 new peers one after another, first
//! with no other connection open (the baseline), then while 500 idle partner connections
//! (TLS + HTTP/2, one request each, then nothing) and 500 silent TLS connections (handshake,
//! then not a byte) are held. Budget: p50 with the 1,000 held ≤ 1.5 × the baseline p50, same
//! run. Then it waits out the idle timeout (`[limits] idle_timeout_secs`, 10 s here) and
//! counts the held connections the node closed, and checks that connections over the cap
//! (`max_connections`, 1,100 here) are closed at once.
//!
//! Run with `cargo run --release --locked -p node --example bench_connections`. Plain
//! `Instant` timing: it prints figures and the budget, and asserts nothing.

#[path = "support/fixture.rs"]
mod fixture;
use fixture::footprint;
use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::Node;
use node::config::RawConfig;
use node::home::Home;
use node::service::client::{PeerClient, connect_lazy};
use prost::Message as _;
use proto::pb;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const OWNER: &str = "urn:tanso:company:bench-conn-owner";
const CUSTOMER: &str = "urn:tanso:company:bench-conn-customer";
const NEW_PEERS: usize = 200;
const IDLE_PARTNERS: usize = 500;
const SILENT_TLS: usize = 500;
const IDLE_TIMEOUT_SECS: u64 = 10;
const MAX_CONNECTIONS: usize = 1100;

fn main() -> Res<()> {
    let scratch = tempfile::Builder::new()
        .prefix("tanso-bench-conn-")
        .tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(scratch.path()))?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

fn seed() -> Res<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("randomness: {e}"))?;
    Ok(seed)
}

fn init_home(dir: &Path, company: &str, listen: bool) -> Res<Home> {
    let mut raw = RawConfig::parse(
        &format!("company_id = \"{company}\"\nname = \"bench\"\n"),
        "bench config",
    )?;
    if listen {
        raw.listen = Some("127.0.0.1:0".into());
        raw.limits.max_connections = MAX_CONNECTIONS;
        raw.limits.idle_timeout_secs = IDLE_TIMEOUT_SECS;
    }
    let home = Home::new(dir);
    home.init(&raw, &seed()?)?;
    Ok(home)
}

/// One new peer: a new connection and its first signed GetFootprint; the time it took.
async fn new_peer(customer: &Node, card: &node::card::NodeCard, id: &str) -> Res<Duration> {
    let started = Instant::now();
    let channel = connect_lazy(customer, card)?;
    call(channel, customer, id).await?;
    Ok(started.elapsed())
}

async fn call(channel: tonic::transport::Channel, customer: &Node, id: &str) -> Res<()> {
    let key = customer.key();
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| format!("randomness: {e}"))?;
    let seal = node::service::auth::Seal {
        key: &key,
        caller: CUSTOMER,
        audience: OWNER,
        method: node::service::METHOD_GET_FOOTPRINT,
        purpose: None,
        nonce,
        issued_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let body = pb::GetFootprintRequest { id: id.to_string() }.encode_to_vec();
    pb::connector_client::ConnectorClient::new(channel)
        .get_footprint(seal.envelope(body))
        .await?;
    Ok(())
}

/// A count from the environment (to hold only one kind of connection when looking into a
/// figure), else `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    customer: &Node,
    card: &node::card::NodeCard,
    id: &str,
) -> Res<(Duration, Duration)> {
    let mut times = Vec::with_capacity(NEW_PEERS);
    for _ in 0..NEW_PEERS {
        times.push(new_peer(customer, card, id).await?);
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

/// A TLS connection that completes its handshake and then sends nothing.
async fn silent_tls(
    addr: SocketAddr,
    fingerprint: &str,
) -> Res<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut config = (*node::tls::pinned_client_config(fingerprint, None)?).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    Ok(connector.connect(name, tcp).await?)
}

/// Whether the server has closed `stream` (a read ends or fails at once).
async fn closed_by_server(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // Server frames (HTTP/2 settings): read on.
            Ok(Ok(_)) => continue,
        }
    }
}

async fn run(scratch: &Path) -> Res<()> {
    let owner = node::open(&init_home(&scratch.join("owner"), OWNER, true)?)?;
    let id = owner
        .publish(&footprint(OWNER, "c0000000-0000-4000-8000-000000000001", 0).to_string())?
        .ids[0]
        .to_string();
    owner.add_policy(
        "share-with-customers.json",
        include_str!("../../../policies/share-with-customers.json"),
    )?;
    let customer = node::open(&init_home(&scratch.join("customer"), CUSTOMER, false)?)?;
    owner.add_partner(
        &serde_json::to_string(&customer.card()?)?,
        vec!["customer".into()],
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    owner.set_bound_endpoint(addr);
    customer.add_partner(&serde_json::to_string(&owner.card()?)?, Vec::new())?;
    let mut listeners = node::server::Listeners::bind(&owner).await?;
    listeners.peer = Some(listener);
    let (stop, stopped) = oneshot::channel::<()>();
    let served = owner.clone();
    let server = tokio::spawn(async move {
        node::server::run(served, listeners, async move {
            let _ = stopped.await;
        })
        .await
    });
    let card = owner.card()?;
    PeerClient::for_partner(&customer, OWNER, None)?
        .get(&id)
        .await?;
    // Warm-up.
    for _ in 0..20 {
        new_peer(&customer, &card, &id).await?;
    }

    println!(
        "new peer: new TCP connection + TLS + HTTP/2 + first signed GetFootprint, {NEW_PEERS} one after another"
    );
    let (base_p50, base_p99) = measure(&customer, &card, &id).await?;
    println!(
        "  no other connection open:        p50 {:>7.2} ms  p99 {:>7.2} ms",
        base_p50.as_secs_f64() * 1e3,
        base_p99.as_secs_f64() * 1e3
    );

    let n_partners = env_count("BENCH_IDLE_PARTNERS", IDLE_PARTNERS);
    let n_silent = env_count("BENCH_SILENT_TLS", SILENT_TLS);
    let mut partners = Vec::with_capacity(n_partners);
    for _ in 0..n_partners {
        let channel = connect_lazy(&customer, &card)?;
        call(channel.clone(), &customer, &id).await?;
        partners.push(channel);
    }
    let mut silent = Vec::with_capacity(n_silent);
    for _ in 0..n_silent {
        silent.push(silent_tls(addr, &card.tls_fingerprint).await?);
    }
    let held_at = Instant::now();
    let (held_p50, held_p99) = measure(&customer, &card, &id).await?;
    println!(
        "  {n_partners} idle partners + {n_silent} silent TLS held: p50 {:>7.2} ms  p99 {:>7.2} ms",
        held_p50.as_secs_f64() * 1e3,
        held_p99.as_secs_f64() * 1e3
    );

    // Over the cap: fill it with silent connections; the next ones are closed at once (their
    // TLS handshake fails, or the first read ends).
    let mut extra = Vec::new();
    let free = MAX_CONNECTIONS.saturating_sub(n_partners + n_silent);
    let mut over_closed = 0;
    for _ in 0..free + 20 {
        match silent_tls(addr, &card.tls_fingerprint).await {
            Ok(stream) => extra.push(stream),
            Err(_) => over_closed += 1,
        }
    }
    for stream in extra.iter_mut().skip(free.saturating_sub(5)) {
        if closed_by_server(stream).await {
            over_closed += 1;
        }
    }
    println!(
        "  over the cap of {MAX_CONNECTIONS}: {over_closed} of {} more connections closed at once (20 or a few more expected)",
        free + 20
    );
    drop(extra);

    // The idle timeout: every held connection is closed by the node once idle for the idle timeout.
    let wait = Duration::from_secs(IDLE_TIMEOUT_SECS + 2).saturating_sub(held_at.elapsed());
    tokio::time::sleep(wait).await;
    let mut silent_closed = 0;
    for stream in &mut silent {
        if closed_by_server(stream).await {
            silent_closed += 1;
        }
    }
    println!(
        "  after the idle timeout ({IDLE_TIMEOUT_SECS} s): the node closed {silent_closed} of {n_silent} silent TLS connections"
    );
    drop(partners);
    drop(silent);
    // The baseline again, now that nothing is held (the machine may be shared: the two
    // baselines show how much the load moved).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (after_p50, after_p99) = measure(&customer, &card, &id).await?;
    println!(
        "  nothing held again:              p50 {:>7.2} ms  p99 {:>7.2} ms",
        after_p50.as_secs_f64() * 1e3,
        after_p99.as_secs_f64() * 1e3
    );
    let base_p50 = (base_p50 + after_p50) / 2;

    let ratio = held_p50.as_secs_f64() / base_p50.as_secs_f64().max(1e-9);
    println!();
    println!(
        "BUDGET conn_new_peer_p50_ratio {ratio:.2} 1.5 {}",
        if ratio <= 1.5 { "PASS" } else { "MISS" }
    );
    println!(
        "BUDGET conn_over_cap_closed {over_closed} 20 {}",
        if over_closed >= 20 { "PASS" } else { "MISS" }
    );
    println!(
        "BUDGET conn_idle_closed {silent_closed} {n_silent} {}",
        if silent_closed == n_silent {
            "PASS"
        } else {
            "MISS"
        }
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
