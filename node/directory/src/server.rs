//! The directory an association runs: its home, the operations on it, and the gRPC service.
//!
//! Members apply with their signed card; the operator approves (or config auto-approves) and
//! the directory issues a membership credential signed by the association key. Every
//! discovery answer is signed; answers are cached until the next change (or a minute), so a
//! lookup costs a map read, not a signature.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use proto::pb;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status};

use tanso_core::clock::Clock;
use tanso_core::crypto::{CryptoError, NodeKey};
use tanso_core::directory::MemberState;
use tanso_core::directory::answer::{self, Answer, Application, SealedAnswer};
use tanso_core::directory::credential::{
    CredentialError, DirectoryCard, MembershipCredential, StatusList, rfc3339,
};
use tanso_core::home::{Home, HomeError, write_atomic};
use tanso_core::store::{DirectoryMeta, EngineKind, MemberRecord, Store, StoreError};
use tanso_core::tls::{self, Identity};
pub use tanso_model::directory::Lookup;

/// How long a signed answer is reused when nothing changed.
const ANSWER_MAX_AGE: Duration = Duration::from_secs(60);
/// How far an application's `issuedAt` may be from the directory's clock.
const APPLICATION_SKEW_SECS: i64 = 300;
/// Default page size of the member list.
const DEFAULT_PAGE: u32 = 100;
/// The directory's connections: many members, each with a Watch stream that stays open (a
/// stream in flight keeps its connection from idling out); pings find dead members.
const CONN_POLICY: tanso_core::conn::ConnPolicy = tanso_core::conn::ConnPolicy {
    max_connections: 4096,
    idle_timeout: Some(Duration::from_secs(300)),
    keepalive: Some(Duration::from_secs(30)),
};

/// Errors of the directory.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        path: String,
        key: &'static str,
        reason: String,
    },
    #[error("{0} is not a directory home (no directory.toml); run `tanso directory init` first")]
    Missing(String),
    #[error("{0} already holds a directory (directory.toml exists); refusing to overwrite")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("signing: {0}")]
    Crypto(#[from] CryptoError),
    #[error("no application from company {0}")]
    UnknownCompany(String),
    #[error("{0}")]
    Refused(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("tls: {0}")]
    Tls(#[from] tanso_core::tls::TlsError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// `<home>/directory.toml` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectoryConfig {
    /// The association's id (a urn).
    pub association_id: String,
    pub name: String,
    /// Where to serve members ("ip:port").
    pub listen: String,
    /// Endpoint to advertise in the card (defaults to the bound listen address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Approve every well-formed application at once (default false: the operator approves).
    #[serde(default)]
    pub auto_approve: bool,
    /// Validity of a membership credential in days (default 365).
    #[serde(default = "default_credential_days")]
    pub credential_days: u32,
    /// Largest member-list page (default 500).
    #[serde(default = "default_page_max")]
    pub page_max: u32,
    /// "redb" (default) or "sled".
    #[serde(default = "default_engine")]
    pub engine: String,
}

fn default_credential_days() -> u32 {
    365
}
fn default_page_max() -> u32 {
    500
}
fn default_engine() -> String {
    "redb".into()
}

/// A validated directory configuration.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub association_id: String,
    pub name: String,
    pub listen: SocketAddr,
    pub advertise: Option<String>,
    pub auto_approve: bool,
    pub credential_days: u32,
    pub page_max: u32,
    pub engine: EngineKind,
}

impl RawDirectoryConfig {
    /// A config with defaults.
    pub fn new(association_id: &str, name: &str, listen: &str) -> RawDirectoryConfig {
        RawDirectoryConfig {
            association_id: association_id.to_string(),
            name: name.to_string(),
            listen: listen.to_string(),
            advertise: None,
            auto_approve: false,
            credential_days: default_credential_days(),
            page_max: default_page_max(),
            engine: default_engine(),
        }
    }

