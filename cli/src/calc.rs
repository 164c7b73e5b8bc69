//! Calculation commands: Scope 3 reports, PCF composition and KPI reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use node::admin::{Answer, Command};
use node::scope3::{self, FactorLibrary, ReportOptions, SupplierIndex, SupplierPcf};
use serde::Deserialize;

use crate::cmd::{call, read};

/// Arguments of `tanso scope3 report`.
#[derive(Debug, Args)]
pub(crate) struct Scope3Args {
    /// Node home whose inbox supplies supplier-specific PCFs (optional: works offline).
    #[arg(long, env = "TANSO_HOME")]
    home: Option<PathBuf>,
    /// Activity ledger: a directory of CSV files (see data/ledger-templates) or one file.
    #[arg(long)]
    ledger: PathBuf,
    /// Received footprints as PACT JSON (array, object or JSONL), instead of or besides the inbox.
    #[arg(long = "inbox-file")]
    inbox_files: Vec<PathBuf>,
    /// Reporting year.
    #[arg(long)]
    year: Option<i32>,
    /// Output format: table, json, csv or md.
    #[arg(long, default_value = "table")]
    format: String,
    /// Use the conservative high end of ranged factors.
    #[arg(long)]
    high: bool,
    /// Leave out category 8 (leased assets already in Scope 1/2 under the Korean ETS).
    #[arg(long)]
    exclude_category_8: bool,
    /// Extra factor sets (CSV in the shipped layout); they win over the shipped sets.
    #[arg(long = "factors")]
    factor_files: Vec<PathBuf>,
    /// The reporting company's country (ISO 3166-1), for geographical data quality.
    #[arg(long, default_value = "KR")]
    country: String,
}

/// Arguments of `tanso pcf compose`.
#[derive(Debug, Args)]
pub(crate) struct ComposeArgs {
    /// Node home whose inbox supplies component PCFs (optional).
    #[arg(long, env = "TANSO_HOME")]
    home: Option<PathBuf>,
    /// Bill of materials (JSON; see data/examples/README.md).
    #[arg(long)]
    bom: PathBuf,
    /// Received footprints as PACT JSON, besides the inbox.
    #[arg(long = "inbox-file")]
    inbox_files: Vec<PathBuf>,
    /// Write the PACT footprint here (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `tanso kpi report`.
#[derive(Debug, Args)]
pub(crate) struct KpiArgs {
    /// Node home whose own data (footprints published, exchange requests served and denied,
    /// per month) feeds the measures the config declares; optional: works offline.
    #[arg(long, env = "TANSO_HOME")]
    home: Option<PathBuf>,
    /// KPI configuration (TOML; see kpi/README.md).
    #[arg(long)]
    config: PathBuf,
    /// Operational measures per period (CSV: period,measure,value,unit and optionally
    /// department,team).
    #[arg(long = "measures")]
    measures: Vec<PathBuf>,
    /// Own Scope 1/2 inventory ledger directory (fuel, electricity, refrigerants,
    /// instruments CSVs): its monthly totals feed scope1_kg, scope2_kg, ... as node measures.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Period to report (2025-01, 2025-Q1 or 2025); default: the latest with data.
    #[arg(long)]
    period: Option<String>,
    /// Output format: table, json or csv.
    #[arg(long, default_value = "table")]
    format: String,
}

/// Arguments of `tanso kpi monitor`.
#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// Node home whose own monthly data feeds the measures the config declares (optional).
    #[arg(long, env = "TANSO_HOME")]
    home: Option<PathBuf>,
    /// KPI configuration with a `[monitor]` section (TOML; see kpi/README.md).
    #[arg(long)]
    config: PathBuf,
    /// Own Scope 1/2 inventory ledger directory.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Operational measures (CSV: period,measure,value,unit[,department,team]).
    #[arg(long = "measures")]
    measures: Vec<PathBuf>,
    /// Action plans (CSV: id,title,department,team,kpi,owner,start,due,expected_reduction,unit,phase).
    #[arg(long)]
    plans: Option<PathBuf>,
    /// Month the views describe (YYYY-MM); default: the latest with data.
    #[arg(long)]
    month: Option<String>,
    /// Output format: table or json (the JSON of GET /api/monitor's `report`).
    #[arg(long, default_value = "table")]
    format: String,
}

