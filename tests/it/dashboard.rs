//! The web dashboard of a live node: auth and roles, the API against the node's data, CSV
//! export, and the page itself in headless Chromium (tiles equal the API; a screenshot; the
//! KPI and Scope 3 views measured at desktop and phone widths).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use node::dashboard::client::{self, HttpResponse};
use node::dashboard::{self, Role};
use node::home::Home;
use node::service::client::FetchWhat;
use serde_json::Value;
use tests::browser::{Browser, CHROMIUM};
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

/// A node with a dashboard on port 0, and its dashboard address.
async fn start(slug: &str) -> (TestNode, SocketAddr) {
    let tn = TestNode::start_with(slug, |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
    })
    .await;
    let addr = tn.dashboard_addr.expect("dashboard bound");
    (tn, addr)
}

pub(crate) struct Web {
    pub(crate) addr: SocketAddr,
    pub(crate) fingerprint: String,
}

impl Web {
    pub(crate) fn of(tn: &TestNode, addr: SocketAddr) -> Web {
        Web {
            addr,
            fingerprint: tn.node.identity().fingerprint.clone(),
        }
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(c) = cookie {
            headers.push(("cookie", c));
        }
        client::request(self.addr, &self.fingerprint, method, path, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
        self.send("GET", path, cookie, &[], b"").await
    }

    async fn login(&self, name: &str, password: &str) -> HttpResponse {
        let body = format!("name={name}&password={password}");
        self.send(
            "POST",
            "/login",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .await
    }

    /// Logs in and returns the cookie header value.
    pub(crate) async fn session(&self, name: &str, password: &str) -> String {
        let r = self.login(name, password).await;
        assert_eq!(r.status, 303, "login: {}", r.text());
        assert_eq!(r.header("location"), Some("/"));
        let set = r.header("set-cookie").expect("a session cookie");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(
                set.contains(attr),
                "cookie lacks {attr}: attributes {set:?}"
            );
        }
        r.set_cookie().expect("cookie")
    }

    pub(crate) async fn json(&self, path: &str, cookie: &str) -> Value {
        let r = self.get(path, Some(cookie)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json().expect("json")
    }
}

/// A supplier with footprints, a customer that fetched one of them, and a stranger denied.
async fn exchanged() -> (TestNode, SocketAddr, TestNode, String, String) {
    let (steel, addr) = start("steel").await;
    let (a, b) = (uuid(), uuid());
    let docs = [
        footprint("steel", &a, "urn:tanso:steel:product:coil").to_string(),
        footprint("steel", &b, "urn:tanso:steel:product:plate").to_string(),
    ];
    steel.node.publish(&docs.join("\n")).expect("publish");
    steel
        .node
        .add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    // No background fetch on Published notifications: the test counts audit entries.
    let oem = TestNode::start_with("oem", |raw| raw.exchange.auto_fetch = false).await;
    befriend(&steel, &oem, &["customer"]);
    befriend(&oem, &steel, &[]);
    node::service::client::fetch(&oem.node, &company("steel"), FetchWhat::Id(a.clone()), None)
        .await
        .expect("customer fetch");
    node::service::client::fetch(
        &oem.node,
        &company("steel"),
        FetchWhat::Products(vec!["urn:tanso:steel:product:plate".into()]),
        None,
    )
    .await
    .expect("customer list");
    (steel, addr, oem, a, b)
}

#[tokio::test]
async fn api_needs_a_session_and_actions_need_admin() {
    let (steel, addr, _oem, fetched, listed) = exchanged().await;
    let home = Home::new(&steel.home);
    let admin_pw = dashboard::add_user(&home, "ops", Role::Admin).expect("add admin");
    let viewer_pw = dashboard::add_user(&home, "auditor", Role::Viewer).expect("add viewer");
    let web = Web::of(&steel, addr);

    // No session: 401 for the API, a redirect to the login page for the page.
    assert_eq!(web.get("/api/overview", None).await.status, 401);
    assert_eq!(web.get("/api/footprints.csv", None).await.status, 401);
    let page = web.get("/", None).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    assert_eq!(
        web.get("/api/overview", Some("__Host-tanso_session=forged"))
            .await
            .status,
        401
    );
    // Wrong passwords are refused.
    assert_eq!(web.login("ops", "not-the-password").await.status, 401);
    assert_eq!(web.login("nobody", &admin_pw).await.status, 401);

    let viewer = web.session("auditor", &viewer_pw).await;
    let admin = web.session("ops", &admin_pw).await;
    let me = web.json("/api/me", &viewer).await;
    assert_eq!(me["role"], "viewer");

    // The overview counts what the node holds.
    let o = web.json("/api/overview", &viewer).await;
    assert_eq!(o["footprints"]["total"], 2);
    assert_eq!(o["partners"], 1);
    assert_eq!(o["requests"]["pending"], 0);
    assert_eq!(
        o["requests"]["note"],
        "request exchange not enabled on this node"
    );
    assert_eq!(o["directory"]["note"], "no directory configured");
    assert_eq!(o["exchange"]["ready"], true);
    assert_eq!(o["exchange"]["permitted_total"], 2);
    assert_eq!(o["exchange"]["permitted_24h"], 2);
    assert_eq!(o["scope3"]["configured"], false);

    // Who received which footprint, from the audit log (by id and by product id).
    let f = web.json("/api/footprints?limit=1", &viewer).await;
    assert_eq!(f["total"], 2);
    assert_eq!(f["items"].as_array().map(Vec::len), Some(1));
    let all = web.json("/api/footprints", &viewer).await;
    for id in [&fetched, &listed] {
        let row = all["items"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["id"] == id.as_str()))
            .expect("row");
        assert_eq!(row["receivedBy"][0]["company"], company("oem"), "{row}");
    }
    let audit = web.json("/api/audit?limit=1", &viewer).await;
    assert_eq!(audit["total"], 2);
    assert_eq!(audit["items"][0]["seq"], 1, "newest first");
    let requests = web.json("/api/requests", &viewer).await;
    assert_eq!(requests["inbox"], Value::Array(vec![]));
    assert_eq!(
        web.json("/api/scope3", &viewer).await["note"],
        "not configured"
    );
    assert_eq!(web.json("/api/kpi", &viewer).await["configured"], false);

    // The role is checked by the API: a viewer may not deprecate, an admin may.
    let path = format!("/api/footprints/{fetched}/deprecate");
    let csrf = [("x-tanso-csrf", "1")];
    let r = web.send("POST", &path, Some(&viewer), &csrf, b"").await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = web.send("POST", &path, Some(&admin), &[], b"").await;
    assert_eq!(r.status, 403, "no csrf header: {}", r.text());
    let r = web.send("POST", &path, Some(&admin), &csrf, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = web.send("POST", &path, Some(&admin), &csrf, b"").await;
    assert_eq!(r.status, 409);
    assert_eq!(
        web.json("/api/overview", &viewer).await["footprints"]["deprecated"],
        1
    );
    // One-time login links are for admins only.
    let r = web
        .send("POST", "/api/login-tokens", Some(&viewer), &csrf, b"")
        .await;
    assert_eq!(r.status, 403);

    // Every table exports as CSV with a header row.
    for (table, header) in [
        ("overview", "tile,value"),
        ("footprints", "id,product_ids,product_name,status,version"),
        ("audit", "seq,at,caller,method,targets,decision"),
        ("partners", "company_id,name,endpoint"),
        ("requests", "direction,id,company"),
        ("exchange", "day,permitted,denied"),
    ] {
        let r = web.get(&format!("/api/{table}.csv"), Some(&viewer)).await;
        assert_eq!(r.status, 200, "{table}.csv");
        assert_eq!(
            r.header("content-type"),
            Some("text/csv; charset=utf-8"),
            "{table}.csv"
        );
        let text = r.text();
        assert!(text.starts_with(header), "{table}.csv starts {text:?}");
    }
    let csv = web.get("/api/audit.csv", Some(&viewer)).await.text();
    assert_eq!(csv.lines().count(), 3, "header + 2 entries: {csv}");
    assert_eq!(
        web.get("/api/scope3.csv", Some(&viewer)).await.status,
        404,
        "not configured"
    );

    // Logging out ends the session.
    let r = web.send("POST", "/logout", Some(&viewer), &[], b"").await;
    assert_eq!(r.status, 303);
    assert_eq!(web.get("/api/overview", Some(&viewer)).await.status, 401);
}

/// A Scope 3 ledger from the seed guide's examples: 1,000 t steel (2,100 t), capital goods
/// bought in 2024 (10 t steel: 21 t) and 2025 (40 t steel: 84 t), the leased office (40 t),
/// and avoided emissions (24.8 t, never netted).
fn write_ledger(dir: &Path) -> PathBuf {
    let ledger = dir.join("ledger");
    std::fs::create_dir_all(&ledger).expect("ledger dir");
    for (file, text) in [
        (
            "purchases.csv",
            "description,quantity,unit,material\nHot-rolled steel coil,1000,t,steel\n",
        ),
        (
            "capital_goods.csv",
            "description,quantity,unit,material,acquisition_year,lifetime_years\n\
             Press (steel),40,t,steel,2025,10\n\
             Forklift (steel),10,t,steel,2024,8\n",
        ),
        (
            "leased_assets.csv",
            "description,area_m2,energy_type,quantity,unit,grid,factor_id\n\
             Leased office (guide example factor 0.4),1000,electricity,100,MWh,KR,guide:grid-example-0.4\n",
        ),
        (
            "avoided.csv",
            "description,pathway,quantity,unit,baseline_factor_id,activity_factor_id\n\
             Toys reused,reuse,2,t,seed:reuse-rbf,\n\
             Toys upcycled,upcycling,5,t,seed:upcycling-uf,\n\
             Toys recycled,recycling,3,t,seed:recycling,\n",
        ),
    ] {
        std::fs::write(ledger.join(file), text).expect("ledger file");
    }
    ledger
}

/// Twelve months (2025-01..12) of measures for `kpi/esg-impact.toml`. January's social value
/// is 1,000 h × 10,030 KRW/h + 100 × 30,000 KRW = 13,030,000 KRW, the figure the issue saw
/// drawn as "0,000"; December's is 14,133,300 KRW.
fn esg_measures_2025() -> String {
    let mut csv = String::from("period,measure,value,unit\n");
    for m in 1..=12u32 {
        let collected = 1000 + 50 * (m - 1);
        let rows = [
            ("collected_kg", collected, "kg"),
            ("reused_kg", collected / 5, "kg"),
            ("upcycled_kg", collected / 2, "kg"),
            (
                "recycled_kg",
                collected - collected / 5 - collected / 2,
                "kg",
            ),
            ("upcycled_product_kg", collected * 8 / 10, "kg"),
            ("produced_pet_kg", 10 * m, "kg"),
            ("produced_hdpe_kg", 100 + 5 * m, "kg"),
            ("produced_mixed_kg", 700 + 10 * m, "kg"),
            ("senior_work_hours", 1000 + 10 * (m - 1), "h"),
            ("senior_hourly_wage_krw", 10030, "KRW/h"),
            ("edu_direct", 100, "persons"),
            ("edu_indirect", 500 + 20 * m, "persons"),
            ("active_partners", 20 + m, "organisations"),
            ("upcycled_sales_krw", 1_000_000 + 50_000 * m, "KRW"),
        ];
        for (measure, value, unit) in rows {
            csv.push_str(&format!("2025-{m:02},{measure},{value},{unit}\n"));
        }
    }
    csv
}

/// A node with a dashboard showing `kpi_config` over `measures` and the Scope 3 `ledger`.
async fn calc_node(
    slug: &str,
    kpi_config: PathBuf,
    measures: PathBuf,
    ledger: Option<PathBuf>,
) -> (TestNode, Web) {
    let tn = TestNode::start_with(slug, |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
        raw.dashboard.ledger = ledger;
        raw.dashboard.kpi_config = Some(kpi_config);
        raw.dashboard.kpi_measures = Some(measures);
    })
    .await;
    let addr = tn.dashboard_addr.expect("dashboard bound");
    let web = Web::of(&tn, addr);
    (tn, web)
}

fn total_t(scope3: &Value) -> String {
    scope3["report"]["total"]["t"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn scope3_and_kpis_from_configured_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = tempfile::tempdir().expect("data dir");
    let (tn, web) = calc_node(
        "calc",
        root.join("kpi/logistics.toml"),
        root.join("kpi/examples/logistics-measures.csv"),
        Some(write_ledger(data.path())),
    )
    .await;
    let home = Home::new(&tn.home);
    let pw = dashboard::add_user(&home, "viewer", Role::Viewer).expect("user");
    let cookie = web.session("viewer", &pw).await;
    let s = web.json("/api/scope3", &cookie).await;
    assert_eq!(s["configured"], true, "{s}");
    assert_eq!(
        s["report"]["categories"].as_array().map(Vec::len),
        Some(9),
        "{s}"
    );
    // Without options: the latest year the ledger names, so category 2 holds only the
    // capital goods acquired in 2025, and category 8 is counted (no [dashboard] default).
    assert_eq!(
        s["options"]["years"],
        serde_json::json!([2024, 2025]),
        "{s}"
    );
    assert_eq!(s["options"]["year"], 2025);
    assert_eq!(s["options"]["exclude"], serde_json::json!([]));
    assert_eq!(s["report"]["year"], 2025);
    assert_eq!(s["report"]["categories"][1]["emissions"]["t"], "84");
    assert_eq!(s["report"]["categories"][7]["emissions"]["t"], "40");
    assert_eq!(total_t(&s), "2224");
    // The page's options, applied by the engine.
    let s = web.json("/api/scope3?year=2024&exclude=8", &cookie).await;
    assert_eq!(s["options"]["year"], 2024, "{s}");
    assert_eq!(s["options"]["exclude"], serde_json::json!([8]));
    assert_eq!(s["report"]["categories"][1]["emissions"]["t"], "21");
    assert_eq!(s["report"]["categories"][7]["emissions"]["t"], "0");
    assert!(
        s["report"]["categories"][7]["excluded"]
            .as_str()
            .is_some_and(|e| e.contains("Korean ETS")),
        "{s}"
    );
    assert_eq!(total_t(&s), "2121");
    // Avoided emissions are reported beside the inventory, not subtracted from it.
    assert_eq!(s["report"]["avoided"]["total"]["t"], "24.8");
    let csv = web
        .get("/api/scope3.csv?year=2024&exclude=8", Some(&cookie))
        .await
        .text();
    assert!(
        csv.contains("category_total,2,,capital goods,,,,,,,,,,,,,,21000,21,"),
        "{csv}"
    );
    // Bad options: every problem named in one answer, nothing calculated.
    for path in ["/api/scope3", "/api/scope3.csv"] {
        let r = web
            .get(&format!("{path}?year=20x5&exclude=3,8,x"), Some(&cookie))
            .await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let e = r.json().expect("json")["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for part in [
            "year: `20x5` is not a four-digit year",
            "exclude: category 3 cannot be left out (only 8 can",
            "exclude: `x` is not a category number",
        ] {
            assert!(e.contains(part), "{path}: {e:?} lacks {part:?}");
        }
    }

    let k = web.json("/api/kpi", &cookie).await;
    assert_eq!(k["configured"], true, "{k}");
    let total = &k["report"]["sections"][0]["kpis"][0];
    assert!(total["series"].is_array(), "{k}");
    // The target's path comes from the engine, year by year.
    assert_eq!(total["target"]["annual_rate_pct"], "6.70");
    assert_eq!(
        total["target"]["path"][5],
        serde_json::json!({ "year": 2025, "value": "70710.7" })
    );
    for table in ["scope3", "kpi"] {
        let r = web.get(&format!("/api/{table}.csv"), Some(&cookie)).await;
        assert_eq!(r.status, 200, "{table}.csv: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    }
}

#[tokio::test]
async fn a_k_ets_company_leaves_out_category_8_by_default() {
    let data = tempfile::tempdir().expect("data dir");
    let ledger = write_ledger(data.path());
    let tn = TestNode::start_with("kets", |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
        raw.dashboard.ledger = Some(ledger);
        raw.dashboard.exclude_category_8 = true;
    })
    .await;
    let web = Web::of(&tn, tn.dashboard_addr.expect("dashboard bound"));
    let pw = dashboard::add_user(&Home::new(&tn.home), "v", Role::Viewer).expect("user");
    let cookie = web.session("v", &pw).await;
    let s = web.json("/api/scope3", &cookie).await;
    assert_eq!(s["options"]["exclude"], serde_json::json!([8]), "{s}");
    assert_eq!(s["options"]["excludable"][0]["default"], true);
    assert_eq!(total_t(&s), "2184");
    // The page may still ask for every category (an empty list overrides the default).
    let s = web.json("/api/scope3?exclude=", &cookie).await;
    assert_eq!(s["options"]["exclude"], serde_json::json!([]), "{s}");
    assert_eq!(total_t(&s), "2224");
}

/// The text content of the element carrying `data-tile="{name}"` in a dumped DOM.
fn tile(dom: &str, name: &str) -> String {
    let marker = format!("data-tile=\"{name}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no tile {name} in the DOM"));
    let rest = &dom[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest[start..].find('<').expect("text end");
    rest[start..start + end].trim().to_string()
}

fn run_chromium(args: &[String]) -> std::process::Output {
    std::process::Command::new(CHROMIUM)
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
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .output()
        .expect("run chromium")
}

/// `target/<name>` (or `$CARGO_TARGET_DIR/<name>`): where the tests leave their screenshots.
pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join(name)
}

#[tokio::test]
async fn dashboard_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        tests::not_run(
            "dashboard_in_headless_chromium",
            &format!("{CHROMIUM} is missing; install it with `apt-get install chromium`"),
        );
        return;
    }
    let (steel, addr, _oem, _a, _b) = exchanged().await;
    let home = Home::new(&steel.home);
    let pw = dashboard::add_user(&home, "ops", Role::Admin).expect("add admin");
    let web = Web::of(&steel, addr);
    let cookie = web.session("ops", &pw).await;
    let overview = web.json("/api/overview", &cookie).await;
    let profile = tempfile::tempdir().expect("profile dir");