    /// Checks every value; nothing is bound or opened here.
    pub fn validate(&self, path: &str) -> Result<DirectoryConfig, DirectoryError> {
        let invalid = |key: &'static str, reason: String| DirectoryError::Invalid {
            path: path.to_string(),
            key,
            reason,
        };
        if !tanso_core::ids::is_urn(&self.association_id) {
            return Err(invalid(
                "association_id",
                format!("{:?} is not a urn", self.association_id),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let listen = self.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not host:port with an ip address", self.listen),
            )
        })?;
        if self.credential_days == 0 || self.credential_days > 3650 {
            return Err(invalid(
                "credential_days",
                format!("{} is outside 1..=3650", self.credential_days),
            ));
        }
        if self.page_max == 0 || self.page_max > 10_000 {
            return Err(invalid(
                "page_max",
                format!("{} is outside 1..=10000", self.page_max),
            ));
        }
        let engine = self
            .engine
            .parse::<EngineKind>()
            .map_err(|e| invalid("engine", e.to_string()))?;
        Ok(DirectoryConfig {
            association_id: self.association_id.clone(),
            name: self.name.clone(),
            listen,
            advertise: self.advertise.clone(),
            auto_approve: self.auto_approve,
            credential_days: self.credential_days,
            page_max: self.page_max,
            engine,
        })
    }
}

/// Paths of a directory home (key and TLS files as in a node home).
fn config_path(home: &Home) -> PathBuf {
    home.dir.join("directory.toml")
}

/// Where `serve` records the bound address (for `directory card` with port 0).
fn bound_path(home: &Home) -> PathBuf {
    home.dir.join("bound.addr")
}

/// Whether `home` holds a directory.
pub fn is_directory_home(home: &Home) -> bool {
    config_path(home).exists()
}

/// Reads and validates `<home>/directory.toml`.
pub fn load_config(home: &Home) -> Result<DirectoryConfig, DirectoryError> {
    let path = config_path(home);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DirectoryError::Missing(home.dir.display().to_string())
        } else {
            DirectoryError::Io {
                what: shown.clone(),
                source: e,
            }
        }
    })?;
    let raw: RawDirectoryConfig = toml::from_str(&text).map_err(|e| DirectoryError::Config {
        path: shown.clone(),
        reason: e.to_string().trim().replace('\n', " "),
    })?;
    raw.validate(&shown)
}

