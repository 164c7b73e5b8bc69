//! Demo: the example ledger and BOMs through the public API.
//!
//! `cargo run --example demo_scope3 -- [table|json|csv|md]` prints the Scope 3 report
//! for the example ledger, then the composed PACT v3 footprint of `bom_frame.json`.

use node::scope3::{
    FactorLibrary, Format, ReportOptions, SupplierIndex, SupplierPcf, calculate, compose, load_bom,
    load_ledger,
};
use std::path::PathBuf;

fn main() {
    let format = std::env::args()
        .nth(1)
        .and_then(|f| Format::parse(&f))
        .unwrap_or(Format::Table);
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/examples"));
    let inbox: Vec<SupplierPcf> =
        serde_json::from_str(&std::fs::read_to_string(data.join("inbox.json")).expect("inbox"))
            .expect("inbox json");
    let suppliers = SupplierIndex::new(inbox);
    let factors = FactorLibrary::builtin();
    let ledger = load_ledger(&data.join("ledger")).unwrap_or_else(|e| panic!("{e}"));
    let opts = ReportOptions {
        year: Some(2025),
        ..Default::default()
    };
    let report = calculate(&ledger, &factors, &suppliers, &opts).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.render(format));
    let bom = load_bom(&data.join("bom_frame.json")).unwrap_or_else(|e| panic!("{e}"));
    let composed = compose(&bom, &factors, &suppliers).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{}",
        serde_json::to_string_pretty(&composed.footprint).expect("json")
    );
}
