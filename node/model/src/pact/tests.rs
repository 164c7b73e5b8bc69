//! Tests of the pact module: model round trips, validation findings, import, filters, protobuf.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::pact::fixtures::{example, fp, maximal_json, set, v2_data};
use crate::pact::v2;
use crate::pact::validate::{OPENAPI_YAML, build_validator};
use crate::pact::{
    DocumentError, FilterError, Finding, FootprintFilter, ProductFootprint, SpecVersion, Status,
    StatusCriterion, ValidationContext, import, parse_document, validate,
};

const V3_EXAMPLE: &str = include_str!("../../../testdata/v3-productfootprint-bioethanol-kg.json");
const OWN: &str = "urn:company:example:company1";

fn ctx() -> ValidationContext {
    ValidationContext {
        own_company_id: Some(OWN.to_string()),
    }
}

fn no_ctx() -> ValidationContext {
    ValidationContext::default()
}

/// Validates the example after `edit` changed it.
fn findings_after(edit: impl FnOnce(&mut Value)) -> Vec<Finding> {
    let mut v = example();
    edit(&mut v);
    validate(&v, &ctx())
}

fn remove(v: &mut Value, ptr: &str) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

/// Asserts exactly one finding, at `path` with `rule`, and returns its message.
fn only(findings: &[Finding], path: &str, rule: &str) -> String {
    assert_eq!(findings.len(), 1, "expected one finding, got {findings:#?}");
    assert_eq!(findings[0].path, path, "{findings:#?}");
    assert_eq!(findings[0].rule, rule, "{findings:#?}");
    findings[0].message.clone()
}

fn has(findings: &[Finding], path: &str, rule: &str) -> bool {
    findings.iter().any(|f| f.path == path && f.rule == rule)
}

/// The maximal footprint reduced to one geography field, which validates clean.
fn maximal_valid_json() -> Value {
    let mut v = maximal_json();
    remove(&mut v, "/pcf/geographyRegionOrSubregion");
    remove(&mut v, "/pcf/geographyCountry");
    v
}

// ---------------------------------------------------------------- model

#[test]
fn schema_compiles() {
    assert!(build_validator().is_ok());
}

#[test]
fn example_round_trip_is_lossless_except_unknown_field() {
    let input = example();
    let fp: ProductFootprint = serde_json::from_value(input.clone()).unwrap();
    let out = serde_json::to_value(&fp).unwrap();
    let mut expected = input;
    remove(&mut expected, "/pcf/otherOperatorName");
    assert_eq!(out, expected);
    // Second round is byte-identical.
    let again: ProductFootprint = serde_json::from_value(out.clone()).unwrap();
    assert_eq!(again, fp);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&fp).unwrap()
    );
}

#[test]
fn maximal_round_trip_and_field_names_match_openapi() {
    let input = maximal_json();
    let fp: ProductFootprint = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(serde_json::to_value(&fp).unwrap(), input);
    // Every property the OpenAPI schema defines is in the maximal JSON and vice versa, so no
    // serde rename can drift from the spec's spelling.
    let doc: Value = serde_norway::from_str(OPENAPI_YAML).unwrap();
    for (schema, ptr) in [
        ("ProductFootprint", ""),
        ("CarbonFootprint", "/pcf"),
        ("DataQualityIndicators", "/pcf/dqi"),
        ("Verification", "/pcf/verification"),
        (
            "ProductOrSectorSpecificRule",
            "/pcf/productOrSectorSpecificRules/0",
        ),
        (
            "EmissionFactorSource",
            "/pcf/secondaryEmissionFactorSources/0",
        ),
        ("DataModelExtension", "/extensions/0"),
    ] {
        let props = doc
            .pointer(&format!("/components/schemas/{schema}/properties"))
            .unwrap()
            .as_object()
            .unwrap();
        let mut want: Vec<&String> = props.keys().collect();
        let obj = input.pointer(ptr).unwrap().as_object().unwrap();
        let mut got: Vec<&String> = obj.keys().collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{schema}");
    }
}

#[test]
fn region_list_matches_openapi_enum() {
    let doc: Value = serde_norway::from_str(OPENAPI_YAML).unwrap();
    let schema_enum = doc
        .pointer("/components/schemas/CarbonFootprint/properties/geographyRegionOrSubregion/enum")
        .unwrap();
    assert_eq!(
        schema_enum,
        &json!(crate::pact::model::REGIONS_OR_SUBREGIONS)
    );
}

#[test]
fn import_keeps_extension_data_nulls() {
    let imported = import(maximal_valid_json(), &ctx()).unwrap();
    assert_eq!(imported.notes, Vec::<String>::new());
    let data = &imported.footprint.extensions[0].data;
    assert_eq!(data["nested"]["b"], Value::Null);
    assert_eq!(
        serde_json::to_value(&imported.footprint).unwrap(),
        maximal_valid_json()
    );
}

