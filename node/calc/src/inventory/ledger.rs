//! The own-inventory ledgers: fuel, purchased energy, refrigerants and contractual instruments.
//!
//! Layouts are documented in `data/ledger-templates/README.md` ("Own inventory"). Like the
//! Scope 3 ledger, the header is checked first (unknown, duplicate and missing columns at
//! `file:1:position`), every row is validated, and every problem is reported with
//! `file:line:position`; [`read_inventory_text`] returns nothing usable while any problem
//! remains (see [`InventoryLedger::into_result`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::csv_lines::{CsvReader, Shape};
use crate::kpi::Period;
use crate::scope3::ledger::{LedgerError, RowProblem};
use crate::scope3::units::{Dimension, Quantity, Unit};
use crate::scope3::{GwpSet, RowRef};

/// Whether fuel burns in a vehicle (Scope 1 mobile) or a fixed installation (Scope 1 stationary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FuelUse {
    Mobile,
    Stationary,
}

/// Purchased energy: electricity, or heat and steam (both Scope 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyKind {
    Electricity,
    Heat,
    Steam,
}

/// A contractual instrument of the GHG Protocol Scope 2 Guidance (chapter 6, Table 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentKind {
    /// An energy attribute certificate (REC, GO, I-REC, Korean REC).
    Rec,
    /// A power purchase agreement that carries the attributes of its generation.
    Ppa,
    /// A green-premium purchase (the Korean 녹색프리미엄 tariff): a supplier contract
    /// for renewable electricity.
    GreenPremium,
    /// A supplier-specific emission rate (utility contract), with its own factor.
    SupplierSpecific,
}

/// Where a row sits in the company: department and team (the guide's operational and field views).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgUnit {
    pub department: Arc<str>,
    pub team: Arc<str>,
}

/// One fuel purchase or consumption record.
#[derive(Debug, Clone, Serialize)]
pub struct FuelRow {
    pub row: RowRef,
    pub month: Period,
    pub org: OrgUnit,
    /// Vehicle or site id.
    pub asset: Arc<str>,
    pub fuel_use: FuelUse,
    pub fuel: Option<Arc<str>>,
    pub quantity: Quantity,
    pub factor_id: Option<Arc<str>>,
}

/// One purchased-energy record (a meter reading or an invoice line).
#[derive(Debug, Clone, Serialize)]
pub struct EnergyRow {
    pub row: RowRef,
    pub month: Period,
    pub org: OrgUnit,
    pub site: Arc<str>,
    /// ISO 3166-1 alpha-2 of the grid the site draws from.
    pub grid: Arc<str>,
    pub kind: EnergyKind,
    pub quantity: Quantity,
    pub factor_id: Option<Arc<str>>,
}

/// Refrigerant released (kg) from one installation in one month, from top-ups or a mass balance.
#[derive(Debug, Clone, Serialize)]
pub struct RefrigerantRow {
    pub row: RowRef,
    pub month: Period,
    pub org: OrgUnit,
    pub site: Arc<str>,
    pub gas: Arc<str>,
    pub released: Quantity,
    pub gwp: GwpSet,
    pub factor_id: Option<Arc<str>>,
}

/// A contractual instrument held for a site's electricity.
#[derive(Debug, Clone, Serialize)]
pub struct InstrumentRow {
    pub row: RowRef,
    pub id: Arc<str>,
    pub kind: InstrumentKind,
    pub site: Arc<str>,
    /// Market (ISO country of the grid) the instrument was issued in.
    pub grid: Arc<str>,
    /// Year of the generation the instrument represents.
    pub vintage_year: i32,
    pub quantity: Quantity,
    /// kgCO2e/kWh the instrument conveys: 0 for renewable generation.
    pub factor_kg_per_kwh: Decimal,
    /// Retired or cancelled on behalf of the reporting company (Scope 2 quality criterion 3).
    pub retired: bool,
}

/// Validated own-inventory activity data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InventoryLedger {
    pub fuel: Vec<FuelRow>,
    pub energy: Vec<EnergyRow>,
    pub refrigerants: Vec<RefrigerantRow>,
    pub instruments: Vec<InstrumentRow>,
    /// Each file's header, to place a problem the calculation finds at its column.
    #[serde(skip)]
    pub(crate) headers: HashMap<String, Vec<String>>,
}

