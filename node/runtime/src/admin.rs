//! The admin socket: operator commands reach a running node over a unix socket in its home
//! (mode 0600, never on the network), one JSON request and one JSON answer per connection.
//! A streamed publish (`{"op":"publish_stream"}`) is followed on the same connection by its
//! document, up to the client's end of sending, which the node reads as it publishes.
//!
//! The same [`Command`]s run in-process when no node is running, so every operator command
//! works either way; see [`execute`].

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use tanso_core::admin_socket::MAX_REQUEST;
pub use tanso_core::admin_socket::{bind, call_json, serve_json};

use tanso_core::error::NodeError;
use tanso_core::node::Node;
use tanso_core::progress::{NoProgress, Progress};
use tanso_grpc::client::{self, FetchWhat};

/// How long a streamed publish waits for the next bytes from the CLI before giving up.
const STREAM_IDLE: std::time::Duration = std::time::Duration::from_secs(120);

/// An operator command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Id,
    Publish {
        text: String,
    },
    /// A publish whose document follows the request line on the socket, up to the client's
    /// end of sending; the node reads, validates, signs and stores it as it arrives
    /// ([`publish_stream`]). In-process, the CLI calls [`Node::publish_reader`] instead.
    PublishStream,
    Update {
        id: String,
        text: String,
    },
    FootprintList,
    FootprintShow {
        id: String,
    },
    Deprecate {
        id: String,
    },
    PartnerAdd {
        card: String,
        groups: Vec<String>,
        /// Re-pin a known partner's key even when the card's key history does not chain
        /// from the pinned key.
        #[serde(default)]
        replace: bool,
    },
    PartnerList,
    PartnerRemove {
        company_id: String,
    },
    PolicyAdd {
        name: String,
        source: String,
    },
    PolicyList,
    PolicyRemove {
        uid: String,
    },
    PolicyExplain {
        partner: String,
        product_id: String,
        purpose: Option<String>,
    },
    Fetch {
        from: String,
        product_ids: Vec<String>,
        id: Option<String>,
        purpose: Option<String>,
    },
    /// `tanso pact pull`: footprints from a PACT v3 host into the inbox.
    PactPull {
        base: String,
        trust: tanso_pact_api::trust::TrustSpec,
        client_id: String,
        client_secret: String,
        query: Vec<(String, String)>,
    },
    /// `tanso pact request`: a RequestCreated event to a PACT host; the answer comes back on
    /// this node's `/3/events`.
    PactRequest {
        base: String,
        trust: tanso_pact_api::trust::TrustSpec,
        client_id: String,
        client_secret: String,
        company_id: Option<String>,
        product_ids: Vec<String>,
        classifications: Vec<String>,
        comment: String,
    },
    InboxList,
    InboxShow {
        id: String,
    },
    /// Every received footprint as PACT JSON with its owner signature.
    InboxExport,
    /// Received full-view footprints as Scope 3 supplier PCFs.
    InboxSuppliers,
    /// The node's own data as KPI measures for a KPI config (source text): [period, name, value].
    KpiMeasures {
        config: String,
        name: String,
    },
    /// Verify the chain in the store; with `archives` (segment files or directories of
    /// them, absolute paths), the whole history.
    AuditVerify {
        #[serde(default)]
        archives: Vec<std::path::PathBuf>,
    },
    AuditExport,
    /// Archive the entries older than `before` (RFC 3339) to the segment file `out`
    /// (absolute path) and remove them from the store.
    AuditArchive {
        before: String,
        out: std::path::PathBuf,
    },
    /// Ask a supplier for footprints (queued, delivered by the outbox).
    RequestSend {
        to: String,
        product_ids: Vec<String>,
        classifications: Vec<String>,
        comment: String,
        purpose: Option<String>,
    },
    /// Requests sent and received.
    RequestList,
    RequestShow {
        id: String,
    },
    /// pending / fulfilled (with footprint ids) / rejected (with reason) / undeliverable.
    RequestStatus {
        id: String,
    },
    RequestFulfil {
        id: String,
        footprint_ids: Vec<String>,
    },
    RequestReject {
        id: String,
        reason: String,
    },
    /// Rotate the node key (new key, statement signed by the old one, card sent to partners).
    KeyRotate,
    /// The current key id, whether its file is encrypted, and the retired keys.
    KeyShow,
    /// Subscribe to (or unsubscribe from) a supplier's updates of products.
    Subscribe {
        to: String,
        product_ids: Vec<String>,
        unsubscribe: bool,
    },
    /// Pin a directory card (`tanso directory trust`).
    DirectoryTrust {
        card: String,
    },
    /// Apply (again) to every trusted directory; `None` re-sends the last facts.
    DirectoryJoin {
        facts: Option<tanso_core::directory::client::JoinFacts>,
    },
    /// Trusted directories, this node's credentials and status lists.
    DirectoryList,
    /// Discover members through the trusted directories.
    DirectoryFind {
        company_id: Option<String>,
        product_id: Option<String>,
        classification: Option<String>,
    },
}

