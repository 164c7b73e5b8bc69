//! The same decisions on every door: one policy table (partner, group, purpose, date window,
//! product, view, daily cap) run through gRPC and through PACT REST by the same partner
//! company gives the same disclosures and the same audit entries, and a reader on either
//! door is recorded as a recipient, so an update of the product notifies it.

use std::collections::BTreeSet;
use std::time::Duration;

use node::service::client::PeerClient;
use node::store::OutgoingRequest;
use proto::pb;
use serde_json::{Value, json};
use tests::{TestNode, befriend, company, footprint, uuid};

use crate::pact_api::{Api, EVENTS_CT, start_pact};

const COIL: &str = "urn:tanso:steel:product:coil";
const SHEET: &str = "urn:tanso:steel:product:sheet";
const GRPC_ONLY: &str = "urn:tanso:steel:product:read-over-grpc";
const PACT_ONLY: &str = "urn:tanso:steel:product:read-over-pact";

/// What one read disclosed: nothing (a denial reads as not found), or the footprints' ids
/// with the view each was sent in.
type Disclosed = Option<BTreeSet<(String, String)>>;

/// The parts of an audit entry both doors must agree on (the method names the door).
fn decided(entry: &Value) -> Value {
    json!({
        "caller": entry["caller"],
        "decision": entry["decision"],
        "targets": entry["targets"],
        "rule": entry["rule"],
        "reason": entry["reason"],
    })
}

fn audit(tn: &TestNode) -> Vec<Value> {
    let mut out = Vec::new();
    tn.node.audit_export(&mut out).expect("audit export");
    String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit json"))
        .collect()
}

fn last_audit(tn: &TestNode) -> Value {
    audit(tn).pop().expect("an audit entry")
}

/// One read policy: `uid` with one permission of `view` under `constraints` (and the
/// prohibitions given).
fn policy(view: &str, constraints: Value, prohibitions: Value) -> String {
    json!({
        "uid": "urn:tanso:policy:table",
        "permission": [{ "action": "use", "view": view, "constraint": constraints }],
        "prohibition": prohibitions,
    })
    .to_string()
}

