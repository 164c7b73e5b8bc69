//! Unit tests for the Scope 3 module, with exact decimal results from the seed guide,
//! carbon.md §2 and the PACT composition example.

use crate::scope3::calc::{CalcError, Method, ReportOptions, calculate, calculate_read};
use crate::scope3::compose::{ComposeError, compose, load_bom, parse_bom};
use crate::scope3::factors::{FactorLibrary, RangeChoice, parse_set};
use crate::scope3::figures::Figure;
use crate::scope3::ledger::{
    CurrencyRate, Ledger, LedgerError, load_ledger, parse_ledger_text, read_ledger_text,
};
use crate::scope3::report::Format;
use crate::scope3::supplier::{SupplierIndex, SupplierPcf};
use crate::scope3::units::{Emissions, Unit, convert};
use crate::scope3::{Category, Dqi};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The example data dir at the repository root (`node/calc/../../data/examples`).
fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/examples"))
}

fn lib() -> &'static FactorLibrary {
    static LIB: OnceLock<FactorLibrary> = OnceLock::new();
    LIB.get_or_init(FactorLibrary::builtin)
}

fn pcf(
    id: &str,
    product: &str,
    unit: &str,
    amount: Decimal,
    value: Decimal,
    pds: Option<Decimal>,
    dqi: Option<Dqi>,
) -> SupplierPcf {
    SupplierPcf {
        footprint_id: id.into(),
        company_id: "urn:pact:supplier.example:company:1".into(),
        product_ids: vec![product.into()],
        declared_unit: unit.into(),
        declared_unit_amount: amount,
        pcf_excluding_biogenic_uptake: value,
        primary_data_share: pds,
        dqi,
        reference_period_end: "2025-01-01T00:00:00Z".into(),
        status_active: true,
        ipcc_characterization_factors: vec!["AR6".into()],
        geography_country: Some("KR".into()),
        // The required PACT figures of an all-fossil footprint without carbon content.
        figures: [
            (Figure::PcfIncludingBiogenicUptake, value),
            (Figure::FossilGhgEmissions, value),
            (Figure::FossilCarbonContent, Decimal::ZERO),
        ]
        .into_iter()
        .collect(),
        shipment: None,
    }
}

fn ledger(name: &str, text: &str) -> Ledger {
    parse_ledger_text(name, text).unwrap_or_else(|e| panic!("{e}"))
}

fn run(l: &Ledger, opts: &ReportOptions) -> crate::scope3::Report {
    calculate(l, lib(), &SupplierIndex::default(), opts).unwrap_or_else(|e| panic!("{e}"))
}

fn cat(r: &crate::scope3::Report, c: Category) -> Emissions {
    r.categories[c as usize].emissions
}

