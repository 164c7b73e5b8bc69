//! The iLEAP logistics extension of PACT (SINE Foundation, "iLEAP Technical Specifications"
//! v1.0.0, 2025-05-27, github.com/sine-fdn/ileap-extension `specs/index.bs`): the
//! `ShipmentFootprint` and `TCE` data types, typed, and how they ride on a PACT footprint.
//!
//! iLEAP §"PACT Integration" carries a ShipmentFootprint as a `DataModelExtension` with
//! `specVersion` [`EXTENSION_SPEC_VERSION`], `dataSchema` [`SHIPMENT_SCHEMA`] and
//! `documentation` [`DOCUMENTATION`]; the host footprint's `productIds` name the shipment
//! ([`product_id`]), its classification is CPC 83117 (logistics services), its declared unit
//! is `ton kilometer` with the amount the t·km over all TCEs, its mass the shipment's mass,
//! and its `pcfExcludingBiogenicUptake` the sum of the TCEs' well-to-wheel kgCO2e (iLEAP
//! writes this against PACT 2's `pCfExcludingBiogenic`; tanso keeps the same total in v3's
//! field). One footprint carries at most one iLEAP data type.
//!
//! Which shipper a shipment belongs to is not an iLEAP property; tanso records it in a second
//! extension ([`PARTIES_SCHEMA`]: `customerIds`) so a single policy can compare it with the
//! requesting partner (`shipmentCustomer`, see [`crate::policy`]). Both extensions are part
//! of the footprint's full view and so of its owner signature.
//!
//! No IO: these are serde types and checks over values the caller holds.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::pact::model::{DeclaredUnit, Extension, ProductFootprint};

/// `dataSchema` of a ShipmentFootprint extension (iLEAP §"PACT Integration", ShipmentFootprint).
pub const SHIPMENT_SCHEMA: &str = "https://api.ileap.sine.dev/shipment-footprint.json";
/// `specVersion` iLEAP prescribes for its extensions (the Data Model Extensions version).
pub const EXTENSION_SPEC_VERSION: &str = "2.0.0";
/// `documentation` iLEAP prescribes for its extensions.
pub const DOCUMENTATION: &str = "https://sine-fdn.github.io/ileap-extension/";
/// UN CPC 2.1 code of logistics services that iLEAP prescribes for the host footprint.
pub const CPC_LOGISTICS: &str = "83117";
/// `productClassifications` entry of a shipment footprint (tanso spells CPC as `urn:cpc:`).
pub const CLASSIFICATION: &str = "urn:cpc:83117";
/// `dataSchema` of tanso's shipment-parties extension (the shipper a shipment is for).
pub const PARTIES_SCHEMA: &str = "https://tanso.dev/schemas/shipment-parties/v1.json";
/// `specVersion` of the shipment-parties extension.
pub const PARTIES_VERSION: &str = "1.0.0";
/// At most this many TCEs in one ShipmentFootprint (a bound on what a partner can send).
pub const MAX_TCES: usize = 1_000;
/// At most this many customers on one shipment.
pub const MAX_CUSTOMERS: usize = 16;
/// Longest shipment, TCE, TOC or HOC id accepted.
pub const MAX_ID_LEN: usize = 200;

/// A ShipmentFootprint or its PACT carriage that is not what iLEAP prescribes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} is {value:?}: {reason}")]
pub struct IleapError {
    /// JSON-path-like name of the offending property, e.g. `tces[2].tocId`.
    pub field: String,
    pub value: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, value: impl Into<String>, reason: &str) -> IleapError {
    let mut value = value.into();
    if value.len() > 80 {
        let mut end = 80;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
        value.push('…');
    }
    IleapError {
        field: field.into(),
        value,
        reason: reason.to_string(),
    }
}

/// iLEAP `GLECDistance`: at least one of actual, gcd (great-circle), sfd (shortest
/// feasible), in km.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlecDistance {
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub actual: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub gcd: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub sfd: Option<Decimal>,
}

