//! Typed PACT v3.0.3 data model with the exact PACT JSON field names.
//!
//! Design rules, all chosen so that `model -> JSON -> model -> JSON` is lossless and byte-stable
//! (owners sign the JCS form of `serde_json::to_value(&footprint)` and receivers re-derive it):
//! - every fractional number is a [`Decimal`] holding the decimal text as given, never a float;
//! - datetimes, ids and URNs are kept as the strings given (they are checked by
//!   [`crate::pact::validate`]); re-formatting them would change the signed bytes;
//! - optional fields are omitted when undefined (PACT treats absent and `null` alike);
//! - unknown fields are dropped by the typed model; [`crate::pact::import`] reports each one.

use std::fmt;

use chrono::{DateTime, FixedOffset, Months, Utc};
use serde::{Deserialize, Serialize};

/// The PACT specification version this model implements.
pub const SPEC_VERSION: &str = "3.0.3";

/// A PACT decimal: the exact decimal text (`^[+-]?\d+(\.\d+)?$`), serialised as a JSON string.
///
/// Kept as text so values survive storage, protobuf and signing unchanged; use
/// [`Decimal::to_exact`] for arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Decimal(pub String);

impl Decimal {
    /// Wraps decimal text without checking it (validation reports malformed values).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The decimal text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact value, or `None` when the text is not a PACT decimal or exceeds 28 digits.
    pub fn to_exact(&self) -> Option<rust_decimal::Decimal> {
        parse_decimal(&self.0)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` matches the PACT decimal pattern `^[+-]?\d+(\.\d+)?$`.
pub fn is_decimal_text(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// Parses PACT decimal text exactly; `None` if malformed or out of `rust_decimal` range.
pub fn parse_decimal(text: &str) -> Option<rust_decimal::Decimal> {
    if !is_decimal_text(text) {
        return None;
    }
    // rust_decimal rejects a leading '+'.
    let text = text.strip_prefix('+').unwrap_or(text);
    rust_decimal::Decimal::from_str_exact(text).ok()
}

/// Parses a PACT datetime. PACT says "ISO 8601"; we accept its RFC 3339 profile
/// (`2025-04-24T12:13:44Z`, offsets and fractions allowed), which every example uses.
pub fn parse_datetime(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

/// End of the default validity window: `reference_period_end + 3 years`.
pub fn plus_three_years<Tz: chrono::TimeZone>(t: DateTime<Tz>) -> Option<DateTime<Tz>> {
    t.checked_add_months(Months::new(36))
}

/// Defines a closed string enum with its exact wire spellings (the PACT enums here, and the
/// node's statuses and decisions elsewhere in the model, so stored text stays as it was).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::pact::model::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::pact::model::UnknownValue {
                        kind: stringify!($name),
                        value: s.to_string(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// A string that is not one of a PACT enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct UnknownValue {
    /// Name of the enum type.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

string_enum! {
    /// Lifecycle status; the only allowed mutation is `Active -> Deprecated`.
    Status { Active => "Active", Deprecated => "Deprecated" }
}

string_enum! {
    /// `declaredUnitOfMeasurement`, the ten v3 units.
    DeclaredUnit {
        Liter => "liter",
        Kilogram => "kilogram",
        CubicMeter => "cubic meter",
        KilowattHour => "kilowatt hour",
        Megajoule => "megajoule",
        TonKilometer => "ton kilometer",
        SquareMeter => "square meter",
        Piece => "piece",
        Hour => "hour",
        MegabitSecond => "megabit second",
    }
}

string_enum! {
    /// `ccuCalculationApproach`.
    CcuCalculationApproach { CutOff => "Cut-off", Credit => "Credit" }
}

string_enum! {
    /// `productOrSectorSpecificRules[].operator`.
    RuleOperator { Pef => "PEF", EpdInternational => "EPD International", Other => "Other" }
}

string_enum! {
    /// `verification.coverage`.
    VerificationCoverage {
        PcfCalculationModel => "PCF calculation model",
        PcfProgram => "PCF program",
        ProductLevel => "product level",
    }
}

/// The 22 UN M49 regions and subregions allowed in `geographyRegionOrSubregion`.
///
/// Kept as a list rather than an enum: the field stays a String in the model (open to spec
/// additions) and the validator checks it against this list via the OpenAPI schema.
pub const REGIONS_OR_SUBREGIONS: &[&str] = &[
    "Africa",
    "Americas",
    "Asia",
    "Europe",
    "Oceania",
    "Australia and New Zealand",
    "Central Asia",
    "Eastern Asia",
    "Eastern Europe",
    "Latin America and the Caribbean",
    "Melanesia",
    "Micronesia",
    "Northern Africa",
    "Northern America",
    "Northern Europe",
    "Polynesia",
    "South-eastern Asia",
    "Southern Asia",
    "Southern Europe",
    "Sub-Saharan Africa",
    "Western Asia",
    "Western Europe",
];

/// PACT `ProductFootprint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFootprint {
    /// uuid, new for every change.
    pub id: String,
    pub spec_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preceding_pf_ids: Option<Vec<String>>,
    pub created: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period_end: Option<String>,
    pub company_name: String,
    pub company_ids: Vec<String>,
    pub product_description: String,
    pub product_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_classifications: Option<Vec<String>>,
    pub product_name_company: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub pcf: CarbonFootprint,
    /// Empty and absent mean the same (no extensions); an empty list is not serialised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
}

impl ProductFootprint {
    /// The validity window PACT filters use: the stated period, or
    /// `[referencePeriodEnd, referencePeriodEnd + 3y]` for the parts that are unset.
    /// `None` when a needed datetime does not parse (validation reports that).
    pub fn effective_validity(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let ref_end = parse_datetime(&self.pcf.reference_period_end)?.with_timezone(&Utc);
        let start = match &self.validity_period_start {
            Some(s) => parse_datetime(s)?.with_timezone(&Utc),
            None => ref_end,
        };
        let end = match &self.validity_period_end {
            Some(s) => parse_datetime(s)?.with_timezone(&Utc),
            None => plus_three_years(ref_end)?,
        };
        Some((start, end))
    }
}

/// PACT `CarbonFootprint`; values are per declared unit, emissions in kgCO2e, contents in kgC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarbonFootprint {
    pub declared_unit_of_measurement: DeclaredUnit,
    pub declared_unit_amount: Decimal,
    pub product_mass_per_declared_unit: Decimal,
    pub reference_period_start: String,
    pub reference_period_end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geography_region_or_subregion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geography_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geography_country_subdivision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_processes_description: Option<String>,
    pub pcf_excluding_biogenic_uptake: Decimal,
    pub pcf_including_biogenic_uptake: Decimal,
    pub fossil_carbon_content: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biogenic_carbon_content: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycled_carbon_content: Option<Decimal>,
    pub fossil_ghg_emissions: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_use_change_ghg_emissions: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_carbon_leakage: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_management_fossil_ghg_emissions: Option<Decimal>,
    #[serde(
        rename = "landManagementBiogenicCO2Emissions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub land_management_biogenic_co2_emissions: Option<Decimal>,
    #[serde(
        rename = "landManagementBiogenicCO2Removals",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub land_management_biogenic_co2_removals: Option<Decimal>,
    #[serde(
        rename = "biogenicCO2Uptake",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub biogenic_co2_uptake: Option<Decimal>,
    #[serde(
        rename = "biogenicNonCO2Emissions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub biogenic_non_co2_emissions: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_area_occupation: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aircraft_ghg_emissions: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaging_emissions_included: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaging_ghg_emissions: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaging_biogenic_carbon_content: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_logistics_ghg_emissions: Option<Decimal>,
    #[serde(
        rename = "ccsTechnologicalCO2CaptureIncluded",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ccs_technological_co2_capture_included: Option<bool>,
    #[serde(
        rename = "ccsTechnologicalCO2Capture",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ccs_technological_co2_capture: Option<Decimal>,
    #[serde(
        rename = "technologicalCO2CaptureOrigin",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub technological_co2_capture_origin: Option<String>,
    #[serde(
        rename = "technologicalCO2Removals",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub technological_co2_removals: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccu_carbon_content: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccu_calculation_approach: Option<CcuCalculationApproach>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccu_credit_certification: Option<String>,
    pub ipcc_characterization_factors: Vec<String>,
    /// Open list: unknown standards must be accepted, so plain strings.
    pub cross_sectoral_standards: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_or_sector_specific_rules: Option<Vec<ProductOrSectorSpecificRule>>,
    pub exempted_emissions_percent: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempted_emissions_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_rules_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_emission_factor_sources: Option<Vec<EmissionFactorSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_data_share: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dqi: Option<Dqi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// PACT `DataQualityIndicators`: data quality ratings in [1, 5].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dqi {
    #[serde(rename = "technologicalDQR")]
    pub technological_dqr: Decimal,
    #[serde(rename = "geographicalDQR")]
    pub geographical_dqr: Decimal,
    #[serde(rename = "temporalDQR")]
    pub temporal_dqr: Decimal,
}

/// PACT `Verification` (replaces v2 `assurance`); every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<VerificationCoverage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
}

/// PACT `ProductOrSectorSpecificRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOrSectorSpecificRule {
    pub operator: RuleOperator,
    pub rule_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_operator_name: Option<String>,
}

/// PACT `EmissionFactorSource` (a secondary database such as ecoinvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmissionFactorSource {
    pub name: String,
    pub version: String,
}

/// PACT `DataModelExtension`; `data` is an arbitrary JSON object described by `dataSchema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub spec_version: String,
    pub data_schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    pub data: serde_json::Map<String, serde_json::Value>,
}
