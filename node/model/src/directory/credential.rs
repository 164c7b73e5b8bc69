//! Directory documents: the association's card, membership credentials and status lists (no IO).
//!
//! Every document is JSON (camelCase) signed over the JCS form of itself without its
//! `signature` field, each kind under its own signing domain, so a credential can never pass
//! as a status list or a card and vice versa.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::VerifyingKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, NodeKey};

/// Why a directory document is refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{kind} is not valid json: {reason}")]
    Json { kind: &'static str, reason: String },
    #[error("{kind} field {field}: {reason}")]
    Field {
        kind: &'static str,
        field: &'static str,
        reason: String,
    },
    #[error("{kind} key id {stated} does not match its public key ({actual})")]
    KeyId {
        kind: &'static str,
        stated: String,
        actual: String,
    },
    #[error("{kind} signature: {source}")]
    Signature {
        kind: &'static str,
        #[source]
        source: CryptoError,
    },
    #[error("{kind} is from association {stated}, not the pinned {pinned}")]
    WrongAssociation {
        kind: &'static str,
        stated: String,
        pinned: String,
    },
    #[error("{kind} was issued by directory key {stated}, not the pinned key {pinned}")]
    WrongDirectoryKey {
        kind: &'static str,
        stated: String,
        pinned: String,
    },
    #[error("membership credential of {company_id} expired at {expires_at}")]
    Expired {
        company_id: String,
        expires_at: String,
    },
    #[error(
        "directory answer is signed by key {stated}, not the pinned key {pinned} of {association_id}"
    )]
    UnknownDirectoryKey {
        association_id: String,
        stated: String,
        pinned: String,
    },
    #[error("directory answer is for query {got:?}, not {expected:?}")]
    QueryMismatch { got: String, expected: String },
    #[error("status list serial {got} is older than the {known} already seen")]
    StatusRollback { got: u64, known: u64 },
    #[error("membership credential of {company_id} is not valid before {issued_at}")]
    NotYetValid {
        company_id: String,
        issued_at: String,
    },
}

/// What an association hands its members to pin (from `tanso directory card`). Self-signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryCard {
    /// The association's id (a urn).
    pub association_id: String,
    pub name: String,
    /// base64url of the association's 32-byte Ed25519 public key.
    pub public_key: String,
    pub key_id: String,
    /// "host:port" of the directory's gRPC endpoint.
    pub endpoint: String,
    /// Lowercase hex SHA-256 of the directory's TLS certificate (DER).
    pub tls_fingerprint: String,
    #[serde(default)]
    pub signature: String,
}

const KIND_CARD: &str = "directory card";
const KIND_CREDENTIAL: &str = "membership credential";
const KIND_STATUS: &str = "status list";

impl DirectoryCard {
    /// Builds and signs the association's card.
    pub fn issue(
        key: &NodeKey,
        association_id: &str,
        name: &str,
        endpoint: &str,
        tls_fingerprint: &str,
    ) -> Result<DirectoryCard, CryptoError> {
        let mut card = DirectoryCard {
            association_id: association_id.to_string(),
            name: name.to_string(),
            public_key: B64.encode(key.public_key_bytes()),
            key_id: key.key_id().to_string(),
            endpoint: endpoint.to_string(),
            tls_fingerprint: tls_fingerprint.to_string(),
            signature: String::new(),
        };
        card.signature = sign_doc(key, crypto::DOMAIN_DIRECTORY_CARD, &card)?;
        Ok(card)
    }

    /// Parses and checks a card: fields well-formed, key id matches the key, self-signature valid.
    pub fn parse(text: &str) -> Result<DirectoryCard, CredentialError> {
        let card: DirectoryCard = parse_json(KIND_CARD, text)?;
        card.check()?;
        Ok(card)
    }

