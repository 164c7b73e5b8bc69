//! EU CBAM records between live nodes: a precursor supplier's record rolls into the
//! operator's figure, the importer asks for the operator's record through the ordinary
//! request under a policy, declares it, and a record changed after receipt fails `verify`.

use std::path::Path;

use node::cbam::exchange;
use node::store::SignatureStatus;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid, wait_for};

use crate::cli::{fails, ok};

const INSTALLATION: &str = r#"
[installation]
name = "NAME"
installationId = "INST"
country = "KR"
[installation.operator]
name = "NAME Co."
country = "KR"

[period]
start = "2026-01-01"
end = "2026-12-31"
"#;

fn installation(name: &str, id: &str) -> String {
    INSTALLATION.replace("NAME", name).replace("INST", id)
}

/// Runs `tanso` off the runtime's threads (the nodes it talks to run on them).
async fn tanso_ok(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args)
    })
    .await
    .expect("tanso ran")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn home(n: &TestNode) -> String {
    n.home.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbam_record_rolls_up_travels_under_policy_and_is_declared() {
    let files = tempfile::tempdir().unwrap();
    let iron = TestNode::start("iron").await;
    let steel = TestNode::start("steel").await;
    let importer = TestNode::start("importer").await;

    // The precursor supplier publishes its pig iron footprint, then its CBAM record on it.
    // Hand computation: coke 100,000 t × 0.0282 TJ/t × 94.6 t CO2/TJ = 266,772 t CO2;
    // / 150,000 t pig iron = 1.77848 t CO2e/t direct; 30,000 MWh × 0.6 / 150,000 = 0.12.
    let iron_fp = uuid();
    iron.node
        .publish(&footprint("iron", &iron_fp, "urn:tanso:iron:product:pig-iron").to_string())
        .unwrap();
    let iron_toml = installation("Ironworks", "KR-INST-0900")
        + &format!(
            r#"
[[sourceStreams]]
name = "coke"
kind = "fuel"
activity = "100000"
ncv = "0.0282"
fuelFactor = "94.6"
source = "IPCC 2006 Vol. 2 Table 1.4"

[[processes]]
name = "blast furnace"
goods = [{{ cnCode = "72011011", produced = "150000", footprintId = "{iron_fp}" }}]
streams = [{{ name = "coke" }}]
electricity = {{ consumed = "30000", factor = "0.6", source = "KPX grid mix 2025" }}
"#
        );
    let iron_monitoring = write(files.path(), "iron.toml", &iron_toml);
    let out = tanso_ok(vec![
        "cbam".into(),
        "publish".into(),
        "--home".into(),
        home(&iron),
        "--monitoring".into(),
        iron_monitoring,
    ])
    .await;
    let iron_record = "urn:tanso:cbam:KR-INST-0900:72011011:2026-01-01:2026-12-31";
    assert!(out.starts_with(&format!("{iron_record}\t")), "{out}");

    // The steel operator receives it (iron shares with customers) ...
    iron.node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    befriend(&iron, &steel, &["customer"]);
    befriend(&steel, &iron, &[]);
    node::service::client::fetch(
        &steel.node,
        &company("iron"),
        node::service::client::FetchWhat::Products(vec!["urn:tanso:iron:product:pig-iron".into()]),
        None,
    )
    .await
    .expect("steel fetches the pig iron footprint");

    // ... and its own record rolls the received one up by mass.
    // Mass balance 3.664 × (45,000 × 0.045 − 50,000 × 0.002) = 3.664 × 1,925 = 7,053.2 t;
    // BOF gas exported 60 TJ × 56.1 × 0.35 / 0.525 = 2,244 t; AttrEm_dir = 4,809.2 t.
    // Pig iron from the record: 45,000 t × 1.77848 = 80,031.6 t direct, × 0.12 = 5,400 t.
    // SEE_dir = (4,809.2 + 80,031.6) / 50,000 = 1.696816; SEE_ind = (2,500 + 5,400) / 50,000
    // = 0.158.
    let steel_fp = uuid();
    steel
        .node
        .publish(&footprint("steel", &steel_fp, "urn:tanso:steel:product:slab").to_string())
        .unwrap();
    let steel_toml = installation("Pohang Works", "KR-INST-0001")
        + &format!(
            r#"
[[sourceStreams]]
name = "hot metal carbon"
kind = "mass-balance"
activity = "45000"
carbonContent = "0.045"
direction = "input"
source = "laboratory analysis"

[[sourceStreams]]
name = "crude steel carbon"
kind = "mass-balance"
activity = "50000"
carbonContent = "0.002"
direction = "output"
source = "laboratory analysis"

[[processes]]
name = "BOF steelmaking"
route = "BF-BOF"
goods = [{{ cnCode = "72071111", produced = "50000", footprintId = "{steel_fp}" }}]
streams = [{{ name = "hot metal carbon" }}, {{ name = "crude steel carbon" }}]
wasteGasExported = "60"
electricity = {{ consumed = "5000", factor = "0.5", source = "KPX grid mix 2025" }}
precursors = [{{ cnCode = "72011011", mass = "45000", from = "record", recordId = "{iron_record}", origin = "KR" }}]
"#
        );
    let steel_monitoring = write(files.path(), "steel.toml", &steel_toml);
    tanso_ok(vec![
        "cbam".into(),
        "publish".into(),
        "--home".into(),
        home(&steel),
        "--monitoring".into(),
        steel_monitoring,
    ])
    .await;

    // The importer asks through the ordinary request, under a CBAM policy of the operator.
    let policy = r#"{"uid": "urn:test:cbam", "permission": [{"action": "use", "view": "full",
        "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "importer"},
                       {"leftOperand": "purpose", "operator": "eq", "rightOperand": "cbam"}]}]}"#;
    steel.node.add_policy("cbam.json", policy).unwrap();
    befriend(&steel, &importer, &["importer"]);
    befriend(&importer, &steel, &[]);
    tanso_ok(vec![
        "cbam".into(),
        "request".into(),
        "--home".into(),
        home(&importer),
        "--partner".into(),
        company("steel"),
        "--product-id".into(),
        "urn:tanso:steel:product:slab".into(),
    ])
    .await;
    let entry = wait_for(
        "the operator's record in the importer's inbox",
        async || {
            importer
                .node
                .inbox()
                .unwrap()
                .into_iter()
                .find(|e| exchange::records_in(&e.document).is_ok_and(|r| !r.is_empty()))
        },
    )
    .await;
    assert_eq!(entry.signature_status, SignatureStatus::Verified);
    let records = exchange::records_in(&entry.document).unwrap();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.direct.value.0.to_string(), "1.696816");
    assert_eq!(rec.indirect.value.0.to_string(), "0.158");
    assert_eq!(rec.precursors[0].record_id.as_deref(), Some(iron_record));
    assert_eq!(rec.precursors[0].direct.value.0.to_string(), "1.77848");

    // `cbam records` lists it; the declaration includes it.
    // 200 t × 1.696816 = 339.3632 → 339.363 t CO2e counted (steel: direct only).
    let listed: serde_json::Value = serde_json::from_str(
        &tanso_ok(vec![
            "cbam".into(),
            "records".into(),
            "--home".into(),
            home(&importer),
        ])
        .await,
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let ledger = write(
        files.path(),
        "imports.csv",
        "cn_code,quantity_t,country,installation_id,import_date\n\
         72071111,200,KR,KR-INST-0001,2026-04-01\n",
    );
    let decl: serde_json::Value = serde_json::from_str(
        &tanso_ok(vec![
            "cbam".into(),
            "declaration".into(),
            "--home".into(),
            home(&importer),
            "--year".into(),
            "2026".into(),
            "--ledger".into(),
            ledger,
        ])
        .await,
    )
    .unwrap();
    let line = &decl["lines"][0];
    assert_eq!(line["counted"], "339.363");
    assert_eq!(line["actualSharePct"], "100");
    assert_eq!(
        line["records"][0],
        "urn:tanso:cbam:KR-INST-0001:72071111:2026-01-01:2026-12-31"
    );
    assert!(decl["chase"].as_array().unwrap().is_empty());

    // The received document verifies; changed after receipt, it does not.
    let good = write(files.path(), "received.json", &entry.document.to_string());
    tokio::task::spawn_blocking(move || ok(&["verify", &good]))
        .await
        .unwrap();
    let mut tampered = entry.document.clone();
    let exts = tampered["extensions"].as_array_mut().unwrap();
    let cbam = exts
        .iter_mut()
        .find(|e| e["dataSchema"] == exchange::EXTENSION_SCHEMA)
        .unwrap();
    cbam["data"]["records"][0]["direct"]["value"] = "0.5".into();
    let bad = write(files.path(), "tampered.json", &tampered.to_string());
    let err = tokio::task::spawn_blocking(move || fails(&["verify", &bad]))
        .await
        .unwrap();
    assert!(!err.is_empty());

    assert!(steel.node.audit_verify().unwrap().ok);
    assert!(iron.node.audit_verify().unwrap().ok);
}
