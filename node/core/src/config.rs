//! Node configuration: `config.toml` in the home → `RawConfig` (serde) → validated `Config`.
//!
//! Validation happens before anything binds a port, and every error names the key and what
//! is wrong with it, so `tanso serve` can exit 64 with a message an operator can act on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::EngineKind;

/// The file as written by `tanso init` and edited by operators.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// This node's company id (a URN), the identity partners know it by.
    pub company_id: String,
    /// The company's display name.
    pub name: String,
    /// Where peer gRPC is served ("host:port"); absent for a node with no inbound port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The endpoint advertised in this node's card; defaults to `listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default, skip_serializing_if = "RawDashboard::is_unset")]
    pub dashboard: RawDashboard,
    #[serde(default, skip_serializing_if = "RawExchange::is_default")]
    pub exchange: RawExchange,
    #[serde(default, skip_serializing_if = "RawPact::is_default")]
    pub pact: RawPact,
    #[serde(default, skip_serializing_if = "RawMetrics::is_unset")]
    pub metrics: RawMetrics,
    #[serde(default, skip_serializing_if = "RawNodeDirectory::is_default")]
    pub directory: RawNodeDirectory,
    #[serde(default, skip_serializing_if = "RawAudit::is_unset")]
    pub audit: RawAudit,
}

/// `[audit]`: retention of the audit log. Absent, entries are kept in the store forever
/// (archive them by hand with `tanso audit archive`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAudit {
    /// Entries older than this many days are archived out of the store into signed segment
    /// files, at start and then hourly (every `keep_days` when that is shorter). Fractions
    /// are allowed (0.5 = 12 h).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<f64>,
    /// Where scheduled archives are written; relative paths are relative to the home
    /// (default `audit-archive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_dir: Option<PathBuf>,
}

impl RawAudit {
    fn is_unset(&self) -> bool {
        self.keep_days.is_none() && self.archive_dir.is_none()
    }
}

/// Longest `[audit] keep_days` (100 years).
const MAX_KEEP_DAYS: f64 = 36_500.0;

/// `[metrics]`: the plain-HTTP ops listener (`/metrics`, `/healthz`, `/readyz`). It carries
/// counts and latencies only, never footprint data, so it is not behind TLS; bind it to a
/// private interface.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMetrics {
    /// Where the ops listener is served ("ip:port"); absent: no ops listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

impl RawMetrics {
    fn is_unset(&self) -> bool {
        self.listen.is_none()
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// "redb" (default) or "sled".
    #[serde(default = "default_engine")]
    pub engine: String,
    /// The engine's page cache in MiB (redb's cache size, sled's cache capacity). The
    /// engines' own defaults (1 GiB for redb) let the cache grow with the store file, so a
    /// long-running node's memory followed its audit log; 16 MiB holds the hot pages of a
    /// typical node.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u32,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            engine: default_engine(),
            cache_mib: default_cache_mib(),
        }
    }
}

fn default_engine() -> String {
    "redb".into()
}

fn default_cache_mib() -> u32 {
    crate::store::DEFAULT_CACHE_MIB
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest gRPC message accepted or sent, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Largest accepted difference between a request's issued-at and our clock, in seconds.
    #[serde(default = "default_clock_skew_secs")]
    pub clock_skew_secs: u64,
    /// Largest ListFootprints page.
    #[serde(default = "default_page_max")]
    pub page_max: u32,
    /// Most open connections on each listener (peer, PACT, dashboard, metrics); a connection
    /// holds its slot until it closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a connection may stay open with no request in flight before the node closes it.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds between HTTP/2 pings to a peer during long requests (a peer that does not
    /// answer one within the same time is dropped); 0 sends none.
    #[serde(default = "default_keepalive_secs")]
    pub keepalive_secs: u64,
    /// How long connecting to a partner may take (TCP, relay pairing and TLS handshake), in
    /// seconds.
    #[serde(default = "default_peer_connect_timeout_secs")]
    pub peer_connect_timeout_secs: u64,
    /// How long one call to a partner may take, answer included, in seconds.
    #[serde(default = "default_peer_call_timeout_secs")]
    pub peer_call_timeout_secs: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_message_bytes: default_max_message_bytes(),
            clock_skew_secs: default_clock_skew_secs(),
            page_max: default_page_max(),
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
            keepalive_secs: default_keepalive_secs(),
            peer_connect_timeout_secs: default_peer_connect_timeout_secs(),
            peer_call_timeout_secs: default_peer_call_timeout_secs(),
        }
    }
}

fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_clock_skew_secs() -> u64 {
    60
}
fn default_page_max() -> u32 {
    1000
}
fn default_max_connections() -> usize {
    1024
}
fn default_idle_timeout_secs() -> u64 {
    120
}
fn default_keepalive_secs() -> u64 {
    30
}
fn default_peer_connect_timeout_secs() -> u64 {
    5
}
fn default_peer_call_timeout_secs() -> u64 {
    30
}

/// `[tls]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Serve and dial plain h2c instead of TLS. For local development only.
    #[serde(default)]
    pub insecure_h2c: bool,
    /// PEM file of an organisation CA; when set, peers must present a client certificate it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// PEM certificate chain this node presents as a client to peers that require mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM key for `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// "text" (default) or "json".
    #[serde(default = "default_log_format")]
    pub format: String,
    /// OTLP/gRPC collector for trace export (e.g. "http://127.0.0.1:4317"); honoured by a
    /// binary built with the `otel` feature, refused at start-up by one built without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: default_log_format(),
            otlp_endpoint: None,
        }
    }
}

fn default_log_format() -> String {
    "text".into()
}

/// `[dashboard]`: the web dashboard (HTTPS, behind the dashboard users' passwords).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDashboard {
    /// Where the dashboard is served ("ip:port"); absent: no dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Scope 3 activity ledger (a directory of CSV files or one file) for the Scope 3 tiles;
    /// relative paths are relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<PathBuf>,
    /// KPI configuration (TOML, see kpi/README.md) for the KPI tiles; relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpi_config: Option<PathBuf>,
    /// KPI measures (CSV: period,measure,value,unit and optionally department,team); needs
    /// `kpi_config`; relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpi_measures: Option<PathBuf>,
    /// Own Scope 1/2 inventory ledger (a directory of fuel, electricity, refrigerant and
    /// instrument CSVs) whose monthly totals feed the KPIs as node measures; needs
    /// `kpi_config`; relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<PathBuf>,
    /// Action plans for the monitoring views (CSV: id,title,department,team,kpi,owner,start,
    /// due,expected_reduction,unit,phase); needs `kpi_config`; relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_plans: Option<PathBuf>,
    /// Whether the Scope 3 view leaves out category 8 unless the page asks otherwise: true for
    /// a company that reports its leased assets in Scope 1/2 under the Korean ETS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exclude_category_8: bool,
}

impl RawDashboard {
    fn is_unset(&self) -> bool {
        self.listen.is_none()
            && self.ledger.is_none()
            && self.kpi_config.is_none()
            && self.kpi_measures.is_none()
            && self.inventory.is_none()
            && self.action_plans.is_none()
            && !self.exclude_category_8
    }
}

/// `[exchange]`: the asynchronous exchange (requests, answers, Published notifications).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawExchange {
    /// On a Published notification, fetch the new footprints from the sender in the
    /// background and mark the versions they replace Deprecated in the inbox (default true).
    pub auto_fetch: bool,
}

impl Default for RawExchange {
    fn default() -> Self {
        RawExchange { auto_fetch: true }
    }
}

impl RawExchange {
    fn is_default(&self) -> bool {
        self.auto_fetch
    }
}

