//! `host.toml`: the configuration of a host, validated before anything is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use tanso_core::quota::Quotas;
use tanso_core::store::EngineKind;

/// The file as written by `tanso host init` and edited by operators.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostConfig {
    /// The shared peer port ("ip:port"); absent for a host reached only through a relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The endpoint every tenant's card advertises (defaults to `listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// The shared PACT REST port: tenant `t` is served under `/t/{t}/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pact_listen: Option<String>,
    /// The shared dashboard port: tenant `t`'s dashboard is `/t/{t}/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_listen: Option<String>,
    /// The host's ops listener (`/metrics`, `/healthz`), plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    #[serde(default)]
    pub kek: RawKek,
    #[serde(default)]
    pub tenants: RawTenants,
    /// The quotas a new tenant gets unless `tenant add` names others.
    #[serde(default)]
    pub quota: Quotas,
    #[serde(default)]
    pub limits: RawHostLimits,
}

/// `[kek]`: where the key-encryption key that seals every tenant's node key comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKek {
    /// A file of the host home (mode 0600) holding the key; relative to the host home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// An environment variable holding the key (base64), instead of a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl Default for RawKek {
    fn default() -> Self {
        RawKek {
            file: Some(PathBuf::from("kek")),
            env: None,
        }
    }
}

/// `[tenants]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenants {
    /// Most tenants this host takes.
    #[serde(default = "default_max_tenants")]
    pub max: usize,
    /// A tenant's store is closed after this many seconds without a request (and with an
    /// empty outbox), so memory follows active tenants.
    #[serde(default = "default_idle_close_secs")]
    pub idle_close_secs: u64,
    /// Store engine of new tenants.
    #[serde(default = "default_engine")]
    pub engine: String,
    /// Store cache of each open tenant, in MiB.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
}

impl Default for RawTenants {
    fn default() -> Self {
        RawTenants {
            max: default_max_tenants(),
            idle_close_secs: default_idle_close_secs(),
            engine: default_engine(),
            cache_mib: default_cache_mib(),
        }
    }
}

fn default_max_tenants() -> usize {
    10_000
}
fn default_idle_close_secs() -> u64 {
    300
}
fn default_engine() -> String {
    EngineKind::Redb.name().to_string()
}
fn default_cache_mib() -> u32 {
    4
}

/// `[limits]` of the shared listeners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostLimits {
    /// Largest gRPC message accepted on the shared port.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most open connections on each shared listener.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a connection may stay idle before it is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
}

impl Default for RawHostLimits {
    fn default() -> Self {
        RawHostLimits {
            max_message_bytes: default_max_message_bytes(),
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
        }
    }
}

fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_max_connections() -> usize {
    4096
}
fn default_idle_timeout_secs() -> u64 {
    120
}

/// Where the KEK comes from, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A file (absolute, resolved against the host home).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// The validated host configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub listen: Option<SocketAddr>,
    pub advertise: Option<String>,
    pub pact_listen: Option<SocketAddr>,
    pub dashboard_listen: Option<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
    pub kek: KekSource,
    pub max_tenants: usize,
    pub idle_close: Duration,
    pub engine: EngineKind,
    pub cache_mib: u32,
    pub quota: Quotas,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// A problem in `host.toml`, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum HostConfigError {
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        path: String,
        key: &'static str,
        reason: String,
    },
}

