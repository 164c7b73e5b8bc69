//! The web dashboard of a live node: auth and roles, the API against the node's data, CSV
//! export, and the page itself in headless Chromium (tiles equal the API; a screenshot).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use node::dashboard::client::{self, HttpResponse};
use node::dashboard::{self, Role};
use node::home::Home;
use node::service::client::FetchWhat;
use serde_json::Value;
use tests::{TestNode, befriend, company, footprint, policy_template, uuid};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A node with a dashboard on port 0, and its dashboard address.
async fn start(slug: &str) -> (TestNode, SocketAddr) {
    let tn = TestNode::start_with(slug, |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
    })
    .await;
    let home = Home::new(&tn.home);
    for _ in 0..200 {
        if let Some(addr) = dashboard::bound_addr(&home) {
            return (tn, addr);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the dashboard never wrote {}",
        home.dir.join(dashboard::ADDR_FILE).display()
    );
}

struct Web {
    addr: SocketAddr,
    fingerprint: String,
}

impl Web {
    fn of(tn: &TestNode, addr: SocketAddr) -> Web {
        Web {
            addr,
            fingerprint: tn.node.identity().fingerprint.clone(),
        }
    }

    async fn send(
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

    async fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
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
    async fn session(&self, name: &str, password: &str) -> String {
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

    async fn json(&self, path: &str, cookie: &str) -> Value {
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

#[tokio::test]
async fn scope3_and_kpis_from_configured_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ledger = root.join("data/ledger-templates");
    let kpi = root.join("kpi/logistics.toml");
    let measures = root.join("kpi/examples/logistics-measures.csv");
    let tn = TestNode::start_with("calc", |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
        raw.dashboard.ledger = Some(ledger);
        raw.dashboard.kpi_config = Some(kpi);
        raw.dashboard.kpi_measures = Some(measures);
    })
    .await;
    let home = Home::new(&tn.home);
    let mut addr = None;
    for _ in 0..200 {
        addr = dashboard::bound_addr(&home);
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let web = Web::of(&tn, addr.expect("dashboard address"));
    let pw = dashboard::add_user(&home, "viewer", Role::Viewer).expect("user");
    let cookie = web.session("viewer", &pw).await;
    let s = web.json("/api/scope3", &cookie).await;
    assert_eq!(s["configured"], true, "{s}");
    assert_eq!(
        s["report"]["categories"].as_array().map(Vec::len),
        Some(8),
        "{s}"
    );
    let k = web.json("/api/kpi", &cookie).await;
    assert_eq!(k["configured"], true, "{k}");
    assert!(
        k["report"]["sections"][0]["kpis"][0]["series"].is_array(),
        "{k}"
    );
    for table in ["scope3", "kpi"] {
        let r = web.get(&format!("/api/{table}.csv"), Some(&cookie)).await;
        assert_eq!(r.status, 200, "{table}.csv: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    }
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

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("dashboard-screenshot.png")
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
    let shot = screenshot_path();
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