#[test]
fn decimals_are_json_strings() {
    let fp: ProductFootprint = serde_json::from_value(maximal_json()).unwrap();
    let v = serde_json::to_value(&fp).unwrap();
    assert_eq!(v["pcf"]["declaredUnitAmount"], json!("1000.000"));
    assert_eq!(v["pcf"]["dqi"]["temporalDQR"], json!("1"));
    assert_eq!(
        fp.pcf.declared_unit_amount.to_exact().unwrap().to_string(),
        "1000.000"
    );
}

#[test]
fn enum_outside_values_does_not_deserialise() {
    let mut v = example();
    set(&mut v, "/pcf/declaredUnitOfMeasurement", json!("gram"));
    let err = serde_json::from_value::<ProductFootprint>(v).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"gram\" is not a valid DeclaredUnit"),
        "{err}"
    );
}

// ---------------------------------------------------------------- validation

#[test]
fn bioethanol_example_validates_clean() {
    // validityPeriodEnd 2027-12-31 is exactly referencePeriodEnd + 3 years: allowed.
    assert_eq!(validate(&example(), &ctx()), vec![]);
    // Own company id compares case-insensitively.
    let upper = ValidationContext {
        own_company_id: Some(OWN.to_uppercase()),
    };
    assert_eq!(validate(&example(), &upper), vec![]);
}

#[test]
fn maximal_footprint_validates_clean() {
    assert_eq!(validate(&maximal_valid_json(), &ctx()), vec![]);
}

#[test]
fn wrong_json_types() {
    let f = findings_after(|v| set(v, "/pcf/declaredUnitAmount", json!(1)));
    let msg = only(&f, "/pcf/declaredUnitAmount", "schema/type");
    assert_eq!(msg, "expected string, found number");
    let f = findings_after(|v| set(v, "/pcf/packagingEmissionsIncluded", json!("yes")));
    only(&f, "/pcf/packagingEmissionsIncluded", "schema/type");
    let f = findings_after(|v| set(v, "/companyIds", json!(OWN)));
    assert!(has(&f, "/companyIds", "schema/type"), "{f:#?}");
}

#[test]
fn missing_required_field() {
    let f = findings_after(|v| remove(v, "/pcf/fossilGhgEmissions"));
    let msg = only(&f, "/pcf/fossilGhgEmissions", "schema/required");
    assert_eq!(msg, "required field fossilGhgEmissions is missing");
    // null means undefined, so a null required field is missing too.
    let f = findings_after(|v| set(v, "/productNameCompany", Value::Null));
    only(&f, "/productNameCompany", "schema/required");
}

#[test]
fn null_optional_field_is_undefined() {
    let f = findings_after(|v| set(v, "/pcf/recycledCarbonContent", Value::Null));
    assert_eq!(f, vec![]);
}

#[test]
fn two_geography_fields() {
    let f = findings_after(|v| set(v, "/pcf/geographyCountry", json!("US")));
    let msg = only(&f, "/pcf/geographyCountrySubdivision", "geography");
    assert!(
        msg.contains("geographyCountry and geographyCountrySubdivision"),
        "{msg}"
    );
}

#[test]
fn unknown_region_is_rejected_by_schema() {
    let f = findings_after(|v| {
        remove(v, "/pcf/geographyCountrySubdivision");
        set(v, "/pcf/geographyRegionOrSubregion", json!("Atlantis"));
    });
    assert!(
        has(&f, "/pcf/geographyRegionOrSubregion", "schema/enum"),
        "{f:#?}"
    );
}

#[test]
fn positive_biogenic_uptake() {
    let f = findings_after(|v| {
        set(v, "/pcf/biogenicCO2Uptake", json!("1.61"));
        // Keep the sum consistent so only the sign rule fires.
        set(v, "/pcf/pcfIncludingBiogenicUptake", json!("1.994"));
    });
    let msg = only(&f, "/pcf/biogenicCO2Uptake", "sign");
    assert_eq!(msg, "must be 0 or less, found 1.61");
}

#[test]
fn biogenic_sum_within_stated_rounding() {
    // 0.384 + (-1.61) = -1.226: "-1.23" (example), "-1.2" and "-1.226" pass.
    for ok in ["-1.23", "-1.2", "-1.226", "-1.2260"] {
        let f = findings_after(|v| set(v, "/pcf/pcfIncludingBiogenicUptake", json!(ok)));
        assert_eq!(f, vec![], "{ok}");
    }
    for bad in ["-1.24", "-1.225", "-1.3", "1.23"] {
        let f = findings_after(|v| set(v, "/pcf/pcfIncludingBiogenicUptake", json!(bad)));
        let msg = only(&f, "/pcf/pcfIncludingBiogenicUptake", "biogenic-sum");
        assert!(msg.contains("0.384 + -1.61 = -1.226"), "{msg}");
    }
}

