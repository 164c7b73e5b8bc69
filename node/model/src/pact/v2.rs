//! Conversion of PACT v2.x footprints to the v3 JSON shape, with a note for every loss.
//!
//! Works JSON to JSON so a malformed v2 document still converts as far as it can; the result is
//! then validated as v3 by [`crate::pact::import`], which reports whatever is still missing.
//!
//! Numbers: v2 carries some quantities as JSON numbers (`exemptedEmissionsPercent`,
//! `primaryDataShare`, `dqi`). Without serde_json's `arbitrary_precision` those arrive as f64;
//! they are written as the shortest text that round-trips the f64 (`12.9` stays `"12.9"`), and
//! exponent forms are expanded to plain decimals.

use serde_json::{Map, Value, json};

use crate::pact::model::{DeclaredUnit, SPEC_VERSION, is_decimal_text};

/// v2 `ProductFootprint` fields this converter knows (everything else is noted as dropped).
const V2_TOP: &[&str] = &[
    "id",
    "specVersion",
    "version",
    "created",
    "updated",
    "status",
    "statusComment",
    "validityPeriodStart",
    "validityPeriodEnd",
    "companyName",
    "companyIds",
    "productDescription",
    "productIds",
    "productCategoryCpc",
    "productClassifications",
    "productNameCompany",
    "comment",
    "precedingPfIds",
    "pcf",
    "extensions",
];

/// Whether a JSON footprint is PACT v2 (specVersion 2.x, or v2-only fields when the version
/// is missing or not 2.x/3.x).
pub fn is_v2(value: &Value) -> bool {
    match value
        .get("specVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.split('.').next())
    {
        Some("2") => true,
        Some("3") => false,
        _ => {
            let pcf = value.get("pcf");
            let has = |k: &str| pcf.and_then(|p| p.get(k)).is_some();
            has("pCfExcludingBiogenic") || has("declaredUnit") || has("unitaryProductAmount")
        }
    }
}

/// Converts a v2 footprint to v3 JSON. Returns the v3 value and one note per field that was
/// dropped, renamed with a change of meaning, or derived.
pub fn convert(v2: &Value) -> (Value, Vec<String>) {
    let mut notes = Vec::new();
    let empty = Map::new();
    let src = v2.as_object().unwrap_or(&empty);
    let mut out = Map::new();

    for key in [
        "id",
        "created",
        "status",
        "validityPeriodStart",
        "validityPeriodEnd",
        "companyName",
        "companyIds",
        "productDescription",
        "productIds",
        "productNameCompany",
        "comment",
        "precedingPfIds",
    ] {
        copy(src, &mut out, key, key);
    }
    out.insert("specVersion".into(), json!(SPEC_VERSION));
    if let Some(v) = src.get("specVersion") {
        notes.push(format!(
            "/specVersion: {} replaced by {SPEC_VERSION}, the version this footprint was converted to",
            v
        ));
    }
    for (key, why) in [
        (
            "version",
            "v3 gives every change a new id, so the version number has no equivalent",
        ),
        (
            "updated",
            "v3 footprints are immutable, so the update time has no equivalent",
        ),
        ("statusComment", "v3 has no status comment"),
    ] {
        if let Some(v) = src.get(key) {
            notes.push(format!("/{key}: dropped ({}): {why}", short(v)));
        }
    }

    // productCategoryCpc -> productClassifications `urn:cpc:<code>`, merged with any 2.3 list.
    let mut classes: Vec<Value> = src
        .get("productClassifications")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(cpc) = src.get("productCategoryCpc").and_then(Value::as_str) {
        let urn = if cpc.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            cpc.to_string()
        } else {
            format!("urn:cpc:{cpc}")
        };
        notes.push(format!(
            "/productCategoryCpc: {cpc:?} carried over as productClassifications entry {urn:?}"
        ));
        push_unique(&mut classes, Value::String(urn));
    }
    if !classes.is_empty() {
        out.insert("productClassifications".into(), Value::Array(classes));
    }

    if let Some(pcf) = src.get("pcf") {
        match pcf.as_object() {
            Some(pcf) => {
                let converted = convert_pcf(pcf, &mut notes);
                out.insert("pcf".into(), Value::Object(converted));
            }
            None => {
                out.insert("pcf".into(), pcf.clone());
            }
        }
    }

    if let Some(exts) = src.get("extensions") {
        out.insert("extensions".into(), exts.clone());
    }

    for key in src.keys() {
        if !V2_TOP.contains(&key.as_str()) {
            notes.push(format!("/{key}: dropped: not a pact v2 field"));
        }
    }
    (Value::Object(out), notes)
}

