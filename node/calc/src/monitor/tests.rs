//! The monitor: the OLS forecast against hand computations, early warning, ranking, action
//! plans, CSV errors and A Logistics through its real files.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::kpi::{Measures, OrgMeasures, Sources, assemble, load_config};

/// Seasonal terms of the synthetic series (January is the reference: 0).
const SEASON: [f64; 12] = [
    0.0, -5.0, 3.0, 0.0, 2.0, 4.0, 6.0, 1.0, -2.0, -3.0, 5.0, 7.0,
];

/// 36 months from a known model: `100 + 2·t + SEASON[m] + e`, with residuals `e` = +1, −2, +1
/// in years 0, 1, 2. That residual pattern sums to 0 within every calendar month and
/// `Σ t·e = e·(t₀ − 2(t₀+12) + (t₀+24)) = 0`, so it is orthogonal to every column of X and the
/// fit returns the generating coefficients exactly.
fn synthetic() -> Vec<(i64, f64)> {
    let origin = Period::month(2022, 1).first_month();
    (0..36)
        .map(|t| {
            let e = [1.0, -2.0, 1.0][t / 12];
            (
                origin + t as i64,
                100.0 + 2.0 * t as f64 + SEASON[t % 12] + e,
            )
        })
        .collect()
}

#[test]
fn ols_recovers_known_coefficients_and_variance() {
    let fit = Fit::new(&synthetic()).unwrap();
    assert!(
        (fit.beta[0] - 100.0).abs() < 1e-9,
        "intercept {}",
        fit.beta[0]
    );
    assert!((fit.beta[1] - 2.0).abs() < 1e-9, "trend {}", fit.beta[1]);
    for (j, s) in SEASON.iter().enumerate().skip(1) {
        assert!((fit.beta[1 + j] - s).abs() < 1e-9, "season {j}");
    }
    // RSS = 12 months × (1² + 2² + 1²) = 72, d.o.f. = 36 − 13 = 23, σ² = 72/23.
    assert_eq!(fit.df(), 23);
    assert!((fit.sigma2 - 72.0 / 23.0).abs() < 1e-9);
    assert!(fit.r2 > 0.99 && fit.r2 < 1.0);
}

#[test]
fn prediction_interval_and_probability_match_the_closed_form() {
    let fit = Fit::new(&synthetic()).unwrap();
    // January of year 3 (t = 36): ŷ = 100 + 2·36 + 0 = 172.
    // The model is equivalent to 12 monthly intercepts and one slope; with 3 values per
    // calendar month at deviations −12, 0, 12 from their mean, Sxx = 12 × 288 = 3456, and the
    // leverage of t₀ = 36 in January (mean t 12) is 1/3 + (36 − 12)²/3456 = 1/3 + 1/6 = 1/2.
    // Half width = t(0.975, 23) · √(σ²·1.5) = 2.068658 · √(108/23) = 2.068658 · 2.166947 = 4.482684.
    let jan = Period::month(2025, 1).first_month();
    let (y, lo, hi) = fit.predict(jan);
    assert!((y - 172.0).abs() < 1e-9);
    assert!(((hi - y) - 4.482684).abs() < 1e-4, "half width {}", hi - y);
    assert!(((y - lo) - (hi - y)).abs() < 1e-9);
    // The mean of 2025 (t = 36..47): 100 + 2·41.5 + mean(SEASON) = 183 + 18/12 = 184.5.
    // Var of the mean of the fits: σ²(1/36 + 24²/3456) = σ²·7/36 (every month 24 after its mean
    // t); plus σ²/12 for the mean of 12 new values: σ²·10/36 = (72/23)·(5/18) = 20/23.
    let months: Vec<i64> = (1..=12)
        .map(|m| Period::month(2025, m).first_month())
        .collect();
    let (mean, sd) = fit.mean_of(&months);
    assert!((mean - 184.5).abs() < 1e-9);
    assert!((sd - (20.0f64 / 23.0).sqrt()).abs() < 1e-9);
    // P(mean ≤ 185.5) = T₂₃(1 / 0.932505) = T₂₃(1.072380) ≈ 0.8527 (t table: between
    // T₂₃(1.060) = 0.850 and T₂₃(1.319) = 0.900).
    let p = fit.probability(&months, 185.5, true);
    assert!((p - 0.8527).abs() < 0.001, "p {p}");
    assert!((fit.probability(&months, 185.5, false) - (1.0 - p)).abs() < 1e-12);
    // The target exactly at the forecast mean: one half.
    assert!((fit.probability(&months, 184.5, true) - 0.5).abs() < 1e-9);
}