/// Creates a directory home: config, association key (0600), self-signed TLS certificate,
/// and the store with the first (empty) status list.
pub fn init(
    home: &Home,
    raw: &RawDirectoryConfig,
    key_seed: &[u8; 32],
) -> Result<DirectoryConfig, DirectoryError> {
    let shown = config_path(home).display().to_string();
    let config = raw.validate(&shown)?;
    if is_directory_home(home) || home.exists() {
        return Err(DirectoryError::Exists(home.dir.display().to_string()));
    }
    let io = |what: &PathBuf| {
        let what = what.display().to_string();
        move |source| DirectoryError::Io { what, source }
    };
    let tls_dir = home.dir.join("tls");
    std::fs::create_dir_all(&tls_dir).map_err(io(&tls_dir))?;
    use std::os::unix::fs::PermissionsExt;
    for dir in [&home.dir, &tls_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let key = NodeKey::from_seed(key_seed);
    write_atomic(&home.key_path(), key.to_pem()?.as_bytes(), 0o600)?;
    let cert = tls::self_signed(&raw.association_id)?;
    write_atomic(&home.cert_path(), cert.cert_pem.as_bytes(), 0o644)?;
    write_atomic(&home.tls_key_path(), cert.key_pem.as_bytes(), 0o600)?;
    let store = Store::open(&home.store_dir(), config.engine)?;
    store.dir_write::<_, DirectoryError>("", |_, meta| {
        meta.status_list = Some(StatusList::issue(
            &key,
            &config.association_id,
            1,
            Utc::now(),
            Vec::new(),
        )?);
        Ok((None, ()))
    })?;
    drop(store);
    let text = toml::to_string(raw).map_err(|e| DirectoryError::Config {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // The config goes last: its presence marks a complete home.
    write_atomic(&config_path(home), text.as_bytes(), 0o644)?;
    Ok(config)
}

/// What a join answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinOutcome {
    pub state: MemberState,
    pub credential: Option<MembershipCredential>,
}

/// A member as the operator sees it (`tanso directory members`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSummary {
    pub company_id: String,
    pub name: String,
    pub state: MemberState,
    pub key_id: String,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    pub supplies_products: Vec<String>,
    pub supplies_classifications: Vec<String>,
    pub buys_classifications: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// An open directory; cheap to clone.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    config: DirectoryConfig,
    key: NodeKey,
    identity: Identity,
    store: Store,
    endpoint: RwLock<String>,
    /// Signed answers by query, dropped on every change.
    answers: Mutex<HashMap<String, (Instant, Arc<SealedAnswer>)>>,
    /// The current signed status answer, pushed to watchers.
    status: watch::Sender<Arc<SealedAnswer>>,
    /// The clock of application skew, credential validity and answer times.
    clock: Clock,
}

impl Directory {
    /// Opens the directory in `home` (fails if another process holds its store).
    pub fn open(home: &Home) -> Result<Directory, DirectoryError> {
        let config = load_config(home)?;
        let key = home.load_key()?;
        let identity = home.load_identity()?;
        let store = Store::open(&home.store_dir(), config.engine)?;
        let clock = Clock::default();
        let endpoint = config
            .advertise
            .clone()
            .unwrap_or_else(|| config.listen.to_string());
        let meta = store.dir_meta()?;
        let list = meta.status_list.ok_or_else(|| {
            DirectoryError::Refused("directory store has no status list (re-run init)".into())
        })?;
        let status = Answer {
            association_id: config.association_id.clone(),
            issued_at: rfc3339(clock.now()),
            query: answer::QUERY_STATUS.into(),
            members: Vec::new(),
            next_page_token: None,
            status_list: list,
        }
        .seal(&key)?;
        let (status, _) = watch::channel(Arc::new(status));
        Ok(Directory {
            inner: Arc::new(Inner {
                home: home.clone(),
                config,
                key,
                identity,
                store,
                endpoint: RwLock::new(endpoint),
                answers: Mutex::new(HashMap::new()),
                status,
                clock,
            }),
        })
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.inner.config
    }

    /// The directory's clock (see [`tanso_core::clock`]); tests advance it.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn home(&self) -> &Home {
        &self.inner.home
    }

    /// Records the bound address as the advertised endpoint (unless `advertise` is set).
    pub fn set_bound_endpoint(&self, addr: SocketAddr) {
        if self.inner.config.advertise.is_none() {
            *self
                .inner
                .endpoint
                .write()
                .unwrap_or_else(|p| p.into_inner()) = addr.to_string();
        }
    }

    /// The association's signed card.
    pub fn card(&self) -> Result<DirectoryCard, DirectoryError> {
        let mut endpoint = self
            .inner
            .endpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if self.inner.config.advertise.is_none()
            && self.inner.config.listen.port() == 0
            && let Ok(bound) = std::fs::read_to_string(bound_path(&self.inner.home))
        {
            endpoint = bound.trim().to_string();
        }
        Ok(DirectoryCard::issue(
            &self.inner.key,
            &self.inner.config.association_id,
            &self.inner.config.name,
            &endpoint,
            &self.inner.identity.fingerprint,
        )?)
    }

    /// The current status list.
    pub fn status_list(&self) -> StatusList {
        self.inner.status.borrow().clone_status()
    }

    /// Handles an application: checks it, records it, and issues (or re-issues) the
    /// credential when the member is approved or auto-approval is on.
    pub fn join(&self, bytes: &[u8], signature: &[u8]) -> Result<JoinOutcome, DirectoryError> {
        let app = Application::open(bytes, signature)?;
        let config = &self.inner.config;
        if !app
            .association_id
            .eq_ignore_ascii_case(&config.association_id)
        {
            return Err(DirectoryError::BadRequest(format!(
                "application is for association {}, this directory is {}",
                app.association_id, config.association_id
            )));
        }
        let issued = DateTime::parse_from_rfc3339(&app.issued_at)
            .map_err(|e| DirectoryError::BadRequest(format!("issuedAt: {e}")))?
            .with_timezone(&Utc);
        let now = self.inner.clock.now();
        if (now - issued).num_seconds().abs() > APPLICATION_SKEW_SECS {
            return Err(DirectoryError::BadRequest(format!(
                "application issuedAt {} is more than {APPLICATION_SKEW_SECS} s from the directory's clock",
                app.issued_at
            )));
        }
        let company = app.card.company_id.clone();
        let outcome = self.inner.store.dir_write(&company, |old, meta| {
            if let Some(old) = &old {
                if old.state == MemberState::Revoked {
                    return Ok((
                        None,
                        JoinOutcome {
                            state: MemberState::Revoked,
                            credential: None,
                        },
                    ));
                }
                let previous = DateTime::parse_from_rfc3339(&old.applied_at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(issued);
                if previous > issued {
                    return Err(DirectoryError::Refused(format!(
                        "application of {company} is older than the one of {}",
                        old.applied_at
                    )));
                }
                // A new key is accepted only with the member's rotation chain from the key
                // registered here (each statement signed by the key it retires).
                if old.state == MemberState::Approved
                    && old.card.public_key != app.card.public_key
                    && let Err(e) = app.card.succeeds(&old.card)
                {
                    return Err(DirectoryError::Refused(format!(
                        "application of {company} carries a new key without a rotation statement signed by the registered key: {e}"
                    )));
                }
            }
            let approved = old.as_ref().is_some_and(|o| o.state == MemberState::Approved)
                || config.auto_approve;
            let mut record = MemberRecord {
                state: if approved {
                    MemberState::Approved
                } else {
                    MemberState::Pending
                },
                card: app.card.clone(),
                supplies_products: app.supplies_products.clone(),
                supplies_classifications: app.supplies_classifications.clone(),
                buys_classifications: app.buys_classifications.clone(),
                applied_at: app.issued_at.clone(),
                credential: None,
            };
            if approved {
                let unchanged = old.as_ref().and_then(|o| {
                    o.credential.clone().filter(|c| {
                        same_facts(o, &record) && c.expires_at > rfc3339(now + chrono::Duration::days(1))
                    })
                });
                record.credential = Some(match unchanged {
                    Some(c) => c,
                    None => self.issue(&record, meta)?,
                });
            }
            let outcome = JoinOutcome {
                state: record.state,
                credential: record.credential.clone(),
            };
            Ok::<_, DirectoryError>((Some(record), outcome))
        })?;
        self.changed();
        tracing::info!(company = %company, state = %outcome.state, "membership application");
        Ok(outcome)
    }

    /// Approves a pending application and issues the credential.
    pub fn approve(&self, company_id: &str) -> Result<MembershipCredential, DirectoryError> {
        let credential = self.inner.store.dir_write(company_id, |old, meta| {
            let Some(mut record) = old else {
                return Err(DirectoryError::UnknownCompany(company_id.to_string()));
            };
            match record.state {
                MemberState::Revoked => {
                    return Err(DirectoryError::Refused(format!(
                        "{company_id} is revoked; revocation is final"
                    )));
                }
                MemberState::Approved => {
                    if let Some(c) = record.credential.clone() {
                        return Ok((None, c));
                    }
                }
                MemberState::Pending => {}
            }
            record.state = MemberState::Approved;
            let credential = self.issue(&record, meta)?;
            record.credential = Some(credential.clone());
            Ok::<_, DirectoryError>((Some(record), credential))
        })?;
        self.changed();
        tracing::info!(company = %company_id, serial = credential.serial, "membership approved");
        Ok(credential)
    }

    /// Revokes a member (or refuses an applicant): the status list gains its company id.
    pub fn revoke(&self, company_id: &str) -> Result<StatusList, DirectoryError> {
        let list = self.inner.store.dir_write(company_id, |old, meta| {
            let Some(mut record) = old else {
                return Err(DirectoryError::UnknownCompany(company_id.to_string()));
            };
            let current = meta.status_list.clone().ok_or_else(|| {
                DirectoryError::Refused("directory store has no status list".into())
            })?;
            if record.state == MemberState::Revoked {
                return Ok((None, current));
            }
            record.state = MemberState::Revoked;
            let mut revoked = current.revoked.clone();
            revoked.push(record.card.company_id.clone());
            let list = StatusList::issue(
                &self.inner.key,
                &self.inner.config.association_id,
                current.serial + 1,
                self.inner.clock.now(),
                revoked,
            )?;
            meta.status_list = Some(list.clone());
            Ok::<_, DirectoryError>((Some(record), list))
        })?;
        self.changed();
        tracing::info!(company = %company_id, serial = list.serial, "membership revoked");
        Ok(list)
    }

    /// Every member and applicant, for the operator (identifiers only).
    pub fn members(&self) -> Result<Vec<MemberSummary>, DirectoryError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.inner.store.dir_members_page(after.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.card.company_id.clone());
            out.extend(page.into_iter().map(|r| MemberSummary {
                company_id: r.card.company_id.clone(),
                name: r.card.name.clone(),
                state: r.state,
                key_id: r.card.key_id.clone(),
                endpoint: r.card.endpoint.clone(),
                relay: r.card.relay.clone(),
                supplies_products: r.supplies_products.clone(),
                supplies_classifications: r.supplies_classifications.clone(),
                buys_classifications: r.buys_classifications.clone(),
                serial: r.credential.as_ref().map(|c| c.serial),
                expires_at: r.credential.as_ref().map(|c| c.expires_at.clone()),
            }));
        }
        Ok(out)
    }

    /// A signed lookup answer (from the cache when nothing changed).
    pub fn lookup(&self, query: Lookup<'_>) -> Result<Arc<SealedAnswer>, DirectoryError> {
        let key = match query {
            Lookup::Company(c) => answer::query_company(c),
            Lookup::Product(p) => answer::query_product(p),
            Lookup::Classification(c) => answer::query_classification(c),
        };
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let store = &self.inner.store;
        let companies = match query {
            Lookup::Company(c) => vec![c.to_string()],
            Lookup::Product(p) => store.dir_by_product(p)?,
            Lookup::Classification(c) => store.dir_by_classification(c)?,
        };
        let mut members = Vec::new();
        for company in companies {
            if let Some(record) = store.dir_member(&company)?
                && record.state == MemberState::Approved
                && let Some(c) = record.credential
            {
                members.push(c);
            }
        }
        self.seal_and_cache(key, members, None)
    }

    /// A signed page of the member list (approved members, company-id order).
    pub fn list(
        &self,
        page_token: &str,
        page_size: u32,
    ) -> Result<Arc<SealedAnswer>, DirectoryError> {
        let size = match page_size {
            0 => DEFAULT_PAGE,
            n => n,
        }
        .min(self.inner.config.page_max) as usize;
        let key = format!("{}#{size}", answer::query_list(page_token));
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let after = page_token
            .strip_prefix("after:")
            .map(str::to_string)
            .or_else(|| (!page_token.is_empty()).then(|| page_token.to_string()));
        if after
            .as_deref()
            .is_some_and(|a| !tanso_core::ids::is_urn(a))
        {
            return Err(DirectoryError::BadRequest(format!(
                "page token {page_token:?} is not one this directory gave out"
            )));
        }
        let page = self.inner.store.dir_members_page(after.as_deref(), size)?;
        let next = (page.len() == size)
            .then(|| {
                page.last()
                    .map(|r| format!("after:{}", r.card.company_id.to_ascii_lowercase()))
            })
            .flatten();
        let members = page
            .into_iter()
            .filter(|r| r.state == MemberState::Approved)
            .filter_map(|r| r.credential)
            .collect();
        let sealed = self.seal(answer::query_list(page_token), members, next)?;
        let sealed = Arc::new(sealed);
        self.put_cached(key, sealed.clone());
        Ok(sealed)
    }

    /// The signed status answer, and a receiver that sees every newer one.
    pub fn watch_status(&self) -> watch::Receiver<Arc<SealedAnswer>> {
        self.inner.status.subscribe()
    }

    fn issue(
        &self,
        record: &MemberRecord,
        meta: &mut DirectoryMeta,
    ) -> Result<MembershipCredential, DirectoryError> {
        let now = self.inner.clock.now();
        meta.credential_serial += 1;
        let mut credential = MembershipCredential {
            association_id: self.inner.config.association_id.clone(),
            directory_key_id: self.inner.key.key_id().to_string(),
            serial: meta.credential_serial,
            company_id: record.card.company_id.clone(),
            name: record.card.name.clone(),
            public_key: record.card.public_key.clone(),
            key_id: record.card.key_id.clone(),
            endpoint: record.card.endpoint.clone(),
            relay: record.card.relay.clone(),
            tls_fingerprint: record.card.tls_fingerprint.clone(),
            previous_keys: record.card.previous_keys.clone(),
            supplies_products: record.supplies_products.clone(),
            supplies_classifications: record.supplies_classifications.clone(),
            buys_classifications: record.buys_classifications.clone(),
            issued_at: rfc3339(now),
            expires_at: rfc3339(
                now + chrono::Duration::days(i64::from(self.inner.config.credential_days)),
            ),
            signature: String::new(),
        };
        credential.sign(&self.inner.key)?;
        Ok(credential)
    }

    /// Drops cached answers and pushes the status list to watchers.
    fn changed(&self) {
        self.inner
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        match self.inner.store.dir_meta() {
            Ok(meta) => {
                if let Some(list) = meta.status_list
                    && list.serial != self.status_list().serial
                {
                    match self.seal(answer::QUERY_STATUS.into(), Vec::new(), None) {
                        Ok(sealed) => {
                            self.inner.status.send_replace(Arc::new(sealed));
                        }
                        Err(e) => tracing::error!(error = %e, "status answer not signed"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "directory meta unreadable"),
        }
    }

    fn cached(&self, key: &str) -> Option<Arc<SealedAnswer>> {
        let answers = self.inner.answers.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.inner.clock.instant();
        answers
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < ANSWER_MAX_AGE)
            .map(|(_, a)| a.clone())
    }

    fn put_cached(&self, key: String, answer: Arc<SealedAnswer>) {
        let mut answers = self.inner.answers.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a flood of distinct queries cannot grow the cache without limit.
        if answers.len() >= 10_000 {
            answers.clear();
        }
        answers.insert(key, (self.inner.clock.instant(), answer));
    }

    fn seal_and_cache(
        &self,
        query: String,
        members: Vec<MembershipCredential>,
        next: Option<String>,
    ) -> Result<Arc<SealedAnswer>, DirectoryError> {
        let sealed = Arc::new(self.seal(query.clone(), members, next)?);
        self.put_cached(query, sealed.clone());
        Ok(sealed)
    }

    fn seal(
        &self,
        query: String,
        members: Vec<MembershipCredential>,
        next_page_token: Option<String>,
    ) -> Result<SealedAnswer, DirectoryError> {
        let status_list =
            self.inner.store.dir_meta()?.status_list.ok_or_else(|| {
                DirectoryError::Refused("directory store has no status list".into())
            })?;
        Ok(Answer {
            association_id: self.inner.config.association_id.clone(),
            issued_at: rfc3339(self.inner.clock.now()),
            query,
            members,
            next_page_token,
            status_list,
        }
        .seal(&self.inner.key)?)
    }
}

fn same_facts(old: &MemberRecord, new: &MemberRecord) -> bool {
    old.card.name == new.card.name
        && old.card.public_key == new.card.public_key
        && old.card.endpoint == new.card.endpoint
        && old.card.relay == new.card.relay
        && old.card.tls_fingerprint == new.card.tls_fingerprint
        && old.card.previous_keys == new.card.previous_keys
        && old.supplies_products == new.supplies_products
        && old.supplies_classifications == new.supplies_classifications
        && old.buys_classifications == new.buys_classifications
}

trait StatusOf {
    fn clone_status(&self) -> StatusList;
}

impl StatusOf for Arc<SealedAnswer> {
    fn clone_status(&self) -> StatusList {
        serde_json::from_slice::<Answer>(&self.payload)
            .map(|a| a.status_list)
            .unwrap_or_else(|_| StatusList {
                association_id: String::new(),
                serial: 0,
                issued_at: String::new(),
                revoked: Vec::new(),
                signature: String::new(),
            })
    }
}

// === the gRPC service ===

/// The directory's gRPC service.
#[derive(Clone)]
pub struct DirectoryService {
    directory: Directory,
    cancel: CancellationToken,
}

fn to_pb(answer: &SealedAnswer) -> pb::SignedAnswer {
    pb::SignedAnswer {
        payload: answer.payload.clone(),
        signature: answer.signature.clone(),
        key_id: answer.key_id.clone(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| tanso_core::status::internal())?
        .map_err(Status::from)
}

#[tonic::async_trait]
impl pb::directory_server::Directory for DirectoryService {
    async fn join(
        &self,
        request: Request<pb::JoinRequest>,
    ) -> Result<Response<pb::JoinReply>, Status> {
        let req = request.into_inner();
        let directory = self.directory.clone();
        let outcome = blocking(move || directory.join(&req.application, &req.signature)).await?;
        let credential = match &outcome.credential {
            Some(c) => serde_json::to_string(c).map_err(|_| tanso_core::status::internal())?,
            None => String::new(),
        };
        Ok(Response::new(pb::JoinReply {
            state: outcome.state.as_str().to_string(),
            credential,
        }))
    }

    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::SignedAnswer>, Status> {
        let req = request.into_inner();
        let set = [
            !req.company_id.is_empty(),
            !req.product_id.is_empty(),
            !req.classification.is_empty(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(Status::from(DirectoryError::BadRequest(
                "set exactly one of company_id, product_id, classification".into(),
            )));
        }
        let query = if !req.company_id.is_empty() {
            Lookup::Company(&req.company_id)
        } else if !req.product_id.is_empty() {
            Lookup::Product(&req.product_id)
        } else {
            Lookup::Classification(&req.classification)
        };
        // The cached path answers without a blocking task.
        let answer = self.directory.lookup(query).map_err(Status::from)?;
        Ok(Response::new(to_pb(&answer)))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::SignedAnswer>, Status> {
        let req = request.into_inner();
        let directory = self.directory.clone();
        let answer = blocking(move || directory.list(&req.page_token, req.page_size)).await?;
        Ok(Response::new(to_pb(&answer)))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SignedAnswer>, Status> {
        let answer = self.directory.watch_status().borrow().clone();
        Ok(Response::new(to_pb(&answer)))
    }

    type WatchStream =
        Pin<Box<dyn futures::Stream<Item = Result<pb::SignedAnswer, Status>> + Send + 'static>>;

    async fn watch(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut rx = self.directory.watch_status();
        let cancel = self.cancel.clone();
        let (tx, out) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let current = rx.borrow_and_update().clone();
                if tx.send(Ok(to_pb(&current))).await.is_err() {
                    return;
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tx.closed() => return,
                    changed = rx.changed() => if changed.is_err() { return },
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}

// === the operator's commands ===

/// An operator command on a directory (over `<home>/admin.sock` while it runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DirCommand {
    Card,
    Approve { company_id: String },
    Revoke { company_id: String },
    Members,
    Status,
}

/// The answer to a [`DirCommand`], the same whether it ran in the directory serving the
/// home or in-process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one answer per command, moved once: boxing would only add noise"
)]
pub enum DirAnswer {
    /// `Card`: the directory card for members to pin.
    Card(DirectoryCard),
    /// `Approve`: the membership credential issued.
    Credential(MembershipCredential),
    /// `Revoke`, `Status`: the signed status list.
    StatusList(StatusList),
    /// `Members`: members and applicants.
    Members(Vec<MemberSummary>),
}

/// Runs an operator command on an open directory.
pub fn execute(directory: &Directory, command: DirCommand) -> Result<DirAnswer, DirectoryError> {
    Ok(match command {
        DirCommand::Card => DirAnswer::Card(directory.card()?),
        DirCommand::Approve { company_id } => {
            DirAnswer::Credential(directory.approve(&company_id)?)
        }
        DirCommand::Revoke { company_id } => DirAnswer::StatusList(directory.revoke(&company_id)?),
        DirCommand::Members => DirAnswer::Members(directory.members()?),
        DirCommand::Status => DirAnswer::StatusList(directory.status_list()),
    })
}

/// Runs a command: through the admin socket when the directory is serving, else in-process.
pub async fn call(home: &Home, command: DirCommand) -> Result<DirAnswer, DirectoryError> {
    if let Some(answer) = tanso_core::admin_socket::call_json(&home.admin_socket(), &command).await
    {
        return answer.map_err(|e| DirectoryError::Refused(e.to_string()));
    }
    let directory = Directory::open(home)?;
    tokio::task::spawn_blocking(move || execute(&directory, command))
        .await
        .map_err(|_| DirectoryError::Refused("command task failed".into()))?
}

// === serving ===

/// Binds the admin socket of the directory home (`<home>/admin.sock`, mode 0600), for
/// [`run`].
pub fn bind_admin(home: &Home) -> Result<tokio::net::UnixListener, DirectoryError> {
    let admin_path = home.admin_socket();
    tanso_core::admin_socket::bind(&admin_path).map_err(|source| DirectoryError::Io {
        what: format!("admin socket {}", admin_path.display()),
        source,
    })
}

/// Serves members on `listener` and admin commands on `admin` (both bound by the caller)
/// until `shutdown` completes, then drains.
pub async fn run(
    directory: Directory,
    listener: tokio::net::TcpListener,
    admin: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DirectoryError> {
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let home = directory.home().clone();
    let admin_path = home.admin_socket();
    {
        let directory = directory.clone();
        let cancel = cancel.clone();
        tasks.spawn(tanso_core::admin_socket::serve_json(
            admin,
            cancel,
            move |cmd: DirCommand| {
                let directory = directory.clone();
                async move {
                    tokio::task::spawn_blocking(move || execute(&directory, cmd))
                        .await
                        .map_err(|_| "command task failed".to_string())?
                        .map_err(|e| e.to_string())
                }
            },
        ));
    }
    let addr = listener.local_addr().map_err(|source| DirectoryError::Io {
        what: "listener".into(),
        source,
    })?;
    directory.set_bound_endpoint(addr);
    write_atomic(&bound_path(&home), addr.to_string().as_bytes(), 0o644)?;
    let tls = tls::server_config(&directory.inner.identity, None)?;
    let incoming = tanso_core::conn::accept_loop(
        Some(listener),
        None,
        Some(tls),
        CONN_POLICY,
        &tasks,
        cancel.clone(),
    );
    let service = DirectoryService {
        directory: directory.clone(),
        cancel: cancel.clone(),
    };
    tracing::info!(
        addr = %addr,
        association = %directory.config().association_id,
        key_id = directory.inner.key.key_id(),
        "serving directory"
    );
    let stop = cancel.clone();
    let signal = async move {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
        // Watch streams stay open until cancelled; end them so the drain can finish.
        stop.cancel();
    };
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .max_concurrent_streams(Some(tanso_core::https::MAX_STREAMS))
        .http2_keepalive_interval(CONN_POLICY.keepalive)
        .http2_keepalive_timeout(CONN_POLICY.keepalive)
        .layer(tanso_core::conn::ActivityLayer::default())
        .add_service(pb::directory_server::DirectoryServer::new(service))
        .serve_with_incoming_shutdown(incoming, signal)
        .await
        .map_err(|e| DirectoryError::Refused(format!("grpc server: {e}")));
    cancel.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), tasks.wait()).await;
    let _ = std::fs::remove_file(&admin_path);
    let _ = std::fs::remove_file(bound_path(&home));
    tracing::info!("directory stopped");
    result
}

impl From<DirectoryError> for Status {
    fn from(err: DirectoryError) -> Status {
        use DirectoryError as E;
        match &err {
            E::Credential(_) | E::BadRequest(_) => Status::invalid_argument(err.to_string()),
            E::UnknownCompany(_) => Status::not_found(err.to_string()),
            E::Refused(_) => Status::failed_precondition(err.to_string()),
            E::Store(e) => tanso_core::status::from_store(e),
            _ => {
                tracing::error!(error = %err, "directory failure");
                tanso_core::status::internal()
            }
        }
    }
}
