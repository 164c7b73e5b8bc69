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

/// `GET /api/monitor`'s body on A Logistics (the example's real files, through the same
/// assembly and views as the handler) has the shape of the contract the page is built on.
#[test]
fn monitor_json_has_the_contract_shape() {
    use serde_json::Value;
    use tanso_calc::{kpi, monitor};
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/examples/a-logistics");
    let cfg = kpi::load_config(
        &std::fs::read_to_string(dir.join("kpi.toml")).unwrap(),
        "kpi.toml",
    )
    .unwrap();
    let ledger = dir.join("ledger");
    let measures = [dir.join("measures.csv")];
    let sources = kpi::Sources {
        inventory: Some(&ledger),
        measures: &measures,
    };
    let org = kpi::assemble(&cfg, kpi::Measures::new(), sources).unwrap();
    let plans = monitor::load_action_plans(
        &std::fs::read_to_string(dir.join("action-plans.csv")).unwrap(),
        "action-plans.csv",
        &cfg,
    )
    .unwrap();
    let report = monitor::build(&cfg, &org, &plans, None).unwrap();
    let v = super::api::monitor_json(super::api::Calc::Done(report));
    assert_eq!(v["configured"], true);
    let r = &v["report"];
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(r),
        [
            "executive",
            "field",
            "framework",
            "month",
            "months",
            "operational",
            "title"
        ]
    );
    assert_eq!(r["month"], "2024-12");
    assert_eq!(r["months"].as_array().unwrap().len(), 36);
    assert_eq!(r["months"][0], "2022-01");
    let kpi = &r["executive"]["kpis"][0];
    assert_eq!(
        keys(kpi),
        [
            "achievement_pct",
            "change_vs_last_year_pct",
            "forecast",
            "name",
            "not_available",
            "series",
            "status",
            "target_value",
            "title",
            "trajectory",
            "unit",
            "value"
        ]
    );
    assert_eq!(kpi["name"], "total_emissions");
    assert_eq!(kpi["unit"], "kgCO2e");
    assert_eq!(kpi["value"], "391383.0", "decimals are exact strings");
    assert_eq!(kpi["status"], "off_track");
    assert_eq!(kpi["series"][0]["period"], "2022-01");
    assert!(kpi["series"][0]["value"].is_string());
    let f = &kpi["forecast"];
    assert_eq!(
        keys(f),
        [
            "early_warning",
            "interval_pct",
            "method",
            "months_used",
            "not_available",
            "points",
            "probability_of_target",
            "target_value",
            "target_year",
            "warning"
        ]
    );
    assert_eq!(f["interval_pct"], 95);
    assert_eq!(f["target_year"], 2030);
    assert!(f["probability_of_target"].is_f64());
    assert_eq!(keys(&f["points"][0]), ["high", "low", "period", "value"]);
    assert_eq!(f["points"][0]["period"], "2025-01");
    let alarm = &r["executive"]["alarms"][0];
    assert_eq!(keys(alarm), ["department", "kpi", "message", "severity"]);
    let d = &r["operational"]["departments"][0];
    assert_eq!(
        keys(d),
        [
            "change_vs_last_year_pct",
            "kpis",
            "name",
            "needs_improvement",
            "rank",
            "ranked_by",
            "teams",
            "total"
        ]
    );
    assert_eq!(d["name"], "Warehousing");
    assert_eq!(d["rank"], 1);
    assert_eq!(d["ranked_by"], "change_vs_last_year_pct of total_emissions");
    assert!(d["kpis"][0].get("forecast").is_none() && d["kpis"][0].get("trajectory").is_none());
    let area = &r["operational"]["improvement_areas"][0];
    assert_eq!(keys(area), ["department", "kpi", "reason", "title"]);
    let plan = &r["operational"]["action_plans"][3];
    assert_eq!(
        keys(plan),
        [
            "department",
            "due",
            "expected_reduction",
            "id",
            "kpi",
            "measured_reduction",
            "months_measured",
            "overdue",
            "owner",
            "phase",
            "progress_pct",
            "start",
            "team",
            "title",
            "unit"
        ]
    );
    assert_eq!(plan["team"], "Icheon DC");
    assert_eq!(plan["phase"], "do");
    assert_eq!(plan["overdue"], true);
    assert_eq!(r["operational"]["action_plans"][0]["team"], Value::Null);
    let team = &r["field"]["teams"][0];
    assert_eq!(
        keys(team),
        [
            "best_practice",
            "change_vs_last_year_pct",
            "department",
            "feedback",
            "incentive",
            "name",
            "rank_in_department",
            "teams_in_department",
            "total"
        ]
    );
    assert_eq!(team["incentive"], "earned");
    assert_eq!(team["teams_in_department"], 2);
    // Not configured and failed look like /api/kpi's.
    assert_eq!(
        super::api::monitor_json(super::api::Calc::NotConfigured),
        serde_json::json!({ "configured": false, "note": "not configured" })
    );
    assert_eq!(
        super::api::monitor_json(super::api::Calc::Failed("plans.csv:2:3: bad".into())),
        serde_json::json!({ "configured": true, "error": "plans.csv:2:3: bad" })
    );
}