#[test]
fn a_forecast_needs_24_months() {
    let short: Vec<(i64, f64)> = synthetic().into_iter().take(18).collect();
    assert_eq!(
        Fit::new(&short).unwrap_err(),
        "needs at least 24 months of data, has 18"
    );
}

const FRAMEWORK: &str = r#"
[framework]
name = "t"
[monitor]
core = ["total"]
incentive_reduction_pct = 10
[[measures]]
name = "e"
unit = "kgCO2e"
[[kpis]]
name = "total"
title = "Total"
formula = "e"
unit = "kgCO2e"
period = "month"
decimals = 1
[kpis.target]
baseline_period = "2022"
target_year = 2030
reduction_pct = 50
trajectory = "linear"
"#;

fn company(values: impl Fn(usize) -> Decimal) -> OrgMeasures {
    let mut org = OrgMeasures::default();
    for t in 0..36 {
        let p = Period::month(2022 + (t / 12) as i32, (t % 12) as u32 + 1);
        org.company.insert(p, "e", values(t));
    }
    org
}

#[test]
fn early_warning_when_the_forecast_leaves_the_trajectory() {
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    // Flat at 100 with the +1/−2/+1 residual pattern: the forecast stays at 100.0. The baseline
    // is 2022's mean, 101; the linear path asks for 101·(1 − 0.5·3/8) = 82.0625 in 2025, shown
    // as 82.1: (100.0 − 82.1)/82.1 = 21.8 % above.
    let flat = company(|t| dec!(100) + [dec!(1), dec!(-2), dec!(1)][t / 12]);
    let r = build(&cfg, &flat, &[], None).unwrap();
    let k = &r.executive.kpis[0];
    let f = k.forecast.as_ref().unwrap();
    assert!(f.early_warning);
    assert_eq!(
        f.warning.as_deref(),
        Some("forecast leaves the trajectory from 2025-01: 21.8 % above it")
    );
    // 2024-12 is 101 against 101·(1 − 0.5·2/8) = 88.375 → 88.4: off track.
    assert_eq!(k.status.status, Status::OffTrack);
    assert_eq!(k.status.target_value, Some(dec!(88.4)));
    assert_eq!(f.target_value, Some(dec!(50.5)));
    assert_eq!(f.points.len(), 72, "2025-01 to 2030-12");
    assert_eq!(f.points[0].period, Period::month(2025, 1));
    // A flat series never meets −50 %: the probability is ~0 and raises a critical alarm.
    assert!(f.probability_of_target.unwrap() < 0.001);
    assert_eq!(r.executive.alarms[0].severity, Severity::Critical);
    assert_eq!(
        r.executive.alarms[0].message,
        "Total: forecast probability of meeting the 2030 target is 0 %"
    );
    // The trajectory covers the series and forecast months: 36 + 72.
    assert_eq!(k.trajectory.len(), 108);
    assert_eq!(k.trajectory.last().unwrap().value, dec!(50.5));

    // Falling 1.5 a month from 100: 2025-01 forecasts 100 − 1.5·36 = 46, far under 81.25, and the
    // 2030 mean (t = 96..107) is 100 − 1.5·101.5 < 0, under the target 50: no warning.
    let falling = company(|t| dec!(100) - dec!(1.5) * Decimal::from(t as u32));
    let r = build(&cfg, &falling, &[], None).unwrap();
    let f = r.executive.kpis[0].forecast.as_ref().unwrap();
    assert!(!f.early_warning);
    assert_eq!(f.warning, None);
    assert_eq!(f.probability_of_target, Some(1.0));
    assert_eq!(r.executive.kpis[0].status.status, Status::OnTrack);
}

#[test]
fn fewer_than_24_months_give_no_forecast() {
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    let org = company(|_| dec!(100));
    let r = build(&cfg, &org, &[], Some(Period::month(2023, 6))).unwrap();
    let f = r.executive.kpis[0].forecast.as_ref().unwrap();
    assert_eq!(
        f.not_available.as_deref(),
        Some("needs at least 24 months of data, has 18")
    );
    assert!(f.points.is_empty() && f.probability_of_target.is_none() && !f.early_warning);
    assert_eq!(
        r.months.len(),
        36,
        "every month with data, for the month picker"
    );
    assert_eq!(r.month, Period::month(2023, 6));
}

