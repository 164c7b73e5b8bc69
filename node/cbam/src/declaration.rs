//! The importer's CBAM declaration: from the import ledger and the received records, the
//! embedded emissions per CN code and country of origin, the share of actual and default
//! values, the carbon price already paid, and what to chase.
//!
//! Per ledger row (an import in the year): the record of the same CN code and installation
//! whose period contains the import date is used; failing that, the latest earlier record,
//! listed as stale; failing that, the default value for the CN code and origin with the
//! year's mark-up (2025/2621, as the table gives it), listed as missing. Emissions are
//! `quantity × SEE`; only direct emissions count for the goods of 2023/956 Annex II.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use tanso_model::rounding;

use crate::CbamError;
use crate::cn::CnCode;
use crate::defaults::DefaultValues;
use crate::exchange::ReceivedRecord;
use crate::record::{Country, TOTAL_DP, ValueKind};
use crate::units::{TCo2e, Tonnes};

const REQUIRED: [&str; 5] = [
    "cn_code",
    "quantity_t",
    "country",
    "installation_id",
    "import_date",
];
const OPTIONAL: [&str; 2] = ["supplier", "product_id"];

/// At most this many ledger rows are read (a bound on memory).
pub const MAX_LEDGER_ROWS: usize = 1_000_000;

/// One import of the importer's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRow {
    pub line: u64,
    pub cn_code: CnCode,
    pub quantity: Tonnes,
    pub country: Country,
    pub installation_id: String,
    pub import_date: NaiveDate,
    pub supplier: Option<String>,
    pub product_id: Option<String>,
}

/// Reads the import ledger CSV (columns `cn_code,quantity_t,country,installation_id,
/// import_date` and optionally `supplier,product_id`); the first problem is an error naming
/// `name:line:column`, and nothing is returned.
pub fn read_ledger(input: impl Read, name: &str) -> Result<Vec<LedgerRow>, CbamError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let at = |line: u64, col: usize, message: String| CbamError::File {
        file: name.to_string(),
        line,
        column: col as u64 + 1,
        message,
    };
    let header = rdr.headers().map_err(|e| at(1, 0, e.to_string()))?.clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    for (i, n) in names.iter().enumerate() {
        if !REQUIRED.contains(&n.as_str()) && !OPTIONAL.contains(&n.as_str()) {
            return Err(at(1, i, format!("unknown column `{n}`")));
        }
        if names[..i].contains(n) {
            return Err(at(1, i, format!("column `{n}` appears twice")));
        }
    }
    let col = |n: &str| names.iter().position(|h| h == n);
    let mut idx = [0usize; 5];
    for (k, n) in REQUIRED.iter().enumerate() {
        idx[k] = col(n).ok_or_else(|| at(1, names.len(), format!("missing column `{n}`")))?;
    }
    let (sup, prod) = (col("supplier"), col("product_id"));
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| at(e.position().map_or(0, |p| p.line()), 0, e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        if rows.len() == MAX_LEDGER_ROWS {
            return Err(at(line, 0, format!("more than {MAX_LEDGER_ROWS} rows")));
        }
        let get = |i: usize| rec.get(i).unwrap_or("");
        let cn_code = CnCode::parse(get(idx[0])).map_err(|e| at(line, idx[0], e.to_string()))?;
        cn_code
            .category()
            .map_err(|e| at(line, idx[0], e.to_string()))?;
        let q = Decimal::from_str(get(idx[1])).map_err(|_| {
            at(
                line,
                idx[1],
                format!("quantity `{}` is not a number", get(idx[1])),
            )
        })?;
        if q < Decimal::ZERO {
            return Err(at(line, idx[1], format!("negative quantity {q}")));
        }
        let country = Country::parse(get(idx[2])).map_err(|e| at(line, idx[2], e.to_string()))?;
        let installation_id = get(idx[3]).to_string();
        if installation_id.is_empty() {
            return Err(at(line, idx[3], "empty installation id".into()));
        }
        let import_date = NaiveDate::parse_from_str(get(idx[4]), "%Y-%m-%d").map_err(|_| {
            at(
                line,
                idx[4],
                format!("date `{}` is not YYYY-MM-DD", get(idx[4])),
            )
        })?;
        let opt = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty()).map(str::to_string);
        rows.push(LedgerRow {
            line,
            cn_code,
            quantity: Tonnes(q),
            country,
            installation_id,
            import_date,
            supplier: opt(sup),
            product_id: opt(prod),
        });
    }
    Ok(rows)
}

