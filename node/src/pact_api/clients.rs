//! PACT OAuth clients (`<home>/pact-clients.json`, argon2 hashes of the secrets, mode 0600)
//! and the access tokens issued to them (in memory, with expiry).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::home::Home;

/// File name of the clients file in the home.
pub const CLIENTS_FILE: &str = "pact-clients.json";
/// Most live tokens kept at once (the oldest are dropped first).
const MAX_TOKENS: usize = 100_000;
/// How long an expired token is still recognised as expired (rather than unknown).
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

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
    #[error("secret hash: {0}")]
    Hash(String),
}

/// One client as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRecord {
    pub client_id: String,
    /// PHC string (argon2id) of the secret.
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientsError + '_ {
    move |source| ClientsError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn load(home: &Home) -> Result<ClientsFile, ClientsError> {
    let path = clients_path(home);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ClientsError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientsFile::default()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// The policy groups of every client issued to `company_id` (for decisions about a company
/// that is not calling right now, e.g. which footprints its PACT host is told about).
pub(crate) fn groups_of(home: &Home, company_id: &str) -> Result<Vec<String>, ClientsError> {
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
    crate::home::write_atomic(&path, &text, 0o600).map_err(|e| ClientsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// `n` random bytes, base64url.
pub(crate) fn random(n: usize) -> Result<String, ClientsError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| ClientsError::Random(e.to_string()))?;
    Ok(B64.encode(bytes))
}

fn hash_secret(secret: &str) -> Result<String, ClientsError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ClientsError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ClientsError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ClientsError::Hash(e.to_string()))
}

/// Adds a PACT client for `company_id`; returns (client id, secret). The secret is stored only
/// as an argon2id hash, so this is the one time it can be shown.
pub fn add_client(
    home: &Home,
    company_id: &str,
    groups: Vec<String>,
) -> Result<(String, String), ClientsError> {
    if !crate::ids::is_urn(company_id) {
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
    let mut file = load(home)?;
    let client_id = format!("tanso-{}", random(12)?);
    let secret = random(32)?;
    file.clients.push(ClientRecord {
        client_id: client_id.clone(),
        hash: hash_secret(&secret)?,
        company_id: company_id.to_string(),
        groups,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    save(home, &file)?;
    Ok((client_id, secret))
}

/// Checks a client's credentials (slow on purpose: argon2); `None` for an unknown client or
/// a wrong secret.
pub fn check_client(
    home: &Home,
    client_id: &str,
    secret: &str,
) -> Result<Option<Client>, ClientsError> {
    let file = load(home)?;
    let Some(record) = file.clients.iter().find(|c| c.client_id == client_id) else {
        // Same work for unknown clients, so timing does not tell which ids exist.
        let _ = hash_secret(secret);
        return Ok(None);
    };
    let Ok(parsed) = PasswordHash::new(&record.hash) else {
        return Ok(None);
    };
    Ok(Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
        .then(|| Client {
            client_id: record.client_id.clone(),
            company_id: record.company_id.clone(),
            groups: record.groups.clone(),
        }))
}

/// What a token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    Valid(Client),
    Expired,
    Unknown,
}

/// Issued access tokens (256 random bits each), in memory.
#[derive(Default)]
pub struct Tokens {
    inner: Mutex<HashMap<String, (Client, Instant)>>,
}

impl Tokens {
    /// Issues a token for `client` that expires after `ttl`.
    pub fn issue(&self, client: Client, ttl: Duration) -> Result<String, ClientsError> {
        let token = random(32)?;
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, exp)| now.saturating_duration_since(*exp) < EXPIRED_MEMORY);
        if map.len() >= MAX_TOKENS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, exp))| *exp)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(token.clone(), (client, now + ttl));
        Ok(token)
    }

    /// Looks a token up.
    pub fn check(&self, token: &str) -> TokenState {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(token) {
            Some((client, exp)) if Instant::now() < *exp => TokenState::Valid(client.clone()),
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}
