//! tanso's EU CBAM domain: installations, goods by CN code, the specific embedded emissions
//! of Implementing Regulation (EU) 2023/1773 Annex III, the operator's emissions record
//! (Annex IV), default values, and the importer's declaration.
//!
//! Texts followed (see README.md, "CBAM", for what could and could not be confirmed):
//! Regulation (EU) 2023/956 (Annex I goods, Annex II direct-only goods, Annex IV defaults)
//! as amended by Regulation (EU) 2025/2083; Implementing Regulation (EU) 2023/1773 Annex III
//! (calculation) and Annex IV (communication); Implementing Regulation (EU) 2025/2621
//! (default values; its tables are not shipped).
//!
//! - [`cn`]: CN codes and the Annex I list (`data/annex-i-cn.csv`).
//! - [`units`]: quantities with their unit in the type.
//! - [`record`]: the record, its figures and their provenance, and its validation.
//! - [`calc`]: monitoring data to records ([`calc::calculate`]).
//! - [`defaults`]: the default-value table (`data/default-values.csv`).
//! - [`exchange`]: records carried as an extension of the product's signed PACT footprint.
//! - [`declaration`]: the importer's ledger and declaration.
//! - [`catenax`]: to and from the Catena-X CBAM aspect model 1.0.0.
//! - [`template`]: the Excel communication's `Summary_Communication` sheet (read with
//!   calamine, written with rust_xlsxwriter, both from and to bytes in memory).
//!
//! No IO beyond the readers handed in, no tokio; every figure is an exact `Decimal`,
//! rounded once by [`tanso_model::rounding`]'s rule.

pub mod calc;
pub mod catenax;
pub mod cn;
pub mod declaration;
pub mod defaults;
pub mod exchange;
pub mod record;
pub mod template;
pub mod units;

#[cfg(test)]
mod tests;

pub use calc::{Monitoring, Outcome, calculate, parse_monitoring};
pub use cn::{Category, CnCode};
pub use defaults::{DefaultValue, DefaultValues};
pub use record::{CbamRecord, Figure, Installation, ValueKind};

use thiserror::Error;

/// Every CBAM error: each names the field, code or file position at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CbamError {
    #[error("`{value}` is not an 8-digit CN code")]
    BadCnCode { value: String },
    #[error("CN code {cn_code} is not a CBAM good (Regulation (EU) 2023/956, Annex I)")]
    UnknownCn { cn_code: String },
    #[error("{field} = `{value}`: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
    #[error("{field} is negative ({value})")]
    Negative { field: String, value: String },
    #[error("{what}: indirect emissions need an electricity emission factor and its source")]
    NoElectricityFactor { what: String },
    #[error(
        "process `{process}`: precursor {cn_code} from {origin} has no record and no default value ({detail})"
    )]
    NoPrecursorValue {
        process: String,
        cn_code: String,
        origin: String,
        detail: String,
    },
    #[error("CN code {precursor} is not a relevant precursor of {good}")]
    NotAPrecursor { good: String, precursor: String },
    #[error("unknown {what} `{name}`")]
    Unknown { what: String, name: String },
    #[error("precursor processes form a cycle through `{0}`")]
    Cycle(String),
    #[error("{file}:{line}:{column}: {message}")]
    File {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
}
