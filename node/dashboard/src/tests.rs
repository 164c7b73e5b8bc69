//! Unit tests: users file, passwords, sessions and login tokens.

use std::os::unix::fs::PermissionsExt;

use super::auth::{self, Role, Sessions};
use super::{DashboardError, add_user};
use tanso_core::home::Home;

fn home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let home = Home::new(dir.path());
    (dir, home)
}

#[test]
fn users_are_stored_hashed_with_mode_0600() {
    let (_dir, home) = home();
    let password = add_user(&home, "ops", Role::Admin).unwrap();
    assert!(password.len() >= 24);
    let path = home.dir.join(auth::USERS_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&password), "the password must not be stored");
    assert!(text.contains("$argon2id$"));
    assert_eq!(
        auth::check_password(&home, "ops", &password).unwrap(),
        Some(("ops".to_string(), Role::Admin))
    );
    assert_eq!(auth::check_password(&home, "ops", "wrong").unwrap(), None);
    assert_eq!(
        auth::check_password(&home, "nobody", &password).unwrap(),
        None
    );
    assert!(matches!(
        add_user(&home, "ops", Role::Viewer),
        Err(DashboardError::UserExists(_))
    ));
    assert!(matches!(
        add_user(&home, "bad name", Role::Viewer),
        Err(DashboardError::BadName(_))
    ));
    assert!("root".parse::<Role>().is_err());
}

#[test]
fn sessions_and_one_time_tokens() {
    let sessions = Sessions::default();
    let cookie = sessions.create("ops", Role::Viewer).unwrap();
    assert_eq!(cookie.len(), 43, "256 bits, base64url");
    assert_eq!(sessions.get(&cookie).unwrap().role, Role::Viewer);
    sessions.remove(&cookie);
    assert!(sessions.get(&cookie).is_none());
    let token = sessions.create_login_token("ops", Role::Admin).unwrap();
    assert_eq!(sessions.redeem_login_token(&token).unwrap().user, "ops");
    assert!(
        sessions.redeem_login_token(&token).is_none(),
        "one use only"
    );
}

/// Sessions and login links expire by the node's clock, so their lifetimes are tested by
/// advancing it rather than by waiting hours.
#[test]
fn sessions_and_login_links_expire_by_the_clock() {
    let clock = tanso_core::clock::Clock::default();
    let sessions = Sessions::new(clock.clone());
    let cookie = sessions.create("ops", Role::Viewer).unwrap();
    let link = sessions.create_login_token("ops", Role::Admin).unwrap();
    clock.advance(super::auth::LOGIN_TOKEN_TTL + std::time::Duration::from_secs(1));
    assert!(sessions.redeem_login_token(&link).is_none(), "link expired");
    assert!(sessions.get(&cookie).is_some(), "the session lasts longer");
    clock.advance(super::auth::SESSION_TTL);
    assert!(sessions.get(&cookie).is_none(), "session expired");
}
