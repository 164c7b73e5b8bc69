//! Emission-factor sets with provenance: one CSV layout for shipped and user sets.
//!
//! Layout (header required, column order free): `id, key, name, value, low, high,
//! numerator, denominator, gwp, geography, year, dqr_tech, set, version, source,
//! licence, notes`. A blank `value` with no range means "not available" and is never
//! read as 0. `low`/`high` keep a published range; `value` is then the low end and
//! [`RangeChoice::High`] picks the conservative high end. `key` lets the calculation
//! find a default factor (e.g. `transport:truck`, `naics:331110:purchaser`) without the
//! ledger naming an id; the first set in priority order wins.

use crate::scope3::units::{Co2eUnit, Unit};
use crate::scope3::{Dqi, GwpSet};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use thiserror::Error;

/// Errors from loading or using factor sets.
#[derive(Debug, Error)]
pub enum FactorError {
    #[error("cannot read factor file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: missing column `{column}`")]
    MissingColumn { file: String, column: String },
    #[error("duplicate factor id `{0}`")]
    Duplicate(String),
    #[error("factor `{0}` has no value (blank in source: not available)")]
    NotAvailable(String),
    #[error("unknown factor id `{0}`")]
    UnknownId(String),
}

/// Which end of a published range to use. The guide's worked examples use the low
/// end, so that is the default; `High` is the conservative choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeChoice {
    #[default]
    Low,
    High,
}

/// What a factor is per: a physical unit or a currency in a price year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Per {
    Unit(Unit),
    /// e.g. `USD2022`: spend in that currency (ISO 4217 bytes) at that year's prices.
    Spend {
        currency: [u8; 3],
        year: i32,
    },
}

impl Per {
    /// `Per::Spend` from a currency code; `None` unless three ASCII upper-case letters.
    pub fn spend(currency: &str, year: i32) -> Option<Per> {
        let b = currency.as_bytes();
        (b.len() == 3 && b.iter().all(|c| c.is_ascii_uppercase())).then(|| Per::Spend {
            currency: [b[0], b[1], b[2]],
            year,
        })
    }
}

impl Serialize for Per {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Per {
    pub fn parse(s: &str) -> Option<Per> {
        if let Ok(u) = Unit::parse(s) {
            return Some(Per::Unit(u));
        }
        let s = s.trim();
        if s.len() == 7 && s.is_char_boundary(3) {
            let (c, y) = s.split_at(3);
            if let Ok(year) = y.parse() {
                return Per::spend(c, year);
            }
        }
        None
    }
}

impl fmt::Display for Per {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Per::Unit(u) => write!(f, "{u}"),
            Per::Spend { currency, year } => {
                write!(f, "{}{year}", String::from_utf8_lossy(currency))
            }
        }
    }
}

/// Provenance shared by the factors of one set (interned per distinct row values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub set: String,
    pub version: String,
    pub source: String,
    pub licence: String,
}

/// One emission factor.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    pub id: Arc<str>,
    pub key: Option<String>,
    pub name: String,
    /// `None` = not available in the source (never 0).
    pub value: Option<Decimal>,
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
    pub numerator: Co2eUnit,
    pub per: Per,
    pub gwp: GwpSet,
    /// ISO 3166-1 alpha-2, or `GLO` for generic/global values.
    pub geography: String,
    pub year: i32,
    /// Technological DQR (1–5) of this factor as a stand-in for the real process.
    pub dqr_tech: u8,
    pub source: Arc<Source>,
    pub notes: String,
}

impl Factor {
    /// The value to use under a range choice; errors if the source left it blank.
    pub fn pick(&self, range: RangeChoice) -> Result<Decimal, FactorError> {
        let v = match range {
            RangeChoice::High => self.high.or(self.value),
            RangeChoice::Low => self.value.or(self.low),
        };
        v.ok_or_else(|| FactorError::NotAvailable(self.id.to_string()))
    }

    /// `kgCO2e/tonne.km`-style label.
    pub fn unit_label(&self) -> String {
        format!("{}/{}", self.numerator.as_str(), self.per)
    }

    /// Default DQI of a database factor used for an activity in `activity_geo` in
    /// `reporting_year`: technological from the set's column, geographical 1 when the
    /// factor's country equals the activity's, 3 for generic (`GLO`) values, 4 for
    /// another country (e.g. US EPA factors for a Korean supplier); temporal 1 (<3 yr),
    /// 2 (<6), 3 (<10), 4 otherwise (GHGP-S3 Table 7.6 bands).
    pub fn default_dqi(&self, activity_geo: &str, reporting_year: Option<i32>) -> Dqi {
        let geo = if self.geography.eq_ignore_ascii_case(activity_geo) {
            1
        } else if self.geography.eq_ignore_ascii_case("GLO") {
            3
        } else {
            4
        };
        Dqi::new(self.dqr_tech, geo, temporal_dqr(self.year, reporting_year))
    }
}

