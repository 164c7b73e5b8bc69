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

// === the binary ===

fn tanso(args: &[&str], passphrase: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME")
        .env_remove("TANSO_KEY_PASSPHRASE")
        .env_remove("TANSO_KEY_PASSPHRASE_FILE")
        .env("TANSO_LOG", "warn");
    if let Some(p) = passphrase {
        cmd.env("TANSO_KEY_PASSPHRASE", p);
    }
    cmd.args(args).output().expect("run tanso")
}

fn ok(args: &[&str], passphrase: Option<&str>) -> String {
    let out = tanso(args, passphrase);
    assert!(
        out.status.success(),
        "tanso {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn err(args: &[&str], passphrase: Option<&str>) -> (i32, String) {
    let out = tanso(args, passphrase);
    assert!(!out.status.success(), "tanso {args:?} must fail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn home_export_and_import_move_a_home_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("steel").display().to_string();
    let id = company("steel");
    ok(
        &[
            "init",
            "--home",
            &src,
            "--company-id",
            &id,
            "--name",
            "steel",
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    let key_id = ok(&["key", "show", "--home", &src], None);
    let bundle = dir.path().join("steel.tanso").display().to_string();

    // No passphrase: refused with the way to give one, and nothing written.
    let (_, message) = err(&["home", "export", "--home", &src, "--out", &bundle], None);
    assert!(message.contains("TANSO_KEY_PASSPHRASE"), "{message}");
    assert!(!std::path::Path::new(&bundle).exists());

    let out = ok(
        &["home", "export", "--home", &src, "--out", &bundle],
        Some("moving day"),
    );
    assert!(out.contains(&id), "{out}");
    let dst = dir.path().join("new").display().to_string();
    // The wrong passphrase is a locked key (exit 77), and no home appears.
    let (code, message) = err(
        &["home", "import", "--bundle", &bundle, "--home", &dst],
        Some("not it"),
    );
    assert_eq!(code, 77, "{message}");
    assert!(!std::path::Path::new(&dst).exists());
    ok(
        &["home", "import", "--bundle", &bundle, "--home", &dst],
        Some("moving day"),
    );
    // The same key, now encrypted under the bundle's passphrase.
    let shown = ok(&["key", "show", "--home", &dst], Some("moving day"));
    let field = |text: &str, name: &str| {
        serde_json::from_str::<serde_json::Value>(text).expect("key show prints json")[name].clone()
    };
    assert_eq!(field(&shown, "keyId"), field(&key_id, "keyId"));
    assert_eq!(field(&shown, "encrypted"), true);
    let (_, message) = err(
        &["home", "import", "--bundle", &bundle, "--home", &dst],
        Some("moving day"),
    );
    assert!(message.contains("exists"), "{message}");

    // A host's tenant has no TLS identity of its own: the import makes one.
    let tenant = Home::new(dir.path().join("tenant"));
    let mut raw = tests::raw_config("tenant");
    raw.listen = None;
    tenant
        .init_opts(
            &raw,
            &[3; 32],
            node::home::InitOptions {
                key: node::home::KeyProtection::Plain,
                tls_identity: false,
            },
        )
        .expect("tenant home");
    assert!(!tenant.has_identity());
    let tenant_bundle = dir.path().join("tenant.tanso").display().to_string();
    let tenant_home = tenant.dir.display().to_string();
    ok(
        &[
            "home",
            "export",
            "--home",
            &tenant_home,
            "--out",
            &tenant_bundle,
        ],
        Some("p"),
    );
    let moved = dir.path().join("tenant-moved");
    let out = ok(
        &[
            "home",
            "import",
            "--bundle",
            &tenant_bundle,
            "--home",
            &moved.display().to_string(),
        ],
        Some("p"),
    );
    assert!(out.contains("new self-signed certificate"), "{out}");
    assert!(Home::new(&moved).has_identity());
}
