//! The node's side of directories: a pinned-TLS client, and `Directories`, the node's cache
//! of member credentials and status lists (TTL from `[directory] ttl_secs`; a stale cache is
//! used, with a warning, while a directory is unreachable).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use proto::pb;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Channel;

use super::MemberState;
use super::answer::{self, Application, SealedAnswer, Verified};
use super::credential::{
    CredentialError, DirectoryCard, MembershipCredential, StatusList, rfc3339,
};
use crate::card::NodeCard;
use crate::clock::Clock;
use crate::error::NodeError;
use crate::node::Node;
use crate::pact::model::UnknownValue;
use crate::store::{CachedMember, TrustedDirectory};
pub use tanso_model::directory::{JoinFacts, Lookup};

/// How long connecting to a directory (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one directory call may take, its answer included. A Watch stream has no overall
/// deadline (it stays open); HTTP/2 keepalive pings drop it when the directory stops
/// answering them (see `service::client::connect_pinned`).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The deadlines of every directory connection.
pub const DEADLINES: crate::peer::Deadlines = crate::peer::Deadlines {
    connect: CONNECT_TIMEOUT,
    call: CALL_TIMEOUT,
    connect_source: "the directory connect deadline",
    call_source: "the directory call deadline",
};
/// Default cache TTL when the node's config has no `[directory]` section.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Most directory lookups per second on behalf of callers this node does not know yet
/// (`resolve_caller`). Anyone can put any company id in an envelope header, and the
/// signature can only be checked once the caller's key is known, so without a cap a flood
/// of made-up callers would turn each request into a call to the directories.
pub const CALLER_LOOKUPS_PER_SEC: u32 = 50;

/// Why a directory call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("directory {association} unreachable: {reason}")]
    Unreachable { association: String, reason: String },
    #[error("directory {association} refused: {reason}")]
    Refused { association: String, reason: String },
    #[error("directory {association} answer rejected: {source}")]
    Answer {
        association: String,
        #[source]
        source: CredentialError,
    },
    #[error("directory {association} answered {source}")]
    State {
        association: String,
        #[source]
        source: UnknownValue,
    },
}

impl From<ClientError> for NodeError {
    fn from(e: ClientError) -> NodeError {
        match e {
            ClientError::Unreachable { association, .. } => NodeError::Peer {
                peer: association,
                reason: "directory unreachable".into(),
            },
            other => NodeError::Peer {
                peer: "directory".into(),
                reason: other.to_string(),
            },
        }
    }
}

/// A client of one directory, pinned to its card (TLS fingerprint and association key).
#[derive(Clone)]
pub struct DirectoryClient {
    card: DirectoryCard,
    client: pb::directory_client::DirectoryClient<Channel>,
    /// Answers and credentials are checked for validity at this clock's time.
    clock: Clock,
}

/// What a join answered, the credential verified against the pinned card.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    pub association_id: String,
    pub state: MemberState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<MembershipCredential>,
}

impl DirectoryClient {
    /// A lazily connecting client (TCP + TLS pinned to the card's fingerprint).
    pub fn connect_lazy(card: &DirectoryCard) -> Result<DirectoryClient, NodeError> {
        let channel = crate::peer::connect_pinned(
            &card.association_id,
            &card.endpoint,
            &card.tls_fingerprint,
            None,
            false,
            DEADLINES,
        )?;
        Ok(DirectoryClient {
            card: card.clone(),
            client: pb::directory_client::DirectoryClient::new(channel),
            clock: Clock::default(),
        })
    }

    /// The same client, checking validity at `clock`'s time (a node's or a relay's).
    pub fn with_clock(mut self, clock: &Clock) -> DirectoryClient {
        self.clock = clock.clone();
        self
    }

    pub fn card(&self) -> &DirectoryCard {
        &self.card
    }

