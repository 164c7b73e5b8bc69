//! Part six of the demo: the KPI guide's monitoring system for a logistics company.
//!
//! "A Logistics" keeps 36 months of activity ledgers (fuel, electricity, refrigerants), its
//! operational measures, its KPI framework and its PDCA action plans in its node's home, as a
//! user would; its dashboard computes the inventory from the ledgers and serves the executive,
//! operational and field views. The demo logs in like a browser and reads `GET /api/monitor`,
//! the answer the page draws, into the typed subset it narrates.

use std::collections::BTreeMap;
use std::io::Write;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::buyer::{step, write};
use super::{Company, DemoError};

const KPI: &str = include_str!("../../../../data/examples/a-logistics/kpi.toml");
const MEASURES: &str = include_str!("../../../../data/examples/a-logistics/measures.csv");
const PLANS: &str = include_str!("../../../../data/examples/a-logistics/action-plans.csv");
const FUEL: &str = include_str!("../../../../data/examples/a-logistics/ledger/fuel.csv");
const ELECTRICITY: &str =
    include_str!("../../../../data/examples/a-logistics/ledger/electricity.csv");
const REFRIGERANTS: &str =
    include_str!("../../../../data/examples/a-logistics/ledger/refrigerants.csv");

/// Where the inputs are, relative to A Logistics' home (the dashboard config names them).
const KPI_CONFIG: &str = "kpi/kpi.toml";
const KPI_MEASURES: &str = "kpi/measures.csv";
const ACTION_PLANS: &str = "kpi/action-plans.csv";
const INVENTORY: &str = "inventory";

/// The subset of `GET /api/monitor` the demo narrates (the whole contract is in
/// `tanso_calc::monitor`).
#[derive(Deserialize)]
struct Answer {
    report: Report,
}

#[derive(Deserialize)]
struct Report {
    month: String,
    executive: Executive,
    operational: Operational,
    field: Field,
}

#[derive(Deserialize)]
struct Executive {
    kpis: Vec<Kpi>,
    alarms: Vec<Alarm>,
}

#[derive(Deserialize)]
struct Kpi {
    name: String,
    title: String,
    unit: String,
    value: Option<Decimal>,
    change_vs_last_year_pct: Option<Decimal>,
    status: String,
    series: Vec<Point>,
    forecast: Option<Forecast>,
}

#[derive(Deserialize)]
struct Point {
    period: String,
    value: Decimal,
}

#[derive(Deserialize)]
struct Forecast {
    method: Option<String>,
    target_year: Option<i32>,
    target_value: Option<Decimal>,
    probability_of_target: Option<f64>,
    early_warning: bool,
    warning: Option<String>,
    not_available: Option<String>,
}

#[derive(Deserialize)]
struct Alarm {
    severity: String,
    message: String,
}

#[derive(Deserialize)]
struct Operational {
    departments: Vec<Department>,
    action_plans: Vec<Plan>,
}

#[derive(Deserialize)]
struct Department {
    name: String,
    rank: Option<u32>,
    change_vs_last_year_pct: Option<Decimal>,
}

#[derive(Deserialize)]
struct Plan {
    id: String,
    title: String,
    phase: String,
    expected_reduction: Decimal,
    measured_reduction: Option<Decimal>,
    progress_pct: Option<Decimal>,
    overdue: bool,
}

#[derive(Deserialize)]
struct Field {
    teams: Vec<Team>,
}

#[derive(Deserialize)]
struct Team {
    department: String,
    name: String,
    incentive: String,
    best_practice: bool,
}

fn pct(v: Option<Decimal>) -> String {
    v.map(|d| format!("{:+} %", d.round_dp(1)))
        .unwrap_or_else(|| "n/a".into())
}

fn tonnes(kg: Decimal) -> String {
    format!("{} t", (kg / Decimal::ONE_THOUSAND).round_dp(1))
}

/// The dashboard config that makes A Logistics' node serve the monitoring views.
pub(super) fn dashboard() -> tanso_core::config::RawDashboard {
    tanso_core::config::RawDashboard {
        listen: Some("127.0.0.1:0".into()),
        kpi_config: Some(KPI_CONFIG.into()),
        kpi_measures: Some(KPI_MEASURES.into()),
        inventory: Some(INVENTORY.into()),
        action_plans: Some(ACTION_PLANS.into()),
        ..Default::default()
    }
}

