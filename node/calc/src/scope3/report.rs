//! Report rendering: plain-text table, JSON, CSV and Markdown.
//!
//! Totals are shown in kg and t; the category 2 amortised figures appear only in a
//! section labelled as a management view, and avoided emissions only in their own
//! section, so neither can be read as part of the GHG Protocol inventory.

use crate::scope3::calc::{Report, ResultLine};
use rust_decimal::Decimal;
use std::fmt::Write;
use tanso_model::rounding::round;

/// Output format of [`Report::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Md,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Md),
            _ => None,
        }
    }
}

fn n(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Tonnes rounded for display by the one rounding rule (exact values are in JSON and CSV).
fn t3(d: Decimal) -> String {
    round(d, 3).normalize().to_string()
}

const CSV_HEADER: [&str; 24] = [
    "record",
    "category",
    "sub_activity",
    "description",
    "row",
    "method",
    "quantity",
    "quantity_unit",
    "conversion",
    "factor_id",
    "factor_value",
    "factor_unit",
    "range_end",
    "factor_set",
    "factor_version",
    "licence",
    "gwp",
    "emissions_kg",
    "emissions_t",
    "primary",
    "dqr_technological",
    "dqr_geographical",
    "dqr_temporal",
    "note",
];

fn line_fields(l: &ResultLine) -> Vec<String> {
    vec![
        "line".into(),
        l.category.number().to_string(),
        l.sub_activity.into(),
        l.description.to_string(),
        l.row.to_string(),
        l.method.to_string(),
        n(l.quantity),
        l.quantity_unit.to_string(),
        l.conversion.clone().unwrap_or_default(),
        l.factor_id.to_string(),
        n(l.factor_value),
        l.factor_unit(),
        l.range_end
            .map(|r| format!("{r:?}").to_lowercase())
            .unwrap_or_default(),
        l.source.set.clone(),
        l.source.version.clone(),
        l.source.licence.clone(),
        l.gwp.to_string(),
        n(l.emissions.kg()),
        n(l.emissions.tonnes()),
        l.primary.to_string(),
        n(l.dqi.technological),
        n(l.dqi.geographical),
        n(l.dqi.temporal),
        l.note.as_deref().unwrap_or_default().to_string(),
    ]
}

impl Report {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            Format::Csv => self.csv(),
            Format::Table => self.table(),
            Format::Md => self.md(),
        }
    }

    fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(CSV_HEADER);
        for l in &self.lines {
            let _ = w.write_record(line_fields(l));
        }
        let blank = |rec: &str, cat: String, desc: String, kg: Decimal, note: String| {
            let mut v = vec![String::new(); CSV_HEADER.len()];
            v[0] = rec.into();
            v[1] = cat;
            v[3] = desc;
            v[17] = n(kg);
            v[18] = n(kg / Decimal::ONE_THOUSAND);
            v[23] = note;
            v
        };
        for c in &self.categories {
            let _ = w.write_record(blank(
                "category_total",
                c.number.to_string(),
                c.name.into(),
                c.emissions.kg(),
                c.excluded.clone().unwrap_or_default(),
            ));
        }
        let _ = w.write_record(blank(
            "total",
            String::new(),
            "scope 3 categories 1-9".into(),
            self.total.kg(),
            format!(
                "primary data share {} %",
                self.primary_data_share_pct
                    .map(|p| n(round(p, 2)))
                    .unwrap_or_else(|| "n/a".into())
            ),
        ));
        let _ = w.write_record(blank(
            "management_view",
            "2".into(),
            "capital goods amortised over asset life (not GHG Protocol)".into(),
            self.capital_goods_management_view_total.kg(),
            String::new(),
        ));
        if let Some(a) = &self.avoided {
            let _ = w.write_record(blank(
                "avoided",
                String::new(),
                "avoided emissions (outside scope 1-3)".into(),
                a.total.kg(),
                a.note.into(),
            ));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    fn summary_rows(&self) -> Vec<[String; 5]> {
        let mut rows: Vec<[String; 5]> = self
            .categories
            .iter()
            .map(|c| {
                [
                    c.number.to_string(),
                    c.name.to_string(),
                    n(c.emissions.kg()),
                    t3(c.emissions.tonnes()),
                    c.excluded
                        .clone()
                        .unwrap_or_else(|| format!("{} lines", c.lines)),
                ]
            })
            .collect();
        rows.push([
            "".into(),
            "total scope 3 (1-9)".into(),
            n(self.total.kg()),
            t3(self.total.tonnes()),
            String::new(),
        ]);
        rows
    }

    fn headline(&self) -> Vec<String> {
        let mut v = vec![
            format!(
                "reporting year: {}; range choice: {:?}; GWP sets: {}",
                self.year
                    .map(|y| y.to_string())
                    .unwrap_or_else(|| "all".into()),
                self.range_choice,
                self.gwp_sets
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "primary data share (supplier-specific ÷ total): {}",
                self.primary_data_share_pct
                    .map(|p| format!("{} %", n(round(p, 2))))
                    .unwrap_or_else(|| "n/a".into())
            ),
        ];
        if let Some(d) = self.dqi {
            v.push(format!(
                "emission-weighted DQR: technological {}, geographical {}, temporal {}",
                n(round(d.technological, 3)),
                n(round(d.geographical, 3)),
                n(round(d.temporal, 3))
            ));
        }
        v
    }

    fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "Scope 3 (categories 1-9)");
        for h in self.headline() {
            let _ = writeln!(o, "{h}");
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:>3}  {:<42} {:>20} {:>14}",
            "cat", "name", "kgCO2e", "tCO2e"
        );
        for r in self.summary_rows() {
            let _ = writeln!(
                o,
                "{:>3}  {:<42} {:>20} {:>14}  {}",
                r[0], r[1], r[2], r[3], r[4]
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:>3}  {:<18} {:<30} {:<34} {:>16} {:<16} {:<34} {:>12} {:>16}  {:<3} dqr t/g/tm",
            "cat",
            "method",
            "description",
            "row",
            "quantity",
            "unit",
            "factor",
            "value",
            "kgCO2e",
            "pri",
        );
        for l in &self.lines {
            let _ = writeln!(
                o,
                "{:>3}  {:<18} {:<30} {:<34} {:>16} {:<16} {:<34} {:>12} {:>16}  {:<3} {}/{}/{}",
                l.category.number(),
                l.method.to_string(),
                trunc(&l.description, 30),
                trunc(&l.row.to_string(), 34),
                n(round(l.quantity, 6)),
                l.quantity_unit.to_string(),
                trunc(&l.factor_id, 34),
                n(l.factor_value),
                n(round(l.emissions.kg(), 6)),
                if l.primary { "yes" } else { "no" },
                n(round(l.dqi.technological, 2)),
                n(round(l.dqi.geographical, 2)),
                n(round(l.dqi.temporal, 2)),
            );
        }
        self.tail(&mut o, false);
        o
    }

    fn md(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Scope 3 (categories 1-9)\n");
        for h in self.headline() {
            let _ = writeln!(o, "- {h}");
        }
        let _ = writeln!(
            o,
            "\n| cat | name | kgCO2e | tCO2e | |\n|---|---|---:|---:|---|"
        );
        for r in self.summary_rows() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                r[0],
                md(&r[1]),
                r[2],
                r[3],
                md(&r[4])
            );
        }
        let _ = writeln!(
            o,
            "\n## Lines\n\n| cat | sub-activity | description | row | method | quantity | factor | factor value | source | GWP | kgCO2e | primary | DQR t/g/tm |\n|---|---|---|---|---|---:|---|---:|---|---|---:|---|---|"
        );
        for l in &self.lines {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} {} | {} | {} {} | {} ({}; {}) | {} | {} | {} | {}/{}/{} |",
                l.category.number(),
                md(l.sub_activity),
                md(&l.description),
                md(&l.row.to_string()),
                l.method,
                n(l.quantity),
                l.quantity_unit,
                md(&l.factor_id),
                n(l.factor_value),
                l.factor_unit(),
                md(&l.source.set),
                md(&l.source.version),
                md(&l.source.licence),
                l.gwp,
                n(l.emissions.kg()),
                if l.primary { "yes" } else { "no" },
                n(round(l.dqi.technological, 3)),
                n(round(l.dqi.geographical, 3)),
                n(round(l.dqi.temporal, 3)),
            );
        }
        self.tail(&mut o, true);
        o
    }

    /// Management view and avoided emissions, kept visibly apart from the inventory.
    fn tail(&self, o: &mut String, markdown: bool) {
        let h = |o: &mut String, s: &str| {
            let _ = if markdown {
                writeln!(o, "\n## {s}\n")
            } else {
                writeln!(o, "\n{s}")
            };
        };
        if !self.capital_goods_management_view.is_empty() {
            h(
                o,
                "Category 2 management view (amortised; NOT GHG Protocol, which counts the full cradle-to-gate in the year of acquisition)",
            );
            for v in &self.capital_goods_management_view {
                let _ = writeln!(
                    o,
                    "{}{}: {} tCO2e over {} years ({}-{}) = {} tCO2e a year{}",
                    if markdown { "- " } else { "  " },
                    v.description,
                    n(v.cradle_to_gate.tonnes()),
                    v.lifetime_years,
                    v.first_year,
                    v.last_year,
                    n(v.annual.tonnes()),
                    if v.counted_in_ghgp {
                        "; GHGP: full amount in this report"
                    } else {
                        "; GHGP: counted in its acquisition year"
                    }
                );
            }
            let _ = writeln!(
                o,
                "{}management-view total for the reporting year: {} tCO2e",
                if markdown { "- " } else { "  " },
                n(self.capital_goods_management_view_total.tonnes())
            );
        }
        if let Some(a) = &self.avoided {
            h(
                o,
                "Avoided emissions (substitution method; reported separately, never netted against Scope 1-3)",
            );
            for l in &a.lines {
                let _ = writeln!(
                    o,
                    "{}{}: {} {} × ({} − {}) {} = {} kgCO2e",
                    if markdown { "- " } else { "  " },
                    l.description,
                    n(l.quantity),
                    l.quantity_unit,
                    n(l.baseline_factor),
                    n(l.activity_factor),
                    l.factor_unit,
                    n(l.avoided.kg())
                );
            }
            let _ = writeln!(
                o,
                "{}total avoided: {} tCO2e (≈ {} tree-years at 22 kg/yr; ≈ {} car-years at 4.6 t/yr)",
                if markdown { "- " } else { "  " },
                n(a.total.tonnes()),
                n(round(a.tree_years, 1)),
                n(round(a.car_years, 2))
            );
        }
    }
}

fn trunc(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}