/// iLEAP `TCE` (every mandatory property, and the optional ones tanso fills; other optional
/// properties a producer sends are ignored on reading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IleapTce {
    pub tce_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev_tce_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub toc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hoc_id: Option<String>,
    pub shipment_id: String,
    /// kg.
    #[serde(with = "rust_decimal::serde::str")]
    pub mass: Decimal,
    pub distance: GlecDistance,
    /// t·km.
    #[serde(with = "rust_decimal::serde::str")]
    pub transport_activity: Decimal,
    /// kgCO2e, well-to-wheel.
    #[serde(rename = "co2eWTW", with = "rust_decimal::serde::str")]
    pub co2e_wtw: Decimal,
    /// kgCO2e, tank-to-wheel.
    #[serde(rename = "co2eTTW", with = "rust_decimal::serde::str")]
    pub co2e_ttw: Decimal,
}

/// iLEAP `ShipmentFootprint`: the TCEs of one shipment from one carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentFootprint {
    /// kg.
    #[serde(with = "rust_decimal::serde::str")]
    pub mass: Decimal,
    pub shipment_id: String,
    pub tces: Vec<IleapTce>,
}

impl ShipmentFootprint {
    /// Well-to-wheel kgCO2e of the whole chain (iLEAP: the host's `pCfExcludingBiogenic`).
    pub fn wtw_kg(&self) -> Decimal {
        self.tces.iter().map(|t| t.co2e_wtw).sum()
    }

    /// Tank-to-wheel kgCO2e of the whole chain.
    pub fn ttw_kg(&self) -> Decimal {
        self.tces.iter().map(|t| t.co2e_ttw).sum()
    }

    /// t·km of the whole chain (iLEAP: the host's declared unit amount).
    pub fn tkm(&self) -> Decimal {
        self.tces.iter().map(|t| t.transport_activity).sum()
    }

    /// The iLEAP rules tanso checks: a non-empty id; 1 to [`MAX_TCES`] TCEs, each for this
    /// shipment, with exactly one of `tocId` and `hocId`, and no negative quantity.
    pub fn validate(&self) -> Result<(), IleapError> {
        id("shipmentId", &self.shipment_id)?;
        non_negative("mass", self.mass)?;
        if self.tces.is_empty() {
            return Err(invalid(
                "tces",
                "[]",
                "a ShipmentFootprint has at least one TCE",
            ));
        }
        if self.tces.len() > MAX_TCES {
            return Err(invalid(
                "tces",
                self.tces.len().to_string(),
                "more TCEs than tanso accepts on one shipment (1,000)",
            ));
        }
        for (i, t) in self.tces.iter().enumerate() {
            let at = |f: &str| format!("tces[{i}].{f}");
            id(&at("tceId"), &t.tce_id)?;
            if !t.shipment_id.eq_ignore_ascii_case(&self.shipment_id) {
                return Err(invalid(
                    at("shipmentId"),
                    &t.shipment_id,
                    "a TCE of a ShipmentFootprint names the footprint's shipment",
                ));
            }
            match (&t.toc_id, &t.hoc_id) {
                (Some(x), None) => id(&at("tocId"), x)?,
                (None, Some(x)) => id(&at("hocId"), x)?,
                _ => {
                    return Err(invalid(
                        at("tocId"),
                        "",
                        "exactly one of tocId and hocId is defined (iLEAP TCE)",
                    ));
                }
            }
            non_negative(&at("mass"), t.mass)?;
            non_negative(&at("transportActivity"), t.transport_activity)?;
            non_negative(&at("co2eWTW"), t.co2e_wtw)?;
            non_negative(&at("co2eTTW"), t.co2e_ttw)?;
        }
        Ok(())
    }
}

fn id(field: &str, v: &str) -> Result<(), IleapError> {
    if v.trim().is_empty() || v.len() > MAX_ID_LEN {
        return Err(invalid(field, v, "must be 1 to 200 characters"));
    }
    Ok(())
}

fn non_negative(field: &str, v: Decimal) -> Result<(), IleapError> {
    if v.is_sign_negative() && !v.is_zero() {
        return Err(invalid(field, v.to_string(), "must not be negative"));
    }
    Ok(())
}

