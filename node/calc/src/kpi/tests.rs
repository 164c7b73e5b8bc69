//! Tests for the KPI engine: parser, periods, measures, the two shipped frameworks and rendering.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::kpi::{
    Format, Granularity, KpiConfig, KpiError, KpiReport, Measures, Period, TrajectoryKind,
    load_config, load_measures_csv, nth_root, report,
};

/// The example configs and data shipped at `<repo>/kpi/`, via one helper so only one place knows
/// the layout (this file is `node/calc/src/kpi/tests.rs`).
fn shipped(name: &str) -> &'static str {
    match name {
        "logistics.toml" => include_str!("../../../../kpi/logistics.toml"),
        "esg-impact.toml" => include_str!("../../../../kpi/esg-impact.toml"),
        "logistics-measures.csv" => include_str!("../../../../kpi/examples/logistics-measures.csv"),
        "esg-measures.csv" => include_str!("../../../../kpi/examples/esg-measures.csv"),
        other => panic!("no shipped file {other}"),
    }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

fn logistics() -> (KpiConfig, Measures) {
    let cfg = load_config(shipped("logistics.toml"), "logistics.toml").unwrap();
    let m = load_measures_csv(
        shipped("logistics-measures.csv"),
        "logistics-measures.csv",
        &cfg,
    )
    .unwrap();
    (cfg, m)
}

fn esg() -> (KpiConfig, Measures) {
    let cfg = load_config(shipped("esg-impact.toml"), "esg-impact.toml").unwrap();
    let m = load_measures_csv(shipped("esg-measures.csv"), "esg-measures.csv", &cfg).unwrap();
    (cfg, m)
}

fn value(r: &KpiReport, kpi: &str) -> Option<Decimal> {
    r.kpi(kpi).unwrap_or_else(|| panic!("no kpi {kpi}")).value
}

/// A one-measure config whose single KPI is `formula` over measures `a`, `b`, `c`.
fn tiny(formula: &str, extra: &str) -> Result<KpiConfig, KpiError> {
    let src = format!(
        r#"
[framework]
name = "tiny"
[[measures]]
name = "a"
unit = "u"
[[measures]]
name = "b"
unit = "u"
[[measures]]
name = "c"
unit = "u"
aggregate = "last"
[[kpis]]
name = "k"
formula = "{formula}"
unit = "u"
period = "month"
decimals = 6
{extra}
"#
    );
    load_config(&src, "tiny.toml")
}

fn eval_tiny(formula: &str, a: &str, b: &str) -> Option<Decimal> {
    let cfg = tiny(formula, "").unwrap();
    let mut m = Measures::new();
    m.insert(p("2025-01"), "a", d(a));
    m.insert(p("2025-01"), "b", d(b));
    value(&report(&cfg, &m, None).unwrap(), "k")
}

// ------------------------------------------------------------------ required anchors

#[test]
fn weighted_reduction_is_2_48_per_kg() {
    // seed 002 l.95: 20 % reuse x 3.0 + 50 % upcycling x 2.5 + 30 % recycling x 2.1
    let (cfg, m) = esg();
    let r = report(&cfg, &m, Some(p("2025-01"))).unwrap();
    assert_eq!(value(&r, "circular_factor"), Some(d("2.48")));
    assert_eq!(value(&r, "circular_reduction_kg"), Some(d("2480.00")));
}

#[test]
fn one_tonne_recycled_is_about_113_tree_years() {
    // 1 t -> 2,480 kg -> 2,480 / 22 = 112.7 tree-years; 2,480 / 4,600 = 0.54 car-years
    let (cfg, m) = esg();
    let r = report(&cfg, &m, Some(p("2025-01"))).unwrap();
    assert_eq!(value(&r, "tree_years"), Some(d("112.7")));
    assert_eq!(value(&r, "car_years"), Some(d("0.54")));
}

