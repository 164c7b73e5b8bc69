//! iLEAP shipment footprints from a calculated chain. The data types (ShipmentFootprint,
//! TCE, GLECDistance) and their carriage in PACT are `tanso_model::pact::ileap`, shared with
//! the shipper's Scope 3 reader; this module builds them from a [`crate::Rollup`] and wraps
//! each in the PACT v3 footprint iLEAP prescribes ([`product_footprint`]).

use rust_decimal::Decimal;
use tanso_calc::kpi::Period;
use tanso_model::pact::model::{
    CarbonFootprint, Decimal as PactDecimal, DeclaredUnit, EmissionFactorSource, ProductFootprint,
    SPEC_VERSION, Status,
};

pub use tanso_model::pact::ileap::{
    CLASSIFICATION, GlecDistance, IleapError, IleapTce, ShipmentFootprint, product_id,
};

use crate::LogisticsError;
use crate::chain::{Chain, Rollup, TceKind};
use crate::toc::Basis;

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

/// The carrier a shipment footprint is published by (the node's own company).
#[derive(Debug, Clone, Copy)]
pub struct Carrier<'a> {
    pub company_name: &'a str,
    pub company_id: &'a str,
}

/// The PACT v3 footprint of one shipment as iLEAP §"PACT Integration" maps it: `productIds`
/// the vendor-assigned shipment URN, classification CPC 83117, declared per `ton kilometer`
/// with the amount the chain's t·km, `productMassPerDeclaredUnit` the shipment's mass (kg),
/// `pcfExcludingBiogenicUptake` (and the fossil and including-uptake figures) the chain's
/// well-to-wheel kgCO2e, no biogenic carbon, packaging not included; the reference period
/// the calendar months its TCEs fall in; the primary data share the well-to-wheel share of
/// TCEs run under a TOC or HOC of primary data (ISO 14083); the ShipmentFootprint and the
/// shipment's customers as extensions. `id` and `created` are the caller's (no clock here).
pub fn product_footprint(
    chain: &Chain,
    rollup: &Rollup,
    shipment: &str,
    carrier: Carrier<'_>,
    id: &str,
    created: &str,
) -> Result<ProductFootprint, LogisticsError> {
    let invalid = |field: &'static str, value: String, why: &'static str| LogisticsError::Invalid {
        what: "shipment",
        id: shipment.to_string(),
        field,
        value,
        why,
    };
    let sf = shipment_footprint(chain, rollup, shipment)
        .ok_or_else(|| invalid("shipment id", shipment.to_string(), "no leg names it"))?;
    let tkm = sf.tkm();
    if tkm <= Decimal::ZERO {
        return Err(invalid(
            "transport activity (t·km)",
            tkm.to_string(),
            "iLEAP declares a shipment per t·km, so it needs at least one leg with t·km",
        ));
    }
    let wtw = sf.wtw_kg();
    // Customers, months and data bases of the shipment's TCEs.
    let mut customers: Vec<String> = Vec::new();
    let (mut first, mut last) = (None, None);
    let (mut primary_wtw, mut secondary) = (Decimal::ZERO, false);
    for tce in &rollup.tces {
        let (s, customer, month, basis) = match tce.kind {
            TceKind::Leg(i) => {
                let l = &chain.legs[i];
                (&l.shipment, &l.customer, l.month, chain.tocs[l.toc].basis)
            }
            TceKind::Hub(i) => {
                let h = &chain.hubs[i];
                (&h.shipment, &h.customer, h.month, chain.hocs[h.hoc].basis)
            }
        };
        if &**s != shipment {
            continue;
        }
        if !customers.iter().any(|c| c.eq_ignore_ascii_case(customer)) {
            customers.push(customer.to_string());
        }
        let m = match month {
            Period::Month { year, month } => (year, month),
            other => (other.calendar_year(), 1),
        };
        first = Some(first.map_or(m, |f: (i32, u32)| f.min(m)));
        last = Some(last.map_or(m, |l: (i32, u32)| l.max(m)));
        if basis == Basis::Primary {
            primary_wtw += tce.wtw_kg;
        } else {
            secondary = true;
        }
    }
    let (Some((y0, m0)), Some((y1, m1))) = (first, last) else {
        return Err(invalid(
            "month",
            String::new(),
            "a leg of a shipment names its month",
        ));
    };
    let (y2, m2) = if m1 == 12 { (y1 + 1, 1) } else { (y1, m1 + 1) };
    let share = if wtw.is_zero() {
        Decimal::ZERO
    } else {
        tanso_model::rounding::round_normalized(primary_wtw * Decimal::ONE_HUNDRED / wtw, 2)
    };
    let extensions = tanso_model::pact::ileap::extensions(&sf, &customers).map_err(|e| {
        LogisticsError::Invalid {
            what: "shipment",
            id: shipment.to_string(),
            field: "iLEAP ShipmentFootprint",
            value: e.field.clone(),
            why: "not what iLEAP prescribes",
        }
    })?;
    let d = |v: Decimal| PactDecimal::new(v.normalize().to_string());
    let pcf = CarbonFootprint {
        declared_unit_of_measurement: DeclaredUnit::TonKilometer,
        declared_unit_amount: d(tkm),
        product_mass_per_declared_unit: d(sf.mass),
        reference_period_start: format!("{y0:04}-{m0:02}-01T00:00:00Z"),
        reference_period_end: format!("{y2:04}-{m2:02}-01T00:00:00Z"),
        geography_region_or_subregion: None,
        geography_country: None,
        geography_country_subdivision: None,
        boundary_processes_description: Some(
            "ISO 14083:2023 / GLEC Framework v3: well-to-wheel emissions of the shipment's \
             transport chain elements (vehicle operation and energy provision), allocated by t·km"
                .into(),
        ),
        pcf_excluding_biogenic_uptake: d(wtw),
        pcf_including_biogenic_uptake: d(wtw),
        fossil_carbon_content: PactDecimal::new("0"),
        biogenic_carbon_content: Some(PactDecimal::new("0")),
        recycled_carbon_content: None,
        fossil_ghg_emissions: d(wtw),
        land_use_change_ghg_emissions: None,
        land_carbon_leakage: None,
        land_management_fossil_ghg_emissions: None,
        land_management_biogenic_co2_emissions: None,
        land_management_biogenic_co2_removals: None,
        biogenic_co2_uptake: None,
        biogenic_non_co2_emissions: None,
        land_area_occupation: None,
        aircraft_ghg_emissions: None,
        packaging_emissions_included: Some(false),
        packaging_ghg_emissions: None,
        packaging_biogenic_carbon_content: None,
        outbound_logistics_ghg_emissions: None,
        ccs_technological_co2_capture_included: None,
        ccs_technological_co2_capture: None,
        technological_co2_capture_origin: None,
        technological_co2_removals: None,
        ccu_carbon_content: None,
        ccu_calculation_approach: None,
        ccu_credit_certification: None,
        // The shipped factors (UK DESNZ 2024) use AR5 100-year GWPs.
        ipcc_characterization_factors: vec!["AR5".into()],
        cross_sectoral_standards: vec!["ISO14083".into()],
        product_or_sector_specific_rules: None,
        exempted_emissions_percent: PactDecimal::new("0"),
        exempted_emissions_description: None,
        allocation_rules_description: Some(
            "ISO 14083 §13: a TOC's emissions allocated to its shipments by transport \
             activity (t·km)"
                .into(),
        ),
        secondary_emission_factor_sources: secondary.then(|| {
            vec![EmissionFactorSource {
                name: "UK DESNZ GHG conversion factors".into(),
                version: "2024".into(),
            }]
        }),
        primary_data_share: Some(d(share)),
        dqi: None,
        verification: None,
    };
    Ok(ProductFootprint {
        id: id.to_string(),
        spec_version: SPEC_VERSION.into(),
        preceding_pf_ids: None,
        created: created.to_string(),
        status: Status::Active,
        validity_period_start: None,
        validity_period_end: None,
        company_name: carrier.company_name.to_string(),
        company_ids: vec![carrier.company_id.to_string()],
        product_description: format!(
            "Logistics emissions of shipment {shipment} (ISO 14083, well-to-wheel)"
        ),
        product_ids: vec![product_id(shipment)],
        product_classifications: Some(vec![CLASSIFICATION.into()]),
        product_name_company: format!("Shipment {shipment}"),
        comment: None,
        pcf,
        extensions: extensions.into(),
    })
}

