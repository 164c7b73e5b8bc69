//! The legs file: a carrier's shipment legs as CSV, read into a [`Chain`].
//!
//! Columns (header names, any order; `*` required):
//!
//! | column | meaning |
//! |---|---|
//! | `shipment_id`* | the carrier's shipment id (iLEAP `shipmentId`) |
//! | `customer_id`* | the shipper's company id (URN), recorded on the shipment footprint |
//! | `month`* | `YYYY-MM` of the leg |
//! | `mass_t`* | freight mass in tonnes, above 0 |
//! | `distance_km`* | km, at least 0 |
//! | `distance_basis` | `actual` (default) or `sfd` (shortest feasible distance) |
//! | `adjustment` | distance adjustment factor for `sfd` (required there, at least 1) |
//! | `toc`* | a shipped default TOC ([`crate::DEFAULT_TOCS`]) |
//! | `origin`, `destination` | free text |
//!
//! Read through tanso-calc's one CSV reader (`#` comment lines skipped, every record at its
//! real line). Every problem of the file is collected with its `file:line:column` (the column is the
//! field's 1-based position in the header) and the whole file is refused if there is any.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use tanso_calc::csv_lines::{CsvReader, Shape};
use tanso_calc::kpi::Period;
use tanso_calc::scope3::FactorLibrary;

use crate::LogisticsError;
use crate::chain::{Chain, Distance, Leg};
use crate::toc::Toc;

/// Most legs one file may hold (a bound on memory for a hostile or mistaken file).
pub const MAX_LEGS: usize = 5_000_000;
/// Most problems listed; the rest are counted.
pub const MAX_LISTED: usize = 50;
/// Longest shipment or customer id.
pub const MAX_ID_LEN: usize = 200;

/// One problem in a legs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegProblem {
    pub file: String,
    pub line: u64,
    /// 1-based position of the column in the header (0: the row as a whole).
    pub column: usize,
    pub name: String,
    pub message: String,
}

impl fmt::Display for LegProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column == 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: column `{}`: {}",
                self.file, self.line, self.column, self.name, self.message
            )
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Shipment,
    Customer,
    Month,
    Mass,
    Distance,
    Basis,
    Adjustment,
    Toc,
    Origin,
    Destination,
}

const COLUMNS: [(&str, Col, bool); 10] = [
    ("shipment_id", Col::Shipment, true),
    ("customer_id", Col::Customer, true),
    ("month", Col::Month, true),
    ("mass_t", Col::Mass, true),
    ("distance_km", Col::Distance, true),
    ("distance_basis", Col::Basis, false),
    ("adjustment", Col::Adjustment, false),
    ("toc", Col::Toc, true),
    ("origin", Col::Origin, false),
    ("destination", Col::Destination, false),
];

/// Problems collected over a file: the first [`MAX_LISTED`], then a count.
struct Problems<'a> {
    file: &'a str,
    list: Vec<LegProblem>,
    more: usize,
}

impl Problems<'_> {
    fn add(&mut self, line: u64, column: usize, name: &str, message: String) {
        if self.list.len() < MAX_LISTED {
            self.list.push(LegProblem {
                file: self.file.to_string(),
                line,
                column,
                name: name.to_string(),
                message,
            });
        } else {
            self.more += 1;
        }
    }

    fn count(&self) -> usize {
        self.list.len() + self.more
    }

    fn into_error(mut self) -> LogisticsError {
        if self.more > 0 {
            let more = self.more;
            self.list.push(LegProblem {
                file: self.file.to_string(),
                line: 0,
                column: 0,
                name: String::new(),
                message: format!("… and {more} more problems"),
            });
        }
        LogisticsError::Legs(self.list)
    }
}

/// One data row and where its columns are.
struct Row<'a> {
    rec: &'a csv::StringRecord,
    index: &'a [Option<usize>; COLUMNS.len()],
    line: u64,
}

impl Row<'_> {
    fn get(&self, c: Col) -> &str {
        self.index[c as usize]
            .and_then(|i| self.rec.get(i))
            .map_or("", str::trim)
    }

    fn bad(&self, p: &mut Problems<'_>, c: Col, message: String) {
        let column = self.index[c as usize].map_or(0, |i| i + 1);
        p.add(self.line, column, COLUMNS[c as usize].0, message);
    }

    fn id(&self, p: &mut Problems<'_>, c: Col) -> &str {
        let v = self.get(c);
        if v.is_empty() || v.len() > MAX_ID_LEN {
            self.bad(p, c, format!("needs 1 to {MAX_ID_LEN} characters"));
        }
        v
    }

    /// A decimal above 0 (`positive`) or at least 0.
    fn number(&self, p: &mut Problems<'_>, c: Col, positive: bool) -> Option<Decimal> {
        let v = self.get(c);
        match Decimal::from_str_exact(v) {
            Ok(d) if d > Decimal::ZERO || (!positive && d.is_zero()) => Some(d),
            Ok(_) => {
                let want = if positive { "above 0" } else { "at least 0" };
                self.bad(p, c, format!("{v} must be {want}"));
                None
            }
            Err(_) => {
                self.bad(p, c, format!("`{v}` is not a decimal number"));
                None
            }
        }
    }
}

