//! PACT v3 validation: the OpenAPI `ProductFootprint` schema plus the rules it cannot express.
//!
//! Layer (a) is the wbcsd OpenAPI document itself (`schema/pact-v3-openapi.yaml`), compiled once
//! as a JSON Schema 2020-12 validator whose root `$ref`s `#/components/schemas/ProductFootprint`.
//! Layer (b) checks what the schema leaves to prose: formats (the schema's `format` keywords are
//! annotations only in 2020-12, and `decimal`/`urn` are not standard formats), signs, the
//! biogenic sum, periods, conditional fields and the caller's own company id.
//!
//! Both layers work on `serde_json::Value` so that a malformed document yields findings rather
//! than a deserialisation error, and every finding carries the JSON pointer of what is wrong.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use crate::pact::model::{is_decimal_text, parse_datetime, parse_decimal, plus_three_years};

/// The OpenAPI document of record (MIT, wbcsd/data-exchange-protocol `spec/v3/openapi.yaml`).
pub(crate) const OPENAPI_YAML: &str = include_str!("../../schema/pact-v3-openapi.yaml");

/// What the validator needs to know about the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationContext {
    /// The URN of the company running this node; when set, `companyIds` must contain it
    /// (a node only publishes its own footprints).
    pub own_company_id: Option<String>,
}

/// One problem found in a footprint document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer (RFC 6901) of the offending value, e.g. `/pcf/biogenicCO2Uptake`;
    /// for a missing field, the pointer the field would have.
    pub path: String,
    /// Stable rule identifier, e.g. `sign` or `schema/required`.
    pub rule: &'static str,
    /// Lowercase human-readable explanation naming the offending value.
    pub message: String,
}

impl Finding {
    fn new(path: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {} [{}]", self.message, self.rule)
    }
}

/// Errors of [`parse_document`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Nothing but whitespace.
    #[error("document is empty")]
    Empty,
    /// Invalid JSON; `line` is 1-based, so for JSONL it is the record's line.
    #[error("line {line}, column {column}: invalid json: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A top-level value (a JSONL line, or the single document) that is not an object or array.
    #[error("line {line}: expected a footprint object, found {found}")]
    NotAnObject { line: usize, found: &'static str },
    /// An element of a top-level array that is not an object.
    #[error("array element {index}: expected a footprint object, found {found}")]
    ElementNotObject { index: usize, found: &'static str },
    /// One record (a JSONL line, an array element, the whole document) longer than a
    /// footprint may be.
    #[error("{record} is over the limit of {limit} bytes for one footprint")]
    TooLarge { record: String, limit: usize },
    /// The input could not be read.
    #[error("cannot read the document: {0}")]
    Read(String),
}

/// Splits a document into footprint objects: one JSON object, one JSON array of objects, or
/// JSONL (one object per line, blank lines ignored); see [`super::stream`] for how the form
/// is told and what errors name.
pub fn parse_document(text: &str) -> Result<Vec<Value>, DocumentError> {
    parse_document_with(text, |v| v)
}

/// [`parse_document`] that hands every footprint object to `f` and keeps only what `f`
/// returns (in input order). JSONL lines are parsed, and `f` runs, on every core; the error
/// is the first problem in input order.
pub fn parse_document_with<T: Send>(
    text: &str,
    f: impl Fn(Value) -> T + Sync,
) -> Result<Vec<T>, DocumentError> {
    let mut records = Vec::new();
    super::stream::for_each_record(text.as_bytes(), usize::MAX, |r| {
        records.push(r);
        true
    })?;
    let mapped =
        crate::parallel::map_chunks(records, PARALLEL_LINES, &|r: super::stream::Record| {
            r.parse().map(&f)
        })
        // A panic in `f` surfaces here, as it would have without threads.
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    mapped.into_iter().collect()
}

/// Records from which a document is parsed and mapped on more than one thread.
const PARALLEL_LINES: usize = 1024;

/// A syntax error at a position offset by `line_offset` lines, and by `column_offset`
/// columns when it is on the first line read (positions within the whole document).
pub(crate) fn syntax(
    e: &serde_json::Error,
    line_offset: usize,
    column_offset: usize,
) -> DocumentError {
    let message = e.to_string();
    // serde_json appends " at line L column C"; the numbers are carried separately.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_string();
    DocumentError::Syntax {
        line: e.line() + line_offset,
        column: e.column() + column_offset,
        message,
    }
}

/// Name of a JSON value's type, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// PACT says "undefined" means absent or `null`; the schema types do not allow `null`, so
/// `null` members are removed before validation and deserialisation. Extension `data` is
/// left untouched (it belongs to the extension's own schema).
pub(crate) fn strip_nulls(value: &mut Value) {
    fn strip(v: &mut Value, inside_extension: bool) {
        match v {
            Value::Object(map) => {
                map.retain(|_, m| !m.is_null());
                for (k, m) in map.iter_mut() {
                    if inside_extension && k == "data" {
                        continue;
                    }
                    strip(m, k == "extensions");
                }
            }
            Value::Array(items) => {
                for item in items {
                    strip(item, inside_extension);
                }
            }
            _ => {}
        }
    }
    strip(value, false);
}

/// The compiled schema validator; built once from the embedded OpenAPI document.
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    // Invariant: the document is embedded at compile time and `schema_compiles` (tests) proves
    // it converts and compiles, so failure here is a build defect, not a runtime condition.
    build_validator().expect("embedded pact openapi schema must compile")
});

