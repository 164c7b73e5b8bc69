//! Avoided emissions by the substitution method, reported outside Scope 1–3.
//!
//! avoided = Σ massᵢ × (EF of the displaced baseline − EF of the activity)
//! (GHGP-S3 §9; carbon.md §6). The seed's reuse/upcycling/recycling factors (3.0, 2.5,
//! 2.1 kgCO2e/kg) are net avoided values per kg with no external anchor, kept as
//! configuration in `esg_avoided_defaults.csv`. These figures are never added to or
//! subtracted from the inventory: [`crate::scope3::calc::Report::total`] excludes them.

use crate::scope3::RowRef;
use crate::scope3::factors::{Factor, FactorLibrary, Per, RangeChoice};
use crate::scope3::ledger::{AvoidedRow, RowProblem};
use crate::scope3::units::{Emissions, convert};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;
use std::sync::Arc;

/// kg CO2 a mature tree absorbs per year (commonly cited ≈ 48 lb; seed 002 via USDA).
pub const TREE_KG_PER_YEAR: Decimal = dec!(22);
/// t CO2 a typical passenger vehicle emits per year (US EPA; seed 002).
pub const CAR_T_PER_YEAR: Decimal = dec!(4.6);

/// One avoided-emission line.
#[derive(Debug, Clone, Serialize)]
pub struct AvoidedLine {
    pub row: RowRef,
    pub description: Arc<str>,
    pub pathway: Option<String>,
    pub quantity: Decimal,
    pub quantity_unit: String,
    pub baseline_factor_id: Arc<str>,
    pub baseline_factor: Decimal,
    pub activity_factor_id: Option<Arc<str>>,
    pub activity_factor: Decimal,
    pub factor_unit: String,
    pub avoided: Emissions,
}

/// Avoided emissions with public-communication equivalences.
#[derive(Debug, Clone, Serialize)]
pub struct AvoidedReport {
    pub lines: Vec<AvoidedLine>,
    pub total: Emissions,
    /// total kg ÷ 22 kg per tree-year.
    pub tree_years: Decimal,
    /// total t ÷ 4.6 t per car-year.
    pub car_years: Decimal,
    pub note: &'static str,
}

/// Calculates avoided emissions; returns every row problem on failure.
pub fn calculate(
    rows: &[AvoidedRow],
    lib: &FactorLibrary,
    range: RangeChoice,
) -> Result<AvoidedReport, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for r in rows {
        let mut bad = |col: &str, m: String| {
            problems.push(RowProblem {
                file: r.row.file.to_string(),
                line: r.row.line,
                position: None,
                column: Some(col.into()),
                message: m,
            })
        };
        let Some(base) = lib.get(&r.baseline_factor_id) else {
            bad(
                "baseline_factor_id",
                format!("unknown factor id `{}`", r.baseline_factor_id),
            );
            continue;
        };
        let act = match &r.activity_factor_id {
            Some(id) => match lib.get(id) {
                Some(f) => Some(f),
                None => {
                    bad("activity_factor_id", format!("unknown factor id `{id}`"));
                    continue;
                }
            },
            None => None,
        };
        let Per::Unit(bu) = base.per else {
            bad(
                "baseline_factor_id",
                format!("factor `{}` is per {}, not per mass", base.id, base.per),
            );
            continue;
        };
        let qty = match convert(r.quantity.value, r.quantity.unit, bu) {
            Ok(q) => q,
            Err(e) => {
                bad("unit", e.to_string());
                continue;
            }
        };
        let to_kg_per = |f: &Factor| -> Result<Decimal, String> {
            let v = f.pick(range).map_err(|e| e.to_string())?;
            let Per::Unit(u) = f.per else {
                return Err(format!("factor `{}` is not per a physical unit", f.id));
            };
            // value per 1 `u` → per 1 `bu`
            let per_bu = convert(Decimal::ONE, bu, u).map_err(|e| e.to_string())? * v;
            Ok(f.numerator.emissions(per_bu).kg())
        };
        let b = match to_kg_per(base) {
            Ok(v) => v,
            Err(m) => {
                bad("baseline_factor_id", m);
                continue;
            }
        };
        let a = match act.map(to_kg_per) {
            None => Decimal::ZERO,
            Some(Ok(v)) => v,
            Some(Err(m)) => {
                bad("activity_factor_id", m);
                continue;
            }
        };
        lines.push(AvoidedLine {
            row: r.row.clone(),
            description: r.description.clone(),
            pathway: r.pathway.clone(),
            quantity: qty,
            quantity_unit: bu.to_string(),
            baseline_factor_id: base.id.clone(),
            baseline_factor: b,
            activity_factor_id: act.map(|f| f.id.clone()),
            activity_factor: a,
            factor_unit: format!("kgCO2e/{bu}"),
            avoided: Emissions::from_kg(qty * (b - a)),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let total: Emissions = lines.iter().map(|l| l.avoided).sum();
    Ok(AvoidedReport {
        tree_years: total.kg() / TREE_KG_PER_YEAR,
        car_years: total.tonnes() / CAR_T_PER_YEAR,
        lines,
        total,
        note: "avoided emissions (substitution method) are reported separately and never netted against Scope 1, 2 or 3",
    })
}
