//! Transport options: mTLS with an organisation CA, plain h2c for development, paging.

use node::service::client::{self, FetchWhat};
use tests::{TestCa, TestNode, befriend, company, footprint, policy_template, uuid};

async fn supplier_with_policy(tweak: impl FnOnce(&mut node::config::RawConfig)) -> TestNode {
    let steel = TestNode::start_with("steel", tweak).await;
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    steel
}

#[tokio::test]
async fn mtls_admits_only_clients_with_a_certificate_from_the_org_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let ca_pem = ca.ca_pem.clone();
    let steel = supplier_with_policy(|raw| raw.tls.client_ca = Some(ca_pem)).await;
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    let (cert, key) = ca.client("oem");
    let oem = TestNode::start_with("oem", |raw| {
        raw.tls.client_cert = Some(cert);
        raw.tls.client_key = Some(key);
    })
    .await;
    let outsider = TestNode::start("outsider").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&steel, &outsider, &["customer"]);
    befriend(&oem, &steel, &[]);
    befriend(&outsider, &steel, &[]);

    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("a client with an org certificate is served");
    assert_eq!(docs[0]["id"], id.as_str());
    // Even a policy-permitted partner cannot connect without a certificate from the CA.
    let err = client::fetch(&outsider.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unreachable or failed"), "{err}");
}

#[tokio::test]
async fn h2c_works_only_when_both_sides_opt_in() {
    let steel = supplier_with_policy(|raw| raw.tls.insecure_h2c = true).await;
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    let dev = TestNode::start_with("dev", |raw| raw.tls.insecure_h2c = true).await;
    let tls_only = TestNode::start("tlsonly").await;
    befriend(&steel, &dev, &["customer"]);
    befriend(&steel, &tls_only, &["customer"]);
    befriend(&dev, &steel, &[]);
    befriend(&tls_only, &steel, &[]);
    client::fetch(
        &dev.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("h2c to an h2c node");
    // A TLS client never falls back to plain text.
    assert!(
        client::fetch(&tls_only.node, &company("steel"), FetchWhat::Id(id), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn list_pages_through_every_permitted_footprint() {
    let steel = supplier_with_policy(|raw| raw.limits.page_max = 3).await;
    let docs: Vec<String> = (0..10)
        .map(|i| footprint("steel", &uuid(), &format!("urn:tanso:steel:product:p{i}")).to_string())
        .collect();
    steel.node.publish(&docs.join("\n")).unwrap();
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    let products: Vec<String> = (0..10)
        .map(|i| format!("urn:tanso:steel:product:p{i}"))
        .chain(["urn:tanso:steel:product:none".to_string()])
        .collect();
    let got = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(products),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 10, "four pages of at most three");
    let mut ids: Vec<&str> = got.iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "no footprint twice across pages");
}

/// A GetFootprint of `id` from `caller` to steel over `channel` (its own connection).
async fn get_over(
    channel: tonic::transport::Channel,
    caller: &TestNode,
    id: &str,
) -> Result<(), tonic::Status> {
    use prost::Message as _;
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("os randomness");
    let key = caller.node.key();
    let steel = company("steel");
    let seal = node::service::auth::Seal {
        key: &key,
        caller: caller.node.company_id(),
        audience: &steel,
        method: node::service::METHOD_GET_FOOTPRINT,
        purpose: None,
        nonce,
        issued_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let body = proto::pb::GetFootprintRequest { id: id.to_string() }.encode_to_vec();
    proto::pb::connector_client::ConnectorClient::new(channel)
        .get_footprint(seal.envelope(body))
        .await
        .map(|_| ())
}

/// `[limits] max_connections` bounds open connections, not handshakes: idle connections keep
/// their slots (3,000 idle TLS connections were once all accepted and held), a connection
/// over the cap is closed at once, and a slot frees when its connection closes.
#[tokio::test]
async fn open_connections_hold_their_slot_of_the_cap_until_they_close() {
    let steel = supplier_with_policy(|raw| raw.limits.max_connections = 3).await;
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    let card = steel.node.card().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let channel = client::connect_lazy(&oem.node, &card).unwrap();
        get_over(channel.clone(), &oem, &id)
            .await
            .expect("served within the cap");
        held.push(channel);
    }
    // Three connections are open and idle: a fourth is closed at once.
    let fourth = client::connect_lazy(&oem.node, &card).unwrap();
    let refused = get_over(fourth, &oem, &id)
        .await
        .expect_err("a connection over the cap is closed");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
    // Closing one frees its slot for the next peer.
    held.pop();
    tests::wait_for("the closed connection's slot to free", async || {
        let channel = client::connect_lazy(&oem.node, &card).unwrap();
        get_over(channel, &oem, &id).await.ok()
    })
    .await;
}
