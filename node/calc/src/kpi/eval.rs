//! Evaluation: formulas over measures per period, targets and trajectories, grades, warnings.
//!
//! Decisions (also in `kpi/README.md`):
//! - A value that cannot be computed (missing measure, division by zero, overflow) is "not
//!   available" with a reason; it propagates through arithmetic and is never turned into 0.
//! - Trajectories are yearly steps: every month/quarter of a year is held to that year's value.
//!   `constant_rate`: `B·f^k`, `f = (1 − r)^(1/N)`; `linear`: `B·(1 − r·k/N)`; held at the
//!   target after the target year. `f` is an N-th root by Newton's method in `Decimal`
//!   (stop when a step is ≤ 1e-24, rounded to 20 decimal places).
//! - Achievement % = (baseline − actual) / (baseline − trajectory) × 100: the share of the
//!   reduction planned by this period that was actually achieved (100 = exactly on the path).
//! - A period is off track when the actual is on the wrong side of its trajectory value
//!   (above it for a reduction). Early warning: the period and the one before are both off track.
//! - Reported values are rounded by [`tanso_model::rounding::round`] (half away from zero, the one
//!   rule of every reported figure) to the KPI's `decimals` (percentages the engine derives to
//!   2 places); grades are read from the rounded value that is shown.

use std::collections::HashMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::Serialize;

use crate::kpi::KpiError;
use crate::kpi::config::{
    AVOIDED_SECTION, Aggregate, KpiConfig, KpiDef, PCT_DP, TargetDef, TrajectoryKind,
};
use crate::kpi::expr::{Expr, Func, Op, Target};
use crate::kpi::measures::Measures;
use crate::kpi::period::{Granularity, MonthIndex, Period};
use tanso_model::rounding::round;

/// Decimal places kept for roots (constant-rate factors, fractional powers).
const ROOT_DP: u32 = 20;

/// Why a value is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Na {
    Missing(String),
    DivByZero,
    Overflow,
    Domain(String),
}

impl Na {
    fn text(&self) -> String {
        match self {
            Na::Missing(m) => format!("no value for `{m}`"),
            Na::DivByZero => "division by zero".into(),
            Na::Overflow => "arithmetic overflow".into(),
            Na::Domain(m) => m.clone(),
        }
    }
}

type Val = Result<Decimal, Na>;

/// `x^n` for an integer `n` by repeated squaring (exact up to Decimal's 28 significant digits).
fn int_pow(x: Decimal, n: i64) -> Val {
    if n < 0 {
        let d = int_pow(x, -n)?;
        if d.is_zero() {
            return Err(Na::DivByZero);
        }
        return Decimal::ONE.checked_div(d).ok_or(Na::Overflow);
    }
    let (mut base, mut e, mut acc) = (x, n as u64, Decimal::ONE);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.checked_mul(base).ok_or(Na::Overflow)?;
        }
        e >>= 1;
        if e > 0 {
            base = base.checked_mul(base).ok_or(Na::Overflow)?;
        }
    }
    Ok(acc)
}

