//! `tanso cbam …`: EU CBAM embedded emissions. The calculation and the declaration are
//! `node::cbam` (the `tanso-cbam` crate); records travel inside the product's own signed
//! footprint (`cbam::exchange`), so publishing is the ordinary footprint update, asking is the
//! ordinary request, and what arrives is the ordinary inbox, signature checked on receipt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use node::admin::{Answer, Command};
use node::cbam::declaration;
use node::cbam::exchange::{self, ReceivedRecord};
use node::cbam::{CbamRecord, DefaultValues};
use node::pact::Status;
use node::store::SignatureStatus;

use crate::cmd::{call, print_json, read, unexpected};

/// `tanso cbam …`
#[derive(Debug, Subcommand)]
pub(crate) enum CbamCmd {
    /// Compute records from an installation's monitoring data (TOML) and print them (JSON);
    /// with --home, precursor records received in the inbox are used.
    Calc(CalcArgs),
    /// Compute (or read) records and publish them on the linked own footprints: each
    /// footprint gets a new signed version carrying the records.
    Publish(PublishArgs),
    /// Ask a supplier for the footprints (and so the CBAM records) of products, through the
    /// ordinary request (decided by the supplier's policies, audited on both sides).
    Request(RequestArgs),
    /// CBAM records received in the inbox (signature-verified, not deprecated).
    Records(RecordsArgs),
    /// The importer's declaration for a year from the import ledger and received records.
    Declaration(DeclarationArgs),
    /// The Excel communication's `Summary_Communication` sheet.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Records to a Catena-X CBAM 1.0.0 aspect (--record), or an aspect to records (--aspect).
    Catenax(CatenaxArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplateCmd {
    /// Read a workbook's summary sheet into records (JSON), each validated.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
    /// Write records (JSON: one or an array; one installation and period) to a workbook.
    Export {
        #[arg(long)]
        record: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CatenaxArgs {
    #[arg(long, conflicts_with = "aspect", required_unless_present = "aspect")]
    record: Option<PathBuf>,
    #[arg(long)]
    aspect: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CalcArgs {
    /// Monitoring data (TOML; every number a quoted decimal).
    #[arg(long)]
    monitoring: PathBuf,
    /// A default-value table in the shipped layout (default: the shipped demo table).
    #[arg(long)]
    defaults: Option<PathBuf>,
    /// Use precursor records received by this node.
    #[arg(long, env = "TANSO_HOME")]
    home: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// Monitoring data to compute the records from.
    #[arg(long, conflicts_with = "record", required_unless_present = "record")]
    monitoring: Option<PathBuf>,
    /// A record file (JSON: one record or an array) made elsewhere (e.g. a template import).
    #[arg(long)]
    record: Option<PathBuf>,
    /// A default-value table in the shipped layout.
    #[arg(long)]
    defaults: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The supplier's company id.
    #[arg(long)]
    partner: String,
    /// Product ids to ask for.
    #[arg(long = "product-id", required = true)]
    product_ids: Vec<String>,
    /// The purpose stated to the supplier's policies.
    #[arg(long, default_value = "cbam")]
    purpose: String,
}

#[derive(Debug, Args)]
pub(crate) struct RecordsArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DeclarationArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The calendar year of the imports.
    #[arg(long)]
    year: i32,
    /// The import ledger CSV (default: <home>/cbam-imports.csv).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// A default-value table in the shipped layout.
    #[arg(long)]
    defaults: Option<PathBuf>,
    /// JSON (the default).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV of the lines; the records to chase go to stderr.
    #[arg(long)]
    csv: bool,
}

pub(crate) fn run(cmd: CbamCmd) -> Result<ExitCode> {
    match cmd {
        CbamCmd::Calc(a) => {
            let received = match &a.home {
                Some(h) => received(h)?,
                None => Vec::new(),
            };
            let records = compute(&a.monitoring, a.defaults.as_deref(), &received)?;
            print_json(&records)?;
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Publish(a) => publish(a),
        CbamCmd::Request(a) => {
            let Answer::Outgoing(sent) = call(
                &a.home,
                Command::RequestSend {
                    to: a.partner,
                    product_ids: a.product_ids,
                    classifications: Vec::new(),
                    comment: "CBAM embedded emissions".into(),
                    purpose: Some(a.purpose),
                },
            )?
            else {
                return Err(unexpected());
            };
            println!("{}", sent.id);
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Records(a) => {
            print_json(&received(&a.home)?)?;
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Template(TemplateCmd::Import { file }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print_json(&node::cbam::template::import(
                &bytes,
                &file.display().to_string(),
            )?)?;
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Template(TemplateCmd::Export { record, out }) => {
            let bytes = node::cbam::template::export(&read_records(&record)?)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Catenax(a) => {
            match (a.record, a.aspect) {
                (Some(r), _) => print_json(&node::cbam::catenax::to_catenax(&read_records(&r)?)?)?,
                (None, Some(p)) => {
                    let aspect: node::cbam::catenax::Cbam = serde_json::from_str(&read(&p)?)
                        .with_context(|| format!("{}", p.display()))?;
                    print_json(&node::cbam::catenax::from_catenax(&aspect)?)?
                }
                (None, None) => bail!("give --record or --aspect"),
            }
            Ok(ExitCode::SUCCESS)
        }
        CbamCmd::Declaration(a) => {
            let ledger = a
                .ledger
                .clone()
                .unwrap_or_else(|| a.home.join("cbam-imports.csv"));
            let text = read(&ledger)?;
            let rows = declaration::read_ledger(text.as_bytes(), &ledger.display().to_string())?;
            let decl = declaration::assemble(
                a.year,
                &rows,
                &received(&a.home)?,
                &defaults(a.defaults.as_deref())?,
            );
            if a.csv {
                declaration::write_csv(&decl, std::io::stdout().lock())?;
                for c in &decl.chase {
                    eprintln!(
                        "chase: line {} {} from {} installation {}: {:?}{}",
                        c.line,
                        c.cn_code,
                        c.country,
                        c.installation_id,
                        c.reason,
                        c.request
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                }
            } else {
                print_json(&decl)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn defaults(path: Option<&Path>) -> Result<DefaultValues> {
    match path {
        None => Ok(DefaultValues::shipped()),
        Some(p) => Ok(DefaultValues::read(
            read(p)?.as_bytes(),
            &p.display().to_string(),
        )?),
    }
}

fn compute(
    monitoring: &Path,
    defaults_path: Option<&Path>,
    received: &[ReceivedRecord],
) -> Result<Vec<CbamRecord>> {
    let text = read(monitoring)?;
    let m = node::cbam::parse_monitoring(&text, &monitoring.display().to_string())?;
    let records: Vec<CbamRecord> = received.iter().map(|r| r.record.clone()).collect();
    let out = node::cbam::calculate(&m, &records, &defaults(defaults_path)?)?;
    Ok(out.records)
}

/// The CBAM records in this node's inbox whose carrying footprint verified and is not
/// deprecated.
fn received(home: &Path) -> Result<Vec<ReceivedRecord>> {
    let Answer::Inbox(list) = call(home, Command::InboxList)? else {
        return Err(unexpected());
    };
    let mut out = Vec::new();
    for s in list {
        if s.signature != SignatureStatus::Verified || s.status == Status::Deprecated {
            continue;
        }
        let Answer::InboxEntry(entry) = call(home, Command::InboxShow { id: s.id.clone() })? else {
            return Err(unexpected());
        };
        let records = exchange::records_in(&entry.document)
            .with_context(|| format!("CBAM records of inbox footprint {}", s.id))?;
        for record in records {
            out.push(ReceivedRecord {
                record,
                from_company: entry.from_company.clone(),
                footprint_id: entry.id.clone(),
                received_at: entry.received_at.clone(),
                signature: entry.signature_status.as_str().to_string(),
            });
        }
    }
    Ok(out)
}

/// The active own footprint that `id` is, or that replaced it.
fn active_version(home: &Path, id: &str) -> Result<String> {
    let Answer::Footprints(list) = call(home, Command::FootprintList)? else {
        return Err(unexpected());
    };
    let mut current = id.to_ascii_lowercase();
    for _ in 0..=list.len() {
        let Some(fp) = list.iter().find(|f| f.id.eq_ignore_ascii_case(&current)) else {
            bail!(
                "footprint {id} is not one of this node's footprints (publish the product's PACT footprint first)"
            );
        };
        if fp.status == Status::Active {
            return Ok(fp.id.clone());
        }
        match list.iter().find(|f| {
            f.preceding_pf_ids
                .iter()
                .flatten()
                .any(|p| p.eq_ignore_ascii_case(&current))
        }) {
            Some(next) => current = next.id.to_ascii_lowercase(),
            None => bail!("footprint {id} is deprecated and has no active successor"),
        }
    }
    bail!("footprint {id}: the version chain loops")
}

fn publish(a: PublishArgs) -> Result<ExitCode> {
    let records = match (&a.monitoring, &a.record) {
        (Some(m), _) => compute(m, a.defaults.as_deref(), &received(&a.home)?)?,
        (None, Some(r)) => read_records(r)?,
        (None, None) => bail!("give --monitoring or --record"),
    };
    // Group by the footprint each record links to; every record needs one.
    let mut by_footprint: BTreeMap<String, Vec<CbamRecord>> = BTreeMap::new();
    for r in &records {
        let Some(fp) = &r.footprint_id else {
            bail!(
                "record {} links to no footprint: set footprintId on its good (a CBAM record travels on the product's PACT footprint)",
                r.record_id
            );
        };
        by_footprint
            .entry(active_version(&a.home, fp)?)
            .or_default()
            .push(r.clone());
    }
    for (fp, recs) in by_footprint {
        let Answer::Footprint(doc) = call(&a.home, Command::FootprintShow { id: fp.clone() })?
        else {
            return Err(unexpected());
        };
        let value: serde_json::Value = serde_json::from_str(doc.get())?;
        let (value, _) = node::signed::detach(value).map_err(|e| anyhow::anyhow!("{e}"))?;
        let updated = exchange::attach(value, &recs)?;
        let Answer::Published(outcome) = call(
            &a.home,
            Command::Update {
                id: fp.clone(),
                text: updated.to_string(),
            },
        )?
        else {
            return Err(unexpected());
        };
        for id in outcome.ids.iter() {
            for r in &recs {
                println!("{}\t{id}", r.record_id);
            }
        }
        for id in outcome.deprecated.iter() {
            eprintln!("deprecated {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records from a JSON file: one record or an array, each validated.
fn read_records(path: &Path) -> Result<Vec<CbamRecord>> {
    let text = read(path)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let list = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let mut records = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        let rec: CbamRecord = serde_json::from_value(v)
            .with_context(|| format!("{}: record [{i}]", path.display()))?;
        rec.validate()
            .with_context(|| format!("{}: record [{i}]", path.display()))?;
        records.push(rec);
    }
    Ok(records)
}
