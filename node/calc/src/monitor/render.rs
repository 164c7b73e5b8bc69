//! A monitoring report as text: an aligned table per view (`tanso kpi monitor`) or the JSON of
//! `GET /api/monitor`.

use std::fmt::Write;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::monitor::{MonitorReport, Status};

/// How a monitoring report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

impl FromStr for Format {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            _ => Err(()),
        }
    }
}

fn opt(v: Option<Decimal>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn status(s: Status) -> &'static str {
    match s {
        Status::OnTrack => "on track",
        Status::OffTrack => "OFF TRACK",
        Status::Warning => "warning",
        Status::NoTarget => "no target",
    }
}

/// Left-aligned columns, two spaces apart.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(header.iter().map(|h| h.to_string()).collect())
    );
    for r in rows {
        let _ = writeln!(out, "{}", line(r.clone()));
    }
}

impl MonitorReport {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
            Format::Table => self.table(),
        }
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} ({}), {}\n", self.title, self.framework, self.month);
        let _ = writeln!(out, "Executive");
        let rows: Vec<Vec<String>> = self
            .executive
            .kpis
            .iter()
            .map(|k| {
                let f = k.forecast.as_ref();
                vec![
                    k.status.title.clone(),
                    format!("{} {}", opt(k.status.value), k.status.unit),
                    opt(k.status.target_value),
                    opt(k.status.achievement_pct),
                    opt(k.status.change_vs_last_year_pct),
                    status(k.status.status).into(),
                    f.and_then(|f| f.probability_of_target)
                        .map(|p| format!("{:.1} %", p * 100.0))
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "kpi",
                "value",
                "trajectory",
                "achievement %",
                "vs last year %",
                "status",
                "P(target)",
            ],
            &rows,
        );
        for k in &self.executive.kpis {
            if let Some(f) = &k.forecast {
                let what = f
                    .method
                    .clone()
                    .or_else(|| f.not_available.clone())
                    .unwrap_or_default();
                let _ = writeln!(out, "  {}: {what}", k.status.name);
            }
        }
        if !self.executive.alarms.is_empty() {
            let _ = writeln!(out, "\nAlarms");
            for a in &self.executive.alarms {
                let _ = writeln!(out, "  [{:?}] {}", a.severity, a.message);
            }
        }
        let _ = writeln!(out, "\nOperational: department ranking");
        let rows: Vec<Vec<String>> = self
            .operational
            .departments
            .iter()
            .map(|d| {
                vec![
                    d.rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    d.name.clone(),
                    opt(d.total),
                    opt(d.change_vs_last_year_pct),
                    if d.needs_improvement {
                        "needs improvement"
                    } else {
                        ""
                    }
                    .into(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["rank", "department", "total", "vs last year %", ""],
            &rows,
        );
        if !self.operational.improvement_areas.is_empty() {
            let _ = writeln!(out, "\nImprovement areas");
            for a in &self.operational.improvement_areas {
                let _ = writeln!(out, "  {}: {}: {}", a.department, a.title, a.reason);
            }
        }
        if !self.operational.action_plans.is_empty() {
            let _ = writeln!(out, "\nAction plans");
            let rows: Vec<Vec<String>> = self
                .operational
                .action_plans
                .iter()
                .map(|p| {
                    vec![
                        p.id.clone(),
                        p.title.clone(),
                        p.owner.clone(),
                        format!("{}..{}", p.start, p.due),
                        p.phase.as_str().into(),
                        format!("{} {}", p.expected_reduction, p.unit),
                        opt(p.measured_reduction),
                        opt(p.progress_pct),
                        if p.overdue { "OVERDUE" } else { "" }.into(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &[
                    "id",
                    "title",
                    "owner",
                    "months",
                    "phase",
                    "expected",
                    "measured",
                    "progress %",
                    "",
                ],
                &rows,
            );
        }
        let _ = writeln!(out, "\nField: teams");
        let rows: Vec<Vec<String>> = self
            .field
            .teams
            .iter()
            .map(|t| {
                vec![
                    t.department.clone(),
                    t.name.clone(),
                    opt(t.total),
                    if t.best_practice { "best practice" } else { "" }.into(),
                    format!("{:?}", t.incentive).to_lowercase(),
                    t.feedback.clone(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["department", "team", "total", "", "incentive", "feedback"],
            &rows,
        );
        out
    }
}