/// What tells a PACT footprint (it has `pcf`, whatever its value) from the flat supplier
/// layout.
#[derive(Deserialize)]
struct PactShape {
    #[serde(default, deserialize_with = "present")]
    pcf: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(field: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(field).map(|_| true)
}

fn suppliers(home: &Option<PathBuf>, files: &[PathBuf]) -> Result<SupplierIndex> {
    let mut pcfs: Vec<SupplierPcf> = Vec::new();
    if let Some(home) = home
        && home.join("config.toml").exists()
    {
        let Answer::Suppliers(received) = call(home, Command::InboxSuppliers)? else {
            return Err(crate::cmd::unexpected());
        };
        pcfs.extend(received);
    }
    for file in files {
        let text = read(file)?;
        let docs =
            node::pact::parse_document(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
        for doc in &docs {
            // PACT footprints (as `tanso fetch` prints them) or the flat supplier layout.
            if PactShape::deserialize(doc).is_ok_and(|shape| shape.pcf) {
                pcfs.extend(scope3::inbox::supplier_pcf(doc));
            } else {
                pcfs.push(
                    serde_json::from_value(doc.clone())
                        .with_context(|| format!("{}: not a footprint", file.display()))?,
                );
            }
        }
    }
    Ok(SupplierIndex::new(pcfs))
}

pub(crate) fn scope3_report(args: Scope3Args) -> Result<ExitCode> {
    let format = scope3::Format::parse(&args.format).ok_or_else(|| {
        anyhow!(
            "--format {:?}: expected table, json, csv or md",
            args.format
        )
    })?;
    // Rows that fail validation and rows that cannot be calculated are reported together.
    let ledger = scope3::read_ledger_with(&args.ledger, &crate::progress::Bars::new())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("ledger {}", args.ledger.display()))?;
    let extra = args
        .factor_files
        .iter()
        .map(|p| scope3::factors::load_set(p).map_err(|e| anyhow!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let options = ReportOptions {
        year: args.year,
        range_choice: if args.high {
            scope3::RangeChoice::High
        } else {
            scope3::RangeChoice::Low
        },
        exclude_category_8: args.exclude_category_8,
        extra_factor_sets: extra,
        company_country: args.country,
        ..ReportOptions::default()
    };
    let index = suppliers(&args.home, &args.inbox_files)?;
    let spinner = crate::progress::Spinner::start("calculating");
    let report = scope3::calculate_read(&ledger, &FactorLibrary::builtin(), &index, &options)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("ledger {}", args.ledger.display()));
    drop(spinner);
    let report = report?;
    print!("{}", report.render(format));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pcf_compose(args: ComposeArgs) -> Result<ExitCode> {
    let bom = scope3::load_bom(&args.bom).map_err(|e| anyhow!("{}: {e}", args.bom.display()))?;
    let index = suppliers(&args.home, &args.inbox_files)?;
    let composed =
        scope3::compose(&bom, &FactorLibrary::builtin(), &index).map_err(|e| anyhow!("{e}"))?;
    let text = serde_json::to_string_pretty(&composed.footprint)?;
    // The figures as the footprint reports them: exact total, share by the one rounding rule.
    eprintln!(
        "composed {}: {} kgCO2e per declared unit, primary data share {} %",
        composed.entry,
        composed.pcf_excluding_biogenic_uptake.normalize(),
        node::rounding::round(composed.primary_data_share, 2)
    );
    match args.out {
        Some(path) => std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The node's own monthly measures over the admin socket (empty without a home).
fn node_measures(
    home: &Option<PathBuf>,
    config: &std::path::Path,
    name: &str,
) -> Result<node::kpi::Measures> {
    let mut measures = node::kpi::Measures::new();
    if let Some(home) = home
        && home.join("config.toml").exists()
    {
        let Answer::KpiMeasures(rows) = call(
            home,
            Command::KpiMeasures {
                config: read(config)?,
                name: name.to_string(),
            },
        )?
        else {
            return Err(crate::cmd::unexpected());
        };
        for (period, measure, v) in rows {
            let period: node::kpi::Period = period.parse().map_err(|e| anyhow!("{e}"))?;
            let v: rust_decimal::Decimal = v.parse().map_err(|e| anyhow!("{v}: {e}"))?;
            measures.insert(period, &measure, v);
        }
    }
    Ok(measures)
}

/// The config and its measures per company, department and team (`node::kpi::assemble`, the
/// one assembly the dashboard uses too).
fn kpi_inputs(
    home: &Option<PathBuf>,
    config: &std::path::Path,
    inventory: Option<&std::path::Path>,
    measures: &[PathBuf],
) -> Result<(node::kpi::KpiConfig, node::kpi::OrgMeasures)> {
    let name = config.display().to_string();
    let cfg = node::kpi::load_config(&read(config)?, &name).map_err(|e| anyhow!("{e}"))?;
    let node = node_measures(home, config, &name)?;
    let sources = node::kpi::Sources {
        inventory,
        measures,
    };
    let org = node::kpi::assemble(&cfg, node, sources).map_err(|e| anyhow!("{e}"))?;
    Ok((cfg, org))
}

pub(crate) fn kpi_report(args: KpiArgs) -> Result<ExitCode> {
    let format: node::kpi::Format = args
        .format
        .parse()
        .map_err(|_| anyhow!("--format {:?}: expected table, json or csv", args.format))?;
    let (config, org) = kpi_inputs(
        &args.home,
        &args.config,
        args.inventory.as_deref(),
        &args.measures,
    )?;
    let period = match &args.period {
        Some(p) => Some(
            p.parse::<node::kpi::Period>()
                .map_err(|e| anyhow!("--period {p:?}: {e}"))?,
        ),
        None => None,
    };
    let report = node::kpi::report(&config, &org.company, period).map_err(|e| anyhow!("{e}"))?;
    print!("{}", report.render(format));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn kpi_monitor(args: MonitorArgs) -> Result<ExitCode> {
    let format: node::monitor::Format = args
        .format
        .parse()
        .map_err(|_| anyhow!("--format {:?}: expected table or json", args.format))?;
    let month = match &args.month {
        Some(m) => Some(node::monitor::parse_month(m).map_err(|e| anyhow!("--month: {e}"))?),
        None => None,
    };
    let (config, org) = kpi_inputs(
        &args.home,
        &args.config,
        args.inventory.as_deref(),
        &args.measures,
    )?;
    let plans = match &args.plans {
        Some(p) => node::monitor::load_action_plans(&read(p)?, &p.display().to_string(), &config)
            .map_err(|e| anyhow!("{e}"))?,
        None => Vec::new(),
    };
    let report = node::monitor::build(&config, &org, &plans, month).map_err(|e| anyhow!("{e}"))?;
    print!("{}", report.render(format));
    Ok(ExitCode::SUCCESS)
}
