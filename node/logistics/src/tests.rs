//! Worked examples, one per mode, a hub and a multi-leg chain; each with its hand computation.

use std::sync::{Arc, LazyLock};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tanso_calc::kpi::Period;
use tanso_calc::scope3::FactorLibrary;

use crate::*;

static LIB: LazyLock<FactorLibrary> = LazyLock::new(FactorLibrary::builtin);

fn leg(
    shipment: &str,
    customer: &str,
    month: u32,
    mass_t: Decimal,
    distance: Distance,
    toc: usize,
) -> Leg {
    Leg {
        shipment: Arc::from(shipment),
        customer: Arc::from(customer),
        month: Period::month(2024, month),
        mass_t,
        distance,
        toc,
        origin: None,
        destination: None,
    }
}

/// A carrier's trucks used 10,000 litres of diesel for 100,000 t·km (DESNZ 2024 diesel,
/// average biofuel blend: 2.51279 kg/l combustion, 0.61101 kg/l supply).
/// TTW 10,000 × 2.51279 = 25,127.9 kg; WTW + 10,000 × 0.61101 = 31,238 kg.
/// Per t·km: TTW 0.251279, WTW 0.31238.
fn truck() -> Toc {
    let energy = [EnergyUse {
        carrier: EnergyCarrier::Diesel,
        quantity: dec!(10000),
        grid: None,
    }];
    Toc::from_energy(
        "kr-road-ftl",
        Mode::Road,
        "40 t articulated, FTL",
        &energy,
        dec!(100000),
        &LIB,
    )
    .unwrap()
}

#[test]
fn road_from_the_carriers_fuel_allocated_by_tkm() {
    let toc = truck();
    assert_eq!(toc.basis, Basis::Primary);
    assert_eq!(toc.intensity.ttw, dec!(0.251279));
    assert_eq!(toc.intensity.wtw, dec!(0.31238));
    assert!(toc.factors[0].starts_with("desnz-2024:1_101_1011_8_1 = 2.51279 kgCO2e/litre"));
    // A: 20 t × 250 km actual = 5,000 t·km → WTW 5,000 × 0.31238 = 1,561.9; TTW 1,256.395.
    // B: 10 t × 400 km shortest feasible × 1.05 adjustment = 4,200 t·km
    //    → WTW 4,200 × 0.31238 = 1,311.996; TTW 4,200 × 0.251279 = 1,055.3718.
    let chain = Chain {
        tocs: vec![toc],
        legs: vec![
            leg(
                "A",
                "Shipper 1",
                3,
                dec!(20),
                Distance::Actual(dec!(250)),
                0,
            ),
            leg(
                "B",
                "Shipper 2",
                3,
                dec!(10),
                Distance::ShortestFeasible {
                    km: dec!(400),
                    adjustment: dec!(1.05),
                },
                0,
            ),
        ],
        ..Chain::default()
    };
    let r = calculate(&chain).unwrap();
    assert_eq!(r.per_shipment["A"].wtw_kg, dec!(1561.9));
    assert_eq!(r.per_shipment["A"].ttw_kg, dec!(1256.395));
    assert_eq!(r.per_shipment["B"].tkm, dec!(4200));
    assert_eq!(r.per_shipment["B"].wtw_kg, dec!(1311.996));
    assert_eq!(r.per_shipment["B"].ttw_kg, dec!(1055.3718));
    // Allocation by t·km: the two shipments carry 9,200 of the TOC's 100,000 t·km, so they
    // bear 9.2 % of its 31,238 kg: 2,873.896 kg.
    assert_eq!(r.per_month[&Period::month(2024, 3)].wtw_kg, dec!(2873.896));
    assert_eq!(r.per_customer["Shipper 2"].wtw_kg, dec!(1311.996));
}

#[test]
fn road_modelled_from_load_factor_and_empty_running() {
    // 0.36 l/km, 25 t payload, load factor 0.6, 20 % of distance empty:
    // litres per t·km = 0.36 ÷ (0.8 × 25 × 0.6) = 0.36 ÷ 12 = 0.03.
    // TTW 0.03 × 2.51279 = 0.0753837; WTW + 0.03 × 0.61101 = 0.093714 kg/t·km.
    let toc = Toc::modelled(
        "kr-road-model",
        Mode::Road,
        "rigid 25 t payload",
        EnergyCarrier::Diesel,
        dec!(0.36),
        dec!(25),
        dec!(0.6),
        dec!(0.2),
        &LIB,
    )
    .unwrap();
    assert_eq!(toc.basis, Basis::Modelled);
    assert_eq!(toc.intensity.ttw, dec!(0.0753837));
    assert_eq!(toc.intensity.wtw, dec!(0.093714));
    let bad = Toc::modelled(
        "x",
        Mode::Road,
        "",
        EnergyCarrier::Diesel,
        dec!(0.3),
        dec!(25),
        dec!(1.2),
        dec!(0),
        &LIB,
    );
    assert_eq!(
        bad.unwrap_err().to_string(),
        "TOC `x`: load factor is 1.2: must be above 0 and at most 1"
    );
}

