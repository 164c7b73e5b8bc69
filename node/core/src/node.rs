//! The node: its identity, store, policies and journal, and the operations operators run.
//!
//! Every operation is a method here, so the CLI (opening the home directly) and the admin
//! socket (while `tanso serve` runs) execute the very same code.

use std::sync::{Arc, RwLock};

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use crate::card::NodeCard;
use crate::config::Config;
use crate::crypto::NodeKey;
use crate::error::NodeError;
use crate::home::Home;
use crate::journal::{DailyCounter, Journal};
use crate::keys::KeyRing;
use crate::nonces::NonceCache;
use crate::pact::{self, ProductFootprint, Status};
use crate::policy::{AccessRequest, Action, Partner, Policy, PolicySet};
use crate::signed::{self, VIEW_FULL, VIEW_SUMMARY};
use crate::store::{OwnFootprint, PartnerRecord, PolicyRecord, Store};
use crate::tls::Identity;

/// What a node takes from the process hosting it: its outbound doors, and the reader of the
/// process allocator's statistics when the binary knows its allocator. The runtime builds it;
/// two nodes in one process share nothing else (there is no process-global state).
#[derive(Clone)]
pub struct Host {
    pub transport: Arc<dyn crate::transport::Transport>,
    pub allocator_stats: Option<crate::metrics::AllocatorStatsFn>,
    /// The limits a host sets on this node (none for a standalone node).
    pub quotas: crate::quota::Quotas,
    /// The peer port a host shares among its tenants: when set, the node serves with the
    /// host's TLS identity and advertises the host's endpoint (its home has no TLS files).
    pub shared: Option<SharedDoor>,
}

/// The shared peer port of a host, as each tenant advertises it.
#[derive(Clone)]
pub struct SharedDoor {
    /// The host's TLS identity (the certificate partners pin through the tenant's card).
    pub identity: Identity,
    /// The peer port's TLS config, built once for all tenants.
    pub peer_tls: Arc<rustls::ServerConfig>,
    /// The endpoint tenants advertise (the host's `advertise`).
    pub endpoint: String,
}

impl std::fmt::Debug for SharedDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDoor")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// No doors and no allocator figures: for tools that open a node only to read or check
    /// it, and for tests of core (see [`crate::transport::Offline`]).
    pub fn offline() -> Host {
        Host {
            transport: Arc::new(crate::transport::Offline),
            allocator_stats: None,
            quotas: crate::quota::Quotas::NONE,
            shared: None,
        }
    }
}

/// A running or opened node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    config: Config,
    /// The signing key and its history; swapped atomically by a rotation.
    keys: Arc<KeyRing>,
    /// Held while a key rotation runs, so two rotations never interleave.
    rotating: std::sync::Mutex<()>,
    /// Held while an audit archive runs, so two archives never interleave.
    archiving: std::sync::Mutex<()>,
    /// The clock of every expiry and time-based decision; tests advance it.
    clock: crate::clock::Clock,
    identity: Identity,
    client_identity: Option<Identity>,
    /// `[pact] tls_cert`/`tls_key`, when the PACT API presents its own certificate.
    pact_identity: Option<Identity>,
    /// The peer port's TLS config (node certificate; `[tls] client_ca` for mTLS), built and
    /// checked when the node opens.
    peer_tls: Arc<rustls::ServerConfig>,
    store: Store,
    policies: RwLock<PolicySet>,
    journal: Journal,
    nonces: NonceCache,
    daily: DailyCounter,
    /// The endpoint advertised in the card (set once the listener is bound).
    endpoint: RwLock<String>,
    peers: crate::peer::PeerPool,
    /// The doors deliveries and announcements go out through (see `crate::transport`).
    transport: Arc<dyn crate::transport::Transport>,
    /// Outbox wake-ups and the items this process enqueued (see `crate::exchange`).
    exchange: crate::exchange::ExchangeState,
    /// Prometheus metrics (served on `[metrics] listen`).
    metrics: Arc<crate::metrics::Metrics>,
    /// Trusted directories, their status lists and the member credentials learnt from them.
    directories: crate::directory::Directories,
    /// Parsed public keys of partners and members, for request verification.
    verifying_keys: crate::card::KeyCache,
    /// Refused envelopes per source and reason, so a flood is audited as summaries.
    refusals: crate::refusals::Refusals,
    /// The limits a host set on this node, and the request bucket when it limits requests.
    quotas: crate::quota::Quotas,
    limiter: Option<crate::quota::RateLimiter>,
    /// Whether this node serves through a host's shared port.
    hosted: bool,
}