/// What publishing a chain's shipments would do, given the carrier's own footprints.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    /// Footprints to publish, in shipment order; one replacing an earlier version names it
    /// in `precedingPfIds` (so publishing deprecates it).
    pub new: Vec<ProductFootprint>,
    /// (shipment, footprint id) of shipments whose active footprint already carries the same
    /// ShipmentFootprint and customers: nothing to publish.
    pub unchanged: Vec<(String, String)>,
}

/// Plans the footprints of `shipments` (all shipments of the chain when empty): a shipment
/// whose Active own footprint (in `own`) already carries the same figures is left alone,
/// so publishing the same legs twice changes nothing; a changed one gets a new version
/// that supersedes the old. `new_id` gives each new footprint its id.
pub fn plan(
    chain: &Chain,
    rollup: &Rollup,
    shipments: &[String],
    carrier: Carrier<'_>,
    own: &[ProductFootprint],
    created: &str,
    mut new_id: impl FnMut() -> String,
) -> Result<Publication, LogisticsError> {
    let mut wanted: Vec<String> = if shipments.is_empty() {
        rollup.per_shipment.keys().map(|s| s.to_string()).collect()
    } else {
        shipments.to_vec()
    };
    wanted.sort();
    wanted.dedup();
    let mut out = Publication::default();
    for shipment in wanted {
        let mut fp = product_footprint(chain, rollup, &shipment, carrier, "", created)?;
        let pid = product_id(&shipment);
        let current = own.iter().find(|o| {
            o.status == Status::Active && o.product_ids.iter().any(|p| p.eq_ignore_ascii_case(&pid))
        });
        if let Some(cur) = current {
            let same = tanso_model::pact::ileap::shipment_in(cur).ok().flatten()
                == tanso_model::pact::ileap::shipment_in(&fp).ok().flatten()
                && tanso_model::pact::ileap::customers_of(cur)
                    == tanso_model::pact::ileap::customers_of(&fp);
            if same {
                out.unchanged.push((shipment, cur.id.clone()));
                continue;
            }
            fp.preceding_pf_ids = Some(vec![cur.id.clone()]);
        }
        fp.id = new_id();
        out.new.push(fp);
    }
    Ok(out)
}
