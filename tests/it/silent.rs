//! Never block on a silent peer: `tanso pact pull` and `pact request` against hosts that accept
//! and never answer (plain TCP, or after the TLS handshake), that drip one byte a second, or
//! that send more than the response cap; outbox items to such a host are retried while other
//! items are delivered; a gRPC fetch from a partner that stays silent, and a directory lookup
//! whose answer never comes, end with a deadline.
//! And the other side of the new client: a pull's requests share one connection.
//!
//! Every bound here is a small configured deadline; a watchdog kills what would hang, so a
//! missing deadline fails the test instead of stalling the suite.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::config::RawConfig;
use node::home::Home;
use node::service::client::FetchWhat;
use tests::{TestNode, company, footprint, policy_template, uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a `tanso` run or an in-process call may take before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(40);

/// Small client deadlines and cap, so a deadline fires within seconds. The connect deadline
/// is shorter than the request deadline (which counts from the start, connecting included),
/// so a host that never completes TCP+TLS is reported as a connect failure, and long enough
/// that a loaded machine still completes a loopback TLS handshake within it.
fn tight(raw: &mut RawConfig) {
    raw.pact.client_connect_timeout_secs = 2;
    raw.pact.client_request_timeout_secs = 4;
    raw.pact.client_total_timeout_secs = 6;
    raw.pact.client_max_response_bytes = 64 * 1024;
    raw.limits.peer_connect_timeout_secs = 2;
    raw.limits.peer_call_timeout_secs = 4;
}

/// What a fake host does with each connection it accepts.
/// A dripping host's pause between bytes: short, yet the whole answer takes far longer than
/// the deadlines above (a head of ~60 bytes: 15 s > 4 s; a 100-byte body: 25 s > 6 s), so
/// only a deadline on the whole exchange ends it.
const DRIP: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Accepts TCP and never sends a byte.
    Silent,
    /// Completes the TLS handshake, then never sends a byte.
    TlsSilent,
    /// Sends an HTTP response one byte per `DRIP`, starting with its status line.
    DripHead,
    /// Sends the response head at once, then its body one byte per `DRIP`.
    DripBody,
    /// Declares a 100 MiB body.
    Declared,
    /// Sends a chunked body of 8 MiB as fast as it is read, then stays silent.
    Flood,
    /// Serves HTTP/2 and answers every request with a gRPC response head and no body.
    HeadOnly,
}