#[test]
fn pcf_excluding_uptake_is_at_least_its_stated_parts() {
    // The case: a composed −3.2 kgCO2e with fossilGhgEmissions 0 and no removal.
    let f = findings_after(|v| {
        set(v, "/pcf/pcfExcludingBiogenicUptake", json!("-3.2"));
        set(v, "/pcf/pcfIncludingBiogenicUptake", json!("-4.81"));
    });
    let msg = only(&f, "/pcf/pcfExcludingBiogenicUptake", "pcf-parts");
    assert!(
        msg.starts_with("must be at least the sum of its stated parts (fossilGhgEmissions 0.35 + landUseChangeGhgEmissions 0 + landManagementBiogenicCO2Emissions 0.004 + biogenicNonCO2Emissions 0.002 + landManagementBiogenicCO2Removals 0 = 0.356), found -3.2"),
        "{msg}"
    );
    // A reported removal explains a negative total.
    let f = findings_after(|v| {
        set(v, "/pcf/pcfExcludingBiogenicUptake", json!("-3.2"));
        set(v, "/pcf/pcfIncludingBiogenicUptake", json!("-4.81"));
        set(v, "/pcf/landManagementBiogenicCO2Removals", json!("-3.556"));
    });
    assert_eq!(f, vec![]);
    // Within the rounding of the stated terms: 0.356 stated as 0.35 passes, 0.34 does not.
    let f = findings_after(|v| {
        set(v, "/pcf/pcfExcludingBiogenicUptake", json!("0.35"));
        set(v, "/pcf/pcfIncludingBiogenicUptake", json!("-1.26"));
    });
    assert_eq!(f, vec![]);
    let f = findings_after(|v| set(v, "/pcf/pcfExcludingBiogenicUptake", json!("0.34")));
    assert!(
        has(&f, "/pcf/pcfExcludingBiogenicUptake", "pcf-parts"),
        "{f:#?}"
    );
}

#[test]
fn malformed_urn() {
    let f = findings_after(|v| set(v, "/productIds", json!(["urn:gtin"])));
    only(&f, "/productIds/0", "urn");
    let f = findings_after(|v| set(v, "/productClassifications", json!(["urn:x:1"])));
    only(&f, "/productClassifications/0", "urn");
    // Without the urn: prefix the schema pattern reports it.
    let f = findings_after(|v| set(v, "/productIds", json!(["gtin:5695872369587"])));
    only(&f, "/productIds/0", "schema/pattern");
}

#[test]
fn malformed_uuid() {
    let f = findings_after(|v| set(v, "/id", json!("12345678-9abc-def0-1234-56781234567")));
    let msg = only(&f, "/id", "uuid");
    assert!(msg.contains("12345678-9abc-def0-1234-56781234567"), "{msg}");
    let f = findings_after(|v| set(v, "/precedingPfIds", json!(["not-a-uuid"])));
    only(&f, "/precedingPfIds/0", "uuid");
}

#[test]
fn preceding_ids_must_not_contain_own_id() {
    let f = findings_after(|v| {
        set(
            v,
            "/precedingPfIds",
            json!(["12345678-9ABC-DEF0-1234-567812345678"]),
        )
    });
    only(&f, "/precedingPfIds/0", "preceding-ids");
}

#[test]
fn dqr_out_of_range() {
    let f = findings_after(|v| set(v, "/pcf/dqi/temporalDQR", json!("7")));
    let msg = only(&f, "/pcf/dqi/temporalDQR", "dqr-range");
    assert_eq!(msg, "must be between 1 and 5, found 7");
    let f = findings_after(|v| set(v, "/pcf/dqi/technologicalDQR", json!("0.9")));
    only(&f, "/pcf/dqi/technologicalDQR", "dqr-range");
}

#[test]
fn unit_outside_enum() {
    let f = findings_after(|v| set(v, "/pcf/declaredUnitOfMeasurement", json!("gram")));
    let msg = only(&f, "/pcf/declaredUnitOfMeasurement", "schema/enum");
    assert!(msg.starts_with("\"gram\" is not one of \"liter\""), "{msg}");
}

#[test]
fn validity_past_three_years() {
    let f = findings_after(|v| set(v, "/validityPeriodEnd", json!("2027-12-31T00:00:01Z")));
    let msg = only(&f, "/validityPeriodEnd", "validity-period");
    assert!(msg.contains("2027-12-31T00:00:00Z"), "{msg}");
}

