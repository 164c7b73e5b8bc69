//! Scope 3 and composition from footprints a live node received: the inbox feeds the
//! supplier-specific method, and a composed PCF publishes on the buyer's node.

use std::process::Command;

use node::service::client::{self, FetchWhat};
use serde_json::{Value, json};
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

fn tanso(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tanso"))
        .args(args)
        .env_remove("TANSO_HOME")
        .output()
        .expect("run tanso");
    assert!(
        out.status.success(),
        "tanso {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

/// The OEM node holding the steel supplier's coil footprint (2.1 kgCO2e per kg) in its inbox.
async fn oem_with_steel_footprint() -> (TestNode, TestNode) {
    let steel = TestNode::start("steel").await;
    steel
        .node
        .publish(&footprint("steel", &uuid(), "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec!["urn:tanso:steel:product:coil".into()]),
        Some("scope3-reporting"),
    )
    .await
    .unwrap();
    (steel, oem)
}

#[tokio::test(flavor = "multi_thread")]
async fn category_1_uses_the_received_supplier_footprint() {
    let (_steel, oem) = oem_with_steel_footprint().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("purchases.csv"),
        "description,supplier_company_id,product_id,quantity,unit,material\n\
         Coil from Steel,urn:tanso:company:steel,urn:tanso:steel:product:coil,1000,t,\n\
         Unknown coil,,,10,t,steel\n",
    )
    .unwrap();
    let home = oem.home.display().to_string();
    let ledger = dir.path().display().to_string();
    let report = tokio::task::spawn_blocking(move || {
        tanso(&[
            "scope3", "report", "--home", &home, "--ledger", &ledger, "--format", "json",
        ])
    })
    .await
    .unwrap();
    let lines = report["lines"].as_array().expect("lines");
    let supplier = lines
        .iter()
        .find(|l| l["method"] == "SupplierSpecific")
        .expect("a supplier-specific line from the inbox");
    // 1,000 t = 1,000,000 kg × 2.1 kgCO2e/kg = 2,100,000 kgCO2e = 2,100 tCO2e, exactly.
    assert_eq!(supplier["emissions"]["kg"], "2100000", "{supplier:#}");
    let average = lines.iter().find(|l| l["method"] == "AverageData").unwrap();
    assert_eq!(average["emissions"]["kg"], "21000");
    // Primary-data share: 2,100,000 / 2,121,000.
    let pds = report["primary_data_share_pct"].as_str().unwrap();
    assert!(pds.starts_with("99.0"), "{pds}");
}

#[tokio::test(flavor = "multi_thread")]
async fn composed_pcf_from_the_inbox_publishes_on_the_buyers_node() {
    let (_steel, oem) = oem_with_steel_footprint().await;
    let dir = tempfile::tempdir().unwrap();
    let bom = json!({
        "entries": [{
            "id": "bracket",
            "companyName": "oem",
            "companyIds": [company("oem")],
            "productIds": ["urn:tanso:oem:product:bracket"],
            "productNameCompany": "Bracket",
            "productDescription": "Welded steel bracket",
            "declaredUnit": "piece",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1.9",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "components": [{"productId": "urn:tanso:steel:product:coil", "amount": "2", "unit": "kilogram"}],
            "ownProcesses": [{"description": "welding (metered)", "emissionsKg": "1.0", "primaryDataShare": "100",
                "dqi": {"technologicalDQR": "1", "geographicalDQR": "1", "temporalDQR": "1"}}]
        }]
    });
    let bom_path = dir.path().join("bom.json");
    std::fs::write(&bom_path, bom.to_string()).unwrap();
    let out_path = dir.path().join("bracket.json");
    let home = oem.home.display().to_string();
    let (b, o) = (
        bom_path.display().to_string(),
        out_path.display().to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_tanso"))
            .args(["pcf", "compose", "--home", &home, "--bom", &b, "--out", &o])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .unwrap();
    let composed: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    // The carbon.md composition example: 2 kg × 2.1 + 1.0 = 5.2; PDS (4.2×0.6 + 1.0)/5.2.
    assert_eq!(composed["pcf"]["pcfExcludingBiogenicUptake"], "5.2");
    assert_eq!(composed["pcf"]["primaryDataShare"], "67.69");
    assert_eq!(composed["pcf"]["dqi"]["technologicalDQR"], "1.808");
    let published = oem
        .node
        .publish(&composed.to_string())
        .expect("composed footprint publishes");
    assert_eq!(published.ids.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kpi_report_takes_the_nodes_own_exchange_statistics() {
    let (steel, _oem) = oem_with_steel_footprint().await;
    let home = steel.home.display().to_string();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../kpi/logistics.toml");
    let report = tokio::task::spawn_blocking(move || {
        tanso(&[
            "kpi", "report", "--home", &home, "--config", config, "--format", "json",
        ])
    })
    .await
    .unwrap();
    // One permitted fetch this month, from the supplier's audit log.
    let served = find_kpi(&report, "pcf_requests_served").expect("kpi present");
    assert_eq!(served["value"], "1", "{served:#}");
}

fn find_kpi<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => {
            if m.get("name").and_then(Value::as_str) == Some(name) && m.contains_key("value") {
                return Some(v);
            }
            m.values().find_map(|x| find_kpi(x, name))
        }
        Value::Array(a) => a.iter().find_map(|x| find_kpi(x, name)),
        _ => None,
    }
}
