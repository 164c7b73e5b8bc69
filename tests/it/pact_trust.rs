//! How the PACT client trusts a host's certificate: a PACT API presenting a CA-signed
//! certificate (`[pact] tls_cert`), pulled with `--ca`, refused without it (web PKI), with the
//! wrong CA, with a pin of another certificate, or for another host name; answers to a PACT
//! request delivered to a host registered with `--ca`; a broken hosts file does not stop a
//! publish.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use node::home::Home;
use node::store::RequestState;
use serde_json::Value;
use tests::{TestCa, TestNode, company, footprint, policy_template, uuid};

/// Runs the binary; (success, stdout, stderr).
async fn tanso(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tanso"))
            .env_remove("TANSO_HOME")
            .env_remove("TANSO_PACT_SECRET")
            .env("TANSO_LOG", "warn")
            .args(&args)
            .output()
            .expect("run tanso");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

/// A node whose PACT API presents `cert` (signed by a test CA), and its PACT address.
async fn start_with_cert(slug: &str, cert: &(PathBuf, PathBuf)) -> (TestNode, SocketAddr) {
    let cert = cert.clone();
    let tn = TestNode::start_with(slug, move |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
        raw.pact.tls_cert = Some(cert.0);
        raw.pact.tls_key = Some(cert.1);
    })
    .await;
    let addr = tn.pact_addr.expect("pact api bound");
    (tn, addr)
}

/// A supplier (`slug`) with one published footprint, the share-with-customers policy and a PACT client for
/// oem in group `customer`: (footprint id, client id, secret).
fn supplier_setup(steel: &TestNode, slug: &str) -> (String, String, String) {
    let id = uuid();
    steel
        .node
        .publish(&footprint(slug, &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish");
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let (client_id, secret) = node::pact_api::add_client(
        &Home::new(&steel.home),
        &company("oem"),
        vec!["customer".into()],
    )
    .expect("client");
    (id, client_id, secret)
}

fn pull_args(oem: &TestNode, url: &str, client: &(String, String), trust: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "pact",
        "pull",
        "--home",
        &oem.home.display().to_string(),
        "--url",
        url,
        "--client-id",
        &client.0,
        "--client-secret",
        &client.1,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(trust.iter().map(|s| s.to_string()));
    args
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_a_ca_signed_host_checks_chain_and_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).expect("mkdir");
    let other_ca = TestCa::new(&other_dir);
    let cert = ca.server("steel-pact", &["localhost", "127.0.0.1"]);
    let (steel, addr) = start_with_cert("steel", &cert).await;
    let (id, client_id, secret) = supplier_setup(&steel, "steel");
    let client = (client_id, secret);
    let oem = TestNode::start("oem").await;
    tests::befriend(&oem, &steel, &[]);
    let url = format!("https://{addr}");

    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let node_fp = steel.node.identity().fingerprint.clone();
    let (ca_file, other_ca_file, not_pem) =
        (path(&ca.ca_pem), path(&other_ca.ca_pem), path(&not_pem));
    let refused: Vec<(&str, Vec<&str>, &str)> = vec![
        // No flag: the web PKI roots, which never signed the test CA.
        ("web pki", vec![], "UnknownIssuer"),
        (
            "another ca",
            vec!["--ca", &other_ca_file],
            "invalid peer certificate",
        ),
        // The node certificate on the card is not what the PACT port presents now.
        (
            "pin of the node certificate",
            vec!["--fingerprint", &node_fp],
            "pinned fingerprint",
        ),
        (
            "a ca file with no certificate",
            vec!["--ca", &not_pem],
            "no CERTIFICATE block",
        ),
        (
            "a ca and a pin",
            vec!["--ca", &ca_file, "--fingerprint", &node_fp],
            "cannot be used with",
        ),
    ];
    let refused: Vec<(&str, Vec<String>, &str)> = refused
        .into_iter()
        .map(|(what, flags, expect)| {
            (
                what,
                flags.into_iter().map(str::to_string).collect(),
                expect,
            )
        })
        .collect();
    for (what, flags, expect) in &refused {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let (ok, out, err) = tanso(pull_args(&oem, &url, &client, &flags)).await;
        assert!(!ok, "{what}: pull succeeded: {out}");
        assert!(
            err.contains(expect),
            "{what}: {err:?} should name {expect:?}"
        );
        assert!(
            oem.node.inbox().expect("inbox").is_empty(),
            "{what}: stored"
        );
    }

    // The right CA: verified chain, the ip address in the certificate, the owner signature.
    let (ok, out, err) = tanso(pull_args(&oem, &url, &client, &["--ca", &path(&ca.ca_pem)])).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["stored"][0][0], id.as_str(), "{report}");
    assert_eq!(report["stored"][0][1], "verified", "{report}");
    let inbox = oem.node.inbox().expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].provenance, format!("pact:{url}"));

    // A host whose CA-signed certificate is for another name is refused even with the CA.
    let elsewhere = ca.server("elsewhere", &["pact.elsewhere.test"]);
    let (other, other_addr) = start_with_cert("other", &elsewhere).await;
    let (_, cid, sec) = supplier_setup(&other, "other");
    let (ok, out, err) = tanso(pull_args(
        &oem,
        &format!("https://{other_addr}"),
        &(cid, sec),
        &["--ca", &path(&ca.ca_pem)],
    ))
    .await;
    assert!(!ok, "a certificate for another name was accepted: {out}");
    assert!(err.contains("not valid for name \"127.0.0.1\""), "{err}");
    assert_eq!(oem.node.inbox().expect("inbox").len(), 1);

    other.stop().await;
    oem.stop().await;
    steel.stop().await;
}

