//! Unit tests for signing, strict verification and domain separation.

use super::*;

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed(&[n; 32])
}

#[test]
fn sign_verify_round_trip() {
    let k = key(1);
    let sig = k.sign(DOMAIN_REQUEST, b"hello");
    verify(&k.public_key(), DOMAIN_REQUEST, b"hello", &sig).unwrap();
}

#[test]
fn changed_message_fails() {
    let k = key(1);
    let sig = k.sign(DOMAIN_REQUEST, b"hello");
    let err = verify(&k.public_key(), DOMAIN_REQUEST, b"hellp", &sig).unwrap_err();
    assert!(matches!(err, CryptoError::BadSignature));
}

#[test]
fn other_domain_fails() {
    let k = key(1);
    let sig = k.sign(DOMAIN_REQUEST, b"hello");
    assert!(verify(&k.public_key(), DOMAIN_CARD, b"hello", &sig).is_err());
}

#[test]
fn other_key_fails() {
    let sig = key(1).sign(DOMAIN_REQUEST, b"hello");
    assert!(verify(&key(2).public_key(), DOMAIN_REQUEST, b"hello", &sig).is_err());
}

#[test]
fn short_signature_is_named() {
    let err = verify(&key(1).public_key(), DOMAIN_REQUEST, b"x", &[0u8; 10]).unwrap_err();
    assert_eq!(err.to_string(), "signature must be 64 bytes, got 10");
}

#[test]
fn weak_key_is_refused() {
    // The identity point (all zeros but the sign byte) is small order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        parse_public_key(&identity),
        Err(CryptoError::WeakPublicKey)
    ));
    assert!(parse_public_key(&[1u8; 31]).is_err());
}

#[test]
fn pem_round_trip_keeps_key_id() {
    let k = key(7);
    let pem = k.to_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back = NodeKey::from_pem(&pem).unwrap();
    assert_eq!(back.key_id(), k.key_id());
    assert!(k.key_id().starts_with("ed25519:") && k.key_id().len() == 8 + 16);
    assert!(format!("{k:?}").contains("key_id") && !format!("{k:?}").contains("signing"));
}

#[test]
fn canonical_json_sorts_keys() {
    let v: serde_json::Value =
        serde_json::from_str(r#"{"b":"1","a":["x",{"d":1,"c":2}]}"#).unwrap();
    assert_eq!(
        String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
        r#"{"a":["x",{"c":2,"d":1}],"b":"1"}"#
    );
}

#[test]
fn an_encrypted_pem_opens_only_with_its_passphrase() {
    let k = key(5);
    let pem = k.to_encrypted_pem(b"correct horse").unwrap();
    assert!(NodeKey::pem_is_encrypted(&pem));
    assert!(!NodeKey::pem_is_encrypted(&k.to_pem().unwrap()));
    let back = NodeKey::from_encrypted_pem(&pem, b"correct horse").unwrap();
    assert_eq!(back.key_id(), k.key_id());
    let err = NodeKey::from_encrypted_pem(&pem, b"wrong").unwrap_err();
    assert!(matches!(err, CryptoError::WrongPassphrase), "{err}");
    // The plaintext parser refuses it rather than misreading it.
    assert!(NodeKey::from_pem(&pem).is_err());
}

/// AES-CBC lets about one wrong passphrase in 256 through the padding check; those must
/// still be reported as a wrong passphrase, not as a damaged key file. PBKDF2 with one
/// iteration and a fixed salt and IV keeps the 2,000 tries fast and the outcome fixed.
#[test]
fn every_wrong_passphrase_is_reported_as_one_even_past_the_padding_check() {
    use pkcs8::der::pem::LineEnding;
    use pkcs8::pkcs5::pbes2::Parameters;
    let k = key(6);
    let der = k.signing.to_pkcs8_der().unwrap();
    let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes()).unwrap();
    let params = Parameters::generate_pbkdf2_sha256_aes256cbc(1, &[7; 16], [9; 16]).unwrap();
    let pem = info
        .encrypt_with_params(params, b"right")
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap();
    assert_eq!(
        NodeKey::from_encrypted_pem(&pem, b"right")
            .unwrap()
            .key_id(),
        k.key_id()
    );
    let mut past_padding = 0;
    for i in 0..2_000 {
        let wrong = format!("wrong-{i}");
        let err = NodeKey::from_encrypted_pem(&pem, wrong.as_bytes()).unwrap_err();
        assert!(
            matches!(err, CryptoError::WrongPassphrase),
            "{wrong}: {err}"
        );
        // Count the tries whose padding happened to check out: the decryption then fails
        // on the bytes it produced, not on the padding.
        let decrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(
            pkcs8::SecretDocument::from_pem(&pem).unwrap().1.as_bytes(),
        )
        .unwrap()
        .decrypt(wrong.as_bytes());
        if !matches!(decrypted, Err(pkcs8::Error::EncryptedPrivateKey(_))) {
            past_padding += 1;
        }
    }
    assert!(
        past_padding > 0,
        "the fixture never reached the case under test"
    );
    // A file that is not an encrypted key at all is a bad key file, whatever the passphrase.
    let broken = pem.replace("ENCRYPTED PRIVATE KEY", "ENCRYPTED PRIVATE KEX");
    assert!(matches!(
        NodeKey::from_encrypted_pem(&broken, b"right"),
        Err(CryptoError::BadPrivateKey)
    ));
}