/// `[pact]`: the PACT v3 REST host (HTTPS only, its own port, not shared with gRPC).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPact {
    /// Where the PACT API is served ("ip:port"); absent: no PACT API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Lifetime of an OAuth access token in seconds (default 3600).
    pub token_ttl_secs: u64,
    /// Largest accepted request body of `POST /3/events` in bytes (`/auth/token` takes 4 KiB).
    pub max_body_bytes: usize,
    /// Failed token requests one source address (IPv4, or IPv6 /64) may make within a minute
    /// before its token requests get 429 for five minutes (default 10).
    pub token_failure_limit: u32,
    /// PEM certificate chain the PACT API presents instead of the node's self-signed
    /// certificate (one a PACT tool's usual CA checks accept, e.g. from the web PKI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// As a PACT client: how long resolving a host and the TCP and TLS handshakes may take,
    /// in seconds (default 10).
    pub client_connect_timeout_secs: u64,
    /// As a PACT client: how long a request may wait for the response head, connecting
    /// included, in seconds (default 30).
    pub client_request_timeout_secs: u64,
    /// As a PACT client: how long a request may take until the last byte of its response,
    /// in seconds (default 120; at least `client_request_timeout_secs`).
    pub client_total_timeout_secs: u64,
    /// As a PACT client: the largest response body accepted, in bytes (default 64 MiB).
    pub client_max_response_bytes: usize,
    /// A PACT `RequestCreatedEvent` that no footprint this client may read matches: false
    /// (default, as PACT v3 asks) answers RequestRejected with `NotFound` at once; true keeps
    /// it pending until a matching footprint is published or the operator answers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hold_unmatched_requests: bool,
}

impl Default for RawPact {
    fn default() -> Self {
        RawPact {
            listen: None,
            token_ttl_secs: 3600,
            max_body_bytes: 256 * 1024,
            token_failure_limit: 10,
            tls_cert: None,
            tls_key: None,
            client_connect_timeout_secs: 10,
            client_request_timeout_secs: 30,
            client_total_timeout_secs: 120,
            client_max_response_bytes: 64 << 20,
            hold_unmatched_requests: false,
        }
    }
}

impl RawPact {
    fn is_default(&self) -> bool {
        let d = RawPact::default();
        self.listen.is_none()
            && self.token_ttl_secs == d.token_ttl_secs
            && self.max_body_bytes == d.max_body_bytes
            && self.token_failure_limit == d.token_failure_limit
            && self.tls_cert.is_none()
            && self.tls_key.is_none()
            && self.client_connect_timeout_secs == d.client_connect_timeout_secs
            && self.client_request_timeout_secs == d.client_request_timeout_secs
            && self.client_total_timeout_secs == d.client_total_timeout_secs
            && !self.hold_unmatched_requests
            && self.client_max_response_bytes == d.client_max_response_bytes
    }
}

/// `[directory]`: how this node uses the directories it trusts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNodeDirectory {
    /// How long a directory answer (member credential, status list) is fresh, in seconds
    /// (default 300). Stale answers are still used, with a warning, while a directory is down.
    pub ttl_secs: u64,
}

impl Default for RawNodeDirectory {
    fn default() -> Self {
        RawNodeDirectory { ttl_secs: 300 }
    }
}

