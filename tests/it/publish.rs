//! Large publishes: streamed from the file in bounded memory, all or nothing on both engines
//! (an invalid footprint at the end, a SIGKILL in the middle), a bounded report of a rejected
//! batch, footprints too large for an answer refused at publish, and answers paged by size.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use node::service::client::{self, FetchWhat};
use node::store::{EngineKind, Store, Table};
use serde_json::Value;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

use crate::cli::{fails, ok, tanso};

/// `tanso init` of a home on `engine`.
fn init_on(dir: &Path, slug: &str, engine: &str) -> String {
    let home = dir.join(slug).display().to_string();
    ok(&[
        "init",
        "--home",
        &home,
        "--company-id",
        &company(slug),
        "--name",
        slug,
        "--listen",
        "127.0.0.1:0",
        "--engine",
        engine,
    ]);
    home
}

/// `n` valid footprints of `slug` as JSONL, each with a comment of `comment` bytes; and
/// their ids.
fn jsonl(slug: &str, n: usize, comment: usize) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid();
        let mut fp = footprint(slug, &id, &format!("urn:tanso:{slug}:product:p{i}"));
        if comment > 0 {
            fp["comment"] = Value::String("c".repeat(comment));
        }
        text.push_str(&fp.to_string());
        text.push('\n');
        ids.push(id);
    }
    (text, ids)
}

/// The store of a stopped home: rows per own-footprint table, and what a streamed publish
/// left behind (nothing, once it finished either way).
fn store_rows(home: &str, engine: EngineKind) -> ([u64; 5], u64) {
    let store = Store::open(&node::home::Home::new(Path::new(home)).store_dir(), engine).unwrap();
    let rows = [
        Table::Footprints,
        Table::FootprintsByProduct,
        Table::FootprintsByCompany,
        Table::FootprintsByClassification,
        Table::FootprintsByStatus,
    ]
    .map(|t| store.count(t).unwrap());
    (rows, store.count(Table::BulkUndo).unwrap())
}

fn engine_kind(engine: &str) -> EngineKind {
    engine.parse().unwrap()
}

/// A running `tanso serve` whose log says when a publish wrote a chunk into its open batch.
struct Logged {
    node: std::process::Child,
    chunks: std::sync::mpsc::Receiver<()>,
}

impl Logged {
    fn serve(home: &str) -> Logged {
        let mut node = tanso()
            .args(["serve", "--home", home])
            .env("TANSO_LOG", "warn,tanso_core::publish=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, chunks) = std::sync::mpsc::channel();
        let stderr = node.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("chunk written") {
                    let _ = tx.send(());
                }
            }
        });
        let socket = Path::new(home).join("admin.sock");
        tests::wait_for_blocking("the node's admin socket", || {
            std::os::unix::net::UnixStream::connect(&socket).ok()
        });
        Logged { node, chunks }
    }

    /// Waits until the node wrote a chunk of a publish into its open batch.
    fn wrote_a_chunk(&self) {
        self.chunks
            .recv_timeout(Duration::from_secs(180))
            .expect("the node wrote no chunk of the publish (was the file streamed?)");
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}

/// `tanso footprint publish` reading a named pipe the test writes: the pipe, the running
/// CLI, and the writing end (opened once the CLI opened the pipe).
fn publish_from_pipe(dir: &Path, home: &str) -> (std::process::Child, std::fs::File) {
    let fifo = dir.join("publish.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let cli = tanso()
        .args(["footprint", "publish", "--home", home])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    (cli, writer)
}

/// A large publish streamed to a serving node: the node has written chunks of the batch
/// before the document's last footprint, which is invalid, even exists. Then nothing at all
/// is stored, the store keeps nothing of the batch, and the valid part publishes whole.
/// (Before, the file was read whole before anything was validated.)
fn invalid_at_the_end_of_a_large_stream_stores_nothing(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let steel = init_on(dir.path(), "steel", engine);
    let (valid, ids) = jsonl("steel", 2500, 0);
    let node = Logged::serve(&steel);
    let (cli, mut pipe) = publish_from_pipe(dir.path(), &steel);
    pipe.write_all(valid.as_bytes()).unwrap();
    node.wrote_a_chunk();
    let mut bad = footprint("steel", &uuid(), "urn:tanso:steel:product:bad");
    bad["pcf"]["declaredUnitAmount"] = Value::String("0".into());
    writeln!(pipe, "{bad}").unwrap();
    drop(pipe);
    let out = cli.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the batch was accepted");
    assert!(err.contains("nothing was stored"), "{err}");
    assert!(err.contains("[2500]/pcf/declaredUnitAmount"), "{err}");
    assert_eq!(ok(&["footprint", "list", "--home", &steel]).trim(), "[]");
    drop(node);
    assert_eq!(store_rows(&steel, engine_kind(engine)), ([0; 5], 0));

    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, &valid).unwrap();
    let printed = ok(&[
        "footprint",
        "publish",
        "--home",
        &steel,
        &good.display().to_string(),
    ]);
    assert_eq!(printed.lines().collect::<Vec<_>>(), ids);
    assert_eq!(store_rows(&steel, engine_kind(engine)), ([2500; 5], 0));
}

