//! Worked examples (hand computations in the comments) and bad-input cases.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::CbamError;
use crate::calc::{calculate, parse_monitoring};
use crate::cn::{Category, CnCode, annex_i};
use crate::defaults::DefaultValues;
use crate::record::{CbamRecord, ValueKind};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

const INSTALLATION: &str = r#"
[installation]
name = "Pohang Works"
installationId = "KR-INST-0001"
country = "KR"
unlocode = "KRKPO"
coordinates = { latitude = "36.0190", longitude = "129.3435" }
[installation.operator]
name = "Example Steel Co."
country = "KR"

[period]
start = "2026-01-01"
end = "2026-12-31"
"#;

fn monitoring(body: &str) -> crate::calc::Monitoring {
    parse_monitoring(&format!("{INSTALLATION}{body}"), "monitoring.toml").unwrap()
}

// Worked example 1: a scrap-based EAF route (iron and steel).
//
// natural gas (fuel): 1,000 t × NCV 0.048 TJ/t = 48 TJ × 56.1 t CO2/TJ × OxF 1 = 2,692.8 t
// electrodes (material): 300 t × 3.663 t CO2/t × ConvF 1                  = 1,098.9 t
// DirEm = 3,791.7 t; imported heat 10 TJ × 62.3 t CO2/TJ = 623 t
// AttrEm_dir = 3,791.7 + 623 = 4,414.7 t; AL = 100,000 t
// SEE_dir = 4,414.7 / 100,000 = 0.044147 t CO2e/t
// AttrEm_indir = 45,000 MWh × 0.45 t CO2e/MWh = 20,250 t; SEE_ind = 0.2025 t CO2e/t
// Electricity per tonne: 45,000 / 100,000 = 0.45 MWh/t. Steel is an Annex II good: the
// indirect figure is communicated but not counted, so the counted SEE is 0.044147.
const EAF: &str = r#"
[[sourceStreams]]
name = "natural gas"
kind = "fuel"
activity = "1000"
ncv = "0.048"
fuelFactor = "56.1"
source = "IPCC 2006 Vol. 2 Table 1.2 (natural gas)"

[[sourceStreams]]
name = "electrodes"
kind = "material"
activity = "300"
materialFactor = "3.663"
source = "supplier carbon analysis"

[[processes]]
name = "EAF steelmaking"
route = "scrap EAF"
goods = [{ cnCode = "7207 11 11", produced = "100000" }]
streams = [{ name = "natural gas" }, { name = "electrodes" }]
heatImported = { quantity = "10", factor = "62.3", source = "neighbour's gas boiler, 56.1 / 0.9" }
electricity = { consumed = "45000", factor = "0.45", source = "KPX grid mix 2025" }
qualifying = { category = "iron-steel", carbonContent = "0.2", alloyContent = "0.5" }
"#;

#[test]
fn worked_example_eaf_steel() {
    let out = calculate(&monitoring(EAF), &[], &DefaultValues::default()).unwrap();
    let p = &out.processes[0];
    assert_eq!(p.dir_em.0, d("3791.7"));
    assert_eq!(p.attr_em_direct.0, d("4414.7"));
    assert_eq!(p.attr_em_indirect.0, d("20250"));
    let r = &out.records[0];
    assert_eq!(r.cn_code.as_str(), "72071111");
    assert_eq!(r.category, Category::IronSteel);
    assert_eq!(r.direct.value.0, d("0.044147"));
    assert_eq!(r.indirect.value.0, d("0.2025"));
    assert_eq!(r.electricity.as_ref().unwrap().consumed.0, d("0.45"));
    assert!(!r.indirect_counted);
    assert_eq!(r.counted_see().0, d("0.044147"));
    assert_eq!(r.direct.kind, ValueKind::Actual);
    assert!(r.direct.source.contains("IPCC 2006"), "{}", r.direct.source);
    assert!(r.indirect.source.contains("KPX grid mix 2025"));
    assert_eq!(
        r.record_id,
        "urn:tanso:cbam:KR-INST-0001:72071111:2026-01-01:2026-12-31"
    );
    r.validate().unwrap();
}

