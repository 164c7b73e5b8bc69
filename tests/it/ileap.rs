//! iLEAP shipment footprints between live nodes: a carrier computes them from its legs file
//! and publishes them (idempotently, all or nothing), one policy lets each shipper read only
//! its own shipments over gRPC and the PACT REST API, the shipper's Scope 3 category 4 uses
//! the received figure as primary data, and a copy whose extension was changed fails `verify`.

use std::path::Path;

use node::pact::ileap;
use serde_json::Value;
use tests::{TestNode, befriend, company, policy_template, wait_for};

use crate::cli::{fails, ok};
use crate::pact_api::{Api, start_pact};

/// Runs `tanso` off the runtime's threads (the nodes it talks to run on them).
async fn tanso(args: Vec<String>, succeed: bool) -> String {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if succeed { ok(&args) } else { fails(&args) }
    })
    .await
    .expect("tanso ran")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Shipments of two shippers. Hand computation (DESNZ 2024 defaults, WTW = freight + WTT:
/// HGV 0.09752 + 0.02359 = 0.12111, rail 0.02779 + 0.00691 = 0.0347 kgCO2e/t·km):
/// S-A1 = 20 t × 250 km × 0.12111 + 20 t × 400 km × 1.05 × 0.0347 = 605.55 + 291.48
/// = 897.03 kg over 13,400 t·km; S-B1 = 5 × 100 × 0.12111 = 60.555 kg.
fn legs_csv() -> String {
    format!(
        "shipment_id,customer_id,month,mass_t,distance_km,distance_basis,adjustment,toc,origin,destination
S-A1,{a},2026-03,20,250,actual,,road-hgv-diesel-average,Busan,Daegu
S-A1,{a},2026-03,20,400,sfd,1.05,rail-freight,Daegu,Seoul
S-B1,{b},2026-04,5,100,actual,,road-hgv-diesel-average,,
",
        a = company("shipper-a"),
        b = company("shipper-b")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_serves_shipment_footprints_that_the_shippers_category_4_uses() {
    let files = tempfile::tempdir().unwrap();
    let (carrier, pact_addr) = start_pact("carrier", |_| {}).await;
    let shipper_a = TestNode::start("shipper-a").await;
    let shipper_b = TestNode::start("shipper-b").await;
    let carrier_home = carrier.home.display().to_string();
    let legs = write(files.path(), "legs.csv", &legs_csv());

    // The carrier's roll-up per shipment, customer and month.
    let json: Value = serde_json::from_str(
        &tanso(
            strings(&[
                "logistics",
                "shipments",
                "--legs",
                &legs,
                "--format",
                "json",
            ]),
            true,
        )
        .await,
    )
    .unwrap();
    assert_eq!(json["shipments"][0]["key"], "S-A1");
    assert_eq!(json["shipments"][0]["wtwKg"], "897.03");
    assert_eq!(json["shipments"][0]["tkm"], "13400");
    assert_eq!(json["customers"][0]["key"], company("shipper-a"));
    assert_eq!(json["months"][1]["key"], "2026-04");
    assert_eq!(json["total"]["wtwKg"], "957.585");
    let csv = tanso(
        strings(&["logistics", "shipments", "--legs", &legs, "--format", "csv"]),
        true,
    )
    .await;
    assert!(csv.contains("shipment,S-B1,1,500,60.555,48.76\n"), "{csv}");

    // A bad legs file is refused at file:line:column and nothing is stored.
    let bad = write(
        files.path(),
        "bad.csv",
        &legs_csv().replace(",5,100,", ",-5,100,"),
    );
    let err = tanso(
        strings(&[
            "logistics",
            "publish",
            "--home",
            &carrier_home,
            "--legs",
            &bad,
        ]),
        false,
    )
    .await;
    assert!(
        err.contains("bad.csv:4:4: column `mass_t`: -5 must be above 0"),
        "{err}"
    );
    assert!(carrier.node.footprints().unwrap().is_empty());

    // Publish: one owner-signed footprint per shipment; again: nothing changes.
    let out = tanso(
        strings(&[
            "logistics",
            "publish",
            "--home",
            &carrier_home,
            "--legs",
            &legs,
        ]),
        true,
    )
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("S-A1\t") && lines[0].ends_with("\tpublished"));
    let id_a = lines[0].split('\t').nth(1).unwrap().to_string();
    let again = tanso(
        strings(&[
            "logistics",
            "publish",
            "--home",
            &carrier_home,
            "--legs",
            &legs,
        ]),
        true,
    )
    .await;
    let unchanged: String = lines
        .iter()
        .map(|l| format!("{}\tunchanged\n", l.trim_end_matches("\tpublished")))
        .collect();
    assert_eq!(again, unchanged);
    assert_eq!(carrier.node.footprints().unwrap().len(), 2);

    // One generic policy; partners without groups.
    carrier
        .node
        .add_policy("ileap-shippers.json", &policy_template("ileap-shippers"))
        .unwrap();
    for s in [&shipper_a, &shipper_b] {
        befriend(&carrier, s, &[]);
        befriend(s, &carrier, &[]);
    }
    let product_a = ileap::product_id("S-A1");

    // Shipper A gets its shipment over signed gRPC; shipper B cannot read it.
    let got = node::service::client::fetch(
        &shipper_a.node,
        &company("carrier"),
        node::service::client::FetchWhat::Products(vec![product_a.clone()]),
        None,
    )
    .await
    .expect("shipper A fetches its shipment");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], id_a.as_str());
    let other = node::service::client::fetch(
        &shipper_b.node,
        &company("carrier"),
        node::service::client::FetchWhat::Products(vec![product_a.clone()]),
        None,
    )
    .await;
    assert!(other.is_err() || other.unwrap().is_empty());
    assert!(shipper_b.node.inbox().unwrap().is_empty());
    let b_own = node::service::client::fetch(
        &shipper_b.node,
        &company("carrier"),
        node::service::client::FetchWhat::Products(vec![ileap::product_id("S-B1")]),
        None,
    )
    .await
    .expect("shipper B fetches its own shipment");
    assert_eq!(b_own.len(), 1);

    // A request for a shipment is decided under the same policy: shipper A's is fulfilled,
    // shipper B's for A's shipment rejected.
    let send = |n: &TestNode| {
        n.node
            .send_request(
                &company("carrier"),
                vec![product_a.clone()],
                Vec::new(),
                "shipment footprint".into(),
                None,
            )
            .unwrap()
            .id
    };
    let (req_a, req_b) = (send(&shipper_a), send(&shipper_b));
    let status = |n: &TestNode, id: &str| {
        n.node
            .store()
            .outgoing_request(id)
            .unwrap()
            .map(|r| r.status.to_string())
            .unwrap_or_default()
    };
    wait_for("both requests answered", async || {
        (status(&shipper_a, &req_a) == "fulfilled" && status(&shipper_b, &req_b) == "rejected")
            .then_some(())
    })
    .await;
    assert!(shipper_b.node.inbox().unwrap().iter().all(|e| e.id != id_a));

    // Shipper A's inbox keeps it, signature verified, with the iLEAP extension.
    let inbox = shipper_a.node.inbox().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        inbox[0].signature_status,
        node::store::SignatureStatus::Verified
    );
    let exts = inbox[0].document["extensions"].as_array().unwrap();
    assert!(
        exts.iter()
            .any(|e| e["dataSchema"] == ileap::SHIPMENT_SCHEMA)
    );

    // Shipper A's Scope 3 category 4: S-A1 from the carrier (897.03 kg, primary), its other
    // leg by default: 2 t × 50 km = 100 t·km × 0.08 (transport:truck) = 8 kg.
    // Category 4 = 905.03 kg; primary share 897.03 / 905.03 × 100 = 99.116… %.
    let ledger_dir = files.path().join("ledger");
    std::fs::create_dir(&ledger_dir).unwrap();
    write(
        &ledger_dir,
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit,shipment_id\n\
         coils from Busan,truck,20,t,650,km,S-A1\n\
         samples,truck,2,t,50,km,\n",
    );
    let report: Value = serde_json::from_str(
        &tanso(
            strings(&[
                "scope3",
                "report",
                "--home",
                &shipper_a.home.display().to_string(),
                "--ledger",
                &ledger_dir.display().to_string(),
                "--format",
                "json",
            ]),
            true,
        )
        .await,
    )
    .unwrap();
    assert_eq!(report["categories"][3]["emissions"]["kg"], "905.03");
    assert_eq!(report["categories"][3]["primary"]["kg"], "897.03");
    let line = &report["lines"][0];
    assert_eq!(line["method"], "SupplierSpecific");
    assert_eq!(
        line["sub_activity"],
        "supplier-specific shipment footprint (iLEAP ShipmentFootprint, ISO 14083:2023 well-to-wheel)"
    );
    assert_eq!(line["factor_id"], format!("pcf:{id_a}"));
    assert!(
        line["source"]["source"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "footprint {id_a} from carrier {}: shipment S-A1",
                company("carrier")
            )),
        "{line}"
    );
    assert!(
        report["primary_data_share_pct"]
            .as_str()
            .unwrap()
            .starts_with("99.116"),
        "{}",
        report["primary_data_share_pct"]
    );

    // The PACT REST API returns the footprint with its extensions intact, to shipper A only.
    let home = node::home::Home::new(carrier.home.clone());
    let (a_id, a_secret) =
        node::pact_api::add_client(&home, &company("shipper-a"), Vec::new()).unwrap();
    let (b_id, b_secret) =
        node::pact_api::add_client(&home, &company("shipper-b"), Vec::new()).unwrap();
    let api = Api::of(&carrier, pact_addr);
    let token = api.token(&a_id, &a_secret).await;
    let r = api.get(&format!("/3/footprints/{id_a}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    let ext = v["data"]["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dataSchema"] == ileap::SHIPMENT_SCHEMA)
        .cloned()
        .expect("iLEAP extension over REST");
    assert_eq!(ext["specVersion"], "2.0.0");
    assert_eq!(ext["data"]["shipmentId"], "S-A1");
    assert_eq!(ext["data"]["tces"][1]["co2eWTW"], "291.48");
    assert_eq!(
        v["data"]["pcf"]["declaredUnitOfMeasurement"],
        "ton kilometer"
    );
    let token_b = api.token(&b_id, &b_secret).await;
    let r = api.get(&format!("/3/footprints/{id_a}"), &token_b).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // The received document verifies; with its ShipmentFootprint changed, it does not.
    let doc = inbox[0].document.clone();
    let good = write(files.path(), "received.json", &doc.to_string());
    tanso(strings(&["verify", &good]), true).await;
    let mut tampered = doc;
    for e in tampered["extensions"].as_array_mut().unwrap() {
        if e["dataSchema"] == ileap::SHIPMENT_SCHEMA {
            e["data"]["tces"][0]["co2eWTW"] = "1".into();
        }
    }
    let bad = write(files.path(), "tampered.json", &tampered.to_string());
    let err = tanso(strings(&["verify", &bad]), false).await;
    assert!(!err.is_empty());

    assert!(carrier.node.audit_verify().unwrap().ok);
}
