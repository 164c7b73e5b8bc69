//! The company's own inventory: Scope 1 (stationary, mobile, fugitive) and Scope 2
//! (location-based and market-based) from activity ledgers, month by month, per department
//! and team.
//!
//! Pipeline: [`ledger`] (validated CSVs: fuel, purchased energy, refrigerants, contractual
//! instruments) + [`FactorLibrary`] (the shipped sets: DESNZ 2024 fuels, heat and refrigerants,
//! the Korean grid factor, IPCC AR6 refrigerant GWPs) → [`calculate`] → [`Inventory`], whose
//! lines each carry their method, factor id, factor value and source, and whose monthly totals
//! become KPI measures ([`Inventory::measures`]) instead of hand-typed totals.
//!
//! Scope 2 follows the GHG Protocol Scope 2 Guidance (2015): the location-based figure uses the
//! grid-average factor of the site's grid (§6.2); the market-based figure uses contractual
//! instruments that meet the Scope 2 Quality Criteria (Table 7.1; checked here: retired for the
//! reporting company, issued in the same market as the consumption, vintage of the same
//! reporting year), then a residual mix (`residual-mix:<grid>` from a user factor set), and when
//! no residual mix is available the location-based grid average, recorded on the figure as
//! [`Method::MarketGridFallback`] (Guidance §6.11.3 allows it and asks that it be disclosed).

pub mod ledger;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;

use serde::Serialize;

use crate::kpi::{Measures, Period};
use crate::scope3::factors::{Factor, FactorLibrary, Per, Source};
use crate::scope3::ledger::{LedgerError, RowProblem};
use crate::scope3::units::{Dimension, Emissions, Quantity, Unit, convert};
use crate::scope3::{GwpSet, RowRef};

pub use ledger::{
    EnergyKind, EnergyRow, FuelRow, FuelUse, InstrumentKind, InstrumentRow, InventoryLedger,
    OrgUnit, ReadInventory, RefrigerantRow, read_inventory_dir, read_inventory_text,
};

/// Which part of the inventory a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Scope 1: fuel burnt in fixed installations (boilers, generators).
    Scope1Stationary,
    /// Scope 1: fuel burnt in the company's vehicles.
    Scope1Mobile,
    /// Scope 1: refrigerant released.
    Scope1Fugitive,
    /// Scope 2, location-based.
    Scope2Location,
    /// Scope 2, market-based.
    Scope2Market,
}

/// How a line's figure was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Fuel quantity × the fuel's combustion factor (GHG Protocol Corporate Standard, fuel-based).
    FuelBased,
    /// Mass released × the gas's GWP-100 (GHG Protocol, HFC/PFC screening and mass balance).
    MassReleasedTimesGwp,
    /// Energy × grid-average factor of the site's grid.
    GridAverage,
    /// Energy × a factor the ledger named (heat, steam, or an override).
    NamedFactor,
    /// Energy covered by a qualifying contractual instrument × the instrument's factor.
    Instrument(InstrumentKind),
    /// Energy not covered by an instrument × the residual mix of the grid.
    ResidualMix,
    /// Energy not covered by an instrument, no residual mix available: × the grid average.
    MarketGridFallback,
}

/// The factor behind a figure, with its provenance.
#[derive(Debug, Clone, Serialize)]
pub struct FactorUse {
    pub id: Arc<str>,
    pub value: Decimal,
    /// e.g. `kgCO2e/litre`.
    pub unit: Arc<str>,
    pub gwp: GwpSet,
    pub source: Arc<Source>,
}

/// One figure: an activity row's emissions under one category.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub row: RowRef,
    pub month: Period,
    pub org: OrgUnit,
    /// Vehicle or site.
    pub asset: Arc<str>,
    pub category: Category,
    pub method: Method,
    /// The activity in the factor's denominator unit.
    pub activity: Decimal,
    pub factor: FactorUse,
    pub emissions: Emissions,
    /// A conversion applied, or why a fallback was used.
    pub note: Option<Arc<str>>,
}

/// What became of a contractual instrument.
#[derive(Debug, Clone, Serialize)]
pub struct InstrumentUse {
    pub id: Arc<str>,
    pub row: RowRef,
    pub kind: InstrumentKind,
    pub applied_kwh: Decimal,
    /// kWh the instrument held beyond the qualifying consumption (not carried to another year).
    pub unused_kwh: Decimal,
    /// Why it was not applied at all (a Scope 2 quality criterion it fails).
    pub rejected: Option<String>,
}