// Worked example 2: a BOF route with purchased pig iron (a precursor), part from a received
// record and part at the default value, and exported BOF gas (a waste gas).
//
// Mass balance: hot metal in 45,000 t × 0.045 t C/t = 2,025 t C;
//               crude steel out 50,000 t × 0.002 t C/t = 100 t C
// DirEm = 3.664 × (2,025 − 100) = 3.664 × 1,925 = 7,053.2 t
// WG_corr,exp = 60 TJ × 56.1 × (0.35 / 0.525) = 3,366 × 2/3 = 2,244 t
// AttrEm_dir = 7,053.2 − 2,244 = 4,809.2 t
// Pig iron: 30,000 t from the supplier's record (1.85 direct, 0.12 indirect) and 15,000 t at
// the default value (demo row 72011011: 1.90, 0.15):
//   EE_InpMat,dir = 30,000 × 1.85 + 15,000 × 1.90 = 55,500 + 28,500 = 84,000 t
//   EE_InpMat,ind = 30,000 × 0.12 + 15,000 × 0.15 = 3,600 + 2,250 = 5,850 t
// Electricity 5,000 MWh × 0.5 = 2,500 t
// SEE_dir = (4,809.2 + 84,000) / 50,000 = 88,809.2 / 50,000 = 1.776184 t CO2e/t
// SEE_ind = (2,500 + 5,850) / 50,000 = 8,350 / 50,000 = 0.167 t CO2e/t
// Precursor masses per tonne: 30,000 / 50,000 = 0.6 and 15,000 / 50,000 = 0.3.
const BOF: &str = r#"
[[sourceStreams]]
name = "hot metal carbon"
kind = "mass-balance"
activity = "45000"
carbonContent = "0.045"
direction = "input"
source = "laboratory analysis, monthly composite"

[[sourceStreams]]
name = "crude steel carbon"
kind = "mass-balance"
activity = "50000"
carbonContent = "0.002"
direction = "output"
source = "laboratory analysis, per heat"

[[processes]]
name = "BOF steelmaking"
route = "BF-BOF"
goods = [{ cnCode = "72071111", produced = "50000", footprintId = "urn:uuid:3e0b0c6a-6b1b-4d0e-9a51-3c1f9c1f0001" }]
streams = [{ name = "hot metal carbon" }, { name = "crude steel carbon" }]
wasteGasExported = "60"
electricity = { consumed = "5000", factor = "0.5", source = "KPX grid mix 2025" }

[[processes.precursors]]
cnCode = "72011011"
mass = "30000"
from = "record"
recordId = "urn:tanso:cbam:KR-INST-0900:72011011:2026-01-01:2026-12-31"
origin = "KR"

[[processes.precursors]]
cnCode = "72011011"
mass = "15000"
from = "default"
origin = "CN"
"#;

fn pig_iron_record() -> CbamRecord {
    let text = format!(
        "{}{}",
        INSTALLATION
            .replace("KR-INST-0001", "KR-INST-0900")
            .replace("Pohang Works", "Ironworks"),
        r#"
[[sourceStreams]]
name = "coke"
kind = "fuel"
activity = "100000"
ncv = "0.0282"
fuelFactor = "94.6"
factor = "1"
source = "IPCC 2006 Vol. 2 Table 1.4 (coke oven coke)"

[[processes]]
name = "blast furnace"
route = "BF"
goods = [{ cnCode = "72011011", produced = "150000" }]
streams = [{ name = "coke" }]
electricity = { consumed = "30000", factor = "0.6", source = "KPX grid mix 2025" }
"#
    );
    // 100,000 × 0.0282 = 2,820 TJ × 94.6 = 266,772 t; / 150,000 t = 1.77848 t CO2e/t.
    // 30,000 MWh × 0.6 = 18,000 t; / 150,000 = 0.12 t CO2e/t.
    let m = parse_monitoring(&text, "supplier.toml").unwrap();
    let mut out = calculate(&m, &[], &DefaultValues::default()).unwrap();
    let mut r = out.records.remove(0);
    assert_eq!(r.direct.value.0, d("1.77848"));
    assert_eq!(r.indirect.value.0, d("0.12"));
    // Round figure for the hand computation above.
    r.direct.value.0 = d("1.85");
    r
}

