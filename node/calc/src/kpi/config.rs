//! KPI framework configuration: TOML in, a validated [`KpiConfig`] with parsed and resolved formulas out.
//!
//! Everything a framework needs (measures, constants, KPIs, targets, grades, weights) comes from the
//! config so that no framework is hard-coded; all checks that can be done without data happen here.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::kpi::KpiError;
use crate::kpi::expr::{self, Expr, Target as RefTarget};
use crate::kpi::period::{Granularity, Period};

/// The section whose KPIs must never depend on avoided emissions (GHG Protocol: avoided
/// emissions are reported separately and never netted against Scope 1–3).
pub const INVENTORY_SECTION: &str = "inventory";
/// The section avoided-emission KPIs live in.
pub const AVOIDED_SECTION: &str = "avoided";

/// Decimal places used for percentages the engine derives (achievement, change, rates).
pub(crate) const PCT_DP: u32 = 2;

/// Most core KPIs an executive view shows (the KPI guide, seed 000: "핵심 KPI 5개", five core KPIs).
pub const MAX_CORE_KPIS: usize = 5;

/// How a measure rolls up from months into quarters and years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Flows (emissions, t·km, revenue): add the sub-periods.
    #[default]
    Sum,
    /// Stocks (fleet size, active partners): the latest sub-period with a value.
    Last,
    /// Levels (prices, wages): the mean of the sub-periods with a value.
    Avg,
}

/// The shape of the planned path from the baseline to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrajectoryKind {
    /// The same relative cut every year: `B·f^k` with `f = (1 − r)^(1/N)`.
    ConstantRate,
    /// The same absolute cut every year: `B·(1 − r·k/N)`.
    Linear,
}

