//! Mapping to and from the Catena-X CBAM aspect model, `urn:samm:io.catenax.cbam:1.0.0#Cbam`
//! (eclipse-tractusx/sldt-semantic-models, `io.catenax.cbam/1.0.0`, the model of the CBAM
//! KIT 1.0), as far as the model carries what a record holds.
//!
//! One record becomes one `good` (CN code) with one `operator`, one `installation` and one
//! `emissionsRecords` entry: activity data (period, net mass), direct and indirect specific
//! embedded emissions, the electricity factor and its source, and the carbon prices paid.
//! The model has no place for precursors, qualifying parameters, the actual/default flag or
//! the method and source of the direct figure: those are lost on the way out, and a record
//! read back from the model has empty precursors and marks its figures as actual with the
//! source `Catena-X CBAM 1.0.0 aspect`. Countries are alpha-3 in the model
//! (`data/iso3166-alpha3.csv`).

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::CbamError;
use crate::cn::CnCode;
use crate::record::{
    CarbonPrice, CbamRecord, Coordinates, Country, ElectricityUse, Figure, Installation, Operator,
    Period, RECORD_VERSION, UnLocode, ValueKind, record_id,
};
use crate::units::{MwhPerTonne, TCo2ePerMwh, TCo2ePerTonne, Tonnes};

/// The aspect model followed.
pub const MODEL: &str = "urn:samm:io.catenax.cbam:1.0.0#Cbam";

const ALPHA3_CSV: &str = include_str!("../data/iso3166-alpha3.csv");

fn alpha3_table() -> &'static HashMap<String, String> {
    static T: OnceLock<HashMap<String, String>> = OnceLock::new();
    T.get_or_init(|| {
        ALPHA3_CSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("alpha2"))
            .filter_map(|l| l.split_once(','))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    })
}

fn alpha3(c: &Country) -> Result<String, CbamError> {
    alpha3_table()
        .get(c.as_str())
        .cloned()
        .ok_or_else(|| CbamError::Invalid {
            field: "country".into(),
            value: c.to_string(),
            reason: "not an ISO 3166-1 country".into(),
        })
}

fn alpha2(code: &str) -> Result<Country, CbamError> {
    let found = alpha3_table()
        .iter()
        .find(|(_, a3)| a3.as_str() == code)
        .map(|(a2, _)| a2.clone())
        .ok_or_else(|| CbamError::Invalid {
            field: "countryCode".into(),
            value: code.chars().take(10).collect(),
            reason: "not an ISO 3166-1 alpha-3 code".into(),
        })?;
    Country::parse(&found)
}

