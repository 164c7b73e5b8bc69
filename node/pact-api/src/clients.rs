//! PACT OAuth clients (`<home>/pact-clients.json`, mode 0600) and the access tokens issued to
//! them (in memory, with expiry).
//!
//! **Secrets.** `add_client` makes a secret of 256 random bits (base64url) and shows it once.
//! The file keeps `hmac-sha256:<base64url>`, the HMAC-SHA256 of the secret under a per-home
//! key of 32 random bytes in `<home>/pact-clients.key` (hex, mode 0600, made with the first
//! keyed record, refused when group or others may read it, like the node key).
//! A password hash such as argon2 is slow so that guessing a person's low-entropy password
//! from a stolen hash is costly; a 256-bit random secret cannot be guessed however fast the
//! hash, so the slowness bought nothing but a CPU and memory sink any stranger could fill
//! (argon2id at its defaults takes 19 MiB and tens of milliseconds per check). The key keeps
//! what a salted hash gave: the clients file alone (a backup, a copy) is no oracle to test
//! guesses against.
//! A check is one HMAC and one constant-time comparison (about a microsecond). An unknown
//! client id is compared against a dummy tag after the same HMAC, so it costs what a wrong
//! secret costs and timing does not tell which ids exist.
//!
//! **Legacy records.** Earlier versions stored argon2id PHC strings. An argon2 hash cannot be
//! converted without the secret, so such a record is checked with argon2 once: on success its
//! hash is replaced by the keyed one (the file rewritten atomically under
//! `<home>/pact-clients.lock`, only that record changed) and later checks are keyed. Argon2 runs
//! only for a client id that exists and still has a legacy hash, only for a source the failure
//! throttle admits (the caller checks), at most [`LEGACY_AT_ONCE`] at a time, on the blocking
//! pool. Until it is migrated, a legacy id is told apart from an unknown one by the time
//! argon2 takes.
//!
//! The node re-reads the file when it changes (its inode, size and mtime are compared at each
//! token request), so `tanso pact client add` works while the node runs. Writers (`add_client`,
//! a migration) hold an exclusive lock on `<home>/pact-clients.lock`, so neither loses the
//! other's record.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use tanso_core::error::NodeError;
use tanso_core::home::Home;

/// File name of the clients file in the home.
pub const CLIENTS_FILE: &str = "pact-clients.json";
/// File name of the key the secrets are hashed under.
pub const KEY_FILE: &str = "pact-clients.key";
/// File name of the lock writers of the clients file hold.
const LOCK_FILE: &str = "pact-clients.lock";
/// How a keyed hash starts in the clients file.
const KEYED_PREFIX: &str = "hmac-sha256:";
/// Random bytes in a client secret (256 bits).
const SECRET_BYTES: usize = 32;
/// Most argon2 verifications of legacy records running at once (each takes 19 MiB).
pub const LEGACY_AT_ONCE: usize = 2;
/// How long a legacy check waits for one of those slots before the caller is told to retry.
const LEGACY_WAIT: Duration = Duration::from_secs(5);
/// Most live tokens kept at once (the oldest are dropped first).
const MAX_TOKENS: usize = 100_000;
/// How long an expired token is still recognised as expired (rather than unknown).
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

type HmacSha256 = Hmac<Sha256>;

/// Errors of the clients file.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0:?} is not a urn (e.g. urn:tanso:company:acme)")]
    BadCompany(String),
    #[error("{0:?} is not a group name (1-64 of a-z A-Z 0-9 . _ -)")]
    BadGroup(String),
    #[error("{0} is not a tanso home (no config.toml); run `tanso init` first")]
    NoHome(String),
    #[error("os randomness: {0}")]
    Random(String),
    #[error(
        "key file {path} is accessible by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    LooseKey { path: String, mode: u32 },
    #[error("key file {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("{clients} holds keyed hashes but their key file {key} is missing")]
    MissingKey { clients: String, key: String },
}

/// One client as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRecord {
    pub client_id: String,
    /// `hmac-sha256:<base64url>` of the secret under the home's key; in files written by
    /// earlier versions, an argon2id PHC string until the client's next token request.
    pub hash: String,
    /// The company the client acts for; policies and the audit log see this id.
    pub company_id: String,
    /// Policy groups of the client (added to the partner record's groups, if any).
    pub groups: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    clients: Vec<ClientRecord>,
}

/// A client as the API sees it after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub company_id: String,
    pub groups: Vec<String>,
}

fn clients_path(home: &Home) -> PathBuf {
    home.dir.join(CLIENTS_FILE)
}