#[test]
fn worked_example_bof_with_purchased_pig_iron() {
    let received = [pig_iron_record()];
    let out = calculate(&monitoring(BOF), &received, &DefaultValues::shipped()).unwrap();
    let p = &out.processes[0];
    assert_eq!(p.dir_em.0, d("7053.2"));
    assert_eq!(p.attr_em_direct.0, d("4809.2"));
    assert_eq!(p.precursors_direct.0, d("84000"));
    assert_eq!(p.precursors_indirect.0, d("5850"));
    let r = &out.records[0];
    assert_eq!(r.direct.value.0, d("1.776184"));
    assert_eq!(r.indirect.value.0, d("0.167"));
    assert_eq!(
        r.footprint_id.as_deref(),
        Some("urn:uuid:3e0b0c6a-6b1b-4d0e-9a51-3c1f9c1f0001")
    );
    assert_eq!(r.precursors.len(), 2);
    let (rec, def) = (&r.precursors[0], &r.precursors[1]);
    assert_eq!(rec.mass_per_tonne.0, d("0.6"));
    assert_eq!(rec.direct.value.0, d("1.85"));
    assert_eq!(rec.direct.kind, ValueKind::Actual);
    assert_eq!(rec.installation_id.as_deref(), Some("KR-INST-0900"));
    assert!(rec.record_id.is_some());
    assert_eq!(def.mass_per_tonne.0, d("0.3"));
    assert_eq!(def.direct.value.0, d("1.90"));
    assert_eq!(def.direct.kind, ValueKind::Default);
    assert!(
        def.direct.source.contains("tanso demo value"),
        "{}",
        def.direct.source
    );
    assert!(r.uses_defaults());
    r.validate().unwrap();
}

#[test]
fn missing_record_falls_back_to_the_default_and_says_so() {
    // Without the supplier's record the 30,000 t are at the default as well:
    // EE_InpMat,dir = 45,000 × 1.90 = 85,500; SEE_dir = (4,809.2 + 85,500) / 50,000 = 1.806184
    let out = calculate(&monitoring(BOF), &[], &DefaultValues::shipped()).unwrap();
    let r = &out.records[0];
    assert_eq!(r.direct.value.0, d("1.806184"));
    assert_eq!(r.precursors[0].direct.kind, ValueKind::Default);
    assert!(r.precursors[0].direct.source.contains("not received"));
}

// Worked example 3: primary aluminium by electrolysis, with electricity (indirect).
//
// anodes (material): 4,200 t × 3.6 t CO2/t × ConvF 1 = 15,120 t
// PFC (measured, as CO2e):                                2,000 t
// AttrEm_dir = 17,120 t; AL = 10,000 t; SEE_dir = 1.712 t CO2e/t
// Electricity 150,000 MWh × 0.6 t CO2e/MWh = 90,000 t; SEE_ind = 9 t CO2e/t; 15 MWh/t
// Aluminium is an Annex II good: counted SEE = 1.712.
const ALUMINIUM: &str = r#"
[[sourceStreams]]
name = "anodes"
kind = "material"
activity = "4200"
materialFactor = "3.6"
source = "anode carbon content 98.2 %, operator's analysis"

[[sourceStreams]]
name = "PFC"
kind = "measured"
emissions = "2000"
source = "slope method, anode-effect minutes (measured)"

[[processes]]
name = "electrolysis"
route = "primary (Hall-Heroult)"
goods = [{ cnCode = "76011000", produced = "10000" }]
streams = [{ name = "anodes" }, { name = "PFC" }]
electricity = { consumed = "150000", factor = "0.6", source = "captive coal plant, measured" }
qualifying = { category = "aluminium", scrapShare = "0", alloyContent = "0" }
"#;