#[test]
fn esg_80_70_90_scores_79_grade_a() {
    // inline: the composite alone, with E, S, G given as measures
    let src = r#"
[framework]
name = "composite"
[[measures]]
name = "e"
unit = "points"
[[measures]]
name = "s"
unit = "points"
[[measures]]
name = "g"
unit = "points"
[[kpis]]
name = "esg"
kind = "weighted"
components = [{ kpi = "ke", weight = 0.5 }, { kpi = "ks", weight = 0.3 }, { kpi = "kg", weight = 0.2 }]
unit = "points"
period = "year"
grades = [{ grade = "S", min = 80 }, { grade = "A", min = 60 }, { grade = "B", min = 40 }, { grade = "C", min = 20 }, { grade = "D" }]
[[kpis]]
name = "ke"
formula = "e"
unit = "points"
period = "year"
[[kpis]]
name = "ks"
formula = "s"
unit = "points"
period = "year"
[[kpis]]
name = "kg"
formula = "g"
unit = "points"
period = "year"
"#;
    let cfg = load_config(src, "composite.toml").unwrap();
    let mut m = Measures::new();
    for (name, v) in [("e", "80"), ("s", "70"), ("g", "90")] {
        m.insert(Period::year(2025), name, d(v));
    }
    let r = report(&cfg, &m, None).unwrap();
    let k = r.kpi("esg").unwrap();
    assert_eq!(k.value, Some(d("79.00")));
    assert_eq!(k.grade.as_deref(), Some("A"));
    assert_eq!(k.formula, "0.5 * ke + 0.3 * ks + 0.2 * kg");
}

#[test]
fn esg_framework_sub_scores_80_70_90_give_79_a() {
    // The shipped framework end to end, with measures the node inserts:
    // E = 0.5*100 + 0.2*0 + 0.3*100 = 80; S = 0.5*100 + 0.5*40 = 70; G = 0.6*100 + 0.4*75 = 90.
    let cfg = load_config(shipped("esg-impact.toml"), "esg-impact.toml").unwrap();
    let mut m = Measures::new();
    let jan = p("2025-01");
    for (name, v) in [
        ("collected_kg", "2000"),
        ("upcycled_product_kg", "1600"),
        ("produced_pet_kg", "0"),
        ("produced_hdpe_kg", "0"),
        ("produced_mixed_kg", "0"),
        ("edu_direct", "100"),
        ("edu_indirect", "0"),
        ("active_partners", "20"),
        ("upcycled_kg", "1000"),
        ("upcycled_sales_krw", "2000000"),
    ] {
        m.insert(jan, name, d(v));
    }
    let r = report(&cfg, &m, Some(Period::year(2025))).unwrap();
    let expected = [
        ("carbon_score", "100.00"),
        ("energy_score", "0.00"),
        ("circularity_score", "100.00"),
        ("education_score", "100.00"),
        ("partner_score", "40.00"),
        ("resource_score", "100.00"),
        ("value_added_score", "75.00"),
        ("e_score", "80.00"),
        ("s_score", "70.00"),
        ("g_score", "90.00"),
        ("esg_score", "79.00"),
    ];
    for (kpi, v) in expected {
        assert_eq!(value(&r, kpi), Some(d(v)), "{kpi}");
    }
    assert_eq!(r.kpi("esg_score").unwrap().grade.as_deref(), Some("A"));
}

#[test]
fn constant_rate_is_6_70_percent_per_year() {
    // 1 - 0.5^(1/10) = 0.066967008463...
    let f = nth_root(d("0.5"), 10).unwrap();
    let rate = (Decimal::ONE - f) * Decimal::ONE_HUNDRED;
    assert_eq!(rate.round_dp(2), d("6.70"));
    assert_eq!(f, d("0.93303299153680741598"));
    // f^10 comes back to 0.5 within the stated precision
    let mut back = Decimal::ONE;
    for _ in 0..10 {
        back *= f;
    }
    assert_eq!(back.round_dp(18), d("0.5"));

    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-06"))).unwrap();
    let t = r.kpi("total_emissions").unwrap().target.clone().unwrap();
    assert_eq!(t.trajectory, TrajectoryKind::ConstantRate);
    assert_eq!(t.annual_rate_pct, Some(d("6.70")));
    assert_eq!(t.baseline_value, Some(d("100000.0")));
    assert_eq!(t.target_value, Some(d("50000.0")));
    let lin = r.kpi("intensity_tkm").unwrap().target.clone().unwrap();
    assert_eq!(lin.trajectory, TrajectoryKind::Linear);
    assert_eq!(lin.annual_rate_pct, Some(d("5.00")));
}

#[test]
fn nth_roots() {
    let cases = [
        ("8", 3, "2"),
        ("2", 2, "1.41421356237309504880"),
        ("1", 7, "1"),
        ("0", 5, "0"),
        ("81", 4, "3"),
    ];
    for (a, n, want) in cases {
        assert_eq!(nth_root(d(a), n), Some(d(want)), "{a}^(1/{n})");
    }
    assert_eq!(nth_root(d("-1"), 3), None);
    assert_eq!(nth_root(d("2"), 0), None);
}