    /// Checks a card already deserialised.
    pub fn check(&self) -> Result<(), CredentialError> {
        check_urn(KIND_CARD, "associationId", &self.association_id)?;
        check_nonempty(KIND_CARD, "name", &self.name)?;
        check_endpoint(KIND_CARD, "endpoint", &self.endpoint, false)?;
        check_fingerprint(KIND_CARD, &self.tls_fingerprint)?;
        let public = self.verifying_key()?;
        check_key_id(KIND_CARD, &public, &self.key_id)?;
        verify_doc(
            KIND_CARD,
            &public,
            crypto::DOMAIN_DIRECTORY_CARD,
            self,
            &self.signature,
        )
    }

    /// The association's public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CredentialError> {
        parse_key(KIND_CARD, &self.public_key)
    }

    /// Verifies a detached signature by the association key under `domain` (answers, lists).
    pub fn verify_signature(
        &self,
        domain: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let public = self
            .verifying_key()
            .map_err(|_| CryptoError::BadPublicKey)?;
        crypto::verify(&public, domain, message, signature)
    }
}

/// Issued by the directory on approval: company id ↔ key ↔ endpoints, validity, and what the
/// member supplies and buys (identifiers only). Signed by the association key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembershipCredential {
    pub association_id: String,
    pub directory_key_id: String,
    /// Increases with every credential the directory issues; a re-join gets a higher serial.
    pub serial: u64,
    pub company_id: String,
    pub name: String,
    /// base64url of the member's Ed25519 public key.
    pub public_key: String,
    pub key_id: String,
    /// "host:port"; empty when the node has no inbound port.
    pub endpoint: String,
    /// Relay "host:port" when the member is reachable through one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    pub tls_fingerprint: String,
    /// The member's retired keys with their rotation statements (as on its card), so that
    /// footprints it signed before a rotation still verify for whoever found it here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_keys: Vec<crate::keys::PreviousKey>,
    /// Product ids (urns) the member supplies.
    #[serde(default)]
    pub supplies_products: Vec<String>,
    /// Classification codes (CPC, HS, …) of what the member supplies.
    #[serde(default)]
    pub supplies_classifications: Vec<String>,
    /// Classification codes the member buys.
    #[serde(default)]
    pub buys_classifications: Vec<String>,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    #[serde(default)]
    pub signature: String,
}

impl MembershipCredential {
    /// Signs `self` (all fields but the signature filled in) with the association key.
    pub fn sign(&mut self, key: &NodeKey) -> Result<(), CryptoError> {
        self.signature = String::new();
        self.signature = sign_doc(key, crypto::DOMAIN_MEMBERSHIP, self)?;
        Ok(())
    }

    /// Parses a credential (well-formedness only; [`MembershipCredential::verify`] checks trust).
    pub fn parse(text: &str) -> Result<MembershipCredential, CredentialError> {
        let credential: MembershipCredential = parse_json(KIND_CREDENTIAL, text)?;
        credential.check_fields()?;
        Ok(credential)
    }

    /// Offline check: signature by `directory`'s key, not expired at `now`, well-formed fields.
    pub fn verify(
        &self,
        directory: &DirectoryCard,
        now: DateTime<Utc>,
    ) -> Result<(), CredentialError> {
        self.check_fields()?;
        if self.association_id != directory.association_id {
            return Err(CredentialError::WrongAssociation {
                kind: KIND_CREDENTIAL,
                stated: self.association_id.clone(),
                pinned: directory.association_id.clone(),
            });
        }
        if self.directory_key_id != directory.key_id {
            return Err(CredentialError::WrongDirectoryKey {
                kind: KIND_CREDENTIAL,
                stated: self.directory_key_id.clone(),
                pinned: directory.key_id.clone(),
            });
        }
        let public = directory.verifying_key()?;
        verify_doc(
            KIND_CREDENTIAL,
            &public,
            crypto::DOMAIN_MEMBERSHIP,
            self,
            &self.signature,
        )?;
        let issued = parse_time(KIND_CREDENTIAL, "issuedAt", &self.issued_at)?;
        let expires = parse_time(KIND_CREDENTIAL, "expiresAt", &self.expires_at)?;
        // A little slack for clocks that disagree by a few seconds.
        if issued > now + chrono::Duration::seconds(300) {
            return Err(CredentialError::NotYetValid {
                company_id: self.company_id.clone(),
                issued_at: self.issued_at.clone(),
            });
        }
        if expires <= now {
            return Err(CredentialError::Expired {
                company_id: self.company_id.clone(),
                expires_at: self.expires_at.clone(),
            });
        }
        Ok(())
    }

