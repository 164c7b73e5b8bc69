//! The demo's second act: an association directory; discovery by product id, fetch without
//! a partner card, and revocation.

use std::io::Write;

use super::{Company, DemoError};
use tanso_core::directory::client::JoinFacts;
use tanso_core::error::NodeError;
use tanso_core::home::Home;
use tanso_core::signed;
use tanso_directory::server::{self, Directory, RawDirectoryConfig};
use tanso_grpc::client::{self, FetchWhat};

const ASSOCIATION: &str = "urn:tanso:association:example-steel";
const MEMBERS_POLICY: &str = include_str!("../../../../policies/association-members.json");
const BRACKET: &str = "urn:tanso:seoul-parts:product:bracket-7";

/// A directory served in-process on 127.0.0.1 (port 0).
pub(super) struct RunningDirectory {
    pub directory: Directory,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningDirectory {
    pub(super) async fn start(dir: &std::path::Path) -> Result<RunningDirectory, DemoError> {
        let home = Home::new(dir.join("association"));
        let raw = RawDirectoryConfig::new(ASSOCIATION, "Example Steel Association", "127.0.0.1:0");
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DemoError::Step(format!("randomness: {e}")))?;
        server::init(&home, &raw, &seed).map_err(step)?;
        let directory = Directory::open(&home).map_err(step)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        directory.set_bound_endpoint(listener.local_addr()?);
        let admin = server::bind_admin(&home).map_err(step)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = directory.clone();
        let task = tokio::spawn(async move {
            let run = server::run(served, listener, admin, async move {
                let _ = stopped.await;
            });
            if let Err(e) = run.await {
                tracing::warn!(error = %e, "demo directory failed");
            }
        });
        Ok(RunningDirectory {
            directory,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// Steel supplier, parts maker and OEM join the association; the OEM finds the parts maker by
/// product id and fetches from it with no partner card; a revoked member is refused; then the
/// relay act (a steel supplier with no port, reached by the parts maker).
pub(super) async fn run(
    dir: &std::path::Path,
    out: &mut dyn Write,
    steel: &Company,
    oem: &Company,
    other: &Company,
) -> Result<(), DemoError> {
    writeln!(
        out,
        "\nPart two: an association directory (identifiers only, never a footprint)\n"
    )?;
    let association = RunningDirectory::start(dir).await?;
    let card = association.directory.card().map_err(step)?;
    writeln!(
        out,
        "13. The Example Steel Association runs a directory at {} (key {}); members pin its card",
        card.endpoint, card.key_id
    )?;
    let parts = Company::start(dir, "seoul-parts", "Seoul Parts").await?;
    let mut bracket: serde_json::Value =
        serde_json::from_str(super::STEEL.lines().next().unwrap_or("{}")).map_err(step)?;
    bracket["id"] = uuid::Uuid::new_v4().to_string().into();
    bracket["companyName"] = "Seoul Parts".into();
    bracket["companyIds"] = serde_json::json!(["urn:tanso:company:seoul-parts"]);
    bracket["productIds"] = serde_json::json!([BRACKET]);
    bracket["productNameCompany"] = "Bracket 7 (stamped steel)".into();
    let bracket_id = parts.node.publish(&bracket.to_string())?.ids[0].to_string();
    parts
        .node
        .add_policy("policies/association-members.json", MEMBERS_POLICY)?;
    writeln!(
        out,
        "14. Seoul Parts (a parts maker) publishes bracket-7 ({bracket_id}) and shares a summary view with members of the association"
    )?;

    let card_text = serde_json::to_string(&card).map_err(step)?;
    let members: [(&Company, JoinFacts); 4] = [
        (
            steel,
            facts(
                &["urn:tanso:hanbit-steel:product:hrc-01"],
                &["HS:7208"],
                &[],
            ),
        ),
        (&parts, facts(&[BRACKET], &["HS:7326"], &["HS:7208"])),
        (oem, facts(&[], &[], &["HS:7326"])),
        (other, facts(&[], &[], &[])),
    ];
    writeln!(
        out,
        "15. Each company applies with its signed card and the identifiers it supplies and buys; the operator approves:"
    )?;
    for (company, facts) in &members {
        company
            .node
            .directories()
            .trust(&company.node, &card_text)?;
        let joined = company
            .node
            .directories()
            .join(&company.node, Some(facts.clone()))
            .await?;
        let id = company.node.company_id().to_string();
        association.directory.approve(&id).map_err(step)?;
        let joined_again = company.node.directories().join(&company.node, None).await?;
        writeln!(
            out,
            "    - {}: application {} until approved, then membership credential #{}",
            company.node.config().name,
            joined.first().map(|j| j.state.as_str()).unwrap_or("?"),
            joined_again
                .first()
                .and_then(|j| j.credential.as_ref())
                .map(|c| c.serial)
                .unwrap_or_default()
        )?;
    }

    let found = oem
        .node
        .directories()
        .find_product(&oem.node, BRACKET)
        .await?;
    let maker = found
        .first()
        .ok_or_else(|| DemoError::Step("nobody supplies bracket-7".into()))?;
    writeln!(
        out,
        "16. Daehan Motors asks the directory who supplies bracket-7: {} at {} (answer signed by the association, verified)",
        maker.credential.company_id, maker.credential.endpoint
    )?;
    let fetched = client::fetch(
        &oem.node,
        &maker.credential.company_id,
        FetchWhat::Products(vec![BRACKET.into()]),
        None,
    )
    .await?;
    for doc in &fetched {
        let sig = signed::verify_document(doc).map_err(step)?;
        writeln!(
            out,
            "17. With no partner card on either side, it connects (TLS pinned by the credential), fetches {} ({} view) and verifies Seoul Parts' signature (key {})",
            doc["id"].as_str().unwrap_or("?"),
            sig.view,
            sig.key_id
        )?;
    }

    client::fetch(
        &other.node,
        "urn:tanso:company:seoul-parts",
        FetchWhat::Id(bracket_id.clone()),
        None,
    )
    .await?;
    association
        .directory
        .revoke("urn:tanso:company:other-co")
        .map_err(step)?;
    crate::wait::until(std::time::Duration::from_secs(20), || {
        Ok::<_, DemoError>(
            parts
                .node
                .directories()
                .revoked_in(&parts.node, "urn:tanso:company:other-co"),
        )
    })
    .await?
    .ok_or_else(|| DemoError::Step("the revocation never arrived".into()))?;
    match client::fetch(
        &other.node,
        "urn:tanso:company:seoul-parts",
        FetchWhat::Id(bracket_id),
        None,
    )
    .await
    {
        Err(NodeError::PeerDenied { reason, .. }) | Err(NodeError::Peer { reason, .. }) => {
            writeln!(
                out,
                "18. Other Co, also a member, could fetch too; the association revokes it, the signed status list reaches Seoul Parts at once (Watch), and Other Co is refused: {reason}"
            )?
        }
        Err(e) => writeln!(out, "18. Other Co is revoked and refused: {e}")?,
        Ok(_) => return Err(DemoError::Step("a revoked member was served".into())),
    }
    let members = association.directory.members().map_err(step)?;
    writeln!(
        out,
        "19. The directory holds {} member entries: company ids, keys, endpoints, product ids, classification codes; no footprint",
        members.len()
    )?;
    super::relay::run(
        out,
        dir,
        &association,
        &parts.node,
        super::STEEL.lines().next().unwrap_or("{}"),
        20,
    )
    .await?;
    parts.stop().await;
    association.stop().await;
    Ok(())
}

fn facts(products: &[&str], supplies: &[&str], buys: &[&str]) -> JoinFacts {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    JoinFacts {
        supplies_products: s(products),
        supplies_classifications: s(supplies),
        buys_classifications: s(buys),
    }
}