/// A handle on a node that does not keep it open (see [`Node::downgrade`]).
#[derive(Clone)]
pub struct WeakNode(std::sync::Weak<Inner>);

impl WeakNode {
    /// The node, if some handle still holds it open.
    pub fn upgrade(&self) -> Option<Node> {
        self.0.upgrade().map(|inner| Node { inner })
    }
}

pub use crate::publish::{IdList, PublishOutcome};

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Node {
    /// Opens the node in `home`: config, key (mode 0600 enforced), TLS identity, store,
    /// policies and the journal thread, with what `host` provides (the runtime's `node::open`
    /// passes the real doors). Fails if another process holds the store.
    pub fn open(home: &Home, host: Host) -> Result<Node, NodeError> {
        let Host {
            transport,
            allocator_stats,
            quotas,
            shared,
        } = host;
        let config = home.load_config()?;
        let (key, history) = home.load_keys(&config.company_id)?;
        let keys = Arc::new(KeyRing::new(key, history));
        let identity = match &shared {
            Some(door) => door.identity.clone(),
            None => home.load_identity()?,
        };
        // Files the config names are part of the config: a missing or unreadable one is a
        // config problem (exit 64), found here, before anything is bound.
        let config_path = home.config_path().display().to_string();
        let bad_file = |key: &'static str, reason: String| {
            NodeError::Home(crate::home::HomeError::Config(
                crate::config::ConfigError::Invalid {
                    path: config_path.clone(),
                    key,
                    reason,
                },
            ))
        };
        let read_named = |key: &'static str, p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| bad_file(key, format!("{}: {e}", p.display())))
        };
        let load_pair = |pair: &Option<(std::path::PathBuf, std::path::PathBuf)>,
                         cert_key: &'static str| {
            let Some((cert, key_path)) = pair else {
                return Ok(None);
            };
            Identity::from_pem(
                &read_named(cert_key, cert)?,
                &read_named(cert_key, key_path)?,
            )
            .map(Some)
            .map_err(|e| bad_file(cert_key, e.to_string()))
        };
        let client_identity = load_pair(&config.client_cert, "tls.client_cert")?;
        let pact_identity = load_pair(&config.pact_tls, "pact.tls_cert")?;
        let client_ca = match &config.client_ca {
            None => None,
            Some(path) => Some(read_named("tls.client_ca", path)?),
        };
        let peer_tls = match &shared {
            Some(door) => door.peer_tls.clone(),
            None => crate::tls::server_config(&identity, client_ca.as_deref())
                .map_err(|e| bad_file("tls.client_ca", e.to_string()))?,
        };
        let store =
            Store::open_with_cache(&home.store_dir(), config.engine, config.store_cache_mib)?;
        let config_ttl = config.directory_ttl;
        let mut set = PolicySet::new();
        for record in store.policies()? {
            set.add(Policy::parse(&record.source_name, &record.source)?);
        }
        let journal = Journal::start(store.clone(), keys.clone())?;
        let clock = crate::clock::Clock::default();
        let nonces = NonceCache::load(&store, config.clock_skew, clock.now_ms())?;
        let endpoint = match &shared {
            Some(door) => door.endpoint.clone(),
            None => config
                .advertise
                .clone()
                .or_else(|| config.listen.map(|a| a.to_string()))
                .unwrap_or_default(),
        };
        let limiter = quotas
            .requests_per_second
            .map(|rate| crate::quota::RateLimiter::new(rate, clock.now_ms()));
        Ok(Node {
            inner: Arc::new(Inner {
                home: home.clone(),
                config,
                keys,
                rotating: std::sync::Mutex::new(()),
                archiving: std::sync::Mutex::new(()),
                clock,
                identity,
                client_identity,
                pact_identity,
                peer_tls,
                store,
                policies: RwLock::new(set),
                journal,
                nonces,
                daily: DailyCounter::new(),
                endpoint: RwLock::new(endpoint),
                peers: crate::peer::PeerPool::default(),
                transport,
                exchange: crate::exchange::ExchangeState::default(),
                metrics: Arc::new(crate::metrics::Metrics::new(allocator_stats)),
                directories: crate::directory::Directories::new(config_ttl),
                verifying_keys: crate::card::KeyCache::default(),
                refusals: crate::refusals::Refusals::default(),
                quotas,
                limiter,
                hosted: shared.is_some(),
            }),
        })
    }

    /// A handle that does not keep the node open: a host keeps one for a tenant it closed
    /// while a request still held it, so reopening finds the same node rather than a locked
    /// store.
    pub fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    /// Whether this node serves through a host's shared port.
    pub fn is_hosted(&self) -> bool {
        self.inner.hosted
    }

    /// The limits a host set on this node.
    pub fn quotas(&self) -> &crate::quota::Quotas {
        &self.inner.quotas
    }

    /// Admits one peer or PACT request under the node's request quota.
    pub fn admit_request(&self) -> Result<(), crate::quota::QuotaError> {
        match &self.inner.limiter {
            None => Ok(()),
            Some(limiter) => limiter.admit(self.clock().now_ms()),
        }
    }

    /// Refuses a write that grows the store when the store is at its quota.
    pub fn check_store_quota(&self) -> Result<(), crate::quota::QuotaError> {
        if self.inner.quotas.store_bytes.is_none() {
            return Ok(());
        }
        crate::quota::check_store(&self.inner.quotas, self.inner.store.disk_bytes())
    }

    /// Refuses `adding` deliveries that would take the outbox past its quota.
    pub fn check_outbox_quota(&self, adding: u64) -> Result<(), NodeError> {
        if self.inner.quotas.outbox_depth.is_none() {
            return Ok(());
        }
        let queued = self.inner.store.count(crate::store::Table::Outbox)?;
        Ok(crate::quota::check_outbox(
            &self.inner.quotas,
            queued,
            adding,
        )?)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn home(&self) -> &Home {
        &self.inner.home
    }
    /// The key that signs from now on (a rotation may replace it at any moment; a caller
    /// keeps using the `Arc` it got for the one thing it signs).
    pub fn key(&self) -> Arc<NodeKey> {
        self.inner.keys.current()
    }
    /// The current key and the retired keys.
    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }
    /// Held while a key rotation runs.
    pub fn rotation_lock(&self) -> &std::sync::Mutex<()> {
        &self.inner.rotating
    }
    /// Held while an audit archive runs.
    pub fn archive_lock(&self) -> &std::sync::Mutex<()> {
        &self.inner.archiving
    }
    /// The clock of every expiry and time-based decision (see [`crate::clock`]).
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.inner.clock
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }
    /// The TLS config the peer port serves with.
    pub fn peer_tls_config(&self) -> Arc<rustls::ServerConfig> {
        self.inner.peer_tls.clone()
    }
    pub fn client_identity(&self) -> Option<&Identity> {
        self.inner.client_identity.as_ref()
    }
    /// The identity the PACT API presents: `[pact] tls_cert` when set, else the node's.
    pub fn pact_identity(&self) -> &Identity {
        self.inner
            .pact_identity
            .as_ref()
            .unwrap_or(&self.inner.identity)
    }
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.metrics
    }
    /// Refused envelopes, summarised per source and reason (see `crate::refusals`).
    pub fn refusals(&self) -> &crate::refusals::Refusals {
        &self.inner.refusals
    }
    /// The directories this node trusts (see `crate::directory::client`).
    pub fn directories(&self) -> &crate::directory::Directories {
        &self.inner.directories
    }

    /// The parsed public key of a card (a partner's or a member's), cached per company and
    /// key id.
    pub fn verifying_key(
        &self,
        card: &NodeCard,
    ) -> Result<ed25519_dalek::VerifyingKey, crate::card::CardError> {
        self.inner.verifying_keys.verifying_key(card)
    }

    /// Forgets what is cached of a partner's keys (its card changed or it was removed).
    pub fn forget_partner_keys(&self, company_id: &str) {
        self.inner.verifying_keys.forget(company_id);
    }

    /// The card of a company to connect to and verify against: a partner's card, or one
    /// built from a valid, unrevoked membership credential of a trusted directory.
    pub fn peer_card(&self, company_id: &str) -> Result<Option<NodeCard>, NodeError> {
        if let Some(p) = self.partner(company_id)? {
            return Ok(Some(p.card));
        }
        Ok(self.directories().member_card(self, company_id))
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }
    pub fn nonces(&self) -> &NonceCache {
        &self.inner.nonces
    }
    pub fn daily(&self) -> &DailyCounter {
        &self.inner.daily
    }
    /// The outbound doors.
    pub fn transport(&self) -> &Arc<dyn crate::transport::Transport> {
        &self.inner.transport
    }

    pub fn peers(&self) -> &crate::peer::PeerPool {
        &self.inner.peers
    }
    pub fn exchange_state(&self) -> &crate::exchange::ExchangeState {
        &self.inner.exchange
    }
    pub fn company_id(&self) -> &str {
        &self.inner.config.company_id
    }

    /// Sets the advertised endpoint (when no `advertise` is configured, the bound address).
    pub fn set_bound_endpoint(&self, addr: std::net::SocketAddr) {
        if self.inner.config.advertise.is_none() {
            *self
                .inner
                .endpoint
                .write()
                .unwrap_or_else(|p| p.into_inner()) = addr.to_string();
        }
    }

    /// This node's signed card.
    pub fn card(&self) -> Result<NodeCard, NodeError> {
        let endpoint = self
            .inner
            .endpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (key, history) = self.inner.keys.snapshot();
        let card = NodeCard::issue(
            &key,
            &self.inner.config.company_id,
            &self.inner.config.name,
            &endpoint,
            &self.inner.identity.fingerprint,
        )
        .and_then(|card| card.with_history(&key, &history))
        .map_err(|e| NodeError::Internal(e.to_string()))?;
        // A node that uses a relay advertises it (`tanso relay use`).
        match crate::relay::keeper::relay_card(self.home())
            .map_err(|e| NodeError::Internal(e.to_string()))?
        {
            None => Ok(card),
            Some(relay) => card
                .with_relay(&key, Some(relay.endpoint))
                .map_err(|e| NodeError::Internal(e.to_string())),
        }
    }

    // === footprints (publish: see `crate::publish`) ===

    /// Signs both views of every footprint, on all cores, keeping input order.
    fn sign_all(&self, footprints: Vec<ProductFootprint>) -> Result<Vec<OwnFootprint>, NodeError> {
        let published_at = now_rfc3339();
        let company = self.company_id();
        let current = self.inner.keys.current();
        let key = &*current;
        let results = crate::parallel::map_chunks(footprints, 512, &|fp| {
            sign_one(key, company, fp, &published_at)
        })
        .map_err(|_| NodeError::Internal("signing thread panicked".into()))?;
        // Collected in place: a footprint is ~1.8 KB inline, so a second buffer of 100,000
        // would cost ~180 MB at the publish's peak.
        results.into_iter().collect()
    }

    /// Deprecates an own footprint (re-signed with status Deprecated).
    pub fn deprecate(&self, id: &str) -> Result<(), NodeError> {
        let own = self
            .inner
            .store
            .own_footprint(id)?
            .ok_or_else(|| NodeError::NotFound(format!("footprint {id}")))?;
        if own.footprint.status == Status::Deprecated {
            return Err(NodeError::Conflict(format!(
                "footprint {id} is already deprecated"
            )));
        }
        let mut fp = own.footprint;
        fp.status = Status::Deprecated;
        let signed = self.sign_all(vec![fp])?;
        let notices = self.notifications_for(&[], &signed)?;
        self.inner
            .store
            .publish_batch_notify(&[], &signed, &notices)
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(m) => NodeError::Conflict(m),
                other => other.into(),
            })?;
        self.enqueued(&notices);
        Ok(())
    }

    /// Publishes a new version of `old_id` from `text` (one footprint): the new footprint gets
    /// a fresh id if it reuses the old one, and `precedingPfIds` gains the old id.
    pub fn update(&self, old_id: &str, text: &str) -> Result<PublishOutcome, NodeError> {
        let old = self
            .inner
            .store
            .own_footprint(old_id)?
            .ok_or_else(|| NodeError::NotFound(format!("footprint {old_id}")))?;
        let mut values =
            pact::parse_document(text).map_err(|e| NodeError::Invalid(vec![e.to_string()]))?;
        if values.len() != 1 {
            return Err(NodeError::BadRequest(format!(
                "an update takes exactly one footprint, the file has {}",
                values.len()
            )));
        }
        let mut value = values.remove(0);
        if let Some(obj) = value.as_object_mut() {
            let same_id = obj
                .get("id")
                .and_then(Value::as_str)
                .is_none_or(|id| id.eq_ignore_ascii_case(&old.footprint.id));
            if same_id {
                obj.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
            }
            let mut preceding: Vec<Value> = obj
                .get("precedingPfIds")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !preceding.iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&old.footprint.id))
            }) {
                preceding.insert(0, Value::String(old.footprint.id.clone()));
            }
            obj.insert("precedingPfIds".into(), Value::Array(preceding));
        }
        let text = serde_json::to_string(&value).unwrap_or_default();
        crate::publish::publish(self, text.as_bytes(), Some(&old.footprint.id))
    }

    pub fn footprints(&self) -> Result<Vec<OwnFootprint>, NodeError> {
        Ok(self.inner.store.own_footprints_page(None, usize::MAX)?)
    }

    pub fn footprint(&self, id: &str) -> Result<OwnFootprint, NodeError> {
        self.inner
            .store
            .own_footprint(id)?
            .ok_or_else(|| NodeError::NotFound(format!("footprint {id}")))
    }

    /// Own footprint `id`, if stored.
    pub fn own_footprint(&self, id: &str) -> Result<Option<OwnFootprint>, NodeError> {
        Ok(self.inner.store.own_footprint(id)?)
    }

    /// (own footprints, active ones): counts cheap enough per request.
    pub fn footprint_counts(&self) -> Result<(u64, usize), NodeError> {
        let store = &self.inner.store;
        Ok((
            store.count(crate::store::Table::Footprints)?,
            store.own_ids_by_status(crate::pact::Status::Active)?.len(),
        ))
    }

    // === partners ===

    /// Adds a partner from its card, or updates a known partner's card. A card with another
    /// key than the pinned one is accepted only when its key history chains from the pinned
    /// key, unless `replace` (an operator's deliberate re-pin).
    pub fn add_partner(&self, card_text: &str, groups: Vec<String>) -> Result<NodeCard, NodeError> {
        self.add_partner_with(card_text, groups, false)
    }

    /// [`Node::add_partner`], re-pinning a known partner's key when `replace`.
    pub fn add_partner_with(
        &self,
        card_text: &str,
        groups: Vec<String>,
        replace: bool,
    ) -> Result<NodeCard, NodeError> {
        let card = NodeCard::parse(card_text)?;
        if !replace
            && let Some(known) = self.inner.store.partner(&card.company_id)?
            && let Err(e) = card.succeeds(&known.card)
        {
            return Err(NodeError::Conflict(format!(
                "{e}; to re-pin the partner's key deliberately, add the card with --replace"
            )));
        }
        if card.company_id.eq_ignore_ascii_case(self.company_id()) {
            return Err(NodeError::BadRequest(
                "that card is this node's own card".into(),
            ));
        }
        for g in &groups {
            if g.is_empty() || g.chars().any(|c| c.is_whitespace()) {
                return Err(NodeError::BadRequest(format!(
                    "group {g:?} must be one word"
                )));
            }
        }
        self.inner.store.put_partner(&PartnerRecord {
            card: card.clone(),
            groups,
            added_at: now_rfc3339(),
        })?;
        self.inner.peers.forget(&card.company_id);
        self.forget_partner_keys(&card.company_id);
        // A new card (new endpoint) is a reason to retry deliveries to it now.
        self.retry_deliveries_to(&card.company_id)?;
        Ok(card)
    }

    pub fn partners(&self) -> Result<Vec<PartnerRecord>, NodeError> {
        Ok(self.inner.store.partners()?)
    }

    /// The number of partners (a count, without reading them).
    pub fn partner_count(&self) -> Result<u64, NodeError> {
        Ok(self.inner.store.count(crate::store::Table::Partners)?)
    }

    pub fn remove_partner(&self, company_id: &str) -> Result<(), NodeError> {
        if self.inner.store.remove_partner(company_id)? {
            self.inner.peers.forget(company_id);
            self.forget_partner_keys(company_id);
            Ok(())
        } else {
            Err(NodeError::NotFound(format!("partner {company_id}")))
        }
    }

    pub fn partner(&self, company_id: &str) -> Result<Option<PartnerRecord>, NodeError> {
        Ok(self.inner.store.partner(company_id)?)
    }

    /// A partner record shared with the store's cache (no copy).
    pub fn partner_shared(
        &self,
        company_id: &str,
    ) -> Result<Option<Arc<PartnerRecord>>, NodeError> {
        Ok(self.inner.store.partner_shared(company_id)?)
    }

    // === policies ===

    /// Loads a policy (rejecting it with its position on any error) and stores it.
    pub fn add_policy(&self, source_name: &str, source: &str) -> Result<String, NodeError> {
        let policy = Policy::parse(source_name, source)?;
        let uid = policy.uid().to_string();
        self.inner.store.put_policy(&PolicyRecord {
            uid: uid.clone(),
            source_name: source_name.to_string(),
            source: source.to_string(),
            added_at: now_rfc3339(),
        })?;
        self.inner
            .policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add(policy);
        Ok(uid)
    }

    pub fn policies(&self) -> Result<Vec<PolicyRecord>, NodeError> {
        Ok(self.inner.store.policies()?)
    }

    pub fn remove_policy(&self, uid: &str) -> Result<(), NodeError> {
        if !self.inner.store.remove_policy(uid)? {
            return Err(NodeError::NotFound(format!("policy {uid}")));
        }
        self.inner
            .policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        Ok(())
    }

    /// The policy view of a partner (groups from the partner record).
    pub fn policy_partner(&self, company_id: &str) -> Result<Partner, NodeError> {
        let record = self.inner.store.partner(company_id)?;
        let (memberships, buys_classifications) =
            self.directory_facts(company_id, record.as_ref().map(|r| r.card.key_id.as_str()));
        Ok(Partner {
            company_id: company_id.to_string(),
            groups: record.map(|r| r.groups).unwrap_or_default(),
            memberships,
            buys_classifications,
        })
    }

    /// Directory facts of a company for policies: the associations it is a valid member of
    /// (with `key_id`, when given, matching its credential) and the classifications it buys.
    pub fn directory_facts(
        &self,
        company_id: &str,
        key_id: Option<&str>,
    ) -> (Vec<String>, Vec<String>) {
        let mut memberships = Vec::new();
        let mut buys = Vec::new();
        for m in self.directories().memberships(self, company_id) {
            if key_id.is_some_and(|k| k != m.credential.key_id) {
                continue;
            }
            if !memberships.contains(&m.association_id) {
                memberships.push(m.association_id.clone());
            }
            for c in m.credential.buys_classifications {
                if !buys.contains(&c) {
                    buys.push(c);
                }
            }
        }
        (memberships, buys)
    }

    /// Evaluates the policies for one footprint (or product) and a partner; `customers` are
    /// the shippers a shipment footprint names ([`crate::pact::ileap::customers_of`]).
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per fact a policy can compare"
    )]
    pub fn decide(
        &self,
        partner: &Partner,
        action: Action,
        purpose: Option<&str>,
        product_ids: &[String],
        classifications: &[String],
        customers: &[String],
        requests_today: u32,
    ) -> crate::policy::Decision {
        self.evaluate(&AccessRequest {
            partner,
            action,
            purpose,
            now: self.clock().now(),
            product_ids,
            classifications,
            customers,
            requests_today,
        })
    }

    /// The shippers named by the own Active footprints of `product_ids` (for a request or a
    /// subscription, which name products rather than one footprint).
    pub fn customers_of_products(&self, product_ids: &[String]) -> Result<Vec<String>, NodeError> {
        let mut out: Vec<String> = Vec::new();
        for p in product_ids {
            for id in self.inner.store.own_ids_by_product(p)? {
                let Some(own) = self.inner.store.own_footprint(&id)? else {
                    continue;
                };
                if own.footprint.status != crate::pact::Status::Active {
                    continue;
                }
                for c in crate::pact::ileap::customers_of(&own.footprint) {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(&c)) {
                        out.push(c);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Evaluates the policies for one access, at the time the request carries.
    pub fn evaluate(&self, req: &AccessRequest<'_>) -> crate::policy::Decision {
        self.inner
            .policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .evaluate(req)
    }

    /// `tanso policy explain`: the decision and the rule and constraint that decided it.
    pub fn explain(
        &self,
        partner_id: &str,
        product_id: &str,
        purpose: Option<&str>,
    ) -> Result<String, NodeError> {
        let partner = self.policy_partner(partner_id)?;
        let product_ids = vec![product_id.to_string()];
        let owns: Vec<_> = self
            .inner
            .store
            .own_ids_by_product(product_id)?
            .iter()
            .filter_map(|id| self.inner.store.own_footprint(id).ok().flatten())
            .collect();
        let customers: Vec<String> = owns
            .iter()
            .flat_map(|o| crate::pact::ileap::customers_of(&o.footprint))
            .collect();
        let classifications: Vec<String> = owns
            .into_iter()
            .flat_map(|o| o.footprint.product_classifications.unwrap_or_default())
            .collect();
        let day = self.clock().day();
        let requests_today = self.inner.daily.get(&self.inner.store, partner_id, &day)?;
        let req = AccessRequest {
            partner: &partner,
            action: Action::Read,
            purpose,
            now: self.clock().now(),
            product_ids: &product_ids,
            classifications: &classifications,
            customers: &customers,
            requests_today,
        };
        let explanation = self
            .inner
            .policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .explain(&req);
        Ok(explanation.to_string())
    }

    /// The inbox as stored.
    pub fn inbox(&self) -> Result<Vec<crate::store::InboxEntry>, NodeError> {
        Ok(self.inner.store.inbox()?)
    }
}

pub fn sign_one(
    key: &NodeKey,
    company: &str,
    fp: ProductFootprint,
    published_at: &str,
) -> Result<OwnFootprint, NodeError> {
    let internal = |e: crate::crypto::CryptoError| NodeError::Internal(e.to_string());
    // The views' JCS bytes straight from the typed footprint: the same bytes as JCS of
    // `signed::view_json`, without building two `Value` trees per footprint.
    let full = signed::view_canonical(&fp, VIEW_FULL).map_err(internal)?;
    let summary = signed::view_canonical(&fp, VIEW_SUMMARY).map_err(internal)?;
    Ok(OwnFootprint {
        sig_full: signed::sign_canonical(key, company, VIEW_FULL, &full),
        sig_summary: signed::sign_canonical(key, company, VIEW_SUMMARY, &summary),
        footprint: fp,
        published_at: published_at.to_string(),
    })
}

/// Measure names a KPI config may declare to receive this node's own data, per month.
pub const NODE_MEASURES: [&str; 3] = [
    "footprints_published",
    "exchange_requests",
    "exchange_denials",
];

impl Node {
    /// This node's own data per month, for the measures `wanted` accepts among
    /// [`NODE_MEASURES`]: footprints published (by publish time), peer requests served and
    /// denied (from the audit log). `tanso_calc::kpi::node_measures` turns it into KPI measures.
    pub fn monthly_counts(
        &self,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<std::collections::BTreeMap<(&'static str, String), u64>, NodeError> {
        use std::collections::BTreeMap;
        let mut counts: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
        let month = |at: &str| at.get(..7).map(str::to_string);
        if wanted("footprints_published") {
            for own in self.footprints()? {
                if let Some(m) = month(&own.published_at) {
                    *counts.entry(("footprints_published", m)).or_default() += 1;
                }
            }
        }
        if wanted("exchange_requests") || wanted("exchange_denials") {
            // Archived entries count through the anchor's monthly counts; the rest are read
            // from the same snapshot, so none is counted twice or missed.
            let snapshot = self.inner.store.audit_snapshot()?;
            let anchor: Option<crate::audit::AuditAnchor> = snapshot
                .anchor()
                .and_then(|raw| serde_json::from_slice(raw).ok());
            let mut from = anchor.as_ref().map_or(0, |a| a.next_seq);
            let mut log = anchor.map(|a| a.counts).unwrap_or_default();
            loop {
                let page = snapshot.entries(from, 4096)?;
                let Some((last, _)) = page.last() else { break };
                from = last + 1;
                for (_, raw) in page {
                    if let Ok(entry) = serde_json::from_slice::<crate::audit::AuditEntry>(&raw) {
                        log.add(&entry);
                    }
                }
            }
            for (m, [permit, deny]) in log.months {
                for (name, n) in [("exchange_requests", permit), ("exchange_denials", deny)] {
                    if wanted(name) && n > 0 {
                        *counts.entry((name, m.clone())).or_default() += n;
                    }
                }
            }
        }
        Ok(counts)
    }
}