/// v2 `CarbonFootprint` fields this converter knows.
const V2_PCF: &[&str] = &[
    "declaredUnit",
    "unitaryProductAmount",
    "productMassPerDeclaredUnit",
    "pCfExcludingBiogenic",
    "pCfIncludingBiogenic",
    "fossilGhgEmissions",
    "fossilCarbonContent",
    "biogenicCarbonContent",
    "dLucGhgEmissions",
    "landManagementGhgEmissions",
    "otherBiogenicGhgEmissions",
    "iLucGhgEmissions",
    "biogenicCarbonWithdrawal",
    "aircraftGhgEmissions",
    "characterizationFactors",
    "ipccCharacterizationFactorsSources",
    "crossSectoralStandardsUsed",
    "crossSectoralStandards",
    "productOrSectorSpecificRules",
    "biogenicAccountingMethodology",
    "boundaryProcessesDescription",
    "referencePeriodStart",
    "referencePeriodEnd",
    "geographyRegionOrSubregion",
    "geographyCountry",
    "geographyCountrySubdivision",
    "secondaryEmissionFactorSources",
    "exemptedEmissionsPercent",
    "exemptedEmissionsDescription",
    "packagingEmissionsIncluded",
    "packagingGhgEmissions",
    "allocationRulesDescription",
    "uncertaintyAssessmentDescription",
    "primaryDataShare",
    "dqi",
    "assurance",
];