pub(crate) fn build_validator() -> Result<jsonschema::Validator, String> {
    let doc: Value = serde_norway::from_str(OPENAPI_YAML).map_err(|e| e.to_string())?;
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .ok_or("openapi document has no components/schemas")?;
    // Only the components are kept: the root is a 2020-12 schema whose local `$ref` resolves in
    // this document, so no remote reference is ever followed.
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/components/schemas/ProductFootprint",
        "components": { "schemas": schemas },
    });
    jsonschema::draft202012::options()
        .should_validate_formats(false)
        .build(&root)
        .map_err(|e| e.to_string())
}

/// Validates one PACT v3 `ProductFootprint` JSON value. An empty result means valid.
pub fn validate(value: &Value, ctx: &ValidationContext) -> Vec<Finding> {
    let mut value = value.clone();
    strip_nulls(&mut value);
    validate_stripped(&value, ctx)
}

/// [`validate`] of a value whose nulls [`strip_nulls`] has already removed (no copy).
pub(crate) fn validate_stripped(value: &Value, ctx: &ValidationContext) -> Vec<Finding> {
    let mut findings = schema_findings(value);
    findings.extend(rule_findings(value, ctx));
    findings
}

/// Layer (a): the OpenAPI schema.
fn schema_findings(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for err in SCHEMA.iter_errors(value) {
        let path = err.instance_path().as_str().to_string();
        let (path, rule, message) = match err.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let escaped = name.replace('~', "~0").replace('/', "~1");
                (
                    format!("{path}/{escaped}"),
                    "schema/required",
                    format!("required field {name} is missing"),
                )
            }
            ValidationErrorKind::Type { .. } => {
                let found = value.pointer(&path).map(json_type).unwrap_or("nothing");
                let expected = expected_type(&err.to_string());
                (
                    path,
                    "schema/type",
                    format!("expected {expected}, found {found}"),
                )
            }
            ValidationErrorKind::Enum { options } => (
                path.clone(),
                "schema/enum",
                format!(
                    "{} is not one of {}",
                    show(value.pointer(&path)),
                    enum_list(options)
                ),
            ),
            ValidationErrorKind::Pattern { pattern } => (
                path.clone(),
                "schema/pattern",
                format!(
                    "{} does not match the pattern {pattern}",
                    show(value.pointer(&path))
                ),
            ),
            ValidationErrorKind::MinItems { limit } => (
                path,
                "schema/minItems",
                format!("must have at least {limit} item(s)"),
            ),
            ValidationErrorKind::MinLength { limit } => (
                path,
                "schema/minLength",
                format!("must be at least {limit} character(s) long"),
            ),
            ValidationErrorKind::UniqueItems => {
                (path, "schema/uniqueItems", "items must be unique".into())
            }
            // The only oneOf in ProductFootprint is the geography constraint on `pcf`; the
            // `geography` rule reports it with a precise message, so it is not repeated here.
            ValidationErrorKind::OneOfMultipleValid { .. }
            | ValidationErrorKind::OneOfNotValid { .. }
                if path == "/pcf" =>
            {
                continue;
            }
            other => (
                path,
                "schema",
                format!(
                    "{} (schema keyword {})",
                    lowercase_first(&err.to_string()),
                    other.keyword()
                ),
            ),
        };
        out.push(Finding::new(path, rule, message));
    }
    out
}

