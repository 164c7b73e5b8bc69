//! Activity ledger: validated CSV files, one per kind of activity.
//!
//! Column layouts are documented in `data/ledger-templates/README.md`. The header is
//! checked first (a duplicate, unknown or missing column is refused at line 1 and its
//! position, before any row is read); every row is validated; all problems are collected
//! with file, line and column position. [`load_ledger`] returns nothing if there is any
//! (no half-imported ledger); [`read_ledger`] returns the rows that passed with every
//! problem, so a calculation can add its own problems to the same report.

use crate::csv_lines::{CsvReader, Shape};
use crate::scope3::RowRef;
use crate::scope3::units::{Quantity, Unit};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use tanso_model::progress::{NoProgress, Progress, ProgressRead, Unit as ProgressUnit};
use thiserror::Error;

/// One problem in one ledger row (line 1: in the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    pub file: String,
    pub line: u64,
    /// 1-based position of `column` in its file's header, when known; for a missing
    /// column, the position it would take at the end of the header.
    pub position: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 is the file as a whole (a name or kind that is not a ledger file).
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(p) = self.position {
            write!(f, ":{p}")?;
        }
        match &self.column {
            Some(c) => write!(f, ": column `{c}`: {}", self.message),
            None => write!(f, ": {}", self.message),
        }
    }
}

/// Ledger loading errors; `Invalid` lists every problem of every file.
#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{} ledger problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<RowProblem>),
}

/// Lists problems for display, the first 50 only: the full list stays in the value.
pub(crate) fn list(p: &[RowProblem]) -> String {
    let mut s = p
        .iter()
        .take(50)
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n");
    if p.len() > 50 {
        s.push_str(&format!("\n  … and {} more", p.len() - 50));
    }
    s
}

/// Price basis of spend: EPA factors with margins for purchaser prices, without for producer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceBasis {
    #[default]
    Purchaser,
    Producer,
}

impl PriceBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceBasis::Purchaser => "purchaser",
            PriceBasis::Producer => "producer",
        }
    }
}

/// Spend in a currency at a year's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spend {
    pub amount: Decimal,
    pub currency: String,
    pub year: i32,
}

/// Category 1 row (also the common part of a category 2 row).
#[derive(Debug, Clone, Serialize)]
pub struct PurchaseRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub supplier_company_id: Option<Box<str>>,
    pub supplier_country: Option<Box<str>>,
    pub product_id: Option<Box<str>>,
    pub quantity: Option<Quantity>,
    pub spend: Option<Spend>,
    pub price_basis: PriceBasis,
    pub naics: Option<Box<str>>,
    pub cpc: Option<Box<str>>,
    pub hs: Option<Box<str>>,
    pub material: Option<Box<str>>,
    pub factor_id: Option<Box<str>>,
}

/// Category 2 row: a purchase plus acquisition year and lifetime (for the management view).
#[derive(Debug, Clone, Serialize)]
pub struct CapitalRow {
    pub purchase: PurchaseRow,
    pub acquisition_year: i32,
    pub lifetime_years: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyType {
    Fuel,
    Electricity,
    Heat,
    Steam,
}

impl EnergyType {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fuel" => Some(Self::Fuel),
            "electricity" => Some(Self::Electricity),
            "heat" => Some(Self::Heat),
            "steam" => Some(Self::Steam),
            _ => None,
        }
    }
}

/// Category 3 row: fuel or energy bought (already in Scope 1/2).
#[derive(Debug, Clone, Serialize)]
pub struct EnergyRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub energy_type: EnergyType,
    pub fuel: Option<String>,
    pub grid: Option<String>,
    pub quantity: Quantity,
    pub factor_id: Option<String>,
}

/// Category 4 row (a transport leg the company pays for) and category 9 row (one it does
/// not pay for, downstream of its sale): the same shape, from `transport*.csv` and
/// `downstream_transport*.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct TransportRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub mode: Option<String>,
    pub mass: Quantity,
    pub distance: Quantity,
    pub country: Option<String>,
    pub factor_id: Option<String>,
    /// The carrier's shipment id: a received iLEAP shipment footprint for it is used as
    /// primary data before the distance-based default.
    pub shipment_id: Option<String>,
}

/// Category 5 row.
#[derive(Debug, Clone, Serialize)]
pub struct WasteRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub waste_type: String,
    /// Canonical: recycled, landfilled, combusted, composted, anaerobic-dry, anaerobic-wet.
    pub treatment: String,
    pub quantity: Quantity,
    pub factor_id: Option<String>,
}

/// Category 6 row.
#[derive(Debug, Clone, Serialize)]
pub struct TravelRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub mode: String,
    pub passengers: Decimal,
    pub distance: Quantity,
    pub factor_id: Option<String>,
}

/// Whether a commuting distance is per one-way trip (doubled) or per day (round trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistanceBasis {
    OneWay,
    RoundTrip,
}