#[test]
fn rail_sea_and_air_defaults_from_desnz_2024() {
    // Rail freight train: TTW 0.02779, WTT 0.00691 → WTW 0.0347 kg/t·km.
    // 500 t × 600 km = 300,000 t·km → WTW 10,410 kg, TTW 8,337 kg.
    let rail = Toc::default_for("rail-freight", &LIB).unwrap();
    assert_eq!(
        rail.intensity,
        Intensity {
            wtw: dec!(0.0347),
            ttw: dec!(0.02779)
        }
    );
    // Container ship, average: 0.01612 + 0.00365 = 0.01977.
    // 12 t × 19,500 km = 234,000 t·km → WTW 4,626.18, TTW 3,772.08.
    let sea = Toc::default_for("sea-container-average", &LIB).unwrap();
    // International air freight without RF: 0.64875 + 0.13516 = 0.78391; with RF 1.09904 + 0.13516 = 1.2342.
    // 2 t × 8,800 km = 17,600 t·km → WTW 13,796.816 (without RF), 21,721.92 (with RF); TTW 11,418.
    let air = Toc::default_for("air-international-without-rf", &LIB).unwrap();
    let air_rf = Toc::default_for("air-international-with-rf", &LIB).unwrap();
    assert_eq!(rail.basis, Basis::Default);
    let chain = Chain {
        tocs: vec![rail, sea, air, air_rf],
        legs: vec![
            leg("R", "C", 1, dec!(500), Distance::Actual(dec!(600)), 0),
            leg("S", "C", 1, dec!(12), Distance::Actual(dec!(19500)), 1),
            leg("A", "C", 1, dec!(2), Distance::Actual(dec!(8800)), 2),
            leg("ARF", "C", 1, dec!(2), Distance::Actual(dec!(8800)), 3),
        ],
        ..Chain::default()
    };
    let r = calculate(&chain).unwrap();
    assert_eq!(
        (r.per_shipment["R"].wtw_kg, r.per_shipment["R"].ttw_kg),
        (dec!(10410), dec!(8337))
    );
    assert_eq!(
        (r.per_shipment["S"].wtw_kg, r.per_shipment["S"].ttw_kg),
        (dec!(4626.18), dec!(3772.08))
    );
    assert_eq!(
        (r.per_shipment["A"].wtw_kg, r.per_shipment["A"].ttw_kg),
        (dec!(13796.816), dec!(11418))
    );
    assert_eq!(r.per_shipment["ARF"].wtw_kg, dec!(21721.92));
}

#[test]
fn inland_waterway_needs_the_carriers_energy() {
    // No open default for inland waterways: asking for one names the shipped keys.
    let err = Toc::default_for("inland-waterway", &LIB)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("no default TOC `inland-waterway` (shipped: road-hgv-diesel-average"),
        "{err}"
    );
    // A barge operator used 4,000 l of marine gas oil for 400,000 t·km (DESNZ 2024 MGO:
    // 2.77139 kg/l combustion, 0.62665 kg/l supply). TTW 11,085.56 kg, WTW 13,592.16 kg;
    // per t·km TTW 0.0277139, WTW 0.0339804. 50 t × 300 km = 15,000 t·km
    // → WTW 509.706, TTW 415.7085.
    let barge = Toc::from_energy(
        "rhine-barge",
        Mode::InlandWaterway,
        "motor barge",
        &[EnergyUse {
            carrier: EnergyCarrier::MarineGasOil,
            quantity: dec!(4000),
            grid: None,
        }],
        dec!(400000),
        &LIB,
    )
    .unwrap();
    assert_eq!(
        barge.intensity,
        Intensity {
            wtw: dec!(0.0339804),
            ttw: dec!(0.0277139)
        }
    );
    let chain = Chain {
        tocs: vec![barge],
        legs: vec![leg("W", "C", 2, dec!(50), Distance::Actual(dec!(300)), 0)],
        ..Chain::default()
    };
    let r = calculate(&chain).unwrap();
    assert_eq!(r.total.wtw_kg, dec!(509.706));
    assert_eq!(r.total.ttw_kg, dec!(415.7085));
}

