//! Scope 3 upstream categories 1–8, category 9 (downstream transportation and distribution)
//! and PACT v3 PCF composition.
//!
//! Pipeline: [`factors`] (emission-factor sets with provenance) + [`ledger`] (validated
//! activity CSVs) + [`supplier`] (the inbox of received PACT footprints) →
//! [`calc::calculate`] (GHG Protocol method hierarchy) → [`calc::Report`], rendered by
//! [`report`]. [`compose`] builds the company's own PACT footprint from a bill of
//! materials, carrying every PACT figure of its inputs ([`figures`]); [`avoided`] reports
//! avoided emissions outside the inventory.
//!
//! All emission values and factors are `rust_decimal::Decimal`; no floats.

pub mod avoided;
pub mod calc;
pub mod compose;
pub mod factors;
pub mod figures;
pub mod inbox;
pub mod ledger;
pub mod report;
pub mod supplier;
pub mod units;

#[cfg(test)]
mod tests;

pub use avoided::{AvoidedLine, AvoidedReport};
pub use calc::{
    CalcError, CategoryTotal, Method, Report, ReportOptions, ResultLine, calculate, calculate_read,
};
pub use compose::{Bom, BomEntry, BomProblem, ComposeError, Composed, compose, load_bom};
pub use factors::{Factor, FactorError, FactorLibrary, FactorSet, RangeChoice, builtin_sets};
pub use figures::{Figure, Figures};
pub use ledger::{
    Ledger, LedgerError, ReadLedger, RowProblem, load_ledger, read_ledger, read_ledger_with,
};
pub use report::Format;
pub use supplier::{ShipmentPcf, SupplierIndex, SupplierPcf};
pub use units::{Emissions, Quantity, Unit, convert};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Data-quality ratings on PACT v3's 1–5 scale (1 = best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dqi {
    #[serde(rename = "technologicalDQR", with = "rust_decimal::serde::str")]
    pub technological: Decimal,
    #[serde(rename = "geographicalDQR", with = "rust_decimal::serde::str")]
    pub geographical: Decimal,
    #[serde(rename = "temporalDQR", with = "rust_decimal::serde::str")]
    pub temporal: Decimal,
}

impl Dqi {
    pub fn new(t: u8, g: u8, tm: u8) -> Self {
        Self {
            technological: Decimal::from(t),
            geographical: Decimal::from(g),
            temporal: Decimal::from(tm),
        }
    }
}

/// IPCC GWP vintage of a factor or result. `Unspecified` when the source does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GwpSet {
    AR4,
    AR5,
    AR6,
    #[serde(rename = "unspecified")]
    Unspecified,
}

impl GwpSet {
    pub fn parse(s: &str) -> Option<GwpSet> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AR4" => Some(GwpSet::AR4),
            "AR5" => Some(GwpSet::AR5),
            "AR6" => Some(GwpSet::AR6),
            "" | "UNSPECIFIED" | "UNKNOWN" => Some(GwpSet::Unspecified),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GwpSet::AR4 => "AR4",
            GwpSet::AR5 => "AR5",
            GwpSet::AR6 => "AR6",
            GwpSet::Unspecified => "unspecified",
        }
    }
}

impl fmt::Display for GwpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scope 3 category (GHG Protocol Scope 3 Standard, ch. 5): the upstream ones and
/// category 9, downstream transportation and distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    C1PurchasedGoods,
    C2CapitalGoods,
    C3FuelEnergy,
    C4UpstreamTransport,
    C5Waste,
    C6BusinessTravel,
    C7Commuting,
    C8UpstreamLeased,
    C9DownstreamTransport,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::C1PurchasedGoods,
        Category::C2CapitalGoods,
        Category::C3FuelEnergy,
        Category::C4UpstreamTransport,
        Category::C5Waste,
        Category::C6BusinessTravel,
        Category::C7Commuting,
        Category::C8UpstreamLeased,
        Category::C9DownstreamTransport,
    ];

    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::C1PurchasedGoods => "purchased goods and services",
            Category::C2CapitalGoods => "capital goods",
            Category::C3FuelEnergy => "fuel- and energy-related activities",
            Category::C4UpstreamTransport => "upstream transportation and distribution",
            Category::C5Waste => "waste generated in operations",
            Category::C6BusinessTravel => "business travel",
            Category::C7Commuting => "employee commuting",
            Category::C8UpstreamLeased => "upstream leased assets",
            Category::C9DownstreamTransport => "downstream transportation and distribution",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.name())
    }
}

/// Where a ledger row came from: file and 1-based line (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRef {
    pub file: Arc<str>,
    pub line: u64,
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Lower-cases a string, allocating only when it has upper-case characters: the
/// supplier lookup runs once per purchase line and most ids are already lower-case.
pub(crate) fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) || !s.is_ascii() {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}
