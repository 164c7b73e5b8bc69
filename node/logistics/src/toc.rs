//! Transport and hub operation categories and their intensities.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tanso_calc::scope3::FactorLibrary;
use tanso_calc::scope3::factors::{Factor, Per};
use tanso_calc::scope3::units::{Unit, convert};

use crate::LogisticsError;

/// Transport mode, spelt as iLEAP's `TransportMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    Road,
    Rail,
    Air,
    Sea,
    InlandWaterway,
}

/// Hub type, spelt as iLEAP's `HubType` (GLEC Framework hub categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HubType {
    Transshipment,
    StorageAndTransshipment,
    Warehouse,
    LiquidBulkTerminal,
    MaritimeContainerTerminal,
}

/// ISO 14083 data category of an intensity: primary (measured energy) or secondary
/// (modelled or default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Primary,
    Modelled,
    Default,
}

/// kgCO2e per unit of activity (t·km for a TOC, tonne handled for a HOC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Intensity {
    /// Well-to-wheel: fuel supply (well-to-tank) plus vehicle operation.
    pub wtw: Decimal,
    /// Tank-to-wheel: vehicle operation only.
    pub ttw: Decimal,
}

/// An energy carrier with shipped well-to-tank and tank-to-wheel factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergyCarrier {
    Diesel,
    MarineGasOil,
    MarineFuelOil,
    AviationTurbineFuel,
    /// Grid electricity of a country: all of it is well-to-tank (generation), none tank-to-wheel.
    Electricity,
}

impl EnergyCarrier {
    /// (tank-to-wheel id, well-to-tank id) per litre: DESNZ 2024 "Scope 1 | Fuels" (combustion)
    /// and "Scope 3 | WTT- fuels" (supply). Electricity's factor is the grid's (`grid:<country>`).
    fn factor_ids(self) -> Option<(&'static str, &'static str)> {
        match self {
            EnergyCarrier::Diesel => {
                Some(("desnz-2024:1_101_1011_8_1", "desnz-2024:11_101_1011_8_1"))
            }
            EnergyCarrier::MarineGasOil => {
                Some(("desnz-2024:1_101_1023_8_1", "desnz-2024:11_101_1023_8_1"))
            }
            EnergyCarrier::MarineFuelOil => {
                Some(("desnz-2024:1_101_1024_8_1", "desnz-2024:11_101_1024_8_1"))
            }
            EnergyCarrier::AviationTurbineFuel => {
                Some(("desnz-2024:1_101_1009_8_1", "desnz-2024:11_101_1009_8_1"))
            }
            EnergyCarrier::Electricity => None,
        }
    }
}

/// Energy a TOC or HOC used over its period: litres of a fuel, or kWh of electricity from a grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyUse {
    pub carrier: EnergyCarrier,
    /// Litres for fuels, kWh for electricity.
    pub quantity: Decimal,
    /// ISO country of the grid, for electricity.
    pub grid: Option<String>,
}

/// A transport operation category with its intensity and the factors behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toc {
    pub id: Arc<str>,
    pub mode: Mode,
    pub description: String,
    /// Payload carried ÷ payload capacity on loaded distance (iLEAP `loadFactor`, 0 < x ≤ 1).
    pub load_factor: Option<Decimal>,
    /// Empty distance ÷ total distance (iLEAP `emptyDistanceFactor`, 0 ≤ x < 1).
    pub empty_distance_factor: Option<Decimal>,
    /// kgCO2e per t·km.
    pub intensity: Intensity,
    pub basis: Basis,
    /// Factor ids and their sources, e.g. `desnz-2024:1_101_1011_8_1 (UK DESNZ …)`.
    pub factors: Vec<String>,
}

/// A hub operation category: kgCO2e per tonne leaving the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hoc {
    pub id: Arc<str>,
    pub hub_type: HubType,
    pub description: String,
    pub intensity: Intensity,
    pub basis: Basis,
    pub factors: Vec<String>,
}

