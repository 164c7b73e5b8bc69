//! The monitoring views of the dashboard (executive, operational, field) over A Logistics'
//! 36 months, in headless Chromium at desktop and phone widths: what they show equals
//! `GET /api/monitor`, and nothing overflows or overlaps.

use std::collections::BTreeMap;
use std::path::Path;

use node::dashboard::{self, Role};
use node::home::Home;
use serde_json::Value;
use tests::TestNode;
use tests::browser::{Browser, CHROMIUM};

use crate::dashboard::{
    CHARTS_FIT, LAYOUT, Web, grouped, log_in, login_link, no_problems, open_view, reload,
    screenshot_path,
};

/// Measures the visible monitoring view (tests/it/monitor_layout.js).
const MONITOR_LAYOUT: &str = include_str!("monitor_layout.js");

/// The three views, by their tab.
const VIEWS: [&str; 3] = ["executive", "operational", "field"];

/// A node whose dashboard shows A Logistics (data/examples/a-logistics): its KPI framework
/// (five core KPIs) over the inventory ledgers, the activity measures and the action plans.
async fn a_logistics() -> (TestNode, Web) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("data/examples/a-logistics");
    let tn = TestNode::start_with("alogistics", |raw| {
        raw.dashboard.listen = Some("127.0.0.1:0".into());
        raw.dashboard.kpi_config = Some(example.join("kpi.toml"));
        raw.dashboard.inventory = Some(example.join("ledger"));
        raw.dashboard.kpi_measures = Some(example.join("measures.csv"));
        raw.dashboard.action_plans = Some(example.join("action-plans.csv"));
    })
    .await;
    let addr = tn.dashboard_addr.expect("dashboard bound");
    let web = Web::of(&tn, addr);
    (tn, web)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A decimal of the API as the page shows it in en-US (and ko-KR: the same separators),
/// followed by its unit; "n/a" for no value.
fn shown(value: &Value, unit: &str) -> String {
    match value.as_str() {
        Some(v) => format!("{} {unit}", grouped(v, ',', '.')),
        None => "n/a".into(),
    }
}

/// The executive view shows `report`'s five KPIs: value and unit, status, the probability of
/// meeting the target, the early warning, a chart with the series, trajectory and forecast
/// band; its alarms in order; the month picker on the report's month.
fn executive_matches(seen: &Value, report: &Value, what: &str) {
    let kpis = list(&report["executive"]["kpis"]);
    let cards = list(&seen["kpi_cards"]);
    assert_eq!(
        kpis.len(),
        5,
        "{what}: the API has {} core KPIs",
        kpis.len()
    );
    assert_eq!(cards.len(), kpis.len(), "{what}: KPI cards {cards:?}");
    for (k, card) in kpis.iter().zip(cards) {
        let name = text(&k["name"]);
        assert_eq!(card["kpi"], k["name"], "{what}");
        assert_eq!(
            text(&card["value"]),
            shown(&k["value"], text(&k["unit"])),
            "{what}: KPI {name}"
        );
        assert_eq!(
            card["status"],
            serde_json::json!([k["status"]]),
            "{what}: {name}"
        );
        let forecast = &k["forecast"];
        match forecast["probability_of_target"].as_f64() {
            Some(p) => assert_eq!(
                card["probability"]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok()),
                Some(p),
                "{what}: {name} probability"
            ),
            None => assert!(card["probability"].is_null(), "{what}: {name}"),
        }
        assert_eq!(
            card["early_warning"].is_string(),
            forecast["early_warning"] == true,
            "{what}: {name} early warning {card}"
        );
        if let Some(w) = forecast["warning"].as_str() {
            assert!(
                text(&card["early_warning"]).contains(w),
                "{what}: {name}: {card}"
            );
        }
        let series: Vec<&str> = list(&card["series"]).iter().map(text).collect();
        let mut want = Vec::new();
        if !list(&forecast["points"]).is_empty() {
            want.push("band");
        }
        if !list(&k["trajectory"]).is_empty() {
            want.push("trajectory");
        }
        if !list(&k["series"]).is_empty() {
            want.push("actual");
        }
        if !list(&forecast["points"]).is_empty() {
            want.push("forecast");
        }
        assert_eq!(series, want, "{what}: {name} chart lines");
    }
    let alarms = list(&report["executive"]["alarms"]);
    let shown_alarms = list(&seen["alarms"]);
    assert_eq!(shown_alarms.len(), alarms.len(), "{what}: alarms");
    for (a, s) in alarms.iter().zip(shown_alarms) {
        assert_eq!(s["severity"], a["severity"], "{what}");
        assert!(
            text(&s["text"]).contains(text(&a["message"])),
            "{what}: {s}"
        );
    }
    assert_eq!(seen["month"], report["month"], "{what}: month picker");
    assert_eq!(
        seen["months"].as_u64(),
        Some(list(&report["months"]).len() as u64),
        "{what}: months to pick"
    );
}

