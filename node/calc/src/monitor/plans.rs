//! Action plans (the PDCA cycle of the KPI guide): a CSV of plans with owner, dates, the KPI
//! they act on and the reduction they expect, read through the one [`CsvReader`].

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::csv_lines::{CsvReader, Shape};
use crate::kpi::{Granularity, KpiConfig, MeasureProblem, Period};
use crate::monitor::MonitorError;

/// Most plans one file may hold (hostile input is bounded before it is kept).
pub const MAX_PLANS: usize = 1000;
/// Longest text field (characters): ids, titles, names are echoed in views and messages.
pub const MAX_TEXT: usize = 200;

/// The columns of an action-plan CSV, all present (`team` may be empty), in any order.
pub const PLAN_COLUMNS: [&str; 11] = [
    "id",
    "title",
    "department",
    "team",
    "kpi",
    "owner",
    "start",
    "due",
    "expected_reduction",
    "unit",
    "phase",
];

/// Where a plan is in its PDCA cycle (seed 000: Plan, Do, Check, Act), or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Plan,
    Do,
    Check,
    Act,
    Done,
}

impl FromStr for Phase {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "plan" => Phase::Plan,
            "do" => Phase::Do,
            "check" => Phase::Check,
            "act" => Phase::Act,
            "done" => Phase::Done,
            _ => return Err(()),
        })
    }
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Plan => "plan",
            Phase::Do => "do",
            Phase::Check => "check",
            Phase::Act => "act",
            Phase::Done => "done",
        }
    }
}

/// One action plan as the CSV gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPlan {
    pub id: String,
    pub title: String,
    pub department: String,
    /// `None`: the whole department.
    pub team: Option<String>,
    /// The monthly KPI it reduces (its scope's values are compared with a year before).
    pub kpi: String,
    pub owner: String,
    pub start: Period,
    pub due: Period,
    /// Over the plan's months `start..=due`, in the KPI's unit.
    pub expected_reduction: Decimal,
    pub unit: String,
    pub phase: Phase,
}

/// Reads `id,title,department,team,kpi,owner,start,due,expected_reduction,unit,phase`
/// (header required, columns in any order, `#` comments and blank lines skipped). The KPI
/// must be a monthly KPI of `cfg` and the unit its unit; `start` and `due` are months
/// (`YYYY-MM`), `due` not before `start`; ids are unique. Every problem is reported with
/// `name:line:column`, and nothing is returned if there is any.
pub fn load_action_plans(
    src: &str,
    name: &str,
    cfg: &KpiConfig,
) -> Result<Vec<ActionPlan>, MonitorError> {
    let mut problems = Vec::new();
    let plans = read(src, name, cfg, &mut problems);
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(MonitorError::Plans(problems))
    }
}

