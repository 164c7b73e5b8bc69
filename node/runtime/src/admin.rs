//! The admin socket: operator commands reach a running node over a unix socket in its home
//! (mode 0600, never on the network), one request line and one answer line per connection.
//! Both are JSON envelopes carrying [`PROTOCOL_VERSION`]: `{"version":1,"command":{"op":…}}`,
//! answered `{"version":1,"ok":…}` or `{"version":1,"error":"…"}`; each end refuses a
//! message of another version, naming both. A streamed publish ([`Command::PublishStream`])
//! is followed on the same connection by its document, up to the client's end of sending,
//! which the node reads as it publishes.
//!
//! The same [`Command`]s run in-process when no node is running, so every operator command
//! works either way; see [`execute`]. Both ways give the same typed [`Answer`]; a footprint
//! document, opaque to this protocol, travels as a [`Document`] (its JSON text).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

pub use tanso_core::admin_socket::{AdminError, PROTOCOL_VERSION, bind, call_json, serve_json};
use tanso_core::admin_socket::{
    MAX_ANSWER, MAX_REQUEST, answer_too_large, parse_reply, parse_request, read_line_capped,
    reply_line, request_line, request_too_large, write_reply,
};

use crate::archive::{ArchiveOutcome, HistoryReport};
use crate::audit::ChainReport;
use crate::card::NodeCard;
use crate::directory::MembershipCredential;
use crate::directory::client::Joined;
use crate::error::NodeError;
use crate::node::Node;
use crate::pact::Status;
use crate::pact_api::pull::PullReport;
use crate::progress::{NoProgress, Progress};
use crate::publish::PublishOutcome;
use crate::rotation::RotationOutcome;
use crate::scope3::SupplierPcf;
use crate::service::client::{self, FetchWhat};
use crate::store::{
    InboxEntry, IncomingRequest, OutgoingRequest, PartnerRecord, RequestState, SignatureStatus,
    TrustedDirectory,
};

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
        trust: crate::pact_api::trust::TrustSpec,
        client_id: String,
        client_secret: String,
        query: Vec<(String, String)>,
    },
    /// `tanso pact request`: a RequestCreated event to a PACT host; the answer comes back on
    /// this node's `/3/events`.
    PactRequest {
        base: String,
        trust: crate::pact_api::trust::TrustSpec,
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
        facts: Option<crate::directory::client::JoinFacts>,
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

/// A footprint as PACT JSON with its owner signature, opaque to the admin protocol: its
/// JSON text, passed through as it is.
pub type Document = Box<RawValue>;

/// The answer to a [`Command`]: one variant per kind of result, named on each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one answer per command, moved once: boxing would only add noise"
)]
pub enum Answer {
    /// `Id`: this node's card.
    Card(NodeCard),
    /// `Publish`, `PublishStream`, `Update`.
    Published(PublishOutcome),
    /// `FootprintList`.
    Footprints(Vec<FootprintSummary>),
    /// `FootprintShow`: the full view with its signature.
    Footprint(Document),
    /// `Deprecate`.
    Deprecated(Deprecated),
    /// `PartnerAdd`.
    PartnerAdded(PartnerAdded),
    /// `PartnerList`.
    Partners(Vec<PartnerRecord>),
    /// `PartnerRemove`, `PolicyRemove`: the company id or policy uid removed.
    Removed(Removed),
    /// `PolicyAdd`.
    PolicyAdded(PolicyAdded),
    /// `PolicyList`.
    Policies(Vec<PolicySummary>),
    /// `PolicyExplain`: the decision and the rule and constraint that decided it.
    Explanation(String),
    /// `Fetch`.
    Fetched(Fetched),
    /// `PactPull`.
    Pulled(PullReport),
    /// `RequestSend`, `PactRequest`: the request as stored.
    Outgoing(OutgoingRequest),
    /// `RequestFulfil`, `RequestReject`: the request as answered.
    Incoming(IncomingRequest),
    /// `RequestList`.
    Requests(RequestList),
    /// `RequestShow`.
    Request(RequestShown),
    /// `RequestStatus`.
    RequestStatus(RequestStatus),
    /// `InboxList`.
    Inbox(Vec<InboxSummary>),
    /// `InboxShow`.
    InboxEntry(InboxEntry),
    /// `InboxExport`.
    Documents(Vec<Document>),
    /// `InboxSuppliers`.
    Suppliers(Vec<SupplierPcf>),
    /// `KpiMeasures`: (period, measure, value) rows.
    KpiMeasures(Vec<(String, String, String)>),
    /// `AuditVerify` without archives: the chain in the store.
    AuditChain(ChainReport),
    /// `AuditVerify` with archives: the whole history.
    AuditHistory(HistoryReport),
    /// `AuditExport`: the log as JSON lines.
    AuditExport(String),
    /// `AuditArchive`.
    Archived(ArchiveOutcome),
    /// `KeyRotate`.
    KeyRotated(KeyRotated),
    /// `KeyShow`.
    Key(KeyShown),
    /// `Subscribe`.
    Subscription(Subscription),
    /// `DirectoryTrust`.
    DirectoryTrusted(DirectoryTrusted),
    /// `DirectoryJoin`: what each trusted directory answered.
    Joined(Vec<Joined>),
    /// `DirectoryList`.
    Directories(Vec<TrustedDirectory>),
    /// `DirectoryFind`.
    Found(Vec<FoundMember>),
}

