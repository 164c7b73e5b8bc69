//! Scope 3 categories 1–9 per the GHG Protocol method hierarchy.
//!
//! Categories 1 and 2: supplier-specific (quantity × the supplier's PACT PCF per
//! declared unit) first, then average-data (quantity × cradle-to-gate factor), then
//! spend-based (2022 USD × EPA factor). Category 2 counts everything in the year of
//! acquisition (GHGP-S3) and the amortised figure is only a labelled management view.
//! Categories 4 and 9 (downstream transportation and distribution, GHGP-S3 ch. 5, the same
//! row shape): a received iLEAP shipment footprint for the row's `shipment_id` first
//! (supplier-specific primary data: the carrier's ISO 14083 well-to-wheel figure), then
//! distance-based (t·km × mode factor). The primary-data share counts every
//! supplier-specific line.
//! Every row problem is collected; one bad row fails the whole calculation.

use crate::scope3::avoided::{self, AvoidedReport};
use crate::scope3::factors::{
    Factor, FactorError, FactorLibrary, FactorSet, Per, RangeChoice, Source,
};
use crate::scope3::ledger::{
    CurrencyRate, EnergyType, Ledger, PriceBasis, PurchaseRow, ReadLedger, RowProblem,
};
use crate::scope3::supplier::{ShipmentHit, ShipmentPcf, SupplierIndex, SupplierPcf};
use crate::scope3::units::{Co2eUnit, Emissions, Unit, convert};
use crate::scope3::{Category, Dqi, GwpSet, RowRef, lower};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Calculation errors; `Rows` lists every problem of the ledger: rows that could not be
/// calculated and, through [`calculate_read`], rows that failed validation.
#[derive(Debug, Error)]
pub enum CalcError {
    #[error("{} ledger problem(s):\n{}", .0.len(), crate::scope3::ledger::list(.0))]
    Rows(Vec<RowProblem>),
    #[error("factor library: {0}")]
    Factors(#[from] FactorError),
}

/// Calculation method of a result line (GHGP-TG names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Method {
    SupplierSpecific,
    AverageData,
    SpendBased,
    DistanceBased,
    WasteTypeSpecific,
    AssetSpecific,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Options of one report run.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Reporting year: filters category 2 by acquisition year and sets temporal DQRs.
    pub year: Option<i32>,
    /// Low (default, the guide's worked examples) or High (conservative) end of ranges.
    pub range_choice: RangeChoice,
    /// Exclude category 8 for companies that report leased assets in Scope 1/2 under
    /// the Korean ETS (the seed guide: counting them again in Scope 3 double counts).
    pub exclude_category_8: bool,
    /// User factor sets; they win key lookups over the shipped sets.
    pub extra_factor_sets: Vec<FactorSet>,
    /// The reporting company's country (ISO 3166-1), used for geographical DQRs.
    pub company_country: String,
    /// Exchange rates and deflators to 2022 USD, in addition to the ledger's.
    pub currency_rates: Vec<CurrencyRate>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            year: None,
            range_choice: RangeChoice::Low,
            exclude_category_8: false,
            extra_factor_sets: Vec::new(),
            company_country: "KR".into(),
            currency_rates: Vec::new(),
        }
    }
}

/// One calculated emission line with full provenance.
#[derive(Debug, Clone, Serialize)]
pub struct ResultLine {
    pub category: Category,
    pub sub_activity: &'static str,
    pub description: Arc<str>,
    pub row: RowRef,
    /// Activity in the factor's denominator unit (after any explicit conversion).
    pub quantity: Decimal,
    pub quantity_unit: Per,
    /// The original activity and the conversion applied, when the units differed.
    pub conversion: Option<String>,
    pub factor_id: Arc<str>,
    pub factor_value: Decimal,
    pub factor_numerator: Co2eUnit,
    pub factor_per: Per,
    /// Which end of a published range was used, when the factor has one.
    pub range_end: Option<RangeChoice>,
    pub source: Arc<Source>,
    pub gwp: GwpSet,
    pub method: Method,
    pub emissions: Emissions,
    pub primary: bool,
    pub dqi: Dqi,
    pub note: Option<Cow<'static, str>>,
}

impl ResultLine {
    pub fn factor_unit(&self) -> String {
        format!("{}/{}", self.factor_numerator.as_str(), self.factor_per)
    }
}

/// Totals of one category.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryTotal {
    pub category: Category,
    pub number: u8,
    pub name: &'static str,
    pub emissions: Emissions,
    pub primary: Emissions,
    pub lines: usize,
    pub excluded: Option<String>,
}

/// Category 2 amortised over the asset life: a management view, not GHG Protocol.
#[derive(Debug, Clone, Serialize)]
pub struct AmortisedLine {
    pub row: RowRef,
    pub description: Arc<str>,
    pub acquisition_year: i32,
    pub lifetime_years: u32,
    pub cradle_to_gate: Emissions,
    pub annual: Emissions,
    pub first_year: i32,
    pub last_year: i32,
    /// Whether the reporting year (if any) falls inside the amortisation window.
    pub in_reporting_year: bool,
    /// Whether the full amount is in this report's GHGP category 2 (year of acquisition).
    pub counted_in_ghgp: bool,
}