impl Command {
    /// Whether the command may enqueue outbox items (the CLI then makes one inline delivery
    /// attempt when no node serves the home).
    pub fn enqueues(&self) -> bool {
        matches!(
            self,
            Command::RequestSend { .. }
                | Command::RequestFulfil { .. }
                | Command::RequestReject { .. }
                | Command::Publish { .. }
                | Command::PublishStream
                | Command::Update { .. }
                | Command::Deprecate { .. }
                | Command::KeyRotate
        )
    }
}

/// Runs a command against an open node.
pub async fn execute(node: &Node, command: Command) -> Result<Value, NodeError> {
    execute_with(node, command, &NoProgress).await
}

/// [`execute`], reporting to `progress` the progress of the commands that report any
/// (`PactPull`: footprints received); the others run as in [`execute`].
pub async fn execute_with(
    node: &Node,
    command: Command,
    progress: &dyn Progress,
) -> Result<Value, NodeError> {
    if let Command::KeyRotate = command {
        // Rotate, then re-apply to every trusted directory so members that find this node
        // there learn the new key (the application carries the chained card). The rotation
        // stands even when a directory cannot be reached; the outcome says so.
        let node2 = node.clone();
        let outcome = tokio::task::spawn_blocking(move || node2.rotate_key())
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        let mut value = to_json(&outcome)?;
        if !node.directories().trusted(node)?.is_empty() {
            let joined = match node.directories().join(node, None).await {
                Ok(joined) => json!({ "rejoined": joined.len() }),
                Err(e) => json!({ "error": e.to_string() }),
            };
            if let Value::Object(map) = &mut value {
                map.insert("directories".into(), joined);
            }
        }
        return Ok(value);
    }
    if let Command::Fetch {
        from,
        product_ids,
        id,
        purpose,
    } = command
    {
        let what = match id {
            Some(id) => FetchWhat::Id(id),
            None => FetchWhat::Products(product_ids),
        };
        let fetched = client::fetch_reporting(node, &from, what, purpose.as_deref()).await?;
        if fetched.withheld.is_empty() {
            return Ok(Value::Array(fetched.documents));
        }
        // The CLI prints `footprints` as it prints a plain answer, and names the rest.
        return Ok(json!({"footprints": fetched.documents, "withheld": fetched.withheld}));
    }
    if let Command::PactPull {
        base,
        trust,
        client_id,
        client_secret,
        query,
    } = command
    {
        let trust = trust
            .resolve()
            .map_err(|e| NodeError::BadRequest(e.to_string()))?;
        let args = tanso_pact_api::pull::PullArgs {
            base,
            trust,
            client_id,
            client_secret,
            query,
        };
        let report = tanso_pact_api::pull::pull_with(node, args, progress)
            .await
            .map_err(|e| match e {
                tanso_pact_api::pull::PullError::Node(n) => n,
                other => NodeError::Peer {
                    peer: "pact host".into(),
                    reason: other.to_string(),
                },
            })?;
        return serde_json::to_value(report).map_err(|e| NodeError::Internal(e.to_string()));
    }
    if let Command::PactRequest {
        base,
        trust,
        client_id,
        client_secret,
        company_id,
        product_ids,
        classifications,
        comment,
    } = command
    {
        let trust = trust
            .resolve()
            .map_err(|e| NodeError::BadRequest(e.to_string()))?;
        let args = tanso_pact_api::events::RequestArgs {
            base,
            trust,
            client_id,
            client_secret,
            company_id,
            product_ids,
            classifications,
            comment,
        };
        let request = tanso_pact_api::events::send_request(node, args).await?;
        return serde_json::to_value(request).map_err(|e| NodeError::Internal(e.to_string()));
    }
    if let Command::Subscribe {
        to,
        product_ids,
        unsubscribe,
    } = command
    {
        let mut peer = client::PeerClient::discover(node, &to, None).await?;
        peer.subscribe(&product_ids, unsubscribe).await?;
        return Ok(json!({
            if unsubscribe { "unsubscribed" } else { "subscribed" }: product_ids,
            "to": to,
        }));
    }
    if let Command::RequestSend { to, .. } = &command {
        // A supplier found through a trusted directory is as good as a partner here, as for
        // `fetch`: discovered now, so the request is stored with a card to deliver it to.
        client::discover(node, to).await?;
    }
    match command {
        Command::DirectoryJoin { facts } => {
            return to_json(&node.directories().join(node, facts).await?);
        }
        Command::DirectoryFind {
            company_id,
            product_id,
            classification,
        } => return directory_find(node, company_id, product_id, classification).await,
        _ => {}
    }
    let node = node.clone();
    tokio::task::spawn_blocking(move || execute_blocking(&node, command))
        .await
        .map_err(|_| NodeError::Internal("command task failed".into()))?
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, NodeError> {
    serde_json::to_value(v).map_err(|e| NodeError::Internal(e.to_string()))
}

fn execute_blocking(node: &Node, command: Command) -> Result<Value, NodeError> {
    match command {
        Command::Id => to_json(&node.card()?),
        Command::Publish { text } => to_json(&node.publish(&text)?),
        Command::PublishStream => Err(NodeError::BadRequest(
            "a streamed publish needs its document on the admin socket".into(),
        )),
        Command::Update { id, text } => to_json(&node.update(&id, &text)?),
        Command::FootprintList => {
            let list: Vec<Value> = node
                .footprints()?
                .into_iter()
                .map(|o| {
                    json!({
                        "id": o.footprint.id,
                        "status": o.footprint.status.as_str(),
                        "productIds": o.footprint.product_ids,
                        "productNameCompany": o.footprint.product_name_company,
                        "precedingPfIds": o.footprint.preceding_pf_ids,
                        "publishedAt": o.published_at,
                    })
                })
                .collect();
            Ok(Value::Array(list))
        }
        Command::FootprintShow { id } => {
            let own = node.footprint(&id)?;
            let view = tanso_core::signed::view_json(&own.footprint, tanso_core::signed::VIEW_FULL)
                .map_err(|e| NodeError::Internal(e.to_string()))?;
            Ok(tanso_core::signed::attach(view, &own.sig_full))
        }
        Command::Deprecate { id } => {
            node.deprecate(&id)?;
            Ok(json!({"deprecated": id}))
        }
        Command::PartnerAdd {
            card,
            groups,
            replace,
        } => {
            let card = node.add_partner_with(&card, groups, replace)?;
            Ok(json!({"added": card.company_id, "name": card.name}))
        }
        Command::PartnerList => to_json(&node.partners()?),
        Command::PartnerRemove { company_id } => {
            node.remove_partner(&company_id)?;
            Ok(json!({"removed": company_id}))
        }
        Command::PolicyAdd { name, source } => {
            Ok(json!({"added": node.add_policy(&name, &source)?}))
        }
        Command::PolicyList => Ok(Value::Array(
            node.policies()?
                .into_iter()
                .map(|p| json!({"uid": p.uid, "source": p.source_name, "addedAt": p.added_at}))
                .collect(),
        )),
        Command::PolicyRemove { uid } => {
            node.remove_policy(&uid)?;
            Ok(json!({"removed": uid}))
        }
        Command::PolicyExplain {
            partner,
            product_id,
            purpose,
        } => Ok(Value::String(node.explain(
            &partner,
            &product_id,
            purpose.as_deref(),
        )?)),
        Command::Fetch { .. } | Command::PactPull { .. } | Command::PactRequest { .. } => {
            Err(NodeError::Internal("this command is asynchronous".into()))
        }
        Command::InboxList => Ok(Value::Array(
            node.inbox()?
                .into_iter()
                .map(|e| {
                    json!({
                        "id": e.id,
                        "from": e.from_company,
                        "provenance": e.provenance,
                        "view": e.view,
                        "signature": e.signature_status,
                        "findings": e.findings.len(),
                        "receivedAt": e.received_at,
                        "productIds": e.product_ids,
                        "status": e.status,
                        "supersededBy": e.superseded_by,
                    })
                })
                .collect(),
        )),
        Command::InboxShow { id } => {
            let entry = node
                .store()
                .inbox_entry(&id)?
                .ok_or_else(|| NodeError::NotFound(format!("inbox footprint {id}")))?;
            to_json(&entry)
        }
        Command::InboxExport => Ok(Value::Array(
            node.inbox()?.into_iter().map(|e| e.document).collect(),
        )),
        Command::KpiMeasures { config, name } => {
            let cfg = tanso_calc::kpi::load_config(&config, &name)
                .map_err(|e| NodeError::BadRequest(e.to_string()))?;
            let measures =
                tanso_calc::kpi::node_measures(node.monthly_counts(&|n| cfg.measure(n).is_some())?);
            to_json(&measures.rows())
        }
        Command::InboxSuppliers => to_json(&tanso_calc::scope3::inbox::suppliers(&node.inbox()?)),
        Command::RequestSend {
            to,
            product_ids,
            classifications,
            comment,
            purpose,
        } => to_json(&node.send_request(&to, product_ids, classifications, comment, purpose)?),
        Command::RequestList => Ok(json!({
            "outgoing": node.store().outgoing_requests()?,
            "incoming": node.store().incoming_requests()?,
        })),
        Command::RequestShow { id } => {
            let outgoing = node.store().outgoing_request(&id)?;
            let incoming = node.store().incoming_request(&id)?;
            if outgoing.is_none() && incoming.is_none() {
                return Err(NodeError::NotFound(format!("request {id}")));
            }
            Ok(json!({"outgoing": outgoing, "incoming": incoming}))
        }
        Command::RequestStatus { id } => request_status(node, &id),
        Command::RequestFulfil { id, footprint_ids } => {
            to_json(&node.fulfil_request(&id, &footprint_ids)?)
        }
        Command::RequestReject { id, reason } => to_json(&node.reject_request(&id, &reason)?),
        Command::Subscribe { .. }
        | Command::DirectoryJoin { .. }
        | Command::DirectoryFind { .. } => {
            Err(NodeError::Internal("this command is asynchronous".into()))
        }
        Command::DirectoryTrust { card } => {
            let card = node.directories().trust(node, &card)?;
            Ok(json!({"trusted": card.association_id, "name": card.name, "keyId": card.key_id}))
        }
        Command::DirectoryList => to_json(&node.directories().trusted(node)?),
        Command::AuditVerify { archives } if archives.is_empty() => to_json(&node.audit_verify()?),
        Command::AuditVerify { archives } => to_json(&node.audit_verify_history(&archives)?),
        Command::AuditArchive { before, out } => {
            let before =
                tanso_core::archive::parse_before(&before).map_err(NodeError::BadRequest)?;
            to_json(&node.audit_archive(before, &tanso_core::archive::ArchiveOut::File(out))?)
        }
        Command::KeyRotate => to_json(&node.rotate_key()?),
        Command::KeyShow => {
            let (key, history) = node.keys().snapshot();
            Ok(json!({
                "keyId": key.key_id(),
                "encrypted": node.home().key_is_encrypted()?,
                "previousKeys": history
                    .iter()
                    .map(|p| json!({"keyId": p.key_id, "retiredAt": p.retired_at}))
                    .collect::<Vec<_>>(),
            }))
        }
        Command::AuditExport => {
            let mut out = Vec::new();
            node.audit_export(&mut out)?;
            Ok(Value::String(String::from_utf8_lossy(&out).into_owned()))
        }
    }
}

/// Members found through the trusted directories (verified credentials, revoked ones left out).
async fn directory_find(
    node: &Node,
    company_id: Option<String>,
    product_id: Option<String>,
    classification: Option<String>,
) -> Result<Value, NodeError> {
    let directories = node.directories();
    let found = match (company_id, product_id, classification) {
        (Some(c), None, None) => directories.resolve(node, &c).await?,
        (None, Some(p), None) => directories.find_product(node, &p).await?,
        (None, None, Some(c)) => directories.find_classification(node, &c).await?,
        _ => {
            return Err(NodeError::BadRequest(
                "give exactly one of --company, --product, --classification".into(),
            ));
        }
    };
    Ok(Value::Array(
        found
            .into_iter()
            .map(|m| json!({"associationId": m.association_id, "credential": m.credential}))
            .collect(),
    ))
}

/// The status of a request on either side: `{side, status, footprintIds, reason}`.
fn request_status(node: &Node, id: &str) -> Result<Value, NodeError> {
    if let Some(r) = node.store().outgoing_request(id)? {
        return Ok(json!({
            "id": r.id, "side": "outgoing", "to": r.to, "status": r.status,
            "footprintIds": r.footprint_ids, "reason": r.reason,
        }));
    }
    if let Some(r) = node.store().incoming_request(id)? {
        let (footprint_ids, reason) = match &r.answer {
            Some(tanso_core::store::Answer::Fulfilled { footprints }) => {
                (footprints.iter().map(|f| f.id.clone()).collect(), None)
            }
            Some(tanso_core::store::Answer::Rejected { reason }) => {
                (Vec::new(), Some(reason.clone()))
            }
            None => (Vec::new(), None),
        };
        return Ok(json!({
            "id": r.id, "side": "incoming", "from": r.from, "status": r.status,
            "footprintIds": footprint_ids, "reason": reason,
        }));
    }
    Err(NodeError::NotFound(format!("request {id}")))
}

/// Serves admin connections until cancelled.
pub async fn serve(node: Node, listener: UnixListener, cancel: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            s = listener.accept() => match s {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    continue;
                }
            },
        };
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(node, stream).await {
                tracing::debug!(error = %e, "admin connection failed");
            }
        });
    }
}

