//! Hand-made signed envelopes against a live supplier: each bad input is refused with the right gRPC code and audited.

use chrono::Utc;
use node::crypto::NodeKey;
use node::home::Home;
use node::service::auth::Seal;
use node::service::client::connect_lazy;
use node::service::{METHOD_GET_FOOTPRINT, METHOD_LIST_FOOTPRINTS};
use prost::Message;
use proto::pb;
use serde_json::Value;
use tests::{TestNode, befriend, company, footprint, init_home, policy_template, raw_config, uuid};

/// The supplier's company id (`company("steel")`).
const STEEL: &str = "urn:tanso:company:steel";

/// A refused call: the gRPC code (as `tonic::Code`'s Debug name) and message.
///
/// `tonic` is not a dependency of the `cli` test target, so the code is compared by name.
#[derive(Debug)]
struct Refusal {
    code: String,
    message: String,
}

/// A supplier serving one footprint under `share-with-customers`, and a befriended customer.
struct Scene {
    supplier: TestNode,
    customer: TestNode,
    id: String,
}

/// Publishes one footprint on `supplier`, loads the customer policy, befriends a customer.
async fn furnish(supplier: TestNode) -> Scene {
    let id = uuid();
    supplier
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .expect("publish");
    supplier
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let customer = TestNode::start("oem").await;
    befriend(&supplier, &customer, &["customer"]);
    Scene {
        supplier,
        customer,
        id,
    }
}

async fn scene() -> Scene {
    furnish(TestNode::start("steel").await).await
}

/// A correct seal by `caller` for the steel supplier's GetFootprint: fresh nonce, now.
fn seal(caller: &TestNode) -> Seal<'_> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("os randomness");
    // The node's key is behind a rotation-safe `Arc`; a test seal keeps its own handle.
    let key: &'static node::crypto::NodeKey = Box::leak(Box::new(caller.node.key()));
    Seal {
        key,
        caller: caller.node.company_id(),
        audience: STEEL,
        method: METHOD_GET_FOOTPRINT,
        purpose: None,
        nonce,
        issued_at_ms: Utc::now().timestamp_millis(),
    }
}

fn get_body(id: &str) -> Vec<u8> {
    pb::GetFootprintRequest { id: id.to_string() }.encode_to_vec()
}

/// Sends `envelope` to `supplier`'s GetFootprint over `caller`'s pinned-TLS channel.
async fn get(
    caller: &TestNode,
    supplier: &TestNode,
    envelope: pb::Envelope,
) -> Result<pb::GetFootprintResponse, Refusal> {
    let card = supplier.node.card().expect("supplier card");
    let channel = connect_lazy(&caller.node, &card).expect("channel");
    pb::connector_client::ConnectorClient::new(channel)
        .get_footprint(envelope)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| Refusal {
            code: format!("{:?}", s.code()),
            message: s.message().to_string(),
        })
}

/// Asserts `result` is UNAUTHENTICATED with a message containing `names`.
fn assert_unauthenticated<T: std::fmt::Debug>(result: Result<T, Refusal>, names: &str) -> String {
    let refusal = result.expect_err("the envelope must be refused");
    assert_eq!(refusal.code, "Unauthenticated", "{refusal:?}");
    assert!(
        refusal.message.contains(names),
        "message {:?} should name {names:?}",
        refusal.message
    );
    refusal.message
}

/// Every audit entry of `node` as JSON.
fn audit(node: &TestNode) -> Vec<Value> {
    let mut out = Vec::new();
    node.node.audit_export(&mut out).expect("audit export");
    String::from_utf8(out)
        .expect("utf-8 audit")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is json"))
        .collect()
}

/// The chain verifies and holds a denial of `claimed` (unverified) whose reason names `names`.
fn assert_refusal_audited(supplier: &TestNode, claimed: &str, names: &str) {
    let report = supplier.node.audit_verify().expect("audit verify");
    assert!(report.ok, "{:?}", report.problems);
    let entries = audit(supplier);
    let caller = format!("unverified:{claimed}");
    assert!(
        entries.iter().any(|e| e["decision"] == "deny"
            && e["caller"] == caller.as_str()
            && e["method"] == METHOD_GET_FOOTPRINT
            && e["reason"].as_str().is_some_and(|r| r.contains(names))),
        "no denial of {caller:?} naming {names:?} in {entries:#?}"
    );
    assert!(
        !entries.iter().any(|e| e["decision"] == "permit"),
        "a refused envelope must not be served: {entries:#?}"
    );
}

