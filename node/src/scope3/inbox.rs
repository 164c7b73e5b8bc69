//! Supplier PCFs for Scope 3 and composition, read from received PACT footprints.

use rust_decimal::Decimal;
use serde_json::Value;

use super::Dqi;
use super::supplier::SupplierPcf;

fn dec(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The supplier view of one PACT footprint (full view); `None` for summary views or
/// footprints missing the figures a calculation needs.
pub fn supplier_pcf(doc: &Value) -> Option<SupplierPcf> {
    let pcf = doc.get("pcf")?;
    let dqi = pcf.get("dqi").and_then(|d| {
        Some(Dqi {
            technological: dec(d.get("technologicalDQR")?)?,
            geographical: dec(d.get("geographicalDQR")?)?,
            temporal: dec(d.get("temporalDQR")?)?,
        })
    });
    Some(SupplierPcf {
        footprint_id: doc.get("id")?.as_str()?.to_string(),
        company_id: strings(doc.get("companyIds")?).into_iter().next()?,
        product_ids: strings(doc.get("productIds")?),
        declared_unit: pcf.get("declaredUnitOfMeasurement")?.as_str()?.to_string(),
        declared_unit_amount: dec(pcf.get("declaredUnitAmount")?)?,
        pcf_excluding_biogenic_uptake: dec(pcf.get("pcfExcludingBiogenicUptake")?)?,
        primary_data_share: pcf.get("primaryDataShare").and_then(dec),
        dqi,
        reference_period_end: pcf.get("referencePeriodEnd")?.as_str()?.to_string(),
        status_active: doc.get("status").and_then(Value::as_str) != Some("Deprecated"),
        ipcc_characterization_factors: strings(
            pcf.get("ipccCharacterizationFactors")
                .unwrap_or(&Value::Null),
        ),
        geography_country: pcf
            .get("geographyCountry")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Supplier PCFs of every usable document.
pub fn supplier_pcfs<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Vec<SupplierPcf> {
    docs.into_iter().filter_map(supplier_pcf).collect()
}
