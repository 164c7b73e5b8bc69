//! Fault tolerance of a `tanso serve` process: SIGKILL at random points under publish and
//! request load (20 times, seeded), and a full disk (the store's injected write failure).
//!
//! Builds on the harness of `cli.rs` (its three-round SIGKILL tests cover notifications and
//! both nodes dying; these cover many kills at random points and the disk).

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tests::{company, footprint, uuid};

use crate::cli::{Served, fails, ok, repo, request_status, run, serve, tanso, write};

/// A port that was free a moment ago, so a node keeps one endpoint across restarts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn init_at(dir: &Path, slug: &str, listen: &str) -> String {
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
        listen,
    ]);
    home
}

fn stored_ids(home: &str) -> Vec<String> {
    let list: Value = serde_json::from_str(&ok(&["footprint", "list", "--home", home])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn kill(served: &mut Served) {
    served.child.kill().unwrap();
    served.child.wait().unwrap();
}

fn wait_fulfilled(home: &str, ids: &[String]) {
    for id in ids {
        tests::wait_for_blocking(&format!("request {id} fulfilled"), || {
            request_status(home, id)
                .starts_with("fulfilled ")
                .then_some(())
        });
    }
}

/// The supplier is killed with SIGKILL 20 times while a thread publishes through the CLI
/// and the buyer sends it footprint requests; each kill comes after a random number of
/// acknowledged publishes, mostly with a publish and a request in flight. After the last
/// restart every acknowledged footprint is stored, every acknowledged request is answered
/// (the outboxes of both sides resumed), a request queued while the supplier was down is
/// delivered, and both audit chains verify.
#[test]
fn sigkill_twenty_times_under_load_loses_nothing_acknowledged() {
    let seed: u64 = std::env::var("TANSO_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("fault seed {seed} (rerun with TANSO_FAULT_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);

    let dir = tempfile::tempdir().unwrap();
    let steel = init_at(dir.path(), "steel", &format!("127.0.0.1:{}", free_port()));
    let oem = init_at(dir.path(), "oem", "127.0.0.1:0");
    ok(&[
        "policy",
        "add",
        "--home",
        &steel,
        &repo("policies/share-with-customers.json"),
    ]);
    // One product exists from the start, so every request can be fulfilled at once.
    let product = "urn:tanso:steel:product:coil";
    let first = uuid();
    let file = write(
        dir.path(),
        "first.json",
        &footprint("steel", &first, product).to_string(),
    );
    ok(&["footprint", "publish", "--home", &steel, &file]);
    let _oem_node = serve(&oem);
    let mut steel_node = serve(&steel);
    let steel_card = write(dir.path(), "steel.card", &ok(&["id", "--home", &steel]));
    let oem_card = write(dir.path(), "oem.card", &ok(&["id", "--home", &oem]));
    ok(&["partner", "add", "--home", &oem, &steel_card]);
    ok(&[
        "partner", "add", "--home", &steel, "--group", "customer", &oem_card,
    ]);

    // The publisher: one footprint per CLI call, holding `gate` for the call so a restart
    // never races a CLI that fell back to opening the home directly.
    let acked = Arc::new(Mutex::new(vec![first]));
    let gate = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (acked, gate, stop) = (acked.clone(), gate.clone(), stop.clone());
        let (steel, dir) = (steel.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let _held = gate.lock().unwrap();
                let id = uuid();
                let file = write(
                    &dir,
                    "one.json",
                    &footprint("steel", &id, &format!("urn:tanso:steel:product:p{n}")).to_string(),
                );
                let out = run(&["footprint", "publish", "--home", &steel, &file]);
                if out.status.success() {
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);
                    acked.lock().unwrap().push(id);
                }
                n += 1;
            }
        })
    };

    let mut requests: Vec<String> = Vec::new();
    for round in 0..20 {
        // A request from the buyer, racing the kill below (the buyer is never killed, so
        // its acknowledgement means the request is durably in its outbox).
        let request = tanso()
            .args([
                "request",
                "send",
                "--home",
                &oem,
                "--to",
                &company("steel"),
                "--product-id",
                product,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after 0..=3 more acknowledged publishes: an event, not a timer.
        let target = acked.lock().unwrap().len() + rng.usize(0..=3);
        tests::wait_for_blocking(&format!("round {round}: {target} publishes"), || {
            (acked.lock().unwrap().len() >= target).then_some(())
        });
        kill(&mut steel_node);
        let out = request.wait_with_output().unwrap();
        assert!(out.status.success(), "round {round}: the buyer refused");
        requests.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
        // Restart once no CLI is inside the home.
        let held = gate.lock().unwrap();
        steel_node = serve(&steel);
        drop(held);
    }
    stop.store(true, Ordering::Relaxed);
    publisher.join().unwrap();

    // A request queued while the supplier is down is delivered once it is back.
    kill(&mut steel_node);
    let queued = ok(&[
        "request",
        "send",
        "--home",
        &oem,
        "--to",
        &company("steel"),
        "--product-id",
        product,
    ]);
    let queued = queued.trim().to_string();
    let status = request_status(&oem, &queued);
    assert!(
        !status.starts_with("fulfilled"),
        "answered while down: {status}"
    );
    let _steel_node = serve(&steel);
    requests.push(queued);
    wait_fulfilled(&oem, &requests);

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 21,
        "only {} publishes acknowledged",
        acked.len()
    );
    let stored = stored_ids(&steel);
    for id in &acked {
        assert!(stored.contains(id), "acknowledged footprint {id} lost");
    }
    for home in [&steel, &oem] {
        let audit = ok(&["audit", "verify", "--home", home]);
        assert!(audit.contains("audit chain ok"), "{audit}");
    }
}

