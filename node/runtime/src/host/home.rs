//! A host's home: `host.toml`, the host's TLS identity (the certificate every tenant's card
//! carries), the tenant registry `tenants.json`, and one node home per tenant under
//! `tenants/{slug}/`. Everything here is file work with no server running; the running host
//! calls the same functions under its registry lock (see `super::Host`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use tanso_core::config::RawConfig;
use tanso_core::home::{Home, HomeError, write_atomic};
use tanso_core::quota::Quotas;
use tanso_core::tls::Identity;

use super::config::{HostConfig, HostConfigError, RawHostConfig};

/// Longest tenant slug (it is a path segment of URLs and a directory name).
pub const MAX_SLUG: usize = 63;

/// Errors of host files and tenant administration.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Config(#[from] HostConfigError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a tanso host home (no host.toml); run `tanso host init` first")]
    NotHost(String),
    #[error("{0} exists already")]
    Exists(String),
    #[error("{path}: {reason}")]
    Registry { path: String, reason: String },
    #[error("{0:?} is not a tenant slug (1-63 of a-z 0-9 and -, starting with a letter or digit)")]
    BadSlug(String),
    #[error("tenant {0} exists already on this host")]
    TenantExists(String),
    #[error("no tenant {0} on this host")]
    NoTenant(String),
    #[error("this host holds {max} tenants, its `tenants.max`")]
    Full { max: usize },
    #[error("tenant {0} is active: suspend it first")]
    Active(String),
    #[error("tenant {0} is suspended: resume it to run node commands on it")]
    Suspended(String),
    #[error("tenant {0} is still in use by a request; retry shortly")]
    Busy(String),
    #[error("tenant {tenant}: {source}")]
    Tenant {
        tenant: String,
        #[source]
        source: tanso_core::NodeError,
    },
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("tls: {0}")]
    Tls(#[from] tanso_core::tls::TlsError),
    #[error("key-encryption key: {0}")]
    Kek(String),
    #[error("host task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Bundle(#[from] tanso_core::bundle::BundleError),
}

/// Whether a tenant is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    Active,
    /// Not served: requests naming it read as naming an unknown node; its data is kept.
    Suspended,
}

/// One tenant in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantEntry {
    pub company_id: String,
    /// The tenant's path segment (`/t/{slug}/`) and directory name.
    pub slug: String,
    pub name: String,
    pub state: TenantState,
    pub quotas: Quotas,
    pub added_at: String,
}

/// `tenants.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Registry {
    pub tenants: Vec<TenantEntry>,
}

impl Registry {
    /// The tenant named by company id, or slug (case-insensitive).
    pub fn find(&self, tenant: &str) -> Option<&TenantEntry> {
        self.tenants.iter().find(|t| {
            t.company_id.eq_ignore_ascii_case(tenant) || t.slug.eq_ignore_ascii_case(tenant)
        })
    }

    fn find_mut(&mut self, tenant: &str) -> Option<&mut TenantEntry> {
        self.tenants.iter_mut().find(|t| {
            t.company_id.eq_ignore_ascii_case(tenant) || t.slug.eq_ignore_ascii_case(tenant)
        })
    }
}

/// What `tenant add` takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantSpec {
    pub company_id: String,
    pub name: String,
    /// Defaults to the company id's last segment, made a slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// Defaults to the host's `[quota]`.
    #[serde(default)]
    pub quotas: Option<Quotas>,
}

/// Paths inside a host home.
#[derive(Debug, Clone)]
pub struct HostHome {
    pub dir: PathBuf,
}