/// Category 7 row: one mode of one employee group.
#[derive(Debug, Clone, Serialize)]
pub struct CommutingRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub group: String,
    pub employees: Decimal,
    pub mode: String,
    pub share_pct: Decimal,
    pub distance_per_day: Quantity,
    pub basis: DistanceBasis,
    pub working_days: Decimal,
    pub factor_id: Option<String>,
}

/// Category 8 row: a leased asset, by metered energy or by area.
#[derive(Debug, Clone, Serialize)]
pub struct LeasedRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub area_m2: Option<Decimal>,
    pub energy_type: Option<EnergyType>,
    pub quantity: Option<Quantity>,
    pub grid: Option<String>,
    pub factor_id: Option<String>,
}

/// Exchange rate and deflator that turn spend in `currency` at `year` prices into 2022 USD:
/// `usd2022 = amount × usd_per_unit × deflator_to_2022`.
#[derive(Debug, Clone, Serialize)]
pub struct CurrencyRate {
    pub row: Option<RowRef>,
    pub currency: String,
    pub year: i32,
    pub usd_per_unit: Decimal,
    pub deflator_to_2022: Decimal,
    pub source: Option<String>,
}

/// Avoided-emission activity (substitution method), reported outside Scope 1–3.
#[derive(Debug, Clone, Serialize)]
pub struct AvoidedRow {
    pub row: RowRef,
    pub description: Arc<str>,
    pub pathway: Option<String>,
    pub quantity: Quantity,
    pub baseline_factor_id: String,
    pub activity_factor_id: Option<String>,
}

/// All validated activity data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ledger {
    pub purchases: Vec<PurchaseRow>,
    pub capital_goods: Vec<CapitalRow>,
    pub energy: Vec<EnergyRow>,
    pub transport: Vec<TransportRow>,
    pub downstream_transport: Vec<TransportRow>,
    pub waste: Vec<WasteRow>,
    pub travel: Vec<TravelRow>,
    pub commuting: Vec<CommutingRow>,
    pub leased_assets: Vec<LeasedRow>,
    pub currency_rates: Vec<CurrencyRate>,
    pub avoided: Vec<AvoidedRow>,
    /// Column names of each file's header, in order, to place a problem found later
    /// (a missing factor, a cross-row check) at its file:line:column.
    #[serde(skip)]
    pub(crate) headers: HashMap<String, Vec<String>>,
}

/// A ledger as read: every row that passed validation, and the problems of all the others
/// (rows with a problem are left out, so the rest can still be calculated and every
/// problem of an import reported in one run).
#[derive(Debug, Clone, Default)]
pub struct ReadLedger {
    pub ledger: Ledger,
    pub problems: Vec<RowProblem>,
}

impl ReadLedger {
    /// The ledger if no row had a problem; otherwise every problem.
    pub fn into_result(self) -> Result<Ledger, LedgerError> {
        if self.problems.is_empty() {
            Ok(self.ledger)
        } else {
            Err(LedgerError::Invalid(self.problems))
        }
    }
}

impl Ledger {
    /// Sets the header position of every problem that names a column but has none yet.
    pub(crate) fn locate(&self, problems: &mut [RowProblem]) {
        for p in problems.iter_mut().filter(|p| p.position.is_none()) {
            let (Some(column), Some(names)) = (&p.column, self.headers.get(&p.file)) else {
                continue;
            };
            if let Some(i) = names.iter().position(|n| n == column) {
                p.position = Some(i as u64 + 1);
            }
        }
    }

    /// Drops the last row of `kind` (a row found to have a problem).
    fn pop(&mut self, kind: Kind) {
        match kind {
            Kind::Purchases => drop(self.purchases.pop()),
            Kind::CapitalGoods => drop(self.capital_goods.pop()),
            Kind::Energy => drop(self.energy.pop()),
            Kind::Transport => drop(self.transport.pop()),
            Kind::DownstreamTransport => drop(self.downstream_transport.pop()),
            Kind::Waste => drop(self.waste.pop()),
            Kind::Travel => drop(self.travel.pop()),
            Kind::Commuting => drop(self.commuting.pop()),
            Kind::LeasedAssets => drop(self.leased_assets.pop()),
            Kind::CurrencyRates => drop(self.currency_rates.pop()),
            Kind::Avoided => drop(self.avoided.pop()),
        }
    }
}

/// Ledger columns; rows look fields up by index, not by name (1M-row budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum C {
    SupplierCompanyId,
    SupplierCountry,
    ProductId,
    Quantity,
    Unit,
    Spend,
    Currency,
    SpendYear,
    PriceBasis,
    Naics,
    Cpc,
    Hs,
    Material,
    FactorId,
    Description,
    AcquisitionYear,
    LifetimeYears,
    EnergyType,
    Fuel,
    Grid,
    Mass,
    MassUnit,
    Distance,
    DistanceUnit,
    Mode,
    Country,
    WasteType,
    Treatment,
    Passengers,
    Employees,
    SharePct,
    DistancePerDay,
    DistanceBasis,
    WorkingDays,
    Group,
    AreaM2,
    Year,
    UsdPerUnit,
    DeflatorTo2022,
    Source,
    BaselineFactorId,
    Pathway,
    ActivityFactorId,
    ShipmentId,
}

