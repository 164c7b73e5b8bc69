//! Owner signatures on footprint views, and how they travel inside PACT JSON.
//!
//! The owner signs each view of a footprint at publish time over its RFC 8785 (JCS) bytes:
//! the *full* view is the PACT v3 footprint itself; the *summary* view is a fixed subset
//! (headline PCF, declared unit, reference period, identities). Signing each view, rather
//! than salted-hash selective disclosure (SD-JWT style), keeps verification a single
//! signature check over plain PACT JSON that any JCS library can reproduce, at the cost of
//! one extra signature per footprint (~20 µs) and views fixed by the owner in advance.
//! The signature travels as a PACT `extensions` entry, which PACT clients may ignore.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::{self, CryptoError, NodeKey};
use crate::pact::{ProductFootprint, Status};

/// An owner's signature over one view of a footprint, as stored and as carried in extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigRecord {
    /// "Ed25519".
    pub alg: String,
    pub key_id: String,
    /// base64url (no padding) of the 32-byte public key.
    pub public_key: String,
    pub company_id: String,
    /// "full" or "summary".
    pub view: String,
    /// base64url (no padding) of the 64-byte signature.
    pub signature: String,
}

/// `dataSchema` of the signature extension.
pub const SIGNATURE_SCHEMA: &str = "https://tanso.dev/schemas/owner-signature/v1.json";
/// `specVersion` of the signature extension.
pub const SIGNATURE_EXT_VERSION: &str = "1.0.0";

/// The two disclosure views.
pub const VIEW_FULL: &str = "full";
pub const VIEW_SUMMARY: &str = "summary";

/// Errors verifying a footprint's owner signature.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    #[error("footprint carries no owner signature")]
    Unsigned,
    #[error("signature extension is malformed: {0}")]
    Malformed(String),
    #[error("signature key id {stated} does not match its public key ({actual})")]
    KeyId { stated: String, actual: String },
    #[error("owner signature: {0}")]
    Crypto(#[from] CryptoError),
}

/// The summary view: what a partner granted only `summary` sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    pub spec_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceding_pf_ids: Vec<String>,
    pub created: String,
    pub status: Status,
    pub company_name: String,
    pub company_ids: Vec<String>,
    pub product_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_classifications: Vec<String>,
    pub product_name_company: String,
    pub pcf: SummaryPcf,
}

/// The `pcf` part of the summary view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryPcf {
    pub declared_unit_of_measurement: String,
    pub declared_unit_amount: String,
    pub pcf_excluding_biogenic_uptake: String,
    pub pcf_including_biogenic_uptake: String,
    pub reference_period_start: String,
    pub reference_period_end: String,
}

