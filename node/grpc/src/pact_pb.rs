//! Lossless conversions between the PACT model (`tanso_core::pact`) and its protobuf form (`proto::pb`).
//!
//! Enums travel as their exact PACT strings and are checked here; decimals and datetimes travel
//! as their text. Optional PACT arrays (which must be non-empty when present) map to `repeated`
//! fields where empty means undefined, so `model -> pb -> model` is the identity for every
//! footprint that passes validation.

use proto::pb;

use tanso_core::pact::model::{
    CarbonFootprint, Decimal, Dqi, EmissionFactorSource, Extension, ProductFootprint,
    ProductOrSectorSpecificRule, UnknownValue, Verification,
};

/// A protobuf footprint that does not map onto the PACT model.
#[derive(Debug, thiserror::Error)]
pub enum PbError {
    /// A required message field is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// An enum string is not a PACT value.
    #[error("{field}: {source}")]
    Enum {
        field: &'static str,
        #[source]
        source: UnknownValue,
    },
    /// `extensions[i].data_json` is not a JSON object.
    #[error("extensions[{index}].data_json is not a json object: {reason}")]
    ExtensionData { index: usize, reason: String },
}

fn dec(d: &Decimal) -> String {
    d.0.clone()
}

fn opt_dec(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(dec)
}

fn to_dec(s: String) -> Decimal {
    Decimal(s)
}

fn to_opt_dec(s: Option<String>) -> Option<Decimal> {
    s.map(Decimal)
}

/// `None` and `[]` both become an empty `repeated` field.
fn list<T: Clone>(v: &Option<Vec<T>>) -> Vec<T> {
    v.clone().unwrap_or_default()
}

/// An empty `repeated` field becomes `None` (PACT: undefined).
fn opt_list<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

fn parse_enum<T: std::str::FromStr<Err = UnknownValue>>(
    field: &'static str,
    s: &str,
) -> Result<T, PbError> {
    s.parse().map_err(|source| PbError::Enum { field, source })
}

/// The protobuf form of a footprint.
pub fn footprint_to_pb(f: &ProductFootprint) -> pb::ProductFootprint {
    {
        pb::ProductFootprint {
            id: f.id.clone(),
            spec_version: f.spec_version.clone(),
            preceding_pf_ids: list(&f.preceding_pf_ids),
            created: f.created.clone(),
            status: f.status.as_str().to_string(),
            validity_period_start: f.validity_period_start.clone(),
            validity_period_end: f.validity_period_end.clone(),
            company_name: f.company_name.clone(),
            company_ids: f.company_ids.clone(),
            product_description: f.product_description.clone(),
            product_ids: f.product_ids.clone(),
            product_classifications: list(&f.product_classifications),
            product_name_company: f.product_name_company.clone(),
            comment: f.comment.clone(),
            pcf: Some(pcf_to_pb(&f.pcf)),
            extensions: f.extensions.iter().map(extension_to_pb).collect(),
        }
    }
}

