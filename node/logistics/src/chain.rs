//! Transport chains: legs and hub stops → transport chain elements → roll-ups.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use tanso_calc::kpi::Period;

use crate::LogisticsError;
use crate::toc::{Hoc, Toc};

/// A leg's distance: actual (route or telematics), or shortest feasible × a distance
/// adjustment factor (ISO 14083 / GLEC: the factor corrects the planned distance towards
/// the distance driven; it is the caller's, recorded with the leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Distance {
    Actual(Decimal),
    ShortestFeasible { km: Decimal, adjustment: Decimal },
}

impl Distance {
    /// The distance used for transport activity, in km.
    pub fn km(&self) -> Decimal {
        match *self {
            Distance::Actual(km) => km,
            Distance::ShortestFeasible { km, adjustment } => km * adjustment,
        }
    }
}

/// One leg of a shipment run under a TOC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    pub shipment: Arc<str>,
    pub customer: Arc<str>,
    pub month: Period,
    /// Freight mass in tonnes (goods and the shipper's packaging).
    pub mass_t: Decimal,
    pub distance: Distance,
    /// Index into [`Chain::tocs`].
    pub toc: usize,
    pub origin: Option<Arc<str>>,
    pub destination: Option<Arc<str>>,
}

/// A shipment passing a hub run under a HOC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubStop {
    pub shipment: Arc<str>,
    pub customer: Arc<str>,
    pub month: Period,
    pub mass_t: Decimal,
    /// Index into [`Chain::hocs`].
    pub hoc: usize,
}

/// Everything a carrier calculates over.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    pub tocs: Vec<Toc>,
    pub hocs: Vec<Hoc>,
    pub legs: Vec<Leg>,
    pub hubs: Vec<HubStop>,
}

/// Whether a TCE is a leg or a hub stop, and its index in [`Chain::legs`] or [`Chain::hubs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TceKind {
    Leg(usize),
    Hub(usize),
}

/// A transport chain element: its activity and emissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tce {
    pub kind: TceKind,
    /// t·km for a leg; 0 for a hub.
    pub tkm: Decimal,
    /// Tonnes handled at a hub; 0 for a leg.
    pub tonnes_handled: Decimal,
    pub wtw_kg: Decimal,
    pub ttw_kg: Decimal,
}

/// Sums over TCEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Totals {
    pub tkm: Decimal,
    pub tonnes_handled: Decimal,
    pub wtw_kg: Decimal,
    pub ttw_kg: Decimal,
    pub tces: u64,
}

impl Totals {
    fn add(&mut self, t: &Tce) {
        self.tkm += t.tkm;
        self.tonnes_handled += t.tonnes_handled;
        self.wtw_kg += t.wtw_kg;
        self.ttw_kg += t.ttw_kg;
        self.tces += 1;
    }

    /// Well-to-wheel kgCO2e per t·km over the legs and hubs summed (`None` without t·km).
    pub fn wtw_per_tkm(&self) -> Option<Decimal> {
        (!self.tkm.is_zero()).then(|| self.wtw_kg / self.tkm)
    }
}

/// The TCEs of a chain and their roll-ups.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rollup {
    /// Legs first (in input order), then hub stops.
    pub tces: Vec<Tce>,
    pub per_shipment: HashMap<Arc<str>, Totals>,
    pub per_customer: HashMap<Arc<str>, Totals>,
    pub per_month: BTreeMap<Period, Totals>,
    pub total: Totals,
}

/// Computes every TCE (leg: t·km = mass × distance, emissions = t·km × the TOC's intensity,
/// which allocates the TOC's emissions by t·km; hub: tonnes × the HOC's intensity) and
/// rolls them up per shipment, customer and month.
pub fn calculate(chain: &Chain) -> Result<Rollup, LogisticsError> {
    for (index, leg) in chain.legs.iter().enumerate() {
        if leg.toc >= chain.tocs.len() {
            return Err(LogisticsError::Dangling {
                what: "leg",
                index,
                kind: "TOC",
                reference: leg.toc,
            });
        }
        let km = leg.distance.km();
        if leg.mass_t <= Decimal::ZERO || km < Decimal::ZERO {
            return Err(LogisticsError::Invalid {
                what: "leg of shipment",
                id: leg.shipment.to_string(),
                field: if leg.mass_t <= Decimal::ZERO {
                    "mass (t)"
                } else {
                    "distance (km)"
                },
                value: if leg.mass_t <= Decimal::ZERO {
                    leg.mass_t.to_string()
                } else {
                    km.to_string()
                },
                why: "mass must be above 0 and distance at least 0",
            });
        }
    }
    for (index, hub) in chain.hubs.iter().enumerate() {
        if hub.hoc >= chain.hocs.len() {
            return Err(LogisticsError::Dangling {
                what: "hub stop",
                index,
                kind: "HOC",
                reference: hub.hoc,
            });
        }
    }
    let mut out = Rollup {
        tces: Vec::with_capacity(chain.legs.len() + chain.hubs.len()),
        ..Rollup::default()
    };
    // Consecutive legs usually belong to the same shipment: skip the hash lookup then.
    let mut last: Option<(Arc<str>, Totals)> = None;
    let mut add =
        |out: &mut Rollup, shipment: &Arc<str>, customer: &Arc<str>, month: Period, tce: Tce| {
            match &mut last {
                Some((s, t)) if Arc::ptr_eq(s, shipment) || **s == **shipment => t.add(&tce),
                _ => {
                    if let Some((s, t)) = last.take() {
                        merge(out.per_shipment.entry(s).or_default(), &t);
                    }
                    let mut t = Totals::default();
                    t.add(&tce);
                    last = Some((shipment.clone(), t));
                }
            }
            match out.per_customer.get_mut(customer) {
                Some(t) => t.add(&tce),
                None => out
                    .per_customer
                    .entry(customer.clone())
                    .or_default()
                    .add(&tce),
            }
            out.per_month.entry(month).or_default().add(&tce);
            out.total.add(&tce);
            out.tces.push(tce);
        };
    for (i, leg) in chain.legs.iter().enumerate() {
        let intensity = chain.tocs[leg.toc].intensity;
        let tkm = leg.mass_t * leg.distance.km();
        let tce = Tce {
            kind: TceKind::Leg(i),
            tkm,
            tonnes_handled: Decimal::ZERO,
            wtw_kg: tkm * intensity.wtw,
            ttw_kg: tkm * intensity.ttw,
        };
        add(&mut out, &leg.shipment, &leg.customer, leg.month, tce);
    }
    for (i, hub) in chain.hubs.iter().enumerate() {
        let intensity = chain.hocs[hub.hoc].intensity;
        let tce = Tce {
            kind: TceKind::Hub(i),
            tkm: Decimal::ZERO,
            tonnes_handled: hub.mass_t,
            wtw_kg: hub.mass_t * intensity.wtw,
            ttw_kg: hub.mass_t * intensity.ttw,
        };
        add(&mut out, &hub.shipment, &hub.customer, hub.month, tce);
    }
    if let Some((s, t)) = last.take() {
        merge(out.per_shipment.entry(s).or_default(), &t);
    }
    Ok(out)
}

fn merge(into: &mut Totals, t: &Totals) {
    into.tkm += t.tkm;
    into.tonnes_handled += t.tonnes_handled;
    into.wtw_kg += t.wtw_kg;
    into.ttw_kg += t.ttw_kg;
    into.tces += t.tces;
}
