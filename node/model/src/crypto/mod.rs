//! Ed25519 signing and strict verification with domain separation; synchronous, no IO.
//!
//! Every signature tanso makes covers `domain || 0x00 || message`, so a signature made for
//! one purpose (a request header, a footprint view, a card) can never be replayed as another.
//! Verification always uses `verify_strict`, which rejects small-order keys and
//! non-canonical signatures, and keys are checked for weakness when they are parsed.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// Domain of a peer request header signature.
pub const DOMAIN_REQUEST: &str = "tanso/v1/request";
/// Domain of a node or member card signature.
pub const DOMAIN_CARD: &str = "tanso/v1/card";
/// Domain of a key rotation statement (signed by the retiring key).
pub const DOMAIN_KEY_ROTATION: &str = "tanso/v1/key-rotation";
/// Domain of a home bundle's manifest signature (by the exported node's key).
pub const DOMAIN_HOME_BUNDLE: &str = "tanso/v1/home-bundle";
/// Domain of a directory (association) card signature.
pub const DOMAIN_DIRECTORY_CARD: &str = "tanso/v1/directory/card";
/// Domain of a membership credential signature (by the association key).
pub const DOMAIN_MEMBERSHIP: &str = "tanso/v1/directory/membership";
/// Domain of a status (revocation) list signature (by the association key).
pub const DOMAIN_STATUS_LIST: &str = "tanso/v1/directory/status-list";
/// Domain of a signed discovery answer (by the association key).
pub const DOMAIN_DIRECTORY_ANSWER: &str = "tanso/v1/directory/answer";
/// Domain of a membership application (by the applying node's key).
pub const DOMAIN_JOIN: &str = "tanso/v1/directory/join";

/// Domain of a footprint view signature (`full` or `summary`).
pub fn footprint_domain(view: &str) -> String {
    format!("tanso/v1/footprint/{view}")
}

/// Errors from parsing keys and verifying signatures.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("public key is not a valid ed25519 key")]
    BadPublicKey,
    #[error("public key is weak (small order) and is refused")]
    WeakPublicKey,
    #[error("signature must be 64 bytes, got {0}")]
    BadSignatureLength(usize),
    #[error("signature does not verify")]
    BadSignature,
    #[error("private key file is not a valid pkcs#8 ed25519 key")]
    BadPrivateKey,
    #[error("cannot encode private key")]
    Encode,
    #[error("the passphrase does not decrypt the private key")]
    WrongPassphrase,
    #[error("private key is already encrypted")]
    AlreadyEncrypted,
    #[error("json cannot be canonicalised: {0}")]
    Canonical(String),
}