/// One own footprint in `FootprintList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FootprintSummary {
    pub id: String,
    pub status: Status,
    pub product_ids: Vec<String>,
    pub product_name_company: String,
    pub preceding_pf_ids: Option<Vec<String>>,
    pub published_at: String,
}

/// `Deprecate`: the footprint id deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecated {
    pub deprecated: String,
}

/// `PartnerAdd`: the company id added and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAdded {
    pub added: String,
    pub name: String,
}

/// `PartnerRemove`, `PolicyRemove`: what was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub removed: String,
}

/// `PolicyAdd`: the uid of the policy added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAdded {
    pub added: String,
}

/// One policy in `PolicyList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    pub uid: String,
    /// The file it was loaded from.
    pub source: String,
    pub added_at: String,
}

/// `Fetch`: the footprints received, and those the owner withheld as too large to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fetched {
    pub footprints: Vec<Document>,
    pub withheld: Vec<String>,
}

/// `RequestList`: requests sent and received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestList {
    pub outgoing: Vec<OutgoingRequest>,
    pub incoming: Vec<IncomingRequest>,
}

/// `RequestShow`: the request on the side(s) this node knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestShown {
    pub outgoing: Option<OutgoingRequest>,
    pub incoming: Option<IncomingRequest>,
}

/// Which side of a request this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// This node sent it (`to` is the supplier).
    Outgoing,
    /// A partner sent it (`from` is the requester).
    Incoming,
}

/// `RequestStatus`: a request's status on either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStatus {
    pub id: String,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub status: RequestState,
    pub footprint_ids: Vec<String>,
    pub reason: Option<String>,
}

/// One received footprint in `InboxList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxSummary {
    pub id: String,
    /// The owner company id the sender claims.
    pub from: String,
    pub provenance: String,
    pub view: String,
    /// The signature status.
    pub signature: SignatureStatus,
    /// How many validation findings it has.
    pub findings: usize,
    pub received_at: String,
    pub product_ids: Vec<String>,
    pub status: Status,
    pub superseded_by: Option<String>,
}

/// `KeyRotate`: the rotation, and the re-application to trusted directories when there are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRotated {
    pub rotation: RotationOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directories: Option<Rejoined>,
}

/// How the re-application after a rotation went (the rotation stands either way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rejoined {
    /// The number of directories applied to.
    Rejoined(usize),
    /// Why it failed.
    Error(String),
}

/// `KeyShow`: the current key and the retired ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyShown {
    pub key_id: String,
    /// Whether the key file is encrypted with a passphrase.
    pub encrypted: bool,
    pub previous_keys: Vec<RetiredKey>,
}

