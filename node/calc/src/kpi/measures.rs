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

/// Measure values of the company, of each department and of each (department, team).
///
/// Company-level values come from the node and from CSV rows without a department; a
/// (measure, period) the company level lacks is rolled up from the departments (and a
/// department's from its teams) by [`OrgMeasures::roll_up`]. Across units, flows (`sum`) and
/// stocks (`last`: a fleet is the sum of the departments' fleets) add up; `avg` levels
/// (prices, wages) are the mean of the units that have a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgMeasures {
    pub company: Measures,
    pub departments: BTreeMap<String, Measures>,
    /// Keyed by (department, team).
    pub teams: BTreeMap<(String, String), Measures>,
}

impl OrgMeasures {
    /// Merges `other` into `self`; `other` wins on the same unit, measure and period.
    pub fn extend(&mut self, other: OrgMeasures) {
        self.company.extend(other.company);
        for (d, m) in other.departments {
            self.departments.entry(d).or_default().extend(m);
        }
        for (t, m) in other.teams {
            self.teams.entry(t).or_default().extend(m);
        }
    }

    /// Fills every (measure, period) a department lacks from its teams, then every one the
    /// company lacks from the departments (values given directly always win).
    pub fn roll_up(&mut self, cfg: &KpiConfig) {
        for (dept, _) in self.teams.keys() {
            self.departments.entry(dept.clone()).or_default();
        }
        let depts: Vec<String> = self.departments.keys().cloned().collect();
        for dept in depts {
            let parts: Vec<&Measures> = self
                .teams
                .iter()
                .filter(|((d, _), _)| *d == dept)
                .map(|(_, m)| m)
                .collect();
            let filled = fill(&self.departments[&dept], &parts, cfg);
            self.departments.insert(dept, filled);
        }
        let parts: Vec<&Measures> = self.departments.values().collect();
        self.company = fill(&self.company, &parts, cfg);
    }

    /// Every month with a value at the company level, in order.
    pub fn months(&self) -> Vec<Period> {
        let mut months: Vec<Period> = self
            .company
            .values
            .values()
            .flat_map(BTreeMap::keys)
            .flat_map(Period::months)
            .collect();
        months.sort_by_key(Period::first_month);
        months.dedup();
        months
    }
}

