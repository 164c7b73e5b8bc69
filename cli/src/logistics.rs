//! `tanso logistics …`: a carrier's ISO 14083 shipment emissions from its legs file, and their
//! publication as iLEAP shipment footprints. The calculation is `node::logistics` (the
//! `tanso-logistics` crate); a shipment footprint is an ordinary own footprint carrying the
//! iLEAP ShipmentFootprint as a PACT extension, so publishing is the ordinary publish (one
//! all-or-nothing batch), and shippers receive it through the ordinary signed, policy-checked
//! exchange (`policies/ileap-shippers.json` lets each read only its own shipments).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use node::admin::{Answer, Command};
use node::logistics::{Chain, Rollup, Totals, calculate, ileap, read_legs};
use node::pact::{ProductFootprint, Status};
use node::scope3::FactorLibrary;
use serde::Serialize;

use crate::cmd::{call, print_json, read, unexpected};

/// `tanso logistics …`
#[derive(Debug, Subcommand)]
pub(crate) enum LogisticsCmd {
    /// ISO 14083 emissions of the legs file rolled up per shipment, customer and month.
    Shipments(ShipmentsArgs),
    /// Publish one owner-signed iLEAP shipment footprint per shipment (all of them, or those
    /// named); a shipment whose footprint already carries the same figures is left alone.
    Publish(PublishArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ShipmentsArgs {
    /// The legs CSV (columns: node::logistics::legs).
    #[arg(long)]
    legs: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The legs CSV.
    #[arg(long)]
    legs: PathBuf,
    /// Publish only these shipments (default: every shipment in the file).
    #[arg(long = "shipment")]
    shipments: Vec<String>,
}

pub(crate) fn run(cmd: LogisticsCmd) -> Result<ExitCode> {
    match cmd {
        LogisticsCmd::Shipments(a) => {
            let (_, rollup) = load(&a.legs)?;
            let summary = Summary::of(&rollup);
            match a.format {
                Format::Json => print_json(&summary)?,
                Format::Csv => print!("{}", summary.csv()),
                Format::Table => print!("{}", summary.table()),
            }
            Ok(ExitCode::SUCCESS)
        }
        LogisticsCmd::Publish(a) => publish(a),
    }
}

/// Reads and calculates the legs file; any problem fails the whole file.
fn load(path: &Path) -> Result<(Chain, Rollup)> {
    let text = read(path)?;
    let chain = read_legs(
        text.as_bytes(),
        &path.display().to_string(),
        &FactorLibrary::builtin(),
    )?;
    let rollup = calculate(&chain)?;
    Ok((chain, rollup))
}

/// One roll-up line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    key: String,
    tces: u64,
    #[serde(with = "rust_decimal::serde::str")]
    tkm: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    wtw_kg: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    ttw_kg: rust_decimal::Decimal,
}

impl Line {
    fn of(key: String, t: &Totals) -> Line {
        Line {
            key,
            tces: t.tces,
            tkm: t.tkm.normalize(),
            wtw_kg: t.wtw_kg.normalize(),
            ttw_kg: t.ttw_kg.normalize(),
        }
    }
}

/// The roll-ups of a legs file, each sorted by key.
#[derive(Debug, Serialize)]
struct Summary {
    method: &'static str,
    shipments: Vec<Line>,
    customers: Vec<Line>,
    months: Vec<Line>,
    total: Line,
}

impl Summary {
    fn of(r: &Rollup) -> Summary {
        let sorted = |m: BTreeMap<String, &Totals>| {
            m.into_iter()
                .map(|(k, t)| Line::of(k, t))
                .collect::<Vec<_>>()
        };
        Summary {
            method: "ISO 14083:2023 / GLEC Framework v3: t·km × TOC intensity (allocation by t·km), kgCO2e well-to-wheel and tank-to-wheel",
            shipments: sorted(
                r.per_shipment
                    .iter()
                    .map(|(k, t)| (k.to_string(), t))
                    .collect(),
            ),
            customers: sorted(
                r.per_customer
                    .iter()
                    .map(|(k, t)| (k.to_string(), t))
                    .collect(),
            ),
            months: r
                .per_month
                .iter()
                .map(|(p, t)| Line::of(p.to_string(), t))
                .collect(),
            total: Line::of("total".into(), &r.total),
        }
    }