#[test]
fn worked_example_primary_aluminium_with_electricity() {
    let out = calculate(&monitoring(ALUMINIUM), &[], &DefaultValues::default()).unwrap();
    let r = &out.records[0];
    assert_eq!(r.category, Category::Aluminium);
    assert_eq!(r.direct.value.0, d("1.712"));
    assert_eq!(r.indirect.value.0, d("9"));
    assert_eq!(r.electricity.as_ref().unwrap().consumed.0, d("15"));
    assert_eq!(r.electricity.as_ref().unwrap().factor.0, d("0.6"));
    assert!(!r.indirect_counted);
    assert_eq!(r.counted_see().0, d("1.712"));
}

#[test]
fn own_precursor_process_comes_first_and_cement_counts_indirect() {
    // Clinker kiln: calcination 800,000 t raw meal × 0.525 t CO2/t = 420,000 t; AL 1,000,000 t
    //   clinker SEE_dir = 0.42; electricity 40,000 MWh × 0.5 = 20,000 → SEE_ind = 0.02
    // Cement mill (listed first; the order is resolved): 750,000 t clinker into 1,000,000 t
    //   cement; EE_InpMat,dir = 750,000 × 0.42 = 315,000 → SEE_dir = 0.315
    //   electricity 50,000 MWh × 0.5 = 25,000; EE_InpMat,ind = 750,000 × 0.02 = 15,000
    //   SEE_ind = (25,000 + 15,000) / 1,000,000 = 0.04; counted (cement) = 0.355
    let m = monitoring(
        r#"
[[sourceStreams]]
name = "raw meal"
kind = "material"
activity = "800000"
materialFactor = "0.525"
source = "2023/1773 Annex VIII Table 3, CaCO3 factor as applied to raw meal"

[[processes]]
name = "cement mill"
goods = [{ cnCode = "25232900", produced = "1000000" }]
electricity = { consumed = "50000", factor = "0.5", source = "grid" }
qualifying = { category = "cement", clinkerRatio = "75" }
precursors = [{ cnCode = "25231000", mass = "750000", from = "own", process = "kiln" }]

[[processes]]
name = "kiln"
goods = [{ cnCode = "25231000", produced = "1000000" }]
streams = [{ name = "raw meal" }]
electricity = { consumed = "40000", factor = "0.5", source = "grid" }
"#,
    );
    let out = calculate(&m, &[], &DefaultValues::default()).unwrap();
    let cement = out
        .records
        .iter()
        .find(|r| r.cn_code.as_str() == "25232900")
        .unwrap();
    assert_eq!(cement.direct.value.0, d("0.315"));
    assert_eq!(cement.indirect.value.0, d("0.04"));
    assert!(cement.indirect_counted);
    assert_eq!(cement.counted_see().0, d("0.355"));
    assert_eq!(cement.precursors[0].mass_per_tonne.0, d("0.75"));
}

// --- Bad input: a clear error, nothing produced -----------------------------------------

fn calc_err(body: &str) -> CbamError {
    let m = monitoring(body);
    calculate(&m, &[], &DefaultValues::shipped()).expect_err("must fail")
}

#[test]
fn unknown_cn_code_is_named() {
    let err = calc_err(&EAF.replace("7207 11 11", "8471 30 00"));
    assert_eq!(
        err,
        CbamError::UnknownCn {
            cn_code: "84713000".into()
        }
    );
    assert!(err.to_string().contains("84713000"));
    // Annex I exceptions and sub-headings: 3105 60 00 is excluded, 7202 3 is not listed.
    for (cn, want) in [
        ("31051000", Some(Category::Fertilisers)),
        ("31056000", None),
        ("72024100", Some(Category::IronSteel)),
        ("72023000", None),
        ("28041000", Some(Category::Hydrogen)),
        ("76011000", Some(Category::Aluminium)),
    ] {
        assert_eq!(
            annex_i().category_of(&CnCode::parse(cn).unwrap()),
            want,
            "{cn}"
        );
    }
    assert!(matches!(
        CnCode::parse("7207 11"),
        Err(CbamError::BadCnCode { .. })
    ));
}