impl C {
    const ALL: [C; 44] = [
        C::SupplierCompanyId,
        C::SupplierCountry,
        C::ProductId,
        C::Quantity,
        C::Unit,
        C::Spend,
        C::Currency,
        C::SpendYear,
        C::PriceBasis,
        C::Naics,
        C::Cpc,
        C::Hs,
        C::Material,
        C::FactorId,
        C::Description,
        C::AcquisitionYear,
        C::LifetimeYears,
        C::EnergyType,
        C::Fuel,
        C::Grid,
        C::Mass,
        C::MassUnit,
        C::Distance,
        C::DistanceUnit,
        C::Mode,
        C::Country,
        C::WasteType,
        C::Treatment,
        C::Passengers,
        C::Employees,
        C::SharePct,
        C::DistancePerDay,
        C::DistanceBasis,
        C::WorkingDays,
        C::Group,
        C::AreaM2,
        C::Year,
        C::UsdPerUnit,
        C::DeflatorTo2022,
        C::Source,
        C::BaselineFactorId,
        C::Pathway,
        C::ActivityFactorId,
        C::ShipmentId,
    ];

    fn name(self) -> &'static str {
        match self {
            C::SupplierCompanyId => "supplier_company_id",
            C::SupplierCountry => "supplier_country",
            C::ProductId => "product_id",
            C::Quantity => "quantity",
            C::Unit => "unit",
            C::Spend => "spend",
            C::Currency => "currency",
            C::SpendYear => "spend_year",
            C::PriceBasis => "price_basis",
            C::Naics => "naics",
            C::Cpc => "cpc",
            C::Hs => "hs",
            C::Material => "material",
            C::FactorId => "factor_id",
            C::Description => "description",
            C::AcquisitionYear => "acquisition_year",
            C::LifetimeYears => "lifetime_years",
            C::EnergyType => "energy_type",
            C::Fuel => "fuel",
            C::Grid => "grid",
            C::Mass => "mass",
            C::MassUnit => "mass_unit",
            C::Distance => "distance",
            C::DistanceUnit => "distance_unit",
            C::Mode => "mode",
            C::Country => "country",
            C::WasteType => "waste_type",
            C::Treatment => "treatment",
            C::Passengers => "passengers",
            C::Employees => "employees",
            C::SharePct => "share_pct",
            C::DistancePerDay => "distance_per_day",
            C::DistanceBasis => "distance_basis",
            C::WorkingDays => "working_days",
            C::Group => "group",
            C::AreaM2 => "area_m2",
            C::Year => "year",
            C::UsdPerUnit => "usd_per_unit",
            C::DeflatorTo2022 => "deflator_to_2022",
            C::Source => "source",
            C::BaselineFactorId => "baseline_factor_id",
            C::Pathway => "pathway",
            C::ActivityFactorId => "activity_factor_id",
            C::ShipmentId => "shipment_id",
        }
    }
}

/// Ledger file kinds; a file's kind is the known name its stem starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Purchases,
    CapitalGoods,
    Energy,
    Transport,
    DownstreamTransport,
    Waste,
    Travel,
    Commuting,
    LeasedAssets,
    CurrencyRates,
    Avoided,
}

impl Kind {
    const ALL: [(&'static str, Kind); 11] = [
        ("purchases", Kind::Purchases),
        ("capital_goods", Kind::CapitalGoods),
        ("energy", Kind::Energy),
        ("transport", Kind::Transport),
        ("downstream_transport", Kind::DownstreamTransport),
        ("waste", Kind::Waste),
        ("travel", Kind::Travel),
        ("commuting", Kind::Commuting),
        ("leased_assets", Kind::LeasedAssets),
        ("currency_rates", Kind::CurrencyRates),
        ("avoided", Kind::Avoided),
    ];

    fn of(path: &Path) -> Option<Kind> {
        let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(n, _)| stem.starts_with(n))
            .map(|(_, k)| *k)
    }