/// A warehouse used 50,000 kWh from the Korean grid (0.4173 tCO2e/MWh = 0.4173 kg/kWh, all
/// well-to-tank) and 2,000 l of diesel in forklifts, for 10,000 t leaving it.
/// WTW 50,000 × 0.4173 + 2,000 × (2.51279 + 0.61101) = 20,865 + 6,247.6 = 27,112.6 kg;
/// TTW 2,000 × 2.51279 = 5,025.58 kg. Per tonne: WTW 2.71126, TTW 0.502558.
fn warehouse() -> Hoc {
    let energy = [
        EnergyUse {
            carrier: EnergyCarrier::Electricity,
            quantity: dec!(50000),
            grid: Some("KR".into()),
        },
        EnergyUse {
            carrier: EnergyCarrier::Diesel,
            quantity: dec!(2000),
            grid: None,
        },
    ];
    Hoc::from_energy(
        "icheon-dc",
        HubType::Warehouse,
        "Icheon DC, ambient",
        &energy,
        dec!(10000),
        &LIB,
    )
    .unwrap()
}

#[test]
fn hub_from_energy_and_throughput() {
    let hoc = warehouse();
    assert_eq!(
        hoc.intensity,
        Intensity {
            wtw: dec!(2.71126),
            ttw: dec!(0.502558)
        }
    );
    // 20 t through the hub: WTW 54.2252, TTW 10.05116.
    let chain = Chain {
        hocs: vec![hoc],
        hubs: vec![HubStop {
            shipment: Arc::from("H"),
            customer: Arc::from("C"),
            month: Period::month(2024, 4),
            mass_t: dec!(20),
            hoc: 0,
        }],
        ..Chain::default()
    };
    let r = calculate(&chain).unwrap();
    assert_eq!(r.total.wtw_kg, dec!(54.2252));
    assert_eq!(r.total.ttw_kg, dec!(10.05116));
    assert_eq!(r.total.tonnes_handled, dec!(20));
}

#[test]
fn multi_leg_chain_sums_its_elements_and_becomes_an_ileap_shipment_footprint() {
    // S-100, 20 t: truck 250 km (1,561.9 / 1,256.395) → warehouse (54.2252 / 10.05116)
    // → container ship 19,500 km: 390,000 t·km × 0.01977 = 7,710.3 WTW, × 0.01612 = 6,286.8 TTW
    // → rail 600 km: 12,000 t·km × 0.0347 = 416.4 WTW, × 0.02779 = 333.48 TTW.
    // WTW 1,561.9 + 54.2252 + 7,710.3 + 416.4 = 9,742.8252 kg;
    // TTW 1,256.395 + 10.05116 + 6,286.8 + 333.48 = 7,886.72616 kg;
    // t·km 5,000 + 390,000 + 12,000 = 407,000.
    let chain = Chain {
        tocs: vec![
            truck(),
            Toc::default_for("sea-container-average", &LIB).unwrap(),
            Toc::default_for("rail-freight", &LIB).unwrap(),
        ],
        hocs: vec![warehouse()],
        legs: vec![
            leg(
                "S-100",
                "Shipper 1",
                5,
                dec!(20),
                Distance::Actual(dec!(250)),
                0,
            ),
            leg(
                "S-100",
                "Shipper 1",
                5,
                dec!(20),
                Distance::Actual(dec!(19500)),
                1,
            ),
            leg(
                "S-100",
                "Shipper 1",
                6,
                dec!(20),
                Distance::Actual(dec!(600)),
                2,
            ),
            leg(
                "S-200",
                "Shipper 2",
                6,
                dec!(1),
                Distance::Actual(dec!(100)),
                0,
            ),
        ],
        hubs: vec![HubStop {
            shipment: Arc::from("S-100"),
            customer: Arc::from("Shipper 1"),
            month: Period::month(2024, 5),
            mass_t: dec!(20),
            hoc: 0,
        }],
    };
    let r = calculate(&chain).unwrap();
    let s = r.per_shipment["S-100"];
    assert_eq!(s.wtw_kg, dec!(9742.8252));
    assert_eq!(s.ttw_kg, dec!(7886.72616));
    assert_eq!(s.tkm, dec!(407000));
    assert_eq!(s.tces, 4);
    // S-200: 100 t·km × 0.31238 = 31.238 kg; June holds the rail leg and S-200: 416.4 + 31.238.
    assert_eq!(r.per_shipment["S-200"].wtw_kg, dec!(31.238));
    assert_eq!(r.per_month[&Period::month(2024, 6)].wtw_kg, dec!(447.638));
    assert_eq!(r.total.wtw_kg, dec!(9774.0632));

    let sf = ileap::shipment_footprint(&chain, &r, "S-100").unwrap();
    assert_eq!(sf.mass, dec!(20000));
    assert_eq!(sf.tces.len(), 4);
    assert_eq!(sf.wtw_kg(), dec!(9742.8252));
    assert_eq!(sf.tkm(), dec!(407000));
    assert_eq!(sf.tces[0].prev_tce_ids, Some(vec![]));
    assert_eq!(
        sf.tces[1].prev_tce_ids.as_deref(),
        Some(&[sf.tces[0].tce_id.clone()][..])
    );
    assert_eq!(sf.tces[3].hoc_id.as_deref(), Some("icheon-dc"));
    let json = serde_json::to_value(&sf).unwrap();
    assert_eq!(json["tces"][0]["co2eWTW"], "1561.9");
    assert_eq!(json["tces"][0]["transportActivity"], "5000");
    assert_eq!(json["tces"][0]["distance"]["actual"], "250");
    assert_eq!(json["tces"][0]["tocId"], "kr-road-ftl");
    let back: ileap::ShipmentFootprint = serde_json::from_value(json).unwrap();
    assert_eq!(back, sf);
    assert!(ileap::shipment_footprint(&chain, &r, "nope").is_none());
}

