//! Goods by 8-digit CN code and the aggregated goods category each belongs to.
//!
//! The list is Annex I of Regulation (EU) 2023/956, shipped as `data/annex-i-cn.csv` with its
//! source in its header and read once, at first use, from the bytes compiled into the crate.
//! An 8-digit code is in scope when the longest annex entry it starts with is not one of the
//! annex's exceptions; any other code is an error that names it.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::CbamError;

/// The shipped Annex I list.
pub const ANNEX_I_CSV: &str = include_str!("../data/annex-i-cn.csv");

/// An 8-digit Combined Nomenclature code, digits only (`72071111`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CnCode(String);

impl CnCode {
    /// Parses a code written with or without the customary spaces (`7207 11 11`).
    pub fn parse(text: &str) -> Result<CnCode, CbamError> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CbamError::BadCnCode {
                value: text.chars().take(40).collect(),
            });
        }
        Ok(CnCode(digits))
    }

    /// The eight digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CBAM goods category of this code, or an error naming a code Annex I does not list.
    pub fn category(&self) -> Result<Category, CbamError> {
        annex_i()
            .category_of(self)
            .ok_or_else(|| CbamError::UnknownCn {
                cn_code: self.0.clone(),
            })
    }
}

impl fmt::Display for CnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CnCode {
    type Err = CbamError;
    fn from_str(s: &str) -> Result<CnCode, CbamError> {
        CnCode::parse(s)
    }
}

impl TryFrom<String> for CnCode {
    type Error = CbamError;
    fn try_from(s: String) -> Result<CnCode, CbamError> {
        CnCode::parse(&s)
    }
}

impl From<CnCode> for String {
    fn from(c: CnCode) -> String {
        c.0
    }
}

/// The aggregated goods categories of Annex I.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Cement,
    Electricity,
    Fertilisers,
    IronSteel,
    Aluminium,
    Hydrogen,
}

impl Category {
    /// The name used in the data files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Cement => "cement",
            Category::Electricity => "electricity",
            Category::Fertilisers => "fertilisers",
            Category::IronSteel => "iron-steel",
            Category::Aluminium => "aluminium",
            Category::Hydrogen => "hydrogen",
        }
    }

    /// Whether only direct emissions count for this category's goods: Regulation (EU)
    /// 2023/956, Annex II lists iron and steel, aluminium and hydrogen (indirect emissions
    /// are still computed and communicated, but not counted in the declaration's total).
    pub fn direct_only(self) -> bool {
        matches!(
            self,
            Category::IronSteel | Category::Aluminium | Category::Hydrogen
        )
    }

    /// Whether goods of `precursor` are relevant precursors of goods of this category
    /// (Implementing Regulation (EU) 2023/1773, Annex II section 3: precursors of a good
    /// are goods of its own aggregated category, and hydrogen for iron and steel and for
    /// fertilisers (ammonia)).
    pub fn takes_precursor(self, precursor: Category) -> bool {
        precursor == self
            || (precursor == Category::Hydrogen
                && matches!(self, Category::IronSteel | Category::Fertilisers))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Category, String> {
        Ok(match s {
            "cement" => Category::Cement,
            "electricity" => Category::Electricity,
            "fertilisers" => Category::Fertilisers,
            "iron-steel" => Category::IronSteel,
            "aluminium" => Category::Aluminium,
            "hydrogen" => Category::Hydrogen,
            other => return Err(format!("unknown goods category `{other}`")),
        })
    }
}

/// One entry of Annex I.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnexEntry {
    pub prefix: String,
    pub category: Category,
    pub description: String,
    pub exclude: bool,
}

/// The parsed Annex I list.
#[derive(Debug, Clone)]
pub struct AnnexI {
    entries: Vec<AnnexEntry>,
}

impl AnnexI {
    /// Parses the list's CSV layout (see `data/annex-i-cn.csv`).
    pub fn parse(text: &str) -> Result<AnnexI, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let mut entries = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| e.to_string())?;
            let line = rec.position().map_or(0, |p| p.line());
            let field = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
            let prefix = field(0);
            if prefix.is_empty() || prefix.len() > 8 || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!("line {line}: bad CN prefix `{prefix}`"));
            }
            let category = field(1)
                .parse::<Category>()
                .map_err(|e| format!("line {line}: {e}"))?;
            entries.push(AnnexEntry {
                prefix,
                category,
                description: field(2),
                exclude: field(3) == "yes",
            });
        }
        Ok(AnnexI { entries })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[AnnexEntry] {
        &self.entries
    }

    /// The category of `cn`, or `None` when Annex I does not cover it.
    pub fn category_of(&self, cn: &CnCode) -> Option<Category> {
        let best = self
            .entries
            .iter()
            .filter(|e| cn.as_str().starts_with(&e.prefix))
            .max_by_key(|e| e.prefix.len())?;
        (!best.exclude).then_some(best.category)
    }
}

/// The shipped Annex I list, parsed once.
pub fn annex_i() -> &'static AnnexI {
    static LIST: OnceLock<AnnexI> = OnceLock::new();
    LIST.get_or_init(|| match AnnexI::parse(ANNEX_I_CSV) {
        Ok(list) => list,
        // The file is compiled in and checked by a unit test, so this cannot happen at run
        // time; an empty list would refuse every code rather than accept a wrong one.
        Err(_) => AnnexI {
            entries: Vec::new(),
        },
    })
}