    fn sections(&self) -> [(&'static str, &[Line]); 4] {
        [
            ("shipment", &self.shipments),
            ("customer", &self.customers),
            ("month", &self.months),
            ("total", std::slice::from_ref(&self.total)),
        ]
    }

    fn csv(&self) -> String {
        let mut out = String::from("level,key,tces,tkm,wtw_kg,ttw_kg\n");
        for (level, lines) in self.sections() {
            for l in lines {
                out.push_str(&format!(
                    "{level},{},{},{},{},{}\n",
                    csv_field(&l.key),
                    l.tces,
                    l.tkm,
                    l.wtw_kg,
                    l.ttw_kg
                ));
            }
        }
        out
    }

    fn table(&self) -> String {
        let mut out = format!("{}\n", self.method);
        for (level, lines) in self.sections() {
            let width = lines.iter().map(|l| l.key.len()).max().unwrap_or(0).max(8);
            out.push_str(&format!(
                "\n{level:<width$}  {:>5}  {:>14}  {:>14}  {:>14}\n",
                "TCEs", "t·km", "kgCO2e WTW", "kgCO2e TTW"
            ));
            for l in lines {
                out.push_str(&format!(
                    "{:<width$}  {:>5}  {:>14}  {:>14}  {:>14}\n",
                    l.key, l.tces, l.tkm, l.wtw_kg, l.ttw_kg
                ));
            }
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn publish(a: PublishArgs) -> Result<ExitCode> {
    // Everything is read and calculated before anything is sent to the node.
    let (chain, rollup) = load(&a.legs)?;
    for s in &a.shipments {
        if !rollup.per_shipment.contains_key(s.as_str()) {
            anyhow::bail!("{}: no leg names shipment {s}", a.legs.display());
        }
    }
    let Answer::Card(card) = call(&a.home, Command::Id)? else {
        return Err(unexpected());
    };
    let own = own_shipment_footprints(&a.home)?;
    let carrier = ileap::Carrier {
        company_name: &card.name,
        company_id: &card.company_id,
    };
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let plan = ileap::plan(
        &chain,
        &rollup,
        &a.shipments,
        carrier,
        &own,
        &created,
        || uuid::Uuid::new_v4().to_string(),
    )?;
    for (shipment, id) in &plan.unchanged {
        println!("{shipment}\t{id}\tunchanged");
    }
    if plan.new.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // One batch: all shipments are stored, or none.
    let text = serde_json::to_string(&plan.new)?;
    let Answer::Published(outcome) = call(&a.home, Command::Publish { text })? else {
        return Err(unexpected());
    };
    for (fp, id) in plan.new.iter().zip(outcome.ids.iter()) {
        let shipment = fp
            .product_name_company
            .strip_prefix("Shipment ")
            .unwrap_or(&fp.product_name_company);
        let what = if fp.preceding_pf_ids.is_some() {
            "updated"
        } else {
            "published"
        };
        println!("{shipment}\t{id}\t{what}");
    }
    for id in outcome.deprecated.iter() {
        eprintln!("deprecated {id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The node's Active own footprints that name a carrier-assigned shipment (iLEAP productIds).
fn own_shipment_footprints(home: &Path) -> Result<Vec<ProductFootprint>> {
    let Answer::Footprints(list) = call(home, Command::FootprintList)? else {
        return Err(unexpected());
    };
    let mut out = Vec::new();
    for s in list {
        if s.status != Status::Active
            || !s
                .product_ids
                .iter()
                .any(|p| p.contains(":vendor-assigned:shipment:"))
        {
            continue;
        }
        let Answer::Footprint(doc) = call(home, Command::FootprintShow { id: s.id.clone() })?
        else {
            return Err(unexpected());
        };
        let fp: ProductFootprint =
            serde_json::from_str(doc.get()).with_context(|| format!("own footprint {}", s.id))?;
        out.push(fp);
    }
    Ok(out)
}
