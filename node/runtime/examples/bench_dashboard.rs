//! Dashboard figures with 10,000 footprints and 100,000 audit entries in the store.
//!
//! - Time to first byte, total time and bytes of the first view: `/`, `app.js`, `app.css`,
//!   `/api/me`, `/api/overview` and the first footprints page (as the page loads them),
//!   measured cold (right after start, background indexing still running) and warm.
//! - With `/usr/bin/chromium`: wall time of a headless `--dump-dom` load through a one-time
//!   login link, and the page's own navigation-start-to-tiles time (`data-ready-ms`), as a
//!   first-paint proxy; the same for `about:blank` as the browser start-up baseline.
//!
//! Build the assets first (`npm ci --prefix dashboard && npm run --prefix dashboard build`),
//! then `cargo run --release -p node --example bench_dashboard`. Prints figures, asserts
//! nothing. The scratch home goes to a temporary directory, removed at the end.

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node::Node;
use node::audit::{AuditDecision, AuditDraft};
use node::config::{RawConfig, RawDashboard, RawLimits, RawLog, RawStore, RawTls};
use node::dashboard::client::{self, HttpResponse};
use node::dashboard::{self, Role};
use node::home::Home;
use node::journal::Record;
use serde_json::json;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const FOOTPRINTS: usize = 10_000;
const AUDIT_ENTRIES: usize = 100_000;
const CHROMIUM: &str = "/usr/bin/chromium";

fn uuid() -> Res<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn footprint(id: &str, n: usize) -> serde_json::Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "Bench Steel",
        "companyIds": ["urn:tanso:company:bench"],
        "productDescription": "bench product",
        "productIds": [format!("urn:tanso:bench:product:{n}")],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": format!("Bench product {n}"),
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

