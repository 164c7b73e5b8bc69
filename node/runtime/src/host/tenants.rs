//! The running host's tenants: a registry in memory, each tenant's node opened on first use
//! ([`Host::lease`]) and closed after `tenants.idle_close_secs` without one
//! ([`Host::sweep_idle`]), so memory follows the active tenants, not all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tanso_core::clock::Clock;
use tanso_core::node::{Node, SharedDoor, WeakNode};

use super::config::HostConfig;
use super::home::{HostError, HostHome, Registry, TenantEntry, TenantSpec, TenantState};
use super::kek::HostKek;

/// How long closing a tenant waits for its background work to stop.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Why a tenant cannot be reached. Unknown and suspended read the same to a caller.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no such node on this host")]
    Unknown,
    #[error("tenant {tenant} cannot be opened: {source}")]
    Open {
        tenant: String,
        #[source]
        source: tanso_core::NodeError,
    },
    #[error("host is shutting down")]
    Closing,
}

/// A host: its tenants and what they share. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    home: HostHome,
    config: HostConfig,
    kek: HostKek,
    shared: RwLock<SharedDoor>,
    allocator_stats: Option<tanso_core::metrics::AllocatorStatsFn>,
    /// Registry changes are serialised here (and written before they take effect).
    registry: tokio::sync::Mutex<Registry>,
    /// Slots by lowercase company id, and company ids by slug.
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    slugs: RwLock<HashMap<String, String>>,
    /// Which doors the host serves, so an opening tenant builds only those.
    doors: Mutex<Doors>,
    clock: Clock,
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// Sessions relayed to any tenant that uses a relay, for the shared accept path.
    relayed: tokio::sync::mpsc::Sender<tokio::net::TcpStream>,
    relayed_rx: Mutex<Option<tokio::sync::mpsc::Receiver<tokio::net::TcpStream>>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Doors {
    pact: bool,
    dashboard: bool,
}

/// One tenant of the registry, open or not.
struct Slot {
    entry: RwLock<TenantEntry>,
    /// Serialises opening and closing.
    gate: tokio::sync::Mutex<()>,
    current: Mutex<Option<Arc<Open>>>,
    /// The node of a tenant closed while a request still held it: reopening takes it back
    /// instead of finding its store locked.
    last: Mutex<Option<WeakNode>>,
    last_used_ms: AtomicI64,
    inflight: AtomicUsize,
}