/// The positive `n`-th root of `a ≥ 0` by Newton's method in `Decimal`
/// (`x ← ((n−1)·x + a/x^(n−1)) / n`, seeded from `f64`), stopping when a step is ≤ 1e-24 and
/// rounded to 20 decimal places. `None` for a negative `a`, `n = 0` or overflow.
pub fn nth_root(a: Decimal, n: u32) -> Option<Decimal> {
    if n == 0 || a.is_sign_negative() && !a.is_zero() {
        return None;
    }
    if n == 1 || a.is_zero() || a == Decimal::ONE {
        return Some(a);
    }
    let seed = a.to_f64()?.powf(1.0 / f64::from(n));
    let mut x = Decimal::from_f64(seed)
        .filter(|x| x.is_sign_positive() && !x.is_zero())
        .unwrap_or(Decimal::ONE);
    let nd = Decimal::from(n);
    let tol = Decimal::new(1, 24);
    for _ in 0..200 {
        let xn1 = int_pow(x, i64::from(n) - 1).ok()?;
        if xn1.is_zero() {
            return None;
        }
        let next = (nd - Decimal::ONE)
            .checked_mul(x)?
            .checked_add(a.checked_div(xn1)?)?
            .checked_div(nd)?;
        let step = (next - x).abs();
        x = next;
        if step <= tol {
            break;
        }
    }
    Some(round(x, ROOT_DP))
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `x^y`: exact for integer `y`; for a fractional `y = p/q` (from its decimal digits),
/// `nth_root(x, q)^p`, so `pow(0.5, 0.1)` is the tenth root of 0.5.
fn pow_dec(x: Decimal, y: Decimal) -> Val {
    let y = y.normalize();
    if y.fract().is_zero() {
        let n = y.to_i64().ok_or(Na::Overflow)?;
        return int_pow(x, n);
    }
    if x.is_sign_negative() || x.is_zero() {
        return Err(Na::Domain(
            "pow of a non-positive number to a fractional power".into(),
        ));
    }
    let mant = y.mantissa();
    let den = 10u128.pow(y.scale());
    let g = gcd(mant.unsigned_abs(), den);
    let q = den / g;
    let p = mant / g as i128;
    if q > 10_000 {
        return Err(Na::Domain(format!(
            "pow exponent {y} is too fine (root of order {q})"
        )));
    }
    let r = nth_root(x, q as u32).ok_or(Na::Overflow)?;
    int_pow(r, i64::try_from(p).map_err(|_| Na::Overflow)?)
}

struct Ctx<'a> {
    cfg: &'a KpiConfig,
    m: &'a Measures,
    aggs: HashMap<&'a str, Aggregate>,
    cache: HashMap<(usize, Period), Val>,
}

impl<'a> Ctx<'a> {
    fn new(cfg: &'a KpiConfig, m: &'a Measures) -> Self {
        let aggs = cfg
            .measures
            .iter()
            .map(|x| (x.name.as_str(), x.aggregate))
            .collect();
        Ctx {
            cfg,
            m,
            aggs,
            cache: HashMap::new(),
        }
    }

    fn kpi(&mut self, i: usize, p: Period) -> Val {
        if let Some(v) = self.cache.get(&(i, p)) {
            return v.clone();
        }
        let cfg = self.cfg;
        let v = self.eval(&cfg.kpis[i].expr, p);
        self.cache.insert((i, p), v.clone());
        v
    }

    fn eval(&mut self, e: &'a Expr, p: Period) -> Val {
        match e {
            Expr::Num(n) => Ok(*n),
            Expr::Ref { name, target, .. } => match target {
                Target::Constant(v) => Ok(*v),
                Target::Kpi(j) => self.kpi(*j, p),
                Target::Measure => {
                    let agg = self.aggs.get(name.as_str()).copied().unwrap_or_default();
                    self.m
                        .value(name, p, agg)
                        .ok_or_else(|| Na::Missing(name.clone()))
                }
                Target::Unresolved => Err(Na::Missing(name.clone())),
            },
            Expr::Neg(a) => Ok(-self.eval(a, p)?),
            Expr::Bin(op, a, b) => {
                let x = self.eval(a, p)?;
                let y = self.eval(b, p)?;
                match op {
                    Op::Add => x.checked_add(y).ok_or(Na::Overflow),
                    Op::Sub => x.checked_sub(y).ok_or(Na::Overflow),
                    Op::Mul => x.checked_mul(y).ok_or(Na::Overflow),
                    Op::Div if y.is_zero() => Err(Na::DivByZero),
                    Op::Div => x.checked_div(y).ok_or(Na::Overflow),
                }
            }
            Expr::Call(func, args) => self.call(*func, args, p),
        }
    }