// ------------------------------------------------------------------ logistics framework

#[test]
fn logistics_trajectory_achievement_and_warning() {
    let (cfg, m) = logistics();
    // (period, value, trajectory, achievement %, off track, warning)
    let cases = [
        ("2024-12", "80000.0", "75785.8", "82.60", true, true),
        ("2025-01", "69000.0", "70710.7", "105.84", false, false),
        ("2025-02", "70000.0", "70710.7", "102.43", false, false),
        ("2025-03", "72000.0", "70710.7", "95.60", true, false),
        ("2025-04", "71500.0", "70710.7", "97.31", true, true),
        ("2025-06", "71000.0", "70710.7", "99.01", true, true),
    ];
    for (period, v, traj, ach, off, warn) in cases {
        let r = report(&cfg, &m, Some(p(period))).unwrap();
        let k = r.kpi("total_emissions").unwrap();
        assert_eq!(k.period, p(period));
        assert_eq!(k.value, Some(d(v)), "{period}");
        assert_eq!(k.trajectory_value, Some(d(traj)), "{period}");
        assert_eq!(k.achievement_pct, Some(d(ach)), "{period}");
        assert_eq!(k.off_track, Some(off), "{period}");
        assert_eq!(k.warning.is_some(), warn, "{period}");
    }
    // progress towards the 2030 value at 2025-06: (100000 - 71000) / 50000
    let r = report(&cfg, &m, Some(p("2025-06"))).unwrap();
    assert_eq!(
        r.kpi("total_emissions").unwrap().target_progress_pct,
        Some(d("58.00"))
    );
}

#[test]
fn logistics_intensities_and_operational_kpis() {
    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-01"))).unwrap();
    let cases = [
        ("intensity_tkm", "0.0767"),
        ("intensity_revenue", "106.15"),
        ("intensity_vehicle", "1725.00"),
        ("fuel_efficiency", "3.42"),
        ("load_factor", "75.00"),
        ("clean_vehicle_share", "25.00"),
        ("renewable_share", "30.00"),
        ("total_emissions_yoy", "-13.75"),
        ("avoided_emissions", "5000.0"),
    ];
    for (kpi, v) in cases {
        assert_eq!(value(&r, kpi), Some(d(v)), "{kpi}");
    }
    // linear path on the intensity: 0.125 x (1 - 0.5 x 5/10) = 0.09375
    let k = r.kpi("intensity_tkm").unwrap();
    assert_eq!(k.trajectory_value, Some(d("0.0938")));
    assert_eq!(k.achievement_pct, Some(d("154.67")));
    assert_eq!(k.off_track, Some(false));
    // change against the same month last year, computed for every KPI
    assert_eq!(
        r.kpi("total_emissions").unwrap().change_vs_last_year_pct,
        Some(d("-13.75"))
    );
    assert_eq!(
        r.kpi("total_emissions").unwrap().prev_year_value,
        Some(d("80000.0"))
    );
}

#[test]
fn logistics_quarter_rollup_and_series() {
    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-03"))).unwrap();
    let q = r.kpi("total_emissions_quarter").unwrap();
    assert_eq!(q.period, p("2025-Q1"));
    assert_eq!(q.value, Some(d("211000.0")));
    assert_eq!(q.change_vs_last_year_pct, Some(d("-12.08")));
    // series skips periods without data: 12 + 12 + 3 months
    let s = &r.kpi("total_emissions").unwrap().series;
    assert_eq!(s.len(), 27);
    assert_eq!(s.first().unwrap().period, p("2020-01"));
    assert_eq!(s.last().unwrap().period, p("2025-03"));
    // latest month with data when no period is given
    let latest = report(&cfg, &m, None).unwrap();
    assert_eq!(latest.period, p("2025-06"));
}

#[test]
fn avoided_emissions_stay_outside_the_inventory() {
    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-01"))).unwrap();
    let names: Vec<&str> = r.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["inventory", "operational", "avoided"]);
    let avoided = r.sections.iter().find(|s| s.name == "avoided").unwrap();
    assert!(avoided.note.is_some());
    assert_eq!(avoided.kpis.len(), 1);
    // the inventory total is not reduced by the 5,000 kg avoided
    assert_eq!(value(&r, "total_emissions"), Some(d("69000.0")));

    let src = r#"