#[test]
fn negative_quantity_is_refused() {
    let err = calc_err(&EAF.replace("produced = \"100000\"", "produced = \"-5\""));
    assert_eq!(
        err,
        CbamError::Negative {
            field: "processes[EAF steelmaking].goods[72071111].produced".into(),
            value: "-5".into()
        }
    );
}

#[test]
fn precursor_without_record_or_default_is_refused() {
    // DRI (7203 10 00) has no row in the shipped table and its record never arrived.
    let body = BOF
        .replace(
            "cnCode = \"72011011\"\nmass = \"30000\"",
            "cnCode = \"72031000\"\nmass = \"30000\"",
        )
        .replace("KR-INST-0900:72011011", "KR-INST-0900:72031000");
    let err = calc_err(&body);
    match &err {
        CbamError::NoPrecursorValue {
            cn_code, origin, ..
        } => {
            assert_eq!(cn_code, "72031000");
            assert_eq!(origin, "KR");
        }
        other => panic!("wrong error {other:?}"),
    }
    assert!(
        err.to_string().contains("no record and no default"),
        "{err}"
    );
}

#[test]
fn indirect_emissions_without_an_electricity_factor_are_refused() {
    let err = calc_err(&ALUMINIUM.replace(
        "electricity = { consumed = \"150000\", factor = \"0.6\", source = \"captive coal plant, measured\" }",
        "electricity = { consumed = \"150000\" }",
    ));
    assert_eq!(
        err,
        CbamError::NoElectricityFactor {
            what: "processes[electrolysis].electricity".into()
        }
    );
}

#[test]
fn bad_files_name_line_and_column() {
    // A float instead of a quoted decimal (exactness) is refused at its position.
    let text = format!(
        "{INSTALLATION}{}",
        EAF.replace("activity = \"1000\"", "activity = 1000.5")
    );
    let msg = parse_monitoring(&text, "m.toml").unwrap_err().to_string();
    assert!(msg.contains("1000.5 is a float"), "{msg}");
    let text = format!(
        "{INSTALLATION}{}",
        EAF.replace("activity = \"1000\"", "activity = \"ten\"")
    );
    let err = parse_monitoring(&text, "m.toml").unwrap_err();
    match err {
        CbamError::File {
            file, line, column, ..
        } => {
            assert_eq!(file, "m.toml");
            let want_line = text
                .lines()
                .position(|l| l.starts_with("activity = \"ten\""))
                .unwrap()
                + 1;
            assert_eq!(line as usize, want_line);
            assert_eq!(column, 12);
        }
        other => panic!("{other:?}"),
    }
    // A UN/LOCODE of another country than the installation's.
    let m = parse_monitoring(
        &format!("{}{EAF}", INSTALLATION.replace("KRKPO", "CNSHA")),
        "m",
    )
    .unwrap();
    let err = calculate(&m, &[], &DefaultValues::default()).unwrap_err();
    assert!(err.to_string().contains("installation.unlocode"), "{err}");
}

#[test]
fn shipped_tables_parse_and_defaults_carry_source_and_markup() {
    assert!(annex_i().entries().len() > 60);
    let t = DefaultValues::read(crate::defaults::SHIPPED_CSV.as_bytes(), "x").unwrap();
    assert_eq!(t.rows().len(), DefaultValues::shipped().rows().len());
    let row = t.lookup(&CnCode::parse("72011011").unwrap(), "CN").unwrap();
    // 1.90 + 10 % (2026) = 2.09; + 30 % (from 2028) = 2.47
    assert_eq!(row.marked_up(row.direct, 2026).0, d("2.09"));
    assert_eq!(row.marked_up(row.direct, 2029).0, d("2.47"));
    assert_eq!(row.marked_up(row.direct, 2025).0, d("1.90"));
    let bad = "cn_code,country,direct,indirect,markup_2026,markup_2027,markup_from_2028,source\n\
               72011011,KR,-1,0,10,20,30,x\n";
    let err = DefaultValues::read(bad.as_bytes(), "d.csv").unwrap_err();
    assert_eq!(err.to_string(), "d.csv:2:3: negative value -1");
}