/// A retired key in `KeyShow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiredKey {
    pub key_id: String,
    pub retired_at: String,
}

/// `Subscribe`: the products subscribed to (or unsubscribed from) at a supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribed: Option<Vec<String>>,
    pub to: String,
}

/// `DirectoryTrust`: the directory pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryTrusted {
    /// Its association id.
    pub trusted: String,
    pub name: String,
    pub key_id: String,
}

/// A member found in `DirectoryFind` (verified, not revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundMember {
    pub association_id: String,
    pub credential: MembershipCredential,
}

/// Runs a command against an open node.
pub async fn execute(node: &Node, command: Command) -> Result<Answer, NodeError> {
    execute_with(node, command, &NoProgress).await
}

/// [`execute`], reporting to `progress` the progress of the commands that report any
/// (`PactPull`: footprints received); the others run as in [`execute`].
pub async fn execute_with(
    node: &Node,
    command: Command,
    progress: &dyn Progress,
) -> Result<Answer, NodeError> {
    if let Command::KeyRotate = command {
        // Rotate, then re-apply to every trusted directory so members that find this node
        // there learn the new key (the application carries the chained card). The rotation
        // stands even when a directory cannot be reached; the outcome says so.
        let node2 = node.clone();
        let rotation = tokio::task::spawn_blocking(move || node2.rotate_key())
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        let mut directories = None;
        if !node.directories().trusted(node)?.is_empty() {
            directories = Some(match node.directories().join(node, None).await {
                Ok(joined) => Rejoined::Rejoined(joined.len()),
                Err(e) => Rejoined::Error(e.to_string()),
            });
        }
        return Ok(Answer::KeyRotated(KeyRotated {
            rotation,
            directories,
        }));
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
        return Ok(Answer::Fetched(Fetched {
            footprints: documents(&fetched.documents)?,
            withheld: fetched.withheld,
        }));
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
        let args = crate::pact_api::pull::PullArgs {
            base,
            trust,
            client_id,
            client_secret,
            query,
        };
        let report = crate::pact_api::pull::pull_with(node, args, progress)
            .await
            .map_err(|e| match e {
                crate::pact_api::pull::PullError::Node(n) => n,
                other => NodeError::Peer {
                    peer: "pact host".into(),
                    reason: other.to_string(),
                },
            })?;
        return Ok(Answer::Pulled(report));
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
        let args = crate::pact_api::events::RequestArgs {
            base,
            trust,
            client_id,
            client_secret,
            company_id,
            product_ids,
            classifications,
            comment,
        };
        let request = crate::pact_api::events::send_request(node, args).await?;
        return Ok(Answer::Outgoing(request));
    }
    if let Command::Subscribe {
        to,
        product_ids,
        unsubscribe,
    } = command
    {
        let mut peer = client::PeerClient::discover(node, &to, None).await?;
        peer.subscribe(&product_ids, unsubscribe).await?;
        let (subscribed, unsubscribed) = if unsubscribe {
            (None, Some(product_ids))
        } else {
            (Some(product_ids), None)
        };
        return Ok(Answer::Subscription(Subscription {
            subscribed,
            unsubscribed,
            to,
        }));
    }
    if let Command::RequestSend { to, .. } = &command {
        // A supplier found through a trusted directory is as good as a partner here, as for
        // `fetch`: discovered now, so the request is stored with a card to deliver it to.
        client::discover(node, to).await?;
    }
    match command {
        Command::DirectoryJoin { facts } => {
            return Ok(Answer::Joined(node.directories().join(node, facts).await?));
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

/// Footprint documents as they travel in an answer.
fn documents(values: &[serde_json::Value]) -> Result<Vec<Document>, NodeError> {
    values.iter().map(document).collect()
}

fn document(value: &serde_json::Value) -> Result<Document, NodeError> {
    serde_json::value::to_raw_value(value).map_err(|e| NodeError::Internal(e.to_string()))
}

fn execute_blocking(node: &Node, command: Command) -> Result<Answer, NodeError> {
    Ok(match command {
        Command::Id => Answer::Card(node.card()?),
        Command::Publish { text } => Answer::Published(node.publish(&text)?),
        Command::PublishStream => {
            return Err(NodeError::BadRequest(
                "a streamed publish needs its document on the admin socket".into(),
            ));
        }
        Command::Update { id, text } => Answer::Published(node.update(&id, &text)?),
        Command::FootprintList => Answer::Footprints(
            node.footprints()?
                .into_iter()
                .map(|o| FootprintSummary {
                    id: o.footprint.id,
                    status: o.footprint.status,
                    product_ids: o.footprint.product_ids,
                    product_name_company: o.footprint.product_name_company,
                    preceding_pf_ids: o.footprint.preceding_pf_ids,
                    published_at: o.published_at,
                })
                .collect(),
        ),
        Command::FootprintShow { id } => {
            let own = node.footprint(&id)?;
            let view = crate::signed::view_json(&own.footprint, crate::signed::VIEW_FULL)
                .map_err(|e| NodeError::Internal(e.to_string()))?;
            Answer::Footprint(document(&crate::signed::attach(view, &own.sig_full))?)
        }
        Command::Deprecate { id } => {
            node.deprecate(&id)?;
            Answer::Deprecated(Deprecated { deprecated: id })
        }
        Command::PartnerAdd {
            card,
            groups,
            replace,
        } => {
            let card = node.add_partner_with(&card, groups, replace)?;
            Answer::PartnerAdded(PartnerAdded {
                added: card.company_id,
                name: card.name,
            })
        }
        Command::PartnerList => Answer::Partners(node.partners()?),
        Command::PartnerRemove { company_id } => {
            node.remove_partner(&company_id)?;
            Answer::Removed(Removed {
                removed: company_id,
            })
        }
        Command::PolicyAdd { name, source } => Answer::PolicyAdded(PolicyAdded {
            added: node.add_policy(&name, &source)?,
        }),
        Command::PolicyList => Answer::Policies(
            node.policies()?
                .into_iter()
                .map(|p| PolicySummary {
                    uid: p.uid,
                    source: p.source_name,
                    added_at: p.added_at,
                })
                .collect(),
        ),
        Command::PolicyRemove { uid } => {
            node.remove_policy(&uid)?;
            Answer::Removed(Removed { removed: uid })
        }
        Command::PolicyExplain {
            partner,
            product_id,
            purpose,
        } => Answer::Explanation(node.explain(&partner, &product_id, purpose.as_deref())?),
        Command::Fetch { .. } | Command::PactPull { .. } | Command::PactRequest { .. } => {
            return Err(NodeError::Internal("this command is asynchronous".into()));
        }
        Command::InboxList => Answer::Inbox(
            node.inbox()?
                .into_iter()
                .map(|e| InboxSummary {
                    id: e.id,
                    from: e.from_company,
                    provenance: e.provenance,
                    view: e.view,
                    signature: e.signature_status,
                    findings: e.findings.len(),
                    received_at: e.received_at,
                    product_ids: e.product_ids,
                    status: e.status,
                    superseded_by: e.superseded_by,
                })
                .collect(),
        ),
        Command::InboxShow { id } => Answer::InboxEntry(
            node.store()
                .inbox_entry(&id)?
                .ok_or_else(|| NodeError::NotFound(format!("inbox footprint {id}")))?,
        ),
        Command::InboxExport => Answer::Documents(
            node.inbox()?
                .iter()
                .map(|e| document(&e.document))
                .collect::<Result<_, _>>()?,
        ),
        Command::KpiMeasures { config, name } => {
            let cfg = crate::kpi::load_config(&config, &name)
                .map_err(|e| NodeError::BadRequest(e.to_string()))?;
            Answer::KpiMeasures(
                crate::kpi::node_measures(node.monthly_counts(&|n| cfg.measure(n).is_some())?)
                    .rows(),
            )
        }
        Command::InboxSuppliers => {
            Answer::Suppliers(crate::scope3::inbox::suppliers(&node.inbox()?))
        }
        Command::RequestSend {
            to,
            product_ids,
            classifications,
            comment,
            purpose,
        } => Answer::Outgoing(node.send_request(
            &to,
            product_ids,
            classifications,
            comment,
            purpose,
        )?),
        Command::RequestList => Answer::Requests(RequestList {
            outgoing: node.store().outgoing_requests()?,
            incoming: node.store().incoming_requests()?,
        }),
        Command::RequestShow { id } => {
            let outgoing = node.store().outgoing_request(&id)?;
            let incoming = node.store().incoming_request(&id)?;
            if outgoing.is_none() && incoming.is_none() {
                return Err(NodeError::NotFound(format!("request {id}")));
            }
            Answer::Request(RequestShown { outgoing, incoming })
        }
        Command::RequestStatus { id } => Answer::RequestStatus(request_status(node, &id)?),
        Command::RequestFulfil { id, footprint_ids } => {
            Answer::Incoming(node.fulfil_request(&id, &footprint_ids)?)
        }
        Command::RequestReject { id, reason } => {
            Answer::Incoming(node.reject_request(&id, &reason)?)
        }
        Command::Subscribe { .. }
        | Command::DirectoryJoin { .. }
        | Command::DirectoryFind { .. } => {
            return Err(NodeError::Internal("this command is asynchronous".into()));
        }
        Command::DirectoryTrust { card } => {
            let card = node.directories().trust(node, &card)?;
            Answer::DirectoryTrusted(DirectoryTrusted {
                trusted: card.association_id,
                name: card.name,
                key_id: card.key_id,
            })
        }
        Command::DirectoryList => Answer::Directories(node.directories().trusted(node)?),
        Command::AuditVerify { archives } if archives.is_empty() => {
            Answer::AuditChain(node.audit_verify()?)
        }
        Command::AuditVerify { archives } => {
            Answer::AuditHistory(node.audit_verify_history(&archives)?)
        }
        Command::AuditArchive { before, out } => {
            let before = crate::archive::parse_before(&before).map_err(NodeError::BadRequest)?;
            Answer::Archived(node.audit_archive(before, &crate::archive::ArchiveOut::File(out))?)
        }
        Command::KeyRotate => Answer::KeyRotated(KeyRotated {
            rotation: node.rotate_key()?,
            directories: None,
        }),
        Command::KeyShow => {
            let (key, history) = node.keys().snapshot();
            Answer::Key(KeyShown {
                key_id: key.key_id().to_string(),
                encrypted: node.home().key_is_encrypted()?,
                previous_keys: history
                    .iter()
                    .map(|p| RetiredKey {
                        key_id: p.key_id.clone(),
                        retired_at: p.retired_at.clone(),
                    })
                    .collect(),
            })
        }
        Command::AuditExport => {
            let mut out = Vec::new();
            node.audit_export(&mut out)?;
            Answer::AuditExport(String::from_utf8_lossy(&out).into_owned())
        }
    })
}

/// Members found through the trusted directories (verified credentials, revoked ones left out).
async fn directory_find(
    node: &Node,
    company_id: Option<String>,
    product_id: Option<String>,
    classification: Option<String>,
) -> Result<Answer, NodeError> {
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
    Ok(Answer::Found(
        found
            .into_iter()
            .map(|m| FoundMember {
                association_id: m.association_id,
                credential: m.credential,
            })
            .collect(),
    ))
}

/// The status of a request on either side.
fn request_status(node: &Node, id: &str) -> Result<RequestStatus, NodeError> {
    if let Some(r) = node.store().outgoing_request(id)? {
        return Ok(RequestStatus {
            id: r.id,
            side: Side::Outgoing,
            to: Some(r.to),
            from: None,
            status: r.status,
            footprint_ids: r.footprint_ids,
            reason: r.reason,
        });
    }
    if let Some(r) = node.store().incoming_request(id)? {
        let (footprint_ids, reason) = match r.answer {
            Some(crate::store::Answer::Fulfilled { footprints }) => {
                (footprints.into_iter().map(|f| f.id).collect(), None)
            }
            Some(crate::store::Answer::Rejected { reason }) => (Vec::new(), Some(reason)),
            None => (Vec::new(), None),
        };
        return Ok(RequestStatus {
            id: r.id,
            side: Side::Incoming,
            to: None,
            from: Some(r.from),
            status: r.status,
            footprint_ids,
            reason,
        });
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
    let command = match read_line_capped(&mut reader, MAX_REQUEST).await? {
        Some(line) => parse_request::<Command>(&line),
        None => Err(request_too_large()),
    };
    if let Ok(Command::PublishStream) = command {
        // The document follows: what the reader already buffered, then the socket.
        let buffered = reader.buffer().to_vec();
        let stream = reader.into_inner().into_std()?;
        stream.set_nonblocking(false)?;
        return tokio::task::spawn_blocking(move || serve_publish(&node, buffered, stream))
            .await
            .map_err(io::Error::other)?;
    }
    let mut write = reader.into_inner();
    let answer = match command {
        Err(message) => Err(message),
        Ok(command) => execute(&node, command).await.map_err(|e| e.to_string()),
    };
    write
        .write_all(&reply_line(answer.as_ref().map_err(String::as_str)))
        .await?;
    write.shutdown().await
}

/// Runs a streamed publish on a blocking thread and writes its answer, as for every
/// command (written without an intermediate copy: a bulk publish answers a million ids).
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
    let answer = node
        .publish_reader(input)
        .map(Answer::Published)
        .map_err(|e| e.to_string());
    let mut out = std::io::BufWriter::new(&stream);
    write_reply(&mut out, answer.as_ref().map_err(String::as_str))?;
    out.flush()?;
    drop(out);
    stream.shutdown(std::net::Shutdown::Both)
}

/// Publishes the document `input` through the node serving `socket`, streaming it (the
/// whole file is never in memory on either side). `None` when no node listens there.
pub fn publish_stream(
    socket: &Path,
    mut input: impl std::io::Read + Send,
) -> Option<Result<PublishOutcome, AdminError>> {
    use std::io::{BufRead, Read, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let answer = std::thread::scope(|scope| {
        let sender = match stream.try_clone() {
            Ok(s) => s,
            Err(e) => return Err(AdminError::Socket(e)),
        };
        let sending = scope.spawn(move || -> io::Result<()> {
            (&sender).write_all(&request_line(&Command::PublishStream)?)?;
            std::io::copy(&mut input, &mut &sender)?;
            sender.shutdown(std::net::Shutdown::Write)
        });
        // The node may answer (a refusal) before it read everything; the answer counts.
        let mut line = String::new();
        let answer = std::io::BufReader::new(&stream)
            .take(MAX_ANSWER as u64)
            .read_line(&mut line)
            .map_err(|e| AdminError::Answer(e.to_string()))
            .and_then(|_| {
                if line.len() >= MAX_ANSWER && !line.ends_with('\n') {
                    return Err(answer_too_large());
                }
                parse_reply::<Answer>(&line)
            });
        let sent = sending.join();
        match (answer, sent) {
            (Ok(Answer::Published(outcome)), _) => Ok(outcome),
            (Ok(_), _) => Err(AdminError::Answer("not the answer to a publish".into())),
            (Err(e @ (AdminError::Refused(_) | AdminError::Version { .. })), _) => Err(e),
            (Err(_), Ok(Err(e))) => Err(AdminError::Sending(e)),
            (Err(e), _) => Err(e),
        }
    });
    Some(answer)
}

/// Sends a command to a running node. `None` when no node listens on the socket.
pub async fn call(path: &Path, command: &Command) -> Option<Result<Answer, AdminError>> {
    call_json(path, command).await
}

#[cfg(test)]
mod tests;