/// `own` plus, for each (measure, period) it lacks, the units' values combined.
fn fill(own: &Measures, parts: &[&Measures], cfg: &KpiConfig) -> Measures {
    let mut sums: BTreeMap<(&str, Period), (Decimal, usize)> = BTreeMap::new();
    for part in parts {
        for (measure, series) in &part.values {
            for (period, v) in series {
                if own.get(measure, *period).is_some() {
                    continue;
                }
                let e = sums.entry((measure, *period)).or_insert((Decimal::ZERO, 0));
                e.0 = e.0.checked_add(*v).unwrap_or(e.0);
                e.1 += 1;
            }
        }
    }
    let mut out = own.clone();
    for ((measure, period), (total, n)) in sums {
        let agg = cfg
            .measure(measure)
            .map(|m| m.aggregate)
            .unwrap_or_default();
        let v = match agg {
            Aggregate::Avg => total.checked_div(Decimal::from(n)).unwrap_or(total),
            Aggregate::Sum | Aggregate::Last => total,
        };
        out.insert(period, measure, v);
    }
    out
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

/// The columns of a measures CSV, in any order: the first four required, `department` and
/// `team` optional (a row without them is company level; a team needs its department).
const COLUMNS: [&str; 6] = ["period", "measure", "value", "unit", "department", "team"];
const REQUIRED: usize = 4;
/// Longest department or team name (characters): names are echoed in reports and messages.
pub const MAX_UNIT_NAME: usize = 100;

/// Reads `period,measure,value,unit` rows (header required, columns in any order; blank lines
/// and `#` comments skipped). Every measure must be declared in `cfg` with exactly the same
/// unit and a value inside its declared `min`/`max`. Every problem is reported, each with
/// `name:line:column`, and nothing is returned if there is any.
///
/// Rows with `department` (and `team`) columns feed those units; the company level of a
/// measure given only per unit is their roll-up ([`OrgMeasures::roll_up`]).
pub fn load_measures_csv(src: &str, name: &str, cfg: &KpiConfig) -> Result<Measures, KpiError> {
    let mut org = load_org_measures_csv(src, name, cfg, &[])?;
    org.roll_up(cfg);
    Ok(org.company)
}

/// Like [`load_measures_csv`], keeping the departments and teams apart (not rolled up yet:
/// the caller merges its other sources first). A row for a measure in `node_fed` (measures the
/// node computes itself, like the inventory's `scope1_kg`) is a problem: no hand-typed totals.
pub fn load_org_measures_csv(
    src: &str,
    name: &str,
    cfg: &KpiConfig,
    node_fed: &[&str],
) -> Result<OrgMeasures, KpiError> {
    let mut problems = Vec::new();
    let measures = read(src, name, cfg, node_fed, &mut problems);
    if problems.is_empty() {
        Ok(measures)
    } else {
        Err(KpiError::Measures(problems))
    }
}

fn read(
    src: &str,
    name: &str,
    cfg: &KpiConfig,
    node_fed: &[&str],
    problems: &mut Vec<MeasureProblem>,
) -> OrgMeasures {
    let mut problem = |line: u64, column: Option<usize>, message: String| {
        problems.push(MeasureProblem {
            file: name.to_string(),
            line,
            column: column.map(|c| c as u64 + 1),
            message,
        });
    };
    let mut out = OrgMeasures::default();
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
                    format!(
                        "column `{h}`: unknown column (expected period, measure, value, unit and optionally department, team)"
                    ),
                );
            }
        }
    }
    for (c, column) in COLUMNS.iter().enumerate().take(REQUIRED) {
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
    let [Some(ip), Some(im), Some(iv), Some(iu), id, it] = idx else {
        return out;
    };
    if it.is_some() && id.is_none() {
        problem(
            header_line,
            it,
            "column `team`: needs a `department` column".into(),
        );
        return out;
    }
    let mut first_seen: HashMap<(String, Period, String, String), u64> = HashMap::new();
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
        let dept = id.map(|i| rec[i].to_string()).unwrap_or_default();
        let team = it.map(|i| rec[i].to_string()).unwrap_or_default();
        for (text, column, col) in [(&dept, "department", id), (&team, "team", it)] {
            if text.chars().count() > MAX_UNIT_NAME {
                ok = false;
                problem(
                    line,
                    col,
                    format!("column `{column}`: longer than {MAX_UNIT_NAME} characters"),
                );
            }
        }
        if dept.is_empty() && !team.is_empty() {
            ok = false;
            problem(
                line,
                it,
                format!("column `team`: `{team}` needs a department"),
            );
        }
        if node_fed.contains(&mname) {
            ok = false;
            problem(
                line,
                Some(im),
                format!(
                    "column `measure`: `{mname}` is computed by the node (its inventory); remove it from the CSV"
                ),
            );
        }
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
            && let Some(prev) =
                first_seen.insert((mname.to_string(), p, dept.clone(), team.clone()), line)
        {
            ok = false;
            let unit = match (dept.as_str(), team.as_str()) {
                ("", _) => String::new(),
                (d, "") => format!(" of `{d}`"),
                (d, t) => format!(" of `{d}` / `{t}`"),
            };
            problem(
                line,
                Some(ip),
                format!("duplicate value for `{mname}`{unit} in {p} (first on line {prev})"),
            );
        }
        if let (true, Some(p), Some(v)) = (ok, period, value) {
            let target = match (dept.is_empty(), team.is_empty()) {
                (true, _) => &mut out.company,
                (false, true) => out.departments.entry(dept).or_default(),
                (false, false) => out.teams.entry((dept, team)).or_default(),
            };
            target.insert(p, mname, v);
        }
    }
    out
}