fn key_path(home: &Home) -> PathBuf {
    home.dir.join(KEY_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientsError + '_ {
    move |source| ClientsError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn load(home: &Home) -> Result<ClientsFile, ClientsError> {
    let path = clients_path(home);
    match fs::read(&path) {
        Ok(bytes) => parse(&path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientsFile::default()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<ClientsFile, ClientsError> {
    serde_json::from_slice(bytes).map_err(|e| ClientsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The policy groups of every client issued to `company_id` (for decisions about a company
/// that is not calling right now, e.g. which footprints its PACT host is told about).
pub fn groups_of(home: &Home, company_id: &str) -> Result<Vec<String>, ClientsError> {
    let mut groups: Vec<String> = Vec::new();
    for c in load(home)?.clients {
        if c.company_id.eq_ignore_ascii_case(company_id) {
            for g in c.groups {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
    Ok(groups)
}

/// Writes the clients file atomically (temporary file + rename), mode 0600.
fn save(home: &Home, clients: &ClientsFile) -> Result<(), ClientsError> {
    let path = clients_path(home);
    let mut text = serde_json::to_vec_pretty(clients).map_err(|e| ClientsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    // Temporary file, fsync, rename, directory fsync: the home's one way to write a file.
    tanso_core::home::write_atomic(&path, &text, 0o600).map_err(|e| ClientsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The exclusive lock writers of the clients file (and of its key) hold; released on drop.
fn lock(home: &Home) -> Result<fs::File, ClientsError> {
    let path = home.dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(&path))?;
    file.lock().map_err(io_err(&path))?;
    Ok(file)
}

/// `n` random bytes, base64url.
pub fn random(n: usize) -> Result<String, ClientsError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| ClientsError::Random(e.to_string()))?;
    Ok(B64.encode(bytes))
}

// === the key ===

/// The home's key, or `None` when it has none yet; refused when group or others may read it.
fn read_key(home: &Home) -> Result<Option<HmacSha256>, ClientsError> {
    let path = key_path(home);
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClientsError::LooseKey {
            path: path.display().to_string(),
            mode,
        });
    }
    let text = Zeroizing::new(fs::read_to_string(&path).map_err(io_err(&path))?);
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), key.as_mut_slice()).map_err(|_| ClientsError::Key {
        path: path.display().to_string(),
        reason: "not 32 bytes in hex".into(),
    })?;
    Ok(Some(mac_with(&key)))
}

fn mac_with(key: &[u8; 32]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac takes a key of any length")
}

/// The home's key, made (32 random bytes, mode 0600) when it has none. Call with the lock.
fn ensure_key(home: &Home) -> Result<HmacSha256, ClientsError> {
    if let Some(mac) = read_key(home)? {
        return Ok(mac);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| ClientsError::Random(e.to_string()))?;
    let mut text = Zeroizing::new(hex::encode(key.as_slice()));
    text.push('\n');
    let path = key_path(home);
    tanso_core::home::write_atomic(&path, text.as_bytes(), 0o600).map_err(|e| {
        ClientsError::Key {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    Ok(mac_with(&key))
}

fn keyed_hash(mac: &HmacSha256, secret: &str) -> String {
    let tag = mac
        .clone()
        .chain_update(secret.as_bytes())
        .finalize()
        .into_bytes();
    format!("{KEYED_PREFIX}{}", B64.encode(tag))
}

/// Adds a PACT client for `company_id`; returns (client id, secret). The secret (256 random
/// bits) is stored only as a keyed hash, so this is the one time it can be shown.
pub fn add_client(
    home: &Home,
    company_id: &str,
    groups: Vec<String>,
) -> Result<(String, String), ClientsError> {
    if !tanso_core::ids::is_urn(company_id) {
        return Err(ClientsError::BadCompany(company_id.to_string()));
    }
    if let Some(g) = groups.iter().find(|g| {
        g.is_empty()
            || g.len() > 64
            || !g
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    }) {
        return Err(ClientsError::BadGroup(g.clone()));
    }
    if !home.exists() {
        return Err(ClientsError::NoHome(home.dir.display().to_string()));
    }
    let _lock = lock(home)?;
    let mac = ensure_key(home)?;
    let mut file = load(home)?;
    let client_id = format!("tanso-{}", random(12)?);
    let secret = random(SECRET_BYTES)?;
    file.clients.push(ClientRecord {
        client_id: client_id.clone(),
        hash: keyed_hash(&mac, &secret),
        company_id: company_id.to_string(),
        groups,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    save(home, &file)?;
    Ok((client_id, secret))
}

// === checking credentials ===

/// What a credential check found.
#[derive(Debug)]
pub enum Check {
    Valid(Arc<Client>),
    /// An unknown client id or a wrong secret (told apart by neither answer nor timing).
    Invalid,
    /// A client whose record still holds an argon2 hash: [`Clients::verify_legacy`] decides.
    Legacy(Legacy),
}

/// A legacy record to check with argon2.
#[derive(Debug)]
pub struct Legacy {
    client: Arc<Client>,
    phc: Arc<str>,
}

enum Stored {
    Keyed([u8; 32]),
    Legacy(Arc<str>),
    /// A hash in neither form: no secret matches.
    Unusable,
}

struct Entry {
    client: Arc<Client>,
    stored: Stored,
}

/// What identifies one version of the clients file (written by rename, so a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// The clients file as last read.
struct Snapshot {
    stamp: Option<Stamp>,
    /// Keyed by the home's key, or by a random one when the home has none (then no record is
    /// keyed and it only serves the dummy comparison of unknown ids).
    mac: HmacSha256,
    records: HashMap<String, Entry>,
    /// Keyed hashes computed (counted so a test can see unknown ids cost one too).
    #[cfg(test)]
    macs: std::sync::atomic::AtomicUsize,
}

impl Snapshot {
    fn read(home: &Home, stamp: Option<Stamp>) -> Result<Snapshot, ClientsError> {
        let path = clients_path(home);
        let file = match stamp {
            Some(_) => parse(&path, &fs::read(&path).map_err(io_err(&path))?)?,
            None => ClientsFile::default(),
        };
        let mut records = HashMap::with_capacity(file.clients.len());
        let mut keyed = false;
        for record in file.clients {
            let stored = if let Some(tag) = record.hash.strip_prefix(KEYED_PREFIX) {
                let mut bytes = [0u8; 32];
                match B64.decode_slice(tag, &mut bytes) {
                    Ok(32) => {
                        keyed = true;
                        Stored::Keyed(bytes)
                    }
                    _ => Stored::Unusable,
                }
            } else if PasswordHash::new(&record.hash).is_ok() {
                Stored::Legacy(Arc::from(record.hash.as_str()))
            } else {
                Stored::Unusable
            };
            if matches!(stored, Stored::Unusable) {
                tracing::warn!(
                    client = %record.client_id,
                    "{}: a client's hash is in no known form; it cannot get tokens",
                    path.display()
                );
            }
            let client = Arc::new(Client {
                client_id: record.client_id.clone(),
                company_id: record.company_id,
                groups: record.groups,
            });
            records.insert(record.client_id, Entry { client, stored });
        }
        let mac = match read_key(home)? {
            Some(mac) => mac,
            None if keyed => {
                return Err(ClientsError::MissingKey {
                    clients: path.display().to_string(),
                    key: key_path(home).display().to_string(),
                });
            }
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(key.as_mut_slice())
                    .map_err(|e| ClientsError::Random(e.to_string()))?;
                mac_with(&key)
            }
        };
        Ok(Snapshot {
            stamp,
            mac,
            records,
            #[cfg(test)]
            macs: Default::default(),
        })
    }

    fn check(&self, client_id: &str, secret: &str) -> Check {
        #[cfg(test)]
        self.macs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mac = self.mac.clone().chain_update(secret.as_bytes());
        match self.records.get(client_id) {
            Some(Entry {
                client,
                stored: Stored::Keyed(tag),
            }) => match mac.verify_slice(tag) {
                Ok(()) => Check::Valid(client.clone()),
                Err(_) => Check::Invalid,
            },
            Some(Entry {
                client,
                stored: Stored::Legacy(phc),
            }) => Check::Legacy(Legacy {
                client: client.clone(),
                phc: phc.clone(),
            }),
            // Unknown ids (and unusable records): the same HMAC and constant-time comparison
            // as a wrong secret, against a tag no secret is expected to have.
            Some(Entry {
                stored: Stored::Unusable,
                ..
            })
            | None => {
                let _ = mac.verify_slice(&[0u8; 32]);
                Check::Invalid
            }
        }
    }
}

/// The clients of a node serving PACT: the file as last read, re-read when it changes, and
/// the slots for argon2 checks of legacy records.
pub struct Clients {
    home: Home,
    current: Mutex<Option<Arc<Snapshot>>>,
    legacy_slots: Arc<tokio::sync::Semaphore>,
}

impl Clients {
    pub fn new(home: Home) -> Clients {
        Clients {
            home,
            current: Mutex::new(None),
            legacy_slots: Arc::new(tokio::sync::Semaphore::new(LEGACY_AT_ONCE)),
        }
    }

    /// The file as it is now: one `stat`, and a read only when it changed.
    fn snapshot(&self) -> Result<Arc<Snapshot>, ClientsError> {
        let path = clients_path(&self.home);
        let stamp = match fs::metadata(&path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path)(e)),
        };
        {
            let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(snapshot) = current.as_ref().filter(|s| s.stamp == stamp) {
                return Ok(snapshot.clone());
            }
        }
        let snapshot = Arc::new(Snapshot::read(&self.home, stamp)?);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Reads the clients file and its key, so a bad one is reported before serving.
    pub fn load(&self) -> Result<(), ClientsError> {
        self.snapshot().map(|_| ())
    }

    /// Checks credentials against keyed hashes (cheap; no argon2).
    pub fn check(&self, client_id: &str, secret: &str) -> Result<Check, ClientsError> {
        Ok(self.snapshot()?.check(client_id, secret))
    }

    /// One of the [`LEGACY_AT_ONCE`] slots for an argon2 check, or `None` when none freed up
    /// within a few seconds. Move it into the blocking task, so that a caller who goes away
    /// does not free the slot while argon2 still runs.
    pub async fn legacy_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(LEGACY_WAIT, self.legacy_slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Checks `secret` against a legacy argon2 record (slow: run it on the blocking pool,
    /// holding a [`Clients::legacy_slot`]). On success the record's hash becomes the keyed
    /// one; if that rewrite fails, the client still gets in and the failure is logged.
    pub fn verify_legacy(&self, legacy: &Legacy, secret: &str) -> Option<Arc<Client>> {
        let parsed = PasswordHash::new(&legacy.phc).ok()?;
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .ok()?;
        if let Err(e) = self.migrate(&legacy.client.client_id, &legacy.phc, secret) {
            tracing::warn!(
                client = %legacy.client.client_id,
                error = %e,
                "pact api: could not replace a client's argon2 hash with a keyed hash"
            );
        }
        Some(legacy.client.clone())
    }

    /// Replaces the argon2 hash `phc` of `client_id` with the keyed hash of `secret` (only if
    /// the record still holds that hash); no other record changes.
    fn migrate(&self, client_id: &str, phc: &str, secret: &str) -> Result<(), ClientsError> {
        let _lock = lock(&self.home)?;
        let mac = ensure_key(&self.home)?;
        let mut file = load(&self.home)?;
        let Some(record) = file
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id && c.hash == phc)
        else {
            return Ok(());
        };
        record.hash = keyed_hash(&mac, secret);
        save(&self.home, &file)?;
        tracing::info!(client = %client_id, "pact api: a client's argon2 hash replaced by a keyed hash");
        Ok(())
    }

    /// Keyed hashes computed so far under the current snapshot.
    #[cfg(test)]
    pub fn macs_computed(&self) -> usize {
        self.snapshot()
            .map(|s| s.macs.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(0)
    }
}

// === tokens ===

/// What a token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    Valid(Arc<Client>),
    Expired,
    Unknown,
}

/// Issued access tokens (256 random bits each), in memory.
#[derive(Default)]
pub struct Tokens {
    inner: Mutex<TokenMap>,
}

#[derive(Default)]
struct TokenMap {
    by_token: HashMap<[u8; 32], (Arc<Client>, Instant)>,
    /// Tokens in the order issued, with their expiry. A node issues every token with the same
    /// lifetime, so this is also expiry order, and dropping from the front is O(1) per token.
    order: VecDeque<([u8; 32], Instant)>,
}

impl Tokens {
    /// Issues a token for `client` that expires `ttl` after `now`.
    pub fn issue(
        &self,
        client: Arc<Client>,
        ttl: Duration,
        now: Instant,
    ) -> Result<String, ClientsError> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).map_err(|e| ClientsError::Random(e.to_string()))?;
        let expires = now + ttl;
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(oldest, exp)) = map.order.front() {
            if map.order.len() < MAX_TOKENS && now.saturating_duration_since(exp) < EXPIRED_MEMORY {
                break;
            }
            map.order.pop_front();
            map.by_token.remove(&oldest);
        }
        map.by_token.insert(token, (client, expires));
        map.order.push_back((token, expires));
        Ok(B64.encode(token))
    }

    /// Looks a token up at `now`.
    pub fn check(&self, token: &str, now: Instant) -> TokenState {
        let mut bytes = [0u8; 32];
        if token.len() != 43 || !matches!(B64.decode_slice(token, &mut bytes), Ok(32)) {
            return TokenState::Unknown;
        }
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match map.by_token.get(&bytes) {
            Some((client, exp)) if now < *exp => TokenState::Valid(client.clone()),
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}

/// Checks the clients file and its key of the PACT API that will serve from `home`: a loose
/// key or a damaged file is a configuration problem (exit 64), found before anything binds.
pub fn check(home: &Home) -> Result<(), NodeError> {
    Clients::new(home.clone()).load().map_err(|e| match e {
        ClientsError::LooseKey { path, mode } => {
            NodeError::Home(tanso_core::home::HomeError::LoosePermissions { path, mode })
        }
        other => NodeError::Home(tanso_core::home::HomeError::Config(
            tanso_core::config::ConfigError::Parse {
                path: home.dir.join(CLIENTS_FILE).display().to_string(),
                reason: other.to_string(),
            },
        )),
    })?;
    Ok(())
}
