//! The monitoring system of the KPI guide (seed 000, part 5): three views over a framework's
//! KPIs, month by month. Pure: the caller hands in the config, the measures per company,
//! department and team ([`crate::kpi::assemble`]) and the action plans ([`load_action_plans`]).
//!
//! - **Executive**: the `[monitor] core` KPIs (at most five) with value, trajectory,
//!   achievement, change against the same month a year before, status, series and a forecast
//!   ([`forecast`]: trend + monthly seasonality, 95 % interval, probability of meeting the
//!   target, early warning); alarms, most severe first.
//! - **Operational**: per department the core KPIs on its own measures, the monthly ranking by
//!   the change of the ranking KPI against the same month a year before (unranked without a
//!   value a year before), improvement areas found automatically, action-plan progress.
//! - **Field**: per team the ranking KPI, its change, rank in the department, best practice,
//!   incentive (`[monitor] incentive_reduction_pct`) and a one-line feedback.
//!
//! Decisions (also in `kpi/README.md`):
//! - Status: `no_target` when the KPI has no target or no value or trajectory this month;
//!   `off_track` when this month is on the far side of the trajectory; `warning` when on the
//!   path but the month before was off it or the forecast gives an early warning; else `on_track`.
//! - "Better" is lower for a reduction target (and for a KPI without target: the ranking KPI
//!   is an emission figure), higher for a growth target (negative `reduction_pct`).
//! - Measured reduction of a plan = Σ over its months `start..=min(due, month)` with a value
//!   both this month and a year before of (year before − this month), on the plan's
//!   department (or team) measures; progress = measured / expected × 100; overdue = the month
//!   is after `due` and the phase is not `done`.
//! - Figures are computed exactly and rounded once, by [`tanso_model::rounding::round`], to
//!   the KPI's decimals (percentages to 2 places); the statistics run in `f64`.

pub mod forecast;
mod plans;
mod render;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::Serialize;

use crate::kpi::{
    Evaluator, KpiConfig, KpiDef, KpiError, KpiResult, MeasureProblem, Measures, OrgMeasures,
    Period, dec, dec_opt, report,
};
use tanso_model::rounding::round;

pub use forecast::{Fit, INTERVAL_PCT, MIN_MONTHS};
pub use plans::{ActionPlan, MAX_PLANS, MAX_TEXT, PLAN_COLUMNS, Phase, load_action_plans};

/// Decimal places of the percentages the monitor derives.
const PCT_DP: u32 = 2;
/// Most forecast points per KPI (15 years): a far target year still gets its probability,
/// but the drawn forecast stops here.
pub const MAX_HORIZON_MONTHS: i64 = 180;

/// What can go wrong building the views.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    #[error("{0}: the framework declares no [monitor] core kpis")]
    NoCore(String),
    #[error("no measures to monitor")]
    NoData,
    #[error("month {month}: no data (the data runs from {first} to {last})")]
    Month {
        month: String,
        first: String,
        last: String,
    },
    #[error("month `{0}`: expected YYYY-MM")]
    BadMonth(String),
    /// Every problem of an action-plan CSV, each with file:line:column.
    #[error("{} problem(s) in action plans:\n{}", .0.len(), list(.0))]
    Plans(Vec<MeasureProblem>),
    #[error(transparent)]
    Kpi(#[from] KpiError),
}

fn list(problems: &[MeasureProblem]) -> String {
    let mut s = problems
        .iter()
        .take(50)
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n");
    if problems.len() > 50 {
        s.push_str(&format!("\n  … and {} more", problems.len() - 50));
    }
    s
}

/// Parses a `?month=` / `--month` value: `YYYY-MM` only, at most 16 characters looked at.
pub fn parse_month(text: &str) -> Result<Period, MonitorError> {
    let shown: String = text.chars().take(16).collect();
    match text.parse::<Period>() {
        Ok(p @ Period::Month { .. }) if text.len() <= 16 => Ok(p),
        _ => Err(MonitorError::BadMonth(shown)),
    }
}

