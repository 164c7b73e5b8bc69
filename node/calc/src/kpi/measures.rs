//! Named measure values per period, from the node's own data and from operational CSV files.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::csv_lines::{CsvReader, Shape};
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

/// One problem of a measures CSV: file, line, column position (1-based, when the problem is
/// in one column) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureProblem {
    pub file: String,
    pub line: u64,
    pub column: Option<u64>,
    pub message: String,
}

impl fmt::Display for MeasureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Lists problems for display, the first 50 only: the full list stays in the error value.
pub(crate) fn list(problems: &[MeasureProblem]) -> String {
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

/// The columns of a measures CSV, all required, in any order.
const COLUMNS: [&str; 4] = ["period", "measure", "value", "unit"];

/// Reads `period,measure,value,unit` rows (header required, columns in any order; blank lines
/// and `#` comments skipped). Every measure must be declared in `cfg` with exactly the same
/// unit and a value inside its declared `min`/`max`. Every problem is reported, each with
/// `name:line:column`, and nothing is returned if there is any.
pub fn load_measures_csv(src: &str, name: &str, cfg: &KpiConfig) -> Result<Measures, KpiError> {
    let mut problems = Vec::new();
    let measures = read(src, name, cfg, &mut problems);
    if problems.is_empty() {
        Ok(measures)
    } else {
        Err(KpiError::Measures(problems))
    }
}

fn read(src: &str, name: &str, cfg: &KpiConfig, problems: &mut Vec<MeasureProblem>) -> Measures {
    let mut problem = |line: u64, column: Option<usize>, message: String| {
        problems.push(MeasureProblem {
            file: name.to_string(),
            line,
            column: column.map(|c| c as u64 + 1),
            message,
        });
    };
    let mut out = Measures::new();
    let shape = Shape {
        trim: true,
        flexible: true,
    };
    let mut rdr = CsvReader::new(src.as_bytes(), shape);
    // The header's line is the one after any comment lines the reader skipped.
    let (header_line, header) = match rdr.header() {
        Ok(h) => h,
        Err(e) => {
            problem(e.line, None, e.message);
            return out;
        }
    };
    if header.is_empty() || header.iter().all(String::is_empty) {
        problem(
            header_line,
            None,
            "empty file: expected the header `period,measure,value,unit`".into(),
        );
        return out;
    }
    let mut idx = [None; COLUMNS.len()];
    let mut header_ok = true;
    for (i, h) in header.iter().enumerate() {
        match COLUMNS.iter().position(|c| c == h) {
            Some(c) => match idx[c] {
                Some(first) => {
                    header_ok = false;
                    problem(
                        header_line,
                        Some(i),
                        format!(
                            "column `{h}`: duplicate column (first at column {})",
                            first + 1
                        ),
                    );
                }
                None => idx[c] = Some(i),
            },
            None => {
                header_ok = false;
                problem(
                    header_line,
                    Some(i),
                    format!("column `{h}`: unknown column (expected period, measure, value, unit)"),
                );
            }
        }
    }
    for (c, column) in COLUMNS.iter().enumerate() {
        if idx[c].is_none() {
            header_ok = false;
            problem(
                header_line,
                Some(header.len()),
                format!("column `{column}`: missing required column"),
            );
        }
    }
    if !header_ok {
        return out;
    }
    let [Some(ip), Some(im), Some(iv), Some(iu)] = idx else {
        return out;
    };
    let mut first_seen: HashMap<(String, Period), u64> = HashMap::new();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = match rdr.read(&mut rec) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(e) => {
                problem(e.line, None, e.message);
                continue;
            }
        };
        if rec.len() != header.len() {
            problem(
                line,
                None,
                format!("expected {} fields, found {}", header.len(), rec.len()),
            );
            continue;
        }
        let period = match Period::from_str(&rec[ip]) {
            Ok(p) => Some(p),
            Err(e) => {
                problem(line, Some(ip), format!("column `period`: {e}"));
                None
            }
        };
        let mname = &rec[im];
        let measure = cfg.measure(mname);
        if measure.is_none() {
            problem(
                line,
                Some(im),
                format!(
                    "column `measure`: `{mname}` is not declared in {}",
                    cfg.name
                ),
            );
        }
        let text = &rec[iv];
        let value = match Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)) {
            Ok(v) => Some(v),
            Err(_) => {
                problem(
                    line,
                    Some(iv),
                    format!("column `value`: `{text}` is not a decimal number"),
                );
                None
            }
        };
        let unit = &rec[iu];
        let mut ok = period.is_some() && value.is_some();
        if let Some(m) = measure {
            if unit != m.unit {
                ok = false;
                problem(
                    line,
                    Some(iu),
                    format!(
                        "column `unit`: `{unit}` does not match `{}` declared for `{mname}`",
                        m.unit
                    ),
                );
            }
            if let Some(v) = value
                && let Some(why) = m.out_of_range(v)
            {
                ok = false;
                problem(
                    line,
                    Some(iv),
                    format!("column `value`: {text} {why} declared for `{mname}`"),
                );
            }
        } else {
            ok = false;
        }
        if let Some(p) = period
            && measure.is_some()
            && let Some(prev) = first_seen.insert((mname.to_string(), p), line)
        {
            ok = false;
            problem(
                line,
                Some(ip),
                format!("duplicate value for `{mname}` in {p} (first on line {prev})"),
            );
        }
        if let (true, Some(p), Some(v)) = (ok, period, value) {
            out.insert(p, mname, v);
        }
    }
    out
}