    /// The member's public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CredentialError> {
        parse_key(KIND_CREDENTIAL, &self.public_key)
    }

    fn check_fields(&self) -> Result<(), CredentialError> {
        let kind = KIND_CREDENTIAL;
        check_urn(kind, "associationId", &self.association_id)?;
        check_urn(kind, "companyId", &self.company_id)?;
        check_nonempty(kind, "name", &self.name)?;
        check_endpoint(kind, "endpoint", &self.endpoint, true)?;
        if let Some(relay) = &self.relay {
            check_endpoint(kind, "relay", relay, false)?;
        }
        if self.endpoint.is_empty() && self.relay.is_none() {
            return Err(CredentialError::Field {
                kind,
                field: "endpoint",
                reason: "a member needs an endpoint or a relay".into(),
            });
        }
        check_fingerprint(kind, &self.tls_fingerprint)?;
        let public = self.verifying_key()?;
        check_key_id(kind, &public, &self.key_id)?;
        for product in &self.supplies_products {
            check_urn(kind, "suppliesProducts", product)?;
        }
        for code in self
            .supplies_classifications
            .iter()
            .chain(&self.buys_classifications)
        {
            check_classification(kind, code)?;
        }
        parse_time(kind, "issuedAt", &self.issued_at)?;
        parse_time(kind, "expiresAt", &self.expires_at)?;
        Ok(())
    }
}

/// Signed revocation list; the serial increases on every change. Revocation is by company id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusList {
    pub association_id: String,
    pub serial: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// Revoked company ids, sorted.
    pub revoked: Vec<String>,
    #[serde(default)]
    pub signature: String,
}

impl StatusList {
    /// Builds and signs a status list.
    pub fn issue(
        key: &NodeKey,
        association_id: &str,
        serial: u64,
        issued_at: DateTime<Utc>,
        mut revoked: Vec<String>,
    ) -> Result<StatusList, CryptoError> {
        revoked.sort();
        revoked.dedup();
        let mut list = StatusList {
            association_id: association_id.to_string(),
            serial,
            issued_at: rfc3339(issued_at),
            revoked,
            signature: String::new(),
        };
        list.signature = sign_doc(key, crypto::DOMAIN_STATUS_LIST, &list)?;
        Ok(list)
    }

    /// Parses a status list (use [`StatusList::verify`] before trusting it).
    pub fn parse(text: &str) -> Result<StatusList, CredentialError> {
        parse_json(KIND_STATUS, text)
    }

    /// Checks the list was signed by `directory`'s association key.
    pub fn verify(&self, directory: &DirectoryCard) -> Result<(), CredentialError> {
        if self.association_id != directory.association_id {
            return Err(CredentialError::WrongAssociation {
                kind: KIND_STATUS,
                stated: self.association_id.clone(),
                pinned: directory.association_id.clone(),
            });
        }
        parse_time(KIND_STATUS, "issuedAt", &self.issued_at)?;
        let public = directory.verifying_key()?;
        verify_doc(
            KIND_STATUS,
            &public,
            crypto::DOMAIN_STATUS_LIST,
            self,
            &self.signature,
        )
    }

    /// Whether `company_id` is on the list.
    pub fn is_revoked(&self, company_id: &str) -> bool {
        self.revoked.iter().any(|c| c == company_id)
    }
}

