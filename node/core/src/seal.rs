//! Node keys sealed under a host's key-encryption key (KEK), for homes a host serves.
//!
//! A host serving many companies' nodes keeps every tenant's node key encrypted at rest
//! under one key-encryption key it holds, so a tenant's home alone (a copied volume, a
//! backup) does not yield its key, and a sealed key copied into another tenant's home does
//! not open there: the tenant's company id is bound to the ciphertext as associated data.
//! [`KeySealer`] is the interface a KMS will implement later; [`Kek`] is a local key (a file
//! or an environment variable) sealing with AES-256-GCM.
//!
//! Unsealing is one AEAD decryption (no password KDF), so a host opens hundreds of tenants
//! lazily without paying a scrypt per tenant.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aes_gcm::aead::AeadInOut as _;
use aes_gcm::{Aes256Gcm, KeyInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

/// Errors of sealing and unsealing.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Authentication failed: another KEK, another tenant's context, or altered bytes.
    #[error(
        "the sealed key does not open under this key-encryption key for {context}: wrong KEK, another tenant's key, or altered bytes"
    )]
    Unseal { context: String },
    #[error("sealed key is malformed: {0}")]
    Malformed(String),
    #[error("key-encryption key {source_name}: expected 32 bytes (base64), got {got}")]
    BadLength { source_name: String, got: usize },
    #[error("key-encryption key {source_name} is not base64: {reason}")]
    BadEncoding { source_name: String, reason: String },
    #[error(
        "key-encryption key file {path} is accessible by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    LoosePermissions { path: String, mode: u32 },
    #[error("key-encryption key file {0} already exists; refusing to overwrite it")]
    Exists(String),
    #[error("environment variable {0} (the key-encryption key) is not set")]
    EnvMissing(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("randomness: {0}")]
    Random(String),
}

/// Seals and unseals small secrets (node keys) bound to a context. Implemented by [`Kek`];
/// a KMS client implements it the same way.
pub trait KeySealer: Send + Sync + std::fmt::Debug {
    /// Encrypts `plain` bound to `context`: unsealing with another context fails.
    fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Decrypts what [`KeySealer::seal`] returned for the same `context`.
    fn unseal(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
    /// A short description for logs and errors (what kind of key, where from); never the key.
    fn describe(&self) -> String;
}

/// The context a node key of `company_id` is sealed under: the company id (case-folded, as
/// company ids compare) and the purpose, so a sealed key neither opens in another tenant's
/// home nor for another purpose.
pub fn node_key_context(company_id: &str) -> String {
    format!("tanso/v1/node-key\0{}", company_id.to_ascii_lowercase())
}

/// Format version of a [`Kek`] sealed value: `version || nonce (12) || ciphertext || tag (16)`.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A host's key-encryption key: 32 random bytes, AES-256-GCM, a fresh random nonce per seal.
/// Wiped from memory when dropped; `Debug` shows where it came from, never the key.
pub struct Kek {
    key: Zeroizing<[u8; 32]>,
    source_name: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("source", &self.source_name)
            .finish_non_exhaustive()
    }
}

impl Kek {
    /// Generates a new KEK into `path` (base64, one line, mode 0600, fsynced); refuses an
    /// existing file.
    pub fn generate_file(path: &Path) -> Result<Kek, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
        let io = |source| SealError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    SealError::Exists(path.display().to_string())
                } else {
                    io(e)
                }
            })?;
        let mut text = Zeroizing::new(B64.encode(key.as_ref()));
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        if let Some(dir) = path.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(Kek {
            key,
            source_name: path.display().to_string(),
        })
    }

    /// Reads a KEK file (base64 of 32 bytes), refusing one readable by group or others.
    pub fn from_file(path: &Path) -> Result<Kek, SealError> {
        let shown = path.display().to_string();
        let io = |source| SealError::Io {
            path: shown.clone(),
            source,
        };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SealError::LoosePermissions { path: shown, mode });
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        Kek::from_base64(&text, &shown)
    }

    /// Reads a KEK (base64 of 32 bytes) from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Kek, SealError> {
        let text =
            Zeroizing::new(std::env::var(var).map_err(|_| SealError::EnvMissing(var.to_string()))?);
        Kek::from_base64(&text, &format!("${var}"))
    }

    /// A KEK from base64 text (surrounding whitespace ignored); `source_name` says where it
    /// came from in errors and [`KeySealer::describe`].
    pub fn from_base64(text: &str, source_name: &str) -> Result<Kek, SealError> {
        let bytes =
            Zeroizing::new(
                B64.decode(text.trim())
                    .map_err(|e| SealError::BadEncoding {
                        source_name: source_name.to_string(),
                        reason: e.to_string(),
                    })?,
            );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadLength {
                source_name: source_name.to_string(),
                got: bytes.len(),
            })?;
        Ok(Kek {
            key: Zeroizing::new(key),
            source_name: source_name.to_string(),
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: &[u8; 32] = &self.key;
        Aes256Gcm::new(key.into())
    }
}