[framework]
name = "netting"
[[measures]]
name = "gross"
unit = "kg"
[[measures]]
name = "avoided"
unit = "kg"
avoided = true
[[kpis]]
name = "saved"
section = "avoided"
formula = "avoided"
unit = "kg"
period = "month"
[[kpis]]
name = "net"
formula = "gross - saved"
unit = "kg"
period = "month"
"#;
    let err = load_config(src, "netting.toml").unwrap_err().to_string();
    assert!(
        err.contains("kpi `net` in section `inventory` depends on kpi `saved`"),
        "{err}"
    );
    let direct = src.replace("gross - saved", "gross - avoided");
    let err = load_config(&direct, "netting.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("depends on avoided measure `avoided`"),
        "{err}"
    );
}

// ------------------------------------------------------------------ ESG framework over the CSV

#[test]
fn esg_quarterly_and_monthly_kpis() {
    let (cfg, m) = esg();
    let r = report(&cfg, &m, Some(p("2025-03"))).unwrap();
    // (kpi, period, value, grade)
    let cases = [
        ("conversion_rate", "2025-Q1", "82.50", Some("good")),
        ("social_value_krw", "2025-03", "17539000", Some("excellent")),
        ("carbon_reduction_t", "2025-03", "3.85", Some("good")),
        ("education_index", "2025-Q1", "5400", None),
        ("partners", "2025-Q1", "25", None),
        ("resource_value_krw", "2025-Q1", "1800000", None),
        ("value_added_pct", "2025-Q1", "372.22", Some("below")),
        ("energy_saved_kwh", "2025-Q1", "33737.00", None),
    ];
    for (kpi, period, v, grade) in cases {
        let k = r.kpi(kpi).unwrap();
        assert_eq!(k.period, p(period), "{kpi}");
        assert_eq!(k.value, Some(d(v)), "{kpi}");
        assert_eq!(k.grade.as_deref(), grade, "{kpi}");
    }
    let y = report(&cfg, &m, Some(Period::year(2025))).unwrap();
    // E = 100 (all three capped), S = 0.5*100 + 0.5*(25/50*100) = 75,
    // G = 0.6*(600,000/1,000,000*100) + 0.4*(372.22../400*100) = 73.22; 0.5E + 0.3S + 0.2G = 87.14
    let cases = [
        ("e_score", "100.00"),
        ("s_score", "75.00"),
        ("g_score", "73.22"),
        ("esg_score", "87.14"),
    ];
    for (kpi, v) in cases {
        assert_eq!(value(&y, kpi), Some(d(v)), "{kpi}");
    }
    assert_eq!(y.kpi("esg_score").unwrap().grade.as_deref(), Some("S"));
}

// ------------------------------------------------------------------ formula language

#[test]
fn formula_values() {
    let cases = [
        ("a + b * 2", "3", "4", Some("11")),
        ("(a + b) * 2", "3", "4", Some("14")),
        ("-a * b", "3", "4", Some("-12")),
        ("a - b - 1", "10", "4", Some("5")),
        ("a / b", "10", "4", Some("2.5")),
        ("1 / 3 * 3", "0", "0", Some("1")),
        ("min(a, b, 2)", "3", "4", Some("2")),
        ("max(a, b)", "3", "4", Some("4")),
        ("abs(a - b)", "3", "4", Some("1")),
        ("pow(a, 10)", "2", "0", Some("1024")),
        ("pow(a, -2)", "2", "0", Some("0.25")),
        ("pow(a, 0.5)", "2.25", "0", Some("1.5")),
        ("pow(a, 0.1)", "0.5", "0", Some("0.933033")),
        ("30_000 * a", "2", "0", Some("60000")),
        ("a / b", "1", "0", None),
        ("pow(b, -1)", "0", "0", None),
        ("pow(a, 0.5)", "-4", "0", None),
    ];
    for (f, a, b, want) in cases {
        assert_eq!(eval_tiny(f, a, b), want.map(d), "{f} with a={a} b={b}");
    }
}

#[test]
fn division_by_zero_is_not_available() {
    let cfg = tiny("a / b", "").unwrap();
    let mut m = Measures::new();
    m.insert(p("2025-01"), "a", d("1"));
    m.insert(p("2025-01"), "b", d("0"));
    let r = report(&cfg, &m, None).unwrap();
    let k = r.kpi("k").unwrap();
    assert_eq!(k.value, None);
    assert_eq!(k.not_available.as_deref(), Some("division by zero"));
    assert!(r.render(Format::Table).contains("n/a"));
    // a missing measure is named
    let cfg = tiny("a + c", "").unwrap();
    let r = report(&cfg, &m, None).unwrap();
    assert_eq!(
        r.kpi("k").unwrap().not_available.as_deref(),
        Some("no value for `c`")
    );
}