    fn call(&mut self, func: Func, args: &'a [Expr], p: Period) -> Val {
        match func {
            Func::Sum | Func::Avg => {
                let mut vals = Vec::new();
                let mut first_err = None;
                for mp in p.months() {
                    match self.eval(&args[0], mp) {
                        Ok(v) => vals.push(v),
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    }
                }
                if vals.is_empty() {
                    return Err(first_err.unwrap_or(Na::Domain("empty period".into())));
                }
                let total = vals
                    .iter()
                    .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))
                    .ok_or(Na::Overflow)?;
                if func == Func::Sum {
                    Ok(total)
                } else {
                    total
                        .checked_div(Decimal::from(vals.len()))
                        .ok_or(Na::Overflow)
                }
            }
            Func::PrevYear => self.eval(&args[0], p.prev_year()),
            Func::Min | Func::Max => {
                let mut best: Option<Decimal> = None;
                for a in args {
                    let v = self.eval(a, p)?;
                    best = Some(match best {
                        None => v,
                        Some(b) if func == Func::Min => b.min(v),
                        Some(b) => b.max(v),
                    });
                }
                best.ok_or(Na::Domain("no arguments".into()))
            }
            Func::Pow => {
                let x = self.eval(&args[0], p)?;
                let y = self.eval(&args[1], p)?;
                pow_dec(x, y)
            }
            Func::Abs => Ok(self.eval(&args[0], p)?.abs()),
        }
    }

    /// Baseline for a target: the configured value, the KPI at the baseline period, or for a
    /// finer KPI with a baseline year, the mean of the KPI over that year's periods with a value.
    fn baseline(&mut self, i: usize, t: &TargetDef) -> Val {
        if let Some(v) = t.baseline_value {
            return Ok(v);
        }
        let g = self.cfg.kpis[i].period;
        let bp = t.baseline_period;
        if bp.granularity() == g {
            return self.kpi(i, bp);
        }
        let mut vals = Vec::new();
        let mut first_err = None;
        for p in periods_between(g, bp.first_month(), bp.last_month()) {
            match self.kpi(i, p) {
                Ok(v) => vals.push(v),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if vals.is_empty() {
            return Err(first_err.unwrap_or(Na::Missing(self.cfg.kpis[i].name.clone())));
        }
        let total = vals
            .iter()
            .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))
            .ok_or(Na::Overflow)?;
        total
            .checked_div(Decimal::from(vals.len()))
            .ok_or(Na::Overflow)
    }
}

/// Exact KPI values (not rounded) over one set of measures, cached: what the monitor's
/// statistics, rankings and action-plan sums are computed from.
pub struct Evaluator<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Evaluator<'a> {
    pub fn new(cfg: &'a KpiConfig, measures: &'a Measures) -> Self {
        Evaluator {
            ctx: Ctx::new(cfg, measures),
        }
    }

    /// The exact value of the `kpi`-th KPI of the config for `period`, or why there is none.
    pub fn value(&mut self, kpi: usize, period: Period) -> Result<Decimal, String> {
        self.ctx.kpi(kpi, period).map_err(|e| e.text())
    }
}

/// Periods of granularity `g` touching months `lo..=hi`, in order.
fn periods_between(g: Granularity, lo: MonthIndex, hi: MonthIndex) -> Vec<Period> {
    let mut out = Vec::new();
    let mut m = lo;
    while m <= hi {
        let p = Period::containing(g, m);
        m = p.last_month() + 1;
        out.push(p);
    }
    out
}

/// The planned path from a baseline to a target.
struct Plan {
    baseline: Decimal,
    target_value: Decimal,
    base_year: i32,
    target_year: i32,
    kind: TrajectoryKind,
    /// Yearly multiplier for `constant_rate`.
    factor: Decimal,
    reduction: Decimal,
}

