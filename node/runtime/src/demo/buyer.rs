//! Part three of the demo: why the buyer wanted the data. Daehan Motors computes its Scope 3
//! category 1 from the footprints its node received, composes and publishes its own product
//! footprint from a bill of materials, and reports its KPI against −50 % by 2030.
//!
//! The inputs live in the OEM's home as a user would keep them (`scope3/`, `kpi/`, `bom/`),
//! so `--keep`'s dashboard computes the same figures from the same files.

use std::io::Write;
use std::path::Path;

use rust_decimal::Decimal;

use super::{Company, DemoError};
use tanso_calc::scope3::{self, Category, FactorLibrary, ReportOptions, SupplierIndex};
use tanso_core::rounding::round;

const PURCHASES: &str = include_str!("oem/purchases.csv");
const CURRENCY_RATES: &str = include_str!("oem/currency_rates.csv");
const DOOR_PANEL: &str = include_str!("oem/door-panel.json");
const KPI: &str = include_str!("oem/kpi.toml");
const KPI_HISTORY: &str = include_str!("oem/kpi-history.csv");

/// Where the inputs are, relative to the OEM's home (the dashboard config names them).
pub(super) const LEDGER_DIR: &str = "scope3";
pub(super) const KPI_CONFIG: &str = "kpi/kpi.toml";
pub(super) const KPI_MEASURES: &str = "kpi/measures.csv";
const BOM: &str = "bom/door-panel.json";

/// The reporting year of the demo's ledger and KPI.
const YEAR: i32 = 2025;

pub(super) fn step(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
}

/// Writes `text` at `rel` in a home, creating its folders.
pub(super) fn write(home: &Path, rel: &str, text: &str) -> Result<(), DemoError> {
    let path = home.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Runs part three, narrated as steps `first`, `first + 1`, `first + 2`. `hrc_id` is the
/// footprint the Scope 3 line for hrc-01 must use (the latest version the OEM received).
pub(super) fn run(
    out: &mut dyn Write,
    oem: &Company,
    first: u32,
    hrc_id: &str,
) -> Result<(), DemoError> {
    let home = oem.node.home().dir.clone();
    write(&home, &format!("{LEDGER_DIR}/purchases.csv"), PURCHASES)?;
    write(
        &home,
        &format!("{LEDGER_DIR}/currency_rates.csv"),
        CURRENCY_RATES,
    )?;
    write(&home, BOM, DOOR_PANEL)?;
    write(&home, KPI_CONFIG, KPI)?;

    // Scope 3 category 1 from the received, verified footprints (primary data first).
    let suppliers = SupplierIndex::new(tanso_calc::scope3::inbox::suppliers(&oem.node.inbox()?));
    let ledger = scope3::read_ledger(&home.join(LEDGER_DIR)).map_err(step)?;
    let options = ReportOptions {
        year: Some(YEAR),
        ..ReportOptions::default()
    };
    let report = scope3::calculate_read(&ledger, &FactorLibrary::builtin(), &suppliers, &options)
        .map_err(step)?;
    let c1 = report
        .categories
        .iter()
        .find(|c| c.category == Category::C1PurchasedGoods)
        .ok_or_else(|| step("the report has no category 1"))?;
    let hrc = report
        .lines
        .iter()
        .find(|l| l.description.starts_with("HRC-01"))
        .ok_or_else(|| step("no result line for hrc-01"))?;
    if !hrc.primary || !hrc.source.source.contains(hrc_id) {
        return Err(step(format!(
            "hrc-01 was not calculated from the latest footprint {hrc_id}: {}",
            hrc.source.source
        )));
    }
    let primary_lines = report.lines.iter().filter(|l| l.primary).count();
    let share = if c1.emissions.kg().is_zero() {
        Decimal::ZERO
    } else {
        c1.primary.kg() / c1.emissions.kg() * Decimal::ONE_HUNDRED
    };
    let dqi = report
        .dqi
        .as_ref()
        .map(|d| {
            format!(
                "technological {}, geographical {}, temporal {}",
                round(d.technological, 2),
                round(d.geographical, 2),
                round(d.temporal, 2)
            )
        })
        .unwrap_or_else(|| "not available".into());
    writeln!(
        out,
        "{first}. Why Daehan Motors wanted the data: its Scope 3 category 1 for {YEAR} ({} ledger lines) is {} tCO2e, {} % of it primary data from the {primary_lines} signed supplier footprints its node received (hrc-01 from the latest version); the tyres, with no supplier footprint yet, are spend-based (US EPA supply-chain factor). Emission-weighted DQR: {dqi}",
        report.lines.len(),
        round(c1.emissions.tonnes(), 1),
        round(share, 1),
    )?;

    // Its own product footprint, composed from the same received footprints, and published.
    let bom = scope3::load_bom(&home.join(BOM)).map_err(step)?;
    let composed = scope3::compose(&bom, &FactorLibrary::builtin(), &suppliers).map_err(step)?;
    let text = serde_json::to_string(&composed.footprint).map_err(step)?;
    let published = oem.node.publish(&text)?;
    let id = published
        .ids
        .first()
        .ok_or_else(|| step("the composed footprint was not published"))?;
    writeln!(
        out,
        "{}. Daehan Motors composes its front-left door panel from a bill of materials (9.5 kg CRS-02 + 1.2 kg GALV-03 from Hanbit Steel's footprints, pressing and hemming metered): {} kgCO2e per piece, primary data share {} %; it signs and publishes it as footprint {id}, ready for its own customers",
        first + 1,
        round(composed.pcf_excluding_biogenic_uptake, 3),
        round(composed.primary_data_share, 1),
    )?;

    // The KPI: the category 1 figure just computed is the 2025 measure.
    let measures_text = format!(
        "{KPI_HISTORY}{YEAR},purchased_goods_kg,{},kgCO2e\n",
        c1.emissions.kg().normalize()
    );
    write(&home, KPI_MEASURES, &measures_text)?;
    let config = tanso_calc::kpi::load_config(KPI, KPI_CONFIG).map_err(step)?;
    let measures =
        tanso_calc::kpi::load_measures_csv(&measures_text, KPI_MEASURES, &config).map_err(step)?;
    let kpi_report = tanso_calc::kpi::report(&config, &measures, None).map_err(step)?;
    let kpi = kpi_report
        .kpi("purchased_goods")
        .ok_or_else(|| step("the KPI report has no purchased_goods"))?;
    let target = kpi
        .target
        .as_ref()
        .ok_or_else(|| step("the KPI has no target"))?;
    let show = |v: Option<Decimal>, dp: u32| {
        v.map(|v| round(v, dp).to_string())
            .unwrap_or_else(|| "n/a".into())
    };
    let status = match (kpi.off_track, &kpi.warning) {
        (Some(true), Some(w)) => format!("off track: {w}"),
        (Some(true), None) => "off track".into(),
        (Some(false), _) => "on track".into(),
        (None, _) => "no trajectory".into(),
    };
    writeln!(
        out,
        "{}. Its KPI against -50 % by 2030 vs {} ({} t): {} t in {}, the path ({} %/yr) allows {} t, achievement {} % of the planned cut; {status}",
        first + 2,
        target.baseline_period,
        show(target.baseline_value, 1),
        show(kpi.value, 1),
        kpi.period,
        show(target.annual_rate_pct, 2),
        show(kpi.trajectory_value, 1),
        show(kpi.achievement_pct, 1),
    )?;
    Ok(())
}