    /// (required columns, optional columns)
    fn columns(self) -> (&'static [C], &'static [C]) {
        const PURCHASE_OPT: &[C] = &[
            C::SupplierCompanyId,
            C::SupplierCountry,
            C::ProductId,
            C::Quantity,
            C::Unit,
            C::Spend,
            C::Currency,
            C::SpendYear,
            C::PriceBasis,
            C::Naics,
            C::Cpc,
            C::Hs,
            C::Material,
            C::FactorId,
        ];
        match self {
            Kind::Purchases => (&[C::Description], PURCHASE_OPT),
            Kind::CapitalGoods => (
                &[C::Description, C::AcquisitionYear, C::LifetimeYears],
                PURCHASE_OPT,
            ),
            Kind::Energy => (
                &[C::Description, C::EnergyType, C::Quantity, C::Unit],
                &[C::Fuel, C::Grid, C::FactorId],
            ),
            Kind::Transport | Kind::DownstreamTransport => (
                &[
                    C::Description,
                    C::Mass,
                    C::MassUnit,
                    C::Distance,
                    C::DistanceUnit,
                ],
                &[C::Mode, C::Country, C::FactorId, C::ShipmentId],
            ),
            Kind::Waste => (
                &[
                    C::Description,
                    C::WasteType,
                    C::Treatment,
                    C::Quantity,
                    C::Unit,
                ],
                &[C::FactorId],
            ),
            Kind::Travel => (
                &[
                    C::Description,
                    C::Mode,
                    C::Passengers,
                    C::Distance,
                    C::DistanceUnit,
                ],
                &[C::FactorId],
            ),
            Kind::Commuting => (
                &[
                    C::Description,
                    C::Employees,
                    C::Mode,
                    C::SharePct,
                    C::DistancePerDay,
                    C::DistanceUnit,
                    C::DistanceBasis,
                    C::WorkingDays,
                ],
                &[C::Group, C::FactorId],
            ),
            Kind::LeasedAssets => (
                &[C::Description],
                &[
                    C::AreaM2,
                    C::EnergyType,
                    C::Quantity,
                    C::Unit,
                    C::Grid,
                    C::FactorId,
                ],
            ),
            Kind::CurrencyRates => (
                &[C::Currency, C::Year, C::UsdPerUnit, C::DeflatorTo2022],
                &[C::Source],
            ),
            Kind::Avoided => (
                &[C::Description, C::Quantity, C::Unit, C::BaselineFactorId],
                &[C::Pathway, C::ActivityFactorId],
            ),
        }
    }
}

/// Loads a ledger from a directory of CSV files or from one CSV file; any problem in any
/// row fails the whole load (no half-imported ledger).
///
/// In a directory every `*.csv` must be a known kind (file stem starting with
/// `purchases`, `capital_goods`, `energy`, `transport`, `waste`, `travel`,
/// `commuting`, `leased_assets`, `currency_rates`, `avoided` or `downstream_transport`); an unknown CSV is an
/// error rather than silently skipped.
pub fn load_ledger(dir_or_file: &Path) -> Result<Ledger, LedgerError> {
    read_ledger(dir_or_file)?.into_result()
}

/// Reads a ledger like [`load_ledger`] but keeps going: the rows that passed, and every
/// problem of every file. Only a file that cannot be read is an error here.
pub fn read_ledger(dir_or_file: &Path) -> Result<ReadLedger, LedgerError> {
    read_ledger_with(dir_or_file, &NoProgress)
}

