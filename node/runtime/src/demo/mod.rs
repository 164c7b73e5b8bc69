//! `tanso demo`: a whole local data space on loopback, narrated step by step.
//!
//! Three companies get temporary homes: a steel supplier, an OEM and a third company. The
//! supplier serves peers over TLS on 127.0.0.1 (port 0), shares with customers only, and
//! publishes sample footprints; the OEM fetches and verifies them; the third company is
//! refused; the OEM requests a product the supplier has not published yet, which is fulfilled
//! automatically once it is; the supplier's later update reaches the OEM as a Published
//! notification; the audit log verifies. Then (`directory`) an association directory: a parts
//! maker joins, the OEM discovers it by product id and fetches with no partner card, and a
//! revoked member is refused; a supplier with no inbound port is reached through a blind
//! relay; finally a PACT v3 client pulls over the REST API. Part three (`buyer`) shows why the
//! buyer wanted the data: Scope 3 category 1 from the received footprints, its own product
//! footprint composed and published, and its KPI against -50 % by 2030. Part four (`hosted`):
//! an association's `tanso host` serves three small suppliers behind one port, and the OEM
//! fetches from each as from any node. The logistics part (`logistics`, lines `L1.` …): a
//! carrier publishes iLEAP shipment footprints computed from its legs, one policy lets each
//! shipper read only its own, and the OEM's Scope 3 category 4 uses them. Part six
//! (`monitor`): the same carrier's dashboard computes its inventory from 36 months of ledgers
//! and serves the KPI guide's executive, operational and field views, with forecasts, ranking
//! and action plans; with `keep`, the
//! OEM's dashboard stays up with a one-time login link. Every wait polls the nodes' state,
//! bounded.

mod buyer;
mod directory;
mod hosted;
mod logistics;
mod monitor;

use std::io::Write;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use tanso_core::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use tanso_core::error::NodeError;
use tanso_core::home::Home;
use tanso_core::node::Node;
use tanso_core::signed;
use tanso_grpc::client::{self, FetchWhat};

mod relay;

const STEEL: &str = include_str!("steel.jsonl");
const SHARE_WITH_CUSTOMERS: &str = include_str!("../../../../policies/share-with-customers.json");

/// How the demo runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoOptions {
    /// Leave the nodes running at the end, with the OEM's dashboard up and a one-time login
    /// link printed, until Ctrl-C.
    pub keep: bool,
}

/// Errors of the demo (it runs real nodes, so anything can fail).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Step(String),
}

