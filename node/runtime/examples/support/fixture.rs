//! Fixtures the benches share (bench_core, bench_publish, bench_connections): the same
//! footprint, ids and /proc reading, so their figures compare. Included with `#[path]`, not
//! an example of its own; each bench uses what it needs of it.
#![allow(dead_code)]

use serde_json::{Value, json};

/// A valid PACT v3 footprint of `company` with `id`, for product number `n`.
pub(crate) fn footprint(company: &str, id: &str, n: usize) -> Value {
    json!({
        "id": id,
        "specVersion": "3.0.3",
        "created": "2026-02-01T00:00:00Z",
        "status": "Active",
        "companyName": "Bench Supplier",
        "companyIds": [company],
        "productDescription": "hot-rolled coil, bench product",
        "productIds": [format!("urn:tanso:bench-supplier:product:{n}")],
        "productClassifications": ["urn:hs:7208"],
        "productNameCompany": format!("Coil {n}"),
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2025-01-01T00:00:00Z",
            "referencePeriodEnd": "2026-01-01T00:00:00Z",
            "geographyCountry": "KR",
            "pcfExcludingBiogenicUptake": format!("2.{}", n % 1000),
            "pcfIncludingBiogenicUptake": format!("2.{}", n % 1000),
            "fossilCarbonContent": "0",
            "fossilGhgEmissions": format!("2.{}", n % 1000),
            "packagingEmissionsIncluded": false,
            "ccsTechnologicalCO2CaptureIncluded": false,
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["ISO14067"],
            "exemptedEmissionsPercent": "0",
            "primaryDataShare": "60",
            "dqi": {"technologicalDQR": "2", "geographicalDQR": "1", "temporalDQR": "1"}
        }
    })
}

/// A distinct uuid (v4 layout) for footprint number `n`.
pub(crate) fn bench_uuid(n: usize) -> String {
    format!("b0000000-0000-4000-8000-{n:012x}")
}

/// A `kB` field (e.g. VmRSS) of a `/proc/.../status` file.
pub(crate) fn proc_status_kib(path: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