#[test]
fn records_round_trip_through_json_exactly() {
    let out = calculate(
        &monitoring(BOF),
        &[pig_iron_record()],
        &DefaultValues::shipped(),
    )
    .unwrap();
    let json = serde_json::to_string(&out.records[0]).unwrap();
    assert!(json.contains("\"value\":\"1.776184\""), "{json}");
    let back: CbamRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, out.records[0]);
}

// --- Exchange and declaration -----------------------------------------------------------

#[test]
fn records_ride_in_a_footprint_extension_and_come_back_validated() {
    let out = calculate(&monitoring(EAF), &[], &DefaultValues::default()).unwrap();
    let doc = serde_json::json!({"id": "x", "extensions": [{"specVersion": "1", "dataSchema": "https://example.com/other", "data": {}}]});
    let doc = crate::exchange::attach(doc, &out.records).unwrap();
    assert_eq!(doc["extensions"].as_array().unwrap().len(), 2);
    assert_eq!(crate::exchange::records_in(&doc).unwrap(), out.records);
    // Attaching again replaces by record id instead of adding.
    let again = crate::exchange::attach(doc.clone(), &out.records).unwrap();
    assert_eq!(crate::exchange::records_in(&again).unwrap().len(), 1);
    // A record with an unknown CN code inside a received document is refused.
    let mut bad = doc.clone();
    bad["extensions"][1]["data"]["records"][0]["cnCode"] = "84713000".into();
    assert!(crate::exchange::records_in(&bad).is_err());
}

#[test]
fn declaration_per_cn_code_and_country_with_defaults_and_chase() {
    use crate::declaration::{ChaseReason, assemble, read_ledger};
    use crate::exchange::ReceivedRecord;
    let bof = calculate(
        &monitoring(BOF),
        &[pig_iron_record()],
        &DefaultValues::shipped(),
    )
    .unwrap();
    let mut record = bof.records[0].clone();
    record.carbon_prices.push(crate::record::CarbonPrice {
        instrument: "emission trading system".into(),
        legal_act: "Act on the Allocation and Trading of Greenhouse-Gas Emission Permits (KR)"
            .into(),
        country: crate::record::Country::parse("KR").unwrap(),
        currency: "KRW".into(),
        amount_per_tonne: d("1000"),
        rebate_per_tonne: d("250"),
    });
    let received = [ReceivedRecord {
        record,
        from_company: "urn:tanso:company:steel".into(),
        footprint_id: "fp".into(),
        received_at: "2026-03-01T00:00:00Z".into(),
        signature: "verified".into(),
    }];
    let ledger = "cn_code,quantity_t,country,installation_id,import_date,supplier,product_id\n\
                  72071111,100,KR,KR-INST-0001,2026-03-10,,\n\
                  72071111,50,KR,KR-INST-0001,2026-05-01,,\n\
                  72011011,10,CN,CN-INST-7,2026-06-01,urn:tanso:company:iron,urn:p:pig\n\
                  72031000,5,CN,CN-INST-8,2026-06-01,,\n\
                  72071111,999,KR,KR-INST-0001,2025-12-31,,\n";
    let rows = read_ledger(ledger.as_bytes(), "imports.csv").unwrap();
    let decl = assemble(2026, &rows, &received, &DefaultValues::shipped());
    assert_eq!(decl.rows_outside_year, 1);
    // 72071111 from KR: 150 t × 1.776184 = 266.4276 t direct; × 0.167 = 25.05 t indirect
    // (not counted: steel). Default part: precursor pig iron at default, 0.3 t/t × 1.90 =
    // 0.57 t/t → 150 × 0.57 = 85.5 t; 85.5 / 266.4276 = 32.09 %. Carbon price: 150 t ×
    // (1,000 − 250) = 112,500 KRW.
    let kr = decl
        .lines
        .iter()
        .find(|l| l.cn_code.as_str() == "72071111")
        .unwrap();
    assert_eq!(kr.quantity.0, d("150"));
    assert_eq!(kr.direct.0, d("266.428"));
    assert_eq!(kr.indirect.0, d("25.05"));
    assert_eq!(kr.counted.0, d("266.428"));
    assert_eq!(kr.default_share_pct, d("32.09"));
    assert_eq!(kr.actual_share_pct, d("67.91"));
    assert_eq!(kr.carbon_price_paid["KRW"], "112500.00");
    // 72011011 from CN: no record, default 1.90 + 10 % (2026) = 2.09 t/t × 10 t = 20.9 t.
    let cn = decl
        .lines
        .iter()
        .find(|l| l.cn_code.as_str() == "72011011")
        .unwrap();
    assert_eq!(cn.counted.0, d("20.9"));
    assert_eq!(cn.default_share_pct, d("100"));
    assert_eq!(decl.chase.len(), 2);
    assert_eq!(decl.chase[0].reason, ChaseReason::Missing);
    assert_eq!(
        decl.chase[0].request.as_deref(),
        Some(
            "tanso cbam request --home HOME --partner urn:tanso:company:iron --product-id urn:p:pig"
        )
    );
    assert_eq!(decl.chase[1].reason, ChaseReason::NoValue);
    assert_eq!(decl.total_counted.0, d("287.328"));
    let mut csv = Vec::new();
    crate::declaration::write_csv(&decl, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains("72071111,KR,150,266.428,25.05,266.428,67.91,32.09,112500.00 KRW,"),
        "{csv}"
    );
}