fn convert_pcf(src: &Map<String, Value>, notes: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();

    // Declared unit: the seven v2 units are spelled exactly as in v3.
    copy(src, &mut out, "declaredUnit", "declaredUnitOfMeasurement");
    decimal(
        src,
        &mut out,
        "unitaryProductAmount",
        "declaredUnitAmount",
        notes,
    );
    decimal(
        src,
        &mut out,
        "productMassPerDeclaredUnit",
        "productMassPerDeclaredUnit",
        notes,
    );
    if !out.contains_key("productMassPerDeclaredUnit") {
        derive_mass(&mut out, notes);
    }

    for key in [
        "referencePeriodStart",
        "referencePeriodEnd",
        "geographyRegionOrSubregion",
        "geographyCountry",
        "geographyCountrySubdivision",
        "boundaryProcessesDescription",
        "exemptedEmissionsDescription",
        "packagingEmissionsIncluded",
        "allocationRulesDescription",
    ] {
        copy(src, &mut out, key, key);
    }

    decimal(
        src,
        &mut out,
        "pCfExcludingBiogenic",
        "pcfExcludingBiogenicUptake",
        notes,
    );
    if src.contains_key("pCfExcludingBiogenic") {
        notes.push(
            "/pcf/pCfExcludingBiogenic: carried over as pcfExcludingBiogenicUptake; v3 defines it to include biogenic emissions and removals other than uptake, so review it against the v3 methodology".into(),
        );
    }
    for key in [
        "fossilGhgEmissions",
        "fossilCarbonContent",
        "biogenicCarbonContent",
        "aircraftGhgEmissions",
        "packagingGhgEmissions",
        "exemptedEmissionsPercent",
        "primaryDataShare",
    ] {
        decimal(src, &mut out, key, key, notes);
    }
    if !out.contains_key("pcfIncludingBiogenicUptake") {
        notes.push(
            "/pcf/pcfIncludingBiogenicUptake: not derivable: v3 defines it as pcfExcludingBiogenicUptake + biogenicCO2Uptake and v2 has no biogenicCO2Uptake".into(),
        );
    }

    for (key, why) in [
        (
            "pCfIncludingBiogenic",
            "v2 adds biogenic emissions and the carbon withdrawal, v3 adds only biogenicCO2Uptake, so the values differ",
        ),
        (
            "dLucGhgEmissions",
            "v3 reports land use change as landUseChangeGhgEmissions under methodology v3 rules; not converted automatically",
        ),
        (
            "iLucGhgEmissions",
            "indirect land use change has only the placeholder landCarbonLeakage in v3; not converted automatically",
        ),
        (
            "landManagementGhgEmissions",
            "v3 splits land management into fossil emissions, biogenic CO2 emissions and removals",
        ),
        (
            "otherBiogenicGhgEmissions",
            "v3 biogenicNonCO2Emissions covers non-CO2 gases only",
        ),
        (
            "biogenicCarbonWithdrawal",
            "v3 biogenicCO2Uptake is defined differently (methodology v3), so it is not carried over",
        ),
        (
            "biogenicAccountingMethodology",
            "v3 has a single biogenic accounting methodology",
        ),
        (
            "uncertaintyAssessmentDescription",
            "v3 has no uncertainty assessment field",
        ),
    ] {
        if let Some(v) = src.get(key) {
            notes.push(format!("/pcf/{key}: dropped ({}): {why}", short(v)));
        }
    }

    // IPCC factors: characterizationFactors (deprecated 2.2) and ipccCharacterizationFactorsSources.
    let mut ipcc = Vec::new();
    if let Some(v) = src.get("characterizationFactors").and_then(Value::as_str) {
        push_unique(&mut ipcc, Value::String(v.to_string()));
    }
    if let Some(items) = src
        .get("ipccCharacterizationFactorsSources")
        .and_then(Value::as_array)
    {
        for i in items {
            push_unique(&mut ipcc, i.clone());
        }
    }
    if !ipcc.is_empty() {
        out.insert("ipccCharacterizationFactors".into(), Value::Array(ipcc));
    }

    // Standards: map the three v2 names and merge with the 2.3 `crossSectoralStandards`.
    let mut standards = Vec::new();
    if let Some(items) = src
        .get("crossSectoralStandardsUsed")
        .and_then(Value::as_array)
    {
        for (i, item) in items.iter().enumerate() {
            let mapped = match item.as_str() {
                Some("GHG Protocol Product standard") => Some("GHGP-Product"),
                Some("ISO Standard 14067") => Some("ISO14067"),
                Some("ISO Standard 14044") => Some("ISO14040-44"),
                _ => None,
            };
            match mapped {
                Some(m) => push_unique(&mut standards, json!(m)),
                None => notes.push(format!(
                    "/pcf/crossSectoralStandardsUsed/{i}: dropped ({}): not a v2 standard name",
                    short(item)
                )),
            }
        }
    }
    if let Some(items) = src.get("crossSectoralStandards").and_then(Value::as_array) {
        for i in items {
            push_unique(&mut standards, i.clone());
        }
    }
    if !standards.is_empty() {
        out.insert("crossSectoralStandards".into(), Value::Array(standards));
    }

    // Lists that v3 requires to be non-empty when present.
    for key in [
        "productOrSectorSpecificRules",
        "secondaryEmissionFactorSources",
    ] {
        match src.get(key) {
            Some(Value::Array(a)) if a.is_empty() => {
                notes.push(format!(
                    "/pcf/{key}: empty list omitted: v3 requires at least one item when present"
                ));
            }
            Some(v) => {
                out.insert(key.into(), v.clone());
            }
            None => {}
        }
    }

    if let Some(dqi) = src.get("dqi").and_then(Value::as_object) {
        convert_dqi(dqi, &mut out, notes);
    }
    if let Some(assurance) = src.get("assurance").and_then(Value::as_object) {
        convert_assurance(assurance, &mut out, notes);
    }

    for key in src.keys() {
        if !V2_PCF.contains(&key.as_str()) {
            notes.push(format!("/pcf/{key}: dropped: not a pact v2 field"));
        }
    }
    out
}

/// productMassPerDeclaredUnit (v3 required, 2.3+ optional): kilogram units carry their own
/// mass; energy and transport units are 0 per the spec; other units are not derivable.
fn derive_mass(out: &mut Map<String, Value>, notes: &mut Vec<String>) {
    let unit = out
        .get("declaredUnitOfMeasurement")
        .and_then(Value::as_str)
        .and_then(|u| u.parse::<DeclaredUnit>().ok());
    let amount = out.get("declaredUnitAmount").and_then(Value::as_str);
    let derived = match (unit, amount) {
        (Some(DeclaredUnit::Kilogram), Some(a)) => {
            Some((a.to_string(), "the declared unit is kilograms"))
        }
        (
            Some(DeclaredUnit::KilowattHour | DeclaredUnit::Megajoule | DeclaredUnit::TonKilometer),
            _,
        ) => Some((
            "0".to_string(),
            "pact uses 0 for energy and transport units",
        )),
        _ => None,
    };
    match derived {
        Some((mass, why)) => {
            notes.push(format!(
                "/pcf/productMassPerDeclaredUnit: derived as {mass:?} because {why}"
            ));
            out.insert("productMassPerDeclaredUnit".into(), Value::String(mass));
        }
        None => notes.push(
            "/pcf/productMassPerDeclaredUnit: not derivable from the v2 declared unit; it must be supplied".into(),
        ),
    }
}

