//! Moving a node: a home exported and imported on another machine (new port, new TLS
//! certificate) announces its changed card, and partners keep fetching from it without an
//! operator re-pinning anything.

use chrono::Utc;
use node::bundle;
use node::home::{Home, Passphrase};
use node::service::client::{self, FetchWhat};
use node::signed;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

const COIL: &str = "urn:tanso:steel:product:coil";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_node_announces_its_new_card_and_partners_keep_fetching() {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, COIL).to_string())
        .expect("publish");
    let fetch = async |oem: &TestNode| {
        client::fetch(
            &oem.node,
            &company("steel"),
            FetchWhat::Id(id.clone()),
            None,
        )
        .await
    };
    fetch(&oem).await.expect("fetch before the move");
    let old_card = steel.node.card().expect("card");
    // Nothing changed since the node started: nothing to announce.
    assert_eq!(steel.node.announce_card_if_changed().expect("announce"), 0);

    // The move: stop, export, import on the "new machine" with its own certificate.
    let old_home = steel.home.clone();
    let old_dir = steel.stop().await.expect("the harness's directory");
    let pass = Passphrase::new(b"moving day".to_vec());
    let file = old_dir.path().join("steel.tanso");
    bundle::export(&Home::new(&old_home), &file, &pass, Utc::now()).expect("export");
    let new_dir = tempfile::tempdir().expect("tempdir");
    let dest = Home::new(new_dir.path().join("steel"));
    bundle::import(&file, &dest, &pass, None).expect("import");
    std::fs::remove_dir_all(dest.dir.join("tls")).expect("drop the old certificate");
    dest.create_identity().expect("a new certificate");
    drop(old_dir);
    let moved = TestNode::serve(&dest.with_passphrase(Some(pass))).await;

    let new_card = moved.node.card().expect("card");
    assert_ne!(new_card.endpoint, old_card.endpoint);
    assert_ne!(new_card.tls_fingerprint, old_card.tls_fingerprint);
    assert_eq!(new_card.key_id, old_card.key_id);

    // The OEM learns the new endpoint and certificate through the card update, by itself.
    tests::wait_for("the OEM to pin the moved card", async || {
        let pinned = oem.node.partner(&company("steel")).ok()??.card;
        (pinned.endpoint == new_card.endpoint && pinned.tls_fingerprint == new_card.tls_fingerprint)
            .then_some(())
    })
    .await;
    let docs = fetch(&oem).await.expect("fetch after the move");
    signed::verify_document(&docs[0]).expect("the footprint verifies");
    assert_eq!(docs[0]["id"], id.as_str());
    // Announced once: a second start on the same card announces nothing.
    assert_eq!(moved.node.announce_card_if_changed().expect("announce"), 0);
    let report = moved.node.audit_verify().expect("audit");
    assert!(report.ok, "{:?}", report.problems);
}
