//! The CBAM emissions record: what an installation's operator communicates to an importer
//! for one installation, CN code and reporting period (Implementing Regulation (EU)
//! 2023/1773, Annex IV, "content of the recommended communication from operators of
//! installations to reporting declarants"), every figure with how it was obtained.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::CbamError;
use crate::cn::{Category, CnCode};
use crate::units::{MwhPerTonne, Percent, TCo2ePerMwh, TCo2ePerTonne, Tonnes, TonnesPerTonne};

/// `tanso` record format version, carried in every record.
pub const RECORD_VERSION: &str = "tanso-cbam/1";

/// Decimal places of a reported specific embedded emission (t CO2e/t): a tanso choice (the
/// annexes prescribe none that we could confirm), fine enough that a quantity of 10,000 t
/// multiplied by the rounded figure moves by less than 0.01 t CO2e.
pub const SEE_DP: u32 = 6;

/// Decimal places of reported emissions totals (t CO2e): one kilogram.
pub const TOTAL_DP: u32 = 3;

/// An ISO 3166-1 alpha-2 country code, checked by shape (two capital letters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

impl Country {
    pub fn parse(text: &str) -> Result<Country, CbamError> {
        let t = text.trim();
        if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CbamError::Invalid {
                field: "country".into(),
                value: text.chars().take(40).collect(),
                reason: "not an ISO 3166-1 alpha-2 code (two capital letters)".into(),
            });
        }
        Ok(Country(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Country {
    type Error = CbamError;
    fn try_from(s: String) -> Result<Country, CbamError> {
        Country::parse(&s)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.0
    }
}

/// A UN/LOCODE (`KRPUS`): the country's alpha-2 code and three letters or digits 2-9,
/// checked by shape (UNECE, UN/LOCODE Manual, section 3.2); whether the location exists is
/// not checked (the code list is not shipped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnLocode(String);

impl UnLocode {
    pub fn parse(text: &str) -> Result<UnLocode, CbamError> {
        let t: String = text.chars().filter(|c| *c != ' ').collect();
        let ok = t.len() == 5
            && t.as_bytes()[..2].iter().all(|b| b.is_ascii_uppercase())
            && t.as_bytes()[2..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'9').contains(b));
        if !ok {
            return Err(CbamError::Invalid {
                field: "unlocode".into(),
                value: text.chars().take(40).collect(),
                reason: "not a UN/LOCODE (country code and three letters or digits 2-9)".into(),
            });
        }
        Ok(UnLocode(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country part.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

impl TryFrom<String> for UnLocode {
    type Error = CbamError;
    fn try_from(s: String) -> Result<UnLocode, CbamError> {
        UnLocode::parse(&s)
    }
}

impl From<UnLocode> for String {
    fn from(c: UnLocode) -> String {
        c.0
    }
}

/// WGS 84 coordinates in decimal degrees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coordinates {
    #[serde(with = "crate::units::exact")]
    pub latitude: Decimal,
    #[serde(with = "crate::units::exact")]
    pub longitude: Decimal,
}

/// The operator of an installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operator {
    pub name: String,
    /// The operator's identifier in the CBAM Registry's operator portal (O3CI), where registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    pub country: Country,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
}

/// The installation where goods are produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Installation {
    pub operator: Operator,
    /// The installation's identifier as registered in the CBAM Registry's operator portal
    /// (O3CI), where it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<String>,
    pub name: String,
    pub country: Country,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocode: Option<UnLocode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
}

impl Installation {
    /// Checks what the types cannot: the UN/LOCODE's country is the installation's, and
    /// coordinates are on the globe.
    pub fn validate(&self) -> Result<(), CbamError> {
        if let Some(loc) = &self.unlocode
            && loc.country() != self.country.as_str()
        {
            return Err(CbamError::Invalid {
                field: "installation.unlocode".into(),
                value: loc.as_str().into(),
                reason: format!("its country is not the installation's ({})", self.country),
            });
        }
        if let Some(c) = &self.coordinates {
            let lat_ok = c.latitude.abs() <= Decimal::from(90);
            let lon_ok = c.longitude.abs() <= Decimal::from(180);
            if !lat_ok || !lon_ok {
                return Err(CbamError::Invalid {
                    field: "installation.coordinates".into(),
                    value: format!("{}, {}", c.latitude, c.longitude),
                    reason: "latitude must be within ±90 and longitude within ±180".into(),
                });
            }
        }
        if self.name.trim().is_empty() {
            return Err(CbamError::Invalid {
                field: "installation.name".into(),
                value: String::new(),
                reason: "empty".into(),
            });
        }
        Ok(())
    }

    /// The key under which importers look the installation up: the registry id where there
    /// is one, otherwise the name.
    pub fn key(&self) -> &str {
        self.installation_id.as_deref().unwrap_or(&self.name)
    }
}

/// A reporting period, both days included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn validate(&self) -> Result<(), CbamError> {
        if self.end < self.start {
            return Err(CbamError::Invalid {
                field: "period".into(),
                value: format!("{} to {}", self.start, self.end),
                reason: "ends before it starts".into(),
            });
        }
        Ok(())
    }

    /// Whether `day` falls in the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// Whether a figure is the operator's actual (monitored) value or a default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    Actual,
    Default,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Actual => "actual",
            ValueKind::Default => "default",
        }
    }
}