impl RawHostConfig {
    pub fn parse(text: &str, path: &str) -> Result<RawHostConfig, HostConfigError> {
        toml::from_str(text).map_err(|e| HostConfigError::Parse {
            path: path.to_string(),
            reason: e.to_string().trim().replace('\n', " "),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every value; `home` resolves a relative KEK file.
    pub fn validate(
        &self,
        path: &str,
        home: &std::path::Path,
    ) -> Result<HostConfig, HostConfigError> {
        let invalid = |key: &'static str, reason: String| HostConfigError::Invalid {
            path: path.to_string(),
            key,
            reason,
        };
        let addr = |key: &'static str,
                    v: &Option<String>|
         -> Result<Option<SocketAddr>, HostConfigError> {
            match v {
                None => Ok(None),
                Some(text) => text
                    .parse::<SocketAddr>()
                    .map(Some)
                    .map_err(|_| invalid(key, format!("{text:?} is not ip:port"))),
            }
        };
        let listen = addr("listen", &self.listen)?;
        let pact_listen = addr("pact_listen", &self.pact_listen)?;
        let dashboard_listen = addr("dashboard_listen", &self.dashboard_listen)?;
        let metrics_listen = addr("metrics_listen", &self.metrics_listen)?;
        if let Some(a) = &self.advertise
            && (a.is_empty() || a.len() > 253 || a.chars().any(char::is_whitespace))
        {
            return Err(invalid("advertise", format!("{a:?} is not host:port")));
        }
        let kek = match (&self.kek.file, &self.kek.env) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "kek",
                    "name a file or an env variable, not both".into(),
                ));
            }
            (None, None) => return Err(invalid("kek", "name a file or an env variable".into())),
            (Some(f), None) => KekSource::File(if f.is_absolute() {
                f.clone()
            } else {
                home.join(f)
            }),
            (None, Some(v)) if v.is_empty() => {
                return Err(invalid("kek.env", "must not be empty".into()));
            }
            (None, Some(v)) => KekSource::Env(v.clone()),
        };
        if self.tenants.max == 0 || self.tenants.max > 100_000 {
            return Err(invalid(
                "tenants.max",
                format!("{} is outside 1..=100000", self.tenants.max),
            ));
        }
        if self.tenants.idle_close_secs == 0 {
            return Err(invalid(
                "tenants.idle_close_secs",
                "must be at least 1".into(),
            ));
        }
        let engine = self
            .tenants
            .engine
            .parse::<EngineKind>()
            .map_err(|e| invalid("tenants.engine", e.to_string()))?;
        if self.tenants.cache_mib == 0 || self.tenants.cache_mib > 4096 {
            return Err(invalid(
                "tenants.cache_mib",
                format!("{} is outside 1..=4096", self.tenants.cache_mib),
            ));
        }
        if self.quota.requests_per_second == Some(0) {
            return Err(invalid(
                "quota.requests_per_second",
                "must be at least 1 (leave it out for no limit)".into(),
            ));
        }
        if self.limits.max_message_bytes < 1024 || self.limits.max_message_bytes > 64 << 20 {
            return Err(invalid(
                "limits.max_message_bytes",
                format!(
                    "{} is outside 1024..=67108864",
                    self.limits.max_message_bytes
                ),
            ));
        }
        if self.limits.max_connections == 0 {
            return Err(invalid(
                "limits.max_connections",
                "must be at least 1".into(),
            ));
        }
        Ok(HostConfig {
            listen,
            advertise: self.advertise.clone(),
            pact_listen,
            dashboard_listen,
            metrics_listen,
            kek,
            max_tenants: self.tenants.max,
            idle_close: Duration::from_secs(self.tenants.idle_close_secs),
            engine,
            cache_mib: self.tenants.cache_mib,
            quota: self.quota,
            max_message_bytes: self.limits.max_message_bytes,
            max_connections: self.limits.max_connections,
            idle_timeout: Duration::from_secs(self.limits.idle_timeout_secs.max(1)),
        })
    }
}

impl HostConfig {
    /// The endpoint tenants advertise: `advertise`, else the bound peer address.
    pub fn endpoint(&self, bound: Option<SocketAddr>) -> String {
        self.advertise
            .clone()
            .or_else(|| bound.or(self.listen).map(|a| a.to_string()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        let home = std::path::Path::new("/h");
        let ok = RawHostConfig::parse("listen = \"127.0.0.1:7443\"\n", "host.toml").unwrap();
        let c = ok.validate("host.toml", home).unwrap();
        assert_eq!(c.kek, KekSource::File(PathBuf::from("/h/kek")));
        assert_eq!(c.endpoint(None), "127.0.0.1:7443");
        for (text, key) in [
            ("listen = \"nowhere\"\n", "listen"),
            ("[tenants]\nmax = 0\n", "tenants.max"),
            ("[tenants]\nengine = \"bdb\"\n", "tenants.engine"),
            (
                "[quota]\nrequests_per_second = 0\n",
                "quota.requests_per_second",
            ),
            ("[kek]\nfile = \"k\"\nenv = \"E\"\n", "kek"),
        ] {
            let raw = RawHostConfig::parse(text, "host.toml").unwrap();
            let err = raw.validate("host.toml", home).unwrap_err().to_string();
            assert!(err.contains(&format!("key `{key}`")), "{text}: {err}");
        }
        let err = RawHostConfig::parse("lisen = 1\n", "host.toml").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