/// Reads a legs CSV named `name` (for messages) into a chain whose TOCs are the shipped
/// defaults the file names, each once.
pub fn read_legs<R: Read>(
    input: R,
    name: &str,
    library: &FactorLibrary,
) -> Result<Chain, LogisticsError> {
    let mut p = Problems {
        file: name,
        list: Vec::new(),
        more: 0,
    };
    let mut rdr = CsvReader::new(
        input,
        Shape {
            trim: true,
            flexible: true,
        },
    );
    let (header_line, names) = match rdr.header() {
        Ok(h) => h,
        Err(e) => {
            p.add(e.line, 0, "", format!("not CSV: {}", e.message));
            return Err(p.into_error());
        }
    };
    if names.iter().all(|n| n.is_empty()) {
        p.add(1, 0, "", "the file is empty: it needs a header row".into());
        return Err(p.into_error());
    }
    let mut index = [None; COLUMNS.len()];
    for (i, h) in names.iter().enumerate() {
        let h = h.as_str();
        match COLUMNS.iter().find(|(n, _, _)| *n == h) {
            Some((_, col, _)) if index[*col as usize].is_some() => {
                p.add(header_line, i + 1, h, "column named twice".into())
            }
            Some((_, col, _)) => index[*col as usize] = Some(i),
            None => p.add(
                header_line,
                i + 1,
                h,
                format!(
                    "unknown column, expected {}",
                    COLUMNS.map(|c| c.0).join(", ")
                ),
            ),
        }
    }
    for (n, col, required) in COLUMNS {
        if required && index[col as usize].is_none() {
            p.add(
                header_line,
                names.len() + 1,
                n,
                "required column missing".into(),
            );
        }
    }
    if p.count() > 0 {
        return Err(p.into_error());
    }
    let mut rec = csv::StringRecord::new();
    let mut chain = Chain::default();
    let mut tocs: HashMap<String, usize> = HashMap::new();
    let mut interned: HashMap<String, Arc<str>> = HashMap::new();
    let mut intern = |s: &str| -> Arc<str> {
        if let Some(a) = interned.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        interned.insert(s.to_string(), a.clone());
        a
    };
    loop {
        let line = match rdr.read(&mut rec) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                p.add(e.line, 0, "", format!("not CSV: {}", e.message));
                break;
            }
        };
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if chain.legs.len() >= MAX_LEGS {
            p.add(
                line,
                0,
                "",
                format!("more than {MAX_LEGS} legs in one file"),
            );
            break;
        }
        let row = Row {
            rec: &rec,
            index: &index,
            line,
        };
        let before = p.count();
        let shipment = row.id(&mut p, Col::Shipment);
        let customer = row.id(&mut p, Col::Customer);
        let month = match Period::from_str(row.get(Col::Month)) {
            Ok(m @ Period::Month { .. }) if row.get(Col::Month).len() == 7 => Some(m),
            _ => {
                let v = row.get(Col::Month);
                row.bad(
                    &mut p,
                    Col::Month,
                    format!("`{v}` is not a month (YYYY-MM)"),
                );
                None
            }
        };
        let mass = row.number(&mut p, Col::Mass, true);
        let km = row.number(&mut p, Col::Distance, false);
        let distance = match row.get(Col::Basis) {
            "" | "actual" => km.map(Distance::Actual),
            "sfd" => {
                let adjustment = if row.get(Col::Adjustment).is_empty() {
                    let msg = "required for distance_basis sfd (e.g. 1.05)".to_string();
                    row.bad(&mut p, Col::Adjustment, msg);
                    None
                } else {
                    match row.number(&mut p, Col::Adjustment, true) {
                        Some(a) if a < Decimal::ONE => {
                            row.bad(&mut p, Col::Adjustment, format!("{a} must be at least 1"));
                            None
                        }
                        a => a,
                    }
                };
                km.zip(adjustment)
                    .map(|(km, adjustment)| Distance::ShortestFeasible { km, adjustment })
            }
            other => {
                row.bad(
                    &mut p,
                    Col::Basis,
                    format!("`{other}` is not actual or sfd"),
                );
                None
            }
        };
        let key = row.get(Col::Toc);
        let toc = match tocs.get(key) {
            Some(&i) => Some(i),
            None => match Toc::default_for(key, library) {
                Ok(t) => {
                    chain.tocs.push(t);
                    tocs.insert(key.to_string(), chain.tocs.len() - 1);
                    Some(chain.tocs.len() - 1)
                }
                Err(e) => {
                    row.bad(&mut p, Col::Toc, e.to_string());
                    None
                }
            },
        };
        if p.count() != before {
            continue;
        }
        let (Some(month), Some(mass_t), Some(distance), Some(toc)) = (month, mass, distance, toc)
        else {
            continue;
        };
        let opt = |c: Col| Some(row.get(c)).filter(|s| !s.is_empty()).map(Arc::from);
        chain.legs.push(Leg {
            shipment: intern(shipment),
            customer: intern(customer),
            month,
            mass_t,
            distance,
            toc,
            origin: opt(Col::Origin),
            destination: opt(Col::Destination),
        });
    }
    if p.count() == 0 {
        Ok(chain)
    } else {
        Err(p.into_error())
    }
}