impl Plan {
    fn new(t: &TargetDef, baseline: Decimal) -> Result<Plan, Na> {
        let reduction = t.reduction_pct / Decimal::ONE_HUNDRED;
        let years = (t.target_year - t.baseline_period.calendar_year()) as u32;
        let factor = match t.trajectory {
            TrajectoryKind::ConstantRate => {
                nth_root(Decimal::ONE - reduction, years).ok_or(Na::Overflow)?
            }
            TrajectoryKind::Linear => Decimal::ONE,
        };
        Ok(Plan {
            baseline,
            target_value: baseline
                .checked_mul(Decimal::ONE - reduction)
                .ok_or(Na::Overflow)?,
            base_year: t.baseline_period.calendar_year(),
            target_year: t.target_year,
            kind: t.trajectory,
            factor,
            reduction,
        })
    }

    /// Percent per year: the constant cut rate, or for linear the cut in percent of the baseline.
    fn annual_rate_pct(&self) -> Decimal {
        match self.kind {
            TrajectoryKind::ConstantRate => (Decimal::ONE - self.factor) * Decimal::ONE_HUNDRED,
            TrajectoryKind::Linear => {
                self.reduction * Decimal::ONE_HUNDRED
                    / Decimal::from(self.target_year - self.base_year)
            }
        }
    }

    /// Trajectory value for a calendar year; `None` before the baseline year.
    fn at(&self, year: i32) -> Option<Decimal> {
        if year < self.base_year {
            return None;
        }
        if year >= self.target_year {
            return Some(self.target_value);
        }
        let k = year - self.base_year;
        match self.kind {
            TrajectoryKind::ConstantRate => self
                .baseline
                .checked_mul(int_pow(self.factor, i64::from(k)).ok()?),
            TrajectoryKind::Linear => {
                let n = Decimal::from(self.target_year - self.base_year);
                let cut = self
                    .reduction
                    .checked_mul(Decimal::from(k))?
                    .checked_div(n)?;
                self.baseline.checked_mul(Decimal::ONE - cut)
            }
        }
    }

    /// The trajectory of every year from the baseline year to the target year, rounded to `dp`.
    fn path(&self, dp: u32) -> Vec<PathPoint> {
        (self.base_year..=self.target_year)
            .filter_map(|year| {
                self.at(year).map(|v| PathPoint {
                    year,
                    value: round(v, dp),
                })
            })
            .collect()
    }

    /// (trajectory, achievement %, progress to final target %, off track) for an actual value.
    fn assess(
        &self,
        year: i32,
        actual: Decimal,
    ) -> (
        Option<Decimal>,
        Option<Decimal>,
        Option<Decimal>,
        Option<bool>,
    ) {
        let Some(traj) = self.at(year) else {
            return (None, None, None, None);
        };
        let done = self.baseline - actual;
        let pct = |planned: Decimal| {
            if planned.is_zero() {
                None
            } else {
                done.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(planned)
            }
        };
        let achievement = pct(self.baseline - traj);
        let progress = pct(self.baseline - self.target_value);
        let direction = self.baseline - self.target_value;
        // off track = on the far side of the path from the target (above it for a reduction)
        let gap = actual - traj;
        let off = if direction.is_sign_positive() {
            gap > Decimal::ZERO
        } else {
            gap < Decimal::ZERO
        };
        (Some(traj), achievement, progress, Some(off))
    }
}

/// Decimals go to JSON as strings with their reported scale ("71000.0"), whatever serde
/// features other crates switch on for `rust_decimal`, so dashboards get exact values.
pub(crate) fn dec<S: serde::Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub(crate) fn dec_opt<S: serde::Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// One point of a KPI's history, for trend charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub period: Period,
    #[serde(serialize_with = "dec")]
    pub value: Decimal,
    #[serde(serialize_with = "dec_opt")]
    pub trajectory: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub achievement_pct: Option<Decimal>,
    pub off_track: Option<bool>,
    pub grade: Option<String>,
}

/// The planned value of one calendar year on a target's path (every month and quarter of the
/// year is held to it), rounded like the KPI's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathPoint {
    pub year: i32,
    #[serde(serialize_with = "dec")]
    pub value: Decimal,
}

