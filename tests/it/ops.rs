//! Operations: gRPC reflection, the Prometheus scrape after real traffic, JSON logs, and a
//! bad config refused with exit 64 before anything binds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use node::service::client::{self, FetchWhat};
use tests::{TestNode, befriend, company, footprint, http_get, policy_template, series, uuid};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

async fn reflect(addr: std::net::SocketAddr, request: MessageRequest) -> ServerReflectionResponse {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect over h2c");
    let mut client = ServerReflectionClient::new(channel);
    let outbound = tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .expect("reflection call")
        .into_inner();
    inbound
        .message()
        .await
        .expect("reflection stream")
        .expect("one reflection response")
}

#[tokio::test]
async fn reflection_lists_and_describes_the_services() {
    let steel = TestNode::start_with("steel", |raw| raw.tls.insecure_h2c = true).await;
    let response = reflect(steel.addr, MessageRequest::ListServices(String::new())).await;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a list: {response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "tanso.v1.Connector",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // grpcurl's `describe` asks for the file declaring a symbol.
    let response = reflect(
        steel.addr,
        MessageRequest::FileContainingSymbol("tanso.v1.Connector".into()),
    )
    .await;
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("not a file descriptor: {response:?}");
    };
    // The descriptor is protobuf bytes; its name and the method names are in it verbatim.
    let bytes = files.file_descriptor_proto.concat();
    let text = String::from_utf8_lossy(&bytes);
    for expected in ["tanso/v1/node.proto", "GetFootprint", "ListFootprints"] {
        assert!(
            text.contains(expected),
            "{expected} missing from the descriptor"
        );
    }
}

#[tokio::test]
async fn metrics_scrape_counts_a_real_fetch() {
    let steel = TestNode::start_with("steel", |raw| {
        raw.metrics.listen = Some("127.0.0.1:0".into());
        raw.pact.listen = Some("127.0.0.1:0".into());
    })
    .await;
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .unwrap();
    let id = uuid();
    steel
        .node
        .publish(&footprint("steel", &id, "urn:tanso:steel:product:coil").to_string())
        .unwrap();
    let oem = TestNode::start("oem").await;
    let outsider = TestNode::start("outsider").await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    befriend(&steel, &outsider, &[]);
    befriend(&outsider, &steel, &[]);
    let docs = client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Id(id.clone()),
        None,
    )
    .await
    .expect("permitted fetch");
    assert_eq!(docs[0]["id"], id.as_str());
    client::fetch(&outsider.node, &company("steel"), FetchWhat::Id(id), None)
        .await
        .expect_err("no policy shares with an outsider");
    // Two PACT API calls: discovery (200) and a list without a token (401).
    let pact = steel.pact_addr.expect("pact api bound");
    let fingerprint = steel.node.identity().fingerprint.clone();
    for (path, status) in [
        ("/.well-known/openid-configuration", 200),
        ("/3/footprints", 401),
    ] {
        let r = node::dashboard::client::request(pact, &fingerprint, "GET", path, &[], b"")
            .await
            .unwrap();
        assert_eq!(r.status, status, "{path}");
    }

    let addr = steel.metrics_addr.expect("metrics bound");
    let (status, scrape) = http_get(addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let permit = series(
        &scrape,
        "tanso_peer_requests_total",
        &["method=\"GetFootprint\"", "decision=\"permit\""],
    );
    assert_eq!(permit, Some(1.0), "{scrape}");
    let deny = series(
        &scrape,
        "tanso_peer_requests_total",
        &["method=\"GetFootprint\"", "decision=\"deny\""],
    );
    assert_eq!(deny, Some(1.0), "{scrape}");
    let timed = series(
        &scrape,
        "tanso_peer_request_duration_seconds_count",
        &["method=\"GetFootprint\""],
    );
    assert_eq!(timed, Some(2.0), "{scrape}");
    let store = series(&scrape, "tanso_store_size_bytes", &[]).unwrap();
    assert!(store > 0.0, "{scrape}");
    let outbox = series(&scrape, "tanso_outbox_depth", &[]);
    assert_eq!(
        outbox,
        Some(
            steel
                .node
                .store()
                .count(node::store::Table::Outbox)
                .unwrap() as f64
        )
    );
    for (route, status) in [
        ("/.well-known/openid-configuration", "200"),
        ("/3/footprints", "401"),
    ] {
        let route = format!("route=\"{route}\"");
        let status = format!("status=\"{status}\"");
        assert_eq!(
            series(&scrape, "tanso_pact_api_requests_total", &[&route, &status]),
            Some(1.0),
            "{scrape}"
        );
    }
    assert!(
        scrape.trim_end().ends_with("# EOF"),
        "openmetrics ends with EOF"
    );
    // Health endpoints for probes.
    assert_eq!(http_get(addr, "/healthz").await.unwrap().0, 200);
    let (status, body) = http_get(addr, "/readyz").await.unwrap();
    assert_eq!((status, body.trim()), (200, "ready"));
    assert_eq!(http_get(addr, "/nope").await.unwrap().0, 404);
}