/// The Scope 3 report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub year: Option<i32>,
    pub range_choice: RangeChoice,
    pub company_country: String,
    pub lines: Vec<ResultLine>,
    pub categories: Vec<CategoryTotal>,
    pub total: Emissions,
    /// Supplier-specific emissions ÷ total, in percent (GHGP-S3 disclosure).
    pub primary_data_share_pct: Option<Decimal>,
    /// Emission-weighted DQI over all lines.
    pub dqi: Option<Dqi>,
    pub gwp_sets: Vec<GwpSet>,
    pub capital_goods_management_view: Vec<AmortisedLine>,
    /// Sum of `annual` over assets whose window includes the reporting year.
    pub capital_goods_management_view_total: Emissions,
    /// Reported separately; never netted against Scope 1–3.
    pub avoided: Option<AvoidedReport>,
}

/// Calculates what a read ledger holds and reports every problem of the import in one run:
/// the rows that failed validation and the valid rows that could not be calculated (a
/// missing factor, supplier footprint or exchange rate), in file and line order.
pub fn calculate_read(
    read: &ReadLedger,
    factors: &FactorLibrary,
    suppliers: &SupplierIndex,
    opts: &ReportOptions,
) -> Result<Report, CalcError> {
    let calculated = calculate(&read.ledger, factors, suppliers, opts);
    if read.problems.is_empty() {
        return calculated;
    }
    let mut problems = read.problems.clone();
    match calculated {
        Ok(_) => {}
        Err(CalcError::Rows(mut more)) => problems.append(&mut more),
        Err(e) => return Err(e),
    }
    // Stable: the problems of one row keep their column order.
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Err(CalcError::Rows(problems))
}

/// Calculates categories 1–9 from a ledger.
pub fn calculate(
    ledger: &Ledger,
    factors: &FactorLibrary,
    suppliers: &SupplierIndex,
    opts: &ReportOptions,
) -> Result<Report, CalcError> {
    let owned;
    let lib = if opts.extra_factor_sets.is_empty() {
        factors
    } else {
        owned = factors.with_extra(&opts.extra_factor_sets)?;
        &owned
    };
    let new_cx = |cap: usize| Cx::<'_> {
        lib,
        suppliers,
        opts,
        rates: ledger
            .currency_rates
            .iter()
            .chain(opts.currency_rates.iter())
            .collect(),
        lines: Vec::with_capacity(cap),
        problems: Vec::new(),
        spend_cache: HashMap::new(),
        material_cache: HashMap::new(),
    };
    let purchases = &ledger.purchases;
    let others = ledger.capital_goods.len()
        + ledger.energy.len() * 3
        + ledger.transport.len()
        + ledger.downstream_transport.len()
        + ledger.waste.len()
        + ledger.travel.len()
        + ledger.commuting.len()
        + ledger.leased_assets.len();
    // Category 1 dominates large ledgers: each row yields exactly one line (or a
    // problem, which fails the run), so two threads fill disjoint halves of one
    // preallocated buffer; no copy, order kept.
    let mut slots: Vec<Option<ResultLine>> = Vec::with_capacity(purchases.len() + others);
    slots.resize_with(purchases.len(), || None);
    let half = if purchases.len() >= 100_000 {
        purchases.len() / 2
    } else {
        purchases.len()
    };
    let (rows_a, rows_b) = purchases.split_at(half);
    let (slots_a, slots_b) = slots.split_at_mut(half);
    let mut cx = new_cx(0);
    let tail = std::thread::scope(|sc| {
        let h = (!rows_b.is_empty()).then(|| {
            sc.spawn(|| {
                let mut c2 = new_cx(0);
                fill(&mut c2, rows_b, slots_b);
                c2.problems
            })
        });
        fill(&mut cx, rows_a, slots_a);
        h.map(|h| h.join().expect("category 1 worker"))
    });
    if let Some(mut problems) = tail {
        cx.problems.append(&mut problems);
    }
    // Every slot is filled when there is no problem, and this collect reuses the buffer;
    // with problems the other categories still run, so one run reports them all.
    if cx.problems.is_empty() {
        cx.lines = slots
            .into_iter()
            .map(|o| o.expect("every category 1 slot is filled when there is no problem"))
            .collect();
    }
    cx.lines.reserve(others);
    let mut view = Vec::new();
    for c in &ledger.capital_goods {
        let Some(line) = cx.purchase(&c.purchase, Category::C2CapitalGoods) else {
            continue;
        };
        let last = c.acquisition_year + c.lifetime_years as i32 - 1;
        let counted = opts.year.is_none_or(|y| y == c.acquisition_year);
        view.push(AmortisedLine {
            row: line.row.clone(),
            description: line.description.clone(),
            acquisition_year: c.acquisition_year,
            lifetime_years: c.lifetime_years,
            cradle_to_gate: line.emissions,
            annual: Emissions::from_kg(line.emissions.kg() / Decimal::from(c.lifetime_years)),
            first_year: c.acquisition_year,
            last_year: last,
            in_reporting_year: opts
                .year
                .is_none_or(|y| (c.acquisition_year..=last).contains(&y)),
            counted_in_ghgp: counted,
        });
        if counted {
            cx.lines.push(line);
        }
    }
    for e in &ledger.energy {
        cx.energy(e);
    }
    for t in &ledger.transport {
        cx.transport(t, Category::C4UpstreamTransport);
    }
    for w in &ledger.waste {
        cx.waste(w);
    }
    for t in &ledger.travel {
        cx.travel(t);
    }
    for c in &ledger.commuting {
        cx.commuting(c);
    }
    if !opts.exclude_category_8 {
        for l in &ledger.leased_assets {
            cx.leased(l);
        }
    }
    for t in &ledger.downstream_transport {
        cx.transport(t, Category::C9DownstreamTransport);
    }
    let avoided = if ledger.avoided.is_empty() {
        None
    } else {
        match avoided::calculate(&ledger.avoided, lib, opts.range_choice) {
            Ok(a) => Some(a),
            Err(mut p) => {
                cx.problems.append(&mut p);
                None
            }
        }
    };
    if !cx.problems.is_empty() {
        ledger.locate(&mut cx.problems);
        return Err(CalcError::Rows(cx.problems));
    }
    let lines = cx.lines;
    let mut categories: Vec<CategoryTotal> = Category::ALL
        .iter()
        .map(|c| CategoryTotal {
            category: *c,
            number: c.number(),
            name: c.name(),
            emissions: Emissions::ZERO,
            primary: Emissions::ZERO,
            lines: 0,
            excluded: None,
        })
        .collect();
    if opts.exclude_category_8 {
        categories[7].excluded =
            Some("excluded: leased assets are reported in Scope 1/2 under the Korean ETS".into());
    }
    let mut gwp_sets = Vec::new();
    for l in &lines {
        let t = &mut categories[l.category as usize];
        t.emissions += l.emissions;
        t.lines += 1;
        if l.primary {
            t.primary += l.emissions;
        }
        if !gwp_sets.contains(&l.gwp) {
            gwp_sets.push(l.gwp);
        }
    }
    gwp_sets.sort();
    let total: Emissions = categories.iter().map(|c| c.emissions).sum();
    let primary: Emissions = categories.iter().map(|c| c.primary).sum();
    let primary_data_share_pct =
        (!total.is_zero()).then(|| primary.kg() * Decimal::ONE_HUNDRED / total.kg());
    let dqi = weighted_dqi(lines.iter().map(|l| (l.emissions.kg(), l.dqi)));
    let view_total = view
        .iter()
        .filter(|v| v.in_reporting_year)
        .map(|v| v.annual)
        .sum();
    Ok(Report {
        year: opts.year,
        range_choice: opts.range_choice,
        company_country: opts.company_country.clone(),
        lines,
        categories,
        total,
        primary_data_share_pct,
        dqi,
        gwp_sets,
        capital_goods_management_view: view,
        capital_goods_management_view_total: view_total,
        avoided,
    })
}

