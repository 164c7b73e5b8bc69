//! `tanso demo`, the newcomer's first command: every part runs and tells its figures.

use std::process::Command;

#[test]
fn demo_runs_the_exchange_and_the_buyers_part() {
    let out = Command::new(env!("CARGO_BIN_EXE_tanso"))
        .arg("demo")
        .env_remove("TANSO_HOME")
        .output()
        .expect("run tanso demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tanso demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |n: u32| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n}. ")))
            .unwrap_or_else(|| panic!("no step {n}: {stdout}"))
            .to_string()
    };
    // Parts one and two still run.
    for n in 1..=23 {
        line(n);
    }
    // Part three, figures by hand (node/runtime/src/demo/oem/): 1,200 t × 1.95 + 800 t × 2.35 +
    // 300 t × 2.1 = 4,850 t from supplier footprints; tyres 2,000,000,000 KRW × 0.00073 USD
    // × 0.95 (to 2022 USD) × 0.276 kgCO2e/USD = 382,812 kg; total 5,232.812 t, primary
    // 4,850 / 5,232.812 = 92.68 %.
    let s3 = line(24);
    assert!(s3.contains("5232.8 tCO2e"), "{s3}");
    assert!(s3.contains("92.7 % of it primary data"), "{s3}");
    assert!(s3.contains("3 signed supplier footprints"), "{s3}");
    // 9.5 × 2.35 + 1.2 × 2.1 + 1.8 = 26.645; PDS (9.5·2.35·55 + 1.2·2.1·60 + 1.8·100) /
    // 26.645 = 58.51 %.
    let composed = line(25);
    assert!(composed.contains("26.645 kgCO2e per piece"), "{composed}");
    assert!(composed.contains("primary data share 58.5 %"), "{composed}");
    // 7,300 t × 0.5^(5/10) = 5,161.9 t allowed in 2025; achievement (7,300 − 5,232.8) /
    // (7,300 − 5,161.9) = 96.7 %.
    let kpi = line(26);
    assert!(kpi.contains("5232.8 t in 2025"), "{kpi}");
    assert!(kpi.contains("allows 5161.9 t"), "{kpi}");
    assert!(kpi.contains("6.70 %/yr"), "{kpi}");
    assert!(kpi.contains("achievement 96.7 %"), "{kpi}");
    assert!(kpi.contains("off track"), "{kpi}");
    // Part four: three tenants of one host, each fetched through its one port, and a guess
    // at another tenant's footprint finding nothing.
    let hosted = |n: u32| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("H{n}. ")))
            .unwrap_or_else(|| panic!("no hosted step {n}: {stdout}"))
            .to_string()
    };
    let endpoint = |l: &str| {
        l.split("advertise the host's endpoint ")
            .nth(1)
            .or_else(|| l.split("advertises the host's endpoint ").nth(1))
            .and_then(|r| r.split(' ').next())
            .map(str::to_string)
    };
    let endpoints: Vec<_> = (1..=3).map(|n| endpoint(&hosted(n))).collect();
    assert!(endpoints[0].is_some(), "{}", hosted(1));
    assert!(
        endpoints.iter().all(|e| *e == endpoints[0]),
        "one port: {endpoints:?}"
    );
    assert!(hosted(4).contains("3.10 kgCO2e/kg"), "{}", hosted(4));
    assert!(hosted(5).contains("4.75 kgCO2e/kg"), "{}", hosted(5));
    assert!(hosted(6).contains("2.60 kgCO2e/kg"), "{}", hosted(6));
    assert!(hosted(7).contains("finds nothing"), "{}", hosted(7));
    // The logistics part: the carrier's figures (hand computation in
    // data/examples/a-logistics/README.md) become the OEM's category 4 as primary data:
    // 992.7171 + 138.0654 = 1,130.7825 kg from the carrier, + 4 t × 60 km × 0.08 = 19.2 kg by
    // default = 1,149.9825 kg; primary share 1,130.7825 / 1,149.9825 × 100 = 98.33 %.
    let logistics = |n: u32| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("L{n}. ")))
            .unwrap_or_else(|| panic!("no line L{n}. in\n{stdout}"))
    };
    assert!(
        logistics(1).contains("AL-2026-0001 992.7171 kg"),
        "{}",
        logistics(1)
    );
    assert!(
        logistics(2).contains("publishes 3 signed"),
        "{}",
        logistics(2)
    );
    assert!(logistics(2).contains("(3 unchanged)"), "{}", logistics(2));
    assert!(logistics(4).contains("Other Co asks for the same shipments and receives nothing"));
    assert!(
        logistics(5).contains("category 4: 1149.9825 kgCO2e, of which 1130.7825 from the carrier"),
        "{}",
        logistics(5)
    );
    assert!(
        logistics(5).contains("primary-data share 98.33 %"),
        "{}",
        logistics(5)
    );
    // Part six: A Logistics' monitoring views, as its dashboard's GET /api/monitor serves
    // them; the yearly totals are the KPI guide's, computed from the ledgers.
    let monitor = |n: u32| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("M{n}. ")))
            .unwrap_or_else(|| panic!("no monitoring step {n}: {stdout}"))
            .to_string()
    };
    assert!(
        monitor(1).contains("2022 5200.0 t, 2023 4550.0 t (-12.5 %), 2024 3900.0 t (-25.0 %)"),
        "{}",
        monitor(1)
    );
    let executive = monitor(2);
    assert!(
        executive.starts_with("M2. Executive view, 2024-12: "),
        "{executive}"
    );
    assert_eq!(
        executive.matches(" on last year, ").count(),
        5,
        "{executive}"
    );
    assert!(
        monitor(3).contains("probability of meeting the 2030 target"),
        "{}",
        monitor(3)
    );
    let ranking = monitor(5);
    for d in ["Trunk haulage", "Last-mile delivery", "Warehousing"] {
        assert!(ranking.contains(d), "{ranking}");
    }
    assert!(ranking.contains("1. "), "{ranking}");
    let plans = monitor(6);
    assert_eq!(plans.matches("AP-20").count(), 4, "{plans}");
    assert!(monitor(7).contains("of 6 teams"), "{}", monitor(7));
    // Short output: one line per step, no login link without --keep.
    assert!(stdout.lines().count() < 75, "{stdout}");
    assert!(!stdout.contains("/login/token/"), "{stdout}");
}
