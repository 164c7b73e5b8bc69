//! KPI engine: KPIs defined entirely in TOML configs, evaluated over named measures per period.
//!
//! Flow: [`load_config`] parses a framework (measures, constants, KPIs with formulas, targets,
//! grades, weights); measures come from [`load_measures_csv`] and from the node via
//! [`Measures::insert`]; [`report`] evaluates every KPI for a period and [`KpiReport::render`]
//! prints it as a table, JSON (for dashboards) or CSV. No IO happens here: callers pass strings.
//! All arithmetic is exact [`rust_decimal::Decimal`]; a KPI that cannot be computed for a period
//! (missing data, division by zero) is reported as not available, never as 0.

mod config;
mod eval;
mod expr;
mod measures;
mod period;
mod render;
mod sources;
#[cfg(test)]
mod tests;

pub use config::{
    AVOIDED_SECTION, Aggregate, Constant, Grade, INVENTORY_SECTION, KpiConfig, KpiDef,
    MAX_CORE_KPIS, Measure, MonitorConfig, TargetDef, TrajectoryKind, load_config,
};
pub use eval::{
    Evaluator, KpiReport, KpiResult, PathPoint, SectionReport, SeriesPoint, TargetSummary,
    nth_root, report,
};
pub(crate) use eval::{dec, dec_opt};
pub use measures::{
    MAX_UNIT_NAME, MeasureProblem, Measures, OrgMeasures, load_measures_csv, load_org_measures_csv,
};
pub use period::{Granularity, Period};
pub use render::Format;
pub use sources::{INVENTORY_MEASURES, Sources, assemble, inventory_measures, read_inventory};

/// Everything that can go wrong loading a config or measures, or building a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KpiError {
    #[error("{config}: invalid toml: {msg}")]
    Toml { config: String, msg: String },
    #[error("{config}: {msg}")]
    Config { config: String, msg: String },
    #[error("{config}: kpi `{kpi}`: formula `{formula}` at position {pos}: {msg}")]
    Formula {
        config: String,
        kpi: String,
        formula: String,
        pos: usize,
        msg: String,
    },
    /// Every problem of a measures CSV, each with file:line:column.
    #[error("{} problem(s) in measures:\n{}", .0.len(), measures::list(.0))]
    Measures(Vec<MeasureProblem>),
    #[error("invalid period `{0}` (expected 2025-01, 2025-Q1 or 2025)")]
    Period(String),
    #[error("no measures to report on")]
    NoData,
    #[error("inventory {dir}: {msg}")]
    Inventory { dir: String, msg: String },
    #[error("cannot read {path}: {msg}")]
    Io { path: String, msg: String },
}

/// A node's own monthly counts (`Node::monthly_counts`: measure name and `YYYY-MM` month to a
/// count) as KPI measures.
pub fn node_measures<'a>(counts: impl IntoIterator<Item = ((&'a str, String), u64)>) -> Measures {
    let mut measures = Measures::new();
    for ((name, month), n) in counts {
        if let Ok(period) = month.parse::<Period>() {
            measures.insert(period, name, rust_decimal::Decimal::from(n));
        }
    }
    measures
}