fn convert_dqi(src: &Map<String, Value>, out: &mut Map<String, Value>, notes: &mut Vec<String>) {
    let mut dqi = Map::new();
    for key in ["technologicalDQR", "geographicalDQR", "temporalDQR"] {
        if let Some(v) = src.get(key) {
            match to_decimal_text(v) {
                Some(d) => {
                    dqi.insert(key.into(), Value::String(d));
                }
                None => notes.push(format!(
                    "/pcf/dqi/{key}: dropped ({}): not a number",
                    short(v)
                )),
            }
        }
    }
    if !dqi.is_empty() {
        notes.push(
            "/pcf/dqi: ratings kept on their v2 scale of 1 to 3; v3 rates 1 to 5 and they were not rescaled".into(),
        );
        out.insert("dqi".into(), Value::Object(dqi));
    }
    for (key, why) in [
        ("coveragePercent", "v3 has no dqi coverage"),
        ("completenessDQR", "v3 has no completeness rating"),
        ("reliabilityDQR", "v3 has no reliability rating"),
    ] {
        if let Some(v) = src.get(key) {
            notes.push(format!("/pcf/dqi/{key}: dropped ({}): {why}", short(v)));
        }
    }
}

fn convert_assurance(
    src: &Map<String, Value>,
    out: &mut Map<String, Value>,
    notes: &mut Vec<String>,
) {
    if src.get("assurance") != Some(&Value::Bool(true)) {
        notes.push(
            "/pcf/assurance: dropped: assurance.assurance is not true, so there is no verification to carry over".into(),
        );
        return;
    }
    let mut ver = Map::new();
    match src.get("coverage").and_then(Value::as_str) {
        Some("product level") => {
            ver.insert("coverage".into(), json!("product level"));
        }
        Some("PCF system") => {
            ver.insert("coverage".into(), json!("PCF calculation model"));
            notes.push(
                "/pcf/assurance/coverage: \"PCF system\" carried over as \"PCF calculation model\""
                    .into(),
            );
        }
        Some(other) => notes.push(format!(
            "/pcf/assurance/coverage: dropped ({other:?}): no v3 verification coverage equivalent"
        )),
        None => {}
    }
    for key in ["providerName", "completedAt", "standardName", "comments"] {
        copy(src, &mut ver, key, key);
    }
    for key in ["level", "boundary"] {
        if let Some(v) = src.get(key) {
            notes.push(format!(
                "/pcf/assurance/{key}: dropped ({}): v3 verification has no {key}",
                short(v)
            ));
        }
    }
    notes.push("/pcf/assurance: carried over as verification".into());
    out.insert("verification".into(), Value::Object(ver));
}

fn copy(src: &Map<String, Value>, out: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = src.get(from)
        && !v.is_null()
    {
        out.insert(to.into(), v.clone());
    }
}

/// Copies a quantity as a v3 decimal string; numbers become their shortest f64 text.
fn decimal(
    src: &Map<String, Value>,
    out: &mut Map<String, Value>,
    from: &str,
    to: &str,
    notes: &mut Vec<String>,
) {
    let Some(v) = src.get(from) else {
        return;
    };
    match to_decimal_text(v) {
        Some(d) => {
            if v.is_number() {
                notes.push(format!(
                    "/pcf/{from}: json number {v} carried over as decimal string {d:?}"
                ));
            }
            out.insert(to.into(), Value::String(d));
        }
        // Kept as is so that v3 validation reports the malformed value at its new path.
        None => {
            out.insert(to.into(), v.clone());
        }
    }
}

/// The v3 decimal text for a v2 number or numeric string, expanding exponents.
pub(crate) fn to_decimal_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    if is_decimal_text(&text) {
        return Some(text);
    }
    if text.contains(['e', 'E']) {
        let d = rust_decimal::Decimal::from_scientific(&text).ok()?;
        return Some(d.normalize().to_string());
    }
    None
}

fn push_unique(list: &mut Vec<Value>, v: Value) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// A short rendering of a dropped value for a note.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}