#[test]
fn formula_errors_name_kpi_formula_and_position() {
    // (formula, position, message fragment)
    let cases = [
        ("a +", 4, "unexpected end of formula"),
        ("a + zzz", 5, "unknown measure `zzz`"),
        ("a $ b", 3, "unexpected character `$`"),
        ("foo(a)", 1, "unknown function `foo`"),
        ("pow(a)", 1, "`pow` takes 2 argument(s), got 1"),
        ("(a + b", 7, "expected `)`"),
        ("a b", 3, "unexpected trailing input"),
        ("k * 2", 1, "refers to itself"),
    ];
    for (f, pos, msg) in cases {
        match tiny(f, "") {
            Err(KpiError::Formula {
                config,
                kpi,
                formula,
                pos: at,
                msg: m,
            }) => {
                assert_eq!(
                    (config.as_str(), kpi.as_str(), formula.as_str()),
                    ("tiny.toml", "k", f)
                );
                assert_eq!(at, pos, "{f}");
                assert!(m.contains(msg), "{f}: {m}");
            }
            other => panic!("{f}: expected a formula error, got {other:?}"),
        }
    }
    let e = tiny("a + zzz", "").unwrap_err().to_string();
    assert_eq!(
        e,
        "tiny.toml: kpi `k`: formula `a + zzz` at position 5: unknown measure `zzz` (declare it under [[measures]])"
    );
}

#[test]
fn config_errors() {
    let cases = [
        (
            "kind = \"weighted\"\ncomponents = [{ kpi = \"k\", weight = 0.5 }]",
            "a weighted kpi takes `components`, not `formula`",
        ),
        (
            "[kpis.target]\nbaseline_period = \"2020\"\ntarget_year = 2019\nreduction_pct = 50\ntrajectory = \"linear\"",
            "target_year must be after",
        ),
        (
            "grades = [{ grade = \"x\" }, { grade = \"y\", min = 1 }]",
            "catch-all grade `x` must come last",
        ),
        ("colour = \"red\"", "unknown field `colour`"),
    ];
    for (extra, msg) in cases {
        let e = tiny("a", extra).unwrap_err().to_string();
        assert!(e.contains(msg), "{extra}: {e}");
    }
    let weights = r#"
[framework]
name = "w"
[[measures]]
name = "a"
unit = "u"
[[kpis]]
name = "x"
formula = "a"
unit = "u"
period = "year"
[[kpis]]
name = "w"
kind = "weighted"
components = [{ kpi = "x", weight = 0.6 }, { kpi = "x", weight = 0.3 }]
unit = "u"
period = "year"
"#;
    let e = load_config(weights, "w.toml").unwrap_err().to_string();
    assert_eq!(e, "w.toml: kpi `w`: weights add up to 0.9, not 1");
    let cycle = r#"
[framework]
name = "c"
[[kpis]]
name = "x"
formula = "y + 1"
unit = "u"
period = "year"
[[kpis]]
name = "y"
formula = "x * 2"
unit = "u"
period = "year"
"#;
    let e = load_config(cycle, "c.toml").unwrap_err().to_string();
    assert_eq!(e, "c.toml: kpi cycle: x -> y -> x");
    let dup = "[framework]\nname = \"d\"\n[[measures]]\nname = \"a\"\nunit = \"u\"\n[[measures]]\nname = \"a\"\nunit = \"v\"\n";
    assert_eq!(
        load_config(dup, "d.toml").unwrap_err().to_string(),
        "d.toml: duplicate name `a`"
    );
    assert!(matches!(
        load_config("not toml [", "x.toml"),
        Err(KpiError::Toml { .. })
    ));
}

#[test]
fn grades_follow_ordered_thresholds() {
    let grades = r#"grades = [{ grade = "S", min = 80 }, { grade = "A", min = 60 }, { grade = "B", min = 40 }, { grade = "C", min = 20 }, { grade = "D" }]"#;
    let cfg = tiny("a", grades).unwrap();
    let cases = [
        ("100", "S"),
        ("80", "S"),
        ("79.999999", "A"),
        ("60", "A"),
        ("59.99", "B"),
        ("40", "B"),
        ("20", "C"),
        ("19.99", "D"),
        ("0", "D"),
        ("-5", "D"),
    ];
    for (v, g) in cases {
        let mut m = Measures::new();
        m.insert(p("2025-01"), "a", d(v));
        let r = report(&cfg, &m, None).unwrap();
        assert_eq!(r.kpi("k").unwrap().grade.as_deref(), Some(g), "{v}");
    }
    // lower-is-better bands use `max`
    let cfg = tiny(
        "a",
        r#"grades = [{ grade = "good", max = 0.1 }, { grade = "poor" }]"#,
    )
    .unwrap();
    for (v, g) in [("0.08", "good"), ("0.1", "good"), ("0.12", "poor")] {
        let mut m = Measures::new();
        m.insert(p("2025-01"), "a", d(v));
        assert_eq!(
            report(&cfg, &m, None)
                .unwrap()
                .kpi("k")
                .unwrap()
                .grade
                .as_deref(),
            Some(g),
            "{v}"
        );
    }
}

