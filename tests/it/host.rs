//! `tanso host`: many tenants in one process behind one peer port and shared PACT and
//! dashboard ports. Each tenant is a whole node; nothing of one tenant is reachable through
//! another, on either store engine.

use std::net::SocketAddr;
use std::time::Duration;

use node::dashboard::client::{self, HttpResponse};
use node::host::admin::{HostAnswer, HostCommand};
use node::host::{Host, HostHome, HostListeners, RawHostConfig, TenantSpec, TenantState};
use node::quota::Quotas;
use node::service::client::PeerClient;
use tests::{TestNode, company, footprint, policy_template, uuid};
use tokio::sync::oneshot;

/// A host serving on port 0 in this process.
struct TestHost {
    host: Host,
    peer: SocketAddr,
    pact: SocketAddr,
    dashboard: SocketAddr,
    fingerprint: String,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestHost {
    /// A host with tenants `slugs` (quotas per slug from `quotas`), on `engine`.
    async fn start(
        engine: &str,
        slugs: &[&str],
        quotas: impl Fn(&str) -> Option<Quotas>,
    ) -> TestHost {
        TestHost::start_with(engine, slugs, quotas, true).await
    }

    /// [`TestHost::start`]; with `listen` false the host has no peer port (its tenants are
    /// reached through a relay).
    async fn start_with(
        engine: &str,
        slugs: &[&str],
        quotas: impl Fn(&str) -> Option<Quotas>,
        listen: bool,
    ) -> TestHost {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = HostHome::new(dir.path().join("host"));
        let mut raw = RawHostConfig::parse("", "host.toml").expect("defaults");
        raw.listen = listen.then(|| "127.0.0.1:0".into());
        raw.pact_listen = Some("127.0.0.1:0".into());
        raw.dashboard_listen = Some("127.0.0.1:0".into());
        raw.tenants.engine = engine.to_string();
        home.init(&raw).expect("host init");
        let host = Host::open(home, None).expect("host open");
        for slug in slugs {
            host.add(TenantSpec {
                company_id: company(slug),
                name: format!("{slug} co"),
                slug: None,
                quotas: quotas(slug),
            })
            .await
            .expect("tenant add");
        }
        let listeners = HostListeners::bind(&host).await.expect("bind");
        let addr =
            |l: &Option<tokio::net::TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let (peer, pact, dashboard) = (
            addr(&listeners.peer).unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
            addr(&listeners.pact).expect("pact bound"),
            addr(&listeners.dashboard).expect("dashboard bound"),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let served = host.clone();
        let task = tokio::spawn(async move {
            node::host::run(served, listeners, async move {
                let _ = stopped.await;
            })
            .await
            .expect("host ran");
        });
        let fingerprint = host.shared().identity.fingerprint.clone();
        TestHost {
            host,
            peer,
            pact,
            dashboard,
            fingerprint,
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The node of tenant `slug`, for set-up (it counts as use).
    async fn tenant(&self, slug: &str) -> node::Node {
        self.host
            .operate(slug)
            .await
            .expect("tenant")
            .node()
            .clone()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("host task");
        }
    }
}

/// A tenant that publishes `ids` and shares them with customers, knowing `oem` as one.
async fn supplier(h: &TestHost, slug: &str, oem: &TestNode, ids: &[&str]) -> String {
    let t = h.tenant(slug).await;
    for id in ids {
        let doc = footprint(slug, id, &format!("urn:tanso:{slug}:product:{id}"));
        t.publish(&doc.to_string()).expect("publish");
    }
    t.add_policy("share.json", &policy_template("share-with-customers"))
        .expect("policy");
    t.add_partner(&oem.card_json(), vec!["customer".into()])
        .expect("partner");
    let card = serde_json::to_string(&t.card().expect("card")).expect("card json");
    oem.node
        .add_partner(&card, vec![])
        .expect("oem knows tenant");
    card
}

async fn get(oem: &TestNode, slug: &str, id: &str) -> Result<String, String> {
    let mut c =
        PeerClient::for_partner(&oem.node, &company(slug), None).map_err(|e| e.to_string())?;
    c.get(id)
        .await
        .map(|f| id_of(&f))
        .map_err(|e| e.to_string())
}

/// The id of a footprint received over gRPC, whichever view.
fn id_of(f: &proto::pb::SignedFootprint) -> String {
    use proto::pb::signed_footprint::View;
    match &f.view {
        Some(View::Full(p)) => p.id.clone(),
        Some(View::Summary(s)) => s.id.clone(),
        None => String::new(),
    }
}

fn audit_text(node: &node::Node) -> String {
    let mut out = Vec::new();
    node.audit_export(&mut out).expect("audit export");
    String::from_utf8(out).expect("utf8")
}

async fn isolation(engine: &str) {
    let oem = TestNode::start("oem").await;
    let h = TestHost::start(engine, &["alpha", "beta", "gamma"], |_| None).await;
    let (a1, a2, b1, g1) = (uuid(), uuid(), uuid(), uuid());
    let card = supplier(&h, "alpha", &oem, &[&a1, &a2]).await;
    supplier(&h, "beta", &oem, &[&b1]).await;
    // Gamma publishes but does not know the OEM.
    let gamma = h.tenant("gamma").await;
    gamma
        .publish(&footprint("gamma", &g1, "urn:tanso:gamma:product:x").to_string())
        .expect("publish");

    // Every tenant's card carries the host's shared endpoint and certificate.
    let card: serde_json::Value = serde_json::from_str(&card).expect("card");
    assert_eq!(card["endpoint"], h.peer.to_string());
    assert_eq!(card["tlsFingerprint"], h.fingerprint);

    // Through the one port, each read reaches the tenant the envelope names.
    let got = get(&oem, "alpha", &a1).await.expect("alpha serves a1");
    assert!(got.contains(&a1), "{got}");
    assert!(
        get(&oem, "beta", &b1)
            .await
            .expect("beta serves b1")
            .contains(&b1)
    );
    let mut c = PeerClient::for_partner(&oem.node, &company("alpha"), None).expect("client");
    let (listed, _) = c
        .list_all(proto::pb::ListFootprintsRequest::default())
        .await
        .expect("list alpha");
    let mut ids: Vec<String> = listed.iter().map(id_of).collect();
    ids.sort();
    let mut want = vec![a1.clone(), a2.clone()];
    want.sort();
    assert_eq!(ids, want, "alpha lists its own footprints only");

    // Guessing another tenant's ids through a tenant finds nothing.
    let err = get(&oem, "alpha", &b1).await.expect_err("b1 is beta's");
    assert!(err.contains("not found"), "{err}");
    let err = get(&oem, "beta", &g1).await.expect_err("g1 is gamma's");
    assert!(err.contains("not found"), "{err}");

    // A tenant that does not know the caller refuses it, like any node.
    let gamma_card = serde_json::to_string(&gamma.card().expect("card")).expect("json");
    oem.node
        .add_partner(&gamma_card, vec![])
        .expect("oem knows gamma");
    let err = get(&oem, "gamma", &g1)
        .await
        .expect_err("gamma does not know oem");
    assert!(err.contains("unknown caller"), "{err}");

    // Audit chains are the tenants' own: alpha's shows its reads (and the guess at b1,
    // refused), beta's none of alpha's, gamma's nothing of either.
    let permitted = |log: &str, id: &str| {
        log.lines()
            .any(|l| l.contains(id) && l.contains("\"decision\":\"permit\""))
    };
    let alpha_log = audit_text(&h.tenant("alpha").await);
    let beta_log = audit_text(&h.tenant("beta").await);
    assert!(permitted(&alpha_log, &a1), "alpha's log has its read of a1");
    assert!(!permitted(&alpha_log, &b1), "alpha never disclosed b1");
    assert!(permitted(&beta_log, &b1), "beta's log has its read of b1");
    assert!(
        !beta_log.contains(&a1) && !beta_log.contains(&a2),
        "beta's log"
    );
    let gamma_log = audit_text(&gamma);
    assert!(
        !gamma_log.contains(&a1) && !gamma_log.contains(&b1),
        "gamma's log"
    );

    // A suspended tenant reads like a node this host does not serve.
    h.host
        .set_state("beta", TenantState::Suspended)
        .await
        .expect("suspend");
    let err = get(&oem, "beta", &b1).await.expect_err("beta suspended");
    assert!(err.contains("not a node served here"), "{err}");
    // ... and alpha is unaffected.
    assert!(get(&oem, "alpha", &a2).await.expect("alpha").contains(&a2));
    h.host
        .set_state("beta", TenantState::Active)
        .await
        .expect("resume");
    assert!(
        get(&oem, "beta", &b1)
            .await
            .expect("beta again")
            .contains(&b1)
    );

    // Idle tenants close; the next request opens them again.
    let open = |list: &[node::host::TenantStatus]| list.iter().filter(|t| t.open).count();
    assert_eq!(open(&h.host.list().await), 3);
    h.host
        .clock()
        .advance(h.host.config().idle_close + Duration::from_secs(1));
    assert_eq!(h.host.sweep_idle().await, 3);
    assert_eq!(open(&h.host.list().await), 0);
    assert!(
        get(&oem, "alpha", &a1)
            .await
            .expect("reopened")
            .contains(&a1)
    );
    assert_eq!(open(&h.host.list().await), 1);

    // A damaged store stops its tenant only.
    let gamma_dir = h.host.home().tenant_home("gamma").dir;
    drop(gamma);
    h.host
        .clock()
        .advance(h.host.config().idle_close + Duration::from_secs(1));
    h.host.sweep_idle().await;
    damage_store(&gamma_dir.join("store"));
    let err = get(&oem, "gamma", &g1)
        .await
        .expect_err("gamma's store is damaged");
    assert!(err.contains("unavailable"), "{err}");
    assert!(
        get(&oem, "beta", &b1)
            .await
            .expect("beta unaffected")
            .contains(&b1)
    );
    assert!(
        get(&oem, "alpha", &a1)
            .await
            .expect("alpha unaffected")
            .contains(&a1)
    );
    h.stop().await;
}

/// Overwrites every store file with garbage (both engines keep their data in files there).
fn damage_store(dir: &std::path::Path) {
    for entry in walk(dir) {
        let len = std::fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
        std::fs::write(
            &entry,
            vec![0xA5u8; usize::try_from(len.max(4096)).unwrap_or(4096)],
        )
        .expect("damage");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_isolated_on_redb() {
    isolation("redb").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_isolated_on_sled() {
    isolation("sled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_refuse_with_clear_errors_and_store_nothing() {
    let oem = TestNode::start("oem").await;
    let h = TestHost::start("redb", &["rate", "small", "queue"], |slug| match slug {
        "rate" => Some(Quotas {
            requests_per_second: Some(2),
            ..Quotas::NONE
        }),
        "queue" => Some(Quotas {
            outbox_depth: Some(1),
            ..Quotas::NONE
        }),
        _ => Some(Quotas {
            store_bytes: Some(1),
            ..Quotas::NONE
        }),
    })
    .await;
    let r1 = uuid();
    supplier(&h, "rate", &oem, &[&r1]).await;
    // A burst of two, then refused (the clock is not advanced, so no token comes back).
    get(&oem, "rate", &r1).await.expect("first");
    get(&oem, "rate", &r1).await.expect("second");
    let err = get(&oem, "rate", &r1)
        .await
        .expect_err("third is over the quota");
    assert!(err.contains("request quota exceeded"), "{err}");
    h.tenant("rate")
        .await
        .clock()
        .advance(Duration::from_secs(1));
    get(&oem, "rate", &r1).await.expect("a second later");

    // The store quota: a publish is refused whole and stores nothing.
    let small = h.tenant("small").await;
    let err = small
        .publish(&footprint("small", &uuid(), "urn:tanso:small:product:x").to_string())
        .expect_err("over the store quota");
    assert!(err.to_string().contains("store quota exceeded"), "{err}");
    assert!(small.footprints().expect("list").is_empty());

    // The outbox quota: a request that would queue past it is refused, nothing stored. The
    // partner is stopped, so the first request stays queued.
    let gone = TestNode::start("gone").await;
    let gone_card = gone.card_json();
    gone.stop().await;
    let queued = h.tenant("queue").await;
    queued.add_partner(&gone_card, vec![]).expect("partner");
    let ask = || {
        queued.send_request(
            &company("gone"),
            vec!["urn:tanso:oem:product:x".into()],
            Vec::new(),
            String::new(),
            None,
        )
    };
    ask().expect("the first request fits");
    let err = ask().expect_err("the second is over the outbox quota");
    assert!(err.to_string().contains("outbox quota exceeded"), "{err}");
    h.stop().await;
}

/// A PACT API client of one tenant on the host's shared PACT port.
struct Pact<'a> {
    h: &'a TestHost,
}

impl Pact<'_> {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        client::request(
            self.h.pact,
            &self.h.fingerprint,
            method,
            path,
            headers,
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    async fn token(&self, slug: &str, id: &str, secret: &str) -> HttpResponse {
        let basic = format!(
            "Basic {}",
            crate::pact_api::b64(format!("{id}:{secret}").as_bytes())
        );
        self.send(
            "POST",
            &format!("/t/{slug}/auth/token"),
            &[
                ("authorization", &basic),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pact_and_dashboard_are_per_tenant_under_t_slug() {
    let oem = TestNode::start("oem").await;
    let h = TestHost::start("redb", &["alpha", "beta"], |_| None).await;
    let (a1, b1) = (uuid(), uuid());
    supplier(&h, "alpha", &oem, &[&a1]).await;
    supplier(&h, "beta", &oem, &[&b1]).await;
    let mut secrets = Vec::new();
    for slug in ["alpha", "beta"] {
        let home = h.host.home().tenant_home(slug);
        let (id, secret) =
            node::pact_api::clients::add_client(&home, &company("oem"), vec!["customer".into()])
                .expect("client");
        secrets.push((id, secret));
    }
    // Clients are loaded when the tenant opens: close both so they reopen with them.
    h.host
        .clock()
        .advance(h.host.config().idle_close + Duration::from_secs(1));
    h.host.sweep_idle().await;

    let pact = Pact { h: &h };
    let well_known = pact
        .send("GET", "/t/alpha/.well-known/openid-configuration", &[], b"")
        .await;
    assert_eq!(well_known.status, 200, "{}", well_known.text());
    let v = well_known.json().expect("json");
    assert!(
        v["token_endpoint"]
            .as_str()
            .is_some_and(|t| t.ends_with("/t/alpha/auth/token")),
        "{v}"
    );
    let r = pact.token("alpha", &secrets[0].0, &secrets[0].1).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json().expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let auth = format!("Bearer {token}");
    let list = pact
        .send(
            "GET",
            "/t/alpha/3/footprints",
            &[("authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(list.text().contains(&a1) && !list.text().contains(&b1));
    // Alpha's token means nothing to beta, and beta's credentials nothing to alpha.
    let other = pact
        .send(
            "GET",
            &format!("/t/beta/3/footprints/{b1}"),
            &[("authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(other.status, 401, "{}", other.text());
    let wrong = pact.token("alpha", &secrets[1].0, &secrets[1].1).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    // An unknown tenant reads like an unknown path.
    let unknown = pact.send("GET", "/t/nobody/3/footprints", &[], b"").await;
    let nowhere = pact.send("GET", "/nowhere", &[], b"").await;
    assert_eq!(
        (unknown.status, unknown.text()),
        (nowhere.status, nowhere.text())
    );

    // Dashboards: a session of alpha's is nothing on beta's.
    let pw = node::dashboard::add_user(
        &h.host.home().tenant_home("alpha"),
        "ana",
        node::dashboard::Role::Viewer,
    )
    .expect("user");
    let web = |method: &'static str,
               path: String,
               headers: Vec<(&'static str, String)>,
               body: Vec<u8>| {
        let h = &h;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client::request(h.dashboard, &h.fingerprint, method, &path, &headers, &body)
                .await
                .expect("dashboard")
        }
    };
    let r = web("GET", "/t/alpha".into(), vec![], vec![]).await;
    assert_eq!((r.status, r.header("location")), (308, Some("/t/alpha/")));
    let r = web("GET", "/t/alpha/".into(), vec![], vec![]).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/t/alpha/login"))
    );
    let r = web(
        "POST",
        "/t/alpha/login".into(),
        vec![("content-type", "application/x-www-form-urlencoded".into())],
        format!("name=ana&password={pw}").into_bytes(),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/t/alpha/")),
        "{}",
        r.text()
    );
    let cookie = r.set_cookie().expect("cookie");
    assert!(
        cookie.starts_with("__Host-tanso_session_alpha="),
        "{cookie}"
    );
    let me = web(
        "GET",
        "/t/alpha/api/me".into(),
        vec![("cookie", cookie.clone())],
        vec![],
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert!(me.text().contains("ana"));
    let fp = web(
        "GET",
        "/t/alpha/api/footprints".into(),
        vec![("cookie", cookie.clone())],
        vec![],
    )
    .await;
    assert!(
        fp.text().contains(&a1) && !fp.text().contains(&b1),
        "{}",
        fp.text()
    );
    // The same cookie value under beta's name, too: beta has no such session.
    let forged = cookie.replace("_alpha=", "_beta=");
    for c in [cookie, forged] {
        let r = web("GET", "/t/beta/api/me".into(), vec![("cookie", c)], vec![]).await;
        assert_eq!(r.status, 401, "{}", r.text());
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_commands_run_through_the_hosts_admin_socket() {
    let h = TestHost::start("redb", &["alpha"], |_| None).await;
    let socket = h.host.home().admin_socket();
    let call = |command: HostCommand| {
        let socket = socket.clone();
        async move {
            node::host::admin::call(&socket, &command)
                .await
                .expect("host serves")
        }
    };
    let added = call(HostCommand::TenantAdd {
        spec: TenantSpec {
            company_id: company("delta"),
            name: "Delta".into(),
            slug: None,
            quotas: None,
        },
    })
    .await
    .expect("add");
    assert!(matches!(added, HostAnswer::Tenant(ref e) if e.slug == "delta"));
    let dup = call(HostCommand::TenantAdd {
        spec: TenantSpec {
            company_id: company("DELTA"),
            name: "again".into(),
            slug: Some("other".into()),
            quotas: None,
        },
    })
    .await
    .expect_err("exists");
    assert!(dup.to_string().contains("exists already"), "{dup}");
    let id = uuid();
    let published = call(HostCommand::Node {
        tenant: "delta".into(),
        command: node::admin::Command::Publish {
            text: footprint("delta", &id, "urn:tanso:delta:product:x").to_string(),
        },
    })
    .await
    .expect("publish on delta");
    assert!(matches!(
        published,
        HostAnswer::Node(node::admin::Answer::Published(_))
    ));
    let list = call(HostCommand::Node {
        tenant: "alpha".into(),
        command: node::admin::Command::FootprintList,
    })
    .await
    .expect("alpha's list");
    let HostAnswer::Node(node::admin::Answer::Footprints(list)) = list else {
        panic!("not a list");
    };
    assert!(list.is_empty(), "delta's publish is not alpha's");
    let err = call(HostCommand::TenantRemove {
        tenant: "delta".into(),
    })
    .await
    .expect_err("active");
    assert!(err.to_string().contains("suspend it first"), "{err}");
    h.stop().await;
}

/// The binary: `tanso host init|serve|tenant …` and `--tenant` on node commands, with the
/// host down (in process) and serving (through its admin socket).
#[test]
fn the_binary_runs_a_host_and_node_commands_on_its_tenants() {
    use crate::cli::{run, tanso};
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("host");
    let home_s = home.to_str().expect("utf8");
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "tanso {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["host", "init", "--home", home_s, "--listen", "127.0.0.1:0"]);
    for slug in ["alpha", "beta"] {
        ok(&[
            "host",
            "tenant",
            "add",
            "--home",
            home_s,
            "--company-id",
            &company(slug),
            "--name",
            slug,
        ]);
    }
    // A bad slug and a duplicate are refused, naming what is wrong; nothing is added.
    let bad = run(&[
        "host",
        "tenant",
        "add",
        "--home",
        home_s,
        "--company-id",
        &company("x"),
        "--name",
        "x",
        "--slug",
        "Not/A/Slug",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a tenant slug"));
    let dup = run(&[
        "host",
        "tenant",
        "add",
        "--home",
        home_s,
        "--company-id",
        &company("alpha"),
        "--name",
        "a",
    ]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("exists already"));
    let file = dir.path().join("fp.json");
    let id = uuid();
    std::fs::write(
        &file,
        footprint("alpha", &id, "urn:tanso:alpha:product:x").to_string(),
    )
    .expect("write");
    // With the host down, --tenant runs in process.
    let published = ok(&[
        "--tenant",
        "alpha",
        "footprint",
        "publish",
        "--home",
        home_s,
        file.to_str().expect("utf8"),
    ]);
    assert!(published.contains(&id), "{published}");
    // The key is sealed: the tenant's home alone does not open.
    let alone = run(&[
        "id",
        "--home",
        home.join("tenants/alpha").to_str().expect("utf8"),
    ]);
    assert!(
        !alone.status.success(),
        "a tenant home opened without its host"
    );

    let mut server = tanso()
        .args(["host", "serve", "--home", home_s])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("host serve");
    let socket = home.join("admin.sock");
    tests::wait_for_blocking("the host's admin socket", || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    // Through the socket now: alpha's list has the footprint, beta's does not.
    let alpha = ok(&["--tenant", "alpha", "footprint", "list", "--home", home_s]);
    assert!(alpha.contains(&id), "{alpha}");
    let beta = ok(&[
        "--tenant",
        "urn:tanso:company:beta",
        "footprint",
        "list",
        "--home",
        home_s,
    ]);
    assert!(!beta.contains(&id), "{beta}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["host", "tenant", "list", "--home", home_s])).expect("json");
    let open: Vec<_> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| {
            (
                t["slug"].as_str().unwrap().to_string(),
                t["open"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(open.contains(&("alpha".to_string(), true)), "{open:?}");
    ok(&["host", "tenant", "suspend", "--home", home_s, "beta"]);
    let refused = run(&["--tenant", "beta", "footprint", "list", "--home", home_s]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is suspended"));
    ok(&["host", "tenant", "remove", "--home", home_s, "beta"]);
    assert!(!home.join("tenants/beta").exists(), "removed with its data");
    // Export alpha (suspended first, as for a move) and import it into a second host.
    ok(&["host", "tenant", "suspend", "--home", home_s, "alpha"]);
    let bundle = dir.path().join("alpha.tar");
    let bundle_s = bundle.to_str().expect("utf8");
    let no_pass = run(&[
        "host", "tenant", "export", "--home", home_s, "alpha", "--out", bundle_s,
    ]);
    assert!(String::from_utf8_lossy(&no_pass.stderr).contains("passphrase"));
    let exported = tanso()
        .args([
            "host", "tenant", "export", "--home", home_s, "alpha", "--out", bundle_s,
        ])
        .env("TANSO_KEY_PASSPHRASE", "move it")
        .output()
        .expect("export");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let other = dir.path().join("other");
    let other_s = other.to_str().expect("utf8");
    ok(&["host", "init", "--home", other_s, "--listen", "127.0.0.1:0"]);
    let wrong = tanso()
        .args(["host", "tenant", "import", "--home", other_s, bundle_s])
        .env("TANSO_KEY_PASSPHRASE", "not it")
        .output()
        .expect("import");
    assert!(!wrong.status.success());
    assert!(
        !other.join("tenants/alpha").exists(),
        "a refused import writes nothing"
    );
    let imported = tanso()
        .args(["host", "tenant", "import", "--home", other_s, bundle_s])
        .env("TANSO_KEY_PASSPHRASE", "move it")
        .output()
        .expect("import");
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let moved = ok(&["--tenant", "alpha", "footprint", "list", "--home", other_s]);
    assert!(moved.contains(&id), "{moved}");
    let chain = ok(&["--tenant", "alpha", "audit", "verify", "--home", other_s]);
    assert!(chain.contains("ok") || chain.contains("true"), "{chain}");
    let _ = std::process::Command::new("kill")
        .arg(server.id().to_string())
        .status();
    let status = server.wait().expect("host exits");
    assert!(status.success(), "host serve exited {status:?}");
}

/// Three hosts with no peer port behind an association's relay; a tenant moves from the first
/// to the second (suspend, export, import; its card update reaches the OEM) while the OEM
/// keeps fetching from every tenant, and nothing acknowledged before the move is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_moves_between_hosts_behind_a_relay_and_fetches_keep_succeeding() {
    use crate::relay::{Association, TestRelay, WAIT};
    let association = Association::new("assoc");
    let dir = tempfile::tempdir().expect("tempdir");
    let relay_home = TestRelay::init(dir.path(), &association, |_| {});
    let relay = TestRelay::serve(&relay_home, "127.0.0.1:0").await;
    let oem = TestNode::start("oem").await;
    let hosts = [
        TestHost::start_with("redb", &["one", "mover"], |_| None, false).await,
        TestHost::start_with("redb", &["two"], |_| None, false).await,
        TestHost::start_with("sled", &["three"], |_| None, false).await,
    ];
    let placement = [(0, "one"), (0, "mover"), (1, "two"), (2, "three")];
    let mut ids = Vec::new();
    for (h, slug) in placement {
        let host = &hosts[h];
        let id = uuid();
        {
            let tenant = host.tenant(slug).await;
            let key = tenant.key();
            let credential = association.credential(&company(slug), &key, &relay.addr.to_string());
            node::relay::keeper::use_relay(
                tenant.home(),
                &company(slug),
                key.key_id(),
                &relay.card_json(),
                Some(&serde_json::to_string(&credential).expect("json")),
            )
            .expect("relay use");
            tenant
                .publish(&footprint(slug, &id, &format!("urn:tanso:{slug}:product:p")).to_string())
                .expect("publish");
            tenant
                .add_policy("share.json", &policy_template("share-with-customers"))
                .expect("policy");
            tenant
                .add_partner(&oem.card_json(), vec!["customer".into()])
                .expect("partner");
        }
        // Reopened, the tenant registers with the relay; its card names the relay.
        host.host
            .set_state(slug, TenantState::Suspended)
            .await
            .expect("close");
        host.host
            .set_state(slug, TenantState::Active)
            .await
            .expect("open");
        let card = host.tenant(slug).await.card().expect("card");
        assert_eq!(card.relay.as_deref(), Some(relay.addr.to_string().as_str()));
        assert!(card.endpoint.is_empty(), "reached only through the relay");
        assert!(
            relay.relay.wait_registered(&company(slug), WAIT).await,
            "{slug} registers"
        );
        oem.node
            .add_partner(&serde_json::to_string(&card).expect("json"), vec![])
            .expect("oem knows tenant");
        ids.push((slug, id));
    }

    // The OEM fetches from every tenant, round after round, while the move runs; a fetch may
    // be retried (as any client retries UNAVAILABLE) but must succeed within 15 s.
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let done = std::sync::Arc::new(AtomicU32::new(0));
    let fetcher = {
        let (oem, ids, stop, done) = (oem.node.clone(), ids.clone(), stop.clone(), done.clone());
        tokio::spawn(async move {
            let mut rounds = 0u32;
            let mut retried = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (slug, id) in &ids {
                    let started = std::time::Instant::now();
                    loop {
                        let got = async {
                            let mut c = PeerClient::for_partner(&oem, &company(slug), None)?;
                            c.get(id).await
                        }
                        .await;
                        match got {
                            Ok(f) => {
                                assert_eq!(id_of(&f), *id);
                                break;
                            }
                            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                                retried += 1;
                                let _ = e;
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            Err(e) => panic!("fetch from {slug} failed for 15 s: {e}"),
                        }
                    }
                }
                rounds += 1;
                done.store(rounds, Ordering::Relaxed);
            }
            (rounds, retried)
        })
    };
    tests::wait_for("a first round of fetches", || async {
        (done.load(Ordering::Relaxed) >= 1).then_some(())
    })
    .await;

    // The move: suspend on host one (nothing is acknowledged after this), export, import
    // on host two, which opens it: it registers with the relay and announces its card.
    let passphrase = node::home::Passphrase::new(b"moving day".to_vec());
    let late = uuid();
    hosts[0]
        .tenant("mover")
        .await
        .publish(&footprint("mover", &late, "urn:tanso:mover:product:late").to_string())
        .expect("acknowledged before the move");
    hosts[0]
        .host
        .set_state("mover", TenantState::Suspended)
        .await
        .expect("suspend");
    let bundle = dir.path().join("mover.tar");
    hosts[0]
        .host
        .export("mover", bundle.clone(), passphrase.clone())
        .await
        .expect("export");
    hosts[1]
        .host
        .import(bundle, passphrase, None)
        .await
        .expect("import");
    hosts[0]
        .host
        .remove("mover")
        .await
        .expect("remove from host one");
    // The OEM learns the new card (new certificate) through the card-update path.
    let moved = hosts[1].tenant("mover").await;
    let new_fingerprint = moved.card().expect("card").tls_fingerprint;
    assert_ne!(new_fingerprint, hosts[0].fingerprint);
    tests::wait_for("the OEM to pin the moved tenant's new card", || async {
        oem.node
            .partner(&company("mover"))
            .ok()
            .flatten()
            .filter(|p| p.card.tls_fingerprint == new_fingerprint)
            .map(|_| ())
    })
    .await;
    // Nothing acknowledged before the move was lost; the tenant serves from its new host.
    let got = get(&oem, "mover", &late).await.expect("late footprint");
    assert_eq!(got, late);
    // Let the fetcher run two more whole rounds across the new placement, then stop it.
    let now = done.load(Ordering::Relaxed);
    tests::wait_for("two more rounds of fetches", || async {
        (done.load(Ordering::Relaxed) >= now + 2).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let (rounds, retried) = fetcher.await.expect("fetcher");
    assert!(rounds >= 2, "rounds {rounds}");
    eprintln!("move test: {rounds} fetch rounds, {retried} retried attempts");
    for h in hosts {
        h.stop().await;
    }
    relay.stop().await;
}

/// A panic in one tenant's request handler fails that request alone: the host process, and
/// every other tenant, go on (`TANSO_FAULT_PANIC_TENANT` injects the panic).
#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_one_tenants_request_does_not_stop_the_others() {
    use crate::cli::tanso;
    let oem = TestNode::start("oem").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("host");
    let home_s = home.to_str().expect("utf8").to_string();
    // A free port for the host (its cards carry it before it serves).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let oem_card = dir.path().join("oem.json");
    std::fs::write(&oem_card, oem.card_json()).expect("write");
    let run_ok = |args: &[&str]| {
        let out = tanso().args(args).output().expect("tanso");
        assert!(
            out.status.success(),
            "tanso {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run_ok(&["host", "init", "--home", &home_s, "--listen", &listen]);
    let mut ids = Vec::new();
    for slug in ["calm", "faulty"] {
        run_ok(&[
            "host",
            "tenant",
            "add",
            "--home",
            &home_s,
            "--company-id",
            &company(slug),
            "--name",
            slug,
        ]);
        let t = |cmd: &[&str]| -> Vec<String> {
            let mut v = vec!["--tenant".to_string(), slug.to_string()];
            v.extend(cmd.iter().map(|s| s.to_string()));
            v.extend(["--home".to_string(), home_s.clone()]);
            v
        };
        let run_t = |cmd: &[&str]| {
            let args = t(cmd);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_ok(&args)
        };
        let id = uuid();
        let file = dir.path().join(format!("{slug}.json"));
        std::fs::write(
            &file,
            footprint(slug, &id, &format!("urn:tanso:{slug}:product:p")).to_string(),
        )
        .expect("write");
        let policy = dir.path().join("share.json");
        std::fs::write(&policy, policy_template("share-with-customers")).expect("write");
        run_t(&["footprint", "publish", file.to_str().unwrap()]);
        run_t(&["policy", "add", policy.to_str().unwrap()]);
        run_t(&[
            "partner",
            "add",
            "--group",
            "customer",
            oem_card.to_str().unwrap(),
        ]);
        let card = run_t(&["id"]);
        oem.node
            .add_partner(&card, vec![])
            .expect("oem knows tenant");
        ids.push((slug, id));
    }
    let mut server = tanso()
        .args(["host", "serve", "--home", &home_s])
        .env(node::host::peer::FAULT_PANIC_TENANT_ENV, company("faulty"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("host serve");
    tests::wait_for("the host's peer port", || async {
        tokio::net::TcpStream::connect(&listen)
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    for _ in 0..3 {
        let err = get(&oem, "faulty", &ids[1].1)
            .await
            .expect_err("faulty panics");
        assert!(err.contains("internal error"), "{err}");
        let got = get(&oem, "calm", &ids[0].1).await.expect("calm goes on");
        assert_eq!(got, ids[0].1);
    }
    assert!(
        server.try_wait().expect("status").is_none(),
        "the host is still running"
    );
    let _ = std::process::Command::new("kill")
        .arg(server.id().to_string())
        .status();
    assert!(server.wait().expect("exit").success());
}