/// With the store's disk-full fault armed, a publish fails with an error naming the disk
/// and stores nothing; reads and probes keep working; once the fault clears the same
/// footprint publishes, and the audit chain verifies.
#[test]
fn full_disk_refuses_writes_clearly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let steel = init_at(dir.path(), "steel", "127.0.0.1:0");
    // The ops listener, for the readiness probe during the fault.
    let config = Path::new(&steel).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[metrics]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let trigger = dir.path().join("disk-full");
    let child = tanso()
        .args(["serve", "--home", &steel])
        .env(node::store::FAULT_DISK_FULL_ENV, &trigger)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _node = Served { child };
    let socket = Path::new(&steel).join("admin.sock");
    let metrics_file = Path::new(&steel).join("metrics.addr");
    tests::wait_for_blocking("the node's admin socket and metrics address", || {
        (std::os::unix::net::UnixStream::connect(&socket).is_ok() && metrics_file.exists())
            .then_some(())
    });
    let metrics = std::fs::read_to_string(&metrics_file).unwrap();
    let readyz = || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(metrics.trim()).unwrap();
        write!(
            tcp,
            "GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text
    };

    let before = uuid();
    let file = write(
        dir.path(),
        "before.json",
        &footprint("steel", &before, "urn:tanso:steel:product:a").to_string(),
    );
    ok(&["footprint", "publish", "--home", &steel, &file]);

    std::fs::write(&trigger, b"").unwrap();
    let during = uuid();
    let file = write(
        dir.path(),
        "during.json",
        &footprint("steel", &during, "urn:tanso:steel:product:b").to_string(),
    );
    let err = fails(&["footprint", "publish", "--home", &steel, &file]);
    assert!(err.contains("disk full"), "{err}");
    assert!(err.contains("nothing was stored"), "{err}");
    // Reads still work, and show nothing of the refused footprint.
    assert_eq!(stored_ids(&steel), vec![before.clone()]);
    let shown = run(&["footprint", "show", "--home", &steel, &during]);
    assert!(!shown.status.success(), "a refused footprint is not stored");
    assert!(
        readyz().starts_with("HTTP/1.1 200"),
        "still ready for reads"
    );

    std::fs::remove_file(&trigger).unwrap();
    let out = ok(&["footprint", "publish", "--home", &steel, &file]);
    assert_eq!(
        out.trim(),
        during,
        "the same footprint publishes once space is back"
    );
    let mut stored = stored_ids(&steel);
    stored.sort();
    let mut expected = vec![before, during];
    expected.sort();
    assert_eq!(stored, expected);
    let audit = ok(&["audit", "verify", "--home", &steel]);
    assert!(audit.contains("audit chain ok"), "{audit}");
}
