//! The Excel communication: records to and from a `Summary_Communication` sheet.
//!
//! The Commission's communication template for installations (DG TAXUD, xlsx) names its
//! summary sheet `Summary_Communication` (importer tools refuse a renamed tab), beside
//! `A_InstData`, `B_EmInst`, `D_Processes`, `E_PurchPrec` and others. Its cell coordinates
//! could not be obtained here, so this module reads and writes a documented layout of that
//! sheet (README, "CBAM"), finding cells by their labels, not by fixed positions:
//!
//! - column A holds the labels of [`INSTALLATION_LABELS`], column B their values;
//! - a row whose column A reads `CN code` heads the goods table ([`GOODS_COLUMNS`]), one row
//!   per record below it, until the first empty row.
//!
//! Figures are written as numbers when the number survives the trip through an Excel
//! double exactly, otherwise as text; both are read back exactly. Nested parts (precursors,
//! qualifying parameters, carbon prices) are JSON cells. A problem names `sheet!cell`.

use std::io::Cursor;
use std::str::FromStr;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use crate::CbamError;
use crate::cn::{Category, CnCode};
use crate::record::{
    CbamRecord, Coordinates, Country, ElectricityUse, Figure, Installation, Operator, Period,
    RECORD_VERSION, UnLocode, ValueKind, record_id,
};
use crate::units::{MwhPerTonne, TCo2ePerMwh, TCo2ePerTonne, Tonnes};

/// The sheet's name, as in the Commission's template.
pub const SHEET: &str = "Summary_Communication";

/// Labels of the installation block, column A.
pub const INSTALLATION_LABELS: [&str; 12] = [
    "Installation name",
    "Installation id",
    "Operator name",
    "Operator id",
    "Operator country",
    "Operator contact e-mail",
    "Country",
    "UN/LOCODE",
    "Latitude",
    "Longitude",
    "Reporting period start",
    "Reporting period end",
];

/// Columns of the goods table, from column A.
pub const GOODS_COLUMNS: [&str; 22] = [
    "CN code",
    "Aggregated goods category",
    "Production process",
    "Route",
    "Quantity produced (t)",
    "SEE direct (t CO2e/t)",
    "Direct: actual or default",
    "Direct: method",
    "Direct: source",
    "SEE indirect (t CO2e/t)",
    "Indirect: actual or default",
    "Indirect: method",
    "Indirect: source",
    "Indirect counted",
    "Electricity (MWh/t)",
    "Electricity emission factor (t CO2e/MWh)",
    "Electricity factor source",
    "Electricity: actual or default",
    "Precursors (JSON)",
    "Qualifying parameters (JSON)",
    "Carbon prices (JSON)",
    "PACT footprint id",
];