fn unit_measures(values: &[(i32, u32, Decimal)]) -> Measures {
    let mut m = Measures::new();
    for (y, mo, v) in values {
        m.insert(Period::month(*y, *mo), "e", *v);
    }
    m
}

#[test]
fn ranking_puts_the_largest_cut_first_and_leaves_out_departments_without_last_year() {
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    let mut org = OrgMeasures::default();
    // A: 100 → 80 (−20 %), B: 100 → 90 (−10 %), C: no value a year before (unranked).
    org.departments.insert(
        "A".into(),
        unit_measures(&[(2023, 12, dec!(100)), (2024, 12, dec!(80))]),
    );
    org.departments.insert(
        "B".into(),
        unit_measures(&[(2023, 12, dec!(100)), (2024, 12, dec!(90))]),
    );
    org.departments
        .insert("C".into(), unit_measures(&[(2024, 12, dec!(50))]));
    // Teams of B: 60 → 48 (−20 %) and 40 → 42 (+5 %).
    org.teams.insert(
        ("B".into(), "b1".into()),
        unit_measures(&[(2023, 12, dec!(60)), (2024, 12, dec!(48))]),
    );
    org.teams.insert(
        ("B".into(), "b2".into()),
        unit_measures(&[(2023, 12, dec!(40)), (2024, 12, dec!(42))]),
    );
    org.roll_up(&cfg);
    let r = build(&cfg, &org, &[], None).unwrap();
    let ranked: Vec<(&str, Option<usize>, Option<Decimal>)> = r
        .operational
        .departments
        .iter()
        .map(|d| (d.name.as_str(), d.rank, d.change_vs_last_year_pct))
        .collect();
    assert_eq!(
        ranked,
        [
            ("A", Some(1), Some(dec!(-20.00))),
            ("B", Some(2), Some(dec!(-10.00))),
            ("C", None, None)
        ]
    );
    // B is last of the two ranked: an improvement area, and flagged.
    let b = r.department("B").unwrap();
    assert!(b.needs_improvement);
    assert_eq!(b.teams, ["b1", "b2"]);
    assert!(
        r.operational
            .improvement_areas
            .iter()
            .any(|a| a.department == "B"
                && a.reason == "last of 2 in the monthly ranking (\u{2212}10.0 % against 2023-12)")
    );
    assert!(!r.department("A").unwrap().needs_improvement);
    // Field: b1 first (−20 %), best practice, incentive earned (≥ 10 % cut); b2 rose.
    let teams: Vec<(&str, Option<usize>, bool, Incentive)> = r
        .field
        .teams
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.rank_in_department,
                t.best_practice,
                t.incentive,
            )
        })
        .collect();
    assert_eq!(
        teams,
        [
            ("b1", Some(1), true, Incentive::Earned),
            ("b2", Some(2), false, Incentive::NotEarned)
        ]
    );
    assert_eq!(
        r.field.teams[0].feedback,
        "\u{2212}20.0 % against December 2023: 1st of 2 in B"
    );
    assert_eq!(
        r.field.teams[1].feedback,
        "+5.0 % against December 2023: 2nd of 2 in B"
    );
}

fn plan(start: Period, due: Period, phase: Phase) -> ActionPlan {
    ActionPlan {
        id: "AP-1".into(),
        title: "vans".into(),
        department: "A".into(),
        team: None,
        kpi: "total".into(),
        owner: "Kim".into(),
        start,
        due,
        expected_reduction: dec!(60),
        unit: "kgCO2e".into(),
        phase,
    }
}

