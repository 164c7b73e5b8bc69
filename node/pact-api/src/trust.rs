//! How this node, as a PACT client, trusts a host's TLS certificate: a pinned fingerprint (a
//! tanso host's self-signed node certificate, from its card), a private CA (`--ca FILE`), or
//! the public web PKI (the default, for hosts with an ordinary certificate).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};

use tanso_core::tls::{self, TlsError};

/// Errors of a trust setting.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{0:?} is not a sha-256 certificate fingerprint (64 hex digits)")]
    BadFingerprint(String),
    #[error("ca file: {0}")]
    BadCa(TlsError),
    #[error("{0:?} is not a host name or ip address a certificate can be checked against")]
    BadHost(String),
    #[error("give either a pinned fingerprint or a ca, not both")]
    Ambiguous,
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A trust setting as the CLI hands it to the node: a fingerprint, or a CA's PEM text, or
/// neither (web PKI).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl TrustSpec {
    /// The checked setting; both a fingerprint and a CA is an error (which one would win?).
    pub fn resolve(&self) -> Result<ServerTrust, TrustError> {
        match (&self.fingerprint, &self.ca_pem) {
            (Some(_), Some(_)) => Err(TrustError::Ambiguous),
            (Some(fp), None) => ServerTrust::pinned(fp),
            (None, Some(pem)) => ServerTrust::ca_pem(pem),
            (None, None) => Ok(ServerTrust::WebPki),
        }
    }
}

/// How the host's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Exactly the certificate with this SHA-256 fingerprint (lowercase hex); the name is not
    /// checked (a tanso node's certificate is self-signed for no particular name).
    Pinned(String),
    /// A chain to one of these CA certificates, valid for the URL's host name.
    Ca {
        /// The PEM text the certificates came from (kept so a host record can store it).
        pem: String,
        certs: Vec<CertificateDer<'static>>,
    },
    /// A chain to a root of the Mozilla root programme, valid for the URL's host name.
    WebPki,
}

impl ServerTrust {
    /// A pinned fingerprint, in hex with or without colons, any case.
    pub fn pinned(fingerprint: &str) -> Result<ServerTrust, TrustError> {
        let fp = fingerprint.trim().to_ascii_lowercase().replace(':', "");
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TrustError::BadFingerprint(fingerprint.to_string()));
        }
        Ok(ServerTrust::Pinned(fp))
    }

    /// A private CA from PEM text (one or more certificates).
    pub fn ca_pem(pem: &str) -> Result<ServerTrust, TrustError> {
        let certs = tls::certs_from_pem(pem, "ca").map_err(TrustError::BadCa)?;
        // Each must parse as a trust anchor, so a broken file is refused now, not at first use.
        tls::ca_client_config(Some(&certs)).map_err(TrustError::BadCa)?;
        Ok(ServerTrust::Ca {
            pem: pem.to_string(),
            certs,
        })
    }

    /// The setting in storable form.
    pub fn spec(&self) -> TrustSpec {
        match self {
            ServerTrust::Pinned(fp) => TrustSpec {
                fingerprint: Some(fp.clone()),
                ca_pem: None,
            },
            ServerTrust::Ca { pem, .. } => TrustSpec {
                fingerprint: None,
                ca_pem: Some(pem.clone()),
            },
            ServerTrust::WebPki => TrustSpec::default(),
        }
    }

    /// A short description for listings and logs (no key material).
    pub fn describe(&self) -> String {
        match self {
            ServerTrust::Pinned(fp) => format!("pinned sha-256 {fp}"),
            ServerTrust::Ca { certs, .. } => format!("private ca ({} certificates)", certs.len()),
            ServerTrust::WebPki => "web pki roots".to_string(),
        }
    }

    /// The rustls client config, offering ALPN h2 and http/1.1 (the PACT client speaks
    /// HTTP/2 to a host that picks it).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TrustError> {
        let base = match self {
            ServerTrust::Pinned(fp) => tls::pinned_client_config(fp, None)?,
            ServerTrust::Ca { certs, .. } => tls::ca_client_config(Some(certs))?,
            ServerTrust::WebPki => tls::ca_client_config(None)?,
        };
        let mut config = (*base).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The name the certificate must be valid for, from a URL authority (`host:port`,
    /// `[v6]:port`). A pinned certificate is not checked by name.
    pub fn server_name(&self, authority: &str) -> Result<ServerName<'static>, TrustError> {
        let host = host_of(authority);
        let name = match self {
            ServerTrust::Pinned(_) => "localhost",
            _ => host,
        };
        ServerName::try_from(name.to_string()).map_err(|_| TrustError::BadHost(host.to_string()))
    }
}

/// The host part of `host:port` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised_and_checked() {
        let hex = "AB".repeat(32);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(
            ServerTrust::pinned(&colons).unwrap(),
            ServerTrust::Pinned("ab".repeat(32))
        );
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(
                matches!(ServerTrust::pinned(bad), Err(TrustError::BadFingerprint(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn ca_files_without_a_certificate_are_refused() {
        let err = ServerTrust::ca_pem("not pem at all").unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        let garbage = "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n";
        let err = ServerTrust::ca_pem(garbage).unwrap_err();
        assert!(err.to_string().starts_with("ca file: "), "{err}");
        let cert = tls::self_signed("ca.test").unwrap();
        let trust = ServerTrust::ca_pem(&cert.cert_pem).unwrap();
        assert!(trust.describe().contains("1 certificates"));
        trust.client_config().unwrap();
    }

    #[test]
    fn specs_resolve_one_way_only() {
        let fp = "ab".repeat(32);
        let pem = tls::self_signed("ca.test").unwrap().cert_pem;
        let both = TrustSpec {
            fingerprint: Some(fp.clone()),
            ca_pem: Some(pem.clone()),
        };
        assert!(matches!(both.resolve(), Err(TrustError::Ambiguous)));
        assert_eq!(TrustSpec::default().resolve().unwrap(), ServerTrust::WebPki);
        for trust in [
            ServerTrust::pinned(&fp).unwrap(),
            ServerTrust::ca_pem(&pem).unwrap(),
            ServerTrust::WebPki,
        ] {
            assert_eq!(trust.spec().resolve().unwrap(), trust);
        }
    }

    #[test]
    fn server_names_come_from_the_authority() {
        let web = ServerTrust::WebPki;
        let name = |a: &str| web.server_name(a).map(|n| n.to_str().into_owned());
        assert_eq!(name("pact.example.com:443").unwrap(), "pact.example.com");
        assert_eq!(name("127.0.0.1:8443").unwrap(), "127.0.0.1");
        assert_eq!(name("[::1]:8443").unwrap(), "::1");
        assert_eq!(name("example.org").unwrap(), "example.org");
        assert!(name("bad host:1").is_err());
        let pinned = ServerTrust::Pinned("ab".repeat(32));
        assert_eq!(
            pinned.server_name("10.0.0.1:1").unwrap().to_str(),
            "localhost"
        );
    }
}