#[test]
fn validity_start_before_reference_end_and_reversed() {
    let f = findings_after(|v| set(v, "/validityPeriodStart", json!("2024-06-01T00:00:00Z")));
    only(&f, "/validityPeriodStart", "validity-period");
    let f = findings_after(|v| {
        set(v, "/validityPeriodStart", json!("2026-01-01T00:00:00Z"));
        set(v, "/validityPeriodEnd", json!("2025-01-01T00:00:00Z"));
    });
    only(&f, "/validityPeriodEnd", "validity-period");
}

#[test]
fn reference_period_reversed() {
    let f = findings_after(|v| {
        set(
            v,
            "/pcf/referencePeriodStart",
            json!("2025-01-01T00:00:00Z"),
        )
    });
    only(&f, "/pcf/referencePeriodEnd", "reference-period");
}

#[test]
fn packaging_excluded_with_packaging_emissions() {
    let f = findings_after(|v| {
        set(v, "/pcf/packagingEmissionsIncluded", json!(false));
        set(v, "/pcf/packagingGhgEmissions", json!("0.1"));
    });
    let msg = only(&f, "/pcf/packagingGhgEmissions", "packaging");
    assert!(msg.contains("\"0.1\""), "{msg}");
}

#[test]
fn ccs_excluded_with_capture() {
    let f = findings_after(|v| {
        set(v, "/pcf/ccsTechnologicalCO2CaptureIncluded", json!(false));
        set(v, "/pcf/ccsTechnologicalCO2Capture", json!("-0.5"));
    });
    only(&f, "/pcf/ccsTechnologicalCO2Capture", "ccs");
    let f = findings_after(|v| {
        set(v, "/pcf/ccsTechnologicalCO2CaptureIncluded", json!(false));
        set(v, "/pcf/technologicalCO2CaptureOrigin", json!("plant"));
        set(v, "/pcf/technologicalCO2Removals", json!("-0.1"));
    });
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(has(&f, "/pcf/technologicalCO2CaptureOrigin", "ccs"));
    assert!(has(&f, "/pcf/technologicalCO2Removals", "ccs"));
}

#[test]
fn declared_unit_amount_zero() {
    let f = findings_after(|v| set(v, "/pcf/declaredUnitAmount", json!("0")));
    let msg = only(&f, "/pcf/declaredUnitAmount", "sign");
    assert_eq!(msg, "must be greater than 0, found 0");
}

#[test]
fn company_ids_without_own_id() {
    let f = findings_after(|v| set(v, "/companyIds", json!(["urn:company:example:other"])));
    let msg = only(&f, "/companyIds", "own-company");
    assert!(msg.contains(OWN), "{msg}");
    // Without an own id in the context, any company passes.
    let mut v = example();
    set(&mut v, "/companyIds", json!(["urn:company:example:other"]));
    assert_eq!(validate(&v, &no_ctx()), vec![]);
}

#[test]
fn decimal_with_exponent_and_datetime_format() {
    let f = findings_after(|v| set(v, "/pcf/fossilGhgEmissions", json!("3.5e-1")));
    only(&f, "/pcf/fossilGhgEmissions", "decimal-format");
    let f = findings_after(|v| set(v, "/created", json!("2025-04-30")));
    only(&f, "/created", "datetime");
    let f = findings_after(|v| set(v, "/pcf/primaryDataShare", json!("101")));
    only(&f, "/pcf/primaryDataShare", "percent-range");
}

#[test]
fn finding_display_names_path_and_rule() {
    let f = findings_after(|v| set(v, "/pcf/declaredUnitAmount", json!("0")));
    assert_eq!(
        f[0].to_string(),
        "/pcf/declaredUnitAmount: must be greater than 0, found 0 [sign]"
    );
}

// ---------------------------------------------------------------- documents

#[test]
fn parse_document_object_array_and_jsonl() {
    assert_eq!(parse_document(V3_EXAMPLE).unwrap(), vec![example()]);
    let arr = format!("[{V3_EXAMPLE}, {V3_EXAMPLE}]");
    assert_eq!(parse_document(&arr).unwrap().len(), 2);
    let line = serde_json::to_string(&example()).unwrap();
    let jsonl = format!("{line}\n{line}\n\n{line}\n");
    assert_eq!(parse_document(&jsonl).unwrap().len(), 3);
}