/// The aspect (the subset tanso reads and writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cbam {
    pub good: Vec<Good>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Good {
    pub cn_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_description: Option<String>,
    pub operator: Vec<OperatorEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorEntry {
    pub operator_identification: OperatorIdentification,
    pub installation: Vec<InstallationEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorIdentification {
    pub operator_name: String,
    #[serde(default)]
    pub operator_ids: OperatorIds,
    pub address: OperatorAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_contact_email_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_cbam_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorAddress {
    pub country_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationEntry {
    pub installation_identification: InstallationIdentification,
    pub emissions_records: Vec<EmissionsRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationIdentification {
    pub installation_name: String,
    #[serde(default)]
    pub installation_ids: InstallationIds,
    pub address: InstallationAddress,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_cbam_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationAddress {
    pub country: String,
    /// Required by the model; tanso has no city and writes the installation's name.
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub un_lo_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<serde_json::Number>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmissionsRecord {
    pub activity_data: ActivityData,
    pub direct_emissions: DirectEmissions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirect_emissions: Option<IndirectEmissions>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carbon_price_paid: Vec<CarbonPricePaid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_method: Option<ProductionMethod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityData {
    pub reference_period_start: String,
    pub reference_period_end: String,
    pub net_mass: serde_json::Number,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectEmissions {
    pub specific_embedded_emissions_direct: serde_json::Number,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndirectEmissions {
    pub specific_embedded_emissions_indirect: serde_json::Number,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electricity_consumed_mwh_per_tonnes_good: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emission_factor_tonnes_co2_per_mwh: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_of_emission_factor_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarbonPricePaid {
    pub amount_of_carbon_price_paid: serde_json::Number,
    pub currency: String,
    pub country_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_and_indication_of_legal_act: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionMethod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
}

/// A decimal as a JSON number with the same digits (serde_json's arbitrary precision is not
/// enabled, so the number is parsed from the decimal's text).
fn number(d: Decimal) -> Result<serde_json::Number, CbamError> {
    serde_json::from_str::<serde_json::Number>(&d.normalize().to_string()).map_err(|e| {
        CbamError::Invalid {
            field: "number".into(),
            value: d.to_string(),
            reason: e.to_string(),
        }
    })
}

fn decimal(field: &str, n: &serde_json::Number) -> Result<Decimal, CbamError> {
    let text = n.to_string();
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| CbamError::Invalid {
            field: field.into(),
            value: text,
            reason: "not a decimal number".into(),
        })
}

/// The records as one Catena-X CBAM aspect (a good per record).
pub fn to_catenax(records: &[CbamRecord]) -> Result<Cbam, CbamError> {
    let mut good = Vec::new();
    for r in records {
        let inst = &r.installation;
        let carbon_price_paid = r
            .carbon_prices
            .iter()
            .map(|c| {
                Ok(CarbonPricePaid {
                    // The model's amount is per consignment; a record's is per tonne produced:
                    // the amount for the record's quantity.
                    amount_of_carbon_price_paid: number(c.net_per_tonne() * r.quantity_produced.0)?,
                    currency: c.currency.clone(),
                    country_code: alpha3(&c.country)?,
                    description_and_indication_of_legal_act: Some(c.legal_act.clone()),
                })
            })
            .collect::<Result<Vec<_>, CbamError>>()?;
        good.push(Good {
            cn_code: r.cn_code.to_string(),
            product_description: None,
            operator: vec![OperatorEntry {
                operator_identification: OperatorIdentification {
                    operator_name: inst.operator.name.clone(),
                    operator_ids: OperatorIds {
                        operator_cbam_id: inst.operator.operator_id.clone(),
                    },
                    address: OperatorAddress {
                        country_code: alpha3(&inst.operator.country)?,
                    },
                    operator_contact_email_address: inst.operator.contact_email.clone(),
                },
                installation: vec![InstallationEntry {
                    installation_identification: InstallationIdentification {
                        installation_name: inst.name.clone(),
                        installation_ids: InstallationIds {
                            installation_cbam_id: inst.installation_id.clone(),
                        },
                        address: InstallationAddress {
                            country: alpha3(&inst.country)?,
                            city: inst.name.clone(),
                            un_lo_code: inst.unlocode.as_ref().map(|u| u.as_str().to_string()),
                            latitude: inst
                                .coordinates
                                .as_ref()
                                .map(|c| number(c.latitude))
                                .transpose()?,
                            longitude: inst
                                .coordinates
                                .as_ref()
                                .map(|c| number(c.longitude))
                                .transpose()?,
                        },
                    },
                    emissions_records: vec![EmissionsRecord {
                        activity_data: ActivityData {
                            reference_period_start: format!("{}T00:00:00Z", r.period.start),
                            reference_period_end: format!("{}T23:59:59Z", r.period.end),
                            net_mass: number(r.quantity_produced.0)?,
                        },
                        direct_emissions: DirectEmissions {
                            specific_embedded_emissions_direct: number(r.direct.value.0)?,
                            additional_information: Some(format!(
                                "{} ({}); {}",
                                r.direct.method,
                                r.direct.kind.as_str(),
                                r.record_id
                            )),
                        },
                        indirect_emissions: Some(IndirectEmissions {
                            specific_embedded_emissions_indirect: number(r.indirect.value.0)?,
                            electricity_consumed_mwh_per_tonnes_good: r
                                .electricity
                                .as_ref()
                                .map(|e| number(e.consumed.0))
                                .transpose()?,
                            emission_factor_tonnes_co2_per_mwh: r
                                .electricity
                                .as_ref()
                                .map(|e| number(e.factor.0))
                                .transpose()?,
                            source_of_emission_factor_value: r
                                .electricity
                                .as_ref()
                                .map(|e| e.factor_source.clone()),
                        }),
                        carbon_price_paid,
                        production_method: Some(ProductionMethod {
                            additional_information: Some(match &r.route {
                                Some(route) => format!("{} ({route})", r.process),
                                None => r.process.clone(),
                            }),
                        }),
                    }],
                }],
            }],
        });
    }
    Ok(Cbam { good })
}

/// Records from a Catena-X CBAM aspect, each validated; what the model lacks is filled as
/// the module documentation says.
pub fn from_catenax(aspect: &Cbam) -> Result<Vec<CbamRecord>, CbamError> {
    const SOURCE: &str = "Catena-X CBAM 1.0.0 aspect";
    let mut out = Vec::new();
    for g in &aspect.good {
        let cn_code = CnCode::parse(&g.cn_code)?;
        let category = cn_code.category()?;
        for op in &g.operator {
            let oi = &op.operator_identification;
            for inst in &op.installation {
                let ii = &inst.installation_identification;
                let coordinates = match (&ii.address.latitude, &ii.address.longitude) {
                    (Some(la), Some(lo)) => Some(Coordinates {
                        latitude: decimal("latitude", la)?,
                        longitude: decimal("longitude", lo)?,
                    }),
                    _ => None,
                };
                let installation = Installation {
                    operator: Operator {
                        name: oi.operator_name.clone(),
                        operator_id: oi.operator_ids.operator_cbam_id.clone(),
                        country: alpha2(&oi.address.country_code)?,
                        contact_email: oi.operator_contact_email_address.clone(),
                    },
                    installation_id: ii.installation_ids.installation_cbam_id.clone(),
                    name: ii.installation_name.clone(),
                    country: alpha2(&ii.address.country)?,
                    unlocode: ii
                        .address
                        .un_lo_code
                        .as_deref()
                        .map(UnLocode::parse)
                        .transpose()?,
                    coordinates,
                };
                for e in &inst.emissions_records {
                    let day = |s: &str, field: &str| {
                        NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").map_err(
                            |_| CbamError::Invalid {
                                field: field.into(),
                                value: s.chars().take(40).collect(),
                                reason: "not a date-time".into(),
                            },
                        )
                    };
                    let period = Period {
                        start: day(
                            &e.activity_data.reference_period_start,
                            "referencePeriodStart",
                        )?,
                        end: day(&e.activity_data.reference_period_end, "referencePeriodEnd")?,
                    };
                    let quantity = decimal("netMass", &e.activity_data.net_mass)?;
                    let fig = |v: Decimal, method: &str| Figure {
                        value: TCo2ePerTonne(v),
                        kind: ValueKind::Actual,
                        method: method.into(),
                        source: SOURCE.into(),
                    };
                    let ind = e.indirect_emissions.as_ref();
                    let electricity = match ind.and_then(|i| {
                        i.electricity_consumed_mwh_per_tonnes_good
                            .as_ref()
                            .zip(i.emission_factor_tonnes_co2_per_mwh.as_ref())
                    }) {
                        Some((c, f)) => Some(ElectricityUse {
                            consumed: MwhPerTonne(decimal("electricityConsumed", c)?),
                            factor: TCo2ePerMwh(decimal("emissionFactor", f)?),
                            factor_source: ind
                                .and_then(|i| i.source_of_emission_factor_value.clone())
                                .unwrap_or_else(|| SOURCE.into()),
                            kind: ValueKind::Actual,
                        }),
                        None => None,
                    };
                    let carbon_prices = e
                        .carbon_price_paid
                        .iter()
                        .map(|c| {
                            let total =
                                decimal("amountOfCarbonPricePaid", &c.amount_of_carbon_price_paid)?;
                            Ok(CarbonPrice {
                                instrument: "as stated in the Catena-X aspect".into(),
                                legal_act: c
                                    .description_and_indication_of_legal_act
                                    .clone()
                                    .unwrap_or_default(),
                                country: alpha2(&c.country_code)?,
                                currency: c.currency.clone(),
                                amount_per_tonne: if quantity.is_zero() {
                                    Decimal::ZERO
                                } else {
                                    total / quantity
                                },
                                rebate_per_tonne: Decimal::ZERO,
                            })
                        })
                        .collect::<Result<Vec<_>, CbamError>>()?;
                    let record = CbamRecord {
                        version: RECORD_VERSION.into(),
                        record_id: record_id(&installation, &cn_code, &period),
                        installation: installation.clone(),
                        period,
                        cn_code: cn_code.clone(),
                        category,
                        process: e
                            .production_method
                            .as_ref()
                            .and_then(|p| p.additional_information.clone())
                            .unwrap_or_else(|| "unnamed".into()),
                        route: None,
                        quantity_produced: Tonnes(quantity),
                        direct: fig(
                            decimal(
                                "specificEmbeddedEmissionsDirect",
                                &e.direct_emissions.specific_embedded_emissions_direct,
                            )?,
                            "as communicated in the Catena-X aspect",
                        ),
                        indirect: fig(
                            match ind {
                                Some(i) => decimal(
                                    "specificEmbeddedEmissionsIndirect",
                                    &i.specific_embedded_emissions_indirect,
                                )?,
                                None => Decimal::ZERO,
                            },
                            "as communicated in the Catena-X aspect",
                        ),
                        indirect_counted: !category.direct_only(),
                        electricity,
                        precursors: Vec::new(),
                        qualifying: None,
                        carbon_prices,
                        footprint_id: None,
                        basis: crate::calc::BASIS.into(),
                        rounding: format!(
                            "{}, {} decimal places",
                            tanso_model::rounding::RULE,
                            crate::record::SEE_DP
                        ),
                    };
                    record.validate()?;
                    out.push(record);
                }
            }
        }
    }
    Ok(out)
}