/// [`read_ledger`], reporting the bytes of the ledger's files read to `progress`.
pub fn read_ledger_with(
    dir_or_file: &Path,
    progress: &dyn Progress,
) -> Result<ReadLedger, LedgerError> {
    let io = |path: &Path, source| LedgerError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    if dir_or_file.is_dir() {
        for e in std::fs::read_dir(dir_or_file).map_err(|e| io(dir_or_file, e))? {
            let p = e.map_err(|e| io(dir_or_file, e))?.path();
            if p.extension()
                .and_then(|x| x.to_str())
                .map(|x| x.eq_ignore_ascii_case("csv"))
                == Some(true)
            {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(dir_or_file.to_path_buf());
    }
    let total: u64 = files
        .iter()
        .filter(|p| Kind::of(p).is_some())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    progress.start("reading the ledger", ProgressUnit::Bytes, Some(total));
    let mut read = ReadLedger::default();
    for p in &files {
        let name = p.display().to_string();
        let Some(kind) = Kind::of(p) else {
            read.problems.push(RowProblem {
                file: name,
                line: 0,
                position: None,
                column: None,
                message: "unknown ledger file: the name must start with one of purchases, capital_goods, energy, transport, downstream_transport, waste, travel, commuting, leased_assets, currency_rates, avoided".into(),
            });
            continue;
        };
        let file = std::fs::File::open(p).map_err(|e| io(p, e))?;
        if kind == Kind::Purchases {
            // Reserve from the file size (rows are rarely under 24 bytes): untouched
            // capacity costs no resident memory, while doubling would copy every row.
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            read.ledger.purchases.reserve((len / 24) as usize);
        }
        parse_into(
            kind,
            &name,
            std::io::BufReader::with_capacity(1 << 16, ProgressRead::new(file, progress)),
            &mut read.ledger,
            &mut read.problems,
        );
    }
    progress.finish();
    cross_checks(&read.ledger, &mut read.problems);
    read.ledger.locate(&mut read.problems);
    read.ledger.purchases.shrink_to_fit();
    Ok(read)
}

/// Parses one ledger CSV of a kind given by `name` (e.g. `purchases.csv`) from memory;
/// used by tests and by callers that already hold the text.
pub fn parse_ledger_text(name: &str, text: &str) -> Result<Ledger, LedgerError> {
    read_ledger_text(name, text).into_result()
}

/// [`read_ledger`] of one CSV text named `name`.
pub fn read_ledger_text(name: &str, text: &str) -> ReadLedger {
    let mut read = ReadLedger::default();
    match Kind::of(Path::new(name)) {
        Some(kind) => parse_into(
            kind,
            name,
            text.as_bytes(),
            &mut read.ledger,
            &mut read.problems,
        ),
        None => read.problems.push(RowProblem {
            file: name.into(),
            line: 0,
            position: None,
            column: None,
            message: "unknown ledger file kind".into(),
        }),
    }
    cross_checks(&read.ledger, &mut read.problems);
    read.ledger.locate(&mut read.problems);
    read
}

/// Checks that span rows: commuting shares per group ≤ 100 %, one rate per currency-year.
fn cross_checks(l: &Ledger, problems: &mut Vec<RowProblem>) {
    let mut shares: HashMap<&str, (Decimal, &RowRef)> = HashMap::new();
    for c in &l.commuting {
        let e = shares
            .entry(c.group.as_str())
            .or_insert((Decimal::ZERO, &c.row));
        e.0 += c.share_pct;
        e.1 = &c.row;
    }
    let mut groups: Vec<_> = shares.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    for (g, (sum, row)) in groups {
        if sum > Decimal::ONE_HUNDRED {
            problems.push(RowProblem {
                file: row.file.to_string(),
                line: row.line,
                position: None,
                column: Some("share_pct".into()),
                message: format!("mode shares of group `{g}` add up to {sum} %, more than 100"),
            });
        }
    }
    let mut seen = HashMap::new();
    for r in &l.currency_rates {
        if let Some(row) = &r.row
            && seen.insert((r.currency.clone(), r.year), row).is_some()
        {
            problems.push(RowProblem {
                file: row.file.to_string(),
                line: row.line,
                position: None,
                column: Some("currency".into()),
                message: format!("second rate for {} {}", r.currency, r.year),
            });
        }
    }
}

/// Field access for one record, collecting problems instead of stopping.
struct Rec<'a> {
    rec: &'a csv::StringRecord,
    idx: &'a [Option<usize>; C::ALL.len()],
    row: RowRef,
    problems: &'a mut Vec<RowProblem>,
}

impl Rec<'_> {
    fn bad(&mut self, col: C, msg: String) {
        self.problems.push(RowProblem {
            file: self.row.file.to_string(),
            line: self.row.line,
            position: self.idx[col as usize].map(|i| i as u64 + 1),
            column: Some(col.name().to_string()),
            message: msg,
        });
    }

    fn text(&self, col: C) -> Option<&str> {
        self.idx[col as usize]
            .and_then(|i| self.rec.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn string(&self, col: C) -> Option<String> {
        self.text(col).map(str::to_string)
    }

    fn boxed(&self, col: C) -> Option<Box<str>> {
        self.text(col).map(Box::from)
    }

    fn req_string(&mut self, col: C) -> String {
        match self.string(col) {
            Some(s) => s,
            None => {
                self.bad(col, "required".into());
                String::new()
            }
        }
    }

    /// Non-negative decimal (emission inputs are amounts).
    fn dec(&mut self, col: C) -> Option<Decimal> {
        let s = self.text(col)?;
        match Decimal::from_str(s) {
            Ok(d) if d.is_sign_negative() && !d.is_zero() => {
                let m = format!("`{s}` is negative");
                self.bad(col, m);
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                let m = format!("`{s}` is not a decimal number");
                self.bad(col, m);
                None
            }
        }
    }

    fn req_dec(&mut self, col: C) -> Decimal {
        if self.text(col).is_none() {
            self.bad(col, "required".into());
            return Decimal::ZERO;
        }
        self.dec(col).unwrap_or_default()
    }

    fn unit(&mut self, col: C) -> Option<Unit> {
        match Unit::parse(self.text(col)?) {
            Ok(u) => Some(u),
            Err(e) => {
                self.bad(col, e.to_string());
                None
            }
        }
    }

    fn year(&mut self, col: C) -> Option<i32> {
        let s = self.text(col)?;
        match s.parse::<i32>() {
            Ok(y) if (1900..=2200).contains(&y) => Some(y),
            _ => {
                let m = format!("`{s}` is not a four-digit year");
                self.bad(col, m);
                None
            }
        }
    }

    fn country(&mut self, col: C) -> Option<String> {
        let s = self.text(col)?;
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            Some(s.to_ascii_uppercase())
        } else {
            let m = format!("`{s}` is not an ISO 3166-1 alpha-2 code");
            self.bad(col, m);
            None
        }
    }

    /// Quantity from a value column and a unit column, both or neither.
    fn quantity(&mut self, vcol: C, ucol: C) -> Option<Quantity> {
        let v = self.dec(vcol);
        let u = self.unit(ucol);
        match (self.text(vcol).is_some(), self.text(ucol).is_some()) {
            (true, false) => self.bad(ucol, format!("required when `{}` is given", vcol.name())),
            (false, true) => self.bad(vcol, format!("required when `{}` is given", ucol.name())),
            _ => {}
        }
        Some(Quantity::new(v?, u?))
    }

    fn req_quantity(&mut self, vcol: C, ucol: C) -> Quantity {
        let v = self.req_dec(vcol);
        let u = match self.text(ucol) {
            None => {
                self.bad(ucol, "required".into());
                None
            }
            Some(_) => self.unit(ucol),
        };
        Quantity::new(v, u.unwrap_or(Unit::Kg))
    }

    fn description(&mut self) -> Arc<str> {
        match self.text(C::Description) {
            Some(d) => Arc::from(d),
            None => {
                self.bad(C::Description, "required".into());
                Arc::from("")
            }
        }
    }

    fn purchase(&mut self) -> PurchaseRow {
        let before = self.problems.len();
        let description = self.description();
        let quantity = self.quantity(C::Quantity, C::Unit);
        let amount = self.dec(C::Spend);
        let currency = self.string(C::Currency);
        let year = self.year(C::SpendYear);
        let has = [
            self.text(C::Spend).is_some(),
            self.text(C::Currency).is_some(),
            self.text(C::SpendYear).is_some(),
        ];
        if has.iter().any(|h| *h) && !has.iter().all(|h| *h) {
            self.bad(
                C::Spend,
                "`spend`, `currency` and `spend_year` go together".into(),
            );
        }
        if let Some(c) = &currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            let c = c.clone();
            self.bad(
                C::Currency,
                format!("`{c}` is not an ISO 4217 code like KRW or USD"),
            );
        }
        let spend = match (amount, currency, year) {
            (Some(amount), Some(currency), Some(year)) => Some(Spend {
                amount,
                currency,
                year,
            }),
            _ => None,
        };
        let price_basis = match self
            .text(C::PriceBasis)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("purchaser") => PriceBasis::Purchaser,
            Some("producer") => PriceBasis::Producer,
            Some(o) => {
                let o = o.to_string();
                self.bad(C::PriceBasis, format!("`{o}` is not purchaser or producer"));
                PriceBasis::Purchaser
            }
        };
        let naics = self.boxed(C::Naics);
        if let Some(n) = &naics
            && !(n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let n = n.to_string();
            self.bad(C::Naics, format!("`{n}` is not a 6-digit NAICS code"));
        }
        let product_id = self.boxed(C::ProductId);
        let material = self.boxed(C::Material);
        let factor_id = self.boxed(C::FactorId);
        let (cpc, hs) = (self.boxed(C::Cpc), self.boxed(C::Hs));
        let can_supplier = product_id.is_some() && quantity.is_some();
        let can_avg = quantity.is_some() && (material.is_some() || factor_id.is_some());
        let can_spend = spend.is_some()
            && (naics.is_some() || cpc.is_some() || hs.is_some() || factor_id.is_some());
        if !(can_supplier || can_avg || can_spend) && self.problems.len() == before {
            self.problems.push(RowProblem {
                file: self.row.file.to_string(),
                line: self.row.line,
                position: None,
                column: None,
                message: "no usable method: give product_id + quantity/unit (supplier-specific), quantity/unit + material or factor_id (average-data), or spend/currency/spend_year + naics, cpc, hs or factor_id (spend-based)".into(),
            });
        }
        PurchaseRow {
            row: self.row.clone(),
            description,
            supplier_company_id: self.boxed(C::SupplierCompanyId),
            supplier_country: self.country(C::SupplierCountry).map(Box::from),
            product_id,
            quantity,
            spend,
            price_basis,
            naics,
            cpc,
            hs,
            material,
            factor_id,
        }
    }
}