/// The monthly totals of one department and team (or of any grouping summed from them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub scope1_stationary: Emissions,
    pub scope1_mobile: Emissions,
    pub scope1_fugitive: Emissions,
    pub scope2_location: Emissions,
    pub scope2_market: Emissions,
    /// Fuel by volume (litres), mobile and stationary.
    pub fuel_litres: Decimal,
    pub electricity_kwh: Decimal,
    /// Electricity covered by zero-emission instruments (RECs, PPAs, green premium).
    pub renewable_kwh: Decimal,
}

impl Totals {
    pub fn scope1(&self) -> Emissions {
        self.scope1_stationary + self.scope1_mobile + self.scope1_fugitive
    }

    pub(crate) fn add(&mut self, o: &Totals) {
        self.scope1_stationary += o.scope1_stationary;
        self.scope1_mobile += o.scope1_mobile;
        self.scope1_fugitive += o.scope1_fugitive;
        self.scope2_location += o.scope2_location;
        self.scope2_market += o.scope2_market;
        self.fuel_litres += o.fuel_litres;
        self.electricity_kwh += o.electricity_kwh;
        self.renewable_kwh += o.renewable_kwh;
    }
}

/// The calculated inventory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub lines: Vec<Line>,
    pub instruments: Vec<InstrumentUse>,
    /// Totals per (month, department, team).
    pub monthly: BTreeMap<MonthKey, Totals>,
    /// Totals while [`calculate`] runs, before they are settled into `monthly`.
    #[serde(skip)]
    pending: Pending,
}

/// A month, department and team.
pub type MonthKey = (Period, Arc<str>, Arc<str>);

/// Running totals keyed by the identity of the (interned) department and team names: a row
/// adds to its totals without comparing or cloning strings. Two rows whose equal names are
/// different allocations get two entries, which [`Inventory::settle`] adds together.
#[derive(Debug, Clone, Default)]
struct Pending {
    index: HashMap<(Period, usize, usize), usize, foldhash::fast::RandomState>,
    totals: Vec<(MonthKey, Totals)>,
}

/// The KPI measures the inventory feeds and the unit each is in (declared in
/// `kpi/logistics.toml`; a framework that declares one must declare it in this unit).
pub const MEASURES: [(&str, &str); 6] = [
    ("scope1_kg", "kgCO2e"),
    ("scope2_kg", "kgCO2e"),
    ("scope2_market_kg", "kgCO2e"),
    ("fuel_l", "L"),
    ("electricity_kwh", "kWh"),
    ("renewable_kwh", "kWh"),
];

impl Totals {
    /// The values of [`MEASURES`], in their order and units: Scope 2 location-based as
    /// `scope2_kg`.
    pub fn measure_values(&self) -> [Decimal; 6] {
        [
            self.scope1().kg(),
            self.scope2_location.kg(),
            self.scope2_market.kg(),
            self.fuel_litres,
            self.electricity_kwh,
            self.renewable_kwh,
        ]
    }
}

impl Inventory {
    /// Totals per month over the departments `keep` accepts (all: `|_, _| true`).
    pub fn by_month(&self, keep: impl Fn(&str, &str) -> bool) -> BTreeMap<Period, Totals> {
        let mut out: BTreeMap<Period, Totals> = BTreeMap::new();
        for ((month, dept, team), t) in &self.monthly {
            if keep(dept, team) {
                out.entry(*month).or_default().add(t);
            }
        }
        out
    }

    /// Totals per calendar year over every department.
    pub fn by_year(&self) -> BTreeMap<i32, Totals> {
        let mut out: BTreeMap<i32, Totals> = BTreeMap::new();
        for ((month, _, _), t) in &self.monthly {
            out.entry(month.calendar_year()).or_default().add(t);
        }
        out
    }

    /// Totals per department per month.
    pub fn by_department(&self) -> BTreeMap<Arc<str>, BTreeMap<Period, Totals>> {
        let mut out: BTreeMap<Arc<str>, BTreeMap<Period, Totals>> = BTreeMap::new();
        for ((month, dept, _), t) in &self.monthly {
            out.entry(dept.clone())
                .or_default()
                .entry(*month)
                .or_default()
                .add(t);
        }
        out
    }