/// steel answers a PACT request to oem's host, registered with `tanso pact host add --ca`
/// (oem's PACT API presents a CA-signed certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_reach_a_host_registered_with_a_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let (steel, steel_addr) = {
        let tn = TestNode::start_with("steel", |raw| {
            raw.pact.listen = Some("127.0.0.1:0".into());
        })
        .await;
        let addr = tn.pact_addr.expect("pact api bound");
        (tn, addr)
    };
    let cert = ca.server("oem-pact", &["127.0.0.1"]);
    let (oem, oem_addr) = start_with_cert("oem", &cert).await;
    tests::befriend(&steel, &oem, &["customer"]);
    tests::befriend(&oem, &steel, &[]);
    let (_, oem_id, oem_secret) = supplier_setup(&steel, "steel");
    let (steel_id, steel_secret) =
        node::pact_api::add_client(&Home::new(&oem.home), &company("steel"), Vec::new())
            .expect("client");

    let steel_home = path(&steel.home);
    let add = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "pact",
            "host",
            "add",
            "--home",
            &steel_home,
            "--company-id",
            &company("oem"),
            "--url",
            &format!("https://{oem_addr}"),
            "--client-id",
            &steel_id,
            "--client-secret",
            &steel_secret,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // A ca file that is not one is refused and nothing is registered.
    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let (ok, _, err) = tanso(add(&["--ca", &path(&junk)])).await;
    assert!(!ok && err.contains("ca"), "{err}");
    assert!(
        node::pact_api::hosts::list_hosts(&Home::new(&steel.home))
            .expect("hosts")
            .is_empty()
    );
    let (ok, _, err) = tanso(add(&["--ca", &path(&ca.ca_pem)])).await;
    assert!(ok, "{err}");
    let (ok, listed, err) = tanso(vec![
        "pact".into(),
        "host".into(),
        "list".into(),
        "--home".into(),
        steel_home.clone(),
    ])
    .await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&listed).expect("list json");
    assert_eq!(listed[0]["tls"], "private ca (1 certificates)", "{listed}");
    assert!(!listed.to_string().contains(&steel_secret));

    // oem asks steel (pinned node certificate); steel fulfils at once and posts the answer to
    // oem's /3/events, checking oem's certificate against the CA.
    let args = node::pact_api::events::RequestArgs {
        base: format!("https://{steel_addr}"),
        trust: node::pact_api::trust::ServerTrust::pinned(&steel.node.identity().fingerprint)
            .expect("fp"),
        client_id: oem_id,
        client_secret: oem_secret,
        company_id: Some(company("steel")),
        product_ids: vec!["urn:tanso:steel:product:p0".into()],
        classifications: Vec::new(),
        comment: String::new(),
    };
    let sent = node::pact_api::events::send_request(&oem.node, args)
        .await
        .expect("request");
    let store = oem.node.store().clone();
    let answered = tests::wait_for("the answer at oem", async || {
        let r = store
            .outgoing_request(&sent.id)
            .expect("read")
            .expect("stored");
        (r.status != RequestState::Pending).then_some(r)
    })
    .await;
    assert_eq!(answered.status, RequestState::Fulfilled, "{answered:?}");
    assert_eq!(oem.node.inbox().expect("inbox").len(), 1);
    oem.stop().await;
    steel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_hosts_file_does_not_block_publishing() {
    let steel = TestNode::start("steel").await;
    let file = steel.home.join(node::pact_api::hosts::HOSTS_FILE);
    std::fs::write(&file, "{ not json").expect("write");
    let id = uuid();
    let outcome = steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:p0").to_string())
        .expect("publish goes through");
    assert_eq!(outcome.ids, vec![id.clone()]);
    assert!(
        outcome
            .notes
            .iter()
            .any(|n| n.contains("no PACT host was sent a PublishedEvent")
                && n.contains("pact-hosts.json")),
        "{:?}",
        outcome.notes
    );
    assert!(
        steel
            .node
            .store()
            .own_footprint(&id)
            .expect("read")
            .is_some()
    );
    steel.stop().await;
}