#[test]
fn invalid_at_the_end_of_a_large_stream_stores_nothing_redb() {
    invalid_at_the_end_of_a_large_stream_stores_nothing("redb");
}

#[test]
fn invalid_at_the_end_of_a_large_stream_stores_nothing_sled() {
    invalid_at_the_end_of_a_large_stream_stores_nothing("sled");
}

/// A serving node is killed with SIGKILL in the middle of a streamed publish, after it wrote
/// some chunks of the batch: when the home opens again none of the batch is there and the
/// store is whole (the same document then publishes completely, indexes matching).
fn sigkill_in_the_middle_of_a_large_publish(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let steel = init_on(dir.path(), "steel", engine);
    let (text, ids) = jsonl("steel", 3000, 0);
    let mut node = Logged::serve(&steel);
    let (cli, mut pipe) = publish_from_pipe(dir.path(), &steel);
    // Two thirds of the document; the rest never comes.
    let part: String = text.lines().take(2000).map(|l| format!("{l}\n")).collect();
    pipe.write_all(part.as_bytes()).unwrap();
    node.wrote_a_chunk();
    node.node.kill().unwrap();
    node.node.wait().unwrap();
    drop(pipe);
    let out = cli.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "a publish cut short was acknowledged"
    );
    assert!(out.stdout.is_empty());

    assert_eq!(ok(&["footprint", "list", "--home", &steel]).trim(), "[]");
    assert_eq!(store_rows(&steel, engine_kind(engine)), ([0; 5], 0));
    let file = dir.path().join("all.jsonl");
    std::fs::write(&file, &text).unwrap();
    let printed = ok(&[
        "footprint",
        "publish",
        "--home",
        &steel,
        &file.display().to_string(),
    ]);
    assert_eq!(printed.lines().collect::<Vec<_>>(), ids);
    assert_eq!(store_rows(&steel, engine_kind(engine)), ([3000; 5], 0));
}

#[test]
fn sigkill_in_the_middle_of_a_large_publish_redb() {
    sigkill_in_the_middle_of_a_large_publish("redb");
}

#[test]
fn sigkill_in_the_middle_of_a_large_publish_sled() {
    sigkill_in_the_middle_of_a_large_publish("sled");
}

/// 100,000 footprints with one id: the report names the first 100 problems and counts the
/// others, instead of one line each.
#[test]
fn rejected_batch_of_100000_duplicate_ids_lists_100_findings_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init_on(dir.path(), "steel", "redb");
    let line = footprint("steel", &uuid(), "urn:tanso:steel:product:p").to_string();
    let file = dir.path().join("dups.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for _ in 0..100_000 {
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let err = fails(&[
        "footprint",
        "publish",
        "--home",
        &steel,
        &file.display().to_string(),
    ]);
    let findings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("appears twice"))
        .collect();
    assert_eq!(findings.len(), 100, "{}", &err[..err.len().min(2000)]);
    assert!(findings[0].starts_with("[1]/id: id "), "{}", findings[0]);
    assert!(
        findings[99].starts_with("[100]/id: id "),
        "{}",
        findings[99]
    );
    assert!(
        err.contains("... and 99899 more findings"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    assert!(err.lines().count() < 110, "{} lines", err.lines().count());
    assert_eq!(ok(&["footprint", "list", "--home", &steel]).trim(), "[]");
}

/// A footprint whose answer would be over `[limits] max_message_bytes` (a 5 MB comment
/// against the default 4 MiB) is refused at publish with its size and the limit, and a
/// batch carrying it stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footprint_too_large_for_an_answer_is_refused_with_size_and_limit() {
    let steel = TestNode::start("steel").await;
    let small = footprint("steel", &uuid(), "urn:tanso:steel:product:a");
    let big_id = uuid();
    let mut big = footprint("steel", &big_id, "urn:tanso:steel:product:a");
    big["comment"] = Value::String("x".repeat(5_000_000));
    let err = steel
        .node
        .publish(&format!("{small}\n{big}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing was stored"), "{err}");
    let expected = format!("footprint [1] {big_id}: encoded answer is ");
    let line = err
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("{}", &err[..err.len().min(500)]));
    let bytes: usize = line[expected.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((5_000_000..5_010_000).contains(&bytes), "{line}");
    assert!(
        line.ends_with("bytes, over the limit of 4194304 bytes ([limits] max_message_bytes)"),
        "{line}"
    );
    assert!(steel.node.footprints().unwrap().is_empty());
}