/// Writes A Logistics' files into its home and narrates its monitoring views as its
/// dashboard serves them.
pub(super) async fn run(out: &mut dyn Write, company: &Company) -> Result<(), DemoError> {
    use crate::dashboard::{Role, client};
    let home = company.node.home().dir.clone();
    for (rel, text) in [
        (KPI_CONFIG, KPI),
        (KPI_MEASURES, MEASURES),
        (ACTION_PLANS, PLANS),
        ("inventory/fuel.csv", FUEL),
        ("inventory/electricity.csv", ELECTRICITY),
        ("inventory/refrigerants.csv", REFRIGERANTS),
    ] {
        write(&home, rel, text)?;
    }
    let session = super::Session::open(company, "manager", Role::Viewer).await?;
    let answer = client::request(
        session.addr,
        &session.fingerprint,
        "GET",
        "/api/monitor",
        &[("cookie", &session.cookie)],
        b"",
    )
    .await
    .map_err(|e| step(format!("GET /api/monitor: {e}")))?;
    if answer.status != 200 {
        return Err(step(format!(
            "GET /api/monitor answered {}: {}",
            answer.status,
            answer.text()
        )));
    }
    let Answer { report } =
        serde_json::from_str(&answer.text()).map_err(|e| step(format!("GET /api/monitor: {e}")))?;

    let total = report
        .executive
        .kpis
        .iter()
        .find(|k| k.name == "total_emissions")
        .ok_or_else(|| step("the executive view has no total_emissions"))?;
    let mut years: BTreeMap<&str, Decimal> = BTreeMap::new();
    for p in &total.series {
        *years.entry(&p.period[..4]).or_default() += p.value;
    }
    let first = years.values().next().copied().unwrap_or_default();
    let yearly: Vec<String> = years
        .iter()
        .map(|(y, kg)| {
            if *kg == first || first.is_zero() {
                format!("{y} {}", tonnes(*kg))
            } else {
                let change = (*kg - first) / first * Decimal::ONE_HUNDRED;
                format!("{y} {} ({})", tonnes(*kg), pct(Some(change)))
            }
        })
        .collect();
    writeln!(
        out,
        "\nM1. A Logistics keeps 36 months of fuel, electricity and refrigerant ledgers on its node; its dashboard computes Scope 1 and 2 from them (DESNZ 2024 diesel, the Korean grid factor, AR5 R-410A): {}",
        yearly.join(", ")
    )?;
    let kpis: Vec<String> = report
        .executive
        .kpis
        .iter()
        .map(|k| {
            let value = k
                .value
                .map(|v| v.round_dp(2).to_string())
                .unwrap_or_else(|| "n/a".into());
            format!(
                "{} {value} {} ({} on last year, {})",
                k.title,
                k.unit,
                pct(k.change_vs_last_year_pct),
                k.status.replace('_', " ")
            )
        })
        .collect();
    writeln!(
        out,
        "M2. Executive view, {}: {}",
        report.month,
        kpis.join("; ")
    )?;
    if let Some(f) = &total.forecast {
        match (&f.not_available, f.probability_of_target) {
            (Some(why), _) => writeln!(out, "M3. Forecast: not available ({why})")?,
            (None, p) => writeln!(
                out,
                "M3. Forecast ({}): probability of meeting the {} target ({} a month) {}; early warning {}",
                f.method.as_deref().unwrap_or("OLS"),
                f.target_year.map(|y| y.to_string()).unwrap_or_default(),
                f.target_value.map(tonnes).unwrap_or_else(|| "n/a".into()),
                p.map(|p| format!("{:.0} %", p * 100.0))
                    .unwrap_or_else(|| "n/a".into()),
                match (&f.warning, f.early_warning) {
                    (Some(w), true) => format!("ON: {w}"),
                    _ => "off".into(),
                }
            )?,
        }
    }
    let alarms: Vec<String> = report
        .executive
        .alarms
        .iter()
        .take(3)
        .map(|a| format!("[{}] {}", a.severity, a.message))
        .collect();
    writeln!(
        out,
        "M4. Alarms ({}): {}",
        report.executive.alarms.len(),
        if alarms.is_empty() {
            "none".into()
        } else {
            alarms.join("; ")
        }
    )?;
    let ranking: Vec<String> = report
        .operational
        .departments
        .iter()
        .map(|d| {
            format!(
                "{}. {} ({})",
                d.rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                d.name,
                pct(d.change_vs_last_year_pct)
            )
        })
        .collect();
    writeln!(
        out,
        "M5. Operational view: department ranking on last year's month: {}",
        ranking.join(", ")
    )?;
    let plans: Vec<String> = report
        .operational
        .action_plans
        .iter()
        .map(|p| {
            format!(
                "{} {} [{}{}]: {} measured of {} expected ({})",
                p.id,
                p.title,
                p.phase,
                if p.overdue { ", overdue" } else { "" },
                p.measured_reduction
                    .map(tonnes)
                    .unwrap_or_else(|| "n/a".into()),
                tonnes(p.expected_reduction),
                p.progress_pct
                    .map(|v| format!("{} %", v.round_dp(0)))
                    .unwrap_or_else(|| "n/a".into())
            )
        })
        .collect();
    writeln!(out, "M6. PDCA action plans: {}", plans.join("; "))?;
    let earned: Vec<String> = report
        .field
        .teams
        .iter()
        .filter(|t| t.incentive == "earned")
        .map(|t| {
            format!(
                "{} ({}){}",
                t.name,
                t.department,
                if t.best_practice {
                    ", best practice"
                } else {
                    ""
                }
            )
        })
        .collect();
    writeln!(
        out,
        "M7. Field view: {} of {} teams earned this month's incentive: {}",
        earned.len(),
        report.field.teams.len(),
        if earned.is_empty() {
            "none".into()
        } else {
            earned.join(", ")
        }
    )?;
    Ok(())
}
