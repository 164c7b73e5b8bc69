//! Test harness: real tanso nodes on 127.0.0.1 port 0, in this process or as `tanso` processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use node::Node;
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::server::Listeners;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub mod browser;

/// A node serving peers in this process; stopped (and drained) on `stop` or drop.
pub struct TestNode {
    pub node: Node,
    /// The peer listener's address.
    pub addr: SocketAddr,
    /// The PACT REST host's address, when `[pact] listen` is set.
    pub pact_addr: Option<SocketAddr>,
    /// The dashboard's address, when `[dashboard] listen` is set.
    pub dashboard_addr: Option<SocketAddr>,
    /// The ops listener's address, when `[metrics] listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub home: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Environment variable that makes a test which cannot run here (no Chromium, no
/// `dashboard/node_modules`) fail instead of reporting that it did not run; `.ci/run` sets it.
pub const REQUIRE_ALL_ENV: &str = "TANSO_TEST_REQUIRE_ALL";

/// Reports that test `name` did not run and why, on the terminal itself (libtest captures
/// only `print!`), or fails it when [`REQUIRE_ALL_ENV`] is set.
pub fn not_run(name: &str, why: &str) {
    use std::io::Write as _;
    if std::env::var_os(REQUIRE_ALL_ENV).is_some_and(|v| v == "1") {
        panic!("{name} cannot run ({why}) and {REQUIRE_ALL_ENV}=1 requires it");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\nNOT RUN: {name}: {why} (the test passes without checking anything)"
    );
}

/// The company id tests use for a slug.
pub fn company(slug: &str) -> String {
    format!("urn:tanso:company:{slug}")
}

/// A config for `slug` listening on port 0.
pub fn raw_config(slug: &str) -> RawConfig {
    RawConfig {
        company_id: company(slug),
        name: slug.to_string(),
        listen: Some("127.0.0.1:0".into()),
        advertise: None,
        store: RawStore::default(),
        limits: RawLimits::default(),
        tls: RawTls::default(),
        log: RawLog::default(),
        dashboard: Default::default(),
        exchange: Default::default(),
        pact: Default::default(),
        metrics: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
    }
}

/// Creates a home in `dir` (key, certificate, config).
pub fn init_home(dir: &Path, raw: &RawConfig) -> Home {
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("os randomness");
    home.init(raw, &seed).expect("init home");
    home
}

impl TestNode {
    /// A redb node with default config.
    pub async fn start(slug: &str) -> TestNode {
        TestNode::start_with(slug, |_| {}).await
    }

