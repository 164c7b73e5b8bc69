//! The demo's relay steps: a supplier with no inbound port, reached through a blind relay.
//!
//! An association key (the directory's, in a full data space) issues the supplier its
//! membership credential; the relay admits it on that credential, and the OEM fetches the
//! supplier's footprint with TLS running end to end through the relay.

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use crate::crypto::NodeKey;
use crate::directory::credential::rfc3339;
use crate::directory::{DirectoryCard, MembershipCredential};
use crate::error::NodeError;
use crate::home::Home;
use crate::node::Node;
use crate::relay::{RawRelayConfig, Relay, RelayHome};
use crate::service::client::{self, FetchWhat};
use crate::signed;

use super::DemoError;

const SEJIN: &str = "urn:tanso:company:sejin-metals";
const ASSOCIATION: &str = "urn:tanso:association:korea-auto-parts";

fn seed() -> Result<[u8; 32], DemoError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| DemoError::Step(format!("randomness: {e}")))?;
    Ok(seed)
}

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// Runs the relay steps, numbered from `first`; `oem` fetches and `template` is a sample
/// footprint the supplier re-labels as its own.
pub(super) async fn run(
    out: &mut dyn Write,
    dir: &std::path::Path,
    oem: &Node,
    template: &str,
    first: usize,
) -> Result<(), DemoError> {
    // The association and the relay that trusts it.
    let association_key = NodeKey::from_seed(&seed()?);
    let directory = DirectoryCard::issue(
        &association_key,
        ASSOCIATION,
        "Korea Auto Parts Association",
        "127.0.0.1:1",
        &"00".repeat(32),
    )
    .map_err(step)?;
    let relay_home = RelayHome::new(dir.join("relay"));
    relay_home
        .init(&RawRelayConfig::new("KAPA relay", "127.0.0.1:0"), &seed()?)
        .map_err(step)?;
    relay_home
        .save_directory_card(
            ASSOCIATION,
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
        "{first}. The association runs a blind relay at {relay_addr}; it admits only members holding a credential signed by the association"
    )?;

    // The supplier: no listen address at all.
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
        metrics: Default::default(),
    };
    let home = Home::new(dir.join("sejin-metals"));
    home.init(&raw, &seed()?).map_err(NodeError::from)?;
    let key = home.load_key().map_err(NodeError::from)?;
    let identity = home.load_identity().map_err(NodeError::from)?;
    let now = Utc::now();
    let probe =
        crate::card::NodeCard::issue(&key, SEJIN, "Sejin Metals", "", &identity.fingerprint)
            .map_err(step)?;
    let mut credential = MembershipCredential {
        association_id: ASSOCIATION.into(),
        directory_key_id: directory.key_id.clone(),
        serial: 1,
        company_id: SEJIN.into(),
        name: "Sejin Metals".into(),
        public_key: probe.public_key,
        key_id: key.key_id().into(),
        endpoint: String::new(),
        relay: Some(relay_addr.to_string()),
        tls_fingerprint: identity.fingerprint.clone(),
        previous_keys: Vec::new(),
        supplies_products: vec!["urn:tanso:sejin-metals:product:wire-07".into()],
        supplies_classifications: Vec::new(),
        buys_classifications: Vec::new(),
        issued_at: rfc3339(now),
        expires_at: rfc3339(now + chrono::Duration::days(365)),
        signature: String::new(),
    };
    credential.sign(&association_key).map_err(step)?;
    crate::relay::keeper::use_relay(
        &home,
        SEJIN,
        key.key_id(),
        &serde_json::to_string(&relay.card().map_err(step)?).map_err(step)?,
        Some(&serde_json::to_string(&credential).map_err(step)?),
    )
    .map_err(step)?;
    let sejin = Node::open(&home)?;
    let (stop_sejin, sejin_stopped) = oneshot::channel::<()>();
    let sejin_task = tokio::spawn(crate::server::run(sejin.clone(), None, async move {
        let _ = sejin_stopped.await;
    }));
    if !relay.wait_registered(SEJIN, Duration::from_secs(20)).await {
        return Err(DemoError::Step(
            "Sejin Metals did not register with the relay".into(),
        ));
    }
    let card = sejin.card()?;
    writeln!(
        out,
        "{}. Sejin Metals opens no port at all: its node dials out to the relay, proves its key over the relay's challenge and registers; its card advertises relay {} and no endpoint",
        first + 1,
        card.relay.as_deref().unwrap_or("?")
    )?;

    // Partners and a footprint, then the fetch through the relay.
    sejin.add_partner(
        &serde_json::to_string(&oem.card()?).map_err(step)?,
        vec!["customer".into()],
    )?;
    oem.add_partner(&serde_json::to_string(&card).map_err(step)?, Vec::new())?;
    sejin.add_policy(
        "policies/share-with-customers.json",
        super::SHARE_WITH_CUSTOMERS,
    )?;
    let mut wire: serde_json::Value = serde_json::from_str(template).map_err(step)?;
    wire["id"] = uuid::Uuid::new_v4().to_string().into();
    wire["companyName"] = "Sejin Metals".into();
    wire["companyIds"] = serde_json::json!([SEJIN]);
    wire["productIds"] = serde_json::json!(["urn:tanso:sejin-metals:product:wire-07"]);
    wire["productNameCompany"] = "WIRE-07 steel wire rod".into();
    sejin.publish(&wire.to_string())?;
    let fetched = client::fetch(
        oem,
        SEJIN,
        FetchWhat::Products(vec!["urn:tanso:sejin-metals:product:wire-07".into()]),
        Some("scope3-reporting"),
    )
    .await?;
    let doc = fetched
        .first()
        .ok_or_else(|| DemoError::Step("nothing came through the relay".into()))?;
    let sig = signed::verify_document(doc).map_err(step)?;
    writeln!(
        out,
        "{}. Daehan Motors fetches wire-07 from Sejin Metals through the relay: {} kgCO2e/kg, owner signature verified (key {}); TLS ran end to end, so the relay copied only ciphertext and stored nothing",
        first + 2,
        doc["pcf"]["pcfExcludingBiogenicUptake"]
            .as_str()
            .unwrap_or("?"),
        sig.key_id
    )?;

    let _ = stop_sejin.send(());
    let _ = sejin_task.await;
    let _ = stop_relay.send(());
    let _ = relay_task.await;
    Ok(())
}