#[derive(Debug, Clone)]
pub struct Constant {
    pub name: String,
    pub value: Decimal,
    pub unit: String,
    pub source: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Measure {
    pub name: String,
    pub unit: String,
    pub aggregate: Aggregate,
    /// Avoided emissions (outside the inventory); inventory KPIs may not use it.
    pub avoided: bool,
    /// Allowed range of a value, inclusive (`min = 0` for quantities that cannot be
    /// negative: kg collected, staff, km); a measures CSV value outside it is refused.
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub description: Option<String>,
}

impl Measure {
    /// Why `value` is outside the declared range (`is below the minimum 0`), if it is.
    pub fn out_of_range(&self, value: Decimal) -> Option<String> {
        if let Some(min) = self.min
            && value < min
        {
            return Some(format!("is below the minimum {min}"));
        }
        if let Some(max) = self.max
            && value > max
        {
            return Some(format!("is above the maximum {max}"));
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct TargetDef {
    /// A year, or a period of the KPI's own granularity.
    pub baseline_period: Period,
    /// Fixed baseline in the KPI's unit per KPI period; when absent the KPI is evaluated at the baseline period.
    pub baseline_value: Option<Decimal>,
    pub target_year: i32,
    /// Percent cut from baseline to target (negative for a growth target).
    pub reduction_pct: Decimal,
    pub trajectory: TrajectoryKind,
}

/// One grade band; `min`/`max` are inclusive, neither means "everything else".
#[derive(Debug, Clone)]
pub struct Grade {
    pub grade: String,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct KpiDef {
    pub name: String,
    pub title: String,
    pub unit: String,
    pub period: Granularity,
    pub section: String,
    /// Formula text as written (for `weighted` KPIs, the equivalent formula).
    pub formula: String,
    /// Decimal places for reported values.
    pub decimals: u32,
    pub target: Option<TargetDef>,
    pub grades: Vec<Grade>,
    /// Components of a `weighted` KPI, in config order.
    pub weights: Vec<(String, Decimal)>,
    pub description: Option<String>,
    pub source: Option<String>,
    pub(crate) expr: Expr,
}

/// `[monitor]`: what the monitoring views (`tanso_calc::monitor`) show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorConfig {
    /// The executive view's core KPIs, in this order (monthly KPIs, at most [`MAX_CORE_KPIS`]).
    pub core: Vec<String>,
    /// The KPI departments and teams are ranked by (its change against the same month a year
    /// before); absent: the first core KPI.
    pub ranking: Option<String>,
    /// A team earns the incentive when its ranking KPI fell by at least this many percent
    /// against the same month a year before; absent: no incentive scheme.
    pub incentive_reduction_pct: Option<Decimal>,
}

impl MonitorConfig {
    /// The KPI departments and teams are ranked by.
    pub fn ranking_kpi(&self) -> Option<&str> {
        self.ranking
            .as_deref()
            .or(self.core.first().map(String::as_str))
    }
}

#[derive(Debug, Clone)]
pub struct KpiConfig {
    /// File name the config was loaded from (used in messages).
    pub name: String,
    pub framework: String,
    pub title: String,
    pub source: Option<String>,
    pub description: Option<String>,
    pub constants: Vec<Constant>,
    pub measures: Vec<Measure>,
    pub kpis: Vec<KpiDef>,
    /// `[monitor]` (empty when the framework has none).
    pub monitor: MonitorConfig,
}

impl KpiConfig {
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    pub fn kpi(&self, name: &str) -> Option<&KpiDef> {
        self.kpis.iter().find(|k| k.name == name)
    }

    /// Section names in order of first appearance, so reports follow the config's layout.
    pub fn sections(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for k in &self.kpis {
            if !out.contains(&k.section.as_str()) {
                out.push(&k.section);
            }
        }
        out
    }
}

/// A TOML number or string read as an exact decimal. Floats go through their shortest
/// round-trip text, so `2.75` in the file is exactly 2.75 here; strings allow any precision.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Num {
    fn to_decimal(&self) -> Result<Decimal, String> {
        let text = match self {
            Num::Int(i) => return Ok(Decimal::from(*i)),
            Num::Float(f) => f.to_string(),
            Num::Str(s) => s.trim().replace('_', ""),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| format!("`{text}` is not a decimal number"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    framework: RawFramework,
    #[serde(default)]
    constants: Vec<RawConstant>,
    #[serde(default)]
    measures: Vec<RawMeasure>,
    #[serde(default)]
    kpis: Vec<RawKpi>,
    monitor: Option<RawMonitor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    #[serde(default)]
    core: Vec<String>,
    ranking: Option<String>,
    incentive_reduction_pct: Option<Num>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    name: String,
    title: Option<String>,
    source: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConstant {
    name: String,
    value: Num,
    unit: String,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    name: String,
    unit: String,
    #[serde(default)]
    aggregate: Aggregate,
    #[serde(default)]
    avoided: bool,
    min: Option<Num>,
    max: Option<Num>,
    description: Option<String>,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    #[default]
    Formula,
    Weighted,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    name: String,
    title: Option<String>,
    unit: String,
    period: Granularity,
    section: Option<String>,
    #[serde(default)]
    kind: RawKind,
    formula: Option<String>,
    #[serde(default)]
    components: Vec<RawComponent>,
    decimals: Option<u32>,
    target: Option<RawTarget>,
    #[serde(default)]
    grades: Vec<RawGrade>,
    description: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    kpi: String,
    weight: Num,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    baseline_period: String,
    baseline_value: Option<Num>,
    target_year: i32,
    reduction_pct: Num,
    trajectory: TrajectoryKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    grade: String,
    min: Option<Num>,
    max: Option<Num>,
}

const RESERVED: &[&str] = &["sum", "avg", "prev_year", "min", "max", "pow", "abs"];

fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses and validates a KPI framework config. `name` is the file name used in error messages.
pub fn load_config(src: &str, name: &str) -> Result<KpiConfig, KpiError> {
    let cfg_err = |msg: String| KpiError::Config {
        config: name.to_string(),
        msg,
    };
    let raw: RawConfig = toml::from_str(src).map_err(|e| KpiError::Toml {
        config: name.to_string(),
        msg: e.to_string().trim_end().to_string(),
    })?;

    let mut seen: HashSet<String> = HashSet::new();
    let mut claim = |n: &str, what: &str| -> Result<(), KpiError> {
        if !is_name(n) {
            return Err(cfg_err(format!(
                "{what} name `{n}` must match [A-Za-z_][A-Za-z0-9_]*"
            )));
        }
        if RESERVED.contains(&n) {
            return Err(cfg_err(format!("{what} name `{n}` is a function name")));
        }
        if !seen.insert(n.to_string()) {
            return Err(cfg_err(format!("duplicate name `{n}`")));
        }
        Ok(())
    };

    let mut constants = Vec::new();
    for c in raw.constants {
        claim(&c.name, "constant")?;
        let value = c
            .value
            .to_decimal()
            .map_err(|m| cfg_err(format!("constant `{}`: {m}", c.name)))?;
        constants.push(Constant {
            name: c.name,
            value,
            unit: c.unit,
            source: c.source,
        });
    }
    let mut measures = Vec::new();
    for m in raw.measures {
        claim(&m.name, "measure")?;
        let bound = |b: Option<Num>, key: &str| {
            b.map(|v| v.to_decimal())
                .transpose()
                .map_err(|e| cfg_err(format!("measure `{}`: {key}: {e}", m.name)))
        };
        let (min, max) = (bound(m.min, "min")?, bound(m.max, "max")?);
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            return Err(cfg_err(format!(
                "measure `{}`: min {lo} is above max {hi}",
                m.name
            )));
        }
        measures.push(Measure {
            name: m.name,
            unit: m.unit,
            aggregate: m.aggregate,
            avoided: m.avoided,
            min,
            max,
            description: m.description,
        });
    }
    for k in &raw.kpis {
        claim(&k.name, "kpi")?;
    }
    if raw.kpis.is_empty() {
        return Err(cfg_err("no kpis defined".into()));
    }
    let kpi_index: HashMap<String, usize> = raw
        .kpis
        .iter()
        .enumerate()
        .map(|(i, k)| (k.name.clone(), i))
        .collect();

    let mut kpis = Vec::new();
    for (i, k) in raw.kpis.into_iter().enumerate() {
        let kerr = |msg: String| cfg_err(format!("kpi `{}`: {msg}", k.name));
        let (formula, weights) = match k.kind {
            RawKind::Formula => {
                if !k.components.is_empty() {
                    return Err(kerr("`components` needs kind = \"weighted\"".into()));
                }
                let f = k
                    .formula
                    .clone()
                    .ok_or_else(|| kerr("missing `formula`".into()))?;
                (f, Vec::new())
            }
            RawKind::Weighted => {
                if k.formula.is_some() {
                    return Err(kerr(
                        "a weighted kpi takes `components`, not `formula`".into(),
                    ));
                }
                if k.components.is_empty() {
                    return Err(kerr("a weighted kpi needs `components`".into()));
                }
                let mut weights = Vec::new();
                for c in &k.components {
                    let w = c
                        .weight
                        .to_decimal()
                        .map_err(|m| kerr(format!("weight of `{}`: {m}", c.kpi)))?;
                    if w.is_sign_negative() {
                        return Err(kerr(format!("weight of `{}` is negative", c.kpi)));
                    }
                    if !kpi_index.contains_key(&c.kpi) {
                        return Err(kerr(format!("component `{}` is not a kpi", c.kpi)));
                    }
                    weights.push((c.kpi.clone(), w));
                }
                let total: Decimal = weights.iter().map(|(_, w)| *w).sum();
                if total != Decimal::ONE {
                    return Err(kerr(format!("weights add up to {total}, not 1")));
                }
                let text = weights
                    .iter()
                    .map(|(n, w)| format!("{w} * {n}"))
                    .collect::<Vec<_>>()
                    .join(" + ");
                (text, weights)
            }
        };

        let ferr = |pos: usize, msg: String| KpiError::Formula {
            config: name.to_string(),
            kpi: k.name.clone(),
            formula: formula.clone(),
            pos,
            msg,
        };
        let mut expr = expr::parse(&formula).map_err(|e| ferr(e.pos, e.msg))?;
        let mut bad: Option<KpiError> = None;
        expr.refs_mut(&mut |r, pos, target| {
            if bad.is_some() {
                return;
            }
            if let Some(c) = constants.iter().find(|c| c.name == r) {
                *target = RefTarget::Constant(c.value);
            } else if measures.iter().any(|m| m.name == r) {
                *target = RefTarget::Measure;
            } else if let Some(&j) = kpi_index.get(r) {
                if j == i {
                    bad = Some(ferr(pos, format!("kpi `{r}` refers to itself")));
                } else {
                    *target = RefTarget::Kpi(j);
                }
            } else {
                bad = Some(ferr(
                    pos,
                    format!("unknown measure `{r}` (declare it under [[measures]])"),
                ));
            }
        });
        if let Some(e) = bad {
            return Err(e);
        }

        let target = match k.target {
            None => None,
            Some(t) => {
                let bp: Period = t
                    .baseline_period
                    .parse()
                    .map_err(|_| kerr(format!("bad baseline_period `{}`", t.baseline_period)))?;
                if bp.granularity() != Granularity::Year && bp.granularity() != k.period {
                    return Err(kerr(
                        "baseline_period must be a year or a period of the kpi's own granularity"
                            .into(),
                    ));
                }
                if t.target_year <= bp.calendar_year() {
                    return Err(kerr("target_year must be after the baseline year".into()));
                }
                let reduction_pct = t
                    .reduction_pct
                    .to_decimal()
                    .map_err(|m| kerr(format!("reduction_pct: {m}")))?;
                if reduction_pct >= Decimal::ONE_HUNDRED || reduction_pct.is_zero() {
                    return Err(kerr("reduction_pct must be non-zero and below 100".into()));
                }
                let baseline_value = t
                    .baseline_value
                    .map(|v| v.to_decimal())
                    .transpose()
                    .map_err(|m| kerr(format!("baseline_value: {m}")))?;
                Some(TargetDef {
                    baseline_period: bp,
                    baseline_value,
                    target_year: t.target_year,
                    reduction_pct,
                    trajectory: t.trajectory,
                })
            }
        };

        let mut grades = Vec::new();
        let n = k.grades.len();
        for (gi, g) in k.grades.into_iter().enumerate() {
            let min = g
                .min
                .map(|v| v.to_decimal())
                .transpose()
                .map_err(|m| kerr(format!("grade `{}`: {m}", g.grade)))?;
            let max = g
                .max
                .map(|v| v.to_decimal())
                .transpose()
                .map_err(|m| kerr(format!("grade `{}`: {m}", g.grade)))?;
            if min.is_some() && max.is_some() {
                return Err(kerr(format!("grade `{}` has both min and max", g.grade)));
            }
            if min.is_none() && max.is_none() && gi + 1 != n {
                return Err(kerr(format!(
                    "catch-all grade `{}` must come last",
                    g.grade
                )));
            }
            grades.push(Grade {
                grade: g.grade,
                min,
                max,
            });
        }

        kpis.push(KpiDef {
            title: k.title.unwrap_or_else(|| k.name.clone()),
            name: k.name,
            unit: k.unit,
            period: k.period,
            section: k.section.unwrap_or_else(|| INVENTORY_SECTION.to_string()),
            formula,
            decimals: k.decimals.unwrap_or(2),
            target,
            grades,
            weights,
            description: k.description,
            source: k.source,
            expr,
        });
    }

    check_cycles(&kpis).map_err(cfg_err)?;
    check_avoided(&kpis, &measures).map_err(cfg_err)?;
    let monitor = match raw.monitor {
        None => MonitorConfig::default(),
        Some(m) => monitor_config(m, &kpis).map_err(|m| cfg_err(format!("[monitor] {m}")))?,
    };

    Ok(KpiConfig {
        name: name.to_string(),
        title: raw
            .framework
            .title
            .unwrap_or_else(|| raw.framework.name.clone()),
        framework: raw.framework.name,
        source: raw.framework.source,
        description: raw.framework.description,
        constants,
        measures,
        kpis,
        monitor,
    })
}

/// Checks `[monitor]`: core and ranking KPIs exist and are monthly (the views and the forecast
/// are month by month), at most [`MAX_CORE_KPIS`] core KPIs, each once.
fn monitor_config(m: RawMonitor, kpis: &[KpiDef]) -> Result<MonitorConfig, String> {
    let monthly = |name: &str, key: &str| match kpis.iter().find(|k| k.name == name) {
        None => Err(format!("{key}: `{name}` is not a kpi")),
        Some(k) if k.period != Granularity::Month => Err(format!(
            "{key}: kpi `{name}` is not monthly (the monitoring views are month by month)"
        )),
        Some(_) => Ok(()),
    };
    if m.core.len() > MAX_CORE_KPIS {
        return Err(format!(
            "core: {} kpis, at most {MAX_CORE_KPIS} (the executive view's core kpis)",
            m.core.len()
        ));
    }
    for (i, name) in m.core.iter().enumerate() {
        monthly(name, "core")?;
        if m.core[..i].contains(name) {
            return Err(format!("core: `{name}` is listed twice"));
        }
    }
    if let Some(r) = &m.ranking {
        monthly(r, "ranking")?;
    }
    let incentive_reduction_pct = m
        .incentive_reduction_pct
        .map(|v| v.to_decimal())
        .transpose()
        .map_err(|e| format!("incentive_reduction_pct: {e}"))?;
    if let Some(p) = incentive_reduction_pct
        && (p.is_sign_negative() || p >= Decimal::ONE_HUNDRED)
    {
        return Err(format!("incentive_reduction_pct: {p} is not in [0, 100)"));
    }
    Ok(MonitorConfig {
        core: m.core,
        ranking: m.ranking,
        incentive_reduction_pct,
    })
}

fn kpi_deps(k: &KpiDef) -> Vec<usize> {
    let mut out = Vec::new();
    k.expr.refs(&mut |_, t| {
        if let RefTarget::Kpi(j) = t {
            out.push(*j);
        }
    });
    out
}

/// Rejects KPI reference cycles, which would otherwise recurse forever at evaluation time.
fn check_cycles(kpis: &[KpiDef]) -> Result<(), String> {
    // 0 = unvisited, 1 = on the stack, 2 = done
    fn visit(
        i: usize,
        kpis: &[KpiDef],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Result<(), String> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let from = stack.iter().position(|&s| s == i).unwrap_or(0);
                let mut path: Vec<&str> = stack[from..]
                    .iter()
                    .map(|&s| kpis[s].name.as_str())
                    .collect();
                path.push(&kpis[i].name);
                return Err(format!("kpi cycle: {}", path.join(" -> ")));
            }
            _ => {}
        }
        state[i] = 1;
        stack.push(i);
        for j in kpi_deps(&kpis[i]) {
            visit(j, kpis, state, stack)?;
        }
        stack.pop();
        state[i] = 2;
        Ok(())
    }
    let mut state = vec![0u8; kpis.len()];
    for i in 0..kpis.len() {
        visit(i, kpis, &mut state, &mut Vec::new())?;
    }
    Ok(())
}

/// Keeps avoided emissions out of the inventory: an inventory KPI may not depend, directly or
/// through other KPIs, on an avoided measure or on a KPI in the avoided section.
fn check_avoided(kpis: &[KpiDef], measures: &[Measure]) -> Result<(), String> {
    fn taint(
        i: usize,
        kpis: &[KpiDef],
        measures: &[Measure],
        memo: &mut [Option<Option<String>>],
    ) -> Option<String> {
        if let Some(t) = &memo[i] {
            return t.clone();
        }
        let k = &kpis[i];
        let mut found = if k.section == AVOIDED_SECTION {
            Some(format!("kpi `{}` (section `{AVOIDED_SECTION}`)", k.name))
        } else {
            None
        };
        let mut refs: Vec<(String, RefTarget)> = Vec::new();
        k.expr
            .refs(&mut |n, t| refs.push((n.to_string(), t.clone())));
        for (n, t) in refs {
            if found.is_some() {
                break;
            }
            match t {
                RefTarget::Measure if measures.iter().any(|m| m.name == n && m.avoided) => {
                    found = Some(format!("avoided measure `{n}`"));
                }
                RefTarget::Kpi(j) => found = taint(j, kpis, measures, memo),
                _ => {}
            }
        }
        memo[i] = Some(found.clone());
        found
    }
    let mut memo = vec![None; kpis.len()];
    for (i, k) in kpis.iter().enumerate() {
        if k.section != INVENTORY_SECTION {
            continue;
        }
        if let Some(src) = taint(i, kpis, measures, &mut memo) {
            return Err(format!(
                "kpi `{}` in section `{INVENTORY_SECTION}` depends on {src}; avoided emissions are reported outside the inventory and never netted",
                k.name
            ));
        }
    }
    Ok(())
}