/// The shipped default TOCs: (key, mode, description, tank-to-wheel factor id, well-to-tank
/// factor id), from UK DESNZ GHG conversion factors 2024 (flat file v1.1, OGL v3.0),
/// "Freighting goods" (kgCO2e/t·km, excluding fuel supply) and "WTT- delivery vehs & freight".
pub const DEFAULT_TOCS: [(&str, Mode, &str, &str, &str); 8] = [
    (
        "road-hgv-diesel-average",
        Mode::Road,
        "HGV (all diesel), all HGVs, average laden",
        "desnz-2024:27_304_3140_14_1",
        "desnz-2024:28_907_3140_14_1",
    ),
    (
        "road-hgv-refrigerated-average",
        Mode::Road,
        "HGV refrigerated (all diesel), all HGVs, average laden",
        "desnz-2024:27_306_3140_14_1",
        "desnz-2024:28_908_3140_14_1",
    ),
    (
        "road-van-diesel-average",
        Mode::Road,
        "Van, average (up to 3.5 tonnes), diesel",
        "desnz-2024:27_303_3102_14_1",
        "desnz-2024:28_906_3102_14_1",
    ),
    (
        "rail-freight",
        Mode::Rail,
        "Rail, freight train",
        "desnz-2024:27_315_3151_14_1",
        "desnz-2024:28_911_3151_14_1",
    ),
    (
        "sea-container-average",
        Mode::Sea,
        "Cargo ship, container ship, average",
        "desnz-2024:27_320_3235_14_1",
        "desnz-2024:28_916_3235_14_1",
    ),
    (
        "sea-bulk-average",
        Mode::Sea,
        "Cargo ship, bulk carrier, average",
        "desnz-2024:27_320_3221_14_1",
        "desnz-2024:28_916_3221_14_1",
    ),
    (
        "air-international-without-rf",
        Mode::Air,
        "Freight flight, international, without radiative forcing",
        "desnz-2024:27_317_3159_14_1",
        "desnz-2024:28_913_3159_14_1",
    ),
    (
        "air-international-with-rf",
        Mode::Air,
        "Freight flight, international, with radiative forcing",
        "desnz-2024:27_317_3158_14_1",
        "desnz-2024:28_913_3158_14_1",
    ),
];

fn factor<'a>(library: &'a FactorLibrary, id: &str) -> Result<&'a Factor, LogisticsError> {
    library
        .get(id)
        .filter(|f| f.value.is_some())
        .ok_or_else(|| LogisticsError::UnknownFactor(id.to_string()))
}

/// A factor's value in kgCO2e per `unit` (the factor may be per another unit of the same
/// dimension, or in tCO2e).
fn kg_per(f: &Factor, unit: Unit) -> Result<Decimal, LogisticsError> {
    let value = f.value.unwrap_or_default();
    let kg = f.numerator.emissions(value).kg();
    match f.per {
        Per::Unit(per) => convert(Decimal::ONE, unit, per)
            .map(|n| kg * n)
            .map_err(|_| LogisticsError::UnknownFactor(format!("{} (not per {unit})", f.id))),
        Per::Spend { .. } => Err(LogisticsError::UnknownFactor(format!(
            "{} (spend-based)",
            f.id
        ))),
    }
}

fn label(f: &Factor) -> String {
    format!(
        "{} = {} {} ({})",
        f.id,
        f.value.unwrap_or_default().normalize(),
        f.unit_label(),
        f.source.source
    )
}

/// Well-to-wheel and tank-to-wheel kgCO2e of energy used.
fn energy_emissions(
    energy: &[EnergyUse],
    library: &FactorLibrary,
    factors: &mut Vec<String>,
) -> Result<Intensity, LogisticsError> {
    let mut total = Intensity::default();
    for e in energy {
        match e.carrier.factor_ids() {
            Some((ttw_id, wtt_id)) => {
                let (ttw, wtt) = (factor(library, ttw_id)?, factor(library, wtt_id)?);
                let ttw_kg = e.quantity * kg_per(ttw, Unit::Litre)?;
                let wtt_kg = e.quantity * kg_per(wtt, Unit::Litre)?;
                total.ttw += ttw_kg;
                total.wtw += ttw_kg + wtt_kg;
                factors.extend([label(ttw), label(wtt)]);
            }
            None => {
                let grid = e.grid.as_deref().unwrap_or("");
                let f = library
                    .find(&format!("grid:{grid}"), Some(Unit::KWh))
                    .ok_or_else(|| LogisticsError::UnknownFactor(format!("grid:{grid}")))?;
                total.wtw += e.quantity * kg_per(f, Unit::KWh)?;
                factors.push(label(f));
            }
        }
    }
    Ok(total)
}

fn positive(
    what: &'static str,
    id: &str,
    field: &'static str,
    v: Decimal,
) -> Result<(), LogisticsError> {
    if v > Decimal::ZERO {
        Ok(())
    } else {
        Err(LogisticsError::Invalid {
            what,
            id: id.to_string(),
            field,
            value: v.to_string(),
            why: "must be above 0",
        })
    }
}