/// Why a ledger row needs a record chased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChaseReason {
    /// No record of the installation for the CN code: the default value was used.
    Missing,
    /// No record covers the import date: the latest earlier one was used.
    Stale,
    /// No record and no default value: the row has no emissions.
    NoValue,
}

/// A record to ask a supplier for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chase {
    pub line: u64,
    pub cn_code: CnCode,
    pub country: Country,
    pub installation_id: String,
    pub reason: ChaseReason,
    pub supplier: Option<String>,
    /// The command that asks the supplier, when the ledger names supplier and product.
    pub request: Option<String>,
}

/// Embedded emissions of one CN code from one country of origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub cn_code: CnCode,
    pub country: Country,
    pub quantity: Tonnes,
    pub direct: TCo2e,
    pub indirect: TCo2e,
    /// Direct, plus indirect where it counts.
    pub counted: TCo2e,
    /// Per cent of the counted emissions from actual values.
    #[serde(with = "crate::units::exact")]
    pub actual_share_pct: Decimal,
    /// Per cent from default values.
    #[serde(with = "crate::units::exact")]
    pub default_share_pct: Decimal,
    /// Carbon price already paid in the country of origin, net of rebates, per currency.
    pub carbon_price_paid: BTreeMap<String, String>,
    /// Ids of the records used.
    pub records: Vec<String>,
}

/// The declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Declaration {
    pub year: i32,
    pub basis: String,
    pub rounding: String,
    pub lines: Vec<Line>,
    pub total_quantity: Tonnes,
    pub total_counted: TCo2e,
    pub chase: Vec<Chase>,
    /// Ledger rows outside the year, not declared.
    pub rows_outside_year: usize,
}

#[derive(Default)]
struct Acc {
    quantity: Decimal,
    direct: Decimal,
    indirect: Decimal,
    counted: Decimal,
    default_counted: Decimal,
    paid: BTreeMap<String, Decimal>,
    records: Vec<String>,
}

