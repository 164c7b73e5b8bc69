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

/// The dashboard's totals over an archived audit log (with the core's audit test helpers).
mod archived {
    use chrono::{DateTime, Utc};
    use tanso_core::store::EngineKind;
    use tanso_core::testkit::{archive_to, open, stored, write_many};

    #[test]
    fn counts_since_the_start_include_archived_entries_redb() {
        counts_since_the_start_include_archived_entries(EngineKind::Redb);
    }

    #[test]
    fn counts_since_the_start_include_archived_entries_sled() {
        counts_since_the_start_include_archived_entries(EngineKind::Sled);
    }

    /// Counts "since the start" (the dashboard's exchange totals, the KPI measures) include
    /// archived entries through the anchor's counts, and count each entry once.
    fn counts_since_the_start_include_archived_entries(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let node = open(&dir.path().join("home"), engine);
        write_many(&node, 0..200);
        let all = stored(&node);
        let index = crate::index::Index::new(node.clone());
        index.catch_up(None, true).unwrap();
        let totals = |index: &crate::index::Index| {
            let s = index.lock_stats();
            (
                s.permitted,
                s.denied,
                s.days.values().map(|d| d.0 + d.1).sum::<u64>(),
            )
        };
        let before = totals(&index);
        assert!(before.0 > 0 && before.1 > 0);
        let kpi_config = tanso_calc::kpi::load_config(
            include_str!("../../../kpi/logistics.toml"),
            "logistics.toml",
        )
        .unwrap();
        let kpi_before = tanso_calc::kpi::node_measures(
            node.monthly_counts(&|n| kpi_config.measure(n).is_some())
                .unwrap(),
        )
        .rows();
        assert!(!kpi_before.is_empty());

        let file = dir.path().join("seg.jsonl");
        let cut: DateTime<Utc> = all[120].at.parse().unwrap();
        let done = archive_to(&node, cut, &file);
        assert!(done.archived > 0);
        assert_eq!(
            tanso_calc::kpi::node_measures(
                node.monthly_counts(&|n| kpi_config.measure(n).is_some())
                    .unwrap(),
            )
            .rows(),
            kpi_before
        );
        write_many(&node, 200..230);
        // A dashboard that had read everything goes on; one that starts now reads the anchor.
        index.catch_up(None, true).unwrap();
        let fresh = crate::index::Index::new(node.clone());
        fresh.catch_up(None, true).unwrap();
        let mut expected = before;
        for e in stored(&node).iter().filter(|e| e.seq >= 200) {
            if e.draft.caller == "local" {
                continue;
            }
            match e.draft.decision {
                tanso_core::audit::AuditDecision::Permit => {
                    expected.0 += 1;
                    expected.2 += 1;
                }
                tanso_core::audit::AuditDecision::Deny => {
                    expected.1 += 1;
                    expected.2 += 1;
                }
                tanso_core::audit::AuditDecision::Error => {}
            }
        }
        assert_eq!(totals(&index), expected);
        assert_eq!(totals(&fresh), expected);
        let (archived, counts) = node.archived_counts().unwrap();
        assert_eq!(archived, done.archived);
        assert_eq!(
            counts.permitted + counts.denied + counts.errors,
            all[..done.archived as usize]
                .iter()
                .filter(|e| e.draft.caller != "local")
                .count() as u64
        );
        assert_eq!(index.audit_len().unwrap(), 230);
    }
}