/// Temporal DQR from the age of the data (GHGP-S3 Table 7.6 bands); without a
/// reporting year the factor is assumed current.
pub fn temporal_dqr(data_year: i32, reporting_year: Option<i32>) -> u8 {
    match reporting_year.map(|y| (y - data_year).abs()) {
        None => 1,
        Some(d) if d < 3 => 1,
        Some(d) if d < 6 => 2,
        Some(d) if d < 10 => 3,
        Some(_) => 4,
    }
}

/// A named set of factors from one CSV.
#[derive(Debug, Clone, Serialize)]
pub struct FactorSet {
    pub name: String,
    pub origin: String,
    pub factors: Vec<Factor>,
}

/// The shipped sets, embedded so the binary needs no data directory.
///
/// Paths are relative to this file: the repo-root `data/` directory. This is the only
/// place that names shipped data paths.
pub fn builtin_sets() -> Vec<FactorSet> {
    const SETS: [(&str, &str); 6] = [
        (
            "guide_defaults.csv",
            include_str!("../../../../data/factors/guide_defaults.csv"),
        ),
        (
            "esg_avoided_defaults.csv",
            include_str!("../../../../data/factors/esg_avoided_defaults.csv"),
        ),
        (
            "epa_hub_2025.csv",
            include_str!("../../../../data/factors/epa_hub_2025.csv"),
        ),
        (
            "desnz_2024.csv",
            include_str!("../../../../data/factors/desnz_2024.csv"),
        ),
        (
            "epa_supply_chain_v1_3.csv",
            include_str!("../../../../data/factors/epa_supply_chain_v1_3.csv"),
        ),
        (
            "refrigerants_ar6.csv",
            include_str!("../../../../data/factors/refrigerants_ar6.csv"),
        ),
    ];
    SETS.iter()
        .map(|(name, text)| {
            parse_set(name, text.as_bytes()).expect("shipped factor sets are valid")
        })
        .collect()
}

/// Loads a user factor set from a CSV file in the common layout.
pub fn load_set(path: &Path) -> Result<FactorSet, FactorError> {
    let bytes = std::fs::read(path).map_err(|source| FactorError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_set(&path.display().to_string(), &bytes)
}

const COLUMNS: [&str; 17] = [
    "id",
    "key",
    "name",
    "value",
    "low",
    "high",
    "numerator",
    "denominator",
    "gwp",
    "geography",
    "year",
    "dqr_tech",
    "set",
    "version",
    "source",
    "licence",
    "notes",
];

/// Parses one set; every row is validated and the first bad row is reported.
pub fn parse_set(origin: &str, bytes: &[u8]) -> Result<FactorSet, FactorError> {
    let shape = crate::csv_lines::Shape {
        trim: true,
        flexible: false,
    };
    let mut rdr = crate::csv_lines::CsvReader::new(bytes, shape);
    let row_error = |e: crate::csv_lines::CsvProblem| FactorError::Row {
        file: origin.to_string(),
        line: e.line,
        message: e.message,
    };
    let (_, headers) = rdr.header().map_err(row_error)?;
    let mut idx = [0usize; 17];
    for (i, c) in COLUMNS.iter().enumerate() {
        idx[i] = headers
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| FactorError::MissingColumn {
                file: origin.to_string(),
                column: c.to_string(),
            })?;
    }
    let mut factors = Vec::new();
    let mut sources: Vec<Arc<Source>> = Vec::new();
    let mut set_name = String::new();
    let mut rec = csv::StringRecord::new();
    while let Some(line) = rdr.read(&mut rec).map_err(row_error)? {
        let f = |i: usize| rec.get(idx[i]).unwrap_or("");
        let err = |m: String| FactorError::Row {
            file: origin.to_string(),
            line,
            message: m,
        };
        let dec = |i: usize| -> Result<Option<Decimal>, FactorError> {
            let s = f(i);
            if s.is_empty() {
                return Ok(None);
            }
            Decimal::from_str(s)
                .or_else(|_| Decimal::from_scientific(s))
                .map(Some)
                .map_err(|_| err(format!("column `{}`: `{s}` is not a decimal", COLUMNS[i])))
        };
        let id = f(0);
        if id.is_empty() {
            return Err(err("column `id`: empty".into()));
        }
        let (value, low, high) = (dec(3)?, dec(4)?, dec(5)?);
        if let (Some(l), Some(h)) = (low, high) {
            if l > h {
                return Err(err(format!("range low {l} is above high {h}")));
            }
            if let Some(v) = value
                && (v < l || v > h)
            {
                return Err(err(format!("value {v} is outside its range {l}-{h}")));
            }
        } else if low.is_some() != high.is_some() {
            return Err(err("a range needs both `low` and `high`".into()));
        }
        let numerator = Co2eUnit::parse(f(6)).ok_or_else(|| {
            err(format!(
                "column `numerator`: `{}` is not kgCO2e or tCO2e",
                f(6)
            ))
        })?;
        let per = Per::parse(f(7)).ok_or_else(|| {
            err(format!(
                "column `denominator`: `{}` is not a unit or a currency-year like USD2022",
                f(7)
            ))
        })?;
        let gwp = GwpSet::parse(f(8)).ok_or_else(|| {
            err(format!(
                "column `gwp`: `{}` is not AR4, AR5, AR6 or unspecified",
                f(8)
            ))
        })?;
        let geography = f(9).to_ascii_uppercase();
        if !(geography == "GLO"
            || (geography.len() == 2 && geography.bytes().all(|b| b.is_ascii_uppercase())))
        {
            return Err(err(format!(
                "column `geography`: `{}` is not an ISO country code or GLO",
                f(9)
            )));
        }
        let year: i32 = f(10)
            .parse()
            .map_err(|_| err(format!("column `year`: `{}` is not a year", f(10))))?;
        let dqr_tech: u8 = f(11)
            .parse()
            .ok()
            .filter(|d| (1..=5).contains(d))
            .ok_or_else(|| err(format!("column `dqr_tech`: `{}` is not 1-5", f(11))))?;
        if f(12).is_empty() || f(14).is_empty() || f(15).is_empty() {
            return Err(err(
                "columns `set`, `source` and `licence` must be filled".into()
            ));
        }
        let src = Source {
            set: f(12).to_string(),
            version: f(13).to_string(),
            source: f(14).to_string(),
            licence: f(15).to_string(),
        };
        let source = match sources.iter().find(|s| ***s == src) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(src);
                sources.push(s.clone());
                s
            }
        };
        if set_name.is_empty() {
            set_name = source.set.clone();
        }
        factors.push(Factor {
            id: Arc::from(id),
            key: (!f(1).is_empty()).then(|| f(1).to_string()),
            name: f(2).to_string(),
            value,
            low,
            high,
            numerator,
            per,
            gwp,
            geography,
            year,
            dqr_tech,
            source,
            notes: f(16).to_string(),
        });
    }
    Ok(FactorSet {
        name: set_name,
        origin: origin.to_string(),
        factors,
    })
}