#[test]
fn action_plans_measure_the_cut_against_a_year_before() {
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    let mut org = OrgMeasures::default();
    // A: 100 every month of 2023; 2024 month m is 100 − m (so the cut in month m is m).
    let mut values = Vec::new();
    for m in 1..=12 {
        values.push((2023, m, dec!(100)));
        values.push((2024, m, dec!(100) - Decimal::from(m)));
    }
    org.departments.insert("A".into(), unit_measures(&values));
    org.roll_up(&cfg);
    // Start 2024-01, due 2024-06, viewed in 2024-12: months 1..6, cut 1+2+…+6 = 21 of 60
    // expected = 35 %; after the due date and not done: overdue.
    let p = plan(Period::month(2024, 1), Period::month(2024, 6), Phase::Do);
    let r = build(&cfg, &org, std::slice::from_ref(&p), None).unwrap();
    let s = &r.operational.action_plans[0];
    assert_eq!(s.measured_reduction, Some(dec!(21.0)));
    assert_eq!(s.progress_pct, Some(dec!(35.00)));
    assert_eq!(s.months_measured, 6);
    assert!(s.overdue);
    assert!(
        r.executive
            .alarms
            .iter()
            .any(|a| a.severity == Severity::Warning
                && a.message == "action plan AP-1 (vans) is overdue: due 2024-06, phase do")
    );
    // Viewed in 2024-03: months 1..3, cut 6 = 10 %; not yet due.
    let r = build(
        &cfg,
        &org,
        std::slice::from_ref(&p),
        Some(Period::month(2024, 3)),
    )
    .unwrap();
    let s = &r.operational.action_plans[0];
    assert_eq!(
        (s.measured_reduction, s.months_measured),
        (Some(dec!(6.0)), 3)
    );
    assert_eq!(s.progress_pct, Some(dec!(10.00)));
    assert!(!s.overdue);
    // Done plans are never overdue; a plan starting after the month has nothing measured.
    let done = plan(Period::month(2024, 1), Period::month(2024, 6), Phase::Done);
    let later = plan(
        Period::month(2024, 11),
        Period::month(2024, 12),
        Phase::Plan,
    );
    let r = build(&cfg, &org, &[done, later], Some(Period::month(2024, 8))).unwrap();
    assert!(!r.operational.action_plans[0].overdue);
    let s = &r.operational.action_plans[1];
    assert_eq!(
        (s.measured_reduction, s.progress_pct, s.months_measured),
        (None, None, 0)
    );
}

#[test]
fn action_plan_csv_errors_name_file_line_and_column() {
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    let header = "id,title,department,team,kpi,owner,start,due,expected_reduction,unit,phase\n";
    let good = "AP-1,Vans,A,,total,Kim,2024-01,2024-06,60,kgCO2e,do\n";
    let plans = load_action_plans(&format!("{header}{good}"), "plans.csv", &cfg).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].team, None);
    let bad = format!(
        "# comment line\n{header}{good}AP-1,Vans,A,,total,Kim,2024-01,2024-06,60,kgCO2e,do\n\
         AP-2,X,A,,nope,Kim,2024-13,2024-06,-1,kgCO2e,doing\n\
         AP-3,X,A,,total,Kim,2024-06,2024-01,5,t,plan\n"
    );
    let Err(MonitorError::Plans(problems)) = load_action_plans(&bad, "plans.csv", &cfg) else {
        panic!("expected problems");
    };
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            "plans.csv:4:1: column `id`: duplicate id `AP-1` (first on line 3)",
            "plans.csv:5:7: column `start`: `2024-13` is not a month (YYYY-MM)",
            "plans.csv:5:9: column `expected_reduction`: `-1` is not a non-negative decimal number",
            "plans.csv:5:11: column `phase`: `doing` is not one of plan, do, check, act, done",
            "plans.csv:5:5: column `kpi`: `nope` is not a kpi of t.toml",
            "plans.csv:6:8: column `due`: 2024-01 is before start 2024-06",
            "plans.csv:6:10: column `unit`: `t` does not match `kgCO2e` of kpi `total`",
        ]
    );
    let missing = load_action_plans("id,title\n", "p.csv", &cfg)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("p.csv:1:3: column `department`: missing required column"));
}

