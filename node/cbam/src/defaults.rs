//! Default values: the fallback where an actual specific embedded emission is missing.
//!
//! The table's layout and provenance are in `data/default-values.csv`: one row per CN code
//! and country of origin (or `*`), direct and indirect t CO2e/t without mark-up, the
//! mark-up per year an importer adds when declaring with it, and the row's source, which
//! every figure taken from the row carries.

use std::io::Read;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::CbamError;
use crate::cn::CnCode;
use crate::units::TCo2ePerTonne;

/// The shipped table (demo values; see the file's header).
pub const SHIPPED_CSV: &str = include_str!("../data/default-values.csv");

const COLUMNS: [&str; 8] = [
    "cn_code",
    "country",
    "direct",
    "indirect",
    "markup_2026",
    "markup_2027",
    "markup_from_2028",
    "source",
];

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultValue {
    pub cn_code: CnCode,
    /// Alpha-2 country code, or `*` for any origin.
    pub country: String,
    pub direct: TCo2ePerTonne,
    pub indirect: TCo2ePerTonne,
    /// Per cent mark-up for 2026, 2027 and from 2028.
    pub markup: [Decimal; 3],
    pub source: String,
}

impl DefaultValue {
    /// The mark-up, per cent, for a declaration of `year` (none before 2026).
    pub fn markup_pct(&self, year: i32) -> Decimal {
        match year {
            ..=2025 => Decimal::ZERO,
            2026 => self.markup[0],
            2027 => self.markup[1],
            _ => self.markup[2],
        }
    }

    /// `value` increased by the mark-up of `year`.
    pub fn marked_up(&self, value: TCo2ePerTonne, year: i32) -> TCo2ePerTonne {
        TCo2ePerTonne(
            value.0 * (Decimal::ONE_HUNDRED + self.markup_pct(year)) / Decimal::ONE_HUNDRED,
        )
    }
}

/// The default-value table.
#[derive(Debug, Clone, Default)]
pub struct DefaultValues {
    rows: Vec<DefaultValue>,
}

impl DefaultValues {
    /// The table shipped with the crate.
    pub fn shipped() -> DefaultValues {
        // Checked by a unit test; an unreadable compiled-in table would be a build defect.
        DefaultValues::read(SHIPPED_CSV.as_bytes(), "default-values.csv").unwrap_or_default()
    }

    /// Reads a table in the shipped layout; `name` is used in errors (`name:line:column`).
    pub fn read(mut input: impl Read, name: &str) -> Result<DefaultValues, CbamError> {
        let mut text = String::new();
        input
            .read_to_string(&mut text)
            .map_err(|e| CbamError::File {
                file: name.to_string(),
                line: 0,
                column: 0,
                message: e.to_string(),
            })?;
        // The csv crate places a record before the comment and blank lines it skipped, so
        // those lines are kept as empty records (skipped below) and the leading ones counted:
        // every record keeps its real line number.
        let skippable = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
        let offset = text.lines().take_while(|l| skippable(l)).count() as u64;
        let blank = ",".repeat(COLUMNS.len() - 1);
        let body: String = text
            .lines()
            .skip(offset as usize)
            .map(|l| if skippable(l) { blank.as_str() } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(body.as_bytes());
        let at = |line: u64, col: usize, message: String| CbamError::File {
            file: name.to_string(),
            line: line + offset,
            column: col as u64 + 1,
            message,
        };
        let header = rdr.headers().map_err(|e| at(1, 0, e.to_string()))?.clone();
        let header_line = header.position().map_or(1, |p| p.line());
        for (i, want) in COLUMNS.iter().enumerate() {
            if header.get(i).map(|h| h.trim_start_matches('\u{feff}')) != Some(*want) {
                return Err(at(
                    header_line,
                    i,
                    format!(
                        "expected column `{want}`, found `{}`",
                        header.get(i).unwrap_or("")
                    ),
                ));
            }
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                at(line, 0, e.to_string())
            })?;
            let line = rec.position().map_or(0, |p| p.line());
            if rec.iter().all(str::is_empty) {
                continue;
            }
            let get = |i: usize| rec.get(i).unwrap_or("");
            let num = |i: usize| -> Result<Decimal, CbamError> {
                let v = Decimal::from_str(get(i))
                    .map_err(|_| at(line, i, format!("`{}` is not a number", get(i))))?;
                if v < Decimal::ZERO {
                    return Err(at(line, i, format!("negative value {v}")));
                }
                Ok(v)
            };
            let cn_code = CnCode::parse(get(0)).map_err(|e| at(line, 0, e.to_string()))?;
            cn_code.category().map_err(|e| at(line, 0, e.to_string()))?;
            let country = get(1).to_string();
            if country != "*"
                && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(at(
                    line,
                    1,
                    format!("`{country}` is neither `*` nor an alpha-2 code"),
                ));
            }
            let source = get(7).to_string();
            if source.is_empty() {
                return Err(at(line, 7, "every default value needs its source".into()));
            }
            rows.push(DefaultValue {
                cn_code,
                country,
                direct: TCo2ePerTonne(num(2)?),
                indirect: TCo2ePerTonne(num(3)?),
                markup: [num(4)?, num(5)?, num(6)?],
                source,
            });
        }
        Ok(DefaultValues { rows })
    }

    /// The row for `cn` produced in `country`: the country's own row, else the `*` row.
    pub fn lookup(&self, cn: &CnCode, country: &str) -> Option<&DefaultValue> {
        self.rows
            .iter()
            .find(|r| &r.cn_code == cn && r.country == country)
            .or_else(|| {
                self.rows
                    .iter()
                    .find(|r| &r.cn_code == cn && r.country == "*")
            })
    }

    pub fn rows(&self) -> &[DefaultValue] {
        &self.rows
    }
}
