//! The PACT v3 figures a composed footprint carries from its inputs, input by input.
//!
//! Every figure here is per declared unit and adds up through a bill of materials: an input
//! contributes its figure × (amount ÷ its declared unit amount). Absent means not stated
//! (PACT: "blank if unknown"), except for removals, which PACT counts only when they are
//! reported: an input that states none has none (see [`Figure::absent_is_none`]).

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use tanso_model::pact::model::{self, CarbonFootprint};

/// A decimal of PACT v3.0.3 `CarbonFootprint` that composes by amount.
///
/// Not carried: `packagingGhgEmissions`, `packagingBiogenicCarbonContent` and
/// `outboundLogisticsGhgEmissions` describe the composed product's own packaging and
/// outbound transport (an input's are inside its footprint already); `landAreaOccupation`
/// and the CCU figures are carried like the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Figure {
    #[serde(rename = "pcfExcludingBiogenicUptake")]
    PcfExcludingBiogenicUptake,
    #[serde(rename = "pcfIncludingBiogenicUptake")]
    PcfIncludingBiogenicUptake,
    #[serde(rename = "fossilCarbonContent")]
    FossilCarbonContent,
    #[serde(rename = "biogenicCarbonContent")]
    BiogenicCarbonContent,
    #[serde(rename = "recycledCarbonContent")]
    RecycledCarbonContent,
    #[serde(rename = "fossilGhgEmissions")]
    FossilGhgEmissions,
    #[serde(rename = "landUseChangeGhgEmissions")]
    LandUseChangeGhgEmissions,
    #[serde(rename = "landCarbonLeakage")]
    LandCarbonLeakage,
    #[serde(rename = "landManagementFossilGhgEmissions")]
    LandManagementFossilGhgEmissions,
    #[serde(rename = "landManagementBiogenicCO2Emissions")]
    LandManagementBiogenicCo2Emissions,
    #[serde(rename = "landManagementBiogenicCO2Removals")]
    LandManagementBiogenicCo2Removals,
    #[serde(rename = "biogenicCO2Uptake")]
    BiogenicCo2Uptake,
    #[serde(rename = "biogenicNonCO2Emissions")]
    BiogenicNonCo2Emissions,
    #[serde(rename = "landAreaOccupation")]
    LandAreaOccupation,
    #[serde(rename = "aircraftGhgEmissions")]
    AircraftGhgEmissions,
    #[serde(rename = "ccsTechnologicalCO2Capture")]
    CcsTechnologicalCo2Capture,
    #[serde(rename = "technologicalCO2Removals")]
    TechnologicalCo2Removals,
    #[serde(rename = "ccuCarbonContent")]
    CcuCarbonContent,
}

/// Figures by name; a figure not in the map is not stated.
pub type Figures = BTreeMap<Figure, Decimal>;

impl Figure {
    /// Every figure, in the order of the PACT `CarbonFootprint` table.
    pub const ALL: [Figure; 18] = [
        Figure::PcfExcludingBiogenicUptake,
        Figure::PcfIncludingBiogenicUptake,
        Figure::FossilCarbonContent,
        Figure::BiogenicCarbonContent,
        Figure::RecycledCarbonContent,
        Figure::FossilGhgEmissions,
        Figure::LandUseChangeGhgEmissions,
        Figure::LandCarbonLeakage,
        Figure::LandManagementFossilGhgEmissions,
        Figure::LandManagementBiogenicCo2Emissions,
        Figure::LandManagementBiogenicCo2Removals,
        Figure::BiogenicCo2Uptake,
        Figure::BiogenicNonCo2Emissions,
        Figure::LandAreaOccupation,
        Figure::AircraftGhgEmissions,
        Figure::CcsTechnologicalCo2Capture,
        Figure::TechnologicalCo2Removals,
        Figure::CcuCarbonContent,
    ];

    /// The parts PACT sums into `pcfExcludingBiogenicUptake`.
    pub const PCF_PARTS: [Figure; 7] = [
        Figure::FossilGhgEmissions,
        Figure::LandUseChangeGhgEmissions,
        Figure::LandManagementBiogenicCo2Emissions,
        Figure::LandManagementBiogenicCo2Removals,
        Figure::TechnologicalCo2Removals,
        Figure::CcsTechnologicalCo2Capture,
        Figure::BiogenicNonCo2Emissions,
    ];