#[test]
fn bad_months_are_refused() {
    assert_eq!(parse_month("2024-12").unwrap(), Period::month(2024, 12));
    for bad in ["2024", "2024-Q1", "2024-13", "x".repeat(100).as_str()] {
        assert!(parse_month(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_month(&"9".repeat(100)).unwrap_err().to_string(),
        "month `9999999999999999`: expected YYYY-MM"
    );
    let cfg = load_config(FRAMEWORK, "t.toml").unwrap();
    let org = company(|_| dec!(1));
    assert_eq!(
        build(&cfg, &org, &[], Some(Period::month(2031, 1)))
            .unwrap_err()
            .to_string(),
        "month 2031-01: no data (the data runs from 2022-01 to 2024-12)"
    );
}

// === A Logistics through the real files ===

fn a_logistics() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/examples/a-logistics")
}

fn a_logistics_report(
    month: Option<Period>,
) -> (crate::kpi::KpiConfig, OrgMeasures, MonitorReport) {
    let dir = a_logistics();
    let cfg = load_config(
        &std::fs::read_to_string(dir.join("kpi.toml")).unwrap(),
        "kpi.toml",
    )
    .unwrap();
    let ledger = dir.join("ledger");
    let measures = [dir.join("measures.csv")];
    let org = assemble(
        &cfg,
        Measures::new(),
        Sources {
            inventory: Some(&ledger),
            measures: &measures,
        },
    )
    .unwrap();
    let plans = load_action_plans(
        &std::fs::read_to_string(dir.join("action-plans.csv")).unwrap(),
        "action-plans.csv",
        &cfg,
    )
    .unwrap();
    let r = build(&cfg, &org, &plans, month).unwrap();
    (cfg, org, r)
}

#[test]
fn a_logistics_yearly_totals_come_from_the_ledgers() {
    let (cfg, org, r) = a_logistics_report(None);
    let year_kpi = cfg
        .kpis
        .iter()
        .position(|k| k.name == "total_emissions_year")
        .unwrap();
    let mut ev = crate::kpi::Evaluator::new(&cfg, &org.company);
    let tonnes = |ev: &mut crate::kpi::Evaluator<'_>, y: i32| {
        round(ev.value(year_kpi, Period::year(y)).unwrap() / dec!(1000), 0)
    };
    // The guide: 5,200 t (2022), 4,550 t (2023, −12.5 %), 3,900 t (2024, −25 %).
    assert_eq!(
        [
            tonnes(&mut ev, 2022),
            tonnes(&mut ev, 2023),
            tonnes(&mut ev, 2024)
        ],
        [dec!(5200), dec!(4550), dec!(3900)]
    );
    assert_eq!(r.month, Period::month(2024, 12));
    assert_eq!(r.months.len(), 36);
    let names: Vec<&str> = r
        .executive
        .kpis
        .iter()
        .map(|k| k.status.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "total_emissions",
            "intensity_tkm",
            "intensity_revenue",
            "fuel_efficiency",
            "clean_vehicle_share"
        ]
    );
    // The target: the mean month of 2022 (5,200,000 / 12 = 433,333.3 kg) halved by 2030.
    let total = r.kpi("total_emissions").unwrap();
    let f = total.forecast.as_ref().unwrap();
    assert_eq!(f.target_value, Some(dec!(216666.7)));
    // 2024's linear path: 433,333.33·(1 − 0.5·2/8) = 379,166.7. December is the seasonal peak
    // (transport 115/1200 of the year, boiler gas 220/1200, power 100/1220): 2,500,000·115/1200
    // + 600,000·115/1200 + 70,000·115/1200 + 420,000·100/1220 + 290,000·220/1200 = 391,385.4,
    // 3.2 % above the year's path: off track in the month although 2024 as a whole (−25 %) is
    // ahead of it (−12.5 %). Achievement = (433,333.3 − 391,385.4)/(433,333.3 − 379,166.7) = 77.4 %.
    assert_eq!(total.status.target_value, Some(dec!(379166.7)));
    assert_eq!(total.status.status, Status::OffTrack);
    // (391,383.0 computed: December's last truck row absorbs the year's rounding, −2.4 kg.)
    assert_eq!(total.status.value, Some(dec!(391383.0)));
    let achievement = total.status.achievement_pct.unwrap();
    assert!(
        (achievement - dec!(77.4)).abs() < dec!(0.1),
        "{achievement}"
    );
    // June (transport 95/1200, power 110/1220, gas 30/1200) is under the path, but the
    // forecast of its next 12 months reaches December's peak above the path: warning.
    let (_, _, june) = a_logistics_report(Some(Period::month(2024, 6)));
    let june = june.kpi("total_emissions").unwrap();
    assert_eq!(june.status.status, Status::Warning);
    assert_eq!(
        june.forecast.as_ref().unwrap().warning.as_deref(),
        Some("forecast leaves the trajectory from 2024-12: 6.7 % above it")
    );
    // Clean vehicles: 10 electric vans of 100 vehicles from 2023; no target.
    let clean = r.kpi("clean_vehicle_share").unwrap();
    assert_eq!(clean.status.value, Some(dec!(10.0)));
    assert_eq!(clean.status.status, Status::NoTarget);
    assert!(clean.trajectory.is_empty());
}