/// All factor sets in priority order, indexed by id and by key.
#[derive(Debug, Clone)]
pub struct FactorLibrary {
    sets: Vec<FactorSet>,
    by_id: HashMap<String, (usize, usize)>,
    by_key: HashMap<String, Vec<(usize, usize)>>,
}

impl FactorLibrary {
    /// Builds a library; earlier sets win key lookups. Factor ids must be unique.
    pub fn new(sets: Vec<FactorSet>) -> Result<Self, FactorError> {
        let mut by_id = HashMap::new();
        let mut by_key: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (si, s) in sets.iter().enumerate() {
            for (fi, f) in s.factors.iter().enumerate() {
                if by_id.insert(f.id.to_ascii_lowercase(), (si, fi)).is_some() {
                    return Err(FactorError::Duplicate(f.id.to_string()));
                }
                if let Some(k) = &f.key {
                    by_key
                        .entry(k.to_ascii_lowercase())
                        .or_default()
                        .push((si, fi));
                }
            }
        }
        Ok(Self {
            sets,
            by_id,
            by_key,
        })
    }

    /// The shipped sets: guide defaults, avoided-emission defaults, EPA Hub 2025,
    /// DESNZ 2024, EPA supply-chain v1.3, IPCC AR6 refrigerant GWPs (in that key-lookup priority).
    pub fn builtin() -> Self {
        Self::new(builtin_sets()).expect("shipped factor ids are unique")
    }

    /// A copy with user sets placed in front (they win key lookups).
    pub fn with_extra(&self, extra: &[FactorSet]) -> Result<Self, FactorError> {
        let mut sets = extra.to_vec();
        sets.extend(self.sets.iter().cloned());
        Self::new(sets)
    }

    pub fn sets(&self) -> &[FactorSet] {
        &self.sets
    }

    pub fn get(&self, id: &str) -> Option<&Factor> {
        let (s, f) = self.by_id.get(&id.to_ascii_lowercase())?;
        Some(&self.sets[*s].factors[*f])
    }

    /// First factor (in priority order) with this key whose denominator accepts an
    /// activity in `unit` (same dimension), or any unit when `unit` is `None`.
    pub fn find(&self, key: &str, unit: Option<Unit>) -> Option<&Factor> {
        self.by_key
            .get(&key.to_ascii_lowercase())?
            .iter()
            .map(|(s, f)| &self.sets[*s].factors[*f])
            .find(|f| match (unit, &f.per) {
                (None, _) => true,
                (Some(u), Per::Unit(fu)) => u.dimension() == fu.dimension(),
                (Some(_), Per::Spend { .. }) => false,
            })
    }

    /// Whether any factor carries this key.
    pub fn has_key(&self, key: &str) -> bool {
        self.by_key.contains_key(&key.to_ascii_lowercase())
    }
}