/// The operational view: one ranking row per department in the API's order with its rank,
/// a chart per department, the improvement areas, one plan row per action plan with a
/// progress bar where the API has a progress, overdue plans marked.
fn operational_matches(seen: &Value, report: &Value, what: &str) {
    let ops = &report["operational"];
    let departments = list(&ops["departments"]);
    let rows = list(&seen["ranking"]);
    assert!(!departments.is_empty(), "{what}: no departments");
    assert_eq!(rows.len(), departments.len(), "{what}: ranking rows");
    for (d, row) in departments.iter().zip(rows) {
        let rank = d["rank"].as_u64().map_or("–".into(), |r| r.to_string());
        assert_eq!(row[0], rank.as_str(), "{what}: {row}");
        assert_eq!(row[1], d["name"], "{what}: {row}");
        assert_eq!(
            text(&row[2]),
            d["total"]
                .as_str()
                .map_or("–".into(), |t| grouped(t, ',', '.')),
            "{what}: {row}"
        );
    }
    assert_eq!(
        seen["department_charts"].as_u64(),
        Some(departments.len() as u64),
        "{what}: department charts"
    );
    assert_eq!(
        seen["improvement"].as_u64(),
        Some(list(&ops["improvement_areas"]).len() as u64),
        "{what}: improvement areas"
    );
    let plans = list(&ops["action_plans"]);
    let plan_rows = list(&seen["plans"]);
    assert!(!plans.is_empty(), "{what}: no action plans");
    assert_eq!(plan_rows.len(), plans.len(), "{what}: plan rows");
    for (p, row) in plans.iter().zip(plan_rows) {
        assert_eq!(row[0], p["id"], "{what}: {row}");
        assert_eq!(
            text(&row[6]).ends_with("overdue"),
            p["overdue"] == true,
            "{what}: {row}"
        );
        let progress = p["progress_pct"]
            .as_str()
            .map_or("–".into(), |v| format!("{} %", grouped(v, ',', '.')));
        assert_eq!(text(&row[9]), progress, "{what}: {row}");
    }
    let with_progress = plans
        .iter()
        .filter(|p| p["progress_pct"].is_string())
        .count();
    assert_eq!(
        seen["progress_bars"].as_u64(),
        Some(with_progress as u64),
        "{what}: progress bars"
    );
}

/// The field view: one card per team, grouped by department in the API's order, each with
/// its total, rank, best-practice badge, incentive and feedback line.
fn field_matches(seen: &Value, report: &Value, unit: &str, what: &str) {
    let teams = list(&report["field"]["teams"]);
    let cards = list(&seen["teams"]);
    assert!(!teams.is_empty(), "{what}: no teams");
    assert_eq!(cards.len(), teams.len(), "{what}: team cards");
    let mut departments: Vec<&str> = Vec::new();
    for (t, card) in teams.iter().zip(cards) {
        let department = text(&t["department"]);
        if departments.last() != Some(&department) {
            departments.push(department);
        }
        assert_eq!(
            text(&card["team"]),
            format!("{department}/{}", text(&t["name"])),
            "{what}"
        );
        let body = text(&card["text"]);
        assert!(body.contains(&shown(&t["total"], unit)), "{what}: {body}");
        assert!(body.contains(text(&t["feedback"])), "{what}: {body}");
        assert_eq!(
            body.contains("best practice"),
            t["best_practice"] == true,
            "{what}: {body}"
        );
        let incentive = match text(&t["incentive"]) {
            "earned" => "incentive earned",
            "not_earned" => "incentive not earned",
            _ => "incentive n/a",
        };
        assert!(body.contains(incentive), "{what}: {body}");
    }
    let groups: Vec<&str> = list(&seen["team_groups"]).iter().map(text).collect();
    assert_eq!(groups, departments, "{what}: team groups");
}