    let link = |web: &Web, cookie: String| {
        let addr = web.addr;
        let fingerprint = web.fingerprint.clone();
        async move {
            let r = client::request(
                addr,
                &fingerprint,
                "POST",
                "/api/login-tokens",
                &[("cookie", &cookie), ("x-tanso-csrf", "1")],
                b"",
            )
            .await
            .expect("login token");
            assert_eq!(r.status, 200, "{}", r.text());
            let path = r.json().expect("json")["url"]
                .as_str()
                .expect("url")
                .to_string();
            format!("https://{addr}{path}")
        }
    };

    // The DOM after the scripts ran: the tiles show what the API returns.
    let url = link(&web, cookie.clone()).await;
    let user_dir = format!("--user-data-dir={}", profile.path().join("dom").display());
    let out =
        tokio::task::spawn_blocking(move || run_chromium(&[user_dir, "--dump-dom".into(), url]))
            .await
            .expect("chromium task");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not finish loading; status {:?}, stderr: {}\nDOM: {dom}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let n = |p: &str| {
        overview
            .pointer(p)
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    assert_eq!(tile(&dom, "footprints"), n("/footprints/total"));
    assert_eq!(tile(&dom, "partners"), n("/partners"));
    assert_eq!(tile(&dom, "pending-requests"), n("/requests/pending"));
    assert_eq!(tile(&dom, "exchange"), n("/exchange/permitted_total"));
    assert_eq!(tile(&dom, "exchange-24h"), n("/exchange/permitted_24h"));
    assert_eq!(tile(&dom, "audit-entries"), n("/audit/entries"));
    assert_eq!(tile(&dom, "directory"), "no directory configured");
    assert_eq!(overview["footprints"]["total"], 2);

    // A screenshot of the first view.
    let shot = screenshot_path("dashboard-screenshot.png");
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).expect("target dir");
    }
    let _ = std::fs::remove_file(&shot);
    let url = link(&web, cookie).await;
    let user_dir = format!("--user-data-dir={}", profile.path().join("shot").display());
    let shot_arg = format!("--screenshot={}", shot.display());
    let out = tokio::task::spawn_blocking(move || {
        run_chromium(&[
            user_dir,
            shot_arg,
            "--window-size=1280,900".into(),
            "--hide-scrollbars".into(),
            url,
        ])
    })
    .await
    .expect("chromium task");
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); stderr: {}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG"), "not a png");
    println!("dashboard screenshot: {}", shot.display());
}