impl Summary {
    pub fn of(fp: &ProductFootprint) -> Summary {
        Summary {
            id: fp.id.clone(),
            spec_version: fp.spec_version.clone(),
            preceding_pf_ids: fp.preceding_pf_ids.clone().unwrap_or_default(),
            created: fp.created.clone(),
            status: fp.status,
            company_name: fp.company_name.clone(),
            company_ids: fp.company_ids.clone(),
            product_ids: fp.product_ids.clone(),
            product_classifications: fp.product_classifications.clone().unwrap_or_default(),
            product_name_company: fp.product_name_company.clone(),
            pcf: SummaryPcf {
                declared_unit_of_measurement: fp.pcf.declared_unit_of_measurement.as_str().into(),
                declared_unit_amount: fp.pcf.declared_unit_amount.as_str().into(),
                pcf_excluding_biogenic_uptake: fp.pcf.pcf_excluding_biogenic_uptake.as_str().into(),
                pcf_including_biogenic_uptake: fp.pcf.pcf_including_biogenic_uptake.as_str().into(),
                reference_period_start: fp.pcf.reference_period_start.clone(),
                reference_period_end: fp.pcf.reference_period_end.clone(),
            },
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, CryptoError> {
    serde_json::to_value(v).map_err(|e| CryptoError::Canonical(e.to_string()))
}

/// The JSON of a view of `fp`, as signed (without any signature extension).
pub fn view_json(fp: &ProductFootprint, view: &str) -> Result<Value, CryptoError> {
    if view == VIEW_SUMMARY {
        to_value(&Summary::of(fp))
    } else {
        let mut unsigned = fp.clone();
        unsigned
            .extensions
            .retain(|e| e.data_schema != SIGNATURE_SCHEMA);
        to_value(&unsigned)
    }
}

/// The JCS bytes of a view of `fp`, the bytes [`sign_view`] signs for
/// `view_json(fp, view)`, serialised from the typed footprint without a `Value` tree (a
/// full view carrying a signature extension goes through [`view_json`], which drops it).
pub fn view_canonical(fp: &ProductFootprint, view: &str) -> Result<Vec<u8>, CryptoError> {
    if view == VIEW_SUMMARY {
        crypto::canonical_json_of(&Summary::of(fp))
    } else if fp
        .extensions
        .iter()
        .any(|e| e.data_schema == SIGNATURE_SCHEMA)
    {
        crypto::canonical_json(&view_json(fp, view)?)
    } else {
        crypto::canonical_json_of(fp)
    }
}

/// Signs one view.
pub fn sign_view(
    key: &NodeKey,
    company_id: &str,
    view: &str,
    view_json: &Value,
) -> Result<SigRecord, CryptoError> {
    let bytes = crypto::canonical_json(view_json)?;
    Ok(sign_canonical(key, company_id, view, &bytes))
}

/// Signs the JCS bytes of one view (from [`view_canonical`]).
pub fn sign_canonical(key: &NodeKey, company_id: &str, view: &str, bytes: &[u8]) -> SigRecord {
    let signature = key.sign(&crypto::footprint_domain(view), bytes);
    SigRecord {
        alg: "Ed25519".into(),
        key_id: key.key_id().to_string(),
        public_key: B64.encode(key.public_key_bytes()),
        company_id: company_id.to_string(),
        view: view.to_string(),
        signature: B64.encode(signature),
    }
}

/// A signature record of `key` with the shape and size of a real one but no signature (all
/// zero bytes): for measuring what a signed footprint will weigh before signing it.
pub fn placeholder_signature(key: &NodeKey, company_id: &str, view: &str) -> SigRecord {
    SigRecord {
        alg: "Ed25519".into(),
        key_id: key.key_id().to_string(),
        public_key: B64.encode(key.public_key_bytes()),
        company_id: company_id.to_string(),
        view: view.to_string(),
        signature: B64.encode([0u8; 64]),
    }
}

/// Verifies `sig` over `view_json` (which must not contain the signature extension).
pub fn verify_view(view_json: &Value, sig: &SigRecord) -> Result<(), SignedError> {
    if sig.alg != "Ed25519" {
        return Err(SignedError::Malformed(format!("unknown alg {:?}", sig.alg)));
    }
    if sig.view != VIEW_FULL && sig.view != VIEW_SUMMARY {
        return Err(SignedError::Malformed(format!(
            "unknown view {:?}",
            sig.view
        )));
    }
    let public_raw = B64
        .decode(&sig.public_key)
        .map_err(|e| SignedError::Malformed(format!("publicKey: {e}")))?;
    let public = crypto::parse_public_key(&public_raw)?;
    let actual = crypto::key_id(&public);
    if actual != sig.key_id {
        return Err(SignedError::KeyId {
            stated: sig.key_id.clone(),
            actual,
        });
    }
    let signature = B64
        .decode(&sig.signature)
        .map_err(|e| SignedError::Malformed(format!("signature: {e}")))?;
    let bytes = crypto::canonical_json(view_json)?;
    crypto::verify(
        &public,
        &crypto::footprint_domain(&sig.view),
        &bytes,
        &signature,
    )?;
    Ok(())
}

/// Adds the signature as a PACT extension entry.
pub fn attach(mut view_json: Value, sig: &SigRecord) -> Value {
    let ext = serde_json::json!({
        "specVersion": SIGNATURE_EXT_VERSION,
        "dataSchema": SIGNATURE_SCHEMA,
        "data": sig,
    });
    if let Some(obj) = view_json.as_object_mut() {
        match obj.get_mut("extensions").and_then(Value::as_array_mut) {
            Some(list) => list.push(ext),
            None => {
                obj.insert("extensions".into(), Value::Array(vec![ext]));
            }
        }
    }
    view_json
}

/// Removes the signature extension; returns the view as signed and the signature, if any.
pub fn detach(mut doc: Value) -> Result<(Value, Option<SigRecord>), SignedError> {
    let mut found = None;
    if let Some(obj) = doc.as_object_mut() {
        let mut emptied = false;
        if let Some(list) = obj.get_mut("extensions").and_then(Value::as_array_mut) {
            let mut kept = Vec::with_capacity(list.len());
            for ext in list.drain(..) {
                if ext.get("dataSchema").and_then(Value::as_str) == Some(SIGNATURE_SCHEMA) {
                    let data = ext.get("data").cloned().unwrap_or(Value::Null);
                    let sig: SigRecord = serde_json::from_value(data)
                        .map_err(|e| SignedError::Malformed(e.to_string()))?;
                    if found.replace(sig).is_some() {
                        return Err(SignedError::Malformed(
                            "more than one owner signature".into(),
                        ));
                    }
                } else {
                    kept.push(ext);
                }
            }
            emptied = kept.is_empty();
            *list = kept;
        }
        if emptied {
            obj.remove("extensions");
        }
    }
    Ok((doc, found))
}

/// Verifies a PACT JSON document carrying its owner signature; returns the signature.
pub fn verify_document(doc: &Value) -> Result<SigRecord, SignedError> {
    let (view, sig) = detach(doc.clone())?;
    let sig = sig.ok_or(SignedError::Unsigned)?;
    verify_view(&view, &sig)?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed serialisation signs the very bytes the `Value` views did, for both views,
    /// with and without a signature extension to drop.
    #[test]
    fn view_canonical_is_jcs_of_view_json() {
        let doc: Value = serde_json::from_str(include_str!(
            "../../testdata/v3-productfootprint-bioethanol-kg.json"
        ))
        .unwrap();
        let plain: ProductFootprint = serde_json::from_value(doc.clone()).unwrap();
        let key = NodeKey::from_seed(&[4; 32]);
        let mut signed_doc = attach(
            doc.clone(),
            &sign_view(&key, "urn:c", VIEW_FULL, &doc).unwrap(),
        );
        signed_doc["comment"] = Value::String("quote \" \u{1} é 🎉".into());
        let with_ext: ProductFootprint = serde_json::from_value(signed_doc).unwrap();
        assert!(!with_ext.extensions.is_empty());
        for fp in [&plain, &with_ext] {
            for view in [VIEW_FULL, VIEW_SUMMARY] {
                let old = crypto::canonical_json(&view_json(fp, view).unwrap()).unwrap();
                assert_eq!(
                    String::from_utf8(view_canonical(fp, view).unwrap()).unwrap(),
                    String::from_utf8(old.clone()).unwrap()
                );
                let by_value =
                    sign_view(&key, "urn:c", view, &view_json(fp, view).unwrap()).unwrap();
                assert_eq!(sign_canonical(&key, "urn:c", view, &old), by_value);
            }
        }
    }
}