/// An open tenant: its node, its background work and its web doors.
pub struct Open {
    pub node: Node,
    pub pact: Option<axum::Router>,
    pub dashboard: Option<axum::Router>,
    /// Registered with a relay: kept open, so it stays reachable through it.
    pub relayed: bool,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// A tenant in use: keeps it from being closed as idle until dropped.
pub struct Lease {
    open: Arc<Open>,
    slot: Arc<Slot>,
}

impl Lease {
    pub fn node(&self) -> &Node {
        &self.open.node
    }
    pub fn open(&self) -> &Open {
        &self.open
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One tenant as `tenant list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantStatus {
    #[serde(flatten)]
    pub entry: TenantEntry,
    pub open: bool,
}

impl Host {
    /// Opens a host home: config, KEK, identity and registry; no tenant is opened here.
    pub fn open(
        home: HostHome,
        allocator_stats: Option<tanso_core::metrics::AllocatorStatsFn>,
    ) -> Result<Host, HostError> {
        let config = home.load_config()?;
        let kek = HostKek::load(&config.kek)?;
        let identity = home.load_identity()?;
        let peer_tls = tanso_core::tls::server_config(&identity, None)?;
        let registry = home.load_registry()?;
        let shared = SharedDoor {
            identity,
            peer_tls,
            endpoint: config.endpoint(None),
        };
        let (relayed, relayed_rx) = tokio::sync::mpsc::channel(256);
        let mut slots = HashMap::with_capacity(registry.tenants.len());
        let mut slugs = HashMap::with_capacity(registry.tenants.len());
        for entry in &registry.tenants {
            slugs.insert(entry.slug.clone(), entry.company_id.to_ascii_lowercase());
            slots.insert(
                entry.company_id.to_ascii_lowercase(),
                Slot::new(entry.clone()),
            );
        }
        Ok(Host {
            inner: Arc::new(Inner {
                home,
                config,
                kek,
                shared: RwLock::new(shared),
                allocator_stats,
                registry: tokio::sync::Mutex::new(registry),
                slots: RwLock::new(slots),
                slugs: RwLock::new(slugs),
                doors: Mutex::new(Doors::default()),
                clock: Clock::default(),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                relayed,
                relayed_rx: Mutex::new(Some(relayed_rx)),
            }),
        })
    }

    /// The sessions relays hand to tenants, for the shared accept path (taken once).
    pub(crate) fn take_relayed(
        &self,
    ) -> Option<tokio::sync::mpsc::Receiver<tokio::net::TcpStream>> {
        self.inner
            .relayed_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub fn home(&self) -> &HostHome {
        &self.inner.home
    }
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }
    /// The clock of idle closing; tests advance it.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
    /// The shared peer port as tenants advertise it.
    pub fn shared(&self) -> SharedDoor {
        self.inner
            .shared
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the endpoint tenants advertise once the peer port is bound (when the config
    /// names no `advertise`); tenants opened from now on carry it.
    pub(crate) fn set_bound_endpoint(&self, addr: std::net::SocketAddr) {
        let endpoint = self.inner.config.endpoint(Some(addr));
        self.inner
            .shared
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .endpoint = endpoint;
    }

    pub(crate) fn serve_doors(&self, pact: bool, dashboard: bool) {
        *self.inner.doors.lock().unwrap_or_else(|p| p.into_inner()) = Doors { pact, dashboard };
    }

    /// The slot of an active tenant named by company id (case-insensitive).
    fn active_slot(&self, company_id: &str) -> Option<Arc<Slot>> {
        let slots = self.inner.slots.read().unwrap_or_else(|p| p.into_inner());
        let slot = if company_id.bytes().any(|b| b.is_ascii_uppercase()) {
            slots.get(&company_id.to_ascii_lowercase())
        } else {
            slots.get(company_id)
        }?;
        (slot.state() == TenantState::Active).then(|| slot.clone())
    }

    /// The company id of the tenant served under `slug`, if active.
    pub fn company_of_slug(&self, slug: &str) -> Option<String> {
        let slugs = self.inner.slugs.read().unwrap_or_else(|p| p.into_inner());
        let company = slugs.get(slug)?.clone();
        drop(slugs);
        self.active_slot(&company).map(|_| company)
    }

    /// The tenant named by `company_id`, opened if it is not: for one request.
    pub async fn lease(&self, company_id: &str) -> Result<Lease, TenantError> {
        let slot = self.active_slot(company_id).ok_or(TenantError::Unknown)?;
        self.lease_slot(slot).await
    }

    async fn lease_slot(&self, slot: Arc<Slot>) -> Result<Lease, TenantError> {
        slot.inflight.fetch_add(1, Ordering::AcqRel);
        slot.last_used_ms
            .store(self.inner.clock.now_ms(), Ordering::Relaxed);
        if let Some(open) = slot.current() {
            return Ok(Lease { open, slot });
        }
        match self.open_slot(&slot).await {
            Ok(open) => Ok(Lease { open, slot }),
            Err(e) => {
                slot.inflight.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    async fn open_slot(&self, slot: &Arc<Slot>) -> Result<Arc<Open>, TenantError> {
        let _gate = slot.gate.lock().await;
        if let Some(open) = slot.current() {
            return Ok(open);
        }
        if self.inner.cancel.is_cancelled() {
            return Err(TenantError::Closing);
        }
        let entry = slot.entry();
        if entry.state != TenantState::Active {
            return Err(TenantError::Unknown);
        }
        let reused = slot
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .and_then(|w| w.upgrade());
        let node = match reused {
            Some(node) => node,
            None => {
                let home = self
                    .inner
                    .kek
                    .home(self.inner.home.tenant_home(&entry.slug));
                let stats = self.inner.allocator_stats;
                let quotas = entry.quotas;
                let shared = self.shared();
                tokio::task::spawn_blocking(move || {
                    super::home::clear_quiet(&home.dir);
                    crate::doors::open_tenant(&home, stats, quotas, shared)
                })
                .await
                .map_err(|e| TenantError::Open {
                    tenant: entry.company_id.clone(),
                    source: tanso_core::NodeError::Internal(format!("task: {e}")),
                })?
                .map_err(|source| TenantError::Open {
                    tenant: entry.company_id.clone(),
                    source,
                })?
            }
        };
        let cancel = self.inner.cancel.child_token();
        let tasks = TaskTracker::new();
        crate::server::spawn_background(&tasks, &node, &cancel);
        // A tenant that uses a relay registers with it under its own key; its sessions join
        // the host's shared accept path, where the envelope's audience routes them.
        let relayed = match tanso_core::relay::keeper::relay_card(node.home()) {
            Ok(Some(card)) => {
                tanso_core::relay::keeper::spawn_into(
                    &tasks,
                    node.clone(),
                    card,
                    cancel.clone(),
                    self.inner.relayed.clone(),
                );
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(tenant = %entry.slug, error = %e, "relay card unusable; not registering");
                false
            }
        };
        let doors = *self.inner.doors.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("/t/{}", entry.slug);
        let pact = if doors.pact {
            match tanso_pact_api::app(node.clone(), &prefix) {
                Ok(router) => Some(router),
                Err(e) => {
                    // A tenant whose PACT clients file is damaged is not served on that port.
                    tracing::debug!(tenant = %entry.slug, error = %e, "pact api not served");
                    None
                }
            }
        } else {
            None
        };
        let dashboard = if doors.dashboard {
            let (router, indexer) = tanso_dashboard::app(node.clone(), &prefix, cancel.clone());
            tasks.spawn(indexer);
            Some(router)
        } else {
            None
        };
        node.metrics().set_peer_port_bound(true);
        // Its card carries this host's endpoint and certificate: when they are not what its
        // partners were last told (a tenant just imported here), they are told now.
        match node.announce_card_if_changed() {
            Ok(0) => {}
            Ok(n) => tracing::info!(tenant = %entry.slug, partners = n, "card update queued"),
            Err(e) => tracing::warn!(tenant = %entry.slug, error = %e, "card not announced"),
        }
        tracing::info!(tenant = %entry.slug, company = %entry.company_id, "tenant opened");
        let open = Arc::new(Open {
            node,
            pact,
            dashboard,
            relayed,
            cancel,
            tasks,
        });
        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(open.clone());
        Ok(open)
    }

    /// Closes `slot`'s tenant: background work stopped, its node released (requests still
    /// holding it finish first). Marks it quiet when nothing waits in its outbox.
    async fn close_slot(&self, slot: &Arc<Slot>) {
        let _gate = slot.gate.lock().await;
        self.close_gated(slot).await;
    }

    /// [`Host::close_slot`] with the slot's gate already held.
    async fn close_gated(&self, slot: &Arc<Slot>) {
        let Some(open) = slot
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        open.cancel.cancel();
        open.tasks.close();
        if tokio::time::timeout(CLOSE_GRACE, open.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(tenant = %slot.entry().slug, "tenant work still running at close");
        }
        let quiet = !open.relayed
            && open
                .node
                .exchange()
                .outbox_len()
                .map(|n| n == 0)
                .unwrap_or(false);
        let dir = open.node.home().dir.clone();
        *slot.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(open.node.downgrade());
        // Dropping the last handle closes the store and joins the journal thread: blocking
        // work, done off the async threads (and finished before the close returns).
        let _ = tokio::task::spawn_blocking(move || drop(open)).await;
        if quiet {
            super::home::mark_quiet(&dir);
        }
        tracing::info!(tenant = %slot.entry().slug, "tenant closed");
    }

    /// Closes every tenant idle for `tenants.idle_close_secs` (no request in flight, none
    /// since, nothing waiting in its outbox). Returns how many it closed.
    pub async fn sweep_idle(&self) -> usize {
        let now = self.inner.clock.now_ms();
        let idle_ms = i64::try_from(self.inner.config.idle_close.as_millis()).unwrap_or(i64::MAX);
        let candidates: Vec<Arc<Slot>> = self
            .inner
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| {
                s.inflight.load(Ordering::Acquire) == 0
                    && now.saturating_sub(s.last_used_ms.load(Ordering::Relaxed)) >= idle_ms
                    && s.current()
                        .is_some_and(|o| o.node.exchange().outbox_len().is_ok_and(|n| n == 0))
            })
            .cloned()
            .collect();
        let mut closed = 0;
        for slot in candidates {
            if slot.inflight.load(Ordering::Acquire) == 0 {
                self.close_slot(&slot).await;
                closed += 1;
            }
        }
        closed
    }

    /// Opens, in the background, the active tenants that are not quiet (work may wait in
    /// their outbox, or they use a relay and must stay registered with it).
    pub(crate) fn open_unquiet(&self) {
        let slots: Vec<Arc<Slot>> = self
            .inner
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| {
                let e = s.entry();
                let home = self.inner.home.tenant_home(&e.slug);
                e.state == TenantState::Active
                    && (!super::home::is_quiet(&home.dir)
                        || tanso_core::relay::keeper::card_path(&home).exists())
            })
            .cloned()
            .collect();
        if slots.is_empty() {
            return;
        }
        let host = self.clone();
        self.inner.tasks.spawn(async move {
            for slot in slots {
                let name = slot.entry().slug;
                match host.lease_slot(slot).await {
                    Ok(lease) => drop(lease),
                    Err(e) => tracing::warn!(tenant = %name, error = %e, "tenant not opened"),
                }
            }
        });
    }

    /// Runs idle closing until the host stops.
    pub(crate) fn spawn_sweeper(&self) {
        let host = self.clone();
        let every = (self.inner.config.idle_close / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                host.sweep_idle().await;
            }
        });
    }

    /// Stops every tenant (at shutdown).
    pub async fn close_all(&self) {
        self.inner.cancel.cancel();
        let slots: Vec<Arc<Slot>> = self
            .inner
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        // All at once: each close waits for its tenant's work and store.
        futures::future::join_all(slots.iter().map(|slot| self.close_slot(slot))).await;
        self.inner.tasks.close();
        let _ = tokio::time::timeout(CLOSE_GRACE, self.inner.tasks.wait()).await;
    }

    // === administration (the admin socket's host commands) ===

    /// Every tenant, with whether it is open now.
    pub async fn list(&self) -> Vec<TenantStatus> {
        let registry = self.inner.registry.lock().await;
        registry
            .tenants
            .iter()
            .map(|entry| TenantStatus {
                entry: entry.clone(),
                open: self
                    .slot(&entry.company_id)
                    .is_some_and(|s| s.current().is_some()),
            })
            .collect()
    }

    fn slot(&self, company_id: &str) -> Option<Arc<Slot>> {
        self.inner
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&company_id.to_ascii_lowercase())
            .cloned()
    }

    /// Adds a tenant (served at once).
    pub async fn add(&self, spec: TenantSpec) -> Result<TenantEntry, HostError> {
        let mut registry = self.inner.registry.lock().await;
        let host = self.clone();
        let now = tanso_core::node::now_rfc3339();
        let registry_copy = registry.clone();
        let (entry, updated) = tokio::task::spawn_blocking(move || {
            let mut registry = registry_copy;
            let entry = host.inner.home.add_tenant(
                &mut registry,
                &host.inner.config,
                &host.inner.kek,
                &spec,
                &now,
            )?;
            Ok::<_, HostError>((entry, registry))
        })
        .await
        .map_err(|e| HostError::Task(e.to_string()))??;
        *registry = updated;
        self.insert_slot(&entry);
        Ok(entry)
    }

    fn insert_slot(&self, entry: &TenantEntry) {
        self.inner
            .slugs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.slug.clone(), entry.company_id.to_ascii_lowercase());
        self.inner
            .slots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                entry.company_id.to_ascii_lowercase(),
                Slot::new(entry.clone()),
            );
    }

    /// Suspends (closing it) or resumes a tenant.
    pub async fn set_state(
        &self,
        tenant: &str,
        state: TenantState,
    ) -> Result<TenantEntry, HostError> {
        let mut registry = self.inner.registry.lock().await;
        let entry = self.inner.home.set_state(&mut registry, tenant, state)?;
        if let Some(slot) = self.slot(&entry.company_id) {
            *slot.entry.write().unwrap_or_else(|p| p.into_inner()) = entry.clone();
            if state == TenantState::Suspended {
                self.close_slot(&slot).await;
            }
        }
        Ok(entry)
    }

    /// Removes a suspended tenant and its data.
    pub async fn remove(&self, tenant: &str) -> Result<TenantEntry, HostError> {
        let mut registry = self.inner.registry.lock().await;
        if let Some(slot) = registry.find(tenant).and_then(|e| self.slot(&e.company_id)) {
            self.close_slot(&slot).await;
            let in_use = slot
                .last
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(WeakNode::upgrade)
                .is_some();
            if in_use {
                return Err(HostError::Busy(tenant.to_string()));
            }
        }
        let entry = self.inner.home.remove_tenant(&mut registry, tenant)?;
        self.inner
            .slots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&entry.company_id.to_ascii_lowercase());
        self.inner
            .slugs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&entry.slug);
        Ok(entry)
    }

    /// Writes tenant `tenant` as a signed home bundle to `out` (its node key encrypted under
    /// `passphrase`). The tenant is closed for the export (a request arriving meanwhile waits
    /// and then reopens it); to move a tenant, suspend it first so nothing is written after.
    pub async fn export(
        &self,
        tenant: &str,
        out: std::path::PathBuf,
        passphrase: tanso_core::home::Passphrase,
    ) -> Result<tanso_core::bundle::ExportSummary, HostError> {
        let entry = {
            let registry = self.inner.registry.lock().await;
            registry
                .find(tenant)
                .cloned()
                .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?
        };
        let slot = self
            .slot(&entry.company_id)
            .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?;
        let _gate = slot.gate.lock().await;
        self.close_gated(&slot).await;
        // A request that still holds the node keeps its store open: let it finish.
        let released = tanso_core::wait::until(CLOSE_GRACE, || {
            let held = slot
                .last
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(WeakNode::upgrade)
                .is_some();
            Ok::<_, std::convert::Infallible>((!held).then_some(()))
        })
        .await;
        if !matches!(released, Ok(Some(()))) {
            return Err(HostError::Busy(tenant.to_string()));
        }
        let home = self
            .inner
            .kek
            .home(self.inner.home.tenant_home(&entry.slug));
        let now = self.inner.clock.now();
        // The last handle may still be closing the store (its drop runs on the thread that
        // released it): an export that finds the store in use tries again, within the grace.
        let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
        loop {
            let (home, out, passphrase) = (home.clone(), out.clone(), passphrase.clone());
            let attempt = tokio::task::spawn_blocking(move || {
                tanso_core::bundle::export(&home, &out, &passphrase, now)
            })
            .await
            .map_err(|e| HostError::Task(e.to_string()))?;
            match attempt {
                Err(tanso_core::bundle::BundleError::InUse { .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Imports a signed home bundle as a new tenant (under `slug`, or the company id's
    /// last segment), its key sealed under this host's KEK, and opens it so it announces
    /// its new card to its partners. Everything is verified before anything is written.
    pub async fn import(
        &self,
        bundle: std::path::PathBuf,
        passphrase: tanso_core::home::Passphrase,
        slug: Option<String>,
    ) -> Result<TenantEntry, HostError> {
        let mut registry = self.inner.registry.lock().await;
        let checked = {
            let (bundle, passphrase) = (bundle.clone(), passphrase.clone());
            tokio::task::spawn_blocking(move || {
                tanso_core::bundle::verify(&bundle, Some(&passphrase))
            })
            .await
            .map_err(|e| HostError::Task(e.to_string()))??
        };
        let slug = slug.unwrap_or_else(|| super::home::slug_of(&checked.company_id));
        self.inner
            .home
            .check_new(&registry, &self.inner.config, &checked.company_id, &slug)?;
        let home = self.inner.home.tenant_home(&slug);
        let sealer = self.inner.kek.sealer();
        let imported = {
            let home = home.clone();
            tokio::task::spawn_blocking(move || {
                tanso_core::bundle::import(&bundle, &home, &passphrase, Some(sealer)).and_then(
                    |summary| {
                        Ok((
                            summary,
                            home.load_config()
                                .map_err(tanso_core::bundle::BundleError::from)?,
                        ))
                    },
                )
            })
            .await
            .map_err(|e| HostError::Task(e.to_string()))??
        };
        let (summary, config) = imported;
        let entry = TenantEntry {
            company_id: summary.company_id,
            slug,
            name: config.name,
            state: TenantState::Active,
            quotas: self.inner.config.quota,
            added_at: tanso_core::node::now_rfc3339(),
        };
        let entry = match self.inner.home.register_imported(&mut registry, entry) {
            Ok(entry) => entry,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&home.dir);
                return Err(e);
            }
        };
        drop(registry);
        self.insert_slot(&entry);
        // Open it now: its card (endpoint, certificate) is this host's, and partners learn
        // that through the card-update path.
        if let Err(e) = self.lease(&entry.company_id).await {
            tracing::warn!(tenant = %entry.slug, error = %e, "imported tenant not opened");
        }
        Ok(entry)
    }

    /// The node of `tenant` (company id or slug) for an operator command, opened if needed
    /// (suspended tenants too: operators may still read and fix them).
    pub async fn operate(&self, tenant: &str) -> Result<Lease, HostError> {
        let company = {
            let registry = self.inner.registry.lock().await;
            registry
                .find(tenant)
                .map(|e| e.company_id.clone())
                .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?
        };
        let slot = self
            .slot(&company)
            .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?;
        if slot.state() == TenantState::Suspended {
            return Err(HostError::Suspended(tenant.to_string()));
        }
        self.lease_slot(slot).await.map_err(|e| match e {
            TenantError::Open { tenant, source } => HostError::Tenant { tenant, source },
            other => HostError::NoTenant(other.to_string()),
        })
    }
}

impl Slot {
    fn new(entry: TenantEntry) -> Arc<Slot> {
        Arc::new(Slot {
            entry: RwLock::new(entry),
            gate: tokio::sync::Mutex::new(()),
            current: Mutex::new(None),
            last: Mutex::new(None),
            last_used_ms: AtomicI64::new(0),
            inflight: AtomicUsize::new(0),
        })
    }
    fn entry(&self) -> TenantEntry {
        self.entry.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn state(&self) -> TenantState {
        self.entry.read().unwrap_or_else(|p| p.into_inner()).state
    }
    fn current(&self) -> Option<Arc<Open>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