/// Assembles the declaration for `year`. `received` should hold only records whose carrying
/// footprint's signature verified and which are not deprecated.
pub fn assemble(
    year: i32,
    rows: &[LedgerRow],
    received: &[ReceivedRecord],
    defaults: &DefaultValues,
) -> Declaration {
    let mut acc: BTreeMap<(CnCode, Country), Acc> = BTreeMap::new();
    let mut chase = Vec::new();
    let mut outside = 0;
    for row in rows {
        if row.import_date.year() != year {
            outside += 1;
            continue;
        }
        let candidates = received.iter().filter(|r| {
            r.record.cn_code == row.cn_code && r.record.installation.key() == row.installation_id
        });
        let covering = candidates
            .clone()
            .filter(|r| r.record.period.contains(row.import_date))
            .max_by_key(|r| r.record.period.end);
        let earlier = candidates
            .filter(|r| r.record.period.end < row.import_date)
            .max_by_key(|r| r.record.period.end);
        let mut note = |reason| {
            chase.push(Chase {
                line: row.line,
                cn_code: row.cn_code.clone(),
                country: row.country.clone(),
                installation_id: row.installation_id.clone(),
                reason,
                supplier: row.supplier.clone(),
                request: match (&row.supplier, &row.product_id) {
                    (Some(s), Some(p)) => Some(format!(
                        "tanso cbam request --home HOME --partner {s} --product-id {p}"
                    )),
                    _ => None,
                },
            })
        };
        let a = acc
            .entry((row.cn_code.clone(), row.country.clone()))
            .or_default();
        let q = row.quantity;
        let chosen = covering.or_else(|| earlier.inspect(|_| note(ChaseReason::Stale)));
        match chosen {
            Some(r) => {
                let rec = &r.record;
                let d = q * rec.direct.value;
                let i = q * rec.indirect.value;
                let counted = if rec.indirect_counted { d + i } else { d };
                // The part of the counted SEE that rests on default values.
                let mut default_see = Decimal::ZERO;
                if rec.direct.kind == ValueKind::Default {
                    default_see += rec.direct.value.0;
                } else {
                    for p in &rec.precursors {
                        if p.direct.kind == ValueKind::Default {
                            default_see += p.mass_per_tonne.0 * p.direct.value.0;
                        }
                    }
                }
                if rec.indirect_counted {
                    if rec.indirect.kind == ValueKind::Default {
                        default_see += rec.indirect.value.0;
                    } else {
                        for p in &rec.precursors {
                            if p.indirect.kind == ValueKind::Default {
                                default_see += p.mass_per_tonne.0 * p.indirect.value.0;
                            }
                        }
                    }
                }
                a.quantity += q.0;
                a.direct += d.0;
                a.indirect += i.0;
                a.counted += counted.0;
                a.default_counted += q.0 * default_see;
                for c in &rec.carbon_prices {
                    *a.paid.entry(c.currency.clone()).or_default() += q.0 * c.net_per_tonne();
                }
                if !a.records.contains(&rec.record_id) {
                    a.records.push(rec.record_id.clone());
                }
            }
            None => match defaults.lookup(&row.cn_code, row.country.as_str()) {
                Some(dv) => {
                    note(ChaseReason::Missing);
                    let dsee = dv.marked_up(dv.direct, year);
                    let isee = dv.marked_up(dv.indirect, year);
                    let d = q * dsee;
                    let i = q * isee;
                    let direct_only = row
                        .cn_code
                        .category()
                        .map(|c| c.direct_only())
                        .unwrap_or(true);
                    let counted = if direct_only { d } else { d + i };
                    a.quantity += q.0;
                    a.direct += d.0;
                    a.indirect += i.0;
                    a.counted += counted.0;
                    a.default_counted += counted.0;
                    let tag = format!("default:{}:{}", dv.cn_code, dv.country);
                    if !a.records.contains(&tag) {
                        a.records.push(tag);
                    }
                }
                None => {
                    note(ChaseReason::NoValue);
                    a.quantity += q.0;
                }
            },
        }
    }
    let round = |v: Decimal| rounding::round_normalized(v, TOTAL_DP);
    let lines: Vec<Line> = acc
        .into_iter()
        .map(|((cn_code, country), a)| {
            let default_pct = if a.counted.is_zero() {
                Decimal::ZERO
            } else {
                rounding::round_normalized(a.default_counted * Decimal::ONE_HUNDRED / a.counted, 2)
            };
            let actual_pct = if a.counted.is_zero() {
                Decimal::ZERO
            } else {
                Decimal::ONE_HUNDRED - default_pct
            };
            Line {
                cn_code,
                country,
                quantity: Tonnes(a.quantity.normalize()),
                direct: TCo2e(round(a.direct)),
                indirect: TCo2e(round(a.indirect)),
                counted: TCo2e(round(a.counted)),
                actual_share_pct: actual_pct,
                default_share_pct: default_pct,
                carbon_price_paid: a
                    .paid
                    .into_iter()
                    .map(|(c, v)| (c, rounding::round(v, 2).to_string()))
                    .collect(),
                records: a.records,
            }
        })
        .collect();
    Declaration {
        year,
        basis: crate::calc::BASIS.into(),
        rounding: format!(
            "{}; emissions to {TOTAL_DP} places (t CO2e), shares and prices to 2",
            rounding::RULE
        ),
        total_quantity: Tonnes(
            lines
                .iter()
                .map(|l| l.quantity.0)
                .sum::<Decimal>()
                .normalize(),
        ),
        total_counted: TCo2e(lines.iter().map(|l| l.counted.0).sum()),
        lines,
        chase,
        rows_outside_year: outside,
    }
}

/// The declaration's lines as CSV.
pub fn write_csv(d: &Declaration, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "cn_code",
        "country",
        "quantity_t",
        "direct_t_co2e",
        "indirect_t_co2e",
        "counted_t_co2e",
        "actual_share_pct",
        "default_share_pct",
        "carbon_price_paid",
        "records",
    ])?;
    for l in &d.lines {
        let paid: Vec<String> = l
            .carbon_price_paid
            .iter()
            .map(|(c, v)| format!("{v} {c}"))
            .collect();
        w.write_record([
            l.cn_code.as_str(),
            l.country.as_str(),
            &l.quantity.0.to_string(),
            &l.direct.0.to_string(),
            &l.indirect.0.to_string(),
            &l.counted.0.to_string(),
            &l.actual_share_pct.to_string(),
            &l.default_share_pct.to_string(),
            &paid.join("; "),
            &l.records.join(" "),
        ])?;
    }
    w.flush()?;
    Ok(())
}