/// The footprint a protobuf message carries, checked.
pub fn footprint_from_pb(p: pb::ProductFootprint) -> Result<ProductFootprint, PbError> {
    {
        Ok(ProductFootprint {
            id: p.id,
            spec_version: p.spec_version,
            preceding_pf_ids: opt_list(p.preceding_pf_ids),
            created: p.created,
            status: parse_enum("status", &p.status)?,
            validity_period_start: p.validity_period_start,
            validity_period_end: p.validity_period_end,
            company_name: p.company_name,
            company_ids: p.company_ids,
            product_description: p.product_description,
            product_ids: p.product_ids,
            product_classifications: opt_list(p.product_classifications),
            product_name_company: p.product_name_company,
            comment: p.comment,
            pcf: pcf_from_pb(p.pcf.ok_or(PbError::Missing("pcf"))?)?,
            extensions: p
                .extensions
                .into_iter()
                .enumerate()
                .map(|(i, e)| extension_from_pb(i, e))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn pcf_to_pb(c: &CarbonFootprint) -> pb::CarbonFootprint {
    {
        pb::CarbonFootprint {
            declared_unit_of_measurement: c.declared_unit_of_measurement.as_str().to_string(),
            declared_unit_amount: dec(&c.declared_unit_amount),
            product_mass_per_declared_unit: dec(&c.product_mass_per_declared_unit),
            reference_period_start: c.reference_period_start.clone(),
            reference_period_end: c.reference_period_end.clone(),
            geography_region_or_subregion: c.geography_region_or_subregion.clone(),
            geography_country: c.geography_country.clone(),
            geography_country_subdivision: c.geography_country_subdivision.clone(),
            boundary_processes_description: c.boundary_processes_description.clone(),
            pcf_excluding_biogenic_uptake: dec(&c.pcf_excluding_biogenic_uptake),
            pcf_including_biogenic_uptake: dec(&c.pcf_including_biogenic_uptake),
            fossil_carbon_content: dec(&c.fossil_carbon_content),
            biogenic_carbon_content: opt_dec(&c.biogenic_carbon_content),
            recycled_carbon_content: opt_dec(&c.recycled_carbon_content),
            fossil_ghg_emissions: dec(&c.fossil_ghg_emissions),
            land_use_change_ghg_emissions: opt_dec(&c.land_use_change_ghg_emissions),
            land_carbon_leakage: opt_dec(&c.land_carbon_leakage),
            land_management_fossil_ghg_emissions: opt_dec(&c.land_management_fossil_ghg_emissions),
            land_management_biogenic_co2_emissions: opt_dec(
                &c.land_management_biogenic_co2_emissions,
            ),
            land_management_biogenic_co2_removals: opt_dec(
                &c.land_management_biogenic_co2_removals,
            ),
            biogenic_co2_uptake: opt_dec(&c.biogenic_co2_uptake),
            biogenic_non_co2_emissions: opt_dec(&c.biogenic_non_co2_emissions),
            land_area_occupation: opt_dec(&c.land_area_occupation),
            aircraft_ghg_emissions: opt_dec(&c.aircraft_ghg_emissions),
            packaging_emissions_included: c.packaging_emissions_included,
            packaging_ghg_emissions: opt_dec(&c.packaging_ghg_emissions),
            packaging_biogenic_carbon_content: opt_dec(&c.packaging_biogenic_carbon_content),
            outbound_logistics_ghg_emissions: opt_dec(&c.outbound_logistics_ghg_emissions),
            ccs_technological_co2_capture_included: c.ccs_technological_co2_capture_included,
            ccs_technological_co2_capture: opt_dec(&c.ccs_technological_co2_capture),
            technological_co2_capture_origin: c.technological_co2_capture_origin.clone(),
            technological_co2_removals: opt_dec(&c.technological_co2_removals),
            ccu_carbon_content: opt_dec(&c.ccu_carbon_content),
            ccu_calculation_approach: c.ccu_calculation_approach.map(|a| a.as_str().to_string()),
            ccu_credit_certification: c.ccu_credit_certification.clone(),
            ipcc_characterization_factors: c.ipcc_characterization_factors.clone(),
            cross_sectoral_standards: c.cross_sectoral_standards.clone(),
            product_or_sector_specific_rules: list(&c.product_or_sector_specific_rules)
                .iter()
                .map(|r| pb::ProductOrSectorSpecificRule {
                    operator: r.operator.as_str().to_string(),
                    rule_names: r.rule_names.clone(),
                    other_operator_name: r.other_operator_name.clone(),
                })
                .collect(),
            exempted_emissions_percent: dec(&c.exempted_emissions_percent),
            exempted_emissions_description: c.exempted_emissions_description.clone(),
            allocation_rules_description: c.allocation_rules_description.clone(),
            secondary_emission_factor_sources: list(&c.secondary_emission_factor_sources)
                .into_iter()
                .map(|s| pb::EmissionFactorSource {
                    name: s.name,
                    version: s.version,
                })
                .collect(),
            primary_data_share: opt_dec(&c.primary_data_share),
            dqi: c.dqi.as_ref().map(|d| pb::DataQualityIndicators {
                technological_dqr: dec(&d.technological_dqr),
                geographical_dqr: dec(&d.geographical_dqr),
                temporal_dqr: dec(&d.temporal_dqr),
            }),
            verification: c.verification.as_ref().map(|v| pb::Verification {
                coverage: v.coverage.map(|c| c.as_str().to_string()),
                provider_name: v.provider_name.clone(),
                completed_at: v.completed_at.clone(),
                standard_name: v.standard_name.clone(),
                comments: v.comments.clone(),
            }),
        }
    }
}

fn pcf_from_pb(c: pb::CarbonFootprint) -> Result<CarbonFootprint, PbError> {
    {
        let rules = c
            .product_or_sector_specific_rules
            .into_iter()
            .map(|r| {
                Ok(ProductOrSectorSpecificRule {
                    operator: parse_enum("productOrSectorSpecificRules.operator", &r.operator)?,
                    rule_names: r.rule_names,
                    other_operator_name: r.other_operator_name,
                })
            })
            .collect::<Result<Vec<_>, PbError>>()?;
        let verification = c
            .verification
            .map(|v| {
                Ok::<_, PbError>(Verification {
                    coverage: v
                        .coverage
                        .as_deref()
                        .map(|s| parse_enum("verification.coverage", s))
                        .transpose()?,
                    provider_name: v.provider_name,
                    completed_at: v.completed_at,
                    standard_name: v.standard_name,
                    comments: v.comments,
                })
            })
            .transpose()?;
        Ok(CarbonFootprint {
            declared_unit_of_measurement: parse_enum(
                "declaredUnitOfMeasurement",
                &c.declared_unit_of_measurement,
            )?,
            declared_unit_amount: to_dec(c.declared_unit_amount),
            product_mass_per_declared_unit: to_dec(c.product_mass_per_declared_unit),
            reference_period_start: c.reference_period_start,
            reference_period_end: c.reference_period_end,
            geography_region_or_subregion: c.geography_region_or_subregion,
            geography_country: c.geography_country,
            geography_country_subdivision: c.geography_country_subdivision,
            boundary_processes_description: c.boundary_processes_description,
            pcf_excluding_biogenic_uptake: to_dec(c.pcf_excluding_biogenic_uptake),
            pcf_including_biogenic_uptake: to_dec(c.pcf_including_biogenic_uptake),
            fossil_carbon_content: to_dec(c.fossil_carbon_content),
            biogenic_carbon_content: to_opt_dec(c.biogenic_carbon_content),
            recycled_carbon_content: to_opt_dec(c.recycled_carbon_content),
            fossil_ghg_emissions: to_dec(c.fossil_ghg_emissions),
            land_use_change_ghg_emissions: to_opt_dec(c.land_use_change_ghg_emissions),
            land_carbon_leakage: to_opt_dec(c.land_carbon_leakage),
            land_management_fossil_ghg_emissions: to_opt_dec(
                c.land_management_fossil_ghg_emissions,
            ),
            land_management_biogenic_co2_emissions: to_opt_dec(
                c.land_management_biogenic_co2_emissions,
            ),
            land_management_biogenic_co2_removals: to_opt_dec(
                c.land_management_biogenic_co2_removals,
            ),
            biogenic_co2_uptake: to_opt_dec(c.biogenic_co2_uptake),
            biogenic_non_co2_emissions: to_opt_dec(c.biogenic_non_co2_emissions),
            land_area_occupation: to_opt_dec(c.land_area_occupation),
            aircraft_ghg_emissions: to_opt_dec(c.aircraft_ghg_emissions),
            packaging_emissions_included: c.packaging_emissions_included,
            packaging_ghg_emissions: to_opt_dec(c.packaging_ghg_emissions),
            packaging_biogenic_carbon_content: to_opt_dec(c.packaging_biogenic_carbon_content),
            outbound_logistics_ghg_emissions: to_opt_dec(c.outbound_logistics_ghg_emissions),
            ccs_technological_co2_capture_included: c.ccs_technological_co2_capture_included,
            ccs_technological_co2_capture: to_opt_dec(c.ccs_technological_co2_capture),
            technological_co2_capture_origin: c.technological_co2_capture_origin,
            technological_co2_removals: to_opt_dec(c.technological_co2_removals),
            ccu_carbon_content: to_opt_dec(c.ccu_carbon_content),
            ccu_calculation_approach: c
                .ccu_calculation_approach
                .as_deref()
                .map(|s| parse_enum("ccuCalculationApproach", s))
                .transpose()?,
            ccu_credit_certification: c.ccu_credit_certification,
            ipcc_characterization_factors: c.ipcc_characterization_factors,
            cross_sectoral_standards: c.cross_sectoral_standards,
            product_or_sector_specific_rules: opt_list(rules),
            exempted_emissions_percent: to_dec(c.exempted_emissions_percent),
            exempted_emissions_description: c.exempted_emissions_description,
            allocation_rules_description: c.allocation_rules_description,
            secondary_emission_factor_sources: opt_list(
                c.secondary_emission_factor_sources
                    .into_iter()
                    .map(|s| EmissionFactorSource {
                        name: s.name,
                        version: s.version,
                    })
                    .collect(),
            ),
            primary_data_share: to_opt_dec(c.primary_data_share),
            dqi: c.dqi.map(|d| Dqi {
                technological_dqr: to_dec(d.technological_dqr),
                geographical_dqr: to_dec(d.geographical_dqr),
                temporal_dqr: to_dec(d.temporal_dqr),
            }),
            verification,
        })
    }
}

fn extension_to_pb(e: &Extension) -> pb::Extension {
    {
        pb::Extension {
            spec_version: e.spec_version.clone(),
            data_schema: e.data_schema.clone(),
            documentation: e.documentation.clone(),
            // A Map of JSON values always serialises (string keys, no non-finite floats).
            data_json: serde_json::Value::Object(e.data.clone()).to_string(),
        }
    }
}

fn extension_from_pb(index: usize, e: pb::Extension) -> Result<Extension, PbError> {
    let data = serde_json::from_str(&e.data_json).map_err(|err| PbError::ExtensionData {
        index,
        reason: err.to_string(),
    })?;
    Ok(Extension {
        spec_version: e.spec_version,
        data_schema: e.data_schema,
        documentation: e.documentation,
        data,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tanso_model::pact::fixtures::{fp, maximal_json, set, v2_data};
    use tanso_model::pact::{ProductFootprint, Status, v2};

    use super::{footprint_from_pb, footprint_to_pb};

    fn pb_round_trip(fp: &ProductFootprint) {
        use prost::Message;
        let msg = footprint_to_pb(fp);
        let bytes = msg.encode_to_vec();
        let decoded = proto::pb::ProductFootprint::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, msg);
        let back = footprint_from_pb(decoded).unwrap();
        assert_eq!(&back, fp);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(fp).unwrap()
        );
    }

    #[test]
    fn pb_round_trip_examples_and_maximal() {
        pb_round_trip(&fp());
        pb_round_trip(&serde_json::from_value(maximal_json()).unwrap());
        let (mut v3, _) = v2::convert(&v2_data());
        set(&mut v3, "/pcf/productMassPerDeclaredUnit", json!("0.789"));
        set(&mut v3, "/pcf/pcfIncludingBiogenicUptake", json!("1.63"));
        pb_round_trip(&serde_json::from_value(v3).unwrap());
    }

    #[test]
    fn pb_round_trip_every_enum_value() {
        use tanso_model::pact::{
            CcuCalculationApproach, DeclaredUnit, RuleOperator, VerificationCoverage,
        };
        let base: ProductFootprint = serde_json::from_value(maximal_json()).unwrap();
        for (i, unit) in DeclaredUnit::ALL.iter().enumerate() {
            let mut fp = base.clone();
            fp.pcf.declared_unit_of_measurement = *unit;
            fp.status = Status::ALL[i % 2];
            fp.pcf.ccu_calculation_approach = Some(CcuCalculationApproach::ALL[i % 2]);
            let rules = fp.pcf.product_or_sector_specific_rules.as_mut().unwrap();
            rules[0].operator = RuleOperator::ALL[i % 3];
            fp.pcf.verification.as_mut().unwrap().coverage = Some(VerificationCoverage::ALL[i % 3]);
            pb_round_trip(&fp);
        }
    }

    #[test]
    fn pb_rejects_unknown_enum_and_bad_extension() {
        let mut msg = footprint_to_pb(&fp());
        msg.pcf.as_mut().unwrap().declared_unit_of_measurement = "gram".into();
        let err = footprint_from_pb(msg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "declaredUnitOfMeasurement: \"gram\" is not a valid DeclaredUnit"
        );
        let mut msg = footprint_to_pb(&serde_json::from_value(maximal_json()).unwrap());
        msg.extensions[0].data_json = "[1]".into();
        let err = footprint_from_pb(msg).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("extensions[0].data_json is not a json object"),
            "{err}"
        );
        let mut msg = footprint_to_pb(&fp());
        msg.pcf = None;
        assert_eq!(
            footprint_from_pb(msg).unwrap_err().to_string(),
            "pcf is missing"
        );
    }
}