    /// The exact PACT JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Figure::PcfExcludingBiogenicUptake => "pcfExcludingBiogenicUptake",
            Figure::PcfIncludingBiogenicUptake => "pcfIncludingBiogenicUptake",
            Figure::FossilCarbonContent => "fossilCarbonContent",
            Figure::BiogenicCarbonContent => "biogenicCarbonContent",
            Figure::RecycledCarbonContent => "recycledCarbonContent",
            Figure::FossilGhgEmissions => "fossilGhgEmissions",
            Figure::LandUseChangeGhgEmissions => "landUseChangeGhgEmissions",
            Figure::LandCarbonLeakage => "landCarbonLeakage",
            Figure::LandManagementFossilGhgEmissions => "landManagementFossilGhgEmissions",
            Figure::LandManagementBiogenicCo2Emissions => "landManagementBiogenicCO2Emissions",
            Figure::LandManagementBiogenicCo2Removals => "landManagementBiogenicCO2Removals",
            Figure::BiogenicCo2Uptake => "biogenicCO2Uptake",
            Figure::BiogenicNonCo2Emissions => "biogenicNonCO2Emissions",
            Figure::LandAreaOccupation => "landAreaOccupation",
            Figure::AircraftGhgEmissions => "aircraftGhgEmissions",
            Figure::CcsTechnologicalCo2Capture => "ccsTechnologicalCO2Capture",
            Figure::TechnologicalCo2Removals => "technologicalCO2Removals",
            Figure::CcuCarbonContent => "ccuCarbonContent",
        }
    }

    /// Required by the PACT schema: a composed footprint without it cannot be published.
    pub fn required(self) -> bool {
        matches!(
            self,
            Figure::PcfExcludingBiogenicUptake
                | Figure::PcfIncludingBiogenicUptake
                | Figure::FossilCarbonContent
                | Figure::FossilGhgEmissions
        )
    }

    /// Removals and CCS capture: PACT counts them only when reported (and the CCS ones
    /// must be undefined when CCS is not included), so an input that states none has none,
    /// and the composed footprint's parts still add up.
    pub fn absent_is_none(self) -> bool {
        matches!(
            self,
            Figure::LandManagementBiogenicCo2Removals
                | Figure::TechnologicalCo2Removals
                | Figure::CcsTechnologicalCo2Capture
        )
    }

    /// Whether PACT requires the figure to be 0 or less (removals, uptake, capture).
    pub fn non_positive(self) -> bool {
        matches!(
            self,
            Figure::LandManagementBiogenicCo2Removals
                | Figure::BiogenicCo2Uptake
                | Figure::TechnologicalCo2Removals
                | Figure::CcsTechnologicalCo2Capture
        )
    }

    /// The figure's text in a PACT `CarbonFootprint`, when stated.
    fn of(self, cf: &CarbonFootprint) -> Option<&model::Decimal> {
        match self {
            Figure::PcfExcludingBiogenicUptake => Some(&cf.pcf_excluding_biogenic_uptake),
            Figure::PcfIncludingBiogenicUptake => Some(&cf.pcf_including_biogenic_uptake),
            Figure::FossilCarbonContent => Some(&cf.fossil_carbon_content),
            Figure::BiogenicCarbonContent => cf.biogenic_carbon_content.as_ref(),
            Figure::RecycledCarbonContent => cf.recycled_carbon_content.as_ref(),
            Figure::FossilGhgEmissions => Some(&cf.fossil_ghg_emissions),
            Figure::LandUseChangeGhgEmissions => cf.land_use_change_ghg_emissions.as_ref(),
            Figure::LandCarbonLeakage => cf.land_carbon_leakage.as_ref(),
            Figure::LandManagementFossilGhgEmissions => {
                cf.land_management_fossil_ghg_emissions.as_ref()
            }
            Figure::LandManagementBiogenicCo2Emissions => {
                cf.land_management_biogenic_co2_emissions.as_ref()
            }
            Figure::LandManagementBiogenicCo2Removals => {
                cf.land_management_biogenic_co2_removals.as_ref()
            }
            Figure::BiogenicCo2Uptake => cf.biogenic_co2_uptake.as_ref(),
            Figure::BiogenicNonCo2Emissions => cf.biogenic_non_co2_emissions.as_ref(),
            Figure::LandAreaOccupation => cf.land_area_occupation.as_ref(),
            Figure::AircraftGhgEmissions => cf.aircraft_ghg_emissions.as_ref(),
            Figure::CcsTechnologicalCo2Capture => cf.ccs_technological_co2_capture.as_ref(),
            Figure::TechnologicalCo2Removals => cf.technological_co2_removals.as_ref(),
            Figure::CcuCarbonContent => cf.ccu_carbon_content.as_ref(),
        }
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every figure a PACT footprint states, exactly.
pub fn of_pact(cf: &CarbonFootprint) -> Figures {
    Figure::ALL
        .iter()
        .filter_map(|f| Some((*f, f.of(cf)?.to_exact()?)))
        .collect()
}

/// The figures of an input whose emissions come from a secondary emission factor or an
/// own measurement (CO2e only): counted as fossil GHG emissions, with every other part of
/// `pcfExcludingBiogenicUptake` and the biogenic uptake 0. `adds_material` is false for
/// processes and transport, which add no carbon content to the product.
pub fn fossil_only(kg: Decimal, adds_material: bool) -> Figures {
    let mut f = Figures::new();
    for part in Figure::PCF_PARTS {
        f.insert(part, Decimal::ZERO);
    }
    f.insert(Figure::FossilGhgEmissions, kg);
    f.insert(Figure::PcfExcludingBiogenicUptake, kg);
    f.insert(Figure::PcfIncludingBiogenicUptake, kg);
    f.insert(Figure::BiogenicCo2Uptake, Decimal::ZERO);
    if !adds_material {
        for content in [
            Figure::FossilCarbonContent,
            Figure::BiogenicCarbonContent,
            Figure::RecycledCarbonContent,
            Figure::CcuCarbonContent,
        ] {
            f.insert(content, Decimal::ZERO);
        }
    }
    f
}

/// `figures` × `scale`.
pub fn scaled(figures: &Figures, scale: Decimal) -> Figures {
    figures.iter().map(|(f, v)| (*f, *v * scale)).collect()
}