// ------------------------------------------------------------------ periods and measures

#[test]
fn periods_parse_and_print() {
    let cases = [
        ("2025-01", Period::month(2025, 1), Granularity::Month),
        ("2025-12", Period::month(2025, 12), Granularity::Month),
        ("2025-Q1", Period::quarter(2025, 1), Granularity::Quarter),
        ("2025-Q4", Period::quarter(2025, 4), Granularity::Quarter),
        ("2025", Period::year(2025), Granularity::Year),
    ];
    for (s, want, g) in cases {
        let got: Period = s.parse().unwrap();
        assert_eq!(got, want);
        assert_eq!(got.granularity(), g);
        assert_eq!(got.to_string(), s);
    }
    for bad in ["2025-13", "2025-00", "2025-Q5", "25-01", "2025-1", "x", ""] {
        assert_eq!(
            bad.parse::<Period>(),
            Err(KpiError::Period(bad.to_string())),
            "{bad}"
        );
    }
    assert_eq!(p("2025-01").prev(), p("2024-12"));
    assert_eq!(p("2025-Q1").prev(), p("2024-Q4"));
    assert_eq!(p("2025").prev(), p("2024"));
    assert_eq!(p("2025-Q3").prev_year(), p("2024-Q3"));
}

#[test]
fn rollups_sum_last_avg() {
    let cfg = tiny("a", "").unwrap();
    let src = "period,measure,value,unit\n2025-01,a,1,u\n2025-02,a,2,u\n2025-04,a,4,u\n2025-01,c,10,u\n2025-03,c,30,u\n2025-01,b,5,u\n2025-02,b,6,u\n";
    let m = load_measures_csv(src, "m.csv", &cfg).unwrap();
    use crate::kpi::Aggregate;
    let cases = [
        ("a", "2025-Q1", Aggregate::Sum, Some("3")),
        ("a", "2025", Aggregate::Sum, Some("7")),
        ("c", "2025-Q1", Aggregate::Last, Some("30")),
        ("b", "2025-Q1", Aggregate::Avg, Some("5.5")),
        ("a", "2025-Q3", Aggregate::Sum, None),
        ("a", "2025-03", Aggregate::Sum, None),
    ];
    for (meas, period, agg, want) in cases {
        assert_eq!(
            m.value(meas, p(period), agg),
            want.map(d),
            "{meas} {period}"
        );
    }
    // a directly stored coarser value wins over the roll-up
    let mut m2 = m.clone();
    m2.insert(p("2025"), "a", d("100"));
    assert_eq!(m2.value("a", p("2025"), Aggregate::Sum), Some(d("100")));
}

#[test]
fn csv_errors_name_file_line_and_column() {
    let cfg = tiny("a", "").unwrap();
    let cases = [
        (
            "period,measure,value,unit\n2025-01,a,1,kg\n",
            "m.csv:2:4: column `unit`: `kg` does not match `u` declared for `a`",
        ),
        (
            "period,measure,value,unit\n\n2025-01,zz,1,u\n",
            "m.csv:3:2: column `measure`: `zz` is not declared in tiny.toml",
        ),
        (
            "period,measure,value,unit\n2025-13,a,1,u\n",
            "m.csv:2:1: column `period`: invalid period `2025-13` (expected 2025-01, 2025-Q1 or 2025)",
        ),
        (
            "period,measure,value,unit\n2025-01,a,x,u\n",
            "m.csv:2:3: column `value`: `x` is not a decimal number",
        ),
        (
            "period,measure,value,unit\n2025-01,a,1\n",
            "m.csv:2: expected 4 fields, found 3",
        ),
        (
            "period,measure,value,unit\n2025-01,a,1,u\n2025-01,a,2,u\n",
            "m.csv:3:1: duplicate value for `a` in 2025-01 (first on line 2)",
        ),
        (
            "# c\nmeasure,period,value,unit,value\n",
            "m.csv:2:5: column `value`: duplicate column (first at column 3)",
        ),
        (
            "period,measure,amount,unit\n",
            "m.csv:1:3: column `amount`: unknown column (expected period, measure, value, unit and optionally department, team)\n  m.csv:1:5: column `value`: missing required column",
        ),
        (
            "",
            "m.csv:1: empty file: expected the header `period,measure,value,unit`",
        ),
    ];
    for (src, want) in cases {
        let err = load_measures_csv(src, "m.csv", &cfg)
            .unwrap_err()
            .to_string();
        let listed = err.split_once(":\n  ").map(|(_, l)| l).unwrap_or(&err);
        assert_eq!(listed, want, "{src:?}");
    }
    // Columns in another order and quoted fields read by name, not by splitting on commas.
    let m = load_measures_csv(
        "unit,value,measure,period\n\"u\",\"1.5\",a,2025-01\n",
        "m.csv",
        &cfg,
    )
    .unwrap();
    assert_eq!(m.get("a", p("2025-01")), Some(d("1.5")));
}