#[test]
fn a_leg_naming_a_missing_toc_or_without_mass_is_refused() {
    let chain = Chain {
        tocs: vec![truck()],
        legs: vec![leg("A", "C", 1, dec!(1), Distance::Actual(dec!(1)), 3)],
        ..Chain::default()
    };
    assert_eq!(
        calculate(&chain).unwrap_err().to_string(),
        "leg 0: refers to TOC 3, which does not exist"
    );
    let chain = Chain {
        tocs: vec![truck()],
        legs: vec![leg("A", "C", 1, dec!(0), Distance::Actual(dec!(1)), 0)],
        ..Chain::default()
    };
    assert_eq!(
        calculate(&chain).unwrap_err().to_string(),
        "leg of shipment `A`: mass (t) is 0: mass must be above 0 and distance at least 0"
    );
}

const LEGS: &str = "shipment_id,customer_id,month,mass_t,distance_km,distance_basis,adjustment,toc,origin,destination
S-1,urn:tanso:company:shipper,2026-03,20,250,actual,,road-hgv-diesel-average,Busan,Daegu
S-1,urn:tanso:company:shipper,2026-03,20,400,sfd,1.05,rail-freight,Daegu,Seoul
S-2,urn:tanso:company:other,2026-04,5,100,,,road-hgv-diesel-average,,
";