/// The three views at 1280 and 390 px: every figure equals the API's, no element leaves the
/// viewport sideways (tables scroll in their own box), cards do not overlap, charts stay in
/// their cards and their labels whole; another month through the picker's address; the
/// Korean locale; screenshots of each view at both widths.
#[tokio::test]
async fn monitoring_views_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        tests::not_run(
            "monitoring_views_in_headless_chromium",
            &format!("{CHROMIUM} is missing; install it with `apt-get install chromium`"),
        );
        return;
    }
    let (tn, web) = a_logistics().await;
    let link = login_link(&tn, &web, "ops").await;
    let pw = dashboard::add_user(&Home::new(&tn.home), "api", Role::Viewer).expect("user");
    let cookie = web.session("api", &pw).await;
    let monitor = web.json("/api/monitor", &cookie).await;
    assert_eq!(monitor["configured"], true, "{monitor}");
    assert!(monitor["error"].is_null(), "{monitor}");
    let report = monitor["report"].clone();
    let months = list(&report["months"]).to_vec();
    assert_eq!(months.len(), 36, "{}", report["months"]);
    // A year before the latest month: still 24 months behind it, so forecasts exist.
    let earlier = text(&months[months.len() - 13]).to_string();
    let earlier_report = web
        .json(&format!("/api/monitor?month={earlier}"), &cookie)
        .await["report"]
        .clone();
    assert_eq!(earlier_report["month"], earlier.as_str());

    let shots: Vec<_> = VIEWS
        .iter()
        .flat_map(|v| [1280, 390].map(|w| screenshot_path(&format!("dashboard-{v}-{w}.png"))))
        .collect();
    let shot_paths = shots.clone();
    let earlier_hash = format!("executive?month={earlier}");
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen: BTreeMap<String, (Value, Value)> = BTreeMap::new();
        let mut b = Browser::start();
        b.viewport(1280, 900);
        log_in(&mut b, &link);
        let mut shot = shot_paths.iter();
        for view in VIEWS {
            for width in [1280, 390] {
                b.viewport(width, 900);
                open_view(&mut b, view);
                b.wait_for(CHARTS_FIT, "charts as wide as their cards");
                seen.insert(
                    format!("{view} {width}"),
                    (b.eval(LAYOUT), b.eval(MONITOR_LAYOUT)),
                );
                b.screenshot(shot.next().expect("a screenshot path"));
            }
        }
        // Another month, as the picker asks for it.
        b.viewport(1280, 900);
        open_view(&mut b, &earlier_hash);
        seen.insert(
            "executive earlier".into(),
            (b.eval(LAYOUT), b.eval(MONITOR_LAYOUT)),
        );
        // Korean: compact axis labels in 만, the same grouping of thousands.
        b.locale("ko-KR");
        b.viewport(390, 900);
        open_view(&mut b, "executive");
        reload(&mut b, "executive");
        b.wait_for(CHARTS_FIT, "charts as wide as their cards");
        seen.insert(
            "executive ko-KR".into(),
            (b.eval(LAYOUT), b.eval(MONITOR_LAYOUT)),
        );
        seen
    })
    .await
    .expect("browser task");

    for (what, (layout, monitor)) in &seen {
        no_problems(layout, what);
        let problems = list(&monitor["problems"]);
        assert!(
            problems.is_empty(),
            "{what}: {} layout problems:\n{}",
            problems.len(),
            problems.iter().map(text).collect::<Vec<_>>().join("\n")
        );
        assert_eq!(monitor["ready"], true, "{what}: monitorReady not set");
    }
    let unit = list(&report["executive"]["kpis"])
        .iter()
        .find(|k| k["name"] == "total_emissions")
        .map(|k| text(&k["unit"]).to_string())
        .expect("total_emissions among the core KPIs");
    for width in [1280, 390] {
        let (_, m) = &seen[&format!("executive {width}")];
        assert_eq!(m["viewport"], width);
        executive_matches(m, &report, &format!("executive {width}"));
        let (_, m) = &seen[&format!("operational {width}")];
        operational_matches(m, &report, &format!("operational {width}"));
        let (_, m) = &seen[&format!("field {width}")];
        field_matches(m, &report, &unit, &format!("field {width}"));
    }
    let (_, m) = &seen["executive earlier"];
    executive_matches(m, &earlier_report, "executive, a year earlier");
    assert_ne!(
        m["kpi_cards"][0]["value"], seen["executive 1280"].1["kpi_cards"][0]["value"],
        "the earlier month shows the same total"
    );
    let (layout, m) = &seen["executive ko-KR"];
    executive_matches(m, &report, "executive ko-KR");
    let total = &layout["charts"]["total_emissions"];
    let y: Vec<&str> = list(&total["labels"])
        .iter()
        .filter(|l| l["class"] == "y-label")
        .map(|l| text(&l["text"]))
        .collect();
    assert!(
        y.iter().any(|l| l.ends_with('만')),
        "Korean compact labels for {unit}: {y:?}"
    );
    for shot in &shots {
        println!("dashboard screenshot: {}", shot.display());
    }
}