struct Company {
    node: Node,
    /// The PACT REST host's bound address, when it serves one.
    pact_addr: Option<std::net::SocketAddr>,
    /// The dashboard's bound address, when it serves one.
    dashboard_addr: Option<std::net::SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Company {
    async fn start(dir: &std::path::Path, slug: &str, name: &str) -> Result<Company, DemoError> {
        Company::start_with(dir, slug, name, Default::default(), Default::default()).await
    }

    /// A company whose node also serves the PACT v3 REST API (`pact` config) or the
    /// dashboard (`dashboard` config).
    async fn start_with(
        dir: &std::path::Path,
        slug: &str,
        name: &str,
        pact: tanso_core::config::RawPact,
        dashboard: tanso_core::config::RawDashboard,
    ) -> Result<Company, DemoError> {
        let raw = RawConfig {
            company_id: format!("urn:tanso:company:{slug}"),
            name: name.to_string(),
            listen: Some("127.0.0.1:0".into()),
            advertise: None,
            store: RawStore::default(),
            limits: RawLimits::default(),
            tls: RawTls::default(),
            log: RawLog::default(),
            dashboard,
            exchange: Default::default(),
            pact,
            metrics: Default::default(),
            directory: Default::default(),
            audit: Default::default(),
        };
        let home = Home::new(dir.join(slug));
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DemoError::Step(format!("randomness: {e}")))?;
        home.init(&raw, &seed).map_err(NodeError::from)?;
        let node = crate::open(&home)?;
        let listeners = crate::server::Listeners::bind(&node)
            .await
            .map_err(|e| DemoError::Step(e.to_string()))?;
        let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let (pact_addr, dashboard_addr) = (local(&listeners.pact), local(&listeners.dashboard));
        if let Some(addr) = local(&listeners.peer) {
            node.set_bound_endpoint(addr);
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(crate::server::run(node.clone(), listeners, async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "demo node task failed");
            }
        });
        Ok(Company {
            node,
            pact_addr,
            dashboard_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Polls `check` until it holds (at most 20 s).
async fn wait_for(
    what: &str,
    mut check: impl FnMut() -> Result<bool, tanso_core::store::StoreError>,
) -> Result<(), DemoError> {
    let within = std::time::Duration::from_secs(20);
    crate::wait::until(within, || check().map(|done| done.then_some(())))
        .await
        .map_err(NodeError::from)?
        .ok_or_else(|| DemoError::Step(format!("timed out waiting for {what}")))
}

/// The PACT v3 side: Daehan Motors' PACT-conformant tooling, with client credentials Hanbit
/// Steel issued, pulls over HTTPS REST what the same policy lets it read.
async fn pact_step(out: &mut dyn Write, steel: &Company, oem: &Company) -> Result<(), DemoError> {
    let home = steel.node.home().clone();
    let addr = steel
        .pact_addr
        .ok_or_else(|| DemoError::Step("the PACT API is not served".into()))?;
    let (client_id, client_secret) = tanso_pact_api::add_client(
        &home,
        "urn:tanso:company:daehan-motors",
        vec!["customer".into()],
    )
    .map_err(|e| DemoError::Step(e.to_string()))?;
    let base = format!("https://{addr}");
    let trust = tanso_pact_api::trust::ServerTrust::pinned(&steel.node.identity().fingerprint)
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let report = tanso_pact_api::pull::pull(
        &oem.node,
        tanso_pact_api::pull::PullArgs {
            base: base.clone(),
            trust,
            client_id,
            client_secret,
            query: vec![("limit".into(), "2".into())],
        },
    )
    .await
    .map_err(|e| DemoError::Step(format!("pact pull: {e}")))?;
    let verified = report
        .stored
        .iter()
        .filter(|(_, status)| *status == tanso_core::store::SignatureStatus::Verified)
        .count();
    if report.stored.is_empty() || verified != report.stored.len() {
        return Err(DemoError::Step(format!(
            "pact pull stored {} footprints, {verified} verified",
            report.stored.len()
        )));
    }
    writeln!(
        out,
        "23. Hanbit Steel also serves the PACT v3.0.3 REST API at {base}: with OAuth client credentials it issued to Daehan Motors, a PACT client pages through /3/footprints ({} pages of 2) and gets the {} footprints the same policy discloses, each owner signature carried in `extensions` and verified",
        report.pages,
        report.stored.len()
    )?;
    Ok(())
}

/// Runs the demo, narrating to `out`.
pub async fn run(out: &mut dyn Write, options: DemoOptions) -> Result<(), DemoError> {
    let dir = tempfile::tempdir()?;
    writeln!(
        out,
        "tanso demo: a local data space on 127.0.0.1 (homes in {})\n",
        dir.path().display()
    )?;

    let pact = tanso_core::config::RawPact {
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let steel = Company::start_with(
        dir.path(),
        "hanbit-steel",
        "Hanbit Steel",
        pact,
        Default::default(),
    )
    .await?;
    // The OEM's dashboard (only with --keep) reads the files part three writes in its home.
    let dashboard = if options.keep {
        tanso_core::config::RawDashboard {
            listen: Some("127.0.0.1:0".into()),
            ledger: Some(buyer::LEDGER_DIR.into()),
            kpi_config: Some(buyer::KPI_CONFIG.into()),
            kpi_measures: Some(buyer::KPI_MEASURES.into()),
            exclude_category_8: false,
            ..Default::default()
        }
    } else {
        Default::default()
    };
    let oem = Company::start_with(
        dir.path(),
        "daehan-motors",
        "Daehan Motors",
        Default::default(),
        dashboard,
    )
    .await?;
    let other = Company::start(dir.path(), "other-co", "Other Co").await?;
    for c in [&steel, &oem, &other] {
        let card = c.node.card()?;
        writeln!(
            out,
            "1. {} ({}) runs a node at {} with key {}",
            card.name, card.company_id, card.endpoint, card.key_id
        )?;
    }

    // Cards are exchanged out of band; the supplier puts the OEM in its `customer` group.
    let card_text = |n: &Node| -> Result<String, DemoError> {
        serde_json::to_string(&n.card()?).map_err(|e| DemoError::Step(e.to_string()))
    };
    steel
        .node
        .add_partner(&card_text(&oem.node)?, vec!["customer".into()])?;
    steel
        .node
        .add_partner(&card_text(&other.node)?, vec!["prospect".into()])?;
    oem.node.add_partner(&card_text(&steel.node)?, Vec::new())?;
    other
        .node
        .add_partner(&card_text(&steel.node)?, Vec::new())?;
    writeln!(
        out,
        "2. They exchange cards: Hanbit Steel lists Daehan Motors as a customer and Other Co as a prospect"
    )?;

    let uid = steel
        .node
        .add_policy("policies/share-with-customers.json", SHARE_WITH_CUSTOMERS)?;
    writeln!(
        out,
        "3. Hanbit Steel loads usage policy {uid}: full view for partners in group `customer`, everyone else denied by default"
    )?;

    let published = steel.node.publish(STEEL)?;
    writeln!(
        out,
        "4. Hanbit Steel validates, signs (Ed25519 over RFC 8785 JSON) and stores {} footprints: {}",
        published.ids.len(),
        published.ids.join(", ")
    )?;

    let fetched = client::fetch(
        &oem.node,
        "urn:tanso:company:hanbit-steel",
        FetchWhat::Products(vec!["urn:tanso:hanbit-steel:product:hrc-01".into()]),
        Some("scope3-reporting"),
    )
    .await?;
    for doc in &fetched {
        let sig = signed::verify_document(doc).map_err(|e| DemoError::Step(e.to_string()))?;
        writeln!(
            out,
            "5. Daehan Motors asks for product hrc-01 with a signed request over TLS and receives footprint {}: {} kgCO2e per {} {} ({} view, owner signature verified, key {})",
            doc["id"].as_str().unwrap_or("?"),
            doc["pcf"]["pcfExcludingBiogenicUptake"]
                .as_str()
                .unwrap_or("?"),
            doc["pcf"]["declaredUnitAmount"].as_str().unwrap_or("?"),
            doc["pcf"]["declaredUnitOfMeasurement"]
                .as_str()
                .unwrap_or("?"),
            sig.view,
            sig.key_id
        )?;
    }
    let mut tampered = fetched[0].clone();
    tampered["pcf"]["pcfExcludingBiogenicUptake"] = serde_json::Value::String("1.1".into());
    match signed::verify_document(&tampered) {
        Err(e) => writeln!(
            out,
            "6. Anyone holding the file can verify it offline; changing the value to 1.1 breaks it: {e}"
        )?,
        Ok(_) => return Err(DemoError::Step("a tampered footprint verified".into())),
    }

    match client::fetch(
        &other.node,
        "urn:tanso:company:hanbit-steel",
        FetchWhat::Products(vec!["urn:tanso:hanbit-steel:product:hrc-01".into()]),
        None,
    )
    .await
    {
        Err(e) => writeln!(
            out,
            "7. Other Co asks for the same product and is refused without learning whether it exists: {e}"
        )?,
        Ok(_) => {
            return Err(DemoError::Step(
                "the third company was given a footprint".into(),
            ));
        }
    }

    // A request for a product Hanbit Steel has not published yet stays pending.
    const GALV: &str = "urn:tanso:hanbit-steel:product:galv-03";
    let request = oem.node.send_request(
        "urn:tanso:company:hanbit-steel",
        vec![GALV.into()],
        Vec::new(),
        "for our body-in-white LCA".into(),
        Some("scope3-reporting".into()),
    )?;
    wait_for("the request to reach the supplier", || {
        Ok(oem
            .node
            .store()
            .outgoing_request(&request.id)?
            .is_some_and(|r| r.status == tanso_core::store::RequestState::Pending))
    })
    .await?;
    writeln!(
        out,
        "8. Daehan Motors requests galv-03, which Hanbit Steel has not calculated yet: request {} is pending on both nodes",
        request.id
    )?;
    let mut galv: serde_json::Value = serde_json::from_str(STEEL.lines().next().unwrap_or("{}"))
        .map_err(|e| DemoError::Step(e.to_string()))?;
    galv["id"] = uuid::Uuid::new_v4().to_string().into();
    galv["productIds"] = serde_json::json!([GALV]);
    galv["productNameCompany"] = "GALV-03 galvanised sheet".into();
    let galv_id = steel.node.publish(&galv.to_string())?.ids[0].to_string();
    wait_for("the automatic answer", || {
        Ok(oem
            .node
            .store()
            .outgoing_request(&request.id)?
            .is_some_and(|r| r.status == tanso_core::store::RequestState::Fulfilled)
            && oem.node.store().inbox_entry(&galv_id)?.is_some())
    })
    .await?;
    writeln!(
        out,
        "9. Hanbit Steel publishes galv-03 ({galv_id}); its policy discloses it to customers, so the pending request is fulfilled automatically and the signed footprint lands in Daehan Motors' inbox"
    )?;

    let old = published.ids[0].to_string();
    let mut next: serde_json::Value = serde_json::from_str(STEEL.lines().next().unwrap_or("{}"))
        .map_err(|e| DemoError::Step(e.to_string()))?;
    next["pcf"]["pcfExcludingBiogenicUptake"] = "1.95".into();
    next["pcf"]["pcfIncludingBiogenicUptake"] = "1.95".into();
    next["pcf"]["fossilGhgEmissions"] = "1.95".into();
    let updated = steel.node.update(&old, &next.to_string())?;
    writeln!(
        out,
        "10. Hanbit Steel recalculates hrc-01 (1.95 kgCO2e/kg): new footprint {} replaces {}, now Deprecated",
        updated.ids.join(", "),
        old
    )?;
    let new_id = updated.ids[0].to_string();
    wait_for("the Published notification", || {
        Ok(oem.node.store().inbox_entry(&new_id)?.is_some()
            && oem
                .node
                .store()
                .inbox_entry(&old)?
                .is_some_and(|e| e.status == tanso_core::pact::Status::Deprecated))
    })
    .await?;
    writeln!(
        out,
        "11. Daehan Motors, which received hrc-01 before, gets a Published notification, fetches {new_id} and marks {old} Deprecated in its inbox"
    )?;

    let report = steel.node.audit_verify()?;
    writeln!(
        out,
        "12. Hanbit Steel's audit log holds {} hash-chained entries (every request and decision); chain {}",
        report.entries,
        if report.ok { "verifies" } else { "is BROKEN" }
    )?;
    if !report.ok {
        return Err(DemoError::Step(format!(
            "audit chain: {:?}",
            report.problems
        )));
    }
    directory::run(dir.path(), out, &steel, &oem, &other).await?;
    pact_step(out, &steel, &oem).await?;
    buyer::run(out, &oem, 24, &new_id)?;
    hosted::run(
        out,
        dir.path(),
        &oem.node,
        STEEL.lines().next().unwrap_or("{}"),
    )
    .await?;
    let carrier = Company::start_with(
        dir.path(),
        "a-logistics",
        "A Logistics",
        Default::default(),
        monitor::dashboard(),
    )
    .await?;
    logistics::run(out, &carrier, &oem.node, &other.node).await?;
    monitor::run(out, &carrier).await?;
    writeln!(
        out,
        "\ndone: the supplier kept its data on its own node and decided who saw what; the buyer got primary data for its Scope 3, its product footprint and its target."
    )?;
    if options.keep {
        keep(
            out,
            &[
                (
                    "Daehan Motors' dashboard (Scope 3, KPIs, footprints, audit log)",
                    &oem,
                ),
                (
                    "A Logistics' dashboard (the executive, operational and field views)",
                    &carrier,
                ),
            ],
        )
        .await?;
    }
    for c in [steel, oem, other, carrier] {
        c.stop().await;
    }
    Ok(())
}

/// A dashboard session of a demo company: a new user of `role`, logged in through the
/// dashboard's own login form.
struct Session {
    addr: std::net::SocketAddr,
    fingerprint: String,
    cookie: String,
    password: String,
}

impl Session {
    async fn open(
        company: &Company,
        user: &str,
        role: crate::dashboard::Role,
    ) -> Result<Session, DemoError> {
        use crate::dashboard::{self, client};
        let addr = company
            .dashboard_addr
            .ok_or_else(|| DemoError::Step("the dashboard is not served".into()))?;
        let fingerprint = company.node.identity().fingerprint.clone();
        let password = dashboard::add_user(company.node.home(), user, role)
            .map_err(|e| DemoError::Step(e.to_string()))?;
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", user)
            .append_pair("password", &password)
            .finish();
        let login = client::request(
            addr,
            &fingerprint,
            "POST",
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await
        .map_err(|e| DemoError::Step(format!("dashboard login: {e}")))?;
        let cookie = login
            .set_cookie()
            .ok_or_else(|| DemoError::Step(format!("dashboard login answered {}", login.status)))?;
        Ok(Session {
            addr,
            fingerprint,
            cookie,
            password,
        })
    }
}

/// Prints a one-time login link to `company`'s dashboard (a demo admin user) and the password
/// for later logins.
async fn login_link(out: &mut dyn Write, what: &str, company: &Company) -> Result<(), DemoError> {
    use crate::dashboard::{self, Role, client};
    let session = Session::open(company, "demo", Role::Admin).await?;
    let (addr, fingerprint, cookie, password) = (
        session.addr,
        session.fingerprint,
        session.cookie,
        session.password,
    );
    let minted = client::request(
        addr,
        &fingerprint,
        "POST",
        "/api/login-tokens",
        &[("cookie", &cookie), ("x-tanso-csrf", "1")],
        b"",
    )
    .await
    .map_err(|e| DemoError::Step(format!("dashboard login link: {e}")))?;
    let path = minted
        .json()
        .and_then(|v| v["url"].as_str().map(str::to_string))
        .ok_or_else(|| DemoError::Step(format!("login link answered {}", minted.status)))?;
    writeln!(
        out,
        "\n{what} is up at https://{addr}/\n  one-time login link (valid {} s): https://{addr}{path}\n  afterwards log in as `demo` with password {password}\n  the certificate is the node's own (SHA-256 fingerprint {fingerprint}): your browser will ask you to accept it",
        dashboard::auth::LOGIN_TOKEN_TTL.as_secs(),
    )?;
    Ok(())
}

/// `--keep`: the OEM's and A Logistics' dashboards stay up, each with a one-time login link
/// minted through the dashboard's own login (a demo admin user) and the password for later
/// logins, until Ctrl-C.
async fn keep(out: &mut dyn Write, dashboards: &[(&str, &Company)]) -> Result<(), DemoError> {
    for (what, company) in dashboards {
        login_link(out, what, company).await?;
    }
    writeln!(out, "Ctrl-C stops the data space and deletes its homes.")?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
