//! PACT v3.0.3 data model, validation, filters and v2 import.
//!
//! [`import`] is the one entry point for footprints coming from outside (files, the REST
//! gateway, partners): it detects v2, converts it, validates the v3 result and returns the
//! typed footprint with notes on everything that was dropped or derived.

pub mod filter;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod ileap;
pub mod model;
pub mod stream;
pub mod v2;
pub mod validate;

#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::Value;

pub use filter::{FilterError, FootprintFilter, StatusCriterion};
pub use model::{
    CarbonFootprint, CcuCalculationApproach, Decimal, DeclaredUnit, Dqi, EmissionFactorSource,
    Extension, ProductFootprint, ProductOrSectorSpecificRule, RuleOperator, Status, Verification,
    VerificationCoverage,
};
pub use validate::{
    DocumentError, Finding, ValidationContext, parse_document, parse_document_with, validate,
};

/// The PACT major version a footprint arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// PACT 2.x, converted to v3 on import.
    V2,
    /// PACT 3.x.
    V3,
}

/// A footprint accepted by [`import`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The valid v3 footprint.
    pub footprint: ProductFootprint,
    /// The version the input was written in.
    pub source_version: SpecVersion,
    /// One line per field that was dropped, renamed with a change of meaning, or derived,
    /// each starting with the JSON pointer of the input field.
    pub notes: Vec<String>,
}

/// Imports one footprint JSON value (v2 or v3). The v3 form is validated; any finding rejects
/// the footprint. Unknown fields are allowed by PACT but not kept by the typed model: each is
/// listed in `notes`.
pub fn import(value: Value, ctx: &ValidationContext) -> Result<Imported, Vec<Finding>> {
    let (source_version, mut v3, mut notes) = if v2::is_v2(&value) {
        let (v3, notes) = v2::convert(&value);
        (SpecVersion::V2, v3, notes)
    } else {
        (SpecVersion::V3, value, Vec::new())
    };
    validate::strip_nulls(&mut v3);
    let findings = validate::validate_stripped(&v3, ctx);
    if !findings.is_empty() {
        return Err(findings);
    }
    let footprint = ProductFootprint::deserialize(&v3).map_err(|e| {
        // Unreachable for schema-valid input; reported rather than panicking all the same.
        vec![Finding {
            path: String::new(),
            rule: "model",
            message: format!("does not fit the pact model: {e}"),
        }]
    })?;
    let kept = serde_json::to_value(&footprint).map_err(|e| {
        vec![Finding {
            path: String::new(),
            rule: "model",
            message: format!("cannot be serialised: {e}"),
        }]
    })?;
    dropped_fields(&v3, &kept, &String::new, &mut notes);
    Ok(Imported {
        footprint,
        source_version,
        notes,
    })
}

/// Notes every member of `input` that the typed model did not keep. Extension `data` is kept
/// whole, and empty `extensions` lists are dropped silently (they mean "no extensions").
/// `path` builds the JSON pointer of `input`; it is only called for a dropped member, so a
/// footprint the model keeps whole costs no allocation here.
fn dropped_fields(input: &Value, kept: &Value, path: &dyn Fn() -> String, notes: &mut Vec<String>) {
    match (input, kept) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, iv) in i {
                let p = || format!("{}/{}", path(), key.replace('~', "~0").replace('/', "~1"));
                match k.get(key) {
                    Some(kv) => dropped_fields(iv, kv, &p, notes),
                    None if key == "extensions" && iv.as_array().is_some_and(Vec::is_empty) => {}
                    None => notes.push(format!(
                        "{}: dropped: not part of the pact v3 data model",
                        p()
                    )),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (n, (iv, kv)) in i.iter().zip(k).enumerate() {
                dropped_fields(iv, kv, &|| format!("{}/{n}", path()), notes);
            }
        }
        _ => {}
    }
}
