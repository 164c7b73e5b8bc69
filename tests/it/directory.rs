//! The association directory: membership, discovery, fetch without `partner add`,
//! revocation, stale cache, bad input, and that it never holds a footprint value.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use node::crypto::NodeKey;
use node::directory::MemberState;
use node::directory::answer::{Answer, Application, SealedAnswer};
use node::directory::client::JoinFacts;
use node::directory::credential::rfc3339;
use node::directory::server::{self, Directory, RawDirectoryConfig};
use node::directory::{
    CredentialError, DirectoryCard, DirectoryClient, DirectoryError, StatusList,
};
use node::home::Home;
use node::service::client::{self, FetchWhat};
use node::signed;
use node::store::RequestState;
use serde_json::Value;
use tests::{TestNode, company, footprint, policy_template, uuid};
use tokio::sync::oneshot;

const ASSOCIATION: &str = "urn:tanso:association:example-steel";
const PRODUCT: &str = "urn:tanso:steel:product:coil-77";
/// A footprint value no identifier contains, so a byte scan cannot match by accident.
const VALUE: &str = "7.654321";

struct TestDirectory {
    directory: Directory,
    home: PathBuf,
    _tmp: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestDirectory {
    async fn start(association: &str, auto_approve: bool) -> TestDirectory {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = Home::new(tmp.path().join("directory"));
        let mut raw =
            RawDirectoryConfig::new(association, "Example steel association", "127.0.0.1:0");
        raw.auto_approve = auto_approve;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("randomness");
        server::init(&home, &raw, &seed).expect("init directory");
        let directory = Directory::open(&home).expect("open directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        directory.set_bound_endpoint(listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let admin = server::bind_admin(&home).expect("admin socket");
        let served = directory.clone();
        let task = tokio::spawn(async move {
            server::run(served, listener, admin, async move {
                let _ = stopped.await;
            })
            .await
            .expect("directory ran");
        });
        TestDirectory {
            directory,
            home: home.dir.clone(),
            _tmp: tmp,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn card(&self) -> DirectoryCard {
        self.directory.card().expect("card")
    }

    fn card_json(&self) -> String {
        serde_json::to_string(&self.card()).expect("card json")
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn facts(products: &[&str], supplies: &[&str], buys: &[&str]) -> JoinFacts {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    JoinFacts {
        supplies_products: s(products),
        supplies_classifications: s(supplies),
        buys_classifications: s(buys),
    }
}

fn distinctive_footprint(slug: &str, id: &str) -> Value {
    let mut fp = footprint(slug, id, PRODUCT);
    for field in [
        "pcfExcludingBiogenicUptake",
        "pcfIncludingBiogenicUptake",
        "fossilGhgEmissions",
    ] {
        fp["pcf"][field] = Value::String(VALUE.into());
    }
    fp
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    tests::wait_for(what, async || ok().then_some(())).await
}

/// A supplier (member, supplies PRODUCT, shares with association members) and a buyer
/// (member), both trusting `directory`; the supplier published one footprint.
async fn members(directory: &TestDirectory, ttl_secs: u64) -> (TestNode, TestNode, String) {
    let supplier = TestNode::start_with("steel", |r| r.directory.ttl_secs = ttl_secs).await;
    let buyer = TestNode::start_with("oem", |r| r.directory.ttl_secs = ttl_secs).await;
    let id = uuid();
    supplier
        .node
        .publish(&distinctive_footprint("steel", &id).to_string())
        .expect("publish");
    supplier
        .node
        .add_policy("members.json", &policy_template("association-members"))
        .expect("policy");
    for (n, f) in [
        (&supplier, facts(&[PRODUCT], &["HS:7208"], &[])),
        (&buyer, facts(&[], &[], &["HS:7208"])),
    ] {
        n.node
            .directories()
            .trust(&n.node, &directory.card_json())
            .expect("trust");
        let joined = n
            .node
            .directories()
            .join(&n.node, Some(f))
            .await
            .expect("join");
        assert_eq!(joined.len(), 1);
    }
    (supplier, buyer, id)
}

fn scan_files(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for needle in needles {
            if bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            {
                found.push(format!("{} holds {needle}", entry.display()));
            }
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn membership_needs_approval_then_fetch_works_without_partner_add() {
    let directory = TestDirectory::start(ASSOCIATION, false).await;
    let (supplier, buyer, id) = members(&directory, 300).await;

    // Pending until the operator approves; approving an unknown company is refused.
    let status = supplier.node.directories().trusted(&supplier.node).unwrap();
    assert!(status[0].credential.is_none());
    let err = directory
        .directory
        .approve("urn:tanso:company:nobody")
        .unwrap_err();
    assert!(matches!(err, DirectoryError::UnknownCompany(_)), "{err}");
    assert!(
        err.to_string().contains("urn:tanso:company:nobody"),
        "{err}"
    );

    // Not a member yet: the buyer cannot discover the supplier.
    let err = client::fetch(
        &buyer.node,
        &company("steel"),
        FetchWhat::Products(vec![PRODUCT.into()]),
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains(&company("steel")), "{err}");

    for c in ["steel", "oem"] {
        directory.directory.approve(&company(c)).expect("approve");
    }
    // Joining again fetches the credential.
    for n in [&supplier, &buyer] {
        let joined = n.node.directories().join(&n.node, None).await.unwrap();
        assert_eq!(joined[0].state, MemberState::Approved);
        let credential = joined[0].credential.as_ref().expect("credential");
        credential.verify(&directory.card(), Utc::now()).unwrap();
    }
    let own = supplier.node.directories().trusted(&supplier.node).unwrap();
    assert_eq!(
        own[0].credential.as_ref().unwrap().supplies_products,
        vec![PRODUCT]
    );

    // Discovery by product id, then fetch (no partner was added on either side).
    let found = buyer
        .node
        .directories()
        .find_product(&buyer.node, PRODUCT)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].credential.company_id, company("steel"));
    assert!(buyer.node.partners().unwrap().is_empty());
    assert!(supplier.node.partners().unwrap().is_empty());
    let docs = client::fetch(
        &buyer.node,
        &company("steel"),
        FetchWhat::Products(vec![PRODUCT.into()]),
        None,
    )
    .await
    .expect("fetch through the directory");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["id"], id.as_str());
    let sig = signed::verify_document(&docs[0]).expect("owner signature");
    // The association-members policy grants the summary view.
    assert_eq!(sig.view, "summary");
    assert_eq!(sig.company_id, company("steel"));
    // The policy saw the membership: explain names it.
    let facts = supplier.node.policy_partner(&company("oem")).unwrap();
    assert_eq!(facts.memberships, vec![ASSOCIATION.to_string()]);
    assert_eq!(facts.buys_classifications, vec!["HS:7208".to_string()]);

    // The directory holds identifiers only: no footprint id or value in its files or state.
    let mut dir = directory;
    let members = serde_json::to_string(&dir.directory.members().unwrap()).unwrap();
    let home = dir.home.clone();
    dir.stop().await;
    let needles = [id.as_str(), VALUE, "Test product", "test product"];
    let found = scan_files(&home, &needles);
    assert!(found.is_empty(), "{found:?}");
    for needle in needles {
        assert!(!members.contains(needle), "member list holds {needle}");
    }
    assert!(
        members.contains(PRODUCT),
        "the member list carries identifiers"
    );
}

#[tokio::test]
async fn revoked_member_is_refused_and_stale_cache_keeps_working() {
    let mut directory = TestDirectory::start(ASSOCIATION, true).await;
    let (supplier, buyer, id) = members(&directory, 1).await;
    let fetch = |b: &TestNode| {
        let node = b.node.clone();
        let id = id.clone();
        async move { client::fetch(&node, &company("steel"), FetchWhat::Id(id), None).await }
    };
    fetch(&buyer).await.expect("member fetch");

    // Revocation reaches the supplier (pushed by Watch), and the buyer is refused.
    directory.directory.revoke(&company("oem")).expect("revoke");
    wait_for("the revocation to reach the supplier", || {
        supplier
            .node
            .directories()
            .revoked_in(&supplier.node, &company("oem"))
            .is_some()
    })
    .await;
    let err = fetch(&buyer).await.unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    let audit = {
        let mut out = Vec::new();
        supplier.node.audit_export(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        audit.contains("revoked by directory"),
        "the refusal is audited"
    );
    // A revoked member stays revoked when it applies again.
    let joined = buyer
        .node
        .directories()
        .join(&buyer.node, None)
        .await
        .unwrap();
    assert_eq!(joined[0].state, MemberState::Revoked);
    assert!(joined[0].credential.is_none());

    // A third member keeps working while the directory is down, on its stale cache.
    let other = TestNode::start_with("parts", |r| r.directory.ttl_secs = 1).await;
    other
        .node
        .directories()
        .trust(&other.node, &directory.card_json())
        .unwrap();
    other
        .node
        .directories()
        .join(&other.node, Some(facts(&[], &[], &[])))
        .await
        .unwrap();
    client::fetch(
        &other.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("fetch while the directory is up");
    directory.stop().await;
    // Past the TTL both sides' entries are stale (by their clocks, advanced: no sleep); the
    // lookups fail and the cache is used.
    for node in [&supplier.node, &other.node] {
        node.clock().advance(Duration::from_millis(1100));
    }
    client::fetch(&other.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .expect("fetch on a stale cache while the directory is down");
}

#[tokio::test]
async fn rejoin_with_new_facts_replaces_the_credential_and_lists_page() {
    let directory = TestDirectory::start(ASSOCIATION, true).await;
    let node = TestNode::start("steel").await;
    let ds = node.node.directories();
    ds.trust(&node.node, &directory.card_json()).unwrap();
    let first = ds
        .join(&node.node, Some(facts(&["urn:tanso:p:a"], &[], &[])))
        .await
        .unwrap();
    let first = first[0].credential.clone().unwrap();
    let second = ds
        .join(
            &node.node,
            Some(facts(&["urn:tanso:p:b"], &["CPC:4122"], &[])),
        )
        .await
        .unwrap();
    let second = second[0].credential.clone().unwrap();
    assert!(second.serial > first.serial);
    assert_eq!(second.supplies_products, vec!["urn:tanso:p:b"]);
    let kept = ds.trusted(&node.node).unwrap()[0]
        .credential
        .clone()
        .unwrap();
    assert_eq!(kept, second);
    // The indexes follow: the old product no longer finds it, the new one and the code do.
    let mut c = DirectoryClient::connect_lazy(&directory.card()).unwrap();
    assert!(
        c.lookup_product("urn:tanso:p:a")
            .await
            .unwrap()
            .members
            .is_empty()
    );
    assert_eq!(
        c.lookup_product("urn:tanso:p:b")
            .await
            .unwrap()
            .members
            .len(),
        1
    );
    assert_eq!(
        c.lookup_classification("cpc:4122")
            .await
            .unwrap()
            .members
            .len(),
        1
    );

    // A paged member list over many members.
    for i in 0..25 {
        let card = node::card::NodeCard::issue(
            &NodeKey::from_seed(&[i as u8 + 10; 32]),
            &format!("urn:tanso:company:m{i:02}"),
            "member",
            "127.0.0.1:1",
            &"ab".repeat(32),
        )
        .unwrap();
        let member_key = NodeKey::from_seed(&[i as u8 + 10; 32]);
        let app = Application {
            association_id: ASSOCIATION.into(),
            card,
            supplies_products: vec![],
            supplies_classifications: vec![],
            buys_classifications: vec![],
            issued_at: rfc3339(Utc::now()),
        };
        let (bytes, sig) = app.sign(&member_key).unwrap();
        directory.directory.join(&bytes, &sig).unwrap();
    }
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = c.list(&token, 10).await.unwrap();
        assert!(page.members.len() <= 10);
        seen.extend(page.members.into_iter().map(|m| m.company_id));
        match page.next_page_token {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(seen.len(), 26, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 26);
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let directory = TestDirectory::start(ASSOCIATION, true).await;
    let card = directory.card();
    let member = NodeKey::from_seed(&[3; 32]);
    let node_card = node::card::NodeCard::issue(
        &member,
        "urn:tanso:company:acme",
        "Acme",
        "127.0.0.1:9",
        &"cd".repeat(32),
    )
    .unwrap();
    let app = Application {
        association_id: ASSOCIATION.into(),
        card: node_card.clone(),
        supplies_products: vec![],
        supplies_classifications: vec![],
        buys_classifications: vec![],
        issued_at: rfc3339(Utc::now()),
    };

    // A join with a bad signature (signed by another key).
    let (bytes, _) = app.sign(&member).unwrap();
    let (_, wrong) = app.sign(&NodeKey::from_seed(&[4; 32])).unwrap();
    let err = directory.directory.join(&bytes, &wrong).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(
        directory
            .directory
            .store()
            .dir_member("urn:tanso:company:acme")
            .unwrap()
            .is_none()
    );
    // A malformed application.
    let err = directory.directory.join(b"{not json", &wrong).unwrap_err();
    assert!(err.to_string().contains("not valid json"), "{err}");
    // An application for another association.
    let mut other = app.clone();
    other.association_id = "urn:tanso:association:other".into();
    let (b, s) = other.sign(&member).unwrap();
    let err = directory.directory.join(&b, &s).unwrap_err();
    assert!(
        err.to_string().contains("urn:tanso:association:other"),
        "{err}"
    );

    // The real one is approved (auto) and its credential verifies.
    let (b, s) = app.sign(&member).unwrap();
    let outcome = directory.directory.join(&b, &s).unwrap();
    let credential = outcome.credential.unwrap();
    credential.verify(&card, Utc::now()).unwrap();

    // A forged credential: same fields, signed by a key that is not the association's.
    let mut forged = credential.clone();
    forged.endpoint = "10.6.6.6:443".into();
    forged.sign(&NodeKey::from_seed(&[5; 32])).unwrap();
    forged.directory_key_id = card.key_id.clone();
    let err = forged.verify(&card, Utc::now()).unwrap_err();
    assert!(matches!(err, CredentialError::Signature { .. }), "{err}");
    // An expired credential (signed by the real association key).
    let association_key = Home::new(&directory.home).load_key().unwrap();
    let mut expired = credential.clone();
    expired.issued_at = rfc3339(Utc::now() - chrono::Duration::days(400));
    expired.expires_at = rfc3339(Utc::now() - chrono::Duration::days(35));
    expired.sign(&association_key).unwrap();
    let err = expired.verify(&card, Utc::now()).unwrap_err();
    assert!(matches!(err, CredentialError::Expired { .. }), "{err}");
    // An answer carrying the expired credential lists nobody.
    let list = StatusList::issue(&association_key, ASSOCIATION, 1, Utc::now(), vec![]).unwrap();
    let answer = Answer {
        association_id: ASSOCIATION.into(),
        issued_at: rfc3339(Utc::now()),
        query: "company:urn:tanso:company:acme".into(),
        members: vec![expired],
        next_page_token: None,
        status_list: list.clone(),
    };
    let verified = answer
        .seal(&association_key)
        .unwrap()
        .open(&card, "company:urn:tanso:company:acme", Utc::now())
        .unwrap();
    assert!(verified.members.is_empty());

    // An answer signed by an unknown key (a second directory posing as the first).
    let impostor = TestDirectory::start(ASSOCIATION, true).await;
    let mut posing = card.clone();
    posing.endpoint = impostor.card().endpoint;
    posing.tls_fingerprint = impostor.card().tls_fingerprint;
    let mut c = DirectoryClient::connect_lazy(&posing).unwrap();
    let err = c
        .lookup_company("urn:tanso:company:acme")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the pinned key"), "{err}");
    // Same with the key id relabelled: the signature itself fails.
    let impostor_key = Home::new(&impostor.home).load_key().unwrap();
    let mut relabelled: SealedAnswer = answer.seal(&impostor_key).unwrap();
    relabelled.key_id = card.key_id.clone();
    let err = relabelled
        .open(&card, "company:urn:tanso:company:acme", Utc::now())
        .unwrap_err();
    assert!(matches!(err, CredentialError::Signature { .. }), "{err}");
    // An answer to another question.
    let err = answer
        .seal(&association_key)
        .unwrap()
        .open(&card, "company:urn:tanso:company:other", Utc::now())
        .unwrap_err();
    assert!(
        matches!(err, CredentialError::QueryMismatch { .. }),
        "{err}"
    );

    // Malformed directory cards are refused by `trust`, naming the problem; nothing is pinned.
    let node = TestNode::start("buyer").await;
    let ds = node.node.directories();
    let err = ds.trust(&node.node, "{\"name\": 3}").unwrap_err();
    assert!(err.to_string().contains("directory card"), "{err}");
    let mut tampered = card.clone();
    tampered.endpoint = "10.0.0.1:1".into();
    let err = ds
        .trust(&node.node, &serde_json::to_string(&tampered).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    let mut bad_fp = card.clone();
    bad_fp.tls_fingerprint = "zz".into();
    let err = ds
        .trust(&node.node, &serde_json::to_string(&bad_fp).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("tlsFingerprint"), "{err}");
    assert!(ds.trusted(&node.node).unwrap().is_empty());
    // Join with nothing trusted, and join with a malformed product id.
    let err = ds.join(&node.node, None).await.unwrap_err();
    assert!(err.to_string().contains("trusts no directory"), "{err}");
    ds.trust(&node.node, &directory.card_json()).unwrap();
    let err = ds
        .join(&node.node, Some(facts(&["not a urn"], &[], &[])))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a urn"), "{err}");
}

#[test]
fn directory_cli_init_card_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("dir");
    let tanso = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tanso"))
            .args(args)
            .output()
            .expect("run tanso")
    };
    let h = home.to_str().unwrap();
    let out = tanso(&[
        "directory",
        "init",
        "--home",
        h,
        "--name",
        "Korea Steel",
        "--listen",
        "127.0.0.1:7999",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.join("node.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    let out = tanso(&["directory", "card", "--home", h]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card = DirectoryCard::parse(&String::from_utf8_lossy(&out.stdout)).expect("card parses");
    assert_eq!(card.association_id, "urn:tanso:association:korea-steel");
    assert_eq!(card.endpoint, "127.0.0.1:7999");
    let out = tanso(&[
        "directory",
        "approve",
        "--home",
        h,
        "urn:tanso:company:ghost",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no application from company urn:tanso:company:ghost")
    );
    // A second init refuses to overwrite; a bad listen address exits 64 naming the key.
    let out = tanso(&[
        "directory",
        "init",
        "--home",
        h,
        "--name",
        "x",
        "--listen",
        "127.0.0.1:1",
    ]);
    assert!(!out.status.success());
    let other = tmp.path().join("bad");
    let out = tanso(&[
        "directory",
        "init",
        "--home",
        other.to_str().unwrap(),
        "--name",
        "x",
        "--listen",
        "nowhere",
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
}

#[tokio::test]
async fn member_rotates_its_key_and_buyers_follow_through_the_directory() {
    let directory = TestDirectory::start(ASSOCIATION, true).await;
    let (supplier, buyer, id) = members(&directory, 300).await;
    let steel = company("steel");
    // The buyer finds the supplier through the directory and caches its credential.
    let docs = client::fetch(&buyer.node, &steel, FetchWhat::Id(id.clone()), None)
        .await
        .expect("fetch before the rotation");
    assert_eq!(docs.len(), 1);
    let old_key = supplier.node.key().key_id().to_string();

    // `tanso key rotate` (the admin command): the supplier re-applies with its chained card.
    let out = node::admin::execute(&supplier.node, node::admin::Command::KeyRotate)
        .await
        .expect("rotate");
    let node::admin::Answer::KeyRotated(out) = out else {
        panic!("not a rotation: {out:?}")
    };
    assert_eq!(
        out.directories,
        Some(node::admin::Rejoined::Rejoined(1)),
        "{out:?}"
    );
    let new_key = supplier.node.key().key_id().to_string();
    assert_ne!(old_key, new_key);
    let record = directory
        .directory
        .store()
        .dir_member(&steel)
        .unwrap()
        .expect("member");
    assert_eq!(record.state, MemberState::Approved);
    let credential = record.credential.expect("credential");
    assert_eq!(credential.key_id, new_key);
    assert_eq!(credential.previous_keys.len(), 1);
    assert_eq!(credential.previous_keys[0].key_id, old_key);

    // A footprint signed by the new key: the buyer's cached credential lacks that key, so it
    // asks the directory again, checks the chain, and verifies both footprints.
    let id2 = uuid();
    supplier
        .node
        .publish(&distinctive_footprint("steel", &id2).to_string())
        .expect("publish after rotation");
    let docs = client::fetch(
        &buyer.node,
        &steel,
        FetchWhat::Products(vec![PRODUCT.into()]),
        None,
    )
    .await
    .expect("fetch after the rotation");
    let mut signers: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            let sig = signed::verify_document(d).expect("owner signature");
            (d["id"].as_str().unwrap().to_string(), sig.key_id)
        })
        .collect();
    signers.sort();
    let mut expected = vec![
        (id.clone(), old_key.clone()),
        (id2.clone(), new_key.clone()),
    ];
    expected.sort();
    assert_eq!(signers, expected);

    // An application for the same company with an unrelated key (no statement signed by the
    // registered key) is refused, and the registered key stays.
    let intruder = NodeKey::from_seed(&[9; 32]);
    let forged_card =
        node::card::NodeCard::issue(&intruder, &steel, "Steel", "127.0.0.1:9", &"cd".repeat(32))
            .unwrap();
    let app = Application {
        association_id: ASSOCIATION.into(),
        card: forged_card,
        supplies_products: vec![PRODUCT.into()],
        supplies_classifications: vec![],
        buys_classifications: vec![],
        // Later than the supplier's re-join (which has millisecond precision).
        issued_at: rfc3339(Utc::now() + chrono::Duration::seconds(1)),
    };
    let (bytes, sig) = app.sign(&intruder).unwrap();
    let err = directory.directory.join(&bytes, &sig).unwrap_err();
    assert!(err.to_string().contains("rotation statement"), "{err}");
    let record = directory
        .directory
        .store()
        .dir_member(&steel)
        .unwrap()
        .unwrap();
    assert_eq!(record.card.key_id, new_key);
}

/// Envelopes from callers nobody knows (made-up company ids, well-formed headers, signed by
/// some key) make the supplier ask its directory at most `CALLER_LOOKUPS_PER_SEC` times a
/// second; the rest are refused without a lookup, counted as throttled, and a member the
/// supplier already knows is still served during and after the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_callers_cannot_turn_requests_into_directory_lookups() {
    use node::directory::client::CALLER_LOOKUPS_PER_SEC;
    use node::service::METHOD_GET_FOOTPRINT;
    use node::service::auth::Seal;
    use prost::Message;
    use proto::pb;

    let directory = TestDirectory::start(ASSOCIATION, true).await;
    let (supplier, buyer, id) = members(&directory, 300).await;
    for c in ["steel", "oem"] {
        directory.directory.approve(&company(c)).expect("approve");
    }
    for n in [&supplier, &buyer] {
        n.node
            .directories()
            .join(&n.node, None)
            .await
            .expect("join");
    }
    let fetch = || {
        let node = buyer.node.clone();
        let id = id.clone();
        async move { client::fetch(&node, &company("steel"), FetchWhat::Id(id), None).await }
    };
    fetch().await.expect("member fetch before the flood");

    let series = |outcome: &str| -> u64 {
        let text = supplier.node.metrics().render(&supplier.node);
        let name = format!("tanso_directory_lookups_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&name))
            .map_or(0, |v| v.trim().parse().expect("counter value"))
    };
    let fetched_before = series("fetched");

    // The flood: one connection, 16 in flight, many made-up callers, each header otherwise
    // valid (right method and audience, fresh, a 16-byte nonce), signed by the buyer's key.
    let card = supplier.node.card().expect("card");
    let channel = node::service::client::connect_lazy(&buyer.node, &card).expect("channel");
    let grpc = pb::connector_client::ConnectorClient::new(channel);
    let flood = 400u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..16u64 {
        let mut grpc = grpc.clone();
        let key = buyer.node.key();
        let body = pb::GetFootprintRequest { id: id.clone() }.encode_to_vec();
        tasks.push(tokio::spawn(async move {
            for n in (lane..flood).step_by(16) {
                let caller = format!("urn:tanso:company:ghost-{n}");
                let mut nonce = [0u8; 16];
                getrandom::fill(&mut nonce).expect("randomness");
                let envelope = Seal {
                    key: &key,
                    caller: &caller,
                    audience: &company("steel"),
                    method: METHOD_GET_FOOTPRINT,
                    purpose: None,
                    nonce,
                    issued_at_ms: Utc::now().timestamp_millis(),
                }
                .envelope(body.clone());
                let refused = grpc
                    .get_footprint(envelope)
                    .await
                    .expect_err("a ghost is refused");
                assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("flood lane");
    }
    let elapsed = started.elapsed().as_secs_f64();
    // A member the supplier knows is still served.
    fetch().await.expect("member fetch after the flood");

    let fetched = series("fetched") - fetched_before;
    let throttled = series("throttled");
    // `elapsed` seconds touch at most ceil(elapsed) + 1 one-second windows.
    let cap = u64::from(CALLER_LOOKUPS_PER_SEC);
    let allowed = cap * (elapsed.ceil() as u64 + 1);
    assert!(
        fetched <= allowed,
        "{fetched} directory lookups in {elapsed:.2} s (cap {cap}/s)"
    );
    assert!(fetched >= 1, "the first ghosts were looked up");
    assert_eq!(
        fetched + throttled,
        flood,
        "every ghost is either looked up or throttled (fetched {fetched}, throttled {throttled})"
    );
    if flood > allowed {
        assert!(
            throttled >= flood - allowed,
            "{flood} ghosts in {elapsed:.2} s, only {throttled} throttled"
        );
    }
    eprintln!("{flood} ghosts in {elapsed:.2} s: {fetched} looked up, {throttled} throttled");
    supplier.stop().await;
    buyer.stop().await;
}

/// `tanso request send` finds a supplier the way `fetch` does: a member of a trusted
/// directory needs no `partner add` (it failed with "unknown partner" while fetch worked).
#[tokio::test]
async fn a_request_reaches_a_supplier_found_through_the_directory() {
    let directory = TestDirectory::start(ASSOCIATION, true).await;
    let (supplier, buyer, _id) = members(&directory, 300).await;
    assert!(buyer.node.partners().unwrap().is_empty());
    let sent = node::admin::execute(
        &buyer.node,
        node::admin::Command::RequestSend {
            to: company("steel"),
            product_ids: vec![PRODUCT.into()],
            classifications: Vec::new(),
            comment: "for our LCA".into(),
            purpose: None,
        },
    )
    .await
    .expect("request send to a directory member");
    let node::admin::Answer::Outgoing(sent) = sent else {
        panic!("not a sent request: {sent:?}")
    };
    let request_id = sent.id;
    // The buyer's outbox delivers it to the supplier, which answers it under its policies.
    wait_for("the supplier to receive the request", || {
        supplier
            .node
            .store()
            .incoming_requests()
            .unwrap()
            .iter()
            .any(|r| r.id == request_id)
    })
    .await;
    wait_for("the buyer's request to leave the queue", || {
        let out = buyer
            .node
            .store()
            .outgoing_request(&request_id)
            .unwrap()
            .expect("stored");
        out.status != RequestState::Queued
    })
    .await;
    // A subscription finds the supplier the same way (and is then decided by its
    // `subscribe` policies, which here grant nothing: refused by the supplier, not unknown).
    let refused = node::admin::execute(
        &buyer.node,
        node::admin::Command::Subscribe {
            to: company("steel"),
            product_ids: vec![PRODUCT.into()],
            unsubscribe: false,
        },
    )
    .await
    .expect_err("no subscribe policy");
    assert!(
        matches!(refused, node::NodeError::PeerDenied { .. }),
        "{refused}"
    );
}