async fn fill(node: &Node) -> Res<Vec<String>> {
    let t = Instant::now();
    let mut ids = Vec::with_capacity(FOOTPRINTS);
    for chunk in 0..FOOTPRINTS / 1000 {
        let mut lines = Vec::with_capacity(1000);
        for i in 0..1000 {
            let id = uuid()?;
            lines.push(footprint(&id, chunk * 1000 + i).to_string());
            ids.push(id);
        }
        let text = lines.join("\n");
        let n = node.clone();
        tokio::task::spawn_blocking(move || n.publish(&text)).await??;
    }
    println!(
        "filled {FOOTPRINTS} footprints in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let methods = [
        "/tanso.v1.Connector/GetFootprint",
        "/tanso.v1.Connector/ListFootprints",
    ];
    for batch in 0..AUDIT_ENTRIES / 4000 {
        let writes = (0..4000).map(|i| {
            let n = batch * 4000 + i;
            let draft = AuditDraft {
                caller: format!("urn:tanso:company:customer{}", n % 20),
                method: methods[n % 2].to_string(),
                targets: vec![ids[n % ids.len()].clone()],
                decision: if n % 10 == 0 {
                    AuditDecision::Deny
                } else {
                    AuditDecision::Permit
                },
                rule: Some("bench".into()),
                reason: None,
            };
            node.journal().write(Record {
                audit: Some(draft),
                ..Record::default()
            })
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
    }
    println!(
        "filled {AUDIT_ENTRIES} audit entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(ids)
}

struct Fetched {
    path: &'static str,
    r: HttpResponse,
}

async fn first_view(addr: SocketAddr, fp: &str, cookie: &str) -> Res<Vec<Fetched>> {
    let mut out = Vec::new();
    for path in [
        "/",
        "/app.js",
        "/app.css",
        "/api/me",
        "/api/overview",
        "/api/footprints?offset=0&limit=10",
    ] {
        let r = client::request(addr, fp, "GET", path, &[("cookie", cookie)], b"").await?;
        if r.status != 200 {
            return Err(format!("{path}: status {}", r.status).into());
        }
        out.push(Fetched { path, r });
    }
    Ok(out)
}

fn print_view(title: &str, view: &[Fetched]) {
    println!("\n{title}");
    println!(
        "  {:<36} {:>9} {:>9} {:>9}",
        "resource", "ttfb ms", "total ms", "bytes"
    );
    let mut bytes = 0;
    for f in view {
        bytes += f.r.wire_bytes;
        println!(
            "  {:<36} {:>9.1} {:>9.1} {:>9}",
            f.path,
            f.r.ttfb.as_secs_f64() * 1e3,
            f.r.total.as_secs_f64() * 1e3,
            f.r.wire_bytes
        );
    }
    let slowest = view
        .iter()
        .map(|f| f.r.total)
        .max()
        .unwrap_or(Duration::ZERO);
    println!(
        "  first view: {bytes} bytes ({:.1} KB, budget < 300 KB); sum of totals {:.1} ms; slowest {:.1} ms",
        bytes as f64 / 1024.0,
        view.iter().map(|f| f.r.total.as_secs_f64()).sum::<f64>() * 1e3,
        slowest.as_secs_f64() * 1e3
    );
    let kb = bytes as f64 / 1024.0;
    println!(
        "BUDGET dashboard_first_view_kb {kb:.1} <300 {}",
        if kb < 300.0 { "PASS" } else { "MISS" }
    );
}

fn chromium(url: &str, profile: &std::path::Path) -> Res<(Duration, String)> {
    let t = Instant::now();
    let out = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--ignore-certificate-errors",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()?;
    Ok((
        t.elapsed(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn ready_ms(dom: &str) -> Option<u64> {
    let at = dom.find("data-ready-ms=\"")? + "data-ready-ms=\"".len();
    dom[at..].split('"').next()?.parse().ok()
}

async fn login_link(addr: SocketAddr, fp: &str, cookie: &str) -> Res<String> {
    let r = client::request(
        addr,
        fp,
        "POST",
        "/api/login-tokens",
        &[("cookie", cookie), ("x-tanso-csrf", "1")],
        b"",
    )
    .await?;
    let path = r.json().and_then(|v| v["url"].as_str().map(str::to_string));
    Ok(format!("https://{addr}{}", path.ok_or("no login url")?))
}

#[tokio::main]
async fn main() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let home = Home::new(dir.path().join("bench"));
    let raw = RawConfig {
        company_id: "urn:tanso:company:bench".into(),
        name: "Bench Steel".into(),
        listen: None,
        advertise: None,
        store: RawStore::default(),
        limits: RawLimits::default(),
        tls: RawTls::default(),
        log: RawLog::default(),
        dashboard: RawDashboard {
            listen: Some("127.0.0.1:0".into()),
            ..RawDashboard::default()
        },
        exchange: Default::default(),
        pact: Default::default(),
        metrics: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    home.init(&raw, &seed)?;
    {
        let node = node::open(&home)?;
        fill(&node).await?;
    }
    let password = dashboard::add_user(&home, "bench", Role::Admin)?;

    // Start the node (fresh process state: nothing indexed yet).
    let node = node::open(&home)?;
    let fp = node.identity().fingerprint.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let listeners = node::server::Listeners::bind(&node).await?;
    let addr = listeners
        .dashboard
        .as_ref()
        .ok_or("no dashboard listener")?
        .local_addr()?;
    let task = tokio::spawn(node::server::run(node, listeners, async move {
        let _ = stopped.await;
    }));
    let login = client::request(
        addr,
        &fp,
        "POST",
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("name=bench&password={password}").as_bytes(),
    )
    .await?;
    let cookie = login.set_cookie().ok_or("login failed")?;
    println!(
        "\nnode started; login (argon2) took {:.1} ms",
        login.total.as_secs_f64() * 1e3
    );
    let cold = first_view(addr, &fp, &cookie).await?;
    print_view(
        &format!(
            "first view, cold ({:.0} ms after start; background indexing running)",
            started.elapsed().as_secs_f64() * 1e3
        ),
        &cold,
    );
    let cold_overview = cold
        .iter()
        .find(|f| f.path == "/api/overview")
        .and_then(|f| f.r.json());
    if let Some(o) = cold_overview {
        println!(
            "  cold overview: exchange ready = {}, chain = {}",
            o["exchange"]["ready"], o["audit"]["chain"]["status"]
        );
    }

    // Wait for the background indexer (exchange stats, chain verification).
    let t = Instant::now();
    loop {
        let r = client::request(
            addr,
            &fp,
            "GET",
            "/api/overview",
            &[("cookie", &cookie)],
            b"",
        )
        .await?;
        let o = r.json().unwrap_or_default();
        if o["exchange"]["ready"] == true && o["audit"]["chain"]["status"] != "pending" {
            println!(
                "\nbackground indexing done {:.1} s after the cold view: permitted {}, chain {} ({} entries verified)",
                t.elapsed().as_secs_f64(),
                o["exchange"]["permitted_total"],
                o["audit"]["chain"]["status"],
                o["audit"]["chain"]["verified_entries"]
            );
            break;
        }
        if t.elapsed() > Duration::from_secs(120) {
            println!("background indexing still running after 120 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = first_view(addr, &fp, &cookie).await?;
    print_view("first view, warm", &warm);
    for path in [
        "/api/footprints?offset=9950&limit=50",
        "/api/audit?offset=0&limit=50",
        "/api/audit?offset=99950&limit=50",
    ] {
        let r = client::request(addr, &fp, "GET", path, &[("cookie", &cookie)], b"").await?;
        println!(
            "  {path}: {:.1} ms, {} bytes",
            r.total.as_secs_f64() * 1e3,
            r.wire_bytes
        );
    }
    let r = client::request(
        addr,
        &fp,
        "GET",
        "/api/audit.csv",
        &[("cookie", &cookie)],
        b"",
    )
    .await?;
    println!(
        "  /api/audit.csv: {:.1} ms, {:.1} MB",
        r.total.as_secs_f64() * 1e3,
        r.body.len() as f64 / 1e6
    );

    if std::path::Path::new(CHROMIUM).exists() {
        let profiles = tempfile::tempdir()?;
        let (blank, _) = {
            let p = profiles.path().join("blank");
            tokio::task::spawn_blocking(move || chromium("about:blank", &p)).await??
        };
        println!(
            "\nheadless chromium, about:blank (browser start-up baseline): {:.0} ms",
            blank.as_secs_f64() * 1e3
        );
        for run in 1..=3 {
            let url = login_link(addr, &fp, &cookie).await?;
            let p = profiles.path().join(format!("dash{run}"));
            let (wall, dom) = tokio::task::spawn_blocking(move || chromium(&url, &p)).await??;
            println!(
                "headless chromium, dashboard run {run}: wall {:.0} ms (≈ {:.0} ms over the baseline); in-page navigation start → tiles filled: {} ms",
                wall.as_secs_f64() * 1e3,
                (wall.saturating_sub(blank)).as_secs_f64() * 1e3,
                ready_ms(&dom).map_or("n/a (page did not finish)".into(), |m| m.to_string())
            );
        }
    } else {
        println!("\n{CHROMIUM} not found: no browser figures");
    }
    let _ = stop.send(());
    task.await??;
    Ok(())
}
