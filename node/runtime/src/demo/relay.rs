//! The demo's relay steps: a steel supplier with no inbound port, reached through a blind relay.
//!
//! The supplier joins the association's directory like any member (its card advertises the
//! relay and no endpoint), registers with the relay on the credential the directory issued,
//! and the parts maker finds it in the directory and fetches its footprint with TLS running
//! end to end through the relay.

use std::io::Write;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::relay::{RawRelayConfig, Relay, RelayHome};
use tanso_core::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use tanso_core::directory::client::JoinFacts;
use tanso_core::error::NodeError;
use tanso_core::home::Home;
use tanso_core::node::Node;
use tanso_core::signed;
use tanso_grpc::client::{self, FetchWhat};

use super::DemoError;
use super::directory::RunningDirectory;

const SEJIN: &str = "urn:tanso:company:sejin-metals";
const WIRE: &str = "urn:tanso:sejin-metals:product:wire-07";
const MEMBERS_POLICY: &str = include_str!("../../../../policies/association-members.json");

fn seed() -> Result<[u8; 32], DemoError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| DemoError::Step(format!("randomness: {e}")))?;
    Ok(seed)
}

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// Runs the relay steps, numbered from `first`: `association` is the running directory,
/// `fetcher` a member that fetches, and `template` a sample footprint the supplier re-labels
/// as its own.
pub(super) async fn run(
    out: &mut dyn Write,
    dir: &std::path::Path,
    association: &RunningDirectory,
    fetcher: &Node,
    template: &str,
    first: usize,
) -> Result<(), DemoError> {
    // The relay, trusting the association's directory.
    let directory = association.directory.card().map_err(step)?;
    let relay_home = RelayHome::new(dir.join("relay"));
    relay_home
        .init(
            &RawRelayConfig::new("Association relay", "127.0.0.1:0"),
            &seed()?,
        )
        .map_err(step)?;
    relay_home
        .save_directory_card(
            &directory.association_id,
            &serde_json::to_string(&directory).map_err(step)?,
        )
        .map_err(step)?;
    let relay = Relay::open(&relay_home, None).map_err(step)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = listener.local_addr()?;
    relay.set_bound_endpoint(relay_addr);
    let (stop_relay, relay_stopped) = oneshot::channel::<()>();
    let relay_task = tokio::spawn(relay.clone().run(listener, async move {
        let _ = relay_stopped.await;
    }));
    writeln!(
        out,
        "{first}. The association also runs a blind relay at {relay_addr}; it admits only members of its directory"
    )?;

    // The steel supplier: no listen address at all; it uses the relay and joins the directory.
    let raw = RawConfig {
        company_id: SEJIN.into(),
        name: "Sejin Metals".into(),
        listen: None,
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
    let home = Home::new(dir.join("sejin-metals"));
    home.init(&raw, &seed()?).map_err(NodeError::from)?;
    let key_id = home
        .load_key()
        .map_err(NodeError::from)?
        .key_id()
        .to_string();
    tanso_core::relay::keeper::use_relay(
        &home,
        SEJIN,
        &key_id,
        &serde_json::to_string(&relay.card().map_err(step)?).map_err(step)?,
        None,
    )
    .map_err(step)?;
    let sejin = crate::open(&home)?;
    sejin
        .directories()
        .trust(&sejin, &serde_json::to_string(&directory).map_err(step)?)?;
    sejin
        .directories()
        .join(
            &sejin,
            Some(JoinFacts {
                supplies_products: vec![WIRE.into()],
                supplies_classifications: vec!["HS:7217".into()],
                buys_classifications: Vec::new(),
            }),
        )
        .await?;
    association.directory.approve(SEJIN).map_err(step)?;
    let joined = sejin.directories().join(&sejin, None).await?;
    let credential = joined
        .first()
        .and_then(|j| j.credential.clone())
        .ok_or_else(|| DemoError::Step("Sejin Metals holds no credential".into()))?;
    let (stop_sejin, sejin_stopped) = oneshot::channel::<()>();
    let listeners = crate::server::Listeners::bind(&sejin).await.map_err(step)?;
    let sejin_task = tokio::spawn(crate::server::run(sejin.clone(), listeners, async move {
        let _ = sejin_stopped.await;
    }));
    if !relay.wait_registered(SEJIN, Duration::from_secs(20)).await {
        return Err(DemoError::Step(
            "Sejin Metals did not register with the relay".into(),
        ));
    }
    writeln!(
        out,
        "{}. Sejin Metals (steel wire) opens no port at all: it joins the directory (credential #{} advertises relay {} and no endpoint), dials out to the relay and registers by proving its key over the relay's challenge",
        first + 1,
        credential.serial,
        credential.relay.as_deref().unwrap_or("?")
    )?;

    // A footprint for association members, then the parts maker's fetch through the relay.
    sejin.add_policy("policies/association-members.json", MEMBERS_POLICY)?;
    let mut wire: serde_json::Value = serde_json::from_str(template).map_err(step)?;
    wire["id"] = uuid::Uuid::new_v4().to_string().into();
    wire["companyName"] = "Sejin Metals".into();
    wire["companyIds"] = serde_json::json!([SEJIN]);
    wire["productIds"] = serde_json::json!([WIRE]);
    wire["productNameCompany"] = "WIRE-07 steel wire rod".into();
    sejin.publish(&wire.to_string())?;
    let found = fetcher.directories().find_product(fetcher, WIRE).await?;
    let supplier = found
        .first()
        .ok_or_else(|| DemoError::Step("nobody supplies wire-07".into()))?;
    let fetched = client::fetch(
        fetcher,
        &supplier.credential.company_id,
        FetchWhat::Products(vec![WIRE.into()]),
        Some("scope3-reporting"),
    )
    .await?;
    let doc = fetched
        .first()
        .ok_or_else(|| DemoError::Step("nothing came through the relay".into()))?;
    let sig = signed::verify_document(doc).map_err(step)?;
    writeln!(
        out,
        "{}. {} finds wire-07's supplier in the directory and fetches it through the relay: {} kgCO2e/kg ({} view), owner signature verified (key {}); TLS ran end to end, so the relay copied only ciphertext and stored nothing",
        first + 2,
        fetcher.config().name,
        doc["pcf"]["pcfExcludingBiogenicUptake"]
            .as_str()
            .unwrap_or("?"),
        sig.view,
        sig.key_id
    )?;

    let _ = stop_sejin.send(());
    let _ = sejin_task.await;
    let _ = stop_relay.send(());
    let _ = relay_task.await;
    Ok(())
}
