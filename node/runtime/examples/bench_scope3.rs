//! Budget check: 1,000,000 purchase lines against 100,000 inbox footprints.
//!
//! Writes a temporary purchases CSV (not timed), then times the real path: build the
//! supplier index, parse and validate the CSV, calculate. Prints seconds and peak RSS
//! (VmHWM). Run with `cargo run --release --example bench_scope3`.

use node::scope3::{
    FactorLibrary, ReportOptions, SupplierIndex, SupplierPcf, calculate, load_ledger,
};
use rust_decimal::Decimal;
use std::io::Write;
use std::time::Instant;

const LINES: usize = 1_000_000;
const PCFS: usize = 100_000;

fn vm_hwm() -> String {
    vm_hwm_kib().map_or_else(|| "n/a".into(), |k| format!("{k} kB"))
}

fn vm_hwm_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("tanso-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("purchases.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create csv"));
        writeln!(w, "description,supplier_company_id,supplier_country,product_id,quantity,unit,spend,currency,spend_year,naics,material").unwrap();
        for i in 0..LINES {
            match i % 10 {
                // 80 %: supplier-specific, product in the inbox
                0..=7 => writeln!(
                    w,
                    "part {i},,KR,urn:pact:supplier{}.example:product-id:p{},{}.5,kg,,,,,",
                    (i % PCFS) % 97,
                    i % PCFS,
                    i % 1000 + 1
                ),
                // 10 %: spend-based
                8 => writeln!(w, "service {i},,US,,,,{}.25,USD,2022,331110,", i % 5000 + 1),
                // 10 %: average-data
                _ => writeln!(w, "steel {i},,KR,,{}.125,t,,,,,steel", i % 50 + 1),
            }
            .unwrap();
        }
    }
    let pcfs: Vec<SupplierPcf> = (0..PCFS)
        .map(|i| SupplierPcf {
            footprint_id: format!("00000000-0000-4000-8000-{i:012}"),
            company_id: format!("urn:pact:supplier{}.example:company:1", i % 97),
            product_ids: vec![format!(
                "urn:pact:supplier{}.example:product-id:p{i}",
                i % 97
            )],
            declared_unit: "kilogram".into(),
            declared_unit_amount: Decimal::ONE,
            pcf_excluding_biogenic_uptake: Decimal::new(2100 + (i % 500) as i64, 3),
            primary_data_share: Some(Decimal::new(60, 0)),
            dqi: None,
            reference_period_end: "2025-01-01T00:00:00Z".into(),
            status_active: true,
            ipcc_characterization_factors: vec!["AR6".into()],
            geography_country: Some("KR".into()),
            figures: Default::default(),
            shipment: None,
        })
        .collect();
    let factors = FactorLibrary::builtin();
    let opts = ReportOptions {
        year: Some(2025),
        ..Default::default()
    };

    let t0 = Instant::now();
    let index = SupplierIndex::new(pcfs);
    let t_index = t0.elapsed();
    let ledger = load_ledger(&path).unwrap_or_else(|e| panic!("{e}"));
    let t_parse = t0.elapsed();
    let report = calculate(&ledger, &factors, &index, &opts).unwrap_or_else(|e| panic!("{e}"));
    let t_all = t0.elapsed();

    println!(
        "lines: {}, inbox footprints: {}",
        report.lines.len(),
        index.len()
    );
    println!(
        "total: {} tCO2e, primary data share: {:?} %",
        node::rounding::round(report.total.tonnes(), 3),
        report
            .primary_data_share_pct
            .map(|p| node::rounding::round(p, 2))
    );
    println!(
        "index: {:.3} s, parse+validate: {:.3} s, calculate: {:.3} s",
        t_index.as_secs_f64(),
        (t_parse - t_index).as_secs_f64(),
        (t_all - t_parse).as_secs_f64()
    );
    println!("seconds (index+parse+compute): {:.3}", t_all.as_secs_f64());
    println!("peak RSS (VmHWM): {}", vm_hwm());
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let seconds = t_all.as_secs_f64();
    println!(
        "BUDGET scope3_seconds {seconds:.3} <2 {}",
        verdict(seconds < 2.0)
    );
    let peak_mib = vm_hwm_kib().map(|k| k as f64 / 1024.0);
    println!(
        "BUDGET scope3_peak_rss_mib {} <1024 {}",
        peak_mib.map_or_else(|| "?".into(), |m| format!("{m:.0}")),
        verdict(peak_mib.is_some_and(|m| m < 1024.0))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