/// tanso's shipment-parties extension data: the shippers (company URNs) the shipment is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentParties {
    pub customer_ids: Vec<String>,
}

/// The PACT `productIds` entry iLEAP prescribes for a carrier-assigned shipment id.
pub fn product_id(shipment: &str) -> String {
    format!("urn:pathfinder:product:customcode:vendor-assigned:shipment:{shipment}")
}

/// The two extensions of a shipment footprint: the iLEAP ShipmentFootprint, then the
/// shipment's parties. `sf` is validated first.
pub fn extensions(
    sf: &ShipmentFootprint,
    customers: &[String],
) -> Result<[Extension; 2], IleapError> {
    sf.validate()?;
    if customers.is_empty() || customers.len() > MAX_CUSTOMERS {
        return Err(invalid(
            "customerIds",
            customers.len().to_string(),
            "a shipment names 1 to 16 customers",
        ));
    }
    for c in customers {
        id("customerIds[]", c)?;
    }
    let object = |v: Value| match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let data = serde_json::to_value(sf).map_err(|e| invalid("data", "", &e.to_string()))?;
    let parties = serde_json::to_value(ShipmentParties {
        customer_ids: customers.to_vec(),
    })
    .map_err(|e| invalid("customerIds", "", &e.to_string()))?;
    Ok([
        Extension {
            spec_version: EXTENSION_SPEC_VERSION.into(),
            data_schema: SHIPMENT_SCHEMA.into(),
            documentation: Some(DOCUMENTATION.into()),
            data: object(data),
        },
        Extension {
            spec_version: PARTIES_VERSION.into(),
            data_schema: PARTIES_SCHEMA.into(),
            documentation: None,
            data: object(parties),
        },
    ])
}

/// The ShipmentFootprint a footprint carries, validated, with the iLEAP rules on its host
/// (`productIds` name the shipment, the declared unit is t·km); `None` when it carries none.
pub fn shipment_in(fp: &ProductFootprint) -> Result<Option<ShipmentFootprint>, IleapError> {
    let mut found = fp
        .extensions
        .iter()
        .filter(|e| e.data_schema == SHIPMENT_SCHEMA);
    let Some(ext) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(invalid(
            "extensions",
            SHIPMENT_SCHEMA,
            "one footprint carries at most one iLEAP data type",
        ));
    }
    let sf: ShipmentFootprint = serde_json::from_value(Value::Object(ext.data.clone()))
        .map_err(|e| invalid("extensions[iLEAP].data", "", &e.to_string()))?;
    sf.validate()?;
    let wanted = product_id(&sf.shipment_id);
    if !fp
        .product_ids
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&wanted))
        && !fp.product_ids.iter().any(|p| {
            p.strip_prefix("urn:pathfinder:product:customcode:buyer-assigned:shipment:")
                .is_some_and(|s| s.eq_ignore_ascii_case(&sf.shipment_id))
        })
    {
        return Err(invalid(
            "productIds",
            fp.product_ids.join(", "),
            "iLEAP: the productIds of a shipment footprint name its shipment id",
        ));
    }
    if fp.pcf.declared_unit_of_measurement != DeclaredUnit::TonKilometer {
        return Err(invalid(
            "pcf.declaredUnitOfMeasurement",
            fp.pcf.declared_unit_of_measurement.as_str(),
            "iLEAP: a shipment footprint is declared per ton kilometer",
        ));
    }
    Ok(Some(sf))
}