/// Writes `records` (one installation and period) to a workbook with the summary sheet.
pub fn export(records: &[CbamRecord]) -> Result<Vec<u8>, CbamError> {
    let first = records.first().ok_or_else(|| CbamError::Invalid {
        field: "records".into(),
        value: "0".into(),
        reason: "nothing to export".into(),
    })?;
    for r in records {
        r.validate()?;
        if r.installation != first.installation || r.period != first.period {
            return Err(CbamError::Invalid {
                field: "records".into(),
                value: r.record_id.clone(),
                reason: "one workbook holds one installation and one reporting period".into(),
            });
        }
    }
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let x = |e: rust_xlsxwriter::XlsxError| CbamError::Invalid {
        field: "workbook".into(),
        value: String::new(),
        reason: e.to_string(),
    };
    ws.set_name(SHEET).map_err(x)?;
    let bold = Format::new().set_bold();
    let inst = &first.installation;
    let coord = inst.coordinates.as_ref();
    let values: [Cell; 12] = [
        Cell::Text(inst.name.clone()),
        Cell::Text(inst.installation_id.clone().unwrap_or_default()),
        Cell::Text(inst.operator.name.clone()),
        Cell::Text(inst.operator.operator_id.clone().unwrap_or_default()),
        Cell::Text(inst.operator.country.to_string()),
        Cell::Text(inst.operator.contact_email.clone().unwrap_or_default()),
        Cell::Text(inst.country.to_string()),
        Cell::Text(
            inst.unlocode
                .as_ref()
                .map(|u| u.as_str().to_string())
                .unwrap_or_default(),
        ),
        coord.map_or(Cell::Text(String::new()), |c| Cell::Number(c.latitude)),
        coord.map_or(Cell::Text(String::new()), |c| Cell::Number(c.longitude)),
        Cell::Text(first.period.start.to_string()),
        Cell::Text(first.period.end.to_string()),
    ];
    ws.write_string_with_format(0, 0, "CBAM communication: summary (tanso layout)", &bold)
        .map_err(x)?;
    for (i, (label, value)) in INSTALLATION_LABELS.iter().zip(values).enumerate() {
        let row = 2 + i as u32;
        ws.write_string_with_format(row, 0, *label, &bold)
            .map_err(x)?;
        value.write(ws, row, 1).map_err(x)?;
    }
    let header = 2 + INSTALLATION_LABELS.len() as u32 + 1;
    for (c, name) in GOODS_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(header, c as u16, *name, &bold)
            .map_err(x)?;
    }
    for (i, r) in records.iter().enumerate() {
        let row = header + 1 + i as u32;
        let e = r.electricity.as_ref();
        let cells: [Cell; 22] = [
            Cell::Text(r.cn_code.to_string()),
            Cell::Text(r.category.to_string()),
            Cell::Text(r.process.clone()),
            Cell::Text(r.route.clone().unwrap_or_default()),
            Cell::Number(r.quantity_produced.0),
            Cell::Number(r.direct.value.0),
            Cell::Text(r.direct.kind.as_str().into()),
            Cell::Text(r.direct.method.clone()),
            Cell::Text(r.direct.source.clone()),
            Cell::Number(r.indirect.value.0),
            Cell::Text(r.indirect.kind.as_str().into()),
            Cell::Text(r.indirect.method.clone()),
            Cell::Text(r.indirect.source.clone()),
            Cell::Text(if r.indirect_counted { "yes" } else { "no" }.into()),
            e.map_or(Cell::Text(String::new()), |e| Cell::Number(e.consumed.0)),
            e.map_or(Cell::Text(String::new()), |e| Cell::Number(e.factor.0)),
            Cell::Text(e.map(|e| e.factor_source.clone()).unwrap_or_default()),
            Cell::Text(e.map(|e| e.kind.as_str().to_string()).unwrap_or_default()),
            Cell::Text(if r.precursors.is_empty() {
                String::new()
            } else {
                json(&r.precursors)
            }),
            Cell::Text(r.qualifying.as_ref().map(json).unwrap_or_default()),
            Cell::Text(if r.carbon_prices.is_empty() {
                String::new()
            } else {
                json(&r.carbon_prices)
            }),
            Cell::Text(r.footprint_id.clone().unwrap_or_default()),
        ];
        for (c, cell) in cells.into_iter().enumerate() {
            cell.write(ws, row, c as u16).map_err(x)?;
        }
    }
    wb.save_to_buffer().map_err(x)
}