    /// The monthly totals as the KPI measures [`MEASURES`], for one department, or all when
    /// `None`.
    pub fn measures(&self, department: Option<&str>) -> Measures {
        let mut m = Measures::new();
        let months = self.by_month(|d, _| department.is_none_or(|want| want == d));
        for (period, t) in months {
            for ((name, _), v) in MEASURES.iter().zip(t.measure_values()) {
                m.insert(period, name, v);
            }
        }
        m
    }
}

/// Shipped default factors for fuels, by the ledger's fuel name: UK DESNZ GHG conversion
/// factors 2024 (flat file v1.1), "Scope 1 | Fuels" rows, one id per unit the set publishes
/// (tonne, litre or m3, kWh net CV, kWh gross CV). Diesel and petrol are the average biofuel
/// blends DESNZ recommends when the blend is unknown.
const FUELS: &[(&str, &[&str])] = &[
    (
        "diesel",
        &[
            "desnz-2024:1_101_1011_8_1",
            "desnz-2024:1_101_1011_15_1",
            "desnz-2024:1_101_1011_7_1",
            "desnz-2024:1_101_1011_6_1",
        ],
    ),
    (
        "petrol",
        &[
            "desnz-2024:1_101_1017_8_1",
            "desnz-2024:1_101_1017_15_1",
            "desnz-2024:1_101_1017_7_1",
            "desnz-2024:1_101_1017_6_1",
        ],
    ),
    (
        "natural-gas",
        &[
            "desnz-2024:1_100_1004_1_1",
            "desnz-2024:1_100_1004_15_1",
            "desnz-2024:1_100_1004_7_1",
            "desnz-2024:1_100_1004_6_1",
        ],
    ),
    (
        "lpg",
        &[
            "desnz-2024:1_100_1003_8_1",
            "desnz-2024:1_100_1003_15_1",
            "desnz-2024:1_100_1003_7_1",
            "desnz-2024:1_100_1003_6_1",
        ],
    ),
    (
        "cng",
        &[
            "desnz-2024:1_100_1001_8_1",
            "desnz-2024:1_100_1001_15_1",
            "desnz-2024:1_100_1001_7_1",
            "desnz-2024:1_100_1001_6_1",
        ],
    ),
    (
        "gas-oil",
        &[
            "desnz-2024:1_101_1014_8_1",
            "desnz-2024:1_101_1014_15_1",
            "desnz-2024:1_101_1014_7_1",
            "desnz-2024:1_101_1014_6_1",
        ],
    ),
    (
        "fuel-oil",
        &[
            "desnz-2024:1_101_1013_8_1",
            "desnz-2024:1_101_1013_15_1",
            "desnz-2024:1_101_1013_7_1",
            "desnz-2024:1_101_1013_6_1",
        ],
    ),
];

/// Refrigerant GWPs by gas and GWP set: AR5 from DESNZ 2024 "Scope 1 | Refrigerant & other",
/// "Emissions including only Kyoto products" (AR5 GWP-100, as the GHG Protocol counts
/// Kyoto gases); AR6 from `refrigerants_ar6.csv` (IPCC AR6 WG1 Table 7.SM.7).
const REFRIGERANTS: &[(&str, &str, &str)] = &[
    ("hfc-32", "desnz-2024:3_200_2012_3_1", "ar6:hfc-32"),
    ("hfc-125", "desnz-2024:3_200_2018_3_1", "ar6:hfc-125"),
    ("hfc-134a", "desnz-2024:3_200_2024_3_1", "ar6:hfc-134a"),
    ("r-134a", "desnz-2024:3_200_2024_3_1", "ar6:hfc-134a"),
    ("r-32", "desnz-2024:3_200_2012_3_1", "ar6:hfc-32"),
    ("r-404a", "desnz-2024:3_201_2120_3_1", "ar6:r-404a"),
    ("r-407c", "desnz-2024:3_201_2135_3_1", "ar6:r-407c"),
    ("r-410a", "desnz-2024:3_201_2156_3_1", "ar6:r-410a"),
];