/// Measures the visible view (tests/it/dashboard_layout.js).
pub(crate) const LAYOUT: &str = include_str!("dashboard_layout.js");

/// `value`, a decimal string as the API writes it, as a locale shows it: digits grouped in
/// thousands with `group`, `decimal` before the fraction.
pub(crate) fn grouped(value: &str, group: char, decimal: char) -> String {
    let (sign, digits) = value.strip_prefix('-').map_or(("", value), |d| ("-", d));
    let (int, frac) = digits
        .split_once('.')
        .map_or((digits, None), |(i, f)| (i, Some(f)));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push(decimal);
        out.push_str(f);
    }
    out
}

/// A one-time login link for a fresh admin of the node behind `web`.
pub(crate) async fn login_link(tn: &TestNode, web: &Web, name: &str) -> String {
    let pw = dashboard::add_user(&Home::new(&tn.home), name, Role::Admin).expect("add admin");
    let cookie = web.session(name, &pw).await;
    let r = web
        .send(
            "POST",
            "/api/login-tokens",
            Some(&cookie),
            &[("x-tanso-csrf", "1")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let path = r.json().expect("json")["url"]
        .as_str()
        .expect("url")
        .to_string();
    format!("https://{}{path}", web.addr)
}

/// Logs the browser in through `link` and waits for the overview.
pub(crate) fn log_in(b: &mut Browser, link: &str) {
    b.navigate(link);
    b.wait_for(
        "document.body && document.body.dataset.view === 'overview'",
        "the overview after the login link",
    );
}

/// Opens `#{hash}` (e.g. `kpi`, `scope3?exclude=8`) and waits until its data is on the page.
pub(crate) fn open_view(b: &mut Browser, hash: &str) {
    let view = hash.split('?').next().unwrap_or(hash);
    b.eval(&format!(
        "delete document.body.dataset.view; \
         if (location.hash === '#{hash}') location.reload(); else location.hash = '{hash}'; true"
    ));
    b.wait_for(
        &format!("document.body && document.body.dataset.view === '{view}'"),
        &format!("view #{hash}"),
    );
}

/// Loads the page again and waits until `view` has its data.
pub(crate) fn reload(b: &mut Browser, view: &str) {
    b.eval("delete document.body.dataset.view; location.reload(); true");
    b.wait_for(
        &format!("document.body && document.body.dataset.view === '{view}'"),
        &format!("view #{view} after a reload"),
    );
}

/// Every chart as wide as the box it is drawn in (charts follow their tile's width).
pub(crate) const CHARTS_FIT: &str = "[...document.querySelectorAll('.view:not([hidden]) svg.kpi-svg')]\
    .every((s) => Math.abs(s.getBoundingClientRect().width - s.parentElement.clientWidth) <= 1)";

pub(crate) fn no_problems(layout: &Value, what: &str) {
    let problems = layout["problems"].as_array().cloned().unwrap_or_default();
    assert!(
        problems.is_empty() && layout["boxes"].as_u64() > Some(0),
        "{what}: {} layout problems:\n{}",
        problems.len(),
        problems
            .iter()
            .map(|p| p.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every KPI of `report` (the API's) with a value reads, on its tile, as that value with
/// thousands grouped the locale's way, and its unit.
fn kpi_values_match(layout: &Value, report: &Value, group: char, decimal: char, what: &str) {
    let mut checked = 0;
    for k in report["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["kpis"].as_array().into_iter().flatten())
    {
        let Some(value) = k["value"].as_str() else {
            continue;
        };
        let name = k["name"].as_str().unwrap_or_default();
        let want = format!(
            "{} {}",
            grouped(value, group, decimal),
            k["unit"].as_str().unwrap_or_default()
        );
        assert_eq!(
            layout["kpi_values"][name],
            want.as_str(),
            "{what}: KPI {name}"
        );
        checked += 1;
    }
    assert!(checked > 5, "{what}: only {checked} KPI values");
}

fn chart<'a>(layout: &'a Value, kpi: &str) -> &'a Value {
    let c = &layout["charts"][kpi];
    assert!(c.is_object(), "no chart for {kpi}: {}", layout["charts"]);
    c
}

fn labels(chart: &Value, class: &str) -> Vec<String> {
    chart["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["class"] == class)
        .filter_map(|l| l["text"].as_str().map(str::to_string))
        .collect()
}

/// The KPI and Scope 3 views with twelve months of data, at 1280 and 390 px: no tile or chart
/// overflows its box or the viewport, every axis label is whole and reads as its value, the
/// target, baseline and planned path are drawn, a single period is a labelled marker, avoided
/// emissions carry the never-netted note, numbers have the locale's thousands separators
/// (en-US and de-DE), and the Scope 3 options reach the engine.
#[tokio::test]
async fn kpi_and_scope3_views_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        tests::not_run(
            "kpi_and_scope3_views_in_headless_chromium",
            &format!("{CHROMIUM} is missing; install it with `apt-get install chromium`"),
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = tempfile::tempdir().expect("data dir");
    let esg_measures = data.path().join("esg-2025.csv");
    std::fs::write(&esg_measures, esg_measures_2025()).expect("measures");
    let (esg, esg_web) = calc_node(
        "esg",
        root.join("kpi/esg-impact.toml"),
        esg_measures,
        Some(write_ledger(data.path())),
    )
    .await;
    let (logistics, logistics_web) = calc_node(
        "logistics",
        root.join("kpi/logistics.toml"),
        root.join("kpi/examples/logistics-measures.csv"),
        None,
    )
    .await;
    let esg_link = login_link(&esg, &esg_web, "ops").await;
    let logistics_link = login_link(&logistics, &logistics_web, "ops").await;
    let admin = |web: &Web, tn: &TestNode| {
        let pw = dashboard::add_user(&Home::new(&tn.home), "api", Role::Viewer).expect("user");
        let web = Web {
            addr: web.addr,
            fingerprint: web.fingerprint.clone(),
        };
        async move { (web.session("api", &pw).await, web) }
    };
    let (c, w) = admin(&esg_web, &esg).await;
    let esg_kpi = w.json("/api/kpi", &c).await["report"].clone();
    let scope3 = w.json("/api/scope3", &c).await;
    let scope3_k_ets = w.json("/api/scope3?exclude=8", &c).await;
    let (c, w) = admin(&logistics_web, &logistics).await;
    let logistics_kpi = w.json("/api/kpi", &c).await["report"].clone();
    let shots = [
        screenshot_path("dashboard-kpi-1280.png"),
        screenshot_path("dashboard-kpi-390.png"),
    ];
    let shot_paths = shots.clone();

    let seen = tokio::task::spawn_blocking(move || {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        let mut b = Browser::start();
        b.viewport(1280, 900);
        log_in(&mut b, &esg_link);
        for width in [1280, 390] {
            b.viewport(width, 900);
            for view in ["overview", "kpi", "scope3"] {
                open_view(&mut b, view);
                b.wait_for(CHARTS_FIT, "charts as wide as their tiles");
                seen.insert(format!("esg {view} {width}"), b.eval(LAYOUT));
            }
        }
        // The Scope 3 options, as the page sends them.
        open_view(&mut b, "scope3?year=2025&exclude=8");
        seen.insert("esg scope3 exclude 8".into(), b.eval(LAYOUT));
        // Another locale: the same figures, grouped the German way.
        // (The page keeps its number formats: a locale applies from the next load.)
        b.locale("de-DE");
        open_view(&mut b, "kpi");
        reload(&mut b, "kpi");
        seen.insert("esg kpi de-DE".into(), b.eval(LAYOUT));
        b.locale("en-US");

        log_in(&mut b, &logistics_link);
        b.viewport(1280, 900);
        open_view(&mut b, "kpi");
        seen.insert("logistics kpi 1280".into(), b.eval(LAYOUT));
        b.screenshot(&shot_paths[0]);
        // The same page narrowed to a phone: the charts are redrawn for the new width.
        b.viewport(390, 900);
        b.wait_for(CHARTS_FIT, "charts redrawn at 390 px");
        seen.insert("logistics kpi 390".into(), b.eval(LAYOUT));
        b.screenshot(&shot_paths[1]);
        seen
    })
    .await
    .expect("browser task");

    for (what, layout) in &seen {
        no_problems(layout, what);
    }
    for width in [1280, 390] {
        assert_eq!(seen[&format!("esg kpi {width}")]["viewport"], width);
    }

    // ESG: values with thousands separators in the user's locale.
    for width in [1280, 390] {
        let what = format!("esg kpi {width}");
        kpi_values_match(&seen[&what], &esg_kpi, ',', '.', &what);
    }
    kpi_values_match(&seen["esg kpi de-DE"], &esg_kpi, '.', ',', "esg kpi de-DE");
    let esg_view = &seen["esg kpi 1280"];
    assert_eq!(esg_view["kpi_values"]["social_value_krw"], "14,133,300 KRW");
    assert_eq!(
        seen["esg kpi de-DE"]["kpi_values"]["social_value_krw"],
        "14.133.300 KRW"
    );
    // Twelve months of millions of KRW: compact labels with the unit above the axis.
    let social = chart(esg_view, "social_value_krw");
    assert_eq!(social["lines"]["actual"]["points"], 12);
    let y = labels(social, "y-label");
    assert!(
        y.len() >= 3 && y.iter().all(|l| l.ends_with('M')),
        "social value y labels {y:?}"
    );
    assert_eq!(labels(social, "unit"), ["KRW"]);
    assert!(!labels(social, "x-label").is_empty());
    // A KPI with one period: a marker labelled with its value.
    let esg_score = chart(esg_view, "esg_score");
    assert_eq!(esg_score["markers"], 1);
    let value = esg_kpi["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["kpis"].as_array().into_iter().flatten())
        .find(|k| k["name"] == "esg_score")
        .and_then(|k| k["value"].as_str())
        .expect("esg score");
    assert_eq!(
        labels(esg_score, "point-label"),
        [format!("{} points", grouped(value, ',', '.'))]
    );
    // Avoided emissions: the never-netted note, on the section and every tile of it.
    let notes = esg_view["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.starts_with("Never netted.") && n.contains("never subtracted"))),
        "{notes:?}"
    );
    for kpi in ["incineration_avoided_kg", "carbon_reduction_t"] {
        let text = esg_view["kpi_tiles"][kpi].as_str().unwrap_or_default();
        assert!(text.contains("never netted"), "{kpi}: {text}");
    }

    // Logistics: the 2030 target, the baseline and the yearly path are drawn, and said.
    let view = &seen["logistics kpi 1280"];
    let total = chart(view, "total_emissions");
    let api_total = &logistics_kpi["sections"][0]["kpis"][0];
    assert_eq!(api_total["name"], "total_emissions");
    for (line, value) in [
        ("target", &api_total["target"]["target_value"]),
        ("baseline", &api_total["target"]["baseline_value"]),
    ] {
        let l = &total["lines"][line];
        assert_eq!(&l["value"], value, "{line} line: {total}");
        assert!(
            l["drawn"] == true && l["length"].as_f64() > Some(10.0),
            "{line} line: {l}"
        );
    }
    assert_eq!(total["lines"]["target"]["value"], "50000.0");
    let path = &total["lines"]["trajectory"];
    assert!(
        path["drawn"] == true && path["points"].as_u64() >= Some(3),
        "planned path: {path}"
    );
    let text = view["kpi_tiles"]["total_emissions"]
        .as_str()
        .unwrap_or_default();
    for part in [
        "71,000.0 kgCO2e",
        "Target −50 % by 2030 vs 2020",
        "planned path −6.70 %/yr (constant rate)",
        "target 2030: 50,000.0",
        "baseline 2020: 100,000.0",
        "planned 70,710.7 kgCO2e",
        "achievement 99.01 % of the planned reduction",
    ] {
        assert!(
            text.contains(part),
            "total_emissions tile lacks {part:?}:\n{text}"
        );
    }
    let linear = view["kpi_tiles"]["intensity_tkm"]
        .as_str()
        .unwrap_or_default();
    assert!(
        linear.contains("−5.00 % of the baseline per year (linear)"),
        "{linear}"
    );
    assert!(
        view["kpi_tiles"]["avoided_emissions"]
            .as_str()
            .is_some_and(|t| t.contains("never netted")),
        "{}",
        view["kpi_tiles"]
    );
    kpi_values_match(view, &logistics_kpi, ',', '.', "logistics kpi 1280");
    assert!(
        chart(&seen["logistics kpi 390"], "total_emissions")["width"].as_f64()
            != total["width"].as_f64(),
        "the chart kept its width at 390 px"
    );

    // Scope 3: the years the ledger names, the latest chosen; category 8 left out on request.
    for width in [1280, 390] {
        let s = &seen[&format!("esg scope3 {width}")]["scope3"];
        assert_eq!(s["years"], serde_json::json!(["2024", "2025"]), "{s}");
        assert_eq!(s["year"], "2025");
        assert_eq!(s["exclude_8"], false);
    }
    let s = &seen["esg scope3 1280"];
    assert_eq!(s["tiles"]["scope3-total"], "2,224.000");
    assert_eq!(total_t(&scope3), "2224");
    let s = &seen["esg scope3 exclude 8"];
    assert_eq!(s["scope3"]["exclude_8"], true);
    assert_eq!(s["tiles"]["scope3-excluded"], "8");
    assert_eq!(s["tiles"]["scope3-total"], "2,184.000");
    assert_eq!(total_t(&scope3_k_ets), "2184");
    assert!(
        s["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("Never netted.") && n.contains("24.800 t CO2e")),
        "{}",
        s["notes"]
    );
    for shot in &shots {
        println!("dashboard screenshot: {}", shot.display());
    }
}

/// The committed `dashboard/dist/` (what the binary embeds) is what esbuild makes of
/// `dashboard/src/` today. Needs `npm ci --prefix dashboard` to have run; says so otherwise.
#[test]
fn dashboard_assets_match_src() {
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard");
    if !dashboard.join("node_modules/esbuild").is_dir() {
        tests::not_run(
            "dashboard_assets_match_src",
            "dashboard/node_modules is absent; run `npm ci --prefix dashboard` to check that \
             dashboard/dist matches a rebuild of dashboard/src",
        );
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let built = std::process::Command::new("node")
        .arg("build.mjs")
        .arg(out.path())
        .current_dir(&dashboard)
        .output()
        .expect("run node build.mjs");
    assert!(
        built.status.success(),
        "node build.mjs failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    for name in ["index.html", "app.js", "app.css"] {
        let committed = std::fs::read(dashboard.join("dist").join(name)).expect("committed asset");
        let rebuilt = std::fs::read(out.path().join(name)).expect("rebuilt asset");
        assert!(
            committed == rebuilt,
            "dashboard/dist/{name} differs from a rebuild of dashboard/src: run \
             `npm run --prefix dashboard build` and commit dashboard/dist"
        );
    }
}
