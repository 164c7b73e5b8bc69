//! The asynchronous exchange between live nodes: requests, automatic and manual answers,
//! subscriptions, Published notifications, delivery across restarts, and bad input.

use std::time::Duration;

use node::exchange::POLICY_REJECTION;
use node::home::Home;
use node::pact::Status;
use node::service::client::{self, FetchWhat, PeerClient};
use node::store::RequestState;
use node::store::SignatureStatus;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

const COIL: &str = "urn:tanso:steel:product:coil";
const SHEET: &str = "urn:tanso:steel:product:sheet";

/// Polls `check` until it holds (bounded: 30 s), so tests wait on events, not on sleeps.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    tests::wait_for(what, async || check().then_some(())).await
}

fn out_status(n: &TestNode, id: &str) -> String {
    n.node
        .store()
        .outgoing_request(id)
        .unwrap()
        .map(|r| r.status.to_string())
        .unwrap_or_default()
}

fn in_status(n: &TestNode, id: &str) -> String {
    n.node
        .store()
        .incoming_request(id)
        .unwrap()
        .map(|r| r.status.to_string())
        .unwrap_or_default()
}

/// A supplier sharing with customers (read, request, subscribe) and an OEM customer.
async fn pair() -> (TestNode, TestNode) {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    (steel, oem)
}

fn publish(n: &TestNode, product: &str) -> String {
    let id = uuid();
    n.node
        .publish(&footprint("steel", &id, product).to_string())
        .unwrap();
    id
}

fn send(oem: &TestNode, products: &[&str]) -> String {
    oem.node
        .send_request(
            &company("steel"),
            products.iter().map(|p| p.to_string()).collect(),
            Vec::new(),
            "for our LCA".into(),
            None,
        )
        .unwrap()
        .id
}

#[tokio::test]
async fn request_is_fulfilled_automatically_into_the_inbox() {
    let (steel, oem) = pair().await;
    let fp = publish(&steel, COIL);
    let id = send(&oem, &[COIL]);
    wait_until("fulfilled", || out_status(&oem, &id) == "fulfilled").await;
    let request = oem.node.store().outgoing_request(&id).unwrap().unwrap();
    assert_eq!(request.footprint_ids, vec![fp.clone()]);
    let entry = oem
        .node
        .store()
        .inbox_entry(&fp)
        .unwrap()
        .expect("in inbox");
    assert_eq!(entry.signature_status, SignatureStatus::Verified);
    node::signed::verify_document(&entry.document).expect("owner signature");
    assert_eq!(in_status(&steel, &id), "fulfilled");
    // The outboxes drain.
    wait_until("outboxes empty", || {
        steel.node.store().outbox().unwrap().is_empty()
            && oem.node.store().outbox().unwrap().is_empty()
    })
    .await;
    assert!(steel.node.audit_verify().unwrap().ok);
}

#[tokio::test]
async fn pending_request_is_fulfilled_when_the_product_is_published() {
    let (steel, oem) = pair().await;
    let id = send(&oem, &[SHEET]);
    wait_until("pending on both sides", || {
        out_status(&oem, &id) == "pending" && in_status(&steel, &id) == "pending"
    })
    .await;
    let fp = publish(&steel, SHEET);
    wait_until("fulfilled", || out_status(&oem, &id) == "fulfilled").await;
    assert!(oem.node.store().inbox_entry(&fp).unwrap().is_some());
    assert_eq!(in_status(&steel, &id), "fulfilled");
}

#[tokio::test]
async fn policy_rejection_does_not_reveal_whether_the_product_exists() {
    let (steel, _oem) = pair().await;
    let stranger = TestNode::start("stranger").await;
    befriend(&steel, &stranger, &["prospect"]);
    befriend(&stranger, &steel, &[]);
    publish(&steel, COIL);
    let send_as = |products: &str| {
        stranger
            .node
            .send_request(
                &company("steel"),
                vec![products.to_string()],
                Vec::new(),
                String::new(),
                None,
            )
            .unwrap()
            .id
    };
    let existing = send_as(COIL);
    let missing = send_as("urn:tanso:steel:product:nothing");
    wait_until("both rejected", || {
        out_status(&stranger, &existing) == "rejected"
            && out_status(&stranger, &missing) == "rejected"
    })
    .await;
    let reason = |id: &str| {
        stranger
            .node
            .store()
            .outgoing_request(id)
            .unwrap()
            .unwrap()
            .reason
    };
    assert_eq!(reason(&existing), Some(POLICY_REJECTION.to_string()));
    assert_eq!(reason(&existing), reason(&missing));
    assert!(stranger.node.inbox().unwrap().is_empty());
}