/// Grid-average and heat factors shipped for grids without a `grid:<country>` key:
/// DESNZ 2024 "Scope 2 | UK electricity | Electricity generated" and "Scope 2 | Heat and
/// steam | District heat and steam". The Korean grid is keyed `grid:KR` in guide_defaults.csv.
const GRID_IDS: &[(&str, &str)] = &[("GB", "desnz-2024:7_400_4000_5_1")];
const HEAT_IDS: &[(&str, &str)] = &[("GB", "desnz-2024:10_401_4003_5_1")];

/// Calculates the inventory; any row whose factor cannot be found is a problem, and with any
/// problem nothing is returned (no half-computed inventory).
pub fn calculate(
    ledger: &InventoryLedger,
    library: &FactorLibrary,
) -> Result<Inventory, LedgerError> {
    let mut problems = Vec::new();
    let mut inv = Inventory::default();
    // One line per fuel and refrigerant row, two (location- and market-based) per energy row.
    inv.lines
        .reserve(ledger.fuel.len() + ledger.refrigerants.len() + 2 * ledger.energy.len());
    let mut cache = FactorCache::default();

    // Consecutive rows mostly name the same fuel in the same unit: the last lookup is kept,
    // keyed by the identity of the (interned) name, which the ledger keeps alive.
    let mut last: Option<((bool, usize, Unit), &Factor, FactorUse)> = None;
    for r in &ledger.fuel {
        let memo_key = match (&r.factor_id, &r.fuel) {
            (Some(id), _) => Some((true, Arc::as_ptr(id).cast::<u8>() as usize, r.quantity.unit)),
            (None, Some(f)) => Some((false, Arc::as_ptr(f).cast::<u8>() as usize, r.quantity.unit)),
            (None, None) => None,
        };
        if let (Some(key), Some((k, factor, used))) = (memo_key, &last)
            && *k == key
        {
            fuel_line(&mut inv, r, factor, used.clone());
            continue;
        }
        let found = match &r.factor_id {
            Some(id) => named(library, id, r.quantity.unit).map_err(|m| ("factor_id", m)),
            None => {
                let fuel = r.fuel.as_deref().unwrap_or("");
                match FUELS.iter().find(|(n, _)| *n == fuel) {
                    None => Err((
                        "fuel",
                        format!(
                            "no shipped factor for fuel `{fuel}` (known: {}); give a factor_id",
                            FUELS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                    Some((_, ids)) => ids
                        .iter()
                        .filter_map(|id| library.get(id))
                        .find(|f| same_dimension(f, r.quantity.unit))
                        .ok_or_else(|| {
                            (
                                "unit",
                                format!(
                                    "no shipped `{fuel}` factor per {} (DESNZ 2024 gives litre or m3, tonne, kWh-net-cv, kWh-gross-cv)",
                                    r.quantity.unit
                                ),
                            )
                        }),
                }
            }
        };
        let factor = match found {
            Ok(f) => f,
            Err((column, message)) => {
                problems.push(problem(&r.row, column, message));
                continue;
            }
        };
        let used = cache.use_of(factor);
        if let Some(key) = memo_key {
            last = Some((key, factor, used.clone()));
        }
        fuel_line(&mut inv, r, factor, used);
    }

    for r in &ledger.refrigerants {
        let found = match &r.factor_id {
            Some(id) => named(library, id, r.released.unit).map_err(|m| ("factor_id", m)),
            None => REFRIGERANTS
                .iter()
                .find(|(gas, _, _)| *gas == &*r.gas)
                .and_then(|(_, ar5, ar6)| match r.gwp {
                    GwpSet::AR5 => library.get(ar5),
                    GwpSet::AR6 => library.get(ar6),
                    _ => None,
                })
                .ok_or_else(|| {
                    (
                        "gas",
                        format!(
                            "no shipped {} GWP for `{}` (shipped: {} in AR5 and AR6); give a factor_id",
                            r.gwp,
                            r.gas,
                            REFRIGERANTS.iter().map(|g| g.0).collect::<Vec<_>>().join(", ")
                        ),
                    )
                }),
        };
        let factor = match found {
            Ok(f) if f.gwp == r.gwp || r.factor_id.is_none() => f,
            Ok(f) => {
                problems.push(problem(
                    &r.row,
                    "gwp",
                    format!("the row says {} but factor `{}` is {}", r.gwp, f.id, f.gwp),
                ));
                continue;
            }
            Err((column, message)) => {
                problems.push(problem(&r.row, column, message));
                continue;
            }
        };
        let (activity, note) = in_factor_unit(r.released, factor);
        let emissions = factor.numerator.emissions(activity * value(factor));
        inv.totals(r.month, &r.org).scope1_fugitive += emissions;
        inv.lines.push(Line {
            row: r.row.clone(),
            month: r.month,
            org: r.org.clone(),
            asset: r.site.clone(),
            category: Category::Scope1Fugitive,
            method: Method::MassReleasedTimesGwp,
            activity,
            factor: cache.use_of(factor),
            emissions,
            note,
        });
    }

    scope2(ledger, library, &mut inv, &mut cache, &mut problems);
    inv.settle();

    if problems.is_empty() {
        Ok(inv)
    } else {
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        ledger.locate(&mut problems);
        Err(LedgerError::Invalid(problems))
    }
}

/// The Scope 1 line and totals of one fuel row, with its factor found.
fn fuel_line(inv: &mut Inventory, r: &FuelRow, factor: &Factor, used: FactorUse) {
    let (activity, note) = in_factor_unit(r.quantity, factor);
    let category = match r.fuel_use {
        FuelUse::Mobile => Category::Scope1Mobile,
        FuelUse::Stationary => Category::Scope1Stationary,
    };
    let emissions = factor.numerator.emissions(activity * value(factor));
    let t = inv.totals(r.month, &r.org);
    match category {
        Category::Scope1Mobile => t.scope1_mobile += emissions,
        _ => t.scope1_stationary += emissions,
    }
    // Vehicle fuel by volume feeds the fuel-efficiency KPI (km/L); boiler gas does not.
    if category == Category::Scope1Mobile && r.quantity.unit.dimension() == Dimension::Volume {
        t.fuel_litres +=
            convert(r.quantity.value, r.quantity.unit, Unit::Litre).unwrap_or_default();
    }
    inv.lines.push(Line {
        row: r.row.clone(),
        month: r.month,
        org: r.org.clone(),
        asset: r.asset.clone(),
        category,
        method: if r.factor_id.is_some() {
            Method::NamedFactor
        } else {
            Method::FuelBased
        },
        activity,
        factor: used,
        emissions,
        note,
    });
}

/// Location-based and market-based figures of every purchased-energy row.
fn scope2(
    ledger: &InventoryLedger,
    library: &FactorLibrary,
    inv: &mut Inventory,
    cache: &mut FactorCache,
    problems: &mut Vec<RowProblem>,
) {
    // Instruments: remaining kWh by (site, vintage year), in ledger order.
    struct Pool {
        index: usize,
        remaining: Decimal,
    }
    let mut pools: HashMap<(Arc<str>, i32), Vec<Pool>> = HashMap::new();
    for (index, i) in ledger.instruments.iter().enumerate() {
        let kwh = convert(i.quantity.value, i.quantity.unit, Unit::KWh).unwrap_or_default();
        let rejected = if !i.retired {
            Some(
                "not retired or cancelled for the reporting company (Scope 2 quality criterion 3)"
                    .to_string(),
            )
        } else if !ledger.energy.iter().any(|e| {
            e.kind == EnergyKind::Electricity
                && e.site == i.site
                && e.month.calendar_year() == i.vintage_year
                && e.grid == i.grid
        }) {
            Some(format!(
                "no electricity at site `{}` on the {} grid in {} (criteria 4 and 5: same market, vintage of the reporting year)",
                i.site, i.grid, i.vintage_year
            ))
        } else {
            None
        };
        if rejected.is_none() {
            pools
                .entry((i.site.clone(), i.vintage_year))
                .or_default()
                .push(Pool {
                    index,
                    remaining: kwh,
                });
        }
        inv.instruments.push(InstrumentUse {
            id: i.id.clone(),
            row: i.row.clone(),
            kind: i.kind,
            applied_kwh: Decimal::ZERO,
            unused_kwh: if rejected.is_some() {
                kwh
            } else {
                Decimal::ZERO
            },
            rejected,
        });
    }
    let instrument_source: Arc<Source> = Arc::new(Source {
        set: "contractual instruments".into(),
        version: String::new(),
        source: "the company's instruments ledger".into(),
        licence: "company data".into(),
    });

    // Allocate in time order so an instrument covers the earliest consumption first.
    let mut order: Vec<usize> = (0..ledger.energy.len()).collect();
    order.sort_by_key(|&i| ledger.energy[i].month);
    for i in order {
        let r = &ledger.energy[i];
        let kwh = convert(r.quantity.value, r.quantity.unit, Unit::KWh).unwrap_or_default();
        let location = match (&r.factor_id, r.kind) {
            (Some(id), _) => named(library, id, Unit::KWh).map(|f| (f, Method::NamedFactor)).map_err(|m| ("factor_id", m)),
            (None, EnergyKind::Electricity) => grid_factor(library, &r.grid)
                .map(|f| (f, Method::GridAverage))
                .ok_or_else(|| {
                    (
                        "grid",
                        format!(
                            "no shipped grid factor for `{}` (shipped: KR, GB); give a factor_id or a user set with key grid:{}",
                            r.grid, r.grid
                        ),
                    )
                }),
            (None, _) => HEAT_IDS
                .iter()
                .find(|(g, _)| *g == &*r.grid)
                .and_then(|(_, id)| library.get(id))
                .map(|f| (f, Method::GridAverage))
                .ok_or_else(|| {
                    (
                        "factor_id",
                        format!("heat and steam on the {} grid need the supplier's factor_id (shipped: GB)", r.grid),
                    )
                }),
        };
        let (factor, method) = match location {
            Ok(f) => f,
            Err((column, message)) => {
                problems.push(problem(&r.row, column, message));
                continue;
            }
        };
        let (activity, note) = in_factor_unit(Quantity::new(kwh, Unit::KWh), factor);
        let emissions = factor.numerator.emissions(activity * value(factor));
        let fuse = cache.use_of(factor);
        {
            let t = inv.totals(r.month, &r.org);
            t.scope2_location += emissions;
            if r.kind == EnergyKind::Electricity {
                t.electricity_kwh += kwh;
            }
        }
        let line = |category, method, activity, factor: FactorUse, emissions, note| Line {
            row: r.row.clone(),
            month: r.month,
            org: r.org.clone(),
            asset: r.site.clone(),
            category,
            method,
            activity,
            factor,
            emissions,
            note,
        };
        inv.lines.push(line(
            Category::Scope2Location,
            method,
            activity,
            fuse.clone(),
            emissions,
            note.clone(),
        ));

        // Market-based: instruments first (electricity only), then residual mix or fallback.
        let mut left = kwh;
        if r.kind == EnergyKind::Electricity
            && let Some(pool) = pools.get_mut(&(r.site.clone(), r.month.calendar_year()))
        {
            for p in pool.iter_mut() {
                let inst = &ledger.instruments[p.index];
                if left.is_zero() {
                    break;
                }
                if p.remaining.is_zero() || inst.grid != r.grid {
                    continue;
                }
                let take = left.min(p.remaining);
                p.remaining -= take;
                left -= take;
                inv.instruments[p.index].applied_kwh += take;
                let emissions = Emissions::from_kg(take * inst.factor_kg_per_kwh);
                let t = inv.totals(r.month, &r.org);
                t.scope2_market += emissions;
                if inst.factor_kg_per_kwh.is_zero() {
                    t.renewable_kwh += take;
                }
                let factor = FactorUse {
                    id: inst.id.clone(),
                    value: inst.factor_kg_per_kwh,
                    unit: Arc::from("kgCO2e/kWh"),
                    gwp: GwpSet::Unspecified,
                    source: instrument_source.clone(),
                };
                inv.lines.push(line(
                    Category::Scope2Market,
                    Method::Instrument(inst.kind),
                    take,
                    factor,
                    emissions,
                    Some(Arc::from(
                        format!("instrument {} ({})", inst.id, inst.row).as_str(),
                    )),
                ));
            }
        }
        if !left.is_zero() || kwh.is_zero() {
            let residual = if r.kind == EnergyKind::Electricity && r.factor_id.is_none() {
                library.find(&format!("residual-mix:{}", r.grid), Some(Unit::KWh))
            } else {
                None
            };
            let (factor, method, note) = match residual {
                Some(f) => (f, Method::ResidualMix, None),
                None if r.kind == EnergyKind::Electricity && r.factor_id.is_none() => (
                    factor,
                    Method::MarketGridFallback,
                    Some(Arc::from(
                        format!(
                            "no residual mix for the {} grid: the location-based grid average is used (GHG Protocol Scope 2 Guidance §6.11.3); it may count attributes others claimed",
                            r.grid
                        )
                        .as_str(),
                    )),
                ),
                None => (factor, method, note),
            };
            let (activity, conv) = in_factor_unit(Quantity::new(left, Unit::KWh), factor);
            let emissions = factor.numerator.emissions(activity * value(factor));
            inv.totals(r.month, &r.org).scope2_market += emissions;
            let fuse = cache.use_of(factor);
            inv.lines.push(line(
                Category::Scope2Market,
                method,
                activity,
                fuse,
                emissions,
                note.or(conv),
            ));
        }
    }
    for pool in pools.into_values() {
        for p in pool {
            inv.instruments[p.index].unused_kwh = p.remaining;
        }
    }
}

impl Inventory {
    fn totals(&mut self, month: Period, org: &OrgUnit) -> &mut Totals {
        let p = &mut self.pending;
        let key = (
            month,
            Arc::as_ptr(&org.department).cast::<u8>() as usize,
            Arc::as_ptr(&org.team).cast::<u8>() as usize,
        );
        let i = *p.index.entry(key).or_insert_with(|| {
            p.totals.push((
                (month, org.department.clone(), org.team.clone()),
                Totals::default(),
            ));
            p.totals.len() - 1
        });
        &mut p.totals[i].1
    }

    /// Moves the running totals into `monthly`.
    fn settle(&mut self) {
        for (key, t) in std::mem::take(&mut self.pending).totals {
            self.monthly.entry(key).or_default().add(&t);
        }
    }
}

/// The grid-average factor of a grid: a `grid:<country>` key (user sets first), else the
/// shipped table.
fn grid_factor<'a>(library: &'a FactorLibrary, grid: &str) -> Option<&'a Factor> {
    library
        .find(&format!("grid:{grid}"), Some(Unit::KWh))
        .or_else(|| {
            GRID_IDS
                .iter()
                .find(|(g, _)| *g == grid)
                .and_then(|(_, id)| library.get(id))
        })
}

/// A factor the ledger named by id, checked against the activity's unit.
fn named<'a>(library: &'a FactorLibrary, id: &str, unit: Unit) -> Result<&'a Factor, String> {
    let f = library
        .get(id)
        .ok_or_else(|| format!("unknown factor id `{id}`"))?;
    if !same_dimension(f, unit) {
        return Err(format!(
            "factor `{id}` is per {}, which does not fit an activity in {unit}",
            f.per
        ));
    }
    if f.value.is_none() && f.low.is_none() {
        return Err(format!(
            "factor `{id}` has no value in its source (not available)"
        ));
    }
    Ok(f)
}