/// Large JSONL is parsed on several threads: values keep input order and the error is the
/// first bad line in input order, as a sequential parse reports it.
#[test]
fn parse_document_large_jsonl_keeps_order_and_first_error() {
    let lines: Vec<String> = (0..5000).map(|n| format!("{{\"n\":{n}}}")).collect();
    let with_blanks = |lines: &[String]| {
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            text.push_str(l);
            text.push('\n');
            if i % 7 == 0 {
                text.push_str("  \n");
            }
        }
        text
    };
    let values = parse_document(&with_blanks(&lines)).unwrap();
    assert_eq!(values.len(), 5000);
    assert!(values.iter().enumerate().all(|(i, v)| v["n"] == i as u64));
    // Line numbers count the blank lines: one follows every seventh record from the first.
    let line_of = |k: usize| k + k.div_ceil(7) + 1;
    for (syntax_at, array_at) in [(4990, 10), (3000, 4999), (1, 2500), (2600, 2601)] {
        let mut broken = lines.clone();
        broken[syntax_at] = "{\"n\": ".into();
        broken[array_at] = "[1]".into();
        let err = parse_document(&with_blanks(&broken)).unwrap_err();
        let expected = if syntax_at < array_at {
            matches!(err, DocumentError::Syntax { line, .. } if line == line_of(syntax_at))
        } else {
            err == DocumentError::NotAnObject {
                line: line_of(array_at),
                found: "array",
            }
        };
        assert!(
            expected,
            "syntax at {syntax_at}, array at {array_at}: {err:?}"
        );
    }
}

/// `parse_document_with` maps every record exactly once, in input order, for JSONL and for
/// a large array (both spread over threads), and maps nothing into a result on a bad line.
#[test]
fn parse_document_with_maps_each_record_once_in_order() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let lines: Vec<String> = (0..4000).map(|n| format!("{{\"n\":{n}}}")).collect();
    let jsonl = lines.join("\n");
    let array = format!("[{}]", lines.join(","));
    for text in [&jsonl, &array] {
        let calls = AtomicUsize::new(0);
        let mapped = super::parse_document_with(text, |v| {
            calls.fetch_add(1, Ordering::Relaxed);
            v["n"].as_u64().unwrap() * 2
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 4000);
        assert_eq!(mapped, (0..4000).map(|n| n * 2).collect::<Vec<u64>>());
    }
    let mut broken = lines.clone();
    broken[3500] = "{\"n\": ".into();
    let err = super::parse_document_with(&broken.join("\n"), |v| v).unwrap_err();
    assert!(
        matches!(err, DocumentError::Syntax { line: 3501, .. }),
        "{err:?}"
    );
    let mut array_broken = lines;
    array_broken[17] = "3".into();
    let err =
        super::parse_document_with(&format!("[{}]", array_broken.join(",")), |v| v).unwrap_err();
    assert_eq!(
        err,
        DocumentError::ElementNotObject {
            index: 17,
            found: "number"
        }
    );
}

