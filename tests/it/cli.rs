//! The `tanso` binary end to end: init, serve, publish, fetch, verify, bad input, kill -9.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tests::{company, footprint, uuid};

pub(crate) fn tanso() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME").env("TANSO_LOG", "warn");
    cmd
}

pub(crate) fn run(args: &[&str]) -> Output {
    tanso().args(args).output().expect("run tanso")
}

pub(crate) fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "tanso {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

pub(crate) fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "tanso {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn home(dir: &Path, slug: &str) -> String {
    dir.join(slug).display().to_string()
}

pub(crate) fn init(dir: &Path, slug: &str) -> String {
    let h = home(dir, slug);
    ok(&[
        "init",
        "--home",
        &h,
        "--company-id",
        &company(slug),
        "--name",
        slug,
        "--listen",
        "127.0.0.1:0",
    ]);
    h
}

/// A running `tanso serve`, killed on drop.
pub(crate) struct Served {
    pub(crate) child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tanso serve` and waits until its admin socket answers.
pub(crate) fn serve(home: &str) -> Served {
    let child = tanso()
        .args(["serve", "--home", home])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let served = Served { child };
    let socket = PathBuf::from(home).join("admin.sock");
    tests::wait_for_blocking("the node's admin socket", || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    served
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

pub(crate) fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn two_companies_exchange_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let oem = init(dir.path(), "oem");
    let id = uuid();
    let fp = write(
        dir.path(),
        "fp.json",
        &footprint("steel", &id, "urn:tanso:steel:product:coil").to_string(),
    );
    // Published while the node is not running: the CLI opens the home directly.
    assert_eq!(
        ok(&["footprint", "publish", "--home", &steel, &fp]).trim(),
        id
    );
    ok(&[
        "policy",
        "add",
        "--home",
        &steel,
        &repo("policies/share-with-customers.json"),
    ]);

    let _node = serve(&steel);
    // While it runs, commands go through the admin socket; the card shows the bound port.
    let steel_card = write(
        dir.path(),
        "steel.card.json",
        &ok(&["id", "--home", &steel]),
    );
    let card: Value = serde_json::from_str(&std::fs::read_to_string(&steel_card).unwrap()).unwrap();
    assert!(
        !card["endpoint"].as_str().unwrap().ends_with(":0"),
        "{card}"
    );
    let oem_card = write(dir.path(), "oem.card.json", &ok(&["id", "--home", &oem]));
    ok(&[
        "partner", "add", "--home", &steel, "--group", "customer", &oem_card,
    ]);
    ok(&["partner", "add", "--home", &oem, &steel_card]);

    let fetched = ok(&[
        "fetch",
        "--home",
        &oem,
        "--from",
        &company("steel"),
        "--product-id",
        "urn:tanso:steel:product:coil",
    ]);
    let docs: Value = serde_json::from_str(&fetched).unwrap();
    assert_eq!(docs[0]["id"], id.as_str());
    let file = write(dir.path(), "received.json", &fetched);
    let verified = ok(&["verify", &file]);
    assert!(verified.contains("all 1 footprints verified"), "{verified}");

    // One changed byte of a value and verification fails.
    let tampered = write(
        dir.path(),
        "tampered.json",
        &fetched.replacen("\"2.1\"", "\"2.2\"", 1),
    );
    let out = run(&["verify", &tampered]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));

    // The inbox export verifies too.
    let exported = write(
        dir.path(),
        "inbox.json",
        &ok(&["inbox", "export", "--home", &oem]),
    );
    assert!(ok(&["verify", &exported]).contains("all 1 footprints verified"));

    let explain = ok(&[
        "policy",
        "explain",
        "--home",
        &steel,
        "--partner",
        &company("oem"),
        "--product-id",
        "urn:tanso:steel:product:coil",
    ]);
    assert!(
        explain.contains("permitted by urn:tanso:policy:share-with-customers"),
        "{explain}"
    );
    let explain = ok(&[
        "policy",
        "explain",
        "--home",
        &steel,
        "--partner",
        "urn:tanso:company:nobody",
        "--product-id",
        "urn:tanso:steel:product:coil",
    ]);
    assert!(explain.contains("denied"), "{explain}");

    assert!(ok(&["audit", "verify", "--home", &steel]).contains("audit chain ok: 1 entries"));
    let export = ok(&["audit", "export", "--home", &steel]);
    assert!(export.contains("\"decision\":\"permit\""), "{export}");
    assert!(
        !export.contains("\"2.1\""),
        "the audit log never holds footprint values"
    );
}

#[test]
fn fetch_from_an_unreachable_partner_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let oem = init(dir.path(), "oem");
    let card = write(
        dir.path(),
        "steel.card.json",
        &ok(&["id", "--home", &steel]),
    );
    ok(&["partner", "add", "--home", &oem, &card]);
    let err = fails(&[
        "fetch",
        "--home",
        &oem,
        "--from",
        &company("steel"),
        "--id",
        &uuid(),
    ]);
    assert!(err.contains("urn:tanso:company:steel"), "{err}");
    let err = fails(&[
        "fetch",
        "--home",
        &oem,
        "--from",
        "urn:tanso:company:ghost",
        "--id",
        &uuid(),
    ]);
    assert!(
        err.contains("unknown partner urn:tanso:company:ghost"),
        "{err}"
    );
}

/// Publishing `mutate(valid footprint)` fails naming `expect`, and nothing is stored.
fn rejected(mutate: impl FnOnce(&mut Value), expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let good = footprint("steel", &uuid(), "urn:tanso:steel:product:ok");
    let mut bad = footprint("steel", &uuid(), "urn:tanso:steel:product:bad");
    mutate(&mut bad);
    // A batch with one bad footprint stores nothing at all.
    let file = write(dir.path(), "batch.jsonl", &format!("{good}\n{bad}\n"));
    let err = fails(&["footprint", "publish", "--home", &steel, &file]);
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    assert_eq!(ok(&["footprint", "list", "--home", &steel]).trim(), "[]");
}

#[test]
fn bad_input_wrong_json_type() {
    rejected(
        |v| v["pcf"]["declaredUnitAmount"] = 1.into(),
        "[1]/pcf/declaredUnitAmount",
    );
}

#[test]
fn bad_input_missing_required_field() {
    rejected(
        |v| drop(v.as_object_mut().unwrap().remove("productIds")),
        "[1]/productIds",
    );
}

#[test]
fn bad_input_two_geography_fields() {
    rejected(
        |v| v["pcf"]["geographyRegionOrSubregion"] = "Eastern Asia".into(),
        "/pcf/geography",
    );
}

#[test]
fn bad_input_positive_biogenic_uptake() {
    rejected(
        |v| v["pcf"]["biogenicCO2Uptake"] = "0.5".into(),
        "[1]/pcf/biogenicCO2Uptake",
    );
}

#[test]
fn bad_input_broken_biogenic_sum() {
    rejected(
        |v| v["pcf"]["biogenicCO2Uptake"] = "-0.5".into(),
        "[1]/pcf/pcfIncludingBiogenicUptake",
    );
}

#[test]
fn bad_input_malformed_urn() {
    rejected(
        |v| v["productIds"] = serde_json::json!(["coil-42"]),
        "[1]/productIds/0",
    );
}

#[test]
fn bad_input_malformed_uuid() {
    rejected(|v| v["id"] = "not-a-uuid".into(), "[1]/id");
}

#[test]
fn bad_input_dqr_out_of_range() {
    rejected(
        |v| v["pcf"]["dqi"]["technologicalDQR"] = "7".into(),
        "[1]/pcf/dqi/technologicalDQR",
    );
}

#[test]
fn bad_input_unit_outside_the_enum() {
    rejected(
        |v| v["pcf"]["declaredUnitOfMeasurement"] = "tonne".into(),
        "[1]/pcf/declaredUnitOfMeasurement",
    );
}

#[test]
fn bad_input_not_our_company() {
    rejected(
        |v| v["companyIds"] = serde_json::json!(["urn:tanso:company:someone-else"]),
        "[1]/companyIds",
    );
}

#[test]
fn bad_input_policy_with_unknown_operand() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let file = write(
        dir.path(),
        "typo.json",
        "{\n  \"uid\": \"urn:test:typo\",\n  \"permission\": [{\n    \"action\": \"read\", \"view\": \"full\",\n    \"constraint\": [{\"leftOperand\": \"partnerGrup\", \"operator\": \"eq\", \"rightOperand\": \"customer\"}]\n  }]\n}\n",
    );
    let err = fails(&["policy", "add", "--home", &steel, &file]);
    assert!(err.contains("typo.json:5:"), "position missing: {err}");
    assert!(err.contains("partnerGrup"), "{err}");
    assert_eq!(ok(&["policy", "list", "--home", &steel]).trim(), "[]");
}

#[test]
fn bad_input_key_file_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let key = PathBuf::from(&steel).join("node.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = fails(&["serve", "--home", &steel]);
    assert!(
        err.contains("node.key") && err.contains("chmod 600"),
        "{err}"
    );
    let err = fails(&["id", "--home", &steel]);
    assert!(err.contains("644"), "{err}");
}

#[test]
fn bad_config_exits_64_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let config = PathBuf::from(&steel).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("engine = \"redb\"", "engine = \"rocks\""),
    )
    .unwrap();
    let out = run(&["serve", "--home", &steel]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store.engine"), "{err}");
}

/// Publishes one footprint at a time through the CLI while the node runs and answers
/// fetches, kills it with SIGKILL, restarts it: every acknowledged footprint is there and
/// the audit chain verifies. Three rounds, killed after a varying number of acks.
#[test]
fn sigkill_during_publishing_loses_no_acknowledged_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let oem = init(dir.path(), "oem");
    ok(&[
        "policy",
        "add",
        "--home",
        &steel,
        &repo("policies/share-with-customers.json"),
    ]);
    let mut acked: Vec<String> = Vec::new();
    for round in 0..3u32 {
        let node = serve(&steel);
        let card = write(
            dir.path(),
            "steel.card.json",
            &ok(&["id", "--home", &steel]),
        );
        ok(&["partner", "add", "--home", &oem, &card]);
        let oem_card = write(dir.path(), "oem.card.json", &ok(&["id", "--home", &oem]));
        ok(&[
            "partner", "add", "--home", &steel, "--group", "customer", &oem_card,
        ]);
        // Fetches in the background write audit entries while we publish.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fetcher = {
            let stop = stop.clone();
            let oem = oem.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = run(&[
                        "fetch",
                        "--home",
                        &oem,
                        "--from",
                        &company("steel"),
                        "--product-id",
                        "urn:tanso:steel:product:p0",
                    ]);
                }
            })
        };
        let kill_after = 5 + (round as usize * 7) % 11;
        for n in 0..kill_after {
            let id = uuid();
            let product = format!("urn:tanso:steel:product:p{n}");
            let file = write(
                dir.path(),
                "one.json",
                &footprint("steel", &id, &product).to_string(),
            );
            let out = run(&["footprint", "publish", "--home", &steel, &file]);
            if out.status.success() {
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);
                acked.push(id);
            }
        }
        // SIGKILL while a publish is in flight.
        let file = write(
            dir.path(),
            "last.json",
            &footprint("steel", &uuid(), "urn:tanso:steel:product:last").to_string(),
        );
        let mut in_flight = tanso()
            .args(["footprint", "publish", "--home", &steel, &file])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut node = node;
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        fetcher.join().unwrap();
        let status = in_flight.wait().unwrap();
        if status.success() {
            let mut s = String::new();
            std::io::Read::read_to_string(in_flight.stdout.as_mut().unwrap(), &mut s).unwrap();
            acked.extend(s.lines().map(str::to_string));
        }
        drop(node);
    }
    // After the last kill, the home opens directly: everything acknowledged is there.
    let list: Value = serde_json::from_str(&ok(&["footprint", "list", "--home", &steel])).unwrap();
    let stored: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in &acked {
        assert!(
            stored.contains(&id.as_str()),
            "acknowledged footprint {id} lost"
        );
    }
    assert!(acked.len() >= 5 + 12 + 8, "{} acknowledged", acked.len());
    let audit = ok(&["audit", "verify", "--home", &steel]);
    assert!(audit.contains("audit chain ok"), "{audit}");
}

/// Serves both homes and exchanges their (new) cards; the supplier lists the OEM as a customer.
pub(crate) fn serve_pair(dir: &Path, steel: &str, oem: &str) -> (Served, Served) {
    let (s, o) = (serve(steel), serve(oem));
    let steel_card = write(dir, "steel.card.json", &ok(&["id", "--home", steel]));
    let oem_card = write(dir, "oem.card.json", &ok(&["id", "--home", oem]));
    ok(&["partner", "add", "--home", oem, &steel_card]);
    ok(&[
        "partner", "add", "--home", steel, "--group", "customer", &oem_card,
    ]);
    (s, o)
}

pub(crate) fn request_status(home: &str, id: &str) -> String {
    ok(&["request", "status", "--home", home, id])
        .trim()
        .to_string()
}

/// Requests, automatic answers and Published notifications flow between two `tanso serve`
/// processes that are killed with SIGKILL mid-flow, three times. After a restart every
/// acknowledged request is answered exactly once, every answer and notification arrives,
/// and nothing is in the inbox twice.
#[test]
fn sigkill_during_requests_and_answers_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init(dir.path(), "steel");
    let oem = init(dir.path(), "oem");
    ok(&[
        "policy",
        "add",
        "--home",
        &steel,
        &repo("policies/share-with-customers.json"),
    ]);
    // (request id, product) of every acknowledged request; latest versions to be delivered.
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut latest: Vec<String> = Vec::new();
    for round in 0..3u32 {
        let (mut s, mut o) = serve_pair(dir.path(), &steel, &oem);
        let now = format!("urn:tanso:steel:product:now{round}");
        let later = format!("urn:tanso:steel:product:later{round}");
        let v1 = uuid();
        let file = write(
            dir.path(),
            "now.json",
            &footprint("steel", &v1, &now).to_string(),
        );
        ok(&["footprint", "publish", "--home", &steel, &file]);
        for product in [&now, &later, &now] {
            let id = ok(&[
                "request",
                "send",
                "--home",
                &oem,
                "--to",
                &company("steel"),
                "--product-id",
                product,
            ]);
            acked.push((id.trim().to_string(), product.clone()));
        }
        // Publishing `later` fulfils its pending request; updating `now` notifies the OEM.
        let file = write(
            dir.path(),
            "later.json",
            &footprint("steel", &uuid(), &later).to_string(),
        );
        ok(&["footprint", "publish", "--home", &steel, &file]);
        let mut next = footprint("steel", &v1, &now);
        next["pcf"]["pcfExcludingBiogenicUptake"] = "1.9".into();
        next["pcf"]["pcfIncludingBiogenicUptake"] = "1.9".into();
        next["pcf"]["fossilGhgEmissions"] = "1.9".into();
        let file = write(dir.path(), "next.json", &next.to_string());
        let out = ok(&["footprint", "update", "--home", &steel, &v1, &file]);
        latest.push(out.trim().to_string());
        // One more request in flight while both are killed.
        let mut in_flight = tanso()
            .args([
                "request",
                "send",
                "--home",
                &oem,
                "--to",
                &company("steel"),
                "--product-id",
                &now,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        s.child.kill().unwrap();
        o.child.kill().unwrap();
        s.child.wait().unwrap();
        o.child.wait().unwrap();
        if in_flight.wait().unwrap().success() {
            let mut out = String::new();
            std::io::Read::read_to_string(in_flight.stdout.as_mut().unwrap(), &mut out).unwrap();
            if !out.trim().is_empty() {
                acked.push((out.trim().to_string(), now.clone()));
            }
        }
    }
    let (_s, _o) = serve_pair(dir.path(), &steel, &oem);
    for (id, _) in &acked {
        tests::wait_for_blocking(&format!("request {id} fulfilled"), || {
            request_status(&oem, id)
                .starts_with("fulfilled ")
                .then_some(())
        });
        // Exactly one answer: the supplier's answer names the same footprints.
        let supplier_side: Value =
            serde_json::from_str(&ok(&["request", "show", "--home", &steel, id])).unwrap();
        assert_eq!(supplier_side["incoming"]["status"], "fulfilled", "{id}");
        let buyer_side = request_status(&oem, id);
        let answered: Vec<&str> = supplier_side["incoming"]["answer"]["footprints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(buyer_side, format!("fulfilled {}", answered.join(" ")));
    }
    // Every notified new version arrives (auto-fetch), once.
    for v2 in &latest {
        tests::wait_for_blocking(&format!("new version {v2} delivered"), || {
            let inbox: Value =
                serde_json::from_str(&ok(&["inbox", "list", "--home", &oem])).unwrap();
            let ids: Vec<&str> = inbox
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap())
                .collect();
            let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
            assert_eq!(unique.len(), ids.len(), "duplicate inbox entries");
            ids.contains(&v2.as_str()).then_some(())
        });
    }
    assert!(ok(&["audit", "verify", "--home", &steel]).contains("audit chain ok"));
    assert!(ok(&["audit", "verify", "--home", &oem]).contains("audit chain ok"));
}