#[tokio::test]
async fn a_correct_envelope_is_served() {
    let s = scene().await;
    let envelope = seal(&s.customer).envelope(get_body(&s.id));
    let answer = get(&s.customer, &s.supplier, envelope)
        .await
        .expect("a correct envelope is served");
    let signed = answer.footprint.expect("a footprint");
    match signed.view {
        Some(pb::signed_footprint::View::Full(fp)) => assert_eq!(fp.id, s.id),
        other => panic!("expected the full view, got {other:?}"),
    }
    let report = s.supplier.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    let entries = audit(&s.supplier);
    assert!(
        entries
            .iter()
            .any(|e| e["decision"] == "permit" && e["caller"] == company("oem").as_str()),
        "{entries:#?}"
    );
}

#[tokio::test]
async fn malformed_header_is_refused() {
    let s = scene().await;
    let mut envelope = seal(&s.customer).envelope(get_body(&s.id));
    // A varint that never ends: prost cannot decode it.
    envelope.header = vec![0xff; 12];
    let result = get(&s.customer, &s.supplier, envelope).await;
    assert_unauthenticated(result, "malformed envelope");
    // Nothing could be read from the header, so the claimed caller is empty.
    assert_refusal_audited(&s.supplier, "", "malformed envelope");
}

#[tokio::test]
async fn flipped_signature_byte_is_refused() {
    let s = scene().await;
    let mut envelope = seal(&s.customer).envelope(get_body(&s.id));
    envelope.signature[10] ^= 0x01;
    let result = get(&s.customer, &s.supplier, envelope).await;
    assert_unauthenticated(result, "bad signature");
    assert_refusal_audited(&s.supplier, &company("oem"), "bad signature");
}

#[tokio::test]
async fn body_changed_after_signing_is_refused() {
    let s = scene().await;
    let mut envelope = seal(&s.customer).envelope(get_body(&uuid()));
    envelope.body = get_body(&s.id);
    let result = get(&s.customer, &s.supplier, envelope).await;
    assert_unauthenticated(result, "body hash");
    assert_refusal_audited(&s.supplier, &company("oem"), "body hash");
}

#[tokio::test]
async fn replayed_nonce_is_refused_even_after_a_restart() {
    // The home lives in our own directory: `TestNode::stop` drops the harness's tempdir.
    let dir = tempfile::tempdir().unwrap();
    let home_path = dir.path().join("steel");
    let home = init_home(&home_path, &raw_config("steel"));
    let s = furnish(TestNode::serve(&home).await).await;
    let envelope = seal(&s.customer).envelope(get_body(&s.id));

    get(&s.customer, &s.supplier, envelope.clone())
        .await
        .expect("first use of the nonce is served");
    let result = get(&s.customer, &s.supplier, envelope.clone()).await;
    assert_unauthenticated(result, "replay");
    assert_refusal_audited_allowing_permits(&s.supplier, &company("oem"), "replay");

    // Nonces are persisted: a restarted node still refuses the same envelope.
    let Scene {
        supplier, customer, ..
    } = s;
    supplier.stop().await;
    let supplier = TestNode::serve(&Home::new(&home_path)).await;
    let result = get(&customer, &supplier, envelope).await;
    assert_unauthenticated(result, "replay");
    let replays = audit(&supplier)
        .into_iter()
        .filter(|e| {
            e["decision"] == "deny"
                && e["caller"] == format!("unverified:{}", company("oem")).as_str()
                && e["reason"].as_str().is_some_and(|r| r.contains("replay"))
        })
        .count();
    assert_eq!(replays, 2, "both replays audited");
    let report = supplier.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    // A fresh envelope is still served after the restart.
    let fresh = seal(&customer).envelope(get_body(&uuid()));
    let result = get(&customer, &supplier, fresh).await;
    assert_eq!(result.unwrap_err().code, "NotFound");
}

/// Like [`assert_refusal_audited`], for a scene in which some request was served.
fn assert_refusal_audited_allowing_permits(supplier: &TestNode, claimed: &str, names: &str) {
    let report = supplier.node.audit_verify().expect("audit verify");
    assert!(report.ok, "{:?}", report.problems);
    let caller = format!("unverified:{claimed}");
    let entries = audit(supplier);
    assert!(
        entries.iter().any(|e| e["decision"] == "deny"
            && e["caller"] == caller.as_str()
            && e["reason"].as_str().is_some_and(|r| r.contains(names))),
        "no denial of {caller:?} naming {names:?} in {entries:#?}"
    );
}

#[tokio::test]
async fn timestamp_five_minutes_old_is_refused() {
    let s = scene().await;
    let mut seal = seal(&s.customer);
    seal.issued_at_ms -= 5 * 60 * 1000;
    let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
    assert_unauthenticated(result, "ms away");
    assert_refusal_audited(&s.supplier, &company("oem"), "ms away");
}