/// Extracts the expected type from jsonschema's `... is not of type "string"` message.
fn expected_type(message: &str) -> String {
    message
        .rsplit_once("is not of type ")
        .map(|(_, t)| t.replace('"', ""))
        .unwrap_or_else(|| "another type".into())
}

fn enum_list(options: &Value) -> String {
    match options {
        Value::Array(items) => items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Renders a value for a message, truncated so huge values do not flood logs.
fn show(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "nothing".to_string(), |v| v.to_string());
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Sign or range constraint of a decimal field.
#[derive(Clone, Copy)]
enum Range {
    Any,
    Positive,
    NonNegative,
    NonPositive,
    /// Percent in [0, 100].
    Percent,
    /// Data quality rating in [1, 5].
    Dqr,
}

/// Every decimal field of `CarbonFootprint` with its constraint (PACT v3.0.3 tables).
const PCF_DECIMALS: &[(&str, Range)] = &[
    ("declaredUnitAmount", Range::Positive),
    ("productMassPerDeclaredUnit", Range::NonNegative),
    ("pcfExcludingBiogenicUptake", Range::Any),
    ("pcfIncludingBiogenicUptake", Range::Any),
    ("fossilCarbonContent", Range::NonNegative),
    ("biogenicCarbonContent", Range::NonNegative),
    ("recycledCarbonContent", Range::NonNegative),
    ("fossilGhgEmissions", Range::NonNegative),
    ("landUseChangeGhgEmissions", Range::NonNegative),
    ("landCarbonLeakage", Range::NonNegative),
    ("landManagementFossilGhgEmissions", Range::NonNegative),
    ("landManagementBiogenicCO2Emissions", Range::NonNegative),
    ("landManagementBiogenicCO2Removals", Range::NonPositive),
    ("biogenicCO2Uptake", Range::NonPositive),
    ("biogenicNonCO2Emissions", Range::NonNegative),
    ("landAreaOccupation", Range::NonNegative),
    ("aircraftGhgEmissions", Range::NonNegative),
    ("packagingGhgEmissions", Range::NonNegative),
    ("packagingBiogenicCarbonContent", Range::NonNegative),
    ("outboundLogisticsGhgEmissions", Range::NonNegative),
    ("ccsTechnologicalCO2Capture", Range::NonPositive),
    ("technologicalCO2Removals", Range::NonPositive),
    ("ccuCarbonContent", Range::NonNegative),
    ("exemptedEmissionsPercent", Range::NonNegative),
    ("primaryDataShare", Range::Percent),
];

const DQRS: &[&str] = &["technologicalDQR", "geographicalDQR", "temporalDQR"];
const GEOGRAPHY: &[&str] = &[
    "geographyRegionOrSubregion",
    "geographyCountry",
    "geographyCountrySubdivision",
];

/// Layer (b): rules the schema does not express. Each rule only looks at values of the right
/// JSON type; wrong types are already reported by layer (a).
fn rule_findings(v: &Value, ctx: &ValidationContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let empty = Map::new();
    let pcf = v.get("pcf").and_then(Value::as_object).unwrap_or(&empty);

    // Formats.
    check_uuid(&mut out, v, "/id");
    for_each_str(v, "/precedingPfIds", |p, s| check_uuid_str(&mut out, p, s));
    for key in ["/companyIds", "/productIds", "/productClassifications"] {
        for_each_str(v, key, |p, s| check_urn(&mut out, p, s));
    }
    check_datetime(&mut out, v, "/created");
    let validity_start = check_datetime(&mut out, v, "/validityPeriodStart");
    let validity_end = check_datetime(&mut out, v, "/validityPeriodEnd");
    let ref_start = check_datetime(&mut out, v, "/pcf/referencePeriodStart");
    let ref_end = check_datetime(&mut out, v, "/pcf/referencePeriodEnd");
    check_datetime(&mut out, v, "/pcf/verification/completedAt");
    check_uri(&mut out, v, "/pcf/ccuCreditCertification");
    if let Some(exts) = v.get("extensions").and_then(Value::as_array) {
        for i in 0..exts.len() {
            check_uri(&mut out, v, &format!("/extensions/{i}/dataSchema"));
            check_uri(&mut out, v, &format!("/extensions/{i}/documentation"));
        }
    }

    // Decimals: format, then sign or range.
    for (field, range) in PCF_DECIMALS {
        if let Some(value) = pcf.get(*field) {
            check_decimal(&mut out, value, || format!("/pcf/{field}"), *range);
        }
    }
    if let Some(dqi) = pcf.get("dqi") {
        for dqr in DQRS {
            if let Some(value) = dqi.get(dqr) {
                check_decimal(&mut out, value, || format!("/pcf/dqi/{dqr}"), Range::Dqr);
            }
        }
    }

    // At most one geography field.
    let set: Vec<&str> = GEOGRAPHY
        .iter()
        .copied()
        .filter(|g| pcf.contains_key(*g))
        .collect();
    if set.len() > 1 {
        out.push(Finding::new(
            format!("/pcf/{}", set[1]),
            "geography",
            format!(
                "at most one geography field may be set, found {}",
                set.join(" and ")
            ),
        ));
    }

    // pcfIncludingBiogenicUptake = pcfExcludingBiogenicUptake + biogenicCO2Uptake.
    check_biogenic_sum(&mut out, pcf);
    // pcfExcludingBiogenicUptake is at least the sum of its stated parts.
    check_pcf_parts(&mut out, pcf);

    // Periods.
    if let (Some(s), Some(e)) = (ref_start, ref_end)
        && s >= e
    {
        out.push(Finding::new(
            "/pcf/referencePeriodEnd",
            "reference-period",
            format!(
                "reference period end {} is not after its start {}",
                fmt_dt(e),
                fmt_dt(s)
            ),
        ));
    }
    if let Some(ref_end) = ref_end {
        check_validity(&mut out, v, ref_end, validity_start, validity_end);
    }

    // Conditional fields.
    if pcf.get("packagingEmissionsIncluded") == Some(&Value::Bool(false))
        && let Some(val) = pcf.get("packagingGhgEmissions")
    {
        out.push(Finding::new(
            "/pcf/packagingGhgEmissions",
            "packaging",
            format!(
                "must be undefined when packagingEmissionsIncluded is false, found {}",
                show(Some(val))
            ),
        ));
    }
    if pcf.get("ccsTechnologicalCO2CaptureIncluded") == Some(&Value::Bool(false)) {
        for field in [
            "ccsTechnologicalCO2Capture",
            "technologicalCO2CaptureOrigin",
            "technologicalCO2Removals",
        ] {
            if let Some(val) = pcf.get(field) {
                out.push(Finding::new(
                    format!("/pcf/{field}"),
                    "ccs",
                    format!(
                        "must be undefined when ccsTechnologicalCO2CaptureIncluded is false, found {}",
                        show(Some(val))
                    ),
                ));
            }
        }
    }

    // Lifecycle: a footprint cannot precede itself.
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        for_each_str(v, "/precedingPfIds", |p, s| {
            if s.eq_ignore_ascii_case(id) {
                out.push(Finding::new(
                    p(),
                    "preceding-ids",
                    format!("precedingPfIds contains the footprint's own id {id}"),
                ));
            }
        });
    }

    // Ownership.
    if let Some(own) = &ctx.own_company_id
        && let Some(ids) = v.get("companyIds").and_then(Value::as_array)
    {
        let found = ids
            .iter()
            .filter_map(Value::as_str)
            .any(|s| s.eq_ignore_ascii_case(own));
        if !found {
            out.push(Finding::new(
                "/companyIds",
                "own-company",
                format!("companyIds does not include this node's company id {own}"),
            ));
        }
    }
    out
}

/// `Value::pointer` for the rules' fixed pointers (no `~` escapes), without the allocations
/// `Value::pointer` makes for every token: the rules look up some 40 pointers per footprint.
fn lookup<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    debug_assert!(ptr.starts_with('/') && !ptr.contains('~'));
    ptr.split('/').skip(1).try_fold(v, |at, token| match at {
        Value::Object(map) => map.get(token),
        Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Calls `f` with the JSON pointer (built only when asked for) and the text of every string
/// element of the array at `ptr`.
fn for_each_str(v: &Value, ptr: &str, mut f: impl FnMut(&dyn Fn() -> String, &str)) {
    if let Some(items) = lookup(v, ptr).and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = item.as_str() {
                f(&|| format!("{ptr}/{i}"), s);
            }
        }
    }
}

/// Whether `s` is a hyphenated uuid (`8-4-4-4-12` hex digits), the form PACT uses.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_uuid(out: &mut Vec<Finding>, v: &Value, ptr: &str) {
    if let Some(s) = lookup(v, ptr).and_then(Value::as_str) {
        check_uuid_str(out, &|| ptr.to_string(), s);
    }
}

