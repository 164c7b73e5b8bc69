//! Transport emissions by ISO 14083:2023 and the GLEC Framework v3: a shipment's transport
//! chain is split into transport chain elements (TCEs), each a leg run under a transport
//! operation category ([`Toc`]) or a stop at a hub under a hub operation category ([`Hoc`]).
//!
//! A TOC's intensity (kgCO2e per t·km, well-to-wheel and tank-to-wheel) comes from the
//! carrier's own energy use and transport activity ([`Toc::from_energy`], primary data), from
//! a vehicle model ([`Toc::modelled`]: consumption per km, payload capacity, load factor and
//! empty running), or from a shipped default ([`Toc::default_for`]); a HOC's (kgCO2e per tonne
//! handled) from the hub's energy and throughput. A leg's emissions are its t·km times its
//! TOC's intensity, which is allocation by t·km (ISO 14083 §13 / GLEC: transport activity is
//! mass × distance, distance actual or shortest feasible × a distance adjustment factor).
//! [`calculate`] turns legs and hub stops into TCEs and rolls them up per shipment, per
//! customer and per month. [`read_legs`] reads a carrier's legs CSV (every problem at its
//! `file:line:column`); [`ileap`] turns a shipment into its iLEAP ShipmentFootprint and the
//! PACT footprint that carries it to the shipper.
//!
//! Defaults: the GLEC Framework's default intensities are Smart Freight Centre copyright with
//! no open-data licence, so none is shipped (tanso reference carbon.md §4). The shipped
//! defaults pair UK DESNZ 2024 "Freighting goods" factors (tank-to-wheel, they exclude fuel
//! supply) with the matching "WTT- delivery vehs & freight" factors, both OGL v3.0; every
//! figure names the factor ids it came from. Inland waterways have no open default: they need
//! the carrier's energy data.
//!
//! No IO and no async runtime: inputs are typed values, factors come from
//! [`tanso_calc::scope3::FactorLibrary`].

mod chain;
pub mod ileap;
pub mod legs;
#[cfg(test)]
mod tests;
mod toc;

pub use chain::{Chain, Distance, HubStop, Leg, Rollup, Tce, TceKind, Totals, calculate};
pub use legs::{LegProblem, read_legs};
pub use toc::{Basis, DEFAULT_TOCS, EnergyCarrier, EnergyUse, Hoc, HubType, Intensity, Mode, Toc};

/// Everything that can be wrong with logistics inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogisticsError {
    #[error("factor `{0}` is not in the loaded factor sets")]
    UnknownFactor(String),
    #[error("no default TOC `{0}` (shipped: {1})")]
    UnknownDefault(String, String),
    #[error("{what} `{id}`: {field} is {value}: {why}")]
    Invalid {
        what: &'static str,
        id: String,
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{} problem(s) in the legs file:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Legs(Vec<LegProblem>),
    #[error("{what} {index}: refers to {kind} {reference}, which does not exist")]
    Dangling {
        what: &'static str,
        index: usize,
        kind: &'static str,
        reference: usize,
    },
}