#[test]
fn ledger_errors_name_file_line_and_column() {
    use crate::declaration::read_ledger;
    let head = "cn_code,quantity_t,country,installation_id,import_date\n";
    let cases = [
        (
            format!("{head}84713000,1,KR,I,2026-01-01\n"),
            "imports.csv:2:1: CN code 84713000 is not a CBAM good (Regulation (EU) 2023/956, Annex I)",
        ),
        (
            format!("{head}72071111,-3,KR,I,2026-01-01\n"),
            "imports.csv:2:2: negative quantity -3",
        ),
        (
            format!("{head}72071111,3,KR,I,2026-13-01\n"),
            "imports.csv:2:5: date `2026-13-01` is not YYYY-MM-DD",
        ),
        (
            "cn_code,quantity_t,colour\n".to_string(),
            "imports.csv:1:3: unknown column `colour`",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            read_ledger(text.as_bytes(), "imports.csv")
                .unwrap_err()
                .to_string(),
            want
        );
    }
}

// --- Catena-X and the Excel template ------------------------------------------------------

#[test]
fn catenax_aspect_keeps_what_the_model_carries() {
    let mut out = calculate(&monitoring(ALUMINIUM), &[], &DefaultValues::default()).unwrap();
    let mut r = out.records.remove(0);
    r.carbon_prices.push(crate::record::CarbonPrice {
        instrument: "ETS".into(),
        legal_act: "K-ETS".into(),
        country: crate::record::Country::parse("KR").unwrap(),
        currency: "EUR".into(),
        amount_per_tonne: d("2.5"),
        rebate_per_tonne: d("0.5"),
    });
    let aspect = crate::catenax::to_catenax(std::slice::from_ref(&r)).unwrap();
    let json = serde_json::to_value(&aspect).unwrap();
    let inst = &json["good"][0]["operator"][0]["installation"][0];
    assert_eq!(json["good"][0]["cnCode"], "76011000");
    assert_eq!(
        inst["installationIdentification"]["address"]["country"],
        "KOR"
    );
    assert_eq!(
        inst["installationIdentification"]["installationIds"]["installationCbamId"],
        "KR-INST-0001"
    );
    let er = &inst["emissionsRecords"][0];
    assert_eq!(
        er["directEmissions"]["specificEmbeddedEmissionsDirect"].to_string(),
        "1.712"
    );
    assert_eq!(
        er["indirectEmissions"]["specificEmbeddedEmissionsIndirect"].to_string(),
        "9"
    );
    // 10,000 t × (2.5 − 0.5) EUR/t = 20,000 EUR paid for the record's quantity.
    assert_eq!(
        er["carbonPricePaid"][0]["amountOfCarbonPricePaid"].to_string(),
        "20000"
    );
    let back = crate::catenax::from_catenax(&aspect).unwrap();
    assert_eq!(back.len(), 1);
    let b = &back[0];
    assert_eq!(b.record_id, r.record_id);
    assert_eq!(b.direct.value, r.direct.value);
    assert_eq!(b.indirect.value, r.indirect.value);
    assert_eq!(b.quantity_produced, r.quantity_produced);
    assert_eq!(
        b.electricity.as_ref().unwrap().factor,
        r.electricity.as_ref().unwrap().factor
    );
    assert_eq!(b.carbon_prices[0].net_per_tonne(), d("2"));
    assert_eq!(b.installation.unlocode, r.installation.unlocode);
    // A country the model spells in alpha-3 that ISO does not know is an error.
    let mut bad = json.clone();
    bad["good"][0]["operator"][0]["installation"][0]["installationIdentification"]["address"]["country"] =
        "XXX".into();
    let bad: crate::catenax::Cbam = serde_json::from_value(bad).unwrap();
    assert!(
        crate::catenax::from_catenax(&bad)
            .unwrap_err()
            .to_string()
            .contains("XXX")
    );
}