/// A specific embedded emission with how it was obtained: the method (equation), the
/// factors it used and their source, and whether it is actual or default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Figure {
    pub value: TCo2ePerTonne,
    pub kind: ValueKind,
    pub method: String,
    pub source: String,
}

/// Electricity consumed per tonne of good and its emission factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ElectricityUse {
    pub consumed: MwhPerTonne,
    pub factor: TCo2ePerMwh,
    /// Where the factor comes from (grid mix, power purchase agreement, own plant, default).
    pub factor_source: String,
    pub kind: ValueKind,
}

/// A precursor consumed per tonne of good, with its own embedded emissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrecursorUse {
    pub cn_code: CnCode,
    pub mass_per_tonne: TonnesPerTonne,
    pub direct: Figure,
    pub indirect: Figure,
    /// Country of production of the precursor.
    pub origin: Country,
    /// Producing installation, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<String>,
    /// The received record the figures come from, where they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

/// Nitrogen content of a fertiliser by form, per cent of mass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NitrogenContent {
    pub ammonium: Percent,
    pub nitrate: Percent,
    pub urea: Percent,
    pub other: Percent,
}

/// Qualifying parameters the category's goods report (2023/1773 Annex IV section 2 and
/// Annex II section 3, as far as this crate models them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "category", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Qualifying {
    #[serde(rename_all = "camelCase")]
    IronSteel {
        carbon_content: Percent,
        /// Alloy content (other than carbon) of alloyed steel.
        alloy_content: Percent,
        /// Scrap used per tonne of crude steel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scrap_per_tonne: Option<TonnesPerTonne>,
    },
    #[serde(rename_all = "camelCase")]
    Aluminium {
        /// Share of scrap in the aluminium produced.
        scrap_share: Percent,
        alloy_content: Percent,
    },
    #[serde(rename_all = "camelCase")]
    Cement {
        /// Mass ratio of clinker consumed per tonne of cement produced.
        clinker_ratio: Percent,
    },
    #[serde(rename_all = "camelCase")]
    Fertilisers { nitrogen: NitrogenContent },
    #[serde(rename_all = "camelCase")]
    Hydrogen { purity: Percent },
}

impl Qualifying {
    pub fn category(&self) -> Category {
        match self {
            Qualifying::IronSteel { .. } => Category::IronSteel,
            Qualifying::Aluminium { .. } => Category::Aluminium,
            Qualifying::Cement { .. } => Category::Cement,
            Qualifying::Fertilisers { .. } => Category::Fertilisers,
            Qualifying::Hydrogen { .. } => Category::Hydrogen,
        }
    }