    /// A node whose config `tweak` may change before init.
    pub async fn start_with(slug: &str, tweak: impl FnOnce(&mut RawConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut raw = raw_config(slug);
        tweak(&mut raw);
        let home = init_home(&dir.path().join(slug), &raw);
        let mut node = TestNode::serve(&home).await;
        node._dir = Some(dir);
        node
    }

    /// Serves an existing home: binds what its config names (port 0 in tests) and always a
    /// peer listener, and keeps each bound address.
    pub async fn serve(home: &Home) -> TestNode {
        let node = node::open(home).expect("open node");
        let mut listeners = Listeners::bind(&node).await.expect("bind");
        if listeners.peer.is_none() {
            listeners.peer = Some(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        }
        let local = |l: &Option<TcpListener>| l.as_ref().map(|l| l.local_addr().expect("addr"));
        let addr = local(&listeners.peer).expect("peer listener");
        let (pact_addr, dashboard_addr, metrics_addr) = (
            local(&listeners.pact),
            local(&listeners.dashboard),
            local(&listeners.metrics),
        );
        node.set_bound_endpoint(addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let served = node.clone();
        let task = tokio::spawn(async move {
            node::server::run(served, listeners, async move {
                let _ = stopped.await;
            })
            .await
            .expect("node ran");
        });
        TestNode {
            node,
            addr,
            pact_addr,
            dashboard_addr,
            metrics_addr,
            home: home.dir.clone(),
            _dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// This node's card as JSON text.
    pub fn card_json(&self) -> String {
        serde_json::to_string(&self.node.card().expect("card")).expect("card json")
    }

    /// Stops the node and waits for the drain; returns the temporary directory holding its
    /// home (when the harness made one), so the home can be served again.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        self.shutdown().await;
        self._dir.take()
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `owner` accepts `partner` (its card) in `groups`.
pub fn befriend(owner: &TestNode, partner: &TestNode, groups: &[&str]) {
    owner
        .node
        .add_partner(
            &partner.card_json(),
            groups.iter().map(|g| g.to_string()).collect(),
        )
        .expect("add partner");
}

/// The shipped policy template `name` (from the repo's policies/ directory).
pub fn policy_template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A valid PACT v3 footprint owned by `slug` for `product` with `id`.
pub fn footprint(slug: &str, id: &str, product: &str) -> Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": slug,
        "companyIds": [company(slug)],
        "productDescription": "test product",
        "productIds": [product],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": "Test product",
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "geographyCountry": "KR",
            "pcfExcludingBiogenicUptake": "2.1",
            "pcfIncludingBiogenicUptake": "2.1",
            "fossilCarbonContent": "0",
            "fossilGhgEmissions": "2.1",
            "packagingEmissionsIncluded": false,
            "ccsTechnologicalCO2CaptureIncluded": false,
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067"],
            "exemptedEmissionsPercent": "0",
            "primaryDataShare": "60",
            "dqi": {"technologicalDQR": "2", "geographicalDQR": "1", "temporalDQR": "1"}
        }
    })
}

/// A fresh random uuid (v4 layout).
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("os randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An organisation CA for mTLS tests: writes `ca.pem` and, per call of [`TestCa::client`],
/// a client certificate and key signed by it.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub ca_pem: PathBuf,
    dir: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tanso test org ca");
        let key = rcgen::KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, cert.pem()).expect("write ca");
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            ca_pem,
            dir: dir.to_path_buf(),
        }
    }

    /// (cert path, key path) of a new server certificate for the host names and ip addresses
    /// `sans`, signed by the CA (`name` names the files).
    pub fn server(&self, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(sans).expect("server params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (cert_path, key_path)
    }

    /// (cert path, key path) of a new client certificate for `name`, signed by the CA.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let params = rcgen::CertificateParams::new(vec![format!("{name}.tanso.test")])
            .expect("client params");
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.issuer).expect("client cert");
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (cert_path, key_path)
    }
}

/// A plain-HTTP GET (HTTP/1.1, `Connection: close`) on `addr`: the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an http response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// How long [`wait_for`] and [`wait_for_blocking`] wait before they fail the test.
pub const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often they look again.
const WAIT_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// The one wait of the tests: polls `check` until it yields a value and returns it, failing
/// the test with `what` after [`WAIT_LIMIT`]. For something that *happens* (an answer
/// arrives, a process exits); an expiry is a clock advance, never a wait.
pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let waiting = Waiting::new(what);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(waiting.again()).await;
    }
}

/// [`wait_for`] for tests without a runtime (they drive `tanso` processes).
pub fn wait_for_blocking<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let waiting = Waiting::new(what);
    loop {
        if let Some(value) = check() {
            return value;
        }
        std::thread::sleep(waiting.again());
    }
}

/// The deadline of one wait.
struct Waiting<'a> {
    what: &'a str,
    deadline: std::time::Instant,
}

impl<'a> Waiting<'a> {
    fn new(what: &'a str) -> Waiting<'a> {
        Waiting {
            what,
            deadline: std::time::Instant::now() + WAIT_LIMIT,
        }
    }

    /// How long to pause before looking again; fails the test once the deadline passed.
    fn again(&self) -> std::time::Duration {
        assert!(
            std::time::Instant::now() < self.deadline,
            "timed out after {WAIT_LIMIT:?} waiting for {}",
            self.what
        );
        WAIT_EVERY
    }
}

/// The value of the series `name` whose labels include every `labels` pair.
pub fn series(scrape: &str, name: &str, labels: &[&str]) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|series_name| series_name == name)
        })
        .find(|l| labels.iter().all(|pair| l.contains(pair)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
