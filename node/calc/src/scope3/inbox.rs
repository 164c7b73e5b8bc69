//! Supplier PCFs for Scope 3 and composition, read from received PACT footprints.

use serde::Deserialize;
use serde_json::Value;

use super::Dqi;
use super::figures::{self, Figure};
use super::supplier::{ShipmentPcf, SupplierPcf};
use tanso_model::pact::ileap;
use tanso_model::pact::model::{ProductFootprint, Status};
use tanso_model::records::{InboxEntry, SignatureStatus};

/// The supplier view of one PACT footprint (full view, read through the typed PACT model);
/// `None` for summary views or footprints missing the figures a calculation needs.
pub fn supplier_pcf(doc: &Value) -> Option<SupplierPcf> {
    let pf = ProductFootprint::deserialize(doc).ok()?;
    let cf = &pf.pcf;
    let dqi = cf.dqi.as_ref().and_then(|d| {
        Some(Dqi {
            technological: d.technological_dqr.to_exact()?,
            geographical: d.geographical_dqr.to_exact()?,
            temporal: d.temporal_dqr.to_exact()?,
        })
    });
    // A shipment footprint that breaks the iLEAP rules is not used as one (it may still be
    // an ordinary footprint).
    let shipment = ileap::shipment_in(&pf)
        .ok()
        .flatten()
        .map(|sf| ShipmentPcf {
            wtw_kg: sf.wtw_kg(),
            ttw_kg: sf.ttw_kg(),
            tkm: sf.tkm(),
            mass_kg: sf.mass,
            tces: sf.tces.len(),
            shipment_id: sf.shipment_id,
        });
    let mut figures = figures::of_pact(cf);
    let pcf_excluding_biogenic_uptake = figures.remove(&Figure::PcfExcludingBiogenicUptake)?;
    Some(SupplierPcf {
        footprint_id: pf.id.clone(),
        company_id: pf.company_ids.first()?.clone(),
        product_ids: pf.product_ids.clone(),
        declared_unit: cf.declared_unit_of_measurement.as_str().to_string(),
        declared_unit_amount: cf.declared_unit_amount.to_exact()?,
        pcf_excluding_biogenic_uptake,
        primary_data_share: cf.primary_data_share.as_ref().and_then(|d| d.to_exact()),
        dqi,
        reference_period_end: cf.reference_period_end.clone(),
        status_active: pf.status == Status::Active,
        ipcc_characterization_factors: cf.ipcc_characterization_factors.clone(),
        geography_country: cf.geography_country.clone(),
        figures,
        shipment,
    })
}

/// The received footprints as supplier data for Scope 3 and composition, one implementation
/// for every door (admin socket, dashboard, demo). A footprint the node knows to be superseded
/// (the inbox marked it Deprecated when a newer version named it in `precedingPfIds`) is not
/// active whatever its signed document says, and one whose owner signature failed to verify
/// is not used at all. Shipment footprints are used only when their owner signature verified
/// (a shipment figure is primary data in categories 4 and 9).
pub fn suppliers(inbox: &[InboxEntry]) -> Vec<SupplierPcf> {
    inbox
        .iter()
        .filter(|e| e.signature_status != SignatureStatus::BadSignature)
        .filter_map(|e| {
            let mut pcf = supplier_pcf(&e.document)?;
            pcf.status_active &= e.status != Status::Deprecated;
            if e.signature_status != SignatureStatus::Verified {
                pcf.shipment = None;
            }
            Some(pcf)
        })
        .collect()
}