#[test]
fn excel_template_round_trip_keeps_every_figure() {
    let bof = calculate(
        &monitoring(BOF),
        &[pig_iron_record()],
        &DefaultValues::shipped(),
    )
    .unwrap();
    let mut records = bof.records.clone();
    records[0].carbon_prices.push(crate::record::CarbonPrice {
        instrument: "ETS".into(),
        legal_act: "K-ETS".into(),
        country: crate::record::Country::parse("KR").unwrap(),
        currency: "KRW".into(),
        amount_per_tonne: d("1234.5678"),
        rebate_per_tonne: d("0"),
    });
    // A figure no double holds exactly is written as text and still comes back.
    records[0].quantity_produced.0 = d("50000.000000000000001");
    let bytes = crate::template::export(&records).unwrap();
    let back = crate::template::import(&bytes, "comm.xlsx").unwrap();
    assert_eq!(back, records);
    // Digit for digit, trailing zeros included (the latitude is written `36.0190`).
    assert_eq!(
        serde_json::to_string(&back).unwrap(),
        serde_json::to_string(&records).unwrap()
    );
    // A broken cell is named by sheet and cell.
    let mut bad = records.clone();
    bad[0].cn_code = CnCode::parse("84713000").unwrap();
    assert!(crate::template::export(&bad).is_err());
    assert!(
        crate::template::import(b"not a workbook", "x.xlsx")
            .unwrap_err()
            .to_string()
            .starts_with("x.xlsx")
    );
}

#[test]
fn default_table_errors_count_comment_lines() {
    let text = "# a comment\n\n# another\ncn_code,country,direct,indirect,markup_2026,markup_2027,markup_from_2028,source\n\
                # inside\n72011011,KR,1,0,10,20,30,x\n\n72011011,KR,x,0,10,20,30,x\n";
    let err = DefaultValues::read(text.as_bytes(), "d.csv").unwrap_err();
    assert_eq!(err.to_string(), "d.csv:8:3: `x` is not a number");
}

#[test]
fn shipped_example_monitoring_computes_worked_example_one() {
    let text = include_str!("../data/example-monitoring.toml");
    let m = parse_monitoring(text, "example-monitoring.toml").unwrap();
    let out = calculate(&m, &[], &DefaultValues::shipped()).unwrap();
    assert_eq!(out.records[0].direct.value.0, d("0.044147"));
    assert_eq!(out.records[0].indirect.value.0, d("0.2025"));
    assert_eq!(out.records[0].carbon_prices[0].net_per_tonne(), d("900"));
}
