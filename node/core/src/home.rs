//! A node's home directory: config, keys, TLS material, store and admin socket, and `init`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, ConfigError, RawConfig};
use crate::crypto::{CryptoError, NodeKey};
use crate::keys::PreviousKey;
use crate::seal::{KeySealer, SealError};
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
    #[error(
        "home directory {path} is writable by group or others (mode {mode:o}), so they could replace its keys or config; run `chmod go-w {path}`"
    )]
    LooseHome { path: String, mode: u32 },
    #[error("key file {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: CryptoError,
    },
    #[error(
        "key file {0} is encrypted and no passphrase was given: set TANSO_KEY_PASSPHRASE or pass --passphrase-file"
    )]
    PassphraseMissing(String),
    #[error(
        "key file {0} is sealed under a host key-encryption key; open it through its host (`tanso host`)"
    )]
    SealedWithoutSealer(String),
    #[error("key file {path}: {source}")]
    Seal {
        path: String,
        #[source]
        source: SealError,
    },
    #[error("key file {0} is already sealed under a host key-encryption key")]
    AlreadySealed(String),
    #[error("{0}: no key-encryption key was given to seal the node key with")]
    NoSealer(String),
    #[error("key history {path}: {reason}")]
    KeyHistory { path: String, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl HomeError {
    /// Whether this is a problem of the home's configuration or files (a bad config, loose
    /// permissions) that restarting cannot fix: the binary exits 64 for these.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            HomeError::Config(_) | HomeError::LoosePermissions { .. } | HomeError::LooseHome { .. }
        )
    }
}

/// The environment variable holding the passphrase of an encrypted node key.
pub const PASSPHRASE_ENV: &str = "TANSO_KEY_PASSPHRASE";

/// A key passphrase, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct Passphrase(std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>);

impl Passphrase {
    pub fn new(bytes: Vec<u8>) -> Passphrase {
        Passphrase(std::sync::Arc::new(zeroize::Zeroizing::new(bytes)))
    }
    /// Reads a passphrase file (one trailing newline is not part of the passphrase).
    pub fn from_file(path: &Path) -> Result<Passphrase, HomeError> {
        let mut bytes = fs::read(path).map_err(io_err(path))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Ok(Passphrase::new(bytes))
    }
    /// The passphrase in `TANSO_KEY_PASSPHRASE`, if set.
    pub fn from_env() -> Option<Passphrase> {
        std::env::var_os(PASSPHRASE_ENV).map(|v| Passphrase::new(v.into_encoded_bytes()))
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// The passphrase's bytes (to derive a key from; never to print).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl HomeError {
    /// Whether the key could not be unlocked (missing or wrong passphrase).
    pub fn is_locked_key(&self) -> bool {
        matches!(
            self,
            HomeError::PassphraseMissing(_)
                | HomeError::SealedWithoutSealer(_)
                | HomeError::Seal {
                    source: SealError::Unseal { .. },
                    ..
                }
                | HomeError::Key {
                    source: CryptoError::WrongPassphrase,
                    ..
                }
        )
    }
}

/// The first line of a node key file sealed under a host key-encryption key.
pub const SEALED_KEY_BEGIN: &str = "-----BEGIN TANSO SEALED KEY-----";
/// The last line of a sealed node key file.
pub const SEALED_KEY_END: &str = "-----END TANSO SEALED KEY-----";

/// How the node key file is protected at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyProtection {
    /// PKCS#8 PEM, protected by the file's mode (0600) only.
    Plain,
    /// PKCS#8 PEM encrypted under a passphrase (PBES2).
    Passphrase,
    /// Sealed under a host key-encryption key ([`crate::seal`]).
    Sealed,
}

/// How [`Home::init_opts`] creates a home.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions {
    /// How the new node key is stored: [`KeyProtection::Passphrase`] needs the home's
    /// passphrase, [`KeyProtection::Sealed`] the home's sealer ([`Home::with_sealer`]).
    pub key: KeyProtection,
    /// Whether to create the home's own TLS identity (a self-signed certificate). A tenant
    /// of a host has none: it shares the host's certificate.
    pub tls_identity: bool,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            key: KeyProtection::Plain,
            tls_identity: true,
        }
    }
}