    fn status_err(&self, status: tonic::Status) -> ClientError {
        let association = self.card.association_id.clone();
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                ClientError::Unreachable {
                    association,
                    reason: crate::peer::with_causes(&status),
                }
            }
            _ => ClientError::Refused {
                association,
                reason: status.message().to_string(),
            },
        }
    }

    /// One call within [`CALL_TIMEOUT`], its answer included (tonic's own timeout ends at the
    /// response head).
    async fn within<R>(
        &self,
        call: impl std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    ) -> Result<R, ClientError> {
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => Err(ClientError::Unreachable {
                association: self.card.association_id.clone(),
                reason: DEADLINES.call_elapsed(),
            }),
            Ok(Err(status)) => Err(self.status_err(status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    fn open(&self, reply: pb::SignedAnswer, query: &str) -> Result<Verified, ClientError> {
        SealedAnswer {
            payload: reply.payload,
            signature: reply.signature,
            key_id: reply.key_id,
        }
        .open(&self.card, query, self.clock.now())
        .map_err(|source| ClientError::Answer {
            association: self.card.association_id.clone(),
            source,
        })
    }

    /// Sends a signed application; an issued credential is verified before it is returned.
    pub async fn join(
        &mut self,
        key: &crate::crypto::NodeKey,
        application: &Application,
    ) -> Result<Joined, ClientError> {
        let (bytes, signature) = application.sign(key).map_err(|e| ClientError::Refused {
            association: self.card.association_id.clone(),
            reason: e.to_string(),
        })?;
        let mut request = tonic::Request::new(pb::JoinRequest {
            application: bytes,
            signature,
        });
        request.set_timeout(CALL_TIMEOUT);
        let mut client = self.client.clone();
        let reply = self.within(client.join(request)).await?;
        let state = reply.state.parse().map_err(|source| ClientError::State {
            association: self.card.association_id.clone(),
            source,
        })?;
        let credential = if reply.credential.is_empty() {
            None
        } else {
            let c = MembershipCredential::parse(&reply.credential)
                .and_then(|c| c.verify(&self.card, self.clock.now()).map(|()| c))
                .map_err(|source| ClientError::Answer {
                    association: self.card.association_id.clone(),
                    source,
                })?;
            if !c
                .company_id
                .eq_ignore_ascii_case(&application.card.company_id)
                || c.public_key != application.card.public_key
            {
                return Err(ClientError::Refused {
                    association: self.card.association_id.clone(),
                    reason: "issued a credential for another company or key".into(),
                });
            }
            Some(c)
        };
        Ok(Joined {
            association_id: self.card.association_id.clone(),
            state,
            credential,
        })
    }

    async fn lookup(
        &mut self,
        request: pb::LookupRequest,
        query: String,
    ) -> Result<Verified, ClientError> {
        let mut request = tonic::Request::new(request);
        request.set_timeout(CALL_TIMEOUT);
        let mut client = self.client.clone();
        let reply = self.within(client.lookup(request)).await?;
        self.open(reply, &query)
    }

    /// The member with `company_id` (none when unknown, expired or revoked).
    pub async fn lookup_company(&mut self, company_id: &str) -> Result<Verified, ClientError> {
        self.lookup(
            pb::LookupRequest {
                company_id: company_id.to_string(),
                ..Default::default()
            },
            answer::query_company(company_id),
        )
        .await
    }

    /// Members supplying `product_id`.
    pub async fn lookup_product(&mut self, product_id: &str) -> Result<Verified, ClientError> {
        self.lookup(
            pb::LookupRequest {
                product_id: product_id.to_string(),
                ..Default::default()
            },
            answer::query_product(product_id),
        )
        .await
    }

    /// Members supplying `classification`.
    pub async fn lookup_classification(
        &mut self,
        classification: &str,
    ) -> Result<Verified, ClientError> {
        self.lookup(
            pb::LookupRequest {
                classification: classification.to_string(),
                ..Default::default()
            },
            answer::query_classification(classification),
        )
        .await
    }

    /// One page of the member list (`page_token` empty for the first).
    pub async fn list(
        &mut self,
        page_token: &str,
        page_size: u32,
    ) -> Result<Verified, ClientError> {
        let mut request = tonic::Request::new(pb::ListRequest {
            page_token: page_token.to_string(),
            page_size,
        });
        request.set_timeout(CALL_TIMEOUT);
        let mut client = self.client.clone();
        let reply = self.within(client.list(request)).await?;
        self.open(reply, &answer::query_list(page_token))
    }

    /// The current status list, verified.
    pub async fn status(&mut self) -> Result<StatusList, ClientError> {
        let mut request = tonic::Request::new(pb::StatusRequest {});
        request.set_timeout(CALL_TIMEOUT);
        let mut client = self.client.clone();
        let reply = self.within(client.status(request)).await?;
        Ok(self.open(reply, answer::QUERY_STATUS)?.status_list)
    }

    /// Calls `on_list` with the status list now and on every change, until the stream ends
    /// (or the connection is dropped for unanswered keepalive pings).
    pub async fn watch(&mut self, mut on_list: impl FnMut(StatusList)) -> Result<(), ClientError> {
        // The stream's head within the call deadline; after it, keepalive pings watch the
        // connection while the stream waits for the next list.
        let mut client = self.client.clone();
        let mut stream = self.within(client.watch(pb::StatusRequest {})).await?;
        loop {
            match stream.message().await {
                Ok(Some(reply)) => on_list(self.open(reply, answer::QUERY_STATUS)?.status_list),
                Ok(None) => return Ok(()),
                Err(s) => return Err(self.status_err(s)),
            }
        }
    }
}

/// A company's membership in one trusted directory, as this node learnt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub association_id: String,
    pub credential: MembershipCredential,
    /// When it was fetched (unix ms); older than the TTL means stale.
    pub fetched_at_ms: i64,
}

/// The node's view of its trusted directories: pinned cards, status lists and member
/// credentials, in memory (read on every peer request) and in the store (kept across restarts).
pub struct Directories {
    ttl: Duration,
    loaded: Mutex<bool>,
    trusted: RwLock<Vec<TrustedDirectory>>,
    /// Lowercase company id → memberships (credentials verified when they were learnt).
    members: RwLock<HashMap<String, Vec<Membership>>>,
    /// Lowercase company id → when a lookup last found nothing (unix ms), so unknown callers
    /// cannot make the node ask its directories on every request.
    misses: RwLock<HashMap<String, i64>>,
    clients: Mutex<HashMap<String, DirectoryClient>>,
    /// Poked after `trust` so the sync task picks the new directory up at once.
    poke: Notify,
    /// (unix second, lookups made in it) for [`CALLER_LOOKUPS_PER_SEC`].
    caller_lookups: Mutex<(i64, u32)>,
}

/// What [`Directories::resolve`] did, for the `tanso_directory_lookups_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOutcome {
    /// Answered from memory: memberships fresh within the TTL, or a remembered miss.
    Cached,
    /// At least one directory was asked.
    Fetched,
    /// A lookup was due but the per-second cap for unknown callers was spent: the stale
    /// memberships (if any) are used and nothing is remembered.
    Throttled,
    /// No directory is trusted.
    NoDirectory,
}