    fn percents(&self) -> Vec<(&'static str, Percent)> {
        match self {
            Qualifying::IronSteel {
                carbon_content,
                alloy_content,
                ..
            } => vec![
                ("carbonContent", *carbon_content),
                ("alloyContent", *alloy_content),
            ],
            Qualifying::Aluminium {
                scrap_share,
                alloy_content,
            } => vec![
                ("scrapShare", *scrap_share),
                ("alloyContent", *alloy_content),
            ],
            Qualifying::Cement { clinker_ratio } => vec![("clinkerRatio", *clinker_ratio)],
            Qualifying::Fertilisers { nitrogen } => vec![
                ("nitrogen.ammonium", nitrogen.ammonium),
                ("nitrogen.nitrate", nitrogen.nitrate),
                ("nitrogen.urea", nitrogen.urea),
                ("nitrogen.other", nitrogen.other),
            ],
            Qualifying::Hydrogen { purity } => vec![("purity", *purity)],
        }
    }
}

/// A carbon price due in the country of origin for the embedded emissions, per tonne of
/// good (Regulation (EU) 2023/956 Article 9; 2023/1773 Annex IV section 2(c)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarbonPrice {
    /// Kind of instrument (carbon tax, emission trading system).
    pub instrument: String,
    /// The legal act that sets the price.
    pub legal_act: String,
    pub country: Country,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Price due per tonne of good, before any rebate.
    #[serde(with = "crate::units::exact")]
    pub amount_per_tonne: Decimal,
    /// Rebate or other compensation per tonne of good.
    #[serde(with = "crate::units::exact")]
    pub rebate_per_tonne: Decimal,
}

impl CarbonPrice {
    /// The price effectively paid per tonne of good.
    pub fn net_per_tonne(&self) -> Decimal {
        self.amount_per_tonne - self.rebate_per_tonne
    }
}

/// One CBAM emissions record: one installation, one CN code, one reporting period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CbamRecord {
    /// Always [`RECORD_VERSION`].
    pub version: String,
    /// `urn:tanso:cbam:<installation key>:<cn code>:<start>:<end>`, see [`record_id`].
    pub record_id: String,
    pub installation: Installation,
    pub period: Period,
    pub cn_code: CnCode,
    pub category: Category,
    /// The production process and its route (e.g. `BF-BOF`, `EAF`, `primary electrolysis`).
    pub process: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub quantity_produced: Tonnes,
    /// Specific direct embedded emissions.
    pub direct: Figure,
    /// Specific indirect embedded emissions.
    pub indirect: Figure,
    /// Whether indirect emissions count towards the declaration (false for the goods of
    /// Regulation (EU) 2023/956 Annex II).
    pub indirect_counted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electricity: Option<ElectricityUse>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub precursors: Vec<PrecursorUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifying: Option<Qualifying>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carbon_prices: Vec<CarbonPrice>,
    /// The PACT footprint of the same product, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint_id: Option<String>,
    /// The texts the figures follow.
    pub basis: String,
    /// The rounding rule of every figure.
    pub rounding: String,
}

/// The identifier of the record for an installation, CN code and period.
pub fn record_id(installation: &Installation, cn: &CnCode, period: &Period) -> String {
    let key: String = installation
        .key()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("urn:tanso:cbam:{key}:{cn}:{}:{}", period.start, period.end)
}

impl CbamRecord {
    /// The direct plus, where it counts, the indirect specific embedded emissions.
    pub fn counted_see(&self) -> TCo2ePerTonne {
        if self.indirect_counted {
            self.direct.value + self.indirect.value
        } else {
            self.direct.value
        }
    }

    /// Whether any figure of the record is a default value.
    pub fn uses_defaults(&self) -> bool {
        self.direct.kind == ValueKind::Default
            || self.indirect.kind == ValueKind::Default
            || self.precursors.iter().any(|p| {
                p.direct.kind == ValueKind::Default || p.indirect.kind == ValueKind::Default
            })
    }

