//! The demo's hosted part: an association runs one `tanso host` for three small suppliers with
//! no server of their own. Each is a whole node (own key, store, policies, audit chain) behind
//! the host's one port; the OEM fetches from each as from any node, and nothing of one
//! supplier is reachable through another.

use std::io::Write;

use tokio::sync::oneshot;

use tanso_core::node::Node;
use tanso_grpc::client::{self, FetchWhat};

use super::DemoError;
use crate::host::{Host, HostHome, HostListeners, RawHostConfig, TenantSpec};

const SHARE_WITH_CUSTOMERS: &str = include_str!("../../../../policies/share-with-customers.json");

/// The three small suppliers: (slug, name, product, kg CO2e per kg).
const SUPPLIERS: [(&str, &str, &str, &str); 3] = [
    ("jinsung-bolts", "Jinsung Bolts", "m8-bolt", "3.10"),
    ("haneul-paint", "Haneul Paint", "primer-2k", "4.75"),
    ("mirae-rubber", "Mirae Rubber", "door-seal", "2.60"),
];

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// Runs the hosted part: `oem` fetches from three tenants of one host; `template` is a sample
/// footprint each supplier re-labels as its own.
pub(super) async fn run(
    out: &mut dyn Write,
    dir: &std::path::Path,
    oem: &Node,
    template: &str,
) -> Result<(), DemoError> {
    writeln!(
        out,
        "\nPart four: the association hosts nodes for small members who run no server"
    )?;
    let home = HostHome::new(dir.join("association-host"));
    let mut raw = RawHostConfig::parse("", "host.toml").map_err(step)?;
    raw.listen = Some("127.0.0.1:0".into());
    home.init(&raw).map_err(step)?;
    let host = Host::open(home, None).map_err(step)?;
    let listeners = HostListeners::bind(&host).await.map_err(step)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = host.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = crate::host::run(served, listeners, async move {
            let _ = stopped.await;
        })
        .await
        {
            tracing::warn!(error = %e, "demo host failed");
        }
    });

    let oem_card = serde_json::to_string(&oem.card()?).map_err(step)?;
    let mut ids = Vec::new();
    for (slug, name, product, value) in SUPPLIERS {
        let company_id = format!("urn:tanso:company:{slug}");
        host.add(TenantSpec {
            company_id: company_id.clone(),
            name: name.to_string(),
            slug: None,
            quotas: None,
        })
        .await
        .map_err(step)?;
        let lease = host.operate(slug).await.map_err(step)?;
        let tenant = lease.node();
        let mut doc: serde_json::Value = serde_json::from_str(template).map_err(step)?;
        let product_id = format!("urn:tanso:{slug}:product:{product}");
        doc["id"] = uuid::Uuid::new_v4().to_string().into();
        doc["companyName"] = name.into();
        doc["companyIds"] = serde_json::json!([company_id]);
        doc["productIds"] = serde_json::json!([product_id]);
        doc["productNameCompany"] = product.into();
        for field in [
            "pcfExcludingBiogenicUptake",
            "pcfIncludingBiogenicUptake",
            "fossilGhgEmissions",
        ] {
            doc["pcf"][field] = value.into();
        }
        let id = tenant.publish(&doc.to_string())?.ids[0].to_string();
        tenant.add_policy("policies/share-with-customers.json", SHARE_WITH_CUSTOMERS)?;
        tenant.add_partner(&oem_card, vec!["customer".into()])?;
        let card = tenant.card()?;
        oem.add_partner(&serde_json::to_string(&card).map_err(step)?, Vec::new())?;
        writeln!(
            out,
            "H{}. {name} is a tenant of the host: its own key {} (sealed at rest in the host's home), store and audit chain; its card advertises the host's endpoint {} and certificate {}…",
            ids.len() + 1,
            card.key_id,
            card.endpoint,
            &card.tls_fingerprint[..16]
        )?;
        ids.push((slug, company_id, product_id, id));
    }
    for (n, (slug, company_id, product_id, id)) in ids.iter().enumerate() {
        let got = client::fetch(
            oem,
            company_id,
            FetchWhat::Products(vec![product_id.clone()]),
            Some("scope3-reporting"),
        )
        .await?;
        let doc = got
            .first()
            .ok_or_else(|| step(format!("{slug} disclosed nothing")))?;
        if doc["id"] != id.as_str() {
            return Err(step(format!("{slug} answered another footprint")));
        }
        tanso_core::signed::verify_document(doc).map_err(step)?;
        writeln!(
            out,
            "H{}. Daehan Motors fetches {} from {} through the host's one port: {} kgCO2e/kg, owner signature verified",
            SUPPLIERS.len() + n + 1,
            product_id.rsplit(':').next().unwrap_or(product_id),
            company_id,
            doc["pcf"]["pcfExcludingBiogenicUptake"]
                .as_str()
                .unwrap_or("?"),
        )?;
    }
    // Asking one tenant for another's footprint finds nothing: each answers from its own store.
    let (_, first, _, _) = &ids[0];
    let (_, _, _, other_id) = &ids[1];
    let guessed = client::fetch(oem, first, FetchWhat::Id(other_id.clone()), None).await;
    if guessed.is_ok_and(|docs| !docs.is_empty()) {
        return Err(step("a tenant disclosed another tenant's footprint"));
    }
    let mut entries = Vec::new();
    for (slug, ..) in &ids {
        let lease = host.operate(slug).await.map_err(step)?;
        entries.push(lease.node().audit_verify()?.entries);
    }
    writeln!(
        out,
        "H{}. Asked through {first} for {other_id} (another tenant's), the host finds nothing: each tenant answers from its own store, and each keeps its own audit chain ({} entries)",
        2 * SUPPLIERS.len() + 1,
        entries
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let _ = stop.send(());
    let _ = task.await;
    Ok(())
}