// === the report (the JSON contract of GET /api/monitor) ===

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorReport {
    pub framework: String,
    pub title: String,
    /// The month the views describe.
    pub month: Period,
    /// Every month with data at the company level.
    pub months: Vec<Period>,
    pub executive: Executive,
    pub operational: Operational,
    pub field: Field,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Executive {
    pub kpis: Vec<Kpi>,
    pub alarms: Vec<Alarm>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operational {
    /// In ranking order (ranked first).
    pub departments: Vec<Department>,
    pub improvement_areas: Vec<ImprovementArea>,
    pub action_plans: Vec<PlanStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// Grouped by department (department order), best first within.
    pub teams: Vec<Team>,
}

/// A month's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub period: Period,
    #[serde(serialize_with = "dec")]
    pub value: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    OffTrack,
    Warning,
    NoTarget,
}

/// A KPI's state in a month (a department's KPIs are this alone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiStatus {
    pub name: String,
    pub title: String,
    pub unit: String,
    #[serde(serialize_with = "dec_opt")]
    pub value: Option<Decimal>,
    pub not_available: Option<String>,
    /// The trajectory's value for this month.
    #[serde(serialize_with = "dec_opt")]
    pub target_value: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub achievement_pct: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub change_vs_last_year_pct: Option<Decimal>,
    pub status: Status,
    /// Every month up to the report's month.
    pub series: Vec<Point>,
}