impl InventoryLedger {
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
}

/// The rows that passed and every problem of the others.
#[derive(Debug, Clone, Default)]
pub struct ReadInventory {
    pub ledger: InventoryLedger,
    pub problems: Vec<RowProblem>,
}

impl ReadInventory {
    /// The ledger if no row had a problem; otherwise every problem.
    pub fn into_result(self) -> Result<InventoryLedger, LedgerError> {
        if self.problems.is_empty() {
            Ok(self.ledger)
        } else {
            Err(LedgerError::Invalid(self.problems))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fuel,
    Energy,
    Refrigerants,
    Instruments,
}

impl Kind {
    const NAMES: [(&'static str, Kind); 4] = [
        ("fuel", Kind::Fuel),
        ("electricity", Kind::Energy),
        ("refrigerants", Kind::Refrigerants),
        ("instruments", Kind::Instruments),
    ];

    fn of(name: &str) -> Option<Kind> {
        let stem = std::path::Path::new(name)
            .file_stem()?
            .to_str()?
            .to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(n, _)| stem.starts_with(n))
            .map(|(_, k)| *k)
    }

    /// (required, optional) columns.
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Fuel => (
                &["date", "department", "asset", "use", "quantity", "unit"],
                &["team", "fuel", "factor_id"],
            ),
            Kind::Energy => (
                &[
                    "date",
                    "department",
                    "site",
                    "grid",
                    "energy_type",
                    "quantity",
                    "unit",
                ],
                &["team", "factor_id"],
            ),
            Kind::Refrigerants => (
                &[
                    "date",
                    "department",
                    "site",
                    "gas",
                    "quantity",
                    "unit",
                    "gwp",
                ],
                &["team", "factor_id"],
            ),
            Kind::Instruments => (
                &[
                    "id",
                    "kind",
                    "site",
                    "grid",
                    "vintage_year",
                    "quantity",
                    "unit",
                    "retired",
                ],
                &["factor_kg_per_kwh"],
            ),
        }
    }
}

/// The file names an inventory ledger may hold (a name must start with one of them).
pub const INVENTORY_FILES: [&str; 4] = ["fuel", "electricity", "refrigerants", "instruments"];

/// Reads every inventory file given as (name, text), in order; rows that pass are kept and
/// every problem of every file is collected.
pub fn read_inventory_text<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ReadInventory {
    let mut read = ReadInventory::default();
    let mut interner = Interner::default();
    for (name, text) in files {
        let Some(kind) = Kind::of(name) else {
            read.problems.push(RowProblem {
                file: name.to_string(),
                line: 0,
                position: None,
                column: None,
                message: format!(
                    "unknown inventory ledger file: the name must start with one of {}",
                    INVENTORY_FILES.join(", ")
                ),
            });
            continue;
        };
        parse(kind, name, text, &mut interner, &mut read);
    }
    read
}

/// Reads an inventory ledger directory (`fuel*.csv`, `electricity*.csv`, `refrigerants*.csv`,
/// `instruments*.csv`); an unknown `*.csv` is a problem, not skipped.
pub fn read_inventory_dir(dir: &std::path::Path) -> Result<ReadInventory, LedgerError> {
    let io = |source| LedgerError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().and_then(|x| x.to_str()) == Some("csv") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut texts = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).map_err(|source| LedgerError::Io {
            path: p.display().to_string(),
            source,
        })?;
        texts.push((p.display().to_string(), text));
    }
    Ok(read_inventory_text(
        texts.iter().map(|(n, t)| (n.as_str(), t.as_str())),
    ))
}

/// Where each known column sits in a file's header. A file has at most nine columns and every
/// row asks for most of them, so a linear scan beats hashing the name each time.
#[derive(Default)]
struct Columns(Vec<(&'static str, usize)>);

impl Columns {
    fn get(&self, column: &str) -> Option<usize> {
        self.0.iter().find(|(c, _)| *c == column).map(|(_, i)| *i)
    }
}

/// Department, team, site and fuel names repeat on every row: one allocation each. The names
/// come from the operator's own ledger files, so a fast hasher is enough.
#[derive(Default)]
struct Interner(HashMap<Box<str>, Arc<str>, foldhash::fast::RandomState>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Box::from(s), a.clone());
        a
    }
}