impl KeySealer for Kek {
    fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let mut buffer = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
        buffer.extend_from_slice(plain);
        self.cipher()
            .encrypt_in_place(&nonce.into(), context.as_bytes(), &mut buffer)
            .map_err(|_| SealError::Malformed("the key is too long to seal".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    fn unseal(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let Some((&version, rest)) = sealed.split_first() else {
            return Err(SealError::Malformed("empty".into()));
        };
        if version != FORMAT_V1 {
            return Err(SealError::Malformed(format!(
                "format version {version}, expected {FORMAT_V1}"
            )));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed(format!(
                "{} bytes, shorter than a nonce and a tag",
                sealed.len()
            )));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        self.cipher()
            .decrypt_in_place(&nonce.into(), context.as_bytes(), &mut *buffer)
            .map_err(|_| SealError::Unseal {
                context: context.replace('\0', " "),
            })?;
        Ok(buffer)
    }

    fn describe(&self) -> String {
        format!("AES-256-GCM key-encryption key from {}", self.source_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(n: u8) -> Kek {
        Kek::from_base64(&B64.encode([n; 32]), "test").unwrap()
    }

    #[test]
    fn sealed_bytes_open_only_with_the_same_kek_and_context() {
        let (a, b) = (kek(1), kek(2));
        let ctx = node_key_context("urn:tanso:company:acme");
        let sealed = a.seal(&ctx, b"secret key bytes").unwrap();
        assert_eq!(&**a.unseal(&ctx, &sealed).unwrap(), b"secret key bytes");
        // Two seals of the same bytes differ (fresh nonce each time).
        assert_ne!(sealed, a.seal(&ctx, b"secret key bytes").unwrap());
        assert!(matches!(
            b.unseal(&ctx, &sealed),
            Err(SealError::Unseal { .. })
        ));
        let other = node_key_context("urn:tanso:company:other");
        assert!(matches!(
            a.unseal(&other, &sealed),
            Err(SealError::Unseal { .. })
        ));
        // Company ids compare case-insensitively, so the context does too.
        assert!(
            a.unseal(&node_key_context("URN:tanso:company:ACME"), &sealed)
                .is_ok()
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(a.unseal(&ctx, &bad).is_err(), "flipped byte {i} accepted");
        }
        assert!(matches!(
            a.unseal(&ctx, &sealed[..10]),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn kek_files_are_private_new_and_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.kek");
        let made = Kek::generate_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            Kek::generate_file(&path),
            Err(SealError::Exists(_))
        ));
        let read = Kek::from_file(&path).unwrap();
        let ctx = node_key_context("urn:x:y");
        assert_eq!(
            &**read.unseal(&ctx, &made.seal(&ctx, b"k").unwrap()).unwrap(),
            b"k"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = Kek::from_file(&path).unwrap_err();
        assert!(matches!(err, SealError::LoosePermissions { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        let err = Kek::from_base64(&B64.encode([0u8; 16]), "$X").unwrap_err();
        assert!(matches!(err, SealError::BadLength { got: 16, .. }), "{err}");
        assert!(Kek::from_base64("not base64!", "$X").is_err());
        // Neither Debug nor describe shows the key.
        let encoded = B64.encode([7u8; 32]);
        let shown = format!("{:?} {}", kek(7), kek(7).describe());
        assert!(
            !shown.contains(&encoded) && !shown.contains("7, 7"),
            "{shown}"
        );
    }
}