/// Reads the records of a workbook's summary sheet; `name` is used in errors.
pub fn import(bytes: &[u8], name: &str) -> Result<Vec<CbamRecord>, CbamError> {
    let file_err = |message: String| CbamError::File {
        file: name.to_string(),
        line: 0,
        column: 0,
        message,
    };
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| file_err(format!("not an xlsx workbook: {e}")))?;
    let range = wb
        .worksheet_range(SHEET)
        .map_err(|e| file_err(format!("no sheet `{SHEET}`: {e}")))?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let cell = |r: u32, c: u32| -> &Data {
        if r < row0 || c < col0 {
            return &Data::Empty;
        }
        range
            .get(((r - row0) as usize, (c - col0) as usize))
            .unwrap_or(&Data::Empty)
    };
    let at = |r: u32, c: u32, message: String| CbamError::Invalid {
        field: format!("{name}: {SHEET}!{}", a1(r, c)),
        value: text_of(cell(r, c)).chars().take(80).collect(),
        reason: message,
    };
    let end = range.end().map_or(0, |(r, _)| r);
    let find = |label: &str| (0..=end).find(|&r| text_of(cell(r, 0)).trim() == label);
    let mut inst = Vec::new();
    for label in INSTALLATION_LABELS {
        let r =
            find(label).ok_or_else(|| file_err(format!("{SHEET}: no row labelled `{label}`")))?;
        inst.push((r, text_of(cell(r, 1))));
    }
    let get = |i: usize| inst[i].1.trim().to_string();
    let opt = |i: usize| Some(get(i)).filter(|s| !s.is_empty());
    let parse_at = |i: usize, what: &str| -> Result<Decimal, CbamError> {
        decimal_of(cell(inst[i].0, 1))
            .ok_or_else(|| at(inst[i].0, 1, format!("{what} is not a number")))
    };
    let country = |i: usize| Country::parse(&get(i)).map_err(|e| at(inst[i].0, 1, e.to_string()));
    let date = |i: usize| {
        NaiveDate::parse_from_str(&get(i), "%Y-%m-%d")
            .map_err(|_| at(inst[i].0, 1, "not a date YYYY-MM-DD".into()))
    };
    let installation = Installation {
        operator: Operator {
            name: get(2),
            operator_id: opt(3),
            country: country(4)?,
            contact_email: opt(5),
        },
        installation_id: opt(1),
        name: get(0),
        country: country(6)?,
        unlocode: match opt(7) {
            Some(u) => Some(UnLocode::parse(&u).map_err(|e| at(inst[7].0, 1, e.to_string()))?),
            None => None,
        },
        coordinates: match (opt(8), opt(9)) {
            (None, None) => None,
            _ => Some(Coordinates {
                latitude: parse_at(8, "latitude")?,
                longitude: parse_at(9, "longitude")?,
            }),
        },
    };
    let period = Period {
        start: date(10)?,
        end: date(11)?,
    };
    let header = find(GOODS_COLUMNS[0]).ok_or_else(|| {
        file_err(format!(
            "{SHEET}: no goods table (a row starting `CN code`)"
        ))
    })?;
    for (c, want) in GOODS_COLUMNS.iter().enumerate() {
        let got = text_of(cell(header, c as u32));
        if got.trim() != *want {
            return Err(at(header, c as u32, format!("expected column `{want}`")));
        }
    }
    let mut records = Vec::new();
    let mut r = header + 1;
    while r <= end && !text_of(cell(r, 0)).trim().is_empty() {
        let t = |c: usize| text_of(cell(r, c as u32)).trim().to_string();
        let num = |c: usize| {
            decimal_of(cell(r, c as u32))
                .ok_or_else(|| at(r, c as u32, format!("{} is not a number", GOODS_COLUMNS[c])))
        };
        let kind = |c: usize| match t(c).as_str() {
            "actual" => Ok(ValueKind::Actual),
            "default" => Ok(ValueKind::Default),
            _ => Err(at(r, c as u32, "must be `actual` or `default`".into())),
        };
        let json_cell = |c: usize| -> Result<Option<serde_json::Value>, CbamError> {
            let s = t(c);
            if s.is_empty() {
                return Ok(None);
            }
            serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| at(r, c as u32, format!("not JSON: {e}")))
        };
        let from_json = |c: usize| -> Result<serde_json::Value, CbamError> {
            Ok(json_cell(c)?.unwrap_or(serde_json::Value::Null))
        };
        let cn_code = CnCode::parse(&t(0)).map_err(|e| at(r, 0, e.to_string()))?;
        let category = Category::from_str(&t(1)).map_err(|e| at(r, 1, e))?;
        let electricity = if t(14).is_empty() && t(15).is_empty() {
            None
        } else {
            Some(ElectricityUse {
                consumed: MwhPerTonne(num(14)?),
                factor: TCo2ePerMwh(num(15)?),
                factor_source: t(16),
                kind: kind(17)?,
            })
        };
        let precursors = match from_json(18)? {
            serde_json::Value::Null => Vec::new(),
            v => serde_json::from_value(v).map_err(|e| at(r, 18, e.to_string()))?,
        };
        let qualifying = match from_json(19)? {
            serde_json::Value::Null => None,
            v => Some(serde_json::from_value(v).map_err(|e| at(r, 19, e.to_string()))?),
        };
        let carbon_prices = match from_json(20)? {
            serde_json::Value::Null => Vec::new(),
            v => serde_json::from_value(v).map_err(|e| at(r, 20, e.to_string()))?,
        };
        let record = CbamRecord {
            version: RECORD_VERSION.into(),
            record_id: record_id(&installation, &cn_code, &period),
            installation: installation.clone(),
            period,
            cn_code,
            category,
            process: t(2),
            route: Some(t(3)).filter(|s| !s.is_empty()),
            quantity_produced: Tonnes(num(4)?),
            direct: Figure {
                value: TCo2ePerTonne(num(5)?),
                kind: kind(6)?,
                method: t(7),
                source: t(8),
            },
            indirect: Figure {
                value: TCo2ePerTonne(num(9)?),
                kind: kind(10)?,
                method: t(11),
                source: t(12),
            },
            indirect_counted: match t(13).as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(at(r, 13, "must be `yes` or `no`".into())),
            },
            electricity,
            precursors,
            qualifying,
            carbon_prices,
            footprint_id: Some(t(21)).filter(|s| !s.is_empty()),
            basis: crate::calc::BASIS.into(),
            rounding: format!(
                "{}, {} decimal places",
                tanso_model::rounding::RULE,
                crate::record::SEE_DP
            ),
        };
        record
            .validate()
            .map_err(|e| at(r, 0, format!("row is not a valid record: {e}")))?;
        records.push(record);
        r += 1;
    }
    if records.is_empty() {
        return Err(file_err(format!("{SHEET}: the goods table has no rows")));
    }
    Ok(records)
}

