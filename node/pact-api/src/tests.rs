//! Unit tests: client secrets (keyed hashes, the key file, legacy argon2 records and their
//! migration) and the failure throttle (with an injected clock).

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine as _;
use serde_json::{Value, json};

use super::clients::{self, Check, Clients, ClientsError, add_client};
use super::throttle::{COOL_DOWN, MAX_SOURCES, Source, Throttle, WINDOW};
use tanso_core::home::Home;

const COMPANY: &str = "urn:tanso:company:oem";

fn home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let home = Home::new(dir.path());
    (dir, home)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn clients_json(home: &Home) -> Value {
    serde_json::from_slice(&std::fs::read(home.dir.join(clients::CLIENTS_FILE)).unwrap()).unwrap()
}

/// An argon2id PHC string of `secret`, as earlier versions wrote (argon2's defaults).
fn argon2_phc(secret: &str) -> String {
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// A clients file in the format of earlier versions: two clients with argon2 hashes.
fn write_legacy_file(home: &Home) {
    let record = |id: &str, secret: &str| {
        json!({
            "client_id": id,
            "hash": argon2_phc(secret),
            "company_id": COMPANY,
            "groups": ["customer"],
            "created_at": "2026-01-01T00:00:00Z",
        })
    };
    let file =
        json!({"clients": [record("tanso-old-1", "secret-1"), record("tanso-old-2", "secret-2")]});
    std::fs::write(
        home.dir.join(clients::CLIENTS_FILE),
        serde_json::to_vec_pretty(&file).unwrap(),
    )
    .unwrap();
}

fn valid(check: Check) -> clients::Client {
    match check {
        Check::Valid(client) => (*client).clone(),
        other => panic!("expected a valid client, got {other:?}"),
    }
}

#[test]
fn secrets_are_stored_as_keyed_hashes_under_a_private_key() {
    let (_dir, home) = home();
    let (id, secret) = add_client(&home, COMPANY, vec!["customer".into()]).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&secret)
        .unwrap();
    assert!(raw.len() * 8 >= 128, "{} bits", raw.len() * 8);

    let text = std::fs::read_to_string(home.dir.join(clients::CLIENTS_FILE)).unwrap();
    assert!(!text.contains(&secret), "the secret must not be stored");
    assert!(!text.contains("$argon2"), "{text}");
    let hash = clients_json(&home)["clients"][0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hash.starts_with("hmac-sha256:"), "{hash}");
    assert_eq!(mode(&home.dir.join(clients::CLIENTS_FILE)), 0o600);
    let key_path = home.dir.join(clients::KEY_FILE);
    assert_eq!(mode(&key_path), 0o600);
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(hex::decode(key.trim()).unwrap().len(), 32);

    let clients = Clients::new(home.clone());
    let client = valid(clients.check(&id, &secret).unwrap());
    assert_eq!(client.client_id, id);
    assert_eq!(client.company_id, COMPANY);
    assert_eq!(client.groups, vec!["customer".to_string()]);
    assert!(matches!(
        clients.check(&id, "wrong").unwrap(),
        Check::Invalid
    ));
    let mut almost = secret.clone();
    almost.pop();
    assert!(matches!(
        clients.check(&id, &almost).unwrap(),
        Check::Invalid
    ));

    // A second client reuses the key; the first one's hash is untouched.
    let (id2, secret2) = add_client(&home, COMPANY, Vec::new()).unwrap();
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key);
    assert_eq!(clients_json(&home)["clients"][0]["hash"], hash.as_str());
    // The running node's view follows the file.
    valid(clients.check(&id2, &secret2).unwrap());
    valid(clients.check(&id, &secret).unwrap());
    assert!(matches!(
        clients.check(&id2, &secret).unwrap(),
        Check::Invalid
    ));
}