/// The customers a footprint's shipment-parties extension names; empty when it has none or
/// the extension is malformed (a policy comparing them then matches nothing).
pub fn customers_of(fp: &ProductFootprint) -> Vec<String> {
    fp.extensions
        .iter()
        .filter(|e| e.data_schema == PARTIES_SCHEMA)
        .filter_map(|e| {
            serde_json::from_value::<ShipmentParties>(Value::Object(e.data.clone())).ok()
        })
        .filter(|p| p.customer_ids.len() <= MAX_CUSTOMERS)
        .flat_map(|p| p.customer_ids)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pact::fixtures;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn sf() -> ShipmentFootprint {
        // iLEAP's own example (specs/index.bs, "Data Collection by LSP from Carrier A"),
        // in its TCE fields.
        serde_json::from_value(serde_json::json!({
            "mass": "87",
            "shipmentId": "1237890",
            "tces": [
                { "tceId": "abcdef", "prevTceIds": [], "tocId": "truck-40t-euro5-de",
                  "shipmentId": "1237890", "mass": "87", "distance": { "actual": "423" },
                  "transportActivity": "3.6801", "co2eWTW": "3.6801", "co2eTTW": "3.2801" },
                { "tceId": "ghijkl", "prevTceIds": ["abcdef"], "tocId": "operator-z-truck-89sdff",
                  "shipmentId": "1237890", "mass": "87", "distance": { "actual": "321" },
                  "transportActivity": "27.927", "co2eWTW": "4.74759", "co2eTTW": "4.272831",
                  "consignmentId": "ignored optional property" }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn totals_of_the_spec_example() {
        // 3.6801 + 4.74759 = 8.42769 kgCO2e WTW (the spec's pCfExcludingBiogenic);
        // 3.6801 + 27.927 = 31.6071 t·km.
        let s = sf();
        assert_eq!(s.wtw_kg(), dec("8.42769"));
        assert_eq!(s.ttw_kg(), dec("7.552931")); // 3.2801 + 4.272831
        assert_eq!(s.tkm(), dec("31.6071"));
        s.validate().unwrap();
    }

    #[test]
    fn rides_on_a_footprint_and_reads_back_typed() {
        let mut fp = fixtures::fp();
        fp.product_ids = vec![product_id("1237890")];
        fp.pcf.declared_unit_of_measurement = DeclaredUnit::TonKilometer;
        assert_eq!(shipment_in(&fp), Ok(None));
        assert!(customers_of(&fp).is_empty());
        let customers = vec!["urn:tanso:company:shipper".to_string()];
        fp.extensions = extensions(&sf(), &customers).unwrap().into();
        let json = serde_json::to_value(&fp).unwrap();
        assert_eq!(json["extensions"][0]["dataSchema"], SHIPMENT_SCHEMA);
        assert_eq!(json["extensions"][0]["specVersion"], "2.0.0");
        assert_eq!(json["extensions"][0]["documentation"], DOCUMENTATION);
        assert_eq!(
            json["extensions"][0]["data"]["tces"][1]["co2eWTW"],
            "4.74759"
        );
        assert_eq!(
            json["extensions"][1]["data"]["customerIds"][0],
            customers[0]
        );
        let back: ProductFootprint = serde_json::from_value(json).unwrap();
        // The ignored optional property is not kept; the rest is.
        assert_eq!(shipment_in(&back).unwrap().unwrap(), sf());
        assert_eq!(customers_of(&back), customers);
        // The host must name the shipment.
        let mut other = back.clone();
        other.product_ids = vec![product_id("999")];
        assert_eq!(shipment_in(&other).unwrap_err().field, "productIds");
        // A second iLEAP data type on one footprint is refused.
        let mut twice = back.clone();
        twice.extensions.push(back.extensions[0].clone());
        assert_eq!(shipment_in(&twice).unwrap_err().field, "extensions");
    }

    #[test]
    fn broken_shipment_footprints_are_refused_naming_the_field() {
        let mut s = sf();
        s.tces[1].hoc_id = Some("hub".into());
        assert_eq!(s.validate().unwrap_err().field, "tces[1].tocId");
        let mut s = sf();
        s.tces[0].shipment_id = "other".into();
        assert_eq!(s.validate().unwrap_err().field, "tces[0].shipmentId");
        let mut s = sf();
        s.tces[0].co2e_wtw = dec("-1");
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "tces[0].co2eWTW is \"-1\": must not be negative"
        );
        let mut s = sf();
        s.tces.clear();
        assert_eq!(s.validate().unwrap_err().field, "tces");
        assert!(extensions(&sf(), &[]).is_err());
    }
}