// === processes ===

fn tanso() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tanso"));
    cmd.env_remove("TANSO_HOME").env("TANSO_LOG", "info");
    cmd
}

fn init(dir: &Path, slug: &str, extra: &[&str]) -> PathBuf {
    let home = dir.join(slug);
    let out = tanso()
        .args(["init", "--home"])
        .arg(&home)
        .args(["--company-id", &company(slug), "--name", slug])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

fn wait_for(path: &Path) {
    tests::wait_for_blocking(&path.display().to_string(), || path.exists().then_some(()));
}

#[test]
fn json_logs_are_one_object_per_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let home = init(
        dir.path(),
        "steel",
        &["--log-format", "json", "--metrics-listen", "127.0.0.1:0"],
    );
    let child = tanso()
        .args(["serve", "--home"])
        .arg(&home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&home.join("admin.sock"));
    wait_for(&home.join("metrics.addr"));
    // SIGTERM: a graceful stop logs the drain too.
    signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    let key_pem = std::fs::read_to_string(home.join("node.key")).unwrap();
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        assert!(!line.contains(&key_body), "key material in the log");
        assert!(!line.contains("PRIVATE KEY"), "key material in the log");
    }
    let messages: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
        .collect();
    for expected in ["serving peers", "node stopped"] {
        assert!(messages.iter().any(|m| m == expected), "{messages:?}");
    }
}

/// Sends `name` (TERM, KILL) to `pid` with the `kill` command (the workspace forbids unsafe code).
pub(crate) fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {name} {pid}");
}

#[test]
fn bad_config_keys_exit_64_naming_the_key_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let home = init(dir.path(), "steel", &[]);
    let config = home.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    // (what is changed, the text the error must contain)
    let cases: [(&str, String, &str); 9] = [
        (
            "bad listen address",
            good.replace(
                "listen = \"127.0.0.1:0\"",
                "listen = \"steel.example:50051\"",
            ),
            "key `listen`",
        ),
        (
            "unknown engine",
            good.replace("engine = \"redb\"", "engine = \"rocks\""),
            "key `store.engine`",
        ),
        (
            "store cache of zero MiB",
            good.replace("cache_mib = 16", "cache_mib = 0"),
            "key `store.cache_mib`",
        ),
        (
            "bad token ttl",
            format!("{good}\n[pact]\ntoken_ttl_secs = 0\n"),
            "key `pact.token_ttl_secs`",
        ),
        (
            "unknown key",
            format!("colour = \"green\"\n{good}"),
            "unknown field `colour`",
        ),
        (
            "bad metrics listen",
            format!("{good}\n[metrics]\nlisten = \"9464\"\n"),
            "key `metrics.listen`",
        ),
        (
            "clock skew out of range",
            good.replace("clock_skew_secs = 60", "clock_skew_secs = 0"),
            "key `limits.clock_skew_secs`",
        ),
        (
            "unknown log format",
            good.replace("format = \"text\"", "format = \"xml\""),
            "key `log.format`",
        ),
        (
            "otlp endpoint without a scheme",
            good.replace(
                "format = \"text\"",
                "format = \"text\"\notlp_endpoint = \"c:4317\"",
            ),
            "key `log.otlp_endpoint`",
        ),
    ];
    for (what, text, expect) in cases {
        assert_ne!(text, good, "{what}: the case changed nothing");
        std::fs::write(&config, &text).unwrap();
        let out = tanso()
            .args(["serve", "--home"])
            .arg(&home)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{what}: {stderr}");
        assert!(stderr.contains(expect), "{what}: {stderr}");
        // Nothing was bound or opened: no admin socket, no address files, no log line.
        for file in ["admin.sock", "metrics.addr", "pact-api.addr"] {
            assert!(!home.join(file).exists(), "{what}: {file} exists");
        }
        assert!(!stderr.contains("serving"), "{what}: {stderr}");
    }
    std::fs::write(&config, &good).unwrap();
}

/// `tanso serve` with `home` until the admin socket appears; the child to stop later.
fn serve_until_ready(home: &Path) -> std::process::Child {
    let child = tanso()
        .args(["serve", "--home"])
        .arg(home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&home.join("admin.sock"));
    child
}

fn run(args: &[&str], home: &Path) -> std::process::Output {
    tanso().args(args).arg("--home").arg(home).output().unwrap()
}