#[allow(
    clippy::redundant_closure_call,
    reason = "each row kind is parsed in a closure called at once, so `?` ends that row only"
)]
fn parse(kind: Kind, name: &str, text: &str, interner: &mut Interner, read: &mut ReadInventory) {
    let file: Arc<str> = Arc::from(name);
    let problem =
        |line: u64, position: Option<usize>, column: Option<&str>, message: String| RowProblem {
            file: name.to_string(),
            line,
            position: position.map(|p| p as u64 + 1),
            column: column.map(str::to_string),
            message,
        };
    let mut rdr = CsvReader::new(
        text.as_bytes(),
        // Fields are trimmed where they are read (`Row::optional`): the csv crate's trimming
        // rebuilds every record.
        Shape {
            trim: false,
            flexible: true,
        },
    );
    let (header_line, header) = match rdr.header() {
        Ok(h) => h,
        Err(e) => {
            read.problems.push(problem(e.line, None, None, e.message));
            return;
        }
    };
    let (required, optional) = kind.columns();
    let mut idx = Columns::default();
    let mut header_ok = true;
    for (i, h) in header.iter().enumerate() {
        match required.iter().chain(optional).find(|c| **c == h.as_str()) {
            Some(c) if idx.get(c).is_some() => {
                header_ok = false;
                read.problems.push(problem(
                    header_line,
                    Some(i),
                    Some(c),
                    "duplicate column".into(),
                ));
            }
            Some(c) => idx.0.push((c, i)),
            None => {
                header_ok = false;
                read.problems.push(problem(
                    header_line,
                    Some(i),
                    Some(h),
                    format!(
                        "unknown column (expected {})",
                        required
                            .iter()
                            .chain(optional)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    for c in required {
        if idx.get(c).is_none() {
            header_ok = false;
            read.problems.push(problem(
                header_line,
                Some(header.len()),
                Some(c),
                "missing required column".into(),
            ));
        }
    }
    if !header_ok {
        return;
    }
    read.ledger.headers.insert(name.to_string(), header.clone());
    let rows = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    match kind {
        Kind::Fuel => read.ledger.fuel.reserve(rows),
        Kind::Energy => read.ledger.energy.reserve(rows),
        Kind::Refrigerants => read.ledger.refrigerants.reserve(rows),
        Kind::Instruments => read.ledger.instruments.reserve(rows),
    }
    let mut rec = csv::StringRecord::new();
    loop {
        let line = match rdr.read(&mut rec) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(e) => {
                read.problems.push(problem(e.line, None, None, e.message));
                continue;
            }
        };
        if rec.len() != header.len() {
            read.problems.push(problem(
                line,
                None,
                None,
                format!("expected {} fields, found {}", header.len(), rec.len()),
            ));
            continue;
        }
        let mut row = Row {
            rec: &rec,
            idx: &idx,
            line,
            problems: Vec::new(),
            file: name,
        };
        let row_ref = RowRef {
            file: file.clone(),
            line,
        };
        match kind {
            Kind::Fuel => {
                let parsed = (|| {
                    let month = row.month("date")?;
                    let org = row.org(interner)?;
                    let asset = interner.get(row.required("asset")?);
                    let fuel_use = match row.required("use")?.to_ascii_lowercase().as_str() {
                        "mobile" => FuelUse::Mobile,
                        "stationary" => FuelUse::Stationary,
                        other => {
                            return row
                                .fail("use", format!("`{other}` is not mobile or stationary"));
                        }
                    };
                    let quantity = row.quantity()?;
                    let fuel = row
                        .optional("fuel")
                        .map(|f| interner.get(&f.to_ascii_lowercase()));
                    let factor_id = row.optional("factor_id").map(Arc::from);
                    if fuel.is_none() && factor_id.is_none() {
                        return row.fail("fuel", "give a fuel (e.g. diesel) or a factor_id".into());
                    }
                    Some(FuelRow {
                        row: row_ref.clone(),
                        month,
                        org,
                        asset,
                        fuel_use,
                        fuel,
                        quantity,
                        factor_id,
                    })
                })();
                if let Some(r) = parsed {
                    read.ledger.fuel.push(r);
                }
            }
            Kind::Energy => {
                let parsed = (|| {
                    let month = row.month("date")?;
                    let org = row.org(interner)?;
                    let site = interner.get(row.required("site")?);
                    let grid = interner.get(&row.country("grid")?);
                    let kind = match row.required("energy_type")?.to_ascii_lowercase().as_str() {
                        "electricity" => EnergyKind::Electricity,
                        "heat" => EnergyKind::Heat,
                        "steam" => EnergyKind::Steam,
                        other => {
                            return row.fail(
                                "energy_type",
                                format!("`{other}` is not electricity, heat or steam"),
                            );
                        }
                    };
                    let quantity = row.quantity()?;
                    if quantity.unit.dimension() != Dimension::Energy {
                        return row.fail(
                            "unit",
                            format!(
                                "`{}` is not an energy unit (kWh, MWh, MJ, GJ)",
                                quantity.unit
                            ),
                        );
                    }
                    Some(EnergyRow {
                        row: row_ref.clone(),
                        month,
                        org,
                        site,
                        grid,
                        kind,
                        quantity,
                        factor_id: row.optional("factor_id").map(Arc::from),
                    })
                })();
                if let Some(r) = parsed {
                    read.ledger.energy.push(r);
                }
            }
            Kind::Refrigerants => {
                let parsed = (|| {
                    let month = row.month("date")?;
                    let org = row.org(interner)?;
                    let site = interner.get(row.required("site")?);
                    let gas = interner.get(&refrigerant_slug(row.required("gas")?));
                    let released = row.quantity()?;
                    if released.unit.dimension() != Dimension::Mass {
                        return row.fail(
                            "unit",
                            format!("`{}` is not a mass unit (kg, t)", released.unit),
                        );
                    }
                    let gwp =
                        match GwpSet::parse(row.required("gwp")?) {
                            Some(g @ (GwpSet::AR4 | GwpSet::AR5 | GwpSet::AR6)) => g,
                            _ => return row.fail(
                                "gwp",
                                "must be AR4, AR5 or AR6: the GWP set is recorded with the figure"
                                    .into(),
                            ),
                        };
                    Some(RefrigerantRow {
                        row: row_ref.clone(),
                        month,
                        org,
                        site,
                        gas,
                        released,
                        gwp,
                        factor_id: row.optional("factor_id").map(Arc::from),
                    })
                })();
                if let Some(r) = parsed {
                    read.ledger.refrigerants.push(r);
                }
            }
            Kind::Instruments => {
                let parsed = (|| {
                    let id = interner.get(row.required("id")?);
                    let kind = match row.required("kind")?.to_ascii_lowercase().as_str() {
                        "rec" => InstrumentKind::Rec,
                        "ppa" => InstrumentKind::Ppa,
                        "green-premium" => InstrumentKind::GreenPremium,
                        "supplier-specific" => InstrumentKind::SupplierSpecific,
                        other => {
                            return row.fail(
                                "kind",
                                format!(
                                    "`{other}` is not rec, ppa, green-premium or supplier-specific"
                                ),
                            );
                        }
                    };
                    let site = interner.get(row.required("site")?);
                    let grid = interner.get(&row.country("grid")?);
                    let year_text = row.required("vintage_year")?;
                    let Ok(vintage_year) = year_text.parse::<i32>() else {
                        return row.fail("vintage_year", format!("`{year_text}` is not a year"));
                    };
                    let quantity = row.quantity()?;
                    if quantity.unit.dimension() != Dimension::Energy {
                        return row
                            .fail("unit", format!("`{}` is not an energy unit", quantity.unit));
                    }
                    let retired = match row.required("retired")?.to_ascii_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        other => return row.fail("retired", format!("`{other}` is not yes or no")),
                    };
                    let factor = match row.optional("factor_kg_per_kwh") {
                        Some(t) => Some(row.decimal("factor_kg_per_kwh", t)?),
                        None => None,
                    };
                    let factor_kg_per_kwh = match (kind, factor) {
                        (InstrumentKind::SupplierSpecific, None) => {
                            return row.fail(
                                "factor_kg_per_kwh",
                                "a supplier-specific rate needs its emission factor".into(),
                            );
                        }
                        (_, Some(f)) => f,
                        // RECs, PPAs and green premiums here are for renewable generation.
                        (_, None) => Decimal::ZERO,
                    };
                    Some(InstrumentRow {
                        row: row_ref.clone(),
                        id,
                        kind,
                        site,
                        grid,
                        vintage_year,
                        quantity,
                        factor_kg_per_kwh,
                        retired,
                    })
                })();
                if let Some(r) = parsed {
                    read.ledger.instruments.push(r);
                }
            }
        }
        read.problems.append(&mut row.problems);
    }
}

/// Canonical refrigerant name: `R-410A`, `r410a` and `R 410A` are all `r-410a`; `HFC-134a` stays `hfc-134a`.
pub fn refrigerant_slug(s: &str) -> String {
    let lower: String = s
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if let Some(rest) = lower.strip_prefix('r') {
        format!("r-{rest}")
    } else if let Some(rest) = lower.strip_prefix("hfc") {
        format!("hfc-{rest}")
    } else {
        lower
    }
}

struct Row<'r> {
    rec: &'r csv::StringRecord,
    idx: &'r Columns,
    line: u64,
    problems: Vec<RowProblem>,
    file: &'r str,
}

impl<'r> Row<'r> {
    fn fail<T>(&mut self, column: &str, message: String) -> Option<T> {
        self.problems.push(RowProblem {
            file: self.file.to_string(),
            line: self.line,
            position: self.idx.get(column).map(|i| i as u64 + 1),
            column: Some(column.to_string()),
            message,
        });
        None
    }

    fn optional(&self, column: &str) -> Option<&'r str> {
        let i = self.idx.get(column)?;
        self.rec.get(i).map(str::trim).filter(|s| !s.is_empty())
    }

    fn required(&mut self, column: &str) -> Option<&'r str> {
        match self.optional(column) {
            Some(s) => Some(s),
            None => self.fail(column, "empty (required)".into()),
        }
    }

    fn decimal(&mut self, column: &str, text: &str) -> Option<Decimal> {
        match Decimal::from_str(text) {
            Ok(d) if d >= Decimal::ZERO => Some(d),
            Ok(_) => self.fail(column, format!("`{text}` is negative")),
            Err(_) => self.fail(column, format!("`{text}` is not a decimal number")),
        }
    }

    fn quantity(&mut self) -> Option<Quantity> {
        let text = self.required("quantity")?;
        let value = self.decimal("quantity", text)?;
        let unit_text = self.required("unit")?;
        match Unit::parse(unit_text) {
            Ok(unit) => Some(Quantity::new(value, unit)),
            Err(e) => self.fail("unit", e.to_string()),
        }
    }

    fn country(&mut self, column: &str) -> Option<String> {
        let text = self.required(column)?;
        if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
            Some(text.to_ascii_uppercase())
        } else {
            self.fail(
                column,
                format!("`{text}` is not an ISO 3166-1 alpha-2 country code"),
            )
        }
    }

    /// `YYYY-MM-DD` or `YYYY-MM`, to its month.
    fn month(&mut self, column: &str) -> Option<Period> {
        let text = self.required(column)?;
        let b = text.as_bytes();
        let ok_shape = (b.len() == 7 || b.len() == 10)
            && b[4] == b'-'
            && (b.len() == 7 || b[7] == b'-')
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if ok_shape {
            let year: i32 = text[..4].parse().unwrap_or(0);
            let month: u32 = text[5..7].parse().unwrap_or(0);
            let day_ok =
                b.len() == 7 || (1..=31).contains(&text[8..10].parse::<u32>().unwrap_or(0));
            if (1..=12).contains(&month) && day_ok {
                return Some(Period::month(year, month));
            }
        }
        self.fail(
            column,
            format!("`{text}` is not a date (YYYY-MM-DD or YYYY-MM)"),
        )
    }

    fn org(&mut self, interner: &mut Interner) -> Option<OrgUnit> {
        let department = interner.get(self.required("department")?);
        let team = interner.get(self.optional("team").unwrap_or(""));
        Some(OrgUnit { department, team })
    }
}
