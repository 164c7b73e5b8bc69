//! Reporting periods (`2025-01`, `2025-Q1`, `2025`) and the calendar arithmetic KPIs need.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::kpi::KpiError;

/// How fine a period is; KPIs declare the granularity they are reported at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Month,
    Quarter,
    Year,
}

/// A calendar period. Ordering is by granularity first, then time, which is only used
/// to keep maps deterministic; use [`Period::last_month`] to compare across granularities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    Year(i32),
}

/// A month as a single ordinal (`year * 12 + month - 1`), so ranges of months are plain integer ranges.
pub(crate) type MonthIndex = i64;

impl Period {
    pub fn month(year: i32, month: u32) -> Self {
        Period::Month { year, month }
    }

    pub fn quarter(year: i32, quarter: u32) -> Self {
        Period::Quarter { year, quarter }
    }

    pub fn year(year: i32) -> Self {
        Period::Year(year)
    }

    pub fn granularity(&self) -> Granularity {
        match self {
            Period::Month { .. } => Granularity::Month,
            Period::Quarter { .. } => Granularity::Quarter,
            Period::Year(_) => Granularity::Year,
        }
    }

    pub fn calendar_year(&self) -> i32 {
        match *self {
            Period::Month { year, .. } | Period::Quarter { year, .. } | Period::Year(year) => year,
        }
    }

    pub(crate) fn first_month(&self) -> MonthIndex {
        let (y, m) = match *self {
            Period::Month { year, month } => (year, month),
            Period::Quarter { year, quarter } => (year, quarter * 3 - 2),
            Period::Year(year) => (year, 1),
        };
        i64::from(y) * 12 + i64::from(m) - 1
    }

    pub(crate) fn last_month(&self) -> MonthIndex {
        let (y, m) = match *self {
            Period::Month { year, month } => (year, month),
            Period::Quarter { year, quarter } => (year, quarter * 3),
            Period::Year(year) => (year, 12),
        };
        i64::from(y) * 12 + i64::from(m) - 1
    }

    /// The month with the given ordinal.
    pub(crate) fn from_month_index(i: MonthIndex) -> Self {
        let year = i.div_euclid(12) as i32;
        let month = i.rem_euclid(12) as u32 + 1;
        Period::Month { year, month }
    }

    /// The period of granularity `g` that contains month ordinal `i`.
    pub(crate) fn containing(g: Granularity, i: MonthIndex) -> Self {
        let Period::Month { year, month } = Self::from_month_index(i) else {
            unreachable!("from_month_index returns a month")
        };
        match g {
            Granularity::Month => Period::Month { year, month },
            Granularity::Quarter => Period::Quarter {
                year,
                quarter: (month - 1) / 3 + 1,
            },
            Granularity::Year => Period::Year(year),
        }
    }

    /// The next-finer periods that make this one up (empty for a month); roll-ups recurse over these.
    pub(crate) fn children(&self) -> Vec<Period> {
        match *self {
            Period::Month { .. } => Vec::new(),
            Period::Quarter { year, quarter } => (quarter * 3 - 2..=quarter * 3)
                .map(|month| Period::Month { year, month })
                .collect(),
            Period::Year(year) => (1..=4)
                .map(|quarter| Period::Quarter { year, quarter })
                .collect(),
        }
    }

    /// The months of this period, in order.
    pub(crate) fn months(&self) -> Vec<Period> {
        (self.first_month()..=self.last_month())
            .map(Self::from_month_index)
            .collect()
    }

    /// The same period one year earlier (for "change against the same period last year").
    pub fn prev_year(&self) -> Self {
        self.shift_years(-1)
    }

    pub(crate) fn shift_years(&self, n: i32) -> Self {
        match *self {
            Period::Month { year, month } => Period::Month {
                year: year + n,
                month,
            },
            Period::Quarter { year, quarter } => Period::Quarter {
                year: year + n,
                quarter,
            },
            Period::Year(year) => Period::Year(year + n),
        }
    }

    /// The period of the same granularity immediately before this one.
    pub fn prev(&self) -> Self {
        match self.granularity() {
            Granularity::Month => Self::from_month_index(self.first_month() - 1),
            Granularity::Quarter => Self::containing(Granularity::Quarter, self.first_month() - 3),
            Granularity::Year => Period::Year(self.calendar_year() - 1),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            Period::Year(year) => write!(f, "{year:04}"),
        }
    }
}

impl FromStr for Period {
    type Err = KpiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KpiError::Period(s.to_string());
        let t = s.trim();
        let year_of = |y: &str| -> Result<i32, KpiError> {
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) {
                y.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        match t.split_once('-') {
            None => Ok(Period::Year(year_of(t)?)),
            Some((y, rest)) => {
                let year = year_of(y)?;
                if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                    match q {
                        "1" | "2" | "3" | "4" => Ok(Period::Quarter {
                            year,
                            quarter: q.parse().map_err(|_| bad())?,
                        }),
                        _ => Err(bad()),
                    }
                } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
                    let month: u32 = rest.parse().map_err(|_| bad())?;
                    if (1..=12).contains(&month) {
                        Ok(Period::Month { year, month })
                    } else {
                        Err(bad())
                    }
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
