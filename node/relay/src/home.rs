//! The relay's home: `config.toml`, the relay key and the trusted directory cards; nothing else.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use tanso_core::crypto::NodeKey;

use tanso_core::relay::RelayError;

/// `config.toml` of a relay, as written by `tanso relay init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelayConfig {
    /// The relay's display name (on its card).
    pub name: String,
    /// Where nodes and clients connect ("ip:port").
    pub listen: String,
    /// The endpoint on the card; defaults to the bound listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Most concurrent relayed sessions to one node.
    #[serde(default = "default_max_sessions_per_node")]
    pub max_sessions_per_node: usize,
    /// Most bytes per second relayed to and from one node (both directions together);
    /// 0 means no limit. A node over its rate is slowed down (backpressure), never dropped.
    #[serde(default = "default_max_bytes_per_sec_per_node")]
    pub max_bytes_per_sec_per_node: u64,
    /// Most concurrent TCP connections (registered, data and client together).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How often the revocation status list of each trusted directory is refreshed, in seconds.
    #[serde(default = "default_status_refresh_secs")]
    pub status_refresh_secs: u64,
    /// "text" (default) or "json".
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` over plain HTTP ("ip:port");
    /// unset: not served. Counts only, no company ids: bind it to a private interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

fn default_max_sessions_per_node() -> usize {
    64
}
fn default_max_bytes_per_sec_per_node() -> u64 {
    256 * 1024 * 1024
}
fn default_max_connections() -> usize {
    4096
}
fn default_status_refresh_secs() -> u64 {
    60
}
fn default_log_format() -> String {
    "text".into()
}

impl RawRelayConfig {
    /// A config with defaults for everything but the name and listen address.
    pub fn new(name: &str, listen: &str) -> RawRelayConfig {
        RawRelayConfig {
            name: name.to_string(),
            listen: listen.to_string(),
            advertise: None,
            max_sessions_per_node: default_max_sessions_per_node(),
            max_bytes_per_sec_per_node: default_max_bytes_per_sec_per_node(),
            max_connections: default_max_connections(),
            status_refresh_secs: default_status_refresh_secs(),
            log_format: default_log_format(),
            metrics_listen: None,
        }
    }

    /// Checks every key; the error names the key and what is wrong.
    pub fn validate(&self) -> Result<RelayConfig, RelayError> {
        let invalid = |key: &'static str, reason: String| RelayError::Config { key, reason };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|e| invalid("listen", format!("{:?} is not ip:port: {e}", self.listen)))?;
        if let Some(a) = &self.advertise
            && (a.is_empty() || !a.contains(':'))
        {
            return Err(invalid("advertise", format!("{a:?} is not host:port")));
        }
        if self.max_sessions_per_node == 0 {
            return Err(invalid(
                "max_sessions_per_node",
                "must be at least 1".into(),
            ));
        }
        if self.max_connections < 2 {
            return Err(invalid("max_connections", "must be at least 2".into()));
        }
        if self.status_refresh_secs == 0 {
            return Err(invalid("status_refresh_secs", "must be at least 1".into()));
        }
        let log_json = match self.log_format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(invalid(
                    "log_format",
                    format!("{other:?} is not \"text\" or \"json\""),
                ));
            }
        };
        let metrics_listen = match &self.metrics_listen {
            None => None,
            Some(m) => Some(
                m.parse::<SocketAddr>()
                    .map_err(|e| invalid("metrics_listen", format!("{m:?} is not ip:port: {e}")))?,
            ),
        };
        if metrics_listen
            .is_some_and(|m| m.port() != 0 && m.port() == listen.port() && m.ip() == listen.ip())
        {
            return Err(invalid(
                "metrics_listen",
                format!("{} is the relay's own listen address", self.listen),
            ));
        }
        Ok(RelayConfig {
            name: self.name.clone(),
            listen,
            advertise: self.advertise.clone(),
            max_sessions_per_node: self.max_sessions_per_node,
            max_bytes_per_sec_per_node: self.max_bytes_per_sec_per_node,
            max_connections: self.max_connections,
            status_refresh: std::time::Duration::from_secs(self.status_refresh_secs),
            log_json,
            metrics_listen,
        })
    }
}

/// A validated relay configuration.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub advertise: Option<String>,
    pub max_sessions_per_node: usize,
    pub max_bytes_per_sec_per_node: u64,
    pub max_connections: usize,
    pub status_refresh: std::time::Duration,
    pub log_json: bool,
    pub metrics_listen: Option<SocketAddr>,
}

/// Paths inside a relay home.
#[derive(Debug, Clone)]
pub struct RelayHome {
    pub dir: PathBuf,
}

impl RelayHome {
    pub fn new(dir: impl Into<PathBuf>) -> RelayHome {
        RelayHome { dir: dir.into() }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("relay.key")
    }
    pub fn directories_dir(&self) -> PathBuf {
        self.dir.join("directories")
    }
    /// Where `serve` writes the bound address (so tests and scripts can use port 0).
    pub fn bound_path(&self) -> PathBuf {
        self.dir.join("bound-address")
    }

    /// Creates a relay home: config and key. Refuses to overwrite one.
    pub fn init(
        &self,
        raw: &RawRelayConfig,
        key_seed: &[u8; 32],
    ) -> Result<RelayConfig, RelayError> {
        let config = raw.validate()?;
        if self.config_path().exists() {
            return Err(RelayError::Exists(self.dir.display().to_string()));
        }
        create_dir(&self.dir)?;
        create_dir(&self.directories_dir())?;
        let pem = NodeKey::from_seed(key_seed)
            .to_pem()
            .map_err(|e| RelayError::Key(e.to_string()))?;
        write(&self.key_path(), pem.as_bytes(), 0o600)?;
        let text = toml::to_string(raw).map_err(|e| RelayError::Key(e.to_string()))?;
        write(&self.config_path(), text.as_bytes(), 0o644)?;
        Ok(config)
    }

    /// Reads and validates the config.
    pub fn load_config(&self) -> Result<RelayConfig, RelayError> {
        let path = self.config_path();
        if !path.exists() {
            return Err(RelayError::Missing(self.dir.display().to_string()));
        }
        let text = read(&path)?;
        let raw: RawRelayConfig = toml::from_str(&text).map_err(|e| RelayError::ConfigParse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        raw.validate()
    }

    /// Loads the relay key, refusing a file readable by group or others.
    pub fn load_key(&self) -> Result<NodeKey, RelayError> {
        let path = self.key_path();
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(RelayError::Key(format!(
                "{} is accessible by group or others (mode {mode:o}); run `chmod 600` on it",
                path.display()
            )));
        }
        NodeKey::from_pem(&read(&path)?)
            .map_err(|e| RelayError::Key(format!("{}: {e}", path.display())))
    }

    /// Writes the bound address file.
    pub fn write_bound(&self, addr: SocketAddr) -> Result<(), RelayError> {
        write(&self.bound_path(), addr.to_string().as_bytes(), 0o644)
    }

    /// Reads every trusted directory card file (JSON text), in name order.
    pub fn directory_card_texts(&self) -> Result<Vec<(PathBuf, String)>, RelayError> {
        let dir = self.directories_dir();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = read(&path)?;
                out.push((path, text));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stores a trusted directory card under a name derived from its association id.
    pub fn save_directory_card(
        &self,
        association_id: &str,
        text: &str,
    ) -> Result<PathBuf, RelayError> {
        create_dir(&self.directories_dir())?;
        let name = hex::encode(&tanso_core::crypto::sha256(association_id.as_bytes())[..12]);
        let path = self.directories_dir().join(format!("{name}.json"));
        write(&path, text.as_bytes(), 0o644)?;
        Ok(path)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RelayError + '_ {
    move |source| RelayError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<String, RelayError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

fn create_dir(path: &Path) -> Result<(), RelayError> {
    std::fs::create_dir_all(path).map_err(io_err(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io_err(path))
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), RelayError> {
    tanso_core::home::write_atomic(path, bytes, mode).map_err(|e| RelayError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}
