//! Key rotation and key protection: rotate while serving, partners learn the new key by
//! themselves, old signatures stay verifiable, forged or broken histories are refused, and
//! passphrase-encrypted keys.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::Utc;
use node::admin::{self, Command as Admin};
use node::card::NodeCard;
use node::crypto::NodeKey;
use node::home::Home;
use node::keys::{KeyRotation, PreviousKey};
use node::service::auth::Seal;
use node::service::client::{self, FetchWhat, PeerClient, connect_lazy};
use node::service::{METHOD_GET_FOOTPRINT, METHOD_UPDATE_CARD};
use node::signed;
use node::store::SignatureStatus;
use prost::Message;
use proto::pb;
use serde_json::Value;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

const COIL: &str = "urn:tanso:steel:product:coil";

/// Waits until `done` holds ([`tests::wait_for`]).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    tests::wait_for(what, async || done().then_some(())).await
}

/// A steel supplier sharing with customers, and an OEM customer; partners both ways.
async fn pair() -> (TestNode, TestNode) {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    (steel, oem)
}

fn publish(node: &TestNode, product: &str) -> String {
    let id = uuid();
    node.node
        .publish(&footprint("steel", &id, product).to_string())
        .expect("publish");
    id
}

/// The key id of the card `oem` pins for steel.
fn pinned_key(oem: &TestNode) -> String {
    oem.node
        .partner(&company("steel"))
        .expect("partner read")
        .expect("steel is a partner")
        .card
        .key_id
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

/// An envelope sealed by `key` as `caller` for `audience`.
fn seal(key: &NodeKey, caller: &str, audience: &str, method: &str, body: Vec<u8>) -> pb::Envelope {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("os randomness");
    Seal {
        key,
        caller,
        audience,
        method,
        purpose: None,
        nonce,
        issued_at_ms: Utc::now().timestamp_millis(),
    }
    .envelope(body)
}

/// A gRPC refusal as (code name, message); `tonic` is not a dependency of this target, so
/// the code is read from the status's Debug form (`Status { code: Xxx, ... }`).
fn refusal<T, E: std::fmt::Debug + std::fmt::Display>(result: Result<T, E>) -> (String, String) {
    let status = match result {
        Ok(_) => panic!("the call must be refused"),
        Err(status) => status,
    };
    let debug = format!("{status:?}");
    let code = debug
        .split("code: ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_default()
        .to_string();
    (code, status.to_string())
}

/// The base64url public key of `key`, as cards carry it.
fn public_b64(key: &NodeKey) -> String {
    NodeCard::issue(key, "urn:x:y", "x", "", &"0".repeat(64))
        .expect("card")
        .public_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_while_serving_a_partner_keeps_fetching_and_every_footprint_verifies() {
    let (steel, oem) = pair().await;
    let old_fp = publish(&steel, COIL);
    let old_key_id = steel.node.key().key_id().to_string();
    let old_key = Home::new(&steel.home).load_key().expect("old key");

    // The OEM fetches in a loop, across the rotation; any failure fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let fetched = Arc::new(AtomicUsize::new(0));
    let fetcher = {
        let (oem, stop, fetched, id) = (
            oem.node.clone(),
            stop.clone(),
            fetched.clone(),
            old_fp.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let docs = client::fetch(&oem, &company("steel"), FetchWhat::Id(id.clone()), None)
                    .await
                    .expect("fetch across the rotation");
                signed::verify_document(&docs[0]).expect("old footprint verifies");
                fetched.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    eventually("a first fetch", || fetched.load(Ordering::SeqCst) > 0).await;

    // Rotate through the admin socket of the running node.
    let out = admin::call(&Home::new(&steel.home).admin_socket(), &Admin::KeyRotate)
        .await
        .expect("the node serves its admin socket")
        .expect("rotate");
    let admin::Answer::KeyRotated(out) = out else {
        panic!("not a rotation: {out:?}")
    };
    let new_key_id = out.rotation.new_key_id;
    assert_eq!(out.rotation.old_key_id, old_key_id);
    assert_ne!(new_key_id, old_key_id);
    assert_eq!(out.rotation.partners_notified, 1);
    assert_eq!(steel.node.key().key_id(), new_key_id);

    // The partner learns the new key with no manual step (the outbox sends the card).
    eventually("the partner to pin the new key", || {
        pinned_key(&oem) == new_key_id
    })
    .await;
    let before = fetched.load(Ordering::SeqCst);
    eventually("fetches after the rotation", || {
        fetched.load(Ordering::SeqCst) >= before + 3
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    fetcher.await.expect("the fetch loop never failed");

    // A footprint published now is signed by the new key; both verify at the partner.
    let new_fp = publish(&steel, COIL);
    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec![COIL.into()]),
        None,
    )
    .await
    .expect("fetch old and new");
    assert_eq!(docs.len(), 2);
    for doc in &docs {
        let sig = signed::verify_document(doc).expect("verifies");
        let expected = if doc["id"] == old_fp.as_str() {
            &old_key_id
        } else {
            assert_eq!(doc["id"], new_fp.as_str());
            &new_key_id
        };
        assert_eq!(&sig.key_id, expected, "{}", doc["id"]);
    }
    assert!(
        oem.node
            .inbox()
            .unwrap()
            .iter()
            .all(|e| e.signature_status == SignatureStatus::Verified)
    );

    // The pinned card carries the history: the old key, retired by a statement it signed.
    let card = oem.node.partner(&company("steel")).unwrap().unwrap().card;
    assert_eq!(card.previous_keys.len(), 1);
    assert_eq!(card.previous_keys[0].key_id, old_key_id);
    assert_eq!(card.previous_keys[0].rotation.new_key_id, new_key_id);

    // The partner refuses requests signed by the retired key (no grace).
    let oem_card = oem.node.card().unwrap();
    let envelope = seal(
        &old_key,
        &company("steel"),
        &company("oem"),
        METHOD_GET_FOOTPRINT,
        pb::GetFootprintRequest { id: uuid() }.encode_to_vec(),
    );
    let channel = connect_lazy(&steel.node, &oem_card).unwrap();
    let result = pb::connector_client::ConnectorClient::new(channel)
        .get_footprint(envelope)
        .await;
    let (code, message) = refusal(result);
    assert_eq!(code, "Unauthenticated", "{message}");
    assert!(message.contains("retired"), "{message}");

    // Both audit chains verify (steel's head is now signed by the new key).
    for n in [&steel, &oem] {
        let report = n.node.audit_verify().unwrap();
        assert!(report.ok, "{:?}", report.problems);
    }
    assert!(audit(&oem).iter().any(|e| {
        e["method"] == "card-update"
            && e["decision"] == "permit"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&new_key_id))
    }));
}

/// Rotates steel's key with the OEM momentarily not its partner, so no card update is
/// queued for it: the OEM can learn the new key only on demand.
async fn rotate_unannounced(steel: &TestNode, oem: &TestNode) -> String {
    steel.node.remove_partner(&company("oem")).unwrap();
    let node = steel.node.clone();
    let out = tokio::task::spawn_blocking(move || node.rotate_key())
        .await
        .unwrap()
        .expect("rotate");
    assert_eq!(out.partners_notified, 0);
    befriend(steel, oem, &["customer"]);
    out.new_key_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_pulls_the_new_card_when_a_footprint_is_signed_by_an_unknown_key() {
    let (steel, oem) = pair().await;
    let old_fp = publish(&steel, COIL);
    let old_key_id = steel.node.key().key_id().to_string();
    let new_key_id = rotate_unannounced(&steel, &oem).await;
    assert_eq!(pinned_key(&oem), old_key_id);
    // A footprint signed by the new key: the OEM asks for the card (GetCard) to verify it.
    let new_fp = publish(&steel, COIL);
    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec![COIL.into()]),
        None,
    )
    .await
    .expect("fetch pulls the new card");
    assert_eq!(docs.len(), 2);
    let ids: Vec<&str> = docs.iter().filter_map(|d| d["id"].as_str()).collect();
    assert!(ids.contains(&old_fp.as_str()) && ids.contains(&new_fp.as_str()));
    assert_eq!(pinned_key(&oem), new_key_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_node_pushes_its_card_when_a_partner_does_not_know_its_key() {
    let (steel, oem) = pair().await;
    let old_key_id = steel.node.key().key_id().to_string();
    let new_key_id = rotate_unannounced(&steel, &oem).await;
    assert_eq!(pinned_key(&oem), old_key_id);
    // Steel calls the OEM signed with its new key; the OEM answers "unknown key", steel sends
    // its card (UpdateCard, chained from the pinned key) and the call goes through.
    let mut to_oem = PeerClient::for_partner(&steel.node, &company("oem"), None).unwrap();
    to_oem
        .notify(&uuid(), &[uuid()], &[COIL.to_string()])
        .await
        .expect("notify after the on-demand card update");
    assert_eq!(pinned_key(&oem), new_key_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_unchained_card_updates_are_refused_and_audited() {
    let (steel, oem) = pair().await;
    let pinned = pinned_key(&oem);
    let steel_card = steel.node.card().unwrap();
    let old_key = Home::new(&steel.home).load_key().unwrap();
    let forger = NodeKey::from_seed(&[42; 32]);

    // 1. A rotation statement claiming to retire steel's key, signed by the forger.
    let at = "2026-01-01T00:00:00.000Z";
    let mut statement = KeyRotation::sign(&forger, &company("steel"), &forger, at).unwrap();
    statement.old_key_id = old_key.key_id().to_string();
    let forged = NodeCard::issue(
        &forger,
        &company("steel"),
        "steel",
        &steel_card.endpoint,
        &steel_card.tls_fingerprint,
    )
    .unwrap()
    .with_history(
        &forger,
        &[PreviousKey {
            public_key: public_b64(&old_key),
            key_id: old_key.key_id().to_string(),
            retired_at: at.into(),
            rotation: statement,
        }],
    )
    .unwrap();
    // 2. A well-formed chain, but from a key the OEM never pinned.
    let other_old = NodeKey::from_seed(&[43; 32]);
    let unchained = NodeCard::issue(
        &forger,
        &company("steel"),
        "steel",
        &steel_card.endpoint,
        &steel_card.tls_fingerprint,
    )
    .unwrap()
    .with_history(
        &forger,
        &[PreviousKey {
            public_key: public_b64(&other_old),
            key_id: other_old.key_id().to_string(),
            retired_at: at.into(),
            rotation: KeyRotation::sign(&other_old, &company("steel"), &forger, at).unwrap(),
        }],
    )
    .unwrap();
    NodeCard::parse(&serde_json::to_string(&unchained).unwrap()).expect("self-consistent");

    let oem_card = oem.node.card().unwrap();
    for (card, names) in [
        (&forged, "not signed by the retired key"),
        (&unchained, "does not start from the known key"),
    ] {
        let body = pb::CardUpdate {
            card_json: serde_json::to_string(card).unwrap(),
        }
        .encode_to_vec();
        let envelope = seal(
            &forger,
            &company("steel"),
            &company("oem"),
            METHOD_UPDATE_CARD,
            body,
        );
        let channel = connect_lazy(&steel.node, &oem_card).unwrap();
        let result = pb::connector_client::ConnectorClient::new(channel)
            .update_card(envelope)
            .await;
        let (code, message) = refusal(result);
        assert_eq!(code, "Unauthenticated", "{message}");
        assert!(message.contains(names), "{message} should name {names:?}");
        assert_eq!(pinned_key(&oem), pinned, "the pinned card must not change");
        assert!(
            audit(&oem).iter().any(|e| e["decision"] == "deny"
                && e["method"] == METHOD_UPDATE_CARD
                && e["reason"].as_str().is_some_and(|r| r.contains(names))),
            "refusal naming {names:?} not audited"
        );
    }
    // The same cards through the operator path: refused unless re-pinned deliberately.
    let err = oem
        .node
        .add_partner(&serde_json::to_string(&unchained).unwrap(), vec![])
        .unwrap_err();
    assert!(err.to_string().contains("--replace"), "{err}");
    assert_eq!(pinned_key(&oem), pinned);
    oem.node
        .add_partner_with(&serde_json::to_string(&unchained).unwrap(), vec![], true)
        .expect("explicit re-pin");
    assert_eq!(pinned_key(&oem), unchained.key_id);
    let report = oem.node.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
}

// === the binary ===

fn tanso() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME")
        .env_remove("TANSO_KEY_PASSPHRASE")
        .env_remove("TANSO_KEY_PASSPHRASE_FILE")
        .env("TANSO_LOG", "warn");
    cmd
}

fn run(args: &[&str], passphrase: Option<&str>) -> Output {
    let mut cmd = tanso();
    if let Some(p) = passphrase {
        cmd.env("TANSO_KEY_PASSPHRASE", p);
    }
    cmd.args(args).output().expect("run tanso")
}

fn ok(args: &[&str], passphrase: Option<&str>) -> String {
    let out = run(args, passphrase);
    assert!(
        out.status.success(),
        "tanso {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn init(dir: &Path, slug: &str, extra: &[&str], passphrase: Option<&str>) -> String {
    let home = dir.join(slug).display().to_string();
    let mut args = vec![
        "init",
        "--home",
        &home,
        "--company-id",
        "",
        "--name",
        slug,
        "--listen",
        "127.0.0.1:0",
    ];
    let id = company(slug);
    args[4] = &id;
    args.extend_from_slice(extra);
    ok(&args, passphrase);
    home
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn rotate_stopped_then_verify_old_and_new_footprints_with_the_new_card() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel", &[], None);
    let oem = init(dir.path(), "oem", &[], None);
    let old_card = write(
        dir.path(),
        "old.card.json",
        &ok(&["id", "--home", &steel], None),
    );
    ok(&["partner", "add", "--home", &oem, &old_card], None);
    let old_id = uuid();
    let fp = write(
        dir.path(),
        "fp1.json",
        &footprint("steel", &old_id, COIL).to_string(),
    );
    ok(&["footprint", "publish", "--home", &steel, &fp], None);
    let old_doc = write(
        dir.path(),
        "old.signed.json",
        &ok(&["footprint", "show", "--home", &steel, &old_id], None),
    );

    // Rotate with no node running.
    let out = ok(&["key", "rotate", "--home", &steel], None);
    assert!(
        out.starts_with("rotated urn:tanso:company:steel: ed25519:"),
        "{out}"
    );
    let shown: Value = serde_json::from_str(&ok(&["key", "show", "--home", &steel], None)).unwrap();
    assert_eq!(shown["previousKeys"].as_array().unwrap().len(), 1);
    assert_eq!(shown["encrypted"], false);
    let new_card = write(
        dir.path(),
        "new.card.json",
        &ok(&["id", "--home", &steel], None),
    );
    let card: Value = serde_json::from_str(&std::fs::read_to_string(&new_card).unwrap()).unwrap();
    assert_eq!(
        card["previousKeys"][0]["keyId"],
        shown["previousKeys"][0]["keyId"]
    );
    assert_eq!(card["keyId"], shown["keyId"]);

    let new_id = uuid();
    let fp2 = write(
        dir.path(),
        "fp2.json",
        &footprint("steel", &new_id, COIL).to_string(),
    );
    ok(&["footprint", "publish", "--home", &steel, &fp2], None);
    let new_doc = write(
        dir.path(),
        "new.signed.json",
        &ok(&["footprint", "show", "--home", &steel, &new_id], None),
    );

    // Both verify against the current card; the old card knows only the old key.
    for doc in [&old_doc, &new_doc] {
        let out = ok(&["verify", "--card", &new_card, doc], None);
        assert!(out.contains("all 1 footprints verified"), "{out}");
    }
    ok(&["verify", "--card", &old_card, &old_doc], None);
    let out = run(&["verify", "--card", &old_card, &new_doc], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("neither the current nor a retired key"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The partner takes the rotated card without --replace: it chains from the pinned key.
    ok(&["partner", "add", "--home", &oem, &new_card], None);
    // A card of a fresh key for the same company does not chain: refused, unless --replace.
    let impostor = init(dir.path(), "impostor", &[], None);
    let raw = std::fs::read_to_string(Path::new(&impostor).join("config.toml")).unwrap();
    std::fs::write(
        Path::new(&impostor).join("config.toml"),
        raw.replace(&company("impostor"), &company("steel")),
    )
    .unwrap();
    let impostor_card = write(
        dir.path(),
        "imp.card.json",
        &ok(&["id", "--home", &impostor], None),
    );
    let out = run(&["partner", "add", "--home", &oem, &impostor_card], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not start from the known key") && err.contains("--replace"),
        "{err}"
    );
    let partners: Value =
        serde_json::from_str(&ok(&["partner", "list", "--home", &oem], None)).unwrap();
    assert_eq!(partners[0]["card"]["keyId"], card["keyId"]);
    ok(
        &[
            "partner",
            "add",
            "--home",
            &oem,
            "--replace",
            &impostor_card,
        ],
        None,
    );
    // The rotated home's audit chain still verifies (head signed by the new key).
    ok(&["audit", "verify", "--home", &steel], None);
}

#[test]
fn an_encrypted_key_opens_only_with_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "correct horse battery staple";
    // No passphrase: init with --encrypt-key refuses (exit 77), leaving no home.
    let out = run(
        &[
            "init",
            "--home",
            &dir.path().join("none").display().to_string(),
            "--company-id",
            &company("none"),
            "--name",
            "none",
            "--encrypt-key",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("none").join("config.toml").exists());

    let steel = init(dir.path(), "steel", &["--encrypt-key"], Some(secret));
    let pem = std::fs::read_to_string(Path::new(&steel).join("node.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    // Right passphrase, by env or by file.
    let card = ok(&["id", "--home", &steel], Some(secret));
    assert!(card.contains("urn:tanso:company:steel"));
    let pass_file = write(dir.path(), "pass.txt", &format!("{secret}\n"));
    ok(
        &["--passphrase-file", &pass_file, "id", "--home", &steel],
        None,
    );

    // Wrong and missing passphrase: a clear error, exit 77, and the passphrase never shown.
    let wrong = run(&["id", "--home", &steel], Some("not the passphrase"));
    assert_eq!(wrong.status.code(), Some(77));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("passphrase does not decrypt"), "{err}");
    assert!(!err.contains("not the passphrase"), "{err}");
    let missing = run(&["id", "--home", &steel], None);
    assert_eq!(missing.status.code(), Some(77));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("TANSO_KEY_PASSPHRASE"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    // `serve` refuses to start with a wrong passphrase, before binding anything.
    let serve = run(&["serve", "--home", &steel], Some("nope"));
    assert_eq!(serve.status.code(), Some(77));

    // Rotation of an encrypted key keeps the new key encrypted.
    ok(&["key", "rotate", "--home", &steel], Some(secret));
    let pem = std::fs::read_to_string(Path::new(&steel).join("node.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let shown: Value =
        serde_json::from_str(&ok(&["key", "show", "--home", &steel], Some(secret))).unwrap();
    assert_eq!(shown["encrypted"], true);
    assert_eq!(shown["previousKeys"].as_array().unwrap().len(), 1);
    assert_eq!(
        run(&["id", "--home", &steel], Some("nope")).status.code(),
        Some(77)
    );

    // A `tanso serve` started with the passphrase rotates through its admin socket (the CLI
    // needs no passphrase then), and writes the new key encrypted.
    let mut served = tanso()
        .env("TANSO_KEY_PASSPHRASE", secret)
        .args(["serve", "--home", &steel])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let socket = Path::new(&steel).join("admin.sock");
    tests::wait_for_blocking("the node's admin socket", || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    let rotated = run(&["key", "rotate", "--home", &steel], None);
    let _ = served.kill();
    let _ = served.wait();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let shown: Value =
        serde_json::from_str(&ok(&["key", "show", "--home", &steel], Some(secret))).unwrap();
    assert_eq!(shown["encrypted"], true);
    assert_eq!(shown["previousKeys"].as_array().unwrap().len(), 2);

    // `tanso key encrypt` protects a plaintext key in place.
    let oem = init(dir.path(), "oem", &[], None);
    let key_id =
        serde_json::from_str::<Value>(&ok(&["id", "--home", &oem], None)).unwrap()["keyId"].clone();
    ok(&["key", "encrypt", "--home", &oem], Some(secret));
    assert_eq!(run(&["id", "--home", &oem], None).status.code(), Some(77));
    let card: Value = serde_json::from_str(&ok(&["id", "--home", &oem], Some(secret))).unwrap();
    assert_eq!(card["keyId"], key_id);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(Path::new(&oem).join("node.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
