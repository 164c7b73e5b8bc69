//! Named measure values per period, from the node's own data and from operational CSV files.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::kpi::KpiError;
use crate::kpi::config::{Aggregate, KpiConfig};
use crate::kpi::period::{MonthIndex, Period};

/// Measure values keyed by measure name and period. Values may be stored at any granularity;
/// coarser periods are rolled up from finer ones when not given directly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measures {
    values: BTreeMap<String, BTreeMap<Period, Decimal>>,
}

impl Measures {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) a value. The node uses this to add footprints, exchange statistics and
    /// Scope 3 results; units are the ones the config declares for `measure`.
    /// Every value as (period, measure, value) text, for transport over the admin socket.
    pub fn rows(&self) -> Vec<(String, String, String)> {
        let mut rows = Vec::new();
        for (measure, values) in &self.values {
            for (period, value) in values {
                rows.push((period.to_string(), measure.clone(), value.to_string()));
            }
        }
        rows
    }

    pub fn insert(&mut self, period: Period, measure: &str, value: Decimal) {
        self.values
            .entry(measure.to_string())
            .or_default()
            .insert(period, value);
    }

    /// The value stored for exactly this period, without roll-up.
    pub fn get(&self, measure: &str, period: Period) -> Option<Decimal> {
        self.values.get(measure)?.get(&period).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.values.values().all(BTreeMap::is_empty)
    }

    /// Merges `other` into `self`; `other` wins on the same measure and period.
    pub fn extend(&mut self, other: Measures) {
        for (m, series) in other.values {
            self.values.entry(m).or_default().extend(series);
        }
    }

    /// First and last month covered by any stored value.
    pub(crate) fn month_range(&self) -> Option<(MonthIndex, MonthIndex)> {
        let mut range: Option<(MonthIndex, MonthIndex)> = None;
        for p in self.values.values().flat_map(BTreeMap::keys) {
            let (a, b) = (p.first_month(), p.last_month());
            range = Some(match range {
                None => (a, b),
                Some((lo, hi)) => (lo.min(a), hi.max(b)),
            });
        }
        range
    }

    /// The value of `measure` for `period`: stored directly, or rolled up recursively from the
    /// sub-periods (year ← quarters ← months) that have values. `None` when nothing is known.
    pub(crate) fn value(&self, measure: &str, period: Period, agg: Aggregate) -> Option<Decimal> {
        let series = self.values.get(measure)?;
        Self::rolled(series, period, agg)
    }

    fn rolled(
        series: &BTreeMap<Period, Decimal>,
        period: Period,
        agg: Aggregate,
    ) -> Option<Decimal> {
        if let Some(v) = series.get(&period) {
            return Some(*v);
        }
        let parts: Vec<Decimal> = period
            .children()
            .into_iter()
            .filter_map(|c| Self::rolled(series, c, agg))
            .collect();
        if parts.is_empty() {
            return None;
        }
        match agg {
            Aggregate::Sum => parts
                .iter()
                .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b)),
            Aggregate::Last => parts.last().copied(),
            Aggregate::Avg => {
                let total = parts
                    .iter()
                    .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))?;
                total.checked_div(Decimal::from(parts.len()))
            }
        }
    }
}

/// Reads `period,measure,value,unit` rows (header required; blank lines and `#` comments skipped).
/// Every measure must be declared in `cfg` with exactly the same unit; `name` is the file name
/// used in `file:line` error messages.
pub fn load_measures_csv(src: &str, name: &str, cfg: &KpiConfig) -> Result<Measures, KpiError> {
    let err = |line: usize, msg: String| KpiError::Csv {
        file: name.to_string(),
        line,
        msg,
    };
    let mut out = Measures::new();
    let mut first_seen: HashMap<(String, Period), usize> = HashMap::new();
    let mut header_seen = false;
    for (idx, raw) in src.lines().enumerate() {
        let line = idx + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if !header_seen {
            if fields != ["period", "measure", "value", "unit"] {
                return Err(err(
                    line,
                    "expected header `period,measure,value,unit`".into(),
                ));
            }
            header_seen = true;
            continue;
        }
        if fields.len() != 4 {
            return Err(err(
                line,
                format!("expected 4 fields, got {}", fields.len()),
            ));
        }
        let period = Period::from_str(fields[0]).map_err(|e| err(line, e.to_string()))?;
        let mname = fields[1];
        let Some(m) = cfg.measure(mname) else {
            return Err(err(
                line,
                format!("measure `{mname}` is not declared in {}", cfg.name),
            ));
        };
        let value = Decimal::from_str(fields[2])
            .or_else(|_| Decimal::from_scientific(fields[2]))
            .map_err(|_| err(line, format!("`{}` is not a decimal number", fields[2])))?;
        if fields[3] != m.unit {
            return Err(err(
                line,
                format!(
                    "unit `{}` does not match `{}` declared for `{mname}`",
                    fields[3], m.unit
                ),
            ));
        }
        if let Some(prev) = first_seen.insert((mname.to_string(), period), line) {
            return Err(err(
                line,
                format!("duplicate value for `{mname}` in {period} (first on line {prev})"),
            ));
        }
        out.insert(period, mname, value);
    }
    if !header_seen {
        return Err(err(
            1,
            "empty file: expected header `period,measure,value,unit`".into(),
        ));
    }
    Ok(out)
}
