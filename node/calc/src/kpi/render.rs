//! Renders a [`KpiReport`] as a text table (terminals), JSON (dashboards) or CSV (spreadsheets).

use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::kpi::KpiError;
use crate::kpi::eval::{KpiReport, KpiResult};

/// Output format of [`KpiReport::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    /// Everything, including series for trend charts; decimals are strings so they stay exact.
    Json,
    /// One row per KPI for the report period.
    Csv,
}

impl FromStr for Format {
    type Err = KpiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(KpiError::Config {
                config: "format".into(),
                msg: format!("unknown report format `{other}` (table, json or csv)"),
            }),
        }
    }
}

fn opt(v: Option<Decimal>) -> String {
    v.map(|d| d.to_string()).unwrap_or_default()
}

fn status(k: &KpiResult) -> String {
    if k.warning.is_some() {
        "WARNING".into()
    } else {
        match k.off_track {
            Some(true) => "off track".into(),
            Some(false) => "on track".into(),
            None => String::new(),
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl KpiReport {
    pub fn render(&self, fmt: Format) -> String {
        match fmt {
            Format::Json => serde_json::to_string_pretty(self)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
            Format::Csv => self.render_csv(),
            Format::Table => self.render_table(),
        }
    }

    fn render_csv(&self) -> String {
        let mut out = String::from(
            "section,kpi,period,value,unit,not_available,trajectory,achievement_pct,target_progress_pct,grade,off_track,change_vs_last_year_pct,warning\n",
        );
        for s in &self.sections {
            for k in &s.kpis {
                let row = [
                    s.name.clone(),
                    k.name.clone(),
                    k.period.to_string(),
                    opt(k.value),
                    k.unit.clone(),
                    k.not_available.clone().unwrap_or_default(),
                    opt(k.trajectory_value),
                    opt(k.achievement_pct),
                    opt(k.target_progress_pct),
                    k.grade.clone().unwrap_or_default(),
                    k.off_track.map(|b| b.to_string()).unwrap_or_default(),
                    opt(k.change_vs_last_year_pct),
                    k.warning.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
        }
        out
    }

    fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({}) - period {}",
            self.title, self.framework, self.period
        );
        let head = [
            "kpi",
            "period",
            "value",
            "unit",
            "trajectory",
            "achv %",
            "yoy %",
            "grade",
            "status",
        ];
        let mut warnings = Vec::new();
        for s in &self.sections {
            let _ = writeln!(out, "\n[{}]", s.name);
            if let Some(n) = &s.note {
                let _ = writeln!(out, "  note: {n}");
            }
            let rows: Vec<[String; 9]> = s
                .kpis
                .iter()
                .map(|k| {
                    if let Some(w) = &k.warning {
                        warnings.push(format!("{}: {w}", k.name));
                    }
                    [
                        k.name.clone(),
                        k.period.to_string(),
                        k.value
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "n/a".into()),
                        k.unit.clone(),
                        opt(k.trajectory_value),
                        opt(k.achievement_pct),
                        opt(k.change_vs_last_year_pct),
                        k.grade.clone().unwrap_or_default(),
                        status(k),
                    ]
                })
                .collect();
            let mut w = head.map(str::len);
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let mut l = String::from(" ");
                for (i, c) in cells.iter().enumerate() {
                    // numbers right-aligned, text left-aligned
                    if (2..=6).contains(&i) && i != 3 {
                        let _ = write!(l, " {c:>width$}", width = w[i]);
                    } else {
                        let _ = write!(l, " {c:<width$}", width = w[i]);
                    }
                }
                l.trim_end().to_string()
            };
            let _ = writeln!(out, "{}", line(&head.map(String::from)));
            for r in &rows {
                let _ = writeln!(out, "{}", line(r));
            }
            for k in s.kpis.iter().filter(|k| k.not_available.is_some()) {
                let _ = writeln!(
                    out,
                    "  {} n/a: {}",
                    k.name,
                    k.not_available.as_deref().unwrap_or_default()
                );
            }
        }
        if !warnings.is_empty() {
            let _ = writeln!(out, "\nwarnings:");
            for w in warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
        out
    }
}
