//! Footprint exchange between live nodes: policies, views, verification, denial, lifecycle.

use node::service::client::{self, FetchWhat};
use node::signed;
use node::store::SignatureStatus;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

async fn supplier_with(products: &[(&str, &str)]) -> TestNode {
    let supplier = TestNode::start("steel").await;
    let docs: Vec<String> = products
        .iter()
        .map(|(id, product)| footprint("steel", id, product).to_string())
        .collect();
    supplier.node.publish(&docs.join("\n")).expect("publish");
    supplier
}

#[tokio::test]
async fn customer_fetches_and_verifies_others_are_denied() {
    let id = uuid();
    let supplier = supplier_with(&[(&id, "urn:tanso:steel:product:coil")]).await;
    let oem = TestNode::start("oem").await;
    let stranger = TestNode::start("stranger").await;
    supplier
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    befriend(&supplier, &oem, &["customer"]);
    befriend(&supplier, &stranger, &["prospect"]);
    befriend(&oem, &supplier, &[]);
    befriend(&stranger, &supplier, &[]);

    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec!["URN:TANSO:STEEL:PRODUCT:COIL".into()]),
        None,
    )
    .await
    .expect("customer fetch");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["id"], id.as_str());
    let sig = signed::verify_document(&docs[0]).expect("owner signature verifies");
    assert_eq!(sig.view, "full");
    assert_eq!(sig.company_id, company("steel"));
    // The inbox keeps it, verified, with no findings.
    let inbox = oem.node.inbox().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].signature_status, SignatureStatus::Verified);
    assert!(inbox[0].findings.is_empty(), "{:?}", inbox[0].findings);

    // By id as well.
    let by_id = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("fetch by id");
    assert_eq!(by_id[0]["pcf"]["pcfExcludingBiogenicUptake"], "2.1");

    // Any changed byte of a value breaks verification.
    let mut tampered = docs[0].clone();
    tampered["pcf"]["fossilGhgEmissions"] = "2.2".into();
    assert!(signed::verify_document(&tampered).is_err());

    // A partner without permission learns nothing: same answer as for a missing footprint.
    let denied = client::fetch(
        &stranger.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    let missing = client::fetch(
        &stranger.node,
        &company("steel"),
        FetchWhat::Id(uuid()),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(denied.contains("not found"), "{denied}");
    assert_eq!(
        denied.replace(&id, "ID"),
        missing.replace(
            missing
                .split_whitespace()
                .find(|w| w.len() == 36)
                .unwrap_or(""),
            "ID"
        ),
        "denial must look exactly like absence"
    );

    let report = supplier.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, 4, "two permits and two denials audited");
}

#[tokio::test]
async fn summary_view_is_signed_and_verifies() {
    let id = uuid();
    let supplier = supplier_with(&[(&id, "urn:tanso:steel:product:coil")]).await;
    let prospect = TestNode::start("prospect").await;
    let policy = r#"{"uid": "urn:test:summary", "permission": [{"action": "read", "view": "summary",
        "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "prospect"}]}]}"#;
    supplier.node.add_policy("summary.json", policy).unwrap();
    befriend(&supplier, &prospect, &["prospect"]);
    befriend(&prospect, &supplier, &[]);
    let docs = client::fetch(&prospect.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .expect("summary fetch");
    let sig = signed::verify_document(&docs[0]).expect("summary verifies");
    assert_eq!(sig.view, "summary");
    assert_eq!(docs[0]["pcf"]["pcfExcludingBiogenicUptake"], "2.1");
    assert!(
        docs[0]["pcf"].get("fossilGhgEmissions").is_none(),
        "breakdown withheld"
    );
    assert!(docs[0]["pcf"].get("dqi").is_none());
}

#[tokio::test]
async fn update_deprecates_the_old_version_atomically() {
    let old = uuid();
    let supplier = supplier_with(&[(&old, "urn:tanso:steel:product:coil")]).await;
    let mut next = footprint("steel", &old, "urn:tanso:steel:product:coil");
    next["pcf"]["pcfExcludingBiogenicUptake"] = "1.9".into();
    next["pcf"]["pcfIncludingBiogenicUptake"] = "1.9".into();
    next["pcf"]["fossilGhgEmissions"] = "1.9".into();
    let outcome = supplier.node.update(&old, &next.to_string()).unwrap();
    assert_eq!(outcome.deprecated, vec![old.clone()]);
    let new_id = &outcome.ids[0];
    assert_ne!(new_id, &old);
    let new = supplier.node.footprint(new_id).unwrap();
    assert_eq!(new.footprint.preceding_pf_ids, Some(vec![old.clone()]));
    let old_fp = supplier.node.footprint(&old).unwrap();
    assert_eq!(old_fp.footprint.status.as_str(), "Deprecated");
    // The deprecated version was re-signed: its signature covers the new status.
    let view = signed::view_json(&old_fp.footprint, "full").unwrap();
    signed::verify_view(&view, &old_fp.sig_full).expect("deprecated version verifies");
    // A second update of the same old version is refused and stores nothing.
    let before = supplier.node.footprints().unwrap().len();
    let err = supplier.node.update(&old, &next.to_string()).unwrap_err();
    assert!(err.to_string().contains("already deprecated"), "{err}");
    assert_eq!(supplier.node.footprints().unwrap().len(), before);
}

#[tokio::test]
async fn store_suite_engine_sled_serves_too() {
    let supplier = TestNode::start_with("steel", |raw| raw.store.engine = "sled".into()).await;
    let id = uuid();
    supplier
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    let oem = TestNode::start("oem").await;
    supplier
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    befriend(&supplier, &oem, &["customer"]);
    befriend(&oem, &supplier, &[]);
    let docs = client::fetch(&oem.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .expect("fetch from a sled node");
    signed::verify_document(&docs[0]).unwrap();
}

#[tokio::test]
async fn daily_request_cap_from_policy_holds() {
    let id = uuid();
    let supplier = supplier_with(&[(&id, "urn:tanso:steel:product:coil")]).await;
    let oem = TestNode::start("oem").await;
    let policy = r#"{"uid": "urn:test:capped", "permission": [{"action": "read", "view": "full",
        "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"},
                       {"leftOperand": "dailyCount", "operator": "lteq", "rightOperand": 2}]}]}"#;
    supplier.node.add_policy("capped.json", policy).unwrap();
    befriend(&supplier, &oem, &["customer"]);
    befriend(&oem, &supplier, &[]);
    for _ in 0..2 {
        client::fetch(
            &oem.node,
            &company("steel"),
            FetchWhat::Id(id.clone()),
            None,
        )
        .await
        .expect("within the daily cap");
    }
    let err = client::fetch(&oem.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let explain = supplier
        .node
        .explain(&company("oem"), "urn:tanso:steel:product:coil", None)
        .unwrap();
    assert!(explain.contains("dailyCount"), "{explain}");
}
