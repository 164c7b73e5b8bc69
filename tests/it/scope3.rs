//! Scope 3 and composition from footprints a live node received: the inbox feeds the
//! supplier-specific method, and a composed PCF publishes on the buyer's node.

use std::process::Command;

use node::pact::Status;
use node::service::client::{self, FetchWhat};
use node::store::SignatureStatus;
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
    // The steel footprint's parts are carried: 2 × 2.1 fossil + 1.0 own fossil.
    assert_eq!(composed["pcf"]["fossilGhgEmissions"], "5.2");
    assert_eq!(composed["pcf"]["pcfIncludingBiogenicUptake"], "5.2");
    let published = oem
        .node
        .publish(&composed.to_string())
        .expect("composed footprint publishes");
    assert_eq!(published.ids.len(), 1);
    // What a −2 kg component used to compose (−3.2 kgCO2e with fossilGhgEmissions 0) is
    // refused on publish: a total below its stated parts needs reported removals.
    let mut negative = composed.clone();
    negative["id"] = json!(uuid());
    negative["pcf"]["pcfExcludingBiogenicUptake"] = json!("-3.2");
    negative["pcf"]["pcfIncludingBiogenicUptake"] = json!("-3.2");
    negative["pcf"]["fossilGhgEmissions"] = json!("0");
    let err = oem
        .node
        .publish(&negative.to_string())
        .expect_err("a negative total without removals is refused")
        .to_string();
    assert!(err.contains("pcf-parts"), "{err}");
}