fn check_uuid_str(out: &mut Vec<Finding>, path: &dyn Fn() -> String, s: &str) {
    if !is_uuid(s) {
        out.push(Finding::new(
            path(),
            "uuid",
            format!("{s:?} is not a uuid (expected 8-4-4-4-12 hexadecimal digits)"),
        ));
    }
}

/// RFC 8141 URN syntax: `urn:<NID>:<NSS>`, NID 2–32 letters, digits or hyphens (not at either
/// end), NSS non-empty without whitespace.
pub(crate) fn is_urn(s: &str) -> bool {
    let mut parts = s.splitn(3, ':');
    let (Some(scheme), Some(nid), Some(nss)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("urn")
        && (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nid.ends_with('-')
        && !nss.is_empty()
        && !nss.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_urn(out: &mut Vec<Finding>, path: &dyn Fn() -> String, s: &str) {
    // A value without the `urn:` prefix is already reported by the schema pattern.
    let prefixed = s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if prefixed && !is_urn(s) {
        out.push(Finding::new(
            path(),
            "urn",
            format!("{s:?} is not a valid urn (expected urn:<namespace>:<specific-string>)"),
        ));
    }
}

fn check_datetime(out: &mut Vec<Finding>, v: &Value, ptr: &str) -> Option<DateTime<FixedOffset>> {
    let s = lookup(v, ptr)?.as_str()?;
    let parsed = parse_datetime(s);
    if parsed.is_none() {
        out.push(Finding::new(
            ptr,
            "datetime",
            format!("{s:?} is not an rfc 3339 datetime (e.g. 2025-04-24T12:13:44Z)"),
        ));
    }
    parsed
}

/// A URI needs a scheme (RFC 3986 `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`) and no
/// whitespace; deeper checks would reject URIs partners legitimately use.
fn check_uri(out: &mut Vec<Finding>, v: &Value, ptr: &str) {
    let Some(s) = lookup(v, ptr).and_then(Value::as_str) else {
        return;
    };
    let ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    }) && !s.chars().any(char::is_whitespace);
    if !ok {
        out.push(Finding::new(
            ptr,
            "uri",
            format!("{s:?} is not an absolute uri"),
        ));
    }
}

/// Checks the decimal `value` (found at the pointer `ptr` builds, only when there is a finding).
fn check_decimal(out: &mut Vec<Finding>, value: &Value, ptr: impl Fn() -> String, range: Range) {
    let Some(s) = value.as_str() else {
        return;
    };
    if !is_decimal_text(s) {
        out.push(Finding::new(
            ptr(),
            "decimal-format",
            format!(
                "{s:?} is not a pact decimal (digits with optional sign and fraction, no exponent)"
            ),
        ));
        return;
    }
    let Some(d) = parse_decimal(s) else {
        out.push(Finding::new(
            ptr(),
            "decimal-range",
            format!("{s:?} exceeds the supported 28 significant digits"),
        ));
        return;
    };
    let zero = rust_decimal::Decimal::ZERO;
    let (ok, rule, want) = match range {
        Range::Any => (true, "sign", ""),
        Range::Positive => (d > zero, "sign", "must be greater than 0"),
        Range::NonNegative => (d >= zero, "sign", "must be 0 or greater"),
        Range::NonPositive => (d <= zero, "sign", "must be 0 or less"),
        Range::Percent => (
            d >= zero && d <= rust_decimal::Decimal::ONE_HUNDRED,
            "percent-range",
            "must be between 0 and 100",
        ),
        Range::Dqr => (
            d >= rust_decimal::Decimal::ONE && d <= rust_decimal::Decimal::from(5),
            "dqr-range",
            "must be between 1 and 5",
        ),
    };
    if !ok {
        out.push(Finding::new(ptr(), rule, format!("{want}, found {s}")));
    }
}

/// `pcfIncludingBiogenicUptake = pcfExcludingBiogenicUptake + biogenicCO2Uptake`, within the
/// rounding of the stated value: the stated value may differ from the exact sum by at most half
/// a unit in its own last decimal place (0.384 + (−1.61) = −1.226 may be stated as −1.23 or
/// −1.2, not as −1.24). The tolerance is inclusive, so either midpoint convention passes.
fn check_biogenic_sum(out: &mut Vec<Finding>, pcf: &Map<String, Value>) {
    let get = |k: &str| pcf.get(k).and_then(Value::as_str);
    let (Some(excl_s), Some(incl_s), Some(up_s)) = (
        get("pcfExcludingBiogenicUptake"),
        get("pcfIncludingBiogenicUptake"),
        get("biogenicCO2Uptake"),
    ) else {
        return;
    };
    let (Some(excl), Some(incl), Some(up)) = (
        parse_decimal(excl_s),
        parse_decimal(incl_s),
        parse_decimal(up_s),
    ) else {
        return;
    };
    let Some(exact) = excl.checked_add(up) else {
        return;
    };
    let half_ulp = rust_decimal::Decimal::new(5, incl.scale() + 1);
    if (incl - exact).abs() > half_ulp {
        out.push(Finding::new(
            "/pcf/pcfIncludingBiogenicUptake",
            "biogenic-sum",
            format!(
                "must equal pcfExcludingBiogenicUptake + biogenicCO2Uptake ({excl_s} + {up_s} = {exact}) to the stated precision, found {incl_s}"
            ),
        ));
    }
}

/// The parts PACT sums into `pcfExcludingBiogenicUptake` (its `x-note`); the last three are
/// removals and capture (0 or less).
const PCF_PARTS: [&str; 7] = [
    "fossilGhgEmissions",
    "landUseChangeGhgEmissions",
    "landManagementBiogenicCO2Emissions",
    "biogenicNonCO2Emissions",
    "landManagementBiogenicCO2Removals",
    "technologicalCO2Removals",
    "ccsTechnologicalCO2Capture",
];

/// `pcfExcludingBiogenicUptake = fossilGhgEmissions + landUseChangeGhgEmissions +
/// landManagementBiogenicCO2Emissions + landManagementBiogenicCO2Removals +
/// technologicalCO2Removals + ccsTechnologicalCO2Capture + biogenicNonCO2Emissions`.
///
/// Emission parts that are not stated may add to the total (PACT: blank if unknown; the
/// wbcsd bioethanol example states 0.384 over parts adding to 0.356), so only the lower
/// bound is checked: the total may not be below the sum of the parts that are stated. Only
/// a removal can take it lower, and PACT counts a removal only when it is reported, so an
/// unstated removal counts as none: a negative total with no removals stated (a composed
/// footprint of a negative amount, say) is refused. The tolerance is half a unit in the
/// last stated place of every non-zero term, inclusive, as for the biogenic sum.
fn check_pcf_parts(out: &mut Vec<Finding>, pcf: &Map<String, Value>) {
    let Some(total_s) = pcf
        .get("pcfExcludingBiogenicUptake")
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(total) = parse_decimal(total_s) else {
        return;
    };
    // A stated 0 is exact (not applicable), not a rounded value.
    let half_ulp = |d: rust_decimal::Decimal| {
        if d.is_zero() {
            rust_decimal::Decimal::ZERO
        } else {
            rust_decimal::Decimal::new(5, d.scale() + 1)
        }
    };
    let mut sum = rust_decimal::Decimal::ZERO;
    let mut tolerance = half_ulp(total);
    let mut stated = Vec::new();
    for part in PCF_PARTS {
        let Some(text) = pcf.get(part).and_then(Value::as_str) else {
            continue;
        };
        // A malformed part is reported by the decimal checks.
        let Some(value) = parse_decimal(text) else {
            return;
        };
        let (Some(s), Some(t)) = (
            sum.checked_add(value),
            tolerance.checked_add(half_ulp(value)),
        ) else {
            return;
        };
        sum = s;
        tolerance = t;
        stated.push(format!("{part} {text}"));
    }
    if stated.is_empty() || total + tolerance >= sum {
        return;
    }
    out.push(Finding::new(
        "/pcf/pcfExcludingBiogenicUptake",
        "pcf-parts",
        format!(
            "must be at least the sum of its stated parts ({} = {sum}), found {total_s}; a lower total needs its removals reported (landManagementBiogenicCO2Removals, technologicalCO2Removals, ccsTechnologicalCO2Capture)",
            stated.join(" + ")
        ),
    ));
}

/// Validity within `[referencePeriodEnd, referencePeriodEnd + 3 years]`, start before end;
/// unset ends default to the window's ends.
fn check_validity(
    out: &mut Vec<Finding>,
    v: &Value,
    ref_end: DateTime<FixedOffset>,
    start: Option<DateTime<FixedOffset>>,
    end: Option<DateTime<FixedOffset>>,
) {
    let Some(limit) = plus_three_years(ref_end) else {
        return;
    };
    let start_given = v.get("validityPeriodStart").is_some();
    let end_given = v.get("validityPeriodEnd").is_some();
    if let Some(s) = start
        && s < ref_end
    {
        out.push(Finding::new(
            "/validityPeriodStart",
            "validity-period",
            format!(
                "validity period start {} is before referencePeriodEnd {}",
                fmt_dt(s),
                fmt_dt(ref_end)
            ),
        ));
    }
    if let Some(e) = end
        && e > limit
    {
        out.push(Finding::new(
            "/validityPeriodEnd",
            "validity-period",
            format!(
                "validity period end {} is after referencePeriodEnd + 3 years ({})",
                fmt_dt(e),
                fmt_dt(limit)
            ),
        ));
    }
    // Compare the effective ends only when the given ones parsed.
    if (start_given && start.is_none()) || (end_given && end.is_none()) {
        return;
    }
    let s = start.unwrap_or(ref_end);
    let e = end.unwrap_or(limit);
    if s >= e {
        let path = if end_given {
            "/validityPeriodEnd"
        } else {
            "/validityPeriodStart"
        };
        out.push(Finding::new(
            path,
            "validity-period",
            format!(
                "validity period end {} is not after its start {}",
                fmt_dt(e),
                fmt_dt(s)
            ),
        ));
    }
}

fn fmt_dt(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
