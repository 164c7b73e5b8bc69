//! The host's key-encryption key (KEK): every tenant's node key is sealed under it at rest
//! (`tanso_core::seal`; AES-256-GCM, the tenant's company id bound in). Where the key comes
//! from is the config's `[kek]`: a file of the host home (mode 0600) or an environment
//! variable; the `KeySealer` interface is where a KMS plugs in.

use std::path::Path;
use std::sync::Arc;

use tanso_core::config::{Config, RawConfig};
use tanso_core::home::{Home, HomeError, InitOptions, KeyProtection};
use tanso_core::seal::{Kek, KeySealer};

use super::config::KekSource;
use super::home::HostError;

/// The host's KEK, applied to tenant homes.
#[derive(Debug, Clone)]
pub struct HostKek {
    sealer: Arc<dyn KeySealer>,
}

impl HostKek {
    /// Loads the KEK the config names.
    pub fn load(source: &KekSource) -> Result<HostKek, HostError> {
        let kek = match source {
            KekSource::File(path) => Kek::from_file(path),
            KekSource::Env(var) => Kek::from_env(var),
        }
        .map_err(|e| HostError::Kek(e.to_string()))?;
        Ok(HostKek {
            sealer: Arc::new(kek),
        })
    }

    /// `home` unlocking (and sealing) its key with this KEK.
    pub fn home(&self, home: Home) -> Home {
        home.with_sealer(self.sealer.clone())
    }

    /// The sealer, for importing a bundle.
    pub fn sealer(&self) -> Arc<dyn KeySealer> {
        self.sealer.clone()
    }

    /// Creates a tenant's node home: its key sealed under this KEK, no TLS identity of its
    /// own (tenants present the host's).
    pub fn init_tenant(
        &self,
        home: &Home,
        raw: &RawConfig,
        seed: &[u8; 32],
    ) -> Result<Config, HomeError> {
        home.init_opts(
            raw,
            seed,
            InitOptions {
                key: KeyProtection::Sealed,
                tls_identity: false,
            },
        )
    }
}

/// Writes a fresh random KEK to `path` (mode 0600); refuses to overwrite one.
pub fn generate_file(path: &Path) -> Result<(), HostError> {
    Kek::generate_file(path)
        .map(drop)
        .map_err(|e| HostError::Kek(e.to_string()))
}
