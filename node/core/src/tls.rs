//! TLS for peer connections: self-signed node certificates, fingerprint pinning, optional mTLS.
//!
//! Two companies connect without any CA: each card carries the SHA-256 of the node's
//! certificate and the client accepts exactly that certificate. The handshake signature is
//! still checked against the certificate's key, so pinning is as strong as the fingerprint.
//! Organisations that run their own CA can additionally require client certificates.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::crypto;

/// Errors building TLS material or configs.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate certificate: {0}")]
    Generate(String),
    #[error("{what} is not valid pem: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("tls config: {0}")]
    Config(String),
}

/// A freshly made self-signed certificate.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

/// Makes a self-signed certificate (ECDSA P-256) for a node.
pub fn self_signed(common_name: &str) -> Result<SelfSigned, TlsError> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["tanso.node".to_string(), "localhost".to_string()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
    let _ = common_name;
    Ok(SelfSigned {
        fingerprint: crypto::cert_fingerprint(certified.cert.der()),
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificate chain and key a node serves.
#[derive(Clone)]
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
    pub fingerprint: String,
}

impl Identity {
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Identity, TlsError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                what: "certificate",
                reason: e.to_string(),
            })?;
        let first = certs.first().ok_or_else(|| TlsError::Pem {
            what: "certificate",
            reason: "no certificate in file".into(),
        })?;
        let fingerprint = crypto::cert_fingerprint(first.as_ref());
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Pem {
            what: "tls key",
            reason: e.to_string(),
        })?;
        Ok(Identity {
            certs,
            key: Arc::new(key),
            fingerprint,
        })
    }
}

/// Server config: our identity, ALPN h2, and client certificates required when `client_ca` is set.
pub fn server_config(
    identity: &Identity,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| TlsError::Pem {
                    what: "client ca",
                    reason: e.to_string(),
                })?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(identity.certs.clone(), identity.key.clone_key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Client config that accepts only the certificate with `fingerprint`, presenting
/// `client_identity` when the peer requires mTLS.
pub fn pinned_client_config(
    fingerprint: &str,
    client_identity: Option<&Identity>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier {
        fingerprint: fingerprint.to_ascii_lowercase(),
        provider: provider.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// PEM certificates (a CA bundle, or a chain), at least one; `what` names the file in errors.
pub fn certs_from_pem(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Client config that verifies the server's chain and name the usual way (RFC 5280 path
/// building, hostname check): against `roots` when given (a private CA), otherwise against
/// the Mozilla root programme's roots (the `webpki-roots` crate, so the result does not
/// depend on the machine's trust store).
pub fn ca_client_config(
    roots: Option<&[CertificateDer<'static>]>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Some(certs) => {
            for cert in certs {
                store
                    .add(cert.clone())
                    .map_err(|e| TlsError::Config(format!("ca certificate: {e}")))?;
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts exactly one certificate, by SHA-256 fingerprint; checks handshake signatures normally.
#[derive(Debug)]
struct PinnedVerifier {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if crypto::cert_fingerprint(end_entity.as_ref()) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "peer certificate does not match the pinned fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What the server knows about a connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: Option<std::net::SocketAddr>,
    /// DER of the client certificate, when mTLS is on.
    pub client_cert: Option<Vec<u8>>,
    /// The connection's requests in flight, for its idle timeout (see `crate::conn`).
    pub activity: Option<std::sync::Arc<crate::conn::Activity>>,
}

/// An accepted peer connection: TLS, or plain h2c when the insecure flag is set.
pub enum PeerStream {
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

impl tonic::transport::server::Connected for PeerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        match self {
            PeerStream::Tls(tls) => {
                let (tcp, conn) = tls.get_ref();
                PeerInfo {
                    remote_addr: tcp.peer_addr().ok(),
                    client_cert: conn
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.as_ref().to_vec()),
                    activity: None,
                }
            }
            PeerStream::Plain(tcp) => PeerInfo {
                remote_addr: tcp.peer_addr().ok(),
                client_cert: None,
                activity: None,
            },
        }
    }
}

impl tonic::transport::server::Connected for crate::conn::Tracked<PeerStream> {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        PeerInfo {
            activity: Some(self.activity()),
            ..self.get_ref().connect_info()
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