/// A cell to write.
enum Cell {
    Text(String),
    Number(Decimal),
}

impl Cell {
    fn write(
        self,
        ws: &mut Worksheet,
        row: u32,
        col: u16,
    ) -> Result<(), rust_xlsxwriter::XlsxError> {
        match self {
            Cell::Text(s) => {
                ws.write_string(row, col, s)?;
            }
            Cell::Number(d) => match exact_f64(d) {
                Some(f) => {
                    ws.write_number(row, col, f)?;
                }
                None => {
                    ws.write_string(row, col, d.to_string())?;
                }
            },
        }
        Ok(())
    }
}

/// `d` as a double when reading the double back (shortest form) gives `d` again, digit for
/// digit (so `1.90` stays text: a number cell would come back as `1.9`).
fn exact_f64(d: Decimal) -> Option<f64> {
    let f: f64 = d.to_string().parse().ok()?;
    let back = Decimal::from_str(&format!("{f}")).ok()?;
    (back.to_string() == d.to_string()).then_some(f)
}

fn text_of(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn decimal_of(d: &Data) -> Option<Decimal> {
    match d {
        Data::Float(f) => Decimal::from_str(&format!("{f}")).ok(),
        Data::Int(i) => Some(Decimal::from(*i)),
        Data::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// `A1`-style name of a zero-based cell.
fn a1(row: u32, col: u32) -> String {
    let mut c = col + 1;
    let mut letters = Vec::new();
    while c > 0 {
        let rem = (c - 1) % 26;
        letters.push((b'A' + rem as u8) as char);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", letters.into_iter().collect::<String>(), row + 1)
}

/// A nested part as a JSON cell.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