fn constraint(left: &str, op: &str, right: Value) -> Value {
    json!({ "leftOperand": left, "operator": op, "rightOperand": right })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Doors {
    steel: TestNode,
    oem: TestNode,
    api: Api,
    token: String,
}

impl Doors {
    async fn grpc(&self, purpose: Option<&str>) -> PeerClient {
        PeerClient::for_partner(&self.oem.node, &company("steel"), purpose).expect("peer client")
    }

    /// The query suffix carrying `purpose` over PACT.
    fn purpose_query(purpose: Option<&str>, first: bool) -> String {
        match purpose {
            Some(p) => format!(
                "{}x-tanso-purpose={}",
                if first { '?' } else { '&' },
                encode(p)
            ),
            None => String::new(),
        }
    }

    async fn grpc_get(&self, id: &str, purpose: Option<&str>) -> Disclosed {
        let got = self.grpc(purpose).await.get(id).await.ok()?;
        Some(BTreeSet::from([grpc_item(&got)]))
    }

    async fn grpc_list(&self, product: Option<&str>, purpose: Option<&str>) -> Disclosed {
        let request = pb::ListFootprintsRequest {
            product_id: product.map(|p| vec![p.to_string()]).unwrap_or_default(),
            ..Default::default()
        };
        let (items, withheld) = self
            .grpc(purpose)
            .await
            .list_all(request)
            .await
            .expect("list");
        assert!(withheld.is_empty());
        let items: BTreeSet<_> = items.iter().map(grpc_item).collect();
        (!items.is_empty()).then_some(items)
    }

    async fn pact_get(&self, id: &str, purpose: Option<&str>) -> Disclosed {
        let path = format!("/3/footprints/{id}{}", Doors::purpose_query(purpose, true));
        let r = self.api.get(&path, &self.token).await;
        if r.status == 404 {
            return None;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json().expect("json");
        Some(BTreeSet::from([pact_item(&v["data"])]))
    }

    async fn pact_list(&self, product: Option<&str>, purpose: Option<&str>) -> Disclosed {
        let mut path = "/3/footprints?limit=100".to_string();
        if let Some(p) = product {
            path.push_str(&format!("&productId={}", encode(p)));
        }
        path.push_str(&Doors::purpose_query(purpose, false));
        let r = self.api.get(&path, &self.token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.header("link").is_none(),
            "one page holds the table's footprints"
        );
        let v = r.json().expect("json");
        let items: BTreeSet<_> = v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(pact_item)
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

fn grpc_item(fp: &pb::SignedFootprint) -> (String, String) {
    match fp.view.as_ref().expect("a view") {
        pb::signed_footprint::View::Full(f) => (f.id.clone(), "full".into()),
        pb::signed_footprint::View::Summary(s) => (s.id.clone(), "summary".into()),
    }
}

fn pact_item(doc: &Value) -> (String, String) {
    let id = doc["id"].as_str().expect("id").to_ascii_lowercase();
    let (_, sig) = node::signed::detach(doc.clone()).expect("detach");
    (id, sig.expect("signed").view)
}

/// A supplier `steel` serving gRPC and PACT, and its partner `oem` (group `customer`), who
/// also holds a PACT client of steel for its own company.
async fn doors() -> Doors {
    let (steel, addr) = start_pact("steel", |_| {}).await;
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    let home = node::home::Home::new(&steel.home);
    let (id, secret) =
        node::pact_api::add_client(&home, &company("oem"), Vec::new()).expect("client");
    let api = Api::of(&steel, addr);
    let token = api.token(&id, &secret).await;
    Doors {
        steel,
        oem,
        api,
        token,
    }
}

fn publish(tn: &TestNode, product: &str) -> String {
    let id = uuid();
    tn.node
        .publish(&footprint("steel", &id, product).to_string())
        .expect("publish");
    id
}

/// Replaces steel's policies with `source`.
fn set_policy(tn: &TestNode, source: &str) {
    for p in tn.node.policies().expect("policies") {
        tn.node.remove_policy(&p.uid).expect("remove policy");
    }
    tn.node.add_policy("table.json", source).expect("policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_policy_table_decides_the_same_on_grpc_and_pact() {
    let d = doors().await;
    let coil = publish(&d.steel, COIL);
    let sheet = publish(&d.steel, SHEET);
    let oem = company("oem");
    let none = json!([]);
    let window = |from: &str, to: &str| {
        json!([
            constraint("dateTime", "gteq", json!(from)),
            constraint("dateTime", "lt", json!(to)),
        ])
    };
    // (row, policy, purpose, whether the row discloses anything)
    let table: Vec<(&str, String, Option<&str>, bool)> = vec![
        (
            "partner",
            policy(
                "full",
                json!([constraint("partnerId", "eq", json!(oem))]),
                none.clone(),
            ),
            None,
            true,
        ),
        (
            "other partner",
            policy(
                "full",
                json!([constraint("partnerId", "eq", json!(company("stranger")))]),
                none.clone(),
            ),
            None,
            false,
        ),
        (
            "group",
            policy(
                "full",
                json!([constraint("partnerGroup", "eq", json!("customer"))]),
                none.clone(),
            ),
            None,
            true,
        ),
        (
            "other group",
            policy(
                "full",
                json!([constraint("partnerGroup", "eq", json!("prospect"))]),
                none.clone(),
            ),
            None,
            false,
        ),
        (
            "purpose declared",
            policy(
                "full",
                json!([constraint("purpose", "eq", json!("cbam"))]),
                none.clone(),
            ),
            Some("cbam"),
            true,
        ),
        (
            "purpose absent",
            policy(
                "full",
                json!([constraint("purpose", "eq", json!("cbam"))]),
                none.clone(),
            ),
            None,
            false,
        ),
        (
            "purpose prohibited",
            policy(
                "full",
                json!([]),
                json!([{ "action": "use", "constraint": [constraint("purpose", "eq", json!("marketing"))] }]),
            ),
            Some("marketing"),
            false,
        ),
        (
            "date window open",
            policy(
                "full",
                window("2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"),
                none.clone(),
            ),
            None,
            true,
        ),
        (
            "date window closed",
            policy(
                "full",
                window("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
                none.clone(),
            ),
            None,
            false,
        ),
        (
            "product",
            policy(
                "full",
                json!([constraint("productId", "eq", json!(COIL))]),
                none.clone(),
            ),
            None,
            true,
        ),
        (
            "summary view",
            policy("summary", json!([]), none.clone()),
            None,
            true,
        ),
        (
            "daily cap reached",
            policy(
                "full",
                json!([constraint("dailyCount", "lteq", json!(1))]),
                none.clone(),
            ),
            None,
            false,
        ),
        (
            "daily cap with room",
            policy(
                "full",
                json!([constraint("dailyCount", "lteq", json!(100_000))]),
                none.clone(),
            ),
            None,
            true,
        ),
    ];
    for (row, source, purpose, discloses) in &table {
        set_policy(&d.steel, source);
        let reads: [(&str, Option<&str>, Option<&str>); 4] = [
            ("get coil", Some(coil.as_str()), None),
            ("get sheet", Some(sheet.as_str()), None),
            ("list all", None, None),
            ("list sheet", None, Some(SHEET)),
        ];
        let mut disclosed_any = false;
        for (read, id, product) in reads {
            let grpc = match id {
                Some(id) => d.grpc_get(id, *purpose).await,
                None => d.grpc_list(product, *purpose).await,
            };
            let grpc_audit = last_audit(&d.steel);
            let pact = match id {
                Some(id) => d.pact_get(id, *purpose).await,
                None => d.pact_list(product, *purpose).await,
            };
            let pact_audit = last_audit(&d.steel);
            assert_eq!(
                grpc, pact,
                "{row}, {read}: the same footprints on both doors"
            );
            assert_eq!(
                decided(&grpc_audit),
                decided(&pact_audit),
                "{row}, {read}: the same audit entry on both doors"
            );
            assert_ne!(grpc_audit["method"], pact_audit["method"], "{row}, {read}");
            disclosed_any |= grpc.is_some();
        }
        assert_eq!(disclosed_any, *discloses, "{row}");
    }

    // A footprint request: decided under the same `request` policy, purpose included.
    set_policy(
        &d.steel,
        &json!({
            "uid": "urn:tanso:policy:requests",
            "permission": [{
                "action": "request", "view": "summary",
                "constraint": [constraint("purpose", "eq", json!("cbam"))],
            }],
        })
        .to_string(),
    );
    for purpose in [Some("cbam"), None, Some("marketing")] {
        let request = OutgoingRequest {
            id: uuid(),
            to: company("steel"),
            product_ids: vec![COIL.into()],
            classifications: Vec::new(),
            comment: "for our LCA".into(),
            purpose: purpose.map(str::to_string),
            status: node::store::RequestState::Queued,
            footprint_ids: Vec::new(),
            reason: None,
            created_at: "2026-03-01T00:00:00Z".into(),
            updated_at: "2026-03-01T00:00:00Z".into(),
            pact_url: None,
        };
        d.grpc(purpose)
            .await
            .create_request(&request)
            .await
            .expect("create request");
        let grpc_audit = last_audit(&d.steel);
        let event = json!({
            "specversion": "1.0",
            "id": uuid(),
            "source": "https://oem.example",
            "time": "2026-03-01T00:00:00Z",
            "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
            "data": {"productId": [COIL], "comment": "for our LCA"},
        });
        let r = d
            .api
            .event_at(
                &format!("/3/events{}", Doors::purpose_query(purpose, true)),
                &d.token,
                EVENTS_CT,
                event.to_string().as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let pact_audit = last_audit(&d.steel);
        for field in ["caller", "decision", "rule", "reason"] {
            assert_eq!(
                grpc_audit[field], pact_audit[field],
                "request with purpose {purpose:?}: {field}"
            );
        }
        assert_eq!(
            grpc_audit["decision"],
            if purpose == Some("cbam") {
                "permit"
            } else {
                "deny"
            },
            "request with purpose {purpose:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_both_doors_are_recipients_and_notified_of_updates() {
    let d = doors().await;
    set_policy(&d.steel, &tests::policy_template("share-with-customers"));
    let over_grpc = publish(&d.steel, GRPC_ONLY);
    let over_pact = publish(&d.steel, PACT_ONLY);
    assert!(d.grpc_get(&over_grpc, None).await.is_some());
    assert!(d.pact_get(&over_pact, None).await.is_some());
    let oem = company("oem").to_ascii_lowercase();
    for product in [GRPC_ONLY, PACT_ONLY] {
        assert_eq!(
            d.steel
                .node
                .store()
                .recipients(product)
                .expect("recipients"),
            vec![oem.clone()],
            "{product}: its reader is a recipient"
        );
    }
    // An update of either product notifies the reader (a Published notification to oem).
    let mut updated = Vec::new();
    for (old, product) in [(&over_grpc, GRPC_ONLY), (&over_pact, PACT_ONLY)] {
        let mut next = footprint("steel", old, product);
        next["pcf"]["pcfExcludingBiogenicUptake"] = "1.9".into();
        next["pcf"]["pcfIncludingBiogenicUptake"] = "1.9".into();
        next["pcf"]["fossilGhgEmissions"] = "1.9".into();
        let report = d.steel.node.update(old, &next.to_string()).expect("update");
        updated.push(report.ids[0].to_string());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let notified: BTreeSet<String> = audit(&d.oem)
            .iter()
            .filter(|e| e["method"] == node::service::METHOD_NOTIFY)
            .flat_map(|e| e["targets"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        if updated.iter().all(|id| notified.contains(id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both readers notified of the new versions: {notified:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