    /// Checks a record received or imported: the CN code is in Annex I and of the stated
    /// category, no figure is negative, percentages are within 0-100, the qualifying
    /// parameters are the category's, the identity fields are well formed, and indirect
    /// emissions have an electricity factor.
    pub fn validate(&self) -> Result<(), CbamError> {
        if self.version != RECORD_VERSION {
            return Err(invalid("version", &self.version, "unknown record version"));
        }
        self.installation.validate()?;
        self.period.validate()?;
        let category = self.cn_code.category()?;
        if category != self.category {
            return Err(invalid(
                "category",
                self.category.as_str(),
                &format!("CN code {} is {}", self.cn_code, category),
            ));
        }
        if self.record_id != record_id(&self.installation, &self.cn_code, &self.period) {
            return Err(invalid(
                "recordId",
                &self.record_id,
                "does not match installation, CN code and period",
            ));
        }
        if self.indirect_counted == category.direct_only() {
            return Err(invalid(
                "indirectCounted",
                &self.indirect_counted.to_string(),
                "contradicts Regulation (EU) 2023/956 Annex II for this category",
            ));
        }
        non_negative("quantityProduced", self.quantity_produced.0)?;
        non_negative("direct.value", self.direct.value.0)?;
        non_negative("indirect.value", self.indirect.value.0)?;
        match &self.electricity {
            Some(e) => {
                non_negative("electricity.consumed", e.consumed.0)?;
                non_negative("electricity.factor", e.factor.0)?;
                if e.factor_source.trim().is_empty() {
                    return Err(invalid("electricity.factorSource", "", "empty"));
                }
            }
            None if !self.indirect.value.0.is_zero() && self.indirect.kind == ValueKind::Actual => {
                return Err(CbamError::NoElectricityFactor {
                    what: format!("record {}", self.record_id),
                });
            }
            None => {}
        }
        for (i, p) in self.precursors.iter().enumerate() {
            let pc = p.cn_code.category()?;
            if !category.takes_precursor(pc) {
                return Err(CbamError::NotAPrecursor {
                    good: self.cn_code.to_string(),
                    precursor: p.cn_code.to_string(),
                });
            }
            non_negative(&format!("precursors[{i}].massPerTonne"), p.mass_per_tonne.0)?;
            non_negative(&format!("precursors[{i}].direct.value"), p.direct.value.0)?;
            non_negative(
                &format!("precursors[{i}].indirect.value"),
                p.indirect.value.0,
            )?;
        }
        if let Some(q) = &self.qualifying {
            if q.category() != category {
                return Err(invalid(
                    "qualifying.category",
                    q.category().as_str(),
                    &format!("the good is {category}"),
                ));
            }
            for (name, pct) in q.percents() {
                if pct.0 < Decimal::ZERO || pct.0 > Decimal::ONE_HUNDRED {
                    return Err(invalid(
                        &format!("qualifying.{name}"),
                        &pct.0.to_string(),
                        "must be within 0 and 100",
                    ));
                }
            }
        }
        for (i, c) in self.carbon_prices.iter().enumerate() {
            non_negative(
                &format!("carbonPrices[{i}].amountPerTonne"),
                c.amount_per_tonne,
            )?;
            non_negative(
                &format!("carbonPrices[{i}].rebatePerTonne"),
                c.rebate_per_tonne,
            )?;
            if c.rebate_per_tonne > c.amount_per_tonne {
                return Err(invalid(
                    &format!("carbonPrices[{i}].rebatePerTonne"),
                    &c.rebate_per_tonne.to_string(),
                    "exceeds the amount due",
                ));
            }
            if c.currency.len() != 3 || !c.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    &format!("carbonPrices[{i}].currency"),
                    &c.currency,
                    "not an ISO 4217 code",
                ));
            }
        }
        Ok(())
    }
}

fn invalid(field: &str, value: &str, reason: &str) -> CbamError {
    CbamError::Invalid {
        field: field.into(),
        value: value.chars().take(80).collect(),
        reason: reason.into(),
    }
}

fn non_negative(field: &str, v: Decimal) -> Result<(), CbamError> {
    if v < Decimal::ZERO {
        return Err(CbamError::Negative {
            field: field.into(),
            value: v.to_string(),
        });
    }
    Ok(())
}