#[test]
fn parse_document_jsonl_error_names_line() {
    let line = serde_json::to_string(&example()).unwrap();
    let jsonl = format!("{line}\n{line}\n{{\"id\": \n{line}\n");
    match parse_document(&jsonl) {
        Err(DocumentError::Syntax { line, .. }) => assert_eq!(line, 3),
        other => panic!("unexpected {other:?}"),
    }
    let broken = format!("{line}\n{{\"id\" 1}}\n");
    let err = parse_document(&broken).unwrap_err();
    assert!(
        matches!(err, DocumentError::Syntax { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("line 2, column"), "{err}");
    let err = parse_document(&format!("{line}\n42\n")).unwrap_err();
    assert_eq!(
        err,
        DocumentError::NotAnObject {
            line: 2,
            found: "number"
        }
    );
    let err = parse_document("[{}, 1]").unwrap_err();
    assert_eq!(
        err,
        DocumentError::ElementNotObject {
            index: 1,
            found: "number"
        }
    );
    assert_eq!(parse_document(" \n "), Err(DocumentError::Empty));
    // A pretty-printed document with an error reports the line within the whole document.
    let pretty = "{\n  \"id\": \"x\",\n  \"pcf\": [1,,2]\n}";
    assert!(matches!(
        parse_document(pretty),
        Err(DocumentError::Syntax { line: 3, .. })
    ));
}

// ---------------------------------------------------------------- import

#[test]
fn import_v3_reports_dropped_unknown_field() {
    let imported = import(example(), &ctx()).unwrap();
    assert_eq!(imported.source_version, SpecVersion::V3);
    assert_eq!(
        imported.notes,
        vec!["/pcf/otherOperatorName: dropped: not part of the pact v3 data model".to_string()]
    );
    assert_eq!(
        imported.footprint.pcf.biogenic_co2_uptake.unwrap().as_str(),
        "-1.61"
    );
}

#[test]
fn import_rejects_invalid_with_findings() {
    let mut v = example();
    set(&mut v, "/pcf/declaredUnitAmount", json!("0"));
    let findings = import(v, &ctx()).unwrap_err();
    only(&findings, "/pcf/declaredUnitAmount", "sign");
}

#[test]
fn v2_detection() {
    assert!(v2::is_v2(&v2_data()));
    assert!(!v2::is_v2(&example()));
    let mut unversioned = v2_data();
    remove(&mut unversioned, "/specVersion");
    assert!(v2::is_v2(&unversioned));
}

#[test]
fn v2_example_converts_with_notes() {
    let (v3, notes) = v2::convert(&v2_data());
    let pcf = &v3["pcf"];
    assert_eq!(v3["specVersion"], json!("3.0.3"));
    assert_eq!(v3["productClassifications"], json!(["urn:cpc:6398"]));
    assert_eq!(pcf["declaredUnitOfMeasurement"], json!("liter"));
    assert_eq!(pcf["declaredUnitAmount"], json!("1"));
    assert_eq!(pcf["pcfExcludingBiogenicUptake"], json!("1.63"));
    assert_eq!(pcf["ipccCharacterizationFactors"], json!(["AR6"]));
    assert_eq!(
        pcf["crossSectoralStandards"],
        json!(["GHGP-Product", "ISO14067"])
    );
    assert_eq!(pcf["exemptedEmissionsPercent"], json!("0"));
    assert_eq!(pcf["primaryDataShare"], json!("12.9"));
    assert_eq!(
        pcf["dqi"],
        json!({"technologicalDQR": "1.6", "temporalDQR": "2.6", "geographicalDQR": "1.8"})
    );
    assert_eq!(
        pcf["productOrSectorSpecificRules"][0]["otherOperatorName"],
        json!("Tfs")
    );
    assert!(pcf.get("verification").is_none());
    assert!(pcf.get("pcfIncludingBiogenicUptake").is_none());
    assert_eq!(v3["extensions"][0]["data"]["weight"], json!(10));
    for prefix in [
        "/version: dropped",
        "/productCategoryCpc: \"6398\" carried over",
        "/pcf/pCfIncludingBiogenic: dropped",
        "/pcf/dLucGhgEmissions: dropped",
        "/pcf/iLucGhgEmissions: dropped",
        "/pcf/landManagementGhgEmissions: dropped",
        "/pcf/otherBiogenicGhgEmissions: dropped",
        "/pcf/biogenicCarbonWithdrawal: dropped",
        "/pcf/biogenicAccountingMethodology: dropped",
        "/pcf/uncertaintyAssessmentDescription: dropped",
        "/pcf/dqi: ratings kept on their v2 scale",
        "/pcf/dqi/coveragePercent: dropped",
        "/pcf/dqi/completenessDQR: dropped",
        "/pcf/dqi/reliabilityDQR: dropped",
        "/pcf/assurance: dropped",
        "/pcf/exemptedEmissionsPercent: json number 0",
        "/pcf/productMassPerDeclaredUnit: not derivable",
        "/pcf/pcfIncludingBiogenicUptake: not derivable",
    ] {
        assert!(
            notes.iter().any(|n| n.starts_with(prefix)),
            "no note starting {prefix:?} in {notes:#?}"
        );
    }
}

#[test]
fn v2_example_import_fails_only_for_underivable_fields() {
    let ctx = ValidationContext {
        own_company_id: Some("urn:epc:id:sgln:562958.00000.4".into()),
    };
    let findings = import(v2_data(), &ctx).unwrap_err();
    let mut got: Vec<(&str, &str)> = findings.iter().map(|f| (f.path.as_str(), f.rule)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("/pcf/pcfIncludingBiogenicUptake", "schema/required"),
            ("/pcf/productMassPerDeclaredUnit", "schema/required"),
        ]
    );
    // Supplying the two values the v2 model cannot provide makes the conversion valid.
    let (mut v3, _) = v2::convert(&v2_data());
    set(&mut v3, "/pcf/productMassPerDeclaredUnit", json!("0.789"));
    set(&mut v3, "/pcf/pcfIncludingBiogenicUptake", json!("1.63"));
    assert_eq!(validate(&v3, &ctx), vec![]);
}

#[test]
fn v2_assurance_and_mass_derivation() {
    let mut data = v2_data();
    set(&mut data, "/pcf/declaredUnit", json!("kilogram"));
    set(&mut data, "/pcf/unitaryProductAmount", json!("2.5"));
    set(
        &mut data,
        "/pcf/assurance",
        json!({"assurance": true, "coverage": "PCF system", "level": "limited",
               "providerName": "Audit AG", "completedAt": "2022-02-01T00:00:00Z"}),
    );
    set(&mut data, "/pcf/exemptedEmissionsPercent", json!(1e-7));
    let (v3, notes) = v2::convert(&data);
    assert_eq!(v3["pcf"]["productMassPerDeclaredUnit"], json!("2.5"));
    assert_eq!(
        v3["pcf"]["verification"],
        json!({"coverage": "PCF calculation model", "providerName": "Audit AG",
               "completedAt": "2022-02-01T00:00:00Z"})
    );
    assert_eq!(v3["pcf"]["exemptedEmissionsPercent"], json!("0.0000001"));
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("/pcf/assurance/level: dropped"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("/pcf/productMassPerDeclaredUnit: derived"))
    );
}