fn read(
    src: &str,
    name: &str,
    cfg: &KpiConfig,
    problems: &mut Vec<MeasureProblem>,
) -> Vec<ActionPlan> {
    let mut problem = |line: u64, column: Option<usize>, message: String| {
        problems.push(MeasureProblem {
            file: name.to_string(),
            line,
            column: column.map(|c| c as u64 + 1),
            message,
        });
    };
    let mut out = Vec::new();
    let mut rdr = CsvReader::new(
        src.as_bytes(),
        Shape {
            trim: true,
            flexible: true,
        },
    );
    let (header_line, header) = match rdr.header() {
        Ok(h) => h,
        Err(e) => {
            problem(e.line, None, e.message);
            return out;
        }
    };
    if header.iter().all(String::is_empty) {
        problem(
            header_line,
            None,
            format!(
                "empty file: expected the header `{}`",
                PLAN_COLUMNS.join(",")
            ),
        );
        return out;
    }
    let mut idx = [None; PLAN_COLUMNS.len()];
    let mut header_ok = true;
    for (i, h) in header.iter().enumerate() {
        match PLAN_COLUMNS.iter().position(|c| c == h) {
            Some(c) if idx[c].is_none() => idx[c] = Some(i),
            Some(_) => {
                header_ok = false;
                problem(
                    header_line,
                    Some(i),
                    format!("column `{h}`: duplicate column"),
                );
            }
            None => {
                header_ok = false;
                problem(
                    header_line,
                    Some(i),
                    format!(
                        "column `{}`: unknown column (expected {})",
                        h.chars().take(MAX_TEXT).collect::<String>(),
                        PLAN_COLUMNS.join(", ")
                    ),
                );
            }
        }
    }
    for (c, column) in PLAN_COLUMNS.iter().enumerate() {
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
    let col: Vec<usize> = idx.iter().map(|i| i.unwrap_or_default()).collect();
    let [
        i_id,
        i_title,
        i_dept,
        i_team,
        i_kpi,
        i_owner,
        i_start,
        i_due,
        i_exp,
        i_unit,
        i_phase,
    ] = col[..]
    else {
        return out;
    };
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut rec = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let line = match rdr.read(&mut rec) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(e) => {
                problem(e.line, None, e.message);
                continue;
            }
        };
        rows += 1;
        if rows > MAX_PLANS {
            problem(line, None, format!("more than {MAX_PLANS} action plans"));
            break;
        }
        if rec.len() != header.len() {
            problem(
                line,
                None,
                format!("expected {} fields, found {}", header.len(), rec.len()),
            );
            continue;
        }
        let mut ok = true;
        let mut text = |i: usize, column: &str, required: bool| -> String {
            let v = &rec[i];
            if v.chars().count() > MAX_TEXT {
                ok = false;
                problem(
                    line,
                    Some(i),
                    format!("column `{column}`: longer than {MAX_TEXT} characters"),
                );
                return String::new();
            }
            if required && v.is_empty() {
                ok = false;
                problem(line, Some(i), format!("column `{column}`: empty"));
            }
            v.to_string()
        };
        let id = text(i_id, "id", true);
        let title = text(i_title, "title", true);
        let department = text(i_dept, "department", true);
        let team = text(i_team, "team", false);
        let kpi = text(i_kpi, "kpi", true);
        let owner = text(i_owner, "owner", true);
        let unit = text(i_unit, "unit", true);
        let mut month = |i: usize, column: &str| match Period::from_str(&rec[i]) {
            Ok(p) if p.granularity() == Granularity::Month => Some(p),
            _ => {
                problem(
                    line,
                    Some(i),
                    format!(
                        "column `{column}`: `{}` is not a month (YYYY-MM)",
                        rec[i].chars().take(MAX_TEXT).collect::<String>()
                    ),
                );
                None
            }
        };
        let start = month(i_start, "start");
        let due = month(i_due, "due");
        if let (Some(s), Some(d)) = (start, due)
            && d.first_month() < s.first_month()
        {
            ok = false;
            problem(
                line,
                Some(i_due),
                format!("column `due`: {d} is before start {s}"),
            );
        }
        let exp_text = &rec[i_exp];
        let expected = match Decimal::from_str(exp_text) {
            Ok(v) if !v.is_sign_negative() => Some(v),
            _ => {
                problem(
                    line,
                    Some(i_exp),
                    format!(
                        "column `expected_reduction`: `{}` is not a non-negative decimal number",
                        exp_text.chars().take(MAX_TEXT).collect::<String>()
                    ),
                );
                None
            }
        };
        let phase = match Phase::from_str(&rec[i_phase]) {
            Ok(p) => Some(p),
            Err(()) => {
                problem(
                    line,
                    Some(i_phase),
                    format!(
                        "column `phase`: `{}` is not one of plan, do, check, act, done",
                        rec[i_phase].chars().take(MAX_TEXT).collect::<String>()
                    ),
                );
                None
            }
        };
        if !kpi.is_empty() {
            match cfg.kpi(&kpi) {
                None => {
                    ok = false;
                    problem(
                        line,
                        Some(i_kpi),
                        format!("column `kpi`: `{kpi}` is not a kpi of {}", cfg.name),
                    );
                }
                Some(k) if k.period != Granularity::Month => {
                    ok = false;
                    problem(
                        line,
                        Some(i_kpi),
                        format!("column `kpi`: `{kpi}` is not a monthly kpi"),
                    );
                }
                Some(k) if !unit.is_empty() && k.unit != unit => {
                    ok = false;
                    problem(
                        line,
                        Some(i_unit),
                        format!(
                            "column `unit`: `{unit}` does not match `{}` of kpi `{kpi}`",
                            k.unit
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        if !id.is_empty()
            && let Some(first) = ids.insert(id.clone(), line)
        {
            ok = false;
            problem(
                line,
                Some(i_id),
                format!("column `id`: duplicate id `{id}` (first on line {first})"),
            );
        }
        if let (true, Some(start), Some(due), Some(expected_reduction), Some(phase)) =
            (ok, start, due, expected, phase)
        {
            out.push(ActionPlan {
                id,
                title,
                department,
                team: (!team.is_empty()).then_some(team),
                kpi,
                owner,
                start,
                due,
                expected_reduction,
                unit,
                phase,
            });
        }
    }
    out
}
