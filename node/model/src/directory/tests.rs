//! Tests of directory documents: signing, verification, expiry, forgery.

use chrono::{Duration, Utc};

use super::*;
use crate::crypto::NodeKey;
use crate::directory::credential::rfc3339;

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed(&[n; 32])
}

fn card(k: &NodeKey) -> DirectoryCard {
    DirectoryCard::issue(
        k,
        "urn:tanso:association:steel",
        "Steel association",
        "127.0.0.1:7000",
        &"ab".repeat(32),
    )
    .unwrap()
}

fn credential(directory: &NodeKey, member: &NodeKey, days: i64) -> MembershipCredential {
    let now = Utc::now();
    let mut c = MembershipCredential {
        association_id: "urn:tanso:association:steel".into(),
        directory_key_id: directory.key_id().into(),
        serial: 1,
        company_id: "urn:tanso:company:acme".into(),
        name: "Acme".into(),
        public_key: base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            member.public_key_bytes(),
        ),
        key_id: member.key_id().into(),
        endpoint: "127.0.0.1:7443".into(),
        relay: None,
        tls_fingerprint: "cd".repeat(32),
        previous_keys: Vec::new(),
        supplies_products: vec!["urn:tanso:product:bolt".into()],
        supplies_classifications: vec!["CPC:4291".into()],
        buys_classifications: vec![],
        issued_at: rfc3339(now - Duration::days(1)),
        expires_at: rfc3339(now + Duration::days(days)),
        signature: String::new(),
    };
    c.sign(directory).unwrap();
    c
}

#[test]
fn card_round_trips_and_verifies() {
    let k = key(1);
    let text = serde_json::to_string(&card(&k)).unwrap();
    let parsed = DirectoryCard::parse(&text).unwrap();
    assert_eq!(parsed.key_id, k.key_id());
}

#[test]
fn tampered_card_is_refused() {
    let mut c = card(&key(1));
    c.endpoint = "10.0.0.1:7000".into();
    let err = DirectoryCard::parse(&serde_json::to_string(&c).unwrap()).unwrap_err();
    assert!(matches!(err, CredentialError::Signature { .. }), "{err}");
}

#[test]
fn malformed_card_names_the_field() {
    let mut c = card(&key(1));
    c.tls_fingerprint = "xyz".into();
    let err = DirectoryCard::parse(&serde_json::to_string(&c).unwrap()).unwrap_err();
    assert!(err.to_string().contains("tlsFingerprint"), "{err}");
    let err = DirectoryCard::parse("{\"name\": 1}").unwrap_err();
    assert!(matches!(err, CredentialError::Json { .. }), "{err}");
}

#[test]
fn credential_verifies_against_its_directory_only() {
    let (d, m) = (key(1), key(2));
    let c = credential(&d, &m, 30);
    let text = serde_json::to_string(&c).unwrap();
    let parsed = MembershipCredential::parse(&text).unwrap();
    parsed.verify(&card(&d), Utc::now()).unwrap();
    // A forger with another key who claims the pinned key id.
    let mut forged = credential(&key(3), &m, 30);
    forged.directory_key_id = d.key_id().into();
    forged.sign(&key(3)).unwrap();
    forged.directory_key_id = d.key_id().into();
    let err = forged.verify(&card(&d), Utc::now()).unwrap_err();
    assert!(matches!(err, CredentialError::Signature { .. }), "{err}");
}

#[test]
fn tampered_credential_is_refused() {
    let (d, m) = (key(1), key(2));
    let mut c = credential(&d, &m, 30);
    c.endpoint = "10.9.9.9:1".into();
    let err = c.verify(&card(&d), Utc::now()).unwrap_err();
    assert!(matches!(err, CredentialError::Signature { .. }), "{err}");
}

#[test]
fn expired_credential_is_refused() {
    let (d, m) = (key(1), key(2));
    let c = credential(&d, &m, 30);
    let err = c
        .verify(&card(&d), Utc::now() + Duration::days(31))
        .unwrap_err();
    assert!(matches!(err, CredentialError::Expired { .. }), "{err}");
}

#[test]
fn credential_signature_is_not_a_status_list_signature() {
    let d = key(1);
    let list = StatusList::issue(
        &d,
        "urn:tanso:association:steel",
        3,
        Utc::now(),
        vec!["urn:tanso:company:b".into(), "urn:tanso:company:a".into()],
    )
    .unwrap();
    list.verify(&card(&d)).unwrap();
    assert!(list.is_revoked("urn:tanso:company:a"));
    assert!(!list.is_revoked("urn:tanso:company:c"));
    let mut other = list.clone();
    other.revoked.clear();
    assert!(other.verify(&card(&d)).is_err());
    assert!(list.verify(&card(&key(9))).is_err());
}

/// Member states are stored and answered as the text directories always wrote, and a
/// directory answering anything else is not understood.
#[test]
fn member_states_keep_their_stored_text() {
    let texts = ["pending", "approved", "revoked"];
    assert_eq!(MemberState::ALL.len(), texts.len());
    for (state, text) in MemberState::ALL.iter().zip(texts) {
        let json = format!("\"{text}\"");
        assert_eq!(serde_json::to_string(state).unwrap(), json);
        assert_eq!(serde_json::from_str::<MemberState>(&json).unwrap(), *state);
        assert_eq!(text.parse::<MemberState>().unwrap(), *state);
        assert_eq!(state.to_string(), text);
    }
    let unknown = "suspended".parse::<MemberState>().unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "\"suspended\" is not a valid MemberState"
    );
}