#[test]
fn a_key_file_others_may_read_is_refused() {
    let (_dir, home) = home();
    let (id, secret) = add_client(&home, COMPANY, Vec::new()).unwrap();
    let key_path = home.dir.join(clients::KEY_FILE);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Clients::new(home.clone()).check(&id, &secret).unwrap_err();
    assert!(
        matches!(err, ClientsError::LooseKey { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert!(matches!(
        add_client(&home, COMPANY, Vec::new()),
        Err(ClientsError::LooseKey { .. })
    ));

    // Keyed hashes without their key are an error, not a silent refusal of every client.
    std::fs::remove_file(&key_path).unwrap();
    let err = Clients::new(home.clone()).load().unwrap_err();
    assert!(matches!(err, ClientsError::MissingKey { .. }), "{err}");
}

#[test]
fn an_unknown_client_id_costs_one_keyed_hash_like_a_wrong_secret() {
    let (_dir, home) = home();
    write_legacy_file(&home);
    let (id, secret) = add_client(&home, COMPANY, Vec::new()).unwrap();
    let clients = Clients::new(home.clone());
    clients.load().unwrap();
    let before = clients.macs_computed();
    assert!(matches!(
        clients.check("tanso-nobody", &secret).unwrap(),
        Check::Invalid
    ));
    assert_eq!(clients.macs_computed(), before + 1);
    assert!(matches!(
        clients.check(&id, "wrong").unwrap(),
        Check::Invalid
    ));
    assert_eq!(clients.macs_computed(), before + 2);
    valid(clients.check(&id, &secret).unwrap());
    assert_eq!(clients.macs_computed(), before + 3);
    // An unknown id never reaches argon2, even in a file that still has legacy records.
    assert!(matches!(
        clients.check("tanso-old-3", "secret-1").unwrap(),
        Check::Invalid
    ));
}

#[test]
fn a_legacy_record_is_migrated_on_its_first_success_only() {
    let (_dir, home) = home();
    write_legacy_file(&home);
    let before = clients_json(&home);
    let clients = Clients::new(home.clone());

    // A wrong secret: argon2 says no, nothing is written.
    let Check::Legacy(legacy) = clients.check("tanso-old-1", "wrong").unwrap() else {
        panic!("a legacy record is checked with argon2");
    };
    assert!(clients.verify_legacy(&legacy, "wrong").is_none());
    assert_eq!(clients_json(&home), before);
    assert!(!home.dir.join(clients::KEY_FILE).exists());

    // The right secret: in, and the record now holds a keyed hash under a new private key.
    let Check::Legacy(legacy) = clients.check("tanso-old-1", "secret-1").unwrap() else {
        panic!("a legacy record is checked with argon2");
    };
    let client = clients.verify_legacy(&legacy, "secret-1").unwrap();
    assert_eq!(client.client_id, "tanso-old-1");
    assert_eq!(client.company_id, COMPANY);
    assert_eq!(mode(&home.dir.join(clients::KEY_FILE)), 0o600);
    assert_eq!(mode(&home.dir.join(clients::CLIENTS_FILE)), 0o600);
    let after = clients_json(&home);
    let hash = after["clients"][0]["hash"].as_str().unwrap();
    assert!(hash.starts_with("hmac-sha256:"), "{hash}");
    // Only that record's hash changed.
    let mut expected = before.clone();
    expected["clients"][0]["hash"] = json!(hash);
    assert_eq!(after, expected);

    // From now on the check is keyed; the other client is still legacy and still works.
    let client = valid(clients.check("tanso-old-1", "secret-1").unwrap());
    assert_eq!(client.groups, vec!["customer".to_string()]);
    assert!(matches!(
        clients.check("tanso-old-1", "wrong").unwrap(),
        Check::Invalid
    ));
    let Check::Legacy(legacy) = clients.check("tanso-old-2", "secret-2").unwrap() else {
        panic!("the other record is still legacy");
    };
    assert!(clients.verify_legacy(&legacy, "secret-2").is_some());
    valid(clients.check("tanso-old-2", "secret-2").unwrap());
    // A client added afterwards uses the key the migration made.
    let (id, secret) = add_client(&home, COMPANY, Vec::new()).unwrap();
    valid(clients.check(&id, &secret).unwrap());
    valid(clients.check("tanso-old-1", "secret-1").unwrap());
}

#[test]
fn tokens_are_dropped_oldest_first_and_unknown_ones_are_refused() {
    let tokens = clients::Tokens::default();
    let client = std::sync::Arc::new(clients::Client {
        client_id: "tanso-a".into(),
        company_id: COMPANY.into(),
        groups: Vec::new(),
    });
    let now = std::time::Instant::now();
    let token = tokens
        .issue(client.clone(), Duration::from_secs(60), now)
        .unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(
        tokens.check(&token, now),
        clients::TokenState::Valid(client)
    );
    // Expired exactly at its lifetime, by the clock it is checked with.
    assert_eq!(
        tokens.check(&token, now + Duration::from_secs(60)),
        clients::TokenState::Expired
    );
    let mut other = token.clone();
    other.replace_range(..1, if token.starts_with('A') { "B" } else { "A" });
    assert_eq!(tokens.check(&other, now), clients::TokenState::Unknown);
    assert_eq!(tokens.check("garbage", now), clients::TokenState::Unknown);
    assert_eq!(tokens.check("", now), clients::TokenState::Unknown);
}

// === the failure throttle ===

fn ip(s: &str) -> Source {
    Source::of(s.parse::<IpAddr>().unwrap())
}

#[test]
fn a_source_is_refused_after_the_limit_until_its_cool_down_ends() {
    let throttle = Throttle::new(3);
    let t0 = Instant::now();
    let attacker = ip("192.0.2.7");
    let partner = ip("198.51.100.1");
    assert!(throttle.check(attacker, t0).is_ok());
    assert!(!throttle.fail(attacker, t0));
    assert!(!throttle.fail(attacker, t0 + Duration::from_secs(1)));
    assert!(
        throttle
            .check(attacker, t0 + Duration::from_secs(2))
            .is_ok()
    );
    // The third failure within the window starts the cool-down.
    let t3 = t0 + Duration::from_secs(3);
    assert!(throttle.fail(attacker, t3));
    assert_eq!(throttle.check(attacker, t3), Err(COOL_DOWN));
    assert_eq!(
        throttle.check(attacker, t3 + Duration::from_secs(100)),
        Err(COOL_DOWN - Duration::from_secs(100))
    );
    // Another source is not affected.
    assert!(throttle.check(partner, t3).is_ok());
    // Failures finishing during the cool-down do not extend it.
    assert!(!throttle.fail(attacker, t3 + Duration::from_secs(10)));
    assert_eq!(
        throttle.check(attacker, t3 + COOL_DOWN - Duration::from_secs(1)),
        Err(Duration::from_secs(1))
    );
    // After the cool-down: admitted again, with a fresh count.
    let after = t3 + COOL_DOWN;
    assert!(throttle.check(attacker, after).is_ok());
    assert!(!throttle.fail(attacker, after));
    assert!(!throttle.fail(attacker, after));
    assert!(throttle.check(attacker, after).is_ok());
    assert!(throttle.fail(attacker, after));
    assert!(throttle.check(attacker, after).is_err());
}

#[test]
fn failures_spread_over_more_than_the_window_are_not_refused() {
    let throttle = Throttle::new(3);
    let t0 = Instant::now();
    let source = ip("192.0.2.8");
    let mut now = t0;
    for _ in 0..10 {
        assert!(!throttle.fail(source, now));
        assert!(!throttle.fail(source, now + Duration::from_secs(1)));
        assert!(throttle.check(source, now + Duration::from_secs(2)).is_ok());
        now += WINDOW;
    }
}

#[test]
fn ipv6_sources_are_counted_per_64_and_ipv4_mapped_as_ipv4() {
    assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
    assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
    assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    assert_eq!(ip("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::/64");
    assert_eq!(ip("192.0.2.1").to_string(), "192.0.2.1");
    let throttle = Throttle::new(1);
    let now = Instant::now();
    assert!(throttle.fail(ip("2001:db8:1:2::1"), now));
    assert!(throttle.check(ip("2001:db8:1:2::ffff"), now).is_err());
    assert!(throttle.check(ip("2001:db8:1:3::1"), now).is_ok());
}

#[test]
fn the_throttle_tracks_a_bounded_number_of_sources() {
    let throttle = Throttle::new(1);
    let now = Instant::now();
    let first = ip("10.0.0.0");
    assert!(throttle.fail(first, now));
    for n in 1..(MAX_SOURCES as u32 + 500) {
        let source = Source::of(IpAddr::from((10u32 << 24 | n).to_be_bytes()));
        throttle.fail(source, now);
        assert!(throttle.tracked() <= MAX_SOURCES);
    }
    assert_eq!(throttle.tracked(), MAX_SOURCES);
    // The oldest was forgotten first; the newest are still refused.
    assert!(throttle.check(first, now).is_ok());
    let newest = Source::of(IpAddr::from(
        (10u32 << 24 | (MAX_SOURCES as u32 + 499)).to_be_bytes(),
    ));
    assert!(throttle.check(newest, now).is_err());
}