/// Paths inside a home.
#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
    /// The passphrase of an encrypted node key; when `None`, `TANSO_KEY_PASSPHRASE` is read.
    passphrase: Option<Passphrase>,
    /// The host's sealer, for a node key sealed under a host key-encryption key.
    sealer: Option<Arc<dyn KeySealer>>,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home {
            dir: dir.into(),
            passphrase: None,
            sealer: None,
        }
    }
    /// The same home, unlocking its key with `passphrase`.
    pub fn with_passphrase(mut self, passphrase: Option<Passphrase>) -> Home {
        self.passphrase = passphrase;
        self
    }
    /// The same home, opening a sealed node key with `sealer`, and sealing the keys it
    /// stores from now on (rotations, [`Home::seal_key`]).
    pub fn with_sealer(mut self, sealer: Arc<dyn KeySealer>) -> Home {
        self.sealer = Some(sealer);
        self
    }
    /// The sealer this home was given, if any.
    pub fn sealer(&self) -> Option<&Arc<dyn KeySealer>> {
        self.sealer.as_ref()
    }
    fn passphrase(&self) -> Option<Passphrase> {
        self.passphrase.clone().or_else(Passphrase::from_env)
    }
    /// Retired public keys with their rotation statements, oldest first (public).
    pub fn key_history_path(&self) -> PathBuf {
        self.dir.join("key-history.json")
    }
    /// The successor key while a rotation is being written.
    pub fn next_key_path(&self) -> PathBuf {
        self.dir.join("node.key.next")
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
    /// Whether the home holds its own TLS identity (certificate and key); a host's tenant
    /// has none and is served with the host's.
    pub fn has_identity(&self) -> bool {
        self.cert_path().exists() && self.tls_key_path().exists()
    }

    /// Creates the home's own TLS identity (a self-signed certificate for its company),
    /// refusing to replace one that exists.
    pub fn create_identity(&self) -> Result<(), HomeError> {
        if self.cert_path().exists() || self.tls_key_path().exists() {
            return Err(HomeError::Io {
                path: self.cert_path().display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a TLS identity exists; refusing to replace it",
                ),
            });
        }
        let company_id = self.load_raw_config()?.company_id;
        self.write_identity(&company_id)
    }

    fn write_identity(&self, company_id: &str) -> Result<(), HomeError> {
        create_dir(&self.dir.join("tls"), 0o700)?;
        let cert = tls::self_signed(company_id)?;
        write_atomic(&self.cert_path(), cert.cert_pem.as_bytes(), 0o644)?;
        write_atomic(&self.tls_key_path(), cert.key_pem.as_bytes(), 0o600)
    }

    /// Reads and validates the config.
    pub fn load_config(&self) -> Result<Config, HomeError> {
        let path = self.config_path();
        if !path.exists() {
            return Err(HomeError::Missing(self.dir.display().to_string()));
        }
        check_home_dir(&self.dir)?;
        let shown = path.display().to_string();
        let text = read_config_text(&path, &shown)?;
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

    /// Loads the node key, refusing a file readable by group or others; an encrypted key is
    /// decrypted with the home's passphrase (or `TANSO_KEY_PASSPHRASE`).
    pub fn load_key(&self) -> Result<NodeKey, HomeError> {
        self.load_key_at(&self.key_path())
    }

    fn load_key_at(&self, path: &Path) -> Result<NodeKey, HomeError> {
        let text = read_private(path)?;
        let key_err = |source| HomeError::Key {
            path: path.display().to_string(),
            source,
        };
        if pem_is_sealed(&text) {
            let shown = path.display().to_string();
            let sealer = self
                .sealer
                .as_ref()
                .ok_or_else(|| HomeError::SealedWithoutSealer(shown.clone()))?;
            let sealed = unwrap_sealed_pem(&text).map_err(|source| HomeError::Seal {
                path: shown.clone(),
                source,
            })?;
            let context = crate::seal::node_key_context(&self.load_raw_config()?.company_id);
            let plain = sealer
                .unseal(&context, &sealed)
                .map_err(|source| HomeError::Seal {
                    path: shown.clone(),
                    source,
                })?;
            let pem =
                std::str::from_utf8(&plain).map_err(|_| key_err(CryptoError::BadPrivateKey))?;
            NodeKey::from_pem(pem).map_err(key_err)
        } else if NodeKey::pem_is_encrypted(&text) {
            let pass = self
                .passphrase()
                .ok_or_else(|| HomeError::PassphraseMissing(path.display().to_string()))?;
            NodeKey::from_encrypted_pem(&text, pass.bytes()).map_err(key_err)
        } else {
            NodeKey::from_pem(&text).map_err(key_err)
        }
    }

    /// Whether the node key file is passphrase-encrypted.
    pub fn key_is_encrypted(&self) -> Result<bool, HomeError> {
        Ok(self.key_protection()? == KeyProtection::Passphrase)
    }

    /// How the node key file is protected at rest.
    pub fn key_protection(&self) -> Result<KeyProtection, HomeError> {
        let text = read_private(&self.key_path())?;
        Ok(if pem_is_sealed(&text) {
            KeyProtection::Sealed
        } else if NodeKey::pem_is_encrypted(&text) {
            KeyProtection::Passphrase
        } else {
            KeyProtection::Plain
        })
    }

    /// Loads the node key and its history, checked as a chain ending at the key. Completes a
    /// rotation interrupted after its statement was written (the successor key is then
    /// `node.key.next`) and drops a successor whose statement never became durable.
    pub fn load_keys(&self, company_id: &str) -> Result<(NodeKey, Vec<PreviousKey>), HomeError> {
        let history = self.load_key_history()?;
        let mut key = self.load_key()?;
        let next = self.next_key_path();
        let named = history.last().map(|p| p.rotation.new_key_id.clone());
        if let Some(named) = named.filter(|n| n != key.key_id()) {
            let successor = self.load_key_at(&next).map_err(|_| HomeError::KeyHistory {
                path: self.key_history_path().display().to_string(),
                reason: format!(
                    "the last rotation names key {named}, but node.key holds {} and no successor key file is left",
                    key.key_id()
                ),
            })?;
            if successor.key_id() != named {
                return Err(HomeError::KeyHistory {
                    path: self.key_history_path().display().to_string(),
                    reason: format!(
                        "the last rotation names key {named}, but node.key.next holds {}",
                        successor.key_id()
                    ),
                });
            }
            fs::rename(&next, self.key_path()).map_err(io_err(&next))?;
            sync_dir(&self.dir);
            key = successor;
        } else if next.exists() {
            // A rotation that failed before its statement was durable: never announced.
            fs::remove_file(&next).map_err(io_err(&next))?;
        }
        crate::keys::check_chain(company_id, &history, &base64_key(&key), key.key_id()).map_err(
            |e| HomeError::KeyHistory {
                path: self.key_history_path().display().to_string(),
                reason: e.to_string(),
            },
        )?;
        Ok((key, history))
    }

    fn load_key_history(&self) -> Result<Vec<PreviousKey>, HomeError> {
        let path = self.key_history_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&read(&path)?).map_err(|e| HomeError::KeyHistory {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Makes a rotation durable: the successor key goes to `node.key.next` (encrypted when
    /// the current key file is), then the history naming it, then the successor replaces
    /// `node.key`. A crash at any point leaves a home [`Home::load_keys`] opens with either
    /// the old key (nothing announced) or the new one.
    pub fn store_rotation(
        &self,
        successor: &NodeKey,
        history: &[PreviousKey],
    ) -> Result<(), HomeError> {
        // A home with a sealer seals its successor key; otherwise the successor is stored
        // as the current key is (passphrase-encrypted or plain).
        let protection = if self.sealer.is_some() {
            KeyProtection::Sealed
        } else {
            self.key_protection()?
        };
        let company_id = match protection {
            KeyProtection::Sealed => self.load_raw_config()?.company_id,
            _ => String::new(),
        };
        let pem = self.key_pem(successor, protection, &company_id)?;
        let next = self.next_key_path();
        write_atomic(&next, pem.as_bytes(), 0o600)?;
        let json = serde_json::to_vec_pretty(history).map_err(|e| HomeError::KeyHistory {
            path: self.key_history_path().display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.key_history_path(), &json, 0o644)?;
        fs::rename(&next, self.key_path()).map_err(io_err(&next))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Encrypts the (plaintext) node key under `passphrase`, in place.
    pub fn encrypt_key(&self, passphrase: &Passphrase) -> Result<String, HomeError> {
        let path = self.key_path();
        match self.key_protection()? {
            KeyProtection::Plain => {}
            KeyProtection::Passphrase => {
                return Err(HomeError::Key {
                    path: path.display().to_string(),
                    source: CryptoError::AlreadyEncrypted,
                });
            }
            KeyProtection::Sealed => {
                return Err(HomeError::AlreadySealed(path.display().to_string()));
            }
        }
        let key = self.load_key()?;
        let unlocked = self.clone().with_passphrase(Some(passphrase.clone()));
        let pem = unlocked.key_pem(&key, KeyProtection::Passphrase, "")?;
        write_atomic(&path, pem.as_bytes(), 0o600)?;
        Ok(key.key_id().to_string())
    }

    /// Seals the (plaintext or passphrase-encrypted) node key under the home's sealer, in
    /// place (atomic write, mode 0600). Returns the key id.
    pub fn seal_key(&self) -> Result<String, HomeError> {
        let path = self.key_path();
        if self.key_protection()? == KeyProtection::Sealed {
            return Err(HomeError::AlreadySealed(path.display().to_string()));
        }
        let company_id = self.load_raw_config()?.company_id;
        let key = self.load_key()?;
        let pem = self.key_pem(&key, KeyProtection::Sealed, &company_id)?;
        write_atomic(&path, pem.as_bytes(), 0o600)?;
        Ok(key.key_id().to_string())
    }

    /// Writes `pem` (a node key file's text, as [`Home::key_pem_for`] or a bundle made it)
    /// as the node key, atomically with mode 0600.
    pub fn write_key_file(&self, pem: &str) -> Result<(), HomeError> {
        write_atomic(&self.key_path(), pem.as_bytes(), 0o600)
    }

    /// The text to store `key` of `company_id` as, protected as `protection` says (with
    /// the home's passphrase or sealer).
    pub fn key_pem_for(
        &self,
        key: &NodeKey,
        protection: KeyProtection,
        company_id: &str,
    ) -> Result<zeroize::Zeroizing<String>, HomeError> {
        self.key_pem(key, protection, company_id)
            .map(zeroize::Zeroizing::new)
    }

    /// The text to store `key` as: plain PKCS#8, encrypted under the home's passphrase, or
    /// sealed under the home's sealer for `company_id`.
    fn key_pem(
        &self,
        key: &NodeKey,
        protection: KeyProtection,
        company_id: &str,
    ) -> Result<String, HomeError> {
        let path = self.key_path().display().to_string();
        match protection {
            KeyProtection::Passphrase => {
                let pass = self
                    .passphrase()
                    .ok_or_else(|| HomeError::PassphraseMissing(path.clone()))?;
                if pass.bytes().is_empty() {
                    return Err(HomeError::PassphraseMissing(path));
                }
                key.to_encrypted_pem(pass.bytes())
                    .map_err(|source| HomeError::Key { path, source })
            }
            KeyProtection::Plain => key
                .to_pem()
                .map_err(|source| HomeError::Key { path, source }),
            KeyProtection::Sealed => {
                let sealer = self
                    .sealer
                    .as_ref()
                    .ok_or_else(|| HomeError::NoSealer(path.clone()))?;
                let plain =
                    zeroize::Zeroizing::new(key.to_pem().map_err(|source| HomeError::Key {
                        path: path.clone(),
                        source,
                    })?);
                let sealed = sealer
                    .seal(&crate::seal::node_key_context(company_id), plain.as_bytes())
                    .map_err(|source| HomeError::Seal { path, source })?;
                Ok(sealed_pem(&sealed))
            }
        }
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
        self.init_with(raw, key_seed, false)
    }

    /// [`Home::init`], with the key encrypted under the home's passphrase when `encrypt_key`.
    pub fn init_with(
        &self,
        raw: &RawConfig,
        key_seed: &[u8; 32],
        encrypt_key: bool,
    ) -> Result<Config, HomeError> {
        let key = if encrypt_key {
            KeyProtection::Passphrase
        } else {
            KeyProtection::Plain
        };
        self.init_opts(
            raw,
            key_seed,
            InitOptions {
                key,
                tls_identity: true,
            },
        )
    }

    /// Creates a home with its key protected as `options.key` says (a sealed key needs
    /// [`Home::with_sealer`]) and, when `options.tls_identity`, its own TLS certificate.
    pub fn init_opts(
        &self,
        raw: &RawConfig,
        key_seed: &[u8; 32],
        options: InitOptions,
    ) -> Result<Config, HomeError> {
        match options.key {
            KeyProtection::Passphrase if self.passphrase().is_none_or(|p| p.bytes().is_empty()) => {
                return Err(HomeError::PassphraseMissing(
                    self.key_path().display().to_string(),
                ));
            }
            KeyProtection::Sealed if self.sealer.is_none() => {
                return Err(HomeError::NoSealer(self.key_path().display().to_string()));
            }
            _ => {}
        }
        let shown = self.config_path().display().to_string();
        let config = raw.validate(&shown)?;
        if self.exists() {
            return Err(HomeError::Exists(self.dir.display().to_string()));
        }
        create_dir(&self.dir, 0o700)?;
        let key = NodeKey::from_seed(key_seed);
        let pem = self.key_pem(&key, options.key, &raw.company_id)?;
        write_atomic(&self.key_path(), pem.as_bytes(), 0o600)?;
        if options.tls_identity {
            self.write_identity(&raw.company_id)?;
        }
        // The config goes last: its presence marks a complete home.
        write_atomic(&self.config_path(), raw.to_toml().as_bytes(), 0o644)?;
        Ok(config)
    }
}

/// Whether a node key file's text is sealed under a host key-encryption key.
pub fn pem_is_sealed(text: &str) -> bool {
    text.trim_start().starts_with(SEALED_KEY_BEGIN)
}

/// A sealed key as a PEM-like text block (base64 lines of 64 characters).
fn sealed_pem(sealed: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(sealed);
    let mut out = String::with_capacity(body.len() + 80);
    out.push_str(SEALED_KEY_BEGIN);
    out.push('\n');
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str(SEALED_KEY_END);
    out.push('\n');
    out
}

/// The sealed bytes inside a sealed key file's text.
fn unwrap_sealed_pem(text: &str) -> Result<Vec<u8>, SealError> {
    use base64::Engine as _;
    let inner = text
        .trim()
        .strip_prefix(SEALED_KEY_BEGIN)
        .and_then(|rest| rest.strip_suffix(SEALED_KEY_END))
        .ok_or_else(|| SealError::Malformed(format!("no {SEALED_KEY_END} line")))?;
    let body: String = inner.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| SealError::Malformed(format!("not base64: {e}")))
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

/// Reads a config file as text: bytes that are not UTF-8 are a config problem (naming the
/// line and column of the first bad byte), not an IO error.
pub fn read_config_text(path: &Path, shown: &str) -> Result<String, HomeError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        HomeError::Config(crate::config::ConfigError::Parse {
            path: shown.to_string(),
            reason: format!("line {line}, column {column}: the file is not valid UTF-8"),
        })
    })
}

/// Refuses a home (node, directory or relay) that group or others may write to: whoever can
/// replace files there can replace the keys and the config.
pub fn check_home_dir(dir: &Path) -> Result<(), HomeError> {
    let meta = fs::metadata(dir).map_err(io_err(dir))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(HomeError::LooseHome {
            path: dir.display().to_string(),
            mode,
        });
    }
    Ok(())
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

/// Writes a run-time file others poll for (a bound address) so that a reader finds either
/// no file or all of it, never a part: a temporary file in the same directory, renamed
/// over `path`. Mode 0644; not fsynced, as such files mean nothing after a crash.
pub fn publish_runtime_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
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
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn base64_key(key: &NodeKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_key_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRotation;

    const COMPANY: &str = "urn:tanso:company:acme";

    fn key(n: u8) -> NodeKey {
        NodeKey::from_seed(&[n; 32])
    }

    fn home_with(k: &NodeKey) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        write_atomic(&home.key_path(), k.to_pem().unwrap().as_bytes(), 0o600).unwrap();
        (dir, home)
    }

    fn history(old: &NodeKey, new: &NodeKey) -> Vec<PreviousKey> {
        let at = "2026-01-01T00:00:00.000Z";
        vec![PreviousKey {
            public_key: base64_key(old),
            key_id: old.key_id().to_string(),
            retired_at: at.into(),
            rotation: KeyRotation::sign(old, COMPANY, new, at).unwrap(),
        }]
    }

    #[test]
    fn a_stored_rotation_opens_with_the_new_key_and_its_history() {
        let (k1, k2) = (key(1), key(2));
        let (_dir, home) = home_with(&k1);
        home.store_rotation(&k2, &history(&k1, &k2)).unwrap();
        let (k, h) = home.load_keys(COMPANY).unwrap();
        assert_eq!(k.key_id(), k2.key_id());
        assert_eq!(h.len(), 1);
        assert!(!home.next_key_path().exists());
        let mode = fs::metadata(home.key_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_rotation_interrupted_after_its_statement_is_completed_on_open() {
        let (k1, k2) = (key(1), key(2));
        let (_dir, home) = home_with(&k1);
        write_atomic(
            &home.next_key_path(),
            k2.to_pem().unwrap().as_bytes(),
            0o600,
        )
        .unwrap();
        let json = serde_json::to_vec(&history(&k1, &k2)).unwrap();
        write_atomic(&home.key_history_path(), &json, 0o644).unwrap();
        let (k, _) = home.load_keys(COMPANY).unwrap();
        assert_eq!(k.key_id(), k2.key_id());
        assert_eq!(home.load_key().unwrap().key_id(), k2.key_id());
        assert!(!home.next_key_path().exists());
    }

    #[test]
    fn a_rotation_interrupted_before_its_statement_is_dropped_on_open() {
        let (k1, k2) = (key(1), key(2));
        let (_dir, home) = home_with(&k1);
        write_atomic(
            &home.next_key_path(),
            k2.to_pem().unwrap().as_bytes(),
            0o600,
        )
        .unwrap();
        let (k, h) = home.load_keys(COMPANY).unwrap();
        assert_eq!(k.key_id(), k1.key_id());
        assert!(h.is_empty());
        assert!(!home.next_key_path().exists());
    }

    #[test]
    fn a_history_that_does_not_end_at_the_key_is_refused() {
        let (k1, k2) = (key(1), key(2));
        let (_dir, home) = home_with(&k1);
        let json = serde_json::to_vec(&history(&k1, &k2)).unwrap();
        write_atomic(&home.key_history_path(), &json, 0o644).unwrap();
        let err = home.load_keys(COMPANY).unwrap_err();
        assert!(matches!(err, HomeError::KeyHistory { .. }), "{err}");
    }

    #[test]
    fn an_encrypted_key_needs_its_passphrase() {
        let k1 = key(1);
        let (_dir, home) = home_with(&k1);
        let pass = Passphrase::new(b"s3cret".to_vec());
        home.encrypt_key(&pass).unwrap();
        let locked = Home::new(&home.dir).with_passphrase(Some(Passphrase::new(b"no".to_vec())));
        assert!(locked.load_key().unwrap_err().is_locked_key());
        let open = Home::new(&home.dir).with_passphrase(Some(pass.clone()));
        assert_eq!(open.load_key().unwrap().key_id(), k1.key_id());
        assert!(open.key_is_encrypted().unwrap());
        // A rotation keeps it encrypted.
        let k2 = key(2);
        open.store_rotation(&k2, &history(&k1, &k2)).unwrap();
        assert!(open.key_is_encrypted().unwrap());
        assert_eq!(open.load_keys(COMPANY).unwrap().0.key_id(), k2.key_id());
        assert!(open.encrypt_key(&pass).is_err(), "already encrypted");
    }

    fn raw(slug: &str) -> RawConfig {
        let text = format!("company_id = \"urn:tanso:company:{slug}\"\nname = \"{slug}\"\n");
        RawConfig::parse(&text, "test.toml").unwrap()
    }

    fn kek(n: u8) -> Arc<dyn KeySealer> {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode([n; 32]);
        Arc::new(crate::seal::Kek::from_base64(&text, "test").unwrap())
    }

    fn sealed_home(dir: &Path, company: &str, sealer: Arc<dyn KeySealer>) -> Home {
        let raw = raw(company);
        let home = Home::new(dir).with_sealer(sealer);
        home.init_opts(
            &raw,
            &[9; 32],
            InitOptions {
                key: KeyProtection::Sealed,
                tls_identity: false,
            },
        )
        .unwrap();
        home
    }

    #[test]
    fn a_sealed_key_opens_only_through_its_kek_in_its_own_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = sealed_home(&dir.path().join("a"), "acme", kek(1));
        let company = "urn:tanso:company:acme";
        let text = fs::read_to_string(home.key_path()).unwrap();
        assert!(text.starts_with(SEALED_KEY_BEGIN), "{text}");
        assert!(!text.contains("PRIVATE KEY"));
        assert_eq!(home.key_protection().unwrap(), KeyProtection::Sealed);
        assert!(!home.has_identity(), "created without a TLS identity");
        let (key, _) = home.load_keys(company).unwrap();
        assert_eq!(key.key_id(), NodeKey::from_seed(&[9; 32]).key_id());

        // No sealer: a clear error that names the host; another KEK: refused.
        let err = Home::new(&home.dir).load_key().unwrap_err();
        assert!(matches!(err, HomeError::SealedWithoutSealer(_)), "{err}");
        assert!(
            err.to_string().contains("open it through its host"),
            "{err}"
        );
        assert!(err.is_locked_key());
        let err = Home::new(&home.dir)
            .with_sealer(kek(2))
            .load_key()
            .unwrap_err();
        assert!(
            matches!(
                err,
                HomeError::Seal {
                    source: SealError::Unseal { .. },
                    ..
                }
            ),
            "{err}"
        );

        // The sealed key copied into another company's home (same KEK) does not open.
        let other = sealed_home(&dir.path().join("b"), "other", kek(1));
        fs::copy(home.key_path(), other.key_path()).unwrap();
        let err = other.load_key().unwrap_err();
        assert!(matches!(err, HomeError::Seal { .. }), "{err}");

        // A flipped byte in the sealed text is refused.
        let mut bytes = text.clone().into_bytes();
        let at = SEALED_KEY_BEGIN.len() + 10;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        write_atomic(&home.key_path(), &bytes, 0o600).unwrap();
        assert!(home.load_key().is_err());
    }

    #[test]
    fn a_rotation_under_a_sealer_leaves_a_sealed_key_that_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let home = sealed_home(&dir.path().join("a"), "acme", kek(1));
        let company = "urn:tanso:company:acme";
        let (k1, _) = home.load_keys(company).unwrap();
        let k2 = key(2);
        let at = "2026-01-01T00:00:00.000Z";
        let history = vec![PreviousKey {
            public_key: base64_key(&k1),
            key_id: k1.key_id().to_string(),
            retired_at: at.into(),
            rotation: KeyRotation::sign(&k1, company, &k2, at).unwrap(),
        }];
        home.store_rotation(&k2, &history).unwrap();
        assert_eq!(home.key_protection().unwrap(), KeyProtection::Sealed);
        let reopened = Home::new(&home.dir).with_sealer(kek(1));
        let (k, h) = reopened.load_keys(company).unwrap();
        assert_eq!(k.key_id(), k2.key_id());
        assert_eq!(h.len(), 1);
        let mode = fs::metadata(home.key_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_plain_or_encrypted_key_is_sealed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let raw = raw("acme");
        let company = raw.company_id.clone();
        let pass = Passphrase::new(b"s3cret".to_vec());
        for (name, encrypt) in [("plain", false), ("encrypted", true)] {
            let home = Home::new(dir.path().join(name)).with_passphrase(Some(pass.clone()));
            home.init_with(&raw, &[4; 32], encrypt).unwrap();
            assert!(home.has_identity());
            let err = home.seal_key().unwrap_err();
            assert!(matches!(err, HomeError::NoSealer(_)), "{err}");
            let sealing = home.clone().with_sealer(kek(3));
            let key_id = sealing.seal_key().unwrap();
            assert_eq!(key_id, NodeKey::from_seed(&[4; 32]).key_id());
            assert_eq!(sealing.key_protection().unwrap(), KeyProtection::Sealed);
            let reopened = Home::new(&home.dir).with_sealer(kek(3));
            assert_eq!(reopened.load_keys(&company).unwrap().0.key_id(), key_id);
            assert!(matches!(
                sealing.seal_key().unwrap_err(),
                HomeError::AlreadySealed(_)
            ));
            assert!(matches!(
                sealing.encrypt_key(&pass).unwrap_err(),
                HomeError::AlreadySealed(_)
            ));
        }
    }

    /// An address file is replaced whole (readers polling for it never see a part), is
    /// world-readable, and leaves no temporary file behind.
    #[test]
    fn a_runtime_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.addr");
        publish_runtime_file(&path, "127.0.0.1:1\n").unwrap();
        publish_runtime_file(&path, "127.0.0.1:2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "127.0.0.1:2\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("metrics.addr")]);
    }
}