fn same_dimension(f: &Factor, unit: Unit) -> bool {
    matches!(f.per, Per::Unit(u) if u.dimension() == unit.dimension()) && f.value.is_some()
}

fn value(f: &Factor) -> Decimal {
    f.value.or(f.low).unwrap_or_default()
}

/// The activity in the factor's denominator, and the conversion applied when units differ.
fn in_factor_unit(q: Quantity, f: &Factor) -> (Decimal, Option<Arc<str>>) {
    let Per::Unit(to) = f.per else {
        return (q.value, None);
    };
    if to == q.unit {
        return (q.value, None);
    }
    let v = convert(q.value, q.unit, to).unwrap_or(q.value);
    (
        v,
        Some(Arc::from(format!("{q} = {} {to}", v.normalize()).as_str())),
    )
}

fn problem(row: &RowRef, column: &str, message: String) -> RowProblem {
    RowProblem {
        file: row.file.to_string(),
        line: row.line,
        position: None,
        column: Some(column.to_string()),
        message,
    }
}

/// One `FactorUse` per factor id, so a year of daily rows shares its provenance.
#[derive(Default)]
struct FactorCache(HashMap<Arc<str>, FactorUse>);

impl FactorCache {
    fn use_of(&mut self, f: &Factor) -> FactorUse {
        self.0
            .entry(f.id.clone())
            .or_insert_with(|| FactorUse {
                id: f.id.clone(),
                value: value(f),
                unit: Arc::from(f.unit_label().as_str()),
                gwp: f.gwp,
                source: f.source.clone(),
            })
            .clone()
    }
}
