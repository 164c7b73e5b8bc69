//! Footprints for tests (this crate's and the crates above it, through the `test-support`
//! feature): the PACT example, a maximal footprint and a v2 document.

use serde_json::{Value, json};

use crate::pact::ProductFootprint;

const V3_EXAMPLE: &str = include_str!("../../../testdata/v3-productfootprint-bioethanol-kg.json");
const V2_EXAMPLE: &str = include_str!("../../../testdata/v2-getfootprint-response.json");

pub fn example() -> Value {
    serde_json::from_str(V3_EXAMPLE).unwrap()
}

pub fn set(v: &mut Value, ptr: &str, value: Value) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
}

/// A footprint with every field set (all three geography fields, so not valid as a whole).
pub fn maximal_json() -> Value {
    json!({
        "id": "f4b1225a-bd44-4c8e-861d-079e4e1dfd69",
        "specVersion": "3.0.3",
        "precedingPfIds": ["079e425a-464f-528d-341d-4a944a1dfd70"],
        "created": "2025-04-30T00:00:00.123+02:00",
        "status": "Deprecated",
        "validityPeriodStart": "2025-01-01T00:00:00Z",
        "validityPeriodEnd": "2026-01-01T00:00:00Z",
        "companyName": "Company 1",
        "companyIds": ["urn:company:example:company1", "urn:lei:5493001KJTIIGC8Y1R12"],
        "productDescription": "steel coil",
        "productIds": ["urn:gtin:5695872369587"],
        "productClassifications": ["urn:cpc:4112"],
        "productNameCompany": "Coil X",
        "comment": "all fields",
        "pcf": maximal_pcf_json(),
        "extensions": [{
            "specVersion": "2.0.0",
            "dataSchema": "https://catalog.carbon-transparency.com/shipment/1.0.0/data-model.json",
            "documentation": "https://example.com/doc",
            "data": {"shipmentId": "S1", "weight": 10.5, "nested": {"a": [1, "x", null, true], "b": null}}
        }]
    })
}

pub fn v2_data() -> Value {
    let doc: Value = serde_json::from_str(V2_EXAMPLE).unwrap();
    doc["data"].clone()
}

pub fn fp() -> ProductFootprint {
    serde_json::from_value(example()).unwrap()
}

/// The `pcf` of [`maximal_json`], built in two halves to stay under the json! recursion limit.
pub fn maximal_pcf_json() -> Value {
    let mut pcf = json!({
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1000.000",
            "productMassPerDeclaredUnit": "1000",
            "referencePeriodStart": "2024-01-01T00:00:00Z",
            "referencePeriodEnd": "2025-01-01T00:00:00Z",
            "geographyRegionOrSubregion": "Western Europe",
            "geographyCountry": "DE",
            "geographyCountrySubdivision": "DE-BW",
            "boundaryProcessesDescription": "cradle to gate",
            "pcfExcludingBiogenicUptake": "2.10",
            "pcfIncludingBiogenicUptake": "1.90",
            "fossilCarbonContent": "0.5",
            "biogenicCarbonContent": "0.1",
            "recycledCarbonContent": "0.2",
            "fossilGhgEmissions": "1.8",
            "landUseChangeGhgEmissions": "0.01",
            "landCarbonLeakage": "0",
            "landManagementFossilGhgEmissions": "0.02",
            "landManagementBiogenicCO2Emissions": "0.03",
            "landManagementBiogenicCO2Removals": "-0.04",
            "biogenicCO2Uptake": "-0.2",
            "biogenicNonCO2Emissions": "0.05",
            "landAreaOccupation": "0.6",
            "aircraftGhgEmissions": "0",
            "packagingEmissionsIncluded": true,
            "packagingGhgEmissions": "0.07",
            "packagingBiogenicCarbonContent": "0.08",
            "outboundLogisticsGhgEmissions": "0.09",
            "ccsTechnologicalCO2CaptureIncluded": true,
            "ccsTechnologicalCO2Capture": "-0.1",
            "technologicalCO2CaptureOrigin": "fossil, plant A",
            "technologicalCO2Removals": "-0.11",
            "ccuCarbonContent": "0.12",
            "ccuCalculationApproach": "Cut-off",
            "ccuCreditCertification": "https://example.com/cert/1"
    });
    let rest = json!({
            "ipccCharacterizationFactors": ["AR6", "AR5"],
            "crossSectoralStandards": ["ISO14067", "SomeFutureStandard"],
            "productOrSectorSpecificRules": [
                {"operator": "Other", "ruleNames": ["rule A", "rule B"], "otherOperatorName": "TfS"},
                {"operator": "EPD International", "ruleNames": ["PCR 2019:14"]}
            ],
            "exemptedEmissionsPercent": "1.5",
            "exemptedEmissionsDescription": "minor",
            "allocationRulesDescription": "mass",
            "secondaryEmissionFactorSources": [{"name": "ecoinvent", "version": "3.9.1"}],
            "primaryDataShare": "55.5",
            "dqi": {"technologicalDQR": "1.5", "geographicalDQR": "5", "temporalDQR": "1"},
            "verification": {
                "coverage": "PCF program",
                "providerName": "Verifier Ltd",
                "completedAt": "2025-02-01T00:00:00Z",
                "standardName": "ISO 14064-3",
                "comments": "none"
            }
    });
    pcf.as_object_mut()
        .unwrap()
        .extend(rest.as_object().unwrap().clone());
    pcf
}