#[tokio::test]
async fn timestamp_five_minutes_ahead_is_refused() {
    let s = scene().await;
    let mut seal = seal(&s.customer);
    seal.issued_at_ms += 5 * 60 * 1000;
    let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
    assert_unauthenticated(result, "ms away");
    assert_refusal_audited(&s.supplier, &company("oem"), "ms away");
}

#[tokio::test]
async fn envelope_for_another_audience_is_refused() {
    let s = scene().await;
    let other = company("aluminium");
    let mut seal = seal(&s.customer);
    seal.audience = &other;
    let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
    let message = assert_unauthenticated(result, "audience");
    assert!(message.contains(&other), "{message}");
    assert_refusal_audited(&s.supplier, &company("oem"), "audience");
}

#[tokio::test]
async fn properly_signed_unknown_caller_is_refused() {
    let s = scene().await;
    let stranger = TestNode::start("stranger").await;
    let envelope = seal(&stranger).envelope(get_body(&s.id));
    let result = get(&stranger, &s.supplier, envelope).await;
    let message = assert_unauthenticated(result, "unknown caller");
    assert!(message.contains(&company("stranger")), "{message}");
    assert_refusal_audited(&s.supplier, &company("stranger"), "unknown caller");
}

#[tokio::test]
async fn known_caller_with_another_key_is_refused() {
    let s = scene().await;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("os randomness");
    let impostor = NodeKey::from_seed(&seed);
    let mut seal = seal(&s.customer);
    seal.key = &impostor;
    let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
    let message = assert_unauthenticated(result, "unknown key");
    assert!(message.contains(impostor.key_id()), "{message}");
    assert_refusal_audited(&s.supplier, &company("oem"), "unknown key");
}

#[tokio::test]
async fn envelope_for_another_method_is_refused() {
    let s = scene().await;
    let mut seal = seal(&s.customer);
    seal.method = METHOD_LIST_FOOTPRINTS;
    let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
    let message = assert_unauthenticated(result, "envelope is for method");
    assert!(message.contains(METHOD_LIST_FOOTPRINTS), "{message}");
    assert_refusal_audited(&s.supplier, &company("oem"), "ListFootprints");
}

#[tokio::test]
async fn message_over_the_size_limit_is_refused_before_the_handler() {
    let s = furnish(TestNode::start_with("steel", |raw| raw.limits.max_message_bytes = 2048).await)
        .await;
    let envelope = seal(&s.customer).envelope(vec![0u8; 4096]);
    let refusal = get(&s.customer, &s.supplier, envelope)
        .await
        .expect_err("an oversized message must be refused");
    assert!(
        refusal.code == "OutOfRange" || refusal.code == "ResourceExhausted",
        "{refusal:?}"
    );
    let entries = audit(&s.supplier);
    assert!(
        !entries.iter().any(|e| e["decision"] == "permit"),
        "nothing may be permitted: {entries:#?}"
    );
    let report = s.supplier.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
}

#[tokio::test]
async fn missing_and_withheld_footprints_answer_alike() {
    let s = scene().await;
    let prospect = TestNode::start("prospect").await;
    befriend(&s.supplier, &prospect, &["prospect"]);

    let missing_id = uuid();
    let missing = get(
        &s.customer,
        &s.supplier,
        seal(&s.customer).envelope(get_body(&missing_id)),
    )
    .await
    .expect_err("no such footprint");
    let withheld = get(
        &prospect,
        &s.supplier,
        seal(&prospect).envelope(get_body(&s.id)),
    )
    .await
    .expect_err("not shared with a prospect");
    assert_eq!(missing.code, "NotFound", "{missing:?}");
    assert_eq!(withheld.code, "NotFound", "{withheld:?}");
    assert!(missing.message.contains(&missing_id), "{missing:?}");
    assert_eq!(
        missing.message.replace(&missing_id, "ID"),
        withheld.message.replace(&s.id, "ID"),
        "denial must look exactly like absence"
    );
    let report = s.supplier.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    let entries = audit(&s.supplier);
    assert_eq!(
        entries.iter().filter(|e| e["decision"] == "deny").count(),
        2,
        "{entries:#?}"
    );
}

#[tokio::test]
async fn authenticated_request_with_a_bad_body_is_audited() {
    let s = scene().await;
    let refusal = get(
        &s.customer,
        &s.supplier,
        seal(&s.customer).envelope(get_body("not-a-uuid")),
    )
    .await
    .expect_err("a malformed id is refused");
    assert_eq!(refusal.code, "InvalidArgument", "{refusal:?}");
    assert!(refusal.message.contains("not-a-uuid"), "{refusal:?}");
    let entries = audit(&s.supplier);
    assert!(
        entries.iter().any(|e| e["decision"] == "deny"
            && e["caller"] == "urn:tanso:company:oem"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("bad request"))),
        "{entries:#?}"
    );
    assert!(s.supplier.node.audit_verify().unwrap().ok);
}