/// Requests are permitted but reads are not: requests stay pending for the operator.
async fn manual_pair() -> (TestNode, TestNode) {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    let policy = r#"{"uid": "urn:test:requests", "permission": [{"action": "request", "view": "summary",
        "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"}]}]}"#;
    steel.node.add_policy("requests.json", policy).unwrap();
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    (steel, oem)
}

#[tokio::test]
async fn manual_fulfil_and_reject_with_status_on_both_sides() {
    let (steel, oem) = manual_pair().await;
    let fp = publish(&steel, COIL);
    let first = send(&oem, &[COIL]);
    let second = send(&oem, &[COIL]);
    wait_until("pending", || {
        in_status(&steel, &first) == "pending" && in_status(&steel, &second) == "pending"
    })
    .await;
    steel
        .node
        .fulfil_request(&first, std::slice::from_ref(&fp))
        .unwrap();
    steel
        .node
        .reject_request(&second, "we do not calculate this product yet")
        .unwrap();
    wait_until("answers delivered", || {
        out_status(&oem, &first) == "fulfilled" && out_status(&oem, &second) == "rejected"
    })
    .await;
    let s = status(&oem, &first).await;
    assert_eq!(s.status, RequestState::Fulfilled);
    assert_eq!(s.footprint_ids, [fp.as_str()]);
    let s = status(&steel, &second).await;
    assert_eq!(s.side, node::admin::Side::Incoming);
    assert_eq!(
        s.reason.as_deref(),
        Some("we do not calculate this product yet")
    );
    let s = status(&oem, &second).await;
    assert_eq!(s.status, RequestState::Rejected);
    assert_eq!(
        s.reason.as_deref(),
        Some("we do not calculate this product yet")
    );
    // Each request got exactly one answer: a second answer is refused.
    let err = steel
        .node
        .reject_request(&first, "changed my mind")
        .unwrap_err();
    assert!(err.to_string().contains("already answered"), "{err}");
}

async fn status(n: &TestNode, id: &str) -> node::admin::RequestStatus {
    let answer = node::admin::execute(
        &n.node,
        node::admin::Command::RequestStatus { id: id.to_string() },
    )
    .await
    .expect("request status");
    match answer {
        node::admin::Answer::RequestStatus(status) => status,
        other => panic!("not a request status: {other:?}"),
    }
}