#[test]
fn negative_kg_collected_is_refused_with_its_declared_range() {
    // The issue's case: −2,000 kg collected became −5.5 t avoided (× 2.75 kgCO2/kg).
    let cfg = load_config(shipped("esg-impact.toml"), "esg-impact.toml").unwrap();
    let m = cfg.measure("collected_kg").unwrap();
    assert_eq!((m.min, m.max), (Some(Decimal::ZERO), None));
    let src = "period,measure,value,unit\n2025-01,collected_kg,-2000,kg\n";
    let err = load_measures_csv(src, "ops.csv", &cfg).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 problem(s) in measures:\n  ops.csv:2:3: column `value`: -2000 is below the minimum 0 declared for `collected_kg`"
    );
    // A range is declared (min = 0) for every measure of both shipped frameworks: none of
    // them can be negative.
    for name in ["logistics.toml", "esg-impact.toml"] {
        let cfg = load_config(shipped(name), name).unwrap();
        for m in &cfg.measures {
            assert_eq!(m.min, Some(Decimal::ZERO), "{name}: {}", m.name);
        }
    }
    // max, and a range that cannot hold anything
    let cfg = tiny("a", "").unwrap();
    assert!(cfg.measure("a").unwrap().out_of_range(d("-1")).is_none());
    let bounded = load_config(
        "[framework]\nname = \"b\"\n[[measures]]\nname = \"share\"\nunit = \"%\"\nmin = 0\nmax = 100\n[[kpis]]\nname = \"k\"\nformula = \"share\"\nunit = \"%\"\nperiod = \"month\"\n",
        "b.toml",
    )
    .unwrap();
    let err = load_measures_csv(
        "period,measure,value,unit\n2025-01,share,150,%\n",
        "b.csv",
        &bounded,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "b.csv:2:3: column `value`: 150 is above the maximum 100 declared for `share`"
        ),
        "{err}"
    );
    let err = load_config(
        "[framework]\nname = \"b\"\n[[measures]]\nname = \"x\"\nunit = \"u\"\nmin = 5\nmax = 1\n[[kpis]]\nname = \"k\"\nformula = \"x\"\nunit = \"u\"\nperiod = \"month\"\n",
        "b.toml",
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "b.toml: measure `x`: min 5 is above max 1");
}

#[test]
fn measures_csv_reports_every_problem_in_one_run() {
    // Five bad rows and one good one: all five problems come back, nothing is kept.
    let cfg = load_config(shipped("esg-impact.toml"), "esg-impact.toml").unwrap();
    let src = "# ops\nperiod,measure,value,unit\n\
               2025-01,collected_kg,-2000,kg\n\
               2025-01,staff,3,persons\n\
               2025-01,reused_kg,abc,kg\n\
               2025-13,recycled_kg,1,kg\n\
               2025-01,upcycled_kg,5,t\n\
               2025-01,edu_direct,10,persons\n";
    let KpiError::Measures(problems) = load_measures_csv(src, "ops.csv", &cfg).unwrap_err() else {
        panic!("expected measure problems")
    };
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "ops.csv:3:3: column `value`: -2000 is below the minimum 0 declared for `collected_kg`",
            "ops.csv:4:2: column `measure`: `staff` is not declared in esg-impact.toml",
            "ops.csv:5:3: column `value`: `abc` is not a decimal number",
            "ops.csv:6:1: column `period`: invalid period `2025-13` (expected 2025-01, 2025-Q1 or 2025)",
            "ops.csv:7:4: column `unit`: `t` does not match `kg` declared for `upcycled_kg`",
        ]
    );
}

