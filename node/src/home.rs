//! A node's home directory: config, keys, TLS material, store and admin socket, and `init`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, RawConfig};
use crate::crypto::{CryptoError, NodeKey};
use crate::tls::{self, Identity, TlsError};

/// Errors of home handling.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} already holds a tanso node (config.toml exists); refusing to overwrite")]
    Exists(String),
    #[error("{0} is not a tanso home (no config.toml); run `tanso init` first")]
    Missing(String),
    #[error(
        "key file {path} is accessible by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    LoosePermissions { path: String, mode: u32 },
    #[error("key file {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: CryptoError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Paths inside a home.
#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("node.key")
    }
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("tls").join("cert.pem")
    }
    pub fn tls_key_path(&self) -> PathBuf {
        self.dir.join("tls").join("key.pem")
    }
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
    pub fn exists(&self) -> bool {
        self.config_path().exists()
    }

    /// Reads and validates the config.
    pub fn load_config(&self) -> Result<Config, HomeError> {
        let path = self.config_path();
        if !path.exists() {
            return Err(HomeError::Missing(self.dir.display().to_string()));
        }
        let text = read(&path)?;
        let shown = path.display().to_string();
        Ok(RawConfig::parse(&text, &shown)?.validate(&shown)?)
    }

    pub fn load_raw_config(&self) -> Result<RawConfig, HomeError> {
        let path = self.config_path();
        let text = read(&path)?;
        Ok(RawConfig::parse(&text, &path.display().to_string())?)
    }

    pub fn save_raw_config(&self, raw: &RawConfig) -> Result<(), HomeError> {
        write_atomic(&self.config_path(), raw.to_toml().as_bytes(), 0o644)
    }

    /// Loads the node key, refusing a file readable by group or others.
    pub fn load_key(&self) -> Result<NodeKey, HomeError> {
        let path = self.key_path();
        let text = read_private(&path)?;
        NodeKey::from_pem(&text).map_err(|source| HomeError::Key {
            path: path.display().to_string(),
            source,
        })
    }

    /// Loads the TLS identity (certificate and key; the key must be private).
    pub fn load_identity(&self) -> Result<Identity, HomeError> {
        let cert = read(&self.cert_path())?;
        let key = read_private(&self.tls_key_path())?;
        Ok(Identity::from_pem(&cert, &key)?)
    }

    /// Creates a home: config, ed25519 key, self-signed TLS certificate. The store is created
    /// on first open.
    pub fn init(&self, raw: &RawConfig, key_seed: &[u8; 32]) -> Result<Config, HomeError> {
        let shown = self.config_path().display().to_string();
        let config = raw.validate(&shown)?;
        if self.exists() {
            return Err(HomeError::Exists(self.dir.display().to_string()));
        }
        create_dir(&self.dir, 0o700)?;
        create_dir(&self.dir.join("tls"), 0o700)?;
        let key = NodeKey::from_seed(key_seed);
        let pem = key.to_pem().map_err(|source| HomeError::Key {
            path: self.key_path().display().to_string(),
            source,
        })?;
        write_atomic(&self.key_path(), pem.as_bytes(), 0o600)?;
        let cert = tls::self_signed(&raw.company_id)?;
        write_atomic(&self.cert_path(), cert.cert_pem.as_bytes(), 0o644)?;
        write_atomic(&self.tls_key_path(), cert.key_pem.as_bytes(), 0o600)?;
        // The config goes last: its presence marks a complete home.
        write_atomic(&self.config_path(), raw.to_toml().as_bytes(), 0o644)?;
        Ok(config)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<String, HomeError> {
    fs::read_to_string(path).map_err(io_err(path))
}

fn read_private(path: &Path) -> Result<String, HomeError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::LoosePermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    read(path)
}

fn create_dir(path: &Path, mode: u32) -> Result<(), HomeError> {
    fs::create_dir_all(path).map_err(io_err(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, with `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