/// `sub_activity` of a line from a received iLEAP shipment footprint.
pub const SHIPMENT_METHOD: &str =
    "supplier-specific shipment footprint (iLEAP ShipmentFootprint, ISO 14083:2023 well-to-wheel)";

/// The line of a transport row whose shipment the carrier sent a footprint for: the
/// shipment's well-to-wheel kgCO2e in full (the carrier allocated its vehicles' emissions to
/// the shipment by t·km, ISO 14083 §13), shown as the carrier's t·km × its intensity.
fn shipment_line(
    t: &crate::scope3::ledger::TransportRow,
    category: Category,
    pcf: &SupplierPcf,
    s: &ShipmentPcf,
    year: Option<i32>,
) -> ResultLine {
    let intensity = if s.tkm.is_zero() {
        Decimal::ZERO
    } else {
        s.wtw_kg / s.tkm
    };
    let (dqi, note) = match pcf.dqi {
        Some(d) => (d, None),
        None => (
            Dqi::new(
                3,
                1,
                crate::scope3::factors::temporal_dqr(pcf.reference_year().unwrap_or(0), year),
            ),
            Some(Cow::Borrowed(
                "carrier gave no dqi: technological 3, geographical 1 (shipment-specific), temporal from the reference period",
            )),
        ),
    };
    ResultLine {
        category,
        sub_activity: SHIPMENT_METHOD,
        description: t.description.clone(),
        row: t.row.clone(),
        quantity: s.tkm,
        quantity_unit: Per::Unit(Unit::TonneKm),
        conversion: None,
        factor_id: Arc::from(format!("pcf:{}", pcf.footprint_id)),
        factor_value: intensity,
        factor_numerator: Co2eUnit::Kg,
        factor_per: Per::Unit(Unit::TonneKm),
        range_end: None,
        source: Arc::new(Source {
            set: "iLEAP ShipmentFootprint (PACT v3 extension)".into(),
            version: format!(
                "iLEAP 1.0.0, ISO 14083:2023; reference period to {}",
                pcf.reference_period_end
            ),
            source: format!(
                "footprint {} from carrier {}: shipment {}, {} TCEs, {} t·km, {} kgCO2e well-to-wheel",
                pcf.footprint_id,
                pcf.company_id,
                s.shipment_id,
                s.tces,
                s.tkm.normalize(),
                s.wtw_kg.normalize()
            ),
            licence: "shared under the data-space agreement".into(),
        }),
        gwp: pcf.gwp(),
        method: Method::SupplierSpecific,
        emissions: Emissions::from_kg(s.wtw_kg),
        primary: true,
        dqi,
        note,
    }
}