#[test]
fn a_legs_file_becomes_shipment_footprints_a_shipper_uses_in_category_4() {
    // Defaults (DESNZ 2024, WTW = freight + WTT): HGV 0.09752 + 0.02359 = 0.12111,
    // rail 0.02779 + 0.00691 = 0.0347 kgCO2e/t·km.
    // S-1 leg 1: 20 t × 250 km = 5,000 t·km × 0.12111 = 605.55 kg (TTW × 0.09752 = 487.6);
    // leg 2: 20 t × 400 km × 1.05 = 8,400 t·km × 0.0347 = 291.48 kg (TTW × 0.02779 =
    // 233.436). S-1: 13,400 t·km, 897.03 kg WTW, 721.036 kg TTW.
    // S-2: 5 × 100 = 500 t·km × 0.12111 = 60.555 kg.
    let chain = read_legs(LEGS.as_bytes(), "legs.csv", &LIB).unwrap();
    assert_eq!((chain.legs.len(), chain.tocs.len()), (3, 2));
    let r = calculate(&chain).unwrap();
    assert_eq!(r.per_shipment["S-1"].wtw_kg, dec!(897.03));
    assert_eq!(r.per_shipment["S-1"].ttw_kg, dec!(721.036));
    assert_eq!(r.per_shipment["S-1"].tkm, dec!(13400));
    assert_eq!(r.per_shipment["S-2"].wtw_kg, dec!(60.555));
    assert_eq!(
        r.per_customer["urn:tanso:company:shipper"].wtw_kg,
        dec!(897.03)
    );

    let carrier = ileap::Carrier {
        company_name: "A Logistics",
        company_id: "urn:tanso:company:a-logistics",
    };
    let fp = ileap::product_footprint(
        &chain,
        &r,
        "S-1",
        carrier,
        "7b1c1d4e-9a55-4d57-8f65-1f0b6c1d2e3f",
        "2026-04-02T00:00:00Z",
    )
    .unwrap();
    let json = serde_json::to_value(&fp).unwrap();
    let findings = tanso_model::pact::validate(&json, &Default::default());
    assert!(findings.is_empty(), "{findings:?}");
    // iLEAP's mapping: t·km as the declared amount, the shipment's mass, WTW as the PCF.
    assert_eq!(
        json["productIds"][0],
        "urn:pathfinder:product:customcode:vendor-assigned:shipment:S-1"
    );
    assert_eq!(json["productClassifications"][0], "urn:cpc:83117");
    assert_eq!(json["pcf"]["declaredUnitOfMeasurement"], "ton kilometer");
    assert_eq!(json["pcf"]["declaredUnitAmount"], "13400");
    assert_eq!(json["pcf"]["productMassPerDeclaredUnit"], "20000");
    assert_eq!(json["pcf"]["pcfExcludingBiogenicUptake"], "897.03");
    assert_eq!(json["pcf"]["packagingEmissionsIncluded"], false);
    assert_eq!(json["pcf"]["crossSectoralStandards"][0], "ISO14083");
    assert_eq!(json["pcf"]["referencePeriodStart"], "2026-03-01T00:00:00Z");
    assert_eq!(json["pcf"]["referencePeriodEnd"], "2026-04-01T00:00:00Z");
    // Both legs run under defaults: no primary data.
    assert_eq!(json["pcf"]["primaryDataShare"], "0");
    assert_eq!(
        json["extensions"][0]["dataSchema"],
        "https://api.ileap.sine.dev/shipment-footprint.json"
    );
    assert_eq!(
        json["extensions"][0]["data"]["tces"][1]["co2eWTW"],
        "291.48"
    );
    assert_eq!(
        json["extensions"][0]["data"]["tces"][1]["distance"]["sfd"],
        "400"
    );
    assert_eq!(
        json["extensions"][1]["data"]["customerIds"][0],
        "urn:tanso:company:shipper"
    );
    assert_eq!(
        tanso_model::pact::ileap::customers_of(&fp),
        vec!["urn:tanso:company:shipper".to_string()]
    );

    // The shipper's side reads the same document: its category 4 row for S-1 is the
    // carrier's 897.03 kg, not 20 t × 650 km × 0.08 (transport:truck) = 1,040 kg.
    let pcf = tanso_calc::scope3::inbox::supplier_pcf(&json).unwrap();
    let s = pcf.shipment.clone().unwrap();
    assert_eq!((s.wtw_kg, s.tkm, s.tces), (dec!(897.03), dec!(13400), 2));
    let ledger = tanso_calc::scope3::ledger::parse_ledger_text(
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit,shipment_id\nsteel coils,truck,20,t,650,km,s-1\n",
    )
    .unwrap();
    let report = tanso_calc::scope3::calculate(
        &ledger,
        &LIB,
        &tanso_calc::scope3::SupplierIndex::new(vec![pcf]),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(report.total.kg(), dec!(897.03));
    assert_eq!(report.primary_data_share_pct, Some(dec!(100)));
    assert_eq!(
        &*report.lines[0].factor_id,
        "pcf:7b1c1d4e-9a55-4d57-8f65-1f0b6c1d2e3f"
    );
}

#[test]
fn a_primary_toc_sets_the_primary_data_share() {
    // S-100-like chain: a primary-data truck TOC (0.31238) and a default rail TOC.
    // Truck leg 20 t × 250 km = 5,000 t·km × 0.31238 = 1,561.9 kg (primary);
    // rail 20 × 600 = 12,000 t·km × 0.0347 = 416.4 kg. Share 1,561.9 / 1,978.3 × 100
    // = 78.951… → 78.95 %.
    let rail = Toc::default_for("rail-freight", &LIB).unwrap();
    let chain = Chain {
        tocs: vec![truck(), rail],
        legs: vec![
            leg("S", "urn:c", 5, dec!(20), Distance::Actual(dec!(250)), 0),
            leg("S", "urn:c", 5, dec!(20), Distance::Actual(dec!(600)), 1),
        ],
        ..Chain::default()
    };
    let r = calculate(&chain).unwrap();
    let carrier = ileap::Carrier {
        company_name: "C",
        company_id: "urn:tanso:company:c",
    };
    let fp =
        ileap::product_footprint(&chain, &r, "S", carrier, "id", "2024-06-01T00:00:00Z").unwrap();
    assert_eq!(fp.pcf.pcf_excluding_biogenic_uptake.as_str(), "1978.3");
    assert_eq!(fp.pcf.primary_data_share.unwrap().as_str(), "78.95");
    assert!(ileap::product_footprint(&chain, &r, "nope", carrier, "id", "x").is_err());
}

#[test]
fn a_bad_legs_file_names_every_problem_at_file_line_column() {
    let text = "shipment_id,customer_id,month,mass_t,distance_km,distance_basis,adjustment,toc
S-1,urn:c,2026-13,20,250,actual,,road-hgv-diesel-average
S-1,urn:c,2026-03,-1,250,sfd,,road-hgv-diesel-average
,urn:c,2026-03,1,1,,,truck
";
    let err = read_legs(text.as_bytes(), "legs.csv", &LIB)
        .unwrap_err()
        .to_string();
    for want in [
        "legs.csv:2:3: column `month`: `2026-13` is not a month (YYYY-MM)",
        "legs.csv:3:4: column `mass_t`: -1 must be above 0",
        "legs.csv:3:7: column `adjustment`: required for distance_basis sfd (e.g. 1.05)",
        "legs.csv:4:1: column `shipment_id`: needs 1 to 200 characters",
        "legs.csv:4:8: column `toc`: no default TOC `truck`",
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
    assert!(err.starts_with("5 problem(s) in the legs file"), "{err}");
    let err = read_legs("shipment_id,month,speed\n".as_bytes(), "l.csv", &LIB)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("l.csv:1:3: column `speed`: unknown column"),
        "{err}"
    );
    assert!(
        err.contains("l.csv:1:4: column `customer_id`: required column missing"),
        "{err}"
    );
}

#[test]
fn publishing_the_same_legs_twice_changes_nothing_and_changed_figures_supersede() {
    let chain = read_legs(LEGS.as_bytes(), "legs.csv", &LIB).unwrap();
    let r = calculate(&chain).unwrap();
    let carrier = ileap::Carrier {
        company_name: "A Logistics",
        company_id: "urn:tanso:company:a-logistics",
    };
    let mut n = 0;
    let mut ids = || {
        n += 1;
        format!("id-{n}")
    };
    let first = ileap::plan(
        &chain,
        &r,
        &[],
        carrier,
        &[],
        "2026-05-01T00:00:00Z",
        &mut ids,
    )
    .unwrap();
    assert_eq!(first.new.len(), 2);
    assert_eq!(
        first.new.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["id-1", "id-2"]
    );
    // Again, a day later, with those published: nothing new.
    let again = ileap::plan(
        &chain,
        &r,
        &[],
        carrier,
        &first.new,
        "2026-05-02T00:00:00Z",
        &mut ids,
    )
    .unwrap();
    assert!(again.new.is_empty());
    assert_eq!(
        again.unchanged,
        [
            ("S-1".to_string(), "id-1".to_string()),
            ("S-2".to_string(), "id-2".to_string())
        ]
    );
    // S-2's mass corrected to 6 t: a new version naming the old one; only S-2 asked for.
    let fixed = LEGS.replace(
        "S-2,urn:tanso:company:other,2026-04,5,",
        "S-2,urn:tanso:company:other,2026-04,6,",
    );
    let chain2 = read_legs(fixed.as_bytes(), "legs.csv", &LIB).unwrap();
    let r2 = calculate(&chain2).unwrap();
    let next = ileap::plan(
        &chain2,
        &r2,
        &["S-2".into()],
        carrier,
        &first.new,
        "2026-05-03T00:00:00Z",
        &mut ids,
    )
    .unwrap();
    assert_eq!(next.new.len(), 1);
    assert_eq!(next.new[0].id, "id-3");
    assert_eq!(next.new[0].preceding_pf_ids, Some(vec!["id-2".to_string()]));
    // 6 t × 100 km = 600 t·km × 0.12111 = 72.666 kg.
    assert_eq!(
        next.new[0].pcf.pcf_excluding_biogenic_uptake.as_str(),
        "72.666"
    );
}