/// A company-level KPI of the executive view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpi {
    #[serde(flatten)]
    pub status: KpiStatus,
    /// The series' months and the forecast's, on the target's path; empty without a target.
    pub trajectory: Vec<Point>,
    pub forecast: Option<Forecast>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    pub period: Period,
    #[serde(serialize_with = "dec")]
    pub value: Decimal,
    #[serde(serialize_with = "dec")]
    pub low: Decimal,
    #[serde(serialize_with = "dec")]
    pub high: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub method: Option<String>,
    pub months_used: usize,
    pub interval_pct: u32,
    /// The month after the report's month to December of the target year (without a target:
    /// of the year after the report's month).
    pub points: Vec<ForecastPoint>,
    pub target_year: Option<i32>,
    /// The target for the target year, monthly-mean basis like the trajectory.
    #[serde(serialize_with = "dec_opt")]
    pub target_value: Option<Decimal>,
    /// P(the target year's mean meets the target), 3 decimals.
    pub probability_of_target: Option<f64>,
    pub early_warning: bool,
    pub warning: Option<String>,
    pub not_available: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub severity: Severity,
    pub kpi: String,
    pub department: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Department {
    pub name: String,
    /// `None`: not ranked (no value a year before).
    pub rank: Option<usize>,
    pub ranked_by: String,
    /// The core KPIs the department's measures can compute.
    pub kpis: Vec<KpiStatus>,
    /// The ranking KPI's value this month.
    #[serde(serialize_with = "dec_opt")]
    pub total: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub change_vs_last_year_pct: Option<Decimal>,
    pub needs_improvement: bool,
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImprovementArea {
    pub department: String,
    pub kpi: String,
    pub title: String,
    pub reason: String,
}

/// An action plan with its measured progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStatus {
    pub id: String,
    pub title: String,
    pub department: String,
    pub team: Option<String>,
    pub kpi: String,
    pub owner: String,
    pub start: Period,
    pub due: Period,
    pub phase: Phase,
    #[serde(serialize_with = "dec")]
    pub expected_reduction: Decimal,
    pub unit: String,
    #[serde(serialize_with = "dec_opt")]
    pub measured_reduction: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub progress_pct: Option<Decimal>,
    pub overdue: bool,
    pub months_measured: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Incentive {
    Earned,
    NotEarned,
    NotAvailable,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Team {
    pub department: String,
    pub name: String,
    #[serde(serialize_with = "dec_opt")]
    pub total: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub change_vs_last_year_pct: Option<Decimal>,
    pub rank_in_department: Option<usize>,
    pub teams_in_department: usize,
    pub best_practice: bool,
    pub incentive: Incentive,
    pub feedback: String,
}

// === building ===

/// Builds the three views for `month` (default: the latest month with data).
pub fn build(
    cfg: &KpiConfig,
    measures: &OrgMeasures,
    plans: &[ActionPlan],
    month: Option<Period>,
) -> Result<MonitorReport, MonitorError> {
    if cfg.monitor.core.is_empty() {
        return Err(MonitorError::NoCore(cfg.name.clone()));
    }
    let months = measures.months();
    let (Some(first), Some(last)) = (months.first().copied(), months.last().copied()) else {
        return Err(MonitorError::NoData);
    };
    let month = match month {
        None => last,
        Some(m @ Period::Month { .. })
            if m.first_month() >= first.first_month() && m.first_month() <= last.first_month() =>
        {
            m
        }
        Some(m) => {
            return Err(MonitorError::Month {
                month: m.to_string(),
                first: first.to_string(),
                last: last.to_string(),
            });
        }
    };
    // The forecast sees the months up to the one viewed; the report lists them all (the
    // page's month picker).
    let months_so_far: Vec<Period> = months
        .iter()
        .copied()
        .filter(|m| m.first_month() <= month.first_month())
        .collect();
    let core: Vec<(usize, &KpiDef)> = cfg
        .monitor
        .core
        .iter()
        .filter_map(|n| cfg.kpis.iter().enumerate().find(|(_, k)| &k.name == n))
        .collect();
    let ranking_name = cfg.monitor.ranking_kpi().unwrap_or_default().to_string();
    let ranking = cfg
        .kpis
        .iter()
        .position(|k| k.name == ranking_name)
        .ok_or_else(|| MonitorError::NoCore(cfg.name.clone()))?;

    // Executive: the company's core KPIs with forecasts.
    let company = report(cfg, &measures.company, Some(month))?;
    let mut ev = Evaluator::new(cfg, &measures.company);
    let mut kpis = Vec::new();
    for (i, k) in &core {
        let Some(r) = company.kpi(&k.name) else {
            continue;
        };
        let fc = forecast_kpi(k, r, &mut ev, *i, month, &months_so_far);
        let mut status = kpi_status(r, month);
        if fc.early_warning && status.status == Status::OnTrack {
            status.status = Status::Warning;
        }
        let trajectory = trajectory(r, &status.series, &fc.points);
        kpis.push(Kpi {
            status,
            trajectory,
            forecast: Some(fc),
        });
    }

    // Operational: departments ranked by the ranking KPI's change.
    let rk = &cfg.kpis[ranking];
    let ranking_lower = lower_is_better(rk);
    let mut departments = Vec::new();
    for (name, m) in &measures.departments {
        let teams: Vec<String> = measures
            .teams
            .keys()
            .filter(|(d, _)| d == name)
            .map(|(_, t)| t.clone())
            .collect();
        let (total, change) = value_and_change(cfg, m, ranking, month);
        let kpis = match report(cfg, m, Some(month)) {
            Ok(r) => core
                .iter()
                .filter_map(|(_, k)| r.kpi(&k.name))
                .filter(|r| !r.series.is_empty() || r.value.is_some())
                .map(|r| kpi_status(r, month))
                .collect(),
            Err(_) => Vec::new(),
        };
        departments.push(Department {
            name: name.clone(),
            rank: None,
            ranked_by: format!("change_vs_last_year_pct of {}", rk.name),
            kpis,
            total: total.map(|v| round(v, rk.decimals)),
            change_vs_last_year_pct: change,
            needs_improvement: false,
            teams,
        });
    }
    rank(
        &mut departments,
        |d| d.change_vs_last_year_pct,
        |d, r| d.rank = r,
        ranking_lower,
    );
    departments.sort_by(|a, b| {
        (a.rank.is_none(), a.rank, &a.name).cmp(&(b.rank.is_none(), b.rank, &b.name))
    });

    let mut improvement_areas = Vec::new();
    let n_ranked = departments.iter().filter(|d| d.rank.is_some()).count();
    let max_rank = departments.iter().filter_map(|d| d.rank).max();
    let year_before = month.prev_year();
    for d in &mut departments {
        let before = improvement_areas.len();
        for k in &d.kpis {
            let def = cfg.kpi(&k.name);
            if k.status == Status::OffTrack
                && let (Some(v), Some(t)) = (k.value, k.target_value)
                && !t.is_zero()
            {
                let gap = round((v - t) * Decimal::ONE_HUNDRED / t.abs(), 1);
                let side = if gap.is_sign_negative() {
                    "below"
                } else {
                    "above"
                };
                improvement_areas.push(ImprovementArea {
                    department: d.name.clone(),
                    kpi: k.name.clone(),
                    title: k.title.clone(),
                    reason: format!("off track: {} % {side} the trajectory", gap.abs()),
                });
            }
            let judged = def.is_some_and(|def| def.target.is_some() || def.name == rk.name);
            if judged
                && let (Some(c), Some(def)) = (k.change_vs_last_year_pct, def)
                && !c.is_zero()
                && (c.is_sign_positive() == lower_is_better(def))
            {
                let word = if c.is_sign_positive() {
                    "rising"
                } else {
                    "falling"
                };
                improvement_areas.push(ImprovementArea {
                    department: d.name.clone(),
                    kpi: k.name.clone(),
                    title: k.title.clone(),
                    reason: format!("{word}: {} against {year_before}", signed_pct(c)),
                });
            }
        }
        if n_ranked >= 2 && d.rank.is_some() && d.rank == max_rank {
            improvement_areas.push(ImprovementArea {
                department: d.name.clone(),
                kpi: rk.name.clone(),
                title: rk.title.clone(),
                reason: format!(
                    "last of {n_ranked} in the monthly ranking ({} against {year_before})",
                    d.change_vs_last_year_pct
                        .map(signed_pct)
                        .unwrap_or_default()
                ),
            });
        }
        d.needs_improvement = improvement_areas.len() > before;
    }

    let action_plans: Vec<PlanStatus> = plans
        .iter()
        .map(|p| plan_status(cfg, measures, p, month))
        .collect();

    // Field: teams per department (department order), best first.
    let mut teams = Vec::new();
    for d in &departments {
        let mut group: Vec<Team> = measures
            .teams
            .iter()
            .filter(|((dn, _), _)| *dn == d.name)
            .map(|((dn, tn), m)| {
                let (total, change) = value_and_change(cfg, m, ranking, month);
                Team {
                    department: dn.clone(),
                    name: tn.clone(),
                    total: total.map(|v| round(v, rk.decimals)),
                    change_vs_last_year_pct: change,
                    rank_in_department: None,
                    teams_in_department: 0,
                    best_practice: false,
                    incentive: Incentive::NotAvailable,
                    feedback: String::new(),
                }
            })
            .collect();
        rank(
            &mut group,
            |t| t.change_vs_last_year_pct,
            |t, r| t.rank_in_department = r,
            ranking_lower,
        );
        group.sort_by(|a, b| {
            (
                a.rank_in_department.is_none(),
                a.rank_in_department,
                &a.name,
            )
                .cmp(&(
                    b.rank_in_department.is_none(),
                    b.rank_in_department,
                    &b.name,
                ))
        });
        let n = group.len();
        for t in &mut group {
            t.teams_in_department = n;
            let improved = t
                .change_vs_last_year_pct
                .is_some_and(|c| !c.is_zero() && c.is_sign_negative() == ranking_lower);
            t.best_practice = t.rank_in_department == Some(1) && improved;
            t.incentive = match (
                cfg.monitor.incentive_reduction_pct,
                t.change_vs_last_year_pct,
            ) {
                (Some(threshold), Some(c)) => {
                    let cut = if ranking_lower { -c } else { c };
                    if cut >= threshold {
                        Incentive::Earned
                    } else {
                        Incentive::NotEarned
                    }
                }
                _ => Incentive::NotAvailable,
            };
            t.feedback = feedback(t, year_before);
        }
        teams.extend(group);
    }

    let alarms = alarms(&kpis, &improvement_areas, &action_plans);
    Ok(MonitorReport {
        framework: cfg.framework.clone(),
        title: cfg.title.clone(),
        month,
        months,
        executive: Executive { kpis, alarms },
        operational: Operational {
            departments,
            improvement_areas,
            action_plans,
        },
        field: Field { teams },
    })
}

/// Lower is better unless the KPI has a growth target (negative `reduction_pct`).
fn lower_is_better(k: &KpiDef) -> bool {
    k.target
        .as_ref()
        .is_none_or(|t| t.reduction_pct.is_sign_positive())
}

/// `+3.2 %` / `−8.2 %` (one decimal, a real minus sign).
fn signed_pct(v: Decimal) -> String {
    let r = round(v, 1);
    if r.is_sign_negative() && !r.is_zero() {
        format!("\u{2212}{} %", r.abs())
    } else {
        format!("+{} %", r.abs())
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_name(p: Period) -> String {
    match p {
        Period::Month { year, month } => format!("{} {year}", MONTHS[(month as usize - 1) % 12]),
        other => other.to_string(),
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn feedback(t: &Team, year_before: Period) -> String {
    match (t.total, t.change_vs_last_year_pct, t.rank_in_department) {
        (None, _, _) => format!("no value this month in {}", t.department),
        (Some(_), Some(c), Some(r)) => format!(
            "{} against {}: {} of {} in {}",
            signed_pct(c),
            month_name(year_before),
            ordinal(r),
            t.teams_in_department,
            t.department
        ),
        _ => format!(
            "no value for {}: not ranked in {}",
            month_name(year_before),
            t.department
        ),
    }
}

/// Standard competition ranking ("1, 2, 2, 4") by change, best first; `None` without a change.
fn rank<T>(
    items: &mut [T],
    key: impl Fn(&T) -> Option<Decimal>,
    set: impl Fn(&mut T, Option<usize>),
    lower_is_better: bool,
) {
    let mut keyed: Vec<(usize, Decimal)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, t)| key(t).map(|c| (i, if lower_is_better { c } else { -c })))
        .collect();
    keyed.sort_by_key(|k| k.1);
    let mut ranks: Vec<Option<usize>> = vec![None; items.len()];
    for (pos, (i, c)) in keyed.iter().enumerate() {
        let r = if pos > 0 && keyed[pos - 1].1 == *c {
            ranks[keyed[pos - 1].0].unwrap_or(pos + 1)
        } else {
            pos + 1
        };
        ranks[*i] = Some(r);
    }
    for (t, r) in items.iter_mut().zip(ranks) {
        set(t, r);
    }
}

/// The exact value of a KPI this month and its change in percent against the same month a
/// year before (rounded to 2 places), on one set of measures.
fn value_and_change(
    cfg: &KpiConfig,
    m: &Measures,
    kpi: usize,
    month: Period,
) -> (Option<Decimal>, Option<Decimal>) {
    let mut ev = Evaluator::new(cfg, m);
    let v = ev.value(kpi, month).ok();
    let pv = ev.value(kpi, month.prev_year()).ok();
    let change = match (v, pv) {
        (Some(v), Some(pv)) if !pv.is_zero() => (v - pv)
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|x| x.checked_div(pv.abs()))
            .map(|x| round(x, PCT_DP)),
        _ => None,
    };
    (v, change)
}

fn kpi_status(r: &KpiResult, month: Period) -> KpiStatus {
    let series: Vec<Point> = r
        .series
        .iter()
        .filter(|p| p.period.first_month() <= month.first_month())
        .map(|p| Point {
            period: p.period,
            value: p.value,
        })
        .collect();
    let prev_off = r
        .series
        .iter()
        .find(|p| p.period == month.prev())
        .and_then(|p| p.off_track);
    let status = match (r.target.is_some(), r.value, r.trajectory_value, r.off_track) {
        (true, Some(_), Some(_), Some(true)) => Status::OffTrack,
        (true, Some(_), Some(_), Some(false)) if prev_off == Some(true) => Status::Warning,
        (true, Some(_), Some(_), Some(false)) => Status::OnTrack,
        _ => Status::NoTarget,
    };
    KpiStatus {
        name: r.name.clone(),
        title: r.title.clone(),
        unit: r.unit.clone(),
        value: r.value,
        not_available: r.not_available.clone(),
        target_value: r.trajectory_value,
        achievement_pct: r.achievement_pct,
        change_vs_last_year_pct: r.change_vs_last_year_pct,
        status,
        series,
    }
}

/// The target's yearly path value for a month: `None` before the baseline year, the target
/// after the target year.
fn path_value(r: &KpiResult, p: Period) -> Option<Decimal> {
    let t = r.target.as_ref()?;
    let year = p.calendar_year().min(t.target_year);
    t.path.iter().find(|pp| pp.year == year).map(|pp| pp.value)
}

fn trajectory(r: &KpiResult, series: &[Point], forecast: &[ForecastPoint]) -> Vec<Point> {
    series
        .iter()
        .map(|p| p.period)
        .chain(forecast.iter().map(|f| f.period))
        .filter_map(|period| path_value(r, period).map(|value| Point { period, value }))
        .collect()
}

fn to_dec(v: f64, dp: u32) -> Decimal {
    Decimal::from_f64(v)
        .map(|d| round(d, dp))
        .unwrap_or_default()
}

fn forecast_kpi(
    k: &KpiDef,
    r: &KpiResult,
    ev: &mut Evaluator<'_>,
    i: usize,
    month: Period,
    months: &[Period],
) -> Forecast {
    let target_year = k.target.as_ref().map(|t| t.target_year);
    let target_value = r.target.as_ref().and_then(|t| t.target_value);
    let mut out = Forecast {
        method: None,
        months_used: 0,
        interval_pct: INTERVAL_PCT,
        points: Vec::new(),
        target_year,
        target_value,
        probability_of_target: None,
        early_warning: false,
        warning: None,
        not_available: None,
    };
    let points: Vec<(i64, f64)> = months
        .iter()
        .filter_map(|m| {
            let v = ev.value(i, *m).ok()?.to_f64()?;
            Some((m.first_month(), v))
        })
        .collect();
    out.months_used = points.len();
    let fit = match Fit::new(&points) {
        Ok(f) => f,
        Err(e) => {
            out.not_available = Some(e);
            return out;
        }
    };
    out.method = Some(format!(
        "OLS: linear trend + 11 monthly seasonal terms, n = {} months, R\u{b2} = {:.2}",
        fit.n, fit.r2
    ));
    let end_year = target_year.unwrap_or(month.calendar_year() + 1);
    let end = Period::month(end_year, 12)
        .first_month()
        .min(month.first_month() + MAX_HORIZON_MONTHS);
    let dp = k.decimals;
    for m in month.first_month() + 1..=end {
        let (y, lo, hi) = fit.predict(m);
        out.points.push(ForecastPoint {
            period: month_of(m),
            value: to_dec(y, dp),
            low: to_dec(lo, dp),
            high: to_dec(hi, dp),
        });
    }
    let lower = lower_is_better(k);
    if let (Some(year), Some(target)) = (target_year, target_value.and_then(|t| t.to_f64())) {
        let year_months: Vec<i64> = (1..=12)
            .map(|mm| Period::month(year, mm).first_month())
            .collect();
        let p = fit.probability(&year_months, target, lower);
        out.probability_of_target = Some((p * 1000.0).round() / 1000.0);
        // Early warning: the point forecast of the next 12 months leaves the trajectory.
        let left = out.points.iter().take(12).find_map(|f| {
            let traj = path_value(r, f.period)?;
            let gap = f.value - traj;
            let off = if lower {
                gap > Decimal::ZERO
            } else {
                gap < Decimal::ZERO
            };
            (off && !traj.is_zero()).then(|| (f.period, gap * Decimal::ONE_HUNDRED / traj.abs()))
        });
        if let Some((period, gap)) = left {
            out.early_warning = true;
            let side = if gap.is_sign_negative() {
                "below"
            } else {
                "above"
            };
            out.warning = Some(format!(
                "forecast leaves the trajectory from {period}: {} % {side} it",
                round(gap.abs(), 1)
            ));
        } else if p < 0.5 {
            out.early_warning = true;
            out.warning = Some(format!(
                "forecast probability of meeting the {year} target is {} %",
                (p * 100.0).round()
            ));
        }
    }
    out
}

fn month_of(index: i64) -> Period {
    let year = index.div_euclid(12) as i32;
    let month = index.rem_euclid(12) as u32 + 1;
    Period::month(year, month)
}

fn plan_status(
    cfg: &KpiConfig,
    measures: &OrgMeasures,
    p: &ActionPlan,
    month: Period,
) -> PlanStatus {
    let scope = match &p.team {
        Some(t) => measures.teams.get(&(p.department.clone(), t.clone())),
        None => measures.departments.get(&p.department),
    };
    let kpi = cfg.kpis.iter().position(|k| k.name == p.kpi);
    let mut measured = None;
    let mut n = 0;
    if let (Some(m), Some(i)) = (scope, kpi) {
        let mut ev = Evaluator::new(cfg, m);
        let last = p.due.first_month().min(month.first_month());
        let mut sum = Decimal::ZERO;
        for mi in p.start.first_month()..=last {
            let this = month_of(mi);
            if let (Ok(v), Ok(pv)) = (ev.value(i, this), ev.value(i, this.prev_year())) {
                sum += pv - v;
                n += 1;
            }
        }
        if n > 0 {
            measured = Some(round(sum, cfg.kpis[i].decimals));
        }
    }
    let progress = match measured {
        Some(m) if !p.expected_reduction.is_zero() => Some(round(
            m * Decimal::ONE_HUNDRED / p.expected_reduction,
            PCT_DP,
        )),
        _ => None,
    };
    PlanStatus {
        id: p.id.clone(),
        title: p.title.clone(),
        department: p.department.clone(),
        team: p.team.clone(),
        kpi: p.kpi.clone(),
        owner: p.owner.clone(),
        start: p.start,
        due: p.due,
        phase: p.phase,
        expected_reduction: p.expected_reduction,
        unit: p.unit.clone(),
        measured_reduction: measured,
        progress_pct: progress,
        overdue: month.first_month() > p.due.first_month() && p.phase != Phase::Done,
        months_measured: n,
    }
}

fn alarms(kpis: &[Kpi], areas: &[ImprovementArea], plans: &[PlanStatus]) -> Vec<Alarm> {
    let mut out = Vec::new();
    for k in kpis {
        let s = &k.status;
        if let Some(f) = &k.forecast {
            if let (Some(p), Some(year)) = (f.probability_of_target, f.target_year)
                && p < 0.5
            {
                out.push(Alarm {
                    severity: Severity::Critical,
                    kpi: s.name.clone(),
                    department: None,
                    message: format!(
                        "{}: forecast probability of meeting the {year} target is {} %",
                        s.title,
                        (p * 100.0).round()
                    ),
                });
            }
            if f.early_warning
                && let Some(w) = &f.warning
                && w.starts_with("forecast leaves")
            {
                out.push(Alarm {
                    severity: Severity::Warning,
                    kpi: s.name.clone(),
                    department: None,
                    message: format!("{}: {w}", s.title),
                });
            }
        }
        if s.status == Status::OffTrack
            && let (Some(v), Some(t)) = (s.value, s.target_value)
            && !t.is_zero()
        {
            let gap = round((v - t) * Decimal::ONE_HUNDRED / t.abs(), 1);
            let side = if gap.is_sign_negative() {
                "below"
            } else {
                "above"
            };
            out.push(Alarm {
                severity: Severity::Warning,
                kpi: s.name.clone(),
                department: None,
                message: format!("{}: {} % {side} the trajectory", s.title, gap.abs()),
            });
        }
    }
    for p in plans.iter().filter(|p| p.overdue) {
        out.push(Alarm {
            severity: Severity::Warning,
            kpi: p.kpi.clone(),
            department: Some(p.department.clone()),
            message: format!(
                "action plan {} ({}) is overdue: due {}, phase {}",
                p.id,
                p.title,
                p.due,
                p.phase.as_str()
            ),
        });
    }
    for a in areas {
        out.push(Alarm {
            severity: Severity::Info,
            kpi: a.kpi.clone(),
            department: Some(a.department.clone()),
            message: format!("{}: {}: {}", a.department, a.title, a.reason),
        });
    }
    out.sort_by_key(|a| a.severity);
    out
}

pub use render::Format;

impl MonitorReport {
    /// Departments by name, for tests and tables.
    pub fn department(&self, name: &str) -> Option<&Department> {
        self.operational.departments.iter().find(|d| d.name == name)
    }

    pub fn kpi(&self, name: &str) -> Option<&Kpi> {
        self.executive.kpis.iter().find(|k| k.status.name == name)
    }
}
