//! CBAM records inside PACT footprints: how they travel between nodes.
//!
//! A record is carried as a PACT v3 `DataModelExtension` of the product's own footprint
//! (`dataSchema` [`EXTENSION_SCHEMA`]), so it is signed with the footprint's full view and
//! travels through the very same publish, request, fulfil, policy, audit and inbox paths as
//! the footprint; a record changed after signing fails `tanso verify` like any changed
//! footprint byte. The summary view carries no extensions, so only partners granted the full
//! view see CBAM data.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::CbamError;
use crate::record::CbamRecord;

/// `dataSchema` of the CBAM extension.
pub const EXTENSION_SCHEMA: &str = "https://tanso.dev/schemas/cbam-record/v1.json";
/// `specVersion` of the CBAM extension.
pub const EXTENSION_VERSION: &str = "1.0.0";
/// At most this many records ride on one footprint (a bound on what a partner can send).
pub const MAX_RECORDS: usize = 1_000;

/// A record as received, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedRecord {
    pub record: CbamRecord,
    /// The owner company of the footprint that carried it.
    pub from_company: String,
    /// The footprint that carried it.
    pub footprint_id: String,
    pub received_at: String,
    /// The inbox's signature status of the carrying footprint.
    pub signature: String,
}

/// `doc` (a footprint's PACT JSON, without its signature extension) with `records` set in its
/// CBAM extension: a record with the same id is replaced, others are kept.
pub fn attach(mut doc: Value, records: &[CbamRecord]) -> Result<Value, CbamError> {
    for r in records {
        r.validate()?;
    }
    let mut existing = records_in(&doc)?;
    for r in records {
        existing.retain(|e| e.record_id != r.record_id);
        existing.push(r.clone());
    }
    if existing.len() > MAX_RECORDS {
        return Err(CbamError::Invalid {
            field: "extensions".into(),
            value: existing.len().to_string(),
            reason: format!("more than {MAX_RECORDS} CBAM records on one footprint"),
        });
    }
    existing.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    let obj = doc.as_object_mut().ok_or_else(|| CbamError::Invalid {
        field: "footprint".into(),
        value: String::new(),
        reason: "not a JSON object".into(),
    })?;
    let exts = obj
        .entry("extensions")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = exts else {
        return Err(CbamError::Invalid {
            field: "extensions".into(),
            value: String::new(),
            reason: "not an array".into(),
        });
    };
    list.retain(|e| e.get("dataSchema").and_then(Value::as_str) != Some(EXTENSION_SCHEMA));
    let records = serde_json::to_value(&existing).map_err(|e| CbamError::Invalid {
        field: "records".into(),
        value: String::new(),
        reason: e.to_string(),
    })?;
    list.push(json!({
        "specVersion": EXTENSION_VERSION,
        "dataSchema": EXTENSION_SCHEMA,
        "data": { "records": records },
    }));
    Ok(doc)
}

/// The CBAM records a footprint carries, each validated; none when it carries none.
pub fn records_in(doc: &Value) -> Result<Vec<CbamRecord>, CbamError> {
    let mut out = Vec::new();
    let Some(exts) = doc.get("extensions").and_then(Value::as_array) else {
        return Ok(out);
    };
    for ext in exts {
        if ext.get("dataSchema").and_then(Value::as_str) != Some(EXTENSION_SCHEMA) {
            continue;
        }
        let records = ext
            .get("data")
            .and_then(|d| d.get("records"))
            .and_then(Value::as_array)
            .ok_or_else(|| CbamError::Invalid {
                field: "extensions[cbam].data.records".into(),
                value: String::new(),
                reason: "missing or not an array".into(),
            })?;
        if records.len() > MAX_RECORDS {
            return Err(CbamError::Invalid {
                field: "extensions[cbam].data.records".into(),
                value: records.len().to_string(),
                reason: format!("more than {MAX_RECORDS} records"),
            });
        }
        for (i, r) in records.iter().enumerate() {
            let rec: CbamRecord =
                serde_json::from_value(r.clone()).map_err(|e| CbamError::Invalid {
                    field: format!("extensions[cbam].data.records[{i}]"),
                    value: String::new(),
                    reason: e.to_string(),
                })?;
            rec.validate()?;
            out.push(rec);
        }
    }
    Ok(out)
}

/// The extension object alone (for a document that is built elsewhere).
pub fn extension(records: &[CbamRecord]) -> Result<Map<String, Value>, CbamError> {
    let doc = attach(json!({}), records)?;
    Ok(doc["extensions"][0]
        .as_object()
        .cloned()
        .unwrap_or_default())
}