impl RawNodeDirectory {
    fn is_default(&self) -> bool {
        self.ttl_secs == 300
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub company_id: String,
    pub name: String,
    pub listen: Option<SocketAddr>,
    pub advertise: Option<String>,
    pub engine: EngineKind,
    /// `[store] cache_mib`.
    pub store_cache_mib: u32,
    pub max_message_bytes: usize,
    pub clock_skew: Duration,
    pub page_max: u32,
    pub max_connections: usize,
    /// `[limits] idle_timeout_secs`.
    pub idle_timeout: Duration,
    /// `[limits] keepalive_secs` (`None`: no pings).
    pub keepalive: Option<Duration>,
    /// `[limits] peer_connect_timeout_secs`.
    pub peer_connect_timeout: Duration,
    /// `[limits] peer_call_timeout_secs`.
    pub peer_call_timeout: Duration,
    pub insecure_h2c: bool,
    pub client_ca: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub log_json: bool,
    pub dashboard_listen: Option<SocketAddr>,
    pub dashboard_ledger: Option<PathBuf>,
    pub dashboard_kpi_config: Option<PathBuf>,
    pub dashboard_kpi_measures: Option<PathBuf>,
    /// `[dashboard] inventory`.
    pub dashboard_inventory: Option<PathBuf>,
    /// `[dashboard] action_plans`.
    pub dashboard_action_plans: Option<PathBuf>,
    /// `[dashboard] exclude_category_8`.
    pub dashboard_exclude_category_8: bool,
    /// `[exchange] auto_fetch`.
    pub auto_fetch: bool,
    /// `[pact] listen`.
    pub pact_listen: Option<SocketAddr>,
    /// `[pact] token_ttl_secs`.
    pub pact_token_ttl: Duration,
    /// `[pact] max_body_bytes`.
    pub pact_max_body_bytes: usize,
    /// `[pact] tls_cert` and `tls_key`.
    pub pact_tls: Option<(PathBuf, PathBuf)>,
    /// `[pact] client_*`: the PACT client's deadlines and response cap.
    pub pact_client: HttpClientLimits,
    /// `[pact] token_failure_limit`.
    pub pact_token_failure_limit: u32,
    /// `[pact] hold_unmatched_requests`.
    pub pact_hold_unmatched_requests: bool,
    /// `[metrics] listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `[log] otlp_endpoint`.
    pub otlp_endpoint: Option<String>,
    /// `[directory] ttl_secs`.
    pub directory_ttl: Duration,
    /// `[audit] keep_days`: how long entries stay in the store (`None`: forever).
    pub audit_keep: Option<Duration>,
    /// `[audit] archive_dir`, as written (relative to the home unless absolute).
    pub audit_archive_dir: Option<PathBuf>,
}

/// The deadlines and the response cap of the PACT client (`[pact] client_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClientLimits {
    /// Resolving the host, TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// From sending a request (connecting included) to its complete response head.
    pub request_timeout: Duration,
    /// From sending a request to the last byte of its response body.
    pub total_timeout: Duration,
    /// The largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for HttpClientLimits {
    fn default() -> Self {
        let d = RawPact::default();
        HttpClientLimits {
            connect_timeout: Duration::from_secs(d.client_connect_timeout_secs),
            request_timeout: Duration::from_secs(d.client_request_timeout_secs),
            total_timeout: Duration::from_secs(d.client_total_timeout_secs),
            max_response_bytes: d.client_max_response_bytes,
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        path: String,
        key: &'static str,
        reason: String,
    },
}

impl RawConfig {
    /// Parses the TOML text of `path` (the path is only used in messages).
    pub fn parse(text: &str, path: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            reason: e.to_string().trim().replace('\n', " "),
        })
    }

    /// Checks every value; nothing is bound or opened here.
    pub fn validate(&self, path: &str) -> Result<Config, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_string(),
            key,
            reason,
        };
        if !crate::ids::is_urn(&self.company_id) {
            return Err(invalid(
                "company_id",
                format!(
                    "{:?} is not a urn (e.g. urn:tanso:company:acme)",
                    self.company_id
                ),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let listen = match &self.listen {
            None => None,
            Some(l) => Some(l.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "listen",
                    format!("{l:?} is not host:port with an ip address"),
                )
            })?),
        };
        let engine = self
            .store
            .engine
            .parse::<EngineKind>()
            .map_err(|e| invalid("store.engine", e.to_string()))?;
        if self.store.cache_mib == 0 || self.store.cache_mib > 65_536 {
            return Err(invalid(
                "store.cache_mib",
                format!("{} is outside 1..=65536", self.store.cache_mib),
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
        if self.limits.clock_skew_secs == 0 || self.limits.clock_skew_secs > 3600 {
            return Err(invalid(
                "limits.clock_skew_secs",
                format!("{} is outside 1..=3600", self.limits.clock_skew_secs),
            ));
        }
        if self.limits.page_max == 0 || self.limits.page_max > 10_000 {
            return Err(invalid(
                "limits.page_max",
                format!("{} is outside 1..=10000", self.limits.page_max),
            ));
        }
        if self.limits.max_connections == 0 {
            return Err(invalid(
                "limits.max_connections",
                "must be at least 1".into(),
            ));
        }
        if self.limits.idle_timeout_secs == 0 || self.limits.idle_timeout_secs > 86_400 {
            return Err(invalid(
                "limits.idle_timeout_secs",
                format!("{} is outside 1..=86400", self.limits.idle_timeout_secs),
            ));
        }
        if self.limits.keepalive_secs > 3600 {
            return Err(invalid(
                "limits.keepalive_secs",
                format!("{} is outside 0..=3600", self.limits.keepalive_secs),
            ));
        }
        let log_json = match self.log.format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is not \"text\" or \"json\""),
                ));
            }
        };
        let client_cert = match (&self.tls.client_cert, &self.tls.client_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => {
                return Err(invalid(
                    "tls.client_cert",
                    "client_cert and client_key must be set together".into(),
                ));
            }
        };
        let pact_tls = match (&self.pact.tls_cert, &self.pact.tls_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => {
                return Err(invalid(
                    "pact.tls_cert",
                    "tls_cert and tls_key must be set together".into(),
                ));
            }
        };
        let dashboard_listen = match &self.dashboard.listen {
            None => None,
            Some(l) => Some(l.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "dashboard.listen",
                    format!("{l:?} is not host:port with an ip address"),
                )
            })?),
        };
        for (key, set) in [
            (
                "dashboard.kpi_measures",
                self.dashboard.kpi_measures.is_some(),
            ),
            ("dashboard.inventory", self.dashboard.inventory.is_some()),
            (
                "dashboard.action_plans",
                self.dashboard.action_plans.is_some(),
            ),
        ] {
            if set && self.dashboard.kpi_config.is_none() {
                return Err(invalid(key, "needs dashboard.kpi_config".into()));
            }
        }
        let pact_listen = match &self.pact.listen {
            None => None,
            Some(l) => Some(l.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "pact.listen",
                    format!("{l:?} is not host:port with an ip address"),
                )
            })?),
        };
        if self.directory.ttl_secs == 0 || self.directory.ttl_secs > 86_400 {
            return Err(invalid(
                "directory.ttl_secs",
                format!("{} is outside 1..=86400", self.directory.ttl_secs),
            ));
        }
        if self.pact.token_ttl_secs == 0 || self.pact.token_ttl_secs > 86_400 {
            return Err(invalid(
                "pact.token_ttl_secs",
                format!("{} is outside 1..=86400", self.pact.token_ttl_secs),
            ));
        }
        if self.pact.max_body_bytes < 1024 || self.pact.max_body_bytes > 64 << 20 {
            return Err(invalid(
                "pact.max_body_bytes",
                format!("{} is outside 1024..=67108864", self.pact.max_body_bytes),
            ));
        }
        let in_range = |key: &'static str, value: u64, max: u64| {
            if value == 0 || value > max {
                return Err(invalid(key, format!("{value} is outside 1..={max}")));
            }
            Ok(Duration::from_secs(value))
        };
        let peer_connect_timeout = in_range(
            "limits.peer_connect_timeout_secs",
            self.limits.peer_connect_timeout_secs,
            300,
        )?;
        let peer_call_timeout = in_range(
            "limits.peer_call_timeout_secs",
            self.limits.peer_call_timeout_secs,
            3600,
        )?;
        let pact_client = HttpClientLimits {
            connect_timeout: in_range(
                "pact.client_connect_timeout_secs",
                self.pact.client_connect_timeout_secs,
                300,
            )?,
            request_timeout: in_range(
                "pact.client_request_timeout_secs",
                self.pact.client_request_timeout_secs,
                3600,
            )?,
            total_timeout: in_range(
                "pact.client_total_timeout_secs",
                self.pact.client_total_timeout_secs,
                86_400,
            )?,
            max_response_bytes: self.pact.client_max_response_bytes,
        };
        if pact_client.total_timeout < pact_client.request_timeout {
            return Err(invalid(
                "pact.client_total_timeout_secs",
                format!(
                    "{} is less than client_request_timeout_secs ({})",
                    self.pact.client_total_timeout_secs, self.pact.client_request_timeout_secs
                ),
            ));
        }
        if pact_client.max_response_bytes < 1024 || pact_client.max_response_bytes > 1 << 30 {
            return Err(invalid(
                "pact.client_max_response_bytes",
                format!(
                    "{} is outside 1024..=1073741824",
                    pact_client.max_response_bytes
                ),
            ));
        }
        if self.pact.token_failure_limit == 0 || self.pact.token_failure_limit > 1_000_000 {
            return Err(invalid(
                "pact.token_failure_limit",
                format!("{} is outside 1..=1000000", self.pact.token_failure_limit),
            ));
        }
        let metrics_listen = match &self.metrics.listen {
            None => None,
            Some(l) => Some(l.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.listen",
                    format!("{l:?} is not host:port with an ip address"),
                )
            })?),
        };
        if let Some(endpoint) = &self.log.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(invalid(
                "log.otlp_endpoint",
                format!("{endpoint:?} is not an http:// or https:// url"),
            ));
        }
        let audit_keep = match self.audit.keep_days {
            None => None,
            Some(days) if days.is_finite() && days > 0.0 && days <= MAX_KEEP_DAYS => {
                Some(Duration::from_secs_f64(days * 86_400.0))
            }
            Some(days) => {
                return Err(invalid(
                    "audit.keep_days",
                    format!("{days} is not a number of days in (0, {MAX_KEEP_DAYS}]"),
                ));
            }
        };
        if self
            .audit
            .archive_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(invalid("audit.archive_dir", "must not be empty".into()));
        }
        Ok(Config {
            company_id: self.company_id.clone(),
            name: self.name.clone(),
            listen,
            advertise: self.advertise.clone(),
            engine,
            store_cache_mib: self.store.cache_mib,
            max_message_bytes: self.limits.max_message_bytes,
            clock_skew: Duration::from_secs(self.limits.clock_skew_secs),
            page_max: self.limits.page_max,
            max_connections: self.limits.max_connections,
            idle_timeout: Duration::from_secs(self.limits.idle_timeout_secs),
            keepalive: (self.limits.keepalive_secs > 0)
                .then(|| Duration::from_secs(self.limits.keepalive_secs)),
            peer_connect_timeout,
            peer_call_timeout,
            insecure_h2c: self.tls.insecure_h2c,
            client_ca: self.tls.client_ca.clone(),
            client_cert,
            log_json,
            dashboard_listen,
            dashboard_ledger: self.dashboard.ledger.clone(),
            dashboard_kpi_config: self.dashboard.kpi_config.clone(),
            dashboard_kpi_measures: self.dashboard.kpi_measures.clone(),
            dashboard_inventory: self.dashboard.inventory.clone(),
            dashboard_action_plans: self.dashboard.action_plans.clone(),
            dashboard_exclude_category_8: self.dashboard.exclude_category_8,
            auto_fetch: self.exchange.auto_fetch,
            pact_listen,
            pact_token_ttl: Duration::from_secs(self.pact.token_ttl_secs),
            pact_max_body_bytes: self.pact.max_body_bytes,
            pact_tls,
            pact_client,
            pact_token_failure_limit: self.pact.token_failure_limit,
            pact_hold_unmatched_requests: self.pact.hold_unmatched_requests,
            metrics_listen,
            otlp_endpoint: self.log.otlp_endpoint.clone(),
            directory_ttl: Duration::from_secs(self.directory.ttl_secs),
            audit_keep,
            audit_archive_dir: self.audit.archive_dir.clone(),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, String> {
        RawConfig::parse(text, "config.toml")
            .and_then(|r| r.validate("config.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = check("company_id = \"urn:tanso:company:a\"\nname = \"A\"\n").unwrap();
        assert_eq!(c.engine, EngineKind::Redb);
        assert_eq!(c.store_cache_mib, 16);
        assert_eq!(c.clock_skew, Duration::from_secs(60));
        assert!(c.listen.is_none());
        assert_eq!(c.pact_client, HttpClientLimits::default());
        assert_eq!(c.pact_client.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.pact_client.max_response_bytes, 64 << 20);
        assert_eq!(c.peer_connect_timeout, Duration::from_secs(5));
        assert_eq!(c.peer_call_timeout, Duration::from_secs(30));
        assert!(
            c.audit_keep.is_none(),
            "the audit log is kept forever by default"
        );
    }

    #[test]
    fn audit_keep_days_accepts_fractions() {
        let base = "company_id = \"urn:tanso:company:a\"\nname = \"A\"\n";
        let c = check(&format!("{base}[audit]\nkeep_days = 30\n")).unwrap();
        assert_eq!(c.audit_keep, Some(Duration::from_secs(30 * 86_400)));
        let c = check(&format!(
            "{base}[audit]\nkeep_days = 0.5\narchive_dir = \"/var/tanso/a\"\n"
        ))
        .unwrap();
        assert_eq!(c.audit_keep, Some(Duration::from_secs(43_200)));
        assert_eq!(c.audit_archive_dir, Some(PathBuf::from("/var/tanso/a")));
    }

    #[test]
    fn errors_name_the_key() {
        let base = "company_id = \"urn:tanso:company:a\"\nname = \"A\"\n";
        let cases = [
            ("company_id = \"acme\"\nname = \"A\"\n", "key `company_id`"),
            (&format!("{base}listen = \"nowhere\"\n"), "key `listen`"),
            (
                &format!("{base}[store]\nengine = \"rocks\"\n"),
                "key `store.engine`",
            ),
            (
                &format!("{base}[store]\ncache_mib = 0\n"),
                "key `store.cache_mib`",
            ),
            (
                &format!("{base}[store]\ncache_mib = 100000\n"),
                "key `store.cache_mib`",
            ),
            (
                &format!("{base}[limits]\nclock_skew_secs = 0\n"),
                "key `limits.clock_skew_secs`",
            ),
            (
                &format!("{base}[log]\nformat = \"xml\"\n"),
                "key `log.format`",
            ),
            (&format!("{base}colour = 1\n"), "unknown field `colour`"),
            (
                &format!("{base}[dashboard]\nlisten = \"web\"\n"),
                "key `dashboard.listen`",
            ),
            (
                &format!("{base}[dashboard]\nport = 1\n"),
                "unknown field `port`",
            ),
            (
                &format!("{base}[dashboard]\ninventory = \"ledger\"\n"),
                "key `dashboard.inventory`",
            ),
            (
                &format!("{base}[dashboard]\naction_plans = \"plans.csv\"\n"),
                "key `dashboard.action_plans`",
            ),
            (
                &format!("{base}[pact]\nlisten = \"web\"\n"),
                "key `pact.listen`",
            ),
            (
                &format!("{base}[pact]\ntoken_ttl_secs = 0\n"),
                "key `pact.token_ttl_secs`",
            ),
            (
                &format!("{base}[pact]\ntoken_failure_limit = 0\n"),
                "key `pact.token_failure_limit`",
            ),
            (
                &format!("{base}[pact]\ntls_cert = \"pact.pem\"\n"),
                "key `pact.tls_cert`",
            ),
            (
                &format!("{base}[pact]\nclient_connect_timeout_secs = 0\n"),
                "key `pact.client_connect_timeout_secs`",
            ),
            (
                &format!("{base}[pact]\nclient_request_timeout_secs = 3601\n"),
                "key `pact.client_request_timeout_secs`",
            ),
            (
                &format!("{base}[pact]\nclient_total_timeout_secs = 10\n"),
                "key `pact.client_total_timeout_secs`",
            ),
            (
                &format!("{base}[pact]\nclient_max_response_bytes = 100\n"),
                "key `pact.client_max_response_bytes`",
            ),
            (
                &format!("{base}[limits]\npeer_connect_timeout_secs = 0\n"),
                "key `limits.peer_connect_timeout_secs`",
            ),
            (
                &format!("{base}[limits]\npeer_call_timeout_secs = 0\n"),
                "key `limits.peer_call_timeout_secs`",
            ),
            (
                &format!("{base}[metrics]\nlisten = \"9464\"\n"),
                "key `metrics.listen`",
            ),
            (
                &format!("{base}[log]\notlp_endpoint = \"collector:4317\"\n"),
                "key `log.otlp_endpoint`",
            ),
            (
                &format!("{base}[audit]\nkeep_days = 0\n"),
                "key `audit.keep_days`",
            ),
            (
                &format!("{base}[audit]\nkeep_days = -1.5\n"),
                "key `audit.keep_days`",
            ),
            (
                &format!("{base}[audit]\nkeep_days = 1e9\n"),
                "key `audit.keep_days`",
            ),
            (
                &format!("{base}[audit]\nkeep = 3\n"),
                "unknown field `keep`",
            ),
        ];
        for (text, expect) in cases {
            let err = check(text).unwrap_err();
            assert!(err.contains(expect), "{err} should contain {expect}");
        }
    }
}