#[test]
fn node_measures_merge_with_csv() {
    // the node passes its own scope totals; the CSV carries operations
    let (cfg, csv) = logistics();
    let mut m = Measures::new();
    m.insert(p("2026-01"), "scope1_kg", d("30000"));
    m.insert(p("2026-01"), "scope2_kg", d("5000"));
    m.insert(p("2026-01"), "scope3_kg", d("25000"));
    m.insert(p("2026-01"), "tkm", d("1000000"));
    m.extend(csv);
    let r = report(&cfg, &m, Some(p("2026-01"))).unwrap();
    assert_eq!(value(&r, "total_emissions"), Some(d("60000.0")));
    assert_eq!(value(&r, "intensity_tkm"), Some(d("0.0600")));
    assert_eq!(
        r.kpi("total_emissions").unwrap().trajectory_value,
        Some(d("65975.4"))
    );
    assert_eq!(value(&r, "fuel_efficiency"), None);
    assert!(matches!(
        report(&cfg, &Measures::new(), None),
        Err(KpiError::NoData)
    ));
}

// ------------------------------------------------------------------ rendering

#[test]
fn renders_table_json_csv() {
    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-06"))).unwrap();

    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    let total = &json["sections"][0]["kpis"][0];
    assert_eq!(total["name"], "total_emissions");
    assert_eq!(total["unit"], "kgCO2e");
    assert_eq!(total["period"], "2025-06");
    assert_eq!(total["value"], "71000.0");
    assert_eq!(total["trajectory_value"], "70710.7");
    assert_eq!(total["achievement_pct"], "99.01");
    assert_eq!(total["target"]["annual_rate_pct"], "6.70");
    assert_eq!(total["target"]["trajectory"], "constant_rate");
    assert!(total["warning"].is_string());
    assert_eq!(total["series"].as_array().unwrap().len(), 30);

    let csv = r.render(Format::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + cfg.kpis.len());
    assert!(lines[0].starts_with("section,kpi,period,value,unit,"));
    assert!(lines[1].starts_with(
        "inventory,total_emissions,2025-06,71000.0,kgCO2e,,70710.7,99.01,58.00,,true,"
    ));

    let table = r.render(Format::Table);
    assert!(table.starts_with("Logistics carbon KPIs (logistics-carbon) - period 2025-06"));
    assert!(table.contains("[avoided]"));
    assert!(table.contains("WARNING"));
    assert!(
        table.contains(
            "warnings:\n  total_emissions: 2025-05 and 2025-06 both missed the trajectory"
        )
    );
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    assert!("xml".parse::<Format>().is_err());
}

#[test]
fn target_path_year_by_year_from_the_engine() {
    let (cfg, m) = logistics();
    let r = report(&cfg, &m, Some(p("2025-06"))).unwrap();
    // constant rate: 100,000 × 0.5^(k/10), rounded like the KPI (1 place)
    let t = r.kpi("total_emissions").unwrap().target.clone().unwrap();
    let path: Vec<(i32, Decimal)> = t.path.iter().map(|s| (s.year, s.value)).collect();
    let want = [
        "100000.0", "93303.3", "87055.1", "81225.2", "75785.8", "70710.7", "65975.4", "61557.2",
        "57434.9", "53588.7", "50000.0",
    ];
    assert_eq!(
        path,
        (2020..=2030).zip(want.map(d)).collect::<Vec<_>>(),
        "constant-rate path"
    );
    // the path holds the same values as each period's trajectory
    let k = r.kpi("total_emissions").unwrap();
    assert_eq!(Some(t.path[5].value), k.trajectory_value);
    // linear: 0.125 × (1 − 0.5·k/10), 4 places
    let lin = r.kpi("intensity_tkm").unwrap().target.clone().unwrap();
    assert_eq!(lin.path.len(), 11);
    assert_eq!(lin.path[0].value, d("0.1250"));
    assert_eq!(lin.path[5].value, d("0.0938"));
    assert_eq!(lin.path[10].value, d("0.0625"));
    // in the JSON the dashboard reads
    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(
        json["sections"][0]["kpis"][0]["target"]["path"][5],
        serde_json::json!({ "year": 2025, "value": "70710.7" })
    );
    // a KPI without a target has none
    assert!(r.kpi("load_factor").unwrap().target.is_none());
}