impl LookupOutcome {
    pub fn label(self) -> &'static str {
        match self {
            LookupOutcome::Cached => "cached",
            LookupOutcome::Fetched => "fetched",
            LookupOutcome::Throttled => "throttled",
            LookupOutcome::NoDirectory => "no_directory",
        }
    }
}

impl Directories {
    pub fn new(ttl: Duration) -> Directories {
        Directories {
            ttl,
            loaded: Mutex::new(false),
            trusted: RwLock::new(Vec::new()),
            members: RwLock::new(HashMap::new()),
            misses: RwLock::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            poke: Notify::new(),
            caller_lookups: Mutex::new((0, 0)),
        }
    }

    /// Takes one lookup from this second's allowance for unknown callers.
    fn take_caller_lookup(&self, now_ms: i64) -> bool {
        let second = now_ms.div_euclid(1000);
        let mut window = self
            .caller_lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if window.0 != second {
            *window = (second, 0);
        }
        if window.1 >= CALLER_LOOKUPS_PER_SEC {
            return false;
        }
        window.1 += 1;
        true
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Loads trusted directories and cached credentials from the store (once).
    fn ensure_loaded(&self, node: &Node) -> Result<(), NodeError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded {
            return Ok(());
        }
        let trusted = node.store().trusted_directories()?;
        let mut members: HashMap<String, Vec<Membership>> = HashMap::new();
        for dir in &trusted {
            for cached in node.store().cached_members(&dir.card.association_id)? {
                // Stored credentials are re-verified: the store is not trusted blindly.
                if cached
                    .credential
                    .verify(&dir.card, node.clock().now())
                    .is_ok()
                {
                    members
                        .entry(cached.credential.company_id.to_ascii_lowercase())
                        .or_default()
                        .push(Membership {
                            association_id: dir.card.association_id.clone(),
                            credential: cached.credential,
                            fetched_at_ms: cached.fetched_at_ms,
                        });
                }
            }
        }
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = trusted;
        *self.members.write().unwrap_or_else(|p| p.into_inner()) = members;
        *loaded = true;
        Ok(())
    }