fn fill<'a>(cx: &mut Cx<'a>, rows: &'a [PurchaseRow], out: &mut [Option<ResultLine>]) {
    for (p, o) in rows.iter().zip(out.iter_mut()) {
        *o = cx.purchase(p, Category::C1PurchasedGoods);
    }
}

/// Emission-weighted DQI: Σ Eᵢ·dqrᵢ ÷ Σ Eᵢ per dimension (PACT "weighted average of
/// all inputs"); `None` when there are no emissions to weight by.
pub fn weighted_dqi(items: impl Iterator<Item = (Decimal, Dqi)>) -> Option<Dqi> {
    let (mut w, mut t, mut g, mut tm) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (e, d) in items {
        w += e;
        t += e * d.technological;
        g += e * d.geographical;
        tm += e * d.temporal;
    }
    (!w.is_zero()).then(|| Dqi {
        technological: t / w,
        geographical: g / w,
        temporal: tm / w,
    })
}

/// Lower-case slug used in factor keys ("Mixed Plastics" → "mixed-plastics").
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

struct Cx<'a> {
    lib: &'a FactorLibrary,
    suppliers: &'a SupplierIndex,
    opts: &'a ReportOptions,
    rates: Vec<&'a CurrencyRate>,
    lines: Vec<ResultLine>,
    problems: Vec<RowProblem>,
    /// Key lookups per (code, basis) and (material, unit), so a million rows do not
    /// build a million key strings.
    spend_cache: HashMap<(&'a str, PriceBasis), Option<&'a Factor>>,
    material_cache: HashMap<(&'a str, Unit), Option<&'a Factor>>,
}

/// Inputs of a database-factor line, before the factor is applied.
struct Activity<'r> {
    category: Category,
    sub_activity: &'static str,
    description: &'r Arc<str>,
    row: &'r RowRef,
    value: Decimal,
    unit: Unit,
    method: Method,
    geo: &'r str,
    note: Option<Cow<'static, str>>,
}

impl<'a> Cx<'a> {
    fn problem(&mut self, row: &RowRef, column: Option<&str>, message: String) {
        self.problems.push(RowProblem {
            file: row.file.to_string(),
            line: row.line,
            position: None,
            column: column.map(str::to_string),
            message,
        });
    }