/// Runs `tanso` and returns (exit code, stdout, stderr).
fn tanso_fails(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tanso"))
        .args(args)
        .env_remove("TANSO_HOME")
        .output()
        .expect("run tanso");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_carbon_inputs_are_refused_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();

    // A ledger: a purchases header naming `quantity` twice (the last one used to win:
    // 10.5 t instead of 2,100 t), and in the same run a transport row that fails and one
    // whose factor does not exist.
    let ledger = dir.path().join("ledger");
    std::fs::create_dir(&ledger).unwrap();
    std::fs::write(
        ledger.join("purchases.csv"),
        "description,quantity,unit,material,quantity\nsteel,1000,t,steel,5\n",
    )
    .unwrap();
    std::fs::write(
        ledger.join("transport.csv"),
        "# inbound legs\ndescription,mass,mass_unit,distance,distance_unit,factor_id\n\
         leg a,-1,t,200,km,guide:truck\n\
         leg b,100,t,200,km,no:such-factor\n",
    )
    .unwrap();
    let (code, stdout, stderr) = tanso_fails(&[
        "scope3",
        "report",
        "--ledger",
        &ledger.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let purchases = d("ledger/purchases.csv");
    let transport = d("ledger/transport.csv");
    for want in [
        "3 ledger problem(s):".to_string(),
        format!("{purchases}:1:5: column `quantity`: duplicate column (first at column 2)"),
        format!("{transport}:3:2: column `mass`: `-1` is negative"),
        format!("{transport}:4:6: column `factor_id`: unknown factor id `no:such-factor`"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }

    // A BOM with a −2 kg component and a primaryDataShare of 150: both, at their place.
    let bom = r#"{"entries": [{
  "id": "bracket", "companyName": "c", "companyIds": ["urn:pact:c.example:company:1"],
  "productIds": ["urn:pact:c.example:product-id:bracket"], "productNameCompany": "Bracket",
  "declaredUnit": "piece", "declaredUnitAmount": "1", "productMassPerDeclaredUnit": "1.9",
  "referencePeriodStart": "2025-01-01T00:00:00Z", "referencePeriodEnd": "2026-01-01T00:00:00Z",
  "components": [{"description": "steel tube", "factorId": "guide:steel", "amount": "-2", "unit": "kilogram"}],
  "ownProcesses": [{"description": "welding", "emissionsKg": "1.0", "primaryDataShare": "150"}]
}]}
"#;
    std::fs::write(d("bom.json"), bom).unwrap();
    let out = d("bracket.json");
    let (code, stdout, stderr) =
        tanso_fails(&["pcf", "compose", "--bom", &d("bom.json"), "--out", &out]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let bom_file = d("bom.json");
    for want in [
        "2 bom problem(s):".to_string(),
        format!(
            "{bom_file}:6:85: entry `bracket`: /components/0 (steel tube): amount must be above 0, found -2"
        ),
        format!(
            "{bom_file}:7:89: entry `bracket`: /ownProcesses/0 (welding): primaryDataShare must be between 0 and 100, found 150"
        ),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
    assert!(!std::path::Path::new(&out).exists(), "nothing is written");

    // KPI measures: −2,000 kg collected (it became −5.5 t avoided) and an unknown
    // measure, both in one run.
    std::fs::write(
        d("ops.csv"),
        "period,measure,value,unit\n2025-01,collected_kg,-2000,kg\n2025-01,staff,3,persons\n",
    )
    .unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../kpi/esg-impact.toml");
    let (code, stdout, stderr) = tanso_fails(&[
        "kpi",
        "report",
        "--config",
        config,
        "--measures",
        &d("ops.csv"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let ops = d("ops.csv");
    for want in [
        "2 problem(s) in measures:".to_string(),
        format!(
            "{ops}:2:3: column `value`: -2000 is below the minimum 0 declared for `collected_kg`"
        ),
        format!("{ops}:3:2: column `measure`: `staff` is not declared in {config}"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
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

/// A received footprint the inbox knows to be superseded is not supplier data, even when its
/// signed document still says Active and its reference period ties with the newer one (the
/// index would otherwise keep whichever it met first).
#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_inbox_footprint_is_not_used() {
    let oem = TestNode::start("oem").await;
    let product = "urn:tanso:steel:product:coil";
    // Ids ordered so the old one is met first.
    let old_id = "00000000-0000-4000-8000-000000000001";
    let new_id = "ffffffff-ffff-4fff-bfff-ffffffffffff";
    let old = footprint("steel", old_id, product);
    let mut new = footprint("steel", new_id, product);
    new["pcf"]["pcfExcludingBiogenicUptake"] = "1.9".into();
    new["pcf"]["pcfIncludingBiogenicUptake"] = "1.9".into();
    new["pcf"]["fossilGhgEmissions"] = "1.9".into();
    new["precedingPfIds"] = json!([old_id]);
    let entry = |id: &str, doc: Value| node::store::InboxEntry {
        id: id.into(),
        document: doc,
        view: "full".into(),
        provenance: format!("node:{}", company("steel")),
        from_company: company("steel"),
        received_at: "2026-02-01T00:00:00Z".into(),
        signature_status: SignatureStatus::Verified,
        findings: Vec::new(),
        product_ids: vec![product.into()],
        status: Status::Active,
        superseded_by: None,
    };
    oem.node
        .store()
        .put_inbox(&[entry(old_id, old.clone())])
        .unwrap();
    oem.node
        .store()
        .put_inbox(&[entry(new_id, new.clone())])
        .unwrap();
    let inbox = oem.node.inbox().unwrap();
    let stored_old = inbox.iter().find(|e| e.id == old_id).unwrap();
    assert_eq!(stored_old.status, Status::Deprecated);
    assert_eq!(stored_old.document["status"], "Active");

    let index = node::scope3::SupplierIndex::new(node::scope3::inbox::suppliers(
        &oem.node.inbox().unwrap(),
    ));
    let (hit, ..) = index
        .lookup(product)
        .expect("the product has supplier data");
    assert_eq!(hit.footprint_id, new_id);
    assert_eq!(hit.pcf_excluding_biogenic_uptake.to_string(), "1.9");

    // A footprint whose owner signature failed is never supplier data.
    let mut bad = entry(new_id, new);
    bad.signature_status = SignatureStatus::BadSignature;
    oem.node.store().put_inbox(&[bad]).unwrap();
    let index = node::scope3::SupplierIndex::new(node::scope3::inbox::suppliers(
        &oem.node.inbox().unwrap(),
    ));
    assert!(index.lookup(product).is_none());
}

/// `tanso kpi monitor` on A Logistics: the inventory ledger, the measures per department and
/// team and the action plans give the guide's three views; `kpi report --inventory` takes
/// Scope 1 and 2 from the same ledger (one assembly for both commands and the dashboard).
#[test]
fn kpi_monitor_on_a_logistics() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/examples/a-logistics");
    let file = |name: &str| format!("{dir}/{name}");
    let (config, ledger, measures, plans) = (
        file("kpi.toml"),
        file("ledger"),
        file("measures.csv"),
        file("action-plans.csv"),
    );
    let base = [
        "kpi",
        "monitor",
        "--config",
        &config,
        "--inventory",
        &ledger,
        "--measures",
        &measures,
        "--plans",
        &plans,
    ];
    let report = tanso(&[&base[..], &["--format", "json"]].concat());
    assert_eq!(report["month"], "2024-12");
    // December 2024 on December 2023 (hand figures in node/calc/src/monitor/tests.rs).
    let ranking: Vec<(&str, &str)> = report["operational"]["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap(),
                d["change_vs_last_year_pct"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranking,
        [
            ("Warehousing", "-17.38"),
            ("Trunk haulage", "-12.28"),
            ("Last-mile delivery", "-11.84")
        ]
    );
    let june = tanso(&[&base[..], &["--month", "2024-06", "--format", "json"]].concat());
    assert_eq!(june["month"], "2024-06");
    assert_eq!(june["operational"]["action_plans"][3]["overdue"], false);
    let (code, _, stderr) = tanso_fails(&[&base[..], &["--month", "2031-01"]].concat());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("month 2031-01: no data (the data runs from 2022-01 to 2024-12)"),
        "{stderr}"
    );
    // The table names the views.
    let out = Command::new(env!("CARGO_BIN_EXE_tanso"))
        .args(base)
        .env_remove("TANSO_HOME")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Operational: department ranking"), "{table}");
    assert!(table.contains("OVERDUE"), "{table}");

    // kpi report: the year 2022 from the ledger alone (no hand-typed totals): 5,200 t.
    let year = tanso(&[
        "kpi",
        "report",
        "--config",
        &config,
        "--inventory",
        &ledger,
        "--period",
        "2022",
        "--format",
        "json",
    ]);
    let total = find_kpi(&year, "total_emissions_year").expect("kpi present");
    assert_eq!(total["value"], "5200000", "{total:#}");
}
