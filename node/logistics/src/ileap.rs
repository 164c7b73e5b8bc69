//! The iLEAP data model (SINE Foundation, "iLEAP Technical Specifications" v1.0.0,
//! 2025-05-27, github.com/sine-fdn/ileap-extension `specs/index.bs`): ShipmentFootprint and
//! TCE, with decimals as JSON strings like PACT; built from a [`crate::Rollup`].

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Rollup, TceKind};

/// iLEAP `GLECDistance`: at least one of actual, gcd, sfd (km).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlecDistance {
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub actual: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub gcd: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option",
        default
    )]
    pub sfd: Option<Decimal>,
}

/// iLEAP `TCE` (the properties tanso fills; every mandatory one is here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IleapTce {
    pub tce_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev_tce_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub toc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hoc_id: Option<String>,
    pub shipment_id: String,
    /// kg.
    #[serde(with = "rust_decimal::serde::str")]
    pub mass: Decimal,
    pub distance: GlecDistance,
    /// t·km.
    #[serde(with = "rust_decimal::serde::str")]
    pub transport_activity: Decimal,
    /// kgCO2e.
    #[serde(rename = "co2eWTW", with = "rust_decimal::serde::str")]
    pub co2e_wtw: Decimal,
    /// kgCO2e.
    #[serde(rename = "co2eTTW", with = "rust_decimal::serde::str")]
    pub co2e_ttw: Decimal,
}

/// iLEAP `ShipmentFootprint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentFootprint {
    /// kg.
    #[serde(with = "rust_decimal::serde::str")]
    pub mass: Decimal,
    pub shipment_id: String,
    pub tces: Vec<IleapTce>,
}

impl ShipmentFootprint {
    /// Well-to-wheel kgCO2e of the whole chain.
    pub fn wtw_kg(&self) -> Decimal {
        self.tces.iter().map(|t| t.co2e_wtw).sum()
    }

    /// t·km of the whole chain.
    pub fn tkm(&self) -> Decimal {
        self.tces.iter().map(|t| t.transport_activity).sum()
    }
}

/// The ShipmentFootprint of one shipment from a calculated chain: its TCEs in order (legs,
/// then hubs, as input), each TCE after the previous one (`prevTceIds`); mass is the
/// largest leg or hub mass of the shipment.
pub fn shipment_footprint(
    chain: &Chain,
    rollup: &Rollup,
    shipment: &str,
) -> Option<ShipmentFootprint> {
    let mut tces = Vec::new();
    let mut mass = Decimal::ZERO;
    for tce in &rollup.tces {
        let (id, of, mass_t, toc_id, hoc_id, distance) = match tce.kind {
            TceKind::Leg(i) => {
                let leg = &chain.legs[i];
                let toc = &chain.tocs[leg.toc];
                let d = match leg.distance {
                    crate::Distance::Actual(km) => GlecDistance {
                        actual: Some(km),
                        ..Default::default()
                    },
                    crate::Distance::ShortestFeasible { km, .. } => GlecDistance {
                        sfd: Some(km),
                        ..Default::default()
                    },
                };
                (
                    format!("{}-leg-{i}", leg.shipment),
                    &leg.shipment,
                    leg.mass_t,
                    Some(toc.id.to_string()),
                    None,
                    d,
                )
            }
            TceKind::Hub(i) => {
                let hub = &chain.hubs[i];
                let hoc = &chain.hocs[hub.hoc];
                (
                    format!("{}-hub-{i}", hub.shipment),
                    &hub.shipment,
                    hub.mass_t,
                    None,
                    Some(hoc.id.to_string()),
                    GlecDistance {
                        actual: Some(Decimal::ZERO),
                        ..Default::default()
                    },
                )
            }
        };
        if &**of != shipment {
            continue;
        }
        let kg = mass_t * Decimal::ONE_THOUSAND;
        mass = mass.max(kg);
        let prev: Vec<String> = tces
            .last()
            .map(|t: &IleapTce| vec![t.tce_id.clone()])
            .unwrap_or_default();
        tces.push(IleapTce {
            tce_id: id,
            prev_tce_ids: Some(prev),
            toc_id,
            hoc_id,
            shipment_id: shipment.to_string(),
            mass: kg.normalize(),
            distance,
            transport_activity: tce.tkm.normalize(),
            co2e_wtw: tce.wtw_kg.normalize(),
            co2e_ttw: tce.ttw_kg.normalize(),
        });
    }
    (!tces.is_empty()).then(|| ShipmentFootprint {
        mass: mass.normalize(),
        shipment_id: shipment.to_string(),
        tces,
    })
}

/// The PACT `productIds` entry iLEAP prescribes for a carrier-assigned shipment id.
pub fn product_id(shipment: &str) -> Arc<str> {
    Arc::from(
        format!("urn:pathfinder:product:customcode:vendor-assigned:shipment:{shipment}").as_str(),
    )
}