    /// The trusted directories (cards, own credentials, status lists).
    pub fn trusted(&self, node: &Node) -> Result<Vec<TrustedDirectory>, NodeError> {
        self.ensure_loaded(node)?;
        Ok(self
            .trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn reload_trusted(&self, node: &Node) -> Result<(), NodeError> {
        self.ensure_loaded(node)?;
        let trusted = node.store().trusted_directories()?;
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = trusted;
        Ok(())
    }

    /// Pins a directory card (`tanso directory trust`).
    pub fn trust(&self, node: &Node, card_text: &str) -> Result<DirectoryCard, NodeError> {
        let card = DirectoryCard::parse(card_text)
            .map_err(|e| NodeError::BadRequest(format!("directory card: {e}")))?;
        node.store()
            .trust_directory(&card, &rfc3339(node.clock().now()))?;
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&card.association_id.to_ascii_lowercase());
        self.reload_trusted(node)?;
        self.poke.notify_one();
        Ok(card)
    }

    fn client(&self, node: &Node, card: &DirectoryCard) -> Result<DirectoryClient, NodeError> {
        let key = card.association_id.to_ascii_lowercase();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key)
            && c.card == *card
        {
            return Ok(c.clone());
        }
        let client = DirectoryClient::connect_lazy(card)?.with_clock(node.clock());
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// A client of the trusted directory of `association_id`.
    pub fn client_for(
        &self,
        node: &Node,
        association_id: &str,
    ) -> Result<DirectoryClient, NodeError> {
        let card = self
            .trusted(node)?
            .into_iter()
            .find(|d| d.card.association_id.eq_ignore_ascii_case(association_id))
            .map(|d| d.card)
            .ok_or_else(|| NodeError::NotFound(format!("trusted directory {association_id}")))?;
        self.client(node, &card)
    }

    /// Applies to every trusted directory (or re-applies with the current card and `facts`,
    /// replacing an older credential). Each approved credential is verified and kept.
    pub async fn join(
        &self,
        node: &Node,
        facts: Option<JoinFacts>,
    ) -> Result<Vec<Joined>, NodeError> {
        let trusted = self.trusted(node)?;
        if trusted.is_empty() {
            return Err(NodeError::BadRequest(
                "this node trusts no directory; run `tanso directory trust` first".into(),
            ));
        }
        if let Some(facts) = &facts {
            validate_facts(facts)?;
        }
        let card = node.card()?;
        let mut out = Vec::new();
        for dir in trusted {
            let facts = facts
                .clone()
                .or_else(|| dir.application.clone())
                .unwrap_or_default();
            let application = Application {
                association_id: dir.card.association_id.clone(),
                card: card.clone(),
                supplies_products: facts.supplies_products.clone(),
                supplies_classifications: facts.supplies_classifications.clone(),
                buys_classifications: facts.buys_classifications.clone(),
                issued_at: node.clock().rfc3339(),
            };
            let mut client = self.client(node, &dir.card)?;
            let joined = client.join(&node.key(), &application).await?;
            let credential = joined.credential.clone();
            let store = node.store().clone();
            let assoc = dir.card.association_id.clone();
            tokio::task::spawn_blocking(move || {
                store.update_trusted_directory(&assoc, |d| {
                    d.application = Some(facts);
                    // Approved: the new credential replaces the old; pending or revoked: none.
                    d.credential = credential;
                })
            })
            .await
            .map_err(|_| NodeError::Internal("store task failed".into()))??;
            out.push(joined);
        }
        self.reload_trusted(node)?;
        Ok(out)
    }

    /// Every membership of `company_id` this node knows that verifies now and is not revoked
    /// (stale entries included: the caller decides whether to refresh).
    pub fn memberships(&self, node: &Node, company_id: &str) -> Vec<Membership> {
        if self.ensure_loaded(node).is_err() {
            return Vec::new();
        }
        let trusted = self.trusted.read().unwrap_or_else(|p| p.into_inner());
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let now = node.clock().now();
        members
            .get(&company_id.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter(|m| {
                trusted.iter().any(|d| {
                    d.card.association_id == m.association_id
                        && d.card.key_id == m.credential.directory_key_id
                        && not_expired(&m.credential, now)
                        && !d
                            .status_list
                            .as_ref()
                            .is_some_and(|l| l.is_revoked(&m.credential.company_id))
                })
            })
            .cloned()
            .collect()
    }

    /// The association that revoked `company_id`, if any trusted directory did.
    pub fn revoked_in(&self, node: &Node, company_id: &str) -> Option<String> {
        self.ensure_loaded(node).ok()?;
        let trusted = self.trusted.read().unwrap_or_else(|p| p.into_inner());
        trusted
            .iter()
            .find(|d| {
                d.status_list
                    .as_ref()
                    .is_some_and(|l| l.is_revoked(company_id))
            })
            .map(|d| d.card.association_id.clone())
    }

    /// A card for a member (built from its credential) to connect to and verify against.
    pub fn member_card(&self, node: &Node, company_id: &str) -> Option<NodeCard> {
        self.memberships(node, company_id)
            .into_iter()
            .next()
            .map(|m| card_of(&m.credential))
    }

    /// Marks what is known of `company_id` as stale, so the next [`Directories::resolve`] asks
    /// the directories again (used when the member signed with a key its credential lacks:
    /// it rotated, and re-joined with the chained card).
    pub fn invalidate(&self, company_id: &str) {
        let company = company_id.to_ascii_lowercase();
        if let Some(list) = self
            .members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&company)
        {
            for m in list {
                m.fetched_at_ms = i64::MIN / 2;
            }
        }
        self.misses
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&company);
    }