// ---------------------------------------------------------------- filters

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn q(pairs: &[(&str, &str)]) -> Result<FootprintFilter, FilterError> {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    FootprintFilter::parse_query(&owned)
}

#[test]
fn empty_filter_matches() {
    assert!(FootprintFilter::default().matches(&fp()));
}

#[test]
fn filter_each_criterion_case_insensitive() {
    let fp = fp();
    let yes = |pairs: &[(&str, &str)]| q(pairs).unwrap().matches(&fp);
    assert!(yes(&[("productId", "URN:GTIN:5695872369587")]));
    assert!(!yes(&[("productId", "urn:gtin:1")]));
    assert!(yes(&[("companyId", "urn:company:EXAMPLE:company1")]));
    assert!(!yes(&[("companyId", "urn:company:example:company2")]));
    assert!(yes(&[("geography", "us-tx")]));
    assert!(!yes(&[("geography", "US")]));
    assert!(yes(&[(
        "classification",
        "urn:pact:productclassification:CAS:1456"
    )]));
    assert!(!yes(&[("classification", "urn:cpc:1")]));
    assert!(yes(&[("status", "Active")]));
    assert!(yes(&[("status", "active")]));
    assert!(!yes(&[("status", "Deprecated")]));
}

#[test]
fn filter_geography_matches_region_country_or_subdivision() {
    let mut fp = fp();
    fp.pcf.geography_country_subdivision = None;
    fp.pcf.geography_country = Some("DE".into());
    let filter = |g: &str| FootprintFilter {
        geography: vec![g.into()],
        ..Default::default()
    };
    assert!(filter("de").matches(&fp));
    fp.pcf.geography_country = None;
    fp.pcf.geography_region_or_subregion = Some("Western Europe".into());
    assert!(filter("western europe").matches(&fp));
    assert!(!filter("DE").matches(&fp));
}

#[test]
fn filter_or_within_and_across() {
    let fp = fp();
    let or = q(&[
        ("productId", "urn:gtin:1"),
        ("productId", "urn:gtin:5695872369587"),
    ])
    .unwrap();
    assert!(or.matches(&fp));
    let and_fail = q(&[("productId", "urn:gtin:5695872369587"), ("geography", "DE")]).unwrap();
    assert!(!and_fail.matches(&fp));
    let and_ok = q(&[
        ("productId", "urn:gtin:5695872369587"),
        ("geography", "DE"),
        ("geography", "US-TX"),
        ("status", "Active"),
    ])
    .unwrap();
    assert!(and_ok.matches(&fp));
}

#[test]
fn filter_validity_semantics() {
    // Stated validity: [2024-12-31, 2027-12-31].
    let fp = fp();
    let on = |s: &str| FootprintFilter {
        valid_on: Some(t(s)),
        ..Default::default()
    };
    assert!(on("2024-12-31T00:00:00Z").matches(&fp));
    assert!(on("2027-12-31T00:00:00Z").matches(&fp));
    assert!(!on("2027-12-31T00:00:01Z").matches(&fp));
    assert!(!on("2024-12-30T23:59:59Z").matches(&fp));
    let after = |s: &str| FootprintFilter {
        valid_after: Some(t(s)),
        ..Default::default()
    };
    assert!(after("2024-12-30T00:00:00Z").matches(&fp));
    assert!(!after("2024-12-31T00:00:00Z").matches(&fp));
    let before = |s: &str| FootprintFilter {
        valid_before: Some(t(s)),
        ..Default::default()
    };
    assert!(before("2028-01-01T00:00:00Z").matches(&fp));
    assert!(!before("2027-12-31T00:00:00Z").matches(&fp));
}

#[test]
fn filter_validity_falls_back_to_reference_end_plus_three_years() {
    let mut fp = fp();
    fp.validity_period_start = None;
    fp.validity_period_end = None;
    fp.pcf.reference_period_end = "2023-06-30T00:00:00Z".into();
    let on = |s: &str| FootprintFilter {
        valid_on: Some(t(s)),
        ..Default::default()
    };
    assert!(on("2023-06-30T00:00:00Z").matches(&fp));
    assert!(on("2026-06-30T00:00:00Z").matches(&fp));
    assert!(!on("2026-06-30T00:00:01Z").matches(&fp));
    assert!(!on("2023-06-29T00:00:00Z").matches(&fp));
}