impl HostHome {
    pub fn new(dir: impl Into<PathBuf>) -> HostHome {
        HostHome { dir: dir.into() }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("host.toml")
    }
    pub fn registry_path(&self) -> PathBuf {
        self.dir.join("tenants.json")
    }
    pub fn cert_path(&self) -> PathBuf {
        Home::new(&self.dir).cert_path()
    }
    pub fn tls_key_path(&self) -> PathBuf {
        Home::new(&self.dir).tls_key_path()
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
    pub fn tenants_dir(&self) -> PathBuf {
        self.dir.join("tenants")
    }
    /// The node home of tenant `slug`.
    pub fn tenant_home(&self, slug: &str) -> Home {
        Home::new(self.tenants_dir().join(slug))
    }
    pub fn exists(&self) -> bool {
        self.config_path().exists()
    }

    /// Creates a host home: `host.toml`, the TLS identity, the KEK file when the config
    /// names one, an empty registry.
    pub fn init(&self, raw: &RawHostConfig) -> Result<HostConfig, HostError> {
        let shown = self.config_path().display().to_string();
        let config = raw.validate(&shown, &self.dir)?;
        if self.exists() {
            return Err(HostError::Exists(self.dir.display().to_string()));
        }
        mkdir(&self.dir, 0o700)?;
        mkdir(&self.dir.join("tls"), 0o700)?;
        mkdir(&self.tenants_dir(), 0o700)?;
        if let super::config::KekSource::File(path) = &config.kek
            && !path.exists()
        {
            super::kek::generate_file(path)?;
        }
        let cert = tanso_core::tls::self_signed("tanso host")?;
        write_atomic(&self.cert_path(), cert.cert_pem.as_bytes(), 0o644)?;
        write_atomic(&self.tls_key_path(), cert.key_pem.as_bytes(), 0o600)?;
        self.save_registry(&Registry::default())?;
        // The config goes last: its presence marks a complete host home.
        write_atomic(&self.config_path(), raw.to_toml().as_bytes(), 0o644)?;
        Ok(config)
    }

    pub fn load_config(&self) -> Result<HostConfig, HostError> {
        let path = self.config_path();
        if !path.exists() {
            return Err(HostError::NotHost(self.dir.display().to_string()));
        }
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(RawHostConfig::parse(&text, &shown)?.validate(&shown, &self.dir)?)
    }

    /// The host's TLS identity (its key must be private): `tls/` laid out as a node home's.
    pub fn load_identity(&self) -> Result<Identity, HostError> {
        Ok(Home::new(&self.dir).load_identity()?)
    }

    pub fn load_registry(&self) -> Result<Registry, HostError> {
        let path = self.registry_path();
        let text = std::fs::read(&path).map_err(io(&path))?;
        let registry: Registry =
            serde_json::from_slice(&text).map_err(|e| HostError::Registry {
                path: path.display().to_string(),
                reason: format!("line {} column {}: {e}", e.line(), e.column()),
            })?;
        Ok(registry)
    }

    pub fn save_registry(&self, registry: &Registry) -> Result<(), HostError> {
        let json = serde_json::to_vec_pretty(registry).map_err(|e| HostError::Registry {
            path: self.registry_path().display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(write_atomic(&self.registry_path(), &json, 0o600)?)
    }

    /// Adds a tenant: a node home under `tenants/{slug}` with a fresh key sealed under the
    /// host's KEK, registered active. Nothing is left behind when it fails.
    pub fn add_tenant(
        &self,
        registry: &mut Registry,
        config: &HostConfig,
        kek: &super::kek::HostKek,
        spec: &TenantSpec,
        now: &str,
    ) -> Result<TenantEntry, HostError> {
        let slug = match &spec.slug {
            Some(s) => s.clone(),
            None => slug_of(&spec.company_id),
        };
        self.check_new(registry, config, &spec.company_id, &slug)?;
        let mut raw = RawConfig::parse(
            &format!(
                "company_id = {}\nname = {}\n",
                toml_str(&spec.company_id),
                toml_str(&spec.name)
            ),
            "tenant",
        )
        .map_err(|e| HostError::Home(HomeError::Config(e)))?;
        raw.store.engine = config.engine.name().to_string();
        raw.store.cache_mib = config.cache_mib;
        let home = kek.home(self.tenant_home(&slug));
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|e| HostError::Kek(format!("randomness: {e}")))?;
        if let Err(e) = kek.init_tenant(&home, &raw, &seed) {
            // `init` refuses an existing directory before writing; anything it wrote is ours.
            if !matches!(e, HomeError::Exists(_)) {
                let _ = std::fs::remove_dir_all(&home.dir);
            }
            return Err(e.into());
        }
        let entry = TenantEntry {
            company_id: spec.company_id.clone(),
            slug,
            name: spec.name.clone(),
            state: TenantState::Active,
            quotas: spec.quotas.unwrap_or(config.quota),
            added_at: now.to_string(),
        };
        registry.tenants.push(entry.clone());
        if let Err(e) = self.save_registry(registry) {
            registry.tenants.pop();
            let _ = std::fs::remove_dir_all(&home.dir);
            return Err(e);
        }
        mark_quiet(&home.dir);
        Ok(entry)
    }

    /// Registers a tenant whose home was just imported into `tenants/{slug}` (active; not
    /// quiet, so it opens at the next start and announces its card).
    pub fn register_imported(
        &self,
        registry: &mut Registry,
        entry: TenantEntry,
    ) -> Result<TenantEntry, HostError> {
        registry.tenants.push(entry.clone());
        if let Err(e) = self.save_registry(registry) {
            registry.tenants.pop();
            return Err(e);
        }
        Ok(entry)
    }

    /// Checks that a tenant `company_id` under `slug` may be added to `registry`.
    pub fn check_new(
        &self,
        registry: &Registry,
        config: &HostConfig,
        company_id: &str,
        slug: &str,
    ) -> Result<(), HostError> {
        check_slug(slug)?;
        if registry.tenants.len() >= config.max_tenants {
            return Err(HostError::Full {
                max: config.max_tenants,
            });
        }
        if registry.find(company_id).is_some() || registry.find(slug).is_some() {
            return Err(HostError::TenantExists(format!("{company_id} ({slug})")));
        }
        Ok(())
    }

    /// Suspends or resumes a tenant.
    pub fn set_state(
        &self,
        registry: &mut Registry,
        tenant: &str,
        state: TenantState,
    ) -> Result<TenantEntry, HostError> {
        let entry = registry
            .find_mut(tenant)
            .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?;
        let before = entry.state;
        entry.state = state;
        let entry = entry.clone();
        if let Err(e) = self.save_registry(registry) {
            if let Some(e) = registry.find_mut(tenant) {
                e.state = before;
            }
            return Err(e);
        }
        Ok(entry)
    }

    /// Removes a suspended tenant and its data.
    pub fn remove_tenant(
        &self,
        registry: &mut Registry,
        tenant: &str,
    ) -> Result<TenantEntry, HostError> {
        let entry = registry
            .find(tenant)
            .cloned()
            .ok_or_else(|| HostError::NoTenant(tenant.to_string()))?;
        if entry.state == TenantState::Active {
            return Err(HostError::Active(entry.company_id));
        }
        registry.tenants.retain(|t| t.slug != entry.slug);
        self.save_registry(registry)?;
        let dir = self.tenant_home(&entry.slug).dir;
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        Ok(entry)
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The slug a company id gets by default: its last `:` segment, lowercased, every other
/// character a `-`.
pub fn slug_of(company_id: &str) -> String {
    let last = company_id.rsplit(':').next().unwrap_or(company_id);
    let mut slug: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug = slug.trim_matches('-').to_string();
    slug.truncate(MAX_SLUG);
    slug
}

pub fn check_slug(slug: &str) -> Result<(), HostError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(HostError::BadSlug(slug.chars().take(80).collect()))
    }
}

/// A tenant closed with nothing left to deliver is "quiet": a host starting need not open
/// it. The mark is removed whenever the tenant opens, so a crash leaves it unmarked.
const QUIET: &str = ".quiet";

pub fn mark_quiet(tenant_dir: &Path) {
    let _ = std::fs::write(tenant_dir.join(QUIET), b"");
}

pub fn clear_quiet(tenant_dir: &Path) {
    let _ = std::fs::remove_file(tenant_dir.join(QUIET));
}

pub fn is_quiet(tenant_dir: &Path) -> bool {
    tenant_dir.join(QUIET).exists()
}

fn mkdir(path: &Path, mode: u32) -> Result<(), HostError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io(path))
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug_of("urn:tanso:company:Steel_Co"), "steel-co");
        assert!(check_slug("steel-co").is_ok());
        for bad in ["", "-x", "Steel", "a/b", "..", &"a".repeat(64)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