async fn handle(node: Node, stream: UnixStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(&mut reader, MAX_REQUEST as u64)
        .read_line(&mut line)
        .await?;
    if let Ok(Command::PublishStream) = serde_json::from_str::<Command>(&line) {
        // The document follows: what the reader already buffered, then the socket.
        let buffered = reader.buffer().to_vec();
        let stream = reader.into_inner().into_std()?;
        stream.set_nonblocking(false)?;
        return tokio::task::spawn_blocking(move || serve_publish(&node, buffered, stream))
            .await
            .map_err(io::Error::other)?;
    }
    let mut write = reader.into_inner();
    let answer = match serde_json::from_str::<Command>(&line) {
        Err(e) => json!({"error": format!("bad admin request: {e}")}),
        Ok(command) => match execute(&node, command).await {
            Ok(value) => json!({"ok": value}),
            Err(e) => json!({"error": e.to_string()}),
        },
    };
    let mut bytes = serde_json::to_vec(&answer).unwrap_or_default();
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

/// A streamed publish's answer on the socket: `{"ok": outcome}` or `{"error": message}`,
/// as for every command, written and read without an intermediate JSON tree.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer<T> {
    Ok(T),
    Error(String),
}

/// Runs a streamed publish on a blocking thread and writes its answer.
fn serve_publish(
    node: &Node,
    buffered: Vec<u8>,
    stream: std::os::unix::net::UnixStream,
) -> io::Result<()> {
    use std::io::{Read, Write};
    stream.set_read_timeout(Some(STREAM_IDLE))?;
    let input = std::io::BufReader::with_capacity(
        256 * 1024,
        std::io::Cursor::new(buffered).chain(&stream),
    );
    let answer = match node.publish_reader(input) {
        Ok(outcome) => Answer::Ok(outcome),
        Err(e) => Answer::Error(e.to_string()),
    };
    let mut out = std::io::BufWriter::new(&stream);
    serde_json::to_writer(&mut out, &answer).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()?;
    drop(out);
    stream.shutdown(std::net::Shutdown::Both)
}

