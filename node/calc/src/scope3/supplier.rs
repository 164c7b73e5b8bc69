//! The inbox of supplier footprints, indexed by product id for supplier-specific lines.

use crate::scope3::factors::Source;
use crate::scope3::figures::Figures;
use crate::scope3::units::Unit;
use crate::scope3::{Dqi, GwpSet, lower};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// A footprint received from a supplier, as the inbox knows it (the node builds these
/// from PACT v3 footprints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupplierPcf {
    pub footprint_id: String,
    pub company_id: String,
    pub product_ids: Vec<String>,
    /// PACT unit name, e.g. `kilogram`.
    pub declared_unit: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub declared_unit_amount: Decimal,
    /// kgCO2e per `declared_unit_amount` of `declared_unit`.
    #[serde(with = "rust_decimal::serde::str")]
    pub pcf_excluding_biogenic_uptake: Decimal,
    /// Percent (0–100), as in PACT.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub primary_data_share: Option<Decimal>,
    #[serde(default)]
    pub dqi: Option<Dqi>,
    /// ISO 8601; compared as text, which orders correctly for ISO datetimes.
    pub reference_period_end: String,
    pub status_active: bool,
    /// PACT `ipccCharacterizationFactors` (e.g. `["AR6"]`); empty when unknown.
    #[serde(default)]
    pub ipcc_characterization_factors: Vec<String>,
    /// PACT `geographyCountry`, when given.
    #[serde(default)]
    pub geography_country: Option<String>,
    /// Every other PACT figure the footprint states (`fossilGhgEmissions`,
    /// `biogenicCO2Uptake`, …), per `declared_unit_amount`, for composition; keyed by the
    /// PACT names. Empty in the flat layout unless given there.
    #[serde(default, skip_serializing_if = "Figures::is_empty")]
    pub figures: Figures,
    /// The iLEAP ShipmentFootprint the footprint carries, when it is a carrier's shipment
    /// footprint whose owner signature verified (categories 4 and 9 use it as primary data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentPcf>,
}

/// What Scope 3 takes from a received iLEAP ShipmentFootprint (iLEAP v1.0.0): the
/// shipment's totals over its TCEs (ISO 14083:2023, well-to-wheel and tank-to-wheel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentPcf {
    pub shipment_id: String,
    /// kgCO2e, well-to-wheel: Σ TCE `co2eWTW`.
    #[serde(with = "rust_decimal::serde::str")]
    pub wtw_kg: Decimal,
    /// kgCO2e, tank-to-wheel: Σ TCE `co2eTTW`.
    #[serde(with = "rust_decimal::serde::str")]
    pub ttw_kg: Decimal,
    /// t·km: Σ TCE `transportActivity`.
    #[serde(with = "rust_decimal::serde::str")]
    pub tkm: Decimal,
    /// kg.
    #[serde(with = "rust_decimal::serde::str")]
    pub mass_kg: Decimal,
    pub tces: usize,
}

impl SupplierPcf {
    /// The GWP set recorded on result lines: the single set declared, else unspecified.
    pub fn gwp(&self) -> GwpSet {
        match self.ipcc_characterization_factors.as_slice() {
            [one] => GwpSet::parse(one).unwrap_or(GwpSet::Unspecified),
            _ => GwpSet::Unspecified,
        }
    }

    /// Reference year from `reference_period_end` (first four characters).
    pub fn reference_year(&self) -> Option<i32> {
        self.reference_period_end.get(0..4)?.parse().ok()
    }
}

/// A lookup result: the footprint, its provenance, its result-line id and its parsed
/// declared unit (`None` if not a known unit).
pub type SupplierHit<'a> = (&'a SupplierPcf, &'a Arc<Source>, &'a Arc<str>, Option<Unit>);

/// Supplier footprints indexed by product id (case-insensitive); where several active
/// footprints name the same product, the one with the latest reference period wins.
#[derive(Debug, Clone, Default)]
pub struct SupplierIndex {
    pcfs: Vec<SupplierPcf>,
    sources: Vec<Arc<Source>>,
    ids: Vec<Arc<str>>,
    units: Vec<Option<Unit>>,
    by_product: HashMap<String, usize>,
    /// Active shipment footprints by lower-case shipment id (several carriers may use the
    /// same id: all are kept, and a lookup that finds more than one is ambiguous).
    by_shipment: HashMap<String, Vec<usize>>,
}

/// A shipment lookup: the one active footprint for it, or the carriers that all have one.
#[derive(Debug)]
pub enum ShipmentHit<'a> {
    None,
    One(&'a SupplierPcf, &'a ShipmentPcf),
    Ambiguous(Vec<&'a str>),
}

impl SupplierIndex {
    pub fn new(pcfs: Vec<SupplierPcf>) -> Self {
        let mut by_product: HashMap<String, usize> = HashMap::with_capacity(pcfs.len());
        let mut by_shipment: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in pcfs.iter().enumerate() {
            if !p.status_active {
                continue;
            }
            if let Some(s) = &p.shipment {
                let list = by_shipment
                    .entry(lower(&s.shipment_id).into_owned())
                    .or_default();
                // One per carrier: that carrier's latest reference period.
                match list
                    .iter_mut()
                    .find(|j| lower(&pcfs[**j].company_id) == lower(&p.company_id))
                {
                    Some(j) if pcfs[*j].reference_period_end >= p.reference_period_end => {}
                    Some(j) => *j = i,
                    None => list.push(i),
                }
            }
            for pid in &p.product_ids {
                let k = lower(pid).into_owned();
                match by_product.get(&k) {
                    Some(&j) if pcfs[j].reference_period_end >= p.reference_period_end => {}
                    _ => {
                        by_product.insert(k, i);
                    }
                }
            }
        }
        let sources = pcfs
            .iter()
            .map(|p| {
                Arc::new(Source {
                    set: "supplier PCF (PACT v3)".into(),
                    version: p.reference_period_end.clone(),
                    source: format!("footprint {} from {}", p.footprint_id, p.company_id),
                    licence: "shared under the data-space agreement".into(),
                })
            })
            .collect();
        let ids = pcfs
            .iter()
            .map(|p| Arc::from(format!("pcf:{}", p.footprint_id)))
            .collect();
        let units = pcfs
            .iter()
            .map(|p| Unit::parse(&p.declared_unit).ok())
            .collect();
        Self {
            pcfs,
            sources,
            ids,
            units,
            by_product,
            by_shipment,
        }
    }

    /// The active shipment footprint received for a shipment id (case-insensitive).
    pub fn shipment(&self, shipment_id: &str) -> ShipmentHit<'_> {
        match self
            .by_shipment
            .get(lower(shipment_id).as_ref())
            .map(Vec::as_slice)
        {
            None | Some([]) => ShipmentHit::None,
            Some([i]) => match &self.pcfs[*i].shipment {
                Some(s) => ShipmentHit::One(&self.pcfs[*i], s),
                None => ShipmentHit::None,
            },
            Some(many) => ShipmentHit::Ambiguous(
                many.iter()
                    .map(|i| self.pcfs[*i].company_id.as_str())
                    .collect(),
            ),
        }
    }

    pub fn len(&self) -> usize {
        self.pcfs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pcfs.is_empty()
    }

    /// The active footprint for a product id, with its shared provenance, its result-line
    /// id and its parsed declared unit (`None` if the unit is not known).
    pub fn lookup(&self, product_id: &str) -> Option<SupplierHit<'_>> {
        let i = *self.by_product.get(lower(product_id).as_ref())?;
        Some((&self.pcfs[i], &self.sources[i], &self.ids[i], self.units[i]))
    }
}