/// A fake host on 127.0.0.1 (its certificate is self-signed; `fingerprint` pins it).
struct FakeHost {
    addr: SocketAddr,
    fingerprint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHost {
    async fn start(behaviour: Behaviour) -> FakeHost {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let cert = node::tls::self_signed("fake").expect("cert");
        FakeHost::serve(
            listener,
            &cert.cert_pem,
            &cert.key_pem,
            behaviour,
            "http/1.1",
        )
    }

    /// Serves `listener` with the certificate `cert_pem` (ALPN `alpn`).
    fn serve(
        listener: TcpListener,
        cert_pem: &str,
        key_pem: &str,
        behaviour: Behaviour,
        alpn: &str,
    ) -> FakeHost {
        let addr = listener.local_addr().expect("addr");
        let identity = node::tls::Identity::from_pem(cert_pem, key_pem).expect("identity");
        let fingerprint = identity.fingerprint.clone();
        let mut config = (*node::tls::server_config(&identity, None).expect("config")).clone();
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(async move {
            let mut held = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                held.spawn(connection(tcp, acceptor.clone(), behaviour));
            }
        });
        FakeHost {
            addr,
            fingerprint,
            task,
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn connection(tcp: TcpStream, acceptor: tokio_rustls::TlsAcceptor, behaviour: Behaviour) {
    if let Behaviour::Silent = behaviour {
        let _held = tcp;
        return std::future::pending().await;
    }
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    if let Behaviour::TlsSilent = behaviour {
        return std::future::pending().await;
    }
    if let Behaviour::HeadOnly = behaviour {
        let service = hyper::service::service_fn(|_request| async {
            hyper::Response::builder()
                .header("content-type", "application/grpc")
                .body(NoBody)
        });
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
            .await;
        return;
    }
    // The request head (whatever it is: the answer does not depend on it).
    let mut buf = vec![0u8; 16 * 1024];
    let _ = tls.read(&mut buf).await;
    let head =
        |extra: &str| format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}\r\n");
    let _ = match behaviour {
        Behaviour::DripHead => {
            let response = format!("{}{{}}", head("content-length: 2\r\n"));
            for byte in response.bytes() {
                if tls.write_all(&[byte]).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(DRIP).await;
            }
            Ok(())
        }
        Behaviour::DripBody => {
            if tls
                .write_all(head("content-length: 100\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            loop {
                if tls.write_all(b" ").await.is_err() || tls.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(DRIP).await;
            }
        }
        Behaviour::Declared => {
            tls.write_all(head("content-length: 104857600\r\n").as_bytes())
                .await
        }
        Behaviour::Flood => {
            if tls
                .write_all(head("transfer-encoding: chunked\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
            for _ in 0..128 {
                if tls.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            Ok(())
        }
        Behaviour::Silent | Behaviour::TlsSilent | Behaviour::HeadOnly => Ok(()),
    };
    let _ = tls.flush().await;
    std::future::pending::<()>().await;
}

/// A response body that never yields a byte nor ends.
struct NoBody;

impl hyper::body::Body for NoBody {
    type Data = hyper::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Runs the binary, killed after [`WATCHDOG`]: (exit status or None when killed, stdout,
/// stderr).
async fn tanso(args: Vec<String>) -> (Option<std::process::ExitStatus>, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tanso"))
            .env_remove("TANSO_HOME")
            .env_remove("TANSO_PACT_SECRET")
            .env("TANSO_LOG", "warn")
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tanso");
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read as _;
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (status, out, err)
    })
    .await
    .expect("join")
}

/// A TCP relay to `upstream` that counts the connections it accepted.
struct CountingProxy {
    addr: SocketAddr,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    async fn start(upstream: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy {
            addr,
            connections,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn pull_args(home: &std::path::Path, host: &FakeHost) -> Vec<String> {
    [
        "pact",
        "pull",
        "--home",
        &home.display().to_string(),
        "--url",
        &host.url(),
        "--client-id",
        "client",
        "--client-secret",
        "secret",
        "--fingerprint",
        &host.fingerprint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_a_silent_or_dripping_host_ends_with_the_deadline_that_fired() {
    let oem = TestNode::start_with("oem", tight).await;
    let cases = [
        (Behaviour::Silent, "client_connect_timeout_secs"),
        (Behaviour::TlsSilent, "client_request_timeout_secs"),
        (Behaviour::DripHead, "client_request_timeout_secs"),
        (Behaviour::DripBody, "client_total_timeout_secs"),
        (Behaviour::Declared, "client_max_response_bytes"),
        (Behaviour::Flood, "client_max_response_bytes"),
    ];
    // The cases run side by side (each waits for its own deadline).
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(behaviour, expect)| {
            let home = oem.home.clone();
            tokio::spawn(async move {
                let host = FakeHost::start(behaviour).await;
                let (status, out, err) = tanso(pull_args(&home, &host)).await;
                (behaviour, expect, host.url(), status, out, err)
            })
        })
        .collect();
    for run in runs {
        let (behaviour, expect, url, status, out, err) = run.await.expect("case");
        let status = status.unwrap_or_else(|| panic!("{behaviour:?}: pull hung"));
        assert!(!status.success(), "{behaviour:?}: pull succeeded: {out}");
        assert!(
            err.contains(expect) && err.contains(&url),
            "{behaviour:?}: {err:?} should name {expect} and the host"
        );
    }
    assert!(oem.node.inbox().expect("inbox").is_empty());

    // `tanso pact request` to a host that completes TLS and says nothing: the same deadline,
    // and nothing is stored (no token was granted).
    let host = FakeHost::start(Behaviour::TlsSilent).await;
    let (status, _, err) = tanso(
        [
            "pact",
            "request",
            "--home",
            &oem.home.display().to_string(),
            "--url",
            &host.url(),
            "--fingerprint",
            &host.fingerprint,
            "--client-id",
            "client",
            "--client-secret",
            "secret",
            "--product-id",
            "urn:tanso:steel:product:p0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await;
    let status = status.expect("pact request hung");
    assert!(!status.success());
    assert!(err.contains("client_request_timeout_secs"), "{err}");
    assert!(
        oem.node
            .store()
            .outgoing_requests()
            .expect("requests")
            .is_empty()
    );
    oem.stop().await;
}

/// An answer event and a PublishedEvent to a host that completes TLS and stays silent are
/// retried with backoff, each attempt ending at the request deadline, while the
/// PublishedEvent to a host that answers is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_items_to_a_silent_host_are_retried_while_others_are_delivered() {
    let silent = FakeHost::start(Behaviour::TlsSilent).await;
    let steel = TestNode::start_with("steel", |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
        tight(raw);
    })
    .await;
    let steel_addr = steel.pact_addr.expect("pact api bound");
    let buyer = TestNode::start_with("buyer", |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
    })
    .await;
    let buyer_addr = buyer.pact_addr.expect("pact api bound");
    let oem = TestNode::start("oem").await;

    let steel_home = Home::new(&steel.home);
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    let (oem_id, oem_secret) =
        node::pact_api::add_client(&steel_home, &company("oem"), vec!["customer".into()])
            .expect("client");
    node::pact_api::add_client(&steel_home, &company("buyer"), vec!["customer".into()])
        .expect("client");
    let (steel_id, steel_secret) =
        node::pact_api::add_client(&Home::new(&buyer.home), &company("steel"), Vec::new())
            .expect("client");
    let pinned = |fp: &str| node::pact_api::trust::ServerTrust::pinned(fp).expect("fp");
    node::pact_api::hosts::add_host(
        &steel_home,
        &company("oem"),
        &silent.url(),
        "client",
        "secret",
        &pinned(&silent.fingerprint),
    )
    .expect("host");
    node::pact_api::hosts::add_host(
        &steel_home,
        &company("buyer"),
        &format!("https://{buyer_addr}"),
        &steel_id,
        &steel_secret,
        &pinned(&buyer.node.identity().fingerprint),
    )
    .expect("host");

    // A publish queues a PublishedEvent for oem (silent) and buyer (answers).
    steel
        .node
        .publish(&footprint("steel", &uuid(), "urn:tanso:steel:product:p0").to_string())
        .expect("publish");
    // oem asks steel over PACT; steel's answer event goes to oem's (silent) host.
    let args = node::pact_api::events::RequestArgs {
        base: format!("https://{steel_addr}"),
        trust: pinned(&steel.node.identity().fingerprint),
        client_id: oem_id,
        client_secret: oem_secret,
        company_id: Some(company("steel")),
        product_ids: vec!["urn:tanso:steel:product:p0".into()],
        classifications: Vec::new(),
        comment: String::new(),
    };
    tokio::time::timeout(
        WATCHDOG,
        node::pact_api::events::send_request(&oem.node, args),
    )
    .await
    .expect("request hung")
    .expect("request");

    tests::wait_for("steel's outbox to settle", async || {
        let items = steel.node.store().outbox().expect("outbox");
        let to_buyer = items.iter().any(|i| i.target == company("buyer"));
        let to_oem: Vec<_> = items
            .iter()
            .filter(|i| i.target == company("oem"))
            .collect();
        let retried = to_oem.len() == 2
            && to_oem.iter().all(|i| {
                i.attempts >= 1
                    && i.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("client_request_timeout_secs"))
            });
        (!to_buyer && retried).then_some(())
    })
    .await;
    oem.stop().await;
    buyer.stop().await;
    steel.stop().await;
}

/// A gRPC fetch from a partner whose endpoint accepts TCP and says nothing, from one that
/// completes the (pinned) TLS handshake and then says nothing, and from one that sends the
/// answer's head but never its body (which tonic's own timeout does not cover), ends with a
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_from_a_silent_partner_ends_with_a_deadline() {
    let oem = TestNode::start_with("oem", tight).await;
    for (behaviour, expect) in [
        (Behaviour::Silent, "peer_connect_timeout_secs"),
        (Behaviour::TlsSilent, "peer_call_timeout_secs"),
        (Behaviour::HeadOnly, "peer_call_timeout_secs"),
    ] {
        // steel's card advertises the fake endpoint, which presents steel's certificate.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = listener.local_addr().expect("addr").to_string();
        let steel = TestNode::start_with("steel", |raw| raw.advertise = Some(endpoint)).await;
        let home = Home::new(&steel.home);
        let cert = std::fs::read_to_string(home.cert_path()).expect("cert");
        let key = std::fs::read_to_string(home.tls_key_path()).expect("key");
        let _fake = FakeHost::serve(listener, &cert, &key, behaviour, "h2");
        oem.node.peers().forget(&company("steel"));
        tests::befriend(&oem, &steel, &[]);
        let fetched = tokio::time::timeout(
            WATCHDOG,
            node::service::client::fetch(&oem.node, &company("steel"), FetchWhat::Id(uuid()), None),
        )
        .await
        .unwrap_or_else(|_| panic!("{behaviour:?}: fetch hung"));
        let err = fetched.expect_err("fetched from a silent peer").to_string();
        assert!(err.contains(expect), "{behaviour:?}: {err}");
        oem.node.remove_partner(&company("steel")).ok();
        steel.stop().await;
    }
    oem.stop().await;
}

/// A directory lookup whose answer head arrives but whose body never does ends at the
/// directory call deadline (5 s) instead of waiting for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_never_finishes_its_answer_is_given_up() {
    use node::directory::server::{self, Directory, RawDirectoryConfig};
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = Home::new(tmp.path().join("directory"));
    let raw = RawDirectoryConfig::new(
        "urn:tanso:association:silent",
        "Silent association",
        "127.0.0.1:0",
    );
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("randomness");
    server::init(&home, &raw, &seed).expect("init directory");
    let directory = Directory::open(&home).expect("open directory");
    // Its card names the fake's address, which presents the directory's certificate.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    directory.set_bound_endpoint(listener.local_addr().expect("addr"));
    let cert = std::fs::read_to_string(home.cert_path()).expect("cert");
    let key = std::fs::read_to_string(home.tls_key_path()).expect("key");
    let _fake = FakeHost::serve(listener, &cert, &key, Behaviour::HeadOnly, "h2");
    let mut client =
        node::directory::DirectoryClient::connect_lazy(&directory.card().expect("card"))
            .expect("client");
    let looked_up = tokio::time::timeout(WATCHDOG, client.lookup_company(&company("steel")))
        .await
        .expect("lookup hung");
    let err = looked_up
        .expect_err("an answer from a silent directory")
        .to_string();
    assert!(
        err.contains("unreachable") && err.contains("directory call deadline"),
        "{err}"
    );
}

/// Discovery, the token and every page of a pull go over one connection (HTTP/2 with a tanso
/// host), where the old client opened one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_sends_all_its_requests_over_one_connection() {
    let steel = TestNode::start_with("steel", |raw| {
        raw.pact.listen = Some("127.0.0.1:0".into());
    })
    .await;
    let steel_addr = steel.pact_addr.expect("pact api bound");
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    for _ in 0..3 {
        steel
            .node
            .publish(&footprint("steel", &uuid(), "urn:tanso:steel:product:p0").to_string())
            .expect("publish");
    }
    let (client_id, secret) = node::pact_api::add_client(
        &Home::new(&steel.home),
        &company("oem"),
        vec!["customer".into()],
    )
    .expect("client");
    let proxy = CountingProxy::start(steel_addr).await;
    let oem = TestNode::start("oem").await;
    let (status, out, err) = tanso(
        [
            "pact",
            "pull",
            "--home",
            &oem.home.display().to_string(),
            "--url",
            &format!("https://{}", proxy.addr),
            "--fingerprint",
            &steel.node.identity().fingerprint,
            "--client-id",
            &client_id,
            "--client-secret",
            &secret,
            "--limit",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await;
    assert!(status.expect("pull hung").success(), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("report");
    assert_eq!(
        report["stored"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    assert!(report["pages"].as_u64() >= Some(3), "{report}");
    assert_eq!(proxy.connections(), 1, "{report}");
    oem.stop().await;
    steel.stop().await;
}