/// A node's signing key with its derived key id.
pub struct NodeKey {
    signing: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for NodeKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl NodeKey {
    /// Builds a key from 32 secret seed bytes (taken from the OS by the caller).
    pub fn from_seed(seed: &[u8; 32]) -> NodeKey {
        let signing = SigningKey::from_bytes(seed);
        let key_id = key_id(&signing.verifying_key());
        NodeKey { signing, key_id }
    }

    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<NodeKey, CryptoError> {
        let signing = SigningKey::from_pkcs8_pem(pem).map_err(|_| CryptoError::BadPrivateKey)?;
        let key_id = key_id(&signing.verifying_key());
        Ok(NodeKey { signing, key_id })
    }

    /// Whether a PEM holds a passphrase-encrypted PKCS#8 key.
    pub fn pem_is_encrypted(pem: &str) -> bool {
        pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }

    /// Parses a passphrase-encrypted PKCS#8 PEM private key (PBES2).
    ///
    /// A file whose structure does not parse is [`CryptoError::BadPrivateKey`]; once it does,
    /// any failure to decrypt it into a key is [`CryptoError::WrongPassphrase`]. AES-CBC has
    /// no integrity check: a wrong passphrase fails the padding check only 255 times in 256,
    /// and otherwise yields bytes that are not a key, which is still the passphrase's fault.
    pub fn from_encrypted_pem(pem: &str, passphrase: &[u8]) -> Result<NodeKey, CryptoError> {
        use pkcs8::der::pem::PemLabel as _;
        let (label, doc) =
            pkcs8::SecretDocument::from_pem(pem).map_err(|_| CryptoError::BadPrivateKey)?;
        pkcs8::EncryptedPrivateKeyInfoRef::validate_pem_label(label)
            .map_err(|_| CryptoError::BadPrivateKey)?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|_| CryptoError::BadPrivateKey)?;
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| CryptoError::WrongPassphrase)?;
        let signing = SigningKey::from_pkcs8_der(plain.as_bytes())
            .map_err(|_| CryptoError::WrongPassphrase)?;
        let key_id = key_id(&signing.verifying_key());
        Ok(NodeKey { signing, key_id })
    }

    /// Encodes the private key as PKCS#8 PEM encrypted under `passphrase` (PBES2: scrypt and
    /// AES-256, the `pkcs8` crate's recommended parameters).
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, CryptoError> {
        let pem = self
            .signing
            .to_pkcs8_encrypted_pem(passphrase, Default::default())
            .map_err(|_| CryptoError::Encode)?;
        Ok(pem.to_string())
    }

    /// Encodes the private key as PKCS#8 PEM (to be written with mode 0600).
    pub fn to_pem(&self) -> Result<String, CryptoError> {
        let pem = self
            .signing
            .to_pkcs8_pem(Default::default())
            .map_err(|_| CryptoError::Encode)?;
        Ok(pem.to_string())
    }

    /// "ed25519:" followed by 16 hex digits of SHA-256 of the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs `domain || 0x00 || message`.
    pub fn sign(&self, domain: &str, message: &[u8]) -> [u8; 64] {
        self.signing.sign(&framed(domain, message)).to_bytes()
    }
}

/// The key id of a public key.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("ed25519:{}", hex::encode(&digest[..8]))
}

/// Parses 32 bytes as a public key, refusing weak keys.
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let bytes: &[u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::BadPublicKey)?;
    if key.is_weak() {
        return Err(CryptoError::WeakPublicKey);
    }
    Ok(key)
}

/// Verifies a signature over `domain || 0x00 || message` with `verify_strict`.
pub fn verify(
    public: &VerifyingKey,
    domain: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let signature: &[u8; 64] = signature
        .try_into()
        .map_err(|_| CryptoError::BadSignatureLength(signature.len()))?;
    let signature = Signature::from_bytes(signature);
    public
        .verify_strict(&framed(domain, message), &signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Incremental SHA-256 that bytes (canonical JSON, for one) can be streamed into, so a
/// hash over a long message never needs the message in one buffer.
#[derive(Clone, Default)]
pub struct Sha256Writer(Sha256);

impl Sha256Writer {
    pub fn new() -> Sha256Writer {
        Sha256Writer(Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// RFC 8785 (JCS) canonical bytes of a JSON value.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>, CryptoError> {
    serde_jcs::to_vec(value).map_err(|e| CryptoError::Canonical(e.to_string()))
}

/// RFC 8785 (JCS) canonical bytes of any serialisable value, without building a
/// `serde_json::Value` first: the same bytes as [`canonical_json`] of its `to_value`.
pub fn canonical_json_of<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CryptoError> {
    serde_jcs::to_vec(value).map_err(|e| CryptoError::Canonical(e.to_string()))
}

/// SHA-256 fingerprint of a DER certificate, as lowercase hex (what cards carry for pinning).
pub fn cert_fingerprint(der: &[u8]) -> String {
    hex::encode(sha256(der))
}

fn framed(domain: &str, message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(domain.len() + 1 + message.len());
    framed.extend_from_slice(domain.as_bytes());
    framed.push(0);
    framed.extend_from_slice(message);
    framed
}
