//! Dashboard users (`<home>/dashboard-users.json`, argon2 hashes, mode 0600), sessions and
//! one-time login tokens (both in memory, with expiry).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::DashboardError;
use tanso_core::home::Home;

/// File name of the users file in the home.
pub const USERS_FILE: &str = "dashboard-users.json";
/// How long a session lives after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a one-time login token may wait to be used.
pub const LOGIN_TOKEN_TTL: Duration = Duration::from_secs(120);
/// Most sessions kept at once (the oldest are dropped first).
const MAX_SESSIONS: usize = 10_000;

/// What a dashboard user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including actions that change the node (deprecating a footprint).
    Admin,
    /// Read-only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = DashboardError;

    fn from_str(s: &str) -> Result<Role, DashboardError> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(DashboardError::BadRole(other.to_string())),
        }
    }
}

/// One user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    /// PHC string (argon2id).
    pub hash: String,
    pub created_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserRecord>,
}

fn users_path(home: &Home) -> PathBuf {
    home.dir.join(USERS_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DashboardError + '_ {
    move |source| DashboardError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn load_users(home: &Home) -> Result<UsersFile, DashboardError> {
    let path = users_path(home);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| DashboardError::UsersFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Writes the users file atomically (temporary file + rename), mode 0600.
fn save_users(home: &Home, users: &UsersFile) -> Result<(), DashboardError> {
    let path = users_path(home);
    let mut text = serde_json::to_vec_pretty(users).map_err(|e| DashboardError::UsersFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    // Temporary file, fsync, rename, directory fsync: the home's one way to write a file.
    tanso_core::home::write_atomic(&path, &text, 0o600).map_err(|e| DashboardError::UsersFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// 256 random bits, base64url.
pub fn random_token() -> Result<String, DashboardError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DashboardError::Random(e.to_string()))?;
    Ok(B64.encode(bytes))
}

fn hash_password(password: &str) -> Result<String, DashboardError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DashboardError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DashboardError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DashboardError::Hash(e.to_string()))
}

/// Adds a dashboard user with a generated password, which is returned (and stored only as an
/// argon2id hash). Fails if the user exists.
pub fn add_user(home: &Home, name: &str, role: Role) -> Result<String, DashboardError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(DashboardError::BadName(name.to_string()));
    }
    if !home.exists() {
        return Err(DashboardError::NoHome(home.dir.display().to_string()));
    }
    let mut users = load_users(home)?;
    if users.users.iter().any(|u| u.name == name) {
        return Err(DashboardError::UserExists(name.to_string()));
    }
    // 144 random bits, 24 characters.
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| DashboardError::Random(e.to_string()))?;
    let password = B64.encode(bytes);
    users.users.push(UserRecord {
        name: name.to_string(),
        role,
        hash: hash_password(&password)?,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    save_users(home, &users)?;
    Ok(password)
}

/// Checks a password (slow on purpose: argon2); `None` for an unknown user or a wrong password.
pub fn check_password(
    home: &Home,
    name: &str,
    password: &str,
) -> Result<Option<(String, Role)>, DashboardError> {
    let users = load_users(home)?;
    let Some(user) = users.users.iter().find(|u| u.name == name) else {
        // Same work for unknown users, so timing does not tell which names exist.
        let _ = hash_password(password);
        return Ok(None);
    };
    let Ok(parsed) = PasswordHash::new(&user.hash) else {
        return Ok(None);
    };
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        .then(|| (user.name.clone(), user.role)))
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    expires: Instant,
}

/// Sessions and one-time login tokens, in memory (a restart logs everyone out); they expire
/// by the node's clock.
#[derive(Default)]
pub struct Sessions {
    clock: tanso_core::clock::Clock,
    sessions: Mutex<HashMap<String, Session>>,
    login_tokens: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// No sessions yet; they expire by `clock`.
    pub fn new(clock: tanso_core::clock::Clock) -> Sessions {
        Sessions {
            clock,
            ..Sessions::default()
        }
    }

    /// Starts a session; returns its cookie value.
    pub fn create(&self, user: &str, role: Role) -> Result<String, DashboardError> {
        let token = random_token()?;
        let now = self.clock.instant();
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                role,
                expires: now + SESSION_TTL,
            },
        );
        Ok(token)
    }

    /// The live session for a cookie value.
    pub fn get(&self, token: &str) -> Option<Session> {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token)
            .filter(|s| s.expires > self.clock.instant())
            .cloned()
    }

    pub fn remove(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// A one-time token that `/login/token/{token}` exchanges for a session of `user`.
    pub fn create_login_token(&self, user: &str, role: Role) -> Result<String, DashboardError> {
        let token = random_token()?;
        let now = self.clock.instant();
        let mut map = self.login_tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.expires > now);
        if map.len() >= 1000 {
            return Err(DashboardError::TooManyTokens);
        }
        map.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                role,
                expires: now + LOGIN_TOKEN_TTL,
            },
        );
        Ok(token)
    }

    /// Uses up a login token.
    pub fn redeem_login_token(&self, token: &str) -> Option<Session> {
        self.login_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token)
            .filter(|s| s.expires > self.clock.instant())
    }
}