    fn factor_by_id(&mut self, row: &RowRef, id: &str) -> Option<&'a Factor> {
        let f = self.lib.get(id);
        if f.is_none() {
            self.problem(row, Some("factor_id"), format!("unknown factor id `{id}`"));
        }
        f
    }

    /// Applies a unit-denominated factor to an activity quantity.
    fn apply(&mut self, a: Activity<'_>, f: &'a Factor) -> Option<ResultLine> {
        let Per::Unit(fu) = f.per else {
            self.problem(
                a.row,
                Some("factor_id"),
                format!(
                    "factor `{}` is per {}, not per a physical unit",
                    f.id, f.per
                ),
            );
            return None;
        };
        let qty = match convert(a.value, a.unit, fu) {
            Ok(q) => q,
            Err(e) => {
                self.problem(a.row, Some("factor_id"), format!("factor `{}`: {e}", f.id));
                return None;
            }
        };
        let value = match f.pick(self.opts.range_choice) {
            Ok(v) => v,
            Err(e) => {
                self.problem(a.row, Some("factor_id"), e.to_string());
                return None;
            }
        };
        let conversion = (a.unit != fu).then(|| {
            format!(
                "{} {} → {} {}",
                a.value.normalize(),
                a.unit,
                qty.normalize(),
                fu
            )
        });
        Some(ResultLine {
            category: a.category,
            sub_activity: a.sub_activity,
            description: a.description.clone(),
            row: a.row.clone(),
            quantity: qty,
            quantity_unit: Per::Unit(fu),
            conversion,
            factor_id: f.id.clone(),
            factor_value: value,
            factor_numerator: f.numerator,
            factor_per: f.per,
            range_end: f.high.map(|_| self.opts.range_choice),
            source: f.source.clone(),
            gwp: f.gwp,
            method: a.method,
            emissions: f.numerator.emissions(qty * value),
            primary: false,
            dqi: f.default_dqi(a.geo, self.opts.year),
            note: a.note,
        })
    }

    fn push(&mut self, l: Option<ResultLine>) {
        if let Some(l) = l {
            self.lines.push(l);
        }
    }

    /// Categories 1 and 2: supplier-specific → average-data → spend-based.
    fn purchase(&mut self, p: &'a PurchaseRow, category: Category) -> Option<ResultLine> {
        let geo = p
            .supplier_country
            .as_deref()
            .unwrap_or(&self.opts.company_country);
        let mut note = None;
        if let (Some(pid), Some(q)) = (&p.product_id, &p.quantity) {
            if let Some((pcf, source, fid, du)) = self.suppliers.lookup(pid) {
                if let Some(cid) = &p.supplier_company_id
                    && lower(cid) != lower(&pcf.company_id)
                {
                    self.problem(
                        &p.row,
                        Some("supplier_company_id"),
                        format!(
                            "product `{pid}` is in the inbox from `{}`, not `{cid}`",
                            pcf.company_id
                        ),
                    );
                    return None;
                }
                let Some(du) = du else {
                    self.problem(
                        &p.row,
                        Some("product_id"),
                        format!(
                            "supplier footprint {}: declared unit `{}` is not a known unit",
                            pcf.footprint_id, pcf.declared_unit
                        ),
                    );
                    return None;
                };
                let qty = match convert(q.value, q.unit, du) {
                    Ok(v) => v,
                    Err(e) => {
                        self.problem(
                            &p.row,
                            Some("unit"),
                            format!("quantity in {} cannot use supplier footprint {} declared per {} {}: {e}", q.unit, pcf.footprint_id, pcf.declared_unit_amount.normalize(), pcf.declared_unit),
                        );
                        return None;
                    }
                };
                if pcf.declared_unit_amount <= Decimal::ZERO {
                    self.problem(
                        &p.row,
                        Some("product_id"),
                        format!(
                            "supplier footprint {} has declared unit amount {}",
                            pcf.footprint_id, pcf.declared_unit_amount
                        ),
                    );
                    return None;
                }
                let per_unit = if pcf.declared_unit_amount == Decimal::ONE {
                    pcf.pcf_excluding_biogenic_uptake
                } else {
                    pcf.pcf_excluding_biogenic_uptake / pcf.declared_unit_amount
                };
                // keep quantity × PCF ÷ amount exact when the division does not terminate
                let per_unit_exact =
                    per_unit * pcf.declared_unit_amount == pcf.pcf_excluding_biogenic_uptake;
                let kg = if per_unit_exact {
                    qty * per_unit
                } else {
                    qty * pcf.pcf_excluding_biogenic_uptake / pcf.declared_unit_amount
                };
                let (dqi, dnote) = match pcf.dqi {
                    Some(d) => (d, None),
                    None => (
                        Dqi::new(
                            3,
                            1,
                            crate::scope3::factors::temporal_dqr(
                                pcf.reference_year().unwrap_or(0),
                                self.opts.year,
                            ),
                        ),
                        Some(
                            "supplier gave no dqi: technological 3, geographical 1 (site-specific), temporal from the reference period",
                        ),
                    ),
                };
                return Some(ResultLine {
                    category,
                    sub_activity: "supplier-specific product footprint",
                    description: p.description.clone(),
                    row: p.row.clone(),
                    quantity: qty,
                    quantity_unit: Per::Unit(du),
                    conversion: (q.unit != du)
                        .then(|| format!("{} → {} {}", q, qty.normalize(), du)),
                    factor_id: fid.clone(),
                    factor_value: per_unit,
                    factor_numerator: Co2eUnit::Kg,
                    factor_per: Per::Unit(du),
                    range_end: None,
                    source: source.clone(),
                    gwp: pcf.gwp(),
                    method: Method::SupplierSpecific,
                    emissions: Emissions::from_kg(kg),
                    primary: true,
                    dqi,
                    note: dnote.map(Cow::Borrowed),
                });
            }
            note = Some(Cow::Owned(format!(
                "no active supplier footprint for product `{pid}`"
            )));
        }
        // average-data
        if let Some(q) = &p.quantity {
            let f = match (&p.factor_id, &p.material) {
                (Some(id), _) => match self.lib.get(id) {
                    Some(f) if matches!(f.per, Per::Unit(_)) => Some(f),
                    Some(_) => None, // a spend factor: handled below
                    None => {
                        self.problem(
                            &p.row,
                            Some("factor_id"),
                            format!("unknown factor id `{id}`"),
                        );
                        return None;
                    }
                },
                (None, Some(m)) => {
                    let lib = self.lib;
                    let found = *self
                        .material_cache
                        .entry((&**m, q.unit))
                        .or_insert_with(|| {
                            lib.find(&format!("material:{}", slug(m)), Some(q.unit))
                        });
                    match found {
                        Some(f) => Some(f),
                        None if p.spend.is_some() => None,
                        None => {
                            self.problem(&p.row, Some("material"), format!("no average-data factor with key `material:{}` for a quantity in {}", slug(m), q.unit));
                            return None;
                        }
                    }
                }
                (None, None) => None,
            };
            if let Some(f) = f {
                let a = Activity {
                    category,
                    sub_activity: "average-data cradle-to-gate factor",
                    description: &p.description,
                    row: &p.row,
                    value: q.value,
                    unit: q.unit,
                    method: Method::AverageData,
                    geo,
                    note,
                };
                return self.apply(a, f);
            }
        }
        // spend-based
        if let Some(s) = &p.spend {
            let f = if let Some(id) = &p.factor_id {
                match self.lib.get(id) {
                    Some(f) => Some(f),
                    None => {
                        self.problem(
                            &p.row,
                            Some("factor_id"),
                            format!("unknown factor id `{id}`"),
                        );
                        return None;
                    }
                }
            } else {
                let basis = p.price_basis;
                let code = p
                    .naics
                    .as_deref()
                    .or(p.cpc.as_deref())
                    .or(p.hs.as_deref())
                    .unwrap_or_default();
                let lib = self.lib;
                let keys = || {
                    [
                        p.naics
                            .as_ref()
                            .map(|n| format!("naics:{n}:{}", basis.as_str())),
                        p.cpc.as_ref().map(|c| format!("cpc:{c}")),
                        p.hs.as_ref().map(|h| format!("hs:{h}")),
                    ]
                };
                let f = *self
                    .spend_cache
                    .entry((code, basis))
                    .or_insert_with(|| keys().iter().flatten().find_map(|k| lib.find(k, None)));
                if f.is_none() {
                    let tried: Vec<_> = keys().into_iter().flatten().collect();
                    self.problem(
                        &p.row,
                        Some("naics"),
                        format!("no spend factor for {}", tried.join(", ")),
                    );
                    return None;
                }
                f
            }?;
            let Per::Spend {
                currency: fc,
                year: fy,
            } = f.per
            else {
                self.problem(
                    &p.row,
                    Some("factor_id"),
                    format!("factor `{}` is per {}, not per spend", f.id, f.per),
                );
                return None;
            };
            let spend_per = Per::spend(&s.currency, s.year);
            let (amount, conversion) = if spend_per == Some(f.per) {
                (s.amount, None)
            } else if &fc == b"USD" && fy == 2022 {
                let rate = if s.currency == "USD" && s.year == 2022 {
                    None
                } else {
                    self.rates
                        .iter()
                        .find(|r| r.currency == s.currency && r.year == s.year)
                        .copied()
                };
                match rate {
                    Some(r) => {
                        let usd = s.amount * r.usd_per_unit * r.deflator_to_2022;
                        (
                            usd,
                            Some(format!(
                                "{} {} ({} prices) × {} USD/{} × deflator {} → {} USD2022",
                                s.amount.normalize(),
                                s.currency,
                                s.year,
                                r.usd_per_unit.normalize(),
                                s.currency,
                                r.deflator_to_2022.normalize(),
                                usd.normalize()
                            )),
                        )
                    }
                    None => {
                        self.problem(
                            &p.row,
                            Some("currency"),
                            format!(
                                "spend in {} at {} prices needs an explicit exchange rate and deflator to 2022 USD: add a currency_rates row ({}, {}, usd_per_unit, deflator_to_2022) or pass it in the report options",
                                s.currency, s.year, s.currency, s.year
                            ),
                        );
                        return None;
                    }
                }
            } else {
                self.problem(
                    &p.row,
                    Some("currency"),
                    format!(
                        "factor `{}` is per {}; spend in {} {} cannot be converted to it",
                        f.id, f.per, s.currency, s.year
                    ),
                );
                return None;
            };
            let value = match f.pick(self.opts.range_choice) {
                Ok(v) => v,
                Err(e) => {
                    self.problem(&p.row, Some("naics"), e.to_string());
                    return None;
                }
            };
            let note = match (note, p.price_basis) {
                (n, PriceBasis::Purchaser) => n,
                (Some(n), PriceBasis::Producer) => Some(Cow::Owned(format!("{n}; producer price"))),
                (None, PriceBasis::Producer) => Some(Cow::Borrowed("producer price")),
            };
            return Some(ResultLine {
                category,
                sub_activity: "spend-based EEIO factor",
                description: p.description.clone(),
                row: p.row.clone(),
                quantity: amount,
                quantity_unit: f.per,
                conversion,
                factor_id: f.id.clone(),
                factor_value: value,
                factor_numerator: f.numerator,
                factor_per: f.per,
                range_end: f.high.map(|_| self.opts.range_choice),
                source: f.source.clone(),
                gwp: f.gwp,
                method: Method::SpendBased,
                emissions: f.numerator.emissions(amount * value),
                primary: false,
                dqi: f.default_dqi(geo, self.opts.year),
                note,
            });
        }
        self.problem(
            &p.row,
            None,
            note.map(Cow::into_owned).unwrap_or_else(|| "no method applies to this row".into())
                + ", and the row has no average-data (quantity + material/factor_id) or spend-based (spend + naics/cpc/hs) fallback",
        );
        None
    }

    /// Category 3: upstream of fuels (WTT), upstream of electricity and T&D losses.
    fn energy(&mut self, e: &crate::scope3::ledger::EnergyRow) {
        let company = self.opts.company_country.clone();
        let geo = e.grid.as_deref().unwrap_or(&company);
        let mk = |sub: &'static str| Activity {
            category: Category::C3FuelEnergy,
            sub_activity: sub,
            description: &e.description,
            row: &e.row,
            value: e.quantity.value,
            unit: e.quantity.unit,
            method: Method::AverageData,
            geo,
            note: None,
        };
        if let Some(id) = &e.factor_id {
            let sub = match e.energy_type {
                EnergyType::Fuel => "(a) upstream of purchased fuels",
                _ => "(b) upstream of purchased electricity, heat or steam",
            };
            if let Some(f) = self.factor_by_id(&e.row, id) {
                let l = self.apply(mk(sub), f);
                self.push(l);
            }
            return;
        }
        match e.energy_type {
            EnergyType::Fuel => {
                let fuel = e.fuel.as_deref().unwrap_or_default();
                let key = format!("wtt-fuel:{}", slug(fuel));
                match self.lib.find(&key, Some(e.quantity.unit)) {
                    Some(f) => {
                        let l = self.apply(mk("(a) upstream of purchased fuels (well-to-tank)"), f);
                        self.push(l);
                    }
                    None => self.problem(&e.row, Some("fuel"), format!("no well-to-tank factor with key `{key}` for a quantity in {}; give factor_id", e.quantity.unit)),
                }
            }
            EnergyType::Electricity => {
                let g = e.grid.as_deref().unwrap_or_default();
                if let Some(f) = self
                    .lib
                    .find(&format!("upstream-electricity:{g}"), Some(e.quantity.unit))
                {
                    let l = self.apply(
                        mk("(b)+(c) upstream of electricity incl. T&D losses (combined factor)"),
                        f,
                    );
                    self.push(l);
                    return;
                }
                let parts = [
                    (
                        "wtt-electricity",
                        "(b) upstream of purchased electricity (well-to-tank of generation)",
                    ),
                    ("td", "(c) transmission and distribution losses"),
                    ("wtt-td", "(c) well-to-tank of T&D losses"),
                ];
                let mut any = false;
                for (k, sub) in parts {
                    if let Some(f) = self.lib.find(&format!("{k}:{g}"), Some(e.quantity.unit)) {
                        any = true;
                        let l = self.apply(mk(sub), f);
                        self.push(l);
                    }
                }
                if !any {
                    self.problem(&e.row, Some("grid"), format!("no upstream electricity factor for grid {g}: add a factor set with key upstream-electricity:{g} (or wtt-electricity:{g}, td:{g}, wtt-td:{g}) or give factor_id"));
                }
            }
            EnergyType::Heat | EnergyType::Steam => {}
        }
    }

    /// Categories 4 and 9: a received iLEAP shipment footprint for the row's shipment first
    /// (supplier-specific primary data, the carrier's ISO 14083 well-to-wheel total for the
    /// whole shipment), then distance-based (t·km × mode factor).
    fn transport(&mut self, t: &crate::scope3::ledger::TransportRow, category: Category) {
        let mut note = None;
        if let Some(sid) = &t.shipment_id {
            match self.suppliers.shipment(sid) {
                ShipmentHit::One(pcf, s) => {
                    self.lines
                        .push(shipment_line(t, category, pcf, s, self.opts.year));
                    return;
                }
                ShipmentHit::Ambiguous(carriers) => {
                    return self.problem(
                        &t.row,
                        Some("shipment_id"),
                        format!(
                            "shipment `{sid}` has active shipment footprints from several carriers ({}): shipment ids are the carrier's, so this row cannot say which",
                            carriers.join(", ")
                        ),
                    );
                }
                ShipmentHit::None => {
                    note = Some(format!(
                        "no received shipment footprint for shipment `{sid}`"
                    ));
                }
            }
        }
        let (mass, dist) = match (t.mass.to(Unit::Tonne), t.distance.to(Unit::Km)) {
            (Ok(m), Ok(d)) => (m, d),
            (Err(e), _) => return self.problem(&t.row, Some("mass_unit"), e.to_string()),
            (_, Err(e)) => return self.problem(&t.row, Some("distance_unit"), e.to_string()),
        };
        let f = match (&t.factor_id, &t.mode) {
            (Some(id), _) => self.factor_by_id(&t.row, id),
            (None, Some(m)) => {
                let key = format!("transport:{}", slug(m));
                let f = self.lib.find(&key, Some(Unit::TonneKm));
                if f.is_none() {
                    self.problem(&t.row, Some("mode"), format!("no tonne.km factor with key `{key}` (truck, rail, ship, air); give factor_id"));
                }
                f
            }
            (None, None) => None,
        };
        let Some(f) = f else { return };
        let company = self.opts.company_country.clone();
        let conversion = (t.mass.unit != Unit::Tonne || t.distance.unit != Unit::Km).then(|| {
            format!(
                "{} × {} → {} t × {} km",
                t.mass,
                t.distance,
                mass.normalize(),
                dist.normalize()
            )
        });
        let note = match (note, conversion) {
            (Some(a), Some(b)) => Some(Cow::Owned(format!("{a}; {b}"))),
            (a, b) => a.or(b).map(Cow::Owned),
        };
        let a = Activity {
            category,
            sub_activity: "distance-based freight (t·km × mode factor)",
            description: &t.description,
            row: &t.row,
            value: mass * dist,
            unit: Unit::TonneKm,
            method: Method::DistanceBased,
            geo: t.country.as_deref().unwrap_or(&company),
            note,
        };
        let l = self.apply(a, f);
        self.push(l);
    }

    fn waste(&mut self, w: &crate::scope3::ledger::WasteRow) {
        let f = match &w.factor_id {
            Some(id) => self.factor_by_id(&w.row, id),
            None => {
                let key = format!("waste:{}:{}", slug(&w.waste_type), w.treatment);
                let f = self.lib.find(&key, Some(w.quantity.unit));
                if f.is_none() {
                    self.problem(
                        &w.row,
                        Some("waste_type"),
                        format!("no waste factor with key `{key}`; give factor_id"),
                    );
                }
                f
            }
        };
        let Some(f) = f else { return };
        let company = self.opts.company_country.clone();
        let a = Activity {
            category: Category::C5Waste,
            sub_activity: match w.treatment.as_str() {
                "recycled" => "waste recycled",
                "landfilled" => "waste landfilled",
                "combusted" => "waste incinerated",
                "composted" => "waste composted",
                _ => "waste anaerobic digestion",
            },
            description: &w.description,
            row: &w.row,
            value: w.quantity.value,
            unit: w.quantity.unit,
            method: Method::WasteTypeSpecific,
            geo: &company,
            note: None,
        };
        let l = self.apply(a, f);
        self.push(l);
    }

    fn travel_factor(
        &mut self,
        row: &RowRef,
        factor_id: &Option<String>,
        mode: &str,
    ) -> Option<&'a Factor> {
        match factor_id {
            Some(id) => self.factor_by_id(row, id),
            None => {
                let key = format!("travel:{}", slug(mode));
                let f = self.lib.find(&key, Some(Unit::PassengerKm));
                if f.is_none() {
                    self.problem(
                        row,
                        Some("mode"),
                        format!("no passenger.km factor with key `{key}`; give factor_id"),
                    );
                }
                f
            }
        }
    }

    fn travel(&mut self, t: &crate::scope3::ledger::TravelRow) {
        let km = match t.distance.to(Unit::Km) {
            Ok(k) => k,
            Err(e) => return self.problem(&t.row, Some("distance_unit"), e.to_string()),
        };
        let Some(f) = self.travel_factor(&t.row, &t.factor_id, &t.mode) else {
            return;
        };
        let company = self.opts.company_country.clone();
        let a = Activity {
            category: Category::C6BusinessTravel,
            sub_activity: "distance-based travel (passenger·km × mode factor)",
            description: &t.description,
            row: &t.row,
            value: t.passengers * km,
            unit: Unit::PassengerKm,
            method: Method::DistanceBased,
            geo: &company,
            note: Some(Cow::Owned(format!(
                "{} passengers × {}",
                t.passengers.normalize(),
                t.distance
            ))),
        };
        let l = self.apply(a, f);
        self.push(l);
    }

    /// Employees × share × daily distance (×2 when one-way) × working days × factor.
    fn commuting(&mut self, c: &crate::scope3::ledger::CommutingRow) {
        let km = match c.distance_per_day.to(Unit::Km) {
            Ok(k) => k,
            Err(e) => return self.problem(&c.row, Some("distance_unit"), e.to_string()),
        };
        let trips = match c.basis {
            crate::scope3::ledger::DistanceBasis::OneWay => dec!(2),
            crate::scope3::ledger::DistanceBasis::RoundTrip => Decimal::ONE,
        };
        let Some(f) = self.travel_factor(&c.row, &c.factor_id, &c.mode) else {
            return;
        };
        let pkm = c.employees * c.share_pct / Decimal::ONE_HUNDRED * km * trips * c.working_days;
        let company = self.opts.company_country.clone();
        let a = Activity {
            category: Category::C7Commuting,
            sub_activity: "average-data commuting (employees × mode share × daily km × days)",
            description: &c.description,
            row: &c.row,
            value: pkm,
            unit: Unit::PassengerKm,
            method: Method::AverageData,
            geo: &company,
            note: Some(Cow::Owned(format!(
                "{} employees × {} % × {} {} per day{} × {} days",
                c.employees.normalize(),
                c.share_pct.normalize(),
                c.distance_per_day.value.normalize(),
                c.distance_per_day.unit,
                if trips == Decimal::ONE {
                    " (round trip)"
                } else {
                    " one-way × 2"
                },
                c.working_days.normalize()
            ))),
        };
        let l = self.apply(a, f);
        self.push(l);
    }

    fn leased(&mut self, l: &crate::scope3::ledger::LeasedRow) {
        let company = self.opts.company_country.clone();
        let geo = l.grid.as_deref().unwrap_or(&company);
        let note = l
            .area_m2
            .map(|a| Cow::Owned(format!("{} m2", a.normalize())));
        if let Some(q) = &l.quantity {
            let f = match (&l.factor_id, l.energy_type) {
                (Some(id), _) => self.factor_by_id(&l.row, id),
                (None, Some(EnergyType::Electricity)) => {
                    let g = l.grid.as_deref().unwrap_or_default();
                    let f = self.lib.find(&format!("grid:{g}"), Some(q.unit));
                    if f.is_none() {
                        self.problem(
                            &l.row,
                            Some("grid"),
                            format!("no grid factor with key `grid:{g}`; give factor_id"),
                        );
                    }
                    f
                }
                (None, _) => {
                    self.problem(
                        &l.row,
                        Some("factor_id"),
                        "required for leased-asset fuel, heat or steam".into(),
                    );
                    None
                }
            };
            let Some(f) = f else { return };
            let a = Activity {
                category: Category::C8UpstreamLeased,
                sub_activity: "asset-specific (metered energy × factor)",
                description: &l.description,
                row: &l.row,
                value: q.value,
                unit: q.unit,
                method: Method::AssetSpecific,
                geo,
                note,
            };
            let line = self.apply(a, f);
            self.push(line);
        } else if let (Some(area), Some(id)) = (l.area_m2, &l.factor_id) {
            let Some(f) = self.factor_by_id(&l.row, id) else {
                return;
            };
            let a = Activity {
                category: Category::C8UpstreamLeased,
                sub_activity: "average-data (floor area × factor)",
                description: &l.description,
                row: &l.row,
                value: area,
                unit: Unit::SquareMetre,
                method: Method::AverageData,
                geo,
                note: None,
            };
            let line = self.apply(a, f);
            self.push(line);
        }
    }
}
