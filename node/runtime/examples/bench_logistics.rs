//! Budget check of the logistics calculations (#20):
//! - 1,000,000 shipment legs (200,000 shipments of 5 legs, 5,000 customers, 12 months, 20
//!   TOCs) → ISO 14083 TCEs rolled up per shipment, customer and month: < 2 s, < 512 MiB peak
//!   RSS (the legs held in memory included);
//! - a year of daily fuel records for 500 vehicles and daily electricity records for 20 sites
//!   (189,800 rows of CSV) → parsed, validated and calculated into the monthly inventory per
//!   department and team, with its KPI measures: < 200 ms.
//!
//! Inputs are generated before the clock starts. Run with
//! `cargo run --release --example bench_logistics` (benches/run-all.sh runs it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use node::inventory;
use node::kpi::Period;
use node::logistics::{Chain, Distance, Leg, Toc, calculate};
use node::scope3::FactorLibrary;
use rust_decimal::Decimal;

const LEGS: usize = 1_000_000;
const LEGS_PER_SHIPMENT: usize = 5;
const VEHICLES: usize = 500;
const SITES: usize = 20;

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

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// `bench_logistics` runs both parts; `bench_logistics inventory` (or `legs`) one of them.
fn main() {
    let library = FactorLibrary::builtin();
    let only = std::env::args().nth(1);
    if only.as_deref() != Some("inventory") {
        legs(&library);
    }
    if only.as_deref() != Some("legs") {
        inventory_year(&library);
    }
}

fn legs(library: &FactorLibrary) {
    // --- 1,000,000 legs.
    let defaults = [
        "road-hgv-diesel-average",
        "rail-freight",
        "sea-container-average",
        "air-international-without-rf",
    ];
    let tocs: Vec<Toc> = (0..20)
        .map(|i| Toc::default_for(defaults[i % defaults.len()], library).expect("default toc"))
        .collect();
    let customers: Vec<Arc<str>> = (0..5_000)
        .map(|i| Arc::from(format!("customer-{i}").as_str()))
        .collect();
    let mut legs = Vec::with_capacity(LEGS);
    let mut shipment: Arc<str> = Arc::from("");
    for i in 0..LEGS {
        if i % LEGS_PER_SHIPMENT == 0 {
            shipment = Arc::from(format!("S-{:07}", i / LEGS_PER_SHIPMENT).as_str());
        }
        let n = i as u64;
        legs.push(Leg {
            shipment: shipment.clone(),
            customer: customers[(i / LEGS_PER_SHIPMENT) % customers.len()].clone(),
            month: Period::month(2024, (i / LEGS_PER_SHIPMENT % 12) as u32 + 1),
            mass_t: Decimal::new((n % 400 + 1) as i64, 1),
            distance: if i % 3 == 0 {
                Distance::ShortestFeasible {
                    km: Decimal::from(n % 900 + 10),
                    adjustment: Decimal::new(105, 2),
                }
            } else {
                Distance::Actual(Decimal::new((n % 9000 + 100) as i64, 1))
            },
            toc: i % tocs.len(),
            origin: None,
            destination: None,
        });
    }
    let chain = Chain {
        tocs,
        legs,
        ..Chain::default()
    };
    let start = Instant::now();
    let rollup = calculate(&chain).expect("valid chain");
    let seconds = start.elapsed().as_secs_f64();
    let peak_mib = vm_hwm_kib().map(|k| k as f64 / 1024.0);
    println!(
        "legs: {} TCEs, {} shipments, {} customers, {} months; total WTW {} t in {seconds:.3} s",
        rollup.tces.len(),
        rollup.per_shipment.len(),
        rollup.per_customer.len(),
        rollup.per_month.len(),
        (rollup.total.wtw_kg / Decimal::ONE_THOUSAND).round_dp(1)
    );
    println!(
        "BUDGET logistics_1m_legs_seconds {seconds:.3} <2 {}",
        verdict(seconds < 2.0)
    );
    println!(
        "BUDGET logistics_1m_legs_peak_rss_mib {} <512 {}",
        peak_mib.map_or_else(|| "?".into(), |m| format!("{m:.0}")),
        verdict(peak_mib.is_some_and(|m| m < 512.0))
    );
    drop((chain, rollup));
}

fn inventory_year(library: &FactorLibrary) {
    // --- a year of daily fuel and electricity records.
    let mut fuel = String::from("date,department,team,asset,use,fuel,quantity,unit\n");
    let mut electricity =
        String::from("date,department,team,site,grid,energy_type,quantity,unit\n");
    let days_in = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (m, days) in days_in.iter().enumerate() {
        for d in 1..=*days {
            for v in 0..VEHICLES {
                let _ = writeln!(
                    fuel,
                    "2024-{:02}-{d:02},Department {},Team {},V-{v:03},mobile,diesel,{}.{},litre",
                    m + 1,
                    v % 5,
                    v % 25,
                    40 + (v + d) % 60,
                    v % 10
                );
            }
            for s in 0..SITES {
                let _ = writeln!(
                    electricity,
                    "2024-{:02}-{d:02},Department {},Team {},Site {s},KR,electricity,{},kWh",
                    m + 1,
                    s % 5,
                    s % 25,
                    800 + (s * 37 + d) % 400
                );
            }
        }
    }
    let rows = fuel.lines().count() + electricity.lines().count() - 2;
    let start = Instant::now();
    let ledger = inventory::read_inventory_text([
        ("fuel.csv", fuel.as_str()),
        ("electricity.csv", electricity.as_str()),
    ])
    .into_result()
    .expect("valid ledger");
    let parsed = start.elapsed();
    let inv = inventory::calculate(&ledger, library).expect("inventory");
    let measures = inv.measures(None);
    let by_department = inv.by_department();
    let seconds = start.elapsed().as_secs_f64();
    let year = inv.by_year()[&2024];
    println!(
        "inventory: {rows} rows, {} lines, {} departments, {} measure values; parse {:.3} s, calculate {:.3} s; Scope 1 {} t, Scope 2 {} t",
        inv.lines.len(),
        by_department.len(),
        measures.rows().len(),
        parsed.as_secs_f64(),
        seconds - parsed.as_secs_f64(),
        year.scope1().tonnes().round_dp(1),
        year.scope2_location.tonnes().round_dp(1)
    );
    let ms = seconds * 1000.0;
    println!(
        "BUDGET inventory_year_500_vehicles_ms {ms:.0} <200 {}",
        verdict(ms < 200.0)
    );
}