/// The target as configured and as resolved against the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSummary {
    pub baseline_period: Period,
    #[serde(serialize_with = "dec_opt")]
    pub baseline_value: Option<Decimal>,
    pub target_year: i32,
    #[serde(serialize_with = "dec_opt")]
    pub target_value: Option<Decimal>,
    #[serde(serialize_with = "dec")]
    pub reduction_pct: Decimal,
    pub trajectory: TrajectoryKind,
    /// `constant_rate`: the yearly cut; `linear`: the yearly cut in percent of the baseline.
    #[serde(serialize_with = "dec_opt")]
    pub annual_rate_pct: Option<Decimal>,
    /// Why the baseline could not be computed, if it could not.
    pub not_available: Option<String>,
    /// The trajectory year by year, from the baseline year to the target year (empty when the
    /// baseline is not available), so a chart draws the engine's path rather than its own.
    pub path: Vec<PathPoint>,
}

/// One KPI evaluated for the report period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiResult {
    pub name: String,
    pub title: String,
    pub unit: String,
    pub section: String,
    pub period: Period,
    #[serde(serialize_with = "dec_opt")]
    pub value: Option<Decimal>,
    pub not_available: Option<String>,
    pub grade: Option<String>,
    pub target: Option<TargetSummary>,
    #[serde(serialize_with = "dec_opt")]
    pub trajectory_value: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub achievement_pct: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub target_progress_pct: Option<Decimal>,
    pub off_track: Option<bool>,
    pub warning: Option<String>,
    #[serde(serialize_with = "dec_opt")]
    pub prev_year_value: Option<Decimal>,
    #[serde(serialize_with = "dec_opt")]
    pub change_vs_last_year_pct: Option<Decimal>,
    pub formula: String,
    pub series: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionReport {
    pub name: String,
    pub note: Option<String>,
    pub kpis: Vec<KpiResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    pub framework: String,
    pub title: String,
    pub config: String,
    pub period: Period,
    pub sections: Vec<SectionReport>,
}

impl KpiReport {
    pub fn kpi(&self, name: &str) -> Option<&KpiResult> {
        self.sections
            .iter()
            .flat_map(|s| &s.kpis)
            .find(|k| k.name == name)
    }
}

fn grade_of(k: &KpiDef, v: Decimal) -> Option<String> {
    k.grades
        .iter()
        .find(|g| match (g.min, g.max) {
            (Some(min), _) => v >= min,
            (_, Some(max)) => v <= max,
            _ => true,
        })
        .map(|g| g.grade.clone())
}

