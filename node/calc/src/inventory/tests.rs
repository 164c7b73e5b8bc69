//! Worked examples of the own inventory, each with its hand computation.

use std::sync::LazyLock;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;

static LIB: LazyLock<FactorLibrary> = LazyLock::new(FactorLibrary::builtin);

fn run(files: &[(&str, &str)]) -> Result<Inventory, LedgerError> {
    let ledger = read_inventory_text(files.iter().copied()).into_result()?;
    calculate(&ledger, &LIB)
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    match run(files) {
        Ok(_) => panic!("expected problems"),
        Err(LedgerError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn diesel_truck_is_scope1_mobile_from_desnz_2024() {
    // 1,200 litres of diesel in truck 12-가-3456 in March 2024.
    // DESNZ 2024 "Diesel (average biofuel blend)" 2.51279 kgCO2e/litre (AR5):
    // 1200 × 2.51279 = 3015.348 kg CO2e.
    let inv = run(&[(
        "fuel.csv",
        "date,department,team,asset,use,fuel,quantity,unit\n\
         2024-03-14,Trunk haulage,Team 1,12-가-3456,mobile,diesel,1200,litre\n",
    )])
    .unwrap();
    assert_eq!(inv.lines.len(), 1);
    let line = &inv.lines[0];
    assert_eq!(line.category, Category::Scope1Mobile);
    assert_eq!(line.method, Method::FuelBased);
    assert_eq!(&*line.factor.id, "desnz-2024:1_101_1011_8_1");
    assert_eq!(line.factor.value, dec!(2.51279));
    assert_eq!(line.factor.gwp, GwpSet::AR5);
    assert!(
        line.factor
            .source
            .source
            .contains("Department for Energy Security")
    );
    assert_eq!(line.emissions.kg(), dec!(3015.348));
    let march = inv.measures(None);
    assert_eq!(
        march.get("scope1_kg", Period::month(2024, 3)),
        Some(dec!(3015.348))
    );
    assert_eq!(
        march.get("fuel_l", Period::month(2024, 3)),
        Some(dec!(1200))
    );
}

#[test]
fn gas_boiler_in_kwh_gross_and_in_m3() {
    // Warehouse boiler, natural gas: 10,000 kWh (gross CV) × 0.1829 = 1829 kg;
    // the next month 500 m3 × 2.04542 = 1022.71 kg (DESNZ 2024 natural gas rows).
    let inv = run(&[(
        "fuel.csv",
        "date,department,asset,use,fuel,quantity,unit\n\
         2024-01-31,Warehousing,Icheon DC,stationary,natural gas,10000,kWh-gross-cv\n\
         2024-02-29,Warehousing,Icheon DC,stationary,natural-gas,500,m3\n",
    )]);
    // `natural gas` is not a known fuel name: the ledger says so at its column.
    let err = match inv {
        Err(LedgerError::Invalid(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].line, 2);
    assert_eq!(err[0].column.as_deref(), Some("fuel"));
    let inv = run(&[(
        "fuel.csv",
        "date,department,asset,use,fuel,quantity,unit\n\
         2024-01-31,Warehousing,Icheon DC,stationary,natural-gas,10000,kWh-gross-cv\n\
         2024-02-29,Warehousing,Icheon DC,stationary,natural-gas,500,m3\n",
    )])
    .unwrap();
    assert_eq!(inv.lines[0].category, Category::Scope1Stationary);
    assert_eq!(inv.lines[0].emissions.kg(), dec!(1829));
    assert_eq!(&*inv.lines[1].factor.id, "desnz-2024:1_100_1004_1_1");
    assert_eq!(inv.lines[1].emissions.kg(), dec!(1022.71));
    let by_month = inv.by_month(|_, _| true);
    assert_eq!(
        by_month[&Period::month(2024, 1)].scope1_stationary.kg(),
        dec!(1829)
    );
    // Boiler gas in m3 is a volume too, but fuel_l feeds the vehicles' km/L: not counted.
    assert_eq!(by_month[&Period::month(2024, 2)].fuel_litres, Decimal::ZERO);
}

#[test]
fn r410a_leak_in_ar5_and_ar6() {
    // 3.5 kg of R-410A topped up into a leaking chiller (mass balance: released = topped up).
    // AR5 (DESNZ 2024, Kyoto products only): 1924 kgCO2e/kg × 3.5 = 6734 kg.
    // AR6: 0.5 × 771 (HFC-32) + 0.5 × 3740 (HFC-125) = 2255.5; × 3.5 = 7894.25 kg.
    let inv = run(&[(
        "refrigerants.csv",
        "date,department,team,site,gas,quantity,unit,gwp\n\
         2024-07-02,Warehousing,Cold store,Icheon DC,R-410A,3.5,kg,AR5\n\
         2024-07-02,Warehousing,Cold store,Pyeongtaek DC,r410a,3.5,kg,AR6\n",
    )])
    .unwrap();
    assert_eq!(inv.lines[0].category, Category::Scope1Fugitive);
    assert_eq!(inv.lines[0].method, Method::MassReleasedTimesGwp);
    assert_eq!(inv.lines[0].factor.gwp, GwpSet::AR5);
    assert_eq!(inv.lines[0].emissions.kg(), dec!(6734));
    assert_eq!(&*inv.lines[1].factor.id, "ar6:r-410a");
    assert_eq!(inv.lines[1].factor.gwp, GwpSet::AR6);
    assert_eq!(inv.lines[1].emissions.kg(), dec!(7894.25));
    // AR4 is not shipped: the row is refused, naming the gas column.
    let p = problems(&[(
        "refrigerants.csv",
        "date,department,site,gas,quantity,unit,gwp\n2024-07-02,W,S,R-410A,1,kg,AR4\n",
    )]);
    assert!(
        p[0].starts_with("refrigerants.csv:2:4: column `gas`: no shipped AR4 GWP"),
        "{p:?}"
    );
}

#[test]
fn location_and_market_based_with_a_rec_covering_part() {
    // Icheon DC (KR grid) uses 100 MWh in May and 80 MWh in June 2024. A retired 2024 REC
    // of 120 MWh covers May fully and 20 MWh of June.
    // Location-based: 180,000 kWh × 0.4173 tCO2e/MWh (Korean grid 2023, keyed grid:KR)
    //   = 180 MWh × 0.4173 t = 75.114 t = 75,114 kg (May 41,730; June 33,384).
    // Market-based: May 100 MWh × 0 (REC) = 0; June 20 MWh × 0 + 60 MWh × residual mix.
    //   Korea publishes no residual mix, so the grid average is used and recorded:
    //   60 × 0.4173 t = 25.038 t = 25,038 kg.
    // A second REC is not retired and one is from 2023: both are rejected with the criterion.
    let inv = run(&[
        (
            "electricity.csv",
            "date,department,site,grid,energy_type,quantity,unit\n\
             2024-05,Warehousing,Icheon DC,KR,electricity,100,MWh\n\
             2024-06,Warehousing,Icheon DC,KR,electricity,80000,kWh\n",
        ),
        (
            "instruments.csv",
            "id,kind,site,grid,vintage_year,quantity,unit,retired\n\
             REC-2024-001,rec,Icheon DC,KR,2024,120,MWh,yes\n\
             REC-2024-002,rec,Icheon DC,KR,2024,50,MWh,no\n\
             REC-2023-009,rec,Icheon DC,KR,2023,50,MWh,yes\n",
        ),
    ])
    .unwrap();
    let months = inv.by_month(|_, _| true);
    let may = months[&Period::month(2024, 5)];
    let june = months[&Period::month(2024, 6)];
    assert_eq!(may.scope2_location.kg(), dec!(41730));
    assert_eq!(june.scope2_location.kg(), dec!(33384));
    assert_eq!(may.scope2_market.kg(), Decimal::ZERO);
    assert_eq!(june.scope2_market.kg(), dec!(25038));
    assert_eq!(may.renewable_kwh + june.renewable_kwh, dec!(120000));
    let fallback: Vec<_> = inv
        .lines
        .iter()
        .filter(|l| l.method == Method::MarketGridFallback)
        .collect();
    assert_eq!(fallback.len(), 1);
    assert_eq!(fallback[0].activity, dec!(60)); // 60,000 kWh in the factor's MWh
    assert_eq!(&*fallback[0].factor.id, "kr-grid:2023");
    assert!(
        fallback[0]
            .note
            .as_deref()
            .unwrap()
            .contains("no residual mix for the KR grid")
    );
    assert_eq!(inv.instruments[0].applied_kwh, dec!(120000));
    assert_eq!(inv.instruments[0].unused_kwh, Decimal::ZERO);
    assert!(
        inv.instruments[1]
            .rejected
            .as_deref()
            .unwrap()
            .contains("not retired")
    );
    assert!(
        inv.instruments[2]
            .rejected
            .as_deref()
            .unwrap()
            .contains("2023")
    );
    let m = inv.measures(Some("Warehousing"));
    assert_eq!(
        m.get("scope2_kg", Period::month(2024, 6)),
        Some(dec!(33384))
    );
    assert_eq!(
        m.get("scope2_market_kg", Period::month(2024, 6)),
        Some(dec!(25038))
    );
    assert!(inv.measures(Some("Trunk haulage")).is_empty());
}

#[test]
fn a_residual_mix_from_a_user_set_is_used_before_the_fallback() {
    // A user set gives GB a residual mix of 0.35 kgCO2e/kWh: 1,000 kWh → 350 kg market-based,
    // while location-based uses DESNZ 2024 UK electricity 0.20705: 207.05 kg.
    let user = crate::scope3::factors::parse_set(
        "user.csv",
        b"id,key,name,value,low,high,numerator,denominator,gwp,geography,year,dqr_tech,set,version,source,licence,notes\n\
          rm:gb,residual-mix:GB,GB residual mix,0.35,,,kgCO2e,kWh,AR5,GB,2024,2,user,1,AIB 2024,company,\n",
    )
    .unwrap();
    let lib = LIB.with_extra(&[user]).unwrap();
    let ledger = read_inventory_text([(
        "electricity.csv",
        "date,department,site,grid,energy_type,quantity,unit\n2024-05-01,Sales,London,GB,electricity,1000,kWh\n",
    )])
    .into_result()
    .unwrap();
    let inv = calculate(&ledger, &lib).unwrap();
    let t = inv.by_month(|_, _| true)[&Period::month(2024, 5)];
    assert_eq!(t.scope2_location.kg(), dec!(207.05));
    assert_eq!(t.scope2_market.kg(), dec!(350));
    assert!(inv.lines.iter().any(|l| l.method == Method::ResidualMix));
}

#[test]
fn bad_rows_are_reported_with_file_line_and_column_and_nothing_is_calculated() {
    let p = problems(&[
        (
            "fuel.csv",
            "date,department,asset,use,fuel,quantity,unit\n\
             2024-13-01,D,T1,mobile,diesel,10,litre\n\
             2024-01-01,D,T1,flying,diesel,10,litre\n\
             2024-01-01,D,T1,mobile,diesel,-3,litre\n\
             2024-01-01,D,T1,mobile,diesel,3,parsec\n\
             2024-01-01,D,T1,mobile,diesel,3,piece\n",
        ),
        (
            "electricity.csv",
            "date,department,site,grid,energy_type,quantity,unit,colour\n",
        ),
        (
            "instruments.csv",
            "id,kind,site,grid,vintage_year,quantity,unit,retired\nS1,supplier-specific,X,KR,2024,1,MWh,yes\n",
        ),
        ("notes.csv", "a\n"),
    ]);
    assert_eq!(
        p,
        vec![
            "fuel.csv:2:1: column `date`: `2024-13-01` is not a date (YYYY-MM-DD or YYYY-MM)",
            "fuel.csv:3:4: column `use`: `flying` is not mobile or stationary",
            "fuel.csv:4:6: column `quantity`: `-3` is negative",
            "fuel.csv:5:7: column `unit`: unknown unit `parsec`",
            "electricity.csv:1:8: column `colour`: unknown column (expected date, department, site, grid, energy_type, quantity, unit, team, factor_id)",
            "instruments.csv:2: column `factor_kg_per_kwh`: a supplier-specific rate needs its emission factor",
            "notes.csv: unknown inventory ledger file: the name must start with one of fuel, electricity, refrigerants, instruments",
        ]
    );
    // A fuel in pieces parses but has no factor: the calculation names the unit column.
    let p = problems(&[(
        "fuel.csv",
        "date,department,asset,use,fuel,quantity,unit\n2024-01-01,D,T1,mobile,diesel,3,piece\n",
    )]);
    assert!(
        p[0].starts_with("fuel.csv:2:7: column `unit`: no shipped `diesel` factor per piece"),
        "{p:?}"
    );
}

#[test]
fn a_logistics_reproduces_the_guides_yearly_totals() {
    // The KPI guide's A Logistics: 5,200 t (2022), 4,550 t (2023, −12.5 %), 3,900 t
    // (2024, −25 %). The ledgers (data/examples/a-logistics, written by its generate.py)
    // hold 36 months of fuel, electricity and refrigerant rows; the totals are computed here.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/examples/a-logistics/ledger");
    let ledger = read_inventory_dir(&dir).unwrap().into_result().unwrap();
    let inv = calculate(&ledger, &LIB).unwrap();
    let years = inv.by_year();
    let tonnes = |y: i32| {
        let t = years[&y];
        tanso_model::rounding::round((t.scope1() + t.scope2_location).tonnes(), 0)
    };
    assert_eq!(
        (tonnes(2022), tonnes(2023), tonnes(2024)),
        (dec!(5200), dec!(4550), dec!(3900))
    );
    // −12.5 % and −25 % against year one: 4550 / 5200 = 0.875, 3900 / 5200 = 0.75.
    assert_eq!(tonnes(2023) / tonnes(2022), dec!(0.875));
    assert_eq!(tonnes(2024) / tonnes(2022), dec!(0.75));
    // No instruments and no Korean residual mix: market-based equals location-based.
    assert_eq!(years[&2024].scope2_market, years[&2024].scope2_location);
    // Every department reports in every month, and the KPI measures roll up to the year.
    let by_department = inv.by_department();
    let names: Vec<&str> = by_department.keys().map(|d| &**d).collect();
    assert_eq!(
        names,
        ["Last-mile delivery", "Trunk haulage", "Warehousing"]
    );
    assert!(by_department.values().all(|months| months.len() == 36));
    let measures = inv.measures(None);
    let year = |m: &str, y: i32| {
        measures
            .value(m, Period::year(y), crate::kpi::Aggregate::Sum)
            .unwrap()
    };
    let total_2022 = year("scope1_kg", 2022) + year("scope2_kg", 2022);
    assert_eq!(tanso_model::rounding::round(total_2022, 0), dec!(5200000));
    // Electric vans appear in 2023: Last-mile delivery has Scope 2 from then on only.
    let last_mile = inv.measures(Some("Last-mile delivery"));
    assert_eq!(
        last_mile.get("scope2_kg", Period::month(2022, 6)),
        Some(Decimal::ZERO)
    );
    assert!(last_mile.get("scope2_kg", Period::month(2023, 6)).unwrap() > Decimal::ZERO);
}

#[test]
fn rows_whose_equal_names_are_separate_allocations_share_their_totals() {
    // Two ledgers read apart intern "Trunk haulage" and "Team 1" separately; joined, their
    // rows must still add into one (month, department, team) total, and a fuel or unit that
    // changes between consecutive rows must not reuse the previous row's factor.
    // 100 L diesel × 2.51279 = 251.279 kg; 200 L diesel × 2.51279 = 502.558 kg;
    // 50 L petrol × 2.0844 (DESNZ 2024 "Petrol (average biofuel blend)") = 104.22 kg.
    let a = "date,department,team,asset,use,fuel,quantity,unit\n\
             2024-03-01,Trunk haulage,Team 1,T-1,mobile,diesel,100,litre\n\
             2024-03-02,Trunk haulage,Team 1,T-1,mobile,petrol,50,litre\n";
    let b = "date,department,team,asset,use,fuel,quantity,unit\n\
             2024-03-03,Trunk haulage,Team 1,T-2,mobile,diesel,200,litre\n";
    let mut ledger = read_inventory_text([("fuel-a.csv", a)])
        .into_result()
        .unwrap();
    let other = read_inventory_text([("fuel-b.csv", b)])
        .into_result()
        .unwrap();
    assert!(!Arc::ptr_eq(
        &ledger.fuel[0].org.department,
        &other.fuel[0].org.department
    ));
    ledger.fuel.extend(other.fuel);
    let inv = calculate(&ledger, &LIB).unwrap();
    assert_eq!(inv.monthly.len(), 1);
    let t = inv.monthly.values().next().unwrap();
    assert_eq!(
        t.scope1_mobile.kg(),
        dec!(251.279) + dec!(104.22) + dec!(502.558)
    );
    assert_eq!(t.fuel_litres, dec!(350));
    let ids: Vec<&str> = inv.lines.iter().map(|l| &*l.factor.id).collect();
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn fields_are_trimmed_where_they_are_read() {
    // The same diesel row with spaces around every field: 1200 × 2.51279 = 3015.348 kg.
    let inv = run(&[(
        "fuel.csv",
        " date , department , team , asset , use , fuel , quantity , unit \n\
          2024-03-14 , Trunk haulage , Team 1 , T-1 , mobile , diesel , 1200 , litre \n",
    )])
    .unwrap();
    let line = &inv.lines[0];
    assert_eq!(&*line.org.department, "Trunk haulage");
    assert_eq!(&*line.org.team, "Team 1");
    assert_eq!(line.emissions.kg(), dec!(3015.348));
}
