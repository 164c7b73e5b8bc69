//! Operations: gRPC reflection, the Prometheus scrape after real traffic, JSON logs, and a
//! bad config refused with exit 64 before anything binds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use node::service::client::{self, FetchWhat};
use tests::{
    TestNode, befriend, company, footprint, http_get, metrics_addr, policy_template, series, uuid,
};
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
    let home = node::home::Home::new(&steel.home);
    let pact = loop {
        if let Some(addr) = node::pact_api::bound_addr(&home) {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
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

    let addr = metrics_addr(&steel.home).await;
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
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