#[test]
fn cat1_steel_average_data_2100_t() {
    let l = ledger(
        "purchases.csv",
        "description,quantity,unit,material\nsteel,1000,t,steel\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(cat(&r, Category::C1PurchasedGoods).tonnes(), dec!(2100));
    let line = &r.lines[0];
    assert_eq!(line.method, Method::AverageData);
    assert_eq!(&*line.factor_id, "guide:steel");
    assert_eq!(line.factor_value, dec!(2.1));
    assert!(!line.primary);
    assert_eq!(line.row.line, 2);
}

#[test]
fn cat1_supplier_specific_first_with_unit_conversion() {
    let l = ledger(
        "purchases.csv",
        "description,product_id,quantity,unit,material\nsteel,URN:PACT:S:P1,1000,t,steel\n",
    );
    let idx = SupplierIndex::new(vec![pcf(
        "f1",
        "urn:pact:s:p1",
        "kilogram",
        dec!(1),
        dec!(2.1),
        Some(dec!(60)),
        Some(Dqi::new(2, 1, 1)),
    )]);
    let r = calculate(&l, lib(), &idx, &ReportOptions::default()).unwrap();
    let line = &r.lines[0];
    assert_eq!(line.method, Method::SupplierSpecific);
    assert_eq!(line.quantity, dec!(1000000));
    assert_eq!(line.emissions.tonnes(), dec!(2100));
    assert!(line.primary);
    assert_eq!(r.primary_data_share_pct, Some(dec!(100)));
    assert_eq!(line.dqi, Dqi::new(2, 1, 1));
    assert!(line.conversion.as_deref().unwrap().contains("1000 tonne"));
}

#[test]
fn cat1_supplier_declared_unit_amount_divides() {
    // PCF 50 kgCO2e per 10 pieces; 4 pieces → 20 kg.
    let l = ledger(
        "purchases.csv",
        "description,product_id,quantity,unit\nbolts,p2,4,piece\n",
    );
    let idx = SupplierIndex::new(vec![pcf(
        "f2",
        "p2",
        "piece",
        dec!(10),
        dec!(50),
        None,
        None,
    )]);
    let r = calculate(&l, lib(), &idx, &ReportOptions::default()).unwrap();
    assert_eq!(r.total.kg(), dec!(20));
    assert_eq!(r.lines[0].factor_value, dec!(5));
    assert!(
        r.lines[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("no dqi")
    );
}

#[test]
fn cat1_supplier_unit_mismatch_is_an_error() {
    let l = ledger(
        "purchases.csv",
        "description,product_id,quantity,unit\nsteel,p1,3,piece\n",
    );
    let idx = SupplierIndex::new(vec![pcf(
        "f1",
        "p1",
        "kilogram",
        dec!(1),
        dec!(2.1),
        None,
        None,
    )]);
    let err = calculate(&l, lib(), &idx, &ReportOptions::default()).unwrap_err();
    let CalcError::Rows(p) = err else {
        panic!("expected row errors")
    };
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 2);
    assert_eq!(p[0].column.as_deref(), Some("unit"));
    assert!(p[0].message.contains("different dimensions"));
}

#[test]
fn cat1_falls_back_when_product_not_in_inbox() {
    let l = ledger(
        "purchases.csv",
        "description,product_id,quantity,unit,material\nsteel,unknown-product,2,t,steel\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.lines[0].method, Method::AverageData);
    assert_eq!(r.total.kg(), dec!(4200));
    assert!(
        r.lines[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("no active supplier footprint")
    );
}

#[test]
fn cat1_spend_based_787_t_and_kr_geo_dqr_4() {
    let l = ledger(
        "purchases.csv",
        "description,supplier_country,spend,currency,spend_year,naics\nsteel,KR,1000000,USD,2022,331110\n",
    );
    let r = run(
        &l,
        &ReportOptions {
            year: Some(2024),
            ..Default::default()
        },
    );
    assert_eq!(r.total.tonnes(), dec!(787));
    let line = &r.lines[0];
    assert_eq!(line.method, Method::SpendBased);
    assert_eq!(&*line.factor_id, "epa-sef-1.3:331110:purchaser");
    assert_eq!(line.dqi, Dqi::new(4, 4, 1));
    assert_eq!(line.gwp, crate::scope3::GwpSet::AR5);
    // producer price uses the factor without margins: 0.769
    let l = ledger(
        "purchases.csv",
        "description,spend,currency,spend_year,naics,price_basis\nsteel,1000000,USD,2022,331110,producer\n",
    );
    assert_eq!(run(&l, &ReportOptions::default()).total.tonnes(), dec!(769));
}

#[test]
fn cat1_spend_in_krw_needs_explicit_rate_and_deflator() {
    let l = ledger(
        "purchases.csv",
        "description,spend,currency,spend_year,naics\nsteel,1000000000,KRW,2024,331110\n",
    );
    let err = calculate(
        &l,
        lib(),
        &SupplierIndex::default(),
        &ReportOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("purchases.csv:2"), "{msg}");
    assert!(msg.contains("explicit exchange rate and deflator"), "{msg}");
    let opts = ReportOptions {
        currency_rates: vec![CurrencyRate {
            row: None,
            currency: "KRW".into(),
            year: 2024,
            usd_per_unit: dec!(0.001),
            deflator_to_2022: dec!(0.9),
            source: Some("test".into()),
        }],
        ..Default::default()
    };
    let r = run(&l, &opts);
    // 1e9 KRW × 0.001 × 0.9 = 900,000 USD2022 × 0.787 = 708,300 kg
    assert_eq!(r.lines[0].quantity, dec!(900000));
    assert_eq!(r.total.kg(), dec!(708300));
}

#[test]
fn cat2_full_in_acquisition_year_and_amortised_management_view() {
    let l = ledger(
        "capital_goods.csv",
        "description,product_id,quantity,unit,acquisition_year,lifetime_years\nmachine,m1,1,piece,2025,10\n",
    );
    let idx = SupplierIndex::new(vec![pcf(
        "m",
        "m1",
        "piece",
        dec!(1),
        dec!(100000),
        Some(dec!(50)),
        None,
    )]);
    let r = calculate(
        &l,
        lib(),
        &idx,
        &ReportOptions {
            year: Some(2025),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(cat(&r, Category::C2CapitalGoods).tonnes(), dec!(100));
    assert_eq!(r.capital_goods_management_view[0].annual.tonnes(), dec!(10));
    assert_eq!(r.capital_goods_management_view_total.tonnes(), dec!(10));
    assert!(r.render(Format::Table).contains("NOT GHG Protocol"));
    // the following year: nothing in GHGP category 2, still 10 t in the management view
    let r = calculate(
        &l,
        lib(),
        &idx,
        &ReportOptions {
            year: Some(2026),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(cat(&r, Category::C2CapitalGoods).kg(), dec!(0));
    assert_eq!(r.capital_goods_management_view_total.tonnes(), dec!(10));
    assert!(!r.capital_goods_management_view[0].counted_in_ghgp);
    // after the asset life: neither
    let r = calculate(
        &l,
        lib(),
        &idx,
        &ReportOptions {
            year: Some(2035),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.capital_goods_management_view_total.kg(), dec!(0));
}

#[test]
fn cat3_upstream_electricity_80_t_low_120_t_high() {
    let l = ledger(
        "energy.csv",
        "description,energy_type,grid,quantity,unit\npower,electricity,KR,1000,MWh\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(cat(&r, Category::C3FuelEnergy).tonnes(), dec!(80));
    assert_eq!(r.lines[0].range_end, Some(RangeChoice::Low));
    let r = run(
        &l,
        &ReportOptions {
            range_choice: RangeChoice::High,
            ..Default::default()
        },
    );
    assert_eq!(cat(&r, Category::C3FuelEnergy).tonnes(), dec!(120));
}

#[test]
fn cat3_gb_electricity_splits_wtt_and_td_and_fuel_wtt() {
    // DESNZ 2024: WTT generation 0.0459 + T&D 0.0183 + WTT T&D 0.00397 = 0.06817 kg/kWh
    let l = ledger(
        "energy.csv",
        "description,energy_type,fuel,grid,quantity,unit\npower,electricity,,GB,1,MWh\ndiesel,fuel,diesel,,1000,litre\n",
    );
    let r = run(
        &l,
        &ReportOptions {
            company_country: "GB".into(),
            ..Default::default()
        },
    );
    assert_eq!(r.lines.len(), 4);
    let elec: Decimal = r.lines[..3].iter().map(|l| l.emissions.kg()).sum();
    assert_eq!(elec, dec!(68.17));
    assert_eq!(r.lines[0].conversion.as_deref(), Some("1 MWh → 1000 kWh"));
    assert_eq!(r.lines[3].emissions.kg(), dec!(611.01));
    assert_eq!(r.lines[3].dqi, Dqi::new(2, 1, 1));
}

#[test]
fn cat4_truck_1_6_t_and_open_factor_alternatives() {
    let l = ledger(
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit\nleg,truck,100,t,200,km\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.total.tonnes(), dec!(1.6));
    assert_eq!(r.lines[0].quantity, dec!(20000));
    assert_eq!(r.lines[0].method, Method::DistanceBased);
    let r = run(
        &l,
        &ReportOptions {
            range_choice: RangeChoice::High,
            ..Default::default()
        },
    );
    assert_eq!(r.total.tonnes(), dec!(3));
    // DESNZ HGV all diesel, average laden: 20,000 × 0.09752 = 1,950.4 kg
    let l = ledger(
        "transport.csv",
        "description,mass,mass_unit,distance,distance_unit,factor_id\nleg,100,t,200,km,desnz-2024:27_304_3140_14_1\n",
    );
    assert_eq!(run(&l, &ReportOptions::default()).total.kg(), dec!(1950.4));
    // EPA Hub 2025 truck per short ton-mile, converted explicitly: ≈ 2,568.2 kg
    let l = ledger(
        "transport.csv",
        "description,mass,mass_unit,distance,distance_unit,factor_id\nleg,100,t,200,km,epa-hub-2025:t8:medium-and-heavy-duty-truck:short-ton-mile\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.total.kg().round_dp(1), dec!(2568.2));
    assert!(
        r.lines[0]
            .conversion
            .as_deref()
            .unwrap()
            .contains("short-ton.mile")
    );
}

#[test]
fn cat5_plastic_incineration_25_t() {
    let l = ledger(
        "waste.csv",
        "description,waste_type,treatment,quantity,unit\nplastic,plastic,incineration,10,t\nmixed,mixed plastics,combusted,10,short-ton\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.lines[0].emissions.tonnes(), dec!(25));
    // EPA WARM: 2.34 tCO2e per short ton × 10 short tons
    assert_eq!(r.lines[1].emissions.tonnes(), dec!(23.4));
    assert_eq!(r.lines[0].method, Method::WasteTypeSpecific);
}

#[test]
fn cat6_domestic_flight_286_kg() {
    let l = ledger(
        "travel.csv",
        "description,mode,passengers,distance,distance_unit\nflight,flight-domestic,2,1100,km\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.total.kg(), dec!(286));
    assert_eq!(r.lines[0].quantity, dec!(2200));
}

#[test]
fn cat7_commuting_57_5_t_round_trip_interpretation() {
    let text = "description,employees,mode,share_pct,distance_per_day,distance_unit,distance_basis,working_days\n\
                car,100,car,50,20,km,round-trip,250\n\
                bus,100,public-transport,50,20,km,round-trip,250\n";
    let r = run(&ledger("commuting.csv", text), &ReportOptions::default());
    assert_eq!(r.lines[0].emissions.kg(), dec!(45000));
    assert_eq!(r.lines[1].emissions.kg(), dec!(12500));
    assert_eq!(cat(&r, Category::C7Commuting).tonnes(), dec!(57.5));
    // the same 20 km as a one-way distance doubles (GHGP-TG: one-way × 2)
    let r = run(
        &ledger("commuting.csv", &text.replace("round-trip", "one-way")),
        &ReportOptions::default(),
    );
    assert_eq!(r.total.tonnes(), dec!(115));
}

#[test]
fn cat8_leased_office_40_t_and_k_ets_switch() {
    let l = ledger(
        "leased_assets.csv",
        "description,area_m2,energy_type,quantity,unit,grid,factor_id\noffice,1000,electricity,100,MWh,KR,guide:grid-example-0.4\nplant,,electricity,10,MWh,KR,\n",
    );
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.lines[0].emissions.tonnes(), dec!(40));
    assert_eq!(r.lines[1].emissions.tonnes(), dec!(4.173));
    assert_eq!(r.lines[0].method, Method::AssetSpecific);
    let r = run(
        &l,
        &ReportOptions {
            exclude_category_8: true,
            ..Default::default()
        },
    );
    assert_eq!(r.total.kg(), dec!(0));
    assert!(
        r.categories[7]
            .excluded
            .as_deref()
            .unwrap()
            .contains("Korean ETS")
    );
}

#[test]
fn composition_example_5_2_pds_67_69_tech_dqr_1_808() {
    let idx = SupplierIndex::new(vec![pcf(
        "steel",
        "urn:pact:posco.example:product-id:sheet-01",
        "kilogram",
        dec!(1),
        dec!(2.1),
        Some(dec!(60)),
        Some(Dqi::new(2, 1, 1)),
    )]);
    let bom = load_bom(&examples().join("bom_bracket.json")).unwrap();
    let c = compose(&bom, lib(), &idx).unwrap();
    assert_eq!(c.pcf_excluding_biogenic_uptake, dec!(5.2));
    assert_eq!(c.primary_data_share.round_dp(2), dec!(67.69));
    assert_eq!(c.dqi.unwrap().technological.round_dp(3), dec!(1.808));
    let pcf = &c.footprint["pcf"];
    assert_eq!(pcf["pcfExcludingBiogenicUptake"], "5.2");
    assert_eq!(pcf["pcfIncludingBiogenicUptake"], "5.2");
    assert_eq!(pcf["primaryDataShare"], "67.69");
    assert_eq!(pcf["dqi"]["technologicalDQR"], "1.808");
    assert_eq!(pcf["declaredUnitOfMeasurement"], "piece");
    assert!(pcf.get("secondaryEmissionFactorSources").is_none());
    assert_eq!(c.footprint["specVersion"], "3.0.3");
    assert_eq!(c.footprint["status"], "Active");
    assert_eq!(c.footprint["id"].as_str().unwrap().len(), 36);
    assert!(c.footprint["created"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn composition_multi_tier_with_secondary_sources() {
    let idx = SupplierIndex::new(vec![pcf(
        "steel",
        "urn:pact:posco.example:product-id:sheet-01",
        "kilogram",
        dec!(1),
        dec!(2.1),
        Some(dec!(60)),
        Some(Dqi::new(2, 1, 1)),
    )]);
    let bom = load_bom(&examples().join("bom_frame.json")).unwrap();
    let c = compose(&bom, lib(), &idx).unwrap();
    // 2 brackets × 5.2 + 0.5 kg × 2.1 t/t + 2 kWh × 0.4173 t/MWh + 0.0043 t × 100 km × 0.08
    // = 10.4 + 1.05 + 0.8346 + 0.0344 = 12.319
    assert_eq!(c.pcf_excluding_biogenic_uptake, dec!(12.319));
    assert_eq!(c.tiers.len(), 1);
    assert_eq!(c.tiers[0].entry, "bracket");
    // PDS = 10.4 × 67.69…% ÷ 12.319 = 3.52 × 2 ÷ 12.319
    assert_eq!(c.primary_data_share, dec!(704) / dec!(12.319));
    let src = c.footprint["pcf"]["secondaryEmissionFactorSources"]
        .as_array()
        .unwrap();
    assert_eq!(src.len(), 2);
    assert_eq!(src[0]["name"], "Korea national grid emission factor");
    assert_eq!(src[1]["name"], "Scope 3 guide defaults");
    let gwp = c.footprint["pcf"]["ipccCharacterizationFactors"]
        .as_array()
        .unwrap();
    assert_eq!(gwp, &vec![serde_json::json!("AR6")]);
    assert!(c.footprint["comment"].as_str().unwrap().contains("GWP"));
}

#[test]
fn composition_detects_cycles_and_missing_inputs() {
    let e = |id: &str, sub: &str| {
        format!(
            r#"{{"id":"{id}","companyName":"c","companyIds":["urn:x:c"],"productIds":["urn:x:{id}"],"productNameCompany":"{id}","declaredUnit":"piece","declaredUnitAmount":"1","productMassPerDeclaredUnit":"1","referencePeriodStart":"2025-01-01T00:00:00Z","referencePeriodEnd":"2026-01-01T00:00:00Z","components":[{{"bom":"{sub}","amount":"1","unit":"piece"}}]}}"#
        )
    };
    let text = format!(r#"{{"entries":[{},{}]}}"#, e("a", "b"), e("b", "a"));
    let bom = parse_bom(&text, &examples()).unwrap();
    let err = compose(&bom, lib(), &SupplierIndex::default()).unwrap_err();
    assert!(
        matches!(err, ComposeError::Cycle(ref s) if s == "a → b → a"),
        "{err}"
    );
    let bom = load_bom(&examples().join("bom_bracket.json")).unwrap();
    let err = compose(&bom, lib(), &SupplierIndex::default()).unwrap_err();
    assert!(
        err.to_string().contains("no active supplier footprint"),
        "{err}"
    );
}

#[test]
fn avoided_emissions_24_8_t_reported_separately() {
    let l = ledger(
        "avoided.csv",
        "description,quantity,unit,baseline_factor_id\nreuse,2,t,seed:reuse-rbf\nupcycling,5,t,seed:upcycling-uf\nrecycling,3,t,seed:recycling\n",
    );
    let r = run(&l, &ReportOptions::default());
    let a = r.avoided.as_ref().unwrap();
    assert_eq!(a.total.tonnes(), dec!(24.8));
    assert_eq!(a.tree_years.round_dp(1), dec!(1127.3));
    assert_eq!(a.car_years.round_dp(2), dec!(5.39));
    assert_eq!(r.total.kg(), dec!(0), "never netted against the inventory");
    // conservative E-1 basis: incineration avoided, 10 t × 2.75
    let l = ledger(
        "avoided.csv",
        "description,quantity,unit,baseline_factor_id\ntoys,10,t,ipcc:incineration-mixed-plastic\n",
    );
    assert_eq!(
        run(&l, &ReportOptions::default())
            .avoided
            .unwrap()
            .total
            .tonnes(),
        dec!(27.5)
    );
}

#[test]
fn ledger_reports_every_bad_row_with_file_line_column() {
    let text = "description,quantity,unit,material,spend,currency,spend_year,naics\n\
                ok,1,t,steel,,,,\n\
                bad qty,abc,t,steel,,,,\n\
                bad unit,1,furlong,steel,,,,\n\
                half spend,,,,100,,,331110\n\
                bad naics,,,,100,USD,2022,33\n\
                nothing,,,,,,,\n";
    let err = parse_ledger_text("purchases.csv", text).unwrap_err();
    let LedgerError::Invalid(p) = err else {
        panic!()
    };
    let got: Vec<(u64, Option<&str>)> = p.iter().map(|p| (p.line, p.column.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (3, Some("quantity")),
            (4, Some("unit")),
            (5, Some("spend")),
            (6, Some("naics")),
            (7, None)
        ]
    );
    assert_eq!(
        p[0].to_string(),
        "purchases.csv:3:2: column `quantity`: `abc` is not a decimal number"
    );
    assert_eq!(
        p[4].to_string(),
        "purchases.csv:7: no usable method: give product_id + quantity/unit (supplier-specific), quantity/unit + material or factor_id (average-data), or spend/currency/spend_year + naics, cpc, hs or factor_id (spend-based)"
    );
    // header problems
    let err = parse_ledger_text("waste.csv", "description,waste_type,qty\n").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`qty`: unknown column")
            && msg.contains("`treatment`: missing required column"),
        "{msg}"
    );
    // commuting shares over 100 %
    let err = parse_ledger_text(
        "commuting.csv",
        "description,employees,mode,share_pct,distance_per_day,distance_unit,distance_basis,working_days\na,10,car,60,5,km,one-way,200\nb,10,bus,60,5,km,one-way,200\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("add up to 120 %"));
}

#[test]
fn example_ledger_directory_end_to_end() {
    let l = load_ledger(&examples().join("ledger")).unwrap();
    assert_eq!(l.purchases.len(), 4);
    let inbox: Vec<SupplierPcf> =
        serde_json::from_str(&std::fs::read_to_string(examples().join("inbox.json")).unwrap())
            .unwrap();
    let idx = SupplierIndex::new(inbox);
    let r = calculate(
        &l,
        lib(),
        &idx,
        &ReportOptions {
            year: Some(2025),
            ..Default::default()
        },
    )
    .unwrap();
    // cat 1: 2,100 t + 500 kg × 2.1 + 787 t + 50e6 KRW × 0.00073 × 0.95 × 0.226 (NAICS 332722)
    let fasteners = dec!(50000000) * dec!(0.00073) * dec!(0.95) * r.lines[3].factor_value;
    assert_eq!(
        cat(&r, Category::C1PurchasedGoods).kg(),
        dec!(2100000) + dec!(1050) + dec!(787000) + fasteners
    );
    assert_eq!(cat(&r, Category::C2CapitalGoods).tonnes(), dec!(100));
    assert_eq!(cat(&r, Category::C3FuelEnergy).tonnes(), dec!(80));
    assert_eq!(cat(&r, Category::C4UpstreamTransport).tonnes(), dec!(1.6));
    assert_eq!(cat(&r, Category::C5Waste).tonnes(), dec!(25));
    assert_eq!(cat(&r, Category::C6BusinessTravel).kg(), dec!(286));
    assert_eq!(cat(&r, Category::C7Commuting).tonnes(), dec!(57.5));
    assert_eq!(cat(&r, Category::C8UpstreamLeased).tonnes(), dec!(40));
    assert_eq!(r.avoided.as_ref().unwrap().total.tonnes(), dec!(24.8));
    // primary data share = supplier-specific (1,050 kg + 100,000 kg) ÷ total
    assert_eq!(
        r.primary_data_share_pct.unwrap(),
        dec!(101050) * dec!(100) / r.total.kg()
    );
    let d = r.dqi.unwrap();
    assert!(d.technological > dec!(1) && d.technological < dec!(5));
    for f in [Format::Table, Format::Json, Format::Csv, Format::Md] {
        let out = r.render(f);
        assert!(out.contains("57500") || out.contains("57.5"), "{f:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(json["categories"][6]["emissions"]["t"], "57.5");
    let csv = r.render(Format::Csv);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("record,category,sub_activity")
    );
    assert!(csv.contains("category_total,8,,upstream leased assets,,,,,,,,,,,,,,40000,40,"));
    assert!(
        r.render(Format::Md)
            .contains("| 4 | upstream transportation and distribution | 1600 | 1.6 |")
    );
}

#[test]
fn factor_library_blank_is_not_available_and_ranges_are_kept() {
    let f = lib().get("desnz-2024:27_304_3137_14_1").unwrap();
    assert_eq!(f.value, None);
    assert!(f.pick(RangeChoice::Low).is_err());
    let truck = lib().find("transport:truck", Some(Unit::TonneKm)).unwrap();
    assert_eq!(
        (truck.low, truck.high),
        (Some(dec!(0.08)), Some(dec!(0.15)))
    );
    assert_eq!(truck.pick(RangeChoice::Low).unwrap(), dec!(0.08));
    assert_eq!(truck.pick(RangeChoice::High).unwrap(), dec!(0.15));
    let grid = lib().get("kr-grid:2023").unwrap();
    assert_eq!((grid.value, grid.year), (Some(dec!(0.4173)), 2023));
    // a blank factor used by a row is an error, not zero
    let l = ledger(
        "transport.csv",
        "description,mass,mass_unit,distance,distance_unit,factor_id\nempty leg,1,t,1,km,desnz-2024:27_304_3137_14_1\n",
    );
    let err = calculate(
        &l,
        lib(),
        &SupplierIndex::default(),
        &ReportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not available"));
    // every shipped set carries provenance
    for s in lib().sets() {
        for f in &s.factors {
            assert!(
                !f.source.source.is_empty() && !f.source.licence.is_empty(),
                "{}",
                f.id
            );
        }
    }
    assert_eq!(lib().sets().len(), 6);
}

#[test]
fn user_factor_set_wins_key_lookup_and_is_validated() {
    let csv = "id,key,name,value,low,high,numerator,denominator,gwp,geography,year,dqr_tech,set,version,source,licence,notes\n\
               my:truck,transport:truck,Our carrier's truck,0.1,,,kgCO2e,tonne.km,AR6,KR,2025,2,Carrier data,2025,carrier report,internal,\n";
    let set = parse_set("mine.csv", csv.as_bytes()).unwrap();
    let l = ledger(
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit\nleg,truck,100,t,200,km\n",
    );
    let r = run(
        &l,
        &ReportOptions {
            extra_factor_sets: vec![set],
            ..Default::default()
        },
    );
    assert_eq!(r.total.kg(), dec!(2000));
    assert_eq!(&*r.lines[0].factor_id, "my:truck");
    let bad = csv.replace("0.1,,,", "0.1,0.2,0.3,");
    let err = parse_set("mine.csv", bad.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mine.csv:2: value 0.1 is outside its range 0.2-0.3"
    );
    // A factor set is read by the one CSV reader: a bad row after comment lines is named at
    // its own line, not at the first comment before it.
    let commented = bad.replacen('\n', "\n# our carrier\n# measured 2025\n", 1);
    let err = parse_set("mine.csv", commented.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mine.csv:4: value 0.1 is outside its range 0.2-0.3"
    );
}

#[test]
fn units_convert_explicitly_and_refuse_mixed_dimensions() {
    assert_eq!(
        convert(dec!(1), Unit::ShortTon, Unit::Tonne).unwrap(),
        dec!(0.90718474)
    );
    assert_eq!(
        convert(dec!(1), Unit::Mile, Unit::Km).unwrap(),
        dec!(1.609344)
    );
    assert_eq!(
        convert(dec!(2500), Unit::Kg, Unit::Tonne).unwrap(),
        dec!(2.5)
    );
    assert_eq!(
        convert(dec!(1), Unit::ShortTonMile, Unit::TonneKm).unwrap(),
        dec!(1.45997231821056)
    );
    assert_eq!(convert(dec!(1), Unit::MWh, Unit::KWh).unwrap(), dec!(1000));
    assert!(convert(dec!(1), Unit::Kg, Unit::Km).is_err());
    assert!(convert(dec!(1), Unit::KWhNetCv, Unit::KWh).is_err());
    assert_eq!(Unit::parse("kilogram").unwrap(), Unit::Kg);
    assert_eq!(Unit::Kg.pact_name(), Some("kilogram"));
    assert_eq!(Emissions::from_tonnes(dec!(1.6)).kg(), dec!(1600));
    for u in Unit::ALL {
        assert_eq!(Unit::parse(u.as_str()).unwrap(), u);
    }
}

#[test]
fn supplier_index_latest_active_wins_case_insensitive() {
    let mut old = pcf("old", "P-1", "kilogram", dec!(1), dec!(3), None, None);
    old.reference_period_end = "2023-01-01T00:00:00Z".into();
    let new = pcf("new", "p-1", "kilogram", dec!(1), dec!(2), None, None);
    let mut dep = pcf("dep", "P-1", "kilogram", dec!(1), dec!(1), None, None);
    dep.reference_period_end = "2026-01-01T00:00:00Z".into();
    dep.status_active = false;
    let idx = SupplierIndex::new(vec![old, new, dep]);
    assert_eq!(idx.lookup("P-1").unwrap().0.footprint_id, "new");
}

#[test]
fn large_ledger_two_threads_keep_order_and_report_second_half_rows() {
    let mut text = String::from("description,quantity,unit,material\n");
    for i in 0..100_002 {
        text.push_str(&format!("row {i},{},kg,steel\n", i % 7 + 1));
    }
    let l = ledger("purchases.csv", &text);
    let r = run(&l, &ReportOptions::default());
    assert_eq!(r.lines.len(), 100_002);
    assert!(
        r.lines
            .iter()
            .enumerate()
            .all(|(i, l)| l.row.line == i as u64 + 2)
    );
    assert_eq!(
        r.lines[100_001].emissions.kg(),
        dec!(2.1) * Decimal::from(100_001 % 7 + 1)
    );
    let l = ledger(
        "purchases.csv",
        &text
            .replace("row 99999,", "row 99999 bad,")
            .replace("row 99999 bad,5,kg,steel", "row 99999 bad,5,piece,steel"),
    );
    let err = calculate(
        &l,
        lib(),
        &SupplierIndex::default(),
        &ReportOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("purchases.csv:100001:4: column `material`"),
        "{err}"
    );
}

/// A BOM entry with the PACT metadata and the given `components`, `ownProcesses` and
/// extra members (JSON text without the braces).
fn bom_entry(id: &str, members: &str) -> String {
    format!(
        r#"{{"id":"{id}","companyName":"c","companyIds":["urn:pact:c.example:company:1"],"productIds":["urn:pact:c.example:product-id:{id}"],"productNameCompany":"{id}","declaredUnit":"piece","declaredUnitAmount":"1","productMassPerDeclaredUnit":"1","referencePeriodStart":"2025-01-01T00:00:00Z","referencePeriodEnd":"2026-01-01T00:00:00Z",{members}}}"#
    )
}

#[test]
fn one_rounding_rule_in_compose_kpi_and_scope3_reports() {
    // PDS = (1 × 100 + 3 × 49.5) ÷ 4 = 62.125 exactly: half away from zero reports 62.13
    // (half to even would report 62.12).
    let entry = bom_entry(
        "p",
        r#""ownProcesses":[{"description":"a","emissionsKg":"1","primaryDataShare":"100"},{"description":"b","emissionsKg":"3","primaryDataShare":"49.5"}]"#,
    );
    let bom = parse_bom(&format!(r#"{{"entries":[{entry}]}}"#), &examples()).unwrap();
    let c = compose(&bom, lib(), &SupplierIndex::default()).unwrap();
    assert_eq!(c.primary_data_share, dec!(62.125));
    assert_eq!(c.footprint["pcf"]["primaryDataShare"], "62.13");
    // The same half-way value through the KPI engine.
    let cfg = crate::kpi::load_config(
        "[framework]\nname = \"r\"\n[[measures]]\nname = \"pds\"\nunit = \"%\"\nmin = 0\nmax = 100\n[[kpis]]\nname = \"pds_kpi\"\nformula = \"pds\"\nunit = \"%\"\nperiod = \"month\"\ndecimals = 2\n",
        "r.toml",
    )
    .unwrap();
    let mut m = crate::kpi::Measures::new();
    m.insert("2025-01".parse().unwrap(), "pds", c.primary_data_share);
    let r = crate::kpi::report(&cfg, &m, None).unwrap();
    assert_eq!(r.kpi("pds_kpi").unwrap().value, Some(dec!(62.13)));
    // And a Scope 3 report: 1,000.5 kg is 1.0005 t, shown to 3 places as 1.001 (not 1.000).
    let set = parse_set(
        "mine.csv",
        "id,key,name,value,low,high,numerator,denominator,gwp,geography,year,dqr_tech,set,version,source,licence,notes\n\
         my:x,material:x,X,1,,,kgCO2e,kg,AR6,KR,2025,2,Mine,2025,test,internal,\n"
            .as_bytes(),
    )
    .unwrap();
    let l = ledger(
        "purchases.csv",
        "description,quantity,unit,factor_id\nx,1000.5,kg,my:x\n",
    );
    let r = run(
        &l,
        &ReportOptions {
            extra_factor_sets: vec![set],
            ..Default::default()
        },
    );
    let md = r.render(Format::Md);
    assert!(
        md.contains("| 1 | purchased goods and services | 1000.5 | 1.001 |"),
        "{md}"
    );
}

#[test]
fn ledger_duplicate_column_is_refused_not_last_wins() {
    // The issue's case: `quantity` twice; the last one (5 t → 10.5 t) used to win over
    // the first (1,000 t → 2,100 t).
    let text = "description,quantity,unit,material,quantity\nsteel,1000,t,steel,5\n";
    let LedgerError::Invalid(p) = parse_ledger_text("purchases.csv", text).unwrap_err() else {
        panic!("expected ledger problems")
    };
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].to_string(),
        "purchases.csv:1:5: column `quantity`: duplicate column (first at column 2)"
    );
    assert_eq!((p[0].line, p[0].position), (1, Some(5)));
    // Without the duplicate the worked example is exact.
    let l = ledger(
        "purchases.csv",
        "description,quantity,unit,material\nsteel,1000,t,steel\n",
    );
    assert_eq!(
        run(&l, &ReportOptions::default()).total.tonnes(),
        dec!(2100)
    );
}

#[test]
fn ledger_header_problems_all_at_once_before_any_row() {
    // An unknown column, a duplicate and three missing columns; the row below (whose
    // values are all wrong) is not read at all.
    let text = "description,waste_type,qty,waste_type\nx,,-1,\n";
    let read = read_ledger_text("waste.csv", text);
    let got: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "waste.csv:1:3: column `qty`: unknown column",
            "waste.csv:1:4: column `waste_type`: duplicate column (first at column 2)",
            "waste.csv:1:5: column `treatment`: missing required column",
            "waste.csv:1:5: column `quantity`: missing required column",
            "waste.csv:1:5: column `unit`: missing required column",
        ]
    );
    assert!(read.ledger.waste.is_empty());
}

#[test]
fn ledger_row_and_missing_factor_problems_in_one_run() {
    // Line 2 fails validation; line 3 is valid but names a factor that does not exist;
    // line 4 is fine. Both problems come back from one run, with file:line:column.
    let text = "description,quantity,unit,factor_id,material\n\
                bad,abc,t,,steel\n\
                missing,1,t,nope:factor,\n\
                good,1,t,,steel\n";
    let read = read_ledger_text("purchases.csv", text);
    assert_eq!(read.ledger.purchases.len(), 2, "the bad row is left out");
    let err = calculate_read(
        &read,
        lib(),
        &SupplierIndex::default(),
        &ReportOptions::default(),
    )
    .unwrap_err();
    let CalcError::Rows(p) = &err else {
        panic!("expected ledger problems: {err}")
    };
    let got: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "purchases.csv:2:2: column `quantity`: `abc` is not a decimal number",
            "purchases.csv:3:4: column `factor_id`: unknown factor id `nope:factor`",
        ]
    );
    assert!(
        err.to_string().starts_with("2 ledger problem(s):\n"),
        "{err}"
    );
    // A category 1 problem no longer hides the problems of the other categories.
    let l = ledger(
        "purchases.csv",
        "description,quantity,unit,factor_id\nmissing,1,t,nope:factor\n",
    );
    let mut l2 = ledger(
        "transport.csv",
        "description,mass,mass_unit,distance,distance_unit,factor_id\nleg,1,t,1,km,nope:truck\n",
    );
    l2.purchases = l.purchases;
    l2.headers.extend(l.headers);
    let err = calculate(
        &l2,
        lib(),
        &SupplierIndex::default(),
        &ReportOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("purchases.csv:2:4: column `factor_id`: unknown factor id `nope:factor`")
            && msg
                .contains("transport.csv:2:6: column `factor_id`: unknown factor id `nope:truck`"),
        "{msg}"
    );
}

/// Line and column (1-based) where `needle` first occurs in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

#[test]
fn composition_refuses_negative_amount_and_share_above_100_with_file_line_column() {
    // The issue's cases: a −2 kg component (the footprint came out at −3.2 kgCO2e) and a
    // primaryDataShare of 150 (77.31 %); with an unknown factor, all three in one run.
    let text = r#"{
  "entries": [
    {
      "id": "bracket", "companyName": "c", "companyIds": ["urn:pact:c.example:company:1"],
      "productIds": ["urn:pact:c.example:product-id:bracket"], "productNameCompany": "Bracket",
      "declaredUnit": "piece", "declaredUnitAmount": "1", "productMassPerDeclaredUnit": "1.9",
      "referencePeriodStart": "2025-01-01T00:00:00Z", "referencePeriodEnd": "2026-01-01T00:00:00Z",
      "components": [
        {"description": "steel sheet", "productId": "urn:pact:posco.example:product-id:sheet-01", "amount": "-2", "unit": "kilogram"},
        {"description": "paint", "factorId": "no:such-factor", "amount": "0.1", "unit": "kilogram"}
      ],
      "ownProcesses": [
        {"description": "welding", "emissionsKg": "1.0", "primaryDataShare": "150"}
      ]
    }
  ]
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.json");
    std::fs::write(&path, text).unwrap();
    let idx = SupplierIndex::new(vec![pcf(
        "steel",
        "urn:pact:posco.example:product-id:sheet-01",
        "kilogram",
        dec!(1),
        dec!(2.1),
        Some(dec!(60)),
        Some(Dqi::new(2, 1, 1)),
    )]);
    let bom = load_bom(&path).unwrap();
    let err = compose(&bom, lib(), &idx).unwrap_err();
    let ComposeError::Invalid(problems) = &err else {
        panic!("expected bom problems, got {err}")
    };
    let file = path.display().to_string();
    let at = |needle: &str| {
        let (l, c) = position_of(text, needle);
        format!("{file}:{l}:{c}")
    };
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            format!(
                "{}: entry `bracket`: /components/0 (steel sheet): amount must be above 0, found -2",
                at(r#""-2""#)
            ),
            format!(
                "{}: entry `bracket`: /components/1 (paint): unknown factor id `no:such-factor`",
                at(r#""no:such-factor""#)
            ),
            format!(
                "{}: entry `bracket`: /ownProcesses/0 (welding): primaryDataShare must be between 0 and 100, found 150",
                at(r#""150""#)
            ),
        ]
    );
    assert_eq!(problems[0].pointer, "/entries/0/components/0/amount");
    assert!(err.to_string().starts_with("3 bom problem(s):\n"), "{err}");
}

#[test]
fn composition_carries_biogenic_uptake_and_every_stated_pact_figure() {
    // The wbcsd bioethanol footprint (pcfExcludingBiogenicUptake 0.384, biogenicCO2Uptake
    // −1.61 per kg, biogenic and land figures stated) as a 2 kg component, plus 1.0 kg of
    // own measured process emissions.
    let doc: serde_json::Value = serde_json::from_str(include_str!(
        "../../../testdata/v3-productfootprint-bioethanol-kg.json"
    ))
    .unwrap();
    let ethanol = crate::scope3::inbox::supplier_pcf(&doc).expect("a full PACT footprint");
    let idx = SupplierIndex::new(vec![ethanol]);
    let entry = bom_entry(
        "blend",
        r#""components":[{"description":"bioethanol","productId":"urn:gtin:5695872369587","amount":"2","unit":"kilogram"}],"ownProcesses":[{"description":"blending","emissionsKg":"1.0","primaryDataShare":"100"}]"#,
    );
    let bom = parse_bom(&format!(r#"{{"entries":[{entry}]}}"#), &examples()).unwrap();
    let c = compose(&bom, lib(), &idx).unwrap();
    let pcf = &c.footprint["pcf"];
    let want = [
        // 2 × 0.384 + 1.0
        ("pcfExcludingBiogenicUptake", "1.768"),
        // 2 × −1.61: the uptake is carried, not dropped
        ("biogenicCO2Uptake", "-3.22"),
        // 1.768 + (−3.22): no longer equal to the figure excluding the uptake
        ("pcfIncludingBiogenicUptake", "-1.452"),
        // 2 × 0.35 + 1.0 (the own process is fossil)
        ("fossilGhgEmissions", "1.7"),
        ("fossilCarbonContent", "0"),
        ("biogenicCarbonContent", "0.88"),
        ("recycledCarbonContent", "0"),
        ("landUseChangeGhgEmissions", "0"),
        ("landManagementBiogenicCO2Emissions", "0.008"),
        ("landManagementBiogenicCO2Removals", "0"),
        ("biogenicNonCO2Emissions", "0.004"),
    ];
    for (name, value) in want {
        assert_eq!(pcf[name], value, "{name}: {pcf:#}");
    }
    // Figures the own process does not state are absent, never 0.
    for name in [
        "landAreaOccupation",
        "landManagementFossilGhgEmissions",
        "aircraftGhgEmissions",
        "landCarbonLeakage",
        "ccsTechnologicalCO2Capture",
    ] {
        assert!(pcf.get(name).is_none(), "{name}: {pcf:#}");
    }
    assert_eq!(pcf["ccsTechnologicalCO2CaptureIncluded"], false);
    assert_eq!(
        c.breakdown[0].figures[&Figure::BiogenicCo2Uptake],
        dec!(-3.22)
    );
    // The parts add up: the composed footprint passes every PACT rule (biogenic sum,
    // pcfExcludingBiogenicUptake over its parts, signs).
    let findings = tanso_model::pact::validate(&c.footprint, &Default::default());
    assert_eq!(findings, vec![], "{pcf:#}");
    // So does the worked example.
    let idx = SupplierIndex::new(vec![pcf_of_steel()]);
    let c = compose(
        &load_bom(&examples().join("bom_frame.json")).unwrap(),
        lib(),
        &idx,
    )
    .unwrap();
    assert_eq!(
        tanso_model::pact::validate(&c.footprint, &Default::default()),
        vec![]
    );
    assert_eq!(c.footprint["pcf"]["fossilCarbonContent"], "0.0086");
}

fn pcf_of_steel() -> SupplierPcf {
    pcf(
        "steel",
        "urn:pact:posco.example:product-id:sheet-01",
        "kilogram",
        dec!(1),
        dec!(2.1),
        Some(dec!(60)),
        Some(Dqi::new(2, 1, 1)),
    )
}

#[test]
fn composition_names_the_input_lacking_a_figure_pact_requires() {
    // A supplier footprint in the flat layout that states only the total: the composed
    // footprint cannot have fossilGhgEmissions, so the component is named (no silent 0).
    let mut steel = pcf_of_steel();
    steel.figures.clear();
    let bom = load_bom(&examples().join("bom_bracket.json")).unwrap();
    let err = compose(&bom, lib(), &SupplierIndex::new(vec![steel])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("entry `bracket`: /components/0: urn:pact:posco.example:product-id:sheet-01 (steel) (steel sheet) states no fossilGhgEmissions, which the composed footprint needs"),
        "{msg}"
    );
    // A database-factor material states no carbon content: the entry must state it.
    let entry = bom_entry(
        "tube",
        r#""components":[{"factorId":"guide:steel","amount":"0.5","unit":"kilogram"}]"#,
    );
    let bom = parse_bom(&format!(r#"{{"entries":[{entry}]}}"#), &examples()).unwrap();
    let msg = compose(&bom, lib(), &SupplierIndex::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("states no fossilCarbonContent, which the composed footprint needs (or state fossilCarbonContent for the whole product in the entry)"),
        "{msg}"
    );
}

#[test]
fn ledger_years_are_acquisition_and_spend_years() {
    let l = load_ledger(&examples().join("ledger")).unwrap();
    // capital goods acquired in 2025; spend at 2022 (USD) and 2024 (KRW) prices
    assert_eq!(l.years(), vec![2022, 2024, 2025]);
    let l = ledger(
        "capital_goods.csv",
        "description,quantity,unit,material,acquisition_year,lifetime_years\n\
         press,1,t,steel,2023,10\n\
         lathe,2,t,steel,2021,10\n\
         mill,3,t,steel,2023,10\n",
    );
    assert_eq!(l.years(), vec![2021, 2023]);
    assert_eq!(
        ledger(
            "travel.csv",
            "description,mode,passengers,distance,distance_unit\nx,car,1,10,km\n"
        )
        .years(),
        Vec::<i32>::new()
    );
}

/// Reading a ledger directory reports one bytes phase whose total is the size of its ledger
/// files and which advances by exactly that much, and the rows read are those of
/// `read_ledger`.
#[test]
fn reading_a_ledger_reports_its_bytes_read() {
    use std::sync::Mutex;
    use tanso_model::progress::{Progress, Unit as ProgressUnit};

    #[derive(Default)]
    struct Seen {
        starts: Mutex<Vec<(String, ProgressUnit, Option<u64>)>>,
        advanced: Mutex<u64>,
        finished: Mutex<u32>,
    }
    impl Progress for Seen {
        fn start(&self, what: &str, unit: ProgressUnit, total: Option<u64>) {
            self.starts.lock().unwrap().push((what.into(), unit, total));
        }
        fn advance(&self, n: u64) {
            *self.advanced.lock().unwrap() += n;
        }
        fn finish(&self) {
            *self.finished.lock().unwrap() += 1;
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let mut purchases = String::from(
        "description,supplier_company_id,supplier_country,product_id,quantity,unit,spend,currency,spend_year,price_basis,naics,cpc,hs,material,factor_id\n",
    );
    for i in 0..2000 {
        purchases.push_str(&format!("steel coil {i},,KR,,1000,t,,,,,,,,steel,\n"));
    }
    std::fs::write(dir.path().join("purchases.csv"), &purchases).unwrap();
    let seen = Seen::default();
    let with = crate::scope3::read_ledger_with(dir.path(), &seen).unwrap();
    let without = crate::scope3::read_ledger(dir.path()).unwrap();
    let total = purchases.len() as u64;
    assert_eq!(
        *seen.starts.lock().unwrap(),
        vec![(
            "reading the ledger".to_string(),
            ProgressUnit::Bytes,
            Some(total)
        )]
    );
    assert_eq!(*seen.advanced.lock().unwrap(), total);
    assert_eq!(*seen.finished.lock().unwrap(), 1);
    assert_eq!(with.ledger.purchases.len(), 2000);
    assert!(with.problems.is_empty(), "{:?}", with.problems);
    assert_eq!(without.ledger.purchases.len(), 2000);
}

#[test]
fn a_file_that_is_not_a_ledger_file_is_named_without_a_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("purchases.csv"),
        "description,quantity,unit,material\nx,1,t,steel\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.csv"), "a,b\n1,2\n").unwrap();
    let read = crate::scope3::read_ledger(dir.path()).unwrap();
    let shown: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    let notes = dir.path().join("notes.csv").display().to_string();
    assert!(
        shown[0].starts_with(&format!("{notes}: unknown ledger file")),
        "{shown:?}"
    );
}

/// A carrier's shipment footprint as the inbox gives it: shipment `id`, `tkm` t·km,
/// `wtw` kgCO2e well-to-wheel, from `carrier`.
fn shipment_pcf(fid: &str, carrier: &str, id: &str, tkm: Decimal, wtw: Decimal) -> SupplierPcf {
    let mut p = pcf(
        fid,
        &format!("urn:pathfinder:product:customcode:vendor-assigned:shipment:{id}"),
        "ton kilometer",
        tkm,
        wtw,
        Some(dec!(0)),
        None,
    );
    p.company_id = carrier.into();
    p.ipcc_characterization_factors = vec!["AR5".into()];
    p.shipment = Some(crate::scope3::ShipmentPcf {
        shipment_id: id.into(),
        wtw_kg: wtw,
        ttw_kg: wtw * dec!(0.8),
        tkm,
        mass_kg: dec!(20000),
        tces: 1,
    });
    p
}

#[test]
fn cat4_uses_a_received_shipment_footprint_before_the_distance_default() {
    // S-1: the carrier's footprint states 5,000 t·km (20 t × 250 km) and 1,561.9 kgCO2e
    // well-to-wheel (5,000 × 0.31238). S-2 has no footprint: distance-based default,
    // 100 t × 200 km = 20,000 t·km × 0.08 (transport:truck, low end) = 1,600 kg.
    // Category 4 = 1,561.9 + 1,600 = 3,161.9 kg; primary share = 1,561.9 / 3,161.9 × 100
    // = 49.3975… %.
    let l = ledger(
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit,shipment_id\n\
         coils,truck,20,t,250,km,S-1\n\
         parts,truck,100,t,200,km,S-2\n",
    );
    let index = SupplierIndex::new(vec![shipment_pcf(
        "fp-s1",
        "urn:tanso:company:a-logistics",
        "s-1",
        dec!(5000),
        dec!(1561.9),
    )]);
    let opts = ReportOptions {
        year: Some(2026),
        ..Default::default()
    };
    let r = calculate(&l, lib(), &index, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cat(&r, Category::C4UpstreamTransport).kg(), dec!(3161.9));
    let s1 = &r.lines[0];
    assert_eq!(s1.method, Method::SupplierSpecific);
    assert_eq!(s1.sub_activity, crate::scope3::calc::SHIPMENT_METHOD);
    assert!(s1.sub_activity.contains("iLEAP") && s1.sub_activity.contains("ISO 14083"));
    assert!(s1.primary);
    assert_eq!(s1.emissions.kg(), dec!(1561.9));
    assert_eq!(s1.quantity, dec!(5000));
    assert_eq!(s1.factor_value, dec!(0.31238));
    assert_eq!(&*s1.factor_id, "pcf:fp-s1");
    assert!(
        s1.source.source.starts_with(
            "footprint fp-s1 from carrier urn:tanso:company:a-logistics: shipment s-1"
        ),
        "{}",
        s1.source.source
    );
    assert_eq!(s1.gwp, crate::scope3::GwpSet::AR5);
    let s2 = &r.lines[1];
    assert_eq!(s2.method, Method::DistanceBased);
    assert_eq!(s2.emissions.kg(), dec!(1600));
    assert_eq!(
        s2.note.as_deref(),
        Some("no received shipment footprint for shipment `S-2`")
    );
    assert_eq!(r.primary_data_share_pct.unwrap().round_dp(4), dec!(49.3975));
    let c4 = &r.categories[3];
    assert_eq!((c4.primary.kg(), c4.lines), (dec!(1561.9), 2));
}

#[test]
fn cat9_downstream_transport_has_its_own_file_and_category() {
    // Downstream: the buyer pays; the carrier still reports the shipment to us.
    // S-9: 1,000 t·km, 250 kg well-to-wheel (primary). Other leg: 10 t × 100 km × 0.08
    // = 80 kg. Category 9 = 330 kg; category 4 empty; primary share 250 / 330 × 100
    // = 75.7575… %.
    let l = ledger(
        "downstream_transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit,shipment_id\n\
         to customer,truck,10,t,100,km,S-9\n\
         to retailer,truck,10,t,100,km,\n",
    );
    assert_eq!((l.transport.len(), l.downstream_transport.len()), (0, 2));
    let index = SupplierIndex::new(vec![shipment_pcf(
        "fp-s9",
        "urn:tanso:company:a-logistics",
        "S-9",
        dec!(1000),
        dec!(250),
    )]);
    let r = calculate(&l, lib(), &index, &ReportOptions::default()).unwrap();
    assert_eq!(cat(&r, Category::C9DownstreamTransport).kg(), dec!(330));
    assert_eq!(cat(&r, Category::C4UpstreamTransport).kg(), dec!(0));
    assert_eq!(r.categories.len(), 9);
    assert_eq!(r.categories[8].number, 9);
    assert_eq!(
        r.categories[8].name,
        "downstream transportation and distribution"
    );
    assert_eq!(r.primary_data_share_pct.unwrap().round_dp(4), dec!(75.7576));
    assert!(
        r.lines
            .iter()
            .all(|l| l.category == Category::C9DownstreamTransport)
    );
    let csv = r.render(Format::Csv);
    assert!(
        csv.contains("category_total,9,,downstream transportation and distribution,"),
        "{csv}"
    );
    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(json["categories"][8]["number"], 9);
    assert!(
        r.render(Format::Md)
            .contains("| 9 | downstream transportation and distribution | 330 |")
    );
}

#[test]
fn a_shipment_id_two_carriers_use_is_ambiguous_and_an_inactive_one_is_not_used() {
    let l = ledger(
        "transport.csv",
        "description,mode,mass,mass_unit,distance,distance_unit,shipment_id\nleg,truck,1,t,1,km,S-1\n",
    );
    let a = shipment_pcf("fa", "urn:tanso:company:a", "S-1", dec!(1), dec!(1));
    let b = shipment_pcf("fb", "urn:tanso:company:b", "S-1", dec!(1), dec!(2));
    let err = calculate(
        &l,
        lib(),
        &SupplierIndex::new(vec![a.clone(), b.clone()]),
        &ReportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("transport.csv:2:7: column `shipment_id`: shipment `S-1` has active shipment footprints from several carriers (urn:tanso:company:a, urn:tanso:company:b)"),
        "{err}"
    );
    // b deprecated: a's is the one; a deprecated too: the default (1 t·km × 0.08).
    let mut b_old = b;
    b_old.status_active = false;
    let r = calculate(
        &l,
        lib(),
        &SupplierIndex::new(vec![a.clone(), b_old.clone()]),
        &ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.total.kg(), dec!(1));
    let mut a_old = a;
    a_old.status_active = false;
    let r = calculate(
        &l,
        lib(),
        &SupplierIndex::new(vec![a_old, b_old]),
        &ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (r.total.kg(), r.lines[0].method),
        (dec!(0.08), Method::DistanceBased)
    );
}