/// Evaluates every KPI of `cfg` for `period` (each KPI at its own granularity: the period of that
/// granularity containing the last month of `period` that has data). `None` reports the latest
/// month with data. Series run from the first month with data.
pub fn report(
    cfg: &KpiConfig,
    measures: &Measures,
    period: Option<Period>,
) -> Result<KpiReport, KpiError> {
    let (lo, hi) = measures.month_range().ok_or(KpiError::NoData)?;
    let end = match period {
        None => hi,
        Some(p) => hi.clamp(p.first_month(), p.last_month()),
    };
    let report_period = period.unwrap_or_else(|| Period::containing(Granularity::Month, end));
    let mut ctx = Ctx::new(cfg, measures);

    let mut results: Vec<KpiResult> = Vec::new();
    for (i, k) in cfg.kpis.iter().enumerate() {
        let dp = k.decimals;
        let anchor = Period::containing(k.period, end);

        let (plan, target) = match &k.target {
            None => (None, None),
            Some(t) => {
                let base = ctx.baseline(i, t);
                let plan = base.clone().and_then(|b| Plan::new(t, b));
                let summary = TargetSummary {
                    baseline_period: t.baseline_period,
                    baseline_value: base.as_ref().ok().map(|b| round(*b, dp)),
                    target_year: t.target_year,
                    target_value: plan.as_ref().ok().map(|p| round(p.target_value, dp)),
                    reduction_pct: t.reduction_pct,
                    trajectory: t.trajectory,
                    annual_rate_pct: plan
                        .as_ref()
                        .ok()
                        .map(|p| round(p.annual_rate_pct(), PCT_DP)),
                    not_available: plan
                        .as_ref()
                        .err()
                        .map(|e| format!("baseline: {}", e.text())),
                    path: plan.as_ref().map(|p| p.path(dp)).unwrap_or_default(),
                };
                (plan.ok(), Some(summary))
            }
        };

        let point = |ctx: &mut Ctx<'_>, p: Period| -> (Val, Option<SeriesPoint>) {
            let v = ctx.kpi(i, p);
            let sp = v.as_ref().ok().map(|v| {
                let (traj, ach, _, off) = plan
                    .as_ref()
                    .map(|pl| pl.assess(p.calendar_year(), *v))
                    .unwrap_or_default();
                let shown = round(*v, dp);
                SeriesPoint {
                    period: p,
                    value: shown,
                    trajectory: traj.map(|t| round(t, dp)),
                    achievement_pct: ach.map(|a| round(a, PCT_DP)),
                    off_track: off,
                    grade: grade_of(k, shown),
                }
            });
            (v, sp)
        };

        let series: Vec<SeriesPoint> = periods_between(k.period, lo, anchor.last_month())
            .into_iter()
            .filter_map(|p| point(&mut ctx, p).1)
            .collect();
        let (cur, cur_point) = point(&mut ctx, anchor);
        let (_, prev_point) = point(&mut ctx, anchor.prev());

        let exact = cur.as_ref().ok().copied();
        let (_, _, progress, _) = match (&plan, exact) {
            (Some(pl), Some(v)) => pl.assess(anchor.calendar_year(), v),
            _ => (None, None, None, None),
        };
        let off_track = cur_point.as_ref().and_then(|p| p.off_track);
        let prev_off = prev_point.as_ref().and_then(|p| p.off_track);
        let warning = (off_track == Some(true) && prev_off == Some(true)).then(|| {
            format!(
                "{} and {} both missed the trajectory: the trend is not on track for the {} target",
                anchor.prev(),
                anchor,
                k.target.as_ref().map(|t| t.target_year).unwrap_or_default()
            )
        });

        let prev_year = ctx.kpi(i, anchor.prev_year()).ok();
        let change = match (exact, prev_year) {
            (Some(v), Some(pv)) if !pv.is_zero() => (v - pv)
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|x| x.checked_div(pv.abs()))
                .map(|x| round(x, PCT_DP)),
            _ => None,
        };

        results.push(KpiResult {
            name: k.name.clone(),
            title: k.title.clone(),
            unit: k.unit.clone(),
            section: k.section.clone(),
            period: anchor,
            value: cur_point.as_ref().map(|p| p.value),
            not_available: cur.as_ref().err().map(Na::text),
            grade: cur_point.as_ref().and_then(|p| p.grade.clone()),
            target,
            trajectory_value: cur_point.as_ref().and_then(|p| p.trajectory),
            achievement_pct: cur_point.as_ref().and_then(|p| p.achievement_pct),
            target_progress_pct: progress.map(|x| round(x, PCT_DP)),
            off_track,
            warning,
            prev_year_value: prev_year.map(|v| round(v, dp)),
            change_vs_last_year_pct: change,
            formula: k.formula.clone(),
            series,
        });
    }

    let sections = cfg
        .sections()
        .into_iter()
        .map(|s| SectionReport {
            name: s.to_string(),
            note: (s == AVOIDED_SECTION)
                .then(|| "avoided emissions: reported outside the scope 1-3 inventory and never subtracted from it".to_string()),
            kpis: results.iter().filter(|r| r.section == s).cloned().collect(),
        })
        .collect();

    Ok(KpiReport {
        framework: cfg.framework.clone(),
        title: cfg.title.clone(),
        config: cfg.name.clone(),
        period: report_period,
        sections,
    })
}