/// A product whose footprints do not fit one answer together is sent in pages that each fit
/// `[limits] max_message_bytes`, over gRPC; before, the one page was refused by the encoder
/// and the fetch failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_answers_are_paged_by_size() {
    let steel = TestNode::start_with("steel", |raw| raw.limits.max_message_bytes = 64 * 1024).await;
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    // 40 footprints of one product, ~6 KB each: 240 KB together.
    let mut docs = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..40 {
        let id = uuid();
        let mut fp = footprint("steel", &id, "urn:tanso:steel:product:coil");
        fp["comment"] = Value::String("m".repeat(6000));
        docs.push(fp.to_string());
        ids.push(id);
    }
    steel.node.publish(&docs.join("\n")).unwrap();
    let fetched = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec!["urn:tanso:steel:product:coil".into()]),
        None,
    )
    .await
    .expect("fetch by product");
    let mut got: Vec<String> = fetched
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    // Every answer stayed under the limit: the audit shows more than one page.
    let pages = audit_methods(&steel, "/tanso.v1.Connector/ListFootprints");
    assert!(pages >= 4, "{pages} pages");
}

/// ListFootprints answers the supplier's audit log recorded.
fn audit_methods(tn: &TestNode, method: &str) -> usize {
    let mut out = Vec::new();
    tn.node.audit_export(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| l.contains(method))
        .count()
}

/// A stored footprint too large for any answer (published before publish refused such, or
/// under a larger limit) does not break the fetch of its product: the others are sent and
/// it is named as withheld; fetching it by id says why; it can still be deprecated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_footprint_too_large_to_send_does_not_break_its_product() {
    let steel = TestNode::start("steel").await;
    let oem = TestNode::start("oem").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    let product = "urn:tanso:steel:product:coil";
    let small: Vec<String> = (0..2).map(|_| uuid()).collect();
    let docs: Vec<String> = small
        .iter()
        .map(|id| footprint("steel", id, product).to_string())
        .collect();
    steel.node.publish(&docs.join("\n")).unwrap();
    // As a node before this check stored it: signed, written straight to the store.
    let big_id = uuid();
    let mut big = footprint("steel", &big_id, product);
    big["comment"] = Value::String("x".repeat(5_000_000));
    let mut own = steel.node.footprint(&small[0]).unwrap();
    own.footprint = serde_json::from_value(big).unwrap();
    own.footprint.id = big_id.clone();
    steel.node.store().publish_batch(&[own], &[]).unwrap();

    let by_product = FetchWhat::Products(vec![product.into()]);
    let fetched = client::fetch_reporting(&oem.node, &company("steel"), by_product.clone(), None)
        .await
        .expect("the product still fetches");
    let mut got: Vec<String> = fetched
        .documents
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut expected = small.clone();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(fetched.withheld, vec![big_id.clone()]);

    let err = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(big_id.clone()),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("footprint {big_id}: its answer is "))
            && err.contains("over this node's limit of 4194304 bytes"),
        "{err}"
    );

    steel.node.deprecate(&big_id).unwrap();
    let fetched = client::fetch_reporting(&oem.node, &company("steel"), by_product, None)
        .await
        .expect("the product still fetches after the deprecation");
    assert_eq!(fetched.documents.len(), 2);
    assert_eq!(fetched.withheld, vec![big_id]);
}