impl Toc {
    /// Primary data (GLEC "consumption factor"): the energy the TOC's vehicles used over a
    /// period and the t·km they carried in it. Intensity = emissions ÷ t·km.
    pub fn from_energy(
        id: &str,
        mode: Mode,
        description: &str,
        energy: &[EnergyUse],
        tkm: Decimal,
        library: &FactorLibrary,
    ) -> Result<Toc, LogisticsError> {
        positive("TOC", id, "transport activity (t·km)", tkm)?;
        let mut factors = Vec::new();
        let total = energy_emissions(energy, library, &mut factors)?;
        Ok(Toc {
            id: Arc::from(id),
            mode,
            description: description.to_string(),
            load_factor: None,
            empty_distance_factor: None,
            intensity: Intensity {
                wtw: total.wtw / tkm,
                ttw: total.ttw / tkm,
            },
            basis: Basis::Primary,
            factors,
        })
    }

    /// Modelled: a vehicle using `litres_per_km` of `carrier` (averaged over loaded and empty
    /// running) with `capacity_t` payload, run at `load_factor` on loaded distance and with
    /// `empty_distance_factor` of its distance empty. Per loaded km it carries
    /// capacity × load factor tonnes and drives 1 ÷ (1 − empty factor) km in all, so
    /// fuel per t·km = litres_per_km ÷ ((1 − empty factor) × capacity × load factor).
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per GLEC model input"
    )]
    pub fn modelled(
        id: &str,
        mode: Mode,
        description: &str,
        carrier: EnergyCarrier,
        litres_per_km: Decimal,
        capacity_t: Decimal,
        load_factor: Decimal,
        empty_distance_factor: Decimal,
        library: &FactorLibrary,
    ) -> Result<Toc, LogisticsError> {
        positive("TOC", id, "litres per km", litres_per_km)?;
        positive("TOC", id, "payload capacity (t)", capacity_t)?;
        if load_factor <= Decimal::ZERO || load_factor > Decimal::ONE {
            return Err(LogisticsError::Invalid {
                what: "TOC",
                id: id.to_string(),
                field: "load factor",
                value: load_factor.to_string(),
                why: "must be above 0 and at most 1",
            });
        }
        if empty_distance_factor < Decimal::ZERO || empty_distance_factor >= Decimal::ONE {
            return Err(LogisticsError::Invalid {
                what: "TOC",
                id: id.to_string(),
                field: "empty distance factor",
                value: empty_distance_factor.to_string(),
                why: "must be at least 0 and below 1",
            });
        }
        let litres_per_tkm =
            litres_per_km / ((Decimal::ONE - empty_distance_factor) * capacity_t * load_factor);
        let mut factors = Vec::new();
        let per = energy_emissions(
            &[EnergyUse {
                carrier,
                quantity: litres_per_tkm,
                grid: None,
            }],
            library,
            &mut factors,
        )?;
        Ok(Toc {
            id: Arc::from(id),
            mode,
            description: description.to_string(),
            load_factor: Some(load_factor),
            empty_distance_factor: Some(empty_distance_factor),
            intensity: per,
            basis: Basis::Modelled,
            factors,
        })
    }

    /// A shipped default ([`DEFAULT_TOCS`]): tank-to-wheel from the freight factor,
    /// well-to-wheel = that + the matching well-to-tank factor.
    pub fn default_for(key: &str, library: &FactorLibrary) -> Result<Toc, LogisticsError> {
        let Some((k, mode, description, ttw_id, wtt_id)) = DEFAULT_TOCS.iter().find(|d| d.0 == key)
        else {
            return Err(LogisticsError::UnknownDefault(
                key.to_string(),
                DEFAULT_TOCS
                    .iter()
                    .map(|d| d.0)
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        };
        let (ttw, wtt) = (factor(library, ttw_id)?, factor(library, wtt_id)?);
        let ttw_kg = kg_per(ttw, Unit::TonneKm)?;
        let wtt_kg = kg_per(wtt, Unit::TonneKm)?;
        Ok(Toc {
            id: Arc::from(*k),
            mode: *mode,
            description: description.to_string(),
            load_factor: None,
            empty_distance_factor: None,
            intensity: Intensity {
                wtw: ttw_kg + wtt_kg,
                ttw: ttw_kg,
            },
            basis: Basis::Default,
            factors: vec![label(ttw), label(wtt)],
        })
    }
}

impl Hoc {
    /// Primary data: the hub's energy over a period and the tonnes that left it.
    pub fn from_energy(
        id: &str,
        hub_type: HubType,
        description: &str,
        energy: &[EnergyUse],
        throughput_t: Decimal,
        library: &FactorLibrary,
    ) -> Result<Hoc, LogisticsError> {
        positive("HOC", id, "throughput (t)", throughput_t)?;
        let mut factors = Vec::new();
        let total = energy_emissions(energy, library, &mut factors)?;
        Ok(Hoc {
            id: Arc::from(id),
            hub_type,
            description: description.to_string(),
            intensity: Intensity {
                wtw: total.wtw / throughput_t,
                ttw: total.ttw / throughput_t,
            },
            basis: Basis::Primary,
            factors,
        })
    }
}