#[tokio::test]
async fn bad_input_fulfil_with_a_footprint_of_another_product() {
    let (steel, oem) = manual_pair().await;
    publish(&steel, COIL);
    let other = publish(&steel, SHEET);
    let id = send(&oem, &[COIL]);
    wait_until("pending", || in_status(&steel, &id) == "pending").await;
    let err = steel.node.fulfil_request(&id, &[other]).unwrap_err();
    assert!(err.to_string().contains("none of which request"), "{err}");
    assert_eq!(in_status(&steel, &id), "pending", "nothing changed");
    assert!(steel.node.store().outbox().unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_reject_without_a_reason() {
    let (steel, oem) = manual_pair().await;
    let id = send(&oem, &[COIL]);
    wait_until("pending", || in_status(&steel, &id) == "pending").await;
    let err = steel.node.reject_request(&id, "  ").unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    assert_eq!(in_status(&steel, &id), "pending");
}

#[tokio::test]
async fn bad_input_answering_an_unknown_or_answered_request() {
    let (steel, oem) = manual_pair().await;
    let unknown = uuid();
    let err = steel.node.reject_request(&unknown, "no").unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = steel.node.fulfil_request(&unknown, &[uuid()]).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let id = send(&oem, &[COIL]);
    wait_until("pending", || in_status(&steel, &id) == "pending").await;
    steel.node.reject_request(&id, "not yet").unwrap();
    let err = steel.node.reject_request(&id, "again").unwrap_err();
    assert!(err.to_string().contains("already answered"), "{err}");
    // A peer answer for a request the buyer never sent is refused by the buyer.
    let mut peer = PeerClient::for_partner(&steel.node, &company("oem"), None).unwrap();
    let err = peer
        .deliver_answer(&unknown, None, "unsolicited")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    wait_until("rejection delivered", || {
        out_status(&oem, &id) == "rejected"
    })
    .await;
    // A repeated delivery of the real answer is acknowledged and changes nothing.
    peer.deliver_answer(&id, None, "a different reason")
        .await
        .expect("duplicate acked");
    let r = oem.node.store().outgoing_request(&id).unwrap().unwrap();
    assert_eq!(r.reason.as_deref(), Some("not yet"));
}

#[tokio::test]
async fn bad_input_notification_for_a_footprint_the_sender_does_not_own() {
    let (steel, oem) = pair().await;
    let fp = publish(&steel, COIL);
    client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(fp.clone()),
        None,
    )
    .await
    .unwrap();
    let rogue = TestNode::start("rogue").await;
    befriend(&oem, &rogue, &[]);
    befriend(&rogue, &oem, &[]);
    let mut peer = PeerClient::for_partner(&rogue.node, &company("oem"), None).unwrap();
    let err = peer
        .notify(&uuid(), std::slice::from_ref(&fp), &[COIL.to_string()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not owned by the sender"), "{err}");
    assert!(
        oem.node.store().outbox().unwrap().is_empty(),
        "no fetch job"
    );
    assert_eq!(
        oem.node
            .store()
            .inbox_entry(&fp)
            .unwrap()
            .unwrap()
            .from_company,
        company("steel")
    );
}

#[tokio::test]
async fn bad_input_request_flood_stopped_by_daily_count() {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    let policy = r#"{"uid": "urn:test:flood", "permission": [{"action": "request", "view": "summary",
        "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"},
                       {"leftOperand": "dailyCount", "operator": "lteq", "rightOperand": 3}]}]}"#;
    steel.node.add_policy("flood.json", policy).unwrap();
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let id = send(&oem, &[COIL]);
        // The supplier decides at receipt: pending (accepted) or rejected.
        wait_until("decided", || !in_status(&steel, &id).is_empty()).await;
        statuses.push(in_status(&steel, &id));
    }
    assert_eq!(
        statuses,
        [
            "pending", "pending", "pending", "rejected", "rejected", "rejected"
        ]
    );
}

#[tokio::test]
async fn subscription_notification_auto_fetch_and_inbox_deprecation() {
    let (steel, oem) = pair().await;
    // Subscribing needs no earlier request.
    let mut peer = PeerClient::for_partner(&oem.node, &company("steel"), None).unwrap();
    peer.subscribe(&[SHEET.to_string()], false)
        .await
        .expect("subscribe");
    let v1 = publish(&steel, SHEET);
    // A received footprint makes its receiver a recipient of updates too.
    let coil_v1 = publish(&steel, COIL);
    client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(coil_v1.clone()),
        None,
    )
    .await
    .unwrap();
    let mut next = footprint("steel", &v1, SHEET);
    next["pcf"]["pcfExcludingBiogenicUptake"] = "1.9".into();
    next["pcf"]["pcfIncludingBiogenicUptake"] = "1.9".into();
    next["pcf"]["fossilGhgEmissions"] = "1.9".into();
    let v2 = steel.node.update(&v1, &next.to_string()).unwrap().ids[0].to_string();
    wait_until("new version fetched", || {
        oem.node.store().inbox_entry(&v2).unwrap().is_some()
    })
    .await;
    let old = oem
        .node
        .store()
        .inbox_entry(&v1)
        .unwrap()
        .expect("old fetched too");
    assert_eq!(old.status, Status::Deprecated);
    assert_eq!(
        oem.node.store().inbox_entry(&v2).unwrap().unwrap().status,
        Status::Active
    );

    let mut next = footprint("steel", &coil_v1, COIL);
    next["pcf"]["pcfExcludingBiogenicUptake"] = "2.0".into();
    next["pcf"]["pcfIncludingBiogenicUptake"] = "2.0".into();
    next["pcf"]["fossilGhgEmissions"] = "2.0".into();
    let coil_v2 = steel.node.update(&coil_v1, &next.to_string()).unwrap().ids[0].to_string();
    wait_until("recipient notified and old version deprecated", || {
        oem.node
            .store()
            .inbox_entry(&coil_v1)
            .unwrap()
            .is_some_and(|e| {
                e.status == Status::Deprecated
                    && e.superseded_by.as_deref() == Some(coil_v2.as_str())
            })
    })
    .await;

    // Unsubscribed: a later update reaches no one for that product.
    peer.subscribe(&[SHEET.to_string()], true).await.unwrap();
    assert!(steel.node.store().subscribers(SHEET).unwrap().is_empty());

    // A partner the policy does not allow to subscribe is refused.
    let stranger = TestNode::start("stranger").await;
    befriend(&steel, &stranger, &["prospect"]);
    befriend(&stranger, &steel, &[]);
    let mut peer = PeerClient::for_partner(&stranger.node, &company("steel"), None).unwrap();
    let err = peer
        .subscribe(&[SHEET.to_string()], false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("subscription not permitted by the owner's usage policy"),
        "{err}"
    );
}