/// RFC 3339 with second precision, as every directory document writes times.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// JCS bytes of a document without its `signature` field.
pub(crate) fn signing_bytes<T: Serialize>(doc: &T) -> Result<Vec<u8>, CryptoError> {
    let mut value = serde_json::to_value(doc).map_err(|e| CryptoError::Canonical(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.remove("signature");
    }
    crypto::canonical_json(&value)
}

fn sign_doc<T: Serialize>(key: &NodeKey, domain: &str, doc: &T) -> Result<String, CryptoError> {
    let bytes = signing_bytes(doc)?;
    Ok(B64.encode(key.sign(domain, &bytes)))
}

fn verify_doc<T: Serialize>(
    kind: &'static str,
    public: &VerifyingKey,
    domain: &str,
    doc: &T,
    signature: &str,
) -> Result<(), CredentialError> {
    let sig = B64.decode(signature).map_err(|e| CredentialError::Field {
        kind,
        field: "signature",
        reason: e.to_string(),
    })?;
    let bytes = signing_bytes(doc).map_err(|source| CredentialError::Signature { kind, source })?;
    crypto::verify(public, domain, &bytes, &sig)
        .map_err(|source| CredentialError::Signature { kind, source })
}

fn parse_json<T: DeserializeOwned>(kind: &'static str, text: &str) -> Result<T, CredentialError> {
    serde_json::from_str(text).map_err(|e| CredentialError::Json {
        kind,
        reason: e.to_string(),
    })
}

fn parse_key(kind: &'static str, b64: &str) -> Result<VerifyingKey, CredentialError> {
    let raw = B64.decode(b64).map_err(|e| CredentialError::Field {
        kind,
        field: "publicKey",
        reason: e.to_string(),
    })?;
    crypto::parse_public_key(&raw).map_err(|e| CredentialError::Field {
        kind,
        field: "publicKey",
        reason: e.to_string(),
    })
}

fn check_key_id(
    kind: &'static str,
    public: &VerifyingKey,
    stated: &str,
) -> Result<(), CredentialError> {
    let actual = crypto::key_id(public);
    if actual != stated {
        return Err(CredentialError::KeyId {
            kind,
            stated: stated.to_string(),
            actual,
        });
    }
    Ok(())
}

fn check_urn(kind: &'static str, field: &'static str, value: &str) -> Result<(), CredentialError> {
    if crate::ids::is_urn(value) {
        Ok(())
    } else {
        Err(CredentialError::Field {
            kind,
            field,
            reason: format!("{value:?} is not a urn"),
        })
    }
}

fn check_nonempty(
    kind: &'static str,
    field: &'static str,
    value: &str,
) -> Result<(), CredentialError> {
    if value.trim().is_empty() {
        Err(CredentialError::Field {
            kind,
            field,
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

fn check_endpoint(
    kind: &'static str,
    field: &'static str,
    value: &str,
    may_be_empty: bool,
) -> Result<(), CredentialError> {
    if value.is_empty() && may_be_empty {
        return Ok(());
    }
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(CredentialError::Field {
            kind,
            field,
            reason: format!("{value:?} is not host:port"),
        })
    }
}

fn check_fingerprint(kind: &'static str, value: &str) -> Result<(), CredentialError> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(CredentialError::Field {
            kind,
            field: "tlsFingerprint",
            reason: "must be 64 hex digits (sha-256 of the certificate)".into(),
        })
    }
}

/// A classification code: 1–32 characters of letters, digits, '.', '-', ':' and '_'.
pub fn is_classification(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
}

fn check_classification(kind: &'static str, code: &str) -> Result<(), CredentialError> {
    if is_classification(code) {
        Ok(())
    } else {
        Err(CredentialError::Field {
            kind,
            field: "classifications",
            reason: format!("{code:?} is not a classification code"),
        })
    }
}

fn parse_time(
    kind: &'static str,
    field: &'static str,
    value: &str,
) -> Result<DateTime<Utc>, CredentialError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CredentialError::Field {
            kind,
            field,
            reason: format!("{value:?} is not an RFC 3339 time: {e}"),
        })
}