/// `tanso serve` on `home` exits with `code` and an error containing `expect`, having bound
/// nothing.
fn assert_serve_refused(home: &Path, code: i32, expect: &str, what: &str) {
    let out = tanso()
        .args(["serve", "--home"])
        .arg(home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(stderr.contains(expect), "{what}: {stderr}");
    for file in ["admin.sock", "metrics.addr", "pact.addr"] {
        assert!(!home.join(file).exists(), "{what}: {file} exists");
    }
    assert!(!stderr.contains("serving peers"), "{what}: {stderr}");
}

#[test]
fn files_the_config_names_permissions_and_a_busy_port_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let home = init(dir.path(), "steel", &[]);
    let config = home.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();

    // Bytes that are not UTF-8: a config problem with its line and column, not an IO error.
    let mut bytes = good.clone().into_bytes();
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    bytes.insert(line3 + 2, 0xff);
    std::fs::write(&config, &bytes).unwrap();
    assert_serve_refused(
        &home,
        64,
        "line 3, column 3: the file is not valid UTF-8",
        "bad utf-8",
    );

    // Files the config names must exist and parse.
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            good.replace(
                "[tls]\n",
                &format!("[tls]\nclient_ca = \"{}\"\n", missing.display()),
            ),
            "key `tls.client_ca`",
        ),
        (
            format!(
                "{good}\n[pact]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{0}\"\ntls_key = \"{0}\"\n",
                missing.display()
            ),
            "key `pact.tls_cert`",
        ),
    ];
    for (text, expect) in cases {
        assert_ne!(text, good);
        std::fs::write(&config, &text).unwrap();
        assert_serve_refused(&home, 64, expect, expect);
    }
    std::fs::write(&config, &good).unwrap();

    // A home others may write to is refused like a loose key file.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert_serve_refused(&home, 64, "writable by group or others", "loose home");
    let out = run(&["id"], &home);
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();

    // The PACT API's clients key others may read stops the start (it used to leave the API
    // unserved behind a log line while the node ran on).
    let out = run(
        &["pact", "client", "add", "--company-id", &company("oem")],
        &home,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = home.join("pact-clients.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        &config,
        format!("{good}\n[pact]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    assert_serve_refused(&home, 64, "pact-clients.key", "loose pact clients key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&config, &good).unwrap();

    // A port another process holds: its own exit code (it may be free on a later start).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    std::fs::write(
        &config,
        good.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\"")),
    )
    .unwrap();
    let out = tanso()
        .args(["serve", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    std::fs::write(&config, &good).unwrap();
}

#[test]
fn a_changed_engine_is_refused_until_the_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let home = init(dir.path(), "steel", &[]);
    let file = dir.path().join("fp.json");
    let id = tests::uuid();
    std::fs::write(
        &file,
        tests::footprint("steel", &id, "urn:tanso:steel:product:coil").to_string(),
    )
    .unwrap();
    let out = tanso()
        .args(["footprint", "publish", "--home"])
        .arg(&home)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = home.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();

    // The config now names sled while the data is in redb: refused, naming both.
    std::fs::write(
        &config,
        good.replace("engine = \"redb\"", "engine = \"sled\""),
    )
    .unwrap();
    assert_serve_refused(&home, 64, "tanso store migrate --to sled", "engine changed");
    let out = run(&["footprint", "list"], &home);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("tanso.redb") && stderr.contains("sled"),
        "{stderr}"
    );
    assert!(
        !home.join("store/sled").exists(),
        "an empty sled store was created"
    );

    // Migrating is refused while a node serves the home.
    std::fs::write(&config, &good).unwrap();
    let mut child = serve_until_ready(&home);
    let out = run(&["store", "migrate", "--to", "sled"], &home);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop it first"));
    signal(child.id(), "TERM");
    child.wait().unwrap();

    // Stopped: migrate to sled, and everything is there (footprint, audit chain).
    let out = run(&["store", "migrate", "--to", "sled"], &home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("audit chain verified"), "{stdout}");
    let migrated = std::fs::read_to_string(&config).unwrap();
    assert!(migrated.contains("engine = \"sled\""), "{migrated}");
    let list = run(&["footprint", "list"], &home);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    let verify = run(&["audit", "verify"], &home);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The old redb store was set aside, never deleted; and back again to redb.
    let aside: Vec<String> = std::fs::read_dir(home.join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside
            .iter()
            .any(|n| n.starts_with("tanso.redb.before-migrate-")),
        "{aside:?}"
    );
    let out = run(&["store", "migrate", "--to", "redb"], &home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = run(&["footprint", "list"], &home);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    // A second migration to the engine in use is refused, changing nothing.
    let out = run(&["store", "migrate", "--to", "redb"], &home);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already on redb"));
}

#[test]
fn serve_waits_for_a_command_holding_the_home_and_commands_wait_for_serve() {
    let dir = tempfile::tempdir().unwrap();
    let home = init(dir.path(), "steel", &[]);
    // A command (here: this process) holds the stopped home; serve waits, saying so, and
    // starts once it is released.
    let held = node::open(&node::home::Home::new(&home)).unwrap();
    let child = tanso()
        .args(["serve", "--home"])
        .arg(&home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(!home.join("admin.sock").exists());
    drop(held);
    wait_for(&home.join("admin.sock"));
    signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in use by another process; waiting up to"),
        "{stderr}"
    );

    // A command run right after `serve &` waits for the admin socket instead of failing
    // with "store is in use"; five times, since the window is short.
    for _ in 0..5 {
        let mut child = tanso()
            .args(["serve", "--home"])
            .arg(&home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = run(&["id"], &home);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for(&home.join("admin.sock"));
        signal(child.id(), "TERM");
        child.wait().unwrap();
    }
}