#[test]
fn a_logistics_ranking_for_december_2024() {
    let (_, _, r) = a_logistics_report(Some(Period::month(2024, 12)));
    // December's share of each stream (generate.py): transport 115/1200, warehouse power
    // 100/1220, boiler gas 220/1200, no leak check in December.
    // Warehousing: (420,000·100/1220 + 290,000·220/1200) / (600,000·100/1220 + 310,000·220/1200)
    //   = 87,592.9 / 106,014.2 − 1 = −17.38 %
    // Trunk haulage: 2,500,000 / 2,850,000 − 1 = −12.28 %
    // Last-mile delivery: (600,000 + 70,000) / (700,000 + 60,000) − 1 = −11.84 %
    let ranked: Vec<(&str, Option<usize>, Option<Decimal>)> = r
        .operational
        .departments
        .iter()
        .map(|d| (d.name.as_str(), d.rank, d.change_vs_last_year_pct))
        .collect();
    assert_eq!(
        ranked,
        [
            ("Warehousing", Some(1), Some(dec!(-17.38))),
            ("Trunk haulage", Some(2), Some(dec!(-12.28))),
            ("Last-mile delivery", Some(3), Some(dec!(-11.84))),
        ]
    );
    let last = r.department("Last-mile delivery").unwrap();
    assert!(last.needs_improvement);
    assert_eq!(last.teams, ["Gangnam", "Incheon"]);
    // Warehousing has no t*km and no diesel km: only the KPIs it can compute.
    let wh: Vec<&str> = r
        .department("Warehousing")
        .unwrap()
        .kpis
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(wh, ["total_emissions", "intensity_revenue"]);
    // Field: six teams, grouped by department in ranking order.
    let teams: Vec<(&str, &str)> = r
        .field
        .teams
        .iter()
        .map(|t| (t.department.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(teams.len(), 6);
    assert_eq!(teams[0].0, "Warehousing");
    assert_eq!(teams[5].0, "Last-mile delivery");
    // Warehousing's teams are even halves: both −17.38 %, tied first, both earn the incentive.
    assert_eq!(r.field.teams[0].rank_in_department, Some(1));
    assert_eq!(r.field.teams[1].rank_in_department, Some(1));
    assert_eq!(r.field.teams[0].incentive, Incentive::Earned);
}

#[test]
fn a_logistics_forecast_and_plans() {
    let (_, _, r) = a_logistics_report(None);
    let total = r.kpi("total_emissions").unwrap();
    let f = total.forecast.as_ref().unwrap();
    assert_eq!(f.months_used, 36);
    assert_eq!(f.points.len(), 72);
    assert!(
        f.method.as_deref().unwrap().starts_with(
            "OLS: linear trend + 11 monthly seasonal terms, n = 36 months, R\u{b2} = "
        )
    );
    // −650 t a year continued reaches the 2030 target (2,600 t a year) long before 2030.
    assert_eq!(f.probability_of_target, Some(1.0));
    assert!(!f.early_warning);
    // Plans (expected over start..due; measured = a year before − this year, same months). The
    // hand figures are the generator's plan; the ledger's quantities are rounded (0.01 L,
    // 0.1 kWh) and each year's last truck row absorbs the company total's rounding, so the
    // computed figures differ from them by a few kg.
    let progress: Vec<(&str, Option<Decimal>, Option<Decimal>, bool)> = r
        .operational
        .action_plans
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                p.measured_reduction,
                p.progress_pct,
                p.overdue,
            )
        })
        .collect();
    assert_eq!(
        progress,
        [
            // Last-mile 2023: 1,000,000 − (700,000 + 60,000) = 240,000 of 250,000.
            ("AP-2023-01", Some(dec!(239998.4)), Some(dec!(96.00)), false),
            // Warehousing 2023: (700 + 350 + 50) − (600 + 310 + 30) thousand = 160,000 of 120,000.
            (
                "AP-2023-02",
                Some(dec!(160002.5)),
                Some(dec!(133.34)),
                false
            ),
            // Trunk 2024: 2,850,000 − 2,500,000 = 350,000 of 300,000.
            (
                "AP-2024-01",
                Some(dec!(350002.3)),
                Some(dec!(116.67)),
                false
            ),
            // Icheon DC, March–October 2024 (half of each Warehousing stream): power
            // 180,000·820/1220/2 = 60,491.8, gas 20,000·490/1200/2 = 4,083.3, July leak
            // 10,000/2 = 5,000: 69,575.1 of 80,000; due 2024-10 and still `do`: overdue.
            ("AP-2024-02", Some(dec!(69573.7)), Some(dec!(86.97)), true),
        ]
    );
}
