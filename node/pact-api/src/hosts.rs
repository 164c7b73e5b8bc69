//! PACT hosts this node calls as a client (`<home>/pact-hosts.json`, mode 0600): a company's
//! PACT base URL, the client credentials that company issued to this node, and how its TLS
//! certificate is checked (a pinned fingerprint, a private CA's PEM, or neither: web PKI). The answer to a RequestCreated event that came in over PACT goes to the
//! requester's host registered here (`tanso pact host add`).
//!
//! The secret must be kept usable (it is sent to the host to obtain tokens), so unlike
//! [`super::clients`] it is stored as given, in a file only the node's user can read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::trust::{ServerTrust, TrustError};
use tanso_core::home::Home;

/// File name of the hosts file in the home.
pub const HOSTS_FILE: &str = "pact-hosts.json";

/// Errors of the hosts file.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0:?} is not a urn (e.g. urn:tanso:company:acme)")]
    BadCompany(String),
    #[error("{0:?} is not an https://host:port base url")]
    BadUrl(String),
    #[error("host {company}: {source}")]
    BadTrust {
        company: String,
        #[source]
        source: TrustError,
    },
    #[error("client id and secret must be non-empty and printable")]
    BadCredentials,
    #[error("{0} is not a tanso home (no config.toml); run `tanso init` first")]
    NoHome(String),
}

/// One PACT host as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRecord {
    /// The company whose host this is (the requester of PACT requests answered there).
    pub company_id: String,
    /// `https://host:port` (no path, no trailing slash).
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    /// SHA-256 fingerprint (lowercase hex) of the host's TLS certificate, pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// PEM of the private CA the host's certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    pub created_at: String,
}

impl HostRecord {
    /// How this host's certificate is checked: the pinned fingerprint, or the private CA, or
    /// (neither) the web PKI roots.
    pub fn trust(&self) -> Result<ServerTrust, HostsError> {
        let bad = |source| HostsError::BadTrust {
            company: self.company_id.clone(),
            source,
        };
        super::trust::TrustSpec {
            fingerprint: self.fingerprint.clone(),
            ca_pem: self.ca_pem.clone(),
        }
        .resolve()
        .map_err(bad)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    hosts: Vec<HostRecord>,
}

fn hosts_path(home: &Home) -> PathBuf {
    home.dir.join(HOSTS_FILE)
}

fn file_err(path: &std::path::Path, reason: impl ToString) -> HostsError {
    HostsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn load(home: &Home) -> Result<HostsFile, HostsError> {
    let path = hosts_path(home);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| file_err(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostsFile::default()),
        Err(e) => Err(file_err(&path, e)),
    }
}

/// A base URL in canonical form: `https://authority` without a path or trailing slash.
pub fn canonical_url(url: &str) -> Result<String, HostsError> {
    let base = url.trim().trim_end_matches('/');
    let authority = base
        .strip_prefix("https://")
        .filter(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(|| HostsError::BadUrl(url.to_string()))?;
    Ok(format!("https://{}", authority.to_ascii_lowercase()))
}

/// Registers (or replaces) the PACT host of `company_id`.
pub fn add_host(
    home: &Home,
    company_id: &str,
    url: &str,
    client_id: &str,
    client_secret: &str,
    trust: &ServerTrust,
) -> Result<HostRecord, HostsError> {
    if !tanso_core::ids::is_urn(company_id) {
        return Err(HostsError::BadCompany(company_id.to_string()));
    }
    let url = canonical_url(url)?;
    let printable =
        |s: &str| !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_graphic());
    if !printable(client_id) || !printable(client_secret) {
        return Err(HostsError::BadCredentials);
    }
    let super::trust::TrustSpec {
        fingerprint,
        ca_pem,
    } = trust.spec();
    if !home.exists() {
        return Err(HostsError::NoHome(home.dir.display().to_string()));
    }
    let mut file = load(home)?;
    file.hosts
        .retain(|h| !h.company_id.eq_ignore_ascii_case(company_id));
    let record = HostRecord {
        company_id: company_id.to_string(),
        url,
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
        fingerprint,
        ca_pem,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    file.hosts.push(record.clone());
    let path = hosts_path(home);
    let mut text = serde_json::to_vec_pretty(&file).map_err(|e| file_err(&path, e))?;
    text.push(b'\n');
    tanso_core::home::write_atomic(&path, &text, 0o600).map_err(|e| file_err(&path, e))?;
    Ok(record)
}

/// The PACT host registered for `company_id`, if any.
pub fn host_for(home: &Home, company_id: &str) -> Result<Option<HostRecord>, HostsError> {
    Ok(load(home)?
        .hosts
        .into_iter()
        .find(|h| h.company_id.eq_ignore_ascii_case(company_id)))
}

/// Every registered host, secrets removed (for listing).
pub fn list_hosts(home: &Home) -> Result<Vec<HostRecord>, HostsError> {
    Ok(load(home)?
        .hosts
        .into_iter()
        .map(|mut h| {
            h.client_secret = String::new();
            h
        })
        .collect())
}