/// Canonical waste treatment names (EPA WARM columns), accepting common synonyms.
pub fn canonical_treatment(s: &str) -> Option<&'static str> {
    Some(
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['_', ' '], "-")
            .as_str()
        {
            "recycled" | "recycling" => "recycled",
            "landfilled" | "landfill" => "landfilled",
            "combusted" | "combustion" | "incineration" | "incinerated" => "combusted",
            "composted" | "composting" => "composted",
            "anaerobic-dry" => "anaerobic-dry",
            "anaerobic-wet" | "anaerobic-digestion" => "anaerobic-wet",
            _ => return None,
        },
    )
}

fn parse_into<R: std::io::Read>(
    kind: Kind,
    name: &str,
    reader: R,
    ledger: &mut Ledger,
    problems: &mut Vec<RowProblem>,
) {
    let file: Arc<str> = Arc::from(name);
    let shape = Shape {
        trim: false,
        flexible: false,
    };
    let mut rdr = CsvReader::new(reader, shape);
    let names = match rdr.header() {
        Ok((_, names)) => names,
        Err(e) => {
            problems.push(RowProblem {
                file: name.into(),
                line: e.line,
                position: None,
                column: None,
                message: e.message,
            });
            return;
        }
    };
    let Some(idx) = check_header(kind, name, &names, problems) else {
        return;
    };
    ledger.headers.insert(name.to_string(), names);
    let mut rec = csv::StringRecord::new();
    loop {
        let line = match rdr.read(&mut rec) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(e) => {
                problems.push(RowProblem {
                    file: name.into(),
                    line: e.line,
                    position: None,
                    column: None,
                    message: e.message,
                });
                continue;
            }
        };
        let before = problems.len();
        let mut r = Rec {
            rec: &rec,
            idx: &idx,
            row: RowRef {
                file: file.clone(),
                line,
            },
            problems,
        };
        match kind {
            Kind::Purchases => {
                let p = r.purchase();
                ledger.purchases.push(p);
            }
            Kind::CapitalGoods => {
                let purchase = r.purchase();
                let acquisition_year = r.year(C::AcquisitionYear).unwrap_or(0);
                let lifetime_years = match r.text(C::LifetimeYears).map(|s| s.parse::<u32>()) {
                    Some(Ok(n)) if n > 0 => n,
                    _ => {
                        r.bad(
                            C::LifetimeYears,
                            "must be a whole number of years above 0".into(),
                        );
                        1
                    }
                };
                ledger.capital_goods.push(CapitalRow {
                    purchase,
                    acquisition_year,
                    lifetime_years,
                });
            }
            Kind::Energy => {
                let description = r.description();
                let et = r.req_string(C::EnergyType);
                let energy_type = EnergyType::parse(&et);
                if energy_type.is_none() && !et.is_empty() {
                    r.bad(
                        C::EnergyType,
                        format!("`{et}` is not fuel, electricity, heat or steam"),
                    );
                }
                let quantity = r.req_quantity(C::Quantity, C::Unit);
                let (fuel, grid, factor_id) =
                    (r.string(C::Fuel), r.country(C::Grid), r.string(C::FactorId));
                match energy_type {
                    Some(EnergyType::Fuel) if fuel.is_none() && factor_id.is_none() => r.bad(
                        C::Fuel,
                        "required for energy_type fuel (or give factor_id)".into(),
                    ),
                    Some(EnergyType::Electricity) if grid.is_none() && factor_id.is_none() => r
                        .bad(
                            C::Grid,
                            "required for electricity (or give factor_id)".into(),
                        ),
                    Some(EnergyType::Heat | EnergyType::Steam) if factor_id.is_none() => {
                        r.bad(C::FactorId, "required for heat and steam".into())
                    }
                    _ => {}
                }
                ledger.energy.push(EnergyRow {
                    row: r.row.clone(),
                    description,
                    energy_type: energy_type.unwrap_or(EnergyType::Fuel),
                    fuel,
                    grid,
                    quantity,
                    factor_id,
                });
            }
            Kind::Transport | Kind::DownstreamTransport => {
                let description = r.description();
                let mass = r.req_quantity(C::Mass, C::MassUnit);
                let distance = r.req_quantity(C::Distance, C::DistanceUnit);
                let (mode, factor_id) = (r.string(C::Mode), r.string(C::FactorId));
                if mode.is_none() && factor_id.is_none() {
                    r.bad(
                        C::Mode,
                        "give mode (truck, rail, ship, air) or factor_id".into(),
                    );
                }
                let shipment_id = r.string(C::ShipmentId);
                if shipment_id.as_ref().is_some_and(|s| s.len() > 200) {
                    r.bad(C::ShipmentId, "longer than 200 characters".into());
                }
                let row = TransportRow {
                    row: r.row.clone(),
                    description,
                    mode,
                    mass,
                    distance,
                    country: r.country(C::Country),
                    factor_id,
                    shipment_id,
                };
                if kind == Kind::Transport {
                    ledger.transport.push(row);
                } else {
                    ledger.downstream_transport.push(row);
                }
            }
            Kind::Waste => {
                let description = r.description();
                let waste_type = r.req_string(C::WasteType);
                let t = r.req_string(C::Treatment);
                let treatment = match canonical_treatment(&t) {
                    Some(c) => c.to_string(),
                    None => {
                        if !t.is_empty() {
                            r.bad(C::Treatment, format!("`{t}` is not recycling, landfill, incineration, composting, anaerobic-dry or anaerobic-wet"));
                        }
                        t
                    }
                };
                ledger.waste.push(WasteRow {
                    row: r.row.clone(),
                    description,
                    waste_type,
                    treatment,
                    quantity: r.req_quantity(C::Quantity, C::Unit),
                    factor_id: r.string(C::FactorId),
                });
            }
            Kind::Travel => {
                let description = r.description();
                ledger.travel.push(TravelRow {
                    row: r.row.clone(),
                    description,
                    mode: r.req_string(C::Mode),
                    passengers: r.req_dec(C::Passengers),
                    distance: r.req_quantity(C::Distance, C::DistanceUnit),
                    factor_id: r.string(C::FactorId),
                });
            }
            Kind::Commuting => {
                let description = r.description();
                let share_pct = r.req_dec(C::SharePct);
                if share_pct > Decimal::ONE_HUNDRED {
                    r.bad(C::SharePct, format!("{share_pct} is above 100"));
                }
                let b = r.req_string(C::DistanceBasis);
                let basis = match b.to_ascii_lowercase().replace('_', "-").as_str() {
                    "one-way" => DistanceBasis::OneWay,
                    "round-trip" => DistanceBasis::RoundTrip,
                    _ => {
                        if !b.is_empty() {
                            r.bad(
                                C::DistanceBasis,
                                format!("`{b}` is not one-way or round-trip"),
                            );
                        }
                        DistanceBasis::RoundTrip
                    }
                };
                ledger.commuting.push(CommutingRow {
                    row: r.row.clone(),
                    description,
                    group: r.string(C::Group).unwrap_or_else(|| "all".into()),
                    employees: r.req_dec(C::Employees),
                    mode: r.req_string(C::Mode),
                    share_pct,
                    distance_per_day: r.req_quantity(C::DistancePerDay, C::DistanceUnit),
                    basis,
                    working_days: r.req_dec(C::WorkingDays),
                    factor_id: r.string(C::FactorId),
                });
            }
            Kind::LeasedAssets => {
                let description = r.description();
                let et = r.string(C::EnergyType);
                let energy_type = et.as_deref().and_then(EnergyType::parse);
                if let (Some(e), None) = (&et, energy_type) {
                    let e = e.clone();
                    r.bad(
                        C::EnergyType,
                        format!("`{e}` is not fuel, electricity, heat or steam"),
                    );
                }
                let area_m2 = r.dec(C::AreaM2);
                let quantity = r.quantity(C::Quantity, C::Unit);
                let (grid, factor_id) = (r.country(C::Grid), r.string(C::FactorId));
                if quantity.is_none() && (area_m2.is_none() || factor_id.is_none()) {
                    r.bad(C::Quantity, "give metered energy (energy_type, quantity, unit) or area_m2 with a per-m2 factor_id".into());
                }
                if energy_type == Some(EnergyType::Electricity)
                    && grid.is_none()
                    && factor_id.is_none()
                {
                    r.bad(
                        C::Grid,
                        "required for electricity (or give factor_id)".into(),
                    );
                }
                ledger.leased_assets.push(LeasedRow {
                    row: r.row.clone(),
                    description,
                    area_m2,
                    energy_type,
                    quantity,
                    grid,
                    factor_id,
                });
            }
            Kind::CurrencyRates => {
                let currency = r.req_string(C::Currency).to_ascii_uppercase();
                let year = r.year(C::Year);
                if r.text(C::Year).is_none() {
                    r.bad(C::Year, "required".into());
                }
                let usd_per_unit = r.req_dec(C::UsdPerUnit);
                let deflator_to_2022 = r.req_dec(C::DeflatorTo2022);
                if usd_per_unit.is_zero() || deflator_to_2022.is_zero() {
                    r.bad(C::UsdPerUnit, "rate and deflator must be above 0".into());
                }
                ledger.currency_rates.push(CurrencyRate {
                    row: Some(r.row.clone()),
                    currency,
                    year: year.unwrap_or(0),
                    usd_per_unit,
                    deflator_to_2022,
                    source: r.string(C::Source),
                });
            }
            Kind::Avoided => {
                let description = r.description();
                ledger.avoided.push(AvoidedRow {
                    row: r.row.clone(),
                    description,
                    pathway: r.string(C::Pathway),
                    quantity: r.req_quantity(C::Quantity, C::Unit),
                    baseline_factor_id: r.req_string(C::BaselineFactorId),
                    activity_factor_id: r.string(C::ActivityFactorId),
                });
            }
        }
        if problems.len() > before {
            ledger.pop(kind);
        }
    }
}

