//! Rough evaluation cost: loads three shipped templates and times `PolicySet::evaluate`.
//!
//! Run with `cargo run --release --example bench_policy`. Plain `Instant` timing,
//! not a statistical benchmark: it guards the "well under 1 µs" budget by eye.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Utc};
use node::policy::{AccessRequest, Action, Partner, Policy, PolicySet};

const TEMPLATES: [(&str, &str); 3] = [
    (
        "share-with-customers.json",
        include_str!("../../../policies/share-with-customers.json"),
    ),
    (
        "summary-for-prospects.json",
        include_str!("../../../policies/summary-for-prospects.json"),
    ),
    (
        "deny-competitors.json",
        include_str!("../../../policies/deny-competitors.json"),
    ),
];

fn main() {
    let mut set = PolicySet::new();
    for (name, src) in TEMPLATES {
        set.add(Policy::parse(name, src).expect("template loads"));
    }
    let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().expect("timestamp");
    let ids = vec!["urn:gtin:4012345000009".to_owned()];
    let classes = vec!["urn:hs:720851".to_owned()];
    let partners = [
        (
            "customer (permit full)",
            vec!["tier1", "customer"],
            Some("scope3-reporting"),
        ),
        (
            "prospect (permit summary)",
            vec!["prospect"],
            Some("supplier-selection"),
        ),
        ("supplier (default deny)", vec!["supplier"], None),
        (
            "competitor (prohibited)",
            vec!["customer", "competitor"],
            None,
        ),
    ];
    const N: u32 = 2_000_000;
    let mut total_ns = 0.0;
    for (label, groups, purpose) in &partners {
        let partner = Partner {
            company_id: "urn:tanso:company:acme".into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..Partner::default()
        };
        let req = AccessRequest {
            partner: &partner,
            action: Action::Read,
            purpose: *purpose,
            now,
            product_ids: &ids,
            classifications: &classes,
            customers: &[],
            requests_today: 10,
        };
        println!("{label}: {}", set.evaluate(&req));
        let start = Instant::now();
        for _ in 0..N {
            black_box(set.evaluate(black_box(&req)));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(N);
        total_ns += ns;
        println!("  {ns:.1} ns/eval");
    }
    let mean_ns = total_ns / partners.len() as f64;
    println!(
        "mean over cases: {mean_ns:.1} ns/eval ({} policies)",
        set.len()
    );
    // "Well under 1 µs" per decision.
    println!(
        "BUDGET policy_eval_ns {mean_ns:.1} <1000 {}",
        if mean_ns < 1000.0 { "PASS" } else { "MISS" }
    );
}