#[test]
fn parse_query_errors_name_the_parameter() {
    assert_eq!(
        q(&[("productID", "x")]).unwrap_err(),
        FilterError::UnknownParameter("productID".into())
    );
    let err = q(&[("validOn", "yesterday")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parameter validOn must be an rfc 3339 datetime, found \"yesterday\""
    );
    assert_eq!(
        q(&[
            ("validBefore", "2025-01-01T00:00:00Z"),
            ("validBefore", "2026-01-01T00:00:00Z")
        ])
        .unwrap_err(),
        FilterError::Repeated("validBefore".into())
    );
    // A status PACT does not define is a filter nothing matches (conformance case 37).
    let gone = q(&[("status", "Gone"), ("productId", "urn:x")]).unwrap();
    assert_eq!(gone.status, Some(StatusCriterion::Unknown("Gone".into())));
    assert_eq!(
        q(&[("status", "Gone"), ("status", "Active")]).unwrap_err(),
        FilterError::Repeated("status".into())
    );
    // An empty value of a list criterion is no constraint (conformance case 23 sends
    // `classification=` when its sample has none and expects every footprint); an empty
    // datetime or status is still an error.
    let none = q(&[
        ("companyId", ""),
        ("classification", " "),
        ("productId", "urn:x"),
    ])
    .unwrap();
    assert!(none.company_id.is_empty() && none.classification.is_empty());
    assert_eq!(none.product_id, vec!["urn:x".to_string()]);
    assert_eq!(
        q(&[("validOn", "")]).unwrap_err(),
        FilterError::Empty("validOn".into())
    );
    assert_eq!(
        q(&[("status", "")]).unwrap_err(),
        FilterError::Empty("status".into())
    );
    // A `+hh:mm` offset whose `+` arrived as a space (not percent-encoded) still parses;
    // other spaces do not make a datetime.
    let f = q(&[("validOn", "2025-01-01T09:00:00 09:00")]).unwrap();
    assert_eq!(f.valid_on, Some(t("2025-01-01T00:00:00Z")));
    assert!(q(&[("validOn", "2025-01-01T09:00:00 0900")]).is_err());
    assert!(q(&[("validOn", " 09:00")]).is_err());
    let f = q(&[
        ("x-acme-region", "north"),
        ("limit", "10"),
        ("validOn", "2025-01-01T01:00:00+01:00"),
        ("status", "Deprecated"),
    ])
    .unwrap();
    assert_eq!(f.valid_on, Some(t("2025-01-01T00:00:00Z")));
    assert_eq!(f.status, Some(StatusCriterion::Is(Status::Deprecated)));
}

// ---------------------------------------------------------------- streaming

/// Records come out one by one as the input is read: the first elements of an array are
/// handed on before a read error further on ends the walk.
#[test]
fn stream_hands_on_records_before_reading_the_rest() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk went away"))
        }
    }
    for head in ["[{\"n\": 0}, {\"n\": 1}, ", "{\"n\": 0}\n{\"n\": 1}\n"] {
        let input = std::io::BufReader::new(std::io::Read::chain(head.as_bytes(), Broken));
        let mut seen = Vec::new();
        let err = super::stream::for_each_record(input, usize::MAX, |r| {
            seen.push(r.parse().unwrap()["n"].as_u64().unwrap());
            true
        })
        .unwrap_err();
        assert_eq!(seen, vec![0, 1], "{head}");
        assert!(err.to_string().contains("disk went away"), "{err}");
    }
}

/// A record longer than the limit is refused by name, without being held: a JSONL line, an
/// array element, a document of one object.
#[test]
fn stream_refuses_a_record_over_the_limit_by_name() {
    let long = format!("{{\"comment\": \"{}\"}}", "x".repeat(300));
    let cases = [
        (format!("{{}}\n{{}}\n{long}\n{{}}\n"), "line 3"),
        (format!("[{{}}, {long}, {{}}]"), "an array element"),
        (
            format!("{{\n \"comment\": \"{}\"\n}}", "x".repeat(300)),
            "the document",
        ),
    ];
    for (text, what) in cases {
        let mut n = 0;
        let err = super::stream::for_each_record(text.as_bytes(), 200, |_| {
            n += 1;
            true
        })
        .unwrap_err();
        assert_eq!(
            err,
            DocumentError::TooLarge {
                record: what.into(),
                limit: 200
            },
            "{text}"
        );
        assert_eq!(
            err.to_string(),
            format!("{what} is over the limit of 200 bytes for one footprint")
        );
        assert!(n <= 2, "{n} records before the long one");
    }
}