#[tokio::test]
async fn supplier_down_request_is_queued_and_delivered_when_it_returns() {
    let (steel, oem) = pair().await;
    let fp = publish(&steel, COIL);
    let dir = steel.stop().await.expect("temp dir");
    let id = send(&oem, &[COIL]);
    wait_until("a failed attempt", || {
        oem.node
            .store()
            .outbox()
            .unwrap()
            .iter()
            .any(|i| i.attempts > 0)
    })
    .await;
    assert_eq!(out_status(&oem, &id), "queued");
    let steel = TestNode::serve(&Home::new(dir.path().join("steel"))).await;
    // The supplier's new card (a new port) makes the buyer retry at once.
    befriend(&oem, &steel, &[]);
    wait_until("fulfilled after restart", || {
        out_status(&oem, &id) == "fulfilled"
    })
    .await;
    assert!(oem.node.store().inbox_entry(&fp).unwrap().is_some());
}

#[tokio::test]
async fn buyer_down_answer_is_retried_and_delivered_after_it_returns() {
    let (steel, oem) = pair().await;
    let id = send(&oem, &[SHEET]);
    wait_until("pending", || out_status(&oem, &id) == "pending").await;
    let dir = oem.stop().await.expect("temp dir");
    let fp = publish(&steel, SHEET);
    wait_until("a failed answer attempt", || {
        steel
            .node
            .store()
            .outbox()
            .unwrap()
            .iter()
            .any(|i| i.attempts > 0)
    })
    .await;
    assert_eq!(in_status(&steel, &id), "fulfilled");
    let oem = TestNode::serve(&Home::new(dir.path().join("oem"))).await;
    befriend(&steel, &oem, &["customer"]);
    wait_until("delivered after restart", || {
        out_status(&oem, &id) == "fulfilled"
    })
    .await;
    assert!(oem.node.store().inbox_entry(&fp).unwrap().is_some());
    wait_until("supplier outbox drained", || {
        steel.node.store().outbox().unwrap().is_empty()
    })
    .await;
}

/// An undelivered request is given up 72 hours after it was created, by the node's clock:
/// the test advances the clock instead of waiting three days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_request_is_given_up_after_72_hours_by_the_clock() {
    let (steel, oem) = pair().await;
    let _home = steel.stop().await;
    let id = send(&oem, &[COIL]);
    wait_until("a failed delivery attempt", || {
        oem.node
            .store()
            .outbox()
            .unwrap()
            .iter()
            .any(|i| i.attempts >= 1)
    })
    .await;
    assert_eq!(out_status(&oem, &id), "queued");
    oem.node.clock().advance(Duration::from_secs(72 * 3600));
    wait_until("the request given up", || {
        out_status(&oem, &id) == "undeliverable"
    })
    .await;
}