    /// Makes sure the memberships of `company_id` are fresh (within the TTL): asks every
    /// trusted directory whose answer is stale. An unreachable directory leaves the stale
    /// entry in use, with a warning.
    pub async fn resolve(
        &self,
        node: &Node,
        company_id: &str,
    ) -> Result<Vec<Membership>, NodeError> {
        Ok(self.resolve_with(node, company_id, false).await?.0)
    }

    /// [`Directories::resolve`] for the caller named in an envelope that is not a partner:
    /// the lookups it may cause are capped at [`CALLER_LOOKUPS_PER_SEC`] across all such
    /// callers, and counted in the node's metrics by outcome.
    pub async fn resolve_caller(
        &self,
        node: &Node,
        company_id: &str,
    ) -> Result<Vec<Membership>, NodeError> {
        let (found, outcome) = self.resolve_with(node, company_id, true).await?;
        node.metrics().directory_lookup(outcome.label());
        Ok(found)
    }

    async fn resolve_with(
        &self,
        node: &Node,
        company_id: &str,
        capped: bool,
    ) -> Result<(Vec<Membership>, LookupOutcome), NodeError> {
        let trusted = self.trusted(node)?;
        let now_ms = node.clock().now_ms();
        let ttl_ms = self.ttl.as_millis() as i64;
        if trusted.is_empty() {
            return Ok((Vec::new(), LookupOutcome::NoDirectory));
        }
        let company = company_id.to_ascii_lowercase();
        let known = {
            let members = self.members.read().unwrap_or_else(|p| p.into_inner());
            members.get(&company).cloned().unwrap_or_default()
        };
        if known.is_empty() {
            let misses = self.misses.read().unwrap_or_else(|p| p.into_inner());
            if misses.get(&company).is_some_and(|at| now_ms - at < ttl_ms) {
                return Ok((Vec::new(), LookupOutcome::Cached));
            }
        }
        let is_fresh = |assoc: &str| {
            known
                .iter()
                .any(|m| m.association_id == assoc && now_ms - m.fetched_at_ms < ttl_ms)
        };
        if trusted.iter().all(|d| is_fresh(&d.card.association_id)) {
            return Ok((self.memberships(node, company_id), LookupOutcome::Cached));
        }
        if capped && !self.take_caller_lookup(now_ms) {
            tracing::debug!(company = %company_id, "directory lookup for an unknown caller throttled");
            return Ok((self.memberships(node, company_id), LookupOutcome::Throttled));
        }
        for dir in &trusted {
            let assoc = &dir.card.association_id;
            if is_fresh(assoc) {
                continue;
            }
            let mut client = self.client(node, &dir.card)?;
            match client.lookup_company(company_id).await {
                Ok(verified) => {
                    self.apply_status(node, assoc, verified.status_list.clone())
                        .await?;
                    self.remember(node, assoc, company_id, verified.members, now_ms)
                        .await?;
                }
                Err(ClientError::Unreachable { reason, .. }) => {
                    tracing::warn!(
                        directory = %assoc, company = %company_id, %reason,
                        "directory unreachable; using the cached (stale) membership"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        let found = self.memberships(node, company_id);
        let mut misses = self.misses.write().unwrap_or_else(|p| p.into_inner());
        if found.is_empty() {
            if misses.len() >= 100_000 {
                misses.clear();
            }
            misses.insert(company, now_ms);
        } else {
            misses.remove(&company);
        }
        Ok((found, LookupOutcome::Fetched))
    }

    /// Members supplying `product_id`, across trusted directories (verified, not revoked).
    pub async fn find_product(
        &self,
        node: &Node,
        product_id: &str,
    ) -> Result<Vec<Membership>, NodeError> {
        self.find(node, Lookup::Product(product_id)).await
    }

    /// Members supplying `classification`, across trusted directories.
    pub async fn find_classification(
        &self,
        node: &Node,
        classification: &str,
    ) -> Result<Vec<Membership>, NodeError> {
        self.find(node, Lookup::Classification(classification))
            .await
    }

    async fn find(&self, node: &Node, what: Lookup<'_>) -> Result<Vec<Membership>, NodeError> {
        let mut out = Vec::new();
        let now_ms = node.clock().now_ms();
        for dir in self.trusted(node)? {
            let assoc = dir.card.association_id.clone();
            let mut client = self.client(node, &dir.card)?;
            let verified = match what {
                Lookup::Product(p) => client.lookup_product(p).await?,
                Lookup::Classification(c) => client.lookup_classification(c).await?,
                Lookup::Company(c) => client.lookup_company(c).await?,
            };
            self.apply_status(node, &assoc, verified.status_list.clone())
                .await?;
            for credential in &verified.members {
                self.remember(
                    node,
                    &assoc,
                    &credential.company_id,
                    vec![credential.clone()],
                    now_ms,
                )
                .await?;
            }
            out.extend(verified.members.into_iter().map(|credential| Membership {
                association_id: assoc.clone(),
                credential,
                fetched_at_ms: now_ms,
            }));
        }
        Ok(out)
    }

    async fn remember(
        &self,
        node: &Node,
        association_id: &str,
        company_id: &str,
        credentials: Vec<MembershipCredential>,
        now_ms: i64,
    ) -> Result<(), NodeError> {
        let company = company_id.to_ascii_lowercase();
        let fresh: Vec<Membership> = credentials
            .into_iter()
            .filter(|c| c.company_id.eq_ignore_ascii_case(&company))
            .map(|credential| Membership {
                association_id: association_id.to_string(),
                credential,
                fetched_at_ms: now_ms,
            })
            .collect();
        {
            let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
            let entry = members.entry(company).or_default();
            entry.retain(|m| m.association_id != association_id);
            entry.extend(fresh.iter().cloned());
        }
        let cached: Vec<CachedMember> = fresh
            .into_iter()
            .map(|m| CachedMember {
                credential: m.credential,
                fetched_at_ms: m.fetched_at_ms,
            })
            .collect();
        let store = node.store().clone();
        let assoc = association_id.to_string();
        tokio::task::spawn_blocking(move || store.put_cached_members(&assoc, &cached))
            .await
            .map_err(|_| NodeError::Internal("store task failed".into()))??;
        Ok(())
    }

    /// Keeps a verified status list when it is newer than the one known.
    pub async fn apply_status(
        &self,
        node: &Node,
        association_id: &str,
        list: StatusList,
    ) -> Result<(), NodeError> {
        let newer = {
            let trusted = self.trusted.read().unwrap_or_else(|p| p.into_inner());
            trusted.iter().any(|d| {
                d.card.association_id == association_id
                    && d.status_list
                        .as_ref()
                        .is_none_or(|l| list.serial > l.serial)
            })
        };
        if !newer {
            return Ok(());
        }
        {
            let mut trusted = self.trusted.write().unwrap_or_else(|p| p.into_inner());
            for d in trusted.iter_mut() {
                if d.card.association_id == association_id
                    && d.status_list
                        .as_ref()
                        .is_none_or(|l| list.serial > l.serial)
                {
                    if !list.revoked.is_empty() {
                        tracing::info!(
                            directory = %association_id, serial = list.serial,
                            revoked = list.revoked.len(), "status list updated"
                        );
                    }
                    d.status_list = Some(list.clone());
                }
            }
        }
        let store = node.store().clone();
        let assoc = association_id.to_string();
        tokio::task::spawn_blocking(move || {
            store.update_trusted_directory(&assoc, |d| {
                if d.status_list
                    .as_ref()
                    .is_none_or(|l| list.serial > l.serial)
                {
                    d.status_list = Some(list);
                }
            })
        })
        .await
        .map_err(|_| NodeError::Internal("store task failed".into()))??;
        Ok(())
    }

    /// Pulls every trusted directory's status list once (errors are logged).
    pub async fn refresh_status(&self, node: &Node) {
        let Ok(trusted) = self.trusted(node) else {
            return;
        };
        for dir in trusted {
            let assoc = dir.card.association_id.clone();
            let result = match self.client(node, &dir.card) {
                Ok(mut c) => c.status().await.map_err(NodeError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(list) => {
                    if let Err(e) = self.apply_status(node, &assoc, list).await {
                        tracing::warn!(directory = %assoc, error = %e, "status list not kept");
                    }
                }
                Err(e) => tracing::warn!(
                    directory = %assoc, error = %e,
                    "directory unreachable; keeping the cached status list"
                ),
            }
        }
    }
}

fn not_expired(credential: &MembershipCredential, now: chrono::DateTime<Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(&credential.expires_at)
        .is_ok_and(|t| t.with_timezone(&Utc) > now)
}

fn validate_facts(facts: &JoinFacts) -> Result<(), NodeError> {
    for p in &facts.supplies_products {
        if !crate::ids::is_urn(p) {
            return Err(NodeError::BadRequest(format!(
                "--supplies-product {p:?} is not a urn"
            )));
        }
    }
    for c in facts
        .supplies_classifications
        .iter()
        .chain(&facts.buys_classifications)
    {
        if !super::credential::is_classification(c) {
            return Err(NodeError::BadRequest(format!(
                "classification {c:?} is not a code (letters, digits, '.', '-', ':', '_')"
            )));
        }
    }
    Ok(())
}

/// A card built from a verified credential (unsigned: the credential's signature by the
/// association is what vouches for it).
pub fn card_of(credential: &MembershipCredential) -> NodeCard {
    NodeCard {
        company_id: credential.company_id.clone(),
        name: credential.name.clone(),
        public_key: credential.public_key.clone(),
        key_id: credential.key_id.clone(),
        endpoint: credential.endpoint.clone(),
        tls_fingerprint: credential.tls_fingerprint.clone(),
        relay: credential.relay.clone(),
        previous_keys: credential.previous_keys.clone(),
        signature: String::new(),
    }
}

/// Keeps the node's directory state current while it serves: pulls status lists every TTL,
/// holds a Watch stream per directory (revocations arrive at once), and re-applies when the
/// node's card changed since its credential was issued (e.g. a new endpoint).
pub fn spawn_sync(tasks: &TaskTracker, node: Node, cancel: CancellationToken) {
    let inner_tasks = tasks.clone();
    tasks.spawn(async move {
        let directories = node.directories();
        let watching: Arc<Mutex<HashMap<String, CancellationToken>>> = Arc::default();
        let mut rejoined = false;
        loop {
            let trusted = directories.trusted(&node).unwrap_or_default();
            for dir in &trusted {
                let key = dir.card.association_id.to_ascii_lowercase();
                let mut w = watching.lock().unwrap_or_else(|p| p.into_inner());
                let stale = w.get(&key).is_some_and(|t| t.is_cancelled());
                if w.contains_key(&key) && !stale {
                    continue;
                }
                let token = cancel.child_token();
                w.insert(key, token.clone());
                inner_tasks.spawn(watch_one(node.clone(), dir.card.clone(), token));
            }
            directories.refresh_status(&node).await;
            if !rejoined {
                rejoined = true;
                rejoin_if_changed(&node, &trusted).await;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(directories.ttl()) => {}
                () = directories.poke.notified() => {}
            }
        }
    });
}

async fn rejoin_if_changed(node: &Node, trusted: &[TrustedDirectory]) {
    let Ok(card) = node.card() else { return };
    let changed = trusted.iter().any(|d| {
        d.application.is_some()
            && d.credential.as_ref().is_none_or(|c| {
                c.endpoint != card.endpoint
                    || c.tls_fingerprint != card.tls_fingerprint
                    || c.relay != card.relay
            })
    });
    if changed {
        match node.directories().join(node, None).await {
            Ok(joined) => {
                for j in joined {
                    tracing::info!(directory = %j.association_id, state = %j.state, "re-applied with the current card");
                }
            }
            Err(e) => tracing::warn!(error = %e, "re-applying to directories failed"),
        }
    }
}

/// Waits between status watches of a directory that is down: 500 ms doubling to 30 s.
pub const STATUS_WATCH: crate::backoff::Backoff =
    crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

async fn watch_one(node: Node, card: DirectoryCard, cancel: CancellationToken) {
    let mut retries = STATUS_WATCH.start();
    loop {
        let directories = node.directories();
        let result = match directories.client(&node, &card) {
            Ok(mut client) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let watch = client.watch(move |list| {
                    let _ = tx.send(list);
                });
                let apply = async {
                    while let Some(list) = rx.recv().await {
                        retries.reset();
                        if let Err(e) = directories
                            .apply_status(&node, &card.association_id, list)
                            .await
                        {
                            tracing::warn!(error = %e, "status list not kept");
                        }
                    }
                };
                tokio::select! {
                    () = cancel.cancelled() => return,
                    (r, ()) = async { tokio::join!(watch, apply) } => r,
                }
            }
            Err(e) => Err(ClientError::Unreachable {
                association: card.association_id.clone(),
                reason: e.to_string(),
            }),
        };
        if let Err(e) = result {
            tracing::debug!(directory = %card.association_id, error = %e, "status watch ended");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(retries.wait()) => {}
        }
    }
}