/// Publishes the document `input` through the node serving `socket`, streaming it (the
/// whole file is never in memory on either side). `None` when no node listens there.
pub fn publish_stream(
    socket: &Path,
    mut input: impl std::io::Read + Send,
) -> Option<Result<tanso_core::publish::PublishOutcome, String>> {
    use std::io::Write;
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let answer = std::thread::scope(|scope| {
        let sender = match stream.try_clone() {
            Ok(s) => s,
            Err(e) => return Err(format!("admin socket: {e}")),
        };
        let sending = scope.spawn(move || -> io::Result<()> {
            let mut line = serde_json::to_vec(&Command::PublishStream).map_err(io::Error::other)?;
            line.push(b'\n');
            (&sender).write_all(&line)?;
            std::io::copy(&mut input, &mut &sender)?;
            sender.shutdown(std::net::Shutdown::Write)
        });
        // The node may answer (a refusal) before it read everything; the answer counts.
        let answer: Result<Answer<tanso_core::publish::PublishOutcome>, _> =
            serde_json::from_reader(std::io::BufReader::new(&stream));
        let sent = sending.join();
        match (answer, sent) {
            (Ok(Answer::Ok(outcome)), _) => Ok(outcome),
            (Ok(Answer::Error(e)), _) => Err(e),
            (Err(_), Ok(Err(e))) => Err(format!("admin socket: sending the document: {e}")),
            (Err(e), _) => Err(format!("admin socket answer: {e}")),
        }
    });
    Some(answer)
}

/// Sends a command to a running node. `None` when no node listens on the socket.
pub async fn call(path: &Path, command: &Command) -> Option<Result<Value, String>> {
    call_json(path, command).await
}