/// Maps a header's columns to their positions: every duplicate, unknown and missing column
/// is a problem at line 1 and its position, all of them reported; `None` if there is any
/// (the rows of a file whose header is wrong cannot be read).
fn check_header(
    kind: Kind,
    name: &str,
    names: &[String],
    problems: &mut Vec<RowProblem>,
) -> Option<[Option<usize>; C::ALL.len()]> {
    let (req, opt) = kind.columns();
    let mut idx = [None; C::ALL.len()];
    let before = problems.len();
    let mut problem = |position: usize, column: &str, message: String| {
        problems.push(RowProblem {
            file: name.into(),
            line: 1,
            position: Some(position as u64),
            column: Some(column.to_string()),
            message,
        });
    };
    for (i, h) in names.iter().enumerate() {
        match req.iter().chain(opt.iter()).find(|c| c.name() == h) {
            Some(c) => match idx[*c as usize] {
                Some(first) => problem(
                    i + 1,
                    h,
                    format!("duplicate column (first at column {})", first + 1),
                ),
                None => idx[*c as usize] = Some(i),
            },
            None => problem(i + 1, h, "unknown column".into()),
        }
    }
    for c in req {
        if idx[*c as usize].is_none() {
            problem(names.len() + 1, c.name(), "missing required column".into());
        }
    }
    (problems.len() == before).then_some(idx)
}

impl Ledger {
    /// The years the ledger names, oldest first: capital goods' acquisition years and the
    /// years of spend. These are the reporting years a report on it can be asked for (the
    /// dashboard's year selector offers them).
    pub fn years(&self) -> Vec<i32> {
        let spend_years = self
            .purchases
            .iter()
            .chain(self.capital_goods.iter().map(|c| &c.purchase))
            .filter_map(|p| p.spend.as_ref().map(|s| s.year));
        let mut years: Vec<i32> = self
            .capital_goods
            .iter()
            .map(|c| c.acquisition_year)
            .chain(spend_years)
            .collect();
        years.sort_unstable();
        years.dedup();
        years
    }
}
