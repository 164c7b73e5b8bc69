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

#[tokio::test]
async fn timestamps_at_the_ends_of_the_clock_are_refused_without_overflow() {
    let s = scene().await;
    let now = Utc::now().timestamp_millis();
    // now − 2^63 ms: `now - issued` overflowed and wrapped to a negative skew, so a partner's
    // envelope dated there was served by a release build (a debug build panicked).
    for issued in [
        i64::MIN,
        i64::MIN + 1,
        now.wrapping_add(i64::MIN),
        0,
        -1,
        i64::MAX,
        now.wrapping_add(i64::MAX),
    ] {
        let mut seal = seal(&s.customer);
        seal.issued_at_ms = issued;
        let result = get(&s.customer, &s.supplier, seal.envelope(get_body(&s.id))).await;
        assert_unauthenticated(result, "ms away");
    }
    let entries = audit(&s.supplier);
    assert!(
        !entries.iter().any(|e| e["decision"] == "permit"),
        "no envelope at the ends of the clock may be served: {entries:#?}"
    );
    // And one inside the window still is.
    let envelope = seal(&s.customer).envelope(get_body(&s.id));
    get(&s.customer, &s.supplier, envelope)
        .await
        .expect("a fresh envelope is served");
}

/// An envelope from `stranger` (a key nobody knows) claiming `caller`, with `audience`,
/// `method` and `key_id` as given.
fn forged(
    key: &NodeKey,
    caller: &str,
    audience: &str,
    method: &str,
    key_id: Option<&str>,
) -> pb::Envelope {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("os randomness");
    let body = get_body(&uuid());
    let header = pb::RequestHeader {
        caller: caller.to_string(),
        key_id: key_id.unwrap_or(key.key_id()).to_string(),
        audience: audience.to_string(),
        method: method.to_string(),
        nonce: nonce.to_vec(),
        issued_at_ms: Utc::now().timestamp_millis(),
        body_sha256: node::crypto::sha256(&body).to_vec(),
        purpose: String::new(),
    }
    .encode_to_vec();
    // Never checked: every envelope here is refused before its signature is (and signing
    // a megabyte 10,000 times would be most of the test's time).
    let _ = key;
    pb::Envelope {
        header,
        body,
        signature: vec![7; 64],
    }
}

fn random_key() -> NodeKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("os randomness");
    NodeKey::from_seed(&seed)
}

#[tokio::test]
async fn a_long_claimed_caller_is_never_echoed_or_stored_at_length() {
    let s = scene().await;
    let key = random_key();
    let huge = format!("urn:tanso:company:{}", "x".repeat(3 * 1024 * 1024));
    let medium = format!("urn:tanso:company:{}", "y".repeat(400));
    for caller in [&huge, &medium] {
        let envelope = forged(&key, caller, STEEL, METHOD_GET_FOOTPRINT, None);
        let refusal = get(&s.customer, &s.supplier, envelope)
            .await
            .expect_err("refused");
        assert_eq!(refusal.code, "Unauthenticated", "{refusal:?}");
        assert!(
            refusal.message.len() < 400,
            "the refusal echoes {} bytes",
            refusal.message.len()
        );
    }
    let entries = audit(&s.supplier);
    let longest = entries
        .iter()
        .map(|e| e.to_string().len())
        .max()
        .unwrap_or(0);
    assert!(longest < 1024, "an audit entry of {longest} bytes");
    // Both are audited (different reasons: over the header limit, and an unknown caller),
    // each with the claimed caller cut short and the source named.
    let refused: Vec<&Value> = entries.iter().filter(|e| e["decision"] == "deny").collect();
    assert!(
        refused.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("header field caller is") && r.contains("127.0.0.1"))),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|e| e["caller"]
            .as_str()
            .is_some_and(|c| c.starts_with("unverified:urn:tanso:company:yyy")
                && c.ends_with("bytes in all)"))),
        "{refused:#?}"
    );
}

/// A flood of refused envelopes, straight into the peer service as the gRPC server hands
/// them over (no TLS, so 10 GB of claimed bytes take seconds): the audit log gets one entry
/// per source and reason, then one summary per interval, and the store barely grows.
#[tokio::test]
async fn a_flood_of_refused_envelopes_grows_the_store_by_less_than_a_megabyte() {
    use proto::pb::connector_server::Connector as _;

    let s = scene().await;
    let service = node::service::ConnectorService::new(s.supplier.node.clone());
    let key = random_key();
    let mib = "z".repeat(1024 * 1024);
    let short = company("made-up");
    let before_bytes = s.supplier.node.store().disk_bytes();
    let before_entries = audit(&s.supplier).len();
    for i in 0..10_000u32 {
        // 1 MB in a different claimed field each time, from 16 source addresses.
        let big = format!("{i}{mib}");
        let envelope = match i % 4 {
            0 => forged(&key, &big, STEEL, METHOD_GET_FOOTPRINT, None),
            1 => forged(&key, &short, &big, METHOD_GET_FOOTPRINT, None),
            2 => forged(&key, &short, STEEL, &big, None),
            _ => forged(&key, &short, STEEL, METHOD_GET_FOOTPRINT, Some(&big)),
        };
        let mut request = tonic::Request::new(envelope);
        request.extensions_mut().insert(node::tls::PeerInfo {
            remote_addr: Some(std::net::SocketAddr::from((
                [192, 0, 2, (i % 16) as u8],
                40_000,
            ))),
            client_cert: None,
            activity: None,
        });
        let status = service
            .get_footprint(request)
            .await
            .expect_err("a forged envelope is refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(status.message().len() < 400, "{}", status.message().len());
    }
    // Every open interval summarised, as at shutdown.
    node::service::auth::flush_refusals(&s.supplier.node, true).await;
    let grown = s
        .supplier
        .node
        .store()
        .disk_bytes()
        .saturating_sub(before_bytes);
    println!("10,000 refused envelopes with 1 MB claimed fields: the store grew by {grown} bytes");
    assert!(grown < 1024 * 1024, "the store grew by {grown} bytes");
    let entries = audit(&s.supplier);
    let added = &entries[before_entries..];
    // 16 sources × 1 reason (every field over the limit is "malformed"): the first three
    // in full, and one summary each with the count of the rest (twice that if the test
    // outlived a summary interval).
    let per_source = node::service::refusals::FULL_PER_INTERVAL as usize + 1;
    assert!(
        added.len() >= 16 * per_source && added.len() <= 2 * 16 * per_source,
        "{added:#?}"
    );
    let reasons: Vec<&str> = added.iter().filter_map(|e| e["reason"].as_str()).collect();
    let full = reasons
        .iter()
        .filter(|r| r.starts_with("malformed envelope: header field"))
        .count() as u64;
    let summarised: u64 = reasons
        .iter()
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(full + summarised, 10_000, "{reasons:#?}");
    let report = s.supplier.node.audit_verify().expect("audit verify");
    assert!(report.ok, "{:?}", report.problems);
}
